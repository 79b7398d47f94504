/*
 * test_tenancy.c - organizations, SCIM tokens and the admin API over HTTP;
 * revocation, expiry and organization deletion seen by two gateway processes
 * at once; scopes; authentication failures; the per-token rate limit (a burst
 * of 300 on one token, another token unaffected) and the limit holding across
 * two processes serving one token; the operator CLI.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

static char *db_url;
static struct th_server *a, *b;
static char *admin;
static PGconn *db;

static void setup(void)
{
    db_url = th_db_create();
    PGconn *c = th_db_connect(db_url);
    admin = th_admin_key_create(c);
    PQfinish(c);
    a = th_server_start(db_url, NULL, NULL);
    b = th_server_start(db_url, NULL, NULL);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(a), 0);
    ck_assert_int_eq(th_server_stop(b), 0);
    free(admin);
    free(db_url);
}

static void per_test(void)
{
    db = th_db_connect(db_url);
}

static void per_test_done(void)
{
    PQfinish(db);
}

static struct th_resp *api(struct th_server *s, const char *method, const char *path,
                           const char *body)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", admin);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    struct th_resp *r = th_http(s->port, method, path, h, body, body ? strlen(body) : 0);
    ck_assert_ptr_nonnull(r);
    return r;
}

static const char *jstr(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* Creates an organization and a token through the API; returns the token. */
static char *org_and_token(char *org_out, const char *token_body)
{
    struct th_resp *r = api(a, "POST", "/v1/organizations", "{\"name\":\"Acme\"}");
    ck_assert_int_eq(r->status, 201);
    snprintf(org_out, 64, "%s", jstr(r->json, "id"));
    th_resp_free(r);
    r = api(a, "POST", th_fmt("/v1/organizations/%s/scim/tokens", org_out),
            token_body ? token_body : "{\"name\":\"Okta\"}");
    ck_assert_msg(r->status == 201, "%s", r->body);
    char *tok = xstrdup(jstr(r->json, "token"));
    th_resp_free(r);
    return tok;
}

static int status_of(struct th_server *s, const char *token, const char *method,
                     const char *path, const char *body)
{
    struct th_resp *r = th_scim(s->port, token, method, path, body);
    int st = r ? r->status : -1;
    th_resp_free(r);
    return st;
}

START_TEST(test_admin_api_and_token_lifecycle)
{
    /* No key, a wrong key: API-shaped 401. */
    struct th_resp *r = th_http(a->port, "GET", "/v1/organizations", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 401);
    ck_assert_str_eq(jstr(json_object_get(r->json, "error"), "code"), "unauthorized");
    th_resp_free(r);
    char org[64];
    char *tok = org_and_token(org, NULL);
    ck_assert(strncmp(tok, "scim_", 5) == 0 && strlen(tok) == 57);
    /* Stored only as a hash. */
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM scim_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')",
                                tok, NULL),
                     1);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM scim_tokens t WHERE t::text LIKE '%' || $1 || '%'",
                                tok + 13, NULL),
                     0);
    /* Listed with its prefix, never the token. */
    r = api(a, "GET", th_fmt("/v1/organizations/%s/scim/tokens", org), NULL);
    ck_assert_int_eq(r->status, 200);
    json_t *t = json_array_get(json_object_get(r->json, "data"), 0);
    ck_assert_ptr_null(json_object_get(t, "token"));
    ck_assert(strncmp(tok, jstr(t, "prefix"), strlen(jstr(t, "prefix"))) == 0);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", jstr(t, "id"));
    th_resp_free(r);
    r = api(a, "GET", th_fmt("/v1/organizations/%s/scim/endpoint", org), NULL);
    ck_assert(strstr(jstr(r->json, "endpoint_url"), "/scim/v2/"));
    th_resp_free(r);
    /* Works on both processes. */
    ck_assert_int_eq(status_of(a, tok, "GET", "/scim/v2/Users", NULL), 200);
    ck_assert_int_eq(status_of(b, tok, "GET", "/scim/v2/Users", NULL), 200);
    /* Revoked on one process: refused by both within a second (both had it cached). */
    r = api(a, "DELETE", th_fmt("/v1/organizations/%s/scim/tokens/%s", org, tid), NULL);
    ck_assert_int_eq(r->status, 204);
    th_resp_free(r);
    int64_t start = util_mono_us();
    int sa = 0, sb = 0;
    while (util_mono_us() - start < 1000000) {
        sa = status_of(a, tok, "GET", "/scim/v2/Users", NULL);
        sb = status_of(b, tok, "GET", "/scim/v2/Users", NULL);
        if (sa == 401 && sb == 401)
            break;
        usleep(20000);
    }
    ck_assert_int_eq(sa, 401);
    ck_assert_int_eq(sb, 401);
    r = api(a, "GET", th_fmt("/v1/organizations/%s/scim/tokens", org), NULL);
    ck_assert(json_is_integer(json_object_get(json_array_get(json_object_get(r->json, "data"), 0), "revoked_at")));
    th_resp_free(r);
    /* Unknown ids and bad bodies. */
    r = api(a, "DELETE", th_fmt("/v1/organizations/%s/scim/tokens/scimt_nope", org), NULL);
    ck_assert_int_eq(r->status, 404);
    th_resp_free(r);
    r = api(a, "POST", th_fmt("/v1/organizations/%s/scim/tokens", org), "{\"name\":\"x\",\"scopes\":[\"eat:users\"]}");
    ck_assert_int_eq(r->status, 400);
    th_resp_free(r);
    r = api(a, "POST", "/v1/organizations", "{\"name\":\"\"}");
    ck_assert_int_eq(r->status, 400);
    th_resp_free(r);
    r = api(a, "POST", "/v1/organizations/org_none/scim/tokens", "{\"name\":\"x\"}");
    ck_assert_int_eq(r->status, 404);
    th_resp_free(r);
    free(tok);
}
END_TEST

