#!/usr/bin/env bash
# tests/posh/test_posh_cli.sh - `s2s-trust posh` end to end against a real
# nginx on loopback (tests/posh/weblab.sh): what the POSH procedure
# (c_src/net/s2s_trust_posh_fetch.h over s2s_trust_http.h, libcurl) and the
# reader and matcher (c_src/core/s2s_trust_posh.h) conclude from real HTTPS
# answers, through the command an operator runs.
#
# nginx serves every *.posh.test site on WEB_ADDR:8443 with a certificate
# from a web CA made here (--cafile), except untrusted.posh.test (another
# CA). The XMPP peer's leaf is a self-signed certificate made here too: POSH
# vouches for it whatever it names.
#   sha256.posh.test     sha-256 of the leaf                   -> accepted
#   sha512.posh.test     sha-512 only                          -> accepted
#   nomatch.posh.test    another certificate's fingerprint     -> posh_mismatch
#   hop.posh.test        url -> hosting.posh.test (sha-256), expires min(3600, 600)
#   twohops.posh.test    url -> a document with a url again    -> too_many_hops
#   hophttp.posh.test    url is http://                        -> bad_url
#   esc.posh.test        url with an escape byte               -> bad_url, shown escaped
#   zero.posh.test       expires 0                             -> bad_expires
#   missing.posh.test    no document                           -> http_status 404
#   moved.posh.test      301 to sha256's document              -> redirect, not followed
#   badjson.posh.test    a document cut short                  -> malformed
#   big.posh.test        70000 bytes (Content-Length)          -> too_large
#   bigchunked.posh.test 70000 bytes, chunked (nginx SSI)      -> too_large while reading
#   untrusted.posh.test  certificate from another CA           -> cert_untrusted
#   elsewhere.test       not a name of the certificate served  -> cert_untrusted
#   slow.posh.test       SLOW_ADDR: a python3 socket that accepts and never
#                        answers                               -> timeout (time printed)
#   closed.posh.test     CLOSED_ADDR: nothing listens          -> connect_failed
# `probe` (POSH beside PKIX; --no-dane: no DNSSEC here) against a TLS server
# (openssl s_server, direct TLS as XEP-0368) on XMPP_ADDR:5269 presenting
# the peer's self-signed leaf, or the web certificate (*.posh.test, from the
# web CA, which --config then trusts):
#   sha256 -> ok by posh; hop -> ok by posh through the delegation;
#   nomatch -> refused posh_mismatch; missing -> POSH absent, refused
#   self_signed; nomatch with a PKIX-valid chain -> ok by pkix (POSH never
#   refuses what PKIX accepts); a bad --cafile is exit 2 before connecting.
# `check --posh` on the peer's chain file: match, mismatch, absent (JSON).
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
# Run it under the lab lock, as the other lab suites:
#   flock /tmp/s2s-lab.lock bash tests/posh/test_posh_cli.sh
# Environment: S2S_TRUST_BIN (default: priv/bin, built now), LAB_DIR
# (default /tmp/s2s-lab-posh-cli), WEB_ADDR (127.0.0.120), SLOW_ADDR
# (127.0.0.121), CLOSED_ADDR (127.0.0.122), WEB_PORT (8443), XMPP_ADDR
# (127.0.0.131; the TLS server the probe connects to).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-posh-cli}"
: "${WEB_ADDR:=127.0.0.120}"
: "${SLOW_ADDR:=127.0.0.121}"
: "${CLOSED_ADDR:=127.0.0.122}"
: "${WEB_PORT:=8443}"
: "${XMPP_ADDR:=127.0.0.131}"
# shellcheck source=tests/posh/weblab.sh
source "$HERE/weblab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
# shellcheck source=tests/e2e/cli_suite.sh
source "$HERE/../e2e/cli_suite.sh"

WEB=$LAB_DIR/web
lab_show_logs() { weblab_show_log "$WEB"; }

