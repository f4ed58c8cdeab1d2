#!/usr/bin/env bash
# tests/stacks/stack.sh - run this checkout inside a cached Debian root of
# another release, on this one machine (docs/testing.md, "The stack matrix").
#
#   stack.sh ensure RELEASE             build the root if missing, then `make deps` in it
#   stack.sh run RELEASE [--net] CMD... run CMD in /src of the root (the checkout)
#   stack.sh fresh RELEASE              a throwaway root with only make added:
#                                       make deps, then make demo, in it
#   stack.sh path RELEASE               print where the root lives
#
# RELEASE is bookworm, trixie or sid. Needs root (debootstrap, mount
# namespaces, chroot).
#
# The root is built once with debootstrap from the mirror this machine's apt
# sources name, then reused (STACK_CACHE, default /var/cache/s2s-trust-stacks).
# Inside it, the checkout is mounted at /src as the lower layer of an
# overlay: the tree is read live from the checkout, whatever a run writes
# lands in the root's own upper layer, and the build outputs (_build, ebin,
# priv/lib, priv/bin) are per-release directories bind-mounted
# over the checkout's own, so no release ever sees another's objects.
#
# `run` is in private mount and PID namespaces and, unless --net is given, in a new
# network namespace with only loopback up: servers in the root bind the same
# 127.0.0.x addresses as a lab on the host or in another root without
# meeting them, and nothing a test starts can reach beyond this machine.
# Every failure (no debootstrap, an unreachable mirror, a failed package
# install) ends with a message naming what failed and a non-zero status;
# nothing is skipped silently.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
: "${STACK_CACHE:=/var/cache/s2s-trust-stacks}"
# Build outputs of the tree (.gitignore); each release gets its own.
BUILD_DIRS=(_build ebin priv/lib priv/bin)

die() {
    printf 'stack: %s\n' "$*" >&2
    exit 1
}
say() { printf 'stack: %s\n' "$*" >&2; }

check_release() {
    case "${1:-}" in
    bookworm | trixie | sid) ;;
    *) die "unknown release '${1:-}': use bookworm, trixie or sid" ;;
    esac
}

need_root() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap, mount namespaces, chroot): run as root or with sudo"
}

# The Debian mirror this machine's apt uses (deb822 or one-line sources),
# unless STACK_MIRROR names one.
mirror() {
    if [ -n "${STACK_MIRROR:-}" ]; then
        echo "$STACK_MIRROR"
        return
    fi
    local m
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n' | grep -E '/debian/?$' | head -n 1 || true)
    if [ -z "$m" ]; then
        m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/) { print $i; break } }' |
            grep -E '/debian/?$' | head -n 1 || true)
    fi
    [ -n "$m" ] || die "no Debian mirror found in /etc/apt/sources.list*; set STACK_MIRROR"
    echo "${m%/}"
}

root_of() { echo "$STACK_CACHE/$1/root"; }
# What a run writes (the overlay's upper layer, the build outputs) is kept
# per release and per checkout: two checkouts (worktrees) of the project
# share a release's root but never each other's objects.
state_of() { echo "$STACK_CACHE/$1/checkouts/$(printf '%s' "$REPO" | md5sum | cut -c1-12)"; }

# Mounts for a root, inside a private mount namespace (called through
# `unshare`): the root bound onto itself (the lab's own `unshare
# --propagation private` fails when the chroot's / is not a mount point),
# proc, dev, sys, fresh tmpfs on /tmp and /run, and the checkout at /src.
# $1 root, $2 state dir, $3 "src" to mount the checkout.
enter_mounts() {
    local root=$1 state=$2 src=$3
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mount -t tmpfs -o mode=755 tmpfs "$root/run"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    if [ "$src" = src ]; then
        mkdir -p "$root/src" "$state/upper" "$state/work"
        mount -t overlay overlay \
            -o "lowerdir=$REPO,upperdir=$state/upper,workdir=$state/work" "$root/src"
        local d
        for d in "${BUILD_DIRS[@]}"; do
            mkdir -p "$state/build/$d" "$root/src/$d"
            mount --bind "$state/build/$d" "$root/src/$d"
        done
    fi
}

# What a previous run wrote into the tree (outside the build outputs) is
# dropped, so the root always sees the checkout as it is now.
clean_upper() {
    local state=$1
    rm -rf "$state/upper" "$state/work"
}

# One run at a time per (release, checkout): a run starts by dropping the
# previous run's upper layer, and two would share the build outputs.
lock_state() {
    local state=$1
    mkdir -p "$state"
    exec 9>"$state/.lock"
    if ! flock -n 9; then
        say "another run of this checkout is using $state; waiting for it"
        flock 9
    fi
}

