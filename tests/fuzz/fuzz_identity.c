/*
 * fuzz_identity.c - certificate names -> s2s_trust_identity_*.
 *
 * The certificate is built in memory, like OpenSSL's test/v3nametest.c, so
 * every input reaches the matcher (a DER leaf from the network would almost
 * always fail to parse first). Input framing (mkseeds.py writes it):
 *   u8 flags: bit 0 allow_cn; bit 1 raw SAN (see below); bit 2 add a SAN
 *             extension even when no SAN entry was given (an empty one);
 *   u8 L, L bytes: the domain, given to s2s_trust_identity_normalize;
 *   then, normally, entries until the input ends (at most MAX_ENTRIES):
 *     u8 kind, u8 L, L bytes (raw: NULs, non-UTF-8, anything);
 *   with the raw-SAN bit, one u8 L + L bytes of subject CN, and the rest of
 *   the input is the DER *value* of the subjectAltName extension, so that
 *   OpenSSL's GENERAL_NAMES parser and our walk over its result see shapes
 *   the builder cannot make.
 *
 * Asserted:
 *   - normalize: 0 or -1; a success is 1..253 octets of lower-case LDH
 *     labels (plus '_'), no empty label, none over 63, not all digits,
 *     and normalizing it again gives it back; an input with a NUL fails;
 *     one byte less of output room fails without writing past it;
 *   - list reports exactly the DNS, well-typed XmppAddr and SRV-ID SAN
 *     entries, in order, byte for byte, then every CN;
 *   - matches: true iff matched_by is set; never CN with allow_cn off;
 *     allow_cn only ever adds a CN match; a CN match only when the
 *     certificate has no DNS, URI, XmppAddr or SRV SAN at all; and every
 *     match has a witness among the listed names (soundness: a match is
 *     never made out of nothing).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "core/s2s_trust_identity.h"

#define MAX_ENTRIES 32

enum {
    K_DNS,        /* dNSName */
    K_XMPP,       /* otherName id-on-xmppAddr, UTF8String (listed) */
    K_XMPP_IA5,   /* id-on-xmppAddr with the wrong string type (ignored) */
    K_SRV,        /* otherName id-on-dnsSRV, IA5String (listed) */
    K_SRV_UTF8,   /* id-on-dnsSRV with the wrong string type (ignored) */
    K_URI,        /* uniformResourceIdentifier: not an identity, blocks CN */
    K_CN,         /* subject commonName, UTF8String */
    K_CN_IA5,     /* subject commonName, IA5String */
    K_OTHER_OID,  /* otherName with an OID we do not know */
    K_IP,         /* iPAddress, raw octets */
    K_EMAIL,      /* rfc822Name */
    K_COUNT
};

typedef struct {
    s2s_trust_id_type_t type;
    const unsigned char *value;
    size_t len;
} seen_t;

typedef struct {
    seen_t items[2 * MAX_ENTRIES + 64];
    size_t n;
    bool overflow;
} seen_list_t;

static void collect(void *arg, s2s_trust_id_type_t type, const unsigned char *value, size_t len)
{
    seen_list_t *l = arg;

    FUZZ_CHECK(type >= S2S_TRUST_ID_DNS && type <= S2S_TRUST_ID_CN, "listed type %d", type);
    FUZZ_CHECK(value != NULL || len == 0, "listed NULL value of length %zu", len);
    if (len > 0)
        (void)((volatile const unsigned char *)value)[len - 1]; /* ASan: the whole value is there */
    if (l->n == sizeof l->items / sizeof l->items[0]) {
        l->overflow = true;
        return;
    }
    /* Copied: the value lives only as long as the callback (list frees the
     * decoded SANs when it returns). */
    l->items[l->n++] = (seen_t){ type, fuzz_dup(value, len), len };
}

static void seen_free(seen_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((void *)l->items[i].value);
    l->n = 0;
}

int FuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

void FuzzerCleanup(void)
{
}

static ASN1_STRING *string_of(int type, const uint8_t *p, size_t len)
{
    ASN1_STRING *s = ASN1_STRING_type_new(type);

    if (s == NULL || !ASN1_STRING_set(s, p, (int)len))
        abort();
    return s;
}

static GENERAL_NAME *other_name(ASN1_OBJECT *oid, int type, const uint8_t *p, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_TYPE *val = ASN1_TYPE_new();

    if (gn == NULL || val == NULL)
        abort();
    ASN1_TYPE_set(val, type, string_of(type, p, len));
    if (!GENERAL_NAME_set0_othername(gn, oid, val))
        abort();
    return gn;
}

