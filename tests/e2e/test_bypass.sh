#!/usr/bin/env bash
# tests/e2e/test_bypass.sh - no stanza crosses without a judged certificate
# (docs/security.md): every path a peer, or a server we connect to, could use
# to get a stanza across, attacked with real servers and with a raw peer that
# breaks the protocol's order (tests/e2e/rawpeer.py).
#
#   w.test    ejabberd + module (enforce), dialback, STARTTLS required, and
#             mod_s2s_bidi where the release has it (24.12, 26.07)
#   t.test    stock ejabberd, valid certificate, bidi: the trusted bidi peer
#   u.test    stock ejabberd, self-signed, dialback, bidi: it connects first
#   v.test    the same: w.test connects first
#   evil1-4   raw servers w.test connects to: stanzas before TLS, stanzas
#             after TLS before authentication, an unsolicited dialback
#             "valid", no TLS at all
#   pb.test   a raw peer that piggybacks piggy.test on its dialback stream
#             (a raw dialback authority answers for both)
#   strict.test lax.test ex.test   one ejabberd, the module enforcing,
#             auditing, and enforcing with q.test exempt; raw peers p.test and
#             q.test open their stream to the lax vhosts, address the strict one
#   n.test    ejabberd federating with k.test (Prosody, self-signed) and
#             o.test (stock ejabberd, valid) before the module is enabled
#   j.test    ejabberd + module in audit mode, federating with k.test, then
#             switched to enforce by reload_config
#   l.test    ejabberd + module, no dialback, STARTTLS required,
#             max_violators 50: ejabberd's own refusals, then a flood
#
# bidi cases run where ejabberd ships mod_s2s_bidi; on 23.01 they are
# reported "n/a" (the path does not exist there) and not counted.
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-lab-bypass}"
: "${LAB_DIST_BASE:=27600}"
export LAB_DIR LAB_DIST_BASE
# shellcheck source=tests/e2e/lab.sh
source "$HERE/lab.sh"
# shellcheck source=tests/e2e/testing.sh
source "$HERE/testing.sh"
E2E_LOGS=(a)
REPO=$LAB_REPO
RAWPEER=$HERE/rawpeer.py

declare -A IP=([a]=127.0.0.81 [b]=127.0.0.82 [u]=127.0.0.83 [v]=127.0.0.84 [m]=127.0.0.85
               [h]=127.0.0.86 [c]=127.0.0.87 [g]=127.0.0.88 [f]=127.0.0.89
               [evil1]=127.0.0.90 [evil2]=127.0.0.91 [evil3]=127.0.0.92 [evil4]=127.0.0.93
               [auth]=127.0.0.94 [j]=127.0.0.95)
lab_init || exit 1
lab_add_host k.test "${IP[c]}" && lab_add_host o.test "${IP[g]}" && lab_add_host j.test "${IP[j]}" || exit 1

BIDI=no
lab_ejabberd_has_module mod_s2s_bidi && BIDI=yes
echo "ejabberd $(lab_ejabberd_version); mod_s2s_bidi: $BIDI"
na() { echo "n/a  $1 (ejabberd $(lab_ejabberd_version) has no mod_s2s_bidi)"; }
bidi_yaml() { [ $BIDI = yes ] && printf 'mod_s2s_bidi: {}\n'; }

# ---- certificates and trust ----------------------------------------------------
declare -A DOM=([a]=w.test [b]=t.test [m]=strict.test [h]=n.test [g]=o.test [f]=l.test [p]=p.test [q]=q.test
                [pb]=pb.test [j]=j.test)
for n in a b m h g f p q pb j; do lab_issue_leaf "$n" "${DOM[$n]}" >/dev/null; done
lab_issue_leaf lax lax.test >/dev/null
lab_issue_leaf ex ex.test >/dev/null
lab_issue_leaf c k.test selfsigned >/dev/null
for n in u v z evil2; do lab_issue_leaf "$n" "$n.test" selfsigned >/dev/null; done

TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
cp "$LAB_DIR/pki/root.pem" "$LAB_DIR/pki/root2.pem" "$LAB_DIR/pki/pool.pem" "$TRUST/"
printf 'ca_file = "root.pem";\nintermediate_file = "pool.pem";\n' >"$TRUST/trust.conf"
# The multi-vhost server's module trusts only another root: certificates
# that ejabberd itself accepts for SASL EXTERNAL (its ca_file is the test
# root) are unknown_issuer to the module.
printf 'ca_file = "root2.pem";\n' >"$TRUST/other-root.conf"
chmod -R a+rX "$TRUST"
module() { # MODE [EXTRA YAML LINES]
    printf 'mod_s2s_trust:\n  trust_config: "%s"\n  mode: %s\n' "$TRUST/trust.conf" "$1"
    [ $# -gt 1 ] && printf '%s\n' "$2"
}

# ---- servers -----------------------------------------------------------------------
lab_ejabberd_start a w.test "${IP[a]}" a starttls=required dialback=yes code="$REPO" \
    modules="$(module enforce)" modules="$(bidi_yaml)" nowait || exit 1
lab_ejabberd_start b t.test "${IP[b]}" b starttls=required dialback=yes modules="$(bidi_yaml)" nowait || exit 1
lab_ejabberd_start u u.test "${IP[u]}" u starttls=required dialback=yes modules="$(bidi_yaml)" nowait || exit 1
lab_ejabberd_start v v.test "${IP[v]}" v starttls=required dialback=yes modules="$(bidi_yaml)" nowait || exit 1
VHOSTS_YAML="append_host_config:
  strict.test:
    modules:
      mod_s2s_trust: {trust_config: \"$TRUST/other-root.conf\", mode: enforce}
  lax.test:
    modules:
      mod_s2s_trust: {trust_config: \"$TRUST/other-root.conf\", mode: audit}
  ex.test:
    modules:
      mod_s2s_trust: {trust_config: \"$TRUST/other-root.conf\", mode: enforce, exempt: [q.test]}"
lab_ejabberd_start m strict.test "${IP[m]}" m starttls=required dialback=no code="$REPO" \
    vhost=lax.test=lax vhost=ex.test=ex yaml="$VHOSTS_YAML" nowait || exit 1
# h: the module's code is there, the module is not loaded yet.
lab_ejabberd_start h n.test "${IP[h]}" h starttls=optional dialback=yes code="$REPO" nowait || exit 1
lab_ejabberd_start g o.test "${IP[g]}" g starttls=optional dialback=yes nowait || exit 1
# j: the module in audit mode, switched to enforce by reload_config later.
lab_ejabberd_start j j.test "${IP[j]}" j starttls=optional dialback=yes code="$REPO" \
    modules="$(module audit)" nowait || exit 1
lab_prosody_start c k.test "${IP[c]}" c - secure_auth=false nowait || exit 1
lab_ejabberd_start f l.test "${IP[f]}" f hardened code="$REPO" \
    modules="$(module enforce '  max_violators: 50')" nowait || exit 1
lab_wait_ready a b u v m h g c f j || exit 1
for j in alice@w.test bob@t.test ursula@u.test victor@v.test sue@strict.test lea@lax.test \
    eve@ex.test hal@n.test gil@o.test carol@k.test fay@l.test jo@j.test; do
    lab_register "$j" pw || exit 1
done

# ---- raw servers w.test connects to -------------------------------------------------
raw_server() { # NAME MODE
    local name=$1 mode=$2
    lab_add_host "$name.test" "${IP[$name]}" || return 1
    python3 "$RAWPEER" server --listen "${IP[$name]}:5269" --domain "$name.test" \
        --cert "$(lab_cert evil2 cert)" --key "$(lab_cert evil2 key)" --mode "$mode" \
        --stanza "<message from='mallory@$name.test' to='alice@w.test' type='chat'><body>INJECTED by $name</body></message>" \
        --transcript "$LAB_DIR/$name.transcript" --ready "$LAB_DIR/$name.ready" \
        >>"$LAB_DIR/$name.out" 2>&1 &
    _lab_poll 10 0.1 test -e "$LAB_DIR/$name.ready"
}
raw_server evil1 inject-plain || exit 1
raw_server evil2 inject-tls || exit 1
raw_server evil3 db-valid || exit 1
raw_server evil4 no-starttls || exit 1
# The dialback authority for pb.test and piggy.test (the piggyback case).
lab_add_host pb.test "${IP[auth]}" && lab_add_host piggy.test "${IP[auth]}" || exit 1
raw_server auth dialback-authority || exit 1

REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of'
REFUSED_OUT='mod_s2s_trust: refused outbound s2s stream of'
listed() { # INSTANCE DOMAIN REASON: DOMAIN is on INSTANCE's violators list with REASON
    lab_ctl "$1" s2s_trust_violators | grep -Eq "^${2//./\\.}[[:space:]].*$3"
}
not_listed() { ! lab_ctl "$1" s2s_trust_violators | grep -Eq "^${2//./\\.}[[:space:]]"; }
# How many violations INSTANCE counted for DOMAIN (0 when not listed).
count_of() {
    lab_ctl "$1" s2s_trust_violators | awk -v d="$2" '$1 == d { print $NF; found = 1 } END { if (!found) print 0 }'
}
# Repeated refusals of one peer are logged once a minute (the throttle):
# the violation count is the evidence of a refusal that follows another.
count_grows() { [ "$(count_of "$1" "$2")" -gt "$3" ]; }
body() { echo "bypass-$1-$$-$RANDOM"; }
msg() { printf "<message from='%s' to='%s' type='chat'><body>%s</body></message>" "$1" "$2" "$3"; }

# Streams of INSTANCE: "<in> <out>" counts of its s2s supervisors.
streams() {
    lab_rpc "$1" '{length(supervisor:which_children(ejabberd_s2s_in_sup)), length(supervisor:which_children(ejabberd_s2s_out_sup))}' |
        tr -d '{} ' | tr ',' ' '
}

# ==== 1. bidirectional streams (XEP-0288) ==============================================
if [ $BIDI = yes ]; then
    # A trusted bidi peer: both ways over ONE stream (b connects, a answers on it).
    trusted_bidi() {
        local b1 b2
        b1=$(body b2a); b2=$(body a2b)
        lab_send bob@t.test alice@w.test "$b1" || return 1
        lab_wait_delivered alice@w.test "$b1" || return 1
        lab_send alice@w.test bob@t.test "$b2" || return 1
        lab_wait_delivered bob@t.test "$b2" || return 1
        # a: one inbound stream (b's), no outbound; b: the reverse.
        [ "$(streams a)" = "1 0" ] || { lab_log "a streams (in out): $(streams a)"; return 1; }
        [ "$(streams b)" = "0 1" ] || { lab_log "b streams (in out): $(streams b)"; return 1; }
    }
    check "bidi: trusted peer delivers both ways over one stream" a b -- trusted_bidi

    # An untrusted bidi peer gets nothing across, whichever side connects
    # first, and w.test never makes the peer's inbound stream its route there.
    not_in() { # INSTANCE DOMAIN USER
        local b
        b=$(body "$1-in")
        lab_send "$3@$2" alice@w.test "$b" || return 1
        lab_assert_not_delivered alice@w.test "$b" a "$REFUSED_IN ${2//./\\.}"
    }
    not_out() { # INSTANCE DOMAIN USER
        local b
        b=$(body "$1-out")
        lab_send alice@w.test "$3@$2" "$b" || return 1
        lab_assert_not_delivered "$3@$2" "$b" a "$REFUSED_OUT ${2//./\\.}"
    }
    not_our_route() { # DOMAIN
        local route
        route=$(lab_rpc a "[P || P <- ejabberd_s2s:get_connections_pids({<<\"w.test\">>, <<\"$1\">>}), lists:member(P, [C || {_, C, _, _} <- supervisor:which_children(ejabberd_s2s_in_sup)])]")
        [ "$route" = "[]" ] || { lab_log "$1's inbound stream is w.test's route: $route"; return 1; }
    }
    check "bidi: untrusted peer connecting first gets nothing across, either way" a u -- \
        eval 'not_in u u.test ursula && not_out u u.test ursula && not_our_route u.test'
    check "bidi: untrusted peer, a connecting first, gets nothing across" a v -- \
        eval 'not_out v v.test victor && not_in v v.test victor && not_our_route v.test'
else
    na "bidi: trusted peer delivers both ways over one stream"
    na "bidi: untrusted peer connecting first gets nothing across, either way"
    na "bidi: untrusted peer, a connecting first, gets nothing across"
fi

# ==== 2. a hostile server we connect to ================================================
# a sends to the raw server, which answers with a stanza "from" its domain to
# alice before anything is authenticated. It must never reach alice.
injected() { # NAME EVIDENCE_REGEX
    local name=$1 re=$2
    lab_send alice@w.test "mallory@$name.test" "$(body "to-$name")" || return 1
    lab_wait_log a "$re" || return 1
    _lab_poll 5 0.2 grep -q "INJECTED by $name" "$LAB_DIR/$name.transcript" 2>/dev/null
    if lab_has_message alice@w.test "INJECTED by $name"; then
        lab_log "the stanza injected by $name.test WAS delivered to alice@w.test"
        return 1
    fi
}
UNAUTH="dropped a stanza from|refused outbound s2s stream of evil[12]\\.test: not_authenticated"
check "hostile server: a stanza before TLS is not delivered" a -- \
    injected evil1 "mod_s2s_trust: .*evil1\\.test.*not_authenticated|$UNAUTH"
check "hostile server: a stanza after TLS, before authentication, is not delivered" a -- \
    injected evil2 "mod_s2s_trust: .*evil2\\.test.*not_authenticated|$UNAUTH"
check "hostile server: both recorded (not_authenticated)" a -- \
    eval 'listed a evil1.test not_authenticated && listed a evil2.test not_authenticated'
# An unsolicited <db:result type='valid'/> instead of TLS makes ejabberd
# believe the stream authenticated: the module still judges it (no
# certificate) and our queued stanza never leaves.
db_valid() {
    local b
    b=$(body to-evil3)
    lab_send alice@w.test mallory@evil3.test "$b" || return 1
    lab_wait_log a "$REFUSED_OUT evil3\\.test: no_certificate" || return 1
    if grep -q "$b" "$LAB_DIR/evil3.transcript"; then
        lab_log "our stanza reached evil3.test over an unencrypted stream"
        return 1
    fi
}
check "hostile server: unsolicited dialback 'valid' before TLS refused, our stanza kept back" a -- db_valid
no_tls_out() {
    lab_send alice@w.test mallory@evil4.test "$(body to-evil4)" || return 1
    _lab_poll "$LAB_TIMEOUT" 0.3 listed a evil4.test no_tls
}
check "server without TLS (STARTTLS required): recorded no_tls, outbound" a -- no_tls_out

# ==== 2b. piggybacked dialback ==========================================================
# A raw peer with a valid certificate for pb.test authenticates by dialback,
# then asks dialback to authenticate piggy.test on the same stream (ejabberd
# allows it: its authoritative server, played by the raw authority, says
# "valid"). The certificate does not name piggy.test: refused.
piggyback() {
    local b out
    b=$(body piggy)
    out=$(python3 "$RAWPEER" client --connect "${IP[a]}:5269" --from pb.test --to w.test --tls \
        --cert "$(lab_cert pb chain)" --key "$(lab_cert pb key)" \
        --dialback pb.test --dialback piggy.test \
        --stanza "$(msg x@piggy.test alice@w.test "$b")" --transcript "$LAB_DIR/pb-client.transcript")
    echo "$out" | sed 's/^/     rawpeer: /'
    grep -q '^dialback pb.test: valid$' <<<"$out" || { lab_log "pb.test did not authenticate"; return 1; }
    lab_assert_not_delivered alice@w.test "$b" a "$REFUSED_IN piggy\\.test: name_mismatch" || return 1
    listed a piggy.test name_mismatch && not_listed a pb.test
}
check "piggybacked dialback: a second domain on a judged stream is judged for itself, refused" a -- piggyback

# ==== 3. one policy per stream per vhost ================================================
raw_client() { # NAME FROM TO STANZA...
    local name=$1 from=$2 to=$3
    shift 3
    local args=()
    for s; do args+=(--stanza "$s"); done
    python3 "$RAWPEER" client --connect "${IP[m]}:5269" --from "$from" --to "$to" --tls \
        --cert "$(lab_cert "$name" chain)" --key "$(lab_cert "$name" key)" --external \
        "${args[@]}" --transcript "$LAB_DIR/$name-client.transcript"
}
# A raw peer authenticates by SASL EXTERNAL to a lax vhost, then sends one
# stanza to a user there and one to sue@strict.test on the same stream.
lax_then_strict() { # LEAF USER@DOMAIN LAX_VHOST LAX_USER
    local leaf=$1 from=$2 lax=$3 lax_user=$4 to_strict to_lax dom=${2#*@}
    to_strict=$(body "$leaf-strict"); to_lax=$(body "$leaf-lax")
    lab_mark m
    raw_client "$leaf" "$from" "$lax" "$(msg "$from" "$lax_user" "$to_lax")" \
        "$(msg "$from" sue@strict.test "$to_strict")" || return 1
    lab_wait_delivered "$lax_user" "$to_lax" || return 1
    lab_assert_not_delivered sue@strict.test "$to_strict" m \
        "dropped a stanza from ${dom//./\\.} \\(inbound s2s stream, vhost strict\\.test\\)"
}
check "vhosts: a stream judged by the auditing vhost delivers there, not to the enforcing one" m -- \
    lax_then_strict p pia@p.test lax.test lea@lax.test
# The last verdict for p.test is the strict vhost's refusal (lax audited it first).
refused_on_strict() {
    listed m p.test unknown_issuer &&
        lab_ctl m s2s_trust_check p.test | grep -q '^verdict: *unknown_issuer (refused, inbound'
}
check "vhosts: recorded: audited on lax, then refused on strict" m -- refused_on_strict
check "vhosts: an exemption on one vhost does not open another" m -- \
    lax_then_strict q quin@q.test ex.test eve@ex.test

# ==== 4. enabling the module on a running server ==========================================
federate_h() {
    local b1 b2 b3 b4
    b1=$(body c2h); b2=$(body h2c); b3=$(body g2h); b4=$(body h2g)
    lab_send carol@k.test hal@n.test "$b1" && lab_wait_delivered hal@n.test "$b1" || return 1
    lab_send hal@n.test carol@k.test "$b2" && lab_wait_delivered carol@k.test "$b2" || return 1
    lab_send gil@o.test hal@n.test "$b3" && lab_wait_delivered hal@n.test "$b3" || return 1
    lab_send hal@n.test gil@o.test "$b4" && lab_wait_delivered gil@o.test "$b4"
}
check "hot enable: h federates with c (self-signed) and g before the module" h -- federate_h
enable_module() {
    local conf
    conf=$(_lab_ej_etc h)/ejabberd.yml
    module enforce | sed 's/^/  /' >"$LAB_DIR/h-module.yml"
    sed -i "/^modules:\$/r $LAB_DIR/h-module.yml" "$conf"
    lab_mark h
    lab_ctl h reload_config >/dev/null || return 1
    lab_wait_log h "mod_s2s_trust: started on n\\.test: [0-9]+ live s2s stream\\(s\\) judged, [1-9][0-9]* closed"
}
check "hot enable: reload_config starts the module, which judges the live streams and closes c's" h -- enable_module
check "hot enable: k.test recorded (self_signed)" h -- listed h k.test self_signed
after_enable() {
    local b1 b2
    b1=$(body c2h-after); b2=$(body g2h-after)
    lab_send gil@o.test hal@n.test "$b2" && lab_wait_delivered hal@n.test "$b2" || return 1
    local before
    before=$(count_of h k.test)
    lab_send carol@k.test hal@n.test "$b1" || return 1
    _lab_poll "$LAB_TIMEOUT" 0.3 count_grows h k.test "$before" || { lab_log "no new refusal of k.test"; return 1; }
    ! lab_has_message hal@n.test "$b1"
}
check "hot enable: afterwards c is refused, g still delivers" h -- after_enable

# From audit to enforce, the documented way (reload_config): the live
# streams of the untrusted peer, accepted under audit, are judged again
# under the new mode and closed, both directions.
audit_then_enforce() {
    local b1 b2 before
    b1=$(body k2j-audit); b2=$(body j2k-audit)
    lab_send carol@k.test jo@j.test "$b1" && lab_wait_delivered jo@j.test "$b1" || return 1
    lab_send jo@j.test carol@k.test "$b2" && lab_wait_delivered carol@k.test "$b2" || return 1
    sed -i 's/^    mode: audit$/    mode: enforce/' "$(_lab_ej_etc j)/ejabberd.yml"
    lab_mark j
    lab_ctl j reload_config >/dev/null || return 1
    lab_wait_log j "mod_s2s_trust: reloaded on j\\.test: [0-9]+ live s2s stream\\(s\\) judged, [1-9][0-9]* closed" || return 1
    before=$(count_of j k.test)
    b1=$(body k2j-enforce); b2=$(body j2k-enforce)
    lab_send carol@k.test jo@j.test "$b1" || return 1
    _lab_poll "$LAB_TIMEOUT" 0.3 count_grows j k.test "$before" || { lab_log "no new refusal of k.test"; return 1; }
    before=$(count_of j k.test)
    lab_send jo@j.test carol@k.test "$b2" || return 1
    _lab_poll "$LAB_TIMEOUT" 0.3 count_grows j k.test "$before" || { lab_log "no new outbound refusal of k.test"; return 1; }
    ! lab_has_message jo@j.test "$b1" && ! lab_has_message carol@k.test "$b2"
}
check "audit -> enforce by reload_config: the peer's live streams judged again and closed" j -- audit_then_enforce

# ==== 5. a re-check that meets a failing stream goes on ======================================
fault_injection() {
    local b out
    b=$(body h2g-before); lab_send hal@n.test gil@o.test "$b" && lab_wait_delivered gil@o.test "$b" || return 1
    b=$(body g2h-before); lab_send gil@o.test hal@n.test "$b" && lab_wait_delivered hal@n.test "$b" || return 1
    # g's inbound stream gets a socket nothing can read: judging it raises.
    out=$(lab_rpc h '[P || {_, P, _, _} <- supervisor:which_children(ejabberd_s2s_in_sup)]')
    [ "$(grep -o '<' <<<"$out" | wc -l)" = 1 ] || { lab_log "h's inbound streams: $out"; return 1; }
    lab_rpc h '[P] = [P || {_, P, _, _} <- supervisor:which_children(ejabberd_s2s_in_sup)], ejabberd_s2s_in:update_state(P, fun(S) -> S#{socket => broken_by_the_test} end)' >/dev/null || return 1
    lab_mark h
    out=$(lab_ctl h s2s_trust_reload)
    echo "     s2s_trust_reload: $out"
    grep -q "2 live s2s stream(s) re-checked, 1 closed" <<<"$out" || return 1
    lab_wait_log h "internal error while checking o\\.test \\(inbound\\)" || return 1
    [ "$(streams h)" = "0 1" ] || { lab_log "h streams (in out): $(streams h)"; return 1; }
    b=$(body h2g-after); lab_send hal@n.test gil@o.test "$b" && lab_wait_delivered gil@o.test "$b" || return 1
    b=$(body g2h-after); lab_send gil@o.test hal@n.test "$b" && lab_wait_delivered hal@n.test "$b"
}
check "re-check: a stream whose check raises is closed (internal_error), the other is judged and kept" h -- fault_injection
check "re-check: the failure is recorded (internal_error)" h -- listed h o.test internal_error

# ==== 6. every refusal recorded, and a list that cannot be flooded ============================
external_refused() {
    python3 "$RAWPEER" client --connect "${IP[f]}:5269" --from z.test --to l.test --tls \
        --cert "$(lab_cert z chain)" --key "$(lab_cert z key)" --external \
        --transcript "$LAB_DIR/z-client.transcript"
    # ejabberd refuses EXTERNAL itself; the module records it, with its own reason.
    _lab_poll "$LAB_TIMEOUT" 0.3 listed f z.test self_signed
}
check "ejabberd's own refusal of SASL EXTERNAL recorded (self_signed)" f -- external_refused
no_tls_in() {
    python3 "$RAWPEER" client --connect "${IP[f]}:5269" --from nt.test --to l.test \
        --stanza "$(msg x@nt.test fay@l.test plain)" --transcript "$LAB_DIR/nt-client.transcript"
    _lab_poll "$LAB_TIMEOUT" 0.3 listed f nt.test no_tls
}
check "a peer that will not start TLS (STARTTLS required): recorded no_tls, inbound" f -- no_tls_in
FLOOD=300
flood() {
    lab_mark f
    python3 "$RAWPEER" flood --connect "${IP[f]}:5269" --to l.test --count $FLOOD --prefix fl || return 1
    # The last domain of the flood is recorded; then the bounds hold.
    _lab_poll "$LAB_TIMEOUT" 0.3 listed f "fl-$((FLOOD - 1)).flood.test" no_tls || return 1
    local out
    out=$(lab_rpc f '{mnesia:table_info(s2s_trust_violation, size), mnesia:table_info(s2s_trust_last, size), mod_s2s_trust_violators:evicted()}' | tr -d '{} ')
    echo "     rows (violators, last verdicts), evicted: $out"
    local rows last evicted
    IFS=, read -r rows last evicted <<<"$out"
    [ "$rows" -le 50 ] && [ "$last" -le 50 ] || return 1
    [ "$evicted" -ge $((FLOOD + 2 - 50)) ] || return 1
    lab_wait_log f "the violators list is full \\(max_violators = 50\\): evicted"
}
check "flood of $FLOOD bogus domains: at most 50 rows kept, evictions counted and logged" f -- flood
newest_kept() {
    local i
    for i in $(seq $((FLOOD - 40)) $((FLOOD - 1))); do
        listed f "fl-$i.flood.test" no_tls || { lab_log "fl-$i.flood.test is gone"; return 1; }
    done
    not_listed f fl-0.flood.test && not_listed f z.test
}
check "flood: the 40 newest violators kept, the oldest evicted" f -- newest_kept
disk_bounded() {
    lab_rpc f 'mnesia:dump_log()' >/dev/null || return 1
    local bytes
    bytes=$(du -cb "$(_lab_dir f)"/spool/s2s_trust_violation.* | tail -n 1 | cut -f1)
    echo "     s2s_trust_violation on disk: $bytes bytes"
    [ "$bytes" -lt 200000 ]
}
check "flood: the table on disk stays small (< 200 KB)" f -- disk_bounded

check "every listener on loopback" -- lab_assert_loopback_only
lab_teardown
e2e_summary
