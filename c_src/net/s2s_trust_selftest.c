/* s2s_trust_selftest.c - see s2s_trust_selftest.h
 *
 * Layers, bottom up:
 *   certificates  the four bad identities, made in memory with OpenSSL;
 *   scanner       a bounded, allocation-free scanner of top-level stream
 *                 elements for the parts s2s_trust_xmpp_stream does not
 *                 cover (it stops at <proceed/> by design): the stream
 *                 after TLS, and the target's back-connection;
 *   conn          one socket, optionally TLS over memory BIOs, every wait
 *                 bounded by a deadline (and, for the dialback server
 *                 thread, a stop flag): the same pattern as the probe,
 *                 whose connection is private to s2s_trust_probe_run;
 *   case          connect, stream, STARTTLS (parsed by
 *                 s2s_trust_xmpp_stream), TLS with the bad client
 *                 certificate, post-TLS features, SASL EXTERNAL; then,
 *                 when asked, a second stream that tries dialback while a
 *                 thread plays the authoritative server of `from`.
 */
#include "net/s2s_trust_selftest.h"
#include "net/s2s_trust_probe.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/s2s_trust_xmpp_stream.h"

#define IO_TIMEOUT (-2)
#define IO_STOPPED (-3)
#define CHUNK 4096

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"

/* ---- names ------------------------------------------------------------------- */

const char *s2s_trust_st_case_name(s2s_trust_st_case_t which)
{
    switch (which) {
    case S2S_TRUST_ST_SELF_SIGNED: return "self_signed";
    case S2S_TRUST_ST_EXPIRED: return "expired";
    case S2S_TRUST_ST_WRONG_NAME: return "wrong_name";
    case S2S_TRUST_ST_UNKNOWN_CA: return "unknown_ca";
    default: return "unknown";
    }
}

const char *s2s_trust_st_outcome_name(s2s_trust_st_outcome_t o)
{
    switch (o) {
    case S2S_TRUST_ST_REFUSED: return "refused";
    case S2S_TRUST_ST_ACCEPTED: return "accepted";
    default: return "inconclusive";
    }
}

/* ---- small helpers -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Peer bytes for a detail line: printable ASCII as is, the rest \xNN. */
static const char *esc(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= cap)
                break;
            snprintf(out + o, cap - o, "\\x%02x", c);
            o += 4;
        }
    }
    out[o] = '\0';
    return out;
}

/* The five predefined XML entities decoded (for reports); anything else
 * is left as it came. */
static const char *unentity(const char *in, char *out, size_t cap)
{
    static const struct { const char *ent, ch; } map[] = {
        { "&apos;", '\'' }, { "&quot;", '"' }, { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
    };
    size_t o = 0;

    while (*in != '\0' && o + 1 < cap) {
        size_t i;
        for (i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strncmp(in, map[i].ent, strlen(map[i].ent)) == 0)
                break;
        if (i < sizeof map / sizeof map[0]) {
            out[o++] = map[i].ch;
            in += strlen(map[i].ent);
        } else {
            out[o++] = *in++;
        }
    }
    out[o] = '\0';
    return out;
}

/* Token safe to echo in an XML attribute (stream ids, dialback ids). */
static int plain_token(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 120)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_' || c == '+' || c == '/' || c == '=' || c == ':'))
            return 0;
    }
    return 1;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char b[32];

    if (bytes > sizeof b)
        bytes = sizeof b;
    if (RAND_bytes(b, (int)bytes) != 1)
        memset(b, 0x5a, bytes);
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void openssl_reason(char *out, size_t cap)
{
    unsigned long code = ERR_peek_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;

    if (reason != NULL)
        snprintf(out, cap, "%s", reason);
    else if (code != 0)
        snprintf(out, cap, "OpenSSL error 0x%lx", code);
    else
        snprintf(out, cap, "no reason given");
    ERR_clear_error();
}

/* ---- certificates ---------------------------------------------------------------- */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return 0;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* nb/na: validity bounds as offsets from now, in seconds. */
static X509 *make_cert(EVP_PKEY *key, const char *name, int is_ca, X509 *issuer, EVP_PKEY *issuer_key, long nb,
                       long na)
{
    X509 *x = X509_new();
    X509_NAME *subj = X509_NAME_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    char san[300];
    int ok = x != NULL && subj != NULL;

    if (ok && RAND_bytes(serial, sizeof serial) == 1) {
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof serial, NULL);
    }
    ok = ok && bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    ok = ok && X509_set_version(x, 2) == 1;
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), nb) != NULL && X509_gmtime_adj(X509_getm_notAfter(x), na) != NULL;
    ok = ok && X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) == 1;
    ok = ok && X509_set_subject_name(x, subj) == 1;
    ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subj) == 1;
    ok = ok && X509_set_pubkey(x, key) == 1;
    if (is_ca) {
        ok = ok && add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        ok = ok && add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
        ok = ok && add_ext(x, issuer, NID_subject_key_identifier, "hash");
    } else {
        snprintf(san, sizeof san, "DNS:%s", name);
        ok = ok && add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        ok = ok && add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        ok = ok && add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        ok = ok && add_ext(x, issuer, NID_subject_alt_name, san);
        ok = ok && add_ext(x, issuer, NID_subject_key_identifier, "hash");
        if (issuer != NULL)
            ok = ok && add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    }
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    BN_free(bn);
    X509_NAME_free(subj);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

void s2s_trust_st_identity_free(s2s_trust_st_identity_t *id)
{
    if (id == NULL)
        return;
    X509_free(id->leaf);
    X509_free(id->extra);
    EVP_PKEY_free(id->key);
    memset(id, 0, sizeof *id);
}

int s2s_trust_st_make_identity(s2s_trust_st_case_t which, const char *from, s2s_trust_st_identity_t *id)
{
    return s2s_trust_st_make_identity_issued(which, from, NULL, NULL, id);
}

