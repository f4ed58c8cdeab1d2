/*
 * test_posh.c - the POSH document reader, the hop rules and the match
 * (core/s2s_trust_posh.h): documents as a web server an attacker runs
 * would send them, byte by byte.
 *
 * Fingerprints are made here from the test PKI's good.der with OpenSSL's
 * own digest and base64 (EVP_EncodeBlock), an oracle independent of the
 * reader's decoder and of s2s_trust_posh_base64.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/s2s_trust_posh.h"
#include "testing.h"
#include "tests.h"

static s2s_trust_posh_status_t parse(const char *json, s2s_trust_posh_doc_t *doc)
{
    char why[200];
    s2s_trust_posh_status_t st = s2s_trust_posh_parse(json, strlen(json), doc, why, sizeof why);

    /* why is always terminated and printable, whatever the input. */
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    for (const char *p = why; *p; p++)
        CHECK_MSG(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in why", (unsigned char)*p);
    CHECK(doc->n_fp <= S2S_TRUST_POSH_MAX_FP);
    return st;
}

static s2s_trust_posh_status_t st_of(const char *json)
{
    static s2s_trust_posh_doc_t doc;
    return parse(json, &doc);
}

/* The RFC 7711 example's shape, with these values. */
#define FP256 "4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0XQ="
#define FP512 "25N+1hB2Vo42l9lSGqw+n3BKFhDHsyork8ou+D9B43TXeJ1J81mdQEDqm39oR/EHkPBDDG1y5+AG94Kec0xVqA=="

void test_posh_reads_a_document(void)
{
    s2s_trust_posh_doc_t doc;
    char b64[100];

    CHECK(parse("{\"fingerprints\":[{\"sha-256\":\"" FP256 "\",\"sha-512\":\"" FP512 "\"}],\"expires\":604800}",
                &doc) == S2S_TRUST_POSH_OK);
    CHECK(doc.n_fp == 2 && doc.expires == 604800 && !doc.has_url && doc.n_ignored == 0);
    CHECK(doc.fp[0].alg == S2S_TRUST_POSH_SHA256 && doc.fp[0].len == 32);
    CHECK(doc.fp[1].alg == S2S_TRUST_POSH_SHA512 && doc.fp[1].len == 64);
    CHECK_STR(s2s_trust_posh_base64(doc.fp[0].digest, 32, b64, sizeof b64), FP256);
    CHECK_STR(s2s_trust_posh_base64(doc.fp[1].digest, 64, b64, sizeof b64), FP512);

    /* Any order, white space everywhere JSON allows it, members we do not
     * know (of every type, escapes and all), algorithms we do not use. */
    CHECK(parse(" \r\n\t{ \"x\" : [ 1 , -2.5e+3 , true , false , null , { \"a\\u00e9\\ud83d\\ude00\\n\" : \"\\\"\\\\\\/\\b\\f\\r\\t\" } ] ,"
                " \"expires\" : 60 , \"fingerprints\" : [ { \"sha-1\" : 7 , \"sha-512\" : \"" FP512 "\" } , { } ,"
                " { \"SHA-256\" : \"" FP256 "\" } ] } \n",
                &doc) == S2S_TRUST_POSH_OK);
    CHECK(doc.n_fp == 1 && doc.fp[0].alg == S2S_TRUST_POSH_SHA512 && doc.n_ignored == 2 && doc.expires == 60);

    /* A delegation. */
    CHECK(parse("{\"url\":\"https://hosting.example.net/.well-known/posh/xmpp-server.json\",\"expires\":86400}", &doc) ==
          S2S_TRUST_POSH_OK);
    CHECK(doc.has_url && doc.n_fp == 0 && s2s_trust_posh_delegates(&doc));
    CHECK_STR(doc.url, "https://hosting.example.net/.well-known/posh/xmpp-server.json");
    /* Escapes in the url are decoded like any string. */
    CHECK(parse("{\"url\":\"https:\\/\\/h.example\\u002enet/\",\"expires\":1}", &doc) == S2S_TRUST_POSH_OK);
    CHECK_STR(doc.url, "https://h.example.net/");
    /* Both: the fingerprints win, the url is kept but not followed. */
    CHECK(parse("{\"url\":\"https://h.example/\",\"fingerprints\":[{\"sha-256\":\"" FP256 "\"}],\"expires\":1}", &doc) ==
          S2S_TRUST_POSH_OK);
    CHECK(doc.has_url && doc.n_fp == 1 && !s2s_trust_posh_delegates(&doc));
}

