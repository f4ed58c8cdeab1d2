/*
 * test_dane.c - s2s_trust_dane_verify: a chain against TLSA records, in
 * OpenSSL's DANE code, under the store's policy (RFC 6698, 7671, 7673).
 *
 * Records are built here from the test PKI's own certificates (digests of
 * the leaf's key, of an intermediate, the whole certificate), then altered
 * by one bit, made unusable, multiplied past the bound. The store trusts
 * the test root only; root2 (unknownroot's CA chain) is not an anchor.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/s2s_trust_dane.h"
#include "testing.h"
#include "tests.h"

typedef struct {
    unsigned char data[8192];
    size_t len;
} blob_t;

/* The TLSA data of a certificate: selector 0 (whole) or 1 (SPKI), mtype
 * 0 (exact), 1 (SHA-256) or 2 (SHA-512). */
static int tlsa_data(X509 *x, int selector, int mtype, blob_t *out)
{
    unsigned char *der = NULL;
    int len = selector == 0 ? i2d_X509(x, &der) : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    unsigned int dlen = 0;
    int ok = len > 0;

    if (ok && mtype == 0) {
        ok = (size_t)len <= sizeof out->data;
        if (ok) {
            memcpy(out->data, der, (size_t)len);
            out->len = (size_t)len;
        }
    } else if (ok) {
        ok = EVP_Digest(der, (size_t)len, out->data, &dlen, mtype == 1 ? EVP_sha256() : EVP_sha512(), NULL) == 1;
        out->len = dlen;
    }
    OPENSSL_free(der);
    return ok ? 0 : -1;
}

static s2s_trust_tlsa_t rec(int usage, int selector, int mtype, const blob_t *b)
{
    s2s_trust_tlsa_t r = { (uint8_t)usage, (uint8_t)selector, (uint8_t)mtype, b->data, b->len };
    return r;
}

/* Match chain file `file` for `domain` against records; the outcome. */
static s2s_trust_dane_result_t match(s2s_trust_store_t *store, const char *file, const char *domain,
                                     const char *srv_target, const s2s_trust_tlsa_t *records, size_t n)
{
    chain_t chain;
    s2s_trust_dane_result_t out;

    memset(&out, 0, sizeof out);
    out.outcome = S2S_TRUST_DANE_FAILED;
    out.verdict = S2S_TRUST_UNTRUSTED;
    if (chain_load(file, &chain) != 0) {
        CHECK_MSG(0, "cannot load %s", file);
        return out;
    }
    CHECK(s2s_trust_dane_verify(store, domain, strlen(domain), srv_target, chain.der, chain.n, records, n, &out) == 0);
    chain_free(&chain);
    return out;
}

