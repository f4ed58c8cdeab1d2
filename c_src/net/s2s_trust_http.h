/*
 * s2s_trust_http.h - one HTTP(S) GET, on libcurl, with every limit set and
 * every failure a named status. The one HTTP client of the network layer:
 * POSH documents now (s2s_trust_posh_fetch.h), CRLs later (which is what
 * `http_ok` is for).
 *
 * What a GET promises, whatever the server does:
 *   - HTTPS only unless http_ok; libcurl is told the allowed protocols, so
 *     no other scheme (file:, ftp:, ...) is ever spoken;
 *   - the server's certificate is verified (chain, and the host name of
 *     the URL) against `cafile` alone when given, else the system bundle;
 *     TLS 1.2 at least;
 *   - redirects are never followed: a 3xx answer is REDIRECT (with the
 *     Location in `why`); any other status than 200 is HTTP_STATUS;
 *   - a body over `max_body` bytes is TOO_LARGE, refused from its
 *     Content-Length before it is read, and cut off while receiving when
 *     there is none (chunked);
 *   - the whole GET ends within `timeout_ms`, its connection (TCP and TLS)
 *     within `connect_timeout_ms`;
 *   - nothing comes from the environment: no proxy (http_proxy and friends
 *     are overridden), no cookies, no .netrc; no signals (CURLOPT_NOSIGNAL),
 *     so it may run on any thread, with no process-wide state but
 *     curl_global_init, done once (thread-safe) on the first GET.
 * A GET owns nothing after it returns but the result's body.
 */
#ifndef S2S_TRUST_HTTP_H
#define S2S_TRUST_HTTP_H

#include <stddef.h>

typedef enum {
    S2S_TRUST_HTTP_OK = 0,
    S2S_TRUST_HTTP_BAD_URL,        /* not a URL, or a scheme not allowed */
    S2S_TRUST_HTTP_CONNECT_FAILED, /* name not resolved, connection refused or unreachable */
    S2S_TRUST_HTTP_TLS_FAILED,     /* the TLS handshake failed (not the certificate) */
    S2S_TRUST_HTTP_CERT_UNTRUSTED, /* the server's certificate or its name did not verify */
    S2S_TRUST_HTTP_TIMEOUT,        /* a deadline passed */
    S2S_TRUST_HTTP_REDIRECT,       /* a 3xx answer (never followed) */
    S2S_TRUST_HTTP_STATUS,         /* an answer other than 200 (code) */
    S2S_TRUST_HTTP_TOO_LARGE,      /* the body is longer than max_body */
    S2S_TRUST_HTTP_FAILED,         /* the exchange broke off: reset, empty or bad answer */
    S2S_TRUST_HTTP_INTERNAL,       /* out of memory, an unreadable cafile, a libcurl set-up failure */
} s2s_trust_http_status_t;

#define S2S_TRUST_HTTP_MAX_RESOLVE 8

typedef struct {
    const char *cafile;       /* PEM file of the only anchors, or NULL: the system bundle */
    /* "HOST:PORT:ADDR" entries (curl --resolve): connect there for
     * HOST:PORT, and still verify the certificate for HOST. For tests. */
    const char *resolve[S2S_TRUST_HTTP_MAX_RESOLVE];
    size_t n_resolve;
    unsigned timeout_ms;         /* the whole GET; 0 is 1 */
    unsigned connect_timeout_ms; /* 0: timeout_ms */
    size_t max_body;             /* bytes; 0 is 1 */
    int http_ok;                 /* 1: http:// allowed too (CRLs); 0: https:// only */
} s2s_trust_http_opts_t;

typedef struct {
    s2s_trust_http_status_t status;
    long code;            /* the HTTP status received, 0 if none */
    unsigned char *body;  /* OK: the body (malloc'd, NUL-terminated past len), else NULL */
    size_t len;
    char why[256];        /* not OK: libcurl's words, the Location of a redirect;
                             may quote the server: escape before showing */
} s2s_trust_http_result_t;

/* GET `url`. Returns the status, also in res->status (res is always
 * filled; release it with s2s_trust_http_result_clear). */
s2s_trust_http_status_t s2s_trust_http_get(const char *url, const s2s_trust_http_opts_t *opts,
                                           s2s_trust_http_result_t *res);

/* Free the body; *res is zeroed. */
void s2s_trust_http_result_clear(s2s_trust_http_result_t *res);

/* "ok", "bad_url", "connect_failed", "tls_failed", "cert_untrusted",
 * "timeout", "redirect", "http_status", "too_large", "failed", "internal". */
const char *s2s_trust_http_status_name(s2s_trust_http_status_t st);

#endif
