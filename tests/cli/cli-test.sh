#!/usr/bin/env bash
# Behaviour of the pgopipe command line (help, usage errors, exit codes,
# atomic output, limits at and past their edge, inspect's report), on the
# small valid profile the bad-input generator writes (CORPUS/good.pb: one
# sample main.leaf (inlined into main.caller) <- main.main, values 1 and
# 10000000, samples/count cpu/nanoseconds).
#
#   cli-test.sh PGOPIPE CORPUS_DIR CASE
set -uo pipefail
pgopipe=$1 dir=$2 case=$3
good=$dir/good.pb
work=$(mktemp -d "${TMPDIR:-/tmp}/pgopipe-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail=0

# expect RC command...: runs, records stdout/stderr, checks the exit status.
expect() {
  local want=$1
  shift
  "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL: $* -> exit $rc, want $want"
    sed 's/^/  stderr: /' "$work/stderr" | head -5
    fail=1
  fi
}
has() { # file pattern
  if ! grep -qE -- "$2" "$work/$1"; then
    echo "FAIL: $1 lacks /$2/:"
    sed 's/^/  /' "$work/$1" | head -20
    fail=1
  fi
}
no_tmp() { if ls "$work" | grep -q '\.tmp\.'; then echo "FAIL: temporary file left in $work"; fail=1; fi; }

case $case in
help)
  expect 0 "$pgopipe" --help
  for v in merge prune inspect; do has stdout "^  $v "; done
  for v in merge prune inspect; do
    expect 0 "$pgopipe" $v --help
    has stdout "usage: pgopipe $v"
    expect 0 "$pgopipe" $v -h
  done
  expect 0 "$pgopipe" --version
  has stdout '^pgopipe [0-9]+\.[0-9]+\.[0-9]+$'
  ;;
usage)
  expect 2 "$pgopipe"
  expect 2 "$pgopipe" frobnicate
  has stderr 'unknown verb "frobnicate"'
  expect 2 "$pgopipe" merge "$good"
  has stderr 'missing -o'
  expect 2 "$pgopipe" merge -o "$work/o"
  has stderr 'no input'
  expect 2 "$pgopipe" merge -o "$work/o" --keep x "$good"
  has stderr 'must follow a --drop'
  expect 2 "$pgopipe" merge -o "$work/o" --drop x --keep y --keep z "$good"
  expect 2 "$pgopipe" merge -o "$work/o" -o "$work/p" "$good"
  expect 2 "$pgopipe" merge -o "$work/o" --bogus "$good"
  has stderr 'unknown option --bogus'
  expect 2 "$pgopipe" merge -o "$work/o" --level 13 "$good"
  expect 2 "$pgopipe" merge -o "$work/o" --max-input-bytes 12k "$good"
  expect 2 "$pgopipe" merge -o
  has stderr 'needs a value'
  expect 2 "$pgopipe" prune -o "$work/o" "$good"
  has stderr 'missing --drop'
  expect 2 "$pgopipe" prune -o "$work/o" --drop x "$good" "$good"
  expect 2 "$pgopipe" prune -o "$work/o" --drop x
  expect 2 "$pgopipe" inspect
  expect 2 "$pgopipe" inspect "$good" "$good"
  expect 2 "$pgopipe" inspect --top abc "$good"
  expect 2 "$pgopipe" inspect -o x "$good"
  [ -z "$(ls "$work" | grep -v -e stdout -e stderr)" ] || { echo "FAIL: usage errors wrote files"; ls "$work"; fail=1; }
  ;;
bad-regex)
  expect 2 "$pgopipe" merge -o "$work/o" --drop '(x' "$good"
  has stderr '\(x'
  has stderr 'offset'
  expect 2 "$pgopipe" prune -o "$work/o" --drop '^runtime\.' --keep '[a-' "$good"
  has stderr '\[a-'
  [ ! -e "$work/o" ] || { echo "FAIL: output written"; fail=1; }
  ;;
