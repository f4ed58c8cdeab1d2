# shellcheck shell=bash
# tests/dane/dnslab.sh - a loopback DNSSEC lab for the DANE tests: nsd
# serving test zones on one loopback address, zones signed at test time
# with ldns (ECDSAP256SHA256 KSK + ZSK), and a libunbound config that
# validates them against the zones' own DS records. Nothing is committed
# signed; keys and signatures live in the lab dir only.
#
#   dnslab_zone DIR ZONE MODE          declare a zone (keys made now); MODE:
#       signed    signed, its DS in the anchors        -> secure
#       unsigned  no signatures, no anchor             -> insecure
#       bogus     signed, the anchor's digest altered  -> bogus (every name)
#       badsig    signed, right anchor, every RRSIG but the DNSKEY one
#                 altered after signing                -> bogus (DNSKEY secure)
#   dnslab_record DIR ZONE "RR"        one zone-file line, e.g.
#                                      "_5269._tcp.xmpp 300 IN TLSA 3 1 1 ab.."
#                                      (owner relative to ZONE, or absolute.)
#   dnslab_start DIR ADDR PORT         sign every zone, start nsd on ADDR@PORT
#                                      only (UDP+TCP), wait until each zone's
#                                      SOA answers with the current serial
#   dnslab_reload DIR                  re-sign after dnslab_record and SIGHUP
#                                      nsd (same pid, sockets stay open); after
#                                      a dnslab_zone, restart it (new config)
#   dnslab_stop DIR                    TERM nsd by its pid, wait, KILL late
#   dnslab_unbound_conf DIR            write DIR/unbound.conf and DIR/anchors.ds
#                                      (after start); prints the conf's path
#   dnslab_anchors DIR                 path of the trust anchor file (DS lines
#                                      of every signed/bogus/badsig zone)
#   dnslab_tlsa_rdata U S M CERT.pem   "U S M HEX" for a certificate: S 0 full
#                                      cert DER, 1 SPKI DER; M 0 exact, 1
#                                      SHA-256, 2 SHA-512 (openssl CLI)
#   dnslab_query DIR NAME TYPE [TA]    libunbound's verdict on NAME, through
#                                      DIR/unbound.conf (tests/dane/dnslab_query.c,
#                                      built into DIR/bin on first use):
#                                      "secure|insecure|bogus rcode=.. ..." + "rr .."
#   dnslab_pids DIR                    nsd's pids (main process first)
#   dnslab_show_log DIR                tail of nsd's log, for failure messages
#
# DIR is absolute, without blanks; put it under the suite's LAB_DIR (e.g.
# $LAB_DIR/dns) so lab.sh's teardown and loopback check see nsd (its
# command line names DIR). ADDR must be 127.x.y.z. Needs nsd, ldnsutils,
# bind9-dnsutils (dig), openssl, cc and libunbound-dev. Works as root (nsd
# keeps the caller's user: username "") and unprivileged (PORT > 1023).
# Functions return non-zero with a message on stderr; none exits.

DNSLAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${DNSLAB_TIMEOUT:=20}"
# libunbound's config: every record TTL in a zone defaults to this.
: "${DNSLAB_TTL:=60}"

_dnslab_log() { printf 'dnslab: %s\n' "$*" >&2; }

_dnslab_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# _dnslab_poll TIMEOUT_S CMD...: CMD until it succeeds (status 0), gives
# up on status 2 (no point waiting) or at the deadline.
_dnslab_poll() {
    local deadline=$(($(_dnslab_ms) + $1 * 1000)) rc
    shift
    while :; do
        "$@"
        rc=$?
        [ $rc = 0 ] && return 0
        [ $rc = 2 ] && return 1
        (($(_dnslab_ms) >= deadline)) && return 1
        sleep 0.02
    done
}

