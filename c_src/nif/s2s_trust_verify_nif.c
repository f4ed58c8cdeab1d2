/*
 * s2s_trust_verify_nif.c - verify, verify_batch, explain, check, describe, reasons.
 *
 * Two kinds of input meet here, and they are treated differently
 * (docs style 7.4):
 *  - Erlang types are our own Erlang code's responsibility: a store that is
 *    not a store, a domain that is not a binary, an improper list, a list
 *    element that is not a binary raise badarg naming the argument.
 *  - Bytes are the network's: an empty binary, garbage DER, a huge chain
 *    all go to the core, which answers with a verdict and never raises, so
 *    a remote peer cannot crash the s2s process that asked.
 *
 * The binaries are not copied: the core reads them in place during the
 * call, and the VM keeps argument terms alive until the NIF returns.
 */
#include <stdio.h>
#include <string.h>

#include "nif/s2s_trust_atoms.h"
#include "core/s2s_trust_cache.h"
#include "core/s2s_trust_describe.h"
#include "core/s2s_trust_identity.h"
#include "nif/s2s_trust_nif_util.h"
#include "core/s2s_trust_verdict.h"
#include "core/s2s_trust_verify.h"

static ERL_NIF_TERM result_term(ErlNifEnv *env, int rc)
{
    if (rc == S2S_TRUST_OK)
        return ATOM_(ok);
    /* The core promises a verdict; anything else reads as the catch-all,
     * as s2s_trust_verdict_name() treats it. */
    if (rc < 0 || rc >= S2S_TRUST_VERDICT_COUNT)
        rc = S2S_TRUST_UNTRUSTED;
    return enif_make_tuple2(env, ATOM_(error), s2s_trust_verdict_atoms[rc]);
}

static int run_verify(const s2s_trust_store_t *store, const ErlNifBinary *domain,
                      const s2s_trust_nif_chain_t *chain, s2s_trust_details_t *details)
{
    int rc;

    /* Our scheduler thread may have been left with errors by another NIF;
     * they must not colour the core's reading of OpenSSL's queue. */
    s2s_trust_ssl_err_clear();
    /* verify and verify_batch go through the store's verdict cache (the
     * same verdicts, remembered: s2s_trust_cache.h); explain wants the
     * details of a fresh verification and never uses it. */
    if (details == NULL)
        rc = s2s_trust_verify_cached(store, (const char *)domain->data, domain->size, chain->der,
                                     chain->n);
    else
        rc = s2s_trust_verify_chain(store, (const char *)domain->data, domain->size,
                                    chain->der, chain->n, details);
    s2s_trust_ssl_err_clear();
    return rc;
}

ERL_NIF_TERM s2s_trust_verify_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Store, Domain, [Der]) */
    const s2s_trust_store_t *store;
    ErlNifBinary domain;
    s2s_trust_nif_chain_t chain;
    const char *why = NULL;
    int rc;

    (void)argc;
    if (!s2s_trust_nif_get_store(env, argv[0], &store))
        return EXCP_BADARG_N(env, 0, "expected a store");
    if (!enif_inspect_binary(env, argv[1], &domain))
        return EXCP_BADARG_N(env, 1, "expected a binary domain");
    if (s2s_trust_nif_get_chain(env, argv[2], &chain, &why) != 0)
        return EXCP_BADARG_N(env, 2, why);

    rc = run_verify(store, &domain, &chain, NULL);
    if (rc == -1)
        return EXCP_ERROR(env, "s2s_trust_verify_chain: out of memory");
    return result_term(env, rc);
}

/* Type-check one batch element {Domain, [Der]}; 0 if fine. */
static int get_batch_item(ErlNifEnv *env, ERL_NIF_TERM item, ErlNifBinary *domain,
                          s2s_trust_nif_chain_t *chain, const char **why)
{
    const ERL_NIF_TERM *tuple;
    int arity;

    if (!enif_get_tuple(env, item, &arity, &tuple) || arity != 2) {
        *why = "expected a {Domain, [Der]} tuple";
        return -1;
    }
    if (!enif_inspect_binary(env, tuple[0], domain)) {
        *why = "expected a binary domain";
        return -1;
    }
    return s2s_trust_nif_get_chain(env, tuple[1], chain, why);
}

