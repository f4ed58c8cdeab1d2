/* s2s_trust_pool_index.c - see s2s_trust_pool_index.h */
#include "core/s2s_trust_pool_index.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#define DIGEST_LEN 32 /* SHA-256 */

typedef struct {
    size_t len; /* of the DER: most lookups stop here */
    unsigned char digest[DIGEST_LEN];
    s2s_trust_pool_entry_t entry;
} der_entry_t;

struct s2s_trust_pool_index {
    EVP_MD *sha256;              /* fetched once: no provider search per lookup */
    der_entry_t *by_der;         /* sorted by (len, digest) */
    size_t der_count;
    s2s_trust_pool_entry_t *by_subject; /* sorted by (subject, position) */
    size_t subject_count;
};

static int cmp_der(const void *a, const void *b)
{
    const der_entry_t *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->digest, y->digest, DIGEST_LEN);
}

/* X509_NAME_cmp orders by the canonical encoding (length, then bytes): a
 * total order, and equality exactly as chain building decides it. */
static int cmp_subject(const void *a, const void *b)
{
    const s2s_trust_pool_entry_t *x = a, *y = b;
    int c = X509_NAME_cmp(X509_get_subject_name(x->cert), X509_get_subject_name(y->cert));

    if (c != 0)
        return c < 0 ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

static int digest(const s2s_trust_pool_index_t *index, const unsigned char *data, size_t len,
                  unsigned char out[DIGEST_LEN])
{
    unsigned int out_len = 0;

    return EVP_Digest(data, len, out, &out_len, index->sha256, NULL) == 1 && out_len == DIGEST_LEN ? 0 : -1;
}

s2s_trust_pool_index_t *s2s_trust_pool_index_build(STACK_OF(X509) *certs, OSSL_LIB_CTX *libctx)
{
    s2s_trust_pool_index_t *index = calloc(1, sizeof *index);
    int n = sk_X509_num(certs);
    size_t cap = n > 0 ? (size_t)n : 1;

    if (index == NULL)
        return NULL;
    index->sha256 = EVP_MD_fetch(libctx, "SHA2-256", NULL);
    index->by_der = calloc(cap, sizeof *index->by_der);
    index->by_subject = calloc(cap, sizeof *index->by_subject);
    if (index->sha256 == NULL || index->by_der == NULL || index->by_subject == NULL)
        goto fail;
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(certs, i);
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        der_entry_t *e = &index->by_der[index->der_count];

        index->by_subject[index->subject_count++] = (s2s_trust_pool_entry_t){ x, (size_t)i };
        if (len <= 0) {
            ERR_clear_error();
            continue;
        }
        e->len = (size_t)len;
        e->entry = (s2s_trust_pool_entry_t){ x, (size_t)i };
        if (digest(index, der, (size_t)len, e->digest) == 0)
            index->der_count++;
        OPENSSL_free(der);
    }
    qsort(index->by_der, index->der_count, sizeof *index->by_der, cmp_der);
    qsort(index->by_subject, index->subject_count, sizeof *index->by_subject, cmp_subject);
    ERR_clear_error();
    return index;
fail:
    s2s_trust_pool_index_free(index);
    ERR_clear_error();
    return NULL;
}

void s2s_trust_pool_index_free(s2s_trust_pool_index_t *index)
{
    if (index == NULL)
        return;
    EVP_MD_free(index->sha256);
    free(index->by_der);
    free(index->by_subject);
    free(index);
}

size_t s2s_trust_pool_index_count(const s2s_trust_pool_index_t *index)
{
    return index != NULL ? index->der_count : 0;
}

const s2s_trust_pool_entry_t *s2s_trust_pool_index_find_der(const s2s_trust_pool_index_t *index,
                                                           const unsigned char *der, size_t len)
{
    der_entry_t key = { .len = len };
    size_t lo = 0, hi;
    const der_entry_t *hit;

    if (index == NULL || der == NULL || len == 0)
        return NULL;
    /* First entry with this length; a leaf rarely shares its exact length
     * with a pool certificate, so most misses cost no hashing at all. */
    hi = index->der_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (index->by_der[mid].len < len)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == index->der_count || index->by_der[lo].len != len)
        return NULL;
    if (digest(index, der, len, key.digest) != 0) {
        ERR_clear_error();
        return NULL;
    }
    hit = bsearch(&key, index->by_der + lo, index->der_count - lo, sizeof *index->by_der, cmp_der);
    return hit != NULL ? &hit->entry : NULL;
}

const s2s_trust_pool_entry_t *s2s_trust_pool_index_by_subject(const s2s_trust_pool_index_t *index,
                                                             const X509_NAME *name, size_t *count)
{
    size_t lo = 0, hi, first;

    *count = 0;
    if (index == NULL || name == NULL)
        return NULL;
    /* Lower bound of `name`, then the run of equal subjects after it. */
    hi = index->subject_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (X509_NAME_cmp(X509_get_subject_name(index->by_subject[mid].cert), name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    first = lo;
    while (lo < index->subject_count && X509_NAME_cmp(X509_get_subject_name(index->by_subject[lo].cert), name) == 0)
        lo++;
    *count = lo - first;
    return *count > 0 ? &index->by_subject[first] : NULL;
}
