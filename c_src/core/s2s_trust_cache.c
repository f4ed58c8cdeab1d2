/* s2s_trust_cache.c - see s2s_trust_cache.h */
#include "core/s2s_trust_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/s2s_trust_verdict.h"

#define STRIPES 64 /* a power of two */
#define SALT_LEN 16

/* One cache line. */
typedef struct {
    unsigned char key[S2S_TRUST_CACHE_KEY_LEN];
    int64_t from;        /* wall clock: the verdict holds for from <= t < until */
    int64_t until;
    int64_t mono_expiry; /* monotonic: the TTL */
    uint32_t stamp;      /* last use, from the stripe's tick: LRU within a set */
    uint8_t verdict;
    uint8_t used;
} entry_t;

typedef struct {
    _Alignas(64) pthread_mutex_t lock;
    uint32_t tick;
    uint64_t hits, misses, inserts, evictions, expired;
} stripe_t;

struct s2s_trust_cache {
    s2s_trust_store_ext_t ext; /* first: the store frees us through it */
    size_t sets;
    unsigned ttl;
    EVP_MD *sha256;
    unsigned char salt[SALT_LEN];
    entry_t *entries;          /* sets x S2S_TRUST_CACHE_WAYS */
    stripe_t stripes[STRIPES];
};

static void cache_ext_free(s2s_trust_store_ext_t *ext)
{
    s2s_trust_cache_free((s2s_trust_cache_t *)ext);
}

s2s_trust_cache_t *s2s_trust_cache_new(size_t entries, unsigned ttl)
{
    s2s_trust_cache_t *c;
    size_t i;

    if (entries == 0 || ttl == 0 || entries > SIZE_MAX / 2 / sizeof(entry_t))
        return NULL;
    c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    c->ext.free = cache_ext_free;
    c->ttl = ttl;
    c->sets = (entries + S2S_TRUST_CACHE_WAYS - 1) / S2S_TRUST_CACHE_WAYS;
    for (i = 0; i < STRIPES; i++)
        (void)pthread_mutex_init(&c->stripes[i].lock, NULL);
    /* calloc: pages are only touched (RSS) as entries fill them. */
    c->entries = calloc(c->sets * S2S_TRUST_CACHE_WAYS, sizeof *c->entries);
    c->sha256 = EVP_MD_fetch(s2s_trust_libctx(), "SHA256", NULL);
    if (c->entries == NULL || c->sha256 == NULL || RAND_bytes(c->salt, sizeof c->salt) != 1) {
        ERR_clear_error();
        s2s_trust_cache_free(c);
        return NULL;
    }
    return c;
}

void s2s_trust_cache_free(s2s_trust_cache_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        (void)pthread_mutex_destroy(&c->stripes[i].lock);
    EVP_MD_free(c->sha256);
    free(c->entries);
    free(c);
}

static void put_u64(EVP_MD_CTX *ctx, uint64_t v, int *ok)
{
    unsigned char b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (56 - 8 * i));
    *ok &= EVP_DigestUpdate(ctx, b, sizeof b);
}

int s2s_trust_cache_key(const s2s_trust_cache_t *c, const char *domain, size_t domain_len,
                        const s2s_trust_der_t *chain, size_t n,
                        unsigned char key[S2S_TRUST_CACHE_KEY_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    int ok;

    /* Every field length-prefixed: no two inputs share an encoding. */
    ok = ctx != NULL && EVP_DigestInit_ex(ctx, c->sha256, NULL) &&
         EVP_DigestUpdate(ctx, c->salt, sizeof c->salt);
    if (ok) {
        put_u64(ctx, domain_len, &ok);
        ok &= domain_len == 0 || EVP_DigestUpdate(ctx, domain, domain_len);
        put_u64(ctx, n, &ok);
        for (size_t i = 0; i < n && ok; i++) {
            put_u64(ctx, chain[i].len, &ok);
            ok &= EVP_DigestUpdate(ctx, chain[i].data, chain[i].len);
        }
        ok &= EVP_DigestFinal_ex(ctx, key, &len) && len == S2S_TRUST_CACHE_KEY_LEN;
    }
    EVP_MD_CTX_free(ctx);
    if (!ok)
        ERR_clear_error();
    return ok ? 0 : -1;
}

static size_t set_of(const s2s_trust_cache_t *c, const unsigned char *key)
{
    uint64_t h = 0;

    memcpy(&h, key, sizeof h);
    return (size_t)(h % c->sets);
}

static stripe_t *stripe_of(s2s_trust_cache_t *c, size_t set)
{
    return &c->stripes[set & (STRIPES - 1)];
}

static bool fresh(const entry_t *e, int64_t now, int64_t mono)
{
    return e->from <= now && now < e->until && mono < e->mono_expiry;
}

/* count_miss false: a peek, whose miss the caller's verification counts. */
static int lookup(s2s_trust_cache_t *c, const unsigned char key[S2S_TRUST_CACHE_KEY_LEN], int64_t now,
                  int64_t mono, int *verdict, bool count_miss)
{
    size_t set = set_of(c, key);
    stripe_t *s = stripe_of(c, set);
    entry_t *e = &c->entries[set * S2S_TRUST_CACHE_WAYS];
    int hit = 0;

    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < S2S_TRUST_CACHE_WAYS; i++, e++) {
        if (!e->used || memcmp(e->key, key, S2S_TRUST_CACHE_KEY_LEN) != 0)
            continue;
        if (fresh(e, now, mono)) {
            e->stamp = ++s->tick;
            *verdict = e->verdict;
            hit = 1;
        } else {
            e->used = 0;
            s->expired++;
        }
        break;
    }
    if (hit)
        s->hits++;
    else if (count_miss)
        s->misses++;
    pthread_mutex_unlock(&s->lock);
    return hit;
}

