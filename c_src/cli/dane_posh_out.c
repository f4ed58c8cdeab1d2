/*
 * dane_posh_out.c - see dane_posh_out.h.
 */
#include "cli/dane_posh_out.h"

#include <string.h>

#include "cli/out.h"
#include "core/s2s_trust_verdict.h"

void cli_put_hex(FILE *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", p[i]);
}

const char *cli_b64(const unsigned char *p, size_t n)
{
    static char buf[4][100];
    static int slot;
    return s2s_trust_posh_base64(p, n, buf[slot++ % 4], sizeof buf[0]);
}

void cli_put_target(FILE *out, const char *host)
{
    for (const char *p = host; *p; p++)
        if (*p < 0x20 || *p > 0x7e) {
            cli_put_text_str(out, host);
            return;
        }
    fputs(host, out);
}

/* ---- DANE ----------------------------------------------------------------------- */

static void match_text(const char *indent, const s2s_trust_dane_result_t *r)
{
    printf("%s  match: %s (usable %d", indent, s2s_trust_dane_outcome_name(r->outcome), r->usable);
    if (r->match_depth >= 0)
        printf(", usage %u at depth %d", r->match_usage, r->match_depth);
    printf("), verdict %s\n", s2s_trust_verdict_name(r->verdict));
}

void cli_dane_targets_text(const char *indent, const s2s_trust_dane_lookup_t *l, const cli_dane_match_t *m)
{
    for (size_t i = 0; i < l->n_targets; i++) {
        const s2s_trust_dane_target_t *t = &l->targets[i];
        printf("%starget: ", indent);
        cli_put_target(stdout, t->host);
        printf(" port %u tlsa %s, %zu record(s)\n", t->port, s2s_trust_dnssec_status_name(t->status), t->n_records);
        for (size_t k = 0; k < t->n_records; k++) {
            printf("%s  tlsa: %u %u %u ", indent, t->records[k].usage, t->records[k].selector, t->records[k].mtype);
            cli_put_hex(stdout, t->records[k].data, t->records[k].len);
            fputc('\n', stdout);
        }
        if (m != NULL && m->have[i])
            match_text(indent, &m->res[i]);
    }
}

void cli_dane_targets_json(const s2s_trust_dane_lookup_t *l, const cli_dane_match_t *m)
{
    fputc('[', stdout);
    for (size_t i = 0; i < l->n_targets; i++) {
        const s2s_trust_dane_target_t *t = &l->targets[i];
        int tf = 1;
        fputs(i ? ",{" : "{", stdout);
        cli_json_str(stdout, "host", t->host, &tf);
        cli_json_key(stdout, "port", &tf);
        printf("%u", t->port);
        cli_json_str(stdout, "tlsa", s2s_trust_dnssec_status_name(t->status), &tf);
        cli_json_key(stdout, "records", &tf);
        fputc('[', stdout);
        for (size_t k = 0; k < t->n_records; k++) {
            printf("%s{\"usage\":%u,\"selector\":%u,\"mtype\":%u,\"data\":\"", k ? "," : "", t->records[k].usage,
                   t->records[k].selector, t->records[k].mtype);
            cli_put_hex(stdout, t->records[k].data, t->records[k].len);
            fputs("\"}", stdout);
        }
        fputc(']', stdout);
        if (m != NULL && m->have[i]) {
            const s2s_trust_dane_result_t *r = &m->res[i];
            printf(",\"match\":{\"outcome\":\"%s\",\"verdict\":\"%s\",\"usable\":%d,\"depth\":%d,\"usage\":%u}",
                   s2s_trust_dane_outcome_name(r->outcome), s2s_trust_verdict_name(r->verdict), r->usable,
                   r->match_depth, r->match_usage);
        }
        fputc('}', stdout);
    }
    fputc(']', stdout);
}

/* ---- POSH ----------------------------------------------------------------------- */

