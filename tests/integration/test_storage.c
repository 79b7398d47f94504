/*
 * test_storage.c - the asynchronous pool itself against the suite's real
 * PostgreSQL: statements prepared once per session and reused, Parse failures
 * and aborted segments that must not leave a name behind, a schema change
 * under a prepared statement, and group commit where one write fails and the
 * others still commit.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "harness.h"
#include "pg_pool.h"
#include "pg_query.h"

static char *db_url;
static struct event_base *base;
static struct pg_pool *pool;
static PGconn *admin;

struct outcome {
    bool done;
    enum pg_status status;
    char sqlstate[6];
    long long value;  /* first column of the last statement's first row */
    int nfields;      /* columns of the last statement's result */
};

static void on_done(struct pg_query *q, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->status = pg_query_status(q);
    snprintf(o->sqlstate, sizeof o->sqlstate, "%s", pg_query_sqlstate(q));
    PGresult *r = pg_query_result(q, pg_query_nstmts(q) - 1);
    o->value = r && PQntuples(r) > 0 ? pg_value_int(r, 0, 0) : -1;
    o->nfields = r ? PQnfields(r) : 0;
}

static void wait_all(struct outcome *o, int n)
{
    for (int spins = 0; spins < 100000; spins++) {
        bool all = true;
        for (int i = 0; i < n; i++)
            all = all && o[i].done;
        if (all)
            return;
        event_base_loop(base, EVLOOP_ONCE);
    }
    ck_abort_msg("queries did not complete");
}

static void start_pool(bool prepare, bool group_commit)
{
    db_url = th_db_create();
    admin = th_db_connect(db_url);
    base = event_base_new();
    struct pg_pool_opts po = {
        .conninfo = db_url,
        .application_name = "scimgate-test",
        .size = 1, /* one session, so what it prepared is visible to the next query */
        .query_timeout_ms = 10000,
        .queue_timeout_ms = 10000,
        .max_queue = 1000,
        .max_inflight = 1,
        .group_commit = group_commit,
        .group_commit_max = 64,
        .group_commit_lanes = 1,
        .prepare = prepare,
    };
    pool = pg_pool_create(base, &po);
    for (int i = 0; i < 100000 && !pg_pool_up(pool); i++)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert(pg_pool_up(pool));
}

static void teardown(void)
{
    pg_pool_free(pool);
    pool = NULL;
    event_base_free(base);
    PQfinish(admin);
    free(db_url);
}

/* Runs one statement (with an optional text parameter) and waits. */
static struct outcome run1(const char *sql, const char *param)
{
    struct outcome o = {0};
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, sql);
    if (param)
        pg_query_param(q, param);
    pg_pool_submit(pool, q, on_done, &o);
    wait_all(&o, 1);
    return o;
}

static long long prepared_count(void)
{
    struct outcome o = run1("SELECT count(*) FROM pg_prepared_statements", NULL);
    ck_assert_int_eq(o.status, PG_OK);
    return o.value;
}

START_TEST(test_prepared_once_and_reused)
{
    start_pool(true, false);
    long long before = prepared_count();
    for (int i = 0; i < 5; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        struct outcome o = run1("SELECT $1::int + 1", v);
        ck_assert_int_eq(o.status, PG_OK);
        ck_assert_int_eq(o.value, i + 1);
    }
    /* One new name for the five runs (the counting statement has its own). */
    ck_assert_int_eq(prepared_count(), before + 1);
    teardown();
}
END_TEST

START_TEST(test_unprepared_when_off)
{
    start_pool(false, false);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(run1("SELECT $1::int + 1", "1").value, 2);
    ck_assert_int_eq(prepared_count(), 0);
    teardown();
}
END_TEST

