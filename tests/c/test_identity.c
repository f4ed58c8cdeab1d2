/* test_identity.c - RFC 6120/9525 name matching on certificates built in memory
 * (the openssl test/v3nametest.c approach: exact bytes, NULs included). */
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "core/s2s_trust_identity.h"
#include "testing.h"
#include "tests.h"

typedef struct {
    s2s_trust_id_type_t type; /* DNS, SRV, XMPP; CN goes into the subject */
    const char *value;
    size_t len;               /* 0 = strlen(value) */
} name_spec_t;

static int add_other_name(GENERAL_NAMES *names, int nid, int asn1_type, const char *v, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_TYPE *value = ASN1_TYPE_new();
    ASN1_STRING *str = ASN1_STRING_type_new(asn1_type);

    if (!gn || !value || !str || !ASN1_STRING_set(str, v, (int)len))
        return -1;
    ASN1_TYPE_set(value, asn1_type, str);
    if (!GENERAL_NAME_set0_othername(gn, OBJ_nid2obj(nid), value))
        return -1;
    return sk_GENERAL_NAME_push(names, gn) > 0 ? 0 : -1;
}

static X509 *make_cert(const name_spec_t *specs, size_t n)
{
    X509 *x = X509_new();
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    X509_NAME *subject = X509_NAME_new();
    bool any_san = false;

    for (size_t i = 0; i < n; i++) {
        size_t len = specs[i].len ? specs[i].len : strlen(specs[i].value);
        switch (specs[i].type) {
        case S2S_TRUST_ID_CN:
            X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                       (const unsigned char *)specs[i].value, (int)len, -1, 0);
            break;
        case S2S_TRUST_ID_DNS: {
            GENERAL_NAME *gn = GENERAL_NAME_new();
            ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
            ASN1_STRING_set(ia5, specs[i].value, (int)len);
            GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
            sk_GENERAL_NAME_push(names, gn);
            any_san = true;
            break;
        }
        case S2S_TRUST_ID_SRV:
            add_other_name(names, NID_SRVName, V_ASN1_IA5STRING, specs[i].value, len);
            any_san = true;
            break;
        case S2S_TRUST_ID_XMPP:
            add_other_name(names, NID_XmppAddr, V_ASN1_UTF8STRING, specs[i].value, len);
            any_san = true;
            break;
        default:
            break;
        }
    }
    X509_set_subject_name(x, subject);
    if (any_san)
        X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, 0);
    GENERAL_NAMES_free(names);
    X509_NAME_free(subject);
    return x;
}

