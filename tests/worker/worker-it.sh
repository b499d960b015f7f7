#!/usr/bin/env bash
# worker-it.sh BUILD_DIR PROFILE_DIR SCENARIO — integration tests of
# pgopipe-worker against real servers: S3 (s3rver behind the SigV4-verifying
# front end, tests/support/s3) and a Kafka-protocol broker (librdkafka's mock
# cluster, tests/support/kafka), with real Go CPU profiles (gen-profiles.sh).
# Uploads are made as the upload service makes them (stage the object, then
# publish profile.uploaded) by worker-tool.
#
# Scenarios:
#   basic   several apps; bases equal an independent merge of exactly their
#           uploads (Go's pprof through the oracle when built, else totals and
#           sample counts of `pgopipe merge` / the engine); the pruned app equals
#           merge+prune; staged objects gone; poison → rejected/ and the worker
#           lives; malformed events skipped; S3 failing → /api/health 503,
#           retries, recovery → 200 and nothing lost; profile.deleted removes
#           every object of the app; SIGHUP with a broken rules file keeps the
#           old rules; SIGTERM → exit 0.
#   group   two workers in one consumer group share the apps; one leaves
#           mid-stream (SIGTERM); every base is exact.
#   crash   a stream of uploads while the worker (--window 24h) is SIGKILLed
#           and restarted several times: CPU uploads whose time_nanos place
#           them 0, 7, 14, 21 and 28 hours ago, and cumulative heap and mutex
#           snapshots from two instances, one of which restarts (staged with
#           the metadata the server writes, by worker-tool); final totals:
#           the cpu base the sum of the uploads in the window (not the one 28
#           hours ago), every cpu hour bucket the sum of its hour's uploads,
#           each kind's base the sum of what its snapshots add (the last
#           snapshot of each life) plus each instance's last in-use gauges
#           and each kind's hour buckets the sum of what that hour's
#           snapshots add, exactly; every upload kept in history/ once;
#           staging ends empty.
# The crash scenario reads heap and mutex profiles from $PGOPIPE_PROFILES
# (tests/diff/gen-profiles.sh).
set -euo pipefail
build=$(cd "${1:?usage: worker-it.sh BUILD_DIR PROFILE_DIR SCENARIO}" && pwd)
profiles=$(cd "${2:?}" && pwd)
scenario=${3:?}
src=$(cd "$(dirname "$0")/../.." && pwd)
bin=$build/bin
tool=$build/tests/bin/worker-tool
export KAFKA_MOCK=$build/tests/bin/kafka-mock

tmp=$(mktemp -d "${TMPDIR:-/tmp}/worker-it.XXXXXX")
pids=()
starts=0
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  "$src/tests/support/s3/s3-down.sh" "$tmp/s3" >/dev/null 2>&1 || true
  "$src/tests/support/kafka/kafka-down.sh" "$tmp/kafka" >/dev/null 2>&1 || true
  if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

fail() { echo "FAIL: $*" >&2; for f in "$tmp"/worker*.log; do [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 30 "$f" >&2; }; done; exit 1; }
ok() { echo "ok: $*"; }

mkdir -p "$tmp/s3" "$tmp/kafka"
"$src/tests/support/s3/s3-up.sh" "$tmp/s3" >/dev/null
set -a; . "$tmp/s3/env"; set +a
BLOB=$PGOPIPE_TEST_S3_URL
KAFKA_BROKERS=$("$src/tests/support/kafka/kafka-up.sh" "$tmp/kafka")
export KAFKA_BROKERS
TOPIC=profiles
WRITER="kafka://$TOPIC"
READER="kafka://workers?topic=$TOPIC&session.timeout.ms=6000&fetch.wait.max.ms=20"

