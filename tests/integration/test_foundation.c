/*
 * test_foundation.c - the gateway's skeleton against a real PostgreSQL and a
 * real scimgate process: health and readiness, routing errors, body limits,
 * request ids and the access log, a database that is down or drops its
 * connections, graceful shutdown with a request in flight, migrations and the
 * command line.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "migrate.h"
#include "util.h"

static char *db_url;
static struct th_server *srv;

static void setup(void)
{
    db_url = th_db_create();
    const char *env[] = {"SCIMGATE_MAX_BODY_BYTES=4096", NULL};
    srv = th_server_start(db_url, env, NULL);
}

static void teardown(void)
{
    if (srv)
        ck_assert_int_eq(th_server_stop(srv), 0);
    free(db_url);
}

static struct th_resp *get(const char *path)
{
    struct th_resp *r = th_http(srv->port, "GET", path, NULL, NULL, 0);
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(test_health_and_ready)
{
    struct th_resp *r = get("/healthz");
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "status")), "ok");
    th_resp_free(r);
    r = get("/livez");
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    r = get("/readyz");
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "status")), "ready");
    th_resp_free(r);
}
END_TEST

static void assert_scim_error(const struct th_resp *r, int status)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_ptr_nonnull(r->json);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "schemas"), 0)),
                     "urn:ietf:params:scim:api:messages:2.0:Error");
    char want[8];
    snprintf(want, sizeof want, "%d", status);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "status")), want);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "detail")));
    const char *ctype = th_resp_header(r, "Content-Type");
    ck_assert_ptr_nonnull(ctype);
    ck_assert(strncmp(ctype, "application/scim+json", 21) == 0);
}

START_TEST(test_unknown_route_and_method)
{
    struct th_resp *r = get("/no/such/thing");
    assert_scim_error(r, 404);
    th_resp_free(r);
    r = get("/scim/v2/Nonexistent");
    assert_scim_error(r, 404);
    th_resp_free(r);
    r = th_http(srv->port, "DELETE", "/healthz", NULL, NULL, 0);
    assert_scim_error(r, 405);
    ck_assert_str_eq(th_resp_header(r, "Allow"), "GET");
    th_resp_free(r);
    /* An admin API path answers in the admin API's error shape. */
    r = get("/v1/nothing-here");
    ck_assert_int_eq(r->status, 404);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r->json, "error"), "code")),
                     "not_found");
    th_resp_free(r);
}
END_TEST

START_TEST(test_body_limits)
{
    /* Over the configured cap (4096 here) but under the hard limit: a JSON 413. */
    size_t n = 6000;
    char *big = xmalloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    const char *h[] = {"Content-Type: application/scim+json", NULL};
    struct th_resp *r = th_http(srv->port, "POST", "/scim/v2/Users", h, big, n);
    assert_scim_error(r, 413);
    th_resp_free(r);
    /* Far over: refused by the HTTP layer before the body is read, still 413. */
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Content-Length: %d", 50 * 1024 * 1024);
    char *raw = th_http_raw(srv->port, th_fmt("POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", hdr),
                            strlen(th_fmt("POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", hdr)), 5000);
    ck_assert_ptr_nonnull(raw);
    ck_assert_msg(strncmp(raw, "HTTP/1.1 413", 12) == 0, "got: %.40s", raw);
    free(raw);
    free(big);
    /* The server is still fine. */
    r = get("/healthz");
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
}
END_TEST

START_TEST(test_malformed_http_survives)
{
    const char *garbage[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "GET /healthz?%zz=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "\x01\x02\x03\xff\xfe\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
        char *raw = th_http_raw(srv->port, garbage[i], strlen(garbage[i]), 3000);
        if (raw)
            ck_assert_msg(strncmp(raw, "HTTP/1.1 5", 10) != 0, "case %zu: %.60s", i, raw);
        free(raw);
    }
    struct th_resp *r = get("/healthz");
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
}
END_TEST

