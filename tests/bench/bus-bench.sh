#!/usr/bin/env bash
# bus-bench.sh [BUILD_DIR] — synchronous publish rate of the event bus:
# kafka:// against a fresh kafka-mock (idempotent producer, acks=all, each
# publish waiting for its acknowledgement) from 1, 4 and 16 threads, and
# mem:// for comparison. Needs the tree built (bus-bench, kafka-mock).
# Environment: MESSAGES (default 5000 per run).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
bench=$build/tests/bin/bus-bench
export KAFKA_MOCK=${KAFKA_MOCK:-$build/tests/bin/kafka-mock}
n=${MESSAGES:-5000}
[ -x "$bench" ] || { echo "bus-bench.sh: build first ($bench missing)" >&2; exit 1; }
echo "# $(date -u +%FT%TZ) $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$root/tests/support/kafka/with-kafka.sh" sh -c "
  for t in 1 4 16; do '$bench' kafka://bench $n \$t 2>/dev/null; done
  '$bench' 'kafka://bench?linger.ms=5' $n 16 2>/dev/null"
for t in 1 4; do "$bench" "mem://bench?max.messages=1000000" $((n * 20)) $t; done
