#!/usr/bin/env bash
# tests/dane/test_dnslab.sh - the DNSSEC lab (tests/dane/dnslab.sh) on its
# own, without the module: nsd on one loopback address, zones signed now,
# and what libunbound concludes about them (tests/dane/dnslab_query.c):
#
#   dane.test    signed                    secure answers, secure NXDOMAIN
#   plain.test   unsigned, no anchor       insecure
#   broken.test  signed, DS digest altered bogus
#   badsig.test  signed, RRSIGs altered    bogus (its DNSKEY still secure)
#
# plus the TLSA rdata helper checked by OpenSSL's own DANE matcher
# (s_server/s_client over a Unix socket: no port besides nsd's), a name
# outside the lab (answered at once, never secure, nothing leaves the
# machine), reloads (SIGHUP keeps the pid; a new zone restarts), and a
# stop that leaves no process and a free port.
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
#   flock /tmp/s2s-lab.lock bash tests/dane/test_dnslab.sh
# Environment: LAB_DIR (default /tmp/s2s-lab-dane; the lab is LAB_DIR/dns),
# DNSLAB_ADDR (127.0.0.53), DNSLAB_PORT (5353).
# shellcheck disable=SC2016 # the eval'd strings of `check NAME eval '...'` expand when run
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-dane}"
: "${DNSLAB_ADDR:=127.0.0.53}"
: "${DNSLAB_PORT:=5353}"
# shellcheck source=tests/dane/dnslab.sh
source "$HERE/dnslab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/../e2e/testing.sh"

DNS=$LAB_DIR/dns
MARKER=$LAB_DIR/.s2s-trust-lab
# testing.sh shows this on a failed check.
lab_show_logs() { dnslab_show_log "$DNS"; }

# As root, like every lab suite: OpenSSL 3.0's s_server -unix (the DANE
# cross-check below) exits at once for other users.
if [ "$(id -u)" != 0 ]; then
    echo "run as root (the lab suites do; dnslab.sh itself does not need it)" >&2
    exit 1
fi
_dnslab_check_dir "$LAB_DIR" || exit 1
if [ -e "$LAB_DIR" ]; then
    if [ -e "$MARKER" ] || [ -z "$(ls -A "$LAB_DIR")" ]; then
        dnslab_stop "$DNS" # a run killed before its trap
        rm -rf "$LAB_DIR"
    else
        echo "$LAB_DIR exists and is not a lab run dir (no $MARKER); not touching it" >&2
        exit 1
    fi
fi
mkdir -p "$DNS" && : >"$MARKER" || exit 1

