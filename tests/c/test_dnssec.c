/*
 * test_dnssec.c - the DNSSEC resolver's parts that need no DNS server:
 * record data from hostile bytes, names, the status rule, and the thread
 * pool's queue (lookups of names that are no host names end before any
 * query, so a callback can hold the only thread while the queue fills).
 * The lookups themselves are tested against the loopback lab
 * (tests/dane/test_dane_cli.sh).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/s2s_trust_dns_rdata.h"
#include "net/s2s_trust_dnssec.h"
#include "testing.h"
#include "tests.h"

/* SRV rdata: priority 1, weight 2, port 5269, then `name` (wire format). */
static size_t srv(unsigned char *out, const void *name, size_t name_len)
{
    static const unsigned char head[6] = { 0, 1, 0, 2, 0x14, 0x95 };
    memcpy(out, head, 6);
    memcpy(out + 6, name, name_len);
    return 6 + name_len;
}

void test_dnssec_srv_rdata(void)
{
    unsigned char buf[600];
    s2s_trust_srv_rdata_t s;
    size_t n;

    n = srv(buf, "\4XMPP\7example\4test", 19);
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_OK);
    CHECK(s.priority == 1 && s.weight == 2 && s.port == 5269 && !s.root);
    CHECK_STR(s.target, "xmpp.example.test");

    n = srv(buf, "", 1);
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_OK);
    CHECK(s.root);
    CHECK_STR(s.target, ".");

    /* Truncated: before the name, inside a label, without the root label. */
    CHECK(s2s_trust_srv_rdata_parse(buf, 0, &s) == S2S_TRUST_RDATA_MALFORMED);
    CHECK(s2s_trust_srv_rdata_parse(buf, 6, &s) == S2S_TRUST_RDATA_MALFORMED);
    CHECK(s2s_trust_srv_rdata_parse(NULL, 7, &s) == S2S_TRUST_RDATA_MALFORMED);
    n = srv(buf, "\4xmpp\7example\4test", 19);
    CHECK(s2s_trust_srv_rdata_parse(buf, n - 1, &s) == S2S_TRUST_RDATA_MALFORMED);
    CHECK(s2s_trust_srv_rdata_parse(buf, n - 3, &s) == S2S_TRUST_RDATA_MALFORMED);
    n = srv(buf, "\x3f" "abc", 4); /* a 63-octet label that is not there */
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_MALFORMED);
    /* A label length over 63, and a compression pointer. */
    memset(buf + 7, 'a', 64);
    buf[6] = 64;
    buf[71] = 0;
    CHECK(s2s_trust_srv_rdata_parse(buf, 72, &s) == S2S_TRUST_RDATA_MALFORMED);
    n = srv(buf, "\4xmpp\xc0\x0c", 7);
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_MALFORMED);
    n = srv(buf, "\xc0\x0c", 2);
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_MALFORMED);
    /* Bytes after the name. */
    n = srv(buf, "\4xmpp\0\0", 7);
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_MALFORMED);
    /* A name over 255 octets: five 63-octet labels. */
    for (int i = 0; i < 5; i++) {
        buf[6 + i * 64] = 63;
        memset(buf + 7 + i * 64, 'b', 63);
    }
    buf[6 + 5 * 64] = 0;
    CHECK(s2s_trust_srv_rdata_parse(buf, 7 + 5 * 64, &s) == S2S_TRUST_RDATA_MALFORMED);
    /* Four 63-octet labels and one of 1: 255 octets, the longest name. */
    buf[6 + 3 * 64] = 61;
    buf[6 + 3 * 64 + 62] = 0;
    CHECK(s2s_trust_srv_rdata_parse(buf, 6 + 3 * 64 + 63, &s) == S2S_TRUST_RDATA_OK);
    CHECK(strlen(s.target) == 63 * 3 + 61 + 3);

    /* Parsed, but no host name: shown escaped, never raw. */
    n = srv(buf, "\3a\nb\4test", 10);
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_NOT_HOSTNAME);
    CHECK(strchr(s.target, '\n') == NULL && strstr(s.target, "\\x0a") != NULL);
    n = srv(buf, "\3a.b\4test", 10); /* a dot inside a label */
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_NOT_HOSTNAME);
    n = srv(buf, "\1" "1\1" "2\1" "3\1" "4", 9); /* an IPv4 literal */
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_NOT_HOSTNAME);
    n = srv(buf, "\3a\0b\4test", 10);
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_NOT_HOSTNAME);
}

