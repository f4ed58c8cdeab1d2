#!/usr/bin/env bash
# tests/survey/test_survey.sh - `s2s-trust survey` against a lab of servers
# of known posture on loopback. Run as root (the lab needs it):
#
#   flock /tmp/s2s-lab.lock bash tests/survey/test_survey.sh   (make test-survey)
#
# Own addresses and distribution ports (LAB_DIST_BASE 27700), so it cannot
# collide with the other lab suites:
#   ke.test   127.0.0.133  ejabberd + mod_s2s_trust (enforce)       keeps
#   kd.test   127.0.0.134  stock ejabberd, dialback loaded           accepts untrusted (dialback)
#   kh.test   127.0.0.135  ejabberd hardened (STARTTLS required,
#                          no dialback)                              keeps
#   kp.test   127.0.0.136  Prosody, s2s_secure_auth = true           keeps
#   kq.test   127.0.0.137  Prosody, s2s_secure_auth = false          accepts untrusted (dialback)
#   kx.test   127.0.0.138  Prosody (secure_auth true), its own
#                          certificate expired                      own certificate fails
#   ki.test   127.0.0.139  Prosody (secure_auth true), sends its
#                          leaf without the intermediate            own certificate fails
#   kn.test   127.0.0.140  nothing listens                           unreachable
#   kt.test   127.0.0.141  accepts TCP, never answers (listener.py)  unreachable
#   kc.test   127.0.0.142  accepts and closes, counting (listener.py) unreachable
#   svf.test  127.0.0.143  the survey's own dialback listener: the name its
#                          untrusted peers use (in every server's hosts file)
#   kf.test   127.0.0.148  ejabberd + mod_s2s_trust whose survey_cli is
#                          tests/survey/fake_cli.sh: the worker's failure paths
#   m001..m100.test  127.0.0.144  one Prosody hosting 100 domains (the
#                          100-domain run: 8 jobs, a printed deadline budget)
#   nginx     127.0.0.145:8443  POSH documents (tests/posh/weblab.sh): kp.test's
#                          holds its leaf's fingerprint, ke.test's another's
#   nsd       127.0.0.146:5353  DNSSEC (tests/dane/dnslab.sh): kp.test signed with
#                          a TLSA of its leaf, kh.test signed with another's,
#                          ke.test unsigned
#   DNS       127.0.0.147:53  tests/probe/dns.py, SRV only, for one run: kp.test
#                          publishes _xmpps-server (Prosody's direct TLS port
#                          5270) and _xmpp-server, kq.test an _xmpps-server
#                          port where nothing listens
# The survey runs in a mount namespace with the lab's hosts file and a
# resolv.conf whose nameserver answers nothing (127.0.0.1:53), so it finds
# every server the way it would on the Internet, minus SRV: the fallback to
# DOMAIN:5269 (RFC 6120 3.2).
# LAB_DIR defaults to /tmp/s2s-lab-survey.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-survey}"
: "${LAB_DIST_BASE:=27700}"
export LAB_DIR LAB_DIST_BASE
# shellcheck source=../e2e/lab.sh
source "$REPO/tests/e2e/lab.sh"
# shellcheck source=../e2e/testing.sh
source "$REPO/tests/e2e/testing.sh"
# shellcheck source=../posh/weblab.sh
source "$REPO/tests/posh/weblab.sh"
# shellcheck source=../dane/dnslab.sh
source "$REPO/tests/dane/dnslab.sh"

BIN=${S2S_TRUST_BIN:-$REPO/priv/bin/s2s-trust}
E2E_LOGS=(ke kd kh kp kq kx ki)
declare -A IP=([ke]=127.0.0.133 [kd]=127.0.0.134 [kh]=127.0.0.135 [kp]=127.0.0.136 [kq]=127.0.0.137
               [kx]=127.0.0.138 [ki]=127.0.0.139 [kn]=127.0.0.140 [kt]=127.0.0.141 [kc]=127.0.0.142
               [svf]=127.0.0.143 [km]=127.0.0.144 [kf]=127.0.0.148)
HELPER_PIDS=()
SAVE=${S2S_SURVEY_SAVE:-}
WEB=$LAB_DIR/web
DNS=$LAB_DIR/dns
WEB_ADDR=127.0.0.145
WEB_PORT=8443
DNS_ADDR=127.0.0.146
DNS_PORT=5353

cleanup() {
    local p
    weblab_stop "$WEB"
    dnslab_stop "$DNS"
    for p in "${HELPER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${HELPER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    lab_teardown
}

