/* s2s_trust_probe.c - see s2s_trust_probe.h
 *
 * One call, one connection (s2s_trust_conn), three phases, each bounded:
 *   connect   until connect_ms (or total);
 *   stream    STARTTLS mode only: s2s_trust_s2s_negotiate_starttls, up to
 *             <proceed/>, bounded by the total deadline;
 *   tls       a TLS client with SNI = the domain and ALPN xmpp-server,
 *             until handshake_ms (or total); then the chain is captured.
 * What this file adds to the shared layers is the probe's vocabulary: each
 * way a peer can fail becomes one status and one line for the operator.
 *
 * SSL_CTX: one per call, not a shared one. Measured on this machine
 * (OpenSSL 3.0, 2 cores, one busy): SSL_CTX_new + configure + free costs
 * ~125 us, SSL_new alone ~1 us; one probe on loopback costs milliseconds
 * (an ECDHE handshake plus round trips), over the network tens or hundreds.
 * The saving of a shared context is noise, and per call there is no global
 * state, no pthread_once, and nothing left behind when the NIF is unloaded.
 */
#include "net/s2s_trust_probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/s2s_trust_conn.h"
#include "net/s2s_trust_s2s_client.h"

typedef struct {
    const s2s_trust_probe_request_t *req;
    s2s_trust_probe_result_t *res;
    s2s_trust_conn_t c;
    uint64_t t0, total_deadline;
    unsigned total_ms, connect_ms, handshake_ms;
} probe_t;

static const char *const status_names[S2S_TRUST_PROBE_STATUS_COUNT] = {
    [S2S_TRUST_PROBE_OK] = "ok",
    [S2S_TRUST_PROBE_BAD_ADDRESS] = "bad_address",
    [S2S_TRUST_PROBE_CONNECT_FAILED] = "connect_failed",
    [S2S_TRUST_PROBE_TIMEOUT] = "timeout",
    [S2S_TRUST_PROBE_CLOSED] = "closed",
    [S2S_TRUST_PROBE_PROTOCOL] = "protocol",
    [S2S_TRUST_PROBE_NO_STARTTLS] = "no_starttls",
    [S2S_TRUST_PROBE_TOO_LARGE] = "too_large",
    [S2S_TRUST_PROBE_TLS_FAILED] = "tls_failed",
    [S2S_TRUST_PROBE_NO_CERTIFICATE] = "no_certificate",
    [S2S_TRUST_PROBE_INTERNAL] = "internal",
};

const char *s2s_trust_probe_status_name(s2s_trust_probe_status_t status)
{
    if ((unsigned)status >= S2S_TRUST_PROBE_STATUS_COUNT)
        return "internal";
    return status_names[status];
}

void s2s_trust_probe_result_free(s2s_trust_probe_result_t *result)
{
    if (result == NULL)
        return;
    for (size_t i = 0; i < result->chain_count; i++)
        free((void *)result->chain[i].data);
    free(result->chain);
    result->chain = NULL;
    result->chain_count = 0;
}


