# shellcheck shell=bash
# tests/e2e/lab.sh - real XMPP servers (Debian 12's ejabberd 23.01, Prosody 0.12)
# federating over s2s + TLS on 127.0.0.x, for end-to-end tests.
#
#   source tests/e2e/lab.sh
#   lab_init
#   lab_issue_leaf a a.test
#   lab_ejabberd_start a a.test 127.0.0.2 a
#   ...
#
# See tests/e2e/README.md for the design and every function. Needs root
# (mount namespaces, switching to the ejabberd/prosody users). Functions
# return non-zero with a message on stderr instead of exiting, so a test
# script can count failures; only lab_init's EXIT trap ends things.

LAB_E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_E2E_DIR/../.." && pwd)
: "${LAB_DIR:=/tmp/s2s-trust-lab}"
: "${LAB_LOGLEVEL:=info}"
: "${LAB_START_TIMEOUT:=60}"
: "${LAB_TIMEOUT:=20}"
# Distribution ports are LAB_DIST_BASE + 1, + 2, ...: one per ejabberd
# instance, each on 127.0.0.1 only; with a fixed port there is no epmd.
: "${LAB_DIST_BASE:=27100}"
LAB_EJABBERDCTL=/usr/sbin/ejabberdctl
LAB_PROSODY=/usr/bin/prosody
LAB_PROSODYCTL=/usr/bin/prosodyctl
LAB_MARKER=.s2s-trust-lab

# ---- small utilities --------------------------------------------------------

lab_log() { printf 'lab: %s\n' "$*" >&2; }

# Milliseconds since the epoch, without forking date.
_lab_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# _lab_poll TIMEOUT_S INTERVAL_S CMD...: run CMD until it succeeds.
_lab_poll() {
    local timeout=$1 interval=$2
    shift 2
    local deadline=$(($(_lab_ms) + timeout * 1000))
    while :; do
        "$@" && return 0
        (($(_lab_ms) >= deadline)) && return 1
        sleep "$interval"
    done
}

_lab_dir() { printf '%s/%s' "$LAB_DIR" "$1"; }

# Instance metadata: one KEY=VALUE per line in NAME/meta (values never
# hold a newline).
_lab_get() {
    local f
    f=$(_lab_dir "$1")/meta
    [ -r "$f" ] || return 1
    sed -n "s/^$2=//p" "$f" | tail -n 1
}
_lab_set() {
    local f
    f=$(_lab_dir "$1")/meta
    sed -i "/^$2=/d" "$f" 2>/dev/null
    printf '%s=%s\n' "$2" "$3" >>"$f"
}

_lab_kind() { _lab_get "$1" kind; }

_lab_need_instance() {
    if [ -z "$(_lab_kind "$1")" ]; then
        lab_log "no lab instance named '$1'"
        return 1
    fi
}

# The instance serving DOMAIN.
_lab_instance_of() {
    local f=$LAB_DIR/domains/$1
    if [ -r "$f" ]; then
        cat "$f"
    else
        lab_log "no lab instance serves domain '$1'"
        return 1
    fi
}

_lab_logfile() {
    local d
    d=$(_lab_dir "$1")
    case $(_lab_kind "$1") in
        ejabberd) echo "$d/log/ejabberd.log" ;;
        prosody) echo "$d/prosody.log" ;;
        *) return 1 ;;
    esac
}

