/*
 * bench/floors.c - the C floors the engine is measured against, on the
 * bench PKI of one flavour (bench/gen_pki.sh).
 *
 *   floors DIR SECONDS MODE...
 *
 * Modes (chains/s, single thread, cycling over every leaf of DIR/leaves):
 *   sig1    one signature: the leaf's TBS checked with the intermediate's
 *           key by EVP_DigestVerify; certificates parsed and TBS encoded
 *           beforehand (the floor of any leaf-only verification)
 *   sig2    two signatures: sig1 plus the intermediate's TBS with the root's key
 *   verify  X509_verify_cert on pre-parsed leaf and intermediate
 *   parse1  d2i_X509 of the leaf + X509_verify_cert, intermediate pre-parsed
 *           (what a leaf-only engine with a parsed pool has to do at least)
 *   parse2  d2i_X509 x2 (leaf and intermediate) + X509_verify_cert
 *           ("C parse+verify", the performance-baselines reference)
 *   parsesig d2i_X509 of the leaf + X509_verify with the intermediate's key:
 *           the least any engine does that keeps OpenSSL as its parser and
 *           signature verifier (no chain building, no other check); the
 *           ceiling of "uncached / sig1" for such an engine
 * Every X509_verify_cert runs as the engine's does: store = the root only,
 * purpose/trust "ssl_server", host check with NO_PARTIAL_WILDCARDS.
 *
 * With FLOORS_PROVIDERS=default,base,legacy in the environment those
 * providers are loaded first and every mode is printed as otp_MODE: that is
 * what Erlang's crypto NIF (OTP 25) loads into the process, and the "base"
 * provider makes OpenSSL 3.0's d2i_X509 about 3x slower (more decoders to
 * enumerate for the public key). A VM running ejabberd always has crypto.
 *
 * Output, one line per mode:  MODE CHAINS_PER_WALL_S CHAINS_PER_CPU_S N
 * A verification that fails is a functional error: message, exit 2.
 * Timing is never judged here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

typedef struct {
    unsigned char *der;
    long len;
} blob_t;

typedef struct {
    X509 *x;
    unsigned char *tbs;
    int tbs_len;
    const unsigned char *sig;
    int sig_len;
    const EVP_MD *md;
} cert_t;

static const char *flavour;
static X509_STORE *store;
static cert_t root, inter;
static cert_t *leaves;
static blob_t *leaf_der;
static blob_t inter_der;
static char **hosts;
static size_t n_leaves;

static void die(const char *what)
{
    fprintf(stderr, "floors: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static int read_file(const char *path, blob_t *b)
{
    FILE *f = fopen(path, "rb");
    long len;

    if (f == NULL)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    b->der = malloc((size_t)len);
    if (b->der == NULL || fread(b->der, 1, (size_t)len, f) != (size_t)len)
        die("read");
    b->len = len;
    fclose(f);
    return 0;
}

static X509 *parse(const blob_t *b)
{
    const unsigned char *p = b->der;
    X509 *x = d2i_X509(NULL, &p, b->len);

    if (x == NULL || p != b->der + b->len)
        die("d2i_X509");
    return x;
}

static void prepare(cert_t *c, const blob_t *b)
{
    const ASN1_BIT_STRING *sig;
    int md_nid, pk_nid;

    c->x = parse(b);
    c->tbs = NULL;
    c->tbs_len = i2d_re_X509_tbs(c->x, &c->tbs);
    if (c->tbs_len <= 0)
        die("i2d_re_X509_tbs");
    X509_get0_signature(&sig, NULL, c->x);
    c->sig = sig->data;
    c->sig_len = sig->length;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(c->x), &md_nid, &pk_nid))
        die("signature algorithm");
    c->md = EVP_get_digestbynid(md_nid);
    if (c->md == NULL)
        die("digest");
}

/* The signature of `c` checked with `issuer`'s key. */
static void check_sig(EVP_MD_CTX *mctx, const cert_t *c, EVP_PKEY *issuer_key)
{
    if (EVP_DigestVerifyInit(mctx, NULL, c->md, NULL, issuer_key) != 1 ||
        EVP_DigestVerify(mctx, c->sig, (size_t)c->sig_len, c->tbs, (size_t)c->tbs_len) != 1)
        die("EVP_DigestVerify: signature does not verify");
    EVP_MD_CTX_reset(mctx);
}

