/*
 * s2s_trust_dnssec.c - see s2s_trust_dnssec.h. The resolver's life (one
 * libunbound context in threaded async mode, a fixed pool of threads, a
 * bounded queue, the thread that hands libunbound's answers over) and one
 * lookup's RFC 7673 steps under its deadline; reading record data is
 * s2s_trust_dns_rdata.c.
 *
 * A query: ub_resolve_async, then a timed wait on `answered` until the
 * callback (run by the pump thread's ub_process) marks it done. At the
 * deadline ub_cancel: UB_NOERROR means libunbound will never call back
 * (it drops the answer, or ub_ctx_delete kills the query); UB_NOID means
 * the answer is being delivered at that moment (libunbound(3)), and the
 * callback, already under way, is waited for. Either way no callback can
 * reach a query after its lookup has returned.
 */
#include "net/s2s_trust_dnssec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "net/s2s_trust_dns_rdata.h"

#define SYSTEM_ROOT_KEY "/usr/share/dns/root.key"
#define MAX_THREADS 16
#define MAX_QUEUE (1 << 20)
#define DNS_CLASS_IN 1
#define RCODE_NOERROR 0
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3
/* A query's end that is none of libunbound's codes (0 and small negatives). */
#define Q_TIMEOUT (-1000)
#define Q_STOPPED (-1001)
/* A domain longer than this cannot be a host name in any encoding (253
 * A-label octets, at most 4 UTF-8 bytes per character); submit copies no more. */
#define MAX_DOMAIN_BYTES 1024

/* libunbound's log and config parser are process-wide: contexts are made
 * and deleted under this lock (libunbound(3) on ub_ctx_config). */
static pthread_mutex_t ub_global_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    char *domain;
    size_t len;
    uint16_t port;
    unsigned deadline_ms;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    s2s_trust_dane_done_fn done;
    void *arg;
} job_t;

struct s2s_trust_dnssec {
    struct ub_ctx *ub;
    pthread_mutex_t lock;     /* the queue, `stopping`, and every query's state */
    pthread_cond_t wake;      /* a job was queued, or stopping */
    pthread_cond_t answered;  /* a query was answered, or stopping (CLOCK_MONOTONIC) */
    pthread_t threads[MAX_THREADS];
    int n_threads;
    pthread_t pump;           /* ub_fd readable -> ub_process -> on_answer */
    int pump_running;
    int pump_stop[2];         /* a pipe: written to stop the pump */
    int stopping;
    size_t idle;      /* threads waiting for a job */
    size_t max_queue; /* lookups that may wait beyond the idle threads */
    job_t *ring;      /* max_queue + threads slots */
    size_t cap, head, count;
};

/* One query in flight; `pending`, `err` and `res` change under r->lock. */
typedef struct {
    s2s_trust_dnssec_t *r;
    char name[300];
    int type;
    int id;                /* libunbound's async_id */
    int pending;
    int err;               /* libunbound's, or Q_TIMEOUT, Q_STOPPED */
    struct ub_result *res; /* owned here once answered */
} query_t;

static unsigned clamp_ms(unsigned ms)
{
    return ms == 0 ? 1 : ms > S2S_TRUST_DNSSEC_MAX_DEADLINE_MS ? S2S_TRUST_DNSSEC_MAX_DEADLINE_MS : ms;
}

