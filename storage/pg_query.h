/*
 * pg_query.h - a unit of database work: one or more statements with bound
 * text parameters, sent to PostgreSQL as one pipeline segment (so they run as
 * one implicit transaction: all commit or none), and the results that come
 * back. SQL text is never built from values; values are always parameters.
 *
 *   struct pg_query *q = pg_query_new();
 *   pg_query_sql(q, "SELECT doc FROM users WHERE org_id = $1 AND id = $2");
 *   pg_query_param(q, org_id);
 *   pg_query_param(q, id);
 *   pg_pool_submit(pool, q, on_user, req);   // steals q
 *
 *   static void on_user(struct pg_query *q, void *arg) { // q borrowed
 *       if (pg_query_status(q) != PG_OK) ...;
 *       PGresult *r = pg_query_result(q, 0);
 *   }
 */
#ifndef SCIMGATE_PG_QUERY_H
#define SCIMGATE_PG_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "util.h"

enum pg_status {
    PG_PENDING,        /* not finished yet */
    PG_OK,             /* every statement succeeded; the segment committed */
    PG_ERR_SQL,        /* a statement failed (see sqlstate); nothing committed */
    PG_ERR_UNAVAILABLE,/* no connection to the database could be had */
    PG_ERR_TIMEOUT,    /* the query or the wait for a connection took too long */
    PG_ERR_CONN_LOST,  /* the connection broke while the query was in flight:
                        * it may or may not have committed */
};

struct pg_query;
typedef void (*pg_query_cb)(struct pg_query *q, void *arg);

/* A new empty query. */
struct pg_query *pg_query_new(void);
/* Frees q and its results; NULL is fine. */
void pg_query_free(struct pg_query *q);

/* Starts a new statement. sql must outlive q (a string literal). */
void pg_query_sql(struct pg_query *q, const char *sql);
/* Starts a new statement whose SQL is copied (compiled filters). */
void pg_query_sql_copy(struct pg_query *q, const char *sql);
/* Binds the next parameter ($1, $2, ...) of the current statement; the value
 * is copied; NULL binds SQL NULL. */
void pg_query_param(struct pg_query *q, const char *value);
void pg_query_param_len(struct pg_query *q, const char *value, size_t len);
void pg_query_param_int(struct pg_query *q, long long value);
void pg_query_param_bool(struct pg_query *q, bool value);
/* Binds a JSON value serialised compactly (for ::jsonb parameters); NULL → SQL NULL. */
void pg_query_param_json(struct pg_query *q, const json_t *value);
/* Binds a formatted value. */
void pg_query_paramf(struct pg_query *q, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Number of statements. */
int pg_query_nstmts(const struct pg_query *q);
/* Outcome; valid in the callback. */
enum pg_status pg_query_status(const struct pg_query *q);
/* Five-character SQLSTATE of the failing statement ("" if none). */
const char *pg_query_sqlstate(const struct pg_query *q);
/* Index of the failing statement, or -1. */
int pg_query_failed_stmt(const struct pg_query *q);
/* Error text for logs (never shown to clients). */
const char *pg_query_error(const struct pg_query *q);
/* The result of statement i (borrowed; freed with q), or NULL. */
PGresult *pg_query_result(const struct pg_query *q, int i);
/* Takes ownership of the result of statement i (caller PQclears it). */
PGresult *pg_query_steal_result(struct pg_query *q, int i);
/* Microseconds the query spent queued and running (for metrics). */
int64_t pg_query_elapsed_us(const struct pg_query *q);
/* A short description of the first statement for logs: its first line. */
const char *pg_query_label(const struct pg_query *q);

/* Convenience readers for result rows; NULL/0 when out of range or SQL NULL. */
const char *pg_value(const PGresult *r, int row, int col);
bool pg_is_null(const PGresult *r, int row, int col);
long long pg_value_int(const PGresult *r, int row, int col);
bool pg_value_bool(const PGresult *r, int row, int col);
/* Parses a json/jsonb column (new reference), NULL if SQL NULL or invalid. */
json_t *pg_value_json(const PGresult *r, int row, int col);
/* Number of rows of statement i's result (0 if none). */
int pg_query_ntuples(const struct pg_query *q, int i);

/* The ordering key of a write in a group commit (the organization id): the
 * writes of one commit run in key order, so concurrent commits take the
 * organizations' row locks in the same order. */
void pg_query_set_key(struct pg_query *q, const char *key);
/* Marks statements first.. as the write's tail: in a group commit they run
 * after every write's other statements. The outbox statement, which takes
 * the organization's event-counter lock, is a tail, so no transaction ever
 * holds that lock while it waits for a row lock. */
void pg_query_set_tail(struct pg_query *q, int first);
/* Once q has committed, NOTIFY channel (a string literal). The pool sends
 * the notifications after commit and coalesces them - at most one in flight,
 * one more queued - so the writes themselves never take PostgreSQL's
 * notification lock, which is held through commit and would serialise them. */
void pg_query_set_notify(struct pg_query *q, const char *channel);
/* Sends q's statements unnamed, so PostgreSQL plans them afresh with the
 * current statistics every time (for a statement whose best plan changes as
 * its tables fill, like the webhook worker's claim). */
void pg_query_set_unprepared(struct pg_query *q);
/* Per-query timeout override in milliseconds (0 = the pool's default). */
void pg_query_set_timeout(struct pg_query *q, int timeout_ms);

#endif
