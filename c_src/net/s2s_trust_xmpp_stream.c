/* s2s_trust_xmpp_stream.c - see s2s_trust_xmpp_stream.h
 *
 * How an event ends exactly at its '>': every event (a start tag of the
 * root, the end of a top-level element, the root's end tag) completes on a
 * '>' byte. So the bytes are handed to expat in slices that each end at the
 * next '>' (or at the end of the input): when a handler reports an event
 * during a slice, the event ended on that slice's last byte, and the slice
 * end is the exact count to report. A '>' inside character data or an
 * attribute value only makes an extra slice. expat 2.6+ could defer a
 * partial token until more input arrives (reparse deferral); that is turned
 * off, so a token is always handled in the slice that completes it.
 */
#include "net/s2s_trust_xmpp_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "core/s2s_trust_compat.h"
#include "net/s2s_trust_peer_text.h"

/* Expanded names come from expat as "URI|local"; '|' cannot be part of a
 * local name, so the last one splits them. */
#define NS_SEP '|'

struct s2s_trust_xs {
    XML_Parser parser;
    size_t max_bytes, fed;
    size_t since;   /* fed when the current element (or the wait for the next) began */
    size_t after_gt; /* fed just after the last '>' (S2S_TRUST_XS_MAX_TAG) */
    int depth;      /* open elements, the root included */
    int ns_decls;   /* namespace declarations seen for the start tag being read */
    s2s_trust_xs_event_t pending; /* what the handlers of the current slice reported */
    s2s_trust_xs_event_t sticky;  /* the terminal event, once there is one */
    char root_default_ns[32]; /* the default namespace the root declares (cut), "" if none */
    /* the element being read */
    s2s_trust_xs_element_t el;
    int in_starttls, in_mechanisms, in_mechanism, in_text;
    char mech[16];
    size_t mech_len;
    s2s_trust_xs_element_t out; /* the last one reported */
    char detail[160];
};

static const char *const event_names[] = {
    [S2S_TRUST_XS_NEED_MORE] = "need_more", [S2S_TRUST_XS_HEADER] = "header", [S2S_TRUST_XS_ELEMENT] = "element",
    [S2S_TRUST_XS_END] = "end",             [S2S_TRUST_XS_BAD] = "bad",       [S2S_TRUST_XS_TOO_LARGE] = "too_large",
};

const char *s2s_trust_xs_event_name(s2s_trust_xs_event_t ev)
{
    return (unsigned)ev < sizeof event_names / sizeof event_names[0] ? event_names[ev] : "unknown";
}

/* Once stopped, expat may still deliver a callback or two (the end of an
 * empty element); they must not overwrite the reason. */
static int stopping(const s2s_trust_xs_t *xs)
{
    return xs->pending == S2S_TRUST_XS_BAD || xs->pending == S2S_TRUST_XS_TOO_LARGE;
}

