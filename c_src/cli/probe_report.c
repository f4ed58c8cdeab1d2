/*
 * probe_report.c - printing what `s2s-trust probe` found (probe_report.h):
 * resolution, attempts, the connection, each certificate, the chain's shape,
 * the verdict, and what DANE and POSH say, as text or as one JSON object.
 *
 * Everything printed that came from the peer (certificate fields, SRV
 * targets, stream errors) goes through cli_put_text / cli_put_json.
 */
#include "cli/probe_report.h"

#include <stdio.h>
#include <string.h>

#include "cli/dane_posh_out.h"
#include "cli/details.h"
#include "cli/out.h"
#include "core/s2s_trust_identity.h"

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

static const char *mode_name(s2s_trust_tls_mode_t m)
{
    return m == S2S_TRUST_TLS_MODE_DIRECT_TLS ? "direct-tls" : "starttls";
}

static void put_where_text(const attempt_t *a)
{
    int v6 = strchr(a->where.address, ':') != NULL;
    printf("%s%s%s:%u %s", v6 ? "[" : "", a->where.address, v6 ? "]" : "", (unsigned)a->where.port,
           mode_name(a->where.mode));
    if (a->where.from_srv) {
        printf(" (SRV _%s._tcp: priority %u weight %u target ",
               a->where.mode == S2S_TRUST_TLS_MODE_DIRECT_TLS ? "xmpps-server" : "xmpp-server",
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

/* ---- text ---------------------------------------------------------------- */

/* "DOMAIN: ok", "DOMAIN: refused: REASON (detail)" or "DOMAIN: no chain: ...";
 * when DANE or POSH decided otherwise than PKIX, what decided and what
 * PKIX said. */
static void text_headline(const report_t *r)
{
    const cli_judged_t *j = r->judged;
    const char *pkix = r->d ? s2s_trust_verdict_name(r->d->verdict) : NULL;

    if (j != NULL && strcmp(j->by, j->accepted ? "pkix" : pkix) != 0) {
        cli_put_text_str(stdout, r->domain);
        printf(": %s%s (PKIX alone: %s)\n", j->accepted ? "ok by " : "refused: ", j->by, pkix);
        return;
    }
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
}

static void text_resolution(const report_t *r)
{
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

static void text_attempts(const report_t *r)
{
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
}

/* Where the chain came from and how the TLS session went. */
static void text_connection(const report_t *r)
{
    const s2s_trust_probe_result_t *pr = r->pr;

    fputs("  connected:   ", stdout);
    put_where_text(r->used);
    if (r->used->where.mode == S2S_TRUST_TLS_MODE_STARTTLS)
        printf(", STARTTLS %s", pr->starttls_required ? "required" : "offered (optional)");
    fputc('\n', stdout);
    printf("  tls:         %s %s, ALPN %s\n", pr->tls_version, pr->cipher, pr->alpn[0] ? pr->alpn : "none");
}

/* Certificate [i] of the chain as sent. */
static void text_cert(size_t i, const cert_info_t *c, size_t der_len)
{
    printf("  [%zu] subject:  ", i);
    if (c->x == NULL) {
        printf("(does not parse, %zu bytes)\n", der_len);
        return;
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

/* The verdict, why, and what the leaf is good for. */
static void text_verdict(const report_t *r)
{
    int xa;
    const char *vf = probe_valid_for(&r->certs[0], &xa);

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

void probe_print_text(const report_t *r)
{
    text_headline(r);
    if (r->resolved)
        text_resolution(r);
    text_attempts(r);
    if (r->d == NULL)
        return;
    text_connection(r);
    fputs("  chain as sent: ", stdout);
    cli_put_text_str(stdout, r->shape->summary);
    fputc('\n', stdout);
    for (size_t i = 0; i < r->pr->chain_count; i++)
        text_cert(i, &r->certs[i], r->pr->chain[i].len);
    text_verdict(r);
    cli_vouch_text(r->found, r->judged);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_cert(const cert_info_t *c, size_t der_len)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_bool(stdout, "parsed", c->x != NULL, &first);
    cli_json_key(stdout, "der_bytes", &first);
    printf("%zu", der_len);
    if (c->x == NULL) {
        fputc('}', stdout);
        return;
    }
    cli_json_str(stdout, "subject", c->subject, &first);
    cli_json_str(stdout, "issuer", c->issuer, &first);
    cli_json_str(stdout, "not_before", c->not_before[0] ? c->not_before : NULL, &first);
    cli_json_str(stdout, "not_after", c->not_after[0] ? c->not_after : NULL, &first);
    cli_json_str(stdout, "key", c->key, &first);
    cli_json_str(stdout, "sha256", c->sha256, &first);
    cli_json_key(stdout, "names", &first);
    cli_json_names(stdout, c->names, c->name_count);
    cli_json_key(stdout, "names_dropped", &first);
    printf("%zu", c->names_dropped);
    cli_json_bool(stdout, "eku_present", c->eku_present, &first);
    cli_json_bool(stdout, "server_auth", c->server_auth, &first);
    cli_json_bool(stdout, "client_auth", c->client_auth, &first);
    cli_json_bool(stdout, "is_ca", c->is_ca, &first);
    cli_json_bool(stdout, "self_signed", c->self_signed, &first);
    fputc('}', stdout);
}

static void json_where(const attempt_t *a)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_str(stdout, "address", a->where.address, &first);
    cli_json_key(stdout, "port", &first);
    printf("%u", (unsigned)a->where.port);
    cli_json_str(stdout, "mode", mode_name(a->where.mode), &first);
    cli_json_str(stdout, "source", a->source, &first);
    cli_json_str(stdout, "target", a->where.srv.target, &first);
    if (a->where.from_srv) {
        cli_json_key(stdout, "srv_priority", &first);
        printf("%u", (unsigned)a->where.srv.priority);
        cli_json_key(stdout, "srv_weight", &first);
        printf("%u", (unsigned)a->where.srv.weight);
    }
    cli_json_str(stdout, "status", s2s_trust_probe_status_name(a->status), &first);
    cli_json_str(stdout, "stage", a->stage, &first);
    cli_json_str(stdout, "detail", a->detail, &first);
    cli_json_key(stdout, "elapsed_ms", &first);
    printf("%u", a->elapsed_ms);
    fputc('}', stdout);
}

static void json_srv(const char *key, s2s_trust_srv_outcome_t oc, const s2s_trust_srv_t *recs, size_t n, int *first)
{
    int f2 = 1;

    cli_json_key(stdout, key, first);
    fputc('{', stdout);
    cli_json_str(stdout, "outcome", s2s_trust_srv_outcome_name(oc), &f2);
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
        cli_json_str(stdout, "target", recs[i].target, &f3);
        fputc('}', stdout);
    }
    fputs("]}", stdout);
}

/* "resolution" (null with --connect), "attempts" and "connected". */
static void json_where_tried(const report_t *r, int *first)
{
    cli_json_key(stdout, "resolution", first);
    if (r->resolved) {
        int f2 = 1;
        fputc('{', stdout);
        json_srv("xmpps_server", r->res->xmpps, r->res->xmpps_srv, r->res->xmpps_count, &f2);
        json_srv("xmpp_server", r->res->xmpp, r->res->xmpp_srv, r->res->xmpp_count, &f2);
        cli_json_bool(stdout, "fallback", r->res->fallback, &f2);
        cli_json_str(stdout, "notes", r->res->notes, &f2);
        fputc('}', stdout);
    } else {
        fputs("null", stdout);
    }
    cli_json_key(stdout, "attempts", first);
    fputc('[', stdout);
    for (size_t i = 0; i < r->attempt_count; i++) {
        if (i)
            fputc(',', stdout);
        json_where(&r->attempts[i]);
    }
    fputc(']', stdout);
    cli_json_key(stdout, "connected", first);
    if (r->used)
        json_where(r->used);
    else
        fputs("null", stdout);
}

/* "starttls_offered", "starttls_required" and "tls". */
static void json_tls(const s2s_trust_probe_result_t *pr, int *first)
{
    int f2 = 1;

    cli_json_bool(stdout, "starttls_offered", pr->starttls_offered, first);
    cli_json_bool(stdout, "starttls_required", pr->starttls_required, first);
    cli_json_key(stdout, "tls", first);
    fputc('{', stdout);
    cli_json_str(stdout, "version", pr->tls_version, &f2);
    cli_json_str(stdout, "cipher", pr->cipher, &f2);
    cli_json_str(stdout, "alpn", pr->alpn[0] ? pr->alpn : NULL, &f2);
    fputc('}', stdout);
}

static void json_chain_as_sent(const report_t *r, int *first)
{
    const shape_t *s = r->shape;
    int f2 = 1;

    cli_json_key(stdout, "chain_as_sent", first);
    fputc('{', stdout);
    cli_json_key(stdout, "count", &f2);
    printf("%zu", s->n);
    cli_json_bool(stdout, "leaf_only", s->n == 1, &f2);
    cli_json_key(stdout, "intermediates_sent", &f2);
    printf("%zu", s->intermediates_sent);
    cli_json_bool(stdout, "in_order", s->in_order, &f2);
    cli_json_bool(stdout, "includes_root", s->includes_root, &f2);
    cli_json_key(stdout, "extra", &f2);
    printf("%zu", s->extra);
    cli_json_key(stdout, "duplicates", &f2);
    printf("%zu", s->duplicates);
    cli_json_bool(stdout, "incomplete", s->missing, &f2);
    cli_json_str(stdout, "summary", s->summary, &f2);
    cli_json_key(stdout, "certificates", &f2);
    fputc('[', stdout);
    for (size_t i = 0; i < r->pr->chain_count; i++) {
        if (i)
            fputc(',', stdout);
        json_cert(&r->certs[i], r->pr->chain[i].len);
    }
    fputs("]}", stdout);
}

/* "valid_for" (the leaf's purposes) and "verification". */
static void json_verdict(const report_t *r, int *first)
{
    const cert_info_t *leaf = &r->certs[0];
    int f2 = 1, xa;
    const char *vf = probe_valid_for(leaf, &xa);

    cli_json_key(stdout, "valid_for", first);
    fputc('{', stdout);
    cli_json_bool(stdout, "server_auth", leaf->server_auth, &f2);
    cli_json_bool(stdout, "client_auth", leaf->client_auth, &f2);
    cli_json_bool(stdout, "eku_present", leaf->eku_present, &f2);
    cli_json_bool(stdout, "xmpp_addr", xa, &f2);
    cli_json_str(stdout, "summary", vf, &f2);
    fputc('}', stdout);

    cli_json_key(stdout, "verification", first);
    f2 = 1;
    fputc('{', stdout);
    cli_json_openssl_error(stdout, r->d, &f2);
    cli_json_str(stdout, "matched_by", s2s_trust_id_type_name(r->d->matched_by), &f2);
    cli_json_key(stdout, "chain", &f2);
    cli_json_chain(stdout, r->d);
    fputc('}', stdout);
}

void probe_print_json(const report_t *r)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_str(stdout, "domain", r->domain, &first);
    cli_json_str(stdout, "normalized_domain", r->norm, &first);
    cli_json_bool(stdout, "chain_captured", r->d != NULL, &first);
    cli_json_str(stdout, "probe_status", /* of the last attempt */
                 r->attempt_count ? s2s_trust_probe_status_name(r->attempts[r->attempt_count - 1].status) : NULL,
                 &first);
    cli_json_str(stdout, "verdict", r->d ? s2s_trust_verdict_name(r->d->verdict) : NULL, &first);
    cli_json_bool(stdout, "trusted", r->d && r->d->verdict == S2S_TRUST_OK, &first);
    cli_json_str(stdout, "detail", r->d ? r->d->detail : NULL, &first);
    json_where_tried(r, &first);
    if (r->d != NULL) {
        json_tls(r->pr, &first);
        json_chain_as_sent(r, &first);
        json_verdict(r, &first);
        cli_vouch_json(r->found, r->judged, &first);
    }
    fputs("}\n", stdout);
}
