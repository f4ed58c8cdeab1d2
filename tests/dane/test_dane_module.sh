#!/usr/bin/env bash
# tests/dane/test_dane_module.sh - DANE (docs/dane.md) inside Debian's real
# ejabberd: peers whose DNSSEC-signed TLSA records (tests/dane/dnslab.sh:
# nsd on 127.0.0.53:5353, zones signed at test time) accept or refuse them.
#
#   a.dane.test  ejabberd + mod_s2s_trust, dane: opportunistic
#   r.dane.test  ejabberd + mod_s2s_trust, dane: require
#   e.dane.test  Prosody, self-signed; secure SRV + DANE-EE 3 1 1 matching
#   n.dane.test  Prosody, self-signed; no SRV, DANE-EE at _5269._tcp.n.dane.test
#   t.dane.test  Prosody, a chain from a private CA (the PKI's inter2, under
#                the untrusted root2) it sends whole; secure SRV + DANE-TA
#                2 0 1 of that CA. ejabberd hands the module only the leaf,
#                so the module asks t's server for its chain.
#   w.dane.test  Prosody, a PKIX-valid chain (the lab's trusted root) it
#                sends whole; secure SRV + DANE-TA 2 0 1 of inter2, a CA
#                its chain does not lead to: refused dane_mismatch after
#                the probe (the records are enforced over PKIX)
#   m.dane.test  Prosody, valid chain from the test CA; secure TLSA of another key
#   p.plain.test Prosody, self-signed, in an unsigned zone
#   x.broken.test Prosody, valid chain from the test CA, in a zone whose
#                DNSSEC does not validate (bogus)
# Interop (Prosody 13 only: its use_dane checks our records outbound):
#   s.dane.lab   ejabberd + mod_s2s_trust, self-signed, publishing DANE-EE
#   s2.dane.lab  ejabberd + mod_s2s_trust, self-signed, publishing nothing
#   q.dane.lab   Prosody, use_dane and s2s_secure_auth, resolving through
#                the DNSSEC lab only (a zone outside .test: libunbound's
#                built-in "test." zone cannot be lifted through lua-unbound)
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
#   LAB_DIR=/tmp/s2s-lab-dane-module flock /tmp/s2s-lab.lock bash tests/dane/test_dane_module.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-dane-module}"
: "${LAB_DIST_BASE:=27600}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
# shellcheck source=tests/dane/dnslab.sh
source "$HERE/dnslab.sh"
E2E_LOGS=(a)

declare -A IP=([a]=127.0.0.110 [r]=127.0.0.111 [e]=127.0.0.112 [n]=127.0.0.113
               [m]=127.0.0.114 [p]=127.0.0.115 [x]=127.0.0.116 [s]=127.0.0.117 [s2]=127.0.0.118
               [q]=127.0.0.119 [t]=127.0.0.151 [w]=127.0.0.153)
declare -A DOM=([a]=a.dane.test [r]=r.dane.test [e]=e.dane.test [n]=n.dane.test
                [m]=m.dane.test [p]=p.plain.test [x]=x.broken.test [t]=t.dane.test [w]=w.dane.test)
DNS=$LAB_DIR/dns

lab_init || exit 1
trap 'dnslab_stop "$DNS"; lab_teardown' EXIT
for k in "${!DOM[@]}"; do lab_add_host "${DOM[$k]}" "${IP[$k]}" || exit 1; done
# t's SRV target, for the VM's resolver (the module probes it for t's chain).
lab_add_host xmpp.t.dane.test "${IP[t]}" || exit 1
lab_add_host xmpp.w.dane.test "${IP[w]}" || exit 1