# in_ns CMD...: with the lab's hosts file and a resolv.conf that answers nothing.
# Always called in a subshell ($(...) or ( ) &), which it replaces: a
# background survey's $! is then the survey itself, for the Ctrl-C test.
in_ns() {
    # shellcheck disable=SC2016
    exec unshare --mount --propagation private -- /bin/sh -c '
        mount --bind "$1" /etc/hosts || exit 97
        mount --bind "$2" /etc/resolv.conf || exit 97
        shift 2; exec "$@"' sh "$LAB_DIR/net/hosts" "${RESOLV:-$LAB_DIR/net/resolv.conf}" "$@"
}

OUT=
# survey NAME ARGS...: the survey in the lab's namespace; stdout in $OUT,
# stderr in $ERR, status in $RC, wall time in $WALL_MS.
survey() {
    local name=$1 t0
    shift
    t0=$(_lab_ms)
    OUT=$(in_ns "$BIN" survey --no-dane --no-posh --config "$TRUST/trust.conf" "$@" 2>"$LAB_DIR/err")
    RC=$?
    ERR=$(cat "$LAB_DIR/err")
    WALL_MS=$(($(_lab_ms) - t0))
    if grep -Eq 'Sanitizer|runtime error:' <<<"$ERR"; then e2e_fail "$name: sanitizer report"; fi
    if [ -n "$SAVE" ]; then
        mkdir -p "$SAVE"
        { echo "\$ s2s-trust survey $*"; echo "$OUT"; echo "(exit $RC, ${WALL_MS} ms)"; } >"$SAVE/$name.txt"
    fi
}
say() { printf '%s\n' "$OUT" "$ERR" | sed 's/^/     | /'; }
# json EXPR: a Python expression over the parsed JSON `j` of $OUT, printed.
json() { python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); R={r["domain"]: r for r in j["results"]}; print(eval(sys.argv[1]))' "$1" <<<"$OUT"; }
expect_json() { # NAME WANT_RC PY_CONDITION
    local name=$1 want=$2 cond=$3 got
    got=$(json "$cond" 2>&1)
    if [ "$RC" = "$want" ] && [ "$got" = True ]; then e2e_ok "$name"; else
        e2e_fail "$name (exit $RC, want $want; $cond -> $got)"
        say
    fi
}

# listener MODE NAME: listener.py on NAME's address, port 5269.
listener() {
    rm -f "$LAB_DIR/$2.ready" "$LAB_DIR/$2.log"
    python3 "$HERE/listener.py" "${IP[$2]}" 5269 "$1" "$LAB_DIR/$2.log" "$LAB_DIR/$2.ready" \
        >"$LAB_DIR/$2.out" 2>&1 &
    HELPER_PIDS+=($!)
    _lab_poll 10 0.05 test -s "$LAB_DIR/$2.ready"
}
accepted() { [ -r "$LAB_DIR/$1.log" ] && wc -l <"$LAB_DIR/$1.log" || echo 0; }

# ---- setup ----------------------------------------------------------------------

T0=$(_lab_ms)
if ! lab_init; then echo "FAIL lab_init"; echo "0 passed, 1 failed"; exit 1; fi
trap cleanup EXIT

