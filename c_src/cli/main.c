/*
 * s2s_trust_cli.c - `s2s-trust`, the operator's command line on the same
 * core the NIF uses, so what it says is what ejabberd will decide.
 *
 *   s2s-trust check [--config FILE] [--at TIME] [--json] [--explain] --domain D CHAIN...
 *   s2s-trust config-check [--json] FILE
 *   s2s-trust probe DOMAIN [--connect HOST:PORT] [--direct-tls] [--from D] ...
 *                          (s2s_trust_cli_probe.c)
 *   s2s-trust selftest TARGET [--connect HOST:PORT] [--from D] [--dialback A:P] ...
 *                          (s2s_trust_cli_selftest.c)
 *
 * Exit status: 0 every chain trusted (or the config is good), 1 at least one
 * refused, 2 usage, configuration or I/O error, 3 (probe) no chain could be
 * captured from the server.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "core/s2s_trust_config.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

/* A chain file is local, but may hold what a peer sent; bound what we read.
 * Anything larger is certainly over max_cert_bytes * max_chain_certs. */
#define MAX_CHAIN_FILE (16 * 1024 * 1024)
#define MAX_PEM_BLOCKS 64

const char cli_usage_text[] =
    "usage: s2s-trust check [--config FILE] [--at TIME] [--json] [--explain] --domain DOMAIN CHAIN...\n"
    "       s2s-trust config-check [--json] FILE\n"
    "       s2s-trust probe DOMAIN [--connect HOST:PORT] [--direct-tls] [--from DOMAIN]\n"
    "                       [--config FILE] [--json] [--timeout MS]\n"
    "       s2s-trust selftest TARGET [--connect HOST:PORT] [--from DOMAIN] [--json]\n"
    "                       [--timeout MS] [--dialback LISTEN_ADDR:PORT]\n"
    "                       [--issuer CERT --issuer-key KEY]\n"
    "\n"
    "check         verify each CHAIN (PEM with leaf first, or one DER certificate) for DOMAIN\n"
    "              against the trust store FILE describes (default: the system bundle);\n"
    "              prints 'DOMAIN: ok' or 'DOMAIN: refused: REASON (detail)' per chain\n"
    "  --at TIME   verify as of TIME: seconds since the epoch or YYYY-MM-DD[THH:MM:SSZ]\n"
    "  --explain   add the certificate details an operator needs\n"
    "  --json      one JSON object per chain instead of text\n"
    "config-check  read FILE and build its trust store; report the first error with file and line\n"
    "probe         connect to DOMAIN's XMPP server as a federating server would (SRV\n"
    "              _xmpps-server, _xmpp-server, then DOMAIN:5269), capture the certificate\n"
    "              chain it sends, verify it like check, and report what it sends and why\n"
    "  --connect HOST:PORT  connect there instead of resolving ([v6]:PORT for IPv6)\n"
    "  --direct-tls  TLS at once (XEP-0368) instead of STARTTLS; without --connect,\n"
    "              only _xmpps-server records are tried\n"
    "  --from D    our domain for the stream's 'from' (default: none)\n"
    "  --timeout MS  deadline per attempt (default 10000, at most 60000)\n"
    "selftest      play untrusted peers (self-signed, expired, wrong name, unknown CA;\n"
    "              certificates made at run time) against TARGET's s2s port: STARTTLS\n"
    "              with the certificate, then SASL EXTERNAL; report per case refused,\n"
    "              ACCEPTED or inconclusive (docs/selftest.md)\n"
    "  --from D    the peers' domain (default selftest.invalid)\n"
    "  --dialback LISTEN_ADDR:PORT  also try dialback, serving --from's s2s server there\n"
    "              (--from must resolve to it for the target); without it dialback is\n"
    "              reported as not tested\n"
    "  --issuer CERT --issuer-key KEY  sign the expired and wrong-name certificates\n"
    "              with this CA (one the target trusts), so nothing else is wrong with them\n"
    "  --timeout MS  deadline per case (default 15000)\n"
    "\n"
    "exit status: 0 trusted / config good, 1 refused, 2 usage, configuration or I/O error,\n"
    "             3 probe: no certificate chain could be captured\n"
    "selftest:    0 every peer refused, 1 at least one ACCEPTED, 3 inconclusive\n";

int cli_usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "s2s-trust: %s\n", why);
    fputs(cli_usage_text, stderr);
    return EXIT_USAGE;
}

