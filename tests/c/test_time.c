/*
 * test_time.c - s2s_trust_time_cmp gives X509_cmp_time's answer.
 *
 * The chain check compares every certificate's notBefore/notAfter with the
 * verification time through s2s_trust_time_cmp instead of X509_cmp_time
 * (s2s_trust_time.h says why). Both are asked the same question here, on
 * the libcrypto this runs on (so the matrix checks OpenSSL 3.0, 3.5 and
 * 3.6): well-formed times on both sides of and at the comparison second,
 * across the UTCTime century window and leap days, every malformed shape
 * X509_cmp_time refuses, and a seeded random sweep of strings one
 * character away from valid ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "core/s2s_trust_time.h"
#include "testing.h"
#include "tests.h"

static int compare_both(int type, const char *text, int64_t at, int *ours_out)
{
    ASN1_STRING *t = ASN1_STRING_type_new(type);
    time_t when = (time_t)at;
    int theirs, ours;

    if (t == NULL || ASN1_STRING_set(t, text, (int)strlen(text)) != 1) {
        ASN1_STRING_free(t);
        return -2;
    }
    theirs = X509_cmp_time(t, &when);
    ours = s2s_trust_time_cmp(t, at);
    ASN1_STRING_free(t);
    ERR_clear_error();
    if (ours_out != NULL)
        *ours_out = ours;
    CHECK_MSG(ours == theirs, "type %d \"%s\" at %lld: ours %d, OpenSSL %d", type, text, (long long)at, ours,
              theirs);
    return theirs;
}

/* "YYMMDDHHMMSSZ" / "YYYYMMDDHHMMSSZ" of an instant. */
static void format_time(int64_t s, int type, char *out, size_t size)
{
    time_t t = (time_t)s;
    struct tm tm;

    gmtime_r(&t, &tm);
    if (type == V_ASN1_UTCTIME)
        strftime(out, size, "%y%m%d%H%M%SZ", &tm);
    else
        strftime(out, size, "%Y%m%d%H%M%SZ", &tm);
}

void test_time_cmp_matches_openssl(void)
{
    static const char *const malformed_utc[] = {
        "2501010000Z",     /* no seconds: ASN1_TIME_to_tm takes it, X509_cmp_time does not */
        "250101000000+0100", "250101000000-0000", "250101000000",  "250101000000z", " 50101000000Z",
        "25010100000AZ",   "251301000000Z",     "250132000000Z",     "250229000000Z", "250101240000Z",
        "250101006000Z",   "250101000060Z",     "25010100000Z",      "2501010000000Z", "",
        "-50101000000Z",   "250101000000Z\n",
    };
    static const char *const malformed_gen[] = {
        "20250101000000",  "20250101000000.5Z", "202501010000Z",     "20250101000000+0000", "2025010100000Z",
        "202501010000000Z", "20251301000000Z",  "20250229000000Z",   "2025O101000000Z",
        "20240230000000Z",
    };
    const int64_t ats[] = { 0, 946684799, 946684800, 1767225600, 2524607999, 2524608000, 4102444800 };
    char text[32];
    int ours;

    /* At, one second before and one after the comparison time, both types
     * where the year fits UTCTime (1950-2049). */
    for (size_t a = 0; a < sizeof ats / sizeof ats[0]; a++) {
        for (int d = -1; d <= 1; d++) {
            int64_t s = ats[a] + d;
            for (int k = 0; k < 2; k++) {
                int type = k == 0 ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME;
                if (type == V_ASN1_UTCTIME && (s < -631152000 || s >= 2524608000))
                    continue;
                format_time(s, type, text, sizeof text);
                CHECK(compare_both(type, text, ats[a], &ours) != 0);
                CHECK(ours == (d <= 0 ? -1 : 1));
            }
        }
    }
    /* The UTCTime century window (50-99 are 19xx), leap days, 9999. */
    CHECK(compare_both(V_ASN1_UTCTIME, "500101000000Z", 0, NULL) == -1);
    CHECK(compare_both(V_ASN1_UTCTIME, "491231235959Z", 0, NULL) == 1);
    CHECK(compare_both(V_ASN1_UTCTIME, "000229120000Z", 951825600, NULL) == -1);
    CHECK(compare_both(V_ASN1_UTCTIME, "000229120001Z", 951825600, NULL) == 1);
    CHECK(compare_both(V_ASN1_GENERALIZEDTIME, "20000229120000Z", 951825600, NULL) == -1);
    CHECK(compare_both(V_ASN1_GENERALIZEDTIME, "99991231235959Z", 1767225600, NULL) == 1);
    CHECK(compare_both(V_ASN1_GENERALIZEDTIME, "19491231235959Z", 0, NULL) == -1);
    CHECK(compare_both(V_ASN1_GENERALIZEDTIME, "00000101000000Z", 0, NULL) == -1);
    /* Every shape OpenSSL refuses is refused (0) by both. */
    for (size_t i = 0; i < sizeof malformed_utc / sizeof malformed_utc[0]; i++)
        CHECK_MSG(compare_both(V_ASN1_UTCTIME, malformed_utc[i], 1767225600, NULL) == 0, "%s", malformed_utc[i]);
    for (size_t i = 0; i < sizeof malformed_gen / sizeof malformed_gen[0]; i++)
        CHECK_MSG(compare_both(V_ASN1_GENERALIZEDTIME, malformed_gen[i], 1767225600, NULL) == 0, "%s",
                  malformed_gen[i]);
    /* Another string type carrying a valid time is no time. */
    CHECK(compare_both(V_ASN1_IA5STRING, "20250101000000Z", 1767225600, NULL) == 0);
    CHECK(s2s_trust_time_cmp(NULL, 0) == 0);
}