_dnslab_check_dir() {
    if [[ $1 != /* || $1 =~ [[:space:]\"\'] || $1 == / ]]; then
        _dnslab_log "DIR must be absolute, without blanks or quotes: '$1'"
        return 1
    fi
}

_dnslab_check_zone() {
    if [[ ! $1 =~ ^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]]; then
        _dnslab_log "zone must be a lower-case LDH name without a trailing dot: '$1'"
        return 1
    fi
}

_dnslab_zdir() { printf '%s/zones/%s' "$1" "$2"; }

_dnslab_zones() {
    local d
    for d in "$1"/zones/*/; do
        [ -e "$d/mode" ] && basename "$d"
    done
}

_dnslab_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# The pid of DIR's nsd when it runs: the recorded pid, if that process's
# command line still names DIR's config (a stale file after a reboot may
# name someone else's pid).
_dnslab_pid() {
    local pid args
    pid=$(cat "$1/nsd/job.pid" 2>/dev/null) && _dnslab_alive "$pid" || return 0
    { mapfile -d '' -t args <"/proc/$pid/cmdline"; } 2>/dev/null
    [[ " ${args[*]} " == *" $1/nsd/nsd.conf "* ]] && echo "$pid"
}

# dnslab_zone DIR ZONE MODE
dnslab_zone() {
    local dir=$1 zone=$2 mode=$3 z
    _dnslab_check_dir "$dir" && _dnslab_check_zone "$zone" || return 1
    case $mode in
        signed | unsigned | bogus | badsig) ;;
        *) _dnslab_log "zone mode must be signed, unsigned, bogus or badsig: '$mode'"; return 1 ;;
    esac
    z=$(_dnslab_zdir "$dir" "$zone")
    if [ -e "$z/mode" ]; then
        _dnslab_log "zone $zone already declared in $dir"
        return 1
    fi
    mkdir -p "$z" || return 1
    : >"$z/records"
    [ "$mode" = unsigned ] || _dnslab_keygen "$z" "$zone" "$mode" || return 1
    echo "$mode" >"$z/mode"
}

# KSK + ZSK (ldns-keygen writes K<zone>.+013+<tag>.{key,private,ds} in
# the current directory and prints the base name); the KSK's DS, altered
# for a bogus zone, is the zone's anchor.
_dnslab_keygen() {
    local z=$1 zone=$2 mode=$3 ksk zsk
    if ! ksk=$(cd "$z" && ldns-keygen -a ECDSAP256SHA256 -k "$zone") ||
        ! zsk=$(cd "$z" && ldns-keygen -a ECDSAP256SHA256 "$zone"); then
        _dnslab_log "ldns-keygen failed for $zone"
        return 1
    fi
    echo "$ksk" >"$z/ksk"
    echo "$zsk" >"$z/zsk"
    if [ "$mode" = bogus ]; then
        # The digest is the last field: change its first hex digit.
        awk '{ d = $NF; $NF = (substr(d, 1, 1) == "0" ? "1" : "0") substr(d, 2); print }' \
            "$z/$ksk.ds" >"$z/anchor.ds"
    else
        cp "$z/$ksk.ds" "$z/anchor.ds"
    fi
    if [ "$mode" = bogus ] && cmp -s "$z/$ksk.ds" "$z/anchor.ds"; then
        _dnslab_log "could not alter the DS of $zone"
        return 1
    fi
}

# dnslab_record DIR ZONE "RR": appended to ZONE's records; takes effect at
# the next dnslab_start/dnslab_reload.
dnslab_record() {
    local dir=$1 zone=$2 rr=$3 z
    z=$(_dnslab_zdir "$dir" "$zone")
    [ -e "$z/mode" ] || { _dnslab_log "no zone $zone in $dir (dnslab_zone first)"; return 1; }
    [[ $rr == *$'\n'* || -z $rr ]] && { _dnslab_log "one record per call: '$rr'"; return 1; }
    printf '%s\n' "$rr" >>"$z/records"
}

# The zone file nsd serves: SOA, NS, the name server's A, the caller's
# records; signed unless the zone is unsigned.
_dnslab_build_zone() {
    local dir=$1 zone=$2 addr=$3 serial=$4 z mode
    z=$(_dnslab_zdir "$dir" "$zone")
    mode=$(cat "$z/mode")
    {
        # shellcheck disable=SC2016 # zone-file directives, not expansions
        printf '$ORIGIN %s.\n$TTL %s\n' "$zone" "$DNSLAB_TTL"
        printf '@ IN SOA ns1.%s. hostmaster.%s. %s 3600 900 604800 %s\n' "$zone" "$zone" "$serial" "$DNSLAB_TTL"
        printf '@ IN NS ns1.%s.\nns1 IN A %s\n' "$zone" "$addr"
        cat "$z/records"
    } >"$z/zone" || return 1
    if [ "$mode" = unsigned ]; then
        cp "$z/zone" "$z/zone.served"
        return
    fi
    # NSEC (no -n), signatures valid from now for ldns' default 4 weeks.
    if ! (cd "$z" && ldns-signzone -f zone.signed zone "$(cat ksk)" "$(cat zsk)") >"$z/sign.log" 2>&1; then
        cat "$z/sign.log" >&2
        _dnslab_log "ldns-signzone failed for $zone"
        return 1
    fi
    if [ "$mode" = badsig ]; then
        # Fields: owner ttl class RRSIG covered alg labels origttl expiration
        # inception keytag signer signature (ldns writes it as one field).
        awk 'BEGIN { OFS = "\t" }
             $4 == "RRSIG" && $5 != "DNSKEY" {
                 s = $13; $13 = (substr(s, 1, 1) == "A" ? "B" : "A") substr(s, 2); n++ }
             { print }
             END { if (!n) exit 1 }' "$z/zone.signed" >"$z/zone.served" || {
            _dnslab_log "no RRSIG to alter in $zone"
            return 1
        }
    else
        cp "$z/zone.signed" "$z/zone.served"
    fi
}

