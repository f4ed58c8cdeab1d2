/*
 * s2s_trust_identity.h - does a certificate name an XMPP domain?
 *
 * The rules are RFC 6120 section 13.7.1.2 with RFC 9525 (which replaced
 * RFC 6125):
 *   - DNS-ID: a dNSName equal to the domain, or "*." plus the parent
 *     domain, the wildcard covering exactly one left-most label and never
 *     the bare domain; no partial wildcards ("f*.example.org");
 *   - SRV-ID: an id-on-dnsSRV otherName "_xmpp-server.<domain>", same
 *     wildcard rule on the first label after the service;
 *   - XmppAddr: an id-on-xmppAddr otherName that is the bare domain;
 *     no wildcards; a JID with a local part or resource never matches;
 *   - CN-ID: never, unless insecure_allow_cn_id is set, and then only when
 *     the certificate has no DNS-ID, SRV-ID or XmppAddr at all.
 * Everything is compared in lower-case A-label (punycode) form.
 */
#ifndef S2S_TRUST_IDENTITY_H
#define S2S_TRUST_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

/* Longest domain accepted (RFC 1035), plus room for the terminator. */
#define S2S_TRUST_DOMAIN_MAX 253

typedef enum {
    S2S_TRUST_ID_NONE,
    S2S_TRUST_ID_DNS,
    S2S_TRUST_ID_SRV,
    S2S_TRUST_ID_XMPP,
    S2S_TRUST_ID_CN
} s2s_trust_id_type_t;

/* "dns", "srv", "xmpp", "cn", "none" */
const char *s2s_trust_id_type_name(s2s_trust_id_type_t type);

/* Turn a domain as ejabberd hands it (UTF-8, possibly U-labels, any case,
 * maybe a trailing dot) into lower-case A-labels in `out` (NUL-terminated).
 * 0 on success, -1 if it is not a usable DNS domain (empty, too long, a NUL
 * byte, an empty label, an IP literal, a label over 63 octets, IDNA failure). */
int s2s_trust_identity_normalize(const char *domain, size_t len, char *out,
                                 size_t out_size);

/* Does `leaf` name `alabel_domain` (already normalized)? On a match,
 * *matched_by (may be NULL) tells which identity type did it. */
bool s2s_trust_identity_matches(X509 *leaf, const char *alabel_domain, bool allow_cn,
                                s2s_trust_id_type_t *matched_by);

/* Every identity the certificate offers, for explain output. Values are the
 * raw bytes from the certificate (may hold anything, NULs included). */
typedef void (*s2s_trust_identity_cb)(void *ctx, s2s_trust_id_type_t type,
                                      const unsigned char *value, size_t len);
void s2s_trust_identity_list(X509 *leaf, s2s_trust_identity_cb cb, void *ctx);

#endif
