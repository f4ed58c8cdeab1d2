/*
 * s2s_trust_posh.h - the POSH document (RFC 7711): read it, decide what it
 * delegates to, and match a peer's leaf against its fingerprints.
 *
 * VM-free and without I/O: the bytes come from the network layer
 * (net/s2s_trust_posh_fetch.h), which fetches them over HTTPS. Every byte
 * is an attacker's (whoever controls the web server, or a hosting
 * provider a domain delegates to), so the reader is a small, strict JSON
 * parser (RFC 8259) for exactly what POSH needs, with fixed bounds and no
 * allocation: a document is read into a fixed-size struct or refused.
 *
 * What is read, and how strictly:
 *   - the whole input is one JSON object, UTF-8 without a byte order mark,
 *     at most S2S_TRUST_POSH_MAX_DOC bytes, nested at most
 *     S2S_TRUST_POSH_MAX_DEPTH deep; nothing but white space after it;
 *   - "fingerprints": an array of at most S2S_TRUST_POSH_MAX_FP_OBJECTS
 *     objects; in each, "sha-256" and "sha-512" (exactly so spelled) are
 *     strings of padded standard base64 (RFC 4648 section 4, no white
 *     space, unused bits zero) of exactly 32 and 64 bytes; other members
 *     (sha-1, sha-384, ...) are counted in n_ignored and not decoded;
 *   - "url": a string (checked by s2s_trust_posh_url_ok only when it is
 *     followed);
 *   - "expires": an integer number of seconds, 1..S2S_TRUST_POSH_MAX_EXPIRES;
 *   - any other member is skipped (after being checked as JSON).
 * A name appearing twice in the document object or in one fingerprint
 * object is malformed: two parsers could read two different documents.
 * Strings with an invalid UTF-8 sequence or a lone surrogate escape are
 * malformed wherever they are.
 *
 * Statuses, in the order they are decided:
 *   MALFORMED               not JSON, or a known member of the wrong type
 *                           or value (a bad fingerprint is MALFORMED: the
 *                           publisher's error must be seen, not skipped)
 *   TOO_LARGE               more than S2S_TRUST_POSH_MAX_DOC bytes
 *   NO_FINGERPRINTS_OR_URL  neither a usable fingerprint nor a url
 *   BAD_EXPIRES             expires missing, 0, negative, not an integer,
 *                           or above the maximum: the house refuses a
 *                           document it may not cache (RFC 7711 lets 0
 *                           mean "do not cache"; every s2s connection
 *                           would then fetch it)
 *
 * Delegation (RFC 7711 section 3.3): a document with a url and no usable
 * fingerprint delegates to the document at that https URL, one hop at
 * most; s2s_trust_posh_delegate applies the rules to the two documents.
 *
 * s2s_trust_posh.c is the reader; s2s_trust_posh_match.c what a document
 * is used for (delegation, the match, the names).
 */
#ifndef S2S_TRUST_POSH_H
#define S2S_TRUST_POSH_H

#include <stddef.h>
#include <stdint.h>

#define S2S_TRUST_POSH_MAX_DOC 65536
#define S2S_TRUST_POSH_MAX_DEPTH 16
#define S2S_TRUST_POSH_MAX_FP_OBJECTS 32
#define S2S_TRUST_POSH_MAX_FP (2 * S2S_TRUST_POSH_MAX_FP_OBJECTS)
#define S2S_TRUST_POSH_MAX_URL 2048
/* Ten years: larger is no one's caching intention, and would overflow a
 * caller's now + expires on 32-bit time arithmetic. The cache that keeps
 * documents caps the lifetime it grants on its own. */
#define S2S_TRUST_POSH_MAX_EXPIRES 315360000u

typedef enum {
    S2S_TRUST_POSH_OK = 0,
    S2S_TRUST_POSH_MALFORMED,
    S2S_TRUST_POSH_TOO_LARGE,
    S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL,
    S2S_TRUST_POSH_BAD_EXPIRES,
    /* Delegation (s2s_trust_posh_delegate, s2s_trust_posh_url_ok): */
    S2S_TRUST_POSH_BAD_URL,       /* the url is not an https URL we follow */
    S2S_TRUST_POSH_TOO_MANY_HOPS, /* the delegated document delegates again */
} s2s_trust_posh_status_t;