_dnslab_build() {
    local dir=$1 addr=$2 serial zone
    serial=$(($(cat "$dir/serial" 2>/dev/null || echo 0) + 1))
    echo "$serial" >"$dir/serial"
    for zone in $(_dnslab_zones "$dir"); do
        _dnslab_build_zone "$dir" "$zone" "$addr" "$serial" || return 1
    done
}

_dnslab_write_nsd_conf() {
    local dir=$1 addr=$2 port=$3 zone
    mkdir -p "$dir/nsd" || return 1
    {
        cat <<EOF
# written by tests/dane/dnslab.sh
server:
    ip-address: $addr@$port
    port: $port
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$dir/zones"
    zonelistfile: "$dir/nsd/zone.list"
    xfrdfile: "$dir/nsd/xfrd.state"
    xfrdir: "$dir/nsd"
    pidfile: "$dir/nsd/nsd.pid"
    logfile: "$dir/nsd/nsd.log"
    server-count: 1
    verbosity: 1
    hide-version: yes
remote-control:
    control-enable: no
EOF
        for zone in $(_dnslab_zones "$dir"); do
            printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "$zone" "$(_dnslab_zdir "$dir" "$zone")/zone.served"
        done
    } >"$dir/nsd/nsd.conf"
}

# 0 when every zone answers its SOA with the current serial; 2 when nsd
# has died.
_dnslab_ready() {
    local dir=$1 addr=$2 port=$3 serial zone got
    # The job's own pid, not _dnslab_pid: until the forked shell has
    # exec'd nsd, its command line does not name the config yet.
    _dnslab_alive "$(cat "$dir/nsd/job.pid" 2>/dev/null)" || return 2
    serial=$(cat "$dir/serial")
    for zone in $(_dnslab_zones "$dir"); do
        got=$(dig @"$addr" -p "$port" +norec +time=1 +tries=1 +short SOA "$zone." 2>/dev/null | awk '{ print $3 }')
        [ "$got" = "$serial" ] || return 1
    done
}

# /proc/net/{udp,tcp} spell 127.0.0.53:5353 as 3500007F:14E9.
_dnslab_hexaddr() {
    local a b c d
    IFS=. read -r a b c d <<<"$1"
    printf '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$2"
}

