/* fuzz_util.c - see fuzz.h */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "fuzz.h"

#ifndef FUZZ_PKI_DEFAULT
#define FUZZ_PKI_DEFAULT "tests/fuzz/pki"
#endif

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: invariant broken: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    abort();
}

void fuzz_check_err_queue(const char *where)
{
    unsigned long e = ERR_peek_error();
    char buf[256];

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        fuzz_fail(__FILE__, __LINE__, "%s left the OpenSSL error queue non-empty: %s", where, buf);
    }
}

unsigned fuzz_u8(fuzz_in_t *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

unsigned fuzz_u16(fuzz_in_t *in)
{
    unsigned hi = fuzz_u8(in);
    return (hi << 8) | fuzz_u8(in);
}

size_t fuzz_take(fuzz_in_t *in, size_t want, const uint8_t **out)
{
    size_t n = want < in->left ? want : in->left;

    *out = in->p;
    in->p += n;
    in->left -= n;
    return n;
}

unsigned char *fuzz_dup(const uint8_t *p, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);

    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, p, len);
    return copy;
}

const char *fuzz_pki_dir(void)
{
    const char *env = getenv("S2S_TRUST_PKI");
    return env != NULL && env[0] != '\0' ? env : FUZZ_PKI_DEFAULT;
}

const char *fuzz_pki_path(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof path, "%s/%s", fuzz_pki_dir(), name);
    return path;
}

const char *fuzz_pki_time(void)
{
    static char text[64];
    FILE *f = fopen(fuzz_pki_path("time"), "r");
    size_t n;

    if (f == NULL)
        return NULL;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    text[n] = '\0';
    return n > 0 ? text : NULL;
}
