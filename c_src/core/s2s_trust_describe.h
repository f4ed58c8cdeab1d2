/*
 * s2s_trust_describe.h - what a verdict's record needs, at the cost of the
 * verdict.
 *
 * explain (s2s_trust_verify_chain with details) verifies afresh every time:
 * right for an operator asking why, too dear for every s2s stream a busy
 * server accepts, which only needs the leaf's facts for its record (names,
 * dates, subject) once the verdict is known. So:
 *
 * - s2s_trust_describe_leaf: the leaf's facts, parsed from the peer's bytes
 *   under the verifier's bounds, without verifying anything;
 * - s2s_trust_check_chain: the verdict through the store's verdict cache
 *   (s2s_trust_cache.h); an accepted chain gets the leaf's facts, a refused
 *   one a fresh verification's full details (refusals are rare, and the
 *   operator needs to know exactly why).
 */
#ifndef S2S_TRUST_DESCRIBE_H
#define S2S_TRUST_DESCRIBE_H

#include <openssl/x509.h>

#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

/* Fill subject, issuer, not_before, not_after and names of `d` from `leaf`
 * (the verifier describes its leaf with this too). -1 only on OOM; what
 * was filled stays for s2s_trust_details_free. */
int s2s_trust_details_leaf(s2s_trust_details_t *d, X509 *leaf);

/* The details of `chain`'s leaf for `domain`, no verification: d->verdict
 * is S2S_TRUST_OK when the leaf parsed, matched_by says which identity
 * names `domain` (NONE when none does, or the domain is not a DNS name),
 * presented is n; the built chain, error fields and detail stay empty.
 * The verifier's bounds apply first (no certificate, too many, too big,
 * empty): those and a leaf that does not parse as exactly one DER
 * certificate return their verdict with `detail` saying why. Returns the
 * verdict, or -1 when memory runs out. Free `d` with s2s_trust_details_free
 * either way. */
int s2s_trust_describe_leaf(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                            const s2s_trust_der_t *chain, size_t n, s2s_trust_details_t *d);

/* s2s_trust_describe_leaf for a chain known to be accepted for `domain`
 * (a verification or the verdict cache said so), with the detail an
 * acceptance has: "trusted, matched by ...". */
int s2s_trust_describe_accepted(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                                const s2s_trust_der_t *chain, size_t n, s2s_trust_details_t *d);

/* The verdict of s2s_trust_verify_chain, through the verdict cache, with
 * details: when it is S2S_TRUST_OK, the leaf's (s2s_trust_describe_leaf,
 * detail "trusted, matched by ..."); otherwise those of a fresh
 * verification, whose verdict is returned. -1 on OOM. */
int s2s_trust_check_chain(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                          const s2s_trust_der_t *chain, size_t n, s2s_trust_details_t *d);

#endif
