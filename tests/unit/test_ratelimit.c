/*
 * test_ratelimit.c - unit tests of ratelimit.c: exact bucket arithmetic,
 * bounded memory under floods of keys, and the leased-slice ledger shared by
 * simulated processes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define MS 1000LL
#define SEC 1000000LL
#define T0 (5000 * SEC) /* an arbitrary monotonic origin, µs */

static struct ratelimit *make(uint32_t rate, uint32_t burst, size_t max_entries)
{
    struct ratelimit_config cfg = {.rate_per_sec = rate, .burst = burst,
                                   .max_entries = max_entries, .seed = 12345};
    return ratelimit_create_config(&cfg);
}

static int take_n(struct ratelimit *rl, const char *key, int n, int64_t now)
{
    int allowed = 0;
    int64_t retry;
    for (int i = 0; i < n; i++)
        allowed += ratelimit_take(rl, key, 0, 0, 1, now, &retry) == RATELIMIT_ALLOWED;
    return allowed;
}

START_TEST(test_exact_burst)
{
    struct ratelimit *rl = ratelimit_create(100, 100);
    ck_assert_int_eq(take_n(rl, "tok", 300, T0), 100);
    int64_t retry = -1;
    ck_assert_int_eq(ratelimit_take(rl, "tok", 0, 0, 1, T0, &retry), RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 10);
    ck_assert_int_eq(ratelimit_retry_after_s(retry), 1);
    ck_assert_int_eq(take_n(rl, "tok", 300, T0 + SEC / 2), 50);
    ck_assert_int_eq(ratelimit_take(rl, "tok", 0, 0, 1, T0 + SEC / 2, &retry),
                     RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 10);
    /* After a full second the bucket is full again, and never fuller. */
    ck_assert_int_eq(take_n(rl, "tok", 300, T0 + 60 * SEC), 100);
    ck_assert_int_eq(ratelimit_retry_after_s(0), 1);
    ck_assert_int_eq(ratelimit_retry_after_s(1000), 1);
    ck_assert_int_eq(ratelimit_retry_after_s(1001), 2);
    ratelimit_free(rl);
    ratelimit_free(NULL);
}
END_TEST

START_TEST(test_retry_after_and_units)
{
    struct ratelimit *rl = make(2, 10, 0);
    int64_t retry = -1;
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 10, T0, &retry), RATELIMIT_ALLOWED);
    ck_assert_int_eq(retry, 0);
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 1, T0, &retry), RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 500);
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 3, T0, &retry), RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 1500);
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 1, T0 + 250 * MS, &retry),
                     RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 250);
    ck_assert_int_eq(ratelimit_retry_after_s(retry), 1);
    /* More than the capacity: distinct result, nothing taken, no entry made. */
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 11, T0 + 10 * SEC, &retry),
                     RATELIMIT_TOO_LARGE);
    ck_assert_int_eq(ratelimit_take(rl, "new", 0, 0, 11, T0, NULL), RATELIMIT_TOO_LARGE);
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 10, T0 + 10 * SEC, &retry),
                     RATELIMIT_ALLOWED);
    /* 0 units count as one. */
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 0, T0 + 10 * SEC, &retry),
                     RATELIMIT_LIMITED);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_multi_unit)
{
    struct ratelimit *rl = make(100, 100, 0);
    int64_t retry;
    ck_assert_int_eq(ratelimit_take(rl, "bulk", 0, 0, 60, T0, &retry), RATELIMIT_ALLOWED);
    /* 40 left: a 50-operation Bulk waits for 10 tokens, 100 ms, and takes nothing. */
    ck_assert_int_eq(ratelimit_take(rl, "bulk", 0, 0, 50, T0, &retry), RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 100);
    ck_assert_int_eq(ratelimit_take(rl, "bulk", 0, 0, 40, T0, &retry), RATELIMIT_ALLOWED);
    ck_assert_int_eq(ratelimit_take(rl, "bulk", 0, 0, 101, T0, &retry), RATELIMIT_TOO_LARGE);
    ck_assert_int_eq(ratelimit_take(rl, "bulk", 0, 0, 100, T0 + SEC - 1, &retry),
                     RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 1); /* 1 µs, rounded up */
    ck_assert_int_eq(ratelimit_take(rl, "bulk", 0, 0, 100, T0 + SEC, &retry),
                     RATELIMIT_ALLOWED);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_fractional_refill)
{
    struct ratelimit *rl = make(3, 1, 0);
    int64_t retry;
    ck_assert_int_eq(take_n(rl, "k", 5, T0), 1);
    /* 1/3 s is 333,333.3 µs: one µs short there is 0.999999 of a token. */
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 1, T0 + 333333, &retry), RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 1);
    ck_assert_int_eq(ratelimit_take(rl, "k", 0, 0, 1, T0 + 333334, &retry), RATELIMIT_ALLOWED);
    /* Many small steps add up exactly: 1,000 steps of 1 ms at 3/s make 3 tokens. */
    struct ratelimit *r2 = make(3, 10, 0);
    ck_assert_int_eq(take_n(r2, "k", 10, T0), 10);
    int allowed = 0;
    for (int i = 1; i <= 1000; i++)
        allowed += ratelimit_take(r2, "k", 0, 0, 1, T0 + i * MS, &retry) == RATELIMIT_ALLOWED;
    ck_assert_int_eq(allowed, 3);
    ratelimit_free(rl);
    ratelimit_free(r2);
}
END_TEST