void test_dane_ee(void)
{
    s2s_trust_store_t *store = test_store(NULL);
    X509 *self = pki_cert("selfsigned.pem"), *expired = pki_cert("expired.pem");
    blob_t spki, whole, sha512, bad, exp;
    s2s_trust_dane_result_t r;

    CHECK(store != NULL && self != NULL && expired != NULL);
    if (store == NULL || self == NULL || expired == NULL)
        goto out;
    CHECK(tlsa_data(self, 1, 1, &spki) == 0 && tlsa_data(self, 0, 0, &whole) == 0 &&
          tlsa_data(self, 1, 2, &sha512) == 0 && tlsa_data(expired, 1, 1, &exp) == 0);
    /* A self-signed leaf, no PKIX path at all: a DANE-EE record accepts it. */
    s2s_trust_tlsa_t ee[] = { rec(3, 1, 1, &spki) };
    r = match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, ee, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_EE && r.verdict == S2S_TRUST_OK && r.match_depth == 0 &&
          r.match_usage == 3 && r.usable == 1);
    CHECK_STR(s2s_trust_dane_outcome_name(r.outcome), "dane_ee");
    /* ... whatever name it carries (RFC 7671 5.1) ... */
    r = match(store, "selfsigned.chain.pem", "another.test", NULL, ee, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_EE && r.verdict == S2S_TRUST_OK);
    /* ... and by the whole certificate, or SHA-512 of the key. */
    s2s_trust_tlsa_t ee_whole[] = { rec(3, 0, 0, &whole) }, ee_512[] = { rec(3, 1, 2, &sha512) };
    CHECK(match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, ee_whole, 1).outcome == S2S_TRUST_DANE_EE);
    CHECK(match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, ee_512, 1).outcome == S2S_TRUST_DANE_EE);
    /* One bit off: no match, refused (the chain has no PKIX path either). */
    bad = spki;
    bad.data[bad.len - 1] ^= 1;
    s2s_trust_tlsa_t ee_bad[] = { rec(3, 1, 1, &bad) };
    r = match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, ee_bad, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_MISMATCH && r.verdict != S2S_TRUST_OK && r.match_depth == -1);
    /* A record of another certificate: no match either. */
    s2s_trust_tlsa_t ee_other[] = { rec(3, 1, 1, &exp) };
    CHECK(match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, ee_other, 1).outcome ==
          S2S_TRUST_DANE_MISMATCH);
    /* A trusted PKIX chain that does not match the records published is
     * refused: published records are enforced. */
    CHECK(match(store, "good.chain.pem", "good.test", NULL, ee_other, 1).outcome == S2S_TRUST_DANE_MISMATCH);
    /* RFC 7671 5.1: DANE-EE does not look at the validity dates either. */
    s2s_trust_tlsa_t ee_exp[] = { rec(3, 1, 1, &exp) };
    r = match(store, "expired.chain.pem", "expired.test", NULL, ee_exp, 1);
    CHECK_MSG(r.outcome == S2S_TRUST_DANE_EE && r.verdict == S2S_TRUST_OK, "outcome %s verdict %d code %d",
              s2s_trust_dane_outcome_name(r.outcome), (int)r.verdict, r.openssl_code);
out:
    X509_free(self);
    X509_free(expired);
    s2s_trust_store_release(store);
}

void test_dane_ta(void)
{
    s2s_trust_store_t *store = test_store(NULL);
    X509 *inter2 = pki_cert("inter2.pem"), *root2 = pki_cert("root2.pem");
    blob_t ta, ta_whole, ta_root;
    s2s_trust_dane_result_t r;

    CHECK(store != NULL && inter2 != NULL && root2 != NULL);
    if (store == NULL || inter2 == NULL || root2 == NULL)
        goto out;
    CHECK(tlsa_data(inter2, 0, 1, &ta) == 0 && tlsa_data(inter2, 0, 0, &ta_whole) == 0 &&
          tlsa_data(root2, 1, 1, &ta_root) == 0);
    /* unknownroot's chain (leaf + inter2) ends under root2, which the store
     * does not trust: a DANE-TA record of inter2 makes it acceptable. */
    CHECK(match(store, "unknownroot.chain.pem", "unknownroot.test", NULL, NULL, 0).outcome == S2S_TRUST_DANE_UNUSABLE);
    s2s_trust_tlsa_t ta_rec[] = { rec(2, 0, 1, &ta) };
    r = match(store, "unknownroot.chain.pem", "unknownroot.test", NULL, ta_rec, 1);
    CHECK_MSG(r.outcome == S2S_TRUST_DANE_TA && r.verdict == S2S_TRUST_OK && r.match_depth == 1 && r.match_usage == 2,
              "outcome %s verdict %d depth %d code %d", s2s_trust_dane_outcome_name(r.outcome), (int)r.verdict,
              r.match_depth, r.openssl_code);
    s2s_trust_tlsa_t ta_whole_rec[] = { rec(2, 0, 0, &ta_whole) };
    CHECK(match(store, "unknownroot.chain.pem", "unknownroot.test", NULL, ta_whole_rec, 1).outcome == S2S_TRUST_DANE_TA);
    /* The leaf must still name the domain (or the SRV target). */
    r = match(store, "unknownroot.chain.pem", "elsewhere.test", NULL, ta_rec, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_FAILED && r.verdict == S2S_TRUST_NAME_MISMATCH);
    r = match(store, "unknownroot.chain.pem", "elsewhere.test", "unknownroot.test", ta_rec, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_TA && r.verdict == S2S_TRUST_OK);
    /* The chain file also holds root2: a digest record of root2 matches it
     * there (depth 2) ... */
    s2s_trust_tlsa_t ta_root_rec[] = { rec(2, 1, 1, &ta_root) };
    r = match(store, "unknownroot.chain.pem", "unknownroot.test", NULL, ta_root_rec, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_TA && r.match_depth == 2);
    /* ... but a digest record of a CA the peer did not send cannot match
     * (leaf and inter2 only). */
    {
        chain_t chain;
        CHECK(chain_load("unknownroot.chain.pem", &chain) == 0 && chain.n == 3);
        CHECK(s2s_trust_dane_verify(store, "unknownroot.test", 16, NULL, chain.der, 2, ta_root_rec, 1, &r) == 0);
        CHECK(r.outcome == S2S_TRUST_DANE_MISMATCH);
        /* inter2's own record still matches the shorter chain */
        CHECK(s2s_trust_dane_verify(store, "unknownroot.test", 16, NULL, chain.der, 2, ta_rec, 1, &r) == 0);
        CHECK(r.outcome == S2S_TRUST_DANE_TA && r.match_depth == 1);
        chain_free(&chain);
    }
out:
    X509_free(inter2);
    X509_free(root2);
    s2s_trust_store_release(store);
}

