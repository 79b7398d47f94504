/*
 * test_webhooks.c - the outbox and the delivery worker end to end, with the
 * example receiver and misbehaving endpoints on loopback: signed, ordered
 * delivery of every event of a user's lifecycle; retries after 500s with the
 * same webhook-id; timeouts, refused and reset connections, redirects and an
 * untrusted TLS certificate recorded and finally failed; a worker killed in
 * the middle of a delivery, taken over by another; replay; and the ordered
 * event feed under concurrent writes.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

static char *db_url;
static char *admin;

/* Fast retries, a 1 s attempt timeout, a 3 s horizon. */
static const char *const fast_env[] = {
    "SCIMGATE_WEBHOOK_RETRY_MIN_MS=50", "SCIMGATE_WEBHOOK_RETRY_BASE_MS=100",
    "SCIMGATE_WEBHOOK_RETRY_CAP_MS=400", "SCIMGATE_WEBHOOK_RETRY_HORIZON_S=3",
    "SCIMGATE_WEBHOOK_TIMEOUT_MS=1000", "SCIMGATE_WORKER_POLL_MS=100", NULL};

static void setup(void)
{
    db_url = th_db_create();
    PGconn *c = th_db_connect(db_url);
    admin = th_admin_key_create(c);
    PQfinish(c);
}

static void teardown(void)
{
    free(admin);
    free(db_url);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static struct th_resp *api(int port, const char *method, const char *path, const char *body)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", admin);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    struct th_resp *r = th_http(port, method, path, h, body, body ? strlen(body) : 0);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Creates an endpoint for url (all events, this org); returns its id and
 * secret (new strings). */
static void endpoint(int port, const char *org, const char *url, char **id, char **secret)
{
    struct th_resp *r = api(port, "POST", "/v1/webhook-endpoints",
                            th_fmt("{\"url\":\"%s\",\"events\":null,\"organization_id\":\"%s\"}",
                                   url, org));
    ck_assert_msg(r->status == 201, "%s", r->body);
    *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
    *secret = xstrdup(json_string_value(json_object_get(r->json, "secret")));
    th_resp_free(r);
}

struct receiver {
    pid_t pid;
    int port;
    char record[256];
};

static void receiver_start(struct receiver *rx, const char *secret, const char *extra1,
                           const char *extra2)
{
    rx->port = free_port();
    snprintf(rx->record, sizeof rx->record, "/tmp/scimgate-rx-%d-%d.jsonl", (int)getpid(), rx->port);
    unlink(rx->record);
    rx->pid = fork();
    if (rx->pid == 0) {
        char listen[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", rx->port);
        const char *argv[] = {"scimgate-receiver", "--listen", listen, "--secret", secret,
                              "--record", rx->record, extra1, extra2, NULL};
        (void)!freopen("/dev/null", "w", stdout);
        (void)!freopen("/dev/null", "w", stderr);
        execv(RECEIVER_BIN, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        struct th_resp *r = th_http(rx->port, "GET", "/", NULL, NULL, 0);
        bool up = r && r->status == 200;
        th_resp_free(r);
        if (up)
            return;
        usleep(20000);
    }
    ck_abort_msg("receiver did not start");
}

static void receiver_stop(struct receiver *rx)
{
    kill(rx->pid, SIGTERM);
    int st;
    waitpid(rx->pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "receiver exit %d", st);
    unlink(rx->record);
}

/* Event types in the receiver's record file, in arrival order. */
static json_t *recorded(const struct receiver *rx)
{
    json_t *types = json_array();
    FILE *f = fopen(rx->record, "r");
    char line[65536];
    while (f && fgets(line, sizeof line, f)) {
        json_t *ev = json_loads(line, 0, NULL);
        if (ev)
            json_array_append_new(types, json_string(json_string_value(json_object_get(ev, "type"))));
        json_decref(ev);
    }
    if (f)
        fclose(f);
    return types;
}

static json_t *wait_recorded(const struct receiver *rx, size_t n, int timeout_ms)
{
    int64_t end = util_mono_us() + (int64_t)timeout_ms * 1000;
    json_t *got = recorded(rx);
    while (json_array_size(got) < n && util_mono_us() < end) {
        json_decref(got);
        usleep(50000);
        got = recorded(rx);
    }
    return got;
}

/* Polls the database until sql (one number) equals want. */
static void wait_value(PGconn *db, const char *sql, const char *param, long long want,
                       int timeout_ms)
{
    int64_t end = util_mono_us() + (int64_t)timeout_ms * 1000;
    long long v = -1;
    while (util_mono_us() < end) {
        v = th_sql_int(db, sql, param, NULL);
        if (v == want)
            return;
        usleep(50000);
    }
    ck_abort_msg("%s: got %lld, wanted %lld", sql, v, want);
}

static char *make_user(const struct th_server *s, const char *token, const char *name)
{
    struct th_resp *r = th_scim(s->port, token, "POST", "/scim/v2/Users",
                                th_fmt("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
                                       "\"userName\":\"%s\",\"name\":{\"givenName\":\"A\"}}", name));
    ck_assert_int_eq(r->status, 201);
    char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
    th_resp_free(r);
    return id;
}

static void patch_active(const struct th_server *s, const char *token, const char *id, bool on)
{
    struct th_resp *r = th_scim(s->port, token, "PATCH", th_fmt("/scim/v2/Users/%s", id),
                                th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                       "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":%s}}]}",
                                       on ? "true" : "false"));
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
}

