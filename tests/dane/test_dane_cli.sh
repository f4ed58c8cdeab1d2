#!/usr/bin/env bash
# tests/dane/test_dane_cli.sh - `s2s-trust dane` end to end against the
# loopback DNSSEC lab (tests/dane/dnslab.sh): what the resolver
# (c_src/net/s2s_trust_dnssec.h) concludes from real signed, unsigned and
# broken zones, and what the matcher (core/s2s_trust_dane.h) says of real
# chains, through the command an operator runs.
#
#   a.dane.test       secure SRV -> xmpp.a:5269, DANE-EE 3 1 1 of a self-signed leaf
#   mm.dane.test      secure SRV -> xmpp.mm:5270, a TLSA that matches nothing
#   ta.dane.test      secure SRV -> xmpp.ta:5269, DANE-TA 2 0 1 of a private CA
#   nosrv.dane.test   secure, no SRV: _5269._tcp.nosrv.dane.test TLSA 3 1 1
#   esc.dane.test     secure SRV whose target holds a newline (shown escaped)
#   a.plain.test      unsigned zone                         -> insecure
#   a.broken.test     signed, anchor's digest altered       -> bogus
#   a.badsig.test     signed, RRSIGs altered                -> bogus
#   example.org       outside the lab                       -> error/insecure, at once
#   x.slow.test       a stub zone on a UDP socket that reads and never answers
#                     (python3 on BLACKHOLE_ADDR, 127.0.0.55)    -> error, timeout
#   slowtlsa.dane.test  secure SRV -> xmpp.slow.test: its TLSA query is the silent one
#   mixed.dane.test   secure SRV -> xmpp.a.dane.test and xmpp.slow.test: the TLSA
#                     queries run at once, one deadline; the answered one decides
#   a bad --unbound-conf or trust anchor: one error line naming the file, nothing
#                     from libunbound itself on stderr
# `probe` (DANE beside PKIX, the records of the SRV target probed) against a
# TLS server (openssl s_server, direct TLS as XEP-0368) on XMPP_ADDR
# (127.0.0.130), one chain at a time; the probe connects to the SRV target
# by name (--connect TARGET:PORT, mapped to XMPP_ADDR by --resolve), and the
# trust store (--config) holds a lab "public" CA:
#   a.dane.test self-signed + DANE-EE -> ok by dane_ee; the same through an
#   address that is no target (every target's records tried); nosrv.dane.test
#   (the fallback target, DOMAIN:5269); ta.dane.test private CA + DANE-TA ->
#   ok by dane_ta; mm.dane.test PKIX-valid, TLSA of another key -> refused
#   dane_mismatch; a.broken.test PKIX-valid, bogus -> refused dnssec_bogus;
#   a.plain.test unsigned: PKIX-valid -> ok, self-signed -> refused; POSH on
#   by default (no document to be had in the lab: failed, nothing changes);
#   --no-dane; a bad --unbound-conf is exit 2 before any connection.
# `check` with --tlsa (records given), --dane (looked up) on chain files:
#   the same verdicts offline or through the lab; bad --tlsa, --tlsa with --dane.
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
# Run it under the lab lock, as `make test-dane` does:
#   flock /tmp/s2s-lab.lock bash tests/dane/test_dane_cli.sh
# Environment: S2S_TRUST_BIN (default: priv/bin
# built now), LAB_DIR (default /tmp/s2s-lab-dane-cli; the lab is
# LAB_DIR/dns), DNSLAB_ADDR (127.0.0.53), DNSLAB_PORT (5353), BLACKHOLE_ADDR
# (127.0.0.55; the silent server, on DNSLAB_PORT), XMPP_ADDR (127.0.0.130; the
# TLS servers the probe connects to).
# shellcheck disable=SC2016 # the eval'd strings of `check NAME eval '...'` expand when run
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-dane-cli}"
: "${DNSLAB_ADDR:=127.0.0.53}"
: "${DNSLAB_PORT:=5353}"
: "${BLACKHOLE_ADDR:=127.0.0.55}"
: "${XMPP_ADDR:=127.0.0.130}"
# shellcheck source=tests/dane/dnslab.sh
source "$HERE/dnslab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
# shellcheck source=tests/e2e/cli_suite.sh
source "$HERE/../e2e/cli_suite.sh"