void test_dane_pkix_usages_only_constrain(void)
{
    s2s_trust_store_t *store = test_store(NULL);
    X509 *good = pki_cert("good.pem"), *unknown = pki_cert("unknownroot.pem"), *root = pki_cert("root.pem");
    blob_t g, u, rt;
    s2s_trust_dane_result_t r;

    CHECK(store != NULL && good != NULL && unknown != NULL && root != NULL);
    if (store == NULL || good == NULL || unknown == NULL || root == NULL)
        goto out;
    CHECK(tlsa_data(good, 1, 1, &g) == 0 && tlsa_data(unknown, 1, 1, &u) == 0 && tlsa_data(root, 1, 1, &rt) == 0);
    /* PKIX-EE of a leaf that also passes PKIX: accepted as pkix. */
    s2s_trust_tlsa_t pkix_ee[] = { rec(1, 1, 1, &g) };
    r = match(store, "good.chain.pem", "good.test", NULL, pkix_ee, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_PKIX && r.verdict == S2S_TRUST_OK && r.match_usage == 1);
    CHECK_STR(s2s_trust_dane_outcome_name(r.outcome), "pkix");
    /* PKIX-TA of the trusted root. */
    s2s_trust_tlsa_t pkix_ta[] = { rec(0, 1, 1, &rt) };
    CHECK(match(store, "good.chain.pem", "good.test", NULL, pkix_ta, 1).outcome == S2S_TRUST_DANE_PKIX);
    /* PKIX-EE matching a leaf without a PKIX path: not enough. */
    s2s_trust_tlsa_t pkix_ee_u[] = { rec(1, 1, 1, &u) };
    r = match(store, "unknownroot.chain.pem", "unknownroot.test", NULL, pkix_ee_u, 1);
    CHECK_MSG(r.outcome == S2S_TRUST_DANE_FAILED && r.verdict == S2S_TRUST_UNKNOWN_ISSUER, "outcome %s verdict %d",
              s2s_trust_dane_outcome_name(r.outcome), (int)r.verdict);
    /* PKIX-valid but the PKIX-EE record names another key: refused. */
    CHECK(match(store, "good.chain.pem", "good.test", NULL, pkix_ee_u, 1).outcome == S2S_TRUST_DANE_MISMATCH);
    /* PKIX-valid, matching, but the wrong domain: the verifier's name rules hold. */
    r = match(store, "good.chain.pem", "wrong.test", NULL, pkix_ee, 1);
    CHECK(r.outcome == S2S_TRUST_DANE_FAILED && r.verdict == S2S_TRUST_NAME_MISMATCH);
out:
    X509_free(good);
    X509_free(unknown);
    X509_free(root);
    s2s_trust_store_release(store);
}

