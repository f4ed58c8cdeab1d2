/* test_xmpp_stream.c - the one stream reader (libexpat) on what real servers
 * send before and after TLS (ejabberd 23.01 and Prosody 0.12.3, bytes
 * captured in the lab), on hand-written variants (prefixes, quotes,
 * whitespace) and on hostile input. Every valid sample is fed whole, byte
 * by byte and in uneven chunks: the events must not depend on how TCP cut
 * the bytes, and each event must end exactly at its '>'. */
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

/* ejabberd 23.01 after STARTTLS (shape as sent, mod_s2s_dialback loaded). */
static const char ejabberd_after_tls[] =
    "<?xml version='1.0'?><stream:stream id='1234' version='1.0' xml:lang='en' xmlns:db='jabber:server:dialback' "
    "xmlns:stream='http://etherx.jabber.org/streams' from='sd.test' xmlns='jabber:server'><stream:features>"
    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>"
    "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>"
    "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text xml:lang='en'>self signed "
    "certificate</text></failure>"
    "<db:result from='sd.test' to='sf.test' type='valid'/></stream:stream>";

static const char hdr[] =
    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>";

typedef struct {
    s2s_trust_xs_event_t ev[MAX_EVENTS];
    s2s_trust_xs_element_t el[MAX_EVENTS];
    size_t at[MAX_EVENTS]; /* offset just past each event */
    size_t n;
    size_t consumed;       /* bytes consumed in total */
    char detail[160];
} run_t;

static int terminal(s2s_trust_xs_event_t ev)
{
    return ev == S2S_TRUST_XS_END || ev == S2S_TRUST_XS_BAD || ev == S2S_TRUST_XS_TOO_LARGE;
}

/* Feed `len` bytes in chunks of `chunk` (0 = all at once) to a reader with
 * bound `max`, collecting events until a terminal one or the input ends. */
static void feed_bounded(const char *data, size_t len, size_t chunk, size_t max, run_t *r)
{
    s2s_trust_xs_t *xs = s2s_trust_xs_new(max);
    size_t off = 0;

    memset(r, 0, sizeof *r);
    CHECK(xs != NULL);
    while (xs != NULL && off < len) {
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
            if (ev != S2S_TRUST_XS_NEED_MORE && r->n < MAX_EVENTS) {
                r->ev[r->n] = ev;
                r->el[r->n] = *s2s_trust_xs_element(xs);
                r->at[r->n] = r->consumed;
                r->n++;
            }
            if (terminal(ev)) {
                snprintf(r->detail, sizeof r->detail, "%s", s2s_trust_xs_detail(xs));
                /* Sticky: nothing more is consumed. */
                CHECK(s2s_trust_xs_feed(xs, (const unsigned char *)"<a/>", 4, &used) == ev && used == 0);
                s2s_trust_xs_free(xs);
                return;
            }
            if (ev == S2S_TRUST_XS_NEED_MORE)
                CHECK(pos == want);
        }
        off += want;
    }
    s2s_trust_xs_free(xs);
}

static void feed(const char *data, size_t len, size_t chunk, run_t *r)
{
    feed_bounded(data, len, chunk, 0, r);
}

static int same_element(const s2s_trust_xs_element_t *a, const s2s_trust_xs_element_t *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* The same events, at the same offsets, with the same elements, whatever
 * the chunking; each event ends on a '>'. The all-at-once run is kept. */
static void check_chunkings(const char *data, const s2s_trust_xs_event_t *want, size_t nwant, run_t *first)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 7, 64, 1000 };

    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        run_t r;
        feed(data, strlen(data), chunks[c], &r);
        CHECK_MSG(r.n == nwant, "chunk %zu: %zu events, want %zu (%s)", chunks[c], r.n, nwant, r.detail);
        for (size_t i = 0; i < r.n && i < nwant; i++) {
            CHECK_MSG(r.ev[i] == want[i], "chunk %zu: event %zu is %s, want %s", chunks[c], i,
                      s2s_trust_xs_event_name(r.ev[i]), s2s_trust_xs_event_name(want[i]));
            if (!terminal(r.ev[i]))
                CHECK_MSG(r.at[i] > 0 && data[r.at[i] - 1] == '>', "event %zu does not end at a '>'", i);
        }
        if (c == 0) {
            *first = r;
            continue;
        }
        for (size_t i = 0; i < r.n && i < first->n; i++)
            CHECK_MSG(r.at[i] == first->at[i] && (terminal(r.ev[i]) || same_element(&r.el[i], &first->el[i])),
                      "chunk %zu: event %zu differs from the all-at-once run", chunks[c], i);
    }
}

