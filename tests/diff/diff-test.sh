#!/usr/bin/env bash
# One differential test: runs pgopipe and the Go oracle (Go's own pprof
# package) on the same real profiles and compares canonical summaries.
# pgopipe's output file is read back by the oracle, i.e. by Go's parser, so
# every passing test also proves Go reads what pgopipe writes.
#
#   diff-test.sh merge [--drop RX [--keep RX]]... IN...   pgopipe merge  vs  Go Merge(+Prune)
#   diff-test.sh members N IN...                          the same, and pgopipe's output has >= N
#                                                         gzip members (as Go's gzip reader counts)
#   diff-test.sh prune --drop RX [--keep RX] IN           pgopipe prune  vs  Go Merge([IN])+Prune
#   diff-test.sh gotool IN...                             pgopipe merge  vs  `go tool pprof -proto`
#   diff-test.sh fail IN...                               both must fail, same message prefix,
#                                                         and pgopipe leaves no output file
# IN names are relative to $PROFILES and may be globs ('cpu/*'); '@cpuN' stands
# for N CPU profiles (all generated ones, cycled). Environment: PGOPIPE, ORACLE,
# PROFILES (set by tests/diff/CMakeLists.txt).
set -euo pipefail
: "${PGOPIPE:?}" "${ORACLE:?}" "${PROFILES:?}"
mode=${1:?mode}
shift
members=0
if [ "$mode" = members ]; then # members N IN...: merge, and pgopipe's output has at least N gzip members
  members=${1:?members N}
  mode=merge
  shift
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-diff.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Resolve arguments: options and their values pass through, inputs expand.
args=()
while [ $# -gt 0 ]; do
  case $1 in
  --drop | --keep)
    args+=("$1" "$2")
    shift 2
    ;;
  @cpu*)
    n=${1#@cpu}
    pool=("$PROFILES"/cpu/*.pb.gz "$PROFILES"/extra/*.pb.gz "$PROFILES"/testdata/sample.cpu.pb.gz)
    for ((i = 0; i < n; i++)); do args+=("${pool[i % ${#pool[@]}]}"); done
    shift
    ;;
  *)
    matched=0
    for f in "$PROFILES"/$1; do
      [ -e "$f" ] || { echo "no such profile: $1" >&2; exit 1; }
      args+=("$f")
      matched=1
    done
    [ $matched = 1 ] || { echo "no such profile: $1" >&2; exit 1; }
    shift
    ;;
  esac
done

out=$work/out.pb.gz
case $mode in
merge | prune)
  "$ORACLE" merge "${args[@]}" >"$work/want"
  "$PGOPIPE" "$mode" -o "$out" "${args[@]}"
  "$ORACLE" summary "$out" >"$work/got"
  if ! diff -u "$work/want" "$work/got" >"$work/diff"; then
    echo "MISMATCH: pgopipe $mode ${args[*]}"
    echo "--- want = Go pprof, +++ got = pgopipe (first 60 lines of the diff):"
    head -60 "$work/diff"
    exit 1
  fi
  if [ "$members" -gt 0 ]; then
    got_members=$("$ORACLE" members "$out")
    [ "$got_members" -ge "$members" ] ||
      { echo "FAIL: pgopipe's output has $got_members gzip members, want at least $members"; exit 1; }
    echo "pgopipe's output: $got_members gzip members, read by Go as one profile"
  fi
  echo "ok: $(grep -c '^stack:' "$work/want") distinct stacks, $(grep '^counts:' "$work/want")"
  ;;
gotool)
  go tool pprof -proto -symbolize=none "${args[@]}" >"$work/go.pb.gz" 2>"$work/go.err" ||
    { echo "go tool pprof failed:"; cat "$work/go.err"; exit 1; }
  "$ORACLE" summary "$work/go.pb.gz" >"$work/want"
  "$PGOPIPE" merge -o "$out" "${args[@]}"
  # The tool drops samples without locations (KNOWN_DIFFS.md, 1); pgopipe
  # keeps them as profile.Merge does: they leave the comparison, and the
  # sample count, here.
  "$ORACLE" summary "$out" | awk '
    /^stack: [^ ]+ [{][^}]*[}] *$/ { dropped++; next }
    { lines[n++] = $0 }
    END { for (i = 0; i < n; i++) {
            l = lines[i]
            if (l ~ /^counts: samples=/ && dropped) {
              c = substr(l, index(l, "samples=") + 8) + 0
              sub(/samples=[0-9]+/, "samples=" (c - dropped), l)
            }
            print l } }' >"$work/got"
  if ! diff -u "$work/want" "$work/got" >"$work/diff"; then
    echo "MISMATCH: pgopipe merge vs go tool pprof -proto ${args[*]}"
    head -60 "$work/diff"
    exit 1
  fi
  echo "ok: $(grep -c '^stack:' "$work/want") distinct stacks, $(grep '^counts:' "$work/want")"
  ;;
fail)
  set +e
  "$ORACLE" merge "${args[@]}" >/dev/null 2>"$work/want.err"
  orc=$?
  "$PGOPIPE" merge -o "$out" "${args[@]}" >/dev/null 2>"$work/got.err"
  prc=$?
  set -e
  echo "go:      exit $orc: $(cat "$work/want.err")"
  echo "pgopipe: exit $prc: $(cat "$work/got.err")"
  [ $orc = 1 ] || { echo "FAIL: Go did not fail"; exit 1; }
  [ $prc = 1 ] || { echo "FAIL: pgopipe exit $prc, want 1"; exit 1; }
  [ "$(wc -l <"$work/got.err")" = 1 ] || { echo "FAIL: pgopipe message is not one line"; exit 1; }
  [ ! -e "$out" ] || { echo "FAIL: output file left behind"; exit 1; }
  [ -z "$(ls "$work" | grep '\.tmp\.')" ] || { echo "FAIL: temporary file left behind"; exit 1; }
  # Same kind of error: Go's first three words ("incompatible period types").
  prefix=$(sed -n '1s/^error: \(\S*\s\S*\s\S*\).*/\1/p' "$work/want.err")
  grep -qF -- "$prefix" "$work/got.err" || { echo "FAIL: pgopipe's message lacks \"$prefix\""; exit 1; }
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
