/*
 * fuzz_config.c - configuration text -> s2s_trust_config_read_string ->
 * s2s_trust_store_build -> one verification.
 *
 * The input, NUL-terminated, is the whole configuration. Asserted:
 *   - a failed read fills the error (non-empty text, line >= 0) and leaves
 *     the defaults, with nothing to free;
 *   - a successful read stays within the documented ranges and ceilings,
 *     every path is non-empty and carries its line, and system_roots is
 *     off when anchors were named without asking for it;
 *   - store_build either fails with an error or gives a store whose info
 *     agrees with the config; a store verifies a fixed leaf (good.der of
 *     the fuzz PKI) to a verdict, leaving OpenSSL's error queue empty;
 *   - nothing leaks (LeakSanitizer, per input under libFuzzer).
 *
 * Files: relative paths are taken from the current directory, and the
 * make targets run this harness inside the fuzz PKI directory, so seeds
 * name "root.pem", "pool.pem"... A store is only built when every path
 * resolves inside that directory: a mutated path must not make the
 * harness read /dev/zero or a FIFO forever, or depend on what this machine
 * has elsewhere. For the same reason "@include" (libconfig reads the named
 * file) is not fuzzed. The system bundle is pointed (SSL_CERT_FILE) at the
 * PKI's root so that the default system_roots=true builds a small store
 * rather than parsing ~140 distribution roots per input.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr, realpath */
#endif
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "fuzz.h"
#include "core/s2s_trust_config.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

static char pki_real[PATH_MAX];
static unsigned char *good_der;
static size_t good_len;

int FuzzerInitialize(int *argc, char ***argv)
{
    FILE *f;
    long n;

    (void)argc;
    (void)argv;
    if (realpath(fuzz_pki_dir(), pki_real) == NULL) {
        fprintf(stderr, "fuzz_config: no PKI directory %s (set S2S_TRUST_PKI)\n", fuzz_pki_dir());
        exit(1);
    }
    setenv("SSL_CERT_FILE", fuzz_pki_path("root.pem"), 1);
    f = fopen(fuzz_pki_path("good.der"), "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (good_der = malloc((size_t)n)) == NULL || fread(good_der, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fuzz_config: cannot read %s\n", fuzz_pki_path("good.der"));
        exit(1);
    }
    good_len = (size_t)n;
    fclose(f);
    return 0;
}

void FuzzerCleanup(void)
{
    free(good_der);
    good_der = NULL;
}

