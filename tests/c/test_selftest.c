/* test_selftest.c - the self-test's separable parts: the four bad
 * identities it makes, and requests it must refuse to run. Its stream
 * reader is tested in test_xmpp_stream.c; the protocol itself runs against
 * real servers in tests/selftest/. */
#include <stdlib.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/s2s_trust_selftest.h"
#include "testing.h"
#include "tests.h"

void test_selftest_identities(void)
{
    time_t now = time(NULL);

    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        s2s_trust_st_identity_t id;
        EVP_PKEY *pub;
        char group[32] = "";
        size_t glen = 0;

        CHECK(s2s_trust_st_make_identity((s2s_trust_st_case_t)i, "peer.test", &id) == 0);
        if (id.leaf == NULL)
            continue;
        pub = X509_get0_pubkey(id.leaf);
        CHECK(pub != NULL && EVP_PKEY_get_group_name(pub, group, sizeof group, &glen) == 1);
        CHECK_STR(group, "prime256v1");
        CHECK(X509_check_private_key(id.leaf, id.key) == 1);
        switch (i) {
        case S2S_TRUST_ST_SELF_SIGNED:
            CHECK(id.extra == NULL);
            CHECK(X509_verify(id.leaf, X509_get0_pubkey(id.leaf)) == 1);
            CHECK(X509_NAME_cmp(X509_get_subject_name(id.leaf), X509_get_issuer_name(id.leaf)) == 0);
            CHECK(X509_check_host(id.leaf, "peer.test", 0, 0, NULL) == 1);
            break;
        case S2S_TRUST_ST_EXPIRED:
            CHECK(X509_cmp_time(X509_get0_notAfter(id.leaf), &now) < 0);
            CHECK(X509_check_host(id.leaf, "peer.test", 0, 0, NULL) == 1);
            break;
        case S2S_TRUST_ST_WRONG_NAME:
            CHECK(X509_check_host(id.leaf, "peer.test", 0, 0, NULL) != 1);
            CHECK_STR(id.name, "wrong-name.invalid");
            CHECK(X509_cmp_time(X509_get0_notAfter(id.leaf), &now) > 0);
            break;
        case S2S_TRUST_ST_UNKNOWN_CA:
            CHECK(id.extra != NULL && X509_check_issued(id.extra, id.leaf) == X509_V_OK);
            CHECK(id.extra != NULL && X509_verify(id.leaf, X509_get0_pubkey(id.extra)) == 1);
            CHECK(X509_check_ca(id.extra) == 1);
            CHECK(X509_check_host(id.leaf, "peer.test", 0, 0, NULL) == 1);
            CHECK(X509_cmp_time(X509_get0_notAfter(id.leaf), &now) > 0);
            break;
        }
        s2s_trust_st_identity_free(&id);
    }
    {
        s2s_trust_st_identity_t id;
        CHECK(s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, "bad name", &id) == -1 && id.leaf == NULL);
        CHECK(s2s_trust_st_make_identity(S2S_TRUST_ST_CASE_COUNT, "peer.test", &id) == -1);
    }
}

void test_selftest_unusable_request(void)
{
    s2s_trust_st_identity_t id;
    s2s_trust_st_result_t r;
    s2s_trust_st_request_t req = { .target = "t'est", .from = "peer.test", .address = "127.0.0.1", .port = 1,
                                   .identity = &id, .dialback_fd = -1 };

    CHECK(s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, "peer.test", &id) == 0);
    CHECK(s2s_trust_st_run(&req, &r) == S2S_TRUST_ST_INCONCLUSIVE);
    CHECK_STR(r.how, "internal");
    s2s_trust_st_identity_free(&id);
    CHECK_STR(s2s_trust_st_case_name(S2S_TRUST_ST_WRONG_NAME), "wrong_name");
    CHECK_STR(s2s_trust_st_outcome_name(S2S_TRUST_ST_ACCEPTED), "accepted");
}

/* --issuer: expired and wrong_name are signed by the given CA (the test
 * PKI's intermediate here) and carry it; the other two ignore it. */
void test_selftest_issued_identities(void)
{
    FILE *f = fopen(pki_path("inter.pem"), "r");
    X509 *inter = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = NULL;

    if (f)
        fclose(f);
    f = fopen(pki_path("ca/inter/key.pem"), "r");
    key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    CHECK(inter != NULL && key != NULL);
    if (inter == NULL || key == NULL)
        goto out;
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        s2s_trust_st_identity_t id;
        int want = i == S2S_TRUST_ST_EXPIRED || i == S2S_TRUST_ST_WRONG_NAME;
        CHECK(s2s_trust_st_make_identity_issued((s2s_trust_st_case_t)i, "peer.test", inter, key, &id) == 0);
        CHECK(id.issued == want);
        if (want) {
            CHECK(id.extra == inter);
            CHECK(X509_verify(id.leaf, X509_get0_pubkey(inter)) == 1);
        }
        s2s_trust_st_identity_free(&id);
    }
    {
        /* a key that does not match the issuer is refused */
        s2s_trust_st_identity_t other, id;
        CHECK(s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, "x.test", &other) == 0);
        CHECK(s2s_trust_st_make_identity_issued(S2S_TRUST_ST_EXPIRED, "peer.test", inter, other.key, &id) == -1);
        s2s_trust_st_identity_free(&other);
    }
out:
    X509_free(inter);
    EVP_PKEY_free(key);
}
