#!/usr/bin/env bash
# tests/ipv6/test_ipv6.sh - mod_s2s_trust and the s2s-trust CLI when every
# s2s connection is IPv6: Debian's ejabberd with the module, real peers,
# all in a network namespace this script creates (its loopback gets
# fd00:5274::2-9; nothing outside the namespace sees them). Every lab domain
# below has an AAAA and no A, so a peer can only be reached over IPv6:
#
#   a.test   ejabberd + mod_s2s_trust (enforce, dialback loaded)  fd00:5274::2
#            trusts the test root with the usual pool, which lacks inter-new
#   b.test   ejabberd, hardened; leaf from inter-new, sending its chain:
#            unknown to a.test until a.test learns inter-new from b.test's
#            own server, over IPv6                                 fd00:5274::3
#   c.test   Prosody, self-signed certificate                      fd00:5274::4
#   sf.test  the self-test's own domain for --dialback: the CLI listens on
#            [fd00:5274::9]:5269 as its authoritative server
#   x.test   dual-stack, two servers: its A leads to Prosody x (127.0.0.6,
#            valid certificate), its AAAA to Prosody x6 (fd00:5274::6,
#            self-signed); a.test tries IPv6 first
#
# Checks: inbound and outbound verdicts (accepted, refused) with the
# connections seen to be IPv6 ones; learning over IPv6; `s2s-trust probe`
# resolving and connecting over IPv6; `s2s-trust selftest` against a.test
# over IPv6, with and without dialback; a dual-stack peer whose A and AAAA
# lead to different certificates judged by the one each stream presents.
#
#   LAB_DIR=/tmp/s2s-lab-ipv6 flock /tmp/s2s-lab.lock bash tests/ipv6/test_ipv6.sh
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${S2S_IPV6_NETNS:-}" ]; then
    # Our own network namespace: the addresses below exist only in it, and
    # the lab's servers listen nowhere else.
    exec unshare --net -- env S2S_IPV6_NETNS=1 bash "$0" "$@"
fi
ip link set lo up || exit 1
for n in 2 3 4 6 9; do
    ip -6 addr add "fd00:5274::$n/128" dev lo nodad || exit 1
done

: "${LAB_DIR:=/tmp/s2s-lab-ipv6}"
: "${LAB_DIST_BASE:=27450}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
E2E_LOGS=(a)
REPO=$LAB_REPO
BIN=${S2S_TRUST_BIN:-$REPO/priv/bin/s2s-trust}

declare -A IP=([a]=127.0.0.2 [b]=127.0.0.3 [c]=127.0.0.4 [x]=127.0.0.6 [x6]=127.0.0.7)
declare -A IP6=([a]=fd00:5274::2 [b]=fd00:5274::3 [c]=fd00:5274::4 [x6]=fd00:5274::6 [sf]=fd00:5274::9)
lab_init || exit 1

lab_issue_leaf a a.test || exit 1
lab_issue_leaf b b.test issuer=inter-new || exit 1
lab_issue_leaf c c.test selfsigned || exit 1
lab_issue_leaf x x.test || exit 1
lab_issue_leaf x6 x.test selfsigned || exit 1

lab_trust_config || exit 1
MODULE="mod_s2s_trust:
  trust_config: \"$TRUST/trust.conf\"
  mode: enforce"
# The self-test's dialback domain, before a.test reads the hosts file.
echo "${IP6[sf]} sf.test" >>"$LAB_DIR/net/hosts"

# x.test's two servers first: a.test's resolver (ejabberd 24.12 and later
# read the lab's names into their inetrc at start) must know both.
lab_prosody_start x x.test "${IP[x]}" x - secure_auth=false nowait || exit 1
lab_prosody_start x6 x.test "${IP[x6]}" x6 - secure_auth=false ip6="${IP6[x6]}" shared nowait || exit 1
lab_ejabberd_start a a.test "${IP[a]}" a starttls=required dialback=yes code="$REPO" \
    ip6="${IP6[a]}" v6only modules="$MODULE" nowait || exit 1
lab_ejabberd_start b b.test "${IP[b]}" b hardened ip6="${IP6[b]}" v6only nowait || exit 1
lab_prosody_start c c.test "${IP[c]}" c - secure_auth=false ip6="${IP6[c]}" v6only nowait || exit 1
lab_wait_ready a b c x x6 || exit 1
for u in alice@a.test bob@b.test carol@c.test xena@x.test; do
    lab_register "$u" pw || exit 1
