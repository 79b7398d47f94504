/*
 * ratelimit_gate.c - the rate limit applied to requests.
 *
 * Local mode keeps one bucket per token in this process (ratelimit_take).
 * Shared mode, the default, lets any number of gateway processes serve one
 * token without exceeding its rate: each process spends only tokens it has
 * leased from the token's row in rate_buckets (ratelimit.h explains the
 * ledger and the bound). A request that finds no leased tokens waits for the
 * slice being requested (one statement per token at a time) and is resumed in
 * arrival order; once the shared bucket runs dry, requests are refused with
 * 429 locally without touching the database.
 */
#include "ratelimit_gate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "log.h"
#include "metrics.h"
#include "pg_pool.h"
#include "ratelimit.h"
#include "request.h"
#include "util.h"

struct waiter {
    struct request *req;
    uint32_t units;
    void (*resume)(struct request *req);
    struct waiter *next;
};

/* Requests of one token waiting for its slice. */
struct waitlist {
    char key[64];               /* token id */
    char org_id[64];
    uint32_t rate, burst;       /* the token's effective limits */
    uint32_t rate_override;
    struct waiter *head, *tail;
};

struct ratelimit_gate {
    struct gateway *gw;
    struct ratelimit *local;       /* local mode */
    struct ratelimit_lease *lease; /* shared mode */
    struct hmap *waiting;          /* token id -> struct waitlist (only while waiting) */
    struct event *sweeper;         /* drops idle buckets once a second */
    int pending;                   /* grant statements in flight */
    bool freed;
};

/* $1 org, $2 token, $3 rate, $4 burst, $5 requested: ratelimit_shared_grant in SQL. */
static const char *const grant_sql =
    "INSERT INTO rate_buckets AS b (org_id, token_id, micro_tokens, updated_us, granted)"
    " VALUES ($1, $2, ($4::bigint - LEAST($5::bigint, $4::bigint)) * 1000000,"
    "  (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,"
    "  LEAST($5::bigint, $4::bigint))"
    " ON CONFLICT (org_id, token_id) DO UPDATE"
    " SET (micro_tokens, granted, updated_us) = ("
    "  SELECT r.avail - g.tokens * 1000000, g.tokens, GREATEST(b.updated_us, EXCLUDED.updated_us)"
    "  FROM (SELECT LEAST($4::bigint * 1000000, b.micro_tokens"
    "    + LEAST(GREATEST(EXCLUDED.updated_us - b.updated_us, 0),"
    "            $4::bigint * 1000000 / $3::bigint + 1) * $3::bigint) AS avail) AS r,"
    "   LATERAL (SELECT LEAST($5::bigint, r.avail / 1000000) AS tokens) AS g)"
    " RETURNING granted, micro_tokens";

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    struct ratelimit_gate *g = arg;
    (void)fd;
    (void)what;
    int64_t now = util_mono_us();
    if (g->local)
        ratelimit_expire(g->local, now, 4096);
    if (g->lease)
        ratelimit_lease_expire(g->lease, now, 4096);
}

struct ratelimit_gate *ratelimit_gate_create(struct gateway *gw)
{
    const struct config *cfg = gw->cfg;
    struct ratelimit_gate *g = xcalloc(1, sizeof *g);
    g->gw = gw;
    struct ratelimit_config rc = {
        .rate_per_sec = cfg->rate_per_token > 0 ? (uint32_t)ceil(cfg->rate_per_token) : 1,
        .burst = (uint32_t)cfg->burst_per_token,
    };
    if (cfg->rate_limit_local)
        g->local = ratelimit_create_config(&rc);
    else
        g->lease = ratelimit_lease_create(&rc);
    g->waiting = hmap_create();
    g->sweeper = event_new(gw->base, -1, EV_PERSIST, sweep, g);
    struct timeval one = {1, 0};
    event_add(g->sweeper, &one);
    return g;
}

static void fail_all(struct waitlist *w, bool unavailable);

static void free_list(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    fail_all(value, true);
    free(value);
}

