/*
 * fuzz.h - what the harnesses in tests/fuzz share.
 *
 * OpenSSL's fuzz/ layout: each harness defines FuzzerInitialize,
 * FuzzerTestOneInput and FuzzerCleanup; driver.c turns them into either a
 * libFuzzer target or a replay program (see driver.c).
 */
#ifndef S2S_TRUST_FUZZ_H
#define S2S_TRUST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int FuzzerInitialize(int *argc, char ***argv);
int FuzzerTestOneInput(const uint8_t *buf, size_t len);
void FuzzerCleanup(void);

/* An invariant broke: say which, then abort() so that libFuzzer saves the
 * input and the replay driver dies loudly. Never returns. */
void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define FUZZ_CHECK(cond, ...)                                  \
    do {                                                       \
        if (!(cond))                                           \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);        \
    } while (0)

/* Fail if OpenSSL's error queue holds anything (`where` names the call):
 * the queue is thread-local and shared with fast_tls on a VM scheduler
 * thread, so the core promises to leave it empty. */
void fuzz_check_err_queue(const char *where);

/* Reading a fuzz input front to back; running out yields zeros/short takes. */
typedef struct {
    const uint8_t *p;
    size_t left;
} fuzz_in_t;

unsigned fuzz_u8(fuzz_in_t *in);
unsigned fuzz_u16(fuzz_in_t *in); /* big-endian */
/* Up to `want` bytes; returns how many, *out points into the input. */
size_t fuzz_take(fuzz_in_t *in, size_t want, const uint8_t **out);

/* An exact-size heap copy, so ASan sees a read one byte past the end (the
 * input itself is one big buffer, where a slice's over-read lands on the
 * next field and goes unnoticed). malloc(1) for len 0. */
unsigned char *fuzz_dup(const uint8_t *p, size_t len);

/* The PKI directory: $S2S_TRUST_PKI, else the one compiled in
 * (FUZZ_PKI_DEFAULT, tests/fuzz/pki). */
const char *fuzz_pki_dir(void);

/* "DIR/name" in a static buffer (one at a time). */
const char *fuzz_pki_path(const char *name);

/* The verification time pinned for this PKI (DIR/time, a libconfig date
 * string), or NULL when the file is absent: then "now" applies. The
 * committed corpus was cut from one generated PKI, whose leaves and CRLs
 * are only valid for a while; pinning the time keeps its verdicts the same
 * on every later run. Static buffer. */
const char *fuzz_pki_time(void);

#endif
