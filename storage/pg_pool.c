/*
 * pg_pool.c - herding queries onto connections.
 *
 * Queries wait in one FIFO until a connection is ready and has room (fewer
 * than max_inflight pipelined segments). A lease request waits in the same
 * FIFO for a connection with nothing in flight and keeps it until released.
 * Finished queries are moved to a "done" list and their callbacks run from a
 * separate event, so no callback ever runs inside pg_pool_submit or inside a
 * connection's read handler: callers may submit and carry on.
 *
 * While no connection is up (the database is down or restarting), new work
 * fails at once with PG_ERR_UNAVAILABLE (the HTTP layer answers 503 with
 * Retry-After) instead of piling up; connections keep retrying with backoff.
 *
 * Group commit: writes wait in their own queue. When a lane is free, every
 * write queued so far (up to group_commit_max) is sent as ONE pipeline
 * segment: one implicit transaction, one commit, one WAL flush, in key order.
 * Writes that arrive meanwhile wait for the next group. On success each write
 * gets its own statements' results; if a statement fails, the group rolled
 * back entirely and each write runs again alone, so outcomes are exactly what
 * they would have been without grouping.
 */
#include "pg_pool.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg_conn.h"
#include "pg_internal.h"
#include "util.h"

struct pool_slot {
    struct pg_pool *pool;
    struct pg_conn *conn;
    bool held;             /* leased through pg_pool_acquire */
};

struct pg_pool {
    struct event_base *base;
    struct pg_pool_opts opts;
    struct pool_slot *slots;
    struct pg_query_list waiting;  /* queries and lease requests, oldest first */
    int nwaiting;
    struct pg_query_list done;     /* finished, callbacks not yet run */
    struct event *done_ev;         /* runs the callbacks of `done` */
    struct event *queue_timer;     /* expires waiters older than queue_timeout_ms */
    uint64_t queries, failures;
    void (*observer)(double, bool, void *);
    void *observer_arg;
    struct pg_query_list writes;   /* writes waiting for a group commit */
    int nwrites;
    int lanes_busy;                /* group commits in flight */
    struct event *group_ev;        /* starts groups from the loop */
    uint64_t commits, grouped, regrouped;
    bool closing;                  /* pg_pool_free is running: fail everything new */
    const char *notify_channel;    /* the NOTIFY in flight, or NULL */
    const char *notify_next;       /* a NOTIFY to send after it, or NULL */
};

struct group {
    struct pg_pool *pool;
    struct pg_query **members;     /* in statement order */
    int n;
};

void pg_pool_set_observer(struct pg_pool *pool, void (*fn)(double, bool, void *), void *arg)
{
    pool->observer = fn;
    pool->observer_arg = arg;
}

static void dispatch(struct pg_pool *pool);
static void enqueue(struct pg_pool *pool, struct pg_query *q);
static void on_group_ev(evutil_socket_t fd, short what, void *arg);

static void finish(struct pg_pool *pool, struct pg_query *q)
{
    TAILQ_INSERT_TAIL(&pool->done, q, link);
    event_active(pool->done_ev, EV_TIMEOUT, 0);
}

static void fail(struct pg_pool *pool, struct pg_query *q, enum pg_status st, const char *msg)
{
    pg_query_fail(q, st, NULL, msg);
    finish(pool, q);
}

static void send_notify(struct pg_pool *pool, const char *channel);

static void notify_sent(struct pg_query *q, void *arg)
{
    struct pg_pool *pool = arg;
    (void)q; /* a lost notification only delays a listener until it polls */
    pool->notify_channel = NULL;
    const char *next = pool->notify_next;
    pool->notify_next = NULL;
    if (next)
        send_notify(pool, next);
}

/* A write that asked for it committed: notify its channel, coalesced with
 * the other commits of the meantime. */
static void send_notify(struct pg_pool *pool, const char *channel)
{
    if (pool->closing)
        return;
    bool tracked = !pool->notify_channel;
    if (!tracked && (!pool->notify_next || strcmp(pool->notify_next, channel) == 0)) {
        /* One queued notification is enough: listeners read everything
         * committed when they wake. */
        pool->notify_next = channel;
        return;
    }
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT pg_notify($1, '')");
    pg_query_param(q, channel);
    if (tracked) {
        pool->notify_channel = channel;
        pg_pool_submit(pool, q, notify_sent, pool);
    } else {
        pg_pool_submit(pool, q, NULL, NULL); /* a third channel: not coalesced */
    }
}

