/* s2s_trust_posh_fetch.c - see s2s_trust_posh_fetch.h */
#include "net/s2s_trust_posh_fetch.h"

#include <stdio.h>
#include <string.h>

#include "net/s2s_trust_conn.h"

const char *s2s_trust_posh_stage_name(s2s_trust_posh_stage_t s)
{
    return s == S2S_TRUST_POSH_STAGE_DELEGATED ? "delegated" : "domain";
}

const char *s2s_trust_posh_result_error(const s2s_trust_posh_result_t *r)
{
    if (r->ok)
        return "ok";
    if (r->http != S2S_TRUST_HTTP_OK)
        return s2s_trust_http_status_name(r->http);
    return s2s_trust_posh_status_name(r->posh);
}

/* One GET and one read, as stage `stage`, within what is left of the
 * deadline. 0 with *doc read OK, -1 with the failure recorded in *out. */
static int fetch_one(const char *url, const s2s_trust_posh_fetch_opts_t *o, uint64_t deadline,
                     s2s_trust_posh_stage_t stage, s2s_trust_posh_doc_t *doc, s2s_trust_posh_result_t *out)
{
    s2s_trust_http_opts_t ho;
    s2s_trust_http_result_t res;
    uint64_t now = s2s_trust_now_ms();
    char why[200];

    out->stage = stage;
    snprintf(out->url[stage], sizeof out->url[stage], "%s", url);
    out->n_urls = (size_t)stage + 1;
    memset(&ho, 0, sizeof ho);
    ho.cafile = o->cafile;
    for (size_t i = 0; i < o->n_resolve && i < S2S_TRUST_HTTP_MAX_RESOLVE; i++)
        ho.resolve[ho.n_resolve++] = o->resolve[i];
    ho.timeout_ms = now < deadline ? (unsigned)(deadline - now) : 1;
    ho.max_body = S2S_TRUST_POSH_MAX_DOC;
    ho.plain_http = 0;
    out->http = s2s_trust_http_get(url, &ho, &res);
    out->http_code = res.code;
    out->bytes = res.len;
    if (out->http != S2S_TRUST_HTTP_OK) {
        snprintf(out->why, sizeof out->why, "%.150s: %.160s", url, res.why);
        s2s_trust_http_result_clear(&res);
        return -1;
    }
    out->posh = s2s_trust_posh_parse(res.body, res.len, doc, why, sizeof why);
    s2s_trust_http_result_clear(&res);
    if (out->posh != S2S_TRUST_POSH_OK) {
        snprintf(out->why, sizeof out->why, "%.150s: %.160s", url, why);
        return -1;
    }
    return 0;
}

int s2s_trust_posh_fetch(const char *domain, const s2s_trust_posh_fetch_opts_t *opts, s2s_trust_posh_result_t *out)
{
    char url[S2S_TRUST_POSH_MAX_URL + 1];
    unsigned timeout = opts->timeout_ms == 0 ? 1
                       : opts->timeout_ms > S2S_TRUST_POSH_MAX_TIMEOUT_MS ? S2S_TRUST_POSH_MAX_TIMEOUT_MS
                                                                          : opts->timeout_ms;
    uint64_t deadline = s2s_trust_now_ms() + timeout;
    s2s_trust_posh_doc_t *first = &out->doc, second;
    int n;

    memset(out, 0, sizeof *out);
    /* The default port is left out, as a browser would show the URL. */
    if (opts->port == 0 || opts->port == 443)
        n = snprintf(url, sizeof url, "https://%s/.well-known/posh/xmpp-server.json", domain ? domain : "");
    else
        n = snprintf(url, sizeof url, "https://%s:%u/.well-known/posh/xmpp-server.json", domain ? domain : "",
                     (unsigned)opts->port);
    if (n < 0 || (size_t)n >= sizeof url || domain == NULL || strpbrk(domain, ":/?#@") != NULL ||
        !s2s_trust_posh_url_ok(url)) {
        out->posh = S2S_TRUST_POSH_BAD_URL;
        snprintf(out->why, sizeof out->why, "not a host name: the domain must be an A-label name");
        return 0;
    }
    if (fetch_one(url, opts, deadline, S2S_TRUST_POSH_STAGE_DOMAIN, first, out) != 0)
        return 0;
    if (!s2s_trust_posh_delegates(first)) {
        out->ok = 1;
        return 1;
    }
    /* A delegation: one hop, to an https URL. */
    out->domain_expires = first->expires;
    if (!s2s_trust_posh_url_ok(first->url)) {
        out->stage = S2S_TRUST_POSH_STAGE_DELEGATED;
        out->posh = S2S_TRUST_POSH_BAD_URL;
        snprintf(out->url[1], sizeof out->url[1], "%s", first->url);
        out->n_urls = 2;
        snprintf(out->why, sizeof out->why, "%.150s: url is not an https URL with a host name", url);
        return 0;
    }
    if (fetch_one(first->url, opts, deadline, S2S_TRUST_POSH_STAGE_DELEGATED, &second, out) != 0)
        return 0;
    out->posh = s2s_trust_posh_delegate(first, &second, first);
    if (out->posh != S2S_TRUST_POSH_OK) {
        snprintf(out->why, sizeof out->why, "%.150s: %s", out->url[1],
                 out->posh == S2S_TRUST_POSH_TOO_MANY_HOPS ? "delegates again (one hop at most)"
                                                           : "no usable fingerprint");
        /* What the delegated document said, for the report. */
        memcpy(first, &second, sizeof second);
        return 0;
    }
    out->ok = 1;
    return 1;
}