START_TEST(test_overrides_and_clock)
{
    struct ratelimit *rl = make(100, 100, 0);
    int64_t retry;
    ck_assert_int_eq(ratelimit_take(rl, "slow", 10, 5, 1, T0, &retry), RATELIMIT_ALLOWED);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ratelimit_take(rl, "slow", 10, 5, 1, T0, &retry), RATELIMIT_ALLOWED);
    ck_assert_int_eq(ratelimit_take(rl, "slow", 10, 5, 1, T0, &retry), RATELIMIT_LIMITED);
    ck_assert_int_eq(retry, 100);
    ck_assert_int_eq(ratelimit_take(rl, "slow", 10, 5, 6, T0, &retry), RATELIMIT_TOO_LARGE);
    /* Other keys keep the defaults. */
    ck_assert_int_eq(take_n(rl, "fast", 150, T0), 100);
    /* Lowering the capacity of a full bucket clamps what it holds. */
    ck_assert_int_eq(take_n(rl, "idle", 1, T0), 1);
    int allowed = 0;
    for (int i = 0; i < 20; i++)
        allowed += ratelimit_take(rl, "idle", 0, 3, 1, T0 + 5 * SEC, &retry) == RATELIMIT_ALLOWED;
    ck_assert_int_eq(allowed, 3);
    /* A higher rate override refills faster. */
    ck_assert_int_eq(ratelimit_take(rl, "idle", 1000, 3, 1, T0 + 5 * SEC + MS, &retry),
                     RATELIMIT_ALLOWED);
    /* The clock stepping back refills nothing and breaks nothing. */
    ck_assert_int_eq(take_n(rl, "back", 100, T0 + 6 * SEC), 100);
    ck_assert_int_eq(take_n(rl, "back", 10, T0 - 30 * SEC), 0);
    ck_assert_int_eq(take_n(rl, "back", 100, T0 + 6 * SEC + SEC / 10), 10);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_idle_eviction_and_shrink)
{
    struct ratelimit *rl = make(100, 100, 0);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "tok-%d", i);
        ck_assert_int_eq(take_n(rl, key, 1, T0), 1);
    }
    struct ratelimit_stats st;
    ratelimit_stats(rl, &st);
    ck_assert_int_eq(st.entries, 5000);
    size_t grown = st.slots;
    /* 10 ms later every one of those buckets is full again: all droppable. */
    size_t dropped = 0;
    for (int i = 0; i < 1000 && st.entries > 0; i++) {
        dropped += ratelimit_expire(rl, T0 + 10 * MS, 64);
        ratelimit_stats(rl, &st);
    }
    ck_assert_int_eq(dropped, 5000);
    ck_assert_int_eq(ratelimit_expire(rl, T0 + 10 * MS, 64), 0);
    ck_assert_int_eq(st.entries, 0);
    ck_assert_int_eq(st.evictions, 5000);
    ck_assert_int_eq(st.forced_evictions, 0);
    ck_assert_int_lt(st.slots, grown);
    /* A bucket that is not yet full is kept. */
    ck_assert_int_eq(take_n(rl, "busy", 100, T0 + 20 * MS), 100);
    ratelimit_expire(rl, T0 + 500 * MS, 1 << 20);
    ratelimit_stats(rl, &st);
    ck_assert_int_eq(st.entries, 1);
    ck_assert_int_eq(take_n(rl, "busy", 100, T0 + 500 * MS), 48);
    ratelimit_free(rl);
}
END_TEST

