/*
 * s2s_trust_survey_render.c - text, JSON and Markdown of a survey
 * (s2s_trust_survey_render.h).
 */
#include "core/s2s_trust_survey_render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the buffer ------------------------------------------------------------ */

void s2s_trust_sv_buf_put(s2s_trust_sv_buf_t *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + len + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void s2s_trust_sv_buf_puts(s2s_trust_sv_buf_t *b, const char *s)
{
    s2s_trust_sv_buf_put(b, s, strlen(s));
}

void s2s_trust_sv_buf_printf(s2s_trust_sv_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        s2s_trust_sv_buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void s2s_trust_sv_buf_free(s2s_trust_sv_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- escapes ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (2..4 bytes, no overlong form, no
 * surrogate, at most U+10FFFF, not a C1 control), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned long cp;

    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
        cp < 0xa0)
        return 0;
    return n;
}

/* The three escapes differ only in what they do with a printable ASCII
 * byte and with a byte that is neither that nor valid UTF-8 (a control
 * character, DEL, an invalid byte); valid UTF-8 is copied by all three. */
typedef void (*sv_byte_fn)(s2s_trust_sv_buf_t *b, unsigned char c);

static void put_escaped(s2s_trust_sv_buf_t *b, const char *str, sv_byte_fn ascii, sv_byte_fn other)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s) {
        size_t n;
        if (*s >= 0x20 && *s < 0x7f) {
            ascii(b, *s);
            s++;
        } else if (*s >= 0x80 && (n = utf8_len(s)) > 0) {
            s2s_trust_sv_buf_put(b, (const char *)s, n);
            s += n;
        } else {
            other(b, *s);
            s++;
        }
    }
}

static void put_byte(s2s_trust_sv_buf_t *b, unsigned char c)
{
    s2s_trust_sv_buf_put(b, (const char *)&c, 1);
}

/* Text: a backslash, control characters and invalid bytes as \xNN. */
static void text_ascii(s2s_trust_sv_buf_t *b, unsigned char c)
{
    if (c == '\\')
        s2s_trust_sv_buf_printf(b, "\\x%02x", c);
    else
        put_byte(b, c);
}

static void text_other(s2s_trust_sv_buf_t *b, unsigned char c)
{
    s2s_trust_sv_buf_printf(b, "\\x%02x", c);
}

void s2s_trust_sv_put_text(s2s_trust_sv_buf_t *b, const char *str)
{
    put_escaped(b, str, text_ascii, text_other);
}

static void json_ascii(s2s_trust_sv_buf_t *b, unsigned char c)
{
    if (c == '"' || c == '\\')
        s2s_trust_sv_buf_printf(b, "\\%c", c);
    else
        put_byte(b, c);
}

/* A control character, DEL, or an invalid byte (U+FFFD: JSON is UTF-8). */
static void json_other(s2s_trust_sv_buf_t *b, unsigned char c)
{
    s2s_trust_sv_buf_printf(b, "\\u%04x", c < 0x80 ? c : 0xfffdu);
}

void s2s_trust_sv_put_json(s2s_trust_sv_buf_t *b, const char *str)
{
    if (str == NULL) {
        s2s_trust_sv_buf_puts(b, "null");
        return;
    }
    s2s_trust_sv_buf_puts(b, "\"");
    put_escaped(b, str, json_ascii, json_other);
    s2s_trust_sv_buf_puts(b, "\"");
}

/* CommonMark inline text, as mod_s2s_trust_format:markdown_escape/1: every
 * character that can open a link, image, emphasis, code span, HTML tag,
 * entity or table cell is backslash-escaped; control characters and
 * invalid bytes become a visible \xNN. */
static void markdown_ascii(s2s_trust_sv_buf_t *b, unsigned char c)
{
    static const char special[] = "\\`*_{}[]()<>#!|~&";

    if (strchr(special, c) != NULL)
        s2s_trust_sv_buf_puts(b, "\\");
    put_byte(b, c);
}

static void markdown_other(s2s_trust_sv_buf_t *b, unsigned char c)
{
    s2s_trust_sv_buf_printf(b, "\\\\x%02x", c);
}

void s2s_trust_sv_put_markdown(s2s_trust_sv_buf_t *b, const char *str)
{
    put_escaped(b, str, markdown_ascii, markdown_other);
}

