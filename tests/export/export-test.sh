#!/usr/bin/env bash
# export-test.sh — pgopipe's exports of real Go profiles, each checked
# against its consumer and against Go's pprof.
#
#   export-test.sh formats PROFILE      every format of one profile
#   export-test.sh diff BASE NEW        the diff tree JSON of two profiles
#   export-test.sh incompatible BASE NEW   a diff of two kinds of profile is refused
#   export-test.sh top PROFILE          the tree JSON's top table = `go tool pprof -top`
#   export-test.sh cli PROFILE          the `pgopipe export` command line
#   export-test.sh bad CORPUS           every broken input of the CLI corpus is refused
#
# Environment: PGOPIPE, EXTOOL (pgopipe_extool), REF (tests/export/ref, Go's
# pprof package), PROFILES (generated profiles; relative PROFILE paths are
# relative to it), NODE_DIR (tests/export/node, packages installed), SHARE
# (collapse share of the tree checks, default 0.01).
#
# formats: folded stacks of every sample type must be byte for byte what
# REF writes from Go's parse of the profile; then check.js rebuilds the
# stacks from speedscope (validated against speedscope's published schema),
# chrome (node/parent/sample consistency, full and scaled) and the tree JSON
# (full and collapsed) and compares them with those folded stacks and with
# the totals Go computes.
set -euo pipefail
: "${PGOPIPE:?}" "${EXTOOL:?}" "${REF:?}" "${PROFILES:?}" "${NODE_DIR:?}"
share=${SHARE:-0.01}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-export.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
prof() { case $1 in /*) echo "$1" ;; *) echo "$PROFILES/$1" ;; esac; }

ntypes() { grep -vc '^default ' "$1" || true; }

formats() {
  local in d=$work/f
  in=$(prof "$1")
  mkdir -p "$d"
  "$REF" totals "$in" >"$d/totals.txt"
  local n def
  n=$(ntypes "$d/totals.txt")
  def=$(sed -n 's/^default //p' "$d/totals.txt")
  for ((i = 0; i < n; i++)); do
    "$REF" folded -i "$i" "$in" >"$d/ref.$i"
    "$PGOPIPE" export -f folded --sample-type "$i" -o "$d/folded.$i" "$in"
    if ! cmp -s "$d/ref.$i" "$d/folded.$i"; then
      diff -u "$d/ref.$i" "$d/folded.$i" | head -20
      fail "$1: folded stacks of sample type $i differ from Go's (want = Go)"
    fi
    "$EXTOOL" tree --share 0 --type "$i" "$in" >"$d/tree.$i.json"
  done
  if [ "$n" -gt 0 ]; then
    "$PGOPIPE" export -f folded -o - "$in" | cmp -s - "$d/folded.$def" ||
      fail "$1: folded without --sample-type is not the default sample type ($def)"
  fi
  "$EXTOOL" tree --share "$share" "$in" >"$d/tree-share.json"
  "$PGOPIPE" export -f speedscope -o "$d/speedscope.json" "$in"
  # Same bytes on a second run (hash seeds differ from run to run).
  "$PGOPIPE" export -f speedscope -o - "$in" | cmp -s - "$d/speedscope.json" || fail "$1: speedscope output is not deterministic"
  local ci
  ci=$(awk '$1 == "samples" && $2 == "count" { print NR - 1; exit }' "$d/totals.txt")
  if [ -n "$ci" ] && awk '$NF < 0 { bad = 1 } END { exit !bad }' "$d/folded.$ci"; then
    # Negative counts (a difference of profiles): refused.
    if "$PGOPIPE" export -f chrome -o "$d/chrome.cpuprofile" "$in" 2>"$d/err"; then
      fail "$1: chrome export of negative counts succeeded"
    fi
    grep -q "negative sample counts" "$d/err" || fail "$1: chrome refusal says: $(cat "$d/err")"
  elif [ -n "$ci" ] && grep -q '^cpu nanoseconds ' "$d/totals.txt"; then
    "$PGOPIPE" export -f chrome -o "$d/chrome.cpuprofile" "$in"
    echo 37 >"$d/chrome-small.max"
    "$PGOPIPE" export -f chrome --max-samples 37 -o "$d/chrome-small.cpuprofile" "$in"
  else
    if "$PGOPIPE" export -f chrome -o "$d/chrome.cpuprofile" "$in" 2>"$d/err"; then
      fail "$1: chrome export of a profile that is not a CPU profile succeeded"
    fi
    grep -q "needs a CPU profile" "$d/err" || fail "$1: chrome refusal says: $(cat "$d/err")"
    [ ! -e "$d/chrome.cpuprofile" ] || fail "$1: a refused export left an output file"
  fi
  node "$NODE_DIR/check.js" formats "$d" "$share"
  echo "ok: $1: $n sample types, $(wc -l <"$d/folded.${def:-0}" 2>/dev/null || echo 0) stacks"
}

diffcmd() {
  local base new d=$work/d
  base=$(prof "$1")
  new=$(prof "$2")
  mkdir -p "$d"
  "$REF" totals "$base" >"$d/base-totals.txt"
  "$REF" totals "$new" >"$d/new-totals.txt"
  local def type unit j
  def=$(sed -n 's/^default //p' "$d/new-totals.txt")
  read -r type unit _ < <(sed -n "$((def + 1))p" "$d/new-totals.txt")
  j=$(awk -v t="$type" -v u="$unit" '$1 == t && $2 == u { print NR - 1; exit }' "$d/base-totals.txt")
  [ -n "$j" ] || fail "$1 has no sample type $type/$unit"
  "$REF" folded -i "$def" "$new" >"$d/new.folded"
  "$REF" folded -i "$j" "$base" >"$d/base.folded"
  "$EXTOOL" diff --share 0 "$base" "$new" >"$d/diff.json"
  "$EXTOOL" diff --share "$share" "$base" "$new" >"$d/diff-share.json"
  node "$NODE_DIR/check.js" diff "$d" "$share"
}

top() {
  local in
  in=$(prof "$1")
  local pprof
  pprof=$(go env GOTOOLDIR)/pprof
  "$EXTOOL" tree --share "$share" "$in" >"$work/tree.json"
  node "$NODE_DIR/check.js" top "$work/tree.json" >"$work/got"
  local unit
  unit=$(node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(d.unit)' "$work/tree.json")
  case $unit in nanoseconds) unit=ns ;; bytes) unit=B ;; *) unit= ;; esac
  "$pprof" -top -nodecount=1000000 -nodefraction=0 ${unit:+-unit=$unit} -symbolize=none "$in" 2>"$work/err" >"$work/go.txt" ||
    { cat "$work/err"; exit 1; }
  # Rows after the header: flat flat% sum% cum cum% name...; units and
  # pprof's inline markers stripped. Compared in order: same sort as pprof.
  awk 'f { n = $6; for (i = 7; i <= NF; i++) n = n " " $i
           sub(/ \((partial-)?inline\)$/, "", n)
           sub(/[^0-9-]+$/, "", $1); sub(/[^0-9-]+$/, "", $4); print $1, $4, n }
       /flat%/ { f = 1 }' "$work/go.txt" >"$work/want"
  [ -s "$work/want" ] || fail "pprof listed no functions for $1"
  # Samples without locations: pprof counts them in its total but lists no
  # function for them; the tree names them "[no stack]" (export.h), a row
  # pprof does not have (tests/diff/KNOWN_DIFFS.md, 1). That row leaves the
  # comparison, and must hold exactly what pprof's rows leave of its total
  # (every other sample adds its value to the flat of one row).
  local nostack gototal rest
  nostack=$(awk '/^-?[0-9]+ -?[0-9]+ \[no stack\]$/ { print $1 }' "$work/got")
  awk '!/^-?[0-9]+ -?[0-9]+ \[no stack\]$/' "$work/got" >"$work/got.rows" && mv "$work/got.rows" "$work/got"
  gototal=$(awk '/^Showing nodes accounting for / { t = $(NF - 1); sub(/[^0-9-]+$/, "", t); print t; exit }' "$work/go.txt")
  if [[ $gototal =~ ^-?[0-9]+$ ]]; then
    rest=$(awk -v t="$gototal" '{ t -= $1 } END { printf "%.0f\n", t }' "$work/want")
    [ "$rest" = "${nostack:-0}" ] ||
      fail "$1: [no stack] row holds ${nostack:-nothing}, pprof's total less its rows' flat is $rest"
    [ -z "$nostack" ] || echo "ok: $1: [no stack] row ($nostack) = pprof's total less its rows"
  elif [ -n "$nostack" ]; then
    fail "$1: a [no stack] row, and no total in go tool pprof -top's header to check it against"
  fi
  if ! diff -u "$work/want" "$work/got" >"$work/diff"; then
    head -30 "$work/diff"
    fail "$1: tree JSON top table differs from go tool pprof -top (want = Go)"
  fi
  echo "ok: $1: $(wc -l <"$work/want") top rows equal go tool pprof -top, in its order"
}

cli() {
  local in rc
  in=$(prof "$1")
  cd "$work"
  "$PGOPIPE" export --help >help.txt || fail "--help exits $?"
  for f in pprof folded speedscope chrome; do grep -q "^  $f " help.txt || fail "--help does not list $f"; done
  grep -q "^Examples:" help.txt || fail "--help has no examples"
  expect_usage() { # expect exit 2 and a message matching $1 for the rest
    local want=$1
    shift
    rc=0
    "$PGOPIPE" export "$@" >out.txt 2>err.txt || rc=$?
    [ "$rc" = 2 ] || fail "export $* exits $rc, want 2"
    grep -q -- "$want" err.txt || fail "export $*: message \"$(cat err.txt)\" lacks \"$want\""
  }
  expect_usage 'unknown format "svg" (formats: pprof, folded, speedscope, chrome, pgo, preprofile)' -f svg "$in"
  expect_usage "missing -f FORMAT" "$in"
  expect_usage "want exactly one input profile, got 2" -f folded "$in" "$in"
  expect_usage "want exactly one input profile, got 0" -f folded
  expect_usage "--max-samples does not apply to the folded format" -f folded --max-samples 5 "$in"
  expect_usage "--sample-type does not apply to the chrome format" -f chrome --sample-type cpu "$in"
  expect_usage "--keep does not apply to the speedscope format" -f speedscope --keep 2 "$in"
  expect_usage "--max-samples wants a number" -f chrome --max-samples 0 "$in"
  expect_usage "unknown option --bogus" -f folded --bogus "$in"
  rc=0
  "$PGOPIPE" export -f folded --sample-type nope -o x.folded "$in" 2>err.txt || rc=$?
  [ "$rc" = 1 ] && grep -q 'sample type "nope" is not in the profile' err.txt || fail "bad sample type: exit $rc, $(cat err.txt)"
  [ ! -e x.folded ] || fail "a failed export left its output file"
  # Default output names, in the current directory.
  cp "$in" ./cpu.pb.gz
  "$PGOPIPE" export -f folded cpu.pb.gz && [ -s cpu.folded ] || fail "default name cpu.folded"
  "$PGOPIPE" export -f speedscope cpu.pb.gz && [ -s cpu.speedscope.json ] || fail "default name cpu.speedscope.json"
  "$PGOPIPE" export -f chrome cpu.pb.gz && [ -s cpu.cpuprofile ] || fail "default name cpu.cpuprofile"
  cp cpu.pb.gz default.pgo
  "$PGOPIPE" export -f folded default.pgo && cmp -s default.folded cpu.folded || fail "default name default.folded"
  "$PGOPIPE" export -f folded - <cpu.pb.gz && cmp -s profile.folded cpu.folded || fail "standard input -> profile.folded"
  mkdir sub && "$PGOPIPE" export -f folded "$work/cpu.pb.gz" && [ ! -e sub/cpu.folded ] || fail "output not in the current directory"
  # The derived name of -f pprof would be the input itself: refused, input intact.
  local sum
  sum=$(sha256sum cpu.pb.gz)
  expect_usage "the default output name is the input file itself" -f pprof cpu.pb.gz
  [ "$(sha256sum cpu.pb.gz)" = "$sum" ] || fail "the input was overwritten"
  "$PGOPIPE" export -f pprof -o copy.pb.gz cpu.pb.gz
  [ "$("$PGOPIPE" inspect --top 0 copy.pb.gz | grep Totals)" = "$("$PGOPIPE" inspect --top 0 cpu.pb.gz | grep Totals)" ] ||
    fail "pprof export changed the totals"
  "$PGOPIPE" export -f folded -o - cpu.pb.gz | cmp -s - cpu.folded || fail "-o - writes standard output"
  rc=0
  "$PGOPIPE" export -f folded -o no/such/dir/x.folded cpu.pb.gz 2>err.txt || rc=$?
  [ "$rc" = 1 ] && grep -q "no/such/dir/x.folded" err.txt || fail "unwritable output: exit $rc, $(cat err.txt)"
  echo "ok: pgopipe export command line"
}

incompatible() {
  local rc=0
  "$EXTOOL" diff "$(prof "$1")" "$(prof "$2")" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = 1 ] || fail "diff of $1 and $2 exits $rc, want 1"
  grep -q "cannot compare: the base profile has no sample type" "$work/err" || fail "diff of $1 and $2 says: $(cat "$work/err")"
  [ ! -s "$work/out" ] || fail "a refused diff wrote output"
  echo "ok: $(cat "$work/err")"
}

bad() {
  local corpus=$1 n=0 rc
  while read -r f; do
    for fmt in folded speedscope chrome; do
      rc=0
      timeout 20 "$PGOPIPE" export -f "$fmt" -o "$work/out" "$corpus/$f" 2>"$work/err" || rc=$?
      [ "$rc" = 1 ] || fail "export -f $fmt $f exits $rc, want 1 ($(cat "$work/err"))"
      [ "$(wc -l <"$work/err")" = 1 ] && grep -q "^pgopipe export: " "$work/err" || fail "export -f $fmt $f: message $(cat "$work/err")"
      [ ! -e "$work/out" ] || fail "export -f $fmt $f left an output file"
      n=$((n + 1))
    done
  done <"$corpus/LIST"
  echo "ok: $n broken inputs refused"
}

case ${1:-} in
  formats) formats "$2" ;;
  diff) diffcmd "$2" "$3" ;;
  incompatible) incompatible "$2" "$3" ;;
  top) top "$2" ;;
  cli) cli "$2" ;;
  bad) bad "$2" ;;
  *) echo "usage: export-test.sh formats|diff|top|cli|bad ..." >&2; exit 2 ;;
esac