static void run_done(evutil_socket_t fd, short what, void *arg)
{
    struct pg_pool *pool = arg;
    struct pg_query *q;
    (void)fd;
    (void)what;
    while ((q = TAILQ_FIRST(&pool->done))) {
        TAILQ_REMOVE(&pool->done, q, link);
        if (q->acquire_cb) {
            bool ok = q->status == PG_PENDING || q->status == PG_OK;
            q->acquire_cb(ok ? q->acquired : NULL, ok ? PG_OK : q->status, q->arg);
            pg_query_free(q);
            continue;
        }
        pool->queries++;
        bool ok = q->status == PG_PENDING || q->status == PG_OK;
        if (!ok)
            pool->failures++;
        else if (q->notify)
            send_notify(pool, q->notify);
        if (pool->observer)
            pool->observer((double)(util_mono_us() - q->created_us) / 1e6, ok, pool->observer_arg);
        pg_query_complete(q);
    }
}

static void fail_waiting(struct pg_pool *pool, enum pg_status st, const char *msg,
                         int64_t older_than_us)
{
    struct pg_query *q, *next;
    for (q = TAILQ_FIRST(&pool->waiting); q; q = next) {
        next = TAILQ_NEXT(q, link);
        if (older_than_us && q->created_us > older_than_us)
            continue;
        TAILQ_REMOVE(&pool->waiting, q, link);
        pool->nwaiting--;
        fail(pool, q, st, msg);
    }
}

static void arm_queue_timer(struct pg_pool *pool)
{
    struct pg_query *oldest = TAILQ_FIRST(&pool->waiting);
    if (!oldest) {
        event_del(pool->queue_timer);
        return;
    }
    int64_t due = oldest->created_us + (int64_t)pool->opts.queue_timeout_ms * 1000;
    int64_t left = due - util_mono_us();
    if (left < 0)
        left = 0;
    struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
    evtimer_add(pool->queue_timer, &tv);
}

static void on_queue_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pg_pool *pool = arg;
    (void)fd;
    (void)what;
    int64_t cutoff = util_mono_us() - (int64_t)pool->opts.queue_timeout_ms * 1000;
    fail_waiting(pool, PG_ERR_TIMEOUT, "timed out waiting for a database connection",
                 cutoff);
    arm_queue_timer(pool);
}

/* Leases never take the whole pool: transactions waiting on a row lock must
 * not starve every other request (at most size - 2, and at least 1). */
static bool lease_allowed(const struct pg_pool *pool)
{
    int held = 0, cap = pool->opts.size - 2 < 1 ? 1 : pool->opts.size - 2;
    for (int i = 0; i < pool->opts.size; i++)
        held += pool->slots[i].held;
    return held < cap;
}

static struct pool_slot *pick(struct pg_pool *pool, bool need_idle)
{
    struct pool_slot *best = NULL;
    if (need_idle && !lease_allowed(pool))
        return NULL;
    for (int i = 0; i < pool->opts.size; i++) {
        struct pool_slot *s = &pool->slots[i];
        if (s->held || !pg_conn_ready(s->conn))
            continue;
        int n = pg_conn_inflight(s->conn);
        if (n >= (need_idle ? 1 : pool->opts.max_inflight))
            continue;
        if (!best || n < pg_conn_inflight(best->conn))
            best = s;
        if (n == 0)
            break;
    }
    return best;
}

static void dispatch(struct pg_pool *pool)
{
    struct pg_query *q, *next;
    /* In arrival order; a lease that has to wait does not hold up the plain
     * queries behind it (those need any connection with room). */
    for (q = TAILQ_FIRST(&pool->waiting); q; q = next) {
        next = TAILQ_NEXT(q, link);
        struct pool_slot *s = pick(pool, q->acquire_cb != NULL);
        if (!s) {
            if (q->acquire_cb)
                continue;
            break;
        }
        TAILQ_REMOVE(&pool->waiting, q, link);
        pool->nwaiting--;
        if (q->acquire_cb) {
            s->held = true;
            q->acquired = s->conn;
            finish(pool, q);
        } else {
            pg_conn_send(s->conn, q);
        }
    }
    arm_queue_timer(pool);
}