void cli_print_error(const s2s_trust_error_t *err)
{
    fputs("s2s-trust: ", stderr);
    if (err->file[0] != '\0') {
        cli_put_text_str(stderr, err->file);
        if (err->line > 0)
            fprintf(stderr, ":%d", err->line);
        fputs(": ", stderr);
    }
    cli_put_text_str(stderr, err->text);
    fputc('\n', stderr);
}

/* ---- loading -------------------------------------------------------------- */

int cli_load_store(const char *config_path, const char *at, s2s_trust_store_t **store)
{
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    int rc;

    s2s_trust_config_defaults(&cfg);
    if (config_path != NULL && s2s_trust_config_read_file(config_path, &cfg, &err) != 0) {
        cli_print_error(&err);
        return -1;
    }
    if (at != NULL) {
        long long secs;
        if (s2s_trust_parse_time(at, &secs) != 0) {
            s2s_trust_config_free(&cfg);
            fprintf(stderr, "s2s-trust: --at: not a time (seconds or YYYY-MM-DD[THH:MM:SSZ]): ");
            cli_put_text_str(stderr, at);
            fputc('\n', stderr);
            return -1;
        }
        cfg.verification_time = secs;
        cfg.has_verification_time = true;
    }
    rc = s2s_trust_store_build(&cfg, store, &err);
    if (rc != 0)
        cli_print_error(&err);
    s2s_trust_config_free(&cfg);
    return rc;
}

typedef struct {
    unsigned char *file;        /* the whole file */
    size_t file_len;
    unsigned char *blocks[MAX_PEM_BLOCKS]; /* decoded PEM certificate blocks */
    s2s_trust_der_t der[MAX_PEM_BLOCKS];
    size_t n;
} chain_file_t;

static void chain_file_free(chain_file_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        OPENSSL_free(c->blocks[i]);
    free(c->file);
    memset(c, 0, sizeof *c);
}

/* PEM: every CERTIFICATE block, leaf first, decoded to DER without being
 * parsed (the core parses, with its limits). Otherwise the file is taken as
 * one DER certificate; garbage becomes the core's "malformed" verdict. */
static int read_chain_file(const char *path, chain_file_t *c)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 64 * 1024;

    memset(c, 0, sizeof *c);
    if (f == NULL) {
        fprintf(stderr, "s2s-trust: %s: %s\n", path, strerror(errno));
        return -1;
    }
    c->file = malloc(cap);
    while (c->file != NULL) {
        c->file_len += fread(c->file + c->file_len, 1, cap - c->file_len, f);
        if (c->file_len < cap || cap > MAX_CHAIN_FILE)
            break;
        unsigned char *grown = realloc(c->file, cap * 2);
        if (grown == NULL) {
            free(c->file);
            c->file = NULL;
            break;
        }
        c->file = grown;
        cap *= 2;
    }
    if (c->file == NULL || ferror(f)) {
        fprintf(stderr, "s2s-trust: %s: cannot read\n", path);
        fclose(f);
        chain_file_free(c);
        return -1;
    }
    fclose(f);

    if (c->file_len >= 11 && memmem(c->file, c->file_len, "-----BEGIN ", 11) != NULL) {
        BIO *bio = BIO_new_mem_buf(c->file, (int)(c->file_len > 0x7fffffff ? 0x7fffffff : c->file_len));
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;

        while (bio != NULL && c->n < MAX_PEM_BLOCKS && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
            if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "TRUSTED CERTIFICATE") == 0) {
                c->blocks[c->n] = data;
                c->der[c->n].data = data;
                c->der[c->n].len = (size_t)len;
                c->n++;
            } else {
                OPENSSL_free(data);
            }
            OPENSSL_free(name);
            OPENSSL_free(header);
            name = header = NULL;
            data = NULL;
        }
        BIO_free(bio);
        ERR_clear_error();
        if (c->n > 0)
            return 0;
    }
    c->der[0].data = c->file;
    c->der[0].len = c->file_len;
    c->n = c->file_len > 0 ? 1 : 0;
    return 0;
}

/* ---- output --------------------------------------------------------------- */

