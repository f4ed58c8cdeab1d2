/* s2s_trust_store.c - see s2s_trust_store.h */
#include "core/s2s_trust_store.h"

#include "core/s2s_trust_pool_index.h"
#include "core/s2s_trust_time.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct s2s_trust_store {
    atomic_uint refs;
    X509_STORE *anchors;               /* trust anchors + CRLs */
    STACK_OF(X509) *intermediates;     /* parsed once, shared read-only by every verification */
    size_t anchor_count;
    size_t crl_count;
    uint64_t generation;
    time_t built_at;
    char *config_source;
    char **sources;
    size_t source_count;
    s2s_trust_policy_t policy;
    int64_t *events;                   /* sorted, distinct: see s2s_trust_store_next_event */
    const X509 **presigned;            /* pairs (child, issuer), 2 x presigned_count, sorted */
    size_t presigned_count;
    size_t event_count;
    s2s_trust_pool_index_t *pool_index; /* the pool by bytes and by subject */
    bool pool_index_on;                /* handed to the verifier (S2S_TRUST_NO_POOL_INDEX unset) */
    _Atomic(s2s_trust_store_ext_t *) ext; /* the verdict cache, attached on first use */
};

/* Every build gets a new number, so a cached verdict can say which store
 * it came from (performance issue: cache keyed by generation). */
static atomic_uint_fast64_t next_generation = 1;

/* A directory of anchors is read eagerly; this bounds what a misconfigured
 * path (say "/") can make us read. */
#define MAX_DIR_ENTRIES 10000

typedef struct {
    const char *config;
    s2s_trust_error_t *err;
} ctx_t;

static OSSL_LIB_CTX *libctx;
static pthread_once_t libctx_once = PTHREAD_ONCE_INIT;

static void libctx_init(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

    /* Loading "default" explicitly also stops the context from reading
     * openssl.cnf or falling back to anything else. Never unloaded: the
     * context lives as long as the process (or the NIF library). */
    if (ctx != NULL && OSSL_PROVIDER_load(ctx, "default") == NULL) {
        OSSL_LIB_CTX_free(ctx);
        ctx = NULL;
    }
    ERR_clear_error();
    libctx = ctx;
}

OSSL_LIB_CTX *s2s_trust_libctx(void)
{
    (void)pthread_once(&libctx_once, libctx_init);
    return libctx;
}

static void store_free(s2s_trust_store_t *store)
{
    s2s_trust_store_ext_t *ext;

    if (store == NULL)
        return;
    ext = atomic_load_explicit(&store->ext, memory_order_acquire);
    if (ext != NULL)
        ext->free(ext);
    free(store->events);
    free(store->presigned);
    s2s_trust_pool_index_free(store->pool_index);
    X509_STORE_free(store->anchors);
    sk_X509_pop_free(store->intermediates, X509_free);
    for (size_t i = 0; i < store->source_count; i++)
        free(store->sources[i]);
    free(store->sources);
    free(store->config_source);
    free(store);
}

s2s_trust_store_t *s2s_trust_store_retain(s2s_trust_store_t *store)
{
    if (store != NULL)
        atomic_fetch_add_explicit(&store->refs, 1, memory_order_relaxed);
    return store;
}

void s2s_trust_store_release(s2s_trust_store_t *store)
{
    if (store == NULL)
        return;
    /* acq_rel: the thread that frees must see every other thread's last use. */
    if (atomic_fetch_sub_explicit(&store->refs, 1, memory_order_acq_rel) == 1)
        store_free(store);
}

