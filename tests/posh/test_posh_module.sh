#!/usr/bin/env bash
# tests/posh/test_posh_module.sh - POSH (RFC 7711, docs/dane.md) inside
# Debian's real ejabberd: peers whose POSH documents, served by nginx on
# loopback (tests/posh/weblab.sh, 127.0.0.120:8443, a certificate from the
# lab's test CA), accept or refuse them.
#
#   a.posh.test  ejabberd + mod_s2s_trust, posh: on, posh_cafile the lab's
#                root, posh_resolve mapping every peer's name to nginx
#   h.posh.test  Prosody, self-signed; its document holds its fingerprint
#   m.posh.test  Prosody, self-signed; its document holds n's fingerprint
#   n.posh.test  Prosody, self-signed; no document (nginx answers 404)
#   j.posh.test  Prosody, self-signed; its document delegates (`url`) to
#                hosting.posh.test's, which holds j's fingerprint
#   k.posh.test  Prosody, self-signed; nginx answers 301 to h's document
#                (never followed: RFC 7711 allows the url hop only)
#   l.posh.test  Prosody, self-signed; its document holds its fingerprint
#                but is 70000 bytes, over the 64 KiB bound
#   s.posh.test  Prosody, self-signed; its POSH host is a silent server
#                (SLOW_ADDR) that accepts and never answers: the fetch
#                ends at posh_timeout (2 s here)
#   b.posh.test  ejabberd + mod_s2s_trust, posh: on, posh_timeout 4 s, the
#                POSH hosts of b1..b8.posh.test all the silent server: eight
#                `s2s-trust selftest --from bN` run at once make eight
#                fetches, of which at most 4 run (mod_s2s_trust_slots) and
#                the others are `busy` at once
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
#   LAB_DIR=/tmp/s2s-lab-posh-module LAB_DIST_BASE=27650 flock /tmp/s2s-lab.lock bash tests/posh/test_posh_module.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-posh-module}"
: "${LAB_DIST_BASE:=27650}"
: "${WEB_ADDR:=127.0.0.120}"
: "${WEB_PORT:=8443}"
: "${SLOW_ADDR:=127.0.0.121}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
# shellcheck source=tests/posh/weblab.sh
source "$HERE/weblab.sh"
E2E_LOGS=(a)

declare -A IP=([a]=127.0.0.126 [h]=127.0.0.127 [m]=127.0.0.128 [n]=127.0.0.129
    [j]=127.0.0.123 [k]=127.0.0.124 [l]=127.0.0.125 [s]=127.0.0.150 [b]=127.0.0.152)
declare -A DOM=([a]=a.posh.test [h]=h.posh.test [m]=m.posh.test [n]=n.posh.test
    [j]=j.posh.test [k]=k.posh.test [l]=l.posh.test [s]=s.posh.test [b]=b.posh.test)
PEERS=(h m n j k l s)
WEB=$LAB_DIR/web

lab_init || exit 1
trap 'weblab_silent_stop "$WEB"; weblab_stop "$WEB"; lab_teardown' EXIT
for k in "${!DOM[@]}"; do lab_add_host "${DOM[$k]}" "${IP[$k]}" || exit 1; done

# ---- certificates ----------------------------------------------------------------
lab_issue_leaf a a.posh.test >/dev/null || exit 1
lab_issue_leaf b b.posh.test >/dev/null || exit 1
for k in "${PEERS[@]}"; do lab_issue_leaf "$k" "${DOM[$k]}" selfsigned >/dev/null || exit 1; done
WEB_NAMES=hosting.posh.test
for k in "${PEERS[@]}"; do WEB_NAMES+=,${DOM[$k]}; done
lab_issue_leaf web h.posh.test "dns=$WEB_NAMES" >/dev/null || exit 1
fp() { openssl x509 -in "$(lab_cert "$1" cert)" -outform DER | openssl dgst -sha256 -binary | base64 -w0; }

# ---- the documents -----------------------------------------------------------------
mkdir -p "$WEB"
DOC=.well-known/posh/xmpp-server.json
site() { weblab_site "$WEB" "$1" "$(lab_cert web chain)" "$(lab_cert web key)" "${@:2}"; }
for k in h m n j l s; do site "${DOM[$k]}" || exit 1; done
site hosting.posh.test || exit 1
site k.posh.test "return 301 https://h.posh.test:$WEB_PORT/$DOC;" || exit 1
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":3600}\n' "$(fp h)" | weblab_file "$WEB" h.posh.test $DOC || exit 1
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":3600}\n' "$(fp n)" | weblab_file "$WEB" m.posh.test $DOC || exit 1
HOSTING_URL=https://hosting.posh.test:$WEB_PORT/posh/j.json
printf '{"url":"%s","expires":3600}\n' "$HOSTING_URL" | weblab_file "$WEB" j.posh.test $DOC || exit 1
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":600}\n' "$(fp j)" | weblab_file "$WEB" hosting.posh.test posh/j.json || exit 1
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":3600,"pad":"%s"}\n' "$(fp l)" "$(head -c 70000 /dev/zero | tr '\0' x)" |
    weblab_file "$WEB" l.posh.test $DOC || exit 1
