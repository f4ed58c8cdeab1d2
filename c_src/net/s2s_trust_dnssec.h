/*
 * s2s_trust_dnssec.h - DNSSEC-validated DNS for DANE in XMPP (RFC 7673),
 * through libunbound. The contract between the resolver and its callers
 * (the NIF's dane_lookup, the CLI's `dane` command).
 *
 * Validation is libunbound's own, against a trust anchor (the system's
 * /usr/share/dns/root.key, or a configured file): never a resolver's AD
 * bit. Each answer is classified before anything else looks at its data:
 *   SECURE    validated; its records (possibly none) may be used
 *   INSECURE  provably unsigned: no DANE for this peer, PKIX alone decides
 *   BOGUS     validation failed: the caller refuses the peer (dnssec_bogus)
 *   ERROR     no answer (timeout, SERVFAIL, out of resources, too busy):
 *             nothing is known; the caller's policy decides
 *
 * One lookup follows RFC 7673 for a peer's XMPP domain:
 *   1. SRV _xmpp-server._tcp.DOMAIN. BOGUS/ERROR/INSECURE end the lookup
 *      with that status (DANE applies only under a secure SRV answer).
 *   2. A secure SRV RRset: each target (at most S2S_TRUST_DANE_MAX_TARGETS,
 *      in the answer's order; the "." target means no service) gets
 *      TLSA _PORT._tcp.TARGET, PORT being the SRV record's.
 *      A secure "no SRV" (NXDOMAIN or NODATA): one target, DOMAIN itself,
 *      port `default_port`, TLSA _PORT._tcp.DOMAIN. A secure SRV RRset
 *      with only "." targets: no target, and the lookup is SECURE.
 *   3. The lookup's status: BOGUS if any answer was bogus; else SECURE if
 *      at least one target's TLSA answer was secure (with or without
 *      records); else INSECURE if every target's TLSA answer was insecure;
 *      else ERROR.
 * Names are checked before any query (LDH labels, at most 253 bytes, no
 * trailing dot needed); a name that cannot be a host name is ERROR with
 * `why` saying so. Every byte of every answer is an attacker's: record
 * counts, sizes and targets are bounded here.
 *
 * Threads: lookups never run on the caller's thread unless it asks
 * (s2s_trust_dnssec_lookup). s2s_trust_dnssec_submit queues the lookup for
 * one of the resolver's own threads and returns at once; a full queue is
 * refused (-1), never waited on. libunbound's cache (sized by its config,
 * honouring TTLs) is shared by all threads of one resolver.
 */
#ifndef S2S_TRUST_DNSSEC_H
#define S2S_TRUST_DNSSEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_dane.h"

#define S2S_TRUST_DANE_MAX_TARGETS 8
/* A TLSA record's data larger than this is skipped (a full certificate,
 * matching type 0, fits; nothing real is larger). */
#define S2S_TRUST_TLSA_MAX_DATA 8192

typedef enum {
    S2S_TRUST_DNSSEC_SECURE,
    S2S_TRUST_DNSSEC_INSECURE,
    S2S_TRUST_DNSSEC_BOGUS,
    S2S_TRUST_DNSSEC_ERROR
} s2s_trust_dnssec_status_t;

typedef struct {
    char host[256];                     /* the SRV target or DOMAIN, no trailing dot; an SRV
                                           target that is no host name: its bytes escaped
                                           (\xNN), status ERROR, never queried */
    uint16_t port;
    s2s_trust_dnssec_status_t status;   /* of this target's TLSA answer */
    size_t n_records;                   /* usable as far as DNS goes; OpenSSL judges */
    s2s_trust_tlsa_t records[S2S_TRUST_TLSA_MAX_RECORDS]; /* data owned by the lookup */
} s2s_trust_dane_target_t;

typedef struct {
    s2s_trust_dnssec_status_t status;   /* of the whole lookup (rule 3 above) */
    int srv_found;                      /* 1: targets came from a secure SRV RRset */
    char why[256];                      /* BOGUS or ERROR: libunbound's why_bogus or error text */
    size_t n_targets;
    s2s_trust_dane_target_t targets[S2S_TRUST_DANE_MAX_TARGETS];
} s2s_trust_dane_lookup_t;

typedef struct s2s_trust_dnssec s2s_trust_dnssec_t;

/*
 * A resolver. `unbound_conf`: a libunbound (unbound.conf syntax) file, or
 * NULL for libunbound's defaults (full recursion from the root).
 * `trust_anchor`: a file of DS or DNSKEY lines, or NULL for the system's
 * RFC 5011 root anchor (/usr/share/dns/root.key, auto-updated in memory).
 * `threads` (1..16) resolver threads; `max_queue` lookups may wait.
 * NULL on failure, with the reason in err (errlen bytes, NUL-terminated).
 */
s2s_trust_dnssec_t *s2s_trust_dnssec_new(const char *unbound_conf, const char *trust_anchor,
                                         int threads, size_t max_queue, char *err, size_t errlen);

/* Stops the threads after the lookups they are running; queued lookups
 * are answered ERROR ("resolver stopped") through their callbacks first. */
void s2s_trust_dnssec_free(s2s_trust_dnssec_t *r);

/* Called once per submitted lookup, on a resolver thread; a lookup still
 * queued when s2s_trust_dnssec_free runs is answered on the thread calling
 * it. `result` is valid only during the call (copy what is kept). */
typedef void (*s2s_trust_dane_done_fn)(void *arg, const s2s_trust_dane_lookup_t *result);

/* Queue a lookup of `domain` (UTF-8 XMPP domain, `domain_len` bytes; an
 * IDN is looked up as its A-label). 0: queued, `done(arg, ...)` will be
 * called exactly once; -1: not queued (queue full, or memory), `done` is
 * never called. */
int s2s_trust_dnssec_submit(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len,
                            uint16_t default_port, s2s_trust_dane_done_fn done, void *arg);

/* The same lookup on the calling thread (the CLI). 0 with *out filled
 * (free it with s2s_trust_dane_lookup_clear), -1 when memory runs out. */
int s2s_trust_dnssec_lookup(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len,
                            uint16_t default_port, s2s_trust_dane_lookup_t *out);

/* Free the record data a lookup owns; *l is zeroed. */
void s2s_trust_dane_lookup_clear(s2s_trust_dane_lookup_t *l);

/* "secure", "insecure", "bogus", "error". */
const char *s2s_trust_dnssec_status_name(s2s_trust_dnssec_status_t s);

#endif
