/*
 * check.c - `s2s-trust check`: read chain files (PEM, leaf first, or one
 * DER certificate), verify each for --domain against the configured store,
 * and print one verdict per chain as text, with --explain, or as JSON.
 *
 * Offline unless asked: --tlsa takes TLSA records from the command line
 * (the ones an operator is about to publish), --dane looks the domain's up
 * (DNSSEC-validated, RFC 7673: every SRV target's, since no connection says
 * which one), --posh fetches its POSH document; each chain is then judged
 * as the module would judge it with `dane: opportunistic` and `posh: on`
 * (dane_posh.h), the headline saying that decision.
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
#include "cli/dane_posh.h"
#include "cli/dane_posh_out.h"
#include "cli/details.h"
#include "cli/out.h"
#include "core/s2s_trust_identity.h"
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

/* "[LABEL: ]DOMAIN: ok" or "[LABEL: ]DOMAIN: refused: REASON (detail)";
 * with DANE or POSH asked for, the decision first ("ok by dane_ee (PKIX
 * alone: self_signed)"), then their section. */
static void print_text(const char *label, const char *domain, const s2s_trust_details_t *d, int explain,
                       const cli_found_t *f, const cli_judged_t *j)
{
    const char *pkix = s2s_trust_verdict_name(d->verdict);

    if (label != NULL) {
        cli_put_text_str(stdout, label);
        fputs(": ", stdout);
    }
    cli_put_text_str(stdout, domain);
    if (j != NULL && strcmp(j->by, j->accepted ? "pkix" : pkix) != 0) {
        printf(": %s%s (PKIX alone: %s)", j->accepted ? "ok by " : "refused: ", j->by, pkix);
    } else if (d->verdict == S2S_TRUST_OK) {
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
    if (j != NULL)
        cli_vouch_text(f, j);
}

/* One JSON object on one line per chain. */
static void print_json(const char *file, const char *domain, const s2s_trust_details_t *d, const cli_found_t *f,
                       const cli_judged_t *j)
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
    if (j != NULL)
        cli_vouch_json(f, j, &first);
    fputs("}\n", stdout);
}

/* Verify and judge one chain file, print the result; its exit status. */
static int check_one(const s2s_trust_store_t *store, const char *path, const char *label, const char *domain,
                     int json, int explain, const cli_found_t *f)
{
    cli_chain_file_t chain;
    s2s_trust_details_t d;
    cli_judged_t j;
    int vouching = f->dane_on || f->posh_on, verdict, status;

    if (cli_chain_file_read(path, &chain) != 0)
        return EXIT_USAGE;
    verdict = s2s_trust_verify_chain(store, domain, strlen(domain), chain.der, chain.n, &d);
    if (verdict >= 0 && vouching &&
        cli_vouch_judge(store, domain, f, NULL, 0, chain.der, chain.n, d.verdict, &j) != 0) {
        s2s_trust_details_free(&d);
        verdict = -1;
    }
    if (verdict < 0) {
        cli_chain_file_free(&chain);
        fprintf(stderr, "s2s-trust: out of memory\n");
        return EXIT_USAGE;
    }
    if (json)
        print_json(path, domain, &d, f, vouching ? &j : NULL);
    else
        print_text(label, domain, &d, explain, f, vouching ? &j : NULL);
    status = (vouching ? j.accepted : verdict == S2S_TRUST_OK) ? EXIT_TRUSTED : EXIT_REFUSED;
    s2s_trust_details_free(&d);
    cli_chain_file_free(&chain); /* after printing: j's leaf points into it */
    return status;
}

int cli_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "domain", required_argument, NULL, 'd' },
        { "at", required_argument, NULL, 't' },     { "json", no_argument, NULL, 'j' },
        { "explain", no_argument, NULL, 'e' },      { "help", no_argument, NULL, 'h' },
        { "dane", no_argument, NULL, CLI_OPT_DANE }, { "posh", no_argument, NULL, CLI_OPT_POSH },
        { "tlsa", required_argument, NULL, CLI_OPT_TLSA }, CLI_VOUCH_LONG_OPTIONS,
        { NULL, 0, NULL, 0 }
    };
    const char *config = NULL, *domain = NULL, *at = NULL;
    int json = 0, explain = 0, opt, status = CLI_GO_ON;
    char norm[S2S_TRUST_DOMAIN_MAX + 1] = "";
    s2s_trust_store_t *store = NULL;
    s2s_trust_dnssec_t *resolver = NULL;
    cli_found_t *found = calloc(1, sizeof *found);
    cli_vouch_opts_t v;

    cli_vouch_opts_init(&v);
    if (found == NULL) {
        fprintf(stderr, "s2s-trust: out of memory\n");
        return EXIT_USAGE;
    }
    while (status == CLI_GO_ON && (opt = getopt_long(argc, argv, "c:d:t:jeh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'd': domain = optarg; break;
        case 't': at = optarg; break;
        case 'j': json = 1; break;
        case 'e': explain = 1; break;
        case 'h': status = cli_help(); break;
        default: status = cli_vouch_option(opt, optarg, &v); break;
        }
    }
    if (status == CLI_GO_ON && domain == NULL)
        status = cli_usage("check needs --domain");
    if (status == CLI_GO_ON && optind >= argc)
        status = cli_usage("check needs at least one CHAIN file");
    if (status == CLI_GO_ON && v.dane && v.n_tlsa > 0)
        status = cli_usage("check: --dane looks the records up, --tlsa gives them: one or the other");
    /* DNS and HTTPS want the A-label form; the verifier takes the domain as given. */
    if (status == CLI_GO_ON && (v.dane || v.posh) &&
        s2s_trust_identity_normalize(domain, strlen(domain), norm, sizeof norm) != 0)
        status = cli_usage("check: --domain is not a usable domain name for --dane or --posh");
    if (status == CLI_GO_ON && cli_load_store(config, at, &store) != 0)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON)
        status = cli_vouch_setup(&v, 1, domain, found, &resolver);
    if (status == CLI_GO_ON) {
        cli_vouch_find(resolver, &v.dns, &v.fetch, norm, found);
        status = EXIT_TRUSTED;
        for (int i = optind; i < argc; i++) {
            int st = check_one(store, argv[i], argc - optind > 1 ? argv[i] : NULL, domain, json, explain, found);
            if (st == EXIT_USAGE || (st == EXIT_REFUSED && status == EXIT_TRUSTED))
                status = st;
        }
    }
    s2s_trust_store_release(store);
    s2s_trust_dnssec_free(resolver);
    cli_found_clear(found);
    cli_vouch_opts_free(&v);
    free(found);
    return status;
}