START_TEST(test_request_id_and_access_log)
{
    const char *h[] = {"X-Request-Id: trace-abc-123", NULL};
    struct th_resp *r = th_http(srv->port, "GET", "/healthz", h, NULL, 0);
    ck_assert_str_eq(th_resp_header(r, "X-Request-Id"), "trace-abc-123");
    th_resp_free(r);
    r = get("/healthz");
    const char *rid = th_resp_header(r, "X-Request-Id");
    ck_assert_ptr_nonnull(rid);
    ck_assert_int_eq(strlen(rid), 26);
    th_resp_free(r);
    /* Hostile ids are replaced. */
    const char *bad[] = {"X-Request-Id: \"quoted\" {json}", NULL};
    r = th_http(srv->port, "GET", "/healthz", bad, NULL, 0);
    ck_assert_str_ne(th_resp_header(r, "X-Request-Id"), "\"quoted\" {json}");
    th_resp_free(r);
    usleep(100000);
    FILE *f = fopen(srv->log_path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        /* stdout shares the file: the generated admin key's banner. */
        if (strcmp(line, "\n") == 0 || strncmp(line, "Admin key (shown once", 21) == 0)
            continue;
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_msg(j != NULL, "log line is not JSON: %s", line);
        const char *id = json_string_value(json_object_get(j, "request_id"));
        if (id && strcmp(id, "trace-abc-123") == 0) {
            found = true;
            ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 200);
            ck_assert_str_eq(json_string_value(json_object_get(j, "path")), "/healthz");
            ck_assert(json_is_number(json_object_get(j, "duration_ms")));
        }
        json_decref(j);
    }
    fclose(f);
    ck_assert(found);
}
END_TEST

START_TEST(test_graceful_shutdown_finishes_in_flight)
{
    /* Hold a lock that /readyz's query needs, so the request stays in flight. */
    PGconn *db = th_db_connect(db_url);
    PQclear(th_sql(db, "BEGIN", NULL));
    PQclear(th_sql(db, "LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE", NULL));
    pid_t child = fork();
    if (child == 0) {
        struct th_resp *r = th_http(srv->port, "GET", "/readyz", NULL, NULL, 0);
        _exit(r && r->status == 200 ? 0 : 1);
    }
    usleep(300000);
    kill(srv->pid, SIGTERM);
    usleep(300000);
    /* Not accepting any more. */
    struct th_resp *late = th_http(srv->port, "GET", "/healthz", NULL, NULL, 0);
    ck_assert_ptr_null(late);
    PQclear(th_sql(db, "COMMIT", NULL));
    PQfinish(db);
    int status;
    waitpid(child, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the in-flight request did not complete with 200");
    /* It exits by itself, cleanly, well within the shutdown timeout. */
    ck_assert_int_eq(th_server_wait(srv, 10000), 0);
    srv = NULL;
}
END_TEST

START_TEST(test_reconnects_after_backends_die)
{
    PGconn *db = th_db_connect(db_url);
    struct th_resp *r = get("/readyz");
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    PQclear(th_sql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                   NULL));
    int ok = 0, unavailable = 0;
    for (int i = 0; i < 100 && ok < 3; i++) {
        r = get("/readyz");
        if (r->status == 200)
            ok++;
        else {
            ck_assert_int_eq(r->status, 503);
            ck_assert_ptr_nonnull(th_resp_header(r, "Retry-After"));
            unavailable++;
        }
        th_resp_free(r);
        usleep(50000);
    }
    ck_assert_int_eq(ok, 3);
    PQfinish(db);
}
END_TEST