int s2s_trust_st_make_identity_issued(s2s_trust_st_case_t which, const char *from, X509 *issuer,
                                      EVP_PKEY *issuer_key, s2s_trust_st_identity_t *id)
{
    const long day = 86400;
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    const char *name = from;
    int rc = -1;

    memset(id, 0, sizeof *id);
    if (!s2s_trust_probe_domain_ok(from) || (unsigned)which >= S2S_TRUST_ST_CASE_COUNT)
        return -1;
    if (which == S2S_TRUST_ST_WRONG_NAME)
        name = strcmp(from, "wrong-name.invalid") == 0 ? "other-name.invalid" : "wrong-name.invalid";
    snprintf(id->name, sizeof id->name, "%s", name);
    id->key = EVP_EC_gen("P-256");
    if (id->key == NULL)
        goto out;
    if (which == S2S_TRUST_ST_SELF_SIGNED) {
        id->leaf = make_cert(id->key, name, 0, NULL, NULL, -3600, 7 * day);
    } else if (issuer != NULL && issuer_key != NULL && which != S2S_TRUST_ST_UNKNOWN_CA) {
        if (X509_check_private_key(issuer, issuer_key) != 1 || X509_up_ref(issuer) != 1)
            goto out;
        id->extra = issuer;
        id->issued = 1;
        if (which == S2S_TRUST_ST_EXPIRED)
            id->leaf = make_cert(id->key, name, 0, issuer, issuer_key, -30 * day, -day);
        else
            id->leaf = make_cert(id->key, name, 0, issuer, issuer_key, -3600, 7 * day);
    } else {
        ca_key = EVP_EC_gen("P-256");
        if (ca_key == NULL)
            goto out;
        ca = make_cert(ca_key, "s2s-trust selftest throwaway CA", 1, NULL, NULL, -60 * day, 60 * day);
        if (ca == NULL)
            goto out;
        if (which == S2S_TRUST_ST_EXPIRED)
            id->leaf = make_cert(id->key, name, 0, ca, ca_key, -30 * day, -day);
        else
            id->leaf = make_cert(id->key, name, 0, ca, ca_key, -3600, 7 * day);
        id->extra = ca;
        ca = NULL;
    }
    rc = id->leaf != NULL ? 0 : -1;
out:
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    if (rc != 0)
        s2s_trust_st_identity_free(id);
    ERR_clear_error();
    return rc;
}

/* ---- the element scanner ----------------------------------------------------------- */

enum { SS_TEXT, SS_LT, SS_TAG, SS_PI };

void s2s_trust_ss_init(s2s_trust_ss_t *ss, size_t max_bytes)
{
    memset(ss, 0, sizeof *ss);
    ss->max_bytes = max_bytes ? max_bytes : S2S_TRUST_ST_MAX_STREAM_BYTES;
}

static s2s_trust_ss_event_t ss_fail(s2s_trust_ss_t *ss, s2s_trust_ss_event_t ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static s2s_trust_ss_event_t ss_fail(s2s_trust_ss_t *ss, s2s_trust_ss_event_t ev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ss->detail, sizeof ss->detail, fmt, ap);
    va_end(ap);
    ss->done = 1;
    ss->sticky = ev;
    return ev;
}

static int ss_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void ss_append(char *buf, size_t cap, size_t *len, unsigned char c)
{
    if (*len + 1 < cap) {
        buf[(*len)++] = (char)c;
        buf[*len] = '\0';
    }
}

