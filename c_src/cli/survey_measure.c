/*
 * survey_measure.c - one domain, measured (survey.h): where its server is
 * (SRV, else DOMAIN:5269), the chain it sends over STARTTLS and whether it
 * offers direct TLS, that chain verified by the same core as `check`, DANE
 * and POSH when asked, then the self-test's four untrusted peers over SASL
 * EXTERNAL (and dialback with a listener). Everything ends by the domain's
 * deadline: each step gets what is left of it, capped at its own limit.
 *
 * Only the certificates minted for the survey (survey.c) are ever shown to
 * the server: the probe shows none, the peers show the minted ones.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "cli/survey.h"
#include "core/s2s_trust_config.h"
#include "core/s2s_trust_verify.h"
#include "net/s2s_trust_probe.h"
#include "net/s2s_trust_resolve.h"
#include "net/s2s_trust_selftest.h"

uint64_t survey_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What is left until deadline, capped at cap (0 when nothing is). */
static unsigned left(uint64_t deadline, unsigned cap)
{
    uint64_t now = survey_now_ms();
    if (now >= deadline)
        return 0;
    return deadline - now < cap ? (unsigned)(deadline - now) : cap;
}

static const char *mode_name(s2s_trust_tls_mode_t m)
{
    return m == S2S_TRUST_TLS_MODE_DIRECT_TLS ? "direct-tls" : "starttls";
}

/* ---- reaching the server ------------------------------------------------------- */

typedef struct {
    s2s_trust_probe_result_t chain_pr;   /* the result whose chain is judged */
    int have_chain, chain_direct;
    s2s_trust_candidate_t starttls_at;   /* where STARTTLS worked: the self-test goes there */
    int starttls_ok;
} reach_t;

/* Try the candidates in DNS order until STARTTLS and, when published,
 * direct TLS have each worked once (at most SURVEY_MAX_ATTEMPTS per mode). */
static void reach(const char *domain, const s2s_trust_resolution_t *res, uint64_t deadline, s2s_trust_sv_obs_t *o,
                  reach_t *rc)
{
    int tried[2] = { 0, 0 }, direct_published = 0;
    const char *why = NULL;

    for (size_t i = 0; i < res->count; i++)
        direct_published |= res->items[i].mode == S2S_TRUST_TLS_MODE_DIRECT_TLS;
    o->direct_tls = direct_published ? S2S_TRUST_SV_DIRECT_FAILS : S2S_TRUST_SV_DIRECT_NOT_PUBLISHED;
    for (size_t i = 0; i < res->count; i++) {
        const s2s_trust_candidate_t *c = &res->items[i];
        int direct = c->mode == S2S_TRUST_TLS_MODE_DIRECT_TLS;
        unsigned ms = left(deadline, SURVEY_PROBE_MS);
        s2s_trust_probe_request_t req = {
            .domain = domain, .address = c->address, .port = c->port, .mode = c->mode, .total_ms = ms,
            .connect_ms = ms < S2S_TRUST_PROBE_CONNECT_MS_DEFAULT ? ms : 0,
            .handshake_ms = ms < S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT ? ms : 0,
        };
        s2s_trust_probe_result_t pr;

        if ((direct ? o->direct_tls == S2S_TRUST_SV_DIRECT_WORKS : rc->starttls_ok) ||
            tried[direct] >= SURVEY_MAX_ATTEMPTS)
            continue;
        if (ms == 0) {
            why = "the domain's deadline passed";
            break;
        }
        tried[direct]++;
        memset(&pr, 0, sizeof pr);
        s2s_trust_probe_run(&req, &pr);
        if (o->n_attempts < S2S_TRUST_SV_MAX_ATTEMPTS)
            snprintf(o->attempts[o->n_attempts++], S2S_TRUST_SV_LINE_MAX, "%s:%u (%s, %s): %s at %s: %.150s",
                     c->address, (unsigned)c->port, mode_name(c->mode), c->from_srv ? "srv" : "fallback",
                     s2s_trust_probe_status_name(pr.status), pr.stage, pr.detail);
        if (!direct && (pr.status == S2S_TRUST_PROBE_OK || pr.status == S2S_TRUST_PROBE_NO_STARTTLS))
            o->starttls = pr.status == S2S_TRUST_PROBE_NO_STARTTLS ? S2S_TRUST_SV_STARTTLS_NOT_OFFERED
                          : pr.starttls_required                 ? S2S_TRUST_SV_STARTTLS_REQUIRED
                                                                 : S2S_TRUST_SV_STARTTLS_OPTIONAL;
        if (pr.status == S2S_TRUST_PROBE_OK) {
            if (direct)
                o->direct_tls = S2S_TRUST_SV_DIRECT_WORKS;
            else {
                rc->starttls_ok = 1;
                rc->starttls_at = *c;
            }
            /* The STARTTLS chain is the one judged: the port every server
             * tries; a direct TLS chain only when STARTTLS gives none. */
            if (!rc->have_chain || (!direct && rc->chain_direct)) {
                s2s_trust_probe_result_free(&rc->chain_pr);
                rc->chain_pr = pr;
                rc->have_chain = 1;
                rc->chain_direct = direct;
                snprintf(o->where, sizeof o->where, "%s:%u (%s)", c->address, (unsigned)c->port, mode_name(c->mode));
                continue;
            }
        } else if (!rc->have_chain) {
            /* The reason names no time: the same posture, the same words. */
            snprintf(o->unreachable_why, sizeof o->unreachable_why, "%s at %s on %s:%u (%s)",
                     s2s_trust_probe_status_name(pr.status), pr.stage, c->address, (unsigned)c->port,
                     mode_name(c->mode));
        }
        s2s_trust_probe_result_free(&pr);
    }
    o->reached = rc->have_chain;
    if (!o->reached && why != NULL && o->unreachable_why[0] == '\0')
        snprintf(o->unreachable_why, sizeof o->unreachable_why, "%s", why);
}

