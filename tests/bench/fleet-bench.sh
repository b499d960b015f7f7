#!/usr/bin/env bash
# fleet-bench.sh [BUILD_DIR] — one hot app at fleet scale: a fleet of
# instances of one service pushing CPU profiles at RATE uploads/s (10,000
# instances every 15 s = 667/s) for DURATION seconds into one app whose base
# is ~4 MB raw, and how far behind the merge worker falls.
#
# Per run: the server (and worker) on a blob store, the base put in place,
# then fleet-load (tests/bench/fleet-load.c) offers the uploads open loop
# (upload k due at k / RATE s). Reported: uploads offered and accepted (2xx)
# per second, the upload latency, the lag (from the end of the push until
# every accepted upload is in the base, the worker's own counter), the
# mean uploads per base write, the merging rate (uploads over the summed time
# of the base writes, each from its batch's start to its PUT, from the
# worker's log) and the peak RSS of the process that merges.
# Runs (RUNS, default "file-inproc file-kafka s3-inproc"):
#   file-inproc  pgopipe-server --worker on file:// in /dev/shm (tmpfs), mem://
#   file-kafka   pgopipe-server on the same store announcing on Kafka (the
#                librdkafka mock cluster) and a separate pgopipe-worker
#   s3-inproc    pgopipe-server --worker on S3 (s3rver behind the SigV4 checker)
# Then the same merge work with Go's profile.Merge (tests/bench/history-go):
# one batch of the mean size of the first run merged into the base and into
# its hour bucket (as the worker does), uploads per second and the ratio.
#
# Uploads and base: CPU profiles of the Go compiler (worker-bench-gen.inc);
# the base is all of them merged, the uploads are the same profiles again,
# their time set to the start of the run (pptool retime).
# Environment: RATE (667), DURATION (20), THREADS (16), BATCH_MAX (50),
# BATCH_WAIT (100ms), DRAIN_MAX (300 s), RUNS, LOG_LEVEL (info; debug logs the stages
# of every base write), COPIES (2), BIG_COPIES (26: the base then is ~4 MB raw). Figures vary with the load.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
bin=$build/bin
testbin=$build/tests/bin
tool=$testbin/worker-tool
load=$testbin/fleet-load
export KAFKA_MOCK=$testbin/kafka-mock
pptool=$testbin/pptool
for b in "$bin/pgopipe-server" "$bin/pgopipe-worker" "$bin/pgopipe" "$tool" "$load" "$KAFKA_MOCK" "$pptool"; do
  [ -x "$b" ] || { echo "fleet-bench: build $(basename "$b") first (cmake --build $build)" >&2; exit 1; }
done
RATE=${RATE:-667}
DURATION=${DURATION:-20}
THREADS=${THREADS:-16}
BATCH_MAX=${BATCH_MAX:-50}
BATCH_WAIT=${BATCH_WAIT:-100ms}
DRAIN_MAX=${DRAIN_MAX:-300}
LOG_LEVEL=${LOG_LEVEL:-info}
RUNS=${RUNS:-file-inproc file-kafka s3-inproc}
APP=fleet