START_TEST(test_lifecycle_delivered_in_order_and_signed)
{
    struct th_server *s = th_server_start(db_url, fast_env, (const char *[]){"serve", "--with-worker", NULL});
    PGconn *db = th_db_connect(db_url);
    struct th_org org;
    th_org_create(db, "Acme", &org);
    char *wid, *secret;
    struct receiver rx;
    /* The receiver needs the secret, the endpoint needs the receiver's port. */
    rx.port = 0;
    endpoint(s->port, org.id, "http://127.0.0.1:1/placeholder", &wid, &secret);
    receiver_start(&rx, secret, "--fail-first", "2");
    PQclear(th_sql(db, "UPDATE webhook_endpoints SET url = $1 WHERE id = $2",
                   th_fmt("http://127.0.0.1:%d/hooks", rx.port), wid, NULL));
    char *uid = make_user(s, org.token, "ordered@example.com");
    patch_active(s, org.token, uid, false);
    patch_active(s, org.token, uid, true);
    struct th_resp *r = th_scim(s->port, org.token, "DELETE", th_fmt("/scim/v2/Users/%s", uid), NULL);
    ck_assert_int_eq(r->status, 204);
    th_resp_free(r);
    json_t *got = wait_recorded(&rx, 4, 15000);
    const char *want[] = {"scimUser.provisioned", "scimUser.deprovisioned", "scimUser.reactivated",
                          "scimUser.deleted"};
    ck_assert_int_eq(json_array_size(got), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(json_string_value(json_array_get(got, (size_t)i)), want[i]);
    json_decref(got);
    /* The first delivery failed twice (500) and succeeded on the third attempt,
     * all under one delivery id, which is the webhook-id. */
    r = api(s->port, "GET", th_fmt("/v1/webhook-endpoints/%s/deliveries?status=succeeded", wid), NULL);
    json_t *data = json_object_get(r->json, "data");
    ck_assert_int_eq(json_array_size(data), 4);
    json_t *first = json_array_get(data, 3); /* newest first */
    ck_assert_str_eq(json_string_value(json_object_get(first, "event_type")), "scimUser.provisioned");
    ck_assert_int_eq(json_integer_value(json_object_get(first, "attempts")), 3);
    json_t *log = json_object_get(first, "attempt_log");
    ck_assert_int_eq(json_array_size(log), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 0), "response_status")), 500);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 2), "response_status")), 204);
    char evt[64];
    snprintf(evt, sizeof evt, "%s", json_string_value(json_object_get(first, "event_id")));
    th_resp_free(r);
    /* Replay sends it again. */
    r = api(s->port, "POST", th_fmt("/v1/events/%s/replay", evt), NULL);
    ck_assert_int_eq(r->status, 202);
    th_resp_free(r);
    got = wait_recorded(&rx, 5, 10000);
    ck_assert_int_eq(json_array_size(got), 5);
    ck_assert_str_eq(json_string_value(json_array_get(got, 4)), "scimUser.provisioned");
    json_decref(got);
    receiver_stop(&rx);
    ck_assert_int_eq(th_server_stop(s), 0);
    PQfinish(db);
    free(uid);
    free(wid);
    free(secret);
}
END_TEST