START_TEST(test_org_delete_and_expiry)
{
    char org[64];
    char *tok = org_and_token(org, NULL);
    ck_assert_int_eq(status_of(b, tok, "GET", "/scim/v2/Users", NULL), 200);
    struct th_resp *r = api(a, "DELETE", th_fmt("/v1/organizations/%s", org), NULL);
    ck_assert_int_eq(r->status, 204);
    th_resp_free(r);
    usleep(300000);
    ck_assert_int_eq(status_of(b, tok, "GET", "/scim/v2/Users", NULL), 401);
    r = api(a, "GET", th_fmt("/v1/organizations/%s", org), NULL);
    ck_assert_int_eq(r->status, 404);
    th_resp_free(r);
    free(tok);
    /* A token that expires in 1.5 s. */
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"short\",\"expires_at\":%lld}", (long long)util_now_ms() + 1500);
    tok = org_and_token(org, body);
    ck_assert_int_eq(status_of(a, tok, "GET", "/scim/v2/Users", NULL), 200);
    usleep(1700000);
    ck_assert_int_eq(status_of(a, tok, "GET", "/scim/v2/Users", NULL), 401);
    free(tok);
}
END_TEST

START_TEST(test_scopes_and_auth_failures)
{
    char org[64];
    char *ro = org_and_token(org, "{\"name\":\"reader\",\"scopes\":[\"get:users\",\"get:groups\"]}");
    ck_assert_int_eq(status_of(a, ro, "GET", "/scim/v2/Users", NULL), 200);
    ck_assert_int_eq(status_of(a, ro, "POST", "/scim/v2/Users",
                               "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"x\"}"),
                     403);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE org_id = $1", org, NULL), 0);
    ck_assert_int_eq(status_of(a, ro, "DELETE", "/scim/v2/Groups/grp_00000000000000000000000000", NULL), 403);
    /* Missing, malformed, unknown: 401 with WWW-Authenticate, the same body. */
    struct th_resp *r = th_http(a->port, "GET", "/scim/v2/Users", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 401);
    ck_assert_ptr_nonnull(th_resp_header(r, "WWW-Authenticate"));
    th_resp_free(r);
    const char *bad[] = {"Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer",
                         "Authorization: Bearer scim_\x01\x02", NULL};
    for (int i = 0; bad[i]; i++) {
        const char *h[] = {bad[i], NULL};
        r = th_http(b->port, "GET", "/scim/v2/Users", h, NULL, 0);
        ck_assert_int_eq(r->status, 401);
        th_resp_free(r);
    }
    struct th_resp *u1 = th_scim(b->port, "scim_0000000000000000000000000000000000000000000000000000", "GET", "/scim/v2/Users", NULL);
    ck_assert_int_eq(u1->status, 401);
    ck_assert_ptr_nonnull(th_resp_header(u1, "WWW-Authenticate"));
    th_resp_free(u1);
    free(ro);
}
END_TEST

