/*
 * test_cache.c - the verdict cache (s2s_trust_cache.h) and the verification
 * windows it relies on.
 *
 * The cache may only ever answer what s2s_trust_verify_chain would: every
 * test that goes through s2s_trust_verify_cached compares with the plain
 * verifier. The windows are checked against the certificates' own times,
 * so expiry and not-yet-valid bite through the cache at the exact second.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "core/s2s_trust_cache.h"
#include "core/s2s_trust_time.h"
#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

static void fake_key(unsigned char key[S2S_TRUST_CACHE_KEY_LEN], unsigned i)
{
    memset(key, 0, S2S_TRUST_CACHE_KEY_LEN);
    memcpy(key, &i, sizeof i);
    memcpy(key + 16, &i, sizeof i);
}

void test_cache_entries_and_expiry(void)
{
    s2s_trust_cache_t *c = s2s_trust_cache_new(20, 60);
    s2s_trust_cache_stats_t st;
    unsigned char k[S2S_TRUST_CACHE_KEY_LEN], k2[S2S_TRUST_CACHE_KEY_LEN];
    s2s_trust_window_t w = { 1000, 2000 };
    int v = -1;

    CHECK(s2s_trust_cache_new(0, 60) == NULL);
    CHECK(s2s_trust_cache_new(20, 0) == NULL);
    if (c == NULL) {
        CHECK(c != NULL);
        return;
    }
    s2s_trust_cache_stats(c, &st);
    CHECK(st.capacity == 24); /* rounded up to whole 8-way sets */
    CHECK(st.entries == 0 && st.ttl == 60);
    CHECK(st.bytes >= 24 * 64);

    fake_key(k, 1);
    fake_key(k2, 2);
    CHECK(s2s_trust_cache_lookup(c, k, 1500, 0, &v) == 0);
    s2s_trust_cache_insert(c, k, S2S_TRUST_EXPIRED, &w, 0);
    CHECK(s2s_trust_cache_lookup(c, k, 1500, 0, &v) == 1 && v == S2S_TRUST_EXPIRED);
    CHECK(s2s_trust_cache_lookup(c, k2, 1500, 0, &v) == 0);
    /* The window's edges: from is in, until is out. */
    CHECK(s2s_trust_cache_lookup(c, k, 1000, 0, &v) == 1);
    CHECK(s2s_trust_cache_lookup(c, k, 1999, 59, &v) == 1);
    CHECK(s2s_trust_cache_lookup(c, k, 999, 0, &v) == 0); /* the clock went back: a miss, entry dropped */
    CHECK(s2s_trust_cache_lookup(c, k, 1500, 0, &v) == 0);
    s2s_trust_cache_insert(c, k, S2S_TRUST_OK, &w, 0);
    CHECK(s2s_trust_cache_lookup(c, k, 2000, 0, &v) == 0); /* until reached */
    s2s_trust_cache_insert(c, k, S2S_TRUST_OK, &w, 0);
    CHECK(s2s_trust_cache_lookup(c, k, 1500, 60, &v) == 0); /* TTL reached */
    /* Re-inserting a key replaces it, never duplicates it. */
    s2s_trust_cache_insert(c, k, S2S_TRUST_OK, &w, 100);
    s2s_trust_cache_insert(c, k, S2S_TRUST_REVOKED, &w, 100);
    CHECK(s2s_trust_cache_lookup(c, k, 1500, 100, &v) == 1 && v == S2S_TRUST_REVOKED);
    s2s_trust_cache_stats(c, &st);
    CHECK(st.entries == 1);

    /* Never kept: crl_unavailable, -1, out-of-range verdicts, empty windows. */
    CHECK(!s2s_trust_cache_may_keep(S2S_TRUST_CRL_UNAVAILABLE));
    CHECK(!s2s_trust_cache_may_keep(-1));
    CHECK(!s2s_trust_cache_may_keep(S2S_TRUST_VERDICT_COUNT));
    for (int verdict = 0; verdict < S2S_TRUST_VERDICT_COUNT; verdict++)
        CHECK(s2s_trust_cache_may_keep(verdict) == (verdict != S2S_TRUST_CRL_UNAVAILABLE));
    s2s_trust_cache_insert(c, k2, S2S_TRUST_CRL_UNAVAILABLE, &w, 100);
    CHECK(s2s_trust_cache_lookup(c, k2, 1500, 100, &v) == 0);
    s2s_trust_cache_insert(c, k2, -1, &w, 100);
    CHECK(s2s_trust_cache_lookup(c, k2, 1500, 100, &v) == 0);
    w.from = w.until = 1500;
    s2s_trust_cache_insert(c, k2, S2S_TRUST_OK, &w, 100);
    CHECK(s2s_trust_cache_lookup(c, k2, 1500, 100, &v) == 0);
    s2s_trust_cache_free(c);
    s2s_trust_cache_free(NULL);
}

