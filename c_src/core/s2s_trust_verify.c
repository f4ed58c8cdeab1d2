/* s2s_trust_verify.c - see s2s_trust_verify.h */
#include "core/s2s_trust_verify.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/s2s_trust_describe.h"
#include "core/s2s_trust_time.h"

/* Everything one verification allocates, so there is one cleanup path. */
typedef struct {
    X509 **certs;
    size_t parsed;
    bool *from_pool; /* certs[i] is the store's own object (s2s_trust_pool_index.h) */
    size_t *pool_pos; /* its position in the pool, where from_pool */
    size_t known;
    STACK_OF(X509) *untrusted;
    X509_STORE_CTX *ctx;
} work_t;

static void work_free(work_t *w)
{
    X509_STORE_CTX_free(w->ctx);
    /* Shallow: the pool's certificates belong to the store. */
    sk_X509_free(w->untrusted);
    for (size_t i = 0; i < w->parsed; i++)
        X509_free(w->certs[i]);
    free(w->certs);
    free(w->from_pool);
    free(w->pool_pos);
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;

    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

/* RFC 2253 form with control characters escaped by OpenSSL, UTF-8 kept:
 * subjects end up in logs and exports, which escape again for their format. */
char *s2s_trust_name_string(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    char *data;
    long len;

    if (bio == NULL)
        return NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        len = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)len + 1);
        if (out != NULL) {
            memcpy(out, data, (size_t)len);
            out[len] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}

void s2s_trust_time_string(const ASN1_TIME *t, char out[32])
{
    struct tm tm;

    out[0] = '\0';
    if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Fill what describes the leaf and the built chain. -1 only on OOM. */
static int describe(s2s_trust_details_t *d, X509 *leaf, X509_STORE_CTX *ctx)
{
    if (leaf != NULL && s2s_trust_details_leaf(d, leaf) != 0)
        return -1;
    if (ctx != NULL) {
        STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
        int n = sk_X509_num(chain);
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);

        if (n > 0) {
            d->chain = calloc((size_t)n, sizeof *d->chain);
            if (d->chain == NULL)
                return -1;
            for (int i = 0; i < n; i++) {
                X509 *c = sk_X509_value(chain, i);
                d->chain[i].subject = s2s_trust_name_string(X509_get_subject_name(c));
                d->chain[i].issuer = s2s_trust_name_string(X509_get_issuer_name(c));
                d->chain_count++;
                if (d->chain[i].subject == NULL || d->chain[i].issuer == NULL)
                    return -1;
            }
        }
        if (d->error_depth >= 0 && bad != NULL) {
            d->error_subject = s2s_trust_name_string(X509_get_subject_name(bad));
            if (d->error_subject == NULL)
                return -1;
        }
    }
    return 0;
}

/* In if_available mode an issuer we hold no (current) CRL for passes; a
 * certificate listed in a CRL we do hold is still refused, because OpenSSL
 * goes on to check revocation after this callback accepts the staleness. */
int s2s_trust_crl_if_available_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok) {
        switch (X509_STORE_CTX_get_error(ctx)) {
        case X509_V_ERR_UNABLE_TO_GET_CRL:
        case X509_V_ERR_CRL_HAS_EXPIRED:
        case X509_V_ERR_CRL_NOT_YET_VALID:
            X509_STORE_CTX_set_error(ctx, X509_V_OK);
            return 1;
        default:
            break;
        }
    }
    return ok;
}

