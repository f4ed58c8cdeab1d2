/*
 * fuzz_stream.c - bytes from a server -> s2s_trust_xmpp_stream (the one
 * stream reader, on libexpat: the probe's pre-TLS exchange and the
 * self-test's streams after TLS and on its dialback server).
 *
 * Input framing: u8 flags, then the stream bytes.
 *   flags bits 0-2: chunking of the second pass (1, 2, 3, 7, 16, 61, 512
 *                   bytes, or cut points taken from the data's own bytes)
 *   flags bit 3:    a small total bound (600 bytes) instead of 65536
 * The bytes are fed twice, all at once and in chunks, each chunk an
 * exact-size heap copy so ASan sees a read past it.
 *
 * Asserted:
 *   - a call consumes at most what it was given; NEED_MORE consumes all;
 *   - the same HEADER and ELEMENT events, at the same offsets, with the same
 *     elements, whatever the chunking (the reader must not depend on where
 *     TCP cut), and the same end. One latitude: expat may notice a
 *     malformed byte inside an unfinished token earlier in one run than in
 *     the other, so where one run ends BAD the other may still be waiting
 *     for bytes (NEED_MORE) or reach a bound first (TOO_LARGE); a malformed
 *     token can never complete, so no further event may follow it in
 *     either run;
 *   - every HEADER and ELEMENT ends exactly on a '>' of the input;
 *   - terminal events are sticky and consume nothing afterwards;
 *   - never more than the bound is consumed;
 *   - every result string is terminated inside its array; the detail is
 *     printable ASCII (peer bytes escaped);
 *   - no leak (LeakSanitizer) and no read past any chunk (ASan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/s2s_trust_xmpp_stream.h"

#define MAX_EVENTS 64

typedef struct {
    s2s_trust_xs_event_t ev[MAX_EVENTS];
    size_t at[MAX_EVENTS]; /* offset just past each event */
    s2s_trust_xs_element_t el[MAX_EVENTS];
    size_t n;
    s2s_trust_xs_event_t last;
    char detail[160];
} trace_t;

int FuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

void FuzzerCleanup(void)
{
}

static int terminal(s2s_trust_xs_event_t ev)
{
    return ev == S2S_TRUST_XS_END || ev == S2S_TRUST_XS_BAD || ev == S2S_TRUST_XS_TOO_LARGE;
}

static void check_strings(const s2s_trust_xs_element_t *el, const char *detail)
{
#define TERMINATED(f) FUZZ_CHECK(memchr(el->f, '\0', sizeof el->f) != NULL, #f " not terminated")
    TERMINATED(local);
    TERMINATED(ns);
    TERMINATED(from);
    TERMINATED(to);
    TERMINATED(id);
    TERMINATED(type);
    TERMINATED(version);
    TERMINATED(condition);
    TERMINATED(text);
    TERMINATED(error_text);
#undef TERMINATED
    FUZZ_CHECK(strlen(detail) < 160, "detail not terminated");
    for (const char *p = detail; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in detail '%s'", (unsigned char)*p, detail);
}

/* Feed data[0..len) in chunks; chunk 0 = all at once, SIZE_MAX = cut at
 * the data's own bytes. */
static void run(size_t bound, const uint8_t *data, size_t len, size_t chunk, trace_t *t)
{
    s2s_trust_xs_t *xs = s2s_trust_xs_new(bound);
    size_t off = 0, cut_seed = 0;

    FUZZ_CHECK(xs != NULL, "s2s_trust_xs_new");
    memset(t, 0, sizeof *t);
    t->last = S2S_TRUST_XS_NEED_MORE;
    while (off < len && !terminal(t->last)) {
        size_t want = len - off;
        unsigned char *piece;
        size_t pos = 0;

        if (chunk == SIZE_MAX)
            want = 1 + data[cut_seed++ % len] % 97;
        else if (chunk)
            want = chunk;
        if (want > len - off)
            want = len - off;
        piece = fuzz_dup(data + off, want);
        while (pos < want) {
            size_t used = 12345;
            s2s_trust_xs_event_t ev = s2s_trust_xs_feed(xs, piece + pos, want - pos, &used);
            FUZZ_CHECK(used <= want - pos, "consumed %zu of %zu", used, want - pos);
            if (ev == S2S_TRUST_XS_NEED_MORE)
                FUZZ_CHECK(used == want - pos, "need_more after %zu of %zu", used, want - pos);
            pos += used;
            if (ev == S2S_TRUST_XS_NEED_MORE)
                break;
            if (t->n < MAX_EVENTS) {
                t->ev[t->n] = ev;
                t->at[t->n] = off + pos;
                t->el[t->n] = *s2s_trust_xs_element(xs);
                t->n++;
            }
            t->last = ev;
            check_strings(s2s_trust_xs_element(xs), s2s_trust_xs_detail(xs));
            if (!terminal(ev))
                FUZZ_CHECK(off + pos > 0 && data[off + pos - 1] == '>', "%s not ending at '>'",
                           s2s_trust_xs_event_name(ev));
            if (terminal(ev)) {
                size_t again = 99;
                FUZZ_CHECK(s2s_trust_xs_feed(xs, piece + pos, want - pos, &again) == ev && again == 0,
                           "terminal event %s not sticky", s2s_trust_xs_event_name(ev));
                snprintf(t->detail, sizeof t->detail, "%s", s2s_trust_xs_detail(xs));
                break;
            }
        }
        free(piece);
        off += pos;
    }
    FUZZ_CHECK(s2s_trust_xs_fed(xs) <= bound, "consumed %zu over the bound %zu", s2s_trust_xs_fed(xs), bound);
    s2s_trust_xs_free(xs);
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    static const size_t chunks[8] = { 1, 2, 3, 7, 16, 61, 512, SIZE_MAX };
    static trace_t ta, tb; /* large: not on the stack */
    unsigned flags;
    size_t bound;

    if (len < 1)
        return 0;
    flags = buf[0];
    buf++;
    len--;
    bound = (flags & 8) ? 600 : 65536;
    run(bound, buf, len, 0, &ta);
    run(bound, buf, len, len > 0 ? chunks[flags & 7] : 0, &tb);

    {
        size_t na = ta.n - (terminal(ta.last) ? 1 : 0), nb = tb.n - (terminal(tb.last) ? 1 : 0);
        FUZZ_CHECK(na == nb, "%zu events whole, %zu chunked", na, nb);
        for (size_t i = 0; i < na && i < nb; i++)
            FUZZ_CHECK(ta.ev[i] == tb.ev[i] && ta.at[i] == tb.at[i] && memcmp(&ta.el[i], &tb.el[i], sizeof ta.el[i]) == 0,
                       "event %zu: %s at %zu whole, %s at %zu chunked, or another element", i,
                       s2s_trust_xs_event_name(ta.ev[i]), ta.at[i], s2s_trust_xs_event_name(tb.ev[i]), tb.at[i]);
    }
    FUZZ_CHECK(ta.last == tb.last || ta.last == S2S_TRUST_XS_BAD || tb.last == S2S_TRUST_XS_BAD,
               "ends %s whole, %s chunked", s2s_trust_xs_event_name(ta.last), s2s_trust_xs_event_name(tb.last));
    if (ta.last == S2S_TRUST_XS_TOO_LARGE && tb.last == S2S_TRUST_XS_TOO_LARGE)
        FUZZ_CHECK(strcmp(ta.detail, tb.detail) == 0, "bounds differ by chunking: '%s' vs '%s'", ta.detail, tb.detail);
    return 0;
}
