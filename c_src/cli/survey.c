/*
 * survey.c - `s2s-trust survey`: who keeps the pledge. Reads the domains
 * (arguments, --file, standard input), the domains that claim the pledge
 * (--pledged) and an interrupted survey's JSON (--resume); mints the
 * untrusted peers' certificates for a name the survey controls; hands the
 * domains to the pool (survey_pool.c, survey_measure.c); prints the result
 * as text, JSON or the pledge's Markdown list (core/s2s_trust_survey_render.h).
 *
 * Honest by construction: the only certificates the survey ever presents are
 * the ones minted here, for --from (default s2s-trust-survey.invalid, a name
 * that exists nowhere) or a random label under --from-zone; see docs/survey.md.
 */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "cli/survey.h"
#include "core/s2s_trust_survey_render.h"
#include "core/s2s_trust_survey_resume.h"

#define SURVEY_FROM_DEFAULT "s2s-trust-survey.invalid"
#define SURVEY_LINE_MAX 1024

enum { FMT_TEXT, FMT_JSON, FMT_MARKDOWN };

typedef struct {
    const char *file, *pledged, *resume, *config, *from, *from_zone, *dialback;
    const char *unbound_conf, *trust_anchor, *posh_cafile;
    const char *posh_resolve[S2S_TRUST_HTTP_MAX_RESOLVE];
    size_t n_posh_resolve;
    int format, jobs, no_dane, no_posh, timeless, no_progress;
    unsigned long posh_port;
    unsigned long domain_ms, total_ms;
    char **args;
    int n_args;
} sv_opts_t;

/* A list of distinct domains in A-label form, in the order first seen. */
typedef struct {
    char **d;
    size_t n;
} list_t;

static int list_has(const list_t *l, const char *d)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->d[i], d) == 0)
            return 1;
    return 0;
}

/* Add `raw` (normalized); 0, or -1 after saying why (where: "FILE:LINE" or NULL). */
static int list_add(list_t *l, const char *raw, const char *where)
{
    char norm[S2S_TRUST_DOMAIN_MAX + 1];
    char **d;

    if (s2s_trust_identity_normalize(raw, strlen(raw), norm, sizeof norm) != 0) {
        fprintf(stderr, "s2s-trust: survey: %s%snot a domain name: ", where ? where : "", where ? ": " : "");
        cli_put_text_str(stderr, raw);
        fputc('\n', stderr);
        return -1;
    }
    if (list_has(l, norm))
        return 0;
    if (l->n >= S2S_TRUST_SV_MAX_DOMAINS) {
        fprintf(stderr, "s2s-trust: survey: more than %d domains\n", S2S_TRUST_SV_MAX_DOMAINS);
        return -1;
    }
    d = realloc(l->d, (l->n + 1) * sizeof *d);
    if (d == NULL || (d[l->n] = strdup(norm)) == NULL) {
        if (d != NULL)
            l->d = d;
        fprintf(stderr, "s2s-trust: out of memory\n");
        return -1;
    }
    l->d = d;
    l->n++;
    return 0;
}

static void list_free(list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->d[i]);
    free(l->d);
    memset(l, 0, sizeof *l);
}

/* One domain a line, '#' starts a comment, blanks around are ignored.
 * Read a byte at a time into a bounded line: a NUL byte or an endless line
 * is an error, never a silently shortened name or an unbounded buffer. */
static int list_read(list_t *l, FILE *f, const char *name)
{
    char line[SURVEY_LINE_MAX + 1], where[300];
    int lineno = 0, c;

    do {
        size_t len = 0;
        char *s = line, *e;

        lineno++;
        while ((c = getc(f)) != EOF && c != '\n') {
            if (c == '\0' || len == SURVEY_LINE_MAX) {
                fprintf(stderr, "s2s-trust: survey: ");
                cli_put_text_str(stderr, name);
                fprintf(stderr, ":%d: %s\n", lineno, c == '\0' ? "a NUL byte" : "a line longer than 1024 bytes");
                return -1;
            }
            line[len++] = (char)c;
        }
        line[len] = '\0';
        if ((e = strchr(s, '#')) != NULL)
            *e = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*s == '\0')
            continue;
        snprintf(where, sizeof where, "%.200s:%d", name, lineno);
        if (list_add(l, s, where) != 0)
            return -1;
    } while (c != EOF);
    return ferror(f) ? -1 : 0;
}

