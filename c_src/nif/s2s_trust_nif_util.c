/* s2s_trust_util_nif.c - see s2s_trust_nif_util.h */
#include "nif/s2s_trust_nif_util.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "nif/s2s_trust_atoms.h"

ERL_NIF_TERM s2s_trust_raise(ErlNifEnv *env, ERL_NIF_TERM id, int arg_num,
                             const char *text, const char *file, int line)
{
    /* Fixed size: raising must not itself need memory that may be gone. */
    char buf[512];
    char ossl[256];
    unsigned long code;
    size_t used;
    ERL_NIF_TERM keys[3], values[3], info;

    snprintf(buf, sizeof buf, "%s", text ? text : "");
    /* Whatever OpenSSL queued explains an internal error; for a badarg it
     * is unrelated noise. Either way the queue is emptied, never left for
     * the next NIF on this scheduler thread. */
    while ((code = ERR_get_error()) != 0) {
        if (!enif_is_identical(id, ATOM_(error)))
            continue;
        used = strlen(buf);
        if (used + 3 >= sizeof buf)
            continue;
        ERR_error_string_n(code, ossl, sizeof ossl);
        snprintf(buf + used, sizeof buf - used, ": %s", ossl);
    }

    keys[0] = ATOM_(c_file_name);
    values[0] = enif_make_string(env, file, ERL_NIF_LATIN1);
    keys[1] = ATOM_(c_file_line_num);
    values[1] = enif_make_int(env, line);
    keys[2] = ATOM_(c_function_arg_num);
    values[2] = enif_make_int(env, arg_num);
    info = s2s_trust_make_map(env, keys, values, 3);
    return enif_raise_exception(env, enif_make_tuple3(env, id, info,
                                                      enif_make_string(env, buf, ERL_NIF_LATIN1)));
}

void s2s_trust_ssl_err_clear(void)
{
    ERR_clear_error();
}

ERL_NIF_TERM s2s_trust_make_binary(ErlNifEnv *env, const void *data, size_t len)
{
    ERL_NIF_TERM term;
    unsigned char *p = enif_make_new_binary(env, len, &term);

    if (len > 0)
        memcpy(p, data, len);
    return term;
}

ERL_NIF_TERM s2s_trust_make_str(ErlNifEnv *env, const char *s)
{
    if (s == NULL)
        return ATOM_(undefined);
    return s2s_trust_make_binary(env, s, strlen(s));
}

ERL_NIF_TERM s2s_trust_make_str_or_undef(ErlNifEnv *env, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return ATOM_(undefined);
    return s2s_trust_make_binary(env, s, strlen(s));
}

ERL_NIF_TERM s2s_trust_make_bool(bool b)
{
    return b ? ATOM_(true) : ATOM_(false);
}

ERL_NIF_TERM s2s_trust_make_map(ErlNifEnv *env, ERL_NIF_TERM *keys,
                                ERL_NIF_TERM *values, size_t n)
{
    ERL_NIF_TERM map;

    /* Fails only on duplicate keys, which our fixed key lists never have. */
    if (!enif_make_map_from_arrays(env, keys, values, n, &map))
        map = enif_make_new_map(env);
    return map;
}

int s2s_trust_nif_get_chain(ErlNifEnv *env, ERL_NIF_TERM list, s2s_trust_nif_chain_t *chain,
                            const char **why)
{
    ERL_NIF_TERM head, tail = list;
    ErlNifBinary bin;
    unsigned i;

    chain->n = 0;
    if (!enif_get_list_length(env, list, &chain->presented)) {
        *why = "expected a proper list of DER binaries";
        return -1;
    }
    for (i = 0; enif_get_list_cell(env, tail, &head, &tail); i++) {
        if (i < S2S_TRUST_NIF_CHAIN_PASS_MAX) {
            if (!enif_inspect_binary(env, head, &bin)) {
                *why = "expected a list of binaries (DER certificates)";
                return -1;
            }
            chain->der[i].data = bin.data;
            chain->der[i].len = bin.size;
            chain->n++;
        } else if (!enif_is_binary(env, head)) {
            *why = "expected a list of binaries (DER certificates)";
            return -1;
        }
    }
    return 0;
}

int s2s_trust_nif_get_cstr(ErlNifEnv *env, ERL_NIF_TERM term, char *out, size_t max,
                           int allow_empty)
{
    ErlNifBinary bin;

    if (!enif_inspect_binary(env, term, &bin) || bin.size >= max ||
        (bin.size == 0 && !allow_empty) || memchr(bin.data, '\0', bin.size) != NULL)
        return 0;
    memcpy(out, bin.data, bin.size);
    out[bin.size] = '\0';
    return 1;
}
