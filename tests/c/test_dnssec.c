/*
 * test_dnssec.c - the DNSSEC resolver's parts that need no DNS server:
 * record data from hostile bytes, names, the status rule, and the thread
 * pool's queue (lookups of names that are no host names end before any
 * query, so a callback can hold the only thread while the queue fills);
 * its deadlines, against two UDP servers of the test's own on 127.0.0.1
 * (one silent, one answering NXDOMAIN); and its silence on stderr.
 * The lookups themselves are tested against the loopback lab
 * (tests/dane/test_dane_cli.sh).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* Any anchor: no test here reaches a signed zone. */
static const char *anchor_file(void)
{
    return write_scratch("dnssec-ta.ds", "example.test. 3600 IN DS 2371 13 2 "
                                         "C5F9E8DD84CA5D42F5AA7B3FB8AE8BF8C2BAA17F7CCE49FC60B1B80A2A3CAD4E\n");
}

static s2s_trust_dnssec_t *offline_resolver(int threads, size_t max_queue)
{
    const char *ta = anchor_file();
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
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, 5000, on_done, &tags[0]) == 0);
    pthread_mutex_lock(&c.lock);
    while (!c.held)
        pthread_cond_wait(&c.cond, &c.lock);
    pthread_mutex_unlock(&c.lock);
    /* B, C wait in the queue (max_queue 2); D is refused at once. */
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, 5000, on_done, &tags[1]) == 0);
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, 5000, on_done, &tags[2]) == 0);
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, 5000, on_done, &tags[3]) == -1);
    CHECK(s2s_trust_dnssec_submit(r, bad, strlen(bad), 5269, 5000, NULL, &tags[3]) == -1);
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

/* ---- deadlines, against two tiny DNS servers of this process ------------ */

/* On 127.0.0.1, ports the kernel picks: `hole` reads queries and never
 * answers (an authoritative server gone silent), `fast` answers each one
 * NXDOMAIN at once. Stopped by `stop`, joined by the test. */
typedef struct {
    int hole, fast;
    unsigned short hole_port, fast_port;
    volatile int stop;
    int queries_dropped;
    pthread_t thread;
} dns_servers_t;

static int udp_socket(unsigned short *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* The query's header and question, turned into an NXDOMAIN answer. */
static size_t nxdomain(unsigned char *m, size_t n)
{
    size_t p = 12;

    while (p < n && m[p] != 0 && m[p] < 64)
        p += 1 + m[p];
    if (n < 12 || p + 5 > n)
        return 0;
    m[2] = (unsigned char)(0x84 | (m[2] & 0x79)); /* QR, AA; opcode and RD kept */
    m[3] = 3;                                     /* NXDOMAIN */
    memset(m + 4, 0, 8);
    m[5] = 1; /* the question only */
    return p + 5;
}

static void *serve(void *arg)
{
    dns_servers_t *s = arg;
    struct pollfd p[2] = { { .fd = s->hole, .events = POLLIN }, { .fd = s->fast, .events = POLLIN } };
    unsigned char m[1500];

    while (!s->stop) {
        if (poll(p, 2, 20) <= 0)
            continue;
        if (p[0].revents & POLLIN)
            s->queries_dropped += recv(s->hole, m, sizeof m, 0) > 0;
        if (p[1].revents & POLLIN) {
            struct sockaddr_in from;
            socklen_t len = sizeof from;
            ssize_t n = recvfrom(s->fast, m, sizeof m, 0, (struct sockaddr *)&from, &len);
            size_t out = n > 0 ? nxdomain(m, (size_t)n) : 0;
            if (out > 0)
                (void)!sendto(s->fast, m, out, 0, (struct sockaddr *)&from, len);
        }
    }
    return NULL;
}

/* The servers, and a libunbound config sending hole.test and fast.test to
 * them. 0, or -1 (the test is then skipped with a CHECK failure). */
static int dns_servers_start(dns_servers_t *s, const char **conf)
{
    char text[1024];

    memset(s, 0, sizeof *s);
    s->hole = udp_socket(&s->hole_port);
    s->fast = udp_socket(&s->fast_port);
    if (s->hole < 0 || s->fast < 0 || pthread_create(&s->thread, NULL, serve, s) != 0) {
        CHECK_MSG(0, "could not start the test's DNS servers on 127.0.0.1");
        return -1;
    }
    snprintf(text, sizeof text,
             "server:\n  do-not-query-localhost: no\n  local-zone: \"test.\" nodefault\n  do-ip6: no\n"
             "stub-zone:\n  name: \"hole.test.\"\n  stub-addr: 127.0.0.1@%u\n"
             "stub-zone:\n  name: \"fast.test.\"\n  stub-addr: 127.0.0.1@%u\n",
             s->hole_port, s->fast_port);
    *conf = write_scratch("dnssec-deadline.conf", text);
    return 0;
}

static void dns_servers_stop(dns_servers_t *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->hole);
    close(s->fast);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One lookup's answer, kept for the test (its records are not). */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int answered, timed_out;
    s2s_trust_dnssec_status_t status;
    char why[256];
    struct timespec t0;
    long ms;
} answer_t;

