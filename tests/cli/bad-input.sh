#!/usr/bin/env bash
# One bad-input case: every offline verb must refuse the file with exit 1, one
# line on stderr naming the file, no output file and no temporary file left,
# within a time bound (a gzip bomb is refused at the size limit, not after
# inflating a gibibyte). Under the ASan build a leak or memory error changes
# the exit status, so the same check proves "no crash, no leak".
#
#   bad-input.sh PGOPIPE CORPUS_DIR NAME
set -uo pipefail
pgopipe=$1 dir=$2 name=$3
in=$dir/$name
[ -e "$in" ] || { echo "missing corpus file $in"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-bad.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail=0

check() { # label, command...
  local label=$1
  shift
  local start end rc
  start=$(date +%s%N)
  "$@" >"$work/stdout" 2>"$work/stderr"
  rc=$?
  end=$(date +%s%N)
  local ms=$(((end - start) / 1000000))
  echo "$label: exit $rc in ${ms} ms: $(head -c 300 "$work/stderr")"
  if [ $rc != 1 ]; then echo "  FAIL: want exit 1"; fail=1; fi
  if [ "$(wc -l <"$work/stderr")" != 1 ]; then echo "  FAIL: want exactly one line on stderr"; cat "$work/stderr"; fail=1; fi
  local shown=$name
  [ "$label" = stdin ] && shown="standard input"
  if ! grep -qF -- "$shown" "$work/stderr"; then echo "  FAIL: message does not name the file"; fail=1; fi
  if [ -e "$work/out.pb.gz" ]; then echo "  FAIL: output file left behind"; fail=1; fi
  if ls "$work" | grep -q '\.tmp\.'; then echo "  FAIL: temporary file left behind"; fail=1; fi
  if [ "$ms" -gt "${BAD_INPUT_MAX_MS:-60000}" ]; then echo "  FAIL: took too long"; fail=1; fi
}

# A gzip bomb must be refused at its first chunk, not after inflating up to
# the limit: a bound of seconds (generous for sanitizer builds on a loaded
# machine) where inflating 512 MiB would take far longer.
case $name in *bomb*) export BAD_INPUT_MAX_MS=${BAD_INPUT_BOMB_MAX_MS:-5000} ;; esac
check merge "$pgopipe" merge -o "$work/out.pb.gz" "$in"
check merge-after-good "$pgopipe" merge -o "$work/out.pb.gz" "$dir/good.pb" "$in"
check prune "$pgopipe" prune -o "$work/out.pb.gz" --drop '^runtime\.' "$in"
check inspect "$pgopipe" inspect "$in"
check stdin "$pgopipe" merge -o "$work/out.pb.gz" - <"$in"
exit $fail