START_TEST(test_failed_parse_leaves_no_name)
{
    start_pool(true, false);
    /* A Parse that fails reports the statement's own error every time, never
     * "prepared statement does not exist". */
    for (int i = 0; i < 3; i++) {
        struct outcome o = run1("SELECT a FROM no_such_table WHERE a = $1", "1");
        ck_assert_int_eq(o.status, PG_ERR_SQL);
        ck_assert_str_eq(o.sqlstate, "42P01");
    }
    /* Once the table exists the same text prepares and runs. */
    PQclear(th_sql(admin, "CREATE TABLE no_such_table (a int)", NULL));
    PQclear(th_sql(admin, "INSERT INTO no_such_table VALUES (1)", NULL));
    struct outcome o = run1("SELECT a FROM no_such_table WHERE a = $1", "1");
    ck_assert_int_eq(o.status, PG_OK);
    ck_assert_int_eq(o.value, 1);
    teardown();
}
END_TEST

START_TEST(test_aborted_segment_prepares_again)
{
    start_pool(true, false);
    /* The second statement's Parse is skipped because the first fails: its
     * name must not be used afterwards. */
    struct outcome o = {0};
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT 1 / $1::int");
    pg_query_param(q, "0");
    pg_query_sql(q, "SELECT 40 + $1::int");
    pg_query_param(q, "2");
    pg_pool_submit(pool, q, on_done, &o);
    wait_all(&o, 1);
    ck_assert_int_eq(o.status, PG_ERR_SQL);
    ck_assert_str_eq(o.sqlstate, "22012");
    for (int i = 0; i < 2; i++) {
        struct outcome r = run1("SELECT 40 + $1::int", "2");
        ck_assert_int_eq(r.status, PG_OK);
        ck_assert_int_eq(r.value, 42);
    }
    teardown();
}
END_TEST

START_TEST(test_schema_change_under_prepared)
{
    start_pool(true, false);
    PQclear(th_sql(admin, "CREATE TABLE t (a int)", NULL));
    PQclear(th_sql(admin, "INSERT INTO t VALUES (5)", NULL));
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(run1("SELECT * FROM t WHERE a = $1::int", "5").nfields, 1);
    PQclear(th_sql(admin, "ALTER TABLE t ADD COLUMN b int", NULL));
    /* At most one failure (the server's "cached plan must not change result
     * type"), then the statement is prepared afresh. */
    struct outcome o = run1("SELECT * FROM t WHERE a = $1::int", "5");
    if (o.status != PG_OK) {
        ck_assert_str_eq(o.sqlstate, "0A000");
        o = run1("SELECT * FROM t WHERE a = $1::int", "5");
    }
    ck_assert_int_eq(o.status, PG_OK);
    ck_assert_int_eq(o.nfields, 2);
    teardown();
}
END_TEST

START_TEST(test_lost_names_prepared_again)
{
    start_pool(true, false);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(run1("SELECT 7 * $1::int", "6").value, 42);
    /* What a session-mode pooler's DISCARD ALL does to the session. */
    struct outcome o = {0};
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "DEALLOCATE ALL");
    pg_query_set_unprepared(q);
    pg_pool_submit(pool, q, on_done, &o);
    wait_all(&o, 1);
    ck_assert_int_eq(o.status, PG_OK);
    ck_assert_int_le(prepared_count(), 1); /* the counting statement itself */
    /* At most one failure naming the lost statement, then it runs again. */
    o = run1("SELECT 7 * $1::int", "6");
    if (o.status != PG_OK) {
        ck_assert_str_eq(o.sqlstate, "26000");
        o = run1("SELECT 7 * $1::int", "6");
    }
    ck_assert_int_eq(o.status, PG_OK);
    ck_assert_int_eq(o.value, 42);
    ck_assert_int_eq(run1("SELECT 7 * $1::int", "6").value, 42);
    teardown();
}
END_TEST

