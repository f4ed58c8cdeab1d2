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
#include "cli/out.h"
#include "core/s2s_trust_posh.h"
#include "net/s2s_trust_posh_fetch.h"

#define TIMEOUT_MS_DEFAULT 10000

typedef struct {
    const char *domain, *chain;
    s2s_trust_posh_fetch_opts_t fetch;
    int json;
} posh_opts_t;

/* The leaf as presented (in the chain file) and its digests. */
typedef struct {
    cli_chain_file_t file;
    const unsigned char *der;
    size_t len;
    unsigned char d256[64], d512[64];
} leaf_t;

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
    unsigned long n;
    int opt;

    memset(o, 0, sizeof *o);
    o->fetch.timeout_ms = TIMEOUT_MS_DEFAULT;
    while ((opt = getopt_long(argc, argv, "c:A:r:p:t:jh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->chain = optarg; break;
        case 'A': o->fetch.cafile = optarg; break;
        case 'r': {
            const char *c1 = strchr(optarg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c1 == NULL || c2 == NULL || c1 == optarg || c2 == c1 + 1 || c2[1] == '\0')
                return cli_usage("--resolve: HOST:PORT:ADDR");
            if (o->fetch.n_resolve == S2S_TRUST_HTTP_MAX_RESOLVE)
                return cli_usage("--resolve: at most 8");
            o->fetch.resolve[o->fetch.n_resolve++] = optarg;
            break;
        }
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

static void say_file_error(const char *opt, const char *path, const char *what)
{
    fprintf(stderr, "s2s-trust: %s ", opt);
    cli_put_text_str(stderr, path);
    fprintf(stderr, ": %s\n", what);
}

/* The first certificate of a PEM file, its DER as written (a POSH
 * fingerprint is over those exact bytes), or a file that is one DER
 * certificate and nothing after it, its bytes as they are. 0, or -1 after
 * saying why. */
static int read_leaf(const char *path, leaf_t *leaf)
{
    const unsigned char *p;
    X509 *x;

    memset(leaf, 0, sizeof *leaf);
    if (cli_chain_file_read(path, &leaf->file) != 0)
        return -1;
    if (leaf->file.n > 0 && leaf->file.pem) {
        leaf->der = leaf->file.der[0].data;
        leaf->len = leaf->file.der[0].len;
    } else if (leaf->file.n > 0) {
        /* A DER file must be one certificate exactly: anything else is not
         * what a peer presents, and hashing it would only "not match". */
        p = leaf->file.der[0].data;
        x = d2i_X509(NULL, &p, (long)leaf->file.der[0].len);
        if (x != NULL && (size_t)(p - leaf->file.der[0].data) == leaf->file.der[0].len) {
            leaf->der = leaf->file.der[0].data;
            leaf->len = leaf->file.der[0].len;
        }
        X509_free(x);
    }
    ERR_clear_error();
    if (leaf->der == NULL || leaf->len == 0) {
        say_file_error("--chain", path, "no certificate read (PEM, or one DER certificate)");
        return -1;
    }
    if (s2s_trust_posh_digest(S2S_TRUST_POSH_SHA256, leaf->der, leaf->len, leaf->d256) != 32 ||
        s2s_trust_posh_digest(S2S_TRUST_POSH_SHA512, leaf->der, leaf->len, leaf->d512) != 64) {
        fprintf(stderr, "s2s-trust: cannot hash the leaf\n");
        return -1;
    }
    return 0;
}

/* Is there a document to show (read, even if refused for what it says)? */
static int have_doc(const s2s_trust_posh_result_t *r)
{
    return r->ok || r->posh == S2S_TRUST_POSH_TOO_MANY_HOPS || r->posh == S2S_TRUST_POSH_BAD_EXPIRES ||
           r->posh == S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL;
}

static void decide(const posh_opts_t *o, const s2s_trust_posh_result_t *r, const leaf_t *leaf, decision_t *d)
{
    static char by[64];

    memset(d, 0, sizeof *d);
    if (!r->ok) {
        snprintf(by, sizeof by, "posh_%s", s2s_trust_posh_result_error(r));
        d->overall = "refused";
        d->by = by;
        d->status = r->http == S2S_TRUST_HTTP_INTERNAL ? EXIT_USAGE : EXIT_REFUSED;
        return;
    }
    if (o->chain == NULL) {
        d->overall = "published";
        d->by = "posh";
        d->status = EXIT_TRUSTED;
        return;
    }
    d->have_match = 1;
    d->matched = s2s_trust_posh_match(&r->doc, leaf->der, leaf->len, &d->index) == 1;
    d->overall = d->matched ? "accepted" : "refused";
    d->by = d->matched ? "posh" : "posh_mismatch";
    d->status = d->matched ? EXIT_TRUSTED : EXIT_REFUSED;
}

static void put_hex(FILE *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", p[i]);
}

static const char *b64(const unsigned char *p, size_t n)
{
    static char buf[4][100];
    static int slot;
    return s2s_trust_posh_base64(p, n, buf[slot++ % 4], sizeof buf[0]);
}

static void print_text(const posh_opts_t *o, const s2s_trust_posh_result_t *r, const leaf_t *leaf,
                       const decision_t *d)
{
    const s2s_trust_posh_doc_t *doc = &r->doc;

    fputs("domain: ", stdout);
    cli_put_text_str(stdout, o->domain);
    for (size_t i = 0; i < r->n_urls; i++) {
        fputs(i == 0 ? "\nurl: " : "\ndelegated: ", stdout);
        cli_put_text_str(stdout, r->url[i]);
    }
    printf("\nstatus: %s", s2s_trust_posh_result_error(r));
    if (!r->ok) {
        printf(" (%s document", s2s_trust_posh_stage_name(r->stage));
        if (r->why[0] != '\0') {
            fputs(": ", stdout);
            cli_put_text_str(stdout, r->why);
        }
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    if (r->http == S2S_TRUST_HTTP_OK && r->n_urls > 0)
        printf("http: %ld, %zu bytes\n", r->http_code, r->bytes);
    for (size_t i = 0; have_doc(r) && i < doc->n_fp; i++) {
        printf("fingerprint: %s %s (", s2s_trust_posh_alg_name(doc->fp[i].alg), b64(doc->fp[i].digest, doc->fp[i].len));
        put_hex(stdout, doc->fp[i].digest, doc->fp[i].len);
        fputs(")\n", stdout);
    }
    if (have_doc(r) && doc->n_ignored > 0)
        printf("ignored: %zu fingerprint(s) in other algorithms\n", doc->n_ignored);
    if (r->ok) {
        printf("expires: %u", (unsigned)doc->expires);
        if (r->n_urls > 1)
            printf(" (domain document %u)", (unsigned)r->domain_expires);
        fputc('\n', stdout);
    }
    if (leaf->der != NULL) {
        printf("leaf: sha-256 %s\nleaf: sha-512 %s\n", b64(leaf->d256, 32), b64(leaf->d512, 64));
        if (d->have_match) {
            if (d->matched)
                printf("match: yes (fingerprint %zu, %s)\n", d->index + 1,
                       s2s_trust_posh_alg_name(doc->fp[d->index].alg));
            else
                puts("match: no");
        }
    }
    printf("overall: %s by %s\n", d->overall, d->by);
}

static void print_json(const posh_opts_t *o, const s2s_trust_posh_result_t *r, const leaf_t *leaf,
                       const decision_t *d)
{
    const s2s_trust_posh_doc_t *doc = &r->doc;
    int first = 1;

    fputc('{', stdout);
    cli_json_str(stdout, "domain", o->domain, &first);
    cli_json_str(stdout, "url", r->n_urls > 0 ? r->url[0] : NULL, &first);
    cli_json_str(stdout, "delegated_url", r->n_urls > 1 ? r->url[1] : NULL, &first);
    cli_json_str(stdout, "status", s2s_trust_posh_result_error(r), &first);
    cli_json_str(stdout, "stage", s2s_trust_posh_stage_name(r->stage), &first);
    cli_json_str(stdout, "why", r->ok || r->why[0] == '\0' ? NULL : r->why, &first);
    cli_json_key(stdout, "http_code", &first);
    printf("%ld", r->http_code);
    cli_json_key(stdout, "fingerprints", &first);
    fputc('[', stdout);
    for (size_t i = 0; have_doc(r) && i < doc->n_fp; i++) {
        printf("%s{\"alg\":\"%s\",\"base64\":\"%s\",\"hex\":\"", i ? "," : "", s2s_trust_posh_alg_name(doc->fp[i].alg),
               b64(doc->fp[i].digest, doc->fp[i].len));
        put_hex(stdout, doc->fp[i].digest, doc->fp[i].len);
        fputs("\"}", stdout);
    }
    fputc(']', stdout);
    cli_json_key(stdout, "expires", &first);
    if (r->ok)
        printf("%u", (unsigned)doc->expires);
    else
        fputs("null", stdout);
    cli_json_key(stdout, "domain_expires", &first);
    if (r->ok && r->n_urls > 1)
        printf("%u", (unsigned)r->domain_expires);
    else
        fputs("null", stdout);
    if (leaf->der != NULL) {
        cli_json_key(stdout, "leaf", &first);
        printf("{\"sha-256\":\"%s\",\"sha-512\":\"%s\"}", b64(leaf->d256, 32), b64(leaf->d512, 64));
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
    leaf_t leaf = { 0 };
    decision_t d;
    int status = parse_options(argc, argv, &o);
    FILE *f;

    if (r == NULL) {
        fprintf(stderr, "s2s-trust: out of memory\n");
        status = EXIT_USAGE;
    }
    /* Local mistakes first: they should not wait for the network. */
    if (status == CLI_GO_ON && o.chain != NULL && read_leaf(o.chain, &leaf) != 0)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON && o.fetch.cafile != NULL) {
        if ((f = fopen(o.fetch.cafile, "r")) == NULL) {
            say_file_error("--cafile", o.fetch.cafile, "not readable");
            status = EXIT_USAGE;
        } else
            fclose(f);
    }
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
    cli_chain_file_free(&leaf.file);
    free(r);
    ERR_clear_error();
    return status;
}
