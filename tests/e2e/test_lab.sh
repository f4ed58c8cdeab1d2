#!/usr/bin/env bash
# tests/e2e/test_lab.sh - smoke test of the e2e harness (lab.sh) with STOCK
# ejabberd and Prosody of the release (23.01 / 0.12 on Debian 12, 24.12 / 13
# on Debian 13, 26.07 / 13 on unstable): no module of ours is loaded. It pins
# the federation behaviour of docs lab.md section 7, including the bug the
# module exists for on 23.01 (serverAuth-only peers refused inbound by a
# hardened 23.01), which Debian 13's 24.12 and 26.07 fixed: there the same
# peer is accepted. Run as root:  bash tests/e2e/test_lab.sh
# Prints "ok NAME" / "FAIL NAME" per case and ends with "N passed, N failed";
# exit 0 only if all pass. Logs stay in $LAB_DIR (default /tmp/s2s-trust-lab).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lab.sh source-path=SCRIPTDIR
source "$HERE/lab.sh"

passed=0
failed=0
T_START=$(_lab_ms)
TIMINGS=()

# case NAME FUNCTION [ARGS...]: one test case; the function's status decides.
case_() {
    local name=$1 t0 ms
    shift
    t0=$(_lab_ms)
    if "$@"; then
        passed=$((passed + 1))
        echo "ok $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
    fi
    ms=$(($(_lab_ms) - t0))
    TIMINGS+=("$(printf '%6d ms  %s' "$ms" "$name")")
}

summary() {
    local t
    {
        echo "lab: timings"
        for t in "${TIMINGS[@]}"; do echo "lab:   $t"; done
        echo "lab: whole run $(($(_lab_ms) - T_START)) ms"
    } >&2
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}

# A body no earlier case can have produced.
body() { echo "lab-$1-$$-$RANDOM$RANDOM"; }

# ---- cases ----------------------------------------------------------------

setup_pki() {
    lab_init || return 1
    lab_issue_leaf a a.test ec || return 1
    lab_issue_leaf b b.test rsa || return 1
    lab_issue_leaf c c.test selfsigned || return 1
    lab_issue_leaf a-sa a.test eku=serverAuth || return 1
    # Kinds only checked with openssl here; later suites use them.
    lab_issue_leaf x-expired x.test expired || return 1
    lab_issue_leaf x-wrong x.test wrongname || return 1
    lab_issue_leaf x-unknown x.test issuer=inter2 || return 1
    lab_issue_leaf x-xa x.test xmppaddr || return 1
    lab_issue_leaf x-client x.test eku=clientAuth || return 1
}

# verify_is LEAF PURPOSE WANT [extra openssl verify args]: WANT is OK or
# an "error N" prefix.
verify_is() {
    local leaf=$1 purpose=$2 want=$3 out
    shift 3
    out=$(openssl verify -CAfile "$LAB_DIR/pki/root.pem" -untrusted "$(lab_cert "$leaf" chain)" \
        -purpose "$purpose" "$@" "$(lab_cert "$leaf" cert)" 2>&1)
    if [[ $out == *"$want"* ]]; then return 0; fi
    lab_log "openssl verify $leaf ($purpose): want '$want', got: $out"
    return 1
}

