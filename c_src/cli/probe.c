/*
 * s2s_trust_cli_probe.c - `s2s-trust probe DOMAIN`: connect where a
 * federating server would, capture the chain the server sends, verify it
 * with the same core as `check`, and tell the operator what to fix:
 * whether the server sends its intermediates (and in order), what its
 * certificate is valid for, and where the probe connected.
 *
 * Everything printed that came from the peer (certificate fields, SRV
 * targets, stream errors) goes through cli_put_text / cli_put_json.
 */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "core/s2s_trust_identity.h"
#include "net/s2s_trust_probe.h"
#include "net/s2s_trust_resolve.h"
#include "core/s2s_trust_verify.h"

#define MAX_NAMES_SHOWN 64

typedef struct {
    s2s_trust_candidate_t where;
    const char *source; /* "srv", "fallback", "connect" */
    s2s_trust_probe_status_t status;
    const char *stage;
    char detail[256];
    unsigned elapsed_ms;
} attempt_t;

/* One certificate as the server sent it. */
typedef struct {
    X509 *x;          /* NULL when it does not parse */
    char *subject, *issuer;
    char not_before[32], not_after[32];
    char key[48];
    char sha256[96];
    int is_ca, self_signed, eku_present, server_auth, client_auth;
    s2s_trust_name_t names[MAX_NAMES_SHOWN];
    size_t name_count, names_dropped;
} cert_info_t;

/* The shape of the chain as sent. */
typedef struct {
    size_t n;
    size_t path[S2S_TRUST_PROBE_MAX_CHAIN]; /* indices from the leaf up, by issuer */
    size_t path_len;
    int in_order;      /* the path is exactly 0,1,...,n-1 */
    int includes_root; /* the path ends at a self-signed certificate above the leaf */
    size_t extra;      /* certificates not on the leaf's path (duplicates apart) */
    size_t duplicates; /* certificates sent twice */
    size_t intermediates_sent;
    int missing;       /* the verified chain holds certificates the server did not send */
    char summary[320];
} shape_t;

/* ---- certificate details ------------------------------------------------------ */

static void collect_name(void *arg, s2s_trust_id_type_t type, const unsigned char *value, size_t len)
{
    cert_info_t *ci = arg;
    unsigned char *copy;

    if (ci->name_count == MAX_NAMES_SHOWN) {
        ci->names_dropped++;
        return;
    }
    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        ci->names_dropped++;
        return;
    }
    memcpy(copy, value, len);
    ci->names[ci->name_count].type = type;
    ci->names[ci->name_count].value = copy;
    ci->names[ci->name_count].len = len;
    ci->name_count++;
}

