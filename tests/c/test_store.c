/* test_store.c - building stores, their errors, and reference counting. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

void test_store_counts_and_sources(void)
{
    char extra[1024];
    s2s_trust_store_t *store;
    s2s_trust_store_info_t info;
    s2s_trust_store_t *other;

    snprintf(extra, sizeof extra, "crl_file = [\"%s\", \"%s\"];\nmax_depth = 3;",
             pki_path("root.crl.pem"), pki_path("inter.crl.pem"));
    store = test_store(extra);
    if (store == NULL)
        return;
    s2s_trust_store_info(store, &info);
    CHECK(info.anchors == 1);
    CHECK(info.intermediates == 2); /* pool.pem: inter + inter-nc */
    CHECK(info.crls == 2);
    CHECK(info.source_count == 4);
    CHECK_STR(info.sources[0], pki_path("root.pem"));
    CHECK(strstr(info.config_source, "store.conf") != NULL);
    CHECK(info.policy->max_depth == 3);
    CHECK(info.built_at > 0);

    other = test_store(NULL);
    if (other != NULL) {
        s2s_trust_store_info_t info2;
        s2s_trust_store_info(other, &info2);
        CHECK(info2.generation > info.generation);
        CHECK(info2.crls == 0);
        s2s_trust_store_release(other);
    }
    s2s_trust_store_release(store);
}

static void expect_build_error(const char *name, const char *text, int line, const char *needle)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = (s2s_trust_store_t *)&err; /* must be reset to NULL */
    const char *path = write_scratch(name, text);

    s2s_trust_config_defaults(&cfg);
    CHECK(s2s_trust_config_read_file(path, &cfg, &err) == 0);
    CHECK_MSG(s2s_trust_store_build(&cfg, &store, &err) == -1, "%s built", name);
    CHECK(store == NULL);
    CHECK_STR(err.file, path);
    CHECK_MSG(err.line == line, "%s: line %d, want %d (%s)", name, err.line, line, err.text);
    CHECK_MSG(strstr(err.text, needle) != NULL, "%s: text '%s'", name, err.text);
    CHECK(ERR_peek_error() == 0); /* nothing left on OpenSSL's queue */
    s2s_trust_config_free(&cfg);
}

void test_store_errors_name_config_line(void)
{
    char text[4096];

    expect_build_error("nofile.conf", "max_depth = 3;\nca_file = \"/nonexistent/root.pem\";\n", 2,
                       "/nonexistent/root.pem");
    snprintf(text, sizeof text, "ca_file = \"%s\";\n\nintermediate_file = \"%s\";\n",
             pki_path("root.pem"), write_scratch("empty.pem", "not a certificate\n"));
    expect_build_error("emptypool.conf", text, 3, "holds no certificate");
    snprintf(text, sizeof text, "ca_file = \"%s\";\ncrl_file = \"%s\";\n", pki_path("root.pem"),
             pki_path("root.pem"));
    expect_build_error("notcrl.conf", text, 2, "holds no CRL");
    snprintf(text, sizeof text, "ca_file = \"%s\";\n", write_scratch("junk.pem", "junk\n"));
    expect_build_error("junkca.conf", text, 1, "holds no certificate");
    snprintf(text, sizeof text, "ca_dir = \"%s/emptydir\";\n", scratch_dir());
    {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/emptydir", scratch_dir());
        mkdir(dir, 0700);
    }
    expect_build_error("emptydir.conf", text, 0, "no trust anchors");
}

void test_store_refcount_outlives_reload(void)
{
    s2s_trust_store_t *old = test_store(NULL);
    s2s_trust_store_t *held;
    s2s_trust_store_t *fresh;

    if (old == NULL)
        return;
    /* A verification in flight holds its own reference... */
    held = s2s_trust_store_retain(old);
    /* ...the reload swaps in a new store and drops the published one... */
    fresh = test_store("max_depth = 1;");
    s2s_trust_store_release(old);
    /* ...and the in-flight verification still finishes on the old store. */
    CHECK(verify_file(held, "good.pem", "good.test", NULL) == S2S_TRUST_OK);
    s2s_trust_store_release(held); /* last reference: freed here (ASan checks) */
    if (fresh != NULL) {
        CHECK(verify_file(fresh, "good.pem", "good.test", NULL) == S2S_TRUST_OK);
        s2s_trust_store_release(fresh);
    }
    s2s_trust_store_release(NULL);
}

