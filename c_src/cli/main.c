/*
 * main.c - `s2s-trust`, the operator's command line on the same core the
 * NIF uses, so what it says is what ejabberd will decide. This file only
 * maps a command's name to its entry point (cli.h):
 *
 *   s2s-trust check [--config FILE] [--at TIME] [--json] [--explain] --domain D CHAIN...
 *   s2s-trust config-check [--json] FILE
 *   s2s-trust dane DOMAIN [--unbound-conf FILE] [--trust-anchor FILE] [--chain PEM] ...
 *   s2s-trust posh DOMAIN [--chain PEM] [--cafile FILE] [--resolve HOST:PORT:ADDR] ...
 *   s2s-trust probe DOMAIN [--connect HOST:PORT] [--direct-tls] [--from D] ...
 *   s2s-trust selftest TARGET [--connect HOST:PORT] [--from D] [--dialback A:P] ...
 *   s2s-trust survey [DOMAIN...] [--file FILE] [--json|--markdown] [--jobs N] ...
 *
 * Exit status (cli.h): 0 every chain trusted (or the config is good), 1 at
 * least one refused, 2 usage, configuration or I/O error, 3 (probe) no chain
 * could be captured from the server.
 */
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    { "check", cli_cmd_check },
    { "config-check", cli_cmd_config_check },
    { "dane", cli_cmd_dane },
    { "posh", cli_cmd_posh },
    { "probe", cli_cmd_probe },
    { "selftest", cli_cmd_selftest },
    { "survey", cli_cmd_survey },
};

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
        return cli_help();
    return cli_usage("unknown command");
}
