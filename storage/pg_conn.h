/*
 * pg_conn.h - one PostgreSQL connection driven by the libevent loop: a
 * non-blocking connect (PQconnectStartParams + PQconnectPoll), a session set-up
 * query, pipeline mode, a FIFO of in-flight queries matched to results in
 * order, notifications, a per-query timer, and reconnection with backoff.
 * Used by pg_pool.c and pg_listen.c; nothing here ever blocks.
 */
#ifndef SCIMGATE_PG_CONN_H
#define SCIMGATE_PG_CONN_H

#include <stdbool.h>

#include <event2/event.h>

#include "pg_query.h"

struct pg_conn;

struct pg_conn_hooks {
    /* The connection became usable, or finished a query and can take more. */
    void (*on_ready)(struct pg_conn *c, void *arg);
    /* The connection broke; its in-flight queries are handed to on_done failed,
     * and it reconnects by itself after a backoff. */
    void (*on_down)(struct pg_conn *c, void *arg);
    /* A query finished (ok or failed); the hook owns q from here on. */
    void (*on_done)(struct pg_conn *c, struct pg_query *q, void *arg);
    /* A NOTIFY arrived (may be NULL). */
    void (*on_notify)(struct pg_conn *c, const char *channel, const char *payload,
                      void *arg);
};

struct pg_conn_opts {
    const char *conninfo;         /* libpq connection string or URL */
    const char *application_name; /* shown in pg_stat_activity */
    int query_timeout_ms;         /* statement_timeout; the client timer adds a margin */
    int connect_timeout_ms;       /* limit of one connection attempt */
    const char *const *listen;    /* channels to LISTEN on, NULL-terminated, or NULL */
    bool prepare;                 /* name and prepare each distinct statement once per
                                   * session instead of parsing and planning it every time */
};

/* Creates an unconnected connection; pg_conn_start begins connecting. opts is
 * copied. */
struct pg_conn *pg_conn_create(struct event_base *base, const struct pg_conn_opts *opts,
                               const struct pg_conn_hooks *hooks, void *arg);
void pg_conn_start(struct pg_conn *c);
/* Closes the connection and frees it; in-flight queries are handed to on_done
 * failed with PG_ERR_UNAVAILABLE. NULL is fine. Never call from a hook. */
void pg_conn_free(struct pg_conn *c);

/* Connected and set up. */
bool pg_conn_ready(const struct pg_conn *c);
/* Queries written and not yet answered. */
int pg_conn_inflight(const struct pg_conn *c);
/* The server-side transaction is open (or failed) with nothing in flight. */
bool pg_conn_in_transaction(const struct pg_conn *c);
/* Sends q (steals it). The connection must be ready; if writing fails the
 * query is failed through on_done like any other in flight. */
void pg_conn_send(struct pg_conn *c, struct pg_query *q);
/* Consecutive failed connection attempts (0 when connected). */
int pg_conn_failures(const struct pg_conn *c);

#endif
