/* out.c - escaped text and JSON output for every command (see out.h). */
#include "cli/out.h"

#include <string.h>

size_t cli_utf8_seq_len(const unsigned char *s, size_t len)
{
    size_t need;
    unsigned int cp;

    if (len == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        need = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        need = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, surrogates and beyond U+10FFFF are invalid. */
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

void cli_put_text(FILE *out, const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t n = cli_utf8_seq_len(s + i, len - i);
        if (n == 1 && s[i] >= 0x20 && s[i] < 0x7F && s[i] != '\\') {
            fputc(s[i], out);
        } else if (n > 1) {
            fwrite(s + i, 1, n, out);
        } else {
            fprintf(out, "\\x%02x", s[i]);
            n = 1;
        }
        i += n;
    }
}

void cli_put_text_str(FILE *out, const char *s)
{
    if (s == NULL)
        s = "";
    cli_put_text(out, (const unsigned char *)s, strlen(s));
}

void cli_put_json(FILE *out, const unsigned char *s, size_t len)
{
    size_t i = 0;

    fputc('"', out);
    while (i < len) {
        size_t n = cli_utf8_seq_len(s + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", out);
            n = 1;
        } else if (n == 1) {
            unsigned char ch = s[i];
            if (ch == '"' || ch == '\\')
                fprintf(out, "\\%c", ch);
            else if (ch == '\n')
                fputs("\\n", out);
            else if (ch == '\r')
                fputs("\\r", out);
            else if (ch == '\t')
                fputs("\\t", out);
            else if (ch < 0x20 || ch == 0x7F)
                fprintf(out, "\\u%04x", ch);
            else
                fputc(ch, out);
        } else {
            fwrite(s + i, 1, n, out);
        }
        i += n;
    }
    fputc('"', out);
}

void cli_put_json_str(FILE *out, const char *s)
{
    if (s == NULL)
        fputs("null", out);
    else
        cli_put_json(out, (const unsigned char *)s, strlen(s));
}

void cli_json_key(FILE *out, const char *key, int *first)
{
    if (!*first)
        fputc(',', out);
    *first = 0;
    cli_put_json_str(out, key);
    fputc(':', out);
}

void cli_json_str(FILE *out, const char *key, const char *value, int *first)
{
    cli_json_key(out, key, first);
    cli_put_json_str(out, value);
}

void cli_json_bool(FILE *out, const char *key, int value, int *first)
{
    cli_json_key(out, key, first);
    fputs(value ? "true" : "false", out);
}
