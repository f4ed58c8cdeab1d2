/*
 * test_describe.c - the leaf's facts without a verification, and the
 * cached check with details (s2s_trust_describe.h).
 *
 * explain (s2s_trust_verify_chain with details) is the reference: describe
 * must report the same leaf facts, check the same verdicts (first time and
 * through the cache) and, for a refusal, explain's very details.
 */
#include <stdlib.h>
#include <string.h>

#include "core/s2s_trust_describe.h"
#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

static const struct {
    const char *file, *domain;
} corpus[] = {
    { "good.pem", "good.test" },         { "good.pem", "other.test" },       { "good.pem", "GOOD.test." },
    { "good.chain.pem", "good.test" },   { "good-rsa.pem", "good-rsa.test" }, { "xmppaddr.pem", "xmpp.test" },
    { "srvid.pem", "srv.test" },         { "cnonly.pem", "cnonly.test" },    { "idn.pem", "xn--bcher-kva.test" },
    { "expired.pem", "expired.test" },   { "notyet.pem", "notyet.test" },    { "selfsigned.pem", "selfsigned.test" },
    { "unknownroot.pem", "unknownroot.test" }, { "badsig.pem", "badsig.test" }, { "ncbad.chain.pem", "ncbad.test" },
    { "ncxmpp.chain.pem", "ncxmpp.test" }, { "revoked.pem", "revoked.test" }, { "clientauth.pem", "clientauth.test" },
};

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same_leaf_facts(const s2s_trust_details_t *a, const s2s_trust_details_t *b)
{
    if (!same_str(a->subject, b->subject) || !same_str(a->issuer, b->issuer) ||
        strcmp(a->not_before, b->not_before) != 0 || strcmp(a->not_after, b->not_after) != 0 ||
        strcmp(a->domain, b->domain) != 0 || a->name_count != b->name_count || a->presented != b->presented)
        return 0;
    for (size_t i = 0; i < a->name_count; i++)
        if (a->names[i].type != b->names[i].type || a->names[i].len != b->names[i].len ||
            memcmp(a->names[i].value, b->names[i].value, a->names[i].len) != 0)
            return 0;
    return 1;
}

/* Run `one` on every corpus case with explain's verdict and details. */
typedef void (*case_fn_t)(s2s_trust_store_t *store, size_t i, const chain_t *chain, int verdict,
                          const s2s_trust_details_t *explained);

static void each_case(case_fn_t one)
{
    s2s_trust_store_t *store = test_store("");

    if (store == NULL)
        return;
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        s2s_trust_details_t ex;
        chain_t chain;
        int v;

        if (chain_load(corpus[i].file, &chain) != 0) {
            CHECK_MSG(0, "cannot load %s", corpus[i].file);
            continue;
        }
        v = s2s_trust_verify_chain(store, corpus[i].domain, strlen(corpus[i].domain), chain.der, chain.n, &ex);
        one(store, i, &chain, v, &ex);
        s2s_trust_details_free(&ex);
        chain_free(&chain);
    }
    s2s_trust_store_release(store);
}

static void describe_one(s2s_trust_store_t *store, size_t i, const chain_t *chain, int v,
                         const s2s_trust_details_t *ex)
{
    s2s_trust_details_t de;

    CHECK_MSG(s2s_trust_describe_leaf(store, corpus[i].domain, strlen(corpus[i].domain), chain->der, chain->n,
                                      &de) == S2S_TRUST_OK,
              "%s: describe", corpus[i].file);
    CHECK_MSG(same_leaf_facts(ex, &de), "%s for %s: leaf facts differ", corpus[i].file, corpus[i].domain);
    /* Nothing verified, so nothing of a verification is claimed. */
    CHECK(de.chain_count == 0 && de.error_depth == -1 && de.detail == NULL && de.openssl_code == 0);
    if (v == S2S_TRUST_OK)
        CHECK_MSG(de.matched_by == ex->matched_by, "%s: matched_by", corpus[i].file);
    s2s_trust_details_free(&de);
}

void test_describe_matches_explain(void)
{
    each_case(describe_one);
}

/* Same verdict as explain, first (verified) and second time (cached); a
 * refusal carries explain's details, an acceptance the leaf's facts. */
