/* s2s_trust_config.c - see s2s_trust_config.h; docs/configuration.md is the reference. */
#include "core/s2s_trust_config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "core/s2s_trust_compat.h"

void s2s_trust_config_defaults(s2s_trust_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->system_roots = true;
    cfg->crl_check = S2S_TRUST_CRL_IF_AVAILABLE;
    /* Real s2s chains are leaf + 1-2 intermediates (Let's Encrypt Gen Y:
     * leaf, YR1, cross-signed Root YR); 6 leaves room without letting a
     * peer make us walk long paths. */
    cfg->max_depth = 6;
    cfg->max_chain_certs = 10;
    /* Real leaves are 1-3 KiB; 32 KiB allows hundreds of SANs. */
    cfg->max_cert_bytes = 32 * 1024;
    /* Level 2: RSA/DSA/DH >= 2048 bits, ECC >= 224, no SHA-1 signatures. */
    cfg->security_level = 2;
    /* Verdict cache (s2s_trust_cache.h): 10,000 entries of 64 bytes. */
    cfg->verdict_cache_size = 10000;
    cfg->verdict_cache_ttl = 600;
}

static void paths_free(s2s_trust_paths_t *paths)
{
    for (size_t i = 0; i < paths->count; i++)
        free(paths->items[i].path);
    free(paths->items);
    paths->items = NULL;
    paths->count = 0;
}

void s2s_trust_config_free(s2s_trust_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->source);
    cfg->source = NULL;
    paths_free(&cfg->ca_files);
    paths_free(&cfg->ca_dirs);
    paths_free(&cfg->intermediate_files);
    paths_free(&cfg->crl_files);
}

int s2s_trust_parse_time(const char *text, long long *out)
{
    struct tm tm;
    const char *end;
    char *num_end = NULL;
    long long secs;

    if (text == NULL || text[0] == '\0')
        return -1;
    errno = 0;
    secs = strtoll(text, &num_end, 10);
    if (errno == 0 && *num_end == '\0') {
        if (secs < 0 || secs > S2S_TRUST_MAX_TIME)
            return -1;
        *out = secs;
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    end = strptime(text, "%Y-%m-%d", &tm);
    if (end == NULL)
        return -1;
    if (*end != '\0') {
        end = strptime(end, "T%H:%M:%SZ", &tm);
        if (end == NULL || *end != '\0')
            return -1;
    }
    secs = (long long)timegm(&tm);
    if (secs < 0 || secs > S2S_TRUST_MAX_TIME)
        return -1;
    *out = secs;
    return 0;
}

const char *s2s_trust_crl_mode_name(s2s_trust_crl_mode_t mode)
{
    switch (mode) {
    case S2S_TRUST_CRL_NONE:
        return "none";
    case S2S_TRUST_CRL_REQUIRE:
        return "require";
    case S2S_TRUST_CRL_IF_AVAILABLE:
    default:
        return "if_available";
    }
}

/* ---- reading ------------------------------------------------------------ */

typedef struct {
    const char *name;   /* reported in errors when a setting has no file */
    const char *base;   /* directory that relative paths are taken from, or NULL */
    s2s_trust_error_t *err;
} reader_t;

static const char *setting_file(const reader_t *r, const config_setting_t *s)
{
    const char *file = config_setting_source_file(s);
    return file ? file : r->name;
}

static int fail(const reader_t *r, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(const reader_t *r, const config_setting_t *s, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    s2s_trust_error_set(r->err, setting_file(r, s), (int)config_setting_source_line(s), "%s", text);
    return -1;
}

static char *path_join(const char *base, const char *path)
{
    char *out;
    size_t need;

    if (path[0] == '/' || base == NULL || base[0] == '\0')
        return strdup(path);
    need = strlen(base) + 1 + strlen(path) + 1;
    out = malloc(need);
    if (out != NULL)
        snprintf(out, need, "%s/%s", base, path);
    return out;
}

static int add_path(const reader_t *r, const config_setting_t *s, const char *key,
                    s2s_trust_paths_t *paths, const char *value)
{
    s2s_trust_path_t *grown;
    char *full;

    if (value[0] == '\0')
        return fail(r, s, "%s: empty path", key);
    full = path_join(r->base, value);
    if (full == NULL)
        return fail(r, s, "%s: out of memory", key);
    grown = realloc(paths->items, (paths->count + 1) * sizeof *grown);
    if (grown == NULL) {
        free(full);
        return fail(r, s, "%s: out of memory", key);
    }
    paths->items = grown;
    paths->items[paths->count].path = full;
    paths->items[paths->count].line = (int)config_setting_source_line(s);
    paths->count++;
    return 0;
}

/* A path key takes one string or a list/array of strings. */
static int read_paths(const reader_t *r, const config_setting_t *s, const char *key,
                      s2s_trust_paths_t *paths)
{
    int type = config_setting_type(s);

    if (type == CONFIG_TYPE_STRING)
        return add_path(r, s, key, paths, config_setting_get_string(s));
    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
        return fail(r, s, "%s: expected a string or a list of strings", key);
    /* An empty list would read as "not set" and, for ca_file, bring the
     * system roots back: a templating slip must not widen trust. */
    if (config_setting_length(s) == 0)
        return fail(r, s, "%s: empty list", key);
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *elem = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(elem) != CONFIG_TYPE_STRING)
            return fail(r, elem, "%s: expected a string or a list of strings", key);
        if (add_path(r, elem, key, paths, config_setting_get_string(elem)) != 0)
            return -1;
    }
    return 0;
}

