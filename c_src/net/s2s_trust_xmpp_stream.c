/* s2s_trust_xmpp_stream.c - see s2s_trust_xmpp_stream.h
 *
 * Two layers. A byte-at-a-time tokenizer (feed) never looks at a byte
 * twice, so a peer trickling one byte per packet costs O(n) in total; it
 * cuts the input into text and complete tags, a tag being at most
 * S2S_TRUST_XS_MAX_TAG bytes. Each complete tag then goes to tag(), which
 * parses the name and attributes, keeps the namespace scope and decides
 * what the element means from its namespace, its local name and its
 * parent's role.
 */
#include "net/s2s_trust_xmpp_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_SERVER "jabber:server"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_XML "http://www.w3.org/XML/1998/namespace"

#define MAX_ATTRS 32

enum { ST_TEXT, ST_LT, ST_TAG, ST_PI };

enum {
    ROLE_OTHER,
    ROLE_STREAM,
    ROLE_FEATURES,
    ROLE_STARTTLS,
    ROLE_MECHANISMS,
    ROLE_MECHANISM,
    ROLE_ERROR,
    ROLE_ERROR_TEXT,
    ROLE_PROCEED,
    ROLE_FAILURE,
};

typedef struct {
    const char *name, *value; /* into xs->tag, not terminated */
    size_t name_len, value_len;
} attr_t;

void s2s_trust_xs_init(s2s_trust_xs_t *xs, size_t max_bytes)
{
    memset(xs, 0, sizeof *xs);
    xs->max_bytes = max_bytes ? max_bytes : 65536;
    xs->state = ST_TEXT;
}

const char *s2s_trust_xs_event_name(s2s_trust_xs_event_t ev)
{
    switch (ev) {
    case S2S_TRUST_XS_NEED_MORE: return "need_more";
    case S2S_TRUST_XS_HEADER: return "header";
    case S2S_TRUST_XS_FEATURES: return "features";
    case S2S_TRUST_XS_PROCEED: return "proceed";
    case S2S_TRUST_XS_FAILURE: return "failure";
    case S2S_TRUST_XS_STREAM_ERROR: return "stream_error";
    case S2S_TRUST_XS_STREAM_END: return "stream_end";
    case S2S_TRUST_XS_BAD: return "bad";
    case S2S_TRUST_XS_TOO_LARGE: return "too_large";
    }
    return "bad";
}

/* ---- small helpers --------------------------------------------------------- */

/* Peer bytes for `detail`: printable ASCII as is, the rest as \xNN, at most
 * `max` input bytes, always terminated. */
static void escape_into(char *out, size_t cap, const char *s, size_t len, size_t max)
{
    size_t o = 0;

    if (cap == 0)
        return;
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= cap)
                break;
            snprintf(out + o, cap - o, "\\x%02x", c);
            o += 4;
        }
    }
    out[o] = '\0';
}

static s2s_trust_xs_event_t fail(s2s_trust_xs_t *xs, s2s_trust_xs_event_t ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static s2s_trust_xs_event_t fail(s2s_trust_xs_t *xs, s2s_trust_xs_event_t ev, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(xs->detail, sizeof xs->detail, fmt, ap);
    va_end(ap);
    xs->done = 1;
    xs->sticky = ev;
    return ev;
}

/* An element's name for a message, escaped and cut short. */
static const char *shown(const char *s, size_t len, char buf[48])
{
    escape_into(buf, 48, s, len, 40);
    return buf;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* XML name characters, loosely: ASCII letters, digits, . - _ : and any
 * non-ASCII byte (UTF-8 names); a name does not start with a digit, '.',
 * '-' or ':'. */
static int is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == ':' || c >= 0x80;
}

static int is_name_start(unsigned char c)
{
    return is_name_char(c) && !(c >= '0' && c <= '9') && c != '.' && c != '-' && c != ':';
}

/* A qualified name at tag[*pos]: at most one ':' and not at either end. */
static int read_qname(const char *t, size_t len, size_t *pos, const char **name, size_t *name_len)
{
    size_t start = *pos, colons = 0;

    if (start >= len || !is_name_start((unsigned char)t[start]))
        return -1;
    while (*pos < len && is_name_char((unsigned char)t[*pos])) {
        if (t[*pos] == ':')
            colons++;
        (*pos)++;
    }
    *name = t + start;
    *name_len = *pos - start;
    if (colons > 1 || t[*pos - 1] == ':')
        return -1;
    return 0;
}

static int eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* Copy an attribute value, expanding the five predefined entities; other
 * references stay as they are (nothing we compare against contains one).
 * -1 when it does not fit. */
static int copy_value(char *out, size_t cap, const char *v, size_t len)
{
    static const struct {
        const char *ent;
        char ch;
    } ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&apos;", '\'' }, { "&quot;", '"' } };
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        char c = v[i];
        size_t step = 1;
        if (c == '&') {
            for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++) {
                size_t el = strlen(ents[e].ent);
                if (len - i >= el && memcmp(v + i, ents[e].ent, el) == 0) {
                    c = ents[e].ch;
                    step = el;
                    break;
                }
            }
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
        i += step;
    }
    out[o] = '\0';
    return 0;
}

