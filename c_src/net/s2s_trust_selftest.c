/* s2s_trust_selftest.c - see s2s_trust_selftest.h
 *
 * The peer scenarios. Everything below them is shared: the bad
 * certificates (s2s_trust_selftest_identity), the connection with its
 * deadlines and TLS (s2s_trust_conn), our stream header, STARTTLS and the
 * stream reader (s2s_trust_s2s_client, s2s_trust_xmpp_stream), and the
 * authoritative server the dialback case needs (s2s_trust_dialback_server).
 *
 * One case: connect, stream, STARTTLS, TLS with the bad client certificate,
 * post-TLS features, SASL EXTERNAL; then, when asked, a second stream that
 * tries dialback while the dialback server plays `from`'s server.
 */
#include "net/s2s_trust_selftest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "net/s2s_trust_conn.h"
#include "net/s2s_trust_dialback_server.h"
#include "net/s2s_trust_peer_text.h"
#include "net/s2s_trust_s2s_client.h"
#include "net/s2s_trust_xmpp_stream.h"

const char *s2s_trust_st_outcome_name(s2s_trust_st_outcome_t o)
{
    switch (o) {
    case S2S_TRUST_ST_REFUSED: return "refused";
    case S2S_TRUST_ST_ACCEPTED: return "accepted";
    default: return "inconclusive";
    }
}

typedef struct {
    const s2s_trust_st_request_t *req;
    s2s_trust_st_result_t *res;
    s2s_trust_conn_t c;
    s2s_trust_xs_t *xs;              /* the target's stream after TLS */
    s2s_trust_db_server_t *srv;      /* the dialback server, while dialback is tried */
} case_t;

/* Outcome helpers: fill outcome/how/detail of either the EXTERNAL part or the dialback part. */
typedef struct {
    s2s_trust_st_outcome_t outcome;
    const char *how;
    char detail[320];
} verdict_t;

static void set(verdict_t *v, s2s_trust_st_outcome_t o, const char *how, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set(verdict_t *v, s2s_trust_st_outcome_t o, const char *how, const char *fmt, ...)
{
    va_list ap;

    v->outcome = o;
    v->how = how;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
}

/* What an I/O end means after TLS: the target ended the conversation. */
static void io_end(case_t *k, verdict_t *v, s2s_trust_io_t io, const char *when)
{
    char b[120];

    if (io == S2S_TRUST_IO_TIMEOUT)
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "no answer %s before the deadline", when);
    else if (io == S2S_TRUST_IO_CLOSED)
        set(v, S2S_TRUST_ST_REFUSED, "stream_closed", "the target closed the connection %s", when);
    else
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "the connection ended with an error %s: %s", when,
            s2s_trust_escape_str(k->c.err, b, sizeof b));
}

/* A stream event that ends the exchange: stream error, </stream:stream>, bad XML. */
static void stream_end(case_t *k, verdict_t *v, s2s_trust_xs_event_t ev, const char *when)
{
    const s2s_trust_xs_element_t *el = s2s_trust_xs_element(k->xs);
    char b1[80], b2[160];

    if (ev == S2S_TRUST_XS_END) {
        set(v, S2S_TRUST_ST_REFUSED, "stream_closed", "the target closed the stream (</stream:stream>) %s", when);
    } else if (ev == S2S_TRUST_XS_ELEMENT && s2s_trust_xs_is(el, NS_XMPP_STREAMS, "error")) {
        snprintf(k->res->stream_error, sizeof k->res->stream_error, "%s", el->condition);
        set(v, S2S_TRUST_ST_REFUSED, "stream_error", "%s: stream error %s%s%s", when,
            el->condition[0] ? s2s_trust_escape_str(el->condition, b1, sizeof b1) : "(no condition)",
            el->error_text[0] ? ": " : "", s2s_trust_escape_str(el->error_text, b2, sizeof b2));
    } else {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "protocol", "unexpected data from the target %s: %s", when,
            s2s_trust_escape_str(ev == S2S_TRUST_XS_ELEMENT ? el->local : s2s_trust_xs_detail(k->xs), b2, sizeof b2));
    }
}

/* Before TLS: how the STARTTLS negotiation ended, when it did not proceed.
 * Nothing was presented yet, so nothing here is a refusal. */
