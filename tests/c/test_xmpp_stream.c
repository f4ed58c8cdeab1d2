/* test_xmpp_stream.c - the pre-TLS stream parser on what real servers send
 * (ejabberd 23.01 and Prosody 0.12.3, bytes captured in the lab), on
 * hand-written variants (prefixes, quotes, whitespace) and on hostile
 * input. Every valid sample is fed whole, byte by byte and in uneven
 * chunks: the events must not depend on how TCP cut the bytes. */
#include <stdlib.h>

#include "net/s2s_trust_xmpp_stream.h"
#include "testing.h"
#include "tests.h"

#define MAX_EVENTS 8

/* Captured from ejabberd 23.01 (lab pe.test, starttls: required) answering
 * the probe's stream header (S2S_PROBE_CAPTURE in tests/probe/test_probe.sh). */
static const char ejabberd_hello[] =
    "<?xml version='1.0'?><stream:stream id='7366773911629368449' version='1.0' xml:lang='en' xmlns:d"
    "b='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' from='pe.test' xmlns="
    "'jabber:server'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></"
    "starttls></stream:features>";

/* Captured from Prosody 0.12.3 (lab pp.test, s2s_require_encryption). */
static const char prosody_hello[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' version='1.0' from='pp.test' to='' xml"
    "ns:stream='http://etherx.jabber.org/streams' id='1a88df2a-45d3-4caf-b08d-bcea8500fb44' xml:lang="
    "'en' xmlns:db='jabber:server:dialback'><stream:features><dialback xmlns='urn:xmpp:features:dialb"
    "ack'/><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";

typedef struct {
    s2s_trust_xs_event_t ev[MAX_EVENTS];
    size_t n;
    size_t consumed; /* bytes consumed in total */
} run_t;

/* Feed `len` bytes in chunks of `chunk` (0 = all at once), collecting events
 * until a terminal one or the input ends. */
static void feed(s2s_trust_xs_t *xs, const char *data, size_t len, size_t chunk, run_t *r)
{
    size_t off = 0;

    memset(r, 0, sizeof *r);
    while (off < len) {
        size_t want = chunk ? (len - off < chunk ? len - off : chunk) : len - off;
        size_t pos = 0;
        while (pos < want) {
            size_t used = 0;
            /* An exact-size copy per call, so ASan sees any read past it. */
            unsigned char *piece = malloc(want - pos);
            s2s_trust_xs_event_t ev;
            memcpy(piece, data + off + pos, want - pos);
            ev = s2s_trust_xs_feed(xs, piece, want - pos, &used);
            free(piece);
            CHECK(used <= want - pos);
            pos += used;
            r->consumed += used;
            if (ev != S2S_TRUST_XS_NEED_MORE && r->n < MAX_EVENTS)
                r->ev[r->n++] = ev;
            if (ev != S2S_TRUST_XS_NEED_MORE && ev != S2S_TRUST_XS_HEADER && ev != S2S_TRUST_XS_FEATURES)
                return;
            if (ev == S2S_TRUST_XS_NEED_MORE)
                CHECK(pos == want);
        }
        off += want;
    }
}

/* The same events and results whatever the chunking. */
static void check_chunkings(const char *data, const s2s_trust_xs_event_t *want, size_t nwant, s2s_trust_xs_t *last)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 7, 64, 1000 };

    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        s2s_trust_xs_t *xs = malloc(sizeof *xs);
        run_t r;
        s2s_trust_xs_init(xs, 0);
        feed(xs, data, strlen(data), chunks[c], &r);
        CHECK_MSG(r.n == nwant, "chunk %zu: %zu events, want %zu", chunks[c], r.n, nwant);
        for (size_t i = 0; i < r.n && i < nwant; i++)
            CHECK_MSG(r.ev[i] == want[i], "chunk %zu: event %zu is %s, want %s", chunks[c], i,
                      s2s_trust_xs_event_name(r.ev[i]), s2s_trust_xs_event_name(want[i]));
        if (c == 0)
            *last = *xs;
        else
            CHECK(xs->starttls == last->starttls && xs->starttls_required == last->starttls_required &&
                  strcmp(xs->header_id, last->header_id) == 0 && strcmp(xs->error_text, last->error_text) == 0);
        free(xs);
    }
}