/* A misbehaving HTTP endpoint: mode "redirect" answers 302, "reset" closes
 * every connection abruptly, "hang" accepts and never answers. */
static pid_t stub_start(int port, const char *mode)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    listen(fd, 64);
    pid_t pid = fork();
    if (pid == 0) {
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0)
                continue;
            char buf[4096];
            if (strcmp(mode, "hang") == 0)
                continue; /* keeps the socket open, never answers */
            (void)!recv(c, buf, sizeof buf, 0);
            if (strcmp(mode, "redirect") == 0) {
                const char *ans = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\n"
                                  "Content-Length: 0\r\nConnection: close\r\n\r\n";
                (void)!send(c, ans, strlen(ans), MSG_NOSIGNAL);
            } else {
                struct linger lg = {1, 0};
                setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            }
            close(c);
        }
    }
    close(fd);
    return pid;
}

START_TEST(test_bad_endpoints_are_retried_recorded_and_failed)
{
    struct th_server *s = th_server_start(db_url, fast_env, (const char *[]){"serve", "--with-worker", NULL});
    PGconn *db = th_db_connect(db_url);
    struct th_org org;
    th_org_create(db, "Faults", &org);
    int p_redirect = free_port(), p_reset = free_port(), p_hang = free_port(), p_tls = free_port();
    pid_t stubs[3] = {stub_start(p_redirect, "redirect"), stub_start(p_reset, "reset"),
                      stub_start(p_hang, "hang")};
    char dir[] = "/tmp/scimgate-wh-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    th_make_cert(dir, "self");
    pid_t tls = fork();
    if (tls == 0) {
        (void)!freopen("/dev/null", "w", stdout);
        (void)!freopen("/dev/null", "w", stderr);
        execlp("openssl", "openssl", "s_server", "-quiet", "-accept", th_fmt("%d", p_tls), "-cert",
               th_fmt("%s/self.crt", dir), "-key", th_fmt("%s/self.key", dir), "-www", (char *)NULL);
        _exit(127);
    }
    usleep(500000);
    const char *urls[] = {th_fmt("http://127.0.0.1:%d/", p_redirect),
                          th_fmt("http://127.0.0.1:%d/", p_reset),
                          th_fmt("http://127.0.0.1:%d/", p_hang),
                          "http://127.0.0.1:1/refused",
                          th_fmt("https://localhost:%d/", p_tls)};
    char *ids[5], *secrets[5];
    for (int i = 0; i < 5; i++)
        endpoint(s->port, org.id, urls[i], &ids[i], &secrets[i]);
    free(make_user(s, org.token, "faults@example.com"));
    /* Every delivery fails for good once the 3 s horizon has passed. */
    wait_value(db, "SELECT count(*) FROM deliveries WHERE org_id = $1 AND status = 'failed'", org.id, 5,
               20000);
    const char *expect[] = {"redirects are not followed", "", "no answer within", "", "TLS"};
    for (int i = 0; i < 5; i++) {
        struct th_resp *r = api(s->port, "GET", th_fmt("/v1/webhook-endpoints/%s/deliveries", ids[i]), NULL);
        json_t *d = json_array_get(json_object_get(r->json, "data"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(d, "status")), "failed");
        ck_assert_int_ge(json_integer_value(json_object_get(d, "attempts")), 2);
        const char *err = json_string_value(json_object_get(d, "last_error"));
        ck_assert_msg(err && strstr(err, expect[i]), "%s: %s", urls[i], err ? err : "(none)");
        ck_assert_int_eq(json_array_size(json_object_get(d, "attempt_log")),
                         json_integer_value(json_object_get(d, "attempts")));
        th_resp_free(r);
        free(ids[i]);
        free(secrets[i]);
    }
    for (int i = 0; i < 3; i++) {
        kill(stubs[i], SIGKILL);
        waitpid(stubs[i], NULL, 0);
    }
    kill(tls, SIGKILL);
    waitpid(tls, NULL, 0);
    ck_assert_int_eq(system(th_fmt("rm -rf %s", dir)), 0);
    ck_assert_int_eq(th_server_stop(s), 0);
    PQfinish(db);
}
END_TEST

