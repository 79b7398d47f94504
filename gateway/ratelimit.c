/*
 * ratelimit.c - token buckets and leased-slice ledgers in a fingerprint-keyed
 * open-addressing table that drops idle entries as it goes.
 *
 * The table (struct rl_table) is shared by both users: each slot starts with
 * struct rl_head (fingerprint and the time from which the entry may be
 * dropped) followed by the user's fields; `stride` is the slot size. Slot
 * pointers are valid only until the next insertion, tick or expiry.
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define RL_MIN_SLOTS 64     /* smallest table, a power of two */
#define RL_TICK_SLOTS 4     /* slots the clock hand examines per call */
#define RL_EVICT_SAMPLE 8   /* entries compared for a forced eviction */

struct rl_head {
    uint64_t fp;     /* fingerprint, first half; 0 marks an empty slot; low bits: home */
    uint64_t fp2;    /* fingerprint, second half */
    int64_t idle_at; /* from this time on the entry carries no information */
};

struct rl_table {
    unsigned char *slots; /* nslots slots of `stride` bytes */
    size_t stride;        /* slot size, a multiple of 8 starting with rl_head */
    size_t nslots;        /* a power of two */
    size_t count;         /* slots in use */
    size_t max_entries;   /* hard cap on count */
    size_t max_slots;     /* the table never grows beyond */
    size_t hand;          /* next slot the incremental eviction examines */
    size_t since_sweep;   /* insertions since the last sweep or resize */
    uint64_t evictions;   /* idle entries dropped */
    uint64_t forced;      /* entries dropped at the cap */
    uint64_t sip[4];      /* two SipHash keys: (sip[0], sip[1]) and (sip[2], sip[3]) */
};

struct bucket {
    struct rl_head h; /* h.idle_at: when the bucket is full again */
    int64_t tokens;   /* millionths of a token at `last` */
    int64_t last;     /* time of the last refill, µs */
};

struct lease_entry {
    struct rl_head h;      /* h.idle_at: kept while a request is outstanding */
    int64_t expires_at;    /* the balance is void from then on */
    int64_t limited_until; /* the shared bucket was empty: refuse locally until then */
    int64_t window_start;  /* start of the current observation of spending; also
                              when the outstanding request (if any) was made */
    uint32_t balance;      /* leased tokens not yet spent */
    uint32_t pending;      /* tokens asked for and not yet answered; 0: none */
    uint32_t spent;        /* tokens spent since window_start */
    uint32_t slice;        /* size of the last request; half of it is the low-water mark */
};

struct ratelimit {
    struct rl_table t; /* of struct bucket */
    uint32_t rate;     /* default tokens per second */
    uint32_t burst;    /* default capacity */
};

struct ratelimit_lease {
    struct rl_table t; /* of struct lease_entry */
    uint32_t rate;     /* default tokens per second of the shared buckets */
    uint32_t burst;    /* default capacity of the shared buckets */
};

static uint64_t siphash24(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len);
static void tbl_init(struct rl_table *t, size_t stride, const struct ratelimit_config *cfg);
static void tbl_clear(struct rl_table *t);
static struct rl_head *slot_at(const struct rl_table *t, size_t i);
static void tbl_fingerprint(const struct rl_table *t, const char *key, uint64_t *fp,
                            uint64_t *fp2);
static struct rl_head *tbl_find(const struct rl_table *t, uint64_t fp, uint64_t fp2);
static struct rl_head *tbl_insert(struct rl_table *t, uint64_t fp, uint64_t fp2, int64_t now);
static void tbl_delete(struct rl_table *t, size_t i);
static void tbl_rehash(struct rl_table *t, size_t nslots, int64_t now);
static void tbl_make_room(struct rl_table *t, uint64_t fp, int64_t now);
static void tbl_force_evict(struct rl_table *t, size_t from);
static size_t tbl_expire(struct rl_table *t, int64_t now, size_t max_slots);
static void tbl_tick(struct rl_table *t, int64_t now);
static void tbl_stats(const struct rl_table *t, size_t self, struct ratelimit_stats *out);

