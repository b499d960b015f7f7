#!/usr/bin/env bash
# kinds_test.sh — pgopipe-scraper -k against two Go scrape targets (mutex
# and block profiling on), uploading to a running pipeline (kafka-mock +
# pgopipe-server + pgopipe-worker, tests/client/stack.sh).
#
# Proves: each round pulls the CPU window (merged into default.pgo as
# before) and then /debug/pprof/{heap,mutex,block,goroutine} without
# seconds from every target; each snapshot is stored as its kind with the
# record source scraper, instance = the target's address, mode cumulative,
# the right sample types; the worker leaves them for their kinds' bases;
# per-kind metrics and log lines; a snapshot of the wrong kind is counted
# as wrong_kind and not uploaded; --kinds usage errors exit 2; the README's
# default (cpu only) uploads no snapshot.
#
#   kinds_test.sh BIN_DIR GOTARGET PUSH_TOOL
set -u
BIN=$(cd "$1" && pwd)
GOTARGET=$(realpath "$2")
PT=$(realpath "$3")
. "$(dirname "$0")/../client/stack.sh"

S="$BIN/pgopipe-scraper"

"$S" -a demo -k cpu,wall "$T/none.json" >"$T/u1.out" 2>"$T/u1.err"
check "--kinds with an unknown kind: usage error 2 naming it" bash -c "[ $? = 2 ] && grep -q 'wall' '$T/u1.err'"
"$S" -a demo -k , "$T/none.json" >"$T/u2.out" 2>&1
check "--kinds ',': usage error 2" test $? = 2
check "--help documents -k/--kinds and PGOPIPE_KINDS" bash -c "'$S' --help | grep -q -- '-k, --kinds LIST.*PGOPIPE_KINDS'"

start_stack
start_gotarget g1
G1=$GT_URL
start_gotarget g2
G2=$GT_URL
printf '[{"address":"%s"},{"address":"%s","path":"/debug/pprof/profile"}]\n' "$G1" "$G2" >"$T/targets.json"

