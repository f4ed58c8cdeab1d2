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
#include "cli/dane_posh.h"
#include "cli/dane_posh_out.h"
#include "cli/out.h"
#include "core/s2s_trust_dane.h"
#include "core/s2s_trust_verdict.h"
#include "net/s2s_trust_dnssec.h"

typedef struct {
    const char *domain, *chain, *config;
    cli_dane_opts_t dns;
    int json;
} dane_opts_t;

/* What --chain gave, per target (the match) and overall. */
typedef struct {
    cli_dane_match_t m;
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
    unsigned long ms;
    char *end;
    int opt;

    memset(o, 0, sizeof *o);
    o->dns.timeout_ms = CLI_DANE_TIMEOUT_MS_DEFAULT;
    while ((opt = getopt_long(argc, argv, "u:a:c:C:jt:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'u': o->dns.unbound_conf = optarg; break;
        case 'a': o->dns.trust_anchor = optarg; break;
        case 'c': o->chain = optarg; break;
        case 'C': o->config = optarg; break;
        case 'j': o->json = 1; break;
        case 't':
            ms = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || ms == 0 || ms > S2S_TRUST_DNSSEC_MAX_DEADLINE_MS)
                return cli_usage("--timeout: milliseconds, 1 to 600000");
            o->dns.timeout_ms = (unsigned)ms;
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

static void decide(const char *overall, const char *by, const char *target, int status, decision_t *d)
{
    d->overall = overall;
    d->by = by;
    d->target = target;
    d->status = status;
}

/* Match the chain against every target's records (dane_posh.h), then
 * decide (top of file). 0, or -1 when memory runs out. */
static int match_chain(const s2s_trust_store_t *store, const dane_opts_t *o, const s2s_trust_dane_lookup_t *l,
                       const cli_chain_file_t *c, decision_t *d)
{
    s2s_trust_dane_result_t pkix;

    if (cli_dane_match(store, o->domain, l, -1, c->der, c->n, &d->m) != 0)
        return -1;
    if (d->m.said != CLI_DANE_NO_RECORDS) {
        decide(d->m.said == CLI_DANE_ACCEPTED ? "accepted" : "refused", d->m.by, d->m.target,
               d->m.said == CLI_DANE_ACCEPTED ? EXIT_TRUSTED : EXIT_REFUSED, d);
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
    cli_dane_targets_text("", l, &d->m);
    printf("overall: %s by %s", d->overall, d->by);
    if (d->target != NULL) {
        fputs(" (", stdout);
        cli_put_target(stdout, d->target);
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
    cli_dane_targets_json(l, &d->m);
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
    if (status == CLI_GO_ON && (res = cli_dane_resolver(&o.dns, err, sizeof err)) == NULL)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON &&
        s2s_trust_dnssec_lookup(res, o.domain, strlen(o.domain), 5269, o.dns.timeout_ms, l) != 0) {
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
