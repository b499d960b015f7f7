#!/usr/bin/env bash
# capture-test.sh AGENTS TEST_INGEST PGOPIPE PROFILES WORKDIR SCENARIO [TOKEN]
#
# Runs one agent scenario of the emulator against its recording server,
# then checks every recorded request with lib/ingest (test_ingest capture),
# compares what lib/ingest made of transformed pushes (old Pyroscope's
# profile - prev_profile) with Go's computation, and checks the expected
# bases themselves: pgopipe's merge of each base's expected files equals
# Go's merge of them by summary (agents compare), and compare does see a
# difference when there is one.
set -euo pipefail
agents=$1 test_ingest=$2 pgopipe=$3 profiles=$4 work=$5 scenario=$6 token=${7:-}
out=$work/$scenario
rm -rf "$out"
mkdir -p "$out"
args=(-profiles "$profiles" -out "$out" -capture)
[ -n "$token" ] && args+=(-token "$token")
"$agents" "$scenario" "${args[@]}"
"$test_ingest" capture "$out" ${token:+"$token"}

n=0
while read -r want ours; do
  "$agents" compare "$want" -- "$ours" >/dev/null
  n=$((n + 1))
done < "$out/ours/pairs.txt"
echo "$scenario: $n transformed profiles and per-instance deltas equal Go's"

bases=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("\n".join(e["app"]+"/"+e["kind"]+" "+str(len(e["files"])) for e in m["expected"]))' "$out/manifest.json")
[ -n "$bases" ] || { echo "no expected bases"; exit 1; }
while read -r base count; do
  files=("$out"/expected/"$base"/*.pb.gz)
  [ "${#files[@]}" -eq "$count" ] || { echo "$base: ${#files[@]} files, manifest says $count"; exit 1; }
  "$pgopipe" merge -o "$out/merged.pb.gz" "${files[@]}"
  "$agents" compare "${files[@]}" -- "$out/merged.pb.gz" >/dev/null
  echo "$scenario: $base: pgopipe merge of $count expected profiles equals Go's"
done <<< "$bases"

# compare must see a difference: the first base without its last file.
first=$(head -n1 <<< "$bases" | cut -d' ' -f1)
files=("$out"/expected/"$first"/*.pb.gz)
if [ "${#files[@]}" -gt 1 ]; then
  "$pgopipe" merge -o "$out/short.pb.gz" "${files[@]:0:${#files[@]}-1}"
  set +e
  "$agents" compare "${files[@]}" -- "$out/short.pb.gz" 2>/dev/null
  rc=$?
  set -e
  [ "$rc" -eq 1 ] || { echo "compare did not see a missing profile (rc $rc)"; exit 1; }
fi
echo "$scenario: ok"
