/* s2s_trust_http_head.c - see s2s_trust_http_head.h */
#include "net/s2s_trust_http_head.h"

#include <string.h>
#include <strings.h>

void s2s_trust_http_head_init(s2s_trust_http_head_t *h, size_t max_line, size_t max_lines, size_t max_body)
{
    memset(h, 0, sizeof *h);
    h->max_line = max_line ? max_line : S2S_TRUST_HTTP_HEAD_MAX_LINE;
    h->max_lines = max_lines ? max_lines : S2S_TRUST_HTTP_HEAD_MAX_LINES;
    h->max_body = max_body;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The value of header `name` (with its colon) in line[0..n), trimmed; NULL
 * if the line is another header. */
static const char *value_of(const char *line, size_t n, const char *name, size_t *len)
{
    size_t k = strlen(name), a, b;

    if (n < k || strncasecmp(line, name, k) != 0)
        return NULL;
    for (a = k; a < n && is_ws(line[a]); a++)
        ;
    for (b = n; b > a && is_ws(line[b - 1]); b--)
        ;
    *len = b - a;
    return line + a;
}

/* A Content-Length value: digits only; one too large for 64 bits reads as
 * the largest. Anything else is left to libcurl, which refuses it. */
static void content_length(s2s_trust_http_head_t *h, const char *v, size_t len)
{
    unsigned long long x = 0;

    if (len == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        x = x > (~0ULL - 9) / 10 ? ~0ULL : x * 10 + (unsigned)(v[i] - '0');
    }
    /* Two different lengths: the larger one is the one to fear. */
    if (!h->has_length || x > h->content_length)
        h->content_length = x;
    h->has_length = 1;
}

/* Whatever was kept goes: only an OK Location has text. */
static void loc_refused(s2s_trust_http_head_t *h, s2s_trust_http_loc_t why)
{
    h->loc = why;
    h->location[0] = '\0';
}

static void location(s2s_trust_http_head_t *h, const char *v, size_t len)
{
    h->after_location = 1;
    if (h->loc != S2S_TRUST_HTTP_LOC_NONE || len == 0) {
        loc_refused(h, S2S_TRUST_HTTP_LOC_BAD); /* two, or an empty one: which one would be meant? */
        return;
    }
    /* White space inside: no URL has it, and a libcurl that unfolds an
     * obs-fold hands us the two halves joined by one. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f) {
            loc_refused(h, S2S_TRUST_HTTP_LOC_BAD);
            return;
        }
    if (len > S2S_TRUST_HTTP_MAX_LOCATION) {
        loc_refused(h, S2S_TRUST_HTTP_LOC_TOO_LONG);
        return;
    }
    memcpy(h->location, v, len);
    h->location[len] = '\0';
    h->loc = S2S_TRUST_HTTP_LOC_OK;
}

static s2s_trust_http_head_step_t refuse(s2s_trust_http_head_t *h, s2s_trust_http_head_step_t why)
{
    h->refused = why;
    return why;
}

s2s_trust_http_head_step_t s2s_trust_http_head_line(s2s_trust_http_head_t *h, const char *line, size_t n, long code)
{
    const char *v;
    size_t len;
    int interim = code >= 100 && code < 200;

    if (h->refused != S2S_TRUST_HTTP_HEAD_MORE)
        return h->refused;
    if (n > 0 && line[n - 1] == '\n')
        n--;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n > h->max_line)
        return refuse(h, S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG);

    if (!h->in_head) {
        /* A status line: a new answer, whose headers alone count. */
        h->in_head = 1;
        h->after_location = 0;
        h->has_length = 0;
        h->content_length = 0;
        h->loc = S2S_TRUST_HTTP_LOC_NONE;
        h->location[0] = '\0';
        if (interim && ++h->lines > h->max_lines)
            return refuse(h, S2S_TRUST_HTTP_HEAD_TOO_MANY_HEADERS);
        return S2S_TRUST_HTTP_HEAD_MORE;
    }
    if (n == 0) {
        h->in_head = 0;
        if (interim)
            return S2S_TRUST_HTTP_HEAD_MORE;
        if (code != 200)
            return S2S_TRUST_HTTP_HEAD_DONE;
        if (h->max_body > 0 && h->has_length && h->content_length > h->max_body)
            return refuse(h, S2S_TRUST_HTTP_HEAD_TOO_LARGE);
        return S2S_TRUST_HTTP_HEAD_BODY;
    }
    if (++h->lines > h->max_lines)
        return refuse(h, S2S_TRUST_HTTP_HEAD_TOO_MANY_HEADERS);
    if (is_ws(line[0])) {
        /* obs-fold: the line goes on the previous header. A Location that
         * goes on is one we would keep only a part of. */
        if (h->after_location)
            loc_refused(h, S2S_TRUST_HTTP_LOC_BAD);
        return S2S_TRUST_HTTP_HEAD_MORE;
    }
    h->after_location = 0;
    if ((v = value_of(line, n, "location:", &len)) != NULL)
        location(h, v, len);
    else if ((v = value_of(line, n, "content-length:", &len)) != NULL)
        content_length(h, v, len);
    return S2S_TRUST_HTTP_HEAD_MORE;
}
