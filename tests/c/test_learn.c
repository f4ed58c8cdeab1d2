/* test_learn.c - which certificates a server sent may join the pool. */
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "core/s2s_trust_learn.h"
#include "testing.h"
#include "tests.h"

static int examine_file(s2s_trust_store_t *store, const char *file, s2s_trust_learn_item_t *items,
                        size_t *n)
{
    chain_t chain;
    int rc;

    if (chain_load(file, &chain) != 0) {
        CHECK_MSG(0, "cannot load %s", file);
        return -2;
    }
    rc = s2s_trust_learn_examine(store, chain.der, chain.n, items);
    *n = chain.n;
    chain_free(&chain);
    CHECK(ERR_peek_error() == 0);
    return rc;
}

/* The intermediate of a chain our pool lacks, under our root: kept; and
 * with it in the store, the leaf alone verifies. */
void test_learn_keeps_what_reaches_an_anchor(void)
{
    s2s_trust_store_t *store = test_store("");
    s2s_trust_learn_item_t items[S2S_TRUST_LEARN_MAX_CHAIN];
    size_t n = 0;
    char text[8192];
    chain_t leaf;

    if (store == NULL)
        return;
    CHECK(examine_file(store, "learnme.chain.pem", items, &n) == 0);
    CHECK(n == 2);
    CHECK(items[0].fate == S2S_TRUST_LEARN_LEAF);
    CHECK_MSG(items[1].fate == S2S_TRUST_LEARN_KEEP, "fate %s code %d",
              s2s_trust_learn_fate_name(items[1].fate), items[1].openssl_code);

    /* Before: the leaf alone does not verify; after adding the bundle the
     * way the module does (config_add_intermediate_file), it does. */
    CHECK(chain_load("learnme.pem", &leaf) == 0);
    CHECK(s2s_trust_verify_chain(store, "learnme.test", 12, leaf.der, 1, NULL) ==
          S2S_TRUST_UNKNOWN_ISSUER);
    s2s_trust_store_release(store);
    {
        s2s_trust_config_t cfg;
        s2s_trust_error_t err;
        s2s_trust_store_t *grown = NULL;

        snprintf(text, sizeof text, "ca_file = \"%s\";\n", pki_path("root.pem"));
        s2s_trust_config_defaults(&cfg);
        CHECK(s2s_trust_config_read_file(write_scratch("learn.conf", text), &cfg, &err) == 0);
        CHECK(s2s_trust_config_add_intermediate_file(&cfg, pki_path("inter-new.pem")) == 0);
        CHECK(cfg.intermediate_files.count == 1 && cfg.intermediate_files.items[0].line == 0);
        CHECK_MSG(s2s_trust_store_build(&cfg, &grown, &err) == 0, "%s", err.text);
        if (grown != NULL) {
            CHECK(s2s_trust_verify_chain(grown, "learnme.test", 12, leaf.der, 1, NULL) ==
                  S2S_TRUST_OK);
            /* Now it is known: examined again, it is not kept twice. */
            CHECK(examine_file(grown, "learnme.chain.pem", items, &n) == 0);
            CHECK(items[1].fate == S2S_TRUST_LEARN_KNOWN);
        }
        s2s_trust_store_release(grown);
        s2s_trust_config_free(&cfg);
    }
    chain_free(&leaf);
}

/* Trust is never learned: an intermediate under a root we do not trust,
 * and that root itself, stay out. */
void test_learn_refuses_untrusted_and_roots(void)
{
    s2s_trust_store_t *store = test_store("");
    s2s_trust_learn_item_t items[S2S_TRUST_LEARN_MAX_CHAIN];
    size_t n = 0;

    if (store == NULL)
        return;
    /* leaf, inter2, root2 */
    CHECK(examine_file(store, "unknownroot.chain.pem", items, &n) == 0);
    CHECK(n == 3);
    CHECK(items[1].fate == S2S_TRUST_LEARN_UNTRUSTED);
    CHECK(items[1].openssl_code != X509_V_OK);
    CHECK(items[2].fate == S2S_TRUST_LEARN_SELF_ISSUED);

    /* Our own root, presented: still not learnable (self-issued). */
    {
        chain_t c;
        CHECK(chain_load("good.chain.pem", &c) == 0); /* leaf, inter (pooled) */
        CHECK(s2s_trust_learn_examine(store, c.der, c.n, items) == 0);
        CHECK(items[1].fate == S2S_TRUST_LEARN_KNOWN);
        chain_free(&c);
    }
    s2s_trust_store_release(store);
}

/* Garbage, a leaf where an intermediate should be, and bad counts. */
void test_learn_hostile_input(void)
{
    s2s_trust_store_t *store = test_store("");
    s2s_trust_learn_item_t items[S2S_TRUST_LEARN_MAX_CHAIN + 1];
    s2s_trust_der_t der[S2S_TRUST_LEARN_MAX_CHAIN + 1];
    static const unsigned char junk[] = { 0x30, 0x82, 0xff, 0xff, 0x01, 0x02 };
    chain_t good, other;

    if (store == NULL)
        return;
    CHECK(chain_load("good.pem", &good) == 0);
    CHECK(chain_load("learnme.pem", &other) == 0);
    der[0] = good.der[0];
    der[1] = other.der[0]; /* a leaf is never an intermediate */
    der[2].data = junk;
    der[2].len = sizeof junk;
    der[3].data = NULL;
    der[3].len = 0;
    der[4] = good.der[0];
    der[4].len -= 1; /* truncated */
    CHECK(s2s_trust_learn_examine(store, der, 5, items) == 0);
    CHECK(items[0].fate == S2S_TRUST_LEARN_LEAF);
    CHECK(items[1].fate == S2S_TRUST_LEARN_NOT_CA);
    CHECK(items[2].fate == S2S_TRUST_LEARN_MALFORMED);
    CHECK(items[3].fate == S2S_TRUST_LEARN_MALFORMED);
    CHECK(items[4].fate == S2S_TRUST_LEARN_MALFORMED);
    CHECK(ERR_peek_error() == 0);

    CHECK(s2s_trust_learn_examine(store, der, 0, items) == -1);
    for (size_t i = 0; i <= S2S_TRUST_LEARN_MAX_CHAIN; i++)
        der[i] = good.der[0];
    CHECK(s2s_trust_learn_examine(store, der, S2S_TRUST_LEARN_MAX_CHAIN + 1, items) == -1);
    CHECK(s2s_trust_learn_examine(store, der, S2S_TRUST_LEARN_MAX_CHAIN, items) == 0);
    CHECK_STR(s2s_trust_learn_fate_name(S2S_TRUST_LEARN_KEEP), "keep");
    CHECK_STR(s2s_trust_learn_fate_name((s2s_trust_learn_fate_t)99), "unknown");
    chain_free(&good);
    chain_free(&other);
    s2s_trust_store_release(store);
}
