/*
 * s2s_trust_xmpp_stream.h - read an XMPP stream from a server we do not trust.
 *
 * One reader for everything this project reads from a peer: the probe's
 * pre-TLS exchange (header, features, <proceed/>) and the self-test's
 * conversations after TLS (features, SASL, dialback, stanzas), on both ends.
 * The XML is parsed by libexpat, the parser fast_xml and Prosody use, with
 * namespaces resolved by expat: a default namespace, an xmlns:stream prefix
 * or an element that redeclares either all read the same.
 *
 * What it reports, one event at a time: the stream header (the root
 * element's start tag) and then every complete top-level element, summed
 * up in s2s_trust_xs_element_t; the stream's end; or why it stopped.
 *
 * Exactness: a feed consumes bytes up to and including the '>' that
 * completes the next event and says how many, so the bytes after
 * <proceed/> (which would be the start of TLS) or after <success/> (a new
 * stream) are never taken for XML. The caller feeds the rest again.
 *
 * Hostile input: everything is bounded - all bytes ever fed, one top-level
 * element, nesting depth, attributes per element, the length of every
 * string kept. What XMPP forbids (RFC 6120 11.1: a DTD, comments,
 * processing instructions) and what XML forbids (expat's checks: bad
 * UTF-8, an undeclared prefix, mismatched tags, a second root) is BAD.
 * Both are sticky: after a terminal event nothing more is consumed.
 * Strings hold the peer's bytes decoded (entities and character references
 * expanded): escape before printing. `detail` is printable ASCII already.
 *
 * No I/O. Memory: one expat parser per reader, freed by _free; its use is
 * bounded by the bytes fed.
 */
#ifndef S2S_TRUST_XMPP_STREAM_H
#define S2S_TRUST_XMPP_STREAM_H

#include <stddef.h>

#define S2S_TRUST_XS_MAX_BYTES_DEFAULT 65536 /* all bytes of one stream, when 0 is given */
#define S2S_TRUST_XS_MAX_ELEMENT 65536       /* bytes of one top-level element (or of the header) */
/* Bytes between two '>' (one tag, or one run of text). The reader hands
 * expat an unfinished token a byte at a time, and expat reads the whole
 * token again each time: a hostile server's endless stream header cost
 * seconds of CPU per 64 KiB (quadratic). A stream header is a few hundred
 * bytes; nothing an s2s peer sends before TLS needs more. */
#define S2S_TRUST_XS_MAX_TAG 4096
#define S2S_TRUST_XS_MAX_DEPTH 16            /* open elements, the stream included */
#define S2S_TRUST_XS_MAX_ATTRS 32            /* attributes (namespace declarations included) per element */

#define NS_XMPP_STREAMS "http://etherx.jabber.org/streams"
#define NS_XMPP_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_XMPP_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_XMPP_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_XMPP_DIALBACK "jabber:server:dialback"
#define NS_XMPP_DIALBACK_FEATURE "urn:xmpp:features:dialback"

typedef enum {
    S2S_TRUST_XS_NEED_MORE = 0, /* every byte consumed, no event yet */
    S2S_TRUST_XS_HEADER,        /* the stream's start tag: element = the header */
    S2S_TRUST_XS_ELEMENT,       /* a complete top-level element: see element */
    S2S_TRUST_XS_END,           /* </stream:stream> */
    S2S_TRUST_XS_BAD,           /* not the XMPP we accept: see detail */
    S2S_TRUST_XS_TOO_LARGE,     /* a bound was passed: see detail */
} s2s_trust_xs_event_t;

/* What one element (or the header) said, as far as this project cares.
 * Strings are NUL-terminated; "" when absent. */
typedef struct {
    char local[64];        /* local name: "features", "proceed", "result", "stream" */
    char ns[128];          /* its resolved namespace, "" for none */
    char from[256], to[256], id[128], type[32], version[16]; /* unqualified attributes */
    char condition[64];    /* local name of the first child that is not <text/>: the defined
                              condition of a stream error or SASL failure */
    char text[512];        /* the element's own character data, truncated */
    char error_text[256];  /* the character data of a child <text/>, truncated */
    int starttls;          /* a child <starttls xmlns=NS_XMPP_TLS/> */
    int starttls_required; /* ... with a <required/> inside */
    int dialback;          /* a child <dialback xmlns=NS_XMPP_DIALBACK_FEATURE/> */
    int mech_external;     /* <mechanisms xmlns=NS_XMPP_SASL><mechanism>EXTERNAL</...> */
} s2s_trust_xs_element_t;

typedef struct s2s_trust_xs s2s_trust_xs_t;

/* A reader for one stream; max_bytes bounds all bytes fed (0: the default).
 * NULL when out of memory. */
s2s_trust_xs_t *s2s_trust_xs_new(size_t max_bytes);
void s2s_trust_xs_free(s2s_trust_xs_t *xs);

/* Consume bytes from buf[0..len) up to the end of the next event and return
 * it; *consumed says how many were used (all of them for NEED_MORE). Call
 * again with the rest. After END, BAD or TOO_LARGE later calls consume
 * nothing and return the same event. */
s2s_trust_xs_event_t s2s_trust_xs_feed(s2s_trust_xs_t *xs, const unsigned char *buf, size_t len,
                                       size_t *consumed);

/* The header or element of the last HEADER or ELEMENT event. */
const s2s_trust_xs_element_t *s2s_trust_xs_element(const s2s_trust_xs_t *xs);
/* For BAD and TOO_LARGE: what was wrong, one line of printable ASCII. */
const char *s2s_trust_xs_detail(const s2s_trust_xs_t *xs);
/* Bytes consumed so far. */
size_t s2s_trust_xs_fed(const s2s_trust_xs_t *xs);

/* Is `el` the element {ns}local? */
int s2s_trust_xs_is(const s2s_trust_xs_element_t *el, const char *ns, const char *local);

/* "need_more", "header", "element", "end", "bad", "too_large" (static). */
const char *s2s_trust_xs_event_name(s2s_trust_xs_event_t ev);

#endif
