/* s2s_trust_http.c - see s2s_trust_http.h */
#include <curl/curl.h>

#include "net/s2s_trust_http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/s2s_trust_compat.h"

/* The answer as it arrives, bounded: its head line by line
 * (s2s_trust_http_head.h), then its body, which is read only once the head
 * of a 200 said so. */
typedef struct {
    CURL *h;
    s2s_trust_http_head_t head;
    int head_done; /* the final answer's head ended (its blank line) */
    int body_ok;
    unsigned char *buf;
    size_t len, cap, max;
    int too_large, no_memory;
} sink_t;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* Once per process, never undone: curl_global_cleanup would pull the
 * ground from under any other thread's GET (and OpenSSL's, in the VM). */
static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *s2s_trust_http_status_name(s2s_trust_http_status_t st)
{
    switch (st) {
    case S2S_TRUST_HTTP_OK: return "ok";
    case S2S_TRUST_HTTP_BAD_URL: return "bad_url";
    case S2S_TRUST_HTTP_CONNECT_FAILED: return "connect_failed";
    case S2S_TRUST_HTTP_TLS_FAILED: return "tls_failed";
    case S2S_TRUST_HTTP_CERT_UNTRUSTED: return "cert_untrusted";
    case S2S_TRUST_HTTP_TIMEOUT: return "timeout";
    case S2S_TRUST_HTTP_REDIRECT: return "redirect";
    case S2S_TRUST_HTTP_STATUS: return "http_status";
    case S2S_TRUST_HTTP_TOO_LARGE: return "too_large";
    case S2S_TRUST_HTTP_FAILED: return "failed";
    case S2S_TRUST_HTTP_INTERNAL: return "internal";
    }
    return "internal";
}

const char *s2s_trust_http_cause_name(s2s_trust_http_cause_t c)
{
    switch (c) {
    case S2S_TRUST_HTTP_CAUSE_NONE: return "none";
    case S2S_TRUST_HTTP_CAUSE_RESOLVE: return "resolve";
    case S2S_TRUST_HTTP_CAUSE_CONNECT: return "connect";
    case S2S_TRUST_HTTP_CAUSE_EMPTY: return "empty";
    case S2S_TRUST_HTTP_CAUSE_BAD_ANSWER: return "bad_answer";
    case S2S_TRUST_HTTP_CAUSE_TRUNCATED: return "truncated";
    case S2S_TRUST_HTTP_CAUSE_LINE_TOO_LONG: return "line_too_long";
    case S2S_TRUST_HTTP_CAUSE_TOO_MANY_HEADERS: return "too_many_headers";
    case S2S_TRUST_HTTP_CAUSE_IO: return "io";
    }
    return "none";
}

const char *s2s_trust_http_errno_name(int e)
{
    switch (e) {
    case ECONNREFUSED: return "econnrefused";
    case ECONNRESET: return "econnreset";
    case ECONNABORTED: return "econnaborted";
    case EHOSTUNREACH: return "ehostunreach";
    case ENETUNREACH: return "enetunreach";
    case ENETDOWN: return "enetdown";
    case EHOSTDOWN: return "ehostdown";
    case ETIMEDOUT: return "etimedout";
    case EADDRNOTAVAIL: return "eaddrnotavail";
    case EAFNOSUPPORT: return "eafnosupport";
    case EACCES: return "eacces";
    case EPERM: return "eperm";
    case EPIPE: return "epipe";
    case EMFILE: return "emfile";
    case ENFILE: return "enfile";
    case ENOBUFS: return "enobufs";
    case ENOMEM: return "enomem";
    default: return NULL;
    }
}

/* libcurl's header callback: each line of the head, whole, counted and
 * bounded; stopping (any return other than the size given) as soon as a
 * bound is passed, or when a head other than a 200's ends: its body is
 * of no use, however long. */
