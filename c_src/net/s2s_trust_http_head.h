/*
 * s2s_trust_http_head.h - our bounds on an HTTP answer's head, line by line,
 * as libcurl hands the lines to its header callback (s2s_trust_http.c).
 * Pure: no libcurl, no I/O, so every rule is unit-tested on bytes.
 *
 * Why our own: libcurl bounds a head only by memory (a line is buffered up
 * to CURL_MAX_HTTP_HEADER, 100 KB, and the whole head, on libcurl releases
 * that have the check, to 300 KB), and counts no headers. A server whose
 * answer is hostile input gets tighter limits here:
 *   - each line (status line or header, its CRLF aside) at most max_line
 *     bytes;
 *   - at most max_lines header lines in the whole exchange: the status
 *     line of the final answer is free, every other line (an interim 1xx
 *     answer's status line and headers included) counts;
 *   - a Content-Length over max_body ends a 200's head before its body;
 *   - a head that ends with another status than 200 (or 1xx) ends the
 *     exchange there: no error page's body is ever read.
 * And it keeps the one header a caller needs: Location, whole or not at
 * all (never cut: a cut URL is another URL).
 */
#ifndef S2S_TRUST_HTTP_HEAD_H
#define S2S_TRUST_HTTP_HEAD_H

#include <stddef.h>

/* Our default bounds (the CRL fetch's since its first version, docs/crl.md). */
#define S2S_TRUST_HTTP_HEAD_MAX_LINE 8192
#define S2S_TRUST_HTTP_HEAD_MAX_LINES 64
/* The longest Location kept; a longer one is LOC_TOO_LONG. */
#define S2S_TRUST_HTTP_MAX_LOCATION 2048

typedef enum {
    S2S_TRUST_HTTP_LOC_NONE = 0, /* no Location header */
    S2S_TRUST_HTTP_LOC_OK,       /* location holds it, whole */
    S2S_TRUST_HTTP_LOC_TOO_LONG, /* longer than S2S_TRUST_HTTP_MAX_LOCATION */
    S2S_TRUST_HTTP_LOC_BAD,      /* empty, sent twice, folded over lines, or with white space or a control byte */
} s2s_trust_http_loc_t;

typedef enum {
    S2S_TRUST_HTTP_HEAD_MORE = 0, /* go on */
    S2S_TRUST_HTTP_HEAD_BODY,     /* a 200's head ended: read its body */
    S2S_TRUST_HTTP_HEAD_DONE,     /* another final answer's head ended: stop, the status says it all */
    S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG,    /* refused: stop */
    S2S_TRUST_HTTP_HEAD_TOO_MANY_HEADERS, /* refused: stop */
    S2S_TRUST_HTTP_HEAD_TOO_LARGE,        /* refused: a 200 whose Content-Length is over max_body */
} s2s_trust_http_head_step_t;

typedef struct {
    size_t max_line, max_lines, max_body; /* bounds (0: the defaults above; max_body 0: none) */
    size_t lines;                         /* lines counted so far */
    int in_head;                          /* 1 between a status line and its blank line */
    int after_location;                   /* the previous line was a Location header */
    unsigned long long content_length;    /* of the current answer, if has_length */
    int has_length;
    s2s_trust_http_loc_t loc;             /* of the current answer */
    char location[S2S_TRUST_HTTP_MAX_LOCATION + 1];
    s2s_trust_http_head_step_t refused;   /* the refusal that stopped the exchange, or MORE */
} s2s_trust_http_head_t;

void s2s_trust_http_head_init(s2s_trust_http_head_t *h, size_t max_line, size_t max_lines, size_t max_body);

/*
 * One line of the head as libcurl gives it (CRLF or LF included, not
 * NUL-terminated); code is the status of the answer it belongs to as
 * libcurl parsed it (CURLINFO_RESPONSE_CODE). A refusal is also kept in
 * h->refused; after one, the exchange must stop.
 */
s2s_trust_http_head_step_t s2s_trust_http_head_line(s2s_trust_http_head_t *h, const char *line, size_t n, long code);

#endif
