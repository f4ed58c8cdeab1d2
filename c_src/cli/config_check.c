/*
 * config_check.c - `s2s-trust config-check FILE`: read the configuration,
 * build its trust store, and report what it holds or the first error with
 * file and line, as text or JSON.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "core/s2s_trust_config.h"
#include "core/s2s_trust_store.h"

/* {"ok":false,...}: where the configuration is wrong. */
static void print_error_json(const s2s_trust_error_t *err)
{
    int first = 1;

    fputc('{', stdout);
    cli_json_bool(stdout, "ok", 0, &first);
    cli_json_str(stdout, "file", err->file, &first);
    cli_json_key(stdout, "line", &first);
    printf("%d", err->line);
    cli_json_str(stdout, "error", err->text, &first);
    fputs("}\n", stdout);
}

/* What the store built from `file` holds, as text or JSON. */
static void print_ok(const char *file, const s2s_trust_store_info_t *info, int json)
{
    int first = 1;

    if (!json) {
        cli_put_text_str(stdout, file);
        printf(": ok (%zu anchors, %zu intermediates, %zu CRLs, crl_check %s, max_depth %d)\n",
               info->anchors, info->intermediates, info->crls,
               s2s_trust_crl_mode_name(info->policy->crl_check), info->policy->max_depth);
        return;
    }
    fputc('{', stdout);
    cli_json_bool(stdout, "ok", 1, &first);
    cli_json_str(stdout, "file", file, &first);
    cli_json_key(stdout, "anchors", &first);
    printf("%zu", info->anchors);
    cli_json_key(stdout, "intermediates", &first);
    printf("%zu", info->intermediates);
    cli_json_key(stdout, "crls", &first);
    printf("%zu", info->crls);
    cli_json_str(stdout, "crl_check", s2s_trust_crl_mode_name(info->policy->crl_check), &first);
    fputs("}\n", stdout);
}

int cli_cmd_config_check(int argc, char **argv)
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
        case 'h': return cli_help();
        default: return cli_usage(NULL);
        }
    }
    if (optind != argc - 1)
        return cli_usage("config-check needs exactly one FILE");
    s2s_trust_config_defaults(&cfg);
    if (s2s_trust_config_read_file(argv[optind], &cfg, &err) != 0 ||
        s2s_trust_store_build(&cfg, &store, &err) != 0) {
        s2s_trust_config_free(&cfg);
        if (json)
            print_error_json(&err);
        cli_print_error(&err);
        return EXIT_USAGE;
    }
    s2s_trust_config_free(&cfg);
    s2s_trust_store_info(store, &info);
    print_ok(argv[optind], &info, json);
    s2s_trust_store_release(store);
    return EXIT_TRUSTED;
}