/* The namespace a prefix ("" = default) means here, or NULL. */
static const char *lookup_ns(const s2s_trust_xs_t *xs, const char *prefix, size_t len)
{
    if (eq(prefix, len, "xml"))
        return NS_XML;
    for (int i = xs->ns_count - 1; i >= 0; i--)
        if (eq(prefix, len, xs->ns[i].prefix))
            return xs->ns[i].uri;
    return len == 0 ? "" : NULL;
}

static void pop_ns(s2s_trust_xs_t *xs, int depth)
{
    while (xs->ns_count > 0 && xs->ns[xs->ns_count - 1].depth >= depth)
        xs->ns_count--;
}

static void text_append(char *buf, size_t cap, size_t *len, unsigned char c)
{
    if (*len + 1 < cap) {
        buf[(*len)++] = (char)c;
        buf[*len] = '\0';
    }
}

/* ---- one complete tag ------------------------------------------------------ */

/* What closing (or self-closing) an element of `role` means. */
static s2s_trust_xs_event_t closed(s2s_trust_xs_t *xs, int role)
{
    switch (role) {
    case ROLE_STREAM:
        xs->done = 1;
        xs->sticky = S2S_TRUST_XS_STREAM_END;
        return S2S_TRUST_XS_STREAM_END;
    case ROLE_FEATURES:
        xs->features_seen = 1;
        return S2S_TRUST_XS_FEATURES;
    case ROLE_ERROR:
        xs->done = 1;
        xs->sticky = S2S_TRUST_XS_STREAM_ERROR;
        return S2S_TRUST_XS_STREAM_ERROR;
    case ROLE_PROCEED:
        xs->done = 1;
        xs->sticky = S2S_TRUST_XS_PROCEED;
        return S2S_TRUST_XS_PROCEED;
    case ROLE_FAILURE:
        xs->done = 1;
        xs->sticky = S2S_TRUST_XS_FAILURE;
        return S2S_TRUST_XS_FAILURE;
    case ROLE_MECHANISM: {
        const char *t = xs->text;
        size_t n = xs->text_len;
        while (n > 0 && is_space((unsigned char)*t))
            t++, n--;
        while (n > 0 && is_space((unsigned char)t[n - 1]))
            n--;
        if (eq(t, n, "EXTERNAL"))
            xs->sasl_external = 1;
        return S2S_TRUST_XS_NEED_MORE;
    }
    default:
        return S2S_TRUST_XS_NEED_MORE;
    }
}

