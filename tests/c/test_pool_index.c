/*
 * test_pool_index.c - the pool index (s2s_trust_pool_index.h) changes what
 * a verification costs, never its verdict. Presented certificates already
 * in the pool are found by their bytes and not parsed again, and no check
 * is skipped for them; OpenSSL is handed only the pool certificates
 * reachable by name, and gets the verdict the whole pool gives. Every
 * verdict is compared with a store built with S2S_TRUST_NO_POOL_INDEX=1,
 * which parses every presented byte and hands over the whole pool, as
 * before. The broad differential (every file of the PKI, every policy
 * variant, the fuzz corpus) is test_presig.c's, whose "off" store has every
 * shortcut off; here: the index itself, the count explain reports, the four
 * ways a presented intermediate must still be refused, and pools full of
 * same-name decoys and cross-signs.
 */
#include <stdlib.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/s2s_trust_pool_index.h"
#include "core/s2s_trust_time.h"
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

void test_pool_index_exact_bytes(void)
{
    STACK_OF(X509) *pool = load_pool();
    STACK_OF(X509) *none = sk_X509_new_null();
    s2s_trust_pool_index_t *known = s2s_trust_pool_index_build(pool, NULL);
    s2s_trust_pool_index_t *empty = s2s_trust_pool_index_build(none, NULL);
    int n = sk_X509_num(pool);

    CHECK(n >= 2);
    CHECK(known != NULL && s2s_trust_pool_index_count(known) == (size_t)n);
    CHECK(empty != NULL && s2s_trust_pool_index_count(empty) == 0);
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
        {
            const s2s_trust_pool_entry_t *e = s2s_trust_pool_index_find_der(known, copy, (size_t)len);
            size_t same = 0;
            const s2s_trust_pool_entry_t *byname =
                s2s_trust_pool_index_by_subject(known, X509_get_subject_name(x), &same);
            CHECK(e != NULL && e->cert == x && e->position == (size_t)i);
            CHECK(byname != NULL && same == 1 && byname->cert == x && byname->position == (size_t)i);
        }
        CHECK(s2s_trust_pool_index_find_der(empty, copy, (size_t)len) == NULL);
        /* One bit anywhere, one byte less, one byte more: not the same bytes. */
        for (int at = 0; at < len; at++) {
            copy[at] ^= 0x01;
            CHECK_MSG(s2s_trust_pool_index_find_der(known, copy, (size_t)len) == NULL, "cert %d, bit flipped at %d", i, at);
            copy[at] ^= 0x01;
        }
        CHECK(s2s_trust_pool_index_find_der(known, copy, (size_t)len - 1) == NULL);
        copy[len] = 0;
        CHECK(s2s_trust_pool_index_find_der(known, copy, (size_t)len + 1) == NULL);
        OPENSSL_free(der);
        free(copy);
    }
    CHECK(s2s_trust_pool_index_find_der(NULL, (const unsigned char *)"x", 1) == NULL);
    CHECK(s2s_trust_pool_index_find_der(known, NULL, 10) == NULL);
    CHECK(s2s_trust_pool_index_find_der(known, (const unsigned char *)"x", 0) == NULL);
    {
        size_t count = 1;
        /* The root's name is no pool certificate's subject. */
        X509 *root = pki_cert("root.pem");
        CHECK(root != NULL && s2s_trust_pool_index_by_subject(known, X509_get_subject_name(root), &count) == NULL &&
              count == 0);
        CHECK(s2s_trust_pool_index_by_subject(NULL, NULL, &count) == NULL && count == 0);
        X509_free(root);
    }
    s2s_trust_pool_index_free(known);
    s2s_trust_pool_index_free(empty);
    s2s_trust_pool_index_free(NULL);
    sk_X509_pop_free(pool, X509_free);
    sk_X509_free(none);
}

/* The store described, with (on) and without (off) the index: `text` a
 * whole configuration, or NULL for test_store(extra). */
static void build_pair_text(const char *text, const char *extra, s2s_trust_store_t **on, s2s_trust_store_t **off)
{
    *on = text != NULL ? store_from_text("index-on.conf", text) : test_store(extra);
    setenv("S2S_TRUST_NO_POOL_INDEX", "1", 1);
    *off = text != NULL ? store_from_text("index-off.conf", text) : test_store(extra);
    unsetenv("S2S_TRUST_NO_POOL_INDEX");
    CHECK(*on != NULL && *off != NULL);
    if (*on != NULL)
        CHECK(s2s_trust_pool_index_count(s2s_trust_store_pool_index(*on)) >= 2);
    if (*off != NULL)
        CHECK(s2s_trust_store_pool_index(*off) == NULL);
}

