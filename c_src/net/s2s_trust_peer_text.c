/* s2s_trust_peer_text.c - see s2s_trust_peer_text.h */
#include "net/s2s_trust_peer_text.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

/* Every byte of `s` (n of them) is in `extra` or alphanumeric. */
static int only(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr(extra, c))))
            return 0;
    }
    return 1;
}

int s2s_trust_domain_ok(const char *d)
{
    size_t n = d ? strlen(d) : 0;

    return n > 0 && n <= 253 && only(d, n, "-._");
}

int s2s_trust_plain_token(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n > 0 && n <= 120 && only(s, n, "-._+/=:");
}

const char *s2s_trust_escape(const void *data, size_t len, char *out, size_t cap)
{
    const unsigned char *s = data;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)s[i];
        } else {
            if (o + 4 >= cap)
                break;
            snprintf(out + o, cap - o, "\\x%02x", s[i]);
            o += 4;
        }
    }
    out[o] = '\0';
    return out;
}

const char *s2s_trust_escape_str(const char *s, char *out, size_t cap)
{
    return s2s_trust_escape(s, strlen(s), out, cap);
}

void s2s_trust_random_hex(char *out, size_t bytes)
{
    unsigned char b[32];

    if (bytes > sizeof b)
        bytes = sizeof b;
    /* A failing RNG only makes ids guessable in a test conversation; the
     * keys are never secrets (the dialback server says "valid" to all). */
    if (RAND_bytes(b, (int)bytes) != 1)
        memset(b, 0x5a, bytes);
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}