# ---- certificates ----------------------------------------------------------------
lab_issue_leaf a a.dane.test >/dev/null
lab_issue_leaf r r.dane.test >/dev/null
lab_issue_leaf e e.dane.test selfsigned >/dev/null
lab_issue_leaf n n.dane.test selfsigned >/dev/null
lab_issue_leaf t t.dane.test issuer=inter2 >/dev/null
lab_issue_leaf w w.dane.test >/dev/null
lab_issue_leaf m m.dane.test >/dev/null
lab_issue_leaf p p.plain.test selfsigned >/dev/null
lab_issue_leaf x x.broken.test >/dev/null
PROSODY13=0
dpkg --compare-versions "$(dpkg-query -W -f='${Version}' prosody)" ge 13 && PROSODY13=1
if [ $PROSODY13 = 1 ]; then
    lab_issue_leaf s s.dane.lab selfsigned >/dev/null
    lab_issue_leaf s2 s2.dane.lab selfsigned >/dev/null
    lab_issue_leaf q q.dane.lab >/dev/null
fi
tlsa() { dnslab_tlsa_rdata 3 1 1 "$(lab_cert "$1" cert)"; }

# ---- the zones -------------------------------------------------------------------
mkdir -p "$DNS"
dnslab_zone "$DNS" dane.test signed || exit 1
for k in a r e m t w; do
    dnslab_record "$DNS" dane.test "_xmpp-server._tcp.$k 60 IN SRV 0 5 5269 xmpp.$k.dane.test."
    dnslab_record "$DNS" dane.test "xmpp.$k 60 IN A ${IP[$k]}"
done
for k in a r e; do
    dnslab_record "$DNS" dane.test "_5269._tcp.xmpp.$k 60 IN TLSA $(tlsa "$k")"
done
dnslab_record "$DNS" dane.test "_5269._tcp.xmpp.t 60 IN TLSA $(dnslab_tlsa_rdata 2 0 1 "$LAB_DIR/pki/inter2.pem")"
dnslab_record "$DNS" dane.test "_5269._tcp.xmpp.w 60 IN TLSA $(dnslab_tlsa_rdata 2 0 1 "$LAB_DIR/pki/inter2.pem")"
# m's chain is PKIX-valid, but the record it publishes is e's key.
dnslab_record "$DNS" dane.test "_5269._tcp.xmpp.m 60 IN TLSA $(tlsa e)"
# n: no SRV; the record sits under the domain itself.
dnslab_record "$DNS" dane.test "n 60 IN A ${IP[n]}"
dnslab_record "$DNS" dane.test "_5269._tcp.n 60 IN TLSA $(tlsa n)"
dnslab_zone "$DNS" plain.test unsigned || exit 1
dnslab_record "$DNS" plain.test "_xmpp-server._tcp.p 60 IN SRV 0 5 5269 xmpp.p.plain.test."
dnslab_record "$DNS" plain.test "_5269._tcp.xmpp.p 60 IN TLSA $(tlsa p)"
dnslab_zone "$DNS" broken.test bogus || exit 1
dnslab_record "$DNS" broken.test "_xmpp-server._tcp.x 60 IN SRV 0 5 5269 xmpp.x.broken.test."
dnslab_record "$DNS" broken.test "_5269._tcp.xmpp.x 60 IN TLSA $(tlsa x)"
if [ $PROSODY13 = 1 ]; then
    dnslab_zone "$DNS" dane.lab signed || exit 1
    for k in s s2; do
        dnslab_record "$DNS" dane.lab "_xmpp-server._tcp.$k 60 IN SRV 0 5 5269 xmpp.$k.dane.lab."
        dnslab_record "$DNS" dane.lab "xmpp.$k 60 IN A ${IP[$k]}"
    done
    dnslab_record "$DNS" dane.lab "_5269._tcp.xmpp.s 60 IN TLSA $(tlsa s)"
fi
dnslab_start "$DNS" 127.0.0.53 5353 || exit 1
CONF=$(dnslab_unbound_conf "$DNS") || exit 1
ANCHORS=$(dnslab_anchors "$DNS")
chmod -R a+rX "$DNS"

# ---- servers ---------------------------------------------------------------------
lab_trust_config || exit 1
module() { # POLICY
    printf 'mod_s2s_trust:\n  trust_config: "%s"\n  dane: %s\n  dnssec_config: "%s"\n  dnssec_trust_anchor: "%s"\n' \
        "$TRUST/trust.conf" "$1" "$CONF" "$ANCHORS"
}
lab_ejabberd_start a a.dane.test "${IP[a]}" a starttls=required dialback=yes code="$LAB_REPO" \
    modules="$(module opportunistic)" nowait || exit 1