static s2s_trust_xs_event_t end_tag(s2s_trust_xs_t *xs)
{
    const char *t = xs->tag, *name;
    size_t len = xs->tag_len, pos = 1, name_len;
    char b1[48], b2[48];
    int role;

    if (read_qname(t, len, &pos, &name, &name_len) != 0)
        return fail(xs, S2S_TRUST_XS_BAD, "malformed end tag </%s>", shown(t + 1, len - 1, b1));
    while (pos < len && is_space((unsigned char)t[pos]))
        pos++;
    if (pos != len)
        return fail(xs, S2S_TRUST_XS_BAD, "malformed end tag </%s>", shown(t + 1, len - 1, b1));
    if (xs->depth == 0)
        return fail(xs, S2S_TRUST_XS_BAD, "end tag </%s> outside the stream", shown(name, name_len, b1));
    if (!eq(name, name_len, xs->names[xs->depth - 1]))
        return fail(xs, S2S_TRUST_XS_BAD, "end tag </%s> does not close <%s>", shown(name, name_len, b1),
                    shown(xs->names[xs->depth - 1], strlen(xs->names[xs->depth - 1]), b2));
    role = xs->roles[xs->depth - 1];
    pop_ns(xs, xs->depth);
    xs->depth--;
    return closed(xs, role);
}

/* The meaning of a new element, from where it is and what it is. */
static int role_of(s2s_trust_xs_t *xs, int parent, const char *ns, const char *local, size_t local_len)
{
    switch (parent) {
    case ROLE_STREAM:
        if (strcmp(ns, NS_STREAMS) == 0 && eq(local, local_len, "features")) {
            xs->starttls = xs->starttls_required = xs->dialback = xs->sasl_external = 0;
            return ROLE_FEATURES;
        }
        if (strcmp(ns, NS_STREAMS) == 0 && eq(local, local_len, "error"))
            return ROLE_ERROR;
        if (strcmp(ns, NS_TLS) == 0 && eq(local, local_len, "proceed"))
            return ROLE_PROCEED;
        if (strcmp(ns, NS_TLS) == 0 && eq(local, local_len, "failure"))
            return ROLE_FAILURE;
        return -1;
    case ROLE_FEATURES:
        if (strcmp(ns, NS_TLS) == 0 && eq(local, local_len, "starttls")) {
            xs->starttls = 1;
            return ROLE_STARTTLS;
        }
        if (strcmp(ns, NS_SASL) == 0 && eq(local, local_len, "mechanisms"))
            return ROLE_MECHANISMS;
        if (strcmp(ns, NS_DIALBACK_FEATURE) == 0 && eq(local, local_len, "dialback"))
            xs->dialback = 1;
        return ROLE_OTHER;
    case ROLE_STARTTLS:
        if (strcmp(ns, NS_TLS) == 0 && eq(local, local_len, "required"))
            xs->starttls_required = 1;
        return ROLE_OTHER;
    case ROLE_MECHANISMS:
        if (strcmp(ns, NS_SASL) == 0 && eq(local, local_len, "mechanism")) {
            xs->text_len = 0;
            xs->text[0] = '\0';
            return ROLE_MECHANISM;
        }
        return ROLE_OTHER;
    case ROLE_ERROR:
        if (strcmp(ns, NS_STREAM_ERRORS) != 0)
            return ROLE_OTHER; /* application-specific condition */
        if (eq(local, local_len, "text")) {
            xs->text_len = strlen(xs->error_text); /* a second <text/> appends */
            return ROLE_ERROR_TEXT;
        }
        if (xs->error_condition[0] == '\0') {
            size_t n = local_len < sizeof xs->error_condition - 1 ? local_len : sizeof xs->error_condition - 1;
            memcpy(xs->error_condition, local, n);
            xs->error_condition[n] = '\0';
        }
        return ROLE_OTHER;
    default:
        return ROLE_OTHER;
    }
}

static void copy_attr(char *out, size_t cap, const attr_t *a)
{
    if (copy_value(out, cap, a->value, a->value_len) != 0) {
        /* Truncated rather than refused: these are for the report only. */
        size_t n = a->value_len < cap - 1 ? a->value_len : cap - 1;
        memcpy(out, a->value, n);
        out[n] = '\0';
    }
}

