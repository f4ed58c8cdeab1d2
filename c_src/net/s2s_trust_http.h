/*
 * s2s_trust_http.h - one HTTP(S) GET, on libcurl, with every limit set and
 * every failure a named status. The one HTTP client of the network layer:
 * POSH documents over https (s2s_trust_posh_fetch.h), CRLs over plain http
 * (s2s_trust_crl_nif.c, for mod_s2s_trust_crl_fetch).
 *
 * What a GET promises, whatever the server does:
 *   - one scheme: https://, or http:// alone with plain_http; libcurl is
 *     told the allowed protocol, so no other scheme (file:, ftp:, ...) is
 *     ever spoken;
 *   - the server's certificate is verified (chain, and the host name of
 *     the URL) against `cafile` alone when given, else the system bundle;
 *     TLS 1.2 at least;
 *   - redirects are never followed: a 3xx answer is REDIRECT (with the
 *     Location in `why` for people, and whole in `location` for a caller
 *     that follows it itself); any other status than 200 is HTTP_STATUS;
 *     the body of an answer other than 200 is never read;
 *   - the head is bounded by s2s_trust_http_head.h: each line at most
 *     max_head_line bytes, at most max_head_lines header lines, else
 *     FAILED (cause LINE_TOO_LONG, TOO_MANY_HEADERS);
 *   - a body over `max_body` bytes is TOO_LARGE, refused from its
 *     Content-Length before it is read, and cut off while receiving when
 *     there is none (chunked, or read to the close); libcurl decodes
 *     chunked (and a gzip/deflate Transfer-Encoding) as it arrives, and
 *     the bound counts decoded bytes; no Content-Encoding is asked for or
 *     decoded;
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

#include "net/s2s_trust_http_head.h"

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

/* Which failure, within CONNECT_FAILED and FAILED: what a caller that
 * reports them in its own words (the CRL fetch) needs. */
typedef enum {
    S2S_TRUST_HTTP_CAUSE_NONE = 0,
    S2S_TRUST_HTTP_CAUSE_RESOLVE,          /* CONNECT_FAILED: the name did not resolve */
    S2S_TRUST_HTTP_CAUSE_CONNECT,          /* CONNECT_FAILED: no connection (os_errno says why) */
    S2S_TRUST_HTTP_CAUSE_EMPTY,            /* FAILED: closed before any answer */
    S2S_TRUST_HTTP_CAUSE_BAD_ANSWER,       /* FAILED: not HTTP: status line, a header, a length, chunks */
    S2S_TRUST_HTTP_CAUSE_TRUNCATED,        /* FAILED: closed before its Content-Length was read */
    S2S_TRUST_HTTP_CAUSE_LINE_TOO_LONG,    /* FAILED: a head line over max_head_line (or libcurl's own 100 KB) */
    S2S_TRUST_HTTP_CAUSE_TOO_MANY_HEADERS, /* FAILED: more header lines than max_head_lines */
    S2S_TRUST_HTTP_CAUSE_IO,               /* FAILED: sending or receiving failed (os_errno) */
} s2s_trust_http_cause_t;

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
    size_t max_head_line;        /* bytes per head line; 0: S2S_TRUST_HTTP_HEAD_MAX_LINE */
    size_t max_head_lines;       /* header lines; 0: S2S_TRUST_HTTP_HEAD_MAX_LINES */
    int plain_http;              /* 1: http:// only (CRLs); 0: https:// only */
} s2s_trust_http_opts_t;

typedef struct {
    s2s_trust_http_status_t status;
    long code;            /* the HTTP status received, 0 if none */
    unsigned char *body;  /* OK: the body (malloc'd, NUL-terminated past len), else NULL */
    size_t len;
    char why[256];        /* not OK: libcurl's words, the Location of a redirect;
                             may quote the server: escape before showing */
    s2s_trust_http_cause_t cause; /* CONNECT_FAILED, FAILED: which; else NONE */
    int os_errno;         /* CAUSE_CONNECT, CAUSE_IO: the errno libcurl saw, or 0 */
    s2s_trust_http_loc_t loc;     /* REDIRECT: the state of its Location */
    char location[S2S_TRUST_HTTP_MAX_LOCATION + 1]; /* loc OK: the Location as sent
                             (maybe relative), whole; else "" */
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

/* "none", "resolve", "connect", "empty", "bad_answer", "truncated",
 * "line_too_long", "too_many_headers", "io". */
const char *s2s_trust_http_cause_name(s2s_trust_http_cause_t c);

/* The POSIX name of a connect or socket errno in lower case, as Erlang's
 * inet spells it ("econnrefused", "ehostunreach", ...); NULL for one not
 * in the list (and for 0). */
const char *s2s_trust_http_errno_name(int e);

#endif