static int list_read_file(list_t *l, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    int rc;

    if (f == NULL) {
        fprintf(stderr, "s2s-trust: survey: cannot read ");
        cli_put_text_str(stderr, path);
        fprintf(stderr, ": %m\n");
        return -1;
    }
    rc = list_read(l, f, strcmp(path, "-") == 0 ? "stdin" : path);
    if (f != stdin)
        fclose(f);
    return rc;
}

/* ---- options ---------------------------------------------------------------------- */

static int number(const char *arg, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    *out = strtoul(arg, &end, 10);
    return *arg != '\0' && *end == '\0' && *arg != '-' && *out >= lo && *out <= hi ? 0 : -1;
}

static int parse_options(int argc, char **argv, sv_opts_t *o)
{
    static const struct option opts[] = {
        { "file", required_argument, NULL, 'F' },         { "pledged", required_argument, NULL, 'P' },
        { "resume", required_argument, NULL, 'R' },       { "config", required_argument, NULL, 'C' },
        { "from", required_argument, NULL, 'f' },         { "from-zone", required_argument, NULL, 'z' },
        { "dialback", required_argument, NULL, 'd' },     { "json", no_argument, NULL, 'j' },
        { "markdown", no_argument, NULL, 'm' },           { "jobs", required_argument, NULL, 'J' },
        { "timeout", required_argument, NULL, 't' },      { "deadline", required_argument, NULL, 'T' },
        { "no-dane", no_argument, NULL, 'D' },            { "unbound-conf", required_argument, NULL, 'u' },
        { "trust-anchor", required_argument, NULL, 'a' }, { "no-posh", no_argument, NULL, 'O' },
        { "posh-cafile", required_argument, NULL, 'c' },  { "posh-resolve", required_argument, NULL, 'r' },
        { "timeless", no_argument, NULL, 'L' },           { "no-progress", no_argument, NULL, 'N' },
        { "posh-port", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },               { NULL, 0, NULL, 0 },
    };
    int opt;

    memset(o, 0, sizeof *o);
    o->jobs = SURVEY_JOBS_DEFAULT;
    o->domain_ms = SURVEY_DOMAIN_MS_DEFAULT;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        unsigned long n;
        switch (opt) {
        case 'F': o->file = optarg; break;
        case 'P': o->pledged = optarg; break;
        case 'R': o->resume = optarg; break;
        case 'C': o->config = optarg; break;
        case 'f': o->from = optarg; break;
        case 'z': o->from_zone = optarg; break;
        case 'd': o->dialback = optarg; break;
        case 'j': o->format = FMT_JSON; break;
        case 'm': o->format = FMT_MARKDOWN; break;
        case 'D': o->no_dane = 1; break;
        case 'u': o->unbound_conf = optarg; break;
        case 'a': o->trust_anchor = optarg; break;
        case 'O': o->no_posh = 1; break;
        case 'c': o->posh_cafile = optarg; break;
        case 'L': o->timeless = 1; break;
        case 'N': o->no_progress = 1; break;
        case 'r':
            if (o->n_posh_resolve >= S2S_TRUST_HTTP_MAX_RESOLVE)
                return cli_usage("--posh-resolve: at most 8");
            o->posh_resolve[o->n_posh_resolve++] = optarg;
            break;
        case 'p':
            if (number(optarg, 1, 65535, &o->posh_port) != 0)
                return cli_usage("--posh-port: 1 to 65535");
            break;
        case 'J':
            if (number(optarg, 1, SURVEY_JOBS_MAX, &n) != 0)
                return cli_usage("--jobs: 1 to 64");
            o->jobs = (int)n;
            break;
        case 't':
            if (number(optarg, 500, 600000, &o->domain_ms) != 0)
                return cli_usage("--timeout: milliseconds per domain, 500 to 600000");
            break;
        case 'T':
            if (number(optarg, 500, 86400000, &o->total_ms) != 0)
                return cli_usage("--deadline: milliseconds for the whole survey, 500 to 86400000");
            break;
        case 'h': return cli_help();
        default: return cli_usage(NULL);
        }
    }
    o->args = argv + optind;
    o->n_args = argc - optind;
    if (o->from != NULL && o->from_zone != NULL)
        return cli_usage("--from and --from-zone: one or the other");
    if (o->dialback != NULL && o->from == NULL && o->from_zone == NULL)
        return cli_usage("--dialback needs --from or --from-zone: a name that resolves, for the surveyed "
                         "servers, to the listener");
    return CLI_GO_ON;
}