mapfile -t cpu < <(ls "$profiles"/cpu/*.pb.gz | sort)
[ ${#cpu[@]} -ge 6 ] || fail "need 6 CPU profiles in $profiles/cpu"

# start_worker NAME [flags...]: starts a worker, waits for /api/ready, sets PORT_<NAME>
start_worker() {
  local name=$1; shift
  starts=$((starts + 1))
  local log=$tmp/worker-$name.$starts.log
  "$bin/pgopipe-worker" -p 0 --blob-store-url "$BLOB" --event-reader-url "$READER" \
    --event-writer-url "$WRITER" --batch-wait 50ms "$@" >"$log" 2>&1 &
  local pid=$!
  eval "LOG_$name=$log"
  pids+=("$pid")
  eval "PID_$name=$pid"
  local port="" i
  for i in $(seq 1 200); do
    port=$(grep -o '"msg":"pgopipe-worker listening"[^}]*' "$log" 2>/dev/null |
           tail -n 1 | grep -o '"port":[0-9]*' | cut -d: -f2 || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || fail "worker $name exited at start"
    sleep 0.05
  done
  [ -n "$port" ] || fail "worker $name did not log its port"
  eval "PORT_$name=$port"
  for i in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/ready")" = 200 ] && return 0
    sleep 0.05
  done
  fail "worker $name not ready"
}

# expected_total FILE...: the v1 (cpu nanoseconds) sum over the files
expected_total() { "$tool" totals "$@" | grep -o ' v1=[-0-9]*' | cut -d= -f2; }

# wait_base APP TOTAL SECS: until APP's base has that total and staging is empty
wait_base() {
  "$tool" wait-total "$BLOB" "$1/default.pgo" 1 "$2" "$3" || fail "$1: base total never reached $2"
  local i
  for i in $(seq 1 $(( $3 * 10 ))); do
    [ -z "$("$tool" list "$BLOB" "$1/staging/")" ] && return 0
    sleep 0.1
  done
  fail "$1: staged objects left: $("$tool" list "$BLOB" "$1/staging/" | tr '\n' ' ')"
}

metric() { # metric PORT NAME → value (first series)
  curl -s "http://127.0.0.1:$1/metrics" >"$tmp/m.txt" || true
  awk -v n="$2" '$1 == n { print $2; exit }' "$tmp/m.txt"
}

oracle=""
if [ -f "$src/tests/diff/oracle/main.go" ]; then
  export GOCACHE=${GOCACHE:-$build/.gocache} GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=
  if (cd "$src/tests/diff/oracle" && go build -o "$tmp/oracle" . ) 2>"$tmp/oracle-build.log"; then
    oracle=$tmp/oracle
  fi
fi

# same_as_merge BASE [--drop RX [--keep RX]]... -- FILE...: the base equals an
# independent merge (+prune) of exactly FILES.
same_as_merge() {
  local base=$1; shift
  local rules=()
  while [ "$1" != "--" ]; do rules+=("$1"); shift; done
  shift
  if [ -n "$oracle" ]; then
    "$oracle" merge "${rules[@]}" "$@" | grep -v '^comment' >"$tmp/want.txt"
    "$oracle" compact "$base" | grep -v '^comment' >"$tmp/got.txt"
    diff -q "$tmp/want.txt" "$tmp/got.txt" >/dev/null ||
      { diff "$tmp/want.txt" "$tmp/got.txt" | head -n 20 >&2; return 1; }
  elif [ -x "$bin/pgopipe" ]; then
    "$bin/pgopipe" merge -o "$tmp/ref.pb.gz" "${rules[@]}" "$@"
    [ "$("$tool" totals "$tmp/ref.pb.gz")" = "$("$tool" totals "$base")" ] ||
      { echo "want $("$tool" totals "$tmp/ref.pb.gz") got $("$tool" totals "$base")" >&2; return 1; }
  else
    local want got
    want=$("$tool" totals "$@" | sed 's/^samples=[0-9]* //')
    got=$("$tool" totals "$base" | sed 's/^samples=[0-9]* //')
    [ "$want" = "$got" ] || { echo "want $want got $got" >&2; return 1; }
  fi
}

case $scenario in
basic)
  cat >"$tmp/rules.json" <<'EOF'
[{"app": "pruned", "rules": [{"drop": "^runtime\\.", "keep": "^runtime\\.mallocgc$"}, {"drop": "^sort\\."}]}]
EOF
  start_worker a --prune "$tmp/rules.json" --batch-max 20
  port=$PORT_a
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health")" = 200 ] || fail "health not 200 at start"
  curl -s "http://127.0.0.1:$port/api/health" >"$tmp/health0.json"
  for dep in blob event-writer event-reader worker; do
    grep -q "{\"name\":\"$dep\",\"status\":\"healthy\"}" "$tmp/health0.json" || fail "health lacks $dep: $(cat "$tmp/health0.json")"
  done
  ok "health names autopgo's dependencies (blob, event-writer, event-reader) and the worker"

  "$tool" upload "$BLOB" "$WRITER" alpha "${cpu[0]}" "${cpu[1]}" "${cpu[2]}" >/dev/null
  "$tool" upload "$BLOB" "$WRITER" beta "${cpu[3]}" "${cpu[4]}" >/dev/null
  "$tool" upload "$BLOB" "$WRITER" pruned "${cpu[0]}" "${cpu[3]}" "${cpu[5]}" >/dev/null
  "$tool" upload "$BLOB" "$WRITER" alpha "${cpu[5]}" >/dev/null
  wait_base alpha "$(expected_total "${cpu[0]}" "${cpu[1]}" "${cpu[2]}" "${cpu[5]}")" 60
  wait_base beta "$(expected_total "${cpu[3]}" "${cpu[4]}")" 30
  "$tool" get "$BLOB" alpha/default.pgo "$tmp/alpha.pb.gz"
  "$tool" get "$BLOB" beta/default.pgo "$tmp/beta.pb.gz"
  same_as_merge "$tmp/alpha.pb.gz" -- "${cpu[5]}" "${cpu[2]}" "${cpu[1]}" "${cpu[0]}" || fail "alpha differs from the merge of its uploads"
  same_as_merge "$tmp/beta.pb.gz" -- "${cpu[4]}" "${cpu[3]}" || fail "beta differs from the merge of its uploads"
  ok "bases equal an independent merge of exactly their uploads (oracle: ${oracle:-none})"
  # pruned: totals survive pruning (Prune never changes values)
  wait_base pruned "$(expected_total "${cpu[0]}" "${cpu[3]}" "${cpu[5]}")" 30
  "$tool" get "$BLOB" pruned/default.pgo "$tmp/pruned.pb.gz"
  same_as_merge "$tmp/pruned.pb.gz" --drop '^runtime\.' --keep '^runtime\.mallocgc$' --drop '^sort\.' -- \
    "${cpu[5]}" "${cpu[3]}" "${cpu[0]}" || fail "pruned app differs from merge+prune"
  ok "pruned app equals merge+prune"
  [ -z "$("$tool" list "$BLOB" "" | grep /staging/)" ] || fail "staged objects left"
  ok "staged objects deleted after merging"

  # poison and malformed events: the worker lives and goes on
  printf 'not a profile' >"$tmp/garbage"
  gkey=$("$tool" upload "$BLOB" "$WRITER" alpha "$tmp/garbage")
  "$tool" raw "$WRITER" alpha '{"broken json'
  "$tool" publish "$WRITER" profile.viewed alpha
  "$tool" upload "$BLOB" "$WRITER" alpha "${cpu[3]}" >/dev/null
  wait_base alpha "$(expected_total "${cpu[0]}" "${cpu[1]}" "${cpu[2]}" "${cpu[5]}" "${cpu[3]}")" 30
  "$tool" wait-key "$BLOB" "alpha/rejected/${gkey##*/}" 10 || fail "poison not in rejected/"
  kill -0 "$PID_a" || fail "worker died on poison"
  [ "$(metric "$port" pgopipe_worker_rejected_total)" = 1 ] || fail "rejected_total not 1"
  [ "$(metric "$port" pgopipe_worker_malformed_events_total)" -ge 1 ] || fail "malformed not counted"
  ok "poison moved to rejected/, malformed event skipped, worker alive"

  # transient S3 failure: health 503 while failing, 200 after, nothing lost
  key=$("$tool" stage "$BLOB" beta "${cpu[5]}")
  curl -s -X POST "$S3_ENDPOINT/__control/fail?count=40&status=503" >/dev/null
  "$tool" publish "$WRITER" profile.uploaded beta "$key"
  saw503=0
  for i in $(seq 1 300); do
    code=$(curl -s -o "$tmp/health.json" -w '%{http_code}' "http://127.0.0.1:$port/api/health")
    if [ "$code" = 503 ]; then saw503=1; break; fi
    sleep 0.05
  done
  [ $saw503 = 1 ] || fail "health never 503 while S3 failed"
  grep -q '"unhealthy"' "$tmp/health.json" || fail "503 body: $(cat "$tmp/health.json")"
  wait_base beta "$(expected_total "${cpu[3]}" "${cpu[4]}" "${cpu[5]}")" 90
  for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health")" = 200 ] && break
    sleep 0.1
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health")" = 200 ] || fail "health not 200 after recovery"
  [ "$(metric "$port" pgopipe_worker_retries_total)" -ge 1 ] || fail "retries not counted"
  ok "S3 failing: 503, retries, recovered to 200, upload merged once"

  # SIGHUP with a broken file keeps the old rules; a good file is taken
  echo '[{"app": "pruned", "rules": [{"drop": "(x"}]}]' >"$tmp/rules.json"
  kill -HUP "$PID_a"
  for i in $(seq 1 100); do grep -q 'reload failed' "$LOG_a" && break; sleep 0.05; done
  grep -q 'reload failed.*offset' "$LOG_a" || grep -q 'offset 2' "$LOG_a" || fail "broken rules reload not logged with the offset"
  kill -0 "$PID_a" || fail "worker died on a broken rules reload"
  echo '[{"app": "pruned", "rules": [{"drop": "^runtime\\."}]}, {"app": "beta", "rules": []}]' >"$tmp/rules.json"
  kill -HUP "$PID_a"
  for i in $(seq 1 100); do grep -q '"prune rules reloaded"' "$LOG_a" && break; sleep 0.05; done
  grep '"prune rules reloaded"' "$LOG_a" | grep -q '"apps":"2"' || fail "a good rules file was not reloaded"
  ok "SIGHUP: a broken rules file is logged and the old rules stay; a good one is taken"

  # delete: every object of the app, and only of that app
  "$tool" publish "$WRITER" profile.deleted alpha
  for i in $(seq 1 200); do [ -z "$("$tool" list "$BLOB" alpha/)" ] && break; sleep 0.05; done
  [ -z "$("$tool" list "$BLOB" alpha/)" ] || fail "alpha/ not empty after delete: $("$tool" list "$BLOB" alpha/ | tr '\n' ' ')"
  "$tool" wait-key "$BLOB" beta/default.pgo 1 || fail "delete touched another app"
  ok "profile.deleted removed every object of the app"

  curl -s -o "$tmp/metrics.txt" "http://127.0.0.1:$port/metrics"
  for m in pgopipe_worker_merge_seconds_bucket pgopipe_worker_batch_uploads_bucket \
           pgopipe_worker_base_bytes_bucket pgopipe_worker_merges_total pgopipe_worker_rejected_total \
           pgopipe_worker_retries_total pgopipe_worker_base_last_bytes 'pgopipe_worker_events_total{type="profile.uploaded"}'; do
    grep -qF "$m" "$tmp/metrics.txt" || fail "metric $m missing from /metrics"
  done
  c=$(metric "$port" pgopipe_worker_base_conflicts_total)
  [ "${c:-0}" = 0 ] || fail "$c base conflicts with a single worker"
  kill -TERM "$PID_a"
  set +e; wait "$PID_a"; rc=$?; set -e
  [ $rc = 0 ] || fail "exit status $rc after SIGTERM"
  grep -q 'pgopipe-worker stopped' "$LOG_a" || fail "no clean stop logged"
  ok "SIGTERM: clean exit 0"
  ;;