# Tail of every log of the named instances (all instances when none named),
# for failure messages.
lab_show_logs() {
    local n=${LAB_TAIL_LINES:-25} name d f names=("$@")
    [ $# -eq 0 ] && mapfile -t names < <(_lab_all_instances)
    for name in "${names[@]}"; do
        d=$(_lab_dir "$name")
        for f in "$d"/log/ejabberd.log "$d"/log/error.log "$d"/prosody.log; do
            [ -s "$f" ] || continue
            echo "----- $name: tail of ${f#"$LAB_DIR"/} -----" >&2
            tail -n "$n" "$f" >&2
        done
        # The console copy repeats the log; what only it has is output from
        # before the logger started (boot failures, crash reports).
        for f in "$d"/log/foreground.out "$d"/prosody.out; do
            [ -s "$f" ] || continue
            grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$f" | grep -v '^$' | tail -n "$n" >"$LAB_DIR/.tail" || continue
            [ -s "$LAB_DIR/.tail" ] || continue
            echo "----- $name: console output (${f#"$LAB_DIR"/}) -----" >&2
            cat "$LAB_DIR/.tail" >&2
        done
    done
    rm -f "$LAB_DIR/.tail"
}

_lab_fail() {
    local msg=$1
    shift
    lab_log "$msg"
    lab_show_logs "$@"
    return 1
}

# /proc/net/tcp spells 127.0.0.2:5269 as 0200007F:1495 (little-endian host).
_lab_hexaddr() {
    local a b c d
    IFS=. read -r a b c d <<<"$1"
    printf '%02X%02X%02X%02X:%04X' "$d" "$c" "$b" "$a" "$2"
}

# Reads the kernel's table rather than connecting: a probe connection would
# show up in the servers' logs as a failed s2s stream.
_lab_listening() {
    local want
    want=$(_lab_hexaddr "$1" "$2")
    awk -v w="$want" '$2 == w && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

# Fails, naming the holder if it is a lab instance, when IP:PORT is taken:
# readiness checks would otherwise mistake someone else's socket for ours.
_lab_addr_free() {
    _lab_listening "$1" "$2" || return 0
    lab_log "$1:$2 is already in use (another lab run with a different LAB_DIR, or a stale server)"
    return 1
}

_lab_port_listened_anywhere() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6
}

_lab_pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Our own pid and every ancestor: a caller's command line (bash -c "...",
# LAB_DIR=... in argv) may name the run dir too.
_lab_self_pids() {
    local p=$BASHPID k v next
    echo "$$"
    while [ -n "$p" ] && [ "$p" != 0 ]; do
        echo "$p"
        next=
        while read -r k v; do
            [ "$k" = PPid: ] && next=$v && break
        done 2>/dev/null <"/proc/$p/status"
        p=$next
    done
}

# Pids whose command line names the run dir (a path under it), apart from
# ourselves. Scans /proc with builtins only: no grep/pgrep can match
# itself, and a fork per process costs seconds on a busy machine.
_lab_run_dir_pids() {
    local self p args ownpid ownroot
    self=" $(_lab_self_pids | tr '\n' ' ') "
    # Only processes of our own system: a lab in a Debian root of another
    # release (tests/stacks, own PID namespace and root directory) may use
    # the very same LAB_DIR path, and is none of our business.
    ownpid=$(readlink /proc/self/ns/pid)
    ownroot=$(readlink /proc/self/root)
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [[ $self == *" $p "* ]] && continue
        { mapfile -d '' -t args <"/proc/$p/cmdline"; } 2>/dev/null || continue
        [[ "${args[*]}" == *"$LAB_DIR/"* ]] || continue
        [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ownpid" ] || continue
        [ "$(readlink "/proc/$p/root" 2>/dev/null)" = "$ownroot" ] || continue
        echo "$p"
    done
}

# TERM, then KILL after a grace period, every process naming the run dir.
_lab_kill_run_dir_pids() {
    local pids p
    mapfile -t pids < <(_lab_run_dir_pids)
    [ ${#pids[@]} -eq 0 ] && return 0
    local args
    for p in "${pids[@]}"; do
        args=()
        { mapfile -d '' -t args <"/proc/$p/cmdline"; } 2>/dev/null
        [ ${#args[@]} -gt 0 ] || continue
        lab_log "stopping leftover process $p: $(printf '%s' "${args[*]}" | cut -c1-120)"
        kill -TERM "$p" 2>/dev/null
    done
    _lab_poll 10 0.2 _lab_none_alive "${pids[@]}" && return 0
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    _lab_poll 5 0.1 _lab_none_alive "${pids[@]}"
}

_lab_none_alive() {
    local p
    for p; do _lab_pid_alive "$p" && return 1; done
    return 0
}

# ---- run dir, network files, PKI ---------------------------------------------

# lab_init: fresh run dir, name-resolution files, the test PKI, and an EXIT
# trap that stops every server. Logs stay in the run dir afterwards.
lab_init() {
    local t0
    t0=$(_lab_ms)
    if [ "$(id -u)" != 0 ]; then
        lab_log "must run as root (mount namespaces, service users)"
        return 1
    fi
    local bin
    for bin in "$LAB_EJABBERDCTL" "$LAB_PROSODY" "$LAB_PROSODYCTL" unshare setpriv openssl; do
        command -v "$bin" >/dev/null || {
            lab_log "missing $bin; install: ejabberd prosody lua-unbound util-linux openssl"
            return 1
        }
    done
    lua5.4 -e 'require "lunbound"' 2>/dev/null || {
        lab_log "missing lua-unbound: prosody would ignore the lab hosts file"
        return 1
    }
    # Each server sees the lab's hosts file bound over /etc/hosts, which
    # needs /etc/hosts to exist; a minimal root (debootstrap minbase of
    # Debian 12) has none. Create the file every Debian install has.
    if [ ! -e /etc/hosts ]; then
        printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >/etc/hosts || return 1
        lab_log "created /etc/hosts (localhost only): there was none to bind the lab's over"
    fi
    case $LAB_DIR in
        /* ) ;;
        *) lab_log "LAB_DIR must be absolute: $LAB_DIR"; return 1 ;;
    esac
    # ejabberdctl splits ERL_OPTIONS and its paths on blanks.
    if [[ $LAB_DIR =~ [[:space:]] ]] || [ "$LAB_DIR" = / ] || [ "${LAB_DIR%/}" != "$LAB_DIR" ]; then
        lab_log "unusable LAB_DIR '$LAB_DIR' (no blanks, no trailing slash, not /)"
        return 1
    fi

    _lab_kill_run_dir_pids
    if [ -e "$LAB_DIR" ]; then
        if [ -e "$LAB_DIR/$LAB_MARKER" ] || [ -z "$(ls -A "$LAB_DIR" 2>/dev/null)" ]; then
            rm -rf "$LAB_DIR"
        else
            lab_log "$LAB_DIR exists and is not a lab run dir (no $LAB_MARKER); not touching it"
            return 1
        fi
    fi
    mkdir -p "$LAB_DIR"/{net,certs,domains} || return 1
    : >"$LAB_DIR/$LAB_MARKER"
    chmod 0755 "$LAB_DIR" "$LAB_DIR"/{net,certs,domains}

    # Each lab domain gets its own loopback address; more are appended by
    # the start functions (in place, so bind mounts see them).
    {
        echo "127.0.0.1 localhost"
        local i=2 l
        for l in a b c d e f g h; do
            echo "127.0.0.$i $l.test"
            i=$((i + 1))
        done
    } >"$LAB_DIR/net/hosts"
    # Nothing listens on 127.0.0.1:53: a stray DNS query fails at once and
    # never leaves the machine.
    echo "nameserver 127.0.0.1" >"$LAB_DIR/net/resolv.conf"
    chmod 0644 "$LAB_DIR"/net/*

    # An epmd that appears during the run would be ours (see lab_assert_loopback_only).
    if _lab_port_listened_anywhere 4369; then
        echo 1 >"$LAB_DIR/net/epmd-before"
    fi

    # The service users must reach the run dir: a 0700 ancestor (mktemp -d)
    # would stop them.
    local u
    for u in ejabberd prosody; do
        if ! setpriv --reuid="$u" --regid="$u" --clear-groups test -r "$LAB_DIR/net/hosts"; then
            lab_log "user $u cannot read $LAB_DIR/net/hosts; choose a LAB_DIR whose parents are world-traversable"
            return 1
        fi
    done

    trap 'lab_teardown' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    if [ -n "${LAB_PKI_FROM:-}" ]; then
        # A PKI made earlier by gen.sh (make pki); copied, so issuing leaves
        # never touches the original's CA databases.
        if [ ! -r "$LAB_PKI_FROM/root.pem" ] || [ ! -r "$LAB_PKI_FROM/ca/inter/key.pem" ]; then
            lab_log "LAB_PKI_FROM=$LAB_PKI_FROM is not a tests/pki/gen.sh output"
            return 1
        fi
        cp -r "$LAB_PKI_FROM" "$LAB_DIR/pki" || return 1
        rm -f "$LAB_DIR/pki/.lab-ca-index" "$LAB_DIR/pki/.done"
    elif ! bash "$LAB_REPO/tests/pki/gen.sh" "$LAB_DIR/pki" >"$LAB_DIR/pki.log" 2>&1; then
        cat "$LAB_DIR/pki.log" >&2
        lab_log "tests/pki/gen.sh failed"
        return 1
    fi
    chmod 0755 "$LAB_DIR/pki"
    LAB_INIT_MS=$(($(_lab_ms) - t0))
    lab_log "run dir $LAB_DIR ready in ${LAB_INIT_MS} ms"
}

# lab_trust_config: $LAB_DIR/trust/trust.conf, the trust config most suites
# give the module (the test root as anchor, the test pool as intermediates),
# readable by the servers' users. Sets TRUST to its directory.
lab_trust_config() {
    TRUST=$LAB_DIR/trust
    mkdir -p "$TRUST" || return 1
    cp "$LAB_DIR/pki/root.pem" "$LAB_DIR/pki/pool.pem" "$TRUST/" || return 1
    printf 'ca_file = "root.pem";\nintermediate_file = "pool.pem";\n' >"$TRUST/trust.conf" || return 1
    chmod -R a+rX "$TRUST"
}

# LAB_API_PERMS: ejabberd.yml lines letting mod_http_api serve the module's
# commands (tag s2s) to loopback clients (yaml= of lab_ejabberd_start).
LAB_API_PERMS='api_permissions:
  "s2s trust from loopback":
    from: mod_http_api
    who:
      ip: 127.0.0.0/8
    what: "[tag:s2s]"'

# lab_add_host DOMAIN IP: DOMAIN resolves to IP inside the lab. The start
# functions call it for their own domain; call it yourself for domains of
# instances started later when a prosody instance must reach them:
# libunbound reads the hosts file once, when prosody starts. (ejabberd
# sees additions at once.) Appends in place: running namespaces
# bind-mounted this very inode.
lab_add_host() {
    _lab_check_ip "$2" || return 1
    _lab_add_host "$1" "$2"
}

_lab_add_host() {
    local domain=$1 ip=$2 have
    # A v6-only instance (ip6=... v6only) has no IPv4 line: peers find it
    # over IPv6 only.
    [ -e "$LAB_DIR/net/v6only-$domain" ] && return 0
    have=$(awk -v d="$domain" '$2 == d && $1 !~ /:/ { print $1 }' "$LAB_DIR/net/hosts")
    if [ -z "$have" ]; then
        echo "$ip $domain" >>"$LAB_DIR/net/hosts"
    elif [ "$have" != "$ip" ]; then
        lab_log "$domain is $have in the lab hosts file, not $ip"
        return 1
    fi
}

# The lab's IPv6 addresses: a ULA prefix no network uses, on the loopback
# device of a network namespace the test created (tests/ipv6/), never the
# host's.
LAB_IP6_PREFIX=fd00:5274::
_lab_check_ip6() {
    if [[ ! $1 =~ ^fd00:5274::[0-9a-f]{1,4}$ ]]; then
        lab_log "instance IPv6 address must be ${LAB_IP6_PREFIX}N, got '$1'"
        return 1
    fi
    if ! ip -6 addr show dev lo 2>/dev/null | grep -q "inet6 $1/"; then
        lab_log "$1 is not on lo: run the test in its own network namespace (tests/ipv6/)"
        return 1
    fi
}

# _lab_add_ip6 DOMAIN IP6 V6ONLY(0|1): the instance's IPv6 address in the
# hosts file (an AAAA for DOMAIN), before the instance starts.
_lab_add_ip6() {
    local domain=$1 ip6=$2 only=$3
    _lab_check_ip6 "$ip6" || return 1
    if [ "$only" = 1 ]; then
        : >"$LAB_DIR/net/v6only-$domain"
        # lab_init gave a-h.test an A line: drop DOMAIN's, in place (running
        # namespaces bind-mounted this inode).
        local kept
        kept=$(awk -v d="$domain" '!($2 == d && $1 !~ /:/)' "$LAB_DIR/net/hosts") || return 1
        printf '%s\n' "$kept" >"$LAB_DIR/net/hosts"
    fi
    grep -q "^$ip6 $domain\$" "$LAB_DIR/net/hosts" || echo "$ip6 $domain" >>"$LAB_DIR/net/hosts"
}

_lab_check_ip() {
    if [[ ! $1 =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || [ "$1" = 127.0.0.1 ]; then
        lab_log "instance address must be 127.x.y.z other than 127.0.0.1, got '$1'"
        return 1
    fi
}

_lab_new_instance() {
    local name=$1 kind=$2 domain=$3 ip=$4 d
    [[ $name =~ ^[a-z0-9_]+$ ]] || {
        lab_log "instance name must match [a-z0-9_]+: '$name'"
        return 1
    }
    d=$(_lab_dir "$name")
    local old
    old=$(_lab_kind "$name")
    if [ -n "$old" ] && [ "$old" != "$kind" ]; then
        lab_log "instance $name exists as $old"
        return 1
    fi
    # A shared instance (lab_prosody_start ... shared) is the IPv6 side of a
    # domain another instance serves over IPv4: the domain stays that one's.
    if [ "${_lab_shared:-0}" != 1 ] && [ -f "$LAB_DIR/domains/$domain" ] &&
        [ "$(cat "$LAB_DIR/domains/$domain")" != "$name" ]; then
        lab_log "domain $domain is already served by instance $(cat "$LAB_DIR/domains/$domain")"
        return 1
    fi
    _lab_check_ip "$ip" || return 1
    if [ "${_lab_shared:-0}" != 1 ]; then _lab_add_host "$domain" "$ip" || return 1; fi
    mkdir -p "$d" && chmod 0755 "$d"
    [ -e "$d/meta" ] || : >"$d/meta"
    _lab_set "$name" kind "$kind"
    _lab_set "$name" domain "$domain"
    _lab_set "$name" ip "$ip"
    [ "${_lab_shared:-0}" = 1 ] || echo "$name" >"$LAB_DIR/domains/$domain"
}

# ---- certificates -------------------------------------------------------------

# One line per authority of the PKI: "NAME SUBJECT_HASH ISSUER_HASH", made
# once (an openssl call per CA is the slow part of issuing).
_lab_ca_index() {
    local pki=$LAB_DIR/pki idx=$LAB_DIR/pki/.lab-ca-index f n
    if [ ! -s "$idx" ]; then
        for f in "$pki"/ca/*/key.pem; do
            n=$(basename "$(dirname "$f")")
            [ -r "$pki/$n.pem" ] || continue
            # Prints the subject hash, then the issuer hash.
            echo "$n $(openssl x509 -in "$pki/$n.pem" -noout -subject_hash -issuer_hash | tr '\n' ' ')"
        done >"$idx.tmp" && mv "$idx.tmp" "$idx"
    fi
    cat "$idx"
}

# The certificates a server sends above a leaf issued by CA $1, nearest
# first, without the self-signed root.
_lab_intermediates() {
    local pki=$LAB_DIR/pki cur=$1 n=0 index sh ih
    index=$(_lab_ca_index)
    while :; do
        read -r sh ih < <(awk -v n="$cur" '$1 == n { print $2, $3 }' <<<"$index")
        [ -n "$sh" ] || return 1
        [ "$sh" = "$ih" ] && return 0
        echo "$pki/$cur.pem"
        cur=$(awk -v h="$ih" '$2 == h { print $1; exit }' <<<"$index")
        [ -n "$cur" ] || return 0
        n=$((n + 1))
        ((n > 16)) && return 1
    done
}

# lab_issue_leaf NAME DOMAIN [OPTION...]
#   ec (default) | rsa              key type (RSA-2048)
#   eku=both (default) | serverAuth | clientAuth | none
#   issuer=inter (default) | inter2 | root | any CA of tests/pki
#   selfsigned                      self-signed (CA:FALSE), no issuer
#   expired | notyet                2020-2021 | 2040-2041 validity
#   dns=NAME[,NAME...]              dNSNames instead of DOMAIN (wrong name);
#                                   dns= with xmppaddr: xmppAddr only
#   wrongname                       same as dns=other.test
#   xmppaddr                        add otherName id-on-xmppAddr DOMAIN
#                                   (ejabberd 23.01 crashes on a valid one)
#   nochain                         full.pem/chain.pem without intermediates
#   cn=TEXT                         subject CN (hostile bytes welcome)
# Writes $LAB_DIR/certs/NAME/{key.pem,cert.pem,chain.pem,full.pem}: full.pem
# (key + leaf + intermediates) is ejabberd's certfile, chain.pem and key.pem
# prosody's. Print a path with lab_cert NAME [full|chain|key|cert].
lab_issue_leaf() {
    local name=$1 domain=$2
    shift 2 || { lab_log "usage: lab_issue_leaf NAME DOMAIN [options]"; return 1; }
    local key=ec eku=serverAuth,clientAuth issuer=inter self=0 dns=$domain xa=0
    local chain=1 start end opt ext=leaf_ext cn_opt=
    local pki=$LAB_DIR/pki cnf=$LAB_REPO/tests/pki/openssl.cnf
    local base
    base=$(date -u -d yesterday '+%Y-%m-%d %H:%M:%S')
    start=$(date -u -d "$base UTC" +%Y%m%d%H%M%SZ)
    end=$(date -u -d "$base UTC +1 year" +%Y%m%d%H%M%SZ)
    for opt; do
        case $opt in
            ec | rsa) key=$opt ;;
            eku=both) eku=serverAuth,clientAuth ;;
            eku=none) ext=leaf_noeku_ext ;;
            eku=serverAuth | eku=clientAuth | eku=*,*) eku=${opt#eku=} ;;
            issuer=*) issuer=${opt#issuer=} ;;
            selfsigned) self=1 ;;
            expired) start=20200101000000Z end=20210101000000Z ;;
            notyet) start=20400101000000Z end=20410101000000Z ;;
            dns=*) dns=${opt#dns=} ;;
            wrongname) dns=other.test ;;
            xmppaddr) xa=1 ;;
            nochain) chain=0 ;;
            cn=*) cn_opt=${opt#cn=} ;;
            *) lab_log "lab_issue_leaf $name: unknown option '$opt'"; return 1 ;;
        esac
    done
    [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || { lab_log "bad leaf name '$name'"; return 1; }
    [ -d "$pki/ca" ] || { lab_log "no PKI: run lab_init first"; return 1; }
    if [ $self = 0 ] && { [ ! -r "$pki/$issuer.pem" ] || [ ! -r "$pki/ca/$issuer/key.pem" ]; }; then
        lab_log "lab_issue_leaf $name: no CA '$issuer' in $pki"
        return 1
    fi
    local out=$LAB_DIR/certs/$name
    rm -rf "$out"
    mkdir -p "$out/db/newcerts"
    local san d
    san=
    IFS=, read -ra d <<<"$dns"
    local n cn
    for n in "${d[@]}"; do san+=${san:+,}DNS:$n; done
    [ $xa = 1 ] && san+=${san:+,}"otherName:1.3.6.1.5.5.7.8.5;UTF8:$domain"
    [ -n "$san" ] || { lab_log "lab_issue_leaf $name: no names (dns= empty, no xmppaddr)"; return 1; }
    # Without a dNSName the CN is not a domain, so no CN fallback can match.
    cn=${d[0]:-lab leaf $name}
    # A chosen subject CN (any bytes but NUL): -subj needs '/' and '\' escaped.
    if [ -n "$cn_opt" ]; then cn=${cn_opt//\\/\\\\}; cn=${cn//\//\\/}; fi
    local kopts=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ku=digitalSignature
    [ "$key" = rsa ] && kopts=(-newkey rsa:2048) ku=digitalSignature,keyEncipherment
    local log=$out/openssl.log
    (
        # The same config and $ENV:: variables as gen.sh (see its header).
        export OPENSSL_CONF=$cnf SAN=$san EKU=$eku KU=$ku CA_DIR=$out/db
        cd "$out" || exit 1
        : >db/index.txt
        printf '%04X%04X%04X%04X\n' $RANDOM $RANDOM $RANDOM $RANDOM >db/serial
        openssl req -config "$cnf" -new -utf8 "${kopts[@]}" -noenc -keyout key.pem \
            -out req.csr -subj "/CN=$cn" || exit 1
        local who
        if [ $self = 1 ]; then
            who=(-selfsign -keyfile key.pem)
        else
            export CA_DIR=$pki/ca/$issuer
            who=(-cert "$pki/$issuer.pem" -keyfile "$pki/ca/$issuer/key.pem")
        fi
        openssl ca -config "$cnf" -batch -notext -utf8 "${who[@]}" -in req.csr -out cert.pem \
            -extensions "$ext" -startdate "$start" -enddate "$end" -md sha256 || exit 1
    ) >"$log" 2>&1 || {
        cat "$log" >&2
        lab_log "lab_issue_leaf $name: openssl failed"
        return 1
    }
    cp "$out/cert.pem" "$out/chain.pem"
    if [ $self = 0 ] && [ $chain = 1 ]; then
        local f
        for f in $(_lab_intermediates "$issuer"); do cat "$f" >>"$out/chain.pem"; done
    fi
    cat "$out/key.pem" "$out/chain.pem" >"$out/full.pem"
    chmod 0644 "$out"/*.pem
    chmod 0755 "$out"
}

# lab_cert NAME [full|chain|key|cert]: path of an issued leaf's file.
lab_cert() {
    local f=$LAB_DIR/certs/$1/${2:-full}.pem
    if [ -r "$f" ]; then echo "$f"; else
        lab_log "no certificate file $f (lab_issue_leaf $1 ...)"
        return 1
    fi
}

# A CERT argument is a file, or the name of an issued leaf.
_lab_cert_file() {
    if [ -f "$1" ]; then echo "$1"; else lab_cert "$1" "$2"; fi
}

# ---- ejabberd ------------------------------------------------------------------

_lab_ej_etc() { echo "$(_lab_dir "$1")/etc"; }

# lab_ejabberd_start NAME DOMAIN IP CERT [OPTION...]
#   starttls=optional (default) | required | false
#   plaintcp                    = starttls=false: no TLS at all (dialback only)
#   dialback=yes (default) | no
#   hardened                    = starttls=required dialback=no
#   ca_file=PATH                trust anchors (default: the test root)
#   modules=YAML                lines added under modules: (indented for you)
#   yaml=YAML                   top-level lines added to ejabberd.yml
#   vhost=DOMAIN=CERT           one more virtual host on the same address, with
#                               its own certificate (an issued leaf name)
#   cluster=NAME                Erlang distribution through epmd (bound to
#                               127.0.0.1 only) with NAME's cookie, so this node
#                               can join NAME's cluster; NAME must use it too
#                               (cluster=itself for the first node)
#   ip6=ADDR                    also listen for s2s on ADDR (fd00:5274::N, in
#                               the test's own network namespace), give DOMAIN
#                               that AAAA, and connect out over IPv6 first
#   v6only                      with ip6: DOMAIN has no A, only the AAAA
#   http_api=PORT               mod_http_api on IP:PORT (/api), loopback only
#   http_handler=PATH=MODULE    one more request handler on that listener
#                               (e.g. /metrics=mod_s2s_trust_metrics)
#   cfg=LINE                    a line added to the instance's ejabberdctl.cfg
#                               (e.g. CONTRIB_MODULES_PATH=DIR)
#   code=DIR                    an app dir with ebin/ (and priv/), or an ebin
#                               dir; copied into the run dir, added with -pa
#   fresh                       wipe a spool kept from an earlier start
#   nowait                      do not wait for readiness (see lab_wait_ready)
# CERT: ejabberd certfile (key + chain PEM) or an issued leaf name.
# Starting an instance that ran before keeps its spool (Mnesia) unless fresh.
lab_ejabberd_start() {
    local name=$1 domain=$2 ip=$3 cert=$4
    shift 4 || { lab_log "usage: lab_ejabberd_start NAME DOMAIN IP CERT [options]"; return 1; }
    local starttls=optional dialback=yes ca_file=$LAB_DIR/pki/root.pem modules='' yaml=''
    local fresh=0 wait=1 opt codes=() ctlcfg='' vhosts=() cluster='' http_port='' http_handlers=''
    local ip6='' v6only=0

    for opt; do
        case $opt in
            starttls=optional | starttls=required | starttls=false) starttls=${opt#starttls=} ;;
            plaintcp) starttls=false ;;
            dialback=yes | dialback=no) dialback=${opt#dialback=} ;;
            hardened) starttls=required dialback=no ;;
            default) starttls=optional dialback=yes ;;
            ca_file=*) ca_file=${opt#ca_file=} ;;
            modules=*) modules+=${opt#modules=}$'\n' ;;
            yaml=*) yaml+=${opt#yaml=}$'\n' ;;
            code=* | pa=*) codes+=("${opt#*=}") ;;
            cfg=*) ctlcfg+=${opt#cfg=}$'\n' ;;
            vhost=*=*) vhosts+=("${opt#vhost=}") ;;
            cluster=*) cluster=${opt#cluster=} ;;
            http_api=*) http_port=${opt#http_api=} ;;
            http_handler=/*=*) http_handlers+="      ${opt#http_handler=}"$'\n' ;;
            ip6=*) ip6=${opt#ip6=} ;;
            v6only) v6only=1 ;;
            fresh) fresh=1 ;;
            nowait) wait=0 ;;
            *) lab_log "lab_ejabberd_start $name: unknown option '$opt'"; return 1 ;;
        esac
    done
    if _lab_ej_running "$name"; then
        lab_log "ejabberd $name is already running"
        return 1
    fi
    local certfile
    certfile=$(_lab_cert_file "$cert" full) || return 1
    [ -r "$ca_file" ] || { lab_log "ca_file $ca_file not readable"; return 1; }
    [ $v6only = 0 ] || [ -n "$ip6" ] || { lab_log "lab_ejabberd_start $name: v6only needs ip6="; return 1; }
    if [ -n "$ip6" ]; then _lab_add_ip6 "$domain" "$ip6" $v6only || return 1; fi
    _lab_new_instance "$name" ejabberd "$domain" "$ip" || return 1
    _lab_addr_free "$ip" 5269 || return 1

    local d etc port cookie
    d=$(_lab_dir "$name")
    etc=$d/etc
    port=$(_lab_get "$name" distport)
    if [ -n "$cluster" ]; then
        # Nodes on fixed ports cannot reach each other (each assumes every
        # node listens on its own port): clustered nodes use epmd.
        port=epmd
        _lab_set "$name" distport epmd
        if [ "$cluster" = "$name" ]; then
            [ -n "$(_lab_get "$name" cookie)" ] ||
                _lab_set "$name" cookie "lab_${name}_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
        else
            _lab_set "$name" cookie "$(_lab_get "$cluster" cookie)"
        fi
    elif [ -z "$port" ]; then
        port=$((LAB_DIST_BASE + $(cat "$LAB_DIR"/*/meta | grep -c '^distport=') + 1))
        _lab_set "$name" distport "$port"
        _lab_set "$name" cookie "lab_${name}_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    fi
    cookie=$(_lab_get "$name" cookie)
    [ "$port" = epmd ] || _lab_addr_free 127.0.0.1 "$port" || return 1
    [ $fresh = 1 ] && rm -rf "$d/spool"
    rm -rf "$etc" "$d/code"
    mkdir -p "$etc" "$d/spool" "$d/log" "$d/run" "$d/code"

    # Copies, owned by ejabberd: the originals may sit in a 0700 checkout
    # or be root's 0600 files.
    install -m 0600 "$certfile" "$etc/cert.pem"
    local ip6_yaml='' ip6_out='' families=ipv4
    if [ -n "$ip6" ]; then
        ip6_yaml="  -
    port: 5269
    ip: \"$ip6\"
    module: ejabberd_s2s_in
