/*
 * test_users.c - /scim/v2/Users over HTTP against a real PostgreSQL: the
 * resource's shape, uniqueness, ETags, passwords, lifecycle and its outbox
 * events, filters (with the query plan of the userName lookup), paging,
 * hostile input, and isolation between organizations.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

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

static const char *str(const json_t *doc, const char *path)
{
    const json_t *v = doc;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return json_string_value(v);
}

static char *create(const char *user_name, const char *extra)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
             "\"userName\":\"%s\",\"name\":{\"givenName\":\"Lee\",\"familyName\":\"Chen\"},"
             "\"emails\":[{\"primary\":true,\"value\":\"%s\",\"type\":\"work\"}],"
             "\"active\":true%s%s}",
             user_name, user_name, extra ? "," : "", extra ? extra : "");
    struct th_resp *r = scim("POST", "/scim/v2/Users", body);
    ck_assert_msg(r->status == 201, "create %s: %d %s", user_name, r->status, r->body);
    char *id = xstrdup(str(r->json, "id"));
    th_resp_free(r);
    return id;
}

static void expect_error(struct th_resp *r, int status, const char *scim_type)
{
    ck_assert_msg(r->status == status, "wanted %d, got %d: %s", status, r->status, r->body);
    ck_assert_ptr_nonnull(r->json);
    if (scim_type)
        ck_assert_msg(str(r->json, "scimType") && strcmp(str(r->json, "scimType"), scim_type) == 0,
                      "scimType: %s", r->body);
    th_resp_free(r);
}

START_TEST(test_create_shape_and_read)
{
    struct th_resp *r = scim("POST", "/scim/v2/Users",
                             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
                             "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
                             "\"userName\":\"Lee.Chen@Example.com\",\"externalId\":\"00u1abc\","
                             "\"password\":\"t1meMa$heen\",\"groups\":[],"
                             "\"name\":{\"givenName\":\"Lee\",\"familyName\":\"Chen\"},"
                             "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
                             "{\"employeeNumber\":\"42\",\"manager\":{\"value\":\"boss-1\"}},"
                             "\"urn:example:custom:1.0\":{\"badge\":\"7\"},"
                             "\"id\":\"ignored\",\"meta\":{\"created\":\"2000-01-01T00:00:00Z\"}}");
    ck_assert_msg(r->status == 201, "%d %s", r->status, r->body);
    const char *id = str(r->json, "id");
    ck_assert(id && strncmp(id, "usr_", 4) == 0);
    ck_assert_str_eq(str(r->json, "userName"), "Lee.Chen@Example.com");
    ck_assert_str_eq(str(r->json, "externalId"), "00u1abc");
    ck_assert_ptr_null(json_object_get(r->json, "password"));
    ck_assert_str_eq(str(r->json, "meta.resourceType"), "User");
    ck_assert(strstr(str(r->json, "meta.location"), id));
    ck_assert_str_ne(str(r->json, "meta.created"), "2000-01-01T00:00:00Z");
    ck_assert_ptr_nonnull(th_resp_header(r, "ETag"));
    ck_assert_str_eq(th_resp_header(r, "ETag"), str(r->json, "meta.version"));
    ck_assert(strstr(th_resp_header(r, "Location"), id));
    json_t *ent = json_object_get(r->json, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    ck_assert_str_eq(str(ent, "employeeNumber"), "42");
    ck_assert_str_eq(str(ent, "manager.value"), "boss-1");
    ck_assert_str_eq(str(json_object_get(r->json, "urn:example:custom:1.0"), "badge"), "7");
    char *uid = xstrdup(id);
    th_resp_free(r);
    /* The password is stored hashed, never in clear. */
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE id = $1 AND password_hash"
                                    " LIKE 'pbkdf2-sha256$%' AND doc::text NOT LIKE '%t1meMa%'",
                                uid, NULL),
                     1);
    r = scim("GET", th_fmt("/scim/v2/Users/%s", uid), NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(str(r->json, "userName"), "Lee.Chen@Example.com");
    ck_assert_ptr_null(json_object_get(r->json, "password"));
    ck_assert(json_is_true(json_object_get(r->json, "active")));
    th_resp_free(r);
    /* One provisioned event, in the same transaction. */
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM events WHERE org_id = $1 AND resource_id = $2"
                                    " AND type = 'scimUser.provisioned'",
                                org.id, uid, NULL),
                     1);
    free(uid);
}
END_TEST

