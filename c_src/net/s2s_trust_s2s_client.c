/* s2s_trust_s2s_client.c - see s2s_trust_s2s_client.h */
#include "net/s2s_trust_s2s_client.h"

#include <stdio.h>
#include <string.h>

static const char *const neg_names[] = {
    [S2S_TRUST_NEG_PROCEED] = "proceed",           [S2S_TRUST_NEG_IO] = "io",
    [S2S_TRUST_NEG_OLD_STREAM] = "old_stream",     [S2S_TRUST_NEG_NO_STARTTLS] = "no_starttls",
    [S2S_TRUST_NEG_REFUSED] = "refused",           [S2S_TRUST_NEG_STREAM_ERROR] = "stream_error",
    [S2S_TRUST_NEG_STREAM_END] = "stream_end",     [S2S_TRUST_NEG_PROTOCOL] = "protocol",
    [S2S_TRUST_NEG_TOO_LARGE] = "too_large",
};

const char *s2s_trust_neg_name(s2s_trust_neg_t n)
{
    return (unsigned)n < sizeof neg_names / sizeof neg_names[0] ? neg_names[n] : "unknown";
}

void s2s_trust_s2s_header(char *out, size_t cap, const char *from, const char *to, const char *id, int version)
{
    snprintf(out, cap,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='" NS_XMPP_STREAMS
             "' xmlns:db='" NS_XMPP_DIALBACK "'%s%s%s%s%s%s%s%s%s%s>",
             from ? " from='" : "", from ? from : "", from ? "'" : "", to ? " to='" : "", to ? to : "", to ? "'" : "",
             id ? " id='" : "", id ? id : "", id ? "'" : "", version ? " version='1.0'" : "");
}

s2s_trust_io_t s2s_trust_s2s_next(s2s_trust_conn_t *c, s2s_trust_xs_t *xs, s2s_trust_xs_event_t *ev)
{
    for (;;) {
        s2s_trust_io_t io = s2s_trust_conn_fill(c);
        size_t used = 0;

        if (io != S2S_TRUST_IO_OK)
            return io;
        *ev = s2s_trust_xs_feed(xs, c->in + c->in_off, c->in_len - c->in_off, &used);
        c->in_off += used;
        if (*ev != S2S_TRUST_XS_NEED_MORE)
            return S2S_TRUST_IO_OK;
    }
}

static s2s_trust_neg_t end(s2s_trust_neg_result_t *r, s2s_trust_neg_t outcome, const char *detail)
{
    r->outcome = outcome;
    if (detail != NULL)
        snprintf(r->detail, sizeof r->detail, "%s", detail);
    return outcome;
}

static s2s_trust_neg_t io_end(s2s_trust_neg_result_t *r, s2s_trust_io_t io, int sending)
{
    r->io = io;
    r->sending = sending;
    return end(r, S2S_TRUST_NEG_IO, NULL);
}

/* Keep the first bytes the peer sent, for the caller's hints. */
static void note_first(s2s_trust_conn_t *c, s2s_trust_neg_result_t *r)
{
    size_t have = c->in_len - c->in_off, take = sizeof r->first - r->first_len;

    if (take > have)
        take = have;
    memcpy(r->first + r->first_len, c->in + c->in_off, take);
    r->first_len += take;
}

/* One element while we negotiate: what it means at this stage. 1 when the
 * negotiation is over (r->outcome says how), 0 to read on. */
