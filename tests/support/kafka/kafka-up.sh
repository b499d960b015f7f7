#!/usr/bin/env bash
# kafka-up.sh DIR [kafka-mock options...]
#
# Starts kafka-mock (a Kafka-protocol broker on 127.0.0.1, random port) in the
# background, waits until DIR/bootstrap exists and the broker answers a
# metadata request, writes the broker's PID to DIR/pid and prints the
# bootstrap string ("127.0.0.1:PORT") on stdout, so that
#     export KAFKA_BROKERS=$(kafka-up.sh "$dir")
# is all a test needs. Stop it with kafka-down.sh DIR.
#
# Environment: KAFKA_MOCK   the kafka-mock binary (default: build/tests/bin/kafka-mock
#                           of this checkout)
#              KAFKA_UP_TIMEOUT  seconds to wait for the broker (default 20)
# Exit status 0 when the broker answers; 1 otherwise (the broker is stopped
# again and its log is shown on stderr).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: kafka-up.sh DIR [kafka-mock options...]}
shift
bin=${KAFKA_MOCK:-$here/../../../build/tests/bin/kafka-mock}
timeout=${KAFKA_UP_TIMEOUT:-20}

[ -x "$bin" ] || { echo "kafka-up.sh: $bin is not an executable (set KAFKA_MOCK or build the tree)" >&2; exit 1; }
mkdir -p "$dir"
rm -f "$dir/bootstrap" "$dir/pid"

# Its own session: the broker must not die with the caller's terminal or
# process group, and its output must not hold a command substitution open.
setsid "$bin" "$@" "$dir/bootstrap" >"$dir/kafka-mock.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/pid"

fail() {
  echo "kafka-up.sh: $1" >&2
  kill -TERM "$pid" 2>/dev/null || true
  cat "$dir/kafka-mock.log" >&2 || true
  rm -f "$dir/pid"
  exit 1
}

answers() {
  local bs=$1
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "$bs" -L -m 2 >/dev/null 2>&1
  else
    local hp=${bs%%,*}
    (exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}") 2>/dev/null
  fi
}

deadline=$((SECONDS + timeout))
while :; do
  kill -0 "$pid" 2>/dev/null || fail "kafka-mock exited during start-up"
  if [ -s "$dir/bootstrap" ]; then
    bs=$(head -n1 "$dir/bootstrap")
    if answers "$bs"; then
      echo "$bs"
      exit 0
    fi
  fi
  [ $SECONDS -lt $deadline ] || fail "broker did not answer within ${timeout}s"
  sleep 0.05
done
