#!/usr/bin/env bash
# gen-reads-profiles.sh SERVER_PROFILES PGOGEN_SRC OUTDIR — the profiles of the
# read tests (test_reads.c), from the server tests' real Go profiles
# (gen-profiles.sh) in a few seconds:
#   cpu-sl.pprof     cpu.pprof with Function.start_line set (Go 1.19 writes
#                    none, and the compiler and format=preprofile refuse
#                    profiles without)
#   cpu2-sl.pprof    cpu2.pprof, the same (a second version of a base)
#   labels.pprof     cpu-sl.pprof with per-request labels (larger; slower to convert)
#   cpu.pprof        as made by Go 1.19: no start lines
#   heap.pprof       a heap profile (the heap kind's base)
# Environment: Go's GO111MODULE/GOPATH/GOCACHE (GOPATH mode, no module proxy).
set -euo pipefail
in=${1:?usage: gen-reads-profiles.sh SERVER_PROFILES PGOGEN_SRC OUTDIR}
src=${2:?}
out=${3:?}
mkdir -p "$out"
exec 9>"$out/.lock"
flock -w 600 9
(cd "$src" && go build -o "$out/pgogen" .)
"$out/pgogen" startlines "$in/cpu.pprof" "$out/cpu-sl.pprof"
"$out/pgogen" startlines "$in/cpu2.pprof" "$out/cpu2-sl.pprof"
"$out/pgogen" label "$out/cpu-sl.pprof" "$out/labels.pprof"
cp "$in/cpu.pprof" "$in/heap.pprof" "$out/"
ls -l "$out"/*.pprof >&2
