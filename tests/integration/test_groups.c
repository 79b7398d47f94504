/*
 * test_groups.c - /scim/v2/Groups over HTTP against a real PostgreSQL:
 * memberships in every form Okta and Entra send them, large groups, streamed
 * reads, concurrent PATCHes, cycles, foreign and missing members, derived
 * User.groups, events with exact added/removed sets, and isolation.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

static char *db_url;
static struct th_server *srv;
static PGconn *db;
static struct th_org org, other;

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
    th_org_create(db, "Other", &other);
}

static void per_test_done(void)
{
    PQfinish(db);
}

static struct th_resp *scim(const char *method, const char *path, const char *body)
{
    struct th_resp *r = th_scim(srv->port, org.token, method, path, body);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Inserts n users straight into the database (fast); returns their ids as a
 * JSON array. */
static json_t *bulk_users(const struct th_org *o, int n, const char *prefix)
{
    PQclear(th_sql(db,
                   "INSERT INTO users (org_id, id, user_name, doc)"
                   " SELECT $1, 'usr_' || lpad(upper(to_hex(g)), 26, '0') || '', $2 || g || '@example.com',"
                   "  jsonb_build_object('userName', $2 || g || '@example.com')"
                   " FROM generate_series(1, $3::int) g",
                   o->id, prefix, th_fmt("%d", n), NULL));
    PGresult *r = th_sql(db, "SELECT coalesce(json_agg(id ORDER BY id), '[]') FROM users"
                             " WHERE org_id = $1 AND user_name LIKE $2 || '%'",
                         o->id, prefix, NULL);
    json_t *ids = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    return ids;
}

static char *create_user(const char *name)
{
    struct th_resp *r = scim("POST", "/scim/v2/Users",
                             th_fmt("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
                                    "\"userName\":\"%s\"}", name));
    ck_assert_msg(r->status == 201, "%s", r->body);
    char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
    th_resp_free(r);
    return id;
}

static char *create_group(const char *name, const char *members_json)
{
    char *body = xasprintf("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
                           "\"displayName\":\"%s\",\"members\":%s}",
                           name, members_json ? members_json : "[]");
    struct th_resp *r = scim("POST", "/scim/v2/Groups", body);
    free(body);
    ck_assert_msg(r->status == 201, "%d %.300s", r->status, r->body);
    char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
    th_resp_free(r);
    return id;
}

static long long members_of(const char *gid)
{
    return th_sql_int(db, "SELECT count(*) FROM group_members WHERE org_id = $1 AND group_id = $2",
                      org.id, gid, NULL);
}

static char *members_json(json_t *ids, size_t from, size_t to)
{
    json_t *arr = json_array();
    for (size_t i = from; i < to && i < json_array_size(ids); i++)
        json_array_append_new(arr, json_pack("{s:O}", "value", json_array_get(ids, i)));
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

START_TEST(test_create_read_and_shapes)
{
    char *a = create_user("a@example.com"), *b = create_user("b@example.com");
    char *gid = create_group("Engineering",
                             th_fmt("[{\"value\":\"%s\"},{\"value\":\"%s\",\"$ref\":null,\"display\":\"B\"}]", a, b));
    ck_assert_int_eq(members_of(gid), 2);
    struct th_resp *r = scim("GET", th_fmt("/scim/v2/Groups/%s", gid), NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "displayName")), "Engineering");
    json_t *members = json_object_get(r->json, "members");
    ck_assert_int_eq(json_array_size(members), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(members, 0), "type")), "User");
    ck_assert_ptr_nonnull(json_object_get(json_array_get(members, 0), "$ref"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r->json, "meta"), "resourceType")), "Group");
    ck_assert_ptr_nonnull(th_resp_header(r, "ETag"));
    th_resp_free(r);
    /* excludedAttributes=members and attributes=displayName leave members out. */
    r = scim("GET", th_fmt("/scim/v2/Groups/%s?excludedAttributes=members", gid), NULL);
    ck_assert_ptr_null(json_object_get(r->json, "members"));
    ck_assert_ptr_nonnull(json_object_get(r->json, "displayName"));
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Groups?attributes=displayName", NULL);
    json_t *g = json_array_get(json_object_get(r->json, "Resources"), 0);
    ck_assert_ptr_null(json_object_get(g, "members"));
    ck_assert_ptr_nonnull(json_object_get(g, "id"));
    th_resp_free(r);
    /* Filters. */
    r = scim("GET", "/scim/v2/Groups?filter=displayName%20eq%20%22engineering%22&excludedAttributes=members", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 1);
    th_resp_free(r);
    r = scim("GET", th_fmt("/scim/v2/Groups?filter=members%%5Bvalue%%20eq%%20%%22%s%%22%%5D", a), NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 1);
    th_resp_free(r);
    /* User.groups is derived. */
    r = scim("GET", th_fmt("/scim/v2/Users/%s", a), NULL);
    json_t *ug = json_object_get(r->json, "groups");
    ck_assert_int_eq(json_array_size(ug), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ug, 0), "value")), gid);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ug, 0), "type")), "direct");
    th_resp_free(r);
    /* Duplicate displayName. */
    r = scim("POST", "/scim/v2/Groups", "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"ENGINEERING\"}");
    ck_assert_int_eq(r->status, 409);
    th_resp_free(r);
    free(a);
    free(b);
    free(gid);
}
END_TEST

