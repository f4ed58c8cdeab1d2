/*
 * s2s_trust_probe_nif.c - glue for the s2s probe (s2s_trust_probe.h) and for
 * judging what a probe brought back (s2s_trust_learn.h). Terms in, terms out.
 *
 * Status and fate atoms are made per call with enif_make_atom: a probe costs
 * a network round trip, so the atom-table lookup is noise, and the names
 * stay owned by the core.
 */
#include <string.h>

#include <erl_nif.h>

#include "nif/s2s_trust_atoms.h"
#include "core/s2s_trust_learn.h"
#include "nif/s2s_trust_nif_util.h"
#include "net/s2s_trust_probe.h"

static ERL_NIF_TERM probe_info(ErlNifEnv *env, const s2s_trust_probe_result_t *r)
{
    ERL_NIF_TERM k[8], v[8];
    size_t n = 0;

    k[n] = ATOM_(stage), v[n++] = enif_make_atom(env, r->stage != NULL ? r->stage : "none");
    k[n] = ATOM_(detail), v[n++] = s2s_trust_make_str(env, r->detail);
    k[n] = ATOM_(tls_version), v[n++] = s2s_trust_make_str_or_undef(env, r->tls_version);
    k[n] = ATOM_(cipher), v[n++] = s2s_trust_make_str_or_undef(env, r->cipher);
    k[n] = ATOM_(alpn), v[n++] = s2s_trust_make_str_or_undef(env, r->alpn);
    k[n] = ATOM_(starttls_offered), v[n++] = s2s_trust_make_bool(r->starttls_offered != 0);
    k[n] = ATOM_(starttls_required), v[n++] = s2s_trust_make_bool(r->starttls_required != 0);
    k[n] = ATOM_(elapsed_ms), v[n++] = enif_make_uint(env, r->elapsed_ms);
    return s2s_trust_make_map(env, k, v, n);
}

ERL_NIF_TERM s2s_trust_probe_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Domain :: binary(), From :: binary(), Address :: binary(), Port, Mode, TotalMs) */
    char domain[256], from[256], address[64];
    unsigned port, total_ms;
    s2s_trust_probe_request_t req;
    s2s_trust_probe_result_t res;
    ERL_NIF_TERM chain, info, ret;

    (void)argc;
    if (!s2s_trust_nif_get_cstr(env, argv[0], domain, sizeof domain, 0))
        return EXCP_BADARG_N(env, 0, "expected a domain binary of 1..255 bytes without NUL");
    if (!s2s_trust_nif_get_cstr(env, argv[1], from, sizeof from, 1))
        return EXCP_BADARG_N(env, 1, "expected our domain as a binary of 0..255 bytes without NUL");
    if (!s2s_trust_nif_get_cstr(env, argv[2], address, sizeof address, 0))
        return EXCP_BADARG_N(env, 2, "expected a numeric address binary");
    if (!enif_get_uint(env, argv[3], &port) || port == 0 || port > 65535)
        return EXCP_BADARG_N(env, 3, "expected a port 1..65535");
    if (!enif_is_identical(argv[4], ATOM_(starttls)) && !enif_is_identical(argv[4], ATOM_(direct_tls)))
        return EXCP_BADARG_N(env, 4, "expected starttls or direct_tls");
    if (!enif_get_uint(env, argv[5], &total_ms) || total_ms == 0 ||
        total_ms > S2S_TRUST_PROBE_TOTAL_MS_MAX)
        return EXCP_BADARG_N(env, 5, "expected a total deadline of 1..60000 ms");

    memset(&req, 0, sizeof req);
    req.domain = domain;
    req.from = from;
    req.address = address;
    req.port = (uint16_t)port;
    req.mode = enif_is_identical(argv[4], ATOM_(direct_tls)) ? S2S_TRUST_TLS_MODE_DIRECT_TLS
                                                              : S2S_TRUST_TLS_MODE_STARTTLS;
    /* Connect and handshake each get at most the whole budget. */
    req.connect_ms = total_ms < S2S_TRUST_PROBE_CONNECT_MS_DEFAULT ? total_ms
                                                                   : S2S_TRUST_PROBE_CONNECT_MS_DEFAULT;
    req.handshake_ms = total_ms < S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT
                           ? total_ms
                           : S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT;
    req.total_ms = total_ms;

    s2s_trust_ssl_err_clear();
    (void)s2s_trust_probe_run(&req, &res);
    info = probe_info(env, &res);
    if (res.status == S2S_TRUST_PROBE_OK) {
        chain = enif_make_list(env, 0);
        for (size_t i = res.chain_count; i > 0; i--)
            chain = enif_make_list_cell(
                env, s2s_trust_make_binary(env, res.chain[i - 1].data, res.chain[i - 1].len), chain);
        ret = enif_make_tuple3(env, ATOM_(ok), chain, info);
    } else {
        ret = enif_make_tuple3(env, ATOM_(error),
                               enif_make_atom(env, s2s_trust_probe_status_name(res.status)), info);
    }
    s2s_trust_probe_result_free(&res);
    s2s_trust_ssl_err_clear();
    return ret;
}

ERL_NIF_TERM s2s_trust_learn_examine_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{/* (Store, Chain :: [binary()]) */
    const s2s_trust_store_t *store;
    s2s_trust_der_t der[S2S_TRUST_LEARN_MAX_CHAIN];
    s2s_trust_learn_item_t items[S2S_TRUST_LEARN_MAX_CHAIN];
    ERL_NIF_TERM list, head, out;
    ErlNifBinary bin;
    unsigned len;
    size_t n = 0;

    (void)argc;
    if (!s2s_trust_nif_get_store(env, argv[0], &store))
        return EXCP_BADARG_N(env, 0, "expected a store");
    if (!enif_get_list_length(env, argv[1], &len) || len == 0 || len > S2S_TRUST_LEARN_MAX_CHAIN)
        return EXCP_BADARG_N(env, 1, "expected a list of 1..16 DER binaries");
    list = argv[1];
    while (enif_get_list_cell(env, list, &head, &list)) {
        if (!enif_inspect_binary(env, head, &bin))
            return EXCP_BADARG_N(env, 1, "expected a list of 1..16 DER binaries");
        der[n].data = bin.data;
        der[n].len = bin.size;
        n++;
    }
    s2s_trust_ssl_err_clear();
    if (s2s_trust_learn_examine(store, der, n, items) != 0)
        return EXCP_ERROR(env, "s2s_trust_learn_examine failed");
    out = enif_make_list(env, 0);
    for (size_t i = n; i > 0; i--) {
        ERL_NIF_TERM fate = enif_make_atom(env, s2s_trust_learn_fate_name(items[i - 1].fate));
        ERL_NIF_TERM code = enif_make_int(env, items[i - 1].openssl_code);
        ERL_NIF_TERM text = items[i - 1].openssl_code != 0
                                ? s2s_trust_make_str(env, X509_verify_cert_error_string(
                                                              items[i - 1].openssl_code))
                                : ATOM_(undefined);
        out = enif_make_list_cell(env, enif_make_tuple3(env, fate, code, text), out);
    }
    return out;
}
