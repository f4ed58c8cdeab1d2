/*
 * s2s_trust_survey.c - from one domain's measurements to its verdict
 * (s2s_trust_survey.h). Every sentence a verdict carries is made here, so
 * the text, JSON and Markdown outputs never disagree about why.
 */
#include "core/s2s_trust_survey.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/s2s_trust_verdict.h"

static const char *const verdict_names[S2S_TRUST_SV_VERDICT_COUNT] = {
    "keeps", "accepts_untrusted", "own_certificate_fails", "unreachable", "inconclusive",
};
static const char *const verdict_words[S2S_TRUST_SV_VERDICT_COUNT] = {
    "keeps the pledge", "accepts untrusted peers", "own certificate fails", "unreachable", "inconclusive",
};
static const char *const case_names[S2S_TRUST_SV_CASES] = {
    "self_signed", "expired", "wrong_name", "unknown_ca",
};

const char *s2s_trust_sv_verdict_name(s2s_trust_sv_verdict_t v)
{
    return (unsigned)v < S2S_TRUST_SV_VERDICT_COUNT ? verdict_names[v] : NULL;
}

const char *s2s_trust_sv_verdict_words(s2s_trust_sv_verdict_t v)
{
    return (unsigned)v < S2S_TRUST_SV_VERDICT_COUNT ? verdict_words[v] : NULL;
}

int s2s_trust_sv_verdict_parse(const char *name, s2s_trust_sv_verdict_t *v)
{
    for (int i = 0; i < S2S_TRUST_SV_VERDICT_COUNT; i++)
        if (strcmp(name, verdict_names[i]) == 0) {
            *v = (s2s_trust_sv_verdict_t)i;
            return 0;
        }
    return -1;
}

const char *s2s_trust_sv_case_name(int c)
{
    return c >= 0 && c < S2S_TRUST_SV_CASES ? case_names[c] : "?";
}

const char *s2s_trust_sv_pub_name(s2s_trust_sv_pub_t p)
{
    switch (p) {
    case S2S_TRUST_SV_PUB_NONE: return "none";
    case S2S_TRUST_SV_PUB_MATCH: return "match";
    case S2S_TRUST_SV_PUB_MISMATCH: return "mismatch";
    case S2S_TRUST_SV_PUB_ERROR: return "error";
    default: return "not_checked";
    }
}

static const char *starttls_name(s2s_trust_sv_starttls_t s)
{
    switch (s) {
    case S2S_TRUST_SV_STARTTLS_NOT_OFFERED: return "not_offered";
    case S2S_TRUST_SV_STARTTLS_OPTIONAL: return "optional";
    case S2S_TRUST_SV_STARTTLS_REQUIRED: return "required";
    default: return "unknown";
    }
}

static const char *direct_name(s2s_trust_sv_direct_t d)
{
    return d == S2S_TRUST_SV_DIRECT_WORKS ? "works" : d == S2S_TRUST_SV_DIRECT_FAILS ? "fails" : "not_published";
}

static const char *attempt_name(s2s_trust_sv_attempt_t a)
{
    switch (a) {
    case S2S_TRUST_SV_REFUSED: return "refused";
    case S2S_TRUST_SV_ACCEPTED: return "ACCEPTED";
    case S2S_TRUST_SV_UNDECIDED: return "undecided";
    default: return "not run";
    }
}

/* Append a formatted evidence line (silently dropped past the bound: the
 * lines are in order of importance). */