START_TEST(test_failed_auth_is_rate_limited)
{
    int limited = 0;
    for (int i = 0; i < 60; i++) {
        int st = status_of(b, "scim_NOPE", "GET", "/scim/v2/Users", NULL);
        ck_assert(st == 401 || st == 429);
        limited += st == 429;
    }
    ck_assert_int_gt(limited, 0);
}
END_TEST

/* Sends n requests with token from `procs` children; returns how many got
 * 2xx and 429 (shared counters), and checks every 429 has Retry-After >= 1. */
static void hammer(struct th_server **servers, int nservers, const char *token, int procs,
                   int per_proc, int *ok_out, int *limited_out, int *other_out)
{
    int *shared = mmap(NULL, 3 * sizeof(int) * (size_t)procs, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(shared, 0, 3 * sizeof(int) * (size_t)procs);
    for (int p = 0; p < procs; p++) {
        if (fork() == 0) {
            for (int i = 0; i < per_proc; i++) {
                struct th_server *s = servers[(p + i) % nservers];
                struct th_resp *r = th_scim(s->port, token, "GET", "/scim/v2/Users?count=1", NULL);
                if (r && r->status == 200)
                    shared[3 * p]++;
                else if (r && r->status == 429) {
                    const char *ra = th_resp_header(r, "Retry-After");
                    if (ra && atoi(ra) >= 1 && r->json &&
                        strcmp(json_string_value(json_object_get(r->json, "status")), "429") == 0)
                        shared[3 * p + 1]++;
                    else
                        shared[3 * p + 2]++;
                } else
                    shared[3 * p + 2]++;
                th_resp_free(r);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < procs; p++)
        wait(NULL);
    *ok_out = *limited_out = *other_out = 0;
    for (int p = 0; p < procs; p++) {
        *ok_out += shared[3 * p];
        *limited_out += shared[3 * p + 1];
        *other_out += shared[3 * p + 2];
    }
    munmap(shared, 3 * sizeof(int) * (size_t)procs);
}

START_TEST(test_burst_of_300_on_one_token)
{
    char org[64];
    char *tok = org_and_token(org, NULL), *tok2 = org_and_token(org, NULL);
    struct th_server *one[] = {a};
    int ok, limited, other;
    int64_t start = util_mono_us();
    hammer(one, 1, tok, 6, 50, &ok, &limited, &other);
    double secs = (double)(util_mono_us() - start) / 1e6;
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(ok + limited, 300);
    /* Default: burst 100, 100/s. */
    ck_assert_msg(ok >= 100 && ok <= 100 + (int)(100 * secs) + 2, "ok=%d in %.2fs", ok, secs);
    ck_assert_int_gt(limited, 0);
    /* The other token is untouched. */
    ck_assert_int_eq(status_of(a, tok2, "GET", "/scim/v2/Users", NULL), 200);
    free(tok);
    free(tok2);
}
END_TEST

START_TEST(test_limit_holds_across_two_processes)
{
    char org[64];
    char *tok = org_and_token(org, "{\"name\":\"shared\",\"rate_per_second\":50,\"burst\":50}");
    struct th_server *both[] = {a, b};
    int ok, limited, other;
    int64_t start = util_mono_us();
    /* About 3 s of load, spread over both processes. */
    int total_ok = 0;
    while (util_mono_us() - start < 3000000) {
        hammer(both, 2, tok, 4, 25, &ok, &limited, &other);
        ck_assert_int_eq(other, 0);
        total_ok += ok;
    }
    double secs = (double)(util_mono_us() - start) / 1e6;
    double cap = 1.10 * (50.0 * secs + 50.0);
    ck_assert_msg(total_ok <= cap, "%d allowed in %.2fs; cap %.0f", total_ok, secs, cap);
    ck_assert_msg(total_ok >= 50.0 * secs * 0.5, "too few allowed: %d in %.2fs", total_ok, secs);
    fprintf(stderr, "two processes, one token at 50/s: %d allowed in %.2f s (%.1f/s, cap %.0f)\n",
            total_ok, secs, total_ok / secs, cap);
    free(tok);
}
END_TEST

START_TEST(test_configured_admin_key_works_once_ready)
{
    /* A fresh database and a configured key: the first call after READY is
     * accepted (never refused from a cache filled before the key was stored). */
    for (int round = 0; round < 3; round++) {
        char *fresh = th_db_create();
#define CONFIGURED_KEY "sk_configuredadminkey0123456789abcdefghijklmnopqrstuv"
        static const char key[] = CONFIGURED_KEY;
        const char *env[] = {"SCIMGATE_ADMIN_KEY=" CONFIGURED_KEY, NULL};
        struct th_server *s = th_server_start(fresh, env, NULL);
        char auth[200];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        const char *h[] = {auth, NULL};
        struct th_resp *r = th_http(s->port, "GET", "/v1/organizations", h, NULL, 0);
        ck_assert_ptr_nonnull(r);
        ck_assert_msg(r->status == 200, "round %d: %d %s", round, r->status, r->body);
        th_resp_free(r);
        r = th_http(s->port, "GET", "/readyz", NULL, NULL, 0);
        ck_assert_int_eq(r->status, 200);
        th_resp_free(r);
        ck_assert_int_eq(th_server_stop(s), 0);
        free(fresh);
    }
}
END_TEST

START_TEST(test_cli)
{
    char env_url[512];
    snprintf(env_url, sizeof env_url, "DATABASE_URL=%s", db_url);
    const char *env[] = {env_url, NULL};
    char *out = NULL;
    const char *create[] = {"org", "create", "--name", "Initech", "--slug", "initech", NULL};
    ck_assert_int_eq(th_run_scimgate(env, create, &out), 0);
    json_t *o = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    ck_assert_ptr_nonnull(o);
    char org[64];
    snprintf(org, sizeof org, "%s", jstr(o, "id"));
    json_decref(o);
    free(out);
    const char *issue[] = {"token", "issue", org, "--name", "Okta", "--scopes", "get:users", NULL};
    ck_assert_int_eq(th_run_scimgate(env, issue, &out), 0);
    o = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    char *tok = xstrdup(jstr(o, "token"));
    char tid[64];
    snprintf(tid, sizeof tid, "%s", jstr(o, "id"));
    json_decref(o);
    free(out);
    ck_assert_int_eq(status_of(a, tok, "GET", "/scim/v2/Users", NULL), 200);
    ck_assert_int_eq(status_of(a, tok, "POST", "/scim/v2/Users", "{}"), 403);
    const char *list[] = {"token", "list", org, NULL};
    ck_assert_int_eq(th_run_scimgate(env, list, &out), 0);
    ck_assert(strstr(out, tid) && !strstr(out, tok));
    free(out);
    const char *revoke[] = {"token", "revoke", org, tid, NULL};
    ck_assert_int_eq(th_run_scimgate(env, revoke, &out), 0);
    free(out);
    usleep(300000);
    ck_assert_int_eq(status_of(a, tok, "GET", "/scim/v2/Users", NULL), 401);
    const char *dup[] = {"org", "create", "--name", "Again", "--slug", "initech", NULL};
    ck_assert_int_ne(th_run_scimgate(env, dup, &out), 0);
    free(out);
    free(tok);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tenancy");
    TCase *tc = tcase_create("tenancy");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, per_test, per_test_done);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_admin_api_and_token_lifecycle);
    tcase_add_test(tc, test_org_delete_and_expiry);
    tcase_add_test(tc, test_scopes_and_auth_failures);
    tcase_add_test(tc, test_burst_of_300_on_one_token);
    tcase_add_test(tc, test_limit_holds_across_two_processes);
    tcase_add_test(tc, test_configured_admin_key_works_once_ready);
    tcase_add_test(tc, test_cli);
    /* Last: it leaves this address blocked for a while. */
    tcase_add_test(tc, test_failed_auth_is_rate_limited);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
