/*
 * test_mapping.c - attribute mappings through the admin API and their effect
 * on product-side users: in the users listing, in webhook event payloads, and
 * on a second gateway process once a mapping changes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

static char *db_url;
static char *admin;
static struct th_server *a, *b;

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

static const char *jstr(const json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

START_TEST(test_mapping_api_and_product_users)
{
    PGconn *db = th_db_connect(db_url);
    struct th_org org;
    th_org_create(db, "Mapped", &org);
    const char *path = th_fmt("/v1/organizations/%s/scim/attribute-mappings", org.id);
    /* Before any PUT: the default. */
    struct th_resp *r = api(a, "GET", path, NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(jstr(r->json, "user_id_attribute"), "userName");
    th_resp_free(r);
    /* A bad expression is refused with its position. */
    r = api(a, "PUT", path, "{\"user_id_attribute\":\"email\",\"mapping\":{\"first_name\":\"name.givenName | downcas\"}}");
    ck_assert_int_eq(r->status, 400);
    const char *msg = jstr(json_object_get(r->json, "error"), "message");
    ck_assert_msg(msg && strstr(msg, "first_name") && strstr(msg, "position"), "%s", r->body);
    th_resp_free(r);
    r = api(a, "PUT", path, "{\"user_id_attribute\":\"email\",\"mapping\":{\"user_role\":\"x\"}}");
    ck_assert_int_eq(r->status, 400);
    th_resp_free(r);
    r = api(a, "PUT", "/v1/organizations/org_nope/scim/attribute-mappings",
            "{\"user_id_attribute\":\"email\"}");
    ck_assert_int_eq(r->status, 404);
    th_resp_free(r);
    /* Users exist before the mapping; product users are computed on read. */
    r = th_scim(a->port, org.token, "POST", "/scim/v2/Users",
                "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
                "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
                "\"userName\":\"Kim.Lee@Example.com\",\"name\":{\"givenName\":\"Kim\",\"familyName\":\"Lee\"},"
                "\"emails\":[{\"value\":\"kim@example.com\",\"type\":\"work\",\"primary\":true}],"
                "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":\"Finance\"}}");
    ck_assert_int_eq(r->status, 201);
    char *uid = xstrdup(jstr(r->json, "id"));
    th_resp_free(r);
    r = th_scim(a->port, org.token, "POST", "/scim/v2/Groups",
                th_fmt("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
                       "\"displayName\":\"Admins\",\"members\":[{\"value\":\"%s\"}]}", uid));
    ck_assert_int_eq(r->status, 201);
    th_resp_free(r);
    /* The default product user. */
    r = api(a, "GET", th_fmt("/v1/organizations/%s/users", org.id), NULL);
    json_t *u = json_array_get(json_object_get(r->json, "data"), 0);
    ck_assert_str_eq(jstr(u, "email_address"), "kim@example.com");
    ck_assert_str_eq(jstr(u, "first_name"), "Kim");
    ck_assert_str_eq(jstr(u, "organization_role"), "org:member");
    ck_assert_str_eq(jstr(u, "object"), "user");
    th_resp_free(r);
    /* Served by process b too, so b caches the default now. */
    r = api(b, "GET", th_fmt("/v1/organizations/%s/users", org.id), NULL);
    th_resp_free(r);
    r = api(a, "PUT", path,
            "{\"user_id_attribute\":\"email\",\"mapping\":{"
            "\"first_name\":\"name.givenName | upcase\","
            "\"organization_role\":\"groups.display | map: \\\"Admins\\\" => \\\"org:admin\\\" | default: \\\"org:member\\\"\","
            "\"public_metadata.department\":\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\"}}");
    ck_assert_msg(r->status == 200, "%s", r->body);
    th_resp_free(r);
    usleep(300000);
    /* Process b sees the new mapping. */
    r = api(b, "GET", th_fmt("/v1/organizations/%s/users?active=true", org.id), NULL);
    u = json_array_get(json_object_get(r->json, "data"), 0);
    ck_assert_str_eq(jstr(u, "first_name"), "KIM");
    ck_assert_str_eq(jstr(u, "organization_role"), "org:admin");
    ck_assert_str_eq(jstr(json_object_get(u, "public_metadata"), "department"), "Finance");
    ck_assert_str_eq(jstr(json_object_get(u, "identifier"), "attribute"), "email");
    th_resp_free(r);
    r = api(b, "GET", th_fmt("/v1/organizations/%s/users?active=false", org.id), NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "data")), 0);
    th_resp_free(r);
    /* Events use it: a change through process b. */
    r = th_scim(b->port, org.token, "PATCH", th_fmt("/scim/v2/Users/%s", uid),
                "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                "\"Operations\":[{\"op\":\"replace\",\"path\":\"name.givenName\",\"value\":\"Kimberly\"}]}");
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM events WHERE org_id = $1 AND type = 'scimUser.updated'"
                                    " AND payload->'data'->'user'->>'first_name' = 'KIMBERLY'"
                                    " AND payload->'data'->'user'->>'organization_role' = 'org:admin'",
                                org.id, NULL),
                     1);
    /* GET returns what was stored, normalised, and can be PUT back as is. */
    r = api(a, "GET", path, NULL);
    char *round = json_dumps(r->json, JSON_COMPACT);
    th_resp_free(r);
    r = api(a, "PUT", path, round);
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    free(round);
    free(uid);
    PQfinish(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mapping");
    TCase *tc = tcase_create("mapping");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mapping_api_and_product_users);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