START_TEST(test_username_unique_case_insensitive)
{
    char *id = create("Dana@Example.com", NULL);
    expect_error(scim("POST", "/scim/v2/Users",
                      "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
                      "\"userName\":\"dana@example.COM\"}"),
                 409, "uniqueness");
    /* Found case-insensitively by filter. */
    struct th_resp *r = scim("GET", "/scim/v2/Users?filter=userName%20eq%20%22DANA%40EXAMPLE.COM%22", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 1);
    th_resp_free(r);
    /* The same name in another organization is fine. */
    r = th_scim(srv->port, other.token, "POST", "/scim/v2/Users",
                "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
                "\"userName\":\"dana@example.com\"}");
    ck_assert_int_eq(r->status, 201);
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM events WHERE org_id = $1", org.id, NULL), 1);
    free(id);
}
END_TEST

START_TEST(test_etag_if_match)
{
    char *id = create("etag@example.com", NULL);
    struct th_resp *r = scim("GET", th_fmt("/scim/v2/Users/%s", id), NULL);
    char etag[64];
    snprintf(etag, sizeof etag, "%s", th_resp_header(r, "ETag"));
    th_resp_free(r);
    char auth[200], im[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", org.token);
    snprintf(im, sizeof im, "If-None-Match: %s", etag);
    const char *h1[] = {auth, im, NULL};
    r = th_http(srv->port, "GET", th_fmt("/scim/v2/Users/%s", id), h1, NULL, 0);
    ck_assert_int_eq(r->status, 304);
    th_resp_free(r);
    const char *patch = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                        "\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"CTO\"}]}";
    const char *h2[] = {auth, "Content-Type: application/scim+json", "If-Match: W/\"999\"", NULL};
    r = th_http(srv->port, "PATCH", th_fmt("/scim/v2/Users/%s", id), h2, patch, strlen(patch));
    expect_error(r, 412, NULL);
    snprintf(im, sizeof im, "If-Match: %s", etag);
    const char *h3[] = {auth, "Content-Type: application/scim+json", im, NULL};
    r = th_http(srv->port, "PATCH", th_fmt("/scim/v2/Users/%s", id), h3, patch, strlen(patch));
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(str(r->json, "title"), "CTO");
    ck_assert_str_ne(th_resp_header(r, "ETag"), etag);
    th_resp_free(r);
    /* The old ETag no longer matches. */
    r = th_http(srv->port, "PATCH", th_fmt("/scim/v2/Users/%s", id), h3, patch, strlen(patch));
    expect_error(r, 412, NULL);
    free(id);
}
END_TEST

START_TEST(test_lifecycle_and_events)
{
    char *id = create("life@example.com", NULL);
    const char *off = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                      "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}";
    struct th_resp *r = scim("PATCH", th_fmt("/scim/v2/Users/%s", id), off);
    ck_assert_int_eq(r->status, 200);
    ck_assert(json_is_false(json_object_get(r->json, "active")));
    th_resp_free(r);
    /* Still readable and findable while deprovisioned. */
    r = scim("GET", th_fmt("/scim/v2/Users/%s", id), NULL);
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?filter=active%20eq%20false", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 1);
    th_resp_free(r);
    /* The same PATCH again changes nothing and emits nothing. */
    r = scim("PATCH", th_fmt("/scim/v2/Users/%s", id), off);
    ck_assert_int_eq(r->status, 200);
    th_resp_free(r);
    const char *on = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                     "\"Operations\":[{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"True\"}]}";
    r = scim("PATCH", th_fmt("/scim/v2/Users/%s", id), on);
    ck_assert_int_eq(r->status, 200);
    ck_assert(json_is_true(json_object_get(r->json, "active")));
    th_resp_free(r);
    r = scim("DELETE", th_fmt("/scim/v2/Users/%s", id), NULL);
    ck_assert_int_eq(r->status, 204);
    th_resp_free(r);
    expect_error(scim("GET", th_fmt("/scim/v2/Users/%s", id), NULL), 404, NULL);
    expect_error(scim("DELETE", th_fmt("/scim/v2/Users/%s", id), NULL), 404, NULL);
    PGresult *ev = th_sql(db, "SELECT type, seq FROM events WHERE org_id = $1 AND resource_id = $2"
                              " ORDER BY seq", org.id, id, NULL);
    const char *want[] = {"scimUser.provisioned", "scimUser.deprovisioned",
                          "scimUser.reactivated", "scimUser.deleted"};
    ck_assert_int_eq(PQntuples(ev), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(PQgetvalue(ev, i, 0), want[i]);
        ck_assert_int_eq(atoi(PQgetvalue(ev, i, 1)), i + 1); /* strictly increasing, gapless */
    }
    PQclear(ev);
    /* The deprovisioned event carries the product-side user with deleted_at. */
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM events WHERE org_id = $1 AND"
                                    " type = 'scimUser.deprovisioned' AND"
                                    " (payload->'data'->'user'->>'deleted_at') IS NOT NULL AND"
                                    " payload->'data'->'user'->>'email_address' = 'life@example.com'",
                                org.id, NULL),
                     1);
    free(id);
}
END_TEST

