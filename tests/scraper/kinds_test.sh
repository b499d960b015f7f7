#!/usr/bin/env bash
# kinds_test.sh — pgopipe-scraper -k against two Go scrape targets (mutex
# and block profiling on), uploading to a running pipeline (kafka-mock +
# pgopipe-server + pgopipe-worker, tests/client/stack.sh).
#
# Proves: each round pulls the CPU window and then
# /debug/pprof/{heap,mutex,block,goroutine} without seconds from every
# target; each snapshot is stored as its kind with the record source
# scraper, instance = the target's address, mode cumulative, the right
# sample types (read while the worker is not yet running); per-kind metrics
# and log lines. Then the worker merges them all: every kind has its base
# (GET /api/profile/demo?kind=K) with the kind's sample types, whose totals
# by go tool pprof are what the kinds' rules make of the snapshots (the
# cumulative snapshots of one target are one instance: the heap base's alloc
# totals are the last snapshot's of each target, not the sum of all; the
# gauges are each target's latest); the worker counts one first snapshot per
# target and kind and no restart. A snapshot of the wrong kind is counted as
# wrong_kind and not uploaded; --kinds usage errors exit 2; the README's
# default (cpu only) uploads no snapshot.
#
#   kinds_test.sh BIN_DIR GOTARGET PUSH_TOOL
set -u
BIN=$(cd "$1" && pwd)
GOTARGET=$(realpath "$2")
PT=$(realpath "$3")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../client/stack.sh"
BASECHECK=$HERE/../push/base-check.py
export GOCACHE=$T/.gocache PPROF_TMPDIR=$T/pprof
mkdir -p "$PPROF_TMPDIR"

S="$BIN/pgopipe-scraper"

"$S" -a demo -k cpu,wall "$T/none.json" >"$T/u1.out" 2>"$T/u1.err"
check "--kinds with an unknown kind: usage error 2 naming it" bash -c "[ $? = 2 ] && grep -q 'wall' '$T/u1.err'"
"$S" -a demo -k , "$T/none.json" >"$T/u2.out" 2>&1
check "--kinds ',': usage error 2" test $? = 2
check "--help documents -k/--kinds and PGOPIPE_KINDS" bash -c "'$S' --help | grep -q -- '-k, --kinds LIST.*PGOPIPE_KINDS'"

NO_WORKER=1 start_stack # the worker starts once the snapshots were read back from staging
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
  check "$k: three rounds, both targets uploaded (pgopipe_scraper_kind_uploads_total)" \
    wait_until 40 at_least "pgopipe_scraper_kind_uploads_total{kind=\"$k\"}" 6
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

# Stop the scraper; no worker runs yet, so every upload is still staged.
stop_pid "$SCRAPER"
"$PT" staged "file://$T/data" "$T/dump" >"$T/staged.jsonl"
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

# The snapshots as pushes for base-check.py (tests/push): each target one
# instance, in the order of their times; the CPU windows as deltas.
python3 - "$T/staged.jsonl" "$T/scraped" <<'EOF2'
import json, os, sys
staged = [json.loads(l) for l in open(sys.argv[1])]
staged = [s for s in staged if s["app"] == "demo"]
staged.sort(key=lambda s: ((s["record"] or {}).get("time") or s["time_nanos"], s["name"]))
pushes = []
for i, s in enumerate(staged):
    r = s["record"] or {"kind": "cpu", "mode": "delta", "instance": "", "labels": {}}
    pushes.append({"seq": i + 1, "app": "demo", "kind": r["kind"], "mode": r["mode"], "instance": r["instance"],
                   "status": 200, "sent": s["file"], "protocol": "api", "name": "demo"})
os.makedirs(sys.argv[2], exist_ok=True)
json.dump({"scenario": "scraper", "pushes": pushes, "expected": []}, open(os.path.join(sys.argv[2], "manifest.json"), "w"))
print("%d uploads of demo staged" % len(pushes))
EOF2
N=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["pushes"]))' "$T/scraped/manifest.json")

start_worker
wait_until 20 have_port "$T/worker.log" "pgopipe-worker listening" || { cat "$T/worker.log" >&2; exit 1; }
WM="http://127.0.0.1:$(log_port "$T/worker.log" "pgopipe-worker listening")"
wmetric() { curl -fsS "$WM/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'; }
merged_all() {
  [ -z "$(find "$T/data/demo/staging" -type f 2>/dev/null)" ] &&
    [ "$(wmetric pgopipe_worker_staged_deleted_total)" = "$N" ]
}
check "the worker merged the $N staged uploads (staging empty, the worker idle)" wait_until 90 merged_all
curl -fsS "$WM/metrics" >"$T/worker-metrics.txt"
check "the worker counted, by kind, the uploads, one first snapshot per target and no restart" \
  python3 "$BASECHECK" counts "$T/scraped" "$T/worker-metrics.txt"
types_of() { go tool pprof -raw "$1" 2>/dev/null | sed -n '/^Samples:/{n;p;q}' | sed 's/\[dflt\]//g' | xargs; }
for k in cpu heap mutex block goroutine; do
  B=$T/base.$k.pb.gz
  check "$k: GET /api/profile/demo?kind=$k: 200" curl -fsS -o "$B" "$API/api/profile/demo?kind=$k"
  case $k in
    cpu) want="samples/count cpu/nanoseconds" ;;
    heap) want="alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes" ;;
    mutex | block) want="contentions/count delay/nanoseconds" ;;
    goroutine) want="goroutine/count" ;;
  esac
  check "$k: the base has the kind's sample types ($want)" test "$(types_of "$B")" = "$want"
  check "$k: its go tool pprof totals are what the kinds' rules make of the uploads" \
    python3 "$BASECHECK" semantics "$T/scraped" demo "$k" "$B"
done
for g in "$G1" "$G2"; do
  for k in heap mutex block; do
    check "$k: the cumulative snapshots of target $g add the last one's totals to the base, not their sum" \
      python3 "$BASECHECK" last-snapshot "$T/scraped" demo "$k" "$T/base.$k.pb.gz" "$g"
  done
done
check "heap: the plain sum of the snapshots is not the base" \
  bash -c "python3 '$BASECHECK' semantics '$T/scraped' demo heap '$T/base.heap.pb.gz' --naive >/dev/null; [ \$? = 1 ]"
top_total() { go tool pprof -top -sample_index=0 "$1" 2>/dev/null | sed -n 's/.* of \([0-9][0-9]*\) total$/\1/p'; }
for k in mutex block goroutine; do
  check "$k: the base counts something (go tool pprof -top total $(top_total "$T/base.$k.pb.gz"))" \
    test "$(top_total "$T/base.$k.pb.gz")" -gt 0
done
check "pgopipe list shows demo's five kinds" \
  bash -c "[ \$('$BIN/pgopipe' list -u '$API' | awk '\$1 == \"demo\" { print \$2 }' | sort | xargs | tr ' ' ,) = block,cpu,goroutine,heap,mutex ]"

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