void ratelimit_gate_free(struct ratelimit_gate *g)
{
    if (!g)
        return;
    hmap_each(g->waiting, free_list, NULL);
    hmap_free(g->waiting);
    event_free(g->sweeper);
    ratelimit_free(g->local);
    ratelimit_lease_free(g->lease);
    if (g->pending)
        g->freed = true; /* the last grant answer frees it */
    else
        free(g);
}

/* ---- answers ---- */

static void reply_limited(struct request *req, int64_t retry_after_ms)
{
    char secs[24];
    int64_t s = ratelimit_retry_after_s(retry_after_ms);
    snprintf(secs, sizeof secs, "%lld", (long long)s);
    metrics_rate_limited(req->gw->metrics, "token_bucket");
    request_add_header(req, "Retry-After", secs);
    request_fail(req, 429, NULL,
                 "Too many requests for this token; retry after %lld second%s.", (long long)s,
                 s == 1 ? "" : "s");
}

static void reply_too_large(struct request *req, uint32_t units)
{
    request_fail(req, 413, NULL,
                 "This request needs %u operations, more than this token's burst allows.",
                 units);
}

/* The token's limits: its own, else the process defaults. */
static void limits_of(const struct request *req, uint32_t *rate_override,
                      uint32_t *burst_override, uint32_t *rate, uint32_t *burst)
{
    const struct config *cfg = req->gw->cfg;
    *rate_override = req->rate_per_sec > 0 ? (uint32_t)ceil(req->rate_per_sec) : 0;
    *burst_override = req->burst > 0 ? (uint32_t)req->burst : 0;
    *rate = *rate_override ? *rate_override : (uint32_t)ceil(cfg->rate_per_token);
    *burst = *burst_override ? *burst_override : (uint32_t)cfg->burst_per_token;
}

/* ---- shared mode ---- */

static void ask(struct ratelimit_gate *g, struct waitlist *w, uint32_t units);

static void fail_all(struct waitlist *w, bool unavailable)
{
    struct waiter *x;
    while ((x = w->head)) {
        w->head = x->next;
        if (unavailable)
            request_fail_unavailable(x->req);
        free(x);
    }
    w->tail = NULL;
}

/* Runs the waiters of w in order until one has to keep waiting. */
static void drain(struct ratelimit_gate *g, struct waitlist *w)
{
    struct waiter *x;
    while ((x = w->head)) {
        struct ratelimit_lease_step step = {0};
        uint32_t ro, bo, rate, burst;
        limits_of(x->req, &ro, &bo, &rate, &burst);
        enum ratelimit_result r = ratelimit_lease_take(g->lease, w->key, ro, bo, x->units,
                                                       util_mono_us(), &step);
        if (step.request_units)
            ask(g, w, step.request_units);
        if (r == RATELIMIT_WAIT)
            return;
        w->head = x->next;
        if (!w->head)
            w->tail = NULL;
        if (r == RATELIMIT_ALLOWED)
            x->resume(x->req);
        else if (r == RATELIMIT_TOO_LARGE)
            reply_too_large(x->req, x->units);
        else
            reply_limited(x->req, step.retry_after_ms);
        free(x);
    }
}

struct grant_ctx {
    struct ratelimit_gate *g;
    char key[64];
};

static void granted(struct pg_query *q, void *arg)
{
    struct grant_ctx *c = arg;
    struct ratelimit_gate *g = c->g;
    g->pending--;
    if (g->freed) {
        if (g->pending == 0)
            free(g);
        free(c);
        return;
    }
    struct waitlist *w = hmap_get(g->waiting, c->key);
    int64_t now = util_mono_us();
    if (pg_query_status(q) != PG_OK) {
        ratelimit_lease_abort(g->lease, c->key, now);
        if (w) {
            fail_all(w, true);
            free(hmap_del(g->waiting, c->key));
        }
        free(c);
        return;
    }
    const PGresult *r = pg_query_result(q, 0);
    uint32_t ro = w ? w->rate_override : 0;
    ratelimit_lease_grant(g->lease, c->key, ro, (uint32_t)pg_value_int(r, 0, 0),
                          pg_value_int(r, 0, 1), now);
    if (w) {
        drain(g, w);
        if (!w->head)
            free(hmap_del(g->waiting, c->key));
    }
    free(c);
}

