/*
 * dane.c - `s2s-trust dane DOMAIN`: the DNSSEC-validated TLSA records a
 * federating server finds for DOMAIN (RFC 7673, s2s_trust_dnssec.h) and,
 * with --chain, whether a certificate chain matches them
 * (s2s_trust_dane_verify): the same two steps the module takes, so an
 * operator can check a deployment before a peer tries it.
 *
 * The decision mirrors the module's `opportunistic` policy: a bogus answer
 * refuses; published, usable records must match (any target's); with no
 * usable record, or an insecure answer, PKIX alone decides.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/chain_file.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "core/s2s_trust_dane.h"
#include "core/s2s_trust_verdict.h"
#include "net/s2s_trust_dnssec.h"

#define TIMEOUT_MS_DEFAULT 5000 /* the module's dane_timeout default */

typedef struct {
    const char *domain, *unbound_conf, *trust_anchor, *chain, *config;
    unsigned long timeout; /* ms: the lookup's deadline, all of it */
    int json;
} dane_opts_t;

/* What --chain gave, per target and overall. */
typedef struct {
    int have[S2S_TRUST_DANE_MAX_TARGETS];
    s2s_trust_dane_result_t res[S2S_TRUST_DANE_MAX_TARGETS];
    const char *overall; /* "accepted", "refused", "insecure", "secure", "error" */
    const char *by;      /* outcome or verdict name that decided */
    const char *target;  /* the target that decided, or NULL */
    int status;
} decision_t;

static int parse_options(int argc, char **argv, dane_opts_t *o)
{
    static const struct option opts[] = {
        { "unbound-conf", required_argument, NULL, 'u' }, { "trust-anchor", required_argument, NULL, 'a' },
        { "chain", required_argument, NULL, 'c' },        { "config", required_argument, NULL, 'C' },
        { "json", no_argument, NULL, 'j' },               { "help", no_argument, NULL, 'h' },
        { "timeout", required_argument, NULL, 't' },      { NULL, 0, NULL, 0 }
    };
    char *end;
    int opt;

    memset(o, 0, sizeof *o);
    o->timeout = TIMEOUT_MS_DEFAULT;
    while ((opt = getopt_long(argc, argv, "u:a:c:C:jt:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'u': o->unbound_conf = optarg; break;
        case 'a': o->trust_anchor = optarg; break;
        case 'c': o->chain = optarg; break;
        case 'C': o->config = optarg; break;
        case 'j': o->json = 1; break;
        case 't':
            o->timeout = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || o->timeout == 0 ||
                o->timeout > S2S_TRUST_DNSSEC_MAX_DEADLINE_MS)
                return cli_usage("--timeout: milliseconds, 1 to 600000");
            break;
        case 'h': return cli_help();
        default: return cli_usage(NULL);
        }
    }
    if (optind != argc - 1)
        return cli_usage("dane needs exactly one DOMAIN");
    o->domain = argv[optind];
    return CLI_GO_ON;
}

static int has_records(const s2s_trust_dane_target_t *t)
{
    return t->status == S2S_TRUST_DNSSEC_SECURE && t->n_records > 0;
}

static void decide(const char *overall, const char *by, const char *target, int status, decision_t *d)
{
    d->overall = overall;
    d->by = by;
    d->target = target;
    d->status = status;
}

/* Match the chain against every target's records, then decide (top of file).
 * 0, or -1 when memory runs out. */
