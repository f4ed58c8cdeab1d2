/* s2s_trust_time.c - see s2s_trust_time.h */
#include "core/s2s_trust_time.h"

#include <time.h>

/* Days from 1970-01-01 to a proleptic Gregorian date, in 64 bits: timegm
 * would fail past 2038 where time_t is 32 bits (Debian i386), turning a
 * notAfter of 2040 into "expired" and a notBefore of 2040 into "valid".
 * Years shifted to start in March, so the leap day ends a year; 400-year
 * eras of 146,097 days. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;
    int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;

    return era * 146097 + day_of_era - 719468;
}

int s2s_trust_asn1_time_seconds(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    /* ASN1_TIME_to_tm has checked every field's range (month, day of that
     * month, hour, minute, second 0-59). */
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
           (int64_t)tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return 0;
}

int s2s_trust_time_cmp(const ASN1_TIME *t, int64_t at)
{
    const unsigned char *data;
    int64_t seconds;
    int len;

    if (t == NULL)
        return 0;
    data = ASN1_STRING_get0_data(t);
    len = ASN1_STRING_length(t);
    /* OpenSSL's format gate: ASN1_TIME_to_tm alone would also take a
     * UTCTime without seconds or with an offset, which X509_cmp_time
     * refuses (an error in the certificate's time field). */
    switch (ASN1_STRING_type(t)) {
    case V_ASN1_UTCTIME:
        if (len != 13)
            return 0;
        break;
    case V_ASN1_GENERALIZEDTIME:
        if (len != 15)
            return 0;
        break;
    default:
        return 0;
    }
    for (int i = 0; i < len - 1; i++)
        if (data[i] < '0' || data[i] > '9')
            return 0;
    if (data[len - 1] != 'Z')
        return 0;
    if (s2s_trust_asn1_time_seconds(t, &seconds) != 0)
        return 0;
    return seconds <= at ? -1 : 1;
}