typedef enum { S2S_TRUST_POSH_SHA256 = 0, S2S_TRUST_POSH_SHA512 = 1 } s2s_trust_posh_alg_t;

typedef struct {
    s2s_trust_posh_alg_t alg;
    size_t len; /* 32 or 64 */
    unsigned char digest[64];
} s2s_trust_posh_fp_t;

typedef struct {
    size_t n_fp;       /* usable fingerprints, in document order */
    s2s_trust_posh_fp_t fp[S2S_TRUST_POSH_MAX_FP];
    size_t n_ignored;  /* fingerprints in algorithms we do not use */
    int has_url;
    char url[S2S_TRUST_POSH_MAX_URL + 1]; /* NUL-free, NUL-terminated; as published */
    uint32_t expires;  /* seconds, 1..S2S_TRUST_POSH_MAX_EXPIRES once OK */
} s2s_trust_posh_doc_t;

/*
 * Read `len` bytes of `json` into *doc (always zeroed first). `why`
 * (whylen bytes, NUL-terminated, printable ASCII: input bytes are never
 * copied into it) says what was wrong and at which byte. Never allocates.
 */
s2s_trust_posh_status_t s2s_trust_posh_parse(const void *json, size_t len, s2s_trust_posh_doc_t *doc,
                                             char *why, size_t whylen);

/* Does the document delegate, i.e. must its url be followed? (a url and no
 * usable fingerprint; fingerprints win when both are present) */
int s2s_trust_posh_delegates(const s2s_trust_posh_doc_t *doc);

/* Is `url` one a delegation may name: "https://" (scheme in any case),
 * then a host name (LDH labels) with an optional :PORT (1..65535), then
 * nothing or a path starting with '/'; printable ASCII only, no user
 * information, no fragment, at most S2S_TRUST_POSH_MAX_URL bytes? */
int s2s_trust_posh_url_ok(const char *url);

/*
 * The rules of one hop: `first` is the domain's document (OK, delegating),
 * `second` the one its url named (OK). The delegated document must have a
 * usable fingerprint (else TOO_MANY_HOPS: its own url is never followed);
 * *out becomes `second` with expires = min(first, second). Pure.
 */
s2s_trust_posh_status_t s2s_trust_posh_delegate(const s2s_trust_posh_doc_t *first,
                                                const s2s_trust_posh_doc_t *second, s2s_trust_posh_doc_t *out);

/*
 * Does the leaf certificate `der` (the full DER as the peer presented it)
 * have a digest equal to one of doc's fingerprints? Digests are compared
 * in constant time, every fingerprint each time. 1 with *index (may be
 * NULL) the first matching fingerprint, 0 no match, -1 when hashing failed
 * (the OpenSSL error queue is left empty).
 */
int s2s_trust_posh_match(const s2s_trust_posh_doc_t *doc, const unsigned char *der, size_t der_len, size_t *index);

/* The SHA-256 or SHA-512 digest of `der` into out (64 bytes); its length,
 * or 0 on failure. */
size_t s2s_trust_posh_digest(s2s_trust_posh_alg_t alg, const unsigned char *der, size_t der_len,
                             unsigned char out[64]);

/* Padded standard base64 of `len` bytes into out (outlen >= 4 * ((len + 2) / 3) + 1);
 * returns out, or "" when it does not fit. */
const char *s2s_trust_posh_base64(const unsigned char *data, size_t len, char *out, size_t outlen);

/* "sha-256", "sha-512". */
const char *s2s_trust_posh_alg_name(s2s_trust_posh_alg_t alg);

/* "ok", "malformed", "too_large", "no_fingerprints_or_url", "bad_expires",
 * "bad_url", "too_many_hops". */
const char *s2s_trust_posh_status_name(s2s_trust_posh_status_t st);

#endif
