/*
 * probe_chain.c - the certificate-chain analysis behind `s2s-trust probe`
 * (probe_chain.h): details of each certificate the server sent, the chain's
 * shape as sent, and what the leaf is valid for. Prints nothing.
 */
#include "cli/probe_chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "core/s2s_trust_identity.h"

/* ---- certificate details ------------------------------------------------------ */

static void collect_name(void *arg, s2s_trust_id_type_t type, const unsigned char *value, size_t len)
{
    cert_info_t *ci = arg;
    unsigned char *copy;

    if (ci->name_count == PROBE_MAX_NAMES_SHOWN) {
        ci->names_dropped++;
        return;
    }
    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        ci->names_dropped++;
        return;
    }
    memcpy(copy, value, len);
    ci->names[ci->name_count].type = type;
    ci->names[ci->name_count].value = copy;
    ci->names[ci->name_count].len = len;
    ci->name_count++;
}

void probe_cert_info(const s2s_trust_der_t *der, cert_info_t *ci)
{
    const unsigned char *p = der->data;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_PKEY *pk;

    memset(ci, 0, sizeof *ci);
    /* Peer bytes: parsed with OpenSSL's bounded DER parser, a whole
     * certificate or nothing. */
    ci->x = d2i_X509(NULL, &p, (long)der->len);
    if (ci->x == NULL || p != der->data + der->len) {
        X509_free(ci->x);
        ci->x = NULL;
        ERR_clear_error();
        return;
    }
    ci->subject = s2s_trust_name_string(X509_get_subject_name(ci->x));
    ci->issuer = s2s_trust_name_string(X509_get_issuer_name(ci->x));
    s2s_trust_time_string(X509_get0_notBefore(ci->x), ci->not_before);
    s2s_trust_time_string(X509_get0_notAfter(ci->x), ci->not_after);
    {
        uint32_t flags = X509_get_extension_flags(ci->x); /* also caches the extensions */
        uint32_t xku = X509_get_extended_key_usage(ci->x);
        ci->self_signed = (flags & EXFLAG_SS) != 0;
        ci->eku_present = (flags & EXFLAG_XKUSAGE) != 0;
        ci->server_auth = !ci->eku_present || (xku & XKU_SSL_SERVER) != 0;
        ci->client_auth = !ci->eku_present || (xku & XKU_SSL_CLIENT) != 0;
        ci->is_ca = X509_check_ca(ci->x) > 0;
    }
    pk = X509_get0_pubkey(ci->x);
    if (pk != NULL)
        snprintf(ci->key, sizeof ci->key, "%s %d bits",
                 EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC    ? "EC"
                 : EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA ? "RSA"
                                                            : OBJ_nid2sn(EVP_PKEY_get_base_id(pk)),
                 EVP_PKEY_get_bits(pk));
    if (X509_digest(ci->x, EVP_sha256(), md, &mdlen) == 1)
        for (unsigned i = 0; i < mdlen && 3 * i + 3 <= sizeof ci->sha256; i++)
            snprintf(ci->sha256 + 3 * i, sizeof ci->sha256 - 3 * i, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
    s2s_trust_identity_list(ci->x, collect_name, ci);
    ERR_clear_error();
}

void probe_cert_info_free(cert_info_t *ci)
{
    for (size_t i = 0; i < ci->name_count; i++)
        free(ci->names[i].value);
    free(ci->subject);
    free(ci->issuer);
    X509_free(ci->x);
    memset(ci, 0, sizeof *ci);
}

/* ---- the chain's shape ------------------------------------------------------------- */

static int issued(X509 *issuer, X509 *subject)
{
    int ok = issuer != NULL && subject != NULL && X509_check_issued(issuer, subject) == X509_V_OK;
    ERR_clear_error();
    return ok;
}

/* Duplicates first: a certificate sent twice is noise, not disorder. */
static void mark_duplicates(const cert_info_t *certs, size_t n, int *used, shape_t *s)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i && !used[i]; j++)
            if (certs[i].x != NULL && certs[j].x != NULL && X509_cmp(certs[i].x, certs[j].x) == 0) {
                used[i] = 1;
                s->duplicates++;
            }
}

/* Follow issuers from the leaf through what was sent, in any order. */
static void follow_issuers(const cert_info_t *certs, size_t n, int *used, shape_t *s)
{
    size_t cur = 0;

    s->path[s->path_len++] = 0;
    used[0] = 1;
    while (!certs[cur].self_signed) {
        size_t next = n;
        for (size_t i = 0; i < n; i++)
            if (!used[i] && issued(certs[i].x, certs[cur].x)) {
                next = i;
                break;
            }
        if (next == n)
            break;
        used[next] = 1;
        s->path[s->path_len++] = next;
        cur = next;
    }
}