void test_store_system_roots(void)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;
    s2s_trust_store_info_t info;
    const char *saved = getenv("SSL_CERT_FILE");
    char *copy = saved ? strdup(saved) : NULL;

    /* Point the system bundle at our root, so the test does not depend on
     * what ca-certificates holds today but runs the same code path. */
    setenv("SSL_CERT_FILE", pki_path("root.pem"), 1);
    s2s_trust_config_defaults(&cfg);
    CHECK(s2s_trust_store_build(&cfg, &store, &err) == 0);
    if (store != NULL) {
        s2s_trust_store_info(store, &info);
        CHECK(info.anchors == 1);
        CHECK_STR(info.config_source, "");
        CHECK(verify_file(store, "good.chain.pem", "good.test", NULL) == S2S_TRUST_OK);
        s2s_trust_store_release(store);
    }
    setenv("SSL_CERT_FILE", "/nonexistent/bundle.pem", 1);
    store = NULL;
    CHECK(s2s_trust_store_build(&cfg, &store, &err) == -1);
    CHECK(strstr(err.text, "ca-certificates") != NULL);
    if (copy) {
        setenv("SSL_CERT_FILE", copy, 1);
        free(copy);
    } else {
        unsetenv("SSL_CERT_FILE");
    }
    s2s_trust_config_free(&cfg);
}

/* A corrupt block in a CRL bundle refuses the file: it must not silently
 * drop the CRLs after it (and with them, a revocation). */
void test_store_crl_bundle_is_strict(void)
{
    char cmd[4096], text[4096];
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;
    const char *path;

    snprintf(cmd, sizeof cmd,
             "{ cat '%s'; printf -- '-----BEGIN X509 CRL-----\\nAAAA\\n-----END X509 CRL-----\\n'; cat '%s'; } > '%s/bundle.crl'",
             pki_path("root.crl.pem"), pki_path("inter.crl.pem"), scratch_dir());
    CHECK(system(cmd) == 0);
    snprintf(text, sizeof text, "ca_file = \"%s\";\ncrl_file = \"bundle.crl\";\n", pki_path("root.pem"));
    path = write_scratch("bundle.conf", text);
    s2s_trust_config_defaults(&cfg);
    CHECK(s2s_trust_config_read_file(path, &cfg, &err) == 0);
    CHECK(s2s_trust_store_build(&cfg, &store, &err) == -1);
    CHECK(store == NULL);
    CHECK(err.line == 2);
    CHECK_MSG(strstr(err.text, "unreadable") != NULL, "%s", err.text);
    s2s_trust_config_free(&cfg);
}

void test_store_ca_dir_and_der_crl(void)
{
    char dir[512], cmd[2048], text[2048];
    s2s_trust_store_t *store;
    s2s_trust_store_info_t info;

    snprintf(dir, sizeof dir, "%s/anchors", scratch_dir());
    mkdir(dir, 0700);
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s/root.pem' && echo 'not pem' > '%s/README' && "
             "openssl crl -in '%s' -outform DER -out '%s/inter.crl.der'",
             pki_path("root.pem"), dir, dir, pki_path("inter.crl.pem"), scratch_dir());
    CHECK(system(cmd) == 0);
    snprintf(text, sizeof text,
             "ca_dir = \"anchors\";\nintermediate_file = \"%s\";\ncrl_file = \"inter.crl.der\";\n",
             pki_path("pool.pem"));
    store = store_from_text("dir.conf", text);
    if (store == NULL)
        return;
    s2s_trust_store_info(store, &info);
    CHECK(info.anchors == 1);
    CHECK(info.crls == 1);
    CHECK(verify_file(store, "good.pem", "good.test", NULL) == S2S_TRUST_OK);
    CHECK(verify_file(store, "revoked.pem", "revoked.test", NULL) == S2S_TRUST_REVOKED);
    s2s_trust_store_release(store);
}
