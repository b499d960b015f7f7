#!/usr/bin/env bash
# allinone.sh BIN_DIR PROFILES_DIR WORKER_TOOL DIFF_PROFILES — end to end, the
# all-in-one default.
#
# pgopipe-server with no URL flags (file://./data + mem://profiles, worker
# in-process) in a temp working directory. Real Go CPU profiles are uploaded
# with `pgopipe upload`; the base `pgopipe download` returns must hold all of
# them: its sample total as read by `go tool pprof -top` equals the sum of
# the uploads' totals, and its cpu/nanoseconds total too. Then one more upload
# and a `kill -9` of the server right after its 201; after a restart the base
# must contain that upload as well (exactly once: the totals are equal, not
# larger). Then cumulative heap and mutex snapshots of two instances (one
# restarting), staged with their metadata the way a SIGKILL leaves uploads
# (no event), merged by reconciliation across two more kill -9s, one of them
# while reconciliation runs: each kind base's totals, as `go tool pprof`
# reads them, equal what the snapshots add. Last, SIGHUP reloads the prune
# rules of the in-process worker.
set -u
BIN=$(cd "$1" && pwd)
PROFILES=$(cd "$2" && pwd)
TOOL=${3:?usage: allinone.sh BIN_DIR PROFILES_DIR WORKER_TOOL DIFF_PROFILES}
DIFFP=$(cd "${4:?usage: allinone.sh BIN_DIR PROFILES_DIR WORKER_TOOL DIFF_PROFILES}" && pwd)
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
  LOG=$T/$1
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

# Cumulative heap and mutex snapshots, instance a and instance b (b restarts
# half-way), staged without events (as a kill -9 leaves accepted uploads);
# reconciliation merges them at each start.
nk=6
for kind in heap mutex; do
  srcs=("$DIFFP"/heap/*.pb.gz)
  [ $kind = mutex ] && srcs=("$DIFFP"/mutex/sync.pb.gz)
  for inst in a b; do
    mkdir -p "$T/series/$kind-$inst"
    opt=(); [ $inst = b ] && opt=(--restart $((nk / 2)) --offset 1)
    "$TOOL" series --kind $kind "${opt[@]}" "$T/series/$kind-$inst" $nk "${srcs[@]}" >/dev/null ||
      fail "series $kind $inst"
  done
done
t0=$(( ($(date +%s) - 600) * 1000000000 ))
STORE="file://$AIO/data"
stage_snapshots() { # FIRST LAST: snapshots FIRST..LAST of every series, in time order
  local k kind inst
  for k in $(seq "$1" "$2"); do
    for kind in heap mutex; do
      for inst in a b; do
        "$TOOL" stage --kind $kind --mode cumulative --source profefe --instance $inst \
          --time $((t0 + k * 1000000000)) "$STORE" e2e-kinds \
          "$T/series/$kind-$inst/snap-$(printf %03d "$k").pb.gz" >/dev/null || return 1
      done
    done
  done
}
check "stage the first half of the snapshots (no events)" stage_snapshots 0 $((nk / 2 - 1))
kill -KILL "$SRV"; wait "$SRV" 2>/dev/null
start_server server3.log
check "stage the second half of the snapshots (no events)" stage_snapshots $((nk / 2)) $((nk - 1))
kill -KILL "$SRV"; wait "$SRV" 2>/dev/null
start_server server4.log
sleep "0.$((RANDOM % 4))"
kill -KILL "$SRV"; wait "$SRV" 2>/dev/null
ok "killed with SIGKILL after the first half was merged, then again while reconciling the second"
start_server server5.log
# go_unit_total FILE INDEX UNIT: the total `go tool pprof` reports, in UNIT
go_unit_total() {
  go tool pprof -top -sample_index="$2" -unit="$3" "$1" 2>/dev/null |
    sed -n 's/.* of \([0-9][0-9]*\)[a-zA-Z]* total.*/\1/p' | head -n1
}
sum_col() { "$TOOL" totals "${@:2}" | grep -o " v$1=[-0-9]*" | cut -d= -f2; }
want_alloc=$(sum_col 1 "$T"/series/heap-[ab]/contrib-*.pb.gz)
want_inuse=$(sum_col 3 "$T"/series/heap-a/gauge.pb.gz "$T"/series/heap-b/gauge.pb.gz)
want_delay=$(sum_col 1 "$T"/series/mutex-[ab]/contrib-*.pb.gz)
kind_base_is() { # KIND INDEX UNIT WANT
  [ -f "$AIO/data/e2e-kinds/kinds/$1.pgo" ] || return 1
  [ "$(go_unit_total "$AIO/data/e2e-kinds/kinds/$1.pgo" "$2" "$3")" = "$4" ]
}
check "heap base: alloc_space (go tool pprof) = what the snapshots add, $want_alloc B (<= 30 s)" \
  wait_until 30 kind_base_is heap alloc_space byte "$want_alloc"
check "heap base: inuse_space = the instances' last snapshots, $want_inuse B" \
  kind_base_is heap inuse_space byte "$want_inuse"
check "mutex base: delay = what the snapshots add, $want_delay ns" \
  wait_until 30 kind_base_is mutex delay ns "$want_delay"
check "the heap base is not the raw sum of the snapshots" \
  test "$(sum_col 1 "$T"/series/heap-[ab]/snap-*.pb.gz)" -gt "$want_alloc"
check "nothing of e2e-kinds is left staged (<= 30 s)" \
  wait_until 30 bash -c "[ -z \"\$(find '$AIO/data/e2e-kinds/staging' -type f 2>/dev/null)\" ]"
check "four instance states (heap and mutex, a and b)" \
  test "$(find "$AIO/data/e2e-kinds/instances" -type f | wc -l)" -eq 4

# SIGHUP reloads the prune rules of the in-process worker
printf '[{"app":"pruned","rules":[{"drop":"^runtime\\\\."}]}]\n' >"$T/prune.json"
kill -HUP "$SRV"
check "SIGHUP: the worker reloaded the rules" wait_until 10 grep -q '"prune rules reloaded"' "$LOG"
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