DNS=$LAB_DIR/dns
lab_show_logs() { dnslab_show_log "$DNS"; }

cli_suite_bin "$TOP" || exit 1
_dnslab_check_dir "$LAB_DIR" || exit 1
cli_suite_run_dir "$LAB_DIR" dnslab_stop "$DNS" || exit 1
mkdir -p "$DNS" || exit 1
BLACKHOLE_PID=
# shellcheck disable=SC2034 # set and read by name (cli_suite_tls_server, cli_suite_stop_pid)
XMPP_PID=
stop_blackhole() { cli_suite_stop_pid BLACKHOLE_PID; }
trap 'stop_blackhole; cli_suite_stop_pid XMPP_PID; dnslab_stop "$DNS"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- certificates -----------------------------------------------------------------
C=$LAB_DIR/certs
mkdir -p "$C"
mkcert() { cli_suite_mkcert "$C" "$@"; }
if ! { mkcert ee /CN=xmpp.a.dane.test DNS:a.dane.test &&
    mkcert other /CN=other.test DNS:other.test &&
    mkcert ca "/CN=Private DANE-TA CA" ca &&
    mkcert leaf /CN=ta.dane.test DNS:ta.dane.test ca &&
    mkcert pubca "/CN=Lab public CA" ca &&
    mkcert mmpub /CN=mm.dane.test DNS:mm.dane.test pubca &&
    mkcert plainpub /CN=a.plain.test DNS:a.plain.test pubca &&
    mkcert brokenpub /CN=a.broken.test DNS:a.broken.test pubca; }; then
    echo "openssl failed"
    exit 1
fi
cat "$C/leaf.pem" "$C/ca.pem" >"$C/leaf-ca.pem"
TRUST=$LAB_DIR/trust.conf
printf 'ca_file = "%s";\n' "$C/pubca.pem" >"$TRUST"

# ---- the lab ----------------------------------------------------------------------
dnslab_zone "$DNS" dane.test signed &&
    dnslab_zone "$DNS" plain.test unsigned &&
    dnslab_zone "$DNS" broken.test bogus &&
    dnslab_zone "$DNS" badsig.test badsig || exit 1
EE311=$(dnslab_tlsa_rdata 3 1 1 "$C/ee.pem") &&
    OTHER311=$(dnslab_tlsa_rdata 3 1 1 "$C/other.pem") &&
    CA201=$(dnslab_tlsa_rdata 2 0 1 "$C/ca.pem") || exit 1
r() { dnslab_record "$DNS" "$@" || exit 1; }
r dane.test "_xmpp-server._tcp.a 300 IN SRV 0 5 5269 xmpp.a.dane.test."
r dane.test "_5269._tcp.xmpp.a 300 IN TLSA $EE311"
r dane.test "_xmpp-server._tcp.mm 300 IN SRV 0 5 5270 xmpp.mm.dane.test."
r dane.test "_5270._tcp.xmpp.mm 300 IN TLSA $OTHER311"
r dane.test "_xmpp-server._tcp.ta 300 IN SRV 0 5 5269 xmpp.ta.dane.test."
r dane.test "_5269._tcp.xmpp.ta 300 IN TLSA $CA201"
r dane.test "nosrv 300 IN A 127.0.0.2"
r dane.test "_5269._tcp.nosrv 300 IN TLSA $EE311"
r dane.test "_xmpp-server._tcp.esc 300 IN SRV 0 5 5269 evil\\010name.dane.test."
r dane.test "_xmpp-server._tcp.slowtlsa 300 IN SRV 0 5 5269 xmpp.slow.test."
r dane.test "_xmpp-server._tcp.mixed 300 IN SRV 0 5 5269 xmpp.a.dane.test."
r dane.test "_xmpp-server._tcp.mixed 300 IN SRV 0 5 5269 xmpp.slow.test."
for z in plain.test broken.test badsig.test; do
    r $z "_xmpp-server._tcp.a 300 IN SRV 0 5 5269 xmpp.a.$z."
    r $z "_5269._tcp.xmpp.a 300 IN TLSA $EE311"