metric() { curl -fsS "$M/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'; }
at_least() { [ "$(metric "$1" | cut -d. -f1)" -ge "$2" ] 2>/dev/null; }

PGOPIPE_AUTH_TOKEN=$TOKEN "$S" -u "$API" -a demo -k cpu,heap,mutex,block,goroutine -f 3s -d 1s -p 0 \
  "$T/targets.json" 2>"$T/scraper.log" &
PIDS+=($!)
SCRAPER=$!
wait_until 20 have_port "$T/scraper.log" "scraper started" || { cat "$T/scraper.log" >&2; exit 1; }
M="http://127.0.0.1:$(log_port "$T/scraper.log" "scraper started")"

check "a round of every kind done" wait_until 40 grep -q '"msg":"round done","kind":"goroutine"' "$T/scraper.log"
for k in cpu heap mutex block goroutine; do
  check "$k: both targets uploaded (pgopipe_scraper_kind_uploads_total)" \
    wait_until 20 at_least "pgopipe_scraper_kind_uploads_total{kind=\"$k\"}" 2
  check "$k: last upload time set" at_least "pgopipe_scraper_kind_last_upload_timestamp_seconds{kind=\"$k\"}" 1
done
check "the CPU round comes first in a round" \
  bash -c "grep -o '\"msg\":\"round done\",\"kind\":\"[a-z]*\"' '$T/scraper.log' | head -5 | cut -d'\"' -f8 | tr '\n' ' ' | grep -q '^cpu heap mutex block goroutine'"
for k in heap mutex block goroutine; do
  check "$k: fetched from /debug/pprof/$k without seconds" \
    grep -q "\"kind\":\"$k\",\"target\":\"$G1\",\"url\":\"$G1/debug/pprof/$k\"" "$T/scraper.log"
done
check "cpu: fetched with ?seconds=1 as before" grep -q "\"url\":\"$G1/debug/pprof/profile?seconds=1\"" "$T/scraper.log"
check "no scrape failed" test "$(metric 'pgopipe_scraper_upload_failures_total')" = 0
check "the worker merged the CPU profiles into demo/default.pgo" wait_until 20 test -s "$T/data/demo/default.pgo"

# Stop the scraper so the staged objects hold still.
stop_pid "$SCRAPER"
"$PT" staged "file://$T/data" >"$T/staged.jsonl"
check "every snapshot staged with its record: kind, source scraper, instance = target, cumulative" \
  python3 - "$T/staged.jsonl" "$G1" "$G2" <<'EOF'
import json, sys
types = {
    "heap": ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes"],
    "mutex": ["contentions/count", "delay/nanoseconds"],
    "block": ["contentions/count", "delay/nanoseconds"],
    "goroutine": ["goroutine/count"],
}
seen = {}
for l in open(sys.argv[1]):
    s = json.loads(l)
    r = s["record"]
    if s["app"] != "demo" or not r or r["kind"] == "cpu":
        continue
    k = r["kind"]
    assert r["source"] == "scraper" and r["mode"] == "cumulative" and not r.get("labels"), r
    assert r["instance"] in sys.argv[2:], r
    assert s["types"] == types[k], (k, s["types"])
    assert r["time"] == s["time_nanos"] or s["time_nanos"] == 0, r
    seen.setdefault(k, set()).add(r["instance"])
    if k in ("mutex", "block"):
        assert s["samples"] > 0, "%s snapshot without samples" % k
for k in types:
    assert seen.get(k) == set(sys.argv[2:]), (k, seen.get(k))
print("snapshots of", sorted(seen), "from", len(sys.argv) - 2, "targets")
EOF
WM="http://127.0.0.1:$(log_port "$T/worker.log" "pgopipe-worker listening")"
check "the worker counted the snapshots it left in staging" \
  bash -c "[ \$(curl -s '$WM/metrics' | awk '\$1 == \"pgopipe_worker_other_kinds_skipped_total\" {print \$2}') -ge 8 ]"

# A target that serves a CPU profile where the mutex snapshot should be: the
# server's own GET /api/profile/{app}, with an app named mutex.
PGOPIPE_AUTH_TOKEN=$TOKEN "$BIN/pgopipe" upload -u "$API" -a mutex "$T/data/demo/default.pgo" >/dev/null
check "an app named mutex has a CPU base" wait_until 20 test -s "$T/data/mutex/default.pgo"
printf '[{"address":"%s","path":"/api/profile/profile"}]\n' "$API" >"$T/odd.json"
PGOPIPE_AUTH_TOKEN=$TOKEN "$S" -u "$API" -a odd -k mutex -f 60s -p 0 "$T/odd.json" 2>"$T/odd.log" &
PIDS+=($!)
wait_until 20 have_port "$T/odd.log" "scraper started" || exit 1
M="http://127.0.0.1:$(log_port "$T/odd.log" "scraper started")"
check "a CPU profile in a mutex round: wrong_kind, not uploaded" \
  wait_until 20 at_least 'pgopipe_scraper_kind_scrapes_total{kind="mutex",outcome="wrong_kind"}' 1
check "wrong_kind logged with the reason" grep -q '"outcome":"wrong_kind".*contradicts' "$T/odd.log"
check "nothing uploaded for it" test "$(metric 'pgopipe_scraper_kind_uploads_total{kind="mutex"}')" = 0

# The default: CPU only.
PGOPIPE_AUTH_TOKEN=$TOKEN "$S" -u "$API" -a plain -f 60s -d 1s -p 0 "$T/targets.json" 2>"$T/plain.log" &
PIDS+=($!)
wait_until 20 have_port "$T/plain.log" "scraper started" || exit 1
M="http://127.0.0.1:$(log_port "$T/plain.log" "scraper started")"
check "default --kinds: one CPU round, two uploads" wait_until 20 at_least 'pgopipe_scraper_kind_uploads_total{kind="cpu"}' 2
check "default --kinds: no snapshot round" bash -c "! grep -q '\"kind\":\"heap\"' '$T/plain.log'"
finish