void cli_posh_doc_text(const char *indent, const s2s_trust_posh_result_t *r)
{
    const s2s_trust_posh_doc_t *doc = &r->doc;

    for (size_t i = 0; i < r->n_urls; i++) {
        printf("%s%s", indent, i == 0 ? "url: " : "delegated: ");
        cli_put_text_str(stdout, r->url[i]);
        fputc('\n', stdout);
    }
    printf("%sstatus: %s", indent, s2s_trust_posh_result_error(r));
    if (!r->ok) {
        printf(" (%s document", s2s_trust_posh_stage_name(r->stage));
        if (r->why[0] != '\0') {
            fputs(": ", stdout);
            cli_put_text_str(stdout, r->why);
        }
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    if (r->http == S2S_TRUST_HTTP_OK && r->n_urls > 0)
        printf("%shttp: %ld, %zu bytes\n", indent, r->http_code, r->bytes);
    for (size_t i = 0; cli_posh_have_doc(r) && i < doc->n_fp; i++) {
        printf("%sfingerprint: %s %s (", indent, s2s_trust_posh_alg_name(doc->fp[i].alg),
               cli_b64(doc->fp[i].digest, doc->fp[i].len));
        cli_put_hex(stdout, doc->fp[i].digest, doc->fp[i].len);
        fputs(")\n", stdout);
    }
    if (cli_posh_have_doc(r) && doc->n_ignored > 0)
        printf("%signored: %zu fingerprint(s) in other algorithms\n", indent, doc->n_ignored);
    if (r->ok) {
        printf("%sexpires: %u", indent, (unsigned)doc->expires);
        if (r->n_urls > 1)
            printf(" (domain document %u)", (unsigned)r->domain_expires);
        fputc('\n', stdout);
    }
}

void cli_posh_doc_json(const s2s_trust_posh_result_t *r, int *first)
{
    const s2s_trust_posh_doc_t *doc = &r->doc;

    cli_json_str(stdout, "url", r->n_urls > 0 ? r->url[0] : NULL, first);
    cli_json_str(stdout, "delegated_url", r->n_urls > 1 ? r->url[1] : NULL, first);
    cli_json_str(stdout, "status", s2s_trust_posh_result_error(r), first);
    cli_json_str(stdout, "stage", s2s_trust_posh_stage_name(r->stage), first);
    cli_json_str(stdout, "why", r->ok || r->why[0] == '\0' ? NULL : r->why, first);
    cli_json_key(stdout, "http_code", first);
    printf("%ld", r->http_code);
    cli_json_key(stdout, "fingerprints", first);
    fputc('[', stdout);
    for (size_t i = 0; cli_posh_have_doc(r) && i < doc->n_fp; i++) {
        printf("%s{\"alg\":\"%s\",\"base64\":\"%s\",\"hex\":\"", i ? "," : "", s2s_trust_posh_alg_name(doc->fp[i].alg),
               cli_b64(doc->fp[i].digest, doc->fp[i].len));
        cli_put_hex(stdout, doc->fp[i].digest, doc->fp[i].len);
        fputs("\"}", stdout);
    }
    fputc(']', stdout);
    cli_json_key(stdout, "expires", first);
    if (r->ok)
        printf("%u", (unsigned)doc->expires);
    else
        fputs("null", stdout);
    cli_json_key(stdout, "domain_expires", first);
    if (r->ok && r->n_urls > 1)
        printf("%u", (unsigned)r->domain_expires);
    else
        fputs("null", stdout);
}

/* ---- probe and check: the section --------------------------------------------------- */

static const char *const by_names[] = { "dane_ee", "dane_ta", "posh", "pkix" };

static void dane_text(const cli_found_t *f, const cli_judged_t *j)
{
    const s2s_trust_dane_lookup_t *l = &f->lookup;

    printf("  dane:        tlsa %s (%s; dnssec %s", j->tlsa, f->tlsa_given ? "records given by --tlsa" : "looked up",
           s2s_trust_dnssec_status_name(l->status));
    if (l->why[0] != '\0') {
        fputs(": ", stdout);
        cli_put_text_str(stdout, l->why);
    }
    if (!f->tlsa_given)
        printf("; srv %s", l->srv_found ? "secure records" : l->n_targets > 0 ? "none, _5269._tcp.DOMAIN" : "-");
    fputs(")\n", stdout);
    if (j->probed) {
        fputs("  dane probed: ", stdout);
        cli_put_target(stdout, j->probed_host);
        printf(":%u, %s\n", j->probed_port,
               j->target >= 0 ? "one of the targets: its records decide"
               : l->status == S2S_TRUST_DNSSEC_SECURE ? "not one of the targets: every target's records were tried"
                                                      : "no secure target to compare it with");
    }
    cli_dane_targets_text("  dane ", l, &j->dane);
    if (j->dane.said != CLI_DANE_NO_RECORDS) {
        printf("  dane says:   %s by %s", j->dane.said == CLI_DANE_ACCEPTED ? "accepted" : "refused", j->dane.by);
        if (j->dane.target != NULL) {
            fputs(" (", stdout);
            cli_put_target(stdout, j->dane.target);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    } else {
        fputs("  dane says:   nothing (no usable secure record): PKIX decides\n", stdout);
    }
}

static void posh_text(const cli_found_t *f, const cli_judged_t *j)
{
    const s2s_trust_posh_result_t *r = &f->posh;

    printf("  posh:        %s", cli_posh_said_name(j->posh));
    if (j->posh == CLI_POSH_MATCH)
        printf(" (fingerprint %zu, %s)%s", j->posh_index + 1, s2s_trust_posh_alg_name(r->doc.fp[j->posh_index].alg),
               j->leaf.in_validity ? "" : ", but the leaf is outside its validity period: not accepted");
    fputc('\n', stdout);
    cli_posh_doc_text("  posh ", r);
}

void cli_vouch_text(const cli_found_t *f, const cli_judged_t *j)
{
    int any = 0;

    if (f->dane_on)
        dane_text(f, j);
    if (f->posh_on)
        posh_text(f, j);
    fputs("  accepted by: ", stdout);
    for (unsigned b = 0; b < 4; b++)
        if (j->accepted_by & (1u << b)) {
            printf("%s%s", any ? ", " : "", by_names[b]);
            any = 1;
        }
    printf("%s\n", any ? "" : "none");
    printf("  decision:    %s by %s (as mod_s2s_trust with dane: %s, posh: %s)\n", j->accepted ? "accepted" : "refused",
           j->by, f->dane_on ? "opportunistic" : "off", f->posh_on ? "on" : "off");
}

static void dane_json(const cli_found_t *f, const cli_judged_t *j, int *first)
{
    const s2s_trust_dane_lookup_t *l = &f->lookup;
    int df = 1;

    cli_json_key(stdout, "dane", first);
    if (!f->dane_on) {
        fputs("null", stdout);
        return;
    }
    fputc('{', stdout);
    cli_json_str(stdout, "source", f->tlsa_given ? "command_line" : "dns", &df);
    cli_json_str(stdout, "dnssec", s2s_trust_dnssec_status_name(l->status), &df);
    cli_json_str(stdout, "why", l->why[0] ? l->why : NULL, &df);
    cli_json_bool(stdout, "srv_found", l->srv_found, &df);
    cli_json_str(stdout, "tlsa", j->tlsa, &df);
    cli_json_key(stdout, "probed_target", &df);
    if (j->probed) {
        int pf = 1;
        fputc('{', stdout);
        cli_json_str(stdout, "host", j->probed_host, &pf);
        cli_json_key(stdout, "port", &pf);
        printf("%u", j->probed_port);
        cli_json_bool(stdout, "listed", j->target >= 0, &pf);
        fputc('}', stdout);
    } else {
        fputs("null", stdout);
    }
    cli_json_key(stdout, "targets", &df);
    cli_dane_targets_json(l, &j->dane);
    cli_json_str(stdout, "says",
                 j->dane.said == CLI_DANE_ACCEPTED  ? "accepted"
                 : j->dane.said == CLI_DANE_REFUSED ? "refused"
                                                    : "nothing",
                 &df);
    cli_json_str(stdout, "by", j->dane.by, &df);
    cli_json_str(stdout, "decided_by_target", j->dane.target, &df);
    fputc('}', stdout);
}

static void posh_json(const cli_found_t *f, const cli_judged_t *j, int *first)
{
    int pf = 1;

    cli_json_key(stdout, "posh", first);
    if (!f->posh_on) {
        fputs("null", stdout);
        return;
    }
    fputc('{', stdout);
    cli_json_str(stdout, "state", cli_posh_said_name(j->posh), &pf);
    cli_posh_doc_json(&f->posh, &pf);
    cli_json_key(stdout, "match", &pf);
    fputs(j->posh == CLI_POSH_MATCH ? "true" : j->posh == CLI_POSH_MISMATCH ? "false" : "null", stdout);
    cli_json_key(stdout, "fingerprint", &pf);
    if (j->posh == CLI_POSH_MATCH)
        printf("%zu", j->posh_index + 1);
    else
        fputs("null", stdout);
    cli_json_bool(stdout, "leaf_in_validity", j->leaf.in_validity, &pf);
    fputc('}', stdout);
}

void cli_vouch_json(const cli_found_t *f, const cli_judged_t *j, int *first)
{
    int any = 0, df = 1;

    dane_json(f, j, first);
    posh_json(f, j, first);
    cli_json_key(stdout, "accepted_by", first);
    fputc('[', stdout);
    for (unsigned b = 0; b < 4; b++)
        if (j->accepted_by & (1u << b)) {
            printf("%s\"%s\"", any ? "," : "", by_names[b]);
            any = 1;
        }
    fputc(']', stdout);
    cli_json_key(stdout, "decision", first);
    fputc('{', stdout);
    cli_json_bool(stdout, "accepted", j->accepted, &df);
    cli_json_str(stdout, "by", j->by, &df);
    cli_json_str(stdout, "dane_policy", f->dane_on ? "opportunistic" : "off", &df);
    cli_json_str(stdout, "posh_policy", f->posh_on ? "on" : "off", &df);
    fputc('}', stdout);
}
