#!/usr/bin/env bash
# `pgopipe pgo diff` end to end: help and usage errors, refusals, and on real
# profiles (the corpus with start lines, tests/pgo/gen.sh) the call sites
# entering and leaving the hot set, with their weights, equal to what the
# oracle's edge maps (tests/pgo/oracle) give; text and --json agree.
# Environment: PGOPIPE, ORACLE, CORPUS, PROFILES.
set -uo pipefail
: "${PGOPIPE:?}" "${ORACLE:?}" "${CORPUS:?}" "${PROFILES:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-pgocli.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
checks=0
check() { # DESCRIPTION COMMAND...: the command must succeed
  checks=$((checks + 1))
  if ! "${@:2}"; then
    echo "FAIL: $1"
    fails=$((fails + 1))
  fi
}
rc_is() { # WANT COMMAND...: exit status WANT
  local want=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  [ $? = "$want" ]
}

# Help and usage.
check "pgo --help exits 0" rc_is 0 "$PGOPIPE" pgo --help
check "pgo --help names diff" grep -q "diff" "$work/out"
check "pgo diff --help exits 0" rc_is 0 "$PGOPIPE" pgo diff --help
check "pgo diff --help explains the hot set" grep -q "99% of" "$work/out"
check "pgo diff --help lists --json" grep -q -- "--json" "$work/out"
check "pgopipe --help lists pgo" bash -c "'$PGOPIPE' --help | grep -q '^  pgo '"
check "pgo alone is a usage error" rc_is 2 "$PGOPIPE" pgo
check "unknown sub-verb is a usage error" rc_is 2 "$PGOPIPE" pgo nope
check "one profile is a usage error" rc_is 2 "$PGOPIPE" pgo diff "$CORPUS/cpu/sort.pb.gz"
check "unknown option is a usage error" rc_is 2 "$PGOPIPE" pgo diff --bogus a b
check "bad size is a usage error" rc_is 2 "$PGOPIPE" pgo diff --max-input-bytes x a b

# Refusals: one line naming the file.
check "missing file fails" rc_is 1 "$PGOPIPE" pgo diff "$work/none.pb.gz" "$CORPUS/cpu/sort.pb.gz"
check "missing file: one line naming it" bash -c "[ \$(wc -l <'$work/err') = 1 ] && grep -q none.pb.gz '$work/err'"
check "heap profile fails" rc_is 1 "$PGOPIPE" pgo diff "$CORPUS/heap/sort.pb.gz" "$CORPUS/cpu/sort.pb.gz"
check "heap profile: the compiler's reason" grep -q 'samples/count' "$work/err"
check "input limit applies" rc_is 1 "$PGOPIPE" pgo diff --max-input-bytes 100 "$CORPUS/cpu/sort.pb.gz" "$CORPUS/cpu/sort.pb.gz"

# A profile against itself: nothing enters or leaves, nothing is stale.
S=$PROFILES/sl/cpu
check "self diff runs" rc_is 0 "$PGOPIPE" pgo diff "$S/sort.pb.gz" "$S/sort.pb.gz"
check "self diff: none entering" grep -q "^Entering the hot set (0 call sites)\.$" "$work/out"
check "self diff: none leaving" grep -q "^Leaving the hot set (0 call sites)\.$" "$work/out"
check "self diff: not stale" grep -q "^Staleness: 0.00% " "$work/out"

# Missing start lines: compared, with a note.
check "no start lines: runs" rc_is 0 "$PGOPIPE" pgo diff "$CORPUS/cpu/sort.pb.gz" "$S/sort.pb.gz"
check "no start lines: noted" grep -q "^note: OLD has no Function.start_line" "$work/out"