static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static s2s_trust_probe_status_t end(probe_t *p, s2s_trust_probe_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static s2s_trust_probe_status_t end(probe_t *p, s2s_trust_probe_status_t status, const char *fmt, ...)
{
    va_list ap;

    p->res->status = status;
    va_start(ap, fmt);
    vsnprintf(p->res->detail, sizeof p->res->detail, fmt, ap);
    va_end(ap);
    return status;
}

/* Append to the detail line. */
static void add(probe_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(probe_t *p, const char *fmt, ...)
{
    size_t used = strlen(p->res->detail);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->res->detail + used, sizeof p->res->detail - used, fmt, ap);
    va_end(ap);
}

/* ---- connect --------------------------------------------------------------------- */

static s2s_trust_probe_status_t do_connect(probe_t *p)
{
    const s2s_trust_probe_request_t *req = p->req;
    s2s_trust_io_t io;
    char b[80];

    p->res->stage = "connect";
    p->c.deadline = min_u64(p->t0 + p->connect_ms, p->total_deadline);
    io = s2s_trust_conn_connect(&p->c, req->address, req->port);
    p->c.deadline = p->total_deadline;
    switch (io) {
    case S2S_TRUST_IO_OK:
        return S2S_TRUST_PROBE_OK;
    case S2S_TRUST_IO_BAD_ADDRESS:
        return end(p, S2S_TRUST_PROBE_BAD_ADDRESS, "'%s' is not a numeric IPv4 or IPv6 address",
                   s2s_trust_escape(req->address, strlen(req->address), b, sizeof b));
    case S2S_TRUST_IO_TIMEOUT:
        return end(p, S2S_TRUST_PROBE_TIMEOUT, "no TCP connection within %u ms",
                   (unsigned)(min_u64(p->t0 + p->connect_ms, p->total_deadline) - p->t0));
    case S2S_TRUST_IO_FAILED:
        return end(p, S2S_TRUST_PROBE_CONNECT_FAILED, "%s", p->c.err);
    default:
        return end(p, S2S_TRUST_PROBE_INTERNAL, "%s", p->c.err);
    }
}

/* ---- stream and STARTTLS ------------------------------------------------------------ */

/* The connection ended while we negotiated. */
static s2s_trust_probe_status_t stream_io_end(probe_t *p, const s2s_trust_neg_result_t *n)
{
    const char *stage = n->stage;
    int features = strcmp(stage, "features") == 0, stream = strcmp(stage, "stream") == 0;

    if (n->sending && n->io == S2S_TRUST_IO_TIMEOUT)
        return end(p, S2S_TRUST_PROBE_TIMEOUT, "could not send %s within %u ms",
                   stream ? "the stream header" : "<starttls/>", p->total_ms);
    if (n->sending)
        return end(p, stream ? S2S_TRUST_PROBE_CONNECT_FAILED : S2S_TRUST_PROBE_CLOSED, "sending %s: %s",
                   stream ? "the stream header" : "<starttls/>", p->c.err);
    if (n->io == S2S_TRUST_IO_TIMEOUT)
        return end(p, S2S_TRUST_PROBE_TIMEOUT, "%s within %u ms",
                   stream ? "no stream header from the server"
                   : features ? "no stream features from the server"
                              : "no answer to <starttls/>",
                   p->total_ms);
    if (n->io == S2S_TRUST_IO_CLOSED)
        return end(p, S2S_TRUST_PROBE_CLOSED, "the server closed the connection %s",
                   stream ? "before its stream header"
                   : features ? "before its stream features"
                              : "instead of answering <starttls/>");
    if (n->io == S2S_TRUST_IO_FAILED)
        /* A reset before the server said anything is a failed connection
         * (the header's contract), later an early close. */
        return end(p, n->received == 0 ? S2S_TRUST_PROBE_CONNECT_FAILED : S2S_TRUST_PROBE_CLOSED,
                   "reading from the server: %s", p->c.err);
    return end(p, S2S_TRUST_PROBE_INTERNAL, "%s", p->c.err);
}

static s2s_trust_probe_status_t negotiation_end(probe_t *p, const s2s_trust_neg_result_t *n)
{
    const s2s_trust_xs_element_t *f = &n->features, *el = &n->element;
    char b1[120], b2[120];

    switch (n->outcome) {
    case S2S_TRUST_NEG_PROCEED:
        return S2S_TRUST_PROBE_OK;
    case S2S_TRUST_NEG_IO:
        return stream_io_end(p, n);
    case S2S_TRUST_NEG_OLD_STREAM:
        return end(p, S2S_TRUST_PROBE_NO_STARTTLS,
                   "the server's stream has version '%s', not 1.0: no stream features, no STARTTLS",
                   s2s_trust_escape(n->header.version, strlen(n->header.version), b1, sizeof b1));
    case S2S_TRUST_NEG_NO_STARTTLS:
        return end(p, S2S_TRUST_PROBE_NO_STARTTLS, "the server's stream features do not offer STARTTLS%s%s",
                   f->dialback ? " (it offers dialback" : "",
                   f->dialback ? (f->mech_external ? " and SASL EXTERNAL)" : ")")
                               : (f->mech_external ? " (it offers SASL EXTERNAL)" : ""));
    case S2S_TRUST_NEG_REFUSED:
        return end(p, S2S_TRUST_PROBE_PROTOCOL, "the server refused STARTTLS with <failure/>");
    case S2S_TRUST_NEG_STREAM_ERROR:
        return end(p, S2S_TRUST_PROBE_PROTOCOL, "stream error: %s%s%s",
                   el->condition[0] ? s2s_trust_escape(el->condition, strlen(el->condition), b1, sizeof b1) : "(no condition)",
                   el->error_text[0] ? ": " : "", s2s_trust_escape(el->error_text, strlen(el->error_text), b2, sizeof b2));
    case S2S_TRUST_NEG_STREAM_END:
        return end(p, S2S_TRUST_PROBE_CLOSED, "the server closed the stream (</stream:stream>)");
    case S2S_TRUST_NEG_TOO_LARGE:
        return end(p, S2S_TRUST_PROBE_TOO_LARGE, "%s", n->detail);
    case S2S_TRUST_NEG_PROTOCOL:
    default:
        return end(p, S2S_TRUST_PROBE_PROTOCOL, "%s", n->detail);
    }
}

static s2s_trust_probe_status_t do_starttls(probe_t *p)
{
    const s2s_trust_probe_request_t *req = p->req;
    s2s_trust_probe_result_t *r = p->res;
    s2s_trust_neg_result_t *n = calloc(1, sizeof *n);
    const char *from = req->from && req->from[0] ? req->from : NULL;
    char header[768], b[80];
    s2s_trust_probe_status_t st;

    r->stage = "stream";
    if (n == NULL)
        return end(p, S2S_TRUST_PROBE_INTERNAL, "out of memory");
    s2s_trust_s2s_header(header, sizeof header, from, req->domain, NULL, 1);
    (void)s2s_trust_s2s_negotiate_starttls(&p->c, header, n);
    r->stage = n->stage;
    r->starttls_offered = n->features.starttls;
    r->starttls_required = n->features.starttls_required;
    st = negotiation_end(p, n);
    /* A TLS record where XML should be: a record header starts 0x15 (alert)
     * or 0x16 (handshake). Say what the operator probably meant. Other
     * garbage right at the start: show how it began. */
    if (st == S2S_TRUST_PROBE_PROTOCOL && n->first_len > 0 && (n->first[0] == 0x15 || n->first[0] == 0x16))
        add(p, " - the server speaks TLS at once: a direct TLS (XEP-0368) port?");
    else if (st == S2S_TRUST_PROBE_PROTOCOL && strcmp(r->stage, "stream") == 0 && n->first_len > 0)
        add(p, "; it began '%s'", s2s_trust_escape(n->first, n->first_len, b, sizeof b));
    free(n);
    return st;
}

/* ---- TLS ---------------------------------------------------------------------------- */

static void hint_from_first_bytes(probe_t *p)
{
    const unsigned char *first = p->c.tls_first;
    size_t len = p->c.tls_first_len;
    char b[64];

    if (len == 0)
        return;
    if (first[0] == '<')
        add(p, "; the server answered with XML ('%s'): a STARTTLS port, not direct TLS?", s2s_trust_escape(first, len, b, sizeof b));
    else if (first[0] != 0x15 && first[0] != 0x16 && first[0] != 0x14 && first[0] != 0x17)
        add(p, "; the server sent '%s' (not TLS)", s2s_trust_escape(first, len, b, sizeof b));
}

static s2s_trust_probe_status_t capture(probe_t *p, SSL *ssl)
{
    s2s_trust_probe_result_t *r = p->res;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl); /* client side: the leaf included */
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    int n;

    snprintf(r->tls_version, sizeof r->tls_version, "%s", SSL_get_version(ssl));
    snprintf(r->cipher, sizeof r->cipher, "%s", SSL_get_cipher_name(ssl));
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    s2s_trust_escape(alpn, alpn_len, r->alpn, sizeof r->alpn);

    n = chain ? sk_X509_num(chain) : 0;
    if (n <= 0)
        return end(p, S2S_TRUST_PROBE_NO_CERTIFICATE, "TLS is up (%s) but the server presented no certificate",
                   r->tls_version);
    if (n > S2S_TRUST_PROBE_MAX_CHAIN)
        return end(p, S2S_TRUST_PROBE_TOO_LARGE, "the server sent %d certificates; at most %d are kept", n,
                   S2S_TRUST_PROBE_MAX_CHAIN);
    r->chain = calloc((size_t)n, sizeof *r->chain);
    if (r->chain == NULL)
        return end(p, S2S_TRUST_PROBE_INTERNAL, "out of memory");
    for (int i = 0; i < n; i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(sk_X509_value(chain, i), &der);
        if (len <= 0) {
            ERR_clear_error();
            return end(p, S2S_TRUST_PROBE_INTERNAL, "could not re-encode certificate %d", i);
        }
        /* Owned by the result, freed with free(): copy out of OpenSSL's allocator. */
        r->chain[i].data = malloc((size_t)len);
        if (r->chain[i].data == NULL) {
            OPENSSL_free(der);
            return end(p, S2S_TRUST_PROBE_INTERNAL, "out of memory");
        }
        memcpy((void *)r->chain[i].data, der, (size_t)len);
        r->chain[i].len = (size_t)len;
        r->chain_count = (size_t)i + 1;
        OPENSSL_free(der);
    }
    return end(p, S2S_TRUST_PROBE_OK, "%s %s, %d certificate(s) sent", r->tls_version, r->cipher, n);
}

