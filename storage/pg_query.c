/*
 * pg_query.c - building a unit of work (statements + bound parameters) and
 * reading its results.
 */
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_query *pg_query_new(void)
{
    struct pg_query *q = xcalloc(1, sizeof *q);
    q->status = PG_PENDING;
    q->failed_stmt = -1;
    q->tail = -1;
    q->created_us = util_mono_us();
    return q;
}

void pg_query_free(struct pg_query *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->nstmts; i++) {
        struct pg_stmt *s = &q->stmts[i];
        if (q->results)
            PQclear(q->results[i]);
        if (q->borrowed_stmts)
            continue;
        if (s->sql_owned)
            free((char *)s->sql);
        for (int k = 0; k < s->nparams; k++)
            free(s->params[k]);
        free(s->params);
        free(s->lengths);
    }
    free(q->stmts);
    free(q->order);
    free(q->results);
    free(q->error);
    free(q);
}

static struct pg_stmt *add_stmt(struct pg_query *q, const char *sql, bool owned)
{
    if (q->nstmts == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 2;
        q->stmts = xrealloc(q->stmts, (size_t)q->cap * sizeof *q->stmts);
    }
    struct pg_stmt *s = &q->stmts[q->nstmts++];
    memset(s, 0, sizeof *s);
    s->sql = sql;
    s->sql_owned = owned;
    return s;
}

void pg_query_sql(struct pg_query *q, const char *sql)
{
    add_stmt(q, sql, false);
}

void pg_query_sql_copy(struct pg_query *q, const char *sql)
{
    add_stmt(q, xstrdup(sql), true);
}

void pg_query_param_len(struct pg_query *q, const char *value, size_t len)
{
    if (q->nstmts == 0)
        util_fatal("pg_query_param before pg_query_sql");
    struct pg_stmt *s = &q->stmts[q->nstmts - 1];
    if (s->nparams == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->params = xrealloc(s->params, (size_t)s->cap * sizeof *s->params);
        s->lengths = xrealloc(s->lengths, (size_t)s->cap * sizeof *s->lengths);
    }
    s->params[s->nparams] = value ? xstrndup(value, len) : NULL;
    s->lengths[s->nparams] = value ? (int)len : 0;
    s->nparams++;
}

void pg_query_param(struct pg_query *q, const char *value)
{
    pg_query_param_len(q, value, value ? strlen(value) : 0);
}

void pg_query_param_int(struct pg_query *q, long long value)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", value);
    pg_query_param(q, buf);
}

void pg_query_param_bool(struct pg_query *q, bool value)
{
    pg_query_param(q, value ? "true" : "false");
}

void pg_query_param_json(struct pg_query *q, const json_t *value)
{
    if (!value) {
        pg_query_param(q, NULL);
        return;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        util_fatal("cannot serialise JSON parameter");
    pg_query_param(q, text);
    free(text);
}

void pg_query_paramf(struct pg_query *q, const char *fmt, ...)
{
    struct strbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    pg_query_param_len(q, b.s ? b.s : "", b.len);
    strbuf_clear(&b);
}

void pg_query_set_key(struct pg_query *q, const char *key)
{
    snprintf(q->key, sizeof q->key, "%s", key ? key : "");
}

void pg_query_set_tail(struct pg_query *q, int first)
{
    q->tail = first;
}

void pg_query_set_notify(struct pg_query *q, const char *channel)
{
    q->notify = channel;
}

void pg_query_set_unprepared(struct pg_query *q)
{
    q->unprepared = true;
}

void pg_query_set_timeout(struct pg_query *q, int timeout_ms)
{
    q->timeout_ms = timeout_ms;
}

int pg_query_nstmts(const struct pg_query *q)
{
    return q->nstmts;
}

enum pg_status pg_query_status(const struct pg_query *q)
{
    return q->status;
}

const char *pg_query_sqlstate(const struct pg_query *q)
{
    return q->sqlstate;
}

int pg_query_failed_stmt(const struct pg_query *q)
{
    return q->failed_stmt;
}

const char *pg_query_error(const struct pg_query *q)
{
    return q->error ? q->error : "";
}

PGresult *pg_query_result(const struct pg_query *q, int i)
{
    if (!q->results || i < 0 || i >= q->nstmts)
        return NULL;
    return q->results[i];
}

PGresult *pg_query_steal_result(struct pg_query *q, int i)
{
    PGresult *r = pg_query_result(q, i);
    if (r)
        q->results[i] = NULL;
    return r;
}

int pg_query_ntuples(const struct pg_query *q, int i)
{
    PGresult *r = pg_query_result(q, i);
    return r ? PQntuples(r) : 0;
}

int64_t pg_query_elapsed_us(const struct pg_query *q)
{
    return util_mono_us() - q->created_us;
}

const char *pg_query_label(const struct pg_query *q)
{
    return q->nstmts ? q->stmts[0].sql : "";
}

const char *pg_value(const PGresult *r, int row, int col)
{
    if (!r || row < 0 || row >= PQntuples(r) || col < 0 || col >= PQnfields(r) ||
        PQgetisnull(r, row, col))
        return NULL;
    return PQgetvalue(r, row, col);
}

bool pg_is_null(const PGresult *r, int row, int col)
{
    return pg_value(r, row, col) == NULL;
}

long long pg_value_int(const PGresult *r, int row, int col)
{
    const char *v = pg_value(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

bool pg_value_bool(const PGresult *r, int row, int col)
{
    const char *v = pg_value(r, row, col);
    return v && (v[0] == 't' || v[0] == 'T' || v[0] == '1');
}

json_t *pg_value_json(const PGresult *r, int row, int col)
{
    const char *v = pg_value(r, row, col);
    if (!v)
        return NULL;
    return json_loadb(v, (size_t)PQgetlength(r, row, col), JSON_DECODE_ANY, NULL);
}

void pg_query_take_result(struct pg_query *q, PGresult *res)
{
    int i = q->next_result;
    if (i >= q->nstmts) {
        PQclear(res);
        return;
    }
    if (!q->results)
        q->results = xcalloc((size_t)q->nstmts, sizeof *q->results);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY &&
        st != PGRES_SINGLE_TUPLE) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (q->failed_stmt < 0)
            q->failed_stmt = i;
        pg_query_fail(q, PG_ERR_SQL, state, msg ? msg : PQresultErrorMessage(res));
    }
    PQclear(q->results[i]);
    q->results[i] = res;
}

void pg_query_fail(struct pg_query *q, enum pg_status st, const char *sqlstate,
                   const char *msg)
{
    if (q->status != PG_PENDING && q->status != PG_OK)
        return;
    q->status = st;
    snprintf(q->sqlstate, sizeof q->sqlstate, "%s", sqlstate ? sqlstate : "");
    free(q->error);
    q->error = xstrdup(msg ? msg : "");
}

void pg_query_complete(struct pg_query *q)
{
    if (q->status == PG_PENDING)
        q->status = PG_OK;
    if (q->cb)
        q->cb(q, q->arg);
    pg_query_free(q);
}
