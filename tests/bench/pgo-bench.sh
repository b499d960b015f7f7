#!/usr/bin/env bash
# pgo-bench.sh — what the compiler-made downloads cost and save: format=pgo
# (keep 2 and keep 0) and format=preprofile beside the full base, in bytes
# (raw and gzipped) and in time to produce, on a large merged base and on
# the same base with per-request labels.
#
# How to run (after `cmake -S . -B build && cmake --build build -j2`):
#
#   tests/bench/pgo-bench.sh [BUILD_DIR]          # BUILD_DIR defaults to ./build
#
# Inputs (cached in BUILD_DIR/bench/pgo; delete it to start over):
#  - the CPU profiles tests/bench/engine-bench.sh generates in BUILD_DIR/bench
#    (run here with BENCH_RUNS=1 when missing: up to BENCH_GEN_SECONDS), all
#    merged: a base of about 4 MB raw with 50k+ samples;
#  - "base": that merge with Function.start_line set from Go's sources
#    (tests/pgo/pgogen startlines; Go 1.19 writes none, and the compiler
#    refuses profiles without);
#  - "labelled": base with per-request labels as services that label each
#    request carry (pgogen label: each sample split into up to 8 samples, each
#    with its own request_id, an endpoint and a numeric request size).
# Measured, BENCH_RUNS times in one process (default 5, median reported; see
# tests/pgo/pgotool.c bench): decoding the base, encoding it whole (gzip 6:
# what re-serving a full base costs), format=pgo keep 2 and keep 0 (trim +
# gzip 6), preprofile (text) and preprofile + gzip. Sizes are of those
# outputs; "raw" is ungzipped. When the PGO test oracle is built
# (BUILD_DIR/tests/pgo/oracle, by ctest -R pgo), the outputs are checked to
# give the base's edge maps. Figures depend on machine load: say what ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
pgopipe=$build/bin/pgopipe
pgotool=$build/tests/pgo/pgotool
oracle=$build/tests/pgo/oracle
[ -x "$pgopipe" ] && [ -x "$pgotool" ] || { echo "no $pgopipe or $pgotool: build first" >&2; exit 1; }
runs=${BENCH_RUNS:-5}
export GOCACHE=${GOCACHE:-$build/.gocache} GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=
dir=$build/bench/pgo
mkdir -p "$dir"

# ---- inputs (cached) ----
if ! ls "$build"/bench/profiles/w-*.pb.gz >/dev/null 2>&1; then
  echo "== no workload profiles yet: generating them with engine-bench.sh (BENCH_RUNS=1)"
  BENCH_RUNS=1 bash "$root/tests/bench/engine-bench.sh" "$build" >/dev/null
fi
if [ ! -f "$dir/labelled.pb.gz" ]; then
  (cd "$root/tests/pgo/pgogen" && go build -o "$dir/pgogen" .)
  "$pgopipe" merge -o "$dir/merged.pb.gz" "$build"/bench/profiles/w-*.pb.gz
  "$dir/pgogen" startlines "$dir/merged.pb.gz" "$dir/base.pb.gz"
  "$dir/pgogen" label "$dir/base.pb.gz" "$dir/labelled.pb.gz"
fi

echo "== inputs"
for b in base labelled; do
  echo "$b: $(stat -c %s "$dir/$b.pb.gz") B gz, $(gzip -dc "$dir/$b.pb.gz" | wc -c) B raw; $("$pgopipe" inspect --top 0 "$dir/$b.pb.gz" | grep '^Tables')"
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-pgobench.XXXXXX")
trap 'rm -rf "$work"' EXIT

for b in base labelled; do
  in=$dir/$b.pb.gz
  "$pgotool" bench -runs "$runs" "$in" >"$work/$b.bench"
  "$pgotool" trim "$in" "$work/$b.pgo2"
  "$pgotool" trim -keep 0 "$in" "$work/$b.pgo0"
  "$pgotool" preprofile "$in" "$work/$b.pre"
  "$pgopipe" merge -o "$work/$b.full" "$in"
  if [ -x "$oracle" ]; then
    "$oracle" edges "$in" >"$work/want"
    "$oracle" edges -all "$in" >"$work/wantall"
    ok=yes
    cmp -s "$work/want" <("$oracle" edges "$work/$b.pgo2") || ok=NO
    cmp -s "$work/want" <("$oracle" edges "$work/$b.pgo0") || ok=NO
    cmp -s "$work/wantall" <("$oracle" edges -all "$work/$b.pgo0") || ok=NO
    cmp -s "$work/$b.pre" <("$oracle" preprofile "$in") || ok=NO
    echo "$b: edge maps of format=pgo equal the base's and preprofile is the oracle's: $ok"
  fi
done

v() { sed -n "s/^$2 //p" "$work/$1.bench"; }
raw() { gzip -dc "$1" | wc -c; }
echo
echo "== sizes (ratio = full base / output, gzipped)"
printf '%-10s %-22s %12s %12s %8s\n' input output "gzip B" "raw B" ratio
for b in base labelled; do
  full=$(stat -c %s "$work/$b.full")
  printf '%-10s %-22s %12s %12s %8s\n' "$b" "full base (gzip 6)" "$full" "$(raw "$work/$b.full")" "1.0x"
  for o in "pgo keep 2:pgo2" "pgo keep 0:pgo0"; do
    f=$work/$b.${o#*:}
    printf '%-10s %-22s %12s %12s %8s\n' "" "${o%:*}" "$(stat -c %s "$f")" "$(raw "$f")" \
      "$(awk -v a="$full" -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.1fx", a / b }')"
  done
  pgz=$(v "$b" preprofile_gz_bytes)
  printf '%-10s %-22s %12s %12s %8s\n' "" "preprofile" "$pgz" "$(stat -c %s "$work/$b.pre")" \
    "$(awk -v a="$full" -v b="$pgz" 'BEGIN { printf "%.1fx", a / b }')"
done

echo
echo "== time to produce, median of $runs in one process (ratio = encoding the full base / producing the output)"
printf '%-10s %-28s %10s %8s\n' input step seconds ratio
for b in base labelled; do
  enc=$(v "$b" encode_full_seconds)
  printf '%-10s %-28s %10s %8s\n' "$b" "decode the stored base" "$(v "$b" decode_seconds)" ""
  printf '%-10s %-28s %10s %8s\n' "" "encode the full base" "$enc" "1.0x"
  for s in "pgo keep 2 (trim + gzip):pgo_keep2" "pgo keep 0 (trim + gzip):pgo_keep0" \
    "preprofile (text):preprofile" "preprofile + gzip:preprofile_gz"; do
    t=$(v "$b" "${s#*:}_seconds")
    printf '%-10s %-28s %10s %8s\n' "" "${s%:*}" "$t" "$(awk -v a="$enc" -v b="$t" 'BEGIN { printf "%.1fx", a / b }')"
  done
done
