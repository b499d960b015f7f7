#!/usr/bin/env bash
# export-bench.sh — the export formats and the UI's tree JSON on a large
# merged base, beside Go's pprof reading the same file.
#
# How to run (after `cmake -S . -B build && cmake --build build -j2`):
#
#   tests/bench/export-bench.sh [BUILD_DIR]          # BUILD_DIR defaults to ./build
#
# The base is the one tests/bench/engine-bench.sh builds and caches in
# BUILD_DIR/bench/base.pb.gz (~4 MB of raw protobuf: CPU profiles of a Go
# workload from several builds, merged); when it is missing this script runs
# engine-bench.sh once (BENCH_RUNS=1) to make it, which takes minutes.
# Needs go and GNU time (/usr/bin/time).
#
# Measured, median of BENCH_RUNS runs (default 5):
#   (1) in process (pgopipe_extool time): decoding the base, then each of
#       tree JSON (min_share BENCH_SHARE, default 0.001 — what the UI asks),
#       folded, speedscope and chrome, from the decoded profile to bytes;
#   (2) whole commands, wall and CPU time and peak RSS (/usr/bin/time):
#       pgopipe export -f folded|speedscope|chrome -o - BASE > /dev/null and
#       the tree JSON (pgopipe_extool tree) next to
#       pprof -raw BASE > /dev/null (Go's text dump of every sample and
#       location, the closest Go has to an export) and
#       pprof -top -nodecount=... BASE > /dev/null (what the UI's top table
#       replaces), with `pprof` Go's own tool binary ($(go env
#       GOTOOLDIR)/pprof) so the go command's start-up is not charged to Go.
# Figures depend on machine load: say what else was running.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
pgopipe=$build/bin/pgopipe
extool=$build/tests/export/pgopipe_extool
for b in "$pgopipe" "$extool"; do [ -x "$b" ] || { echo "no $b: build first" >&2; exit 1; }; done
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }
pprof_bin=$(go env GOTOOLDIR)/pprof
[ -x "$pprof_bin" ] || { echo "no Go pprof tool at $pprof_bin" >&2; exit 1; }
runs=${BENCH_RUNS:-5}
share=${BENCH_SHARE:-0.001}
base=$build/bench/base.pb.gz
if [ ! -f "$base" ]; then
  echo "== no cached base: running engine-bench.sh once to build it"
  BENCH_RUNS=1 "$root/tests/bench/engine-bench.sh" "$build"
fi

echo "== input"
echo "base: $(stat -c %s "$base") B gz, $(gzip -dc "$base" | wc -c) B raw; $("$pgopipe" inspect --top 0 "$base" | grep '^Tables')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== (1) in process, median of $runs runs (ms from the decoded profile to bytes)"
"$extool" time --runs "$runs" --share "$share" "$base"

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-export-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# measure NAME command... : runs it $runs times with stdout to /dev/null,
# prints "median_wall_seconds median_cpu_seconds median_kib".
measure() {
  local name=$1
  shift
  : >"$work/$name.times"
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f '%e %U %S %M' -o "$work/$name.t" "$@" >/dev/null
    awk '{print $1, $2 + $3, $4}' "$work/$name.t" >>"$work/$name.times"
  done
  local col out=""
  for col in 1 2 3; do
    out="$out $(awk -v c=$col '{print $c}' "$work/$name.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  done
  echo "$out"
}

echo "== (2) whole commands, median of $runs runs"
printf '%-34s %8s %8s %9s %12s\n' command wall_s cpu_s peak_MiB output_B
row() { # label result output-bytes
  read -r t c m <<<"$2"
  awk -v l="$1" -v t="$t" -v c="$c" -v m="$m" -v o="$3" 'BEGIN { printf "%-34s %8.3f %8.3f %9.1f %12s\n", l, t, c, m / 1024, o }'
}
declare -A res
for f in folded speedscope chrome; do
  res[$f]=$(measure "$f" "$pgopipe" export -f "$f" -o - "$base")
  row "pgopipe export -f $f" "${res[$f]}" "$("$pgopipe" export -f "$f" -o - "$base" | wc -c)"
done
res[tree]=$(measure tree "$extool" tree --share "$share" "$base")
row "tree JSON (share $share)" "${res[tree]}" "$("$extool" tree --share "$share" "$base" | wc -c)"
res[raw]=$(measure raw "$pprof_bin" -raw -symbolize=none "$base")
row "go pprof -raw" "${res[raw]}" "$("$pprof_bin" -raw -symbolize=none "$base" 2>/dev/null | wc -c)"
res[top]=$(measure top "$pprof_bin" -top -nodecount=1000000 -nodefraction=0 -symbolize=none "$base")
row "go pprof -top" "${res[top]}" "$("$pprof_bin" -top -nodecount=1000000 -nodefraction=0 -symbolize=none "$base" 2>/dev/null | wc -c)"

ratio() { # label ours theirs
  read -r pt pc _ <<<"$2"
  read -r gt gc _ <<<"$3"
  awk -v l="$1" -v pt="$pt" -v pc="$pc" -v gt="$gt" -v gc="$gc" 'BEGIN {
    printf "%-40s %.1fx faster (wall), %.1fx less CPU\n", l, (pt > 0 ? gt / pt : 0), (pc > 0 ? gc / pc : 0) }'
}
echo "== ratios (Go / pgopipe)"
ratio "export -f folded vs pprof -raw" "${res[folded]}" "${res[raw]}"
ratio "export -f speedscope vs pprof -raw" "${res[speedscope]}" "${res[raw]}"
ratio "export -f chrome vs pprof -raw" "${res[chrome]}" "${res[raw]}"
ratio "tree JSON vs pprof -top" "${res[tree]}" "${res[top]}"
