/*
 * s2s_trust_dane.h - does a presented chain match a TLSA RRset (RFC 6698,
 * RFC 7671; RFC 7673 for XMPP)?
 *
 * Only the match. The records must come from a DNSSEC-validated answer
 * (issue 16's resolver decides secure / insecure / bogus before this is
 * called; an insecure answer means no DANE at all). The match runs inside
 * OpenSSL's own DANE code, never by hand: an SSL object that is never
 * connected holds the records and the reference names, and
 * X509_verify_cert runs with its DANE state (X509_STORE_CTX_set0_dane),
 * under the store's policy (s2s_trust_apply_policy: purpose, depth,
 * security level, time, CRLs).
 *
 * What each usage means here (RFC 7671, RFC 7673 section 4):
 *   DANE-EE (3)  the record matches the leaf: accepted without a PKIX path,
 *                and without name or date checks (RFC 7671 5.1)
 *   DANE-TA (2)  the record matches a CA certificate the peer sent (or its
 *                key): the chain is built and checked up to it, the leaf
 *                must name the domain or the SRV target
 *   PKIX-TA (0), PKIX-EE (1)  constraints only: the chain must also pass
 *                PKIX against the store's anchors
 * Records OpenSSL cannot use (an unknown usage, selector or matching type,
 * a digest of the wrong length) are skipped; when none is usable the
 * answer is S2S_TRUST_DANE_UNUSABLE and PKIX alone decides, as RFC 7671
 * 4.1 says. Every byte of a record and of the chain is an attacker's:
 * counts and sizes are bounded before OpenSSL sees them.
 */
#ifndef S2S_TRUST_DANE_H
#define S2S_TRUST_DANE_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

/* Records of one RRset looked at; more are ignored (an answer that large is
 * no deployment's: the match may then fail, never pass, because of it). */
#define S2S_TRUST_TLSA_MAX_RECORDS 32

typedef struct {
    uint8_t usage;    /* 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE */
    uint8_t selector; /* 0 whole certificate, 1 SubjectPublicKeyInfo */
    uint8_t mtype;    /* 0 exact, 1 SHA-256, 2 SHA-512 */
    const unsigned char *data;
    size_t len;
} s2s_trust_tlsa_t;

typedef enum {
    S2S_TRUST_DANE_EE,       /* a DANE-EE record matched the leaf */
    S2S_TRUST_DANE_TA,       /* a DANE-TA record matched a CA of the chain, and the chain holds */
    S2S_TRUST_DANE_PKIX,     /* a PKIX-TA/EE record matched and the chain passed PKIX */
    S2S_TRUST_DANE_MISMATCH, /* usable records, none matched the chain */
    S2S_TRUST_DANE_FAILED,   /* a record's path was found but the chain failed (verdict says why) */
    S2S_TRUST_DANE_UNUSABLE  /* no usable record: PKIX alone decided (verdict) */
} s2s_trust_dane_outcome_t;

typedef struct {
    s2s_trust_dane_outcome_t outcome;
    s2s_trust_verdict_t verdict; /* OK for EE, TA, PKIX; the reason for FAILED and UNUSABLE;
                                    UNTRUSTED for MISMATCH */
    int usable;                  /* records OpenSSL accepted */
    int match_depth;             /* chain depth of the matching certificate, -1 if none */
    uint8_t match_usage;         /* of the record that matched, when one did */
    int openssl_code;            /* X509_V_ERR_* of a failure, 0 otherwise */
} s2s_trust_dane_result_t;

/*
 * Match `chain` (n certificates as presented, leaf first) for `domain`
 * (the peer's XMPP domain, UTF-8, `domain_len` bytes) against `records`.
 * `srv_target` is the host name of the SRV target the records were found
 * under (NUL-terminated), or NULL: a DANE-TA or PKIX leaf may name either
 * (RFC 7673 4.2). Returns 0 with *out filled, or -1 when memory runs out.
 * Safe to call from many threads on one store.
 */
int s2s_trust_dane_verify(const s2s_trust_store_t *store, const char *domain, size_t domain_len,
                          const char *srv_target, const s2s_trust_der_t *chain, size_t n,
                          const s2s_trust_tlsa_t *records, size_t n_records, s2s_trust_dane_result_t *out);

/* "dane_ee", "dane_ta", "pkix", "dane_mismatch", "failed", "unusable". */
const char *s2s_trust_dane_outcome_name(s2s_trust_dane_outcome_t outcome);

#endif