static void check_one(s2s_trust_store_t *store, size_t i, const chain_t *chain, int v,
                      const s2s_trust_details_t *ex)
{
    for (int round = 0; round < 2; round++) {
        s2s_trust_details_t ck;
        int c = s2s_trust_check_chain(store, corpus[i].domain, strlen(corpus[i].domain), chain->der, chain->n,
                                      &ck);

        CHECK_MSG(c == v, "%s for %s, round %d: check %d, explain %d", corpus[i].file, corpus[i].domain, round,
                  c, v);
        CHECK(ck.verdict == ex->verdict && same_leaf_facts(ex, &ck));
        if (v == S2S_TRUST_OK)
            CHECK(ck.matched_by == ex->matched_by && same_str(ck.detail, ex->detail) && ck.chain_count == 0);
        else
            CHECK_MSG(same_str(ck.detail, ex->detail) && ck.error_depth == ex->error_depth &&
                          ck.openssl_code == ex->openssl_code && ck.chain_count == ex->chain_count,
                      "%s: refusal details differ", corpus[i].file);
        s2s_trust_details_free(&ck);
    }
}

void test_check_same_verdicts_as_explain(void)
{
    each_case(check_one);
}

typedef struct {
    const s2s_trust_der_t *chain;
    size_t n;
    int want;
} hostile_case_t;

/* What the network may send: the verifier's verdict before any
 * verification, a detail saying why, never a crash. */
void test_describe_hostile_bytes(void)
{
    s2s_trust_store_t *store = test_store("max_chain_certs = 3;\nmax_cert_bytes = 4096;");
    static unsigned char big[5000];
    unsigned char garbage[] = { 0x30, 0x82, 0x01, 0x00, 0x01, 0x02 };
    chain_t good;
    unsigned char *padded;
    s2s_trust_der_t der[4];
    s2s_trust_details_t d;
    hostile_case_t cases[6];
    size_t ncases = 0;

    if (store == NULL || chain_load("good.pem", &good) != 0) {
        CHECK_MSG(0, "set-up");
        s2s_trust_store_release(store);
        return;
    }
    padded = malloc(good.der[0].len + 1);
    if (padded == NULL) {
        CHECK_MSG(0, "memory");
        goto done;
    }
    memcpy(padded, good.der[0].data, good.der[0].len);
    padded[good.der[0].len] = 0;
    der[0] = (s2s_trust_der_t){ garbage, sizeof garbage };
    der[1] = (s2s_trust_der_t){ big, sizeof big };
    der[2] = (s2s_trust_der_t){ padded, good.der[0].len + 1 };
    der[3] = (s2s_trust_der_t){ garbage, 0 };
    cases[ncases++] = (hostile_case_t){ der, 0, S2S_TRUST_NO_CERTIFICATE };
    cases[ncases++] = (hostile_case_t){ der, 4, S2S_TRUST_TOO_LONG };
    cases[ncases++] = (hostile_case_t){ &der[0], 1, S2S_TRUST_MALFORMED };
    cases[ncases++] = (hostile_case_t){ &der[1], 1, S2S_TRUST_TOO_LONG };
    cases[ncases++] = (hostile_case_t){ &der[2], 1, S2S_TRUST_MALFORMED }; /* trailing byte */
    cases[ncases++] = (hostile_case_t){ &der[3], 1, S2S_TRUST_MALFORMED };
    for (size_t i = 0; i < ncases; i++) {
        int want = s2s_trust_verify_chain(store, "good.test", 9, cases[i].chain, cases[i].n, NULL);
        int got = s2s_trust_describe_leaf(store, "good.test", 9, cases[i].chain, cases[i].n, &d);

        CHECK_MSG(got == cases[i].want && want == cases[i].want, "case %zu: describe %d, verify %d, want %d", i,
                  got, want, cases[i].want);
        CHECK_MSG(d.detail != NULL && d.subject == NULL && d.name_count == 0, "case %zu: details", i);
        s2s_trust_details_free(&d);
        got = s2s_trust_check_chain(store, "good.test", 9, cases[i].chain, cases[i].n, &d);
        CHECK_MSG(got == cases[i].want && d.detail != NULL, "case %zu: check %d", i, got);
        s2s_trust_details_free(&d);
    }
done:
    free(padded);
    chain_free(&good);
    s2s_trust_store_release(store);
}
