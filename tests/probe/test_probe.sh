#!/usr/bin/env bash
# tests/probe/test_probe.sh - `s2s-trust probe` against real servers and
# hostile listeners, all on loopback. Run as root (the lab needs it):
#
#   flock /tmp/s2s-lab.lock bash tests/probe/test_probe.sh     (make test-probe)
#
# Own addresses and ports, so it cannot collide with the other lab suites
# (a..h.test = 127.0.0.2..9, distribution ports 27101...):
#   pe.test   127.0.0.60  ejabberd 23.01, full chain; STARTTLS 5269, direct TLS 5270
#   pl.test   127.0.0.62  ejabberd 23.01, leaf only (nochain)
#   pp.test   127.0.0.61  Prosody 0.12.3, full chain; STARTTLS 5269, direct TLS 5270
#   hostile   127.0.0.50  tests/probe/hostile.py, one port per misbehaviour
#   DNS       127.0.0.53  tests/probe/dns.py (SRV records), only for the
#             resolver cases, which run in a private mount namespace whose
#             /etc/resolv.conf and /etc/hosts are this run's
# LAB_DIR defaults to /tmp/s2s-trust-probe-lab and LAB_DIST_BASE to 27300.
# S2S_PROBE_CAPTURE=DIR also saves the servers' raw pre-TLS bytes there.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
: "${LAB_DIR:=/tmp/s2s-trust-probe-lab}"
: "${LAB_DIST_BASE:=27300}"
export LAB_DIR LAB_DIST_BASE
# shellcheck source=../e2e/lab.sh
source "$REPO/tests/e2e/lab.sh"
# shellcheck source=../e2e/testing.sh
source "$REPO/tests/e2e/testing.sh"

BIN=${S2S_TRUST_BIN:-$REPO/priv/bin/s2s-trust}
HOSTILE_IP=127.0.0.50
DNS_IP=127.0.0.53
HELPER_PIDS=()
E2E_LOGS=(pe pl pp)

cleanup() {
    local p
    for p in "${HELPER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${HELPER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    lab_teardown
}

# Waits for a file a helper writes once it listens (never a bare sleep).
wait_file() { _lab_poll "${2:-10}" 0.05 test -s "$1"; }

OUT=
# probe ARGS...: runs the CLI, output in $OUT, status in $RC, wall time in $WALL_MS.
probe() {
    local t0
    t0=$(_lab_ms)
    OUT=$("$BIN" probe "$@" 2>&1)
    RC=$?
    WALL_MS=$(($(_lab_ms) - t0))
}