done
dnslab_start "$DNS" "$DNSLAB_ADDR" "$DNSLAB_PORT" || exit 1
CONF=$(dnslab_unbound_conf "$DNS") || exit 1

# The silent server: reads every query, answers none (an authoritative
# server gone dark). Loopback only, stopped by its pid.
case $BLACKHOLE_ADDR in 127.*) ;; *) echo "BLACKHOLE_ADDR must be in 127/8"; exit 1 ;; esac
python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    s.recv(4096)' "$BLACKHOLE_ADDR" "$DNSLAB_PORT" >"$LAB_DIR/blackhole.out" 2>&1 &
BLACKHOLE_PID=$!
for _ in $(seq 250); do
    grep -q ready "$LAB_DIR/blackhole.out" && break
    kill -0 "$BLACKHOLE_PID" 2>/dev/null || break
    sleep 0.02
done
grep -q ready "$LAB_DIR/blackhole.out" || { echo "the silent server did not start:"; cat "$LAB_DIR/blackhole.out"; exit 1; }
printf 'stub-zone:\n    name: "slow.test."\n    stub-addr: %s@%s\n' "$BLACKHOLE_ADDR" "$DNSLAB_PORT" >>"$CONF"

OUT=$LAB_DIR/out
# dane DOMAIN [ARGS...]: the command's stdout in $OUT, its status in $RC,
# its wall time in $MS.
dane() {
    local t0
    t0=$(_dnslab_ms)
    # The lab's own anchors, never the root key a host may have
    # (dns-root-data): a root anchor turns the unsigned zones bogus.
    "$S2S_TRUST_BIN" dane "$@" --unbound-conf "$CONF" --trust-anchor "$(dnslab_anchors "$DNS")" \
        >"$OUT" 2>"$OUT.err"
    RC=$?
    MS=$(($(_dnslab_ms) - t0))
}
has() { grep -qF -- "$1" "$OUT"; }
show() { sed 's/^/     | /' "$OUT" "$OUT.err"; }
expect() { # NAME WANT_RC LINE...
    local name=$1 want=$2 l
    shift 2
    for l; do
        has "$l" || { e2e_fail "$name (no line: $l; rc $RC)"; show; return; }
    done
    [ "$RC" = "$want" ] || { e2e_fail "$name (exit $RC, want $want)"; show; return; }
    e2e_ok "$name (${MS} ms)"
}

# ---- cases ------------------------------------------------------------------------
dane a.dane.test --chain "$C/ee.pem"
expect dane_ee_self_signed 0 "dnssec: secure" "srv: secure records" \
    "target: xmpp.a.dane.test port 5269 tlsa secure, 1 record(s)" "  tlsa: $EE311" \
    "match: dane_ee (usable 1, usage 3 at depth 0), verdict ok" "overall: accepted by dane_ee (xmpp.a.dane.test)"

dane a.dane.test
expect records_without_chain 0 "dnssec: secure" "  tlsa: $EE311" "overall: secure by dane"

dane a.dane.test --chain "$C/ee.pem" --json
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
t=d["targets"][0]
assert d["dnssec"]=="secure" and d["srv_found"] and d["overall"]=="accepted" and d["by"]=="dane_ee"
assert t["host"]=="xmpp.a.dane.test" and t["port"]==5269 and t["tlsa"]=="secure"
assert t["records"][0]["usage"]==3 and t["match"]["outcome"]=="dane_ee" and t["match"]["depth"]==0' "$OUT" 2>"$OUT.py" &&
    [ "$RC" = 0 ]; then e2e_ok "json"; else e2e_fail "json (rc $RC)"; show; cat "$OUT.py"; fi