START_TEST(test_patch_forms_and_events)
{
    char *a = create_user("pa@example.com"), *b = create_user("pb@example.com"),
         *c = create_user("pc@example.com");
    char *gid = create_group("Sales", NULL);
    /* Entra: Add with a list; Okta: remove by filter plus add, plus the rename it
     * always sends again. */
    struct th_resp *r = scim("PATCH", th_fmt("/scim/v2/Groups/%s", gid),
                             th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                    "\"Operations\":[{\"op\":\"Add\",\"path\":\"members\",\"value\":"
                                    "[{\"value\":\"%s\"},{\"value\":\"%s\"}]}]}", a, b));
    ck_assert_msg(r->status == 204, "%d %s", r->status, r->body);
    th_resp_free(r);
    ck_assert_int_eq(members_of(gid), 2);
    r = scim("PATCH", th_fmt("/scim/v2/Groups/%s", gid),
             th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":["
                    "{\"op\":\"replace\",\"value\":{\"id\":\"%s\",\"displayName\":\"Sales\"}},"
                    "{\"op\":\"remove\",\"path\":\"members[value eq \\\"%s\\\"]\"},"
                    "{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]}", gid, a, c));
    ck_assert_msg(r->status == 204, "%d %s", r->status, r->body);
    th_resp_free(r);
    ck_assert_int_eq(members_of(gid), 2);
    /* Entra: Remove with a value list removes only those. */
    r = scim("PATCH", th_fmt("/scim/v2/Groups/%s", gid),
             th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                    "\"Operations\":[{\"op\":\"Remove\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]}", b));
    ck_assert_int_eq(r->status, 204);
    th_resp_free(r);
    ck_assert_int_eq(members_of(gid), 1);
    /* Asking for attributes gets the group back. */
    r = scim("PATCH", th_fmt("/scim/v2/Groups/%s?attributes=members", gid),
             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
             "\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Sales EMEA\"}]}");
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "members")), 1);
    th_resp_free(r);
    /* Events: exact membership deltas; the repeated rename was not a change. */
    PGresult *ev = th_sql(db, "SELECT type, (payload->'data'->'added')::text, (payload->'data'->'removed')::text"
                              " FROM events WHERE org_id = $1 AND resource_id = $2 ORDER BY seq",
                          org.id, gid, NULL);
    ck_assert_int_eq(PQntuples(ev), 5);
    ck_assert_str_eq(PQgetvalue(ev, 0, 0), "scimGroup.created");
    ck_assert_str_eq(PQgetvalue(ev, 1, 0), "scimGroup.membersChanged");
    ck_assert_str_eq(PQgetvalue(ev, 2, 0), "scimGroup.membersChanged");
    ck_assert(strstr(PQgetvalue(ev, 2, 1), c) && strstr(PQgetvalue(ev, 2, 2), a));
    ck_assert_str_eq(PQgetvalue(ev, 3, 0), "scimGroup.membersChanged");
    ck_assert_str_eq(PQgetvalue(ev, 4, 0), "scimGroup.updated");
    PQclear(ev);
    free(a);
    free(b);
    free(c);
    free(gid);
}
END_TEST