static void ev(s2s_trust_sv_result_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ev(s2s_trust_sv_result_t *r, const char *fmt, ...)
{
    va_list ap;

    if (r->n_evidence >= S2S_TRUST_SV_MAX_EVIDENCE)
        return;
    va_start(ap, fmt);
    vsnprintf(r->evidence[r->n_evidence++], S2S_TRUST_SV_LINE_MAX, fmt, ap);
    va_end(ap);
}

/* Append to a fixed buffer, truncating. */
static void cat(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strnlen(buf, cap);
    va_list ap;

    if (len + 1 >= cap)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

static void date_string(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "?");
}

/* The certificate's word: the verifier's verdict, or incomplete_chain, or
 * the published key material that contradicts the chain. */
static const char *certificate_word(const s2s_trust_sv_obs_t *o)
{
    if (!o->reached)
        return "";
    if (o->chain_missing && (o->cert_verdict == S2S_TRUST_OK || o->cert_verdict == S2S_TRUST_UNKNOWN_ISSUER))
        return "incomplete_chain";
    if (o->cert_verdict != S2S_TRUST_OK)
        return s2s_trust_verdict_name((s2s_trust_verdict_t)o->cert_verdict);
    if (o->dane == S2S_TRUST_SV_PUB_MISMATCH)
        return "dane_mismatch";
    if (o->posh == S2S_TRUST_SV_PUB_MISMATCH)
        return "posh_mismatch";
    return "ok";
}

static void certificate_evidence(const s2s_trust_sv_obs_t *o, s2s_trust_sv_result_t *r)
{
    char date[32];

    for (size_t k = 0; k < o->n_attempts && k < S2S_TRUST_SV_MAX_ATTEMPTS; k++)
        ev(r, "attempt: %s", o->attempts[k]);
    ev(r, "chain from: %s", o->where);
    date_string(o->not_after, date);
    ev(r, "certificate: %s (%zu sent, leaf valid until %s)%s%s", r->certificate, o->chain_sent, date,
       o->cert_detail[0] ? ": " : "", o->cert_detail);
    if (o->chain_missing)
        ev(r, "chain: incomplete: the server does not send the intermediate its leaf needs");
    if (o->not_after != 0 && o->measured_at != 0 && o->not_after >= o->measured_at &&
        o->not_after - o->measured_at < (int64_t)S2S_TRUST_SV_EXPIRY_WARN_DAYS * 86400)
        ev(r, "certificate: expires within %d days (in %lld days, %s)", S2S_TRUST_SV_EXPIRY_WARN_DAYS,
           (long long)((o->not_after - o->measured_at) / 86400), date);
    ev(r, "DANE: %s%s%s", r->dane, o->dane_detail[0] ? ": " : "", o->dane_detail);
    ev(r, "POSH: %s%s%s", r->posh, o->posh_detail[0] ? ": " : "", o->posh_detail);
    ev(r, "STARTTLS: %s", r->starttls);
    ev(r, "direct TLS (XEP-0368): %s", r->direct_tls);
}

/* One line per case; counts what was accepted and undecided. */
static void selftest_evidence(const s2s_trust_sv_obs_t *o, s2s_trust_sv_result_t *r, int *n_acc, int *n_und)
{
    *n_acc = *n_und = 0;
    if (!o->selftest_run) {
        ev(r, "self-test: not run (no STARTTLS address reached)");
        return;
    }
    for (int c = 0; c < S2S_TRUST_SV_CASES; c++) {
        char line[S2S_TRUST_SV_LINE_MAX] = "";
        int acc = 0, und = 0;

        cat(line, sizeof line, "peer %s as %s: EXTERNAL %s (%s)", case_names[c], o->selftest_from,
            attempt_name(o->cases[c].external), o->cases[c].how);
        if (o->cases[c].external == S2S_TRUST_SV_ACCEPTED) {
            r->accepted |= 1u << (2 * c);
            acc = 1;
        }
        und |= o->cases[c].external == S2S_TRUST_SV_UNDECIDED;
        if (o->dialback_tested) {
            cat(line, sizeof line, ", dialback %s (%s)", attempt_name(o->cases[c].dialback),
                o->cases[c].dialback_how);
            if (o->cases[c].dialback == S2S_TRUST_SV_ACCEPTED) {
                r->accepted |= 1u << (2 * c + 1);
                acc = 1;
            }
            /* A case refused over one way and undecided over the other is
             * still undecided: the other way might have let it in. */
            und |= o->cases[c].dialback == S2S_TRUST_SV_UNDECIDED;
        }
        if (o->cases[c].detail[0])
            cat(line, sizeof line, ": %s", o->cases[c].detail);
        ev(r, "%s", line);
        *n_acc += acc;
        *n_und += !acc && und;
    }
    if (!o->dialback_tested)
        ev(r, "self-test: dialback not tested (no --dialback listener)");
}

/* "accepts untrusted peers via dialback: self_signed, expired" (grouped by
 * the way in, EXTERNAL first). */
static void accepted_reason(const s2s_trust_sv_result_t *r, char *out, size_t cap)
{
    static const char *const ways[2] = { "SASL EXTERNAL", "dialback" };
    const char *group_sep = "";

    snprintf(out, cap, "accepts untrusted peers ");
    for (int via = 0; via < 2; via++) {
        const char *sep = "";
        for (int c = 0; c < S2S_TRUST_SV_CASES; c++) {
            if (!(r->accepted >> (2 * c + via) & 1u))
                continue;
            if (*sep == '\0')
                cat(out, cap, "%svia %s: ", group_sep, ways[via]);
            cat(out, cap, "%s%s", sep, case_names[c]);
            sep = ", ";
            group_sep = "; ";
        }
    }
}

void s2s_trust_sv_judge(const s2s_trust_sv_obs_t *o, s2s_trust_sv_result_t *r)
{
    int n_acc = 0, n_und = 0;

    memset(r, 0, sizeof *r);
    snprintf(r->domain, sizeof r->domain, "%s", o->domain);
    r->measured_at = o->measured_at;
    r->elapsed_ms = o->elapsed_ms;
    snprintf(r->certificate, sizeof r->certificate, "%s", certificate_word(o));
    snprintf(r->starttls, sizeof r->starttls, "%s", starttls_name(o->starttls));
    snprintf(r->direct_tls, sizeof r->direct_tls, "%s", direct_name(o->direct_tls));
    snprintf(r->dane, sizeof r->dane, "%s", s2s_trust_sv_pub_name(o->dane));
    snprintf(r->posh, sizeof r->posh, "%s", s2s_trust_sv_pub_name(o->posh));

    if (!o->reached) {
        r->verdict = S2S_TRUST_SV_UNREACHABLE;
        snprintf(r->reason, sizeof r->reason, "unreachable: %.230s", o->unreachable_why);
        for (size_t k = 0; k < o->n_attempts && k < S2S_TRUST_SV_MAX_ATTEMPTS; k++)
            ev(r, "attempt: %s", o->attempts[k]);
        ev(r, "direct TLS (XEP-0368): %s", r->direct_tls);
        return;
    }
    certificate_evidence(o, r);
    selftest_evidence(o, r, &n_acc, &n_und);

    if (strcmp(r->certificate, "ok") != 0) {
        r->verdict = S2S_TRUST_SV_OWN_CERT_FAILS;
        if (strcmp(r->certificate, "incomplete_chain") == 0)
            snprintf(r->reason, sizeof r->reason, "own certificate fails: incomplete_chain (sends %zu certificate%s, "
                     "not the intermediate its leaf needs)", o->chain_sent, o->chain_sent == 1 ? "" : "s");
        else if (o->cert_verdict != S2S_TRUST_OK)
            snprintf(r->reason, sizeof r->reason, "own certificate fails: %s (%s)", r->certificate,
                     s2s_trust_verdict_text((s2s_trust_verdict_t)o->cert_verdict));
        else
            snprintf(r->reason, sizeof r->reason, "own certificate fails: %s (the published %s match the chain)",
                     r->certificate, o->dane == S2S_TRUST_SV_PUB_MISMATCH ? "DANE TLSA records do not" : "POSH fingerprints do not");
        if (n_acc > 0) {
            char more[S2S_TRUST_SV_LINE_MAX];
            accepted_reason(r, more, sizeof more);
            cat(r->reason, sizeof r->reason, "; also %s", more);
        }
    } else if (n_acc > 0) {
        r->verdict = S2S_TRUST_SV_ACCEPTS_UNTRUSTED;
        accepted_reason(r, r->reason, sizeof r->reason);
    } else if (!o->selftest_run || n_und > 0) {
        r->verdict = S2S_TRUST_SV_INCONCLUSIVE;
        if (!o->selftest_run)
            snprintf(r->reason, sizeof r->reason, "inconclusive: the self-test could not run (no STARTTLS address reached)");
        else {
            const char *how = "?";
            for (int c = 0; c < S2S_TRUST_SV_CASES; c++)
                if (o->cases[c].external == S2S_TRUST_SV_UNDECIDED || o->cases[c].dialback == S2S_TRUST_SV_UNDECIDED) {
                    how = o->cases[c].external == S2S_TRUST_SV_UNDECIDED ? o->cases[c].how : o->cases[c].dialback_how;
                    break;
                }
            snprintf(r->reason, sizeof r->reason, "inconclusive: %d of %d untrusted peers could not be decided (%s)",
                     n_und, S2S_TRUST_SV_CASES, how);
        }
    } else {
        r->verdict = S2S_TRUST_SV_KEEPS;
        snprintf(r->reason, sizeof r->reason, "valid certificate; refused %d of %d untrusted peers over %s",
                 S2S_TRUST_SV_CASES, S2S_TRUST_SV_CASES,
                 o->dialback_tested ? "SASL EXTERNAL and dialback" : "SASL EXTERNAL (dialback not tested)");
    }
}

int s2s_trust_sv_breaks(const s2s_trust_sv_result_t *r)
{
    return r->verdict == S2S_TRUST_SV_ACCEPTS_UNTRUSTED || r->verdict == S2S_TRUST_SV_OWN_CERT_FAILS;
}

int s2s_trust_sv_random_name(const char *zone, const unsigned char rnd[6], char *out, size_t cap)
{
    size_t zl = strlen(zone);
    int n;

    while (zl > 0 && zone[zl - 1] == '.')
        zl--;
    if (zl == 0 || zone[0] == '.')
        return -1;
    n = snprintf(out, cap, "s2st-%02x%02x%02x%02x%02x%02x.%.*s", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                 (int)zl, zone);
    if (n < 0 || (size_t)n >= cap || n > S2S_TRUST_DOMAIN_MAX)
        return -1;
    return 0;
}
