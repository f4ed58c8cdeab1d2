/*
 * s2s_trust_xmpp_stream.h - the few XML elements a server sends before TLS.
 *
 * The probe speaks XMPP only until <proceed/>: the server's stream header,
 * its <stream:features>, then <proceed/> (or <failure/>, or a stream error).
 * This parser understands exactly that much, as real servers send it
 * (ejabberd and Prosody differ in attribute order, quotes, prefixes,
 * whitespace keepalives), with namespaces resolved properly: a default
 * namespace, an xmlns:stream prefix, or an element that redeclares either.
 *
 * It is a pure function on bytes: no I/O, no allocation, fixed-size state.
 * Feed whatever arrived; it consumes bytes up to and including the end of
 * the next event and says how many, so bytes after <proceed/> are never
 * taken for XML (they would be the start of TLS). Everything outside that
 * small grammar - a comment, a DTD, a second root, a NUL, a tag longer than
 * the bound, an undeclared prefix, mismatched end tags - is an error, and
 * errors are sticky. Entities are not expanded (nothing here needs them).
 */
#ifndef S2S_TRUST_XMPP_STREAM_H
#define S2S_TRUST_XMPP_STREAM_H

#include <stddef.h>

#define S2S_TRUST_XS_MAX_TAG 4096    /* bytes between '<' and '>' of one tag */
#define S2S_TRUST_XS_MAX_DEPTH 16    /* open elements, the stream included */
#define S2S_TRUST_XS_MAX_NAME 128    /* one element's qualified name, with NUL */
#define S2S_TRUST_XS_MAX_NS 32       /* namespace declarations in scope */
#define S2S_TRUST_XS_MAX_URI 256     /* one namespace URI, with NUL */
#define S2S_TRUST_XS_MAX_PREFIX 32   /* one prefix, with NUL */

typedef enum {
    S2S_TRUST_XS_NEED_MORE = 0, /* all bytes consumed, no event yet */
    S2S_TRUST_XS_HEADER,        /* <stream:stream ...> read: see header_* */
    S2S_TRUST_XS_FEATURES,      /* </stream:features> read: see starttls, ... */
    S2S_TRUST_XS_PROCEED,       /* <proceed xmlns='...xmpp-tls'/>: TLS starts after it */
    S2S_TRUST_XS_FAILURE,       /* <failure xmlns='...xmpp-tls'/> */
    S2S_TRUST_XS_STREAM_ERROR,  /* </stream:error>: see error_condition, error_text */
    S2S_TRUST_XS_STREAM_END,    /* </stream:stream> */
    S2S_TRUST_XS_BAD,           /* not the XMPP we expect: see detail */
    S2S_TRUST_XS_TOO_LARGE,     /* a tag, the nesting or the whole exceeds its bound */
} s2s_trust_xs_event_t;

typedef struct {
    char prefix[S2S_TRUST_XS_MAX_PREFIX]; /* "" for the default namespace */
    char uri[S2S_TRUST_XS_MAX_URI];
    int depth;                            /* element depth that declared it */
} s2s_trust_xs_ns_t;

/* All state; zero it with _init, nothing to free. Fields below "results"
 * are read by the caller after an event; every string is NUL-terminated
 * and holds raw peer bytes (escape before printing). */
typedef struct {
    /* ---- tokenizer (private) ---- */
    size_t max_bytes, fed;
    int state, quote, done;
    s2s_trust_xs_event_t sticky;
    size_t tag_len;
    char tag[S2S_TRUST_XS_MAX_TAG + 1];
    int depth;
    char names[S2S_TRUST_XS_MAX_DEPTH][S2S_TRUST_XS_MAX_NAME];
    int roles[S2S_TRUST_XS_MAX_DEPTH];
    s2s_trust_xs_ns_t ns[S2S_TRUST_XS_MAX_NS];
    int ns_count;
    int seen_decl, seen_header;
    size_t text_len;
    char text[64];

    /* ---- results ---- */
    char header_id[128];
    char header_from[256];
    char header_to[256];
    char header_version[16]; /* "" when the header has no version */
    int starttls;            /* features: <starttls/> offered */
    int starttls_required;   /* ... with <required/> inside */
    int dialback;            /* features: urn:xmpp:features:dialback */
    int sasl_external;       /* features: SASL mechanism EXTERNAL */
    int features_seen;
    char error_condition[64]; /* stream error's defined condition, "" if none */
    char error_text[200];     /* its <text/>, truncated */
    char detail[160];         /* for BAD / TOO_LARGE: what was wrong (may quote peer bytes) */
} s2s_trust_xs_t;

/* max_bytes: bound on all bytes ever fed (0: 65536). */
void s2s_trust_xs_init(s2s_trust_xs_t *xs, size_t max_bytes);

/* Consume bytes from buf[0..len) up to the next event and return it;
 * *consumed says how many were used (all of them for NEED_MORE). Call again
 * with the rest. After PROCEED, FAILURE, STREAM_ERROR, STREAM_END, BAD or
 * TOO_LARGE the stream is over: later calls consume nothing and return the
 * same event. */
s2s_trust_xs_event_t s2s_trust_xs_feed(s2s_trust_xs_t *xs, const unsigned char *buf, size_t len,
                                       size_t *consumed);

/* "need_more", "header", "features", ... (static). */
const char *s2s_trust_xs_event_name(s2s_trust_xs_event_t ev);

#endif