/* ---- set-up ----------------------------------------------------------------------- */

/* --dialback ADDR:PORT or [V6]:PORT, numeric: a listening socket, or -1. */
static int open_listener(const char *arg)
{
    char host[64];
    const char *port;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
    struct addrinfo *ai = NULL;
    size_t hl;
    int fd = -1, one = 1;

    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        hl = (size_t)(close - arg - 1);
        arg++;
        port = close + 2;
    } else {
        port = strrchr(arg, ':');
        if (port == NULL)
            return -1;
        hl = (size_t)(port - arg);
        port++;
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, arg, hl);
    host[hl] = '\0';
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* The peers' name, their four certificates, the dialback listener. */
static int setup_peers(const sv_opts_t *o, survey_ctx_t *ctx, char *from, size_t cap)
{
    if (o->from_zone != NULL) {
        unsigned char rnd[6];
        char zone[S2S_TRUST_DOMAIN_MAX + 1];
        if (s2s_trust_identity_normalize(o->from_zone, strlen(o->from_zone), zone, sizeof zone) != 0 ||
            RAND_bytes(rnd, sizeof rnd) != 1 || s2s_trust_sv_random_name(zone, rnd, from, cap) != 0)
            return cli_usage("--from-zone: a domain name with room for one more label");
    } else if (s2s_trust_identity_normalize(o->from ? o->from : SURVEY_FROM_DEFAULT,
                                            strlen(o->from ? o->from : SURVEY_FROM_DEFAULT), from, cap) != 0) {
        return cli_usage("--from: a domain name");
    }
    ctx->from = from;
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++)
        if (s2s_trust_st_make_identity((s2s_trust_st_case_t)i, from, &ctx->ids[i]) != 0) {
            fprintf(stderr, "s2s-trust: survey: could not make the %s certificate\n",
                    s2s_trust_st_case_name((s2s_trust_st_case_t)i));
            return EXIT_USAGE;
        }
    if (s2s_trust_st_make_identity(S2S_TRUST_ST_SELF_SIGNED, from, &ctx->db_id) != 0)
        return EXIT_USAGE;
    ctx->dialback_fd = -1;
    if (o->dialback != NULL && (ctx->dialback_fd = open_listener(o->dialback)) < 0) {
        fprintf(stderr, "s2s-trust: survey: cannot listen on ");
        cli_put_text_str(stderr, o->dialback);
        fprintf(stderr, " for dialback (numeric ADDR:PORT)\n");
        return EXIT_USAGE;
    }
    return CLI_GO_ON;
}

static int setup_checks(const sv_opts_t *o, survey_ctx_t *ctx)
{
    char err[256];

    if (!o->no_dane) {
        ctx->dnssec = s2s_trust_dnssec_new(o->unbound_conf, o->trust_anchor, o->jobs > 16 ? 16 : o->jobs, 0, err, sizeof err);
        if (ctx->dnssec == NULL) {
            fprintf(stderr, "s2s-trust: survey: DANE resolver: ");
            cli_put_text_str(stderr, err);
            fprintf(stderr, " (--no-dane to survey without DANE)\n");
            return EXIT_USAGE;
        }
    }
    ctx->posh = !o->no_posh;
    ctx->posh_opts.cafile = o->posh_cafile;
    ctx->posh_opts.port = (uint16_t)o->posh_port;
    for (size_t i = 0; i < o->n_posh_resolve; i++)
        ctx->posh_opts.resolve[i] = o->posh_resolve[i];
    ctx->posh_opts.n_resolve = o->n_posh_resolve;
    return CLI_GO_ON;
}

