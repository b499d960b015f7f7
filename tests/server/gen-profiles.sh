#!/usr/bin/env bash
# gen-profiles.sh OUTDIR — real Go profiles for the server tests and the
# benchmark, made by Debian's Go from standard-library benchmarks (GOPATH
# mode, no module proxy), once: existing files are kept.
#   cpu.pprof    gzipped CPU profile (compress/flate benchmarks, ~15-20 KB)
#   cpu2.pprof   another CPU profile (encoding/json benchmarks)
#   cpu.raw      cpu.pprof decompressed (a raw profile.proto upload)
#   heap.pprof   gzipped heap profile (a valid profile of the wrong kind)
# GOCACHE defaults to OUTDIR/.gocache so repeated runs are quick.
set -euo pipefail
out=${1:?usage: gen-profiles.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export GO111MODULE=off GOFLAGS= GOCACHE=${GOCACHE:-$out/.gocache}
command -v go >/dev/null || { echo "gen-profiles: go is not installed (apt-get install golang-go)" >&2; exit 1; }
exec 9>"$out/.lock"
flock -w 600 9
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
gen() { # FILE PKG KIND BENCH
  [ -s "$out/$1" ] && return 0
  go test -run XXX -bench "$4" -benchtime 200ms "-$3" "$work/$1" -o "$work/t.test" "$2" >/dev/null
  mv "$work/$1" "$out/$1"
}
gen cpu.pprof compress/flate cpuprofile .
gen cpu2.pprof encoding/json cpuprofile 'Encode|Decode'
gen heap.pprof encoding/json memprofile 'Encode'
[ -s "$out/cpu.raw" ] || { gzip -dc "$out/cpu.pprof" > "$work/cpu.raw" && mv "$work/cpu.raw" "$out/cpu.raw"; }
ls -l "$out"/*.pprof "$out/cpu.raw" >&2