ERL_NIF_TERM s2s_trust_verify_batch_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Store, [{Domain, [Der]}]) */
    const s2s_trust_store_t *store;
    ERL_NIF_TERM results[S2S_TRUST_NIF_MAX_BATCH];
    ERL_NIF_TERM head, tail;
    ErlNifBinary domain;
    s2s_trust_nif_chain_t chain;
    const char *why = NULL;
    char text[160];
    unsigned len, i;
    int rc;

    (void)argc;
    if (!s2s_trust_nif_get_store(env, argv[0], &store))
        return EXCP_BADARG_N(env, 0, "expected a store");
    if (!enif_get_list_length(env, argv[1], &len))
        return EXCP_BADARG_N(env, 1, "expected a proper list of {Domain, [Der]}");
    if (len > S2S_TRUST_NIF_MAX_BATCH)
        return EXCP_BADARG_N(env, 1, "batch longer than S2S_TRUST_NIF_MAX_BATCH; split it");

    /* Every element is checked before any is verified, so a caller bug
     * costs no verification work and no half-done batch. */
    tail = argv[1];
    for (i = 0; enif_get_list_cell(env, tail, &head, &tail); i++) {
        if (get_batch_item(env, head, &domain, &chain, &why) != 0) {
            snprintf(text, sizeof text, "element %u: %s", i + 1, why);
            return EXCP_BADARG_N(env, 1, text);
        }
    }

    tail = argv[1];
    for (i = 0; enif_get_list_cell(env, tail, &head, &tail); i++) {
        /* A caller that died while we worked gets nothing; stop early. */
        if (i > 0 && !enif_is_current_process_alive(env))
            return ATOM_(error);
        /* Terms are immutable, so this cannot fail now; checked anyway
         * rather than verify with undecoded arguments. */
        if (get_batch_item(env, head, &domain, &chain, &why) != 0)
            return EXCP_BADARG_N(env, 1, why);
        rc = run_verify(store, &domain, &chain, NULL);
        if (rc == -1)
            return EXCP_ERROR(env, "s2s_trust_verify_chain: out of memory");
        results[i] = result_term(env, rc);
    }
    return enif_make_list_from_array(env, results, len);
}

static ERL_NIF_TERM id_type_atom(ErlNifEnv *env, s2s_trust_id_type_t type)
{
    return enif_make_atom(env, s2s_trust_id_type_name(type));
}

