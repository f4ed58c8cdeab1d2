/*
 * fuzz_dns.c - DNS answer bytes -> s2s_trust_dns_rdata (the strict, pure
 * part of the DANE resolver: SRV and TLSA record data, wire-format names,
 * the A-label host name and the query names made from it, the rule that
 * combines the targets' statuses).
 *
 * Every byte these functions read comes from a DNS server or from an
 * answer libunbound hands over although it is bogus, so every entry point
 * gets the fuzzer's bytes. Input framing: u8 op, then by op % 6:
 *   0 NAME    u8 c, then a wire-format name (the rest): name_text with the
 *             resolver's room (256), with room for every escape (1024), and
 *             with c bytes of room (0..255)
 *   1 SRV     SRV record data (the rest): srv_rdata_parse
 *   2 TLSA    u8 m, then TLSA record data (the rest): tlsa_rdata_parse; with
 *             m bit 0 the data is zero-padded to S2S_TRUST_TLSA_MAX_DATA + 1 +
 *             (m >> 1) % 5 - 2 bytes of association data (both sides of the
 *             size limit, without 8 KB inputs)
 *   3 HOST    u16 port, then an XMPP domain (the rest, UTF-8 or not):
 *             dns_host_name, then srv_name and tlsa_name of its result
 *   4 QNAME   u16 port, u8 c, then any host text (the rest): srv_name and
 *             tlsa_name with c bytes of room
 *   5 COMBINE one status per byte (% 4): dnssec_combine
 * Every buffer handed to the code under test, input or output, is an
 * exact-size heap copy, so ASan sees a read or write one byte past it.
 *
 * Asserted (an independent reference parser in this file is the oracle):
 *   - a wire name is MALFORMED exactly when it is not a sequence of labels
 *     of 1..63 octets ending in the root label exactly at its end, within
 *     255 octets (a compression pointer, a truncation, trailing bytes);
 *     MALFORMED leaves "" in the output;
 *   - OK: the root is ""; any other name is the labels, lower-cased, joined
 *     by '.': 1..253 bytes of [a-z0-9-_] labels of 1..63, not all digits,
 *     and writing it back to wire format gives the input, lower-cased;
 *   - NOT_HOSTNAME (a byte outside LDH and '_', or all digits): the output
 *     is printable ASCII, unescapes (\xNN) to the raw labels joined by '.'
 *     (or, cut short to fit, to a prefix of them, the output then ending in
 *     "..."), and is never a text that OK could give: a name that is none
 *     must not display as, or compare equal to, one that is;
 *   - the output is NUL-terminated inside the room given, whatever the
 *     room; the status never depends on the room unless OK's text does not
 *     fit it (then NOT_HOSTNAME, cut short);
 *   - SRV: under 7 bytes MALFORMED with the record zeroed; otherwise the
 *     three fields are the big-endian bytes and the target is name_text of
 *     the rest (which is checked as a name, above, with 256 bytes of room
 *     and with the priority's high byte as the small room), the root shown as "." with `root` set (and only then); an
 *     OK record written back and parsed again gives the same record;
 *   - TLSA: MALFORMED under 4 bytes, TOO_LARGE over S2S_TRUST_TLSA_MAX_DATA
 *     bytes of association data (the record zeroed in both cases), else the
 *     three fields, data pointing at byte 3 and len = the rest: copied out
 *     as the resolver does (exact-size, ASan), and written back it is the
 *     input;
 *   - host name: 0 exactly when s2s_trust_identity_normalize accepts the
 *     domain, with the same text; a NUL byte fails; -1 says why; one byte
 *     too little room fails without writing past it; the result, as a wire
 *     name, parses back OK to itself (parse -> format -> parse);
 *   - query names: "_xmpp-server._tcp.HOST" and "_PORT._tcp.HOST" exactly,
 *     0 exactly when that is at most 253 bytes and fits the room, and made
 *     from a host name they are themselves names name_text reads back OK;
 *   - combine: the rule of s2s_trust_dnssec.h (BOGUS if any, else SECURE
 *     if one is or there are none, else INSECURE if all are, else ERROR),
 *     independent of the order;
 *   - no leak (LeakSanitizer), no undefined behaviour (UBSan).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "core/s2s_trust_identity.h"
#include "net/s2s_trust_dns_rdata.h"

#define ROOM_ALL 1024 /* 253 bytes, each as \xNN, and more */

int FuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

void FuzzerCleanup(void)
{
}

/* ---- the oracle ---------------------------------------------------------- */

typedef struct {
    s2s_trust_rdata_status_t st; /* OK (a host name or the root), NOT_HOSTNAME, MALFORMED */
    char raw[256];               /* the label bytes joined by '.' (may hold NULs) */
    size_t rawlen;
} ref_name_t;

static bool host_byte(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_';
}

/* RFC 1035 3.1 read plainly: labels, the root label last, 255 octets. */
static void ref_name(const unsigned char *d, size_t len, ref_name_t *r)
{
    size_t pos = 0;
    bool host = true, digits = true;

    memset(r, 0, sizeof *r);
    r->st = S2S_TRUST_RDATA_MALFORMED;
    if (len == 0 || len > 255)
        return;
    while (pos < len && d[pos] != 0) {
        size_t n = d[pos];
        if (n > 63 || n > len - pos - 1)
            return;
        if (r->rawlen > 0)
            r->raw[r->rawlen++] = '.';
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = d[pos + 1 + i];
            host = host && host_byte(ch);
            digits = digits && ch >= '0' && ch <= '9';
            r->raw[r->rawlen++] = (char)ch;
        }
        pos += 1 + n;
    }
    if (pos != len - 1) /* no root label, or bytes after it */
        return;
    r->st = r->rawlen == 0 || (host && !digits) ? S2S_TRUST_RDATA_OK : S2S_TRUST_RDATA_NOT_HOSTNAME;
}

/* Could name_text give `s` for an OK name other than the root? */
static bool ok_text(const char *s)
{
    size_t len = strlen(s), label = 0;
    bool digits = true;

    if (len == 0 || len > S2S_TRUST_DOMAIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
        digits = digits && c >= '0' && c <= '9';
        if (++label > 63)
            return false;
    }
    return label > 0 && !digits;
}

static void check_ok_text(const char *s, const char *what)
{
    FUZZ_CHECK(ok_text(s), "%s: '%s' is not 1..253 bytes of lower-case LDH/_ labels of 1..63, not all digits",
               what, s);
}