static void hook_ready(struct pg_conn *c, void *arg)
{
    struct pool_slot *s = arg;
    (void)c;
    dispatch(s->pool);
}

static void hook_down(struct pg_conn *c, void *arg)
{
    struct pool_slot *s = arg;
    (void)c;
    if (!pg_pool_up(s->pool))
        fail_waiting(s->pool, PG_ERR_UNAVAILABLE, "the database is unavailable", 0);
}

static void hook_done(struct pg_conn *c, struct pg_query *q, void *arg)
{
    struct pool_slot *s = arg;
    (void)c;
    finish(s->pool, q);
}

static const struct pg_conn_hooks pool_hooks = {
    .on_ready = hook_ready,
    .on_down = hook_down,
    .on_done = hook_done,
};

struct pg_pool *pg_pool_create(struct event_base *base, const struct pg_pool_opts *opts)
{
    struct pg_pool *pool = xcalloc(1, sizeof *pool);
    pool->base = base;
    pool->opts = *opts;
    if (pool->opts.size < 1)
        pool->opts.size = 1;
    if (pool->opts.max_inflight < 1)
        pool->opts.max_inflight = 1;
    if (pool->opts.max_queue < 1)
        pool->opts.max_queue = 10000;
    if (pool->opts.queue_timeout_ms < 1)
        pool->opts.queue_timeout_ms = 5000;
    TAILQ_INIT(&pool->waiting);
    TAILQ_INIT(&pool->done);
    pool->done_ev = event_new(base, -1, 0, run_done, pool);
    TAILQ_INIT(&pool->writes);
    pool->group_ev = event_new(base, -1, 0, on_group_ev, pool);
    if (pool->opts.group_commit_max < 1)
        pool->opts.group_commit_max = 64;
    if (pool->opts.group_commit_lanes < 1)
        pool->opts.group_commit_lanes = 1;
    pool->queue_timer = evtimer_new(base, on_queue_timer, pool);
    struct pg_conn_opts copts = {
        .conninfo = opts->conninfo,
        .application_name = opts->application_name,
        .query_timeout_ms = opts->query_timeout_ms > 0 ? opts->query_timeout_ms : 10000,
        .prepare = opts->prepare,
    };
    pool->slots = xcalloc((size_t)pool->opts.size, sizeof *pool->slots);
    for (int i = 0; i < pool->opts.size; i++) {
        pool->slots[i].pool = pool;
        pool->slots[i].conn = pg_conn_create(base, &copts, &pool_hooks, &pool->slots[i]);
        pg_conn_start(pool->slots[i].conn);
    }
    /* The strings belong to the caller; the connections copied what they need. */
    pool->opts.conninfo = NULL;
    pool->opts.application_name = NULL;
    return pool;
}

void pg_pool_free(struct pg_pool *pool)
{
    if (!pool)
        return;
    /* From here on every submission fails at once; callbacks below may submit
     * again (the next step of a /Bulk request) and must find no connection. */
    pool->closing = true;
    for (int i = 0; i < pool->opts.size; i++) {
        pg_conn_free(pool->slots[i].conn);
        pool->slots[i].conn = NULL;
    }
    fail_waiting(pool, PG_ERR_UNAVAILABLE, "shutting down", 0);
    struct pg_query *w;
    while ((w = TAILQ_FIRST(&pool->writes))) {
        TAILQ_REMOVE(&pool->writes, w, link);
        pool->nwrites--;
        fail(pool, w, PG_ERR_UNAVAILABLE, "shutting down");
    }
    while (!TAILQ_EMPTY(&pool->done))
        run_done(-1, 0, pool);
    event_free(pool->group_ev);
    event_free(pool->done_ev);
    event_free(pool->queue_timer);
    free(pool->slots);
    free(pool);
}

bool pg_pool_up(const struct pg_pool *pool)
{
    if (pool->closing)
        return false;
    for (int i = 0; i < pool->opts.size; i++)
        if (pg_conn_ready(pool->slots[i].conn))
            return true;
    return false;
}

bool pg_pool_settled(const struct pg_pool *pool)
{
    if (pool->closing || pg_pool_up(pool))
        return true;
    for (int i = 0; i < pool->opts.size; i++)
        if (pg_conn_failures(pool->slots[i].conn) == 0)
            return false;
    return true;
}

