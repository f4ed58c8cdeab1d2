/*
 * probe_chain.h - `s2s-trust probe`'s reading of the chain a server sent:
 * each certificate's details, the chain's shape as sent (order, missing,
 * extra or duplicate certificates, a root sent along) and what the leaf
 * may be used for. Peer bytes in, plain data out; nothing is printed here.
 */
#ifndef S2S_TRUST_CLI_PROBE_CHAIN_H
#define S2S_TRUST_CLI_PROBE_CHAIN_H

#include <stddef.h>

#include <openssl/x509.h>

#include "core/s2s_trust_verify.h"
#include "net/s2s_trust_probe.h"

#define PROBE_MAX_NAMES_SHOWN 64

/* One certificate as the server sent it. */
typedef struct {
    X509 *x;          /* NULL when it does not parse */
    char *subject, *issuer;
    char not_before[32], not_after[32];
    char key[48];
    char sha256[96];
    int is_ca, self_signed, eku_present, server_auth, client_auth;
    s2s_trust_name_t names[PROBE_MAX_NAMES_SHOWN];
    size_t name_count, names_dropped;
} cert_info_t;

/* The shape of the chain as sent. */
typedef struct {
    size_t n;
    size_t path[S2S_TRUST_PROBE_MAX_CHAIN]; /* indices from the leaf up, by issuer */
    size_t path_len;
    int in_order;      /* the path is exactly 0,1,...,n-1 */
    int includes_root; /* the path ends at a self-signed certificate above the leaf */
    size_t extra;      /* certificates not on the leaf's path (duplicates apart) */
    size_t duplicates; /* certificates sent twice */
    size_t intermediates_sent;
    int missing;       /* the verified chain holds certificates the server did not send */
    char summary[320];
} shape_t;

/* Parse one certificate of the chain (a whole DER certificate or nothing:
 * ci->x stays NULL) and fill in what the report shows. */
void probe_cert_info(const s2s_trust_der_t *der, cert_info_t *ci);
void probe_cert_info_free(cert_info_t *ci);

/* The shape of the n certificates sent, given how the verifier judged them,
 * with a one-line summary for the operator. */
void probe_chain_shape(const cert_info_t *certs, size_t n, const s2s_trust_details_t *d, shape_t *s);

/* What the leaf may be used for, in words; *xmpp_addr tells whether it
 * carries an XmppAddr. */
const char *probe_valid_for(const cert_info_t *leaf, int *xmpp_addr);

#endif