dane mm.dane.test --chain "$C/ee.pem"
expect dane_mismatch 1 "target: xmpp.mm.dane.test port 5270 tlsa secure, 1 record(s)" \
    "match: dane_mismatch (usable 1), verdict untrusted" "overall: refused by dane_mismatch (xmpp.mm.dane.test)"

dane ta.dane.test --chain "$C/leaf-ca.pem"
expect dane_ta_private_ca 0 "  tlsa: $CA201" "match: dane_ta (usable 1, usage 2 at depth 1), verdict ok" \
    "overall: accepted by dane_ta (xmpp.ta.dane.test)"

# A digest DANE-TA record needs the CA in the chain the peer sends.
dane ta.dane.test --chain "$C/leaf.pem"
expect dane_ta_ca_not_sent 1 "overall: refused by dane_mismatch"

dane nosrv.dane.test --chain "$C/ee.pem"
expect no_srv_falls_back_to_domain 0 "srv: none, _5269._tcp.DOMAIN" \
    "target: nosrv.dane.test port 5269 tlsa secure, 1 record(s)" "overall: accepted by dane_ee (nosrv.dane.test)"

dane esc.dane.test
expect srv_target_escaped 2 'target: evil\x0aname.dane.test port 5269 tlsa error'
if grep -q '^name\.dane' "$OUT"; then e2e_fail "srv_target_escaped (a raw newline)"; show; fi

dane a.plain.test
expect unsigned_zone_insecure 0 "dnssec: insecure" "overall: insecure by pkix"
has "tlsa:" && { e2e_fail "unsigned_zone_insecure (records shown)"; show; }

dane a.plain.test --chain "$C/ee.pem"
expect unsigned_zone_pkix_decides 1 "dnssec: insecure" "overall: refused by self_signed"

dane a.broken.test --chain "$C/ee.pem"
expect bogus_anchor 1 "dnssec: bogus (_xmpp-server._tcp.a.broken.test: validation failure" \
    "overall: refused by dnssec_bogus"

dane a.badsig.test
expect bogus_signatures 1 "dnssec: bogus" "overall: refused by dnssec_bogus"

dane example.org
if { [ "$RC" = 2 ] && has "dnssec: error"; } || { [ "$RC" = 0 ] && has "dnssec: insecure"; }; then
    if [ "$MS" -lt 10000 ]; then e2e_ok "outside_the_lab (${MS} ms, $(sed -n 's/^dnssec: //p' "$OUT"))"
    else e2e_fail "outside_the_lab (${MS} ms)"; fi
else
    e2e_fail "outside_the_lab (rc $RC)"; show
fi

dane 'bad..name'
expect not_a_host_name 2 "dnssec: error (not a valid host name"

# ---- deadlines: one per lookup, SRV and every TLSA query ------------------------
dane x.slow.test --timeout 800
expect silent_server_srv_timeout 2 \
    "dnssec: error (timeout: no answer for _xmpp-server._tcp.x.slow.test within 800 ms)" "overall: error by dns_error"

dane slowtlsa.dane.test --timeout 800
expect silent_server_tlsa_timeout 2 "srv: secure records" "target: xmpp.slow.test port 5269 tlsa error" \
    "dnssec: error (timeout: no answer for _5269._tcp.xmpp.slow.test within 800 ms)"

dane mixed.dane.test --chain "$C/ee.pem" --timeout 800
expect silent_target_beside_answered_one 0 "dnssec: secure" "target: xmpp.slow.test port 5269 tlsa error" \
    "target: xmpp.a.dane.test port 5269 tlsa secure, 1 record(s)" "overall: accepted by dane_ee (xmpp.a.dane.test)"

dane a.dane.test --timeout 0
expect timeout_zero_refused 2
grep -q -- "--timeout: milliseconds" "$OUT.err" || { e2e_fail "timeout_zero_refused (no reason)"; show; }

