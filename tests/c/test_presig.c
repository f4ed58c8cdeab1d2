/*
 * test_presig.c - the signature shortcut (s2s_trust_store_presigned) is
 * verdict-equivalent to OpenSSL's own chain check.
 *
 * Every store is built twice: normally (pool signatures verified at build,
 * the verifier's chain check skips them; presented copies of pool
 * certificates not parsed again, only the candidates by name handed to
 * OpenSSL: s2s_trust_pool_index.h) and with
 * S2S_TRUST_NO_SIG_SHORTCUT=1 S2S_TRUST_NO_POOL_INDEX=1 (nothing recorded:
 * every presented byte parsed, X509_verify_cert runs OpenSSL's
 * internal_verify untouched). The two must agree on the verdict
 * and on what explain reports (depth, OpenSSL code, failing certificate,
 * built chain) for every certificate of the test PKI, under every policy
 * variant, at pinned times on both sides of the chain's validity edges, and
 * for every input of the committed fuzz corpus. Revocation of the pool
 * intermediate, its expiry and its name constraints must still bite.
 */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "core/s2s_trust_time.h"
#include "core/s2s_trust_verdict.h"
#include "testing.h"
#include "tests.h"

/* The store `extra` describes, with (on) and without (off) the shortcut. */
static void build_pair(const char *text_or_extra, bool full_text, s2s_trust_store_t **on, s2s_trust_store_t **off)
{
    *on = full_text ? store_from_text("presig-on.conf", text_or_extra) : test_store(text_or_extra);
    setenv("S2S_TRUST_NO_SIG_SHORTCUT", "1", 1);
    setenv("S2S_TRUST_NO_POOL_INDEX", "1", 1);
    *off = full_text ? store_from_text("presig-off.conf", text_or_extra) : test_store(text_or_extra);
    unsetenv("S2S_TRUST_NO_SIG_SHORTCUT");
    unsetenv("S2S_TRUST_NO_POOL_INDEX");
    if (*off != NULL)
        CHECK(s2s_trust_store_presigned_count(*off) == 0 && s2s_trust_store_pool_index(*off) == NULL);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Verify on both stores, with and without details; 1 if they agree. */
static int compare(s2s_trust_store_t *on, s2s_trust_store_t *off, const char *what, const char *domain,
                   const s2s_trust_der_t *der, size_t n, int *verdict_out)
{
    s2s_trust_details_t a, b;
    int va = s2s_trust_verify_chain(on, domain, strlen(domain), der, n, &a);
    int vb = s2s_trust_verify_chain(off, domain, strlen(domain), der, n, &b);
    int pa = s2s_trust_verify_chain(on, domain, strlen(domain), der, n, NULL);
    int pb = s2s_trust_verify_chain(off, domain, strlen(domain), der, n, NULL);
    bool same = va == vb && pa == pb && va == pa;

    if (same && va >= 0) {
        same = a.error_depth == b.error_depth && a.openssl_code == b.openssl_code &&
               a.matched_by == b.matched_by && same_str(a.error_subject, b.error_subject) &&
               same_str(a.detail, b.detail) && a.chain_count == b.chain_count;
        for (size_t i = 0; same && i < a.chain_count; i++)
            same = same_str(a.chain[i].subject, b.chain[i].subject) && same_str(a.chain[i].issuer, b.chain[i].issuer);
    }
    CHECK_MSG(same, "%s for %s: shortcut %s (depth %d, code %d), OpenSSL %s (depth %d, code %d)", what, domain,
              s2s_trust_verdict_name(va), va >= 0 ? a.error_depth : -9, va >= 0 ? a.openssl_code : -9,
              s2s_trust_verdict_name(vb), vb >= 0 ? b.error_depth : -9, vb >= 0 ? b.openssl_code : -9);
    if (verdict_out != NULL)
        *verdict_out = va;
    if (va >= 0)
        s2s_trust_details_free(&a);
    if (vb >= 0)
        s2s_trust_details_free(&b);
    return same;
}

static int compare_file(s2s_trust_store_t *on, s2s_trust_store_t *off, const char *file, const char *domain,
                        bool leaf_only, int *verdict)
{
    chain_t chain;
    int same;

    if (chain_load(file, &chain) != 0) {
        CHECK_MSG(0, "cannot load %s", file);
        return 0;
    }
    same = compare(on, off, file, domain, chain.der, leaf_only ? 1 : chain.n, verdict);
    chain_free(&chain);
    return same;
}

void test_presig_pairs_recorded(void)
{
    s2s_trust_store_t *on, *off;

    build_pair("", false, &on, &off);
    /* inter and inter-nc, both issued by the root */
    if (on != NULL)
        CHECK(s2s_trust_store_presigned_count(on) >= 2);
    s2s_trust_store_release(on);
    s2s_trust_store_release(off);
}

/* Every certificate file of the PKI, leaf alone and as its .pem holds it
 * (chain files: with their intermediates), under its own name and another,
 * for every policy variant. */
void test_presig_equivalent_on_the_pki(void)
{
    char crl[2048], root_na[64], root_nb[64], leaf_na[64];
    const char *extras[] = { "", crl, root_na, "crl_check = \"require\";", "insecure_allow_cn_id = true;",
                             "require_server_auth_eku = true;", "security_level = 0;", "max_depth = 1;",
                             root_nb, leaf_na };
    /* Under valgrind (make test-c-valgrind: memory errors, not equivalence)
     * the first four variants; every other run compares all ten. */
    size_t variants = RUNNING_ON_VALGRIND ? 4 : sizeof extras / sizeof extras[0];
    DIR *d = opendir(pki_path(""));
    struct dirent *ent;
    char **files = NULL;
    size_t nfiles = 0, compared = 0;
    BIO *bio;
    X509 *root = NULL, *good = NULL;

    snprintf(crl, sizeof crl, "crl_file = [\"%s\", \"%s\"];", pki_path("root.crl.pem"), pki_path("inter.crl.pem"));
    if ((bio = BIO_new_file(pki_path("root.pem"), "r")) != NULL)
        root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if ((bio = BIO_new_file(pki_path("good.pem"), "r")) != NULL)
        good = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (root == NULL || good == NULL || d == NULL) {
        CHECK(0);
        goto done;
    }
    {
        int64_t t1 = 0, t2 = 0, t3 = 0;
        CHECK(s2s_trust_asn1_time_seconds(X509_get0_notAfter(root), &t1) == 0);
        CHECK(s2s_trust_asn1_time_seconds(X509_get0_notBefore(root), &t2) == 0);
        CHECK(s2s_trust_asn1_time_seconds(X509_get0_notAfter(good), &t3) == 0);
        /* The root (and the pool intermediates with it) expired; not valid yet; the leaf just expired. */
        snprintf(root_na, sizeof root_na, "verification_time = %lldL;", (long long)t1);
        snprintf(root_nb, sizeof root_nb, "verification_time = %lldL;", (long long)t2 - 1);
        snprintf(leaf_na, sizeof leaf_na, "verification_time = %lldL;", (long long)t3);
    }
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        char **grown;
        if (len < 5 || strcmp(ent->d_name + len - 4, ".pem") != 0 || strstr(ent->d_name, ".crl") != NULL ||
            strcmp(ent->d_name, "anchors.pem") == 0 || strcmp(ent->d_name, "pool.pem") == 0)
            continue;
        grown = realloc(files, (nfiles + 1) * sizeof *files);
        if (grown == NULL)
            break;
        files = grown;
        files[nfiles++] = strdup(ent->d_name);
    }
    closedir(d);
    CHECK(nfiles >= 40);

    for (size_t e = 0; e < variants; e++) {
        s2s_trust_store_t *on, *off;
        build_pair(extras[e], false, &on, &off);
        if (on == NULL || off == NULL) {
            s2s_trust_store_release(on);
            s2s_trust_store_release(off);
            continue;
        }
        CHECK(s2s_trust_store_presigned_count(on) >= 2);
        for (size_t i = 0; i < nfiles; i++) {
            char domain[256];
            snprintf(domain, sizeof domain, "%.*s.test", (int)strcspn(files[i], "."), files[i]);
            for (int leaf_only = 0; leaf_only < 2; leaf_only++) {
                compared += (size_t)compare_file(on, off, files[i], domain, leaf_only, NULL);
                compared += (size_t)compare_file(on, off, files[i], "other.test", leaf_only, NULL);
            }
        }
        s2s_trust_store_release(on);
        s2s_trust_store_release(off);
    }
    CHECK(compared >= nfiles * 4 * (variants - 2));
done:
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    X509_free(root);
    X509_free(good);
    ERR_clear_error();
}

