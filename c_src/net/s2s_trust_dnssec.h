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
 * Deadline: every lookup has one, fixed when it is submitted (or when
 * s2s_trust_dnssec_lookup is called), for all of it: the time it waits in
 * the queue, its SRV query and its TLSA queries, which run at once. By
 * then it is answered: a query still unanswered is cancelled and counts
 * as ERROR (the SRV query's: the lookup is ERROR; a target's: rule 3), a
 * lookup still queued is ERROR, and `timed_out` is set. `why` then begins
 * "timeout" unless an earlier target failed otherwise. libunbound's own
 * retries of a silent server (24 s were measured) never hold a thread
 * past it.
 *
 * Threads: lookups never run on the caller's thread unless it asks
 * (s2s_trust_dnssec_lookup). s2s_trust_dnssec_submit queues the lookup for
 * one of the resolver's own threads and returns at once; a full queue is
 * refused (-1), never waited on. Each thread holds one lookup at a time;
 * the queries themselves are libunbound's asynchronous ones, all on its
 * one background thread (ub_ctx_async, threaded: never a forked process),
 * whose answers a further thread of ours hands over (ub_fd, ub_process).
 * libunbound's cache (sized by its config, honouring TTLs) is shared by
 * all of one resolver's lookups.
 *
 * Logging: libunbound's own log (stderr by default; its config's
 * `logfile`, `use-syslog` and `verbosity` are overridden) is switched off,
 * so nothing reaches the stderr of the process (in ejabberd, beam's).
 * What it says while a resolver is made is kept for that resolver's error
 * text; a lookup's `why` is built from libunbound's results. One
 * exception, in libunbound 1.17 to 1.26: its config parser prints syntax
 * errors (FILE:LINE: error: ...) to stderr itself, outside its log; the
 * error text then says only "FILE: cannot read or parse it".
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
/* The longest deadline a lookup may have; a longer one is this. */
#define S2S_TRUST_DNSSEC_MAX_DEADLINE_MS 600000u

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
    int timed_out;                      /* 1: its deadline ended at least one query, or
                                           it was still queued then (header) */
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
 * Both are read here, so a wrong file fails here and not at a lookup.
 * `threads` (1..16): lookups in flight at once; `max_queue` lookups may
 * wait. NULL on failure, with the reason in err (errlen bytes,
 * NUL-terminated; what libunbound said, if anything).
 */
s2s_trust_dnssec_t *s2s_trust_dnssec_new(const char *unbound_conf, const char *trust_anchor,
                                         int threads, size_t max_queue, char *err, size_t errlen);

/* Stops the threads. Queued lookups are answered ERROR ("resolver
 * stopped") through their callbacks; those in flight end at once, without
 * waiting for their deadlines, each unanswered query cancelled and ERROR
 * ("resolver stopped"), and are answered as rule 3 says. Then the threads
 * are joined and libunbound's context deleted, with any query it still
 * runs (cancelled ones included). */
void s2s_trust_dnssec_free(s2s_trust_dnssec_t *r);

/* Called once per submitted lookup, on a resolver thread; a lookup still
 * queued when s2s_trust_dnssec_free runs is answered on the thread calling
 * it. `result` is valid only during the call (copy what is kept). */
typedef void (*s2s_trust_dane_done_fn)(void *arg, const s2s_trust_dane_lookup_t *result);

/* Queue a lookup of `domain` (UTF-8 XMPP domain, `domain_len` bytes; an
 * IDN is looked up as its A-label), to be answered within `deadline_ms`
 * from now (1..S2S_TRUST_DNSSEC_MAX_DEADLINE_MS; 0 is 1, more is the
 * maximum). 0: queued, `done(arg, ...)` will be called exactly once, at
 * the latest about `deadline_ms` from now; -1: not queued (queue full, or
 * memory), `done` is never called. */
int s2s_trust_dnssec_submit(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len,
                            uint16_t default_port, unsigned deadline_ms, s2s_trust_dane_done_fn done,
                            void *arg);

/* The same lookup on the calling thread (the CLI), returning by its
 * deadline too. 0 with *out filled (free it with
 * s2s_trust_dane_lookup_clear), -1 when memory runs out. */
int s2s_trust_dnssec_lookup(s2s_trust_dnssec_t *r, const char *domain, size_t domain_len,
                            uint16_t default_port, unsigned deadline_ms, s2s_trust_dane_lookup_t *out);

/* Free the record data a lookup owns; *l is zeroed. */
void s2s_trust_dane_lookup_clear(s2s_trust_dane_lookup_t *l);

/* "secure", "insecure", "bogus", "error". */
const char *s2s_trust_dnssec_status_name(s2s_trust_dnssec_status_t s);

#endif
