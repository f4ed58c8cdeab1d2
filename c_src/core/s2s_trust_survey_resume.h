/*
 * s2s_trust_survey_resume.h - read back an interrupted survey's JSON
 * (`s2s-trust survey --resume FILE`), so the next run does not measure the
 * finished domains again.
 *
 * The file is input like any other: it may have been edited, truncated or
 * written by someone else. The reader is a small strict JSON parser
 * (RFC 8259) with bounds on everything - bytes, nesting, string length,
 * values, results - and it takes nothing on trust: every domain must be a
 * DNS name in A-label form, every verdict one of the five, every line fit
 * its field, no domain twice. Anything else refuses the whole file with a
 * reason (a partly read file would silently lose or invent results).
 * Unknown members are ignored, so a newer writer's additions do no harm.
 */
#ifndef S2S_TRUST_SURVEY_RESUME_H
#define S2S_TRUST_SURVEY_RESUME_H

#include <stddef.h>

#include "core/s2s_trust_survey.h"

#define S2S_TRUST_SV_RESUME_MAX_BYTES (64u << 20)
#define S2S_TRUST_SV_RESUME_MAX_DEPTH 16
#define S2S_TRUST_SV_RESUME_MAX_STRING 4096 /* bytes of one string, decoded */
#define S2S_TRUST_SV_RESUME_MAX_VALUES 4000000

typedef struct {
    s2s_trust_sv_result_t *results; /* finished, in the file's order */
    size_t n;
    char (*domains)[S2S_TRUST_DOMAIN_MAX + 1]; /* the survey's whole list, in order */
    size_t n_domains;
} s2s_trust_sv_resume_t;

/* Parse `len` bytes. 0 with *out filled (free with _resume_free), or -1
 * with `why` saying what was wrong and *out empty. */
int s2s_trust_sv_resume_parse(const char *json, size_t len, s2s_trust_sv_resume_t *out, char *why, size_t whylen);
void s2s_trust_sv_resume_free(s2s_trust_sv_resume_t *r);

#endif
