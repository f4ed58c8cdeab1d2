/*
 * probe.c - `s2s-trust probe DOMAIN`, the command's flow: read the options,
 * find where a federating server would connect (or --connect), try each
 * place until one yields the chain the server sends, verify it with the
 * same core as `check`, look up what the domain publishes for it (its TLSA
 * records for the target probed, its POSH document: dane_posh.h, unless
 * --no-dane / --no-posh), and hand everything to the report
 * (probe_report.h), which tells the operator what to fix.
 */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "cli/cli.h"
#include "cli/dane_posh.h"
#include "cli/out.h"
#include "cli/probe_chain.h"
#include "cli/probe_report.h"
#include "core/s2s_trust_identity.h"
#include "core/s2s_trust_verify.h"
#include "net/s2s_trust_probe.h"
#include "net/s2s_trust_resolve.h"

/* The command line, read. */
typedef struct {
    const char *connect_to, *from, *config, *domain;
    int direct, json;
    unsigned long timeout;
    char norm[S2S_TRUST_DOMAIN_MAX + 1], from_norm[S2S_TRUST_DOMAIN_MAX + 1];
    cli_vouch_opts_t v; /* its --resolve entries also serve --connect */
} probe_opts_t;

/* CLI_GO_ON, or the exit status after printing the usage (or the help). */
static int parse_options(int argc, char **argv, probe_opts_t *o)
{
    static const struct option opts[] = {
        { "connect", required_argument, NULL, 'c' }, { "direct-tls", no_argument, NULL, 'd' },
        { "from", required_argument, NULL, 'f' },    { "config", required_argument, NULL, 'C' },
        { "json", no_argument, NULL, 'j' },          { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },          { "no-dane", no_argument, NULL, CLI_OPT_NO_DANE },
        { "no-posh", no_argument, NULL, CLI_OPT_NO_POSH }, CLI_VOUCH_LONG_OPTIONS, { NULL, 0, NULL, 0 }
    };
    int opt, st;

    memset(o, 0, sizeof *o);
    o->timeout = S2S_TRUST_PROBE_TOTAL_MS_DEFAULT;
    cli_vouch_opts_init(&o->v);
    while ((opt = getopt_long(argc, argv, "c:df:C:jt:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->connect_to = optarg; break;
        case 'd': o->direct = 1; break;
        case 'f': o->from = optarg; break;
        case 'C': o->config = optarg; break;
        case 'j': o->json = 1; break;
        case 't': {
            char *end;
            o->timeout = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->timeout == 0 || o->timeout > S2S_TRUST_PROBE_TOTAL_MS_MAX)
                return cli_usage("--timeout: milliseconds, 1 to 60000");
            break;
        }
        case 'h': return cli_help();
        default:
            if ((st = cli_vouch_option(opt, optarg, &o->v)) != CLI_GO_ON)
                return st;
        }
    }
    if (optind != argc - 1)
        return cli_usage("probe needs exactly one DOMAIN");
    o->domain = argv[optind];
    if (s2s_trust_identity_normalize(o->domain, strlen(o->domain), o->norm, sizeof o->norm) != 0)
        return cli_usage("probe: DOMAIN is not a usable domain name");
    if (o->from != NULL &&
        s2s_trust_identity_normalize(o->from, strlen(o->from), o->from_norm, sizeof o->from_norm) != 0)
        return cli_usage("probe: --from is not a usable domain name");
    return CLI_GO_ON;
}

/* The ADDR of a --resolve HOST:PORT:ADDR for host and port (curl's form,
 * [V6] allowed) into addr, or 0 when none names them. */
static int resolve_override(const s2s_trust_posh_fetch_opts_t *map, const char *host, unsigned long port, char *addr,
                            size_t cap)
{
    for (size_t i = 0; i < map->n_resolve; i++) {
        const char *e = map->resolve[i], *c1 = strchr(e, ':'), *a;
        size_t hl = (size_t)(c1 - e), al;

        if (hl != strlen(host) || strncasecmp(e, host, hl) != 0 || strtoul(c1 + 1, NULL, 10) != port)
            continue;
        a = strchr(c1 + 1, ':') + 1;
        al = strlen(a);
        if (a[0] == '[' && al > 2 && a[al - 1] == ']') {
            a++;
            al -= 2;
        }
        if (al >= cap)
            return 0;
        memcpy(addr, a, al);
        addr[al] = '\0';
        return 1;
    }
    return 0;
}

