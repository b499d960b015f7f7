#!/usr/bin/env bash
# server-bench.sh [BUILD_DIR] — upload throughput of pgopipe-server.
#
# Starts a Kafka-protocol broker (tests/support/kafka) and pgopipe-server on
# the file store in a temp directory, then drives POST /api/profile/bench
# with wrk (server-bench.lua: a real ~16-20 KB gzipped Go CPU profile from
# tests/server/gen-profiles.sh) for each HTTP threading mode, and prints
# uploads/s, p50/p90/p99 latency and the server's CPU time per upload
# (utime+stime from /proc/PID/stat over the run / accepted uploads).
# Every 201 is a stored object and an acknowledged Kafka message.
#
# Environment: DURATION (10s), CONNECTIONS (32), WRK_THREADS (2),
# MODES ("thread pool:2 pool:4 pool:8"), WARMUP (2s), STORE_DIR (where the
# file store lives; default a temp dir on the disk holding TMPDIR — the file
# store fsyncs each object, and its directory once for the uploads renamed
# into it while the previous directory fsync ran, so the disk sets the pace;
# STORE_DIR=/dev/shm/... shows the server without the disk).
# Target: >= 2,000 uploads/s with p99 < 50 ms on a 2-core machine, on disk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
duration=${DURATION:-10s}
conns=${CONNECTIONS:-32}
wthreads=${WRK_THREADS:-2}
modes=${MODES:-"thread pool:2 pool:4 pool:8"}
warmup=${WARMUP:-2s}
command -v wrk >/dev/null || { echo "server-bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$build/bin/pgopipe-server" ] && [ -x "$build/tests/bin/kafka-mock" ] ||
  { echo "server-bench: build $build first (pgopipe-server, kafka-mock)" >&2; exit 1; }

profiles=$build/tests/server/profiles
"$root/tests/server/gen-profiles.sh" "$profiles" 2>/dev/null
export PGOPIPE_BENCH_PROFILE=$profiles/cpu.pprof

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-bench.XXXXXX")
store=${STORE_DIR:-$work/data}
[ -e "$store" ] && [ -n "$(ls -A "$store" 2>/dev/null)" ] && { echo "server-bench: $store is not empty" >&2; exit 1; }
kdir=$work/kafka
spid=
cleanup() {
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  "$root/tests/support/kafka/kafka-down.sh" "$kdir" || true
  rm -rf "$work" "$store"
}
trap cleanup EXIT
export KAFKA_MOCK=$build/tests/bin/kafka-mock
KAFKA_BROKERS=$("$root/tests/support/kafka/kafka-up.sh" "$kdir")
export KAFKA_BROKERS

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "pgopipe-server upload benchmark: $(nproc) cores, body $(stat -c %s "$PGOPIPE_BENCH_PROFILE") B gzipped CPU profile,"
echo "file store at $store + Kafka mock (acks=all), wrk -c$conns -t$wthreads -d$duration;"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work may be running on this machine)"
printf "%-8s %9s %8s %8s %8s %8s %10s %7s\n" mode uploads/s p50_ms p90_ms p99_ms max_ms cpu_ms/up non2xx
for m in $modes; do
  mode=${m%%:*}
  threads=${m#*:}
  [ "$threads" = "$m" ] && threads=4
  rm -rf "$store"
  log=$work/server-$m.log
  "$build/bin/pgopipe-server" -p 0 --blob-store-url "file://$store" \
    --event-writer-url "kafka://bench-$mode-$threads" --http-mode "$mode" --http-threads "$threads" \
    --max-uploads 256 -l warn 2>"$log" &
  spid=$!
  # -l warn hides the listening line: find the port from the socket table.
  port=
  for _ in $(seq 1 200); do
    port=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$spid," 'index($0, p) {split($4, a, ":"); print a[length(a)]; exit}')
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "server did not start:" >&2; cat "$log" >&2; exit 1; }
  url=http://127.0.0.1:$port
  wrk -c"$conns" -t"$wthreads" -d"$warmup" -s "$here/server-bench.lua" "$url" >/dev/null
  c0=$(cpu_ticks "$spid")
  out=$(wrk -c"$conns" -t"$wthreads" -d"$duration" --timeout 10s -s "$here/server-bench.lua" "$url")
  c1=$(cpu_ticks "$spid")
  res=$(grep '^RESULT' <<<"$out")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
  reqs=$(get requests)
  non2xx=$(get non2xx)
  ok=$((reqs - non2xx))
  cpu_ms=$(awk -v d=$((c1 - c0)) -v t="$ticks" -v n="$ok" 'BEGIN { if (n > 0) printf "%.3f", d * 1000 / t / n; else print "-" }')
  printf "%-8s %9s %8s %8s %8s %8s %10s %7s\n" "$m" "$(get rps)" "$(get p50_ms)" "$(get p90_ms)" "$(get p99_ms)" \
    "$(get max_ms)" "$cpu_ms" "$non2xx"
  staged=$(find "$store/bench/staging" -type f | wc -l)
  kill -TERM "$spid"
  wait "$spid" || echo "  (server exit status $?)" >&2
  spid=
  echo "         stored objects: $staged (warm-up included)"
done
