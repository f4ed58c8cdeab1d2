/*
 * s2s_trust_learn.c - see s2s_trust_learn.h for the rule and why it is safe.
 */
#include "core/s2s_trust_learn.h"

#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

static X509 *parse_one(const s2s_trust_der_t *der, size_t max_bytes)
{
    const unsigned char *p = der->data;
    X509 *x;

    if (der->data == NULL || der->len == 0 || der->len > max_bytes || der->len > (size_t)LONG_MAX)
        return NULL;
    x = d2i_X509(NULL, &p, (long)der->len);
    /* Trailing bytes after the certificate are not one certificate. */
    if (x != NULL && p != der->data + der->len) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

static int in_pool(const s2s_trust_store_t *store, X509 *x)
{
    STACK_OF(X509) *pool = s2s_trust_store_intermediates(store);

    for (int i = 0; i < sk_X509_num(pool); i++)
        if (X509_cmp(sk_X509_value(pool, i), x) == 0)
            return 1;
    return 0;
}

/* Does `x` chain to an anchor under the store's policy, with the other
 * certificates the server sent and the pool as candidate issuers? No purpose
 * is asked of `x` itself: a CA certificate is not a TLS server certificate,
 * and the SSL-server purpose of the whole path is checked when the leaf is
 * verified with the grown pool. Returns X509_V_OK or the failure code, -1 on
 * our own failure. */
static int reaches_anchor(const s2s_trust_store_t *store, X509 *x, STACK_OF(X509) *others)
{
    const s2s_trust_policy_t *policy = s2s_trust_store_policy(store);
    STACK_OF(X509) *untrusted = sk_X509_dup(s2s_trust_store_intermediates(store));
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;
    s2s_trust_store_info_t info;
    int code = -1;

    if (untrusted == NULL || ctx == NULL)
        goto done;
    for (int i = 0; i < sk_X509_num(others); i++)
        if (sk_X509_value(others, i) != x && sk_X509_push(untrusted, sk_X509_value(others, i)) <= 0)
            goto done;
    if (X509_STORE_CTX_init(ctx, s2s_trust_store_anchors(store), x, untrusted) != 1)
        goto done;
    param = X509_STORE_CTX_get0_param(ctx);
    /* x sits one level above the leaf, so it may use one level less. */
    X509_VERIFY_PARAM_set_depth(param, policy->max_depth > 0 ? policy->max_depth - 1 : 0);
    X509_VERIFY_PARAM_set_auth_level(param, policy->security_level);
    if (policy->has_verification_time)
        X509_VERIFY_PARAM_set_time(param, (time_t)policy->verification_time);
    s2s_trust_store_info(store, &info);
    if (policy->crl_check == S2S_TRUST_CRL_REQUIRE ||
        (policy->crl_check == S2S_TRUST_CRL_IF_AVAILABLE && info.crls > 0)) {
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        if (policy->crl_check == S2S_TRUST_CRL_IF_AVAILABLE)
            X509_STORE_CTX_set_verify_cb(ctx, s2s_trust_crl_if_available_cb);
    }
    if (X509_verify_cert(ctx) == 1)
        code = X509_V_OK;
    else
        code = X509_STORE_CTX_get_error(ctx) != X509_V_OK ? X509_STORE_CTX_get_error(ctx)
                                                          : X509_V_ERR_UNSPECIFIED;
done:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted); /* the certificates belong to the store and the caller */
    return code;
}

int s2s_trust_learn_examine(const s2s_trust_store_t *store, const s2s_trust_der_t *chain,
                            size_t n, s2s_trust_learn_item_t *items)
{
    const s2s_trust_policy_t *policy = s2s_trust_store_policy(store);
    X509 *certs[S2S_TRUST_LEARN_MAX_CHAIN] = { NULL };
    STACK_OF(X509) *sent = NULL;
    int rc = -1;

    if (n == 0 || n > S2S_TRUST_LEARN_MAX_CHAIN)
        return -1;
    sent = sk_X509_new_null();
    if (sent == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        items[i].openssl_code = 0;
        certs[i] = parse_one(&chain[i], policy->max_cert_bytes);
        if (certs[i] == NULL) {
            items[i].fate = S2S_TRUST_LEARN_MALFORMED;
            continue;
        }
        /* Pulls in the extension flags (CA, self-issued) and fails for
         * certificates whose extensions OpenSSL cannot make sense of. */
        if (X509_check_purpose(certs[i], -1, 0) != 1 ||
            (X509_get_extension_flags(certs[i]) & EXFLAG_INVALID) != 0) {
            items[i].fate = S2S_TRUST_LEARN_MALFORMED;
            X509_free(certs[i]);
            certs[i] = NULL;
            continue;
        }
        if (sk_X509_push(sent, certs[i]) <= 0)
            goto done;
        items[i].fate = i == 0 ? S2S_TRUST_LEARN_LEAF : S2S_TRUST_LEARN_UNTRUSTED;
    }
    for (size_t i = 1; i < n; i++) {
        int code;

        if (certs[i] == NULL)
            continue;
        if ((X509_get_extension_flags(certs[i]) & EXFLAG_SI) != 0) {
            items[i].fate = S2S_TRUST_LEARN_SELF_ISSUED;
        } else if (X509_check_ca(certs[i]) < 1) {
            items[i].fate = S2S_TRUST_LEARN_NOT_CA;
        } else if (in_pool(store, certs[i])) {
            items[i].fate = S2S_TRUST_LEARN_KNOWN;
        } else if ((code = reaches_anchor(store, certs[i], sent)) == X509_V_OK) {
            items[i].fate = S2S_TRUST_LEARN_KEEP;
        } else if (code < 0) {
            goto done;
        } else {
            items[i].fate = S2S_TRUST_LEARN_UNTRUSTED;
            items[i].openssl_code = code;
        }
    }
    rc = 0;
done:
    sk_X509_free(sent);
    for (size_t i = 0; i < n; i++)
        X509_free(certs[i]);
    ERR_clear_error();
    return rc;
}

const char *s2s_trust_learn_fate_name(s2s_trust_learn_fate_t fate)
{
    static const char *const names[S2S_TRUST_LEARN_FATE_COUNT] = {
        [S2S_TRUST_LEARN_KEEP] = "keep",
        [S2S_TRUST_LEARN_LEAF] = "leaf",
        [S2S_TRUST_LEARN_KNOWN] = "known",
        [S2S_TRUST_LEARN_NOT_CA] = "not_ca",
        [S2S_TRUST_LEARN_SELF_ISSUED] = "self_issued",
        [S2S_TRUST_LEARN_UNTRUSTED] = "untrusted",
        [S2S_TRUST_LEARN_MALFORMED] = "malformed",
    };

    return (unsigned)fate < S2S_TRUST_LEARN_FATE_COUNT ? names[fate] : "unknown";
}
