#!/usr/bin/env bash
# deploy-check.sh MODE SRC_DIR BIN_DIR — the deploy files cannot drift from the code.
#
#   compose  `docker-compose -f deploy/docker-compose.yml config -q` (the file
#            is valid), then every pgopipe service's command line, resolved by
#            docker-compose, is run against our binary with --help appended:
#            an unknown or misspelt flag makes it exit 2. Files the commands
#            name under /etc/pgopipe/ must exist in config/ (mounted there),
#            and the demo's entrypoint flags are checked against the Go demo.
#   build    runs the Dockerfile's build stages outside Docker: the RUN lines
#            of stages `build` and `demo-build` are taken from the Dockerfile
#            itself and executed on a copy of the source tree (COPY . .), with
#            the container paths mapped into a temp dir. The four binaries
#            must exist and answer --version; the demo must build and answer -h.
#            (apt-get lines are checked, not run: the packages must be installed.)
#            Every library the binaries load directly must come from a package
#            the runtime stage installs; what it copies from the source tree
#            exists, and its autopgo command runs our binaries.
set -u
mode=$1
SRC=$(cd "$2" && pwd)
BIN=$(cd "$3" && pwd)
T=$(mktemp -d /tmp/pgopipe-deploy-XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*" >&2; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
export GOCACHE=${GOCACHE:-$T/.gocache} GO111MODULE=off GOFLAGS=

# Dockerfile stage STAGE: its instructions with continuation lines joined
stage() {
  awk -v want="$1" '
    /^FROM / { cur = ($NF == want) ; next }
    cur { line = line $0; if (sub(/\\$/, "", line)) next; if (line !~ /^[ \t]*(#|$)/) print line; line = "" }
  ' "$SRC/deploy/Dockerfile"
}

case $mode in
compose)
  cd "$SRC"
  check "docker-compose config -q accepts deploy/docker-compose.yml" \
    docker-compose -f deploy/docker-compose.yml config -q
  docker-compose -f deploy/docker-compose.yml config >"$T/resolved.yml" 2>"$T/err" || cat "$T/err" >&2
  # service<TAB>target<TAB>entrypoint args (\x1f-separated)<TAB>command args
  awk '
    function flush() { if (svc != "") printf "%s\036%s\036%s\036%s\n", svc, target, ep, cmd }
    /^services:/ { in_s = 1; next }
    /^[a-z]/ { if (in_s) { flush(); svc = ""; in_s = 0 } next }
    in_s && /^  [a-z0-9-]+:$/ { flush(); svc = $1; sub(/:$/, "", svc); target = ep = cmd = ""; list = ""; next }
    in_s && /^    [a-z_]+:/ { list = $1; sub(/:.*/, "", list); next }
    in_s && list == "build" && /^      target: / { target = $2 }
    in_s && /^    - / { v = substr($0, 7); if (list == "command") cmd = cmd (cmd == "" ? "" : "\037") v;
                        else if (list == "entrypoint") ep = ep (ep == "" ? "" : "\037") v }
    END { if (in_s) flush() }
  ' "$T/resolved.yml" >"$T/services"
  runtime_ep=$(stage runtime | sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p')
  check "the runtime image's entrypoint is one of our binaries ($runtime_ep)" test -x "$BIN/$(basename "$runtime_ep")"
  seen=0
  while IFS=$'\036' read -r svc target ep cmd; do
    [ "$target" = runtime ] || continue
    seen=$((seen + 1))
    IFS=$'\037' read -r -a eparr <<<"$ep"
    IFS=$'\037' read -r -a args <<<"$cmd"
    bin=$(basename "${eparr[0]:-$runtime_ep}")
    "$BIN/$bin" "${eparr[@]:1}" "${args[@]}" --help >"$T/out" 2>&1
    rc=$?
    check "service $svc: $bin accepts its compose command line (${args[*]})" test $rc -eq 0
    [ $rc -eq 0 ] || cat "$T/out" >&2
    for a in "${args[@]}"; do
      f=${a#*=}
      case $f in
        /etc/pgopipe/*) check "service $svc: ${f} exists as config/${f#/etc/pgopipe/}" test -f "config/${f#/etc/pgopipe/}" ;;
      esac
    done
  done <"$T/services"
  check "compose runs our binaries in 4 services (server, two workers, scraper)" test "$seen" -eq 4
  # the demo image: the Dockerfile's entrypoint flags against the Go demo
  demo_ep=$(stage demo | sed -n 's/^ENTRYPOINT \[\(.*\)\]/\1/p' | tr -d '"' | tr ',' ' ')
  read -r -a demo <<<"$demo_ep"
  (cd tests/support/gotarget && go build -o "$T/gotarget" .) || fail "go build of the demo"
  "$T/gotarget" "${demo[@]:1}" -h >"$T/out" 2>&1
  check "demo entrypoint flags (${demo[*]:1}) are the demo's" test $? -eq 0
  for f in config/targets.compose.json config/targets.json config/prune.json; do
    check "$f is valid JSON" node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$f"
  done
  check "targets.compose.json points at the demo services on the demo's port" \
    grep -q 'demo-1:6060' config/targets.compose.json
  ;;
build)
  mkdir -p "$T/build/src" "$T/demo/src"
  # COPY . . : the tracked source tree
  (cd "$SRC" && git ls-files -z 2>/dev/null | xargs -0 cp --parents -t "$T/build/src") ||
    (cd "$SRC" && tar --exclude='./build*' -cf - . | tar -C "$T/build/src" -xf -)
  runs() { stage "$1" | sed -n 's/^RUN //p'; }
  # apt_packages "RUN LINE": the package names after `apt-get install`
  apt_packages() {
    echo "$1" | awk '{ for (i = 1; i <= NF; i++) {
      if ($i == "install" && $(i-1) == "apt-get") { on = 1; continue }
      if (on && ($i ~ /^[>&|;]/)) on = 0
      if (on && $i !~ /^-/) print $i } }'
  }
  while IFS= read -r r; do
    case $r in
      *apt-get*)
        for p in $(apt_packages "$r"); do
          check "build stage package $p is installed" dpkg-query -W "$p" >/dev/null
        done ;;
      *) echo "# build stage: $r"
         check "build stage: $r" bash -c "cd '$T/build/src' && $r" ;;
    esac
  done < <(runs build)
  for b in pgopipe pgopipe-server pgopipe-worker pgopipe-scraper; do
    check "$b built by the Dockerfile's commands answers --version" "$T/build/src/build/bin/$b" --version
  done
  check "only the four binaries land in build/bin (the runtime image copies it whole)" \
    test "$(ls "$T/build/src/build/bin" | wc -l)" -eq 4
  # demo-build: COPY tests/support/gotarget/main.go /src/main.go; RUN ... -o /gotarget
  src_main=$(stage demo-build | sed -n 's/^COPY \([^ ]*\) \/src\/main.go$/\1/p')
  check "demo-build copies $src_main" test -f "$SRC/$src_main"
  cp "$SRC/$src_main" "$T/demo/src/main.go"
  while IFS= read -r r; do
    case $r in
      *apt-get*)
        for p in $(apt_packages "$r"); do
          check "demo-build package $p is installed" dpkg-query -W "$p" >/dev/null
        done ;;
      *) r=${r//\/src/$T\/demo\/src}; r=${r//-o \/gotarget/-o $T\/demo\/gotarget}; r=${r//\/tmp\/gocache/$T\/gocache}
         check "demo-build stage: $r" bash -c "$r" ;;
    esac
  done < <(runs demo-build)
  # runtime stage: its packages are the run-time libraries our binaries use
  while IFS= read -r r; do
    for p in $(apt_packages "$r"); do
      check "runtime package $p exists (installed here)" dpkg-query -W "$p" >/dev/null
    done
  done < <(runs runtime)
  for b in pgopipe-server pgopipe-worker pgopipe-scraper pgopipe; do
    check "$b needs no library outside the system (ldd)" \
      bash -c "! ldd '$T/build/src/build/bin/$b' | grep -q 'not found'"
  done
  # every library the binaries load directly comes from a package the
  # runtime stage installs (libc6 is in the base image)
  runtime_pkgs=" libc6 $(runs runtime | while IFS= read -r r; do apt_packages "$r"; done | tr '\n' ' ') "
  bins=("$T"/build/src/build/bin/*)
  for so in $(for b in "${bins[@]}"; do readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u); do
    lib=$(ldd "${bins[@]}" | awk -v so="$so" '$1 == so && $3 ~ /^\// {print $3; exit}')
    real=$(readlink -f "$lib")
    pkg=$({ dpkg -S "$real" || dpkg -S "/usr$real" || dpkg -S "${real#/usr}"; } 2>/dev/null | head -n1 | cut -d: -f1)
    check "the runtime stage installs $so (package ${pkg:-unknown})" \
      bash -c "[ -n '$pkg' ] && case '$runtime_pkgs' in *' $pkg '*) true ;; *) false ;; esac"
  done
  # runtime stage: what it copies from the source tree exists; the image's
  # /usr/local/bin (our binaries and deploy/autopgo) runs autopgo's commands
  mkdir -p "$T/image-bin"
  cp "$T"/build/src/build/bin/* "$T/image-bin/"
  while read -r from to; do
    check "runtime stage: COPY $from exists in the source tree" test -e "$T/build/src/$from"
    case $to in
      /usr/local/bin/*) cp "$T/build/src/$from" "$T/image-bin/$(basename "$to")"
                        check "runtime stage: $to is executable" test -x "$T/image-bin/$(basename "$to")" ;;
    esac
  done < <(stage runtime | sed -n 's/^COPY \([^-][^ ]*\) \([^ ]*\)$/\1 \2/p')
  for c in server worker scrape upload download list delete clean; do
    check "the image's autopgo $c runs our binary (--help)" \
      bash -c "env PATH=/usr/bin:/bin '$T/image-bin/autopgo' $c --help >/dev/null 2>&1"
  done
  "$T/demo/gotarget" -h >/dev/null 2>&1
  check "the demo binary runs" test $? -eq 0
  ;;
*) echo "usage: $0 compose|build SRC_DIR BIN_DIR" >&2; exit 2 ;;
esac
echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
