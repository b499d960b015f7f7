#!/usr/bin/env bash
# Installs every Debian 12 package that building, running and testing pgopipe needs.
# Idempotent and non-interactive: packages already present are skipped, so a second
# run costs only the dpkg query.
#
#   deploy/install-deps.sh           everything: build, tests, benchmarks
#   deploy/install-deps.sh --build   only what building the binaries needs (Dockerfile)
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake pkg-config ca-certificates
  zlib1g-dev libdeflate-dev libprotobuf-c-dev protobuf-c-compiler libpcre2-dev
  libjansson-dev libcurl4-openssl-dev librdkafka-dev libnats-dev libmicrohttpd-dev
  libexpat1-dev libssl-dev uuid-dev
)
TEST_PACKAGES=(
  # tests: sanitizers and libFuzzer, leak checks, reference implementation, test servers
  clang libclang-rt-14-dev valgrind
  golang-go golang-github-google-pprof-dev
  nodejs npm kcat curl jq nats-server
  # the web UI's browser tests (driven by npm playwright-core, tests/ui/node)
  chromium
  # benchmarks
  wrk hyperfine time
  # deploy checks
  docker-compose
)

case "${1:-}" in
  --build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  "") PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  # A nodejs from another repository may already ship npm; Debian's npm would conflict with it.
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