#define FLOOD_KEYS 2000000

START_TEST(test_flood_spread_in_time)
{
    /* Two million distinct unknown keys, one per µs (a million a second):
     * each entry is worth keeping for 10 ms only. */
    struct ratelimit *rl = make(100, 100, 0);
    struct ratelimit_stats st;
    size_t max_entries = 0, max_slots = 0, max_bytes = 0;
    char key[72]; /* 64 hex digits, like a token hash */
    for (int i = 0; i < FLOOD_KEYS; i++) {
        snprintf(key, sizeof key, "%064x", i);
        if (ratelimit_take(rl, key, 0, 0, 1, T0 + i, NULL) != RATELIMIT_ALLOWED)
            ck_abort_msg("a fresh key was refused");
        if (i % 1024 == 0) {
            ratelimit_stats(rl, &st);
            max_entries = st.entries > max_entries ? st.entries : max_entries;
            max_slots = st.slots > max_slots ? st.slots : max_slots;
            max_bytes = st.bytes > max_bytes ? st.bytes : max_bytes;
        }
    }
    ratelimit_stats(rl, &st);
    printf("ratelimit flood over time: %d keys at 1/us: peak %zu entries, %zu slots, "
           "%zu bytes (%.1f MiB); end %zu entries, %llu idle evictions, %llu forced, "
           "longest run %zu slots\n",
           FLOOD_KEYS, max_entries, max_slots, max_bytes, (double)max_bytes / (1 << 20),
           st.entries, (unsigned long long)st.evictions,
           (unsigned long long)st.forced_evictions, st.longest_run);
    fflush(stdout);
    /* About 10,000 keys are live at any time (10 ms at 1/µs). */
    ck_assert_int_le(max_entries, 20000);
    ck_assert_int_le(max_slots, 32768);
    ck_assert_int_eq(st.forced_evictions, 0);
    ck_assert_int_lt(st.longest_run, 200);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_flood_same_instant)
{
    /* The worst case: two million distinct keys at one instant, so nothing is
     * ever idle; the hard cap holds, and a drained key survives the flood
     * because flood entries become idle (and evictable) much sooner. */
    const size_t cap = 1 << 16;
    struct ratelimit *rl = make(100, 100, cap);
    ck_assert_int_eq(take_n(rl, "victim", 150, T0), 100);
    struct ratelimit_stats st;
    char key[72];
    size_t max_entries = 0;
    for (int i = 0; i < FLOOD_KEYS; i++) {
        snprintf(key, sizeof key, "%064x", i);
        if (ratelimit_take(rl, key, 0, 0, 1, T0, NULL) != RATELIMIT_ALLOWED)
            ck_abort_msg("a fresh key was refused");
        if (i % 1024 == 0) {
            ratelimit_stats(rl, &st);
            max_entries = st.entries > max_entries ? st.entries : max_entries;
        }
    }
    ratelimit_stats(rl, &st);
    printf("ratelimit flood at one instant: %d keys, cap %zu: %zu entries, %zu slots, "
           "%zu bytes (%.1f MiB, %.1f bytes per entry), %llu forced evictions, "
           "longest run %zu slots\n",
           FLOOD_KEYS, cap, st.entries, st.slots, st.bytes, (double)st.bytes / (1 << 20),
           (double)st.bytes / (double)st.entries, (unsigned long long)st.forced_evictions,
           st.longest_run);
    fflush(stdout);
    ck_assert_int_le(max_entries, cap);
    ck_assert_int_le(st.entries, cap);
    ck_assert_int_ge(st.forced_evictions, FLOOD_KEYS + 1 - cap);
    /* Evictions spread over the table: no long probe runs. */
    ck_assert_int_lt(st.longest_run, 200);
    ck_assert_int_eq(take_n(rl, "victim", 1, T0), 0);
    ratelimit_free(rl);
}
END_TEST

/* ------------------------------------------------------------- leases */

static struct ratelimit_lease *make_lease(uint32_t rate, uint32_t burst)
{
    struct ratelimit_config cfg = {.rate_per_sec = rate, .burst = burst, .seed = 777};
    return ratelimit_lease_create(&cfg);
}