static size_t on_head(char *data, size_t size, size_t nitems, void *arg)
{
    sink_t *s = arg;
    size_t n = size * nitems;
    long code = 0;

    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
    switch (s2s_trust_http_head_line(&s->head, data, n, code)) {
    case S2S_TRUST_HTTP_HEAD_MORE:
        return n;
    case S2S_TRUST_HTTP_HEAD_BODY:
        s->head_done = s->body_ok = 1;
        return n;
    case S2S_TRUST_HTTP_HEAD_DONE:
        s->head_done = 1;
        return 0;
    case S2S_TRUST_HTTP_HEAD_TOO_LARGE:
        s->too_large = 1;
        return 0;
    default:
        return 0;
    }
}

/* libcurl's write callback: keep the bytes, or stop the transfer (any
 * return other than the size given) once they pass the bound. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    sink_t *s = arg;
    size_t n = size * nmemb;

    if (!s->body_ok)
        return 0;
    if (n > s->max - s->len) {
        s->too_large = 1;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        unsigned char *b;
        while (cap < s->len + n + 1)
            cap *= 2;
        if (cap > s->max + 1)
            cap = s->max + 1;
        if ((b = realloc(s->buf, cap)) == NULL) {
            s->no_memory = 1;
            return 0;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

/* What ended an exchange that did not end with an answer's status:
 * libcurl's code, the bounds of the sink, whether a connection was made
 * (libcurl says "unsupported protocol" both for a URL's scheme and for an
 * answer that is not HTTP) and the errno it saw. */
static s2s_trust_http_status_t from_curlcode(CURLcode rc, const sink_t *s, int connected, int os_errno,
                                             s2s_trust_http_cause_t *cause)
{
    *cause = S2S_TRUST_HTTP_CAUSE_NONE;
    switch (rc) {
    case CURLE_OK:
        return S2S_TRUST_HTTP_OK;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        if (!connected)
            return S2S_TRUST_HTTP_BAD_URL;
        *cause = S2S_TRUST_HTTP_CAUSE_BAD_ANSWER;
        return S2S_TRUST_HTTP_FAILED;
    case CURLE_COULDNT_RESOLVE_HOST:
        *cause = S2S_TRUST_HTTP_CAUSE_RESOLVE;
        return S2S_TRUST_HTTP_CONNECT_FAILED;
    case CURLE_COULDNT_CONNECT:
        *cause = S2S_TRUST_HTTP_CAUSE_CONNECT;
        return S2S_TRUST_HTTP_CONNECT_FAILED;
    case CURLE_OPERATION_TIMEDOUT:
        return S2S_TRUST_HTTP_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION: /* chain or host name; also CURLE_SSL_CACERT's value */
        return S2S_TRUST_HTTP_CERT_UNTRUSTED;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return S2S_TRUST_HTTP_TLS_FAILED;
    case CURLE_FILESIZE_EXCEEDED:
        return S2S_TRUST_HTTP_TOO_LARGE;
    case CURLE_WRITE_ERROR:
        if (s->too_large)
            return S2S_TRUST_HTTP_TOO_LARGE;
        if (s->no_memory)
            return S2S_TRUST_HTTP_INTERNAL;
        return S2S_TRUST_HTTP_FAILED;
    case CURLE_GOT_NOTHING:
        *cause = S2S_TRUST_HTTP_CAUSE_EMPTY;
        return S2S_TRUST_HTTP_FAILED;
    case CURLE_PARTIAL_FILE:
        *cause = S2S_TRUST_HTTP_CAUSE_TRUNCATED;
        return S2S_TRUST_HTTP_FAILED;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        *cause = S2S_TRUST_HTTP_CAUSE_BAD_ANSWER;
        return S2S_TRUST_HTTP_FAILED;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        /* No errno: libcurl's own refusal of what it read (chunk framing). */
        *cause = os_errno != 0 ? S2S_TRUST_HTTP_CAUSE_IO : S2S_TRUST_HTTP_CAUSE_BAD_ANSWER;
        return S2S_TRUST_HTTP_FAILED;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return S2S_TRUST_HTTP_INTERNAL;
    default:
        return S2S_TRUST_HTTP_FAILED;
    }
}