/* "HOST:PORT", "[V6]:PORT" or "HOST" (port 5269) -> candidates; HOST may
 * be mapped to an address by --resolve, and stays the target named. */
static int connect_candidates(const char *arg, int direct, const s2s_trust_posh_fetch_opts_t *map,
                              s2s_trust_candidate_t *out, size_t max, size_t *count)
{
    char host[256], addr[256];
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
    if (!resolve_override(map, host, port, addr, sizeof addr))
        memcpy(addr, host, sizeof addr);
    rc = getaddrinfo(addr, NULL, &hints, &res);
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
        c->mode = direct ? S2S_TRUST_TLS_MODE_DIRECT_TLS : S2S_TRUST_TLS_MODE_STARTTLS;
        c->srv.port = (uint16_t)port;
        snprintf(c->srv.target, sizeof c->srv.target, "%s", host);
        (*count)++;
    }
    freeaddrinfo(res);
    return 0;
}

/* Where to try: --connect's addresses, or what DNS says (with --direct-tls
 * only what XEP-0368 publishes). CLI_GO_ON, or the exit status. */
static int find_candidates(const probe_opts_t *o, s2s_trust_resolution_t *res, int *resolved)
{
    if (o->connect_to != NULL) {
        int rc = connect_candidates(o->connect_to, o->direct, &o->v.fetch, res->items, S2S_TRUST_RESOLVE_MAX, &res->count);
        if (rc == -1)
            return cli_usage("--connect: HOST:PORT, [IPv6]:PORT or HOST");
        return rc != 0 ? EXIT_USAGE : CLI_GO_ON;
    }
    s2s_trust_resolve(o->norm, res);
    *resolved = 1;
    if (o->direct) {
        size_t k = 0;
        for (size_t i = 0; i < res->count; i++)
            if (res->items[i].mode == S2S_TRUST_TLS_MODE_DIRECT_TLS)
                res->items[k++] = res->items[i];
        res->count = k;
    }
    return CLI_GO_ON;
}

/* Probe each candidate in turn until one yields a chain: that attempt, or
 * NULL. *pr holds the last attempt's result. */
static const attempt_t *run_attempts(const probe_opts_t *o, const s2s_trust_resolution_t *res, attempt_t *attempts,
                                     size_t *count, s2s_trust_probe_result_t *pr)
{
    for (size_t i = 0; i < res->count; i++) {
        s2s_trust_probe_request_t req = {
            .domain = o->norm,
            .from = o->from_norm,
            .address = res->items[i].address,
            .port = res->items[i].port,
            .mode = res->items[i].mode,
            .total_ms = (unsigned)o->timeout,
            .connect_ms = o->timeout < S2S_TRUST_PROBE_CONNECT_MS_DEFAULT ? (unsigned)o->timeout : 0,
            .handshake_ms = o->timeout < S2S_TRUST_PROBE_HANDSHAKE_MS_DEFAULT ? (unsigned)o->timeout : 0,
        };
        attempt_t *a = &attempts[(*count)++];

        s2s_trust_probe_result_free(pr);
        a->where = res->items[i];
        a->source = o->connect_to ? "connect" : res->items[i].from_srv ? "srv" : "fallback";
        s2s_trust_probe_run(&req, pr);
        a->status = pr->status;
        a->stage = pr->stage;
        snprintf(a->detail, sizeof a->detail, "%s", pr->detail);
        a->elapsed_ms = pr->elapsed_ms;
        if (pr->status == S2S_TRUST_PROBE_OK)
            return a;
    }
    return NULL;
}

/* What the domain publishes and what it says of the captured chain, for
 * the target probed. 0, or -1 when memory runs out. */