static void ask(struct ratelimit_gate *g, struct waitlist *w, uint32_t units)
{
    struct grant_ctx *c = xcalloc(1, sizeof *c);
    c->g = g;
    snprintf(c->key, sizeof c->key, "%s", w->key);
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, grant_sql);
    pg_query_param(q, w->org_id);
    pg_query_param(q, w->key);
    pg_query_param_int(q, w->rate);
    pg_query_param_int(q, w->burst);
    pg_query_param_int(q, units);
    g->pending++;
    pg_pool_submit(g->gw->pool, q, granted, c);
}

static struct waitlist *list_for(struct ratelimit_gate *g, const struct request *req)
{
    struct waitlist *w = hmap_get(g->waiting, req->token_id);
    if (w)
        return w;
    w = xcalloc(1, sizeof *w);
    snprintf(w->key, sizeof w->key, "%s", req->token_id);
    snprintf(w->org_id, sizeof w->org_id, "%s", req->org_id);
    uint32_t bo;
    limits_of(req, &w->rate_override, &bo, &w->rate, &w->burst);
    hmap_put(g->waiting, w->key, w);
    return w;
}

static enum ratelimit_gate_result take_shared(struct ratelimit_gate *g, struct request *req,
                                              uint32_t units, void (*resume)(struct request *))
{
    struct waitlist *w = hmap_get(g->waiting, req->token_id);
    if (w && w->head) {
        /* Others are already waiting for this token: queue behind them. */
        struct waiter *x = xcalloc(1, sizeof *x);
        *x = (struct waiter){req, units, resume, NULL};
        w->tail->next = x;
        w->tail = x;
        return RATELIMIT_GATE_PARKED;
    }
    uint32_t ro, bo, rate, burst;
    limits_of(req, &ro, &bo, &rate, &burst);
    struct ratelimit_lease_step step = {0};
    enum ratelimit_result r =
        ratelimit_lease_take(g->lease, req->token_id, ro, bo, units, util_mono_us(), &step);
    if (step.request_units || r == RATELIMIT_WAIT)
        w = list_for(g, req);
    if (r == RATELIMIT_WAIT) {
        struct waiter *x = xcalloc(1, sizeof *x);
        *x = (struct waiter){req, units, resume, NULL};
        w->head = w->tail = x;
    }
    if (step.request_units)
        ask(g, w, step.request_units);
    else if (w && !w->head)
        free(hmap_del(g->waiting, w->key));
    switch (r) {
    case RATELIMIT_ALLOWED:
        return RATELIMIT_GATE_PASS;
    case RATELIMIT_WAIT:
        return RATELIMIT_GATE_PARKED;
    case RATELIMIT_TOO_LARGE:
        reply_too_large(req, units);
        return RATELIMIT_GATE_REPLIED;
    case RATELIMIT_LIMITED:
        break;
    }
    reply_limited(req, step.retry_after_ms);
    return RATELIMIT_GATE_REPLIED;
}

/* ---- both ---- */

enum ratelimit_gate_result ratelimit_gate_take(struct request *req, int units,
                                               void (*resume)(struct request *))
{
    struct ratelimit_gate *g = req->gw->gate;
    if (!g || (req->gw->cfg->rate_per_token <= 0 && req->rate_per_sec <= 0))
        return RATELIMIT_GATE_PASS;
    uint32_t u = units > 0 ? (uint32_t)units : 1;
    if (g->lease)
        return take_shared(g, req, u, resume);
    uint32_t ro, bo, rate, burst;
    limits_of(req, &ro, &bo, &rate, &burst);
    int64_t retry_ms = 0;
    switch (ratelimit_take(g->local, req->token_id, ro, bo, u, util_mono_us(), &retry_ms)) {
    case RATELIMIT_ALLOWED:
        return RATELIMIT_GATE_PASS;
    case RATELIMIT_TOO_LARGE:
        reply_too_large(req, u);
        return RATELIMIT_GATE_REPLIED;
    default:
        reply_limited(req, retry_ms);
        return RATELIMIT_GATE_REPLIED;
    }
}
