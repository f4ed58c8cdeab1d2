/*
 * s2s_trust_error.h - how the core reports a failure it cannot turn into a
 * verdict: a bad configuration or an unreadable file.
 *
 * Always names the file and, where one applies, the line of the
 * configuration that caused it, so an operator can go straight there.
 * Fixed-size buffers: reporting an error must never itself fail.
 */
#ifndef S2S_TRUST_ERROR_H
#define S2S_TRUST_ERROR_H

typedef struct {
    char file[1024]; /* configuration file, or "" for the built-in defaults */
    int line;        /* 1-based line in `file`; 0 when no line applies */
    char text[768];  /* what is wrong, for a person */
} s2s_trust_error_t;

/* Fill `err` (may be NULL) printf-style; truncates rather than fails. */
void s2s_trust_error_set(s2s_trust_error_t *err, const char *file, int line,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Append OpenSSL's queued errors to err->text and empty the queue. */
void s2s_trust_error_append_openssl(s2s_trust_error_t *err);

#endif
