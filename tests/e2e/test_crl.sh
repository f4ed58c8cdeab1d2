#!/usr/bin/env bash
# tests/e2e/test_crl.sh - CRL refresh (docs/crl.md) against real servers on
# loopback: a.test fetches the CRLs its intermediates and its peers' leaves
# name, from a python3 http.server on 127.0.0.40:18089 (the address the test
# PKI's crlDistributionPoints name: tests/pki/openssl.cnf).
#
#   a.test   ejabberd + mod_s2s_trust (enforce, dialback loaded); ca_file root,
#            intermediates: pool.pem + inter-crl.pem (which names root.crl)
#   b.test   ejabberd, hardened; leaf issued by inter-crl, naming inter-crl.crl
#            in its own crlDistributionPoints, as Let's Encrypt leaves do
#
#   1. root.crl is fetched at start (named by inter-crl); b <-> a federate;
#      the leaf's point (inter-crl.crl) is learned from b's stream and fetched
#   2. b's leaf is revoked on the server; s2s_trust_reload fetches it, the
#      live streams are re-checked and closed; new streams are refused `revoked`
#   3. the older CRL served again (a replay) is refused, the copy kept
#   4. the CRL server stopped: the failure is logged and shown, the copy kept
#   5. a restarted with the server still down: the copies on disk are in
#      the store at once, b is still refused; with the server back the
#      schedule (crl_refresh_interval: 15) fetches again on its own
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

declare -A IP=([a]=127.0.0.2 [b]=127.0.0.3)
CRL_IP=127.0.0.40
CRL_PORT=18089
BASE_URL="http://$CRL_IP:$CRL_PORT"
lab_init || exit 1
_lab_addr_free "$CRL_IP" "$CRL_PORT" || exit 1

PKI=$LAB_DIR/pki
WWW=$LAB_DIR/crl-www
mkdir -p "$WWW"
chmod 0755 "$WWW"
grep -q "URI:$BASE_URL/inter-crl.crl" "$REPO/tests/pki/openssl.cnf" || {
    echo "tests/pki/openssl.cnf does not name $BASE_URL" >&2
    exit 1
}

# ---- certificates and CRLs ------------------------------------------------------
lab_issue_leaf a a.test