void test_dnssec_tlsa_rdata(void)
{
    unsigned char *big = calloc(1, 3 + S2S_TRUST_TLSA_MAX_DATA + 1);
    const unsigned char rec[] = { 3, 1, 1, 0xab, 0xcd };
    s2s_trust_tlsa_t t;

    CHECK(s2s_trust_tlsa_rdata_parse(rec, sizeof rec, &t) == S2S_TRUST_RDATA_OK);
    CHECK(t.usage == 3 && t.selector == 1 && t.mtype == 1 && t.len == 2 && t.data == rec + 3);
    CHECK(s2s_trust_tlsa_rdata_parse(rec, 0, &t) == S2S_TRUST_RDATA_MALFORMED);
    CHECK(s2s_trust_tlsa_rdata_parse(rec, 3, &t) == S2S_TRUST_RDATA_MALFORMED); /* no data */
    CHECK(s2s_trust_tlsa_rdata_parse(NULL, 5, &t) == S2S_TRUST_RDATA_MALFORMED);
    CHECK(t.data == NULL && t.len == 0);
    if (big != NULL) {
        CHECK(s2s_trust_tlsa_rdata_parse(big, 3 + S2S_TRUST_TLSA_MAX_DATA, &t) == S2S_TRUST_RDATA_OK);
        CHECK(t.len == S2S_TRUST_TLSA_MAX_DATA);
        CHECK(s2s_trust_tlsa_rdata_parse(big, 3 + S2S_TRUST_TLSA_MAX_DATA + 1, &t) == S2S_TRUST_RDATA_TOO_LARGE);
    }
    free(big);
}

void test_dnssec_names(void)
{
    char out[300], long_name[300];
    const char *why = NULL;

    CHECK(s2s_trust_dns_host_name("Example.TEST.", 13, out, sizeof out, &why) == 0);
    CHECK_STR(out, "example.test");
    CHECK(s2s_trust_dns_host_name("b\xc3\xbc" "cher.example", 15, out, sizeof out, &why) == 0);
    CHECK_STR(out, "xn--bcher-kva.example");
    CHECK(s2s_trust_dns_host_name("", 0, out, sizeof out, &why) == -1 && why != NULL);
    CHECK(s2s_trust_dns_host_name("a..b", 4, out, sizeof out, &why) == -1);
    CHECK(s2s_trust_dns_host_name("good.test\0.evil", 15, out, sizeof out, &why) == -1);
    CHECK(s2s_trust_dns_host_name("192.0.2.1", 9, out, sizeof out, &why) == -1);
    CHECK(s2s_trust_dns_host_name("a b.test", 8, out, sizeof out, &why) == -1);
    CHECK(s2s_trust_dns_host_name("\xff\xfe.test", 7, out, sizeof out, &why) == -1);
    memset(long_name, 'a', 64);
    memcpy(long_name + 64, ".test", 6);
    CHECK(s2s_trust_dns_host_name(long_name, strlen(long_name), out, sizeof out, &why) == -1);
    /* 253 characters is a host name; its SRV and TLSA names are too long. */
    for (int i = 0; i < 4; i++) {
        memset(long_name + i * 64, 'c', 63);
        long_name[i * 64 + 63] = '.';
    }
    long_name[253] = '\0';
    long_name[252] = 'd';
    CHECK(s2s_trust_dns_host_name(long_name, 253, out, sizeof out, &why) == 0);
    CHECK(s2s_trust_dns_srv_name(out, long_name, sizeof long_name) == -1);
    CHECK(s2s_trust_dns_tlsa_name("xmpp.example.test", 5269, out, sizeof out) == 0);
    CHECK_STR(out, "_5269._tcp.xmpp.example.test");
    CHECK(s2s_trust_dns_srv_name("example.test", out, sizeof out) == 0);
    CHECK_STR(out, "_xmpp-server._tcp.example.test");
    CHECK(s2s_trust_dns_tlsa_name("example.test", 5269, out, 10) == -1);
}

