/*
 * s2s_trust_time.h - certificate times as seconds, and the validity-time
 * comparison of the chain check.
 *
 * Why not X509_cmp_time: with an explicit verification time (always ours,
 * see s2s_trust_verify.h) OpenSSL 3.0-3.6 builds an ASN1_TIME from that
 * time on every call (X509_time_adj: allocation and formatting) and then
 * converts both times to struct tm; six calls per leaf-only chain were 4-5 %
 * of an uncached ECDSA verification on 3.5/3.6 (docs/performance.md,
 * "Profile"). The same answer comes from one conversion of the
 * certificate's time, which OpenSSL still parses (ASN1_TIME_to_tm).
 */
#ifndef S2S_TRUST_TIME_H
#define S2S_TRUST_TIME_H

#include <stdint.h>

#include <openssl/asn1.h>

/* Seconds since the epoch of an ASN.1 time, rounded down; 0 with *out set,
 * -1 if it does not convert (OpenSSL then fails the check whatever the time). */
int s2s_trust_asn1_time_seconds(const ASN1_TIME *t, int64_t *out);

/*
 * X509_cmp_time(t, &at) without its per-call ASN1_TIME: -1 if t <= at, 1 if
 * t > at, 0 if t is not in RFC 5280's fixed form (UTCTime YYMMDDHHMMSSZ,
 * GeneralizedTime YYYYMMDDHHMMSSZ) or does not convert -- the same gate,
 * the same parser and the same answers as OpenSSL's, which
 * tests/c/test_time.c checks against the libcrypto it runs on.
 */
int s2s_trust_time_cmp(const ASN1_TIME *t, int64_t at);

#endif