# json EXPR: a Python expression over the parsed JSON `j` of $OUT, printed.
json() { python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$OUT"; }

say() { printf '%s\n' "$OUT" | sed 's/^/     | /' >&2; }

# expect NAME WANT_RC REGEX: the last probe's status and output.
expect() {
    local name=$1 want=$2 re=$3
    if [ "$RC" = "$want" ] && grep -Eq -- "$re" <<<"$OUT"; then
        e2e_ok "$name"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        echo "FAIL $name (exit $RC, want $want; want /$re/)"
        say
    fi
}

# expect_json NAME WANT_RC PY_CONDITION
expect_json() {
    local name=$1 want=$2 cond=$3 got
    got=$(json "$cond" 2>&1)
    if [ "$RC" = "$want" ] && [ "$got" = True ]; then
        e2e_ok "$name"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        echo "FAIL $name (exit $RC, want $want; $cond -> $got)"
        say
    fi
}

capture() { # NAME IP PORT: the server's answer to our stream header, raw
    [ -n "${S2S_PROBE_CAPTURE:-}" ] || return 0
    mkdir -p "$S2S_PROBE_CAPTURE"
    python3 - "$2" "$3" "$S2S_PROBE_CAPTURE/$1" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>" % (b"pe.test" if "pe" in sys.argv[3] else b"pp.test"))
data, end = b"", time.time() + 3
while b"</stream:features>" not in data and time.time() < end:
    data += s.recv(4096)
open(sys.argv[3], "wb").write(data)
PY
}

# ---- setup ----------------------------------------------------------------------

T0=$(_lab_ms)
if ! lab_init; then echo "FAIL lab_init"; echo "0 passed, 1 failed"; exit 1; fi
trap cleanup EXIT
CONF=$LAB_DIR/trust.conf         # the test root only
CONF_POOL=$LAB_DIR/trust-pool.conf # plus the intermediates pool
printf 'ca_file = "%s/pki/root.pem";\n' "$LAB_DIR" >"$CONF"
printf 'ca_file = "%s/pki/root.pem";\nintermediate_file = "%s/pki/pool.pem";\n' "$LAB_DIR" "$LAB_DIR" >"$CONF_POOL"

setup() {
    lab_issue_leaf pe pe.test || return 1
    lab_issue_leaf pl pl.test nochain || return 1
    lab_issue_leaf pp pp.test eku=serverAuth || return 1
    # ejabberd merges an included file's listeners into its own list.
    mkdir -p "$LAB_DIR/extra"
    cat >"$LAB_DIR/extra/direct.yml" <<EOF
listen:
  -
    port: 5270
    ip: "127.0.0.60"
    module: ejabberd_s2s_in
    tls: true
EOF
    chmod -R a+rX "$LAB_DIR/extra"
    lab_ejabberd_start pe pe.test 127.0.0.60 pe starttls=required \
        "yaml=include_config_file: $LAB_DIR/extra/direct.yml" nowait || return 1
    lab_ejabberd_start pl pl.test 127.0.0.62 pl nowait || return 1
    # Prosody 0.12 has XEP-0368 for s2s: the s2s_direct_tls service; its
    # certificate comes from s2s_direct_tls_ssl (host SNI contexts too).
    local d=$LAB_DIR/pp
    lab_prosody_start pp pp.test 127.0.0.61 pp - \
        "config=s2s_direct_tls_ports = { 5270 }" \
        "config=s2s_direct_tls_ssl = { certificate = \"$d/cert.pem\"; key = \"$d/key.pem\" }" nowait || return 1

    python3 "$HERE/hostile.py" "$HOSTILE_IP" "$LAB_DIR/hostile.ready" >"$LAB_DIR/hostile.log" 2>&1 &
    HELPER_PIDS+=($!)
    cat >"$LAB_DIR/zone" <<EOF
_xmpps-server._tcp.pe.test SRV 5 0 5270 pe.test
_xmpp-server._tcp.pe.test SRV 10 0 5269 pe.test
_xmpp-server._tcp.pl.test SRV 0 0 0 .
_xmpps-server._tcp.pp.test SRV 0 0 15001 hostile.test
_xmpps-server._tcp.pp.test SRV 1 0 5270 pp.test
EOF
    python3 "$HERE/dns.py" "$DNS_IP" "$LAB_DIR/zone" "$LAB_DIR/dns.ready" >"$LAB_DIR/dns.log" 2>&1 &
    HELPER_PIDS+=($!)
    lab_add_host hostile.test "$HOSTILE_IP" || return 1
    echo "nameserver $DNS_IP" >"$LAB_DIR/resolv.conf"
    wait_file "$LAB_DIR/hostile.ready" && wait_file "$LAB_DIR/dns.ready" || return 1
    lab_wait_ready pe pl pp || return 1
    _lab_poll 20 0.1 _lab_listening 127.0.0.60 5270 && _lab_poll 20 0.1 _lab_listening 127.0.0.61 5270
}
check "setup: ejabberd x2, prosody, hostile listeners, DNS" setup || { e2e_summary; exit 1; }
capture ejabberd-pe 127.0.0.60 5269
capture prosody-pp 127.0.0.61 5269
hport() { awk -v m="$1" '$1 == m { print $2 }' "$LAB_DIR/hostile.ready"; }

# ---- real servers ------------------------------------------------------------------

probe pe.test --connect 127.0.0.60:5269 --config "$CONF"
expect "ejabberd STARTTLS: trusted, full chain in order" 0 \
    'chain as sent: 2 certificates: leaf \+ 1 intermediate\(s\), in order'
expect "ejabberd STARTTLS: required, TLS 1.2+, names and usage shown" 0 \
    'STARTTLS required'
grep -Eq 'tls: +TLSv1\.[23] ' <<<"$OUT" && grep -q 'name:     dns pe.test' <<<"$OUT" &&
    grep -q 'usage:    serverAuth, clientAuth; not a CA' <<<"$OUT" && grep -q 'usage:    no EKU (any); CA' <<<"$OUT"
check "ejabberd STARTTLS: report lines" test $? = 0

probe pe.test --connect 127.0.0.60:5269 --config "$CONF" --json
expect_json "ejabberd STARTTLS --json" 0 \
    'j["trusted"] and j["chain_as_sent"]["count"] == 2 and j["chain_as_sent"]["in_order"] and not j["chain_as_sent"]["leaf_only"] and j["chain_as_sent"]["intermediates_sent"] == 1 and j["starttls_required"] and j["tls"]["version"] in ("TLSv1.2", "TLSv1.3") and j["connected"]["mode"] == "starttls" and j["valid_for"]["server_auth"] and j["valid_for"]["client_auth"] and not j["valid_for"]["xmpp_addr"]'
[ -n "${S2S_PROBE_SAVE_EXAMPLES:-}" ] && printf '%s\n' "$OUT" >"$S2S_PROBE_SAVE_EXAMPLES/ejabberd.json"

probe pe.test --connect 127.0.0.60:5270 --direct-tls --config "$CONF" --json
expect_json "ejabberd direct TLS (XEP-0368), no ALPN selected" 0 \
    'j["trusted"] and j["connected"]["mode"] == "direct-tls" and j["chain_as_sent"]["count"] == 2 and not j["starttls_offered"] and j["tls"]["alpn"] is None'

probe pl.test --connect 127.0.0.62:5269 --config "$CONF"
expect "ejabberd leaf only: refused, says the intermediates are not sent" 1 \
    'chain as sent: leaf only - the server does not send its intermediate\(s\)'
expect "ejabberd leaf only: the verdict is unknown_issuer" 1 '^pl\.test: refused: unknown_issuer'
[ -n "${S2S_PROBE_SAVE_EXAMPLES:-}" ] && printf '%s\n' "$OUT" >"$S2S_PROBE_SAVE_EXAMPLES/leaf-only.txt"

probe pl.test --connect 127.0.0.62:5269 --config "$CONF_POOL" --json
expect_json "ejabberd leaf only with a pool: trusted, still flagged" 0 \
    'j["trusted"] and j["chain_as_sent"]["leaf_only"] and j["chain_as_sent"]["intermediates_sent"] == 0 and j["chain_as_sent"]["incomplete"] and "intermediates pool" in j["chain_as_sent"]["summary"]'

probe pp.test --connect 127.0.0.61:5269 --config "$CONF"
expect "Prosody STARTTLS: trusted, full chain" 0 'chain as sent: 2 certificates: leaf \+ 1 intermediate\(s\), in order'
expect "Prosody STARTTLS: serverAuth-only leaf explained" 0 'valid for: +TLS server authentication only \(serverAuth\)'
[ -n "${S2S_PROBE_SAVE_EXAMPLES:-}" ] && printf '%s\n' "$OUT" >"$S2S_PROBE_SAVE_EXAMPLES/prosody.txt"

probe pp.test --connect 127.0.0.61:5270 --direct-tls --config "$CONF" --json
expect_json "Prosody direct TLS (s2s_direct_tls_ports), no ALPN selected" 0 \
    'j["trusted"] and j["connected"]["mode"] == "direct-tls" and not j["valid_for"]["client_auth"] and j["tls"]["alpn"] is None'

probe pe.test --connect 127.0.0.60:5269 --direct-tls --config "$CONF" --timeout 3000
expect "direct TLS to a STARTTLS port: tls_failed with a hint" 3 'no chain: tls_failed .*(STARTTLS port|XML)'
probe pe.test --connect 127.0.0.60:5270 --config "$CONF" --timeout 3000
expect "STARTTLS to a direct TLS port: clear status" 3 'no chain: (protocol|closed|timeout) '

probe wrong.test --connect 127.0.0.60:5269 --config "$CONF" --timeout 3000
expect "a domain the server does not host" 3 'no chain: protocol \(stream error: host-unknown'

# ---- resolution (RFC 6120 3.2, XEP-0368), in a namespace with our DNS ------------------

# in_ns CMD...: run with this run's hosts file and resolv.conf.
in_ns() {
    # shellcheck disable=SC2016
    unshare --mount --propagation private -- /bin/sh -c '
        mount --bind "$1" /etc/hosts || exit 97
        mount --bind "$2" /etc/resolv.conf || exit 97
        shift 2; exec "$@"' sh "$LAB_DIR/net/hosts" "$LAB_DIR/resolv.conf" "$@"
}
probe_ns() {
    local t0
    t0=$(_lab_ms)
    OUT=$(in_ns "$BIN" probe "$@" 2>&1)
    RC=$?
    WALL_MS=$(($(_lab_ms) - t0))
}

probe_ns pe.test --config "$CONF" --json
expect_json "SRV: _xmpps-server first (direct TLS, priority 5)" 0 \
    'j["resolution"]["xmpps_server"]["outcome"] == "found" and j["connected"]["mode"] == "direct-tls" and j["connected"]["port"] == 5270 and j["connected"]["source"] == "srv" and len(j["attempts"]) == 1 and not j["resolution"]["fallback"]'
[ -n "${S2S_PROBE_SAVE_EXAMPLES:-}" ] && printf '%s\n' "$OUT" >"$S2S_PROBE_SAVE_EXAMPLES/resolved.json"
probe_ns pe.test --config "$CONF"
[ -n "${S2S_PROBE_SAVE_EXAMPLES:-}" ] && printf '%s\n' "$OUT" >"$S2S_PROBE_SAVE_EXAMPLES/resolved.txt"
expect "SRV: text report names the record" 0 'SRV _xmpps-server._tcp: priority 5 weight 0 target pe\.test'

probe_ns pp.test --config "$CONF" --json --timeout 2000
expect_json "SRV: a stalling first target, then the next record" 0 \
    'len(j["attempts"]) == 2 and j["attempts"][0]["status"] == "timeout" and j["attempts"][0]["port"] == 15001 and j["connected"]["port"] == 5270 and j["connected"]["target"] == "pp.test" and j["resolution"]["fallback"]'

probe_ns pl.test --config "$CONF" --json --timeout 2000
expect_json "SRV: target '.' means no service and no fallback" 3 \
    'j["resolution"]["xmpp_server"]["outcome"] == "unavailable" and not j["resolution"]["fallback"] and j["attempts"] == [] and not j["chain_captured"]'

probe_ns pp.test --direct-tls --config "$CONF" --json --timeout 2000
expect_json "--direct-tls without --connect: only _xmpps-server records" 0 \
    'all(a["mode"] == "direct-tls" for a in j["attempts"])'

# No SRV records at all: the fallback DOMAIN:5269.
lab_add_host nosrv.test 127.0.0.60
probe_ns nosrv.test --config "$CONF" --json --timeout 3000
expect_json "no SRV: fallback to DOMAIN:5269 STARTTLS" 3 \
    'j["resolution"]["fallback"] and j["attempts"][0]["address"] == "127.0.0.60" and j["attempts"][0]["port"] == 5269 and j["attempts"][0]["source"] == "fallback"'

# ---- hostile listeners ---------------------------------------------------------------

# hostile NAME MODE STATUS STAGE TIMEOUT_MS [--direct-tls]: the status and stage,
# and both the probe's elapsed time and the wall time within the deadline + 1.5 s.
hostile() {
    local name=$1 mode=$2 status=$3 stage=$4 t=$5 got
    shift 5
    probe x.test --connect "$HOSTILE_IP:$(hport "$mode")" --config "$CONF" --json --timeout "$t" "$@"
    got=$(json 'j["attempts"][0]["status"] + " " + j["attempts"][0]["stage"] + " " + str(j["attempts"][0]["elapsed_ms"])' 2>&1)
    local st=${got%% *} rest=${got#* } el
    local sg=${rest%% *}
    el=${rest#* }
    if [ "$RC" = 3 ] && [ "$st" = "$status" ] && [ "$sg" = "$stage" ] && [ "$el" -le $((t + 1500)) ] 2>/dev/null &&
        [ "$WALL_MS" -le $((t + 1500)) ]; then
        e2e_ok "$name: $status at $stage (${el} ms, wall ${WALL_MS} ms, deadline $t ms)"
    else
        E2E_FAILED=$((E2E_FAILED + 1))
        echo "FAIL $name: want $status at $stage within $t ms; got '$got', exit $RC, wall $WALL_MS ms"
        say
    fi
}
hostile "accepts and stalls"              stall                timeout     stream    2000
hostile "stream header, then stalls"      stall_features       timeout     features  2000
hostile "proceed, then stalls in TLS"     stall_tls            timeout     tls       2000
hostile "garbage"                         garbage              protocol    stream    5000
hostile "endless stream header"           endless_header       too_large   stream    5000
hostile "endless features"                endless_features     too_large   features  5000
hostile "closes mid-handshake"            close_mid_tls        closed      tls       5000
hostile "closes mid-handshake (direct)"   direct_close_mid_tls closed      tls       5000 --direct-tls
hostile "stream error"                    stream_error         protocol    features  5000
hostile "control bytes"                   control_bytes        protocol    features  5000
hostile "no starttls offered"             no_starttls          no_starttls features  5000
hostile "starttls <failure/>"             tls_failure          protocol    starttls  5000
hostile "bytes after <proceed/>"          injected             protocol    starttls  5000
hostile "closes at once"                  close_at_once        closed      stream    5000
hostile "resets at once"                  reset                connect_failed stream 5000
hostile "garbage to a direct TLS probe"   garbage              tls_failed  tls       5000 --direct-tls

probe x.test --connect "$HOSTILE_IP:$(hport stream_error)" --config "$CONF"
# The text is shown as the server meant it (entities decoded by the XML reader), escaped for the terminal.
expect "stream error text is escaped" 3 'host-unknown: no such host \\x5c caf\\xc3\\xa9 <b>'
probe x.test --connect "$HOSTILE_IP:$(hport garbage)" --config "$CONF"
expect "garbage: the first bytes are shown, escaped" 3 "it began 'HTTP/1.1 400 Bad'\)"
probe x.test --connect 127.0.0.51:1 --config "$CONF" --timeout 2000
expect "nothing listens: connect_failed" 3 'no chain: connect_failed \(connect: Connection refused\)'

# ---- usage -----------------------------------------------------------------------------
probe 'bad domain!' --connect 127.0.0.60:5269
expect "a bad domain is a usage error" 2 'not a usable domain'
probe pe.test --connect '::1:5269'
expect "bare IPv6 in --connect is a usage error" 2 'HOST:PORT'
probe pe.test --connect 127.0.0.60:5269 --config /nonexistent.conf
expect "a bad --config is exit 2 before any connection" 2 'nonexistent'

check "only loopback listeners" lab_assert_loopback_only
echo "probe: whole run $(($(_lab_ms) - T0)) ms" >&2
e2e_summary
