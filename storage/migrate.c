/*
 * migrate.c - applies the compiled-in migrations, each once, in order, each in
 * its own transaction, under an advisory lock. Blocking libpq: runs only from
 * `scimgate migrate` and tests, never on an event loop.
 */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "util.h"

const char *const migrate_current_sql =
    "SELECT count(*) = cardinality($1::text[]) FROM schema_migrations m "
    "JOIN unnest($1::text[], $2::text[]) AS e(name, checksum) "
    "ON e.name = m.name AND e.checksum = m.checksum";

static bool exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

static void checksum_of(const struct migration *m, char out[65])
{
    util_sha256_hex(m->sql, m->len, out);
}

/* Returns the recorded checksum of name (new string), "" when not applied. */
static char *recorded_checksum(PGconn *conn, const char *name, char *err, size_t errlen)
{
    const char *params[1] = {name};
    PGresult *res = PQexecParams(conn, "SELECT checksum FROM schema_migrations WHERE name = $1",
                                 1, NULL, params, NULL, NULL, 0);
    char *out = NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    else
        out = xstrdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return out;
}

static bool apply_one(PGconn *conn, const struct migration *m, const char *sum, char *err,
                      size_t errlen)
{
    if (!exec_ok(conn, "BEGIN", err, errlen))
        return false;
    if (!exec_ok(conn, m->sql, err, errlen)) {
        char inner[512];
        exec_ok(conn, "ROLLBACK", inner, sizeof inner);
        return false;
    }
    const char *params[2] = {m->name, sum};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                                 2, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    PQclear(res);
    if (!ok) {
        char inner[512];
        exec_ok(conn, "ROLLBACK", inner, sizeof inner);
        return false;
    }
    return exec_ok(conn, "COMMIT", err, errlen);
}

static bool run_locked(PGconn *conn, int *applied, char *err, size_t errlen)
{
    if (!exec_ok(conn,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " name text PRIMARY KEY, checksum text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 err, errlen))
        return false;
    for (const struct migration *m = migrations_embedded; m->name; m++) {
        char sum[65];
        checksum_of(m, sum);
        char *have = recorded_checksum(conn, m->name, err, errlen);
        if (!have)
            return false;
        bool done = have[0] != '\0';
        bool same = strcmp(have, sum) == 0;
        free(have);
        if (done && !same) {
            snprintf(err, errlen,
                     "migration %s was applied with different contents; "
                     "restore the original file and add a new migration instead",
                     m->name);
            return false;
        }
        if (done)
            continue;
        if (!apply_one(conn, m, sum, err, errlen)) {
            char what[600];
            snprintf(what, sizeof what, "%s: %s", m->name, err);
            snprintf(err, errlen, "%s", what);
            return false;
        }
        log_info("migration applied", LF_STR("name", m->name));
        (*applied)++;
    }
    return true;
}

bool migrate_run(const char *conninfo, int *applied_out, char *err, size_t errlen)
{
    int applied = 0;
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return false;
    }
    char lock[128];
    bool ok = exec_ok(conn, "SET client_min_messages = warning", err, errlen);
    snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%lld)", MIGRATE_LOCK_KEY);
    ok = ok && exec_ok(conn, lock, err, errlen);
    if (ok) {
        ok = run_locked(conn, &applied, err, errlen);
        char unlock[128], inner[512];
        snprintf(unlock, sizeof unlock, "SELECT pg_advisory_unlock(%lld)", MIGRATE_LOCK_KEY);
        exec_ok(conn, unlock, inner, sizeof inner);
    }
    PQfinish(conn);
    if (applied_out)
        *applied_out = applied;
    return ok;
}

const char *migrate_latest_name(void)
{
    return migrations_embedded_count ? migrations_embedded[migrations_embedded_count - 1].name
                                     : "";
}

/* Appends s as an element of a PostgreSQL array literal. Names and checksums are
 * [0-9A-Za-z_.] only, but quote anyway. */
static void array_elem(struct strbuf *b, const char *s)
{
    if (b->len > 1)
        strbuf_putc(b, ',');
    strbuf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            strbuf_putc(b, '\\');
        strbuf_putc(b, *s);
    }
    strbuf_putc(b, '"');
}

void migrate_expected_params(char **names_out, char **checksums_out)
{
    struct strbuf names = {0}, sums = {0};
    strbuf_putc(&names, '{');
    strbuf_putc(&sums, '{');
    for (const struct migration *m = migrations_embedded; m->name; m++) {
        char sum[65];
        checksum_of(m, sum);
        array_elem(&names, m->name);
        array_elem(&sums, sum);
    }
    strbuf_putc(&names, '}');
    strbuf_putc(&sums, '}');
    *names_out = strbuf_detach(&names);
    *checksums_out = strbuf_detach(&sums);
}
