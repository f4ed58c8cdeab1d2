/*
 * s2s_trust_posh_fetch.h - the POSH procedure of RFC 7711 for one XMPP
 * domain: fetch its document over HTTPS (s2s_trust_http.h), read it
 * (core/s2s_trust_posh.h), follow its delegation once, and say which
 * fingerprints hold and for how long, or why none do.
 *
 *   1. GET https://DOMAIN[:PORT]/.well-known/posh/xmpp-server.json, the
 *      server's certificate verified for DOMAIN; no redirect followed.
 *   2. The document must read OK. With a usable fingerprint: done, its
 *      fingerprints and expires hold. With only a url: the url must be an
 *      https URL (s2s_trust_posh_url_ok), fetched as in 1 (verified for
 *      its own host); that document must read OK and hold a usable
 *      fingerprint (a url of its own is TOO_MANY_HOPS, never followed);
 *      expires is the smaller of the two.
 * One deadline covers both GETs. Every failure is a value, and its stage
 * (the domain's document or the delegated one) says where it happened.
 */
#ifndef S2S_TRUST_POSH_FETCH_H
#define S2S_TRUST_POSH_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_posh.h"
#include "net/s2s_trust_http.h"

/* Longest whole-procedure deadline; a longer one is this. */
#define S2S_TRUST_POSH_MAX_TIMEOUT_MS 60000u

typedef struct {
    const char *cafile;                              /* as s2s_trust_http_opts_t */
    const char *resolve[S2S_TRUST_HTTP_MAX_RESOLVE]; /* as s2s_trust_http_opts_t */
    size_t n_resolve;
    uint16_t port;       /* of DOMAIN's URL; 0 is 443 */
    unsigned timeout_ms; /* both GETs together; 0 is 1 */
} s2s_trust_posh_fetch_opts_t;

typedef enum {
    S2S_TRUST_POSH_STAGE_DOMAIN = 0,    /* DOMAIN's own document */
    S2S_TRUST_POSH_STAGE_DELEGATED = 1, /* the one its url named */
} s2s_trust_posh_stage_t;

typedef struct {
    int ok;                         /* 1: doc holds the fingerprints in force */
    s2s_trust_posh_stage_t stage;   /* where it ended (failed, or succeeded) */
    s2s_trust_http_status_t http;   /* of that stage's GET */
    long http_code;
    s2s_trust_posh_status_t posh;   /* of that stage's document, or the hop rule
                                       (OK when the GET failed) */
    char url[2][S2S_TRUST_POSH_MAX_URL + 1]; /* the URLs fetched or refused, by stage */
    size_t n_urls;
    uint32_t domain_expires;        /* a delegation: the domain document's expires */
    s2s_trust_posh_doc_t doc;       /* ok: the fingerprints in force, expires the
                                       combined one; a document error: what was read */
    size_t bytes;                   /* body length of the stage's GET */
    char why[320];                  /* not ok: the reason, one line; may quote the
                                       server (a Location): escape before showing */
} s2s_trust_posh_result_t;

/*
 * Run the procedure for `domain` (an A-label host name; anything else is
 * refused as BAD_URL before any I/O). Fills *out (about 8 KB: callers may
 * want it off the stack) and returns out->ok.
 */
int s2s_trust_posh_fetch(const char *domain, const s2s_trust_posh_fetch_opts_t *opts, s2s_trust_posh_result_t *out);

/* The one name of what ended a failed procedure: an HTTP status name
 * (s2s_trust_http_status_name) when the GET failed, else the document's
 * (s2s_trust_posh_status_name); "ok" when ok. */
const char *s2s_trust_posh_result_error(const s2s_trust_posh_result_t *r);

/* "domain", "delegated". */
const char *s2s_trust_posh_stage_name(s2s_trust_posh_stage_t s);

#endif
