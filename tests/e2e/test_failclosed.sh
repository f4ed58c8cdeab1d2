#!/usr/bin/env bash
# tests/e2e/test_failclosed.sh - ejabberd runs hooks fail-open: a hook that
# crashes is skipped and the stream goes on. mod_s2s_trust must refuse
# instead. Each fault is injected into the running a.test node (Debian's
# ejabberd 23.01), then a trusted peer (ejabberd b.test) opens a fresh
# stream: it must be refused and the fault logged; after the repair it must
# pass again; in audit mode the same fault lets it through, recorded. Also:
# no trust store at start refuses every s2s stream while
# local delivery goes on, and a flood of violations is counted, not logged
# line by line.
# Output: "ok NAME" / "FAIL NAME" per case, then "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LAB_DIR:=/tmp/s2s-trust-lab-failclosed}"
# shellcheck source=tests/e2e/lab.sh
source "$HERE/lab.sh"

# shellcheck source=tests/e2e/testing.sh
source "$HERE/testing.sh"
E2E_LOGS=(a b n)

lab_init || exit 1
lab_issue_leaf a a.test
lab_issue_leaf b b.test
lab_issue_leaf n n.test
lab_add_host n.test 127.0.0.30 || exit 1
TRUST=$LAB_DIR/trust
mkdir -p "$TRUST"
cp "$LAB_DIR/pki/root.pem" "$LAB_DIR/pki/pool.pem" "$TRUST/"
printf 'ca_file = "root.pem";\nintermediate_file = "pool.pem";\n' >"$TRUST/good.conf"
printf 'ca_file = "root.pem";\nthis is not libconfig\n' >"$TRUST/broken.conf"
touch "$LAB_DIR/a-violations.jsonl"
chown ejabberd "$LAB_DIR/a-violations.jsonl"
chmod -R a+rX "$TRUST"

lab_ejabberd_start a a.test 127.0.0.2 a starttls=required dialback=yes code="$LAB_REPO" nowait \
    modules="mod_s2s_trust: {trust_config: \"$TRUST/good.conf\", log_file: \"$LAB_DIR/a-violations.jsonl\"}" || exit 1
lab_ejabberd_start n n.test 127.0.0.30 n starttls=required dialback=yes code="$LAB_REPO" nowait \
    modules="mod_s2s_trust: {trust_config: \"$TRUST/broken.conf\"}" || exit 1
lab_ejabberd_start b b.test 127.0.0.3 b hardened nowait || exit 1
lab_wait_ready a n b || exit 1
for u in alice@a.test anna@a.test bob@b.test nina@n.test noah@n.test; do lab_register "$u" pw || exit 1; done

n=0
# b -> a over a fresh stream: close every s2s stream of a.test first, so the
# next message authenticates anew and passes through the module's hooks.
fresh_b_to_a() { # BODY
    lab_ctl a stop_s2s_connections >/dev/null
    lab_ctl b stop_s2s_connections >/dev/null
    lab_send bob@b.test alice@a.test "$1"
}
refused_internal() { # BODY
    fresh_b_to_a "$1"
    # ejabberd's own closing line: the module logs a repeated refusal once a minute.
    lab_assert_not_delivered alice@a.test "$1" a \
        "Closing inbound s2s connection b\.test -> a\.test: .*mod_s2s_trust\): internal_error" &&
        lab_wait_log a "mod_s2s_trust: internal error while checking b\.test" 5
}
passes_again() { # BODY
    fresh_b_to_a "$1"
    lab_wait_delivered alice@a.test "$1"
}

check "baseline: trusted b -> a delivered" passes_again "baseline $((n += 1))"

# 1. The NIF raises: the published store is replaced by a term that is not one.
lab_rpc a 'persistent_term:put({mod_s2s_trust, store, <<"a.test">>}, not_a_store)' >/dev/null
check "NIF raises (badarg): refused, fault logged" refused_internal "raise $((n += 1))"
lab_ctl a s2s_trust_reload >/dev/null
check "after s2s_trust_reload: delivered again" passes_again "repaired $((n += 1))"

