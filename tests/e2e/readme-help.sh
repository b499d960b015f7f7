#!/usr/bin/env bash
# readme-help.sh SRC_DIR BIN_DIR — rewrites the --help blocks of README.md
# ("The binaries": pgopipe-server, pgopipe-worker, pgopipe-scraper and every
# pgopipe verb) from the binaries in BIN_DIR, so the README shows exactly what
# the programs print. readme-check.sh then verifies the rest.
set -euo pipefail
SRC=$(cd "$1" && pwd)
BIN=$(cd "$2" && pwd)
R=$SRC/README.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in pgopipe-server pgopipe-worker pgopipe-scraper; do
  "$BIN/$b" --help >"$tmp/$b" 2>&1
done
{
  "$BIN/pgopipe" --help 2>&1
  for v in $("$BIN/pgopipe" --help 2>&1 | sed -n '/^Verbs:/,/^$/p' | awk 'NF && !/Verbs:/ {print $1}'); do
    echo
    case $v in
    pgo) "$BIN/pgopipe" pgo diff --help 2>&1 ;; # the verb's one sub-verb
    *) "$BIN/pgopipe" "$v" --help 2>&1 ;;
    esac
  done
} >"$tmp/pgopipe"
# Replaces the fenced block whose first line starts with the help's first line.
python3 - "$R" "$tmp" <<'PY'
import os, sys
readme, tmp = sys.argv[1], sys.argv[2]
lines = open(readme).read().split('\n')
for name in ['pgopipe-server', 'pgopipe-worker', 'pgopipe-scraper', 'pgopipe']:
    help_text = open(os.path.join(tmp, name)).read().rstrip('\n').split('\n')
    first = help_text[0].split(' ')[0:2]
    for i, l in enumerate(lines):
        if l == '```' and i + 1 < len(lines) and lines[i + 1].split(' ')[0:2] == first:
            j = i + 1
            while lines[j] != '```':
                j += 1
            lines[i + 1:j] = help_text
            break
    else:
        sys.exit('README.md has no block starting with ' + ' '.join(first))
open(readme, 'w').write('\n'.join(lines))
PY