/* ---- the chain ------------------------------------------------------------------- */

/* Does the verified chain hold an intermediate the server did not send?
 * (Verified with the store's pool: a peer without that pool fails.) */
static int chain_missing(const s2s_trust_details_t *d, const s2s_trust_probe_result_t *pr)
{
    for (size_t k = 1; k + 1 < d->chain_count; k++) {
        int sent = 0;
        for (size_t i = 1; i < pr->chain_count && !sent; i++) {
            X509 *x = NULL;
            const char *why;
            if (s2s_trust_parse_presented(&pr->chain[i], &x, &why) == S2S_TRUST_OK && x != NULL) {
                char *subj = s2s_trust_name_string(X509_get_subject_name(x));
                sent = subj != NULL && d->chain[k].subject != NULL && strcmp(subj, d->chain[k].subject) == 0;
                free(subj);
            }
            X509_free(x);
        }
        if (!sent)
            return 1;
    }
    return 0;
}

static void judge_chain(const survey_ctx_t *ctx, const char *domain, const s2s_trust_probe_result_t *pr,
                        s2s_trust_sv_obs_t *o)
{
    s2s_trust_details_t d;
    long long t;

    memset(&d, 0, sizeof d);
    o->chain_sent = pr->chain_count;
    if (s2s_trust_verify_chain(ctx->store, domain, strlen(domain), pr->chain, pr->chain_count, &d) < 0) {
        o->cert_verdict = S2S_TRUST_UNTRUSTED;
        snprintf(o->cert_detail, sizeof o->cert_detail, "out of memory while verifying");
        return;
    }
    o->cert_verdict = (int)d.verdict;
    if (d.verdict != S2S_TRUST_OK && d.detail != NULL)
        snprintf(o->cert_detail, sizeof o->cert_detail, "%s", d.detail);
    if (d.not_after[0] && s2s_trust_parse_time(d.not_after, &t) == 0)
        o->not_after = t;
    if (d.verdict == S2S_TRUST_OK)
        o->chain_missing = chain_missing(&d, pr);
    s2s_trust_details_free(&d);
}

/* ---- DANE and POSH ------------------------------------------------------------------ */