MDOMS=$(for i in $(seq -w 1 100); do printf 'm%03d.test ' "$((10#$i))"; done)
setup() {
    local n d m_dns='' m_cfg=''
    for n in ke kd kh kp kq; do lab_issue_leaf "$n" "$n.test" || return 1; done
    lab_issue_leaf kx kx.test expired || return 1
    lab_issue_leaf ki ki.test nochain || return 1
    for d in $MDOMS; do m_dns+=${m_dns:+,}$d; done
    lab_issue_leaf km km.test dns="km.test,$m_dns" || return 1
    # The names without a server of the lab's own, and the survey's peers'
    # name (before Prosody starts: it reads the hosts file once).
    for n in kn kt kc svf; do lab_add_host "$n.test" "${IP[$n]}" || return 1; done
    for d in $MDOMS; do
        lab_add_host "$d" "${IP[km]}" || return 1
        m_cfg+="VirtualHost \"$d\""$'\n'"    ssl = { certificate = \"$LAB_DIR/km/cert.pem\"; key = \"$LAB_DIR/km/key.pem\"; cafile = \"$LAB_DIR/km/ca.pem\"; }"$'\n'
    done
    lab_trust_config || return 1
    # ke also surveys its partners itself (ejabberdctl s2s_trust_survey,
    # section (9)): one domain after another, no pause, dialback through
    # the same listener name as the CLI runs (never at the same time).
    lab_ejabberd_start ke ke.test "${IP[ke]}" ke code="$REPO" modules="mod_s2s_trust:
  trust_config: \"$TRUST/trust.conf\"
  mode: enforce
  survey_interval: 0
  survey_timeout: 20000
  survey_from: svf.test
  survey_dialback: \"${IP[svf]}:5269\"" nowait || return 1
    # kf's survey runs a fake CLI (tests/survey/fake_cli.sh), from a
    # directory ejabberd's user may write its pid files into.
    mkdir -p "$LAB_DIR/fake" && chmod 1777 "$LAB_DIR/fake" && cp "$HERE/fake_cli.sh" "$LAB_DIR/fake/cli" &&
        chmod 0755 "$LAB_DIR/fake/cli" || return 1
    lab_issue_leaf kf kf.test || return 1
    lab_ejabberd_start kf kf.test "${IP[kf]}" kf code="$REPO" modules="mod_s2s_trust:
  trust_config: \"$TRUST/trust.conf\"
  survey_interval: 0
  survey_timeout: 5000
  survey_cli: \"$LAB_DIR/fake/cli\"" nowait || return 1
    lab_ejabberd_start kd kd.test "${IP[kd]}" kd nowait || return 1
    lab_ejabberd_start kh kh.test "${IP[kh]}" kh hardened nowait || return 1
    # Prosody's XEP-0368 service takes its certificate from s2s_direct_tls_ssl.
    lab_prosody_start kp kp.test "${IP[kp]}" kp - secure_auth=true "config=s2s_direct_tls_ports = { 5270 }" \
        "config=s2s_direct_tls_ssl = { certificate = \"$LAB_DIR/kp/cert.pem\"; key = \"$LAB_DIR/kp/key.pem\" }" nowait || return 1
    lab_prosody_start kq kq.test "${IP[kq]}" kq - secure_auth=false nowait || return 1
    lab_prosody_start kx kx.test "${IP[kx]}" kx - secure_auth=true nowait || return 1
    lab_prosody_start ki ki.test "${IP[ki]}" ki - secure_auth=true nowait || return 1
    lab_prosody_start km km.test "${IP[km]}" km - secure_auth=true config="$m_cfg" nowait || return 1
    listener hang kt || return 1
    listener close kc || return 1
    published || return 1
    srv_dns || return 1
    lab_wait_ready ke kf kd kh kp kq kx ki km
}

# SRV records for the direct TLS run, served by the probe suite's small DNS
# server; a resolv.conf naming it, for that run only.
srv_dns() {
    printf '%s\n' "_xmpps-server._tcp.kp.test SRV 0 5 5270 kp.test" "_xmpp-server._tcp.kp.test SRV 0 5 5269 kp.test" \
        "_xmpps-server._tcp.kq.test SRV 0 5 5271 kq.test" "_xmpp-server._tcp.kq.test SRV 0 5 5269 kq.test" >"$LAB_DIR/zone"
    rm -f "$LAB_DIR/dns.ready"
    python3 "$REPO/tests/probe/dns.py" 127.0.0.147 "$LAB_DIR/zone" "$LAB_DIR/dns.ready" >"$LAB_DIR/dns.log" 2>&1 &
    HELPER_PIDS+=($!)
    echo "nameserver 127.0.0.147" >"$LAB_DIR/srv-resolv.conf"
    _lab_poll 10 0.05 test -s "$LAB_DIR/dns.ready"
}

# POSH documents and DNSSEC zones for kp.test (both match its leaf), kh.test
# (a TLSA of another certificate; no POSH document) and ke.test (an unsigned
# zone; a POSH document with another certificate's fingerprint).
published() {
    local d fp_kp doc=.well-known/posh/xmpp-server.json
    lab_issue_leaf web kp.test dns=kp.test,kh.test,ke.test >/dev/null || return 1
    mkdir -p "$WEB" "$DNS"
    for d in kp.test kh.test ke.test; do weblab_site "$WEB" "$d" "$(lab_cert web chain)" "$(lab_cert web key)" || return 1; done
    fp_kp=$(openssl x509 -in "$(lab_cert kp cert)" -outform DER | openssl dgst -sha256 -binary | base64 -w0)
    printf '{"fingerprints":[{"sha-256":"%s"}],"expires":3600}\n' "$fp_kp" | weblab_file "$WEB" kp.test "$doc" || return 1
    printf '{"fingerprints":[{"sha-256":"%s"}],"expires":3600}\n' "$fp_kp" | weblab_file "$WEB" ke.test "$doc" || return 1
    weblab_start "$WEB" "$WEB_ADDR" "$WEB_PORT" || return 1
    dnslab_zone "$DNS" kp.test signed && dnslab_zone "$DNS" kh.test signed && dnslab_zone "$DNS" ke.test unsigned || return 1
    dnslab_record "$DNS" kp.test "_5269._tcp 300 IN TLSA $(dnslab_tlsa_rdata 3 1 1 "$(lab_cert kp cert)")" || return 1
    dnslab_record "$DNS" kh.test "_5269._tcp 300 IN TLSA $(dnslab_tlsa_rdata 3 1 1 "$(lab_cert kp cert)")" || return 1
    dnslab_record "$DNS" ke.test "_5269._tcp 300 IN TLSA $(dnslab_tlsa_rdata 3 1 1 "$(lab_cert kp cert)")" || return 1
    dnslab_start "$DNS" "$DNS_ADDR" "$DNS_PORT" || return 1
    UNBOUND_CONF=$(dnslab_unbound_conf "$DNS") || return 1
}
if ! setup; then
    e2e_fail "lab setup"
    e2e_summary
    exit 1