void test_cache_bounded_lru(void)
{
    s2s_trust_cache_t *c = s2s_trust_cache_new(64, 60);
    s2s_trust_cache_stats_t st;
    unsigned char k[S2S_TRUST_CACHE_KEY_LEN], hot[S2S_TRUST_CACHE_KEY_LEN];
    s2s_trust_window_t w = { INT64_MIN, INT64_MAX };
    int v, hot_hits = 0;

    if (c == NULL) {
        CHECK(c != NULL);
        return;
    }
    /* Keys built so that they all land in set 0 of this 8-set cache:
     * the first 8 bytes are a multiple of 8. */
    memset(hot, 0, sizeof hot);
    hot[20] = 0xaa;
    s2s_trust_cache_insert(c, hot, S2S_TRUST_OK, &w, 0);
    for (unsigned i = 1; i <= 10000; i++) {
        memset(k, 0, sizeof k);
        uint64_t h = (uint64_t)i * 8;
        memcpy(k, &h, sizeof h);
        s2s_trust_cache_insert(c, k, S2S_TRUST_NAME_MISMATCH, &w, 0);
        /* Used between inserts, the hot key is never the least recent. */
        hot_hits += s2s_trust_cache_lookup(c, hot, 0, 0, &v);
        CHECK(s2s_trust_cache_lookup(c, k, 0, 0, &v) == 1 && v == S2S_TRUST_NAME_MISMATCH);
    }
    CHECK(hot_hits == 10000);
    s2s_trust_cache_stats(c, &st);
    CHECK(st.capacity == 64);
    CHECK(st.entries == 8); /* one set filled, the others untouched */
    CHECK(st.evictions == 10001 - 8);

    /* Random keys: never more entries than the capacity. */
    for (unsigned i = 0; i < 20000; i++) {
        fake_key(k, i * 2654435761u);
        s2s_trust_cache_insert(c, k, S2S_TRUST_OK, &w, 0);
    }
    s2s_trust_cache_stats(c, &st);
    CHECK(st.entries <= st.capacity);
    CHECK(st.entries > st.capacity / 2);
    s2s_trust_cache_free(c);
}

