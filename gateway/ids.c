/*
 * ids.c - prefixed ULIDs (48-bit millisecond time + 80 random bits).
 */
#include "ids.h"

#include <string.h>

#include "util.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

char *ids_new_at(const char *prefix, int64_t ms, char *out)
{
    size_t plen = strlen(prefix);
    unsigned char rnd[10];
    util_random(rnd, sizeof rnd);
    memcpy(out, prefix, plen);
    char *u = out + plen;
    uint64_t t = (uint64_t)ms & 0xffffffffffffULL;
    for (int i = 9; i >= 0; i--) {
        u[i] = crockford[t & 31];
        t >>= 5;
    }
    /* 80 random bits -> 16 characters, five bits at a time. */
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 5; i++)
        hi = (hi << 8) | rnd[i];
    for (int i = 5; i < 10; i++)
        lo = (lo << 8) | rnd[i];
    for (int i = 7; i >= 0; i--) {
        u[10 + i] = crockford[hi & 31];
        hi >>= 5;
        u[18 + i] = crockford[lo & 31];
        lo >>= 5;
    }
    u[IDS_ULID_LEN] = '\0';
    return out;
}

char *ids_new(const char *prefix, char *out)
{
    return ids_new_at(prefix, util_now_ms(), out);
}

bool ids_valid(const char *prefix, const char *s)
{
    size_t plen = strlen(prefix);
    if (strncmp(s, prefix, plen) != 0 || strlen(s + plen) != IDS_ULID_LEN)
        return false;
    const char *u = s + plen;
    if (u[0] > '7') /* the time part is 48 bits: 10 chars with the top one <= 7 */
        return false;
    for (int i = 0; i < IDS_ULID_LEN; i++)
        if (!strchr(crockford, u[i]) || u[i] == '\0')
            return false;
    return true;
}
