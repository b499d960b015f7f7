#!/usr/bin/env bash
# push-test.sh MODE BIN_DIR AGENTS PUSH_TOOL PROFILES SERVER_PROFILES [S3_SUPPORT]
#
# The push routes of pgopipe-server against the agent emulator
# (tests/support/agents), real HTTP, real Go profiles. MODE:
#
#   scenario:NAME  one agent scenario (pyroscope, pyroscope-old, profefe,
#                  kprofefe, traceway) against the all-in-one server (no URL
#                  flags: file://./data, mem://profiles, the worker in-process,
#                  --gauge-ttl 1h; with a token for the agents that send one).
#                  Every push is answered as the agent's own server would
#                  (the emulator checks) and logged with its metadata; once
#                  every upload is merged (staging empty, the worker idle),
#                  each (app, kind) base the pushes make, downloaded with GET
#                  /api/profile/{app}?kind=K, equals by summary Go's merge of
#                  the emulator's expected contributions, has the same go
#                  tool pprof -raw and -top totals, and has the totals the
#                  kinds' rules give from the profiles sent (deltas summed,
#                  the last snapshot of each life of a cumulative instance,
#                  the latest gauge of each instance) and not their plain
#                  sum; N cumulative snapshots of one instance add the last
#                  one, not N times it; the worker's counts by kind agree;
#                  a contribution left out is seen.
#   s3kafka        all five scenarios against a server on S3 (s3rver behind
#                  the SigV4 checker) and the Kafka mock, no worker: every
#                  push staged with its record and the bytes sent, announced
#                  with the same metadata in profile.uploaded; Go's pprof
#                  reads the record.
#   errors         each protocol's bad input (wrong method, credentials,
#                  missing profile part, malformed boundary, garbage, gzip
#                  bomb, body over the limit, a hint contradicting the sample
#                  types, a name that normalises to empty, a bad encoding):
#                  the protocol's error shape, nothing stored, the server up;
#                  empty profiles answered and not stored; the collision
#                  policy (api.v2 and api_v2 share the app api-v2: one base
#                  per kind holding both, the original names in the events);
#                  the native route's ?kind, ?instance and ?label (their
#                  record in the events, their base). The server runs its
#                  worker in-process on the Kafka mock, so that the events
#                  can be read back.
set -u
MODE=$1
BIN=$(cd "$2" && pwd)
AGENTS=$(realpath "$3")
PT=$(realpath "$4")
PROFILES=$(realpath "$5")
SP=$(realpath "$6")
S3SUP=${7:-}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../client/stack.sh"
CHECKER="$HERE/push-check.py"
BASECHECK="$HERE/base-check.py"
export GOCACHE=$T/.gocache PPROF_TMPDIR=$T/pprof
mkdir -p "$PPROF_TMPDIR"

token_of() { case $1 in pyroscope | pyroscope-old | traceway) echo s3cret-token ;; *) echo "" ;; esac; }

# start_server TOKEN LOG [flags...]: pgopipe-server in $T (./data), with
# TOKEN as its auth token ("" = none); sets API
start_server() {
  local tok=$1 log=$2
  shift 2
  (
    cd "$T" || exit 1
    if [ -n "$tok" ]; then export PGOPIPE_AUTH_TOKEN=$tok; else unset PGOPIPE_AUTH_TOKEN; fi
    exec "$BIN/pgopipe-server" -p 0 "$@"
  ) 2>"$T/$log" &
  PIDS+=($!)
  SERVER_PID=$!
  wait_until 30 have_port "$T/$log" listening || {
    echo "pgopipe-server did not start:" >&2
    cat "$T/$log" >&2
    exit 1
  }
  API="http://127.0.0.1:$(log_port "$T/$log" listening)"
}

metric() { # NAME_WITH_LABELS: its value on $API/metrics (0 when absent)
  curl -s "$API/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}

pushes_where() { # MANIFEST PYTHON_CONDITION: how many pushes satisfy it
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(1 for p in m["pushes"] if eval(sys.argv[2])))' "$1" "$2"
}

