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

#include <openssl/x509.h>

#include "s2s_trust_config.h"
#include "s2s_trust_error.h"

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

#endif
