/*
 * s2s_trust_dane_nif.c - DANE in the VM: the "s2s_trust_dnssec" resource
 * (a libunbound resolver with its own threads, net/s2s_trust_dnssec.h),
 * its lookups, and the TLSA match (core/s2s_trust_dane.h). Terms in,
 * terms out; every decision is the Erlang module's.
 *
 *   dnssec_open_nif(UnboundConf | default, TrustAnchor | default, Threads, MaxQueue)
 *       -> {ok, Resolver} | {error, Text}                     (dirty IO: reads files)
 *   dane_lookup_nif(Resolver, Domain, Port, DeadlineMs, Ref) -> ok | {error, busy}
 *       later, to the caller: {s2s_trust_dane, Ref, Lookup}, at the latest
 *       about DeadlineMs from now (normal scheduler: only queues; the lookup
 *       runs on the resolver's threads, never on one of the VM's)
 *   dane_verify_nif(Store, Domain, Target | undefined, [Der], [{U, S, M, Data}])
 *       -> {Outcome, Verdict, #{usable, match_depth, match_usage, openssl_code}}
 *       (dirty CPU: a chain verification)
 *
 * Lookup = #{status => secure | insecure | bogus | error, why => binary() | undefined,
 *            srv => boolean(), timeout => boolean(),
 *            targets => [#{host, port, status, records => [{U, S, M, Data}]}]}
 *   timeout: the deadline ended one of its queries (status error: nothing
 *   answered in time; see net/s2s_trust_dnssec.h).
 */
#include <pthread.h>
#include <string.h>

#include <erl_nif.h>

#include "nif/s2s_trust_atoms.h"
#include "nif/s2s_trust_nif_util.h"
#include "core/s2s_trust_dane.h"
#include "net/s2s_trust_dnssec.h"

typedef struct {
    s2s_trust_dnssec_t *resolver;
} dnssec_res_t;

static ErlNifResourceType *dnssec_res_type;

/* Freeing a resolver joins its threads and libunbound's: never on the
 * scheduler (or the resolver thread) that dropped the last reference. A
 * detached thread does it. */
static void *free_resolver(void *arg)
{
    s2s_trust_dnssec_free((s2s_trust_dnssec_t *)arg);
    return NULL;
}

static void dnssec_res_dtor(ErlNifEnv *env, void *obj)
{
    dnssec_res_t *res = obj;
    pthread_t t;

    (void)env;
    if (res->resolver == NULL)
        return;
    if (pthread_create(&t, NULL, free_resolver, res->resolver) == 0)
        pthread_detach(t);
    /* No thread: leak the resolver rather than block a scheduler; this
     * happens only when the process is out of resources anyway. */
    res->resolver = NULL;
}

int s2s_trust_dane_nif_init(ErlNifEnv *env)
{
    ErlNifResourceType *t;

    t = enif_open_resource_type(env, NULL, "s2s_trust_dnssec", dnssec_res_dtor,
                                ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER, NULL);
    if (t == NULL)
        return -1;
    dnssec_res_type = t;
    return 0;
}

/* A path argument: `default` gives NULL, a binary a NUL-terminated copy in buf. */
static int get_path(ErlNifEnv *env, ERL_NIF_TERM term, char *buf, size_t size, const char **out)
{
    if (enif_is_identical(term, ATOM_(default))) {
        *out = NULL;
        return 1;
    }
    *out = buf;
    return s2s_trust_nif_get_cstr(env, term, buf, size, 0);
}

ERL_NIF_TERM s2s_trust_dnssec_open_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (UnboundConf | default, TrustAnchor | default, Threads, MaxQueue) */
    char conf_buf[4096], ta_buf[4096], err[256];
    const char *conf, *ta;
    int threads;
    unsigned max_queue;
    s2s_trust_dnssec_t *r;
    dnssec_res_t *res;
    ERL_NIF_TERM ret;

    (void)argc;
    if (!get_path(env, argv[0], conf_buf, sizeof conf_buf, &conf))
        return EXCP_BADARG_N(env, 0, "expected default or a file name");
    if (!get_path(env, argv[1], ta_buf, sizeof ta_buf, &ta))
        return EXCP_BADARG_N(env, 1, "expected default or a file name");
    if (!enif_get_int(env, argv[2], &threads) || threads < 1 || threads > 16)
        return EXCP_BADARG_N(env, 2, "expected 1..16 threads");
    if (!enif_get_uint(env, argv[3], &max_queue) || max_queue < 1 || max_queue > 100000)
        return EXCP_BADARG_N(env, 3, "expected a queue bound of 1..100000");

    err[0] = '\0';
    r = s2s_trust_dnssec_new(conf, ta, threads, max_queue, err, sizeof err);
    if (r == NULL)
        return enif_make_tuple2(env, ATOM_(error), s2s_trust_make_str(env, err));
    res = enif_alloc_resource(dnssec_res_type, sizeof *res);
    if (res == NULL) {
        s2s_trust_dnssec_free(r);
        return EXCP_ERROR(env, "enif_alloc_resource failed");
    }
    res->resolver = r;
    ret = enif_make_tuple2(env, ATOM_(ok), enif_make_resource(env, res));
    enif_release_resource(res);
    return ret;
}