static void cert_info(const s2s_trust_der_t *der, cert_info_t *ci)
{
    const unsigned char *p = der->data;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_PKEY *pk;

    memset(ci, 0, sizeof *ci);
    /* Peer bytes: parsed with OpenSSL's bounded DER parser, a whole
     * certificate or nothing. */
    ci->x = d2i_X509(NULL, &p, (long)der->len);
    if (ci->x == NULL || p != der->data + der->len) {
        X509_free(ci->x);
        ci->x = NULL;
        ERR_clear_error();
        return;
    }
    ci->subject = s2s_trust_name_string(X509_get_subject_name(ci->x));
    ci->issuer = s2s_trust_name_string(X509_get_issuer_name(ci->x));
    s2s_trust_time_string(X509_get0_notBefore(ci->x), ci->not_before);
    s2s_trust_time_string(X509_get0_notAfter(ci->x), ci->not_after);
    {
        uint32_t flags = X509_get_extension_flags(ci->x); /* also caches the extensions */
        uint32_t xku = X509_get_extended_key_usage(ci->x);
        ci->self_signed = (flags & EXFLAG_SS) != 0;
        ci->eku_present = (flags & EXFLAG_XKUSAGE) != 0;
        ci->server_auth = !ci->eku_present || (xku & XKU_SSL_SERVER) != 0;
        ci->client_auth = !ci->eku_present || (xku & XKU_SSL_CLIENT) != 0;
        ci->is_ca = X509_check_ca(ci->x) > 0;
    }
    pk = X509_get0_pubkey(ci->x);
    if (pk != NULL)
        snprintf(ci->key, sizeof ci->key, "%s %d bits",
                 EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC    ? "EC"
                 : EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA ? "RSA"
                                                            : OBJ_nid2sn(EVP_PKEY_get_base_id(pk)),
                 EVP_PKEY_get_bits(pk));
    if (X509_digest(ci->x, EVP_sha256(), md, &mdlen) == 1)
        for (unsigned i = 0; i < mdlen && 3 * i + 3 <= sizeof ci->sha256; i++)
            snprintf(ci->sha256 + 3 * i, sizeof ci->sha256 - 3 * i, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
    s2s_trust_identity_list(ci->x, collect_name, ci);
    ERR_clear_error();
}

static void cert_info_free(cert_info_t *ci)
{
    for (size_t i = 0; i < ci->name_count; i++)
        free(ci->names[i].value);
    free(ci->subject);
    free(ci->issuer);
    X509_free(ci->x);
    memset(ci, 0, sizeof *ci);
}

/* ---- the chain's shape ------------------------------------------------------------- */

static int issued(X509 *issuer, X509 *subject)
{
    int ok = issuer != NULL && subject != NULL && X509_check_issued(issuer, subject) == X509_V_OK;
    ERR_clear_error();
    return ok;
}

static void shape_of(const cert_info_t *certs, size_t n, const s2s_trust_details_t *d, shape_t *s)
{
    int used[S2S_TRUST_PROBE_MAX_CHAIN] = { 0 };
    size_t cur = 0, cas = 0;
    char *o = s->summary;
    size_t cap = sizeof s->summary;

    memset(s, 0, sizeof *s);
    s->n = n;
    if (n == 0 || certs[0].x == NULL) {
        snprintf(o, cap, "%s", n == 0 ? "no certificate" : "the first certificate does not parse");
        return;
    }
    /* Duplicates first: a certificate sent twice is noise, not disorder. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i && !used[i]; j++)
            if (certs[i].x != NULL && certs[j].x != NULL && X509_cmp(certs[i].x, certs[j].x) == 0) {
                used[i] = 1;
                s->duplicates++;
            }
    /* Follow issuers from the leaf through what was sent, in any order. */
    s->path[s->path_len++] = 0;
    used[0] = 1;
    while (!certs[cur].self_signed) {
        size_t next = n;
        for (size_t i = 0; i < n; i++)
            if (!used[i] && issued(certs[i].x, certs[cur].x)) {
                next = i;
                break;
            }
        if (next == n)
            break;
        used[next] = 1;
        s->path[s->path_len++] = next;
        cur = next;
    }
    /* In order: the path's indices increase (duplicates may sit between). */
    s->in_order = 1;
    for (size_t i = 1; i < s->path_len; i++)
        if (s->path[i] < s->path[i - 1])
            s->in_order = 0;
    s->extra = n - s->path_len - s->duplicates;
    s->includes_root = s->path_len > 1 && certs[s->path[s->path_len - 1]].self_signed;
    for (size_t i = 1; i < s->path_len; i++)
        if (!certs[s->path[i]].self_signed)
            cas++;
    s->intermediates_sent = cas;
    /* What the verifier had to add besides the anchor came from our pool. */
    if (d->verdict == S2S_TRUST_OK)
        s->missing = d->chain_count > s->path_len + (s->includes_root ? 0 : 1);

    if (n == 1) {
        if (certs[0].self_signed)
            snprintf(o, cap, "leaf only, self-signed");
        else if (d->verdict == S2S_TRUST_OK && d->chain_count <= 2)
            snprintf(o, cap, "leaf only - issued directly by a trust anchor, nothing else to send");
        else if (d->verdict == S2S_TRUST_OK)
            snprintf(o, cap, "leaf only - the server does not send its intermediate(s); this check found "
                             "them in the configured intermediates pool, peers without them will fail");
        else
            snprintf(o, cap, "leaf only - the server does not send its intermediate(s)");
        return;
    }
    {
        int w = snprintf(o, cap, "%zu certificates: leaf + %zu intermediate(s)%s", n, cas,
                         s->includes_root ? " + root (unneeded)" : "");
        size_t at = w > 0 && (size_t)w < cap ? (size_t)w : cap - 1;
        if (s->in_order && s->path_len > 1)
            at += (size_t)snprintf(o + at, cap - at, ", in order");
        else if (s->path_len > 1)
            at += (size_t)snprintf(o + at, cap - at, ", WRONG ORDER (each certificate should be followed by its issuer)");
        if (at < cap && s->path_len == 1 && !certs[0].self_signed)
            at += (size_t)snprintf(o + at, cap - at, ", but none of them issued the leaf");
        if (at < cap && s->extra > 0 && s->path_len > 1)
            at += (size_t)snprintf(o + at, cap - at, ", %zu extra certificate(s) not on the leaf's path", s->extra);
        if (at < cap && s->duplicates > 0)
            at += (size_t)snprintf(o + at, cap - at, ", %zu certificate(s) sent twice", s->duplicates);
        if (at < cap && s->missing)
            snprintf(o + at, cap - at, "; incomplete: this check needed intermediate(s) from the configured pool");
    }
}

/* What the leaf may be used for, in words. */
static const char *valid_for(const cert_info_t *leaf, int *xmpp_addr)
{
    *xmpp_addr = 0;
    for (size_t i = 0; i < leaf->name_count; i++)
        if (leaf->names[i].type == S2S_TRUST_ID_XMPP)
            *xmpp_addr = 1;
    if (leaf->x == NULL)
        return "unknown (the certificate does not parse)";
    if (!leaf->eku_present)
        return "any purpose (no extended key usage): server and client authentication";
    if (leaf->server_auth && leaf->client_auth)
        return "TLS server and client authentication (serverAuth, clientAuth)";
    if (leaf->server_auth)
        return "TLS server authentication only (serverAuth): mod_s2s_trust, Prosody and ejabberd >= 25.07 "
               "accept it in both directions; older hardened ejabberd refuses it on inbound s2s";
    if (leaf->client_auth)
        return "TLS client authentication only (clientAuth): not valid for a server (bad_purpose)";
    return "neither serverAuth nor clientAuth: not valid for s2s (bad_purpose)";
}

/* ---- output ------------------------------------------------------------------------ */

/* A probe detail is printable ASCII already, peer bytes escaped by the probe
 * as \xNN; escaping its backslashes again would garble them. Anything else
 * (there should be nothing) is still escaped. */
static void put_detail(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f)
            fputc(c, stdout);
        else
            printf("\\x%02x", c);
    }
}

