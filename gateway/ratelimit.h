/*
 * ratelimit.h - per-key token buckets (a key per SCIM token) in bounded
 * memory, and the local ledger that lets several gateway processes share one
 * bucket per token. Pure: no I/O, the caller passes the clock.
 *
 * ONE PROCESS
 *
 * Each key has a bucket of capacity `burst` tokens refilled continuously at
 * `rate` tokens per second. A request takes `units` tokens (1, or the number
 * of operations of a /Bulk request) or, when the bucket holds fewer, is
 * refused and takes nothing; a request for more than `burst` units could never
 * succeed and gets its own result. New buckets start full. Tokens are counted
 * in millionths (RATELIMIT_UT) and time in microseconds, so the refill of t µs
 * is exactly t * rate millionths: counts are exact, with no floating point.
 *
 * Memory stays bounded whatever the keys. A key is not stored: it is reduced
 * to a 128-bit SipHash fingerprint under a per-table random key, so clients
 * cannot aim keys at one slot, and two keys share a bucket only on a 128-bit
 * collision. Entries sit in one open-addressing table (linear probing,
 * backward-shift deletion, 40 bytes a slot, at most half full). A bucket that
 * has been idle long enough to be full again carries no information, so it
 * is dropped:
 *   - each call examines the next 4 slots after a clock hand and drops idle
 *     entries there (ratelimit_expire does the same from a timer);
 *   - when the table reaches half full it is first swept of idle entries and
 *     grows only if that did not free a quarter of it;
 *   - it never holds more than max_entries: at that cap a new key evicts, of
 *     the first 8 entries from its own slot on, the one that would be full soonest
 *     (a "forced" eviction: that key later restarts from a full bucket, so it
 *     can gain at most one extra burst);
 *   - it shrinks by half when less than 1/16 full.
 * A key seen once costs an entry for only units/rate (10 ms at 100/s), so a
 * flood of distinct unknown keys holds about flood rate * 10 ms entries, and
 * never more than max_entries.
 *
 * SEVERAL PROCESSES: LEASED BUDGET SLICES
 *
 * When several gateways serve one token they must together let through no
 * more than rate * T + burst (plus a small, bounded excess) over T seconds.
 * The bucket of record is one PostgreSQL row per token; a process may only
 * spend tokens it has leased from that row, a slice at a time:
 *
 *   ratelimit_lease_take   spends from the key's local balance. When the
 *                          balance falls to the low-water mark (half the last
 *                          slice) after at least two spends since the last
 *                          request, it asks for the next slice ahead of need
 *                          (step.request_units > 0); when it cannot cover the
 *                          request it answers RATELIMIT_WAIT and the caller
 *                          parks the request until the grant arrives.
 *   ratelimit_lease_grant  records the shared bucket's answer (the statement
 *                          below), possibly 0; when the shared bucket ran dry
 *                          the key answers RATELIMIT_LIMITED locally until it
 *                          can hold what was asked (at most a slice), so an
 *                          empty bucket costs no query and a saturated token
 *                          costs each process about 10 queries a second.
 *   ratelimit_lease_abort  the statement failed; the caller decides (503).
 *
 * A slice covers the spending observed since the previous request projected
 * over RATELIMIT_LEASE_HORIZON_US (100 ms), within [1, rate/10] (10 % of a
 * second's rate), and never less than the request being served needs. A
 * fresh key asks for exactly what it needs, so sporadic traffic wastes nothing.
 * Leased tokens expire RATELIMIT_LEASE_TTL_US (1 s) after the last grant.
 *
 * Bound. The shared row is itself a token bucket: what it grants during any
 * interval of T seconds is at most burst + rate * T. What a process spends in
 * that interval is what it was granted in it plus the balance it held at the
 * start, and that balance never exceeds one slice plus the low-water mark, so
 * N processes together spend at most burst + rate * T + N * 0.15 * rate. From
 * time 0 (no balances yet) the excess is zero. With 2 processes and T >= 3 s
 * the total stays under 110 % of rate * T + burst (tests/unit/test_ratelimit.c
 * simulates it); more processes share the same rate, so their observed rates
 * and slices shrink in proportion.
 *
 * The shared bucket, with ratelimit_shared_grant as its exact mirror
 * (integer arithmetic, millionths of a token, the database's clock):
 *
 *   CREATE TABLE rate_buckets (
 *       org_id       text   NOT NULL,
 *       token_id     text   NOT NULL,
 *       micro_tokens bigint NOT NULL, -- tokens left after the last grant, x 1e6
 *       updated_us   bigint NOT NULL, -- database clock of that refill, µs since the epoch
 *       granted      bigint NOT NULL, -- whole tokens the last statement granted
 *       PRIMARY KEY (org_id, token_id));
 *
 *   -- $1 org_id, $2 token_id, $3 rate (tokens/s, >= 1), $4 burst (tokens, >= 1),
 *   -- $5 requested (tokens, >= 1)
 *   INSERT INTO rate_buckets AS b (org_id, token_id, micro_tokens, updated_us, granted)
 *   VALUES ($1, $2, ($4::bigint - LEAST($5::bigint, $4::bigint)) * 1000000,
 *           (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
 *           LEAST($5::bigint, $4::bigint))
 *   ON CONFLICT (org_id, token_id) DO UPDATE
 *   SET (micro_tokens, granted, updated_us) = (
 *       SELECT r.avail - g.tokens * 1000000, g.tokens,
 *              GREATEST(b.updated_us, EXCLUDED.updated_us)
 *       FROM (SELECT LEAST($4::bigint * 1000000,
 *                          b.micro_tokens
 *                          + LEAST(GREATEST(EXCLUDED.updated_us - b.updated_us, 0),
 *                                  $4::bigint * 1000000 / $3::bigint + 1)
 *                            * $3::bigint) AS avail) AS r,
 *            LATERAL (SELECT LEAST($5::bigint, r.avail / 1000000) AS tokens) AS g)
 *   RETURNING granted, micro_tokens;
 *
 * The row lock taken by ON CONFLICT DO UPDATE serialises concurrent grants
 * for one token; the elapsed time is clamped (no overflow after long idle,
 * no refill when the clock steps back); a row is created full.
 */
