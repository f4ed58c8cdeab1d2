#!/usr/bin/env bash
# tests/stacks/suites.sh SUITE... - run each test suite (a make target) of this
# release in turn, even after one fails, then print one line per suite (status,
# seconds, its last "N passed, N failed" line) and exit non-zero if any failed.
# `make test-here` calls it with the whole list (the Makefile's SUITES).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
release=$(sh "$TOP/tests/stacks/release.sh") || exit 1
summary=()
failed=0
start_all=$SECONDS
for suite in "$@"; do
    printf '\n===== %s: %s =====\n' "$release" "$suite"
    log=$(mktemp)
    t0=$SECONDS
    make -C "$TOP" --no-print-directory "$suite" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    took=$((SECONDS - t0))
    counts=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    [ -n "$counts" ] || counts=$(grep -aoE '(All [0-9]+ tests passed|Failed: [0-9]+\.  Skipped: [0-9]+\.  Passed: [0-9]+)' "$log" | tail -n 1)
    rm -f "$log"
    if [ "$status" = 0 ]; then word=ok; else word=FAILED; failed=$((failed + 1)); fi
    summary+=("$(printf '%-8s %-7s %-22s %5d s  %s' "$release" "$word" "$suite" "$took" "$counts")")
done
printf '\n===== %s: summary (%d s) =====\n' "$release" $((SECONDS - start_all))
printf '%s\n' "${summary[@]}"
if [ "$failed" -gt 0 ]; then
    printf '%s: %d suite(s) failed\n' "$release" "$failed"
    exit 1
fi
printf '%s: all %d suites passed\n' "$release" $#