fi
echo "lab ready in $(($(_lab_ms) - T0)) ms"

POSTURE=(ke.test kd.test kh.test kp.test kq.test kx.test ki.test kn.test kt.test)
printf '# domains that claim the pledge\nke.test\nkd.test  # claims it\nkx.test\n' >"$LAB_DIR/pledged.txt"
DB=(--from svf.test --dialback "${IP[svf]}:5269")

# ---- (1) every posture gets exactly its verdict -------------------------------------

survey posture-json "${POSTURE[@]}" "${DB[@]}" --pledged "$LAB_DIR/pledged.txt" --timeout 8000 --json
expect_json "mod_s2s_trust: keeps the pledge, over EXTERNAL and dialback" 1 \
    "R['ke.test']['verdict']=='keeps' and R['ke.test']['accepted']==[] and 'SASL EXTERNAL and dialback' in R['ke.test']['reason']"
expect_json "stock ejabberd: accepts untrusted peers, all four via dialback" 1 \
    "R['kd.test']['verdict']=='accepts_untrusted' and sorted((a['case'],a['via']) for a in R['kd.test']['accepted'])==sorted((c,'dialback') for c in ['self_signed','expired','wrong_name','unknown_ca'])"
expect_json "hardened ejabberd (no dialback): keeps the pledge, STARTTLS required" 1 \
    "R['kh.test']['verdict']=='keeps' and R['kh.test']['checks']['starttls']=='required'"
expect_json "Prosody s2s_secure_auth = true: keeps the pledge" 1 "R['kp.test']['verdict']=='keeps'"
expect_json "Prosody s2s_secure_auth = false: accepts untrusted peers via dialback" 1 \
    "R['kq.test']['verdict']=='accepts_untrusted' and all(a['via']=='dialback' for a in R['kq.test']['accepted']) and len(R['kq.test']['accepted'])==4"
expect_json "expired certificate: own certificate fails (expired)" 1 \
    "R['kx.test']['verdict']=='own_certificate_fails' and R['kx.test']['checks']['certificate']=='expired'"
expect_json "intermediate omitted: own certificate fails (incomplete_chain)" 1 \
    "R['ki.test']['verdict']=='own_certificate_fails' and R['ki.test']['checks']['certificate']=='incomplete_chain'"
expect_json "nothing listening: unreachable (connect_failed)" 1 \
    "R['kn.test']['verdict']=='unreachable' and 'connect_failed' in R['kn.test']['reason']"
expect_json "hangs after the TCP connect: unreachable (timeout), within the domain's deadline" 1 \
    "R['kt.test']['verdict']=='unreachable' and 'timeout' in R['kt.test']['reason'] and R['kt.test']['elapsed_ms'] < 9500"
expect_json "--pledged: the claimants that break it are named, the keeper is not" 1 \
    "j['summary']['violators']==['kd.test','kx.test'] and R['ke.test']['pledged'] and not R['kh.test']['pledged']"
expect_json "every result carries the time it was measured and its evidence" 1 \
    "all(r['measured_at'].endswith('Z') and len(r['evidence'])>0 for r in j['results']) and len(j['results'])==9 and j['survey']['pending']==[]"
expect_json "STARTTLS optional on stock ejabberd, direct TLS not published without SRV" 1 \
    "R['kd.test']['checks']['starttls']=='optional' and all(r['checks']['direct_tls']=='not_published' for r in j['results'])"

# ---- (1b) DANE and POSH: published and matching, or not --------------------------------

PUBLISHED=(--unbound-conf "$UNBOUND_CONF" --trust-anchor "$(dnslab_anchors "$DNS")" --posh-cafile "$LAB_DIR/pki/root.pem"
           --posh-port "$WEB_PORT")
for d in kp.test kh.test ke.test; do PUBLISHED+=(--posh-resolve "$d:$WEB_PORT:$WEB_ADDR"); done
# survey() passes --no-dane --no-posh; this run wants both.
t0=$(_lab_ms)
OUT=$(in_ns "$BIN" survey --config "$TRUST/trust.conf" "${PUBLISHED[@]}" --timeout 15000 --json kp.test kh.test ke.test 2>"$LAB_DIR/err")
RC=$?
ERR=$(cat "$LAB_DIR/err")
[ -n "$SAVE" ] && printf '%s\n' "$OUT" >"$SAVE/published.json"
expect_json "DANE and POSH both published and matching: keeps the pledge" 1 \
    "R['kp.test']['verdict']=='keeps' and R['kp.test']['checks']['dane']=='match' and R['kp.test']['checks']['posh']=='match'"