void test_dnssec_combine(void)
{
#define S S2S_TRUST_DNSSEC_SECURE
#define I S2S_TRUST_DNSSEC_INSECURE
#define B S2S_TRUST_DNSSEC_BOGUS
#define E S2S_TRUST_DNSSEC_ERROR
    static const struct {
        s2s_trust_dnssec_status_t in[3];
        size_t n;
        s2s_trust_dnssec_status_t want;
    } table[] = {
        { { S }, 1, S },       { { I }, 1, I },       { { B }, 1, B },       { { E }, 1, E },
        { { S, I }, 2, S },    { { I, S }, 2, S },    { { S, E }, 2, S },    { { S, B }, 2, B },
        { { B, S, S }, 3, B }, { { I, I, I }, 3, I }, { { I, E }, 2, E },    { { E, I, B }, 3, B },
        { { E, E }, 2, E },    { { S }, 0, S }, /* a secure "." SRV: no target, nothing to look up */
    };
#undef S
#undef I
#undef B
#undef E

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        CHECK_MSG(s2s_trust_dnssec_combine(table[i].in, table[i].n) == table[i].want, "row %zu", i);
    CHECK_STR(s2s_trust_dnssec_status_name(S2S_TRUST_DNSSEC_BOGUS), "bogus");
    CHECK_STR(s2s_trust_dnssec_status_name(S2S_TRUST_DNSSEC_INSECURE), "insecure");
}

/* What the callbacks saw; `hold` keeps the first callback (and so the
 * resolver's only thread) waiting until the test lets it go. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls, stopped, errors, held, hold;
    int seen[64];
} calls_t;

typedef struct {
    calls_t *c;
    int id;
} tag_t;

static void on_done(void *arg, const s2s_trust_dane_lookup_t *res)
{
    calls_t *c = ((tag_t *)arg)->c;
    int id = ((tag_t *)arg)->id;

    pthread_mutex_lock(&c->lock);
    c->calls++;
    if (id >= 0 && id < 64)
        c->seen[id]++;
    c->errors += res->status == S2S_TRUST_DNSSEC_ERROR && res->n_targets == 0;
    c->stopped += strcmp(res->why, "resolver stopped") == 0;
    if (c->hold && !c->held) {
        c->held = 1;
        pthread_cond_broadcast(&c->cond);
        while (c->hold)
            pthread_cond_wait(&c->cond, &c->lock);
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void wait_for(calls_t *c, int calls)
{
    pthread_mutex_lock(&c->lock);
    while (c->calls < calls)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static void *free_resolver(void *r)
{
    s2s_trust_dnssec_free(r);
    return NULL;
}

static s2s_trust_dnssec_t *offline_resolver(int threads, size_t max_queue)
{
    /* Any anchor: no test here reaches a query. */
    const char *ta = write_scratch("dnssec-ta.ds", "example.test. 3600 IN DS 2371 13 2 "
                                                   "C5F9E8DD84CA5D42F5AA7B3FB8AE8BF8C2BAA17F7CCE49FC60B1B80A2A3CAD4E\n");
    char err[256];
    s2s_trust_dnssec_t *r = s2s_trust_dnssec_new(NULL, ta, threads, max_queue, err, sizeof err);

    CHECK_MSG(r != NULL, "%s", err);
    return r;
}