void test_cache_keys(void)
{
    s2s_trust_cache_t *c = s2s_trust_cache_new(8, 60), *other = s2s_trust_cache_new(8, 60);
    unsigned char a[32], b[32];
    const unsigned char x[] = "bc", y[] = "c";
    s2s_trust_der_t one[1] = { { x, 2 } }, two[1] = { { y, 1 } }, pair[2] = { { x, 2 }, { y, 1 } },
                    rev[2] = { { y, 1 }, { x, 2 } };

    if (c == NULL || other == NULL) {
        CHECK(0);
        goto done;
    }
    CHECK(s2s_trust_cache_key(c, "a", 1, one, 1, a) == 0);
    CHECK(s2s_trust_cache_key(c, "a", 1, one, 1, b) == 0 && memcmp(a, b, 32) == 0);
    /* Field boundaries are part of the key: "a"+"bc" is not "ab"+"c". */
    CHECK(s2s_trust_cache_key(c, "ab", 2, two, 1, b) == 0 && memcmp(a, b, 32) != 0);
    CHECK(s2s_trust_cache_key(c, "A", 1, one, 1, b) == 0 && memcmp(a, b, 32) != 0);
    CHECK(s2s_trust_cache_key(c, "a", 1, pair, 2, a) == 0);
    CHECK(s2s_trust_cache_key(c, "a", 1, rev, 2, b) == 0 && memcmp(a, b, 32) != 0);
    CHECK(s2s_trust_cache_key(c, "a", 1, pair, 1, b) == 0 && memcmp(a, b, 32) != 0);
    /* Salted: another cache, another key for the same input. */
    CHECK(s2s_trust_cache_key(c, "a", 1, one, 1, a) == 0);
    CHECK(s2s_trust_cache_key(other, "a", 1, one, 1, b) == 0 && memcmp(a, b, 32) != 0);
    CHECK(ERR_peek_error() == 0);
done:
    s2s_trust_cache_free(c);
    s2s_trust_cache_free(other);
}

