#!/usr/bin/env bash
# readme-check.sh SRC_DIR BIN_DIR — README.md cannot drift from the binaries.
#
# Every flag (--name, and -x short forms) and every PGOPIPE_* variable that a
# binary's --help shows (pgopipe-server, pgopipe-worker, pgopipe-scraper, and
# pgopipe with each verb's --help) must appear in README.md; every verb of
# `pgopipe --help` too. The two commands at the top must be there verbatim,
# .ci/run must run exactly the README's test command, and every
# tests/bench/*.sh must be mentioned.
set -u
SRC=$(cd "$1" && pwd)
BIN=$(cd "$2" && pwd)
R=$SRC/README.md
FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*" >&2; }
has() { grep -qF -- "$1" "$R"; }

tokens() { # help text on stdin: its long flags, short flags and env variables
  grep -oE -- '(^|[ ,\[])(--[a-z][a-z0-9-]*|-[a-zA-Z]|\$?PGOPIPE_[A-Z_]+)' | sed 's/^[ ,\[]//; s/^\$//' | sort -u
}
for b in pgopipe-server pgopipe-worker pgopipe-scraper; do
  "$BIN/$b" --help >/tmp/readme-help.$$ 2>&1 || fail "$b --help exits non-zero"
  n=0
  while read -r t; do
    n=$((n + 1))
    if has "$t"; then ok; else fail "README.md does not mention $b's $t"; fi
  done < <(tokens </tmp/readme-help.$$)
  [ "$n" -ge 10 ] || fail "$b --help: only $n flags found (parser broken?)"
  echo "# $b: $n flags and variables checked"
done
verbs=$("$BIN/pgopipe" --help 2>&1 | sed -n '/^Verbs:/,/^$/p' | awk 'NF && !/Verbs:/ {print $1}')
[ "$(echo "$verbs" | wc -w)" -ge 8 ] || fail "pgopipe --help: verbs not found"
for v in $verbs; do
  if has "pgopipe $v"; then ok; else fail "README.md does not mention pgopipe $v"; fi
  "$BIN/pgopipe" "$v" --help >/tmp/readme-help.$$ 2>&1
  while read -r t; do
    if has "$t"; then ok; else fail "README.md does not mention pgopipe $v's $t"; fi
  done < <(tokens </tmp/readme-help.$$)
done
rm -f /tmp/readme-help.$$
first='./deploy/install-deps.sh && cmake -S . -B build && cmake --build build -j && build/bin/pgopipe-server'
if has "$first"; then ok; else fail "README.md lacks the first command: $first"; fi
if has './tests/run.sh'; then ok; else fail "README.md lacks ./tests/run.sh"; fi
if grep -qx './tests/run.sh' "$SRC/.ci/run" && [ -x "$SRC/.ci/run" ]; then ok; else fail ".ci/run does not run exactly ./tests/run.sh (or is not executable)"; fi
for s in "$SRC"/tests/bench/*.sh; do
  if has "tests/bench/$(basename "$s")"; then ok; else fail "README.md does not mention tests/bench/$(basename "$s")"; fi
done
for f in "$SRC"/config/*; do
  if has "config/$(basename "$f")"; then ok; else fail "README.md does not mention config/$(basename "$f")"; fi
done
echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
