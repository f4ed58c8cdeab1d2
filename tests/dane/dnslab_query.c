/*
 * tests/dane/dnslab_query.c - what libunbound concludes about one name,
 * for the DNSSEC lab's shell tests (tests/dane/dnslab.sh builds it into
 * the lab dir with `cc ... -lunbound`; nothing else of the project is
 * linked in).
 *
 *   dnslab_query UNBOUND.CONF NAME TYPE [TRUST_ANCHOR_FILE]
 *
 * TRUST_ANCHOR_FILE (DS or DNSKEY lines) is added with ub_ctx_add_ta_file
 * after the config, as the engine adds its configured anchor.
 * TYPE is A, AAAA, NS, SOA, SRV, TLSA, DS, DNSKEY, TXT or a number.
 * Output, first line always:
 *   STATUS rcode=N nxdomain=0|1 havedata=0|1 ttl=N [why_bogus=TEXT]
 * STATUS is the classification the engine makes, in its order: "bogus"
 * when r->bogus, else "secure" when r->secure, else "insecure". Then one
 * line per record: "rr " and the rdata (A/AAAA as addresses, TLSA as
 * "USAGE SELECTOR MTYPE HEX", SRV as "PRIO WEIGHT PORT TARGET", others
 * hex). Exit 0 with a result (whatever its status), 1 when libunbound
 * gave none ("error TEXT" on stdout), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

static const struct {
    const char *name;
    int type;
} types[] = {
    {"A", 1},   {"NS", 2},  {"SOA", 6},     {"TXT", 16}, {"AAAA", 28},
    {"SRV", 33}, {"DS", 43}, {"DNSKEY", 48}, {"TLSA", 52},
};

static int type_of(const char *s)
{
    size_t i;
    char *end;
    long n;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(s, types[i].name) == 0)
            return types[i].type;
    n = strtol(s, &end, 10);
    return (*s && !*end && n > 0 && n < 65536) ? (int)n : -1;
}

static void put_hex(const unsigned char *d, int len)
{
    int i;

    for (i = 0; i < len; i++)
        printf("%02x", d[i]);
}

/* A wire-format name (uncompressed: rdata from libunbound is). */
static void put_name(const unsigned char *d, int len)
{
    int i = 0;

    if (len < 1 || d[0] == 0) {
        putchar('.');
        return;
    }
    while (i < len && d[i] != 0) {
        int l = d[i++];

        if (i + l > len)
            break;
        fwrite(d + i, 1, (size_t)l, stdout);
        putchar('.');
        i += l;
    }
}

static void put_rr(int type, const unsigned char *d, int len)
{
    char buf[INET6_ADDRSTRLEN];

    fputs("rr ", stdout);
    if (type == 1 && len == 4)
        fputs(inet_ntop(AF_INET, d, buf, sizeof(buf)), stdout);
    else if (type == 28 && len == 16)
        fputs(inet_ntop(AF_INET6, d, buf, sizeof(buf)), stdout);
    else if (type == 52 && len >= 3) {
        printf("%d %d %d ", d[0], d[1], d[2]);
        put_hex(d + 3, len - 3);
    } else if (type == 33 && len >= 7) {
        printf("%d %d %d ", d[0] << 8 | d[1], d[2] << 8 | d[3], d[4] << 8 | d[5]);
        put_name(d + 6, len - 6);
    } else
        put_hex(d, len);
    putchar('\n');
}

int main(int argc, char **argv)
{
    struct ub_ctx *ctx = NULL;
    struct ub_result *r = NULL;
    int type, rc, i, status = 1;

    if (argc < 4 || argc > 5 || (type = type_of(argv[3])) < 0) {
        fprintf(stderr, "usage: dnslab_query UNBOUND.CONF NAME TYPE [TRUST_ANCHOR_FILE]\n");
        return 2;
    }
    ctx = ub_ctx_create();
    if (!ctx) {
        printf("error ub_ctx_create failed\n");
        goto done;
    }
    if ((rc = ub_ctx_config(ctx, argv[1])) != 0) {
        printf("error config %s: %s\n", argv[1], ub_strerror(rc));
        goto done;
    }
    if (argc == 5 && (rc = ub_ctx_add_ta_file(ctx, argv[4])) != 0) {
        printf("error trust anchor %s: %s\n", argv[4], ub_strerror(rc));
        goto done;
    }
    if ((rc = ub_resolve(ctx, argv[2], type, 1, &r)) != 0) {
        printf("error %s\n", ub_strerror(rc));
        goto done;
    }
    printf("%s rcode=%d nxdomain=%d havedata=%d ttl=%d",
           r->bogus ? "bogus" : r->secure ? "secure" : "insecure", r->rcode, r->nxdomain,
           r->havedata, r->ttl);
    if (r->bogus && r->why_bogus)
        printf(" why_bogus=%s", r->why_bogus);
    putchar('\n');
    for (i = 0; r->havedata && r->data[i]; i++)
        put_rr(type, (const unsigned char *)r->data[i], r->len[i]);
    status = 0;
done:
    if (r)
        ub_resolve_free(r);
    if (ctx)
        ub_ctx_delete(ctx);
    return status;
}
