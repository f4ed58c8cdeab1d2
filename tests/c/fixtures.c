/* fixtures.c - stores and chains from the generated PKI, for the tests. */
#include <stdlib.h>

#include <openssl/pem.h>

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
