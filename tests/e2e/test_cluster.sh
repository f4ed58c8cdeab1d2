#!/usr/bin/env bash
# tests/e2e/test_cluster.sh - two ejabberd 23.01 nodes clustered on
# loopback, both running mod_s2s_trust: a violation recorded by one node
# is on the other's list (the Mnesia table is replicated), and
# s2s_trust_reload given on one node rebuilds the stores of both.
# The nodes use epmd, bound to 127.0.0.1, which is stopped at the end.
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-trust-lab-cluster}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/testing.sh"
E2E_LOGS=(a a2)

epmd_was_running=0
(echo >/dev/tcp/127.0.0.1/4369) 2>/dev/null && epmd_was_running=1
stop_epmd() { [ "$epmd_was_running" = 1 ] || ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true; }

lab_init || exit 1
trap 'lab_teardown; stop_epmd' EXIT
lab_add_host a2.test 127.0.0.52 || exit 1
lab_issue_leaf a a.test >/dev/null
lab_issue_leaf a2 a2.test >/dev/null
lab_issue_leaf c c.test selfsigned >/dev/null
lab_trust_config || exit 1
MOD="mod_s2s_trust: {trust_config: \"$TRUST/trust.conf\"}"

lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes code="$LAB_REPO" \
    cluster=a modules="$MOD" || exit 1
lab_ejabberd_start a2 a2.test 127.0.0.52 a2 starttls=required dialback=yes code="$LAB_REPO" \
    cluster=a modules="$MOD" || exit 1
lab_prosody_start c c.test 127.0.0.4 c - secure_auth=false || exit 1

lab_ctl a2 join_cluster lab_a@localhost >/dev/null
in_cluster() { lab_rpc a 'lists:sort(ejabberd_cluster:get_nodes())' | grep -q "lab_a2@localhost"; }
check "a2 joins a's cluster" _lab_poll 60 0.5 in_cluster
lab_wait_ready a2 || exit 1
has_replica() { lab_rpc a2 'lists:member(node(), mnesia:table_info(s2s_trust_violation, disc_copies))' | grep -q true; }
check "the violators table has a disc copy on a2" _lab_poll 60 0.5 has_replica

lab_register alice@a.test pw >/dev/null && lab_register carol@c.test pw >/dev/null
lab_send carol@c.test alice@a.test "c to a in a cluster"
check "a refuses the self-signed peer" lab_assert_not_delivered alice@a.test "c to a in a cluster" a \
    "refused inbound s2s stream of c\.test: self_signed"
on_a2() { lab_ctl a2 s2s_trust_violators | grep -Eq '^c\.test[[:space:]]+self_signed'; }
check "a2 lists the violation a recorded" _lab_poll 30 0.5 on_a2

generation() { lab_rpc "$1" 'maps:get(generation, s2s_trust:info(persistent_term:get({mod_s2s_trust, store, hd([H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_s2s_trust)])})))'; }
g_a=$(generation a)
g_a2=$(generation a2)
out=$(lab_ctl a2 s2s_trust_reload)
check "s2s_trust_reload on a2 reports both nodes" grep -q "reloaded; 2 node(s)" <<<"$out"
changed() { [ "$(generation a)" != "$g_a" ] && [ "$(generation a2)" != "$g_a2" ]; }
check "both nodes built a new store" changed

lab_ctl a s2s_trust_forget c.test >/dev/null
gone_on_a2() { ! lab_ctl a2 s2s_trust_violators | grep -q '^c\.test'; }
check "forget on a removes it on a2" _lab_poll 30 0.5 gone_on_a2

e2e_summary
