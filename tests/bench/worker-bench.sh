#!/usr/bin/env bash
# worker-bench.sh [BUILD_DIR] — how fast pgopipe-worker merges uploads into a
# multi-MB base, with batching on and off, and how long an upload takes from
# its 201 (staged + profile.uploaded acknowledged) to being in the base.
#
# Real servers as in production: S3 (s3rver behind the SigV4 checker) and a
# Kafka-protocol broker (librdkafka's mock cluster). Real profiles: CPU
# profiles of the Go compiler compiling standard-library packages (see
# worker-bench-gen.inc), merged into the starting base; the uploads are the
# same profiles again (profiles of the same program as the base).
#
# Throughput: the worker is stopped, N uploads are published, the worker is
# started; the time from the start of its first merge to the end of its last
# base write (its own log) gives uploads merged per second.
# Latency: uploads arrive at a steady rate while the worker runs (batching
# on); per upload, 201 → the worker's "upload merged" log line (same clock).
#
# Environment: N_BATCH (200), N_SINGLE (20), LAT_N (60), LAT_INTERVAL_MS (100),
# BATCH_MAX (50), BATCH_WAIT (200ms), COPIES (2: compiler copies per package),
# BIG_COPIES (16: copies of the largest compiles).
# Prints a small table; other work on the machine skews the figures.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
bin=$build/bin
testbin=$build/tests/bin
tool=$testbin/worker-tool
export KAFKA_MOCK=$testbin/kafka-mock
for b in "$bin/pgopipe-worker" "$tool" "$KAFKA_MOCK" "$bin/pgopipe"; do
  [ -x "$b" ] || { echo "worker-bench: build $(basename "$b") first (cmake --build $build)" >&2; exit 1; }
done
N_BATCH=${N_BATCH:-200}
N_SINGLE=${N_SINGLE:-20}
LAT_N=${LAT_N:-60}
LAT_INTERVAL_MS=${LAT_INTERVAL_MS:-100}
BATCH_MAX=${BATCH_MAX:-50}
BATCH_WAIT=${BATCH_WAIT:-200ms}

