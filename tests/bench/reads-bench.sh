#!/usr/bin/env bash
# reads-bench.sh — what GET /api/profile/{app} costs per format on a large
# merged base: the first request (read the base, decode, convert; the read
# cache is cold) and a cached one (a stat of the base and a memory copy),
# beside the full download (format=pprof, the base as stored).
#
# How to run (after `cmake -S . -B build && cmake --build build -j2`):
#
#   tests/bench/reads-bench.sh [BUILD_DIR]          # BUILD_DIR defaults to ./build
#
# Inputs: the bases of tests/bench/pgo-bench.sh, cached in BUILD_DIR/bench/pgo
# (run here once with BENCH_RUNS=1 when missing, which generates the workload
# profiles with engine-bench.sh first: minutes): "base", ~4 MB raw, 50k+
# samples, with Function.start_line; "labelled", the same with per-request
# labels. A pgopipe-server on 127.0.0.1 (file store in a temporary
# directory, in-process worker idle) serves them; curl measures each request
# end to end over loopback (time_total). "first" is measured on a fresh
# copy of the base per run (a new app, so nothing is cached), "cached" on
# repeated requests after that; medians of BENCH_RUNS (default 5). The
# ratio is the time over the full download's (pprof, cached): below 1 is
# cheaper than handing out the whole base. Sizes are of the answers (gzip
# forms where the client asked for gzip). Figures depend on machine load:
# say what else ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
server=$build/bin/pgopipe-server
[ -x "$server" ] || { echo "no $server: build first" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
runs=${BENCH_RUNS:-5}
dir=$build/bench/pgo
if [ ! -f "$dir/labelled.pb.gz" ]; then
  echo "== no bench bases yet: running pgo-bench.sh once (BENCH_RUNS=1) to make them"
  BENCH_RUNS=1 bash "$root/tests/bench/pgo-bench.sh" "$build" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-readsbench.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data"

"$server" -p 0 --blob-store-url "file://$work/data" --event-writer-url mem://bench --worker \
  --read-cache-bytes $((512 << 20)) 2>"$work/server.log" &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
api=http://127.0.0.1:$port

echo "== inputs"
for b in base labelled; do
  echo "$b: $(stat -c %s "$dir/$b.pb.gz") B gz, $(gzip -dc "$dir/$b.pb.gz" | wc -c) B raw"
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $runs runs"

# variant = "label|query|gzip"
variants=("pprof (full download)|format=pprof|" "pgo keep 2|format=pgo|" "pgo keep 0|format=pgo&keep=0|"
  "preprofile|format=preprofile|" "preprofile, gzip|format=preprofile|gzip" "folded|format=folded|"
  "folded, gzip|format=folded|gzip" "speedscope|format=speedscope|" "speedscope, gzip|format=speedscope|gzip"
  "chrome|format=chrome|" "chrome, gzip|format=chrome|gzip")

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# fetch APP QUERY GZIP: prints "seconds bytes"
fetch() {
  local h=()
  [ -n "$3" ] && h=(-H 'Accept-Encoding: gzip')
  curl -fsS "${h[@]}" -o /dev/null -w '%{time_total} %{size_download}\n' "$api/api/profile/$1?$2"
}

for b in base labelled; do
  echo
  echo "== $b: seconds per request (median of $runs), answer size, ratio to the full download (cached)"
  printf '%-22s %12s %10s %10s %8s %8s\n' variant "answer B" first cached "first x" "cached x"
  declare -A first=() cached=() size=()
  i=0
  for v in "${variants[@]}"; do
    IFS='|' read -r label query gz <<<"$v"
    : >"$work/first" && : >"$work/cached"
    for r in $(seq "$runs"); do
      app=$b-$i-$r
      mkdir -p "$work/data/$app"
      cp "$dir/$b.pb.gz" "$work/data/$app/default.pgo"
      fetch "$app" "$query" "$gz" | tee -a "$work/sizes" | cut -d' ' -f1 >>"$work/first"
      fetch "$app" "$query" "$gz" | cut -d' ' -f1 >>"$work/cached"
      fetch "$app" "$query" "$gz" | cut -d' ' -f1 >>"$work/cached"
    done
    first[$label]=$(median <"$work/first")
    cached[$label]=$(median <"$work/cached")
    size[$label]=$(tail -1 "$work/sizes" | cut -d' ' -f2)
    i=$((i + 1))
  done
  full=${cached["pprof (full download)"]}
  for v in "${variants[@]}"; do
    label=${v%%|*}
    printf '%-22s %12s %10.4f %10.4f %8.2f %8.2f\n' "$label" "${size[$label]}" "${first[$label]}" \
      "${cached[$label]}" "$(awk -v a="${first[$label]}" -v f="$full" 'BEGIN { print a / f }')" \
      "$(awk -v a="${cached[$label]}" -v f="$full" 'BEGIN { print a / f }')"
  done
  unset first cached size
done

echo
echo "== the server's own count (conversions made; every first request is one, no cached one is)"
curl -fsS "$api/metrics" | grep -E '^pgopipe_read_(conversion_seconds_count|cache_(hits|misses)_total)' | sort
