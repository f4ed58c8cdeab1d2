#!/usr/bin/env bash
# tests/deb/scenario.sh - run by test_deb.sh inside a clean root where
# ejabberd-mod-s2s-trust was installed with apt-get; /src is the checkout
# with empty build outputs. Everything the module runs comes from the
# package's files: no code=/-pa, ejabberd finds it through ERL_LIBS.
#
#   a.test  ejabberd + the module, configured as docs/packaging.md tells an
#           operator: the example yml copied into a modules.d directory
#   b.test  ejabberd, stock, valid certificate: trusted
#   c.test  Prosody, self-signed: refused, recorded as a violator
# Then: upgrade (same version again, then a higher one) keeps the
# violation, remove keeps it, purge keeps it (it is ejabberd's database).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
# testing.sh's counters, continued from test_deb.sh's own checks.
# shellcheck disable=SC2034
E2E_PASSED=${DEB_PASSED:-0}
# shellcheck disable=SC2034
E2E_FAILED=${DEB_FAILED:-0}
# shellcheck disable=SC2034 # read by testing.sh
E2E_LOGS=(a)
PKG=ejabberd-mod-s2s-trust
DEBS=/var/tmp/deb
APPDIR=$(ls -d /usr/lib/*/s2s_trust-* 2>/dev/null | head -n 1)

# ---- the installed files ------------------------------------------------------
listed() { dpkg -L "$PKG" | grep -qx -- "$1"; }
check "dpkg -L: the NIF in the application's priv/lib" listed "$APPDIR/priv/lib/s2s_trust_nif.so"
beams() { listed "$APPDIR/ebin/mod_s2s_trust.beam" && listed "$APPDIR/ebin/s2s_trust.app"; }
check "dpkg -L: the beams and the .app" beams
check "dpkg -L: /usr/bin/s2s-trust" listed /usr/bin/s2s-trust
check "dpkg -L: the example configuration" listed /usr/share/doc/$PKG/examples/mod_s2s_trust.yml
manpage() { man -l /usr/share/man/man1/s2s-trust.1.gz 2>/dev/null | grep -q 'config-check'; }
check "man -l reads the manual page" manpage
no_build_tree() { [ -z "$(find /src/ebin /src/priv/lib /src/priv/bin -mindepth 1 2>/dev/null)" ]; }
check "no build tree in sight (/src/ebin, priv/lib, priv/bin empty)" no_build_tree
priv_dir() {
    [ "$(ERL_LIBS=$(dirname "$APPDIR") erl -noshell -eval 'io:format("~s", [code:priv_dir(s2s_trust)]), halt().')" = "$APPDIR/priv" ]
}
check "code:priv_dir(s2s_trust) is the installed priv/ (ERL_LIBS as ejabberdctl sets it)" priv_dir

lab_init || exit 1
lab_trust_config || exit 1
lab_issue_leaf a a.test >/dev/null
lab_issue_leaf b b.test >/dev/null
lab_issue_leaf c c.test selfsigned >/dev/null
cli_ok() { /usr/bin/s2s-trust check --config "$TRUST/trust.conf" --domain b.test "$(lab_cert b chain)" | grep -q '^b.test: ok'; }
check "s2s-trust check: b.test's chain is ok against the test PKI" cli_ok
cli_refused() { /usr/bin/s2s-trust check --config "$TRUST/trust.conf" --domain c.test "$(lab_cert c chain)" >/dev/null; [ $? = 1 ]; }
check "s2s-trust check: c.test's self-signed chain is refused (exit 1)" cli_refused

# ---- the operator's configuration: the example, trust_config set ------------
MODS=$LAB_DIR/modules.d
mkdir -p "$MODS"
sed "s|trust_config: default|trust_config: \"$TRUST/trust.conf\"|" \
    /usr/share/doc/$PKG/examples/mod_s2s_trust.yml >"$MODS/mod_s2s_trust.yml"
chmod -R a+rX "$MODS"
start_a() {
    lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes \
        cfg="CONTRIB_MODULES_CONF_DIR=$MODS" "$@"
}
start_a nowait || exit 1
lab_ejabberd_start b b.test 127.0.0.3 b hardened nowait || exit 1
lab_prosody_start c c.test 127.0.0.4 c - secure_auth=false nowait || exit 1
lab_wait_ready a b c || exit 1
loaded() { lab_rpc a 'gen_mod:is_loaded(<<"a.test">>, mod_s2s_trust)' | grep -q true; }
check "the module runs, from modules.d/mod_s2s_trust.yml" loaded
from_pkg() { lab_rpc a 'code:which(mod_s2s_trust)' | grep -q "\"$APPDIR/ebin/mod_s2s_trust.beam\""; }
check "its code is the package's ($APPDIR)" from_pkg
nif_from_pkg() { grep -q "$APPDIR/priv/lib/s2s_trust_nif.so" "/proc/$(_lab_ej_beam_pid a)/maps"; }
check "its NIF is the package's" nif_from_pkg

for u in alice@a.test bob@b.test carol@c.test; do lab_register "$u" secret >/dev/null || exit 1; done
lab_send alice@a.test bob@b.test "a to b via the package"
check "a trusted peer (b.test) gets the message" lab_wait_delivered bob@b.test "a to b via the package"
lab_send carol@c.test alice@a.test "c to a via the package"
check "an untrusted peer (c.test) is refused" \
    lab_assert_not_delivered alice@a.test "c to a via the package" a \
    "mod_s2s_trust: refused inbound s2s stream of c.test"
listed_violator() { lab_ctl a s2s_trust_violators | grep -q '^c\.test'; }
check "s2s_trust_violators lists c.test" _lab_poll 10 0.2 listed_violator
# The survey from ejabberd runs the packaged program (/usr/bin/s2s-trust:
# the app directory has no priv/bin): a result that is not "not surveyed".
surveyed() { lab_ctl a s2s_trust_survey_results | grep "^b\.test"$'\t' | grep -vq 'not surveyed'; }
check "s2s_trust_survey runs the packaged s2s-trust" \
    eval 'lab_ctl a s2s_trust_survey b.test | grep -q "^1 domain(s) queued" && _lab_poll 90 0.5 surveyed'

# ---- upgrade, remove, purge ----------------------------------------------------
dpkg_do() { DEBIAN_FRONTEND=noninteractive "$@" >>"$LAB_DIR/dpkg.log" 2>&1; }
# Each restart must find the violation in ejabberd's spool (Mnesia).
restart_lists() { lab_ejabberd_restart a && _lab_poll 10 0.2 listed_violator; }
check "reinstall (same version) while ejabberd runs" dpkg_do apt-get install -y --reinstall "$DEBS"/${PKG}_*.deb
check "after the reinstall and a restart, c.test is still listed" restart_lists
check "upgrade to a higher version (dpkg -i)" dpkg_do dpkg -i "$DEBS/upgrade.deb"
upgraded() { dpkg-query -W -f='${Version}' "$PKG" | grep -q '+upgrade1$'; }
check "dpkg knows the higher version" upgraded
check "after the upgrade and a restart, c.test is still listed" restart_lists

# Removing: the operator takes the module out of the configuration first
# (ejabberd refuses to start with an unknown module).
lab_ejabberd_stop a
rm -f "$MODS/mod_s2s_trust.yml"
check "apt-get remove" dpkg_do apt-get remove -y "$PKG"
gone() { [ ! -e /usr/bin/s2s-trust ] && [ ! -e "$APPDIR" ]; }
check "remove takes the program and the module away" gone
rows() { lab_rpc a 'mnesia:table_info(s2s_trust_violation, size)' | grep -qx '[1-9][0-9]*'; }
table_kept() { _lab_ej_launch a && lab_wait_ready a && _lab_poll 20 0.2 rows; }
check "remove keeps the violations in ejabberd's Mnesia" table_kept
check "purge" dpkg_do dpkg --purge "$PKG"
purged() { ! dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q installed; }
check "purge leaves nothing of the package" purged
check "purge keeps the violations (ejabberd's database, not the package's)" rows
# Back again: the module finds its table as it left it.
sed "s|trust_config: default|trust_config: \"$TRUST/trust.conf\"|" \
    "$HERE/../../priv/debian/mod_s2s_trust.yml" >"$MODS/mod_s2s_trust.yml"
chmod a+r "$MODS/mod_s2s_trust.yml"
reinstalled() { dpkg_do apt-get install -y "$DEBS"/${PKG}_*.deb && restart_lists; }
check "installed again, the module lists c.test from before the purge" reinstalled

lab_assert_loopback_only || e2e_fail "every listener on loopback"
e2e_summary
