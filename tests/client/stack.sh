# stack.sh — sourced by the client and scraper integration scripts.
#
# Starts a real pipeline on 127.0.0.1 with random ports inside a temporary
# directory: the Kafka-protocol broker (kafka-mock), pgopipe-server (file
# blob store, kafka:// events, bearer token $TOKEN) and pgopipe-worker, plus
# helpers to start Go scrape targets and the test receiver. Everything
# started is recorded by PID and stopped (TERM, then KILL after 5 s) on exit;
# the directory is removed.
#
# Needs: BIN (directory of the product binaries), KAFKA_MOCK (the kafka-mock
# binary; ctest sets it). Sets: T (temp dir), API (server URL), TOKEN,
# TOKEN_FILE, BAD_TOKEN_FILE.

set -u
T=$(mktemp -d /tmp/pgopipe-it-XXXXXX)
PIDS=()
FAILS=0
CHECKS=0
TOKEN="tok-$RANDOM$RANDOM"
TOKEN_FILE=$T/token
BAD_TOKEN_FILE=$T/bad-token
printf '%s\n' "$TOKEN" >"$TOKEN_FILE"
printf 'wrong\n' >"$BAD_TOKEN_FILE"

stop_pid() { # PID: TERM, wait up to 5 s, then KILL
  local p=$1 i
  kill -TERM "$p" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
    sleep 0.05
  done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  return 0
}

cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  if [ "$FAILS" -ne 0 ] && [ -n "${KEEP_LOGS:-}" ]; then
    echo "logs kept in $T" >&2
  else
    rm -rf "$T"
  fi
}
trap cleanup EXIT

ok() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }
fail() {
  CHECKS=$((CHECKS + 1))
  FAILS=$((FAILS + 1))
  echo "FAIL - $*" >&2
}
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() {
  local d=$1
  shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}
contains() { grep -qF -- "$2" "$1"; } # FILE TEXT
finish() { # a script that made no check fails too (it did not run what it should)
  echo "$CHECKS checks, $FAILS failed"
  [ "$FAILS" -eq 0 ] && [ "$CHECKS" -gt 0 ]
}

# wait_until TIMEOUT_S COMMAND...: polls every 100 ms
wait_until() {
  local limit=$(($1 * 10)) i
  shift
  for ((i = 0; i < limit; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# log_port LOGFILE MSG: the "port" field of the first JSON log line with that msg
log_port() {
  grep -m1 "\"msg\":\"$2\"" "$1" 2>/dev/null | sed -n 's/.*"port":\([0-9][0-9]*\).*/\1/p'
}

have_port() { [ -n "$(log_port "$1" "$2")" ]; }

# A port nothing listens on.
dead_port() {
  local p
  for p in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# start_stack [extra server flags...]: kafka-mock, pgopipe-server and, unless
# NO_WORKER=1, the worker (start_worker)
start_stack() {
  "${KAFKA_MOCK:?KAFKA_MOCK: the kafka-mock binary}" "$T/kafka.boot" 2>"$T/kafka.log" &
  PIDS+=($!)
  wait_until 20 test -s "$T/kafka.boot" || { echo "kafka-mock did not start" >&2; exit 1; }
  export KAFKA_BROKERS
  KAFKA_BROKERS=$(cat "$T/kafka.boot")
  mkdir -p "$T/data"
  PGOPIPE_AUTH_TOKEN=$TOKEN "$BIN/pgopipe-server" -p 0 --blob-store-url "file://$T/data" \
    --event-writer-url kafka://profiles "$@" 2>"$T/server.log" &
  PIDS+=($!)
  [ "${NO_WORKER:-}" = 1 ] || start_worker
  wait_until 20 have_port "$T/server.log" listening || {
    echo "pgopipe-server did not start:" >&2
    cat "$T/server.log" >&2
    exit 1
  }
  API="http://127.0.0.1:$(log_port "$T/server.log" listening)"
}

# start_worker: the stack's pgopipe-worker (group pgopipe-worker, from the
# first event); its log is $T/worker.log, its PID WORKER_PID
start_worker() {
  "$BIN/pgopipe-worker" -p 0 --blob-store-url "file://$T/data" \
    --event-reader-url "kafka://pgopipe-worker?topic=profiles" --event-writer-url kafka://profiles \
    --batch-wait 50ms 2>"$T/worker.log" &
  PIDS+=($!)
  WORKER_PID=$!
}

# start_gotarget NAME: a Go scrape target; its URL goes to GT_URL
start_gotarget() {
  "$GOTARGET" -addr 127.0.0.1:0 -addr-file "$T/$1.addr" -workers 1 2>"$T/$1.log" &
  PIDS+=($!)
  wait_until 20 test -s "$T/$1.addr" || { echo "gotarget $1 did not start" >&2; exit 1; }
  GT_URL="http://$(cat "$T/$1.addr")"
}

# start_receiver NAME [flags]: the test receiver; sets RCV_URL and HANG_URL
start_receiver() {
  local n=$1
  shift
  mkdir -p "$T/$n"
  "$RECEIVER" --dir "$T/$n" --port-file "$T/$n.port" --hang-port-file "$T/$n.hang" "$@" \
    2>"$T/$n.log" &
  PIDS+=($!)
  wait_until 20 test -s "$T/$n.port" || { echo "receiver $n did not start" >&2; exit 1; }
  wait_until 20 test -s "$T/$n.hang" || exit 1
  RCV_URL="http://127.0.0.1:$(cat "$T/$n.port")"
  HANG_URL="http://127.0.0.1:$(cat "$T/$n.hang")"
}