expect_json "a DNSSEC-signed TLSA of another certificate: own certificate fails (dane_mismatch); no POSH document: none" 1 \
    "R['kh.test']['verdict']=='own_certificate_fails' and R['kh.test']['checks']['certificate']=='dane_mismatch' and R['kh.test']['checks']['posh']=='none'"
expect_json "a POSH document for another certificate: own certificate fails (posh_mismatch); an unsigned zone: no DANE" 1 \
    "R['ke.test']['verdict']=='own_certificate_fails' and R['ke.test']['checks']['certificate']=='posh_mismatch' and R['ke.test']['checks']['dane']=='none'"
echo "DANE and POSH run: $(($(_lab_ms) - t0)) ms"

# ---- (1c) direct TLS (XEP-0368) published by SRV ------------------------------------------

RESOLV=$LAB_DIR/srv-resolv.conf survey srv kp.test kq.test --timeout 8000 --json
expect_json "SRV _xmpps-server to a direct TLS port: direct TLS works; the chain judged is still the STARTTLS one" 0 \
    "R['kp.test']['verdict']=='keeps' and R['kp.test']['checks']['direct_tls']=='works' and R['kp.test']['checks']['starttls']=='required' and 'chain from: 127.0.0.136:5269 (starttls)' in R['kp.test']['evidence'] and any('5270 (direct-tls, srv): ok' in e for e in R['kp.test']['evidence'])"
expect_json "SRV _xmpps-server to a port where nothing listens: direct TLS fails, STARTTLS still measured" 0 \
    "R['kq.test']['checks']['direct_tls']=='fails' and R['kq.test']['checks']['starttls']=='required' and R['kq.test']['verdict']=='keeps' and any('5271 (direct-tls, srv): connect_failed' in e for e in R['kq.test']['evidence'])"

# ---- (2) the Markdown list, byte for byte --------------------------------------------

survey posture-md "${POSTURE[@]}" "${DB[@]}" --pledged "$LAB_DIR/pledged.txt" --timeout 8000 --markdown --timeless
printf '%s\n' "$OUT" >"$LAB_DIR/got.md"
if [ "$RC" = 1 ] && cmp -s "$HERE/expected.md" "$LAB_DIR/got.md"; then
    e2e_ok "--markdown --timeless is byte-identical to tests/survey/expected.md"
else
    e2e_fail "--markdown (exit $RC) differs from tests/survey/expected.md"
    diff -u "$HERE/expected.md" "$LAB_DIR/got.md" | sed 's/^/     /'
fi

# Text: one block per domain in the order asked, the summary line.
survey posture-text kh.test kn.test --timeout 8000
if [ "$RC" = 3 ] && grep -q '^kh.test: keeps the pledge$' <<<"$OUT" && grep -q '^kn.test: unreachable$' <<<"$OUT" &&
    grep -q '^survey: 2 of 2 domains measured: 1 keep the pledge, 0 accept untrusted peers, 0 own certificate fails, 1 unreachable, 0 inconclusive$' <<<"$OUT" &&
    ! grep -q $'\r' <<<"$ERR"; then
    e2e_ok "text: a verdict per domain and the summary; no progress line when stderr is no terminal"
else
    e2e_fail "text output (exit $RC)"
    say
fi

# On a terminal (script(1) gives the survey a pty): the progress line,
# erased before the report. kt.test keeps it running for its 1.5 s deadline.
OUT=$(in_ns script -qec "$BIN survey --no-dane --no-posh --config $TRUST/trust.conf --timeout 1500 kh.test kt.test" /dev/null 2>&1)
if grep -q $'\r\e\[K\[[0-2]/2\] 00:0[0-9] k[ht]\.test' <<<"$OUT" && grep -q '^kt.test: unreachable' <<<"${OUT//$'\r'/}"; then
    e2e_ok "on a terminal: a live progress line ([done/total] elapsed domain), then the report"
else
    e2e_fail "progress line on a terminal"
    printf '%q\n' "$OUT" | head -c 2000
fi

# Domains from standard input and from a file, with comments.
printf '# a list\nkh.test   # hardened\n\nKN.test\n' >"$LAB_DIR/list.txt"
OUT=$(in_ns "$BIN" survey --no-dane --no-posh --config "$TRUST/trust.conf" --json <"$LAB_DIR/list.txt" 2>&1)
RC=$?
expect_json "domains from standard input: comments and blank lines skipped, names normalized" 3 \
    "j['survey']['domains']==['kh.test','kn.test']"