issued_leaves_are_what_they_say() {
    local r=0
    verify_is a sslserver ': OK' || r=1
    verify_is a sslclient ': OK' || r=1
    verify_is b sslclient ': OK' || r=1
    verify_is a-sa sslserver ': OK' || r=1
    verify_is a-sa sslclient 'error 26 ' || r=1
    verify_is x-client sslserver 'error 26 ' || r=1
    verify_is c sslserver 'error 18 ' || r=1
    verify_is x-expired sslserver 'error 10 ' || r=1
    verify_is x-unknown sslserver 'error 20 ' || r=1
    verify_is x-wrong sslserver 'error 62 ' -verify_hostname x.test || r=1
    verify_is a sslserver ': OK' -verify_hostname a.test || r=1
    # ejabberd's certfile: key, leaf, intermediate; RSA where asked.
    [ "$(grep -c BEGIN "$(lab_cert a full)")" = 3 ] || { lab_log "a/full.pem: not key+leaf+inter"; r=1; }
    openssl x509 -in "$(lab_cert b cert)" -noout -text | grep -q 'rsaEncryption' || { lab_log "b is not RSA"; r=1; }
    openssl x509 -in "$(lab_cert a cert)" -noout -ext subjectAltName | grep -q 'othername' &&
        { lab_log "default leaf carries an otherName"; r=1; }
    openssl x509 -in "$(lab_cert x-xa cert)" -noout -ext subjectAltName | grep -qi 'othername' ||
        { lab_log "xmppaddr leaf has no otherName"; r=1; }
    return $r
}

start_all() {
    lab_ejabberd_start a a.test 127.0.0.2 a nowait || return 1
    lab_ejabberd_start b b.test 127.0.0.3 b hardened nowait || return 1
    lab_prosody_start c c.test 127.0.0.4 c - secure_auth=false nowait || return 1
    lab_wait_ready a b c || return 1
    # Each registration boots a client VM or prosodyctl: in parallel.
    local pids=() p r=0
    lab_register alice@a.test & pids+=($!)
    lab_register bob@b.test & pids+=($!)
    lab_register carol@c.test & pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || r=1; done
    return $r
}

# deliver FROM TO EVIDENCE_NAME EVIDENCE_REGEX: FROM's message reaches TO,
# and the evidence line shows how the s2s stream was authenticated.
deliver() {
    local from=$1 to=$2 ev=$3 re=$4 b
    b=$(body "${from%%@*}-${to%%@*}")
    lab_send "$from" "$to" "$b" || return 1
    lab_wait_delivered "$to" "$b" || return 1
    lab_wait_log "$ev" "$re"
}

B2A_BODY=
b_to_a_default() {
    B2A_BODY=$(body b2a)
    lab_send bob@b.test alice@a.test "$B2A_BODY" || return 1
    lab_wait_delivered alice@a.test "$B2A_BODY" || return 1
    lab_wait_log a 'Accepted inbound s2s EXTERNAL authentication b\.test -> a\.test'
}

restart_keeps_mnesia() {
    lab_ejabberd_restart a || return 1
    lab_user_exists alice@a.test || { lab_log "alice@a.test gone after restart"; return 1; }
    lab_has_message alice@a.test "$B2A_BODY" || { lab_log "offline message gone after restart"; return 1; }
}

# A crash, then a start with a new config on the same spool: Mnesia
# recovers and the user is still there.
kill9_then_hardened() {
    lab_ejabberd_kill9 a || return 1
    lab_ejabberd_start a a.test 127.0.0.2 a hardened || return 1
    grep -q 'mod_s2s_dialback' "$(_lab_dir a)/etc/ejabberd.yml" && { lab_log "dialback still configured"; return 1; }
    lab_user_exists alice@a.test || { lab_log "alice@a.test gone after kill -9"; return 1; }
}

refused_a_to_c() {
    local b
    b=$(body a2c-refused)
    lab_send alice@a.test carol@c.test "$b" || return 1
    lab_assert_not_delivered carol@c.test "$b" a \
        'Failed to establish outbound s2s connection a\.test -> c\.test: Peer certificate rejected: self.signed certificate'
}

refused_c_to_a() {
    local b
    b=$(body c2a-refused)
    lab_send carol@c.test alice@a.test "$b" || return 1
    lab_wait_log a 'Failed inbound s2s EXTERNAL authentication c\.test -> a\.test .*self.signed certificate' || return 1
    lab_assert_not_delivered alice@a.test "$b" c \
        'Sending error replies for 1 queued stanzas because of failed outgoing connection to a\.test'
}

