#!/usr/bin/env bash
# tests/e2e/test_module.sh - mod_s2s_trust inside Debian's real ejabberd
# 23.01, federating over s2s + TLS on loopback with a second ejabberd and
# Prosody peers, certificates from the test PKI. Every case is asserted by
# the delivery (or not) of a real message and by the violators list.
#
#   a.test   ejabberd + mod_s2s_trust, enforce, mod_s2s_dialback loaded
#            (the configuration docs/module.md recommends for 23.01)
#   m.test   ejabberd + mod_s2s_trust in audit mode
#   b.test   ejabberd, stock and hardened, valid chain
#   s.test   Prosody, valid serverAuth-only certificate (2026 Let's Encrypt)
#   c.test   Prosody, self-signed          d.test  Prosody, expired
#   e.test   Prosody, certificate for another name
#   f.test   Prosody, certificate from a CA a.test does not trust
#   x.test   Prosody, self-signed, listed in a.test's `exempt`
#   y.test   Prosody, valid certificate with an XmppAddr name
#   k.test   Prosody, self-signed, subject CN full of log/JSON/Markdown metacharacters
#   p.test   ejabberd without TLS at all (plain TCP + dialback)
#
# S2S_TRUST_DB=sql runs the same scenario with the violators lists of a.test
# and m.test on PostgreSQL (db_type: sql, docs/storage.md): a throwaway
# cluster on 127.0.0.1:55432 (tests/sql/pg.sh), one database per node.
#
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lab.sh
source "$HERE/lab.sh"

# shellcheck source=tests/e2e/testing.sh
source "$HERE/testing.sh"
E2E_LOGS=(a)

REPO=$LAB_REPO
# Loopback addresses: lab.sh pre-assigns a.test..h.test to 127.0.0.2..9.
declare -A IP=([a]=127.0.0.2 [b]=127.0.0.3 [c]=127.0.0.4 [d]=127.0.0.5 [e]=127.0.0.6
               [f]=127.0.0.7 [m]=127.0.0.20 [p]=127.0.0.21 [s]=127.0.0.22 [x]=127.0.0.23
               [y]=127.0.0.24 [k]=127.0.0.25)
lab_init || exit 1
DB=${S2S_TRUST_DB:-mnesia}
SQL_YAML=''
if [ "$DB" = sql ]; then
    # shellcheck source=tests/sql/pg.sh
    source "$HERE/../sql/pg.sh"
    PG_DIR=$LAB_DIR/pg
    trap 'pg_stop "$PG_DIR"; lab_teardown' EXIT
    pg_start "$PG_DIR" 55432 || exit 1
    pg_createdb 55432 ejabberd_m || exit 1
fi
sql_yaml() { # DATABASE: the node's SQL pool
    printf 'sql_type: pgsql\nsql_server: "127.0.0.1"\nsql_port: 55432\nsql_database: %s\nsql_username: ejabberd\nsql_password: ""\nsql_pool_size: 2\n' "$1"
}
# On SQL a violation reaches the table through the module's writer, a moment
# after the refusal: wait until the writer has written what it holds (a
# barrier, not a delay) before reading the list.
settle() {
    [ "$DB" = sql ] || return 0
    lab_rpc a 'mod_s2s_trust_sql_writer:flush(20000)' >/dev/null
}
# Prosody reads the hosts file once, at start: declare every domain first.
for n in m p s x y k; do lab_add_host "$n.test" "${IP[$n]}" || exit 1; done

# ---- certificates ------------------------------------------------------------
lab_issue_leaf a a.test
lab_issue_leaf m m.test
lab_issue_leaf b b.test
lab_issue_leaf p p.test
lab_issue_leaf s s.test eku=serverAuth
lab_issue_leaf c c.test selfsigned
lab_issue_leaf d d.test expired
lab_issue_leaf e e.test wrongname
lab_issue_leaf f f.test issuer=inter2
lab_issue_leaf x x.test selfsigned
lab_issue_leaf y y.test xmppaddr
# A subject CN made of what breaks logs and exports: quotes, brackets,
# Markdown, HTML, a backtick span, a newline.
HOSTILE_CN='evil"}],<b>*x* | `y`
second line'
lab_issue_leaf k k.test selfsigned dns=k.test cn="$HOSTILE_CN"

