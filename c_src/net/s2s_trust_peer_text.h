/*
 * s2s_trust_peer_text.h - text that crosses the wire: what we may echo to a
 * peer, and how a peer's bytes are shown to an operator.
 *
 * Peer bytes are data, never format: every report line quotes them through
 * s2s_trust_escape. What we send (domains, ids, keys) is checked or made to
 * be in a form that needs no XML escaping at all.
 */
#ifndef S2S_TRUST_PEER_TEXT_H
#define S2S_TRUST_PEER_TEXT_H

#include <stddef.h>

/* Is `d` a domain in A-label form (LDH, '.', '_'; 1..253 bytes)? */
int s2s_trust_domain_ok(const char *d);

/* A token safe to echo in an XML attribute (stream ids, dialback ids):
 * 1..120 bytes of [A-Za-z0-9-._+/=:]. */
int s2s_trust_plain_token(const char *s);

/* Peer bytes for a report line: printable ASCII as is, the rest (and '\')
 * as \xNN, cut to fit `cap`; returns out. */
const char *s2s_trust_escape(const void *data, size_t len, char *out, size_t cap);
/* The same for a NUL-terminated string. */
const char *s2s_trust_escape_str(const char *s, char *out, size_t cap);

/* 2 * bytes (at most 64) random hex digits and a NUL into out. */
void s2s_trust_random_hex(char *out, size_t bytes);

#endif