done

# only_aaaa DOMAIN...: each has its AAAA line and no IPv4 line in the lab's hosts file.
only_aaaa() {
    local d
    for d in "$@"; do
        awk -v d="$d" '$2 == d && $1 ~ /^fd00:5274::/ { f = 1 } END { exit !f }' "$LAB_DIR/net/hosts" || return 1
        awk -v d="$d" '$2 == d && $1 !~ /:/ { f = 1 } END { exit f }' "$LAB_DIR/net/hosts" || return 1
    done
}
check "lab: a.test, b.test, c.test have an AAAA and no A" -- only_aaaa a.test b.test c.test

# s2s_v6_between X Y: an established TCP connection between the two IPv6
# addresses, one end on port 5269.
s2s_v6_between() {
    ss -Htn state established 2>/dev/null |
        awk -v x="[$1]" -v y="[$2]" '
            { l = $3; r = $4 }
            (index(l, x ":") == 1 && index(r, y ":") == 1) || (index(l, y ":") == 1 && index(r, x ":") == 1) {
                if (l ~ /:5269$/ || r ~ /:5269$/) f = 1 }
            END { exit !f }'
}
no_v4_s2s() { ! ss -Htn state established 2>/dev/null | awk '$3 ~ /:5269$/ || $4 ~ /:5269$/' | grep -q '127\.0\.0\.'; }

# ---- learning, inbound and outbound over IPv6 ---------------------------------------
REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of'
REFUSED_OUT='mod_s2s_trust: refused outbound s2s stream of'
lab_send bob@b.test alice@a.test "b to a over v6"
check "learning: b -> a delivered once inter-new is learned from b.test over IPv6" a b -- \
    lab_wait_delivered alice@a.test "b to a over v6" 30
learned_inter_new() { lab_ctl a s2s_trust_learned | grep -q 'Unpooled Intermediate'; }
check "learning: a.test learned inter-new" -- learned_inter_new
lab_send alice@a.test bob@b.test "a to b over v6"
check "trusted: a -> b delivered" a b -- lab_wait_delivered bob@b.test "a to b over v6" 30
check "trusted: the s2s connection a <-> b is IPv6" -- s2s_v6_between "${IP6[a]}" "${IP6[b]}"

lab_send carol@c.test alice@a.test "c to a over v6"
check "untrusted: c -> a refused (self_signed)" a c -- \
    lab_assert_not_delivered alice@a.test "c to a over v6" a "$REFUSED_IN c.test: self_signed"
lab_send alice@a.test carol@c.test "a to c over v6"
check "untrusted: a -> c refused (self_signed)" a c -- \
    lab_assert_not_delivered carol@c.test "a to c over v6" a "$REFUSED_OUT c.test: self_signed"
listed() { lab_ctl a s2s_trust_violators | grep -E "^$1[[:space:]].*$2" >/dev/null; }
check "untrusted: c.test listed as self_signed" -- listed c.test self_signed
check "no s2s connection over IPv4 at all" -- no_v4_s2s

# ---- a dual-stack peer, two servers, two certificates -----------------------------------
dual_stack() {
    grep -q "^${IP[x]} x.test\$" "$LAB_DIR/net/hosts" && grep -q "^${IP6[x6]} x.test\$" "$LAB_DIR/net/hosts"
}
check "dual-stack: x.test has an A (Prosody x, valid) and an AAAA (Prosody x6, self-signed)" -- dual_stack
lab_send alice@a.test xena@x.test "a to x"
check "dual-stack: a -> x refused: a.test went to the AAAA first and judged x6's certificate" a x x6 -- \
    lab_assert_not_delivered xena@x.test "a to x" a "$REFUSED_OUT x.test: self_signed"
lab_send xena@x.test alice@a.test "x over A to a"
check "dual-stack: x (the A side, valid) -> a delivered" a x -- \
    lab_wait_delivered alice@a.test "x over A to a" 30
lab_mark a
lab_prosody_shell x6 ">local st = require 'util.stanza'; prosody.core_post_stanza(prosody.hosts[\"x.test\"], st.message({ from = \"xena@x.test\", to = \"alice@a.test\", type = \"chat\" }):text_tag(\"body\", \"x6 to a\"))" >/dev/null
check "dual-stack: x6 (the AAAA side, self-signed) -> a refused: each stream by its own certificate" a x6 -- \
    lab_assert_not_delivered alice@a.test "x6 to a" a "$REFUSED_IN x.test: self_signed"

