/* s2s_trust_probe.c - see s2s_trust_probe.h
 *
 * One call, one socket, three phases, each bounded:
 *   connect   non-blocking connect(), poll() until connect_ms (or total);
 *   stream    STARTTLS mode only: our stream header, then the server's bytes
 *             through s2s_trust_xmpp_stream (at most
 *             S2S_TRUST_PROBE_MAX_PRETLS_BYTES), until <proceed/>; bounded by
 *             the total deadline;
 *   tls       a TLS client over two memory BIOs that we fill from recv() and
 *             drain with send(MSG_NOSIGNAL), until handshake_ms (or total).
 * Driving OpenSSL through memory BIOs keeps every byte on the wire in our
 * hands: the deadlines are ours (poll), and no write can raise SIGPIPE
 * inside the Erlang VM (a socket BIO would write(), which does).
 *
 * SSL_CTX: one per call, not a shared one. Measured on this machine
 * (OpenSSL 3.0, 2 cores, one busy): SSL_CTX_new + configure + free costs
 * ~125 us, SSL_new alone ~1 us; one probe on loopback costs milliseconds
 * (an ECDHE handshake plus round trips), over the network tens or hundreds.
 * The saving of a shared context is noise, and per call there is no global
 * state, no pthread_once, and nothing left behind when the NIF is unloaded.
 */
#include "net/s2s_trust_probe.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/s2s_trust_xmpp_stream.h"

#define IO_TIMEOUT (-2)
#define RECV_CHUNK 4096

typedef struct {
    const s2s_trust_probe_request_t *req;
    s2s_trust_probe_result_t *res;
    int fd;
    uint64_t t0, total_deadline;
    unsigned total_ms, connect_ms, handshake_ms;
    unsigned char first[12]; /* the first bytes the server sent in TLS, for hints */
    size_t first_len;
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

/* ---- time and the socket ------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* 1 ready, 0 deadline passed, -1 error (errno). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        struct pollfd pfd = { .fd = fd, .events = events };
        int rc;

        if (now >= deadline)
            return 0;
        rc = poll(&pfd, 1, (int)min_u64(deadline - now, 60000));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* 0 sent, -1 error (errno), IO_TIMEOUT. MSG_NOSIGNAL: a peer that closed
 * gets EPIPE here, never SIGPIPE in the VM. */
static int send_all(probe_t *p, const void *data, size_t len, uint64_t deadline)
{
    const unsigned char *b = data;

    while (len > 0) {
        ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(p->fd, POLLOUT, deadline);
            if (w == 0)
                return IO_TIMEOUT;
            if (w < 0)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

/* >0 bytes, 0 orderly close, -1 error (errno), IO_TIMEOUT. */
static ssize_t recv_some(probe_t *p, void *buf, size_t cap, uint64_t deadline)
{
    for (;;) {
        ssize_t n = recv(p->fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(p->fd, POLLIN, deadline);
            if (w == 0)
                return IO_TIMEOUT;
            if (w < 0)
                return -1;
            continue;
        }
        return -1;
    }
}

/* ---- the result ---------------------------------------------------------------- */

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

/* Peer bytes for a detail line: printable ASCII as is, the rest \xNN. */
static const char *esc(const void *data, size_t len, char *out, size_t cap)
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

int s2s_trust_probe_domain_ok(const char *d)
{
    size_t n = d ? strlen(d) : 0;

    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_'))
            return 0;
    }
    return 1;
}

static const char *io_error(int rc, char *buf, size_t cap)
{
    if (rc == IO_TIMEOUT)
        return "timeout";
    snprintf(buf, cap, "%s", strerror(errno));
    return buf;
}

/* ---- connect --------------------------------------------------------------------- */

static s2s_trust_probe_status_t do_connect(probe_t *p)
{
    const s2s_trust_probe_request_t *req = p->req;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char port[8];
    int rc, soerr = 0;
    socklen_t soerr_len = sizeof soerr;
    uint64_t deadline = min_u64(p->t0 + p->connect_ms, p->total_deadline);

    p->res->stage = "connect";
    snprintf(port, sizeof port, "%u", (unsigned)req->port);
    /* AI_NUMERICHOST: a literal or nothing, never a DNS lookup. */
    if (getaddrinfo(req->address, port, &hints, &ai) != 0 || ai == NULL) {
        char b[80];
        if (ai != NULL)
            freeaddrinfo(ai);
        return end(p, S2S_TRUST_PROBE_BAD_ADDRESS, "'%s' is not a numeric IPv4 or IPv6 address",
                   esc(req->address, strlen(req->address), b, sizeof b));
    }
    p->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        freeaddrinfo(ai);
        return end(p, S2S_TRUST_PROBE_INTERNAL, "socket: %s", strerror(errno));
    }
    rc = connect(p->fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0 && errno != EINPROGRESS)
        return end(p, S2S_TRUST_PROBE_CONNECT_FAILED, "connect: %s", strerror(errno));
    if (rc != 0) {
        rc = wait_fd(p->fd, POLLOUT, deadline);
        if (rc == 0)
            return end(p, S2S_TRUST_PROBE_TIMEOUT, "no TCP connection within %u ms",
                       (unsigned)(deadline - p->t0));
        if (rc < 0)
            return end(p, S2S_TRUST_PROBE_INTERNAL, "poll: %s", strerror(errno));
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0)
            soerr = errno;
        if (soerr != 0)
            return end(p, S2S_TRUST_PROBE_CONNECT_FAILED, "connect: %s", strerror(soerr));
    }
    return S2S_TRUST_PROBE_OK;
}

