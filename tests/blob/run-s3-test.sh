#!/usr/bin/env bash
# run-s3-test.sh S3_SUPPORT_DIR PROGRAM [ARGS...] — starts the test S3
# server in a fresh temporary directory, runs PROGRAM with its environment
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_ENDPOINT, S3_BUCKET,
# PGOPIPE_TEST_S3_URL), then stops the server and removes the directory
# whatever happened. Exit status: PROGRAM's.
set -euo pipefail
support=$1
shift
dir=$(mktemp -d /tmp/pgopipe-s3-test-XXXXXX)
cleanup() { "$support/s3-down.sh" "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
S3_BUCKETS="pgopipe other-bucket" "$support/s3-up.sh" "$dir" >/dev/null
set -a
. "$dir/env"
set +a
rc=0
"$@" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "--- server log ($dir/server.log) ---" >&2
  tail -n 50 "$dir/server.log" >&2 || true
fi
exit "$rc"
