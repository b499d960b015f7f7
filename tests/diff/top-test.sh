#!/usr/bin/env bash
# `pgopipe inspect --top` against `go tool pprof -top`: for one profile, every
# function's flat and cumulative value of the default sample type must be the
# same (pprof run with no node dropping, values in raw units, inline markers
# stripped from names; compared as sorted sets so tie order does not matter).
#
#   top-test.sh PROFILE            (environment: PGOPIPE, PROFILES)
set -euo pipefail
: "${PGOPIPE:?}" "${PROFILES:?}"
in=$PROFILES/$1
work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-top.XXXXXX")
trap 'rm -rf "$work"' EXIT
pprof=$(go env GOTOOLDIR)/pprof
"$PGOPIPE" inspect --top 1000000 "$in" >"$work/pg.txt"
# Ask pprof for values in the profile's own unit (no scaling).
unit=$(sed -n 's/^Sample types:.*(default [^/]*\/\(.*\))$/\1/p' "$work/pg.txt")
case $unit in nanoseconds) unit=ns ;; bytes) unit=B ;; *) unit= ;; esac
"$pprof" -top -nodecount=1000000 -nodefraction=0 ${unit:+-unit=$unit} -symbolize=none "$in" 2>"$work/err" >"$work/go.txt" ||
  { cat "$work/err"; exit 1; }
# Lines after the header: flat flat% sum% cum cum% name...; units stripped.
awk 'f { n = $6; for (i = 7; i <= NF; i++) n = n " " $i
         sub(/ \((partial-)?inline\)$/, "", n)
         sub(/[^0-9-]+$/, "", $1); sub(/[^0-9-]+$/, "", $4); print $1, $4, n }
     /flat%/ { f = 1 }' "$work/go.txt" | sort >"$work/want"
awk '/^Top .* by flat/ { f = 1; next } /^Top .* by cum/ { f = 0 }
     f && NF >= 5 && $1 ~ /^-?[0-9]+$/ { n = $5; for (i = 6; i <= NF; i++) n = n " " $i; print $1, $3, n }' \
  "$work/pg.txt" | sort >"$work/got"
[ -s "$work/want" ] || { echo "pprof listed no functions"; exit 1; }
if ! diff -u "$work/want" "$work/got" >"$work/diff"; then
  echo "MISMATCH: pgopipe inspect --top vs go tool pprof -top on $1 (want = Go)"
  head -40 "$work/diff"
  exit 1
fi
echo "ok: $(wc -l <"$work/want") functions agree"