void pg_pool_get_stats(const struct pg_pool *pool, struct pg_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    out->size = pool->opts.size;
    for (int i = 0; i < pool->opts.size && !pool->closing; i++) {
        const struct pool_slot *s = &pool->slots[i];
        out->connected += pg_conn_ready(s->conn);
        out->busy += pg_conn_inflight(s->conn) > 0;
        out->held += s->held;
    }
    out->waiting = pool->nwaiting + pool->nwrites;
    out->queries = pool->queries;
    out->failures = pool->failures;
    out->commits = pool->commits;
    out->grouped = pool->grouped;
    out->regrouped = pool->regrouped;
}

static void enqueue(struct pg_pool *pool, struct pg_query *q)
{
    if (!pg_pool_up(pool)) {
        fail(pool, q, PG_ERR_UNAVAILABLE, "the database is unavailable");
        return;
    }
    if (pool->nwaiting >= pool->opts.max_queue) {
        fail(pool, q, PG_ERR_UNAVAILABLE, "too many queries waiting");
        return;
    }
    q->created_us = util_mono_us();
    TAILQ_INSERT_TAIL(&pool->waiting, q, link);
    pool->nwaiting++;
    dispatch(pool);
}

void pg_pool_submit(struct pg_pool *pool, struct pg_query *q, pg_query_cb cb, void *arg)
{
    q->cb = cb;
    q->arg = arg;
    if (q->nstmts == 0) {
        finish(pool, q);
        return;
    }
    enqueue(pool, q);
}

void pg_pool_acquire(struct pg_pool *pool, pg_acquire_cb cb, void *arg)
{
    struct pg_query *q = pg_query_new();
    q->acquire_cb = cb;
    q->arg = arg;
    enqueue(pool, q);
}

void pg_pool_submit_on(struct pg_pool *pool, struct pg_conn *conn, struct pg_query *q,
                       pg_query_cb cb, void *arg)
{
    q->cb = cb;
    q->arg = arg;
    if (pool->closing) {
        fail(pool, q, PG_ERR_UNAVAILABLE, "shutting down");
        return;
    }
    pg_conn_send(conn, q);
}

void pg_pool_release(struct pg_pool *pool, struct pg_conn *conn)
{
    if (pool->closing)
        return;
    for (int i = 0; i < pool->opts.size; i++) {
        struct pool_slot *s = &pool->slots[i];
        if (s->conn != conn)
            continue;
        s->held = false;
        if (pg_conn_in_transaction(conn)) {
            struct pg_query *q = pg_query_new();
            pg_query_sql(q, "ROLLBACK");
            pg_conn_send(conn, q);
        }
        dispatch(pool);
        return;
    }
    util_fatal("pg_pool_release of a connection not in the pool");
}

/* ---- group commit ---- */

static int by_key(const void *a, const void *b)
{
    const struct pg_query *x = *(struct pg_query *const *)a, *y = *(struct pg_query *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->created_us < y->created_us ? -1 : x->created_us > y->created_us);
}

/* Member index of combined statement k: order[] holds member << 16 | stmt. */
static int member_of(const struct pg_query *combined, int k)
{
    return combined->order[k] >> 16;
}

static void group_done(struct pg_query *combined, void *arg)
{
    struct group *g = arg;
    struct pg_pool *pool = g->pool;
    pool->lanes_busy--;
    enum pg_status st = pg_query_status(combined);
    if (st == PG_OK) {
        for (int i = 0; i < g->n; i++) {
            struct pg_query *m = g->members[i];
            m->results = xcalloc((size_t)m->nstmts, sizeof *m->results);
        }
        for (int k = 0; k < combined->nstmts; k++) {
            struct pg_query *m = g->members[member_of(combined, k)];
            m->results[combined->order[k] & 0xffff] =
                combined->results ? combined->results[k] : NULL;
            if (combined->results)
                combined->results[k] = NULL;
        }
        for (int i = 0; i < g->n; i++)
            pg_query_complete(g->members[i]);
    } else if (st == PG_ERR_SQL && g->n > 1 && combined->failed_stmt >= 0) {
        /* The group rolled back. The write whose statement failed runs alone
         * (it fails alone, or succeeds if another write caused it); the others
         * go back to the front of the queue, in order, as the next group. */
        int bad = member_of(combined, combined->failed_stmt);
        pool->regrouped += (uint64_t)g->n;
        for (int i = g->n - 1; i >= 0; i--) {
            if (i == bad)
                continue;
            TAILQ_INSERT_HEAD(&pool->writes, g->members[i], link);
            pool->nwrites++;
        }
        enqueue(pool, g->members[bad]);
    } else {
        /* A lone write's error, an unreachable database or a lost
         * connection: each write gets that outcome. */
        for (int i = 0; i < g->n; i++) {
            pg_query_fail(g->members[i], st, combined->sqlstate, pg_query_error(combined));
            g->members[i]->failed_stmt = combined->failed_stmt >= 0
                                             ? combined->order[combined->failed_stmt] & 0xffff
                                             : -1;
            pg_query_complete(g->members[i]);
        }
    }
    free(g->members);
    free(g);
    if (pool->nwrites)
        event_active(pool->group_ev, EV_TIMEOUT, 0);
}

