/* test_resolve.c - SRV answers and their order, without the network: DNS
 * messages are built here byte by byte (name compression included), and
 * the RFC 2782 weighted order is driven by a fixed random sequence. */
#include <stdint.h>
#include <stdlib.h>

#include "net/s2s_trust_resolve.h"
#include "testing.h"
#include "tests.h"

typedef struct {
    unsigned char b[1024];
    size_t n;
} msg_t;

static void put8(msg_t *m, unsigned v) { m->b[m->n++] = (unsigned char)v; }
static void put16(msg_t *m, unsigned v) { put8(m, v >> 8); put8(m, v & 0xff); }

static void put_name(msg_t *m, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        put8(m, (unsigned)l);
        memcpy(m->b + m->n, name, l);
        m->n += l;
        name += l + (dot ? 1 : 0);
    }
    put8(m, 0);
}

/* Header + question for _xmpp-server._tcp.example.org SRV; the question
 * name sits at offset 12 for compression pointers. */
static void start(msg_t *m, unsigned answers)
{
    m->n = 0;
    put16(m, 0x1234);
    put16(m, 0x8180); /* response, RD, RA, NOERROR */
    put16(m, 1);
    put16(m, answers);
    put16(m, 0);
    put16(m, 0);
    put_name(m, "_xmpp-server._tcp.example.org");
    put16(m, 33); /* SRV */
    put16(m, 1);  /* IN */
}

/* An SRV answer; target NULL = the root ("."), "@N" = a pointer to offset N. */
static void srv(msg_t *m, unsigned prio, unsigned weight, unsigned port, const char *target)
{
    size_t rdlen_at;

    put16(m, 0xc00c); /* owner: pointer to the question name */
    put16(m, 33);
    put16(m, 1);
    put16(m, 0);
    put16(m, 300); /* TTL */
    rdlen_at = m->n;
    put16(m, 0);
    put16(m, prio);
    put16(m, weight);
    put16(m, port);
    if (target == NULL)
        put8(m, 0);
    else if (target[0] == '@')
        put16(m, 0xc000 | (unsigned)atoi(target + 1));
    else
        put_name(m, target);
    m->b[rdlen_at] = (unsigned char)((m->n - rdlen_at - 2) >> 8);
    m->b[rdlen_at + 1] = (unsigned char)((m->n - rdlen_at - 2) & 0xff);
}

void test_resolve_srv_parse(void)
{
    msg_t m;
    s2s_trust_srv_t r[8];
    int n;

    start(&m, 3);
    srv(&m, 10, 5, 5269, "xmpp1.example.org");
    /* A CNAME among the answers is skipped. */
    put16(&m, 0xc00c);
    put16(&m, 5);
    put16(&m, 1);
    put16(&m, 0);
    put16(&m, 300);
    put16(&m, 2);
    put16(&m, 0xc00c);
    /* "example.org" by pointer into the question (offset 12 + 1+12 + 1+4). */
    srv(&m, 20, 0, 5270, "@30");
    n = s2s_trust_srv_parse(m.b, m.n, r, 8);
    CHECK_MSG(n == 2, "n = %d", n);
    if (n == 2) {
        CHECK(r[0].priority == 10 && r[0].weight == 5 && r[0].port == 5269);
        CHECK_STR(r[0].target, "xmpp1.example.org");
        CHECK(r[1].priority == 20 && r[1].port == 5270);
        CHECK_STR(r[1].target, "example.org");
    }
    /* The bound on records. */
    CHECK(s2s_trust_srv_parse(m.b, m.n, r, 1) == 1);

    start(&m, 1);
    srv(&m, 0, 0, 0, NULL);
    n = s2s_trust_srv_parse(m.b, m.n, r, 8);
    CHECK(n == 1);
    CHECK_STR(r[0].target, ".");

    /* Truncated: every prefix of a good message fails or parses fewer. */
    start(&m, 2);
    srv(&m, 10, 5, 5269, "xmpp1.example.org");
    srv(&m, 10, 5, 5269, "xmpp2.example.org");
    for (size_t cut = 0; cut < m.n; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1); /* exact size for ASan */
        memcpy(copy, m.b, cut);
        n = s2s_trust_srv_parse(copy, cut, r, 8);
        CHECK_MSG(n < 2, "a message cut at %zu gave %d records", cut, n);
        free(copy);
    }
    /* A compression pointer that loops onto itself. */
    start(&m, 1);
    {
        size_t at = m.n + 12 + 6; /* where the target will be */
        char ptr[8];
        snprintf(ptr, sizeof ptr, "@%zu", at);
        srv(&m, 1, 1, 1, ptr);
    }
    CHECK(s2s_trust_srv_parse(m.b, m.n, r, 8) == -1);
    /* rdata too short for an SRV record. */
    start(&m, 1);
    put16(&m, 0xc00c);
    put16(&m, 33);
    put16(&m, 1);
    put16(&m, 0);
    put16(&m, 300);
    put16(&m, 4);
    put16(&m, 1);
    put16(&m, 1);
    CHECK(s2s_trust_srv_parse(m.b, m.n, r, 8) == -1);
}