/*
 * The chain's signature and time checks: OpenSSL 3.0's internal_verify
 * (crypto/x509/x509_vfy.c), rewritten with public accessors, with one
 * change: X509_verify is skipped for a (subject, issuer) pair of
 * store-owned certificates whose signature the store verified when it was
 * built (s2s_trust_store_presigned). Everything else runs as in OpenSSL, in
 * the same order, with the same errors, depths and callback calls: the
 * issuer's key usage, the issuer's key decoding, every certificate's
 * validity times (anchor included), and the verify callback at each depth.
 * Revocation, chain building, purpose, trust, name constraints and the
 * security level are checked by X509_verify_cert itself, before and after
 * this function, untouched. The one state this cannot reproduce is
 * ctx->current_issuer (3.0 has no setter): it is only read by CRL checks,
 * which run before this function, and by verify callbacks, ours does not.
 * Only installed when the store recorded at least one pair; the
 * differential tests (tests/c/test_presig.c) compare it with OpenSSL's own.
 */
static int fail_cb(X509_STORE_CTX *ctx, X509 *x, int depth, int err)
{
    /* OpenSSL's verify_cb_cert. */
    X509_STORE_CTX_set_error_depth(ctx, depth);
    X509_STORE_CTX_set_current_cert(ctx, x != NULL ? x : sk_X509_value(X509_STORE_CTX_get0_chain(ctx), depth));
    if (err != X509_V_OK)
        X509_STORE_CTX_set_error(ctx, err);
    return X509_STORE_CTX_get_verify_cb(ctx)(0, ctx);
}

static int check_cert_time(X509_STORE_CTX *ctx, X509 *x, int depth)
{
    /* OpenSSL's ossl_x509_check_cert_time, depth >= 0; X509_cmp_time
     * replaced by s2s_trust_time_cmp, its answer at less cost. */
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    unsigned long flags = X509_VERIFY_PARAM_get_flags(param);
    int64_t at;
    int i;

    if (flags & X509_V_FLAG_USE_CHECK_TIME) {
        at = (int64_t)X509_VERIFY_PARAM_get_time(param);
    } else if (flags & X509_V_FLAG_NO_CHECK_TIME) {
        return 1;
    } else {
        at = (int64_t)time(NULL);
    }
    i = s2s_trust_time_cmp(X509_get0_notBefore(x), at);
    if (i == 0 && !fail_cb(ctx, x, depth, X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD))
        return 0;
    if (i > 0 && !fail_cb(ctx, x, depth, X509_V_ERR_CERT_NOT_YET_VALID))
        return 0;
    i = s2s_trust_time_cmp(X509_get0_notAfter(x), at);
    if (i == 0 && !fail_cb(ctx, x, depth, X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD))
        return 0;
    if (i < 0 && !fail_cb(ctx, x, depth, X509_V_ERR_CERT_HAS_EXPIRED))
        return 0;
    return 1;
}

static int signing_allowed(X509 *issuer, X509 *subject)
{
    /* OpenSSL's ossl_x509_signing_allowed; X509_get_key_usage is all ones
     * without a keyUsage extension, as ku_reject assumes. */
    if (X509_get_extension_flags(subject) & EXFLAG_PROXY) {
        if ((X509_get_key_usage(issuer) & KU_DIGITAL_SIGNATURE) == 0)
            return X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE;
    } else if ((X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN) == 0) {
        return X509_V_ERR_KEYUSAGE_NO_CERTSIGN;
    }
    return X509_V_OK;
}

