#!/usr/bin/env bash
# with-kafka.sh COMMAND [ARGS...]
#
# Runs COMMAND with a fresh kafka-mock of its own: starts it in a temporary
# directory (kafka-up.sh), exports KAFKA_BROKERS (and KAFKA_MOCK_DIR, the
# directory holding bootstrap / pid / kafka-mock.log) and KAFKA_SUPPORT (the
# directory of these scripts), runs the command, then
# stops the broker (kafka-down.sh) and removes the directory, whatever the
# command's outcome. Exit status: the command's.
# Options for kafka-mock (e.g. "--topic t:2") go in KAFKA_MOCK_ARGS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: with-kafka.sh COMMAND [ARGS...]" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/kafka-mock.XXXXXX")
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  "$here/kafka-down.sh" "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
# shellcheck disable=SC2086
# --exit-with: should this script be killed outright (SIGKILL on a ctest
# timeout), the broker notices and exits by itself.
KAFKA_BROKERS=$("$here/kafka-up.sh" "$dir" --exit-with $$ ${KAFKA_MOCK_ARGS:-})
export KAFKA_BROKERS KAFKA_MOCK_DIR=$dir KAFKA_SUPPORT=$here
set +e
"$@"
rc=$?
set -e
exit $rc