START_TEST(test_lease_ledger)
{
    struct ratelimit_lease *l = make_lease(100, 100);
    struct ratelimit_lease_step st;
    /* A fresh key has nothing leased: wait, and ask for exactly one token. */
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0, &st), RATELIMIT_WAIT);
    ck_assert_int_eq(st.request_units, 1);
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0, &st), RATELIMIT_WAIT);
    ck_assert_int_eq(st.request_units, 0); /* one request at a time */
    ratelimit_lease_grant(l, "t", 0, 1, 99 * RATELIMIT_UT, T0 + MS);
    /* One spend is no stream yet: no prefetch. */
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0 + MS, &st), RATELIMIT_ALLOWED);
    ck_assert_int_eq(st.request_units, 0);
    /* A second request right behind it asks for a full slice: 10 % of the rate. */
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0 + MS, &st), RATELIMIT_WAIT);
    ck_assert_int_eq(st.request_units, 10);
    ratelimit_lease_grant(l, "t", 0, 10, 89 * RATELIMIT_UT, T0 + 2 * MS);
    int allowed = 0, requests = 0;
    for (int i = 0; i < 10; i++) {
        allowed += ratelimit_lease_take(l, "t", 0, 0, 1, T0 + 3 * MS, &st) == RATELIMIT_ALLOWED;
        if (st.request_units) {
            requests++;
            ck_assert_int_eq(i, 4); /* at the low-water mark, half a slice */
        }
    }
    ck_assert_int_eq(allowed, 10);
    ck_assert_int_eq(requests, 1);
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0 + 3 * MS, &st), RATELIMIT_WAIT);
    /* The shared bucket ran dry: 0 of the 10 asked granted, 0.3 of a token
     * left. Refuse locally (no query) until the 10 can be there: 97 ms. */
    ratelimit_lease_grant(l, "t", 0, 0, 300000, T0 + 4 * MS);
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0 + 4 * MS, &st), RATELIMIT_LIMITED);
    ck_assert_int_eq(st.request_units, 0);
    ck_assert_int_eq(st.retry_after_ms, 97);
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0 + 100 * MS, &st),
                     RATELIMIT_LIMITED);
    ck_assert_int_eq(st.retry_after_ms, 10); /* a token's refill time at least */
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0 + 101 * MS, &st), RATELIMIT_WAIT);
    ck_assert_int_gt(st.request_units, 0);
    ratelimit_lease_abort(l, "t", T0 + 102 * MS);
    ck_assert_int_eq(ratelimit_lease_take(l, "t", 0, 0, 1, T0 + 102 * MS, &st), RATELIMIT_WAIT);
    ck_assert_int_gt(st.request_units, 0);
    /* Sporadic traffic: one query per request, one token leased each time. */
    uint32_t leased = 0;
    for (int i = 0; i < 5; i++) {
        int64_t t = T0 + (i + 1) * 10 * SEC;
        ck_assert_int_eq(ratelimit_lease_take(l, "rare", 0, 0, 1, t, &st), RATELIMIT_WAIT);
        leased += st.request_units;
        ratelimit_lease_grant(l, "rare", 0, st.request_units, 90 * RATELIMIT_UT, t + MS);
        ck_assert_int_eq(ratelimit_lease_take(l, "rare", 0, 0, 1, t + MS, &st),
                         RATELIMIT_ALLOWED);
        leased += st.request_units;
    }
    ck_assert_int_eq(leased, 5);
    ratelimit_lease_free(l);
}
END_TEST