static int presigned_verify(X509_STORE_CTX *ctx)
{
    const s2s_trust_store_t *store = X509_STORE_CTX_get_app_data(ctx);
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    unsigned long flags = X509_VERIFY_PARAM_get_flags(X509_STORE_CTX_get0_param(ctx));
    int n = sk_X509_num(chain) - 1;
    X509 *xi = sk_X509_value(chain, n);
    X509 *xs;

    /* No DANE here, so OpenSSL's bare_ta_signed case never arises. */
    if (X509_STORE_CTX_get_check_issued(ctx)(ctx, xi, xi)) {
        xs = xi;
    } else {
        if (flags & X509_V_FLAG_PARTIAL_CHAIN) {
            xs = xi;
            goto check_cert_time;
        }
        if (n <= 0) {
            if (!fail_cb(ctx, xi, 0, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE))
                return 0;
            xs = xi;
            goto check_cert_time;
        }
        n--;
        X509_STORE_CTX_set_error_depth(ctx, n);
        xs = sk_X509_value(chain, n);
    }
    while (n >= 0) {
        if (xs != xi ||
            ((flags & X509_V_FLAG_CHECK_SS_SIGNATURE) && (X509_get_extension_flags(xi) & EXFLAG_SS))) {
            EVP_PKEY *pkey;
            int issuer_depth = n + (xs == xi ? 0 : 1);
            int ret = xs == xi && (X509_get_extension_flags(xi) & EXFLAG_CA) == 0 ? X509_V_OK
                                                                                 : signing_allowed(xi, xs);

            if (ret != X509_V_OK && !fail_cb(ctx, xi, issuer_depth, ret))
                return 0;
            if (store != NULL && xs != xi && s2s_trust_store_presigned(store, xs, xi)) {
                /* Verified by the store at build: the same two objects. */
            } else if ((pkey = X509_get0_pubkey(xi)) == NULL) {
                if (!fail_cb(ctx, xi, issuer_depth, X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY))
                    return 0;
            } else if (X509_verify(xs, pkey) <= 0) {
                if (!fail_cb(ctx, xs, n, X509_V_ERR_CERT_SIGNATURE_FAILURE))
                    return 0;
            }
        }
    check_cert_time:
        if (!check_cert_time(ctx, xs, n))
            return 0;
        X509_STORE_CTX_set_current_cert(ctx, xs);
        X509_STORE_CTX_set_error_depth(ctx, n);
        if (!X509_STORE_CTX_get_verify_cb(ctx)(1, ctx))
            return 0;
        if (--n >= 0) {
            xi = xs;
            xs = sk_X509_value(chain, n);
        }
    }
    return 1;
}

int s2s_trust_chain_bounds(const s2s_trust_policy_t *policy, const s2s_trust_der_t *chain, size_t n,
                           s2s_trust_details_t *d)
{
    if (n == 0) {
        if (d != NULL)
            d->detail = dup_printf("the peer presented no certificate");
        return S2S_TRUST_NO_CERTIFICATE;
    }
    if (n > (size_t)policy->max_chain_certs) {
        if (d != NULL)
            /* "at least": the NIF hands over only the first few entries of a
             * longer list (the verdict is the same); explain has the count. */
            d->detail = dup_printf("at least %zu certificates presented, limit %d", n, policy->max_chain_certs);
        return S2S_TRUST_TOO_LONG;
    }
    /* Sizes first, for all of them: no parsing work for an oversized chain. */
    for (size_t i = 0; i < n; i++) {
        if (chain[i].data == NULL || chain[i].len == 0) {
            if (d != NULL)
                d->detail = dup_printf("certificate %zu is empty", i);
            return S2S_TRUST_MALFORMED;
        }
        if (chain[i].len > policy->max_cert_bytes) {
            if (d != NULL)
                d->detail = dup_printf("certificate %zu is %zu bytes, limit %zu", i, chain[i].len,
                                       policy->max_cert_bytes);
            return S2S_TRUST_TOO_LONG;
        }
    }
    return S2S_TRUST_OK;
}

