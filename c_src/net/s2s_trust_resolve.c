/* s2s_trust_resolve.c - see s2s_trust_resolve.h */
#include "net/s2s_trust_resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define XMPP_SERVER_PORT 5269
#define DNS_MSG_MAX 65536

const char *s2s_trust_srv_outcome_name(s2s_trust_srv_outcome_t outcome)
{
    switch (outcome) {
    case S2S_TRUST_SRV_FOUND: return "found";
    case S2S_TRUST_SRV_NONE: return "none";
    case S2S_TRUST_SRV_UNAVAILABLE: return "unavailable";
    case S2S_TRUST_SRV_FAILED: return "failed";
    }
    return "failed";
}

/* ---- parsing and ordering (no network) -------------------------------------- */

int s2s_trust_srv_parse(const unsigned char *msg, size_t len, s2s_trust_srv_t *out, size_t max)
{
    ns_msg handle;
    int count, kept = 0;

    if (len > DNS_MSG_MAX || ns_initparse(msg, (int)len, &handle) != 0)
        return -1;
    count = ns_msg_count(handle, ns_s_an);
    for (int i = 0; i < count && (size_t)kept < max; i++) {
        ns_rr rr;
        const unsigned char *rd;
        char name[NS_MAXDNAME];

        if (ns_parserr(&handle, ns_s_an, i, &rr) != 0)
            return -1;
        /* CNAMEs and anything else a resolver may put beside the answer. */
        if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in)
            continue;
        if (ns_rr_rdlen(rr) < 7)
            return -1;
        rd = ns_rr_rdata(rr);
        /* The target may be compressed against the whole message, so it is
         * expanded from there, bounded by the message's end; it must also
         * end inside this record's data. */
        {
            int used = ns_name_uncompress(ns_msg_base(handle), ns_msg_end(handle), rd + 6, name, sizeof name);
            if (used < 0 || (size_t)used > (size_t)ns_rr_rdlen(rr) - 6)
                return -1;
        }
        if (name[0] == '\0')
            strcpy(name, ".");
        if (strlen(name) >= S2S_TRUST_RESOLVE_NAME_MAX)
            continue;
        out[kept].priority = ns_get16(rd);
        out[kept].weight = ns_get16(rd + 2);
        out[kept].port = ns_get16(rd + 4);
        strcpy(out[kept].target, name);
        kept++;
    }
    return kept;
}

static int by_priority(const void *a, const void *b)
{
    const s2s_trust_srv_t *x = a, *y = b;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    /* RFC 2782: weight 0 records first within a priority; qsort is not
     * stable, so the rest keep a fixed (target, port) order. */
    if ((x->weight == 0) != (y->weight == 0))
        return x->weight == 0 ? -1 : 1;
    {
        int c = strcmp(x->target, y->target);
        if (c != 0)
            return c;
    }
    return x->port < y->port ? -1 : x->port > y->port;
}

void s2s_trust_srv_order(s2s_trust_srv_t *recs, size_t n, uint32_t (*rnd)(void *ctx), void *ctx)
{
    size_t start = 0;

    if (n < 2)
        return;
    qsort(recs, n, sizeof *recs, by_priority);
    while (start < n) {
        size_t end = start;
        while (end < n && recs[end].priority == recs[start].priority)
            end++;
        /* RFC 2782: sum the weights of the records not yet chosen, pick a
         * number in [0, sum], take the first record whose running sum
         * reaches it; move it to the front of what is left, repeat. */
        for (size_t k = start; k + 1 < end; k++) {
            uint32_t sum = 0, running = 0, pick;
            size_t chosen = k;
            for (size_t i = k; i < end; i++)
                sum += recs[i].weight;
            pick = rnd(ctx) % (sum + 1);
            for (size_t i = k; i < end; i++) {
                running += recs[i].weight;
                if (running >= pick) {
                    chosen = i;
                    break;
                }
            }
            if (chosen != k) {
                s2s_trust_srv_t tmp = recs[chosen];
                memmove(&recs[k + 1], &recs[k], (chosen - k) * sizeof *recs);
                recs[k] = tmp;
            }
        }
        start = end;
    }
}

/* ---- the network -------------------------------------------------------------- */

static uint32_t os_random(void *ctx)
{
    uint32_t v = 0;

    (void)ctx;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = (uint32_t)random();
    return v;
}