START_TEST(test_group_commit_isolates_failure)
{
    start_pool(true, true);
    PQclear(th_sql(admin, "CREATE TABLE w (k text PRIMARY KEY)", NULL));
    PQclear(th_sql(admin, "INSERT INTO w VALUES ('taken')", NULL));
    enum { N = 12 };
    struct outcome o[N];
    memset(o, 0, sizeof o);
    for (int i = 0; i < N; i++) {
        struct pg_query *q = pg_query_new();
        pg_query_sql(q, "INSERT INTO w VALUES ($1)");
        if (i == 5)
            pg_query_param(q, "taken"); /* a uniqueness conflict */
        else
            pg_query_paramf(q, "k%d", i);
        pg_query_set_key(q, "org");
        pg_pool_submit_write(pool, q, on_done, &o[i]);
    }
    wait_all(o, N);
    for (int i = 0; i < N; i++) {
        if (i == 5) {
            ck_assert_int_eq(o[i].status, PG_ERR_SQL);
            ck_assert_str_eq(o[i].sqlstate, "23505");
        } else {
            ck_assert_msg(o[i].status == PG_OK, "write %d failed", i);
        }
    }
    ck_assert_int_eq(th_sql_int(admin, "SELECT count(*) FROM w", NULL), N);
    struct pg_pool_stats st;
    pg_pool_get_stats(pool, &st);
    ck_assert_uint_ge(st.commits, 1);
    ck_assert_uint_ge(st.regrouped, 1);
    teardown();
}
END_TEST

START_TEST(test_notify_after_commit_coalesced)
{
    start_pool(true, true);
    PQclear(th_sql(admin, "CREATE TABLE n (k int)", NULL));
    PQclear(th_sql(admin, "LISTEN test_channel", NULL));
    enum { N = 20 };
    struct outcome o[N];
    memset(o, 0, sizeof o);
    for (int i = 0; i < N; i++) {
        struct pg_query *q = pg_query_new();
        pg_query_sql(q, "INSERT INTO n VALUES ($1::int)");
        pg_query_param_int(q, i);
        pg_query_set_key(q, "org");
        pg_query_set_notify(q, "test_channel");
        pg_pool_submit_write(pool, q, on_done, &o[i]);
    }
    wait_all(o, N);
    /* The notifications follow the commits: let the pool send them. */
    int got = 0;
    for (int spins = 0; spins < 200; spins++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        PQconsumeInput(admin);
        PGnotify *nf;
        while ((nf = PQnotifies(admin))) {
            ck_assert_str_eq(nf->relname, "test_channel");
            /* Sent after the commit: every row is visible by now. */
            ck_assert_int_eq(th_sql_int(admin, "SELECT count(*) FROM n", NULL), N);
            got++;
            PQfreemem(nf);
        }
        if (got && spins > 50)
            break;
        usleep(5000);
    }
    ck_assert_int_ge(got, 1);
    ck_assert_int_lt(got, N); /* coalesced, not one per write */
    /* A failed write sends nothing. */
    struct outcome bad = {0};
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "INSERT INTO n VALUES ('x')");
    pg_query_set_notify(q, "test_channel");
    pg_pool_submit_write(pool, q, on_done, &bad);
    wait_all(&bad, 1);
    ck_assert_int_eq(bad.status, PG_ERR_SQL);
    for (int spins = 0; spins < 40; spins++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(5000);
    }
    PQconsumeInput(admin);
    PGnotify *nf = PQnotifies(admin);
    ck_assert_ptr_null(nf);
    teardown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("storage");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_prepared_once_and_reused);
    tcase_add_test(tc, test_unprepared_when_off);
    tcase_add_test(tc, test_failed_parse_leaves_no_name);
    tcase_add_test(tc, test_aborted_segment_prepares_again);
    tcase_add_test(tc, test_schema_change_under_prepared);
    tcase_add_test(tc, test_lost_names_prepared_again);
    tcase_add_test(tc, test_group_commit_isolates_failure);
    tcase_add_test(tc, test_notify_after_commit_coalesced);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
