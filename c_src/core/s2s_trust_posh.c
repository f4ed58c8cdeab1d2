/* s2s_trust_posh.c - see s2s_trust_posh.h
 *
 * Why a parser of our own rather than a JSON library: a POSH document has
 * three members and one array of small objects. A strict reader for just
 * that is ~400 lines with fixed bounds and no allocation, so a hostile
 * document can cost neither memory nor surprises (duplicate names, lone
 * surrogates, huge numbers: what general libraries accept differently from
 * one another). Debian's json-c or jansson would build a tree of the whole
 * input first, and still leave every POSH rule to us.
 */
#include "core/s2s_trust_posh.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


/* The reader: a cursor over the input and the first failure. */
typedef struct {
    const unsigned char *start, *p, *end;
    s2s_trust_posh_status_t st;
    char *why;
    size_t whylen;
} rd_t;

/* What "expires" turned out to be, decided after the whole document. */
typedef enum { EXP_MISSING, EXP_OK, EXP_ZERO, EXP_NEGATIVE, EXP_NOT_INTEGER, EXP_TOO_BIG, EXP_NOT_NUMBER } exp_state_t;

static void say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* Record the first failure (MALFORMED), with where it was; returns -1. */
static int fail(rd_t *r, const char *what)
{
    if (r->st == S2S_TRUST_POSH_OK) {
        r->st = S2S_TRUST_POSH_MALFORMED;
        say(r->why, r->whylen, "at byte %zu: %s", (size_t)(r->p - r->start), what);
    }
    return -1;
}

static void skip_ws(rd_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Expect byte c (after white space). */
static int expect(rd_t *r, unsigned char c, const char *what)
{
    skip_ws(r);
    if (r->p >= r->end || *r->p != c)
        return fail(r, what);
    r->p++;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t n = (size_t)(end - p), len;
    unsigned char lo = 0x80, hi = 0xbf;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        if (p[0] == 0xe0)
            lo = 0xa0;
        else if (p[0] == 0xed)
            hi = 0x9f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        if (p[0] == 0xf0)
            lo = 0x90;
        else if (p[0] == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

static int hex4(const unsigned char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* Append bytes to a bounded output; past `cap` only the length grows. */
static void put(unsigned char *out, size_t cap, size_t *len, const unsigned char *b, size_t n)
{
    if (out != NULL && *len + n <= cap)
        memcpy(out + *len, b, n);
    *len += n;
}

/* A \uXXXX escape (the 'u' is at r->p), a surrogate pair in two of them,
 * as UTF-8 into out. */
static int read_u_escape(rd_t *r, unsigned char *out, size_t cap, size_t *len)
{
    unsigned cp, lo;
    unsigned char b[4];
    size_t n;

    if (r->end - r->p < 5 || hex4(r->p + 1, &cp) != 0)
        return fail(r, "bad \\u escape");
    r->p += 5;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(r, "lone low surrogate escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) != 0 || lo < 0xdc00 ||
            lo > 0xdfff)
            return fail(r, "lone high surrogate escape");
        r->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    put(out, cap, len, b, n);
    return 0;
}

/*
 * A string (after white space), decoded into out (cap bytes; out may be
 * NULL to check only). *len is the decoded length even past cap, so a
 * caller knows it was cut (*len > cap). Not NUL-terminated.
 */
static int read_string(rd_t *r, unsigned char *out, size_t cap, size_t *len)
{
    static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";

    *len = 0;
    if (expect(r, '"', "a string was expected") != 0)
        return -1;
    for (;;) {
        const char *e;
        size_t n;

        if (r->p >= r->end)
            return fail(r, "unterminated string");
        if (*r->p == '"') {
            r->p++;
            return 0;
        }
        if (*r->p < 0x20)
            return fail(r, "control character in a string");
        if (*r->p == '\\') {
            if (++r->p >= r->end)
                return fail(r, "unterminated string");
            if (*r->p == 'u') {
                if (read_u_escape(r, out, cap, len) != 0)
                    return -1;
                continue;
            }
            if (*r->p == '\0' || (e = strchr(esc_in, *r->p)) == NULL)
                return fail(r, "bad escape in a string");
            put(out, cap, len, (const unsigned char *)&esc_out[e - esc_in], 1);
            r->p++;
            continue;
        }
        if ((n = utf8_len(r->p, r->end)) == 0)
            return fail(r, "invalid UTF-8 in a string");
        put(out, cap, len, r->p, n);
        r->p += n;
    }
}

static int is_digit(const rd_t *r)
{
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* A number (RFC 8259 grammar). *is_int: no fraction, no exponent; then
 * *value is its magnitude, capped just above S2S_TRUST_POSH_MAX_EXPIRES. */
static int read_number(rd_t *r, int *neg, int *is_int, uint64_t *value)
{
    *neg = *is_int = 0;
    *value = 0;
    skip_ws(r);
    if (r->p < r->end && *r->p == '-') {
        *neg = 1;
        r->p++;
    }
    if (!is_digit(r))
        return fail(r, "bad number");
    if (*r->p == '0') {
        r->p++;
        if (is_digit(r))
            return fail(r, "number with a leading zero");
    } else {
        while (is_digit(r)) {
            if (*value <= S2S_TRUST_POSH_MAX_EXPIRES)
                *value = *value * 10 + (uint64_t)(*r->p - '0');
            r->p++;
        }
    }
    *is_int = 1;
    if (r->p < r->end && *r->p == '.') {
        *is_int = 0;
        r->p++;
        if (!is_digit(r))
            return fail(r, "bad number");
        while (is_digit(r))
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        *is_int = 0;
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (!is_digit(r))
            return fail(r, "bad number");
        while (is_digit(r))
            r->p++;
    }
    return 0;
}

static int read_literal(rd_t *r)
{
    static const char *const lits[] = { "true", "false", "null" };

    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(r->end - r->p) >= n && memcmp(r->p, lits[i], n) == 0) {
            r->p += n;
            return 0;
        }
    }
    return fail(r, "not a JSON value");
}

/* After a member or an element: 1 if another follows (','), 0 at the
 * closing byte, -1 on anything else. */
static int next_item(rd_t *r, unsigned char close)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        return 1;
    }
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 0;
    }
    return fail(r, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

/* 1 if the container just opened is empty (and consume its close). */
static int empty(rd_t *r, unsigned char close)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 1;
    }
    return 0;
}