/* Every option, each one a limit or a refusal (header). 0, or -1 when
 * libcurl refused one (it is too old or out of memory). */
static int set_options(CURL *h, const char *url, const s2s_trust_http_opts_t *o, struct curl_slist *resolve,
                       sink_t *sink, char *errbuf)
{
    long timeout = o->timeout_ms ? (long)o->timeout_ms : 1;
    long connect = o->connect_timeout_ms ? (long)o->connect_timeout_ms : timeout;
    int bad = 0;

#define SET(opt, val) bad |= curl_easy_setopt(h, opt, val) != CURLE_OK
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_URL, url);
    bad |= S2S_TRUST_CURL_PROTOCOLS(h, o->plain_http) != CURLE_OK;
    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_MAXREDIRS, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (o->cafile != NULL) {
        /* The given anchors alone: not the system's directory beside them. */
        SET(CURLOPT_CAINFO, o->cafile);
        SET(CURLOPT_CAPATH, (char *)NULL);
    }
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect < timeout ? connect : timeout);
    /* No CURLOPT_MAXFILESIZE: libcurl would refuse a Content-Length in
     * the middle of a redirect's head, before its Location; on_head
     * refuses a 200's once the head is whole. */
    SET(CURLOPT_HEADERFUNCTION, on_head);
    SET(CURLOPT_HEADERDATA, sink);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, sink);
    SET(CURLOPT_USERAGENT, "s2s-trust");
    if (resolve != NULL)
        SET(CURLOPT_RESOLVE, resolve);
#undef SET
    return bad ? -1 : 0;
}

/* libcurl's own bound on a head line (CURL_MAX_HTTP_HEADER, 100 KB) ends
 * the exchange before our header callback sees the line: as "out of
 * memory" up to 8.5, as CURLE_TOO_LARGE (100) from 8.6. Either, with a
 * connection made and no body begun, is a line too long, not our memory. */
static int head_overflow(CURLcode rc, const sink_t *sink, int connected)
{
    return connected && !sink->body_ok && (rc == CURLE_OUT_OF_MEMORY || (int)rc == 100);
}

