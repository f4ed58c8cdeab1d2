/*
 * s2s_trust_survey_resume.c - a strict, bounded JSON reader for the
 * survey's own output (s2s_trust_survey_resume.h).
 *
 * Why a parser of our own: Debian's JSON libraries would build whatever tree
 * the file describes, with no bound we choose; this one is ~200 lines, keeps
 * to the limits in the header and is fuzzed by its unit tests' hostile
 * inputs. It builds a small tree (the survey's JSON is small), then the
 * second half reads the members the survey wrote and checks each.
 */
#include "core/s2s_trust_survey_resume.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/s2s_trust_config.h" /* s2s_trust_parse_time */

/* ---- the tree ------------------------------------------------------------------ */

typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type_t;

typedef struct jv {
    jv_type_t type;
    int b;
    double num;
    char *s;          /* JV_STR; NUL-free (a \u0000 is refused) */
    size_t n, cap;    /* JV_ARR, JV_OBJ */
    struct jv *kids;
    char **keys;      /* JV_OBJ */
} jv_t;

typedef struct {
    const unsigned char *p, *end;
    size_t values;
    char *why;
    size_t whylen;
    int failed;
} rd_t;

static int fail(rd_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(rd_t *r, const char *fmt, ...)
{
    va_list ap;

    if (!r->failed && r->whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(r->why, r->whylen, fmt, ap);
        va_end(ap);
    }
    r->failed = 1;
    return -1;
}

static void jv_free(jv_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->kids[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->s);
    memset(v, 0, sizeof *v);
}

static void ws(rd_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(rd_t *r, unsigned *out)
{
    *out = 0;
    if (r->end - r->p < 4)
        return fail(r, "a \\u escape is cut short");
    for (int i = 0; i < 4; i++) {
        unsigned c = *r->p++, d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return fail(r, "a \\u escape with a non-hex digit");
        *out = *out << 4 | d;
    }
    return 0;
}

static void put_utf8(char *buf, size_t *len, unsigned cp)
{
    if (cp < 0x80) buf[(*len)++] = (char)cp;
    else if (cp < 0x800) {
        buf[(*len)++] = (char)(0xc0 | cp >> 6);
        buf[(*len)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        buf[(*len)++] = (char)(0xe0 | cp >> 12);
        buf[(*len)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        buf[(*len)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        buf[(*len)++] = (char)(0xf0 | cp >> 18);
        buf[(*len)++] = (char)(0x80 | (cp >> 12 & 0x3f));
        buf[(*len)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        buf[(*len)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* A string at r->p (after the quote) into a malloc'd NUL-terminated copy. */
static int string(rd_t *r, char **out)
{
    char *buf = malloc(S2S_TRUST_SV_RESUME_MAX_STRING + 8);
    size_t len = 0;

    *out = NULL;
    if (buf == NULL)
        return fail(r, "out of memory");
    for (;;) {
        unsigned c;
        if (r->p >= r->end) {
            free(buf);
            return fail(r, "a string is not closed");
        }
        if (len > S2S_TRUST_SV_RESUME_MAX_STRING) {
            free(buf);
            return fail(r, "a string longer than %u bytes", S2S_TRUST_SV_RESUME_MAX_STRING);
        }
        c = *r->p++;
        if (c == '"')
            break;
        if (c < 0x20) {
            free(buf);
            return fail(r, "a control character inside a string");
        }
        if (c != '\\') {
            buf[len++] = (char)c; /* UTF-8 is checked again by every writer */
            continue;
        }
        if (r->p >= r->end) {
            free(buf);
            return fail(r, "a string is not closed");
        }
        c = *r->p++;
        switch (c) {
        case '"': case '\\': case '/': buf[len++] = (char)c; break;
        case 'b': buf[len++] = '\b'; break;
        case 'f': buf[len++] = '\f'; break;
        case 'n': buf[len++] = '\n'; break;
        case 'r': buf[len++] = '\r'; break;
        case 't': buf[len++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(r, &cp) != 0)
                break;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') {
                    fail(r, "a lone surrogate");
                    break;
                }
                r->p += 2;
                if (hex4(r, &lo) != 0)
                    break;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    fail(r, "a lone surrogate");
                    break;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                fail(r, "a lone surrogate");
                break;
            }
            if (cp == 0) {
                fail(r, "a NUL character inside a string");
                break;
            }
            put_utf8(buf, &len, cp);
            break;
        }
        default: fail(r, "an unknown escape \\%c", c >= 0x20 && c < 0x7f ? (int)c : '?');
        }
        if (r->failed) {
            free(buf);
            return -1;
        }
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int value(rd_t *r, jv_t *v, int depth);

static int add_kid(rd_t *r, jv_t *v, char *key)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        jv_t *k = realloc(v->kids, cap * sizeof *k);
        if (k == NULL)
            return fail(r, "out of memory");
        v->kids = k;
        if (v->type == JV_OBJ) {
            char **keys = realloc(v->keys, cap * sizeof *keys);
            if (keys == NULL)
                return fail(r, "out of memory");
            v->keys = keys;
        }
        v->cap = cap;
    }
    memset(&v->kids[v->n], 0, sizeof v->kids[v->n]);
    if (v->type == JV_OBJ)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int container(rd_t *r, jv_t *v, int depth, int obj)
{
    v->type = obj ? JV_OBJ : JV_ARR;
    ws(r);
    if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
        r->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        ws(r);
        if (obj) {
            if (r->p >= r->end || *r->p != '"')
                return fail(r, "an object member without a name");
            r->p++;
            if (string(r, &key) != 0)
                return -1;
            ws(r);
            if (r->p >= r->end || *r->p != ':') {
                free(key);
                return fail(r, "no ':' after a member name");
            }
            r->p++;
        }
        if (add_kid(r, v, key) != 0) {
            free(key);
            return -1;
        }
        if (value(r, &v->kids[v->n - 1], depth + 1) != 0)
            return -1;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
            r->p++;
            return 0;
        }
        return fail(r, "expected ',' or '%c'", obj ? '}' : ']');
    }
}

static int literal(rd_t *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, "not a JSON value");
    r->p += n;
    return 0;
}

static int number(rd_t *r, jv_t *v)
{
    char buf[64];
    size_t n = 0;
    char *end;

    while (r->p < r->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", *r->p) != NULL)
        buf[n++] = (char)*r->p++;
    buf[n] = '\0';
    v->type = JV_NUM;
    v->num = strtod(buf, &end);
    if (n == 0 || n == sizeof buf - 1 || *end != '\0')
        return fail(r, "not a number");
    return 0;
}

static int value(rd_t *r, jv_t *v, int depth)
{
    if (depth > S2S_TRUST_SV_RESUME_MAX_DEPTH)
        return fail(r, "nested deeper than %d", S2S_TRUST_SV_RESUME_MAX_DEPTH);
    if (++r->values > S2S_TRUST_SV_RESUME_MAX_VALUES)
        return fail(r, "more than %d values", S2S_TRUST_SV_RESUME_MAX_VALUES);
    ws(r);
    if (r->p >= r->end)
        return fail(r, "the file ends where a value should be");
    switch (*r->p) {
    case '{': r->p++; return container(r, v, depth, 1);
    case '[': r->p++; return container(r, v, depth, 0);
    case '"': r->p++; v->type = JV_STR; return string(r, &v->s);
    case 't': v->type = JV_BOOL; v->b = 1; return literal(r, "true");
    case 'f': v->type = JV_BOOL; return literal(r, "false");
    case 'n': v->type = JV_NULL; return literal(r, "null");
    default: return number(r, v);
    }
}

/* ---- the survey's members ---------------------------------------------------------- */

static const jv_t *member(const jv_t *o, const char *key, jv_type_t type)
{
    if (o == NULL || o->type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return o->kids[i].type == type ? &o->kids[i] : NULL;
    return NULL;
}

/* A string member copied into a field of `cap` bytes; refused when absent
 * (required) or too long. */
static int copy(rd_t *r, const jv_t *o, const char *key, char *out, size_t cap, int required)
{
    const jv_t *v = member(o, key, JV_STR);

    out[0] = '\0';
    if (v == NULL)
        return required ? fail(r, "a result without a string \"%s\"", key) : 0;
    if (strlen(v->s) >= cap)
        return fail(r, "a result's \"%s\" is longer than %zu bytes", key, cap - 1);
    memcpy(out, v->s, strlen(v->s) + 1);
    return 0;
}

/* A domain exactly as the survey writes it: its own A-label normal form. */
static int domain_ok(const char *d)
{
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    return s2s_trust_identity_normalize(d, strlen(d), norm, sizeof norm) == 0 && strcmp(norm, d) == 0;
}

static int read_result(rd_t *r, const jv_t *o, s2s_trust_sv_result_t *res)
{
    const jv_t *v, *checks = member(o, "checks", JV_OBJ), *acc = member(o, "accepted", JV_ARR);
    char word[64];
    long long t;

    memset(res, 0, sizeof *res);
    if (o->type != JV_OBJ)
        return fail(r, "a result that is not an object");
    if (copy(r, o, "domain", res->domain, sizeof res->domain, 1) != 0)
        return -1;
    if (!domain_ok(res->domain))
        return fail(r, "a result's domain is not a domain name in A-label form");
    if (copy(r, o, "verdict", word, sizeof word, 1) != 0 || s2s_trust_sv_verdict_parse(word, &res->verdict) != 0)
        return fail(r, "a result's verdict is not one of the survey's");
    if (copy(r, o, "reason", res->reason, sizeof res->reason, 1) != 0 ||
        copy(r, o, "measured_at", word, sizeof word, 1) != 0)
        return -1;
    if (s2s_trust_parse_time(word, &t) != 0)
        return fail(r, "a result's measured_at is not a time");
    res->measured_at = t;
    v = member(o, "elapsed_ms", JV_NUM);
    if (v == NULL || !(v->num >= 0 && v->num <= 4e9))
        return fail(r, "a result without a usable elapsed_ms");
    res->elapsed_ms = (unsigned)v->num;
    if (copy(r, checks, "certificate", res->certificate, sizeof res->certificate, 0) != 0 ||
        copy(r, checks, "starttls", res->starttls, sizeof res->starttls, 0) != 0 ||
        copy(r, checks, "direct_tls", res->direct_tls, sizeof res->direct_tls, 0) != 0 ||
        copy(r, checks, "dane", res->dane, sizeof res->dane, 0) != 0 ||
        copy(r, checks, "posh", res->posh, sizeof res->posh, 0) != 0)
        return -1;
    for (size_t i = 0; acc != NULL && i < acc->n; i++) {
        char c[32], via[32];
        int k;
        if (copy(r, &acc->kids[i], "case", c, sizeof c, 1) != 0 || copy(r, &acc->kids[i], "via", via, sizeof via, 1) != 0)
            return -1;
        for (k = 0; k < S2S_TRUST_SV_CASES && strcmp(c, s2s_trust_sv_case_name(k)) != 0; k++)
            ;
        if (k == S2S_TRUST_SV_CASES || (strcmp(via, "external") != 0 && strcmp(via, "dialback") != 0))
            return fail(r, "an accepted case the survey does not play");
        res->accepted |= 1u << (2 * k + (via[0] == 'd'));
    }
    v = member(o, "evidence", JV_ARR);
    for (size_t i = 0; v != NULL && i < v->n; i++) {
        if (i >= S2S_TRUST_SV_MAX_EVIDENCE)
            return fail(r, "a result with more than %d evidence lines", S2S_TRUST_SV_MAX_EVIDENCE);
        if (v->kids[i].type != JV_STR || strlen(v->kids[i].s) >= S2S_TRUST_SV_LINE_MAX)
            return fail(r, "an evidence line that is not a string of at most %d bytes", S2S_TRUST_SV_LINE_MAX - 1);
        memcpy(res->evidence[i], v->kids[i].s, strlen(v->kids[i].s) + 1);
        res->n_evidence = i + 1;
    }
    v = member(o, "pledged", JV_BOOL);
    res->pledged = v != NULL && v->b;
    return 0;
}

static int read_survey(rd_t *r, const jv_t *root, s2s_trust_sv_resume_t *out)
{
    const jv_t *survey = member(root, "survey", JV_OBJ), *doms = member(survey, "domains", JV_ARR);
    const jv_t *results = member(root, "results", JV_ARR);

    if (root->type != JV_OBJ || survey == NULL || doms == NULL || results == NULL)
        return fail(r, "not a survey's JSON (no survey.domains or results)");
    if (doms->n > S2S_TRUST_SV_MAX_DOMAINS || results->n > S2S_TRUST_SV_MAX_DOMAINS)
        return fail(r, "more than %d domains", S2S_TRUST_SV_MAX_DOMAINS);
    out->domains = calloc(doms->n ? doms->n : 1, sizeof *out->domains);
    out->results = calloc(results->n ? results->n : 1, sizeof *out->results);
    if (out->domains == NULL || out->results == NULL)
        return fail(r, "out of memory");
    for (size_t i = 0; i < doms->n; i++) {
        const jv_t *d = &doms->kids[i];
        if (d->type != JV_STR || strlen(d->s) > S2S_TRUST_DOMAIN_MAX || !domain_ok(d->s))
            return fail(r, "survey.domains[%zu] is not a domain name in A-label form", i);
        memcpy(out->domains[i], d->s, strlen(d->s) + 1);
        out->n_domains = i + 1;
    }
    for (size_t i = 0; i < results->n; i++) {
        if (read_result(r, &results->kids[i], &out->results[i]) != 0)
            return fail(r, "results[%zu]", i); /* keeps the first reason */
        for (size_t k = 0; k < i; k++)
            if (strcmp(out->results[k].domain, out->results[i].domain) == 0)
                return fail(r, "results[%zu]: a domain measured twice", i);
        out->n = i + 1;
    }
    return 0;
}

int s2s_trust_sv_resume_parse(const char *json, size_t len, s2s_trust_sv_resume_t *out, char *why, size_t whylen)
{
    rd_t r = { (const unsigned char *)json, (const unsigned char *)json + len, 0, why, whylen, 0 };
    jv_t root;
    int rc = -1;

    memset(out, 0, sizeof *out);
    memset(&root, 0, sizeof root);
    if (whylen > 0)
        why[0] = '\0';
    if (json == NULL || len > S2S_TRUST_SV_RESUME_MAX_BYTES)
        fail(&r, "the file is larger than %u bytes", S2S_TRUST_SV_RESUME_MAX_BYTES);
    else if (value(&r, &root, 0) == 0) {
        ws(&r);
        if (r.p != r.end)
            fail(&r, "bytes after the JSON value");
        else
            rc = read_survey(&r, &root, out);
    }
    jv_free(&root);
    if (rc != 0)
        s2s_trust_sv_resume_free(out);
    return rc;
}

void s2s_trust_sv_resume_free(s2s_trust_sv_resume_t *r)
{
    free(r->results);
    free(r->domains);
    memset(r, 0, sizeof *r);
}