static int64_t cert_time(const char *file, bool after)
{
    BIO *bio = BIO_new_file(pki_path(file), "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int64_t t = -1;

    if (x != NULL)
        (void)s2s_trust_asn1_time_seconds(after ? X509_get0_notAfter(x) : X509_get0_notBefore(x), &t);
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return t;
}

static int window_of(s2s_trust_store_t *store, const char *file, const char *domain, s2s_trust_window_t *w)
{
    chain_t chain;
    int v;

    if (chain_load(file, &chain) != 0)
        return -2;
    v = s2s_trust_verify_chain_window(store, domain, strlen(domain), chain.der, chain.n, NULL, w);
    chain_free(&chain);
    return v;
}

void test_cache_windows_follow_certificate_times(void)
{
    s2s_trust_store_t *store = test_store("");
    s2s_trust_store_t *pinned;
    char extra[128];
    s2s_trust_window_t w;
    int64_t now = (int64_t)time(NULL);
    int64_t leaf_na = cert_time("good.pem", true), inter_na = cert_time("inter.pem", true),
            root_na = cert_time("root.pem", true), notyet_nb = cert_time("notyet.pem", false);

    snprintf(extra, sizeof extra, "verification_time = %lldL;", (long long)cert_time("good.pem", false) + 3600);
    pinned = test_store(extra);
    if (store == NULL || pinned == NULL)
        goto done;
    CHECK(leaf_na > now && inter_na > now && root_na > now && notyet_nb > now);

    CHECK(window_of(store, "good.pem", "good.test", &w) == S2S_TRUST_OK);
    CHECK(w.from <= now + 1 && w.from >= now - 5);
    /* Ends no later than any certificate of the chain expires. */
    CHECK(w.until > w.from && w.until <= leaf_na && w.until <= inter_na && w.until <= root_na);
    CHECK(w.until == s2s_trust_store_next_event(store, w.from) || w.until == leaf_na ||
          w.until == cert_time("good.pem", false));

    /* A certificate that is not valid yet: the cached refusal ends when it becomes valid. */
    CHECK(window_of(store, "notyet.pem", "notyet.test", &w) == S2S_TRUST_NOT_YET_VALID);
    CHECK(w.until > w.from && w.until <= notyet_nb);

    /* Expired stays expired, but not past the store's next instant. */
    CHECK(window_of(store, "expired.pem", "expired.test", &w) == S2S_TRUST_EXPIRED);
    CHECK(w.until <= s2s_trust_store_next_event(store, w.from));

    /* A name mismatch is still bounded by time: the chain could expire first. */
    CHECK(window_of(store, "good.pem", "other.test", &w) == S2S_TRUST_NAME_MISMATCH);
    CHECK(w.until <= leaf_na);

    /* Time pinned: the verdict never changes, only the TTL bounds it. */
    CHECK(window_of(pinned, "good.pem", "good.test", &w) == S2S_TRUST_OK);
    CHECK(w.from == INT64_MIN && w.until == INT64_MAX);

    /* Refused before parsing: no time involved. */
    {
        unsigned char junk[3] = { 1, 2, 3 };
        s2s_trust_der_t der[1] = { { junk, sizeof junk } };
        CHECK(s2s_trust_verify_chain_window(store, "x.test", 6, der, 1, NULL, &w) == S2S_TRUST_MALFORMED);
        CHECK(w.from == INT64_MIN && w.until == INT64_MAX);
    }

    /* The store's instants: strictly after, sorted, INT64_MAX past the last. */
    CHECK(s2s_trust_store_next_event(store, INT64_MAX) == INT64_MAX);
    {
        int64_t e = s2s_trust_store_next_event(store, INT64_MIN);
        CHECK(e != INT64_MAX && s2s_trust_store_next_event(store, e - 1) == e);
        CHECK(s2s_trust_store_next_event(store, e) > e);
        CHECK(s2s_trust_store_next_event(store, root_na - 1) <= root_na);
        CHECK(s2s_trust_store_next_event(store, inter_na - 1) <= inter_na);
    }
done:
    s2s_trust_store_release(store);
    s2s_trust_store_release(pinned);
}

/* Through the cache, at the window's edges (a pinned store verifies at any
 * instant we choose): the plain verifier at `until` may differ, at
 * until - 1 it may not. This is the expiry and not-yet-valid proof. */
void test_cache_time_checks_bite_at_the_edge(void)
{
    static const struct {
        const char *file, *domain;
        s2s_trust_verdict_t now, at_edge;
        bool leaf_after; /* the edge is the leaf's notAfter (else its notBefore) */
    } cases[] = {
        { "good.pem", "good.test", S2S_TRUST_OK, S2S_TRUST_EXPIRED, true },
        /* The whole test chain starts at one instant: the root is not valid yet a second before. */
        { "good.pem", "good.test", S2S_TRUST_NOT_YET_VALID, S2S_TRUST_OK, false },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t edge = cert_time(cases[i].file, cases[i].leaf_after);
        char extra[128];
        s2s_trust_store_t *before, *at;

        snprintf(extra, sizeof extra, "verification_time = %lldL;", (long long)edge - 1);
        before = test_store(extra);
        snprintf(extra, sizeof extra, "verification_time = %lldL;", (long long)edge);
        at = test_store(extra);
        if (before != NULL && at != NULL) {
            CHECK_MSG(verify_file(before, cases[i].file, cases[i].domain, NULL) == (int)cases[i].now, "%s",
                      cases[i].file);
            CHECK_MSG(verify_file(at, cases[i].file, cases[i].domain, NULL) == (int)cases[i].at_edge, "%s",
                      cases[i].file);
        }
        s2s_trust_store_release(before);
        s2s_trust_store_release(at);
    }
}

static int verify_cached_file(s2s_trust_store_t *store, const char *file, const char *domain)
{
    chain_t chain;
    int v;

    if (chain_load(file, &chain) != 0) {
        CHECK_MSG(0, "cannot load %s", file);
        return -2;
    }
    v = s2s_trust_verify_cached(store, domain, strlen(domain), chain.der, chain.n);
    chain_free(&chain);
    return v;
}

static const struct {
    const char *file, *domain;
} corpus[] = {
    { "good.pem", "good.test" },       { "good.pem", "www.good.test" },   { "good.pem", "GOOD.test." },
    { "good.pem", "other.test" },      { "good.chain.pem", "good.test" }, { "good-rsa.pem", "good-rsa.test" },
    { "serverauth.pem", "serverauth.test" }, { "clientauth.pem", "clientauth.test" },
    { "noeku.pem", "noeku.test" },     { "expired.pem", "expired.test" }, { "notyet.pem", "notyet.test" },
    { "selfsigned.pem", "selfsigned.test" }, { "unknownroot.pem", "unknownroot.test" },
    { "badsig.pem", "badsig.test" },   { "nonca.chain.pem", "nonca.test" }, { "deep.chain.pem", "deep.test" },
    { "ncok.chain.pem", "ncok.test" }, { "ncbad.chain.pem", "ncbad.test" }, { "ncxmpp.chain.pem", "ncxmpp.test" },
    { "ncsrv.chain.pem", "ncsrv.test" }, { "cnonly.pem", "cnonly.test" }, { "idn.pem", "xn--bcher-kva.test" },
    { "revoked.pem", "revoked.test" }, { "weak.pem", "weak.test" },
};

/* Same verdicts as the plain verifier, on every policy variant, first
 * (miss) and second (hit) time; the second time counts as a hit. */
void test_cache_verify_equivalence(void)
{
    char crl[2048];
    const char *extras[] = { "", "insecure_allow_cn_id = true;", "require_server_auth_eku = true;", crl,
                             "verification_time = \"2030-01-01\";", "crl_check = \"require\";" };

    snprintf(crl, sizeof crl, "crl_file = [\"%s\", \"%s\"];", pki_path("root.crl.pem"), pki_path("inter.crl.pem"));
    for (size_t e = 0; e < sizeof extras / sizeof extras[0]; e++) {
        s2s_trust_store_t *store = test_store(extras[e]);
        s2s_trust_cache_stats_t st0, st1;
        int seen = 0;

        if (store == NULL)
            continue;
        for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
            if (access(pki_path(corpus[i].file), R_OK) != 0)
                continue;
            seen++;
            int plain = verify_file(store, corpus[i].file, corpus[i].domain, NULL);
            int first = verify_cached_file(store, corpus[i].file, corpus[i].domain);
            s2s_trust_cache_stats(s2s_trust_cache_of(store), &st0);
            int second = verify_cached_file(store, corpus[i].file, corpus[i].domain);
            s2s_trust_cache_stats(s2s_trust_cache_of(store), &st1);
            CHECK_MSG(first == plain && second == plain, "%s %s [%s]: plain %d, cached %d then %d",
                      corpus[i].file, corpus[i].domain, extras[e], plain, first, second);
            if (plain == S2S_TRUST_CRL_UNAVAILABLE)
                CHECK_MSG(st1.hits == st0.hits, "%s: crl_unavailable served from the cache", corpus[i].file);
            else
                CHECK_MSG(st1.hits == st0.hits + 1, "%s %s [%s]: second verification was not a hit",
                          corpus[i].file, corpus[i].domain, extras[e]);
        }
        CHECK(seen >= 20);
        CHECK(ERR_peek_error() == 0);
        s2s_trust_store_release(store);
    }
}