export GOCACHE=${GOCACHE:-$build/.gocache}
# shellcheck source=worker-bench-gen.inc
. "$src/tests/bench/worker-bench-gen.inc"
profdir=$build/bench-profiles
echo "== profiles (cached in $profdir)" >&2
gen_compile_profiles "$profdir" "${COPIES:-2}" "${BENCH_PKGS[@]}"
gen_compile_profiles "$profdir" "${BIG_COPIES:-16}" "${BENCH_BIG_PKGS[@]}"
mapfile -t profs < <(ls "$profdir"/*.pb.gz | sort)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/worker-bench.XXXXXX")
wpid=""
cleanup() {
  [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null || true
  "$src/tests/support/s3/s3-down.sh" "$tmp/s3" >/dev/null 2>&1 || true
  "$src/tests/support/kafka/kafka-down.sh" "$tmp/kafka" >/dev/null 2>&1 || true
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
mkdir -p "$tmp/s3" "$tmp/kafka"
"$src/tests/support/s3/s3-up.sh" "$tmp/s3" >/dev/null
set -a; . "$tmp/s3/env"; set +a
BLOB=$PGOPIPE_TEST_S3_URL
KAFKA_BROKERS=$("$src/tests/support/kafka/kafka-up.sh" "$tmp/kafka")
export KAFKA_BROKERS
WRITER=kafka://profiles
READER="kafka://bench?topic=profiles&session.timeout.ms=6000&fetch.wait.max.ms=20"

"$bin/pgopipe" merge -o "$tmp/base.pb.gz" "${profs[@]}"
base_gz=$(stat -c %s "$tmp/base.pb.gz")
base_raw=$(gunzip -c "$tmp/base.pb.gz" | wc -c)
base_tables=$("$bin/pgopipe" inspect "$tmp/base.pb.gz" | grep '^Tables:' || true)
echo "base: ${#profs[@]} profiles merged, $base_raw bytes raw, $base_gz bytes gzipped; $base_tables" >&2

start_worker() { # start_worker LOG FLAGS...
  local log=$1; shift
  "$bin/pgopipe-worker" -p 0 -l debug --blob-store-url "$BLOB" --event-reader-url "$READER" \
    --event-writer-url "$WRITER" "$@" >"$log" 2>&1 &
  wpid=$!
}
stop_worker() {
  kill -TERM "$wpid"; wait "$wpid" || true; wpid=""
}
# seconds since midnight of a log line's "time"
tsec() { sed -n 's/.*"time":"[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9.]*\)Z".*/\1 \2 \3/p' | awk '{printf "%.3f\n", $1*3600+$2*60+$3}'; }
wait_merged() { # wait_merged LOG COUNT SECS
  local i
  for i in $(seq 1 $(( $3 * 10 ))); do
    [ "$(grep -c '"msg":"upload merged"' "$1" || true)" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "worker-bench: only $(grep -c '"msg":"upload merged"' "$1" || true) of $2 merged; log tail:" >&2
  tail -n 5 "$1" >&2
  exit 1
}

# throughput MODE N FLAGS...: prints "uploads/s merges mean_batch"
throughput() {
  local mode=$1 n=$2; shift 2
  local app=tp-$mode
  "$tool" put "$BLOB" "$app/default.pgo" "$tmp/base.pb.gz"
  local files=() i
  for i in $(seq 0 $((n - 1))); do files+=("${profs[$((i % ${#profs[@]}))]}"); done
  "$tool" upload "$BLOB" "$WRITER" "$app" "${files[@]}" >/dev/null
  local log=$tmp/worker-$mode.log
  start_worker "$log" "$@"
  wait_merged "$log" "$n" 900
  stop_worker
  local first last ms
  first=$(grep '"msg":"base written"' "$log" | head -n 1)
  ms=$(echo "$first" | sed -n 's/.*"merge_ms":"\([0-9.]*\)".*/\1/p')
  local t0 t1
  t0=$(echo "$first" | tsec)
  t1=$(grep '"msg":"base written"' "$log" | tail -n 1 | tsec)
  local writes
  writes=$(grep -c '"msg":"base written"' "$log")
  local avg_ms
  avg_ms=$(grep '"msg":"base written"' "$log" | sed -n 's/.*"merge_ms":"\([0-9.]*\)".*/\1/p' |
           awk '{ s += $1 } END { printf "%.0f", s / NR }')
  awk -v n="$n" -v t0="$t0" -v t1="$t1" -v ms="$ms" -v w="$writes" -v a="$avg_ms" \
    'BEGIN { d = t1 - t0 + ms / 1000; printf "%.1f %d %.1f %.2f %s\n", n / d, w, n / w, d, a }'
}

echo "== throughput, batching on (--batch-max $BATCH_MAX --batch-wait $BATCH_WAIT), $N_BATCH uploads" >&2
read -r tp_on writes_on mean_on secs_on ms_on < <(throughput on "$N_BATCH" --batch-max "$BATCH_MAX" --batch-wait "$BATCH_WAIT")
echo "== throughput, batching off (--batch-max 1), $N_SINGLE uploads" >&2
read -r tp_off writes_off mean_off secs_off ms_off < <(throughput off "$N_SINGLE" --batch-max 1)

echo "== latency: $LAT_N uploads, one every ${LAT_INTERVAL_MS} ms, batching on" >&2
app=lat
"$tool" put "$BLOB" "$app/default.pgo" "$tmp/base.pb.gz"
log=$tmp/worker-lat.log
start_worker "$log" --batch-max "$BATCH_MAX" --batch-wait 50ms
# wait until the worker has joined the group: one upload merged
"$tool" upload "$BLOB" "$WRITER" "$app" "${profs[0]}" >/dev/null
wait_merged "$log" 1 120
files=()
for i in $(seq 0 $((LAT_N - 1))); do files+=("${profs[$((i % ${#profs[@]}))]}"); done
"$tool" upload-timed "$BLOB" "$WRITER" "$app" "$LAT_INTERVAL_MS" "${files[@]}" >"$tmp/sent.txt"
wait_merged "$log" $((LAT_N + 1)) 600
stop_worker
# name → merged time (s of day); sent: key epoch_ms → s of day (UTC)
grep '"msg":"upload merged"' "$log" | while read -r line; do
  echo "$(echo "$line" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p') $(echo "$line" | tsec)"
done | sort >"$tmp/merged.txt"
awk '{ n = $1; sub(".*/", "", n); ms = $2 % 86400000; printf "%s %.3f\n", n, ms / 1000 }' "$tmp/sent.txt" | sort >"$tmp/sent2.txt"
join "$tmp/sent2.txt" "$tmp/merged.txt" | awk '{ d = $3 - $2; if (d < 0) d += 86400; print d }' | sort -n >"$tmp/lat.txt"
cnt=$(wc -l <"$tmp/lat.txt")
p50=$(awk -v c="$cnt" 'NR == int(c * 0.50 + 0.5) { print $1 }' "$tmp/lat.txt")
p99=$(awk -v c="$cnt" 'NR == (int(c * 0.99 + 0.5) < 1 ? 1 : int(c * 0.99 + 0.5)) { print $1 }' "$tmp/lat.txt")
pmax=$(tail -n 1 "$tmp/lat.txt")

cat <<EOF
worker-bench ($(nproc) cores, other work running on the machine)
base: ${#profs[@]} Go compiler CPU profiles merged: $base_raw bytes raw, $base_gz bytes gzipped
  $base_tables
throughput, batching on  (--batch-max $BATCH_MAX): $tp_on uploads/s  ($N_BATCH uploads in ${secs_on}s, $writes_on base writes, $mean_on uploads per write)
throughput, batching off (--batch-max 1):  $tp_off uploads/s  ($N_SINGLE uploads in ${secs_off}s, $writes_off base writes)
time per base write (read base + uploads, merge, prune, encode, LIST, PUT): ${ms_on} ms with $mean_on uploads, ${ms_off} ms with 1
speed-up from batching: $(awk -v a="$tp_on" -v b="$tp_off" 'BEGIN { printf "%.1fx", a / b }')
latency 201 → in the base ($cnt uploads at one per ${LAT_INTERVAL_MS} ms): p50 ${p50}s  p99 ${p99}s  max ${pmax}s
EOF
