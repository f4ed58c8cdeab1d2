/* s2s_trust_dialback_server.c - see s2s_trust_dialback_server.h */
#include "net/s2s_trust_dialback_server.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/s2s_trust_conn.h"
#include "net/s2s_trust_peer_text.h"
#include "net/s2s_trust_s2s_client.h"
#include "net/s2s_trust_xmpp_stream.h"

/* Per back-connection stream, as for the self-test's own streams. */
#define DB_MAX_STREAM_BYTES 262144

typedef struct {
    s2s_trust_db_server_t *s;
    int fd;
} db_conn_arg_t;

struct s2s_trust_db_server {
    int lfd;
    const char *from;
    const s2s_trust_st_identity_t *id;
    uint64_t deadline;
    int stop;        /* atomic */
    int verify_seen; /* atomic */
    int pinged;      /* atomic: the answer to our ping came back to `from` */
    pthread_mutex_t lock;
    char note[200];     /* (lock) */
    char ping_type[32]; /* (lock) */
    pthread_t acceptor;
    pthread_t threads[S2S_TRUST_DB_MAX_CONNS];
    db_conn_arg_t args[S2S_TRUST_DB_MAX_CONNS];
    int nthreads;
};

static void note(s2s_trust_db_server_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(s2s_trust_db_server_t *s, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&s->lock);
    va_start(ap, fmt);
    vsnprintf(s->note, sizeof s->note, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&s->lock);
}

/* The target's stream header: ours in reply, with features. */
static int on_header(s2s_trust_db_server_t *s, s2s_trust_conn_t *c, const s2s_trust_xs_element_t *el, int tls)
{
    char out[1024], id[33];
    const char *to = s2s_trust_domain_ok(el->from) ? el->from : NULL;
    int version = strncmp(el->version, "1.", 2) == 0;

    s2s_trust_random_hex(id, 16);
    s2s_trust_s2s_header(out, sizeof out, s->from, to, id, version);
    if (s2s_trust_conn_send_str(c, out) != S2S_TRUST_IO_OK)
        return -1;
    if (!version)
        return 0;
    return s2s_trust_conn_send_str(c, tls ? "<stream:features><dialback xmlns='" NS_XMPP_DIALBACK_FEATURE
                                            "'/></stream:features>"
                                          : "<stream:features><starttls xmlns='" NS_XMPP_TLS "'/><dialback xmlns='"
                                            NS_XMPP_DIALBACK_FEATURE "'/></stream:features>") == S2S_TRUST_IO_OK
               ? 0
               : -1;
}

/* <db:verify/> or <db:result/>: always "valid". */
static int on_dialback(s2s_trust_db_server_t *s, s2s_trust_conn_t *c, const s2s_trust_xs_element_t *el)
{
    int verify = strcmp(el->local, "verify") == 0;
    char out[1024];

    if (!s2s_trust_domain_ok(el->from) || !s2s_trust_domain_ok(el->to) || (verify && !s2s_trust_plain_token(el->id))) {
        note(s, "unusable <db:%.20s/> attributes on the back-connection", el->local);
        return -1;
    }
    if (verify) {
        __atomic_store_n(&s->verify_seen, 1, __ATOMIC_RELEASE);
        snprintf(out, sizeof out, "<db:verify from='%s' to='%s' id='%s' type='valid'/>", el->to, el->from, el->id);
    } else {
        snprintf(out, sizeof out, "<db:result from='%s' to='%s' type='valid'/>", el->to, el->from);
    }
    return s2s_trust_conn_send_str(c, out) == S2S_TRUST_IO_OK ? 0 : -1;
}

