#!/usr/bin/env bash
# tests/e2e/test_learn.sh - chain completion (docs/learning.md) against real
# servers on loopback: a.test runs mod_s2s_trust with NO intermediates file
# at all (ca_file only), so every peer's chain must be completed from what
# the peer's own s2s server sends.
#
#   a.test   ejabberd + mod_s2s_trust (enforce, dialback loaded), ca_file = root
#   b.test   ejabberd, hardened; leaf from inter-new, sends its chain
#   g.test   Prosody; leaf from inter-new2, sends its chain
#   c.test   Prosody; leaf from inter-new2, sends the leaf only (misconfigured)
#   d.test   Prosody; leaf from inter2 under root2, which a.test does not trust
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lab.sh
source "$HERE/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/testing.sh"
E2E_LOGS=(a)
REPO=$LAB_REPO

declare -A IP=([a]=127.0.0.2 [b]=127.0.0.3 [c]=127.0.0.4 [d]=127.0.0.5 [g]=127.0.0.8)
lab_init || exit 1

lab_issue_leaf a a.test
lab_issue_leaf b b.test issuer=inter-new
lab_issue_leaf g g.test issuer=inter-new2
lab_issue_leaf c c.test issuer=inter-new2 nochain
lab_issue_leaf d d.test issuer=inter2

TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
cp "$LAB_DIR/pki/root.pem" "$TRUST/"
# The point of the test: no intermediate_file.
printf 'ca_file = "root.pem";\n' >"$TRUST/trust.conf"
chmod -R a+rX "$TRUST"
MODULE="mod_s2s_trust:
  trust_config: \"$TRUST/trust.conf\"
  mode: enforce
  learn_wait: 10000
  probe_timeout: 5000
  probe_interval: 600"

lab_ejabberd_start a a.test "${IP[a]}" a starttls=optional dialback=yes code="$REPO" \
    modules="$MODULE" nowait || exit 1
lab_ejabberd_start b b.test "${IP[b]}" b hardened nowait || exit 1
for peer in g c d; do
    lab_prosody_start "$peer" "$peer.test" "${IP[$peer]}" "$peer" - secure_auth=false nowait || exit 1
done
lab_wait_ready a b g c d || exit 1
for u in alice@a.test bob@b.test gina@g.test carl@c.test dan@d.test; do
    lab_register "$u" pw || exit 1
done

REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of'
learned() { lab_ctl a s2s_trust_learned; }
has_learned() { learned | grep -F -- "$1" >/dev/null; }
not_learned() { ! learned | grep -F -- "$1" >/dev/null; }
listed() { lab_ctl a s2s_trust_violators | grep -E "^$1[[:space:]].*$2" >/dev/null; }
not_listed() { ! lab_ctl a s2s_trust_violators | grep -E "^$1[[:space:]]" >/dev/null; }
explains() { lab_ctl a s2s_trust_check "$1" | grep -F -- "$2" >/dev/null; }
pool_size() { # the number of intermediates in a.test's store
    lab_rpc a 's2s_trust:info(mod_s2s_trust_store:of_host(<<"a.test">>))' | tr -d ' \n' |
        sed -n 's/.*intermediates=>\([0-9]*\).*/\1/p'
}
pool_is() { [ "$(pool_size)" = "$1" ]; }
probes_of() { grep -c "probing the s2s server of $1" "$(_lab_dir a)/log/ejabberd.log"; }

check "start: the store holds no intermediate" -- pool_is 0

# ---- a peer that withholds its intermediate ------------------------------------
# First, so that g.test (same intermediate, sent) has not taught it yet.
lab_send carl@c.test alice@a.test "c to a incomplete"
check "incomplete chain: c -> a refused" a c -- \
    lab_assert_not_delivered alice@a.test "c to a incomplete" a "$REFUSED_IN c\.test: unknown_issuer"
check "incomplete chain: recorded as unknown_issuer" -- listed c.test unknown_issuer
check "incomplete chain: recorded as incomplete at the peer" -- \
    explains c.test "chain incomplete at the peer"
check "incomplete chain: nothing learned" -- pool_is 0
lab_send carl@c.test alice@a.test "c to a again"
# The warning is logged once a minute per peer and reason; ejabberd's own
# line about the closed stream is the evidence here.
check "incomplete chain: refused again" a c -- \
    lab_assert_not_delivered alice@a.test "c to a again" a \
    'Closing inbound s2s connection c\.test -> a\.test: .*unknown_issuer.*chain incomplete at the peer' 
check "rate limit: c.test's server probed once" -- test "$(probes_of c.test)" = 1

# ---- a chain to a root we do not trust -------------------------------------------
lab_send dan@d.test alice@a.test "d to a untrusted"
check "untrusted root: d -> a refused" a d -- \
    lab_assert_not_delivered alice@a.test "d to a untrusted" a "$REFUSED_IN d\.test: unknown_issuer"
check "untrusted root: its intermediate is not learned" -- not_learned "Untrusted Intermediate"
check "untrusted root: the record says it does not reach a trusted root" -- \
    explains d.test "does not reach a trusted root"
check "untrusted root: pool still empty" -- pool_is 0

# ---- honest peers whose intermediates we lack --------------------------------------
lab_send bob@b.test alice@a.test "b to a learned"
check "ejabberd peer: b -> a delivered after completion" a b -- \
    lab_wait_delivered alice@a.test "b to a learned" 30
check "ejabberd peer: inter-new learned" -- has_learned $'Unpooled Intermediate\t'
lab_send alice@a.test bob@b.test "a to b learned"
check "ejabberd peer: a -> b delivered" a b -- lab_wait_delivered bob@b.test "a to b learned" 30
check "ejabberd peer: not listed as a violator" -- not_listed b.test

lab_send alice@a.test gina@g.test "a to g learned"
check "prosody peer: a -> g delivered after completion" a g -- \
    lab_wait_delivered gina@g.test "a to g learned" 30
lab_send gina@g.test alice@a.test "g to a learned"
check "prosody peer: g -> a delivered" a g -- lab_wait_delivered alice@a.test "g to a learned" 30
check "prosody peer: inter-new2 learned" -- has_learned "Unpooled Intermediate 2"
check "two learned intermediates in the store" -- pool_is 2

# What g.test's server taught now serves c.test, whose server withholds it.
lab_send carl@c.test alice@a.test "c to a completed"
check "learned from g serves c: c -> a delivered" a c -- \
    lab_wait_delivered alice@a.test "c to a completed" 30

# ---- restart -------------------------------------------------------------------------
B_PROBES=$(probes_of b.test)
check "ejabberd peer: b.test's server probed once" -- test "$B_PROBES" = 1
lab_ejabberd_restart a || exit 1
check "restart: inter-new still learned" -- has_learned $'Unpooled Intermediate\t'
check "restart: inter-new2 still learned" -- has_learned "Unpooled Intermediate 2"
check "restart: the store is built with them" -- pool_is 2
lab_send bob@b.test alice@a.test "b to a after restart"
check "restart: b -> a delivered without probing again" a b -- \
    lab_wait_delivered alice@a.test "b to a after restart" 30
check "restart: b.test's server was not probed after the restart" -- \
    test "$(probes_of b.test)" = "$B_PROBES"

check "listeners: loopback only" -- lab_assert_loopback_only
lab_teardown
e2e_summary
