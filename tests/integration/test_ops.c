/*
 * test_ops.c - what an operator relies on: HTTPS with certificate
 * verification and a SIGHUP reload that keeps open connections, and the
 * Prometheus metrics page after a scripted workload.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/scimgate-tls-%d", (int)getpid());
    mkdir(dir, 0700);
}

START_TEST(test_https_and_reload)
{
    make_dir();
    th_make_cert(dir, "one");
    th_make_cert(dir, "two");
    char cert[300], key[300], cert_env[320], key_env[320];
    snprintf(cert, sizeof cert, "%s/live.crt", dir);
    snprintf(key, sizeof key, "%s/live.key", dir);
    ck_assert_int_eq(system(th_fmt("cp %s/one.crt %s && cp %s/one.key %s", dir, cert, dir, key)), 0);
    snprintf(cert_env, sizeof cert_env, "SCIMGATE_TLS_CERT=%s", cert);
    snprintf(key_env, sizeof key_env, "SCIMGATE_TLS_KEY=%s", key);
    char *db = th_db_create();
    const char *env[] = {cert_env, key_env, NULL};
    struct th_server *s = th_server_start(db, env, NULL);

    char why[200], ca_one[300], ca_two[300];
    snprintf(ca_one, sizeof ca_one, "%s/one.crt", dir);
    snprintf(ca_two, sizeof ca_two, "%s/two.crt", dir);
    /* A verified connection works; plain HTTP on the TLS port does not answer. */
    struct th_tls *keep = th_tls_connect(s->port, ca_one, "localhost", why, sizeof why);
    ck_assert_msg(keep != NULL, "TLS connect failed: %s", why);
    struct th_resp *r = th_tls_request(keep, "GET", "/healthz");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    struct th_resp *plain = th_http(s->port, "GET", "/healthz", NULL, NULL, 0);
    ck_assert(plain == NULL || plain->status != 200);
    th_resp_free(plain);
    /* The wrong trust anchor is refused. */
    ck_assert_ptr_null(th_tls_connect(s->port, ca_two, "localhost", why, sizeof why));

    /* Swap the files and reload: new connections see the new certificate... */
    ck_assert_int_eq(system(th_fmt("cp %s/two.crt %s && cp %s/two.key %s", dir, cert, dir, key)), 0);
    kill(s->pid, SIGHUP);
    usleep(300000);
    struct th_tls *fresh = th_tls_connect(s->port, ca_two, "localhost", why, sizeof why);
    ck_assert_msg(fresh != NULL, "after reload: %s", why);
    r = th_tls_request(fresh, "GET", "/healthz");
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    th_tls_close(fresh);
    /* ...and the connection opened before the reload still works. */
    r = th_tls_request(keep, "GET", "/livez");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    th_tls_close(keep);

    /* A broken file on reload keeps the working certificate. */
    ck_assert_int_eq(system(th_fmt("echo broken > %s", key)), 0);
    kill(s->pid, SIGHUP);
    usleep(300000);
    fresh = th_tls_connect(s->port, ca_two, "localhost", why, sizeof why);
    ck_assert_msg(fresh != NULL, "after a failed reload: %s", why);
    th_tls_close(fresh);
    ck_assert_int_eq(th_server_stop(s), 0);
    ck_assert_int_eq(system(th_fmt("rm -rf %s", dir)), 0);
    free(db);
}
END_TEST

START_TEST(test_bad_tls_configuration_stops_startup)
{
    make_dir();
    th_make_cert(dir, "a");
    th_make_cert(dir, "b");
    char *out = NULL;
    const char *mismatch[] = {th_fmt("SCIMGATE_TLS_CERT=%s/a.crt", dir),
                              th_fmt("SCIMGATE_TLS_KEY=%s/b.key", dir),
                              "SCIMGATE_LISTEN=127.0.0.1:0",
                              "DATABASE_URL=postgres://127.0.0.1:1/none", NULL};
    const char *serve[] = {"serve", NULL};
    ck_assert_int_ne(th_run_scimgate(mismatch, serve, &out), 0);
    ck_assert_msg(strstr(out, "SCIMGATE_TLS_KEY does not match"), "%s", out);
    free(out);
    const char *only_cert[] = {th_fmt("SCIMGATE_TLS_CERT=%s/a.crt", dir), NULL};
    const char *check[] = {"serve", "--check-config", NULL};
    ck_assert_int_eq(th_run_scimgate(only_cert, check, &out), 2);
    ck_assert_msg(strstr(out, "SCIMGATE_TLS_KEY"), "%s", out);
    free(out);
    ck_assert_int_eq(system(th_fmt("rm -rf %s", dir)), 0);
}
END_TEST

