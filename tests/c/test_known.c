/*
 * test_known.c - presented certificates already in the pool are found by
 * their bytes (s2s_trust_known.h) and not parsed again, and no check is
 * skipped for them: every verdict equals the one of a store that indexes
 * nothing (S2S_TRUST_NO_KNOWN_CERTS=1), which parses every presented byte
 * as before. The broad differential (every file of the PKI, every policy
 * variant, the fuzz corpus) is test_presig.c's, whose "off" store has both
 * shortcuts off; here: the index itself, the count explain reports, and
 * the four ways a presented intermediate must still be refused.
 */
#include <stdlib.h>

#include <openssl/pem.h>

#include "core/s2s_trust_known.h"
#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

static STACK_OF(X509) *load_pool(void)
{
    STACK_OF(X509) *pool = sk_X509_new_null();
    BIO *bio = BIO_new_file(pki_path("pool.pem"), "r");
    X509 *x;

    while (pool != NULL && bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        if (sk_X509_push(pool, x) <= 0)
            X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return pool;
}

void test_known_index_exact_bytes(void)
{
    STACK_OF(X509) *pool = load_pool();
    STACK_OF(X509) *none = sk_X509_new_null();
    s2s_trust_known_t *known = s2s_trust_known_build(pool, NULL);
    s2s_trust_known_t *empty = s2s_trust_known_build(none, NULL);
    int n = sk_X509_num(pool);

    CHECK(n >= 2);
    CHECK(known != NULL && s2s_trust_known_count(known) == (size_t)n);
    CHECK(empty != NULL && s2s_trust_known_count(empty) == 0);
    for (int i = 0; known != NULL && i < n; i++) {
        X509 *x = sk_X509_value(pool, i);
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        unsigned char *copy = malloc((size_t)len + 1);

        if (len <= 0 || copy == NULL) {
            CHECK(0);
            OPENSSL_free(der);
            free(copy);
            break;
        }
        /* Found in a private copy: by the bytes, not by where they lie. */
        memcpy(copy, der, (size_t)len);
        CHECK(s2s_trust_known_find(known, copy, (size_t)len) == x);
        CHECK(s2s_trust_known_find(empty, copy, (size_t)len) == NULL);
        /* One bit anywhere, one byte less, one byte more: not the same bytes. */
        for (int at = 0; at < len; at++) {
            copy[at] ^= 0x01;
            CHECK_MSG(s2s_trust_known_find(known, copy, (size_t)len) == NULL, "cert %d, bit flipped at %d", i, at);
            copy[at] ^= 0x01;
        }
        CHECK(s2s_trust_known_find(known, copy, (size_t)len - 1) == NULL);
        copy[len] = 0;
        CHECK(s2s_trust_known_find(known, copy, (size_t)len + 1) == NULL);
        OPENSSL_free(der);
        free(copy);
    }
    CHECK(s2s_trust_known_find(NULL, (const unsigned char *)"x", 1) == NULL);
    CHECK(s2s_trust_known_find(known, NULL, 10) == NULL);
    CHECK(s2s_trust_known_find(known, (const unsigned char *)"x", 0) == NULL);
    s2s_trust_known_free(known);
    s2s_trust_known_free(empty);
    s2s_trust_known_free(NULL);
    sk_X509_pop_free(pool, X509_free);
    sk_X509_free(none);
}

/* The store `extra` describes, with (on) and without (off) the index. */
static void build_pair(const char *extra, s2s_trust_store_t **on, s2s_trust_store_t **off)
{
    *on = test_store(extra);
    setenv("S2S_TRUST_NO_KNOWN_CERTS", "1", 1);
    *off = test_store(extra);
    unsetenv("S2S_TRUST_NO_KNOWN_CERTS");
    CHECK(*on != NULL && *off != NULL);
    if (*on != NULL)
        CHECK(s2s_trust_store_known_count(*on) >= 2);
    if (*off != NULL)
        CHECK(s2s_trust_store_known_count(*off) == 0);
}

/* Verify `der` on both stores; the verdict and the built chain must agree.
 * Returns the verdict on `on` and its known count in *known_out. */
static int both(s2s_trust_store_t *on, s2s_trust_store_t *off, const char *what, const char *domain,
                const s2s_trust_der_t *der, size_t n, int *known_out)
{
    s2s_trust_details_t a, b;
    int va = s2s_trust_verify_chain(on, domain, strlen(domain), der, n, &a);
    int vb = s2s_trust_verify_chain(off, domain, strlen(domain), der, n, &b);
    bool same = va == vb && va == s2s_trust_verify_chain(on, domain, strlen(domain), der, n, NULL);

    *known_out = -1;
    if (same && va >= 0) {
        same = a.error_depth == b.error_depth && a.openssl_code == b.openssl_code && a.chain_count == b.chain_count &&
               strcmp(a.detail, b.detail) == 0 && b.known == 0 && a.presented == b.presented;
        for (size_t i = 0; same && i < a.chain_count; i++)
            same = strcmp(a.chain[i].subject, b.chain[i].subject) == 0;
        *known_out = a.known;
    }
    CHECK_MSG(same, "%s for %s: indexed %s, parsed %s", what, domain, s2s_trust_verdict_name(va),
              s2s_trust_verdict_name(vb));
    if (va >= 0)
        s2s_trust_details_free(&a);
    if (vb >= 0)
        s2s_trust_details_free(&b);
    return va;
}

static int both_file(s2s_trust_store_t *on, s2s_trust_store_t *off, const char *file, const char *domain,
                     int *known_out)
{
    chain_t chain;
    int v;

    *known_out = -1;
    if (chain_load(file, &chain) != 0) {
        CHECK_MSG(0, "cannot load %s", file);
        return -2;
    }
    v = both(on, off, file, domain, chain.der, chain.n, known_out);
    chain_free(&chain);
    return v;
}

void test_known_presented_copy_not_parsed_again(void)
{
    s2s_trust_store_t *on, *off;
    chain_t chain;
    int known;

    build_pair("", &on, &off);
    if (on == NULL || off == NULL || chain_load("good.chain.pem", &chain) != 0) {
        CHECK(0);
        goto done;
    }
    CHECK(chain.n == 2);
    /* The leaf is new, its intermediate is the pool's. */
    CHECK(both(on, off, "leaf + intermediate", "good.test", chain.der, 2, &known) == S2S_TRUST_OK && known == 1);
    CHECK(both(on, off, "leaf only", "good.test", chain.der, 1, &known) == S2S_TRUST_OK && known == 0);
    /* The same intermediate twice: both found, the verdict unchanged. */
    {
        s2s_trust_der_t twice[3] = { chain.der[0], chain.der[1], chain.der[1] };
        CHECK(both(on, off, "intermediate twice", "good.test", twice, 3, &known) == S2S_TRUST_OK && known == 2);
    }
    /* A pool certificate presented as the leaf is judged as a leaf. */
    {
        int v = both(on, off, "intermediate as the leaf", "good.test", &chain.der[1], 1, &known);
        CHECK(v != S2S_TRUST_OK && known == 1);
    }
    chain_free(&chain);
    /* Another leaf under the name-constrained pool intermediate. */
    CHECK(both_file(on, off, "ncok.chain.pem", "ok.allowed.test", &known) == S2S_TRUST_OK && known == 1);
done:
    s2s_trust_store_release(on);
    s2s_trust_store_release(off);
}

void test_known_checks_still_bite(void)
{
    const char *crl = crl_revoking_inter();
    char extra[8192];
    s2s_trust_store_t *on = NULL, *off = NULL, *root_only = NULL;
    chain_t chain = { 0 };
    int known, v;

    /* One byte different: never the pool's object, and the same verdict as
     * parsing gives, at every position of the intermediate; with only the
     * root to go on, a changed intermediate is never trusted. */
    build_pair("", &on, &off);
    snprintf(extra, sizeof extra, "ca_file = \"%s\";\n", pki_path("root.pem"));
    root_only = store_from_text("root-only.conf", extra);
    if (on != NULL && off != NULL && root_only != NULL && chain_load("good.chain.pem", &chain) == 0 && chain.n == 2) {
        unsigned char *inter = malloc(chain.der[1].len);
        s2s_trust_der_t changed[2] = { chain.der[0], { inter, chain.der[1].len } };
        int trusted_by_root_only = 0;

        CHECK(inter != NULL);
        for (size_t at = 0; inter != NULL && at < chain.der[1].len; at++) {
            memcpy(inter, chain.der[1].data, chain.der[1].len);
            inter[at] ^= 0x01;
            v = both(on, off, "one byte different", "good.test", changed, 2, &known);
            CHECK_MSG(known == 0 || v == S2S_TRUST_MALFORMED, "byte %zu: known %d", at, known);
            trusted_by_root_only += s2s_trust_verify_chain(root_only, "good.test", 9, changed, 2, NULL) == S2S_TRUST_OK;
        }
        CHECK(trusted_by_root_only == 0);
        /* The unchanged intermediate is what completes the chain for root_only. */
        CHECK(s2s_trust_verify_chain(root_only, "good.test", 9, chain.der, 2, NULL) == S2S_TRUST_OK);
        free(inter);
    }
    chain_free(&chain);
    s2s_trust_store_release(on);
    s2s_trust_store_release(off);
    s2s_trust_store_release(root_only);

    /* Revoked: the pool intermediate listed in the root's CRL. */
    CHECK(crl != NULL);
    snprintf(extra, sizeof extra, "crl_file = [\"%s\", \"%s\"];", crl ? crl : "/nonexistent",
             pki_path("inter.crl.pem"));
    build_pair(extra, &on, &off);
    if (on != NULL && off != NULL)
        CHECK(both_file(on, off, "good.chain.pem", "good.test", &known) == S2S_TRUST_REVOKED && known == 1);
    s2s_trust_store_release(on);
    s2s_trust_store_release(off);

    /* Expired: at the root's notAfter the pool intermediates have expired too. */
    {
        BIO *bio = BIO_new_file(pki_path("inter.pem"), "r");
        X509 *inter = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        int64_t t = 0;

        BIO_free(bio);
        CHECK(inter != NULL && s2s_trust_asn1_time_seconds(X509_get0_notAfter(inter), &t) == 0);
        X509_free(inter);
        snprintf(extra, sizeof extra, "verification_time = %lldL;", (long long)t + 1);
        build_pair(extra, &on, &off);
        if (on != NULL && off != NULL)
            CHECK(both_file(on, off, "good.chain.pem", "good.test", &known) == S2S_TRUST_EXPIRED && known == 1);
        s2s_trust_store_release(on);
        s2s_trust_store_release(off);
    }

    /* Outside the name constraints of the presented (pool) inter-nc. */
    build_pair("", &on, &off);
    if (on != NULL && off != NULL) {
        CHECK(both_file(on, off, "ncbad.chain.pem", "evil.test", &known) == S2S_TRUST_NAME_CONSTRAINTS && known == 1);
        CHECK(both_file(on, off, "ncxmpp.chain.pem", "victim.test", &known) == S2S_TRUST_NAME_CONSTRAINTS &&
              known == 1);
    }
    s2s_trust_store_release(on);
    s2s_trust_store_release(off);
    ERR_clear_error();
}
