/*
 * s2s_trust_dns_rdata.h - the pure part of the DNSSEC resolver
 * (s2s_trust_dnssec.h): reading SRV and TLSA record data as libunbound
 * hands it over, checking names, and combining per-target statuses.
 *
 * No DNS and no threads here, so every rule can be tested on hostile bytes
 * alone. libunbound gives each record's data (r->data[i], r->len[i]) in
 * wire format without the RDLENGTH prefix, names uncompressed. These
 * functions still trust nothing in it: a length that runs past the data, a
 * label over 63 octets, a compression pointer, a name over 255 octets or
 * bytes left over after the last field make the record malformed.
 */
#ifndef S2S_TRUST_DNS_RDATA_H
#define S2S_TRUST_DNS_RDATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_dane.h"
#include "net/s2s_trust_dnssec.h"

#define S2S_TRUST_DNS_TYPE_SRV 33
#define S2S_TRUST_DNS_TYPE_TLSA 52

typedef enum {
    S2S_TRUST_RDATA_OK,
    S2S_TRUST_RDATA_MALFORMED,    /* the bytes do not parse */
    S2S_TRUST_RDATA_NOT_HOSTNAME, /* a name parsed, but is no host name (SRV target) */
    S2S_TRUST_RDATA_TOO_LARGE     /* TLSA data over S2S_TRUST_TLSA_MAX_DATA */
} s2s_trust_rdata_status_t;

typedef struct {
    uint16_t priority, weight, port;
    int root;        /* the target is "." (the service is not offered) */
    char target[256]; /* lower-case A-labels, no trailing dot; when the
                         target is no host name: escaped for display */
} s2s_trust_srv_rdata_t;

/* One SRV record's data (`len` bytes). OK, MALFORMED, or NOT_HOSTNAME
 * (the fields are read and the target is shown escaped). */
s2s_trust_rdata_status_t s2s_trust_srv_rdata_parse(const unsigned char *d, size_t len,
                                                   s2s_trust_srv_rdata_t *out);

/* One TLSA record's data: usage, selector, matching type, then at least one
 * byte of association data. out->data points into `d` (not copied). */
s2s_trust_rdata_status_t s2s_trust_tlsa_rdata_parse(const unsigned char *d, size_t len, s2s_trust_tlsa_t *out);

/* A wire-format name at d[0..len) that must end exactly at `len`, into
 * lower-case text without the trailing dot ("" for the root). OK,
 * MALFORMED, or NOT_HOSTNAME (a label with a byte outside LDH and '_', or
 * an all-numeric name; `out` then holds the escaped text: a dot inside a
 * label is written \x2e, and text cut to fit `cap` ends in "...", so an
 * escaped name can never read as a host name). */
s2s_trust_rdata_status_t s2s_trust_dns_name_text(const unsigned char *d, size_t len, char *out, size_t cap);

/* The peer's XMPP domain (UTF-8, `len` bytes, possibly U-labels, any case,
 * maybe a trailing dot) as the A-label host name queries are made for.
 * 0, or -1 with *why saying what is wrong (static text). */
int s2s_trust_dns_host_name(const char *domain, size_t len, char *out, size_t cap, const char **why);

/* "_PORT._tcp.HOST" or "_xmpp-server._tcp.HOST" into out; -1 if the name
 * would be over 253 characters. */
int s2s_trust_dns_tlsa_name(const char *host, uint16_t port, char *out, size_t cap);
int s2s_trust_dns_srv_name(const char *host, char *out, size_t cap);

/* Rule 3 of s2s_trust_dnssec.h over the targets' TLSA statuses: BOGUS if
 * any is; else SECURE if one is; else INSECURE if all are (n > 0); else
 * ERROR. No target at all (a secure SRV RRset whose only target is ".")
 * is SECURE: the answer is validated, and it publishes no TLSA. */
s2s_trust_dnssec_status_t s2s_trust_dnssec_combine(const s2s_trust_dnssec_status_t *st, size_t n);

#endif
