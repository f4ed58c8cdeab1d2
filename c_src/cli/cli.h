/*
 * s2s_trust_cli.h - what the CLI's command files share (s2s_trust_cli.c has
 * main, check and config-check; s2s_trust_cli_probe.c has probe).
 */
#ifndef S2S_TRUST_CLI_H
#define S2S_TRUST_CLI_H

#include "core/s2s_trust_error.h"
#include "core/s2s_trust_store.h"

/* Exit status, for every command. */
#define EXIT_TRUSTED 0  /* trusted; the configuration is good */
#define EXIT_REFUSED 1  /* at least one chain refused */
#define EXIT_USAGE 2    /* usage, configuration or I/O error */
#define EXIT_NO_CHAIN 3 /* probe: no certificate chain could be captured */

extern const char cli_usage_text[];

/* Print why (may be NULL) and the usage to stderr; returns EXIT_USAGE. */
int cli_usage(const char *why);

/* "s2s-trust: FILE:LINE: TEXT" on stderr, escaped. */
void cli_print_error(const s2s_trust_error_t *err);

/* The store --config names (default configuration when NULL), verified as of
 * `at` when given. 0, or -1 after printing why. */
int cli_load_store(const char *config_path, const char *at, s2s_trust_store_t **store);

int cli_cmd_probe(int argc, char **argv);
int cli_cmd_selftest(int argc, char **argv); /* s2s_trust_cli_selftest.c */

#endif