printf 'kh.test\n# fine\nkp.test\0kn.test\n' >"$LAB_DIR/nul-list.txt"
survey file-nul --file "$LAB_DIR/nul-list.txt"
if [ "$RC" = 2 ] && grep -q 'nul-list.txt:3: a NUL byte' <<<"$ERR"; then e2e_ok "--file: a NUL byte is refused, never read as a shorter name"; else e2e_fail "--file NUL (exit $RC)"; say; fi
printf 'kh.test\n# fine\nkn.test kp.test\n' >"$LAB_DIR/bad-list.txt"
survey file-bad --file "$LAB_DIR/bad-list.txt"
if [ "$RC" = 2 ] && grep -q 'bad-list.txt:3: not a domain name: kn.test kp.test' <<<"$ERR"; then e2e_ok "--file: a line that is no domain is refused with file and line"; else e2e_fail "--file bad line (exit $RC)"; say; fi

# ---- (3) Ctrl-C prints what finished; --resume does not measure it again ----------------

# One job, in order: kc.test (closes at once), then kt.test (hangs): once kt's
# listener has a connection, kc.test is finished.
: >"$LAB_DIR/kc.log"
: >"$LAB_DIR/kt.log"
(in_ns "$BIN" survey --no-dane --no-posh --config "$TRUST/trust.conf" --jobs 1 --timeout 20000 --json \
    kc.test kt.test kh.test >"$LAB_DIR/part.json" 2>"$LAB_DIR/part.err") &
SPID=$!
if _lab_poll 20 0.05 test -s "$LAB_DIR/kt.log"; then
    kill -INT "$SPID"
    wait "$SPID"
    RC=$?
else
    kill "$SPID"; wait "$SPID"; RC=x
fi
OUT=$(cat "$LAB_DIR/part.json")
expect_json "Ctrl-C: exit 130, the finished domain printed, the others pending" 130 \
    "[r['domain'] for r in j['results']]==['kc.test'] and j['survey']['pending']==['kt.test','kh.test'] and j['survey']['stopped_by']=='interrupt'"
KC_BEFORE=$(accepted kc)
survey resumed --resume "$LAB_DIR/part.json" --timeout 3000 --json
expect_json "--resume: the pending domains measured, the finished one kept as it was" 3 \
    "[r['domain'] for r in j['results']]==['kc.test','kt.test','kh.test'] and R['kh.test']['verdict']=='keeps' and R['kc.test']==json.loads(open('$LAB_DIR/part.json').read())['results'][0]"
if [ "$KC_BEFORE" = 1 ] && [ "$(accepted kc)" = 1 ]; then
    e2e_ok "--resume: the finished domain's server saw no new connection (1 in all)"
else
    e2e_fail "--resume repeated kc.test (connections: $KC_BEFORE before, $(accepted kc) after)"
fi
printf '%s\n' "$OUT" >"$LAB_DIR/whole.json"
KC_BEFORE=$(accepted kc)
survey resumed-all --resume "$LAB_DIR/whole.json" --json
expect_json "--resume of a finished survey: nothing measured again, the same results" 3 \
    "j['results']==json.loads(open('$LAB_DIR/whole.json').read())['results'] and j['survey']['pending']==[]"
[ "$(accepted kc)" = "$KC_BEFORE" ] || e2e_fail "--resume of a finished survey connected to kc.test again"
printf '{"survey":{"domains":["kh.test"]},"results":[{"domain":"kh.test","verdict":"keeps","reason":"x","measured_at":"2026-01-01T00:00:00Z","elapsed_ms":1,"evidence":[]},{"domain":"KH.test","verdict":"keeps"}]}' >"$LAB_DIR/bad.json"
survey resume-bad --resume "$LAB_DIR/bad.json"
if [ "$RC" = 2 ] && grep -q 'resume' <<<"$ERR"; then e2e_ok "--resume: a file the survey did not write is refused with a reason"; else e2e_fail "--resume of a bad file (exit $RC)"; say; fi

# ---- (4) a total deadline ------------------------------------------------------------

survey deadline kt.test kh.test --jobs 1 --timeout 20000 --deadline 1500 --json
expect_json "--deadline: the survey ends by it; what did not finish is pending" 3 \
    "j['survey']['stopped_by']=='deadline' and j['survey']['pending']==['kh.test'] and R['kt.test']['verdict']=='unreachable'"
if [ "$WALL_MS" -lt 6000 ]; then e2e_ok "--deadline 1500: done in ${WALL_MS} ms (budget 6000)"; else e2e_fail "--deadline took ${WALL_MS} ms"; fi

# ---- (5) 100 domains, 8 jobs -----------------------------------------------------------

BUDGET_MS=${S2S_SURVEY_BUDGET_MS:-60000}
# shellcheck disable=SC2086
survey hundred $MDOMS --jobs 8 --timeout 20000 --json
echo "100 domains, 8 jobs: ${WALL_MS} ms (budget ${BUDGET_MS} ms)"
expect_json "100 domains with 8 jobs: every one measured, every one keeps the pledge" 0 \
    "len(j['results'])==100 and all(r['verdict']=='keeps' for r in j['results'])"
