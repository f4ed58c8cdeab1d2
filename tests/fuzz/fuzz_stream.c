/*
 * fuzz_stream.c - bytes from a server before TLS -> s2s_trust_xmpp_stream.
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
 *   - the same events, at the same offsets, with the same results, whatever
 *     the chunking (the tokenizer must not depend on where TCP cut);
 *   - terminal events are sticky and consume nothing afterwards;
 *   - never more than the bound is consumed;
 *   - every result string is terminated inside its array; detail is
 *     printable ASCII (peer bytes escaped);
 *   - PROCEED consumes exactly through the '>' of the element.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/s2s_trust_xmpp_stream.h"

#define MAX_EVENTS 64

typedef struct {
    s2s_trust_xs_event_t ev[MAX_EVENTS];
    size_t at[MAX_EVENTS]; /* offset just past each event */
    size_t n;
    s2s_trust_xs_event_t last;
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
    return ev != S2S_TRUST_XS_NEED_MORE && ev != S2S_TRUST_XS_HEADER && ev != S2S_TRUST_XS_FEATURES;
}

static void check_strings(const s2s_trust_xs_t *xs)
{
#define TERMINATED(f) FUZZ_CHECK(memchr(xs->f, '\0', sizeof xs->f) != NULL, #f " not terminated")
    TERMINATED(header_id);
    TERMINATED(header_from);
    TERMINATED(header_to);
    TERMINATED(header_version);
    TERMINATED(error_condition);
    TERMINATED(error_text);
    TERMINATED(detail);
#undef TERMINATED
    for (const char *p = xs->detail; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in detail '%s'", (unsigned char)*p, xs->detail);
}

/* Feed data[0..len) in chunks; chunk 0 = all at once, SIZE_MAX = cut at
 * the data's own bytes. */
static void run(s2s_trust_xs_t *xs, size_t bound, const uint8_t *data, size_t len, size_t chunk, trace_t *t)
{
    size_t off = 0, cut_seed = 0;

    s2s_trust_xs_init(xs, bound);
    memset(t, 0, sizeof *t);
    t->last = S2S_TRUST_XS_NEED_MORE;
    while (off < len && !terminal(t->last)) {
        size_t want = len - off;
        if (chunk == SIZE_MAX)
            want = 1 + data[cut_seed++ % len] % 97;
        else if (chunk)
            want = chunk;
        if (want > len - off)
            want = len - off;
        {
            unsigned char *piece = fuzz_dup(data + off, want);
            size_t pos = 0;
            while (pos < want) {
                size_t used = 12345;
                s2s_trust_xs_event_t ev = s2s_trust_xs_feed(xs, piece + pos, want - pos, &used);
                FUZZ_CHECK(used <= want - pos, "consumed %zu of %zu", used, want - pos);
                if (ev == S2S_TRUST_XS_NEED_MORE)
                    FUZZ_CHECK(used == want - pos, "need_more after %zu of %zu", used, want - pos);
                pos += used;
                if (ev != S2S_TRUST_XS_NEED_MORE) {
                    if (t->n < MAX_EVENTS) {
                        t->ev[t->n] = ev;
                        t->at[t->n] = off + pos;
                        t->n++;
                    }
                    t->last = ev;
                    if (ev == S2S_TRUST_XS_PROCEED)
                        FUZZ_CHECK(off + pos > 0 && data[off + pos - 1] == '>', "proceed not ending at '>'");
                    if (terminal(ev)) {
                        size_t again = 99;
                        FUZZ_CHECK(s2s_trust_xs_feed(xs, piece + pos, want - pos, &again) == ev && again == 0,
                                   "terminal event %s not sticky", s2s_trust_xs_event_name(ev));
                        break;
                    }
                }
                if (ev == S2S_TRUST_XS_NEED_MORE)
                    break;
            }
            free(piece);
            off += pos < want ? pos : want;
            if (terminal(t->last))
                break;
        }
    }
    check_strings(xs);
    FUZZ_CHECK(off <= bound, "consumed %zu over the bound %zu", off, bound);
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    static const size_t chunks[8] = { 1, 2, 3, 7, 16, 61, 512, SIZE_MAX };
    s2s_trust_xs_t *a, *b;
    trace_t ta, tb;
    unsigned flags;
    size_t bound;

    if (len < 1)
        return 0;
    flags = buf[0];
    buf++;
    len--;
    bound = (flags & 8) ? 600 : 65536;
    a = malloc(sizeof *a);
    b = malloc(sizeof *b);
    FUZZ_CHECK(a != NULL && b != NULL, "malloc");
    run(a, bound, buf, len, 0, &ta);
    if (len > 0)
        run(b, bound, buf, len, chunks[flags & 7], &tb);
    else
        run(b, bound, buf, len, 0, &tb);

    FUZZ_CHECK(ta.n == tb.n, "%zu events whole, %zu chunked", ta.n, tb.n);
    for (size_t i = 0; i < ta.n && i < tb.n; i++)
        FUZZ_CHECK(ta.ev[i] == tb.ev[i] && ta.at[i] == tb.at[i], "event %zu: %s at %zu whole, %s at %zu chunked", i,
                   s2s_trust_xs_event_name(ta.ev[i]), ta.at[i], s2s_trust_xs_event_name(tb.ev[i]), tb.at[i]);
    FUZZ_CHECK(strcmp(a->detail, b->detail) == 0 && strcmp(a->header_from, b->header_from) == 0 &&
                   strcmp(a->error_condition, b->error_condition) == 0 && strcmp(a->error_text, b->error_text) == 0 &&
                   a->starttls == b->starttls && a->starttls_required == b->starttls_required &&
                   a->sasl_external == b->sasl_external && a->dialback == b->dialback,
               "results differ by chunking: '%s' vs '%s'", a->detail, b->detail);
    free(a);
    free(b);
    return 0;
}
