#!/bin/sh
# tests/stacks/deps.sh - `make deps`: install, with apt-get, the Debian packages
# this project needs that are missing, under this release's names.
#
# Every package comes from the running release's own archive (no Hex, no
# pip, no backports). Run as root, or as a user who may sudo.
#
# Server packages (ejabberd, prosody) are installed with services held back
# (a temporary policy-rc.d that says 101), so that on a systemd machine the
# packaged ejabberd and Prosody do not start on [::]:5269 and take the
# addresses the loopback lab binds. They stay installed and stopped.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
release=$("$here/release.sh") || exit 1

# What every release needs, under names all three releases share:
# - build: Erlang/OTP with headers and EUnit, OpenSSL, libconfig, libidn2, gcc
# - sanitizers and fuzzing: clang and libclang-rt-dev (the compiler-rt of the
#   release's default clang: 14 on bookworm, 19 on trixie, 21 on sid; the
#   versioned name, libclang-rt-14-dev, is what broke on trixie), valgrind
# - the lab: ejabberd, Prosody with lua-unbound (its resolver), python3 for
#   the CRL server, Chromium and ChromeDriver for the web admin test,
#   Prometheus (and its promtool) for the metrics test, PostgreSQL and
#   ejabberd's driver for it (erlang-p1-pgsql, only Suggested by ejabberd)
#   for the SQL storage test
# - DANE (issue 16): libunbound-dev (with nettle-dev and libevent-dev, which
#   its pkg-config file requires on bookworm), dns-root-data (the root trust
#   anchor the resolver uses by default); the DNSSEC lab: nsd, ldnsutils
#   (ldns-keygen, ldns-signzone), bind9-dnsutils (dig)
# - POSH (issue 16): libcurl4-openssl-dev (the HTTP client of the network
#   layer), nginx (the POSH test server on loopback)
# - Debian packages of the module (make deb): build-essential (which
#   dpkg-buildpackage checks for), debhelper, devscripts (which brings
#   dpkg-dev), lintian
# - the stack matrix: debootstrap and iproute2 (roots of the other releases,
#   each in its own network namespace)
common="erlang-nox erlang-dev erlang-eunit libssl-dev libconfig-dev libidn2-dev libexpat1-dev openssl \
pkg-config gcc libc6-dev make python3 valgrind clang libclang-rt-dev \
ejabberd prosody lua-unbound chromium chromium-driver prometheus debootstrap iproute2 \
postgresql erlang-p1-pgsql build-essential debhelper devscripts lintian \
libunbound-dev nettle-dev libevent-dev dns-root-data nsd ldnsutils bind9-dnsutils \
libcurl4-openssl-dev nginx"
# Where a release names a package differently, its name goes here.
case "$release" in
bookworm) packages="$common" ;;
trixie) packages="$common" ;;
sid) packages="$common" ;;
esac

missing=
for p in $packages; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps ($release): all present"
    exit 0
fi
echo "deps ($release): installing:$missing"
if [ "$(id -u)" = 0 ]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
    as_root() { sudo "$@"; }
else
    echo "deps: not root and no sudo: run 'make deps' as root" >&2
    exit 1
fi
held=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    held=yes
fi
status=0
# A mirror snapshot of unstable is past its Valid-Until by design.
as_root apt-get update -qq -o Acquire::Check-Valid-Until=false || status=$?
if [ "$status" = 0 ]; then
    # shellcheck disable=SC2086 # word splitting of the package list is meant
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing ||
        status=$?
fi
[ -n "$held" ] && as_root rm -f /usr/sbin/policy-rc.d
if [ "$status" != 0 ]; then
    echo "deps ($release): apt-get failed (exit $status) installing:$missing" >&2
    exit "$status"
fi
