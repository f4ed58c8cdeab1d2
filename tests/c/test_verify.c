/* test_verify.c - every verdict, produced from the generated PKI. */
#include <pthread.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

void test_verdict_names_and_mapping(void)
{
    CHECK_STR(s2s_trust_verdict_name(S2S_TRUST_OK), "ok");
    CHECK_STR(s2s_trust_verdict_name(S2S_TRUST_NAME_CONSTRAINTS), "name_constraints");
    CHECK_STR(s2s_trust_verdict_name((s2s_trust_verdict_t)999), "untrusted");
    for (int v = 0; v < S2S_TRUST_VERDICT_COUNT; v++) {
        CHECK(s2s_trust_verdict_text((s2s_trust_verdict_t)v)[0] != '\0');
        for (int w = v + 1; w < S2S_TRUST_VERDICT_COUNT; w++)
            CHECK(strcmp(s2s_trust_verdict_name((s2s_trust_verdict_t)v),
                         s2s_trust_verdict_name((s2s_trust_verdict_t)w)) != 0);
    }
    CHECK(s2s_trust_verdict_from_x509_error(X509_V_OK) == S2S_TRUST_OK);
    CHECK(s2s_trust_verdict_from_x509_error(X509_V_ERR_CERT_HAS_EXPIRED) == S2S_TRUST_EXPIRED);
    CHECK(s2s_trust_verdict_from_x509_error(X509_V_ERR_INVALID_PURPOSE) == S2S_TRUST_BAD_PURPOSE);
    CHECK(s2s_trust_verdict_from_x509_error(X509_V_ERR_OUT_OF_MEM) == S2S_TRUST_UNTRUSTED);
}

enum variant { BASE, CN, EKU, CRL, CRL_REQUIRE, NO_POOL, VARIANTS };

static const char *variant_extra(enum variant v, char *buf, size_t size)
{
    switch (v) {
    case CN:
        return "insecure_allow_cn_id = true;";
    case EKU:
        return "require_server_auth_eku = true;";
    case CRL:
        snprintf(buf, size, "crl_file = [\"%s\", \"%s\"];", pki_path("root.crl.pem"),
                 pki_path("inter.crl.pem"));
        return buf;
    case CRL_REQUIRE:
        /* root's CRL only: inter's leaves have no CRL to be checked against */
        snprintf(buf, size, "crl_check = \"require\";\ncrl_file = \"%s\";", pki_path("root.crl.pem"));
        return buf;
    default:
        return "";
    }
}

static s2s_trust_store_t *variant_store(enum variant v)
{
    char buf[4096];

    if (v == NO_POOL) {
        snprintf(buf, sizeof buf, "ca_file = \"%s\";\n", pki_path("root.pem"));
        return store_from_text("nopool.conf", buf);
    }
    return test_store(variant_extra(v, buf, sizeof buf));
}

