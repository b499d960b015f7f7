#!/usr/bin/env bash
# autopgo.sh SRC_DIR BIN_DIR PROFILES_DIR GOTARGET — an autopgo deployment
# switched to pgopipe: autopgo's command lines (deploy/autopgo, the command
# the runtime image also installs), its AUTOPGO_* variables, its gocloud
# URLs (nats://SUBJECT with queue=, file://), a real nats-server with
# JetStream (tests/support/nats) and a Go service to scrape.
#
# Proves: `autopgo server|worker|scrape` start pgopipe's daemons with
# autopgo's flags (including --debug, ignored with a warning) and a global
# -l before the command; they listen on every interface as autopgo's do, and
# the server then refuses to start without a token or --insecure, saying
# so; health names blob, event-writer, event-reader (and worker); uploads
# by `autopgo upload --app`, the scraper's uploads, `autopgo download -o`,
# `autopgo list`, `autopgo clean -d/-s` and `autopgo delete` work end to end
# with the variables autopgo's CLI reads (AUTOPGO_API_URL).
set -u
SRC=$(cd "$1" && pwd)
BIN=$(cd "$2" && pwd)
PROFILES=$(cd "$3" && pwd)
GOTARGET=$(realpath "$4")
here=$(cd "$(dirname "$0")" && pwd)
support=$(cd "$here/../support" && pwd)
# shellcheck source=../client/stack.sh
. "$here/../client/stack.sh"
NATS=$T/nats
nats_down() { "$support/nats/nats-down.sh" "$NATS" >/dev/null 2>&1; return 0; }
trap 'cleanup; nats_down' EXIT
trap 'exit 143' TERM INT

