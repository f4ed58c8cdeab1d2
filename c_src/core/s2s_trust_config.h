/*
 * s2s_trust_config.h - the trust policy, read from a libconfig file.
 *
 * The reference for every key is docs/configuration.md. Reading is strict:
 * an unknown key, a value of the wrong type or out of range is an error
 * naming file and line, so a typo never silently weakens the policy.
 * Relative paths are taken relative to the directory of the file.
 *
 * Keys (each path key takes a string or a list of strings):
 *   ca_file, ca_dir, intermediate_file, crl_file, system_roots (bool),
 *   crl_check ("none" | "if_available" | "require"), max_depth,
 *   max_chain_certs, max_cert_bytes, security_level (0..5),
 *   require_server_auth_eku (bool), insecure_allow_cn_id (bool),
 *   verification_time (date string "YYYY-MM-DD[THH:MM:SSZ]" or seconds),
 *   verdict_cache_size, verdict_cache_ttl (0 = off).
 */
#ifndef S2S_TRUST_CONFIG_H
#define S2S_TRUST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/s2s_trust_error.h"

typedef enum {
    S2S_TRUST_CRL_NONE,         /* never consult CRLs */
    S2S_TRUST_CRL_IF_AVAILABLE, /* check against the CRLs we hold; an issuer without one passes */
    S2S_TRUST_CRL_REQUIRE       /* every certificate's issuer must have a current CRL */
} s2s_trust_crl_mode_t;

/* A path the configuration names, and the line that named it (0 = default). */
typedef struct {
    char *path;
    int line;
} s2s_trust_path_t;

typedef struct {
    s2s_trust_path_t *items;
    size_t count;
} s2s_trust_paths_t;

typedef struct {
    char *source;               /* the file read, or NULL for the built-in defaults */
    s2s_trust_paths_t ca_files;  /* PEM bundles of trust anchors */
    s2s_trust_paths_t ca_dirs;   /* directories of PEM trust anchors, read eagerly */
    s2s_trust_paths_t intermediate_files; /* PEM bundles of untrusted intermediates */
    s2s_trust_paths_t crl_files; /* PEM or DER CRLs */
    bool system_roots;           /* also load the system bundle */
    int system_roots_line;       /* where system_roots was set, 0 if defaulted */
    s2s_trust_crl_mode_t crl_check;
    int max_depth;               /* intermediates allowed between leaf and anchor */
    int max_chain_certs;         /* certificates a peer may present */
    size_t max_cert_bytes;       /* DER size of one certificate */
    int security_level;          /* OpenSSL auth level 0..5 */
    bool require_server_auth_eku; /* leaf must carry the serverAuth EKU (XEP-0178 PR #1501) */
    bool insecure_allow_cn_id;   /* fall back to the subject CN (RFC 9525 forbids it) */
    bool has_verification_time;
    int64_t verification_time;   /* seconds since the epoch, for tests and forensics */
    size_t verdict_cache_size;   /* verdicts cached per store; 0 = no cache */
    unsigned verdict_cache_ttl;  /* seconds a cached verdict may live at most; 0 = no cache */
} s2s_trust_config_t;

/* Hard ceilings: a configuration may lower the limits, never exceed these. */
#define S2S_TRUST_MAX_DEPTH_CEILING 16
#define S2S_TRUST_MAX_CHAIN_CERTS_CEILING 32
#define S2S_TRUST_MAX_CERT_BYTES_CEILING (256 * 1024)
#define S2S_TRUST_VERDICT_CACHE_SIZE_CEILING 1000000 /* 64 bytes an entry: 64 MB */
#define S2S_TRUST_VERDICT_CACHE_TTL_CEILING 86400

/* The built-in defaults: system roots, CRLs if given, depth 6, 10 certs, 32 KiB. */
void s2s_trust_config_defaults(s2s_trust_config_t *cfg);

/* Read a configuration file over the defaults. 0 on success; -1 with `err`
 * filled, and `cfg` left holding nothing that needs freeing. */
int s2s_trust_config_read_file(const char *path, s2s_trust_config_t *cfg,
                               s2s_trust_error_t *err);

/* The same for text in memory; `name` stands in for the file name in errors
 * and relative paths are taken relative to the current directory. */
int s2s_trust_config_read_string(const char *text, const char *name,
                                 s2s_trust_config_t *cfg, s2s_trust_error_t *err);

/* Append one file the configuration file does not name: an intermediates
 * bundle (the module's learned intermediates, docs/learning.md) or a CRL
 * (the module's fetched CRLs). It is read like an intermediate_file /
 * crl_file entry; its errors name the file, with line 0. An absolute path is
 * expected. 0, or -1 when out of memory (cfg unchanged). */
int s2s_trust_config_add_intermediate_file(s2s_trust_config_t *cfg, const char *path);
int s2s_trust_config_add_crl_file(s2s_trust_config_t *cfg, const char *path);

/* Free what the config owns; safe on a defaulted or half-read config. */
void s2s_trust_config_free(s2s_trust_config_t *cfg);

const char *s2s_trust_crl_mode_name(s2s_trust_crl_mode_t mode);

/* Latest verification time accepted: 9999-12-31T23:59:59Z. */
#define S2S_TRUST_MAX_TIME 253402300799LL

/* Seconds since the epoch from "SECONDS", "YYYY-MM-DD" or
 * "YYYY-MM-DDTHH:MM:SSZ" (UTC), within 0..S2S_TRUST_MAX_TIME. 0 or -1. */
int s2s_trust_parse_time(const char *text, long long *out);

#endif
