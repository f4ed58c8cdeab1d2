/*
 * s2s_trust_s2s_client.h - the XMPP server-to-server steps the probe and the
 * self-test both take: our stream header, reading the peer's stream one
 * event at a time, and STARTTLS up to the first TLS byte.
 *
 * Built on the connection layer (s2s_trust_conn.h) and the stream reader
 * (s2s_trust_xmpp_stream.h). It reports what happened as values and says
 * nothing to the operator: each caller words its own report.
 */
#ifndef S2S_TRUST_S2S_CLIENT_H
#define S2S_TRUST_S2S_CLIENT_H

#include <stddef.h>

#include "net/s2s_trust_conn.h"
#include "net/s2s_trust_peer_text.h"
#include "net/s2s_trust_xmpp_stream.h"

/* Pre-TLS bytes accepted from a peer (header + features + proceed). */
#define S2S_TRUST_S2S_MAX_PRETLS_BYTES 65536

/* Our stream header: jabber:server with the stream and dialback prefixes;
 * from, to and id are left out when NULL; version='1.0' when `version`.
 * Domains must pass s2s_trust_domain_ok, id be plain (hex). */
void s2s_trust_s2s_header(char *out, size_t cap, const char *from, const char *to, const char *id, int version);

/* The next event of the peer's stream: bytes are taken from c->in, read
 * as needed. Returns OK with *ev set, or why the connection ended. */
s2s_trust_io_t s2s_trust_s2s_next(s2s_trust_conn_t *c, s2s_trust_xs_t *xs, s2s_trust_xs_event_t *ev);

typedef enum {
    S2S_TRUST_NEG_PROCEED = 0,  /* <proceed/>, nothing after it: start TLS now */
    S2S_TRUST_NEG_IO,           /* sending or reading failed: see io */
    S2S_TRUST_NEG_OLD_STREAM,   /* the header has no version 1.x: no features, no STARTTLS */
    S2S_TRUST_NEG_NO_STARTTLS,  /* the features do not offer STARTTLS: see features */
    S2S_TRUST_NEG_REFUSED,      /* <failure xmlns='...xmpp-tls'/> */
    S2S_TRUST_NEG_STREAM_ERROR, /* see element (condition, error_text) */
    S2S_TRUST_NEG_STREAM_END,   /* </stream:stream> */
    S2S_TRUST_NEG_PROTOCOL,     /* bad XML, an element out of order, bytes after <proceed/>: see detail */
    S2S_TRUST_NEG_TOO_LARGE,    /* a bound of the reader: see detail */
} s2s_trust_neg_t;

typedef struct {
    s2s_trust_neg_t outcome;
    s2s_trust_io_t io;         /* for NEG_IO */
    int sending;               /* for NEG_IO: it was our stream header or <starttls/> that failed */
    const char *stage;         /* "stream", "features" or "starttls": where it ended (static) */
    s2s_trust_xs_element_t header, features, element; /* element: the one that ended it */
    char detail[160];          /* printable ASCII */
    unsigned char first[16];   /* the peer's first bytes, for hints */
    size_t first_len;
    size_t received;           /* bytes the reader took */
} s2s_trust_neg_result_t;

/* Send `header`, read the peer's header and features, send <starttls/> and
 * wait for <proceed/>, all before c->deadline. Does not start TLS. When the
 * features do not offer STARTTLS, closes our stream politely. */
s2s_trust_neg_t s2s_trust_s2s_negotiate_starttls(s2s_trust_conn_t *c, const char *header, s2s_trust_neg_result_t *r);

/* "proceed", "io", "old_stream", "no_starttls", ... (static). */
const char *s2s_trust_neg_name(s2s_trust_neg_t n);

#endif
