/*
 * details.h - the parts of the core's verification details
 * (s2s_trust_details_t) that more than one command prints, printed one
 * way: the identities a certificate offers, the chain OpenSSL built, and
 * OpenSSL's own error, as JSON.
 */
#ifndef S2S_TRUST_CLI_DETAILS_H
#define S2S_TRUST_CLI_DETAILS_H

#include <stddef.h>
#include <stdio.h>

#include "core/s2s_trust_verify.h"

/* [{"type":T,"value":V},...] */
void cli_json_names(FILE *out, const s2s_trust_name_t *names, size_t n);

/* [{"subject":S,"issuer":I},...], leaf first. */
void cli_json_chain(FILE *out, const s2s_trust_details_t *d);

/* The members "error_depth", "openssl_code" and "openssl_text". */
void cli_json_openssl_error(FILE *out, const s2s_trust_details_t *d, int *first);

#endif
