/*
 * s2s_trust_posh_nif.c - POSH (RFC 7711) in the VM: the procedure of
 * net/s2s_trust_posh_fetch.h for one domain, its result as terms. Terms in,
 * terms out; what a document means for a peer is mod_s2s_trust_posh's.
 *
 *   posh_fetch_nif(Domain, #{cafile := default | Path, resolve := [<<"HOST:PORT:ADDR">>],
 *                            port := 0..65535, timeout := 1..60000})
 *       -> {ok, #{fingerprints := [{sha256 | sha512, Digest}], expires := Secs,
 *                 hop := Url | undefined}}
 *        | {error, Reason, Detail}
 *   (dirty IO: it blocks on the network, for at most `timeout` ms)
 *
 * Reason is s2s_trust_posh_result_error's name (an HTTP status such as
 * http_status, connect_failed, cert_untrusted, timeout, redirect, or a
 * document's: malformed, bad_expires, too_many_hops, bad_url, ...); Detail a
 * binary naming the stage and quoting libcurl or the server (escape it
 * before showing). Domain is the peer's: a name that is not one is
 * {error, bad_url, _}, never badarg. Opts are the operator's: badarg.
 */
#include <stdio.h>
#include <string.h>

#include <erl_nif.h>

#include "nif/s2s_trust_atoms.h"
#include "nif/s2s_trust_nif_util.h"
#include "core/s2s_trust_posh.h"
#include "net/s2s_trust_posh_fetch.h"

#define RESOLVE_MAX_LEN 300
#define PATH_MAX_LEN 4096

typedef struct {
    char cafile[PATH_MAX_LEN];
    char resolve[S2S_TRUST_HTTP_MAX_RESOLVE][RESOLVE_MAX_LEN];
    s2s_trust_posh_fetch_opts_t fetch;
} posh_nif_opts_t;

/* 0, or a text saying what is wrong with Opts. */
static const char *get_opts(ErlNifEnv *env, ERL_NIF_TERM map, posh_nif_opts_t *o)
{
    ERL_NIF_TERM v, head, tail;
    unsigned u;

    memset(o, 0, sizeof *o);
    if (!enif_is_map(env, map))
        return "expected a map";
    if (!enif_get_map_value(env, map, enif_make_atom(env, "cafile"), &v))
        return "cafile missing";
    if (!enif_is_identical(v, ATOM_(default))) {
        if (!s2s_trust_nif_get_cstr(env, v, o->cafile, sizeof o->cafile, 0))
            return "cafile: expected default or a file name";
        o->fetch.cafile = o->cafile;
    }
    if (!enif_get_map_value(env, map, enif_make_atom(env, "resolve"), &v) || !enif_is_list(env, v))
        return "resolve: expected a list";
    tail = v;
    while (enif_get_list_cell(env, tail, &head, &tail)) {
        if (o->fetch.n_resolve == S2S_TRUST_HTTP_MAX_RESOLVE)
            return "resolve: at most 8 entries";
        if (!s2s_trust_nif_get_cstr(env, head, o->resolve[o->fetch.n_resolve], RESOLVE_MAX_LEN, 0))
            return "resolve: expected binaries HOST:PORT:ADDR";
        o->fetch.resolve[o->fetch.n_resolve] = o->resolve[o->fetch.n_resolve];
        o->fetch.n_resolve++;
    }
    if (!enif_get_map_value(env, map, enif_make_atom(env, "port"), &v) || !enif_get_uint(env, v, &u) ||
        u > 65535)
        return "port: expected 0..65535";
    o->fetch.port = (uint16_t)u;
    if (!enif_get_map_value(env, map, enif_make_atom(env, "timeout"), &v) || !enif_get_uint(env, v, &u) ||
        u < 1 || u > S2S_TRUST_POSH_MAX_TIMEOUT_MS)
        return "timeout: expected 1..60000 ms";
    o->fetch.timeout_ms = u;
    return NULL;
}

static ERL_NIF_TERM fingerprints_term(ErlNifEnv *env, const s2s_trust_posh_doc_t *doc)
{
    ERL_NIF_TERM list = enif_make_list(env, 0);
    size_t i = doc->n_fp;

    while (i-- > 0) {
        const s2s_trust_posh_fp_t *fp = &doc->fp[i];
        ERL_NIF_TERM alg = enif_make_atom(env, fp->alg == S2S_TRUST_POSH_SHA512 ? "sha512" : "sha256");
        list = enif_make_list_cell(env, enif_make_tuple2(env, alg, s2s_trust_make_binary(env, fp->digest, fp->len)),
                                   list);
    }
    return list;
}

static ERL_NIF_TERM error_term(ErlNifEnv *env, const char *reason, const char *stage, const char *why)
{
    char detail[400];

    snprintf(detail, sizeof detail, "%s document: %s", stage, why[0] != '\0' ? why : reason);
    return enif_make_tuple3(env, ATOM_(error), enif_make_atom(env, reason), s2s_trust_make_str(env, detail));
}

ERL_NIF_TERM s2s_trust_posh_fetch_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Domain, Opts) */
    ErlNifBinary domain;
    char name[256];
    posh_nif_opts_t *o = NULL;
    s2s_trust_posh_result_t *r = NULL;
    const char *bad;
    ERL_NIF_TERM keys[3], values[3], ret;

    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &domain))
        return EXCP_BADARG_N(env, 0, "expected a binary domain");
    o = enif_alloc(sizeof *o);
    r = enif_alloc(sizeof *r);
    if (o == NULL || r == NULL) {
        ret = EXCP_ERROR(env, "enif_alloc failed");
        goto done;
    }
    if ((bad = get_opts(env, argv[1], o)) != NULL) {
        ret = EXCP_BADARG_N(env, 1, bad);
        goto done;
    }
    /* The peer's name: data, so a refusal, not badarg. */
    if (domain.size == 0 || domain.size >= sizeof name || memchr(domain.data, 0, domain.size) != NULL) {
        ret = error_term(env, "bad_url", "domain", "not a host name (an A-label domain)");
        goto done;
    }
    memcpy(name, domain.data, domain.size);
    name[domain.size] = '\0';

    memset(r, 0, sizeof *r);
    s2s_trust_posh_fetch(name, &o->fetch, r);
    s2s_trust_ssl_err_clear();
    if (!r->ok) {
        ret = error_term(env, r->n_urls == 0 ? "bad_url" : s2s_trust_posh_result_error(r),
                         s2s_trust_posh_stage_name(r->stage),
                         r->n_urls == 0 ? "not a host name (an A-label domain)" : r->why);
        goto done;
    }
    keys[0] = enif_make_atom(env, "fingerprints");
    values[0] = fingerprints_term(env, &r->doc);
    keys[1] = enif_make_atom(env, "expires");
    values[1] = enif_make_uint(env, r->doc.expires);
    keys[2] = enif_make_atom(env, "hop");
    values[2] = r->n_urls > 1 ? s2s_trust_make_str(env, r->url[1]) : ATOM_(undefined);
    ret = enif_make_tuple2(env, ATOM_(ok), s2s_trust_make_map(env, keys, values, 3));
done:
    if (o != NULL)
        enif_free(o);
    if (r != NULL)
        enif_free(r);
    return ret;
}