# 1b. The same fault in audit mode: audit lets the peer through and records
#     internal_error; the hooks and the stanza gate must not crash on it (a
#     crash would be skipped by ejabberd at authentication, then drop the
#     stanza at the gate).
set_mode() { # MODE: a.test's module switched by reload_config
    sed -i -e "s/^\(  mod_s2s_trust: {.*\), mode: [a-z]*}$/\1}/" \
        -e "s/^\(  mod_s2s_trust: {.*\)}$/\1, mode: $1}/" "$(_lab_ej_etc a)/ejabberd.yml"
    lab_ctl a reload_config >/dev/null
}
audited_internal() { # BODY
    fresh_b_to_a "$1"
    lab_wait_delivered alice@a.test "$1" &&
        lab_wait_log a "mod_s2s_trust: internal error while checking b\.test" 5 &&
        lab_ctl a s2s_trust_check b.test | grep -q '^verdict: *internal_error (audited'
}
set_mode audit
lab_mark a
lab_rpc a 'persistent_term:put({mod_s2s_trust, store, <<"a.test">>}, not_a_store)' >/dev/null
check "audit mode, NIF raises: delivered, recorded as audited internal_error" audited_internal "audited $((n += 1))"
set_mode enforce
check "enforce again (reload_config rebuilt the store): delivered" passes_again "repaired $((n += 1))"

# 2. The engine returns garbage: a stand-in s2s_trust whose explain/3 answers
#    nonsense is loaded over the real one.
FAKE=$LAB_DIR/fake
mkdir -p "$FAKE"
cat >"$FAKE/s2s_trust.erl" <<'ERL'
-module(s2s_trust).
-export([explain/3, open/1, info/1, verify_batch/2, format_reason/1]).
explain(_, _, _) -> {garbage, [1, 2, 3]}.
open(_) -> {ok, not_a_store}.
info(_) -> #{}.
verify_batch(_, Items) -> [garbage || _ <- Items].
format_reason(_) -> <<"fake">>.
ERL
chmod -R a+rX "$FAKE"
lab_rpc a "{ok, M, Bin} = compile:file(\"$FAKE/s2s_trust.erl\", [binary]), code:purge(M), {module, M} = code:load_binary(M, \"fake\", Bin)" >/dev/null
check "engine returns garbage: refused, fault logged" refused_internal "garbage $((n += 1))"
lab_rpc a 'code:purge(s2s_trust), {module, s2s_trust} = code:load_file(s2s_trust)' >/dev/null
lab_ctl a s2s_trust_reload >/dev/null
check "real engine back: delivered again" passes_again "repaired $((n += 1))"

# 3. The NIF cannot be loaded: its library is moved away and the module unloaded.
SO=$(find "$LAB_DIR/a/code" -name s2s_trust_nif.so | head -n 1)
mv "$SO" "$SO.away"
lab_rpc a 'code:purge(s2s_trust_nif), code:delete(s2s_trust_nif), code:purge(s2s_trust_nif), {error, _} = code:ensure_loaded(s2s_trust_nif)' >/dev/null
check "NIF unloadable: refused, fault logged" refused_internal "unloadable $((n += 1))"
mv "$SO.away" "$SO"
lab_rpc a '{module, s2s_trust_nif} = code:ensure_loaded(s2s_trust_nif)' >/dev/null
lab_ctl a s2s_trust_reload >/dev/null
check "NIF back: delivered again" passes_again "repaired $((n += 1))"

# 4. No trust store at start (n.test's trust_config does not parse): a loud
#    error, every s2s stream refused, local delivery unaffected.
check "no trust store: loud error at start" \
    grep -q "NO TRUST STORE for n.test.*broken.conf:2" "$LAB_DIR/n/log/ejabberd.log"
lab_send bob@b.test nina@n.test "b to n without store"
check "no trust store: b -> n refused (no_trust_store)" \
    lab_assert_not_delivered nina@n.test "b to n without store" n "refused inbound s2s stream of b\.test: no_trust_store"
lab_send noah@n.test nina@n.test "local on n"
check "no trust store: local delivery on n.test unaffected" lab_wait_delivered nina@n.test "local on n"

# 5. A flood from one peer: every attempt counted, one log line.
lab_rpc a 'M = mod_s2s_trust, [M:s2s_out_closed(#{server_host => <<"a.test">>, remote_server => <<"flood.test">>}, {pkix, '"'"'certificate has expired'"'"'}) || _ <- lists:seq(1, 1000)], ok' >/dev/null
lab_wait_log a "refused outbound s2s stream of flood\.test" 10
counted() { lab_ctl a s2s_trust_violators | grep -Eq '^flood\.test[[:space:]].*[[:space:]]1000$'; }
check "flood: 1000 violations counted" counted
logged_once() { [ "$(grep -c '"domain":"flood.test"' "$LAB_DIR/a-violations.jsonl")" -eq 1 ] &&
    [ "$(grep -c 'refused outbound s2s stream of flood.test' "$LAB_DIR/a/log/ejabberd.log")" -eq 1 ]; }
check "flood: one line in log_file and one in ejabberd.log" logged_once

e2e_summary