# ---- libunbound's own log stays off stderr; the error line says it all ---------
# only_our_line NAME FILE: stderr is exactly one "s2s-trust: " line naming FILE.
only_our_line() {
    local name=$1 file=$2
    if [ "$RC" = 2 ] && [ "$(wc -l <"$OUT.err")" = 1 ] && grep -q "^s2s-trust: .*$file" "$OUT.err"; then
        e2e_ok "$name ($(cat "$OUT.err"))"
    else
        e2e_fail "$name (rc $RC)"; show
    fi
}
"$S2S_TRUST_BIN" dane a.dane.test --unbound-conf /nonexistent/unbound.conf >"$OUT" 2>"$OUT.err"
RC=$?
only_our_line quiet_missing_unbound_conf /nonexistent/unbound.conf
printf 'server:\n    trust-anchor-file: "/nonexistent/anchor.key"\n' >"$LAB_DIR/anchor.conf"
"$S2S_TRUST_BIN" dane a.dane.test --unbound-conf "$LAB_DIR/anchor.conf" >"$OUT" 2>"$OUT.err"
RC=$?
only_our_line quiet_missing_anchor_in_conf /nonexistent/anchor.key

"$S2S_TRUST_BIN" dane >"$OUT" 2>&1
RC=$?
MS=0
if [ "$RC" = 2 ]; then e2e_ok usage; else e2e_fail "usage (rc $RC)"; show; fi

"$S2S_TRUST_BIN" dane a.dane.test --unbound-conf "$CONF" --trust-anchor /nonexistent.ds >"$OUT" 2>&1
RC=$?
if [ "$RC" = 2 ] && grep -q "trust anchor not readable" "$OUT"; then e2e_ok missing_trust_anchor
else e2e_fail "missing_trust_anchor (rc $RC)"; show; fi

# ---- probe: DANE beside PKIX, for the SRV target probed ------------------------
# serve PORT NAME [CHAIN]: one TLS server on XMPP_ADDR:PORT presenting
# C/NAME.pem (and CHAIN after it), the one before stopped.
serve() { cli_suite_tls_server XMPP_PID "$LAB_DIR/xmpp.out" "$XMPP_ADDR:$1" "$C/$2.pem" "$C/$2.key" "${3:-}" || exit 1; }
# probe DOMAIN TARGET:PORT [ARGS...]: probe DOMAIN at the SRV target
# TARGET:PORT (mapped to XMPP_ADDR), the lab's resolver and the lab's
# public CA; output as dane()'s.
probe() {
    local d=$1 tp=$2 t0
    shift 2
    t0=$(_dnslab_ms)
    "$S2S_TRUST_BIN" probe "$d" --connect "$tp" --resolve "$tp:$XMPP_ADDR" --direct-tls --config "$TRUST" \
        --unbound-conf "$CONF" --trust-anchor "$(dnslab_anchors "$DNS")" "$@" >"$OUT" 2>"$OUT.err"
    RC=$?
    MS=$(($(_dnslab_ms) - t0))
}
# json_ok NAME WANT_RC PY_ASSERTS: assertions over the JSON `d` of $OUT.
json_ok() {
    if python3 -c "import json,sys; d=json.load(open(sys.argv[1]))
$3" "$OUT" 2>"$OUT.py" && [ "$RC" = "$2" ]; then e2e_ok "$1"; else e2e_fail "$1 (rc $RC)"; show; cat "$OUT.py"; fi
}

serve 5269 ee
probe a.dane.test xmpp.a.dane.test:5269 --no-posh
expect probe_dane_ee_self_signed 0 "a.dane.test: ok by dane_ee (PKIX alone: self_signed)" \
    "  dane:        tlsa secure (looked up; dnssec secure; srv secure records)" \
    "  dane probed: xmpp.a.dane.test:5269, one of the targets: its records decide" \
    "  dane target: xmpp.a.dane.test port 5269 tlsa secure, 1 record(s)" "  dane   tlsa: $EE311" \
    "  dane   match: dane_ee (usable 1, usage 3 at depth 0), verdict ok" \
    "  accepted by: dane_ee" "  decision:    accepted by dane_ee (as mod_s2s_trust with dane: opportunistic, posh: off)"

