#!/usr/bin/env bash
# Makes the profiles of the PGO tests from the differential corpus (tests/diff,
# already generated) and from hand-built corner cases, in a few seconds:
#
#   gen.sh PGOGEN_SRC CORPUS OUTDIR
#
#   OUTDIR/edge/*.pb.gz      pgogen's corner cases (inlining, recursion, labels,
#                            zero and cancelling weights, missing start lines, ...)
#   OUTDIR/sl/{cpu,extra}/   the corpus's CPU profiles with start lines (Go 1.19
#                            writes none; pgogen reads them from Go's sources)
#   OUTDIR/base/*.pb.gz      merged bases: the CPU corpus merged (no start lines),
#                            with start lines, with some missing, with per-request labels
# Environment: PGOPIPE (the pgopipe binary), Go's GO111MODULE/GOPATH/GOCACHE.
set -euo pipefail
src=${1:?usage: gen.sh PGOGEN_SRC CORPUS OUTDIR}
corpus=${2:?}
out=${3:?}
: "${PGOPIPE:?}"
mkdir -p "$out"
rm -rf "$out/edge" "$out/sl" "$out/base"
mkdir -p "$out/edge" "$out/sl/cpu" "$out/sl/extra" "$out/base"
(cd "$src" && go build -o "$out/pgogen" .)
gen=$out/pgogen
"$gen" edge "$out/edge"
for d in cpu extra; do
  for f in "$corpus/$d"/*.pb.gz; do "$gen" startlines "$f" "$out/sl/$d/$(basename "$f")"; done
done
"$PGOPIPE" merge -o "$out/base/base.pb.gz" "$corpus"/cpu/*.pb.gz "$corpus"/extra/*.pb.gz
"$gen" startlines "$out/base/base.pb.gz" "$out/base/base-start-lines.pb.gz"
"$gen" startlines -missing "$out/base/base.pb.gz" "$out/base/base-some-start-lines.pb.gz"
"$gen" label "$out/base/base-start-lines.pb.gz" "$out/base/base-labels.pb.gz"
echo "made $(ls "$out"/edge "$out"/sl/* "$out"/base | grep -c 'pb.gz$') profiles in $out"