static ERL_NIF_TERM details_map(ErlNifEnv *env, const s2s_trust_details_t *d, int rc,
                                unsigned presented)
{
    ERL_NIF_TERM k[16], v[16], list, m[2], mk[2];
    size_t n = 0, i;
    int verdict = (rc < 0 || rc >= S2S_TRUST_VERDICT_COUNT) ? S2S_TRUST_UNTRUSTED : rc;

    k[n] = ATOM_(reason);
    v[n++] = s2s_trust_verdict_atoms[verdict];
    /* Fixed buffers say "unknown" with "": that is `undefined` too. */
    k[n] = ATOM_(domain);
    v[n++] = s2s_trust_make_str_or_undef(env, d->domain);
    k[n] = ATOM_(depth);
    v[n++] = d->error_depth >= 0 ? enif_make_int(env, d->error_depth) : ATOM_(undefined);
    k[n] = ATOM_(openssl_code);
    v[n++] = enif_make_int(env, d->openssl_code);
    k[n] = ATOM_(openssl_text);
    v[n++] = s2s_trust_make_str(env, d->openssl_text);
    k[n] = ATOM_(detail);
    v[n++] = s2s_trust_make_str(env, d->detail);
    k[n] = ATOM_(subject);
    v[n++] = s2s_trust_make_str(env, d->subject);
    k[n] = ATOM_(issuer);
    v[n++] = s2s_trust_make_str(env, d->issuer);
    k[n] = ATOM_(error_subject);
    v[n++] = s2s_trust_make_str(env, d->error_subject);
    k[n] = ATOM_(not_before);
    v[n++] = s2s_trust_make_str_or_undef(env, d->not_before);
    k[n] = ATOM_(not_after);
    v[n++] = s2s_trust_make_str_or_undef(env, d->not_after);
    k[n] = ATOM_(matched_by);
    v[n++] = id_type_atom(env, d->matched_by);

    mk[0] = ATOM_(type);
    mk[1] = ATOM_(value);
    list = enif_make_list(env, 0);
    for (i = d->name_count; d->names != NULL && i > 0; i--) {
        m[0] = id_type_atom(env, d->names[i - 1].type);
        m[1] = s2s_trust_make_binary(env, d->names[i - 1].value, d->names[i - 1].len);
        list = enif_make_list_cell(env, s2s_trust_make_map(env, mk, m, 2), list);
    }
    k[n] = ATOM_(names);
    v[n++] = list;

    mk[0] = ATOM_(subject);
    mk[1] = ATOM_(issuer);
    list = enif_make_list(env, 0);
    for (i = d->chain_count; d->chain != NULL && i > 0; i--) {
        m[0] = s2s_trust_make_str(env, d->chain[i - 1].subject);
        m[1] = s2s_trust_make_str(env, d->chain[i - 1].issuer);
        list = enif_make_list_cell(env, s2s_trust_make_map(env, mk, m, 2), list);
    }
    k[n] = ATOM_(chain);
    v[n++] = list;

    /* The core saw at most CHAIN_PASS_MAX entries; the operator wants the
     * number the peer actually sent. */
    k[n] = ATOM_(presented);
    v[n++] = enif_make_uint(env, presented);
    k[n] = ATOM_(known);
    v[n++] = enif_make_int(env, d->known);
    return s2s_trust_make_map(env, k, v, n);
}

typedef int (*details_fn_t)(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                            const s2s_trust_der_t *chain, size_t n, s2s_trust_details_t *details);

/* (Store, Domain, [Der]) -> {Verdict, Details} through `fn`. */
static ERL_NIF_TERM with_details(ErlNifEnv *env, const ERL_NIF_TERM argv[], details_fn_t fn)
{
    const s2s_trust_store_t *store;
    ErlNifBinary domain;
    s2s_trust_nif_chain_t chain;
    s2s_trust_details_t details;
    const char *why = NULL;
    ERL_NIF_TERM ret;
    int rc;

    if (!s2s_trust_nif_get_store(env, argv[0], &store))
        return EXCP_BADARG_N(env, 0, "expected a store");
    if (!enif_inspect_binary(env, argv[1], &domain))
        return EXCP_BADARG_N(env, 1, "expected a binary domain");
    if (s2s_trust_nif_get_chain(env, argv[2], &chain, &why) != 0)
        return EXCP_BADARG_N(env, 2, why);

    memset(&details, 0, sizeof details);
    s2s_trust_ssl_err_clear();
    rc = fn(store, (const char *)domain.data, domain.size, chain.der, chain.n, &details);
    s2s_trust_ssl_err_clear();
    if (rc == -1)
        ret = EXCP_ERROR(env, "s2s_trust_verify_chain: out of memory");
    else
        ret = enif_make_tuple2(env, result_term(env, rc),
                               details_map(env, &details, rc, chain.presented));
    s2s_trust_details_free(&details);
    return ret;
}

/* A fresh verification with every detail; never the verdict cache. */
ERL_NIF_TERM s2s_trust_explain_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return with_details(env, argv, s2s_trust_verify_chain);
}

/*
 * check and describe are called on every s2s stream, and most of the time
 * their work is small: a cache hit plus the leaf's facts, or a 2 KiB
 * leaf's facts. Sending that to a dirty scheduler costs more than the work:
 * a thread wake-up and, after the job, the dirty scheduler's busy wait,
 * which on a 2-core server measured as much CPU as the stream's TLS
 * (docs/performance.md, issue 18). So they run on the normal scheduler
 * when the bytes are few enough to bound the work well under a
 * millisecond (one SHA-256 of at most INLINE_BYTES, one parse of a leaf of
 * at most that size), and reschedule themselves as dirty CPU jobs
 * otherwise: a verification, a refusal's fresh details, a big leaf.
 */