typedef struct {
    const uint32_t *seq;
    size_t n, i;
} seq_t;

static uint32_t next(void *ctx)
{
    seq_t *s = ctx;
    return s->seq[s->i++ % s->n];
}

static uint32_t xorshift(void *ctx)
{
    uint32_t *x = ctx;
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void set(s2s_trust_srv_t *r, unsigned prio, unsigned weight, const char *target)
{
    memset(r, 0, sizeof *r);
    r->priority = (uint16_t)prio;
    r->weight = (uint16_t)weight;
    r->port = 5269;
    snprintf(r->target, sizeof r->target, "%s", target);
}

void test_resolve_srv_order(void)
{
    s2s_trust_srv_t r[5];
    static const uint32_t zeros[] = { 0 };
    static const uint32_t fifty[] = { 50 };
    seq_t s;

    /* Priorities ascending; within one, weight-0 records come first when
     * the random number is 0 (RFC 2782: running sum >= 0). */
    set(&r[0], 20, 0, "d");
    set(&r[1], 10, 90, "c");
    set(&r[2], 10, 10, "b");
    set(&r[3], 10, 0, "a");
    set(&r[4], 5, 0, "e");
    s = (seq_t){ zeros, 1, 0 };
    s2s_trust_srv_order(r, 5, next, &s);
    CHECK_STR(r[0].target, "e");
    CHECK_STR(r[1].target, "a");
    CHECK(r[1].priority == 10 && r[2].priority == 10 && r[3].priority == 10);
    CHECK_STR(r[4].target, "d");

    /* Weights 0, 10, 90 (sum 100): 50 falls in the 90 one. Then 0, 10
     * (sum 10): 50 % 11 = 6 falls in the 10 one; then the 0 one. */
    set(&r[0], 10, 10, "b");
    set(&r[1], 10, 90, "c");
    set(&r[2], 10, 0, "a");
    s = (seq_t){ fifty, 1, 0 };
    s2s_trust_srv_order(r, 3, next, &s);
    CHECK_STR(r[0].target, "c");
    CHECK_STR(r[1].target, "b");
    CHECK_STR(r[2].target, "a");

    /* Statistics: weight 10 against 90 comes first about 10 % of the time
     * (9.9 %: picks 0..10 of 0..100). */
    {
        uint32_t state = 0x9e3779b9u;
        int first_b = 0, runs = 20000;
        for (int i = 0; i < runs; i++) {
            set(&r[0], 1, 90, "c");
            set(&r[1], 1, 10, "b");
            s2s_trust_srv_order(r, 2, xorshift, &state);
            if (strcmp(r[0].target, "b") == 0)
                first_b++;
        }
        CHECK_MSG(first_b > runs * 8 / 100 && first_b < runs * 12 / 100, "weight 10 first in %d of %d", first_b, runs);
    }
    /* Nothing to order. */
    set(&r[0], 7, 7, "z");
    s2s_trust_srv_order(r, 0, next, &s);
    s2s_trust_srv_order(r, 1, next, &s);
    CHECK_STR(r[0].target, "z");
}
