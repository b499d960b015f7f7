#!/usr/bin/env bash
# One PGO differential test: for each profile, pgopipe's engine (through
# pgotool) against the Go oracle written from PGO.md (tests/pgo/oracle):
#  - the named edge map (last-two walk and every-frame walk) is the oracle's;
#  - format=pgo with keep 2 (and 5) has the original's last-two map, keep 0
#    has both of the original's maps, as the oracle reads the bytes (so Go's
#    parser reads them too); trimming is deterministic and idempotent;
#  - format=preprofile is byte-identical to the oracle's, also when made from
#    the trimmed profiles, and both refuse the same profiles with the same
#    message;
#  - `go tool pprof -raw` and `-top` read every trimmed profile.
#
#   pgo-test.sh [--sizes] PROFILE...
# A PROFILE starting with @ is relative to $PROFILES (tests/pgo/gen.sh), others
# to $CORPUS (tests/diff's generated profiles); globs are expanded. --sizes
# also requires format=pgo (keep 2) to be at most half the gzipped full profile
# as pgopipe writes it, and prints the ratios.
# Environment: PGOTOOL, PGOPIPE, ORACLE, CORPUS, PROFILES.
set -euo pipefail
: "${PGOTOOL:?}" "${PGOPIPE:?}" "${ORACLE:?}" "${CORPUS:?}" "${PROFILES:?}"
sizes=0
if [ "${1:-}" = --sizes ]; then
  sizes=1
  shift