/* ---- stream and STARTTLS ------------------------------------------------------------ */

static s2s_trust_probe_status_t stream_event(probe_t *p, s2s_trust_xs_t *xs, s2s_trust_xs_event_t ev,
                                             size_t left, int *proceed)
{
    s2s_trust_probe_result_t *r = p->res;
    char b1[120], b2[120];
    int rc;

    switch (ev) {
    case S2S_TRUST_XS_NEED_MORE:
        return S2S_TRUST_PROBE_OK;
    case S2S_TRUST_XS_HEADER:
        /* RFC 6120 4.7.5: without version='1.0' there are no stream
         * features, so no STARTTLS will ever be offered. */
        if (strncmp(xs->header_version, "1.", 2) != 0)
            return end(p, S2S_TRUST_PROBE_NO_STARTTLS,
                       "the server's stream has version '%s', not 1.0: no stream features, no STARTTLS",
                       esc(xs->header_version, strlen(xs->header_version), b1, sizeof b1));
        r->stage = "features";
        return S2S_TRUST_PROBE_OK;
    case S2S_TRUST_XS_FEATURES:
        if (r->starttls_offered || strcmp(r->stage, "features") != 0)
            return end(p, S2S_TRUST_PROBE_PROTOCOL, "unexpected second <stream:features/>");
        r->starttls_offered = xs->starttls;
        r->starttls_required = xs->starttls_required;
        if (!xs->starttls) {
            static const char close_stream[] = "</stream:stream>";
            (void)send_all(p, close_stream, sizeof close_stream - 1, p->total_deadline); /* courtesy */
            return end(p, S2S_TRUST_PROBE_NO_STARTTLS, "the server's stream features do not offer STARTTLS%s%s",
                       xs->dialback ? " (it offers dialback" : "",
                       xs->dialback ? (xs->sasl_external ? " and SASL EXTERNAL)" : ")")
                                    : (xs->sasl_external ? " (it offers SASL EXTERNAL)" : ""));
        }
        {
            static const char starttls[] = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
            r->stage = "starttls";
            rc = send_all(p, starttls, sizeof starttls - 1, p->total_deadline);
            if (rc == IO_TIMEOUT)
                return end(p, S2S_TRUST_PROBE_TIMEOUT, "could not send <starttls/> within %u ms", p->total_ms);
            if (rc != 0)
                return end(p, S2S_TRUST_PROBE_CLOSED, "sending <starttls/>: %s", strerror(errno));
        }
        return S2S_TRUST_PROBE_OK;
    case S2S_TRUST_XS_PROCEED:
        if (strcmp(r->stage, "starttls") != 0)
            return end(p, S2S_TRUST_PROBE_PROTOCOL, "<proceed/> before we asked for STARTTLS");
        /* The server must not speak before our ClientHello; bytes here were
         * written before TLS and would be read as if they came through it
         * (the STARTTLS command-injection pattern). */
        if (left > 0)
            return end(p, S2S_TRUST_PROBE_PROTOCOL, "%zu byte(s) after <proceed/> before the TLS handshake", left);
        *proceed = 1;
        return S2S_TRUST_PROBE_OK;
    case S2S_TRUST_XS_FAILURE:
        return end(p, S2S_TRUST_PROBE_PROTOCOL, "the server refused STARTTLS with <failure/>");
    case S2S_TRUST_XS_STREAM_ERROR:
        return end(p, S2S_TRUST_PROBE_PROTOCOL, "stream error: %s%s%s",
                   xs->error_condition[0] ? esc(xs->error_condition, strlen(xs->error_condition), b1, sizeof b1)
                                          : "(no condition)",
                   xs->error_text[0] ? ": " : "", esc(xs->error_text, strlen(xs->error_text), b2, sizeof b2));
    case S2S_TRUST_XS_STREAM_END:
        return end(p, S2S_TRUST_PROBE_CLOSED, "the server closed the stream (</stream:stream>)");
    case S2S_TRUST_XS_TOO_LARGE:
        return end(p, S2S_TRUST_PROBE_TOO_LARGE, "%s", xs->detail);
    case S2S_TRUST_XS_BAD:
    default:
        return end(p, S2S_TRUST_PROBE_PROTOCOL, "%s", xs->detail);
    }
}