static const s2s_trust_xs_event_t HE[] = { S2S_TRUST_XS_HEADER, S2S_TRUST_XS_ELEMENT, S2S_TRUST_XS_ELEMENT,
                                           S2S_TRUST_XS_ELEMENT, S2S_TRUST_XS_ELEMENT };

void test_xmpp_stream_real_servers(void)
{
    run_t r;

    check_chunkings(ejabberd_hello, HE, 2, &r);
    CHECK_STR(r.el[0].from, "pe.test");
    CHECK_STR(r.el[0].id, "7366773911629368449");
    CHECK_STR(r.el[0].version, "1.0");
    CHECK_STR(r.el[0].local, "stream");
    CHECK(s2s_trust_xs_is(&r.el[1], "http://etherx.jabber.org/streams", "features"));
    CHECK(r.el[1].starttls == 1 && r.el[1].starttls_required == 1 && r.el[1].dialback == 0);

    check_chunkings(prosody_hello, HE, 2, &r);
    CHECK_STR(r.el[0].from, "pp.test");
    CHECK_STR(r.el[0].to, "");
    CHECK(r.el[1].starttls == 1 && r.el[1].starttls_required == 1 && r.el[1].dialback == 1);
}

void test_xmpp_stream_after_tls(void)
{
    static const s2s_trust_xs_event_t want[] = { S2S_TRUST_XS_HEADER, S2S_TRUST_XS_ELEMENT, S2S_TRUST_XS_ELEMENT,
                                                 S2S_TRUST_XS_ELEMENT, S2S_TRUST_XS_END };
    run_t r;

    check_chunkings(ejabberd_after_tls, want, 5, &r);
    CHECK_STR(r.el[0].from, "sd.test");
    CHECK_STR(r.el[1].local, "features");
    CHECK_STR(r.el[1].ns, "http://etherx.jabber.org/streams");
    CHECK(r.el[1].mech_external == 1 && r.el[1].dialback == 1 && r.el[1].starttls == 0);
    CHECK(s2s_trust_xs_is(&r.el[2], "urn:ietf:params:xml:ns:xmpp-sasl", "failure"));
    CHECK_STR(r.el[2].condition, "not-authorized");
    CHECK_STR(r.el[2].error_text, "self signed certificate");
    CHECK(s2s_trust_xs_is(&r.el[3], "jabber:server:dialback", "result"));
    CHECK_STR(r.el[3].type, "valid");
    CHECK_STR(r.el[3].to, "sf.test");
}