fi
files=()
for a in "$@"; do
  if [ "${a#@}" != "$a" ]; then pat=$PROFILES/${a#@}; else pat=$CORPUS/$a; fi
  n=0
  for f in $pat; do
    [ -e "$f" ] || continue
    files+=("$f")
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "no profile matches $a" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-pgo.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
bad() {
  echo "FAIL $f: $*"
  fails=$((fails + 1))
}
# same A B WHAT: the two files are byte-identical, else a diff is shown.
same() {
  if ! cmp -s "$1" "$2"; then
    bad "$3"
    diff "$1" "$2" | head -20
    return 1
  fi
}

for f in "${files[@]}"; do
  rm -rf "${work:?}"/*
  w=$work
  # Edge maps: ours against the oracle's, both walks (or the same refusal).
  orc=0
  "$ORACLE" edges "$f" >"$w/want2" 2>"$w/want2.err" || orc=$?
  prc=0
  "$PGOTOOL" edges "$f" >"$w/got2" 2>"$w/got2.err" || prc=$?
  if [ $orc != $prc ]; then
    bad "oracle exit $orc, pgopipe exit $prc: $(cat "$w/want2.err" "$w/got2.err")"
    continue
  fi
  if [ $orc != 0 ]; then
    # Refused (no sample type the compiler reads): everything refuses alike.
    same "$w/want2.err" "$w/got2.err" "edge map refusals differ" || true
    "$PGOTOOL" trim "$f" "$w/t2.pb.gz" 2>"$w/trim.err" && bad "format=pgo accepted a profile the compiler refuses"
    "$PGOTOOL" preprofile "$f" "$w/pre" 2>"$w/pre.err" && bad "format=preprofile accepted it"
    grep -qF "$(sed 's/^error: //' "$w/want2.err")" "$w/trim.err" || bad "format=pgo refusal: $(cat "$w/trim.err")"
    echo "ok (refused alike) $(basename "$f"): $(cat "$w/want2.err")"
    continue
  fi
  same "$w/want2" "$w/got2" "last-two edge map differs from the oracle's" || continue
  "$ORACLE" edges -all "$f" >"$w/wantA"
  "$PGOTOOL" edges -all "$f" >"$w/gotA"
  same "$w/wantA" "$w/gotA" "every-frame edge map differs from the oracle's" || continue

  # format=pgo, as the oracle (Go's parser) reads it. A profile without
  # samples is empty to the compiler whatever its sample types, but format=pgo
  # still wants a type the compiler reads: such a profile is refused.
  if ! "$PGOTOOL" trim "$f" "$w/t2.pb.gz" 2>"$w/trim.err"; then
    if grep -q 'does not contain a sample index' "$w/trim.err" && grep -qx 'edges: 0' "$w/want2" &&
      "$PGOTOOL" preprofile "$f" "$w/pre.got" && [ "$(cat "$w/pre.got")" = "GO PREPROFILE V1" ]; then
      echo "ok (empty, no CPU sample type: format=pgo refuses, preprofile is the header) $(basename "$f")"
    else
      bad "format=pgo failed: $(cat "$w/trim.err")"
    fi
    continue
  fi
  "$PGOTOOL" trim -keep 5 "$f" "$w/t5.pb.gz"
  "$PGOTOOL" trim -keep 0 "$f" "$w/t0.pb.gz"
  "$ORACLE" edges "$w/t2.pb.gz" >"$w/t2.edges"
  same "$w/want2" "$w/t2.edges" "keep 2 changed the last-two edge map" || true
  "$ORACLE" edges "$w/t5.pb.gz" >"$w/t5.edges"
  same "$w/want2" "$w/t5.edges" "keep 5 changed the last-two edge map" || true
  "$ORACLE" edges "$w/t0.pb.gz" >"$w/t0.edges"
  same "$w/want2" "$w/t0.edges" "keep 0 changed the last-two edge map" || true
  "$ORACLE" edges -all "$w/t0.pb.gz" >"$w/t0.all"
  same "$w/wantA" "$w/t0.all" "keep 0 changed the every-frame edge map" || true
  "$PGOTOOL" trim "$f" "$w/t2b.pb.gz"
  cmp -s "$w/t2.pb.gz" "$w/t2b.pb.gz" || bad "format=pgo is not deterministic"
  "$PGOTOOL" trim "$w/t2.pb.gz" "$w/t22.pb.gz"
  "$ORACLE" edges "$w/t22.pb.gz" >"$w/t22.edges"
  same "$w/want2" "$w/t22.edges" "trimming the trimmed profile changed its map" || true

  # format=preprofile: the oracle's bytes, from the full and the trimmed profiles.
  orc=0
  "$ORACLE" preprofile "$f" >"$w/pre.want" 2>"$w/pre.want.err" || orc=$?
  prc=0
  "$PGOTOOL" preprofile "$f" "$w/pre.got" 2>"$w/pre.got.err" || prc=$?
  pre="refused alike"
  if [ $orc != $prc ]; then
    bad "preprofile: oracle exit $orc, pgopipe exit $prc"
  elif [ $orc != 0 ]; then
    same "$w/pre.want.err" "$w/pre.got.err" "preprofile refusals differ" || true
  else
    same "$w/pre.want" "$w/pre.got" "preprofile differs from the oracle's" || true
    for t in t2 t0; do
      "$PGOTOOL" preprofile "$w/$t.pb.gz" "$w/pre.$t"
      same "$w/pre.want" "$w/pre.$t" "preprofile of format=pgo ($t) differs" || true
    done
    pre="$(($(wc -l <"$w/pre.want") / 3)) edges, byte-identical"
  fi

  # Go's pprof tool reads what we write.
  for t in t2 t0; do
    go tool pprof -raw "$w/$t.pb.gz" >"$w/raw" 2>"$w/raw.err" || bad "go tool pprof -raw $t: $(head -3 "$w/raw.err")"
    go tool pprof -top "$w/$t.pb.gz" >"$w/top" 2>"$w/top.err" || bad "go tool pprof -top $t: $(head -3 "$w/top.err")"
  done

  line="$(basename "$f"): $(sed -n 's/^edges: //p' "$w/want2") edges; pgo $(stat -c %s "$w/t2.pb.gz") B (keep 0: $(stat -c %s "$w/t0.pb.gz") B); preprofile $pre"
  if [ $sizes = 1 ]; then
    "$PGOPIPE" merge -o "$w/full.pb.gz" "$f"
    full=$(stat -c %s "$w/full.pb.gz")
    t2=$(stat -c %s "$w/t2.pb.gz")
    line="$line; full $full B: $(awk -v a="$full" -v b="$t2" 'BEGIN { printf "%.1fx", a / b }') smaller"
    [ $((t2 * 2)) -le "$full" ] || bad "format=pgo ($t2 B) is not half the full profile ($full B)"
  fi
  echo "ok $line"
done
echo "${#files[@]} profiles, $fails failures"
[ $fails = 0 ]
