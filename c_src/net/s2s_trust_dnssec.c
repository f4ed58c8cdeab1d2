/*
 * s2s_trust_dnssec.c - see s2s_trust_dnssec.h. The resolver's life (one
 * libunbound context, a fixed pool of threads, a bounded queue) and one
 * lookup's RFC 7673 steps; reading record data is s2s_trust_dns_rdata.c.
 */
#include "net/s2s_trust_dnssec.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
/* A domain longer than this cannot be a host name in any encoding (253
 * A-label octets, at most 4 UTF-8 bytes per character); submit copies no more. */
#define MAX_DOMAIN_BYTES 1024

typedef struct {
    char *domain;
    size_t len;
    uint16_t port;
    s2s_trust_dane_done_fn done;
    void *arg;
} job_t;

struct s2s_trust_dnssec {
    struct ub_ctx *ub;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t threads[MAX_THREADS];
    int n_threads;
    int stopping;
    size_t idle;      /* threads waiting for a job */
    size_t max_queue; /* lookups that may wait beyond the idle threads */
    job_t *ring;      /* max_queue + threads slots */
    size_t cap, head, count;
};

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
static s2s_trust_dnssec_status_t classify(int rc, const struct ub_result *r, const char *qname, char *why,
                                          size_t whylen)
{
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

/* Step 2's TLSA query for one target. 0, or -1 out of memory. */
static int target_tlsa(struct ub_ctx *ub, s2s_trust_dane_target_t *t, s2s_trust_dane_lookup_t *out)
{
    char qname[300], why[256] = "";
    struct ub_result *r = NULL;
    int rc;

    if (s2s_trust_dns_tlsa_name(t->host, t->port, qname, sizeof qname) != 0) {
        t->status = S2S_TRUST_DNSSEC_ERROR;
        set_why(out, "TLSA name for %.200s is too long", t->host);
        return 0;
    }
    rc = ub_resolve(ub, qname, S2S_TRUST_DNS_TYPE_TLSA, DNS_CLASS_IN, &r);
    t->status = classify(rc, r, qname, why, sizeof why);
    if (t->status == S2S_TRUST_DNSSEC_SECURE && !r->nxdomain)
        rc = copy_records(r, t);
    else
        rc = 0;
    if (t->status == S2S_TRUST_DNSSEC_BOGUS || t->status == S2S_TRUST_DNSSEC_ERROR)
        set_why(out, "%s", why);
    ub_resolve_free(r);
    return rc;
}

/* The whole lookup (header, steps 1-3). 0, or -1 out of memory. */
static int run_lookup(struct ub_ctx *ub, const char *domain, size_t len, uint16_t default_port,
                      s2s_trust_dane_lookup_t *out)
{
    char host[256], qname[300], why[256] = "";
    s2s_trust_dnssec_status_t st[S2S_TRUST_DANE_MAX_TARGETS];
    struct ub_result *r = NULL;
    const char *bad;
    int rc;

    memset(out, 0, sizeof *out);
    out->status = S2S_TRUST_DNSSEC_ERROR;
    if (s2s_trust_dns_host_name(domain, len, host, sizeof host, &bad) != 0) {
        set_why(out, "%s", bad);
        return 0;
    }
    if (s2s_trust_dns_srv_name(host, qname, sizeof qname) != 0) {
        set_why(out, "domain too long for its SRV name");
        return 0;
    }
    rc = ub_resolve(ub, qname, S2S_TRUST_DNS_TYPE_SRV, DNS_CLASS_IN, &r);
    out->status = classify(rc, r, qname, why, sizeof why);
    if (out->status != S2S_TRUST_DNSSEC_SECURE) {
        if (out->status != S2S_TRUST_DNSSEC_INSECURE)
            set_why(out, "%s", why);
        ub_resolve_free(r);
        return 0;
    }
    if (r->nxdomain || !r->havedata) {
        s2s_trust_dane_target_t *t = &out->targets[out->n_targets++];
        memcpy(t->host, host, sizeof t->host);
        t->port = default_port;
    } else {
        out->srv_found = 1;
        if (srv_targets(r, out) != 0) {
            ub_resolve_free(r);
            s2s_trust_dane_lookup_clear(out);
            out->status = S2S_TRUST_DNSSEC_ERROR;
            set_why(out, "%s: malformed SRV record", qname);
            return 0;
        }
    }
    ub_resolve_free(r);
    for (size_t i = 0; i < out->n_targets; i++) {
        if (out->targets[i].status != S2S_TRUST_DNSSEC_ERROR && target_tlsa(ub, &out->targets[i], out) != 0) {
            s2s_trust_dane_lookup_clear(out);
            return -1;
        }
        st[i] = out->targets[i].status;
    }
    out->status = s2s_trust_dnssec_combine(st, out->n_targets);
    /* `why` is for BOGUS and ERROR; a target's failure beside a secure one
     * is in that target's status. */
    if (out->status == S2S_TRUST_DNSSEC_SECURE || out->status == S2S_TRUST_DNSSEC_INSECURE)
        out->why[0] = '\0';
    return 0;
}

int s2s_trust_dnssec_lookup(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len, uint16_t default_port,
                            s2s_trust_dane_lookup_t *out)
{
    return run_lookup(r->ub, domain, domain_len, default_port, out);
}

/* ---- the threads and their queue ---------------------------------------- */

static void answer(job_t *j, s2s_trust_dane_lookup_t *res, const char *why)
{
    memset(res, 0, sizeof *res);
    res->status = S2S_TRUST_DNSSEC_ERROR;
    snprintf(res->why, sizeof res->why, "%s", why);
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

        if (run_lookup(r->ub, j.domain, j.len, j.port, &res) != 0) {
            answer(&j, &res, "out of memory");
        } else {
            j.done(j.arg, &res);
            s2s_trust_dane_lookup_clear(&res);
        }
        free(j.domain);
    }
    return NULL;
}

