/*
 * s2s_trust_probe.h - open an XMPP s2s stream to one address and capture the
 * certificate chain the server presents.
 *
 * Why: ejabberd hands us only a peer's leaf (fast_tls keeps the rest), so a
 * leaf from an intermediate we have never seen cannot be validated. The probe
 * connects where ejabberd itself would connect for that domain and asks the
 * server for its whole chain, exactly as a federating server would: a
 * jabber:server stream with STARTTLS, or XEP-0368 direct TLS, with SNI = the
 * domain and ALPN "xmpp-server".
 *
 * The peer is hostile until proven otherwise: every phase has a deadline
 * (connect, handshake, total), every read is bounded, and whatever the peer
 * does - stall, send garbage, close mid-handshake, send a 1 GB stream header -
 * ends as a status value, never a hang or a crash. The probe does NOT judge
 * the chain: that is s2s_trust_verify's job. It only reports what it saw.
 *
 * Blocking: one call blocks the calling thread for at most total_ms (plus
 * scheduling noise). From the VM, run it on a dirty I/O scheduler.
 * Thread-safe: no global state beyond OpenSSL's own.
 */
#ifndef S2S_TRUST_PROBE_H
#define S2S_TRUST_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_verify.h" /* s2s_trust_der_t */
#include "net/s2s_trust_conn.h"    /* s2s_trust_tls_mode_t */


typedef enum {
    S2S_TRUST_PROBE_OK = 0,           /* TLS established, chain captured */
    S2S_TRUST_PROBE_BAD_ADDRESS,      /* the address is not a numeric IPv4/IPv6 literal (or the
                                         request is unusable: port 0, unknown mode, a domain or
                                         from that is not an A-label DNS name) */
    S2S_TRUST_PROBE_CONNECT_FAILED,   /* refused, unreachable, reset before the stream */
    S2S_TRUST_PROBE_TIMEOUT,          /* a deadline passed; `stage` says in which phase */
    S2S_TRUST_PROBE_CLOSED,           /* the peer closed the connection early */
    S2S_TRUST_PROBE_PROTOCOL,         /* not an XMPP s2s stream: garbage, bad XML, stream error */
    S2S_TRUST_PROBE_NO_STARTTLS,      /* the server does not offer STARTTLS */
    S2S_TRUST_PROBE_TOO_LARGE,        /* the peer sent more than the read bound allows */
    S2S_TRUST_PROBE_TLS_FAILED,       /* the TLS handshake failed */
    S2S_TRUST_PROBE_NO_CERTIFICATE,   /* TLS up, but the server presented no certificate */
    S2S_TRUST_PROBE_INTERNAL,         /* out of memory or an OpenSSL setup failure on our side */
    S2S_TRUST_PROBE_STATUS_COUNT
} s2s_trust_probe_status_t;

/* Limits the caller may lower; 0 means the default below. */
#define S2S_TRUST_PROBE_CONNECT_MS_DEFAULT 5000
#define S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT 5000
#define S2S_TRUST_PROBE_TOTAL_MS_DEFAULT 10000
#define S2S_TRUST_PROBE_TOTAL_MS_MAX 60000
/* Certificates kept from the peer's chain; more is S2S_TRUST_PROBE_TOO_LARGE. */
#define S2S_TRUST_PROBE_MAX_CHAIN 16

typedef struct {
    const char *domain;   /* the peer's XMPP domain: stream 'to', SNI (A-label form) */
    const char *from;     /* our domain for the stream 'from'; NULL or "" to omit */
    const char *address;  /* numeric IPv4 or IPv6 literal to connect to */
    uint16_t port;
    s2s_trust_tls_mode_t mode;
    unsigned connect_ms;   /* TCP connect deadline */
    unsigned handshake_ms; /* TLS handshake deadline, from the first TLS byte */
    unsigned total_ms;     /* whole probe deadline, capped at S2S_TRUST_PROBE_TOTAL_MS_MAX */
} s2s_trust_probe_request_t;

typedef struct {
    s2s_trust_probe_status_t status;
    const char *stage;   /* static: "connect", "stream", "features", "starttls",
                            "tls", "done" - where the probe was when it ended */
    char detail[256];    /* one line for the operator; peer bytes in it are escaped */
    s2s_trust_der_t *chain; /* what the server sent, in its order (leaf first);
                               each data owned by the result */
    size_t chain_count;
    char tls_version[16]; /* e.g. "TLSv1.3", "" before TLS */
    char cipher[64];
    char alpn[32];        /* what the server selected, "" if none */
    int starttls_offered; /* 1 if the features offered <starttls/>, 0 otherwise */
    int starttls_required;/* 1 if <required/> was inside it */
    unsigned elapsed_ms;
} s2s_trust_probe_result_t;

/* Run one probe. Always fills `result` (free it with _result_free, also on
 * failure); returns result->status. */
s2s_trust_probe_status_t s2s_trust_probe_run(const s2s_trust_probe_request_t *req,
                                             s2s_trust_probe_result_t *result);
void s2s_trust_probe_result_free(s2s_trust_probe_result_t *result);

/* "ok", "bad_address", "connect_failed", "timeout", ... (snake_case, static). */
const char *s2s_trust_probe_status_name(s2s_trust_probe_status_t status);

#endif
