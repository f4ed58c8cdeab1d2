#!/usr/bin/env bash
# tests/stacks/test_stack_errors.sh - the stack matrix fails loudly: every way
# of not getting a root of another release is a non-zero exit and a message
# naming what failed, never a silent skip. Needs root. Prints "ok NAME" /
# "FAIL NAME" per case and "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
STACK=$HERE/stack.sh
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# expect NAME TEXT COMMAND...: COMMAND fails and its stderr contains TEXT.
expect() {
    local name=$1 text=$2 status
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    status=$?
    if [ $status -ne 0 ] && grep -qF -- "$text" "$TMP/err"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name (exit $status, wanted a failure saying: $text)"
        sed 's/^/     /' "$TMP/err" | tail -n 5
    fi
}

expect "an unknown release is refused by name" "unknown release 'wheezy'" \
    bash "$STACK" ensure wheezy
expect "run before ensure says which root is missing" "no root at $TMP/none/trixie/root" \
    env STACK_CACHE="$TMP/none" bash "$STACK" run trixie true
# debootstrap lives in /usr/sbin: a PATH without it is a machine without it.
expect "no debootstrap: named, with the way to get it" "debootstrap is not installed (make deps installs it)" \
    env PATH=/usr/bin:/bin STACK_CACHE="$TMP/nodeb" bash "$STACK" ensure trixie
# Port 9 (discard) on loopback: nothing listens there.
expect "an unreachable mirror: debootstrap's failure, with the mirror named" \
    "debootstrap from http://127.0.0.1:9/debian failed" \
    env STACK_MIRROR=http://127.0.0.1:9/debian STACK_CACHE="$TMP/mirror" bash "$STACK" ensure trixie
# A root that exists but cannot install anything: `make deps` fails in it.
mkdir -p "$TMP/broken/sid/root/etc"
printf 'ID=debian\nVERSION_CODENAME=forky\n' >"$TMP/broken/sid/root/etc/os-release"
echo forky/sid >"$TMP/broken/sid/root/etc/debian_version"
touch "$TMP/broken/sid/root/.s2s-stack-bootstrapped"
expect "a failed package install in the root: named" "sid: 'make deps' failed inside $TMP/broken/sid/root" \
    env STACK_CACHE="$TMP/broken" bash "$STACK" ensure sid
# A root of the wrong release under a release's name.
mkdir -p "$TMP/wrong/trixie/root/etc"
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$TMP/wrong/trixie/root/etc/os-release"
touch "$TMP/wrong/trixie/root/.s2s-stack-bootstrapped"
expect "a root holding another release: named" "holds bookworm, not trixie" \
    env STACK_CACHE="$TMP/wrong" bash "$STACK" ensure trixie

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