static void negotiation_end(case_t *k, verdict_t *v, const s2s_trust_neg_result_t *n)
{
    const s2s_trust_xs_element_t *el = &n->element;
    char b1[200], b2[200];

    switch (n->outcome) {
    case S2S_TRUST_NEG_IO:
        if (n->io == S2S_TRUST_IO_TIMEOUT)
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "no STARTTLS exchange before the deadline");
        else if (n->sending)
            set(v, S2S_TRUST_ST_INCONCLUSIVE, strcmp(n->stage, "stream") == 0 ? "connect_failed" : "stream_closed",
                "sending %s: %s", strcmp(n->stage, "stream") == 0 ? "the stream header" : "<starttls/>",
                s2s_trust_escape_str(k->c.err, b1, sizeof b1));
        else
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "stream_closed",
                "the target closed the connection before TLS (no certificate was presented yet)");
        break;
    case S2S_TRUST_NEG_OLD_STREAM:
    case S2S_TRUST_NEG_NO_STARTTLS:
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "no_starttls",
            "the target does not offer STARTTLS%s: no certificate can be presented",
            n->outcome == S2S_TRUST_NEG_OLD_STREAM ? " (its stream has no version 1.0)"
            : n->features.dialback                ? " (it offers dialback over plain TCP)"
                                                  : "");
        break;
    case S2S_TRUST_NEG_STREAM_ERROR:
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "protocol",
            "stream error before TLS (no certificate was presented yet): %s%s%s",
            el->condition[0] ? s2s_trust_escape_str(el->condition, b1, sizeof b1) : "(no condition)",
            el->error_text[0] ? ": " : "", s2s_trust_escape_str(el->error_text, b2, sizeof b2));
        break;
    default:
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "protocol", "before TLS: %s: %s", s2s_trust_neg_name(n->outcome),
            s2s_trust_escape_str(n->detail, b1, sizeof b1));
        break;
    }
}

/* Connect, stream, STARTTLS, TLS with the bad certificate, the post-TLS
 * header and features. 0 with the features as the reader's element, or -1
 * with v set. */
static int open_stream(case_t *k, verdict_t *v)
{
    const s2s_trust_st_request_t *req = k->req;
    const s2s_trust_tls_opts_t tls = { .sni = req->target, .cert = req->identity->leaf, .key = req->identity->key,
                                       .extra = req->identity->extra };
    s2s_trust_neg_result_t *n = calloc(1, sizeof *n);
    char header[1024], b1[200];
    s2s_trust_io_t io;
    int rc = -1;

    if (n == NULL) {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "internal", "out of memory");
        return -1;
    }
    io = s2s_trust_conn_connect(&k->c, req->address, req->port);
    if (io != S2S_TRUST_IO_OK) {
        if (io == S2S_TRUST_IO_TIMEOUT)
            set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "no TCP connection before the deadline");
        else
            set(v, S2S_TRUST_ST_INCONCLUSIVE, io == S2S_TRUST_IO_INTERNAL ? "internal" : "connect_failed", "%s",
                k->c.err);
        goto out;
    }
    s2s_trust_s2s_header(header, sizeof header, req->from, req->target, NULL, 1);
    if (s2s_trust_s2s_negotiate_starttls(&k->c, header, n) != S2S_TRUST_NEG_PROCEED) {
        negotiation_end(k, v, n);
        goto out;
    }
    io = s2s_trust_conn_start_tls(&k->c, &tls);
    if (io == S2S_TRUST_IO_TIMEOUT) {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "timeout", "TLS handshake not done before the deadline");
        goto out;
    }
    if (io != S2S_TRUST_IO_OK) {
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "the TLS handshake failed: %s",
            s2s_trust_escape_str(k->c.err, b1, sizeof b1));
        goto out;
    }
    snprintf(k->res->tls_version, sizeof k->res->tls_version, "%s", SSL_get_version(k->c.ssl));
    if (s2s_trust_conn_send_str(&k->c, header) != S2S_TRUST_IO_OK) {
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "sending the stream header over TLS: %s",
            s2s_trust_escape_str(k->c.err, b1, sizeof b1));
        goto out;
    }
    s2s_trust_xs_free(k->xs);
    k->xs = s2s_trust_xs_new(S2S_TRUST_ST_MAX_STREAM_BYTES);
    if (k->xs == NULL) {
        set(v, S2S_TRUST_ST_INCONCLUSIVE, "internal", "out of memory");
        goto out;
    }
    for (;;) {
        s2s_trust_xs_event_t ev = S2S_TRUST_XS_NEED_MORE;
        io = s2s_trust_s2s_next(&k->c, k->xs, &ev);
        if (io != S2S_TRUST_IO_OK) {
            io_end(k, v, io, "after TLS, before its stream features");
            goto out;
        }
        if (ev == S2S_TRUST_XS_HEADER)
            continue;
        if (ev == S2S_TRUST_XS_ELEMENT && s2s_trust_xs_is(s2s_trust_xs_element(k->xs), NS_XMPP_STREAMS, "features"))
            break;
        stream_end(k, v, ev, "after TLS, before its stream features");
        goto out;
    }
    rc = 0;