START_TEST(test_refusals_change_nothing)
{
    char *a = create_user("ra@example.com");
    char *g1 = create_group("G1", NULL), *g2 = create_group("G2", th_fmt("[{\"value\":\"%s\"}]", g1));
    struct th_resp *r;
    /* A member that does not exist, or lives in another organization. */
    char *foreign = NULL;
    {
        struct th_resp *f = th_scim(srv->port, other.token, "POST", "/scim/v2/Users",
                                    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"f@example.com\"}");
        foreign = xstrdup(json_string_value(json_object_get(f->json, "id")));
        th_resp_free(f);
    }
    const char *bad[] = {"usr_00000000000000000000000000", foreign, "not-an-id"};
    for (size_t i = 0; i < 3; i++) {
        r = scim("PATCH", th_fmt("/scim/v2/Groups/%s", g1),
                 th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                        "\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":"
                        "[{\"value\":\"%s\"},{\"value\":\"%s\"}]}]}", a, bad[i]));
        ck_assert_msg(r->status == 400, "%s: %d %s", bad[i], r->status, r->body);
        ck_assert_str_eq(json_string_value(json_object_get(r->json, "scimType")), "invalidValue");
        th_resp_free(r);
    }
    ck_assert_int_eq(members_of(g1), 0); /* a was not half-added */
    /* Cycles: G1 is in G2, so G2 cannot join G1; nor can a group join itself. */
    r = scim("PATCH", th_fmt("/scim/v2/Groups/%s", g1),
             th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                    "\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]}", g2));
    ck_assert_int_eq(r->status, 400);
    th_resp_free(r);
    r = scim("PATCH", th_fmt("/scim/v2/Groups/%s", g1),
             th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                    "\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]}", g1));
    ck_assert_int_eq(r->status, 400);
    th_resp_free(r);
    /* Duplicates in one request are one membership. */
    r = scim("PATCH", th_fmt("/scim/v2/Groups/%s", g1),
             th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                    "\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"},{\"value\":\"%s\"}]}]}", a, a));
    ck_assert_int_eq(r->status, 204);
    th_resp_free(r);
    ck_assert_int_eq(members_of(g1), 1);
    /* Nested membership shows as indirect on the user. */
    r = scim("GET", th_fmt("/scim/v2/Users/%s", a), NULL);
    json_t *ug = json_object_get(r->json, "groups");
    ck_assert_int_eq(json_array_size(ug), 2);
    th_resp_free(r);
    /* The other organization cannot see or touch the group. */
    r = th_scim(srv->port, other.token, "GET", th_fmt("/scim/v2/Groups/%s", g1), NULL);
    ck_assert_int_eq(r->status, 404);
    th_resp_free(r);
    r = th_scim(srv->port, other.token, "PATCH", th_fmt("/scim/v2/Groups/%s", g1),
                th_fmt("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                       "\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]}", foreign));
    ck_assert_int_eq(r->status, 404);
    th_resp_free(r);
    /* Deleting a group removes it from its parents. */
    r = scim("DELETE", th_fmt("/scim/v2/Groups/%s", g1), NULL);
    ck_assert_int_eq(r->status, 204);
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM group_members WHERE org_id = $1", org.id, NULL), 0);
    free(a);
    free(g1);
    free(g2);
    free(foreign);
}
END_TEST