if [ "$WALL_MS" -le "$BUDGET_MS" ]; then e2e_ok "100 domains, 8 jobs, within the budget (${WALL_MS} <= ${BUDGET_MS} ms)"; else
    e2e_fail "100 domains took ${WALL_MS} ms, budget ${BUDGET_MS} ms"
fi

# ---- the peers' name: a random label under --from-zone ----------------------------------

survey zone1 kh.test --from-zone zone.example --json
L1=$(grep -o 's2st-[0-9a-f]\{12\}\.zone\.example' <<<"$OUT" | sort -u)
survey zone2 kh.test --from-zone zone.example --json
L2=$(grep -o 's2st-[0-9a-f]\{12\}\.zone\.example' <<<"$OUT" | sort -u)
if [ "$(wc -l <<<"$L1")" = 1 ] && [ -n "$L1" ] && [ -n "$L2" ] && [ "$L1" != "$L2" ]; then
    e2e_ok "--from-zone: every peer of a run is one random label under the zone ($L1), a new one each run"
else
    e2e_fail "--from-zone labels: '$L1' then '$L2'"
fi

# ---- (9) from ejabberd: ejabberdctl s2s_trust_survey on ke (docs/survey.md) ----------------
# ke runs the same CLI under a port, in its own namespace (the lab's hosts
# file), one domain at a time; results in Mnesia, shown by commands.
sv_rows() { lab_ctl ke s2s_trust_survey_results 2>/dev/null; }
sv_has() { sv_rows | grep -Eq "^${1//./\\.}"$'\t'"$2"$'\t'; }
sv_count() { sv_rows | grep -c .; }
sv_done() { [ "$(sv_count)" -ge "$1" ]; }
QUEUED=$(lab_ctl ke s2s_trust_survey "kd.test, kp.test,kx.test kn.test" 2>&1)
if grep -q '^4 domain(s) queued, 0 already' <<<"$QUEUED"; then e2e_ok "ejabberdctl s2s_trust_survey queues four domains"; else
    e2e_fail "s2s_trust_survey: $QUEUED"
fi
T1=$(_lab_ms)
if _lab_poll 150 0.5 sv_done 4; then e2e_ok "ejabberd's survey: four results within $(($(_lab_ms) - T1)) ms"; else
    e2e_fail "ejabberd's survey: $(sv_count) of 4 results after 150 s"; sv_rows | sed 's/^/     | /'
fi
for want in "kd.test accepts_untrusted" "kp.test keeps" "kx.test own_certificate_fails" "kn.test unreachable"; do
    set -- $want
    if sv_has "$1" "$2"; then e2e_ok "ejabberd's survey: $1 $2"; else e2e_fail "ejabberd's survey: $1 is not $2"; sv_rows | sed 's/^/     | /'; fi
done
SV_MD=$(lab_ctl ke s2s_trust_export survey)
if grep -q '^## Accept untrusted peers$' <<<"$SV_MD" && grep -q '^+ kd\.test — .*dialback.*, measured 20' <<<"$SV_MD" &&
   grep -q '^## Keep the pledge$' <<<"$SV_MD" && grep -q '^+ kp\.test — ' <<<"$SV_MD"; then
    e2e_ok "s2s_trust_export survey: the pledge's lists, kd.test among those accepting untrusted peers"
else
    e2e_fail "s2s_trust_export survey"; sed 's/^/     | /' <<<"$SV_MD"
fi
if lab_ctl ke s2s_trust_export survey_json | python3 -c 'import json,sys; r={x["domain"]: x for x in json.load(sys.stdin)}; sys.exit(0 if r["kd.test"]["verdict"]=="accepts_untrusted" and r["kd.test"]["accepted"] else 1)'; then
    e2e_ok "s2s_trust_export survey_json: kd.test's accepted cases"
else
    e2e_fail "s2s_trust_export survey_json"
fi
BAD=$(lab_ctl ke s2s_trust_survey 'kd.test,--config=/etc/passwd' 2>&1); BAD_RC=$?
if [ "$BAD_RC" != 0 ] && grep -q 'not a domain name' <<<"$BAD" && [ "$(sv_count)" = 4 ]; then
    e2e_ok "s2s_trust_survey refuses a target that is no domain name, queues nothing"
else
    e2e_fail "s2s_trust_survey with a bad target (exit $BAD_RC): $BAD"
