/*
 * s2s_trust_verify.h - verify one peer chain against a store.
 *
 * Input is what the network gave us: DER bytes, leaf first, often the leaf
 * alone (fast_tls hands ejabberd nothing else). Every byte is treated as an
 * attacker's: sizes and counts are checked before anything is parsed, and
 * garbage is a verdict (malformed, too_long), never a crash.
 *
 * The chain is checked with OpenSSL's X509_verify_cert using the SSL
 * *server* purpose and trust in both directions: an s2s peer that connects
 * to us presents its server certificate, and 2026 Let's Encrypt
 * certificates carry serverAuth only. Then the leaf's identity is matched
 * (s2s_trust_identity.h). Safe to call from many threads on one store.
 */
#ifndef S2S_TRUST_VERIFY_H
#define S2S_TRUST_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_identity.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verdict.h"

typedef struct {
    const unsigned char *data;
    size_t len;
} s2s_trust_der_t;

typedef struct {
    s2s_trust_id_type_t type;
    unsigned char *value; /* raw certificate bytes, not NUL-safe: use len */
    size_t len;
} s2s_trust_name_t;

typedef struct {
    char *subject; /* RFC 2253 one-line form, escaped by OpenSSL */
    char *issuer;
} s2s_trust_chain_entry_t;

/* What an operator needs to act on a verdict. Strings are NUL-terminated
 * and owned by the details; NULL when unknown. */
typedef struct {
    s2s_trust_verdict_t verdict;
    char domain[S2S_TRUST_DOMAIN_MAX + 1]; /* normalized, "" if it did not normalize */
    int error_depth;         /* chain position of the failing certificate, -1 if none */
    int openssl_code;        /* X509_V_ERR_*, 0 when the failure is not OpenSSL's */
    const char *openssl_text; /* static text for openssl_code */
    char *detail;            /* one line saying exactly what failed */
    char *subject;           /* of the leaf */
    char *issuer;            /* of the leaf */
    char *error_subject;     /* of the certificate at error_depth */
    char not_before[32];     /* of the leaf, "YYYY-MM-DDTHH:MM:SSZ", "" if unknown */
    char not_after[32];
    s2s_trust_id_type_t matched_by;
    s2s_trust_name_t *names; /* identities the leaf offers */
    size_t name_count;
    s2s_trust_chain_entry_t *chain; /* the chain OpenSSL built, leaf first */
    size_t chain_count;
    int presented;           /* certificates the peer gave */
    int known;               /* of those, byte-identical to a pool certificate (not parsed again) */
} s2s_trust_details_t;

/* Verify `chain` (n certificates, leaf first) for `domain` (UTF-8, length
 * `domain_len`). `details` may be NULL; when given it is filled and must be
 * freed with s2s_trust_details_free. Returns S2S_TRUST_OK or the reason.
 * Returns -1 (not a verdict) only when memory runs out. */
int s2s_trust_verify_chain(const s2s_trust_store_t *store, const char *domain,
                           size_t domain_len, const s2s_trust_der_t *chain, size_t n,
                           s2s_trust_details_t *details);

/*
 * When a verdict holds. The verdict computed for verification time t0 is
 * the verdict for every t with from <= t < until (seconds since the epoch):
 * OpenSSL's time checks compare t with the notBefore/notAfter of the
 * certificates and the lastUpdate/nextUpdate of the CRLs, as "instant <= t"
 * or not, and no such instant lies in (t0, until) (see
 * s2s_trust_store_next_event). A store with a pinned verification_time has
 * [INT64_MIN, INT64_MAX). The verdict cache (s2s_trust_cache.h) keeps an
 * entry no longer than this window.
 */
typedef struct {
    int64_t from;
    int64_t until;
} s2s_trust_window_t;

/* s2s_trust_verify_chain, also filling `window` (may be NULL). */
int s2s_trust_verify_chain_window(const s2s_trust_store_t *store, const char *domain,
                                  size_t domain_len, const s2s_trust_der_t *chain, size_t n,
                                  s2s_trust_details_t *details, s2s_trust_window_t *window);

void s2s_trust_details_free(s2s_trust_details_t *details);

/* The sizes and counts refused before anything is parsed (no certificate,
 * more than max_chain_certs, an empty one, one over max_cert_bytes), in
 * the verifier's order: S2S_TRUST_OK or that verdict, with `detail` set
 * when `d` is given. Shared with s2s_trust_describe_leaf, so both refuse
 * the same bytes the same way. */
int s2s_trust_chain_bounds(const s2s_trust_policy_t *policy, const s2s_trust_der_t *chain, size_t n,
                           s2s_trust_details_t *d);

/* Small pieces the verifier's neighbours (learning, the CLI's probe report)
 * share with it, so that every name and date is shown and every CRL rule
 * applied the same way. */

/* A certificate name in RFC 2253 form, UTF-8 kept, OpenSSL's escaping;
 * malloc'd (free() it), NULL when out of memory. */
char *s2s_trust_name_string(const X509_NAME *name);

/* "YYYY-MM-DDTHH:MM:SSZ", or "" when t is NULL or unreadable. */
void s2s_trust_time_string(const ASN1_TIME *t, char out[32]);

/* crl_check if_available: an issuer we hold no current CRL for passes; a
 * certificate listed in a CRL we do hold is still refused (OpenSSL checks
 * revocation after this callback accepts the staleness). A verify_cb. */
int s2s_trust_crl_if_available_cb(int ok, X509_STORE_CTX *ctx);

/* The store's policy on a store context already initialised: SSL server
 * purpose and trust, depth, security level, the verification time `at`
 * (always explicit), and CRL checking as crl_check says. The chain check
 * and the DANE match (s2s_trust_dane.h) both use it, so both judge by one
 * policy. 0, or -1 when OpenSSL fails (memory). */
int s2s_trust_apply_policy(X509_STORE_CTX *ctx, const s2s_trust_store_t *store, int64_t at);

/* One presented certificate, parsed the one way the core parses network
 * bytes: in the core's library context (s2s_trust_libctx), exactly one DER
 * certificate, no trailing bytes (two byte strings must never carry one
 * certificate). S2S_TRUST_OK with *out set (the caller frees it);
 * S2S_TRUST_MALFORMED with *why a static text; -1 when memory runs out. */
int s2s_trust_parse_presented(const s2s_trust_der_t *der, X509 **out, const char **why);

#endif
