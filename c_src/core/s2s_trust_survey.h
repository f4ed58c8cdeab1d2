/*
 * s2s_trust_survey.h - `s2s-trust survey`'s judgement: from what was
 * measured about one domain to its verdict against the pledge.
 *
 * The pledge has two halves: a server's own certificate validates, and the
 * server refuses every s2s peer whose certificate does not. The survey
 * measures both (the CLI: probe, verify, DANE/POSH, self-test) and fills an
 * observation; this file turns it into one of five verdicts with a one-line
 * reason and the evidence lines behind it. The reason names no time and no
 * deadline, so the same posture always gives the same reason (the Markdown
 * list is made of reasons); the evidence lines say the rest. Pure: no network, no clock, no
 * output - so the judgement is tested alone (tests/c/test_survey.c) and the
 * same observation always gives the same words.
 *
 * The verdicts, in the order they are decided (the first that applies):
 *   unreachable           no certificate chain could be captured (why)
 *   own_certificate_fails the chain does not validate, the server omits an
 *                         intermediate, or published DANE/POSH does not match
 *   accepts_untrusted     at least one untrusted peer was accepted (which,
 *                         and whether over SASL EXTERNAL or dialback)
 *   inconclusive          a self-test case could not be decided (e.g. the
 *                         server stalled after TLS): no claim either way
 *   keeps                 valid own certificate, every untrusted peer refused
 * A certificate expiring within 30 days is evidence, not a failure.
 */
#ifndef S2S_TRUST_SURVEY_H
#define S2S_TRUST_SURVEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_identity.h" /* S2S_TRUST_DOMAIN_MAX */

/* Bounds of everything a survey holds, also what a resume file may hold. */
#define S2S_TRUST_SV_MAX_DOMAINS 10000
#define S2S_TRUST_SV_MAX_EVIDENCE 24
#define S2S_TRUST_SV_LINE_MAX 256       /* one evidence line or reason, with NUL */
#define S2S_TRUST_SV_EXPIRY_WARN_DAYS 30
#define S2S_TRUST_SV_MAX_ATTEMPTS 8

typedef enum {
    S2S_TRUST_SV_KEEPS = 0,
    S2S_TRUST_SV_ACCEPTS_UNTRUSTED,
    S2S_TRUST_SV_OWN_CERT_FAILS,
    S2S_TRUST_SV_UNREACHABLE,
    S2S_TRUST_SV_INCONCLUSIVE,
    S2S_TRUST_SV_VERDICT_COUNT
} s2s_trust_sv_verdict_t;

/* The self-test's four untrusted peers, as net/s2s_trust_selftest_identity.h
 * numbers them (the core cannot include the net layer; the CLI maps). */
#define S2S_TRUST_SV_CASES 4

typedef enum { /* one attempt of one case */
    S2S_TRUST_SV_NOT_RUN = 0,
    S2S_TRUST_SV_REFUSED,
    S2S_TRUST_SV_ACCEPTED,
    S2S_TRUST_SV_UNDECIDED,
} s2s_trust_sv_attempt_t;

typedef enum {
    S2S_TRUST_SV_STARTTLS_UNKNOWN = 0, /* no stream features seen */
    S2S_TRUST_SV_STARTTLS_NOT_OFFERED,
    S2S_TRUST_SV_STARTTLS_OPTIONAL,
    S2S_TRUST_SV_STARTTLS_REQUIRED,
} s2s_trust_sv_starttls_t;

typedef enum {
    S2S_TRUST_SV_DIRECT_NOT_PUBLISHED = 0, /* no _xmpps-server SRV record */
    S2S_TRUST_SV_DIRECT_WORKS,             /* published and a handshake succeeded */
    S2S_TRUST_SV_DIRECT_FAILS,             /* published, no handshake succeeded */
} s2s_trust_sv_direct_t;

typedef enum { /* DANE and POSH alike */
    S2S_TRUST_SV_PUB_NOT_CHECKED = 0,
    S2S_TRUST_SV_PUB_NONE,      /* nothing published (DANE: insecure or no TLSA) */
    S2S_TRUST_SV_PUB_MATCH,     /* published and the chain matches */
    S2S_TRUST_SV_PUB_MISMATCH,  /* published and the chain does not match */
    S2S_TRUST_SV_PUB_ERROR,     /* the lookup failed (DANE bogus, fetch error) */
} s2s_trust_sv_pub_t;

/* What the CLI measured about one domain. Strings are one line; peer bytes
 * in them may be escaped already (the probe's details), and every writer
 * escapes again for its format. */
