/* s2s_trust_verdict.c - see s2s_trust_verdict.h; docs/verdicts.md is the table in prose. */
#include "core/s2s_trust_verdict.h"

#include <openssl/x509_vfy.h>

static const char *const verdict_names[] = {
#define S2S_TRUST_VERDICT_NAME(id, name, text) name,
    S2S_TRUST_VERDICTS(S2S_TRUST_VERDICT_NAME)
#undef S2S_TRUST_VERDICT_NAME
};

static const char *const verdict_texts[] = {
#define S2S_TRUST_VERDICT_TEXT(id, name, text) text,
    S2S_TRUST_VERDICTS(S2S_TRUST_VERDICT_TEXT)
#undef S2S_TRUST_VERDICT_TEXT
};

const char *s2s_trust_verdict_name(s2s_trust_verdict_t verdict)
{
    if ((unsigned)verdict >= S2S_TRUST_VERDICT_COUNT)
        verdict = S2S_TRUST_UNTRUSTED;
    return verdict_names[verdict];
}

const char *s2s_trust_verdict_text(s2s_trust_verdict_t verdict)
{
    if ((unsigned)verdict >= S2S_TRUST_VERDICT_COUNT)
        verdict = S2S_TRUST_UNTRUSTED;
    return verdict_texts[verdict];
}

s2s_trust_verdict_t s2s_trust_verdict_from_x509_error(int x509_error)
{
    switch (x509_error) {
    case X509_V_OK:
        return S2S_TRUST_OK;

    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return S2S_TRUST_SELF_SIGNED;

    /* A chain that ends in a root we do not trust is an unknown CA to the
     * operator, whether or not the peer also sent that root: "self_signed"
     * is kept for a peer whose own certificate is self-signed. */
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return S2S_TRUST_UNKNOWN_ISSUER;

    case X509_V_ERR_CERT_HAS_EXPIRED:
        return S2S_TRUST_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return S2S_TRUST_NOT_YET_VALID;

    /* Unparseable validity fields are a malformed certificate, not a date problem. */
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return S2S_TRUST_MALFORMED;

    case X509_V_ERR_CERT_REVOKED:
        return S2S_TRUST_REVOKED;

    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
        return S2S_TRUST_CRL_UNAVAILABLE;

    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
        return S2S_TRUST_BAD_SIGNATURE;

    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
    case X509_V_ERR_INVALID_NON_CA:
    case X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED:
        return S2S_TRUST_INVALID_CA;

    /* CERT_UNTRUSTED and CERT_REJECTED come from trust settings on the
     * anchor (auxiliary trust), which we set to the SSL server trust. */
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
        return S2S_TRUST_BAD_PURPOSE;

    case X509_V_ERR_HOSTNAME_MISMATCH:
        return S2S_TRUST_NAME_MISMATCH;

    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
#ifdef X509_V_ERR_NAME_CONSTRAINTS_WITHOUT_SANS /* OpenSSL 3.1+ */
    case X509_V_ERR_NAME_CONSTRAINTS_WITHOUT_SANS:
#endif
        return S2S_TRUST_NAME_CONSTRAINTS;

    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
        return S2S_TRUST_WEAK_CRYPTO;

    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return S2S_TRUST_TOO_LONG;

    default:
        return S2S_TRUST_UNTRUSTED;
    }
}
