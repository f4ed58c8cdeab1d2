#!/usr/bin/env bash
# tests/selftest/test_selftest.sh - `s2s-trust selftest` against real servers
# on loopback. Run as root (the lab needs it):
#
#   flock /tmp/s2s-lab.lock bash tests/selftest/test_selftest.sh   (make test-selftest)
#
# Own addresses and ports, so it cannot collide with the other lab suites:
#   se.test  127.0.0.70  ejabberd 23.01 + mod_s2s_trust (enforce), dialback loaded
#   sd.test  127.0.0.71  stock ejabberd 23.01 (lab default: starttls optional,
#                        mod_s2s_dialback)
#   sp.test  127.0.0.72  Prosody 0.12, s2s_secure_auth = true
#   sq.test  127.0.0.73  Prosody 0.12, s2s_secure_auth = false
#   fake     127.0.0.76-78  tests/selftest/fake_target.py: a target answering
#                        <success/> to EXTERNAL, one flooding, one stalling after TLS
#   sf.test  127.0.0.75  the untrusted peers' domain for --dialback: the
#                        selftest itself listens on 127.0.0.75:5269 as its
#                        authoritative server (in every server's hosts file)
# LAB_DIR defaults to /tmp/s2s-lab-selftest and LAB_DIST_BASE to 27500.
# S2S_SELFTEST_SAVE=DIR saves every report (text and JSON) there, for docs.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-selftest}"
: "${LAB_DIST_BASE:=27500}"
export LAB_DIR LAB_DIST_BASE
# shellcheck source=../e2e/lab.sh
source "$REPO/tests/e2e/lab.sh"
# shellcheck source=../e2e/testing.sh
source "$REPO/tests/e2e/testing.sh"

BIN=${S2S_TRUST_BIN:-$REPO/priv/bin/s2s-trust}
E2E_LOGS=(se sd sp sq)
declare -A IP=([se]=127.0.0.70 [sd]=127.0.0.71 [sp]=127.0.0.72 [sq]=127.0.0.73 [sf]=127.0.0.75)
SAVE=${S2S_SELFTEST_SAVE:-}

OUT=
# selftest NAME TARGET ARGS...: runs the CLI, output in $OUT, status in $RC.
selftest() {
    local name=$1 t0
    shift
    t0=$(_lab_ms)
    OUT=$("$BIN" selftest "$@" 2>&1)
    RC=$?
    WALL_MS=$(($(_lab_ms) - t0))
    # S2S_TRUST_BIN may be a sanitizer build: its reports fail the run.
    if grep -Eq 'Sanitizer|runtime error:' <<<"$OUT"; then
        e2e_fail "$name: sanitizer report"
        say
    fi
    if [ -n "$SAVE" ]; then
        mkdir -p "$SAVE"
        { echo "\$ s2s-trust selftest $*"; echo "$OUT"; echo "(exit $RC, ${WALL_MS} ms)"; } >"$SAVE/$name.txt"
    fi
}

