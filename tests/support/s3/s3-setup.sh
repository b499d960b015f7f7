#!/usr/bin/env bash
# s3-setup.sh — installs the test S3 server's node packages (s3rver 3.7.1,
# pinned by package-lock.json) with `npm ci`, once: a stamp holding the
# lock file's hash skips the install while nothing changed, and a lock file
# keeps parallel test runs from installing at the same time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
command -v node >/dev/null || { echo "s3-setup: node is not installed (apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null || { echo "s3-setup: npm is not installed (apt-get install npm)" >&2; exit 1; }
want=$(sha256sum package-lock.json | cut -d' ' -f1)
exec 9>"$here/.setup.lock"
flock -w 600 9 || { echo "s3-setup: timed out waiting for $here/.setup.lock" >&2; exit 1; }
if [ -f node_modules/.pgopipe-stamp ] && [ "$(cat node_modules/.pgopipe-stamp)" = "$want" ]; then
  exit 0
fi
timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" > node_modules/.pgopipe-stamp