void test_posh_hostile_json(void)
{
    static const char *const bad[] = {
        "", " ", "[]", "\"x\"", "1", "null", "{", "}", "{\"expires\":1", "{\"expires\":1,}", "{,\"expires\":1}",
        "{\"expires\" 1}", "{\"expires\":1}}", "{\"expires\":1} x", "{'expires':1}",
        "{expires:1}", "\xef\xbb\xbf{\"url\":\"https://a.example/\",\"expires\":1}",
        /* duplicates of names we read: two parsers, two documents */
        "{\"expires\":1,\"expires\":2,\"url\":\"https://a.example/\"}",
        "{\"url\":\"https://a.example/\",\"url\":\"https://b.example/\",\"expires\":1}",
        "{\"fingerprints\":[],\"fingerprints\":[],\"expires\":1}",
        "{\"fingerprints\":[{\"sha-256\":\"" FP256 "\",\"sha-256\":\"" FP256 "\"}],\"expires\":1}",
        /* strings */
        "{\"x\":\"a\nb\",\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"\\x\",\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"\\u12\",\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"\\ud800\",\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"\\udc00\\ud800\",\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"\\ud800\\u0041\",\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"\xc0\xaf\",\"url\":\"https://a.example/\",\"expires\":1}",         /* overlong '/' */
        "{\"x\":\"\xed\xa0\x80\",\"url\":\"https://a.example/\",\"expires\":1}",     /* encoded surrogate */
        "{\"x\":\"\xf4\x90\x80\x80\",\"url\":\"https://a.example/\",\"expires\":1}", /* above U+10FFFF */
        "{\"x\":\"\xff\",\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"\xe2\x82\",\"url\":\"https://a.example/\",\"expires\":1}", /* cut sequence */
        "{\"\xc3\x28\":1,\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":\"abc",
        /* numbers and literals */
        "{\"x\":01,\"url\":\"https://a.example/\",\"expires\":1}", "{\"x\":1.,\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":.5,\"url\":\"https://a.example/\",\"expires\":1}", "{\"x\":-,\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":1e,\"url\":\"https://a.example/\",\"expires\":1}", "{\"x\":+1,\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":NaN,\"url\":\"https://a.example/\",\"expires\":1}", "{\"x\":tru,\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":True,\"url\":\"https://a.example/\",\"expires\":1}", "{\"x\":[1,],\"url\":\"https://a.example/\",\"expires\":1}",
        "{\"x\":[,1],\"url\":\"https://a.example/\",\"expires\":1}",
        /* known members of the wrong type or shape */
        "{\"fingerprints\":{},\"expires\":1}", "{\"fingerprints\":\"x\",\"expires\":1}",
        "{\"fingerprints\":[\"" FP256 "\"],\"expires\":1}", "{\"fingerprints\":[[]],\"expires\":1}",
        "{\"fingerprints\":[{\"sha-256\":1}],\"expires\":1}", "{\"fingerprints\":[{\"sha-256\":null}],\"expires\":1}",
        "{\"url\":1,\"expires\":1}", "{\"url\":null,\"expires\":1}", "{\"url\":\"https://a\\u0000b.example/\",\"expires\":1}",
        /* fingerprints: strict base64 of exactly the digest's length */
        "{\"fingerprints\":[{\"sha-256\":\"4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0XQ\"}],\"expires\":1}",    /* no pad */
        "{\"fingerprints\":[{\"sha-256\":\"4_mggdlVx8A3pvHAWW5sD-qJyMtUHgiRuPjVC48N0XQ=\"}],\"expires\":1}",   /* url-safe */
        "{\"fingerprints\":[{\"sha-256\":\"4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0XR=\"}],\"expires\":1}",   /* bits */
        "{\"fingerprints\":[{\"sha-256\":\" 4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0XQ=\"}],\"expires\":1}",  /* space */
        "{\"fingerprints\":[{\"sha-256\":\"4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0X==\"}],\"expires\":1}",   /* 31 B */
        "{\"fingerprints\":[{\"sha-256\":\"4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0XQ=AAAA\"}],\"expires\":1}", /* = inside */
        "{\"fingerprints\":[{\"sha-256\":\"" FP512 "\"}],\"expires\":1}",
        "{\"fingerprints\":[{\"sha-512\":\"" FP256 "\"}],\"expires\":1}",
        "{\"fingerprints\":[{\"sha-256\":\"\"}],\"expires\":1}",
        "{\"fingerprints\":[{\"sha-256\":\"====\"}],\"expires\":1}",
        "{\"fingerprints\":[{\"sha-256\":\"A===\"}],\"expires\":1}",
        "{\"fingerprints\":[{\"sha-256\":\"4/mggdlVx8A3pvHAWW5sD+qJyMtUHgiRuPjVC48N0XQ=\\n\"}],\"expires\":1}",
    };
    s2s_trust_posh_doc_t doc;
    const char *good = "{\"fingerprints\":[{\"sha-256\":\"" FP256 "\"}],\"url\":\"https://a.example/\",\"expires\":9}";
    size_t n = strlen(good);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s2s_trust_posh_status_t st = s2s_trust_posh_parse(bad[i], strlen(bad[i]), &doc, NULL, 0);
        CHECK_MSG(st == S2S_TRUST_POSH_MALFORMED, "case %zu: %s", i, s2s_trust_posh_status_name(st));
        CHECK(doc.n_fp == 0 && !doc.has_url); /* nothing of a refused document survives */
    }
    /* A NUL after the document is a byte after it. */
    CHECK(s2s_trust_posh_parse("{\"url\":\"https://a.example/\",\"expires\":1}", 41, &doc, NULL, 0) ==
          S2S_TRUST_POSH_MALFORMED);
    CHECK(s2s_trust_posh_parse("{\"url\":\"https://a.example/\",\"expires\":1}", 40, &doc, NULL, 0) ==
          S2S_TRUST_POSH_OK);
    /* Every proper prefix of a good document is malformed; so is a NULL. */
    for (size_t k = 0; k < n; k++)
        CHECK_MSG(s2s_trust_posh_parse(good, k, &doc, NULL, 0) == S2S_TRUST_POSH_MALFORMED, "prefix %zu", k);
    CHECK(s2s_trust_posh_parse(good, n, &doc, NULL, 0) == S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_parse(NULL, 0, &doc, NULL, 0) == S2S_TRUST_POSH_MALFORMED);
    /* Every byte flipped to every value: no crash, no overrun, a sane doc. */
    for (size_t k = 0; k < n; k++) {
        char m[256];
        memcpy(m, good, n);
        for (int v = 0; v < 256; v++) {
            m[k] = (char)v;
            if (s2s_trust_posh_parse(m, n, &doc, NULL, 0) == S2S_TRUST_POSH_OK)
                CHECK(doc.n_fp <= 1 && doc.expires >= 1);
        }
    }
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * times + tl + 1), *p = s;

    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < times; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p, tail, tl + 1);
    return s;
}