# b's leaf: issued by inter-crl with the leaf_crl_ext section (a
# crlDistributionPoints of its own), which lab_issue_leaf has no option for.
issue_crl_leaf() {
    local out=$LAB_DIR/certs/b
    rm -rf "$out" && mkdir -p "$out"
    (
        export OPENSSL_CONF=$REPO/tests/pki/openssl.cnf CA_DIR=$PKI/ca/inter-crl
        export SAN=DNS:b.test EKU=serverAuth,clientAuth KU=digitalSignature
        cd "$out" || exit 1
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout key.pem \
            -out req.csr -subj /CN=b.test &&
            openssl ca -batch -notext -cert "$PKI/inter-crl.pem" -keyfile "$PKI/ca/inter-crl/key.pem" \
                -in req.csr -out cert.pem -extensions leaf_crl_ext -days 30
    ) >"$out/openssl.log" 2>&1 || { cat "$out/openssl.log" >&2; return 1; }
    cat "$out/cert.pem" "$PKI/inter-crl.pem" >"$out/chain.pem"
    cat "$out/key.pem" "$out/chain.pem" >"$out/full.pem"
    chmod 0755 "$out" && chmod 0644 "$out"/*.pem
}
issue_crl_leaf || exit 1

# inter-crl's CRL, DER (as CAs publish), into the served file, atomically.
# $1: revoke b's leaf first ("revoke") or not.
publish_inter_crl() {
    (
        export OPENSSL_CONF=$REPO/tests/pki/openssl.cnf CA_DIR=$PKI/ca/inter-crl
        export SAN=DNS:unused.invalid EKU=serverAuth KU=digitalSignature
        if [ "${1:-}" = revoke ]; then
            openssl ca -revoke "$LAB_DIR/certs/b/cert.pem" -cert "$PKI/inter-crl.pem" \
                -keyfile "$PKI/ca/inter-crl/key.pem" || exit 1
        fi
        openssl ca -gencrl -cert "$PKI/inter-crl.pem" -keyfile "$PKI/ca/inter-crl/key.pem" \
            -crldays 7 -out "$WWW/.inter-crl.pem" &&
            openssl crl -in "$WWW/.inter-crl.pem" -outform DER -out "$WWW/.inter-crl.der"
    ) >"$LAB_DIR/crl-openssl.log" 2>&1 || { cat "$LAB_DIR/crl-openssl.log" >&2; return 1; }
    chmod 0644 "$WWW/.inter-crl.der"
    mv "$WWW/.inter-crl.der" "$WWW/inter-crl.crl"
}
cp "$PKI/root.crl.pem" "$WWW/root.crl"   # PEM: the module takes both forms
chmod 0644 "$WWW/root.crl"
publish_inter_crl || exit 1
cp "$WWW/inter-crl.crl" "$LAB_DIR/inter-crl.unrevoked.crl"

# The server's command line names $LAB_DIR, so lab_teardown stops it too.
CRL_PID=
crl_server_start() {
    python3 -m http.server --bind "$CRL_IP" --directory "$WWW" "$CRL_PORT" \
        >>"$LAB_DIR/crl-http.log" 2>&1 &
    CRL_PID=$!
    _lab_poll 10 0.1 _lab_listening "$CRL_IP" "$CRL_PORT"
}
crl_server_stop() {
    [ -n "$CRL_PID" ] || return 0
    kill "$CRL_PID" 2>/dev/null
    wait "$CRL_PID" 2>/dev/null
    CRL_PID=
    ! _lab_listening "$CRL_IP" "$CRL_PORT"
}
crl_server_start || { echo "the CRL server did not start" >&2; cat "$LAB_DIR/crl-http.log" >&2; exit 1; }

# ---- servers ------------------------------------------------------------------------
TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
cp "$PKI/root.pem" "$PKI/pool.pem" "$PKI/inter-crl.pem" "$TRUST/"
printf 'ca_file = "root.pem";\nintermediate_file = ["pool.pem", "inter-crl.pem"];\n' >"$TRUST/trust.conf"
chmod -R a+rX "$TRUST"
module() { # $1: crl_refresh_interval
    printf 'mod_s2s_trust:\n  trust_config: "%s"\n  mode: enforce\n  crl_refresh_interval: %s\n  crl_fetch_timeout: 3000\n' \
        "$TRUST/trust.conf" "$1"
}

lab_ejabberd_start a a.test "${IP[a]}" a starttls=optional dialback=yes code="$REPO" \
    modules="$(module 3600)" nowait || exit 1
lab_ejabberd_start b b.test "${IP[b]}" "$LAB_DIR/certs/b/full.pem" hardened nowait || exit 1
lab_wait_ready a b || exit 1
for u in alice@a.test bob@b.test; do lab_register "$u" pw || exit 1; done

ALOG=$(_lab_dir a)/log/ejabberd.log
crls() { lab_ctl a s2s_trust_crls; }
# copy_is URL STATE: the s2s_trust_crls line of URL says STATE (current|stale|none).
copy_is() { crls | awk -F'\t' -v u="$1" -v s="$2" '$1 == u && $2 == s { f = 1 } END { exit !f }'; }
wait_copy() { _lab_poll "${3:-30}" 0.5 copy_is "$1" "$2"; }
# fails_with URL TEXT: its last_error column holds TEXT.
fails_with() { crls | awk -F'\t' -v u="$1" -v t="$2" '$1 == u && index($5, t) { f = 1 } END { exit !f }'; }
no_error() { crls | awk -F'\t' -v u="$1" '$1 == u && $5 == "-" { f = 1 } END { exit !f }'; }
log_has() { grep -Eq -- "$1" "$ALOG"; }
wait_log_all() { _lab_poll "${2:-30}" 0.5 log_has "$1"; }
crl_count() { # CRLs in a.test's store
    lab_rpc a 's2s_trust:info(mod_s2s_trust_store:of_host(<<"a.test">>))' | tr -d ' \n' |
        sed -n 's/.*crls=>\([0-9]*\).*/\1/p'
}
crls_are() { [ "$(crl_count)" = "$1" ]; }
reloaded() { [[ $RELOAD == "trust store reloaded;"* ]]; }
closed_some() { [[ $RELOAD =~ [1-9][0-9]*\ live\ s2s\ stream\(s\)\ re-checked,\ [1-9][0-9]*\ closed ]]; }
REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of b\.test: revoked'
# a's WARNING for a peer is throttled to one a minute (docs/module.md): the
# evidence of each later refusal is the refused side's own log line.
B_REFUSED="Failed to establish outbound s2s connection b\.test -> a\.test: .*Certificate refused \(mod_s2s_trust\): revoked"
A_REFUSED="Failed to establish outbound s2s connection a\\.test -> b\\.test: authentication failed"
ROOT_URL=$BASE_URL/root.crl
INTER_URL=$BASE_URL/inter-crl.crl

# ---- 1. what the store's intermediates and the peers' leaves name ---------------
check "start: root.crl (named by inter-crl) fetched" -- wait_copy "$ROOT_URL" current 30
check "start: the root's CRL is in the store" -- _lab_poll 20 0.5 crls_are 1
check "start: the leaf-only point is not known yet" -- eval "! crls | grep -qF -- '$INTER_URL'"

lab_send bob@b.test alice@a.test "b to a before revocation"
check "b -> a delivered (its CRL lists nothing)" a b -- \
    lab_wait_delivered alice@a.test "b to a before revocation" 30
lab_send alice@a.test bob@b.test "a to b before revocation"
check "a -> b delivered" a b -- lab_wait_delivered bob@b.test "a to b before revocation" 30
check "b's leaf names inter-crl.crl: learned from the stream" -- \
    wait_log_all "new CRL distribution point $INTER_URL, named by a leaf issued by CN=s2s-trust CRL-Publishing Intermediate" 30
check "inter-crl.crl fetched" -- wait_copy "$INTER_URL" current 30
check "both CRLs in the store" -- _lab_poll 20 0.5 crls_are 2
check "the copies are in the spool" -- \
    test "$(find "$(_lab_dir a)/spool/s2s_trust_crls" -name '*.crl' | wc -l)" = 2