export GOCACHE=${GOCACHE:-$build/.gocache}
# shellcheck source=worker-bench-gen.inc
. "$src/tests/bench/worker-bench-gen.inc"
profdir=$build/bench-profiles
echo "== profiles (cached in $profdir)" >&2
gen_compile_profiles "$profdir" "${COPIES:-2}" "${BENCH_PKGS[@]}"
gen_compile_profiles "$profdir" "${BIG_COPIES:-26}" "${BENCH_BIG_PKGS[@]}"
mapfile -t profs < <(ls "$profdir"/*.pb.gz | sort)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-bench.XXXXXX")
shm=$(mktemp -d /dev/shm/fleet-bench.XXXXXX)
spid="" wpid=""
cleanup() {
  [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null || true
  [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null || true
  "$src/tests/support/s3/s3-down.sh" "$tmp/s3" >/dev/null 2>&1 || true
  "$src/tests/support/kafka/kafka-down.sh" "$tmp/kafka" >/dev/null 2>&1 || true
  rm -rf "$shm"
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

"$bin/pgopipe" merge -o "$tmp/base.pb.gz" "${profs[@]}"
base_gz=$(stat -c %s "$tmp/base.pb.gz")
base_raw=$(gunzip -c "$tmp/base.pb.gz" | wc -c)
# the fleet's uploads: the same profiles taken now (one hour, like a live
# fleet's), so the worker's hour bucket of each upload is the current one
now_ns=$(date +%s%N)
mkdir -p "$tmp/ups"
ups=()
for p in "${profs[@]}"; do
  "$pptool" retime "$p" "$tmp/ups/$(basename "$p")" "$now_ns"
  ups+=("$tmp/ups/$(basename "$p")")
done
up_gz=$(cat "${ups[@]}" | wc -c)
up_gz=$((up_gz / ${#ups[@]}))

now_ms() { date +%s%3N; }
port_of() { # port_of PID
  local p i
  for i in $(seq 1 200); do
    p=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$1," 'index($0, p) {split($4, a, ":"); print a[length(a)]; exit}')
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.05
  done
  return 1
}
metric() { # metric PORT NAME
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }' | cut -d. -f1
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# run NAME: one configuration; prints its row
run() {
  local name=$1 store=${1%%-*} mode=${1#*-}
  local dir=$shm/$name blob writer reader
  mkdir -p "$dir"
  case $store in
    file) blob="file://$dir/data" ;;
    s3)
      mkdir -p "$tmp/s3"
      "$src/tests/support/s3/s3-up.sh" "$tmp/s3" >/dev/null
      set -a; . "$tmp/s3/env"; set +a
      blob=$PGOPIPE_TEST_S3_URL ;;
  esac
  "$tool" put "$blob" "$APP/default.pgo" "$tmp/base.pb.gz"
  local sargs=(-p 0 -l warn --blob-store-url "$blob" --max-uploads 256)
  local mport
  if [ "$mode" = kafka ]; then
    mkdir -p "$tmp/kafka"
    KAFKA_BROKERS=$("$src/tests/support/kafka/kafka-up.sh" "$tmp/kafka")
    export KAFKA_BROKERS
    writer=kafka://profiles
    reader="kafka://fleet?topic=profiles&session.timeout.ms=6000&fetch.wait.max.ms=20"
    "$bin/pgopipe-worker" -p 0 -l "$LOG_LEVEL" --blob-store-url "$blob" --event-reader-url "$reader" \
      --event-writer-url "$writer" --batch-max "$BATCH_MAX" --batch-wait "$BATCH_WAIT" \
      >"$tmp/worker-$name.log" 2>&1 &
    wpid=$!
    (cd "$dir" && exec "$bin/pgopipe-server" "${sargs[@]}" --event-writer-url "$writer") \
      2>"$tmp/server-$name.log" &
    spid=$!
    mport=$(port_of "$wpid") || { echo "worker did not start" >&2; cat "$tmp/worker-$name.log" >&2; exit 1; }
  else
    (cd "$dir" && exec "$bin/pgopipe-server" "${sargs[@]}" --worker --batch-max "$BATCH_MAX" \
      --batch-wait "$BATCH_WAIT" -l "$LOG_LEVEL") 2>"$tmp/server-$name.log" &
    spid=$!
  fi
  local port
  port=$(port_of "$spid") || { echo "server did not start" >&2; cat "$tmp/server-$name.log" >&2; exit 1; }
  [ "$mode" = kafka ] || mport=$port
  local mpid=${wpid:-$spid}
  # warm up: one upload merged (the worker has joined and read the base)
  curl -s -o /dev/null -X POST --data-binary @"${ups[0]}" "http://127.0.0.1:$port/api/profile/$APP"
  local i
  for i in $(seq 1 1200); do
    [ "$(metric "$mport" 'pgopipe_worker_kind_uploads_total{kind="cpu"}')" -ge 1 ] && break
    sleep 0.1
  done
  local m0 a0 out t_end merged lag accepted
  m0=$(metric "$mport" 'pgopipe_worker_kind_uploads_total{kind="cpu"}')
  a0=$(metric "$port" pgopipe_uploads_accepted_total)
  local w0
  w0=$(metric "$mport" 'pgopipe_worker_kind_base_writes_total{kind="cpu"}')
  out=$("$load" "http://127.0.0.1:$port/api/profile/$APP" "$RATE" "$DURATION" "$THREADS" "${ups[@]}")
  t_end=$(now_ms)
  accepted=$(($(metric "$port" pgopipe_uploads_accepted_total) - a0))
  lag=""
  while :; do
    merged=$(($(metric "$mport" 'pgopipe_worker_kind_uploads_total{kind="cpu"}') - m0))
    if [ "$merged" -ge "$accepted" ]; then lag=$(($(now_ms) - t_end)); break; fi
    [ $(($(now_ms) - t_end)) -ge $((DRAIN_MAX * 1000)) ] && break
    sleep 0.1
  done
  local writes rss
  writes=$(($(metric "$mport" 'pgopipe_worker_kind_base_writes_total{kind="cpu"}') - w0))
  rss=$(hwm_kb "$mpid")
  kill -TERM "$spid"; wait "$spid" 2>/dev/null || true; spid=""
  if [ -n "$wpid" ]; then kill -TERM "$wpid"; wait "$wpid" 2>/dev/null || true; wpid=""; fi
  [ "$mode" = kafka ] && "$src/tests/support/kafka/kafka-down.sh" "$tmp/kafka" >/dev/null 2>&1
  [ "$store" = s3 ] && "$src/tests/support/s3/s3-down.sh" "$tmp/s3" >/dev/null 2>&1
  rm -rf "$dir"
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$out"; }
  local mean log=$tmp/server-$name.log rate
  [ "$mode" = kafka ] && log=$tmp/worker-$name.log
  mean=$(awk -v m="$merged" -v w="$writes" 'BEGIN { if (w > 0) printf "%.1f", m / w; else print "-" }')
  # merging rate: uploads over the time of the base writes (each from its
  # batch's start: base, uploads, buckets, merge, encode, PUT)
  rate=$(grep '"msg":"base written"' "$log" | sed -n 's/.*"uploads":"\([0-9]*\)".*"merge_ms":"\([0-9.]*\)".*/\1 \2/p' |
         awk '{ u += $1; ms += $2 } END { if (ms > 0) printf "%.0f", u * 1000 / ms; else print "-" }')
  printf "%-12s %8s %9s %8s %8s %10s %8s %7s %8s %9s\n" "$name" "$(get offered)" "$(get accepted_per_s)" \
    "$(get p50_ms)" "$(get p99_ms)" "${lag:-\>${DRAIN_MAX}000}" "$writes" "$mean" "$rate" "$((rss / 1024))"
  echo "$mean" >"$tmp/mean-$name"
  echo "$rate" >"$tmp/rate-$name"
}

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "fleet benchmark: $(nproc) cores, load average $(load_avg) at the start"
echo "base: ${#profs[@]} Go compiler CPU profiles merged, $base_raw bytes raw, $base_gz gzipped;"
echo "uploads: the same profiles (mean $up_gz bytes gzipped), $RATE/s offered for ${DURATION}s by $THREADS threads;"
echo "--batch-max $BATCH_MAX --batch-wait $BATCH_WAIT"
printf "%-12s %8s %9s %8s %8s %10s %8s %7s %8s %9s\n" run offered accepted/s p50_ms p99_ms lag_ms writes per_wr merge/s rss_MiB
first=""
for r in $RUNS; do
  run "$r"
  [ -n "$first" ] || first=$r