START_TEST(test_put_keeps_active_and_no_event_when_unchanged)
{
    char *id = create("put@example.com", NULL);
    struct th_resp *r = scim("GET", th_fmt("/scim/v2/Users/%s", id), NULL);
    /* Okta's PUT: the whole profile as it read it, without active. */
    json_object_del(r->json, "active");
    char *body = json_dumps(r->json, JSON_COMPACT);
    th_resp_free(r);
    r = scim("PUT", th_fmt("/scim/v2/Users/%s", id), body);
    ck_assert_int_eq(r->status, 200);
    ck_assert(json_is_true(json_object_get(r->json, "active")));
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM events WHERE org_id = $1", org.id, NULL), 1);
    ck_assert_int_eq(th_sql_int(db, "SELECT version FROM users WHERE id = $1", id, NULL), 1);
    /* A real change emits scimUser.updated naming the changed fields. */
    json_t *doc = json_loads(body, 0, NULL);
    json_object_set_new(json_object_get(doc, "name"), "givenName", json_string("Leigh"));
    free(body);
    body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    r = scim("PUT", th_fmt("/scim/v2/Users/%s", id), body);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(str(r->json, "name.givenName"), "Leigh");
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM events WHERE org_id = $1 AND"
                                    " type = 'scimUser.updated' AND"
                                    " (payload->'data'->'changed_fields')::jsonb = '[\"first_name\"]'::jsonb",
                                org.id, NULL),
                     1);
    /* A userName change keeps the id. */
    doc = json_loads(body, 0, NULL);
    json_object_set_new(doc, "userName", json_string("renamed@example.com"));
    free(body);
    body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    r = scim("PUT", th_fmt("/scim/v2/Users/%s", id), body);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(str(r->json, "id"), id);
    ck_assert_str_eq(str(r->json, "userName"), "renamed@example.com");
    th_resp_free(r);
    free(body);
    free(id);
}
END_TEST

