/*
 * s2s_trust_cache.h - the verdict cache: a repeat peer costs a hash.
 *
 * A layer above s2s_trust_verify.h: s2s_trust_verify_cached gives exactly
 * the verdict s2s_trust_verify_chain would, remembering it per store.
 *
 * What is remembered. The key is a SHA-256 over a secret per-cache salt,
 * the domain exactly as given (its bytes, not normalized: two spellings are
 * two entries with the same verdict) and every presented certificate's DER
 * in order. The store is not in the key because the cache lives in the
 * store (s2s_trust_store_ext_attach): a new store (reload) starts empty and
 * the old cache is freed with the old store's last reference. Explain
 * (details) never uses the cache.
 *
 * How long. A verdict computed at t0 holds for every verification time in
 * its window [from, until) (s2s_trust_window_t: no notBefore/notAfter of
 * any certificate involved, no CRL lastUpdate/nextUpdate lies inside), so
 * expiry, not-yet-valid and stale CRLs bite at the exact second, for
 * negative verdicts as for positive ones. On top of that no entry outlives
 * the configured TTL (monotonic clock), and a wall clock that moved back
 * before `from` misses. CRLs themselves never change inside a store.
 *
 * What is not cached: out-of-memory (-1), crl_unavailable (the one verdict
 * whose cause is our own missing or stale CRL, which an operator fixes; not
 * caching it keeps a refresh effective however it is done), and inputs
 * refused before parsing (no certificate, too many, empty or oversized
 * certificates, a domain over 1 KiB): those cost less than the hash, and
 * hashing them would let a peer make us hash 32 x 256 KiB.
 *
 * Bounds. A fixed number of entries (the size rounded up to a multiple of
 * 8), 64 bytes each, allocated when the cache is created; 8-way sets, the
 * least recently used entry of a set is evicted. The salt keeps a peer from
 * aiming its inputs at one set. Thread-safe: 64 striped mutexes, each held
 * for a set scan only, never across OpenSSL work.
 */
#ifndef S2S_TRUST_CACHE_H
#define S2S_TRUST_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

#define S2S_TRUST_CACHE_KEY_LEN 32
#define S2S_TRUST_CACHE_WAYS 8
/* Domains longer than this bypass the cache (a DNS name is at most 253). */
#define S2S_TRUST_CACHE_MAX_DOMAIN 1024

typedef struct s2s_trust_cache s2s_trust_cache_t;

typedef struct {
    size_t capacity;    /* entries the cache can hold */
    size_t entries;     /* entries in use now (some may have expired unseen) */
    size_t bytes;       /* memory the cache allocated, fixed at creation */
    unsigned ttl;
    uint64_t hits, misses, inserts, evictions, expired;
} s2s_trust_cache_stats_t;

/* A cache of at least `entries` verdicts kept at most `ttl` seconds; NULL
 * when entries or ttl is 0, or memory runs out. */
s2s_trust_cache_t *s2s_trust_cache_new(size_t entries, unsigned ttl);
void s2s_trust_cache_free(s2s_trust_cache_t *cache);

/* The key of (domain, chain) for this cache. 0, or -1 on OOM. */
int s2s_trust_cache_key(const s2s_trust_cache_t *cache, const char *domain, size_t domain_len,
                        const s2s_trust_der_t *chain, size_t n,
                        unsigned char key[S2S_TRUST_CACHE_KEY_LEN]);

/* 1 with *verdict on a hit, 0 on a miss. `now` is the wall clock (seconds
 * since the epoch), `mono` a monotonic clock in seconds: parameters, so
 * tests can move time. */
int s2s_trust_cache_lookup(s2s_trust_cache_t *cache, const unsigned char key[S2S_TRUST_CACHE_KEY_LEN],
                           int64_t now, int64_t mono, int *verdict);

/* Remember `verdict` for its window, until mono + ttl at most. A verdict
 * that may not be cached (s2s_trust_cache_may_keep) or an empty window is
 * ignored. */
void s2s_trust_cache_insert(s2s_trust_cache_t *cache, const unsigned char key[S2S_TRUST_CACHE_KEY_LEN],
                            int verdict, const s2s_trust_window_t *window, int64_t mono);

bool s2s_trust_cache_may_keep(int verdict);

void s2s_trust_cache_stats(s2s_trust_cache_t *cache, s2s_trust_cache_stats_t *stats);

/* The stats of the store's cache, without creating it: before the store's
 * first cached verification (or with the cache off) only capacity (the
 * slots it will have) and ttl are set, from the policy (0 when off), and
 * nothing is allocated yet. */
void s2s_trust_cache_stats_of(const s2s_trust_store_t *store, s2s_trust_cache_stats_t *stats);

/* The store's cache, created on first use from its policy: two slots per
 * verdict_cache_size (rounded up to whole sets; why in the .c), and
 * verdict_cache_ttl; NULL when the cache is off. */
s2s_trust_cache_t *s2s_trust_cache_of(const s2s_trust_store_t *store);

/* The store's cached verdict of (domain, chain), if one is held and fresh:
 * 1 with *verdict, else 0. A hit counts as one; a miss is not counted,
 * since the caller goes on to s2s_trust_verify_cached, which counts it.
 * Costs one SHA-256 of the inputs and one set scan, allocates nothing
 * (no cache yet: 0), so a caller on a latency-sensitive thread can try it
 * before handing the work elsewhere. */
int s2s_trust_cache_peek(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                         const s2s_trust_der_t *chain, size_t n, int *verdict);

/* s2s_trust_verify_chain without details, through the store's cache. */
int s2s_trust_verify_cached(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                            const s2s_trust_der_t *chain, size_t n);

#endif