static void copy_n(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

typedef struct {
    const char *name, *value;
    size_t name_len, value_len;
} ss_attr_t;

/* Splits "name a='v' b="w"" (without '<', '>' and a trailing '/'). 0, or -1. */
static int ss_parse_tag(const char *t, size_t len, const char **name, size_t *name_len, ss_attr_t *attrs,
                        int *nattrs)
{
    size_t pos = 0;

    *nattrs = 0;
    while (pos < len && !ss_space((unsigned char)t[pos]))
        pos++;
    if (pos == 0 || pos >= 64)
        return -1;
    *name = t;
    *name_len = pos;
    for (;;) {
        ss_attr_t *a;
        while (pos < len && ss_space((unsigned char)t[pos]))
            pos++;
        if (pos == len)
            return 0;
        if (*nattrs == 32)
            return -1;
        a = &attrs[*nattrs];
        a->name = t + pos;
        while (pos < len && t[pos] != '=' && !ss_space((unsigned char)t[pos]))
            pos++;
        a->name_len = (size_t)(t + pos - a->name);
        while (pos < len && ss_space((unsigned char)t[pos]))
            pos++;
        if (a->name_len == 0 || pos == len || t[pos] != '=')
            return -1;
        pos++;
        while (pos < len && ss_space((unsigned char)t[pos]))
            pos++;
        if (pos == len || (t[pos] != '\'' && t[pos] != '"'))
            return -1;
        {
            char q = t[pos++];
            const char *end = memchr(t + pos, q, len - pos);
            if (end == NULL)
                return -1;
            a->value = t + pos;
            a->value_len = (size_t)(end - (t + pos));
            pos = (size_t)(end - t) + 1;
        }
        (*nattrs)++;
    }
}

static int name_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static const char *ss_local(const char *name, size_t len, size_t *local_len, size_t *prefix_len)
{
    const char *colon = memchr(name, ':', len);

    *prefix_len = colon ? (size_t)(colon - name) : 0;
    *local_len = colon ? len - *prefix_len - 1 : len;
    return colon ? colon + 1 : name;
}

/* Namespace of prefix (len 0: default) from the element's own declarations,
 * then the stream's. */
static void ss_resolve(s2s_trust_ss_t *ss, const char *prefix, size_t plen, const ss_attr_t *attrs, int nattrs,
                       char *out, size_t cap)
{
    for (int i = 0; i < nattrs; i++) {
        const ss_attr_t *a = &attrs[i];
        if ((plen == 0 && name_is(a->name, a->name_len, "xmlns")) ||
            (plen > 0 && a->name_len == plen + 6 && memcmp(a->name, "xmlns:", 6) == 0 &&
             memcmp(a->name + 6, prefix, plen) == 0)) {
            copy_n(out, cap, a->value, a->value_len);
            return;
        }
    }
    for (int i = 0; i < ss->decl_count; i++)
        if (strlen(ss->decl_prefix[i]) == plen && memcmp(ss->decl_prefix[i], prefix, plen) == 0) {
            snprintf(out, cap, "%s", ss->decl_uri[i]);
            return;
        }
    out[0] = '\0';
}

static s2s_trust_ss_event_t ss_start_tag(s2s_trust_ss_t *ss)
{
    const char *name, *local;
    size_t name_len, local_len, plen, len = ss->tag_len;
    ss_attr_t attrs[32];
    int nattrs, self_closing = 0;

    if (len > 0 && ss->tag[len - 1] == '/') {
        self_closing = 1;
        len--;
    }
    if (ss_parse_tag(ss->tag, len, &name, &name_len, attrs, &nattrs) != 0)
        return ss_fail(ss, S2S_TRUST_SS_BAD, "malformed tag");
    local = ss_local(name, name_len, &local_len, &plen);
    if (ss->depth == S2S_TRUST_ST_MAX_DEPTH)
        return ss_fail(ss, S2S_TRUST_SS_TOO_LARGE, "elements nested deeper than %d", S2S_TRUST_ST_MAX_DEPTH);

    if (ss->depth == 0) {
        if (!name_is(local, local_len, "stream") || self_closing)
            return ss_fail(ss, S2S_TRUST_SS_BAD, "the stream does not start with <stream:stream>");
        memset(&ss->el, 0, sizeof ss->el);
        copy_n(ss->stream_prefix, sizeof ss->stream_prefix, name, plen);
        ss->decl_count = 0;
        for (int i = 0; i < nattrs; i++) {
            const ss_attr_t *a = &attrs[i];
            if (name_is(a->name, a->name_len, "xmlns") || (a->name_len > 6 && memcmp(a->name, "xmlns:", 6) == 0)) {
                size_t off = a->name_len > 5 ? 6 : 5;
                if (ss->decl_count == 8)
                    continue;
                copy_n(ss->decl_prefix[ss->decl_count], sizeof ss->decl_prefix[0], a->name + off, a->name_len - off);
                copy_n(ss->decl_uri[ss->decl_count], sizeof ss->decl_uri[0], a->value, a->value_len);
                ss->decl_count++;
            } else if (name_is(a->name, a->name_len, "from")) {
                copy_n(ss->el.from, sizeof ss->el.from, a->value, a->value_len);
            } else if (name_is(a->name, a->name_len, "to")) {
                copy_n(ss->el.to, sizeof ss->el.to, a->value, a->value_len);
            } else if (name_is(a->name, a->name_len, "id")) {
                copy_n(ss->el.id, sizeof ss->el.id, a->value, a->value_len);
            } else if (name_is(a->name, a->name_len, "version")) {
                copy_n(ss->el.version, sizeof ss->el.version, a->value, a->value_len);
            }
        }
        snprintf(ss->el.local, sizeof ss->el.local, "stream");
        ss_resolve(ss, name, plen, attrs, nattrs, ss->el.ns, sizeof ss->el.ns);
        copy_n(ss->names[0], sizeof ss->names[0], name, name_len);
        ss->depth = 1;
        return S2S_TRUST_SS_HEADER;
    }
    if (ss->depth == 1) {
        memset(&ss->el, 0, sizeof ss->el);
        ss->text_len = ss->etext_len = 0;
        copy_n(ss->el.local, sizeof ss->el.local, local, local_len);
        ss_resolve(ss, name, plen, attrs, nattrs, ss->el.ns, sizeof ss->el.ns);
        for (int i = 0; i < nattrs; i++) {
            const ss_attr_t *a = &attrs[i];
            if (name_is(a->name, a->name_len, "from"))
                copy_n(ss->el.from, sizeof ss->el.from, a->value, a->value_len);
            else if (name_is(a->name, a->name_len, "to"))
                copy_n(ss->el.to, sizeof ss->el.to, a->value, a->value_len);
            else if (name_is(a->name, a->name_len, "id"))
                copy_n(ss->el.id, sizeof ss->el.id, a->value, a->value_len);
            else if (name_is(a->name, a->name_len, "type"))
                copy_n(ss->el.type, sizeof ss->el.type, a->value, a->value_len);
        }
        if (self_closing)
            return S2S_TRUST_SS_ELEMENT;
    } else {
        if (ss->depth == 2 && ss->el.first_child[0] == '\0')
            copy_n(ss->el.first_child, sizeof ss->el.first_child, local, local_len);
        if (name_is(local, local_len, "starttls"))
            ss->el.has_starttls = 1;
        else if (name_is(local, local_len, "dialback"))
            ss->el.has_dialback = 1;
        if (self_closing)
            return S2S_TRUST_SS_NEED_MORE;
        ss->in_mech = name_is(local, local_len, "mechanism");
        ss->mech_len = 0;
        ss->mech[0] = '\0';
        ss->in_text = ss->depth == 2 && name_is(local, local_len, "text");
    }
    copy_n(ss->names[ss->depth], sizeof ss->names[0], name, name_len);
    ss->depth++;
    return S2S_TRUST_SS_NEED_MORE;
}

static s2s_trust_ss_event_t ss_end_tag(s2s_trust_ss_t *ss)
{
    const char *t = ss->tag + 1;
    size_t n = ss->tag_len - 1;

    while (n > 0 && ss_space((unsigned char)t[n - 1]))
        n--;
    if (ss->depth == 0 || !name_is(t, n, ss->names[ss->depth - 1]))
        return ss_fail(ss, S2S_TRUST_SS_BAD, "mismatched end tag");
    ss->depth--;
    if (ss->depth == 0) {
        ss->done = 1;
        ss->sticky = S2S_TRUST_SS_END;
        return S2S_TRUST_SS_END;
    }
    if (ss->in_mech) {
        const char *m = ss->mech;
        size_t ml = ss->mech_len;
        while (ml > 0 && ss_space((unsigned char)*m))
            m++, ml--;
        while (ml > 0 && ss_space((unsigned char)m[ml - 1]))
            ml--;
        if (name_is(m, ml, "EXTERNAL"))
            ss->el.mech_external = 1;
        ss->in_mech = 0;
    }
    ss->in_text = 0;
    return ss->depth == 1 ? S2S_TRUST_SS_ELEMENT : S2S_TRUST_SS_NEED_MORE;
}

s2s_trust_ss_event_t s2s_trust_ss_feed(s2s_trust_ss_t *ss, const unsigned char *buf, size_t len, size_t *consumed)
{
    s2s_trust_ss_event_t ev = S2S_TRUST_SS_NEED_MORE;
    size_t i;

    *consumed = 0;
    if (ss->done)
        return ss->sticky;
    for (i = 0; i < len; i++) {
        unsigned char c = buf[i];

        if (ss->fed >= ss->max_bytes) {
            ev = ss_fail(ss, S2S_TRUST_SS_TOO_LARGE, "more than %zu bytes on one stream", ss->max_bytes);
            break;
        }
        ss->fed++;
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            ev = ss_fail(ss, S2S_TRUST_SS_BAD, "not XML: byte 0x%02x", c);
            i++;
            break;
        }
        switch (ss->state) {
        case SS_TEXT:
            if (c == '<') {
                ss->state = SS_LT;
                ss->tag_len = 0;
            } else if (ss->depth <= 1) {
                if (!ss_space(c)) {
                    ev = ss_fail(ss, S2S_TRUST_SS_BAD, "text outside an element");
                    i++;
                    goto out;
                }
            } else {
                if (ss->depth == 2)
                    ss_append(ss->el.text, sizeof ss->el.text, &ss->text_len, c);
                if (ss->in_mech)
                    ss_append(ss->mech, sizeof ss->mech, &ss->mech_len, c);
                if (ss->in_text)
                    ss_append(ss->el.error_text, sizeof ss->el.error_text, &ss->etext_len, c);
            }
            break;
        case SS_LT:
            if (c == '!') {
                ev = ss_fail(ss, S2S_TRUST_SS_BAD, "a comment, CDATA section or DTD");
                i++;
                goto out;
            }
            ss->state = c == '?' ? SS_PI : SS_TAG;
            ss->quote = 0;
            if (c == '?')
                break;
            /* c is the tag's first byte */
            /* FALLTHROUGH */
        case SS_TAG:
        case SS_PI:
            if (c == '<') {
                ev = ss_fail(ss, S2S_TRUST_SS_BAD, "'<' inside a tag");
                i++;
                goto out;
            }
            if (ss->state == SS_PI && c == '>') {
                if (ss->depth != 0) {
                    ev = ss_fail(ss, S2S_TRUST_SS_BAD, "a processing instruction inside the stream");
                    i++;
                    goto out;
                }
                ss->state = SS_TEXT;
                break;
            }
            if (ss->state == SS_TAG && ss->quote == 0 && c == '>') {
                ss->state = SS_TEXT;
                ss->tag[ss->tag_len] = '\0';
                if (ss->tag_len == 0)
                    ev = ss_fail(ss, S2S_TRUST_SS_BAD, "an empty tag");
                else if (ss->tag[0] == '/')
                    ev = ss_end_tag(ss);
                else
                    ev = ss_start_tag(ss);
                if (ev != S2S_TRUST_SS_NEED_MORE) {
                    i++;
                    goto out;
                }
                break;
            }
            if (ss->state == SS_TAG) {
                if (ss->quote != 0 && c == ss->quote)
                    ss->quote = 0;
                else if (ss->quote == 0 && (c == '\'' || c == '"'))
                    ss->quote = c;
            }
            if (ss->tag_len == S2S_TRUST_ST_MAX_TAG) {
                ev = ss_fail(ss, S2S_TRUST_SS_TOO_LARGE, "a tag longer than %d bytes", S2S_TRUST_ST_MAX_TAG);
                i++;
                goto out;
            }
            ss->tag[ss->tag_len++] = (char)c;
            break;
        default:
            break;
        }
    }
out:
    *consumed = i;
    return ev;
}

