/*
 * s2s_trust_nif.c - the NIF library's entry: function table, load, upgrade,
 * unload. Nothing else lives here (OTP crypto.c's shape), so the lifecycle
 * can be read in one screen.
 *
 * Lifecycle facts this file relies on:
 *  - code:load_file of s2s_trust_nif while a version is loaded calls
 *    upgrade(), not load(); the VM dlopen()s the same .so path again and gets
 *    the same handle, so the statics below are shared by both module
 *    versions. Nothing here may therefore be torn down by unload() of the
 *    old version while the new one runs.
 *  - The resource type is reopened with ERL_NIF_RT_TAKEOVER in upgrade, so
 *    stores made by the old version keep working (and get the new
 *    destructor) after the old code is purged.
 */
#include <erl_nif.h>

#include "nif/s2s_trust_atoms.h"
#include "nif/s2s_trust_nif_util.h"
#include "core/s2s_trust_verdict.h"

#define S2S_TRUST_ATOM_DEF(name) ERL_NIF_TERM s2s_trust_atom_##name;
S2S_TRUST_ATOMS(S2S_TRUST_ATOM_DEF)
#undef S2S_TRUST_ATOM_DEF

ERL_NIF_TERM s2s_trust_verdict_atoms[S2S_TRUST_VERDICT_COUNT];

/* Written only by the first load of this copy of the library. */
static int atoms_ready;

void s2s_trust_atoms_init(ErlNifEnv *env)
{
    int v;

#define S2S_TRUST_ATOM_MAKE(name) s2s_trust_atom_##name = enif_make_atom(env, #name);
    S2S_TRUST_ATOMS(S2S_TRUST_ATOM_MAKE)
#undef S2S_TRUST_ATOM_MAKE

    for (v = 0; v < S2S_TRUST_VERDICT_COUNT; v++)
        s2s_trust_verdict_atoms[v] = enif_make_atom(env, s2s_trust_verdict_name((s2s_trust_verdict_t)v));
    atoms_ready = 1;
}

/* Verification cost is chosen by the remote peer (chain length, key sizes,
 * name constraints), so every verify NIF runs dirty CPU-bound, always; open
 * reads files and runs dirty IO-bound. info and reasons only copy metadata
 * and stay on the normal scheduler. */
static ErlNifFunc nif_funcs[] = {
    {"open_nif", 3, s2s_trust_open_nif, ERL_NIF_DIRTY_JOB_IO_BOUND},
    /* Blocks on the network for up to its total deadline (at most 60 s). */
    {"probe_nif", 6, s2s_trust_probe_nif, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"learn_examine_nif", 2, s2s_trust_learn_examine_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"info_nif", 1, s2s_trust_info_nif, 0},
    {"verify_nif", 3, s2s_trust_verify_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"verify_batch_nif", 2, s2s_trust_verify_batch_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"explain_nif", 3, s2s_trust_explain_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    /* On the normal scheduler when the work is a cache hit or a small
     * leaf's facts, else rescheduled dirty CPU-bound (s2s_trust_verify_nif.c). */
    {"check_nif", 3, s2s_trust_check_nif, 0},
    {"describe_nif", 3, s2s_trust_describe_nif, 0},
    {"reasons_nif", 0, s2s_trust_reasons_nif, 0},
    /* DANE (s2s_trust_dane_nif.c): open reads files; a lookup only queues
     * (the resolver's own threads do the DNS); a match verifies a chain. */
    {"dnssec_open_nif", 4, s2s_trust_dnssec_open_nif, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"dane_lookup_nif", 5, s2s_trust_dane_lookup_nif, 0},
    {"dane_verify_nif", 5, s2s_trust_dane_verify_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    /* POSH (s2s_trust_posh_nif.c): blocks on HTTPS for up to its deadline
     * (at most 60 s). */
    {"posh_fetch_nif", 2, s2s_trust_posh_fetch_nif, ERL_NIF_DIRTY_JOB_IO_BOUND},
    /* CRLs (s2s_trust_crl_nif.c): one plain-http GET, blocking for up to
     * its deadline (at most 120 s). */
    {"crl_fetch_nif", 2, s2s_trust_crl_fetch_nif, ERL_NIF_DIRTY_JOB_IO_BOUND},
};

/* Returning __LINE__ tells which step failed (OTP style); nothing is printed. */
static int load(ErlNifEnv *env, void **priv_data, ERL_NIF_TERM load_info)
{
    (void)load_info;
    s2s_trust_atoms_init(env);
    if (s2s_trust_store_nif_init(env) != 0)
        return __LINE__;
    if (s2s_trust_dane_nif_init(env) != 0)
        return __LINE__;
    *priv_data = NULL;
    return 0;
}

static int upgrade(ErlNifEnv *env, void **priv_data, void **old_priv_data,
                   ERL_NIF_TERM load_info)
{
    (void)old_priv_data;
    (void)load_info;
    /* With the same .so handle the atoms are already made, and verify
     * NIFs of the running version read them on other threads right now:
     * rewriting them, even with equal values, would be a data race. A
     * fresh copy of the library (the file was replaced) starts at 0. */
    if (!atoms_ready)
        s2s_trust_atoms_init(env);
    if (s2s_trust_store_nif_init(env) != 0)
        return __LINE__;
    if (s2s_trust_dane_nif_init(env) != 0)
        return __LINE__;
    *priv_data = NULL;
    return 0;
}

static void unload(ErlNifEnv *env, void *priv_data)
{
    (void)env;
    (void)priv_data;
    /* Nothing to free, and nothing may be: the statics are shared with a
     * newer version of the module (see the top of this file), atoms and
     * resource types belong to the VM, and live stores are released by
     * their destructors when the last term referring to them goes. */
}

ERL_NIF_INIT(s2s_trust_nif, nif_funcs, load, NULL, upgrade, unload)
