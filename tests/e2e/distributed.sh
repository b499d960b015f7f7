#!/usr/bin/env bash
# distributed.sh BIN_DIR GOTARGET RECPROXY — end to end, the production topology.
# (KAFKA_MOCK: the kafka-mock binary; ctest sets it.)
#
# On 127.0.0.1: S3 (s3rver behind the SigV4 checker, tests/support/s3), the
# Kafka-protocol broker (kafka-mock), pgopipe-server (s3:// + kafka://, bearer
# token), two pgopipe-worker in one consumer group, three Go demo targets
# (net/http/pprof) and pgopipe-scraper profiling them every 2 s for 1 s.
# The scraper uploads through recproxy, which forwards to the server and keeps
# the body of every upload the server answered 201: the accepted uploads.
# After a few rounds the scraper is stopped (it drains its uploads); the base
# downloaded with `pgopipe download` must then have, as read by `go tool pprof
# -top`, a sample total equal to the sum of the accepted uploads' totals (and
# the same cpu/nanoseconds total), and nothing may be left staged.
set -u
BIN=$(cd "$1" && pwd)
GOTARGET=$2
RECPROXY=$3
here=$(cd "$(dirname "$0")" && pwd)
support=$(cd "$here/../support" && pwd)
# shellcheck source=../client/stack.sh
. "$here/../client/stack.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"
S3DIR=$T/s3
s3_down() { [ -f "$S3DIR/pids" ] && "$support/s3/s3-down.sh" "$S3DIR" >/dev/null 2>&1; return 0; }
trap 's3_down; cleanup' EXIT
trap 'exit 143' TERM INT

mkdir -p "$S3DIR"
"$support/s3/s3-up.sh" "$S3DIR" >/dev/null || { echo "S3 server did not start" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$S3DIR/env"
set +a

"${KAFKA_MOCK:?KAFKA_MOCK: the kafka-mock binary}" "$T/kafka.boot" 2>"$T/kafka.log" &
PIDS+=($!)
wait_until 20 test -s "$T/kafka.boot" || { echo "kafka-mock did not start" >&2; exit 1; }
export KAFKA_BROKERS
KAFKA_BROKERS=$(cat "$T/kafka.boot")

PGOPIPE_AUTH_TOKEN=$TOKEN "$BIN/pgopipe-server" -p 0 --blob-store-url "$PGOPIPE_TEST_S3_URL" \
  --event-writer-url kafka://profiles 2>"$T/server.log" &
PIDS+=($!)
for w in 1 2; do
  "$BIN/pgopipe-worker" -p 0 --blob-store-url "$PGOPIPE_TEST_S3_URL" \
    --event-reader-url "kafka://e2e-workers?topic=profiles" --event-writer-url kafka://profiles \
    --batch-wait 50ms 2>"$T/worker$w.log" &
  PIDS+=($!)
done
wait_until 20 have_port "$T/server.log" listening || { echo "server did not start" >&2; cat "$T/server.log" >&2; exit 1; }
API="http://127.0.0.1:$(log_port "$T/server.log" listening)"
for w in 1 2; do
  check "worker $w serves health" wait_until 20 have_port "$T/worker$w.log" "pgopipe-worker listening"
done

mkdir -p "$T/accepted"
"$RECPROXY" -target "$API" -dir "$T/accepted" -addr-file "$T/proxy.addr" 2>"$T/proxy.log" &
PIDS+=($!)
wait_until 20 test -s "$T/proxy.addr" || { echo "recproxy did not start" >&2; exit 1; }
PROXY="http://$(cat "$T/proxy.addr")"

targets=()
for n in a b c; do
  start_gotarget "demo-$n"
  targets+=("{\"address\":\"$GT_URL\"}")
done
(IFS=,; printf '[%s]\n' "${targets[*]}") >"$T/targets.json"

"$BIN/pgopipe-scraper" -u "$PROXY" -a demo -f 2s -d 1s -p 0 --auth-token-file "$TOKEN_FILE" \
  "$T/targets.json" 2>"$T/scraper.log" &
SCRAPER=$!
PIDS+=("$SCRAPER")
accepted() { find "$T/accepted" -name '*.pprof' | wc -l; }
enough() { [ "$(accepted)" -ge 9 ]; }
check "the scraper's uploads are accepted: 3 rounds of 3 targets (<= 90 s)" wait_until 90 enough
kill -TERM "$SCRAPER"
wait "$SCRAPER"
check "scraper: SIGTERM drains and exits 0" test $? -eq 0

mapfile -t files < <(find "$T/accepted" -name '*.pprof' | sort)
n=${#files[@]}
want=$(total_of "${files[@]}")
want_ns=$(ns_total_of "${files[@]}")
echo "# $n accepted uploads, $want samples, $want_ns cpu ns"
check "accepted uploads have samples" test "$want" -gt 0
base_has() {
  "$BIN/pgopipe" download demo -u "$API" -o "$T/base.pgo" >/dev/null 2>&1 || return 1
  [ "$(total_of "$T/base.pgo")" = "$want" ] && [ "$(ns_total_of "$T/base.pgo")" = "$want_ns" ]
}
check "the base's go tool pprof -top total equals the sum of the $n accepted uploads (<= 60 s)" \
  wait_until 60 base_has "$want"
go tool pprof -top "$T/base.pgo" 2>/dev/null | head -n 12
check "the base names the demo's functions" bash -c "go tool pprof -top '$T/base.pgo' 2>/dev/null | grep -q 'main\\.'"
"$BIN/pgopipe" merge -o "$T/expected.pgo" "${files[@]}" >/dev/null
check "pgopipe merge of the accepted uploads has the same totals" \
  test "$(ns_total_of "$T/expected.pgo")" = "$want_ns"
staged_left() {
  local x
  x=$(find "$S3DIR/data" -path '*/demo/staging/*' -name '*._S3rver_object' 2>/dev/null | wc -l)
  [ "$x" -eq 0 ]
}
# (s3rver keeps KEY as DIR/data/BUCKET/KEY._S3rver_object; the base proves the path is right)
check "the base is in S3 as demo/default.pgo" \
  test -n "$(find "$S3DIR/data" -path '*/demo/default.pgo._S3rver_object' 2>/dev/null)"
check "nothing left under demo/staging/ (<= 30 s)" wait_until 30 staged_left
writes() { grep -c '"msg":"base written"' "$T/worker$1.log" 2>/dev/null; }
echo "# base writes logged: worker1 $(writes 1), worker2 $(writes 2)"
check "the base was written by the group ($(($(writes 1) + $(writes 2))) writes)" test $(($(writes 1) + $(writes 2))) -gt 0
check "no worker logged an error" bash -c "! grep -q '\"level\":\"error\"' '$T/worker1.log' '$T/worker2.log'"
check "the server logged no error" bash -c "! grep -q '\"level\":\"error\"' '$T/server.log'"
finish
