#!/usr/bin/env bash
# s3-down.sh DIR — stops the test S3 server started by s3-up.sh DIR: SIGTERM
# to each PID in DIR/pids, SIGKILL after 5 s, then removes DIR/pids. Leaves
# DIR itself to its owner. Succeeds when nothing is running.
set -uo pipefail
dir=${1:?usage: s3-down.sh DIR}
[ -f "$dir/pids" ] || exit 0
for pid in $(cat "$dir/pids"); do
  kill -TERM "$pid" 2>/dev/null || continue
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
done
rm -f "$dir/pids"
