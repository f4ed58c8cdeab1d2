/*
 * bench/pool_scale.c - a large server's pool: how store build (what a
 * reload costs) and one verification grow with the number of intermediates
 * the store holds (configured plus learned), in the core alone.
 *
 *   pool_scale DIR N [N...]
 *
 * For each N, a root and N intermediates under it (each its own subject,
 * all sharing one P-256 key, which keeps generation fast and changes
 * nothing for the store: it indexes by name and bytes) and one leaf under
 * the middle intermediate are minted in memory and written to DIR; then the
 * store is built from DIR (timed, RSS before and after) and the leaf is
 * verified leaf-only and with its intermediate for about a second each.
 * Prints one line per N; exits 2 if the leaf does not verify (the numbers
 * would mean nothing). `make bench-scale` runs 100 1000 10000.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/s2s_trust_config.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verdict.h"
#include "core/s2s_trust_verify.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static void die(const char *what)
{
    fprintf(stderr, "pool_scale: %s\n", what);
    exit(1);
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || !X509_add_ext(cert, ext, -1))
        die("extension");
    X509_EXTENSION_free(ext);
}

/* A certificate for `cn` with `key`, issued by (issuer, issuer_key); a CA
 * unless `leaf`; issuer NULL = self-signed. */
static X509 *mint(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial, int leaf)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();

    if (x == NULL || name == NULL)
        die("memory");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600);
    X509_set_pubkey(x, key);
    add_ext(x, issuer != NULL ? issuer : x, NID_subject_key_identifier, "hash");
    add_ext(x, issuer != NULL ? issuer : x, NID_authority_key_identifier, "keyid:always");
    if (leaf) {
        char san[300];
        snprintf(san, sizeof san, "DNS:%s", cn);
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
        add_ext(x, issuer, NID_subject_alt_name, san);
    } else {
        add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, issuer != NULL ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0)
        die("sign");
    X509_NAME_free(name);
    return x;
}

static void write_pem(const char *dir, const char *file, X509 **certs, int n)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, file);
    if ((f = fopen(path, "w")) == NULL)
        die(path);
    for (int i = 0; i < n; i++)
        if (!PEM_write_X509(f, certs[i]))
            die("write");
    fclose(f);
}

static double rate(s2s_trust_store_t *store, const s2s_trust_der_t *der, size_t n)
{
    double t0 = now_s(), t;
    long count = 0;

    do {
        for (int i = 0; i < 100; i++)
            if (s2s_trust_verify_chain(store, "leaf.scale.test", 15, der, n, NULL) != S2S_TRUST_OK) {
                fprintf(stderr, "pool_scale: the leaf does not verify\n");
                exit(2);
            }
        count += 100;
    } while ((t = now_s() - t0) < 1.0);
    return (double)count / t;
}

static void one(const char *dir, int n)
{
    EVP_PKEY *root_key = EVP_EC_gen("P-256"), *ca_key = EVP_EC_gen("P-256"), *leaf_key = EVP_EC_gen("P-256");
    X509 *root, **pool = calloc((size_t)n, sizeof *pool), *leaf;
    char cn[64], conf[4096];
    unsigned char *leaf_der = NULL, *inter_der = NULL;
    int leaf_len, inter_len;
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;
    long rss0, rss1;
    double t0, build_s;
    FILE *f;

    if (root_key == NULL || ca_key == NULL || leaf_key == NULL || pool == NULL)
        die("keys");
    root = mint("Scale Root", root_key, NULL, NULL, 1, 0);
    for (int i = 0; i < n; i++) {
        snprintf(cn, sizeof cn, "Scale Intermediate %d", i);
        pool[i] = mint(cn, ca_key, root, root_key, 1000 + i, 0);
    }
    leaf = mint("leaf.scale.test", leaf_key, pool[n / 2], ca_key, 7, 1);
    write_pem(dir, "root.pem", &root, 1);
    write_pem(dir, "pool.pem", pool, n);
    snprintf(conf, sizeof conf, "%s/scale.conf", dir);
    if ((f = fopen(conf, "w")) == NULL)
        die(conf);
    fprintf(f, "ca_file = \"%s/root.pem\";\nintermediate_file = \"%s/pool.pem\";\nverdict_cache_size = 0;\n", dir, dir);
    fclose(f);

    s2s_trust_config_defaults(&cfg);
    if (s2s_trust_config_read_file(conf, &cfg, &err) != 0)
        die(err.text);
    rss0 = rss_kb();
    t0 = now_s();
    if (s2s_trust_store_build(&cfg, &store, &err) != 0)
        die(err.text);
    build_s = now_s() - t0;
    rss1 = rss_kb();
    s2s_trust_config_free(&cfg);

    leaf_len = i2d_X509(leaf, &leaf_der);
    inter_len = i2d_X509(pool[n / 2], &inter_der);
    {
        s2s_trust_der_t der[2] = { { leaf_der, (size_t)leaf_len }, { inter_der, (size_t)inter_len } };
        double leaf_only = rate(store, der, 1), with_inter = rate(store, der, 2);
        printf("pool %6d: build %9.1f ms (%7.1f us per certificate), store RSS +%7ld KiB (%5.2f KiB per certificate); "
               "verify leaf only %7.0f/s, leaf + intermediate %7.0f/s\n",
               n, build_s * 1000, build_s * 1e6 / n, rss1 - rss0, (double)(rss1 - rss0) / n, leaf_only, with_inter);
        fflush(stdout);
    }
    s2s_trust_store_release(store);
    OPENSSL_free(leaf_der);
    OPENSSL_free(inter_der);
    for (int i = 0; i < n; i++)
        X509_free(pool[i]);
    free(pool);
    X509_free(root);
    X509_free(leaf);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pool_scale DIR N [N...]\n");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        int n = atoi(argv[i]);
        if (n < 1 || n > 1000000)
            die("N must be 1..1000000");
        one(argv[1], n);
    }
    return 0;
}
