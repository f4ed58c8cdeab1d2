/* test_conn.c - the connection layer and the s2s client steps on a local
 * socket pair: a scripted "server" writes its bytes up front, our side
 * negotiates. What a hostile server can do before TLS (inject bytes after
 * <proceed/>, answer out of order, stall, close) must end as a named value
 * within the deadline. The real servers are in tests/probe and tests/selftest. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/s2s_trust_conn.h"
#include "net/s2s_trust_s2s_client.h"
#include "testing.h"
#include "tests.h"

static const char server_hello[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    "from='b.test' id='1' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
    "<required/></starttls></stream:features>";

/* Our end of a socket pair whose other end already said `script` (and
 * closed its side when `close_after`). */
static int scripted(s2s_trust_conn_t *c, const char *script, int close_after, unsigned ms, int *peer)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    if (write(sv[1], script, strlen(script)) != (ssize_t)strlen(script))
        return -1;
    if (close_after)
        shutdown(sv[1], SHUT_WR);
    s2s_trust_conn_init(c, s2s_trust_now_ms() + ms, NULL);
    s2s_trust_conn_adopt(c, sv[0]);
    *peer = sv[1];
    return 0;
}

static s2s_trust_neg_t negotiate(const char *script, int close_after, unsigned ms, s2s_trust_neg_result_t *r,
                                 s2s_trust_conn_t *c)
{
    char header[512];
    int peer = -1;
    s2s_trust_neg_t n;

    memset(r, 0, sizeof *r);
    if (scripted(c, script, close_after, ms, &peer) != 0) {
        CHECK(!"socketpair");
        return S2S_TRUST_NEG_IO;
    }
    s2s_trust_s2s_header(header, sizeof header, "a.test", "b.test", NULL, 1);
    n = s2s_trust_s2s_negotiate_starttls(c, header, r);
    s2s_trust_conn_close(c);
    close(peer);
    return n;
}

void test_conn_starttls_negotiation(void)
{
    s2s_trust_neg_result_t r;
    s2s_trust_conn_t c;
    char script[2048];

    snprintf(script, sizeof script, "%s<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", server_hello);
    CHECK(negotiate(script, 0, 2000, &r, &c) == S2S_TRUST_NEG_PROCEED);
    CHECK(r.features.starttls == 1 && r.features.starttls_required == 1);
    CHECK_STR(r.header.from, "b.test");
    CHECK_STR(r.stage, "starttls");

    /* STARTTLS command injection: bytes after <proceed/> in the same read. */
    snprintf(script, sizeof script, "%s<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='result'/>",
             server_hello);
    CHECK(negotiate(script, 0, 2000, &r, &c) == S2S_TRUST_NEG_PROTOCOL);
    CHECK_MSG(strstr(r.detail, "after <proceed/>") != NULL, "detail: %s", r.detail);

    /* <proceed/> before we asked. */
    CHECK(negotiate("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
                    "version='1.0'><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
                    0, 2000, &r, &c) == S2S_TRUST_NEG_PROTOCOL);
    CHECK(strstr(r.detail, "before we asked") != NULL);

    /* A stanza where the features belong. */
    CHECK(negotiate("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
                    "version='1.0'><message to='x'/>",
                    0, 2000, &r, &c) == S2S_TRUST_NEG_PROTOCOL);
    CHECK(strstr(r.detail, "unexpected <message/>") != NULL);

    /* No STARTTLS offered; no version (no features ever). */
    CHECK(negotiate("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
                    "version='1.0'><stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
                    0, 2000, &r, &c) == S2S_TRUST_NEG_NO_STARTTLS);
    CHECK(r.features.dialback == 1);
    CHECK(negotiate("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>", 0, 2000,
                    &r, &c) == S2S_TRUST_NEG_OLD_STREAM);

    /* Refused, stream error, closed stream, closed socket, garbage. */
    snprintf(script, sizeof script, "%s<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", server_hello);
    CHECK(negotiate(script, 0, 2000, &r, &c) == S2S_TRUST_NEG_REFUSED);
    snprintf(script, sizeof script, "%s<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                    "</stream:error>", server_hello);
    CHECK(negotiate(script, 0, 2000, &r, &c) == S2S_TRUST_NEG_STREAM_ERROR);
    CHECK_STR(r.element.condition, "policy-violation");
    snprintf(script, sizeof script, "%s</stream:stream>", server_hello);
    CHECK(negotiate(script, 0, 2000, &r, &c) == S2S_TRUST_NEG_STREAM_END);
    CHECK(negotiate(server_hello, 1, 2000, &r, &c) == S2S_TRUST_NEG_IO);
    CHECK(r.io == S2S_TRUST_IO_CLOSED && strcmp(r.stage, "starttls") == 0 && !r.sending);
    CHECK(negotiate("\x16\x03\x01\x00\x05hello", 0, 2000, &r, &c) == S2S_TRUST_NEG_PROTOCOL);
    CHECK(r.first_len > 0 && r.first[0] == 0x16);
}

void test_conn_deadlines_and_stop(void)
{
    s2s_trust_neg_result_t r;
    s2s_trust_conn_t c;
    uint64_t t0 = s2s_trust_now_ms();
    int peer = -1, stop = 1;

    /* A server that says nothing: the deadline ends it, not a hang. */
    CHECK(negotiate("", 0, 300, &r, &c) == S2S_TRUST_NEG_IO);
    CHECK(r.io == S2S_TRUST_IO_TIMEOUT && strcmp(r.stage, "stream") == 0);
    CHECK(s2s_trust_now_ms() - t0 >= 300);

    /* A raised stop flag ends a wait at once. */
    CHECK(scripted(&c, "", 0, 60000, &peer) == 0);
    c.stop = &stop;
    t0 = s2s_trust_now_ms();
    CHECK(s2s_trust_conn_fill(&c) == S2S_TRUST_IO_STOPPED);
    CHECK(s2s_trust_now_ms() - t0 < 60000);
    s2s_trust_conn_close(&c);
    close(peer);

    /* Addresses: only numeric literals; a closed port fails by name. */
    s2s_trust_conn_init(&c, s2s_trust_now_ms() + 1000, NULL);
    CHECK(s2s_trust_conn_connect(&c, "localhost", 5269) == S2S_TRUST_IO_BAD_ADDRESS);
    s2s_trust_conn_close(&c);
    s2s_trust_conn_init(&c, s2s_trust_now_ms() + 1000, NULL);
    CHECK(s2s_trust_conn_connect(&c, "127.0.0.1", 1) == S2S_TRUST_IO_FAILED);
    CHECK(strstr(c.err, "connect") != NULL);
    s2s_trust_conn_close(&c);
    s2s_trust_conn_close(&c); /* twice is harmless */
    CHECK(strcmp(s2s_trust_io_name(S2S_TRUST_IO_TLS_FAILED), "tls_failed") == 0);
}
