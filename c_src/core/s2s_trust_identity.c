/* s2s_trust_identity.c - see s2s_trust_identity.h */
#include "core/s2s_trust_identity.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#define SRV_PREFIX "_xmpp-server."

const char *s2s_trust_id_type_name(s2s_trust_id_type_t type)
{
    switch (type) {
    case S2S_TRUST_ID_DNS:
        return "dns";
    case S2S_TRUST_ID_SRV:
        return "srv";
    case S2S_TRUST_ID_XMPP:
        return "xmpp";
    case S2S_TRUST_ID_CN:
        return "cn";
    case S2S_TRUST_ID_NONE:
    default:
        return "none";
    }
}

static bool is_ldh(unsigned char ch)
{
    /* Underscore is allowed because real XMPP service names use it in
     * labels (_xmpp-server.*) and some hosting names do; it never makes a
     * match looser, comparison stays exact. */
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* Lower-case in place and check label syntax; `s` is NUL-terminated ASCII. */
static int check_alabels(char *s)
{
    size_t label = 0;
    bool all_digits_or_dots = true;

    if (s[0] == '\0')
        return -1;
    for (char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch >= 'A' && ch <= 'Z')
            *p = (char)(ch - 'A' + 'a');
        ch = (unsigned char)*p;
        if (ch == '.') {
            if (label == 0)
                return -1; /* empty label */
            label = 0;
            continue;
        }
        if (!is_ldh(ch))
            return -1;
        if (!(ch >= '0' && ch <= '9'))
            all_digits_or_dots = false;
        if (++label > 63)
            return -1;
    }
    if (label == 0)
        return -1;
    /* An IPv4 literal is not a domain; a certificate would need an
     * iPAddress SAN, which XMPP s2s does not use. */
    if (all_digits_or_dots)
        return -1;
    return 0;
}

int s2s_trust_identity_normalize(const char *domain, size_t len, char *out, size_t out_size)
{
    char in[S2S_TRUST_DOMAIN_MAX * 4 + 2]; /* UTF-8: up to 4 bytes per character */
    bool ascii = true;

    if (domain == NULL || out == NULL || out_size == 0)
        return -1;
    out[0] = '\0';
    if (len > 0 && domain[len - 1] == '.')
        len--; /* the root label: "example.org." is "example.org" */
    if (len == 0 || len >= sizeof in)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)domain[i];
        if (ch == '\0')
            return -1; /* "good.test\0.evil" must not compare as "good.test" */
        if (ch >= 0x80)
            ascii = false;
    }
    memcpy(in, domain, len);
    in[len] = '\0';

    if (ascii) {
        if (len >= out_size || len > S2S_TRUST_DOMAIN_MAX)
            return -1;
        memcpy(out, in, len + 1);
    } else {
        char *alabel = NULL;
        /* UTS #46 non-transitional mapping, as browsers and libidn2-based
         * XMPP stacks use, after NFC; ejabberd hands us nameprepped UTF-8. */
        int rc = idn2_to_ascii_8z(in, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK || alabel == NULL) {
            free(alabel);
            return -1;
        }
        size_t alen = strlen(alabel);
        if (alen >= out_size || alen > S2S_TRUST_DOMAIN_MAX) {
            free(alabel);
            return -1;
        }
        memcpy(out, alabel, alen + 1);
        free(alabel);
    }
    if (check_alabels(out) != 0) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* `pattern` (len bytes, from a certificate) against a normalized domain,
 * allowing "*." + parent to cover exactly one left-most label. */
static bool match_with_wildcard(const unsigned char *pattern, size_t len, const char *domain)
{
    char norm[S2S_TRUST_DOMAIN_MAX + 1];

    if (len >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(domain, '.');
        /* The wildcard's base must itself have two labels ("*.test" is not
         * a usable wildcard), and the domain must have a non-empty label
         * in front of it. */
        if (dot == NULL || dot == domain)
            return false;
        if (s2s_trust_identity_normalize((const char *)pattern + 2, len - 2, norm, sizeof norm) != 0)
            return false;
        if (strchr(norm, '.') == NULL)
            return false;
        return strcmp(dot + 1, norm) == 0;
    }
    if (s2s_trust_identity_normalize((const char *)pattern, len, norm, sizeof norm) != 0)
        return false;
    return strcmp(norm, domain) == 0;
}

static bool match_srv(const unsigned char *value, size_t len, const char *domain)
{
    size_t plen = sizeof SRV_PREFIX - 1;

    if (len <= plen || strncasecmp((const char *)value, SRV_PREFIX, plen) != 0)
        return false;
    return match_with_wildcard(value + plen, len - plen, domain);
}

static bool match_xmpp(const unsigned char *value, size_t len, const char *domain)
{
    char norm[S2S_TRUST_DOMAIN_MAX + 1];

    /* A JID with a local part or a resource names an account, not a server;
     * normalize() refuses '@', '/', '*' and NUL anyway, so no wildcard. */
    if (s2s_trust_identity_normalize((const char *)value, len, norm, sizeof norm) != 0)
        return false;
    return strcmp(norm, domain) == 0;
}