static const char *mode_name(s2s_trust_probe_mode_t m)
{
    return m == S2S_TRUST_PROBE_DIRECT_TLS ? "direct-tls" : "starttls";
}

static void put_where_text(const attempt_t *a)
{
    int v6 = strchr(a->where.address, ':') != NULL;
    printf("%s%s%s:%u %s", v6 ? "[" : "", a->where.address, v6 ? "]" : "", (unsigned)a->where.port,
           mode_name(a->where.mode));
    if (a->where.from_srv) {
        printf(" (SRV _%s._tcp: priority %u weight %u target ",
               a->where.mode == S2S_TRUST_PROBE_DIRECT_TLS ? "xmpps-server" : "xmpp-server",
               (unsigned)a->where.srv.priority, (unsigned)a->where.srv.weight);
        cli_put_text_str(stdout, a->where.srv.target);
        fputc(')', stdout);
    } else {
        printf(" (%s ", a->source);
        cli_put_text_str(stdout, a->where.srv.target);
        fputc(')', stdout);
    }
}

static void print_srv_text(const char *service, const char *domain, s2s_trust_srv_outcome_t oc,
                           const s2s_trust_srv_t *recs, size_t n)
{
    printf("  SRV _%s._tcp.%s: %s", service, domain, s2s_trust_srv_outcome_name(oc));
    for (size_t i = 0; i < n; i++) {
        printf("%s%u %u %u ", i ? ", " : ": ", (unsigned)recs[i].priority, (unsigned)recs[i].weight,
               (unsigned)recs[i].port);
        cli_put_text_str(stdout, recs[i].target);
    }
    fputc('\n', stdout);
}

typedef struct {
    const char *domain;        /* as given */
    const char *norm;          /* A-label form */
    int resolved;              /* 0 with --connect */
    const s2s_trust_resolution_t *res;
    const attempt_t *attempts;
    size_t attempt_count;
    const attempt_t *used;     /* the attempt that captured the chain, or NULL */
    const s2s_trust_probe_result_t *pr;
    const cert_info_t *certs;
    const shape_t *shape;
    const s2s_trust_details_t *d; /* NULL without a chain */
} report_t;

