/* s2s_trust_dane.c - see s2s_trust_dane.h */
#include "core/s2s_trust_dane.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/s2s_trust_identity.h"

/* TLSA certificate usages (RFC 6698 2.1.1); OpenSSL keeps its names private. */
enum { USAGE_PKIX_TA = 0, USAGE_PKIX_EE = 1, USAGE_DANE_TA = 2, USAGE_DANE_EE = 3 };

const char *s2s_trust_dane_outcome_name(s2s_trust_dane_outcome_t outcome)
{
    switch (outcome) {
    case S2S_TRUST_DANE_EE:
        return "dane_ee";
    case S2S_TRUST_DANE_TA:
        return "dane_ta";
    case S2S_TRUST_DANE_PKIX:
        return "pkix";
    case S2S_TRUST_DANE_MISMATCH:
        return "dane_mismatch";
    case S2S_TRUST_DANE_FAILED:
        return "failed";
    case S2S_TRUST_DANE_UNUSABLE:
        return "unusable";
    }
    return "failed";
}

/* Everything one match allocates, for one cleanup path. */
typedef struct {
    X509 **certs;
    size_t parsed;
    STACK_OF(X509) *untrusted;
    SSL_CTX *sctx;
    SSL *ssl;
    X509_STORE_CTX *ctx;
} dane_work_t;

static void dane_work_free(dane_work_t *w)
{
    X509_STORE_CTX_free(w->ctx);
    SSL_free(w->ssl);
    SSL_CTX_free(w->sctx);
    sk_X509_free(w->untrusted); /* shallow: the certificates are freed below or the pool's */
    for (size_t i = 0; i < w->parsed; i++)
        X509_free(w->certs[i]);
    free(w->certs);
}

/* The presented certificates, parsed as the verifier parses them. */
static int parse_presented(const s2s_trust_der_t *chain, size_t n, dane_work_t *w)
{
    w->certs = calloc(n, sizeof *w->certs);
    if (w->certs == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *why;
        int rc = s2s_trust_parse_presented(&chain[i], &w->certs[w->parsed], &why);

        if (rc != S2S_TRUST_OK)
            return rc;
        w->parsed++;
    }
    return S2S_TRUST_OK;
}

/* The records into an SSL that is never connected: OpenSSL's DANE state,
 * with the reference names. Returns the number of usable records, or -1. */
static int load_records(dane_work_t *w, const char *domain, const char *srv_target,
                        const s2s_trust_tlsa_t *records, size_t n_records, size_t max_data)
{
    int usable = 0;

    w->sctx = SSL_CTX_new_ex(s2s_trust_libctx(), NULL, TLS_client_method());
    if (w->sctx == NULL || SSL_CTX_dane_enable(w->sctx) <= 0 || (w->ssl = SSL_new(w->sctx)) == NULL ||
        SSL_dane_enable(w->ssl, domain) <= 0 || (srv_target != NULL && SSL_add1_host(w->ssl, srv_target) != 1))
        return -1;
    /* RFC 7671 5.1: a DANE-EE match says nothing about names. */
    SSL_dane_set_flags(w->ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    for (size_t i = 0; i < n_records && i < S2S_TRUST_TLSA_MAX_RECORDS; i++) {
        const s2s_trust_tlsa_t *r = &records[i];

        /* An exact-match record holds a certificate or a key: no larger
         * than a certificate we would accept. Empty data is no record. */
        if (r->data == NULL || r->len == 0 || r->len > max_data)
            continue;
        /* 1 usable, 0 unusable (unknown usage, selector or type, a digest
         * of the wrong length, an unparsable certificate), < 0 an error:
         * each leaves OpenSSL's state as it was for the other records. */
        if (SSL_dane_tlsa_add(w->ssl, r->usage, r->selector, r->mtype, r->data, r->len) > 0)
            usable++;
        ERR_clear_error();
    }
    return usable;
}

static int setup_ctx(const s2s_trust_store_t *store, dane_work_t *w, const char *domain,
                     const char *srv_target, int64_t at)
{
    X509_VERIFY_PARAM *param;

    /* PKIX candidates: what the peer sent, then the store's pool. */
    w->untrusted = sk_X509_dup(s2s_trust_store_intermediates(store));
    if (w->untrusted == NULL)
        w->untrusted = sk_X509_new_null();
    if (w->untrusted == NULL)
        return -1;
    for (size_t i = w->parsed; i > 1; i--)
        if (sk_X509_unshift(w->untrusted, w->certs[i - 1]) <= 0)
            return -1;
    w->ctx = X509_STORE_CTX_new_ex(s2s_trust_libctx(), NULL);
    if (w->ctx == NULL ||
        X509_STORE_CTX_init(w->ctx, s2s_trust_store_anchors(store), w->certs[0], w->untrusted) != 1 ||
        s2s_trust_apply_policy(w->ctx, store, at) != 0)
        return -1;
    /* The names a DANE-TA or PKIX leaf must carry (RFC 7673 4.2), checked
     * by OpenSSL as DNS-IDs; a DANE-EE match skips them (the flag above). */
    param = X509_STORE_CTX_get0_param(w->ctx);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, domain, 0) != 1 ||
        (srv_target != NULL && X509_VERIFY_PARAM_add1_host(param, srv_target, 0) != 1))
        return -1;
    X509_STORE_CTX_set0_dane(w->ctx, SSL_get0_dane(w->ssl));
    return 0;
}

