/*
 * test_clients.c - replays the documented request sequences of Okta (SCIM
 * 2.0 and 1.1) and Microsoft Entra ID (tests/fixtures/okta*, entra; see
 * tests/fixtures/README.md for their sources) against a real scimgate and
 * PostgreSQL, each in a fresh organization, checking every answer the way the
 * client does.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "seq.h"
#include "util.h"

static const char *const fixtures[] = {
    "okta/spec-test.json",        "okta/create-user.json",
    "okta/update-user-put.json",  "okta/deactivate-patch.json",
    "okta/deactivate-put.json",   "okta/import-paging.json",
    "okta/group-push.json",       "okta/group-push-with-members.json",
    "okta-v1/spec-test.json",     "okta-v1/user-lifecycle.json",
    "okta-v1/user-match.json",    "okta-v1/group-push.json",
    "entra/test-connection.json", "entra/user-lifecycle.json",
    "entra/user-matching.json",   "entra/provisioning-examples.json",
    "entra/user-patch-quirks.json", "entra/group-lifecycle.json",
    "entra/group-membership.json", "entra/validator.json",
};

static char *db_url;
static struct th_server *srv;

struct ctx {
    const char *token;
};

static bool send_http(void *arg, const char *method, const char *path,
                      const char *const *names, const char *const *values, size_t n,
                      const char *body, size_t body_len, struct seq_response *out)
{
    struct ctx *c = arg;
    const char *headers[64];
    char *owned[64];
    size_t k = 0;
    bool has_auth = false;
    for (size_t i = 0; i < n && k < 60; i++) {
        has_auth = has_auth || util_streq_ci(names[i], "Authorization");
        owned[k] = xasprintf("%s: %s", names[i], values[i]);
        headers[k] = owned[k];
        k++;
    }
    if (!has_auth) {
        owned[k] = xasprintf("Authorization: Bearer %s", c->token);
        headers[k] = owned[k];
        k++;
    }
    headers[k] = NULL;
    struct th_resp *r = th_http(srv->port, method, path, headers, body, body ? body_len : 0);
    for (size_t i = 0; i < k; i++)
        free(owned[i]);
    if (!r)
        return false;
    out->status = r->status;
    for (size_t i = 0; i < r->nheaders; i++)
        seq_response_add_header(out, r->names[i], r->values[i]);
    if (r->body_len)
        seq_response_set_body(out, r->body, r->body_len);
    th_resp_free(r);
    return true;
}

static void setup(void)
{
    db_url = th_db_create();
    srv = th_server_start(db_url, NULL, NULL);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(srv), 0);
    free(db_url);
}

START_TEST(test_client_sequence)
{
    const char *fixture = fixtures[_i];
    struct th_org org;
    PGconn *db = th_db_connect(db_url);
    th_org_create(db, fixture, &org);
    PQfinish(db);
    struct ctx c = {org.token};
    char err[4096];
    bool ok = seq_run(fixture, send_http, &c, err, sizeof err);
    if (!ok)
        th_server_dump_log(srv, 20);
    ck_assert_msg(ok, "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clients");
    TCase *tc = tcase_create("sequences");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_client_sequence, 0, (int)ARRAY_LEN(fixtures));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