merge)
  expect 0 "$pgopipe" merge -o "$work/m.pb.gz" "$good" "$good" "$dir/good.pb.gz"
  [ "$(head -c 2 "$work/m.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] || { echo "FAIL: output not gzip"; fail=1; }
  expect 0 "$pgopipe" inspect "$work/m.pb.gz"
  has stdout 'Totals: samples/count=3 cpu/nanoseconds=30000000'
  has stdout 'Tables: 1 samples, 2 locations, 3 functions, 1 mappings'
  has stdout 'Duration: 3\.000s'
  no_tmp
  ;;
stdio)
  "$pgopipe" merge -o - "$good" >"$work/s.pb.gz" 2>"$work/stderr" || { echo "FAIL: merge -o -"; fail=1; }
  "$pgopipe" inspect - <"$work/s.pb.gz" >"$work/stdout" 2>&1 || { echo "FAIL: inspect -"; fail=1; }
  has stdout 'Totals: samples/count=1 cpu/nanoseconds=10000000'
  "$pgopipe" merge -o - - <"$good" | "$pgopipe" prune -o - --drop '^main\.leaf$' - >"$work/p.pb.gz" ||
    { echo "FAIL: pipeline"; fail=1; }
  expect 0 "$pgopipe" inspect "$work/p.pb.gz"
  has stdout 'Totals: samples/count=1 cpu/nanoseconds=10000000'
  ;;
prune)
  # drop main.caller: location 1 is cut (main.leaf inlined into main.caller),
  # leaving main.main alone; functions main.leaf and main.caller disappear.
  expect 0 "$pgopipe" prune -o "$work/p.pb.gz" --drop '^main\.caller$' "$good"
  expect 0 "$pgopipe" inspect --top 5 "$work/p.pb.gz"
  has stdout 'Tables: 1 samples, 1 locations, 1 functions, 1 mappings'
  has stdout 'Totals: samples/count=1 cpu/nanoseconds=10000000'
  # keep protects it: nothing changes.
  expect 0 "$pgopipe" prune -o "$work/k.pb.gz" --drop '^main\.caller$' --keep 'caller' "$good"
  expect 0 "$pgopipe" inspect "$work/k.pb.gz"
  has stdout 'Tables: 1 samples, 2 locations, 3 functions, 1 mappings'
  ;;
inspect)
  expect 0 "$pgopipe" inspect --top 3 "$good"
  has stdout '^File: .*good\.pb$'
  has stdout '^Sample types: samples/count cpu/nanoseconds \(default cpu/nanoseconds\)$'
  has stdout '^Period: 10000000 cpu/nanoseconds$'
  has stdout '^Duration: 1\.000s \(1000000000 ns\)$'
  has stdout '^Time: 2023-11-14T22:13:20Z \(1700000000000000000 ns since the epoch\)$'
  has stdout '^Tables: 1 samples, 2 locations, 3 functions, 1 mappings, [0-9]+ strings$'
  has stdout '^Totals: samples/count=1 cpu/nanoseconds=10000000$'
  has stdout '^Top 3 by flat cpu/nanoseconds:$'
  has stdout '^ +10000000 100\.00% +10000000 100\.00%  main\.leaf$'
  has stdout '^Top 3 by cum cpu/nanoseconds:$'
  has stdout '^ +0 +0\.00% +10000000 100\.00%  main\.main$'
  expect 0 "$pgopipe" inspect --top 0 "$good"
  if grep -q '^Top' "$work/stdout"; then echo "FAIL: --top 0 printed a table"; fail=1; fi
  ;;
missing-input)
  expect 1 "$pgopipe" merge -o "$work/o.pb.gz" "$good" "$work/nonexistent.pb.gz"
  has stderr 'nonexistent\.pb\.gz'
  [ ! -e "$work/o.pb.gz" ] || { echo "FAIL: output written"; fail=1; }
  expect 1 "$pgopipe" inspect "$work"
  has stderr 'directory'
  ;;