# ---- 2. revocation: s2s_trust_reload fetches, re-checks, closes --------------------
publish_inter_crl revoke || exit 1
lab_mark a b
RELOAD=$(lab_ctl a s2s_trust_reload)
echo "     s2s_trust_reload: $RELOAD"
check "reload: store rebuilt" -- reloaded
check "reload: live streams re-checked and closed" -- closed_some
check "reload: the new CRL was fetched and kept" -- \
    lab_wait_log a "CRL $INTER_URL updated: issuer CN=s2s-trust CRL-Publishing Intermediate, 1 revoked" 5
check "reload: b's live stream closed as revoked" -- lab_wait_log a "$REFUSED_IN" 10
lab_wait_s2s_gone b b.test a.test
lab_send bob@b.test alice@a.test "b to a after revocation"
check "b -> a refused: revoked" a b -- \
    lab_assert_not_delivered alice@a.test "b to a after revocation" b "$B_REFUSED"
lab_send alice@a.test bob@b.test "a to b after revocation"
check "a -> b refused: revoked" a b -- \
    lab_assert_not_delivered bob@b.test "a to b after revocation" a "$A_REFUSED"
check "violators list: b.test revoked" -- \
    eval "lab_ctl a s2s_trust_violators | grep -Eq '^b\.test[[:space:]].*revoked'"

# ---- 3. a replayed older CRL is refused -----------------------------------------------
cp "$LAB_DIR/inter-crl.unrevoked.crl" "$WWW/.replay" && mv "$WWW/.replay" "$WWW/inter-crl.crl"
lab_mark a
lab_ctl a s2s_trust_reload >/dev/null
check "replay: the older CRL is refused" -- \
    lab_wait_log a "CRL $INTER_URL not updated: older than the copy held .*stays in use" 5
check "replay: shown in s2s_trust_crls" -- fails_with "$INTER_URL" "older than the copy held"
lab_wait_s2s_gone b b.test a.test
lab_send bob@b.test alice@a.test "b to a after replay"
check "replay: b -> a still refused" a b -- \
    lab_assert_not_delivered alice@a.test "b to a after replay" b "$B_REFUSED"
publish_inter_crl || exit 1   # the revoking CRL again, newer

# ---- 4. the CRL server gone --------------------------------------------------------------
check "CRL server stopped" -- crl_server_stop
lab_mark a
RELOAD=$(lab_ctl a s2s_trust_reload)
check "server down: reload still rebuilds the store" -- reloaded
check "server down: the failure is logged, URL and all" -- \
    lab_wait_log a "CRL $INTER_URL not updated: cannot connect: connection refused; the copy held \(nextUpdate [^)]*\) stays in use" 5
lab_ctl a s2s_trust_crls | sed 's/^/     s2s_trust_crls: /'
check "server down: shown in s2s_trust_crls" -- fails_with "$INTER_URL" "cannot connect"
check "server down: the copy is still current" -- copy_is "$INTER_URL" current
check "server down: status/0 has it too" -- \
    eval "lab_rpc a 'mod_s2s_trust_crl:status()' | tr -d ' \n' | grep -q 'reason=><<\"cannotconnect:connectionrefused\">>'"
lab_wait_s2s_gone b b.test a.test
lab_send bob@b.test alice@a.test "b to a server down"
check "server down: b -> a still refused" a b -- \
    lab_assert_not_delivered alice@a.test "b to a server down" b "$B_REFUSED"

# ---- 5. restart with the server down; then the schedule ------------------------------------
lab_ejabberd_stop a || exit 1
RESTART_LINE=$(wc -l <"$ALOG")
lab_ejabberd_start a a.test "${IP[a]}" a starttls=optional dialback=yes code="$REPO" \
    modules="$(module 15)" || exit 1
check "restart: the copies on disk are in the store at once" -- crls_are 2
check "restart: the store was built with them, before any fetch" -- \
    eval "tail -n +$((RESTART_LINE + 1)) '$ALOG' | grep -Eq 'trust store for a\.test: 1 anchors, [0-9]+ intermediates, 2 CRLs'"
lab_wait_s2s_gone b b.test a.test
lab_send bob@b.test alice@a.test "b to a after restart"
check "restart: b -> a refused: revoked (last good copy)" a b -- \
    lab_assert_not_delivered alice@a.test "b to a after restart" b "$B_REFUSED"
check "restart: the fetch failure is reported" -- _lab_poll 30 0.5 fails_with "$ROOT_URL" "cannot connect"
crl_server_start || exit 1
lab_mark a
check "schedule: with the server back, fetched again without a reload" -- \
    lab_wait_log a "CRL $ROOT_URL fetched again after a failure" 60
check "schedule: the error is cleared" -- _lab_poll 30 0.5 no_error "$INTER_URL"
check "schedule: the inter-crl copy is current" -- copy_is "$INTER_URL" current

check "listeners: loopback only" -- lab_assert_loopback_only
crl_server_stop
lab_teardown
e2e_summary