"
        ip6_out="outgoing_s2s_ipv6_address: \"$ip6\""$'\n'
        families='ipv6, ipv4'
    fi
    local http_yaml=''
    [ -n "$http_port" ] && http_yaml="  -
    port: $http_port
    ip: \"$ip\"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
${http_handlers//=/: }"
    local vh vdomain vcert hosts_yaml="  - \"$domain\""$'\n' certs_yaml="  - \"$etc/cert.pem\""$'\n' i_vh=0
    for vh in "${vhosts[@]}"; do
        vdomain=${vh%%=*}
        vcert=$(_lab_cert_file "${vh#*=}" full) || return 1
        _lab_add_host "$vdomain" "$ip" || return 1
        echo "$name" >"$LAB_DIR/domains/$vdomain"
        i_vh=$((i_vh + 1))
        install -m 0600 "$vcert" "$etc/cert-$i_vh.pem"
        hosts_yaml+="  - \"$vdomain\""$'\n'
        certs_yaml+="  - \"$etc/cert-$i_vh.pem\""$'\n'
    done
    install -m 0644 "$ca_file" "$etc/ca.pem"
    local pa='' c src app i=0
    for c in "${codes[@]}"; do
        if [ -d "$c/ebin" ]; then src=$c
        elif [ -d "$c" ] && [ "$(basename "$c")" = ebin ]; then src=$(dirname "$c")
        else lab_log "code=$c: neither an ebin dir nor a dir holding ebin/"; return 1; fi
        # code:priv_dir/1 finds priv/ next to an ebin/ inside a dir named
        # after the application.
        app=$(find "$src/ebin" -maxdepth 1 -name '*.app' -printf '%f\n' | head -n 1)
        app=${app%.app}
        [ -n "$app" ] || app=$(basename "$src")
        i=$((i + 1))
        mkdir -p "$d/code/$i/$app"
        cp -r "$src/ebin" "$d/code/$i/$app/"
        [ -d "$src/priv" ] && cp -r "$src/priv" "$d/code/$i/$app/"
        pa+=" -pa $d/code/$i/$app/ebin"
    done

    cat >"$etc/ejabberdctl.cfg" <<EOF
# Written by tests/e2e/lab.sh for instance $name.
ERLANG_NODE=lab_${name}@localhost
$(if [ "$port" = epmd ]; then echo "ERL_EPMD_ADDRESS=127.0.0.1"; else echo "ERL_DIST_PORT=$port"; fi)
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie $cookie -kernel inet_dist_use_interface {127,0,0,1}$pa"
SPOOL_DIR=$d/spool
LOGS_DIR=$d/log
EJABBERD_PID_PATH=$d/run/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
${ctlcfg}
EOF
    # No nameserver for Erlang's resolver: SRV lookups fail at once, locally.
    {
        echo '{lookup, [file]}.'
        echo '{hosts_file, ""}.'
        echo '{resolv_conf, ""}.'
        python3 -c '
import ipaddress, sys
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 2:
        continue
    a = ipaddress.ip_address(f[0])
    p = a.packed
    words = list(p) if a.version == 4 else [p[i] * 256 + p[i + 1] for i in range(0, 16, 2)]
    print("{host, {%s}, [\"%s\"]}." % (",".join(map(str, words)), f[1]))
' "$LAB_DIR/net/hosts"
    } >"$etc/inetrc"

    # A module named in modules= replaces the default entry of that name
    # (ejabberd refuses a module listed twice).
    local defaults=('mod_admin_extra: {}' 'mod_offline: {}' 'mod_ping: {}' 'mod_disco: {}')
    [ "$dialback" = yes ] && defaults+=('mod_s2s_dialback: {}')
    local given def mods_yaml=''
    given=" $(printf '%s' "$modules" | sed -n 's/^\(mod_[A-Za-z0-9_]*\):.*/\1/p' | tr '\n' ' ') "
    for def in "${defaults[@]}"; do
        [[ $given == *" ${def%%:*} "* ]] || mods_yaml+="  $def"$'\n'
    done
    mods_yaml+=$(printf '%s' "$modules" | sed -e '/^$/d' -e 's/^/  /')
    {
        cat <<EOF
# Written by tests/e2e/lab.sh for instance $name ($domain, starttls=$starttls, dialback=$dialback).
hosts:
${hosts_yaml}loglevel: $LAB_LOGLEVEL
hide_sensitive_log_data: false
certfiles:
${certs_yaml}ca_file: "$etc/ca.pem"
listen:
  -
    port: 5269
    ip: "$ip"
    module: ejabberd_s2s_in
${ip6_yaml}${http_yaml}
s2s_use_starttls: $starttls
outgoing_s2s_families: [${families}]
outgoing_s2s_port: 5269
outgoing_s2s_ipv4_address: "$ip"
${ip6_out}s2s_dns_timeout: 2
s2s_dns_retries: 1
# Default 300: after one failed connection every stanza for that domain
# bounces for up to 5 minutes.
s2s_max_retry_delay: 5
acme:
  auto: false
auth_method: [internal]
shaper_rules:
  max_user_offline_messages: 5000
EOF
        printf '%s' "$yaml"
        cat <<EOF
modules:
$mods_yaml
EOF
    } >"$etc/ejabberd.yml"
    chown -R ejabberd:ejabberd "$etc" "$d/spool" "$d/log" "$d/run" "$d/code"
    chmod -R a+rX "$d/code"
    _lab_set "$name" mode "starttls=$starttls dialback=$dialback"

    _lab_ej_launch "$name" || return 1
    [ $wait = 1 ] || return 0
    lab_wait_ready "$name"
}

