/*
 * check.c - `s2s-trust check`: read chain files (PEM, leaf first, or one
 * DER certificate), verify each for --domain against the configured store,
 * and print one verdict per chain as text, with --explain, or as JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli/chain_file.h"
#include "cli/cli.h"
#include "cli/details.h"
#include "cli/out.h"
#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h"

/* --explain: what an operator needs to see why. */
static void print_explain(const s2s_trust_details_t *d)
{
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
    printf("  presented:   %d certificate(s)", d->presented);
    if (d->known > 0)
        printf(", %d of them already in the store's pool (not parsed again)", d->known);
    fputc('\n', stdout);
    for (size_t i = 0; i < d->chain_count; i++) {
        printf("  chain[%zu]:    ", i);
        cli_put_text_str(stdout, d->chain[i].subject);
        fputc('\n', stdout);
    }
}

/* "[LABEL: ]DOMAIN: ok" or "[LABEL: ]DOMAIN: refused: REASON (detail)". */
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
    if (explain)
        print_explain(d);
}

/* One JSON object on one line per chain. */
static void print_json(const char *file, const char *domain, const s2s_trust_details_t *d)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_str(stdout, "file", file, &first);
    cli_json_str(stdout, "domain", domain, &first);
    cli_json_str(stdout, "normalized_domain", d->domain[0] ? d->domain : NULL, &first);
    cli_json_str(stdout, "verdict", s2s_trust_verdict_name(d->verdict), &first);
    cli_json_bool(stdout, "trusted", d->verdict == S2S_TRUST_OK, &first);
    cli_json_str(stdout, "detail", d->detail, &first);
    cli_json_str(stdout, "subject", d->subject, &first);
    cli_json_str(stdout, "issuer", d->issuer, &first);
    cli_json_str(stdout, "not_before", d->not_before[0] ? d->not_before : NULL, &first);
    cli_json_str(stdout, "not_after", d->not_after[0] ? d->not_after : NULL, &first);
    cli_json_str(stdout, "matched_by", s2s_trust_id_type_name(d->matched_by), &first);
    cli_json_key(stdout, "names", &first);
    cli_json_names(stdout, d->names, d->name_count);
    cli_json_openssl_error(stdout, d, &first);
    cli_json_key(stdout, "presented", &first);
    printf("%d", d->presented);
    cli_json_key(stdout, "known", &first);
    printf("%d", d->known);
    cli_json_key(stdout, "chain", &first);
    cli_json_chain(stdout, d);
    fputs("}\n", stdout);
}

int cli_cmd_check(int argc, char **argv)
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
        case 'h': return cli_help();
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
        cli_chain_file_t chain;
        s2s_trust_details_t d;
        int verdict;

        if (cli_chain_file_read(argv[i], &chain) != 0) {
            status = EXIT_USAGE;
            continue;
        }
        verdict = s2s_trust_verify_chain(store, domain, strlen(domain), chain.der, chain.n, &d);
        cli_chain_file_free(&chain);
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