START_TEST(test_lease_bulk_expiry_and_limits)
{
    struct ratelimit_lease *l = make_lease(100, 100);
    struct ratelimit_lease_step st;
    ck_assert_int_eq(ratelimit_lease_take(l, "b", 0, 0, 101, T0, &st), RATELIMIT_TOO_LARGE);
    ck_assert_int_eq(st.request_units, 0);
    /* A 50-operation Bulk asks for 50 at once, above the usual slice. */
    ck_assert_int_eq(ratelimit_lease_take(l, "b", 0, 0, 50, T0, &st), RATELIMIT_WAIT);
    ck_assert_int_eq(st.request_units, 50);
    ratelimit_lease_grant(l, "b", 0, 50, 50 * RATELIMIT_UT, T0 + MS);
    ck_assert_int_eq(ratelimit_lease_take(l, "b", 0, 0, 50, T0 + MS, &st), RATELIMIT_ALLOWED);
    /* Leased tokens expire a second after the grant. */
    ck_assert_int_eq(ratelimit_lease_take(l, "e", 0, 0, 1, T0, &st), RATELIMIT_WAIT);
    ratelimit_lease_grant(l, "e", 0, 5, 0, T0);
    ck_assert_int_eq(ratelimit_lease_take(l, "e", 0, 0, 1, T0 + SEC - 1, &st),
                     RATELIMIT_ALLOWED);
    ck_assert_int_eq(ratelimit_lease_take(l, "e", 0, 0, 1, T0 + SEC, &st), RATELIMIT_WAIT);
    /* A grant for a key the ledger no longer holds is kept, not lost. */
    ratelimit_lease_grant(l, "unknown", 0, 2, 0, T0);
    ck_assert_int_eq(ratelimit_lease_take(l, "unknown", 0, 0, 2, T0, &st), RATELIMIT_ALLOWED);
    ratelimit_lease_abort(l, "never-seen", T0);
    /* An answer that never comes: after 5 s the key may ask again. */
    ck_assert_int_eq(ratelimit_lease_take(l, "lost", 0, 0, 1, T0, &st), RATELIMIT_WAIT);
    ck_assert_int_eq(st.request_units, 1);
    ck_assert_int_eq(ratelimit_lease_take(l, "lost", 0, 0, 1, T0 + 4 * SEC, &st),
                     RATELIMIT_WAIT);
    ck_assert_int_eq(st.request_units, 0);
    ck_assert_int_eq(ratelimit_lease_take(l, "lost", 0, 0, 1, T0 + 5 * SEC, &st),
                     RATELIMIT_WAIT);
    ck_assert_int_eq(st.request_units, 1);
    struct ratelimit_stats s;
    ratelimit_lease_stats(l, &s);
    ck_assert_int_ge(s.entries, 4);
    /* Entries with outstanding requests are kept until those count as lost. */
    ratelimit_lease_expire(l, T0 + 9 * SEC, 1 << 20);
    ratelimit_lease_stats(l, &s);
    ck_assert_int_eq(s.entries, 1);
    ratelimit_lease_expire(l, T0 + 10 * SEC + 1, 1 << 20);
    ratelimit_lease_stats(l, &s);
    ck_assert_int_eq(s.entries, 0);
    ratelimit_lease_free(l);
    ratelimit_lease_free(NULL);
}
END_TEST

START_TEST(test_shared_grant)
{
    struct ratelimit_shared row = {0};
    /* A new row starts full and grants at once. */
    ck_assert_int_eq(ratelimit_shared_grant(&row, false, 100, 100, 30, T0), 30);
    ck_assert_int_eq(row.micro_tokens, 70 * RATELIMIT_UT);
    ck_assert_int_eq(ratelimit_shared_grant(&row, true, 100, 100, 200, T0), 70);
    ck_assert_int_eq(row.micro_tokens, 0);
    /* Refill by elapsed time, whole tokens granted, fractions kept. */
    ck_assert_int_eq(ratelimit_shared_grant(&row, true, 100, 100, 200, T0 + 125 * MS), 12);
    ck_assert_int_eq(row.micro_tokens, RATELIMIT_UT / 2);
    ck_assert_int_eq(row.granted, 12);
    /* No refill when the clock steps back; updated_us never goes back. */
    ck_assert_int_eq(ratelimit_shared_grant(&row, true, 100, 100, 1, T0), 0);
    ck_assert_int_eq(row.updated_us, T0 + 125 * MS);
    /* Capped at the burst after a long idle, even at the largest rate. */
    ck_assert_int_eq(ratelimit_shared_grant(&row, true, RATELIMIT_MAX_RATE, 100, 1000,
                                            T0 + 400LL * 86400 * SEC),
                     100);
    ck_assert_int_eq(ratelimit_shared_grant(&row, true, 4000000000u, 4000000000u, 4000000000u,
                                            T0 + 800LL * 86400 * SEC),
                     RATELIMIT_MAX_BURST);
    /* A lowered burst clamps what the row holds. */
    ck_assert_int_eq(ratelimit_shared_grant(&row, true, 100, 100, 1, T0 + 801LL * 86400 * SEC),
                     1);
    ck_assert_int_eq(ratelimit_shared_grant(&row, true, 100, 5, 100, T0 + 801LL * 86400 * SEC),
                     5);
}
END_TEST

