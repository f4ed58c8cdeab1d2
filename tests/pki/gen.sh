#!/usr/bin/env bash
# Generate the test PKI described in tests/pki/README.md into OUTDIR.
#   bash tests/pki/gen.sh OUTDIR
# Only the openssl CLI and coreutils. Each issuing CA gets a minimal
# `openssl ca` database under OUTDIR/ca/NAME/ (its key is ca/NAME/key.pem),
# because only `openssl ca` can set arbitrary notBefore/notAfter in 3.0.
set -euo pipefail
# Byte-wise string handling for the hand-built DER, whatever the caller's locale.
export LC_ALL=C

die() { echo "gen.sh: $*" >&2; exit 1; }
trap 'echo "gen.sh: failed at line $LINENO" >&2' ERR

[ $# -eq 1 ] || die "usage: gen.sh OUTDIR"
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CNF=$HERE/openssl.cnf
[ -r "$CNF" ] || die "missing $CNF"
command -v openssl >/dev/null || die "openssl not found"

# A stale CA database would leak old serials and revocations into the new
# CRLs, and wiping an arbitrary directory is not ours to do.
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
    die "$OUT exists and is not empty; remove it first"
fi
mkdir -p "$OUT/ca/csr"
cd "$OUT"

# openssl.cnf references these in every section; they must always be set.
export CA_DIR=/nonexistent SAN=DNS:unused.invalid EKU=serverAuth KU=digitalSignature
# Keep the user's openssl.cnf (OPENSSL_CONF) out of every call.
export OPENSSL_CONF=$CNF

LOG=ca/last.log
# Quiet on success; on failure show the command and everything openssl said.
run() {
    if ! "$@" >"$LOG" 2>&1; then
        echo "gen.sh: command failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

# One reference instant so every "yesterday" is the same second; GNU date
# does the calendar arithmetic (29 Feb + 10 years).
base=$(date -u -d yesterday '+%Y-%m-%d %H:%M:%S')
fmt=+%Y%m%d%H%M%SZ
START=$(date -u -d "$base UTC" "$fmt")
CA_END=$(date -u -d "$base UTC +10 years" "$fmt")
LEAF_END=$(date -u -d "$base UTC +1 year" "$fmt")

# Random start serial per CA so two generated PKIs (practically) never share
# issuer name + serial, which caches and CRL lookups key on.
# $RANDOM is 15 bits, so the leading nibble stays below 8 (positive INTEGER).
new_db() {
    local d=ca/$1
    mkdir -p "$d/newcerts"
    : >"$d/index.txt"
    printf '%04X%04X%04X%04X\n' $RANDOM $RANDOM $RANDOM $RANDOM >"$d/serial"
    echo 1000 >"$d/crlnumber"
}

# new_req NAME KEYTYPE KEYFILE SUBJECT  (KEYTYPE: ec | rsa2048 | rsa1024)
new_req() {
    local name=$1 kt=$2 keyfile=$3 subj=$4 kopts
    case $kt in
        ec) kopts=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
        rsa*) kopts=(-newkey "rsa:${kt#rsa}") ;;
        *) die "bad key type $kt" ;;
    esac
    run openssl req -config "$CNF" -new -utf8 "${kopts[@]}" -noenc \
        -keyout "$keyfile" -out "ca/csr/$name.csr" -subj "$subj"
}

# sign NAME ISSUER EXT START END OUTFILE [extra openssl ca args]
# ISSUER "self" means self-signed with NAME's own database and key $SELF_KEY.
sign() {
    local name=$1 issuer=$2 ext=$3 start=$4 end=$5 outfile=$6
    shift 6
    local who
    if [ "$issuer" = self ]; then
        who=(-selfsign -keyfile "$SELF_KEY")
        export CA_DIR=ca/$name
    else
        who=(-cert "$issuer.pem" -keyfile "ca/$issuer/key.pem")
        export CA_DIR=ca/$issuer
    fi
    run openssl ca -config "$CNF" -batch -notext -utf8 "${who[@]}" \
        -in "ca/csr/$name.csr" -out "$outfile" -extensions "$ext" \
        -startdate "$start" -enddate "$end" "$@"
}

# Remembers who issued each CA, to assemble chain files.
declare -A PARENT

# authority NAME ISSUER|self EXT CN
authority() {
    local name=$1 issuer=$2 ext=$3 cn=$4
    new_db "$name"
    new_req "$name" ec "ca/$name/key.pem" "/CN=$cn"
    SELF_KEY=ca/$name/key.pem
    sign "$name" "$issuer" "$ext" "$START" "$CA_END" "$name.pem"
    PARENT[$name]=$issuer
}

# The intermediates a server sends for a leaf issued by $1, nearest first.
# root2 is the one root included: unknownroot's chain must end in it.
chain_tail() {
    local cur=$1
    while [ "$cur" != root ] && [ "$cur" != self ]; do
        printf '%s.pem\n' "$cur"
        [ "$cur" = root2 ] && break
        cur=${PARENT[$cur]}
    done
}