_lab_ej_beam_pid() {
    local f pid
    f=$(_lab_dir "$1")/run/ejabberd.pid
    [ -r "$f" ] || return 1
    pid=$(tr -dc 0-9 <"$f")
    _lab_pid_alive "$pid" || return 1
    # A recycled pid would not name our config dir.
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$(_lab_dir "$1")/" || return 1
    echo "$pid"
}

_lab_ej_running() {
    _lab_pid_alive "$(_lab_get "$1" jobpid 2>/dev/null)" || _lab_ej_beam_pid "$1" >/dev/null
}

# Runs the node in the foreground (as a background job) inside a private
# mount namespace whose /etc/hosts and /etc/resolv.conf are the lab's:
# ejabberd 23.01 resolves peers with glibc, not with its inetrc.
_lab_ej_launch() {
    local name=$1 d
    d=$(_lab_dir "$name")
    rm -f "$d/run/ejabberd.pid"
    _lab_set "$name" started_ms "$(_lab_ms)"
    echo "=== launch $(date -u +%FT%TZ)" >>"$d/log/foreground.out"
    # shellcheck disable=SC2016  # $1, $2 belong to the inner sh
    unshare --mount --propagation private -- /bin/sh -c '
        mount --bind "$1" /etc/hosts || exit 97
        if [ -e /etc/resolv.conf ]; then mount --bind "$2" /etc/resolv.conf || exit 97; fi
        shift 2
        exec "$@"' sh "$LAB_DIR/net/hosts" "$LAB_DIR/net/resolv.conf" \
        "$LAB_EJABBERDCTL" --config-dir "$d/etc" foreground \
        </dev/null >>"$d/log/foreground.out" 2>&1 &
    _lab_set "$name" jobpid "$!"
}

