#!/usr/bin/env bash
# allinone.sh BIN_DIR PROFILES_DIR — end to end, the all-in-one default.
#
# pgopipe-server with no URL flags (file://./data + mem://profiles, worker
# in-process) in a temp working directory. Real Go CPU profiles are uploaded
# with `pgopipe upload`; the base `pgopipe download` returns must hold all of
# them: its sample total as read by `go tool pprof -top` equals the sum of
# the uploads' totals, and its cpu/nanoseconds total too. Then one more upload
# and a `kill -9` of the server right after its 201; after a restart the base
# must contain that upload as well (exactly once: the totals are equal, not
# larger). Last, SIGHUP reloads the prune rules of the in-process worker.
set -u
BIN=$(cd "$1" && pwd)
PROFILES=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../client/stack.sh
. "$here/../client/stack.sh"
# shellcheck source=lib.sh
. "$here/lib.sh"

mapfile -t cpu < <(ls "$PROFILES"/cpu/*.pb.gz | head -n 5)
[ ${#cpu[@]} -ge 5 ] || { echo "need 5 CPU profiles in $PROFILES/cpu" >&2; exit 1; }

AIO=$T/aio
mkdir -p "$AIO"
printf '[]\n' >"$T/prune.json"
SRV=
start_server() { # LOGNAME
  (cd "$AIO" && exec "$BIN/pgopipe-server" -p 0 --prune "$T/prune.json" --batch-wait 50ms) 2>"$T/$1" &
  SRV=$!
  PIDS+=("$SRV")
  wait_until 20 have_port "$T/$1" listening || { echo "pgopipe-server did not start" >&2; cat "$T/$1" >&2; exit 1; }
  API="http://127.0.0.1:$(log_port "$T/$1" listening)"
}
pg() { local verb=$1; shift; "$BIN/pgopipe" "$verb" -u "$API" "$@"; }

# base_has N NS: the downloaded base's totals are N samples and NS nanoseconds
base_has() {
  pg download e2e -o "$T/base.pgo" >/dev/null 2>&1 || return 1
  [ "$(total_of "$T/base.pgo")" = "$1" ] && [ "$(ns_total_of "$T/base.pgo")" = "$2" ]
}

start_server server1.log
check "server: all-in-one default announces mem://profiles and the in-process worker" \
  grep -q '"bus":"mem://profiles".*"worker":true' "$T/server1.log"
curl -s "$API/api/health" >"$T/health.json"
check "health lists blob, event-writer, event-reader and the worker" \
  grep -q '"name":"blob".*"name":"event-writer".*"name":"event-reader".*"name":"worker","status":"healthy"' "$T/health.json"

uploaded=()
for f in "${cpu[@]:0:4}"; do
  check "upload $(basename "$f")" pg upload -a e2e "$f"
  uploaded+=("$f")
done
want=$(total_of "${uploaded[@]}")
want_ns=$(ns_total_of "${uploaded[@]}")
check "the four uploads have real totals ($want samples)" test "$want" -gt 0
check "download: the base holds all 4 uploads (go tool pprof totals, <= 30 s)" wait_until 30 base_has "$want" "$want_ns"
"$BIN/pgopipe" merge -o "$T/expected.pgo" "${uploaded[@]}" >/dev/null
check "the base's totals equal pgopipe merge of the uploads" \
  test "$(ns_total_of "$T/expected.pgo")" = "$(ns_total_of "$T/base.pgo")" -a "$want_ns" -gt 0

# kill -9 right after the 201
f=${cpu[4]}
if pg upload -a e2e "$f" >"$T/last.key"; then
  kill -KILL "$SRV"
  wait "$SRV" 2>/dev/null
  ok "upload $(basename "$f") answered 201, server killed with SIGKILL right after"
  uploaded+=("$f")
else
  fail "upload $(basename "$f")"
fi
staged=$(find "$AIO/data/e2e/staging" -type f 2>/dev/null | wc -l)
echo "# staged objects left at the kill: $staged"
want=$(total_of "${uploaded[@]}")
want_ns=$(ns_total_of "${uploaded[@]}")
start_server server2.log
check "after the restart the base holds all 5 accepted uploads exactly once (<= 30 s)" \
  wait_until 30 base_has "$want" "$want_ns"
staging_empty() { [ "$(find "$AIO/data/e2e/staging" -type f 2>/dev/null | wc -l)" -eq 0 ]; }
check "nothing is left staged after the merge (<= 30 s)" wait_until 30 staging_empty

# SIGHUP reloads the prune rules of the in-process worker
printf '[{"app":"pruned","rules":[{"drop":"^runtime\\\\."}]}]\n' >"$T/prune.json"
kill -HUP "$SRV"
check "SIGHUP: the worker reloaded the rules" wait_until 10 grep -q '"prune rules reloaded"' "$T/server2.log"
check "upload to the pruned app" pg upload -a pruned "${cpu[0]}"
"$BIN/pgopipe" prune -o "$T/pruned-expected.pgo" --drop '^runtime\.' "${cpu[0]}" >/dev/null
pruned_like_expected() {
  pg download pruned -o "$T/pruned.pgo" >/dev/null 2>&1 || return 1
  "$BIN/pgopipe" inspect --top 50 "$T/pruned.pgo" | sed -n '/^Totals/,$p' >"$T/pruned.top"
  "$BIN/pgopipe" inspect --top 50 "$T/pruned-expected.pgo" | sed -n '/^Totals/,$p' >"$T/pruned-expected.top"
  cmp -s "$T/pruned.top" "$T/pruned-expected.top"
}
check "the new rules apply: the base equals pgopipe prune --drop '^runtime\\.' of the upload (<= 30 s)" \
  wait_until 30 pruned_like_expected
check "the pruned base was downloaded" test -s "$T/pruned.top"
check "the rules changed something (the unpruned upload differs)" \
  bash -c "! \"$BIN/pgopipe\" inspect --top 50 '${cpu[0]}' | sed -n '/^Totals/,\$p' | cmp -s - '$T/pruned.top'"

stop_and_status() {
  kill -TERM "$SRV"
  wait "$SRV"
}
check "SIGTERM: the server exits 0" stop_and_status
finish