#ifndef SCIMGATE_RATELIMIT_H
#define SCIMGATE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define RATELIMIT_UT 1000000LL                   /* millionths of a token per token */
#define RATELIMIT_MAX_RATE 1000000u              /* largest rate, tokens per second */
#define RATELIMIT_MAX_BURST 1000000u             /* largest capacity, tokens */
#define RATELIMIT_DEFAULT_MAX_ENTRIES ((size_t)1 << 18) /* 262,144 keys, 20 MiB of slots */
#define RATELIMIT_LEASE_TTL_US 1000000LL         /* leased tokens expire after 1 s */
#define RATELIMIT_LEASE_HORIZON_US 100000LL      /* a slice covers ~100 ms of spending */
#define RATELIMIT_LEASE_LOST_US 5000000LL        /* a request unanswered for 5 s is lost */

enum ratelimit_result {
    RATELIMIT_ALLOWED,   /* the units were taken */
    RATELIMIT_LIMITED,   /* not enough tokens now; nothing taken; see retry_after_ms */
    RATELIMIT_TOO_LARGE, /* more units than the capacity: can never succeed; nothing taken */
    RATELIMIT_WAIT,      /* lease ledger only: no leased tokens yet; retry after the grant */
};

struct ratelimit_config {
    uint32_t rate_per_sec; /* default refill, tokens per second (clamped to 1..MAX_RATE) */
    uint32_t burst;        /* default capacity, tokens (clamped to 1..MAX_BURST) */
    size_t max_entries;    /* hard cap on keys held; 0: RATELIMIT_DEFAULT_MAX_ENTRIES */
    uint64_t seed;         /* fingerprint key; 0: drawn from the OS random source */
};

struct ratelimit_stats {
    size_t entries;            /* keys held now */
    size_t slots;              /* slots allocated */
    size_t bytes;              /* memory held by the table */
    uint64_t evictions;        /* idle entries dropped (no information lost) */
    uint64_t forced_evictions; /* entries dropped at the max_entries cap */
    size_t longest_run;        /* longest run of used slots: bounds a lookup's cost */
};

/* ---- one process ---- */

struct ratelimit;

/* A limiter with the default max_entries and a random fingerprint key. New
 * object, freed with ratelimit_free. */
struct ratelimit *ratelimit_create(uint32_t default_rate_per_sec, uint32_t default_burst);
/* The same from a configuration (borrowed). */
struct ratelimit *ratelimit_create_config(const struct ratelimit_config *cfg);
/* NULL is accepted. */
void ratelimit_free(struct ratelimit *rl);