/* ---- one connection ------------------------------------------------------------------- */

typedef struct {
    int fd;
    SSL *ssl;
    SSL_CTX *ctx;
    BIO *rbio, *wbio; /* owned by ssl once set */
    uint64_t deadline;
    const int *stop; /* checked every 100 ms while waiting, may be NULL */
    char err[200];
} conn_t;

static int conn_stopped(const conn_t *c)
{
    return c->stop != NULL && __atomic_load_n(c->stop, __ATOMIC_ACQUIRE);
}

/* 1 ready, 0 deadline, IO_STOPPED, -1 error. */
static int conn_wait(conn_t *c, short events)
{
    for (;;) {
        uint64_t now = now_ms();
        struct pollfd pfd = { .fd = c->fd, .events = events };
        int rc, slice;

        if (conn_stopped(c))
            return IO_STOPPED;
        if (now >= c->deadline)
            return 0;
        slice = (int)(c->deadline - now);
        if (c->stop != NULL && slice > 100)
            slice = 100;
        rc = poll(&pfd, 1, slice);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static int raw_send(conn_t *c, const void *data, size_t len)
{
    const unsigned char *b = data;

    while (len > 0) {
        ssize_t n = send(c->fd, b, len, MSG_NOSIGNAL);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = conn_wait(c, POLLOUT);
            if (w == 0)
                return IO_TIMEOUT;
            if (w < 0)
                return w == IO_STOPPED ? IO_STOPPED : -1;
            continue;
        }
        snprintf(c->err, sizeof c->err, "send: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static ssize_t raw_recv(conn_t *c, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = conn_wait(c, POLLIN);
            if (w == 0)
                return IO_TIMEOUT;
            if (w < 0)
                return w == IO_STOPPED ? IO_STOPPED : -1;
            continue;
        }
        snprintf(c->err, sizeof c->err, "%s", strerror(errno));
        return -1;
    }
}

static int flush_wbio(conn_t *c)
{
    unsigned char out[CHUNK];
    int n;

    while ((n = BIO_read(c->wbio, out, sizeof out)) > 0) {
        int rc = raw_send(c, out, (size_t)n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int conn_send(conn_t *c, const char *s)
{
    size_t len = strlen(s);

    if (c->ssl == NULL)
        return raw_send(c, s, len);
    ERR_clear_error();
    if (SSL_write(c->ssl, s, (int)len) != (int)len) {
        openssl_reason(c->err, sizeof c->err);
        return -1;
    }
    return flush_wbio(c);
}

/* >0 bytes, 0 closed, -1 error (c->err), IO_TIMEOUT, IO_STOPPED. */
static ssize_t conn_recv(conn_t *c, void *buf, size_t cap)
{
    unsigned char raw[CHUNK];

    if (c->ssl == NULL)
        return raw_recv(c, buf, cap);
    for (;;) {
        int n, err, io;
        ssize_t r;

        ERR_clear_error();
        n = SSL_read(c->ssl, buf, (int)(cap > INT32_MAX ? INT32_MAX : cap));
        if (n > 0)
            return n;
        err = SSL_get_error(c->ssl, n);
        io = flush_wbio(c);
        if (err == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (err != SSL_ERROR_WANT_READ) {
            openssl_reason(c->err, sizeof c->err);
            return -1;
        }
        if (io != 0)
            return io;
        r = raw_recv(c, raw, sizeof raw);
        if (r <= 0)
            return r;
        if (BIO_write(c->rbio, raw, (int)r) != (int)r) {
            snprintf(c->err, sizeof c->err, "out of memory");
            return -1;
        }
    }
}

/* TLS over the socket. server: 1 for the dialback listener. 0, -1 (err), IO_TIMEOUT/STOPPED. */
static int conn_tls(conn_t *c, const s2s_trust_st_identity_t *id, int server, const char *sni)
{
    unsigned char raw[CHUNK];

    ERR_clear_error();
    c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (c->ctx == NULL || SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1) {
        snprintf(c->err, sizeof c->err, "SSL_CTX_new failed");
        return -1;
    }
    /* Our certificates are made to be refused, not weak: level 0 only keeps
     * OpenSSL from judging the target's certificate, which is not the test. */
    SSL_CTX_set_security_level(c->ctx, 0);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
    if (id != NULL && (SSL_CTX_use_certificate(c->ctx, id->leaf) != 1 || SSL_CTX_use_PrivateKey(c->ctx, id->key) != 1 ||
                       (id->extra != NULL && SSL_CTX_add1_chain_cert(c->ctx, id->extra) != 1))) {
        openssl_reason(c->err, sizeof c->err);
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        snprintf(c->err, sizeof c->err, "out of memory");
        return -1;
    }
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    if (server) {
        SSL_set_accept_state(c->ssl);
    } else {
        SSL_set_connect_state(c->ssl);
        if (sni != NULL && SSL_set_tlsext_host_name(c->ssl, sni) != 1) {
            snprintf(c->err, sizeof c->err, "cannot set SNI");
            return -1;
        }
    }
    for (;;) {
        int rc, err, io;
        ssize_t n;

        ERR_clear_error();
        rc = SSL_do_handshake(c->ssl);
        err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, rc);
        io = flush_wbio(c);
        if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ) {
            openssl_reason(c->err, sizeof c->err);
            return -1;
        }
        if (io != 0)
            return io;
        if (rc == 1)
            return 0;
        n = raw_recv(c, raw, sizeof raw);
        if (n == 0) {
            snprintf(c->err, sizeof c->err, "the peer closed the connection during the TLS handshake");
            return -1;
        }
        if (n < 0)
            return (int)n;
        if (BIO_write(c->rbio, raw, (int)n) != (int)n) {
            snprintf(c->err, sizeof c->err, "out of memory");
            return -1;
        }
    }
}

static void conn_close(conn_t *c)
{
    if (c->ssl != NULL) {
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl);
        if (c->fd >= 0) {
            uint64_t d = c->deadline, soon = now_ms() + 100;
            c->deadline = soon < d ? soon : d;
            (void)flush_wbio(c);
        }
    }
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    c->ssl = NULL;
    c->ctx = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ERR_clear_error();
}

/* Next scanner event from the connection: reads as needed, keeps unread
 * bytes in pend. Returns the event, or NEED_MORE with *io set (0 closed,
 * -1 error, IO_TIMEOUT, IO_STOPPED). */
typedef struct {
    unsigned char buf[CHUNK];
    size_t off, len;
} pend_t;

static s2s_trust_ss_event_t next_event(conn_t *c, s2s_trust_ss_t *ss, pend_t *p, int *io)
{
    for (;;) {
        while (p->off < p->len) {
            size_t used = 0;
            s2s_trust_ss_event_t ev = s2s_trust_ss_feed(ss, p->buf + p->off, p->len - p->off, &used);
            p->off += used;
            if (ev != S2S_TRUST_SS_NEED_MORE)
                return ev;
        }
        {
            ssize_t n = conn_recv(c, p->buf, sizeof p->buf);
            if (n <= 0) {
                *io = (int)n;
                return S2S_TRUST_SS_NEED_MORE;
            }
            p->off = 0;
            p->len = (size_t)n;
        }
    }
}

/* ---- the dialback server (runs in a thread) ----------------------------------------------- */

#define PING_ID "s2s-trust-selftest-ping"
#define DB_MAX_CONNS 4

typedef struct db_server db_server_t;
typedef struct {
    db_server_t *s;
    int fd;
} db_conn_arg_t;

struct db_server {
    int lfd;
    const char *from;
    const s2s_trust_st_identity_t *id;
    uint64_t deadline;
    int stop;         /* atomic */
    int verify_seen;  /* atomic */
    int pinged;       /* atomic: the answer to our ping came back to `from` */
    pthread_mutex_t lock;
    char note[200];   /* last thing that went wrong on a back-connection (lock) */
    char ping_type[32]; /* (lock) */
    pthread_t threads[DB_MAX_CONNS];
    db_conn_arg_t args[DB_MAX_CONNS];
    int nthreads;
};

static void db_note(db_server_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void db_note(db_server_t *s, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&s->lock);
    va_start(ap, fmt);
    vsnprintf(s->note, sizeof s->note, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&s->lock);
}

static void db_header(char *out, size_t cap, const char *from, const char *to, int version)
{
    char id[33];

    random_hex(id, 16);
    snprintf(out, cap,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='" NS_STREAMS
             "' xmlns:db='" NS_DIALBACK "' from='%s'%s%s%s id='%s'%s>",
             from, to ? " to='" : "", to ? to : "", to ? "'" : "", id, version ? " version='1.0'" : "");
}

static void db_serve(db_server_t *s, int fd)
{
    conn_t c = { .fd = fd, .deadline = s->deadline, .stop = &s->stop };
    s2s_trust_ss_t *ss = malloc(sizeof *ss);
    pend_t *p = calloc(1, sizeof *p);
    char out[1024];
    int io = 0, tls = 0;

    if (ss == NULL || p == NULL)
        goto done;
    s2s_trust_ss_init(ss, 0);
    for (;;) {
        s2s_trust_ss_event_t ev = next_event(&c, ss, p, &io);
        if (ev == S2S_TRUST_SS_HEADER) {
            const char *to = s2s_trust_probe_domain_ok(ss->el.from) ? ss->el.from : NULL;
            int v = strncmp(ss->el.version, "1.", 2) == 0;
            db_header(out, sizeof out, s->from, to, v);
            if (conn_send(&c, out) != 0)
                break;
            if (v && conn_send(&c, tls ? "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>"
                                        : "<stream:features><starttls xmlns='" NS_TLS "'/><dialback "
                                          "xmlns='urn:xmpp:features:dialback'/></stream:features>") != 0)
                break;
        } else if (ev == S2S_TRUST_SS_ELEMENT) {
            const s2s_trust_ss_element_t *el = &ss->el;
            if (!tls && strcmp(el->local, "starttls") == 0) {
                if (p->off < p->len || conn_send(&c, "<proceed xmlns='" NS_TLS "'/>") != 0)
                    break;
                if (conn_tls(&c, s->id, 1, NULL) != 0) {
                    db_note(s, "back-connection TLS failed: %.160s", c.err);
                    break;
                }
                tls = 1;
                p->off = p->len = 0;
                s2s_trust_ss_init(ss, 0);
            } else if ((strcmp(el->local, "verify") == 0 || strcmp(el->local, "result") == 0) &&
                       strcmp(el->ns, NS_DIALBACK) == 0) {
                int verify = strcmp(el->local, "verify") == 0;
                if (!s2s_trust_probe_domain_ok(el->from) || !s2s_trust_probe_domain_ok(el->to) || (verify && !plain_token(el->id))) {
                    db_note(s, "unusable <db:%.20s/> attributes on the back-connection", el->local);
                    break;
                }
                if (verify) {
                    __atomic_store_n(&s->verify_seen, 1, __ATOMIC_RELEASE);
                    snprintf(out, sizeof out, "<db:verify from='%s' to='%s' id='%s' type='valid'/>", el->to, el->from,
                             el->id);
                } else {
                    snprintf(out, sizeof out, "<db:result from='%s' to='%s' type='valid'/>", el->to, el->from);
                }
                if (conn_send(&c, out) != 0)
                    break;
            } else if (strcmp(el->local, "iq") == 0 && strcmp(el->id, PING_ID) == 0) {
                /* The target answers our ping over its own stream to `from`. */
                pthread_mutex_lock(&s->lock);
                snprintf(s->ping_type, sizeof s->ping_type, "%s", el->type);
                pthread_mutex_unlock(&s->lock);
                __atomic_store_n(&s->pinged, 1, __ATOMIC_RELEASE);
            }
            /* anything else (stanzas, SASL): ignored */
        } else {
            if (ev == S2S_TRUST_SS_END)
                (void)conn_send(&c, "</stream:stream>");
            break;
        }
    }
done:
    free(ss);
    free(p);
    conn_close(&c);
}

static void *db_conn_thread(void *arg)
{
    db_conn_arg_t *a = arg;

    db_serve(a->s, a->fd);
    return NULL;
}

/* Accepts back-connections, each served by its own thread (a target may
 * keep its verify stream open while it opens another), at most
 * DB_MAX_CONNS; all are joined before it returns. */
static void *db_thread(void *arg)
{
    db_server_t *s = arg;

    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) && now_ms() < s->deadline) {
        struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
        int fd;

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (s->nthreads == DB_MAX_CONNS) {
            close(fd);
            db_note(s, "more than %d back-connections; the rest were closed", DB_MAX_CONNS);
            continue;
        }
        s->args[s->nthreads] = (db_conn_arg_t){ .s = s, .fd = fd };
        if (pthread_create(&s->threads[s->nthreads], NULL, db_conn_thread, &s->args[s->nthreads]) != 0) {
            close(fd);
            continue;
        }
        s->nthreads++;
    }
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    return NULL;
}