static int vouch(const s2s_trust_store_t *store, s2s_trust_dnssec_t *resolver, const probe_opts_t *o,
                 const report_t *r, s2s_trust_verdict_t pkix, cli_found_t *f, cli_judged_t *j)
{
    cli_vouch_find(resolver, &o->v.dns, &o->v.fetch, o->norm, f);
    return cli_vouch_judge(store, o->norm, f, r->used->where.srv.target, r->used->where.srv.port, r->pr->chain,
                           r->pr->chain_count, pkix, j);
}

/* Verify the captured chain (if any), read its certificates, judge it by
 * what the domain publishes, print the report; the exit status. */
static int verify_and_report(const s2s_trust_store_t *store, s2s_trust_dnssec_t *resolver, const probe_opts_t *o,
                             const report_t *found, cli_found_t *f)
{
    report_t r = *found;
    const s2s_trust_probe_result_t *pr = r.pr;
    s2s_trust_details_t d;
    cert_info_t certs[S2S_TRUST_PROBE_MAX_CHAIN];
    cli_judged_t j;
    shape_t shape;
    int status;

    memset(certs, 0, sizeof certs);
    if (r.used != NULL) {
        if (s2s_trust_verify_chain(store, r.norm, strlen(r.norm), pr->chain, pr->chain_count, &d) < 0 ||
            vouch(store, resolver, o, &r, d.verdict, f, &j) != 0) {
            fprintf(stderr, "s2s-trust: out of memory\n");
            return EXIT_USAGE;
        }
        for (size_t i = 0; i < pr->chain_count; i++)
            probe_cert_info(&pr->chain[i], &certs[i]);
        probe_chain_shape(certs, pr->chain_count, &d, &shape);
        r.certs = certs;
        r.shape = &shape;
        r.d = &d;
        r.found = f;
        r.judged = &j;
    }
    if (o->json)
        probe_print_json(&r);
    else
        probe_print_text(&r);
    status = r.d == NULL ? EXIT_NO_CHAIN : j.accepted ? EXIT_TRUSTED : EXIT_REFUSED;
    for (size_t i = 0; i < pr->chain_count && r.d != NULL; i++)
        probe_cert_info_free(&certs[i]);
    if (r.d != NULL)
        s2s_trust_details_free(&d);
    return status;
}

int cli_cmd_probe(int argc, char **argv)
{
    probe_opts_t o;
    s2s_trust_store_t *store = NULL;
    s2s_trust_dnssec_t *resolver = NULL;
    s2s_trust_resolution_t *res = calloc(1, sizeof *res);
    attempt_t *attempts = calloc(S2S_TRUST_RESOLVE_MAX, sizeof *attempts);
    cli_found_t *found = calloc(1, sizeof *found);
    s2s_trust_probe_result_t pr;
    report_t rep = { 0 };
    int status;

    memset(&pr, 0, sizeof pr);
    if (res == NULL || attempts == NULL || found == NULL) {
        free(res);
        free(attempts);
        free(found);
        fprintf(stderr, "s2s-trust: out of memory\n");
        return EXIT_USAGE;
    }
    status = parse_options(argc, argv, &o);
    /* The store first: a configuration error should not wait for the network. */
    if (status == CLI_GO_ON && cli_load_store(o.config, NULL, &store) != 0)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON)
        status = cli_vouch_setup(&o.v, 0, o.norm, found, &resolver);
    if (status == CLI_GO_ON)
        status = find_candidates(&o, res, &rep.resolved);
    if (status == CLI_GO_ON) {
        rep.domain = o.domain;
        rep.norm = o.norm;
        rep.res = res;
        rep.attempts = attempts;
        rep.used = run_attempts(&o, res, attempts, &rep.attempt_count, &pr);
        rep.pr = &pr;
        status = verify_and_report(store, resolver, &o, &rep, found);
    }
    s2s_trust_probe_result_free(&pr);
    s2s_trust_store_release(store);
    s2s_trust_dnssec_free(resolver);
    cli_found_clear(found);
    cli_vouch_opts_free(&o.v);
    free(res);
    free(attempts);
    free(found);
    ERR_clear_error();
    return status;
}
