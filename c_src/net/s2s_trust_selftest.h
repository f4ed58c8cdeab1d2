/*
 * s2s_trust_selftest.h - play untrusted peers against a server's s2s port
 * and report whether it refused them ("pledge self-test", issue 7).
 *
 * One case = one peer with one bad certificate (self-signed, expired, wrong
 * name, unknown CA) that does what a federating server does: a
 * jabber:server stream from `from` to `target`, STARTTLS presenting the
 * certificate as the TLS client certificate, then SASL EXTERNAL. The target
 * keeps the pledge when it refuses: EXTERNAL not offered, <failure/>, or
 * the stream or TLS closed. It breaks it with <success/>.
 *
 * Dialback is the other way in: a target that refuses EXTERNAL may still
 * accept the same peer by calling back the authoritative server of `from`.
 * That needs a `from` domain whose s2s server the tester runs. With
 * dialback_fd (a listening socket the target reaches when it resolves
 * `from`), the case also sends <db:result/> on its stream, answers the
 * target's <db:verify/> back-connection with type='valid', and reports
 * whether the target then accepted the peer. Without it the report says
 * "not tested" rather than guess.
 *
 * The target is hostile until proven otherwise: connect, every read and the
 * whole case have deadlines; every read is bounded; every stream byte goes
 * through the one stream reader (s2s_trust_xmpp_stream).
 * Whatever the target does ends as an outcome, never a hang or a crash.
 *
 * Blocking: a case blocks for at most total_ms (plus scheduling noise);
 * with dialback, s2s_trust_dialback_server's threads serve the
 * back-connections meanwhile.
 */
#ifndef S2S_TRUST_SELFTEST_H
#define S2S_TRUST_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "net/s2s_trust_selftest_identity.h"

typedef enum {
    S2S_TRUST_ST_REFUSED = 0,     /* the target did not authenticate the peer */
    S2S_TRUST_ST_ACCEPTED,        /* <success/> to EXTERNAL, or dialback type='valid' */
    S2S_TRUST_ST_INCONCLUSIVE,    /* unreachable, timeout, no STARTTLS, our own failure */
} s2s_trust_st_outcome_t;

/* "refused", "accepted", "inconclusive" (static). */
const char *s2s_trust_st_outcome_name(s2s_trust_st_outcome_t o);

#define S2S_TRUST_ST_TOTAL_MS_DEFAULT 15000
#define S2S_TRUST_ST_TOTAL_MS_MAX 120000
#define S2S_TRUST_ST_MAX_STREAM_BYTES 262144 /* per stream, before and after TLS */

typedef struct {
    const char *target;  /* stream 'to' and SNI (A-label) */
    const char *from;    /* stream 'from' and the dialback domain (A-label) */
    const char *address; /* numeric IPv4/IPv6 literal of the target */
    uint16_t port;
    unsigned total_ms;   /* whole case, connect included (0: default) */
    const s2s_trust_st_identity_t *identity;
    /* Dialback: a listening TCP socket (blocking or not) the target reaches
     * as `from`'s s2s server, and the certificate it offers there (any: the
     * target's own outbound checks decide); -1 to skip dialback. */
    int dialback_fd;
    const s2s_trust_st_identity_t *dialback_identity;
} s2s_trust_st_request_t;

typedef struct {
    s2s_trust_st_outcome_t outcome;          /* combined: EXTERNAL and dialback */
    s2s_trust_st_outcome_t external_outcome; /* the SASL EXTERNAL attempt alone */
    /* how (of the EXTERNAL attempt): static snake_case word
     *   refused:      "tls_refused", "external_not_offered", "sasl_failure",
     *                 "stream_error", "stream_closed", "dialback_invalid"
     *   accepted:     "sasl_success", "dialback_valid"
     *   inconclusive: "connect_failed", "timeout", "no_starttls", "protocol",
     *                 "internal" */
    const char *how;
    char detail[320];          /* one line; peer bytes escaped */
    int external_offered;      /* post-TLS features listed EXTERNAL */
    int dialback_offered;      /* post-TLS features listed urn:xmpp:features:dialback */
    char sasl_condition[64];   /* <failure><COND/>, "" if none */
    char sasl_text[200];
    char stream_error[64];     /* stream error condition, "" if none */
    char tls_version[16];
    /* dialback (only when requested) */
    int dialback_tested;       /* 1 if <db:result/> was sent */
    s2s_trust_st_outcome_t dialback_outcome;
    const char *dialback_how;  /* "dialback_valid" (accepted: it said valid and answered a
                                  stanza, or kept the stream open), "dialback_invalid",
                                  "dialback_revoked" (said valid, then closed the stream),
                                  "stream_error", "stream_closed", "tls_refused", "timeout", ... */
    char dialback_detail[256];
    int verify_seen;           /* the target called us back with <db:verify/> */
    unsigned elapsed_ms;
} s2s_trust_st_result_t;

/* Run one case. Always fills `result`; returns result->outcome (the
 * combined outcome: accepted if either EXTERNAL or dialback accepted). */
s2s_trust_st_outcome_t s2s_trust_st_run(const s2s_trust_st_request_t *req, s2s_trust_st_result_t *result);

#endif
