/*
 * chain_file.c - see chain_file.h.
 */
#include "cli/chain_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

void cli_chain_file_free(cli_chain_file_t *c)
{
    for (size_t i = 0; c->pem && i < c->n; i++)
        OPENSSL_free(c->blocks[i]);
    free(c->file);
    memset(c, 0, sizeof *c);
}

/* The file into c->file; reading stops once the buffer has grown past
 * CLI_CHAIN_FILE_MAX. */
static int read_whole_file(const char *path, cli_chain_file_t *c)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 64 * 1024;

    if (f == NULL) {
        fprintf(stderr, "s2s-trust: %s: %s\n", path, strerror(errno));
        return -1;
    }
    c->file = malloc(cap);
    while (c->file != NULL) {
        c->file_len += fread(c->file + c->file_len, 1, cap - c->file_len, f);
        if (c->file_len < cap || cap > CLI_CHAIN_FILE_MAX)
            break;
        unsigned char *grown = realloc(c->file, cap * 2);
        if (grown == NULL) {
            free(c->file);
            c->file = NULL;
            break;
        }
        c->file = grown;
        cap *= 2;
    }
    if (c->file == NULL || ferror(f)) {
        fprintf(stderr, "s2s-trust: %s: cannot read\n", path);
        fclose(f);
        cli_chain_file_free(c);
        return -1;
    }
    fclose(f);
    return 0;
}

/* Every CERTIFICATE block of a PEM file, in order, decoded to DER without
 * being parsed. */
static void pem_certificates(cli_chain_file_t *c)
{
    BIO *bio = BIO_new_mem_buf(c->file, (int)(c->file_len > 0x7fffffff ? 0x7fffffff : c->file_len));
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;

    while (bio != NULL && c->n < CLI_CHAIN_MAX_BLOCKS &&
           PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
        if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "TRUSTED CERTIFICATE") == 0) {
            c->blocks[c->n] = data;
            c->der[c->n].data = data;
            c->der[c->n].len = (size_t)len;
            c->n++;
        } else {
            OPENSSL_free(data);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        name = header = NULL;
        data = NULL;
    }
    BIO_free(bio);
    ERR_clear_error();
}

int cli_chain_file_read(const char *path, cli_chain_file_t *c)
{
    memset(c, 0, sizeof *c);
    if (read_whole_file(path, c) != 0)
        return -1;
    if (c->file_len >= 11 && memmem(c->file, c->file_len, "-----BEGIN ", 11) != NULL) {
        c->pem = 1;
        pem_certificates(c);
        if (c->n > 0)
            return 0;
        c->pem = 0;
    }
    c->der[0].data = c->file;
    c->der[0].len = c->file_len;
    c->n = c->file_len > 0 ? 1 : 0;
    return 0;
}
