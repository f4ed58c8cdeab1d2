/*
 * dane_posh.c - see dane_posh.h: the DANE and POSH evaluation the
 * commands share.
 */
#include "cli/dane_posh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "cli/out.h"
#include "core/s2s_trust_verdict.h"

/* ---- DANE ----------------------------------------------------------------------- */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int cli_tlsa_parse(const char *text, s2s_trust_tlsa_t *rec)
{
    unsigned long f[3];
    const char *p = text;
    unsigned char *data;
    size_t n = 0, cap;
    char *end;
    int hi = -1;

    memset(rec, 0, sizeof *rec);
    for (int i = 0; i < 3; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            return -1;
        f[i] = strtoul(p, &end, 10);
        if (f[i] > 255 || (*end != ' ' && *end != '\t'))
            return -1;
        p = end;
    }
    cap = strlen(p) / 2 + 1;
    if (cap > S2S_TRUST_TLSA_MAX_DATA || (data = malloc(cap)) == NULL)
        return -1;
    for (; *p; p++) {
        int v;
        if (*p == ' ' || *p == '\t')
            continue;
        if ((v = hexval((unsigned char)*p)) < 0)
            break;
        if (hi < 0) {
            hi = v;
        } else {
            data[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    if (*p != '\0' || hi >= 0) { /* not hex, or an odd number of digits */
        free(data);
        return -1;
    }
    if (n == 0) {
        free(data);
        return -1;
    }
    rec->usage = (uint8_t)f[0];
    rec->selector = (uint8_t)f[1];
    rec->mtype = (uint8_t)f[2];
    rec->data = data;
    rec->len = n;
    return 0;
}

/* Host names compare without case and without a trailing dot. */
static int same_host(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

int cli_dane_find_target(const s2s_trust_dane_lookup_t *l, const char *host, uint16_t port)
{
    for (size_t i = 0; i < l->n_targets; i++)
        if (l->targets[i].port == port && same_host(l->targets[i].host, host))
            return (int)i;
    return -1;
}

static int has_records(const s2s_trust_dane_target_t *t)
{
    return t->status == S2S_TRUST_DNSSEC_SECURE && t->n_records > 0;
}

int cli_dane_match(const s2s_trust_store_t *store, const char *domain, const s2s_trust_dane_lookup_t *l, int only,
                   const s2s_trust_der_t *chain, size_t n, cli_dane_match_t *m)
{
    const s2s_trust_dane_result_t *first_usable = NULL;
    const char *first_target = NULL;

    memset(m, 0, sizeof *m);
    for (size_t i = 0; l->status == S2S_TRUST_DNSSEC_SECURE && i < l->n_targets; i++) {
        const s2s_trust_dane_target_t *t = &l->targets[i];
        s2s_trust_dane_outcome_t oc;

        if (!has_records(t) || (only >= 0 && (size_t)only != i))
            continue;
        if (s2s_trust_dane_verify(store, domain, strlen(domain), l->srv_found ? t->host : NULL, chain, n, t->records,
                                  t->n_records, &m->res[i]) != 0)
            return -1;
        m->have[i] = 1;
        oc = m->res[i].outcome;
        if (m->said != CLI_DANE_ACCEPTED &&
            (oc == S2S_TRUST_DANE_EE || oc == S2S_TRUST_DANE_TA || oc == S2S_TRUST_DANE_PKIX)) {
            m->said = CLI_DANE_ACCEPTED;
            m->by = s2s_trust_dane_outcome_name(oc);
            m->target = t->host;
        }
        if (first_usable == NULL && m->res[i].usable > 0) {
            first_usable = &m->res[i];
            first_target = t->host;
        }
    }
    if (m->said == CLI_DANE_ACCEPTED || first_usable == NULL)
        return 0; /* accepted, or no usable record anywhere: PKIX alone */
    m->said = CLI_DANE_REFUSED;
    m->by = first_usable->outcome == S2S_TRUST_DANE_MISMATCH ? "dane_mismatch"
                                                             : s2s_trust_verdict_name(first_usable->verdict);
    m->target = first_target;
    return 0;
}

s2s_trust_dnssec_t *cli_dane_resolver(const cli_dane_opts_t *o, char *err, size_t errlen)
{
    s2s_trust_dnssec_t *r = s2s_trust_dnssec_new(o->unbound_conf, o->trust_anchor, 1, 0, err, errlen);

    if (r == NULL) {
        fputs("s2s-trust: ", stderr);
        cli_put_text_str(stderr, err);
        fputc('\n', stderr);
    }
    return r;
}

/* ---- POSH ----------------------------------------------------------------------- */

static int leaf_validity(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    int ok = x != NULL && X509_cmp_current_time(X509_get0_notBefore(x)) < 0 &&
             X509_cmp_current_time(X509_get0_notAfter(x)) > 0;

    X509_free(x);
    ERR_clear_error();
    return ok;
}

int cli_posh_leaf_set(const unsigned char *der, size_t len, cli_posh_leaf_t *leaf)
{
    leaf->der = der;
    leaf->len = len;
    leaf->in_validity = leaf_validity(der, len);
    if (s2s_trust_posh_digest(S2S_TRUST_POSH_SHA256, der, len, leaf->d256) != 32 ||
        s2s_trust_posh_digest(S2S_TRUST_POSH_SHA512, der, len, leaf->d512) != 64) {
        leaf->der = NULL;
        leaf->len = 0;
        return -1;
    }
    return 0;
}

static void say_file_error(const char *opt, const char *path, const char *what)
{
    fprintf(stderr, "s2s-trust: %s ", opt);
    cli_put_text_str(stderr, path);
    fprintf(stderr, ": %s\n", what);
}

/* A PEM file's first block is the leaf, its DER as written (a POSH
 * fingerprint is over those exact bytes); a DER file must be one
 * certificate exactly: anything else is not what a peer presents, and
 * hashing it would only "not match". */
int cli_posh_leaf_read(const char *path, cli_posh_leaf_t *leaf)
{
    const unsigned char *p, *der = NULL;
    size_t len = 0;
    X509 *x;

    memset(leaf, 0, sizeof *leaf);
    if (cli_chain_file_read(path, &leaf->file) != 0)
        return -1;
    if (leaf->file.n > 0 && leaf->file.pem) {
        der = leaf->file.der[0].data;
        len = leaf->file.der[0].len;
    } else if (leaf->file.n > 0) {
        p = leaf->file.der[0].data;
        x = d2i_X509(NULL, &p, (long)leaf->file.der[0].len);
        if (x != NULL && (size_t)(p - leaf->file.der[0].data) == leaf->file.der[0].len) {
            der = leaf->file.der[0].data;
            len = leaf->file.der[0].len;
        }
        X509_free(x);
    }
    ERR_clear_error();
    if (der == NULL || len == 0) {
        say_file_error("--chain", path, "no certificate read (PEM, or one DER certificate)");
        return -1;
    }
    if (cli_posh_leaf_set(der, len, leaf) != 0) {
        fprintf(stderr, "s2s-trust: cannot hash the leaf\n");
        return -1;
    }
    return 0;
}

void cli_posh_leaf_free(cli_posh_leaf_t *leaf)
{
    cli_chain_file_free(&leaf->file);
    memset(leaf, 0, sizeof *leaf);
}

int cli_posh_add_resolve(s2s_trust_posh_fetch_opts_t *o, const char *arg, const char **why)
{
    const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

    if (c1 == NULL || c2 == NULL || c1 == arg || c2 == c1 + 1 || c2[1] == '\0') {
        *why = "--resolve: HOST:PORT:ADDR";
        return -1;
    }
    if (o->n_resolve == S2S_TRUST_HTTP_MAX_RESOLVE) {
        *why = "--resolve: at most 8";
        return -1;
    }
    o->resolve[o->n_resolve++] = arg;
    return 0;
}

int cli_posh_cafile_ok(const char *path)
{
    FILE *f;

    if (path == NULL)
        return 0;
    if ((f = fopen(path, "r")) == NULL) {
        say_file_error("--cafile", path, "not readable");
        return -1;
    }
    fclose(f);
    return 0;
}

int cli_posh_have_doc(const s2s_trust_posh_result_t *r)
{
    return r->ok || r->posh == S2S_TRUST_POSH_TOO_MANY_HOPS || r->posh == S2S_TRUST_POSH_BAD_EXPIRES ||
           r->posh == S2S_TRUST_POSH_NO_FINGERPRINTS_OR_URL;
}

cli_posh_said_t cli_posh_judge(const s2s_trust_posh_result_t *r, const cli_posh_leaf_t *leaf, size_t *index)
{
    *index = 0;
    if (!r->ok)
        return r->stage == S2S_TRUST_POSH_STAGE_DOMAIN && r->http == S2S_TRUST_HTTP_STATUS &&
                       (r->http_code == 404 || r->http_code == 410)
                   ? CLI_POSH_ABSENT
                   : CLI_POSH_FAILED;
    if (leaf == NULL || leaf->der == NULL)
        return CLI_POSH_PUBLISHED;
    return s2s_trust_posh_match(&r->doc, leaf->der, leaf->len, index) == 1 ? CLI_POSH_MATCH : CLI_POSH_MISMATCH;
}

const char *cli_posh_said_name(cli_posh_said_t s)
{
    switch (s) {
    case CLI_POSH_OFF: return "off";
    case CLI_POSH_PUBLISHED: return "published";
    case CLI_POSH_MATCH: return "match";
    case CLI_POSH_MISMATCH: return "mismatch";
    case CLI_POSH_ABSENT: return "absent";
    case CLI_POSH_FAILED: return "failed";
    }
    return "?";
}

/* ---- both ---------------------------------------------------------------------- */

void cli_vouch_opts_init(cli_vouch_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->dns.timeout_ms = CLI_DANE_TIMEOUT_MS_DEFAULT;
    o->fetch.timeout_ms = CLI_POSH_TIMEOUT_MS_DEFAULT;
}

void cli_vouch_opts_free(cli_vouch_opts_t *o)
{
    for (size_t i = 0; i < o->n_tlsa; i++)
        free((void *)o->tlsa[i].data);
    o->n_tlsa = 0;
}

/* A number in 1..max, or -1. */
static long number_arg(const char *s, unsigned long max)
{
    char *end;
    unsigned long n;

    if (*s < '0' || *s > '9')
        return -1;
    n = strtoul(s, &end, 10);
    return *end != '\0' || n == 0 || n > max ? -1 : (long)n;
}

int cli_vouch_option(int opt, const char *arg, cli_vouch_opts_t *o)
{
    const char *why;
    long n;

    switch (opt) {
    case CLI_OPT_NO_DANE: o->no_dane = 1; break;
    case CLI_OPT_NO_POSH: o->no_posh = 1; break;
    case CLI_OPT_DANE: o->dane = 1; break;
    case CLI_OPT_POSH: o->posh = 1; break;
    case CLI_OPT_UNBOUND_CONF: o->dns.unbound_conf = arg; break;
    case CLI_OPT_TRUST_ANCHOR: o->dns.trust_anchor = arg; break;
    case CLI_OPT_CAFILE: o->fetch.cafile = arg; break;
    case CLI_OPT_TLSA:
        if (o->n_tlsa == CLI_TLSA_MAX_GIVEN)
            return cli_usage("--tlsa: at most 16");
        if (cli_tlsa_parse(arg, &o->tlsa[o->n_tlsa]) != 0)
            return cli_usage("--tlsa: \"USAGE SELECTOR MTYPE HEX\", e.g. \"3 1 1 5f0c...\"");
        o->n_tlsa++;
        break;
    case CLI_OPT_RESOLVE:
        if (cli_posh_add_resolve(&o->fetch, arg, &why) != 0)
            return cli_usage(why);
        break;
    case CLI_OPT_DANE_TIMEOUT:
        if ((n = number_arg(arg, S2S_TRUST_DNSSEC_MAX_DEADLINE_MS)) < 0)
            return cli_usage("--dane-timeout: milliseconds, 1 to 600000");
        o->dns.timeout_ms = (unsigned)n;
        break;
    case CLI_OPT_POSH_TIMEOUT:
        if ((n = number_arg(arg, S2S_TRUST_POSH_MAX_TIMEOUT_MS)) < 0)
            return cli_usage("--posh-timeout: milliseconds, 1 to 60000");
        o->fetch.timeout_ms = (unsigned)n;
        break;
    case CLI_OPT_POSH_PORT:
        if ((n = number_arg(arg, 65535)) < 0)
            return cli_usage("--posh-port: 1 to 65535");
        o->fetch.port = (uint16_t)n;
        break;
    default: return cli_usage(NULL);
    }
    return CLI_GO_ON;
}

int cli_vouch_setup(cli_vouch_opts_t *o, int strict, const char *domain, cli_found_t *f,
                    s2s_trust_dnssec_t **resolver)
{
    f->tlsa_given = o->n_tlsa > 0;
    f->dane_on = f->tlsa_given || o->dane || (!strict && !o->no_dane);
    f->posh_on = o->posh || (!strict && !o->no_posh);
    if (f->tlsa_given) {
        /* The records the operator gave, as one secure target: the
         * domain itself (no SRV target to name instead). */
        s2s_trust_dane_target_t *t = &f->lookup.targets[0];
        f->lookup.status = S2S_TRUST_DNSSEC_SECURE;
        f->lookup.n_targets = 1;
        snprintf(t->host, sizeof t->host, "%s", domain);
        t->port = 5269;
        t->status = S2S_TRUST_DNSSEC_SECURE;
        memcpy(t->records, o->tlsa, o->n_tlsa * sizeof o->tlsa[0]);
        t->n_records = o->n_tlsa;
        o->n_tlsa = 0; /* the lookup owns their data now */
    } else if (f->dane_on && (*resolver = cli_dane_resolver(&o->dns, f->dane_error, sizeof f->dane_error)) == NULL &&
               (strict || o->dns.unbound_conf != NULL || o->dns.trust_anchor != NULL)) {
        return EXIT_USAGE;
    }
    if (f->posh_on && cli_posh_cafile_ok(o->fetch.cafile) != 0)
        return EXIT_USAGE;
    return CLI_GO_ON;
}

void cli_vouch_find(s2s_trust_dnssec_t *r, const cli_dane_opts_t *dane, const s2s_trust_posh_fetch_opts_t *posh,
                    const char *domain, cli_found_t *f)
{
    if (f->dane_on && !f->tlsa_given) {
        if (r == NULL) {
            f->lookup.status = S2S_TRUST_DNSSEC_ERROR;
            /* The resolver's error, cut to fit: it is for a human. */
            snprintf(f->lookup.why, sizeof f->lookup.why, "no resolver: %.200s", f->dane_error);
        } else if (s2s_trust_dnssec_lookup(r, domain, strlen(domain), 5269, dane->timeout_ms, &f->lookup) != 0) {
            f->lookup.status = S2S_TRUST_DNSSEC_ERROR;
            snprintf(f->lookup.why, sizeof f->lookup.why, "out of memory");
        }
    }
    if (f->posh_on)
        s2s_trust_posh_fetch(domain, posh, &f->posh);
}

/* The state of the TLSA records judged, in one word. */
static const char *tlsa_state(const s2s_trust_dane_lookup_t *l, int target)
{
    switch (l->status) {
    case S2S_TRUST_DNSSEC_BOGUS: return "bogus";
    case S2S_TRUST_DNSSEC_ERROR: return "error";
    case S2S_TRUST_DNSSEC_INSECURE: return "insecure";
    case S2S_TRUST_DNSSEC_SECURE: break;
    }
    if (target >= 0) {
        const s2s_trust_dane_target_t *t = &l->targets[target];
        return t->status == S2S_TRUST_DNSSEC_SECURE ? (t->n_records > 0 ? "secure" : "none")
                                                    : s2s_trust_dnssec_status_name(t->status);
    }
    for (size_t i = 0; i < l->n_targets; i++)
        if (has_records(&l->targets[i]))
            return "secure";
    return "none";
}

/* The module's reasons POSH can cure (mod_s2s_trust_posh: ?CURABLE). */
static int posh_curable(s2s_trust_verdict_t v)
{
    return v == S2S_TRUST_NAME_MISMATCH || v == S2S_TRUST_SELF_SIGNED || v == S2S_TRUST_UNKNOWN_ISSUER;
}

/* The decision at the top of dane_posh.h. */
static void decide(const cli_found_t *f, s2s_trust_verdict_t pkix, cli_judged_t *j)
{
    j->accepted = 0;
    if (f->dane_on && f->lookup.status == S2S_TRUST_DNSSEC_BOGUS) {
        j->by = "dnssec_bogus";
    } else if (j->dane.said != CLI_DANE_NO_RECORDS) {
        j->accepted = j->dane.said == CLI_DANE_ACCEPTED;
        j->by = j->dane.by;
    } else if (pkix == S2S_TRUST_OK) {
        j->accepted = 1;
        j->by = "pkix";
    } else if (posh_curable(pkix) && j->posh == CLI_POSH_MATCH && j->leaf.in_validity) {
        j->accepted = 1;
        j->by = "posh";
    } else if (posh_curable(pkix) && j->posh == CLI_POSH_MISMATCH) {
        j->by = "posh_mismatch";
    } else {
        j->by = s2s_trust_verdict_name(pkix);
    }
}

int cli_vouch_judge(const s2s_trust_store_t *store, const char *domain, const cli_found_t *f,
                    const char *probed_host, uint16_t probed_port, const s2s_trust_der_t *chain, size_t n,
                    s2s_trust_verdict_t pkix, cli_judged_t *j)
{
    memset(j, 0, sizeof *j);
    j->target = -1;
    j->posh = CLI_POSH_OFF;
    if (probed_host != NULL) {
        j->probed = 1;
        snprintf(j->probed_host, sizeof j->probed_host, "%s", probed_host);
        j->probed_port = probed_port;
    }
    if (f->dane_on) {
        if (probed_host != NULL)
            j->target = cli_dane_find_target(&f->lookup, probed_host, probed_port);
        j->tlsa = tlsa_state(&f->lookup, j->target);
        if (f->lookup.status == S2S_TRUST_DNSSEC_SECURE &&
            cli_dane_match(store, domain, &f->lookup, j->target, chain, n, &j->dane) != 0)
            return -1;
    }
    if (n > 0)
        cli_posh_leaf_set(chain[0].data, chain[0].len, &j->leaf);
    if (f->posh_on)
        j->posh = cli_posh_judge(&f->posh, &j->leaf, &j->posh_index);
    if (pkix == S2S_TRUST_OK)
        j->accepted_by |= CLI_BY_PKIX;
    for (size_t i = 0; f->dane_on && f->lookup.status == S2S_TRUST_DNSSEC_SECURE && i < f->lookup.n_targets; i++)
        if (j->dane.have[i] && j->dane.res[i].outcome == S2S_TRUST_DANE_EE)
            j->accepted_by |= CLI_BY_DANE_EE;
        else if (j->dane.have[i] && j->dane.res[i].outcome == S2S_TRUST_DANE_TA)
            j->accepted_by |= CLI_BY_DANE_TA;
    if (j->posh == CLI_POSH_MATCH && j->leaf.in_validity)
        j->accepted_by |= CLI_BY_POSH;
    decide(f, pkix, j);
    return 0;
}

void cli_found_clear(cli_found_t *f)
{
    s2s_trust_dane_lookup_clear(&f->lookup);
}
