/*
 * s2s_trust_compat.h - the only place that looks at library versions.
 *
 * Floors: OpenSSL 3.0 (Debian 12) and libconfig 1.5 (Debian 12). Anything
 * newer is guarded here so the rest of the code reads as if one version
 * existed.
 */
#ifndef S2S_TRUST_COMPAT_H
#define S2S_TRUST_COMPAT_H

#include <openssl/opensslv.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "mod_s2s_trust needs OpenSSL 3.0 or newer"
#endif

#include <libconfig.h>

/* libconfig 1.5 has no LIBCONFIG_VER_* macros at all; 1.7 added them. */
#if defined(LIBCONFIG_VER_MAJOR) && (LIBCONFIG_VER_MAJOR > 1 || (LIBCONFIG_VER_MAJOR == 1 && LIBCONFIG_VER_MINOR >= 7))
#define S2S_TRUST_LIBCONFIG_1_7 1
#else
#define S2S_TRUST_LIBCONFIG_1_7 0
#endif

/* expat (net/ only, which includes <expat.h> first): 2.6 added reparse
 * deferral, which may hold a complete token back until more input arrives;
 * the stream reader needs every token handled in the call that completes it
 * (Debian 12 has 2.5.0, Debian 13 2.7). */
#ifdef XML_MAJOR_VERSION
#if XML_MAJOR_VERSION * 10000 + XML_MINOR_VERSION * 100 + XML_MICRO_VERSION >= 20600
#define S2S_TRUST_XML_NO_REPARSE_DEFERRAL(p) ((void)XML_SetReparseDeferralEnabled((p), XML_FALSE))
#else
#define S2S_TRUST_XML_NO_REPARSE_DEFERRAL(p) ((void)(p))
#endif
#endif

/* libcurl (net/ only, which includes <curl/curl.h> first): 7.85 added
 * CURLOPT_PROTOCOLS_STR and deprecated the bitmask, which newer headers
 * mark so that -Werror refuses it (Debian 12 has 7.88, 13 has 8.14). */
#ifdef LIBCURL_VERSION_NUM
#if LIBCURL_VERSION_NUM >= 0x075500
#define S2S_TRUST_CURL_PROTOCOLS(h, plain_http) curl_easy_setopt((h), CURLOPT_PROTOCOLS_STR, (plain_http) ? "http" : "https")
#else
#define S2S_TRUST_CURL_PROTOCOLS(h, plain_http) \
    curl_easy_setopt((h), CURLOPT_PROTOCOLS, (long)((plain_http) ? CURLPROTO_HTTP : CURLPROTO_HTTPS))
#endif
#endif

#endif