void test_posh_bounds(void)
{
    s2s_trust_posh_doc_t doc;
    const char *body = "{\"url\":\"https://a.example/\",\"expires\":1}";
    size_t bl = strlen(body);
    char *big = malloc(S2S_TRUST_POSH_MAX_DOC + 2), *s, *open16, *open17, *close;

    /* Size: exactly the maximum reads (padded with white space); one more
     * byte is TOO_LARGE before any of it is read. */
    memset(big, ' ', S2S_TRUST_POSH_MAX_DOC + 1);
    memcpy(big, body, bl);
    CHECK(s2s_trust_posh_parse(big, S2S_TRUST_POSH_MAX_DOC, &doc, NULL, 0) == S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_parse(big, S2S_TRUST_POSH_MAX_DOC + 1, &doc, NULL, 0) == S2S_TRUST_POSH_TOO_LARGE);
    free(big);

    /* Depth: the document is level 1, so 15 more levels inside a member
     * read; 16 more do not. */
    open16 = repeat("{\"url\":\"https://a.example/\",\"expires\":1,\"x\":", "[", 15, "");
    close = repeat("", "]", 15, "}");
    s = malloc(strlen(open16) + strlen(close) + 1);
    sprintf(s, "%s%s", open16, close);
    CHECK(st_of(s) == S2S_TRUST_POSH_OK);
    free(s);
    open17 = repeat("{\"url\":\"https://a.example/\",\"expires\":1,\"x\":", "[", 16, "");
    free(close);
    close = repeat("", "]", 16, "}");
    s = malloc(strlen(open17) + strlen(close) + 1);
    sprintf(s, "%s%s", open17, close);
    CHECK(st_of(s) == S2S_TRUST_POSH_MALFORMED);
    free(s);
    free(open16);
    free(open17);
    free(close);
    /* A deep attack is refused at the bound, not by the stack. */
    s = repeat("{\"x\":", "[{\"y\":", 100000, "");
    CHECK(s2s_trust_posh_parse(s, strlen(s) > S2S_TRUST_POSH_MAX_DOC ? S2S_TRUST_POSH_MAX_DOC : strlen(s), &doc, NULL,
                               0) == S2S_TRUST_POSH_MALFORMED);
    free(s);

    /* Fingerprint objects: 32 read, 33 refused. */
    s = repeat("{\"expires\":1,\"fingerprints\":[", "{\"sha-256\":\"" FP256 "\",\"sha-512\":\"" FP512 "\"},", 31,
               "{\"sha-256\":\"" FP256 "\",\"sha-512\":\"" FP512 "\"}]}");
    CHECK(parse(s, &doc) == S2S_TRUST_POSH_OK && doc.n_fp == 64);
    free(s);
    s = repeat("{\"expires\":1,\"fingerprints\":[", "{},", 32, "{}]}");
    CHECK(st_of(s) == S2S_TRUST_POSH_MALFORMED);
    free(s);

    /* url: 2048 bytes read, 2049 refused. */
    s = repeat("{\"expires\":1,\"url\":\"https://a.example/", "a", S2S_TRUST_POSH_MAX_URL - 18, "\"}");
    CHECK(parse(s, &doc) == S2S_TRUST_POSH_OK && strlen(doc.url) == S2S_TRUST_POSH_MAX_URL);
    free(s);
    s = repeat("{\"expires\":1,\"url\":\"https://a.example/", "a", S2S_TRUST_POSH_MAX_URL - 17, "\"}");
    CHECK(st_of(s) == S2S_TRUST_POSH_MALFORMED);
    free(s);
}