static bool matches(const name_spec_t *specs, size_t n, const char *domain, bool allow_cn,
                    s2s_trust_id_type_t *by)
{
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    X509 *x = make_cert(specs, n);
    bool ok = s2s_trust_identity_normalize(domain, strlen(domain), norm, sizeof norm) == 0 &&
              s2s_trust_identity_matches(x, norm, allow_cn, by);
    X509_free(x);
    return ok;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

void test_identity_normalize(void)
{
    char out[S2S_TRUST_DOMAIN_MAX + 1];
    char long_label[80];
    char long_name[300];

    CHECK(s2s_trust_identity_normalize("Example.ORG", 11, out, sizeof out) == 0);
    CHECK_STR(out, "example.org");
    CHECK(s2s_trust_identity_normalize("example.org.", 12, out, sizeof out) == 0);
    CHECK_STR(out, "example.org");
    CHECK(s2s_trust_identity_normalize("bücher.test", strlen("bücher.test"), out, sizeof out) == 0);
    CHECK_STR(out, "xn--bcher-kva.test");
    CHECK(s2s_trust_identity_normalize("BÜCHER.test", strlen("BÜCHER.test"), out, sizeof out) == 0);
    CHECK_STR(out, "xn--bcher-kva.test");
    CHECK(s2s_trust_identity_normalize("XN--BCHER-KVA.test", 18, out, sizeof out) == 0);
    CHECK_STR(out, "xn--bcher-kva.test");

    CHECK(s2s_trust_identity_normalize("", 0, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize(".", 1, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("a..b", 4, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize(".a.b", 4, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("good.test\0.evil", 15, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("user@host.test", 14, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("host.test/res", 13, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("*.wild.test", 11, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("127.0.0.1", 9, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("[::1]", 5, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("a b.test", 8, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize("\xff\xfe.test", 7, out, sizeof out) == -1);

    memset(long_label, 'a', 64);
    memcpy(long_label + 64, ".test", 6);
    CHECK(s2s_trust_identity_normalize(long_label, strlen(long_label), out, sizeof out) == -1);
    memmove(long_label + 63, long_label + 64, 6); /* now a 63-octet label: legal */
    CHECK(s2s_trust_identity_normalize(long_label, strlen(long_label), out, sizeof out) == 0);
    memset(long_name, 'a', sizeof long_name);
    for (size_t i = 10; i < sizeof long_name; i += 11)
        long_name[i] = '.';
    CHECK(s2s_trust_identity_normalize(long_name, 254, out, sizeof out) == -1);
    CHECK(s2s_trust_identity_normalize(long_name, 252, out, sizeof out) == 0);
}

void test_identity_dns_id(void)
{
    name_spec_t plain[] = { { S2S_TRUST_ID_DNS, "good.test", 0 } };
    name_spec_t upper[] = { { S2S_TRUST_ID_DNS, "GOOD.Test", 0 } };
    s2s_trust_id_type_t by;

    CHECK(matches(plain, N(plain), "good.test", false, &by) && by == S2S_TRUST_ID_DNS);
    CHECK(matches(plain, N(plain), "GOOD.TEST", false, NULL));
    CHECK(matches(upper, N(upper), "good.test", false, NULL));
    CHECK(!matches(plain, N(plain), "www.good.test", false, NULL));
    CHECK(!matches(plain, N(plain), "good.test.evil", false, NULL));
    CHECK(!matches(plain, N(plain), "ood.test", false, NULL));
}

void test_identity_wildcards(void)
{
    name_spec_t wild[] = { { S2S_TRUST_ID_DNS, "*.wild.test", 0 } };
    name_spec_t partial[] = { { S2S_TRUST_ID_DNS, "f*.pwild.test", 0 } };
    name_spec_t tld[] = { { S2S_TRUST_ID_DNS, "*.test", 0 } };
    name_spec_t srv[] = { { S2S_TRUST_ID_SRV, "_xmpp-server.*.swild.test", 0 } };
    name_spec_t xmpp[] = { { S2S_TRUST_ID_XMPP, "*.xwild.test", 0 } };

    CHECK(matches(wild, N(wild), "a.wild.test", false, NULL));
    CHECK(!matches(wild, N(wild), "a.b.wild.test", false, NULL)); /* exactly one label */
    CHECK(!matches(wild, N(wild), "wild.test", false, NULL));     /* never the bare domain */
    CHECK(!matches(partial, N(partial), "foo.pwild.test", false, NULL));
    CHECK(!matches(tld, N(tld), "anything.test", false, NULL));
    CHECK(matches(srv, N(srv), "conference.swild.test", false, NULL));
    CHECK(!matches(srv, N(srv), "swild.test", false, NULL));
    CHECK(!matches(srv, N(srv), "a.b.swild.test", false, NULL));
    CHECK(!matches(xmpp, N(xmpp), "a.xwild.test", false, NULL)); /* XmppAddr has no wildcards */
}

void test_identity_xmpp_addr(void)
{
    name_spec_t bare[] = { { S2S_TRUST_ID_XMPP, "xmpp.test", 0 } };
    name_spec_t jid[] = { { S2S_TRUST_ID_XMPP, "user@jid.test", 0 } };
    name_spec_t res[] = { { S2S_TRUST_ID_XMPP, "jid.test/resource", 0 } };
    name_spec_t idn[] = { { S2S_TRUST_ID_XMPP, "bücher-x.test", 0 } };
    name_spec_t nul[] = { { S2S_TRUST_ID_XMPP, "xmpp.test\0.evil.test", 20 } };
    s2s_trust_id_type_t by;

    CHECK(matches(bare, N(bare), "xmpp.test", false, &by) && by == S2S_TRUST_ID_XMPP);
    CHECK(matches(bare, N(bare), "XMPP.test", false, NULL));
    CHECK(!matches(jid, N(jid), "jid.test", false, NULL));
    CHECK(!matches(res, N(res), "jid.test", false, NULL));
    CHECK(matches(idn, N(idn), "xn--bcher-x-n2a.test", false, NULL));
    CHECK(matches(idn, N(idn), "bücher-x.test", false, NULL));
    CHECK(!matches(nul, N(nul), "xmpp.test", false, NULL));
    CHECK(!matches(nul, N(nul), "evil.test", false, NULL));
}

void test_identity_srv_id(void)
{
    name_spec_t srv[] = { { S2S_TRUST_ID_SRV, "_xmpp-server.srv.test", 0 } };
    name_spec_t upper[] = { { S2S_TRUST_ID_SRV, "_XMPP-Server.SRV.test", 0 } };
    name_spec_t client[] = { { S2S_TRUST_ID_SRV, "_xmpp-client.srvc.test", 0 } };
    name_spec_t bare[] = { { S2S_TRUST_ID_SRV, "_xmpp-server.", 0 } };
    s2s_trust_id_type_t by;

    CHECK(matches(srv, N(srv), "srv.test", false, &by) && by == S2S_TRUST_ID_SRV);
    CHECK(matches(upper, N(upper), "srv.test", false, NULL));
    CHECK(!matches(client, N(client), "srvc.test", false, NULL));
    CHECK(!matches(bare, N(bare), "srv.test", false, NULL));
    CHECK(!matches(srv, N(srv), "_xmpp-server.srv.test", false, NULL));
}

void test_identity_embedded_nul_in_dns(void)
{
    name_spec_t nul[] = { { S2S_TRUST_ID_DNS, "nul.test\0.evil.test", 19 } };

    CHECK(!matches(nul, N(nul), "nul.test", false, NULL));
    CHECK(!matches(nul, N(nul), "evil.test", false, NULL));
    CHECK(!matches(nul, N(nul), "nul.test.evil.test", false, NULL));
}

void test_identity_common_name(void)
{
    name_spec_t cn_only[] = { { S2S_TRUST_ID_CN, "cnonly.test", 0 } };
    name_spec_t cn_and_dns[] = { { S2S_TRUST_ID_CN, "cnsan-cn.test", 0 },
                                 { S2S_TRUST_ID_DNS, "cnsan.test", 0 } };
    name_spec_t cn_and_xmpp[] = { { S2S_TRUST_ID_CN, "cnx-cn.test", 0 },
                                  { S2S_TRUST_ID_XMPP, "cnx.test", 0 } };
    s2s_trust_id_type_t by;

    CHECK(!matches(cn_only, N(cn_only), "cnonly.test", false, NULL));
    CHECK(matches(cn_only, N(cn_only), "cnonly.test", true, &by) && by == S2S_TRUST_ID_CN);
    CHECK(!matches(cn_and_dns, N(cn_and_dns), "cnsan-cn.test", true, NULL));
    CHECK(matches(cn_and_dns, N(cn_and_dns), "cnsan.test", true, NULL));
    /* Any SAN identity, not just a dNSName, switches CN off (RFC 6125 6.4.4). */
    CHECK(!matches(cn_and_xmpp, N(cn_and_xmpp), "cnx-cn.test", true, NULL));
}

typedef struct {
    int count[5];
} seen_t;

static void count_names(void *arg, s2s_trust_id_type_t type, const unsigned char *v, size_t len)
{
    (void)v;
    (void)len;
    ((seen_t *)arg)->count[type]++;
}

void test_identity_list(void)
{
    name_spec_t all[] = { { S2S_TRUST_ID_CN, "c.test", 0 },
                          { S2S_TRUST_ID_DNS, "a.test", 0 },
                          { S2S_TRUST_ID_DNS, "b.test", 0 },
                          { S2S_TRUST_ID_SRV, "_xmpp-server.a.test", 0 },
                          { S2S_TRUST_ID_XMPP, "a.test", 0 } };
    X509 *x = make_cert(all, N(all));
    seen_t seen = { { 0 } };

    s2s_trust_identity_list(x, count_names, &seen);
    CHECK(seen.count[S2S_TRUST_ID_DNS] == 2);
    CHECK(seen.count[S2S_TRUST_ID_SRV] == 1);
    CHECK(seen.count[S2S_TRUST_ID_XMPP] == 1);
    CHECK(seen.count[S2S_TRUST_ID_CN] == 1);
    X509_free(x);
}
