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

#endif
