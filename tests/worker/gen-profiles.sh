#!/usr/bin/env bash
# gen-profiles.sh OUTDIR [PKG...] — real Go CPU profiles for the worker's tests
# and benchmark, from `go test -bench` on standard-library packages (GOPATH
# mode, nothing fetched). Each package's test binary is built once and run
# RUNS times (default 3) with a short benchtime, giving distinct profiles of
# one program: OUTDIR/cpu/<pkg>-<i>.pb.gz. One heap profile is kept as
# OUTDIR/heap.pb.gz (a valid profile that cannot merge into a CPU base).
# Cached: a second run with the same OUTDIR and packages returns at once.
# Environment: GOCACHE (default OUTDIR/.gocache), RUNS, BENCHTIME (200ms).
set -euo pipefail
out=${1:?usage: gen-profiles.sh OUTDIR [PKG...]}
shift
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(compress/flate encoding/json regexp sort)
runs=${RUNS:-3}
benchtime=${BENCHTIME:-200ms}
mkdir -p "$out/cpu" "$out/bin" "$out/tmp"
out=$(cd "$out" && pwd)
export GOCACHE=${GOCACHE:-$out/.gocache}
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=
goroot=$(go env GOROOT)

# package -> benchmarks (a few per package keep a run short)
bench_of() {
  case $1 in
    compress/flate) echo 'Encode/Digits/(Speed|Default)/1e4|Decode/Digits/Default/1e4' ;;
    encoding/json) echo 'CodeEncoder|CodeDecoder|UnicodeDecoder' ;;
    regexp) echo 'Match/(Easy0|Medium|Hard)/1K|OnePassShortA' ;;
    sort) echo 'SortString1K$|SortInt64K$|Stable1e4$' ;;
    math/big) echo 'Mul$|Exp$|String10Base10' ;;
    strconv) echo 'Atof64Decimal|FormatFloat/Decimal|AppendInt' ;;
    *) echo '.' ;;
  esac
}

for pkg in "${pkgs[@]}"; do
  name=${pkg//\//_}
  [ -f "$out/cpu/$name-$runs.pb.gz" ] && continue
  go test -c -o "$out/bin/$name.test" "$pkg"
  for i in $(seq 1 "$runs"); do
    (cd "$goroot/src/$pkg" &&
      "$out/bin/$name.test" -test.run XXX -test.bench "$(bench_of "$pkg")" \
        -test.benchtime "$benchtime" -test.cpuprofile "$out/tmp/cpu.pb.gz" \
        -test.outputdir "$out/tmp" >/dev/null)
    mv "$out/tmp/cpu.pb.gz" "$out/cpu/$name-$i.pb.gz"
  done
  if [ ! -f "$out/heap.pb.gz" ]; then
    (cd "$goroot/src/$pkg" &&
      "$out/bin/$name.test" -test.run XXX -test.bench "$(bench_of "$pkg")" \
        -test.benchtime 20ms -test.memprofile "$out/tmp/heap.pb.gz" \
        -test.outputdir "$out/tmp" >/dev/null)
    mv "$out/tmp/heap.pb.gz" "$out/heap.pb.gz"
  fi
done
rm -rf "$out/tmp" "$out/bin"