/* ---- lookups --------------------------------------------------------------- */

/* What travels with one lookup to the resolver thread and back. */
typedef struct {
    ErlNifPid pid;
    ErlNifEnv *msg_env; /* holds the caller's Ref, then the reply */
    ERL_NIF_TERM ref;
    dnssec_res_t *res;  /* kept alive until the reply is sent */
} lookup_job_t;

static ERL_NIF_TERM status_atom(ErlNifEnv *env, s2s_trust_dnssec_status_t s)
{
    return enif_make_atom(env, s2s_trust_dnssec_status_name(s));
}

static ERL_NIF_TERM records_term(ErlNifEnv *env, const s2s_trust_dane_target_t *t)
{
    ERL_NIF_TERM list = enif_make_list(env, 0);
    size_t i = t->n_records;

    while (i-- > 0) {
        const s2s_trust_tlsa_t *r = &t->records[i];
        ERL_NIF_TERM rec = enif_make_tuple4(env, enif_make_uint(env, r->usage),
                                            enif_make_uint(env, r->selector),
                                            enif_make_uint(env, r->mtype),
                                            s2s_trust_make_binary(env, r->data, r->len));
        list = enif_make_list_cell(env, rec, list);
    }
    return list;
}

static ERL_NIF_TERM lookup_term(ErlNifEnv *env, const s2s_trust_dane_lookup_t *l)
{
    ERL_NIF_TERM targets = enif_make_list(env, 0);
    ERL_NIF_TERM keys[5], values[5];
    size_t i = l->n_targets;

    while (i-- > 0) {
        const s2s_trust_dane_target_t *t = &l->targets[i];
        keys[0] = enif_make_atom(env, "host");
        values[0] = s2s_trust_make_str(env, t->host);
        keys[1] = enif_make_atom(env, "port");
        values[1] = enif_make_uint(env, t->port);
        keys[2] = enif_make_atom(env, "status");
        values[2] = status_atom(env, t->status);
        keys[3] = enif_make_atom(env, "records");
        values[3] = records_term(env, t);
        targets = enif_make_list_cell(env, s2s_trust_make_map(env, keys, values, 4), targets);
    }
    keys[0] = enif_make_atom(env, "status");
    values[0] = status_atom(env, l->status);
    keys[1] = enif_make_atom(env, "why");
    values[1] = s2s_trust_make_str_or_undef(env, l->why);
    keys[2] = enif_make_atom(env, "srv");
    values[2] = s2s_trust_make_bool(l->srv_found != 0);
    keys[3] = enif_make_atom(env, "targets");
    values[3] = targets;
    keys[4] = enif_make_atom(env, "timeout");
    values[4] = s2s_trust_make_bool(l->timed_out != 0);
    return s2s_trust_make_map(env, keys, values, 5);
}

/* On a resolver thread: send {s2s_trust_dane, Ref, Lookup} and let go. */
static void lookup_done(void *arg, const s2s_trust_dane_lookup_t *result)
{
    lookup_job_t *job = arg;
    ErlNifEnv *env = job->msg_env;
    ERL_NIF_TERM msg = enif_make_tuple3(env, enif_make_atom(env, "s2s_trust_dane"), job->ref,
                                        lookup_term(env, result));

    /* A caller that has gone simply gets nothing. */
    (void)enif_send(NULL, &job->pid, env, msg);
    enif_free_env(env);
    enif_release_resource(job->res);
    enif_free(job);
}

ERL_NIF_TERM s2s_trust_dane_lookup_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Resolver, Domain, Port, DeadlineMs, Ref) */
    dnssec_res_t *res;
    ErlNifBinary domain;
    unsigned port, deadline_ms;
    lookup_job_t *job;

    (void)argc;
    if (!enif_get_resource(env, argv[0], dnssec_res_type, (void **)&res) || res->resolver == NULL)
        return EXCP_BADARG_N(env, 0, "expected a resolver");
    if (!enif_inspect_binary(env, argv[1], &domain))
        return EXCP_BADARG_N(env, 1, "expected a binary domain");
    if (!enif_get_uint(env, argv[2], &port) || port < 1 || port > 65535)
        return EXCP_BADARG_N(env, 2, "expected a port");
    if (!enif_get_uint(env, argv[3], &deadline_ms) || deadline_ms < 1 ||
        deadline_ms > S2S_TRUST_DNSSEC_MAX_DEADLINE_MS)
        return EXCP_BADARG_N(env, 3, "expected a deadline of 1..600000 ms");
    if (!enif_is_ref(env, argv[4]))
        return EXCP_BADARG_N(env, 4, "expected a reference");

    job = enif_alloc(sizeof *job);
    if (job == NULL)
        return EXCP_ERROR(env, "enif_alloc failed");
    job->msg_env = enif_alloc_env();
    if (job->msg_env == NULL) {
        enif_free(job);
        return EXCP_ERROR(env, "enif_alloc_env failed");
    }
    enif_self(env, &job->pid);
    job->ref = enif_make_copy(job->msg_env, argv[4]);
    job->res = res;
    enif_keep_resource(res);
    if (s2s_trust_dnssec_submit(res->resolver, (const char *)domain.data, domain.size,
                                (uint16_t)port, deadline_ms, lookup_done, job) != 0) {
        enif_release_resource(res);
        enif_free_env(job->msg_env);
        enif_free(job);
        return enif_make_tuple2(env, ATOM_(error), enif_make_atom(env, "busy"));
    }
    return ATOM_(ok);
}

