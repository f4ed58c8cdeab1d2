/* test_limits.c - certificates built to be expensive: thousands of names,
 * name constraints with many subtrees, a large RSA key. Each is answered
 * with a clear verdict; the time each took is printed (never asserted: the
 * worst case goes into docs/testing.md). Certificates are built in memory
 * and signed with the test PKI's own CA keys, so the chains really verify. */
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static EVP_PKEY *load_key(const char *file)
{
    BIO *bio = BIO_new_file(pki_path(file), "r");
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return key;
}

static X509 *load_cert(const char *file)
{
    BIO *bio = BIO_new_file(pki_path(file), "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return x;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext != NULL) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

/* A certificate for `key`, issued by `issuer`/`issuer_key`, with the given
 * SAN list (comma-separated v3 syntax) and extra extensions. */
static X509 *issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                   const char *san, int is_ca, const char *nc)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(rand() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, X509_get_subject_name(issuer));
    X509_set_pubkey(x, key);
    add_ext(x, issuer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, issuer, NID_key_usage, is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(x, issuer, NID_subject_key_identifier, "hash");
    add_ext(x, issuer, NID_authority_key_identifier, "keyid");
    if (!is_ca)
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
    if (san != NULL)
        add_ext(x, issuer, NID_subject_alt_name, san);
    if (nc != NULL)
        add_ext(x, issuer, NID_name_constraints, nc);
    X509_sign(x, issuer_key, EVP_sha256());
    X509_NAME_free(name);
    return x;
}

static int verify_x509(s2s_trust_store_t *store, const char *domain, X509 **certs, size_t n,
                       double *ms, s2s_trust_details_t *d)
{
    unsigned char *der[4] = { 0 };
    s2s_trust_der_t chain[4];
    int verdict;
    double t0;

    for (size_t i = 0; i < n; i++) {
        int len = i2d_X509(certs[i], &der[i]);
        chain[i].data = der[i];
        chain[i].len = len > 0 ? (size_t)len : 0;
    }
    t0 = now_ms();
    verdict = s2s_trust_verify_chain(store, domain, strlen(domain), chain, n, d);
    *ms = now_ms() - t0;
    for (size_t i = 0; i < n; i++)
        OPENSSL_free(der[i]);
    return verdict;
}

/* "PREFIX0.many.test,PREFIX1.many.test,..." in v3 configuration syntax. */
static char *many_names(int count, const char *prefix)
{
    size_t cap = (size_t)count * 48 + 1, used = 0;
    char *s = malloc(cap);

    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < count; i++) {
        int n = snprintf(s + used, cap - used, "%s%s%d.many.test", i ? "," : "", prefix, i);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    return s;
}

void test_limits_thousands_of_names(void)
{
    EVP_PKEY *inter_key = load_key("ca/inter/key.pem");
    X509 *inter = load_cert("inter.pem");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    char *san = many_names(5000, "DNS:host-");
    s2s_trust_store_t *tight = test_store(NULL);
    s2s_trust_store_t *wide = test_store("max_cert_bytes = 262144;");
    X509 *leaf;
    double ms;
    s2s_trust_details_t d;
    int v;

    if (!inter_key || !inter || !key || !tight || !wide) {
        CHECK(0);
        goto done;
    }
    leaf = issue(key, "many.test", inter, inter_key, san, 0, NULL);
    /* ~100 KiB of names: over the default size limit, refused unparsed. */
    v = verify_x509(tight, "host-4999.many.test", &leaf, 1, &ms, NULL);
    CHECK(v == S2S_TRUST_TOO_LONG);
    printf("     5000 SANs, default limits: %s in %.2f ms\n", s2s_trust_verdict_name(v), ms);
    /* Allowed in: the last name still matches, a foreign one does not. */
    v = verify_x509(wide, "host-4999.many.test", &leaf, 1, &ms, NULL);
    CHECK(v == S2S_TRUST_OK);
    printf("     5000 SANs, 256 KiB limit, last name: %s in %.2f ms\n", s2s_trust_verdict_name(v), ms);
    v = verify_x509(wide, "other.test", &leaf, 1, &ms, &d);
    CHECK(v == S2S_TRUST_NAME_MISMATCH);
    if (v >= 0) {
        CHECK(d.name_count == 5001); /* every name for explain, plus the CN */
        s2s_trust_details_free(&d);
    }
    printf("     5000 SANs, 256 KiB limit, no match, with details: %.2f ms\n", ms);
    X509_free(leaf);
done:
    free(san);
    EVP_PKEY_free(key);
    EVP_PKEY_free(inter_key);
    X509_free(inter);
    s2s_trust_store_release(tight);
    s2s_trust_store_release(wide);
}

void test_limits_many_name_constraints(void)
{
    EVP_PKEY *root_key = load_key("ca/root/key.pem");
    X509 *root = load_cert("root.pem");
    EVP_PKEY *ca_key = EVP_EC_gen("P-256");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    char *nc = many_names(1000, "permitted;DNS:sub-");
    char *san = many_names(1000, "DNS:sub-");
    char *more = many_names(1100, "DNS:sub-");
    s2s_trust_store_t *store = test_store("max_cert_bytes = 262144;");
    X509 *chain[2] = { NULL, NULL };
    X509 *big = NULL;
    double ms;
    int v;

    if (!root_key || !root || !ca_key || !key || !store) {
        CHECK(0);
        goto done;
    }
    chain[1] = issue(ca_key, "many-nc CA", root, root_key, NULL, 1, nc);
    chain[0] = issue(key, "many.test", chain[1], ca_key, san, 0, NULL);
    /* 1000 names x 1000 subtrees, every name permitted: checked in full. */
    v = verify_x509(store, "sub-999.many.test", chain, 2, &ms, NULL);
    CHECK(v == S2S_TRUST_OK);
    printf("     1000 names x 1000 name-constraint subtrees: %s in %.2f ms\n",
           v >= 0 ? s2s_trust_verdict_name(v) : "error", ms);
    /* Past 2^20 name/subtree pairs OpenSSL refuses rather than work on. */
    big = issue(key, "many.test", chain[1], ca_key, more, 0, NULL);
    X509_free(chain[0]);
    chain[0] = big;
    v = verify_x509(store, "sub-999.many.test", chain, 2, &ms, NULL);
    CHECK(v > S2S_TRUST_OK);
    printf("     1100 names x 1000 name-constraint subtrees: %s in %.2f ms\n",
           v >= 0 ? s2s_trust_verdict_name(v) : "error", ms);
done:
    for (int i = 0; i < 2; i++)
        X509_free(chain[i]);
    free(nc);
    free(san);
    free(more);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(root_key);
    X509_free(root);
    s2s_trust_store_release(store);
}

/* A peer's big RSA key costs a signature check of ours only if it signs
 * something we check: here an intermediate with an 8192-bit key signs the
 * leaf. A 16384-bit key takes minutes to generate, so it is not made on
 * every run: S2S_TRUST_BIG_RSA_KEY names a PEM key to use instead. */
static EVP_PKEY *big_rsa_key(void)
{
    const char *file = getenv("S2S_TRUST_BIG_RSA_KEY");
    BIO *bio = file ? BIO_new_file(file, "r") : NULL;
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    return key != NULL ? key : EVP_RSA_gen(8192);
}

void test_limits_large_rsa_key(void)
{
    EVP_PKEY *root_key = load_key("ca/root/key.pem");
    X509 *root = load_cert("root.pem");
    EVP_PKEY *ca_key = big_rsa_key();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    s2s_trust_store_t *store = test_store(NULL);
    X509 *chain[2] = { NULL, NULL };
    double ms;
    int v;

    if (!root_key || !root || !ca_key || !key || !store) {
        CHECK(0);
        goto done;
    }
    chain[1] = issue(ca_key, "big RSA CA", root, root_key, NULL, 1, NULL);
    chain[0] = issue(key, "big.test", chain[1], ca_key, "DNS:big.test", 0, NULL);
    v = verify_x509(store, "big.test", chain, 2, &ms, NULL);
    CHECK(v == S2S_TRUST_OK);
    printf("     RSA-%d intermediate: %s in %.2f ms\n", EVP_PKEY_get_bits(ca_key),
           v >= 0 ? s2s_trust_verdict_name(v) : "error", ms);
done:
    for (int i = 0; i < 2; i++)
        X509_free(chain[i]);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(root_key);
    X509_free(root);
    s2s_trust_store_release(store);
}
