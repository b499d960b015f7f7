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
# latency, the server's CPU time per push; then the worker's lag per route
# and kind: the uploads stored, the most stored but not yet merged at any
# one-second sample during the run, and how long the worker takes to merge
# the rest once the load stops. The worker merges the CPU pushes into
# {app}/default.pgo and the heap pushes into {app}/kinds/heap.pgo (alloc_*
# summed as deltas, in-use as the latest snapshot of each of the INSTANCES
# processes, each with its instance state).
#
# Finally: what adding the upload record costs (pptool commentbench):
# appending it as a second gzip member vs decoding, adding and encoding, on
# the bench's CPU and heap profiles and on a larger merged base.
#
# Environment: DURATION (10s), CONNECTIONS (16), WRK_THREADS (2), INSTANCES
# (1000), DRAIN_MAX (900s: the longest wait for the worker), WARMUP (2s).
# Figures vary with the machine's load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
duration=${DURATION:-10s}
conns=${CONNECTIONS:-16}
wthreads=${WRK_THREADS:-2}
instances=${INSTANCES:-1000}
drain_max=${DRAIN_MAX:-900}
drain_max=${drain_max%s}
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

# stored KIND (pyroscope pushes) / native_cpu: uploads stored so far;
# merged KIND: uploads of KIND the worker folded into a base so far
push_stored() { metric "pgopipe_push_uploads_total{protocol=\"pyroscope\",kind=\"$1\"}"; }
native_stored() { metric pgopipe_uploads_accepted_total; }
merged() { metric "pgopipe_worker_kind_uploads_total{kind=\"$1\"}"; }
lagrows=$work/lag

# run NAME LUA STORED_FN KIND...: one wrk run; prints the route's row and
# adds a worker-lag row per kind to $lagrows
run() {
  local name=$1 lua=$2 stored=$3
  shift 3
  local kinds=("$@") k
  declare -A m0 s0
  for k in "${kinds[@]}"; do
    m0[$k]=$(merged "$k")
    s0[$k]=$($stored "$k")
  done
  # backlog samples per kind, once a second, during the run
  (
    while :; do
      for k in "${kinds[@]}"; do
        echo "$k $(($($stored "$k") - s0[$k] - ($(merged "$k") - m0[$k])))"
      done
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
  local t_stop pending
  declare -A n drain
  t_stop=$(now_ms)
  for k in "${kinds[@]}"; do n[$k]=$(($($stored "$k") - s0[$k])); done
  # drained: every upload of the kind stored during the run is merged
  while :; do
    pending=0
    for k in "${kinds[@]}"; do
      [ -n "${drain[$k]:-}" ] && continue
      if [ $(($(merged "$k") - m0[$k])) -ge "${n[$k]}" ]; then
        drain[$k]=$(($(now_ms) - t_stop))
      else
        pending=1
      fi
    done
    [ "$pending" = 0 ] && break
    [ $(($(now_ms) - t_stop)) -ge $((drain_max * 1000)) ] && break
    sleep 0.1
  done
  local res
  res=$(grep '^RESULT' <<<"$out")
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
  local reqs non2xx ok cpu_ms maxlag
  reqs=$(get requests)
  non2xx=$(get non2xx)
  ok=$((reqs - non2xx))
  cpu_ms=$(awk -v d=$((c1 - c0)) -v t="$ticks" -v n="$ok" 'BEGIN { if (n > 0) printf "%.3f", d * 1000 / t / n; else print "-" }')
  printf "%-14s %9s %8s %8s %8s %8s %11s %7s\n" "$name" "$(get rps)" "$(get p50_ms)" \
    "$(get p90_ms)" "$(get p99_ms)" "$(get max_ms)" "$cpu_ms" "$non2xx"
  for k in "${kinds[@]}"; do
    maxlag=$(awk -v k="$k" '$1 == k { print $2 }' "$work/backlog-$name" | sort -n | tail -n1)
    printf "%-14s %-9s %9s %12s %12s\n" "$name" "$k" "${n[$k]}" "${maxlag:-0}" \
      "${drain[$k]:-not drained in ${drain_max}s}" >>"$lagrows"
  done
}

echo "push benchmark: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); all-in-one pgopipe-server"
echo "(file store in $work, mem:// bus, in-process worker); wrk -c$conns -t$wthreads -d$duration;"
echo "pyroscope: $instances instances x (CPU $(stat -c %s "$PGOPIPE_BENCH_CPU") B + heap $(stat -c %s "$PGOPIPE_BENCH_HEAP") B gzipped, multipart) per 15 s window, compressed"
wrk -c"$conns" -t"$wthreads" -d"$warmup" -s "$here/push-bench.lua" "$url" >/dev/null
# let the worker catch up with the warm-up before measuring
t0=$(now_ms)
while { [ "$(merged cpu)" -lt "$(push_stored cpu)" ] || [ "$(merged heap)" -lt "$(push_stored heap)" ]; } &&
  [ $(($(now_ms) - t0)) -lt $((drain_max * 1000)) ]; do sleep 0.2; done
echo "(warm-up merged in $(($(now_ms) - t0)) ms)"
printf "%-14s %9s %8s %8s %8s %8s %11s %7s\n" route pushes/s p50_ms p90_ms p99_ms max_ms cpu_ms/push non2xx
run pyroscope "$here/push-bench.lua" push_stored cpu heap
export PGOPIPE_BENCH_APP=bench-native
run native "$here/server-bench.lua" native_stored cpu
echo "worker lag: uploads stored during the run, the most stored but not merged at a 1 s sample, and"
echo "the time from the end of the load until all were merged"
printf "%-14s %-9s %9s %12s %12s\n" route kind stored max_backlog drain_ms
cat "$lagrows"
echo "bases of bench-svc: default.pgo $(stat -c %s "$work/data/bench-svc/default.pgo" 2>/dev/null) B," \
  "kinds/heap.pgo $(stat -c %s "$work/data/bench-svc/kinds/heap.pgo" 2>/dev/null) B," \
  "$(find "$work/data/bench-svc/instances/heap" -type f 2>/dev/null | wc -l) heap instance states"

# What the upload record costs: appended vs encoded.
echo "adding the upload record (pptool commentbench, 50 reps, wall time):"
PPTOOL_WALL=1 "$build/tests/bin/pptool" commentbench "$PGOPIPE_BENCH_CPU" 50 | sed 's/^/  cpu  /'
PPTOOL_WALL=1 "$build/tests/bin/pptool" commentbench "$PGOPIPE_BENCH_HEAP" 50 | sed 's/^/  heap /'
big=$build/profiles/cpu
if ls "$big"/*.pb.gz >/dev/null 2>&1; then
  "$build/bin/pgopipe" merge -o "$work/base.pb.gz" "$big"/*.pb.gz
  PPTOOL_WALL=1 "$build/tests/bin/pptool" commentbench "$work/base.pb.gz" 20 | sed 's/^/  base /'
fi