SSERVER_PID=
cleanup() {
    [ -n "$SSERVER_PID" ] && kill "$SSERVER_PID" 2>/dev/null && wait "$SSERVER_PID" 2>/dev/null
    dnslab_stop "$DNS"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "# $(. /etc/os-release && echo "$PRETTY_NAME"): nsd $(dpkg-query -W -f='${Version}' nsd)," \
    "ldnsutils $(dpkg-query -W -f='${Version}' ldnsutils)," \
    "libunbound8 $(dpkg-query -W -f='${Version}' 'libunbound8:*' 2>/dev/null | head -n 1)"

# ---- fixtures -------------------------------------------------------------------
# A self-signed P-256 server certificate, as a DANE-EE peer would have.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DNS/ee.key" \
    -out "$DNS/ee.pem" -days 30 -subj /CN=xmpp.a.dane.test \
    -addext "subjectAltName=DNS:a.dane.test" 2>/dev/null || { echo "openssl req failed"; exit 1; }
TLSA311=$(dnslab_tlsa_rdata 3 1 1 "$DNS/ee.pem") || exit 1
TLSA302=$(dnslab_tlsa_rdata 3 0 2 "$DNS/ee.pem") || exit 1

t0=$(_dnslab_ms)
dnslab_zone "$DNS" dane.test signed
dnslab_zone "$DNS" plain.test unsigned
dnslab_zone "$DNS" broken.test bogus
dnslab_zone "$DNS" badsig.test badsig
ZONES_MS=$(($(_dnslab_ms) - t0))
for z in dane.test plain.test broken.test badsig.test; do
    dnslab_record "$DNS" "$z" "_xmpp-server._tcp.a 300 IN SRV 0 5 5269 xmpp.a.$z."
    dnslab_record "$DNS" "$z" "xmpp.a 300 IN A 127.0.0.2"
    dnslab_record "$DNS" "$z" "xmpp.a 300 IN AAAA fd00:5274::2"
    dnslab_record "$DNS" "$z" "_5269._tcp.xmpp.a 300 IN TLSA $TLSA311"
done
dnslab_record "$DNS" dane.test "_5269._tcp.xmpp.a 300 IN TLSA $TLSA302"

# ---- start ----------------------------------------------------------------------
check "refuses a non-loopback address" eval '! dnslab_start "$DNS" 192.0.2.1 "$DNSLAB_PORT" 2>/dev/null'
check "start: nsd serves 4 zones on $DNSLAB_ADDR@$DNSLAB_PORT" dnslab_start "$DNS" "$DNSLAB_ADDR" "$DNSLAB_PORT" ||
    { e2e_summary; exit 1; }
echo "#   keys for 4 zones: ${ZONES_MS} ms; sign + start + ready: ${DNSLAB_START_MS} ms"
check "refuses a second start" eval '! dnslab_start "$DNS" "$DNSLAB_ADDR" "$DNSLAB_PORT" 2>/dev/null'

# Every socket of nsd's processes (main, xfrd, server) is bound to
# ADDR:PORT; at least one UDP and one listening TCP socket.
only_our_address() {
    local want pids p fds=() inodes
    want=$(_dnslab_hexaddr "$DNSLAB_ADDR" "$DNSLAB_PORT")
    mapfile -t pids < <(dnslab_pids "$DNS")
    [ ${#pids[@]} -gt 0 ] || return 1
    for p in "${pids[@]}"; do fds+=("/proc/$p/fd"); done
    inodes=" $(find "${fds[@]}" -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%l\n' 2>/dev/null |
        sed 's/^socket:\[\(.*\)\]$/\1/' | tr '\n' ' ') "
    awk -v want="$want" -v inodes="$inodes" '
        FNR == 1 { next }
        index(inodes, " " $10 " ") {
            if ($2 != want) { print "nsd socket on " $2 " in " FILENAME > "/dev/stderr"; bad = 1 }
            else if (FILENAME ~ /udp$/) udp++
            else if ($4 == "0A") tcp++
        }
        END { exit bad || !udp || !tcp }' /proc/net/udp /proc/net/tcp /proc/net/udp6 /proc/net/tcp6
}
check "nsd's sockets are all on $DNSLAB_ADDR:$DNSLAB_PORT (UDP + TCP)" only_our_address

UBCONF=$(dnslab_unbound_conf "$DNS")
check "unbound.conf written, anchors for the 3 signed zones" \
    eval '[ -s "$UBCONF" ] && [ "$(grep -c "IN[[:space:]]*DS" "$(dnslab_anchors "$DNS")")" = 3 ]'

# ---- the TLSA helper ----------------------------------------------------------
unhex_sha() { # ALG HEX: digest of the bytes HEX spells
    perl -e 'print pack("H*", $ARGV[0])' "$2" | openssl dgst "-$1" -r | awk '{ print $1 }'
}
tlsa_helper_consistent() {
    local full spki fp
    full=$(dnslab_tlsa_rdata 3 0 0 "$DNS/ee.pem" | awk '{ print $4 }')
    spki=$(dnslab_tlsa_rdata 3 1 0 "$DNS/ee.pem" | awk '{ print $4 }')
    fp=$(openssl x509 -in "$DNS/ee.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
    [ "$(dnslab_tlsa_rdata 2 0 1 "$DNS/ee.pem")" = "2 0 1 $fp" ] &&
        [ "$(dnslab_tlsa_rdata 3 0 1 "$DNS/ee.pem")" = "3 0 1 $(unhex_sha sha256 "$full")" ] &&
        [ "$TLSA302" = "3 0 2 $(unhex_sha sha512 "$full")" ] &&
        [ "$TLSA311" = "3 1 1 $(unhex_sha sha256 "$spki")" ] &&
        [ "$(dnslab_tlsa_rdata 1 1 2 "$DNS/ee.pem")" = "1 1 2 $(unhex_sha sha512 "$spki")" ] &&
        ! dnslab_tlsa_rdata 3 2 1 "$DNS/ee.pem" 2>/dev/null &&
        ! dnslab_tlsa_rdata 4 1 1 "$DNS/ee.pem" 2>/dev/null
}
check "dnslab_tlsa_rdata: digests of the cert/SPKI DER, fingerprint; bad fields refused" tlsa_helper_consistent

# ---- what libunbound concludes --------------------------------------------------
# q NAME TYPE: dnslab_query's output in Q (first line) and QRR (records).
q() {
    local out
    out=$(dnslab_query "$DNS" "$1" "$2")
    Q=$(head -n 1 <<<"$out")
    QRR=$(sed -n 's/^rr //p' <<<"$out" | sort)
    echo "#   $1 $2 -> $Q" | cut -c1-200
}
expect() { # NAME TYPE STATUS-REGEX [RECORDS]
    q "$1" "$2"
    [[ $Q =~ ^$3 ]] || return 1
    [ $# -lt 4 ] || [ "$QRR" = "$(sort <<<"$4")" ]
}

check "signed: TLSA is secure, both records" \
    expect _5269._tcp.xmpp.a.dane.test TLSA 'secure rcode=0 nxdomain=0 havedata=1' "$TLSA311"$'\n'"$TLSA302"
check "signed: SRV is secure" \
    expect _xmpp-server._tcp.a.dane.test SRV 'secure rcode=0 .*havedata=1' "0 5 5269 xmpp.a.dane.test."
check "signed: A and AAAA are secure" eval \
    'expect xmpp.a.dane.test A "secure rcode=0" 127.0.0.2 && expect xmpp.a.dane.test AAAA "secure rcode=0" fd00:5274::2'
check "signed: a missing name is a secure NXDOMAIN" \
    expect _5269._tcp.nope.dane.test TLSA 'secure rcode=3 nxdomain=1 havedata=0'
check "signed: a missing type is secure NODATA" \
    expect xmpp.a.dane.test TLSA 'secure rcode=0 nxdomain=0 havedata=0'
check "unsigned, no anchor: TLSA is insecure (data present)" \
    expect _5269._tcp.xmpp.a.plain.test TLSA 'insecure rcode=0 nxdomain=0 havedata=1' "$TLSA311"
check "unsigned: SRV is insecure" expect _xmpp-server._tcp.a.plain.test SRV 'insecure rcode=0 .*havedata=1'
check "altered DS anchor: TLSA is bogus" expect _5269._tcp.xmpp.a.broken.test TLSA 'bogus .*why_bogus=.'
check "altered DS anchor: SRV and NXDOMAIN are bogus too" eval \
    'expect _xmpp-server._tcp.a.broken.test SRV bogus && expect nope.broken.test A bogus'
check "altered RRSIGs: TLSA and SRV are bogus" eval \
    'expect _5269._tcp.xmpp.a.badsig.test TLSA "bogus .*why_bogus=." && expect _xmpp-server._tcp.a.badsig.test SRV bogus'
check "altered RRSIGs: the DNSKEY set itself is secure" expect badsig.test DNSKEY 'secure rcode=0 .*havedata=1'

outside() {
    local t0 ms rc=0 n
    for n in "www.example.com A" "_5269._tcp.xmpp.example.org TLSA"; do
        t0=$(_dnslab_ms)
        # shellcheck disable=SC2086 # NAME TYPE
        q $n || return 1
        ms=$(($(_dnslab_ms) - t0))
        echo "#   (answered in ${ms} ms)"
        [[ $Q =~ ^(insecure|bogus)\  || $Q =~ ^error ]] || rc=1
    done
    return $rc
}
check "a name outside the lab returns, not secure" outside

# The engine's way: its config, plus the anchor file through
# ub_ctx_add_ta_file. Without any anchor, the signed zone is insecure.
anchor_file_paths() {
    local conf=$DNS/unbound-noanchor.conf out
    grep -v '^ *trust-anchor-file:' "$UBCONF" >"$conf" || return 1
    out=$("$DNS/bin/dnslab_query" "$conf" _5269._tcp.xmpp.a.dane.test TLSA "$(dnslab_anchors "$DNS")" | head -n 1)
    echo "#   conf without anchors + ub_ctx_add_ta_file: $out"
    [[ $out == secure* ]] || return 1
    out=$("$DNS/bin/dnslab_query" "$UBCONF" _5269._tcp.xmpp.a.dane.test TLSA "$(dnslab_anchors "$DNS")" | head -n 1)
    echo "#   anchors in conf and added again: $out"
    [[ $out == secure* ]] || return 1
    out=$("$DNS/bin/dnslab_query" "$conf" _5269._tcp.xmpp.a.dane.test TLSA | head -n 1)
    echo "#   no anchor at all: $out"
    [[ $out == insecure* ]]
}
check "anchors via ub_ctx_add_ta_file: secure; twice: secure; none: insecure" anchor_file_paths

# ---- OpenSSL's DANE matcher on the records libunbound validated ----------------
# DANE-EE without name checks (RFC 7671 section 5.1), as the engine does.
dane_match() { # RDATA: s_client, DANE on, against s_server holding ee.pem
    timeout 10 openssl s_client -unix "$DNS/tls.sock" -brief -verify_return_error \
        -dane_tlsa_domain xmpp.a.dane.test -dane_ee_no_namechecks -dane_tlsa_rrdata "$1" \
        </dev/null >"$DNS/s_client.out" 2>&1
}
openssl s_server -unix "$DNS/tls.sock" -cert "$DNS/ee.pem" -key "$DNS/ee.key" -quiet \
    </dev/null >"$DNS/s_server.out" 2>&1 &
SSERVER_PID=$!
_dnslab_poll 10 test -S "$DNS/tls.sock"
validated_records_match() {
    local rr n=0
    q _5269._tcp.xmpp.a.dane.test TLSA
    [[ $Q == secure* ]] || return 1
    while read -r rr; do
        if ! dane_match "$rr" || ! grep -q 'DANE TLSA .* matched' "$DNS/s_client.out"; then
            cat "$DNS/s_client.out" >&2
            return 1
        fi
        n=$((n + 1))
    done <<<"$QRR"
    [ $n = 2 ]
}
check "OpenSSL DANE: both validated TLSA records match ee.pem (3 1 1, 3 0 2)" validated_records_match
altered_does_not_match() {
    local altered
    altered=$(awk '{ d = $4; $4 = (substr(d, 1, 1) == "0" ? "1" : "0") substr(d, 2); print }' <<<"$TLSA311")
    ! dane_match "$altered" && grep -q 'verify error:num=65:' "$DNS/s_client.out" # X509_V_ERR_DANE_NO_MATCH
}
check "OpenSSL DANE: an altered 3 1 1 does not match (X509_V_ERR_DANE_NO_MATCH)" altered_does_not_match
kill "$SSERVER_PID" 2>/dev/null
wait "$SSERVER_PID" 2>/dev/null
SSERVER_PID=

# ---- reloads --------------------------------------------------------------------
# shellcheck disable=SC2034 # read in the eval'd checks
PID_BEFORE=$(dnslab_pids "$DNS" | head -n 1)
dnslab_record "$DNS" dane.test "_5269._tcp.xmpp.b 300 IN TLSA $TLSA311"
check "reload (SIGHUP): same nsd pid" eval 'dnslab_reload "$DNS" && [ "$(dnslab_pids "$DNS" | head -n 1)" = "$PID_BEFORE" ]'
echo "#   re-sign 4 zones + SIGHUP + new serial: ${DNSLAB_RELOAD_MS:-?} ms"
check "reload: the new TLSA is secure, the old ones still are" eval \
    'expect _5269._tcp.xmpp.b.dane.test TLSA secure "$TLSA311" && expect _5269._tcp.xmpp.a.dane.test TLSA secure'

dnslab_zone "$DNS" late.test signed
dnslab_record "$DNS" late.test "_5269._tcp.xmpp 300 IN TLSA $TLSA311"
t0=$(_dnslab_ms)
check "a zone added later: reload restarts nsd (new pid)" eval \
    'dnslab_reload "$DNS" && [ -n "$(dnslab_pids "$DNS")" ] && [ "$(dnslab_pids "$DNS" | head -n 1)" != "$PID_BEFORE" ]'
echo "#   stop + re-sign 5 zones + start + ready: $(($(_dnslab_ms) - t0)) ms"
UBCONF=$(dnslab_unbound_conf "$DNS")
check "a zone added later: secure after dnslab_unbound_conf" \
    expect _5269._tcp.xmpp.late.test TLSA secure "$TLSA311"
check "a zone added later: the others unchanged" eval \
    'expect _5269._tcp.xmpp.a.plain.test TLSA insecure && expect _5269._tcp.xmpp.a.broken.test TLSA bogus'

# ---- stop -----------------------------------------------------------------------
stopped() {
    local pids p
    mapfile -t pids < <(dnslab_pids "$DNS")
    [ ${#pids[@]} -gt 0 ] || return 1
    dnslab_stop "$DNS" || return 1
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 1; done
    ! _dnslab_in_use "$DNSLAB_ADDR" "$DNSLAB_PORT"
}
check "stop: every nsd process gone, $DNSLAB_ADDR:$DNSLAB_PORT free" stopped
check "no signed zone or key outside the lab dir" eval \
    '[ -z "$(find "$HERE" \( -name "K*.private" -o -name "*.signed" -o -name "*.ds" \) -print)" ]'

e2e_summary
