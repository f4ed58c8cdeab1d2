/*
 * test_http.c - the HTTP client's own rules (net/s2s_trust_http_head.h:
 * the bounds on an answer's head, the Location kept whole or not at all)
 * on bytes, then s2s_trust_http_get through real libcurl against a
 * scripted server thread on 127.0.0.1: what each hostile answer becomes
 * (status, cause, errno, location). The CRL fetch's whole behaviour, with
 * redirects and its deadline, is tested through the VM in
 * tests/erl/mod_s2s_trust_crl_fetch_tests.erl.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/s2s_trust_http.h"
#include "net/s2s_trust_http_head.h"
#include "testing.h"
#include "tests.h"

typedef s2s_trust_http_head_step_t step_t;

static step_t line(s2s_trust_http_head_t *h, const char *s, long code)
{
    return s2s_trust_http_head_line(h, s, strlen(s), code);
}

void test_http_head_bounds(void)
{
    s2s_trust_http_head_t h;
    char buf[S2S_TRUST_HTTP_HEAD_MAX_LINE + 16];

    /* A line of exactly max_line bytes (CRLF aside) passes; one more does not. */
    s2s_trust_http_head_init(&h, 0, 0, 0);
    CHECK(h.max_line == S2S_TRUST_HTTP_HEAD_MAX_LINE && h.max_lines == S2S_TRUST_HTTP_HEAD_MAX_LINES);
    CHECK(line(&h, "HTTP/1.1 200 OK\r\n", 200) == S2S_TRUST_HTTP_HEAD_MORE);
    memset(buf, 'y', sizeof buf);
    memcpy(buf, "X-A: ", 5);
    memcpy(buf + S2S_TRUST_HTTP_HEAD_MAX_LINE, "\r\n", 3);
    CHECK(line(&h, buf, 200) == S2S_TRUST_HTTP_HEAD_MORE);
    memset(buf, 'y', sizeof buf);
    memcpy(buf, "X-A: ", 5);
    memcpy(buf + S2S_TRUST_HTTP_HEAD_MAX_LINE + 1, "\r\n", 3);
    CHECK(line(&h, buf, 200) == S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG);
    /* A refusal sticks: nothing after it is taken. */
    CHECK(line(&h, "\r\n", 200) == S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG);
    CHECK(h.refused == S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG);

    /* The status line too. */
    s2s_trust_http_head_init(&h, 10, 0, 0);
    CHECK(line(&h, "HTTP/1.1 200 OK\r\n", 200) == S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG);

    /* max_lines header lines pass, one more does not; LF-only lines too. */
    s2s_trust_http_head_init(&h, 0, 3, 0);
    CHECK(line(&h, "HTTP/1.0 200 OK\n", 200) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "A: 1\n", 200) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "B: 2\n", 200) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "C: 3\n", 200) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "D: 4\n", 200) == S2S_TRUST_HTTP_HEAD_TOO_MANY_HEADERS);

    /* Interim answers count against the same budget, status lines and all. */
    s2s_trust_http_head_init(&h, 0, 3, 0);
    CHECK(line(&h, "HTTP/1.1 100 Continue\r\n", 100) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "\r\n", 100) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "HTTP/1.1 103 Early Hints\r\n", 103) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "Link: x\r\n", 103) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "\r\n", 103) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "HTTP/1.1 200 OK\r\n", 200) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(line(&h, "A: 1\r\n", 200) == S2S_TRUST_HTTP_HEAD_TOO_MANY_HEADERS);
}