START_TEST(test_filters_paging_and_plan)
{
    for (int i = 0; i < 25; i++) {
        char name[64], extra[128];
        snprintf(name, sizeof name, "page%02d@example.com", i);
        snprintf(extra, sizeof extra, "\"title\":\"%s\"", i % 2 ? "Engineer" : "Designer");
        free(create(name, extra));
    }
    struct th_resp *r = scim("GET", "/scim/v2/Users?startIndex=1&count=10", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert(json_is_integer(json_object_get(r->json, "totalResults")));
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 25);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "itemsPerPage")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "startIndex")), 1);
    const char *first = str(json_array_get(json_object_get(r->json, "Resources"), 0), "id");
    char *first_id = xstrdup(first);
    th_resp_free(r);
    /* Pages are stable and do not overlap. */
    r = scim("GET", "/scim/v2/Users?startIndex=21&count=10", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "Resources")), 5);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?startIndex=1&count=1", NULL);
    ck_assert_str_eq(str(json_array_get(json_object_get(r->json, "Resources"), 0), "id"), first_id);
    th_resp_free(r);
    free(first_id);
    /* Out-of-range numbers saturate: a count beyond any limit is the limit, a
     * startIndex beyond the end is an empty page, a negative count is 0. */
    r = scim("GET", "/scim/v2/Users?count=99999999999999999999999", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "itemsPerPage")), 25);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?startIndex=99999999999999999999999&count=5", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 25);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "Resources")), 0);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?count=-3", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "itemsPerPage")), 0);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?count=ten", NULL);
    ck_assert_int_eq(r->status, 400);
    ck_assert_str_eq(str(r->json, "scimType"), "invalidValue");
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?filter=title%20eq%20%22engineer%22%20and%20userName%20sw%20%22page1%22", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 5);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22page03%40example.com%22", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 1);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?filter=userName%20eq%20%22nobody%22", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 0);
    ck_assert(json_is_array(json_object_get(r->json, "Resources")));
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Users?sortBy=userName&sortOrder=descending&count=1&attributes=userName", NULL);
    json_t *u = json_array_get(json_object_get(r->json, "Resources"), 0);
    ck_assert_str_eq(str(u, "userName"), "page24@example.com");
    ck_assert_ptr_null(json_object_get(u, "emails"));
    ck_assert_ptr_nonnull(json_object_get(u, "id"));
    th_resp_free(r);
    r = scim("POST", "/scim/v2/Users/.search",
             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],"
             "\"filter\":\"userName sw \\\"page2\\\"\",\"startIndex\":1,\"count\":2,"
             "\"excludedAttributes\":[\"emails\"]}");
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 5);
    ck_assert_int_eq(json_array_size(json_object_get(r->json, "Resources")), 2);
    ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(r->json, "Resources"), 0), "emails"));
    th_resp_free(r);
    /* userName eq uses the (org_id, lower(user_name)) index. */
    PQclear(th_sql(db, "ANALYZE users", NULL));
    PQclear(th_sql(db, "SET enable_seqscan = off", NULL));
    PGresult *plan = th_sql(db, "EXPLAIN SELECT id FROM users u WHERE u.org_id = $1"
                                " AND lower(u.user_name) = lower($2)",
                            org.id, "page03@example.com", NULL);
    bool uses = false;
    for (int i = 0; i < PQntuples(plan); i++)
        uses = uses || strstr(PQgetvalue(plan, i, 0), "users_user_name_key");
    ck_assert_msg(uses, "plan: %s", PQgetvalue(plan, 0, 0));
    PQclear(plan);
}
END_TEST