# lab_wait_ready NAME... : until every named instance answers (ejabberd:
# `ejabberdctl status` is 0 and 5269 listens; prosody: 5269 listens and the
# admin socket exists). Fails early if a server process dies.
lab_wait_ready() {
    local name rc=0
    for name; do
        case $(_lab_kind "$name") in
            ejabberd) _lab_ej_wait_ready "$name" || rc=1 ;;
            prosody) _lab_pr_wait_ready "$name" || rc=1 ;;
            *) _lab_need_instance "$name"; rc=1 ;;
        esac
    done
    return $rc
}

_lab_ej_ready_once() {
    local name=$1 jobpid ip
    jobpid=$(_lab_get "$name" jobpid)
    _lab_pid_alive "$jobpid" || return 2
    ip=$(_lab_get "$name" ip)
    _lab_listening "$ip" 5269 || return 1
    "$LAB_EJABBERDCTL" --config-dir "$(_lab_ej_etc "$name")" status >/dev/null 2>&1
}

_lab_ej_wait_ready() {
    local name=$1 deadline rc t0
    t0=$(_lab_get "$name" started_ms)
    deadline=$(($(_lab_ms) + LAB_START_TIMEOUT * 1000))
    while :; do
        _lab_ej_ready_once "$name"
        rc=$?
        [ $rc = 0 ] && break
        if [ $rc = 2 ]; then
            _lab_fail "ejabberd $name exited during startup" "$name"
            return 1
        fi
        if (($(_lab_ms) >= deadline)); then
            _lab_fail "ejabberd $name not ready after ${LAB_START_TIMEOUT}s" "$name"
            return 1
        fi
        sleep 0.2
    done
    local ms=$(($(_lab_ms) - t0))
    _lab_set "$name" ready_ms "$ms"
    lab_log "ejabberd $name ($(_lab_get "$name" domain), $(_lab_get "$name" mode)) ready in ${ms} ms"
}

# lab_ctl NAME ARGS...: ejabberdctl against that instance; prints its
# output, returns its status.
lab_ctl() {
    local name=$1
    shift
    [ "$(_lab_kind "$name")" = ejabberd ] || { lab_log "lab_ctl: $name is not an ejabberd instance"; return 1; }
    "$LAB_EJABBERDCTL" --config-dir "$(_lab_ej_etc "$name")" "$@"
}

# lab_rpc NAME EXPR: evaluate the Erlang expression sequence EXPR (no final
# dot needed) on the node and print the result with ~tp. Returns 1 when the
# node cannot be reached or the evaluation raises, 2 on a syntax error.
# ejabberdctl 23.01 has no eval command; this is a hidden client node like
# ejabberdctl's own (same cookie, fixed port, no epmd, no listener).
lab_rpc() {
    local name=$1 expr=$2 etc port cookie
    [ "$(_lab_kind "$name")" = ejabberd ] || { lab_log "lab_rpc: $name is not an ejabberd instance"; return 1; }
    etc=$(_lab_ej_etc "$name")
    port=$(_lab_get "$name" distport)
    cookie=$(_lab_get "$name" cookie)
    # The expression travels in the environment: no quoting through -eval.
    # shellcheck disable=SC2016
    local portopts=(-erl_epmd_port "$port" -start_epmd false -dist_listen false)
    [ "$port" = epmd ] && portopts=()
    LAB_RPC_EXPR=$expr LAB_RPC_NODE="lab_${name}@localhost" ERL_INETRC=$etc/inetrc ERL_EPMD_ADDRESS=127.0.0.1 \
        erl -sname "lab_rpc_${BASHPID}_$RANDOM@localhost" -hidden -noinput -noshell \
        -setcookie "$cookie" "${portopts[@]}" \
        -kernel inet_dist_use_interface '{127,0,0,1}' \
        -env ERL_CRASH_DUMP_BYTES 0 \
        -eval '
            Node = list_to_atom(os:getenv("LAB_RPC_NODE")),
            Src = os:getenv("LAB_RPC_EXPR"),
            Src1 = case lists:reverse(string:trim(Src)) of "." ++ _ -> Src; _ -> Src ++ "." end,
            Es = case erl_scan:string(Src1) of
                     {ok, Ts, _} ->
                         case erl_parse:parse_exprs(Ts) of
                             {ok, Es0} -> Es0;
                             {error, PErr} -> io:format(standard_error, "lab_rpc: parse error: ~tp~n", [PErr]), halt(2)
                         end;
                     SErr -> io:format(standard_error, "lab_rpc: scan error: ~tp~n", [SErr]), halt(2)
                 end,
            Fun = fun() -> try {value, V, _} = erl_eval:exprs(Es, []), {ok, V}
                           catch C:R:S -> {raised, C, R, S} end end,
            case rpc:call(Node, erlang, apply, [Fun, []], 30000) of
                {ok, V} -> io:format("~tp~n", [V]), halt(0);
                Other -> io:format(standard_error, "lab_rpc: ~tp~n", [Other]), halt(1)
            end.'
}

