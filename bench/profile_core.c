/*
 * bench/profile_core.c - the core's s2s_trust_verify_chain in a loop, no VM,
 * for perf/callgrind (`make bench-profile`).
 *
 *   profile_core DIR SECONDS [full|cached|fill]
 *
 * DIR is one flavour of the bench PKI (bench/gen_pki.sh): the store is built
 * from DIR/bench.conf (root as anchor, intermediate in the pool) and every
 * leaf is verified leaf-only, as ejabberd hands it over, cycling for SECONDS
 * seconds; with `full` the intermediate is presented too; with `cached` the
 * first 10 leaves go through the verdict cache (s2s_trust_verify_cached,
 * repeat peers; bench.conf has the default cache on); `fill` sends every
 * leaf under 24 names (1 right, 23 wrong) through the cache once, past its
 * bound, and prints the cache's own accounting and the RSS it added
 * (SECONDS is ignored). Prints chains/s;
 * exits 2 if a chain that should verify does not. With
 * FLOORS_PROVIDERS=default,base,legacy those providers are loaded first, as
 * Erlang's crypto NIF does in a VM (see floors.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/provider.h>

#include "core/s2s_trust_cache.h"
#include "core/s2s_trust_config.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verdict.h"
#include "core/s2s_trust_verify.h"

typedef struct {
    unsigned char *data;
    size_t len;
} blob_t;

static int read_file(const char *path, blob_t *b)
{
    FILE *f = fopen(path, "rb");
    long len;

    if (f == NULL)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (b->data = malloc((size_t)len)) == NULL || fread(b->data, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        return -1;
    }
    b->len = (size_t)len;
    fclose(f);
    return 0;
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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char path[4096];
    const char *flavour;
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store;
    blob_t inter, *leaves = NULL;
    char **hosts = NULL;
    size_t n = 0, done = 0, i = 0;
    bool full, cached, fill;
    double seconds, t0, w;

    if (argc < 3) {
        fprintf(stderr, "usage: profile_core DIR SECONDS [full]\n");
        return 1;
    }
    seconds = atof(argv[2]);
    const char *provs = getenv("FLOORS_PROVIDERS");
    if (provs != NULL && *provs != '\0') {
        char *list = strdup(provs), *save = NULL;
        for (char *name = strtok_r(list, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save))
            if (OSSL_PROVIDER_load(NULL, name) == NULL) {
                fprintf(stderr, "profile_core: cannot load provider %s\n", name);
                return 2;
            }
        free(list);
    }
    full = argc > 3 && strcmp(argv[3], "full") == 0;
    cached = argc > 3 && strcmp(argv[3], "cached") == 0;
    fill = argc > 3 && strcmp(argv[3], "fill") == 0;
    flavour = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];

    snprintf(path, sizeof path, "%s/bench.conf", argv[1]);
    s2s_trust_config_defaults(&cfg);
    if (s2s_trust_config_read_file(path, &cfg, &err) != 0 || s2s_trust_store_build(&cfg, &store, &err) != 0) {
        fprintf(stderr, "profile_core: %s:%d: %s\n", err.file, err.line, err.text);
        return 2;
    }
    s2s_trust_config_free(&cfg);
    snprintf(path, sizeof path, "%s/int.der", argv[1]);
    if (read_file(path, &inter) != 0) {
        fprintf(stderr, "profile_core: cannot read %s\n", path);
        return 2;
    }
    for (size_t cap = 0;;) {
        blob_t b;
        snprintf(path, sizeof path, "%s/leaves/host-%zu.der", argv[1], n + 1);
        if (read_file(path, &b) != 0)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            leaves = realloc(leaves, cap * sizeof *leaves);
            hosts = realloc(hosts, cap * sizeof *hosts);
            if (leaves == NULL || hosts == NULL)
                return 2;
        }
        leaves[n] = b;
        if (asprintf(&hosts[n], "host-%zu.%s.test", n + 1, flavour) < 0)
            return 2;
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "profile_core: no leaves in %s/leaves\n", argv[1]);
        return 2;
    }
    if (cached && n > 10)
        n = 10;
    if (fill) {
        s2s_trust_cache_stats_t st;
        long rss0 = rss_kb(), pairs = 0;
        char name[300];
        for (int k = 0; k < 24; k++)
            for (size_t j = 0; j < n; j++, pairs++) {
                s2s_trust_der_t one = { leaves[j].data, leaves[j].len };
                if (k == 0)
                    snprintf(name, sizeof name, "%s", hosts[j]);
                else
                    snprintf(name, sizeof name, "wrong%d.%s", k, hosts[j]);
                int rc = s2s_trust_verify_cached(store, name, strlen(name), &one, 1);
                if (rc != (k == 0 ? S2S_TRUST_OK : S2S_TRUST_NAME_MISMATCH)) {
                    fprintf(stderr, "profile_core: %s: verdict %d\n", name, rc);
                    return 2;
                }
            }
        s2s_trust_cache_stats(s2s_trust_cache_of(store), &st);
        printf("%s: %ld distinct pairs through the cache: capacity %zu, entries %zu, evictions %llu, "
               "allocated %zu bytes; RSS +%ld KiB\n", flavour, pairs, st.capacity, st.entries,
               (unsigned long long)st.evictions, st.bytes, rss_kb() - rss0);
        s2s_trust_store_release(store);
        return 0;
    }

    t0 = now();
    do {
        for (int k = 0; k < 16; k++, i = (i + 1) % n, done++) {
            s2s_trust_der_t chain[2] = { { leaves[i].data, leaves[i].len }, { inter.data, inter.len } };
            int rc = cached ? s2s_trust_verify_cached(store, hosts[i], strlen(hosts[i]), chain, 1)
                            : s2s_trust_verify_chain(store, hosts[i], strlen(hosts[i]), chain, full ? 2 : 1, NULL);
            if (rc != S2S_TRUST_OK) {
                fprintf(stderr, "profile_core: %s: verdict %d\n", hosts[i], rc);
                return 2;
            }
        }
        w = now() - t0;
    } while (w < seconds);
    printf("%s%s: %zu chains in %.2f s: %.1f chains/s\n", flavour,
           full ? " (full chain)" : cached ? " (10 leaves, verdict cache)" : "", done, w,
           (double)done / w);
    s2s_trust_store_release(store);
    return 0;
}