void test_xmpp_stream_real_servers(void)
{
    static const s2s_trust_xs_event_t hf[] = { S2S_TRUST_XS_HEADER, S2S_TRUST_XS_FEATURES };
    s2s_trust_xs_t *xs = malloc(sizeof *xs);

    check_chunkings(ejabberd_hello, hf, 2, xs);
    CHECK_STR(xs->header_from, "pe.test");
    CHECK_STR(xs->header_id, "7366773911629368449");
    CHECK_STR(xs->header_version, "1.0");
    CHECK(xs->starttls == 1 && xs->starttls_required == 1 && xs->dialback == 0);

    check_chunkings(prosody_hello, hf, 2, xs);
    CHECK_STR(xs->header_from, "pp.test");
    CHECK_STR(xs->header_to, "");
    CHECK(xs->starttls == 1 && xs->starttls_required == 1 && xs->dialback == 1);
    free(xs);
}

void test_xmpp_stream_namespaces_and_layout(void)
{
    static const s2s_trust_xs_event_t hf[] = { S2S_TRUST_XS_HEADER, S2S_TRUST_XS_FEATURES };
    static const s2s_trust_xs_event_t hfp[] = { S2S_TRUST_XS_HEADER, S2S_TRUST_XS_FEATURES, S2S_TRUST_XS_PROCEED };
    s2s_trust_xs_t *xs = malloc(sizeof *xs);

    /* Other prefixes, double quotes, newlines and tabs between attributes,
     * whitespace keepalives between elements, the features' namespace
     * given as a default instead of a prefix, a prefixed starttls. */
    check_chunkings("\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<s:stream\n\txmlns:s=\"http://etherx.jabber.org/streams\"\n  xmlns=\"jabber:server\" version=\"1.0\" >"
                    "  \n <features xmlns='http://etherx.jabber.org/streams'>"
                    "<t:starttls xmlns:t='urn:ietf:params:xml:ns:xmpp-tls'><t:required /></t:starttls>"
                    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism> EXTERNAL </mechanism></mechanisms>"
                    "</features> \n"
                    "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'></proceed>",
                    hfp, 3, xs);
    CHECK(xs->starttls == 1 && xs->starttls_required == 1 && xs->sasl_external == 1);

    /* <required/> in another namespace is not STARTTLS's. */
    check_chunkings("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
                    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                    "<required xmlns='urn:example'/></starttls></stream:features>",
                    hf, 2, xs);
    CHECK(xs->starttls == 1 && xs->starttls_required == 0);

    /* A starttls element in the wrong namespace is not an offer. */
    check_chunkings("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
                    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>",
                    hf, 2, xs);
    CHECK(xs->starttls == 0);

    /* Entities in attribute values are expanded where we compare. */
    check_chunkings("<stream:stream xmlns:stream='http&#58;//x' xmlns='jabber:server'/>", (const s2s_trust_xs_event_t[]){ S2S_TRUST_XS_BAD }, 1, xs);
    check_chunkings("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' "
                    "from='a&amp;b' version='1.0'>",
                    hf, 1, xs);
    CHECK_STR(xs->header_from, "a&b");
    free(xs);
}

void test_xmpp_stream_proceed_stops_exactly(void)
{
    s2s_trust_xs_t *xs = malloc(sizeof *xs);
    const char *tail = "\x16\x03\x01 not XML";
    char buf[1024];
    size_t used = 0, off = 0;
    s2s_trust_xs_event_t ev;

    snprintf(buf, sizeof buf, "%s<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>%s", ejabberd_hello, tail);
    s2s_trust_xs_init(xs, 0);
    do {
        ev = s2s_trust_xs_feed(xs, (const unsigned char *)buf + off, strlen(buf) - off, &used);
        off += used;
    } while (ev == S2S_TRUST_XS_HEADER || ev == S2S_TRUST_XS_FEATURES);
    CHECK(ev == S2S_TRUST_XS_PROCEED);
    CHECK_MSG(strlen(buf) - off == strlen(tail), "%zu bytes left after <proceed/>, want %zu", strlen(buf) - off,
              strlen(tail));
    /* Sticky: nothing more is consumed. */
    CHECK(s2s_trust_xs_feed(xs, (const unsigned char *)buf + off, strlen(buf) - off, &used) == S2S_TRUST_XS_PROCEED);
    CHECK(used == 0);
    free(xs);
}