static void on_answer_kept(void *arg, const s2s_trust_dane_lookup_t *res)
{
    answer_t *a = arg;

    pthread_mutex_lock(&a->lock);
    a->answered++;
    a->status = res->status;
    a->timed_out = res->timed_out;
    snprintf(a->why, sizeof a->why, "%s", res->why);
    a->ms = ms_since(&a->t0);
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static int submit_kept(s2s_trust_dnssec_t *r, const char *domain, unsigned deadline_ms, answer_t *a)
{
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    clock_gettime(CLOCK_MONOTONIC, &a->t0);
    return s2s_trust_dnssec_submit(r, domain, strlen(domain), 5269, deadline_ms, on_answer_kept, a);
}

static void wait_kept(answer_t *a)
{
    pthread_mutex_lock(&a->lock);
    while (!a->answered)
        pthread_cond_wait(&a->cond, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

static int answered_yet(answer_t *a)
{
    int done;

    pthread_mutex_lock(&a->lock);
    done = a->answered;
    pthread_mutex_unlock(&a->lock);
    return done;
}

static void kept_destroy(answer_t *a)
{
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
}

static int is_timeout(const answer_t *a)
{
    return a->answered == 1 && a->status == S2S_TRUST_DNSSEC_ERROR && a->timed_out &&
           strncmp(a->why, "timeout", 7) == 0;
}

/* A lookup whose server never answers ends ERROR "timeout" at its
 * deadline, while lookups beside it on the same resolver are answered;
 * a lookup queued behind it past its own deadline is answered timeout
 * too; the resolver is freed with cancelled queries still inside
 * libunbound, and with a lookup in flight. Times are printed, never
 * asserted (but for "the slow lookup is still pending", with seconds of
 * room). */
static void every_lookup_answered_by_its_deadline(void)
{
    static const char *fast[] = { "a.fast.test", "b.fast.test", "c.fast.test" };
    const char *ta = anchor_file();
    const char *conf;
    dns_servers_t s;
    answer_t slow, other, queued;
    s2s_trust_dane_lookup_t l;
    s2s_trust_dnssec_t *r;
    struct timespec t0;
    char err[512];

    if (dns_servers_start(&s, &conf) != 0)
        return;
    r = s2s_trust_dnssec_new(conf, ta, 2, 4, err, sizeof err);
    CHECK_MSG(r != NULL, "%s", err);
    if (r != NULL) {
        CHECK(submit_kept(r, "x.hole.test", 3000, &slow) == 0);
        for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++) {
            CHECK(submit_kept(r, fast[i], 5000, &other) == 0);
            wait_kept(&other);
            CHECK_MSG(other.status == S2S_TRUST_DNSSEC_INSECURE && !other.timed_out, "%s: %s %s", fast[i],
                      s2s_trust_dnssec_status_name(other.status), other.why);
            CHECK_MSG(!answered_yet(&slow), "%s answered after the slow lookup", fast[i]);
            printf("     %s: %s in %ld ms, beside x.hole.test\n", fast[i], s2s_trust_dnssec_status_name(other.status),
                   other.ms);
            kept_destroy(&other);
        }
        wait_kept(&slow);
        CHECK_MSG(is_timeout(&slow), "x.hole.test: %s, %s", s2s_trust_dnssec_status_name(slow.status), slow.why);
        printf("     x.hole.test: %s (%s) after %ld ms, deadline 3000; the server got %d queries\n",
               s2s_trust_dnssec_status_name(slow.status), slow.why, slow.ms, s.queries_dropped);
        kept_destroy(&slow);
        /* Its query is cancelled but still inside libunbound: free now. */
        s2s_trust_dnssec_free(r);
    }

    /* One thread: a lookup queued behind a slow one, past its own deadline. */
    if ((r = s2s_trust_dnssec_new(conf, ta, 1, 4, err, sizeof err)) != NULL) {
        CHECK(submit_kept(r, "y.hole.test", 600, &slow) == 0);
        CHECK(submit_kept(r, "a.fast.test", 100, &queued) == 0);
        wait_kept(&queued);
        wait_kept(&slow);
        CHECK_MSG(is_timeout(&queued) && strstr(queued.why, "queued") != NULL, "%s", queued.why);
        CHECK_MSG(is_timeout(&slow), "%s", slow.why);
        printf("     queued behind it: %s after %ld ms (deadline 100); y.hole.test after %ld ms (600)\n", queued.why,
               queued.ms, slow.ms);
        kept_destroy(&queued);
        kept_destroy(&slow);
        /* The calling thread's lookup (the CLI's) keeps its deadline too. */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(s2s_trust_dnssec_lookup(r, "z.hole.test", 11, 5269, 300, &l) == 0);
        CHECK_MSG(l.status == S2S_TRUST_DNSSEC_ERROR && l.timed_out && strncmp(l.why, "timeout", 7) == 0, "%s",
                  l.why);
        printf("     s2s_trust_dnssec_lookup: %s after %ld ms (deadline 300)\n", l.why, ms_since(&t0));
        s2s_trust_dane_lookup_clear(&l);
        /* Freed with a lookup in flight: answered at once, not at its deadline. */
        CHECK(submit_kept(r, "w.hole.test", 60000, &slow) == 0);
        usleep(100 * 1000);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        s2s_trust_dnssec_free(r);
        CHECK_MSG(slow.answered == 1 && slow.status == S2S_TRUST_DNSSEC_ERROR && !slow.timed_out &&
                      strcmp(slow.why, "resolver stopped") == 0,
                  "%d %s", slow.answered, slow.why);
        printf("     freed with w.hole.test in flight (deadline 60000): %s, free took %ld ms\n", slow.why,
               ms_since(&t0));
        kept_destroy(&slow);
    } else {
        CHECK_MSG(0, "%s", err);
    }
    dns_servers_stop(&s);
}

/* libunbound's log never reaches stderr (in ejabberd: beam's); what it
 * said is in the error text instead. stderr is a file for the while. */
static void libunbound_says_nothing_on_stderr(void)
{
    const char *ta_garbage = write_scratch("dnssec-ta-garbage.ds", "this is no DS record\n");
    const char *conf_anchor = write_scratch("dnssec-anchor.conf",
                                            "server:\n  trust-anchor-file: \"/nonexistent/a.key\"\n");
    const char *ta = anchor_file();
    const char *bad_syntax = write_scratch("dnssec-syntax.conf", "server:\n  no-such-option: yes\n");
    const char *captured = write_scratch("dnssec-stderr.txt", "");
    char err[4][512], text[512] = "";
    s2s_trust_dnssec_t *r[4];
    int saved, fd;
    FILE *f;

    fflush(stderr);
    saved = dup(2);
    fd = open(captured, O_WRONLY | O_TRUNC);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0) {
        CHECK(0);
        return;
    }
    close(fd);
    r[0] = s2s_trust_dnssec_new("/nonexistent/unbound.conf", NULL, 1, 1, err[0], sizeof err[0]);
    r[1] = s2s_trust_dnssec_new(NULL, ta_garbage, 1, 1, err[1], sizeof err[1]);
    r[2] = s2s_trust_dnssec_new(conf_anchor, ta, 1, 1, err[2], sizeof err[2]);
    fflush(stderr);
    if ((f = fopen(captured, "r")) != NULL) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CHECK_MSG(text[0] == '\0', "stderr got: %s", text);
    /* The exception (s2s_trust_dnssec.h): libunbound's config parser
     * prints syntax errors itself. Shown, not asserted. */
    r[3] = s2s_trust_dnssec_new(bad_syntax, ta, 1, 1, err[3], sizeof err[3]);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    for (int i = 0; i < 4; i++) {
        CHECK(r[i] == NULL);
        s2s_trust_dnssec_free(r[i]);
        printf("     error: %s\n", err[i]);
    }
    CHECK(strstr(err[0], "/nonexistent/unbound.conf: ") == err[0] && strstr(err[0], "Could not open") != NULL);
    CHECK(strstr(err[1], ta_garbage) != NULL);
    CHECK(strstr(err[2], "/nonexistent/a.key") != NULL);
    CHECK(strstr(err[3], bad_syntax) == err[3]);
    if ((f = fopen(captured, "r")) != NULL) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    printf("     a syntax error, libunbound's parser on stderr: %s", text[0] ? text : "(nothing)\n");
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
        accepted += s2s_trust_dnssec_submit(r, i % 2 ? "" : "a\0b", i % 2 ? 0 : 3, 5269, 5000, on_done, &tags[i]) == 0;
    }
    s2s_trust_dnssec_free(r);
    CHECK(accepted >= 8); /* at least the queue (the threads may not be waiting yet) */
    CHECK(c.calls == accepted);
    for (int i = 0; i < 64; i++)
        CHECK(c.seen[i] <= 1);
    CHECK(c.errors == accepted);
    every_lookup_answered_by_its_deadline();
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
    libunbound_says_nothing_on_stderr();
    s2s_trust_dnssec_free(NULL);
    s2s_trust_dane_lookup_clear(NULL);

    if ((r = offline_resolver(1, 0)) == NULL)
        return;
    CHECK(s2s_trust_dnssec_lookup(r, "-bad-.\xff", 7, 5269, 5000, &l) == 0);
    CHECK(l.status == S2S_TRUST_DNSSEC_ERROR && l.n_targets == 0 && l.why[0] != '\0');
    s2s_trust_dane_lookup_clear(&l);
    CHECK(l.why[0] == '\0');
    s2s_trust_dnssec_free(r);
}

