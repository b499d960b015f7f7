#!/usr/bin/env bash
# discovery_test.sh — pgopipe-scraper finding its targets instead of reading
# a file, against real processes: two Go scrape targets, a running pipeline
# (stack.sh) and fakekube, a FAKE Kubernetes API server (no Kubernetes API
# server runs on the test machines): it serves a recorded PodList
# (fixtures/kube-pods.json, in the API's JSON shape, the Go targets' ports
# filled in) over TLS with a certificate of its own, filters it by the
# request's selectors as the API server does, pages it one pod at a time
# and requires a bearer token. It also serves a Prometheus http_sd document.
#
# Proves, --mode kube: the request autopgo's scraper makes (all namespaces,
# labelSelector autopgo.scrape=true,autopgo.scrape.app=APP, fieldSelector
# status.phase=Running), the token and CA from files, pages followed, pod IP
# and autopgo.scrape.port as the target, pods without the port annotation
# left out and logged, uploads reaching the base; a refused token (rotated
# file) → health dependency "targets" unhealthy, the previous targets kept
# and scraped, healthy again when the token is right; the API server from
# KUBERNETES_SERVICE_HOST/PORT and the mode from AUTOPGO_MODE.
# --targets-url: another app's group left out, SIGHUP refreshes at once, a
# bad document keeps the previous targets and says why on /api/health.
# Usage errors of the new flags exit 2.
#
#   discovery_test.sh BIN_DIR GOTARGET FAKEKUBE FIXTURE_DIR
set -u
BIN=$(cd "$1" && pwd)
GOTARGET=$(realpath "$2")
FAKEKUBE=$(realpath "$3")
FIXTURES=$(cd "$4" && pwd)
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
check "--help lists --mode, --targets-url, --targets-refresh and the --kube-* flags" \
  bash -c "[ $RC -eq 0 ] && grep -q -- --mode '$T/help.out' && grep -q -- --targets-url '$T/help.out' &&
           grep -q -- --targets-refresh '$T/help.out' && grep -q -- --kube-api-url '$T/help.out' &&
           grep -q -- --kube-token-file '$T/help.out' && grep -q -- --kube-ca-file '$T/help.out'"
run u1 "$S" -a demo --mode kube "$T/kubeconfig"
check "--mode kube with a kubeconfig argument: usage error 2 saying kubeconfig files are not read" \
  bash -c "[ $RC -eq 2 ] && grep -q 'kubeconfig' '$T/u1.err'"
run u2 "$S" -a demo --mode ec2
check "--mode ec2: usage error 2" bash -c "[ $RC -eq 2 ] && grep -q 'want file, http or kube' '$T/u2.err'"
run u3 "$S" -a demo --targets-url ftp://x/sd
check "--targets-url ftp://: usage error 2" test $RC -eq 2
run u4 "$S" -a demo --mode http
check "--mode http without --targets-url: usage error 2" test $RC -eq 2
run u5 "$S" -a demo --mode kube --targets-url http://127.0.0.1:1/sd
check "--mode kube with --targets-url: usage error 2" test $RC -eq 2
run u6 "$S" -a demo --targets-url http://127.0.0.1:1/sd --targets-refresh 10ms
check "--targets-refresh below 1s: usage error 2" test $RC -eq 2
run u7 "$S" -a demo --targets-url http://127.0.0.1:1/sd "$T/targets.json"
check "--targets-url with a TARGETS.json argument: usage error 2" test $RC -eq 2

# ---- the world ----
start_stack
start_gotarget g1
G1=$GT_URL
start_gotarget g2
G2=$GT_URL
KTOKEN="kube-$RANDOM$RANDOM"
printf '%s\n' "$KTOKEN" >"$T/kube-token"
mkdir -p "$T/kube"
echo '[]' >"$T/sd.json"
"$FAKEKUBE" -fixture "$FIXTURES/kube-pods.json" -token "$KTOKEN" -dir "$T/kube" -page 1 \
  -var "PORT_A=${G1##*:}" -var "PORT_B=${G2##*:}" -sd "$T/sd.json" 2>"$T/fakekube.log" &
