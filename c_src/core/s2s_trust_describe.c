/* s2s_trust_describe.c - see s2s_trust_describe.h */
#include "core/s2s_trust_describe.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "core/s2s_trust_cache.h"
#include "core/s2s_trust_identity.h"

typedef struct {
    s2s_trust_details_t *d;
    bool oom;
} names_ctx_t;

static void collect_name(void *arg, s2s_trust_id_type_t type, const unsigned char *value, size_t len)
{
    names_ctx_t *nc = arg;
    s2s_trust_details_t *d = nc->d;
    s2s_trust_name_t *grown;
    unsigned char *copy;

    if (nc->oom)
        return;
    grown = realloc(d->names, (d->name_count + 1) * sizeof *grown);
    copy = malloc(len + 1);
    if (grown != NULL)
        d->names = grown;
    if (grown == NULL || copy == NULL) {
        free(copy);
        nc->oom = true;
        return;
    }
    memcpy(copy, value, len);
    copy[len] = '\0';
    d->names[d->name_count].type = type;
    d->names[d->name_count].value = copy;
    d->names[d->name_count].len = len;
    d->name_count++;
}

int s2s_trust_details_leaf(s2s_trust_details_t *d, X509 *leaf)
{
    names_ctx_t nc = { d, false };

    d->subject = s2s_trust_name_string(X509_get_subject_name(leaf));
    d->issuer = s2s_trust_name_string(X509_get_issuer_name(leaf));
    if (d->subject == NULL || d->issuer == NULL)
        return -1;
    s2s_trust_time_string(X509_get0_notBefore(leaf), d->not_before);
    s2s_trust_time_string(X509_get0_notAfter(leaf), d->not_after);
    s2s_trust_identity_list(leaf, collect_name, &nc);
    return nc.oom ? -1 : 0;
}

int s2s_trust_describe_leaf(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                            const s2s_trust_der_t *chain, size_t n, s2s_trust_details_t *d)
{
    const s2s_trust_policy_t *policy = s2s_trust_store_policy(store);
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    const char *why = NULL;
    X509 *leaf = NULL;
    int verdict;
    bool domain_ok;

    memset(d, 0, sizeof *d);
    d->error_depth = -1;
    d->presented = (int)(n > 1000000 ? 1000000 : n);
    domain_ok = domain != NULL && s2s_trust_identity_normalize(domain, domain_len, norm, sizeof norm) == 0;
    if (domain_ok)
        memcpy(d->domain, norm, strlen(norm) + 1);
    verdict = s2s_trust_chain_bounds(policy, chain, n, d);
    if (verdict != S2S_TRUST_OK) {
        if (d->detail == NULL)
            return -1;
        d->verdict = (s2s_trust_verdict_t)verdict;
        return verdict;
    }
    /* Parsed as the verifier parses. */
    verdict = s2s_trust_parse_presented(&chain[0], &leaf, &why);
    if (verdict < 0)
        return -1;
    if (verdict != S2S_TRUST_OK) {
        if (asprintf(&d->detail, "certificate 0: %s", why) < 0) {
            d->detail = NULL;
            return -1;
        }
        d->verdict = S2S_TRUST_MALFORMED;
        return S2S_TRUST_MALFORMED;
    }
    if (s2s_trust_details_leaf(d, leaf) != 0) {
        X509_free(leaf);
        return -1;
    }
    if (domain_ok && !s2s_trust_identity_matches(leaf, norm, policy->insecure_allow_cn_id, &d->matched_by))
        d->matched_by = S2S_TRUST_ID_NONE;
    X509_free(leaf);
    ERR_clear_error();
    d->verdict = S2S_TRUST_OK;
    return S2S_TRUST_OK;
}

int s2s_trust_describe_accepted(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                                const s2s_trust_der_t *chain, size_t n, s2s_trust_details_t *d)
{
    char line[96];
    int verdict = s2s_trust_describe_leaf(store, domain, domain_len, chain, n, d);

    if (verdict != S2S_TRUST_OK)
        return verdict;
    snprintf(line, sizeof line, "trusted, matched by %s", s2s_trust_id_type_name(d->matched_by));
    return (d->detail = strdup(line)) == NULL ? -1 : S2S_TRUST_OK;
}

int s2s_trust_check_chain(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                          const s2s_trust_der_t *chain, size_t n, s2s_trust_details_t *d)
{
    int verdict = s2s_trust_verify_cached(store, domain, domain_len, chain, n);

    if (verdict != S2S_TRUST_OK)
        return verdict < 0 ? verdict : s2s_trust_verify_chain(store, domain, domain_len, chain, n, d);
    /* Accepted: these bytes verified for this domain, so the leaf parses
     * and one of its identities names the domain. Should describing them
     * ever say otherwise, a fresh verification has the last word. */
    verdict = s2s_trust_describe_accepted(store, domain, domain_len, chain, n, d);
    if (verdict != S2S_TRUST_OK) {
        s2s_trust_details_free(d);
        return verdict < 0 ? -1 : s2s_trust_verify_chain(store, domain, domain_len, chain, n, d);
    }
    return S2S_TRUST_OK;
}