static int read_bool(const reader_t *r, const config_setting_t *s, const char *key, bool *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail(r, s, "%s: expected true or false", key);
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

static int read_int(const reader_t *r, const config_setting_t *s, const char *key,
                    long long lo, long long hi, long long *out)
{
    long long v;

    if (config_setting_type(s) == CONFIG_TYPE_INT)
        v = config_setting_get_int(s);
    else if (config_setting_type(s) == CONFIG_TYPE_INT64)
        v = config_setting_get_int64(s);
    else
        return fail(r, s, "%s: expected an integer", key);
    if (v < lo || v > hi)
        return fail(r, s, "%s: %lld is out of range %lld..%lld", key, v, lo, hi);
    *out = v;
    return 0;
}

static int read_crl_mode(const reader_t *r, const config_setting_t *s, const char *key,
                         s2s_trust_crl_mode_t *out)
{
    const char *v;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(r, s, "%s: expected \"none\", \"if_available\" or \"require\"", key);
    v = config_setting_get_string(s);
    if (strcmp(v, "none") == 0)
        *out = S2S_TRUST_CRL_NONE;
    else if (strcmp(v, "if_available") == 0)
        *out = S2S_TRUST_CRL_IF_AVAILABLE;
    else if (strcmp(v, "require") == 0)
        *out = S2S_TRUST_CRL_REQUIRE;
    else
        return fail(r, s, "%s: expected \"none\", \"if_available\" or \"require\"", key);
    return 0;
}

/* The integer settings: each a bounded range and where it goes. */
typedef enum { AS_INT, AS_SIZE, AS_UNSIGNED } int_kind_t;
typedef struct {
    const char *key;
    long long lo, hi;
    size_t offset;
    int_kind_t kind;
} int_setting_t;

static const int_setting_t int_settings[] = {
    { "max_depth", 0, S2S_TRUST_MAX_DEPTH_CEILING, offsetof(s2s_trust_config_t, max_depth), AS_INT },
    { "max_chain_certs", 1, S2S_TRUST_MAX_CHAIN_CERTS_CEILING, offsetof(s2s_trust_config_t, max_chain_certs), AS_INT },
    { "max_cert_bytes", 256, S2S_TRUST_MAX_CERT_BYTES_CEILING, offsetof(s2s_trust_config_t, max_cert_bytes), AS_SIZE },
    { "security_level", 0, 5, offsetof(s2s_trust_config_t, security_level), AS_INT },
    { "verdict_cache_size", 0, S2S_TRUST_VERDICT_CACHE_SIZE_CEILING, offsetof(s2s_trust_config_t, verdict_cache_size),
      AS_SIZE },
    { "verdict_cache_ttl", 0, S2S_TRUST_VERDICT_CACHE_TTL_CEILING, offsetof(s2s_trust_config_t, verdict_cache_ttl),
      AS_UNSIGNED },
};

static int read_int_setting(const reader_t *r, const config_setting_t *s, const int_setting_t *is,
                            s2s_trust_config_t *cfg)
{
    char *field = (char *)cfg + is->offset;
    long long v;

    if (read_int(r, s, is->key, is->lo, is->hi, &v) != 0)
        return -1;
    if (is->kind == AS_INT)
        *(int *)(void *)field = (int)v;
    else if (is->kind == AS_SIZE)
        *(size_t *)(void *)field = (size_t)v;
    else
        *(unsigned *)(void *)field = (unsigned)v;
    return 0;
}

static int read_setting(const reader_t *r, const config_setting_t *s, s2s_trust_config_t *cfg)
{
    const char *key = config_setting_name(s);
    long long v;

    if (key == NULL)
        return fail(r, s, "%s", "unnamed setting");
    if (strcmp(key, "ca_file") == 0)
        return read_paths(r, s, key, &cfg->ca_files);
    if (strcmp(key, "ca_dir") == 0)
        return read_paths(r, s, key, &cfg->ca_dirs);
    if (strcmp(key, "intermediate_file") == 0)
        return read_paths(r, s, key, &cfg->intermediate_files);
    if (strcmp(key, "crl_file") == 0)
        return read_paths(r, s, key, &cfg->crl_files);
    if (strcmp(key, "system_roots") == 0) {
        cfg->system_roots_line = (int)config_setting_source_line(s);
        return read_bool(r, s, key, &cfg->system_roots);
    }
    if (strcmp(key, "crl_check") == 0)
        return read_crl_mode(r, s, key, &cfg->crl_check);
    for (size_t i = 0; i < sizeof int_settings / sizeof int_settings[0]; i++)
        if (strcmp(key, int_settings[i].key) == 0)
            return read_int_setting(r, s, &int_settings[i], cfg);
    if (strcmp(key, "require_server_auth_eku") == 0)
        return read_bool(r, s, key, &cfg->require_server_auth_eku);
    if (strcmp(key, "insecure_allow_cn_id") == 0)
        return read_bool(r, s, key, &cfg->insecure_allow_cn_id);
    if (strcmp(key, "verification_time") == 0) {
        /* A date string, or seconds; libconfig 1.5 keeps an integer without
         * the L suffix in 32 bits (it wraps silently), so dates are safer. */
        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
            if (s2s_trust_parse_time(config_setting_get_string(s), &v) != 0)
                return fail(r, s, "%s: expected \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\"", key);
        } else if (read_int(r, s, key, 0, S2S_TRUST_MAX_TIME, &v) != 0) {
            return -1;
        }
        cfg->has_verification_time = true;
        cfg->verification_time = v;
        return 0;
    }
    return fail(r, s, "unknown setting '%s'", key);
}