void test_presig_checks_still_bite(void)
{
    const char *crl = crl_revoking_inter();
    char extra[8192];
    s2s_trust_store_t *on, *off;
    int v;

    /* Revocation of the pool intermediate by the root's CRL. */
    CHECK(crl != NULL);
    snprintf(extra, sizeof extra, "crl_file = [\"%s\", \"%s\"];", crl ? crl : "/nonexistent",
             pki_path("inter.crl.pem"));
    build_pair(extra, false, &on, &off);
    if (on != NULL && off != NULL) {
        CHECK(compare_file(on, off, "good.pem", "good.test", true, &v) && v == S2S_TRUST_REVOKED);
        CHECK(compare_file(on, off, "ncok.pem", "ok.allowed.test", true, &v) && v == S2S_TRUST_OK);
    }
    s2s_trust_store_release(on);
    s2s_trust_store_release(off);

    /* Name constraints of the pool intermediate inter-nc. */
    build_pair("", false, &on, &off);
    if (on != NULL && off != NULL) {
        CHECK(compare_file(on, off, "ncbad.pem", "evil.test", true, &v) && v == S2S_TRUST_NAME_CONSTRAINTS);
        CHECK(compare_file(on, off, "ncxmpp.pem", "victim.test", true, &v) && v == S2S_TRUST_NAME_CONSTRAINTS);
        CHECK(compare_file(on, off, "ncok.pem", "ok.allowed.test", true, &v) && v == S2S_TRUST_OK);
        /* A tampered leaf is still refused: only store-owned pairs are skipped. */
        CHECK(compare_file(on, off, "badsig.pem", "badsig.test", true, &v) && v == S2S_TRUST_BAD_SIGNATURE);
    }
    s2s_trust_store_release(on);
    s2s_trust_store_release(off);
}