json() { python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$OUT"; }
say() { printf '%s\n' "$OUT" | sed 's/^/     | /'; }

# expect NAME WANT_RC REGEX...: exit status and every REGEX in the output.
expect() {
    local name=$1 want=$2 re
    shift 2
    if [ "$RC" != "$want" ]; then
        e2e_fail "$name (exit $RC, want $want)"
        say
        return
    fi
    for re; do
        if ! grep -Eq -- "$re" <<<"$OUT"; then
            e2e_fail "$name (want /$re/)"
            say
            return
        fi
    done
    e2e_ok "$name"
}

expect_json() { # NAME WANT_RC PY_CONDITION
    local name=$1 want=$2 cond=$3 got
    got=$(json "$cond" 2>&1)
    if [ "$RC" = "$want" ] && [ "$got" = True ]; then
        e2e_ok "$name"
    else
        e2e_fail "$name (exit $RC, want $want; $cond -> $got)"
        say
    fi
}

# ---- setup ----------------------------------------------------------------------

T0=$(_lab_ms)
if ! lab_init; then echo "FAIL lab_init"; echo "0 passed, 1 failed"; exit 1; fi
trap lab_teardown EXIT

setup() {
    local n
    for n in se sd sp sq; do lab_issue_leaf "$n" "$n.test" || return 1; done
    lab_issue_leaf ft fake.test || return 1
    # Every server must find sf.test at the selftest's dialback listener;
    # Prosody reads the hosts file when it starts.
    lab_add_host sf.test "${IP[sf]}" || return 1
    TRUST=$LAB_DIR/trust
    mkdir -p "$TRUST"
    cp "$LAB_DIR/pki/root.pem" "$TRUST/"
    printf 'ca_file = "root.pem";\n' >"$TRUST/trust.conf"
    chmod -R a+rX "$TRUST"
    lab_ejabberd_start se se.test "${IP[se]}" se code="$REPO" modules="mod_s2s_trust:
  trust_config: \"$TRUST/trust.conf\"
  mode: enforce" nowait || return 1
    lab_ejabberd_start sd sd.test "${IP[sd]}" sd nowait || return 1
    lab_prosody_start sp sp.test "${IP[sp]}" sp - secure_auth=true nowait || return 1
    lab_prosody_start sq sq.test "${IP[sq]}" sq - secure_auth=false nowait || return 1
    lab_wait_ready se sd sp sq
}
if ! setup; then
    e2e_fail "lab setup"
    e2e_summary
    exit 1
fi
echo "lab ready in $(($(_lab_ms) - T0)) ms"

CASES='self_signed|expired|wrong_name|unknown_ca'
UNTESTED='dialback not tested: it needs a domain whose s2s server you control'

# ---- (1) ejabberd with mod_s2s_trust: every case refused ----------------------------

selftest se-text se.test --connect "${IP[se]}:5269" --timeout 10000
expect "mod_s2s_trust: every case refused (exit 0)" 0 \
    'result: every untrusted peer was refused' "$UNTESTED"
expect "mod_s2s_trust: no case accepted or inconclusive" 0 '^    outcome:  refused$'
if grep -Eq 'outcome:  (ACCEPTED|inconclusive)' <<<"$OUT"; then e2e_fail "mod_s2s_trust: a case not refused"; say; fi
selftest se-json se.test --connect "${IP[se]}:5269" --timeout 10000 --json
expect_json "mod_s2s_trust: --json, four cases refused" 0 \
    "j['verdict']=='refused' and [c['outcome'] for c in j['cases']]==['refused']*4 and j['dialback']['tested']==False and 'dialback not tested' in j['dialback']['note']"
selftest se-dialback se.test --connect "${IP[se]}:5269" --from sf.test --dialback "${IP[sf]}:5269" --timeout 10000
expect "mod_s2s_trust: refused via dialback too: 'valid', then the stream closed (exit 0)" 0 \
    'result: every untrusted peer was refused \(SASL EXTERNAL and dialback\)' \
    'dialback: refused \(dialback_revoked\).*policy-violation: Certificate refused \(mod_s2s_trust\)'

# ---- (2) stock ejabberd with mod_s2s_dialback ---------------------------------------

selftest sd-text sd.test --connect "${IP[sd]}:5269" --timeout 10000
expect "stock ejabberd: EXTERNAL refused for every bad certificate, dialback not tested" 0 \
    'EXTERNAL: refused \(sasl_failure\)' "$UNTESTED"
selftest sd-dialback sd.test --connect "${IP[sd]}:5269" --from sf.test --dialback "${IP[sf]}:5269" --timeout 10000
expect "stock ejabberd: ACCEPTED via dialback (exit 1)" 1 \
    "dialback: ACCEPTED via dialback \\(dialback_valid\\): .*then a stanza from the peer \\(iq type='result'" \
    'result: the pledge is BROKEN: 4 of 4'
selftest sd-dialback-json sd.test --connect "${IP[sd]}:5269" --from sf.test --dialback "${IP[sf]}:5269" --timeout 10000 --json
expect_json "stock ejabberd: --json, EXTERNAL refused and dialback accepted, back-connection seen" 1 \
    "j['verdict']=='accepted' and all(c['external']['how']!='sasl_success' and c['dialback']['outcome']=='accepted' and c['dialback']['verify_seen'] for c in j['cases'])"

# ---- (3) Prosody, s2s_secure_auth = true ---------------------------------------------

selftest sp-text sp.test --connect "${IP[sp]}:5269" --timeout 10000
expect "prosody secure_auth=true: every case refused (exit 0)" 0 'result: every untrusted peer was refused' \
    'EXTERNAL: refused \(stream_error\): after TLS, before its stream features: stream error not-authorized'
selftest sp-dialback sp.test --connect "${IP[sp]}:5269" --from sf.test --dialback "${IP[sf]}:5269" --timeout 10000
expect "prosody secure_auth=true: refused via dialback too (exit 0)" 0 \
    'result: every untrusted peer was refused \(SASL EXTERNAL and dialback\)'

# ---- (4) Prosody, s2s_secure_auth = false --------------------------------------------

selftest sq-text sq.test --connect "${IP[sq]}:5269" --timeout 10000
expect "prosody secure_auth=false: EXTERNAL refused, dialback not tested (exit 0)" 0 \
    'result: every untrusted peer was refused' "$UNTESTED"
selftest sq-dialback sq.test --connect "${IP[sq]}:5269" --from sf.test --dialback "${IP[sf]}:5269" --timeout 10000
expect "prosody secure_auth=false: ACCEPTED via dialback (exit 1)" 1 \
    "dialback: ACCEPTED via dialback \\(dialback_valid\\): .*then a stanza from the peer \\(iq type='result'" \
    'result: the pledge is BROKEN: 4 of 4'

# ---- --issuer: expired and wrong_name signed by a CA the targets trust ------------------
# Only the date or the name is then wrong: the refusal must say so.

ISSUER=(--issuer "$LAB_DIR/pki/inter.pem" --issuer-key "$LAB_DIR/pki/ca/inter/key.pem")
selftest sd-issuer sd.test --connect "${IP[sd]}:5269" --timeout 10000 "${ISSUER[@]}"
expect "stock ejabberd, --issuer: EXTERNAL refused for the date and the name" 0 \
    'signed by the --issuer CA' 'sasl_failure\): SASL EXTERNAL <failure/>: not-authorized: certificate has expired'
selftest sd-issuer-json sd.test --connect "${IP[sd]}:5269" --timeout 10000 --json "${ISSUER[@]}"
expect_json "stock ejabberd, --issuer, --json: expired says expired, wrong_name says the name" 0 \
    "j['cases'][1]['certificate']['issuer']=='given' and 'expired' in j['cases'][1]['external']['sasl_text'] and 'mismatch' in j['cases'][2]['external']['sasl_text'].lower()"
selftest se-issuer se.test --connect "${IP[se]}:5269" --timeout 10000 "${ISSUER[@]}"
expect "mod_s2s_trust, --issuer: every case refused" 0 'result: every untrusted peer was refused'
selftest sp-issuer sp.test --connect "${IP[sp]}:5269" --timeout 10000 "${ISSUER[@]}"
expect "prosody secure_auth=true, --issuer: every case refused" 0 'result: every untrusted peer was refused'
selftest dialback-usage sd.test --connect "${IP[sd]}:5269" --dialback "${IP[sf]}:5269"
expect "--dialback without --from: usage (exit 2)" 2 '--dialback needs --from'
selftest issuer-usage sd.test --connect "${IP[sd]}:5269" --issuer "$LAB_DIR/pki/inter.pem"
expect "--issuer without --issuer-key: usage (exit 2)" 2 'go together'

# ---- hostile or absent targets never hang -------------------------------------------

selftest nobody nobody.test --connect 127.0.0.79:5269 --timeout 2000
expect "nobody listening: inconclusive (exit 3)" 3 'connect_failed' 'result: inconclusive: 4 of 4'
python3 - 127.0.0.79 5269 >/dev/null 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8); s.settimeout(20)
end = time.time() + 20
conns = []
while time.time() < end:
    try:
        c, _ = s.accept(); conns.append(c)   # accept and never answer
    except socket.timeout:
        break
