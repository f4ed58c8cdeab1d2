/*
 * fuzz_http_head.c - an HTTP answer's head -> s2s_trust_http_head (the
 * bounds the HTTP client holds a server's head to, and the Location it
 * keeps; c_src/net/s2s_trust_http_head.h). Every byte it reads is a
 * server's: a CRL server, or anyone on the path of a plain-http fetch.
 *
 * Input framing: u8 a, u8 b, then the head (the rest), cut into lines
 * after each LF (the last one may have none), each handed over as an
 * exact-size heap copy, as libcurl hands its header callback one line.
 * max_line is 16 + a * 4 (so both sides of it are reached), max_lines
 * 1 + b % 70, max_body 0 or b * 7. The status code of each line is the
 * one its answer's status line names (three digits after "HTTP/x "), 0 if
 * it names none, as libcurl's CURLINFO_RESPONSE_CODE would be.
 *
 * Asserted:
 *   - a refusal is final: every later line gets the same step back;
 *   - no line over max_line bytes (its LF and one CR before it aside) is
 *     ever taken, and more than max_lines counted lines never are;
 *   - location is NUL-terminated inside its buffer; loc OK holds 1..2048
 *     bytes, none a control byte, space or DEL (bytes over 0x7f pass: the
 *     URL test refuses them by name, not_ascii); any other state leaves
 *     it "";
 *   - BODY only at the blank line of a 200 whose largest Content-Length is
 *     not over max_body; DONE only at the blank line of a final non-200.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/s2s_trust_http_head.h"

int FuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 1;
}

void FuzzerCleanup(void)
{
}

/* The status a status line names, as libcurl would have parsed it (a
 * line it would refuse never reaches a header callback, so any guess is
 * as good): three digits after the first space. */
static long code_of(const uint8_t *p, size_t n)
{
    const uint8_t *sp = memchr(p, ' ', n);
    size_t i;

    if (n < 5 || memcmp(p, "HTTP/", 5) != 0 || sp == NULL)
        return 0;
    i = (size_t)(sp - p) + 1;
    if (i + 3 > n || p[i] < '1' || p[i] > '5' || p[i + 1] < '0' || p[i + 1] > '9' || p[i + 2] < '0' ||
        p[i + 2] > '9')
        return 0;
    return (p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + (p[i + 2] - '0');
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    fuzz_in_t in = {buf, len};
    unsigned a = fuzz_u8(&in), b = fuzz_u8(&in);
    size_t max_line = 16 + (size_t)a * 4, max_lines = 1 + b % 70, max_body = (b & 1) ? (size_t)b * 7 : 0;
    s2s_trust_http_head_t h;
    s2s_trust_http_head_step_t refused = S2S_TRUST_HTTP_HEAD_MORE;
    long code = 0;
    int in_head = 0;

    s2s_trust_http_head_init(&h, max_line, max_lines, max_body);
    while (in.left > 0) {
        const uint8_t *nl = memchr(in.p, '\n', in.left), *p;
        size_t n = nl ? (size_t)(nl - in.p) + 1 : in.left, body;
        unsigned char *line;
        s2s_trust_http_head_step_t st;

        fuzz_take(&in, n, &p);
        line = fuzz_dup(p, n);
        body = n;
        if (body > 0 && line[body - 1] == '\n')
            body--;
        if (body > 0 && line[body - 1] == '\r')
            body--;
        if (!in_head)
            code = code_of(line, body);
        st = s2s_trust_http_head_line(&h, (const char *)line, n, code);

        FUZZ_CHECK(memchr(h.location, '\0', sizeof h.location) != NULL, "location not terminated");
        if (refused != S2S_TRUST_HTTP_HEAD_MORE) {
            FUZZ_CHECK(st == refused, "a refusal (%d) was not final: %d", refused, st);
            free(line);
            continue;
        }
        if (st == S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG || st == S2S_TRUST_HTTP_HEAD_TOO_MANY_HEADERS ||
            st == S2S_TRUST_HTTP_HEAD_TOO_LARGE) {
            refused = st;
            FUZZ_CHECK(h.refused == st, "refusal not kept");
            FUZZ_CHECK(st != S2S_TRUST_HTTP_HEAD_LINE_TOO_LONG || body > max_line, "refused a short line");
            free(line);
            continue;
        }
        FUZZ_CHECK(body <= max_line, "took a %zu-byte line over %zu", body, max_line);
        FUZZ_CHECK(h.lines <= max_lines, "took %zu lines over %zu", h.lines, max_lines);
        if (h.loc == S2S_TRUST_HTTP_LOC_OK) {
            size_t l = strlen(h.location);
            FUZZ_CHECK(l >= 1 && l <= S2S_TRUST_HTTP_MAX_LOCATION, "location length %zu", l);
            for (size_t i = 0; i < l; i++)
                FUZZ_CHECK((unsigned char)h.location[i] > 0x20 && (unsigned char)h.location[i] != 0x7f,
                           "byte 0x%02x in location", (unsigned char)h.location[i]);
        } else {
            FUZZ_CHECK(h.location[0] == '\0', "location kept in state %d", h.loc);
        }
        if (st == S2S_TRUST_HTTP_HEAD_BODY) {
            FUZZ_CHECK(in_head && body == 0 && code == 200, "BODY outside a 200's blank line");
            FUZZ_CHECK(max_body == 0 || !h.has_length || h.content_length <= max_body, "BODY over max_body");
        }
        if (st == S2S_TRUST_HTTP_HEAD_DONE)
            FUZZ_CHECK(in_head && body == 0 && code != 200 && (code < 100 || code >= 200), "DONE misplaced");
        if (!in_head)
            in_head = 1;
        else if (body == 0)
            in_head = 0;
        free(line);
    }
    return 0;
}