# ---- the module's trust policy -------------------------------------------------
TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
cp "$LAB_DIR/pki/root.pem" "$LAB_DIR/pki/root2.pem" "$LAB_DIR/pki/pool.pem" "$TRUST/"
write_trust() { # the anchors a.test trusts, as one file
    printf 'ca_file = "%s";\nintermediate_file = "pool.pem";\n' "$1" >"$TRUST/trust.conf"
    chmod -R a+rX "$TRUST"
}
write_trust root.pem

module_yaml() { # MODE [EXEMPT]
    printf 'mod_s2s_trust:\n  trust_config: "%s"\n  mode: %s\n  log_file: "%s"\n  exempt: [%s]\n  db_type: %s\n' \
        "$TRUST/trust.conf" "$1" "$LAB_DIR/$2-violations.jsonl" "${3:-}" "$DB"
}
node_yaml() { # DATABASE: what a node with the module adds to ejabberd.yml
    if [ "$DB" = sql ]; then
        sql_yaml "$1"
    fi
}
touch "$LAB_DIR/a-violations.jsonl" "$LAB_DIR/m-violations.jsonl"
chown ejabberd "$LAB_DIR"/*-violations.jsonl

# ---- servers -------------------------------------------------------------------
# a.test lets STARTTLS be optional so that the module alone, not ejabberd, has
# to refuse a peer without TLS; docs/module.md still recommends `required`.
# mod_http_api answers the module's commands (tag s2s) from loopback.
lab_ejabberd_start a a.test "${IP[a]}" a starttls=optional dialback=yes code="$REPO" http_api=5280 \
    yaml="$LAB_API_PERMS" yaml="$(node_yaml ejabberd_test)" \
    modules="$(module_yaml enforce a x.test)" nowait || exit 1
lab_ejabberd_start m m.test "${IP[m]}" m starttls=required dialback=yes code="$REPO" \
    yaml="$(node_yaml ejabberd_m)" \
    modules="$(module_yaml audit m)" nowait || exit 1
lab_ejabberd_start b b.test "${IP[b]}" b hardened nowait || exit 1
lab_ejabberd_start p p.test "${IP[p]}" p starttls=optional plaintcp nowait || exit 1
for peer in s c d e f x y k; do
    lab_prosody_start "$peer" "$peer.test" "${IP[$peer]}" "$peer" - secure_auth=false nowait || exit 1
done
lab_wait_ready a m b p s c d e f x y k || exit 1

for u in alice@a.test mia@m.test bob@b.test pat@p.test sam@s.test carol@c.test dave@d.test \
    erin@e.test fred@f.test xena@x.test yann@y.test kim@k.test; do
    lab_register "$u" pw || exit 1
done

REFUSED_IN='mod_s2s_trust: refused inbound s2s stream of'
REFUSED_OUT='mod_s2s_trust: refused outbound s2s stream of'

violators() { settle; lab_ctl a s2s_trust_violators; }
# listed DOMAIN REASON: the violators list of a.test holds DOMAIN with REASON.
listed() { violators | grep -E "^$1[[:space:]].*$2" >/dev/null; }
not_listed() { ! violators | grep -E "^$1[[:space:]]" >/dev/null; }

# ---- trusted peers --------------------------------------------------------------
lab_send alice@a.test bob@b.test "a to b trusted"
check "trusted chain: a -> b delivered" a b -- lab_wait_delivered bob@b.test "a to b trusted"
lab_send bob@b.test alice@a.test "b to a trusted"
check "trusted chain: b -> a delivered" a b -- lab_wait_delivered alice@a.test "b to a trusted"
check "trusted chain: nothing recorded" a -- not_listed b.test

lab_send alice@a.test sam@s.test "a to s serverauth"
check "serverAuth-only: a -> s delivered" a s -- lab_wait_delivered sam@s.test "a to s serverauth"
lab_send sam@s.test alice@a.test "s to a serverauth"
check "serverAuth-only: s -> a delivered" a s -- lab_wait_delivered alice@a.test "s to a serverauth"
check "serverAuth-only: nothing recorded" a -- not_listed s.test

# A valid certificate with an XmppAddr name crashes ejabberd 23.01's own
# inbound SASL EXTERNAL; the module steers such a peer to dialback and
# checks its certificate there.
lab_send yann@y.test alice@a.test "y to a xmppaddr"
check "XmppAddr certificate: y -> a delivered (no ejabberd crash)" a y -- \
    lab_wait_delivered alice@a.test "y to a xmppaddr"
lab_send alice@a.test yann@y.test "a to y xmppaddr"
check "XmppAddr certificate: a -> y delivered" a y -- lab_wait_delivered yann@y.test "a to y xmppaddr"
no_crash() { ! grep -q "Generic server .* terminating" "$LAB_DIR/a/log/ejabberd.log"; }
check "XmppAddr certificate: no s2s process crashed" a -- no_crash

# ---- untrusted peers: refused both ways, with the right reason --------------------
untrusted_case() { # PEER USER REASON
    local peer=$1 user=$2 reason=$3
    lab_send "alice@a.test" "$user@$peer.test" "a to $peer"
    check "$reason: a -> $peer refused" a "$peer" -- \
        lab_assert_not_delivered "$user@$peer.test" "a to $peer" a "$REFUSED_OUT $peer.test: $reason"
    lab_send "$user@$peer.test" alice@a.test "$peer to a"
    check "$reason: $peer -> a refused" a "$peer" -- \
        lab_assert_not_delivered alice@a.test "$peer to a" a "$REFUSED_IN $peer.test: $reason"
    # mod_s2s_dialback is loaded on a.test: the peer's failed EXTERNAL fell
    # back to dialback, which succeeded, and the module refused all the same.
    check "$reason: $peer -> a dialback succeeded, still refused" a -- \
        lab_wait_log a "Accepted inbound s2s dialback authentication $peer\.test -> a\.test" 1
    check "$reason: $peer.test listed with $reason" a -- listed "$peer.test" "$reason"
}
untrusted_case c carol self_signed
untrusted_case d dave expired
untrusted_case e erin name_mismatch
untrusted_case f fred unknown_issuer

# ---- no TLS at all ------------------------------------------------------------------
lab_send pat@p.test alice@a.test "p to a plain"
check "plain TCP: p -> a refused" a p -- \
    lab_assert_not_delivered alice@a.test "p to a plain" a "$REFUSED_IN p.test: no_certificate"
check "plain TCP: p.test listed with no_certificate" a -- listed p.test no_certificate

# ---- exempt and audit -----------------------------------------------------------------
lab_send xena@x.test alice@a.test "x to a exempt"
check "exempt: x -> a delivered" a x -- lab_wait_delivered alice@a.test "x to a exempt"
explains() { lab_ctl "$1" s2s_trust_check "$2" | grep -q -- "$3"; }
check "exempt: x.test recorded as exempted" a -- explains a x.test 'self_signed (exempted'
check "exempt: x.test in the violators list" a -- listed x.test self_signed

lab_send mia@m.test carol@c.test "m to c audit"
check "audit: m -> c delivered" m c -- lab_wait_delivered carol@c.test "m to c audit"
lab_send carol@c.test mia@m.test "c to m audit"
check "audit: c -> m delivered" m c -- lab_wait_delivered mia@m.test "c to m audit"
check "audit: c.test recorded as audited" m -- \
    lab_wait_log m "mod_s2s_trust: audited (in|out)bound s2s stream of c\.test: self_signed"

# ---- hostile certificate fields ------------------------------------------------------------
lab_send kim@k.test alice@a.test "k to a hostile"
check "hostile subject: k -> a refused" a k -- \
    lab_assert_not_delivered alice@a.test "k to a hostile" a "$REFUSED_IN k.test: self_signed"
hostile_json() { # the export and the log file stay valid JSON and keep the bytes exactly
    settle
    lab_ctl a s2s_trust_export json | HOSTILE_CN="$HOSTILE_CN" python3 -c '
import json, os, sys
cn = os.environ["HOSTILE_CN"]
d = {v["domain"]: v for v in json.loads(sys.stdin.read())}
names = d["k.test"]["last_certificate"]["names"]
assert {"type": "cn", "value": cn} in names, names
' && HOSTILE_CN="$HOSTILE_CN" python3 -c '
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["domain"] == "k.test" and {"type": "cn", "value": os.environ["HOSTILE_CN"]} in l["certificate"]["names"] for l in lines)
' "$LAB_DIR/a-violations.jsonl"
}
check "hostile subject: JSON export and log file keep it exactly, still valid" a -- hostile_json
hostile_text() { # one line per field in the operator's view, control bytes escaped
    local out
    out=$(lab_ctl a s2s_trust_check k.test)
    grep -q 'second line' <<<"$out" && ! grep -q '^second line' <<<"$out" &&
        grep -qF 'name:       cn evil"}],<b>*x* | `y`\x0asecond line' <<<"$out"
}
check "hostile subject: s2s_trust_check escapes it" a -- hostile_text

# ---- the record: commands, export, log file ----------------------------------------------
settle
md=$(lab_ctl a s2s_trust_export markdown)
if grep -Eq '^\+ c\.test — self_signed, first seen [0-9T:-]+Z, last seen [0-9T:-]+Z, [0-9]+$' <<<"$md"; then
    e2e_ok "export markdown: '+ domain — reason, first seen, last seen, count'"
else e2e_fail "export markdown: '+ domain — reason, first seen, last seen, count'" a; printf '%s\n' "$md" | sed -e 's/^/     md| /'; fi
js=$(lab_ctl a s2s_trust_export json)
if python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert {"c.test","d.test","e.test","f.test","p.test"} <= {v["domain"] for v in d}, d' <<<"$js"; then
    e2e_ok "export json: valid, lists every violator"
else e2e_fail "export json: valid, lists every violator" a; fi
if python3 -c '
import json,sys
lines=[json.loads(l) for l in open(sys.argv[1])]
assert any(l["domain"]=="d.test" and l["reason"]=="expired" and l["outcome"]=="refused" for l in lines), lines
' "$LAB_DIR/a-violations.jsonl"; then e2e_ok "log_file: one JSON line per violation"; else e2e_fail "log_file: one JSON line per violation" a; fi
check "s2s_trust_check explains the verdict" a -- explains a d.test 'certificate has expired'
# The commands are ejabberd commands, so mod_http_api serves them too.
http_api() {
    python3 -c '
import json, sys, urllib.request
req = urllib.request.Request("http://" + sys.argv[1] + ":5280/api/s2s_trust_violators", data=b"{}",
                             headers={"Content-Type": "application/json"})
rows = json.loads(urllib.request.urlopen(req, timeout=10).read())
assert any(r["domain"] == "c.test" and "self_signed" in r["reasons"] for r in rows), rows
' "${IP[a]}"
}
check "mod_http_api serves s2s_trust_violators" a -- http_api

# ---- survives a restart ---------------------------------------------------------------------
lab_ejabberd_restart a || e2e_fail "restart a"
check "violators list survives a restart" a -- listed d.test expired

# ---- reload -----------------------------------------------------------------------------------
# A live, trusted stream a <-> b, then a trust store without our root.
lab_send alice@a.test bob@b.test "before reload"
check "live stream before reload" a b -- lab_wait_delivered bob@b.test "before reload"
write_trust root2.pem
out=$(lab_ctl a s2s_trust_reload)
if grep -Eq 'reloaded; 1 node\(s\), [1-9][0-9]* live s2s stream\(s\) re-checked, [1-9][0-9]* closed' <<<"$out"; then
    e2e_ok "reload with the CA removed closes the live stream"
else e2e_fail "reload with the CA removed closes the live stream" a; echo "     $out"; fi
check "the closed stream is recorded as unknown_issuer" a -- listed b.test unknown_issuer

write_trust root.pem
lab_ctl a s2s_trust_reload >/dev/null
lab_ctl a s2s_trust_forget b.test >/dev/null
printf 'ca_file = "root.pem";\nbogus_key = 1;\n' >"$TRUST/trust.conf"
out=$(lab_ctl a s2s_trust_reload)
if grep -q "trust.conf:2: unknown setting 'bogus_key'" <<<"$out"; then
    e2e_ok "broken config on reload: error names file and line"
else e2e_fail "broken config on reload: error names file and line" a; echo "     $out"; fi
lab_send alice@a.test bob@b.test "after bad reload"
check "broken config on reload: old policy stays (b still trusted)" a b -- \
    lab_wait_delivered bob@b.test "after bad reload"
lab_send alice@a.test carol@c.test "after bad reload c"
# The module logs a repeated refusal once a minute; ejabberd's own line is the evidence.
check "broken config on reload: old policy stays (c still refused)" a c -- \
    lab_assert_not_delivered carol@c.test "after bad reload c" a \
    "Failed to establish outbound s2s connection a\.test -> c\.test: authentication failed"

check "every listener on loopback, no epmd" -- lab_assert_loopback_only

e2e_summary