weblab_start "$WEB" "$WEB_ADDR" "$WEB_PORT" || exit 1

# The silent POSH host of s.posh.test: accepts, reads nothing, answers
# nothing (a web server gone dark). Loopback only, stopped by its pid.
weblab_silent_start "$WEB" "$SLOW_ADDR" "$WEB_PORT" || exit 1

# ---- servers ---------------------------------------------------------------------
lab_trust_config || exit 1
module() {
    printf 'mod_s2s_trust:\n  trust_config: "%s"\n  posh: on\n  posh_cafile: "%s"\n  posh_port: %s\n  posh_timeout: 2000\n  posh_resolve:\n' \
        "$TRUST/trust.conf" "$TRUST/root.pem" "$WEB_PORT"
    for k in h m n j k l; do printf '    - "%s:%s:%s"\n' "${DOM[$k]}" "$WEB_PORT" "$WEB_ADDR"; done
    printf '    - "hosting.posh.test:%s:%s"\n' "$WEB_PORT" "$WEB_ADDR"
    printf '    - "s.posh.test:%s:%s"\n' "$WEB_PORT" "$SLOW_ADDR"
}
lab_ejabberd_start a a.posh.test "${IP[a]}" a starttls=required dialback=yes code="$LAB_REPO" \
    modules="$(module)" nowait || exit 1
module_b() {
    printf 'mod_s2s_trust:\n  trust_config: "%s"\n  posh: on\n  posh_cafile: "%s"\n  posh_port: %s\n  posh_timeout: 4000\n  posh_resolve:\n' \
        "$TRUST/trust.conf" "$TRUST/root.pem" "$WEB_PORT"
    for i in 1 2 3 4 5 6 7 8; do printf '    - "b%s.posh.test:%s:%s"\n' "$i" "$WEB_PORT" "$SLOW_ADDR"; done
}
lab_ejabberd_start b b.posh.test "${IP[b]}" b starttls=required dialback=no code="$LAB_REPO" \
    modules="$(module_b)" nowait || exit 1
for k in "${PEERS[@]}"; do
    lab_prosody_start "$k" "${DOM[$k]}" "${IP[$k]}" "$k" - secure_auth=false nowait || exit 1
done
lab_wait_ready a b "${PEERS[@]}" || exit 1
for k in a "${PEERS[@]}"; do lab_register "u@${DOM[$k]}" pw >/dev/null || exit 1; done

REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of'
listed() { lab_ctl "$1" s2s_trust_violators | grep -Eq "^${2//./\\.}[[:space:]]+$3"; }
explains() { lab_ctl "$1" s2s_trust_check "$2" | grep -q -- "$3"; }

# ---- the cases ---------------------------------------------------------------------
lab_send u@h.posh.test u@a.posh.test "h to a"
check "POSH match, self-signed: h -> a delivered" a h -- lab_wait_delivered u@a.posh.test "h to a"
lab_send u@a.posh.test u@h.posh.test "a to h"
check "POSH match, self-signed: a -> h delivered" a h -- lab_wait_delivered u@h.posh.test "a to h"
check "s2s_trust_check names the POSH document" -- \
    explains a h.posh.test 'accepted by the POSH document of h\.posh\.test'
check "s2s_trust_check says authority posh" -- explains a h.posh.test 'authority: *posh'
check "the log names the authority: accepted h.posh.test by posh" -- \
    lab_wait_logged a 'mod_s2s_trust: accepted (in|out)bound s2s stream of h\.posh\.test by posh'
check "nothing recorded for h.posh.test" eval '! lab_ctl a s2s_trust_violators | grep -q "^h\.posh\.test"'

lab_send u@m.posh.test u@a.posh.test "m to a"
check "POSH document of another key: m -> a refused posh_mismatch" a m -- \
    lab_assert_not_delivered u@a.posh.test "m to a" a "$REFUSED_IN m\.posh\.test: posh_mismatch"
check "m.posh.test listed as posh_mismatch" -- listed a m.posh.test posh_mismatch

lab_send u@n.posh.test u@a.posh.test "n to a"
check "no POSH document: n -> a refused self_signed" a n -- \
    lab_assert_not_delivered u@a.posh.test "n to a" a "$REFUSED_IN n\.posh\.test: self_signed"
check "n.posh.test's detail says POSH was tried (http_status)" -- \
    explains a n.posh.test 'POSH tried, no usable document: http_status'