static GENERAL_NAME *simple_name(int gtype, int stype, const uint8_t *p, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();

    if (gn == NULL)
        abort();
    GENERAL_NAME_set0_value(gn, gtype, string_of(stype, p, len));
    return gn;
}

static void add_cn(X509_NAME *name, int type, const uint8_t *p, size_t len)
{
    if (!X509_NAME_add_entry_by_NID(name, NID_commonName, type, p, (int)len, -1, 0))
        abort();
}

static bool nocase_eq(const unsigned char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && (alen == 0 || strncasecmp((const char *)a, b, alen) == 0) &&
           memchr(a, '\0', alen) == NULL;
}

/* "*." + parent covering exactly one non-empty left-most label of domain. */
static bool wildcard_witness(const unsigned char *v, size_t len, const char *domain, bool normalize)
{
    const char *dot = strchr(domain, '.');
    char norm[S2S_TRUST_DOMAIN_MAX + 1];

    if (len < 3 || v[0] != '*' || v[1] != '.' || dot == NULL || dot == domain)
        return false;
    if (!normalize)
        return nocase_eq(v + 2, len - 2, dot + 1);
    return s2s_trust_identity_normalize((const char *)v + 2, len - 2, norm, sizeof norm) == 0 &&
           strchr(norm, '.') != NULL && strcmp(norm, dot + 1) == 0;
}

static bool witness(const seen_list_t *l, s2s_trust_id_type_t by, const char *domain)
{
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    const size_t plen = strlen("_xmpp-server.");

    for (size_t i = 0; i < l->n; i++) {
        const seen_t *s = &l->items[i];
        if (s->type != by)
            continue;
        switch (by) {
        case S2S_TRUST_ID_DNS: /* OpenSSL's X509_check_host: byte-wise, ASCII case folded */
            if (nocase_eq(s->value, s->len, domain) || wildcard_witness(s->value, s->len, domain, false))
                return true;
            break;
        case S2S_TRUST_ID_SRV:
            if (s->len > plen && strncasecmp((const char *)s->value, "_xmpp-server.", plen) == 0 &&
                ((s2s_trust_identity_normalize((const char *)s->value + plen, s->len - plen, norm,
                                               sizeof norm) == 0 &&
                  strcmp(norm, domain) == 0) ||
                 wildcard_witness(s->value + plen, s->len - plen, domain, true)))
                return true;
            break;
        case S2S_TRUST_ID_XMPP: /* a bare domain, never a JID with local part or resource */
            if (memchr(s->value, '@', s->len) == NULL && memchr(s->value, '/', s->len) == NULL &&
                s2s_trust_identity_normalize((const char *)s->value, s->len, norm, sizeof norm) == 0 &&
                strcmp(norm, domain) == 0)
                return true;
            break;
        case S2S_TRUST_ID_CN:
            if (s2s_trust_identity_normalize((const char *)s->value, s->len, norm, sizeof norm) == 0 &&
                strcmp(norm, domain) == 0)
                return true;
            if (wildcard_witness(s->value, s->len, domain, true))
                return true;
            break;
        default:
            break;
        }
    }
    return false;
}