/* A cache asked to keep K verdicts keeps them: K peers taking turns (the
 * pattern of an LRU table's worst case) find theirs on the second round.
 * With one slot per verdict the 8-way sets overflow unevenly and such a
 * round hit about half the time; with two slots per verdict, ~94%. 80% is
 * far from both, whatever the random salt spreads the keys like. */
void test_cache_holds_its_size(void)
{
    enum { K = 256 };
    s2s_trust_store_t *store = test_store("verdict_cache_size = 256;");
    s2s_trust_cache_stats_t st0, st1;
    chain_t chain;
    char domain[32];
    int round_ok = 1;

    if (store == NULL || chain_load("good.pem", &chain) != 0) {
        CHECK_MSG(0, "set-up");
        s2s_trust_store_release(store);
        return;
    }
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            s2s_trust_cache_stats(s2s_trust_cache_of(store), &st0);
        for (int i = 0; i < K; i++) {
            /* K distinct keys; every verdict is name_mismatch, cached like any. */
            snprintf(domain, sizeof domain, "peer-%d.test", i);
            round_ok &= s2s_trust_verify_cached(store, domain, strlen(domain), chain.der, chain.n) ==
                        S2S_TRUST_NAME_MISMATCH;
        }
    }
    s2s_trust_cache_stats(s2s_trust_cache_of(store), &st1);
    CHECK(round_ok);
    CHECK(st1.capacity == 2 * K);
    CHECK_MSG(st1.hits - st0.hits >= K * 8 / 10, "second round: %llu hits of %d",
              (unsigned long long)(st1.hits - st0.hits), K);
    chain_free(&chain);
    s2s_trust_store_release(store);
}

