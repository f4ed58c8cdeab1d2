/*
 * survey.h - the parts of `s2s-trust survey` and what they share:
 *   survey.c          options, the domain lists, --resume, the output
 *   survey_measure.c  one domain measured: resolve, probe, verify, DANE,
 *                     POSH, the self-test's untrusted peers
 *   survey_pool.c     --jobs threads, the per-domain and total deadlines,
 *                     Ctrl-C, the progress line
 * The judgement and the renderings are the core's (core/s2s_trust_survey*.h),
 * pure and unit-tested; these files only gather and schedule.
 */
#ifndef S2S_TRUST_CLI_SURVEY_H
#define S2S_TRUST_CLI_SURVEY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_store.h"
#include "core/s2s_trust_survey.h"
#include "net/s2s_trust_dnssec.h"
#include "net/s2s_trust_posh_fetch.h"
#include "net/s2s_trust_selftest_identity.h"

#define SURVEY_JOBS_DEFAULT 8
#define SURVEY_JOBS_MAX 64
#define SURVEY_DOMAIN_MS_DEFAULT 60000u
#define SURVEY_PROBE_MS 10000u   /* one probe attempt, at most */
#define SURVEY_CASE_MS 15000u    /* one self-test case, at most */
#define SURVEY_DANE_MS 5000u
#define SURVEY_POSH_MS 10000u
#define SURVEY_MAX_ATTEMPTS 4    /* addresses tried per domain and mode */

/* What every measurement shares; read-only once the threads run, but for
 * dialback_lock. */
typedef struct {
    const s2s_trust_store_t *store;
    const char *from;             /* the untrusted peers' domain (A-label) */
    s2s_trust_st_identity_t ids[S2S_TRUST_ST_CASE_COUNT];
    /* Dialback: one listener for the whole survey, so one domain's
     * dialback cases at a time (a back-connection names no case). */
    int dialback_fd;              /* -1: dialback not tested */
    s2s_trust_st_identity_t db_id;
    pthread_mutex_t dialback_lock;
    s2s_trust_dnssec_t *dnssec;   /* NULL: DANE not checked */
    int posh;                     /* 0: POSH not checked */
    s2s_trust_posh_fetch_opts_t posh_opts;
    unsigned domain_ms;           /* per-domain deadline */
} survey_ctx_t;

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t survey_now_ms(void);

/* Measure `domain` (A-label) until `deadline` (survey_now_ms scale) at
 * the latest; always fills `o`. Thread-safe. */
void survey_measure(survey_ctx_t *ctx, const char *domain, uint64_t deadline, s2s_trust_sv_obs_t *o);

/* The work of one survey run. */
typedef struct {
    survey_ctx_t *ctx;
    const char *const *domains;   /* n domains */
    size_t n;
    s2s_trust_sv_result_t *results; /* n slots */
    unsigned char *done;          /* n flags; set ones (resumed) are skipped */
    int jobs;
    uint64_t total_deadline;      /* survey_now_ms scale; 0: none */
    int progress;                 /* draw the progress line on stderr */
} survey_work_t;

/* Measure every domain not done, `jobs` at a time, until all are done,
 * the total deadline passes, or SIGINT/SIGTERM arrives. Returns NULL when
 * every domain was measured, else "interrupt" or "deadline". After an
 * interrupt the threads still measuring are left running: the caller
 * prints what finished and leaves with _exit. */
const char *survey_pool_run(survey_work_t *w);

#endif
