/* test_selftest.c - the self-test's separable parts: the four bad
 * identities it makes, and the bounded scanner it reads the stream with
 * after TLS (real server bytes whole and byte by byte, then hostile input).
 * The protocol itself runs against real servers in tests/selftest/. */
#include <stdlib.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/s2s_trust_selftest.h"
#include "testing.h"
#include "tests.h"

/* ejabberd 23.01 after STARTTLS (shape as sent, mod_s2s_dialback loaded). */
static const char ejabberd_after_tls[] =
    "<?xml version='1.0'?><stream:stream id='1234' version='1.0' xml:lang='en' xmlns:db='jabber:server:dialback' "
    "xmlns:stream='http://etherx.jabber.org/streams' from='sd.test' xmlns='jabber:server'><stream:features>"
    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>"
    "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>"
    "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text xml:lang='en'>self signed "
    "certificate</text></failure>"
    "<db:result from='sd.test' to='sf.test' type='valid'/></stream:stream>";

typedef struct {
    s2s_trust_ss_event_t ev[8];
    s2s_trust_ss_element_t el[8];
    size_t n;
} ss_run_t;

static void ss_run(const char *data, size_t chunk, ss_run_t *r)
{
    s2s_trust_ss_t *ss = malloc(sizeof *ss);
    size_t len = strlen(data), off = 0;

    memset(r, 0, sizeof *r);
    s2s_trust_ss_init(ss, 0);
    while (off < len && r->n < 8) {
        size_t take = chunk && len - off > chunk ? chunk : len - off, used = 0;
        s2s_trust_ss_event_t ev = s2s_trust_ss_feed(ss, (const unsigned char *)data + off, take, &used);
        off += used;
        if (ev != S2S_TRUST_SS_NEED_MORE) {
            r->ev[r->n] = ev;
            r->el[r->n] = ss->el;
            r->n++;
            if (ev == S2S_TRUST_SS_END || ev == S2S_TRUST_SS_BAD || ev == S2S_TRUST_SS_TOO_LARGE)
                break;
        }
    }
    free(ss);
}

void test_selftest_scanner_real_stream(void)
{
    static const size_t chunks[] = { 0, 1, 7 };

    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        ss_run_t r;
        ss_run(ejabberd_after_tls, chunks[c], &r);
        CHECK_MSG(r.n == 5, "chunk %zu: %zu events", chunks[c], r.n);
        if (r.n != 5)
            continue;
        CHECK(r.ev[0] == S2S_TRUST_SS_HEADER);
        CHECK_STR(r.el[0].from, "sd.test");
        CHECK_STR(r.el[0].version, "1.0");
        CHECK(r.ev[1] == S2S_TRUST_SS_ELEMENT);
        CHECK_STR(r.el[1].local, "features");
        CHECK_STR(r.el[1].ns, "http://etherx.jabber.org/streams");
        CHECK(r.el[1].mech_external == 1);
        CHECK(r.el[1].has_dialback == 1);
        CHECK(r.el[1].has_starttls == 0);
        CHECK_STR(r.el[2].local, "failure");
        CHECK_STR(r.el[2].ns, "urn:ietf:params:xml:ns:xmpp-sasl");
        CHECK_STR(r.el[2].first_child, "not-authorized");
        CHECK_STR(r.el[2].error_text, "self signed certificate");
        CHECK_STR(r.el[3].local, "result");
        CHECK_STR(r.el[3].ns, "jabber:server:dialback");
        CHECK_STR(r.el[3].type, "valid");
        CHECK(r.ev[4] == S2S_TRUST_SS_END);
    }
}

void test_selftest_scanner_hostile(void)
{
    static const char *const bad[] = {
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>hello",
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><!-- x -->",
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a></b>",
        "<iq/>",
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a x=1/>",
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a\x01/>",
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a <b>",
    };
    ss_run_t r;
    char *big;
    s2s_trust_ss_t *ss;
    size_t used = 0;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ss_run(bad[i], 0, &r);
        CHECK_MSG(r.n >= 1 && r.ev[r.n - 1] == S2S_TRUST_SS_BAD, "case %zu", i);
    }
    /* a tag longer than the bound */
    big = malloc(S2S_TRUST_ST_MAX_TAG + 100);
    memset(big, 'a', S2S_TRUST_ST_MAX_TAG + 99);
    big[0] = '<';
    big[S2S_TRUST_ST_MAX_TAG + 99] = '\0';
    ss_run(big, 0, &r);
    CHECK(r.n == 1 && r.ev[0] == S2S_TRUST_SS_TOO_LARGE);
    /* nesting deeper than the bound */
    {
        char deep[2048] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
        for (int d = 0; d < S2S_TRUST_ST_MAX_DEPTH + 2; d++)
            strcat(deep, "<a>");
        ss_run(deep, 0, &r);
        CHECK(r.n == 2 && r.ev[1] == S2S_TRUST_SS_TOO_LARGE);
    }
    /* the byte bound holds, and errors are sticky */
    ss = malloc(sizeof *ss);
    s2s_trust_ss_init(ss, 100);
    memset(big, ' ', 200);
    CHECK(s2s_trust_ss_feed(ss, (const unsigned char *)"<stream:stream>", 15, &used) == S2S_TRUST_SS_HEADER);
    CHECK(s2s_trust_ss_feed(ss, (const unsigned char *)big, 200, &used) == S2S_TRUST_SS_TOO_LARGE);
    CHECK(s2s_trust_ss_feed(ss, (const unsigned char *)"<a/>", 4, &used) == S2S_TRUST_SS_TOO_LARGE && used == 0);
    free(ss);
    free(big);
}

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
