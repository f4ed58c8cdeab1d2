/*
 * dane_posh_out.h - printing what dane_posh.h found and judged, as text
 * and as JSON, for the commands `dane`, `posh` (their whole report) and
 * `probe`, `check` (a section of theirs). One printer per piece, so the
 * four show TLSA records, fingerprints and decisions the same way.
 *
 * Everything from the network (SRV targets, URLs, libcurl's and the
 * server's words) goes through out.h's escaping.
 */
#ifndef S2S_TRUST_CLI_DANE_POSH_OUT_H
#define S2S_TRUST_CLI_DANE_POSH_OUT_H

#include <stdio.h>

#include "cli/dane_posh.h"

/* Bytes as lower-case hex. */
void cli_put_hex(FILE *out, const unsigned char *p, size_t n);

/* Padded base64 of at most 64 bytes, in one of four rotating static
 * buffers (four may be used in one printf). */
const char *cli_b64(const unsigned char *p, size_t n);

/* An SRV target as the resolver gives it, printable either way
 * (s2s_trust_dnssec.h escapes one that is no host name). */
void cli_put_target(FILE *out, const char *host);

/* DANE: per target, "INDENTtarget: HOST port P tlsa STATUS, N record(s)",
 * its records ("INDENT  tlsa: U S M HEX") and, where m matched it, the
 * match ("INDENT  match: ..."). m may be NULL. */
void cli_dane_targets_text(const char *indent, const s2s_trust_dane_lookup_t *l, const cli_dane_match_t *m);
/* The same as a JSON array of target objects. */
void cli_dane_targets_json(const s2s_trust_dane_lookup_t *l, const cli_dane_match_t *m);

/* POSH: the URLs fetched ("INDENTurl: ", "INDENTdelegated: "), the status
 * line ("INDENTstatus: NAME (STAGE document: WHY)"), the HTTP line, the
 * fingerprints, what was ignored and the expiry. */
void cli_posh_doc_text(const char *indent, const s2s_trust_posh_result_t *r);
/* The same as JSON members (url, delegated_url, status, stage, why,
 * http_code, fingerprints, expires, domain_expires) of an open object. */
void cli_posh_doc_json(const s2s_trust_posh_result_t *r, int *first);

/* probe and check: the "dane", "posh", "accepted by" and "decision" lines
 * (indented two spaces, labels as probe's), or the JSON members "dane",
 * "posh", "accepted_by" and "decision" of an open object (docs/s2s-trust.1.md). */
void cli_vouch_text(const cli_found_t *f, const cli_judged_t *j);
void cli_vouch_json(const cli_found_t *f, const cli_judged_t *j, int *first);

#endif
