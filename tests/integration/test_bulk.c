/*
 * test_bulk.c - POST /scim/v2/Bulk against a real server: ordered execution,
 * bulkId references in both directions, unresolvable references, failOnErrors,
 * the advertised and enforced limits, scopes and organizations per operation.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"

static char *db_url;
static struct th_server *srv;
static PGconn *db;
static struct th_org org;

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

static void per_test(void)
{
    db = th_db_connect(db_url);
    th_org_create(db, "Acme", &org);
}

static void per_test_done(void)
{
    PQfinish(db);
}

static struct th_resp *bulk(const char *token, const char *ops, const char *extra)
{
    char *body = xasprintf("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"]%s%s,"
                           "\"Operations\":%s}",
                           extra ? "," : "", extra ? extra : "", ops);
    struct th_resp *r = th_scim(srv->port, token, "POST", "/scim/v2/Bulk", body);
    free(body);
    ck_assert_ptr_nonnull(r);
    return r;
}

static const json_t *result(const struct th_resp *r, size_t i)
{
    return json_array_get(json_object_get(r->json, "Operations"), i);
}

static const char *rstatus(const struct th_resp *r, size_t i)
{
    return json_string_value(json_object_get(result(r, i), "status"));
}

START_TEST(test_forward_references_and_order)
{
    /* The group comes first and names a user created later in the request. */
    struct th_resp *r = bulk(org.token,
        "[{\"method\":\"POST\",\"path\":\"/Groups\",\"bulkId\":\"g1\",\"data\":{"
        "\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Tour Guides\","
        "\"members\":[{\"type\":\"User\",\"value\":\"bulkId:u1\"}]}},"
        "{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"u1\",\"data\":{"
        "\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"alice\"}},"
        "{\"method\":\"PATCH\",\"path\":\"/Users/bulkId:u1\",\"data\":{"
        "\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
        "\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"Guide\"}]}}]",
        NULL);
    ck_assert_msg(r->status == 200, "%d %s", r->status, r->body);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "schemas"), 0)),
                     "urn:ietf:params:scim:api:messages:2.0:BulkResponse");
    ck_assert_str_eq(rstatus(r, 0), "201");
    ck_assert_str_eq(rstatus(r, 1), "201");
    ck_assert_str_eq(rstatus(r, 2), "200");
    ck_assert_str_eq(json_string_value(json_object_get(result(r, 0), "bulkId")), "g1");
    ck_assert(strstr(json_string_value(json_object_get(result(r, 1), "location")), "/Users/usr_"));
    ck_assert_ptr_nonnull(json_object_get(result(r, 0), "version"));
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM group_members m JOIN users u ON u.id = m.member_id"
                                    " WHERE m.org_id = $1 AND u.user_name = 'alice'", org.id, NULL),
                     1);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE org_id = $1 AND doc->>'title' = 'Guide'",
                                org.id, NULL),
                     1);
}
END_TEST

START_TEST(test_broken_and_circular_references)
{
    struct th_resp *r = bulk(org.token,
        "[{\"method\":\"POST\",\"path\":\"/Groups\",\"bulkId\":\"a\",\"data\":{"
        "\"displayName\":\"A\",\"members\":[{\"value\":\"bulkId:b\"}]}},"
        "{\"method\":\"POST\",\"path\":\"/Groups\",\"bulkId\":\"b\",\"data\":{"
        "\"displayName\":\"B\",\"members\":[{\"value\":\"bulkId:a\"}]}},"
        "{\"method\":\"PATCH\",\"path\":\"/Users/bulkId:nowhere\",\"data\":{\"Operations\":[]}},"
        "{\"method\":\"GET\",\"path\":\"/Users\"}]",
        NULL);
    ck_assert_int_eq(r->status, 200);
    size_t n = json_array_size(json_object_get(r->json, "Operations"));
    ck_assert_int_eq(n, 4);
    int conflicts = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        conflicts += strcmp(rstatus(r, i), "409") == 0;
        bad += strcmp(rstatus(r, i), "400") == 0;
        if (strcmp(rstatus(r, i), "200") && strcmp(rstatus(r, i), "201"))
            ck_assert_ptr_nonnull(json_object_get(result(r, i), "response"));
    }
    ck_assert_int_eq(conflicts, 3);
    ck_assert_int_eq(bad, 1);
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM groups WHERE org_id = $1", org.id, NULL), 0);
}
END_TEST

START_TEST(test_fail_on_errors)
{
    struct th_resp *r = bulk(org.token,
        "[{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"1\",\"data\":{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"dup\"}},"
        "{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"2\",\"data\":{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"DUP\"}},"
        "{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"3\",\"data\":{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"never\"}}]",
        "\"failOnErrors\":1");
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "Operations")), 2);
    ck_assert_str_eq(rstatus(r, 0), "201");
    ck_assert_str_eq(rstatus(r, 1), "409");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(result(r, 1), "response"), "scimType")),
                     "uniqueness");
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE org_id = $1", org.id, NULL), 1);
}
END_TEST

START_TEST(test_limits_and_scopes)
{
    /* maxOperations follows the token's burst (100 by default). */
    struct th_resp *r = th_scim(srv->port, org.token, "GET", "/scim/v2/ServiceProviderConfig", NULL);
    json_t *b = json_object_get(r->json, "bulk");
    ck_assert(json_is_true(json_object_get(b, "supported")));
    long long max = json_integer_value(json_object_get(b, "maxOperations"));
    long long payload = json_integer_value(json_object_get(b, "maxPayloadSize"));
    ck_assert_int_eq(max, 100);
    ck_assert_int_gt(payload, 0);
    th_resp_free(r);
    struct strbuf ops = {0};
    strbuf_putc(&ops, '[');
    for (int i = 0; i <= max; i++)
        strbuf_printf(&ops, "%s{\"method\":\"DELETE\",\"path\":\"/Users/usr_00000000000000000000000000\"}",
                      i ? "," : "");
    strbuf_putc(&ops, ']');
    r = bulk(org.token, ops.s, NULL);
    ck_assert_int_eq(r->status, 413);
    th_resp_free(r);
    strbuf_clear(&ops);
    /* Per-operation scopes and organizations. */
    char ro[128];
    th_token_create(db, org.id, "get:users", ro, NULL);
    struct th_org other;
    th_org_create(db, "Other", &other);
    r = th_scim(srv->port, other.token, "POST", "/scim/v2/Users", "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"theirs\"}");
    char *theirs = xstrdup(json_string_value(json_object_get(r->json, "id")));
    th_resp_free(r);
    r = bulk(ro, "[{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"x\",\"data\":{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"nope\"}}]", NULL);
    ck_assert_str_eq(rstatus(r, 0), "403");
    th_resp_free(r);
    char *ops2 = xasprintf("[{\"method\":\"DELETE\",\"path\":\"/Users/%s\"}]", theirs);
    r = bulk(org.token, ops2, NULL);
    ck_assert_str_eq(rstatus(r, 0), "404");
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE id = $1", theirs, NULL), 1);
    free(ops2);
    free(theirs);
    /* Malformed bodies. */
    r = th_scim(srv->port, org.token, "POST", "/scim/v2/Bulk", "{\"Operations\":\"x\"}");
    ck_assert_int_eq(r->status, 400);
    th_resp_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bulk");
    TCase *tc = tcase_create("bulk");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, per_test, per_test_done);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forward_references_and_order);
    tcase_add_test(tc, test_broken_and_circular_references);
    tcase_add_test(tc, test_fail_on_errors);
    tcase_add_test(tc, test_limits_and_scopes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
