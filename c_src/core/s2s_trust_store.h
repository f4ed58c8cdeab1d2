/*
 * s2s_trust_store.h - an immutable, shared trust store.
 *
 * A store is built once from a configuration (anchors, the pool of untrusted
 * intermediates, CRLs, and the policy limits) and never changes afterwards,
 * so any number of threads may verify against it at once without locks.
 * Reloading means building a new store and swapping the pointer; a
 * verification that started on the old store holds a reference and
 * finishes on it.
 */
#ifndef S2S_TRUST_STORE_H
#define S2S_TRUST_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "core/s2s_trust_config.h"
#include "core/s2s_trust_error.h"
#include "core/s2s_trust_pool_index.h"

typedef struct s2s_trust_store s2s_trust_store_t;

/* The policy a store applies; a copy of the configuration's scalar settings. */
typedef struct {
    s2s_trust_crl_mode_t crl_check;
    int max_depth;
    int max_chain_certs;
    size_t max_cert_bytes;
    int security_level;
    bool require_server_auth_eku;
    bool insecure_allow_cn_id;
    bool has_verification_time;
    int64_t verification_time;
    size_t verdict_cache_size;     /* entries; 0 = no verdict cache */
    unsigned verdict_cache_ttl;    /* seconds; 0 = no verdict cache */
} s2s_trust_policy_t;

typedef struct {
    size_t anchors;
    size_t intermediates;
    size_t crls;
    uint64_t generation;   /* unique per build in this process, increasing */
    time_t built_at;
    const char *config_source;   /* "" for the built-in defaults */
    const char *const *sources;  /* every file read, in order */
    size_t source_count;
    const s2s_trust_policy_t *policy;
} s2s_trust_store_info_t;

/* Build a store. 0 with *out holding one reference; -1 with `err` naming the
 * configuration line of the file that failed. A store with no anchors at all
 * is an error: it could only ever refuse. */
int s2s_trust_store_build(const s2s_trust_config_t *cfg, s2s_trust_store_t **out,
                          s2s_trust_error_t *err);

/* Counted references, safe from any thread. release(NULL) is a no-op. */
s2s_trust_store_t *s2s_trust_store_retain(s2s_trust_store_t *store);
void s2s_trust_store_release(s2s_trust_store_t *store);

/* Pointers in `info` live as long as the store. */
void s2s_trust_store_info(const s2s_trust_store_t *store, s2s_trust_store_info_t *info);

/* For the verifier: read-only views. */
X509_STORE *s2s_trust_store_anchors(const s2s_trust_store_t *store);
STACK_OF(X509) *s2s_trust_store_intermediates(const s2s_trust_store_t *store);
const s2s_trust_policy_t *s2s_trust_store_policy(const s2s_trust_store_t *store);

/*
 * The library context every certificate, CRL and store context of the core
 * is parsed and verified in: a private OSSL_LIB_CTX with only the default
 * provider, created once per process and never freed. OTP's crypto NIF
 * loads the base and legacy providers into the default context, which
 * makes OpenSSL 3.0's d2i_X509 2-3x slower (docs/performance.md); ours is
 * untouched by that. NULL (the default context: correct, only slower) if
 * it could not be created.
 */
OSSL_LIB_CTX *s2s_trust_libctx(void);

/*
 * Time windows, for caching verdicts. Every time comparison OpenSSL makes
 * while verifying against this store compares the verification time with
 * one of a finite set of instants: the notBefore/notAfter of the store's
 * certificates (anchors, pool) and the lastUpdate/nextUpdate of its CRLs,
 * plus those of the presented certificates (the caller adds them). Between
 * two consecutive instants every comparison, hence the verdict, is the
 * same. Returns the first instant strictly after `t` (INT64_MAX if none).
 */
int64_t s2s_trust_store_next_event(const s2s_trust_store_t *store, int64_t t);

/*
 * Signatures checked once. At build, every (pool certificate, issuer) pair
 * of store-owned certificates -- the issuer an anchor or another pool
 * certificate that X509_check_issued accepts, looked up by name -- whose
 * signature verifies is recorded (sorted: a lookup is a binary search). s2s_trust_verify_chain's chain check then skips X509_verify for
 * exactly those pairs of objects (the same X509 pointers: the store is
 * immutable) and does everything else as OpenSSL's internal_verify does.
 * S2S_TRUST_NO_SIG_SHORTCUT=1 in the environment at build time records
 * nothing, so the store verifies with OpenSSL's own code (the differential
 * tests build both). presigned() is true only for a recorded pair.
 */
size_t s2s_trust_store_presigned_count(const s2s_trust_store_t *store);
bool s2s_trust_store_presigned(const s2s_trust_store_t *store, const X509 *child, const X509 *issuer);

/*
 * The pool by bytes and by subject (s2s_trust_pool_index.h), for the
 * verifier; NULL when S2S_TRUST_NO_POOL_INDEX=1 was in the environment at
 * build time, and the verifier then parses every presented certificate and
 * hands OpenSSL the whole pool, as before the index (the differential
 * tests build both).
 */
const s2s_trust_pool_index_t *s2s_trust_store_pool_index(const s2s_trust_store_t *store);

/*
 * One extension object per store (the verdict cache, s2s_trust_cache.h),
 * created lazily by its user and freed with the store. The store depends on
 * nothing of the extension but this header struct, which must be its first
 * member. attach returns the extension now attached: `ext` if it won, the
 * one another thread attached first otherwise (the caller frees its own).
 */
typedef struct s2s_trust_store_ext {
    void (*free)(struct s2s_trust_store_ext *ext);
} s2s_trust_store_ext_t;

s2s_trust_store_ext_t *s2s_trust_store_ext(const s2s_trust_store_t *store);
s2s_trust_store_ext_t *s2s_trust_store_ext_attach(const s2s_trust_store_t *store,
                                                  s2s_trust_store_ext_t *ext);

#endif
