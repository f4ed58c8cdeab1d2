/*
 * s2s_trust_cli_selftest.c - `s2s-trust selftest TARGET`: play untrusted
 * peers (self-signed, expired, wrong name, unknown CA) against TARGET's s2s
 * port and report, per case, whether it refused them. The protocol is in
 * the core (s2s_trust_selftest.c); this file makes the certificates,
 * decides where to connect, opens the dialback listener and prints.
 *
 * Everything printed that came from the peer goes through cli_put_text /
 * cli_put_json.
 */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "net/s2s_trust_resolve.h"
#include "net/s2s_trust_selftest.h"

#define EXIT_INCONCLUSIVE 3

static const char dialback_untested[] =
    "dialback not tested: it needs a domain whose s2s server you control (use --dialback with --from a "
    "domain that resolves to an address this tool listens on)";

/* HOST:PORT, [IPv6]:PORT or HOST (port 5269) -> numeric address. 0 or -1. */
static int parse_hostport(const char *arg, int passive, char *addr, size_t cap, uint16_t *port)
{
    char host[256];
    const char *p = NULL, *colon;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    long n = 5269;

    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (close == NULL || (size_t)(close - arg - 1) >= sizeof host)
            return -1;
        memcpy(host, arg + 1, (size_t)(close - arg - 1));
        host[close - arg - 1] = '\0';
        if (close[1] == ':')
            p = close + 2;
        else if (close[1] != '\0')
            return -1;
    } else {
        colon = strrchr(arg, ':');
        if (colon != NULL && strchr(arg, ':') != colon)
            colon = NULL; /* a bare IPv6 literal */
        size_t hl = colon ? (size_t)(colon - arg) : strlen(arg);
        if (hl == 0 || hl >= sizeof host)
            return -1;
        memcpy(host, arg, hl);
        host[hl] = '\0';
        if (colon != NULL)
            p = colon + 1;
    }
    if (p != NULL) {
        char *end;
        n = strtol(p, &end, 10);
        if (*p == '\0' || *end != '\0' || n <= 0 || n > 65535)
            return -1;
    }
    if (passive)
        hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || ai == NULL)
        return -1;
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0) {
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    *port = (uint16_t)n;
    return 0;
}

static int open_listener(const char *addr, uint16_t port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
    struct addrinfo *ai = NULL;
    char ps[8];
    int fd, one = 1;

    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    if (getaddrinfo(addr, ps, &hints, &ai) != 0 || ai == NULL)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 8) != 0)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void put_time(FILE *out, const ASN1_TIME *t, int json)
{
    struct tm tm;
    char buf[32];

    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, sizeof buf, "?");
    if (json)
        cli_put_json_str(out, buf);
    else
        fputs(buf, out);
}

static const char *outcome_word(s2s_trust_st_outcome_t o)
{
    return o == S2S_TRUST_ST_ACCEPTED ? "ACCEPTED" : s2s_trust_st_outcome_name(o);
}

static void print_text(const char *target, const char *addr, uint16_t port, const char *from, const char *db_listen,
                       const s2s_trust_st_identity_t *ids, const s2s_trust_st_result_t *rs, int n_acc, int n_inc)
{
    printf("selftest of ");
    cli_put_text_str(stdout, target);
    printf(" at %s:%u as ", addr, (unsigned)port);
    cli_put_text_str(stdout, from);
    printf(" (4 untrusted peers, SASL EXTERNAL after STARTTLS%s)\n", db_listen ? ", then dialback" : "");
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        const s2s_trust_st_result_t *r = &rs[i];
        const s2s_trust_st_identity_t *id = &ids[i];
        printf("  %-12s certificate for ", s2s_trust_st_case_name((s2s_trust_st_case_t)i));
        cli_put_text_str(stdout, id->name);
        printf(", %s, valid ", id->issued ? "signed by the --issuer CA" : id->extra ? "signed by a throwaway CA" : "self-signed");
        put_time(stdout, X509_get0_notBefore(id->leaf), 0);
        fputs(" .. ", stdout);
        put_time(stdout, X509_get0_notAfter(id->leaf), 0);
        printf("\n    EXTERNAL: %s (%s): ", outcome_word(r->external_outcome),
               r->how ? r->how : "?");
        cli_put_text_str(stdout, r->detail);
        putchar('\n');
        if (db_listen != NULL) {
            printf("    dialback: %s%s (%s): ", outcome_word(r->dialback_outcome),
                   r->dialback_outcome == S2S_TRUST_ST_ACCEPTED ? " via dialback" : "",
                   r->dialback_how ? r->dialback_how : "?");
            cli_put_text_str(stdout, r->dialback_detail);
            printf("%s\n", r->verify_seen ? " [the target called back and was told 'valid']" : "");
        }
        printf("    outcome:  %s\n", outcome_word(r->outcome));
    }
    if (db_listen == NULL)
        printf("%s\n", dialback_untested);
    if (n_acc > 0)
        printf("result: the pledge is BROKEN: %d of 4 untrusted peers ACCEPTED\n", n_acc);
    else if (n_inc > 0)
        printf("result: inconclusive: %d of 4 cases could not be decided\n", n_inc);
    else
        printf("result: every untrusted peer was refused%s\n",
               db_listen ? " (SASL EXTERNAL and dialback)" : " (SASL EXTERNAL; dialback not tested)");
}