group)
  start_worker a --batch-max 10
  start_worker b --batch-max 10
  apps=(g-one g-two g-three g-four g-five g-six g-seven g-eight)
  declare -A files
  upload_round() { # one upload per app
    local i f
    for i in "${!apps[@]}"; do
      f=${cpu[$(( (i + $1) % ${#cpu[@]} ))]}
      "$tool" upload "$BLOB" "$WRITER" "${apps[$i]}" "$f" >/dev/null
      files[${apps[$i]}]="${files[${apps[$i]}]:-} $f"
    done
  }
  # rounds until both members have merged something (the first group join
  # and the rebalance for the second member take a few seconds)
  round=0
  while :; do
    round=$((round + 1))
    upload_round $round
    grep -q '"base written"' "$LOG_b" && grep -q '"base written"' "$LOG_a" && break
    [ $round -lt 30 ] || fail "the two workers did not share the partitions after $round rounds"
    sleep 1
  done
  # b leaves mid-stream; a takes over its partitions
  (sleep 0.3; kill -TERM "$PID_b") &
  killer=$!
  upload_round $((round + 1))
  wait "$killer"
  wait "$PID_b" || fail "worker b exit status $? on SIGTERM"
  upload_round $((round + 2))
  for app in "${apps[@]}"; do
    # shellcheck disable=SC2086
    wait_base "$app" "$(expected_total ${files[$app]})" 90
  done
  a_merged=$(metric "$PORT_a" pgopipe_worker_uploads_merged_total)
  b_merged=$(grep -c '"msg":"base written"' "$LOG_b" || true)
  [ "$b_merged" -ge 1 ] && [ "$a_merged" -ge 1 ] || fail "work not shared (a: $a_merged uploads, b: $b_merged writes)"
  ok "two workers in one group shared the apps (a merged $a_merged uploads, b wrote $b_merged bases); one left mid-stream; all bases exact"
  kill -TERM "$PID_a"; wait "$PID_a" || fail "worker a exit status $? on SIGTERM"
  ;;

crash)
  n=${CRASH_UPLOADS:-40}
  kills=${CRASH_KILLS:-4}
  nk=${CRASH_SNAPSHOTS:-8}
  # cumulative snapshots: heap and mutex, instance a, and instance b that
  # restarts half-way
  diffp=${PGOPIPE_PROFILES:?the crash scenario needs PGOPIPE_PROFILES (tests/diff profiles)}
  for kind in heap mutex; do
    srcs=("$diffp"/heap/*.pb.gz)
    [ $kind = mutex ] && srcs=("$diffp"/mutex/sync.pb.gz)
    mkdir -p "$tmp/series/$kind-a" "$tmp/series/$kind-b"
    "$tool" series --kind $kind "$tmp/series/$kind-a" "$nk" "${srcs[@]}" || fail "series $kind a"
    "$tool" series --kind $kind --restart $((nk / 2)) --offset 1 "$tmp/series/$kind-b" "$nk" "${srcs[@]}" ||
      fail "series $kind b"
  done
  t0=$(( ($(date +%s) - 600) * 1000000000 ))
  hour_of() { date -u -d "@$(( $1 / 1000000000 ))" +%Y%m%d%H; } # hour_of NS → YYYYMMDDHH
  start_worker c --batch-max 8 --window 24h
  : >"$tmp/uploaded-c-one"; : >"$tmp/uploaded-c-two"; : >"$tmp/kinds-failed"; : >"$tmp/kinds-hours"
  (
    for i in $(seq 1 "$n"); do
      app=c-one; [ $((i % 3)) = 0 ] && app=c-two
      f=${cpu[$((i % ${#cpu[@]}))]}
      t=$(( $(date +%s%N) - (i % 5) * 7 * 3600 * 1000000000 - 60 * 1000000000 ))
      "$tool" upload --profile-time "$t" "$BLOB" "$WRITER" "$app" "$f" >/dev/null &&
        echo "$(hour_of "$t") $f" >>"$tmp/uploaded-$app"
      # the snapshots spread over the whole stream (so the kills fall among them)
      step=$(( n / nk > 0 ? n / nk : 1 ))
      if [ $((i % step)) = 0 ] && [ $((i / step)) -le "$nk" ]; then
        k=$(printf %03d $((i / step - 1)))
        for kind in heap mutex; do
          for inst in a b; do
            ts=$((t0 + i * 1000000000))
            "$tool" upload --kind $kind --mode cumulative --source profefe --instance "$inst" \
              --time "$ts" "$BLOB" "$WRITER" c-one "$tmp/series/$kind-$inst/snap-$k.pb.gz" \
              >/dev/null || echo "$kind $inst $k" >>"$tmp/kinds-failed"
            echo "$kind $(hour_of "$ts") $tmp/series/$kind-$inst/contrib-$k.pb.gz" >>"$tmp/kinds-hours"
          done
        done
      fi
      sleep 0.2
    done
  ) &
  feeder=$!
  pids+=("$feeder")
  for k in $(seq 1 "$kills"); do
    # wait until this instance is merging, then kill -9 at a random instant
    for i in $(seq 1 300); do grep -q '"base written"' "$LOG_c" && break; sleep 0.1; done
    sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    kill -KILL "$PID_c" 2>/dev/null || true
    wait "$PID_c" 2>/dev/null || true
    start_worker c --batch-max 8 --window 24h
  done
  wait "$feeder" || fail "feeder failed"
  [ ! -s "$tmp/kinds-failed" ] || fail "snapshot uploads failed: $(tr '\n' ' ' <"$tmp/kinds-failed")"
  wstart=$(date -u -d "@$(( $(date +%s) - 86400 ))" +%Y%m%d%H) # the window's first hour
  nbuckets=0
  for app in c-one c-two; do
    # the base: the uploads of the window's hours; the one 28 hours ago is out
    mapfile -t inwin < <(awk -v s="$wstart" '$1 >= s { print $2 }' "$tmp/uploaded-$app")
    mapfile -t outwin < <(awk -v s="$wstart" '$1 < s { print $2 }' "$tmp/uploaded-$app")
    [ ${#outwin[@]} -gt 0 ] || fail "$app: no upload before the window"
    wait_base "$app" "$(expected_total "${inwin[@]}")" 120
    # every hour bucket: exactly its hour's uploads
    for h in $(cut -d' ' -f1 "$tmp/uploaded-$app" | sort -u); do
      mapfile -t inhour < <(awk -v h="$h" '$1 == h { print $2 }' "$tmp/uploaded-$app")
      "$tool" wait-total "$BLOB" "$app/hours/cpu/$h.pgo" 1 "$(expected_total "${inhour[@]}")" 30 ||
        fail "$app: hour bucket $h is not the sum of its ${#inhour[@]} uploads"
      nbuckets=$((nbuckets + 1))
    done
    [ "$("$tool" list "$BLOB" "$app/hours/cpu/" | wc -l)" = "$(cut -d' ' -f1 "$tmp/uploaded-$app" | sort -u | wc -l)" ] ||
      fail "$app: buckets $("$tool" list "$BLOB" "$app/hours/cpu/" | tr '\n' ' ')"
    # every upload kept in history once
    for i in $(seq 1 100); do
      [ "$("$tool" list "$BLOB" "$app/history/cpu/" | wc -l)" = "$(wc -l <"$tmp/uploaded-$app")" ] && break
      sleep 0.1
    done
    [ "$("$tool" list "$BLOB" "$app/history/cpu/" | wc -l)" = "$(wc -l <"$tmp/uploaded-$app")" ] ||
      fail "$app: $("$tool" list "$BLOB" "$app/history/cpu/" | wc -l) history objects for $(wc -l <"$tmp/uploaded-$app") uploads"
  done
  # column v1: alloc_space (heap), delay (mutex); v3: inuse_space
  col() { "$tool" totals "${@:2}" | grep -o " v$1=[-0-9]*" | cut -d= -f2; }
  want_alloc=$(col 1 "$tmp"/series/heap-[ab]/contrib-*.pb.gz)
  want_inuse=$(col 3 "$tmp"/series/heap-a/gauge.pb.gz "$tmp"/series/heap-b/gauge.pb.gz)
  want_delay=$(col 1 "$tmp"/series/mutex-[ab]/contrib-*.pb.gz)
  naive=$(col 1 "$tmp"/series/heap-a/snap-*.pb.gz)
  [ "$want_alloc" -gt 0 ] && [ "$naive" -gt "$want_alloc" ] || fail "series: alloc $want_alloc, summed raw $naive"
  "$tool" wait-total "$BLOB" c-one/kinds/heap.pgo 1 "$want_alloc" 120 ||
    fail "heap base: alloc_space never reached $want_alloc (the snapshots' own sum is $naive)"
  "$tool" wait-total "$BLOB" c-one/kinds/heap.pgo 3 "$want_inuse" 30 || fail "heap base: inuse_space is not $want_inuse"
  "$tool" wait-total "$BLOB" c-one/kinds/mutex.pgo 1 "$want_delay" 60 || fail "mutex base: delay never reached $want_delay"
  [ "$("$tool" list "$BLOB" c-one/instances/ | wc -l)" = 4 ] || fail "instance states: $("$tool" list "$BLOB" c-one/instances/ | tr '\n' ' ')"
  # each kind's hour buckets: what that hour's snapshots add (column 1)
  for kind in heap mutex; do
    for h in $(awk -v k=$kind '$1 == k { print $2 }' "$tmp/kinds-hours" | sort -u); do
      mapfile -t contribs < <(awk -v k=$kind -v h="$h" '$1 == k && $2 == h { print $3 }' "$tmp/kinds-hours")
      "$tool" wait-total "$BLOB" "c-one/hours/$kind/$h.pgo" 1 "$(col 1 "${contribs[@]}")" 30 ||
        fail "$kind hour bucket $h is not what its ${#contribs[@]} snapshots add"
      nbuckets=$((nbuckets + 1))
    done
  done
  [ -z "$("$tool" list "$BLOB" c-one/staging/)" ] || fail "c-one: staged objects left"
  restarts=$(cat "$tmp"/worker-c.*.log | grep -c 'a value went down' || true)
  [ "$restarts" -ge 2 ] || fail "restarts seen $restarts times, want at least 2 (heap b, mutex b)"
  dups=$(cat "$tmp"/worker-c.*.log | grep -c 'already in' || true)
  ok "$n uploads and $((nk * 4)) cumulative snapshots, $kills SIGKILLs: cpu window bases and $nbuckets hour buckets exact, history complete; heap alloc $want_alloc (raw sum of a's snapshots alone: $naive), in-use $want_inuse, mutex delay $want_delay exact; staging empty ($dups redelivered uploads recognised)"
  kill -TERM "$PID_c"; wait "$PID_c" || fail "exit status after SIGTERM"
  ;;
*)
  fail "unknown scenario $scenario"
  ;;
esac
echo "PASS $scenario"