static void add_statement(struct pg_query *combined, const struct pg_query *m, int mi, int j)
{
    if (combined->nstmts == combined->cap) {
        combined->cap = combined->cap ? combined->cap * 2 : 8;
        combined->stmts =
            xrealloc(combined->stmts, (size_t)combined->cap * sizeof *combined->stmts);
        combined->order =
            xrealloc(combined->order, (size_t)combined->cap * sizeof *combined->order);
    }
    combined->order[combined->nstmts] = mi << 16 | j;
    combined->stmts[combined->nstmts++] = m->stmts[j];
}

static void start_group(struct pg_pool *pool)
{
    struct group *g = xcalloc(1, sizeof *g);
    g->pool = pool;
    int n = pool->nwrites < pool->opts.group_commit_max ? pool->nwrites
                                                         : pool->opts.group_commit_max;
    g->members = xcalloc((size_t)n, sizeof *g->members);
    for (int i = 0; i < n; i++) {
        struct pg_query *q = TAILQ_FIRST(&pool->writes);
        TAILQ_REMOVE(&pool->writes, q, link);
        pool->nwrites--;
        g->members[g->n++] = q;
    }
    qsort(g->members, (size_t)g->n, sizeof *g->members, by_key);
    /* Every write's body first, then every write's tail (its outbox
     * statement, which locks the organization's event counter), in key
     * order: counter locks are taken last and always in the same order. */
    struct pg_query *combined = pg_query_new();
    combined->borrowed_stmts = true;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < g->n; i++) {
            struct pg_query *m = g->members[i];
            int tail = m->tail >= 0 && m->tail < m->nstmts ? m->tail : m->nstmts;
            for (int j = pass ? tail : 0; j < (pass ? m->nstmts : tail); j++)
                add_statement(combined, m, i, j);
            if (m->timeout_ms > combined->timeout_ms)
                combined->timeout_ms = m->timeout_ms;
            if (m->notify)
                combined->notify = m->notify;
            if (m->unprepared)
                combined->unprepared = true;
        }
    }
    pool->lanes_busy++;
    pool->commits++;
    pool->grouped += (uint64_t)g->n;
    combined->cb = group_done;
    combined->arg = g;
    enqueue(pool, combined);
}

static void on_group_ev(evutil_socket_t fd, short what, void *arg)
{
    struct pg_pool *pool = arg;
    (void)fd;
    (void)what;
    while (pool->nwrites && pool->lanes_busy < pool->opts.group_commit_lanes)
        start_group(pool);
}

void pg_pool_submit_write(struct pg_pool *pool, struct pg_query *q, pg_query_cb cb, void *arg)
{
    if (!pool->opts.group_commit || q->nstmts == 0) {
        pg_pool_submit(pool, q, cb, arg);
        return;
    }
    q->cb = cb;
    q->arg = arg;
    if (!pg_pool_up(pool)) {
        fail(pool, q, PG_ERR_UNAVAILABLE, "the database is unavailable");
        return;
    }
    if (pool->nwrites >= pool->opts.max_queue) {
        fail(pool, q, PG_ERR_UNAVAILABLE, "too many writes waiting");
        return;
    }
    q->created_us = util_mono_us();
    TAILQ_INSERT_TAIL(&pool->writes, q, link);
    pool->nwrites++;
    /* From the loop, so that writes arriving in this same turn join the group. */
    if (pool->lanes_busy < pool->opts.group_commit_lanes)
        event_active(pool->group_ev, EV_TIMEOUT, 0);
}