out:
    free(n);
    return rc;
}

/* Read the target's answers until `decide` says one ends the exchange
 * (1), the stream ends, or the connection does. Elements `decide` passes
 * over (0: e.g. a ping first) are skipped; a stream error ends it. Returns
 * OK when v was set, or how the connection ended (v set too, except for
 * STOPPED: that one means what the caller's stop flag means). */
typedef int (*decide_fn)(case_t *k, verdict_t *v, const s2s_trust_xs_element_t *el);

static s2s_trust_io_t await(case_t *k, verdict_t *v, decide_fn decide, const char *when)
{
    for (;;) {
        s2s_trust_xs_event_t ev = S2S_TRUST_XS_NEED_MORE;
        s2s_trust_io_t io = s2s_trust_s2s_next(&k->c, k->xs, &ev);
        const s2s_trust_xs_element_t *el = s2s_trust_xs_element(k->xs);

        if (io != S2S_TRUST_IO_OK) {
            if (io != S2S_TRUST_IO_STOPPED)
                io_end(k, v, io, when);
            return io;
        }
        if (ev == S2S_TRUST_XS_ELEMENT && decide(k, v, el))
            return S2S_TRUST_IO_OK;
        if (ev == S2S_TRUST_XS_ELEMENT && !s2s_trust_xs_is(el, NS_XMPP_STREAMS, "error"))
            continue;
        stream_end(k, v, ev, when);
        return S2S_TRUST_IO_OK;
    }
}

static int decide_external(case_t *k, verdict_t *v, const s2s_trust_xs_element_t *el)
{
    char b1[80], b2[220];

    if (s2s_trust_xs_is(el, NS_XMPP_SASL, "success")) {
        set(v, S2S_TRUST_ST_ACCEPTED, "sasl_success", "the target answered <success/> to SASL EXTERNAL");
        return 1;
    }
    if (s2s_trust_xs_is(el, NS_XMPP_SASL, "failure")) {
        snprintf(k->res->sasl_condition, sizeof k->res->sasl_condition, "%s", el->condition);
        snprintf(k->res->sasl_text, sizeof k->res->sasl_text, "%.199s", el->error_text);
        set(v, S2S_TRUST_ST_REFUSED, "sasl_failure", "SASL EXTERNAL <failure/>: %s%s%s",
            el->condition[0] ? s2s_trust_escape_str(el->condition, b1, sizeof b1) : "(no condition)",
            el->error_text[0] ? ": " : "", s2s_trust_escape_str(el->error_text, b2, sizeof b2));
        return 1;
    }
    return 0;
}

static void try_external(case_t *k, verdict_t *v)
{
    s2s_trust_st_result_t *r = k->res;
    char auth[600], b64[400], b1[80];

    if (open_stream(k, v) != 0)
        return;
    r->external_offered = s2s_trust_xs_element(k->xs)->mech_external;
    r->dialback_offered = s2s_trust_xs_element(k->xs)->dialback;
    if (!r->external_offered) {
        set(v, S2S_TRUST_ST_REFUSED, "external_not_offered",
            "after TLS the target does not offer SASL EXTERNAL for this certificate%s",
            r->dialback_offered ? " (it offers dialback)" : "");
        return;
    }
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)k->req->from, (int)strlen(k->req->from));
    snprintf(auth, sizeof auth, "<auth xmlns='" NS_XMPP_SASL "' mechanism='EXTERNAL'>%s</auth>", b64);
    if (s2s_trust_conn_send_str(&k->c, auth) != S2S_TRUST_IO_OK) {
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "sending <auth/>: %s",
            s2s_trust_escape_str(k->c.err, b1, sizeof b1));
        return;
    }
    (void)await(k, v, decide_external, "after <auth mechanism='EXTERNAL'/>");
}

