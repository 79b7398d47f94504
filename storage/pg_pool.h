/*
 * pg_pool.h - a pool of asynchronous PostgreSQL connections on one event loop,
 * with a wait queue, exclusive leases for multi-round-trip transactions, and
 * fail-fast behaviour while the database is unreachable.
 *
 * Every callback runs from the event loop, never from inside the call that
 * submitted the work, so a handler may submit and then keep using its state.
 */
#ifndef SCIMGATE_PG_POOL_H
#define SCIMGATE_PG_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "pg_query.h"

struct pg_pool;
struct pg_conn;

struct pg_pool_opts {
    const char *conninfo;         /* libpq connection string or URL */
    const char *application_name; /* "scimgate" */
    int size;                     /* connections */
    int query_timeout_ms;         /* statement_timeout of every session */
    int queue_timeout_ms;         /* longest wait for a connection */
    int max_queue;                /* waiting queries beyond this fail at once */
    int max_inflight;             /* pipelined segments per connection (>= 1) */
    bool group_commit;            /* pg_pool_submit_write batches writes */
    int group_commit_max;         /* writes per commit at most */
    int group_commit_lanes;       /* group commits in flight at once */
    bool prepare;                 /* prepared statements per connection (pg_conn_opts) */
};

struct pg_pool_stats {
    int size;          /* connections configured */
    int connected;     /* usable now */
    int busy;          /* with queries in flight */
    int held;          /* leased by pg_pool_acquire */
    int waiting;       /* queries and leases in the wait queue */
    uint64_t queries;  /* completed since start */
    uint64_t failures; /* completed with an error */
    uint64_t commits;  /* group commits sent */
    uint64_t grouped;  /* writes that went out in them */
    uint64_t regrouped;/* writes re-run alone after their group failed */
};

/* Creates the pool and starts connecting every connection. */
struct pg_pool *pg_pool_create(struct event_base *base, const struct pg_pool_opts *opts);
/* Closes everything; queued and in-flight queries complete with
 * PG_ERR_UNAVAILABLE before it returns. NULL is fine. */
void pg_pool_free(struct pg_pool *pool);

/* Runs q (stolen) on a free connection; cb(q, arg) runs later from the loop
 * with q borrowed. While no connection is up, q fails with PG_ERR_UNAVAILABLE;
 * after queue_timeout_ms of waiting, with PG_ERR_TIMEOUT. */
void pg_pool_submit(struct pg_pool *pool, struct pg_query *q, pg_query_cb cb, void *arg);

/* A write: q runs as its own transaction, or, with group commit, together
 * with the writes that arrived while the previous group was committing, in
 * one transaction and one WAL flush. cb still runs only after q's changes are
 * durable. If the group fails on a statement error, each of its writes runs
 * again alone, so one write's failure (a uniqueness conflict, a version
 * check) never fails another's. */
void pg_pool_submit_write(struct pg_pool *pool, struct pg_query *q, pg_query_cb cb, void *arg);

/* True when at least one connection is usable. */
bool pg_pool_up(const struct pg_pool *pool);
/* True once the first connection attempts are decided: some connection is
 * usable, or every one has failed at least once. */
bool pg_pool_settled(const struct pg_pool *pool);
void pg_pool_get_stats(const struct pg_pool *pool, struct pg_pool_stats *out);

/* Calls fn(seconds, ok, arg) for every query that completes (for metrics). */
void pg_pool_set_observer(struct pg_pool *pool, void (*fn)(double seconds, bool ok, void *arg),
                          void *arg);

/* Exclusive use of one connection, for a transaction that needs C logic
 * between round trips. cb gets the connection, or NULL with the reason. */
typedef void (*pg_acquire_cb)(struct pg_conn *conn, enum pg_status st, void *arg);
void pg_pool_acquire(struct pg_pool *pool, pg_acquire_cb cb, void *arg);
/* Runs q (stolen) on a leased connection. */
void pg_pool_submit_on(struct pg_pool *pool, struct pg_conn *conn, struct pg_query *q,
                       pg_query_cb cb, void *arg);
/* Ends the lease; an open transaction is rolled back first. */
void pg_pool_release(struct pg_pool *pool, struct pg_conn *conn);

#endif
