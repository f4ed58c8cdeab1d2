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
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
#   LAB_DIR=/tmp/s2s-lab-posh-module LAB_DIST_BASE=27650 flock /tmp/s2s-lab.lock bash tests/posh/test_posh_module.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-posh-module}"
: "${LAB_DIST_BASE:=27650}"
: "${WEB_ADDR:=127.0.0.120}"
: "${WEB_PORT:=8443}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"
# shellcheck source=tests/posh/weblab.sh
source "$HERE/weblab.sh"
E2E_LOGS=(a)

declare -A IP=([a]=127.0.0.126 [h]=127.0.0.127 [m]=127.0.0.128 [n]=127.0.0.129)
declare -A DOM=([a]=a.posh.test [h]=h.posh.test [m]=m.posh.test [n]=n.posh.test)
WEB=$LAB_DIR/web

lab_init || exit 1
trap 'weblab_stop "$WEB"; lab_teardown' EXIT
for k in "${!DOM[@]}"; do lab_add_host "${DOM[$k]}" "${IP[$k]}" || exit 1; done

# ---- certificates ----------------------------------------------------------------
lab_issue_leaf a a.posh.test >/dev/null || exit 1
for k in h m n; do lab_issue_leaf "$k" "${DOM[$k]}" selfsigned >/dev/null || exit 1; done
lab_issue_leaf web h.posh.test dns=h.posh.test,m.posh.test,n.posh.test >/dev/null || exit 1
fp() { openssl x509 -in "$(lab_cert "$1" cert)" -outform DER | openssl dgst -sha256 -binary | base64 -w0; }

# ---- the documents -----------------------------------------------------------------
mkdir -p "$WEB"
for k in h m n; do weblab_site "$WEB" "${DOM[$k]}" "$(lab_cert web chain)" "$(lab_cert web key)" || exit 1; done
DOC=.well-known/posh/xmpp-server.json
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":3600}\n' "$(fp h)" | weblab_file "$WEB" h.posh.test $DOC || exit 1
printf '{"fingerprints":[{"sha-256":"%s"}],"expires":3600}\n' "$(fp n)" | weblab_file "$WEB" m.posh.test $DOC || exit 1
weblab_start "$WEB" "$WEB_ADDR" "$WEB_PORT" || exit 1

# ---- servers ---------------------------------------------------------------------
lab_trust_config || exit 1
module() {
    printf 'mod_s2s_trust:\n  trust_config: "%s"\n  posh: on\n  posh_cafile: "%s"\n  posh_port: %s\n  posh_resolve:\n' \
        "$TRUST/trust.conf" "$TRUST/root.pem" "$WEB_PORT"
    for k in h m n; do printf '    - "%s:%s:%s"\n' "${DOM[$k]}" "$WEB_PORT" "$WEB_ADDR"; done
}
lab_ejabberd_start a a.posh.test "${IP[a]}" a starttls=required dialback=yes code="$LAB_REPO" \
    modules="$(module)" nowait || exit 1
for k in h m n; do
    lab_prosody_start "$k" "${DOM[$k]}" "${IP[$k]}" "$k" - secure_auth=false nowait || exit 1
done
lab_wait_ready a h m n || exit 1
for k in a h m n; do lab_register "u@${DOM[$k]}" pw >/dev/null || exit 1; done

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

# ---- metrics --------------------------------------------------------------------------
fetches() { lab_ctl a s2s_trust_metrics | awk -v r="$1" '$1 == "ejabberd_s2s_trust_posh_fetches_total{result=\"" r "\"}" { print $2 }'; }
check "metrics count ok and http_status fetches" \
    eval '[ "$(fetches ok)" -ge 2 ] && [ "$(fetches http_status)" -ge 1 ]'
check "posh_mismatch is a counted reason, not other" \
    eval 'lab_ctl a s2s_trust_metrics | grep -q "reason=\"posh_mismatch\"}"'

check "every lab socket is on loopback" lab_assert_loopback_only
e2e_summary
