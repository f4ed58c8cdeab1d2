/* s2s_trust_http.c - see s2s_trust_http.h */
#include <curl/curl.h>

#include "net/s2s_trust_http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/s2s_trust_compat.h"

/* The body as it arrives, bounded. */
typedef struct {
    CURL *h;
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

/* libcurl's write callback: keep the bytes, or stop the transfer (any
 * return other than the size given) once they pass the bound. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    sink_t *s = arg;
    size_t n = size * nmemb;

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

static s2s_trust_http_status_t from_curlcode(CURLcode rc, const sink_t *s)
{
    switch (rc) {
    case CURLE_OK:
        return S2S_TRUST_HTTP_OK;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return S2S_TRUST_HTTP_BAD_URL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
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
        return s->too_large ? S2S_TRUST_HTTP_TOO_LARGE : s->no_memory ? S2S_TRUST_HTTP_INTERNAL : S2S_TRUST_HTTP_FAILED;
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
    bad |= S2S_TRUST_CURL_PROTOCOLS(h, o->http_ok) != CURLE_OK;
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
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink->max);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, sink);
    SET(CURLOPT_USERAGENT, "s2s-trust");
    if (resolve != NULL)
        SET(CURLOPT_RESOLVE, resolve);
#undef SET
    return bad ? -1 : 0;
}

/* What the answer was, given that the exchange itself ended with rc. */
static void classify(CURL *h, CURLcode rc, const sink_t *sink, const char *errbuf, s2s_trust_http_result_t *res)
{
    char *location = NULL;

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->code);
    /* An answer's status decides before its body: a 404 page may well be
     * larger than a POSH document. */
    if (res->code >= 300 && res->code < 400) {
        res->status = S2S_TRUST_HTTP_REDIRECT;
        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
        snprintf(res->why, sizeof res->why, "HTTP %ld, to %s (not followed)", res->code,
                 location != NULL ? location : "no Location");
        return;
    }
    if (res->code != 0 && res->code != 200) {
        res->status = S2S_TRUST_HTTP_STATUS;
        snprintf(res->why, sizeof res->why, "HTTP %ld", res->code);
        return;
    }
    res->status = from_curlcode(rc, sink);
    if (res->status == S2S_TRUST_HTTP_TOO_LARGE)
        snprintf(res->why, sizeof res->why, "the body is longer than %zu bytes", sink->max);
    else if (res->status != S2S_TRUST_HTTP_OK)
        snprintf(res->why, sizeof res->why, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (res->code != 200) {
        res->status = S2S_TRUST_HTTP_FAILED;
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
