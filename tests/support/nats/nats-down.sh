#!/usr/bin/env bash
# nats-down.sh DIR — stops the nats-server nats-up.sh started in DIR (by the
# PID in DIR/pid: SIGTERM, then SIGKILL after 5 s) and removes DIR/pid. The
# store stays (a restarted server finds its streams). No server: nothing to do.
set -u
dir=${1:?usage: nats-down.sh DIR}
[ -f "$dir/pid" ] || exit 0
pid=$(cat "$dir/pid")
kill -TERM "$pid" 2>/dev/null || { rm -f "$dir/pid"; exit 0; }
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -KILL "$pid" 2>/dev/null || true
rm -f "$dir/pid"
