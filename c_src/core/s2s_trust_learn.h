/*
 * s2s_trust_learn.h - which certificates of a chain a server sent are worth
 * adding to the store's pool of intermediates.
 *
 * Why: ejabberd gives us a peer's leaf only, so a leaf from an intermediate
 * the pool lacks is unknown_issuer even when the peer is honest. The probe
 * (s2s_trust_probe.h) fetches the chain the peer's server sends; this file
 * decides what of it may be kept. The rule that makes learning safe: only a
 * CA certificate that chains to one of the store's anchors *now*, under the
 * store's own policy (depth, time, CRLs, security level), is kept. Trust is
 * never learned: a self-issued certificate is never kept, whatever it is,
 * and nothing here can add an anchor. A kept intermediate only lets OpenSSL
 * build a path it could have built had the operator listed it in
 * intermediate_file; every leaf is still verified in full afterwards.
 *
 * Every byte is the peer's: sizes are checked before parsing, garbage is
 * `malformed`, never a crash. Thread-safe on a shared store.
 */
#ifndef S2S_TRUST_LEARN_H
#define S2S_TRUST_LEARN_H

#include <stddef.h>

#include "core/s2s_trust_store.h"
#include "core/s2s_trust_verify.h" /* s2s_trust_der_t */

typedef enum {
    S2S_TRUST_LEARN_KEEP = 0,     /* a CA certificate that chains to an anchor now */
    S2S_TRUST_LEARN_LEAF,         /* position 0: the peer's own certificate */
    S2S_TRUST_LEARN_KNOWN,        /* already in the store's pool */
    S2S_TRUST_LEARN_NOT_CA,       /* not a CA certificate: never an intermediate */
    S2S_TRUST_LEARN_SELF_ISSUED,  /* a root: trust is configured, never learned */
    S2S_TRUST_LEARN_UNTRUSTED,    /* does not chain to an anchor; openssl_code says why */
    S2S_TRUST_LEARN_MALFORMED,    /* not one DER certificate, or larger than max_cert_bytes */
    S2S_TRUST_LEARN_FATE_COUNT
} s2s_trust_learn_fate_t;

typedef struct {
    s2s_trust_learn_fate_t fate;
    int openssl_code;         /* X509_V_ERR_* for UNTRUSTED, else 0 */
} s2s_trust_learn_item_t;

/* Most certificates examined in one call; a longer chain is refused whole. */
#define S2S_TRUST_LEARN_MAX_CHAIN 16

/* Judge every certificate of `chain` (leaf first, as the server sent it):
 * items[i] for chain[i]. 0 on success; -1 if n is 0 or above
 * S2S_TRUST_LEARN_MAX_CHAIN (nothing judged) or when out of memory. The
 * OpenSSL error queue is empty on return. */
int s2s_trust_learn_examine(const s2s_trust_store_t *store, const s2s_trust_der_t *chain,
                            size_t n, s2s_trust_learn_item_t *items);

/* "keep", "leaf", "known", "not_ca", "self_issued", "untrusted", "malformed". */
const char *s2s_trust_learn_fate_name(s2s_trust_learn_fate_t fate);

#endif