static void note(s2s_trust_resolution_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(s2s_trust_resolution_t *out, const char *fmt, ...)
{
    size_t used = strlen(out->notes);
    va_list ap;

    if (used > 0 && used + 2 < sizeof out->notes) {
        memcpy(out->notes + used, "; ", 3);
        used += 2;
    }
    va_start(ap, fmt);
    if (used < sizeof out->notes)
        vsnprintf(out->notes + used, sizeof out->notes - used, fmt, ap);
    va_end(ap);
}

static s2s_trust_srv_outcome_t lookup_srv(res_state rs, const char *service, const char *domain,
                                          unsigned char *msg, s2s_trust_srv_t *recs, size_t *count,
                                          s2s_trust_resolution_t *out)
{
    char qname[NS_MAXDNAME];
    int len, n;

    *count = 0;
    snprintf(qname, sizeof qname, "_%s._tcp.%s", service, domain);
    len = res_nquery(rs, qname, ns_c_in, ns_t_srv, msg, DNS_MSG_MAX);
    if (len < 0) {
        if (rs->res_h_errno == HOST_NOT_FOUND || rs->res_h_errno == NO_DATA)
            return S2S_TRUST_SRV_NONE;
        note(out, "%s: SRV lookup failed (%s)", qname, hstrerror(rs->res_h_errno));
        return S2S_TRUST_SRV_FAILED;
    }
    n = s2s_trust_srv_parse(msg, len > DNS_MSG_MAX ? DNS_MSG_MAX : (size_t)len, recs, S2S_TRUST_RESOLVE_MAX_SRV);
    if (n < 0) {
        note(out, "%s: malformed DNS answer", qname);
        return S2S_TRUST_SRV_FAILED;
    }
    if (n == 0)
        return S2S_TRUST_SRV_NONE;
    /* RFC 2782: "." as the only record means "not offered here". */
    if (n == 1 && strcmp(recs[0].target, ".") == 0)
        return S2S_TRUST_SRV_UNAVAILABLE;
    s2s_trust_srv_order(recs, (size_t)n, os_random, NULL);
    *count = (size_t)n;
    return S2S_TRUST_SRV_FOUND;
}

/* Every address of `srv->target`, as candidates. */
static void add_target(s2s_trust_resolution_t *out, const s2s_trust_srv_t *srv, s2s_trust_tls_mode_t mode,
                       int from_srv)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL, *ai;
    int rc, added = 0;

    if (strcmp(srv->target, ".") == 0)
        return;
    rc = getaddrinfo(srv->target, NULL, &hints, &res);
    if (rc != 0) {
        note(out, "%s: no address (%s)", srv->target, gai_strerror(rc));
        return;
    }
    for (ai = res; ai != NULL && added < S2S_TRUST_RESOLVE_MAX_ADDRS && out->count < S2S_TRUST_RESOLVE_MAX;
         ai = ai->ai_next) {
        char addr[64];
        int dup = 0;
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof addr, NULL, 0, NI_NUMERICHOST) != 0)
            continue;
        for (size_t i = 0; i < out->count; i++)
            if (strcmp(out->items[i].address, addr) == 0 && out->items[i].port == srv->port &&
                out->items[i].mode == mode)
                dup = 1;
        if (dup)
            continue;
        s2s_trust_candidate_t *c = &out->items[out->count++];
        snprintf(c->address, sizeof c->address, "%s", addr);
        c->port = srv->port;
        c->mode = mode;
        c->from_srv = from_srv;
        c->srv = *srv;
        added++;
    }
    freeaddrinfo(res);
}

size_t s2s_trust_resolve(const char *domain, s2s_trust_resolution_t *out)
{
    struct __res_state rs;
    unsigned char *msg = malloc(DNS_MSG_MAX);

    memset(out, 0, sizeof *out);
    out->xmpps = out->xmpp = S2S_TRUST_SRV_FAILED;
    if (msg == NULL) {
        note(out, "out of memory");
        return 0;
    }
    memset(&rs, 0, sizeof rs);
    if (res_ninit(&rs) != 0) {
        note(out, "cannot initialise the resolver (/etc/resolv.conf)");
    } else {
        /* Bounded: 2 tries of 3 s per name server instead of 2 x 5 s. */
        rs.retrans = 3;
        rs.retry = 2;
        out->xmpps = lookup_srv(&rs, "xmpps-server", domain, msg, out->xmpps_srv, &out->xmpps_count, out);
        out->xmpp = lookup_srv(&rs, "xmpp-server", domain, msg, out->xmpp_srv, &out->xmpp_count, out);
        res_nclose(&rs);
    }
    free(msg);

    for (size_t i = 0; i < out->xmpps_count; i++)
        add_target(out, &out->xmpps_srv[i], S2S_TRUST_TLS_MODE_DIRECT_TLS, 1);
    for (size_t i = 0; i < out->xmpp_count; i++)
        add_target(out, &out->xmpp_srv[i], S2S_TRUST_TLS_MODE_STARTTLS, 1);
    /* RFC 6120 3.2.2: no usable _xmpp-server answer -> the domain itself on
     * 5269; never when that service said "." */
    if (out->xmpp == S2S_TRUST_SRV_NONE || out->xmpp == S2S_TRUST_SRV_FAILED) {
        s2s_trust_srv_t fb = { .port = XMPP_SERVER_PORT };
        snprintf(fb.target, sizeof fb.target, "%s", domain);
        out->fallback = 1;
        add_target(out, &fb, S2S_TRUST_TLS_MODE_STARTTLS, 0);
    }
    return out->count;
}
