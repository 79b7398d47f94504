/*
 * test_backoff.c - unit tests of backoff.c (the webhook retry schedule).
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backoff.h"

#define SEC 1000LL
#define HOUR (3600 * SEC)
#define T0 1714723000000LL /* an arbitrary first attempt, ms since the epoch */

/* splitmix64: a deterministic stand-in for the OS random source. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

START_TEST(test_ceilings)
{
    const struct backoff_policy *p = &backoff_default_policy;
    const int64_t want[] = {5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600};
    for (int n = 1; n <= 12; n++)
        ck_assert_int_eq(backoff_ceiling_ms(p, n), want[n - 1] * SEC);
    ck_assert_int_eq(backoff_ceiling_ms(p, INT_MAX), HOUR);
    ck_assert_int_eq(backoff_ceiling_ms(p, 0), 5 * SEC);
    /* The delay's extremes: rand 0 gives the floor, the largest rand the ceiling. */
    ck_assert_int_eq(backoff_next(3, T0, T0 + 60 * SEC, 0), T0 + 61 * SEC);
    uint64_t top = (uint64_t)(20 * SEC - SEC); /* span - 1 for attempt 3 */
    ck_assert_int_eq(backoff_next(3, T0, T0 + 60 * SEC, top), T0 + 80 * SEC);
    ck_assert_int_eq(backoff_next(-5, T0, T0, 4 * SEC), T0 + 5 * SEC);
}
END_TEST

START_TEST(test_bounds_and_growth)
{
    uint64_t rng = 42;
    double prev_mean = 0;
    for (int n = 1; n <= 40; n++) {
        int64_t lo = INT64_MAX, hi = 0;
        double sum = 0;
        const int draws = 20000;
        for (int i = 0; i < draws; i++) {
            int64_t now = T0 + HOUR;
            int64_t d = backoff_next(n, T0, now, rng_next(&rng)) - now;
            /* Plain tests in hot loops: each passing ck_assert costs a pipe write. */
            if (d < SEC || d > backoff_ceiling_ms(&backoff_default_policy, n))
                ck_abort_msg("attempt %d: delay %lld out of bounds", n, (long long)d);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += (double)d;
        }
        double mean = sum / draws;
        int64_t ceiling = backoff_ceiling_ms(&backoff_default_policy, n);
        /* Uniform on [1 s, ceiling]: the mean sits in the middle. */
        double expect = (double)(SEC + ceiling) / 2;
        ck_assert_msg(fabs(mean - expect) < 0.02 * (double)ceiling, "attempt %d mean %.0f", n,
                      mean);
        if (n <= 11)
            ck_assert_msg(mean > prev_mean * 1.25, "attempt %d does not grow", n);
        /* The draws reach close to both ends of the window. */
        ck_assert_int_lt(lo - SEC, (ceiling - SEC) / 100 + 1);
        ck_assert_int_gt(hi, ceiling - (ceiling - SEC) / 100 - 1);
        prev_mean = mean;
    }
}
END_TEST

START_TEST(test_jitter_spreads)
{
    /* 10,000 deliveries failing at the same instant (an endpoint outage) must
     * not come back together: at the cap, each tenth of the window gets about
     * a tenth of them. */
    uint64_t rng = 7;
    int bins[10] = {0};
    const int n = 10000;
    int64_t now = T0 + 2 * HOUR;
    for (int i = 0; i < n; i++) {
        int64_t d = backoff_next(15, T0, now, rng_next(&rng)) - now;
        bins[(d - SEC) * 10 / (HOUR - SEC + 1)]++;
    }
    for (int b = 0; b < 10; b++)
        ck_assert_msg(bins[b] > n / 10 * 85 / 100 && bins[b] < n / 10 * 115 / 100,
                      "bin %d holds %d", b, bins[b]);
    /* Even the first retry is spread over [1 s, 5 s]. */
    int early[4] = {0};
    for (int i = 0; i < n; i++)
        early[(backoff_next(1, T0, T0, rng_next(&rng)) - T0 - SEC) * 4 / (4 * SEC + 1)]++;
    for (int b = 0; b < 4; b++)
        ck_assert_int_gt(early[b], n / 4 * 85 / 100);
}
END_TEST

