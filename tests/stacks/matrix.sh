#!/usr/bin/env bash
# tests/stacks/matrix.sh RELEASE... - `make test`: every suite on every
# supported Debian release at once. This machine's own release runs natively;
# each other one runs in its cached root (stack.sh), in its own network
# namespace, so the labs of all releases share 127.0.0.x without meeting.
#
# Each release's output goes to _build/stacks/<release>.log; progress lines
# (suite headers, pass/fail counts) are printed live with a [release] prefix,
# and each release's whole log is printed once it finishes, so a CI log holds
# everything. Exit status: non-zero if any release failed.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
host=$(sh "$TOP/tests/stacks/release.sh") || exit 1
out=$TOP/_build/stacks
mkdir -p "$out"
[ $# -gt 0 ] || set -- bookworm trixie sid

declare -A pid_of status_of took_of
start=$SECONDS
for rel in "$@"; do
    log=$out/$rel.log
    (
        t0=$SECONDS
        # Same command a developer types for one release; for another
        # release it builds or reuses the root, runs `make deps` in it,
        # then the suites inside.
        make -C "$TOP" --no-print-directory test STACK="$rel" >"$log" 2>&1
        s=$?
        echo "$s $((SECONDS - t0))" >"$out/$rel.status"
        exit "$s"
    ) &
    pid_of[$rel]=$!
    # Progress: follow the log, keep only the lines that say where it is.
    (tail -n +1 -F --pid=${pid_of[$rel]} "$log" 2>/dev/null |
        grep --line-buffered -aE '^(===== |stack: )|^[0-9]+ passed, [0-9]+ failed|^  (All [0-9]+ tests passed|Failed: )|^make.*\*\*\*' |
        sed -u "s/^/[$rel] /") &
done
echo "matrix: $* on a $host machine; logs in $out/"

failed=0
for rel in "$@"; do
    wait "${pid_of[$rel]}"
    read -r s t <"$out/$rel.status" 2>/dev/null || { s=1; t=0; }
    status_of[$rel]=$s
    took_of[$rel]=$t
    printf '\n##### %s: whole log (exit %s, %s s) #####\n' "$rel" "$s" "$t"
    cat "$out/$rel.log"
    [ "$s" = 0 ] || failed=$((failed + 1))
done
wait

printf '\n##### matrix summary (%d s wall) #####\n' $((SECONDS - start))
for rel in "$@"; do
    printf '%-8s %s in %s s\n' "$rel" "$([ "${status_of[$rel]}" = 0 ] && echo passed || echo FAILED)" "${took_of[$rel]}"
    grep -aE "^$rel +(ok|FAILED) " "$out/$rel.log" | sed 's/^/    /'
done
if [ "$failed" -gt 0 ]; then
    echo "matrix: $failed release(s) failed"
    exit 1
fi
echo "matrix: every suite passed on $*"