START_TEST(test_concurrent_patches_lose_nothing)
{
    json_t *ids = bulk_users(&org, 20 * 50, "conc");
    char *gid = create_group("Concurrent", NULL);
    pid_t kids[20];
    for (int k = 0; k < 20; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            char *m = members_json(ids, (size_t)k * 50, (size_t)(k + 1) * 50);
            char *body = xasprintf("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                   "\"Operations\":[{\"op\":\"replace\",\"value\":{\"displayName\":\"Concurrent\"}},"
                                   "{\"op\":\"add\",\"path\":\"members\",\"value\":%s}]}", m);
            struct th_resp *r = th_scim(srv->port, org.token, "PATCH", th_fmt("/scim/v2/Groups/%s", gid), body);
            _exit(r && r->status == 204 ? 0 : 1);
        }
    }
    for (int k = 0; k < 20; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    ck_assert_int_eq(members_of(gid), 1000);
    /* Every added id is in exactly one membersChanged event. */
    ck_assert_int_eq(th_sql_int(db, "SELECT sum(json_array_length(payload->'data'->'added')) FROM events"
                                    " WHERE org_id = $1 AND resource_id = $2 AND type = 'scimGroup.membersChanged'",
                                org.id, gid, NULL),
                     1000);
    json_decref(ids);
    free(gid);
}
END_TEST

START_TEST(test_large_group_put_patch_and_stream)
{
    json_t *ids = bulk_users(&org, 12000, "big");
    char *m10k = members_json(ids, 0, 10000);
    char *gid = create_group("Big", m10k);
    ck_assert_int_eq(members_of(gid), 10000);
    /* PUT with a different 10,000: 1,000 leave, 1,000 join. */
    char *m2 = members_json(ids, 1000, 11000);
    char *put = xasprintf("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
                          "\"displayName\":\"Big\",\"members\":%s}", m2);
    struct th_resp *r = scim("PUT", th_fmt("/scim/v2/Groups/%s", gid), put);
    free(put);
    ck_assert_msg(r->status == 200, "%d %.200s", r->status, r->body);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "members")), 10000);
    th_resp_free(r);
    ck_assert_int_eq(members_of(gid), 10000);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM group_members WHERE org_id = $1 AND group_id = $2"
                                    " AND member_id = $3", org.id, gid,
                                json_string_value(json_array_get(ids, 0)), NULL),
                     0);
    /* The streamed read holds every member exactly once. */
    r = scim("GET", th_fmt("/scim/v2/Groups/%s", gid), NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_nonnull(r->json);
    json_t *members = json_object_get(r->json, "members");
    ck_assert_int_eq(json_array_size(members), 10000);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(members, 0), "value")),
                     json_string_value(json_array_get(ids, 1000)));
    th_resp_free(r);
    /* The group in a list, also streamed, also complete. */
    r = scim("GET", "/scim/v2/Groups?filter=displayName%20eq%20%22Big%22", NULL);
    ck_assert_ptr_nonnull(r->json);
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(json_object_get(r->json, "Resources"), 0), "members")), 10000);
    th_resp_free(r);
    /* A client that reads a little of the stream and leaves: the server
     * notices, frees everything (the sanitizers check at exit) and carries on. */
    for (int k = 0; k < 3; k++) {
        char req[512];
        snprintf(req, sizeof req, "GET /scim/v2/Groups/%s HTTP/1.1\r\nHost: x\r\n"
                                  "Authorization: Bearer %s\r\n\r\n", gid, org.token);
        th_http_partial(srv->port, req, 4096 * (k + 1));
    }
    r = scim("GET", "/healthz", NULL);
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    free(m10k);
    free(m2);
    json_decref(ids);
    free(gid);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("groups");
    TCase *tc = tcase_create("groups");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, per_test, per_test_done);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_create_read_and_shapes);
    tcase_add_test(tc, test_patch_forms_and_events);
    tcase_add_test(tc, test_refusals_change_nothing);
    tcase_add_test(tc, test_concurrent_patches_lose_nothing);
    tcase_add_test(tc, test_large_group_put_patch_and_stream);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