/* Runs one delivery that never succeeds; each attempt takes latency_ms.
 * Returns the number of attempts and sets *gave_up_at. */
static int run_until_give_up(uint64_t *rng, int64_t latency_ms, int64_t *gave_up_at)
{
    int64_t at = T0;
    for (int attempt = 1;; attempt++) {
        int64_t failed_at = at + latency_ms;
        int64_t next = backoff_next(attempt, T0, failed_at, rng_next(rng));
        if (next == BACKOFF_GIVE_UP) {
            *gave_up_at = failed_at;
            return attempt;
        }
        if (next < failed_at + SEC)
            ck_abort_msg("attempt %d retried after less than the floor", attempt);
        at = next;
    }
}

START_TEST(test_horizon)
{
    uint64_t rng = 2024;
    const int runs = 5000;
    int min_attempts = INT_MAX, max_attempts = 0;
    long total = 0;
    int64_t earliest = INT64_MAX, latest = 0;
    for (int i = 0; i < runs; i++) {
        int64_t latency = (int64_t)(rng_next(&rng) % (15 * SEC + 1)); /* up to the timeout */
        int64_t gave_up_at;
        int attempts = run_until_give_up(&rng, latency, &gave_up_at);
        if (gave_up_at - T0 < 24 * HOUR || gave_up_at - T0 >= 25 * HOUR)
            ck_abort_msg("gave up %lld ms after the first attempt", (long long)(gave_up_at - T0));
        min_attempts = attempts < min_attempts ? attempts : min_attempts;
        max_attempts = attempts > max_attempts ? attempts : max_attempts;
        earliest = gave_up_at < earliest ? gave_up_at : earliest;
        latest = gave_up_at > latest ? gave_up_at : latest;
        total += attempts;
    }
    double mean = (double)total / runs;
    printf("backoff: attempts in 24 h over %d deliveries: min %d, mean %.1f, max %d; "
           "given up %.4f h .. %.4f h after the first attempt\n",
           runs, min_attempts, mean, max_attempts, (double)(earliest - T0) / HOUR,
           (double)(latest - T0) / HOUR);
    fflush(stdout);
    ck_assert_int_ge(min_attempts, 35);
    ck_assert_int_le(max_attempts, 90);
}
END_TEST

START_TEST(test_near_and_past_deadline)
{
    int64_t deadline = T0 + 24 * HOUR;
    /* A delay that would cross the horizon lands on it. */
    ck_assert_int_eq(backoff_next(30, T0, deadline - 10 * 60 * SEC, HOUR - SEC), deadline);
    /* Too close to the horizon: never sooner than the floor. */
    ck_assert_int_eq(backoff_next(30, T0, deadline - 200, HOUR - SEC), deadline - 200 + SEC);
    /* At or past it (including a worker that was stopped for days): give up. */
    ck_assert_int_eq(backoff_next(30, T0, deadline, 0), BACKOFF_GIVE_UP);
    ck_assert_int_eq(backoff_next(2, T0, deadline + 72 * HOUR, 0), BACKOFF_GIVE_UP);
    /* A short policy, as a worker test would use. */
    struct backoff_policy quick = {.base_ms = 100, .cap_ms = 400, .min_ms = 50,
                                   .horizon_ms = 2 * SEC};
    ck_assert_int_eq(backoff_ceiling_ms(&quick, 4), 400);
    ck_assert_int_eq(backoff_next_policy(&quick, 1, 0, 0, 0), 50);
    ck_assert_int_eq(backoff_next_policy(&quick, 9, 0, 1900, 350), 2000);
    ck_assert_int_eq(backoff_next_policy(&quick, 9, 0, 2000, 0), BACKOFF_GIVE_UP);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ceilings);
    tcase_add_test(tc, test_bounds_and_growth);
    tcase_add_test(tc, test_jitter_spreads);
    tcase_add_test(tc, test_horizon);
    tcase_add_test(tc, test_near_and_past_deadline);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