static void check_normalized(const char *norm)
{
    size_t len = strlen(norm), label = 0;
    bool all_digits = true;
    char again[S2S_TRUST_DOMAIN_MAX + 1];

    FUZZ_CHECK(len >= 1 && len <= S2S_TRUST_DOMAIN_MAX, "normalized length %zu", len);
    for (size_t i = 0; i < len; i++) {
        char c = norm[i];
        if (c == '.') {
            FUZZ_CHECK(label > 0, "empty label in '%s'", norm);
            label = 0;
            continue;
        }
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_',
                   "byte 0x%02x in normalized '%s'", (unsigned char)c, norm);
        if (!(c >= '0' && c <= '9'))
            all_digits = false;
        label++;
        FUZZ_CHECK(label <= 63, "label over 63 octets in '%s'", norm);
    }
    FUZZ_CHECK(label > 0, "empty last label in '%s'", norm);
    FUZZ_CHECK(!all_digits, "all-digit name '%s' accepted", norm);
    FUZZ_CHECK(s2s_trust_identity_normalize(norm, len, again, sizeof again) == 0 && strcmp(again, norm) == 0,
               "normalize is not idempotent on '%s'", norm);
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    fuzz_in_t in = { buf, len };
    unsigned flags = fuzz_u8(&in);
    const uint8_t *p;
    size_t dlen = fuzz_take(&in, fuzz_u8(&in), &p);
    char *domain = (char *)fuzz_dup(p, dlen);
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    X509 *x = X509_new();
    X509_NAME *subject;
    GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
    seen_list_t expect = { .n = 0 }, got = { .n = 0 };
    bool raw = flags & 2, blocks_cn = false;
    unsigned char *copies[MAX_ENTRIES + 1] = { NULL };
    size_t ncopies = 0;
    int rc;

    if (x == NULL || sans == NULL)
        abort();
    /* CNs go into the certificate's own name: X509_set_subject_name would
     * re-encode a copy, which refuses a UTF8String that is not UTF-8. */
    subject = X509_get_subject_name(x);

    /* ---- normalize ---- */
    rc = s2s_trust_identity_normalize(domain, dlen, norm, sizeof norm);
    FUZZ_CHECK(rc == 0 || rc == -1, "normalize returned %d", rc);
    if (memchr(domain, '\0', dlen) != NULL)
        FUZZ_CHECK(rc == -1, "a domain with a NUL byte normalized to '%s'", norm);
    if (rc == 0) {
        size_t nlen = strlen(norm);
        char *tight = malloc(nlen); /* one byte short: exact size so ASan sees an overrun */
        check_normalized(norm);
        FUZZ_CHECK(tight != NULL, "malloc");
        FUZZ_CHECK(s2s_trust_identity_normalize(domain, dlen, tight, nlen) == -1,
                   "'%s' fitted in %zu bytes", norm, nlen);
        free(tight);
    }

    /* ---- the certificate ---- */
    if (raw) {
        size_t cnlen = fuzz_take(&in, fuzz_u8(&in), &p);
        ASN1_OCTET_STRING *os;
        X509_EXTENSION *ext;

        add_cn(subject, V_ASN1_UTF8STRING, p, cnlen);
        fuzz_take(&in, in.left, &p);
        copies[ncopies] = fuzz_dup(p, (size_t)(in.p - p));
        os = string_of(V_ASN1_OCTET_STRING, copies[ncopies], (size_t)(in.p - p));
        ncopies++;
        ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, os);
        if (ext == NULL || !X509_add_ext(x, ext, -1))
            abort();
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
    } else {
        seen_t cns[MAX_ENTRIES];
        size_t ncn = 0;

        for (int e = 0; e < MAX_ENTRIES && in.left >= 2; e++) {
            unsigned kind = fuzz_u8(&in) % K_COUNT;
            size_t l = fuzz_take(&in, fuzz_u8(&in), &p);
            GENERAL_NAME *gn = NULL;

            /* The certificate holds its own copies; compare against these. */
            copies[ncopies] = fuzz_dup(p, l);
            p = copies[ncopies++];
            switch (kind) {
            case K_DNS:
                gn = simple_name(GEN_DNS, V_ASN1_IA5STRING, p, l);
                expect.items[expect.n++] = (seen_t){ S2S_TRUST_ID_DNS, p, l };
                blocks_cn = true;
                break;
            case K_XMPP:
                gn = other_name(OBJ_nid2obj(NID_XmppAddr), V_ASN1_UTF8STRING, p, l);
                expect.items[expect.n++] = (seen_t){ S2S_TRUST_ID_XMPP, p, l };
                blocks_cn = true;
                break;
            case K_XMPP_IA5:
                gn = other_name(OBJ_nid2obj(NID_XmppAddr), V_ASN1_IA5STRING, p, l);
                blocks_cn = true;
                break;
            case K_SRV:
                gn = other_name(OBJ_nid2obj(NID_SRVName), V_ASN1_IA5STRING, p, l);
                expect.items[expect.n++] = (seen_t){ S2S_TRUST_ID_SRV, p, l };
                blocks_cn = true;
                break;
            case K_SRV_UTF8:
                gn = other_name(OBJ_nid2obj(NID_SRVName), V_ASN1_UTF8STRING, p, l);
                blocks_cn = true;
                break;
            case K_URI:
                gn = simple_name(GEN_URI, V_ASN1_IA5STRING, p, l);
                blocks_cn = true;
                break;
            case K_CN:
            case K_CN_IA5:
                add_cn(subject, kind == K_CN ? V_ASN1_UTF8STRING : V_ASN1_IA5STRING, p, l);
                cns[ncn++] = (seen_t){ S2S_TRUST_ID_CN, p, l };
                break;
            case K_OTHER_OID: {
                ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.55555.1", 1);
                if (oid == NULL)
                    abort();
                gn = other_name(oid, V_ASN1_UTF8STRING, p, l);
                break;
            }
            case K_IP:
                gn = simple_name(GEN_IPADD, V_ASN1_OCTET_STRING, p, l);
                break;
            case K_EMAIL:
                gn = simple_name(GEN_EMAIL, V_ASN1_IA5STRING, p, l);
                break;
            default:
                abort();
            }
            if (gn != NULL && sk_GENERAL_NAME_push(sans, gn) <= 0)
                abort();
        }
        for (size_t i = 0; i < ncn; i++)
            expect.items[expect.n++] = cns[i];
        if ((sk_GENERAL_NAME_num(sans) > 0 || (flags & 4)) &&
            X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) != 1)
            abort();
    }

    /* ---- list ---- */
    s2s_trust_identity_list(x, collect, &got);
    ERR_clear_error(); /* a raw SAN that does not parse queues an error; not ours to judge here */
    if (!raw) {
        FUZZ_CHECK(!got.overflow && got.n == expect.n, "listed %zu names, built %zu", got.n, expect.n);
        for (size_t i = 0; i < got.n; i++)
            FUZZ_CHECK(got.items[i].type == expect.items[i].type && got.items[i].len == expect.items[i].len &&
                           memcmp(got.items[i].value, expect.items[i].value, got.items[i].len) == 0,
                       "name %zu listed as type %d length %zu, built as type %d length %zu", i,
                       got.items[i].type, got.items[i].len, expect.items[i].type, expect.items[i].len);
    }

    /* ---- matches ---- */
    if (rc == 0) {
        s2s_trust_id_type_t by_strict = (s2s_trust_id_type_t)-1, by_cn = (s2s_trust_id_type_t)-1;
        bool strict = s2s_trust_identity_matches(x, norm, false, &by_strict);
        bool with_cn = s2s_trust_identity_matches(x, norm, true, &by_cn);
        bool want_cn = flags & 1;
        s2s_trust_id_type_t by_opt;
        bool opt = s2s_trust_identity_matches(x, norm, want_cn, NULL); /* NULL matched_by is allowed */

        ERR_clear_error();
        FUZZ_CHECK(strict == (by_strict != S2S_TRUST_ID_NONE), "strict: %d by %d", strict, by_strict);
        FUZZ_CHECK(with_cn == (by_cn != S2S_TRUST_ID_NONE), "with cn: %d by %d", with_cn, by_cn);
        FUZZ_CHECK(by_strict != S2S_TRUST_ID_CN, "CN match with allow_cn off");
        FUZZ_CHECK(!strict || (with_cn && by_cn == by_strict), "allow_cn changed a %s match to %s",
                   s2s_trust_id_type_name(by_strict), s2s_trust_id_type_name(by_cn));
        FUZZ_CHECK(!with_cn || by_cn == S2S_TRUST_ID_CN || strict, "allow_cn made a %s match",
                   s2s_trust_id_type_name(by_cn));
        by_opt = want_cn ? by_cn : by_strict;
        FUZZ_CHECK(opt == (by_opt != S2S_TRUST_ID_NONE), "matched_by NULL changed the answer");
        if (by_cn == S2S_TRUST_ID_CN) {
            FUZZ_CHECK(!raw ? !blocks_cn : true, "CN match although a SAN identity or URI is present");
            for (size_t i = 0; i < got.n; i++)
                FUZZ_CHECK(got.items[i].type == S2S_TRUST_ID_CN, "CN match beside a listed %s",
                           s2s_trust_id_type_name(got.items[i].type));
        }
        if (with_cn)
            FUZZ_CHECK(witness(&got, by_cn, norm), "%s match for '%s' without a witness among the names",
                       s2s_trust_id_type_name(by_cn), norm);
        (void)s2s_trust_id_type_name(by_cn);
    }
    FUZZ_CHECK(!s2s_trust_identity_matches(x, "", true, NULL), "the empty domain matched");
    ERR_clear_error();

    seen_free(&got);
    X509_free(x);
    GENERAL_NAMES_free(sans);
    for (size_t i = 0; i < ncopies; i++)
        free(copies[i]);
    free(domain);
    return 0;
}