A=$T/autopgo-bin/autopgo # the script, alone in a directory: it finds the binaries on PATH
mkdir -p "$T/autopgo-bin"
cp "$SRC/deploy/autopgo" "$A"
export PATH="$BIN:$PATH"
mapfile -t cpu < <(ls "$PROFILES"/cpu/*.pb.gz | head -n 3)
[ ${#cpu[@]} -ge 3 ] || { echo "need 3 CPU profiles in $PROFILES/cpu" >&2; exit 1; }

run() {
  local n=$1
  shift
  "$@" >"$T/$n.out" 2>"$T/$n.err"
  RC=$?
}

# ---- the command line ----
run help "$A" --help
check "autopgo --help lists the commands" bash -c "[ $RC -eq 0 ] && grep -q scrape '$T/help.out' && grep -q clean '$T/help.out'"
run bad "$A" frobnicate
check "autopgo frobnicate: usage error 2" bash -c "[ $RC -eq 2 ] && grep -q 'unknown command' '$T/bad.err'"
run ver "$A" --version
check "autopgo --version: pgopipe's version" bash -c "[ $RC -eq 0 ] && grep -q pgopipe '$T/ver.out'"
run shelp "$A" server --help
check "autopgo server --help: pgopipe-server's help" bash -c "[ $RC -eq 0 ] && grep -q 'Usage: pgopipe-server' '$T/shelp.out'"

export NATS_SERVER_URL
NATS_SERVER_URL=$("$support/nats/nats-up.sh" "$NATS") || { echo "nats-server did not start" >&2; exit 1; }
mkdir -p "$T/data"

# autopgo's server command, no token: every interface, so it refuses to start and says why
run notoken env -u PGOPIPE_AUTH_TOKEN "$A" server -p 0 --blob-store-url "file://$T/data" \
  --event-writer-url nats://profiles
check "autopgo server without a token: refused at start, naming --insecure and the token" \
  bash -c "[ $RC -ne 0 ] && grep -q -- '--insecure' '$T/notoken.err' && grep -qi 'token' '$T/notoken.err'"

# ---- the deployment, as autopgo's ----
AUTOPGO_BLOB_STORE_URL="file://$T/data" AUTOPGO_EVENT_WRITER_URL=nats://profiles PGOPIPE_AUTH_TOKEN=$TOKEN \
  "$A" -l debug server -p 0 --debug 2>"$T/server.log" &
PIDS+=($!)
wait_until 20 have_port "$T/server.log" listening || { echo "server did not start" >&2; cat "$T/server.log" >&2; exit 1; }
SPORT=$(log_port "$T/server.log" listening)
API="http://127.0.0.1:$SPORT"
check "server: listens on every interface, as autopgo's" \
  bash -c "grep '\"msg\":\"listening\"' '$T/server.log' | grep -q '\"bind\":\"0.0.0.0\"'"
check "server: --debug accepted, ignored with a warning" grep -q -- '--debug ignored' "$T/server.log"
check "server: -l debug before the command took effect" grep -q '"level":"debug"' "$T/server.log"
curl -s "$API/api/health" >"$T/shealth.json"
check "server: health names blob and event-writer, healthy" \
  grep -q '"status":"healthy","dependencies":\[{"name":"blob","status":"healthy"},{"name":"event-writer","status":"healthy"}\]' "$T/shealth.json"

cat >"$T/prune.json" <<'EOF'
[{"app": "demo", "rules": [{"drop": "^runtime\\.", "keep": "^runtime\\.mallocgc$"}]}]
EOF
AUTOPGO_BLOB_STORE_URL="file://$T/data" "$A" worker -p 0 \
  --event-reader-url 'nats://profiles?queue=autopgo-workers' --event-writer-url nats://profiles \
  --prune "$T/prune.json" --debug 2>"$T/worker.log" &
PIDS+=($!)
wait_until 20 have_port "$T/worker.log" "pgopipe-worker listening" ||
  { echo "worker did not start" >&2; cat "$T/worker.log" >&2; exit 1; }
WPORT=$(log_port "$T/worker.log" "pgopipe-worker listening")
curl -s "http://127.0.0.1:$WPORT/api/health" >"$T/whealth.json"
check "worker: health names blob, event-writer, event-reader and worker, healthy" \
  grep -q '"status":"healthy","dependencies":\[{"name":"blob","status":"healthy"},{"name":"event-writer","status":"healthy"},{"name":"event-reader","status":"healthy"},{"name":"worker","status":"healthy"}\]' "$T/whealth.json"
check "worker: --debug accepted, ignored with a warning" grep -q -- '--debug ignored' "$T/worker.log"

# ---- autopgo's CLI ----
export AUTOPGO_API_URL=$API PGOPIPE_AUTH_TOKEN=$TOKEN
for f in "${cpu[@]}"; do
  run up "$A" upload --app demo "$f"
  check "autopgo upload --app demo $(basename "$f")" bash -c "[ $RC -eq 0 ] && grep -q 'demo/staging/' '$T/up.out'"
done
have_base() { "$A" download demo -o "$T/default.pgo" >/dev/null 2>&1 && [ -s "$T/default.pgo" ]; }
check "autopgo download demo -o FILE: the merged base (<= 30 s)" wait_until 30 have_base
check "the base is a profile pgopipe inspect reads" "$BIN/pgopipe" inspect "$T/default.pgo"
run list "$A" list
check "autopgo list shows demo" bash -c "[ $RC -eq 0 ] && grep -q demo '$T/list.out'"
run clean1 "$A" clean -d 1h
check "autopgo clean -d 1h: nothing that old" bash -c "[ $RC -eq 0 ] && ! grep -q demo '$T/clean1.out'"

# ---- autopgo's scraper command ----
"$GOTARGET" -addr 127.0.0.1:0 -addr-file "$T/g.addr" -workers 1 2>"$T/g.log" &
PIDS+=($!)
wait_until 20 test -s "$T/g.addr" || { echo "gotarget did not start" >&2; exit 1; }
echo "[{\"address\": \"http://$(cat "$T/g.addr")\"}]" >"$T/targets.json"
"$A" scrape -a demo -s 0 -d 1s -f 1h -p 0 -u "$API" --mode file --debug "$T/targets.json" 2>"$T/scraper.log" &
SP=$!
PIDS+=($SP)
check "autopgo scrape: a profile scraped and uploaded (<= 20 s)" \
  wait_until 20 grep -q '"msg":"profile uploaded"' "$T/scraper.log"
check "autopgo scrape: --debug accepted, ignored with a warning" grep -q -- '--debug ignored' "$T/scraper.log"
stop_pid $SP

run clean2 "$A" -l debug clean -s 1
check "autopgo -l debug clean -s 1: demo deleted (larger than 1 byte)" bash -c "[ $RC -eq 0 ] && grep -q demo '$T/clean2.out'"
gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/profile/demo")" = 404 ]; }
check "the base is gone" wait_until 10 gone
"$A" upload --app demo "${cpu[0]}" >/dev/null 2>&1
check "a new upload makes a base again (<= 30 s)" wait_until 30 have_base
run del "$A" delete demo
check "autopgo delete demo" test $RC -eq 0
check "deleted" wait_until 10 gone

finish