void s2s_trust_sv_iso8601(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "?");
}

/* ---- counts ------------------------------------------------------------------ */

static void counts(const s2s_trust_sv_report_t *rep, size_t n[S2S_TRUST_SV_VERDICT_COUNT], size_t *violators)
{
    memset(n, 0, sizeof(size_t) * S2S_TRUST_SV_VERDICT_COUNT);
    *violators = 0;
    for (size_t i = 0; i < rep->n; i++) {
        if ((unsigned)rep->results[i].verdict < S2S_TRUST_SV_VERDICT_COUNT)
            n[rep->results[i].verdict]++;
        *violators += rep->results[i].pledged && s2s_trust_sv_breaks(&rep->results[i]);
    }
}

/* ---- text --------------------------------------------------------------------- */

void s2s_trust_sv_render_text(const s2s_trust_sv_report_t *rep, s2s_trust_sv_buf_t *b)
{
    size_t n[S2S_TRUST_SV_VERDICT_COUNT], violators;
    char t[32];

    counts(rep, n, &violators);
    for (size_t i = 0; i < rep->n; i++) {
        const s2s_trust_sv_result_t *r = &rep->results[i];
        s2s_trust_sv_put_text(b, r->domain);
        s2s_trust_sv_buf_printf(b, ": %s%s\n  reason: ", s2s_trust_sv_verdict_words(r->verdict),
                                r->pledged && s2s_trust_sv_breaks(r) ? " (CLAIMS THE PLEDGE)" : "");
        s2s_trust_sv_put_text(b, r->reason);
        s2s_trust_sv_iso8601(r->measured_at, t);
        s2s_trust_sv_buf_printf(b, "\n  measured %s in %u ms\n", t, r->elapsed_ms);
        for (size_t k = 0; k < r->n_evidence && k < S2S_TRUST_SV_MAX_EVIDENCE; k++) {
            s2s_trust_sv_buf_puts(b, "    ");
            s2s_trust_sv_put_text(b, r->evidence[k]);
            s2s_trust_sv_buf_puts(b, "\n");
        }
    }
    for (size_t i = 0; i < rep->n_pending; i++) {
        s2s_trust_sv_put_text(b, rep->pending[i]);
        s2s_trust_sv_buf_printf(b, ": not measured (%s)\n", rep->stopped_by ? rep->stopped_by : "not finished");
    }
    s2s_trust_sv_buf_printf(b, "survey: %zu of %zu domains measured%s%s%s: %zu keep the pledge, %zu accept untrusted peers, "
                            "%zu own certificate fails, %zu unreachable, %zu inconclusive\n",
                            rep->n, rep->n_domains, rep->stopped_by ? " (stopped by " : "",
                            rep->stopped_by ? rep->stopped_by : "", rep->stopped_by ? ")" : "",
                            n[S2S_TRUST_SV_KEEPS], n[S2S_TRUST_SV_ACCEPTS_UNTRUSTED], n[S2S_TRUST_SV_OWN_CERT_FAILS],
                            n[S2S_TRUST_SV_UNREACHABLE], n[S2S_TRUST_SV_INCONCLUSIVE]);
    if (violators > 0) {
        const char *sep = "";
        s2s_trust_sv_buf_printf(b, "claim the pledge and break it: ");
        for (size_t i = 0; i < rep->n; i++)
            if (rep->results[i].pledged && s2s_trust_sv_breaks(&rep->results[i])) {
                s2s_trust_sv_buf_puts(b, sep);
                s2s_trust_sv_put_text(b, rep->results[i].domain);
                sep = ", ";
            }
        s2s_trust_sv_buf_puts(b, "\n");
    }
}

/* ---- JSON ---------------------------------------------------------------------- */

static void json_strings(s2s_trust_sv_buf_t *b, const char *const *s, size_t n)
{
    s2s_trust_sv_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            s2s_trust_sv_buf_puts(b, ",");
        s2s_trust_sv_put_json(b, s[i]);
    }
    s2s_trust_sv_buf_puts(b, "]");
}