int s2s_trust_cache_lookup(s2s_trust_cache_t *c, const unsigned char key[S2S_TRUST_CACHE_KEY_LEN],
                           int64_t now, int64_t mono, int *verdict)
{
    return lookup(c, key, now, mono, verdict, true);
}

bool s2s_trust_cache_may_keep(int verdict)
{
    return verdict >= 0 && verdict < S2S_TRUST_VERDICT_COUNT && verdict != S2S_TRUST_CRL_UNAVAILABLE;
}

void s2s_trust_cache_insert(s2s_trust_cache_t *c, const unsigned char key[S2S_TRUST_CACHE_KEY_LEN],
                            int verdict, const s2s_trust_window_t *w, int64_t mono)
{
    size_t set = set_of(c, key);
    stripe_t *s = stripe_of(c, set);
    entry_t *base = &c->entries[set * S2S_TRUST_CACHE_WAYS], *victim = NULL;

    if (!s2s_trust_cache_may_keep(verdict) || w->from >= w->until)
        return;
    pthread_mutex_lock(&s->lock);
    /* The same key (another thread got there first), else a free slot,
     * else the least recently used. */
    for (int i = 0; i < S2S_TRUST_CACHE_WAYS && victim == NULL; i++)
        if (base[i].used && memcmp(base[i].key, key, S2S_TRUST_CACHE_KEY_LEN) == 0)
            victim = &base[i];
    for (int i = 0; i < S2S_TRUST_CACHE_WAYS && victim == NULL; i++)
        if (!base[i].used)
            victim = &base[i];
    if (victim == NULL) {
        victim = &base[0];
        for (int i = 1; i < S2S_TRUST_CACHE_WAYS; i++)
            if ((int32_t)(base[i].stamp - victim->stamp) < 0) /* wrap-safe "older" */
                victim = &base[i];
        s->evictions++;
    }
    memcpy(victim->key, key, S2S_TRUST_CACHE_KEY_LEN);
    victim->from = w->from;
    victim->until = w->until;
    victim->mono_expiry = mono + (int64_t)c->ttl;
    victim->verdict = (uint8_t)verdict;
    victim->used = 1;
    victim->stamp = ++s->tick;
    s->inserts++;
    pthread_mutex_unlock(&s->lock);
}

void s2s_trust_cache_stats(s2s_trust_cache_t *c, s2s_trust_cache_stats_t *st)
{
    memset(st, 0, sizeof *st);
    st->capacity = c->sets * S2S_TRUST_CACHE_WAYS;
    st->bytes = (sizeof *c + 63) / 64 * 64 + st->capacity * sizeof(entry_t);
    st->ttl = c->ttl;
    for (size_t set = 0; set < c->sets; set++) {
        stripe_t *s = stripe_of(c, set);
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < S2S_TRUST_CACHE_WAYS; i++)
            st->entries += c->entries[set * S2S_TRUST_CACHE_WAYS + i].used;
        pthread_mutex_unlock(&s->lock);
    }
    for (size_t i = 0; i < STRIPES; i++) {
        stripe_t *s = &c->stripes[i];
        pthread_mutex_lock(&s->lock);
        st->hits += s->hits;
        st->misses += s->misses;
        st->inserts += s->inserts;
        st->evictions += s->evictions;
        st->expired += s->expired;
        pthread_mutex_unlock(&s->lock);
    }
}