static void print_text(const report_t *r)
{
    const s2s_trust_probe_result_t *pr = r->pr;

    cli_put_text_str(stdout, r->domain);
    if (r->d == NULL) {
        const attempt_t *last = r->attempt_count ? &r->attempts[r->attempt_count - 1] : NULL;
        printf(": no chain: %s", last ? s2s_trust_probe_status_name(last->status) : "nowhere to connect");
        if (last) {
            fputs(" (", stdout);
            put_detail(last->detail);
            fputc(')', stdout);
        }
    } else if (r->d->verdict == S2S_TRUST_OK) {
        fputs(": ok", stdout);
    } else {
        printf(": refused: %s (", s2s_trust_verdict_name(r->d->verdict));
        cli_put_text_str(stdout, r->d->detail);
        fputc(')', stdout);
    }
    fputc('\n', stdout);

    if (r->resolved) {
        print_srv_text("xmpps-server", r->norm, r->res->xmpps, r->res->xmpps_srv, r->res->xmpps_count);
        print_srv_text("xmpp-server", r->norm, r->res->xmpp, r->res->xmpp_srv, r->res->xmpp_count);
        if (r->res->fallback)
            printf("  fallback:    %s:5269 starttls (RFC 6120 3.2.2: no _xmpp-server record)\n", r->norm);
        if (r->res->notes[0]) {
            fputs("  dns notes:   ", stdout);
            cli_put_text_str(stdout, r->res->notes);
            fputc('\n', stdout);
        }
    }
    for (size_t i = 0; i < r->attempt_count; i++) {
        const attempt_t *a = &r->attempts[i];
        printf("  attempt %zu:   ", i + 1);
        put_where_text(a);
        printf(": %s at %s in %u ms", s2s_trust_probe_status_name(a->status), a->stage, a->elapsed_ms);
        if (a->status != S2S_TRUST_PROBE_OK) {
            fputs(" (", stdout);
            put_detail(a->detail);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    if (r->d == NULL)
        return;

    fputs("  connected:   ", stdout);
    put_where_text(r->used);
    if (r->used->where.mode == S2S_TRUST_PROBE_STARTTLS)
        printf(", STARTTLS %s", pr->starttls_required ? "required" : "offered (optional)");
    fputc('\n', stdout);
    printf("  tls:         %s %s, ALPN %s\n", pr->tls_version, pr->cipher, pr->alpn[0] ? pr->alpn : "none");
    fputs("  chain as sent: ", stdout);
    cli_put_text_str(stdout, r->shape->summary);
    fputc('\n', stdout);
    for (size_t i = 0; i < pr->chain_count; i++) {
        const cert_info_t *c = &r->certs[i];
        printf("  [%zu] subject:  ", i);
        if (c->x == NULL) {
            printf("(does not parse, %zu bytes)\n", pr->chain[i].len);
            continue;
        }
        cli_put_text_str(stdout, c->subject);
        fputs("\n      issuer:   ", stdout);
        cli_put_text_str(stdout, c->issuer);
        printf("\n      valid:    %s to %s\n", c->not_before[0] ? c->not_before : "?",
               c->not_after[0] ? c->not_after : "?");
        printf("      key:      %s\n", c->key[0] ? c->key : "?");
        for (size_t k = 0; k < c->name_count; k++) {
            printf("      name:     %s ", s2s_trust_id_type_name(c->names[k].type));
            cli_put_text(stdout, c->names[k].value, c->names[k].len);
            fputc('\n', stdout);
        }
        if (c->names_dropped)
            printf("      name:     ... %zu more\n", c->names_dropped);
        printf("      usage:    %s%s%s; %s%s\n", !c->eku_present ? "no EKU (any)" : c->server_auth ? "serverAuth" : "",
               c->eku_present && c->server_auth && c->client_auth ? ", " : "",
               c->eku_present && c->client_auth ? "clientAuth" : c->eku_present && !c->server_auth ? "other EKU only" : "",
               c->is_ca ? "CA" : "not a CA", c->self_signed ? ", self-signed" : "");
        printf("      sha256:   %s\n", c->sha256);
    }
    {
        int xa;
        const char *vf = valid_for(&r->certs[0], &xa);
        printf("  verdict:     %s: %s\n", s2s_trust_verdict_name(r->d->verdict), s2s_trust_verdict_text(r->d->verdict));
        if (r->d->verdict != S2S_TRUST_OK) {
            fputs("  why:         ", stdout);
            cli_put_text_str(stdout, r->d->detail);
            fputc('\n', stdout);
        }
        printf("  valid for:   %s\n", vf);
        printf("  xmppAddr:    %s\n", xa ? "present (ejabberd 23.01 crashes in SASL EXTERNAL on it; mod_s2s_trust works around that)"
                                          : "none (fine: DNS names identify XMPP servers)");
    }
}

static void json_cert(const cert_info_t *c, size_t der_len)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_key(stdout, "parsed", &first);
    fputs(c->x ? "true" : "false", stdout);
    cli_json_key(stdout, "der_bytes", &first);
    printf("%zu", der_len);
    if (c->x == NULL) {
        fputc('}', stdout);
        return;
    }
    cli_json_key(stdout, "subject", &first);
    cli_put_json_str(stdout, c->subject);
    cli_json_key(stdout, "issuer", &first);
    cli_put_json_str(stdout, c->issuer);
    cli_json_key(stdout, "not_before", &first);
    cli_put_json_str(stdout, c->not_before[0] ? c->not_before : NULL);
    cli_json_key(stdout, "not_after", &first);
    cli_put_json_str(stdout, c->not_after[0] ? c->not_after : NULL);
    cli_json_key(stdout, "key", &first);
    cli_put_json_str(stdout, c->key);
    cli_json_key(stdout, "sha256", &first);
    cli_put_json_str(stdout, c->sha256);
    cli_json_key(stdout, "names", &first);
    fputc('[', stdout);
    for (size_t k = 0; k < c->name_count; k++) {
        int f2 = 1;
        if (k)
            fputc(',', stdout);
        fputc('{', stdout);
        cli_json_key(stdout, "type", &f2);
        cli_put_json_str(stdout, s2s_trust_id_type_name(c->names[k].type));
        cli_json_key(stdout, "value", &f2);
        cli_put_json(stdout, c->names[k].value, c->names[k].len);
        fputc('}', stdout);
    }
    fputc(']', stdout);
    cli_json_key(stdout, "names_dropped", &first);
    printf("%zu", c->names_dropped);
    cli_json_key(stdout, "eku_present", &first);
    fputs(c->eku_present ? "true" : "false", stdout);
    cli_json_key(stdout, "server_auth", &first);
    fputs(c->server_auth ? "true" : "false", stdout);
    cli_json_key(stdout, "client_auth", &first);
    fputs(c->client_auth ? "true" : "false", stdout);
    cli_json_key(stdout, "is_ca", &first);
    fputs(c->is_ca ? "true" : "false", stdout);
    cli_json_key(stdout, "self_signed", &first);
    fputs(c->self_signed ? "true" : "false", stdout);
    fputc('}', stdout);
}

static void json_where(const attempt_t *a)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_key(stdout, "address", &first);
    cli_put_json_str(stdout, a->where.address);
    cli_json_key(stdout, "port", &first);
    printf("%u", (unsigned)a->where.port);
    cli_json_key(stdout, "mode", &first);
    cli_put_json_str(stdout, mode_name(a->where.mode));
    cli_json_key(stdout, "source", &first);
    cli_put_json_str(stdout, a->source);
    cli_json_key(stdout, "target", &first);
    cli_put_json_str(stdout, a->where.srv.target);
    if (a->where.from_srv) {
        cli_json_key(stdout, "srv_priority", &first);
        printf("%u", (unsigned)a->where.srv.priority);
        cli_json_key(stdout, "srv_weight", &first);
        printf("%u", (unsigned)a->where.srv.weight);
    }
    cli_json_key(stdout, "status", &first);
    cli_put_json_str(stdout, s2s_trust_probe_status_name(a->status));
    cli_json_key(stdout, "stage", &first);
    cli_put_json_str(stdout, a->stage);
    cli_json_key(stdout, "detail", &first);
    cli_put_json_str(stdout, a->detail);
    cli_json_key(stdout, "elapsed_ms", &first);
    printf("%u", a->elapsed_ms);
    fputc('}', stdout);
}