# The bug mod_s2s_trust fixes: 23.01 checks an inbound peer's certificate
# for the TLS-client purpose, and a serverAuth-only chain (Let's Encrypt
# since 2026) fails it although it is valid.
serverauth_only_refused_inbound() {
    local b
    lab_ejabberd_stop a || return 1
    lab_ejabberd_start a a.test 127.0.0.2 a-sa hardened || return 1
    b=$(body sa-a2b)
    lab_send alice@a.test bob@b.test "$b" || return 1
    lab_wait_log b 'Failed inbound s2s EXTERNAL authentication a\.test -> b\.test \(127\.0\.0\.2\): unsupported certificate purpose' || return 1
    lab_assert_not_delivered bob@b.test "$b" a \
        'Failed to establish outbound s2s connection a\.test -> b\.test'
}

# 24.12-3+deb13u2 and 25.07+ check the server purpose inbound: accepted.
serverauth_only_accepted_inbound() {
    lab_ejabberd_stop a || return 1
    lab_ejabberd_start a a.test 127.0.0.2 a-sa hardened || return 1
    local b
    b=$(body sa-a2b-accepted)
    lab_send alice@a.test bob@b.test "$b" || return 1
    lab_wait_delivered bob@b.test "$b" || return 1
    lab_wait_log b 'Accepted inbound s2s EXTERNAL authentication a\.test -> b\.test'
}

serverauth_only_ok_outbound() {
    deliver bob@b.test alice@a.test b 'Accepted outbound s2s EXTERNAL authentication b\.test -> a\.test'
}

teardown_leaves_nothing() {
    lab_teardown
    local left
    left=$(_lab_run_dir_pids)
    if [ -n "$left" ]; then
        lab_log "processes left after teardown: $left"
        return 1
    fi
}

# ---- run --------------------------------------------------------------------

case_ "init, PKI and leaves" setup_pki
if [ "$failed" != 0 ]; then
    summary
    exit 1
fi
case_ "issued leaves verify as intended (openssl)" issued_leaves_are_what_they_say
case_ "start a (default) b (hardened) c (prosody, self-signed), register users" start_all
if [ "$failed" != 0 ]; then
    lab_show_logs
    summary
    exit 1
fi
case_ "only loopback listeners, no epmd" lab_assert_loopback_only
case_ "a(default) -> b(hardened) delivered, EXTERNAL" \
    deliver alice@a.test bob@b.test a 'Accepted outbound s2s EXTERNAL authentication a\.test -> b\.test'
case_ "b(hardened) -> a(default) delivered, EXTERNAL" b_to_a_default
case_ "a(default) -> c(self-signed) delivered, a checks nothing" \
    deliver alice@a.test carol@c.test c 'Accepting SASL EXTERNAL identity from a\.test'
case_ "c(self-signed) -> a(default) delivered via dialback" \
    deliver carol@c.test alice@a.test a 'Accepted inbound s2s dialback authentication c\.test -> a\.test'
case_ "restart a keeps user and offline message (Mnesia)" restart_keeps_mnesia
case_ "kill -9 a, start it hardened: user survives" kill9_then_hardened
case_ "a(hardened) -> b(hardened) delivered" \
    deliver alice@a.test bob@b.test b 'Accepted inbound s2s EXTERNAL authentication a\.test -> b\.test'
case_ "a(hardened) -> c(self-signed) refused" refused_a_to_c
case_ "c(self-signed) -> a(hardened) refused" refused_c_to_a
if lab_ejabberd_checks_server_purpose; then
    case_ "serverAuth-only a -> hardened b accepted by stock $(lab_ejabberd_version) (server purpose)" \
        serverauth_only_accepted_inbound
else
    case_ "serverAuth-only a -> hardened b refused by stock $(lab_ejabberd_version) (unsupported certificate purpose)" \
        serverauth_only_refused_inbound
fi
case_ "serverAuth-only a: b -> a delivered (outbound uses the server purpose)" serverauth_only_ok_outbound
case_ "only loopback listeners after restarts" lab_assert_loopback_only
case_ "teardown leaves no process" teardown_leaves_nothing
summary
