#!/usr/bin/env bash
# setup.sh — installs the UI tests' node package (playwright-core, pinned by
# package-lock.json; it drives Debian's /usr/bin/chromium, so no browser is
# downloaded) with `npm ci`, once: a stamp holding the lock file's hash skips
# the install while nothing changed, and a lock file keeps parallel test runs
# from installing at the same time. Checks that Chromium is installed
# (deploy/install-deps.sh installs it with the test packages).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
command -v node >/dev/null || { echo "ui node setup: node is not installed (apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null || { echo "ui node setup: npm is not installed (apt-get install npm)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "ui node setup: /usr/bin/chromium is missing (deploy/install-deps.sh installs Debian's chromium)" >&2; exit 1; }
want=$(sha256sum package-lock.json | cut -d' ' -f1)
exec 9>"$here/.setup.lock"
flock -w 600 9 || { echo "ui node setup: timed out waiting for $here/.setup.lock" >&2; exit 1; }
if [ -f node_modules/.pgopipe-stamp ] && [ "$(cat node_modules/.pgopipe-stamp)" = "$want" ]; then
  exit 0
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2
test -f node_modules/playwright-core/package.json || { echo "ui node setup: playwright-core is missing after npm ci" >&2; exit 1; }
echo "$want" > node_modules/.pgopipe-stamp
