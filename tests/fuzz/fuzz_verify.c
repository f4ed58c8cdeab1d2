/*
 * fuzz_verify.c - peer bytes -> s2s_trust_verify_chain (and describe, check).
 *
 * Input framing (tests/fuzz/mkseeds.py writes it):
 *   u8 L, L bytes of domain (UTF-8 or anything),
 *   then up to MAX_CERTS times: u16 big-endian length, that many DER bytes
 *   (a short tail is taken as it is).
 * MAX_CERTS is above the default max_chain_certs (10) so too_long is
 * reachable by count as well as by size.
 *
 * Two stores are built once from the fuzz PKI (root + pool + both CRLs,
 * time pinned, see fuzz.h): the default policy, and one with
 * insecure_allow_cn_id + require_server_auth_eku. Each input is verified
 * against both, without and with details. Asserted:
 *   - the result is a verdict (never -1: malloc does not fail here);
 *   - verify and explain (details) give the same verdict;
 *   - OpenSSL's error queue is empty after each call;
 *   - details are consistent with the verdict (strings present and
 *     terminated, names and chain entries well-formed);
 *   - the two policies differ only where they should: an ok under the
 *     default stays ok under the strict-EKU policy iff the leaf has the
 *     serverAuth EKU, and a non-CN ok under that policy is ok by default.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "core/s2s_trust_config.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_describe.h"
#include "core/s2s_trust_verify.h"

#define MAX_CERTS 12

static s2s_trust_store_t *stores[2]; /* 0: default policy, 1: cn + eku */

static s2s_trust_store_t *build(const char *extra)
{
    char text[4 * 4096 + 1024]; /* four paths of up to 4095 bytes, and the rest */
    const char *t = fuzz_pki_time();
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;
    char root[4096], pool[4096], rcrl[4096], icrl[4096];

    snprintf(root, sizeof root, "%s", fuzz_pki_path("root.pem"));
    snprintf(pool, sizeof pool, "%s", fuzz_pki_path("pool.pem"));
    snprintf(rcrl, sizeof rcrl, "%s", fuzz_pki_path("root.crl.pem"));
    snprintf(icrl, sizeof icrl, "%s", fuzz_pki_path("inter.crl.pem"));
    snprintf(text, sizeof text,
             "ca_file = \"%s\";\nintermediate_file = \"%s\";\ncrl_file = [\"%s\", \"%s\"];\n%s%s%s%s",
             root, pool, rcrl, icrl, t ? "verification_time = \"" : "", t ? t : "", t ? "\";\n" : "",
             extra);
    s2s_trust_config_defaults(&cfg);
    if (s2s_trust_config_read_string(text, "fuzz_verify", &cfg, &err) != 0 ||
        s2s_trust_store_build(&cfg, &store, &err) != 0) {
        fprintf(stderr, "fuzz_verify: cannot build the store from %s (set S2S_TRUST_PKI): %s:%d: %s\n",
                fuzz_pki_dir(), err.file, err.line, err.text);
        exit(1);
    }
    s2s_trust_config_free(&cfg);
    return store;
}

int FuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    stores[0] = build("");
    stores[1] = build("insecure_allow_cn_id = true;\nrequire_server_auth_eku = true;\n");
    return 0;
}

void FuzzerCleanup(void)
{
    s2s_trust_store_release(stores[0]);
    s2s_trust_store_release(stores[1]);
    stores[0] = stores[1] = NULL;
}