/* The value of the first sample line starting with prefix, or -1. */
static double sample(const char *page, const char *prefix)
{
    const char *p = page;
    size_t n = strlen(prefix);
    while ((p = strstr(p, prefix))) {
        if (p == page || p[-1] == '\n') {
            const char *eol = strchr(p, '\n');
            const char *sp = p + n;
            const char *last = NULL;
            for (; *sp && sp != eol; sp++)
                if (*sp == ' ')
                    last = sp;
            if (last)
                return strtod(last + 1, NULL);
        }
        p += n;
    }
    return -1;
}

START_TEST(test_metrics_after_workload)
{
    char *db = th_db_create();
    PGconn *pg = th_db_connect(db);
    char *admin = th_admin_key_create(pg);
    struct th_server *s = th_server_start(db, NULL, NULL);
    for (int i = 0; i < 7; i++)
        th_resp_free(th_http(s->port, "GET", "/healthz", NULL, NULL, 0));
    for (int i = 0; i < 3; i++)
        th_resp_free(th_http(s->port, "GET", "/nowhere", NULL, NULL, 0));
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", admin);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    const char *body = "{\"name\":\"Metrics Inc\"}";
    for (int i = 0; i < 2; i++)
        th_resp_free(th_http(s->port, "POST", "/v1/organizations", h, body, strlen(body)));
    struct th_resp *r = th_http(s->port, "GET", "/metrics", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert(strncmp(th_resp_header(r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0);
    const char *page = r->body;
    ck_assert(sample(page, "scimgate_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"") == 7);
    ck_assert(sample(page, "scimgate_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"") == 3);
    ck_assert(sample(page, "scimgate_http_requests_total{route=\"/v1/organizations\",method=\"POST\",status=\"201\"") == 2);
    ck_assert(sample(page, "scimgate_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"") == 7);
    ck_assert(sample(page, "scimgate_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"+Inf\"") == 7);
    ck_assert(sample(page, "scimgate_build_info{version=") == 1);
    ck_assert(sample(page, "scimgate_db_pool_connections{state=\"configured\"") == 8);
    ck_assert(sample(page, "scimgate_outbox_scrape_ok") == 1);
    ck_assert(sample(page, "scimgate_outbox_pending_deliveries") == 0);
    ck_assert(sample(page, "scimgate_db_query_duration_seconds_count") >= 2);
    ck_assert(sample(page, "process_resident_memory_bytes") > 0);
    /* Every metric name follows the conventions: the scimgate_ prefix (or the
     * standard process_ ones) and _total only on counters. */
    char *copy = xstrdup(page), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) != 0)
            continue;
        ck_assert_msg(strncmp(line + 7, "scimgate_", 9) == 0 || strncmp(line + 7, "process_", 8) == 0,
                      "%s", line);
        bool total = strstr(line, "_total ") != NULL;
        bool counter = strstr(line, " counter") != NULL;
        ck_assert_msg(total == counter, "%s", line);
        ck_assert_msg(!strstr(line, "token") && !strstr(line, "org"), "%s", line);
    }
    free(copy);
    th_resp_free(r);
    ck_assert_int_eq(th_server_stop(s), 0);
    free(admin);
    PQfinish(pg);
    free(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_https_and_reload);
    tcase_add_test(tc, test_bad_tls_configuration_stops_startup);
    tcase_add_test(tc, test_metrics_after_workload);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
