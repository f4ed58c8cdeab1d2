/* s2s_trust_conn.c - see s2s_trust_conn.h */
#include "net/s2s_trust_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

/* A wait in slices this long when another thread may raise the stop flag. */
#define STOP_POLL_MS 100

static const char *const io_names[] = {
    [S2S_TRUST_IO_OK] = "ok",
    [S2S_TRUST_IO_TIMEOUT] = "timeout",
    [S2S_TRUST_IO_STOPPED] = "stopped",
    [S2S_TRUST_IO_CLOSED] = "closed",
    [S2S_TRUST_IO_FAILED] = "failed",
    [S2S_TRUST_IO_TLS_FAILED] = "tls_failed",
    [S2S_TRUST_IO_BAD_ADDRESS] = "bad_address",
    [S2S_TRUST_IO_INTERNAL] = "internal",
};

const char *s2s_trust_io_name(s2s_trust_io_t io)
{
    return (unsigned)io < sizeof io_names / sizeof io_names[0] ? io_names[io] : "unknown";
}

uint64_t s2s_trust_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void s2s_trust_conn_init(s2s_trust_conn_t *c, uint64_t deadline, const int *stop)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->deadline = deadline;
    c->stop = stop;
}

void s2s_trust_conn_adopt(s2s_trust_conn_t *c, int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0)
        (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    c->fd = fd;
}

static s2s_trust_io_t fail(s2s_trust_conn_t *c, s2s_trust_io_t io, const char *what, int err)
{
    snprintf(c->err, sizeof c->err, "%s: %s", what, strerror(err));
    return io;
}

/* The first reason OpenSSL queued (the most specific one), then empty the
 * queue: it is thread-local and, inside the VM, shared with fast_tls and crypto. */
static s2s_trust_io_t tls_fail(s2s_trust_conn_t *c, s2s_trust_io_t io)
{
    unsigned long code = ERR_peek_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;

    if (reason != NULL)
        snprintf(c->err, sizeof c->err, "%s", reason);
    else if (code != 0)
        snprintf(c->err, sizeof c->err, "OpenSSL error 0x%lx", code);
    else
        snprintf(c->err, sizeof c->err, "no reason given");
    ERR_clear_error();
    return io;
}

static int stopped(const s2s_trust_conn_t *c)
{
    return c->stop != NULL && __atomic_load_n(c->stop, __ATOMIC_ACQUIRE);
}

/* Wait until the socket is ready for `events`. */
static s2s_trust_io_t wait_ready(s2s_trust_conn_t *c, short events)
{
    for (;;) {
        uint64_t now = s2s_trust_now_ms();
        struct pollfd pfd = { .fd = c->fd, .events = events };
        uint64_t slice;
        int rc;

        if (stopped(c))
            return S2S_TRUST_IO_STOPPED;
        if (now >= c->deadline)
            return S2S_TRUST_IO_TIMEOUT;
        slice = c->deadline - now;
        if (slice > (c->stop != NULL ? STOP_POLL_MS : 60000))
            slice = c->stop != NULL ? STOP_POLL_MS : 60000;
        rc = poll(&pfd, 1, (int)slice);
        if (rc > 0)
            return S2S_TRUST_IO_OK;
        if (rc < 0 && errno != EINTR)
            return fail(c, S2S_TRUST_IO_INTERNAL, "poll", errno);
    }
}

s2s_trust_io_t s2s_trust_conn_connect(s2s_trust_conn_t *c, const char *address, uint16_t port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char service[8];
    int rc, soerr = 0;
    socklen_t soerr_len = sizeof soerr;
    s2s_trust_io_t io;

    snprintf(service, sizeof service, "%u", (unsigned)port);
    /* AI_NUMERICHOST: a literal or nothing, never a DNS lookup. */
    if (address == NULL || getaddrinfo(address, service, &hints, &ai) != 0 || ai == NULL) {
        if (ai != NULL)
            freeaddrinfo(ai);
        snprintf(c->err, sizeof c->err, "not a numeric IPv4 or IPv6 address");
        return S2S_TRUST_IO_BAD_ADDRESS;
    }
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        freeaddrinfo(ai);
        return fail(c, S2S_TRUST_IO_INTERNAL, "socket", errno);
    }
    rc = connect(c->fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc == 0)
        return S2S_TRUST_IO_OK;
    if (errno != EINPROGRESS)
        return fail(c, S2S_TRUST_IO_FAILED, "connect", errno);
    io = wait_ready(c, POLLOUT);
    if (io != S2S_TRUST_IO_OK)
        return io;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0)
        soerr = errno;
    return soerr != 0 ? fail(c, S2S_TRUST_IO_FAILED, "connect", soerr) : S2S_TRUST_IO_OK;
}

