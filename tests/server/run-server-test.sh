#!/usr/bin/env bash
# run-server-test.sh TEST_SERVER SERVER_BIN PROFILES MODE STORE
#   TEST_SERVER: test_server, test_reads (modes formats, cache, client) or
#   test_history (modes range, profefe, history-cli: its mode cli)
#   STORE: file (objects under a temp dir) or s3 (s3rver behind the SigV4
#   checker, tests/support/s3). Starts a fresh Kafka-protocol broker
#   (tests/support/kafka/with-kafka.sh) and, for s3, the S3 server, in a temp
#   directory; runs `TEST_SERVER MODE ...`; stops everything it started by
#   PID and removes the directory, whatever happened. Exit status: the test's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
support=$(cd "$here/../support" && pwd)
test_bin=$1 server_bin=$2 profiles=$3 mode=$4 store=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-server-test.XXXXXX")
s3dir=$work/s3
cleanup() {
  [ -f "$s3dir/pids" ] && "$support/s3/s3-down.sh" "$s3dir"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

if [ "$store" = s3 ]; then
  mkdir -p "$s3dir"
  "$support/s3/s3-up.sh" "$s3dir" >/dev/null
  set -a
  . "$s3dir/env"
  set +a
  blob_url=$PGOPIPE_TEST_S3_URL
else
  blob_url="file://$work/data"
fi

case $mode in
  api)     args=(api "$server_bin" "$profiles" "$work" "$blob_url") ;;
  s3-down) args=(s3-down "$server_bin" "$profiles" "$work" "$s3dir" "$support/s3") ;;
  cli)     args=(cli "$server_bin" "$work") ;;
  formats|cache|client|range|profefe|history-cli)
    [ "$mode" = history-cli ] && mode=cli
    args=("$mode" "$server_bin" "$profiles" "$work" "$blob_url") ;;
  *)       args=("$mode" "$server_bin" "$profiles" "$work") ;;
esac
set +e
"$support/kafka/with-kafka.sh" "$test_bin" "${args[@]}"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  for f in "$work"/server-*.log; do
    [ -f "$f" ] || continue
    echo "--- $f (last 30 lines) ---" >&2
    tail -n 30 "$f" >&2
  done
  [ -f "$s3dir/server.log" ] && { echo "--- S3 server log ---" >&2; tail -n 20 "$s3dir/server.log" >&2; }
fi
exit $rc
