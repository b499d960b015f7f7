# lib.sh — sourced by the end-to-end scripts after tests/client/stack.sh
# (which gives T, PIDS, check, wait_until, log_port, stop_pid and cleanup).
# Adds the profile arithmetic the checks rest on:
#   total_of FILE...       sum over FILEs of `go tool pprof -top
#                          -sample_index=samples`'s "of N total" (Go's own
#                          reading, independent of our engine)
#   ns_total_of FILE...    sum of the cpu/nanoseconds totals (pgopipe inspect)
# Needs BIN and the go tool.

export GOCACHE=${GOCACHE:-$T/.gocache}
export PPROF_TMPDIR=$T/pprof-tmp
mkdir -p "$PPROF_TMPDIR"

# go_total FILE: the sample count `go tool pprof -top` reports for FILE
go_total() {
  go tool pprof -top -sample_index=samples "$1" 2>/dev/null |
    sed -n 's/.* of \([0-9][0-9]*\) total.*/\1/p' | head -n1
}

total_of() {
  local f n sum=0
  for f in "$@"; do
    n=$(go_total "$f")
    [ -n "$n" ] || { echo "go tool pprof could not read $f" >&2; echo -1; return 1; }
    sum=$((sum + n))
  done
  echo "$sum"
}

ns_total_of() {
  local f n sum=0
  for f in "$@"; do
    n=$("$BIN/pgopipe" inspect "$f" | sed -n 's/^Totals:.*cpu\/nanoseconds=\([0-9][0-9]*\).*/\1/p')
    [ -n "$n" ] || { echo -1; return 1; }
    sum=$((sum + n))
  done
  echo "$sum"
}