atomic)
  # A failing merge leaves an existing output untouched.
  echo precious >"$work/o.pb.gz"
  expect 1 "$pgopipe" merge -o "$work/o.pb.gz" "$good" "$dir/truncated-gzip.pb.gz"
  [ "$(cat "$work/o.pb.gz")" = precious ] || { echo "FAIL: existing output replaced"; fail=1; }
  # An unwritable directory: exit 1 naming the output, nothing left.
  mkdir "$work/ro"
  chmod 555 "$work/ro"
  if [ "$(id -u)" != 0 ]; then
    expect 1 "$pgopipe" merge -o "$work/ro/o.pb.gz" "$good"
    has stderr 'ro/o\.pb\.gz'
  fi
  expect 1 "$pgopipe" merge -o "$work/nodir/o.pb.gz" "$good"
  has stderr 'nodir/o\.pb\.gz'
  expect 1 "$pgopipe" merge -o /dev/full/x "$good"
  # Success replaces it in one step.
  expect 0 "$pgopipe" merge -o "$work/o.pb.gz" "$good"
  expect 0 "$pgopipe" inspect "$work/o.pb.gz"
  no_tmp
  # Standard output that cannot be written: exit 1.
  if [ -e /dev/full ]; then
    "$pgopipe" merge -o - "$good" >/dev/full 2>"$work/stderr"
    rc=$?
    [ $rc = 1 ] || { echo "FAIL: merge -o - >/dev/full -> exit $rc, want 1"; fail=1; }
    has stderr 'standard output'
  fi
  ;;
limits)
  n=$(stat -c %s "$dir/good.pb.gz")
  expect 0 "$pgopipe" merge -o "$work/o" --max-input-bytes "$n" "$dir/good.pb.gz"
  expect 1 "$pgopipe" merge -o "$work/p" --max-input-bytes $((n - 1)) "$dir/good.pb.gz"
  has stderr 'good\.pb\.gz'
  [ ! -e "$work/p" ] || { echo "FAIL: output written past the input limit"; fail=1; }
  d=$(stat -c %s "$good")
  expect 0 "$pgopipe" inspect --max-decoded-bytes "$d" "$dir/good.pb.gz"
  expect 1 "$pgopipe" inspect --max-decoded-bytes $((d - 1)) "$dir/good.pb.gz"
  has stderr 'good\.pb\.gz'
  expect 0 "$pgopipe" inspect --max-decoded-bytes "$d" "$good"
  expect 1 "$pgopipe" inspect --max-decoded-bytes $((d - 1)) "$good"
  # A gibibyte bomb against a small limit: refused fast.
  start=$(date +%s%N)
  expect 1 "$pgopipe" inspect --max-decoded-bytes 1048576 "$dir/gzip-bomb.pb.gz"
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "bomb vs 1 MiB limit: ${ms} ms"
  [ $ms -lt 2000 ] || { echo "FAIL: bomb took ${ms} ms"; fail=1; }
  ;;
level)
  for l in 0 1 9; do
    expect 0 "$pgopipe" merge --level $l -o "$work/l$l.pb.gz" "$good"
    expect 0 "$pgopipe" inspect "$work/l$l.pb.gz"
    has stdout 'Totals: samples/count=1 cpu/nanoseconds=10000000'
  done
  ;;
curl)
  # libcurl is loaded only by the verbs that talk to the server: the offline
  # verbs start without it (and the thirty libraries it needs).
  LD_DEBUG=files expect 0 "$pgopipe" merge -o "$work/m.pb.gz" "$good" "$good"
  if grep -q 'libcurl' "$work/stderr"; then echo "FAIL: merge loaded libcurl"; fail=1; fi
  has stderr 'libdeflate'
  LD_DEBUG=files expect 0 "$pgopipe" inspect "$good"
  if grep -q 'libcurl' "$work/stderr"; then echo "FAIL: inspect loaded libcurl"; fail=1; fi
  # A server verb loads it and reaches libcurl's own error for a refused
  # connection (port 1 on the loopback is never served here).
  LD_DEBUG=files expect 1 "$pgopipe" list -u http://127.0.0.1:1
  has stderr 'calling init: .*libcurl'
  has stderr "pgopipe list: GET http://127.0.0.1:1/api/profile: cannot connect: .*Couldn't connect"
  ;;
*)
  echo "unknown case $case"
  exit 2
  ;;
esac
[ $fail = 0 ] && echo "ok: $case"
exit $fail