/* ---------------------------------------------------------------- helpers */

static uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static uint32_t pick_rate(uint32_t override, uint32_t dflt)
{
    return clamp_u32(override ? override : dflt, 1, RATELIMIT_MAX_RATE);
}

static uint32_t pick_burst(uint32_t override, uint32_t dflt)
{
    return clamp_u32(override ? override : dflt, 1, RATELIMIT_MAX_BURST);
}

static int64_t div_ceil(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

static int64_t us_to_ms_ceil(int64_t us)
{
    return div_ceil(us, 1000);
}

int64_t ratelimit_retry_after_s(int64_t retry_after_ms)
{
    int64_t s = div_ceil(retry_after_ms, 1000);
    return s < 1 ? 1 : s;
}

/* ------------------------------------------------------------ fingerprint */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL64(v[1], 13) ^ v[0];
    v[0] = ROTL64(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL64(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = ROTL64(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = ROTL64(v[1], 17) ^ v[2];
    v[2] = ROTL64(v[2], 32);
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* SipHash-2-4 (Aumasson and Bernstein), 64-bit output. */
static uint64_t siphash24(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                     k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(in + i);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)in[whole + i] << (8 * i);
    v[3] ^= last;
    sip_round(v);
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void tbl_fingerprint(const struct rl_table *t, const char *key, uint64_t *fp,
                            uint64_t *fp2)
{
    size_t len = strlen(key);
    uint64_t h = siphash24(t->sip[0], t->sip[1], (const unsigned char *)key, len);
    *fp = h ? h : 1; /* 0 marks empty slots */
    *fp2 = siphash24(t->sip[2], t->sip[3], (const unsigned char *)key, len);
}

/* ------------------------------------------------------------------ table */

static void tbl_init(struct rl_table *t, size_t stride, const struct ratelimit_config *cfg)
{
    memset(t, 0, sizeof *t);
    t->stride = stride;
    t->max_entries = cfg->max_entries ? cfg->max_entries : RATELIMIT_DEFAULT_MAX_ENTRIES;
    t->max_slots = RL_MIN_SLOTS;
    while (t->max_slots / 2 < t->max_entries)
        t->max_slots *= 2;
    t->nslots = RL_MIN_SLOTS;
    t->slots = xcalloc(t->nslots, stride);
    if (cfg->seed) {
        uint64_t s = cfg->seed;
        for (int i = 0; i < 4; i++)
            t->sip[i] = splitmix64(&s);
    } else {
        util_random(t->sip, sizeof t->sip);
    }
}

static void tbl_clear(struct rl_table *t)
{
    free(t->slots);
    t->slots = NULL;
}

static struct rl_head *slot_at(const struct rl_table *t, size_t i)
{
    return (struct rl_head *)(void *)(t->slots + i * t->stride);
}

static struct rl_head *tbl_find(const struct rl_table *t, uint64_t fp, uint64_t fp2)
{
    size_t mask = t->nslots - 1;
    for (size_t i = fp & mask;; i = (i + 1) & mask) {
        struct rl_head *h = slot_at(t, i);
        if (!h->fp)
            return NULL;
        if (h->fp == fp && h->fp2 == fp2)
            return h;
    }
}

/* Places an entry without any checks (the table has a free slot). */
static struct rl_head *tbl_place(struct rl_table *t, uint64_t fp)
{
    size_t mask = t->nslots - 1;
    size_t i = fp & mask;
    while (slot_at(t, i)->fp)
        i = (i + 1) & mask;
    t->count++;
    return slot_at(t, i);
}

/* A new zeroed entry; the caller sets idle_at and its own fields. */
static struct rl_head *tbl_insert(struct rl_table *t, uint64_t fp, uint64_t fp2, int64_t now)
{
    tbl_make_room(t, fp, now);
    struct rl_head *h = tbl_place(t, fp);
    h->fp = fp;
    h->fp2 = fp2;
    t->since_sweep++;
    return h;
}

/* Backward-shift deletion: later entries of the probe run move into the hole
 * unless their home slot lies (cyclically) after it, so no tombstones. */
static void tbl_delete(struct rl_table *t, size_t i)
{
    size_t mask = t->nslots - 1;
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        struct rl_head *hj = slot_at(t, j);
        if (!hj->fp)
            break;
        size_t home = hj->fp & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            memcpy(slot_at(t, i), hj, t->stride);
            i = j;
        }
    }
    memset(slot_at(t, i), 0, t->stride);
    t->count--;
}

/* Moves every live entry into a fresh array of nslots slots, dropping idle
 * ones on the way; serves as sweep, growth and shrink. */
static void tbl_rehash(struct rl_table *t, size_t nslots, int64_t now)
{
    struct rl_table old = *t;
    t->slots = xcalloc(nslots, t->stride);
    t->nslots = nslots;
    t->count = 0;
    t->hand = 0;
    t->since_sweep = 0;
    for (size_t i = 0; i < old.nslots; i++) {
        struct rl_head *h = slot_at(&old, i);
        if (!h->fp)
            continue;
        if (h->idle_at <= now) {
            t->evictions++;
            continue;
        }
        memcpy(tbl_place(t, h->fp), h, t->stride);
    }
    free(old.slots);
}

/* Called before inserting fp: keeps the load at most 1/2 and the count
 * below the cap. A sweep costs O(nslots) and follows at least nslots/4
 * insertions, so its cost per insertion is constant. */
static void tbl_make_room(struct rl_table *t, uint64_t fp, int64_t now)
{
    size_t limit = t->nslots / 2 < t->max_entries ? t->nslots / 2 : t->max_entries;
    if (t->count < limit)
        return;
    if (t->since_sweep >= t->nslots / 4) {
        tbl_rehash(t, t->nslots, now);
        if (t->count < limit - limit / 4)
            return;
    }
    if (t->nslots < t->max_slots)
        tbl_rehash(t, t->nslots * 2, now);
    else if (t->count >= t->max_entries)
        tbl_force_evict(t, fp & (t->nslots - 1));
}

/* At the cap with nothing idle: drop, of the first few entries from the new
 * key's home slot on, the one that becomes idle first (its loss matters
 * least). Sampling where the key lands, a uniformly random place, shortens
 * the run it joins; sampling at one moving place (the hand) would delete in
 * step with it and let backward shifts pile entries into one long run. */
static void tbl_force_evict(struct rl_table *t, size_t from)
{
    size_t mask = t->nslots - 1, best = SIZE_MAX, seen = 0;
    for (size_t k = 0; k < t->nslots && seen < RL_EVICT_SAMPLE; k++) {
        size_t i = (from + k) & mask;
        struct rl_head *h = slot_at(t, i);
        if (!h->fp)
            continue;
        seen++;
        if (best == SIZE_MAX || h->idle_at < slot_at(t, best)->idle_at)
            best = i;
    }
    if (best == SIZE_MAX)
        return;
    tbl_delete(t, best);
    t->forced++;
}

static size_t tbl_expire(struct rl_table *t, int64_t now, size_t max_slots)
{
    uint64_t before = t->evictions;
    for (size_t k = 0; k < max_slots && k < t->nslots; k++) {
        struct rl_head *h = slot_at(t, t->hand);
        if (h->fp && h->idle_at <= now) {
            /* The shift may pull a later entry into this slot: look again. */
            tbl_delete(t, t->hand);
            t->evictions++;
        } else {
            t->hand = (t->hand + 1) & (t->nslots - 1);
        }
    }
    if (t->nslots > RL_MIN_SLOTS && t->count < t->nslots / 16)
        tbl_rehash(t, t->nslots / 2, now);
    return (size_t)(t->evictions - before);
}

static void tbl_tick(struct rl_table *t, int64_t now)
{
    tbl_expire(t, now, RL_TICK_SLOTS);
}

static void tbl_stats(const struct rl_table *t, size_t self, struct ratelimit_stats *out)
{
    out->entries = t->count;
    out->slots = t->nslots;
    out->bytes = self + t->nslots * t->stride;
    out->evictions = t->evictions;
    out->forced_evictions = t->forced;
    size_t run = 0, longest = 0;
    /* Twice round, so a run that wraps past the end is measured whole. */
    for (size_t k = 0; k < 2 * t->nslots && t->count < t->nslots; k++) {
        run = slot_at(t, k & (t->nslots - 1))->fp ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    out->longest_run = longest;
}

/* ---------------------------------------------------------------- buckets */

struct ratelimit *ratelimit_create(uint32_t default_rate_per_sec, uint32_t default_burst)
{
    struct ratelimit_config cfg = {.rate_per_sec = default_rate_per_sec,
                                   .burst = default_burst};
    return ratelimit_create_config(&cfg);
}

struct ratelimit *ratelimit_create_config(const struct ratelimit_config *cfg)
{
    struct ratelimit *rl = xcalloc(1, sizeof *rl);
    tbl_init(&rl->t, sizeof(struct bucket), cfg);
    rl->rate = pick_rate(cfg->rate_per_sec, 1);
    rl->burst = pick_burst(cfg->burst, 1);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    tbl_clear(&rl->t);
    free(rl);
}

/* Adds the tokens earned since b->last, up to the capacity (which an
 * override may have lowered since). */
static void bucket_refill(struct bucket *b, uint32_t rate, uint32_t burst, int64_t now)
{
    int64_t cap = (int64_t)burst * RATELIMIT_UT;
    if (now > b->last) {
        int64_t elapsed = now - b->last;
        int64_t deficit = cap - b->tokens;
        /* Comparing with the time to fill first keeps elapsed * rate small. */
        if (elapsed >= div_ceil(deficit, rate))
            b->tokens = cap;
        else
            b->tokens += elapsed * rate;
        b->last = now;
    }
    if (b->tokens > cap)
        b->tokens = cap;
    b->h.idle_at = b->last + div_ceil(cap - b->tokens, rate);
}

static struct bucket *bucket_get(struct ratelimit *rl, const char *key, uint32_t burst,
                                 int64_t now)
{
    uint64_t fp, fp2;
    tbl_fingerprint(&rl->t, key, &fp, &fp2);
    struct bucket *b = (struct bucket *)(void *)tbl_find(&rl->t, fp, fp2);
    if (!b) {
        b = (struct bucket *)(void *)tbl_insert(&rl->t, fp, fp2, now);
        b->tokens = (int64_t)burst * RATELIMIT_UT;
        b->last = now;
    }
    return b;
}

enum ratelimit_result ratelimit_take(struct ratelimit *rl, const char *key,
                                     uint32_t rate_override, uint32_t burst_override,
                                     uint32_t units, int64_t now_us, int64_t *retry_after_ms)
{
    uint32_t rate = pick_rate(rate_override, rl->rate);
    uint32_t burst = pick_burst(burst_override, rl->burst);
    int64_t dummy;
    int64_t *retry = retry_after_ms ? retry_after_ms : &dummy;
    *retry = 0;
    units = units ? units : 1;
    if (units > burst)
        return RATELIMIT_TOO_LARGE;
    tbl_tick(&rl->t, now_us);
    struct bucket *b = bucket_get(rl, key, burst, now_us);
    bucket_refill(b, rate, burst, now_us);
    int64_t need = (int64_t)units * RATELIMIT_UT;
    if (b->tokens < need) {
        *retry = us_to_ms_ceil(div_ceil(need - b->tokens, rate));
        return RATELIMIT_LIMITED;
    }
    b->tokens -= need;
    b->h.idle_at = b->last + div_ceil((int64_t)burst * RATELIMIT_UT - b->tokens, rate);
    return RATELIMIT_ALLOWED;
}

size_t ratelimit_expire(struct ratelimit *rl, int64_t now_us, size_t max_slots)
{
    return tbl_expire(&rl->t, now_us, max_slots);
}

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out)
{
    tbl_stats(&rl->t, sizeof *rl, out);
}

/* ----------------------------------------------------------- lease ledger */

struct ratelimit_lease *ratelimit_lease_create(const struct ratelimit_config *cfg)
{
    struct ratelimit_lease *l = xcalloc(1, sizeof *l);
    tbl_init(&l->t, sizeof(struct lease_entry), cfg);
    l->rate = pick_rate(cfg->rate_per_sec, 1);
    l->burst = pick_burst(cfg->burst, 1);
    return l;
}

void ratelimit_lease_free(struct ratelimit_lease *l)
{
    if (!l)
        return;
    tbl_clear(&l->t);
    free(l);
}

static struct lease_entry *lease_get(struct ratelimit_lease *l, const char *key, int64_t now)
{
    uint64_t fp, fp2;
    tbl_fingerprint(&l->t, key, &fp, &fp2);
    struct lease_entry *e = (struct lease_entry *)(void *)tbl_find(&l->t, fp, fp2);
    if (!e) {
        e = (struct lease_entry *)(void *)tbl_insert(&l->t, fp, fp2, now);
        e->window_start = now;
    }
    if (now >= e->expires_at)
        e->balance = 0;
    /* An answer that never came must not block the key for good. */
    if (e->pending && now - e->window_start >= RATELIMIT_LEASE_LOST_US)
        e->pending = 0;
    return e;
}

static void lease_set_idle(struct lease_entry *e, int64_t now)
{
    int64_t idle = e->balance ? e->expires_at : now;
    if (e->limited_until > idle)
        idle = e->limited_until;
    if (e->pending && idle < e->window_start + RATELIMIT_LEASE_LOST_US)
        idle = e->window_start + RATELIMIT_LEASE_LOST_US;
    e->h.idle_at = idle;
}

/* The next slice: the spending seen since the last request, projected over
 * the lease horizon, within [1, rate/10], and at least `need`. A fresh entry
 * has seen nothing and asks for `need` only. */
static uint32_t lease_slice(struct lease_entry *e, uint32_t rate, uint32_t need, int64_t now)
{
    int64_t max_slice = rate / 10 ? rate / 10 : 1;
    int64_t elapsed = now - e->window_start;
    int64_t est = 1;
    if (e->spent > 0)
        est = elapsed > 0 ? div_ceil((int64_t)e->spent * RATELIMIT_LEASE_HORIZON_US, elapsed)
                          : max_slice;
    est = est < 1 ? 1 : est > max_slice ? max_slice : est;
    uint32_t slice = (uint32_t)est > need ? (uint32_t)est : need;
    e->window_start = now;
    e->spent = 0;
    e->slice = slice;
    e->pending = slice;
    return slice;
}

enum ratelimit_result ratelimit_lease_take(struct ratelimit_lease *l, const char *key,
                                           uint32_t rate_override, uint32_t burst_override,
                                           uint32_t units, int64_t now_us,
                                           struct ratelimit_lease_step *step)
{
    uint32_t rate = pick_rate(rate_override, l->rate);
    uint32_t burst = pick_burst(burst_override, l->burst);
    memset(step, 0, sizeof *step);
    units = units ? units : 1;
    if (units > burst)
        return RATELIMIT_TOO_LARGE;
    tbl_tick(&l->t, now_us);
    struct lease_entry *e = lease_get(l, key, now_us);
    enum ratelimit_result r;
    if (e->balance >= units) {
        e->balance -= units;
        e->spent += units;
        /* Prefetch only for a stream: one request now and then asks when
         * it comes, so it leases exactly one token and wastes nothing. */
        if (!e->pending && e->spent >= 2 && e->balance <= e->slice / 2)
            step->request_units = lease_slice(e, rate, 1, now_us);
        r = RATELIMIT_ALLOWED;
    } else if (now_us < e->limited_until) {
        int64_t refill_us = div_ceil((int64_t)(units - e->balance) * RATELIMIT_UT, rate);
        int64_t wait_us = e->limited_until - now_us;
        step->retry_after_ms = us_to_ms_ceil(wait_us > refill_us ? wait_us : refill_us);
        r = RATELIMIT_LIMITED;
    } else {
        if (!e->pending)
            step->request_units = lease_slice(e, rate, units - e->balance, now_us);
        r = RATELIMIT_WAIT;
    }
    lease_set_idle(e, now_us);
    return r;
}

void ratelimit_lease_grant(struct ratelimit_lease *l, const char *key, uint32_t rate_override,
                           uint32_t granted, int64_t shared_micro_tokens, int64_t now_us)
{
    uint32_t rate = pick_rate(rate_override, l->rate);
    struct lease_entry *e = lease_get(l, key, now_us);
    uint32_t asked = e->pending;
    e->pending = 0;
    e->balance = granted > UINT32_MAX - e->balance ? UINT32_MAX : e->balance + granted;
    e->expires_at = now_us + RATELIMIT_LEASE_TTL_US;
    if (granted < asked || granted == 0) {
        /* The shared bucket is dry: no query until it can hold what was
         * asked (at most a slice). Waking at every single token would make
         * each process query the row rate times a second. */
        int64_t max_slice = rate / 10 ? rate / 10 : 1;
        int64_t want = asked < 1 ? 1 : asked > max_slice ? max_slice : asked;
        int64_t missing = want * RATELIMIT_UT - shared_micro_tokens;
        e->limited_until = now_us + (missing > 0 ? div_ceil(missing, rate) : 0);
    }
    lease_set_idle(e, now_us);
}

void ratelimit_lease_abort(struct ratelimit_lease *l, const char *key, int64_t now_us)
{
    uint64_t fp, fp2;
    tbl_fingerprint(&l->t, key, &fp, &fp2);
    struct lease_entry *e = (struct lease_entry *)(void *)tbl_find(&l->t, fp, fp2);
    if (!e)
        return;
    e->pending = 0;
    lease_set_idle(e, now_us);
}

size_t ratelimit_lease_expire(struct ratelimit_lease *l, int64_t now_us, size_t max_slots)
{
    return tbl_expire(&l->t, now_us, max_slots);
}

void ratelimit_lease_stats(const struct ratelimit_lease *l, struct ratelimit_stats *out)
{
    tbl_stats(&l->t, sizeof *l, out);
}

/* ---------------------------------------------------------- shared bucket */

int64_t ratelimit_shared_grant(struct ratelimit_shared *row, bool exists, uint32_t rate,
                               uint32_t burst, uint32_t requested, int64_t now_us)
{
    int64_t r = pick_rate(rate, 1), cap_tokens = pick_burst(burst, 1);
    int64_t cap = cap_tokens * RATELIMIT_UT, req = requested;
    if (!exists) {
        int64_t g = req < cap_tokens ? req : cap_tokens;
        row->micro_tokens = (cap_tokens - g) * RATELIMIT_UT;
        row->updated_us = now_us;
        row->granted = g;
        return g;
    }
    int64_t elapsed = now_us - row->updated_us;
    elapsed = elapsed < 0 ? 0 : elapsed;
    if (elapsed > cap / r + 1)
        elapsed = cap / r + 1;
    int64_t avail = row->micro_tokens + elapsed * r;
    avail = avail < cap ? avail : cap;
    int64_t whole = avail / RATELIMIT_UT;
    int64_t g = req < whole ? req : whole;
    row->micro_tokens = avail - g * RATELIMIT_UT;
    row->granted = g;
    row->updated_us = row->updated_us > now_us ? row->updated_us : now_us;
    return g;
}