static s2s_trust_xs_event_t start_tag(s2s_trust_xs_t *xs)
{
    const char *t = xs->tag, *name, *colon, *ns;
    size_t len = xs->tag_len, pos = 0, name_len;
    attr_t attrs[MAX_ATTRS];
    int nattrs = 0, self_closing = 0, role, parent;
    char b1[48], b2[48];

    if (read_qname(t, len, &pos, &name, &name_len) != 0)
        return fail(xs, S2S_TRUST_XS_BAD, "malformed tag <%s>", shown(t, len, b1));
    for (;;) {
        size_t ws = pos;
        attr_t *a;
        while (pos < len && is_space((unsigned char)t[pos]))
            pos++;
        if (pos == len)
            break;
        if (t[pos] == '/' && pos + 1 == len) {
            self_closing = 1;
            break;
        }
        if (ws == pos || nattrs == MAX_ATTRS)
            return fail(xs, nattrs == MAX_ATTRS ? S2S_TRUST_XS_TOO_LARGE : S2S_TRUST_XS_BAD,
                        "malformed attributes in <%s>", shown(name, name_len, b1));
        a = &attrs[nattrs];
        if (read_qname(t, len, &pos, &a->name, &a->name_len) != 0)
            return fail(xs, S2S_TRUST_XS_BAD, "malformed attribute in <%s>", shown(name, name_len, b1));
        while (pos < len && is_space((unsigned char)t[pos]))
            pos++;
        if (pos == len || t[pos] != '=')
            return fail(xs, S2S_TRUST_XS_BAD, "attribute without value in <%s>", shown(name, name_len, b1));
        pos++;
        while (pos < len && is_space((unsigned char)t[pos]))
            pos++;
        if (pos == len || (t[pos] != '\'' && t[pos] != '"'))
            return fail(xs, S2S_TRUST_XS_BAD, "unquoted attribute value in <%s>", shown(name, name_len, b1));
        {
            char q = t[pos++];
            const char *end = memchr(t + pos, q, len - pos);
            if (end == NULL) /* the tokenizer ends tags outside quotes only */
                return fail(xs, S2S_TRUST_XS_BAD, "unterminated attribute value in <%s>", shown(name, name_len, b1));
            a->value = t + pos;
            a->value_len = (size_t)(end - (t + pos));
            pos = (size_t)(end - t) + 1;
        }
        for (int i = 0; i < nattrs; i++)
            if (attrs[i].name_len == a->name_len && memcmp(attrs[i].name, a->name, a->name_len) == 0)
                return fail(xs, S2S_TRUST_XS_BAD, "duplicate attribute %s in <%s>",
                            shown(a->name, a->name_len, b2), shown(name, name_len, b1));
        nattrs++;
    }

    if (xs->depth == S2S_TRUST_XS_MAX_DEPTH)
        return fail(xs, S2S_TRUST_XS_TOO_LARGE, "elements nested deeper than %d", S2S_TRUST_XS_MAX_DEPTH);
    if (name_len >= S2S_TRUST_XS_MAX_NAME)
        return fail(xs, S2S_TRUST_XS_TOO_LARGE, "an element name longer than %d bytes", S2S_TRUST_XS_MAX_NAME - 1);

    /* Declarations first: they apply to the element that makes them. */
    for (int i = 0; i < nattrs; i++) {
        const attr_t *a = &attrs[i];
        const char *prefix = NULL;
        size_t plen = 0;
        s2s_trust_xs_ns_t *d;
        if (eq(a->name, a->name_len, "xmlns")) {
            prefix = "";
        } else if (a->name_len > 6 && memcmp(a->name, "xmlns:", 6) == 0) {
            prefix = a->name + 6;
            plen = a->name_len - 6;
        } else {
            continue;
        }
        if (plen >= S2S_TRUST_XS_MAX_PREFIX || xs->ns_count == S2S_TRUST_XS_MAX_NS)
            return fail(xs, S2S_TRUST_XS_TOO_LARGE, "too many or too long namespace declarations");
        if (eq(prefix, plen, "xml") || eq(prefix, plen, "xmlns"))
            return fail(xs, S2S_TRUST_XS_BAD, "reserved prefix declared: %s", shown(a->name, a->name_len, b1));
        d = &xs->ns[xs->ns_count];
        memcpy(d->prefix, prefix, plen);
        d->prefix[plen] = '\0';
        if (copy_value(d->uri, sizeof d->uri, a->value, a->value_len) != 0)
            return fail(xs, S2S_TRUST_XS_TOO_LARGE, "a namespace URI longer than %d bytes", S2S_TRUST_XS_MAX_URI - 1);
        if (plen > 0 && d->uri[0] == '\0')
            return fail(xs, S2S_TRUST_XS_BAD, "prefix %s undeclared (XML 1.0 names cannot do that)",
                        shown(prefix, plen, b1));
        d->depth = xs->depth + 1;
        xs->ns_count++;
    }

    colon = memchr(name, ':', name_len);
    ns = colon ? lookup_ns(xs, name, (size_t)(colon - name)) : lookup_ns(xs, "", 0);
    if (ns == NULL) {
        pop_ns(xs, xs->depth + 1);
        return fail(xs, S2S_TRUST_XS_BAD, "undeclared prefix in <%s>", shown(name, name_len, b1));
    }
    {
        const char *local = colon ? colon + 1 : name;
        size_t local_len = colon ? name_len - (size_t)(colon + 1 - name) : name_len;

        if (xs->depth == 0) {
            const char *def = lookup_ns(xs, "", 0);
            if (xs->seen_header || strcmp(ns, NS_STREAMS) != 0 || !eq(local, local_len, "stream"))
                return fail(xs, S2S_TRUST_XS_BAD, "the stream starts with <%s xmlns='%s'>, not <stream:stream>",
                            shown(name, name_len, b1), shown(ns, strlen(ns), b2));
            if (self_closing)
                return fail(xs, S2S_TRUST_XS_BAD, "an empty stream (<%s/>)", shown(name, name_len, b1));
            if (strcmp(def, NS_SERVER) != 0)
                return fail(xs, S2S_TRUST_XS_BAD, "not a server-to-server stream: default namespace '%s'",
                            shown(def, strlen(def), b1));
            for (int i = 0; i < nattrs; i++) {
                const attr_t *a = &attrs[i];
                if (eq(a->name, a->name_len, "id"))
                    copy_attr(xs->header_id, sizeof xs->header_id, a);
                else if (eq(a->name, a->name_len, "from"))
                    copy_attr(xs->header_from, sizeof xs->header_from, a);
                else if (eq(a->name, a->name_len, "to"))
                    copy_attr(xs->header_to, sizeof xs->header_to, a);
                else if (eq(a->name, a->name_len, "version"))
                    copy_attr(xs->header_version, sizeof xs->header_version, a);
            }
            xs->seen_header = 1;
            role = ROLE_STREAM;
        } else {
            parent = xs->roles[xs->depth - 1];
            role = role_of(xs, parent, ns, local, local_len);
            if (role < 0)
                return fail(xs, S2S_TRUST_XS_BAD, "unexpected <%s xmlns='%s'> before TLS", shown(name, name_len, b1),
                            shown(ns, strlen(ns), b2));
        }
    }

    if (self_closing) {
        pop_ns(xs, xs->depth + 1);
        return closed(xs, role);
    }
    memcpy(xs->names[xs->depth], name, name_len);
    xs->names[xs->depth][name_len] = '\0';
    xs->roles[xs->depth] = role;
    xs->depth++;
    return role == ROLE_STREAM ? S2S_TRUST_XS_HEADER : S2S_TRUST_XS_NEED_MORE;
}