static int add_source(s2s_trust_store_t *store, const char *path)
{
    char **grown = realloc(store->sources, (store->source_count + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    store->sources = grown;
    store->sources[store->source_count] = strdup(path);
    if (store->sources[store->source_count] == NULL)
        return -1;
    store->source_count++;
    return 0;
}

static int file_error(const ctx_t *c, const char *what, const char *path, int line,
                      const char *why)
{
    s2s_trust_error_set(c->err, c->config, line, "%s %s: %s", what, path, why);
    s2s_trust_error_append_openssl(c->err);
    return -1;
}

/* Read every PEM certificate in `path`, handing each to `take`. Returns the
 * number taken, or -1 with the error set. Non-certificate PEM blocks (keys,
 * CRLs) in a bundle are skipped, as OpenSSL's own loaders do. */
typedef int (*take_cert_fn)(void *arg, X509 *cert);

static long read_pem_certs(const ctx_t *c, const char *what, const char *path, int line,
                           take_cert_fn take, void *arg)
{
    BIO *bio;
    STACK_OF(X509_INFO) *infos;
    long taken = 0;

    ERR_clear_error();
    bio = BIO_new_file(path, "r");
    if (bio == NULL)
        return file_error(c, what, path, line, strerror(errno ? errno : ENOENT));
    infos = PEM_X509_INFO_read_bio_ex(bio, NULL, NULL, NULL, s2s_trust_libctx(), NULL);
    BIO_free(bio);
    if (infos == NULL)
        return file_error(c, what, path, line, "not a PEM file");
    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (info->x509 == NULL)
            continue;
        if (take(arg, info->x509) != 0) {
            sk_X509_INFO_pop_free(infos, X509_INFO_free);
            return file_error(c, what, path, line, "cannot add certificate");
        }
        taken++;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    ERR_clear_error();
    return taken;
}

static int take_anchor(void *arg, X509 *cert)
{
    /* X509_STORE_add_cert takes its own reference and ignores duplicates. */
    return X509_STORE_add_cert(arg, cert) == 1 ? 0 : -1;
}

static int take_intermediate(void *arg, X509 *cert)
{
    if (!X509_up_ref(cert))
        return -1;
    if (sk_X509_push(arg, cert) <= 0) {
        X509_free(cert);
        return -1;
    }
    return 0;
}

static int load_anchor_file(s2s_trust_store_t *store, const ctx_t *c, const char *path, int line)
{
    long n = read_pem_certs(c, "ca_file", path, line, take_anchor, store->anchors);
    if (n < 0)
        return -1;
    if (n == 0)
        return file_error(c, "ca_file", path, line, "holds no certificate");
    return add_source(store, path);
}

static int load_anchor_dir(s2s_trust_store_t *store, const ctx_t *c, const char *path, int line)
{
    DIR *dir = opendir(path);
    struct dirent *ent;
    size_t seen = 0;
    char file[4096];
    struct stat st;

    if (dir == NULL)
        return file_error(c, "ca_dir", path, line, strerror(errno));
    while ((ent = readdir(dir)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        if (++seen > MAX_DIR_ENTRIES) {
            closedir(dir);
            return file_error(c, "ca_dir", path, line, "more than 10000 entries");
        }
        snprintf(file, sizeof file, "%s/%s", path, ent->d_name);
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        /* A directory may hold non-certificate files (README, keys);
         * skip what is not PEM rather than refusing the whole directory. */
        ctx_t quiet = { c->config, NULL };
        (void)read_pem_certs(&quiet, "ca_dir", file, line, take_anchor, store->anchors);
        ERR_clear_error();
    }
    closedir(dir);
    return add_source(store, path);
}

static int load_intermediates(s2s_trust_store_t *store, const ctx_t *c, const char *path, int line)
{
    long n = read_pem_certs(c, "intermediate_file", path, line, take_intermediate,
                            store->intermediates);
    if (n < 0)
        return -1;
    if (n == 0)
        return file_error(c, "intermediate_file", path, line, "holds no certificate");
    return add_source(store, path);
}

static int load_crls(s2s_trust_store_t *store, const ctx_t *c, const char *path, int line)
{
    BIO *bio;
    STACK_OF(X509_INFO) *infos;
    long n = 0;

    ERR_clear_error();
    bio = BIO_new_file(path, "r");
    if (bio == NULL)
        return file_error(c, "crl_file", path, line, strerror(errno ? errno : ENOENT));
    /* PEM_X509_INFO_read_bio fails on any unreadable block: a corrupt CRL
     * in the middle of a bundle must not silently drop the ones after it. */
    infos = PEM_X509_INFO_read_bio_ex(bio, NULL, NULL, NULL, s2s_trust_libctx(), NULL);
    if (infos != NULL) {
        for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
            X509_INFO *info = sk_X509_INFO_value(infos, i);
            if (info->crl == NULL)
                continue;
            if (X509_STORE_add_crl(store->anchors, info->crl) != 1) {
                sk_X509_INFO_pop_free(infos, X509_INFO_free);
                BIO_free(bio);
                return file_error(c, "crl_file", path, line, "cannot add CRL");
            }
            n++;
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
    } else if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
        BIO_free(bio);
        return file_error(c, "crl_file", path, line, "unreadable PEM block");
    }
    if (n == 0) {
        /* No PEM at all: CRLs are published as DER, try that. */
        X509_CRL *crl = X509_CRL_new_ex(s2s_trust_libctx(), NULL);
        ERR_clear_error();
        (void)BIO_reset(bio);
        if (crl != NULL && d2i_X509_CRL_bio(bio, &crl) == NULL) {
            X509_CRL_free(crl); /* NULL already when d2i freed it */
            crl = NULL;
        }
        if (crl != NULL) {
            int ok = X509_STORE_add_crl(store->anchors, crl);
            X509_CRL_free(crl);
            if (ok != 1) {
                BIO_free(bio);
                return file_error(c, "crl_file", path, line, "cannot add CRL");
            }
            n = 1;
        }
    }
    BIO_free(bio);
    if (n == 0)
        return file_error(c, "crl_file", path, line, "holds no CRL (PEM or DER)");
    ERR_clear_error();
    store->crl_count += (size_t)n;
    return add_source(store, path);
}

static const char *system_bundle(void)
{
    const char *env = getenv(X509_get_default_cert_file_env());
    return env != NULL && env[0] != '\0' ? env : X509_get_default_cert_file();
}

static size_t count_anchors(X509_STORE *xs)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(xs);
    size_t n = 0;

    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
        if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
            n++;
    return n;
}

static int add_event(int64_t **events, size_t *count, size_t *cap, const ASN1_TIME *t)
{
    int64_t v;

    /* A time that does not convert makes OpenSSL fail its check at any
     * verification time: it is no instant at which a verdict changes. */
    if (s2s_trust_asn1_time_seconds(t, &v) != 0)
        return 0;
    if (*count == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 64;
        int64_t *grown = realloc(*events, grown_cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        *events = grown;
        *cap = grown_cap;
    }
    (*events)[(*count)++] = v;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Every instant at which a comparison with the store's own material flips. */
static int collect_events(s2s_trust_store_t *store)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store->anchors);
    size_t cap = 0, n = 0, i;
    int64_t *ev = NULL;
    int rc = 0;

    for (int k = 0; k < sk_X509_OBJECT_num(objs) && rc == 0; k++) {
        X509_OBJECT *o = sk_X509_OBJECT_value(objs, k);
        X509 *x = X509_OBJECT_get0_X509(o);
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
        if (x != NULL)
            rc = add_event(&ev, &n, &cap, X509_get0_notBefore(x)) |
                 add_event(&ev, &n, &cap, X509_get0_notAfter(x));
        else if (crl != NULL)
            rc = add_event(&ev, &n, &cap, X509_CRL_get0_lastUpdate(crl)) |
                 add_event(&ev, &n, &cap, X509_CRL_get0_nextUpdate(crl));
    }
    for (int k = 0; k < sk_X509_num(store->intermediates) && rc == 0; k++) {
        X509 *x = sk_X509_value(store->intermediates, k);
        rc = add_event(&ev, &n, &cap, X509_get0_notBefore(x)) |
             add_event(&ev, &n, &cap, X509_get0_notAfter(x));
    }
    if (rc != 0) {
        free(ev);
        return -1;
    }
    if (n > 0) {
        size_t out = 1;
        qsort(ev, n, sizeof *ev, cmp_i64);
        for (i = 1; i < n; i++)
            if (ev[i] != ev[out - 1])
                ev[out++] = ev[i];
        n = out;
    }
    store->events = ev;
    store->event_count = n;
    return 0;
}

/* Record (child, issuer) when `issuer` issued `child` and the signature
 * verifies; -1 only when memory runs out. */
static int presign_pair(s2s_trust_store_t *store, X509 *child, X509 *issuer, size_t *cap)
{
    EVP_PKEY *pkey;

    if (child == issuer || X509_check_issued(issuer, child) != X509_V_OK)
        return 0;
    pkey = X509_get0_pubkey(issuer);
    if (pkey == NULL || X509_verify(child, pkey) != 1) {
        ERR_clear_error();
        return 0;
    }
    if (store->presigned_count == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 16;
        const X509 **grown = realloc(store->presigned, grown_cap * 2 * sizeof *grown);
        if (grown == NULL)
            return -1;
        store->presigned = grown;
        *cap = grown_cap;
    }
    store->presigned[2 * store->presigned_count] = child;
    store->presigned[2 * store->presigned_count + 1] = issuer;
    store->presigned_count++;
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const X509 *const *x = a, *const *y = b;

    for (int i = 0; i < 2; i++)
        if (x[i] != y[i])
            return (uintptr_t)x[i] < (uintptr_t)y[i] ? -1 : 1;
    return 0;
}

/* X509_check_issued accepts an issuer only when its subject equals the
 * child's issuer name, so the candidates are looked up by that name (in
 * the anchors and in the pool) instead of trying every pair, which made a
 * reload quadratic in the pool's size. */
static int presign(s2s_trust_store_t *store)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store->anchors);
    STACK_OF(X509) *anchors = sk_X509_new_null();
    s2s_trust_pool_index_t *anchor_index = NULL;
    const char *off = getenv("S2S_TRUST_NO_SIG_SHORTCUT");
    size_t cap = 0;
    int rc = -1;

    if (off != NULL && off[0] != '\0' && strcmp(off, "0") != 0) {
        sk_X509_free(anchors);
        return 0;
    }
    if (anchors == NULL)
        return -1;
    for (int k = 0; k < sk_X509_OBJECT_num(objs); k++) {
        X509 *anchor = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, k));
        if (anchor != NULL && sk_X509_push(anchors, anchor) <= 0)
            goto done;
    }
    if ((anchor_index = s2s_trust_pool_index_build(anchors, s2s_trust_libctx())) == NULL)
        goto done;
    for (int c = 0; c < sk_X509_num(store->intermediates); c++) {
        X509 *child = sk_X509_value(store->intermediates, c);
        const s2s_trust_pool_index_t *in[2] = { anchor_index, store->pool_index };

        for (int w = 0; w < 2; w++) {
            size_t n;
            const s2s_trust_pool_entry_t *e = s2s_trust_pool_index_by_subject(in[w], X509_get_issuer_name(child), &n);
            for (size_t k = 0; k < n; k++)
                if (presign_pair(store, child, e[k].cert, &cap) != 0)
                    goto done;
        }
    }
    if (store->presigned_count > 0)
        qsort(store->presigned, store->presigned_count, 2 * sizeof *store->presigned, cmp_pair);
    rc = 0;