void test_xmpp_stream_errors_and_endings(void)
{
    static const char hdr[] =
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>";
    s2s_trust_xs_t *xs = malloc(sizeof *xs);
    char buf[1024];

    snprintf(buf, sizeof buf,
             "%s<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
             "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>no such &lt;host&gt;</text>"
             "<app xmlns='urn:example'/></stream:error>",
             hdr);
    check_chunkings(buf, (const s2s_trust_xs_event_t[]){ S2S_TRUST_XS_HEADER, S2S_TRUST_XS_STREAM_ERROR }, 2, xs);
    CHECK_STR(xs->error_condition, "host-unknown");
    CHECK_STR(xs->error_text, "no such &lt;host&gt;");

    snprintf(buf, sizeof buf, "%s<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
                              "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", hdr);
    check_chunkings(buf, (const s2s_trust_xs_event_t[]){ S2S_TRUST_XS_HEADER, S2S_TRUST_XS_FEATURES, S2S_TRUST_XS_FAILURE }, 3, xs);

    snprintf(buf, sizeof buf, "%s </stream:stream>", hdr);
    check_chunkings(buf, (const s2s_trust_xs_event_t[]){ S2S_TRUST_XS_HEADER, S2S_TRUST_XS_STREAM_END }, 2, xs);

    /* No version: the header is read, the caller sees the empty version. */
    check_chunkings("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'>",
                    (const s2s_trust_xs_event_t[]){ S2S_TRUST_XS_HEADER }, 1, xs);
    CHECK_STR(xs->header_version, "");
    free(xs);
}

void test_xmpp_stream_hostile(void)
{
    static const struct {
        const char *name, *input;
        s2s_trust_xs_event_t last;
        const char *detail; /* a substring of the detail */
    } cases[] = {
        { "client stream", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'>",
          S2S_TRUST_XS_BAD, "default namespace 'jabber:client'" },
        { "HTTP", "HTTP/1.1 400 Bad Request\r\n", S2S_TRUST_XS_BAD, "text outside an element" },
        { "TLS alert", "\x15\x03\x01\x00\x02\x02\x46", S2S_TRUST_XS_BAD, "byte 0x15" },
        { "comment", "<!-- hi --><stream:stream/>", S2S_TRUST_XS_BAD, "comment" },
        { "doctype", "<!DOCTYPE x [<!ENTITY a 'b'>]>", S2S_TRUST_XS_BAD, "DTD" },
        { "wrong root", "<html xmlns='jabber:server'>", S2S_TRUST_XS_BAD, "not <stream:stream>" },
        { "empty stream", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'/>",
          S2S_TRUST_XS_BAD, "empty stream" },
        { "undeclared prefix", "<stream:stream xmlns='jabber:server'>", S2S_TRUST_XS_BAD, "undeclared prefix" },
        { "second declaration", "<?xml version='1.0'?><?xml version='1.0'?>", S2S_TRUST_XS_BAD, "processing instruction" },
        { "other PI", "<?php echo 1 ?>", S2S_TRUST_XS_BAD, "processing instruction" },
        { "NUL", "<stream:stream\0", S2S_TRUST_XS_BAD, "byte 0x00" },
        { "lt in value", "<stream:stream a='<'>", S2S_TRUST_XS_BAD, "'<' inside a tag" },
        { "duplicate attribute",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' to='a' to='b'>",
          S2S_TRUST_XS_BAD, "duplicate attribute to" },
        { "unquoted", "<stream:stream version=1.0>", S2S_TRUST_XS_BAD, "unquoted" },
        { "no space", "<stream:stream a='1'b='2'>", S2S_TRUST_XS_BAD, "malformed attributes" },
        { "two colons", "<a:b:c>", S2S_TRUST_XS_BAD, "malformed tag" },
        { "empty tag", "<>", S2S_TRUST_XS_BAD, "empty tag" },
        { "reserved prefix", "<stream:stream xmlns:xmlns='x'>", S2S_TRUST_XS_BAD, "reserved prefix" },
        { "mismatched end",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
          "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></stream:features>",
          S2S_TRUST_XS_BAD, "does not close <starttls>" },
        { "stanza before TLS",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
          "<message to='x'/>",
          S2S_TRUST_XS_BAD, "unexpected <message" },
        { "text in the stream",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>hello",
          S2S_TRUST_XS_BAD, "text outside an element" },
        { "end outside", "</stream:stream>", S2S_TRUST_XS_BAD, "outside the stream" },
        { "escape sequence in text",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
          "<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\x1b[31m",
          S2S_TRUST_XS_BAD, "byte 0x1b" },
    };
    s2s_trust_xs_t *xs = malloc(sizeof *xs);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_t r;
        /* The NUL case holds a NUL: its length is up to the second one. */
        size_t len = strlen(cases[i].input);
        if (strcmp(cases[i].name, "NUL") == 0)
            len += 1;
        for (size_t chunk = 0; chunk <= 1; chunk++) {
            s2s_trust_xs_init(xs, 0);
            feed(xs, cases[i].input, len, chunk, &r);
            CHECK_MSG(r.n > 0 && r.ev[r.n - 1] == cases[i].last, "%s (chunk %zu): last event %s", cases[i].name,
                      chunk, r.n ? s2s_trust_xs_event_name(r.ev[r.n - 1]) : "none");
            CHECK_MSG(strstr(xs->detail, cases[i].detail) != NULL, "%s: detail '%s' lacks '%s'", cases[i].name,
                      xs->detail, cases[i].detail);
            /* The detail is printable ASCII: peer bytes are escaped. */
            for (const char *p = xs->detail; *p; p++)
                CHECK_MSG(*p >= 0x20 && *p < 0x7f, "%s: byte 0x%02x in the detail", cases[i].name, (unsigned char)*p);
        }
    }
    free(xs);
}