PIDS+=($!)
wait_until 20 test -s "$T/kube/api.url" || { echo "fakekube did not start" >&2; cat "$T/fakekube.log" >&2; exit 1; }
KAPI=$(cat "$T/kube/api.url")
SD=$(cat "$T/kube/sd.url")

metric() { # URL NAME_WITH_LABELS → value (0 when absent)
  curl -fsS "$1/metrics" 2>/dev/null | awk -v n="$2" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
at_least() { awk -v a="$(metric "$1" "$2")" -v b="$3" 'BEGIN {exit !(a + 0 >= b + 0)}'; }
is() { [ "$(metric "$1" "$2")" = "$3" ]; }
health() { # URL CODE: /api/health answers CODE (its body in $T/health.json)
  local code
  code=$(curl -s -o "$T/health.json" -w '%{http_code}' "$1/api/health")
  [ "$code" = "$2" ]
}
# health_says URL CODE TEXT...: answers CODE and its body has every TEXT
health_says() {
  local u=$1 c=$2 x
  shift 2
  health "$u" "$c" || return 1
  for x in "$@"; do grep -qF -- "$x" "$T/health.json" || return 1; done
}

# ---- --mode kube against the fake API server ----
"$S" -u "$API" -a demo --auth-token-file "$TOKEN_FILE" -f 2s -d 1s --timeout-margin 1s -p 0 \
  --mode kube --kube-api-url "$KAPI" --kube-token-file "$T/kube-token" --kube-ca-file "$T/kube/ca.crt" \
  --targets-refresh 1s 2>"$T/kube-scraper.log" &
KP=$!
PIDS+=($KP)
check "kube: scraper starts" wait_until 15 have_port "$T/kube-scraper.log" "scraper started"
K="http://127.0.0.1:$(log_port "$T/kube-scraper.log" "scraper started")"
check "kube: 2 targets (the running demo pods with a port)" wait_until 10 is "$K" pgopipe_scraper_targets 2
check "kube: the request of autopgo's scraper, all namespaces, with the token" \
  grep -qF "GET /api/v1/pods labelSelector=autopgo.scrape%3Dtrue%2Cautopgo.scrape.app%3Ddemo&fieldSelector=status.phase%3DRunning&limit=500 auth=true" "$T/kube/requests.log"
check "kube: pages followed (continue tokens sent)" grep -q 'continue=' "$T/kube/requests.log"
check "kube: the pod without autopgo.scrape.port left out, logged with namespace/name" \
  bash -c "grep '\"msg\":\"discovered target left out\"' '$T/kube-scraper.log' | grep -q 'shop/demo-7f9c6d5b8-noport'"
check "kube: health names the dependency targets, healthy" \
  health_says "$K" 200 '{"name":"targets","status":"healthy"}'
check "kube: ok scrapes of the pods (>= 4)" wait_until 30 at_least "$K" 'pgopipe_scraper_scrapes_total{outcome="ok"}' 4
check "kube: scrapes went to the pods' IP:port" \
  bash -c "grep -qF '${G1}' '$T/kube-scraper.log' && grep -qF '${G2}' '$T/kube-scraper.log'"
check "kube: uploads counted (>= 4)" at_least "$K" pgopipe_scraper_uploads_total 4
base_has_funcs() {
  "$P" download -u "$API" demo -o "$T/base.pgo" >/dev/null 2>&1 &&
    "$P" inspect --top 40 "$T/base.pgo" 2>/dev/null | grep -q 'main\.hashWork'
}
check "kube: the worker's merged base contains main.hashWork (<= 30 s)" wait_until 30 base_has_funcs

# the token file rotates to one the API server refuses
printf 'revoked\n' >"$T/kube-token"
check "kube: refused token → /api/health 503, targets unhealthy with the 401" \
  wait_until 10 health_says "$K" 503 '"name":"targets","status":"unhealthy"' 401
check "kube: discovery errors counted" at_least "$K" 'pgopipe_scraper_discoveries_total{result="error"}' 1
check "kube: the previous 2 targets kept" is "$K" pgopipe_scraper_targets 2
o1=$(metric "$K" 'pgopipe_scraper_scrapes_total{outcome="ok"}')
check "kube: and still scraped" wait_until 30 at_least "$K" 'pgopipe_scraper_scrapes_total{outcome="ok"}' $((o1 + 2))
printf '%s\n' "$KTOKEN" >"$T/kube-token"
check "kube: right token again → healthy" wait_until 10 health "$K" 200
kill -TERM $KP
wait $KP
check "kube: SIGTERM → exit 0" test $? -eq 0

# the API server from the in-cluster variables, the mode from autopgo's variable
KH=${KAPI#https://}
KUBERNETES_SERVICE_HOST=${KH%:*} KUBERNETES_SERVICE_PORT=${KH##*:} AUTOPGO_MODE=kube AUTOPGO_APP=demo \
  "$S" -u "$API" --auth-token-file "$TOKEN_FILE" -f 1h -p 0 \
  --kube-token-file "$T/kube-token" --kube-ca-file "$T/kube/ca.crt" 2>"$T/kube-env.log" &
KE=$!
PIDS+=($KE)
check "kube from KUBERNETES_SERVICE_HOST/PORT and AUTOPGO_MODE: starts" \
  wait_until 15 have_port "$T/kube-env.log" "scraper started"
KM="http://127.0.0.1:$(log_port "$T/kube-env.log" "scraper started")"
check "kube from the environment: 2 targets" wait_until 10 is "$KM" pgopipe_scraper_targets 2
kill -TERM $KE
wait $KE
check "kube from the environment: exit 0" test $? -eq 0

# without a CA to trust, the fake's certificate is refused (TLS is verified)
"$S" -u "$API" -a demo --auth-token-file "$TOKEN_FILE" -f 1h -p 0 --mode kube --kube-api-url "$KAPI" \
  --kube-token-file "$T/kube-token" --kube-ca-file "$T/no-such-ca.crt" 2>"$T/kube-noca.log" &
KN=$!
PIDS+=($KN)
check "kube without its CA file: starts" wait_until 15 have_port "$T/kube-noca.log" "scraper started"
check "kube without its CA file: unhealthy, naming the CA file" \
  health_says "http://127.0.0.1:$(log_port "$T/kube-noca.log" "scraper started")" 503 no-such-ca.crt
kill -TERM $KN
wait $KN

# ---- --targets-url (Prometheus http_sd) ----
cat >"$T/sd.json" <<EOF
[{"targets": ["${G1#http://}"], "labels": {"job": "demo"}},
 {"targets": ["${G2#http://}"], "labels": {"autopgo.scrape.app": "billing"}}]
EOF
"$S" -u "$API" -a demo --auth-token-file "$TOKEN_FILE" -f 2s -d 1s --timeout-margin 1s -p 0 \
  --targets-url "$SD" --targets-refresh 1h 2>"$T/sd-scraper.log" &
HP=$!
PIDS+=($HP)
check "http_sd: scraper starts" wait_until 15 have_port "$T/sd-scraper.log" "scraper started"
H="http://127.0.0.1:$(log_port "$T/sd-scraper.log" "scraper started")"
check "http_sd: 1 target (billing's group left out)" wait_until 10 is "$H" pgopipe_scraper_targets 1
check "http_sd: ok scrapes (>= 2)" wait_until 30 at_least "$H" 'pgopipe_scraper_scrapes_total{outcome="ok"}' 2
check "http_sd: healthy" health "$H" 200
cat >"$T/sd.json" <<EOF
[{"targets": ["${G1#http://}", "${G2#http://}"], "labels": {"autopgo.scrape.app": "demo"}}]
EOF
kill -HUP $HP
check "http_sd: SIGHUP fetches the document at once: 2 targets" wait_until 10 is "$H" pgopipe_scraper_targets 2
echo '[{"targets": "not a list"}]' >"$T/sd.json"
kill -HUP $HP
check "http_sd: a bad document → unhealthy, naming the URL" wait_until 10 health_says "$H" 503 "$SD"
check "http_sd: the previous 2 targets kept" is "$H" pgopipe_scraper_targets 2
check "http_sd: discovery error counted" at_least "$H" 'pgopipe_scraper_discoveries_total{result="error"}' 1
check "http_sd: discovery error logged" \
  grep -q '"msg":"target discovery failed; keeping the previous targets"' "$T/sd-scraper.log"
kill -TERM $HP
wait $HP
check "http_sd: SIGTERM → exit 0" test $? -eq 0

finish
