/*
 * probe_report.h - what `s2s-trust probe` found, gathered for printing, and
 * the two ways to print it: text for the operator, one JSON object for a
 * program. The DANE and POSH section is dane_posh_out.h's. Everything from the peer is escaped on the way out (out.h).
 */
#ifndef S2S_TRUST_CLI_PROBE_REPORT_H
#define S2S_TRUST_CLI_PROBE_REPORT_H

#include <stddef.h>

#include "cli/dane_posh.h"
#include "cli/probe_chain.h"
#include "core/s2s_trust_verify.h"
#include "net/s2s_trust_probe.h"
#include "net/s2s_trust_resolve.h"

/* One connection attempt. */
typedef struct {
    s2s_trust_candidate_t where;
    const char *source; /* "srv", "fallback", "connect" */
    s2s_trust_probe_status_t status;
    const char *stage;
    char detail[256];
    unsigned elapsed_ms;
} attempt_t;

typedef struct {
    const char *domain;        /* as given */
    const char *norm;          /* A-label form */
    int resolved;              /* 0 with --connect */
    const s2s_trust_resolution_t *res;
    const attempt_t *attempts;
    size_t attempt_count;
    const attempt_t *used;     /* the attempt that captured the chain, or NULL */
    const s2s_trust_probe_result_t *pr;
    const cert_info_t *certs;
    const shape_t *shape;
    const s2s_trust_details_t *d; /* NULL without a chain */
    const cli_found_t *found;     /* what the domain publishes; NULL without a chain */
    const cli_judged_t *judged;   /* what that says of the chain, and the decision */
} report_t;

/* The report on stdout: text, or one JSON object on one line. */
void probe_print_text(const report_t *r);
void probe_print_json(const report_t *r);

#endif