#define INLINE_BYTES 8192

static size_t chain_bytes(const s2s_trust_nif_chain_t *chain)
{
    size_t total = 0;

    for (size_t i = 0; i < chain->n; i++)
        total += chain->der[i].len;
    return total;
}

static ERL_NIF_TERM check_dirty(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return with_details(env, argv, s2s_trust_check_chain);
}

static ERL_NIF_TERM describe_dirty(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return with_details(env, argv, s2s_trust_describe_leaf);
}

/* (Store, Domain, [Der]): decoded here to choose; the dirty job decodes
 * again (cheap) rather than pass pointers across the reschedule. */
static int decode(ErlNifEnv *env, const ERL_NIF_TERM argv[], const s2s_trust_store_t **store,
                  ErlNifBinary *domain, s2s_trust_nif_chain_t *chain)
{
    const char *why = NULL;

    return s2s_trust_nif_get_store(env, argv[0], store) && enif_inspect_binary(env, argv[1], domain) &&
           s2s_trust_nif_get_chain(env, argv[2], chain, &why) == 0;
}

/* The verdict through the cache; the leaf's facts when accepted, a fresh
 * verification's details when refused (s2s_trust_describe.h). */
ERL_NIF_TERM s2s_trust_check_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    const s2s_trust_store_t *store;
    ErlNifBinary domain;
    s2s_trust_nif_chain_t chain;
    s2s_trust_details_t details;
    ERL_NIF_TERM ret;
    int cached, rc;

    if (decode(env, argv, &store, &domain, &chain) && chain.n > 0 && chain.n == chain.presented &&
        chain_bytes(&chain) <= INLINE_BYTES &&
        s2s_trust_cache_peek(store, (const char *)domain.data, domain.size, chain.der, chain.n, &cached) &&
        cached == S2S_TRUST_OK) {
        memset(&details, 0, sizeof details);
        s2s_trust_ssl_err_clear();
        rc = s2s_trust_describe_accepted(store, (const char *)domain.data, domain.size, chain.der, chain.n,
                                         &details);
        s2s_trust_ssl_err_clear();
        if (rc == S2S_TRUST_OK) {
            ret = enif_make_tuple2(env, result_term(env, rc), details_map(env, &details, rc, chain.presented));
            s2s_trust_details_free(&details);
            return ret;
        }
        s2s_trust_details_free(&details); /* out of memory, or bytes that changed their mind: the long way */
    }
    /* Bad arguments too: the dirty job raises the badarg naming them. */
    return enif_schedule_nif(env, "check_nif", ERL_NIF_DIRTY_JOB_CPU_BOUND, check_dirty, argc, argv);
}

/* The leaf's facts, nothing verified. */
ERL_NIF_TERM s2s_trust_describe_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    const s2s_trust_store_t *store;
    ErlNifBinary domain;
    s2s_trust_nif_chain_t chain;

    if (decode(env, argv, &store, &domain, &chain) && (chain.n == 0 || chain.der[0].len <= INLINE_BYTES))
        return with_details(env, argv, s2s_trust_describe_leaf);
    return enif_schedule_nif(env, "describe_nif", ERL_NIF_DIRTY_JOB_CPU_BOUND, describe_dirty, argc, argv);
}
ERL_NIF_TERM s2s_trust_reasons_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* () */
    ERL_NIF_TERM list = enif_make_list(env, 0);
    int v;

    (void)argc;
    (void)argv;
    for (v = S2S_TRUST_VERDICT_COUNT - 1; v >= 0; v--) {
        const char *text = s2s_trust_verdict_text((s2s_trust_verdict_t)v);
        list = enif_make_list_cell(
            env,
            enif_make_tuple2(env, s2s_trust_verdict_atoms[v], s2s_trust_make_str(env, text)),
            list);
    }
    return list;
}
