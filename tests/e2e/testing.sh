# shellcheck shell=bash
# tests/e2e/testing.sh - the assertions every end-to-end script shares.
#
#   check NAME [INSTANCE...] -- COMMAND...   one assertion; on failure the
#                                            tail of the named instances' logs
#   check NAME COMMAND...                    the same, logs of $E2E_LOGS
#   e2e_summary                              "N passed, N failed"; status
E2E_PASSED=0
E2E_FAILED=0
E2E_LOGS=()

e2e_ok() { E2E_PASSED=$((E2E_PASSED + 1)); echo "ok   $1"; }
e2e_fail() { # NAME [INSTANCE...]
    E2E_FAILED=$((E2E_FAILED + 1))
    echo "FAIL $1"
    shift
    [ $# -gt 0 ] || set -- "${E2E_LOGS[@]}"
    lab_show_logs "$@" 2>&1 | tail -n 30 | sed 's/^/     /'
}

check() {
    local name=$1 arg logs=()
    shift
    for arg; do
        if [ "$arg" = -- ]; then
            while [ "$1" != -- ]; do logs+=("$1"); shift; done
            shift
            break
        fi
    done
    [ ${#logs[@]} -gt 0 ] || logs=("${E2E_LOGS[@]}")
    if "$@"; then e2e_ok "$name"; else e2e_fail "$name" "${logs[@]}"; fi
}

e2e_summary() {
    echo "$E2E_PASSED passed, $E2E_FAILED failed"
    [ "$E2E_FAILED" -eq 0 ]
}
