#!/usr/bin/env bash
# nats-up.sh DIR [PORT]
#
# Starts a real nats-server with JetStream (Debian's nats-server) on
# 127.0.0.1, on a random port (or PORT, to bring a stopped server back on
# the same address), storing its streams under DIR/store, waits until it
# listens, writes its PID to DIR/pid and its port to DIR/port, and prints
# its URL ("nats://127.0.0.1:PORT") on stdout, so that
#     export NATS_SERVER_URL=$(nats-up.sh "$dir")
# is all a test needs. Stop it with nats-down.sh DIR.
# Environment: NATS_UP_TIMEOUT  seconds to wait (default 20)
# Exit status 0 when the server listens; 1 otherwise (its log on stderr).
set -euo pipefail
dir=${1:?usage: nats-up.sh DIR [PORT]}
port=${2:--1}
timeout=${NATS_UP_TIMEOUT:-20}
command -v nats-server >/dev/null || { echo "nats-up.sh: nats-server is not installed" >&2; exit 1; }
mkdir -p "$dir/store"
rm -f "$dir/pid" "$dir/port"
: >"$dir/nats.log"
setsid nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/store" -l "$dir/nats.log" </dev/null >/dev/null 2>&1 &
pid=$!
echo "$pid" >"$dir/pid"
deadline=$((SECONDS + timeout))
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "nats-up.sh: nats-server exited during start-up" >&2
    cat "$dir/nats.log" >&2 || true
    rm -f "$dir/pid"
    exit 1
  fi
  p=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/nats.log" | tail -n1)
  if [ -n "$p" ] && grep -q "Server is ready" "$dir/nats.log"; then
    echo "$p" >"$dir/port"
    echo "nats://127.0.0.1:$p"
    exit 0
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "nats-up.sh: nats-server did not listen within ${timeout}s" >&2
    kill -TERM "$pid" 2>/dev/null || true
    cat "$dir/nats.log" >&2 || true
    rm -f "$dir/pid"
    exit 1
  fi
  sleep 0.05
done