# Entering/leaving against the oracle's edge maps, on pairs that share code.
hot_set() { # FILE -> "caller<TAB>callee<TAB>offset<TAB>weight" of the hot edges, in order
  "$ORACLE" edges "$1" >"$work/edges" || return 1
  local n
  n=$(sed -n 's/^hot: //p' "$work/edges")
  # (no `| head`: with pipefail, sed killed by SIGPIPE would fail the check)
  sed -n "5,$((n + 4))p" "$work/edges"
}
compare_pair() { # OLD NEW
  local old=$1 new=$2
  hot_set "$old" >"$work/ohot" && hot_set "$new" >"$work/nhot" || return 1
  cut -f1-3 "$work/ohot" | sort >"$work/okeys"
  cut -f1-3 "$work/nhot" | sort >"$work/nkeys"
  # Entering: NEW's hot edges (NEW's order) whose key is not hot in OLD; leaving: the reverse.
  awk -F'\t' 'NR == FNR { k[$1 FS $2 FS $3] = 1; next } !(($1 FS $2 FS $3) in k) { print $1 "\t" $2 "\t" $3 "\t" $4 }' \
    "$work/okeys" "$work/nhot" >"$work/want.enter"
  awk -F'\t' 'NR == FNR { k[$1 FS $2 FS $3] = 1; next } !(($1 FS $2 FS $3) in k) { print $1 "\t" $2 "\t" $3 "\t" $4 }' \
    "$work/nkeys" "$work/ohot" >"$work/want.leave"
  "$PGOPIPE" pgo diff --json "$old" "$new" >"$work/json" || return 1
  jq -r '.entering[] | [.caller, .callee, (.offset | tostring), (.new_weight | tostring)] | @tsv' "$work/json" >"$work/got.enter"
  jq -r '.leaving[] | [.caller, .callee, (.offset | tostring), (.old_weight | tostring)] | @tsv' "$work/json" >"$work/got.leave"
  if ! cmp -s "$work/want.enter" "$work/got.enter" || ! cmp -s "$work/want.leave" "$work/got.leave"; then
    diff "$work/want.enter" "$work/got.enter" | head -5
    diff "$work/want.leave" "$work/got.leave" | head -5
    return 1
  fi
  # The text says the same.
  "$PGOPIPE" pgo diff "$old" "$new" >"$work/text" || return 1
  grep -q "^Entering the hot set ($(wc -l <"$work/want.enter") call site" "$work/text" &&
    grep -q "^Leaving the hot set ($(wc -l <"$work/want.leave") call site" "$work/text" || return 1
  # JSON totals are the oracle's, shares within [0, 100].
  [ "$(jq .new.total_weight "$work/json")" = "$(sed -n 's/^total: //p' "$work/edges")" ] &&
    jq -e '.stale.share >= 0 and .stale.share <= 100 and ([.entering[] | .in_new] | all)' "$work/json" >/dev/null &&
    echo "  $(basename "$old") -> $(basename "$new"): $(wc -l <"$work/want.enter") entering, $(wc -l <"$work/want.leave") leaving, stale $(jq .stale.share "$work/json")%"
}
B=$PROFILES/base
check "regexp runs 1 -> 2" compare_pair "$PROFILES/sl/extra/regexp-1.pb.gz" "$PROFILES/sl/extra/regexp-2.pb.gz"
check "sort -> regexp" compare_pair "$S/sort.pb.gz" "$S/regexp.pb.gz"
check "json -> merged base" compare_pair "$S/encoding_json.pb.gz" "$B/base-start-lines.pb.gz"
check "merged base -> labelled base" compare_pair "$B/base-start-lines.pb.gz" "$B/base-labels.pb.gz"
stale_share() { "$PGOPIPE" pgo diff --json "$1" "$2" | jq -e ".stale.share $3" >/dev/null; }
check "sort -> regexp: most of regexp's weight is on code sort lacks" stale_share "$S/sort.pb.gz" "$S/regexp.pb.gz" "> 50"
check "base -> labelled base: nothing stale" stale_share "$B/base-start-lines.pb.gz" "$B/base-labels.pb.gz" "== 0"

echo "$checks checks, $fails failed"
[ $fails = 0 ]