/* --resume FILE: read it whole (bounded), parse it. 0 or -1 after saying why. */
static int read_resume(const char *path, s2s_trust_sv_resume_t *rs)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, why[256];
    size_t len = 0, cap = 0;
    int rc = -1;

    if (f == NULL) {
        fprintf(stderr, "s2s-trust: survey: --resume: %m\n");
        return -1;
    }
    for (;;) {
        if (len == cap) {
            char *nb;
            if (cap > S2S_TRUST_SV_RESUME_MAX_BYTES)
                break;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap + 1);
            if (nb == NULL)
                break;
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            rc = ferror(f) ? -1 : 0;
            break;
        }
    }
    fclose(f);
    if (rc == 0 && s2s_trust_sv_resume_parse(buf, len, rs, why, sizeof why) != 0) {
        fprintf(stderr, "s2s-trust: survey: --resume ");
        cli_put_text_str(stderr, path);
        fputs(": ", stderr);
        cli_put_text_str(stderr, why);
        fputc('\n', stderr);
        rc = -1;
    } else if (rc != 0) {
        fprintf(stderr, "s2s-trust: survey: --resume: cannot read the file (at most %u bytes)\n",
                S2S_TRUST_SV_RESUME_MAX_BYTES);
    }
    free(buf);
    return rc;
}

/* The domains to survey: arguments, --file, else (no --resume list either)
 * standard input. */
static int gather(const sv_opts_t *o, const s2s_trust_sv_resume_t *rs, list_t *doms, list_t *pledged)
{
    for (int i = 0; i < o->n_args; i++)
        if (list_add(doms, o->args[i], NULL) != 0)
            return EXIT_USAGE;
    if (o->file != NULL && list_read_file(doms, o->file) != 0)
        return EXIT_USAGE;
    if (doms->n == 0 && rs->n_domains > 0)
        for (size_t i = 0; i < rs->n_domains; i++)
            if (list_add(doms, rs->domains[i], NULL) != 0)
                return EXIT_USAGE;
    if (doms->n == 0 && o->file == NULL && o->n_args == 0 && o->resume == NULL && list_read_file(doms, "-") != 0)
        return EXIT_USAGE;
    if (doms->n == 0)
        return cli_usage("survey: no domain to survey");
    if (o->pledged != NULL && list_read_file(pledged, o->pledged) != 0)
        return EXIT_USAGE;
    return CLI_GO_ON;
}

/* ---- output ------------------------------------------------------------------------ */

static int print_report(const sv_opts_t *o, const list_t *doms, const s2s_trust_sv_result_t *results,
                        const unsigned char *done, int64_t started, const char *stopped_by)
{
    s2s_trust_sv_result_t *fin = calloc(doms->n, sizeof *fin);
    const char **pending = calloc(doms->n, sizeof *pending);
    s2s_trust_sv_report_t rep = { .domains = (const char *const *)doms->d, .n_domains = doms->n,
                                  .started_at = started, .finished_at = (int64_t)time(NULL),
                                  .stopped_by = stopped_by, .timeless = o->timeless };
    s2s_trust_sv_buf_t b = { 0 };
    int breaks = 0, undecided = 0;

    if (fin == NULL || pending == NULL) {
        free(fin);
        free(pending);
        fprintf(stderr, "s2s-trust: out of memory\n");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < doms->n; i++) {
        if (done[i]) {
            fin[rep.n++] = results[i];
            breaks |= s2s_trust_sv_breaks(&results[i]);
            undecided |= !s2s_trust_sv_breaks(&results[i]) && results[i].verdict != S2S_TRUST_SV_KEEPS;
        } else {
            pending[rep.n_pending++] = doms->d[i];
        }
    }
    rep.results = fin;
    rep.pending = pending;
    if (o->format == FMT_JSON)
        s2s_trust_sv_render_json(&rep, &b);
    else if (o->format == FMT_MARKDOWN)
        s2s_trust_sv_render_markdown(&rep, &b);
    else
        s2s_trust_sv_render_text(&rep, &b);
    if (!b.oom && b.len > 0)
        fwrite(b.p, 1, b.len, stdout);
    fflush(stdout);
    if (b.oom)
        fprintf(stderr, "s2s-trust: out of memory\n");
    s2s_trust_sv_buf_free(&b);
    free(fin);
    free(pending);
    return breaks ? EXIT_REFUSED : (undecided || rep.n_pending) ? EXIT_INCONCLUSIVE : EXIT_TRUSTED;
}