static int on_element(s2s_trust_conn_t *c, s2s_trust_neg_result_t *r, const s2s_trust_xs_element_t *el)
{
    static const char starttls[] = "<starttls xmlns='" NS_XMPP_TLS "'/>";
    s2s_trust_io_t io;

    r->element = *el;
    if (s2s_trust_xs_is(el, NS_XMPP_STREAMS, "error"))
        return end(r, S2S_TRUST_NEG_STREAM_ERROR, NULL), 1;
    if (strcmp(r->stage, "features") == 0 && s2s_trust_xs_is(el, NS_XMPP_STREAMS, "features")) {
        r->features = *el;
        if (!el->starttls) {
            (void)s2s_trust_conn_send_str(c, "</stream:stream>"); /* courtesy */
            return end(r, S2S_TRUST_NEG_NO_STARTTLS, NULL), 1;
        }
        r->stage = "starttls";
        io = s2s_trust_conn_send(c, starttls, sizeof starttls - 1);
        return io == S2S_TRUST_IO_OK ? 0 : (io_end(r, io, 1), 1);
    }
    if (strcmp(r->stage, "starttls") == 0 && s2s_trust_xs_is(el, NS_XMPP_TLS, "failure"))
        return end(r, S2S_TRUST_NEG_REFUSED, NULL), 1;
    if (s2s_trust_xs_is(el, NS_XMPP_TLS, "proceed")) {
        if (strcmp(r->stage, "starttls") != 0)
            return end(r, S2S_TRUST_NEG_PROTOCOL, "<proceed/> before we asked for STARTTLS"), 1;
        /* The server must not speak before our ClientHello; bytes here were
         * written before TLS and would be read as if they came through it
         * (the STARTTLS command-injection pattern). */
        if (c->in_off < c->in_len) {
            snprintf(r->detail, sizeof r->detail, "%zu byte(s) after <proceed/> before the TLS handshake",
                     c->in_len - c->in_off);
            return end(r, S2S_TRUST_NEG_PROTOCOL, NULL), 1;
        }
        return end(r, S2S_TRUST_NEG_PROCEED, NULL), 1;
    }
    snprintf(r->detail, sizeof r->detail, "unexpected <%.40s/> %s", el->local,
             strcmp(r->stage, "starttls") == 0 ? "instead of <proceed/>" : "before the stream features");
    for (char *p = r->detail; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return end(r, S2S_TRUST_NEG_PROTOCOL, NULL), 1;
}

s2s_trust_neg_t s2s_trust_s2s_negotiate_starttls(s2s_trust_conn_t *c, const char *header, s2s_trust_neg_result_t *r)
{
    s2s_trust_xs_t *xs = s2s_trust_xs_new(S2S_TRUST_S2S_MAX_PRETLS_BYTES);
    s2s_trust_io_t io;

    memset(r, 0, sizeof *r);
    r->stage = "stream";
    if (xs == NULL) {
        r->io = S2S_TRUST_IO_INTERNAL;
        snprintf(c->err, sizeof c->err, "out of memory");
        return end(r, S2S_TRUST_NEG_IO, NULL);
    }
    io = s2s_trust_conn_send_str(c, header);
    if (io != S2S_TRUST_IO_OK) {
        io_end(r, io, 1);
        goto done;
    }
    for (;;) {
        s2s_trust_xs_event_t ev = S2S_TRUST_XS_NEED_MORE;
        size_t used = 0;

        io = s2s_trust_conn_fill(c);
        if (io != S2S_TRUST_IO_OK) {
            io_end(r, io, 0);
            break;
        }
        note_first(c, r);
        ev = s2s_trust_xs_feed(xs, c->in + c->in_off, c->in_len - c->in_off, &used);
        c->in_off += used;
        r->received = s2s_trust_xs_fed(xs);
        if (ev == S2S_TRUST_XS_NEED_MORE)
            continue;
        if (ev == S2S_TRUST_XS_HEADER) {
            r->header = *s2s_trust_xs_element(xs);
            /* RFC 6120 4.7.5: without version='1.0' there are no stream
             * features, so no STARTTLS will ever be offered. */
            if (strncmp(r->header.version, "1.", 2) != 0) {
                end(r, S2S_TRUST_NEG_OLD_STREAM, NULL);
                break;
            }
            r->stage = "features";
        } else if (ev == S2S_TRUST_XS_ELEMENT) {
            if (on_element(c, r, s2s_trust_xs_element(xs)))
                break;
        } else {
            end(r, ev == S2S_TRUST_XS_END ? S2S_TRUST_NEG_STREAM_END
                   : ev == S2S_TRUST_XS_TOO_LARGE ? S2S_TRUST_NEG_TOO_LARGE
                                                  : S2S_TRUST_NEG_PROTOCOL,
                s2s_trust_xs_detail(xs));
            break;
        }
    }
done:
    s2s_trust_xs_free(xs);
    return r->outcome;
}
