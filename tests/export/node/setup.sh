#!/usr/bin/env bash
# setup.sh — installs the export tests' node packages (speedscope, for its
# published file-format schema, and the ajv JSON-schema validator; pinned by
# package-lock.json) with `npm ci`, once: a stamp holding the lock file's
# hash skips the install while nothing changed, and a lock file keeps
# parallel test runs from installing at the same time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
command -v node >/dev/null || { echo "export node setup: node is not installed (apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null || { echo "export node setup: npm is not installed (apt-get install npm)" >&2; exit 1; }
want=$(sha256sum package-lock.json | cut -d' ' -f1)
exec 9>"$here/.setup.lock"
flock -w 600 9 || { echo "export node setup: timed out waiting for $here/.setup.lock" >&2; exit 1; }
if [ -f node_modules/.pgopipe-stamp ] && [ "$(cat node_modules/.pgopipe-stamp)" = "$want" ]; then
  exit 0
fi
timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2
test -f node_modules/speedscope/dist/release/file-format-schema.json ||
  { echo "export node setup: speedscope's file-format-schema.json is missing" >&2; exit 1; }
echo "$want" > node_modules/.pgopipe-stamp