void test_xmpp_stream_bounds(void)
{
    static const char hdr[] =
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>";
    s2s_trust_xs_t *xs = malloc(sizeof *xs);
    size_t big = 200000, used = 0;
    char *buf = malloc(big);
    s2s_trust_xs_event_t ev;

    /* An endless stream header: refused at the tag bound, not at 64 KiB. */
    memset(buf, ' ', big);
    memcpy(buf, "<stream:stream ", 15);
    s2s_trust_xs_init(xs, 0);
    ev = s2s_trust_xs_feed(xs, (unsigned char *)buf, big, &used);
    CHECK(ev == S2S_TRUST_XS_TOO_LARGE);
    CHECK_MSG(used == S2S_TRUST_XS_MAX_TAG + 2, "consumed %zu", used);

    /* Endless features: refused at the total bound. */
    {
        size_t off = strlen(hdr);
        memcpy(buf, hdr, off);
        memcpy(buf + off, "<stream:features>", 17);
        off += 17;
        while (off + 6 < big) {
            memcpy(buf + off, "<x/>  ", 6);
            off += 6;
        }
        s2s_trust_xs_init(xs, 65536);
        size_t total = 0;
        do {
            ev = s2s_trust_xs_feed(xs, (unsigned char *)buf + total, off - total, &used);
            total += used;
        } while (ev == S2S_TRUST_XS_HEADER);
        CHECK(ev == S2S_TRUST_XS_TOO_LARGE);
        CHECK_MSG(total == 65536, "consumed %zu", total);
        CHECK(strstr(xs->detail, "more than 65536 bytes") != NULL);
    }

    /* Nesting: 16 levels with the stream are fine, 17 are not. */
    {
        size_t off = strlen(hdr);
        memcpy(buf, hdr, off);
        memcpy(buf + off, "<stream:features>", 17);
        off += 17;
        for (int i = 0; i < S2S_TRUST_XS_MAX_DEPTH - 1; i++) {
            memcpy(buf + off, "<a>", 3);
            off += 3;
        }
        s2s_trust_xs_init(xs, 0);
        size_t total = 0;
        do {
            ev = s2s_trust_xs_feed(xs, (unsigned char *)buf + total, off - total, &used);
            total += used;
        } while (ev == S2S_TRUST_XS_HEADER);
        CHECK(ev == S2S_TRUST_XS_TOO_LARGE);
        CHECK(strstr(xs->detail, "nested deeper") != NULL);
    }

    /* A long element name and too many namespace declarations. */
    {
        size_t off = strlen(hdr);
        memcpy(buf, hdr, off);
        buf[off++] = '<';
        memset(buf + off, 'n', 200);
        off += 200;
        buf[off++] = '>';
        s2s_trust_xs_init(xs, 0);
        size_t total = 0;
        do {
            ev = s2s_trust_xs_feed(xs, (unsigned char *)buf + total, off - total, &used);
            total += used;
        } while (ev == S2S_TRUST_XS_HEADER);
        CHECK(ev == S2S_TRUST_XS_TOO_LARGE);

        off = (size_t)snprintf(buf, big, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'");
        for (int i = 0; i < S2S_TRUST_XS_MAX_NS + 1; i++)
            off += (size_t)snprintf(buf + off, big - off, " xmlns:p%d='urn:x'", i);
        buf[off++] = '>';
        s2s_trust_xs_init(xs, 0);
        ev = s2s_trust_xs_feed(xs, (unsigned char *)buf, off, &used);
        CHECK(ev == S2S_TRUST_XS_TOO_LARGE);
    }
    free(buf);
    free(xs);
}