/* ---- one case --------------------------------------------------------------------------- */

typedef struct {
    const s2s_trust_st_request_t *req;
    s2s_trust_st_result_t *res;
    conn_t c;
    s2s_trust_ss_t *ss;
    pend_t *pend;
    db_server_t *srv; /* the dialback server, while dialback is tried */
} case_t;

/* Outcome helpers: fill outcome/how/detail of either the EXTERNAL part or the dialback part. */
typedef struct {
    s2s_trust_st_outcome_t outcome;
    const char *how;
    char detail[320];
} verdict_t;

static void set(verdict_t *v, s2s_trust_st_outcome_t o, const char *how, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set(verdict_t *v, s2s_trust_st_outcome_t o, const char *how, const char *fmt, ...)
{
    va_list ap;

    v->outcome = o;
    v->how = how;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
}

static int do_connect(case_t *k, verdict_t *v)
{
    const s2s_trust_st_request_t *req = k->req;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char port[8];
    int rc, soerr = 0;
    socklen_t soerr_len = sizeof soerr;

    snprintf(port, sizeof port, "%u", (unsigned)req->port);
    if (getaddrinfo(req->address, port, &hints, &ai) != 0 || ai == NULL) {
        if (ai != NULL)
            freeaddrinfo(ai);
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "connect_failed", "not a numeric address");
        return -1;
    }
    k->c.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->c.fd < 0) {
        freeaddrinfo(ai);
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "internal", "socket: %s", strerror(errno));
        return -1;
    }
    rc = connect(k->c.fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0 && errno != EINPROGRESS) {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "connect_failed", "connect: %s", strerror(errno));
        return -1;
    }
    if (rc != 0) {
        rc = conn_wait(&k->c, POLLOUT);
        if (rc == 0) {
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "no TCP connection before the deadline");
            return -1;
        }
        if (getsockopt(k->c.fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0)
            soerr = errno;
        if (rc < 0 || soerr != 0) {
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "connect_failed", "connect: %s", strerror(soerr ? soerr : errno));
            return -1;
        }
    }
    return 0;
}

