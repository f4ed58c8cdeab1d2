/*
 * cli.c - what every command shares (cli.h): the usage text, usage and
 * error printing, and loading the trust store a --config file describes.
 */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdio.h>

#include "cli/out.h"
#include "core/s2s_trust_config.h"

static const char cli_usage_text[] =
    "usage: s2s-trust check [--config FILE] [--at TIME] [--json] [--explain] --domain DOMAIN CHAIN...\n"
    "                       [--tlsa 'U S M HEX']... [--dane] [--posh] [DANE/POSH options]\n"
    "       s2s-trust config-check [--json] FILE\n"
    "       s2s-trust dane DOMAIN [--unbound-conf FILE] [--trust-anchor FILE] [--chain PEM]\n"
    "                       [--config FILE] [--json] [--timeout MS]\n"
    "       s2s-trust posh DOMAIN [--chain PEM] [--cafile FILE] [--resolve HOST:PORT:ADDR]\n"
    "                       [--port N] [--timeout MS] [--json]\n"
    "       s2s-trust probe DOMAIN [--connect HOST:PORT] [--direct-tls] [--from DOMAIN]\n"
    "                       [--config FILE] [--json] [--timeout MS] [--no-dane] [--no-posh]\n"
    "                       [DANE/POSH options]\n"
    "       s2s-trust selftest TARGET [--connect HOST:PORT] [--from DOMAIN] [--json]\n"
    "                       [--timeout MS] [--dialback LISTEN_ADDR:PORT]\n"
    "                       [--issuer CERT --issuer-key KEY]\n"
    "       s2s-trust survey [DOMAIN...] [--file FILE] [--json | --markdown [--timeless]]\n"
    "                       [--jobs N] [--timeout MS] [--deadline MS] [--resume FILE]\n"
    "                       [--pledged FILE] [--config FILE] [--from D | --from-zone ZONE]\n"
    "                       [--dialback LISTEN_ADDR:PORT] [--no-dane] [--unbound-conf FILE]\n"
    "                       [--trust-anchor FILE] [--no-posh] [--posh-cafile FILE]\n"
    "                       [--posh-resolve HOST:PORT:ADDR] [--posh-port N] [--no-progress]\n"
    "\n"
    "check         verify each CHAIN (PEM with leaf first, or one DER certificate) for DOMAIN\n"
    "              against the trust store FILE describes (default: the system bundle);\n"
    "              prints 'DOMAIN: ok' or 'DOMAIN: refused: REASON (detail)' per chain\n"
    "  --at TIME   verify as of TIME: seconds since the epoch or YYYY-MM-DD[THH:MM:SSZ]\n"
    "  --explain   add the certificate details an operator needs\n"
    "  --json      one JSON object per chain instead of text\n"
    "  --tlsa 'U S M HEX'  judge each chain against this TLSA record too (repeatable),\n"
    "              as if DNSSEC-signed; --dane looks DOMAIN's up instead (every SRV\n"
    "              target's); --posh fetches DOMAIN's POSH document; the verdict is then\n"
    "              the module's with dane: opportunistic, posh: on\n"
    "config-check  read FILE and build its trust store; report the first error with file and line\n"
    "dane          look up DOMAIN's TLSA records as RFC 7673 says (a DNSSEC-secure SRV\n"
    "              _xmpp-server._tcp, else _5269._tcp.DOMAIN), validated by libunbound, and\n"
    "              with --chain tell whether the chain matches them (else PKIX decides)\n"
    "  --unbound-conf FILE  libunbound configuration (unbound.conf syntax)\n"
    "  --trust-anchor FILE  DS or DNSKEY lines (default /usr/share/dns/root.key)\n"
    "  --chain PEM  certificates as a peer sends them, leaf first\n"
    "  --timeout MS  deadline of the whole lookup (default 5000, at most 600000)\n"
    "posh          fetch DOMAIN's POSH document (RFC 7711) from\n"
    "              https://DOMAIN/.well-known/posh/xmpp-server.json (no HTTP redirect, one\n"
    "              `url` hop at most) and with --chain tell whether the leaf matches it\n"
    "  --cafile FILE  verify the web servers against FILE only (default: the system bundle)\n"
    "  --resolve HOST:PORT:ADDR  connect to ADDR for HOST:PORT (repeatable, at most 8)\n"
    "  --port N    the port of DOMAIN's URL (default 443)\n"
    "  --timeout MS  deadline of the whole fetch, hop included (default 10000, at most 60000)\n"
    "probe         connect to DOMAIN's XMPP server as a federating server would (SRV\n"
    "              _xmpps-server, _xmpp-server, then DOMAIN:5269), capture the certificate\n"
    "              chain it sends, verify it like check, and report what it sends and why\n"
    "  --connect HOST:PORT  connect there instead of resolving ([v6]:PORT for IPv6)\n"
    "  --direct-tls  TLS at once (XEP-0368) instead of STARTTLS; without --connect,\n"
    "              only _xmpps-server records are tried\n"
    "  --from D    our domain for the stream's 'from' (default: none)\n"
    "  --timeout MS  deadline per attempt (default 10000, at most 60000)\n"
    "  --no-dane, --no-posh  skip the TLSA lookup (for the SRV target probed) or the\n"
    "              POSH fetch that follow a captured chain; with them on, the verdict\n"
    "              is the module's with dane: opportunistic, posh: on\n"
    "DANE/POSH options (probe, check): --unbound-conf FILE, --trust-anchor FILE,\n"
    "              --dane-timeout MS (default 5000), --cafile FILE, --posh-port N,\n"
    "              --posh-timeout MS (default 10000), --resolve HOST:PORT:ADDR (also\n"
    "              maps probe's --connect HOST:PORT); as dane's and posh's options\n"
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
    "survey        for each domain (arguments, --file FILE or '-', else standard input;\n"
    "              one a line, # comments): its own chain (valid, complete, expiring\n"
    "              within 30 days, DANE/POSH), the self-test's untrusted peers,\n"
    "              STARTTLS required or optional, direct TLS; a verdict per domain:\n"
    "              keeps the pledge, accepts untrusted peers, own certificate fails,\n"
    "              unreachable, inconclusive (docs/survey.md)\n"
    "  --markdown  the pledge's lists; --timeless: no time in it\n"
    "  --jobs N    domains at once (default 8); --timeout MS per domain (default\n"
    "              60000); --deadline MS for the whole survey; Ctrl-C prints what finished\n"
    "  --resume FILE  an interrupted survey's --json: its finished domains are kept\n"
    "  --pledged FILE  domains that claim the pledge: those breaking it are named\n"
    "  --from D | --from-zone ZONE  the untrusted peers' name (default\n"
    "              s2s-trust-survey.invalid; ZONE: a random label under it)\n"
    "  --dialback LISTEN_ADDR:PORT  also try dialback (the peers' name must resolve there)\n"
    "\n"
    "exit status: 0 trusted / config good, 1 refused, 2 usage, configuration or I/O error,\n"
    "             3 probe: no certificate chain could be captured; probe and check with\n"
    "             DANE or POSH: 0 and 1 follow the decision, not PKIX alone\n"
    "selftest:    0 every peer refused, 1 at least one ACCEPTED, 3 inconclusive\n"
    "survey:      0 every domain keeps the pledge, 1 one breaks it, 3 one could not be\n"
    "             measured or decided, 130 interrupted\n"
    "dane:        0 secure or insecure answer (--chain: accepted), 1 bogus (--chain: refused),\n"
    "             2 also when DNS gave no answer\n"
    "posh:        0 a usable document (--chain: the leaf matches), 1 no match or no usable\n"
    "             document\n";

int cli_usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "s2s-trust: %s\n", why);
    fputs(cli_usage_text, stderr);
    return EXIT_USAGE;
}

int cli_help(void)
{
    fputs(cli_usage_text, stdout);
    return EXIT_TRUSTED;
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
