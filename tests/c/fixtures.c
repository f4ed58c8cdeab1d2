/* fixtures.c - stores and chains from the generated PKI, for the tests. */
#include <stdlib.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testing.h"
#include "tests.h"

s2s_trust_store_t *store_from_text(const char *name, const char *text)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;
    const char *path = write_scratch(name, text);

    s2s_trust_config_defaults(&cfg);
    if (s2s_trust_config_read_file(path, &cfg, &err) != 0 ||
        s2s_trust_store_build(&cfg, &store, &err) != 0) {
        CHECK_MSG(0, "store %s: %s:%d: %s", name, err.file, err.line, err.text);
        store = NULL;
    }
    s2s_trust_config_free(&cfg);
    return store;
}

/* The configuration most tests use: our root, the pool of intermediates,
 * plus `extra` lines. */
s2s_trust_store_t *test_store(const char *extra)
{
    char text[8192];

    snprintf(text, sizeof text, "ca_file = \"%s\";\nintermediate_file = \"%s\";\n%s\n",
             pki_path("root.pem"), pki_path("pool.pem"), extra ? extra : "");
    return store_from_text("store.conf", text);
}

int chain_load(const char *file, chain_t *chain)
{
    BIO *bio = BIO_new_file(pki_path(file), "r");
    X509 *x;

    memset(chain, 0, sizeof *chain);
    if (bio == NULL)
        return -1;
    while (chain->n < CHAIN_MAX && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        X509_free(x);
        if (len <= 0)
            break;
        chain->bufs[chain->n] = der;
        chain->der[chain->n].data = der;
        chain->der[chain->n].len = (size_t)len;
        chain->n++;
    }
    BIO_free(bio);
    ERR_clear_error();
    return chain->n > 0 ? 0 : -1;
}

void chain_free(chain_t *chain)
{
    for (size_t i = 0; i < chain->n; i++)
        OPENSSL_free(chain->bufs[i]);
    memset(chain, 0, sizeof *chain);
}

int verify_file(s2s_trust_store_t *store, const char *file, const char *domain,
                s2s_trust_details_t *details)
{
    chain_t chain;
    int verdict;

    if (chain_load(file, &chain) != 0) {
        CHECK_MSG(0, "cannot load %s", file);
        return -2;
    }
    verdict = s2s_trust_verify_chain(store, domain, strlen(domain), chain.der, chain.n, details);
    chain_free(&chain);
    return verdict;
}

/* A CRL from the root revoking the pool intermediate `inter`. */
X509 *pki_cert(const char *name)
{
    BIO *bio = BIO_new_file(pki_path(name), "r");
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return x;
}

EVP_PKEY *pki_key(const char *name)
{
    BIO *bio = BIO_new_file(pki_path(name), "r");
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return key;
}

const char *crl_revoking_inter(void)
{
    static char path[4096];
    BIO *bio;
    EVP_PKEY *key = NULL;
    X509 *root = NULL, *inter = NULL;
    X509_CRL *crl = X509_CRL_new();
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_TIME *last = ASN1_TIME_adj(NULL, time(NULL), 0, -3600), *next = ASN1_TIME_adj(NULL, time(NULL), 30, 0);
    const char *out = NULL;

    key = pki_key("ca/root/key.pem");
    root = pki_cert("root.pem");
    inter = pki_cert("inter.pem");
    if (key == NULL || root == NULL || inter == NULL || crl == NULL || rev == NULL || last == NULL || next == NULL)
        goto done;
    if (!X509_CRL_set_version(crl, 1) || !X509_CRL_set_issuer_name(crl, X509_get_subject_name(root)) ||
        !X509_CRL_set1_lastUpdate(crl, last) || !X509_CRL_set1_nextUpdate(crl, next) ||
        !X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(inter)) ||
        !X509_REVOKED_set_revocationDate(rev, last) || !X509_CRL_add0_revoked(crl, rev))
        goto done;
    rev = NULL;
    if (!X509_CRL_sort(crl) || !X509_CRL_sign(crl, key, EVP_sha256()))
        goto done;
    snprintf(path, sizeof path, "%s/root-revokes-inter.crl.pem", scratch_dir());
    if ((bio = BIO_new_file(path, "w")) != NULL && PEM_write_bio_X509_CRL(bio, crl))
        out = path;
    BIO_free(bio);
done:
    X509_REVOKED_free(rev);
    X509_CRL_free(crl);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    X509_free(root);
    X509_free(inter);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return out;
}
