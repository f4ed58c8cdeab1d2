/*
 * dane_posh.h - what a domain publishes to vouch for its s2s certificate,
 * DNSSEC-signed TLSA records (RFC 7673) and a POSH document (RFC 7711),
 * and what that says of one chain: the one evaluation the commands `dane`,
 * `posh`, `probe` and `check` share, so the four never disagree.
 *
 * Two steps, because a command may judge several chains against what it
 * found once: cli_vouch_find (the lookup and the fetch, network) and
 * cli_vouch_judge (the match and the decision, no network). The decision
 * is the module's with `dane: opportunistic` and `posh: on` (docs/dane.md):
 *   1. a bogus DNSSEC answer refuses (dnssec_bogus);
 *   2. a chain matching a usable secure TLSA record is accepted (dane_ee,
 *      dane_ta, or pkix for the PKIX usages); usable records none of which
 *      match refuse (dane_mismatch, or the reason a matched chain failed);
 *   3. otherwise PKIX decides; a PKIX refusal POSH can cure (name_mismatch,
 *      self_signed, unknown_issuer) is accepted by a POSH fingerprint of the
 *      leaf (the leaf within its validity period) and refused as
 *      posh_mismatch by a document none of whose fingerprints match.
 * DNS that gives no answer and a POSH document that cannot be had change
 * nothing: PKIX decides, as in the module.
 *
 * Printing is dane_posh_out.h's; errors the user made (a file named by an
 * option that cannot be read) are said on stderr here, and the caller
 * exits 2.
 */
#ifndef S2S_TRUST_CLI_DANE_POSH_H
#define S2S_TRUST_CLI_DANE_POSH_H

#include <stddef.h>
#include <stdint.h>

#include "cli/chain_file.h"
#include "cli/cli.h"
#include "core/s2s_trust_dane.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"
#include "net/s2s_trust_dnssec.h"
#include "net/s2s_trust_posh_fetch.h"

#define CLI_DANE_TIMEOUT_MS_DEFAULT 5000  /* the module's dane_timeout default */
#define CLI_POSH_TIMEOUT_MS_DEFAULT 10000
#define CLI_TLSA_MAX_GIVEN 16             /* check --tlsa, repeated */

/* How to look up TLSA records (dane --unbound-conf ... --timeout). */
typedef struct {
    const char *unbound_conf, *trust_anchor; /* NULL: libunbound's defaults, the system's root key */
    unsigned timeout_ms;
} cli_dane_opts_t;

/* ---- DANE: the match against a lookup's targets --------------------------------- */

typedef enum {
    CLI_DANE_NO_RECORDS, /* no usable secure record judged: PKIX decides */
    CLI_DANE_ACCEPTED,   /* `by`: dane_ee, dane_ta or pkix */
    CLI_DANE_REFUSED     /* `by`: dane_mismatch or the verdict of a chain that matched and failed */
} cli_dane_said_t;

typedef struct {
    int have[S2S_TRUST_DANE_MAX_TARGETS]; /* res[i] was computed */
    s2s_trust_dane_result_t res[S2S_TRUST_DANE_MAX_TARGETS];
    cli_dane_said_t said;
    const char *by;     /* as above; NULL with NO_RECORDS */
    const char *target; /* the target whose records decided, or NULL */
} cli_dane_match_t;

/* Parse "U S M HEX" (a TLSA record's presentation form, as `dig` prints it;
 * the hex may hold blanks) into *rec, its data malloc'd. 0, or -1. */
int cli_tlsa_parse(const char *text, s2s_trust_tlsa_t *rec);

/* The target of l whose host (no case, no trailing dot) and port are
 * these, or -1. */
int cli_dane_find_target(const s2s_trust_dane_lookup_t *l, const char *host, uint16_t port);

/* Match the chain against the secure records of target `only`, or of every
 * target when `only` is -1 (any target's match accepts, as `dane` says),
 * and say what DANE decides. 0, or -1 when memory runs out. */