static int parse_chain(const s2s_trust_store_t *store, const s2s_trust_policy_t *policy,
                       const s2s_trust_der_t *chain, size_t n, work_t *w, s2s_trust_details_t *d)
{
    int verdict = s2s_trust_chain_bounds(policy, chain, n, d);

    if (verdict != S2S_TRUST_OK)
        return verdict;
    w->certs = calloc(n, sizeof *w->certs);
    w->from_pool = calloc(n, sizeof *w->from_pool);
    w->pool_pos = calloc(n, sizeof *w->pool_pos);
    if (w->certs == NULL || w->from_pool == NULL || w->pool_pos == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const s2s_trust_pool_entry_t *held =
            s2s_trust_pool_index_find_der(s2s_trust_store_pool_index(store), chain[i].data, chain[i].len);

        if (held != NULL && X509_up_ref(held->cert) == 1) {
            /* Byte-identical to a pool certificate: the store's object,
             * already parsed (and its signature checked), is what parsing
             * these bytes would give; every check still runs on it. */
            w->from_pool[w->parsed] = true;
            w->pool_pos[w->parsed] = held->position;
            w->certs[w->parsed++] = held->cert;
            w->known++;
            continue;
        }
        X509 *x = NULL;
        const char *why = NULL;
        int parsed = s2s_trust_parse_presented(&chain[i], &x, &why);

        if (parsed != S2S_TRUST_OK) {
            if (parsed > 0 && d != NULL)
                d->detail = dup_printf("certificate %zu: %s", i, why);
            return parsed;
        }
        w->certs[w->parsed++] = x;
    }
    return S2S_TRUST_OK;
}