static void json_str_field(const char *key, const char *val, int *first)
{
    cli_json_key(stdout, key, first);
    cli_put_json_str(stdout, val);
}

static void print_json(const char *target, const char *addr, uint16_t port, const char *from, const char *db_listen,
                       const s2s_trust_st_identity_t *ids, const s2s_trust_st_result_t *rs, int n_acc, int n_inc)
{
    int first = 1;

    putchar('{');
    json_str_field("target", target, &first);
    json_str_field("address", addr, &first);
    cli_json_key(stdout, "port", &first);
    printf("%u", (unsigned)port);
    json_str_field("from", from, &first);
    cli_json_key(stdout, "dialback", &first);
    {
        int f2 = 1;
        putchar('{');
        cli_json_key(stdout, "tested", &f2);
        fputs(db_listen ? "true" : "false", stdout);
        json_str_field("listen", db_listen, &f2);
        json_str_field("note", db_listen ? NULL : dialback_untested, &f2);
        putchar('}');
    }
    cli_json_key(stdout, "cases", &first);
    putchar('[');
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        const s2s_trust_st_result_t *r = &rs[i];
        const s2s_trust_st_identity_t *id = &ids[i];
        int f = 1, f2 = 1;
        if (i > 0)
            putchar(',');
        putchar('{');
        json_str_field("case", s2s_trust_st_case_name((s2s_trust_st_case_t)i), &f);
        cli_json_key(stdout, "certificate", &f);
        putchar('{');
        json_str_field("name", id->name, &f2);
        json_str_field("issuer", id->issued ? "given" : id->extra ? "throwaway_ca" : "self", &f2);
        cli_json_key(stdout, "not_before", &f2);
        put_time(stdout, X509_get0_notBefore(id->leaf), 1);
        cli_json_key(stdout, "not_after", &f2);
        put_time(stdout, X509_get0_notAfter(id->leaf), 1);
        putchar('}');
        json_str_field("outcome", s2s_trust_st_outcome_name(r->outcome), &f);
        cli_json_key(stdout, "external", &f);
        f2 = 1;
        putchar('{');
        json_str_field("how", r->how, &f2);
        json_str_field("detail", r->detail, &f2);
        cli_json_key(stdout, "offered", &f2);
        fputs(r->external_offered ? "true" : "false", stdout);
        json_str_field("sasl_condition", r->sasl_condition[0] ? r->sasl_condition : NULL, &f2);
        json_str_field("sasl_text", r->sasl_text[0] ? r->sasl_text : NULL, &f2);
        json_str_field("stream_error", r->stream_error[0] ? r->stream_error : NULL, &f2);
        json_str_field("tls_version", r->tls_version[0] ? r->tls_version : NULL, &f2);
        putchar('}');
        cli_json_key(stdout, "dialback", &f);
        f2 = 1;
        putchar('{');
        cli_json_key(stdout, "offered", &f2);
        fputs(r->dialback_offered ? "true" : "false", stdout);
        cli_json_key(stdout, "tested", &f2);
        fputs(db_listen && r->dialback_tested ? "true" : "false", stdout);
        json_str_field("outcome", db_listen ? s2s_trust_st_outcome_name(r->dialback_outcome) : "not_tested", &f2);
        json_str_field("how", db_listen ? r->dialback_how : NULL, &f2);
        json_str_field("detail", db_listen ? r->dialback_detail : NULL, &f2);
        cli_json_key(stdout, "verify_seen", &f2);
        fputs(r->verify_seen ? "true" : "false", stdout);
        putchar('}');
        cli_json_key(stdout, "elapsed_ms", &f);
        printf("%u", r->elapsed_ms);
        putchar('}');
    }
    putchar(']');
    cli_json_key(stdout, "summary", &first);
    printf("{\"accepted\":%d,\"inconclusive\":%d,\"refused\":%d}", n_acc, n_inc, 4 - n_acc - n_inc);
    json_str_field("verdict", n_acc ? "accepted" : n_inc ? "inconclusive" : "refused", &first);
    puts("}");
}