run_scenario() { # NAME OUT [extra agent flags]
  local sc=$1 out=$2
  shift 2
  local tok
  tok=$(token_of "$sc")
  "$AGENTS" "$sc" -profiles "$PROFILES" -out "$out" -url "$API" ${tok:+-token "$tok"} "$@" >"$out.log" 2>&1
}

staged_count() { find "$T/data" -path '*/staging/*' -type f 2>/dev/null | wc -l; }

# merged_all N: staging is empty and the worker folded N uploads into bases
# and deleted their staged objects (the last step of an upload's merge)
merged_all() {
  local m
  [ "$(staged_count)" = 0 ] || return 1
  m=$(curl -s "$API/metrics") || return 1
  [ "$(awk '$1 == "pgopipe_worker_staged_deleted_total" { print $2 }' <<<"$m")" = "$1" ] &&
    [ "$(awk '$1 ~ /^pgopipe_worker_kind_uploads_total[{]/ { s += $2 } END { print s + 0 }' <<<"$m")" = "$1" ]
}

exit_is() { # STATUS COMMAND...: the command exits with STATUS
  local want=$1
  shift
  "$@" >/dev/null 2>&1
  [ $? = "$want" ]
}

mode_scenario() {
  local sc=$1 tok out=$T/out
  tok=$(token_of "$sc")
  start_server "$tok" server.log --gauge-ttl 1h
  check "$sc: every push answered as the agent's server would" run_scenario "$sc" "$out"
  [ -f "$out/manifest.json" ] || { cat "$out.log" >&2; finish; exit 1; }
  local ok cpu
  ok=$(pushes_where "$out/manifest.json" 'p["status"] == 200')
  cpu=$(pushes_where "$out/manifest.json" 'p["status"] == 200 and p["kind"] == "cpu"')
  echo "# $sc: $ok pushes stored ($cpu cpu, $((ok - cpu)) other kinds)"
  check "$sc: every upload merged: staging empty, the worker folded all $ok into bases" wait_until 120 merged_all "$ok"
  check "$sc: each push logged with its protocol, app, kind, name, instance and staged key" \
    python3 "$CHECKER" --access-log "$T/server.log" "$out"
  curl -s "$API/metrics" >"$T/metrics.txt"
  check "$sc: the worker's counts by kind (uploads, first snapshots, restarts) follow from the pushes" \
    python3 "$BASECHECK" counts "$out" "$T/metrics.txt"
  check "$sc: pgopipe_push_requests_total counts the $ok stored pushes" \
    test "$(metric "pgopipe_push_requests_total{protocol=\"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pushes"][0]["protocol"])' "$out/manifest.json")\",outcome=\"stored\"}")" = "$ok"

  # every (app, kind) base the pushes make, downloaded as a user would
  mkdir -p "$T/bases"
  local app kind n b bases=0 some=
  while read -r app kind n; do
    bases=$((bases + 1))
    b=$T/bases/$app.$kind.pb.gz
    check "$sc: GET /api/profile/$app?kind=$kind: 200" curl -sf -o "$b" "$API/api/profile/$app?kind=$kind"
    check "$sc: $app $kind base equals Go's merge of the $n expected contributions (by summary)" \
      "$AGENTS" compare "$out/expected/$app/$kind/"*.pb.gz -- "$b"
    check "$sc: $app $kind base: go tool pprof -raw and -top totals equal the expected ones" \
      python3 "$BASECHECK" totals "$out/expected/$app/$kind/"*.pb.gz -- "$b"
    check "$sc: $app $kind base: totals follow from the profiles sent (deltas summed, last snapshot of each life, latest gauge of each instance)" \
      python3 "$BASECHECK" semantics "$out" "$app" "$kind" "$b"
    if [ "$(pushes_where "$out/manifest.json" "p[\"app\"] == \"$app\" and p[\"kind\"] == \"$kind\" and (p[\"mode\"] == \"cumulative\" or bool(p.get(\"sent_prev\")) or p[\"kind\"] in (\"heap\", \"goroutine\"))")" -gt 0 ]; then
      check "$sc: $app $kind base: the plain sum of the pushes does not match it" \
        exit_is 1 python3 "$BASECHECK" semantics "$out" "$app" "$kind" "$b" --naive
    fi
    [ "$kind" = heap ] && some=$app
  done < <(python3 -c 'import json,sys; [print(e["app"], e["kind"], len(e["files"])) for e in json.load(open(sys.argv[1]))["expected"]]' "$out/manifest.json")
  check "$sc: there were bases to compare" test "$bases" -ge 2

  # N cumulative snapshots of one process (no restart) add the last one
  local inst
  while IFS=$'\t' read -r app kind inst n; do
    check "$sc: the $n cumulative $kind snapshots of instance $inst add the last one's counter totals to the base, not $n times them" \
      python3 "$BASECHECK" last-snapshot "$out" "$app" "$kind" "$T/bases/$app.$kind.pb.gz" "$inst"
  done < <(python3 - "$out/manifest.json" <<'PY'
import json, sys
runs = {}
for p in sorted(json.load(open(sys.argv[1]))["pushes"], key=lambda p: p["seq"]):
    if p["status"] == 200 and p["mode"] == "cumulative" and p["kind"] in ("heap", "mutex", "block", "threadcreate"):
        runs.setdefault((p["app"], p["kind"], p["instance"] or ""), []).append(p)
for (app, kind, inst), ps in sorted(runs.items()):
    if inst and len(ps) >= 2 and not any(p.get("reset") for p in ps[1:]):
        print("\t".join([app, kind, inst, str(len(ps))]))
PY
  )

  # the checks see a contribution missing
  local files=("$out/expected/$some/heap/"*.pb.gz)
  check "$sc: the comparison sees a missing contribution ($(basename "${files[0]}") left out of $some heap)" \
    exit_is 1 "$AGENTS" compare "${files[@]:1}" -- "$T/bases/$some.heap.pb.gz"
  check "$sc: the totals see it too" \
    exit_is 1 python3 "$BASECHECK" totals "${files[@]:1}" -- "$T/bases/$some.heap.pb.gz"
}

