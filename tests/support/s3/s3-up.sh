#!/usr/bin/env bash
# s3-up.sh DIR — starts the test S3 server (s3rver behind the SigV4-verifying
# front end, s3-server.js) on a random 127.0.0.1 port and waits until it
# answers. DIR must exist; the server keeps its objects under DIR/data.
# Writes:
#   DIR/endpoint  http://127.0.0.1:PORT
#   DIR/pids      the server's PID (s3-down.sh DIR stops it)
#   DIR/env       shell assignments to source: AWS_ACCESS_KEY_ID,
#                 AWS_SECRET_ACCESS_KEY, AWS_REGION, S3_ENDPOINT, S3_BUCKET and
#                 PGOPIPE_TEST_S3_URL (an s3:// URL for blob_open)
#   DIR/server.log its output
# Environment (all optional): S3_ACCESS_KEY, S3_SECRET_KEY (default
# pgopipe / pgopipe-secret), S3_REGION (us-east-1), S3_BUCKETS (space
# separated, created empty at start; default "pgopipe"), S3_UP_TIMEOUT
# (seconds to wait for readiness, default 60).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: s3-up.sh DIR}
[ -d "$dir" ] || { echo "s3-up: $dir is not a directory" >&2; exit 1; }
dir=$(cd "$dir" && pwd)
"$here/s3-setup.sh"
rm -f "$dir/endpoint" "$dir/pids"
export S3_ACCESS_KEY=${S3_ACCESS_KEY:-pgopipe}
export S3_SECRET_KEY=${S3_SECRET_KEY:-pgopipe-secret}
export S3_REGION=${S3_REGION:-us-east-1}
export S3_BUCKETS=${S3_BUCKETS:-pgopipe}
setsid node --openssl-legacy-provider "$here/s3-server.js" "$dir" >"$dir/server.log" 2>&1 </dev/null &
pid=$!
echo "$pid" > "$dir/pids"
deadline=$(( $(date +%s) + ${S3_UP_TIMEOUT:-60} ))
while [ ! -s "$dir/endpoint" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "s3-up: the server exited while starting; $dir/server.log says:" >&2
    cat "$dir/server.log" >&2
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "s3-up: not ready after ${S3_UP_TIMEOUT:-60}s; see $dir/server.log" >&2
    "$here/s3-down.sh" "$dir"
    exit 1
  fi
  sleep 0.05
done
endpoint=$(cat "$dir/endpoint")
# Ready means the front end answers HTTP.
until curl -s -o /dev/null --max-time 2 "$endpoint/__control/stats"; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "s3-up: $endpoint does not answer; see $dir/server.log" >&2
    "$here/s3-down.sh" "$dir"
    exit 1
  fi
  sleep 0.05
done
bucket=${S3_BUCKETS%% *}
cat > "$dir/env" <<ENV
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
AWS_REGION=$S3_REGION
S3_ENDPOINT=$endpoint
S3_BUCKET=$bucket
PGOPIPE_TEST_S3_URL='s3://$bucket?endpoint=$endpoint&region=$S3_REGION&use_path_style=true'
ENV
echo "$endpoint"