static int match_chain(const s2s_trust_store_t *store, const dane_opts_t *o, const s2s_trust_dane_lookup_t *l,
                       const cli_chain_file_t *c, decision_t *d)
{
    const s2s_trust_dane_result_t *first_usable = NULL;
    const char *first_target = NULL;
    s2s_trust_dane_result_t pkix;

    for (size_t i = 0; l->status == S2S_TRUST_DNSSEC_SECURE && i < l->n_targets; i++) {
        const s2s_trust_dane_target_t *t = &l->targets[i];
        s2s_trust_dane_outcome_t oc;

        if (!has_records(t))
            continue;
        if (s2s_trust_dane_verify(store, o->domain, strlen(o->domain), l->srv_found ? t->host : NULL, c->der, c->n,
                                  t->records, t->n_records, &d->res[i]) != 0)
            return -1;
        d->have[i] = 1;
        oc = d->res[i].outcome;
        if (d->overall == NULL &&
            (oc == S2S_TRUST_DANE_EE || oc == S2S_TRUST_DANE_TA || oc == S2S_TRUST_DANE_PKIX))
            decide("accepted", s2s_trust_dane_outcome_name(oc), t->host, EXIT_TRUSTED, d);
        if (first_usable == NULL && d->res[i].usable > 0) {
            first_usable = &d->res[i];
            first_target = t->host;
        }
    }
    if (d->overall != NULL)
        return 0;
    if (first_usable != NULL) {
        decide("refused",
               first_usable->outcome == S2S_TRUST_DANE_MISMATCH ? "dane_mismatch"
                                                                 : s2s_trust_verdict_name(first_usable->verdict),
               first_target, EXIT_REFUSED, d);
        return 0;
    }
    /* No usable record anywhere (or an insecure answer): PKIX alone. */
    if (s2s_trust_dane_verify(store, o->domain, strlen(o->domain), NULL, c->der, c->n, NULL, 0, &pkix) != 0)
        return -1;
    if (pkix.verdict == S2S_TRUST_OK)
        decide("accepted", "pkix", NULL, EXIT_TRUSTED, d);
    else
        decide("refused", s2s_trust_verdict_name(pkix.verdict), NULL, EXIT_REFUSED, d);
    return 0;
}

/* The decision without a chain: what the answer means. */
static void decide_lookup(const s2s_trust_dane_lookup_t *l, decision_t *d)
{
    switch (l->status) {
    case S2S_TRUST_DNSSEC_BOGUS: decide("refused", "dnssec_bogus", NULL, EXIT_REFUSED, d); break;
    case S2S_TRUST_DNSSEC_ERROR: decide("error", "dns_error", NULL, EXIT_USAGE, d); break;
    case S2S_TRUST_DNSSEC_INSECURE: decide("insecure", "pkix", NULL, EXIT_TRUSTED, d); break;
    case S2S_TRUST_DNSSEC_SECURE: decide("secure", "dane", NULL, EXIT_TRUSTED, d); break;
    }
}

static void put_hex(FILE *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", p[i]);
}

/* A target as the resolver gives it: a host name, or the escaped bytes of
 * an SRV target that is none (s2s_trust_dns_rdata.h), printable either
 * way; escaped again only if that ever stops being true. */
static void put_host(const char *h)
{
    for (const char *p = h; *p; p++)
        if (*p < 0x20 || *p > 0x7e) {
            cli_put_text_str(stdout, h);
            return;
        }
    fputs(h, stdout);
}

