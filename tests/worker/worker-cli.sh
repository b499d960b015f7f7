#!/usr/bin/env bash
# worker-cli.sh BUILD_DIR — pgopipe-worker's command line: --help and
# --version exit 0, usage errors exit 2 with a message naming the flag (a
# --window longer than --retention among them), a bad
# rules file exits 1 naming the file, the app, the rule and the regex offset,
# mem:// is refused (in-process only), an unreachable store/bus exits 1.
set -euo pipefail
bin=$(cd "${1:?usage: worker-cli.sh BUILD_DIR}" && pwd)/bin/pgopipe-worker
tmp=$(mktemp -d "${TMPDIR:-/tmp}/worker-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect STATUS PATTERN ARGS...
  local want=$1 pat=$2; shift 2
  set +e; "$bin" "$@" >"$tmp/out" 2>&1; local rc=$?; set -e
  [ "$rc" = "$want" ] || fail "$* → exit $rc, want $want: $(head -c 400 "$tmp/out")"
  grep -q -- "$pat" "$tmp/out" || fail "$* → output lacks \"$pat\": $(head -c 400 "$tmp/out")"
}
expect 0 'batch-max' --help
expect 0 'PGOPIPE_EVENT_READER_URL' --help
expect 0 'pgopipe-worker' --version
expect 2 'bogus' --bogus
expect 2 'batch-max' --batch-max 0
expect 2 'batch-wait' --batch-wait 5x
expect 2 'log-level' -l chatty
expect 2 'mem://' --event-reader-url mem://profiles
expect 2 'window' --window 200h
expect 2 'window' --window 48h --retention 24h
expect 2 'retention' --retention 30m
expect 2 'window' --window 1y
echo '[{"app": "web", "rules": [{"drop": "^ok$"}, {"drop": "(x"}]}]' >"$tmp/rules.json"
expect 1 'rules.json: app "web" rule 1: .*offset 2' --prune "$tmp/rules.json"
echo '[{"app": "web"' >"$tmp/broken.json"
expect 1 'broken.json: invalid JSON' --prune "$tmp/broken.json"
expect 1 'nonexistent.json' --prune "$tmp/nonexistent.json"
# the environment is read, and the flag wins over it
set +e; PGOPIPE_BATCH_MAX=0 "$bin" >"$tmp/out" 2>&1; rc=$?; set -e
[ $rc = 2 ] && grep -q 'batch' "$tmp/out" || fail "PGOPIPE_BATCH_MAX=0 not read from the environment (exit $rc)"
set +e; PGOPIPE_BATCH_MAX=0 "$bin" --batch-max 5 --event-reader-url mem://x >"$tmp/out" 2>&1; rc=$?; set -e
grep -q 'mem://' "$tmp/out" || fail "--batch-max did not win over PGOPIPE_BATCH_MAX"
set +e; PGOPIPE_WINDOW=200h "$bin" >"$tmp/out" 2>&1; rc=$?; set -e
[ $rc = 2 ] && grep -q 'window' "$tmp/out" || fail "PGOPIPE_WINDOW=200h not read from the environment (exit $rc)"
set +e; PGOPIPE_WINDOW=200h "$bin" --window 24h --event-reader-url mem://x >"$tmp/out" 2>&1; rc=$?; set -e
grep -q 'mem://' "$tmp/out" || fail "--window did not win over PGOPIPE_WINDOW"
# no broker: a clear failure, exit 1
set +e; KAFKA_BROKERS=127.0.0.1:1 timeout 60 "$bin" -p 0 --blob-store-url "file://$tmp/data" \
  --event-reader-url 'kafka://g?topic=t&check.timeout.ms=500' --event-writer-url 'kafka://t?check.timeout.ms=500' \
  >"$tmp/out" 2>&1; rc=$?; set -e
[ $rc = 1 ] || fail "unreachable broker → exit $rc, want 1: $(head -c 400 "$tmp/out")"
grep -q 'event-' "$tmp/out" || fail "unreachable broker message does not name the URL flag"
echo PASS