cli_suite_bin "$TOP" || exit 1
_weblab_check_dir "$LAB_DIR" || exit 1
cli_suite_run_dir "$LAB_DIR" weblab_stop "$WEB" || exit 1
mkdir -p "$WEB" || exit 1
# shellcheck disable=SC2034 # set and read by name (cli_suite_tls_server, cli_suite_stop_pid)
XMPP_PID=
trap 'weblab_silent_stop "$WEB"; cli_suite_stop_pid XMPP_PID; weblab_stop "$WEB"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- certificates -----------------------------------------------------------------
C=$LAB_DIR/certs
mkdir -p "$C"
mkcert() { cli_suite_mkcert "$C" "$@"; }
if ! { mkcert webca "/CN=POSH lab web CA" ca &&
    mkcert otherca "/CN=Some other web CA" ca &&
    mkcert web "/CN=posh.test" "DNS:*.posh.test,DNS:posh.test" webca &&
    mkcert untrusted "/CN=untrusted.posh.test" "DNS:untrusted.posh.test" otherca &&
    mkcert peer "/CN=xmpp.hosting.test" "DNS:xmpp.hosting.test" &&
    mkcert other "/CN=other.test" "DNS:other.test"; }; then
    echo "openssl failed"
    exit 1
fi
fp() { openssl x509 -in "$C/$1.pem" -outform DER | openssl dgst "-$2" -binary | base64 -w0; }
FP256=$(fp peer sha256) && FP512=$(fp peer sha512) && OTHER256=$(fp other sha256) || exit 1

# ---- the sites --------------------------------------------------------------------
U=https://hosting.posh.test:$WEB_PORT/posh
site() { weblab_site "$WEB" "$1" "$C/web.pem" "$C/web.key" "${@:2}" || exit 1; }
doc() { weblab_file "$WEB" "$1" "${2:-.well-known/posh/xmpp-server.json}" || exit 1; }
site sha256.posh.test
site sha512.posh.test
site nomatch.posh.test
site hop.posh.test
site hosting.posh.test
site twohops.posh.test
site hophttp.posh.test
site esc.posh.test
site zero.posh.test
site missing.posh.test
site moved.posh.test "return 301 https://sha256.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json;"
site badjson.posh.test
site big.posh.test
# SSI rewrites the body as it streams: no Content-Length, chunked.
site bigchunked.posh.test "ssi on;" "ssi_types application/json;"
weblab_site "$WEB" untrusted.posh.test "$C/untrusted.pem" "$C/untrusted.key" || exit 1

printf '{"fingerprints":[{"sha-256":"%s"}],"expires":86400}\n' "$FP256" | doc sha256.posh.test
printf '{"fingerprints":[{"sha-512":"%s"}],"expires":3600}\n' "$FP512" | doc sha512.posh.test
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":86400}\n' "$OTHER256" | doc nomatch.posh.test
printf '{"url":"%s/hop.json","expires":3600}\n' "$U" | doc hop.posh.test
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":600}\n' "$FP256" | doc hosting.posh.test posh/hop.json
printf '{"url":"%s/again.json","expires":3600}\n' "$U" | doc twohops.posh.test
printf '{"url":"%s/hop.json","expires":600}\n' "$U" | doc hosting.posh.test posh/again.json
printf '{"url":"http://hosting.posh.test:%s/posh/hop.json","expires":3600}\n' "$WEB_PORT" | doc hophttp.posh.test
printf '{"url":"https://hosting.posh.test/\\u001b[31mred","expires":3600}\n' | doc esc.posh.test
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":0}\n' "$FP256" | doc zero.posh.test
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":86400\n' "$FP256" | doc badjson.posh.test
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":86400}\n' "$FP256" | doc untrusted.posh.test
big() { printf '{"fingerprints":[{"sha-256":"%s"}],"expires":86400,"pad":"%s"}\n' "$FP256" "$(head -c 70000 /dev/zero | tr '\0' x)"; }
big | doc big.posh.test
big | doc bigchunked.posh.test

weblab_start "$WEB" "$WEB_ADDR" "$WEB_PORT" || exit 1

# The silent server: accepts every connection, reads, answers nothing (a
# web server gone dark mid-handshake). Loopback only, stopped by its pid.
weblab_silent_start "$WEB" "$SLOW_ADDR" "$WEB_PORT" || exit 1