static s2s_trust_probe_status_t do_tls(probe_t *p)
{
    static const unsigned char alpn[] = "\x0bxmpp-server";
    const s2s_trust_tls_opts_t opts = { .sni = p->req->domain, .alpn = alpn, .alpn_len = sizeof alpn - 1 };
    s2s_trust_io_t io;
    s2s_trust_probe_status_t st;

    p->res->stage = "tls";
    p->c.deadline = min_u64(s2s_trust_now_ms() + p->handshake_ms, p->total_deadline);
    io = s2s_trust_conn_start_tls(&p->c, &opts);
    switch (io) {
    case S2S_TRUST_IO_OK:
        break;
    case S2S_TRUST_IO_TLS_FAILED:
        st = end(p, S2S_TRUST_PROBE_TLS_FAILED, "TLS handshake failed: %s", p->c.err);
        hint_from_first_bytes(p);
        return st;
    case S2S_TRUST_IO_TIMEOUT:
        return end(p, S2S_TRUST_PROBE_TIMEOUT, "TLS handshake not done within %u ms", p->handshake_ms);
    case S2S_TRUST_IO_CLOSED:
        st = end(p, S2S_TRUST_PROBE_CLOSED, "the server closed the connection during the TLS handshake");
        hint_from_first_bytes(p);
        return st;
    case S2S_TRUST_IO_FAILED:
        st = end(p, p->c.tls_first_len == 0 && p->req->mode == S2S_TRUST_TLS_MODE_DIRECT_TLS
                        ? S2S_TRUST_PROBE_CONNECT_FAILED
                        : S2S_TRUST_PROBE_CLOSED,
                 "the connection broke during the TLS handshake: %s", p->c.err);
        hint_from_first_bytes(p);
        return st;
    default:
        return end(p, S2S_TRUST_PROBE_INTERNAL, "%s", p->c.err);
    }
    st = capture(p, p->c.ssl);
    if (st == S2S_TRUST_PROBE_OK)
        p->res->stage = "done";
    /* close_notify, best effort and bounded: nothing waits for the reply. */
    p->c.deadline = min_u64(s2s_trust_now_ms() + 200, p->total_deadline);
    return st;
}

