#!/usr/bin/env bash
# bench/gen_pki.sh - the benchmark PKI (openssl CLI only).
#
#   bash bench/gen_pki.sh OUTDIR [LEAVES]        (LEAVES defaults to 1000;
#                                                env BENCH_FLAVOURS="ec rsa p384")
#
# Three flavours, each root -> intermediate (CA, pathlen 0) -> LEAVES leaves:
#   ec    ECDSA P-256 throughout, SHA-256
#   rsa   RSA-2048 throughout, SHA-256
#   p384  P-384 root and intermediate (ecdsa-with-SHA384), P-256 leaves:
#         the shape of Let's Encrypt's E-series chains under ISRG Root X2
# Every leaf has its own key, CN and SAN dNSName host-N.<flavour>.test,
# EKU serverAuth+clientAuth, KU digitalSignature, SKI/AKI (a Let's-Encrypt-like
# profile). Layout of OUTDIR/<flavour>/:
#   root.pem root.der int.pem int.der   the CAs (keys in ca/, never used by the bench)
#   leaves/host-N.der                   the leaves, DER, N = 1..LEAVES
#   bench.conf                          an s2s_trust configuration: ca_file = root,
#                                       intermediate_file = int (the pool)
# A flavour is generated only if OUTDIR/<flavour>/.done is missing, into a
# temporary directory renamed into place at the end, so an interrupted run
# never leaves a half PKI behind. Leaves are made by parallel openssl calls.
set -euo pipefail
export LC_ALL=C

die() { echo "gen_pki.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: gen_pki.sh OUTDIR [LEAVES]"
OUT=$1
N=${2:-1000}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "LEAVES must be a positive integer"
command -v openssl >/dev/null || die "openssl not found"
JOBS=$(nproc 2>/dev/null || echo 2)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# One configuration for every call; HOST is read from the environment.
write_cnf() {
    cat >"$1" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:${ENV::HOST}
EOF
}

# key options per key kind
kopts() {
    case $1 in
        p256) echo "-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
        p384) echo "-newkey ec -pkeyopt ec_paramgen_curve:P-384" ;;
        rsa)  echo "-newkey rsa:2048" ;;
        *) die "bad key kind $1" ;;
    esac
}

# leaves DIR FLAVOUR KEYKIND DIGEST I...   (run by xargs, several per process)
leaves() {
    local dir=$1 fl=$2 kind=$3 md=$4 i
    shift 4
    for i in "$@"; do
        HOST=host-$i.$fl.test openssl req -config "$dir/ext.cnf" -x509 -new $(kopts "$kind") -noenc \
            -keyout /dev/null -subj "/CN=host-$i.$fl.test" -days 825 -extensions v3_leaf \
            -CA "$dir/int.pem" -CAkey "$dir/ca/int.key" "-$md" \
            -outform DER -out "$dir/leaves/host-$i.der" 2>"$dir/ca/err-$i.log" \
            || { cat "$dir/ca/err-$i.log" >&2; exit 1; }
        rm -f "$dir/ca/err-$i.log"
    done
}
export -f leaves kopts die

# flavour NAME CA_KEYKIND LEAF_KEYKIND DIGEST
flavour() {
    local fl=$1 cakind=$2 leafkind=$3 md=$4
    local final=$OUT/$fl tmp=$OUT/.$fl.tmp
    [ -e "$final/.done" ] && return 0
    local t0=$SECONDS
    rm -rf "$tmp" "$final"
    mkdir -p "$tmp/ca" "$tmp/leaves"
    write_cnf "$tmp/ext.cnf"
    export HOST=unused.invalid
    openssl req -config "$tmp/ext.cnf" -x509 -new $(kopts "$cakind") -noenc -keyout "$tmp/ca/root.key" \
        -subj "/O=s2s_trust bench/CN=Bench Root $fl" -days 3650 -extensions v3_ca "-$md" \
        -out "$tmp/root.pem" 2>"$tmp/ca/root.log" || { cat "$tmp/ca/root.log" >&2; exit 1; }
    openssl req -config "$tmp/ext.cnf" -x509 -new $(kopts "$cakind") -noenc -keyout "$tmp/ca/int.key" \
        -subj "/O=s2s_trust bench/CN=Bench Intermediate $fl" -days 3650 -extensions v3_int "-$md" \
        -CA "$tmp/root.pem" -CAkey "$tmp/ca/root.key" \
        -out "$tmp/int.pem" 2>"$tmp/ca/int.log" || { cat "$tmp/ca/int.log" >&2; exit 1; }
    openssl x509 -in "$tmp/root.pem" -outform DER -out "$tmp/root.der"
    openssl x509 -in "$tmp/int.pem" -outform DER -out "$tmp/int.der"
    seq 1 "$N" | xargs -P "$JOBS" -n 50 bash -c 'leaves "$@"' _ "$tmp" "$fl" "$leafkind" "$md"
    local got
    got=$(find "$tmp/leaves" -name '*.der' | wc -l)
    [ "$got" -eq "$N" ] || die "$fl: $got leaves made, $N expected"
    # Functional check by an independent oracle: one leaf through openssl verify.
    openssl x509 -inform DER -in "$tmp/leaves/host-1.der" -out "$tmp/ca/check.pem"
    openssl verify -CAfile "$tmp/root.pem" -untrusted "$tmp/int.pem" -purpose sslserver \
        -verify_hostname "host-1.$fl.test" "$tmp/ca/check.pem" >/dev/null \
        || die "$fl: openssl verify refuses host-1"
    printf 'ca_file = "%s/root.pem";\nintermediate_file = "%s/int.pem";\n' "$final" "$final" >"$tmp/bench.conf"
    echo "$N" >"$tmp/.done"
    mv "$tmp" "$final"
    echo "gen_pki.sh: $fl: $N leaves in $((SECONDS - t0)) s"
}

# BENCH_FLAVOURS picks some (bench/domains.sh needs 10,000 EC leaves only).
for fl in ${BENCH_FLAVOURS:-ec rsa p384}; do
    case $fl in
        ec) flavour ec p256 p256 sha256 ;;
        rsa) flavour rsa rsa rsa sha256 ;;
        p384) flavour p384 p384 p256 sha384 ;;
        *) die "unknown flavour $fl (ec, rsa, p384)" ;;
    esac
done