# run_in ROOT STATE NET(yes|no) SRC(src|nosrc) CMD...
run_in() {
    local root=$1 state=$2 net=$3 src=$4
    shift 4
    local unshare_net=()
    [ "$net" = no ] && unshare_net=(--net)
    if [ "$src" = src ]; then
        lock_state "$state"
        clean_upper "$state"
    fi
    # shellcheck disable=SC2016 # expanded by the inner bash
    # A PID namespace too: the root's /proc shows only its own processes (a
    # lab there never sees, or stops, a lab of the host or of another root),
    # and whatever a run leaves behind dies with it.
    unshare --mount --propagation private --pid --fork "${unshare_net[@]}" -- bash -c '
        set -e
        exec 9>&-   # the lock stays with this script, not with servers left behind
        source "$1"
        root=$2 state=$3 net=$4 src=$5
        shift 5
        enter_mounts "$root" "$state" "$src"
        if [ "$net" = no ]; then ip link set lo up; fi
        cd "$root"
        if [ "$src" = src ]; then dir=/src; else dir=/; fi
        exec chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            CI="${CI:-}" STACK_IN_ROOT=1 \
            /bin/bash -c "cd $dir && exec \"\$@\"" _ "$@"
    ' _ "$HERE/stack.sh" "$root" "$state" "$net" "$src" "$@"
}

# A minimal root of RELEASE in DIR: debootstrap, services held back
# (policy-rc.d), sources of the release, make (the first command a newcomer
# types needs it).
bootstrap() {
    local rel=$1 dir=$2 mirror
    command -v debootstrap >/dev/null || die "debootstrap is not installed (make deps installs it)"
    mirror=$(mirror)
    say "$rel: debootstrap --variant=minbase $rel from $mirror (about a minute)"
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! debootstrap --variant=minbase "$rel" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1; then
        tail -n 20 "$dir.debootstrap.log" >&2
        die "$rel: debootstrap from $mirror failed (log: $dir.debootstrap.log)"
    fi
    printf '#!/bin/sh\n# no service starts inside a build root\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    printf 'deb %s %s main\n' "$mirror" "$rel" >"$dir/etc/apt/sources.list"
    # What the Debian installer writes and minbase leaves out (bookworm).
    [ -e "$dir/etc/hosts" ] ||
        printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$dir/etc/hosts"
    # The mirror is a dated snapshot; unstable's Release is past Valid-Until.
    printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
        >"$dir/etc/apt/apt.conf.d/90s2s-trust-stack"
    local state=$dir.state
    mkdir -p "$state"
    if ! run_in "$dir" "$state" yes nosrc bash -c \
        'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null'; then
        die "$rel: apt-get update / install make failed inside the new root ($mirror)"
    fi
}

cmd_ensure() {
    local rel=$1 root
    root=$(root_of "$rel")
    if [ ! -e "$root/.s2s-stack-bootstrapped" ]; then
        bootstrap "$rel" "$root"
        touch "$root/.s2s-stack-bootstrapped"
    fi
    local got
    got=$("$HERE/release.sh" "$root") || die "$rel: $root is not a Debian root"
    [ "$got" = "$rel" ] || die "$root holds $got, not $rel"
    # `make deps` inside the root, every time: it installs what is missing
    # under the release's own names, and says "all present" otherwise.
    if ! run_in "$root" "$(state_of "$rel")" yes src make deps; then
        die "$rel: 'make deps' failed inside $root"
    fi
}

cmd_run() {
    local rel=$1 net=no
    shift
    if [ "${1:-}" = --net ]; then
        net=yes
        shift
    fi
    [ $# -gt 0 ] || die "run: no command"
    local root
    root=$(root_of "$rel")
    [ -e "$root/.s2s-stack-bootstrapped" ] || die "$rel: no root at $root: run 'stack.sh ensure $rel' first"
    run_in "$root" "$(state_of "$rel")" "$net" src "$@"
}

# The README's first command on what a newcomer's fresh machine has (a
# minimal Debian root with make, nothing this project installed), in a root
# made for it and removed after: `make deps` (with the network: it installs
# packages), then `make demo` (in its own network namespace, so its servers
# never meet a lab running on this machine).
cmd_fresh() {
    local rel=$1
    local dir="$STACK_CACHE/fresh-$rel" status=0
    bootstrap "$rel" "$dir/root"
    say "$rel: fresh root: make deps"
    if run_in "$dir/root" "$dir/state" yes src make deps; then
        say "$rel: fresh root: make demo"
        run_in "$dir/root" "$dir/state" no src make demo || status=$?
    else
        status=$?
        say "$rel: make deps failed in a fresh root"
    fi
    rm -rf "$dir"
    return "$status"
}

main() {
    local cmd=${1:-}
    shift || true
    case "$cmd" in
    ensure | run | fresh | path) ;;
    *) die "usage: stack.sh ensure|run|fresh|path RELEASE [...]" ;;
    esac
    check_release "${1:-}"
    local rel=$1
    shift
    case "$cmd" in
    path) root_of "$rel" ;;
    ensure) need_root; cmd_ensure "$rel" ;;
    run) need_root; cmd_run "$rel" "$@" ;;
    fresh) need_root; cmd_fresh "$rel" ;;
    esac
}

# Sourced by the inner shell of run_in for enter_mounts only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
