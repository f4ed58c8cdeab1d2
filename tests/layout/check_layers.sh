#!/bin/bash
# tests/layout/check_layers.sh - the house rules that keep the code readable,
# checked on every run so they stay true (docs/design.md, "Map of the house"):
#   1. arrows only point down: cli, nif -> net -> core (a layer includes
#      its own headers and those below it, never those above or beside);
#   2. core/ never includes erl_nif.h or a socket header (VM-free, no I/O);
#   3. no include circle among our headers;
#   4. no source file in c_src/ or erl_src/ over 700 lines.
# Prints one line per rule and the runner's "N passed, N failed" line.
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0
check() { # name, then the offending lines on stdin (none = pass)
    local name=$1 out
    out=$(cat)
    if [ -z "$out" ]; then echo "ok   $name"; pass=$((pass + 1))
    else echo "FAIL $name"; sed 's/^/     /' <<<"$out"; fail=$((fail + 1)); fi
}

# Which layers each layer may include.
allowed() {
    case $1 in
    core) echo "core" ;;
    net) echo "core net" ;;
    nif) echo "core net nif" ;;
    cli) echo "core net cli" ;;
    esac
}
for layer in core net nif cli; do
    ok=$(allowed "$layer")
    check "$layer/ includes only: $ok" < <(grep -Hn '#include "' c_src/$layer/*.[ch] | while IFS= read -r line; do
        inc=$(sed -n 's/.*#include "\([^"]*\)".*/\1/p' <<<"$line")
        dir=${inc%%/*}
        [ "$dir" = "$inc" ] && dir=$layer # a plain name: the same folder
        case " $ok " in *" $dir "*) ;; *) echo "$line" ;; esac
    done)
done

check "core/ is VM-free and does no I/O" < <(grep -Hn '#include <\(erl_nif\|sys/socket\|netdb\|poll\)\.h>' c_src/core/*.[ch])

# Include circles: a depth-first walk over "file -> header" edges.
check "no include circle" < <(python3 - <<'PY'

import glob, os, re
edges = {}
for f in glob.glob('c_src/*/*.[ch]'):
    d = os.path.dirname(f)
    out = []
    for inc in re.findall(r'#include "([^"]+)"', open(f).read()):
        p = os.path.join('c_src', inc) if '/' in inc else os.path.join(d, inc)
        out.append(os.path.normpath(p))
    edges[os.path.normpath(f)] = out
state = {}
def walk(n, path):
    state[n] = 1
    for m in edges.get(n, []):
        if state.get(m) == 1:
            print(' -> '.join(path + [n, m]))
        elif m in edges and not state.get(m):
            walk(m, path + [n])
    state[n] = 2
for n in sorted(edges):
    if not state.get(n):
        walk(n, [])
PY
)

check "no file in c_src/ or erl_src/ over 700 lines" < <(wc -l c_src/*/*.[ch] erl_src/*.erl |
    awk '$2 != "total" && $1 > 700 { print $2 ": " $1 " lines" }')

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