probe a.dane.test xmpp.a.dane.test:5269 --no-posh --json
json_ok probe_json_dane_ee 0 'v=d["dane"]
assert d["verdict"]=="self_signed" and not d["trusted"] and d["posh"] is None
assert v["dnssec"]=="secure" and v["tlsa"]=="secure" and v["source"]=="dns" and v["says"]=="accepted" and v["by"]=="dane_ee"
assert v["probed_target"]=={"host":"xmpp.a.dane.test","port":5269,"listed":True}, v["probed_target"]
assert v["targets"][0]["match"]["outcome"]=="dane_ee" and v["decided_by_target"]=="xmpp.a.dane.test"
assert d["accepted_by"]==["dane_ee"] and d["decision"]=={"accepted":True,"by":"dane_ee","dane_policy":"opportunistic","posh_policy":"off"}'

# Through an address that is no SRV target: every target's records are tried.
probe a.dane.test "$XMPP_ADDR:5269" --no-posh --json
json_ok probe_not_a_target_tries_every_target 0 'v=d["dane"]
assert v["probed_target"]["listed"] is False and v["by"]=="dane_ee" and d["decision"]["by"]=="dane_ee"'

# POSH on (the default): the lab serves no document for a.dane.test, so it
# cannot be had, and nothing changes.
probe a.dane.test xmpp.a.dane.test:5269 --posh-timeout 3000 --json
json_ok probe_posh_failed_changes_nothing 0 'p=d["posh"]
assert p["state"] in ("failed","absent") and p["match"] is None and d["decision"]["by"]=="dane_ee" and d["decision"]["posh_policy"]=="on"'

probe a.dane.test xmpp.a.dane.test:5269 --no-dane --no-posh
expect probe_no_dane_pkix_alone 1 "a.dane.test: refused: self_signed" \
    "  decision:    refused by self_signed (as mod_s2s_trust with dane: off, posh: off)"
has "  dane:" && { e2e_fail "probe_no_dane_pkix_alone (a dane line)"; show; }

probe nosrv.dane.test nosrv.dane.test:5269 --no-posh
expect probe_no_srv_domain_target 0 "nosrv.dane.test: ok by dane_ee" \
    "  dane probed: nosrv.dane.test:5269, one of the targets: its records decide"

serve 5269 leaf "$C/ca.pem"
probe ta.dane.test xmpp.ta.dane.test:5269 --no-posh
expect probe_dane_ta_private_ca 0 "ta.dane.test: ok by dane_ta (PKIX alone: " \
    "  dane   match: dane_ta (usable 1, usage 2 at depth 1), verdict ok" "  accepted by: dane_ta"

serve 5270 mmpub
probe mm.dane.test xmpp.mm.dane.test:5270 --no-posh
expect probe_dane_mismatch_pkix_valid 1 "mm.dane.test: refused: dane_mismatch (PKIX alone: ok)" \
    "  dane   match: dane_mismatch (usable 1), verdict untrusted" "  accepted by: pkix" \
    "  decision:    refused by dane_mismatch"

serve 5269 brokenpub
probe a.broken.test xmpp.a.broken.test:5269 --no-posh
expect probe_bogus_pkix_valid 1 "a.broken.test: refused: dnssec_bogus (PKIX alone: ok)" \
    "  dane:        tlsa bogus (looked up; dnssec bogus: " "  decision:    refused by dnssec_bogus"

serve 5269 plainpub
probe a.plain.test xmpp.a.plain.test:5269 --no-posh
expect probe_unsigned_zone_pkix_valid 0 "a.plain.test: ok" "  dane:        tlsa insecure (looked up; dnssec insecure" \
    "  dane says:   nothing (no usable secure record): PKIX decides" "  decision:    accepted by pkix"