# lab_ejabberd_stop NAME: a clean stop, waiting until the node and its
# launcher are gone. SIGTERM to the beam runs init:stop(), exactly what
# `ejabberdctl stop` does, without a client VM (1-2 s saved per stop).
# KILL if it takes longer than LAB_START_TIMEOUT.
lab_ejabberd_stop() {
    local name=$1 beam jobpid
    [ "$(_lab_kind "$name")" = ejabberd ] || { lab_log "lab_ejabberd_stop: $name is not an ejabberd instance"; return 1; }
    jobpid=$(_lab_get "$name" jobpid)
    beam=$(_lab_ej_beam_pid "$name")
    if [ -z "$beam" ] && ! _lab_pid_alive "$jobpid"; then
        return 0
    fi
    local pids=()
    if [ -n "$beam" ]; then
        kill -TERM "$beam" 2>/dev/null
        pids+=("$beam")
    else
        # Still booting (no pid file yet): stop the launcher's whole tree.
        mapfile -t pids < <(_lab_descendants "$jobpid")
        _lab_kill_pids "${pids[@]}"
    fi
    _lab_pid_alive "$jobpid" && pids+=("$jobpid")
    if ! _lab_poll "$LAB_START_TIMEOUT" 0.1 _lab_none_alive "${pids[@]}"; then
        lab_log "ejabberd $name did not stop; killing it"
        _lab_kill_pids "${pids[@]}"
    fi
    wait "$jobpid" 2>/dev/null
    _lab_set "$name" jobpid ""
}

_lab_kill_pids() {
    local p
    for p; do kill -TERM "$p" 2>/dev/null; done
    _lab_poll 5 0.1 _lab_none_alive "$@" && return 0
    for p; do kill -KILL "$p" 2>/dev/null; done
    _lab_poll 5 0.1 _lab_none_alive "$@"
}

# lab_ejabberd_restart NAME [nowait]: stop and start with the same config
# and spool (Mnesia survives).
lab_ejabberd_restart() {
    local name=$1
    lab_ejabberd_stop "$name" || return 1
    _lab_ej_launch "$name" || return 1
    [ "${2:-}" = nowait ] || lab_wait_ready "$name"
}

# lab_ejabberd_kill9 NAME: SIGKILL the beam (a crash: no Mnesia shutdown);
# waits until it and its launcher are gone. Start it again with
# lab_ejabberd_restart.
lab_ejabberd_kill9() {
    local name=$1 beam jobpid
    beam=$(_lab_ej_beam_pid "$name") || { lab_log "ejabberd $name has no running beam"; return 1; }
    jobpid=$(_lab_get "$name" jobpid)
    kill -KILL "$beam"
    _lab_poll 10 0.05 _lab_none_alive "$beam" ${jobpid:+"$jobpid"} || { lab_log "ejabberd $name survived kill -9?"; return 1; }
    wait "$jobpid" 2>/dev/null
    _lab_set "$name" jobpid ""
}

# ---- prosody --------------------------------------------------------------------

_lab_pr_cfg() { echo "$(_lab_dir "$1")/prosody.cfg.lua"; }

# lab_prosody_start NAME DOMAIN IP CERT KEY [OPTION...]
#   secure_auth=false (default) | true     s2s_secure_auth
#   ca_file=PATH                           ssl.cafile (default the test root)
#   modules=NAME[,NAME...]                 extra modules_enabled
#   config=LUA                             extra global config lines
#   ip6=ADDR                               also listen on ADDR (fd00:5274::N, in the
#                                          test's own network namespace), DOMAIN's AAAA
#   v6only                                 with ip6: DOMAIN has no A, only the AAAA
#   shared                                 with ip6: the IPv6 side of a DOMAIN another
#                                          instance serves over IPv4 (a dual-stack
#                                          domain with two servers); only the AAAA
#   nowait
# CERT may be an issued leaf name, with KEY given as "-".
lab_prosody_start() {
    local name=$1 domain=$2 ip=$3 cert=$4 key=$5
    shift 5 || { lab_log "usage: lab_prosody_start NAME DOMAIN IP CERT KEY [options]"; return 1; }
    local secure=false ca_file=$LAB_DIR/pki/root.pem extra_mods='' config='' wait=1 opt m ip6='' v6only=0
    # dynamic scope: _lab_new_instance reads it
    local _lab_shared=0
    for opt; do
        case $opt in
            secure_auth=true | secure_auth=false) secure=${opt#secure_auth=} ;;
            ca_file=*) ca_file=${opt#ca_file=} ;;
            modules=*)
                m=${opt#modules=}
                for m in ${m//,/ }; do extra_mods+=" \"$m\";"; done ;;
            config=*) config+=${opt#config=}$'\n' ;;
            ip6=*) ip6=${opt#ip6=} ;;
            v6only) v6only=1 ;;
            shared) _lab_shared=1 ;;
            nowait) wait=0 ;;
            *) lab_log "lab_prosody_start $name: unknown option '$opt'"; return 1 ;;
        esac
    done
    if _lab_pid_alive "$(_lab_get "$name" pid 2>/dev/null)"; then
        lab_log "prosody $name is already running"
        return 1
    fi
    local certfile keyfile
    certfile=$(_lab_cert_file "$cert" chain) || return 1
    if [ "$key" = - ] || [ -z "$key" ]; then keyfile=$(lab_cert "$cert" key) || return 1; else keyfile=$key; fi
    [ -r "$keyfile" ] || { lab_log "key $keyfile not readable"; return 1; }
    [ $v6only = 0 ] || [ -n "$ip6" ] || { lab_log "lab_prosody_start $name: v6only needs ip6="; return 1; }
    [ $_lab_shared = 0 ] || [ -n "$ip6" ] || { lab_log "lab_prosody_start $name: shared needs ip6="; return 1; }
    if [ -n "$ip6" ]; then _lab_add_ip6 "$domain" "$ip6" $v6only || return 1; fi
    _lab_new_instance "$name" prosody "$domain" "$ip" || return 1
    _lab_addr_free "$ip" 5269 || return 1

    local d
    d=$(_lab_dir "$name")
    mkdir -p "$d/data" "$d/certs"
    # prosody reads them after dropping to its user.
    install -m 0644 "$certfile" "$d/cert.pem"
    install -m 0600 "$keyfile" "$d/key.pem"
    install -m 0644 "$ca_file" "$d/ca.pem"
    local level=$LAB_LOGLEVEL
    [ "$level" = warning ] && level=warn
    cat >"$(_lab_pr_cfg "$name")" <<EOF