static int skip_value(rd_t *r, int depth);

/* An object or array nobody reads, at nesting `depth`. */
static int skip_container(rd_t *r, int depth)
{
    unsigned char close = *r->p == '{' ? '}' : ']';
    size_t len;
    int more;

    if (depth > S2S_TRUST_POSH_MAX_DEPTH)
        return fail(r, "nested too deep");
    r->p++;
    if (empty(r, close))
        return 0;
    do {
        if (close == '}' && (read_string(r, NULL, 0, &len) != 0 || expect(r, ':', "':' expected") != 0))
            return -1;
        if (skip_value(r, depth + 1) != 0)
            return -1;
    } while ((more = next_item(r, close)) == 1);
    return more;
}

/* Any value, checked and thrown away; `depth` is its own nesting level. */
static int skip_value(rd_t *r, int depth)
{
    size_t len;
    int neg, is_int;
    uint64_t v;

    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, "a value was expected");
    switch (*r->p) {
    case '{':
    case '[':
        return skip_container(r, depth);
    case '"':
        return read_string(r, NULL, 0, &len);
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return read_number(r, &neg, &is_int, &v);
        return read_literal(r);
    }
}

/* Member names we know are short; a longer one is simply unknown. */
#define NAME_CAP 16

static int name_is(const unsigned char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict padded base64 (RFC 4648 section 4): length a multiple of 4, '='
 * only as the last one or two, unused bits zero (one encoding per value).
 * 0 with *outlen, or -1. */
static int b64_decode(const unsigned char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    size_t pad = 0, o = 0;

    if (n == 0 || n % 4 != 0)
        return -1;
    pad = s[n - 1] == '=' ? s[n - 2] == '=' ? 2 : 1 : 0;
    if (n / 4 * 3 - pad > cap)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (size_t k = 0; k < 4; k++)
            v[k] = (i + k >= n - pad) ? 0 : b64_val(s[i + k]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
            return -1;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (i + 4 < n || pad < 2)
            out[o++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
        if (i + 4 < n || pad < 1)
            out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
    }
    /* Unused bits of the last group must be zero. */
    if ((pad == 2 && (b64_val(s[n - 3]) & 0xf) != 0) || (pad == 1 && (b64_val(s[n - 2]) & 0x3) != 0))
        return -1;
    *outlen = o;
    return 0;
}

/* One fingerprint object (at r->p, '{'). */
static int read_fp_object(rd_t *r, s2s_trust_posh_doc_t *doc)
{
    unsigned seen = 0;
    int more;

    r->p++;
    if (empty(r, '}'))
        return 0;
    do {
        unsigned char name[NAME_CAP], val[100];
        size_t nlen, vlen;
        s2s_trust_posh_alg_t alg;
        s2s_trust_posh_fp_t *fp;

        if (read_string(r, name, sizeof name, &nlen) != 0 || expect(r, ':', "':' expected") != 0)
            return -1;
        if (name_is(name, nlen, "sha-256"))
            alg = S2S_TRUST_POSH_SHA256;
        else if (name_is(name, nlen, "sha-512"))
            alg = S2S_TRUST_POSH_SHA512;
        else {
            doc->n_ignored++;
            if (skip_value(r, 4) != 0)
                return -1;
            continue;
        }
        if (seen & (1u << alg))
            return fail(r, "the same algorithm twice in one fingerprint object");
        seen |= 1u << alg;
        skip_ws(r);
        if (r->p >= r->end || *r->p != '"')
            return fail(r, "a fingerprint is not a string");
        if (read_string(r, val, sizeof val, &vlen) != 0)
            return -1;
        fp = &doc->fp[doc->n_fp];
        fp->alg = alg;
        if (vlen > sizeof val || b64_decode(val, vlen, fp->digest, sizeof fp->digest, &fp->len) != 0)
            return fail(r, "a fingerprint is not padded standard base64");
        if (fp->len != (alg == S2S_TRUST_POSH_SHA256 ? 32u : 64u))
            return fail(r, alg == S2S_TRUST_POSH_SHA256 ? "a sha-256 fingerprint is not 32 bytes"
                                                        : "a sha-512 fingerprint is not 64 bytes");
        doc->n_fp++;
    } while ((more = next_item(r, '}')) == 1);
    return more;
}

static int read_fingerprints(rd_t *r, s2s_trust_posh_doc_t *doc)
{
    size_t objects = 0;
    int more;

    skip_ws(r);
    if (r->p >= r->end || *r->p != '[')
        return fail(r, "fingerprints is not an array");
    r->p++;
    if (empty(r, ']'))
        return 0;
    do {
        skip_ws(r);
        if (r->p >= r->end || *r->p != '{')
            return fail(r, "a fingerprint entry is not an object");
        if (++objects > S2S_TRUST_POSH_MAX_FP_OBJECTS)
            return fail(r, "more than 32 fingerprint objects");
        if (read_fp_object(r, doc) != 0)
            return -1;
    } while ((more = next_item(r, ']')) == 1);
    return more;
}

static int read_url(rd_t *r, s2s_trust_posh_doc_t *doc)
{
    size_t len;

    skip_ws(r);
    if (r->p >= r->end || *r->p != '"')
        return fail(r, "url is not a string");
    if (read_string(r, (unsigned char *)doc->url, S2S_TRUST_POSH_MAX_URL, &len) != 0)
        return -1;
    if (len > S2S_TRUST_POSH_MAX_URL)
        return fail(r, "url longer than 2048 bytes");
    if (memchr(doc->url, '\0', len) != NULL)
        return fail(r, "url holds a NUL");
    doc->url[len] = '\0';
    doc->has_url = 1;
    return 0;
}

static int read_expires(rd_t *r, exp_state_t *st, uint32_t *expires)
{
    int neg, is_int;
    uint64_t v;

    skip_ws(r);
    if (r->p >= r->end || (*r->p != '-' && (*r->p < '0' || *r->p > '9'))) {
        *st = EXP_NOT_NUMBER;
        return skip_value(r, 2);
    }
    if (read_number(r, &neg, &is_int, &v) != 0)
        return -1;
    *st = !is_int ? EXP_NOT_INTEGER : v == 0 ? EXP_ZERO : neg ? EXP_NEGATIVE
        : v > S2S_TRUST_POSH_MAX_EXPIRES ? EXP_TOO_BIG : EXP_OK;
    if (*st == EXP_OK)
        *expires = (uint32_t)v;
    return 0;
}

/* The document object, members in any order. */
static int read_document(rd_t *r, s2s_trust_posh_doc_t *doc, exp_state_t *exp)
{
    enum { SEEN_FP = 1, SEEN_URL = 2, SEEN_EXP = 4 };
    unsigned seen = 0;
    int more;

    if (r->end - r->p >= 3 && memcmp(r->p, "\xef\xbb\xbf", 3) == 0)
        return fail(r, "byte order mark");
    if (expect(r, '{', "the document is not a JSON object") != 0)
        return -1;
    if (!empty(r, '}')) {
        do {
            unsigned char name[NAME_CAP];
            size_t nlen;
            unsigned bit;
            int rc;

            if (read_string(r, name, sizeof name, &nlen) != 0 || expect(r, ':', "':' expected") != 0)
                return -1;
            bit = name_is(name, nlen, "fingerprints") ? SEEN_FP : name_is(name, nlen, "url") ? SEEN_URL
                : name_is(name, nlen, "expires")      ? SEEN_EXP : 0;
            if (bit & seen)
                return fail(r, "a member appears twice");
            seen |= bit;
            if (bit == SEEN_FP)
                rc = read_fingerprints(r, doc);
            else if (bit == SEEN_URL)
                rc = read_url(r, doc);
            else if (bit == SEEN_EXP)
                rc = read_expires(r, exp, &doc->expires);
            else
                rc = skip_value(r, 2);
            if (rc != 0)
                return -1;
        } while ((more = next_item(r, '}')) == 1);
        if (more != 0)
            return -1;
    }
    skip_ws(r);
    if (r->p != r->end)
        return fail(r, "bytes after the document");
    return 0;
}

s2s_trust_posh_status_t s2s_trust_posh_parse(const void *json, size_t len, s2s_trust_posh_doc_t *doc,
                                             char *why, size_t whylen)
{
    static const char *const exp_why[] = {
        [EXP_MISSING] = "expires is missing",       [EXP_ZERO] = "expires is 0",
        [EXP_NEGATIVE] = "expires is negative",     [EXP_NOT_INTEGER] = "expires is not an integer",
        [EXP_TOO_BIG] = "expires is above ten years", [EXP_NOT_NUMBER] = "expires is not a number",
    };
    /* No arithmetic on a NULL pointer, even + 0. */
    const unsigned char *b = json != NULL ? json : (const unsigned char *)"";
    rd_t r = { b, b, b + (json != NULL ? len : 0), S2S_TRUST_POSH_OK, why, whylen };
    exp_state_t exp = EXP_MISSING;

    memset(doc, 0, sizeof *doc);
    say(why, whylen, "%s", "");
    if (len > S2S_TRUST_POSH_MAX_DOC) {
        say(why, whylen, "%zu bytes, more than %d", len, S2S_TRUST_POSH_MAX_DOC);
        return S2S_TRUST_POSH_TOO_LARGE;
    }
    if (json == NULL || read_document(&r, doc, &exp) != 0) {
        if (json == NULL)
            fail(&r, "no document");
        memset(doc, 0, sizeof *doc);
        return r.st;
    }
    if (doc->n_fp == 0 && !doc->has_url) {
        say(why, whylen, "no sha-256 or sha-512 fingerprint (%zu in other algorithms) and no url", doc->n_ignored);
        return S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL;
    }
    if (exp != EXP_OK) {
        say(why, whylen, "%s", exp_why[exp]);
        return S2S_TRUST_POSH_BAD_EXPIRES;
    }
    return S2S_TRUST_POSH_OK;
}