static bool leaf_has_server_auth(const s2s_trust_der_t *der)
{
    const unsigned char *p = der->data;
    X509 *x = d2i_X509(NULL, &p, (long)der->len);
    bool yes = false;

    if (x != NULL) {
        uint32_t flags = X509_get_extension_flags(x);
        yes = (flags & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
    }
    X509_free(x);
    ERR_clear_error();
    return yes;
}

static void check_details(const s2s_trust_details_t *d, int verdict, size_t n, const char *norm,
                          bool norm_ok, bool allow_cn)
{
    FUZZ_CHECK(d->verdict == (s2s_trust_verdict_t)verdict, "details verdict %d != %d", d->verdict, verdict);
    FUZZ_CHECK(d->detail != NULL && d->detail[0] != '\0', "no detail for verdict %d", verdict);
    (void)strlen(d->detail);
    FUZZ_CHECK(d->presented == (int)n, "presented %d, given %zu", d->presented, n);
    FUZZ_CHECK(memchr(d->domain, '\0', sizeof d->domain) != NULL, "domain not terminated");
    FUZZ_CHECK(strcmp(d->domain, norm_ok ? norm : "") == 0, "details domain '%s' != normalized '%s'",
               d->domain, norm_ok ? norm : "");
    FUZZ_CHECK(memchr(d->not_before, '\0', sizeof d->not_before) != NULL, "not_before not terminated");
    FUZZ_CHECK(memchr(d->not_after, '\0', sizeof d->not_after) != NULL, "not_after not terminated");
    FUZZ_CHECK(d->error_depth >= -1, "error_depth %d", d->error_depth);
    if (d->openssl_code != 0)
        FUZZ_CHECK(d->openssl_text != NULL, "openssl_code %d without text", d->openssl_code);
    if (d->openssl_text != NULL)
        (void)strlen(d->openssl_text);
    if (d->subject != NULL)
        (void)strlen(d->subject);
    if (d->issuer != NULL)
        (void)strlen(d->issuer);
    if (d->error_subject != NULL)
        (void)strlen(d->error_subject);
    /* Once the leaf parsed (any verdict past the size/parse checks) the
     * operator gets its subject and issuer. */
    if (verdict != S2S_TRUST_NO_CERTIFICATE && verdict != S2S_TRUST_MALFORMED &&
        verdict != S2S_TRUST_TOO_LONG)
        FUZZ_CHECK(d->subject != NULL && d->issuer != NULL, "verdict %d without leaf subject/issuer",
                   verdict);
    FUZZ_CHECK((d->names == NULL) == (d->name_count == 0) || d->name_count == 0, "names/name_count");
    for (size_t i = 0; i < d->name_count; i++) {
        FUZZ_CHECK(d->names[i].type >= S2S_TRUST_ID_DNS && d->names[i].type <= S2S_TRUST_ID_CN,
                   "name %zu has type %d", i, d->names[i].type);
        FUZZ_CHECK(d->names[i].value != NULL, "name %zu has no value", i);
        FUZZ_CHECK(d->names[i].value[d->names[i].len] == '\0', "name %zu not terminated", i);
    }
    for (size_t i = 0; i < d->chain_count; i++) {
        FUZZ_CHECK(d->chain[i].subject != NULL && d->chain[i].issuer != NULL, "chain entry %zu", i);
        (void)strlen(d->chain[i].subject);
        (void)strlen(d->chain[i].issuer);
    }
    if (verdict == S2S_TRUST_OK) {
        FUZZ_CHECK(d->matched_by != S2S_TRUST_ID_NONE, "ok without matched_by");
        FUZZ_CHECK(allow_cn || d->matched_by != S2S_TRUST_ID_CN, "ok by CN with insecure_allow_cn_id off");
        FUZZ_CHECK(d->error_depth == -1 && d->openssl_code == 0, "ok with error depth %d code %d",
                   d->error_depth, d->openssl_code);
        FUZZ_CHECK(d->chain_count >= 1, "ok without a chain");
        FUZZ_CHECK(norm_ok, "ok for a domain that does not normalize");
    } else {
        FUZZ_CHECK(d->matched_by == S2S_TRUST_ID_NONE || verdict == S2S_TRUST_NAME_CONSTRAINTS,
                   "verdict %d with matched_by %d", verdict, d->matched_by);
    }
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    fuzz_in_t in = { buf, len };
    const uint8_t *p;
    size_t dlen = fuzz_take(&in, fuzz_u8(&in), &p);
    char *domain = (char *)fuzz_dup(p, dlen);
    s2s_trust_der_t der[MAX_CERTS];
    size_t n = 0;
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    bool norm_ok;
    int verdicts[2];
    s2s_trust_id_type_t by[2];

    while (in.left >= 2 && n < MAX_CERTS) {
        size_t l = fuzz_take(&in, fuzz_u16(&in), &p);
        der[n].data = fuzz_dup(p, l);
        der[n].len = l;
        n++;
    }
    norm_ok = s2s_trust_identity_normalize(domain, dlen, norm, sizeof norm) == 0;

    for (int s = 0; s < 2; s++) {
        const s2s_trust_policy_t *policy = s2s_trust_store_policy(stores[s]);
        s2s_trust_details_t d;
        int plain, explained;

        plain = s2s_trust_verify_chain(stores[s], domain, dlen, der, n, NULL);
        fuzz_check_err_queue("s2s_trust_verify_chain");
        FUZZ_CHECK(plain >= 0 && plain < S2S_TRUST_VERDICT_COUNT, "verify returned %d", plain);

        explained = s2s_trust_verify_chain(stores[s], domain, dlen, der, n, &d);
        fuzz_check_err_queue("s2s_trust_verify_chain (details)");
        FUZZ_CHECK(explained == plain, "store %d: verify says %s (%d), explain says %s (%d)", s,
                   s2s_trust_verdict_name(plain), plain, s2s_trust_verdict_name(explained), explained);
        check_details(&d, explained, n, norm, norm_ok, policy->insecure_allow_cn_id);

        /* describe refuses only what the verifier refuses before verifying,
         * with the same verdict; on an accepted chain it names the same
         * match. check gives the verifier's verdict. */
        {
            s2s_trust_details_t dd, cd;
            int described = s2s_trust_describe_leaf(stores[s], domain, dlen, der, n, &dd);
            int checked = s2s_trust_check_chain(stores[s], domain, dlen, der, n, &cd);

            fuzz_check_err_queue("s2s_trust_describe_leaf / s2s_trust_check_chain");
            FUZZ_CHECK(described >= 0 && (described == S2S_TRUST_OK || described == plain),
                       "store %d: describe says %d, verify %d", s, described, plain);
            FUZZ_CHECK(plain != S2S_TRUST_OK || (described == S2S_TRUST_OK && dd.matched_by == d.matched_by),
                       "store %d: accepted, but describe says %d matched by %d (explain: %d)", s, described,
                       dd.matched_by, d.matched_by);
            FUZZ_CHECK(checked == plain, "store %d: check says %d, verify %d", s, checked, plain);
            s2s_trust_details_free(&dd);
            s2s_trust_details_free(&cd);
        }

        if (n == 0)
            FUZZ_CHECK(plain == S2S_TRUST_NO_CERTIFICATE, "no certificate gave %d", plain);
        else if (n > (size_t)policy->max_chain_certs)
            FUZZ_CHECK(plain == S2S_TRUST_TOO_LONG, "%zu certificates gave %d", n, plain);
        else
            FUZZ_CHECK(plain != S2S_TRUST_NO_CERTIFICATE, "%zu certificates gave no_certificate", n);
        (void)s2s_trust_verdict_name(plain);
        (void)s2s_trust_verdict_text(plain);

        verdicts[s] = plain;
        by[s] = d.matched_by;
        s2s_trust_details_free(&d);
        s2s_trust_details_free(&d); /* documented as safe twice: it resets */
    }

    /* FUZZ_VERBOSE=1: what each input got, to check seeds reach the
     * verdicts they were made for. */
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "fuzz_verify: %zu certs, domain '%.*s': %s / %s\n", n, (int)dlen, domain,
                s2s_trust_verdict_name(verdicts[0]), s2s_trust_verdict_name(verdicts[1]));

    /* Store 1 differs from store 0 in two switches only. */
    if (verdicts[0] == S2S_TRUST_OK) {
        bool eku = leaf_has_server_auth(&der[0]);
        FUZZ_CHECK((verdicts[1] == S2S_TRUST_OK) == eku,
                   "ok by default, %s under require_server_auth_eku with%s serverAuth",
                   s2s_trust_verdict_name(verdicts[1]), eku ? "" : "out");
        if (eku)
            FUZZ_CHECK(by[1] == by[0], "matched by %d by default, %d with CN allowed", by[0], by[1]);
    }
    if (verdicts[1] == S2S_TRUST_OK && by[1] != S2S_TRUST_ID_CN)
        FUZZ_CHECK(verdicts[0] == S2S_TRUST_OK, "ok by %s under the strict policy, %s by default",
                   s2s_trust_id_type_name(by[1]), s2s_trust_verdict_name(verdicts[0]));

    for (size_t i = 0; i < n; i++)
        free((void *)der[i].data);
    free(domain);
    ERR_clear_error();
    return 0;
}