static void serve(s2s_trust_db_server_t *s, int fd)
{
    s2s_trust_conn_t c;
    s2s_trust_xs_t *xs = s2s_trust_xs_new(DB_MAX_STREAM_BYTES);
    int tls = 0;

    s2s_trust_conn_init(&c, s->deadline, &s->stop);
    s2s_trust_conn_adopt(&c, fd);
    while (xs != NULL) {
        s2s_trust_xs_event_t ev = S2S_TRUST_XS_NEED_MORE;
        const s2s_trust_xs_element_t *el = s2s_trust_xs_element(xs);

        if (s2s_trust_s2s_next(&c, xs, &ev) != S2S_TRUST_IO_OK)
            break;
        if (ev == S2S_TRUST_XS_HEADER) {
            if (on_header(s, &c, el, tls) != 0)
                break;
        } else if (ev == S2S_TRUST_XS_ELEMENT && !tls && s2s_trust_xs_is(el, NS_XMPP_TLS, "starttls")) {
            const s2s_trust_tls_opts_t server = { .server = 1, .cert = s->id->leaf, .key = s->id->key,
                                                  .extra = s->id->extra };
            if (c.in_off < c.in_len || s2s_trust_conn_send_str(&c, "<proceed xmlns='" NS_XMPP_TLS "'/>") != 0)
                break;
            if (s2s_trust_conn_start_tls(&c, &server) != S2S_TRUST_IO_OK) {
                note(s, "back-connection TLS failed: %.160s", c.err);
                break;
            }
            tls = 1;
            s2s_trust_xs_free(xs);
            xs = s2s_trust_xs_new(DB_MAX_STREAM_BYTES); /* a new stream after TLS */
        } else if (ev == S2S_TRUST_XS_ELEMENT && (s2s_trust_xs_is(el, NS_XMPP_DIALBACK, "verify") ||
                                                  s2s_trust_xs_is(el, NS_XMPP_DIALBACK, "result"))) {
            if (on_dialback(s, &c, el) != 0)
                break;
        } else if (ev == S2S_TRUST_XS_ELEMENT && strcmp(el->local, "iq") == 0 &&
                   strcmp(el->id, S2S_TRUST_DB_PING_ID) == 0) {
            /* The target answers our ping over its own stream to `from`. */
            pthread_mutex_lock(&s->lock);
            snprintf(s->ping_type, sizeof s->ping_type, "%s", el->type);
            pthread_mutex_unlock(&s->lock);
            __atomic_store_n(&s->pinged, 1, __ATOMIC_RELEASE);
        } else if (ev != S2S_TRUST_XS_ELEMENT) {
            if (ev == S2S_TRUST_XS_END)
                (void)s2s_trust_conn_send_str(&c, "</stream:stream>");
            break;
        }
        /* any other element (stanzas, SASL): ignored */
    }
    s2s_trust_xs_free(xs);
    s2s_trust_conn_close(&c);
}

static void *conn_thread(void *arg)
{
    db_conn_arg_t *a = arg;

    serve(a->s, a->fd);
    return NULL;
}

/* Accepts back-connections, each served by its own thread (a target may
 * keep its verify stream open while it opens another); all are joined
 * before it returns. */
static void *acceptor_thread(void *arg)
{
    s2s_trust_db_server_t *s = arg;

    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) && s2s_trust_now_ms() < s->deadline) {
        struct pollfd pfd = { .fd = s->lfd, .events = POLLIN };
        int fd;

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (s->nthreads == S2S_TRUST_DB_MAX_CONNS) {
            close(fd);
            note(s, "more than %d back-connections; the rest were closed", S2S_TRUST_DB_MAX_CONNS);
            continue;
        }
        s->args[s->nthreads] = (db_conn_arg_t){ .s = s, .fd = fd };
        if (pthread_create(&s->threads[s->nthreads], NULL, conn_thread, &s->args[s->nthreads]) != 0) {
            close(fd);
            continue;
        }
        s->nthreads++;
    }
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    return NULL;
}

s2s_trust_db_server_t *s2s_trust_db_server_start(int lfd, const char *from, const s2s_trust_st_identity_t *id,
                                                 uint64_t deadline)
{
    /* On the heap: the acceptor and the connection threads share it. */
    s2s_trust_db_server_t *s = calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    s->lfd = lfd;
    s->from = from;
    s->id = id;
    s->deadline = deadline;
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->acceptor, NULL, acceptor_thread, s) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

const int *s2s_trust_db_server_pinged(const s2s_trust_db_server_t *s)
{
    return &s->pinged;
}

void s2s_trust_db_server_ping_type(s2s_trust_db_server_t *s, char *out, size_t cap)
{
    pthread_mutex_lock(&s->lock);
    s2s_trust_escape_str(s->ping_type, out, cap);
    pthread_mutex_unlock(&s->lock);
}

void s2s_trust_db_server_finish(s2s_trust_db_server_t *s, s2s_trust_db_report_t *report)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->acceptor, NULL);
    report->verify_seen = __atomic_load_n(&s->verify_seen, __ATOMIC_ACQUIRE);
    snprintf(report->note, sizeof report->note, "%s", s->note);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