/* Text (an OK name) back to wire format; returns its length. */
static size_t to_wire(const char *s, unsigned char *w, size_t cap)
{
    size_t o = 0;

    FUZZ_CHECK(strlen(s) + 2 <= cap, "to_wire: no room for '%s'", s);
    while (*s) {
        size_t n = strcspn(s, ".");
        w[o++] = (unsigned char)n;
        memcpy(w + o, s, n);
        o += n;
        s += n;
        if (*s == '.')
            s++;
    }
    w[o++] = 0;
    return o;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The escaped text back to bytes; false if it is not s2s_trust_escape's
 * form (a '\' not starting a complete \xNN, a byte that should have been
 * escaped). */
static bool unescape(const char *s, size_t len, char *out, size_t *outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            return false;
        if (c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        if (i + 3 >= len || s[i + 1] != 'x' || hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0)
            return false;
        out[o++] = (char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
        i += 3;
    }
    *outlen = o;
    return true;
}

/* ---- the entry points ---------------------------------------------------- */

/* name_text into an exact-size buffer of `cap` bytes; the text copied into
 * text[ROOM_ALL]. */
static s2s_trust_rdata_status_t name_text(const unsigned char *d, size_t len, size_t cap, char *text)
{
    char *out = malloc(cap ? cap : 1);
    s2s_trust_rdata_status_t st;

    FUZZ_CHECK(out != NULL, "malloc");
    if (cap > 0)
        memset(out, 'Z', cap);
    st = s2s_trust_dns_name_text(d, len, out, cap);
    FUZZ_CHECK(st == S2S_TRUST_RDATA_OK || st == S2S_TRUST_RDATA_MALFORMED || st == S2S_TRUST_RDATA_NOT_HOSTNAME,
               "name_text returned %d", st);
    if (cap == 0) {
        FUZZ_CHECK(st == S2S_TRUST_RDATA_MALFORMED, "no room, status %d", st);
        text[0] = '\0';
    } else {
        FUZZ_CHECK(memchr(out, '\0', cap) != NULL, "name_text output not terminated in %zu bytes", cap);
        memcpy(text, out, strlen(out) + 1);
    }
    free(out);
    return st;
}

/* The NOT_HOSTNAME text against the raw labels. */
static void check_refused_text(const char *text, const ref_name_t *r, size_t cap)
{
    char back[ROOM_ALL];
    size_t tlen = strlen(text), blen = 0;
    bool cut = tlen >= 3 && strcmp(text + tlen - 3, "...") == 0 &&
               !(unescape(text, tlen, back, &blen) && blen == r->rawlen && memcmp(back, r->raw, blen) == 0);

    FUZZ_CHECK(!ok_text(text), "a name that is no host name shows as the host name '%s'", text);
    if (cut)
        tlen -= 3;
    FUZZ_CHECK(unescape(text, tlen, back, &blen), "refused name not in escaped form: '%s'", text);
    if (cut || cap < ROOM_ALL) {
        FUZZ_CHECK(blen <= r->rawlen && memcmp(back, r->raw, blen) == 0, "'%s' is not a prefix of the name",
                   text);
    } else {
        FUZZ_CHECK(blen == r->rawlen && memcmp(back, r->raw, blen) == 0, "'%s' is not the whole name (%zu bytes)",
                   text, r->rawlen);
    }
}

static void check_name(const unsigned char *d, size_t len, size_t small_cap)
{
    ref_name_t r;
    char text[ROOM_ALL], all[ROOM_ALL], small[ROOM_ALL], again[ROOM_ALL];
    s2s_trust_rdata_status_t st, st_all, st_small;

    ref_name(d, len, &r);
    st = name_text(d, len, 256, text);
    st_all = name_text(d, len, ROOM_ALL, all);
    st_small = name_text(d, len, small_cap, small);
    FUZZ_CHECK(name_text(d, len, 256, again) == st && strcmp(again, text) == 0, "name_text not deterministic");

    FUZZ_CHECK(st == r.st, "name_text status %d, expected %d", st, r.st);
    FUZZ_CHECK(st_all == st, "status %d with room for everything, %d with 256", st_all, st);
    switch (st) {
    case S2S_TRUST_RDATA_MALFORMED:
        FUZZ_CHECK(text[0] == '\0' && all[0] == '\0' && small[0] == '\0', "malformed name gave text '%s'", text);
        FUZZ_CHECK(st_small == st, "malformed by room");
        break;
    case S2S_TRUST_RDATA_OK:
        FUZZ_CHECK(strcmp(text, all) == 0, "'%s' with 256, '%s' with room for all", text, all);
        if (r.rawlen == 0) {
            FUZZ_CHECK(text[0] == '\0', "the root read as '%s'", text);
        } else {
            unsigned char w[260];
            size_t wlen;

            check_ok_text(text, "name_text");
            FUZZ_CHECK(strlen(text) == r.rawlen, "'%s' is %zu bytes, the labels %zu", text, strlen(text), r.rawlen);
            wlen = to_wire(text, w, sizeof w);
            FUZZ_CHECK(wlen == len, "written back: %zu bytes, read %zu", wlen, len);
            for (size_t i = 0; i < len; i++)
                FUZZ_CHECK(w[i] == (d[i] >= 'A' && d[i] <= 'Z' ? d[i] - 'A' + 'a' : d[i]),
                           "written back differs at byte %zu", i);
        }
        if (small_cap > strlen(text))
            FUZZ_CHECK(st_small == st && strcmp(small, text) == 0, "'%s' fits %zu bytes, gave %d '%s'", text,
                       small_cap, st_small, small);
        else if (small_cap > 0)
            FUZZ_CHECK(st_small == S2S_TRUST_RDATA_NOT_HOSTNAME, "'%s' in %zu bytes: status %d", text, small_cap,
                       st_small);
        if (st_small == S2S_TRUST_RDATA_NOT_HOSTNAME)
            check_refused_text(small, &r, small_cap);
        break;
    case S2S_TRUST_RDATA_NOT_HOSTNAME:
        check_refused_text(text, &r, 256);
        check_refused_text(all, &r, ROOM_ALL);
        /* Cut short only when it does not fit. */
        FUZZ_CHECK(strlen(all) >= 256 || strcmp(text, all) == 0, "'%s' cut to '%s' in 256 bytes", all, text);
        if (small_cap > 0) {
            FUZZ_CHECK(st_small == st, "refused name, status %d in %zu bytes", st_small, small_cap);
            check_refused_text(small, &r, small_cap);
            FUZZ_CHECK(strlen(all) >= small_cap || strcmp(small, all) == 0, "'%s' cut to '%s' in %zu bytes", all,
                       small, small_cap);
        }
        break;
    default:
        break;
    }
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void check_srv(const unsigned char *d, size_t len)
{
    s2s_trust_srv_rdata_t s;
    s2s_trust_rdata_status_t st;
    char text[ROOM_ALL];

    memset(&s, 0xa5, sizeof s);
    FUZZ_CHECK(s2s_trust_srv_rdata_parse(NULL, len, &s) == S2S_TRUST_RDATA_MALFORMED, "NULL data parsed");
    memset(&s, 0xa5, sizeof s);
    st = s2s_trust_srv_rdata_parse(d, len, &s);
    FUZZ_CHECK(memchr(s.target, '\0', sizeof s.target) != NULL, "SRV target not terminated");
    if (len < 7) {
        static const s2s_trust_srv_rdata_t zero;
        FUZZ_CHECK(st == S2S_TRUST_RDATA_MALFORMED, "%zu bytes of SRV parsed (%d)", len, st);
        FUZZ_CHECK(memcmp(&s, &zero, sizeof s) == 0, "short SRV record not zeroed");
        return;
    }
    FUZZ_CHECK(st == name_text(d + 6, len - 6, sizeof s.target, text), "SRV status %d differs from its name's", st);
    check_name(d + 6, len - 6, d[0]); /* the target as a name, with some room (the priority's high byte) */
    FUZZ_CHECK(s.priority == (d[0] << 8 | d[1]) && s.weight == (d[2] << 8 | d[3]) && s.port == (d[4] << 8 | d[5]),
               "SRV fields %u %u %u", s.priority, s.weight, s.port);
    FUZZ_CHECK(s.root == (st == S2S_TRUST_RDATA_OK && text[0] == '\0'), "root %d for '%s' (%d)", s.root, text, st);
    if (s.root) {
        FUZZ_CHECK(strcmp(s.target, ".") == 0, "the root target shown as '%s'", s.target);
        return;
    }
    FUZZ_CHECK(strcmp(s.target, text) == 0, "SRV target '%s', its name '%s'", s.target, text);
    if (st == S2S_TRUST_RDATA_OK) {
        unsigned char w[6 + 260], *copy;
        s2s_trust_srv_rdata_t s2;
        size_t wlen;

        put16(w, s.priority);
        put16(w + 2, s.weight);
        put16(w + 4, s.port);
        wlen = 6 + to_wire(s.target, w + 6, sizeof w - 6);
        FUZZ_CHECK(wlen == len, "SRV written back: %zu bytes, read %zu", wlen, len);
        copy = fuzz_dup(w, wlen);
        FUZZ_CHECK(s2s_trust_srv_rdata_parse(copy, wlen, &s2) == S2S_TRUST_RDATA_OK &&
                       memcmp(&s, &s2, offsetof(s2s_trust_srv_rdata_t, target)) == 0 &&
                       strcmp(s.target, s2.target) == 0,
                   "SRV record written back parses to something else");
        free(copy);
    }
}

static void check_tlsa(const unsigned char *d, size_t len)
{
    s2s_trust_tlsa_t t;
    s2s_trust_rdata_status_t st;

    FUZZ_CHECK(s2s_trust_tlsa_rdata_parse(NULL, len, &t) == S2S_TRUST_RDATA_MALFORMED && t.data == NULL,
               "NULL data parsed");
    memset(&t, 0xa5, sizeof t);
    st = s2s_trust_tlsa_rdata_parse(d, len, &t);
    if (len < 4 || len - 3 > S2S_TRUST_TLSA_MAX_DATA) {
        FUZZ_CHECK(st == (len < 4 ? S2S_TRUST_RDATA_MALFORMED : S2S_TRUST_RDATA_TOO_LARGE), "%zu bytes of TLSA: %d",
                   len, st);
        FUZZ_CHECK(t.data == NULL && t.len == 0 && t.usage == 0 && t.selector == 0 && t.mtype == 0,
                   "refused TLSA record not zeroed");
        return;
    }
    FUZZ_CHECK(st == S2S_TRUST_RDATA_OK, "%zu bytes of TLSA: %d", len, st);
    FUZZ_CHECK(t.usage == d[0] && t.selector == d[1] && t.mtype == d[2], "TLSA fields %u %u %u", t.usage,
               t.selector, t.mtype);
    FUZZ_CHECK(t.data == d + 3 && t.len == len - 3 && t.len >= 1 && t.len <= S2S_TRUST_TLSA_MAX_DATA,
               "TLSA data at +%td, %zu bytes of %zu", t.data - d, t.len, len);
    {
        /* As copy_records does: the copy is exactly the reported length. */
        unsigned char *copy = malloc(t.len), *w = malloc(3 + t.len);
        FUZZ_CHECK(copy != NULL && w != NULL, "malloc");
        memcpy(copy, t.data, t.len);
        w[0] = t.usage;
        w[1] = t.selector;
        w[2] = t.mtype;
        memcpy(w + 3, copy, t.len);
        FUZZ_CHECK(memcmp(w, d, len) == 0, "TLSA record written back differs");
        free(copy);
        free(w);
    }
}

/* A query name made from a host name reads back OK as itself. */
static void check_qname_wire(const char *q)
{
    unsigned char w[260], *copy;
    char text[ROOM_ALL];
    size_t wlen = to_wire(q, w, sizeof w);

    copy = fuzz_dup(w, wlen);
    FUZZ_CHECK(name_text(copy, wlen, 256, text) == S2S_TRUST_RDATA_OK && strcmp(text, q) == 0,
               "query name '%s' reads back as '%s'", q, text);
    free(copy);
}

/* srv_name and tlsa_name of `host` with `cap` bytes of room. */
static void check_qnames(const char *host, unsigned port, size_t cap, bool from_host_name)
{
    char want[2][600];
    int n[2];

    n[0] = snprintf(want[0], sizeof want[0], "_xmpp-server._tcp.%s", host);
    n[1] = snprintf(want[1], sizeof want[1], "_%u._tcp.%s", port, host);
    for (int k = 0; k < 2; k++) {
        char *out = malloc(cap ? cap : 1);
        int rc;
        bool fits = n[k] > 0 && (size_t)n[k] < cap && n[k] <= 253;

        FUZZ_CHECK(out != NULL, "malloc");
        rc = k == 0 ? s2s_trust_dns_srv_name(host, out, cap) : s2s_trust_dns_tlsa_name(host, (uint16_t)port, out, cap);
        FUZZ_CHECK(rc == (fits ? 0 : -1), "%s name of '%s' in %zu: %d", k ? "TLSA" : "SRV", host, cap, rc);
        if (cap > 0)
            FUZZ_CHECK(memchr(out, '\0', cap) != NULL, "query name not terminated");
        if (rc == 0) {
            FUZZ_CHECK(strcmp(out, want[k]) == 0, "query name '%s', expected '%s'", out, want[k]);
            if (from_host_name) {
                check_ok_text(out, "query name");
                check_qname_wire(out);
            }
        }
        free(out);
    }
}

static void check_host(const char *domain, size_t len, unsigned port)
{
    char out[256], norm[256];
    const char *why = NULL;
    int rc = s2s_trust_dns_host_name(domain, len, out, sizeof out, &why);
    int want = s2s_trust_identity_normalize(domain, len, norm, sizeof norm);

    FUZZ_CHECK(rc == 0 || rc == -1, "host_name returned %d", rc);
    if (memchr(domain, '\0', len) != NULL || len == 0)
        FUZZ_CHECK(rc == -1, "a domain with a NUL byte (or none) became '%s'", out);
    else
        FUZZ_CHECK(rc == want, "host_name %d, normalize %d", rc, want);
    if (rc != 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0', "-1 without a reason");
        return;
    }
    FUZZ_CHECK(strcmp(out, norm) == 0, "host_name '%s', normalize '%s'", out, norm);
    check_ok_text(out, "host_name");
    {
        size_t olen = strlen(out);
        char *tight = malloc(olen ? olen : 1);
        FUZZ_CHECK(tight != NULL, "malloc");
        FUZZ_CHECK(s2s_trust_dns_host_name(domain, len, tight, olen, &why) == -1, "'%s' fitted in %zu bytes", out,
                   olen);
        free(tight);
    }
    check_qname_wire(out); /* parse -> format -> parse */
    check_qnames(out, port, 256, true);
    check_qnames(out, port, 300, true);
}

static void check_combine(const uint8_t *p, size_t n)
{
    s2s_trust_dnssec_status_t *st = malloc((n ? n : 1) * sizeof *st);
    size_t count[4] = { 0 };
    s2s_trust_dnssec_status_t want, got;

    FUZZ_CHECK(st != NULL, "malloc");
    for (size_t i = 0; i < n; i++) {
        st[i] = (s2s_trust_dnssec_status_t)(p[i] % 4);
        count[st[i]]++;
    }
    if (count[S2S_TRUST_DNSSEC_BOGUS])
        want = S2S_TRUST_DNSSEC_BOGUS;
    else if (count[S2S_TRUST_DNSSEC_SECURE] || n == 0)
        want = S2S_TRUST_DNSSEC_SECURE;
    else if (count[S2S_TRUST_DNSSEC_INSECURE] == n)
        want = S2S_TRUST_DNSSEC_INSECURE;
    else
        want = S2S_TRUST_DNSSEC_ERROR;
    got = s2s_trust_dnssec_combine(st, n);
    FUZZ_CHECK(got == want, "combine of %zu statuses: %d, expected %d", n, got, want);
    /* Order does not matter: reversed. */
    for (size_t i = 0; i < n / 2; i++) {
        s2s_trust_dnssec_status_t x = st[i];
        st[i] = st[n - 1 - i];
        st[n - 1 - i] = x;
    }
    FUZZ_CHECK(s2s_trust_dnssec_combine(st, n) == want, "combine depends on the order");
    free(st);
}

int FuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    fuzz_in_t in = { buf, len };
    unsigned op = fuzz_u8(&in) % 6;
    const uint8_t *p;
    unsigned char *d;
    size_t n;

    switch (op) {
    case 0: {
        size_t cap = fuzz_u8(&in);
        n = fuzz_take(&in, in.left, &p);
        d = fuzz_dup(p, n);
        check_name(d, n, cap);
        break;
    }
    case 1:
        n = fuzz_take(&in, in.left, &p);
        d = fuzz_dup(p, n);
        check_srv(d, n);
        break;
    case 2: {
        unsigned m = fuzz_u8(&in);
        n = fuzz_take(&in, in.left, &p);
        if (m & 1) {
            size_t want = 3 + S2S_TRUST_TLSA_MAX_DATA + 1 + (m >> 1) % 5 - 2;
            d = calloc(1, want);
            FUZZ_CHECK(d != NULL, "calloc");
            memcpy(d, p, n < want ? n : want);
            n = want;
        } else {
            d = fuzz_dup(p, n);
        }
        check_tlsa(d, n);
        break;
    }
    case 3: {
        unsigned port = fuzz_u16(&in);
        n = fuzz_take(&in, in.left, &p);
        d = fuzz_dup(p, n);
        check_host((const char *)d, n, port);
        break;
    }
    case 4: {
        unsigned port = fuzz_u16(&in);
        size_t cap = fuzz_u8(&in);
        n = fuzz_take(&in, in.left, &p);
        d = malloc(n + 1); /* a C string: cut at its first NUL */
        FUZZ_CHECK(d != NULL, "malloc");
        memcpy(d, p, n);
        d[n] = '\0';
        if (strlen((char *)d) < 500)
            check_qnames((const char *)d, port, cap, false);
        break;
    }
    default:
        n = fuzz_take(&in, in.left, &p);
        d = fuzz_dup(p, n);
        check_combine(d, n);
        break;
    }
    free(d);
    return 0;
}