/* 0 .. bound-1 from two rand_r draws (rand_r alone stops at 2^31 - 1,
 * i.e. in 2038). */
static int64_t draw(unsigned int *seed, int64_t bound)
{
    uint64_t v = ((uint64_t)(unsigned)rand_r(seed) << 31) ^ (uint64_t)(unsigned)rand_r(seed);
    return (int64_t)(v % (uint64_t)bound);
}

void test_time_cmp_random_sweep(void)
{
    static const char alphabet[] = "0123456789Z+-. z";
    unsigned int seed = 20261206;
    int agreed_valid = 0, agreed_invalid = 0, after_2038 = 0;

    for (int n = 0; n < 20000; n++) {
        int type = (rand_r(&seed) & 1) ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME;
        /* 1970-2099; UTCTime stops at 2049 (folded back into 1970-2049). */
        int64_t s = draw(&seed, 4102444800);
        int64_t at = draw(&seed, 4102444800);
        char text[32];
        int theirs;

        if (type == V_ASN1_UTCTIME && s >= 2524608000)
            s -= 2524608000 - 631152000;
        after_2038 += s > INT32_MAX;
        format_time(s, type, text, sizeof text);
        /* Every other string: one character changed, dropped or added. */
        if (n % 2 == 1) {
            size_t len = strlen(text), pos = (size_t)rand_r(&seed) % (len + 1);
            char c = alphabet[(size_t)rand_r(&seed) % (sizeof alphabet - 1)];
            switch (rand_r(&seed) % 3) {
            case 0:
                if (pos < len)
                    text[pos] = c;
                break;
            case 1:
                if (pos < len)
                    memmove(text + pos, text + pos + 1, len - pos);
                break;
            default:
                if (len + 1 < sizeof text) {
                    memmove(text + pos + 1, text + pos, len - pos + 1);
                    text[pos] = c;
                }
                break;
            }
        }
        /* Near the comparison time as often as far from it. */
        if (n % 4 == 0)
            at = s + (rand_r(&seed) % 3) - 1;
        theirs = compare_both(type, text, at, NULL);
        if (theirs == 0)
            agreed_invalid++;
        else
            agreed_valid++;
    }
    /* The sweep reached both kinds of answer, not only one, and times past
     * 2038 (where a 32-bit time_t would end). */
    CHECK(agreed_valid > 5000);
    CHECK(agreed_invalid > 2000);
    CHECK(after_2038 > 2000);
}
