/*
 * selftest.c - `s2s-trust selftest TARGET`: play untrusted peers
 * (self-signed, expired, wrong name, unknown CA) against TARGET's s2s port
 * and report, per case, whether it refused them. The protocol is in
 * net/s2s_trust_selftest.c; this file reads the options, makes the
 * certificates, decides where to connect, opens the dialback listener and
 * prints the report (text or JSON).
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

static const char dialback_untested[] =
    "dialback not tested: it needs a domain whose s2s server you control (use --dialback with --from a "
    "domain that resolves to an address this tool listens on)";

/* The command line, read. */
typedef struct {
    const char *connect_to, *from, *db_listen, *target;
    const char *issuer_file, *issuer_key_file;
    int from_given, json;
    long timeout;
} st_opts_t;

/* One run: where, as whom, the four identities played and what came of them. */
typedef struct {
    const char *target, *from, *db_listen;
    char addr[64];
    uint16_t port;
    s2s_trust_st_identity_t ids[S2S_TRUST_ST_CASE_COUNT];
    s2s_trust_st_result_t rs[S2S_TRUST_ST_CASE_COUNT];
    int n_acc, n_inc;
} st_run_t;

/* ---- addresses ------------------------------------------------------------- */

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

/* ---- report ---------------------------------------------------------------- */

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

static void text_case(const st_run_t *run, int i)
{
    const s2s_trust_st_result_t *r = &run->rs[i];
    const s2s_trust_st_identity_t *id = &run->ids[i];

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
    if (run->db_listen != NULL) {
        printf("    dialback: %s%s (%s): ", outcome_word(r->dialback_outcome),
               r->dialback_outcome == S2S_TRUST_ST_ACCEPTED ? " via dialback" : "",
               r->dialback_how ? r->dialback_how : "?");
        cli_put_text_str(stdout, r->dialback_detail);
        printf("%s\n", r->verify_seen ? " [the target called back and was told 'valid']" : "");
    }
    printf("    outcome:  %s\n", outcome_word(r->outcome));
}

static void print_text(const st_run_t *run)
{
    printf("selftest of ");
    cli_put_text_str(stdout, run->target);
    printf(" at %s:%u as ", run->addr, (unsigned)run->port);
    cli_put_text_str(stdout, run->from);
    printf(" (4 untrusted peers, SASL EXTERNAL after STARTTLS%s)\n", run->db_listen ? ", then dialback" : "");
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++)
        text_case(run, i);
    if (run->db_listen == NULL)
        printf("%s\n", dialback_untested);
    if (run->n_acc > 0)
        printf("result: the pledge is BROKEN: %d of 4 untrusted peers ACCEPTED\n", run->n_acc);
    else if (run->n_inc > 0)
        printf("result: inconclusive: %d of 4 cases could not be decided\n", run->n_inc);
    else
        printf("result: every untrusted peer was refused%s\n",
               run->db_listen ? " (SASL EXTERNAL and dialback)" : " (SASL EXTERNAL; dialback not tested)");
}

/* "certificate": the identity played. */
static void json_identity(const s2s_trust_st_identity_t *id, int *first)
{
    int f2 = 1;

    cli_json_key(stdout, "certificate", first);
    putchar('{');
    cli_json_str(stdout, "name", id->name, &f2);
    cli_json_str(stdout, "issuer", id->issued ? "given" : id->extra ? "throwaway_ca" : "self", &f2);
    cli_json_key(stdout, "not_before", &f2);
    put_time(stdout, X509_get0_notBefore(id->leaf), 1);
    cli_json_key(stdout, "not_after", &f2);
    put_time(stdout, X509_get0_notAfter(id->leaf), 1);
    putchar('}');
}

/* "external" and "dialback": how each attempt ended. */
static void json_attempts(const s2s_trust_st_result_t *r, const char *db_listen, int *first)
{
    int f2 = 1;

    cli_json_key(stdout, "external", first);
    putchar('{');
    cli_json_str(stdout, "how", r->how, &f2);
    cli_json_str(stdout, "detail", r->detail, &f2);
    cli_json_bool(stdout, "offered", r->external_offered, &f2);
    cli_json_str(stdout, "sasl_condition", r->sasl_condition[0] ? r->sasl_condition : NULL, &f2);
    cli_json_str(stdout, "sasl_text", r->sasl_text[0] ? r->sasl_text : NULL, &f2);
    cli_json_str(stdout, "stream_error", r->stream_error[0] ? r->stream_error : NULL, &f2);
    cli_json_str(stdout, "tls_version", r->tls_version[0] ? r->tls_version : NULL, &f2);
    putchar('}');
    cli_json_key(stdout, "dialback", first);
    f2 = 1;
    putchar('{');
    cli_json_bool(stdout, "offered", r->dialback_offered, &f2);
    cli_json_bool(stdout, "tested", db_listen && r->dialback_tested, &f2);
    cli_json_str(stdout, "outcome", db_listen ? s2s_trust_st_outcome_name(r->dialback_outcome) : "not_tested", &f2);
    cli_json_str(stdout, "how", db_listen ? r->dialback_how : NULL, &f2);
    cli_json_str(stdout, "detail", db_listen ? r->dialback_detail : NULL, &f2);
    cli_json_bool(stdout, "verify_seen", r->verify_seen, &f2);
    putchar('}');
}

