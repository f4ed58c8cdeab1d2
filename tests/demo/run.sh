#!/usr/bin/env bash
# tests/demo/run.sh - the main job, for a newcomer (`make demo`):
# a local ejabberd (a.test) with mod_s2s_trust, federating on loopback with a
# trusted peer (ejabberd b.test) and an untrusted one (Prosody c.test, with a
# self-signed certificate). A message crosses to the trusted peer; the
# untrusted one is refused both ways; the violators list names it. Everything
# runs on 127.0.0.x with embedded Mnesia and is stopped at the end.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-trust-demo}"
export LAB_DIR
# shellcheck source=tests/e2e/lab.sh
source "$HERE/../e2e/lab.sh"

say() { printf '\n== %s\n' "$*"; }
problems=0
expect() { # WHAT COMMAND...
    local what=$1
    shift
    if "$@"; then echo "   -> $what"; else echo "   !! NOT $what"; problems=$((problems + 1)); fi
}

say "setting up: test PKI, three servers on loopback (takes ~20 s)"
lab_init || exit 1
lab_issue_leaf a a.test >/dev/null
lab_issue_leaf b b.test >/dev/null
lab_issue_leaf c c.test selfsigned >/dev/null
mkdir -p "$LAB_DIR/trust"
cp "$LAB_DIR/pki/root.pem" "$LAB_DIR/pki/pool.pem" "$LAB_DIR/trust/"
cat >"$LAB_DIR/trust/s2s_trust.conf" <<CONF
# mod_s2s_trust's trust policy (docs/configuration.md)
ca_file = "root.pem";              # the demo CA, instead of the system bundle
intermediate_file = "pool.pem";    # intermediates a peer's leaf may need
CONF
chmod -R a+rX "$LAB_DIR/trust"
MODULE="mod_s2s_trust:
  trust_config: \"$LAB_DIR/trust/s2s_trust.conf\"
  mode: enforce"
echo "a.test's ejabberd.yml (excerpt):"
printf '  s2s_use_starttls: required\n  modules:\n    mod_s2s_dialback: {}\n'
printf '%s\n' "$MODULE" | sed 's/^/    /'
lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes code="$LAB_REPO" \
    modules="$MODULE" nowait || exit 1
lab_ejabberd_start b b.test 127.0.0.3 b hardened nowait || exit 1
lab_prosody_start c c.test 127.0.0.4 c - secure_auth=false nowait || exit 1
lab_wait_ready a b c || exit 1
for u in alice@a.test bob@b.test carol@c.test; do lab_register "$u" secret || exit 1; done

say "alice@a.test -> bob@b.test (b.test has a valid certificate)"
lab_send alice@a.test bob@b.test "Hello Bob, this crossed s2s with a verified certificate."
expect "delivered to bob@b.test" lab_wait_delivered bob@b.test "Hello Bob"

say "carol@c.test -> alice@a.test (c.test presents a self-signed certificate)"
lab_send carol@c.test alice@a.test "Hi Alice, trust me."
expect "refused by mod_s2s_trust, not delivered" \
    lab_assert_not_delivered alice@a.test "Hi Alice" a "mod_s2s_trust: refused inbound s2s stream of c.test"
lab_log_excerpt() { grep -h "$1" "$LAB_DIR"/a/log/ejabberd.log | tail -n 2 | sed 's/^/   a.test log: /'; }
lab_log_excerpt "mod_s2s_trust: refused inbound"

say "alice@a.test -> carol@c.test"
lab_send alice@a.test carol@c.test "Carol, can you read this?"
expect "refused by mod_s2s_trust, not delivered" \
    lab_assert_not_delivered carol@c.test "Carol, can you" a "mod_s2s_trust: refused outbound s2s stream of c.test"
lab_log_excerpt "mod_s2s_trust: refused outbound"

say "ejabberdctl s2s_trust_violators"
lab_ctl a s2s_trust_violators | sed 's/^/   /'
on_the_list() { lab_ctl a s2s_trust_violators | grep -q '^c\.test'; }
expect "c.test is on the violators list" on_the_list

say "ejabberdctl s2s_trust_export markdown   (the pledge's list style)"
lab_ctl a s2s_trust_export markdown | sed 's/^/   /'

say "ejabberdctl s2s_trust_check c.test"
lab_ctl a s2s_trust_check c.test | sed 's/^/   /'

say "ejabberdctl s2s_trust_audit   (does a.test keep the pledge?)"
lab_ctl a s2s_trust_audit text | sed 's/^/   /'
no_fail() { ! lab_ctl a s2s_trust_audit text | grep -q '^ *\[fail\]'; }
expect "the posture audit finds nothing failing" no_fail

say "s2s-trust probe b.test --connect 127.0.0.3:5269   (what b.test's server sends)"
"$LAB_REPO/priv/bin/s2s-trust" probe b.test --connect 127.0.0.3:5269 \
    --config "$LAB_DIR/trust/s2s_trust.conf" | sed 's/^/   /'
probe_ok() { "$LAB_REPO/priv/bin/s2s-trust" probe b.test --connect 127.0.0.3:5269 \
    --config "$LAB_DIR/trust/s2s_trust.conf" >/dev/null; }
expect "the probe judges b.test's chain trusted" probe_ok

say "stopping everything"
lab_teardown >/dev/null 2>&1
if [ "$problems" -eq 0 ]; then
    echo "demo: done. Logs are kept in $LAB_DIR."
else
    echo "demo: $problems step(s) did not go as described. Logs: $LAB_DIR"
    exit 1
fi