static int decide_ping(case_t *k, verdict_t *v, const s2s_trust_xs_element_t *el)
{
    char b1[80];

    (void)k;
    if (strcmp(el->local, "iq") != 0 || strcmp(el->id, S2S_TRUST_DB_PING_ID) != 0)
        return 0;
    set(v, S2S_TRUST_ST_ACCEPTED, "dialback_valid",
        "the target answered <db:result type='valid'/> and then a stanza from the peer (iq type='%s')",
        s2s_trust_escape_str(el->type, b1, sizeof b1));
    return 1;
}

/* <db:result type='valid'/> is not yet acceptance: a module may close the
 * stream right after it (mod_s2s_trust does, at s2s_in_auth_result). The
 * peer is accepted when the target answers a stanza from it. */
static void confirm_dialback(case_t *k, verdict_t *v)
{
    const s2s_trust_st_request_t *req = k->req;
    char msg[700], b1[80];
    s2s_trust_io_t io;

    snprintf(msg, sizeof msg, "<iq type='get' id='" S2S_TRUST_DB_PING_ID "' from='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>",
             req->from, req->target);
    k->c.stop = s2s_trust_db_server_pinged(k->srv); /* the answer comes back over the target's own stream to `from` */
    if (s2s_trust_conn_send_str(&k->c, msg) != S2S_TRUST_IO_OK) {
        set(v, S2S_TRUST_ST_REFUSED, "dialback_revoked",
            "the target answered <db:result type='valid'/>, then the connection failed: %s",
            s2s_trust_escape_str(k->c.err, b1, sizeof b1));
        return;
    }
    io = await(k, v, decide_ping, "after <db:result type='valid'/>");
    if (io == S2S_TRUST_IO_STOPPED) {
        char type[32];
        s2s_trust_db_server_ping_type(k->srv, type, sizeof type);
        set(v, S2S_TRUST_ST_ACCEPTED, "dialback_valid",
            "the target answered <db:result type='valid'/> and then a stanza from the peer (iq type='%s', sent "
            "to %s's server)", type, req->from);
    } else if (io == S2S_TRUST_IO_TIMEOUT) {
        set(v, S2S_TRUST_ST_ACCEPTED, "dialback_valid",
            "the target answered <db:result type='valid'/> and kept the stream open (no answer to a ping "
            "before the deadline)");
    } else if (io != S2S_TRUST_IO_OK || v->outcome == S2S_TRUST_ST_REFUSED) {
        v->how = "dialback_revoked";
    }
}

static int decide_dialback(case_t *k, verdict_t *v, const s2s_trust_xs_element_t *el)
{
    char b1[80], b2[220];

    if (!s2s_trust_xs_is(el, NS_XMPP_DIALBACK, "result"))
        return 0;
    if (strcmp(el->type, "valid") != 0)
        set(v, S2S_TRUST_ST_REFUSED, "dialback_invalid", "the target answered <db:result type='%s'/>%s%s",
            s2s_trust_escape_str(el->type, b1, sizeof b1), el->condition[0] ? " with " : "",
            s2s_trust_escape_str(el->condition, b2, sizeof b2));
    else
        confirm_dialback(k, v);
    return 1;
}

