/*
 * s2s_trust_store_nif.c - the "s2s_trust_store" resource: open and info.
 *
 * A resource holds exactly one counted reference to an immutable core
 * store. Erlang owns the handle (docs style 7.5): whoever publishes it
 * (persistent_term, a gen_server) swaps terms, and the VM's reference
 * counting keeps an old store alive exactly as long as a process still
 * holds it, so the C side needs no lock and no "current store" global.
 */
#include <stdint.h>
#include <string.h>

#include "nif/s2s_trust_atoms.h"
#include "core/s2s_trust_cache.h"
#include "core/s2s_trust_config.h"
#include "core/s2s_trust_error.h"
#include "nif/s2s_trust_nif_util.h"
#include "core/s2s_trust_store.h"

typedef struct {
    s2s_trust_store_t *store;
} store_res_t;

/* Shared by both module versions across an upgrade (same .so handle); the
 * takeover in s2s_trust_store_nif_init repoints it at the same type. */
static ErlNifResourceType *store_res_type;

static void store_res_dtor(ErlNifEnv *env, void *obj)
{
    store_res_t *res = obj;

    (void)env;
    /* Idempotent and safe on a half-built resource (store still NULL). */
    if (res->store != NULL) {
        s2s_trust_store_release(res->store);
        res->store = NULL;
    }
}

int s2s_trust_store_nif_init(ErlNifEnv *env)
{
    ErlNifResourceFlags tried;
    ErlNifResourceType *t;

    t = enif_open_resource_type(env, NULL, "s2s_trust_store", store_res_dtor,
                                ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER, &tried);
    if (t == NULL)
        return -1;
    /* A takeover returns the type we already hold; other threads read the
     * pointer meanwhile, so it is written only when it changes (a fresh
     * copy of the library). */
    /* cppcheck-suppress duplicateConditionalAssign */
    if (store_res_type != t)
        store_res_type = t;
    return 0;
}

int s2s_trust_nif_get_store(ErlNifEnv *env, ERL_NIF_TERM term,
                            const s2s_trust_store_t **store)
{
    store_res_t *res;

    if (!enif_get_resource(env, term, store_res_type, (void **)&res) || res->store == NULL)
        return 0;
    *store = res->store;
    return 1;
}

static ERL_NIF_TERM config_error(ErlNifEnv *env, const s2s_trust_error_t *err)
{
    return enif_make_tuple2(
        env, ATOM_(error),
        enif_make_tuple4(env, ATOM_(config), s2s_trust_make_str(env, err->file),
                         enif_make_int(env, err->line), s2s_trust_make_str(env, err->text)));
}

/* Append each file of `list` (binary absolute file names) with `add`.
 * 0, or the exception term in *excp. */
static int add_extra_files(ErlNifEnv *env, ERL_NIF_TERM list, int argn, s2s_trust_config_t *cfg,
                           int (*add)(s2s_trust_config_t *, const char *), ERL_NIF_TERM *excp)
{
    ERL_NIF_TERM head;
    ErlNifBinary bin;
    unsigned len;
    char path[4096];

    if (!enif_get_list_length(env, list, &len) || len > 64) {
        *excp = EXCP_BADARG_N(env, argn, "expected a list of at most 64 file names");
        return -1;
    }
    while (enif_get_list_cell(env, list, &head, &list)) {
        if (!enif_inspect_binary(env, head, &bin) || bin.size == 0 || bin.size >= sizeof path ||
            memchr(bin.data, '\0', bin.size) != NULL || bin.data[0] != '/') {
            *excp = EXCP_BADARG_N(env, argn, "expected absolute binary file names without NUL bytes");
            return -1;
        }
        memcpy(path, bin.data, bin.size);
        path[bin.size] = '\0';
        if (add(cfg, path) != 0) {
            *excp = EXCP_ERROR(env, "out of memory");
            return -1;
        }
    }
    return 0;
}

ERL_NIF_TERM s2s_trust_open_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Path :: binary() | default, ExtraIntermediateFiles :: [binary()], ExtraCrlFiles :: [binary()]) */
    ErlNifBinary bin;
    char *path = NULL;
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;
    store_res_t *res;
    ERL_NIF_TERM ret;

    (void)argc;
    memset(&err, 0, sizeof err);
    s2s_trust_config_defaults(&cfg);

    if (enif_is_identical(argv[0], ATOM_(default))) {
        /* the built-in defaults as they are */
    } else if (enif_inspect_binary(env, argv[0], &bin)) {
        /* A file name never holds a NUL; one here would silently cut the
         * path short, so it is our caller's bug, not a missing file. */
        if (bin.size == 0 || memchr(bin.data, '\0', bin.size) != NULL) {
            ret = EXCP_BADARG_N(env, 0, "expected a non-empty file name without NUL bytes");
            goto done;
        }
        path = enif_alloc(bin.size + 1);
        if (path == NULL) {
            ret = EXCP_ERROR(env, "out of memory");
            goto done;
        }
        memcpy(path, bin.data, bin.size);
        path[bin.size] = '\0';
        s2s_trust_ssl_err_clear();
        if (s2s_trust_config_read_file(path, &cfg, &err) != 0) {
            ret = config_error(env, &err);
            goto done;
        }
    } else {
        ret = EXCP_BADARG_N(env, 0, "expected a binary file name or 'default'");
        goto done;
    }

    if (add_extra_files(env, argv[1], 1, &cfg, s2s_trust_config_add_intermediate_file, &ret) != 0 ||
        add_extra_files(env, argv[2], 2, &cfg, s2s_trust_config_add_crl_file, &ret) != 0)
        goto done;
    s2s_trust_ssl_err_clear();
    if (s2s_trust_store_build(&cfg, &store, &err) != 0) {
        ret = config_error(env, &err);
        goto done;
    }

    res = enif_alloc_resource(store_res_type, sizeof *res);
    if (res == NULL) {
        ret = EXCP_ERROR(env, "enif_alloc_resource failed");
        goto done;
    }
    res->store = store;
    store = NULL; /* the resource owns the reference now */
    ret = enif_make_tuple2(env, ATOM_(ok), enif_make_resource(env, res));
    /* The term keeps the resource alive; our own reference goes. */
    enif_release_resource(res);