done:
    s2s_trust_pool_index_free(anchor_index);
    sk_X509_free(anchors);
    ERR_clear_error();
    return rc;
}

size_t s2s_trust_store_presigned_count(const s2s_trust_store_t *store)
{
    return store->presigned_count;
}

bool s2s_trust_store_presigned(const s2s_trust_store_t *store, const X509 *child, const X509 *issuer)
{
    const X509 *key[2] = { child, issuer };

    return store->presigned_count > 0 &&
           bsearch(key, store->presigned, store->presigned_count, 2 * sizeof *store->presigned, cmp_pair) != NULL;
}

/* The pool only: a presented copy of an anchor is never the one chain
 * building uses (the trusted store is searched first), so its parse is not
 * worth an entry. Built whatever the switch: presign() uses it too. */
static int index_pool(s2s_trust_store_t *store)
{
    const char *off = getenv("S2S_TRUST_NO_POOL_INDEX");

    store->pool_index_on = off == NULL || off[0] == '\0' || strcmp(off, "0") == 0;
    store->pool_index = s2s_trust_pool_index_build(store->intermediates, s2s_trust_libctx());
    return store->pool_index != NULL ? 0 : -1;
}

const s2s_trust_pool_index_t *s2s_trust_store_pool_index(const s2s_trust_store_t *store)
{
    return store->pool_index_on ? store->pool_index : NULL;
}

