#!/usr/bin/env bash
# tests/demo/demo.sh - the main job, for a newcomer: build a demo PKI, then
# let s2s-trust judge the certificates a federating peer might present.
# (The ejabberd issue widens this to a real ejabberd federating on loopback.)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$TOP/priv/bin/s2s-trust
DEMO=$TOP/_build/demo
rm -rf "$DEMO"
mkdir -p "$DEMO"
bash "$TOP/tests/pki/gen.sh" "$DEMO/pki" >/dev/null
cat >"$DEMO/trust.conf" <<CONF
# The demo's trust policy: one root, its intermediate in the pool, its CRLs.
ca_file = "pki/root.pem";
intermediate_file = "pki/pool.pem";
crl_file = ["pki/root.crl.pem", "pki/inter.crl.pem"];
CONF

echo "== the trust store"
"$BIN" config-check "$DEMO/trust.conf"

mismatches=0
# peer  domain  file  expected-exit
demo_case() {
    local what=$1 domain=$2 file=$3 want=$4 status=0
    echo
    echo "== $what"
    echo "\$ s2s-trust check --config trust.conf --domain $domain $file"
    "$BIN" check --config "$DEMO/trust.conf" --domain "$domain" "$DEMO/pki/$file" || status=$?
    if [ "$status" -ne "$want" ]; then
        echo "!! expected exit $want, got $status"
        mismatches=$((mismatches + 1))
    fi
}
demo_case "a peer with a valid chain (leaf only, as ejabberd sees it)" good.test good.pem 0
demo_case "a 2026 Let's Encrypt-style serverAuth-only certificate" serverauth.test serverauth.pem 0
demo_case "a self-signed certificate" selfsigned.test selfsigned.pem 1
demo_case "an expired certificate" expired.test expired.pem 1
demo_case "a certificate for another name" wrongname.test wrongname.pem 1
demo_case "a certificate from a CA we do not trust" unknownroot.test unknownroot.chain.pem 1
demo_case "a revoked certificate" revoked.test revoked.pem 1

echo
echo "== the same refusal, explained for the operator"
"$BIN" check --config "$DEMO/trust.conf" --explain --domain expired.test "$DEMO/pki/expired.pem" || true

echo
if [ "$mismatches" -eq 0 ]; then
    echo "demo: every verdict as expected (files in $DEMO)"
else
    echo "demo: $mismatches unexpected verdict(s)"
    exit 1
fi