static void json_result(s2s_trust_sv_buf_t *b, const s2s_trust_sv_result_t *r)
{
    const char *sep = "";
    char t[32];

    s2s_trust_sv_buf_puts(b, "{\"domain\":");
    s2s_trust_sv_put_json(b, r->domain);
    s2s_trust_sv_buf_printf(b, ",\"verdict\":\"%s\",\"reason\":", s2s_trust_sv_verdict_name(r->verdict));
    s2s_trust_sv_put_json(b, r->reason);
    s2s_trust_sv_iso8601(r->measured_at, t);
    s2s_trust_sv_buf_printf(b, ",\"pledged\":%s,\"breaks_pledge\":%s,\"measured_at\":\"%s\",\"elapsed_ms\":%u,\"checks\":{",
                            r->pledged ? "true" : "false", s2s_trust_sv_breaks(r) ? "true" : "false", t, r->elapsed_ms);
    s2s_trust_sv_buf_puts(b, "\"certificate\":");
    s2s_trust_sv_put_json(b, r->certificate);
    s2s_trust_sv_buf_puts(b, ",\"starttls\":");
    s2s_trust_sv_put_json(b, r->starttls);
    s2s_trust_sv_buf_puts(b, ",\"direct_tls\":");
    s2s_trust_sv_put_json(b, r->direct_tls);
    s2s_trust_sv_buf_puts(b, ",\"dane\":");
    s2s_trust_sv_put_json(b, r->dane);
    s2s_trust_sv_buf_puts(b, ",\"posh\":");
    s2s_trust_sv_put_json(b, r->posh);
    s2s_trust_sv_buf_puts(b, "},\"accepted\":[");
    for (int c = 0; c < S2S_TRUST_SV_CASES; c++)
        for (int via = 0; via < 2; via++)
            if (r->accepted >> (2 * c + via) & 1u) {
                s2s_trust_sv_buf_printf(b, "%s{\"case\":\"%s\",\"via\":\"%s\"}", sep, s2s_trust_sv_case_name(c),
                                        via ? "dialback" : "external");
                sep = ",";
            }
    s2s_trust_sv_buf_puts(b, "],\"evidence\":[");
    for (size_t k = 0; k < r->n_evidence && k < S2S_TRUST_SV_MAX_EVIDENCE; k++) {
        if (k > 0)
            s2s_trust_sv_buf_puts(b, ",");
        s2s_trust_sv_put_json(b, r->evidence[k]);
    }
    s2s_trust_sv_buf_puts(b, "]}");
}

void s2s_trust_sv_render_json(const s2s_trust_sv_report_t *rep, s2s_trust_sv_buf_t *b)
{
    size_t n[S2S_TRUST_SV_VERDICT_COUNT], violators;
    char t0[32], t1[32];
    const char *sep = "";

    counts(rep, n, &violators);
    s2s_trust_sv_iso8601(rep->started_at, t0);
    s2s_trust_sv_iso8601(rep->finished_at, t1);
    s2s_trust_sv_buf_printf(b, "{\"survey\":{\"version\":1,\"started_at\":\"%s\",\"finished_at\":\"%s\",\"stopped_by\":", t0, t1);
    s2s_trust_sv_put_json(b, rep->stopped_by);
    s2s_trust_sv_buf_puts(b, ",\"domains\":");
    json_strings(b, rep->domains, rep->n_domains);
    s2s_trust_sv_buf_puts(b, ",\"pending\":");
    json_strings(b, rep->pending, rep->n_pending);
    s2s_trust_sv_buf_puts(b, "},\"results\":[");
    for (size_t i = 0; i < rep->n; i++) {
        if (i > 0)
            s2s_trust_sv_buf_puts(b, ",");
        json_result(b, &rep->results[i]);
    }
    s2s_trust_sv_buf_printf(b, "],\"summary\":{\"measured\":%zu,\"keeps\":%zu,\"accepts_untrusted\":%zu,"
                            "\"own_certificate_fails\":%zu,\"unreachable\":%zu,\"inconclusive\":%zu,\"violators\":[",
                            rep->n, n[S2S_TRUST_SV_KEEPS], n[S2S_TRUST_SV_ACCEPTS_UNTRUSTED],
                            n[S2S_TRUST_SV_OWN_CERT_FAILS], n[S2S_TRUST_SV_UNREACHABLE], n[S2S_TRUST_SV_INCONCLUSIVE]);
    for (size_t i = 0; i < rep->n; i++)
        if (rep->results[i].pledged && s2s_trust_sv_breaks(&rep->results[i])) {
            s2s_trust_sv_buf_puts(b, sep);
            s2s_trust_sv_put_json(b, rep->results[i].domain);
            sep = ",";
        }
    s2s_trust_sv_buf_puts(b, "]}}\n");
}