/* What the answer was, given that the exchange itself ended with rc. */
static void classify(CURL *h, CURLcode rc, const sink_t *sink, const char *errbuf, s2s_trust_http_result_t *res)
{
    char *ip = NULL;
    long os_errno = 0;
    int connected;

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->code);
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    connected = curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL && ip[0] != '\0';
    /* Our bounds on the head first: past them nothing the head said
     * (its status, its Location) is taken. */
    if (sink->head.refused == S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG || head_overflow(rc, sink, connected)) {
        res->status = S2S_TRUST_HTTP_FAILED;
        res->cause = S2S_TRUST_HTTP_CAUSE_LINE_TOO_LONG;
        snprintf(res->why, sizeof res->why, "a line of the answer's head is longer than %zu bytes",
                 sink->head.max_line);
        return;
    }
    if (sink->head.refused == S2S_TRUST_HTTP_HEAD_TOO_MANY_HEADERS) {
        res->status = S2S_TRUST_HTTP_FAILED;
        res->cause = S2S_TRUST_HTTP_CAUSE_TOO_MANY_HEADERS;
        snprintf(res->why, sizeof res->why, "the answer has more than %zu header lines", sink->head.max_lines);
        return;
    }
    /* A whole head's status decides before its body (which is not read):
     * a 404 page may well be larger than a POSH document. A head libcurl
     * broke off (it refuses a second Location itself from 8.2x) is not an
     * answer: its status says nothing, libcurl's code does. */
    if (sink->head_done && res->code >= 300 && res->code < 400) {
        res->status = S2S_TRUST_HTTP_REDIRECT;
        res->loc = sink->head.loc;
        if (res->loc == S2S_TRUST_HTTP_LOC_OK)
            memcpy(res->location, sink->head.location, sizeof res->location);
        /* For people: a long Location is cut here, `location` has it whole. */
        snprintf(res->why, sizeof res->why, "HTTP %ld, to %.200s (not followed)", res->code,
                 res->loc == S2S_TRUST_HTTP_LOC_OK         ? res->location
                 : res->loc == S2S_TRUST_HTTP_LOC_TOO_LONG ? "a Location too long to keep"
                 : res->loc == S2S_TRUST_HTTP_LOC_BAD      ? "a malformed Location"
                                                           : "no Location");
        return;
    }
    if (sink->head_done && res->code != 0 && res->code != 200) {
        res->status = S2S_TRUST_HTTP_STATUS;
        snprintf(res->why, sizeof res->why, "HTTP %ld", res->code);
        return;
    }
    res->status = from_curlcode(rc, sink, connected, (int)os_errno, &res->cause);
    if (res->cause == S2S_TRUST_HTTP_CAUSE_CONNECT || res->cause == S2S_TRUST_HTTP_CAUSE_IO)
        res->os_errno = (int)os_errno;
    if (res->status == S2S_TRUST_HTTP_TOO_LARGE)
        snprintf(res->why, sizeof res->why, "the body is longer than %zu bytes", sink->max);
    else if (res->status != S2S_TRUST_HTTP_OK)
        snprintf(res->why, sizeof res->why, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (res->code != 200) {
        res->status = S2S_TRUST_HTTP_FAILED;
        res->cause = S2S_TRUST_HTTP_CAUSE_BAD_ANSWER;
        snprintf(res->why, sizeof res->why, "no HTTP status");
    }
}

s2s_trust_http_status_t s2s_trust_http_get(const char *url, const s2s_trust_http_opts_t *opts,
                                           s2s_trust_http_result_t *res)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *resolve = NULL, *more;
    sink_t sink;
    CURLcode rc;
    CURL *h = NULL;

    memset(res, 0, sizeof *res);
    memset(&sink, 0, sizeof sink);
    sink.max = opts->max_body ? opts->max_body : 1;
    s2s_trust_http_head_init(&sink.head, opts->max_head_line, opts->max_head_lines, sink.max);
    res->status = S2S_TRUST_HTTP_INTERNAL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(res->why, sizeof res->why, "curl_global_init: %s", curl_easy_strerror(global_rc));
        return res->status;
    }
    for (size_t i = 0; i < opts->n_resolve && i < S2S_TRUST_HTTP_MAX_RESOLVE; i++) {
        if ((more = curl_slist_append(resolve, opts->resolve[i])) == NULL) {
            snprintf(res->why, sizeof res->why, "out of memory");
            goto done;
        }
        resolve = more;
    }
    if ((h = sink.h = curl_easy_init()) == NULL || set_options(h, url, opts, resolve, &sink, errbuf) != 0) {
        snprintf(res->why, sizeof res->why, "libcurl set-up failed (out of memory, or libcurl too old)");
        goto done;
    }
    rc = curl_easy_perform(h);
    classify(h, rc, &sink, errbuf, res);
    if (res->status == S2S_TRUST_HTTP_OK) {
        if (sink.buf == NULL && (sink.buf = malloc(1)) == NULL) {
            res->status = S2S_TRUST_HTTP_INTERNAL;
            snprintf(res->why, sizeof res->why, "out of memory");
            goto done;
        }
        sink.buf[sink.len] = '\0';
        res->body = sink.buf;
        res->len = sink.len;
        sink.buf = NULL;
    }
done:
    free(sink.buf);
    curl_easy_cleanup(h);
    curl_slist_free_all(resolve);
    return res->status;
}

void s2s_trust_http_result_clear(s2s_trust_http_result_t *res)
{
    free(res->body);
    memset(res, 0, sizeof *res);
}
