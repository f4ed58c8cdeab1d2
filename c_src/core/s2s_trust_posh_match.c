/* s2s_trust_posh_match.c - see s2s_trust_posh.h: what a document that was
 * read is used for (its delegation, and the match of a leaf against its
 * fingerprints), apart from the reader (s2s_trust_posh.c), which is all
 * about bytes. */
#include "core/s2s_trust_posh.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

int s2s_trust_posh_delegates(const s2s_trust_posh_doc_t *doc)
{
    return doc->n_fp == 0 && doc->has_url;
}

/* One LDH label of a host name: 1..63 bytes, no '-' at either end. */
static int ldh_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return 0;
    return 1;
}

int s2s_trust_posh_url_ok(const char *url)
{
    size_t n, host_end, i, label;
    const char *auth;

    if (url == NULL || (n = strlen(url)) > S2S_TRUST_POSH_MAX_URL || n < 9 || strncasecmp(url, "https://", 8) != 0)
        return 0;
    for (i = 0; i < n; i++)
        if (url[i] <= 0x20 || url[i] >= 0x7f || url[i] == '#' || url[i] == '\\')
            return 0;
    auth = url + 8;
    host_end = strcspn(auth, "/?:@");
    if (auth[host_end] == '@' || auth[host_end] == '?' || host_end == 0 || host_end > 253)
        return 0; /* user information, or a query with no path: neither has a place here */
    for (i = 0, label = 0; i <= host_end; i++) {
        if (i == host_end || auth[i] == '.') {
            /* One trailing dot (a fully qualified name) is allowed. */
            if (!(i == host_end && i == label && i > 0 && auth[i - 1] == '.') && !ldh_label(auth + label, i - label))
                return 0;
            label = i + 1;
        }
    }
    if (auth[host_end] == ':') {
        unsigned long port = 0;
        size_t d = host_end + 1;
        for (; auth[d] >= '0' && auth[d] <= '9' && port <= 65535; d++)
            port = port * 10 + (unsigned long)(auth[d] - '0');
        if (d == host_end + 1 || port == 0 || port > 65535 || (auth[d] != '\0' && auth[d] != '/'))
            return 0;
        host_end = d;
    }
    return auth[host_end] == '\0' || auth[host_end] == '/';
}

s2s_trust_posh_status_t s2s_trust_posh_delegate(const s2s_trust_posh_doc_t *first,
                                                const s2s_trust_posh_doc_t *second, s2s_trust_posh_doc_t *out)
{
    if (!s2s_trust_posh_delegates(first) || !s2s_trust_posh_url_ok(first->url))
        return S2S_TRUST_POSH_BAD_URL;
    if (second->n_fp == 0)
        return second->has_url ? S2S_TRUST_POSH_TOO_MANY_HOPS : S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL;
    if (second->expires == 0 || second->expires > S2S_TRUST_POSH_MAX_EXPIRES || first->expires == 0)
        return S2S_TRUST_POSH_BAD_EXPIRES;
    {
        uint32_t expires = first->expires < second->expires ? first->expires : second->expires;
        /* out may be first or second: copy, then set. */
        if (out != second)
            memmove(out, second, sizeof *out);
        out->expires = expires;
    }
    return S2S_TRUST_POSH_OK;
}

size_t s2s_trust_posh_digest(s2s_trust_posh_alg_t alg, const unsigned char *der, size_t der_len,
                             unsigned char out[64])
{
    unsigned int len = 0;

    if (der == NULL ||
        EVP_Digest(der, der_len, out, &len, alg == S2S_TRUST_POSH_SHA512 ? EVP_sha512() : EVP_sha256(), NULL) != 1) {
        ERR_clear_error();
        return 0;
    }
    return len;
}

int s2s_trust_posh_match(const s2s_trust_posh_doc_t *doc, const unsigned char *der, size_t der_len, size_t *index)
{
    unsigned char d256[64], d512[64];
    size_t first = 0;
    int found = 0;

    if (s2s_trust_posh_digest(S2S_TRUST_POSH_SHA256, der, der_len, d256) != 32 ||
        s2s_trust_posh_digest(S2S_TRUST_POSH_SHA512, der, der_len, d512) != 64)
        return -1;
    /* Every fingerprint, whatever matched before: the time taken says
     * nothing about which one did. */
    for (size_t i = 0; i < doc->n_fp && i < S2S_TRUST_POSH_MAX_FP; i++) {
        const s2s_trust_posh_fp_t *fp = &doc->fp[i];
        int eq = fp->len == (fp->alg == S2S_TRUST_POSH_SHA512 ? 64u : 32u) &&
                 CRYPTO_memcmp(fp->digest, fp->alg == S2S_TRUST_POSH_SHA512 ? d512 : d256, fp->len) == 0;
        if (eq && !found)
            first = i;
        found |= eq;
    }
    if (found && index != NULL)
        *index = first;
    return found;
}

const char *s2s_trust_posh_base64(const unsigned char *data, size_t len, char *out, size_t outlen)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    if (outlen < 4 * ((len + 2) / 3) + 1) {
        if (outlen > 0)
            out[0] = '\0';
        return outlen > 0 ? out : "";
    }
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (i + 1 < len ? (unsigned)data[i + 1] << 8 : 0) |
                     (i + 2 < len ? data[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < len ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? a[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

const char *s2s_trust_posh_alg_name(s2s_trust_posh_alg_t alg)
{
    return alg == S2S_TRUST_POSH_SHA512 ? "sha-512" : "sha-256";
}

const char *s2s_trust_posh_status_name(s2s_trust_posh_status_t st)
{
    switch (st) {
    case S2S_TRUST_POSH_OK:
        return "ok";
    case S2S_TRUST_POSH_MALFORMED:
        return "malformed";
    case S2S_TRUST_POSH_TOO_LARGE:
        return "too_large";
    case S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL:
        return "no_fingerprints_or_url";
    case S2S_TRUST_POSH_BAD_EXPIRES:
        return "bad_expires";
    case S2S_TRUST_POSH_BAD_URL:
        return "bad_url";
    case S2S_TRUST_POSH_TOO_MANY_HOPS:
        return "too_many_hops";
    }
    return "malformed";
}
