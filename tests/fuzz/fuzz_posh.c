/*
 * fuzz_posh.c - bytes from a web server -> s2s_trust_posh_parse (the POSH
 * document reader, core/s2s_trust_posh.h), then everything that uses what
 * it read: the hop rules and the match.
 *
 * Input: the document's bytes, as an exact-size heap copy (ASan sees a
 * read one byte past the end).
 *
 * Asserted:
 *   - the same input reads the same way twice (no hidden state);
 *   - `why` is terminated and printable ASCII (input bytes never land in
 *     it), and says something whenever the status is not OK;
 *   - a refused document leaves nothing behind but for BAD_EXPIRES and
 *     NO_FINGERPRINTS_OR_URL, which keep what they read;
 *   - an OK document: a usable fingerprint or a url; expires within
 *     1..S2S_TRUST_POSH_MAX_EXPIRES; every fingerprint 32 (sha-256) or 64
 *     (sha-512) bytes; at most S2S_TRUST_POSH_MAX_FP; the url terminated,
 *     at most S2S_TRUST_POSH_MAX_URL bytes;
 *   - base64 is canonical: when the input holds no escape at all, each
 *     fingerprint's base64, encoded again, appears in it verbatim;
 *   - only a document within S2S_TRUST_POSH_MAX_DOC bytes is read;
 *   - the hop rules and the match run on whatever was read (the input
 *     itself as the leaf's DER), and leave OpenSSL's error queue empty.
 */
#include <stdlib.h>
#include <string.h>

#include "core/s2s_trust_posh.h"
#include "fuzz.h"

int FuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

void FuzzerCleanup(void)
{
}

static void check_why(const char *why, size_t cap, s2s_trust_posh_status_t st)
{
    FUZZ_CHECK(memchr(why, '\0', cap) != NULL, "why not terminated");
    for (const char *p = why; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in why '%s'", (unsigned char)*p, why);
    FUZZ_CHECK(st == S2S_TRUST_POSH_OK || why[0] != '\0', "status %s without a reason", s2s_trust_posh_status_name(st));
}

static void check_doc(const s2s_trust_posh_doc_t *d, s2s_trust_posh_status_t st, const uint8_t *in, size_t len)
{
    char b64[100];

    FUZZ_CHECK(d->n_fp <= S2S_TRUST_POSH_MAX_FP, "%zu fingerprints", d->n_fp);
    FUZZ_CHECK(memchr(d->url, '\0', sizeof d->url) != NULL, "url not terminated");
    if (st == S2S_TRUST_POSH_MALFORMED || st == S2S_TRUST_POSH_TOO_LARGE) {
        FUZZ_CHECK(d->n_fp == 0 && !d->has_url && d->expires == 0, "a refused document left data");
        return;
    }
    for (size_t i = 0; i < d->n_fp; i++) {
        const s2s_trust_posh_fp_t *fp = &d->fp[i];
        FUZZ_CHECK(fp->len == (fp->alg == S2S_TRUST_POSH_SHA512 ? 64u : 32u), "fingerprint %zu: %zu bytes", i, fp->len);
        s2s_trust_posh_base64(fp->digest, fp->len, b64, sizeof b64);
        if (memchr(in, '\\', len) == NULL)
            FUZZ_CHECK(memmem(in, len, b64, strlen(b64)) != NULL, "fingerprint %zu is not the input's base64", i);
    }
    if (st != S2S_TRUST_POSH_OK)
        return;
    FUZZ_CHECK(d->n_fp > 0 || d->has_url, "OK without fingerprint or url");
    FUZZ_CHECK(d->expires >= 1 && d->expires <= S2S_TRUST_POSH_MAX_EXPIRES, "expires %u", (unsigned)d->expires);
    FUZZ_CHECK(strlen(d->url) <= S2S_TRUST_POSH_MAX_URL, "url too long");
    FUZZ_CHECK(d->has_url || d->url[0] == '\0', "url without has_url");
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    unsigned char *in = fuzz_dup(buf, len);
    static s2s_trust_posh_doc_t a, b, out;
    char why_a[160], why_b[160];
    s2s_trust_posh_status_t sa = s2s_trust_posh_parse(in, len, &a, why_a, sizeof why_a);
    s2s_trust_posh_status_t sb = s2s_trust_posh_parse(in, len, &b, why_b, sizeof why_b);
    size_t idx = 0;
    int m;

    FUZZ_CHECK(sa == sb && memcmp(&a, &b, sizeof a) == 0 && strcmp(why_a, why_b) == 0, "two reads differ");
    FUZZ_CHECK(len <= S2S_TRUST_POSH_MAX_DOC || sa == S2S_TRUST_POSH_TOO_LARGE, "%zu bytes read", len);
    check_why(why_a, sizeof why_a, sa);
    check_doc(&a, sa, in, len);

    /* The hop rules on what was read, the document as both ends. */
    (void)s2s_trust_posh_url_ok(a.url);
    if (sa == S2S_TRUST_POSH_OK && s2s_trust_posh_delegate(&a, &a, &out) == S2S_TRUST_POSH_OK)
        FUZZ_CHECK(out.n_fp > 0 && out.expires == a.expires, "a delegation without fingerprints");
    m = s2s_trust_posh_match(&a, in, len, &idx);
    FUZZ_CHECK(m == 0 || (m == 1 && idx < a.n_fp), "match %d at %zu of %zu", m, idx, a.n_fp);
    fuzz_check_err_queue("s2s_trust_posh_match");
    free(in);
    return 0;
}