static int read_root(const reader_t *r, config_t *lc, s2s_trust_config_t *cfg)
{
    const config_setting_t *root = config_root_setting(lc);

    for (int i = 0; i < config_setting_length(root); i++)
        if (read_setting(r, config_setting_get_elem(root, (unsigned)i), cfg) != 0)
            return -1;
    /* With explicit anchors the system bundle is out unless asked for:
     * a pledge operator who names a CA file means exactly that CA. */
    if (cfg->system_roots_line == 0 && (cfg->ca_files.count > 0 || cfg->ca_dirs.count > 0))
        cfg->system_roots = false;
    return 0;
}

static int parse_error(const reader_t *r, config_t *lc)
{
    const char *file = config_error_file(lc);
    const char *text = config_error_text(lc);

    s2s_trust_error_set(r->err, file ? file : r->name, config_error_line(lc), "%s",
                        text ? text : "cannot parse");
    return -1;
}

static int read_common(const char *path, const char *text, const char *name,
                       s2s_trust_config_t *cfg, s2s_trust_error_t *err)
{
    config_t lc;
    reader_t r = { name, NULL, err };
    char *dir = NULL;
    int rc = -1;

    config_init(&lc);
    if (path != NULL) {
        FILE *probe = fopen(path, "r");
        if (probe == NULL) {
            s2s_trust_error_set(err, path, 0, "cannot read: %s", strerror(errno));
            goto done;
        }
        fclose(probe);
        dir = strdup(path);
        if (dir == NULL) {
            s2s_trust_error_set(err, path, 0, "out of memory");
            goto done;
        }
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            dir[0] = '\0';
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        r.base = dir;
        /* libconfig 1.5 strdup()s the include dir without a NULL check. */
        config_set_include_dir(&lc, dir[0] ? dir : ".");
        if (config_read_file(&lc, path) != CONFIG_TRUE) {
            parse_error(&r, &lc);
            goto done;
        }
    } else if (config_read_string(&lc, text) != CONFIG_TRUE) {
        parse_error(&r, &lc);
        goto done;
    }

    cfg->source = strdup(name);
    if (cfg->source == NULL) {
        s2s_trust_error_set(err, name, 0, "out of memory");
        goto done;
    }
    rc = read_root(&r, &lc, cfg);

done:
    if (rc != 0) {
        s2s_trust_config_free(cfg);
        s2s_trust_config_defaults(cfg);
    }
    config_destroy(&lc);
    free(dir);
    return rc;
}

int s2s_trust_config_read_file(const char *path, s2s_trust_config_t *cfg,
                               s2s_trust_error_t *err)
{
    return read_common(path, NULL, path, cfg, err);
}

int s2s_trust_config_read_string(const char *text, const char *name,
                                 s2s_trust_config_t *cfg, s2s_trust_error_t *err)
{
    return read_common(NULL, text, name ? name : "(string)", cfg, err);
}

static int add_extra_path(s2s_trust_paths_t *paths, const char *path)
{
    s2s_trust_path_t *grown;
    char *copy = strdup(path);

    if (copy == NULL)
        return -1;
    grown = realloc(paths->items, (paths->count + 1) * sizeof *grown);
    if (grown == NULL) {
        free(copy);
        return -1;
    }
    paths->items = grown;
    paths->items[paths->count].path = copy;
    paths->items[paths->count].line = 0;
    paths->count++;
    return 0;
}

int s2s_trust_config_add_intermediate_file(s2s_trust_config_t *cfg, const char *path)
{
    return add_extra_path(&cfg->intermediate_files, path);
}

int s2s_trust_config_add_crl_file(s2s_trust_config_t *cfg, const char *path)
{
    return add_extra_path(&cfg->crl_files, path);
}