/* Simulation of several gateway processes, each with its own ledger, sharing
 * one row through a database that answers in db_rtt_us. */
#define SIM_PROCS 2
#define SIM_SECONDS 10
#define SIM_RATE 100
#define SIM_BURST 100
#define SIM_STEP_US 50

struct sim_proc {
    struct ratelimit_lease *ledger;
    int64_t period_us;  /* one request every period_us ... */
    int64_t offset_us;  /* ... starting here */
    int burst_size;     /* requests arriving together each time */
    bool inflight;      /* a slice request is outstanding */
    bool executed;      /* ... and the database has run it */
    int64_t exec_at;    /* when the statement runs */
    int64_t answer_at;  /* when its answer is back */
    uint32_t asked;     /* tokens asked for */
    uint32_t granted;   /* tokens the statement granted */
    int64_t left;       /* micro-tokens it left in the row */
    int parked;         /* requests waiting for the grant */
    long allowed, limited;
};

struct sim {
    struct sim_proc p[SIM_PROCS];
    struct ratelimit_shared row;
    bool row_exists;
    int64_t db_rtt_us;
    int per_ms[SIM_SECONDS * 1000]; /* allowed requests per millisecond */
    long queries;
};

static void sim_issue(struct sim *s, struct sim_proc *p, uint32_t units, int64_t t)
{
    p->inflight = true;
    p->executed = false;
    p->asked = units;
    p->exec_at = t + s->db_rtt_us / 2;
    p->answer_at = t + s->db_rtt_us;
    s->queries++;
}

/* One request through the ledger; false when it must stay parked. */
static bool sim_take(struct sim *s, struct sim_proc *p, int64_t t, bool from_park)
{
    struct ratelimit_lease_step st;
    enum ratelimit_result r = ratelimit_lease_take(p->ledger, "scimt_1", 0, 0, 1, t, &st);
    if (st.request_units)
        sim_issue(s, p, st.request_units, t);
    if (r == RATELIMIT_ALLOWED) {
        p->allowed++;
        s->per_ms[t / MS]++;
    } else if (r == RATELIMIT_LIMITED) {
        p->limited++;
    } else if (r == RATELIMIT_WAIT) {
        if (!from_park)
            p->parked++;
        return false;
    }
    return true;
}

static void sim_database(struct sim *s, struct sim_proc *p, int64_t t)
{
    if (p->inflight && !p->executed && t >= p->exec_at) {
        p->granted = (uint32_t)ratelimit_shared_grant(&s->row, s->row_exists, SIM_RATE,
                                                      SIM_BURST, p->asked, t);
        p->left = s->row.micro_tokens;
        s->row_exists = true;
        p->executed = true;
    }
    if (p->inflight && p->executed && t >= p->answer_at) {
        p->inflight = false;
        ratelimit_lease_grant(p->ledger, "scimt_1", 0, p->granted, p->left, t);
        while (p->parked > 0 && sim_take(s, p, t, true))
            p->parked--;
    }
}

static void sim_run(struct sim *s)
{
    for (int64_t t = 0; t < SIM_SECONDS * SEC; t += SIM_STEP_US) {
        for (int i = 0; i < SIM_PROCS; i++) {
            struct sim_proc *p = &s->p[i];
            sim_database(s, p, t);
            if (t >= p->offset_us && (t - p->offset_us) % p->period_us == 0)
                for (int k = 0; k < p->burst_size; k++)
                    sim_take(s, p, t, false);
        }
    }
}