/* ---- the command ---------------------------------------------------------------------- */

int cli_cmd_survey(int argc, char **argv)
{
    sv_opts_t o;
    survey_ctx_t ctx;
    s2s_trust_store_t *store = NULL;
    s2s_trust_sv_resume_t rs = { 0 };
    list_t doms = { 0 }, pledged = { 0 };
    s2s_trust_sv_result_t *results = NULL;
    unsigned char *done = NULL;
    char from[S2S_TRUST_DOMAIN_MAX + 1];
    int64_t started = (int64_t)time(NULL);
    const char *stopped_by = NULL;
    int status;

    memset(&ctx, 0, sizeof ctx);
    ctx.dialback_fd = -1;
    pthread_mutex_init(&ctx.dialback_lock, NULL);
    status = parse_options(argc, argv, &o);
    if (status == CLI_GO_ON && o.resume != NULL && read_resume(o.resume, &rs) != 0)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON)
        status = gather(&o, &rs, &doms, &pledged);
    if (status == CLI_GO_ON && cli_load_store(o.config, NULL, &store) != 0)
        status = EXIT_USAGE;
    if (status == CLI_GO_ON)
        status = setup_peers(&o, &ctx, from, sizeof from);
    if (status == CLI_GO_ON)
        status = setup_checks(&o, &ctx);
    if (status == CLI_GO_ON && ((results = calloc(doms.n, sizeof *results)) == NULL ||
                                (done = calloc(doms.n, 1)) == NULL)) {
        fprintf(stderr, "s2s-trust: out of memory\n");
        status = EXIT_USAGE;
    }
    if (status == CLI_GO_ON) {
        survey_work_t w = { .ctx = &ctx, .domains = (const char *const *)doms.d, .n = doms.n, .results = results,
                            .done = done, .jobs = o.jobs, .progress = !o.no_progress && isatty(STDERR_FILENO) };
        ctx.store = store;
        ctx.domain_ms = (unsigned)o.domain_ms;
        if (o.total_ms)
            w.total_deadline = survey_now_ms() + o.total_ms;
        /* A resumed survey keeps its finished results and their times. */
        for (size_t i = 0; i < doms.n; i++) {
            for (size_t k = 0; k < rs.n; k++)
                if (strcmp(rs.results[k].domain, doms.d[i]) == 0) {
                    results[i] = rs.results[k];
                    done[i] = 1;
                }
            results[i].pledged = list_has(&pledged, doms.d[i]);
        }
        stopped_by = survey_pool_run(&w);
        status = print_report(&o, &doms, results, done, started, stopped_by);
        if (stopped_by != NULL && strcmp(stopped_by, "interrupt") == 0) {
            /* Workers may still be inside OpenSSL: no exit handlers. */
            fflush(stderr);
            _exit(130);
        }
    }
    if (ctx.dnssec != NULL)
        s2s_trust_dnssec_free(ctx.dnssec);
    if (ctx.dialback_fd >= 0)
        close(ctx.dialback_fd);
    for (int i = 0; i < S2S_TRUST_ST_CASE_COUNT; i++)
        s2s_trust_st_identity_free(&ctx.ids[i]);
    s2s_trust_st_identity_free(&ctx.db_id);
    pthread_mutex_destroy(&ctx.dialback_lock);
    s2s_trust_store_release(store);
    s2s_trust_sv_resume_free(&rs);
    list_free(&doms);
    list_free(&pledged);
    free(results);
    free(done);
    ERR_clear_error();
    return status;
}