/* Takes `units` tokens (0 counts as 1) from key's bucket at time now_us
 * (a monotonic clock, µs; a clock stepping back refills nothing). key
 * (borrowed, any length) is e.g. the token's hash or id; rate_override and
 * burst_override replace the defaults when not 0. On RATELIMIT_LIMITED,
 * *retry_after_ms (may be NULL) is the time, rounded up, until `units`
 * tokens are there; otherwise it is 0. */
enum ratelimit_result ratelimit_take(struct ratelimit *rl, const char *key,
                                     uint32_t rate_override, uint32_t burst_override,
                                     uint32_t units, int64_t now_us, int64_t *retry_after_ms);

/* Examines up to max_slots slots after the clock hand and drops idle entries
 * there (for a periodic timer, so memory is returned when traffic stops;
 * the table may shrink). Returns the number of entries dropped. */
size_t ratelimit_expire(struct ratelimit *rl, int64_t now_us, size_t max_slots);

/* Fills *out; costs one pass over the slots (for a metrics scrape, not per request). */
void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out);

/* Whole seconds for a Retry-After header: ms rounded up, at least 1. */
int64_t ratelimit_retry_after_s(int64_t retry_after_ms);

/* ---- several processes: the local ledger of leased slices ---- */

struct ratelimit_lease;

struct ratelimit_lease_step {
    int64_t retry_after_ms; /* RATELIMIT_LIMITED: when a retry may succeed; else 0 */
    uint32_t request_units; /* > 0: ask the shared bucket for this many tokens now
                               and report with ratelimit_lease_grant */
};

/* A ledger (new object, freed with ratelimit_lease_free; NULL accepted). The
 * configuration (borrowed) gives the default rate and burst of the shared
 * buckets and the cap on keys held. */
struct ratelimit_lease *ratelimit_lease_create(const struct ratelimit_config *cfg);
void ratelimit_lease_free(struct ratelimit_lease *l);

/* Spends `units` (0 counts as 1) leased tokens of key at now_us. Returns
 * ALLOWED (spent), WAIT (not enough leased: park the request and take again
 * after the grant), LIMITED (the shared bucket is empty; step->retry_after_ms)
 * or TOO_LARGE (more than the burst). With ALLOWED or WAIT,
 * step->request_units > 0 means a slice request must be sent now; at most one
 * is outstanding per key (one unanswered for RATELIMIT_LEASE_LOST_US counts
 * as lost and may be replaced). */
enum ratelimit_result ratelimit_lease_take(struct ratelimit_lease *l, const char *key,
                                           uint32_t rate_override, uint32_t burst_override,
                                           uint32_t units, int64_t now_us,
                                           struct ratelimit_lease_step *step);

/* The shared bucket's answer to key's outstanding request: `granted` whole
 * tokens, with shared_micro_tokens left in the row (the statement's
 * RETURNING granted, micro_tokens). rate_override as for the take. */
void ratelimit_lease_grant(struct ratelimit_lease *l, const char *key, uint32_t rate_override,
                           uint32_t granted, int64_t shared_micro_tokens, int64_t now_us);

/* key's outstanding request failed (no answer): forget it. */
void ratelimit_lease_abort(struct ratelimit_lease *l, const char *key, int64_t now_us);

/* Like ratelimit_expire, for the ledger. */
size_t ratelimit_lease_expire(struct ratelimit_lease *l, int64_t now_us, size_t max_slots);

void ratelimit_lease_stats(const struct ratelimit_lease *l, struct ratelimit_stats *out);

/* ---- the shared bucket's arithmetic, mirrored by the SQL above ---- */

struct ratelimit_shared {
    int64_t micro_tokens; /* tokens left after the last grant, in millionths */
    int64_t updated_us;   /* clock of that refill, µs */
    int64_t granted;      /* whole tokens the last grant gave */
};

/* One execution of the statement on row (exists: whether the row was there;
 * when not, it is created full). Refills by the time elapsed since
 * row->updated_us (clamped at 0 and at the time to fill), caps at burst,
 * grants min(requested, whole tokens available) and returns that. rate and
 * burst are clamped as in the configuration. */
int64_t ratelimit_shared_grant(struct ratelimit_shared *row, bool exists, uint32_t rate,
                               uint32_t burst, uint32_t requested, int64_t now_us);

#endif