/* What an I/O end means after TLS: the target ended the conversation. */
static void io_end(case_t *k, verdict_t *v, int io, const char *when)
{
    char b[120];

    if (io == IO_TIMEOUT)
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "no answer %s before the deadline", when);
    else if (io == 0)
        set(v, S2S_TRUST_ST_REFUSED, "stream_closed", "the target closed the connection %s", when);
    else
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "the connection ended with an error %s: %s", when,
            esc(k->c.err, b, sizeof b));
}

/* A stream event that ends the exchange: stream error, </stream:stream>, bad XML. */
static void stream_end(case_t *k, verdict_t *v, s2s_trust_ss_event_t ev, const char *when)
{
    char b1[80], b2[160];
    const s2s_trust_ss_element_t *el = &k->ss->el;

    if (ev == S2S_TRUST_SS_END) {
        set(v, S2S_TRUST_ST_REFUSED, "stream_closed", "the target closed the stream (</stream:stream>) %s", when);
    } else if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->local, "error") == 0 && strcmp(el->ns, NS_STREAMS) == 0) {
        snprintf(k->res->stream_error, sizeof k->res->stream_error, "%s", el->first_child);
        char text[200];
        set(v, S2S_TRUST_ST_REFUSED, "stream_error", "%s: stream error %s%s%s", when,
            el->first_child[0] ? esc(el->first_child, b1, sizeof b1) : "(no condition)", el->error_text[0] ? ": " : "",
            esc(unentity(el->error_text, text, sizeof text), b2, sizeof b2));
    } else {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "protocol", "unexpected data from the target %s: %s", when,
            esc(k->ss->detail[0] ? k->ss->detail : el->local, b2, sizeof b2));
    }
}

/* Connect, stream, STARTTLS, TLS with the bad certificate, the post-TLS
 * header and features. 0 with the features in k->ss->el, or -1 with v set. */