start_kafka() {
  "${KAFKA_MOCK:?KAFKA_MOCK: the kafka-mock binary}" "$T/kafka.boot" 2>"$T/kafka.log" &
  PIDS+=($!)
  wait_until 20 test -s "$T/kafka.boot" || { echo "kafka-mock did not start" >&2; exit 1; }
  export KAFKA_BROKERS
  KAFKA_BROKERS=$(cat "$T/kafka.boot")
}

read_events() { "$PT" events "kafka://push-check?topic=profiles" "$1" 15000 >"$T/events.jsonl"; }

mode_s3kafka() {
  [ -n "$S3SUP" ] || { echo "s3kafka needs the S3 support directory" >&2; exit 2; }
  mkdir -p "$T/s3"
  "$S3SUP/s3-up.sh" "$T/s3" >/dev/null || { echo "S3 server did not start" >&2; exit 1; }
  trap '"$S3SUP/s3-down.sh" "$T/s3"; cleanup' EXIT
  set -a
  . "$T/s3/env"
  set +a
  start_kafka
  start_server "" server.log --blob-store-url "$PGOPIPE_TEST_S3_URL" \
    --event-writer-url kafka://profiles
  local sc outs=() total=0 ok
  for sc in pyroscope pyroscope-old profefe kprofefe traceway; do
    check "s3+kafka: $sc: every push answered as the agent's server would" \
      run_scenario "$sc" "$T/out-$sc"
    outs+=("$T/out-$sc")
    ok=$(pushes_where "$T/out-$sc/manifest.json" 'p["status"] == 200')
    total=$((total + ok))
  done
  echo "# s3+kafka: $total pushes stored"
  check "s3+kafka: $total profile.uploaded events read back" read_events "$total"
  "$PT" staged "$PGOPIPE_TEST_S3_URL" "$T/dump" >"$T/staged.jsonl"
  check "s3+kafka: every push staged with its record and bytes, and announced with its metadata" \
    python3 "$CHECKER" --staged "$T/staged.jsonl" --events "$T/events.jsonl" --agents "$AGENTS" "${outs[@]}"
  local one
  one=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    s = json.loads(l)
    if s.get("file") and s["record"] and s["record"]["kind"] == "heap": print(s["file"]); break' "$T/staged.jsonl")
  check "s3+kafka: go tool pprof reads the record of a staged heap upload ($(basename "$one"))" \
    bash -c "go tool pprof -raw '$one' 2>/dev/null | grep -q '^Comment: pgopipe-upload: {\"kind\":\"heap\"'"
}