void test_xmpp_stream_namespaces_and_layout(void)
{
    run_t r;
    char buf[1024];

    /* Other prefixes, double quotes, newlines and tabs between attributes,
     * whitespace keepalives between elements, the features' namespace
     * given as a default instead of a prefix, a prefixed starttls. */
    check_chunkings("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<s:stream\n\txmlns:s=\"http://etherx.jabber.org/streams\"\n  xmlns=\"jabber:server\" version=\"1.0\" >"
                    "  \n <features xmlns='http://etherx.jabber.org/streams'>"
                    "<t:starttls xmlns:t='urn:ietf:params:xml:ns:xmpp-tls'><t:required /></t:starttls>"
                    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>"
                    "</features> \n"
                    "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'></proceed>",
                    HE, 3, &r);
    CHECK(r.el[1].starttls == 1 && r.el[1].starttls_required == 1 && r.el[1].mech_external == 1);
    CHECK(s2s_trust_xs_is(&r.el[2], "urn:ietf:params:xml:ns:xmpp-tls", "proceed"));

    /* A mechanism is its exact name: " EXTERNAL " or "EXTERNALX" is not EXTERNAL. */
    snprintf(buf, sizeof buf, "%s<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                              "<mechanism> EXTERNAL </mechanism><mechanism>EXTERNALX</mechanism></mechanisms>"
                              "</stream:features>", hdr);
    check_chunkings(buf, HE, 2, &r);
    CHECK(r.el[1].mech_external == 0);

    /* <required/> in another namespace is not STARTTLS's. */
    snprintf(buf, sizeof buf, "%s<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                              "<required xmlns='urn:example'/></starttls></stream:features>", hdr);
    check_chunkings(buf, HE, 2, &r);
    CHECK(r.el[1].starttls == 1 && r.el[1].starttls_required == 0);

    /* A starttls element in the wrong namespace is not an offer. */
    snprintf(buf, sizeof buf, "%s<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>",
             hdr);
    check_chunkings(buf, HE, 2, &r);
    CHECK(r.el[1].starttls == 0);

    /* Entities and character references are expanded where we compare. */
    check_chunkings("<stream:stream xmlns:stream='http&#58;//etherx.jabber.org/streams' xmlns='jabber:server' "
                    "from='a&amp;b' version='1.0'>",
                    HE, 1, &r);
    CHECK_STR(r.el[0].from, "a&b");
    /* A '>' in an attribute value or in text does not end an event. */
    snprintf(buf, sizeof buf, "%s<iq type='a>b' id='x'>1 &gt; 0 > -1</iq>", hdr);
    check_chunkings(buf, HE, 2, &r);
    CHECK_STR(r.el[1].type, "a>b");
    CHECK_STR(r.el[1].text, "1 > 0 > -1");
}

void test_xmpp_stream_proceed_stops_exactly(void)
{
    const char *tail = "\x16\x03\x01 not XML";
    char buf[1024];
    run_t r;

    snprintf(buf, sizeof buf, "%s<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>%s", ejabberd_hello, tail);
    for (size_t chunk = 0; chunk <= 5; chunk++) {
        /* Stop feeding after <proceed/>, as the probe does. */
        s2s_trust_xs_t *xs = s2s_trust_xs_new(0);
        size_t off = 0, used = 0, len = strlen(buf);
        s2s_trust_xs_event_t ev = S2S_TRUST_XS_NEED_MORE;
        while (off < len) {
            size_t take = chunk && len - off > chunk ? chunk : len - off;
            ev = s2s_trust_xs_feed(xs, (const unsigned char *)buf + off, take, &used);
            off += used;
            if (ev == S2S_TRUST_XS_ELEMENT && strcmp(s2s_trust_xs_element(xs)->local, "proceed") == 0)
                break;
        }
        CHECK(ev == S2S_TRUST_XS_ELEMENT);
        CHECK_MSG(len - off == strlen(tail), "chunk %zu: %zu bytes left after <proceed/>, want %zu", chunk, len - off,
                  strlen(tail));
        s2s_trust_xs_free(xs);
    }
    /* Fed on, the TLS bytes are refused as XML. */
    feed(buf, strlen(buf), 0, &r);
    CHECK(r.n == 4 && r.ev[3] == S2S_TRUST_XS_BAD);
}

void test_xmpp_stream_errors_and_endings(void)
{
    char buf[1024];
    run_t r;

    snprintf(buf, sizeof buf,
             "%s<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
             "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>no such &lt;host&gt;</text>"
             "<app xmlns='urn:example'/></stream:error>",
             hdr);
    check_chunkings(buf, HE, 2, &r);
    CHECK(s2s_trust_xs_is(&r.el[1], "http://etherx.jabber.org/streams", "error"));
    CHECK_STR(r.el[1].condition, "host-unknown");
    CHECK_STR(r.el[1].error_text, "no such <host>");

    /* <text/> first: the condition is still the other child. */
    snprintf(buf, sizeof buf, "%s<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>t</text>"
                              "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", hdr);
    check_chunkings(buf, HE, 2, &r);
    CHECK_STR(r.el[1].condition, "conflict");

    snprintf(buf, sizeof buf, "%s </stream:stream>", hdr);
    check_chunkings(buf, (const s2s_trust_xs_event_t[]){ S2S_TRUST_XS_HEADER, S2S_TRUST_XS_END }, 2, &r);

    /* No version: the header is read, the caller sees the empty version. */
    check_chunkings("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'>", HE, 1, &r);
    CHECK_STR(r.el[0].version, "");
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
        { "HTTP", "HTTP/1.1 400 Bad Request\r\n<", S2S_TRUST_XS_BAD, "bad XML" },
        { "TLS alert", "\x15\x03\x01\x00\x02\x02\x46", S2S_TRUST_XS_BAD, "bad XML" },
        { "comment", "<!-- hi --><stream:stream/>", S2S_TRUST_XS_BAD, "comment" },
        { "doctype", "<!DOCTYPE x [<!ENTITY a 'b'>]>", S2S_TRUST_XS_BAD, "document type" },
        { "entity bomb", "<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]><x>&b;</x>",
          S2S_TRUST_XS_BAD, "document type" },
        { "undefined entity", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' from='&x;'>",
          S2S_TRUST_XS_BAD, "bad XML" },
        { "wrong root", "<html xmlns='jabber:server'>", S2S_TRUST_XS_BAD, "not an XMPP stream" },
        { "bare iq", "<iq/>", S2S_TRUST_XS_BAD, "not an XMPP stream" },
        { "empty stream", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'/>",
          S2S_TRUST_XS_BAD, "empty stream" },
        { "undeclared prefix", "<stream:stream xmlns='jabber:server'>", S2S_TRUST_XS_BAD, "bad XML" },
        { "second declaration", "<?xml version='1.0'?><?xml version='1.0'?>", S2S_TRUST_XS_BAD, "bad XML" },
        { "other PI", "<?php echo 1 ?>", S2S_TRUST_XS_BAD, "processing instruction" },
        { "latin-1", "<?xml version='1.0' encoding='ISO-8859-1'?>", S2S_TRUST_XS_BAD, "UTF-8" },
        { "NUL", "<stream:stream\0", S2S_TRUST_XS_BAD, "bad XML" },
        { "lt in value", "<stream:stream a='<'>", S2S_TRUST_XS_BAD, "bad XML" },
        { "duplicate attribute",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' to='a' to='b'>",
          S2S_TRUST_XS_BAD, "bad XML" },
        { "unquoted", "<stream:stream version=1.0>", S2S_TRUST_XS_BAD, "bad XML" },
        { "no space", "<stream:stream a='1'b='2'>", S2S_TRUST_XS_BAD, "bad XML" },
        { "empty tag", "<>", S2S_TRUST_XS_BAD, "bad XML" },
        { "reserved prefix", "<stream:stream xmlns:xmlns='x'>", S2S_TRUST_XS_BAD, "bad XML" },
        { "bad UTF-8", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' from='\xc3\x28'>",
          S2S_TRUST_XS_BAD, "bad XML" },
        { "mismatched end",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
          "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></stream:features>",
          S2S_TRUST_XS_BAD, "bad XML" },
        { "text in the stream",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>hello<",
          S2S_TRUST_XS_BAD, "text outside an element" },
        { "comment inside",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
          "<a><!-- x --></a>",
          S2S_TRUST_XS_BAD, "comment" },
        { "end outside", "</stream:stream>", S2S_TRUST_XS_BAD, "bad XML" },
        { "escape sequence in text",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' version='1.0'>"
          "<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\x1b[31m",
          S2S_TRUST_XS_BAD, "bad XML" },
        { "long from",
          "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' from='"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test'>",
          S2S_TRUST_XS_BAD, "attribute 'from'" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_t r;
        /* The NUL case holds a NUL: its length is up to the second one. */
        size_t len = strlen(cases[i].input);
        if (strcmp(cases[i].name, "NUL") == 0)
            len += 1;
        for (size_t chunk = 0; chunk <= 1; chunk++) {
            feed(cases[i].input, len, chunk, &r);
            CHECK_MSG(r.n > 0 && r.ev[r.n - 1] == cases[i].last, "%s (chunk %zu): last event %s", cases[i].name,
                      chunk, r.n ? s2s_trust_xs_event_name(r.ev[r.n - 1]) : "none");
            CHECK_MSG(strstr(r.detail, cases[i].detail) != NULL, "%s: detail '%s' lacks '%s'", cases[i].name,
                      r.detail, cases[i].detail);
            /* The detail is printable ASCII: peer bytes are escaped. */
            for (const char *p = r.detail; *p; p++)
                CHECK_MSG(*p >= 0x20 && *p < 0x7f, "%s: byte 0x%02x in the detail", cases[i].name, (unsigned char)*p);
        }
    }
}

void test_xmpp_stream_bounds(void)
{
    size_t big = 200000, off;
    char *buf = malloc(big);
    run_t r;

    /* An endless stream header: refused at a bound, not read to the end. */
    memset(buf, ' ', big);
    memcpy(buf, "<stream:stream ", 15);
    feed_bounded(buf, big, 4096, 0, &r);
    CHECK(r.n == 1 && r.ev[0] == S2S_TRUST_XS_TOO_LARGE);
    CHECK_MSG(r.consumed <= S2S_TRUST_XS_MAX_BYTES_DEFAULT, "consumed %zu", r.consumed);

    /* Endless features: refused at the total bound, fed whole or in pieces. */
    off = strlen(hdr);
    memcpy(buf, hdr, off);
    memcpy(buf + off, "<stream:features>", 17);
    off += 17;
    while (off + 6 < big) {
        memcpy(buf + off, "<x/>  ", 6);
        off += 6;
    }
    for (size_t chunk = 0; chunk <= 1000; chunk += 1000) {
        feed_bounded(buf, off, chunk, 65536, &r);
        CHECK(r.n == 2 && r.ev[1] == S2S_TRUST_XS_TOO_LARGE);
        CHECK_MSG(r.consumed <= 65536, "consumed %zu", r.consumed);
        CHECK(strstr(r.detail, "more than 65536 bytes") != NULL || strstr(r.detail, "longer than") != NULL);
    }
    /* A smaller bound holds as well. */
    feed_bounded(buf, off, 0, 600, &r);
    CHECK(r.n == 2 && r.ev[1] == S2S_TRUST_XS_TOO_LARGE && r.consumed <= 600);

    /* Nesting: 16 levels with the stream are fine, 17 are not. */
    for (int extra = 0; extra <= 1; extra++) {
        off = strlen(hdr);
        memcpy(buf, hdr, off);
        for (int i = 0; i < S2S_TRUST_XS_MAX_DEPTH - 1 + extra; i++) {
            memcpy(buf + off, "<a>", 3);
            off += 3;
        }
        feed(buf, off, 0, &r);
        if (extra) {
            CHECK(r.n == 2 && r.ev[1] == S2S_TRUST_XS_TOO_LARGE);
            CHECK(strstr(r.detail, "nested deeper") != NULL);
        } else {
            CHECK(r.n == 1 && r.ev[0] == S2S_TRUST_XS_HEADER);
        }
    }

    /* A long element name and too many attributes. */
    off = strlen(hdr);
    memcpy(buf, hdr, off);
    buf[off++] = '<';
    memset(buf + off, 'n', 200);
    off += 200;
    buf[off++] = '>';
    feed(buf, off, 0, &r);
    CHECK(r.n == 2 && r.ev[1] == S2S_TRUST_XS_TOO_LARGE);

    off = (size_t)snprintf(buf, big, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'");
    for (int i = 0; i < S2S_TRUST_XS_MAX_ATTRS + 1; i++)
        off += (size_t)snprintf(buf + off, big - off, " xmlns:p%d='urn:x'", i);
    buf[off++] = '>';
    feed(buf, off, 0, &r);
    CHECK(r.n == 1 && r.ev[0] == S2S_TRUST_XS_TOO_LARGE);

    /* One element longer than the element bound, in a stream allowed more
     * (made of small children: each tag is within the tag bound). */
    off = strlen(hdr);
    memcpy(buf, hdr, off);
    off += (size_t)snprintf(buf + off, big - off, "<message>");
    for (size_t body = 0; body <= S2S_TRUST_XS_MAX_ELEMENT; body += 8)
        off += (size_t)snprintf(buf + off, big - off, "<b>xx</b>");
    feed_bounded(buf, off, 4096, 4 * S2S_TRUST_XS_MAX_ELEMENT, &r);
    CHECK(r.n == 2 && r.ev[1] == S2S_TRUST_XS_TOO_LARGE && strstr(r.detail, "longer than") != NULL);

    /* A stream header that never ends (attributes forever): refused at the
     * tag bound, whatever the chunking, without reading 64 KiB byte by byte
     * into expat (which re-reads an unfinished token on every byte). */
    off = (size_t)snprintf(buf, big, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server'");
    for (int i = 0; off < 3 * S2S_TRUST_XS_MAX_TAG; i++)
        off += (size_t)snprintf(buf + off, big - off, " a%d='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'", i);
    for (size_t k = 0; k < 3; k++) {
        const size_t chunk = k == 0 ? 1 : k == 1 ? 1000 : 0; /* 0: all at once */
        feed(buf, off, chunk, &r);
        CHECK_MSG(r.n == 1 && r.ev[0] == S2S_TRUST_XS_TOO_LARGE && strstr(r.detail, "without a '>'") != NULL,
                  "chunk %zu: %zu events, detail %s", chunk, r.n, r.detail);
    }
    free(buf);
}
