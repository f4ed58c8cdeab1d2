/* s2s_trust_error.c - see s2s_trust_error.h */
#include "core/s2s_trust_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

void s2s_trust_error_set(s2s_trust_error_t *err, const char *file, int line,
                         const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
}

void s2s_trust_error_append_openssl(s2s_trust_error_t *err)
{
    unsigned long code;
    char buf[256];
    size_t used;

    /* Drain the whole queue even when there is no room left: it is
     * thread-local and shared with fast_tls and crypto on the same
     * scheduler thread, so nothing may be left behind. */
    while ((code = ERR_get_error()) != 0) {
        if (err == NULL)
            continue;
        used = strlen(err->text);
        if (used + 3 >= sizeof err->text)
            continue;
        ERR_error_string_n(code, buf, sizeof buf);
        snprintf(err->text + used, sizeof err->text - used, "%s%s",
                 used ? ": " : "", buf);
    }
}