/* Found by tests/fuzz/fuzz_dns.c: the text of a name that is no host name
 * read as a host name, so the resolver, which tells SRV targets apart by
 * their text, took a refused target for a real one (and the CLI printed it
 * as one): a '.' inside a label was shown as a plain dot, and an escape cut
 * off at the end of the room left a host name's prefix. */
void test_dnssec_refused_name_never_reads_as_host(void)
{
    unsigned char buf[300];
    s2s_trust_srv_rdata_t s;
    char out[16];
    size_t n;

    n = srv(buf, "\3a.b\4test", 10); /* one label "a.b", then "test" */
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_NOT_HOSTNAME);
    CHECK_STR(s.target, "a\\x2eb.test");
    n = srv(buf, "\1a\1b\4test", 10); /* the host name a.b.test */
    CHECK(s2s_trust_srv_rdata_parse(buf, n, &s) == S2S_TRUST_RDATA_OK);
    CHECK_STR(s.target, "a.b.test");

    /* 63.63.63 and 60 host bytes then \x01: 255 octets, whose escaped text
     * does not fit the target; the cut is marked, never a host name. */
    for (int i = 0; i < 4; i++) {
        buf[6 + i * 64] = i < 3 ? 63 : 61;
        memset(buf + 7 + i * 64, 'a' + i, 63);
    }
    buf[6 + 3 * 64 + 61] = 0x01;
    buf[6 + 3 * 64 + 62] = 0;
    CHECK(s2s_trust_srv_rdata_parse(buf, 6 + 3 * 64 + 63, &s) == S2S_TRUST_RDATA_NOT_HOSTNAME);
    CHECK(strlen(s.target) == 255 && strcmp(s.target + 252, "...") == 0);
    CHECK(strncmp(s.target + 192 + 48, "dddddddddddd", 12) == 0);

    /* A host name in too little room: cut and marked, not a shorter name;
     * never a cut escape. */
    CHECK(s2s_trust_dns_name_text((const unsigned char *)"\4xmpp\7example\4test", 19, out, 12) ==
          S2S_TRUST_RDATA_NOT_HOSTNAME);
    CHECK_STR(out, "xmpp.exa...");
    CHECK(s2s_trust_dns_name_text((const unsigned char *)"\4ab\n\n", 6, out, 9) == S2S_TRUST_RDATA_NOT_HOSTNAME);
    CHECK_STR(out, "ab...");
    CHECK(s2s_trust_dns_name_text((const unsigned char *)"\4ab\n\n", 6, out, 3) == S2S_TRUST_RDATA_NOT_HOSTNAME);
    CHECK_STR(out, "");
    CHECK(s2s_trust_dns_name_text((const unsigned char *)"\4ab\n\n", 6, out, sizeof out) ==
          S2S_TRUST_RDATA_NOT_HOSTNAME);
    CHECK_STR(out, "ab\\x0a\\x0a");
}