static int open_stream(case_t *k, verdict_t *v)
{
    const s2s_trust_st_request_t *req = k->req;
    s2s_trust_xs_t *xs = malloc(sizeof *xs);
    unsigned char buf[CHUNK];
    char header[1024], b1[200], b2[200];
    int proceed = 0, rc = -1, io = 0;

    if (xs == NULL) {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "internal", "out of memory");
        return -1;
    }
    if (do_connect(k, v) != 0)
        goto out;
    snprintf(header, sizeof header,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='" NS_STREAMS
             "' xmlns:db='" NS_DIALBACK "' from='%s' to='%s' version='1.0'>",
             req->from, req->target);
    if (conn_send(&k->c, header) != 0) {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "connect_failed", "sending the stream header: %s", k->c.err);
        goto out;
    }
    /* Before TLS: the shared parser, bounded like the probe's. */
    s2s_trust_xs_init(xs, 65536);
    while (!proceed) {
        ssize_t n = raw_recv(&k->c, buf, sizeof buf);
        size_t off = 0;
        if (n == IO_TIMEOUT) {
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "no STARTTLS exchange before the deadline");
            goto out;
        }
        if (n <= 0) {
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "stream_closed",
                "the target closed the connection before TLS (no certificate was presented yet)");
            goto out;
        }
        while (off < (size_t)n && !proceed) {
            size_t used = 0;
            s2s_trust_xs_event_t ev = s2s_trust_xs_feed(xs, buf + off, (size_t)n - off, &used);
            off += used;
            switch (ev) {
            case S2S_TRUST_XS_NEED_MORE:
            case S2S_TRUST_XS_HEADER:
                break;
            case S2S_TRUST_XS_FEATURES:
                if (!xs->starttls) {
                    set(v, S2S_TRUST_ST_INCONCLUSIVE, "no_starttls",
                        "the target does not offer STARTTLS%s: no certificate can be presented",
                        xs->dialback ? " (it offers dialback over plain TCP)" : "");
                    goto out;
                }
                if (conn_send(&k->c, "<starttls xmlns='" NS_TLS "'/>") != 0) {
                    set(v, S2S_TRUST_ST_INCONCLUSIVE, "stream_closed", "sending <starttls/>: %s", k->c.err);
                    goto out;
                }
                break;
            case S2S_TRUST_XS_PROCEED:
                if (off < (size_t)n) {
                    set(v, S2S_TRUST_ST_INCONCLUSIVE, "protocol", "bytes after <proceed/> before TLS");
                    goto out;
                }
                proceed = 1;
                break;
            case S2S_TRUST_XS_STREAM_ERROR:
                set(v, S2S_TRUST_ST_INCONCLUSIVE, "protocol",
                    "stream error before TLS (no certificate was presented yet): %s%s%s",
                    xs->error_condition[0] ? esc(xs->error_condition, b1, sizeof b1) : "(no condition)",
                    xs->error_text[0] ? ": " : "", esc(xs->error_text, b2, sizeof b2));
                goto out;
            default:
                set(v, S2S_TRUST_ST_INCONCLUSIVE, "protocol", "before TLS: %s: %s", s2s_trust_xs_event_name(ev),
                    esc(xs->detail, b1, sizeof b1));
                goto out;
            }
        }
    }
    rc = conn_tls(&k->c, req->identity, 0, req->target);
    if (rc != 0) {
        int why = rc;
        rc = -1;
        if (why == IO_TIMEOUT)
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "TLS handshake not done before the deadline");
        else
            set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "the TLS handshake failed: %s", esc(k->c.err, b1, sizeof b1));
        goto out;
    }
    rc = -1;
    snprintf(k->res->tls_version, sizeof k->res->tls_version, "%s", SSL_get_version(k->c.ssl));
    if (conn_send(&k->c, header) != 0) {
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "sending the stream header over TLS: %s",
            esc(k->c.err, b1, sizeof b1));
        goto out;
    }
    s2s_trust_ss_init(k->ss, 0);
    k->pend->off = k->pend->len = 0;
    for (;;) {
        s2s_trust_ss_event_t ev = next_event(&k->c, k->ss, k->pend, &io);
        if (ev == S2S_TRUST_SS_NEED_MORE) {
            io_end(k, v, io, "after TLS, before its stream features");
            goto out;
        }
        if (ev == S2S_TRUST_SS_HEADER)
            continue;
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(k->ss->el.local, "features") == 0 &&
            strcmp(k->ss->el.ns, NS_STREAMS) == 0)
            break;
        stream_end(k, v, ev, "after TLS, before its stream features");
        goto out;
    }
    rc = 0;
out:
    free(xs);
    return rc;
}

static void try_external(case_t *k, verdict_t *v)
{
    s2s_trust_st_result_t *r = k->res;
    char auth[600], b64[400], b1[80], b2[220];
    int io = 0;

    if (open_stream(k, v) != 0)
        return;
    r->external_offered = k->ss->el.mech_external;
    r->dialback_offered = k->ss->el.has_dialback;
    if (!r->external_offered) {
        set(v, S2S_TRUST_ST_REFUSED, "external_not_offered",
            "after TLS the target does not offer SASL EXTERNAL for this certificate%s",
            r->dialback_offered ? " (it offers dialback)" : "");
        return;
    }
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)k->req->from, (int)strlen(k->req->from));
    snprintf(auth, sizeof auth, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>", b64);
    if (conn_send(&k->c, auth) != 0) {
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "sending <auth/>: %s", esc(k->c.err, b1, sizeof b1));
        return;
    }
    for (;;) {
        s2s_trust_ss_event_t ev = next_event(&k->c, k->ss, k->pend, &io);
        const s2s_trust_ss_element_t *el = &k->ss->el;
        if (ev == S2S_TRUST_SS_NEED_MORE) {
            io_end(k, v, io, "after <auth mechanism='EXTERNAL'/>");
            return;
        }
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->ns, NS_SASL) == 0 && strcmp(el->local, "success") == 0) {
            set(v, S2S_TRUST_ST_ACCEPTED, "sasl_success", "the target answered <success/> to SASL EXTERNAL");
            return;
        }
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->ns, NS_SASL) == 0 && strcmp(el->local, "failure") == 0) {
            snprintf(r->sasl_condition, sizeof r->sasl_condition, "%s", el->first_child);
            unentity(el->error_text, r->sasl_text, sizeof r->sasl_text);
            char text[200];
            set(v, S2S_TRUST_ST_REFUSED, "sasl_failure", "SASL EXTERNAL <failure/>: %s%s%s",
                el->first_child[0] ? esc(el->first_child, b1, sizeof b1) : "(no condition)",
                el->error_text[0] ? ": " : "", esc(unentity(el->error_text, text, sizeof text), b2, sizeof b2));
            return;
        }
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->local, "error") != 0)
            continue; /* something else first (e.g. a ping): keep waiting */
        stream_end(k, v, ev, "after <auth mechanism='EXTERNAL'/>");
        return;
    }
}

/* <db:result type='valid'/> is not yet acceptance: a module may close the
 * stream right after it (mod_s2s_trust does, at s2s_in_auth_result). The
 * peer is accepted when the target answers a stanza from it. */
static void confirm_dialback(case_t *k, verdict_t *v)
{
    const s2s_trust_st_request_t *req = k->req;
    char msg[700], b1[80];
    int io = 0;

    snprintf(msg, sizeof msg,
             "<iq type='get' id='" PING_ID "' from='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>", req->from,
             req->target);
    k->c.stop = &k->srv->pinged; /* the answer comes back over the target's own stream to `from` */
    if (conn_send(&k->c, msg) != 0) {
        set(v, S2S_TRUST_ST_REFUSED, "dialback_revoked",
            "the target answered <db:result type='valid'/>, then the connection failed: %s",
            esc(k->c.err, b1, sizeof b1));
        return;
    }
    for (;;) {
        s2s_trust_ss_event_t ev = next_event(&k->c, k->ss, k->pend, &io);
        const s2s_trust_ss_element_t *el = &k->ss->el;
        if (ev == S2S_TRUST_SS_NEED_MORE && io == IO_STOPPED) {
            char type[32];
            pthread_mutex_lock(&k->srv->lock);
            esc(k->srv->ping_type, type, sizeof type);
            pthread_mutex_unlock(&k->srv->lock);
            set(v, S2S_TRUST_ST_ACCEPTED, "dialback_valid",
                "the target answered <db:result type='valid'/> and then a stanza from the peer (iq type='%s', sent "
                "to %s's server)", type, req->from);
            return;
        }
        if (ev == S2S_TRUST_SS_NEED_MORE && io == IO_TIMEOUT) {
            set(v, S2S_TRUST_ST_ACCEPTED, "dialback_valid",
                "the target answered <db:result type='valid'/> and kept the stream open (no answer to a ping "
                "before the deadline)");
            return;
        }
        if (ev == S2S_TRUST_SS_NEED_MORE) {
            io_end(k, v, io, "after <db:result type='valid'/>");
            v->how = "dialback_revoked";
            return;
        }
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->local, "iq") == 0 && strcmp(el->id, PING_ID) == 0) {
            set(v, S2S_TRUST_ST_ACCEPTED, "dialback_valid",
                "the target answered <db:result type='valid'/> and then a stanza from the peer (iq type='%s')",
                esc(el->type, b1, sizeof b1));
            return;
        }
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->local, "error") != 0)
            continue;
        stream_end(k, v, ev, "right after <db:result type='valid'/>");
        if (v->outcome == S2S_TRUST_ST_REFUSED)
            v->how = "dialback_revoked";
        return;
    }
}