static void json_srv(const char *key, s2s_trust_srv_outcome_t oc, const s2s_trust_srv_t *recs, size_t n, int *first)
{
    int f2 = 1;

    cli_json_key(stdout, key, first);
    fputc('{', stdout);
    cli_json_key(stdout, "outcome", &f2);
    cli_put_json_str(stdout, s2s_trust_srv_outcome_name(oc));
    cli_json_key(stdout, "records", &f2);
    fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
        int f3 = 1;
        if (i)
            fputc(',', stdout);
        fputc('{', stdout);
        cli_json_key(stdout, "priority", &f3);
        printf("%u", (unsigned)recs[i].priority);
        cli_json_key(stdout, "weight", &f3);
        printf("%u", (unsigned)recs[i].weight);
        cli_json_key(stdout, "port", &f3);
        printf("%u", (unsigned)recs[i].port);
        cli_json_key(stdout, "target", &f3);
        cli_put_json_str(stdout, recs[i].target);
        fputc('}', stdout);
    }
    fputs("]}", stdout);
}

static void print_json(const report_t *r)
{
    const s2s_trust_probe_result_t *pr = r->pr;
    int first = 1;

    fputc('{', stdout);
    cli_json_key(stdout, "domain", &first);
    cli_put_json_str(stdout, r->domain);
    cli_json_key(stdout, "normalized_domain", &first);
    cli_put_json_str(stdout, r->norm);
    cli_json_key(stdout, "chain_captured", &first);
    fputs(r->d ? "true" : "false", stdout);
    cli_json_key(stdout, "probe_status", &first); /* of the last attempt */
    cli_put_json_str(stdout, r->attempt_count ? s2s_trust_probe_status_name(r->attempts[r->attempt_count - 1].status)
                                              : NULL);
    cli_json_key(stdout, "verdict", &first);
    cli_put_json_str(stdout, r->d ? s2s_trust_verdict_name(r->d->verdict) : NULL);
    cli_json_key(stdout, "trusted", &first);
    fputs(r->d && r->d->verdict == S2S_TRUST_OK ? "true" : "false", stdout);
    cli_json_key(stdout, "detail", &first);
    cli_put_json_str(stdout, r->d ? r->d->detail : NULL);
    cli_json_key(stdout, "resolution", &first);
    if (r->resolved) {
        int f2 = 1;
        fputc('{', stdout);
        json_srv("xmpps_server", r->res->xmpps, r->res->xmpps_srv, r->res->xmpps_count, &f2);
        json_srv("xmpp_server", r->res->xmpp, r->res->xmpp_srv, r->res->xmpp_count, &f2);
        cli_json_key(stdout, "fallback", &f2);
        fputs(r->res->fallback ? "true" : "false", stdout);
        cli_json_key(stdout, "notes", &f2);
        cli_put_json_str(stdout, r->res->notes);
        fputc('}', stdout);
    } else {
        fputs("null", stdout);
    }
    cli_json_key(stdout, "attempts", &first);
    fputc('[', stdout);
    for (size_t i = 0; i < r->attempt_count; i++) {
        if (i)
            fputc(',', stdout);
        json_where(&r->attempts[i]);
    }
    fputc(']', stdout);
    cli_json_key(stdout, "connected", &first);
    if (r->used)
        json_where(r->used);
    else
        fputs("null", stdout);
    if (r->d != NULL) {
        int f2 = 1, xa;
        const char *vf = valid_for(&r->certs[0], &xa);

        cli_json_key(stdout, "starttls_offered", &first);
        fputs(pr->starttls_offered ? "true" : "false", stdout);
        cli_json_key(stdout, "starttls_required", &first);
        fputs(pr->starttls_required ? "true" : "false", stdout);
        cli_json_key(stdout, "tls", &first);
        fputc('{', stdout);
        cli_json_key(stdout, "version", &f2);
        cli_put_json_str(stdout, pr->tls_version);
        cli_json_key(stdout, "cipher", &f2);
        cli_put_json_str(stdout, pr->cipher);
        cli_json_key(stdout, "alpn", &f2);
        cli_put_json_str(stdout, pr->alpn[0] ? pr->alpn : NULL);
        fputc('}', stdout);

        f2 = 1;
        cli_json_key(stdout, "chain_as_sent", &first);
        fputc('{', stdout);
        cli_json_key(stdout, "count", &f2);
        printf("%zu", r->shape->n);
        cli_json_key(stdout, "leaf_only", &f2);
        fputs(r->shape->n == 1 ? "true" : "false", stdout);
        cli_json_key(stdout, "intermediates_sent", &f2);
        printf("%zu", r->shape->intermediates_sent);
        cli_json_key(stdout, "in_order", &f2);
        fputs(r->shape->in_order ? "true" : "false", stdout);
        cli_json_key(stdout, "includes_root", &f2);
        fputs(r->shape->includes_root ? "true" : "false", stdout);
        cli_json_key(stdout, "extra", &f2);
        printf("%zu", r->shape->extra);
        cli_json_key(stdout, "duplicates", &f2);
        printf("%zu", r->shape->duplicates);
        cli_json_key(stdout, "incomplete", &f2);
        fputs(r->shape->missing ? "true" : "false", stdout);
        cli_json_key(stdout, "summary", &f2);
        cli_put_json_str(stdout, r->shape->summary);
        cli_json_key(stdout, "certificates", &f2);
        fputc('[', stdout);
        for (size_t i = 0; i < pr->chain_count; i++) {
            if (i)
                fputc(',', stdout);
            json_cert(&r->certs[i], pr->chain[i].len);
        }
        fputs("]}", stdout);

        f2 = 1;
        cli_json_key(stdout, "valid_for", &first);
        fputc('{', stdout);
        cli_json_key(stdout, "server_auth", &f2);
        fputs(r->certs[0].server_auth ? "true" : "false", stdout);
        cli_json_key(stdout, "client_auth", &f2);
        fputs(r->certs[0].client_auth ? "true" : "false", stdout);
        cli_json_key(stdout, "eku_present", &f2);
        fputs(r->certs[0].eku_present ? "true" : "false", stdout);
        cli_json_key(stdout, "xmpp_addr", &f2);
        fputs(xa ? "true" : "false", stdout);
        cli_json_key(stdout, "summary", &f2);
        cli_put_json_str(stdout, vf);
        fputc('}', stdout);

        cli_json_key(stdout, "verification", &first);
        f2 = 1;
        fputc('{', stdout);
        cli_json_key(stdout, "error_depth", &f2);
        if (r->d->error_depth >= 0)
            printf("%d", r->d->error_depth);
        else
            fputs("null", stdout);
        cli_json_key(stdout, "openssl_code", &f2);
        printf("%d", r->d->openssl_code);
        cli_json_key(stdout, "openssl_text", &f2);
        cli_put_json_str(stdout, r->d->openssl_code ? r->d->openssl_text : NULL);
        cli_json_key(stdout, "matched_by", &f2);
        cli_put_json_str(stdout, s2s_trust_id_type_name(r->d->matched_by));
        cli_json_key(stdout, "chain", &f2);
        fputc('[', stdout);
        for (size_t i = 0; i < r->d->chain_count; i++) {
            int f3 = 1;
            if (i)
                fputc(',', stdout);
            fputc('{', stdout);
            cli_json_key(stdout, "subject", &f3);
            cli_put_json_str(stdout, r->d->chain[i].subject);
            cli_json_key(stdout, "issuer", &f3);
            cli_put_json_str(stdout, r->d->chain[i].issuer);
            fputc('}', stdout);
        }
        fputs("]}", stdout);
    }
    fputs("}\n", stdout);
}