/* MSG_NOSIGNAL: a peer that closed gets EPIPE here, never SIGPIPE. */
static s2s_trust_io_t raw_send(s2s_trust_conn_t *c, const unsigned char *b, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, b, len, MSG_NOSIGNAL);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s2s_trust_io_t io = wait_ready(c, POLLOUT);
            if (io != S2S_TRUST_IO_OK)
                return io;
        } else if (!(n < 0 && errno == EINTR)) {
            return fail(c, S2S_TRUST_IO_FAILED, "send", errno);
        }
    }
    return S2S_TRUST_IO_OK;
}

/* Some bytes into buf; *got > 0 on OK. */
static s2s_trust_io_t raw_recv(s2s_trust_conn_t *c, unsigned char *buf, size_t cap, size_t *got)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n > 0) {
            *got = (size_t)n;
            return S2S_TRUST_IO_OK;
        }
        if (n == 0) {
            snprintf(c->err, sizeof c->err, "the peer closed the connection");
            return S2S_TRUST_IO_CLOSED;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s2s_trust_io_t io = wait_ready(c, POLLIN);
            if (io != S2S_TRUST_IO_OK)
                return io;
        } else if (errno != EINTR) {
            return fail(c, S2S_TRUST_IO_FAILED, "recv", errno);
        }
    }
}

/* Whatever OpenSSL queued for the wire goes out now. */
static s2s_trust_io_t flush_wbio(s2s_trust_conn_t *c)
{
    unsigned char out[4096];
    int n;

    while ((n = BIO_read(c->wbio, out, sizeof out)) > 0) {
        s2s_trust_io_t io = raw_send(c, out, (size_t)n);
        if (io != S2S_TRUST_IO_OK)
            return io;
    }
    return S2S_TRUST_IO_OK;
}

/* More ciphertext from the socket into OpenSSL. */
static s2s_trust_io_t feed_rbio(s2s_trust_conn_t *c)
{
    unsigned char raw[4096];
    size_t n = 0;
    s2s_trust_io_t io = raw_recv(c, raw, sizeof raw, &n);

    if (io != S2S_TRUST_IO_OK)
        return io;
    if (c->tls_first_len < sizeof c->tls_first) {
        size_t take = sizeof c->tls_first - c->tls_first_len < n ? sizeof c->tls_first - c->tls_first_len : n;
        memcpy(c->tls_first + c->tls_first_len, raw, take);
        c->tls_first_len += take;
    }
    if (BIO_write(c->rbio, raw, (int)n) != (int)n) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return S2S_TRUST_IO_INTERNAL;
    }
    return S2S_TRUST_IO_OK;
}

s2s_trust_io_t s2s_trust_conn_send(s2s_trust_conn_t *c, const void *data, size_t len)
{
    if (c->ssl == NULL)
        return raw_send(c, data, len);
    ERR_clear_error();
    if (len > 0 && SSL_write(c->ssl, data, (int)len) != (int)len)
        return tls_fail(c, S2S_TRUST_IO_TLS_FAILED);
    return flush_wbio(c);
}

s2s_trust_io_t s2s_trust_conn_send_str(s2s_trust_conn_t *c, const char *s)
{
    return s2s_trust_conn_send(c, s, strlen(s));
}

