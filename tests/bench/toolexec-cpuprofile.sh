#!/usr/bin/env bash
# `go build -toolexec` helper for engine-bench.sh: runs each Go tool as asked,
# but gives every `compile` invocation a -cpuprofile of its own, so building
# the standard library yields a few hundred real CPU profiles of one big Go
# program (the compiler), all sharing one mapping like uploads from one app.
#   BENCH_PROFILE_DIR must be set to the output directory.
tool=$1
shift
case $(basename "$tool") in
compile)
  exec "$tool" -cpuprofile "$(mktemp "$BENCH_PROFILE_DIR/compile.XXXXXXXX")" "$@" ;;
*)
  exec "$tool" "$@" ;;
esac