/* The committed fuzz corpus, replayed on both. */
void test_presig_fuzz_corpus_equivalence(void)
{
    const char *rel = getenv("S2S_TRUST_FUZZ_DIR") ? getenv("S2S_TRUST_FUZZ_DIR") : "tests/fuzz";
    char dir[PATH_MAX], cdir[PATH_MAX + 64], text[4 * PATH_MAX + 1024], t[64] = "";
    const char *variants[] = { "", "insecure_allow_cn_id = true;\nrequire_server_auth_eku = true;\n" };
    int inputs = 0;

    if (realpath(rel, dir) == NULL) {
        CHECK_MSG(0, "no %s (run from the top directory or set S2S_TRUST_FUZZ_DIR)", rel);
        return;
    }
    snprintf(cdir, sizeof cdir, "%s/pki/time", dir);
    {
        FILE *f = fopen(cdir, "r");
        if (f != NULL) {
            if (fgets(t, sizeof t, f) == NULL)
                t[0] = '\0';
            fclose(f);
            t[strcspn(t, "\r\n")] = '\0';
        }
    }
    snprintf(cdir, sizeof cdir, "%s/corpus/fuzz_verify", dir);
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        s2s_trust_store_t *on, *off;
        DIR *d;
        struct dirent *ent;

        snprintf(text, sizeof text,
                 "ca_file = \"%s/pki/root.pem\";\nintermediate_file = \"%s/pki/pool.pem\";\n"
                 "crl_file = [\"%s/pki/root.crl.pem\", \"%s/pki/inter.crl.pem\"];\n%s%s%s%s",
                 dir, dir, dir, dir, t[0] ? "verification_time = \"" : "", t, t[0] ? "\";\n" : "", variants[v]);
        build_pair(text, true, &on, &off);
        d = opendir(cdir);
        CHECK(d != NULL);
        while (d != NULL && on != NULL && off != NULL && (ent = readdir(d)) != NULL) {
            char path[PATH_MAX + 400];
            FILE *f;
            unsigned char buf[65536];
            size_t len, pos = 0, n = 0, dlen, want;
            s2s_trust_der_t der[12];
            char domain[256];

            if (ent->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", cdir, ent->d_name);
            if ((f = fopen(path, "rb")) == NULL)
                continue;
            len = fread(buf, 1, sizeof buf, f);
            fclose(f);
            inputs++;
            /* fuzz_verify's framing: u8 L, domain, up to 12 x (u16 BE length, DER) */
            want = pos < len ? buf[pos++] : 0;
            dlen = want < len - pos ? want : len - pos;
            memcpy(domain, buf + pos, dlen);
            domain[dlen] = '\0';
            pos += dlen;
            while (len - pos >= 2 && n < 12) {
                want = ((size_t)buf[pos] << 8) | buf[pos + 1];
                pos += 2;
                der[n].data = buf + pos;
                der[n].len = want < len - pos ? want : len - pos;
                pos += der[n].len;
                n++;
            }
            /* strlen: a domain with a NUL is compared up to it, on both sides alike */
            compare(on, off, ent->d_name, domain, der, n, NULL);
        }
        if (d != NULL)
            closedir(d);
        s2s_trust_store_release(on);
        s2s_trust_store_release(off);
    }
    CHECK(inputs >= 40);
}