# ---- errors ----

# req NAME METHOD PATH [curl args...]: status in $T/NAME.code, body $T/NAME.body
req() {
  local n=$1 m=$2 p=$3
  shift 3
  curl -s -o "$T/$n.body" -D "$T/$n.hdr" -w '%{http_code}' -X "$m" "$API$p" "$@" >"$T/$n.code"
}
code() { cat "$T/$1.code"; }
body_is() { [ "$(cat "$T/$1.body")" = "$2" ]; }
json_field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v.get(sys.argv[2]) if isinstance(v, dict) else "")' "$T/$1.body" "$2" 2>/dev/null; }
# shape NAME STATUS PROTO: the protocol's error body for STATUS
shape() {
  local n=$1 st=$2 proto=$3
  [ "$(code "$n")" = "$st" ] || { echo "$n: status $(code "$n"), want $st: $(cat "$T/$n.body")" >&2; return 1; }
  case $proto in
    pyroscope) python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert set(v) == {"code", "message"} and isinstance(v["code"], str) and v["message"], v' "$T/$n.body" ;;
    profefe) python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert set(v) == {"code", "error"} and v["code"] == int(sys.argv[2]) and v["error"], v' "$T/$n.body" "$st" ;;
    traceway) if [ "$st" = 401 ]; then [ ! -s "$T/$n.body" ]; else python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert set(v) == {"error"} and v["error"], v' "$T/$n.body"; fi ;;
    native) python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert set(v) == {"code", "message"} and v["code"] == int(sys.argv[2]), v' "$T/$n.body" "$st" ;;
  esac
}
ok_empty() { [ "$(code "$1")" = 200 ] && [ ! -s "$T/$1.body" ]; }

# A CPU profile without samples (sample types and period only), raw protobuf.
empty_profile() {
  python3 - "$1" <<'EOF'
import sys
def v(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7f | 0x80]); n >>= 7
    return out + bytes([n])
def f(num, data): return v(num << 3 | 2) + v(len(data)) + data
def vt(t, u): return v(1 << 3) + v(t) + v(2 << 3) + v(u)
strings = ["", "samples", "count", "cpu", "nanoseconds"]
b = f(1, vt(1, 2)) + f(1, vt(3, 4)) + b"".join(f(6, s.encode()) for s in strings) + f(11, vt(3, 4)) + v(12 << 3) + v(10000000)
open(sys.argv[1], "wb").write(b)
EOF
}

# events_where TYPE PYTHON_CONDITION: the payloads of the events of TYPE in $T/events.jsonl
# whose payload e satisfies the condition, as JSON lines
events_where() {
  python3 -c 'import json,sys
for l in open(sys.argv[1]):
    v = json.loads(l)
    e = v["payload"]
    if v["type"] == sys.argv[2] and eval(sys.argv[3]): print(json.dumps(e, sort_keys=True))' "$T/events.jsonl" "$1" "$2"
}

