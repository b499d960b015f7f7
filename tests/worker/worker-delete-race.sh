#!/usr/bin/env bash
# worker-delete-race.sh — `pgopipe delete APP` followed at once by
# `pgopipe upload -a APP F` against the real pipeline (kafka-mock,
# pgopipe-server, pgopipe-worker; started by tests/client/stack.sh): the
# upload, acknowledged after the DELETE, must end in a fresh base, in every
# round.
#
#   worker-delete-race.sh BIN_DIR PROFILE
BIN=$(cd "$1" && pwd)
PROF=$2
. "$(dirname "$0")/../client/stack.sh"
P="$BIN/pgopipe"
start_stack
for r in 1 2 3; do
  app=race$r
  has() { "$P" list -u "$API" 2>/dev/null | grep -q "^$app "; }
  "$P" upload -u "$API" --auth-token-file "$TOKEN_FILE" -a $app "$PROF" >/dev/null
  check "round $r: first upload merged" wait_until 30 has
  "$P" delete -u "$API" --auth-token-file "$TOKEN_FILE" $app >/dev/null
  check "round $r: delete exit 0" test $? -eq 0
  "$P" upload -u "$API" --auth-token-file "$TOKEN_FILE" -a $app "$PROF" >/dev/null
  check "round $r: upload right after the delete accepted" test $? -eq 0
  check "round $r: that upload ends in a fresh base" wait_until 20 has
  "$P" download -u "$API" $app -o "$T/$app.pgo" >/dev/null 2>&1
  check "round $r: the fresh base equals the one upload" \
    bash -c "'$P' inspect '$T/$app.pgo' | grep -i total > '$T/a' && '$P' inspect '$PROF' | grep -i total > '$T/b' && cmp -s '$T/a' '$T/b'"
done
finish