-- Written by tests/e2e/lab.sh for instance $name ($domain).
pidfile = "$d/prosody.pid"
daemonize = false
data_path = "$d/data"
admin_socket = "$d/prosody.sock"
certificates = "$d/certs"
interfaces = { "$ip"${ip6:+, \"$ip6\"} }
s2s_interfaces = { "$ip"${ip6:+, \"$ip6\"} }
c2s_interfaces = { "$ip" }
local_interfaces = { "$ip" }
http_interfaces = { "$ip" }
https_interfaces = { "$ip" }
-- Nobody talks c2s in the lab.
modules_disabled = { "c2s" }
modules_enabled = { "tls"; "saslauth"; "dialback"; "disco"; "ping"; "roster";
    "admin_shell"; "admin_socket";$extra_mods }
s2s_require_encryption = true
s2s_secure_auth = $secure
authentication = "internal_hashed"
storage = "internal"
ssl = { cafile = "$d/ca.pem" }
-- libunbound with the lab hosts file and a dead-end nameserver; test. is a
-- local zone, so every lookup is answered on this machine.
unbound = {
    hoststxt = "$LAB_DIR/net/hosts";
    resolvconf = "$LAB_DIR/net/resolv.conf";
    options = { ["local-zone:"] = "test. static" };
}
log = { { levels = { min = "$level" }, to = "file", filename = "$d/prosody.log" } }
$config
-- A host-level ssl table replaces the global one, so cafile is repeated;
-- bare certificate/key options would not pair the key with the cert.
VirtualHost "$domain"
    ssl = {
        certificate = "$d/cert.pem";
        key = "$d/key.pem";
        cafile = "$d/ca.pem";
    }
EOF
    chown -R prosody:prosody "$d/data" "$d/certs" "$d/cert.pem" "$d/key.pem" "$d/ca.pem"
    chmod 0644 "$(_lab_pr_cfg "$name")"
    # prosody writes its pid file and log into the instance dir itself.
    chown prosody:prosody "$d"
    _lab_set "$name" mode "secure_auth=$secure"
    _lab_pr_launch "$name" || return 1
    [ $wait = 1 ] || return 0
    lab_wait_ready "$name"
}

# The prosody binary refuses root and does not switch users itself:
# setpriv execs, so $! is prosody's own pid.
_lab_pr_launch() {
    local name=$1 d
    d=$(_lab_dir "$name")
    rm -f "$d/prosody.sock" "$d/prosody.pid"
    _lab_set "$name" started_ms "$(_lab_ms)"
    echo "=== launch $(date -u +%FT%TZ)" >>"$d/prosody.out"
    setpriv --reuid=prosody --regid=prosody --init-groups \
        env HOME="$d/data" "$LAB_PROSODY" -F --config "$(_lab_pr_cfg "$name")" \
        </dev/null >>"$d/prosody.out" 2>&1 &
    _lab_set "$name" pid "$!"
}

_lab_pr_ready_once() {
    local name=$1 d
    d=$(_lab_dir "$name")
    _lab_pid_alive "$(_lab_get "$name" pid)" || return 2
    _lab_listening "$(_lab_get "$name" ip)" 5269 && [ -S "$d/prosody.sock" ]
}

_lab_pr_wait_ready() {
    local name=$1 deadline rc t0
    t0=$(_lab_get "$name" started_ms)
    deadline=$(($(_lab_ms) + LAB_START_TIMEOUT * 1000))
    while :; do
        _lab_pr_ready_once "$name"
        rc=$?
        [ $rc = 0 ] && break
        if [ $rc = 2 ]; then
            _lab_fail "prosody $name exited during startup" "$name"
            return 1
        fi
        if (($(_lab_ms) >= deadline)); then
            _lab_fail "prosody $name not ready after ${LAB_START_TIMEOUT}s" "$name"
            return 1
        fi
        sleep 0.05
    done
    local ms=$(($(_lab_ms) - t0))
    _lab_set "$name" ready_ms "$ms"
    lab_log "prosody $name ($(_lab_get "$name" domain), $(_lab_get "$name" mode)) ready in ${ms} ms"
}

# lab_prosody_stop NAME: TERM, wait, KILL as a last resort.
lab_prosody_stop() {
    local name=$1 pid
    [ "$(_lab_kind "$name")" = prosody ] || { lab_log "lab_prosody_stop: $name is not a prosody instance"; return 1; }
    pid=$(_lab_get "$name" pid)
    _lab_pid_alive "$pid" || return 0
    kill -TERM "$pid"
    if ! _lab_poll 15 0.05 _lab_none_alive "$pid"; then
        lab_log "prosody $name did not stop on TERM; killing it"
        kill -KILL "$pid"
    fi
    wait "$pid" 2>/dev/null
    _lab_set "$name" pid ""
}

# lab_prosody_restart NAME: same config and data.
lab_prosody_restart() {
    lab_prosody_stop "$1" || return 1
    _lab_pr_launch "$1" || return 1
    [ "${2:-}" = nowait ] || lab_wait_ready "$1"
}

# lab_prosodyctl NAME ARGS...: prosodyctl with that instance's config (it
# switches to user prosody itself).
lab_prosodyctl() {
    local name=$1
    shift
    [ "$(_lab_kind "$name")" = prosody ] || { lab_log "lab_prosodyctl: $name is not a prosody instance"; return 1; }
    "$LAB_PROSODYCTL" --config "$(_lab_pr_cfg "$name")" "$@"
}

# lab_prosody_shell NAME COMMAND: one admin-shell command (prosodyctl
# shell), e.g. 'xmpp:ping("c.test", "a.test", 5)'; a COMMAND starting with
# ">" is raw Lua. Prints the output; non-zero when the shell reports an
# error (prosodyctl exits 1 then).
lab_prosody_shell() {
    lab_prosodyctl "$1" shell "$2" 2>&1
}

# ---- users and messages ------------------------------------------------------

_lab_user() { echo "${1%@*}"; }
_lab_domain() { local j=${1#*@}; echo "${j%%/*}"; }

# lab_register JID [PASSWORD]: on whichever instance serves the JID's domain.
lab_register() {
    local jid=$1 pass=${2:-pass-$RANDOM$RANDOM} name user domain
    user=$(_lab_user "$jid")
    domain=$(_lab_domain "$jid")
    name=$(_lab_instance_of "$domain") || return 1
    case $(_lab_kind "$name") in
        ejabberd) lab_ctl "$name" register "$user" "$domain" "$pass" >/dev/null ||
            { lab_log "register $jid on $name failed"; return 1; } ;;
        prosody) lab_prosodyctl "$name" register "$user" "$domain" "$pass" >/dev/null 2>&1 ||
            { lab_log "register $jid on $name failed"; return 1; } ;;
    esac
}

# lab_user_exists JID
lab_user_exists() {
    local jid=$1 name user domain
    user=$(_lab_user "$jid")
    domain=$(_lab_domain "$jid")
    name=$(_lab_instance_of "$domain") || return 1
    case $(_lab_kind "$name") in
        ejabberd) lab_ctl "$name" check_account "$user" "$domain" >/dev/null 2>&1 ;;
        prosody) [ -f "$(_lab_dir "$name")/data/$(_lab_pr_escape "$domain")/accounts/$(_lab_pr_escape "$user").dat" ] ;;
    esac
}

# lab_mark [NAME...]: remember the current end of each named instance's log
# (all instances when none named); lab_wait_log looks only past the mark.
lab_mark() {
    local names=("$@")
    [ $# -eq 0 ] && mapfile -t names < <(_lab_all_instances)
    _lab_mark_names "${names[@]}"
}

_lab_mark_names() {
    local name f size
    for name; do
        f=$(_lab_logfile "$name") || continue
        size=$(stat -c %s "$f" 2>/dev/null || echo 0)
        _lab_set "$name" mark "$size"
    done
}

_lab_all_instances() {
    local f
    for f in "$LAB_DIR"/*/meta; do
        [ -e "$f" ] && basename "$(dirname "$f")"
    done
}

_lab_log_since_mark() {
    local name=$1 f mark size
    f=$(_lab_logfile "$name") || return 1
    [ -r "$f" ] || return 1
    mark=$(_lab_get "$name" mark)
    mark=${mark:-0}
    size=$(stat -c %s "$f")
    # A log that shrank was rotated or replaced: read it whole.
    ((size < mark)) && mark=0
    tail -c +$((mark + 1)) "$f"
}

_lab_log_has() { _lab_log_since_mark "$1" | grep -Eq -- "$2"; }

# lab_wait_log NAME REGEX [TIMEOUT]: poll NAME's log (past its mark) for an
# extended regex; the loggers write asynchronously.
lab_wait_log() {
    local name=$1 re=$2 timeout=${3:-$LAB_TIMEOUT}
    _lab_need_instance "$name" || return 1
    _lab_poll "$timeout" 0.1 _lab_log_has "$name" "$re" && return 0
    _lab_fail "no line matching /$re/ in $name's log within ${timeout}s" "$name"
}

# lab_wait_logged NAME REGEX [TIMEOUT]: as lab_wait_log, over NAME's whole
# log: for a line that may come before the last mark (an acceptance
# logged by whichever stream, inbound or outbound, judged first).
_lab_log_whole_has() { local f; f=$(_lab_logfile "$1") && [ -r "$f" ] && grep -Eq -- "$2" "$f"; }
lab_wait_logged() {
    local name=$1 re=$2 timeout=${3:-$LAB_TIMEOUT}
    _lab_need_instance "$name" || return 1
    _lab_poll "$timeout" 0.1 _lab_log_whole_has "$name" "$re" && return 0
    _lab_fail "no line matching /$re/ in $name's log within ${timeout}s" "$name"
}

# ---- which ejabberd ------------------------------------------------------------
# The lab runs the release's own ejabberd: 23.01 on Debian 12, 24.12 on
# Debian 13, 26.07 on unstable. Tests whose expectations differ between them
# ask about the behaviour itself (a feature probe of the installed code), not
# the version number, and say which releases behave how (docs/testing.md).

# lab_ejabberd_version: the Debian version of the installed ejabberd.
lab_ejabberd_version() { dpkg-query -W -f='${Version}' ejabberd 2>/dev/null; }

_lab_ej_ebin() { ls -d /usr/lib/*/ejabberd-[0-9]*/ebin 2>/dev/null | head -n 1; }

# lab_ejabberd_checks_server_purpose: true when ejabberd checks an inbound
# peer's certificate for the TLS server purpose (fast_tls's
# override_cert_purpose: upstream 25.07+, and Debian 13's 24.12-3+deb13u2),
# so that serverAuth-only peers pass its own EXTERNAL check; 23.01 checks
# the client purpose and refuses them.
lab_ejabberd_checks_server_purpose() {
    grep -qa override_cert_purpose "$(_lab_ej_ebin)/ejabberd_s2s_in.beam"
}

# lab_ejabberd_api_latest: true when mod_http_api answers in the latest API
# version by default (24.x+, option default_version): a string result is
# then the bare JSON string; 23.01 defaults to version 0 and wraps it as
# {"<result name>": "..."}.
lab_ejabberd_api_latest() {
    grep -qa default_version "$(_lab_ej_ebin)/mod_http_api.beam"
}

# lab_ejabberd_has_module MOD: the installed ejabberd ships MOD
# (mod_s2s_bidi: 24.10+).
lab_ejabberd_has_module() { [ -e "$(_lab_ej_ebin)/$1.beam" ]; }

# lab_wait_s2s_gone NAME FROM_DOMAIN TO_DOMAIN [TIMEOUT]: wait until NAME
# (ejabberd) holds no outbound s2s connection FROM -> TO. After a refused
# attempt ejabberd keeps the failed connection "bouncing for N seconds" and
# bounces every stanza routed to it without a new attempt; a test that sends
# again in that direction and waits for the refusal waits for this first.
lab_wait_s2s_gone() {
    local name=$1 from=$2 to=$3 timeout=${4:-$LAB_TIMEOUT}
    _lab_poll "$timeout" 0.2 _lab_s2s_gone "$name" "$from" "$to" && return 0
    _lab_fail "$name still holds an outbound s2s connection $from -> $to after ${timeout}s" "$name"
}
_lab_s2s_gone() {
    [ "$(lab_rpc "$1" "ejabberd_s2s:get_connections_pids({<<\"$2\">>, <<\"$3\">>})" 2>/dev/null)" = "[]" ]
}

# lab_send FROM_JID TO_JID BODY: a chat message, injected on the server of
# FROM_JID's domain and routed by it (over s2s when TO is remote). Marks
# every log first, so lab_wait_log afterwards sees only what followed.
lab_send() {
    local from=$1 to=$2 body=$3 name domain
    domain=$(_lab_domain "$from")
    name=$(_lab_instance_of "$domain") || return 1
    local all
    mapfile -t all < <(_lab_all_instances)
    _lab_mark_names "${all[@]}"
    case $(_lab_kind "$name") in
        ejabberd)
            lab_ctl "$name" send_message chat "$from" "$to" "" "$body" >/dev/null ||
                { lab_log "send_message on $name failed"; return 1; } ;;
        prosody)
            local lb=${body//\\/\\\\}
            lb=${lb//\"/\\\"}
            lab_prosody_shell "$name" ">local st = require 'util.stanza'; prosody.core_post_stanza(prosody.hosts[\"$domain\"], st.message({ from = \"$from\", to = \"$to\", type = \"chat\" }):text_tag(\"body\", \"$lb\"))" >/dev/null ||
                { lab_log "sending from $name's shell failed"; return 1; } ;;
    esac
}

# prosody's datamanager escapes every non-alphanumeric byte as %xx.
_lab_pr_escape() {
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        if [[ $c =~ [A-Za-z0-9] ]]; then out+=$c; else out+=$(printf '%%%02x' "'$c"); fi
    done
    echo "$out"
}

# lab_has_message JID BODY: BODY sits in JID's offline storage (its only
# storage in the lab: nobody logs in). BODY is a fixed string.
lab_has_message() {
    local jid=$1 body=$2 name user domain
    user=$(_lab_user "$jid")
    domain=$(_lab_domain "$jid")
    name=$(_lab_instance_of "$domain") || return 1
    case $(_lab_kind "$name") in
        ejabberd)
            lab_rpc "$name" "mod_offline:get_offline_els(<<\"$user\">>, <<\"$domain\">>)" 2>/dev/null |
                grep -qF -- "$body" ;;
        prosody)
            grep -qsF -- "$body" "$(_lab_dir "$name")/data/$(_lab_pr_escape "$domain")/offline/$(_lab_pr_escape "$user").list" ;;
    esac
}

# lab_wait_delivered JID BODY [TIMEOUT]
lab_wait_delivered() {
    local jid=$1 body=$2 timeout=${3:-$LAB_TIMEOUT}
    _lab_poll "$timeout" 0.2 lab_has_message "$jid" "$body" && return 0
    _lab_fail "message '$body' not delivered to $jid within ${timeout}s"
}

# lab_assert_not_delivered JID BODY EVIDENCE_NAME EVIDENCE_REGEX [TIMEOUT]
# Waits for the refusal to show in EVIDENCE_NAME's log (a line that means
# the stanza was bounced or the stream refused), then checks once that
# BODY did not reach JID.
lab_assert_not_delivered() {
    local jid=$1 body=$2 ev=$3 re=$4 timeout=${5:-$LAB_TIMEOUT}
    lab_wait_log "$ev" "$re" "$timeout" || {
        lab_log "no evidence of refusal for '$body' -> $jid"
        return 1
    }
    if lab_has_message "$jid" "$body"; then
        _lab_fail "message '$body' WAS delivered to $jid (despite /$re/ in $ev's log)"
        return 1
    fi
}

# ---- checks and teardown ----------------------------------------------------

# lab_assert_loopback_only: every TCP listener of a lab process is on
# 127.x; no epmd appeared during the run.
lab_assert_loopback_only() {
    local p inode inodes bad=0 sl addr state pids found=0
    mapfile -t pids < <(_lab_run_dir_pids)
    [ ${#pids[@]} -gt 0 ] || { lab_log "no lab process is running"; return 1; }
    local fds=()
    for p in "${pids[@]}" $(_lab_children_of "${pids[@]}"); do fds+=("/proc/$p/fd"); done
    # One find for every fd of every process (readlink per fd is slow).
    inodes=" $(find "${fds[@]}" -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%l\n' 2>/dev/null |
        sed 's/^socket:\[\(.*\)\]$/\1/' | tr '\n' ' ') "
    # Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    while read -r sl addr _ state _ _ _ _ _ inode _; do
        [ "$state" = 0A ] || continue
        [[ $inodes == *" $inode "* ]] || continue
        found=$((found + 1))
        case $sl:$addr in
            tcp:??????7F:*) ;;
            tcp6:745200FD0000000000000000????????:*) ;;   # fd00:5274::/96, the test's own namespace
            *) lab_log "lab process listens on $addr ($sl; not 127.x)"; bad=1 ;;
        esac
    done < <(tail -n +2 /proc/net/tcp | sed 's/^ *[0-9]*:/tcp/'
        tail -n +2 /proc/net/tcp6 | sed 's/^ *[0-9]*:/tcp6/')
    # Zero would mean the scan saw nothing, not that all is well.
    if [ $found = 0 ]; then
        lab_log "found no listening socket of any lab process"
        bad=1
    fi
    if [ ! -e "$LAB_DIR/net/epmd-before" ] && _lab_port_listened_anywhere 4369; then
        lab_log "something listens on port 4369 (epmd) since the lab started"
        bad=1
    fi
    [ $bad = 0 ] && lab_log "$found listening sockets of lab processes, all on 127.x (or ${LAB_IP6_PREFIX}N in the test's namespace); no epmd"
}

