/*
 * testing.h - the smallest test runner that does the job.
 *
 * Each test is a function registered in test_main.c; CHECK records a
 * failure with file and line and lets the test go on, so one run shows
 * every broken case. The runner's last line is "N passed, N failed", which
 * CI reads.
 */
#ifndef S2S_TRUST_TESTING_H
#define S2S_TRUST_TESTING_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern int testing_failures; /* failures in the current test */

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            testing_failures++;                                                       \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            testing_failures++;                                                       \
        }                                                                             \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *a_ = (a), *b_ = (b);                                                     \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                               \
            fprintf(stderr, "  %s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                 \
            testing_failures++;                                                              \
        }                                                                                    \
    } while (0)

/* Path of a file in the generated PKI ($S2S_TRUST_PKI), in a static buffer. */
const char *pki_path(const char *name);

/* A scratch directory for files the tests write, made once per run. */
const char *scratch_dir(void);

/* Write `text` to scratch_dir()/name and return the full path (static buffer per call slot). */
const char *write_scratch(const char *name, const char *text);

#endif
