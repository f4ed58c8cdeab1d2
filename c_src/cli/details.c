/*
 * details.c - verification details as check and probe both print them
 * (see details.h).
 */
#include "cli/details.h"

#include "cli/out.h"
#include "core/s2s_trust_identity.h"

void cli_json_names(FILE *out, const s2s_trust_name_t *names, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        int first = 1;
        if (i > 0)
            fputc(',', out);
        fputc('{', out);
        cli_json_str(out, "type", s2s_trust_id_type_name(names[i].type), &first);
        cli_json_key(out, "value", &first);
        cli_put_json(out, names[i].value, names[i].len);
        fputc('}', out);
    }
    fputc(']', out);
}

void cli_json_chain(FILE *out, const s2s_trust_details_t *d)
{
    fputc('[', out);
    for (size_t i = 0; i < d->chain_count; i++) {
        int first = 1;
        if (i > 0)
            fputc(',', out);
        fputc('{', out);
        cli_json_str(out, "subject", d->chain[i].subject, &first);
        cli_json_str(out, "issuer", d->chain[i].issuer, &first);
        fputc('}', out);
    }
    fputc(']', out);
}

void cli_json_openssl_error(FILE *out, const s2s_trust_details_t *d, int *first)
{
    cli_json_key(out, "error_depth", first);
    if (d->error_depth >= 0)
        fprintf(out, "%d", d->error_depth);
    else
        fputs("null", out);
    cli_json_key(out, "openssl_code", first);
    fprintf(out, "%d", d->openssl_code);
    cli_json_str(out, "openssl_text", d->openssl_code ? d->openssl_text : NULL, first);
}
