/*
 * s2s_trust_known.h - the pool's certificates, found again by their bytes.
 *
 * A correct server sends its intermediate with its leaf: bytes the store
 * already holds, parsed once, extensions cached and (see
 * s2s_trust_store_presigned) signature checked. The verifier looks every
 * presented certificate up here before parsing it and, on a hit, uses the
 * store's object instead of a second parse of the same bytes.
 *
 * A hit means: same length and the same SHA-256 of the DER as a pool
 * certificate's encoding. SHA-256 is collision resistant, so that is byte
 * equality, and the store's object is what parsing the bytes would have
 * produced; the verifier then runs every check on it as before (chain
 * building, signatures, times, revocation, name constraints, purpose).
 * Only the parse is saved. Bytes that differ by one bit, or are encoded
 * differently, are simply not found and get parsed as before.
 *
 * Immutable after build: any number of threads may look up without locks.
 */
#ifndef S2S_TRUST_KNOWN_H
#define S2S_TRUST_KNOWN_H

#include <stddef.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

typedef struct s2s_trust_known s2s_trust_known_t;

/* Index `certs` (borrowed: they must outlive the index), hashing in
 * `libctx`. A certificate that does not re-encode is left out (it is never
 * found, so it costs a parse as before). NULL only when memory or SHA-256
 * is unavailable. */
s2s_trust_known_t *s2s_trust_known_build(STACK_OF(X509) *certs, OSSL_LIB_CTX *libctx);

/* free(NULL) is a no-op. */
void s2s_trust_known_free(s2s_trust_known_t *known);

/* How many certificates are indexed. */
size_t s2s_trust_known_count(const s2s_trust_known_t *known);

/* The indexed certificate whose DER is exactly `der`, or NULL (also for a
 * NULL index). Borrowed: take a reference to keep it beyond the index.
 * Costs a binary search on the length, and a SHA-256 of `der` only when
 * some indexed certificate has that very length. */
X509 *s2s_trust_known_find(const s2s_trust_known_t *known, const unsigned char *der, size_t len);

#endif
