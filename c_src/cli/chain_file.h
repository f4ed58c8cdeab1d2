/*
 * chain_file.h - a certificate chain from a local file, for the commands
 * that take one (check, dane --chain, posh --chain): every CERTIFICATE
 * block of a PEM file, leaf first, or else the whole file as one DER
 * certificate. Nothing is parsed beyond base64: the core parses, with its
 * limits, and garbage becomes its "malformed" verdict.
 */
#ifndef S2S_TRUST_CLI_CHAIN_FILE_H
#define S2S_TRUST_CLI_CHAIN_FILE_H

#include <stddef.h>

#include "core/s2s_trust_verify.h"

/* A chain file is local, but may hold what a peer sent; bound what we read.
 * Anything larger is certainly over max_cert_bytes * max_chain_certs. */
#define CLI_CHAIN_FILE_MAX (16 * 1024 * 1024)
#define CLI_CHAIN_MAX_BLOCKS 64

typedef struct {
    unsigned char *file;    /* the whole file */
    size_t file_len;
    unsigned char *blocks[CLI_CHAIN_MAX_BLOCKS]; /* decoded PEM certificate blocks */
    s2s_trust_der_t der[CLI_CHAIN_MAX_BLOCKS];
    size_t n;               /* certificates in der[] (0: an empty file) */
    int pem;                /* 1: der[] are PEM blocks; 0: der[0] is the file */
} cli_chain_file_t;

/* 0 with *c filled (free it with cli_chain_file_free), or -1 after saying
 * on stderr why the file could not be read. */
int cli_chain_file_read(const char *path, cli_chain_file_t *c);
void cli_chain_file_free(cli_chain_file_t *c);

#endif