static void print_text(const dane_opts_t *o, const s2s_trust_dane_lookup_t *l, const decision_t *d)
{
    fputs("domain: ", stdout);
    cli_put_text_str(stdout, o->domain);
    printf("\ndnssec: %s", s2s_trust_dnssec_status_name(l->status));
    if (l->why[0] != '\0') {
        fputs(" (", stdout);
        cli_put_text_str(stdout, l->why);
        fputc(')', stdout);
    }
    printf("\nsrv: %s\n", l->srv_found ? "secure records" : l->n_targets > 0 ? "none, _5269._tcp.DOMAIN" : "-");
    for (size_t i = 0; i < l->n_targets; i++) {
        const s2s_trust_dane_target_t *t = &l->targets[i];
        fputs("target: ", stdout);
        put_host(t->host);
        printf(" port %u tlsa %s, %zu record(s)\n", t->port, s2s_trust_dnssec_status_name(t->status), t->n_records);
        for (size_t k = 0; k < t->n_records; k++) {
            printf("  tlsa: %u %u %u ", t->records[k].usage, t->records[k].selector, t->records[k].mtype);
            put_hex(stdout, t->records[k].data, t->records[k].len);
            fputc('\n', stdout);
        }
        if (d->have[i]) {
            const s2s_trust_dane_result_t *r = &d->res[i];
            printf("  match: %s (usable %d", s2s_trust_dane_outcome_name(r->outcome), r->usable);
            if (r->match_depth >= 0)
                printf(", usage %u at depth %d", r->match_usage, r->match_depth);
            printf("), verdict %s\n", s2s_trust_verdict_name(r->verdict));
        }
    }
    printf("overall: %s by %s", d->overall, d->by);
    if (d->target != NULL) {
        fputs(" (", stdout);
        put_host(d->target);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
}

static void print_json(const dane_opts_t *o, const s2s_trust_dane_lookup_t *l, const decision_t *d)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_str(stdout, "domain", o->domain, &first);
    cli_json_str(stdout, "dnssec", s2s_trust_dnssec_status_name(l->status), &first);
    cli_json_str(stdout, "why", l->why[0] ? l->why : NULL, &first);
    cli_json_bool(stdout, "srv_found", l->srv_found, &first);
    cli_json_key(stdout, "targets", &first);
    fputc('[', stdout);
    for (size_t i = 0; i < l->n_targets; i++) {
        const s2s_trust_dane_target_t *t = &l->targets[i];
        int tf = 1;
        fputs(i ? ",{" : "{", stdout);
        cli_json_str(stdout, "host", t->host, &tf);
        cli_json_key(stdout, "port", &tf);
        printf("%u", t->port);
        cli_json_str(stdout, "tlsa", s2s_trust_dnssec_status_name(t->status), &tf);
        cli_json_key(stdout, "records", &tf);
        fputc('[', stdout);
        for (size_t k = 0; k < t->n_records; k++) {
            printf("%s{\"usage\":%u,\"selector\":%u,\"mtype\":%u,\"data\":\"", k ? "," : "", t->records[k].usage,
                   t->records[k].selector, t->records[k].mtype);
            put_hex(stdout, t->records[k].data, t->records[k].len);
            fputs("\"}", stdout);
        }
        fputc(']', stdout);
        if (d->have[i]) {
            const s2s_trust_dane_result_t *r = &d->res[i];
            printf(",\"match\":{\"outcome\":\"%s\",\"verdict\":\"%s\",\"usable\":%d,\"depth\":%d,\"usage\":%u}",
                   s2s_trust_dane_outcome_name(r->outcome), s2s_trust_verdict_name(r->verdict), r->usable,
                   r->match_depth, r->match_usage);
        }
        fputc('}', stdout);
    }
    fputc(']', stdout);
    cli_json_str(stdout, "overall", d->overall, &first);
    cli_json_str(stdout, "by", d->by, &first);
    cli_json_str(stdout, "decided_by_target", d->target, &first);
    fputs("}\n", stdout);
}

int cli_cmd_dane(int argc, char **argv)
{
    dane_opts_t o;
    s2s_trust_store_t *store = NULL;
    s2s_trust_dnssec_t *res = NULL;
    s2s_trust_dane_lookup_t *l = calloc(1, sizeof *l);
    decision_t *d = calloc(1, sizeof *d);
    cli_chain_file_t chain = { 0 };
    char err[512];
    int status = parse_options(argc, argv, &o);

    if (l == NULL || d == NULL) {
        fprintf(stderr, "s2s-trust: out of memory\n");
        status = EXIT_USAGE;
    }
    /* Local mistakes first: they should not wait for the network. */
    if (status == CLI_GO_ON && o.chain != NULL &&
        (cli_chain_file_read(o.chain, &chain) != 0 || cli_load_store(o.config, NULL, &store) != 0))
        status = EXIT_USAGE;
    if (status == CLI_GO_ON && (res = s2s_trust_dnssec_new(o.unbound_conf, o.trust_anchor, 1, 0, err, sizeof err)) == NULL) {
        fputs("s2s-trust: ", stderr);
        cli_put_text_str(stderr, err);
        fputc('\n', stderr);
        status = EXIT_USAGE;
    }
    if (status == CLI_GO_ON &&
        s2s_trust_dnssec_lookup(res, o.domain, strlen(o.domain), 5269, (unsigned)o.timeout, l) != 0) {
        fprintf(stderr, "s2s-trust: out of memory\n");
        status = EXIT_USAGE;
    }
    if (status == CLI_GO_ON) {
        if (o.chain == NULL || l->status == S2S_TRUST_DNSSEC_BOGUS || l->status == S2S_TRUST_DNSSEC_ERROR)
            decide_lookup(l, d);
        else if (match_chain(store, &o, l, &chain, d) != 0)
            decide("error", "out of memory", NULL, EXIT_USAGE, d);
        if (o.json)
            print_json(&o, l, d);
        else
            print_text(&o, l, d);
        status = d->status;
    }
    if (l != NULL)
        s2s_trust_dane_lookup_clear(l);
    s2s_trust_dnssec_free(res);
    s2s_trust_store_release(store);
    cli_chain_file_free(&chain);
    free(l);
    free(d);
    ERR_clear_error();
    return status;
}