lab_ejabberd_start r r.dane.test "${IP[r]}" r starttls=required dialback=yes code="$LAB_REPO" \
    modules="$(module require)" nowait || exit 1
for k in e n m p x t w; do
    lab_prosody_start "$k" "${DOM[$k]}" "${IP[$k]}" "$k" - secure_auth=false nowait || exit 1
done
lab_wait_ready a r e n m p x t w || exit 1
for k in a r e n m p x t w; do lab_register "u@${DOM[$k]}" pw >/dev/null || exit 1; done

REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of'
REFUSED_OUT='mod_s2s_trust: refused outbound s2s stream of'
listed() { lab_ctl "$1" s2s_trust_violators | grep -Eq "^${2//./\\.}[[:space:]]+$3"; }
explains() { lab_ctl "$1" s2s_trust_check "$2" | grep -q -- "$3"; }

# ---- opportunistic ----------------------------------------------------------------
lab_send u@e.dane.test u@a.dane.test "e to a"
check "DANE-EE, self-signed: e -> a delivered" a e -- lab_wait_delivered u@a.dane.test "e to a"
lab_send u@a.dane.test u@e.dane.test "a to e"
check "DANE-EE, self-signed: a -> e delivered" a e -- lab_wait_delivered u@e.dane.test "a to e"
check "s2s_trust_check names DANE-EE and the SRV target" -- \
    explains a e.dane.test 'accepted by a DNSSEC-signed TLSA record (DANE-EE) of xmpp\.e\.dane\.test'
check "the log names the authority: accepted e.dane.test by dane_ee" -- \
    lab_wait_logged a 'mod_s2s_trust: accepted (in|out)bound s2s stream of e\.dane\.test by dane_ee'
check "nothing recorded for e.dane.test" eval '! lab_ctl a s2s_trust_violators | grep -q "^e\.dane\.test"'

lab_send u@t.dane.test u@a.dane.test "t to a"
check "DANE-TA, private CA sent by the peer: t -> a delivered" a t -- lab_wait_delivered u@a.dane.test "t to a"
check "the module asked t's server for its chain" -- \
    lab_wait_logged a 'probing xmpp\.t\.dane\.test:5269 for the chain of t\.dane\.test'
lab_send u@a.dane.test u@t.dane.test "a to t"
check "DANE-TA, private CA sent by the peer: a -> t delivered" a t -- lab_wait_delivered u@t.dane.test "a to t"
check "s2s_trust_check: DANE-TA, its anchor from the peer's server" -- \
    explains a t.dane.test "TLSA record (DANE-TA) of xmpp\.t\.dane\.test, its anchor in the chain the peer"
lab_send u@w.dane.test u@a.dane.test "w to a"
check "DANE-TA of another CA than the peer's chain leads to: w -> a refused dane_mismatch" a w -- \
    lab_assert_not_delivered u@a.dane.test "w to a" a "$REFUSED_IN w\.dane\.test: dane_mismatch"
check "the module asked w's server for its chain before refusing" -- \
    lab_wait_logged a 'probing xmpp\.w\.dane\.test:5269 for the chain of w\.dane\.test'
check "nothing recorded for t.dane.test" eval '! lab_ctl a s2s_trust_violators | grep -q "^t\.dane\.test"'

lab_send u@n.dane.test u@a.dane.test "n to a"
check "no SRV, DANE-EE under the domain: n -> a delivered" a n -- lab_wait_delivered u@a.dane.test "n to a"

lab_send u@m.dane.test u@a.dane.test "m to a"
check "PKIX-valid chain, secure TLSA of another key: m -> a refused" a m -- \
    lab_assert_not_delivered u@a.dane.test "m to a" a "$REFUSED_IN m\.dane\.test: dane_mismatch"
check "m.dane.test listed as dane_mismatch" -- listed a m.dane.test dane_mismatch