/* Two slots per verdict the policy asks to keep. An 8-way set-associative
 * table fills unevenly: at one slot per verdict some sets overflow while
 * others sit empty, and peers that take turns in an overflowing set evict
 * each other every time (measured: 10,000 peer domains cycling through a
 * 10,000-slot table hit 45% of the time; through 20,000 slots, 94%). */
static size_t slots_for(size_t verdicts)
{
    return (2 * verdicts + S2S_TRUST_CACHE_WAYS - 1) / S2S_TRUST_CACHE_WAYS * S2S_TRUST_CACHE_WAYS;
}

void s2s_trust_cache_stats_of(const s2s_trust_store_t *store, s2s_trust_cache_stats_t *st)
{
    s2s_trust_store_ext_t *ext = s2s_trust_store_ext(store);
    const s2s_trust_policy_t *policy = s2s_trust_store_policy(store);

    if (ext != NULL) {
        s2s_trust_cache_stats((s2s_trust_cache_t *)ext, st);
        return;
    }
    memset(st, 0, sizeof *st);
    if (policy->verdict_cache_size == 0 || policy->verdict_cache_ttl == 0)
        return;
    st->capacity = slots_for(policy->verdict_cache_size);
    st->ttl = policy->verdict_cache_ttl;
}

s2s_trust_cache_t *s2s_trust_cache_of(const s2s_trust_store_t *store)
{
    s2s_trust_store_ext_t *ext = s2s_trust_store_ext(store);
    const s2s_trust_policy_t *policy;
    s2s_trust_cache_t *c;

    if (ext != NULL)
        return (s2s_trust_cache_t *)ext;
    policy = s2s_trust_store_policy(store);
    if (policy->verdict_cache_size == 0 || policy->verdict_cache_ttl == 0)
        return NULL;
    c = s2s_trust_cache_new(slots_for(policy->verdict_cache_size), policy->verdict_cache_ttl);
    if (c == NULL)
        return NULL; /* out of memory: verify uncached, try again next time */
    ext = s2s_trust_store_ext_attach(store, &c->ext);
    if (ext != &c->ext)
        s2s_trust_cache_free(c); /* another thread attached its cache first */
    return (s2s_trust_cache_t *)ext;
}

/* The inputs verify refuses before parsing: cheaper than their hash. */
static bool worth_caching(const s2s_trust_policy_t *policy, const char *domain, size_t domain_len,
                          const s2s_trust_der_t *chain, size_t n)
{
    if (domain == NULL || domain_len > S2S_TRUST_CACHE_MAX_DOMAIN || n == 0 ||
        n > (size_t)policy->max_chain_certs)
        return false;
    for (size_t i = 0; i < n; i++)
        if (chain[i].data == NULL || chain[i].len == 0 || chain[i].len > policy->max_cert_bytes)
            return false;
    return true;
}

static int64_t mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

int s2s_trust_cache_peek(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                         const s2s_trust_der_t *chain, size_t n, int *verdict)
{
    s2s_trust_store_ext_t *ext = s2s_trust_store_ext(store);
    unsigned char key[S2S_TRUST_CACHE_KEY_LEN];

    /* No cache yet (never created here: a peek allocates nothing), or
     * inputs that are never cached. */
    if (ext == NULL || !worth_caching(s2s_trust_store_policy(store), domain, domain_len, chain, n) ||
        s2s_trust_cache_key((s2s_trust_cache_t *)ext, domain, domain_len, chain, n, key) != 0)
        return 0;
    return lookup((s2s_trust_cache_t *)ext, key, (int64_t)time(NULL), mono_seconds(), verdict, false);
}

int s2s_trust_verify_cached(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                            const s2s_trust_der_t *chain, size_t n)
{
    s2s_trust_cache_t *c = s2s_trust_cache_of(store);
    unsigned char key[S2S_TRUST_CACHE_KEY_LEN];
    s2s_trust_window_t window;
    int64_t mono;
    int verdict;

    if (c == NULL || !worth_caching(s2s_trust_store_policy(store), domain, domain_len, chain, n) ||
        s2s_trust_cache_key(c, domain, domain_len, chain, n, key) != 0)
        return s2s_trust_verify_chain(store, domain, domain_len, chain, n, NULL);
    mono = mono_seconds();
    if (s2s_trust_cache_lookup(c, key, (int64_t)time(NULL), mono, &verdict))
        return verdict;
    verdict = s2s_trust_verify_chain_window(store, domain, domain_len, chain, n, NULL, &window);
    if (verdict >= 0)
        s2s_trust_cache_insert(c, key, verdict, &window, mono);
    return verdict;
}
