/* s2s_trust_dns_rdata.c - see s2s_trust_dns_rdata.h */
#include "net/s2s_trust_dns_rdata.h"

#include <stdio.h>
#include <string.h>

#include "core/s2s_trust_identity.h"

static int host_byte(unsigned char ch)
{
    /* The identity code's alphabet (s2s_trust_identity.c): LDH and '_'. */
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_';
}

/* A checked wire name that is no host name, for display: s2s_trust_escape's
 * form (printable ASCII as is, the rest and '\' as \xNN) with a '.' inside a
 * label escaped too, so that the text never reads as, or compares equal to,
 * a host name ("a.b" as one label is not the name a.b: the resolver tells
 * targets apart by this text, and the CLI prints it). Cut short to fit
 * `cap`, it ends in "...", which no host name does; "" if cap < 4. */
static void escape_name(const unsigned char *d, char *out, size_t cap)
{
    char all[4 * 255 + 1];
    size_t o = 0, cut;

    for (size_t pos = 0; d[pos] != 0; pos += 1 + (size_t)d[pos]) {
        if (pos > 0)
            all[o++] = '.';
        for (size_t i = 1; i <= d[pos]; i++) {
            unsigned char ch = d[pos + i];
            if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '.')
                all[o++] = (char)ch;
            else
                o += (size_t)snprintf(all + o, 5, "\\x%02x", ch);
        }
    }
    all[o] = '\0';
    if (o < cap) {
        memcpy(out, all, o + 1);
        return;
    }
    out[0] = '\0';
    if (cap < 4)
        return;
    /* Never cut inside an escape: every '\' in `all` starts one. */
    cut = cap - 4;
    for (size_t k = 1; k <= 3 && k <= cut; k++)
        if (all[cut - k] == '\\') {
            cut -= k;
            break;
        }
    memcpy(out, all, cut);
    memcpy(out + cut, "...", 4);
}

s2s_trust_rdata_status_t s2s_trust_dns_name_text(const unsigned char *d, size_t len, char *out, size_t cap)
{
    /* The raw label bytes joined by '.', at most 253 of them (a 255-octet
     * wire name); shown escaped instead when one of them is not a host
     * byte. */
    char text[256];
    size_t pos = 0, t = 0;
    int host = 1;

    if (cap == 0)
        return S2S_TRUST_RDATA_MALFORMED;
    out[0] = '\0';
    for (;;) {
        size_t n;

        if (pos >= len)
            return S2S_TRUST_RDATA_MALFORMED; /* no terminating root label */
        n = d[pos++];
        if (n == 0)
            break;
        if (n > 63)
            return S2S_TRUST_RDATA_MALFORMED; /* a compression pointer (0xC0) or a reserved type */
        if (n > len - pos || pos + n > 255)
            return S2S_TRUST_RDATA_MALFORMED;
        if (t > 0)
            text[t++] = '.';
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = d[pos + i];
            host &= host_byte(ch);
            text[t++] = (char)ch;
        }
        pos += n;
    }
    if (pos != len || pos > 255)
        return S2S_TRUST_RDATA_MALFORMED; /* bytes after the name, or a name over 255 octets */
    if (t == 0)
        return S2S_TRUST_RDATA_OK; /* the root: out is "" */
    if (host && t < cap && s2s_trust_identity_normalize(text, t, out, cap) == 0)
        return S2S_TRUST_RDATA_OK;
    escape_name(d, out, cap);
    return S2S_TRUST_RDATA_NOT_HOSTNAME;
}

s2s_trust_rdata_status_t s2s_trust_srv_rdata_parse(const unsigned char *d, size_t len, s2s_trust_srv_rdata_t *out)
{
    s2s_trust_rdata_status_t st;

    memset(out, 0, sizeof *out);
    if (d == NULL || len < 7) /* three 16-bit fields and at least the root label */
        return S2S_TRUST_RDATA_MALFORMED;
    out->priority = (uint16_t)(d[0] << 8 | d[1]);
    out->weight = (uint16_t)(d[2] << 8 | d[3]);
    out->port = (uint16_t)(d[4] << 8 | d[5]);
    st = s2s_trust_dns_name_text(d + 6, len - 6, out->target, sizeof out->target);
    if (st == S2S_TRUST_RDATA_OK && out->target[0] == '\0') {
        out->root = 1;
        snprintf(out->target, sizeof out->target, ".");
    }
    return st;
}

s2s_trust_rdata_status_t s2s_trust_tlsa_rdata_parse(const unsigned char *d, size_t len, s2s_trust_tlsa_t *out)
{
    memset(out, 0, sizeof *out);
    if (d == NULL || len < 4) /* RFC 6698 2.1: the association data is not empty */
        return S2S_TRUST_RDATA_MALFORMED;
    if (len - 3 > S2S_TRUST_TLSA_MAX_DATA)
        return S2S_TRUST_RDATA_TOO_LARGE;
    out->usage = d[0];
    out->selector = d[1];
    out->mtype = d[2];
    out->data = d + 3;
    out->len = len - 3;
    return S2S_TRUST_RDATA_OK;
}

int s2s_trust_dns_host_name(const char *domain, size_t len, char *out, size_t cap, const char **why)
{
    if (domain == NULL || len == 0) {
        *why = "empty domain";
        return -1;
    }
    if (memchr(domain, '\0', len) != NULL) {
        *why = "a NUL byte in the domain";
        return -1;
    }
    /* IDNA (UTS #46 non-transitional, as the verifier does), LDH labels of
     * 1..63 octets, at most 253 in all, not an IPv4 literal. */
    if (s2s_trust_identity_normalize(domain, len, out, cap) != 0) {
        *why = "not a valid host name (IDNA, label syntax or length)";
        return -1;
    }
    return 0;
}

static int fits(int n, size_t cap)
{
    return n > 0 && (size_t)n < cap && n <= 253;
}

int s2s_trust_dns_tlsa_name(const char *host, uint16_t port, char *out, size_t cap)
{
    return fits(snprintf(out, cap, "_%u._tcp.%s", (unsigned)port, host), cap) ? 0 : -1;
}

int s2s_trust_dns_srv_name(const char *host, char *out, size_t cap)
{
    return fits(snprintf(out, cap, "_xmpp-server._tcp.%s", host), cap) ? 0 : -1;
}

s2s_trust_dnssec_status_t s2s_trust_dnssec_combine(const s2s_trust_dnssec_status_t *st, size_t n)
{
    size_t insecure = 0;
    int secure = 0;

    for (size_t i = 0; i < n; i++) {
        if (st[i] == S2S_TRUST_DNSSEC_BOGUS)
            return S2S_TRUST_DNSSEC_BOGUS;
        if (st[i] == S2S_TRUST_DNSSEC_SECURE)
            secure = 1;
        else if (st[i] == S2S_TRUST_DNSSEC_INSECURE)
            insecure++;
    }
    if (secure || n == 0)
        return S2S_TRUST_DNSSEC_SECURE;
    return insecure == n ? S2S_TRUST_DNSSEC_INSECURE : S2S_TRUST_DNSSEC_ERROR;
}