void test_dane_unusable_and_hostile(void)
{
    s2s_trust_store_t *store = test_store(NULL);
    X509 *self = pki_cert("selfsigned.pem");
    blob_t spki, short_digest, empty = { { 0 }, 0 }, huge;
    s2s_trust_dane_result_t r;
    s2s_trust_tlsa_t many[S2S_TRUST_TLSA_MAX_RECORDS + 8];

    CHECK(store != NULL && self != NULL);
    if (store == NULL || self == NULL)
        goto out;
    CHECK(tlsa_data(self, 1, 1, &spki) == 0);
    short_digest = spki;
    short_digest.len = 31;
    memset(huge.data, 0x30, sizeof huge.data);
    huge.len = sizeof huge.data;
    /* Nothing usable (unknown usage, selector, matching type; a digest of
     * the wrong length; no data): no DANE, the verifier alone decides. */
    s2s_trust_tlsa_t unusable[] = { rec(4, 1, 1, &spki), rec(3, 2, 1, &spki), rec(3, 1, 3, &spki),
                                    rec(3, 1, 1, &short_digest), rec(3, 1, 1, &empty), rec(255, 255, 255, &spki) };
    r = match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, unusable, 6);
    CHECK(r.outcome == S2S_TRUST_DANE_UNUSABLE && r.usable == 0 && r.verdict == S2S_TRUST_SELF_SIGNED);
    CHECK_STR(s2s_trust_dane_outcome_name(r.outcome), "unusable");
    r = match(store, "good.chain.pem", "good.test", NULL, unusable, 6);
    CHECK(r.outcome == S2S_TRUST_DANE_UNUSABLE && r.verdict == S2S_TRUST_OK);
    /* Unusable records beside a usable one do not get in its way. */
    s2s_trust_tlsa_t mixed[] = { rec(4, 1, 1, &spki), rec(3, 1, 1, &short_digest), rec(3, 1, 1, &spki) };
    r = match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, mixed, 3);
    CHECK(r.outcome == S2S_TRUST_DANE_EE && r.usable == 1);
    /* An exact-match record the size of no certificate (8 KiB of garbage)
     * is skipped, not parsed into a crash. */
    s2s_trust_tlsa_t garbage[] = { rec(3, 0, 0, &huge), rec(2, 1, 0, &huge) };
    r = match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, garbage, 2);
    CHECK(r.outcome == S2S_TRUST_DANE_UNUSABLE && r.usable == 0);
    /* Past the bound: the matching record at position 40 is not looked at;
     * the answer is a mismatch (fail closed), never a pass. */
    blob_t other = spki;
    other.data[0] ^= 0xff;
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        many[i] = rec(3, 1, 1, i == sizeof many / sizeof many[0] - 1 ? &spki : &other);
    r = match(store, "selfsigned.chain.pem", "selfsigned.test", NULL, many, sizeof many / sizeof many[0]);
    CHECK(r.outcome == S2S_TRUST_DANE_MISMATCH && r.usable == S2S_TRUST_TLSA_MAX_RECORDS);
    /* Hostile chains: garbage bytes, nothing at all. */
    {
        static const unsigned char junk[] = { 0x30, 0x82, 0xff, 0xff, 0x01, 0x02 };
        s2s_trust_der_t bad_chain[] = { { junk, sizeof junk } };
        s2s_trust_tlsa_t ee[] = { rec(3, 1, 1, &spki) };
        CHECK(s2s_trust_dane_verify(store, "x.test", 6, NULL, bad_chain, 1, ee, 1, &r) == 0);
        CHECK(r.outcome == S2S_TRUST_DANE_FAILED && r.verdict == S2S_TRUST_MALFORMED);
        CHECK(s2s_trust_dane_verify(store, "x.test", 6, NULL, bad_chain, 0, ee, 1, &r) == 0);
        CHECK(r.outcome == S2S_TRUST_DANE_FAILED && r.verdict == S2S_TRUST_NO_CERTIFICATE);
        CHECK(s2s_trust_dane_verify(store, "not a domain!", 13, NULL, bad_chain, 1, ee, 1, &r) == 0);
        CHECK(r.outcome == S2S_TRUST_DANE_FAILED && r.verdict == S2S_TRUST_NAME_MISMATCH);
    }
out:
    X509_free(self);
    s2s_trust_store_release(store);
}