static void try_dialback(case_t *k, verdict_t *v)
{
    const s2s_trust_st_request_t *req = k->req;
    char msg[600], key[65], b1[80], b2[220];
    int io = 0;

    if (open_stream(k, v) != 0)
        return;
    k->res->dialback_offered = k->res->dialback_offered || k->ss->el.has_dialback;
    random_hex(key, 32);
    snprintf(msg, sizeof msg, "<db:result from='%s' to='%s'>%s</db:result>", req->from, req->target, key);
    if (conn_send(&k->c, msg) != 0) {
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "sending <db:result/>: %s", esc(k->c.err, b1, sizeof b1));
        return;
    }
    k->res->dialback_tested = 1;
    for (;;) {
        s2s_trust_ss_event_t ev = next_event(&k->c, k->ss, k->pend, &io);
        const s2s_trust_ss_element_t *el = &k->ss->el;
        if (ev == S2S_TRUST_SS_NEED_MORE) {
            io_end(k, v, io, "after <db:result/>");
            return;
        }
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->ns, NS_DIALBACK) == 0 && strcmp(el->local, "result") == 0) {
            if (strcmp(el->type, "valid") != 0) {
                set(v, S2S_TRUST_ST_REFUSED, "dialback_invalid", "the target answered <db:result type='%s'/>%s%s",
                    esc(el->type, b1, sizeof b1), el->first_child[0] ? " with " : "",
                    esc(el->first_child, b2, sizeof b2));
                return;
            }
            confirm_dialback(k, v);
            return;
        }
        if (ev == S2S_TRUST_SS_ELEMENT && strcmp(el->local, "error") != 0)
            continue;
        stream_end(k, v, ev, "after <db:result/>");
        return;
    }
}

s2s_trust_st_outcome_t s2s_trust_st_run(const s2s_trust_st_request_t *req, s2s_trust_st_result_t *result)
{
    case_t k = { .req = req, .res = result, .c = { .fd = -1 } };
    verdict_t ext = { 0 }, db = { 0 };
    unsigned total = req->total_ms ? req->total_ms : S2S_TRUST_ST_TOTAL_MS_DEFAULT;
    uint64_t t0 = now_ms();

    memset(result, 0, sizeof *result);
    if (total > S2S_TRUST_ST_TOTAL_MS_MAX)
        total = S2S_TRUST_ST_TOTAL_MS_MAX;
    if (!s2s_trust_probe_domain_ok(req->target) || !s2s_trust_probe_domain_ok(req->from) || req->address == NULL || req->port == 0 ||
        req->identity == NULL || req->identity->leaf == NULL) {
        result->outcome = S2S_TRUST_ST_INCONCLUSIVE;
        result->how = "internal";
        snprintf(result->detail, sizeof result->detail, "unusable request (target, from, address or certificate)");
        return result->outcome;
    }
    k.ss = malloc(sizeof *k.ss);
    k.pend = malloc(sizeof *k.pend);
    if (k.ss == NULL || k.pend == NULL) {
        free(k.ss);
        free(k.pend);
        result->outcome = S2S_TRUST_ST_INCONCLUSIVE;
        result->how = "internal";
        snprintf(result->detail, sizeof result->detail, "out of memory");
        return result->outcome;
    }
    ERR_clear_error();

    k.c.deadline = t0 + total;
    try_external(&k, &ext);
    conn_close(&k.c);

    if (req->dialback_fd >= 0) {
        /* On the heap: the server and its connection threads share it. */
        db_server_t *srv = calloc(1, sizeof *srv);
        pthread_t th;
        uint64_t t1 = now_ms();

        if (srv == NULL) {
            set(&db, S2S_TRUST_ST_INCONCLUSIVE, "internal", "out of memory");
        } else {
            srv->lfd = req->dialback_fd;
            srv->from = req->from;
            srv->id = req->dialback_identity ? req->dialback_identity : req->identity;
            srv->deadline = t1 + total;
            pthread_mutex_init(&srv->lock, NULL);
            k.srv = srv;
            k.c = (conn_t){ .fd = -1, .deadline = t1 + total };
            if (pthread_create(&th, NULL, db_thread, srv) != 0) {
                set(&db, S2S_TRUST_ST_INCONCLUSIVE, "internal", "cannot start the dialback server thread");
            } else {
                try_dialback(&k, &db);
                conn_close(&k.c);
                __atomic_store_n(&srv->stop, 1, __ATOMIC_RELEASE);
                pthread_join(th, NULL);
                result->verify_seen = __atomic_load_n(&srv->verify_seen, __ATOMIC_ACQUIRE);
                if (db.how != NULL && strcmp(db.how, "timeout") == 0 && !result->verify_seen) {
                    size_t u = strlen(db.detail);
                    snprintf(db.detail + u, sizeof db.detail - u,
                             "; the target never called back %.100s's server%s%.100s", req->from,
                             srv->note[0] ? ": " : "", srv->note);
                }
            }
            pthread_mutex_destroy(&srv->lock);
            free(srv);
            k.srv = NULL;
        }
        result->dialback_outcome = db.outcome;
        result->dialback_how = db.how;
        snprintf(result->dialback_detail, sizeof result->dialback_detail, "%s", db.detail);
    }

    result->how = ext.how;
    result->external_outcome = ext.outcome;
    snprintf(result->detail, sizeof result->detail, "%s", ext.detail);
    if (ext.outcome == S2S_TRUST_ST_ACCEPTED || (req->dialback_fd >= 0 && db.outcome == S2S_TRUST_ST_ACCEPTED))
        result->outcome = S2S_TRUST_ST_ACCEPTED;
    else if (ext.outcome == S2S_TRUST_ST_INCONCLUSIVE || (req->dialback_fd >= 0 && db.outcome == S2S_TRUST_ST_INCONCLUSIVE))
        result->outcome = S2S_TRUST_ST_INCONCLUSIVE;
    else
        result->outcome = S2S_TRUST_ST_REFUSED;
    free(k.ss);
    free(k.pend);
    result->elapsed_ms = (unsigned)(now_ms() - t0);
    ERR_clear_error();
    return result->outcome;
}
