/*
 * s2s_trust_nif_util.h - what the NIF glue files share.
 *
 * The rule they follow (docs style 7.4): raise for caller bugs, return
 * values for world events. A wrong Erlang type is a bug in our own Erlang
 * code and raises badarg naming the argument; certificate bytes come from
 * the network and always become a verdict.
 *
 * Exceptions have OTP crypto's shape, so s2s_trust.erl can translate them
 * into error_info the same way crypto.erl's ?nif_call does:
 *   {badarg | error, #{c_file_name, c_file_line_num, c_function_arg_num}, Text}
 * c_function_arg_num is the 0-based argv index (-1: no argument), as in
 * crypto; the Erlang side adds 1.
 */
#ifndef S2S_TRUST_NIF_UTIL_H
#define S2S_TRUST_NIF_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <erl_nif.h>

#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

/* ---- exceptions -------------------------------------------------------- */

ERL_NIF_TERM s2s_trust_raise(ErlNifEnv *env, ERL_NIF_TERM id, int arg_num,
                             const char *text, const char *file, int line);

#define S2S_TRUST_EXCP(env, id, n, text) \
    s2s_trust_raise((env), (id), (n), (text), __FILE__, __LINE__)
/* A caller bug in argument n (argv index). */
#define EXCP_BADARG_N(env, n, text) S2S_TRUST_EXCP((env), s2s_trust_atom_badarg, (n), (text))
/* Something that should not happen (out of memory); drains OpenSSL's queue into the text. */
#define EXCP_ERROR(env, text) S2S_TRUST_EXCP((env), s2s_trust_atom_error, -1, (text))

/* Empty this thread's OpenSSL error queue. Scheduler threads are shared with
 * crypto and fast_tls, whose next call would otherwise read our errors. */
void s2s_trust_ssl_err_clear(void);

/* ---- terms from C data ------------------------------------------------- */

/* A binary holding `len` bytes copied from `data` (data may be NULL if len is 0). */
ERL_NIF_TERM s2s_trust_make_binary(ErlNifEnv *env, const void *data, size_t len);
/* A binary of a NUL-terminated string; `undefined` for NULL. */
ERL_NIF_TERM s2s_trust_make_str(ErlNifEnv *env, const char *s);
/* The same, but "" also gives `undefined`: for fixed buffers whose "unknown" is "". */
ERL_NIF_TERM s2s_trust_make_str_or_undef(ErlNifEnv *env, const char *s);
ERL_NIF_TERM s2s_trust_make_bool(bool b);
/* A map from parallel arrays of keys and values (keys are distinct atoms).
 * Not const: enif_make_map_from_arrays is not declared const-correct. */
ERL_NIF_TERM s2s_trust_make_map(ErlNifEnv *env, ERL_NIF_TERM *keys,
                                ERL_NIF_TERM *values, size_t n);

/* ---- strings ------------------------------------------------------------ */

/* A copy of a binary argument as a C string in out (max bytes with the
 * NUL): no NUL inside, at least one byte unless allow_empty. 1, or 0 when
 * the term is not such a binary. */
int s2s_trust_nif_get_cstr(ErlNifEnv *env, ERL_NIF_TERM term, char *out, size_t max,
                           int allow_empty);

/* ---- a presented chain: [Der] ---------------------------------------------- */

/*
 * How many certificates are handed to the core, at most.
 *
 * A peer may present any number of certificates; the core refuses more
 * than the store's max_chain_certs, which a configuration can only lower
 * below S2S_TRUST_MAX_CHAIN_CERTS_CEILING. Passing the first CEILING + 1
 * entries therefore gets exactly the verdict the whole list would
 * (too_long), while the array lives on the C stack: nothing we allocate
 * grows with what the peer sent. The rest of the list is only type-checked.
 * explain reports the real count in `presented`.
 */
#define S2S_TRUST_NIF_CHAIN_PASS_MAX (S2S_TRUST_MAX_CHAIN_CERTS_CEILING + 1)

typedef struct {
    s2s_trust_der_t der[S2S_TRUST_NIF_CHAIN_PASS_MAX];
    size_t n;           /* entries filled in der[] */
    unsigned presented; /* length of the Erlang list */
} s2s_trust_nif_chain_t;

/* Decode a proper list of binaries, borrowed for the call. 0 on success;
 * otherwise -1 with *why set. */
int s2s_trust_nif_get_chain(ErlNifEnv *env, ERL_NIF_TERM list, s2s_trust_nif_chain_t *chain,
                            const char **why);

/* ---- the store resource (s2s_trust_store_nif.c) ------------------------ */

/* Open (or take over, on upgrade) the "s2s_trust_store" resource type. 0 on success. */
int s2s_trust_store_nif_init(ErlNifEnv *env);

/* The store a term refers to, borrowed: valid while the term is alive,
 * which a NIF argument is for the whole call. 0 if the term is not a store. */
int s2s_trust_nif_get_store(ErlNifEnv *env, ERL_NIF_TERM term,
                            const s2s_trust_store_t **store);

/* ---- the DNSSEC resolver resource (s2s_trust_dane_nif.c) ---------------- */

/* Open (or take over, on upgrade) the "s2s_trust_dnssec" resource type. 0 on success. */
int s2s_trust_dane_nif_init(ErlNifEnv *env);

/* ---- NIF entry points, for the table in s2s_trust_nif.c ----------------- */

ERL_NIF_TERM s2s_trust_open_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_info_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_verify_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_verify_batch_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_explain_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_check_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_describe_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_reasons_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_probe_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_learn_examine_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_dnssec_open_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_dane_lookup_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_dane_verify_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_posh_fetch_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
ERL_NIF_TERM s2s_trust_crl_fetch_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);

/* Longest batch one verify_batch_nif call accepts. s2s_trust.erl sends
 * chunks of 16; the cap stops a direct caller from pinning a dirty
 * scheduler (and itself, unsuspendable and un-GC-able) for long. */
#define S2S_TRUST_NIF_MAX_BATCH 64

#endif