/* The summary of a chain of one: what sending the leaf alone means. */
static void summarize_leaf_only(const cert_info_t *leaf, const s2s_trust_details_t *d, shape_t *s)
{
    char *o = s->summary;
    size_t cap = sizeof s->summary;

    if (leaf->self_signed)
        snprintf(o, cap, "leaf only, self-signed");
    else if (d->verdict == S2S_TRUST_OK && d->chain_count <= 2)
        snprintf(o, cap, "leaf only - issued directly by a trust anchor, nothing else to send");
    else if (d->verdict == S2S_TRUST_OK)
        snprintf(o, cap, "leaf only - the server does not send its intermediate(s); this check found "
                         "them in the configured intermediates pool, peers without them will fail");
    else
        snprintf(o, cap, "leaf only - the server does not send its intermediate(s)");
}

/* The summary of a longer chain: counts, order, and what is wrong with it. */
static void summarize_chain(const cert_info_t *certs, size_t n, shape_t *s)
{
    char *o = s->summary;
    size_t cap = sizeof s->summary;
    int w = snprintf(o, cap, "%zu certificates: leaf + %zu intermediate(s)%s", n, s->intermediates_sent,
                     s->includes_root ? " + root (unneeded)" : "");
    size_t at = w > 0 && (size_t)w < cap ? (size_t)w : cap - 1;

    if (s->in_order && s->path_len > 1)
        at += (size_t)snprintf(o + at, cap - at, ", in order");
    else if (s->path_len > 1)
        at += (size_t)snprintf(o + at, cap - at, ", WRONG ORDER (each certificate should be followed by its issuer)");
    if (at < cap && s->path_len == 1 && !certs[0].self_signed)
        at += (size_t)snprintf(o + at, cap - at, ", but none of them issued the leaf");
    if (at < cap && s->extra > 0 && s->path_len > 1)
        at += (size_t)snprintf(o + at, cap - at, ", %zu extra certificate(s) not on the leaf's path", s->extra);
    if (at < cap && s->duplicates > 0)
        at += (size_t)snprintf(o + at, cap - at, ", %zu certificate(s) sent twice", s->duplicates);
    if (at < cap && s->missing)
        snprintf(o + at, cap - at, "; incomplete: this check needed intermediate(s) from the configured pool");
}

void probe_chain_shape(const cert_info_t *certs, size_t n, const s2s_trust_details_t *d, shape_t *s)
{
    int used[S2S_TRUST_PROBE_MAX_CHAIN] = { 0 };

    memset(s, 0, sizeof *s);
    s->n = n;
    if (n == 0 || certs[0].x == NULL) {
        snprintf(s->summary, sizeof s->summary, "%s",
                 n == 0 ? "no certificate" : "the first certificate does not parse");
        return;
    }
    mark_duplicates(certs, n, used, s);
    follow_issuers(certs, n, used, s);
    /* In order: the path's indices increase (duplicates may sit between). */
    s->in_order = 1;
    for (size_t i = 1; i < s->path_len; i++)
        if (s->path[i] < s->path[i - 1])
            s->in_order = 0;
    s->extra = n - s->path_len - s->duplicates;
    s->includes_root = s->path_len > 1 && certs[s->path[s->path_len - 1]].self_signed;
    for (size_t i = 1; i < s->path_len; i++)
        if (!certs[s->path[i]].self_signed)
            s->intermediates_sent++;
    /* What the verifier had to add besides the anchor came from our pool. */
    if (d->verdict == S2S_TRUST_OK)
        s->missing = d->chain_count > s->path_len + (s->includes_root ? 0 : 1);
    if (n == 1)
        summarize_leaf_only(&certs[0], d, s);
    else
        summarize_chain(certs, n, s);
}

/* What the leaf may be used for, in words. */
const char *probe_valid_for(const cert_info_t *leaf, int *xmpp_addr)
{
    *xmpp_addr = 0;
    for (size_t i = 0; i < leaf->name_count; i++)
        if (leaf->names[i].type == S2S_TRUST_ID_XMPP)
            *xmpp_addr = 1;
    if (leaf->x == NULL)
        return "unknown (the certificate does not parse)";
    if (!leaf->eku_present)
        return "any purpose (no extended key usage): server and client authentication";
    if (leaf->server_auth && leaf->client_auth)
        return "TLS server and client authentication (serverAuth, clientAuth)";
    if (leaf->server_auth)
        return "TLS server authentication only (serverAuth): mod_s2s_trust, Prosody and ejabberd >= 25.07 "
               "accept it in both directions; older hardened ejabberd refuses it on inbound s2s";
    if (leaf->client_auth)
        return "TLS client authentication only (clientAuth): not valid for a server (bad_purpose)";
    return "neither serverAuth nor clientAuth: not valid for s2s (bad_purpose)";
}
