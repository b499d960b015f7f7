#!/usr/bin/env bash
# nats.sh BIN_DIR PROFILES_DIR — end to end on NATS JetStream: pgopipe-server
# publishing to nats://profiles, pgopipe-worker consuming it through a
# durable consumer, a real nats-server (tests/support/nats) on 127.0.0.1.
#
# Real Go CPU profiles are uploaded with `pgopipe upload`; the base must hold
# each of them exactly once (its `go tool pprof -top` sample total and its
# cpu/nanoseconds total equal the sums of the uploads'). Then the worker is
# killed (kill -9) and uploads go on while it is down; a new worker on the
# same durable resumes after the last acknowledged event: the base then holds
# every upload, still exactly once, and nothing is left staged. Last, the
# NATS server itself restarts (same store): an upload answered 201 after it is
# back is merged too.
set -u
BIN=$(cd "$1" && pwd)
PROFILES=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
support=$(cd "$here/../support" && pwd)
# shellcheck source=../client/stack.sh
. "$here/../client/stack.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"
NATS=$T/nats
nats_down() { "$support/nats/nats-down.sh" "$NATS" >/dev/null 2>&1; return 0; }
trap 'cleanup; nats_down' EXIT
trap 'exit 143' TERM INT

mapfile -t cpu < <(ls "$PROFILES"/cpu/*.pb.gz | head -n 6)
[ ${#cpu[@]} -ge 6 ] || { echo "need 6 CPU profiles in $PROFILES/cpu" >&2; exit 1; }

export NATS_SERVER_URL
NATS_SERVER_URL=$("$support/nats/nats-up.sh" "$NATS") || { echo "nats-server did not start" >&2; exit 1; }
mkdir -p "$T/data"
"$BIN/pgopipe-server" -p 0 --blob-store-url "file://$T/data" --event-writer-url nats://profiles \
  2>"$T/server.log" &
PIDS+=($!)
wait_until 20 have_port "$T/server.log" listening || { echo "server did not start" >&2; cat "$T/server.log" >&2; exit 1; }
API="http://127.0.0.1:$(log_port "$T/server.log" listening)"

WORKER=
start_worker() { # LOGNAME
  "$BIN/pgopipe-worker" -p 0 --blob-store-url "file://$T/data" \
    --event-reader-url "nats://profiles?durable=e2e-workers&ack_wait=2s" \
    --event-writer-url nats://profiles --batch-wait 50ms 2>"$T/$1" &
  WORKER=$!
  PIDS+=("$WORKER")
  wait_until 20 have_port "$T/$1" "pgopipe-worker listening" || { echo "worker did not start" >&2; cat "$T/$1" >&2; exit 1; }
}
pg() { local verb=$1; shift; "$BIN/pgopipe" "$verb" -u "$API" "$@"; }
base_has() { # N NS
  pg download nats -o "$T/base.pgo" >/dev/null 2>&1 || return 1
  [ "$(total_of "$T/base.pgo")" = "$1" ] && [ "$(ns_total_of "$T/base.pgo")" = "$2" ]
}

start_worker worker1.log
WPORT=$(log_port "$T/worker1.log" "pgopipe-worker listening")
curl -s "http://127.0.0.1:$WPORT/api/health" >"$T/health.json"
check "the worker's health names blob, event-writer, event-reader and itself, all healthy" \
  grep -q '"status":"healthy","dependencies":\[{"name":"blob".*"event-writer".*"event-reader".*"worker"' "$T/health.json"

uploaded=()
for f in "${cpu[@]:0:3}"; do
  check "upload $(basename "$f")" pg upload -a nats "$f"
  uploaded+=("$f")
done
check "the base holds the 3 uploads exactly once (<= 30 s)" \
  wait_until 30 base_has "$(total_of "${uploaded[@]}")" "$(ns_total_of "${uploaded[@]}")"

# the worker dies; uploads go on while it is down
kill -KILL "$WORKER"
wait "$WORKER" 2>/dev/null
for f in "${cpu[@]:3:2}"; do
  check "upload $(basename "$f") with no worker running" pg upload -a nats "$f"
  uploaded+=("$f")
done
start_worker worker2.log
check "a new worker resumes after the last ack: the base holds all 5 exactly once (<= 30 s)" \
  wait_until 30 base_has "$(total_of "${uploaded[@]}")" "$(ns_total_of "${uploaded[@]}")"

# NATS itself restarts on its port with its store
port=$(cat "$NATS/port")
nats_down
"$support/nats/nats-up.sh" "$NATS" "$port" >/dev/null || { echo "nats-server did not come back" >&2; exit 1; }
up_again() { pg upload -a nats "$1" >/dev/null 2>&1; }
f=${cpu[5]}
check "upload $(basename "$f") once NATS is back (<= 20 s)" wait_until 20 up_again "$f"
uploaded+=("$f")
check "the base holds all 6 uploads exactly once after the NATS restart (<= 40 s)" \
  wait_until 40 base_has "$(total_of "${uploaded[@]}")" "$(ns_total_of "${uploaded[@]}")"
staged_left() { [ -z "$(find "$T/data/nats/staging" -type f 2>/dev/null)" ]; }
check "nothing left under nats/staging/ (<= 30 s)" wait_until 30 staged_left
check "no worker logged an error" bash -c "! grep -q '\"level\":\"error\"' '$T/worker1.log' '$T/worker2.log'"
finish