void test_posh_expires_rules(void)
{
    static const struct {
        const char *exp;
        s2s_trust_posh_status_t st;
        uint32_t value;
    } cases[] = {
        { "1", S2S_TRUST_POSH_OK, 1 },
        { "604800", S2S_TRUST_POSH_OK, 604800 },
        { "315360000", S2S_TRUST_POSH_OK, 315360000 },
        { "315360001", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "99999999999999999999999999999", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "0", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "-0", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "-1", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "-604800", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "1.5", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "600.0", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "6e2", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "\"604800\"", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "null", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "[1]", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "true", S2S_TRUST_POSH_BAD_EXPIRES, 0 },
        { "01", S2S_TRUST_POSH_MALFORMED, 0 },
        { "1e", S2S_TRUST_POSH_MALFORMED, 0 },
    };
    s2s_trust_posh_doc_t doc;
    char json[256], why[200];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s2s_trust_posh_status_t st;
        snprintf(json, sizeof json, "{\"url\":\"https://a.example/\",\"expires\":%s}", cases[i].exp);
        st = s2s_trust_posh_parse(json, strlen(json), &doc, why, sizeof why);
        CHECK_MSG(st == cases[i].st, "expires %s: %s (%s)", cases[i].exp, s2s_trust_posh_status_name(st), why);
        if (st == S2S_TRUST_POSH_OK)
            CHECK(doc.expires == cases[i].value);
    }
    snprintf(json, sizeof json, "{\"url\":\"https://a.example/\"}");
    CHECK(s2s_trust_posh_parse(json, strlen(json), &doc, why, sizeof why) == S2S_TRUST_POSH_BAD_EXPIRES);
    CHECK_STR(why, "expires is missing");
}

void test_posh_status_order(void)
{
    s2s_trust_posh_doc_t doc;
    char why[200];
    const char *s;

    /* Neither a usable fingerprint nor a url (algorithms we do not use
     * count for nothing but the report). */
    s = "{\"fingerprints\":[{\"sha-1\":\"x\",\"sha-384\":\"y\"}],\"expires\":60}";
    CHECK(s2s_trust_posh_parse(s, strlen(s), &doc, why, sizeof why) == S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL);
    CHECK(doc.n_ignored == 2);
    CHECK(st_of("{\"expires\":60}") == S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL);
    CHECK(st_of("{\"fingerprints\":[],\"expires\":60}") == S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL);
    CHECK(st_of("{}") == S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL);
    /* Malformed before anything else; then no fingerprints; then expires. */
    CHECK(st_of("{\"expires\":0,\"x\":01}") == S2S_TRUST_POSH_MALFORMED);
    CHECK(st_of("{\"expires\":0}") == S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL);
    /* A document refused for its expires still shows what it holds. */
    s = "{\"fingerprints\":[{\"sha-256\":\"" FP256 "\"}],\"expires\":0}";
    CHECK(s2s_trust_posh_parse(s, strlen(s), &doc, why, sizeof why) == S2S_TRUST_POSH_BAD_EXPIRES && doc.n_fp == 1);
    CHECK_STR(why, "expires is 0");
    CHECK(s2s_trust_posh_parse(s, S2S_TRUST_POSH_MAX_DOC + 1, &doc, why, sizeof why) == S2S_TRUST_POSH_TOO_LARGE);
    CHECK_STR(s2s_trust_posh_status_name(S2S_TRUST_POSH_TOO_MANY_HOPS), "too_many_hops");
    CHECK_STR(s2s_trust_posh_status_name(S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL), "no_fingerprints_or_url");
}

