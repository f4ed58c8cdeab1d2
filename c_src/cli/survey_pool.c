/*
 * survey_pool.c - measure many domains at once (survey.h): --jobs worker
 * threads take the next domain from a shared index, each with its own
 * deadline (the per-domain one, never past the total one); the main thread
 * only waits for signals.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread before the
 * workers start, so the main thread alone receives them, synchronously,
 * with sigtimedwait - no handler, nothing async-signal-unsafe. A worker
 * that finishes the last domain wakes it with SIGUSR1 (also blocked, also
 * waited for). The wait's timeout is the progress line's refresh and the
 * total deadline's check; no result depends on it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/out.h"
#include "cli/survey.h"

typedef struct {
    survey_work_t *w;
    pthread_mutex_t lock;  /* next, stop, running, current, and results/done writes */
    size_t next;
    int stop;
    int running;           /* workers not yet finished */
    size_t measured;       /* results written in this run */
    const char *current;   /* the domain started last, for the progress line */
    pthread_t main_thread;
} pool_t;

static void *worker(void *arg)
{
    pool_t *p = arg;
    survey_work_t *w = p->w;
    s2s_trust_sv_obs_t *o = malloc(sizeof *o);
    s2s_trust_sv_result_t *r = malloc(sizeof *r);

    for (;;) {
        size_t i;
        uint64_t deadline;

        pthread_mutex_lock(&p->lock);
        while (p->next < w->n && w->done[p->next])
            p->next++;
        /* Past the total deadline nothing new starts, whatever the main
         * thread's next look at the clock says. */
        if (w->total_deadline != 0 && survey_now_ms() >= w->total_deadline)
            p->stop = 1;
        if (p->stop || p->next >= w->n || o == NULL || r == NULL) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        i = p->next++;
        p->current = w->domains[i];
        pthread_mutex_unlock(&p->lock);

        deadline = survey_now_ms() + w->ctx->domain_ms;
        if (w->total_deadline != 0 && w->total_deadline < deadline)
            deadline = w->total_deadline;
        survey_measure(w->ctx, w->domains[i], deadline, o);
        s2s_trust_sv_judge(o, r);

        pthread_mutex_lock(&p->lock);
        r->pledged = w->results[i].pledged; /* set by the caller before the run */
        w->results[i] = *r;
        w->done[i] = 1;
        p->measured++;
        pthread_mutex_unlock(&p->lock);
    }
    free(o);
    free(r);
    pthread_mutex_lock(&p->lock);
    if (--p->running == 0)
        pthread_kill(p->main_thread, SIGUSR1);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* "\r[done/total] domain  elapsed" on stderr, erasing the previous one. */
static void progress(pool_t *p, uint64_t t0)
{
    size_t done = 0;
    const char *cur;
    unsigned s = (unsigned)((survey_now_ms() - t0) / 1000);

    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->w->n; i++)
        done += p->w->done[i];
    cur = p->current;
    pthread_mutex_unlock(&p->lock);
    fprintf(stderr, "\r\033[K[%zu/%zu] %02u:%02u ", done, p->w->n, s / 60, s % 60);
    if (cur != NULL)
        cli_put_text_str(stderr, cur);
    fflush(stderr);
}

/* A worker's wake-up that sigtimedwait did not take (the last worker ended
 * between the main thread's look at the count and its wait): taken here,
 * or unblocking SIGUSR1 would deliver it - and its default action ends the
 * process. */
static void drain_wakeups(void)
{
    sigset_t u;
    struct timespec zero = { 0, 0 };

    sigemptyset(&u);
    sigaddset(&u, SIGUSR1);
    while (sigtimedwait(&u, NULL, &zero) == SIGUSR1)
        ;
}

/* Static, not on the stack: after an interrupt, workers still running
 * hold on to it after survey_pool_run has returned. One run per process. */
static pool_t the_pool;

const char *survey_pool_run(survey_work_t *w)
{
    pool_t *p = &the_pool;
    pthread_t th[SURVEY_JOBS_MAX];
    sigset_t set, old;
    const char *stopped_by = NULL;
    uint64_t t0 = survey_now_ms();
    int started = 0, jobs = w->jobs < 1 ? 1 : w->jobs > SURVEY_JOBS_MAX ? SURVEY_JOBS_MAX : w->jobs;

    memset(p, 0, sizeof *p);
    p->w = w;
    p->main_thread = pthread_self();
    pthread_mutex_init(&p->lock, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < jobs; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 1u << 20); /* the probe and self-test keep ~100 KiB on the stack */
        if (pthread_create(&th[started], &attr, worker, p) == 0)
            started++;
        pthread_attr_destroy(&attr);
    }
    p->running = started;
    pthread_mutex_unlock(&p->lock);
    if (started == 0) {
        fprintf(stderr, "s2s-trust: survey: no thread could be started\n");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return "interrupt";
    }

    for (;;) {
        struct timespec tick = { 0, 250 * 1000000L };
        int sig, running;

        pthread_mutex_lock(&p->lock);
        running = p->running;
        pthread_mutex_unlock(&p->lock);
        if (running == 0)
            break;
        if (w->progress)
            progress(p, t0);
        sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            pthread_mutex_lock(&p->lock);
            p->stop = 1;
            pthread_mutex_unlock(&p->lock);
            stopped_by = "interrupt";
            break; /* the workers still measuring are not waited for */
        }
        if (w->total_deadline != 0 && survey_now_ms() >= w->total_deadline && stopped_by == NULL) {
            /* No new domain starts; those running end by this deadline too. */
            pthread_mutex_lock(&p->lock);
            p->stop = 1;
            pthread_mutex_unlock(&p->lock);
            stopped_by = "deadline";
        }
    }
    if (w->progress)
        fputs("\r\033[K", stderr);
    if (stopped_by == NULL || strcmp(stopped_by, "interrupt") != 0) {
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        pthread_mutex_destroy(&p->lock);
        drain_wakeups();
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        for (size_t i = 0; i < w->n; i++)
            if (!w->done[i])
                return stopped_by ? stopped_by : "deadline";
        return NULL;
    }
    /* Interrupted: take the lock once more so that every result written
     * so far is complete, and keep it - a worker finishing now must not
     * write while the caller prints (the caller then leaves with _exit). */
    pthread_mutex_lock(&p->lock);
    return stopped_by;
}