done:
    s2s_trust_store_release(store);
    s2s_trust_config_free(&cfg);
    if (path != NULL)
        enif_free(path);
    s2s_trust_ssl_err_clear();
    return ret;
}

static ERL_NIF_TERM policy_map(ErlNifEnv *env, const s2s_trust_policy_t *p)
{
    ERL_NIF_TERM k[8], v[8];
    size_t n = 0;

    k[n] = ATOM_(crl_check);
    v[n++] = enif_make_atom(env, s2s_trust_crl_mode_name(p->crl_check));
    k[n] = ATOM_(max_depth);
    v[n++] = enif_make_int(env, p->max_depth);
    k[n] = ATOM_(max_chain_certs);
    v[n++] = enif_make_int(env, p->max_chain_certs);
    k[n] = ATOM_(max_cert_bytes);
    v[n++] = enif_make_uint64(env, (ErlNifUInt64)p->max_cert_bytes);
    k[n] = ATOM_(security_level);
    v[n++] = enif_make_int(env, p->security_level);
    k[n] = ATOM_(require_server_auth_eku);
    v[n++] = s2s_trust_make_bool(p->require_server_auth_eku);
    k[n] = ATOM_(insecure_allow_cn_id);
    v[n++] = s2s_trust_make_bool(p->insecure_allow_cn_id);
    k[n] = ATOM_(verification_time);
    v[n++] = p->has_verification_time ? enif_make_int64(env, (ErlNifSInt64)p->verification_time)
                                      : ATOM_(undefined);
    return s2s_trust_make_map(env, k, v, n);
}

ERL_NIF_TERM s2s_trust_info_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Store) */
    const s2s_trust_store_t *store;
    s2s_trust_store_info_t info;
    s2s_trust_cache_stats_t cache;
    ERL_NIF_TERM k[10], v[10], ck[9], cv[9], sources;
    size_t n = 0, cn = 0, i;

    (void)argc;
    if (!s2s_trust_nif_get_store(env, argv[0], &store))
        return EXCP_BADARG_N(env, 0, "expected a store");

    memset(&info, 0, sizeof info);
    s2s_trust_store_info(store, &info);

    /* Built back to front so the list comes out in the order files were read. */
    sources = enif_make_list(env, 0);
    for (i = info.source_count; i > 0; i--)
        sources = enif_make_list_cell(env, s2s_trust_make_str(env, info.sources[i - 1]), sources);

    k[n] = ATOM_(anchors);
    v[n++] = enif_make_uint64(env, (ErlNifUInt64)info.anchors);
    k[n] = ATOM_(intermediates);
    v[n++] = enif_make_uint64(env, (ErlNifUInt64)info.intermediates);
    k[n] = ATOM_(crls);
    v[n++] = enif_make_uint64(env, (ErlNifUInt64)info.crls);
    k[n] = ATOM_(generation);
    v[n++] = enif_make_uint64(env, (ErlNifUInt64)info.generation);
    k[n] = ATOM_(built_at);
    v[n++] = enif_make_int64(env, (ErlNifSInt64)info.built_at);
    k[n] = ATOM_(config);
    /* "" (built-in defaults) stays <<>>: the key is documented as a binary. */
    v[n++] = s2s_trust_make_binary(env, info.config_source ? info.config_source : "",
                                   info.config_source ? strlen(info.config_source) : 0);
    k[n] = ATOM_(sources);
    v[n++] = sources;
    k[n] = ATOM_(policy);
    v[n++] = info.policy ? policy_map(env, info.policy) : enif_make_new_map(env);

    s2s_trust_cache_stats_of(store, &cache);
    ck[cn] = ATOM_(capacity);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.capacity);
    ck[cn] = ATOM_(entries);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.entries);
    ck[cn] = ATOM_(bytes);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.bytes);
    ck[cn] = ATOM_(ttl);
    cv[cn++] = enif_make_uint(env, cache.ttl);
    ck[cn] = ATOM_(hits);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.hits);
    ck[cn] = ATOM_(misses);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.misses);
    ck[cn] = ATOM_(inserts);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.inserts);
    ck[cn] = ATOM_(evictions);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.evictions);
    ck[cn] = ATOM_(expired);
    cv[cn++] = enif_make_uint64(env, (ErlNifUInt64)cache.expired);
    k[n] = ATOM_(verdict_cache);
    v[n++] = s2s_trust_make_map(env, ck, cv, cn);
    return s2s_trust_make_map(env, k, v, n);
}
