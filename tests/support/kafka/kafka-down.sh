#!/usr/bin/env bash
# kafka-down.sh DIR — stops the kafka-mock that kafka-up.sh started in DIR
# (SIGTERM, then SIGKILL after 10 s), by the PID in DIR/pid and only if that
# PID still is a kafka-mock. Removes DIR/pid and DIR/bootstrap; leaves DIR
# (and DIR/kafka-mock.log) for the caller to clean. Idempotent.
set -euo pipefail
dir=${1:?usage: kafka-down.sh DIR}
[ -f "$dir/pid" ] || exit 0
pid=$(cat "$dir/pid")
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
   tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q kafka-mock; then
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    # A zombie (its parent has not reaped it yet) is as good as gone.
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    echo "kafka-down.sh: kafka-mock $pid ignored SIGTERM, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
rm -f "$dir/pid" "$dir/bootstrap"