static void dane(survey_ctx_t *ctx, const char *domain, const s2s_trust_probe_result_t *pr, uint64_t deadline,
                 s2s_trust_sv_obs_t *o)
{
    s2s_trust_dane_lookup_t *l = calloc(1, sizeof *l);
    unsigned ms = left(deadline, SURVEY_DANE_MS);
    int usable = 0;

    if (l == NULL || ms == 0 || s2s_trust_dnssec_lookup(ctx->dnssec, domain, strlen(domain), 5269, ms, l) != 0) {
        o->dane = S2S_TRUST_SV_PUB_ERROR;
        snprintf(o->dane_detail, sizeof o->dane_detail, "%s", ms == 0 ? "the domain's deadline passed" : "out of memory");
        free(l);
        return;
    }
    switch (l->status) {
    case S2S_TRUST_DNSSEC_INSECURE:
        o->dane = S2S_TRUST_SV_PUB_NONE;
        snprintf(o->dane_detail, sizeof o->dane_detail, "no DNSSEC-signed answer");
        break;
    case S2S_TRUST_DNSSEC_BOGUS:
    case S2S_TRUST_DNSSEC_ERROR:
        o->dane = S2S_TRUST_SV_PUB_ERROR;
        snprintf(o->dane_detail, sizeof o->dane_detail, "%s: %.200s", s2s_trust_dnssec_status_name(l->status), l->why);
        break;
    case S2S_TRUST_DNSSEC_SECURE:
        o->dane = S2S_TRUST_SV_PUB_NONE;
        snprintf(o->dane_detail, sizeof o->dane_detail, "DNSSEC-signed, no TLSA record");
        for (size_t i = 0; i < l->n_targets; i++) {
            const s2s_trust_dane_target_t *t = &l->targets[i];
            s2s_trust_dane_result_t dr;
            if (t->n_records == 0)
                continue;
            if (s2s_trust_dane_verify(ctx->store, domain, strlen(domain), l->srv_found ? t->host : NULL, pr->chain,
                                      pr->chain_count, t->records, t->n_records, &dr) != 0)
                continue;
            if (dr.outcome == S2S_TRUST_DANE_EE || dr.outcome == S2S_TRUST_DANE_TA || dr.outcome == S2S_TRUST_DANE_PKIX) {
                o->dane = S2S_TRUST_SV_PUB_MATCH;
                snprintf(o->dane_detail, sizeof o->dane_detail, "%s (TLSA of %.200s)", s2s_trust_dane_outcome_name(dr.outcome), t->host);
                break;
            }
            if (dr.usable > 0 && !usable) {
                usable = 1;
                o->dane = S2S_TRUST_SV_PUB_MISMATCH;
                snprintf(o->dane_detail, sizeof o->dane_detail, "%s (TLSA of %.200s)", s2s_trust_dane_outcome_name(dr.outcome), t->host);
            }
        }
        break;
    }
    s2s_trust_dane_lookup_clear(l);
    free(l);
}

static void posh(survey_ctx_t *ctx, const char *domain, const s2s_trust_probe_result_t *pr, uint64_t deadline,
                 s2s_trust_sv_obs_t *o)
{
    s2s_trust_posh_result_t *r = calloc(1, sizeof *r);
    s2s_trust_posh_fetch_opts_t opts = ctx->posh_opts;
    size_t idx;

    opts.timeout_ms = left(deadline, SURVEY_POSH_MS);
    if (r == NULL || opts.timeout_ms == 0) {
        o->posh = S2S_TRUST_SV_PUB_ERROR;
        snprintf(o->posh_detail, sizeof o->posh_detail, "%s", r == NULL ? "out of memory" : "the domain's deadline passed");
        free(r);
        return;
    }
    s2s_trust_posh_fetch(domain, &opts, r);
    if (!r->ok) {
        /* No web server, or no document there: nothing published. */
        int none = r->stage == S2S_TRUST_POSH_STAGE_DOMAIN &&
                   (r->http == S2S_TRUST_HTTP_CONNECT_FAILED || (r->http == S2S_TRUST_HTTP_STATUS && r->http_code == 404));
        o->posh = none ? S2S_TRUST_SV_PUB_NONE : S2S_TRUST_SV_PUB_ERROR;
        snprintf(o->posh_detail, sizeof o->posh_detail, "%s: %.200s", s2s_trust_posh_result_error(r), r->why);
    } else if (pr->chain_count > 0 && s2s_trust_posh_match(&r->doc, pr->chain[0].data, pr->chain[0].len, &idx) == 1) {
        o->posh = S2S_TRUST_SV_PUB_MATCH;
        snprintf(o->posh_detail, sizeof o->posh_detail, "the leaf matches fingerprint %zu", idx);
    } else {
        o->posh = S2S_TRUST_SV_PUB_MISMATCH;
        snprintf(o->posh_detail, sizeof o->posh_detail, "%zu fingerprint(s) published, none is the leaf's", r->doc.n_fp);
    }
    free(r);
}

/* ---- the untrusted peers ---------------------------------------------------------------- */

static s2s_trust_sv_attempt_t attempt_of(s2s_trust_st_outcome_t oc)
{
    return oc == S2S_TRUST_ST_ACCEPTED ? S2S_TRUST_SV_ACCEPTED
           : oc == S2S_TRUST_ST_REFUSED ? S2S_TRUST_SV_REFUSED
                                        : S2S_TRUST_SV_UNDECIDED;
}