int cli_dane_match(const s2s_trust_store_t *store, const char *domain, const s2s_trust_dane_lookup_t *l, int only,
                   const s2s_trust_der_t *chain, size_t n, cli_dane_match_t *m);

/* A resolver for o; NULL after saying why on stderr. */
s2s_trust_dnssec_t *cli_dane_resolver(const cli_dane_opts_t *o, char *err, size_t errlen);

/* ---- POSH --------------------------------------------------------------------- */

/* The leaf POSH fingerprints: its DER as presented, and its digests. */
typedef struct {
    cli_chain_file_t file; /* when read from a file */
    const unsigned char *der;
    size_t len;
    unsigned char d256[64], d512[64];
    int in_validity;       /* notBefore <= now <= notAfter (POSH matches no other leaf) */
} cli_posh_leaf_t;

/* The first certificate of a chain file (PEM; or a file that is one DER
 * certificate). 0, or -1 after saying why. Free with cli_posh_leaf_free. */
int cli_posh_leaf_read(const char *path, cli_posh_leaf_t *leaf);
/* The leaf from DER already in memory (not copied). 0, or -1 if it does not hash. */
int cli_posh_leaf_set(const unsigned char *der, size_t len, cli_posh_leaf_t *leaf);
void cli_posh_leaf_free(cli_posh_leaf_t *leaf);

/* --resolve HOST:PORT:ADDR into o (at most S2S_TRUST_HTTP_MAX_RESOLVE).
 * 0, or -1 (the caller prints the usage: the reason is in *why). */
int cli_posh_add_resolve(s2s_trust_posh_fetch_opts_t *o, const char *arg, const char **why);

/* --cafile names a readable file (NULL is the system bundle). 0, or -1
 * after saying why. */
int cli_posh_cafile_ok(const char *path);

/* Is there a document to show (read, even if refused for what it says)? */
int cli_posh_have_doc(const s2s_trust_posh_result_t *r);

/* What POSH says of a leaf (NULL: no leaf to match). */
typedef enum {
    CLI_POSH_OFF,       /* not fetched */
    CLI_POSH_PUBLISHED, /* a usable document, no leaf given */
    CLI_POSH_MATCH,     /* a fingerprint matches the leaf */
    CLI_POSH_MISMATCH,  /* a usable document, no fingerprint matches */
    CLI_POSH_ABSENT,    /* the domain serves no document (HTTP 404 or 410) */
    CLI_POSH_FAILED     /* anything else: no usable document (status and why say) */
} cli_posh_said_t;

cli_posh_said_t cli_posh_judge(const s2s_trust_posh_result_t *r, const cli_posh_leaf_t *leaf, size_t *index);

/* "off", "published", "match", "mismatch", "absent", "failed". */
const char *cli_posh_said_name(cli_posh_said_t s);

/* ---- both, for probe and check -------------------------------------------------- */

/* Their options, named as `dane` and `posh` name them (their --timeout and
 * --port prefixed: probe has a --timeout of its own). */
typedef struct {
    int no_dane, no_posh;  /* probe: both on unless turned off */
    int dane, posh;        /* check: both off unless asked for */
    cli_dane_opts_t dns;
    s2s_trust_posh_fetch_opts_t fetch;
    s2s_trust_tlsa_t tlsa[CLI_TLSA_MAX_GIVEN]; /* check --tlsa, data malloc'd */
    size_t n_tlsa;
} cli_vouch_opts_t;

enum {
    CLI_OPT_NO_DANE = 256, CLI_OPT_NO_POSH, CLI_OPT_DANE, CLI_OPT_POSH, CLI_OPT_TLSA, CLI_OPT_UNBOUND_CONF,
    CLI_OPT_TRUST_ANCHOR, CLI_OPT_DANE_TIMEOUT, CLI_OPT_CAFILE, CLI_OPT_RESOLVE, CLI_OPT_POSH_PORT,
    CLI_OPT_POSH_TIMEOUT
};

