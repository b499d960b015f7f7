#!/usr/bin/env bash
# engine-bench.sh — pgopipe's profile engine against Go's pprof, side by side.
#
# How to run (after `cmake -S . -B build && cmake --build build -j2`):
#
#   tests/bench/engine-bench.sh [BUILD_DIR]          # BUILD_DIR defaults to ./build
#
# It needs go (Debian golang-go) and GNU time (/usr/bin/time). Step 1 builds,
# once, a realistic base profile and caches it in BUILD_DIR/bench: CPU profiles
# of tests/bench/workload (a Go program that parses, type-checks and prints
# standard-library packages, sampled at BENCH_HZ) are generated until their
# merge reaches BENCH_BASE_BYTES of raw protobuf (default 4 MB, like a
# long-lived app's default.pgo) or BENCH_GEN_SECONDS have passed; delete
# BUILD_DIR/bench to start over. The workload is built BENCH_BUILDS times
# (default 4) at different paths and the profiles rotate among the builds, as
# a base collects uploads across deploys: each build is its own mapping with
# its own locations (Go 1.19 records no build ID for the main binary).
# Step 2 measures, BENCH_RUNS times each (default 9, pgopipe and Go
# alternating, the median is reported), wall time, CPU time (user+sys, less
# sensitive to other load on the machine; both from bash's `time`, in
# milliseconds) and peak RSS (GNU time's %M) of:
#   (a) one new upload merged into the base:  pgopipe merge -o OUT UPLOAD BASE
#       vs  pprof -proto -symbolize=none UPLOAD BASE > OUT
#   (b) 50 profiles at once:                  pgopipe merge -o OUT P1..P50
#       vs  pprof -proto -symbolize=none P1..P50 > OUT
# (the upload comes first, as the worker merges it). `pprof` is Go's own tool
# binary ($(go env GOTOOLDIR)/pprof, what `go tool pprof` runs) so the go
# command's start-up is not charged to Go. Both outputs are then compared with
# the differential-test oracle when it is built, so the race is for the same
# answer. Figures depend on machine load: say what else was running.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
pgopipe=$build/bin/pgopipe
[ -x "$pgopipe" ] || { echo "no $pgopipe: build first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }
pprof_bin=$(go env GOTOOLDIR)/pprof
[ -x "$pprof_bin" ] || { echo "no Go pprof tool at $pprof_bin" >&2; exit 1; }

bench=$build/bench
runs=${BENCH_RUNS:-9}
target=${BENCH_BASE_BYTES:-4000000}
gen_max=${BENCH_GEN_SECONDS:-1200}
hz=${BENCH_HZ:-2000}
secs=${BENCH_PROFILE_SECONDS:-5}
export GOCACHE=${GOCACHE:-$build/.gocache} GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=
mkdir -p "$bench/profiles"

# ---- step 1: the inputs (cached) ----
if [ ! -f "$bench/base.pb.gz" ]; then
  echo "== building the workload and generating profiles (target ${target} B raw, at most ${gen_max} s)"
  builds=${BENCH_BUILDS:-4}
  for ((b = 1; b <= builds; b++)); do
    [ -x "$bench/build-$b/workload" ] ||
      (cd "$root/tests/bench/workload" && go build -o "$bench/build-$b/workload" .)
  done
  start=$(date +%s)
  seed=$(ls "$bench/profiles" | wc -l)
  while :; do
    n=$(ls "$bench/profiles" | wc -l)
    if [ "$n" -ge 52 ]; then
      "$pgopipe" merge -o "$bench/base.tmp.pb.gz" "$bench"/profiles/w-*.pb.gz
      raw=$(gzip -dc "$bench/base.tmp.pb.gz" | wc -c)
      echo "   $n profiles, merged base $raw B raw"
      [ "$raw" -ge "$target" ] && break
      [ $(($(date +%s) - start)) -ge "$gen_max" ] && { echo "   time is up: base stays at $raw B raw"; break; }
    fi
    seed=$((seed + 1))
    f=$(printf '%s/profiles/w-%04d.pb.gz' "$bench" "$seed")
    "$bench/build-$((seed % builds + 1))/workload" -o "$f.tmp" -seconds "$secs" -hz "$hz" -seed "$seed" 2>/dev/null
    mv "$f.tmp" "$f"
  done
  # The newest profile is the upload of (a); the base is the merge of the rest.
  ls "$bench"/profiles/w-*.pb.gz | tail -1 >"$bench/upload.list"
  ls "$bench"/profiles/w-*.pb.gz | tail -51 | head -50 >"$bench/fifty.list"
  ls "$bench"/profiles/w-*.pb.gz | head -n -1 | xargs "$pgopipe" merge -o "$bench/base.pb.gz"
  rm -f "$bench/base.tmp.pb.gz"
fi
upload=$(cat "$bench/upload.list")
mapfile -t fifty <"$bench/fifty.list"
base=$bench/base.pb.gz

echo "== inputs"
echo "base:   $(stat -c %s "$base") B gz, $(gzip -dc "$base" | wc -c) B raw; $("$pgopipe" inspect --top 0 "$base" | grep '^Tables')"
echo "upload: $(stat -c %s "$upload") B gz, $(gzip -dc "$upload" | wc -c) B raw"
echo "fifty:  $(cat "${fifty[@]}" | wc -c) B gz, $(for f in "${fifty[@]}"; do gzip -dc "$f"; done | wc -c) B raw in total"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# once NAME OUT command... : runs it once with standard output to OUT and
# appends "wall_seconds cpu_seconds kib" to $work/NAME.times. Wall and CPU
# (user+sys of the command and its threads) come from bash's `time` in
# milliseconds (GNU time prints only hundredths, too coarse for runs of tens
# of milliseconds); peak RSS from GNU time.
once() {
  local name=$1 out=$2
  shift 2
  local TIMEFORMAT='%3R %3U %3S'
  { time /usr/bin/time -f '%M' -o "$work/$name.m" "$@" >"$out" 2>/dev/null; } 2>"$work/$name.t"
  awk -v m="$(cat "$work/$name.m")" '{print $1, $2 + $3, m}' "$work/$name.t" >>"$work/$name.times"
}

# medians NAME: "median_wall_seconds median_cpu_seconds median_kib" of NAME's runs.
medians() {
  local name=$1 t c m
  t=$(awk '{print $1}' "$work/$name.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  c=$(awk '{print $2}' "$work/$name.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  m=$(awk '{print $3}' "$work/$name.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$t $c $m"
}

row() { # label pgopipe_result go_result
  read -r pt pc pm <<<"$2"
  read -r gt gc gm <<<"$3"
  awk -v l="$1" -v pt="$pt" -v pc="$pc" -v pm="$pm" -v gt="$gt" -v gc="$gc" -v gm="$gm" 'BEGIN {
    printf "%s\n  pgopipe  wall %6.3f s  cpu %6.3f s  peak %7.1f MiB\n", l, pt, pc, pm / 1024
    printf "  go pprof wall %6.3f s  cpu %6.3f s  peak %7.1f MiB\n", gt, gc, gm / 1024
    printf "  ratio    %.1fx faster (wall), %.1fx less CPU, %.1f%% of Go peak memory\n",
      (pt > 0 ? gt / pt : 0), (pc > 0 ? gc / pc : 0), 100 * pm / gm }'
}

# The runs of pgopipe and Go alternate, so that both see the same machine
# (its load drifts over a minute; the ratio compares like with like).
echo "== measuring, median of $runs runs each, pgopipe and Go alternating"
for ((i = 0; i < runs; i++)); do
  once a_pgopipe /dev/null "$pgopipe" merge -o "$work/a_p.pb.gz" "$upload" "$base"
  once a_go "$work/a_g.pb.gz" "$pprof_bin" -proto -symbolize=none "$upload" "$base"
  once b_pgopipe /dev/null "$pgopipe" merge -o "$work/b_p.pb.gz" "${fifty[@]}"
  once b_go "$work/b_g.pb.gz" "$pprof_bin" -proto -symbolize=none "${fifty[@]}"
done
a_p=$(medians a_pgopipe)
a_g=$(medians a_go)
b_p=$(medians b_pgopipe)
b_g=$(medians b_go)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
row "(a) upload into base" "$a_p" "$a_g"
row "(b) 50 profiles at once" "$b_p" "$b_g"

oracle=$build/tests/diff/oracle
if [ -x "$oracle" ]; then
  # Same answer as Go's profile.Merge (what autopgo runs)? The pprof tool's own
  # output can differ in one known way: its driver drops samples with an empty
  # stack (tests/diff/KNOWN_DIFFS.md), which Merge keeps.
  "$oracle" merge "$upload" "$base" >"$work/a_want"
  "$oracle" merge "${fifty[@]}" >"$work/b_want"
  for c in a b; do
    if cmp -s "$work/${c}_want" <("$oracle" summary "$work/${c}_p.pb.gz"); then
      echo "($c) pgopipe result = Go profile.Merge result (oracle summaries equal)"
    else
      echo "($c) pgopipe result DIFFERS from Go profile.Merge"
    fi
    if ! cmp -s <("$oracle" summary "$work/${c}_g.pb.gz") <("$oracle" summary "$work/${c}_p.pb.gz"); then
      echo "    vs pprof -proto: $(diff <("$oracle" summary "$work/${c}_g.pb.gz") <("$oracle" summary "$work/${c}_p.pb.gz") | grep -c '^[<>] stack') stack lines differ"
    fi
  done
fi