/* The pthread_mutex_timedlock deadline for a survey_now_ms deadline. */
static void abs_deadline(uint64_t deadline, struct timespec *ts)
{
    unsigned ms = left(deadline, 600000u);
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void selftest(survey_ctx_t *ctx, const char *domain, const s2s_trust_candidate_t *at, uint64_t deadline,
                     s2s_trust_sv_obs_t *o)
{
    int locked = 0;

    if (ctx->dialback_fd >= 0) {
        struct timespec ts;
        abs_deadline(deadline, &ts);
        locked = pthread_mutex_timedlock(&ctx->dialback_lock, &ts) == 0;
    }
    o->selftest_run = 1;
    o->dialback_tested = locked;
    snprintf(o->selftest_from, sizeof o->selftest_from, "%s", ctx->from);
    for (int c = 0; c < S2S_TRUST_ST_CASE_COUNT && c < S2S_TRUST_SV_CASES; c++) {
        unsigned ms = left(deadline, SURVEY_CASE_MS);
        s2s_trust_st_request_t req = {
            .target = domain, .from = ctx->from, .address = at->address, .port = at->port, .total_ms = ms,
            .identity = &ctx->ids[c], .dialback_fd = locked ? ctx->dialback_fd : -1,
            .dialback_identity = &ctx->db_id,
        };
        s2s_trust_st_result_t r;

        if (ms < 100) {
            o->cases[c].external = S2S_TRUST_SV_UNDECIDED;
            snprintf(o->cases[c].how, sizeof o->cases[c].how, "deadline");
            snprintf(o->cases[c].detail, sizeof o->cases[c].detail, "the domain's deadline passed before this case");
            continue;
        }
        memset(&r, 0, sizeof r);
        s2s_trust_st_run(&req, &r);
        o->cases[c].external = attempt_of(r.external_outcome);
        snprintf(o->cases[c].how, sizeof o->cases[c].how, "%s", r.how ? r.how : "?");
        if (locked) {
            o->cases[c].dialback = attempt_of(r.dialback_outcome);
            snprintf(o->cases[c].dialback_how, sizeof o->cases[c].dialback_how, "%s",
                     r.dialback_how ? r.dialback_how : "?");
        }
        snprintf(o->cases[c].detail, sizeof o->cases[c].detail, "%.200s",
                 locked && r.dialback_outcome == S2S_TRUST_ST_ACCEPTED ? r.dialback_detail : r.detail);
    }
    if (locked)
        pthread_mutex_unlock(&ctx->dialback_lock);
}

/* ---- one domain ---------------------------------------------------------------------------- */

void survey_measure(survey_ctx_t *ctx, const char *domain, uint64_t deadline, s2s_trust_sv_obs_t *o)
{
    s2s_trust_resolution_t *res = calloc(1, sizeof *res);
    uint64_t t0 = survey_now_ms();
    reach_t rc;

    memset(o, 0, sizeof *o);
    memset(&rc, 0, sizeof rc);
    snprintf(o->domain, sizeof o->domain, "%s", domain);
    o->measured_at = (int64_t)time(NULL);
    if (res == NULL) {
        snprintf(o->unreachable_why, sizeof o->unreachable_why, "out of memory");
        return;
    }
    s2s_trust_resolve(domain, res);
    if (res->count == 0) {
        /* The notes name the DNS failure; the reason stays short. */
        snprintf(o->unreachable_why, sizeof o->unreachable_why, "no address to connect to (%s)",
                 res->xmpp == S2S_TRUST_SRV_UNAVAILABLE ? "SRV says no service" : "the name does not resolve");
        if (res->notes[0]) {
            snprintf(o->attempts[o->n_attempts++], S2S_TRUST_SV_LINE_MAX, "DNS: %.200s", res->notes);
            for (char *p = o->attempts[0]; *p; p++)
                if (*p == '\n')
                    *p = ';';
        }
    } else {
        reach(domain, res, deadline, o, &rc);
    }
    if (o->reached) {
        judge_chain(ctx, domain, &rc.chain_pr, o);
        if (ctx->dnssec != NULL)
            dane(ctx, domain, &rc.chain_pr, deadline, o);
        if (ctx->posh)
            posh(ctx, domain, &rc.chain_pr, deadline, o);
        if (rc.starttls_ok)
            selftest(ctx, domain, &rc.starttls_at, deadline, o);
    }
    s2s_trust_probe_result_free(&rc.chain_pr);
    free(res);
    ERR_clear_error();
    o->elapsed_ms = (unsigned)(survey_now_ms() - t0);
}