lab_send u@p.plain.test u@a.dane.test "p to a"
check "unsigned zone: PKIX decides, self-signed p -> a refused" a p -- \
    lab_assert_not_delivered u@a.dane.test "p to a" a "$REFUSED_IN p\.plain\.test: self_signed"

lab_send u@x.broken.test u@a.dane.test "x to a"
check "bogus DNSSEC: PKIX-valid x -> a refused" a x -- \
    lab_assert_not_delivered u@a.dane.test "x to a" a "$REFUSED_IN x\.broken\.test: dnssec_bogus"
check "x.broken.test listed as dnssec_bogus" -- listed a x.broken.test dnssec_bogus
lab_send u@a.dane.test u@x.broken.test "a to x"
check "bogus DNSSEC, outbound: a -> x refused" a x -- \
    lab_assert_not_delivered u@x.broken.test "a to x" a "$REFUSED_OUT x\.broken\.test: dnssec_bogus"

# ---- require ------------------------------------------------------------------------
lab_send u@e.dane.test u@r.dane.test "e to r"
check "require, DANE-EE peer: e -> r delivered" r e -- lab_wait_delivered u@r.dane.test "e to r"
lab_send u@p.plain.test u@r.dane.test "p to r"
check "require, unsigned peer: p -> r refused dane_required" r p -- \
    lab_assert_not_delivered u@r.dane.test "p to r" r "$REFUSED_IN p\.plain\.test: dane_required"

# ---- metrics --------------------------------------------------------------------------
lookups() { lab_ctl a s2s_trust_metrics | awk -v r="$1" '$1 == "ejabberd_s2s_trust_dane_lookups_total{result=\"" r "\"}" { print $2 }'; }
check "metrics count secure, insecure and bogus lookups" \
    eval '[ "$(lookups secure)" -ge 2 ] && [ "$(lookups insecure)" -ge 1 ] && [ "$(lookups bogus)" -ge 1 ]'

audit_dane() { lab_ctl "$1" s2s_trust_audit text | grep -Eq -- "^  \[pass\] dane +dane $2, DNSSEC resolver ready"; }
check "posture audit: dane opportunistic, resolver ready" audit_dane a opportunistic
check "posture audit: dane require, resolver ready" audit_dane r require

# ---- interop: Prosody 13's use_dane authenticates us by our records --------------------
if [ $PROSODY13 = 1 ]; then
    lab_ejabberd_start s s.dane.lab "${IP[s]}" s starttls=required dialback=no code="$LAB_REPO" \
        modules="$(module opportunistic)" nowait || exit 1
    lab_ejabberd_start s2 s2.dane.lab "${IP[s2]}" s2 starttls=required dialback=no code="$LAB_REPO" \
        modules="$(module opportunistic)" nowait || exit 1
    # Prosody asks the lab's nsd only (forward), validating with the lab's anchors.
    lab_prosody_start q q.dane.lab "${IP[q]}" q - secure_auth=true \
        config="use_dane = true
unbound = { forward = \"127.0.0.53@5353\"; trustfile = \"$ANCHORS\" }" nowait || exit 1
    lab_wait_ready s s2 q || exit 1
    for k in s s2 q; do lab_register "u@$k.dane.lab" pw >/dev/null || exit 1; done
    lab_send u@q.dane.lab u@s.dane.lab "q to s"
    check "Prosody 13 use_dane: q -> s delivered to our self-signed server by its DANE-EE record" \
        s q -- lab_wait_delivered u@s.dane.lab "q to s"
    lab_send u@q.dane.lab u@s2.dane.lab "q to s2"
    check "control: the same server without TLSA is refused by Prosody (q -> s2 not delivered)" \
        s2 q -- lab_assert_not_delivered u@s2.dane.lab "q to s2" q "[Cc]ertificate|insecure|[Ff]orbidding|trust"
else
    echo "n/a  Prosody 13 use_dane interop (Prosody $(dpkg-query -W -f='${Version}' prosody) here)"
fi

check "every lab socket is on loopback" lab_assert_loopback_only
e2e_summary
