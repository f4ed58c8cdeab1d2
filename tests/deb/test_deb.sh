#!/usr/bin/env bash
# tests/deb/test_deb.sh RELEASE [DEB_DIR] - the Debian package as an operator
# gets it: installed with apt-get into a clean root of RELEASE (nothing of
# this project in it), then tests/deb/scenario.sh runs there against the
# installed files only (docs/packaging.md).
#
# The clean root is a copy of a pristine debootstrap minbase root, made
# once per release under DEB_TEST_CACHE (debootstrap takes about a minute,
# the copy seconds). apt-get needs the network for the package's
# dependencies, hence this script runs on the host for every release (the
# stack roots have no network); their downloads are seeded from the apt
# cache of the host or of the release's stack root, so a run downloads
# little. The scenario itself runs in the root's own network namespace.
#
# Without DEB_DIR, the package is built first: `make deb` here for this
# release, in the release's stack root for another (tests/stacks/stack.sh).
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
REL=${1:?usage: test_deb.sh RELEASE [DEB_DIR]}
DEB_DIR=${2:-}
: "${DEB_TEST_CACHE:=/var/cache/s2s-trust-deb}"
: "${LAB_DIR:=/tmp/s2s-lab-deb}"

# stack.sh's root helpers (bootstrap, run_in); it sets -e and pipefail for
# itself: this script counts failures instead.
# shellcheck source=tests/stacks/stack.sh
source "$REPO/tests/stacks/stack.sh"
set +e +o pipefail
# shellcheck source=tests/e2e/testing.sh
source "$REPO/tests/e2e/testing.sh"
# The lab's logs live in the clean root: the scenario shows them itself.
lab_show_logs() { :; }

[ "$(id -u)" = 0 ] || { echo "test_deb.sh needs root (debootstrap, chroot)"; exit 1; }
check_release "$REL"
HOST_REL=$(bash "$REPO/tests/stacks/release.sh")

t0=$(date +%s)
# Whichever way it is built, `make deb` runs lintian and fails on findings.
build_deb() {
    if [ "$REL" = "$HOST_REL" ]; then
        make -C "$REPO" -f Makefile -f priv/debian/deb.mk deb && DEB_DIR=$REPO/_build/deb
    else
        cmd_ensure "$REL" &&
            run_in "$(root_of "$REL")" "$(state_of "$REL")" no src make -f Makefile -f priv/debian/deb.mk deb &&
            DEB_DIR=$(state_of "$REL")/build/_build/deb
    fi
}
if [ -z "$DEB_DIR" ]; then
    build_deb >"/tmp/s2s-deb-build-$REL.log" 2>&1 || {
        tail -n 30 "/tmp/s2s-deb-build-$REL.log"
        echo "FAIL make deb for $REL (log: /tmp/s2s-deb-build-$REL.log)"
        exit 1
    }
    sed -n '/^lintian /,$p' "/tmp/s2s-deb-build-$REL.log"
    echo "$REL: package built and lintian-clean in $(($(date +%s) - t0)) s"
fi
DEB=$(ls "$DEB_DIR"/ejabberd-mod-s2s-trust_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || { echo "no ejabberd-mod-s2s-trust .deb in $DEB_DIR: run 'make deb' first"; exit 1; }
PRISTINE=$DEB_TEST_CACHE/$REL/pristine
if [ ! -e "$PRISTINE/.s2s-deb-pristine" ]; then
    bootstrap "$REL" "$PRISTINE" || exit 1
    touch "$PRISTINE/.s2s-deb-pristine"
fi
RUN=$DEB_TEST_CACHE/$REL/run
CLEAN=$RUN/root
rm -rf "$RUN" && mkdir -p "$RUN" && cp -a "$PRISTINE" "$CLEAN" || exit 1
# Debs apt would download again: hard links from an apt cache of the same
# release (same file system: no copy; apt checks each against its hash).
if [ "$REL" = "$HOST_REL" ]; then seed=/var/cache/apt/archives
else seed=$(root_of "$REL")/var/cache/apt/archives; fi
cp -l "$seed"/*.deb "$CLEAN/var/cache/apt/archives/" 2>/dev/null || true
echo "clean $REL root ready in $(($(date +%s) - t0)) s"

# The package, and a copy of it one version higher (the upgrade case).
mkdir -p "$CLEAN/var/tmp/deb"
cp "$DEB" "$CLEAN/var/tmp/deb/"
up=$RUN/up
mkdir -p "$up"
dpkg-deb -R "$DEB" "$up/tree" &&
    sed -i 's/^Version: \(.*\)$/Version: \1+upgrade1/' "$up/tree/DEBIAN/control" &&
    dpkg-deb -b --root-owner-group "$up/tree" "$CLEAN/var/tmp/deb/upgrade.deb" >/dev/null ||
    { echo "could not build the upgrade copy"; exit 1; }

# Only the package: its Depends must bring everything it needs.
install_pkg() {
    run_in "$CLEAN" "$RUN/state" yes nosrc bash -c '
        apt-get update -qq -o Acquire::Check-Valid-Until=false &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./var/tmp/deb/ejabberd-mod-s2s-trust_*.deb' \
        >"$RUN/install.log" 2>&1
}
check "apt-get install ./ejabberd-mod-s2s-trust_*.deb into a clean $REL root" install_pkg ||
    tail -n 20 "$RUN/install.log"
# What the test needs beside it (the lab's peers, man for the manual page);
# installed after, so they cannot hide a missing dependency.
tools() {
    run_in "$CLEAN" "$RUN/state" yes nosrc bash -c '
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prosody lua-unbound python3 openssl man-db procps' \
        >"$RUN/tools.log" 2>&1
}
check "the lab's tools install beside it" tools || tail -n 20 "$RUN/tools.log"
echo "package and tools installed at $(($(date +%s) - t0)) s"

# The scenario: /src is this checkout, its build outputs empty directories
# (stack.sh's per-run bind mounts): nothing can come from a build tree. It
# has its own network namespace, but takes the lab lock as every lab suite
# does (Makefile, LAB_LOCK).
exec 8>/tmp/s2s-lab.lock
flock 8
run_in "$CLEAN" "$RUN/state" no src env LAB_DIR="$LAB_DIR" LAB_DIST_BASE="${LAB_DIST_BASE:-27550}" \
    DEB_PASSED="$E2E_PASSED" DEB_FAILED="$E2E_FAILED" bash tests/deb/scenario.sh
status=$?
exec 8>&-
echo "$REL: $(($(date +%s) - t0)) s in all"
rm -rf "$RUN"
exit "$status"