fi
# connected: ke federates with kp; kp is then among its partners.
lab_register u@ke.test pw >/dev/null && lab_register u@kp.test pw >/dev/null
lab_send u@ke.test u@kp.test "ke to kp"
lab_wait_delivered u@kp.test "ke to kp" >/dev/null
CONN=$(lab_ctl ke s2s_trust_survey connected 2>&1)
if grep -Eq '^1 domain\(s\) queued' <<<"$CONN"; then e2e_ok "s2s_trust_survey connected queues the partner ke federates with"; else
    e2e_fail "s2s_trust_survey connected: $CONN"
fi
kp_resurveyed() { lab_ctl ke s2s_trust_survey_results | grep -q '^kp\.test' && grep -c 'survey of kp\.test: keeps' "$LAB_DIR/ke/log/ejabberd.log" | grep -qv '^[01]$'; }
if _lab_poll 60 0.5 kp_resurveyed; then e2e_ok "the connected partner surveyed again (kp.test keeps)"; else e2e_fail "kp.test not surveyed again"; fi
lab_ejabberd_restart ke >/dev/null 2>&1
if [ "$(sv_count)" = 4 ] && sv_has kd.test accepts_untrusted; then e2e_ok "the survey's results survive a restart of ejabberd"; else
    e2e_fail "after a restart: $(sv_count) results"; sv_rows | sed 's/^/     | /'
fi

# ---- (10) the survey worker's failure paths (kf: a fake CLI) ---------------------------
# Each is our failure, not the domain's: inconclusive, "not surveyed: ...".
kf_rows() { lab_ctl kf s2s_trust_survey_results 2>/dev/null; }
kf_done() { [ "$(kf_rows | grep -c .)" -ge 4 ]; }
# hang.test holds the worker for survey_timeout + 10 s: meanwhile the
# others wait, and asking again queues nothing twice.
KQ=$(lab_ctl kf s2s_trust_survey hang.test 2>&1)
KQ2=$(lab_ctl kf s2s_trust_survey "exit2.test,garbage.test,big.test,hang.test" 2>&1)
KQ3=$(lab_ctl kf s2s_trust_survey "exit2.test" 2>&1)
if grep -q '^1 domain(s) queued, 0 already' <<<"$KQ" && grep -q '^3 domain(s) queued, 1 already queued or running' <<<"$KQ2" &&
   grep -q '^0 domain(s) queued, 1 already queued or running' <<<"$KQ3"; then
    e2e_ok "a domain already queued or running is not queued twice"
else
    e2e_fail "queueing twice: '$KQ', '$KQ2', '$KQ3'"
fi
T2=$(_lab_ms)
if _lab_poll 60 0.5 kf_done; then e2e_ok "the fake CLI's four domains ended within $(($(_lab_ms) - T2)) ms (one overran: survey_timeout 5 s + 10 s)"; else
    e2e_fail "the fake CLI's domains: $(kf_rows | grep -c .) of 4 after 60 s"; kf_rows | sed 's/^/     | /'
fi
kf_says() { kf_rows | grep -Eq "^${1//./\\.}"$'\t'"inconclusive"$'\t'"not surveyed: $2"; }
for want in "exit2.test|the CLI exited with status 2" "garbage.test|the CLI's answer is not JSON" \
            "big.test|the CLI's answer is over 4 MB" "hang.test|the CLI overran its deadline and was killed"; do
    if kf_says "${want%%|*}" "${want#*|}"; then e2e_ok "${want%%|*}: inconclusive, ${want#*|}"; else
        e2e_fail "${want%%|*}: not '${want#*|}'"; kf_rows | sed 's/^/     | /'
    fi
done
gone() { ! kill -0 "$(cat "$LAB_DIR/fake/$1.pid" 2>/dev/null)" 2>/dev/null; }
if gone hang.test && gone big.test; then e2e_ok "the overrunning and the over-long CLI were killed (no process left)"; else
    e2e_fail "a fake CLI still runs: hang $(cat "$LAB_DIR/fake/hang.test.pid") big $(cat "$LAB_DIR/fake/big.test.pid")"
fi
if ! lab_ctl kf s2s_trust_export survey | grep -q '^## Unreachable'; then
    e2e_ok "our failures are not published as the domains' (no Unreachable section)"
else
    e2e_fail "a failure of ours listed as unreachable"
fi

# ---- usage --------------------------------------------------------------------------

survey usage-db kh.test --dialback "${IP[svf]}:5269"
if [ "$RC" = 2 ] && grep -q 'dialback needs --from' <<<"$ERR"; then e2e_ok "--dialback without --from: usage (exit 2)"; else e2e_fail "--dialback without --from (exit $RC)"; say; fi
survey usage-name 'bad name!'
if [ "$RC" = 2 ] && grep -q 'not a domain name' <<<"$ERR"; then e2e_ok "a domain that is no domain name: usage (exit 2)"; else e2e_fail "bad domain (exit $RC)"; say; fi

echo "survey suite: $(($(_lab_ms) - T0)) ms"
e2e_summary
