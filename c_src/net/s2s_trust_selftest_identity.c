/* s2s_trust_selftest_identity.c - see s2s_trust_selftest_identity.h */
#include "net/s2s_trust_selftest_identity.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "net/s2s_trust_peer_text.h"

const char *s2s_trust_st_case_name(s2s_trust_st_case_t which)
{
    switch (which) {
    case S2S_TRUST_ST_SELF_SIGNED: return "self_signed";
    case S2S_TRUST_ST_EXPIRED: return "expired";
    case S2S_TRUST_ST_WRONG_NAME: return "wrong_name";
    case S2S_TRUST_ST_UNKNOWN_CA: return "unknown_ca";
    default: return "unknown";
    }
}

/* ---- certificates ---------------------------------------------------------------- */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return 0;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* nb/na: validity bounds as offsets from now, in seconds. */
static X509 *make_cert(EVP_PKEY *key, const char *name, int is_ca, X509 *issuer, EVP_PKEY *issuer_key, long nb,
                       long na)
{
    X509 *x = X509_new();
    X509_NAME *subj = X509_NAME_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    char san[300];
    int ok = x != NULL && subj != NULL;

    if (ok && RAND_bytes(serial, sizeof serial) == 1) {
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof serial, NULL);
    }
    ok = ok && bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    ok = ok && X509_set_version(x, 2) == 1;
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), nb) != NULL && X509_gmtime_adj(X509_getm_notAfter(x), na) != NULL;
    ok = ok && X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) == 1;
    ok = ok && X509_set_subject_name(x, subj) == 1;
    ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subj) == 1;
    ok = ok && X509_set_pubkey(x, key) == 1;
    if (is_ca) {
        ok = ok && add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        ok = ok && add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
        ok = ok && add_ext(x, issuer, NID_subject_key_identifier, "hash");
    } else {
        snprintf(san, sizeof san, "DNS:%s", name);
        ok = ok && add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        ok = ok && add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        ok = ok && add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        ok = ok && add_ext(x, issuer, NID_subject_alt_name, san);
        ok = ok && add_ext(x, issuer, NID_subject_key_identifier, "hash");
        if (issuer != NULL)
            ok = ok && add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    }
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    BN_free(bn);
    X509_NAME_free(subj);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

void s2s_trust_st_identity_free(s2s_trust_st_identity_t *id)
{
    if (id == NULL)
        return;
    X509_free(id->leaf);
    X509_free(id->extra);
    EVP_PKEY_free(id->key);
    memset(id, 0, sizeof *id);
}

int s2s_trust_st_make_identity(s2s_trust_st_case_t which, const char *from, s2s_trust_st_identity_t *id)
{
    return s2s_trust_st_make_identity_issued(which, from, NULL, NULL, id);
}

int s2s_trust_st_make_identity_issued(s2s_trust_st_case_t which, const char *from, X509 *issuer,
                                      EVP_PKEY *issuer_key, s2s_trust_st_identity_t *id)
{
    const long day = 86400;
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    const char *name = from;
    int rc = -1;

    memset(id, 0, sizeof *id);
    if (!s2s_trust_domain_ok(from) || (unsigned)which >= S2S_TRUST_ST_CASE_COUNT)
        return -1;
    if (which == S2S_TRUST_ST_WRONG_NAME)
        name = strcmp(from, "wrong-name.invalid") == 0 ? "other-name.invalid" : "wrong-name.invalid";
    snprintf(id->name, sizeof id->name, "%s", name);
    id->key = EVP_EC_gen("P-256");
    if (id->key == NULL)
        goto out;
    if (which == S2S_TRUST_ST_SELF_SIGNED) {
        id->leaf = make_cert(id->key, name, 0, NULL, NULL, -3600, 7 * day);
    } else if (issuer != NULL && issuer_key != NULL && which != S2S_TRUST_ST_UNKNOWN_CA) {
        if (X509_check_private_key(issuer, issuer_key) != 1 || X509_up_ref(issuer) != 1)
            goto out;
        id->extra = issuer;
        id->issued = 1;
        if (which == S2S_TRUST_ST_EXPIRED)
            id->leaf = make_cert(id->key, name, 0, issuer, issuer_key, -30 * day, -day);
        else
            id->leaf = make_cert(id->key, name, 0, issuer, issuer_key, -3600, 7 * day);
    } else {
        ca_key = EVP_EC_gen("P-256");
        if (ca_key == NULL)
            goto out;
        ca = make_cert(ca_key, "s2s-trust selftest throwaway CA", 1, NULL, NULL, -60 * day, 60 * day);
        if (ca == NULL)
            goto out;
        if (which == S2S_TRUST_ST_EXPIRED)
            id->leaf = make_cert(id->key, name, 0, ca, ca_key, -30 * day, -day);
        else
            id->leaf = make_cert(id->key, name, 0, ca, ca_key, -3600, 7 * day);
        id->extra = ca;
        ca = NULL;
    }
    rc = id->leaf != NULL ? 0 : -1;
out:
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    if (rc != 0)
        s2s_trust_st_identity_free(id);
    ERR_clear_error();
    return rc;
}