static void json_case(const st_run_t *run, int i)
{
    const s2s_trust_st_result_t *r = &run->rs[i];
    int f = 1;

    putchar('{');
    cli_json_str(stdout, "case", s2s_trust_st_case_name((s2s_trust_st_case_t)i), &f);
    json_identity(&run->ids[i], &f);
    cli_json_str(stdout, "outcome", s2s_trust_st_outcome_name(r->outcome), &f);
    json_attempts(r, run->db_listen, &f);
    cli_json_key(stdout, "elapsed_ms", &f);
    printf("%u", r->elapsed_ms);
    putchar('}');
}

static void print_json(const st_run_t *run)
{
    int first = 1, f2 = 1;

    putchar('{');
    cli_json_str(stdout, "target", run->target, &first);
    cli_json_str(stdout, "address", run->addr, &first);
    cli_json_key(stdout, "port", &first);
    printf("%u", (unsigned)run->port);
    cli_json_str(stdout, "from", run->from, &first);
    cli_json_key(stdout, "dialback", &first);
    putchar('{');
    cli_json_bool(stdout, "tested", run->db_listen != NULL, &f2);
    cli_json_str(stdout, "listen", run->db_listen, &f2);
    cli_json_str(stdout, "note", run->db_listen ? NULL : dialback_untested, &f2);
    putchar('}');
    cli_json_key(stdout, "cases", &first);
    putchar('[');
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        if (i > 0)
            putchar(',');
        json_case(run, i);
    }
    putchar(']');
    cli_json_key(stdout, "summary", &first);
    printf("{\"accepted\":%d,\"inconclusive\":%d,\"refused\":%d}", run->n_acc, run->n_inc,
           4 - run->n_acc - run->n_inc);
    cli_json_str(stdout, "verdict", run->n_acc ? "accepted" : run->n_inc ? "inconclusive" : "refused", &first);
    puts("}");
}

/* ---- the command ------------------------------------------------------------ */

/* CLI_GO_ON, or the exit status after printing the usage (or the help). */
static int parse_options(int argc, char **argv, st_opts_t *o)
{
    static const struct option opts[] = {
        { "connect", required_argument, NULL, 'c' }, { "from", required_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },          { "timeout", required_argument, NULL, 't' },
        { "dialback", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
        { "issuer", required_argument, NULL, 'i' },   { "issuer-key", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    memset(o, 0, sizeof *o);
    o->from = "selftest.invalid";
    o->timeout = S2S_TRUST_ST_TOTAL_MS_DEFAULT;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->connect_to = optarg; break;
        case 'f': o->from = optarg; o->from_given = 1; break;
        case 'j': o->json = 1; break;
        case 'd': o->db_listen = optarg; break;
        case 'i': o->issuer_file = optarg; break;
        case 'k': o->issuer_key_file = optarg; break;
        case 't': {
            char *end;
            o->timeout = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->timeout < 100 || o->timeout > S2S_TRUST_ST_TOTAL_MS_MAX)
                return cli_usage("--timeout: milliseconds, 100..120000");
            break;
        }
        case 'h': return cli_help();
        default: return cli_usage(NULL);
        }
    }
    if (optind != argc - 1)
        return cli_usage("selftest needs exactly one TARGET domain");
    o->target = argv[optind];
    return CLI_GO_ON;
}

/* TARGET and --from must be usable domains; *db_id becomes the identity
 * the dialback server shows (a self-signed one for --from). CLI_GO_ON, or the
 * exit status. */
static int check_names(const st_opts_t *o, s2s_trust_st_identity_t *db_id)
{
    if (s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, o->target, db_id) != 0) /* validates the name */
        return cli_usage("selftest: TARGET must be a domain in A-label form");
    s2s_trust_st_identity_free(db_id);
    if (s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, o->from, db_id) != 0)
        return cli_usage("--from: a domain in A-label form");
    if (o->db_listen != NULL && !o->from_given)
        return cli_usage("--dialback needs --from: a domain that resolves, for the target, to LISTEN_ADDR");
    if ((o->issuer_file == NULL) != (o->issuer_key_file == NULL))
        return cli_usage("--issuer and --issuer-key go together");
    return CLI_GO_ON;
}