lab_send u@j.posh.test u@a.posh.test "j to a"
check "POSH url hop followed once: j -> a delivered" a j -- lab_wait_delivered u@a.posh.test "j to a"
check "s2s_trust_check names the delegated document" -- \
    explains a j.posh.test "delegated to ${HOSTING_URL//./\\.}"

lab_send u@k.posh.test u@a.posh.test "k to a"
check "POSH behind an HTTP redirect: k -> a refused self_signed" a k -- \
    lab_assert_not_delivered u@a.posh.test "k to a" a "$REFUSED_IN k\.posh\.test: self_signed"
check "k.posh.test's detail says the redirect was not followed" -- \
    explains a k.posh.test 'POSH tried, no usable document: redirect'

lab_send u@l.posh.test u@a.posh.test "l to a"
check "oversized POSH document: l -> a refused self_signed" a l -- \
    lab_assert_not_delivered u@a.posh.test "l to a" a "$REFUSED_IN l\.posh\.test: self_signed"
check "l.posh.test's detail says too_large" -- explains a l.posh.test 'POSH tried, no usable document: too_large'

T0=$(_weblab_ms)
lab_send u@s.posh.test u@a.posh.test "s to a"
check "silent POSH host: s -> a refused self_signed" a s -- \
    lab_assert_not_delivered u@a.posh.test "s to a" a "$REFUSED_IN s\.posh\.test: self_signed"
echo "   (silent POSH host: refused $(($(_weblab_ms) - T0)) ms after the message was sent; posh_timeout 2000)"
check "s.posh.test's detail says timeout" -- explains a s.posh.test 'POSH tried, no usable document: timeout'

# ---- the bound on POSH fetches running at once --------------------------------------
# Eight untrusted peers at once, each from its own domain whose POSH host
# never answers: the fetches that find the 4 slots taken do not wait.
BIN=$LAB_REPO/priv/bin/s2s-trust
pids=()
for i in 1 2 3 4 5 6 7 8; do
    "$BIN" selftest b.posh.test --connect "${IP[b]}:5269" --from "b$i.posh.test" --timeout 15000 \
        >"$LAB_DIR/selftest-b$i.out" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
fetches_b() { lab_ctl b s2s_trust_metrics | awk -v r="$1" '$1 == "ejabberd_s2s_trust_posh_fetches_total{result=\"" r "\"}" { print $2 }'; }
MOST=$(weblab_silent_most "$WEB")
echo "   (eight peers at once: $(fetches_b timeout) fetch(es) timed out, $(fetches_b busy) busy; the silent host held $MOST connection(s) at once)"
check "POSH fetches at once are bounded: the silent host never held more than 4, those past 4 were busy" \
    eval '[ "$MOST" -ge 2 ] && [ "$MOST" -le 4 ] && [ "$(fetches_b busy)" -ge 1 ] && [ "$(fetches_b timeout)" -ge 1 ]'
check "a busy POSH fetch is said in the verdict's detail" -- \
    lab_wait_logged b 'POSH tried, no usable document: busy \(not fetched: 4 POSH fetches already running\)'
all_refused() {
    local i
    for i in 1 2 3 4 5 6 7 8; do
        grep -q '^result: every untrusted peer was refused' "$LAB_DIR/selftest-b$i.out" || return 1
    done
}
check "every selftest peer was refused" all_refused

# ---- posture audit -------------------------------------------------------------------
audit() { lab_ctl a s2s_trust_audit text; }
check "posture audit: posh on, posh_resolve is a warning outside tests" \
    eval 'audit | grep -Eq "^  \[warn\] posh +posh on, with posh_resolve set \(8 fixed address"'
check "posture audit: peers last accepted, POSH among them" \
    eval 'audit | grep -Eq "^  \[pass\] accepted_by +peers last accepted: .*[0-9]+ by posh"'

# ---- metrics --------------------------------------------------------------------------
fetches() { lab_ctl a s2s_trust_metrics | awk -v r="$1" '$1 == "ejabberd_s2s_trust_posh_fetches_total{result=\"" r "\"}" { print $2 }'; }
check "metrics count ok, http_status, redirect, too_large and timeout fetches" \
    eval '[ "$(fetches ok)" -ge 3 ] && [ "$(fetches http_status)" -ge 1 ] && [ "$(fetches redirect)" -ge 1 ] &&
          [ "$(fetches too_large)" -ge 1 ] && [ "$(fetches timeout)" -ge 1 ]'
check "posh_mismatch is a counted reason, not other" \
    eval 'lab_ctl a s2s_trust_metrics | grep -q "reason=\"posh_mismatch\"}"'

check "every lab socket is on loopback" lab_assert_loopback_only
e2e_summary
