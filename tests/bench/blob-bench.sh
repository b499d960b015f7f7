#!/usr/bin/env bash
# blob-bench.sh [BUILD_DIR] [N] — PUT/GET/DELETE rate of 20 KB objects:
# through the S3 backend against the test S3 server (s3rver behind the
# SigV4-verifying front end, started here and stopped afterwards) with 1 and
# 4 threads, and through the file backend for comparison. Connection reuse
# is shown by the front end's connection count. Not a ctest test.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
n=${2:-1000}
bench=$build/tests/bin/blob-bench
[ -x "$bench" ] || { echo "build first: cmake --build $build --target blob-bench" >&2; exit 1; }
dir=$(mktemp -d /tmp/pgopipe-blob-bench-XXXXXX)
trap '"$root/tests/support/s3/s3-down.sh" "$dir"; rm -rf "$dir"' EXIT
"$root/tests/support/s3/s3-up.sh" "$dir" >/dev/null
set -a; . "$dir/env"; set +a
echo "== s3 (s3rver behind the SigV4 front end, $S3_ENDPOINT), 1 thread"
c0=$(curl -s "$S3_ENDPOINT/__control/stats")
"$bench" "$PGOPIPE_TEST_S3_URL" "$n" 1
c1=$(curl -s "$S3_ENDPOINT/__control/stats")
echo "   front end stats before: $c0  after: $c1"
echo "== s3, 4 threads"
"$bench" "$PGOPIPE_TEST_S3_URL" "$n" 4
echo "== file ($dir/files), 1 thread"
"$bench" "file://$dir/files" "$n" 1
