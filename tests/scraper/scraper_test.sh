#!/usr/bin/env bash
# scraper_test.sh — pgopipe-scraper as a process against real processes:
# three Go scrape targets, a dead address, a target that accepts and never
# answers, one that returns garbage and one that answers 500 (the test
# receiver), uploading to a running pipeline (kafka-mock + pgopipe-server
# with a token + pgopipe-worker).
#
# Proves: outcomes counted on /metrics (ok, connect_error, timeout, invalid,
# http_error) and logged; uploads reach the server and the worker's merged
# base contains the targets' functions; health/ready; SIGHUP reload (valid
# file → new targets; invalid file → error naming file and entry, old
# targets kept); --sample-size and PGOPIPE_* variables; upload failures
# (bad token → 401, not retried) counted; SIGTERM → exit 0 promptly;
# --help/--version; usage errors exit 2; a bad targets file exits 1.
#
#   scraper_test.sh BIN_DIR GOTARGET RECEIVER
set -u
BIN=$(cd "$1" && pwd)
GOTARGET=$(realpath "$2")
RECEIVER=$(realpath "$3")
. "$(dirname "$0")/../client/stack.sh"

S="$BIN/pgopipe-scraper"
P="$BIN/pgopipe"

run() {
  local n=$1
  shift
  "$@" >"$T/$n.out" 2>"$T/$n.err"
  RC=$?
}

# ---- command line ----
run help "$S" --help
check "--help exits 0 and lists the contract's flags" \
  bash -c "[ $RC -eq 0 ] && grep -q -- --sample-size '$T/help.out' && grep -q PGOPIPE_FREQUENCY '$T/help.out'"
run ver "$S" --version
check "--version exits 0" bash -c "[ $RC -eq 0 ] && grep -q pgopipe-scraper '$T/ver.out'"
echo '[{"address":"http://127.0.0.1:1"}]' >"$T/one.json"
run u1 env -u PGOPIPE_APP "$S" "$T/one.json"
check "no --app: usage error 2" bash -c "[ $RC -eq 2 ] && grep -q -- --app '$T/u1.err'"
run u2 "$S" -a demo
check "no TARGETS.json: usage error 2" test $RC -eq 2
run u3 "$S" -a demo -f 0s "$T/one.json"
check "--frequency 0: usage error 2" test $RC -eq 2
run u4 "$S" -a demo --duration 5x "$T/one.json"
check "bad duration: usage error 2" test $RC -eq 2
echo '[{"address":"http://127.0.0.1:1"},{"path":"/x"}]' >"$T/bad.json"
run u5 "$S" -a demo -p 0 "$T/bad.json"
check "bad targets file: exit 1 naming the file and entry 1" \
  bash -c "[ $RC -eq 1 ] && grep -qF '$T/bad.json' '$T/u5.err' && grep -q 'entry 1' '$T/u5.err'"

# ---- the world ----
start_stack
start_gotarget g1
G1=$GT_URL
start_gotarget g2
G2=$GT_URL
start_gotarget g3
G3=$GT_URL
start_receiver bad
DEAD="http://127.0.0.1:$(dead_port)"
cat >"$T/targets.json" <<EOF
[
  {"address": "$G1"},
  {"address": "$G2", "path": "/debug/pprof/profile"},
  {"address": "$G3"},
  {"address": "$DEAD"},
  {"address": "$HANG_URL"},
  {"address": "$RCV_URL", "path": "/debug/garbage"},
  {"address": "$RCV_URL", "path": "/debug/status/500"}
]
EOF

"$S" -u "$API" -a demo --auth-token-file "$TOKEN_FILE" -f 2s -d 1s --timeout-margin 1s -p 0 \
  "$T/targets.json" 2>"$T/scraper.log" &
SP=$!
PIDS+=($SP)
check "scraper starts and logs its port" wait_until 10 have_port "$T/scraper.log" "scraper started"
M="http://127.0.0.1:$(log_port "$T/scraper.log" "scraper started")"