void test_posh_hop_rules(void)
{
    static const struct {
        const char *url;
        int ok;
    } urls[] = {
        { "https://hosting.example.net/.well-known/posh/xmpp-server.json", 1 },
        { "HTTPS://Hosting.Example.NET:8443/p", 1 },
        { "https://h.example", 1 },
        { "https://h.example./x?y=1", 1 },
        { "https://h.example:1/", 1 },
        { "https://h.example:65535", 1 },
        { "http://h.example/", 0 },
        { "ftp://h.example/", 0 },
        { "file:///etc/passwd", 0 },
        { "https://", 0 },
        { "https:///path", 0 },
        { "https://user@h.example/", 0 },
        { "https://h.example@evil.example/", 0 },
        { "https://h.example:0/", 0 },
        { "https://h.example:65536/", 0 },
        { "https://h.example:/", 0 },
        { "https://h.example:443x/", 0 },
        { "https://h.example/a b", 0 },
        { "https://h.example/\x01", 0 },
        { "https://h.example/#frag", 0 },
        { "https://h.ex\\ample/", 0 },
        { "https://-h.example/", 0 },
        { "https://h-.example/", 0 },
        { "https://h..example/", 0 },
        { "https://h_x.example/", 0 },
        { "https://[::1]/", 0 },
        { "https://h.example?x", 0 },
        { "https://h\xc3\xa9.example/", 0 },
        { " https://h.example/", 0 },
    };
    s2s_trust_posh_doc_t first, second, out;

    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++)
        CHECK_MSG(s2s_trust_posh_url_ok(urls[i].url) == urls[i].ok, "%s", urls[i].url);
    CHECK(!s2s_trust_posh_url_ok(NULL));

    CHECK(parse("{\"url\":\"https://hosting.example/p.json\",\"expires\":3600}", &first) == S2S_TRUST_POSH_OK);
    CHECK(parse("{\"fingerprints\":[{\"sha-256\":\"" FP256 "\"}],\"expires\":600}", &second) == S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_delegate(&first, &second, &out) == S2S_TRUST_POSH_OK);
    CHECK(out.n_fp == 1 && out.expires == 600);
    second.expires = 86400;
    CHECK(s2s_trust_posh_delegate(&first, &second, &out) == S2S_TRUST_POSH_OK && out.expires == 3600);
    /* out may be either input. */
    CHECK(s2s_trust_posh_delegate(&first, &second, &first) == S2S_TRUST_POSH_OK);
    CHECK(first.n_fp == 1 && first.expires == 3600 && !first.has_url);

    /* The delegated document delegates again: never followed. */
    CHECK(parse("{\"url\":\"https://hosting.example/p.json\",\"expires\":3600}", &first) == S2S_TRUST_POSH_OK);
    CHECK(parse("{\"url\":\"https://third.example/p.json\",\"expires\":600}", &second) == S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_delegate(&first, &second, &out) == S2S_TRUST_POSH_TOO_MANY_HOPS);
    /* ... even with fingerprints in algorithms we do not use beside it. */
    CHECK(parse("{\"url\":\"https://t.example/\",\"fingerprints\":[{\"sha-1\":\"x\"}],\"expires\":6}", &second) ==
          S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_delegate(&first, &second, &out) == S2S_TRUST_POSH_TOO_MANY_HOPS);
    /* A delegated document with fingerprints and a url: the fingerprints. */
    CHECK(parse("{\"url\":\"https://t.example/\",\"fingerprints\":[{\"sha-256\":\"" FP256 "\"}],\"expires\":6}",
                &second) == S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_delegate(&first, &second, &out) == S2S_TRUST_POSH_OK && out.expires == 6);
    /* Only a delegating first document with an https url may be followed. */
    CHECK(parse("{\"url\":\"http://hosting.example/p.json\",\"expires\":3600}", &first) == S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_delegates(&first));
    CHECK(s2s_trust_posh_delegate(&first, &second, &out) == S2S_TRUST_POSH_BAD_URL);
    CHECK(parse("{\"fingerprints\":[{\"sha-256\":\"" FP256 "\"}],\"expires\":600}", &first) == S2S_TRUST_POSH_OK);
    CHECK(!s2s_trust_posh_delegates(&first));
    CHECK(s2s_trust_posh_delegate(&first, &second, &out) == S2S_TRUST_POSH_BAD_URL);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(65536);

    *len = f != NULL ? fread(buf, 1, 65536, f) : 0;
    if (f != NULL)
        fclose(f);
    return buf;
}