# Something (not necessarily ours) is bound to ADDR:PORT: a UDP socket, or
# a listening TCP one, on that address or on 0.0.0.0.
_dnslab_in_use() {
    local want any
    want=$(_dnslab_hexaddr "$1" "$2")
    any=00000000:${want#*:}
    awk -v w="$want" -v a="$any" 'FNR > 1 && ($2 == w || $2 == a) &&
        (FILENAME ~ /udp/ || $4 == "0A") { f = 1 } END { exit !f }' /proc/net/udp /proc/net/tcp
}

# dnslab_start DIR ADDR PORT
dnslab_start() {
    local dir=$1 addr=$2 port=$3 t0 pid
    t0=$(_dnslab_ms)
    _dnslab_check_dir "$dir" || return 1
    if [[ ! $addr =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || [[ ! $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        _dnslab_log "address must be 127.x.y.z and a port: '$addr' '$port'"
        return 1
    fi
    if _dnslab_alive "$(_dnslab_pid "$dir")"; then
        _dnslab_log "nsd of $dir already runs (pid $(_dnslab_pid "$dir"))"
        return 1
    fi
    [ -n "$(_dnslab_zones "$dir")" ] || { _dnslab_log "no zone in $dir (dnslab_zone first)"; return 1; }
    if _dnslab_in_use "$addr" "$port"; then
        _dnslab_log "$addr:$port is already in use (another lab, or a stale nsd)"
        return 1
    fi
    local b
    for b in nsd dig ldns-signzone; do
        command -v "$b" >/dev/null || { _dnslab_log "missing $b (nsd, bind9-dnsutils, ldnsutils)"; return 1; }
    done
    _dnslab_build "$dir" "$addr" || return 1
    _dnslab_write_nsd_conf "$dir" "$addr" "$port" || return 1
    printf '%s %s\n' "$addr" "$port" >"$dir/nsd/addr"
    _dnslab_zones "$dir" >"$dir/nsd/zones"
    if ! nsd-checkconf "$dir/nsd/nsd.conf" >&2; then
        _dnslab_log "nsd-checkconf refused $dir/nsd/nsd.conf"
        return 1
    fi
    # -d: no fork, so $! is nsd's main process (it forks its xfrd and
    # server children itself, and stops them on TERM).
    echo "=== start $(date -u +%FT%TZ)" >>"$dir/nsd/nsd.out"
    nsd -d -c "$dir/nsd/nsd.conf" </dev/null >>"$dir/nsd/nsd.out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/nsd/job.pid"
    if ! _dnslab_poll "$DNSLAB_TIMEOUT" _dnslab_ready "$dir" "$addr" "$port"; then
        _dnslab_log "nsd on $addr@$port not serving $(_dnslab_zones "$dir" | tr '\n' ' ')(serial $(cat "$dir/serial")) within ${DNSLAB_TIMEOUT}s"
        dnslab_show_log "$dir"
        dnslab_stop "$dir"
        return 1
    fi
    DNSLAB_START_MS=$(($(_dnslab_ms) - t0))
    _dnslab_log "nsd (pid $pid) serving $(_dnslab_zones "$dir" | tr '\n' ' ')on $addr@$port, ready in ${DNSLAB_START_MS} ms"
}

# dnslab_stop DIR: TERM, wait up to 10 s, then KILL. Safe when not running.
dnslab_stop() {
    local dir=$1 pid pids p
    pid=$(_dnslab_pid "$dir")
    _dnslab_alive "$pid" || { rm -f "$dir/nsd/job.pid"; return 0; }
    mapfile -t pids < <(dnslab_pids "$dir")
    kill -TERM "$pid" 2>/dev/null
    if ! _dnslab_poll 10 _dnslab_none_alive "${pids[@]}"; then
        _dnslab_log "nsd (pid $pid) did not stop on TERM; killing it"
        for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
        _dnslab_poll 5 _dnslab_none_alive "${pids[@]}"
    fi
    wait "$pid" 2>/dev/null
    rm -f "$dir/nsd/job.pid"
}

_dnslab_none_alive() {
    local p
    for p; do _dnslab_alive "$p" && return 1; done
    return 0
}

# dnslab_reload DIR: rebuild and re-sign every zone (new serial), then
# SIGHUP nsd, which rereads changed zone files and keeps its sockets open
# throughout (a resolver asking meanwhile gets the old data, never a dead
# server it would then avoid for infra-host-ttl). nsd reads its config only
# at start: after a dnslab_zone, it is restarted instead. Waits for the new
# serial either way.
dnslab_reload() {
    local dir=$1 addr port pid t0
    t0=$(_dnslab_ms)
    read -r addr port <"$dir/nsd/addr" 2>/dev/null || { _dnslab_log "dnslab_reload: $dir was never started"; return 1; }
    pid=$(_dnslab_pid "$dir")
    if ! _dnslab_alive "$pid" || [ "$(_dnslab_zones "$dir")" != "$(cat "$dir/nsd/zones")" ]; then
        dnslab_stop "$dir" || return 1
        dnslab_start "$dir" "$addr" "$port"
        return
    fi
    _dnslab_build "$dir" "$addr" || return 1
    kill -HUP "$pid" || return 1
    if ! _dnslab_poll "$DNSLAB_TIMEOUT" _dnslab_ready "$dir" "$addr" "$port"; then
        _dnslab_log "nsd (pid $pid) not serving serial $(cat "$dir/serial") within ${DNSLAB_TIMEOUT}s of SIGHUP"
        dnslab_show_log "$dir"
        return 1
    fi
    DNSLAB_RELOAD_MS=$(($(_dnslab_ms) - t0))
    _dnslab_log "nsd (pid $pid) reloaded (serial $(cat "$dir/serial")) in ${DNSLAB_RELOAD_MS} ms"
}

# dnslab_pids DIR: nsd's main pid, then its children.
dnslab_pids() {
    local pid
    pid=$(_dnslab_pid "$1")
    _dnslab_alive "$pid" || return 0
    echo "$pid"
    cat "/proc/$pid/task/"*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d'
}

dnslab_show_log() {
    local f
    for f in "$1/nsd/nsd.log" "$1/nsd/nsd.out"; do
        [ -s "$f" ] || continue
        echo "----- tail of $f -----" >&2
        tail -n "${DNSLAB_TAIL_LINES:-15}" "$f" >&2
    done
}

dnslab_anchors() { printf '%s/anchors.ds\n' "$1"; }

# dnslab_unbound_conf DIR: libunbound's config for the lab, after
# dnslab_start (it needs the address). Prints its path.
dnslab_unbound_conf() {
    local dir=$1 addr port zone z mode
    read -r addr port <"$dir/nsd/addr" 2>/dev/null || { _dnslab_log "dnslab_unbound_conf: start the lab first"; return 1; }
    : >"$dir/anchors.ds" || return 1
    for zone in $(_dnslab_zones "$dir"); do
        z=$(_dnslab_zdir "$dir" "$zone")
        [ -e "$z/anchor.ds" ] && cat "$z/anchor.ds" >>"$dir/anchors.ds"
    done
    {
        cat <<EOF
# written by tests/dane/dnslab.sh: libunbound validating the lab's zones,
# served by nsd on $addr@$port, against their own DS records.
server:
    # The lab's server is on loopback, which unbound skips by default.
    do-not-query-localhost: no
    # unbound answers test. (RFC 6761) itself unless told not to.
    local-zone: "test." nodefault
    do-ip6: no
    # A server marked down (nsd restarting) is retried after 5 s, not 15 min.
    infra-host-ttl: 5
    infra-keep-probing: yes
    # DS lines of every signed zone (altered ones for bogus zones).
    trust-anchor-file: "$dir/anchors.ds"
EOF
        for zone in $(_dnslab_zones "$dir"); do
            printf 'stub-zone:\n    name: "%s."\n    stub-addr: %s@%s\n' "$zone" "$addr" "$port"
        done
        cat <<EOF
# Everything else goes to nsd too, which refuses it: no query leaves the
# machine, and a name outside the lab fails at once (SERVFAIL, insecure).
stub-zone:
    name: "."
    stub-addr: $addr@$port
EOF
    } >"$dir/unbound.conf" || return 1
    echo "$dir/unbound.conf"
}

# dnslab_tlsa_rdata USAGE SELECTOR MTYPE CERT.pem: prints "U S M HEX".
dnslab_tlsa_rdata() {
    local u=$1 s=$2 m=$3 cert=$4 hex
    if [[ ! $u =~ ^[0-3]$ || ! $s =~ ^[01]$ || ! $m =~ ^[012]$ ]]; then
        _dnslab_log "TLSA usage 0-3, selector 0-1, matching type 0-2: '$u $s $m'"
        return 1
    fi
    [ -r "$cert" ] || { _dnslab_log "cannot read $cert"; return 1; }
    hex=$(
        set -o pipefail
        if [ "$s" = 0 ]; then
            openssl x509 -in "$cert" -outform DER
        else
            openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER
        fi | case $m in
            0) od -An -v -tx1 | tr -d ' \n' ;;
            1) openssl dgst -sha256 -r | awk '{ print $1 }' ;;
            2) openssl dgst -sha512 -r | awk '{ print $1 }' ;;
        esac
    ) || hex=
    [ -n "$hex" ] || { _dnslab_log "openssl failed on $cert"; return 1; }
    echo "$u $s $m $hex"
}

# dnslab_query DIR NAME TYPE [TRUST_ANCHOR_FILE]: see dnslab_query.c.
dnslab_query() {
    local dir=$1 bin=$1/bin/dnslab_query src=$DNSLAB_SRC/dnslab_query.c
    [ -e "$dir/unbound.conf" ] || { _dnslab_log "no $dir/unbound.conf (dnslab_unbound_conf first)"; return 1; }
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
        if ! mkdir -p "$dir/bin" ||
            ! cc -std=c11 -D_DEFAULT_SOURCE -O1 -Wall -Wextra -Werror -o "$bin" "$src" -lunbound; then
            _dnslab_log "could not build $bin (cc, libunbound-dev)"
            return 1
        fi
    fi
    "$bin" "$dir/unbound.conf" "$2" "$3" ${4:+"$4"}
}
