#!/usr/bin/env bash
# with-nats.sh COMMAND [ARGS...]
#
# Runs COMMAND with a fresh nats-server (JetStream) of its own: starts it in
# a temporary directory (nats-up.sh: 127.0.0.1, random port, a temporary
# store), exports NATS_SERVER_URL, NATS_DIR (holding pid, port, nats.log and
# the store) and NATS_SUPPORT (the directory of these scripts), runs the
# command, then stops the server (nats-down.sh) and removes the directory,
# whatever the command's outcome. Exit status: the command's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: with-nats.sh COMMAND [ARGS...]" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/nats-server.XXXXXX")
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  "$here/nats-down.sh" "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
NATS_SERVER_URL=$("$here/nats-up.sh" "$dir")
export NATS_SERVER_URL NATS_DIR=$dir NATS_SUPPORT=$here
set +e
"$@"
rc=$?
set -e
exit $rc