/* Stop the parser with a terminal event; the first reason wins. */
static void fail(s2s_trust_xs_t *xs, s2s_trust_xs_event_t ev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(s2s_trust_xs_t *xs, s2s_trust_xs_event_t ev, const char *fmt, ...)
{
    va_list ap;

    if (stopping(xs))
        return;
    xs->pending = ev;
    va_start(ap, fmt);
    vsnprintf(xs->detail, sizeof xs->detail, fmt, ap);
    va_end(ap);
    (void)XML_StopParser(xs->parser, XML_FALSE);
}

/* Copy s into dst[cap]; -1 when it does not fit. */
static int put(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* Append as much of s[0..len) as fits (text is kept truncated). */
static void append(char *dst, size_t cap, const char *s, size_t len)
{
    size_t used = strlen(dst), room = cap - 1 - used;

    memcpy(dst + used, s, len < room ? len : room);
    dst[used + (len < room ? len : room)] = '\0';
}

/* Split expat's "URI|local" (or "local" without a namespace). */
static void split(const char *name, const char **ns, size_t *ns_len, const char **local)
{
    const char *sep = strrchr(name, NS_SEP);

    *ns = name;
    *ns_len = sep ? (size_t)(sep - name) : 0;
    *local = sep ? sep + 1 : name;
}

static int name_is(const char *name, const char *ns, const char *local)
{
    const char *n, *l;
    size_t nl;

    split(name, &n, &nl, &l);
    return nl == strlen(ns) && memcmp(n, ns, nl) == 0 && strcmp(l, local) == 0;
}

int s2s_trust_xs_is(const s2s_trust_xs_element_t *el, const char *ns, const char *local)
{
    return strcmp(el->ns, ns) == 0 && strcmp(el->local, local) == 0;
}

/* The header or a top-level element: its name and unqualified attributes. */
static void start_summary(s2s_trust_xs_t *xs, const char *name, const char **atts)
{
    static const struct {
        const char *name;
        size_t off, cap;
    } kept[] = {
#define KEPT(f) { #f, offsetof(s2s_trust_xs_element_t, f), sizeof ((s2s_trust_xs_element_t *)0)->f }
        KEPT(from), KEPT(to), KEPT(id), KEPT(type), KEPT(version),
#undef KEPT
    };
    const char *ns, *local;
    size_t ns_len;
    char b[80];

    memset(&xs->el, 0, sizeof xs->el);
    xs->in_starttls = xs->in_mechanisms = xs->in_mechanism = xs->in_text = 0;
    split(name, &ns, &ns_len, &local);
    if (put(xs->el.ns, sizeof xs->el.ns, ns, ns_len) != 0 || put(xs->el.local, sizeof xs->el.local, local, strlen(local)) != 0) {
        s2s_trust_escape_str(local, b, sizeof b);
        fail(xs, S2S_TRUST_XS_TOO_LARGE, "an element name or namespace too long (<%s>)", b);
        return;
    }
    for (size_t i = 0; atts[i] != NULL; i += 2)
        for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++)
            if (strcmp(atts[i], kept[k].name) == 0 &&
                put((char *)&xs->el + kept[k].off, kept[k].cap, atts[i + 1], strlen(atts[i + 1])) != 0) {
                fail(xs, S2S_TRUST_XS_BAD, "attribute '%s' of <%s> longer than %zu bytes", kept[k].name, xs->el.local,
                     kept[k].cap - 1);
                return;
            }
}

/* A child (depth 3) or grandchild (depth 4) of a top-level element. */
static void start_inner(s2s_trust_xs_t *xs, const char *name)
{
    const char *ns, *local;
    size_t ns_len;

    split(name, &ns, &ns_len, &local);
    if (xs->depth == 3) {
        xs->in_text = strcmp(local, "text") == 0;
        if (!xs->in_text && xs->el.condition[0] == '\0')
            (void)put(xs->el.condition, sizeof xs->el.condition, local, strlen(local)); /* too long: none */
        xs->in_starttls = name_is(name, NS_XMPP_TLS, "starttls");
        xs->el.starttls |= xs->in_starttls;
        xs->el.dialback |= name_is(name, NS_XMPP_DIALBACK_FEATURE, "dialback");
        xs->in_mechanisms = name_is(name, NS_XMPP_SASL, "mechanisms");
    } else if (xs->depth == 4) {
        if (xs->in_starttls && name_is(name, NS_XMPP_TLS, "required"))
            xs->el.starttls_required = 1;
        xs->in_mechanism = xs->in_mechanisms && name_is(name, NS_XMPP_SASL, "mechanism");
        xs->mech_len = 0;
    }
}

static void XMLCALL on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    s2s_trust_xs_t *xs = ud;

    xs->ns_decls++;
    if (xs->depth == 0 && prefix == NULL)
        snprintf(xs->root_default_ns, sizeof xs->root_default_ns, "%s", uri ? uri : "");
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    s2s_trust_xs_t *xs = ud;
    int nattrs = 0;
    char b[160];

    if (stopping(xs))
        return;
    while (atts[2 * nattrs] != NULL)
        nattrs++;
    if (nattrs + xs->ns_decls > S2S_TRUST_XS_MAX_ATTRS) {
        fail(xs, S2S_TRUST_XS_TOO_LARGE, "an element with more than %d attributes", S2S_TRUST_XS_MAX_ATTRS);
        return;
    }
    xs->ns_decls = 0;
    if (++xs->depth > S2S_TRUST_XS_MAX_DEPTH) {
        fail(xs, S2S_TRUST_XS_TOO_LARGE, "elements nested deeper than %d", S2S_TRUST_XS_MAX_DEPTH);
        return;
    }
    if (xs->depth == 1) {
        if (!name_is(name, NS_XMPP_STREAMS, "stream")) {
            s2s_trust_escape_str(name, b, sizeof b);
            fail(xs, S2S_TRUST_XS_BAD, "not an XMPP stream: the root element is {%s}", b);
            return;
        }
        /* A client stream (jabber:client) on a server port is a
         * misdirected connection, not a server to judge. */
        if (xs->root_default_ns[0] != '\0' && strcmp(xs->root_default_ns, "jabber:server") != 0) {
            s2s_trust_escape_str(xs->root_default_ns, b, sizeof b);
            fail(xs, S2S_TRUST_XS_BAD, "the stream's default namespace '%s' is not jabber:server", b);
            return;
        }
        start_summary(xs, name, atts);
        if (xs->pending == S2S_TRUST_XS_NEED_MORE) {
            xs->out = xs->el;
            xs->pending = S2S_TRUST_XS_HEADER;
        }
    } else if (xs->depth == 2) {
        start_summary(xs, name, atts);
    } else {
        start_inner(xs, name);
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    s2s_trust_xs_t *xs = ud;

    (void)name;
    if (stopping(xs))
        return;
    if (xs->depth == 4 && xs->in_mechanism) {
        xs->el.mech_external |= xs->mech_len == 8 && memcmp(xs->mech, "EXTERNAL", 8) == 0;
        xs->in_mechanism = 0;
    } else if (xs->depth == 3) {
        xs->in_text = xs->in_starttls = xs->in_mechanisms = 0;
    } else if (xs->depth == 2) {
        xs->out = xs->el;
        xs->pending = S2S_TRUST_XS_ELEMENT;
    } else if (xs->depth == 1) {
        if (xs->pending == S2S_TRUST_XS_HEADER)
            fail(xs, S2S_TRUST_XS_BAD, "an empty stream (<stream:stream/>)");
        else
            xs->pending = S2S_TRUST_XS_END;
    }
    xs->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    s2s_trust_xs_t *xs = ud;

    if (stopping(xs))
        return;

    if (xs->depth == 1) {
        /* Between top-level elements only whitespace (keepalives) may come. */
        for (int i = 0; i < len; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                fail(xs, S2S_TRUST_XS_BAD, "text outside an element");
                return;
            }
    } else if (xs->depth == 2) {
        append(xs->el.text, sizeof xs->el.text, s, (size_t)len);
    } else if (xs->depth == 3 && xs->in_text) {
        append(xs->el.error_text, sizeof xs->el.error_text, s, (size_t)len);
    } else if (xs->depth == 4 && xs->in_mechanism) {
        /* Longer than any mechanism name we compare with: cannot match. */
        if (xs->mech_len + (size_t)len > sizeof xs->mech)
            xs->mech_len = sizeof xs->mech + 1;
        else {
            memcpy(xs->mech + xs->mech_len, s, (size_t)len);
            xs->mech_len += (size_t)len;
        }
    }
}

/* RFC 6120 11.1: no DTD (this also rules out entity declarations, hence
 * any entity expansion attack), no comments, no processing instructions. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(ud, S2S_TRUST_XS_BAD, "a document type declaration (XMPP forbids them)");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    fail(ud, S2S_TRUST_XS_BAD, "an XML comment (XMPP forbids them)");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    fail(ud, S2S_TRUST_XS_BAD, "a processing instruction (XMPP forbids them)");
}

static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding, int standalone)
{
    (void)version, (void)standalone;
    if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
        fail(ud, S2S_TRUST_XS_BAD, "an encoding other than UTF-8");
}

s2s_trust_xs_t *s2s_trust_xs_new(size_t max_bytes)
{
    s2s_trust_xs_t *xs = calloc(1, sizeof *xs);

    if (xs == NULL)
        return NULL;
    /* The encoding is fixed: XMPP is UTF-8, whatever a declaration says. */
    xs->parser = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (xs->parser == NULL) {
        free(xs);
        return NULL;
    }
    xs->max_bytes = max_bytes ? max_bytes : S2S_TRUST_XS_MAX_BYTES_DEFAULT;
    S2S_TRUST_XML_NO_REPARSE_DEFERRAL(xs->parser);
    XML_SetUserData(xs->parser, xs);
    XML_SetElementHandler(xs->parser, on_start, on_end);
    XML_SetCharacterDataHandler(xs->parser, on_text);
    XML_SetStartNamespaceDeclHandler(xs->parser, on_ns_decl);
    XML_SetStartDoctypeDeclHandler(xs->parser, on_doctype);
    XML_SetCommentHandler(xs->parser, on_comment);
    XML_SetProcessingInstructionHandler(xs->parser, on_pi);
    XML_SetXmlDeclHandler(xs->parser, on_xml_decl);
    return xs;
}

