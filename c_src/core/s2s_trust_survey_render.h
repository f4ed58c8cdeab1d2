/*
 * s2s_trust_survey_render.h - a survey's results as text, JSON or Markdown.
 *
 * Pure: the caller gathers the results (s2s_trust_survey.h) and this file
 * only writes them into a growing buffer, so each format is tested byte for
 * byte (tests/c/test_survey.c) and the CLI prints the buffer once.
 *
 * Every name and line may hold bytes from the network (a domain from a
 * hostile list, a server's error text): each writer escapes for its format,
 * the way mod_s2s_trust_format.erl does for the module's own export - text
 * as \xNN, JSON as \uNNNN with invalid UTF-8 as U+FFFD, Markdown with every
 * character that could open a link, emphasis, HTML or a table
 * backslash-escaped - so nothing renders as anything but itself.
 *
 * The Markdown is the pledge's list style: one section per list (keeps,
 * does not keep, claims it and breaks it; then what could not be
 * measured), "+ domain — reason, measured TIME" per server, sorted by
 * domain. With `timeless` it carries no time at all, so the same survey
 * renders to the same bytes (the lab compares it to an expected file).
 */
#ifndef S2S_TRUST_SURVEY_RENDER_H
#define S2S_TRUST_SURVEY_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_survey.h"

/* A growing byte buffer; `oom` is set (and writes stop) when memory runs
 * out. Free with s2s_trust_sv_buf_free. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} s2s_trust_sv_buf_t;

void s2s_trust_sv_buf_put(s2s_trust_sv_buf_t *b, const char *s, size_t len);
void s2s_trust_sv_buf_puts(s2s_trust_sv_buf_t *b, const char *s);
void s2s_trust_sv_buf_printf(s2s_trust_sv_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void s2s_trust_sv_buf_free(s2s_trust_sv_buf_t *b);

/* The escapes, each appended to b. */
void s2s_trust_sv_put_text(s2s_trust_sv_buf_t *b, const char *s);
void s2s_trust_sv_put_json(s2s_trust_sv_buf_t *b, const char *s); /* with quotes; NULL: null */
void s2s_trust_sv_put_markdown(s2s_trust_sv_buf_t *b, const char *s);

/* "YYYY-MM-DDTHH:MM:SSZ" of seconds since the epoch ("?" if unusable). */
void s2s_trust_sv_iso8601(int64_t t, char out[32]);

typedef struct {
    const s2s_trust_sv_result_t *results; /* finished, in the survey's order */
    size_t n;
    const char *const *domains;           /* every domain asked for, in order */
    size_t n_domains;
    const char *const *pending;           /* asked for and not finished */
    size_t n_pending;
    int64_t started_at, finished_at;      /* seconds since the epoch */
    const char *stopped_by;               /* NULL, "interrupt" or "deadline" */
    int timeless;                         /* Markdown: no time anywhere */
} s2s_trust_sv_report_t;

void s2s_trust_sv_render_text(const s2s_trust_sv_report_t *rep, s2s_trust_sv_buf_t *b);
void s2s_trust_sv_render_json(const s2s_trust_sv_report_t *rep, s2s_trust_sv_buf_t *b);
void s2s_trust_sv_render_markdown(const s2s_trust_sv_report_t *rep, s2s_trust_sv_buf_t *b);

#endif