pem_to_der() { sed '/^-----/d' "$1" | base64 -d >"$2"; }

# leaf NAME ISSUER [key=value ...]
#   san=   subjectAltName (omit with ext=leaf_nosan_ext)
#   cn=    subject CN (default: first DNS name in san)
#   eku=   extendedKeyUsage (default serverAuth,clientAuth)
#   ext=   config section (leaf_ext, leaf_noeku_ext, leaf_nosan_ext)
#   key=   ec | rsa2048 | rsa1024     md= signing digest
#   start= end=  validity (default yesterday + 1 year)
leaf() {
    local name=$1 issuer=$2
    shift 2
    local san='' cn='' eku=serverAuth,clientAuth ext=leaf_ext key=ec md=sha256
    local start=$START end=$LEAF_END kv
    for kv; do
        case $kv in
            san=* | cn=* | eku=* | ext=* | key=* | md=* | start=* | end=*) local "$kv" ;;
            *) die "leaf $name: bad option $kv" ;;
        esac
    done
    if [ -z "$cn" ]; then
        [[ $san == DNS:* ]] || die "leaf $name: needs cn="
        cn=${san#DNS:}
        cn=${cn%%,*}
    fi
    export SAN=${san:-DNS:unused.invalid} EKU=$eku KU=digitalSignature
    [[ $key == rsa* ]] && KU=digitalSignature,keyEncipherment

    new_req "$name" "$key" "$name.key" "/CN=$cn"
    if [ "$issuer" = self ]; then
        new_db "$name"
        SELF_KEY=$name.key
    fi
    sign "$name" "$issuer" "$ext" "$start" "$end" "$name.pem" -md "$md"
    pem_to_der "$name.pem" "$name.der"
    # shellcheck disable=SC2046  # file names have no spaces
    cat "$name.pem" $(chain_tail "$issuer") >"$name.chain.pem"
}