static void deadline_in(unsigned ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    ts->tv_sec += (time_t)(ms / 1000) + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static int deadline_passed(const struct timespec *ts)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

const char *s2s_trust_dnssec_status_name(s2s_trust_dnssec_status_t s)
{
    switch (s) {
    case S2S_TRUST_DNSSEC_SECURE: return "secure";
    case S2S_TRUST_DNSSEC_INSECURE: return "insecure";
    case S2S_TRUST_DNSSEC_BOGUS: return "bogus";
    case S2S_TRUST_DNSSEC_ERROR: return "error";
    }
    return "error";
}

static void set_why(s2s_trust_dane_lookup_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(s2s_trust_dane_lookup_t *out, const char *fmt, ...)
{
    va_list ap;

    if (out->why[0] != '\0')
        return; /* the first reason is the one that decided */
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
}

void s2s_trust_dane_lookup_clear(s2s_trust_dane_lookup_t *l)
{
    if (l == NULL)
        return;
    for (size_t t = 0; t < l->n_targets && t < S2S_TRUST_DANE_MAX_TARGETS; t++)
        for (size_t i = 0; i < l->targets[t].n_records && i < S2S_TRUST_TLSA_MAX_RECORDS; i++)
            free((void *)l->targets[t].records[i].data);
    memset(l, 0, sizeof *l);
}

/* One answer's class, in the order that is safe: a bogus answer still
 * carries data and may carry any rcode, so it is looked at first. `why`
 * gets the reason for BOGUS and ERROR. */
static s2s_trust_dnssec_status_t classify(int rc, const struct ub_result *r, const char *qname, unsigned ms,
                                          char *why, size_t whylen)
{
    if (rc == Q_TIMEOUT) {
        snprintf(why, whylen, "timeout: no answer for %s within %u ms", qname, ms);
        return S2S_TRUST_DNSSEC_ERROR;
    }
    if (rc == Q_STOPPED) {
        snprintf(why, whylen, "resolver stopped");
        return S2S_TRUST_DNSSEC_ERROR;
    }
    if (rc != 0 || r == NULL) {
        snprintf(why, whylen, "%s: %s", qname, ub_strerror(rc));
        return S2S_TRUST_DNSSEC_ERROR;
    }
    if (r->bogus) {
        snprintf(why, whylen, "%s: %.200s", qname, r->why_bogus ? r->why_bogus : "DNSSEC validation failed");
        return S2S_TRUST_DNSSEC_BOGUS;
    }
    if (r->rcode == RCODE_SERVFAIL) {
        snprintf(why, whylen, "%s: SERVFAIL", qname);
        return S2S_TRUST_DNSSEC_ERROR;
    }
    if (r->rcode != RCODE_NOERROR && r->rcode != RCODE_NXDOMAIN) {
        snprintf(why, whylen, "%s: DNS error (rcode %d)", qname, r->rcode);
        return S2S_TRUST_DNSSEC_ERROR;
    }
    return r->secure ? S2S_TRUST_DNSSEC_SECURE : S2S_TRUST_DNSSEC_INSECURE;
}

/* Step 2's targets from a secure SRV RRset. 0, or -1 (malformed: ERROR). */
static int srv_targets(const struct ub_result *r, s2s_trust_dane_lookup_t *out)
{
    for (size_t i = 0; r->data[i] != NULL; i++) {
        s2s_trust_srv_rdata_t srv;
        s2s_trust_rdata_status_t st;
        s2s_trust_dane_target_t *t;
        int dup = 0;

        if (r->len[i] < 0)
            return -1;
        st = s2s_trust_srv_rdata_parse((const unsigned char *)r->data[i], (size_t)r->len[i], &srv);
        if (st == S2S_TRUST_RDATA_MALFORMED)
            return -1;
        if (srv.root)
            continue; /* "." : no service there */
        for (size_t k = 0; k < out->n_targets; k++)
            dup |= out->targets[k].port == srv.port && strcmp(out->targets[k].host, srv.target) == 0;
        if (dup || out->n_targets == S2S_TRUST_DANE_MAX_TARGETS)
            continue;
        t = &out->targets[out->n_targets++];
        memcpy(t->host, srv.target, sizeof t->host);
        t->port = srv.port;
        /* A target that is no host name gets no query; its status says so. */
        t->status = st == S2S_TRUST_RDATA_OK ? S2S_TRUST_DNSSEC_SECURE : S2S_TRUST_DNSSEC_ERROR;
        if (st != S2S_TRUST_RDATA_OK)
            set_why(out, "SRV target is not a host name");
    }
    return 0;
}

/* The TLSA records of a secure answer, copied. 0, or -1 out of memory. */
static int copy_records(const struct ub_result *r, s2s_trust_dane_target_t *t)
{
    for (size_t i = 0; r->havedata && r->data[i] != NULL; i++) {
        s2s_trust_tlsa_t rec;
        unsigned char *copy;

        if (t->n_records == S2S_TRUST_TLSA_MAX_RECORDS)
            break;
        if (r->len[i] < 0 ||
            s2s_trust_tlsa_rdata_parse((const unsigned char *)r->data[i], (size_t)r->len[i], &rec) != S2S_TRUST_RDATA_OK)
            continue; /* malformed or oversized: no record */
        if ((copy = malloc(rec.len)) == NULL)
            return -1;
        memcpy(copy, rec.data, rec.len);
        rec.data = copy;
        t->records[t->n_records++] = rec;
    }
    return 0;
}

/* libunbound's callback, on the pump thread: hand the answer to its query. */
static void on_answer(void *arg, int err, struct ub_result *res)
{
    query_t *q = arg;
    s2s_trust_dnssec_t *r = q->r;

    pthread_mutex_lock(&r->lock);
    q->err = err;
    q->res = res;
    q->pending = 0; /* from here on the waiting lookup may return, and q go */
    pthread_cond_broadcast(&r->answered);
    pthread_mutex_unlock(&r->lock);
}

static size_t count_pending(const query_t *qs, size_t n)
{
    size_t left = 0;

    for (size_t i = 0; i < n; i++)
        left += qs[i].pending != 0;
    return left;
}

/* Run qs[0..n) (name, type set) at once; wait for the answers until
 * `deadline` or the resolver stops. Each ends with `res` (or NULL) and
 * `err`: libunbound's, or Q_TIMEOUT / Q_STOPPED (cancelled then).
 * Returns when no callback can touch qs any more. */
static void resolve_all(s2s_trust_dnssec_t *r, query_t *qs, size_t n, const struct timespec *deadline)
{
    for (size_t i = 0; i < n; i++) {
        int rc;

        qs[i].r = r;
        qs[i].id = qs[i].err = 0;
        qs[i].res = NULL;
        qs[i].pending = 1;
        /* Never under r->lock: the callback takes it, and may run before
         * this returns. A query refused here is never called back. */
        rc = ub_resolve_async(r->ub, qs[i].name, qs[i].type, DNS_CLASS_IN, &qs[i], on_answer, &qs[i].id);
        if (rc != 0) {
            qs[i].pending = 0;
            qs[i].err = rc;
        }
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stopping && count_pending(qs, n) > 0)
        if (pthread_cond_timedwait(&r->answered, &r->lock, deadline) == ETIMEDOUT)
            break;
    for (size_t i = 0; i < n; i++) {
        /* ub_cancel takes libunbound's own lock, which libunbound never
         * holds while calling back (so never while waiting for r->lock). */
        if (qs[i].pending && ub_cancel(r->ub, qs[i].id) == UB_NOERROR) {
            qs[i].pending = 0;
            qs[i].err = r->stopping ? Q_STOPPED : Q_TIMEOUT;
        }
    }
    /* UB_NOID: the answer was being delivered; its callback comes now. */
    while (count_pending(qs, n) > 0)
        pthread_cond_wait(&r->answered, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

/* Step 2's TLSA queries, all at once. 0, or -1 out of memory. */
static int targets_tlsa(s2s_trust_dnssec_t *r, const struct timespec *deadline, unsigned ms,
                        s2s_trust_dane_lookup_t *out)
{
    query_t qs[S2S_TRUST_DANE_MAX_TARGETS];
    size_t of[S2S_TRUST_DANE_MAX_TARGETS]; /* the target of each query */
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; i < out->n_targets; i++) {
        s2s_trust_dane_target_t *t = &out->targets[i];

        if (t->status == S2S_TRUST_DNSSEC_ERROR)
            continue; /* no host name: never queried */
        if (s2s_trust_dns_tlsa_name(t->host, t->port, qs[n].name, sizeof qs[n].name) != 0) {
            t->status = S2S_TRUST_DNSSEC_ERROR;
            set_why(out, "TLSA name for %.200s is too long", t->host);
            continue;
        }
        qs[n].type = S2S_TRUST_DNS_TYPE_TLSA;
        of[n++] = i;
    }
    resolve_all(r, qs, n, deadline);
    for (size_t k = 0; k < n; k++) {
        s2s_trust_dane_target_t *t = &out->targets[of[k]];
        char why[256] = "";

        out->timed_out |= qs[k].err == Q_TIMEOUT;
        t->status = classify(qs[k].err, qs[k].res, qs[k].name, ms, why, sizeof why);
        if (rc == 0 && t->status == S2S_TRUST_DNSSEC_SECURE && !qs[k].res->nxdomain)
            rc = copy_records(qs[k].res, t);
        if (t->status == S2S_TRUST_DNSSEC_BOGUS || t->status == S2S_TRUST_DNSSEC_ERROR)
            set_why(out, "%s", why);
        ub_resolve_free(qs[k].res);
    }
    return rc;
}

/* The whole lookup (header, steps 1-3). 0, or -1 out of memory. */
static int run_lookup(s2s_trust_dnssec_t *r, const char *domain, size_t len, uint16_t default_port,
                      const struct timespec *deadline, unsigned ms, s2s_trust_dane_lookup_t *out)
{
    char host[256], why[256] = "";
    s2s_trust_dnssec_status_t st[S2S_TRUST_DANE_MAX_TARGETS];
    query_t srv;
    const char *bad;

    memset(out, 0, sizeof *out);
    out->status = S2S_TRUST_DNSSEC_ERROR;
    if (s2s_trust_dns_host_name(domain, len, host, sizeof host, &bad) != 0) {
        set_why(out, "%s", bad);
        return 0;
    }
    if (s2s_trust_dns_srv_name(host, srv.name, sizeof srv.name) != 0) {
        set_why(out, "domain too long for its SRV name");
        return 0;
    }
    srv.type = S2S_TRUST_DNS_TYPE_SRV;
    resolve_all(r, &srv, 1, deadline);
    out->timed_out = srv.err == Q_TIMEOUT;
    out->status = classify(srv.err, srv.res, srv.name, ms, why, sizeof why);
    if (out->status != S2S_TRUST_DNSSEC_SECURE) {
        if (out->status != S2S_TRUST_DNSSEC_INSECURE)
            set_why(out, "%s", why);
        ub_resolve_free(srv.res);
        return 0;
    }
    if (srv.res->nxdomain || !srv.res->havedata) {
        s2s_trust_dane_target_t *t = &out->targets[out->n_targets++];
        memcpy(t->host, host, sizeof t->host);
        t->port = default_port;
    } else {
        out->srv_found = 1;
        if (srv_targets(srv.res, out) != 0) {
            ub_resolve_free(srv.res);
            s2s_trust_dane_lookup_clear(out);
            out->status = S2S_TRUST_DNSSEC_ERROR;
            set_why(out, "%s: malformed SRV record", srv.name);
            return 0;
        }
    }
    ub_resolve_free(srv.res);
    if (targets_tlsa(r, deadline, ms, out) != 0) {
        s2s_trust_dane_lookup_clear(out);
        return -1;
    }
    for (size_t i = 0; i < out->n_targets; i++)
        st[i] = out->targets[i].status;
    out->status = s2s_trust_dnssec_combine(st, out->n_targets);
    /* `why` is for BOGUS and ERROR; a target's failure beside a secure one
     * is in that target's status. */
    if (out->status == S2S_TRUST_DNSSEC_SECURE || out->status == S2S_TRUST_DNSSEC_INSECURE)
        out->why[0] = '\0';
    return 0;
}

int s2s_trust_dnssec_lookup(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len, uint16_t default_port,
                            unsigned deadline_ms, s2s_trust_dane_lookup_t *out)
{
    struct timespec deadline;

    deadline_ms = clamp_ms(deadline_ms);
    deadline_in(deadline_ms, &deadline);
    return run_lookup(r, domain, domain_len, default_port, &deadline, deadline_ms, out);
}

/* ---- the threads and their queue ---------------------------------------- */

__attribute__((format(printf, 4, 5))) static void answer(job_t *j, s2s_trust_dane_lookup_t *res, int timed_out,
                                                         const char *fmt, ...)
{
    va_list ap;

    memset(res, 0, sizeof *res);
    res->status = S2S_TRUST_DNSSEC_ERROR;
    res->timed_out = timed_out;
    va_start(ap, fmt);
    vsnprintf(res->why, sizeof res->why, fmt, ap);
    va_end(ap);
    j->done(j->arg, res);
}

static void *worker(void *arg)
{
    s2s_trust_dnssec_t *r = arg;
    s2s_trust_dane_lookup_t res; /* ~9 KiB: on this thread's own stack */

    for (;;) {
        job_t j;

        pthread_mutex_lock(&r->lock);
        while (!r->stopping && r->count == 0) {
            r->idle++;
            pthread_cond_wait(&r->wake, &r->lock);
            r->idle--;
        }
        if (r->stopping) { /* s2s_trust_dnssec_free answers what is queued */
            pthread_mutex_unlock(&r->lock);
            break;
        }
        j = r->ring[r->head];
        r->head = (r->head + 1) % r->cap;
        r->count--;
        pthread_mutex_unlock(&r->lock);

        if (deadline_passed(&j.deadline)) {
            answer(&j, &res, 1, "timeout: still queued after %u ms (every resolver thread busy)", j.deadline_ms);
        } else if (run_lookup(r, j.domain, j.len, j.port, &j.deadline, j.deadline_ms, &res) != 0) {
            answer(&j, &res, 0, "out of memory");
        } else {
            j.done(j.arg, &res);
            s2s_trust_dane_lookup_clear(&res);
        }
        free(j.domain);
    }
    return NULL;
}

/* libunbound's answers: ub_process (which calls on_answer) whenever its
 * pipe is readable, until s2s_trust_dnssec_free writes to pump_stop. If
 * libunbound's pipe fails, lookups still end at their deadlines (their
 * queries are then cancelled, never waited on). */
static void *pump(void *arg)
{
    s2s_trust_dnssec_t *r = arg;
    struct pollfd p[2] = { { .fd = ub_fd(r->ub), .events = POLLIN }, { .fd = r->pump_stop[0], .events = POLLIN } };

    /* After EINTR, revents are the last round's: at worst one idle ub_process. */
    while (poll(p, 2, -1) >= 0 || errno == EINTR)
        if (p[1].revents != 0 || (p[0].revents != 0 && ub_process(r->ub) != UB_NOERROR))
            break;
    return NULL;
}

int s2s_trust_dnssec_submit(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len, uint16_t default_port,
                            unsigned deadline_ms, s2s_trust_dane_done_fn done, void *arg)
{
    job_t j = { .len = domain_len, .port = default_port, .deadline_ms = clamp_ms(deadline_ms), .done = done,
                .arg = arg };
    int rc = -1;

    if (r == NULL || done == NULL || (domain == NULL && domain_len > 0))
        return -1;
    deadline_in(j.deadline_ms, &j.deadline);
    if (j.len > MAX_DOMAIN_BYTES)
        j.len = MAX_DOMAIN_BYTES + 1; /* still no host name; the lookup says so */
    if ((j.domain = malloc(j.len + 1)) == NULL)
        return -1;
    if (j.len > 0)
        memcpy(j.domain, domain, j.len);
    j.domain[j.len] = '\0';
    pthread_mutex_lock(&r->lock);
    /* Waiting lookups are those beyond the idle threads. */
    if (!r->stopping && r->count < r->max_queue + r->idle && r->count < r->cap) {
        r->ring[(r->head + r->count) % r->cap] = j;
        r->count++;
        pthread_cond_signal(&r->wake);
        rc = 0;
    }
    pthread_mutex_unlock(&r->lock);
    if (rc != 0)
        free(j.domain);
    return rc;
}

/* Stop the threads after answering the queue on this thread; the lookups
 * in flight end at once (resolve_all sees `stopping`). */
static void stop_threads(s2s_trust_dnssec_t *r)
{
    s2s_trust_dane_lookup_t res;

    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_broadcast(&r->wake);
    pthread_cond_broadcast(&r->answered);
    pthread_mutex_unlock(&r->lock);
    /* No thread takes a job once stopping is set, and submit adds none:
     * the queue is this thread's alone now. */
    while (r->count > 0) {
        job_t j = r->ring[r->head];
        r->head = (r->head + 1) % r->cap;
        r->count--;
        answer(&j, &res, 0, "resolver stopped");
        free(j.domain);
    }
    for (int i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
    r->n_threads = 0;
    /* Every lookup has returned, so no query waits for an answer: the
     * pump may go. */
    if (r->pump_running) {
        while (write(r->pump_stop[1], "x", 1) < 0 && errno == EINTR)
            continue;
        pthread_join(r->pump, NULL);
        r->pump_running = 0;
    }
}

void s2s_trust_dnssec_free(s2s_trust_dnssec_t *r)
{
    if (r == NULL)
        return;
    stop_threads(r);
    if (r->ub != NULL) {
        /* Joins libunbound's thread and kills the queries it still runs
         * (cancelled ones included): no callback of ours is left. */
        pthread_mutex_lock(&ub_global_lock);
        ub_ctx_delete(r->ub);
        pthread_mutex_unlock(&ub_global_lock);
        r->ub = NULL;
    }
    for (int i = 0; i < 2; i++)
        if (r->pump_stop[i] >= 0)
            close(r->pump_stop[i]);
    pthread_cond_destroy(&r->answered);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r->ring);
    free(r);
}

/* Append to err what libunbound's log text says after each " error: "
 * (its lines are "[T] libunbound[P:T] error: TEXT"), as " (TEXT; TEXT)". */
static void add_logged_errors(const char *log, char *err, size_t errlen)
{
    size_t o = strlen(err), first = o;
    const char *e;

    for (; log != NULL && (e = strstr(log, " error: ")) != NULL && o + 4 < errlen; log = e) {
        e += strlen(" error: ");
        o += (size_t)snprintf(err + o, errlen - o, "%s%.*s", o == first ? " (" : "; ", (int)strcspn(e, "\n"), e);
    }
    if (o > first && o + 1 < errlen)
        snprintf(err + o, errlen - o, ")");
}

/* libunbound's mode, configuration and trust anchor. 0, or -1 with err set. */
static int configure(struct ub_ctx *ub, const char *unbound_conf, const char *trust_anchor, char *err, size_t errlen)
{
    int rc;

    if ((rc = ub_ctx_async(ub, 1)) != 0) { /* a thread, never fork() */
        snprintf(err, errlen, "ub_ctx_async: %s", ub_strerror(rc));
        return -1;
    }
    if (unbound_conf != NULL && (rc = ub_ctx_config(ub, unbound_conf)) != 0) {
        snprintf(err, errlen, "%s: %s", unbound_conf, rc == UB_SYNTAX ? "cannot read or parse it" : ub_strerror(rc));
        return -1;
    }
    if (trust_anchor != NULL) {
        /* Checked here for a plain message; libunbound reads it below. */
        if (access(trust_anchor, R_OK) != 0) {
            snprintf(err, errlen, "%s: trust anchor not readable", trust_anchor);
            return -1;
        }
        rc = ub_ctx_add_ta_file(ub, trust_anchor);
    } else if (access(SYSTEM_ROOT_KEY, R_OK) == 0) {
        /* RFC 5011 updates stay in memory when the file is not writable. */
        rc = ub_ctx_add_ta_autr(ub, SYSTEM_ROOT_KEY);
    } else if (unbound_conf == NULL) {
        snprintf(err, errlen, "no trust anchor: %s is missing (Debian: dns-root-data) and none is configured",
                 SYSTEM_ROOT_KEY);
        return -1;
    } else {
        rc = 0; /* the configuration file's own trust-anchor-file, if any */
    }
    if (rc != 0) {
        snprintf(err, errlen, "trust anchor: %s", ub_strerror(rc));
        return -1;
    }
    /* libunbound reads its files (config, anchors) at its first query, or
     * when something needs them now: removing a local zone that does not
     * exist needs the context finalized, and does nothing else. A bad
     * anchor or module setting fails here, not at a peer's lookup. */
    if ((rc = ub_ctx_zone_remove(ub, "s2s-trust-setup.invalid.")) != 0) {
        snprintf(err, errlen, "libunbound setup: %s", ub_strerror(rc));
        return -1;
    }
    return 0;
}

/* r->ub: a threaded asynchronous context, configured, its log off. While
 * it is made its log is captured, and on failure its errors follow ours
 * in err. 0, or -1 with err set. */
static int make_context(s2s_trust_dnssec_t *r, const char *unbound_conf, const char *trust_anchor, char *err,
                        size_t errlen)
{
    char *log = NULL;
    size_t log_len = 0;
    FILE *capture;
    int rc = -1;

    pthread_mutex_lock(&ub_global_lock);
    if ((capture = open_memstream(&log, &log_len)) == NULL) {
        snprintf(err, errlen, "open_memstream: %s", strerror(errno));
        goto done;
    }
    if ((r->ub = ub_ctx_create()) == NULL) {
        snprintf(err, errlen, "ub_ctx_create failed");
        goto done;
    }
    /* libunbound's log is one for the process: `capture` until below,
     * then none (ub_ctx_debugout NULL) for as long as the context lives;
     * verbosity 0 so that nothing is even formatted for it. */
    ub_ctx_debugout(r->ub, capture);
    rc = configure(r->ub, unbound_conf, trust_anchor, err, errlen);
    ub_ctx_debugout(r->ub, NULL);
    ub_ctx_debuglevel(r->ub, 0);
done:
    if (capture != NULL && fclose(capture) == 0 && rc != 0)
        add_logged_errors(log, err, errlen);
    free(log);
    pthread_mutex_unlock(&ub_global_lock);
    return rc;
}

s2s_trust_dnssec_t *s2s_trust_dnssec_new(const char *unbound_conf, const char *trust_anchor, int threads,
                                         size_t max_queue, char *err, size_t errlen)
{
    s2s_trust_dnssec_t *r = NULL;
    pthread_condattr_t ca;
    char why[512] = "out of memory";
    int rc;

    if (threads < 1 || threads > MAX_THREADS || max_queue > MAX_QUEUE) {
        snprintf(why, sizeof why, "threads must be 1..%d and max_queue at most %d", MAX_THREADS, MAX_QUEUE);
        goto fail;
    }
    if ((r = calloc(1, sizeof *r)) == NULL)
        goto fail;
    r->pump_stop[0] = r->pump_stop[1] = -1;
    r->max_queue = max_queue;
    r->cap = max_queue + (size_t)threads;
    if ((r->ring = calloc(r->cap, sizeof *r->ring)) == NULL) {
        free(r);
        r = NULL;
        goto fail;
    }
    /* From here on s2s_trust_dnssec_free undoes what was done. */
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->answered, &ca);
    pthread_condattr_destroy(&ca);
    if (make_context(r, unbound_conf, trust_anchor, why, sizeof why) != 0)
        goto fail;
    if (pipe2(r->pump_stop, O_CLOEXEC) != 0) {
        snprintf(why, sizeof why, "pipe2: %s", strerror(errno));
        goto fail;
    }
    if ((rc = pthread_create(&r->pump, NULL, pump, r)) != 0) {
        snprintf(why, sizeof why, "pthread_create: %s", strerror(rc));
        goto fail;
    }
    r->pump_running = 1;
    for (int i = 0; i < threads; i++) {
        if ((rc = pthread_create(&r->threads[i], NULL, worker, r)) != 0) {
            snprintf(why, sizeof why, "pthread_create: %s", strerror(rc));
            goto fail;
        }
        r->n_threads++;
    }
    return r;
fail:
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    s2s_trust_dnssec_free(r);
    return NULL;
}