serve 5269 ee
probe a.plain.test xmpp.a.plain.test:5269 --no-posh
expect probe_unsigned_zone_self_signed 1 "a.plain.test: refused: self_signed" "  decision:    refused by self_signed"

"$S2S_TRUST_BIN" probe a.dane.test --connect "$XMPP_ADDR:5269" --direct-tls --unbound-conf /nonexistent/unbound.conf \
    >"$OUT" 2>"$OUT.err"
RC=$?
if [ "$RC" = 2 ] && grep -q nonexistent/unbound.conf "$OUT.err" && ! grep -q attempt "$OUT"; then
    e2e_ok probe_bad_unbound_conf_exit_2
else e2e_fail "probe_bad_unbound_conf_exit_2 (rc $RC)"; show; fi
cli_suite_stop_pid XMPP_PID

# ---- check: chain files against given or looked-up records ---------------------
# chk ARGS...: `check` with the lab's resolver and public CA.
chk() {
    "$S2S_TRUST_BIN" check --config "$TRUST" --unbound-conf "$CONF" --trust-anchor "$(dnslab_anchors "$DNS")" "$@" \
        >"$OUT" 2>"$OUT.err"
    RC=$?
    MS=-
}
chk --domain a.dane.test --tlsa "$EE311" "$C/ee.pem"
expect check_tlsa_given_dane_ee 0 "a.dane.test: ok by dane_ee (PKIX alone: self_signed)" \
    "  dane:        tlsa secure (records given by --tlsa; dnssec secure)" "  dane target: a.dane.test port 5269 tlsa secure, 1 record(s)"
chk --domain a.dane.test --tlsa "$OTHER311" --tlsa "$CA201" "$C/ee.pem"
expect check_tlsa_given_mismatch 1 "a.dane.test: refused: dane_mismatch (PKIX alone: self_signed)"
chk --domain a.dane.test --dane "$C/ee.pem"
expect check_dane_looked_up 0 "a.dane.test: ok by dane_ee" "  dane target: xmpp.a.dane.test port 5269 tlsa secure, 1 record(s)"
chk --domain ta.dane.test --dane "$C/leaf-ca.pem" "$C/ee.pem"
expect check_dane_ta_two_chains 1 "leaf-ca.pem: ta.dane.test: ok by dane_ta" "ee.pem: ta.dane.test: refused: dane_mismatch"
chk --domain mm.dane.test --dane "$C/mmpub.pem" --json
json_ok check_json_dane_mismatch 1 'assert d["verdict"]=="ok" and d["trusted"] and d["dane"]["by"]=="dane_mismatch" and d["dane"]["probed_target"] is None
assert d["accepted_by"]==["pkix"] and d["decision"]["accepted"] is False and d["decision"]["by"]=="dane_mismatch" and d["posh"] is None'
chk --domain a.broken.test --dane "$C/brokenpub.pem"
expect check_dane_bogus 1 "a.broken.test: refused: dnssec_bogus (PKIX alone: ok)"
chk --domain a.plain.test --dane "$C/plainpub.pem"
expect check_dane_unsigned_pkix 0 "a.plain.test: ok" "  dane:        tlsa insecure"
chk --domain a.dane.test "$C/ee.pem"
expect check_without_dane_unchanged 1 "a.dane.test: refused: self_signed (depth 0"
has "  dane:" && { e2e_fail "check_without_dane_unchanged (a dane line)"; show; }
chk --domain a.dane.test --tlsa "3 1 1 xyz" "$C/ee.pem"
expect check_bad_tlsa_usage 2
grep -q -- "--tlsa: " "$OUT.err" || { e2e_fail "check_bad_tlsa_usage (no reason)"; show; }
chk --domain a.dane.test --tlsa "$EE311" --dane "$C/ee.pem"
expect check_tlsa_and_dane_usage 2

e2e_summary
