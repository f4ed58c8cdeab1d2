/*
 * s2s_trust_atoms.h - every atom the NIF glue returns, in one list.
 *
 * One X-macro list so that declaration, definition and creation cannot
 * drift apart: adding an atom is one line here. All of them are created in
 * load() (the erl_nif manual's advice), so no NIF looks an atom up in the
 * VM's atom table on a hot path.
 *
 * Verdict atoms are not listed here: their names belong to the core
 * (s2s_trust_verdict.h) and are made into s2s_trust_verdict_atoms[] in load,
 * indexed by s2s_trust_verdict_t.
 */
#ifndef S2S_TRUST_ATOMS_H
#define S2S_TRUST_ATOMS_H

#include <erl_nif.h>

#include "core/s2s_trust_verdict.h"

#define S2S_TRUST_ATOMS(ATOM)   \
    ATOM(ok)                    \
    ATOM(error)                 \
    ATOM(badarg)                \
    ATOM(undefined)             \
    ATOM(true)                  \
    ATOM(false)                 \
    ATOM(default)               \
    ATOM(config)                \
    /* exception info map (OTP crypto's shape) */ \
    ATOM(c_file_name)           \
    ATOM(c_file_line_num)       \
    ATOM(c_function_arg_num)    \
    /* info/1 */                \
    ATOM(anchors)               \
    ATOM(intermediates)         \
    ATOM(crls)                  \
    ATOM(generation)            \
    ATOM(built_at)              \
    ATOM(sources)               \
    ATOM(policy)                \
    ATOM(crl_check)             \
    ATOM(max_depth)             \
    ATOM(max_chain_certs)       \
    ATOM(max_cert_bytes)        \
    ATOM(security_level)        \
    ATOM(require_server_auth_eku) \
    ATOM(insecure_allow_cn_id)  \
    ATOM(verification_time)     \
    ATOM(verdict_cache)         \
    ATOM(capacity)              \
    ATOM(entries)               \
    ATOM(bytes)                 \
    ATOM(ttl)                   \
    ATOM(hits)                  \
    ATOM(misses)                \
    ATOM(inserts)               \
    ATOM(evictions)             \
    ATOM(expired)               \
    /* explain/3 */             \
    ATOM(reason)                \
    ATOM(domain)                \
    ATOM(depth)                 \
    ATOM(openssl_code)          \
    ATOM(openssl_text)          \
    ATOM(detail)                \
    ATOM(subject)               \
    ATOM(issuer)                \
    ATOM(error_subject)         \
    ATOM(not_before)            \
    ATOM(not_after)             \
    ATOM(matched_by)            \
    ATOM(names)                 \
    ATOM(type)                  \
    ATOM(value)                 \
    ATOM(chain)                 \
    ATOM(presented)             \
    ATOM(known)                 \
    /* probe_nif/6, learn_examine_nif/2 */ \
    ATOM(starttls)              \
    ATOM(direct_tls)            \
    ATOM(stage)                 \
    ATOM(tls_version)           \
    ATOM(cipher)                \
    ATOM(alpn)                  \
    ATOM(starttls_offered)      \
    ATOM(starttls_required)     \
    ATOM(elapsed_ms)

#define S2S_TRUST_ATOM_DECL(name) extern ERL_NIF_TERM s2s_trust_atom_##name;
S2S_TRUST_ATOMS(S2S_TRUST_ATOM_DECL)
#undef S2S_TRUST_ATOM_DECL

/* Short spelling for the glue: ATOM_ok, ATOM_undefined, ... */
#define ATOM_(name) s2s_trust_atom_##name

extern ERL_NIF_TERM s2s_trust_verdict_atoms[S2S_TRUST_VERDICT_COUNT];

/* Create every atom above and the verdict atoms; called from load and upgrade. */
void s2s_trust_atoms_init(ErlNifEnv *env);

#endif
