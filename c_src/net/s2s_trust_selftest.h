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
 * whole case have deadlines; every read is bounded; stream bytes go through
 * s2s_trust_xmpp_stream (before TLS) or a bounded element scanner (after).
 * Whatever the target does ends as an outcome, never a hang or a crash.
 *
 * Blocking: a case blocks for at most total_ms (plus scheduling noise);
 * with dialback a helper thread serves the back-connection meanwhile.
 */
#ifndef S2S_TRUST_SELFTEST_H
#define S2S_TRUST_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef enum {
    S2S_TRUST_ST_SELF_SIGNED = 0,
    S2S_TRUST_ST_EXPIRED,
    S2S_TRUST_ST_WRONG_NAME,
    S2S_TRUST_ST_UNKNOWN_CA,
    S2S_TRUST_ST_CASE_COUNT
} s2s_trust_st_case_t;

typedef enum {
    S2S_TRUST_ST_REFUSED = 0,     /* the target did not authenticate the peer */
    S2S_TRUST_ST_ACCEPTED,        /* <success/> to EXTERNAL, or dialback type='valid' */
    S2S_TRUST_ST_INCONCLUSIVE,    /* unreachable, timeout, no STARTTLS, our own failure */
} s2s_trust_st_outcome_t;

/* A generated bad identity: the leaf, its key, and what to send above it. */
typedef struct {
    X509 *leaf;
    EVP_PKEY *key;
    X509 *extra; /* the CA sent above the leaf (throwaway or the given issuer), or NULL */
    int issued;  /* 1: signed by the caller's issuer */
    char name[256]; /* the DNS name the leaf is for */
} s2s_trust_st_identity_t;

/* Make the bad certificate of `which` for `from` (EC P-256 keys):
 *   self_signed  for `from`, self-signed, currently valid
 *   expired      for `from`, signed by a fresh throwaway CA, validity ended a day ago
 *   wrong_name   for "wrong-name.invalid" (never `from`), signed by a throwaway CA
 *   unknown_ca   for `from`, signed by a fresh throwaway CA (sent along)
 * 0, or -1 (OpenSSL failure, `from` unusable). Free with _identity_free. */
int s2s_trust_st_make_identity(s2s_trust_st_case_t which, const char *from, s2s_trust_st_identity_t *id);
/* The same, but `expired` and `wrong_name` are signed by issuer/issuer_key
 * (a CA the target trusts, e.g. your own intermediate), sent along: the
 * date or the name is then the only thing wrong with them. self_signed and
 * unknown_ca ignore the issuer. issuer NULL: as above. */
int s2s_trust_st_make_identity_issued(s2s_trust_st_case_t which, const char *from, X509 *issuer,
                                      EVP_PKEY *issuer_key, s2s_trust_st_identity_t *id);
void s2s_trust_st_identity_free(s2s_trust_st_identity_t *id);

/* "self_signed", "expired", "wrong_name", "unknown_ca" (static). */
const char *s2s_trust_st_case_name(s2s_trust_st_case_t which);
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

/* ---- the bounded post-TLS element scanner (exposed for tests) ---- */

#define S2S_TRUST_ST_MAX_TAG 4096
#define S2S_TRUST_ST_MAX_DEPTH 16

typedef enum {
    S2S_TRUST_SS_NEED_MORE = 0,
    S2S_TRUST_SS_HEADER,     /* <stream:stream ...>: see el (name, from, to, id, version) */
    S2S_TRUST_SS_ELEMENT,    /* a complete top-level element: see el */
    S2S_TRUST_SS_END,        /* </stream:stream> */
    S2S_TRUST_SS_BAD,        /* not XML we accept: see detail */
    S2S_TRUST_SS_TOO_LARGE,
} s2s_trust_ss_event_t;

typedef struct {
    char local[64];     /* local name, e.g. "features", "success", "result" */
    char ns[128];       /* resolved namespace ("" when undeclared) */
    char from[256], to[256], id[128], type[32], version[16];
    char first_child[64]; /* local name of the first child element */
    char text[512];       /* direct text content (truncated) */
    char error_text[200]; /* text of a child <text/> */
    int mech_external;    /* a <mechanism>EXTERNAL</mechanism> inside */
    int has_starttls, has_dialback;
} s2s_trust_ss_element_t;

typedef struct {
    /* private */
    size_t max_bytes, fed;
    int state, quote, done, depth;
    s2s_trust_ss_event_t sticky;
    size_t tag_len, text_len, mech_len, etext_len;
    char tag[S2S_TRUST_ST_MAX_TAG + 1];
    char names[S2S_TRUST_ST_MAX_DEPTH][64];
    char stream_prefix[32];
    char decl_prefix[8][32];
    char decl_uri[8][128];
    int decl_count;
    char mech[32];
    int in_mech, in_text;
    /* results */
    s2s_trust_ss_element_t el;
    char detail[160];
} s2s_trust_ss_t;

void s2s_trust_ss_init(s2s_trust_ss_t *ss, size_t max_bytes);
s2s_trust_ss_event_t s2s_trust_ss_feed(s2s_trust_ss_t *ss, const unsigned char *buf, size_t len, size_t *consumed);

#endif