static void set_result(s2s_trust_dane_result_t *out, s2s_trust_dane_outcome_t outcome,
                       s2s_trust_verdict_t verdict, int openssl_code)
{
    out->outcome = outcome;
    out->verdict = verdict;
    out->openssl_code = openssl_code;
}

int s2s_trust_dane_verify(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                          const char *srv_target, const s2s_trust_der_t *chain, size_t n,
                          const s2s_trust_tlsa_t *records, size_t n_records, s2s_trust_dane_result_t *out)
{
    const s2s_trust_policy_t *policy = s2s_trust_store_policy(store);
    int64_t at = policy->has_verification_time ? policy->verification_time : (int64_t)time(NULL);
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    dane_work_t w = { 0 };
    int rc = -1, verdict, usable;

    memset(out, 0, sizeof *out);
    out->match_depth = -1;
    ERR_clear_error();
    verdict = s2s_trust_chain_bounds(policy, chain, n, NULL);
    if (verdict != S2S_TRUST_OK) {
        set_result(out, S2S_TRUST_DANE_FAILED, (s2s_trust_verdict_t)verdict, 0);
        return 0;
    }
    if (domain == NULL || s2s_trust_identity_normalize(domain, domain_len, norm, sizeof norm) != 0) {
        set_result(out, S2S_TRUST_DANE_FAILED, S2S_TRUST_NAME_MISMATCH, 0);
        return 0;
    }
    usable = load_records(&w, norm, srv_target, records, n_records, policy->max_cert_bytes);
    if (usable < 0)
        goto done;
    out->usable = usable;
    if (usable == 0) {
        /* RFC 7671 4.1: no usable record, no DANE; PKIX alone, by the
         * store's own rules (the verifier, identities and all), which
         * parses the chain itself: nothing parsed here yet. */
        verdict = s2s_trust_verify_chain(store, domain, domain_len, chain, n, NULL);
        if (verdict >= 0) {
            set_result(out, S2S_TRUST_DANE_UNUSABLE, (s2s_trust_verdict_t)verdict, 0);
            rc = 0;
        }
        goto done;
    }
    verdict = parse_presented(chain, n, &w);
    if (verdict != S2S_TRUST_OK) {
        if (verdict > 0) {
            set_result(out, S2S_TRUST_DANE_FAILED, (s2s_trust_verdict_t)verdict, 0);
            rc = 0;
        }
        goto done;
    }
    if (setup_ctx(store, &w, norm, srv_target, at) != 0)
        goto done;
    if (X509_verify_cert(w.ctx) == 1) {
        uint8_t usage = 0, selector, mtype;
        const unsigned char *data;
        size_t dlen;
        int depth = SSL_get0_dane_tlsa(w.ssl, &usage, &selector, &mtype, &data, &dlen);

        out->match_depth = depth;
        out->match_usage = usage;
        if (depth < 0) {
            /* Verified without a match: not something DANE allows. */
            set_result(out, S2S_TRUST_DANE_MISMATCH, S2S_TRUST_UNTRUSTED, X509_V_ERR_DANE_NO_MATCH);
        } else if (usage == USAGE_DANE_EE) {
            set_result(out, S2S_TRUST_DANE_EE, S2S_TRUST_OK, 0);
        } else if (usage == USAGE_DANE_TA) {
            set_result(out, S2S_TRUST_DANE_TA, S2S_TRUST_OK, 0);
        } else {
            /* PKIX-TA/EE only constrain: the chain must also be what the
             * verifier accepts, with its identity rules (XmppAddr, SRV-ID,
             * name constraints on them, the EKU policy). */
            verdict = s2s_trust_verify_chain(store, domain, domain_len, chain, n, NULL);
            if (verdict < 0)
                goto done;
            set_result(out, verdict == S2S_TRUST_OK ? S2S_TRUST_DANE_PKIX : S2S_TRUST_DANE_FAILED,
                       (s2s_trust_verdict_t)verdict, 0);
        }
        rc = 0;
    } else {
        int err = X509_STORE_CTX_get_error(w.ctx);

        if (err == X509_V_OK || err == X509_V_ERR_OUT_OF_MEM)
            goto done;
        if (err == X509_V_ERR_DANE_NO_MATCH)
            set_result(out, S2S_TRUST_DANE_MISMATCH, S2S_TRUST_UNTRUSTED, err);
        else
            set_result(out, S2S_TRUST_DANE_FAILED, s2s_trust_verdict_from_x509_error(err), err);
        rc = 0;
    }
done:
    dane_work_free(&w);
    ERR_clear_error();
    return rc;
}