void s2s_trust_xs_free(s2s_trust_xs_t *xs)
{
    if (xs == NULL)
        return;
    XML_ParserFree(xs->parser);
    free(xs);
}

/* Hand one slice (ending at a '>' or at the end of the input) to expat.
 * Past a bound, only the bytes up to it are parsed (an error in them wins),
 * so where TCP cut the input never changes which event ends the stream. */
static size_t parse_slice(s2s_trust_xs_t *xs, const unsigned char *s, size_t n)
{
    size_t fed_before = xs->fed;
    size_t room_total = xs->max_bytes - xs->fed;
    size_t room_element = S2S_TRUST_XS_MAX_ELEMENT - (xs->fed - xs->since);
    size_t room_tag = S2S_TRUST_XS_MAX_TAG - (xs->fed - xs->after_gt);
    size_t room = room_total < room_element ? room_total : room_element;
    size_t take;

    room = room < room_tag ? room : room_tag;
    take = n < room ? n : room;

    xs->pending = S2S_TRUST_XS_NEED_MORE;
    /* A slice that ends at '>' is handed over whole; bytes after the last
     * '>' one at a time, so expat sees every prefix of them whatever the
     * chunking and notices a malformed byte at the same point either way. */
    for (size_t done = 0; done < take && xs->pending == S2S_TRUST_XS_NEED_MORE;) {
        size_t step = s[n - 1] == '>' && take == n ? take : 1;
        xs->fed += step;
        if (XML_Parse(xs->parser, (const char *)s + done, (int)step, XML_FALSE) == XML_STATUS_ERROR &&
            xs->pending == S2S_TRUST_XS_NEED_MORE)
            fail(xs, S2S_TRUST_XS_BAD, "bad XML: %s", XML_ErrorString(XML_GetErrorCode(xs->parser)));
        done += step;
    }
    if (take == n && s[n - 1] == '>')
        xs->after_gt = xs->fed;
    if (take < n && xs->pending == S2S_TRUST_XS_NEED_MORE) {
        if (room_total <= room_element && room_total <= room_tag)
            fail(xs, S2S_TRUST_XS_TOO_LARGE, "more than %zu bytes in the stream", xs->max_bytes);
        else if (room_tag < room_element)
            fail(xs, S2S_TRUST_XS_TOO_LARGE, "more than %d bytes without a '>' (one tag or text)",
                 S2S_TRUST_XS_MAX_TAG);
        else
            fail(xs, S2S_TRUST_XS_TOO_LARGE, "an element (or the wait for one) longer than %d bytes",
                 S2S_TRUST_XS_MAX_ELEMENT);
    }
    return xs->fed - fed_before;
}