/* ---- the command ---------------------------------------------------------------------- */

/* "HOST:PORT", "[V6]:PORT" or "HOST" (port 5269) -> candidates. */
static int connect_candidates(const char *arg, int direct, s2s_trust_candidate_t *out, size_t max, size_t *count)
{
    char host[256];
    const char *colon;
    unsigned long port = 5269;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL, *ai;
    size_t hl;
    int rc;

    *count = 0;
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return -1;
        hl = (size_t)(close - arg - 1);
        colon = close[1] == ':' ? close + 1 : NULL;
        arg++;
    } else {
        colon = strrchr(arg, ':');
        if (colon != NULL && strchr(arg, ':') != colon)
            return -1; /* a bare IPv6 literal needs brackets */
        hl = colon ? (size_t)(colon - arg) : strlen(arg);
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, arg, hl);
    host[hl] = '\0';
    if (colon != NULL) {
        char *end;
        port = strtoul(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
            return -1;
    }
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "s2s-trust: --connect ");
        cli_put_text_str(stderr, host);
        fprintf(stderr, ": %s\n", gai_strerror(rc));
        return -2;
    }
    for (ai = res; ai != NULL && *count < max; ai = ai->ai_next) {
        s2s_trust_candidate_t *c = &out[*count];
        memset(c, 0, sizeof *c);
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, c->address, sizeof c->address, NULL, 0, NI_NUMERICHOST) != 0)
            continue;
        c->port = (uint16_t)port;
        c->mode = direct ? S2S_TRUST_PROBE_DIRECT_TLS : S2S_TRUST_PROBE_STARTTLS;
        c->srv.port = (uint16_t)port;
        snprintf(c->srv.target, sizeof c->srv.target, "%s", host);
        (*count)++;
    }
    freeaddrinfo(res);
    return 0;
}

