/*
 * s2s_trust_pool_index.h - the pool's certificates found again, by their
 * bytes and by their subject, so that neither a presented copy nor the
 * size of the pool costs a verification anything.
 *
 * By bytes. A correct server sends its intermediate with its leaf: bytes
 * the store already holds, parsed once, extensions cached and (see
 * s2s_trust_store_presigned) signature checked. The verifier looks every
 * presented certificate up before parsing it and, on a hit, uses the
 * store's object instead of a second parse of the same bytes. A hit means
 * the same length and the same SHA-256 of the DER as a pool certificate's
 * encoding: SHA-256 is collision resistant, so that is byte equality, and
 * the store's object is what parsing the bytes would have produced; every
 * check still runs on it (chain building, signatures, times, revocation,
 * name constraints, purpose). Bytes that differ by one bit, or encode the
 * same certificate differently, are not found and get parsed as before.
 *
 * By subject. OpenSSL looks for an issuer in the untrusted list by walking
 * all of it, so a pool of 10,000 learned intermediates made every chain
 * walk 10,000 names. It only ever takes from that list a certificate whose
 * subject equals (X509_NAME_cmp) the issuer name of a certificate already
 * in the chain, and searches the list only while the chain holds no trusted
 * certificate yet; so the verifier hands it just the pool certificates
 * reachable that way from the presented ones, in pool order: the same
 * candidates, in the same order, as the whole pool.
 *
 * Immutable after build: any number of threads may look up without locks.
 */
#ifndef S2S_TRUST_POOL_INDEX_H
#define S2S_TRUST_POOL_INDEX_H

#include <stddef.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

typedef struct s2s_trust_pool_index s2s_trust_pool_index_t;

typedef struct {
    X509 *cert;
    size_t position; /* in the stack the index was built from */
} s2s_trust_pool_entry_t;

/* Index `certs` (borrowed: they must outlive the index), hashing in
 * `libctx`. A certificate that does not re-encode is left out of the
 * by-bytes index (it is never found, so it costs a parse as before); every
 * certificate is in the by-subject index. NULL only when memory or
 * SHA-256 is unavailable. */
s2s_trust_pool_index_t *s2s_trust_pool_index_build(STACK_OF(X509) *certs, OSSL_LIB_CTX *libctx);

/* free(NULL) is a no-op. */
void s2s_trust_pool_index_free(s2s_trust_pool_index_t *index);

/* How many certificates the by-bytes index holds. */
size_t s2s_trust_pool_index_count(const s2s_trust_pool_index_t *index);

/* The indexed certificate whose DER is exactly `der`, or NULL (also for a
 * NULL index). Borrowed: take a reference to keep it beyond the index.
 * Costs a binary search on the length, and a SHA-256 of `der` only when
 * some indexed certificate has that very length. */
const s2s_trust_pool_entry_t *s2s_trust_pool_index_find_der(const s2s_trust_pool_index_t *index,
                                                           const unsigned char *der, size_t len);

/* The certificates whose subject equals `name` as OpenSSL compares names
 * (X509_NAME_cmp), in position order: *count of them from the returned
 * pointer; NULL with *count 0 when there is none. */
const s2s_trust_pool_entry_t *s2s_trust_pool_index_by_subject(const s2s_trust_pool_index_t *index,
                                                             const X509_NAME *name, size_t *count);

#endif