int s2s_trust_parse_presented(const s2s_trust_der_t *der, X509 **out, const char **why)
{
    const unsigned char *p = der->data;
    /* The core's own library context: the providers other code loaded into
     * the default one stay out of d2i_X509's decoder search. */
    X509 *x = X509_new_ex(s2s_trust_libctx(), NULL);

    *out = NULL;
    if (x == NULL)
        return -1;
    /* d2i_X509 frees and NULLs x on failure. */
    if (d2i_X509(&x, &p, (long)der->len) == NULL) {
        ERR_clear_error();
        *why = "not a DER X.509 certificate";
        return S2S_TRUST_MALFORMED;
    }
    if (p != der->data + der->len) {
        X509_free(x);
        *why = "trailing bytes after the certificate";
        return S2S_TRUST_MALFORMED;
    }
    *out = x;
    return S2S_TRUST_OK;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* More pool certificates than this reachable by name from one chain (many
 * cross-signs of one name): hand OpenSSL the whole pool instead. */
#define MAX_CANDIDATES 64

/*
 * The untrusted list for OpenSSL: the pool certificates whose subject is
 * the issuer name of a presented certificate or of one already picked
 * (transitively), in pool order, then the presented certificates that are
 * not the pool's. Chain building takes an untrusted issuer only by that
 * name match and only above untrusted certificates (s2s_trust_pool_index.h),
 * so these are all the candidates it could use, in the order it would meet
 * them: the verdict is the one the whole pool gives, at a cost that does
 * not grow with the pool. The pool's own objects presented by the peer are
 * listed once, at their pool position.
 */
static int untrusted_candidates(const s2s_trust_store_t *store, STACK_OF(X509) *pool, work_t *w)
{
    const s2s_trust_pool_index_t *index = s2s_trust_store_pool_index(store);
    size_t picked[MAX_CANDIDATES];
    X509 *todo[MAX_CANDIDATES + 16];
    size_t npicked = 0, ntodo = 0;
    bool whole_pool = index == NULL || w->parsed > 16;

    for (size_t i = 0; !whole_pool && i < w->parsed; i++) {
        bool seen = false;
        if (w->from_pool[i]) {
            for (size_t k = 0; k < npicked && !seen; k++)
                seen = picked[k] == w->pool_pos[i];
            if (seen)
                continue;
            if (npicked == MAX_CANDIDATES) {
                whole_pool = true;
                break;
            }
            picked[npicked++] = w->pool_pos[i];
        }
        todo[ntodo++] = w->certs[i];
    }
    while (!whole_pool && ntodo > 0) {
        X509 *x = todo[--ntodo];
        size_t n;
        const s2s_trust_pool_entry_t *e = s2s_trust_pool_index_by_subject(index, X509_get_issuer_name(x), &n);

        for (size_t j = 0; j < n && !whole_pool; j++) {
            bool seen = false;
            for (size_t k = 0; k < npicked && !seen; k++)
                seen = picked[k] == e[j].position;
            if (seen)
                continue;
            if (npicked == MAX_CANDIDATES || ntodo == sizeof todo / sizeof todo[0]) {
                whole_pool = true;
                break;
            }
            picked[npicked++] = e[j].position;
            todo[ntodo++] = e[j].cert;
        }
    }
    if (whole_pool) {
        w->untrusted = sk_X509_dup(pool);
    } else {
        qsort(picked, npicked, sizeof *picked, cmp_size);
        w->untrusted = sk_X509_new_reserve(NULL, (int)(npicked + w->parsed));
        for (size_t k = 0; w->untrusted != NULL && k < npicked; k++)
            if (sk_X509_push(w->untrusted, sk_X509_value(pool, (int)picked[k])) <= 0)
                return -1;
    }
    if (w->untrusted == NULL)
        return -1;
    for (size_t i = 1; i < w->parsed; i++)
        /* A pool object is in the list already (the whole pool, or picked
         * at its position): a second pointer would only be a duplicate. */
        if (!w->from_pool[i] && sk_X509_push(w->untrusted, w->certs[i]) <= 0)
            return -1;
    return 0;
}

static int setup_ctx(const s2s_trust_store_t *store, work_t *w, int64_t at)
{
    STACK_OF(X509) *pool = s2s_trust_store_intermediates(store);

    if (untrusted_candidates(store, pool, w) != 0)
        return -1;
    w->ctx = X509_STORE_CTX_new_ex(s2s_trust_libctx(), NULL);
    if (w->ctx == NULL ||
        X509_STORE_CTX_init(w->ctx, s2s_trust_store_anchors(store), w->certs[0], w->untrusted) != 1)
        return -1;
    if (s2s_trust_store_presigned_count(store) > 0) {
        X509_STORE_CTX_set_app_data(w->ctx, (void *)store);
        X509_STORE_CTX_set_verify(w->ctx, presigned_verify);
    }
    return s2s_trust_apply_policy(w->ctx, store, at);
}

int s2s_trust_apply_policy(X509_STORE_CTX *ctx, const s2s_trust_store_t *store, int64_t at)
{
    const s2s_trust_policy_t *policy = s2s_trust_store_policy(store);
    X509_VERIFY_PARAM *param;
    size_t crls;
    s2s_trust_store_info_t info;

    /* The peer is a TLS *server* whichever side opened the stream: an
     * initiating server presents its server certificate as client
     * certificate, and 2026 Let's Encrypt leaves carry serverAuth only. */
    if (X509_STORE_CTX_set_default(ctx, "ssl_server") != 1 ||
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1 ||
        X509_STORE_CTX_set_trust(ctx, X509_TRUST_SSL_SERVER) != 1)
        return -1;
    param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_depth(param, policy->max_depth);
    X509_VERIFY_PARAM_set_auth_level(param, policy->security_level);
    /* Always an explicit time, also when it is "now": the verdict is then
     * the one for exactly `at`, which its window (s2s_trust_window_t)
     * starts from, not for some later instant OpenSSL would read itself. */
    X509_VERIFY_PARAM_set_time(param, (time_t)at);

    s2s_trust_store_info(store, &info);
    crls = info.crls;
    if (policy->crl_check == S2S_TRUST_CRL_REQUIRE ||
        (policy->crl_check == S2S_TRUST_CRL_IF_AVAILABLE && crls > 0)) {
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        if (policy->crl_check == S2S_TRUST_CRL_IF_AVAILABLE)
            X509_STORE_CTX_set_verify_cb(ctx, s2s_trust_crl_if_available_cb);
    }
    return 0;
}

/* OpenSSL applies a CA's name constraints to the name types it knows
 * (dNSName, and a CN that looks like a host name). An XmppAddr or SRV-ID
 * otherName meets no constraint of its own type and would pass, so a CA
 * restricted to ".corp.example" could vouch for any XMPP domain that way.
 * When the match came from such a name, check the domain itself as a
 * dNSName against every CA above the leaf. Returns X509_V_OK, a
 * constraint error, or -1 when memory runs out. */
static int check_constraints_for(X509_STORE_CTX *ctx, const char *domain)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    X509 *probe = X509_new_ex(s2s_trust_libctx(), NULL);
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    int rv = -1;

    if (probe == NULL || names == NULL || gn == NULL || ia5 == NULL ||
        !ASN1_STRING_set(ia5, domain, (int)strlen(domain)))
        goto done;
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    ia5 = NULL;
    if (sk_GENERAL_NAME_push(names, gn) <= 0)
        goto done;
    gn = NULL;
    if (X509_add1_ext_i2d(probe, NID_subject_alt_name, names, 0, 0) != 1)
        goto done;
    /* Caches the SAN in the probe, which NAME_CONSTRAINTS_check reads. */
    (void)X509_get_extension_flags(probe);
    rv = X509_V_OK;
    for (int i = 1; i < sk_X509_num(chain) && rv == X509_V_OK; i++) {
        NAME_CONSTRAINTS *nc = X509_get_ext_d2i(sk_X509_value(chain, i), NID_name_constraints, NULL, NULL);
        if (nc != NULL) {
            rv = NAME_CONSTRAINTS_check(probe, nc);
            NAME_CONSTRAINTS_free(nc);
        }
    }
done:
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(names);
    X509_free(probe);
    ERR_clear_error();
    return rv;
}