done
echo "load average $(load_avg) at the end"

# Go's profile.Merge on the same work: one batch of the first run's mean
# size, merged into the base and into an hour bucket of the same size.
if [ -n "$first" ] && [ "$(cat "$tmp/mean-$first")" != - ]; then
  (cd "$src/tests/bench/history-go" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= go build -o "$tmp/history-go" .)
  k=$(awk -v m="$(cat "$tmp/mean-$first")" 'BEGIN { k = int(m + 0.5); print k < 1 ? 1 : k }')
  batch=()
  for i in $(seq 0 $((k - 1))); do batch+=("${ups[$((i % ${#ups[@]}))]}"); done
  mkdir -p "$tmp/go"
  /usr/bin/time -f "%M" -o "$tmp/go/rss" "$tmp/history-go" batch "$tmp/go/out" "$tmp/base.pb.gz" \
    "$tmp/base.pb.gz" "${batch[@]}" >"$tmp/go/ms"
  go_ms=$(grep -o '[0-9.]*' "$tmp/go/ms" | tail -n 1)
  awk -v k="$k" -v ms="$go_ms" -v rss="$(cat "$tmp/go/rss")" -v ours="$(cat "$tmp/rate-$first")" -v run="$first" 'BEGIN {
    go = k * 1000 / ms
    printf "Go profile.Merge, one batch of %d into the base and its hour bucket: %.0f ms = %.1f uploads/s, peak RSS %d MiB\n", k, ms, go, rss / 1024
    if (ours != "-") printf "merge/s of %s vs Go: %.1fx\n", run, ours / go }'
fi