static void build_pair(const char *extra, s2s_trust_store_t **on, s2s_trust_store_t **off)
{
    build_pair_text(NULL, extra, on, off);
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

void test_pool_index_presented_copy_not_parsed_again(void)
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

void test_pool_index_checks_still_bite(void)
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
        X509 *inter = pki_cert("inter.pem");
        int64_t t = 0;

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

/* Write `n` certificates named like the pool's `inter` to `file` in the
 * scratch directory, issued by the root: with a key of their own (decoys:
 * the name matches, the key does not), or with inter's own key and an
 * expired validity (cross-signs OpenSSL may pick first). */
static const char *write_same_name(const char *file, int n, bool cross_expired)
{
    static char paths[2][4096];
    static int slot;
    char *path = paths[slot++ % 2];
    EVP_PKEY *root_key = NULL, *key = NULL;
    X509 *root = NULL, *inter = NULL;
    FILE *out;
    const char *rv = NULL;

    root_key = pki_key("ca/root/key.pem");
    root = pki_cert("root.pem");
    inter = pki_cert("inter.pem");
    key = cross_expired ? pki_key("ca/inter/key.pem") : EVP_EC_gen("P-256");
    snprintf(path, 4096, "%s/%s", scratch_dir(), file);
    out = fopen(path, "w");
    if (root_key == NULL || root == NULL || inter == NULL || key == NULL || out == NULL)
        goto done;
    for (int i = 0; i < n; i++) {
        X509 *x = X509_new();
        X509V3_CTX ctx;
        X509_EXTENSION *ext;
        bool ok = x != NULL && X509_set_version(x, 2) &&
                  ASN1_INTEGER_set(X509_get_serialNumber(x), 900000 + i) &&
                  X509_set_subject_name(x, X509_get_subject_name(inter)) &&
                  X509_set_issuer_name(x, X509_get_subject_name(root)) && X509_set_pubkey(x, key);
        if (ok && cross_expired) {
            ok = X509_gmtime_adj(X509_getm_notBefore(x), -40L * 86400) != NULL &&
                 X509_gmtime_adj(X509_getm_notAfter(x), -30L * 86400 + i) != NULL;
        } else if (ok) {
            ok = X509_set1_notBefore(x, X509_get0_notBefore(inter)) && X509_set1_notAfter(x, X509_get0_notAfter(inter));
        }
        X509V3_set_ctx(&ctx, root, x, NULL, NULL, 0);
        for (int e = 0; ok && e < 3; e++) {
            static const int nids[3] = { NID_basic_constraints, NID_subject_key_identifier, NID_authority_key_identifier };
            static const char *vals[3] = { "critical,CA:TRUE", "hash", "keyid:always" };
            ext = X509V3_EXT_conf_nid(NULL, &ctx, nids[e], vals[e]);
            ok = ext != NULL && X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        ok = ok && X509_sign(x, root_key, EVP_sha256()) > 0 && PEM_write_X509(out, x);
        X509_free(x);
        if (!ok)
            goto done;
    }
    rv = path;
done:
    if (out != NULL)
        fclose(out);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(key);
    X509_free(root);
    X509_free(inter);
    ERR_clear_error();
    return rv;
}

/* Pools where several certificates carry the intermediate's name, before
 * and after it: a few decoys (OpenSSL is handed just the candidates), more
 * than the verifier picks by name (it hands over the whole pool), and
 * expired cross-signs with the intermediate's own key (OpenSSL skips them
 * for the valid one only because of their time): every verdict and built
 * chain as with the whole pool, for leaves alone and with their chains. */
void test_pool_index_same_name_candidates(void)
{
    static const char *files[] = { "good.pem", "good.chain.pem", "ncok.chain.pem", "ncbad.chain.pem",
                                   "learnme.pem", "learnme.chain.pem", "unknownroot.chain.pem", "expired.pem",
                                   "crlleaf.pem", "deep.chain.pem", "selfsigned.pem", "good-rsa.chain.pem" };
    struct { int n; bool cross; } kinds[] = { { 3, false }, { 70, false }, { 3, true } };
    char text[16384];
    int compared = 0;

    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *before = write_same_name("same-name-before.pem", kinds[k].n, kinds[k].cross);
        const char *after = write_same_name("same-name-after.pem", 2, kinds[k].cross);
        s2s_trust_store_t *on, *off;
        int known, v;

        CHECK(before != NULL && after != NULL);
        if (before == NULL || after == NULL)
            continue;
        snprintf(text, sizeof text,
                 "ca_file = \"%s\";\nintermediate_file = [\"%s\", \"%s\", \"%s\", \"%s\"];\n",
                 pki_path("root.pem"), before, pki_path("pool.pem"), pki_path("inter-new.pem"), after);
        build_pair_text(text, NULL, &on, &off);
        if (on != NULL && off != NULL) {
            for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
                char domain[256];
                snprintf(domain, sizeof domain, "%.*s.test", (int)strcspn(files[f], "."), files[f]);
                if (both_file(on, off, files[f], domain, &known) >= 0)
                    compared++;
            }
            v = both_file(on, off, "good.pem", "good.test", &known);
            CHECK_MSG(v == S2S_TRUST_OK, "%d %s: good.pem gave %s", kinds[k].n,
                      kinds[k].cross ? "expired cross-signs" : "decoys", s2s_trust_verdict_name(v));
        }
        s2s_trust_store_release(on);
        s2s_trust_store_release(off);
    }
    CHECK(compared == 3 * 12);
}
