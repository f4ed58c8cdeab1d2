#!/bin/sh
# tests/stacks/release.sh [ROOT] - print the supported Debian release a system
# runs: bookworm (Debian 12), trixie (Debian 13) or sid (unstable). ROOT is a
# Debian root (default /). Anything else is an error naming what was found,
# never a guess: every package name and every expected ejabberd behaviour
# depends on this answer.
root=${1:-}
osr="$root/etc/os-release"
[ -r "$osr" ] || osr="$root/usr/lib/os-release"
if [ ! -r "$osr" ]; then
    echo "release.sh: no $root/etc/os-release: not a Debian system" >&2
    exit 1
fi
id=$(sed -n 's/^ID=//p' "$osr" | tr -d '"')
codename=$(sed -n 's/^VERSION_CODENAME=//p' "$osr" | tr -d '"')
dv=$(cat "$root/etc/debian_version" 2>/dev/null)
if [ "$id" != debian ]; then
    echo "release.sh: $osr says ID=$id; only Debian 12, 13 and unstable are supported" >&2
    exit 1
fi
case "$codename/$dv" in
bookworm/*) echo bookworm ;;
trixie/*) echo trixie ;;
# Unstable has no release number: its debian_version reads "<next>/sid".
*/*/sid) echo sid ;;
*)
    echo "release.sh: Debian '$codename' ($dv) is not supported: use Debian 12 (bookworm)," \
        "13 (trixie) or unstable (sid)" >&2
    exit 1
    ;;
esac