# ---- the CLI over IPv6 ------------------------------------------------------------------
# in_ns CMD...: run with the lab's hosts file and dead-end resolv.conf.
in_ns() {
    # shellcheck disable=SC2016
    unshare --mount --propagation private -- /bin/sh -c '
        mount --bind "$1" /etc/hosts || exit 97
        mount --bind "$2" /etc/resolv.conf || exit 97
        shift 2; exec "$@"' sh "$LAB_DIR/net/hosts" "$LAB_DIR/net/resolv.conf" "$@"
}
CONF=$TRUST/trust.conf
PROBE_B=$(in_ns "$BIN" probe b.test --config "$CONF" --timeout 5000 2>&1)
PROBE_B_RC=$?
printf '%s\n' "$PROBE_B" >"$LAB_DIR/probe-b.txt"
check "probe b.test: resolved to its AAAA and connected over IPv6" -- \
    grep -qF "[${IP6[b]}]:5269" "$LAB_DIR/probe-b.txt"
check "probe b.test: its chain (leaf + inter-new) is trusted (exit 0, got $PROBE_B_RC)" -- test "$PROBE_B_RC" = 0
PROBE_C=$(in_ns "$BIN" probe c.test --config "$CONF" --timeout 5000 2>&1)
PROBE_C_RC=$?
printf '%s\n' "$PROBE_C" >"$LAB_DIR/probe-c.txt"
check "probe c.test: over IPv6, self-signed, exit 1 (got $PROBE_C_RC)" -- \
    sh -c "[ $PROBE_C_RC = 1 ] && grep -qF '[${IP6[c]}]:5269' '$LAB_DIR/probe-c.txt' && grep -q self_signed '$LAB_DIR/probe-c.txt'"

PROBE_X6=$(in_ns "$BIN" probe x.test --connect "[${IP6[x6]}]:5269" --config "$CONF" --timeout 5000 2>&1)
PROBE_X6_RC=$?
PROBE_X4=$(in_ns "$BIN" probe x.test --connect "${IP[x]}:5269" --config "$CONF" --timeout 5000 2>&1)
PROBE_X4_RC=$?
printf '%s\n' "$PROBE_X6" "$PROBE_X4" >"$LAB_DIR/probe-x.txt"
check "probe x.test at its AAAA: self-signed (exit 1, got $PROBE_X6_RC); at its A: trusted (exit 0, got $PROBE_X4_RC)" -- \
    sh -c "[ $PROBE_X6_RC = 1 ] && [ $PROBE_X4_RC = 0 ] && grep -q self_signed <<'EOF'
$PROBE_X6
EOF"

SELF=$(in_ns "$BIN" selftest a.test --connect "[${IP6[a]}]:5269" --timeout 10000 2>&1)
SELF_RC=$?
printf '%s\n' "$SELF" >"$LAB_DIR/selftest.txt"
check "selftest a.test over IPv6: every untrusted peer refused (exit 0, got $SELF_RC)" -- \
    sh -c "[ $SELF_RC = 0 ] && [ \$(grep -cE '^    outcome:  refused\$' '$LAB_DIR/selftest.txt') = 4 ]"
SELF_DB=$(in_ns "$BIN" selftest a.test --connect "[${IP6[a]}]:5269" --from sf.test \
    --dialback "[${IP6[sf]}]:5269" --timeout 10000 2>&1)
SELF_DB_RC=$?
printf '%s\n' "$SELF_DB" >"$LAB_DIR/selftest-dialback.txt"
check "selftest a.test over IPv6 with dialback (our server on [${IP6[sf]}]): refused (exit 0, got $SELF_DB_RC)" -- \
    test "$SELF_DB_RC" = 0
check "selftest with dialback: dialback tested and refused after 'valid' (our server reached over IPv6)" -- \
    sh -c "grep -qE 'result: every untrusted peer was refused \\(SASL EXTERNAL and dialback\\)' '$LAB_DIR/selftest-dialback.txt' &&
           grep -qE 'dialback: refused \\(dialback_revoked\\)' '$LAB_DIR/selftest-dialback.txt'"

check "lab: every listener on loopback or the namespace's fd00:5274::/96" -- lab_assert_loopback_only
e2e_summary