/* ---- the match --------------------------------------------------------------- */

/* [{U, S, M, Data}] -> records borrowing the binaries; at most
 * S2S_TRUST_TLSA_MAX_RECORDS (more are ignored, as the core would). */
static int get_records(ErlNifEnv *env, ERL_NIF_TERM list, s2s_trust_tlsa_t *recs, size_t *n)
{
    ERL_NIF_TERM head, tail = list;
    const ERL_NIF_TERM *tuple;
    int arity;
    unsigned u, s, m;
    ErlNifBinary data;

    *n = 0;
    if (!enif_is_list(env, list))
        return 0;
    while (enif_get_list_cell(env, tail, &head, &tail)) {
        if (!enif_get_tuple(env, head, &arity, &tuple) || arity != 4 ||
            !enif_get_uint(env, tuple[0], &u) || u > 255 || !enif_get_uint(env, tuple[1], &s) ||
            s > 255 || !enif_get_uint(env, tuple[2], &m) || m > 255 ||
            !enif_inspect_binary(env, tuple[3], &data))
            return 0;
        if (*n < S2S_TRUST_TLSA_MAX_RECORDS) {
            recs[*n].usage = (uint8_t)u;
            recs[*n].selector = (uint8_t)s;
            recs[*n].mtype = (uint8_t)m;
            recs[*n].data = data.data;
            recs[*n].len = data.size;
            (*n)++;
        }
    }
    return enif_is_empty_list(env, tail);
}

ERL_NIF_TERM s2s_trust_dane_verify_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Store, Domain, Target | undefined, [Der], [{U, S, M, Data}]) */
    const s2s_trust_store_t *store;
    ErlNifBinary domain, target;
    char target_buf[256];
    const char *target_name = NULL;
    s2s_trust_nif_chain_t chain;
    s2s_trust_tlsa_t recs[S2S_TRUST_TLSA_MAX_RECORDS];
    size_t n_recs;
    s2s_trust_dane_result_t out;
    const char *why = NULL;
    ERL_NIF_TERM keys[4], values[4];
    int rc;

    (void)argc;
    if (!s2s_trust_nif_get_store(env, argv[0], &store))
        return EXCP_BADARG_N(env, 0, "expected a store");
    if (!enif_inspect_binary(env, argv[1], &domain))
        return EXCP_BADARG_N(env, 1, "expected a binary domain");
    if (!enif_is_identical(argv[2], ATOM_(undefined))) {
        if (!enif_inspect_binary(env, argv[2], &target) || target.size == 0 ||
            target.size >= sizeof target_buf || memchr(target.data, 0, target.size) != NULL)
            return EXCP_BADARG_N(env, 2, "expected undefined or a host name");
        memcpy(target_buf, target.data, target.size);
        target_buf[target.size] = '\0';
        target_name = target_buf;
    }
    if (s2s_trust_nif_get_chain(env, argv[3], &chain, &why) != 0)
        return EXCP_BADARG_N(env, 3, why);
    if (!get_records(env, argv[4], recs, &n_recs))
        return EXCP_BADARG_N(env, 4, "expected a list of {Usage, Selector, MType, Data}");

    rc = s2s_trust_dane_verify(store, (const char *)domain.data, domain.size, target_name,
                               chain.der, chain.n, recs, n_recs, &out);
    s2s_trust_ssl_err_clear();
    if (rc != 0)
        return EXCP_ERROR(env, "s2s_trust_dane_verify: out of memory");

    keys[0] = enif_make_atom(env, "usable");
    values[0] = enif_make_int(env, out.usable);
    keys[1] = enif_make_atom(env, "match_depth");
    values[1] = enif_make_int(env, out.match_depth);
    keys[2] = enif_make_atom(env, "match_usage");
    values[2] = out.match_depth >= 0 ? enif_make_uint(env, out.match_usage) : ATOM_(undefined);
    keys[3] = enif_make_atom(env, "openssl_code");
    values[3] = enif_make_int(env, out.openssl_code);
    return enif_make_tuple3(env, enif_make_atom(env, s2s_trust_dane_outcome_name(out.outcome)),
                            s2s_trust_verdict_atoms[out.verdict],
                            s2s_trust_make_map(env, keys, values, 4));
}