void test_cache_bypass_and_off(void)
{
    s2s_trust_store_t *off = test_store("verdict_cache_size = 0;");
    s2s_trust_store_t *off_ttl = test_store("verdict_cache_ttl = 0;");
    s2s_trust_store_t *on = test_store("verdict_cache_size = 16;\nverdict_cache_ttl = 5;");
    s2s_trust_store_t *reloaded = test_store("verdict_cache_size = 16;\nverdict_cache_ttl = 5;");
    s2s_trust_cache_stats_t st0, st1;
    unsigned char byte = 0x30;
    static unsigned char big[40 * 1024];
    s2s_trust_der_t der[12];

    if (off == NULL || off_ttl == NULL || on == NULL || reloaded == NULL)
        goto done;
    /* Stats without creating: the policy's capacity (two slots per
     * verdict asked for), nothing allocated. */
    s2s_trust_cache_stats_of(on, &st0);
    CHECK(st0.capacity == 32 && st0.ttl == 5 && st0.bytes == 0 && st0.entries == 0);
    CHECK(s2s_trust_store_ext(on) == NULL);
    s2s_trust_cache_stats_of(off_ttl, &st0);
    CHECK(st0.capacity == 0 && st0.bytes == 0);
    CHECK(s2s_trust_cache_of(off) == NULL && s2s_trust_cache_of(off_ttl) == NULL);
    CHECK(verify_cached_file(off, "good.pem", "good.test") == S2S_TRUST_OK);
    CHECK(verify_cached_file(off, "expired.pem", "expired.test") == S2S_TRUST_EXPIRED);

    CHECK(s2s_trust_cache_of(on) != NULL && s2s_trust_cache_of(on) == s2s_trust_cache_of(on));
    s2s_trust_cache_stats(s2s_trust_cache_of(on), &st0);
    CHECK(st0.capacity == 32 && st0.ttl == 5);
    /* Refused before parsing: answered without the cache. */
    for (size_t i = 0; i < 12; i++) {
        der[i].data = &byte;
        der[i].len = 1;
    }
    CHECK(s2s_trust_verify_cached(on, "x.test", 6, der, 0) == S2S_TRUST_NO_CERTIFICATE);
    CHECK(s2s_trust_verify_cached(on, "x.test", 6, der, 11) == S2S_TRUST_TOO_LONG);
    der[0].data = big;
    der[0].len = sizeof big;
    CHECK(s2s_trust_verify_cached(on, "x.test", 6, der, 1) == S2S_TRUST_TOO_LONG);
    der[0].len = 0;
    CHECK(s2s_trust_verify_cached(on, "x.test", 6, der, 1) == S2S_TRUST_MALFORMED);
    der[0].data = &byte;
    der[0].len = 1;
    CHECK(s2s_trust_verify_cached(on, NULL, 0, der, 1) == S2S_TRUST_MALFORMED);
    s2s_trust_cache_stats(s2s_trust_cache_of(on), &st1);
    CHECK(st1.hits + st1.misses == st0.hits + st0.misses);
    /* Garbage that gets as far as the parser is cached like any verdict. */
    CHECK(s2s_trust_verify_cached(on, "x.test", 6, der, 1) == S2S_TRUST_MALFORMED);
    CHECK(s2s_trust_verify_cached(on, "x.test", 6, der, 1) == S2S_TRUST_MALFORMED);
    s2s_trust_cache_stats(s2s_trust_cache_of(on), &st1);
    CHECK(st1.hits == st0.hits + 1 && st1.misses == st0.misses + 1);

    /* A reload is a new store, hence an empty cache. */
    CHECK(verify_cached_file(on, "good.pem", "good.test") == S2S_TRUST_OK);
    s2s_trust_cache_stats_of(on, &st0);
    s2s_trust_cache_stats(s2s_trust_cache_of(on), &st1);
    CHECK(st0.bytes > 0 && memcmp(&st0, &st1, sizeof st0) == 0);
    CHECK(s2s_trust_cache_of(reloaded) != s2s_trust_cache_of(on));
    s2s_trust_cache_stats(s2s_trust_cache_of(reloaded), &st1);
    CHECK(st1.entries == 0 && st1.hits == 0);
    CHECK(ERR_peek_error() == 0);
done:
    s2s_trust_store_release(off);
    s2s_trust_store_release(off_ttl);
    s2s_trust_store_release(on);
    s2s_trust_store_release(reloaded);
}