PY
STALL_PID=$!
_lab_poll 5 0.05 _lab_listening 127.0.0.79 5269
selftest stall stall.test --connect 127.0.0.79:5269 --timeout 1000
if [ "$RC" = 3 ] && [ "$WALL_MS" -lt 8000 ] && grep -q 'timeout' <<<"$OUT"; then
    e2e_ok "a target that never answers: inconclusive within the deadline (${WALL_MS} ms)"
else
    e2e_fail "stalling target (exit $RC, ${WALL_MS} ms)"
    say
fi
kill "$STALL_PID" 2>/dev/null
wait "$STALL_PID" 2>/dev/null

# ---- fake targets: the paths no real server in the lab takes -------------------------

FAKE_PIDS=()
fake() { # MODE IP
    rm -f "$LAB_DIR/fake-$1.ready"
    python3 "$HERE/fake_target.py" "$2" 5269 "$(lab_cert ft chain)" "$(lab_cert ft key)" "$1" \
        "$LAB_DIR/fake-$1.ready" >"$LAB_DIR/fake-$1.log" 2>&1 &
    FAKE_PIDS+=($!)
    _lab_poll 10 0.05 test -s "$LAB_DIR/fake-$1.ready"
}
fake success 127.0.0.76 && fake flood 127.0.0.77 && fake stall 127.0.0.78
selftest fake-success fake.test --connect 127.0.0.76:5269 --timeout 5000
expect "a target answering <success/> to EXTERNAL: ACCEPTED (exit 1)" 1 \
    'EXTERNAL: ACCEPTED \(sasl_success\): the target answered <success/> to SASL EXTERNAL' \
    'result: the pledge is BROKEN: 4 of 4'
selftest fake-flood fake.test --connect 127.0.0.77:5269 --timeout 5000
# One endless <stream:features>: the reader's bound on one element ends it.
expect "a target flooding after TLS: inconclusive, bounded (exit 3)" 3 \
    'inconclusive \(protocol\).*an element \(or the wait for one\) longer than 65536 bytes'
selftest fake-stall fake.test --connect 127.0.0.78:5269 --timeout 1000
if [ "$RC" = 3 ] && [ "$WALL_MS" -lt 8000 ] && grep -q 'inconclusive (timeout)' <<<"$OUT"; then
    e2e_ok "a target stalling after TLS: inconclusive within the deadline (${WALL_MS} ms)"
else
    e2e_fail "target stalling after TLS (exit $RC, ${WALL_MS} ms)"
    say
fi
for p in "${FAKE_PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${FAKE_PIDS[@]}"; do wait "$p" 2>/dev/null; done

selftest usage
expect "no TARGET: usage (exit 2)" 2 'selftest needs exactly one TARGET'
selftest usage2 'bad name!' --connect 127.0.0.79:1
expect "TARGET not a domain: usage (exit 2)" 2 'A-label'

echo "selftest suite: $(($(_lab_ms) - T0)) ms"
e2e_summary