/* ---- Markdown ------------------------------------------------------------------ */

static int by_domain(const void *a, const void *b)
{
    const s2s_trust_sv_result_t *ra = *(const s2s_trust_sv_result_t *const *)a;
    const s2s_trust_sv_result_t *rb = *(const s2s_trust_sv_result_t *const *)b;
    return strcmp(ra->domain, rb->domain);
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum { MD_KEEPS, MD_REFUSES, MD_VIOLATES, MD_NOT_MEASURED };

static int md_section(const s2s_trust_sv_result_t *r)
{
    if (r->verdict == S2S_TRUST_SV_KEEPS)
        return MD_KEEPS;
    if (s2s_trust_sv_breaks(r))
        return r->pledged ? MD_VIOLATES : MD_REFUSES;
    return MD_NOT_MEASURED;
}

void s2s_trust_sv_render_markdown(const s2s_trust_sv_report_t *rep, s2s_trust_sv_buf_t *b)
{
    static const char *const titles[] = {
        "Keep the pledge", "Do not keep the pledge", "Claim the pledge and break it", "Could not be measured",
    };
    const s2s_trust_sv_result_t **sorted = rep->n ? malloc(rep->n * sizeof *sorted) : NULL;
    const char **pending = rep->n_pending ? malloc(rep->n_pending * sizeof *pending) : NULL;
    char t[32];

    if ((rep->n && sorted == NULL) || (rep->n_pending && pending == NULL)) {
        b->oom = 1;
        goto done;
    }
    for (size_t i = 0; i < rep->n; i++)
        sorted[i] = &rep->results[i];
    if (rep->n)
        qsort(sorted, rep->n, sizeof *sorted, by_domain);
    for (size_t i = 0; i < rep->n_pending; i++)
        pending[i] = rep->pending[i];
    if (rep->n_pending)
        qsort(pending, rep->n_pending, sizeof *pending, by_string);

    s2s_trust_sv_buf_puts(b, "<!-- s2s servers surveyed against the pledge; generated by s2s-trust survey");
    if (!rep->timeless) {
        s2s_trust_sv_iso8601(rep->started_at, t);
        s2s_trust_sv_buf_printf(b, ", %s", t);
    }
    s2s_trust_sv_buf_puts(b, " -->\n");
    for (int sec = MD_KEEPS; sec <= MD_NOT_MEASURED; sec++) {
        size_t before;
        s2s_trust_sv_buf_printf(b, "\n## %s\n\n", titles[sec]);
        before = b->len;
        for (size_t i = 0; i < rep->n; i++) {
            const s2s_trust_sv_result_t *r = sorted[i];
            if (md_section(r) != sec)
                continue;
            s2s_trust_sv_buf_puts(b, "+ ");
            s2s_trust_sv_put_markdown(b, r->domain);
            s2s_trust_sv_buf_puts(b, " — ");
            s2s_trust_sv_put_markdown(b, r->reason);
            if (r->pledged && sec == MD_NOT_MEASURED)
                s2s_trust_sv_buf_puts(b, " (claims the pledge)");
            if (!rep->timeless) {
                s2s_trust_sv_iso8601(r->measured_at, t);
                s2s_trust_sv_buf_printf(b, ", measured %s", t);
            }
            s2s_trust_sv_buf_puts(b, "\n");
        }
        if (sec == MD_NOT_MEASURED)
            for (size_t i = 0; i < rep->n_pending; i++) {
                s2s_trust_sv_buf_puts(b, "+ ");
                s2s_trust_sv_put_markdown(b, pending[i]);
                s2s_trust_sv_buf_printf(b, " — not measured \\(%s\\)\n", rep->stopped_by ? rep->stopped_by : "not finished");
            }
        if (b->len == before)
            s2s_trust_sv_buf_puts(b, "(none)\n");
    }
done:
    free(sorted);
    free(pending);
}
