/*
 * s2s_trust_resolve.h - where a server connects for an XMPP domain.
 *
 * The order of RFC 6120 section 3.2 with XEP-0368 (direct TLS), the way
 * Prosody 0.12 does it:
 *   1. SRV _xmpps-server._tcp.DOMAIN  -> direct TLS candidates
 *   2. SRV _xmpp-server._tcp.DOMAIN   -> STARTTLS candidates
 *   3. when step 2 found no record (none, NXDOMAIN or a failed lookup):
 *      DOMAIN itself, port 5269, STARTTLS.
 * Within one service, records are ordered by priority, then by RFC 2782's
 * weighted random choice. A single record whose target is "." means the
 * service is explicitly not offered: no candidates from it, and for
 * _xmpp-server no fallback either. Every target host name is resolved with
 * getaddrinfo to numeric addresses, in the order it returns them.
 *
 * Blocking (DNS), for the CLI only; nothing here runs inside the VM.
 * Bounded: at most S2S_TRUST_RESOLVE_MAX_SRV records per service, at most
 * S2S_TRUST_RESOLVE_MAX_ADDRS addresses per target, at most
 * S2S_TRUST_RESOLVE_MAX candidates in all.
 */
#ifndef S2S_TRUST_RESOLVE_H
#define S2S_TRUST_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "net/s2s_trust_conn.h" /* s2s_trust_tls_mode_t */

#define S2S_TRUST_RESOLVE_MAX 32
#define S2S_TRUST_RESOLVE_MAX_SRV 16
#define S2S_TRUST_RESOLVE_MAX_ADDRS 4
#define S2S_TRUST_RESOLVE_NAME_MAX 256 /* a DNS name in text form, with NUL */

typedef struct {
    uint16_t priority, weight, port;
    char target[S2S_TRUST_RESOLVE_NAME_MAX]; /* "." = service not offered */
} s2s_trust_srv_t;

typedef struct {
    char address[64];     /* numeric IPv4 or IPv6 literal */
    uint16_t port;
    s2s_trust_tls_mode_t mode;
    int from_srv;         /* 1: from an SRV record below; 0: the fallback */
    s2s_trust_srv_t srv;  /* the record (from_srv), or target = DOMAIN, port 5269 */
} s2s_trust_candidate_t;

typedef enum {
    S2S_TRUST_SRV_FOUND,       /* records */
    S2S_TRUST_SRV_NONE,        /* NXDOMAIN or no SRV record */
    S2S_TRUST_SRV_UNAVAILABLE, /* the single record "." */
    S2S_TRUST_SRV_FAILED,      /* the lookup failed (no answer, SERVFAIL, bad reply) */
} s2s_trust_srv_outcome_t;

typedef struct {
    s2s_trust_candidate_t items[S2S_TRUST_RESOLVE_MAX];
    size_t count;
    /* What each step found, for the report. */
    s2s_trust_srv_outcome_t xmpps, xmpp;
    s2s_trust_srv_t xmpps_srv[S2S_TRUST_RESOLVE_MAX_SRV], xmpp_srv[S2S_TRUST_RESOLVE_MAX_SRV];
    size_t xmpps_count, xmpp_count; /* records kept, in the order tried */
    int fallback;                   /* step 3 was used */
    char notes[512];                /* one line per name that did not resolve, etc. */
} s2s_trust_resolution_t;

/* Resolve `domain` (A-label form). Always fills `out`; returns its count
 * (0: nowhere to connect, notes say why). */
size_t s2s_trust_resolve(const char *domain, s2s_trust_resolution_t *out);

/* The pieces, separated from the network so they can be tested. */

/* Parse a DNS answer (`msg`, `len` bytes, as res_nquery returns it) into at
 * most `max` SRV records. Returns the count, or -1 if the message does not
 * parse. Records of other types are skipped. */
int s2s_trust_srv_parse(const unsigned char *msg, size_t len, s2s_trust_srv_t *out, size_t max);

/* Order records in place: priority ascending, then RFC 2782 weighted
 * selection within each priority. `rnd(ctx)` returns a uniformly random
 * 32-bit number (tests pass a fixed sequence). */
void s2s_trust_srv_order(s2s_trust_srv_t *recs, size_t n, uint32_t (*rnd)(void *ctx), void *ctx);

/* "found", "none", "unavailable", "failed" */
const char *s2s_trust_srv_outcome_name(s2s_trust_srv_outcome_t outcome);

#endif