metric() { # NAME_WITH_LABELS → value (0 when absent)
  curl -fsS "$M/metrics" 2>/dev/null | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
at_least() { awk -v a="$(metric "$1")" -v b="$2" 'BEGIN {exit !(a + 0 >= b + 0)}'; }

check "/api/health answers healthy" bash -c "curl -fsS '$M/api/health' | grep -q healthy"
check "/api/ready answers 200" curl -fsS -o /dev/null "$M/api/ready"
check "two rounds done (<= 30 s)" wait_until 30 at_least pgopipe_scraper_rounds_total 2
check "ok scrapes counted (>= 6)" at_least 'pgopipe_scraper_scrapes_total{outcome="ok"}' 6
check "dead target counted as connect_error" at_least 'pgopipe_scraper_scrapes_total{outcome="connect_error"}' 2
check "hanging target counted as timeout" at_least 'pgopipe_scraper_scrapes_total{outcome="timeout"}' 2
check "garbage target counted as invalid" at_least 'pgopipe_scraper_scrapes_total{outcome="invalid"}' 2
check "500 target counted as http_error" at_least 'pgopipe_scraper_scrapes_total{outcome="http_error"}' 2
check "uploads counted (>= 6)" at_least pgopipe_scraper_uploads_total 6
check "no upload failures" test "$(metric pgopipe_scraper_upload_failures_total)" = 0
check "bytes counted" at_least pgopipe_scraper_scraped_bytes_total 1000
check "targets gauge is 7" test "$(metric pgopipe_scraper_targets)" = 7
check "log: the hanging target's timeout, with its URL" \
  bash -c "grep '\"outcome\":\"timeout\"' '$T/scraper.log' | grep -qF '$HANG_URL'"
check "log: the 500 with its status" bash -c "grep -q '\"status\":500' '$T/scraper.log'"
check "log: uploads with their keys" bash -c "grep '\"msg\":\"profile uploaded\"' '$T/scraper.log' | grep -q 'demo/staging/'"
check "server stored the uploads" bash -c "grep '\"status\":201' '$T/server.log' | grep -q '\"app\":\"demo\"'"
base_has_funcs() {
  "$P" download -u "$API" demo -o "$T/base.pgo" >/dev/null 2>&1 &&
    "$P" inspect --top 40 "$T/base.pgo" 2>/dev/null | grep -q 'main\.hashWork'
}
check "the worker's merged base contains main.hashWork (<= 30 s)" wait_until 30 base_has_funcs
"$P" inspect --top 40 "$T/base.pgo" >"$T/base.txt" 2>&1
check "the base also has main.sortWork and main.stringWork" \
  bash -c "grep -q 'main\.sortWork' '$T/base.txt' && grep -q 'main\.stringWork' '$T/base.txt'"

# ---- SIGHUP: a valid file replaces the targets ----
echo "[{\"address\": \"$G1\"}]" >"$T/targets.json.new" && mv "$T/targets.json.new" "$T/targets.json"
kill -HUP $SP
check "SIGHUP: reloaded, 1 target" wait_until 10 bash -c "[ \"\$(curl -fsS '$M/metrics' | awk '\$1 == \"pgopipe_scraper_targets\" {print \$2}')\" = 1 ]"
check "SIGHUP: 'targets reloaded' logged" bash -c "grep -q '\"msg\":\"targets reloaded\"' '$T/scraper.log'"
r0=$(metric pgopipe_scraper_rounds_total)
check "two more rounds" wait_until 30 at_least pgopipe_scraper_rounds_total $((r0 + 2))
c1=$(metric 'pgopipe_scraper_scrapes_total{outcome="connect_error"}')
o1=$(metric 'pgopipe_scraper_scrapes_total{outcome="ok"}')
r1=$(metric pgopipe_scraper_rounds_total)
check "after reload: another round" wait_until 30 at_least pgopipe_scraper_rounds_total $((r1 + 1))
check "after reload: the dead target is no longer scraped" \
  test "$(metric 'pgopipe_scraper_scrapes_total{outcome="connect_error"}')" = "$c1"
check "after reload: the remaining target still is" at_least 'pgopipe_scraper_scrapes_total{outcome="ok"}' $((o1 + 1))
check "after reload: rounds have 1 target" \
  bash -c "grep '\"msg\":\"round done\"' '$T/scraper.log' | tail -n 1 | grep -q '\"targets\":1'"

# ---- SIGHUP: an invalid file is refused, the old targets stay ----
echo "[{\"address\": \"$G1\"}, {\"address\": \"ftp://x\"}]" >"$T/targets.json"
kill -HUP $SP
check "SIGHUP with a bad file: reload error counted" \
  wait_until 10 at_least 'pgopipe_scraper_target_reloads_total{result="error"}' 1
check "SIGHUP with a bad file: logged with the file and entry 1" \
  bash -c "grep '\"msg\":\"targets reload failed' '$T/scraper.log' | grep -F '$T/targets.json' | grep -q 'entry 1'"
check "SIGHUP with a bad file: still 1 target" test "$(metric pgopipe_scraper_targets)" = 1
o2=$(metric 'pgopipe_scraper_scrapes_total{outcome="ok"}')
check "SIGHUP with a bad file: scraping goes on" wait_until 30 at_least 'pgopipe_scraper_scrapes_total{outcome="ok"}' $((o2 + 1))

# ---- SIGTERM ----
start=$(date +%s%N)
kill -TERM $SP
wait $SP
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
check "SIGTERM: exit 0" test $rc -eq 0
check "SIGTERM: stopped within 3 s (${ms} ms)" test $ms -lt 3000
check "SIGTERM: 'scraper stopped' logged" bash -c "grep -q '\"msg\":\"scraper stopped\"' '$T/scraper.log'"

# ---- environment variables, --sample-size, upload failures ----
cat >"$T/three.json" <<EOF
[{"address": "$G1"}, {"address": "$G2"}, {"address": "$G3"}]
EOF
PGOPIPE_APP=demo PGOPIPE_API_URL="$API" PGOPIPE_SAMPLE_SIZE=2 PGOPIPE_FREQUENCY=1s \
  PGOPIPE_DURATION=1s PGOPIPE_PORT=0 PGOPIPE_AUTH_TOKEN=wrong PGOPIPE_UPLOAD_ATTEMPTS=3 \
  "$S" "$T/three.json" 2>"$T/scraper2.log" &
SP2=$!
PIDS+=($SP2)
check "env-configured scraper starts" wait_until 10 have_port "$T/scraper2.log" "scraper started"
M="http://127.0.0.1:$(log_port "$T/scraper2.log" "scraper started")"
check "bad token: upload failures counted" wait_until 30 at_least pgopipe_scraper_upload_failures_total 2
check "bad token: 401 with the server's message, one attempt (not retried)" \
  bash -c "grep '\"msg\":\"upload failed\"' '$T/scraper2.log' | head -n 1 | grep ': 401: ' | grep -q '\"attempts\":1'"
check "--sample-size 2 (PGOPIPE_SAMPLE_SIZE): rounds of 2 targets" \
  bash -c "grep '\"msg\":\"round done\"' '$T/scraper2.log' | head -n 1 | grep -q '\"targets\":2'"
kill -TERM $SP2
wait $SP2
check "second scraper: exit 0 on SIGTERM" test $? -eq 0

finish