/* ---- the whole probe ------------------------------------------------------------------ */

s2s_trust_probe_status_t s2s_trust_probe_run(const s2s_trust_probe_request_t *req,
                                             s2s_trust_probe_result_t *result)
{
    probe_t p = { .req = req, .res = result };
    s2s_trust_probe_status_t st;

    memset(result, 0, sizeof *result);
    result->stage = "connect";
    ERR_clear_error();
    p.t0 = s2s_trust_now_ms();
    p.total_ms = req->total_ms ? req->total_ms : S2S_TRUST_PROBE_TOTAL_MS_DEFAULT;
    if (p.total_ms > S2S_TRUST_PROBE_TOTAL_MS_MAX)
        p.total_ms = S2S_TRUST_PROBE_TOTAL_MS_MAX;
    p.connect_ms = req->connect_ms ? req->connect_ms : S2S_TRUST_PROBE_CONNECT_MS_DEFAULT;
    p.handshake_ms = req->handshake_ms ? req->handshake_ms : S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT;
    p.total_deadline = p.t0 + p.total_ms;
    s2s_trust_conn_init(&p.c, p.total_deadline, NULL);

    if (req->address == NULL) {
        st = end(&p, S2S_TRUST_PROBE_BAD_ADDRESS, "no address");
        goto done;
    }
    if (!s2s_trust_domain_ok(req->domain) || (req->from && req->from[0] && !s2s_trust_domain_ok(req->from))) {
        st = end(&p, S2S_TRUST_PROBE_BAD_ADDRESS, "the %s is not a domain in A-label form",
                 s2s_trust_domain_ok(req->domain) ? "from domain" : "domain");
        goto done;
    }
    if (req->port == 0 || (req->mode != S2S_TRUST_TLS_MODE_STARTTLS && req->mode != S2S_TRUST_TLS_MODE_DIRECT_TLS)) {
        st = end(&p, S2S_TRUST_PROBE_BAD_ADDRESS, req->port == 0 ? "port 0" : "unknown mode");
        goto done;
    }
    st = do_connect(&p);
    if (st == S2S_TRUST_PROBE_OK && req->mode == S2S_TRUST_TLS_MODE_STARTTLS)
        st = do_starttls(&p);
    if (st == S2S_TRUST_PROBE_OK)
        st = do_tls(&p);
done:
    s2s_trust_conn_close(&p.c);
    if (st != S2S_TRUST_PROBE_OK)
        s2s_trust_probe_result_free(result);
    result->status = st;
    result->elapsed_ms = (unsigned)(s2s_trust_now_ms() - p.t0);
    ERR_clear_error();
    return st;
}
