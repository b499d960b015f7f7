#!/usr/bin/env bash
# Generates the real Go profiles the differential tests and the fuzz seeds use:
# CPU, heap, block and mutex profiles from `go test -bench` on standard-library
# packages, plus extra short CPU runs (for many-input merges) and Debian's pprof
# testdata. Output is cached: a second run with the same OUTDIR returns at once.
#
#   gen-profiles.sh OUTDIR
#
# Layout: OUTDIR/{cpu,heap,block,mutex,extra,testdata}/*.pb.gz, OUTDIR/.done.
# Environment: GOCACHE (default OUTDIR/.gocache). Bounded: roughly a minute on
# two cores with an empty Go build cache.
set -euo pipefail
out=${1:?usage: gen-profiles.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -f "$out/.done" ] && exit 0

export GOCACHE=${GOCACHE:-$out/.gocache}
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=
goroot=$(go env GOROOT)
rm -rf "$out/tmp" && mkdir -p "$out"/{cpu,heap,block,mutex,extra,testdata,bin,tmp}

# package | benchmark regexp (kept small so the whole run stays short)
pkgs=(
  "compress/flate|Encode/Newton/(Speed|Default)/1e5|Decode/Newton/Default/1e5"
  "encoding/json|CodeEncoder|CodeDecoder|CodeMarshal|UnicodeDecoder"
  "regexp|Match/(Easy0|Medium|Hard)/1K|OnePassShortA"
  "sort|SortString1K$|SortInt64K$|Stable1e4$"
  "math/big|Mul$|Exp$|Sqrt$|String10Base10"
  "strconv|Atof64Decimal|FormatFloat/Decimal|AppendInt"
  "sync|Mutex$|MutexSlack$|RWMutexWrite100$|Cond8$|MutexUncontended"
)

for entry in "${pkgs[@]}"; do
  pkg=${entry%%|*}
  rx=${entry#*|}
  name=${pkg//\//_}
  go test -c -o "$out/bin/$name.test" "$pkg"
  # Test binaries run in the package directory (they read ../testdata).
  (cd "$goroot/src/$pkg" &&
    "$out/bin/$name.test" -test.run XXX -test.bench "$rx" -test.benchtime 300ms \
      -test.cpuprofile "$out/tmp/cpu.pb.gz" -test.memprofile "$out/tmp/heap.pb.gz" \
      -test.blockprofile "$out/tmp/block.pb.gz" -test.mutexprofile "$out/tmp/mutex.pb.gz" \
      -test.outputdir "$out/tmp" >/dev/null)
  for k in cpu heap block mutex; do
    mv "$out/tmp/$k.pb.gz" "$out/$k/$name.pb.gz"
  done
  for i in 1 2 3 4 5; do
    (cd "$goroot/src/$pkg" &&
      "$out/bin/$name.test" -test.run XXX -test.bench "$rx" -test.benchtime 40ms \
        -test.cpuprofile "$out/extra/$name-$i.pb.gz" -test.outputdir "$out/tmp" >/dev/null)
  done
done

td=/usr/share/gocode/src/github.com/google/pprof/internal
cp "$td/report/testdata/sample.cpu" "$out/testdata/sample.cpu.pb.gz"
cp "$td/driver/testdata/go.nomappings.crash" "$out/testdata/go.nomappings.crash.pb.gz"

rm -rf "$out/tmp" "$out/bin"
touch "$out/.done"