typedef struct {
    char domain[S2S_TRUST_DOMAIN_MAX + 1]; /* A-label form */
    int reached;                 /* a chain was captured */
    char unreachable_why[S2S_TRUST_SV_LINE_MAX];
    char where[128];             /* "ADDR:PORT (starttls)" where the chain came from */
    size_t n_attempts;           /* connection attempts, one line each with its detail */
    char attempts[S2S_TRUST_SV_MAX_ATTEMPTS][S2S_TRUST_SV_LINE_MAX];
    /* own certificate */
    int cert_verdict;            /* s2s_trust_verdict_t; S2S_TRUST_OK = 0 */
    char cert_detail[S2S_TRUST_SV_LINE_MAX];
    size_t chain_sent;           /* certificates the server sent */
    int chain_missing;           /* the path to a root needs a certificate it did not send
                                    (verified with the store's pool, or refused
                                    unknown_issuer with no intermediate sent) */
    int64_t not_after;           /* of the leaf, seconds since the epoch; 0 unknown */
    s2s_trust_sv_pub_t dane, posh;
    char dane_detail[S2S_TRUST_SV_LINE_MAX], posh_detail[S2S_TRUST_SV_LINE_MAX];
    /* transport */
    s2s_trust_sv_starttls_t starttls;
    s2s_trust_sv_direct_t direct_tls;
    /* self-test */
    int selftest_run;            /* the cases were played (a STARTTLS address was found) */
    int dialback_tested;         /* with a dialback listener */
    char selftest_from[S2S_TRUST_DOMAIN_MAX + 1];
    struct {
        s2s_trust_sv_attempt_t external, dialback;
        char how[32], dialback_how[32];
        char detail[S2S_TRUST_SV_LINE_MAX];
    } cases[S2S_TRUST_SV_CASES];
    /* when */
    int64_t measured_at;         /* seconds since the epoch, when the measurement started */
    unsigned elapsed_ms;
} s2s_trust_sv_obs_t;

/* A verdict with its evidence: what every output is rendered from, and
 * what a resume file gives back. */
typedef struct {
    char domain[S2S_TRUST_DOMAIN_MAX + 1];
    s2s_trust_sv_verdict_t verdict;
    char reason[S2S_TRUST_SV_LINE_MAX];   /* one line: why this verdict */
    int pledged;                          /* named by --pledged */
    int64_t measured_at;
    unsigned elapsed_ms;
    /* checks, as words (static names below, or "" when not measured) */
    char certificate[24];                 /* "ok", "expired", "incomplete_chain", ... */
    char starttls[16];                    /* "required", "optional", "not_offered", "unknown" */
    char direct_tls[16];                  /* "not_published", "works", "fails" */
    char dane[16], posh[16];              /* "not_checked", "none", "match", "mismatch", "error" */
    unsigned accepted;                    /* bit 2*case: via EXTERNAL, 2*case+1: via dialback */
    size_t n_evidence;
    char evidence[S2S_TRUST_SV_MAX_EVIDENCE][S2S_TRUST_SV_LINE_MAX];
} s2s_trust_sv_result_t;

/* Judge one observation: fills every field of `r` but `pledged`. */
void s2s_trust_sv_judge(const s2s_trust_sv_obs_t *o, s2s_trust_sv_result_t *r);

/* Does r break the pledge (accepts untrusted peers, own certificate fails)? */
int s2s_trust_sv_breaks(const s2s_trust_sv_result_t *r);

/* "keeps", "accepts_untrusted", "own_certificate_fails", "unreachable",
 * "inconclusive"; NULL out of range. */
const char *s2s_trust_sv_verdict_name(s2s_trust_sv_verdict_t v);
/* The verdict's name -> 0 with *v set, or -1. */
int s2s_trust_sv_verdict_parse(const char *name, s2s_trust_sv_verdict_t *v);
/* Words for people: "keeps the pledge", "accepts untrusted peers", ... */
const char *s2s_trust_sv_verdict_words(s2s_trust_sv_verdict_t v);

/* "self_signed", "expired", "wrong_name", "unknown_ca". */
const char *s2s_trust_sv_case_name(int c);
const char *s2s_trust_sv_pub_name(s2s_trust_sv_pub_t p);

/* A random DNS label for the self-test's peers under `zone` (an operator's
 * domain whose wildcard points at the survey's dialback listener):
 * "s2st-" and 12 hex digits from `rnd` (48 bits), then "." zone. 0, or -1
 * when the result would not fit `cap` or a DNS name. */
int s2s_trust_sv_random_name(const char *zone, const unsigned char rnd[6], char *out, size_t cap);

#endif