mode_errors() {
  local tok=tok-$RANDOM cpu=$SP/cpu.pprof heap=$SP/heap.pprof n0
  # the server with its worker in-process, announcing on the Kafka mock (so
  # that the events can be read back)
  start_kafka
  start_server "$tok" server.log --max-profile-bytes 200000 --worker --event-writer-url kafka://profiles \
    --event-reader-url "kafka://pgopipe-worker?topic=profiles" --batch-wait 50ms --gauge-ttl 1h
  local B="Authorization: Bearer $tok"
  empty_profile "$T/empty.pb"
  python3 -c 'import gzip,sys; open(sys.argv[1],"wb").write(gzip.compress(b"\x32\x00" * (40 << 20), 9))' "$T/bomb.gz"
  head -c 300000 /dev/urandom >"$T/big.bin"
  head -c 1600000 /dev/urandom >"$T/huge.bin"
  printf 'this is not a profile' >"$T/garbage"
  printf '{"contentions":{"display-name":"mutex_count"},"delay":{"display-name":"mutex_duration"}}' >"$T/stc-mutex.json"

  # Pyroscope
  local ing="/ingest?name=svc%7Benv%3Dprod%7D&from=1763800000&until=1763800010"
  req p-method GET "$ing" -H "$B"
  check "pyroscope: GET /ingest is 405 in Pyroscope's shape" shape p-method 405 pyroscope
  check "pyroscope: the 405 says Allow: POST" grep -qi '^Allow: POST' "$T/p-method.hdr"
  req p-noauth POST "$ing" -F "profile=@$cpu;filename=profile.pprof"
  check "pyroscope: no credentials: 401 {code: unauthenticated}" shape p-noauth 401 pyroscope
  check "pyroscope: 401 code is unauthenticated" test "$(json_field p-noauth code)" = unauthenticated
  req p-badauth POST "$ing" -u "123:wrong" -F "profile=@$cpu;filename=profile.pprof"
  check "pyroscope: Basic with a wrong password: 401" shape p-badauth 401 pyroscope
  req p-basic POST "$ing" -u "123:$tok" -F "profile=@$cpu;filename=profile.pprof"
  check "pyroscope: Basic with the token as password: 200, empty body" ok_empty p-basic
  req p-nopart POST "$ing" -H "$B" -F "sample_type_config=@$T/stc-mutex.json;filename=sample_type_config.json"
  check "pyroscope: no profile part: 400" shape p-nopart 400 pyroscope
  check "pyroscope: the 400 says the profile part is missing" grep -q 'missing \\"profile\\" part' "$T/p-nopart.body"
  req p-boundary POST "$ing" -H "$B" -H 'Content-Type: multipart/form-data; boundary=""' --data-binary @"$cpu"
  check "pyroscope: malformed boundary: 400" shape p-boundary 400 pyroscope
  req p-garbage POST "$ing" -H "$B" -F "profile=@$T/garbage;filename=profile.pprof"
  check "pyroscope: garbage profile: 400" shape p-garbage 400 pyroscope
  req p-bomb POST "$ing" -H "$B" -F "profile=@$T/bomb.gz;filename=profile.pprof"
  check "pyroscope: gzip bomb: 413" shape p-bomb 413 pyroscope
  req p-huge POST "$ing" -H "$B" -F "profile=@$T/huge.bin;filename=profile.pprof"
  check "pyroscope: body over the limit (2 x --max-profile-bytes + 1 MiB): 413 in Pyroscope's shape" shape p-huge 413 pyroscope
  req p-hint POST "$ing" -H "$B" -F "profile=@$heap;filename=profile.pprof" \
    -F "sample_type_config=@$T/stc-mutex.json;filename=sample_type_config.json"
  check "pyroscope: mutex display-names on a heap profile: 422" shape p-hint 422 pyroscope
  req p-noname POST "/ingest?name=___%7Benv%3Dx%7D" -H "$B" -F "profile=@$cpu;filename=profile.pprof"
  check "pyroscope: a name that normalises to empty: 400" shape p-noname 400 pyroscope
  req p-format POST "$ing&format=jfr" -H "$B" --data-binary @"$cpu"
  check "pyroscope: format=jfr: 415" shape p-format 415 pyroscope
  req p-empty POST "$ing" -H "$B" -F "profile=@$T/empty.pb;filename=profile.pprof"
  check "pyroscope: an empty profile: 200, empty body" ok_empty p-empty
  req p-raw POST "/pyroscope/ingest?name=svc&format=pprof" -H "$B" --data-binary @"$cpu"
  check "pyroscope: /pyroscope/ingest with format=pprof and a raw body: 200" test "$(code p-raw)" = 200
  check "pyroscope: only the raw push after the refusals was stored (the CPU uploads get merged)" \
    test "$(metric pgopipe_push_uploads_total'{protocol="pyroscope",kind="cpu"}')" = 2

  # profefe (the agent cannot send credentials: with a token configured, curl sends Bearer)
  local pf="/api/0/profiles?service=checkout&type=cpu&labels=host%3Dweb-1"
  req f-method PUT "$pf" -H "$B" --data-binary @"$cpu"
  check "profefe: PUT: 405 in profefe's shape" shape f-method 405 profefe
  req f-noauth POST "$pf" --data-binary @"$cpu"
  check "profefe: no token: 401 {code:401,error}" shape f-noauth 401 profefe
  req f-noservice POST "/api/0/profiles?type=cpu" -H "$B" --data-binary @"$cpu"
  check "profefe: missing service: 400" shape f-noservice 400 profefe
  req f-type POST "/api/0/profiles?service=checkout&type=wall" -H "$B" --data-binary @"$cpu"
  check "profefe: unknown type: 400" shape f-type 400 profefe
  req f-hint POST "/api/0/profiles?service=checkout&type=heap" -H "$B" --data-binary @"$cpu"
  check "profefe: type=heap on a CPU profile: 422" shape f-hint 422 profefe
  req f-garbage POST "$pf" -H "$B" --data-binary @"$T/garbage"
  check "profefe: garbage: 400" shape f-garbage 400 profefe
  req f-bomb POST "$pf" -H "$B" --data-binary @"$T/bomb.gz"
  check "profefe: gzip bomb: 413" shape f-bomb 413 profefe
  req f-big POST "$pf" -H "$B" --data-binary @"$T/big.bin"
  check "profefe: body over --max-profile-bytes: 413 in profefe's shape" shape f-big 413 profefe
  req f-noname POST "/api/0/profiles?service=...&type=cpu" -H "$B" --data-binary @"$cpu"
  check "profefe: a service that normalises to empty: 400" shape f-noname 400 profefe
  n0=$(metric 'pgopipe_push_requests_total{protocol="profefe",outcome="stored"}')
  req f-empty POST "$pf" -H "$B" --data-binary @"$T/empty.pb"
  check "profefe: an empty profile: 200" test "$(code f-empty)" = 200
  check "profefe: ... with the envelope and an id" \
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["code"] == 200 and v["body"]["id"] and v["body"]["service"] == "checkout", v' "$T/f-empty.body"
  check "profefe: the empty profile was not stored" \
    test "$(metric 'pgopipe_push_requests_total{protocol="profefe",outcome="stored"}')" = "$n0"

  # the collision policy: api.v2 and api_v2 are one app, api-v2, with one
  # base per kind; each upload keeps its name (two hosts: two instances)
  req c1 POST "/api/0/profiles?service=api.v2&type=heap&labels=host%3Da" -H "$B" --data-binary @"$heap"
  req c2 POST "/api/0/profiles?service=api_v2&type=heap&labels=host%3Db" -H "$B" --data-binary @"$heap"
  req c3 POST "/api/0/profiles?service=api.v2&type=cpu" -H "$B" --data-binary @"$cpu"
  req c4 POST "/api/0/profiles?service=api_v2&type=cpu" -H "$B" --data-binary @"$SP/cpu2.pprof"
  check "collision: four pushes of api.v2 and api_v2 answered 200" \
    bash -c "[ \$(cat $T/c1.code $T/c2.code $T/c3.code $T/c4.code | tr -d '\n') = 200200200200 ]"
  check "collision: the profefe ids name the one app" \
    bash -c "for n in c1 c2 c3 c4; do python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))[\"body\"][\"id\"]; assert i.startswith(\"api-v2.\"), i' $T/\$n.body || exit 1; done"
  check "collision: the six uploads so far merged (staging empty, the worker idle)" wait_until 60 merged_all 6
  curl -s -o "$T/api-v2.cpu.pb.gz" "$API/api/profile/api-v2"
  curl -s -o "$T/api-v2.heap.pb.gz" "$API/api/profile/api-v2?kind=heap"
  check "collision: both CPU pushes merged into the one CPU base, api-v2/default.pgo" \
    "$AGENTS" compare "$cpu" "$SP/cpu2.pprof" -- "$T/api-v2.cpu.pb.gz"
  check "collision: both heap pushes (hosts a and b) in the one heap base, api-v2/kinds/heap.pgo" \
    "$AGENTS" compare "$heap" "$heap" -- "$T/api-v2.heap.pb.gz"
  check "collision: pgopipe list shows the one app with both kinds" \
    bash -c "'$BIN/pgopipe' list -u '$API' | grep -E '^api-v2[[:space:]]' | grep -q 'heap'"

  # traceway
  local tw="/api/profiles/ingest?service=checkout_api&serverName=web-1&appVersion=1.0"
  req t-noauth POST "$tw" --data-binary @"$cpu"
  check "traceway: no token: 401 with an empty body" shape t-noauth 401 traceway
  req t-badauth POST "$tw" -H "Authorization: Bearer nope" --data-binary @"$cpu"
  check "traceway: wrong token: 401 with an empty body" shape t-badauth 401 traceway
  req t-method GET "$tw" -H "$B"
  check "traceway: GET: 405 {error}" shape t-method 405 traceway
  req t-noservice POST "/api/profiles/ingest?serverName=web-1" -H "$B" --data-binary @"$cpu"
  check "traceway: missing service: 400 {error}" shape t-noservice 400 traceway
  req t-garbage POST "$tw" -H "$B" --data-binary @"$T/garbage"
  check "traceway: garbage: 400 {error}" shape t-garbage 400 traceway
  req t-enc POST "$tw" -H "$B" -H 'Content-Encoding: br' --data-binary @"$cpu"
  check "traceway: Content-Encoding br: 415 {error}" shape t-enc 415 traceway
  req t-big POST "$tw" -H "$B" --data-binary @"$T/big.bin"
  check "traceway: body over the limit: 413 {error}" shape t-big 413 traceway
  req t-ok POST "$tw" -H "$B" -H 'Content-Type: application/octet-stream' --data-binary @"$heap"
  check "traceway: a heap push: 200 {}" bash -c "[ \$(cat $T/t-ok.code) = 200 ] && [ \"\$(cat $T/t-ok.body)\" = '{}' ]"

  # the native route
  req n-hint POST "/api/profile/shop?kind=heap" -H "$B" --data-binary @"$cpu"
  check "native: ?kind=heap on a CPU profile: 422" shape n-hint 422 native
  req n-nokind POST "/api/profile/shop" -H "$B" --data-binary @"$heap"
  check "native: a heap profile without ?kind: 422 as before" shape n-nokind 422 native
  req n-badkind POST "/api/profile/shop?kind=wall" -H "$B" --data-binary @"$heap"
  check "native: ?kind=wall: 400" shape n-badkind 400 native
  req n-badlabel POST "/api/profile/shop?kind=heap&label=novalue" -H "$B" --data-binary @"$heap"
  check "native: ?label without '=': 400" shape n-badlabel 400 native
  req n-heap POST "/api/profile/shop?kind=heap&instance=host-1&label=env=prod&label=zone=eu" -H "$B" \
    --data-binary @"$heap"
  check "native: ?kind=heap&instance=host-1&label=...: 201" test "$(code n-heap)" = 201

  # pgopipe upload --kind / --instance
  cli() { PGOPIPE_AUTH_TOKEN=$tok "$BIN/pgopipe" upload -u "$API" "$@" >"$T/cli.out" 2>"$T/cli.err"; }
  check "pgopipe upload --kind heap --instance host-2: stored" cli -a shop --kind heap --instance host-2 "$heap"
  check "pgopipe upload prints the staged key" grep -q 'shop/staging/' "$T/cli.out"
  cli -a shop --kind heap "$cpu"
  check "pgopipe upload --kind heap of a CPU profile: exit 1 with the server's 422" \
    bash -c "[ $? = 1 ] && grep -q '422' '$T/cli.err' && grep -q 'contradicts' '$T/cli.err'"
  cli -a shop --instance host-2 "$heap"
  check "pgopipe upload --instance without --kind: usage error 2" test $? = 2
  cli -a shop --kind wall "$heap"
  check "pgopipe upload --kind wall: usage error 2" test $? = 2

  # what was stored: 9 uploads (2 Pyroscope CPU, the 4 of the collision,
  # traceway's heap, the native heap and the CLI's), all merged
  check "the 9 accepted uploads merged (staging empty, the worker idle)" wait_until 60 merged_all 9
  check "their 9 profile.uploaded and 9 profile.merged events read back" \
    bash -c "'$PT' events 'kafka://push-check?topic=profiles' 9 15000 profile.merged >'$T/events.jsonl'"
  check "no other upload was announced (every refusal stored nothing)" \
    test "$(events_where profile.uploaded True | wc -l)" = 9
  check "collision: the events of api-v2 keep the original names (api.v2 and api_v2 for each kind)" \
    test "$(events_where profile.uploaded 'e["app"] == "api-v2"' | python3 -c 'import json,sys; print(sorted((e["kind"], e["name"]) for e in map(json.loads, sys.stdin)))')" \
    = "[('cpu', 'api.v2'), ('cpu', 'api_v2'), ('heap', 'api.v2'), ('heap', 'api_v2')]"
  check "collision: the heap uploads are instances host=a and host=b of api-v2" \
    test "$(events_where profile.uploaded 'e["app"] == "api-v2" and e["kind"] == "heap"' | python3 -c 'import json,sys; print(sorted(e["instance"] for e in map(json.loads, sys.stdin)))')" \
    = "['host=a', 'host=b']"
  check "collision: profile.merged names api-v2/default.pgo twice and api-v2/kinds/heap.pgo twice" \
    test "$(events_where profile.merged 'e["app"] == "api-v2"' | python3 -c 'import json,sys; print(sorted(e["mergedKey"] for e in map(json.loads, sys.stdin)))')" \
    = "['api-v2/default.pgo', 'api-v2/default.pgo', 'api-v2/kinds/heap.pgo', 'api-v2/kinds/heap.pgo']"
  check "native: the record of ?kind=heap&instance=host-1&label=...: heap, cumulative, api, instance host-1, both labels" \
    test "$(events_where profile.uploaded 'e["app"] == "shop" and e.get("instance") == "host-1"' | python3 -c 'import json,sys; print([(e["kind"], e["mode"], e["source"], e["labels"]) for e in map(json.loads, sys.stdin)])')" \
    = "[('heap', 'cumulative', 'api', {'env': 'prod', 'zone': 'eu'})]"
  check "pgopipe upload --kind heap --instance host-2: its record says heap, cumulative, api" \
    test "$(events_where profile.uploaded 'e["app"] == "shop" and e.get("instance") == "host-2"' | python3 -c 'import json,sys; print([(e["kind"], e["mode"], e["source"]) for e in map(json.loads, sys.stdin)])')" \
    = "[('heap', 'cumulative', 'api')]"
  curl -s -o "$T/shop.heap.pb.gz" "$API/api/profile/shop?kind=heap"
  check "native: the shop heap base holds the first snapshots of host-1 and host-2" \
    "$AGENTS" compare "$heap" "$heap" -- "$T/shop.heap.pb.gz"
  curl -s -o "$T/checkout-api.heap.pb.gz" "$API/api/profile/checkout-api?kind=heap"
  check "traceway: the heap push is checkout-api's heap base" \
    "$AGENTS" compare "$heap" -- "$T/checkout-api.heap.pb.gz"

  check "server still healthy after all of it" bash -c "curl -sf $API/api/health >/dev/null"
  check "the layer's refusals on push routes are counted (413 on pyroscope)" \
    test "$(metric 'pgopipe_push_requests_total{protocol="pyroscope",outcome="too_big"}')" -ge 1
  check "401s counted per protocol" test "$(metric 'pgopipe_push_requests_total{protocol="traceway",outcome="unauthorized"}')" = 2
  check "empty pushes counted" test "$(metric 'pgopipe_push_requests_total{protocol="profefe",outcome="empty"}')" = 1
}

case $MODE in
  scenario:*) mode_scenario "${MODE#scenario:}" ;;
  s3kafka) mode_s3kafka ;;
  errors) mode_errors ;;
  *) echo "push-test.sh: unknown mode $MODE" >&2; exit 2 ;;
esac
finish