s2s_trust_io_t s2s_trust_conn_fill(s2s_trust_conn_t *c)
{
    if (c->in_off < c->in_len)
        return S2S_TRUST_IO_OK;
    c->in_off = c->in_len = 0;
    if (c->ssl == NULL)
        return raw_recv(c, c->in, sizeof c->in, &c->in_len);
    for (;;) {
        int n, err;
        s2s_trust_io_t io;

        ERR_clear_error();
        n = SSL_read(c->ssl, c->in, (int)sizeof c->in);
        if (n > 0) {
            c->in_len = (size_t)n;
            return S2S_TRUST_IO_OK;
        }
        err = SSL_get_error(c->ssl, n);
        io = flush_wbio(c); /* e.g. a key update's reply */
        if (err == SSL_ERROR_ZERO_RETURN) {
            snprintf(c->err, sizeof c->err, "the peer closed TLS");
            return S2S_TRUST_IO_CLOSED;
        }
        if (err != SSL_ERROR_WANT_READ)
            return tls_fail(c, S2S_TRUST_IO_TLS_FAILED);
        if (io != S2S_TRUST_IO_OK)
            return io;
        io = feed_rbio(c);
        if (io != S2S_TRUST_IO_OK)
            return io;
    }
}

static s2s_trust_io_t tls_setup(s2s_trust_conn_t *c, const s2s_trust_tls_opts_t *o)
{
    c->ctx = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
    if (c->ctx == NULL || SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1)
        return tls_fail(c, S2S_TRUST_IO_INTERNAL);
    /* Nobody here judges the peer's certificate during the handshake: the
     * probe captures it for s2s_trust_verify (at the store's own security
     * level), the self-test's certificates are made to be refused. At
     * OpenSSL's default level 2 an RSA-1024 or SHA-1 chain would end the
     * handshake instead, and the operator would learn "handshake failure"
     * instead of "weak_crypto". Nothing secret crosses these connections. */
    SSL_CTX_set_security_level(c->ctx, 0);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
    if (o->cert != NULL &&
        (SSL_CTX_use_certificate(c->ctx, o->cert) != 1 || SSL_CTX_use_PrivateKey(c->ctx, o->key) != 1 ||
         (o->extra != NULL && SSL_CTX_add1_chain_cert(c->ctx, o->extra) != 1)))
        return tls_fail(c, S2S_TRUST_IO_INTERNAL);
    c->ssl = SSL_new(c->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        snprintf(c->err, sizeof c->err, "out of memory");
        return S2S_TRUST_IO_INTERNAL;
    }
    BIO_set_mem_eof_return(c->rbio, -1); /* empty = "want read", not EOF */
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    if (o->server) {
        SSL_set_accept_state(c->ssl);
        return S2S_TRUST_IO_OK;
    }
    SSL_set_connect_state(c->ssl);
    if ((o->sni != NULL && SSL_set_tlsext_host_name(c->ssl, o->sni) != 1) ||
        (o->alpn != NULL && SSL_set_alpn_protos(c->ssl, o->alpn, (unsigned)o->alpn_len) != 0)) {
        snprintf(c->err, sizeof c->err, "cannot set SNI or ALPN");
        return S2S_TRUST_IO_INTERNAL;
    }
    return S2S_TRUST_IO_OK;
}

s2s_trust_io_t s2s_trust_conn_start_tls(s2s_trust_conn_t *c, const s2s_trust_tls_opts_t *o)
{
    s2s_trust_io_t io;

    c->in_off = c->in_len = 0;
    ERR_clear_error();
    io = tls_setup(c, o);
    if (io != S2S_TRUST_IO_OK)
        return io;
    for (;;) {
        int rc, err;

        ERR_clear_error();
        rc = SSL_do_handshake(c->ssl);
        err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, rc);
        /* Our alert, if the handshake failed, still goes out: best effort. */
        io = flush_wbio(c);
        if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ)
            return tls_fail(c, S2S_TRUST_IO_TLS_FAILED);
        if (io != S2S_TRUST_IO_OK)
            return io;
        if (rc == 1)
            return S2S_TRUST_IO_OK;
        io = feed_rbio(c);
        if (io == S2S_TRUST_IO_CLOSED)
            snprintf(c->err, sizeof c->err, "the peer closed the connection during the TLS handshake");
        if (io != S2S_TRUST_IO_OK)
            return io;
    }
}

void s2s_trust_conn_close(s2s_trust_conn_t *c)
{
    if (c->ssl != NULL && c->fd >= 0) {
        uint64_t soon = s2s_trust_now_ms() + 100;
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl);
        if (soon < c->deadline)
            c->deadline = soon;
        (void)flush_wbio(c);
    }
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    c->ssl = NULL;
    c->ctx = NULL;
    c->rbio = c->wbio = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ERR_clear_error();
}