/* The otherName types we know, with the ASN.1 string type each must have. */
static s2s_trust_id_type_t other_name_type(const OTHERNAME *on, const ASN1_STRING **value)
{
    int nid = OBJ_obj2nid(on->type_id);

    if (on->value == NULL)
        return S2S_TRUST_ID_NONE;
    if (nid == NID_XmppAddr && on->value->type == V_ASN1_UTF8STRING) {
        *value = on->value->value.utf8string;
        return S2S_TRUST_ID_XMPP;
    }
    if (nid == NID_SRVName && on->value->type == V_ASN1_IA5STRING) {
        *value = on->value->value.ia5string;
        return S2S_TRUST_ID_SRV;
    }
    return S2S_TRUST_ID_NONE;
}

typedef struct {
    const char *domain;
    s2s_trust_id_type_t matched;
    size_t san_ids; /* DNS-IDs, SRV-IDs and XmppAddrs seen */
} match_ctx_t;

static void match_one(void *arg, s2s_trust_id_type_t type, const unsigned char *value, size_t len)
{
    match_ctx_t *m = arg;

    if (type == S2S_TRUST_ID_CN)
        return;
    m->san_ids++;
    if (m->matched != S2S_TRUST_ID_NONE)
        return;
    if ((type == S2S_TRUST_ID_SRV && match_srv(value, len, m->domain)) ||
        (type == S2S_TRUST_ID_XMPP && match_xmpp(value, len, m->domain)))
        m->matched = type;
}

static bool match_cn(X509 *leaf, const char *domain)
{
    const X509_NAME *subject = X509_get_subject_name(leaf);
    int i = -1;

    while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0) {
        const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
        if (cn != NULL && match_with_wildcard(ASN1_STRING_get0_data(cn),
                                              (size_t)ASN1_STRING_length(cn), domain))
            return true;
    }
    return false;
}

/* Any SAN a certificate could identify a server by, whatever its string
 * type: its presence forbids the CN fallback (RFC 6125 section 6.4.4). */
static bool has_san_identity(X509 *leaf)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    bool found = false;

    for (int i = 0; i < sk_GENERAL_NAME_num(sans) && !found; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        int nid = gn->type == GEN_OTHERNAME ? OBJ_obj2nid(gn->d.otherName->type_id) : NID_undef;
        found = gn->type == GEN_DNS || gn->type == GEN_URI || nid == NID_XmppAddr || nid == NID_SRVName;
    }
    GENERAL_NAMES_free(sans);
    return found;
}

bool s2s_trust_identity_matches(X509 *leaf, const char *alabel_domain, bool allow_cn,
                                s2s_trust_id_type_t *matched_by)
{
    match_ctx_t m = { alabel_domain, S2S_TRUST_ID_NONE, 0 };

    if (matched_by != NULL)
        *matched_by = S2S_TRUST_ID_NONE;
    if (leaf == NULL || alabel_domain == NULL || alabel_domain[0] == '\0')
        return false;

    /* DNS-ID through OpenSSL's matcher (RFC 6125 rules, length-checked, so an
     * embedded NUL never matches); never the subject: CN is handled below. */
    if (X509_check_host(leaf, alabel_domain, strlen(alabel_domain),
                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                        NULL) == 1)
        m.matched = S2S_TRUST_ID_DNS;

    s2s_trust_identity_list(leaf, match_one, &m);

    if (m.matched == S2S_TRUST_ID_NONE && allow_cn && m.san_ids == 0 && !has_san_identity(leaf) &&
        match_cn(leaf, alabel_domain))
        m.matched = S2S_TRUST_ID_CN;

    if (matched_by != NULL)
        *matched_by = m.matched;
    return m.matched != S2S_TRUST_ID_NONE;
}

void s2s_trust_identity_list(X509 *leaf, s2s_trust_identity_cb cb, void *ctx)
{
    GENERAL_NAMES *sans;
    const X509_NAME *subject;
    int i;

    if (leaf == NULL)
        return;
    sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        const ASN1_STRING *value = NULL;
        s2s_trust_id_type_t type = S2S_TRUST_ID_NONE;

        if (gn->type == GEN_DNS) {
            type = S2S_TRUST_ID_DNS;
            value = gn->d.dNSName;
        } else if (gn->type == GEN_OTHERNAME) {
            type = other_name_type(gn->d.otherName, &value);
        }
        if (type != S2S_TRUST_ID_NONE && value != NULL)
            cb(ctx, type, ASN1_STRING_get0_data(value), (size_t)ASN1_STRING_length(value));
    }
    GENERAL_NAMES_free(sans);

    subject = X509_get_subject_name(leaf);
    i = -1;
    while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0) {
        const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
        if (cn != NULL)
            cb(ctx, S2S_TRUST_ID_CN, ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
    }
}
