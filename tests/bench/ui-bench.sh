#!/usr/bin/env bash
# ui-bench.sh — the web UI on a large base: the tree JSON that
# pgopipe-server serves for it, and the first paint of the page in headless
# Chromium.
#
# How to run (after `cmake -S . -B build && cmake --build build -j2`):
#
#   tests/bench/ui-bench.sh [BUILD_DIR]              # BUILD_DIR defaults to ./build
#
# The base is the one tests/bench/engine-bench.sh builds and caches in
# BUILD_DIR/bench/base.pb.gz (~4 MB of raw protobuf, 53k samples); when it is
# missing this script runs engine-bench.sh once (BENCH_RUNS=1) to make it,
# which takes minutes. Needs curl, node and /usr/bin/chromium (the UI tests'
# node package is installed by tests/ui/node/setup.sh).
#
# It starts pgopipe-server on 127.0.0.1 (file store holding the base as app
# "bench"), then measures, BENCH_RUNS times each (default 7, median
# reported):
#   (1) GET /api/ui/tree/bench?min_share=0.001 (what the page asks):
#       cold — nothing cached: the base read, decoded and turned into the
#       tree (each run asks for another max_top, so each is a cache miss);
#       warm — the same request again, from the cache; 304 — with the
#       If-None-Match the browser sends. Wall time at the client (curl) and
#       the server's own time (its Server-Timing header);
#   (2) the page in headless Chromium (tests/ui/node/bench.js): time from
#       navigation start to the first paint of the flame graph, cold (a new
#       browser) and the median over BENCH_RUNS tabs.
# Figures depend on machine load: say what else was running.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
server=$build/bin/pgopipe-server
[ -x "$server" ] || { echo "no $server: build first" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
runs=${BENCH_RUNS:-7}
base=$build/bench/base.pb.gz
if [ ! -f "$base" ]; then
  echo "== no cached base: running engine-bench.sh once to build it"
  BENCH_RUNS=1 "$root/tests/bench/engine-bench.sh" "$build"
fi
"$root/tests/ui/node/setup.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-ui-bench.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data/bench"
cp "$base" "$work/data/bench/default.pgo"
: >"$work/server.log" # before the server starts: the loop below reads it at once
"$server" -p 0 --blob-store-url "file://$work/data" --event-writer-url mem://profiles --worker 2>"$work/server.log" &
pid=$!
port=
for _ in $(seq 200); do
  port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "pgopipe-server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
url=http://127.0.0.1:$port

echo "== input"
echo "base: $(stat -c %s "$base") B gz, $(gzip -dc "$base" | wc -c) B raw; $("$build/bin/pgopipe" inspect --top 0 "$base" | grep '^Tables')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# get URL [HEADER]: prints "client_ms server_ms bytes status"
get() {
  local h=()
  [ $# -gt 1 ] && h=(-H "$2")
  curl -s -o "$work/body" -D "$work/headers" "${h[@]}" -w '%{time_total} %{size_download} %{http_code}\n' "$1" >"$work/w"
  read -r t size code <"$work/w"
  local srv
  srv=$(sed -n 's/^Server-Timing: view;dur=\([0-9.]*\).*/\1/p' "$work/headers" | tr -d '\r')
  awk -v t="$t" -v s="${srv:-0}" -v n="$size" -v c="$code" 'BEGIN { printf "%.2f %.2f %d %d\n", t * 1000, s, n, c }'
}

echo "== (1) tree JSON of the base (min_share 0.001), median of $runs runs"
: >"$work/cold"
: >"$work/warm"
: >"$work/nm"
for ((i = 0; i < runs; i++)); do
  get "$url/api/ui/tree/bench?min_share=0.001&max_top=$((100000 + i))" >>"$work/cold"
done
get "$url/api/ui/tree/bench?min_share=0.001" >/dev/null
etag=$(sed -n 's/^ETag: \(.*\)/\1/p' "$work/headers" | tr -d '\r')
for ((i = 0; i < runs; i++)); do
  get "$url/api/ui/tree/bench?min_share=0.001" >>"$work/warm"
  get "$url/api/ui/tree/bench?min_share=0.001" "If-None-Match: $etag" >>"$work/nm"
done
printf '%-28s %10s %10s %10s %6s\n' request client_ms server_ms bytes status
for k in cold warm nm; do
  label=$k
  [ $k = nm ] && label="304 (If-None-Match)"
  printf '%-28s %10s %10s %10s %6s\n' "$label" "$(cut -d' ' -f1 "$work/$k" | median)" "$(cut -d' ' -f2 "$work/$k" | median)" \
    "$(cut -d' ' -f3 "$work/$k" | median)" "$(cut -d' ' -f4 "$work/$k" | sort -u | tr '\n' ' ')"
done

echo "== (2) first paint of the page in headless Chromium"
node "$root/tests/ui/node/bench.js" "$url/ui/#app=bench" "$runs"