static bool has_server_auth_eku(X509 *leaf)
{
    uint32_t flags = X509_get_extension_flags(leaf);
    return (flags & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
}

static void min_event(int64_t *until, int64_t at, const ASN1_TIME *t)
{
    int64_t v;

    if (s2s_trust_asn1_time_seconds(t, &v) == 0 && v > at && v < *until)
        *until = v;
}

int s2s_trust_verify_chain(const s2s_trust_store_t *store, const char *domain,
                           size_t domain_len, const s2s_trust_der_t *chain, size_t n,
                           s2s_trust_details_t *d)
{
    return s2s_trust_verify_chain_window(store, domain, domain_len, chain, n, d, NULL);
}

int s2s_trust_verify_chain_window(const s2s_trust_store_t *store, const char *domain,
                                  size_t domain_len, const s2s_trust_der_t *chain, size_t n,
                                  s2s_trust_details_t *d, s2s_trust_window_t *window)
{
    const s2s_trust_policy_t *policy = s2s_trust_store_policy(store);
    int64_t at = policy->has_verification_time ? policy->verification_time : (int64_t)time(NULL);
    work_t w = { 0 };
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    bool domain_ok;
    int verdict;
    int x509_err = X509_V_OK;

    ERR_clear_error();
    if (d != NULL) {
        memset(d, 0, sizeof *d);
        d->error_depth = -1;
        d->presented = (int)(n > 1000000 ? 1000000 : n);
    }
    domain_ok = domain != NULL && s2s_trust_identity_normalize(domain, domain_len, norm, sizeof norm) == 0;
    if (d != NULL && domain_ok)
        memcpy(d->domain, norm, strlen(norm) + 1);

    verdict = parse_chain(store, policy, chain, n, &w, d);
    if (verdict != S2S_TRUST_OK)
        goto done;

    if (setup_ctx(store, &w, at) != 0) {
        verdict = -1;
        goto done;
    }
    if (X509_verify_cert(w.ctx) != 1) {
        x509_err = X509_STORE_CTX_get_error(w.ctx);
        if (x509_err == X509_V_OK || x509_err == X509_V_ERR_OUT_OF_MEM) {
            /* OpenSSL itself failed (memory): not something the peer did. */
            verdict = -1;
            goto done;
        }
        verdict = (int)s2s_trust_verdict_from_x509_error(x509_err);
        if (d != NULL) {
            d->error_depth = X509_STORE_CTX_get_error_depth(w.ctx);
            d->openssl_code = x509_err;
            d->openssl_text = X509_verify_cert_error_string(x509_err);
            d->detail = dup_printf("depth %d: %s", d->error_depth, d->openssl_text);
        }
    } else if (policy->require_server_auth_eku && !has_server_auth_eku(w.certs[0])) {
        verdict = S2S_TRUST_BAD_PURPOSE;
        if (d != NULL) {
            d->error_depth = 0;
            d->detail = dup_printf("depth 0: no serverAuth extended key usage (require_server_auth_eku)");
        }
    } else if (!domain_ok) {
        verdict = S2S_TRUST_NAME_MISMATCH;
        if (d != NULL)
            d->detail = dup_printf("the domain is not a valid DNS name");
    } else {
        s2s_trust_id_type_t by = S2S_TRUST_ID_NONE;
        verdict = s2s_trust_identity_matches(w.certs[0], norm, policy->insecure_allow_cn_id, &by)
                      ? S2S_TRUST_OK
                      : S2S_TRUST_NAME_MISMATCH;
        if (verdict == S2S_TRUST_OK && by != S2S_TRUST_ID_DNS) {
            int nc = check_constraints_for(w.ctx, norm);
            if (nc < 0) {
                verdict = -1;
                goto done;
            }
            if (nc != X509_V_OK) {
                verdict = S2S_TRUST_NAME_CONSTRAINTS;
                if (d != NULL) {
                    d->openssl_code = nc;
                    d->openssl_text = X509_verify_cert_error_string(nc);
                    d->detail = dup_printf("a CA's name constraints forbid %s (matched by %s)", norm,
                                           s2s_trust_id_type_name(by));
                }
                goto done;
            }
        }
        if (d != NULL) {
            d->matched_by = by;
            d->detail = verdict == S2S_TRUST_OK
                            ? dup_printf("trusted, matched by %s", s2s_trust_id_type_name(by))
                            : dup_printf("no DNS-ID, SRV-ID or XmppAddr names %s", norm);
        }
    }

done:
    if (window != NULL) {
        /* Limits and parse failures do not depend on the time at all; a
         * pinned store's time never moves. */
        window->from = INT64_MIN;
        window->until = INT64_MAX;
        if (w.ctx != NULL && !policy->has_verification_time) {
            window->from = at;
            window->until = s2s_trust_store_next_event(store, at);
            for (size_t i = 0; i < w.parsed; i++) {
                min_event(&window->until, at, X509_get0_notBefore(w.certs[i]));
                min_event(&window->until, at, X509_get0_notAfter(w.certs[i]));
            }
        }
    }
    if (d != NULL && verdict >= 0) {
        d->verdict = (s2s_trust_verdict_t)verdict;
        d->known = (int)w.known;
        if (describe(d, w.parsed > 0 ? w.certs[0] : NULL, w.ctx) != 0 ||
            (d->detail == NULL && (d->detail = dup_printf("%s", s2s_trust_verdict_text(d->verdict))) == NULL))
            verdict = -1;
    }
    if (verdict < 0 && d != NULL)
        s2s_trust_details_free(d);
    work_free(&w);
    ERR_clear_error();
    return verdict;
}

void s2s_trust_details_free(s2s_trust_details_t *d)
{
    if (d == NULL)
        return;
    free(d->detail);
    free(d->subject);
    free(d->issuer);
    free(d->error_subject);
    for (size_t i = 0; i < d->name_count; i++)
        free(d->names[i].value);
    free(d->names);
    for (size_t i = 0; i < d->chain_count; i++) {
        free(d->chain[i].subject);
        free(d->chain[i].issuer);
    }
    free(d->chain);
    memset(d, 0, sizeof *d);
    d->error_depth = -1;
}