int cli_cmd_probe(int argc, char **argv)
{
    static const struct option opts[] = {
        { "connect", required_argument, NULL, 'c' }, { "direct-tls", no_argument, NULL, 'd' },
        { "from", required_argument, NULL, 'f' },    { "config", required_argument, NULL, 'C' },
        { "json", no_argument, NULL, 'j' },          { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 }
    };
    const char *connect_to = NULL, *from = NULL, *config = NULL, *domain;
    int direct = 0, json = 0, opt, status;
    unsigned long timeout = S2S_TRUST_PROBE_TOTAL_MS_DEFAULT;
    char norm[S2S_TRUST_DOMAIN_MAX + 1], from_norm[S2S_TRUST_DOMAIN_MAX + 1] = "";
    s2s_trust_store_t *store = NULL;
    s2s_trust_resolution_t *res = calloc(1, sizeof *res);
    attempt_t *attempts = calloc(S2S_TRUST_RESOLVE_MAX, sizeof *attempts);
    size_t attempt_count = 0;
    s2s_trust_probe_result_t pr;
    s2s_trust_details_t d;
    cert_info_t certs[S2S_TRUST_PROBE_MAX_CHAIN];
    shape_t shape;
    report_t rep = { 0 };
    int have_details = 0;

    memset(&pr, 0, sizeof pr);
    memset(certs, 0, sizeof certs);
    if (res == NULL || attempts == NULL) {
        free(res);
        free(attempts);
        fprintf(stderr, "s2s-trust: out of memory\n");
        return EXIT_USAGE;
    }
    while ((opt = getopt_long(argc, argv, "c:df:C:jt:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': connect_to = optarg; break;
        case 'd': direct = 1; break;
        case 'f': from = optarg; break;
        case 'C': config = optarg; break;
        case 'j': json = 1; break;
        case 't': {
            char *end;
            timeout = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || timeout == 0 || timeout > S2S_TRUST_PROBE_TOTAL_MS_MAX) {
                status = cli_usage("--timeout: milliseconds, 1 to 60000");
                goto out;
            }
            break;
        }
        case 'h': fputs(cli_usage_text, stdout); status = EXIT_TRUSTED; goto out;
        default: status = cli_usage(NULL); goto out;
        }
    }
    if (optind != argc - 1) {
        status = cli_usage("probe needs exactly one DOMAIN");
        goto out;
    }
    domain = argv[optind];
    if (s2s_trust_identity_normalize(domain, strlen(domain), norm, sizeof norm) != 0) {
        status = cli_usage("probe: DOMAIN is not a usable domain name");
        goto out;
    }
    if (from != NULL && s2s_trust_identity_normalize(from, strlen(from), from_norm, sizeof from_norm) != 0) {
        status = cli_usage("probe: --from is not a usable domain name");
        goto out;
    }
    /* The store first: a configuration error should not wait for the network. */
    if (cli_load_store(config, NULL, &store) != 0) {
        status = EXIT_USAGE;
        goto out;
    }

    if (connect_to != NULL) {
        int rc = connect_candidates(connect_to, direct, res->items, S2S_TRUST_RESOLVE_MAX, &res->count);
        if (rc == -1) {
            status = cli_usage("--connect: HOST:PORT, [IPv6]:PORT or HOST");
            goto out;
        }
        if (rc != 0) {
            status = EXIT_USAGE;
            goto out;
        }
    } else {
        s2s_trust_resolve(norm, res);
        rep.resolved = 1;
        if (direct) { /* only what XEP-0368 publishes */
            size_t k = 0;
            for (size_t i = 0; i < res->count; i++)
                if (res->items[i].mode == S2S_TRUST_PROBE_DIRECT_TLS)
                    res->items[k++] = res->items[i];
            res->count = k;
        }
    }

    for (size_t i = 0; i < res->count; i++) {
        s2s_trust_probe_request_t req = {
            .domain = norm,
            .from = from_norm,
            .address = res->items[i].address,
            .port = res->items[i].port,
            .mode = res->items[i].mode,
            .total_ms = (unsigned)timeout,
            .connect_ms = timeout < S2S_TRUST_PROBE_CONNECT_MS_DEFAULT ? (unsigned)timeout : 0,
            .handshake_ms = timeout < S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT ? (unsigned)timeout : 0,
        };
        attempt_t *a = &attempts[attempt_count++];

        s2s_trust_probe_result_free(&pr);
        a->where = res->items[i];
        a->source = connect_to ? "connect" : res->items[i].from_srv ? "srv" : "fallback";
        s2s_trust_probe_run(&req, &pr);
        a->status = pr.status;
        a->stage = pr.stage;
        snprintf(a->detail, sizeof a->detail, "%s", pr.detail);
        a->elapsed_ms = pr.elapsed_ms;
        if (pr.status == S2S_TRUST_PROBE_OK) {
            rep.used = a;
            break;
        }
    }

    rep.domain = domain;
    rep.norm = norm;
    rep.res = res;
    rep.attempts = attempts;
    rep.attempt_count = attempt_count;
    rep.pr = &pr;
    if (rep.used != NULL) {
        int verdict = s2s_trust_verify_chain(store, norm, strlen(norm), pr.chain, pr.chain_count, &d);
        if (verdict < 0) {
            fprintf(stderr, "s2s-trust: out of memory\n");
            status = EXIT_USAGE;
            goto out;
        }
        have_details = 1;
        for (size_t i = 0; i < pr.chain_count; i++)
            cert_info(&pr.chain[i], &certs[i]);
        shape_of(certs, pr.chain_count, &d, &shape);
        rep.certs = certs;
        rep.shape = &shape;
        rep.d = &d;
    }
    if (json)
        print_json(&rep);
    else
        print_text(&rep);
    status = rep.d == NULL ? EXIT_NO_CHAIN : rep.d->verdict == S2S_TRUST_OK ? EXIT_TRUSTED : EXIT_REFUSED;

out:
    for (size_t i = 0; i < S2S_TRUST_PROBE_MAX_CHAIN; i++)
        cert_info_free(&certs[i]);
    if (have_details)
        s2s_trust_details_free(&d);
    s2s_trust_probe_result_free(&pr);
    s2s_trust_store_release(store);
    free(res);
    free(attempts);
    ERR_clear_error();
    return status;
}