int64_t s2s_trust_store_next_event(const s2s_trust_store_t *store, int64_t t)
{
    size_t lo = 0, hi = store->event_count;

    /* First index whose event is > t. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (store->events[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < store->event_count ? store->events[lo] : INT64_MAX;
}

s2s_trust_store_ext_t *s2s_trust_store_ext(const s2s_trust_store_t *store)
{
    return atomic_load_explicit(&((s2s_trust_store_t *)store)->ext, memory_order_acquire);
}

s2s_trust_store_ext_t *s2s_trust_store_ext_attach(const s2s_trust_store_t *store,
                                                  s2s_trust_store_ext_t *ext)
{
    /* The slot is the one mutable part of a published store: set at most
     * once, from NULL, and freed only with the store. */
    s2s_trust_store_t *s = (s2s_trust_store_t *)store;
    s2s_trust_store_ext_t *expected = NULL;

    if (atomic_compare_exchange_strong_explicit(&s->ext, &expected, ext, memory_order_acq_rel,
                                                memory_order_acquire))
        return ext;
    return expected;
}

int s2s_trust_store_build(const s2s_trust_config_t *cfg, s2s_trust_store_t **out,
                          s2s_trust_error_t *err)
{
    s2s_trust_store_t *store;
    ctx_t c = { cfg->source ? cfg->source : "", err };
    size_t i;

    *out = NULL;
    store = calloc(1, sizeof *store);
    if (store == NULL) {
        s2s_trust_error_set(err, c.config, 0, "out of memory");
        return -1;
    }
    atomic_init(&store->refs, 1);
    atomic_init(&store->ext, NULL);
    store->anchors = X509_STORE_new();
    store->intermediates = sk_X509_new_null();
    store->config_source = strdup(c.config);
    if (store->anchors == NULL || store->intermediates == NULL || store->config_source == NULL) {
        s2s_trust_error_set(err, c.config, 0, "out of memory");
        goto fail;
    }

    if (cfg->system_roots) {
        if (load_anchor_file(store, &c, system_bundle(), cfg->system_roots_line) != 0) {
            if (err != NULL && cfg->system_roots_line == 0) {
                size_t used = strlen(err->text);
                snprintf(err->text + used, sizeof err->text - used,
                         " (the system bundle: install ca-certificates or set ca_file)");
            }
            goto fail;
        }
    }
    for (i = 0; i < cfg->ca_files.count; i++)
        if (load_anchor_file(store, &c, cfg->ca_files.items[i].path, cfg->ca_files.items[i].line) != 0)
            goto fail;
    for (i = 0; i < cfg->ca_dirs.count; i++)
        if (load_anchor_dir(store, &c, cfg->ca_dirs.items[i].path, cfg->ca_dirs.items[i].line) != 0)
            goto fail;
    for (i = 0; i < cfg->intermediate_files.count; i++)
        if (load_intermediates(store, &c, cfg->intermediate_files.items[i].path,
                               cfg->intermediate_files.items[i].line) != 0)
            goto fail;
    for (i = 0; i < cfg->crl_files.count; i++)
        if (load_crls(store, &c, cfg->crl_files.items[i].path, cfg->crl_files.items[i].line) != 0)
            goto fail;

    store->anchor_count = count_anchors(store->anchors);
    if (store->anchor_count == 0) {
        s2s_trust_error_set(err, c.config, 0,
                            "no trust anchors: every peer would be refused (set ca_file or ca_dir)");
        goto fail;
    }

    store->policy.crl_check = cfg->crl_check;
    store->policy.max_depth = cfg->max_depth;
    store->policy.max_chain_certs = cfg->max_chain_certs;
    store->policy.max_cert_bytes = cfg->max_cert_bytes;
    store->policy.security_level = cfg->security_level;
    store->policy.require_server_auth_eku = cfg->require_server_auth_eku;
    store->policy.insecure_allow_cn_id = cfg->insecure_allow_cn_id;
    store->policy.has_verification_time = cfg->has_verification_time;
    store->policy.verification_time = cfg->verification_time;
    store->policy.verdict_cache_size = cfg->verdict_cache_size;
    store->policy.verdict_cache_ttl = cfg->verdict_cache_ttl;
    if (collect_events(store) != 0 || index_pool(store) != 0 || presign(store) != 0) {
        s2s_trust_error_set(err, c.config, 0, "out of memory");
        goto fail;
    }
    store->generation = atomic_fetch_add(&next_generation, 1);
    store->built_at = time(NULL);
    ERR_clear_error();
    *out = store;
    return 0;

fail:
    ERR_clear_error();
    store_free(store);
    return -1;
}

void s2s_trust_store_info(const s2s_trust_store_t *store, s2s_trust_store_info_t *info)
{
    info->anchors = store->anchor_count;
    info->intermediates = (size_t)sk_X509_num(store->intermediates);
    info->crls = store->crl_count;
    info->generation = store->generation;
    info->built_at = store->built_at;
    info->config_source = store->config_source;
    info->sources = (const char *const *)store->sources;
    info->source_count = store->source_count;
    info->policy = &store->policy;
}

X509_STORE *s2s_trust_store_anchors(const s2s_trust_store_t *store)
{
    return store->anchors;
}

STACK_OF(X509) *s2s_trust_store_intermediates(const s2s_trust_store_t *store)
{
    return store->intermediates;
}

const s2s_trust_policy_t *s2s_trust_store_policy(const s2s_trust_store_t *store)
{
    return &store->policy;
}