# _lab_descendants PID: PID's descendants, deepest first.
_lab_descendants() {
    local c kids
    read -r -a kids < <(cat "/proc/$1/task/"*/children 2>/dev/null)
    for c in "${kids[@]}"; do
        _lab_descendants "$c"
        echo "$c"
    done
}

# Children of lab processes whose own command line does not name the run
# dir (beam.smp's erl_child_setup, inet_gethost).
_lab_children_of() {
    local p
    for p; do
        cat "/proc/$p/task/"*/children 2>/dev/null
    done | tr ' ' '\n' | sed '/^$/d' | sort -u
}

# lab_teardown: stop every server (TERM, in parallel), then anything else
# naming the run dir. Called by the EXIT trap; safe to call twice.
lab_teardown() {
    local name servers=() all=() p
    [ -n "${LAB_DIR:-}" ] && [ -e "$LAB_DIR/$LAB_MARKER" ] || return 0
    for name in $(_lab_all_instances); do
        case $(_lab_kind "$name") in
            ejabberd) p=$(_lab_ej_beam_pid "$name") && servers+=("$p")
                # The launcher (ejabberdctl, su) ends with its beam.
                p=$(_lab_get "$name" jobpid) && _lab_pid_alive "$p" && all+=("$p") ;;
            prosody) p=$(_lab_get "$name" pid) && _lab_pid_alive "$p" && servers+=("$p") ;;
        esac
    done
    all+=("${servers[@]}")
    # SIGTERM: a clean stop for both servers (lab_ejabberd_stop says why).
    if [ ${#all[@]} -gt 0 ]; then
        for p in "${servers[@]}"; do kill -TERM "$p" 2>/dev/null; done
        _lab_poll 15 0.1 _lab_none_alive "${all[@]}" ||
            for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null; done
    fi
    _lab_kill_run_dir_pids
    wait 2>/dev/null
    return 0
}