# Hand-built DER, for SANs the config syntax cannot express.
# hexof STRING: its bytes as hex.  tlv TAG HEXBODY: one DER element.
hexof() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
tlv() {
    local n=$((${#2} / 2))
    if ((n < 128)); then
        printf '%s%02x%s' "$1" "$n" "$2"
    elif ((n < 256)); then
        printf '%s81%02x%s' "$1" "$n" "$2"
    else
        printf '%s82%04x%s' "$1" "$n" "$2"
    fi
}

XMPP=1.3.6.1.5.5.7.8.5 # id-on-xmppAddr
SRV=1.3.6.1.5.5.7.8.7  # id-on-dnsSRV
XMPP_OID_DER=06082b06010505070805

# ---- authorities ---------------------------------------------------------

authority root self root_ext "s2s-trust Test Root"
authority root2 self root_ext "s2s-trust Untrusted Root"
authority inter root inter_ext "s2s-trust Test Intermediate"
authority inter2 root2 inter_ext "s2s-trust Untrusted Intermediate"
authority inter-nc root nc_ext "s2s-trust Name-Constrained Intermediate"
authority notca root notca_ext "s2s-trust Not A CA"
# Under the trusted root but in no pool: a peer's chain through one of these
# validates only once the module has learned the intermediate from the peer's
# own server (docs/learning.md). Two, so one test peer can send its chain and
# another withhold it without the first peer's teaching the second's.
authority inter-new root inter_ext "s2s-trust Unpooled Intermediate"
authority inter-new2 root inter_ext "s2s-trust Unpooled Intermediate 2"
# Names (crlDistributionPoints) where the root publishes its CRL, on the
# loopback address tests/e2e/test_crl.sh serves CRLs from (docs/crl.md).
authority inter-crl root inter_crl_ext "s2s-trust CRL-Publishing Intermediate"
prev=root
for i in 1 2 3 4 5 6 7 8; do
    authority "deep-$i" "$prev" deep_ext "s2s-trust Deep $i"
    prev=deep-$i
done
cp root.pem anchors.pem
cat inter.pem inter-nc.pem >pool.pem

# ---- leaves --------------------------------------------------------------

leaf good inter san=DNS:good.test,DNS:www.good.test
leaf good-rsa inter san=DNS:good-rsa.test key=rsa2048
leaf serverauth inter san=DNS:serverauth.test eku=serverAuth
leaf clientauth inter san=DNS:clientauth.test eku=clientAuth
leaf noeku inter san=DNS:noeku.test ext=leaf_noeku_ext
leaf expired inter san=DNS:expired.test start=20200101000000Z end=20210101000000Z
leaf notyet inter san=DNS:notyet.test start=20400101000000Z end=20410101000000Z
leaf selfsigned self san=DNS:selfsigned.test
leaf unknownroot inter2 san=DNS:unknownroot.test
leaf learnme inter-new san=DNS:learnme.test
leaf wrongname inter san=DNS:other.test
leaf wildcard inter 'san=DNS:*.wild.test'
leaf partialwild inter 'san=DNS:f*.pwild.test'
# CNs that are not domains, so no CN fallback can ever match by accident.
leaf xmppaddr inter "san=otherName:$XMPP;UTF8:xmpp.test" 'cn=xmppaddr leaf'
leaf xmppjid inter "san=otherName:$XMPP;UTF8:user@jid.test" 'cn=xmppjid leaf'
leaf srvid inter "san=otherName:$SRV;IA5STRING:_xmpp-server.srv.test" 'cn=srvid leaf'
leaf srvclient inter "san=otherName:$SRV;IA5STRING:_xmpp-client.srvc.test" 'cn=srvclient leaf'
leaf cnonly inter ext=leaf_nosan_ext cn=cnonly.test
leaf cnsan inter san=DNS:cnsan.test cn=cnsan-cn.test
# otherName:...;UTF8: reads its bytes as Latin-1 and encodes "ü" twice, and
# the FORMAT:UTF8 fix needs a comma the SAN list parser splits on; so DER:
#   SEQUENCE { [2] "xn--bcher-kva.test",
#              [0] { id-on-xmppAddr, [0] EXPLICIT UTF8String "bücher-x.test" } }
# The U-label is spelled in escapes to keep this file ASCII.
idn_san=$(tlv 30 "$(tlv 82 "$(hexof xn--bcher-kva.test)")$(tlv a0 \
    "$XMPP_OID_DER$(tlv a0 "$(tlv 0c "$(hexof $'b\xc3\xbccher-x.test')")")")")
leaf idn inter "san=DER:$idn_san" cn=xn--bcher-kva.test
leaf nonca notca san=DNS:nonca.test
leaf ncok inter-nc san=DNS:ok.allowed.test
leaf ncbad inter-nc san=DNS:evil.test
# A constrained CA vouching for an outside domain through names OpenSSL's
# constraint check does not see (otherNames): must still be refused.
leaf ncxmpp inter-nc "san=otherName:$XMPP;UTF8:victim.test" 'cn=ncxmpp leaf'
leaf ncsrv inter-nc "san=otherName:$SRV;IA5STRING:_xmpp-server.victim.test" 'cn=ncsrv leaf'
# A URI SAN is still a SAN: no CN fallback, even with insecure_allow_cn_id.
leaf cnuri inter san=URI:xmpp:cnuri.test cn=cnuri.test
leaf revoked inter san=DNS:revoked.test
# Names where inter-crl publishes the CRL that covers it, as Let's Encrypt
# leaves do (docs/crl.md).
leaf crlleaf inter-crl san=DNS:crlleaf.test ext=leaf_crl_ext
leaf rsa1024 inter san=DNS:rsa1024.test key=rsa1024
leaf sha1 inter san=DNS:sha1.test md=sha1
leaf deep deep-8 san=DNS:deep.test

# The config syntax cannot put a NUL into DNS:, so nulsan's GeneralNames is
# spelled as DER: SEQUENCE { [2] IMPLICIT IA5String "nul.test\0.evil.test" }.
nul_name=$(hexof nul.test)00$(hexof .evil.test)
leaf nulsan inter "san=DER:$(tlv 30 "$(tlv 82 "$nul_name")")" 'cn=nulsan leaf'
od -An -tx1 -v nulsan.der | tr -d ' \n' | grep -q "$nul_name" ||
    die "nulsan.der does not hold the NUL dNSName"

# badsig: a properly issued leaf whose last byte, the end of the signature
# BIT STRING (ECDSA's s), is flipped; the DER stays well-formed.
leaf badsig inter san=DNS:badsig.test
mv badsig.der ca/badsig.orig.der
size=$(stat -c %s ca/badsig.orig.der)
head -c $((size - 1)) ca/badsig.orig.der >badsig.der
last=$(tail -c 1 ca/badsig.orig.der | od -An -tu1)
printf '%b' "\\0$(printf %03o $((${last// /} ^ 1)))" >>badsig.der
[ "$(cmp -l ca/badsig.orig.der badsig.der | wc -l)" -eq 1 ] || die "badsig.der: flip went wrong"
{
    echo '-----BEGIN CERTIFICATE-----'
    base64 -w 64 badsig.der
    echo '-----END CERTIFICATE-----'
} >badsig.pem
cat badsig.pem inter.pem >badsig.chain.pem

# ---- CRLs ----------------------------------------------------------------

export CA_DIR=ca/root
run openssl ca -config "$CNF" -batch -gencrl -cert root.pem -keyfile ca/root/key.pem \
    -crldays 30 -out root.crl.pem
export CA_DIR=ca/inter
run openssl ca -config "$CNF" -batch -revoke revoked.pem -cert inter.pem -keyfile ca/inter/key.pem
run openssl ca -config "$CNF" -batch -gencrl -cert inter.pem -keyfile ca/inter/key.pem \
    -crldays 30 -out inter.crl.pem

rm -f "$LOG"
n=$(find . -maxdepth 1 -type f | wc -l)
echo "pki: $n files in $OUT"