START_TEST(test_unmigrated_database_not_ready)
{
    char *empty = th_db_create_empty();
    struct th_server *s = th_server_start(empty, NULL, NULL);
    struct th_resp *r = th_http(s->port, "GET", "/readyz", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 503);
    th_resp_free(r);
    r = th_http(s->port, "GET", "/healthz", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    ck_assert_int_eq(th_server_stop(s), 0);
    free(empty);
}
END_TEST

START_TEST(test_database_down_gives_503)
{
    /* Nothing listens on port 1. */
    struct th_server *s =
        th_server_start("postgres://postgres@127.0.0.1:1/none?connect_timeout=1", NULL, NULL);
    struct th_resp *r = th_http(s->port, "GET", "/readyz", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 503);
    ck_assert_ptr_nonnull(th_resp_header(r, "Retry-After"));
    th_resp_free(r);
    r = th_scim(s->port, "scim_0000000000000000000000000000000000000000000000000000", "GET",
                "/scim/v2/Users", NULL);
    ck_assert_int_ne(r->status, 500);
    th_resp_free(r);
    ck_assert_int_eq(th_server_stop(s), 0);
}
END_TEST

START_TEST(test_migrate_idempotent_concurrent_and_checked)
{
    char *empty = th_db_create_empty();
    char env_url[512];
    snprintf(env_url, sizeof env_url, "DATABASE_URL=%s", empty);
    const char *env[] = {env_url, NULL};
    const char *args[] = {"migrate", NULL};
    /* Two runners at once: the advisory lock serialises them. */
    pid_t a = fork();
    if (a == 0)
        _exit(th_run_scimgate(env, args, NULL));
    int rc_b = th_run_scimgate(env, args, NULL);
    int status;
    waitpid(a, &status, 0);
    ck_assert_int_eq(rc_b, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    PGconn *db = th_db_connect(empty);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM schema_migrations", NULL),
                     migrations_embedded_count);
    /* Idempotent. */
    ck_assert_int_eq(th_run_scimgate(env, args, NULL), 0);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM schema_migrations", NULL),
                     migrations_embedded_count);
    /* Every tenant table is keyed by org_id first. */
    ck_assert_int_eq(th_sql_int(db,
                                "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
                                " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]"
                                " WHERE i.indisprimary AND c.relname IN ('users','groups',"
                                "'group_members','scim_tokens','events','deliveries',"
                                "'delivery_attempts','attribute_mappings','event_counters')"
                                " AND a.attname <> 'org_id'",
                                NULL),
                     0);
    /* A changed file is refused. */
    PQclear(th_sql(db, "UPDATE schema_migrations SET checksum = 'x' WHERE name = '0001_initial.sql'",
                   NULL));
    char *out = NULL;
    ck_assert_int_ne(th_run_scimgate(env, args, &out), 0);
    ck_assert_msg(strstr(out, "0001_initial.sql") && strstr(out, "different contents"), "%s", out);
    free(out);
    PQfinish(db);
    free(empty);
}
END_TEST

START_TEST(test_command_line)
{
    char *out = NULL;
    const char *version[] = {"version", NULL};
    ck_assert_int_eq(th_run_scimgate(NULL, version, &out), 0);
    ck_assert(strstr(out, "scimgate") && strstr(out, "libevent") && strstr(out, "libpq"));
    free(out);
    const char *help[] = {"serve", "--help", NULL};
    ck_assert_int_eq(th_run_scimgate(NULL, help, &out), 0);
    ck_assert(strstr(out, "SCIMGATE_LISTEN") && strstr(out, "SCIMGATE_RATE_PER_TOKEN"));
    free(out);
    const char *bad[] = {"serve", "--check-config", "--listen", "not-an-address", NULL};
    ck_assert_int_eq(th_run_scimgate(NULL, bad, &out), 2);
    ck_assert_msg(strstr(out, "SCIMGATE_LISTEN"), "%s", out);
    free(out);
    const char *bad_env[] = {"SCIMGATE_RATE_PER_TOKEN=fast", NULL};
    const char *check[] = {"serve", "--check-config", NULL};
    ck_assert_int_eq(th_run_scimgate(bad_env, check, &out), 2);
    ck_assert_msg(strstr(out, "SCIMGATE_RATE_PER_TOKEN"), "%s", out);
    free(out);
    ck_assert_int_eq(th_run_scimgate(NULL, check, &out), 0);
    free(out);
    const char *unknown[] = {"frobnicate", NULL};
    ck_assert_int_eq(th_run_scimgate(NULL, unknown, &out), 2);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("foundation");
    TCase *tc = tcase_create("server");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_health_and_ready);
    tcase_add_test(tc, test_unknown_route_and_method);
    tcase_add_test(tc, test_body_limits);
    tcase_add_test(tc, test_malformed_http_survives);
    tcase_add_test(tc, test_request_id_and_access_log);
    tcase_add_test(tc, test_graceful_shutdown_finishes_in_flight);
    tcase_add_test(tc, test_reconnects_after_backends_die);
    suite_add_tcase(s, tc);
    TCase *alone = tcase_create("standalone");
    tcase_set_timeout(alone, 120);
    tcase_add_test(alone, test_unmigrated_database_not_ready);
    tcase_add_test(alone, test_database_down_gives_503);
    tcase_add_test(alone, test_migrate_idempotent_concurrent_and_checked);
    tcase_add_test(alone, test_command_line);
    suite_add_tcase(s, alone);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
