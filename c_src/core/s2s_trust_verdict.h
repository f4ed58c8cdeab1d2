/*
 * s2s_trust_verdict.h - the fixed set of answers a verification can give.
 *
 * The list is part of the public contract: the Erlang atoms, the CLI output,
 * the violators list and docs/verdicts.md all use these names. Add at the
 * end of a group, never rename.
 */
#ifndef S2S_TRUST_VERDICT_H
#define S2S_TRUST_VERDICT_H

/* X(identifier, name, operator-facing text) */
#define S2S_TRUST_VERDICTS(X)                                                          \
    X(OK, "ok", "trusted: the chain reaches a trust anchor and names the domain")     \
    X(NO_CERTIFICATE, "no_certificate", "the peer presented no certificate")          \
    X(MALFORMED, "malformed", "a certificate could not be parsed")                    \
    X(TOO_LONG, "too_long", "the chain or a certificate exceeds the size limits")     \
    X(SELF_SIGNED, "self_signed", "the certificate is self-signed (and not a trust anchor)") \
    X(UNKNOWN_ISSUER, "unknown_issuer", "the chain does not reach a trust anchor: unknown CA or missing intermediate") \
    X(EXPIRED, "expired", "a certificate in the chain has expired")                   \
    X(NOT_YET_VALID, "not_yet_valid", "a certificate in the chain is not valid yet")  \
    X(REVOKED, "revoked", "a certificate in the chain is revoked by a CRL")           \
    X(CRL_UNAVAILABLE, "crl_unavailable", "revocation could not be checked (CRL missing, stale or bad)") \
    X(BAD_SIGNATURE, "bad_signature", "a signature in the chain does not verify")     \
    X(INVALID_CA, "invalid_ca", "an issuer in the chain is not allowed to act as a CA") \
    X(BAD_PURPOSE, "bad_purpose", "the chain is not valid for TLS server authentication") \
    X(NAME_MISMATCH, "name_mismatch", "the certificate does not name the domain")     \
    X(NAME_CONSTRAINTS, "name_constraints", "a CA's name constraints forbid the certificate's names") \
    X(WEAK_CRYPTO, "weak_crypto", "a key or signature algorithm is below the security level") \
    X(UNTRUSTED, "untrusted", "the chain failed another check (see explain)")

typedef enum {
#define S2S_TRUST_VERDICT_ENUM(id, name, text) S2S_TRUST_##id,
    S2S_TRUST_VERDICTS(S2S_TRUST_VERDICT_ENUM)
#undef S2S_TRUST_VERDICT_ENUM
    S2S_TRUST_VERDICT_COUNT
} s2s_trust_verdict_t;

/* "ok", "expired", ... ; never NULL (out-of-range values give "untrusted"). */
const char *s2s_trust_verdict_name(s2s_trust_verdict_t verdict);

/* One sentence for operators; never NULL. */
const char *s2s_trust_verdict_text(s2s_trust_verdict_t verdict);

/* Classify an OpenSSL X509_V_ERR_* code. X509_V_OK maps to S2S_TRUST_OK. */
s2s_trust_verdict_t s2s_trust_verdict_from_x509_error(int x509_error);

#endif