static s2s_trust_probe_status_t do_starttls(probe_t *p)
{
    const s2s_trust_probe_request_t *req = p->req;
    s2s_trust_probe_result_t *r = p->res;
    s2s_trust_xs_t *xs = malloc(sizeof *xs);
    unsigned char buf[RECV_CHUNK];
    char header[768];
    unsigned char first[16]; /* the server's first bytes, for the detail */
    size_t first_len = 0;
    int proceed = 0, first_byte = -1, rc;
    s2s_trust_probe_status_t st = S2S_TRUST_PROBE_OK;

    r->stage = "stream";
    if (xs == NULL)
        return end(p, S2S_TRUST_PROBE_INTERNAL, "out of memory");
    s2s_trust_xs_init(xs, S2S_TRUST_PROBE_MAX_PRETLS_BYTES);
    snprintf(header, sizeof header,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
             "xmlns:stream='http://etherx.jabber.org/streams' to='%s'%s%s%s version='1.0'>",
             req->domain, req->from && req->from[0] ? " from='" : "", req->from && req->from[0] ? req->from : "",
             req->from && req->from[0] ? "'" : "");
    rc = send_all(p, header, strlen(header), p->total_deadline);
    if (rc == IO_TIMEOUT) {
        st = end(p, S2S_TRUST_PROBE_TIMEOUT, "could not send the stream header within %u ms", p->total_ms);
        goto done;
    }
    if (rc != 0) {
        st = end(p, S2S_TRUST_PROBE_CONNECT_FAILED, "sending the stream header: %s", strerror(errno));
        goto done;
    }
    while (!proceed) {
        /* Read at most one byte past the bound: enough to know it was
         * exceeded, and nothing is read that the parser will not see. */
        size_t room = S2S_TRUST_PROBE_MAX_PRETLS_BYTES + 1 - xs->fed;
        ssize_t n = recv_some(p, buf, room < sizeof buf ? room : sizeof buf, p->total_deadline);
        size_t off = 0;

        if (n == IO_TIMEOUT) {
            st = end(p, S2S_TRUST_PROBE_TIMEOUT, "%s within %u ms",
                     strcmp(r->stage, "stream") == 0     ? "no stream header from the server"
                     : strcmp(r->stage, "features") == 0 ? "no stream features from the server"
                                                         : "no answer to <starttls/>",
                     p->total_ms);
            goto done;
        }
        if (n == 0) {
            st = end(p, S2S_TRUST_PROBE_CLOSED, "the server closed the connection %s",
                     strcmp(r->stage, "stream") == 0     ? "before its stream header"
                     : strcmp(r->stage, "features") == 0 ? "before its stream features"
                                                         : "instead of answering <starttls/>");
            goto done;
        }
        if (n < 0) {
            /* A reset before the server said anything is a failed
             * connection (the header's contract), later an early close. */
            st = end(p, xs->fed == 0 ? S2S_TRUST_PROBE_CONNECT_FAILED : S2S_TRUST_PROBE_CLOSED,
                     "reading from the server: %s", strerror(errno));
            goto done;
        }
        if (first_byte < 0)
            first_byte = buf[0];
        if (first_len < sizeof first) {
            size_t take = sizeof first - first_len < (size_t)n ? sizeof first - first_len : (size_t)n;
            memcpy(first + first_len, buf, take);
            first_len += take;
        }
        while (off < (size_t)n && !proceed) {
            size_t used = 0;
            s2s_trust_xs_event_t ev = s2s_trust_xs_feed(xs, buf + off, (size_t)n - off, &used);
            off += used;
            st = stream_event(p, xs, ev, (size_t)n - off, &proceed);
            if (st != S2S_TRUST_PROBE_OK)
                goto done;
            if (ev == S2S_TRUST_XS_NEED_MORE && used == 0)
                break; /* cannot happen: NEED_MORE consumes everything */
        }
    }
done:
    /* A TLS record where XML should be: a record header starts 0x15 (alert)
     * or 0x16 (handshake). Say what the operator probably meant. Other
     * garbage right at the start: show how it began. */
    if (st == S2S_TRUST_PROBE_PROTOCOL && (first_byte == 0x15 || first_byte == 0x16)) {
        size_t used = strlen(r->detail);
        snprintf(r->detail + used, sizeof r->detail - used, "%s",
                 " - the server speaks TLS at once: a direct TLS (XEP-0368) port?");
    } else if (st == S2S_TRUST_PROBE_PROTOCOL && strcmp(r->stage, "stream") == 0 && first_len > 0) {
        size_t used = strlen(r->detail);
        char b[80];
        snprintf(r->detail + used, sizeof r->detail - used, "; it began '%s'", esc(first, first_len, b, sizeof b));
    }
    free(xs);
    return st;
}

