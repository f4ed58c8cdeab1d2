#!/usr/bin/env bash
# tests/cli/test_cli.sh - the s2s-trust command line, as an operator or a
# script uses it: exit codes, one line per chain, JSON, config errors.
# Needs S2S_TRUST_PKI (make pki) and S2S_TRUST_BIN (priv/bin/s2s-trust).
set -u
PKI=${S2S_TRUST_PKI:?run via make test-cli}
BIN=${S2S_TRUST_BIN:?run via make test-cli}
WORK=$(mktemp -d /tmp/s2s-trust-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

ok()   { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; shift; printf '     %s\n' "$@"; }

# run NAME WANT_STATUS WANT_STDOUT_REGEX -- ARGS...
run() {
    local name=$1 want_status=$2 want_out=$3
    shift 4
    local out status
    out=$("$BIN" "$@" 2>"$WORK/stderr")
    status=$?
    if [ "$status" -ne "$want_status" ]; then
        fail "$name" "exit $status, want $want_status" "stdout: $out" "stderr: $(cat "$WORK/stderr")"
    elif ! grep -Eq -- "$want_out" <<<"$out$(cat "$WORK/stderr")"; then
        fail "$name" "output does not match /$want_out/" "stdout: $out" "stderr: $(cat "$WORK/stderr")"
    else
        ok "$name"
    fi
}

CONF=$WORK/trust.conf
cat >"$CONF" <<CONF
ca_file = "$PKI/root.pem";
intermediate_file = "$PKI/pool.pem";
CONF

run "good chain is ok"           0 '^good\.test: ok$'  -- check --config "$CONF" --domain good.test "$PKI/good.chain.pem"
run "leaf alone uses the pool"   0 '^good\.test: ok$'  -- check --config "$CONF" --domain good.test "$PKI/good.pem"
run "DER leaf"                   0 '^good\.test: ok$'  -- check --config "$CONF" --domain good.test "$PKI/good.der"
run "serverAuth-only accepted"   0 ': ok$'             -- check --config "$CONF" --domain serverauth.test "$PKI/serverauth.pem"
run "expired refused"            1 '^expired\.test: refused: expired \(depth 0: certificate has expired\)$' \
                                                       -- check --config "$CONF" --domain expired.test "$PKI/expired.pem"
run "self-signed refused"        1 'refused: self_signed' -- check --config "$CONF" --domain selfsigned.test "$PKI/selfsigned.pem"
run "wrong name refused"         1 'refused: name_mismatch' -- check --config "$CONF" --domain wrongname.test "$PKI/wrongname.pem"
run "unknown root refused"       1 'refused: unknown_issuer' -- check --config "$CONF" --domain unknownroot.test "$PKI/unknownroot.pem"
run "garbage is malformed"       1 'refused: malformed'  -- check --config "$CONF" --domain good.test "$CONF"
run "several chains, one line each" 1 "good\.pem: good\.test: ok
.*expired\.pem: good\.test: refused: expired" \
                                                       -- check --config "$CONF" --domain good.test "$PKI/good.pem" "$PKI/expired.pem"
run "--at makes expired valid"   1 'refused: not_yet_valid' -- check --config "$CONF" --at 2020-06-01 --domain expired.test "$PKI/expired.pem"
run "--at epoch"                 1 'refused: expired'  -- check --config "$CONF" --at 2222222222 --domain good.test "$PKI/good.pem"
run "--at garbage"               2 'not a time'        -- check --config "$CONF" --at yesterday --domain good.test "$PKI/good.pem"
run "explain shows names/dates"  1 'valid: +2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z' \
                                                       -- check --config "$CONF" --explain --domain expired.test "$PKI/expired.pem"
run "explain escapes a NUL"      1 'name: +dns nul\.test\\x00\.evil\.test' \
                                                       -- check --config "$CONF" --explain --domain nul.test "$PKI/nulsan.pem"
run "explain: a pool copy is recognised" 0 'presented: +2 certificate\(s\), 1 of them already in the store.s pool' \
                                                       -- check --config "$CONF" --explain --domain good.test "$PKI/good.chain.pem"
run "explain: a new leaf is not"  0 'presented: +1 certificate\(s\)$' \
                                                       -- check --config "$CONF" --explain --domain good.test "$PKI/good.pem"
run "missing --domain"           2 'needs --domain'    -- check --config "$CONF" "$PKI/good.pem"
run "missing chain file"         2 'No such file'      -- check --config "$CONF" --domain good.test "$WORK/nope.pem"
run "unknown command"            2 'unknown command'   -- frobnicate
run "help"                       0 'config-check'      -- --help

# JSON: valid, one object per chain, attacker bytes escaped.
out=$("$BIN" check --config "$CONF" --json --domain nul.test "$PKI/nulsan.pem" "$PKI/good.pem")
status=$?
if [ $status -eq 1 ] && [ "$(wc -l <<<"$out")" -eq 2 ] &&
   python3 -c 'import json,sys
lines = sys.stdin.read().splitlines()
objs = [json.loads(l) for l in lines]
assert objs[0]["verdict"] == "name_mismatch", objs[0]
assert any(n["value"] == "nul.test\u0000.evil.test" for n in objs[0]["names"]), objs[0]["names"]
assert objs[1]["verdict"] == "name_mismatch" and objs[1]["trusted"] is False
assert objs[0]["presented"] == 1 and objs[0]["known"] == 0, objs[0]
' <<<"$out"; then ok "json lines, NUL escaped"; else fail "json lines, NUL escaped" "exit $status" "$out"; fi

out=$("$BIN" check --config "$CONF" --json --domain good.test "$PKI/good.chain.pem")
if python3 -c 'import json,sys; o = json.loads(sys.stdin.read()); assert o["verdict"] == "ok" and o["presented"] == 2 and o["known"] == 1, o' <<<"$out"
then ok "json: the pool copy counted in known"; else fail "json: the pool copy counted in known" "$out"; fi

# config-check: good, and errors naming file and line.
run "config-check ok"            0 'ok \(1 anchors, 2 intermediates, 0 CRLs' -- config-check "$CONF"
printf 'ca_file = "%s";\nmax_depth = 3;\nbogus_key = 1;\n' "$PKI/root.pem" >"$WORK/bad.conf"
run "config-check unknown key"   2 "bad\.conf:3: unknown setting 'bogus_key'" -- config-check "$WORK/bad.conf"
printf 'max_depth = 3;\nca_file = "%s/nope.pem";\n' "$PKI" >"$WORK/nofile.conf"
run "config-check missing CA"    2 "nofile\.conf:2: ca_file .*nope\.pem" -- config-check "$WORK/nofile.conf"
printf 'ca_file = "%s";\nmax_depth = ;\n' "$PKI/root.pem" >"$WORK/syntax.conf"
run "config-check syntax error"  2 "syntax\.conf:2: syntax error" -- config-check "$WORK/syntax.conf"
run "check with bad config"      2 "bad\.conf:3:" -- check --config "$WORK/bad.conf" --domain good.test "$PKI/good.pem"
out=$("$BIN" config-check --json "$WORK/bad.conf" 2>/dev/null)
if python3 -c 'import json,sys; o=json.loads(sys.stdin.read()); assert o["ok"] is False and o["line"] == 3, o' <<<"$out"; then
    ok "config-check json error"; else fail "config-check json error" "$out"; fi

# A one-line configuration is complete.
printf 'ca_file = "%s";\n' "$PKI/root.pem" >"$WORK/one.conf"
run "one-line config"            0 '^good\.test: ok$' -- check --config "$WORK/one.conf" --domain good.test "$PKI/good.chain.pem"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
