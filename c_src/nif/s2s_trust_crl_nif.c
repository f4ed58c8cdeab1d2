/*
 * s2s_trust_crl_nif.c - one plain-http GET of a CRL in the VM: the GET of
 * net/s2s_trust_http.h (plain_http, its head and body bounds), its result
 * as terms. Terms in, terms out; redirects, the deadline across them and
 * what a failure is called are mod_s2s_trust_crl_fetch's.
 *
 *   crl_fetch_nif(Url, #{timeout := 1..120000, max_bytes := 1..104857600})
 *       -> {ok, Body}
 *        | {error, #{status := Status, cause := Cause, errno := Errno,
 *                    code := HttpCode, location := Location, why := Why}}
 *   (dirty IO: it blocks on the network, for at most `timeout` ms)
 *
 * Status is s2s_trust_http_status_name's atom (timeout, too_large,
 * redirect, http_status, connect_failed, failed, bad_url, internal, ...),
 * Cause s2s_trust_http_cause_name's (none, resolve, connect, empty,
 * bad_answer, truncated, line_too_long, too_many_headers, io), Errno the
 * POSIX name (econnrefused, ...), an integer for one without a name, or
 * undefined; Location (a redirect's) a binary, whole as sent, or
 * undefined (none), too_long, bad; Why libcurl's words (they may quote
 * the server: escape before showing). Url is data (a CA's certificate or a
 * server named it): one that is no URL is {error, #{status := bad_url}},
 * never badarg. Opts are ours: badarg.
 */
#include <stdlib.h>
#include <string.h>

#include <erl_nif.h>

#include "nif/s2s_trust_atoms.h"
#include "nif/s2s_trust_nif_util.h"
#include "net/s2s_trust_http.h"

/* mod_s2s_trust's bounds on crl_fetch_timeout and crl_max_size. */
#define CRL_MAX_TIMEOUT_MS 120000u
#define CRL_MAX_BYTES (100u * 1024 * 1024)
/* Longer than any URL mod_s2s_trust_crl_check:validate_url/1 passes. */
#define CRL_MAX_URL 4096

static ERL_NIF_TERM errno_term(ErlNifEnv *env, const s2s_trust_http_result_t *r)
{
    const char *name = s2s_trust_http_errno_name(r->os_errno);

    if (r->os_errno == 0)
        return ATOM_(undefined);
    return name != NULL ? enif_make_atom(env, name) : enif_make_int(env, r->os_errno);
}

static ERL_NIF_TERM location_term(ErlNifEnv *env, const s2s_trust_http_result_t *r)
{
    switch (r->loc) {
    case S2S_TRUST_HTTP_LOC_OK: return s2s_trust_make_str(env, r->location);
    case S2S_TRUST_HTTP_LOC_TOO_LONG: return enif_make_atom(env, "too_long");
    case S2S_TRUST_HTTP_LOC_BAD: return enif_make_atom(env, "bad");
    default: return ATOM_(undefined);
    }
}

static ERL_NIF_TERM error_term(ErlNifEnv *env, const s2s_trust_http_result_t *r)
{
    ERL_NIF_TERM keys[6], values[6];

    keys[0] = enif_make_atom(env, "status");
    values[0] = enif_make_atom(env, s2s_trust_http_status_name(r->status));
    keys[1] = enif_make_atom(env, "cause");
    values[1] = enif_make_atom(env, s2s_trust_http_cause_name(r->cause));
    keys[2] = enif_make_atom(env, "errno");
    values[2] = errno_term(env, r);
    keys[3] = enif_make_atom(env, "code");
    values[3] = enif_make_long(env, r->code);
    keys[4] = enif_make_atom(env, "location");
    values[4] = location_term(env, r);
    keys[5] = enif_make_atom(env, "why");
    values[5] = s2s_trust_make_str(env, r->why);
    return enif_make_tuple2(env, ATOM_(error), s2s_trust_make_map(env, keys, values, 6));
}

/* 0, or a text saying what is wrong with Opts. */
static const char *get_opts(ErlNifEnv *env, ERL_NIF_TERM map, s2s_trust_http_opts_t *o)
{
    ERL_NIF_TERM v;
    unsigned u;

    memset(o, 0, sizeof *o);
    if (!enif_is_map(env, map))
        return "expected a map";
    if (!enif_get_map_value(env, map, enif_make_atom(env, "timeout"), &v) || !enif_get_uint(env, v, &u) ||
        u < 1 || u > CRL_MAX_TIMEOUT_MS)
        return "timeout: expected 1..120000 ms";
    o->timeout_ms = u;
    if (!enif_get_map_value(env, map, enif_make_atom(env, "max_bytes"), &v) || !enif_get_uint(env, v, &u) ||
        u < 1 || u > CRL_MAX_BYTES)
        return "max_bytes: expected 1..104857600";
    o->max_body = u;
    o->plain_http = 1;
    return NULL;
}

ERL_NIF_TERM s2s_trust_crl_fetch_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Url, Opts) */
    ErlNifBinary url;
    s2s_trust_http_opts_t opts;
    s2s_trust_http_result_t *r = NULL;
    char *curl = NULL;
    const char *bad;
    ERL_NIF_TERM ret;

    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &url))
        return EXCP_BADARG_N(env, 0, "expected a binary URL");
    if ((bad = get_opts(env, argv[1], &opts)) != NULL)
        return EXCP_BADARG_N(env, 1, bad);
    if ((r = enif_alloc(sizeof *r)) == NULL || (curl = enif_alloc(CRL_MAX_URL + 1)) == NULL) {
        ret = EXCP_ERROR(env, "enif_alloc failed");
        goto done;
    }
    memset(r, 0, sizeof *r);
    /* The URL is data: one libcurl could not even be given is a refusal. */
    if (url.size == 0 || url.size > CRL_MAX_URL || memchr(url.data, 0, url.size) != NULL) {
        r->status = S2S_TRUST_HTTP_BAD_URL;
        strcpy(r->why, "not a URL (empty, longer than 4096 bytes, or with a NUL byte)");
        ret = error_term(env, r);
        goto done;
    }
    memcpy(curl, url.data, url.size);
    curl[url.size] = '\0';
    s2s_trust_http_get(curl, &opts, r);
    s2s_trust_ssl_err_clear();
    if (r->status == S2S_TRUST_HTTP_OK)
        ret = enif_make_tuple2(env, ATOM_(ok), s2s_trust_make_binary(env, r->body, r->len));
    else
        ret = error_term(env, r);
    s2s_trust_http_result_clear(r);
done:
    if (r != NULL)
        enif_free(r);
    if (curl != NULL)
        enif_free(curl);
    return ret;
}