static const struct {
    const char *file;
    const char *domain;
    enum variant variant;
    s2s_trust_verdict_t want;
} table[] = {
    { "good.pem", "good.test", BASE, S2S_TRUST_OK },
    { "good.pem", "www.good.test", BASE, S2S_TRUST_OK },
    { "good.pem", "GOOD.test.", BASE, S2S_TRUST_OK },
    { "good.chain.pem", "good.test", BASE, S2S_TRUST_OK },
    { "good-rsa.pem", "good-rsa.test", BASE, S2S_TRUST_OK },
    { "serverauth.pem", "serverauth.test", BASE, S2S_TRUST_OK },
    { "serverauth.pem", "serverauth.test", EKU, S2S_TRUST_OK },
    { "clientauth.pem", "clientauth.test", BASE, S2S_TRUST_BAD_PURPOSE },
    { "noeku.pem", "noeku.test", BASE, S2S_TRUST_OK },
    { "noeku.pem", "noeku.test", EKU, S2S_TRUST_BAD_PURPOSE },
    { "expired.pem", "expired.test", BASE, S2S_TRUST_EXPIRED },
    { "notyet.pem", "notyet.test", BASE, S2S_TRUST_NOT_YET_VALID },
    { "selfsigned.pem", "selfsigned.test", BASE, S2S_TRUST_SELF_SIGNED },
    { "unknownroot.pem", "unknownroot.test", BASE, S2S_TRUST_UNKNOWN_ISSUER },
    { "unknownroot.chain.pem", "unknownroot.test", BASE, S2S_TRUST_UNKNOWN_ISSUER },
    { "wrongname.pem", "wrongname.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "wrongname.pem", "other.test", BASE, S2S_TRUST_OK },
    { "wildcard.pem", "a.wild.test", BASE, S2S_TRUST_OK },
    { "wildcard.pem", "a.b.wild.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "wildcard.pem", "wild.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "partialwild.pem", "foo.pwild.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "xmppaddr.pem", "xmpp.test", BASE, S2S_TRUST_OK },
    { "xmppjid.pem", "jid.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "srvid.pem", "srv.test", BASE, S2S_TRUST_OK },
    { "srvclient.pem", "srvc.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "cnonly.pem", "cnonly.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "cnonly.pem", "cnonly.test", CN, S2S_TRUST_OK },
    { "cnsan.pem", "cnsan-cn.test", CN, S2S_TRUST_NAME_MISMATCH },
    { "cnsan.pem", "cnsan.test", BASE, S2S_TRUST_OK },
    { "idn.pem", "bücher.test", BASE, S2S_TRUST_OK },
    { "idn.pem", "xn--bcher-kva.test", BASE, S2S_TRUST_OK },
    { "idn.pem", "bücher-x.test", BASE, S2S_TRUST_OK },
    { "idn.pem", "xn--bcher-x-n2a.test", BASE, S2S_TRUST_OK },
    { "nonca.chain.pem", "nonca.test", BASE, S2S_TRUST_INVALID_CA },
    { "ncok.chain.pem", "ok.allowed.test", BASE, S2S_TRUST_OK },
    { "ncok.pem", "ok.allowed.test", BASE, S2S_TRUST_OK }, /* inter-nc is in the pool */
    { "ncbad.chain.pem", "evil.test", BASE, S2S_TRUST_NAME_CONSTRAINTS },
    { "ncxmpp.pem", "victim.test", BASE, S2S_TRUST_NAME_CONSTRAINTS },
    { "ncsrv.pem", "victim.test", BASE, S2S_TRUST_NAME_CONSTRAINTS },
    { "cnuri.pem", "cnuri.test", CN, S2S_TRUST_NAME_MISMATCH },
    { "revoked.pem", "revoked.test", BASE, S2S_TRUST_OK }, /* no CRL loaded */
    { "revoked.pem", "revoked.test", CRL, S2S_TRUST_REVOKED },
    { "good.pem", "good.test", CRL, S2S_TRUST_OK },
    { "good.pem", "good.test", CRL_REQUIRE, S2S_TRUST_CRL_UNAVAILABLE },
    { "nulsan.pem", "nul.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "nulsan.pem", "evil.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "nulsan.pem", "nul.test.evil.test", BASE, S2S_TRUST_NAME_MISMATCH },
    { "rsa1024.pem", "rsa1024.test", BASE, S2S_TRUST_WEAK_CRYPTO },
    { "sha1.pem", "sha1.test", BASE, S2S_TRUST_WEAK_CRYPTO },
    { "badsig.pem", "badsig.test", BASE, S2S_TRUST_BAD_SIGNATURE },
    { "deep.chain.pem", "deep.test", BASE, S2S_TRUST_TOO_LONG },
    { "good.pem", "good.test", NO_POOL, S2S_TRUST_UNKNOWN_ISSUER },
    { "good.chain.pem", "good.test", NO_POOL, S2S_TRUST_OK },
    { "good.chain.pem", "bad domain", BASE, S2S_TRUST_NAME_MISMATCH },
};

void test_verify_pki_table(void)
{
    s2s_trust_store_t *stores[VARIANTS] = { 0 };

    for (int v = 0; v < VARIANTS; v++)
        stores[v] = variant_store((enum variant)v);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        s2s_trust_details_t d;
        int got;

        if (stores[table[i].variant] == NULL)
            continue;
        got = verify_file(stores[table[i].variant], table[i].file, table[i].domain, &d);
        CHECK_MSG(got == (int)table[i].want, "%s for %s (variant %d): got %s, want %s (%s)",
                  table[i].file, table[i].domain, table[i].variant,
                  got >= 0 ? s2s_trust_verdict_name((s2s_trust_verdict_t)got) : "error",
                  s2s_trust_verdict_name(table[i].want), got >= 0 && d.detail ? d.detail : "");
        /* Without details the answer is the same. */
        CHECK(verify_file(stores[table[i].variant], table[i].file, table[i].domain, NULL) == got);
        if (got >= 0)
            s2s_trust_details_free(&d);
        CHECK(ERR_peek_error() == 0);
    }
    for (int v = 0; v < VARIANTS; v++)
        s2s_trust_store_release(stores[v]);
}

void test_verify_pool_and_presented_chain(void)
{
    char text[4096];
    s2s_trust_store_t *store;

    /* A presented intermediate completes a chain the pool cannot. */
    snprintf(text, sizeof text, "ca_file = [\"%s\", \"%s\"];\n", pki_path("root.pem"),
             pki_path("root2.pem"));
    store = store_from_text("tworoots.conf", text);
    if (store == NULL)
        return;
    CHECK(verify_file(store, "unknownroot.pem", "unknownroot.test", NULL) == S2S_TRUST_UNKNOWN_ISSUER);
    CHECK(verify_file(store, "unknownroot.chain.pem", "unknownroot.test", NULL) == S2S_TRUST_OK);
    s2s_trust_store_release(store);
}

static int verify_bytes(s2s_trust_store_t *store, const unsigned char *data, size_t len)
{
    s2s_trust_der_t der = { data, len };
    s2s_trust_details_t d;
    int v = s2s_trust_verify_chain(store, "good.test", 9, &der, 1, &d);
    if (v >= 0) {
        CHECK(d.detail != NULL);
        s2s_trust_details_free(&d);
    }
    return v;
}

void test_verify_hostile_bytes(void)
{
    s2s_trust_store_t *store = test_store(NULL);
    chain_t good = { 0 };
    unsigned char buf[4096];
    unsigned char *big;

    if (store == NULL || chain_load("good.pem", &good) != 0) {
        chain_free(&good);
        s2s_trust_store_release(store);
        CHECK(0);
        return;
    }
    const s2s_trust_der_t leaf = good.der[0];

    CHECK(s2s_trust_verify_chain(store, "good.test", 9, NULL, 0, NULL) == S2S_TRUST_NO_CERTIFICATE);
    CHECK(verify_bytes(store, (const unsigned char *)"", 0) == S2S_TRUST_MALFORMED);
    CHECK(verify_bytes(store, (const unsigned char *)"\x30", 1) == S2S_TRUST_MALFORMED);
    /* Every truncation of a real certificate. */
    for (size_t cut = 1; cut < leaf.len; cut++)
        CHECK_MSG(verify_bytes(store, leaf.data, cut) == S2S_TRUST_MALFORMED, "cut at %zu", cut);
    /* Trailing bytes after a valid certificate. */
    memcpy(buf, leaf.data, leaf.len);
    buf[leaf.len] = 0;
    CHECK(verify_bytes(store, buf, leaf.len + 1) == S2S_TRUST_MALFORMED);
    /* Random garbage of many sizes. */
    for (int i = 0; i < 200; i++) {
        size_t len = 1 + (size_t)(i * 17) % sizeof buf;
        RAND_bytes(buf, (int)len);
        int v = verify_bytes(store, buf, len);
        CHECK_MSG(v == S2S_TRUST_MALFORMED, "garbage %d: %d", i, v);
    }
    /* Single bit flips anywhere never crash and never yield ok. */
    for (size_t pos = 0; pos < leaf.len; pos += 7) {
        memcpy(buf, leaf.data, leaf.len);
        buf[pos] ^= 0x10;
        int v = verify_bytes(store, buf, leaf.len);
        CHECK_MSG(v > S2S_TRUST_OK, "flip at %zu gave %d", pos, v);
    }
    /* A 10 MB "certificate" is refused on size before any parsing. */
    big = malloc(10 * 1024 * 1024);
    if (big != NULL) {
        memset(big, 0x30, 10 * 1024 * 1024);
        CHECK(verify_bytes(store, big, 10 * 1024 * 1024) == S2S_TRUST_TOO_LONG);
        free(big);
    }
    /* Garbage after a valid leaf, as an "intermediate". */
    {
        s2s_trust_der_t two[2] = { leaf, { (const unsigned char *)"garbage", 7 } };
        CHECK(s2s_trust_verify_chain(store, "good.test", 9, two, 2, NULL) == S2S_TRUST_MALFORMED);
    }
    /* Domain garbage: NUL inside, empty, NULL. */
    CHECK(s2s_trust_verify_chain(store, "good.test\0evil", 14, &leaf, 1, NULL) == S2S_TRUST_NAME_MISMATCH);
    CHECK(s2s_trust_verify_chain(store, "", 0, &leaf, 1, NULL) == S2S_TRUST_NAME_MISMATCH);
    CHECK(s2s_trust_verify_chain(store, NULL, 0, &leaf, 1, NULL) == S2S_TRUST_NAME_MISMATCH);
    CHECK(ERR_peek_error() == 0);
    chain_free(&good);
    s2s_trust_store_release(store);
}

void test_verify_limits(void)
{
    s2s_trust_store_t *store = test_store("max_chain_certs = 3;\nmax_cert_bytes = 400;");
    s2s_trust_store_t *wide = test_store("max_depth = 8;");
    chain_t good = { 0 }, deep = { 0 };
    s2s_trust_details_t d;

    if (store == NULL || wide == NULL || chain_load("good.chain.pem", &good) != 0 ||
        chain_load("deep.chain.pem", &deep) != 0) {
        CHECK(0);
        chain_free(&good);
        chain_free(&deep);
        s2s_trust_store_release(store);
        s2s_trust_store_release(wide);
        return;
    }
    s2s_trust_der_t four[4] = { good.der[0], good.der[1], good.der[1], good.der[1] };
    CHECK(s2s_trust_verify_chain(store, "good.test", 9, four, 4, &d) == S2S_TRUST_TOO_LONG);
    CHECK(d.detail && strstr(d.detail, "at least 4 certificates presented, limit 3"));
    s2s_trust_details_free(&d);
    /* Our P-256 leaf is larger than 400 bytes. */
    CHECK(s2s_trust_verify_chain(store, "good.test", 9, good.der, 1, &d) == S2S_TRUST_TOO_LONG);
    CHECK(d.detail && strstr(d.detail, "limit 400"));
    s2s_trust_details_free(&d);
    /* 9 certificates > default max_chain_certs? No: 9 <= 10; depth decides. */
    CHECK(s2s_trust_verify_chain(wide, "deep.test", 9, deep.der, deep.n, NULL) == S2S_TRUST_OK);
    chain_free(&good);
    chain_free(&deep);
    s2s_trust_store_release(store);
    s2s_trust_store_release(wide);
}

void test_verify_details(void)
{
    s2s_trust_store_t *store = test_store(NULL);
    s2s_trust_details_t d;
    int v;

    if (store == NULL)
        return;
    v = verify_file(store, "expired.pem", "Expired.test", &d);
    CHECK(v == S2S_TRUST_EXPIRED);
    if (v >= 0) {
        CHECK(d.verdict == S2S_TRUST_EXPIRED);
        CHECK_STR(d.domain, "expired.test");
        CHECK(d.error_depth == 0);
        CHECK(d.openssl_code == X509_V_ERR_CERT_HAS_EXPIRED);
        CHECK_STR(d.openssl_text, "certificate has expired");
        CHECK(d.subject && strstr(d.subject, "CN=expired.test"));
        CHECK(d.issuer && d.error_subject && strcmp(d.error_subject, d.subject) == 0);
        CHECK_STR(d.not_before, "2020-01-01T00:00:00Z");
        CHECK_STR(d.not_after, "2021-01-01T00:00:00Z");
        CHECK(d.name_count >= 2); /* the DNS-ID and the CN */
        CHECK(d.names[0].type == S2S_TRUST_ID_DNS && strcmp((char *)d.names[0].value, "expired.test") == 0);
        CHECK(d.chain_count == 3); /* leaf, inter (from the pool), root */
        CHECK(d.presented == 1);
        CHECK(d.detail && strstr(d.detail, "certificate has expired"));
        s2s_trust_details_free(&d);
    }
    v = verify_file(store, "srvid.pem", "srv.test", &d);
    CHECK(v == S2S_TRUST_OK);
    if (v >= 0) {
        CHECK(d.matched_by == S2S_TRUST_ID_SRV);
        CHECK(d.error_depth == -1 && d.openssl_code == 0);
        s2s_trust_details_free(&d);
    }
    v = verify_file(store, "wrongname.pem", "wrongname.test", &d);
    CHECK(v == S2S_TRUST_NAME_MISMATCH);
    if (v >= 0) {
        CHECK(d.detail && strstr(d.detail, "wrongname.test"));
        s2s_trust_details_free(&d);
    }
    v = verify_file(store, "nulsan.pem", "nul.test", &d);
    if (v >= 0) {
        /* The raw bytes, NUL included, reach the explain output intact. */
        bool found = false;
        for (size_t i = 0; i < d.name_count; i++)
            if (d.names[i].type == S2S_TRUST_ID_DNS && d.names[i].len == 19 &&
                memcmp(d.names[i].value, "nul.test\0.evil.test", 19) == 0)
                found = true;
        CHECK(found);
        s2s_trust_details_free(&d);
    }
    s2s_trust_store_release(store);
}

void test_verify_time_is_settable(void)
{
    /* 2020-06-01: the "expired" leaf was valid then (its CA chain was
     * created yesterday, so the CAs are not yet valid at that time). */
    s2s_trust_store_t *past = test_store("verification_time = 1590969600;");
    /* 2040-06-01: "notyet" is valid, but the 1-year leaves have expired. */
    s2s_trust_store_t *future = test_store("verification_time = 2222222222L;");

    if (past != NULL) {
        CHECK(verify_file(past, "good.pem", "good.test", NULL) == S2S_TRUST_NOT_YET_VALID);
        s2s_trust_store_release(past);
    }
    if (future != NULL) {
        CHECK(verify_file(future, "good.pem", "good.test", NULL) == S2S_TRUST_EXPIRED);
        s2s_trust_store_release(future);
    }
}

typedef struct {
    s2s_trust_store_t *store;
    const chain_t *good, *expired;
    int wrong;
} thread_arg_t;

static void *hammer(void *p)
{
    thread_arg_t *a = p;
    for (int i = 0; i < 200; i++) {
        if (s2s_trust_verify_chain(a->store, "good.test", 9, a->good->der, a->good->n, NULL) != S2S_TRUST_OK)
            a->wrong++;
        if (s2s_trust_verify_chain(a->store, "expired.test", 12, a->expired->der, a->expired->n, NULL) !=
            S2S_TRUST_EXPIRED)
            a->wrong++;
    }
    s2s_trust_store_release(a->store);
    return NULL;
}

void test_verify_threads_share_store(void)
{
    s2s_trust_store_t *store = test_store(NULL);
    pthread_t th[4];
    thread_arg_t args[4];
    chain_t good = { 0 }, expired = { 0 };

    /* Chains are loaded here: the fixtures' path buffers are not thread-safe. */
    if (store == NULL || chain_load("good.pem", &good) != 0 || chain_load("expired.pem", &expired) != 0) {
        CHECK(0);
        chain_free(&good);
        chain_free(&expired);
        s2s_trust_store_release(store);
        return;
    }
    for (int i = 0; i < 4; i++) {
        args[i].store = s2s_trust_store_retain(store);
        args[i].good = &good;
        args[i].expired = &expired;
        args[i].wrong = 0;
        CHECK(pthread_create(&th[i], NULL, hammer, &args[i]) == 0);
    }
    /* The publisher lets go while the threads still verify. */
    s2s_trust_store_release(store);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].wrong == 0);
    }
    chain_free(&good);
    chain_free(&expired);
}
