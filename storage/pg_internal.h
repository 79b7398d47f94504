/*
 * pg_internal.h - the inside of a query, shared by pg_query.c, pg_conn.c and
 * pg_pool.c only. Nothing outside storage/pg_* includes this.
 */
#ifndef SCIMGATE_PG_INTERNAL_H
#define SCIMGATE_PG_INTERNAL_H

#include <sys/queue.h>

#include "pg_query.h"

struct pg_conn;

struct pg_stmt {
    const char *sql;  /* statement text (owned when sql_owned) */
    bool sql_owned;   /* sql was copied and is freed with the query */
    int nparams;      /* bound parameters so far */
    int cap;          /* room in params/lengths */
    char **params;    /* owned values; NULL entries bind SQL NULL */
    int *lengths;     /* byte lengths of params */
    bool await_prepare; /* its Parse was sent in this segment: one more result first */
    char prep_name[16]; /* the prepared statement it ran as, or "" (unnamed) */
};

struct pg_query {
    struct pg_stmt *stmts;    /* statements in order */
    int nstmts, cap;
    PGresult **results;       /* per statement: its last non-NULL result */
    enum pg_status status;    /* PG_PENDING until completed */
    char sqlstate[6];         /* of the first failing statement */
    char *error;              /* message for logs */
    int failed_stmt;          /* index, or -1 */
    pg_query_cb cb;           /* called once on completion */
    void *arg;
    int64_t created_us;       /* when submitted */
    int64_t sent_us;          /* when written to a connection */
    int timeout_ms;           /* 0 = pool default */
    int next_result;          /* statement whose results arrive next */
    bool internal;            /* session set-up, freed by the connection itself */
    bool borrowed_stmts;      /* a group commit: the statements belong to its members */
    char key[64];             /* ordering key within a group commit (the organization) */
    int tail;                 /* first statement that must follow every other write's
                               * statements in a group commit (-1: none) */
    int *order;               /* group commit: member statement index of each statement */
    const char *notify;       /* channel to notify once this has committed, or NULL */
    bool unprepared;          /* always send unnamed: planned afresh every time */
    void (*acquire_cb)(struct pg_conn *, enum pg_status, void *); /* a lease request */
    struct pg_conn *acquired; /* the leased connection, for acquire_cb */
    TAILQ_ENTRY(pg_query) link; /* in the pool's wait queue or a conn's in-flight FIFO */
};

TAILQ_HEAD(pg_query_list, pg_query);

/* Records one PGresult for the statement at q->next_result (takes ownership). */
void pg_query_take_result(struct pg_query *q, PGresult *res);
/* Marks q failed (the first failure wins). */
void pg_query_fail(struct pg_query *q, enum pg_status st, const char *sqlstate,
                   const char *msg);
/* Calls the callback once, then frees q. */
void pg_query_complete(struct pg_query *q);

#endif
