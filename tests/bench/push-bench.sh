#!/usr/bin/env bash
# push-bench.sh [BUILD_DIR] — Pyroscope-shaped pushes into pgopipe-server,
# beside its native upload route, on the same machine and server.
#
# The server runs all-in-one (file://./data, mem://, the merge worker in
# process), as a first deployment would. wrk drives POST /ingest with
# push-bench.lua: pyroscope-go's requests (multipart body, name with
# __session_id__, from/until in ns) from INSTANCES simulated processes
# (default 1000), each sending a CPU profile then a heap profile per 15 s
# window, the windows compressed into DURATION (sent as fast as the server
# answers). Then the same for the native route (POST /api/profile/{app}, the
# CPU profile, server-bench.lua). Printed per route: pushes/s, p50/p90/p99
# latency, the server's CPU time per push, and the worker's lag: the most
# CPU uploads stored but not yet merged at any one-second sample during the
# run, and how long the worker takes to merge the rest once the load stops.
#
# Heap: the heap pushes are stored with their metadata like the CPU ones.
# Merging them is the kinds worker's; the script waits up to HEAP_WAIT for
# the staged heap uploads to be folded (staging empties) and prints that
# time, or says the worker running here leaves heap uploads for the kinds
# worker (pgopipe_worker_other_kinds_skipped_total counts them).
#
# Finally: what adding the upload record costs (pptool commentbench):
# appending it as a second gzip member vs decoding, adding and encoding, on
# the bench's CPU and heap profiles and on a larger merged base.
#
# Environment: DURATION (10s), CONNECTIONS (16), WRK_THREADS (2), INSTANCES
# (1000), HEAP_WAIT (10s), WARMUP (2s). Figures vary with the machine's load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
duration=${DURATION:-10s}
conns=${CONNECTIONS:-16}
wthreads=${WRK_THREADS:-2}
instances=${INSTANCES:-1000}
heap_wait=${HEAP_WAIT:-10}
heap_wait=${heap_wait%s}
warmup=${WARMUP:-2s}
command -v wrk >/dev/null || { echo "push-bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
for b in "$build/bin/pgopipe-server" "$build/bin/pgopipe" "$build/tests/bin/pptool"; do
  [ -x "$b" ] || { echo "push-bench: build $(basename "$b") first (cmake --build $build)" >&2; exit 1; }
done

profiles=$build/tests/server/profiles
"$root/tests/server/gen-profiles.sh" "$profiles" 2>/dev/null
export PGOPIPE_BENCH_CPU=$profiles/cpu.pprof PGOPIPE_BENCH_HEAP=$profiles/heap.pprof
export PGOPIPE_BENCH_PROFILE=$profiles/cpu.pprof PGOPIPE_BENCH_INSTANCES=$instances PGOPIPE_BENCH_THREADS=$wthreads
unset PGOPIPE_AUTH_TOKEN

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-push-bench.XXXXXX")
spid=
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { curl -s "$url/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }' | cut -d. -f1; }
now_ms() { date +%s%3N; }

(cd "$work" && exec "$build/bin/pgopipe-server" -p 0 --max-uploads 256 -l warn) 2>"$work/server.log" &
spid=$!
port=
for _ in $(seq 1 200); do
  port=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$spid," 'index($0, p) {split($4, a, ":"); print a[length(a)]; exit}')
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
url=http://127.0.0.1:$port

# stored_cpu METRIC_OF_STORED: CPU uploads stored so far (push or native)
push_cpu() { metric 'pgopipe_push_uploads_total{protocol="pyroscope",kind="cpu"}'; }
native_cpu() { metric pgopipe_uploads_accepted_total; }
merged() { metric pgopipe_worker_uploads_merged_total; }

# run NAME LUA STORED_FN: one wrk run; prints the row and the worker's lag
run() {
  local name=$1 lua=$2 stored=$3
  local m0 s0
  m0=$(merged)
  s0=$($stored)
  # backlog samples, once a second, during the run
  (
    while :; do
      echo $(($($stored) - s0 - ($(merged) - m0)))
      sleep 1
    done
  ) >"$work/backlog-$name" 2>/dev/null &
  sampler=$!
  local c0 c1 out
  c0=$(cpu_ticks "$spid")
  out=$(wrk -c"$conns" -t"$wthreads" -d"$duration" --timeout 10s -s "$lua" "$url")
  c1=$(cpu_ticks "$spid")
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null || true
  sampler=
  local t_stop stored_n drain_ms
  t_stop=$(now_ms)
  stored_n=$(($($stored) - s0))
  while [ $(($(merged) - m0)) -lt "$stored_n" ] && [ $(($(now_ms) - t_stop)) -lt 300000 ]; do sleep 0.1; done
  drain_ms=$(($(now_ms) - t_stop))
  local res
  res=$(grep '^RESULT' <<<"$out")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
  local reqs non2xx ok cpu_ms maxlag
  reqs=$(get requests)
  non2xx=$(get non2xx)
  ok=$((reqs - non2xx))
  cpu_ms=$(awk -v d=$((c1 - c0)) -v t="$ticks" -v n="$ok" 'BEGIN { if (n > 0) printf "%.3f", d * 1000 / t / n; else print "-" }')
  maxlag=$(sort -n "$work/backlog-$name" | tail -n1)
  printf "%-14s %9s %8s %8s %8s %8s %10s %7s %9s %12s %9s\n" "$name" "$(get rps)" "$(get p50_ms)" \
    "$(get p90_ms)" "$(get p99_ms)" "$(get max_ms)" "$cpu_ms" "$non2xx" "$stored_n" "${maxlag:-0}" "$drain_ms"
}

echo "push benchmark: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); all-in-one pgopipe-server"
echo "(file store in $work, mem:// bus, in-process worker); wrk -c$conns -t$wthreads -d$duration;"
echo "pyroscope: $instances instances x (CPU $(stat -c %s "$PGOPIPE_BENCH_CPU") B + heap $(stat -c %s "$PGOPIPE_BENCH_HEAP") B gzipped, multipart) per 15 s window, compressed"
wrk -c"$conns" -t"$wthreads" -d"$warmup" -s "$here/push-bench.lua" "$url" >/dev/null
# let the worker catch up with the warm-up before measuring
t0=$(now_ms)
while [ "$(merged)" -lt "$(push_cpu)" ] && [ $(($(now_ms) - t0)) -lt 300000 ]; do sleep 0.2; done
printf "%-14s %9s %8s %8s %8s %8s %10s %7s %9s %12s %9s\n" route pushes/s p50_ms p90_ms p99_ms max_ms cpu_ms/push \
  non2xx cpu_stored max_backlog drain_ms
run pyroscope "$here/push-bench.lua" push_cpu
export PGOPIPE_BENCH_APP=bench-native
run native "$here/server-bench.lua" native_cpu

# Heap: folded by a kinds worker, or left in staging by this one.
staged_heap() { find "$work/data/bench-svc/staging" -type f 2>/dev/null | wc -l; }
h0=$(staged_heap)
t0=$(now_ms)
while [ "$(staged_heap)" -gt 0 ] && [ $(($(now_ms) - t0)) -lt $((heap_wait * 1000)) ]; do sleep 0.2; done
h1=$(staged_heap)
skipped=$(metric pgopipe_worker_other_kinds_skipped_total)
if [ "$h1" -eq 0 ]; then
  echo "heap: $h0 staged heap uploads folded $(($(now_ms) - t0)) ms after the load stopped"
elif [ "$skipped" -gt 0 ]; then
  echo "heap: $h1 heap uploads stored with their metadata and left in staging: this worker merges cpu only"
  echo "      ($skipped counted in pgopipe_worker_other_kinds_skipped_total); heap lag needs the kinds worker"
else
  echo "heap: $h1 of $h0 staged heap uploads still waiting after ${heap_wait}s"
fi

# What the upload record costs: appended vs encoded.
echo "adding the upload record (pptool commentbench, 50 reps, wall time):"
PPTOOL_WALL=1 "$build/tests/bin/pptool" commentbench "$PGOPIPE_BENCH_CPU" 50 | sed 's/^/  cpu  /'
PPTOOL_WALL=1 "$build/tests/bin/pptool" commentbench "$PGOPIPE_BENCH_HEAP" 50 | sed 's/^/  heap /'
big=$build/profiles/cpu
if ls "$big"/*.pb.gz >/dev/null 2>&1; then
  "$build/bin/pgopipe" merge -o "$work/base.pb.gz" "$big"/*.pb.gz
  PPTOOL_WALL=1 "$build/tests/bin/pptool" commentbench "$work/base.pb.gz" 20 | sed 's/^/  base /'
fi
