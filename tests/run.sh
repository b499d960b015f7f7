#!/usr/bin/env bash
# The whole test suite, from a clean checkout on Debian 12:
#   1. installs every dependency (deploy/install-deps.sh, idempotent);
#   2. builds with gcc and runs every ctest test (unit, integration against
#      real S3/Kafka-protocol/HTTP servers, differential against Go's pprof);
#   3. builds again with clang + ASan + UBSan (+ libFuzzer targets) and runs
#      the suite again there, including a short run of every fuzzer.
# Exit status 0 only when both runs pass.
#
#   tests/run.sh [--no-install]
# --no-install (or PGOPIPE_NO_INSTALL=1) skips step 1, for machines where the
# packages are present and root is not available; CI installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

install=1
[ "${PGOPIPE_NO_INSTALL:-0}" = 1 ] && install=0
for arg in "$@"; do
  case $arg in
    --no-install) install=0 ;;
    *) echo "usage: $0 [--no-install]" >&2; exit 2 ;;
  esac
done

if [ "$install" = 1 ]; then
  ./deploy/install-deps.sh
else
  echo "== dependencies: not installing (--no-install)"
fi

# Go builds (the pprof oracle, test targets) need a writable cache, and the
# module proxy is not used: everything builds in GOPATH mode from Debian's packages.
export GOCACHE="${GOCACHE:-$root/build/.gocache}"
export GOFLAGS="${GOFLAGS:-}"

echo "== build (gcc, RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== tests (build)"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

echo "== build (clang, ASan+UBSan, fuzzers)"
CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPGOPIPE_SANITIZE=ON -DPGOPIPE_FUZZ=ON \
  -DPGOPIPE_PROFILES_DIR="$root/build/profiles" >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests (build-asan)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900 -LE bench
