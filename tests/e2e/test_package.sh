#!/usr/bin/env bash
# tests/e2e/test_package.sh - the ext_mod package (`make package`) installs
# into Debian's ejabberd 23.01 the way an operator would do it:
# `ejabberdctl module_install mod_s2s_trust` compiles the Erlang sources,
# builds the NIF with `make -C c_src`, installs, and starts the module from
# its conf/ file. Then the module answers its commands and federates.
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-trust-lab-package}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/lab.sh"

# shellcheck source=tests/e2e/testing.sh
source "$HERE/testing.sh"
E2E_LOGS=(a)

PACKAGE=$LAB_REPO/_build/package/mod_s2s_trust
[ -f "$PACKAGE/mod_s2s_trust.spec" ] || { echo "no package: run 'make package' first"; exit 1; }

lab_init || exit 1
MODS=$LAB_DIR/contrib
mkdir -p "$MODS/sources"
cp -r "$PACKAGE" "$MODS/sources/"
chown -R ejabberd:ejabberd "$MODS"
lab_issue_leaf a a.test
lab_issue_leaf c c.test selfsigned
lab_ejabberd_start a a.test 127.0.0.2 a starttls=optional dialback=yes \
    cfg="CONTRIB_MODULES_PATH=$MODS" cfg="CONTRIB_MODULES_CONF_DIR=$MODS/conf" || exit 1
lab_prosody_start c c.test 127.0.0.4 c - secure_auth=false || exit 1

available() { lab_ctl a modules_available | grep -q "^mod_s2s_trust"; }
check "modules_available lists the package" available
check "module_install succeeds" lab_ctl a module_install mod_s2s_trust
check "the NIF was built by ext_mod's make -C c_src" test -f "$MODS/mod_s2s_trust/priv/lib/s2s_trust_nif.so"
installed() { lab_ctl a modules_installed | grep -q "^mod_s2s_trust"; }
check "modules_installed lists it" installed
loaded() { lab_rpc a 'gen_mod:is_loaded(<<"a.test">>, mod_s2s_trust)' | grep -q true; }
check "the module runs, from its conf/mod_s2s_trust.yml" _lab_poll 20 0.2 loaded
check "its commands answer" lab_ctl a s2s_trust_violators

# It works: the self-signed peer is refused (the default trust store is the
# system bundle, which does not hold c.test's certificate either way).
lab_register alice@a.test pw >/dev/null && lab_register carol@c.test pw >/dev/null
lab_send carol@c.test alice@a.test "c to a via package"
check "installed module refuses a self-signed peer" \
    lab_assert_not_delivered alice@a.test "c to a via package" a \
    "mod_s2s_trust: refused inbound s2s stream of c.test: self_signed"

# Uninstalled, it leaves no command behind. (ejabberd 23.01 and 24.12 delete
# a command only when given the record exactly as stored: docs/design.md.)
check "module_uninstall succeeds" lab_ctl a module_uninstall mod_s2s_trust
stopped() { lab_rpc a 'gen_mod:is_loaded(<<"a.test">>, mod_s2s_trust)' | grep -q false; }
check "the module is stopped" _lab_poll 20 0.2 stopped
commands_gone() {
    local c left=0
    for c in s2s_trust_violators s2s_trust_export s2s_trust_reload s2s_trust_check s2s_trust_crls; do
        if lab_rpc a "ejabberd_commands:get_command_definition($c)" >/dev/null 2>&1; then
            lab_log "$c is still registered"
            left=1
        fi
    done
    return $left
}
check "its commands are unregistered" commands_gone

e2e_summary