void test_http_head_end_and_length(void)
{
    s2s_trust_http_head_t h;

    /* A 200's head: the body follows, unless its length is over max_body. */
    s2s_trust_http_head_init(&h, 0, 0, 100);
    line(&h, "HTTP/1.1 200 OK\r\n", 200);
    CHECK(line(&h, "content-LENGTH:  100 \r\n", 200) == S2S_TRUST_HTTP_HEAD_MORE);
    CHECK(h.has_length && h.content_length == 100);
    CHECK(line(&h, "\r\n", 200) == S2S_TRUST_HTTP_HEAD_BODY);

    s2s_trust_http_head_init(&h, 0, 0, 100);
    line(&h, "HTTP/1.1 200 OK\r\n", 200);
    line(&h, "Content-Length: 101\r\n", 200);
    CHECK(line(&h, "\r\n", 200) == S2S_TRUST_HTTP_HEAD_TOO_LARGE);
    CHECK(h.refused == S2S_TRUST_HTTP_HEAD_TOO_LARGE);

    /* Too many digits for 64 bits reads as the largest; two lengths, the larger. */
    s2s_trust_http_head_init(&h, 0, 0, 100);
    line(&h, "HTTP/1.1 200 OK\r\n", 200);
    line(&h, "Content-Length: 99999999999999999999999999999\r\n", 200);
    CHECK(line(&h, "\r\n", 200) == S2S_TRUST_HTTP_HEAD_TOO_LARGE);
    s2s_trust_http_head_init(&h, 0, 0, 100);
    line(&h, "HTTP/1.1 200 OK\r\n", 200);
    line(&h, "Content-Length: 5000\r\n", 200);
    line(&h, "Content-Length: 3\r\n", 200);
    CHECK(line(&h, "\r\n", 200) == S2S_TRUST_HTTP_HEAD_TOO_LARGE);

    /* No length, or one that is not a number (libcurl refuses that one): the
     * body is read, cut at max_body as it comes. */
    s2s_trust_http_head_init(&h, 0, 0, 100);
    line(&h, "HTTP/1.0 200 OK\r\n", 200);
    line(&h, "Content-Length: 1e9\r\n", 200);
    CHECK(!h.has_length);
    CHECK(line(&h, "\r\n", 200) == S2S_TRUST_HTTP_HEAD_BODY);

    /* Any other final status ends the exchange at its head, whatever its length. */
    s2s_trust_http_head_init(&h, 0, 0, 100);
    line(&h, "HTTP/1.1 404 Not Found\r\n", 404);
    line(&h, "Content-Length: 99999999\r\n", 404);
    CHECK(line(&h, "\r\n", 404) == S2S_TRUST_HTTP_HEAD_DONE);
    CHECK(h.refused == S2S_TRUST_HTTP_HEAD_MORE);

    /* An interim answer's head is not the end; its length is forgotten. */
    s2s_trust_http_head_init(&h, 0, 0, 100);
    line(&h, "HTTP/1.1 100 Continue\r\n", 100);
    line(&h, "Content-Length: 99999\r\n", 100);
    CHECK(line(&h, "\r\n", 100) == S2S_TRUST_HTTP_HEAD_MORE);
    line(&h, "HTTP/1.1 200 OK\r\n", 200);
    CHECK(!h.has_length);
    CHECK(line(&h, "\r\n", 200) == S2S_TRUST_HTTP_HEAD_BODY);
}