/* ---- TLS ---------------------------------------------------------------------------- */

/* Whatever OpenSSL queued for the wire goes out now. */
static int flush_wbio(probe_t *p, BIO *wbio, uint64_t deadline)
{
    unsigned char out[RECV_CHUNK];
    int n;

    while ((n = BIO_read(wbio, out, sizeof out)) > 0) {
        int rc = send_all(p, out, (size_t)n, deadline);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The first reason OpenSSL queued (the most specific one), then empty the
 * queue: it is thread-local and shared with fast_tls and crypto. */
static void take_openssl_reason(char *out, size_t cap)
{
    unsigned long code = ERR_peek_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;

    if (reason != NULL)
        snprintf(out, cap, "%s", reason);
    else if (code != 0)
        snprintf(out, cap, "OpenSSL error 0x%lx", code);
    else
        snprintf(out, cap, "no reason given");
    ERR_clear_error();
}

static void hint_from_first_bytes(probe_t *p)
{
    s2s_trust_probe_result_t *r = p->res;
    size_t used = strlen(r->detail);
    char b[64];

    if (p->first_len == 0)
        return;
    if (p->first[0] == '<')
        snprintf(r->detail + used, sizeof r->detail - used,
                 "; the server answered with XML ('%s'): a STARTTLS port, not direct TLS?",
                 esc(p->first, p->first_len, b, sizeof b));
    else if (p->first[0] != 0x15 && p->first[0] != 0x16 && p->first[0] != 0x14 && p->first[0] != 0x17)
        snprintf(r->detail + used, sizeof r->detail - used, "; the server sent '%s' (not TLS)",
                 esc(p->first, p->first_len, b, sizeof b));
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
    esc(alpn, alpn_len, r->alpn, sizeof r->alpn);

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
    s2s_trust_probe_result_t *r = p->res;
    uint64_t deadline = min_u64(now_ms() + p->handshake_ms, p->total_deadline);
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    BIO *rbio = NULL, *wbio = NULL;
    unsigned char buf[RECV_CHUNK];
    char reason[160];
    s2s_trust_probe_status_t st;

    r->stage = "tls";
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        st = end(p, S2S_TRUST_PROBE_INTERNAL, "SSL_CTX_new failed");
        goto done;
    }
    /* The probe captures, s2s_trust_verify judges (at the store's own
     * security level). At OpenSSL's default level 2 a server whose chain
     * has an RSA-1024 key or a SHA-1 signature would fail the handshake
     * even with SSL_VERIFY_NONE, and the operator would learn "handshake
     * failure" instead of "weak_crypto". Nothing secret crosses this
     * connection, so level 0 costs nothing. */
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    ssl = SSL_new(ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        st = end(p, S2S_TRUST_PROBE_INTERNAL, "out of memory");
        goto done;
    }
    BIO_set_mem_eof_return(rbio, -1); /* empty = "want read", not EOF */
    SSL_set_bio(ssl, rbio, wbio);     /* ssl owns both now */
    SSL_set_connect_state(ssl);
    if (SSL_set_tlsext_host_name(ssl, p->req->domain) != 1 || SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1) != 0) {
        st = end(p, S2S_TRUST_PROBE_INTERNAL, "cannot set SNI or ALPN");
        goto done;
    }

    for (;;) {
        int rc, err, io;
        ssize_t n;

        ERR_clear_error();
        rc = SSL_do_handshake(ssl);
        err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, rc);
        /* Our alert, if the handshake failed, still goes out: best effort. */
        io = flush_wbio(p, wbio, deadline);
        if (rc == 1 && io == 0)
            break;
        if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ) {
            take_openssl_reason(reason, sizeof reason);
            st = end(p, S2S_TRUST_PROBE_TLS_FAILED, "TLS handshake failed: %s", reason);
            hint_from_first_bytes(p);
            goto done;
        }
        if (io == IO_TIMEOUT) {
            st = end(p, S2S_TRUST_PROBE_TIMEOUT, "TLS handshake not done within %u ms", p->handshake_ms);
            goto done;
        }
        if (io != 0) {
            st = end(p, S2S_TRUST_PROBE_CLOSED, "the connection broke during the TLS handshake: %s", strerror(errno));
            goto done;
        }
        if (rc == 1)
            break;
        n = recv_some(p, buf, sizeof buf, deadline);
        if (n == IO_TIMEOUT) {
            st = end(p, S2S_TRUST_PROBE_TIMEOUT, "TLS handshake not done within %u ms", p->handshake_ms);
            goto done;
        }
        if (n <= 0) {
            char e[80];
            st = end(p, n < 0 && p->first_len == 0 && p->req->mode == S2S_TRUST_PROBE_DIRECT_TLS
                            ? S2S_TRUST_PROBE_CONNECT_FAILED
                            : S2S_TRUST_PROBE_CLOSED,
                     "the server %s during the TLS handshake",
                     n == 0 ? "closed the connection" : io_error((int)n, e, sizeof e));
            hint_from_first_bytes(p);
            goto done;
        }
        if (p->first_len < sizeof p->first) {
            size_t take = sizeof p->first - p->first_len < (size_t)n ? sizeof p->first - p->first_len : (size_t)n;
            memcpy(p->first + p->first_len, buf, take);
            p->first_len += take;
        }
        if (BIO_write(rbio, buf, (int)n) != (int)n) {
            st = end(p, S2S_TRUST_PROBE_INTERNAL, "out of memory");
            goto done;
        }
    }
    st = capture(p, ssl);
    if (st == S2S_TRUST_PROBE_OK) {
        r->stage = "done";
        /* close_notify, best effort and bounded: nothing waits for the reply. */
        ERR_clear_error();
        (void)SSL_shutdown(ssl);
        (void)flush_wbio(p, wbio, min_u64(now_ms() + 200, p->total_deadline));
    }
done:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return st;
}

/* ---- the whole probe ------------------------------------------------------------------ */

s2s_trust_probe_status_t s2s_trust_probe_run(const s2s_trust_probe_request_t *req,
                                             s2s_trust_probe_result_t *result)
{
    probe_t p = { .req = req, .res = result, .fd = -1 };
    s2s_trust_probe_status_t st;

    memset(result, 0, sizeof *result);
    result->stage = "connect";
    ERR_clear_error();
    p.t0 = now_ms();
    p.total_ms = req->total_ms ? req->total_ms : S2S_TRUST_PROBE_TOTAL_MS_DEFAULT;
    if (p.total_ms > S2S_TRUST_PROBE_TOTAL_MS_MAX)
        p.total_ms = S2S_TRUST_PROBE_TOTAL_MS_MAX;
    p.connect_ms = req->connect_ms ? req->connect_ms : S2S_TRUST_PROBE_CONNECT_MS_DEFAULT;
    p.handshake_ms = req->handshake_ms ? req->handshake_ms : S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT;
    p.total_deadline = p.t0 + p.total_ms;

    if (req->address == NULL) {
        st = end(&p, S2S_TRUST_PROBE_BAD_ADDRESS, "no address");
        goto done;
    }
    if (!s2s_trust_probe_domain_ok(req->domain) || (req->from && req->from[0] && !s2s_trust_probe_domain_ok(req->from))) {
        st = end(&p, S2S_TRUST_PROBE_BAD_ADDRESS, "the %s is not a domain in A-label form",
                 s2s_trust_probe_domain_ok(req->domain) ? "from domain" : "domain");
        goto done;
    }
    if (req->port == 0 || (req->mode != S2S_TRUST_PROBE_STARTTLS && req->mode != S2S_TRUST_PROBE_DIRECT_TLS)) {
        st = end(&p, S2S_TRUST_PROBE_BAD_ADDRESS, req->port == 0 ? "port 0" : "unknown mode");
        goto done;
    }
    st = do_connect(&p);
    if (st == S2S_TRUST_PROBE_OK && req->mode == S2S_TRUST_PROBE_STARTTLS)
        st = do_starttls(&p);
    if (st == S2S_TRUST_PROBE_OK) {
        result->elapsed_ms = (unsigned)(now_ms() - p.t0);
        st = do_tls(&p);
    }
done:
    if (p.fd >= 0)
        close(p.fd);
    if (st != S2S_TRUST_PROBE_OK)
        s2s_trust_probe_result_free(result);
    result->status = st;
    result->elapsed_ms = (unsigned)(now_ms() - p.t0);
    ERR_clear_error();
    return st;
}
