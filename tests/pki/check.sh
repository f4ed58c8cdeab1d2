#!/usr/bin/env bash
# Smoke test of a PKI made by gen.sh: every file the README lists exists, and
# plain `openssl verify` gives each leaf the outcome the README table expects
# wherever openssl can express it (the XMPP-specific verdicts are for the
# module's own tests).
#   bash tests/pki/check.sh OUTDIR
# Prints one line per mismatch and exits 1 if there was any.
set -uo pipefail
export LC_ALL=C

[ $# -eq 1 ] || { echo "usage: check.sh OUTDIR" >&2; exit 2; }
cd "$1" || exit 2

FAILS=0
bad() { echo "check: $*" >&2; FAILS=$((FAILS + 1)); }

LEAVES=(good good-rsa serverauth clientauth noeku expired notyet selfsigned unknownroot
    wrongname wildcard partialwild xmppaddr xmppjid srvid srvclient cnonly cnsan idn
    nonca ncok ncbad ncxmpp ncsrv cnuri revoked nulsan rsa1024 sha1 badsig deep learnme)
AUTHS=(root inter root2 inter2 inter-nc inter-new inter-new2 notca deep-1 deep-2 deep-3 deep-4 deep-5 deep-6
    deep-7 deep-8)

# ---- files ---------------------------------------------------------------

for f in "${AUTHS[@]}"; do
    openssl x509 -in "$f.pem" -noout 2>/dev/null || bad "$f.pem: missing or not a certificate"
done
for f in root.crl.pem inter.crl.pem; do
    openssl crl -in "$f" -noout 2>/dev/null || bad "$f: missing or not a CRL"
done
cmp -s anchors.pem root.pem || bad "anchors.pem is not root.pem"
cat inter.pem inter-nc.pem | cmp -s - pool.pem || bad "pool.pem is not inter.pem + inter-nc.pem"

# Subjects (first line) and issuers (second line) of a PEM bundle, in order,
# as CN=..., whatever the openssl release: 3.0 prints "CN = x", 3.2+ "CN=x".
names() {
    openssl crl2pkcs7 -nocrl -certfile "$1" | openssl pkcs7 -print_certs -noout |
        sed -n 's/^\(subject\|issuer\)=//p' | sed 's/ = /=/g'
}

for l in "${LEAVES[@]}"; do
    for ext in pem key der chain.pem; do
        [ -s "$l.$ext" ] || bad "$l.$ext missing"
    done
    [ -s "$l.pem" ] || continue
    openssl x509 -in "$l.pem" -outform DER 2>/dev/null | cmp -s - "$l.der" ||
        bad "$l.der differs from $l.pem"
    [ "$(openssl x509 -in "$l.pem" -noout -pubkey 2>/dev/null)" = \
        "$(openssl pkey -in "$l.key" -pubout 2>/dev/null)" ] || bad "$l.key does not match $l.pem"
    cmp -s <(head -c "$(stat -c %s "$l.pem")" "$l.chain.pem") "$l.pem" ||
        bad "$l.chain.pem does not start with $l.pem"
    # Each certificate in the chain file must be issued by the next one.
    mapfile -t nm < <(names "$l.chain.pem")
    for ((i = 1; i + 1 < ${#nm[@]}; i += 2)); do
        [ "${nm[i]}" = "${nm[i + 1]}" ] || bad "$l.chain.pem: '${nm[i - 1]}' is followed by '${nm[i + 1]}', not its issuer"
    done
    case $l in
        selfsigned) want=1 ;;
        unknownroot) want=3 ;;
        deep) want=9 ;;
        *) want=2 ;;
    esac
    [ $((${#nm[@]} / 2)) -eq $want ] || bad "$l.chain.pem: $((${#nm[@]} / 2)) certificates, want $want"
done
# unknownroot's chain must end in root2, every other one must stop short of the root.
[ "$(names unknownroot.chain.pem | tail -2 | head -1)" = "CN=s2s-trust Untrusted Root" ] ||
    bad "unknownroot.chain.pem does not end with root2"

# ---- openssl verify ------------------------------------------------------

# expect LEAF CODE [verify options] : CODE 0 means "verifies", otherwise the
# X509_V_ERR number openssl must report. Chains come from LEAF.chain.pem.
expect() {
    local leaf=$1 code=$2 out rc
    shift 2
    out=$(openssl verify -CAfile root.pem -purpose sslserver -untrusted "$leaf.chain.pem" \
        "$@" "$leaf.pem" 2>&1)
    rc=$?
    if [ "$code" = 0 ]; then
        [ $rc -eq 0 ] || bad "$leaf ($*): want OK, got: $(echo "$out" | grep -m1 error)"
    else
        { [ $rc -ne 0 ] && grep -q "^error $code at " <<<"$out"; } ||
            bad "$leaf ($*): want error $code, got: ${out//$'\n'/ | }"
    fi
}
host() { expect "$1" "$2" -verify_hostname "$3"; }

host good 0 good.test
host good 0 www.good.test
expect good 0 -crl_check_all -CRLfile root.crl.pem -CRLfile inter.crl.pem
host good-rsa 0 good-rsa.test
host serverauth 0 serverauth.test
expect clientauth 26                       # unsupported certificate purpose
host noeku 0 noeku.test
expect expired 10
expect notyet 9
expect selfsigned 18                       # self-signed certificate (depth 0)
out=$(openssl verify -CAfile root.pem -purpose sslserver unknownroot.pem 2>&1)
grep -q '^error 20 at ' <<<"$out" || bad "unknownroot alone: want error 20, got: $out"
expect unknownroot 19                      # self-signed certificate in chain
# learnme's intermediate is in no pool: the leaf alone does not verify with
# pool.pem, its own chain does (docs/learning.md).
out=$(openssl verify -CAfile root.pem -untrusted pool.pem -purpose sslserver learnme.pem 2>&1)
grep -q '^error 20 at ' <<<"$out" || bad "learnme with the pool: want error 20, got: $out"
expect learnme 0
expect wrongname 0
host wrongname 62 wrongname.test
host wildcard 0 a.wild.test
host wildcard 62 a.b.wild.test
host wildcard 62 wild.test
expect partialwild 0                       # OpenSSL allows partial wildcards; the SAN is checked below
# openssl ignores otherName SANs; the CN must not match either.
host xmppaddr 62 xmpp.test
host xmppjid 62 jid.test
host srvid 62 srv.test
host srvclient 62 srvc.test
expect cnonly 0                            # OpenSSL's CN fallback is the module's concern
host cnsan 0 cnsan.test
host cnsan 62 cnsan-cn.test
host idn 0 xn--bcher-kva.test
expect nonca 79                            # invalid CA certificate (X509_V_ERR_INVALID_CA in 3.0)
host ncok 0 ok.allowed.test
expect ncbad 47                            # permitted subtree violation
expect revoked 0
expect revoked 23 -crl_check -CRLfile inter.crl.pem
host nulsan 62 nul.test
host nulsan 62 evil.test
host nulsan 62 nul.test.evil.test
expect rsa1024 0
expect rsa1024 66 -auth_level 2            # EE key too small
expect sha1 0
expect sha1 68 -auth_level 2               # CA signature digest too weak
expect badsig 7                            # certificate signature failure
expect deep 0
expect deep 22 -verify_depth 6             # chain too long

# ---- contents openssl verify cannot judge ----------------------------------

# The extnValue OCTET STRING of a leaf's subjectAltName, as hex.
san_hex() {
    openssl asn1parse -inform DER -in "$1.der" |
        grep -A1 ':X509v3 Subject Alternative Name' | sed -n 's/.*\[HEX DUMP\]://p'
}
hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n' | tr a-f A-F; }

# SEQUENCE (0x30, 21 bytes) { [2] (0x82, 19 bytes) "nul.test\0.evil.test" }
[ "$(san_hex nulsan)" = "30158213$(hex nul.test)00$(hex .evil.test)" ] ||
    bad "nulsan: SAN is not one dNSName 'nul.test\\0.evil.test': $(san_hex nulsan)"
[[ $(san_hex idn) == *0C0E$(hex $'b\xc3\xbccher-x.test')* ]] ||
    bad "idn: xmppAddr is not the UTF-8 'bücher-x.test': $(san_hex idn)"
[ -z "$(san_hex cnonly)" ] || bad "cnonly has a subjectAltName"

# The SAN as openssl prints it; an otherName reads "XmppAddr::x" on 3.0 and
# "XmppAddr:x" from 3.2 on: the single-colon form is compared.
sanof() {
    openssl x509 -in "$1.pem" -noout -ext subjectAltName 2>/dev/null | sed -n '2s/^ *//p' |
        sed 's/\(othername: [A-Za-z]*\)::/\1:/g'
}
want_san() { [ "$(sanof "$1")" = "$2" ] || bad "$1: SAN '$(sanof "$1")', want '$2'"; }
want_san partialwild 'DNS:f*.pwild.test'
want_san xmppaddr 'othername: XmppAddr:xmpp.test'
want_san xmppjid 'othername: XmppAddr:user@jid.test'
want_san srvid 'othername: SRVName:_xmpp-server.srv.test'
want_san srvclient 'othername: SRVName:_xmpp-client.srvc.test'

subj() { openssl x509 -in "$1.pem" -noout -subject -nameopt utf8,sep_comma_plus 2>/dev/null; }
[ "$(subj root)" = "subject=CN=s2s-trust Test Root" ] || bad "root: $(subj root)"
[ "$(subj cnonly)" = "subject=CN=cnonly.test" ] || bad "cnonly: $(subj cnonly)"
[ "$(subj cnsan)" = "subject=CN=cnsan-cn.test" ] || bad "cnsan: $(subj cnsan)"

ext() { openssl x509 -in "$1.pem" -noout -ext "$2" 2>/dev/null | tail -n +2 | tr -d '\n' | sed 's/^ *//;s/  */ /g'; }
[ -z "$(ext noeku extendedKeyUsage)" ] || bad "noeku has an EKU"
[ "$(ext serverauth extendedKeyUsage)" = "TLS Web Server Authentication" ] || bad "serverauth: EKU $(ext serverauth extendedKeyUsage)"
[ "$(ext inter basicConstraints)" = "CA:TRUE, pathlen:0" ] || bad "inter: $(ext inter basicConstraints)"
[ "$(ext deep-4 basicConstraints)" = "CA:TRUE" ] || bad "deep-4: $(ext deep-4 basicConstraints)"
[ "$(ext notca basicConstraints)" = "CA:FALSE" ] || bad "notca: $(ext notca basicConstraints)"
[ "$(ext selfsigned basicConstraints)" = "CA:FALSE" ] || bad "selfsigned: $(ext selfsigned basicConstraints)"
[[ $(openssl x509 -in good-rsa.pem -noout -text) == *"Public-Key: (2048 bit)"* ]] || bad "good-rsa is not RSA-2048"
[[ $(openssl crl -in inter.crl.pem -noout -text) == *"Serial Number: $(openssl x509 -in revoked.pem -noout -serial | cut -d= -f2)"* ]] ||
    bad "inter.crl.pem does not revoke revoked"
[[ $(openssl crl -in root.crl.pem -noout -text) == *"No Revoked Certificates"* ]] || bad "root.crl.pem is not empty"

if [ $FAILS -ne 0 ]; then
    echo "check: $FAILS mismatch(es)" >&2
    exit 1
fi
echo "check: ok"
