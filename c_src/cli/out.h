/*
 * out.h - writing data that came from the network, as escaped text or JSON.
 *
 * Certificate names and subjects are attacker-chosen bytes: control
 * characters, invalid UTF-8, NULs. Both writers below escape them so a
 * terminal, a log parser or a JSON consumer sees exactly one line per
 * record and nothing it could interpret.
 */
#ifndef S2S_TRUST_CLI_OUT_H
#define S2S_TRUST_CLI_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Text: printable ASCII and valid UTF-8 as is; everything else, and
 * backslash, as \xNN. */
void cli_put_text(FILE *out, const unsigned char *s, size_t len);
void cli_put_text_str(FILE *out, const char *s);

/* JSON string literal with quotes. Invalid UTF-8 bytes become U+FFFD, so
 * the output is always valid JSON (RFC 8259 requires UTF-8). */
void cli_put_json(FILE *out, const unsigned char *s, size_t len);
void cli_put_json_str(FILE *out, const char *s); /* NULL writes null */

/* JSON object member name: a comma unless *first, then "key": */
void cli_json_key(FILE *out, const char *key, int *first);

/* A whole member: "key":"value" (value NULL writes null), "key":true|false. */
void cli_json_str(FILE *out, const char *key, const char *value, int *first);
void cli_json_bool(FILE *out, const char *key, int value, int *first);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
size_t cli_utf8_seq_len(const unsigned char *s, size_t len);

#endif
