#!/usr/bin/env bash
# history-bench.sh [BUILD_DIR] — what hour buckets and a sliding window cost
# the merge worker, beside Go's profile.Merge of the same inputs.
#
# A 7-day window (HOURS=168) of hourly buckets whose base is ~4 MB raw: the
# Go compiler's CPU profiles of worker-bench.sh (worker-bench-gen.inc,
# cached in BUILD_DIR/bench-profiles; BIG_COPIES defaults to 25 here for a
# ~4 MB base), every one uploaded once and every hour given at least one,
# folded by the worker
# itself (lib/pipeline, in-process, tests/bench/history-bench.c) on a file://
# store with an injected clock. Then, each phase in a process of its own
# under /usr/bin/time (wall time measured inside, memory peak = max RSS):
#   batch    ROUNDS batches of K uploads of the current hour into the base
#            kept in memory (as in a running worker): the whole base update
#            with its hour bucket, and without (minus the bucket's merge,
#            encode and PUT, from the worker's log)
#   leave    the clock moves one hour: the oldest hour is subtracted from the
#            base (one merge, encode, PUT; the tick's retention LISTs too),
#            ROUNDS times (one more hour each)
#   rebuild  the same by re-merging the window's buckets instead (reported
#            without reading the base, which a running worker keeps)
# and Go (tests/bench/history-go, Debian's pprof): Merge([K uploads, base])
# and Merge([K uploads, bucket]) with their writes; Merge([base, -bucket]);
# Merge(every bucket of the window); Merge(the last 24 buckets) — a 24 h
# range read. Ours, the 24 h range read through `pgopipe download --from
# --to` against pgopipe-server, runs when that build has it (the read side
# of the history); otherwise it is reported as not built.
#
# Environment: HOURS (168), K (10), ROUNDS (5), COPIES (2), BIG_COPIES (25).
# Figures vary with the machine's load: say what else ran.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
bin=$build/bin
hb=$build/tests/bin/history-bench
for b in "$hb" "$bin/pgopipe" "$bin/pgopipe-server"; do
  [ -x "$b" ] || { echo "history-bench: build $(basename "$b") first (cmake --build $build)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "history-bench: needs GNU time (/usr/bin/time)" >&2; exit 1; }
HOURS=${HOURS:-168}
K=${K:-10}
ROUNDS=${ROUNDS:-5}

export GOCACHE=${GOCACHE:-$build/.gocache}
# shellcheck source=worker-bench-gen.inc
. "$src/tests/bench/worker-bench-gen.inc"
profdir=$build/bench-profiles
echo "== profiles (cached in $profdir)" >&2
gen_compile_profiles "$profdir" "${COPIES:-2}" "${BENCH_PKGS[@]}"
gen_compile_profiles "$profdir" "${BIG_COPIES:-25}" "${BENCH_BIG_PKGS[@]}"
mapfile -t profs < <(ls "$profdir"/*.pb.gz | sort)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/history-bench.XXXXXX")
spid=""
cleanup() {
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null || true
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
(cd "$src/tests/bench/history-go" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= go build -o "$tmp/history-go" .)

# run NAME CMD...: runs CMD under /usr/bin/time; its output line, then the peak RSS (MiB)
run() {
  local name=$1; shift
  /usr/bin/time -f '%M' -o "$tmp/$name.rss" "$@" >"$tmp/$name.out"
  echo "$(cat "$tmp/$name.out")  [peak RSS $(( $(tail -n 1 "$tmp/$name.rss") / 1024 )) MiB]"
}
ms_of() { grep -o '[0-9.]* ms' "$tmp/$1.out" | sed -n "${2:-1}p" | cut -d' ' -f1; }
rss_of() { echo $(( $(tail -n 1 "$tmp/$1.rss") / 1024 )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# go_runs NAME CMD...: ROUNDS runs of a step (Go's, or one of ours that is
# run again), their lines in NAME.all, the largest RSS in NAME.rss
go_runs() {
  local name=$1; shift
  : >"$tmp/$name.all"
  local peak=0 r m
  for r in $(seq 1 "$ROUNDS"); do
    /usr/bin/time -f '%M' -o "$tmp/$name.r" "$@" >>"$tmp/$name.all"
    m=$(tail -n 1 "$tmp/$name.r")
    if [ "$m" -gt "$peak" ]; then peak=$m; fi
  done
  echo "$peak" >"$tmp/$name.rss"
}
# med NAME FIELD: the median over the runs of the FIELD-th "N ms" of their lines
med() {
  local line
  while read -r line; do grep -o '[0-9.]* ms' <<<"$line" | sed -n "${2}p" | cut -d' ' -f1; done <"$tmp/$1.all" |
    sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p"
}

echo "== setup: $HOURS hourly buckets from ${#profs[@]} profiles" >&2
"$hb" setup "$tmp/h" "$HOURS" "${profs[@]}"
mkdir -p "$tmp/go"
"$hb" files "$tmp/h" "$tmp/go" "$HOURS" >&2
base_gz=$(stat -c %s "$tmp/go/base.pb.gz")
base_raw=$(gunzip -c "$tmp/go/base.pb.gz" | wc -c)
mapfile -t buckets < <(ls "$tmp/go"/bucket-*.pb.gz | sort)
last=${buckets[${#buckets[@]} - 1]}
echo "base: $base_raw bytes raw, $base_gz gzipped ($("$bin/pgopipe" inspect "$tmp/go/base.pb.gz" | grep '^Tables:' || true)); ${#buckets[@]} buckets, the last $(stat -c %s "$last") bytes gzipped"

echo "== batch" >&2
run batch "$hb" batch "$tmp/h" "$ROUNDS" "$K" "${profs[@]:0:$K}"
c_total=$(ms_of batch 1); c_bucket=$(ms_of batch 2); c_rest=$(ms_of batch 3); c_batch_rss=$(rss_of batch)
go_runs gobatch "$tmp/history-go" batch "$tmp/go/out" "$tmp/go/base.pb.gz" "$last" "${profs[@]:0:$K}"
go_base=$(med gobatch 1); go_bucket=$(med gobatch 2); go_both=$(med gobatch 3); go_batch_rss=$(rss_of gobatch)
echo "== leave" >&2
go_runs leave "$hb" leave "$tmp/h" # each run: one more hour leaves
c_leave=$(med leave 1); c_leave_rss=$(rss_of leave)
go_runs goleave "$tmp/history-go" leave "$tmp/go/out" "$tmp/go/base.pb.gz" "${buckets[0]}"
go_leave=$(med goleave 1); go_leave_rss=$(rss_of goleave)
echo "== rebuild" >&2
go_runs rebuild "$hb" rebuild "$tmp/h"
c_base_read=$(med rebuild 2); c_rebuild_rss=$(rss_of rebuild)
c_rebuild=$(while read -r line; do grep -o '[0-9.]* ms' <<<"$line" | cut -d' ' -f1 | paste -sd' ' |
  awk '{ printf "%.1f\n", $1 - $2 }'; done <"$tmp/rebuild.all" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")
go_runs goremerge "$tmp/history-go" merge "$tmp/go/out" "${buckets[@]}"
go_remerge=$(med goremerge 1); go_remerge_rss=$(rss_of goremerge)
echo "== 24 h range read" >&2
go_runs gorange "$tmp/history-go" merge "$tmp/go/out" "${buckets[@]: -24}"
go_range=$(med gorange 1); go_range_rss=$(rss_of gorange)
c_range="-"; c_range_rss="-"
if "$bin/pgopipe" download --help 2>&1 | grep -q -- '--from'; then
  # the read side of the history is built: the all-in-one server on the
  # bench's store (its worker finds nothing staged; the buckets are read)
  "$bin/pgopipe-server" -p 0 --blob-store-url "file://$tmp/h/store" --worker --window "${HOURS}h" \
    --retention "$((HOURS + 24))h" >"$tmp/server.log" 2>&1 &
  spid=$!
  port=""
  for i in $(seq 1 100); do
    port=$(grep -o '"port":[0-9]*' "$tmp/server.log" | head -n 1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  to=$(( $(cat "$tmp/h/clock" | cut -d' ' -f1) / 1000000000 / 3600 * 3600 ))
  from=$(( to - 24 * 3600 ))
  v=()
  for r in $(seq 1 "$ROUNDS"); do
    t0=$(date +%s%N)
    "$bin/pgopipe" download bench -u "http://127.0.0.1:$port" --from "$from" --to "$to" -o "$tmp/range.pb.gz" >/dev/null
    v+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
  done
  c_range=$(printf '%s\n' "${v[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")
  c_range_rss="$(( $(awk '/VmHWM/ { print $2 }' "/proc/$spid/status") / 1024 )) (server)"
  kill -TERM "$spid"; wait "$spid" || true; spid=""
fi

cat <<TABLE

$HOURS hourly buckets, base $base_raw bytes raw ($base_gz gzipped); batches of $K uploads; medians of $ROUNDS
| step | pgopipe (ms) | peak RSS (MiB) | Go profile.Merge (ms) | peak RSS (MiB) | ratio (pgopipe/Go) |
| --- | --- | --- | --- | --- | --- |
| base update per batch, with its hour bucket | $c_total | $c_batch_rss | $go_both | $go_batch_rss | $(ratio "$c_total" "$go_both") |
| base update per batch, without the bucket | $c_rest | | $go_base | | $(ratio "$c_rest" "$go_base") |
| (the hour bucket's share) | $c_bucket | | $go_bucket | | $(ratio "$c_bucket" "$go_bucket") |
| an hour leaving the window: subtraction | $c_leave | $c_leave_rss | $go_leave | $go_leave_rss | $(ratio "$c_leave" "$go_leave") |
| an hour leaving the window: re-merging the window | $c_rebuild (+ $c_base_read reading the base) | $c_rebuild_rss | $go_remerge | $go_remerge_rss | $(ratio "$c_rebuild" "$go_remerge") |
| 24 h range read | $c_range | $c_range_rss | $go_range | $go_range_rss | $( [ "$c_range" = - ] && echo "- (read side not built)" || ratio "$c_range" "$go_range") |
subtraction vs re-merging: $(ratio "$c_leave" "$c_rebuild") of the time (pgopipe, the base kept in memory in both; Go parses it)
(the re-merging merges the $((HOURS - ROUNDS)) buckets left in the window after the $ROUNDS hours that left; Go's, all $HOURS)
TABLE