static void sim_check(struct sim *s, const char *name)
{
    long total = 0, offered = 0;
    double worst_ratio = 0;
    for (int ms = 0; ms < SIM_SECONDS * 1000; ms++) {
        total += s->per_ms[ms];
        /* From the start, at every instant: within rate * t + burst (110 %). */
        double bound = 1.1 * SIM_RATE * (ms + 1) / 1000.0 + SIM_BURST;
        if ((double)total > bound)
            ck_abort_msg("%s: %ld allowed in the first %d ms", name, total, ms + 1);
        double ratio = (double)total / (SIM_RATE * (ms + 1) / 1000.0 + SIM_BURST);
        worst_ratio = ratio > worst_ratio ? ratio : worst_ratio;
    }
    int window = 0, worst_window = 0;
    for (int ms = 0; ms < SIM_SECONDS * 1000; ms++) {
        window += s->per_ms[ms] - (ms >= 1000 ? s->per_ms[ms - 1000] : 0);
        worst_window = window > worst_window ? window : worst_window;
    }
    for (int i = 0; i < SIM_PROCS; i++)
        offered += (long)s->p[i].burst_size * (SIM_SECONDS * SEC / s->p[i].period_us);
    long limit = (long)(1.1 * SIM_RATE * SIM_SECONDS) + SIM_BURST;
    printf("ratelimit lease sim (%s): offered %ld, allowed %ld (proc 0: %ld, proc 1: %ld) of "
           "rate*T+burst = %d, 110%% limit %ld; highest running total / (rate*t+burst) "
           "%.3f; busiest 1 s window %d; %ld slice queries\n",
           name, offered, total, s->p[0].allowed, s->p[1].allowed,
           SIM_RATE * SIM_SECONDS + SIM_BURST, limit, worst_ratio, worst_window, s->queries);
    fflush(stdout);
    ck_assert_int_le(total, limit);
    /* Leasing must not starve the token either: at least 90 % of rate * T. */
    ck_assert_int_ge(total, SIM_RATE * SIM_SECONDS * 9 / 10);
    /* Any 1 s window: rate + burst + the outstanding slices (2 * 1.5 * rate/10). */
    ck_assert_int_le(worst_window, SIM_RATE + SIM_BURST + SIM_PROCS * 15 * SIM_RATE / 100);
}

static void sim_free(struct sim *s)
{
    for (int i = 0; i < SIM_PROCS; i++)
        ratelimit_lease_free(s->p[i].ledger);
    free(s);
}

static struct sim *sim_new(int64_t db_rtt_us)
{
    struct sim *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    s->db_rtt_us = db_rtt_us;
    for (int i = 0; i < SIM_PROCS; i++)
        s->p[i].ledger = make_lease(SIM_RATE, SIM_BURST);
    return s;
}

START_TEST(test_lease_two_processes_steady)
{
    /* About 1,540 and 500 requests a second against a 100/s token. */
    struct sim *s = sim_new(2 * MS);
    s->p[0] = (struct sim_proc){.ledger = s->p[0].ledger, .period_us = 650,
                                .burst_size = 1};
    s->p[1] = (struct sim_proc){.ledger = s->p[1].ledger, .period_us = 2 * MS,
                                .offset_us = 350, .burst_size = 1};
    sim_run(s);
    sim_check(s, "steady 1540/s + 500/s, 2 ms database");
    sim_free(s);
}
END_TEST

START_TEST(test_lease_two_processes_bursty)
{
    /* Bursts of 40 requests every 50 ms in each process, slow database. */
    struct sim *s = sim_new(10 * MS);
    s->p[0] = (struct sim_proc){.ledger = s->p[0].ledger, .period_us = 50 * MS,
                                .burst_size = 40};
    s->p[1] = (struct sim_proc){.ledger = s->p[1].ledger, .period_us = 50 * MS,
                                .offset_us = 25 * MS, .burst_size = 40};
    sim_run(s);
    sim_check(s, "bursts of 40 every 50 ms each, 10 ms database");
    sim_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("bucket");
    tcase_add_test(tc, test_exact_burst);
    tcase_add_test(tc, test_retry_after_and_units);
    tcase_add_test(tc, test_multi_unit);
    tcase_add_test(tc, test_fractional_refill);
    tcase_add_test(tc, test_overrides_and_clock);
    tcase_add_test(tc, test_idle_eviction_and_shrink);
    suite_add_tcase(s, tc);
    TCase *flood = tcase_create("flood");
    tcase_set_timeout(flood, 120);
    tcase_add_test(flood, test_flood_spread_in_time);
    tcase_add_test(flood, test_flood_same_instant);
    suite_add_tcase(s, flood);
    TCase *lease = tcase_create("lease");
    tcase_set_timeout(lease, 60);
    tcase_add_test(lease, test_lease_ledger);
    tcase_add_test(lease, test_lease_bulk_expiry_and_limits);
    tcase_add_test(lease, test_shared_grant);
    tcase_add_test(lease, test_lease_two_processes_steady);
    tcase_add_test(lease, test_lease_two_processes_bursty);
    suite_add_tcase(s, lease);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