/* Inside the PKI directory, and a regular file (or, for ca_dir, a directory). */
static bool confined(const s2s_trust_paths_t *paths, bool dir)
{
    for (size_t i = 0; i < paths->count; i++) {
        char real[PATH_MAX];
        size_t plen = strlen(pki_real);
        struct stat st;

        if (realpath(paths->items[i].path, real) == NULL)
            continue; /* does not exist: the store reports it, harmless */
        if (strncmp(real, pki_real, plen) != 0 || (real[plen] != '/' && real[plen] != '\0'))
            return false;
        if (stat(real, &st) != 0 || (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
            return false;
    }
    return true;
}

static void check_paths(const s2s_trust_paths_t *paths, const char *key)
{
    FUZZ_CHECK(paths->count == 0 || paths->items != NULL, "%s: %zu paths, no array", key, paths->count);
    for (size_t i = 0; i < paths->count; i++) {
        FUZZ_CHECK(paths->items[i].path != NULL && paths->items[i].path[0] != '\0', "%s[%zu] empty", key, i);
        FUZZ_CHECK(paths->items[i].line >= 1, "%s[%zu] has line %d", key, i, paths->items[i].line);
    }
}

static void check_is_defaults(const s2s_trust_config_t *cfg)
{
    s2s_trust_config_t def;

    s2s_trust_config_defaults(&def);
    FUZZ_CHECK(memcmp(cfg, &def, sizeof def) == 0, "a failed read did not leave the defaults");
}

static void check_store(const s2s_trust_config_t *cfg, s2s_trust_store_t *store)
{
    s2s_trust_store_info_t info;
    s2s_trust_der_t der = { good_der, good_len };
    s2s_trust_details_t d;
    int v;

    s2s_trust_store_info(store, &info);
    FUZZ_CHECK(info.anchors >= 1, "a store without anchors was built");
    FUZZ_CHECK(info.crls >= cfg->crl_files.count, "%zu CRLs from %zu files", info.crls, cfg->crl_files.count);
    FUZZ_CHECK(info.source_count == cfg->ca_files.count + cfg->ca_dirs.count + cfg->intermediate_files.count +
                                        cfg->crl_files.count + (cfg->system_roots ? 1 : 0),
               "%zu sources", info.source_count);
    FUZZ_CHECK(info.policy->max_depth == cfg->max_depth && info.policy->max_chain_certs == cfg->max_chain_certs &&
                   info.policy->max_cert_bytes == cfg->max_cert_bytes &&
                   info.policy->security_level == cfg->security_level && info.policy->crl_check == cfg->crl_check,
               "policy differs from the configuration");
    for (size_t i = 0; i < info.source_count; i++)
        (void)strlen(info.sources[i]);

    v = s2s_trust_verify_chain(store, "good.test", 9, &der, 1, &d);
    fuzz_check_err_queue("s2s_trust_verify_chain");
    FUZZ_CHECK(v >= 0 && v < S2S_TRUST_VERDICT_COUNT, "verify returned %d", v);
    FUZZ_CHECK(d.detail != NULL, "no detail");
    s2s_trust_details_free(&d);
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    char *text = malloc(len + 1);
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;

    if (text == NULL)
        abort();
    memcpy(text, buf, len);
    text[len] = '\0';
    if (strcasestr(text, "@include") != NULL) {
        free(text);
        return 0;
    }

    s2s_trust_config_defaults(&cfg);
    memset(&err, 0, sizeof err);
    if (s2s_trust_config_read_string(text, "fuzz.conf", &cfg, &err) != 0) {
        FUZZ_CHECK(err.text[0] != '\0', "read failed without an error text");
        FUZZ_CHECK(err.line >= 0, "error line %d", err.line);
        check_is_defaults(&cfg);
        s2s_trust_config_free(&cfg); /* documented as safe on defaults */
        fuzz_check_err_queue("s2s_trust_config_read_string");
        free(text);
        return 0;
    }
    fuzz_check_err_queue("s2s_trust_config_read_string");
    FUZZ_CHECK(cfg.source != NULL && strcmp(cfg.source, "fuzz.conf") == 0, "source");
    FUZZ_CHECK(cfg.max_depth >= 0 && cfg.max_depth <= S2S_TRUST_MAX_DEPTH_CEILING, "max_depth %d", cfg.max_depth);
    FUZZ_CHECK(cfg.max_chain_certs >= 1 && cfg.max_chain_certs <= S2S_TRUST_MAX_CHAIN_CERTS_CEILING,
               "max_chain_certs %d", cfg.max_chain_certs);
    FUZZ_CHECK(cfg.max_cert_bytes >= 256 && cfg.max_cert_bytes <= S2S_TRUST_MAX_CERT_BYTES_CEILING,
               "max_cert_bytes %zu", cfg.max_cert_bytes);
    FUZZ_CHECK(cfg.security_level >= 0 && cfg.security_level <= 5, "security_level %d", cfg.security_level);
    FUZZ_CHECK(cfg.crl_check >= S2S_TRUST_CRL_NONE && cfg.crl_check <= S2S_TRUST_CRL_REQUIRE, "crl_check %d",
               cfg.crl_check);
    FUZZ_CHECK(!cfg.has_verification_time ||
                   (cfg.verification_time >= 0 && cfg.verification_time <= S2S_TRUST_MAX_TIME),
               "verification_time %lld", (long long)cfg.verification_time);
    if (cfg.system_roots_line == 0 && (cfg.ca_files.count > 0 || cfg.ca_dirs.count > 0))
        FUZZ_CHECK(!cfg.system_roots, "named anchors kept the system roots without system_roots");
    check_paths(&cfg.ca_files, "ca_file");
    check_paths(&cfg.ca_dirs, "ca_dir");
    check_paths(&cfg.intermediate_files, "intermediate_file");
    check_paths(&cfg.crl_files, "crl_file");
    (void)s2s_trust_crl_mode_name(cfg.crl_check);

    if (confined(&cfg.ca_files, false) && confined(&cfg.ca_dirs, true) &&
        confined(&cfg.intermediate_files, false) && confined(&cfg.crl_files, false)) {
        memset(&err, 0, sizeof err);
        if (s2s_trust_store_build(&cfg, &store, &err) == 0) {
            FUZZ_CHECK(store != NULL, "build succeeded without a store");
            check_store(&cfg, store);
            s2s_trust_store_release(store);
        } else {
            FUZZ_CHECK(store == NULL, "failed build handed out a store");
            FUZZ_CHECK(err.text[0] != '\0', "build failed without an error text");
        }
        fuzz_check_err_queue("s2s_trust_store_build");
    }
    s2s_trust_config_free(&cfg);
    s2s_trust_config_free(&cfg); /* safe twice: it resets what it freed */
    free(text);
    return 0;
}
