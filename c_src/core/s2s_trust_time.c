/* s2s_trust_time.c - see s2s_trust_time.h */
#include "core/s2s_trust_time.h"

#include <time.h>

int s2s_trust_asn1_time_seconds(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = (int64_t)timegm(&tm);
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
