/* s2s_trust_known.c - see s2s_trust_known.h */
#include "core/s2s_trust_known.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#define DIGEST_LEN 32 /* SHA-256 */

typedef struct {
    size_t len;                      /* of the DER: most lookups stop here */
    unsigned char digest[DIGEST_LEN];
    X509 *cert;
} entry_t;

struct s2s_trust_known {
    EVP_MD *sha256; /* fetched once: no provider search per lookup */
    entry_t *entries; /* sorted by (len, digest) */
    size_t count;
};

static int cmp_entry(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->digest, y->digest, DIGEST_LEN);
}

static int digest(const s2s_trust_known_t *known, const unsigned char *data, size_t len,
                  unsigned char out[DIGEST_LEN])
{
    unsigned int out_len = 0;

    return EVP_Digest(data, len, out, &out_len, known->sha256, NULL) == 1 && out_len == DIGEST_LEN ? 0 : -1;
}

s2s_trust_known_t *s2s_trust_known_build(STACK_OF(X509) *certs, OSSL_LIB_CTX *libctx)
{
    s2s_trust_known_t *known = calloc(1, sizeof *known);
    int n = sk_X509_num(certs);

    if (known == NULL)
        return NULL;
    known->sha256 = EVP_MD_fetch(libctx, "SHA2-256", NULL);
    known->entries = calloc(n > 0 ? (size_t)n : 1, sizeof *known->entries);
    if (known->sha256 == NULL || known->entries == NULL)
        goto fail;
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(certs, i);
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        entry_t *e = &known->entries[known->count];

        if (len <= 0) {
            ERR_clear_error();
            continue;
        }
        e->len = (size_t)len;
        e->cert = x;
        if (digest(known, der, (size_t)len, e->digest) == 0)
            known->count++;
        OPENSSL_free(der);
    }
    qsort(known->entries, known->count, sizeof *known->entries, cmp_entry);
    ERR_clear_error();
    return known;
fail:
    s2s_trust_known_free(known);
    ERR_clear_error();
    return NULL;
}

void s2s_trust_known_free(s2s_trust_known_t *known)
{
    if (known == NULL)
        return;
    EVP_MD_free(known->sha256);
    free(known->entries);
    free(known);
}

size_t s2s_trust_known_count(const s2s_trust_known_t *known)
{
    return known != NULL ? known->count : 0;
}

X509 *s2s_trust_known_find(const s2s_trust_known_t *known, const unsigned char *der, size_t len)
{
    entry_t key = { .len = len };
    size_t lo = 0, hi;
    const entry_t *hit;

    if (known == NULL || der == NULL || len == 0)
        return NULL;
    /* First entry with this length; a leaf rarely shares its exact length
     * with a pool certificate, so most misses cost no hashing at all. */
    hi = known->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (known->entries[mid].len < len)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == known->count || known->entries[lo].len != len)
        return NULL;
    if (digest(known, der, len, key.digest) != 0) {
        ERR_clear_error();
        return NULL;
    }
    hit = bsearch(&key, known->entries + lo, known->count - lo, sizeof *known->entries, cmp_entry);
    return hit != NULL ? hit->cert : NULL;
}