/* A document with the leaf's digest in `alg` (OpenSSL's base64), after
 * `before` other fingerprint objects. */
static void doc_for(const unsigned char *der, size_t len, const char *alg, const char *before, char *json, size_t cap)
{
    unsigned char d[64];
    unsigned char b64[100];
    unsigned dl = 0;

    EVP_Digest(der, len, d, &dl, strcmp(alg, "sha-512") == 0 ? EVP_sha512() : EVP_sha256(), NULL);
    EVP_EncodeBlock(b64, d, (int)dl);
    snprintf(json, cap, "{\"expires\":60,\"fingerprints\":[%s{\"%s\":\"%s\"}]}", before, alg, b64);
}

void test_posh_match(void)
{
    size_t len, other_len, idx = 99;
    unsigned char *der = read_file(pki_path("good.der"), &len), *other = read_file(pki_path("expired.der"), &other_len);
    s2s_trust_posh_doc_t doc;
    char json[1024], b64[100];

    CHECK(len > 100 && other_len > 100);
    doc_for(der, len, "sha-256", "", json, sizeof json);
    CHECK(parse(json, &doc) == S2S_TRUST_POSH_OK);
    CHECK(s2s_trust_posh_match(&doc, der, len, &idx) == 1 && idx == 0);
    CHECK(s2s_trust_posh_match(&doc, other, other_len, NULL) == 0);
    /* sha-512 alone, after fingerprints of other certificates. */
    doc_for(der, len, "sha-512", "{\"sha-256\":\"" FP256 "\",\"sha-512\":\"" FP512 "\"},{\"sha-1\":\"x\"},", json,
            sizeof json);
    CHECK(parse(json, &doc) == S2S_TRUST_POSH_OK && doc.n_fp == 3);
    CHECK(s2s_trust_posh_match(&doc, der, len, &idx) == 1 && idx == 2);
    /* The full DER, not the key: one byte more or less is another leaf. */
    CHECK(s2s_trust_posh_match(&doc, der, len - 1, NULL) == 0);
    der[len / 2] ^= 1;
    CHECK(s2s_trust_posh_match(&doc, der, len, NULL) == 0);
    der[len / 2] ^= 1;
    /* A digest one bit off does not match. */
    doc.fp[2].digest[63] ^= 0x80;
    CHECK(s2s_trust_posh_match(&doc, der, len, NULL) == 0);
    /* An empty document matches nothing. */
    memset(&doc, 0, sizeof doc);
    CHECK(s2s_trust_posh_match(&doc, der, len, NULL) == 0);

    /* The encoder against RFC 4648's test vectors. */
    CHECK_STR(s2s_trust_posh_base64((const unsigned char *)"", 0, b64, sizeof b64), "");
    CHECK_STR(s2s_trust_posh_base64((const unsigned char *)"f", 1, b64, sizeof b64), "Zg==");
    CHECK_STR(s2s_trust_posh_base64((const unsigned char *)"fo", 2, b64, sizeof b64), "Zm8=");
    CHECK_STR(s2s_trust_posh_base64((const unsigned char *)"foo", 3, b64, sizeof b64), "Zm9v");
    CHECK_STR(s2s_trust_posh_base64((const unsigned char *)"foobar", 6, b64, sizeof b64), "Zm9vYmFy");
    CHECK_STR(s2s_trust_posh_base64((const unsigned char *)"foobar", 6, b64, 8), "");
    CHECK(s2s_trust_posh_digest(S2S_TRUST_POSH_SHA512, der, len, (unsigned char *)json) == 64);
    CHECK(ERR_peek_error() == 0);
    free(der);
    free(other);
}