START_TEST(test_bad_input)
{
    char *id = create("bad@example.com", NULL);
    expect_error(scim("POST", "/scim/v2/Users", "{not json"), 400, "invalidSyntax");
    expect_error(scim("POST", "/scim/v2/Users", "[1,2]"), 400, "invalidSyntax");
    expect_error(scim("POST", "/scim/v2/Users", "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"]}"), 400, NULL);
    expect_error(scim("POST", "/scim/v2/Users", "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":42}"), 400, NULL);
    expect_error(scim("POST", "/scim/v2/Users", "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"x\",\"emails\":\"nope\"}"), 400, NULL);
    expect_error(scim("GET", "/scim/v2/Users?filter=userName%20eq", NULL), 400, "invalidFilter");
    expect_error(scim("GET", "/scim/v2/Users?filter=userName%20eq%20%22x'%20OR%201%3D1%20--%22%20or", NULL), 400, "invalidFilter");
    struct th_resp *r = scim("GET", "/scim/v2/Users?filter=userName%20eq%20%22x'%20OR%201%3D1%20--%22", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 0);
    th_resp_free(r);
    expect_error(scim("GET", "/scim/v2/Users?filter=((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((userName%20pr", NULL), 400, "invalidFilter");
    expect_error(scim("PATCH", th_fmt("/scim/v2/Users/%s", id), "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"frobnicate\",\"path\":\"title\"}]}"), 400, NULL);
    expect_error(scim("PATCH", th_fmt("/scim/v2/Users/%s", id), "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"emails[type eq \\\"work\\\"\",\"value\":\"x\"}]}"), 400, "invalidPath");
    expect_error(scim("PATCH", th_fmt("/scim/v2/Users/%s", id), "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"remove\"}]}"), 400, "noTarget");
    expect_error(scim("PATCH", th_fmt("/scim/v2/Users/%s", id), "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"id\",\"value\":\"x\"}]}"), 400, "mutability");
    /* A failed PATCH changed nothing, atomically. */
    expect_error(scim("PATCH", th_fmt("/scim/v2/Users/%s", id), "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"T\"},{\"op\":\"replace\",\"path\":\"nosuchattr\",\"value\":1}]}"), 400, NULL);
    r = scim("GET", th_fmt("/scim/v2/Users/%s", id), NULL);
    ck_assert_ptr_null(json_object_get(r->json, "title"));
    th_resp_free(r);
    /* Invalid UTF-8 and wrong content types. */
    expect_error(scim("POST", "/scim/v2/Users", "{\"userName\":\"\xff\xfe\"}"), 400, "invalidSyntax");
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", org.token);
    const char *h[] = {auth, "Content-Type: text/plain", NULL};
    r = th_http(srv->port, "POST", "/scim/v2/Users", h, "{}", 2);
    expect_error(r, 415, NULL);
    /* Deeply nested input. */
    struct strbuf deep = {0};
    strbuf_puts(&deep, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"d\",\"x\":");
    for (int i = 0; i < 5000; i++)
        strbuf_putc(&deep, '[');
    for (int i = 0; i < 5000; i++)
        strbuf_putc(&deep, ']');
    strbuf_putc(&deep, '}');
    r = scim("POST", "/scim/v2/Users", deep.s);
    ck_assert_int_eq(r->status, 400);
    th_resp_free(r);
    strbuf_clear(&deep);
    /* Nothing of that created anything. */
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE org_id = $1", org.id, NULL), 1);
    free(id);
}
END_TEST

START_TEST(test_isolation_between_organizations)
{
    char *id = create("mine@example.com", NULL);
    struct th_resp *r = th_scim(srv->port, other.token, "GET", th_fmt("/scim/v2/Users/%s", id), NULL);
    expect_error(r, 404, NULL);
    r = th_scim(srv->port, other.token, "PATCH", th_fmt("/scim/v2/Users/%s", id),
                "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                "\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"x\"}]}");
    expect_error(r, 404, NULL);
    r = th_scim(srv->port, other.token, "DELETE", th_fmt("/scim/v2/Users/%s", id), NULL);
    expect_error(r, 404, NULL);
    r = th_scim(srv->port, other.token, "GET",
                th_fmt("/scim/v2/Users?filter=id%%20eq%%20%%22%s%%22", id), NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 0);
    th_resp_free(r);
    r = th_scim(srv->port, other.token, "GET", "/scim/v2/Users", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 0);
    th_resp_free(r);
    /* Still intact for its owner. */
    r = scim("GET", th_fmt("/scim/v2/Users/%s", id), NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_null(json_object_get(r->json, "title"));
    th_resp_free(r);
    free(id);
}
END_TEST

START_TEST(test_discovery)
{
    struct th_resp *r = scim("GET", "/scim/v2/ServiceProviderConfig", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert(json_is_true(json_object_get(json_object_get(r->json, "patch"), "supported")));
    ck_assert(json_is_true(json_object_get(json_object_get(r->json, "filter"), "supported")));
    ck_assert(json_is_integer(json_object_get(json_object_get(r->json, "filter"), "maxResults")));
    ck_assert(json_is_true(json_object_get(json_object_get(r->json, "etag"), "supported")));
    ck_assert_str_eq(str(json_array_get(json_object_get(r->json, "authenticationSchemes"), 0), "type"),
                     "oauthbearertoken");
    th_resp_free(r);
    r = scim("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", NULL);
    ck_assert_int_eq(r->status, 200);
    ck_assert(json_array_size(json_object_get(r->json, "attributes")) > 10);
    th_resp_free(r);
    r = scim("GET", "/scim/v2/ResourceTypes", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "totalResults")), 2);
    th_resp_free(r);
    r = th_scim(srv->port, "scim_WRONG", "GET", "/scim/v2/ServiceProviderConfig", NULL);
    ck_assert_int_eq(r->status, 401);
    ck_assert_ptr_nonnull(th_resp_header(r, "WWW-Authenticate"));
    th_resp_free(r);
}
END_TEST

/* The value of a metric line "name value" on the metrics page. */
static double metric(const char *page, const char *name)
{
    const char *p = page;
    size_t n = strlen(name);
    while ((p = strstr(p, name))) {
        if ((p == page || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

START_TEST(test_concurrent_creates_grouped_and_exact)
{
    PQclear(th_sql(db, "UPDATE scim_tokens SET rate_per_sec = 100000, burst = 100000 WHERE org_id = $1",
                   org.id, NULL));
    struct th_resp *m0 = th_http(srv->port, "GET", "/metrics", NULL, NULL, 0);
    double commits0 = metric(m0->body, "scimgate_db_group_commits_total");
    double writes0 = metric(m0->body, "scimgate_db_group_commit_writes_total");
    th_resp_free(m0);
    /* 12 clients create 25 users each; every name is also tried by another
     * client, so half the attempts must get 409 and nothing else goes wrong. */
    enum { CLIENTS = 12, EACH = 25 };
    int *results = mmap(NULL, sizeof(int) * CLIENTS * 3, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(results, 0, sizeof(int) * CLIENTS * 3);
    pid_t kids[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            for (int i = 0; i < EACH; i++) {
                struct th_resp *r = th_scim(srv->port, org.token, "POST", "/scim/v2/Users",
                                            th_fmt("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
                                                   "\"userName\":\"gc-%d-%d@example.com\"}", k / 2, i));
                int slot = r && r->status == 201 ? 0 : r && r->status == 409 ? 1 : 2;
                results[k * 3 + slot]++;
                th_resp_free(r);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < CLIENTS; k++)
        waitpid(kids[k], NULL, 0);
    int created = 0, conflicts = 0, failed = 0;
    for (int k = 0; k < CLIENTS; k++) {
        created += results[k * 3];
        conflicts += results[k * 3 + 1];
        failed += results[k * 3 + 2];
    }
    munmap(results, sizeof(int) * CLIENTS * 3);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(created, CLIENTS / 2 * EACH);
    ck_assert_int_eq(conflicts, CLIENTS / 2 * EACH);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE org_id = $1", org.id, NULL), created);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM events WHERE org_id = $1 AND type = 'scimUser.provisioned'",
                                org.id, NULL),
                     created);
    ck_assert_int_eq(th_sql_int(db, "SELECT max(seq) FROM events WHERE org_id = $1", org.id, NULL), created);
    /* Writes were grouped: fewer commits than writes. */
    struct th_resp *m1 = th_http(srv->port, "GET", "/metrics", NULL, NULL, 0);
    double commits = metric(m1->body, "scimgate_db_group_commits_total") - commits0;
    double writes = metric(m1->body, "scimgate_db_group_commit_writes_total") - writes0;
    th_resp_free(m1);
    ck_assert_msg(writes >= CLIENTS * EACH && commits < writes,
                  "commits %.0f for %.0f writes", commits, writes);
}
END_TEST

START_TEST(test_password_change_by_patch)
{
    char *id = create("pwchange@example.com", "\"password\":\"first-Secret1\"");
    PGresult *res = th_sql(db, "SELECT password_hash FROM users WHERE id = $1", id, NULL);
    char *hash1 = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    static const char same[] =
        "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
        "\"Operations\":[{\"op\":\"replace\",\"path\":\"password\",\"value\":\"first-Secret1\"}]}";
    static const char changed[] =
        "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
        "\"Operations\":[{\"op\":\"replace\",\"path\":\"password\",\"value\":\"second-Secret2\"}]}";
    /* The same password again changes nothing. */
    struct th_resp *r = scim("PATCH", th_fmt("/scim/v2/Users/%s", id), same);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(str(r->json, "meta.version"), "W/\"1\"");
    th_resp_free(r);
    /* A new one is hashed anew (new salt) and is a new version. */
    r = scim("PATCH", th_fmt("/scim/v2/Users/%s", id), changed);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(str(r->json, "meta.version"), "W/\"2\"");
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE id = $1 AND password_hash"
                                    " LIKE 'pbkdf2-sha256$%' AND password_hash <> $2",
                                id, hash1, NULL),
                     1);
    free(hash1);
    free(id);
}
END_TEST

START_TEST(test_passwords_discarded_when_not_stored)
{
    const char *env[] = {"SCIMGATE_STORE_PASSWORDS=false", NULL};
    struct th_server *s = th_server_start(db_url, env, NULL);
    static const char body[] =
        "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
        "\"userName\":\"nopw@example.com\",\"password\":\"t1meMa$heen\",\"active\":true}";
    struct th_resp *r = th_scim(s->port, org.token, "POST", "/scim/v2/Users", body);
    ck_assert_int_eq(r->status, 201);
    char *id = xstrdup(str(r->json, "id"));
    ck_assert_ptr_null(json_object_get(r->json, "password"));
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE id = $1 AND password_hash"
                                    " IS NULL", id, NULL),
                     1);
    /* A PUT that only sends a password changes nothing: same version. */
    r = th_scim(s->port, org.token, "PUT", th_fmt("/scim/v2/Users/%s", id), body);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(str(r->json, "meta.version"), "W/\"1\"");
    th_resp_free(r);
    ck_assert_int_eq(th_sql_int(db, "SELECT count(*) FROM users WHERE id = $1 AND password_hash"
                                    " IS NULL", id, NULL),
                     1);
    free(id);
    ck_assert_int_eq(th_server_stop(s), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("users");
    TCase *tc = tcase_create("users");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, per_test, per_test_done);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_shape_and_read);
    tcase_add_test(tc, test_username_unique_case_insensitive);
    tcase_add_test(tc, test_etag_if_match);
    tcase_add_test(tc, test_lifecycle_and_events);
    tcase_add_test(tc, test_put_keeps_active_and_no_event_when_unchanged);
    tcase_add_test(tc, test_filters_paging_and_plan);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_isolation_between_organizations);
    tcase_add_test(tc, test_discovery);
    tcase_add_test(tc, test_concurrent_creates_grouped_and_exact);
    tcase_add_test(tc, test_password_change_by_patch);
    tcase_add_test(tc, test_passwords_discarded_when_not_stored);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