OUT=$LAB_DIR/out
# posh DOMAIN [ARGS...]: the command's stdout in $OUT, stderr in $OUT.err,
# its status in $RC, its wall time in $MS. DOMAIN and hosting.posh.test
# resolve to the lab (ADDR given by RESOLVE_ADDR, default WEB_ADDR).
posh() {
    local d=$1 t0
    shift
    t0=$(_weblab_ms)
    "$S2S_TRUST_BIN" posh "$d" --port "$WEB_PORT" --cafile "$C/webca.pem" \
        --resolve "$d:$WEB_PORT:${RESOLVE_ADDR:-$WEB_ADDR}" --resolve "hosting.posh.test:$WEB_PORT:$WEB_ADDR" \
        "$@" >"$OUT" 2>"$OUT.err"
    RC=$?
    MS=$(($(_weblab_ms) - t0))
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
posh sha256.posh.test --chain "$C/peer.pem"
expect sha256_match 0 "url: https://sha256.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json" \
    "status: ok" "fingerprint: sha-256 $FP256 (" "expires: 86400" "leaf: sha-256 $FP256" \
    "match: yes (fingerprint 1, sha-256)" "overall: accepted by posh"

posh sha256.posh.test
expect published_without_chain 0 "status: ok" "fingerprint: sha-256 $FP256" "overall: published by posh"

posh sha256.posh.test --chain "$C/peer.pem" --json
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d["status"]=="ok" and d["overall"]=="accepted" and d["by"]=="posh" and d["match"] is True
assert d["fingerprints"][0]["alg"]=="sha-256" and d["fingerprints"][0]["base64"]==sys.argv[2]
assert d["expires"]==86400 and d["delegated_url"] is None and d["http_code"]==200
assert d["leaf"]["sha-256"]==sys.argv[2]' "$OUT" "$FP256" 2>"$OUT.py" &&
    [ "$RC" = 0 ]; then e2e_ok "json"; else e2e_fail "json (rc $RC)"; show; cat "$OUT.py"; fi

posh sha512.posh.test --chain "$C/peer.pem"
expect sha512_only_match 0 "fingerprint: sha-512 $FP512" "match: yes (fingerprint 1, sha-512)" \
    "overall: accepted by posh"

posh nomatch.posh.test --chain "$C/peer.pem"
expect no_match 1 "status: ok" "fingerprint: sha-256 $OTHER256" "match: no" "overall: refused by posh_mismatch"

posh hop.posh.test --chain "$C/peer.pem"
expect one_hop_followed 0 "url: https://hop.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json" \
    "delegated: $U/hop.json" "status: ok" "expires: 600 (domain document 3600)" "overall: accepted by posh"

posh twohops.posh.test --chain "$C/peer.pem"
expect two_hops_refused 1 "delegated: $U/again.json" \
    "status: too_many_hops (delegated document: $U/again.json: delegates again" "overall: refused by posh_too_many_hops"

posh hophttp.posh.test --chain "$C/peer.pem"
expect hop_to_http_refused 1 "status: bad_url (delegated document" "overall: refused by posh_bad_url"

posh esc.posh.test
expect url_shown_escaped 1 'delegated: https://hosting.posh.test/\x1b[31mred' "status: bad_url"
if grep -q $'\x1b' "$OUT"; then e2e_fail "url_shown_escaped (a raw escape byte)"; show; fi

posh zero.posh.test --chain "$C/peer.pem"
expect expires_zero_refused 1 "status: bad_expires (domain document: https://zero.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json: expires is 0)" \
    "overall: refused by posh_bad_expires"

posh missing.posh.test
expect not_found_404 1 "status: http_status (domain document: https://missing.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json: HTTP 404)" \
    "overall: refused by posh_http_status"

posh moved.posh.test --chain "$C/peer.pem"
expect redirect_301_not_followed 1 \
    "status: redirect (domain document: https://moved.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json: HTTP 301, to https://sha256.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json (not followed))" \
    "overall: refused by posh_redirect"
has "delegated:" && { e2e_fail "redirect_301_not_followed (shown as a hop)"; show; }

posh badjson.posh.test
expect bad_json 1 "status: malformed (domain document" "overall: refused by posh_malformed"

posh big.posh.test
expect oversized_body 1 "status: too_large (domain document" "longer than 65536 bytes" "overall: refused by posh_too_large"

posh bigchunked.posh.test
expect oversized_chunked_body 1 "status: too_large (domain document" "overall: refused by posh_too_large"

posh untrusted.posh.test --chain "$C/peer.pem"
expect untrusted_https_certificate 1 "status: cert_untrusted (domain document" "overall: refused by posh_cert_untrusted"

# Without --cafile the system bundle holds: the lab's CA is in none.
"$S2S_TRUST_BIN" posh sha256.posh.test --port "$WEB_PORT" --resolve "sha256.posh.test:$WEB_PORT:$WEB_ADDR" \
    >"$OUT" 2>"$OUT.err"
RC=$? MS=-
expect system_bundle_does_not_know_the_lab 1 "status: cert_untrusted"

posh elsewhere.test
expect certificate_for_another_name 1 "status: cert_untrusted (domain document" "overall: refused by posh_cert_untrusted"

RESOLVE_ADDR=$CLOSED_ADDR posh closed.posh.test
expect nothing_listens 1 "status: connect_failed" "overall: refused by posh_connect_failed"

RESOLVE_ADDR=$SLOW_ADDR posh slow.posh.test --timeout 1500
expect silent_server_refused 1 "status: timeout (domain document" "overall: refused by posh_timeout"
echo "     (silent server: refused after ${MS} ms, --timeout 1500)"

# ---- usage and local errors: exit 2, nothing fetched ----------------------------
"$S2S_TRUST_BIN" posh >"$OUT" 2>"$OUT.err"
RC=$? MS=0
expect usage_no_domain 2
"$S2S_TRUST_BIN" posh 'a_b/c?' >"$OUT" 2>"$OUT.err"
RC=$?
if grep -q "not a host name" "$OUT.err"; then expect usage_not_a_host_name 2
else e2e_fail "usage_not_a_host_name (no reason)"; show; fi
posh sha256.posh.test --chain /nonexistent.pem
expect missing_chain_file 2
posh sha256.posh.test --timeout 0
expect timeout_zero_refused 2
"$S2S_TRUST_BIN" posh sha256.posh.test --cafile /nonexistent.pem >"$OUT" 2>"$OUT.err"
RC=$?
if grep -q "not readable" "$OUT.err"; then expect missing_cafile 2
else e2e_fail "missing_cafile (no reason)"; show; fi

# ---- probe: POSH beside PKIX ----------------------------------------------------
serve() { cli_suite_tls_server XMPP_PID "$LAB_DIR/xmpp.out" "$XMPP_ADDR:5269" "$C/$1.pem" "$C/$1.key" || exit 1; }
# probe DOMAIN [ARGS...]: probe DOMAIN at XMPP_ADDR:5269, its POSH document
# from the lab (as posh() fetches it); output as posh()'s.
probe() {
    local d=$1 t0
    shift
    t0=$(_weblab_ms)
    "$S2S_TRUST_BIN" probe "$d" --connect "$XMPP_ADDR:5269" --direct-tls --no-dane --posh-port "$WEB_PORT" \
        --cafile "$C/webca.pem" --resolve "$d:$WEB_PORT:$WEB_ADDR" --resolve "hosting.posh.test:$WEB_PORT:$WEB_ADDR" \
        "$@" >"$OUT" 2>"$OUT.err"
    RC=$?
    MS=$(($(_weblab_ms) - t0))
}
# json_ok NAME WANT_RC PY_ASSERTS: assertions over the JSON `d` of $OUT.
json_ok() {
    if python3 -c "import json,sys; d=json.load(open(sys.argv[1]))
$3" "$OUT" "$FP256" 2>"$OUT.py" && [ "$RC" = "$2" ]; then e2e_ok "$1"; else e2e_fail "$1 (rc $RC)"; show; cat "$OUT.py"; fi
}

serve peer
probe sha256.posh.test
expect probe_posh_match 0 "sha256.posh.test: ok by posh (PKIX alone: self_signed)" \
    "  posh:        match (fingerprint 1, sha-256)" \
    "  posh url: https://sha256.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json" "  posh status: ok" \
    "  posh fingerprint: sha-256 $FP256 (" "  accepted by: posh" \
    "  decision:    accepted by posh (as mod_s2s_trust with dane: off, posh: on)"
has "  dane:" && { e2e_fail "probe_posh_match (a dane line with --no-dane)"; show; }

probe sha256.posh.test --json
json_ok probe_json_posh_match 0 'p=d["posh"]
assert d["dane"] is None and d["verdict"]=="self_signed" and not d["trusted"]
assert p["state"]=="match" and p["match"] is True and p["fingerprint"]==1 and p["status"]=="ok" and p["leaf_in_validity"]
assert p["fingerprints"][0]["base64"]==sys.argv[2] and p["expires"]==86400 and p["http_code"]==200
assert d["accepted_by"]==["posh"] and d["decision"]=={"accepted":True,"by":"posh","dane_policy":"off","posh_policy":"on"}'

probe hop.posh.test
expect probe_posh_delegated_match 0 "hop.posh.test: ok by posh" "  posh delegated: $U/hop.json" \
    "  posh expires: 600 (domain document 3600)"

probe nomatch.posh.test
expect probe_posh_mismatch 1 "nomatch.posh.test: refused: posh_mismatch (PKIX alone: self_signed)" \
    "  posh:        mismatch" "  posh fingerprint: sha-256 $OTHER256" "  accepted by: none" \
    "  decision:    refused by posh_mismatch"

probe missing.posh.test --json
json_ok probe_posh_absent 1 'p=d["posh"]
assert p["state"]=="absent" and p["status"]=="http_status" and p["http_code"]==404 and p["match"] is None
assert d["accepted_by"]==[] and d["decision"]["by"]=="self_signed" and not d["decision"]["accepted"]'
probe missing.posh.test
expect probe_posh_absent_text 1 "missing.posh.test: refused: self_signed" "  posh:        absent" \
    "  posh status: http_status (domain document: https://missing.posh.test:$WEB_PORT/.well-known/posh/xmpp-server.json: HTTP 404)"

# A chain PKIX accepts stays accepted whatever the POSH document says.
printf 'ca_file = "%s";\n' "$C/webca.pem" >"$LAB_DIR/trust.conf"
serve web
probe nomatch.posh.test --config "$LAB_DIR/trust.conf"
expect probe_pkix_valid_posh_mismatch 0 "nomatch.posh.test: ok" "  posh:        mismatch" "  accepted by: pkix" \
    "  decision:    accepted by pkix"
serve peer

probe sha256.posh.test --no-posh
expect probe_no_posh 1 "sha256.posh.test: refused: self_signed" "  accepted by: none"
has "  posh:" && { e2e_fail "probe_no_posh (a posh line)"; show; }

"$S2S_TRUST_BIN" probe sha256.posh.test --connect "$XMPP_ADDR:5269" --direct-tls --no-dane --cafile /nonexistent.pem \
    >"$OUT" 2>"$OUT.err"
RC=$? MS=-
if grep -q "not readable" "$OUT.err" && ! grep -q attempt "$OUT"; then expect probe_missing_cafile 2
else e2e_fail "probe_missing_cafile (no reason, or it connected)"; show; fi
cli_suite_stop_pid XMPP_PID

# ---- check --posh: a chain file against the published document -----------------
chk() { # DOMAIN [ARGS...]
    local d=$1
    shift
    "$S2S_TRUST_BIN" check --domain "$d" --posh --posh-port "$WEB_PORT" --cafile "$C/webca.pem" \
        --resolve "$d:$WEB_PORT:$WEB_ADDR" "$@" >"$OUT" 2>"$OUT.err"
    RC=$? MS=-
}
chk sha256.posh.test "$C/peer.pem"
expect check_posh_match 0 "sha256.posh.test: ok by posh (PKIX alone: self_signed)" "  posh:        match (fingerprint 1, sha-256)"
chk nomatch.posh.test "$C/peer.pem"
expect check_posh_mismatch 1 "nomatch.posh.test: refused: posh_mismatch (PKIX alone: self_signed)"
chk missing.posh.test "$C/peer.pem" --json
json_ok check_posh_absent_json 1 'assert d["posh"]["state"]=="absent" and d["dane"] is None and d["decision"]["by"]=="self_signed"'

e2e_summary