/* --issuer and --issuer-key: a PEM certificate and its key. CLI_GO_ON or EXIT_USAGE. */
static int load_issuer(const st_opts_t *o, X509 **issuer, EVP_PKEY **issuer_key)
{
    FILE *f = fopen(o->issuer_file, "r");

    if (f != NULL) {
        *issuer = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    f = fopen(o->issuer_key_file, "r");
    if (f != NULL) {
        *issuer_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (*issuer == NULL || *issuer_key == NULL || X509_check_private_key(*issuer, *issuer_key) != 1) {
        fprintf(stderr, "s2s-trust: selftest: --issuer/--issuer-key: not a PEM certificate and its key\n");
        return EXIT_USAGE;
    }
    return CLI_GO_ON;
}

/* Where the target's s2s port is: --connect, or the first STARTTLS
 * candidate DNS gives. CLI_GO_ON, or the exit status. */
static int find_target(const st_opts_t *o, st_run_t *run)
{
    s2s_trust_resolution_t *res;
    size_t i;

    if (o->connect_to != NULL) {
        if (parse_hostport(o->connect_to, 0, run->addr, sizeof run->addr, &run->port) != 0)
            return cli_usage("--connect: HOST:PORT, [IPv6]:PORT or HOST");
        return CLI_GO_ON;
    }
    res = calloc(1, sizeof *res);
    if (res == NULL)
        return EXIT_USAGE;
    s2s_trust_resolve(o->target, res);
    for (i = 0; i < res->count && res->items[i].mode != S2S_TRUST_TLS_MODE_STARTTLS; i++)
        ;
    if (i == res->count) {
        fprintf(stderr, "s2s-trust: selftest: nowhere to connect for %s (no STARTTLS candidate); use --connect\n",
                o->target);
        free(res);
        return EXIT_INCONCLUSIVE;
    }
    snprintf(run->addr, sizeof run->addr, "%s", res->items[i].address);
    run->port = res->items[i].port;
    free(res);
    return CLI_GO_ON;
}

/* --dialback LISTEN_ADDR:PORT: the listening socket in *fd. CLI_GO_ON, or the
 * exit status. */
static int open_dialback(const char *db_listen, int *fd)
{
    char db_addr[64];
    uint16_t db_port = 0;

    if (parse_hostport(db_listen, 1, db_addr, sizeof db_addr, &db_port) != 0)
        return cli_usage("--dialback: LISTEN_ADDR:PORT (numeric address)");
    *fd = open_listener(db_addr, db_port);
    if (*fd < 0) {
        fprintf(stderr, "s2s-trust: selftest: cannot listen on %s for dialback: %m\n", db_listen);
        return EXIT_USAGE;
    }
    return CLI_GO_ON;
}

/* The four untrusted identities, signed by the issuer where one is given.
 * CLI_GO_ON or EXIT_USAGE. */
static int make_identities(st_run_t *run, X509 *issuer, EVP_PKEY *issuer_key)
{
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        if (s2s_trust_st_make_identity_issued((s2s_trust_st_case_t)i, run->from, issuer, issuer_key, &run->ids[i]) != 0) {
            fprintf(stderr, "s2s-trust: selftest: could not make the %s certificate\n",
                    s2s_trust_st_case_name((s2s_trust_st_case_t)i));
            return EXIT_USAGE;
        }
    }
    return CLI_GO_ON;
}

/* Play each case against the target; count what was accepted or undecided. */
static void run_cases(st_run_t *run, long timeout, int db_fd, const s2s_trust_st_identity_t *db_id)
{
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++) {
        s2s_trust_st_request_t req = {
            .target = run->target, .from = run->from, .address = run->addr, .port = run->port,
            .total_ms = (unsigned)timeout, .identity = &run->ids[i], .dialback_fd = db_fd,
            .dialback_identity = db_id,
        };
        s2s_trust_st_run(&req, &run->rs[i]);
        if (run->rs[i].outcome == S2S_TRUST_ST_ACCEPTED)
            run->n_acc++;
        else if (run->rs[i].outcome == S2S_TRUST_ST_INCONCLUSIVE)
            run->n_inc++;
    }
}

int cli_cmd_selftest(int argc, char **argv)
{
    st_opts_t o;
    st_run_t run = { 0 };
    s2s_trust_st_identity_t db_id = { 0 };
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    int db_fd = -1, status;

    status = parse_options(argc, argv, &o);
    if (status != CLI_GO_ON)
        return status;
    run.target = o.target;
    run.from = o.from;
    run.db_listen = o.db_listen;
    run.port = 5269;
    status = check_names(&o, &db_id);
    if (status == CLI_GO_ON && o.issuer_file != NULL)
        status = load_issuer(&o, &issuer, &issuer_key);
    if (status == CLI_GO_ON)
        status = find_target(&o, &run);
    if (status == CLI_GO_ON && o.db_listen != NULL)
        status = open_dialback(o.db_listen, &db_fd);
    if (status == CLI_GO_ON)
        status = make_identities(&run, issuer, issuer_key);
    if (status == CLI_GO_ON) {
        run_cases(&run, o.timeout, db_fd, &db_id);
        if (o.json)
            print_json(&run);
        else
            print_text(&run);
        status = run.n_acc ? EXIT_REFUSED : run.n_inc ? EXIT_INCONCLUSIVE : EXIT_TRUSTED;
    }
    if (db_fd >= 0)
        close(db_fd);
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++)
        s2s_trust_st_identity_free(&run.ids[i]);
    s2s_trust_st_identity_free(&db_id);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    return status;
}