int s2s_trust_dnssec_submit(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len, uint16_t default_port,
                            s2s_trust_dane_done_fn done, void *arg)
{
    job_t j = { .len = domain_len, .port = default_port, .done = done, .arg = arg };
    int rc = -1;

    if (r == NULL || done == NULL || (domain == NULL && domain_len > 0))
        return -1;
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

/* Stop the threads (they finish the lookup they run) after answering the
 * queue on this thread. */
static void stop_threads(s2s_trust_dnssec_t *r)
{
    s2s_trust_dane_lookup_t res;

    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    /* No thread takes a job once stopping is set, and submit adds none:
     * the queue is this thread's alone now. */
    while (r->count > 0) {
        job_t j = r->ring[r->head];
        r->head = (r->head + 1) % r->cap;
        r->count--;
        answer(&j, &res, "resolver stopped");
        free(j.domain);
    }
    for (int i = 0; i < r->n_threads; i++)
        pthread_join(r->threads[i], NULL);
    r->n_threads = 0;
}

void s2s_trust_dnssec_free(s2s_trust_dnssec_t *r)
{
    if (r == NULL)
        return;
    stop_threads(r);
    if (r->ub != NULL)
        ub_ctx_delete(r->ub);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r->ring);
    free(r);
}

/* libunbound's configuration and trust anchor. 0, or -1 with err set. */
static int configure(struct ub_ctx *ub, const char *unbound_conf, const char *trust_anchor, char *err, size_t errlen)
{
    int rc;

    if (unbound_conf != NULL && (rc = ub_ctx_config(ub, unbound_conf)) != 0) {
        snprintf(err, errlen, "%s: %s", unbound_conf, ub_strerror(rc));
        return -1;
    }
    if (trust_anchor != NULL) {
        /* libunbound reads the file only at the first query: check it now,
         * so a wrong path is a configuration error and not an ERROR per peer. */
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
    return 0;
}

s2s_trust_dnssec_t *s2s_trust_dnssec_new(const char *unbound_conf, const char *trust_anchor, int threads,
                                         size_t max_queue, char *err, size_t errlen)
{
    s2s_trust_dnssec_t *r = NULL;
    char why[512] = "out of memory";
    int rc;

    if (threads < 1 || threads > MAX_THREADS || max_queue > MAX_QUEUE) {
        snprintf(why, sizeof why, "threads must be 1..%d and max_queue at most %d", MAX_THREADS, MAX_QUEUE);
        goto fail;
    }
    if ((r = calloc(1, sizeof *r)) == NULL)
        goto fail;
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
    if ((r->ub = ub_ctx_create()) == NULL) {
        snprintf(why, sizeof why, "ub_ctx_create failed");
        goto fail;
    }
    if (configure(r->ub, unbound_conf, trust_anchor, why, sizeof why) != 0)
        goto fail;
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