void test_http_head_location(void)
{
    s2s_trust_http_head_t h;
    char big[S2S_TRUST_HTTP_MAX_LOCATION + 64];

    /* Kept whole, trimmed, relative or not; the header name in any case. */
    s2s_trust_http_head_init(&h, 0, 0, 0);
    line(&h, "HTTP/1.1 302 Found\r\n", 302);
    line(&h, "LOCATION: \t /a/b?c=d \r\n", 302);
    CHECK(h.loc == S2S_TRUST_HTTP_LOC_OK);
    CHECK_STR(h.location, "/a/b?c=d");
    CHECK(line(&h, "\r\n", 302) == S2S_TRUST_HTTP_HEAD_DONE);

    /* Exactly the longest kept, then one byte more: refused, never cut. */
    s2s_trust_http_head_init(&h, 0, 0, 0);
    line(&h, "HTTP/1.1 302 Found\r\n", 302);
    memcpy(big, "Location: ", 10);
    memset(big + 10, 'a', S2S_TRUST_HTTP_MAX_LOCATION);
    strcpy(big + 10 + S2S_TRUST_HTTP_MAX_LOCATION, "\r\n");
    line(&h, big, 302);
    CHECK(h.loc == S2S_TRUST_HTTP_LOC_OK && strlen(h.location) == S2S_TRUST_HTTP_MAX_LOCATION);
    s2s_trust_http_head_init(&h, 0, 0, 0);
    line(&h, "HTTP/1.1 302 Found\r\n", 302);
    memset(big + 10, 'a', S2S_TRUST_HTTP_MAX_LOCATION + 1);
    strcpy(big + 11 + S2S_TRUST_HTTP_MAX_LOCATION, "\r\n");
    line(&h, big, 302);
    CHECK(h.loc == S2S_TRUST_HTTP_LOC_TOO_LONG && h.location[0] == '\0');

    /* Two, empty, folded, white space or a control byte inside: which URL
     * would be meant? None. */
    static const char *const bad[][3] = {
        {"Location: /a\r\n", "Location: /b\r\n", NULL},
        {"Location: /a\r\n", "Location: /a\r\n", NULL},
        {"Location:   \r\n", NULL, NULL},
        {"Location: /a\r\n", " b\r\n", NULL},
        {"Location: /a\r\n", "\tb\r\n", NULL},
        {"Location: /a\x01\x62\r\n", NULL, NULL},
        {"Location: /a b\r\n", NULL, NULL}, /* a libcurl that unfolds gives this */
        {"Location: /a\tb\r\n", NULL, NULL},
        {"Location: /a\x7f\r\n", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s2s_trust_http_head_init(&h, 0, 0, 0);
        line(&h, "HTTP/1.1 301 Moved\r\n", 301);
        for (size_t j = 0; j < 3 && bad[i][j] != NULL; j++)
            line(&h, bad[i][j], 301);
        CHECK_MSG(h.loc == S2S_TRUST_HTTP_LOC_BAD, "case %zu", i);
    }

    /* A folded line after another header leaves the Location alone. */
    s2s_trust_http_head_init(&h, 0, 0, 0);
    line(&h, "HTTP/1.1 301 Moved\r\n", 301);
    line(&h, "Location: /a\r\n", 301);
    line(&h, "X-Other: 1\r\n", 301);
    line(&h, " more\r\n", 301);
    CHECK(h.loc == S2S_TRUST_HTTP_LOC_OK);

    /* An interim answer's Location is not the final one's. */
    s2s_trust_http_head_init(&h, 0, 0, 0);
    line(&h, "HTTP/1.1 100 Continue\r\n", 100);
    line(&h, "Location: /early\r\n", 100);
    line(&h, "\r\n", 100);
    line(&h, "HTTP/1.1 302 Found\r\n", 302);
    CHECK(h.loc == S2S_TRUST_HTTP_LOC_NONE);
    line(&h, "Location: /late\r\n", 302);
    CHECK(h.loc == S2S_TRUST_HTTP_LOC_OK);
    CHECK_STR(h.location, "/late");

    /* A header whose name only starts like it. */
    s2s_trust_http_head_init(&h, 0, 0, 0);
    line(&h, "HTTP/1.1 302 Found\r\n", 302);
    line(&h, "Location-X: /a\r\n", 302);
    line(&h, "Content-Location: /b\r\n", 302);
    CHECK(h.loc == S2S_TRUST_HTTP_LOC_NONE);
}

void test_http_names(void)
{
    CHECK_STR(s2s_trust_http_cause_name(S2S_TRUST_HTTP_CAUSE_NONE), "none");
    CHECK_STR(s2s_trust_http_cause_name(S2S_TRUST_HTTP_CAUSE_RESOLVE), "resolve");
    CHECK_STR(s2s_trust_http_cause_name(S2S_TRUST_HTTP_CAUSE_LINE_TOO_LONG), "line_too_long");
    CHECK_STR(s2s_trust_http_cause_name(S2S_TRUST_HTTP_CAUSE_TOO_MANY_HEADERS), "too_many_headers");
    CHECK_STR(s2s_trust_http_cause_name(S2S_TRUST_HTTP_CAUSE_IO), "io");
    CHECK_STR(s2s_trust_http_cause_name((s2s_trust_http_cause_t)999), "none");
    /* Erlang's inet spelling, so inet:format_error/1 can read them. */
    CHECK_STR(s2s_trust_http_errno_name(ECONNREFUSED), "econnrefused");
    CHECK_STR(s2s_trust_http_errno_name(EHOSTUNREACH), "ehostunreach");
    CHECK_STR(s2s_trust_http_errno_name(ECONNRESET), "econnreset");
    CHECK(s2s_trust_http_errno_name(0) == NULL);
    CHECK(s2s_trust_http_errno_name(EDOM) == NULL);
}

/* ---- a scripted server on 127.0.0.1 ------------------------------------- */

typedef struct {
    int fd;
    const char *answer; /* written whole after the request's head, then closed */
    size_t len;
} server_t;

static void *serve_one(void *arg)
{
    server_t *s = arg;
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    int c = accept(s->fd, NULL, NULL);

    if (c < 0)
        return NULL;
    while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            break;
    }
    for (size_t off = 0; off < s->len && (n = send(c, s->answer + off, s->len - off, MSG_NOSIGNAL)) > 0;)
        off += (size_t)n;
    close(c);
    return NULL;
}

