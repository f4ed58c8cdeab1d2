/*
 * posh.c - `s2s-trust posh DOMAIN`: the POSH document (RFC 7711) a
 * federating server finds for DOMAIN, fetched and read the way the module
 * will (net/s2s_trust_posh_fetch.h: HTTPS with full validation, no HTTP
 * redirect, one `url` hop at most, bounded size and time), and with
 * --chain whether the chain's leaf matches one of its fingerprints
 * (core/s2s_trust_posh.h), so an operator can check a deployment, their
 * own or a peer's, before a peer relies on it.
 *
 * The decision: a match accepts the leaf for DOMAIN (POSH vouches for it,
 * whatever names it holds); no match, or any failure to get a usable
 * document, means POSH does not vouch (the module then leaves the peer to
 * its other policies). Everything the network gave (URLs, libcurl's and
 * the server's words) is printed escaped.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/chain_file.h"
#include "cli/cli.h"
#include "cli/dane_posh.h"
#include "cli/dane_posh_out.h"
#include "cli/out.h"
#include "core/s2s_trust_posh.h"
#include "net/s2s_trust_posh_fetch.h"

typedef struct {
    const char *domain, *chain;
    s2s_trust_posh_fetch_opts_t fetch;
    int json;
} posh_opts_t;

typedef struct {
    const char *overall, *by;
    int have_match;
    int matched;
    size_t index;
    int status;
} decision_t;

static int number_arg(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    *out = strtoul(s, &end, 10);
    return *end != '\0' || *out == 0 || *out > max ? -1 : 0;
}

static int parse_options(int argc, char **argv, posh_opts_t *o)
{
    static const struct option opts[] = {
        { "chain", required_argument, NULL, 'c' },   { "cafile", required_argument, NULL, 'A' },
        { "resolve", required_argument, NULL, 'r' }, { "port", required_argument, NULL, 'p' },
        { "timeout", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 }
    };
    const char *why;
    unsigned long n;
    int opt;

    memset(o, 0, sizeof *o);
    o->fetch.timeout_ms = CLI_POSH_TIMEOUT_MS_DEFAULT;
    while ((opt = getopt_long(argc, argv, "c:A:r:p:t:jh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->chain = optarg; break;
        case 'A': o->fetch.cafile = optarg; break;
        case 'r':
            if (cli_posh_add_resolve(&o->fetch, optarg, &why) != 0)
                return cli_usage(why);
            break;
        case 'p':
            if (number_arg(optarg, 65535, &n) != 0)
                return cli_usage("--port: 1 to 65535");
            o->fetch.port = (uint16_t)n;
            break;
        case 't':
            if (number_arg(optarg, S2S_TRUST_POSH_MAX_TIMEOUT_MS, &n) != 0)
                return cli_usage("--timeout: milliseconds, 1 to 60000");
            o->fetch.timeout_ms = (unsigned)n;
            break;
        case 'j': o->json = 1; break;
        case 'h': return cli_help();
        default: return cli_usage(NULL);
        }
    }
    if (optind != argc - 1)
        return cli_usage("posh needs exactly one DOMAIN");
    o->domain = argv[optind];
    return CLI_GO_ON;
}

static void decide(const posh_opts_t *o, const s2s_trust_posh_result_t *r, const cli_posh_leaf_t *leaf,
                   decision_t *d)
{
    static char by[64];
    cli_posh_said_t said = cli_posh_judge(r, o->chain != NULL ? leaf : NULL, &d->index);

    d->have_match = said == CLI_POSH_MATCH || said == CLI_POSH_MISMATCH;
    d->matched = said == CLI_POSH_MATCH;
    switch (said) {
    case CLI_POSH_ABSENT:
    case CLI_POSH_FAILED:
        snprintf(by, sizeof by, "posh_%s", s2s_trust_posh_result_error(r));
        d->overall = "refused";
        d->by = by;
        d->status = r->http == S2S_TRUST_HTTP_INTERNAL ? EXIT_USAGE : EXIT_REFUSED;
        break;
    case CLI_POSH_PUBLISHED:
        d->overall = "published";
        d->by = "posh";
        d->status = EXIT_TRUSTED;
        break;
    default:
        d->overall = d->matched ? "accepted" : "refused";
        d->by = d->matched ? "posh" : "posh_mismatch";
        d->status = d->matched ? EXIT_TRUSTED : EXIT_REFUSED;
        break;
    }
}

static void print_text(const posh_opts_t *o, const s2s_trust_posh_result_t *r, const cli_posh_leaf_t *leaf,
                       const decision_t *d)
{

    fputs("domain: ", stdout);
    cli_put_text_str(stdout, o->domain);
    fputc('\n', stdout);
    cli_posh_doc_text("", r);
    if (leaf->der != NULL) {
        printf("leaf: sha-256 %s\nleaf: sha-512 %s\n", cli_b64(leaf->d256, 32), cli_b64(leaf->d512, 64));
        if (d->have_match) {
            if (d->matched)
                printf("match: yes (fingerprint %zu, %s)\n", d->index + 1,
                       s2s_trust_posh_alg_name(r->doc.fp[d->index].alg));
            else
                puts("match: no");
        }
    }
    printf("overall: %s by %s\n", d->overall, d->by);
}

static void print_json(const posh_opts_t *o, const s2s_trust_posh_result_t *r, const cli_posh_leaf_t *leaf,
                       const decision_t *d)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_str(stdout, "domain", o->domain, &first);
    cli_posh_doc_json(r, &first);
    if (leaf->der != NULL) {
        cli_json_key(stdout, "leaf", &first);
        printf("{\"sha-256\":\"%s\",\"sha-512\":\"%s\"}", cli_b64(leaf->d256, 32), cli_b64(leaf->d512, 64));
    }
    cli_json_key(stdout, "match", &first);
    fputs(!d->have_match ? "null" : d->matched ? "true" : "false", stdout);
    cli_json_str(stdout, "overall", d->overall, &first);
    cli_json_str(stdout, "by", d->by, &first);
    fputs("}\n", stdout);
}

int cli_cmd_posh(int argc, char **argv)
{
    posh_opts_t o;
    s2s_trust_posh_result_t *r = calloc(1, sizeof *r);
    cli_posh_leaf_t leaf = { 0 };
    decision_t d;
    int status = parse_options(argc, argv, &o);

    if (r == NULL) {
        fprintf(stderr, "s2s-trust: out of memory\n");
        status = EXIT_USAGE;
    }
    /* Local mistakes first: they should not wait for the network. */
    if (status == CLI_GO_ON && o.chain != NULL && cli_posh_leaf_read(o.chain, &leaf) != 0)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON && cli_posh_cafile_ok(o.fetch.cafile) != 0)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON) {
        s2s_trust_posh_fetch(o.domain, &o.fetch, r);
        if (r->n_urls == 0) {
            fputs("s2s-trust: posh: ", stderr);
            cli_put_text_str(stderr, o.domain);
            fputs(": not a host name (an A-label domain)\n", stderr);
            status = EXIT_USAGE;
        }
    }
    if (status == CLI_GO_ON) {
        decide(&o, r, &leaf, &d);
        if (o.json)
            print_json(&o, r, &leaf, &d);
        else
            print_text(&o, r, &leaf, &d);
        status = d.status;
    }
    cli_posh_leaf_free(&leaf);
    free(r);
    ERR_clear_error();
    return status;
}