s2s_trust_xs_event_t s2s_trust_xs_feed(s2s_trust_xs_t *xs, const unsigned char *buf, size_t len, size_t *consumed)
{
    size_t i = 0;

    *consumed = 0;
    if (xs->sticky != S2S_TRUST_XS_NEED_MORE)
        return xs->sticky;
    while (i < len) {
        const unsigned char *gt = memchr(buf + i, '>', len - i);
        size_t n = gt != NULL ? (size_t)(gt - (buf + i)) + 1 : len - i;

        size_t parsed = parse_slice(xs, buf + i, n);
        i += parsed; /* all of the slice, unless a bound or an error stopped it */
        if (xs->pending == S2S_TRUST_XS_NEED_MORE)
            continue;
        *consumed = i;
        xs->since = xs->fed;
        if (xs->pending != S2S_TRUST_XS_HEADER && xs->pending != S2S_TRUST_XS_ELEMENT)
            xs->sticky = xs->pending;
        return xs->pending;
    }
    *consumed = len;
    return S2S_TRUST_XS_NEED_MORE;
}

const s2s_trust_xs_element_t *s2s_trust_xs_element(const s2s_trust_xs_t *xs)
{
    return &xs->out;
}

const char *s2s_trust_xs_detail(const s2s_trust_xs_t *xs)
{
    return xs->detail;
}

size_t s2s_trust_xs_fed(const s2s_trust_xs_t *xs)
{
    return xs->fed;
}