/* <?xml ...?>: once, before the stream header. */
static s2s_trust_xs_event_t declaration(s2s_trust_xs_t *xs)
{
    const char *t = xs->tag;
    size_t len = xs->tag_len; /* "xml version='1.0'?" without '<?' and '>' */
    char b1[48];

    if (xs->seen_decl || xs->seen_header || len < 4 || memcmp(t, "xml", 3) != 0 ||
        !is_space((unsigned char)t[3]) || t[len - 1] != '?')
        return fail(xs, S2S_TRUST_XS_BAD, "unexpected processing instruction <?%s>", shown(t, len, b1));
    xs->seen_decl = 1;
    return S2S_TRUST_XS_NEED_MORE;
}

/* ---- the tokenizer --------------------------------------------------------- */

s2s_trust_xs_event_t s2s_trust_xs_feed(s2s_trust_xs_t *xs, const unsigned char *buf, size_t len,
                                       size_t *consumed)
{
    s2s_trust_xs_event_t ev = S2S_TRUST_XS_NEED_MORE;
    size_t i;

    *consumed = 0;
    if (xs->done)
        return xs->sticky;
    for (i = 0; i < len; i++) {
        unsigned char c = buf[i];

        if (xs->fed >= xs->max_bytes) {
            ev = fail(xs, S2S_TRUST_XS_TOO_LARGE, "more than %zu bytes before TLS", xs->max_bytes);
            break;
        }
        xs->fed++;
        /* XML 1.0 allows no other control characters, and a NUL would cut
         * every string copied out of here. */
        /* Details name the offending byte only: what follows it depends on
         * how the bytes were cut into chunks (the caller has the context). */
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            ev = fail(xs, S2S_TRUST_XS_BAD, "not XML: byte 0x%02x at offset %zu", c, xs->fed - 1);
            i++;
            break;
        }
        switch (xs->state) {
        case ST_TEXT:
            if (c == '<') {
                xs->state = ST_LT;
                xs->tag_len = 0;
            } else if (xs->depth <= 1) {
                if (!is_space(c)) {
                    char shown_byte[8];
                    escape_into(shown_byte, sizeof shown_byte, (const char *)&c, 1, 1);
                    ev = fail(xs, S2S_TRUST_XS_BAD, "not an XMPP stream: text outside an element at offset %zu ('%s')",
                              xs->fed - 1, shown_byte);
                    i++;
                    goto out;
                }
            } else if (xs->roles[xs->depth - 1] == ROLE_ERROR_TEXT) {
                text_append(xs->error_text, sizeof xs->error_text, &xs->text_len, c);
            } else if (xs->roles[xs->depth - 1] == ROLE_MECHANISM) {
                text_append(xs->text, sizeof xs->text, &xs->text_len, c);
            }
            break;
        case ST_LT:
            if (c == '?') {
                xs->state = ST_PI;
                break;
            }
            if (c == '!') {
                ev = fail(xs, S2S_TRUST_XS_BAD, "a comment, CDATA section or DTD (not allowed in XMPP)");
                i++;
                goto out;
            }
            xs->state = ST_TAG;
            xs->quote = 0;
            /* fall through: c is the tag's first byte */
            /* FALLTHROUGH */
        case ST_TAG:
        case ST_PI:
            if (c == '<') {
                ev = fail(xs, S2S_TRUST_XS_BAD, "'<' inside a tag");
                i++;
                goto out;
            }
            if (xs->state == ST_TAG && xs->quote == 0 && c == '>') {
                xs->state = ST_TEXT;
                if (xs->tag_len == 0) {
                    ev = fail(xs, S2S_TRUST_XS_BAD, "an empty tag <>");
                } else {
                    xs->tag[xs->tag_len] = '\0';
                    if (xs->tag[0] == '/')
                        ev = end_tag(xs);
                    else
                        ev = start_tag(xs);
                }
                if (ev != S2S_TRUST_XS_NEED_MORE) {
                    i++;
                    goto out;
                }
                break;
            }
            if (xs->state == ST_PI && c == '>' && xs->tag_len > 0 && xs->tag[xs->tag_len - 1] == '?') {
                xs->state = ST_TEXT;
                xs->tag[xs->tag_len] = '\0';
                ev = declaration(xs);
                if (ev != S2S_TRUST_XS_NEED_MORE) {
                    i++;
                    goto out;
                }
                break;
            }
            if (xs->state == ST_TAG) {
                if (xs->quote != 0 && c == xs->quote)
                    xs->quote = 0;
                else if (xs->quote == 0 && (c == '\'' || c == '"'))
                    xs->quote = c;
            }
            if (xs->tag_len == S2S_TRUST_XS_MAX_TAG) {
                char shown_bytes[48];
                escape_into(shown_bytes, sizeof shown_bytes, xs->tag, xs->tag_len, 24);
                ev = fail(xs, S2S_TRUST_XS_TOO_LARGE, "a tag longer than %d bytes (<%s...)", S2S_TRUST_XS_MAX_TAG,
                          shown_bytes);
                i++;
                goto out;
            }
            xs->tag[xs->tag_len++] = (char)c;
            break;
        default:
            break;
        }
    }
out:
    *consumed = i;
    return ev;
}
