/*
 * backoff.h - the webhook retry schedule: exponential backoff with full
 * jitter, a per-delay cap and a total horizon after which a delivery fails.
 *
 * After attempt n (1 = the first delivery) fails, the next one waits a delay
 * drawn uniformly from [min, ceiling(n)], ceiling(n) = min(cap, base * 2^(n-1)):
 *
 *   n          1    2    3    4    5    6     7     8     9     10    11+
 *   ceiling    5s   10s  20s  40s  80s  160s  320s  640s  1280s 2560s 1h
 *
 * Retries continue until first_attempt + horizon (24 h): a delay that would
 * pass the horizon is shortened so that one last attempt lands on it (never
 * sooner than min after the failure), and once an attempt made at or after
 * the horizon fails the delivery is given up. So a delivery that never
 * succeeds fails between 24 h and 24 h + min + one request timeout after its
 * first attempt (later only if the worker itself was stopped). With the
 * default policy that is about 57 attempts in the 24 hours (see
 * tests/unit/test_backoff.c, which prints the distribution).
 *
 * Why full jitter rather than decorrelated jitter: the delay depends only on
 * the attempt number and one random draw, so nothing but the attempt count
 * and the first attempt's time needs storing with the delivery; and it keeps
 * spreading retries over the whole [min, 1 h] window once the cap is reached,
 * whereas decorrelated jitter (min(cap, rand(base, 3 * previous))) clamps
 * most late delays to exactly the cap, which keeps deliveries that failed
 * together (an endpoint outage) in step and sends them back together. The
 * price is more attempts per day (mean delay at the cap is about 30 min).
 *
 * Pure: the caller passes the clock and a uniformly random 64-bit value
 * (util_random in production, a seeded generator in tests).
 */
#ifndef SCIMGATE_BACKOFF_H
#define SCIMGATE_BACKOFF_H

#include <stdint.h>

#define BACKOFF_GIVE_UP ((int64_t)-1) /* backoff_next: retry no more */

struct backoff_policy {
    int64_t base_ms;    /* ceiling of the first retry's delay */
    int64_t cap_ms;     /* ceiling of any delay */
    int64_t min_ms;     /* floor of any delay (also the jitter's lower end) */
    int64_t horizon_ms; /* retries go on until first attempt + horizon */
};

/* base 5 s, cap 1 h, min 1 s, horizon 24 h. */
extern const struct backoff_policy backoff_default_policy;

/* When to make the next attempt after attempt number `attempt` (1-based; the
 * one that just failed, at now_ms) of a delivery first attempted at
 * first_attempt_ms: an absolute time in ms, or BACKOFF_GIVE_UP. rand is a
 * uniformly random 64-bit value. Uses backoff_default_policy. */
int64_t backoff_next(int attempt, int64_t first_attempt_ms, int64_t now_ms, uint64_t rand);

/* The same with an explicit policy (borrowed), e.g. a short one for tests of
 * the worker. Attempts below 1 count as 1. */
int64_t backoff_next_policy(const struct backoff_policy *policy, int attempt,
                            int64_t first_attempt_ms, int64_t now_ms, uint64_t rand);

/* The upper end of the delay after attempt n: min(cap, base * 2^(n-1)),
 * never below min. */
int64_t backoff_ceiling_ms(const struct backoff_policy *policy, int attempt);

#endif