static void x509_verify(X509 *leaf, X509 *intermediate, const char *host)
{
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;

    if (untrusted == NULL || ctx == NULL || sk_X509_push(untrusted, intermediate) <= 0 ||
        X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1 ||
        X509_STORE_CTX_set_default(ctx, "ssl_server") != 1)
        die("X509_STORE_CTX setup");
    param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, host, 0) != 1)
        die("set1_host");
    if (X509_verify_cert(ctx) != 1) {
        fprintf(stderr, "floors: %s: %s: %s\n", flavour, host,
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        exit(2);
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
}

enum { SIG1, SIG2, VERIFY, PARSE1, PARSE2, PARSESIG };

static void one(int mode, size_t i, EVP_MD_CTX *mctx)
{
    X509 *leaf, *in;

    switch (mode) {
    case SIG1:
        check_sig(mctx, &leaves[i], X509_get0_pubkey(inter.x));
        break;
    case SIG2:
        check_sig(mctx, &leaves[i], X509_get0_pubkey(inter.x));
        check_sig(mctx, &inter, X509_get0_pubkey(root.x));
        break;
    case VERIFY:
        x509_verify(leaves[i].x, inter.x, hosts[i]);
        break;
    case PARSE1:
        leaf = parse(&leaf_der[i]);
        x509_verify(leaf, inter.x, hosts[i]);
        X509_free(leaf);
        break;
    case PARSE2:
        leaf = parse(&leaf_der[i]);
        in = parse(&inter_der);
        x509_verify(leaf, in, hosts[i]);
        X509_free(in);
        X509_free(leaf);
        break;
    case PARSESIG:
        leaf = parse(&leaf_der[i]);
        if (X509_verify(leaf, X509_get0_pubkey(inter.x)) != 1)
            die("X509_verify: signature does not verify");
        X509_free(leaf);
        break;
    }
}

static double now(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char *names[] = { "sig1", "sig2", "verify", "parse1", "parse2", "parsesig" };
    char path[4096];
    blob_t root_der;
    double seconds;
    EVP_MD_CTX *mctx;

    if (argc < 4) {
        fprintf(stderr, "usage: floors DIR SECONDS MODE...  (modes: sig1 sig2 verify parse1 parse2 parsesig)\n");
        return 1;
    }
    seconds = atof(argv[2]);
    const char *provs = getenv("FLOORS_PROVIDERS");
    if (provs != NULL && *provs != '\0') {
        char *list = strdup(provs), *save = NULL;
        for (char *name = strtok_r(list, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save))
            if (OSSL_PROVIDER_load(NULL, name) == NULL)
                die("OSSL_PROVIDER_load");
        free(list);
    }
    flavour = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];

    snprintf(path, sizeof path, "%s/root.der", argv[1]);
    if (read_file(path, &root_der) != 0)
        die("cannot read root.der");
    snprintf(path, sizeof path, "%s/int.der", argv[1]);
    if (read_file(path, &inter_der) != 0)
        die("cannot read int.der");
    prepare(&root, &root_der);
    prepare(&inter, &inter_der);
    for (size_t cap = 0;;) {
        blob_t b;
        snprintf(path, sizeof path, "%s/leaves/host-%zu.der", argv[1], n_leaves + 1);
        if (read_file(path, &b) != 0)
            break;
        if (n_leaves == cap) {
            cap = cap ? cap * 2 : 1024;
            leaves = realloc(leaves, cap * sizeof *leaves);
            leaf_der = realloc(leaf_der, cap * sizeof *leaf_der);
            hosts = realloc(hosts, cap * sizeof *hosts);
            if (leaves == NULL || leaf_der == NULL || hosts == NULL)
                die("out of memory");
        }
        leaf_der[n_leaves] = b;
        prepare(&leaves[n_leaves], &b);
        if (asprintf(&hosts[n_leaves], "host-%zu.%s.test", n_leaves + 1, flavour) < 0)
            die("out of memory");
        n_leaves++;
    }
    if (n_leaves == 0)
        die("no leaves/host-1.der");

    store = X509_STORE_new();
    if (store == NULL || X509_STORE_add_cert(store, root.x) != 1)
        die("X509_STORE");
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL)
        die("EVP_MD_CTX_new");

    for (int a = 3; a < argc; a++) {
        int mode = -1;
        size_t n = 0, i = 0;
        double w0, c0, w, c;

        for (int m = 0; m < (int)(sizeof names / sizeof *names); m++)
            if (strcmp(argv[a], names[m]) == 0)
                mode = m;
        if (mode < 0) {
            fprintf(stderr, "floors: unknown mode %s\n", argv[a]);
            return 1;
        }
        for (size_t k = 0; k < 50; k++)
            one(mode, k % n_leaves, mctx);
        w0 = now(CLOCK_MONOTONIC);
        c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        do {
            for (int k = 0; k < 16; k++) {
                one(mode, i, mctx);
                i = (i + 1) % n_leaves;
                n++;
            }
            w = now(CLOCK_MONOTONIC) - w0;
        } while (w < seconds);
        c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("%s%s %.1f %.1f %zu\n", provs != NULL && *provs != '\0' ? "otp_" : "", names[mode], (double)n / w, (double)n / c, n);
        fflush(stdout);
    }
    return 0;
}
