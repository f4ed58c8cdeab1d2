/*
 * s2s_trust_conn.h - one TCP connection to or from a peer we do not trust,
 * with deadlines, optional TLS, and every failure a named status.
 *
 * The one connection layer of the project: the probe, the self-test and its
 * dialback server all talk to peers through it. Why it is shaped this way:
 * - every wait is bounded by one absolute deadline the caller owns (and may
 *   lower for a phase: the probe's connect and handshake limits), and may be
 *   cut short by a stop flag another thread raises (checked every 100 ms);
 * - OpenSSL runs over two memory BIOs that we fill from recv() and drain
 *   with send(MSG_NOSIGNAL): the deadlines stay ours (poll), and no write can
 *   raise SIGPIPE inside the Erlang VM, as a socket BIO's write() would;
 * - bytes received but not yet consumed stay in the connection (`in`), so a
 *   reader that stops exactly at an element (s2s_trust_xmpp_stream) leaves
 *   the rest for the next reader, or for the caller to notice (bytes after
 *   <proceed/> are an attack, not TLS).
 * No global state; one connection belongs to one thread at a time.
 */
#ifndef S2S_TRUST_CONN_H
#define S2S_TRUST_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

typedef enum {
    S2S_TRUST_TLS_MODE_STARTTLS = 0,   /* port 5269 style: stream, <starttls/>, <proceed/>, TLS */
    S2S_TRUST_TLS_MODE_DIRECT_TLS = 1, /* XEP-0368: TLS first, ALPN xmpp-server */
} s2s_trust_tls_mode_t;

typedef enum {
    S2S_TRUST_IO_OK = 0,
    S2S_TRUST_IO_TIMEOUT,     /* the deadline passed */
    S2S_TRUST_IO_STOPPED,     /* the stop flag was raised */
    S2S_TRUST_IO_CLOSED,      /* the peer closed the connection */
    S2S_TRUST_IO_FAILED,      /* a socket error: refused, reset, unreachable (err) */
    S2S_TRUST_IO_TLS_FAILED,  /* the TLS handshake or a TLS record failed (err) */
    S2S_TRUST_IO_BAD_ADDRESS, /* not a numeric IPv4 or IPv6 literal */
    S2S_TRUST_IO_INTERNAL,    /* out of memory, a socket or OpenSSL set-up failure (err) */
} s2s_trust_io_t;

/* How to run TLS on a connection. */
typedef struct {
    int server;                /* 1: accept a handshake (the dialback server); 0: start one */
    const char *sni;           /* client: the name to send, or NULL */
    const unsigned char *alpn; /* client: protocols in wire format, or NULL */
    size_t alpn_len;
    X509 *cert;                /* what to present (a server must), or NULL; not taken */
    EVP_PKEY *key;
    X509 *extra;               /* one certificate sent above `cert`, or NULL */
} s2s_trust_tls_opts_t;

typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;                     /* non-NULL once TLS was started */
    BIO *rbio, *wbio;             /* owned by ssl */
    uint64_t deadline;            /* absolute, on the s2s_trust_now_ms() clock */
    const int *stop;              /* raised atomically by another thread, or NULL */
    unsigned char in[4096];       /* received (plaintext) bytes not yet consumed */
    size_t in_off, in_len;
    unsigned char tls_first[16];  /* the first bytes the peer sent once TLS began: for hints */
    size_t tls_first_len;
    char err[200];                /* the last failure, one line (may quote the OS or OpenSSL) */
} s2s_trust_conn_t;

/* Milliseconds on a monotonic clock. */
uint64_t s2s_trust_now_ms(void);

/* An unconnected connection (fd -1) with its deadline and stop flag. */
void s2s_trust_conn_init(s2s_trust_conn_t *c, uint64_t deadline, const int *stop);

/* Connect to a numeric address (never a DNS lookup) before the deadline. */
s2s_trust_io_t s2s_trust_conn_connect(s2s_trust_conn_t *c, const char *address, uint16_t port);

/* Take over an accepted socket (made non-blocking here). */
void s2s_trust_conn_adopt(s2s_trust_conn_t *c, int fd);

/* Send all of data (through TLS once started). */
s2s_trust_io_t s2s_trust_conn_send(s2s_trust_conn_t *c, const void *data, size_t len);
s2s_trust_io_t s2s_trust_conn_send_str(s2s_trust_conn_t *c, const char *s);

/* Make sure unconsumed bytes are in c->in[c->in_off .. c->in_len): returns
 * OK at once if some are, otherwise waits for more. */
s2s_trust_io_t s2s_trust_conn_fill(s2s_trust_conn_t *c);

/* Run the TLS handshake (client or server, as o says) before the deadline.
 * Plaintext bytes still unconsumed in c->in came before TLS: the caller
 * decides what they mean before starting it (they are dropped here). */
s2s_trust_io_t s2s_trust_conn_start_tls(s2s_trust_conn_t *c, const s2s_trust_tls_opts_t *o);

/* Send close_notify (best effort, at most 100 ms more) and close. Safe on
 * an unconnected or already closed connection. */
void s2s_trust_conn_close(s2s_trust_conn_t *c);

/* "ok", "timeout", "stopped", "closed", "failed", "tls_failed", ... (static). */
const char *s2s_trust_io_name(s2s_trust_io_t io);

#endif