/* Many threads, a cache small enough to evict all the time, one store. */
typedef struct {
    s2s_trust_store_t *store;
    chain_t *chains;
    const int *want;
    size_t n;
    unsigned seed;
    int wrong;
} thread_arg_t;

static void *cache_thread(void *p)
{
    thread_arg_t *a = p;

    for (int k = 0; k < 400; k++) {
        size_t i = (size_t)rand_r(&a->seed) % a->n;
        int v = s2s_trust_verify_cached(a->store, corpus[i].domain, strlen(corpus[i].domain), a->chains[i].der,
                                        a->chains[i].n);
        if (v != a->want[i])
            a->wrong++;
        if (ERR_peek_error() != 0)
            a->wrong++;
    }
    ERR_clear_error();
    return NULL;
}

void test_cache_threads(void)
{
    enum { THREADS = 8, N = sizeof corpus / sizeof corpus[0] };
    s2s_trust_store_t *store = test_store("verdict_cache_size = 8;");
    chain_t chains[N];
    int want[N];
    pthread_t th[THREADS];
    thread_arg_t args[THREADS];
    size_t n = 0;
    s2s_trust_cache_stats_t st;

    if (store == NULL)
        return;
    memset(chains, 0, sizeof chains);
    for (size_t i = 0; i < N; i++) {
        if (chain_load(corpus[i].file, &chains[i]) != 0) {
            /* keep indexes aligned with corpus[]: an empty chain verifies as no_certificate */
            chains[i].n = 0;
        }
        want[i] = s2s_trust_verify_chain(store, corpus[i].domain, strlen(corpus[i].domain), chains[i].der,
                                         chains[i].n, NULL);
        n++;
    }
    for (int t = 0; t < THREADS; t++) {
        args[t] = (thread_arg_t){ store, chains, want, n, (unsigned)t * 7919u + 1u, 0 };
        CHECK(pthread_create(&th[t], NULL, cache_thread, &args[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(args[t].wrong == 0, "thread %d: %d wrong verdicts", t, args[t].wrong);
    }
    s2s_trust_cache_stats(s2s_trust_cache_of(store), &st);
    CHECK(st.hits > 0 && st.evictions > 0 && st.entries <= st.capacity);
    for (size_t i = 0; i < N; i++)
        chain_free(&chains[i]);
    s2s_trust_store_release(store);
}

/* ---- the fuzz corpus, replayed: cached == plain on every input ---------- */

static s2s_trust_store_t *fuzz_store(const char *dir, const char *extra)
{
    char text[8192], t[64] = "";
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/pki/time", dir);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(t, sizeof t, f) == NULL)
            t[0] = '\0';
        fclose(f);
        t[strcspn(t, "\r\n")] = '\0';
    }
    snprintf(text, sizeof text,
             "ca_file = \"%s/pki/root.pem\";\nintermediate_file = \"%s/pki/pool.pem\";\n"
             "crl_file = [\"%s/pki/root.crl.pem\", \"%s/pki/inter.crl.pem\"];\n%s%s%s%s",
             dir, dir, dir, dir, t[0] ? "verification_time = \"" : "", t, t[0] ? "\";\n" : "", extra);
    return store_from_text("fuzz.conf", text);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n)
        *len = (size_t)n;
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* fuzz_verify's framing: u8 L, domain, then up to 12 x (u16 BE length, DER). */
static size_t frame(const unsigned char *buf, size_t len, const unsigned char **domain, size_t *dlen,
                    s2s_trust_der_t der[12])
{
    size_t pos = 0, n = 0, want;

#define TAKE(w, out, got)                                  \
    do {                                                   \
        size_t w_ = (w);                                   \
        *(out) = buf + pos;                                \
        *(got) = w_ < len - pos ? w_ : len - pos;          \
        pos += *(got);                                     \
    } while (0)
    want = pos < len ? buf[pos++] : 0;
    TAKE(want, domain, dlen);
    while (len - pos >= 2 && n < 12) {
        want = ((size_t)buf[pos] << 8) | buf[pos + 1];
        pos += 2;
        TAKE(want, &der[n].data, &der[n].len);
        n++;
    }
#undef TAKE
    return n;
}

void test_cache_fuzz_corpus_equivalence(void)
{
    const char *rel = getenv("S2S_TRUST_FUZZ_DIR") ? getenv("S2S_TRUST_FUZZ_DIR") : "tests/fuzz";
    char dir[PATH_MAX], cdir[PATH_MAX + 64];
    DIR *d;
    struct dirent *ent;
    s2s_trust_store_t *stores[3];
    int inputs = 0;

    if (realpath(rel, dir) == NULL) {
        CHECK_MSG(0, "no %s (run from the top directory or set S2S_TRUST_FUZZ_DIR)", rel);
        return;
    }
    snprintf(cdir, sizeof cdir, "%s/corpus/fuzz_verify", dir);
    stores[0] = fuzz_store(dir, "");
    stores[1] = fuzz_store(dir, "insecure_allow_cn_id = true;\nrequire_server_auth_eku = true;\n");
    stores[2] = fuzz_store(dir, "verdict_cache_size = 8;\n");
    d = opendir(cdir);
    CHECK_MSG(d != NULL, "no fuzz corpus at %s (run from the top directory or set S2S_TRUST_FUZZ_DIR)", cdir);
    while (d != NULL && stores[0] && stores[1] && stores[2] && (ent = readdir(d)) != NULL) {
        char path[8192];
        size_t len = 0, dlen, n;
        const unsigned char *dom;
        s2s_trust_der_t der[12];
        unsigned char *buf;

        if (ent->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", cdir, ent->d_name);
        if ((buf = read_all(path, &len)) == NULL)
            continue;
        inputs++;
        n = frame(buf, len, &dom, &dlen, der);
        for (int s = 0; s < 3; s++) {
            int plain = s2s_trust_verify_chain(stores[s], (const char *)dom, dlen, der, n, NULL);
            int c1 = s2s_trust_verify_cached(stores[s], (const char *)dom, dlen, der, n);
            int c2 = s2s_trust_verify_cached(stores[s], (const char *)dom, dlen, der, n);
            CHECK_MSG(plain == c1 && plain == c2, "%s store %d: plain %d cached %d/%d", ent->d_name, s, plain,
                      c1, c2);
        }
        free(buf);
    }
    if (d != NULL)
        closedir(d);
    CHECK(inputs >= 20);
    for (int s = 0; s < 3; s++)
        s2s_trust_store_release(stores[s]);
}