void test_dnssec_queue_bound_and_free(void)
{
    static const char bad[] = "not a host name";
    calls_t c = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .hold = 1 };
    tag_t tags[4] = { { &c, 0 }, { &c, 1 }, { &c, 2 }, { &c, 3 } };
    s2s_trust_dnssec_t *r = offline_resolver(1, 2);
    pthread_t stopper;

    if (r == NULL)
        return;
    /* A: taken by the idle thread, whose callback then holds it. */
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, on_done, &tags[0]) == 0);
    pthread_mutex_lock(&c.lock);
    while (!c.held)
        pthread_cond_wait(&c.cond, &c.lock);
    pthread_mutex_unlock(&c.lock);
    /* B, C wait in the queue (max_queue 2); D is refused at once. */
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, on_done, &tags[1]) == 0);
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, on_done, &tags[2]) == 0);
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, on_done, &tags[3]) == -1);
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, NULL, &tags[3]) == -1);
    /* Free while the thread is held: B and C are answered first, then
     * the held lookup finishes and the thread is joined. */
    if (pthread_create(&stopper, NULL, free_resolver, r) != 0) {
        CHECK(0);
        return;
    }
    wait_for(&c, 3);
    pthread_mutex_lock(&c.lock);
    c.hold = 0;
    pthread_cond_broadcast(&c.cond);
    pthread_mutex_unlock(&c.lock);
    pthread_join(stopper, NULL);
    CHECK(c.calls == 3 && c.seen[0] == 1 && c.seen[1] == 1 && c.seen[2] == 1 && c.seen[3] == 0);
    CHECK(c.stopped == 2);
    CHECK(c.errors == 3);
}

void test_dnssec_every_lookup_answered_once(void)
{
    calls_t c = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
    static tag_t tags[64];
    s2s_trust_dnssec_t *r = offline_resolver(4, 8);
    int accepted = 0;

    if (r == NULL)
        return;
    for (int i = 0; i < 64; i++) {
        tags[i].c = &c;
        tags[i].id = i;
        /* The empty domain and a NUL inside one: no host names either. */
        accepted += s2s_trust_dnssec_submit(r, i % 2 ? "" : "a\0b", i % 2 ? 0 : 3, 5269, on_done, &tags[i]) == 0;
    }
    s2s_trust_dnssec_free(r);
    CHECK(accepted >= 8); /* at least the queue (the threads may not be waiting yet) */
    CHECK(c.calls == accepted);
    for (int i = 0; i < 64; i++)
        CHECK(c.seen[i] <= 1);
    CHECK(c.errors == accepted);
}

void test_dnssec_new_and_offline_lookup(void)
{
    char err[256];
    s2s_trust_dane_lookup_t l;
    s2s_trust_dnssec_t *r;

    CHECK(s2s_trust_dnssec_new(NULL, "/nonexistent/ta.ds", 1, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/ta.ds") != NULL);
    CHECK(s2s_trust_dnssec_new("/nonexistent/unbound.conf", NULL, 1, 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "unbound.conf") != NULL);
    CHECK(s2s_trust_dnssec_new(NULL, NULL, 0, 1, err, sizeof err) == NULL);
    CHECK(s2s_trust_dnssec_new(NULL, NULL, 17, 1, err, sizeof err) == NULL);
    s2s_trust_dnssec_free(NULL);
    s2s_trust_dane_lookup_clear(NULL);

    if ((r = offline_resolver(1, 0)) == NULL)
        return;
    CHECK(s2s_trust_dnssec_lookup(r, "-bad-.\xff", 7, 5269, &l) == 0);
    CHECK(l.status == S2S_TRUST_DNSSEC_ERROR && l.n_targets == 0 && l.why[0] != '\0');
    s2s_trust_dane_lookup_clear(&l);
    CHECK(l.why[0] == '\0');
    s2s_trust_dnssec_free(r);
}
