/*
 * s2s_trust_selftest_identity.h - the bad certificates the self-test presents.
 *
 * Each self-test case plays a peer whose certificate is wrong in exactly one
 * way. They are minted in memory at run time (EC P-256), for names the
 * tester controls, and never leave the process: nothing here can pass for
 * another real server.
 */
#ifndef S2S_TRUST_SELFTEST_IDENTITY_H
#define S2S_TRUST_SELFTEST_IDENTITY_H

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef enum {
    S2S_TRUST_ST_SELF_SIGNED = 0,
    S2S_TRUST_ST_EXPIRED,
    S2S_TRUST_ST_WRONG_NAME,
    S2S_TRUST_ST_UNKNOWN_CA,
    S2S_TRUST_ST_CASE_COUNT
} s2s_trust_st_case_t;

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

#endif
