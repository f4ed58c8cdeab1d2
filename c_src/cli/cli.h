/*
 * cli.h - the contract every `s2s-trust` command shares: exit status, the
 * usage text, printing an error, loading the trust store, and one entry
 * point per command. cli.c implements the shared part; main.c dispatches
 * to the commands only through this header; each command is its own file
 * (check.c, config_check.c, dane.c, probe.c, selftest.c,
 * survey.c) and calls no other's.
 */
#ifndef S2S_TRUST_CLI_H
#define S2S_TRUST_CLI_H

#include "core/s2s_trust_error.h"
#include "core/s2s_trust_store.h"

/* Exit status, for every command. */
#define EXIT_TRUSTED 0      /* trusted; the configuration is good */
#define EXIT_REFUSED 1      /* at least one chain refused (selftest: a peer ACCEPTED) */
#define EXIT_USAGE 2        /* usage, configuration or I/O error */
#define EXIT_NO_CHAIN 3     /* probe: no certificate chain could be captured */
#define EXIT_INCONCLUSIVE 3 /* selftest: a case could not be decided */

/* Not an exit status: what a step of a command returns when the command
 * goes on (every other value is the status to exit with). */
#define CLI_GO_ON (-1)

/* Print why (may be NULL) and the usage to stderr; returns EXIT_USAGE. */
int cli_usage(const char *why);

/* The usage on stdout, for --help; returns EXIT_TRUSTED. */
int cli_help(void);

/* "s2s-trust: FILE:LINE: TEXT" on stderr, escaped. */
void cli_print_error(const s2s_trust_error_t *err);

/* The store --config names (default configuration when NULL), verified as of
 * `at` when given. 0, or -1 after printing why. */
int cli_load_store(const char *config_path, const char *at, s2s_trust_store_t **store);

/* The commands: argv[0] is the command's name, getopt_long style. Each
 * returns the process's exit status. */
int cli_cmd_check(int argc, char **argv);        /* check.c */
int cli_cmd_config_check(int argc, char **argv); /* config_check.c */
int cli_cmd_dane(int argc, char **argv);         /* dane.c */
int cli_cmd_posh(int argc, char **argv);         /* posh.c */
int cli_cmd_probe(int argc, char **argv);        /* probe.c */
int cli_cmd_selftest(int argc, char **argv);     /* selftest.c */
int cli_cmd_survey(int argc, char **argv);       /* survey.c (survey.h) */

#endif