static void try_dialback(case_t *k, verdict_t *v)
{
    const s2s_trust_st_request_t *req = k->req;
    char msg[600], key[65], b1[80];

    if (open_stream(k, v) != 0)
        return;
    k->res->dialback_offered = k->res->dialback_offered || s2s_trust_xs_element(k->xs)->dialback;
    s2s_trust_random_hex(key, 32);
    snprintf(msg, sizeof msg, "<db:result from='%s' to='%s'>%s</db:result>", req->from, req->target, key);
    if (s2s_trust_conn_send_str(&k->c, msg) != S2S_TRUST_IO_OK) {
        set(v, S2S_TRUST_ST_REFUSED, "tls_refused", "sending <db:result/>: %s",
            s2s_trust_escape_str(k->c.err, b1, sizeof b1));
        return;
    }
    k->res->dialback_tested = 1;
    (void)await(k, v, decide_dialback, "after <db:result/>");
}

/* The dialback attempt, with the dialback server running meanwhile. */
static void run_dialback(case_t *k, verdict_t *db, unsigned total)
{
    const s2s_trust_st_request_t *req = k->req;
    uint64_t deadline = s2s_trust_now_ms() + total;
    s2s_trust_db_report_t report = { 0 };

    k->srv = s2s_trust_db_server_start(req->dialback_fd, req->from,
                                       req->dialback_identity ? req->dialback_identity : req->identity, deadline);
    if (k->srv == NULL) {
        set(db, S2S_TRUST_ST_INCONCLUSIVE, "internal", "cannot start the dialback server");
        return;
    }
    s2s_trust_conn_init(&k->c, deadline, NULL);
    try_dialback(k, db);
    s2s_trust_conn_close(&k->c);
    s2s_trust_db_server_finish(k->srv, &report);
    k->srv = NULL;
    k->res->verify_seen = report.verify_seen;
    if (db->how != NULL && strcmp(db->how, "timeout") == 0 && !report.verify_seen) {
        size_t u = strlen(db->detail);
        snprintf(db->detail + u, sizeof db->detail - u, "; the target never called back %.100s's server%s%.100s",
                 req->from, report.note[0] ? ": " : "", report.note);
    }
}

s2s_trust_st_outcome_t s2s_trust_st_run(const s2s_trust_st_request_t *req, s2s_trust_st_result_t *result)
{
    case_t k = { .req = req, .res = result };
    verdict_t ext = { 0 }, db = { 0 };
    unsigned total = req->total_ms ? req->total_ms : S2S_TRUST_ST_TOTAL_MS_DEFAULT;
    uint64_t t0 = s2s_trust_now_ms();
    int with_dialback = req->dialback_fd >= 0;

    memset(result, 0, sizeof *result);
    if (total > S2S_TRUST_ST_TOTAL_MS_MAX)
        total = S2S_TRUST_ST_TOTAL_MS_MAX;
    if (!s2s_trust_domain_ok(req->target) || !s2s_trust_domain_ok(req->from) || req->address == NULL ||
        req->port == 0 || req->identity == NULL || req->identity->leaf == NULL) {
        result->outcome = S2S_TRUST_ST_INCONCLUSIVE;
        result->how = "internal";
        snprintf(result->detail, sizeof result->detail, "unusable request (target, from, address or certificate)");
        return result->outcome;
    }
    ERR_clear_error();
    s2s_trust_conn_init(&k.c, t0 + total, NULL);
    try_external(&k, &ext);
    s2s_trust_conn_close(&k.c);
    if (with_dialback) {
        run_dialback(&k, &db, total);
        result->dialback_outcome = db.outcome;
        result->dialback_how = db.how;
        snprintf(result->dialback_detail, sizeof result->dialback_detail, "%s", db.detail);
    }
    s2s_trust_xs_free(k.xs);

    result->how = ext.how;
    result->external_outcome = ext.outcome;
    snprintf(result->detail, sizeof result->detail, "%s", ext.detail);
    if (ext.outcome == S2S_TRUST_ST_ACCEPTED || (with_dialback && db.outcome == S2S_TRUST_ST_ACCEPTED))
        result->outcome = S2S_TRUST_ST_ACCEPTED;
    else if (ext.outcome == S2S_TRUST_ST_INCONCLUSIVE || (with_dialback && db.outcome == S2S_TRUST_ST_INCONCLUSIVE))
        result->outcome = S2S_TRUST_ST_INCONCLUSIVE;
    else
        result->outcome = S2S_TRUST_ST_REFUSED;
    result->elapsed_ms = (unsigned)(s2s_trust_now_ms() - t0);
    ERR_clear_error();
    return result->outcome;
}