/* struct option entries for getopt_long, both commands' */
#define CLI_VOUCH_LONG_OPTIONS                                                                                    \
    { "unbound-conf", required_argument, NULL, CLI_OPT_UNBOUND_CONF },                                            \
        { "trust-anchor", required_argument, NULL, CLI_OPT_TRUST_ANCHOR },                                        \
        { "dane-timeout", required_argument, NULL, CLI_OPT_DANE_TIMEOUT },                                        \
        { "cafile", required_argument, NULL, CLI_OPT_CAFILE }, { "resolve", required_argument, NULL, CLI_OPT_RESOLVE }, \
        { "posh-port", required_argument, NULL, CLI_OPT_POSH_PORT },                                              \
        { "posh-timeout", required_argument, NULL, CLI_OPT_POSH_TIMEOUT }

void cli_vouch_opts_init(cli_vouch_opts_t *o);
/* One option (getopt_long's opt and optarg). CLI_GO_ON, or the exit
 * status after printing the usage. */
int cli_vouch_option(int opt, const char *arg, cli_vouch_opts_t *o);
void cli_vouch_opts_free(cli_vouch_opts_t *o);

/* What the domain publishes, found once. */
typedef struct {
    int dane_on;                   /* 0: --no-dane (or check without --dane/--tlsa) */
    int tlsa_given;                /* check --tlsa: records from the command line, taken as secure */
    s2s_trust_dane_lookup_t lookup;
    char dane_error[256];          /* the resolver could not be made: why (lookup ERROR) */
    int posh_on;
    s2s_trust_posh_result_t posh;
} cli_found_t;

/* Which methods would accept the chain, each on its own. */
#define CLI_BY_DANE_EE 1u
#define CLI_BY_DANE_TA 2u
#define CLI_BY_POSH 4u
#define CLI_BY_PKIX 8u

/* What the published records say of one chain. */
typedef struct {
    int target;                    /* the target judged, -1: every target */
    int probed;                    /* a target was asked for (probe): `target` is it, or -1 if unlisted */
    char probed_host[256];
    uint16_t probed_port;
    const char *tlsa;              /* "secure", "none", "insecure", "bogus", "error" */
    cli_dane_match_t dane;
    cli_posh_leaf_t leaf;
    cli_posh_said_t posh;
    size_t posh_index;
    unsigned accepted_by;          /* CLI_BY_* */
    int accepted;
    const char *by;                /* what accepted or refused the chain */
} cli_judged_t;

/* Before any connection: f->dane_on and f->posh_on as the options say, the
 * resolver made (*resolver), the --cafile checked, --tlsa records moved
 * into f->lookup (for `domain`, as one secure target). A file the user
 * named that does not work is exit 2; so is a resolver that cannot be made
 * when `strict` (check --dane asked for DANE; probe only reports it then,
 * in f->dane_error). CLI_GO_ON, or the exit status. */
int cli_vouch_setup(cli_vouch_opts_t *o, int strict, const char *domain, cli_found_t *f,
                    s2s_trust_dnssec_t **resolver);

/* The lookup (dane_on, resolver r; not with tlsa_given) and the fetch
 * (posh_on) for `domain` (A-label form). Failures are values in *f. */
void cli_vouch_find(s2s_trust_dnssec_t *r, const cli_dane_opts_t *dane, const s2s_trust_posh_fetch_opts_t *posh,
                    const char *domain, cli_found_t *f);

/* Judge one chain whose PKIX verdict is `pkix`: against the records of the
 * target probed_host:probed_port when probed_host is given (every target's
 * when that is not one of them), else of every target. 0, or -1 when
 * memory runs out. */
int cli_vouch_judge(const s2s_trust_store_t *store, const char *domain, const cli_found_t *f,
                    const char *probed_host, uint16_t probed_port, const s2s_trust_der_t *chain, size_t n,
                    s2s_trust_verdict_t pkix, cli_judged_t *j);

/* Free what cli_vouch_find and cli_judged_t hold. */
void cli_found_clear(cli_found_t *f);

#endif