START_TEST(test_killed_worker_is_taken_over)
{
    /* The gateway writes; a separate worker delivers to a slow receiver and is
     * killed while the receiver holds the delivery open. */
    struct th_server *gw = th_server_start(db_url, fast_env, NULL);
    PGconn *db = th_db_connect(db_url);
    struct th_org org;
    th_org_create(db, "Crash", &org);
    char *wid, *secret;
    endpoint(gw->port, org.id, "http://127.0.0.1:1/placeholder", &wid, &secret);
    struct receiver rx;
    receiver_start(&rx, secret, "--delay-ms", "2500");
    PQclear(th_sql(db, "UPDATE webhook_endpoints SET url = $1 WHERE id = $2",
                   th_fmt("http://127.0.0.1:%d/hooks", rx.port), wid, NULL));
    const char *slow_env[] = {"SCIMGATE_WEBHOOK_TIMEOUT_MS=5000", "SCIMGATE_WORKER_POLL_MS=100",
                              "SCIMGATE_WEBHOOK_RETRY_MIN_MS=50", "SCIMGATE_WEBHOOK_RETRY_BASE_MS=100",
                              NULL};
    struct th_server *w1 = th_server_start(db_url, slow_env, (const char *[]){"worker", NULL});
    free(make_user(gw, org.token, "crash@example.com"));
    wait_value(db, "SELECT count(*) FROM deliveries WHERE org_id = $1 AND lease_owner IS NOT NULL",
               org.id, 1, 5000);
    th_server_kill(w1); /* SIGKILL mid-delivery */
    struct th_server *w2 = th_server_start(db_url, slow_env, (const char *[]){"worker", NULL});
    /* The lease runs out, the second worker takes the delivery over. */
    wait_value(db, "SELECT count(*) FROM deliveries WHERE org_id = $1 AND status = 'succeeded'",
               org.id, 1, 40000);
    json_t *got = recorded(&rx);
    ck_assert_int_ge(json_array_size(got), 1);
    json_decref(got);
    /* One delivery row, one webhook-id, for every attempt. */
    ck_assert_int_eq(th_sql_int(db, "SELECT count(DISTINCT delivery_id) FROM delivery_attempts WHERE org_id = $1",
                                org.id, NULL),
                     1);
    ck_assert_int_eq(th_server_stop(w2), 0);
    ck_assert_int_eq(th_server_stop(gw), 0);
    receiver_stop(&rx);
    PQfinish(db);
    free(wid);
    free(secret);
}
END_TEST

START_TEST(test_event_feed_is_ordered_and_complete)
{
    struct th_server *s = th_server_start(db_url, NULL, NULL);
    PGconn *db = th_db_connect(db_url);
    struct th_org org;
    th_org_create(db, "Feed", &org);
    PQclear(th_sql(db, "UPDATE scim_tokens SET rate_per_sec = 10000, burst = 10000 WHERE org_id = $1",
                   org.id, NULL));
    pid_t kids[8];
    for (int k = 0; k < 8; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            for (int i = 0; i < 15; i++)
                free(make_user(s, org.token, th_fmt("feed-%d-%d@example.com", k, i)));
            _exit(0);
        }
    }
    for (int k = 0; k < 8; k++)
        waitpid(kids[k], NULL, 0);
    long long after = 0, count = 0;
    for (;;) {
        struct th_resp *r = api(s->port, "GET",
                                th_fmt("/v1/events?organization_id=%s&after=%lld&limit=7", org.id, after), NULL);
        ck_assert_int_eq(r->status, 200);
        json_t *data = json_object_get(r->json, "data");
        size_t i;
        json_t *ev;
        json_array_foreach(data, i, ev) {
            long long seq = json_integer_value(json_object_get(ev, "seq"));
            ck_assert_int_eq(seq, after + 1); /* strictly increasing, nothing skipped */
            after = seq;
            count++;
        }
        bool more = json_is_true(json_object_get(r->json, "has_more"));
        th_resp_free(r);
        if (!more)
            break;
    }
    ck_assert_int_eq(count, 120);
    /* Another organization's feed is its own. */
    struct th_org other;
    th_org_create(db, "Other", &other);
    struct th_resp *r = api(s->port, "GET", th_fmt("/v1/events?organization_id=%s", other.id), NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "data")), 0);
    th_resp_free(r);
    ck_assert_int_eq(th_server_stop(s), 0);
    PQfinish(db);
}
END_TEST

