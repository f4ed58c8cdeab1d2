/*
 * s2s_trust_dialback_server.h - play the authoritative server of a domain
 * for the self-test's dialback case (XEP-0220).
 *
 * A target that refuses SASL EXTERNAL may still accept a peer by calling
 * back the authoritative server of the peer's domain and asking whether a
 * key is valid. To see whether it does, the self-test runs that server: on
 * a listening socket the target reaches when it resolves `from`, each
 * back-connection gets a stream (STARTTLS offered, with the given
 * certificate), and every <db:verify/> or <db:result/> is answered
 * type='valid' - the answer a careless target needs to let the bad peer in.
 *
 * Runs in its own threads until the deadline or _finish; at most
 * S2S_TRUST_DB_MAX_CONNS back-connections, each bounded like every other
 * connection (s2s_trust_conn). The target's stream is read with
 * s2s_trust_xmpp_stream.
 */
#ifndef S2S_TRUST_DIALBACK_SERVER_H
#define S2S_TRUST_DIALBACK_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/s2s_trust_selftest_identity.h"

#define S2S_TRUST_DB_MAX_CONNS 4
/* The id of the ping the self-test sends as the peer: its answer travels to
 * `from`'s server, i.e. to us, when the target accepted the peer. */
#define S2S_TRUST_DB_PING_ID "s2s-trust-selftest-ping"

typedef struct s2s_trust_db_server s2s_trust_db_server_t;

typedef struct {
    int verify_seen;      /* the target called us back with <db:verify/> */
    char note[200];       /* the last thing that went wrong on a back-connection, "" if none */
} s2s_trust_db_report_t;

/* Serve back-connections on `lfd` (listening, blocking or not; not taken)
 * as `from` (A-label), presenting `id`, until `deadline`. NULL when out of
 * memory or no thread could be started. */
s2s_trust_db_server_t *s2s_trust_db_server_start(int lfd, const char *from, const s2s_trust_st_identity_t *id,
                                                 uint64_t deadline);

/* Raised once the answer to our ping has come back (a stop flag for
 * s2s_trust_conn); valid until _finish. */
const int *s2s_trust_db_server_pinged(const s2s_trust_db_server_t *s);

/* The type of that answer ("result", "error"), escaped into out. */
void s2s_trust_db_server_ping_type(s2s_trust_db_server_t *s, char *out, size_t cap);

/* Stop, wait for every thread, report and free. */
void s2s_trust_db_server_finish(s2s_trust_db_server_t *s, s2s_trust_db_report_t *report);

#endif