int cli_cmd_selftest(int argc, char **argv)
{
    static const struct option opts[] = {
        { "connect", required_argument, NULL, 'c' }, { "from", required_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },          { "timeout", required_argument, NULL, 't' },
        { "dialback", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
        { "issuer", required_argument, NULL, 'i' },   { "issuer-key", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    const char *connect_to = NULL, *from = "selftest.invalid", *db_listen = NULL, *target;
    const char *issuer_file = NULL, *issuer_key_file = NULL;
    int from_given = 0;
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    long timeout = S2S_TRUST_ST_TOTAL_MS_DEFAULT;
    int json = 0, opt, status = EXIT_USAGE, db_fd = -1, n_acc = 0, n_inc = 0;
    char addr[64], db_addr[64];
    uint16_t port = 5269, db_port = 0;
    s2s_trust_st_identity_t ids[S2S_TRUST_ST_CASE_COUNT] = { 0 }, db_id = { 0 };
    s2s_trust_st_result_t rs[S2S_TRUST_ST_CASE_COUNT];

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': connect_to = optarg; break;
        case 'f': from = optarg; from_given = 1; break;
        case 'j': json = 1; break;
        case 'd': db_listen = optarg; break;
        case 'i': issuer_file = optarg; break;
        case 'k': issuer_key_file = optarg; break;
        case 't': {
            char *end;
            timeout = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || timeout < 100 || timeout > S2S_TRUST_ST_TOTAL_MS_MAX)
                return cli_usage("--timeout: milliseconds, 100..120000");
            break;
        }
        case 'h': fputs(cli_usage_text, stdout); return EXIT_TRUSTED;
        default: return cli_usage(NULL);
        }
    }
    if (optind != argc - 1)
        return cli_usage("selftest needs exactly one TARGET domain");
    target = argv[optind];
    if (s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, target, &db_id) != 0) /* validates the name */
        return cli_usage("selftest: TARGET must be a domain in A-label form");
    s2s_trust_st_identity_free(&db_id);
    if (s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, from, &db_id) != 0)
        return cli_usage("--from: a domain in A-label form");
    if (db_listen != NULL && !from_given) {
        status = cli_usage("--dialback needs --from: a domain that resolves, for the target, to LISTEN_ADDR");
        goto out;
    }
    if ((issuer_file == NULL) != (issuer_key_file == NULL)) {
        status = cli_usage("--issuer and --issuer-key go together");
        goto out;
    }
    if (issuer_file != NULL) {
        FILE *f = fopen(issuer_file, "r");
        if (f != NULL) {
            issuer = PEM_read_X509(f, NULL, NULL, NULL);
            fclose(f);
        }
        f = fopen(issuer_key_file, "r");
        if (f != NULL) {
            issuer_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
            fclose(f);
        }
        if (issuer == NULL || issuer_key == NULL || X509_check_private_key(issuer, issuer_key) != 1) {
            fprintf(stderr, "s2s-trust: selftest: --issuer/--issuer-key: not a PEM certificate and its key\n");
            status = EXIT_USAGE;
            goto out;
        }
    }
    if (connect_to != NULL) {
        if (parse_hostport(connect_to, 0, addr, sizeof addr, &port) != 0) {
            status = cli_usage("--connect: HOST:PORT, [IPv6]:PORT or HOST");
            goto out;
        }
    } else {
        s2s_trust_resolution_t *res = calloc(1, sizeof *res);
        size_t i;
        if (res == NULL)
            goto out;
        s2s_trust_resolve(target, res);
        for (i = 0; i < res->count && res->items[i].mode != S2S_TRUST_PROBE_STARTTLS; i++)
            ;
        if (i == res->count) {
            fprintf(stderr, "s2s-trust: selftest: nowhere to connect for %s (no STARTTLS candidate); use --connect\n",
                    target);
            free(res);
            status = EXIT_INCONCLUSIVE;
            goto out;
        }
        snprintf(addr, sizeof addr, "%s", res->items[i].address);
        port = res->items[i].port;
        free(res);
    }
    if (db_listen != NULL) {
        if (parse_hostport(db_listen, 1, db_addr, sizeof db_addr, &db_port) != 0) {
            status = cli_usage("--dialback: LISTEN_ADDR:PORT (numeric address)");
            goto out;
        }
        db_fd = open_listener(db_addr, db_port);
        if (db_fd < 0) {
            fprintf(stderr, "s2s-trust: selftest: cannot listen on %s for dialback: %m\n", db_listen);
            status = EXIT_USAGE;
            goto out;
        }
    }
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        if (s2s_trust_st_make_identity_issued((s2s_trust_st_case_t)i, from, issuer, issuer_key, &ids[i]) != 0) {
            fprintf(stderr, "s2s-trust: selftest: could not make the %s certificate\n",
                    s2s_trust_st_case_name((s2s_trust_st_case_t)i));
            status = EXIT_USAGE;
            goto out;
        }
    }
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        s2s_trust_st_request_t req = {
            .target = target, .from = from, .address = addr, .port = port, .total_ms = (unsigned)timeout,
            .identity = &ids[i], .dialback_fd = db_fd, .dialback_identity = &db_id,
        };
        s2s_trust_st_run(&req, &rs[i]);
        if (rs[i].outcome == S2S_TRUST_ST_ACCEPTED)
            n_acc++;
        else if (rs[i].outcome == S2S_TRUST_ST_INCONCLUSIVE)
            n_inc++;
    }
    if (json)
        print_json(target, addr, port, from, db_listen, ids, rs, n_acc, n_inc);
    else
        print_text(target, addr, port, from, db_listen, ids, rs, n_acc, n_inc);
    status = n_acc ? EXIT_REFUSED : n_inc ? EXIT_INCONCLUSIVE : EXIT_TRUSTED;
out:
    if (db_fd >= 0)
        close(db_fd);
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++)
        s2s_trust_st_identity_free(&ids[i]);
    s2s_trust_st_identity_free(&db_id);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    return status;
}