/* One GET of path from a server that answers `answer` once. */
static s2s_trust_http_status_t get_answer(const char *answer, size_t len, size_t max_body,
                                          s2s_trust_http_result_t *res)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    s2s_trust_http_opts_t o = {.timeout_ms = 5000, .max_body = max_body, .plain_http = 1};
    server_t s = {.answer = answer, .len = len};
    pthread_t t;
    char url[64];

    memset(res, 0, sizeof *res);
    if ((s.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || bind(s.fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(s.fd, 1) != 0 || getsockname(s.fd, (struct sockaddr *)&sa, &sl) != 0 ||
        pthread_create(&t, NULL, serve_one, &s) != 0) {
        CHECK(!"listener");
        if (s.fd >= 0)
            close(s.fd);
        return S2S_TRUST_HTTP_INTERNAL;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%u/crl", (unsigned)ntohs(sa.sin_port));
    s2s_trust_http_get(url, &o, res);
    /* If the client never connected (a refusal before it, or a GET gone
     * elsewhere), the thread still waits in accept: this connection ends
     * that wait; otherwise it only sits in the backlog. */
    {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c >= 0) {
            (void)connect(c, (struct sockaddr *)&sa, sizeof sa);
            close(c);
        }
    }
    pthread_join(t, NULL);
    close(s.fd);
    return res->status;
}

static s2s_trust_http_status_t get(const char *answer, s2s_trust_http_result_t *res)
{
    return get_answer(answer, strlen(answer), 1000, res);
}

void test_http_get_loopback(void)
{
    s2s_trust_http_result_t r;
    s2s_trust_http_opts_t o = {.timeout_ms = 2000, .max_body = 100, .plain_http = 1};
    char *big;
    size_t n;

    CHECK(get("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", &r) == S2S_TRUST_HTTP_OK);
    CHECK(r.len == 3 && memcmp(r.body, "abc", 3) == 0 && r.code == 200);
    s2s_trust_http_result_clear(&r);

    /* A redirect: the Location as sent, whole, though longer than `why`. */
    n = 1500 + 200;
    big = malloc(n);
    CHECK(big != NULL);
    if (big != NULL) {
        int len = snprintf(big, n, "HTTP/1.1 302 Found\r\nLocation: /%01500d\r\n\r\n", 7);
        CHECK(get_answer(big, (size_t)len, 1000, &r) == S2S_TRUST_HTTP_REDIRECT);
        CHECK(r.code == 302 && r.loc == S2S_TRUST_HTTP_LOC_OK && strlen(r.location) == 1501);
        CHECK(r.location[0] == '/' && r.location[1500] == '7');
        free(big);
    }
    CHECK(get("HTTP/1.1 301 Moved\r\n\r\n", &r) == S2S_TRUST_HTTP_REDIRECT && r.loc == S2S_TRUST_HTTP_LOC_NONE);

    /* What a hostile server's answer becomes. */
    CHECK(get("SSH-2.0-OpenSSH\r\n\r\n", &r) == S2S_TRUST_HTTP_FAILED);
    CHECK_MSG(r.cause == S2S_TRUST_HTTP_CAUSE_BAD_ANSWER, "cause %s", s2s_trust_http_cause_name(r.cause));
    CHECK(get("HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc", &r) == S2S_TRUST_HTTP_FAILED);
    CHECK(r.cause == S2S_TRUST_HTTP_CAUSE_TRUNCATED);
    CHECK(get("", &r) == S2S_TRUST_HTTP_FAILED && r.cause == S2S_TRUST_HTTP_CAUSE_EMPTY);
    CHECK(get("HTTP/1.0 200 OK\r\nContent-Length: 1001\r\n\r\nabc", &r) == S2S_TRUST_HTTP_TOO_LARGE);
    CHECK(get("HTTP/1.0 404 Not Found\r\nContent-Length: 99999999\r\n\r\nabc", &r) == S2S_TRUST_HTTP_STATUS);
    CHECK(r.code == 404 && r.body == NULL);
    {
        char many[2048] = "HTTP/1.0 200 OK\r\n";
        for (int i = 0; i < S2S_TRUST_HTTP_HEAD_MAX_LINES + 1; i++)
            strcat(many, "X: 1\r\n");
        strcat(many, "\r\n");
        CHECK(get(many, &r) == S2S_TRUST_HTTP_FAILED);
    }
    CHECK(r.cause == S2S_TRUST_HTTP_CAUSE_TOO_MANY_HEADERS);
    /* Past libcurl's own 100 KB bound, as past ours. */
    n = 300000;
    big = malloc(n + 64);
    CHECK(big != NULL);
    if (big != NULL) {
        memcpy(big, "HTTP/1.0 200 OK\r\nX-Long: ", 25);
        memset(big + 25, 'y', n);
        memcpy(big + 25 + n, "\r\n\r\n", 4);
        CHECK(get_answer(big, n + 29, 1000, &r) == S2S_TRUST_HTTP_FAILED);
        CHECK_MSG(r.cause == S2S_TRUST_HTTP_CAUSE_LINE_TOO_LONG, "cause %s: %s",
                  s2s_trust_http_cause_name(r.cause), r.why);
        memcpy(big + 25 + 9000, "\r\n\r\n", 4);
        CHECK(get_answer(big, 25 + 9000 + 4, 1000, &r) == S2S_TRUST_HTTP_FAILED);
        CHECK(r.cause == S2S_TRUST_HTTP_CAUSE_LINE_TOO_LONG);
        free(big);
    }

    /* No proxy from the environment: every variable libcurl reads points
     * where nothing listens, and the GET still goes straight to the server. */
    {
        static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"};
        for (size_t i = 0; i < 4; i++)
            setenv(vars[i], "http://127.0.0.1:1/", 1);
        CHECK(get("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", &r) == S2S_TRUST_HTTP_OK);
        s2s_trust_http_result_clear(&r);
        for (size_t i = 0; i < 4; i++)
            unsetenv(vars[i]);
    }

    /* plain_http speaks http alone; nothing listening is named by its errno. */
    CHECK(s2s_trust_http_get("https://127.0.0.1:1/x", &o, &r) == S2S_TRUST_HTTP_BAD_URL);
    CHECK(s2s_trust_http_get("file:///etc/passwd", &o, &r) == S2S_TRUST_HTTP_BAD_URL);
    CHECK(s2s_trust_http_get("http://127.0.0.1:1/x", &o, &r) == S2S_TRUST_HTTP_CONNECT_FAILED);
    CHECK(r.cause == S2S_TRUST_HTTP_CAUSE_CONNECT && r.os_errno == ECONNREFUSED);
    o.plain_http = 0;
    CHECK(s2s_trust_http_get("http://127.0.0.1:1/x", &o, &r) == S2S_TRUST_HTTP_BAD_URL);
}