START_TEST(test_sigterm_finishes_and_records_the_delivery_in_flight)
{
    struct th_server *s = th_server_start(db_url, fast_env, (const char *[]){"serve", "--with-worker", NULL});
    PGconn *db = th_db_connect(db_url);
    struct th_org org;
    th_org_create(db, "Drain", &org);
    char *wid, *secret;
    endpoint(s->port, org.id, "http://127.0.0.1:1/placeholder", &wid, &secret);
    struct receiver rx;
    receiver_start(&rx, secret, "--delay-ms", "800");
    PQclear(th_sql(db, "UPDATE webhook_endpoints SET url = $1 WHERE id = $2",
                   th_fmt("http://127.0.0.1:%d/hooks", rx.port), wid, NULL));
    free(make_user(s, org.token, "drain@example.com"));
    wait_value(db, "SELECT count(*) FROM deliveries WHERE org_id = $1 AND lease_owner IS NOT NULL",
               org.id, 1, 5000);
    /* Stop while the receiver holds the delivery: it completes and is
     * recorded before the process exits, well within the drain limit. */
    int64_t t0 = util_mono_us();
    kill(s->pid, SIGTERM);
    ck_assert_int_eq(th_server_wait(s, 10000), 0);
    ck_assert_int_lt((util_mono_us() - t0) / 1000, 10000);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM deliveries WHERE org_id = $1 AND status = 'succeeded'",
                                org.id, NULL),
                     1);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM delivery_attempts WHERE org_id = $1", org.id, NULL), 1);
    receiver_stop(&rx);
    PQfinish(db);
    free(wid);
    free(secret);
}
END_TEST

START_TEST(test_second_signal_stops_at_once)
{
    struct th_server *s = th_server_start(db_url, fast_env, (const char *[]){"serve", "--with-worker", NULL});
    PGconn *db = th_db_connect(db_url);
    struct th_org org;
    th_org_create(db, "Impatient", &org);
    int port = free_port();
    pid_t hang = stub_start(port, "hang");
    char *wid, *secret;
    endpoint(s->port, org.id, th_fmt("http://127.0.0.1:%d/", port), &wid, &secret);
    PQclear(th_sql(db, "UPDATE webhook_endpoints SET url = $1 WHERE id = $2",
                   th_fmt("http://127.0.0.1:%d/", port), wid, NULL));
    free(make_user(s, org.token, "impatient@example.com"));
    wait_value(db, "SELECT count(*) FROM deliveries WHERE org_id = $1 AND lease_owner IS NOT NULL",
               org.id, 1, 5000);
    int64_t t0 = util_mono_us();
    kill(s->pid, SIGTERM);
    usleep(100000);
    kill(s->pid, SIGTERM);
    int rc = th_server_wait(s, 5000);
    ck_assert_int_ge(rc, 0); /* it exited by itself */
    ck_assert_int_lt((util_mono_us() - t0) / 1000, 2000);
    kill(hang, SIGKILL);
    waitpid(hang, NULL, 0);
    PQfinish(db);
    free(wid);
    free(secret);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("webhooks");
    TCase *tc = tcase_create("webhooks");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lifecycle_delivered_in_order_and_signed);
    tcase_add_test(tc, test_bad_endpoints_are_retried_recorded_and_failed);
    tcase_add_test(tc, test_killed_worker_is_taken_over);
    tcase_add_test(tc, test_event_feed_is_ordered_and_complete);
    tcase_add_test(tc, test_sigterm_finishes_and_records_the_delivery_in_flight);
    tcase_add_test(tc, test_second_signal_stops_at_once);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