static void print_text(const char *label, const char *domain, const s2s_trust_details_t *d, int explain)
{
    if (label != NULL) {
        cli_put_text_str(stdout, label);
        fputs(": ", stdout);
    }
    cli_put_text_str(stdout, domain);
    if (d->verdict == S2S_TRUST_OK) {
        fputs(": ok", stdout);
    } else {
        fputs(": refused: ", stdout);
        fputs(s2s_trust_verdict_name(d->verdict), stdout);
        fputs(" (", stdout);
        cli_put_text_str(stdout, d->detail);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    if (!explain)
        return;
    printf("  reason:      %s: %s\n", s2s_trust_verdict_name(d->verdict), s2s_trust_verdict_text(d->verdict));
    fputs("  domain:      ", stdout);
    cli_put_text_str(stdout, d->domain[0] ? d->domain : "(not a valid domain)");
    fputs("\n  subject:     ", stdout);
    cli_put_text_str(stdout, d->subject);
    fputs("\n  issuer:      ", stdout);
    cli_put_text_str(stdout, d->issuer);
    printf("\n  valid:       %s to %s\n", d->not_before[0] ? d->not_before : "?",
           d->not_after[0] ? d->not_after : "?");
    for (size_t i = 0; i < d->name_count; i++) {
        printf("  name:        %s ", s2s_trust_id_type_name(d->names[i].type));
        cli_put_text(stdout, d->names[i].value, d->names[i].len);
        fputc('\n', stdout);
    }
    if (d->verdict == S2S_TRUST_OK)
        printf("  matched by:  %s\n", s2s_trust_id_type_name(d->matched_by));
    if (d->openssl_code != 0) {
        printf("  openssl:     %d %s at depth %d", d->openssl_code, d->openssl_text, d->error_depth);
        if (d->error_subject != NULL) {
            fputs(" (", stdout);
            cli_put_text_str(stdout, d->error_subject);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    printf("  presented:   %d certificate(s)\n", d->presented);
    for (size_t i = 0; i < d->chain_count; i++) {
        printf("  chain[%zu]:    ", i);
        cli_put_text_str(stdout, d->chain[i].subject);
        fputc('\n', stdout);
    }
}

static void json_key(const char *key, int *first)
{
    if (!*first)
        fputc(',', stdout);
    *first = 0;
    cli_put_json_str(stdout, key);
    fputc(':', stdout);
}

static void print_json(const char *file, const char *domain, const s2s_trust_details_t *d)
{
    int first = 1;

    fputc('{', stdout);
    json_key("file", &first);
    cli_put_json_str(stdout, file);
    json_key("domain", &first);
    cli_put_json_str(stdout, domain);
    json_key("normalized_domain", &first);
    cli_put_json_str(stdout, d->domain[0] ? d->domain : NULL);
    json_key("verdict", &first);
    cli_put_json_str(stdout, s2s_trust_verdict_name(d->verdict));
    json_key("trusted", &first);
    fputs(d->verdict == S2S_TRUST_OK ? "true" : "false", stdout);
    json_key("detail", &first);
    cli_put_json_str(stdout, d->detail);
    json_key("subject", &first);
    cli_put_json_str(stdout, d->subject);
    json_key("issuer", &first);
    cli_put_json_str(stdout, d->issuer);
    json_key("not_before", &first);
    cli_put_json_str(stdout, d->not_before[0] ? d->not_before : NULL);
    json_key("not_after", &first);
    cli_put_json_str(stdout, d->not_after[0] ? d->not_after : NULL);
    json_key("matched_by", &first);
    cli_put_json_str(stdout, s2s_trust_id_type_name(d->matched_by));
    json_key("names", &first);
    fputc('[', stdout);
    for (size_t i = 0; i < d->name_count; i++) {
        int f2 = 1;
        if (i > 0)
            fputc(',', stdout);
        fputc('{', stdout);
        json_key("type", &f2);
        cli_put_json_str(stdout, s2s_trust_id_type_name(d->names[i].type));
        json_key("value", &f2);
        cli_put_json(stdout, d->names[i].value, d->names[i].len);
        fputc('}', stdout);
    }
    fputc(']', stdout);
    json_key("error_depth", &first);
    if (d->error_depth >= 0)
        printf("%d", d->error_depth);
    else
        fputs("null", stdout);
    json_key("openssl_code", &first);
    printf("%d", d->openssl_code);
    json_key("openssl_text", &first);
    cli_put_json_str(stdout, d->openssl_code ? d->openssl_text : NULL);
    json_key("presented", &first);
    printf("%d", d->presented);
    json_key("chain", &first);
    fputc('[', stdout);
    for (size_t i = 0; i < d->chain_count; i++) {
        int f2 = 1;
        if (i > 0)
            fputc(',', stdout);
        fputc('{', stdout);
        json_key("subject", &f2);
        cli_put_json_str(stdout, d->chain[i].subject);
        json_key("issuer", &f2);
        cli_put_json_str(stdout, d->chain[i].issuer);
        fputc('}', stdout);
    }
    fputs("]}\n", stdout);
}

/* ---- commands ------------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "domain", required_argument, NULL, 'd' },
        { "at", required_argument, NULL, 't' },     { "json", no_argument, NULL, 'j' },
        { "explain", no_argument, NULL, 'e' },      { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *config = NULL, *domain = NULL, *at = NULL;
    int json = 0, explain = 0, opt, status = EXIT_TRUSTED;
    s2s_trust_store_t *store = NULL;

    while ((opt = getopt_long(argc, argv, "c:d:t:jeh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'd': domain = optarg; break;
        case 't': at = optarg; break;
        case 'j': json = 1; break;
        case 'e': explain = 1; break;
        case 'h': fputs(cli_usage_text, stdout); return EXIT_TRUSTED;
        default: return cli_usage(NULL);
        }
    }
    if (domain == NULL)
        return cli_usage("check needs --domain");
    if (optind >= argc)
        return cli_usage("check needs at least one CHAIN file");
    if (cli_load_store(config, at, &store) != 0)
        return EXIT_USAGE;

    for (int i = optind; i < argc; i++) {
        chain_file_t chain;
        s2s_trust_details_t d;
        int verdict;

        if (read_chain_file(argv[i], &chain) != 0) {
            status = EXIT_USAGE;
            continue;
        }
        verdict = s2s_trust_verify_chain(store, domain, strlen(domain), chain.der, chain.n, &d);
        chain_file_free(&chain);
        if (verdict < 0) {
            fprintf(stderr, "s2s-trust: out of memory\n");
            status = EXIT_USAGE;
            break;
        }
        if (json)
            print_json(argv[i], domain, &d);
        else
            print_text(argc - optind > 1 ? argv[i] : NULL, domain, &d, explain);
        if (verdict != S2S_TRUST_OK && status == EXIT_TRUSTED)
            status = EXIT_REFUSED;
        s2s_trust_details_free(&d);
    }
    s2s_trust_store_release(store);
    return status;
}

static int cmd_config_check(int argc, char **argv)
{
    static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    s2s_trust_config_t cfg;
    s2s_trust_error_t err;
    s2s_trust_store_t *store = NULL;
    s2s_trust_store_info_t info;
    int json = 0, opt;

    while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (opt) {
        case 'j': json = 1; break;
        case 'h': fputs(cli_usage_text, stdout); return EXIT_TRUSTED;
        default: return cli_usage(NULL);
        }
    }
    if (optind != argc - 1)
        return cli_usage("config-check needs exactly one FILE");
    s2s_trust_config_defaults(&cfg);
    if (s2s_trust_config_read_file(argv[optind], &cfg, &err) != 0 ||
        s2s_trust_store_build(&cfg, &store, &err) != 0) {
        s2s_trust_config_free(&cfg);
        if (json) {
            int first = 1;
            fputc('{', stdout);
            json_key("ok", &first);
            fputs("false", stdout);
            json_key("file", &first);
            cli_put_json_str(stdout, err.file);
            json_key("line", &first);
            printf("%d", err.line);
            json_key("error", &first);
            cli_put_json_str(stdout, err.text);
            fputs("}\n", stdout);
        }
        cli_print_error(&err);
        return EXIT_USAGE;
    }
    s2s_trust_config_free(&cfg);
    s2s_trust_store_info(store, &info);
    if (json) {
        int first = 1;
        fputc('{', stdout);
        json_key("ok", &first);
        fputs("true", stdout);
        json_key("file", &first);
        cli_put_json_str(stdout, argv[optind]);
        json_key("anchors", &first);
        printf("%zu", info.anchors);
        json_key("intermediates", &first);
        printf("%zu", info.intermediates);
        json_key("crls", &first);
        printf("%zu", info.crls);
        json_key("crl_check", &first);
        cli_put_json_str(stdout, s2s_trust_crl_mode_name(info.policy->crl_check));
        fputs("}\n", stdout);
    } else {
        cli_put_text_str(stdout, argv[optind]);
        printf(": ok (%zu anchors, %zu intermediates, %zu CRLs, crl_check %s, max_depth %d)\n",
               info.anchors, info.intermediates, info.crls,
               s2s_trust_crl_mode_name(info.policy->crl_check), info.policy->max_depth);
    }
    s2s_trust_store_release(store);
    return EXIT_TRUSTED;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(NULL);
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "config-check") == 0)
        return cmd_config_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "probe") == 0)
        return cli_cmd_probe(argc - 1, argv + 1);
    if (strcmp(argv[1], "selftest") == 0)
        return cli_cmd_selftest(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(cli_usage_text, stdout);
        return EXIT_TRUSTED;
    }
    return cli_usage("unknown command");
}
