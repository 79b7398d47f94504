/*
 * test_scim_v1.c - unit tests of scim_v1.c: SCIM 1.1 paths, filters, bodies
 * and PATCH bodies translated to 2.0 and checked with the 2.0 consumers (the
 * validator, the filter parser, the PATCH engine); replies translated to 1.1;
 * the 1.1 discovery documents checked against what Okta's 1.1 test suite
 * asserts (tests/fixtures/okta-v1); and every okta-v1 request through the
 * translation.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "scim_error.h"
#include "scim_filter.h"
#include "scim_patch.h"
#include "scim_schema.h"
#include "scim_v1.h"
#include "testutil.h"
#include "util.h"

#define V2 "https://id.example.com/scim/v2"
#define V1 "https://id.example.com/scim/v1"

static const struct scim_v1_urls urls = {V2, V1};

/* Helpers ---------------------------------------------------------------- */

static void check_path(const struct scim_resource_type *rt, const char *in,
                       const char *want)
{
    char *got = scim_v1_path_to_v2(rt, in);
    ck_assert_msg(strcmp(got, want) == 0, "%s: want %s, got %s", in, want, got);
    free(got);
}

static void check_json(const json_t *got, const char *want_text)
{
    json_t *want = tu_json(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        ck_abort_msg("want %s\n got %s", w, g);
    }
    json_decref(want);
}

/* The 2.0 filter text of a 1.1 filter (new string), failing the test if the
 * translation refuses it. */
static char *filter_ok(const struct scim_resource_type *rt, const char *text)
{
    struct scim_error err = {0};
    char *out = scim_v1_filter_to_v2(rt, text, &err);
    ck_assert_msg(out != NULL, "%s: %s", text, err.detail);
    ck_assert_int_eq(err.status, 0);
    return out;
}

/* Whether the 1.1 filter is accepted end to end (translation, then the 2.0
 * parser); on refusal the error must be 400 invalidFilter. */
static bool filter_accepted(const struct scim_resource_type *rt, const char *text)
{
    struct scim_error err = {0};
    char *v2 = scim_v1_filter_to_v2(rt, text, &err);
    struct scim_filter *f = v2 ? scim_filter_parse(v2, rt, &err) : NULL;
    free(v2);
    if (!f) {
        ck_assert_int_eq(err.status, 400);
        ck_assert_str_eq(err.type, SCIM_TYPE_INVALID_FILTER);
        return false;
    }
    scim_filter_free(f);
    return true;
}

/* A 1.1 body (text) as a validated stored 2.0 document of rt. */
static json_t *stored_from_v1(const struct scim_resource_type *rt, const char *text)
{
    json_t *body = tu_json(text);
    struct scim_error err = {0};
    json_t *v2 = scim_v1_resource_to_v2(rt, body, &err);
    ck_assert_msg(v2 != NULL, "%s", err.detail);
    char *pw = NULL;
    json_t *doc = scim_schema_validate(rt, v2, SCIM_VALIDATE_CREATE, NULL, &pw, &err);
    ck_assert_msg(doc != NULL, "%s", err.detail);
    free(pw);
    json_decref(v2);
    json_decref(body);
    return doc;
}

/* Applies a 1.1 PATCH body (text) to doc through the 2.0 engine. */
static bool patch_v1(const struct scim_resource_type *rt, const json_t *doc,
                     const char *text, struct scim_patch_result *res,
                     struct scim_error *err)
{
    json_t *body = tu_json(text);
    json_t *v2 = scim_v1_patch_to_v2(rt, body, err);
    json_decref(body);
    if (!v2)
        return false;
    bool ok = scim_patch_apply(rt, doc, v2, res, err);
    json_decref(v2);
    return ok;
}

static json_t *patch_body(const struct scim_resource_type *rt, const char *text)
{
    json_t *body = tu_json(text);
    struct scim_error err = {0};
    json_t *v2 = scim_v1_patch_to_v2(rt, body, &err);
    ck_assert_msg(v2 != NULL, "%s", err.detail);
    json_decref(body);
    return v2;
}

static void expect_400(json_t *got, const struct scim_error *err, const char *type)
{
    ck_assert_ptr_null(got);
    ck_assert_int_eq(err->status, 400);
    ck_assert_str_eq(err->type, type);
    ck_assert(err->detail[0] != '\0');
}

/* The filter translation refuses text with 400 invalidFilter. */
static void expect_filter_400(const char *text)
{
    struct scim_error err = {0};
    char *out = scim_v1_filter_to_v2(&scim_rt_user, text, &err);
    ck_assert_msg(out == NULL, "accepted: %s", out);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, SCIM_TYPE_INVALID_FILTER);
}

/* RFC 6901 pointer into doc (borrowed), or NULL. */
static const json_t *pointer(const json_t *doc, const char *ptr)
{
    const json_t *cur = doc;
    const char *p = ptr;
    while (cur && *p == '/') {
        p++;
        size_t n = strcspn(p, "/");
        char tok[256];
        size_t o = 0;
        for (size_t i = 0; i < n && o + 1 < sizeof tok; i++) {
            if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
                tok[o++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[o++] = p[i];
            }
        }
        tok[o] = '\0';
        if (json_is_array(cur)) {
            char *end;
            long idx = strtol(tok, &end, 10);
            cur = *end ? NULL : json_array_get(cur, (size_t)idx);
        } else {
            cur = json_object_get(cur, tok);
        }
        p += n;
    }
    return cur;
}

static bool has_type(const json_t *v, const char *type)
{
    if (!strcmp(type, "integer"))
        return json_is_integer(v);
    if (!strcmp(type, "string"))
        return json_is_string(v);
    if (!strcmp(type, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(type, "array"))
        return json_is_array(v);
    if (!strcmp(type, "object"))
        return json_is_object(v);
    if (!strcmp(type, "number"))
        return json_is_number(v);
    return json_is_null(v);
}

/* Paths ------------------------------------------------------------------ */

START_TEST(test_paths)
{
    const struct scim_resource_type *u = &scim_rt_user, *g = &scim_rt_group;
    check_path(u, "userName", "userName");
    check_path(u, "name.familyName", "name.familyName");
    check_path(u, "urn:scim:schemas:core:1.0:userName", "userName");
    check_path(u, "urn:scim:schemas:core:1.0.name.givenName", "name.givenName");
    check_path(u, "URN:SCIM:SCHEMAS:CORE:1.0:emails", "emails");
    check_path(u, "urn:scim:schemas:core:1.0", SCIM_SCHEMA_USER);
    check_path(g, "urn:scim:schemas:core:1.0", SCIM_SCHEMA_GROUP);
    check_path(u, "urn:scim:schemas:extension:enterprise:1.0", SCIM_SCHEMA_ENTERPRISE);
    check_path(u, "urn:scim:schemas:extension:enterprise:1.0:department",
               SCIM_SCHEMA_ENTERPRISE ":department");
    check_path(u, "urn:scim:schemas:extension:enterprise:1.0.employeeNumber",
               SCIM_SCHEMA_ENTERPRISE ":employeeNumber");
    check_path(u, "urn:scim:schemas:extension:enterprise:1.0:manager.managerId",
               SCIM_SCHEMA_ENTERPRISE ":manager.value");
    check_path(u, "manager.managerId", "manager.value");
    check_path(u, "MANAGER.MANAGERID", "manager.value");
    check_path(u, "manager.displayName", "manager.displayName");
    /* Groups have no enterprise extension: the URN is any other URN. */
    check_path(g, "urn:scim:schemas:extension:enterprise:1.0:department",
               "urn:scim:schemas:extension:enterprise:1.0:department");
    check_path(g, "manager.managerId", "manager.managerId");
    check_path(u, "urn:okta:custom:group:1.0", "urn:okta:custom:group:1.0");
    check_path(u, SCIM_SCHEMA_ENTERPRISE ":department",
               SCIM_SCHEMA_ENTERPRISE ":department");
    check_path(u, "urn:scim:schemas:core:1.0:", "urn:scim:schemas:core:1.0:");
    check_path(u, "", "");
    check_path(NULL, "manager.managerId", "manager.value");
    char *none = scim_v1_path_to_v2(u, NULL);
    ck_assert_str_eq(none, "");
    free(none);
}
END_TEST

START_TEST(test_path_lists)
{
    char *s = scim_v1_paths_to_v2(
        &scim_rt_user, "userName, urn:scim:schemas:core:1.0:name.familyName,"
                       "urn:scim:schemas:extension:enterprise:1.0:manager.managerId");
    ck_assert_str_eq(s,
                     "userName,name.familyName," SCIM_SCHEMA_ENTERPRISE ":manager.value");
    free(s);
    s = scim_v1_paths_to_v2(&scim_rt_group, "members");
    ck_assert_str_eq(s, "members");
    free(s);
    s = scim_v1_paths_to_v2(&scim_rt_group, "a,,b,");
    ck_assert_str_eq(s, "a,,b,");
    free(s);
    s = scim_v1_paths_to_v2(&scim_rt_group, "");
    ck_assert_str_eq(s, "");
    free(s);
    s = scim_v1_paths_to_v2(&scim_rt_group, NULL);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

/* Filters ---------------------------------------------------------------- */

START_TEST(test_filters_unchanged)
{
    /* The filters Okta's 1.1 connector and suite send, and the 1.1 forms. */
    static const char *const same[] = {
        "userName eq \"test.user@okta.local\"",
        "externalId eq \"00b443dd40SOK2eup0h7\"",
        "displayName eq \"Test SCIMv1\"",
        "emails co \"example.com\"",
        "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
        "title pr and userType eq \"Employee\"",
        "(userName sw \"J\" or userName sw \"K\") and active eq true",
        "userName eq \"quote \\\" and (paren\"",
        "userName eq \"urn:scim:schemas:core:1.0:userName\"",
        "userName\teq\n\"x\"",
    };
    for (size_t i = 0; i < ARRAY_LEN(same); i++) {
        char *out = filter_ok(&scim_rt_user, same[i]);
        ck_assert_str_eq(out, same[i]);
        free(out);
        ck_assert_msg(filter_accepted(&scim_rt_user, same[i]), "%s", same[i]);
    }
}
END_TEST

START_TEST(test_filters_mapped)
{
    char *out = filter_ok(&scim_rt_user, "urn:scim:schemas:core:1.0:userName eq \"a\"");
    ck_assert_str_eq(out, "userName eq \"a\"");
    free(out);
    out = filter_ok(&scim_rt_user,
                    "(urn:scim:schemas:extension:enterprise:1.0:department eq \"Eng\")");
    ck_assert_str_eq(out, "(" SCIM_SCHEMA_ENTERPRISE ":department eq \"Eng\")");
    free(out);
    out = filter_ok(&scim_rt_user, "manager.managerId eq \"usr_1\" or userName pr");
    ck_assert_str_eq(out, "manager.value eq \"usr_1\" or userName pr");
    free(out);
    ck_assert(filter_accepted(
        &scim_rt_user, "urn:scim:schemas:extension:enterprise:1.0:manager.managerId "
                       "eq \"usr_1\""));
    ck_assert(filter_accepted(&scim_rt_group, "members.value eq \"usr_1\""));
}
END_TEST

START_TEST(test_filters_refused)
{
    static const char *const bad[] = {
        "",
        "   ",
        "userName eq \"unterminated",
        "(userName eq \"a\"",
        "userName eq \"a\")",
        ")(",
        "userName eq \"a\\\"",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        expect_filter_400(bad[i]);
    char *long_filter = xmalloc(SCIM_FILTER_MAX_LEN + 2);
    memset(long_filter, 'a', SCIM_FILTER_MAX_LEN + 1);
    long_filter[SCIM_FILTER_MAX_LEN + 1] = '\0';
    expect_filter_400(long_filter);
    free(long_filter);
    expect_filter_400(NULL);
}
END_TEST

START_TEST(test_filter_bare_name_is_400)
{
    /* Okta's 1.1 suite: "Username Case Sensitivity Check" sends the upper-cased
     * user name as the whole filter and wants 400. */
    ck_assert(!filter_accepted(&scim_rt_user,
                               "AMARA3F2A9C0D1E4BOKAFOR3F2A9C0D1E4B@EXAMPLE.COM"));
    ck_assert(!filter_accepted(&scim_rt_user, "USERNAME"));
    ck_assert(!filter_accepted(&scim_rt_user, "userName eq"));
    ck_assert(!filter_accepted(&scim_rt_user, "userName xx \"a\""));
    ck_assert(!filter_accepted(&scim_rt_user, "\"a@b.c\""));
}
END_TEST

/* Request bodies --------------------------------------------------------- */

START_TEST(test_okta_create_user)
{
    json_t *doc = stored_from_v1(
        &scim_rt_user,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"userName\":\"test.user@okta."
        "local\","
        "\"name\":{\"givenName\":\"Test\",\"familyName\":\"User\"},"
        "\"emails\":[{\"primary\":true,\"value\":\"test.user@okta.local\",\"type\":"
        "\"work\"}],"
        "\"displayName\":\"Test "
        "User\",\"locale\":\"en_US\",\"externalId\":\"00b443dd40SOK2eup0h7\","
        "\"groups\":[],\"password\":\"1mz050nq\",\"active\":true}");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "userName")),
                     "test.user@okta.local");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "externalId")),
                     "00b443dd40SOK2eup0h7");
    ck_assert(json_is_true(json_object_get(doc, "active")));
    ck_assert_ptr_null(json_object_get(doc, "password"));
    ck_assert_ptr_null(json_object_get(doc, "groups"));
    check_json(json_object_get(doc, "schemas"), "[\"" SCIM_SCHEMA_USER "\"]");
    json_decref(doc);
}
END_TEST

START_TEST(test_okta_put_user_with_meta)
{
    json_t *body = tu_json(
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"id\":\"usr_1\",\"userName\":\"a@"
        "b.c\","
        "\"meta\":{\"created\":\"2019-10-18T06:50:23+00:00\",\"version\":\"a7fc\","
        "\"attributes\":[\"x\"]},\"groups\":[]}");
    struct scim_error err = {0};
    json_t *v2 = scim_v1_resource_to_v2(&scim_rt_user, body, &err);
    check_json(v2,
               "{\"schemas\":[\"" SCIM_SCHEMA_USER "\"],\"id\":\"usr_1\",\"userName\":"
               "\"a@b.c\",\"groups\":[]}");
    json_t *doc =
        scim_schema_validate(&scim_rt_user, v2, SCIM_VALIDATE_REPLACE, NULL, NULL, &err);
    ck_assert_msg(doc != NULL, "%s", err.detail);
    json_decref(doc);
    json_decref(v2);
    json_decref(body);
}
END_TEST

START_TEST(test_enterprise_extension)
{
    json_t *doc = stored_from_v1(
        &scim_rt_user,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\",\"urn:scim:schemas:extension:"
        "enterprise:1.0\"],"
        "\"userName\":\"e@example.com\","
        "\"urn:scim:schemas:extension:enterprise:1.0\":{\"employeeNumber\":\"701984\","
        "\"department\":\"Tour Operations\",\"manager\":{\"managerId\":\"usr_26118915\","
        "\"displayName\":\"John Smith\"}}}");
    check_json(json_object_get(doc, SCIM_SCHEMA_ENTERPRISE),
               "{\"employeeNumber\":\"701984\",\"department\":\"Tour Operations\","
               "\"manager\":{\"value\":\"usr_26118915\"}}");
    check_json(json_object_get(doc, "schemas"),
               "[\"" SCIM_SCHEMA_USER "\",\"" SCIM_SCHEMA_ENTERPRISE "\"]");
    json_decref(doc);

    /* Qualified attribute names at the top level. */
    doc = stored_from_v1(
        &scim_rt_user,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],"
        "\"urn:scim:schemas:core:1.0:userName\":\"q@example.com\","
        "\"urn:scim:schemas:extension:enterprise:1.0:costCenter\":\"4130\"}");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "userName")),
                     "q@example.com");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(doc, SCIM_SCHEMA_ENTERPRISE), "costCenter")),
                     "4130");
    json_decref(doc);
}
END_TEST

START_TEST(test_group_bodies)
{
    json_t *doc = stored_from_v1(
        &scim_rt_group,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\",\"urn:okta:custom:group:1.0\"],"
        "\"displayName\":\"Group 10\",\"urn:okta:custom:group:1.0\":"
        "{\"description\":\"All Users West of the Rockies\"}}");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "displayName")), "Group 10");
    check_json(json_object_get(doc, "urn:okta:custom:group:1.0"),
               "{\"description\":\"All Users West of the Rockies\"}");
    json_decref(doc);

    /* PUT with members: "operation" goes, deleted members are not wanted. */
    json_t *body =
        tu_json("{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"displayName\":\"G\","
                "\"id\":\"grp_1\",\"members\":[{\"value\":\"usr_b\",\"display\":\"b\"},"
                "{\"value\":\"usr_a\",\"operation\":\"DELETE\"},"
                "{\"value\":\"usr_c\",\"operation\":\"add\"}]}");
    struct scim_error err = {0};
    json_t *v2 = scim_v1_resource_to_v2(&scim_rt_group, body, &err);
    check_json(v2,
               "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\"],\"displayName\":\"G\","
               "\"id\":\"grp_1\",\"members\":[{\"value\":\"usr_b\",\"display\":\"b\"},"
               "{\"value\":\"usr_c\"}]}");
    json_t *members = NULL;
    struct scim_validate_opts opts = {.members_out = &members};
    doc = scim_schema_validate_ex(&scim_rt_group, v2, SCIM_VALIDATE_REPLACE, NULL, &opts,
                                  NULL, &err);
    ck_assert_msg(doc != NULL, "%s", err.detail);
    ck_assert_int_eq(json_array_size(members), 2);
    json_decref(members);
    json_decref(doc);
    json_decref(v2);
    json_decref(body);
}
END_TEST

START_TEST(test_body_errors)
{
    static const char *const bad[] = {
        "{\"userName\":\"a\"}",
        "{\"schemas\":\"urn:scim:schemas:core:1.0\",\"userName\":\"a\"}",
        "{\"schemas\":[],\"userName\":\"a\"}",
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\",3],\"userName\":\"a\"}",
        "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\"],\"userName\":\"a\"}",
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"userName\":\"a\","
        "\"urn:scim:schemas:core:1.0:userName\":\"b\"}",
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"Schemas\":[\"urn:scim:schemas:"
        "core:1.0\"]}",
        "[]",
        "\"x\"",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        json_t *body = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(body);
        struct scim_error err = {0};
        expect_400(scim_v1_resource_to_v2(&scim_rt_user, body, &err), &err,
                   SCIM_TYPE_INVALID_SYNTAX);
        json_decref(body);
    }
    struct scim_error err = {0};
    expect_400(scim_v1_resource_to_v2(&scim_rt_user, NULL, &err), &err,
               SCIM_TYPE_INVALID_SYNTAX);
    /* The 2.0 core URN is accepted at /scim/v1 too. */
    json_decref(stored_from_v1(&scim_rt_user, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\"],"
                                              "\"userName\":\"v2@example.com\"}"));
}
END_TEST

/* PATCH ------------------------------------------------------------------ */

START_TEST(test_patch_shapes)
{
    json_t *b = patch_body(&scim_rt_user, "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],"
                                          "\"id\":\"usr_1\",\"active\":false}");
    check_json(b, "{\"schemas\":[\"" SCIM_SCHEMA_PATCHOP "\"],\"Operations\":"
                  "[{\"op\":\"add\",\"value\":{\"active\":false}}]}");
    json_decref(b);

    b = patch_body(
        &scim_rt_group,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"meta\":{\"attributes\":"
        "[\"members\",\"urn:scim:schemas:core:1.0:externalId\"]},\"members\":"
        "[{\"value\":\"a\",\"display\":\"A\"},{\"value\":\"b\",\"operation\":\"delete\"}]"
        "}");
    check_json(b,
               "{\"schemas\":[\"" SCIM_SCHEMA_PATCHOP "\"],\"Operations\":["
               "{\"op\":\"remove\",\"path\":\"members\"},"
               "{\"op\":\"remove\",\"path\":\"externalId\"},"
               "{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"value\":\"b\"}]},"
               "{\"op\":\"add\",\"value\":{\"members\":[{\"value\":\"a\",\"display\":"
               "\"A\"}]}}]}");
    json_decref(b);

    /* Nothing to change: still a valid PatchOp. */
    b = patch_body(&scim_rt_user,
                   "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"id\":\"x\","
                   "\"meta\":{\"version\":\"1\"},\"groups\":[{\"value\":\"g\"}]}");
    check_json(b, "{\"schemas\":[\"" SCIM_SCHEMA_PATCHOP "\"],\"Operations\":"
                  "[{\"op\":\"add\",\"value\":{}}]}");
    json_decref(b);
    b = patch_body(&scim_rt_user,
                   "{\"urn:scim:schemas:core:1.0:groups\":[{\"value\":\"g\","
                   "\"operation\":\"delete\"}],\"urn:scim:schemas:core:1.0:id\":\"x\"}");
    check_json(json_object_get(b, "Operations"), "[{\"op\":\"add\",\"value\":{}}]");
    json_decref(b);
    b = patch_body(&scim_rt_user, "{}");
    check_json(json_object_get(b, "Operations"), "[{\"op\":\"add\",\"value\":{}}]");
    json_decref(b);

    /* Only deletions: no add. */
    b = patch_body(&scim_rt_group,
                   "{\"members\":[{\"value\":\"a\",\"operation\":\"delete\"}]}");
    check_json(
        json_object_get(b, "Operations"),
        "[{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"value\":\"a\"}]}]");
    json_decref(b);

    /* A 2.0 PatchOp body passes through. */
    const char *v2 = "{\"schemas\":[\"" SCIM_SCHEMA_PATCHOP "\"],\"Operations\":"
                     "[{\"op\":\"replace\",\"path\":\"active\",\"value\":false}]}";
    b = patch_body(&scim_rt_user, v2);
    check_json(b, v2);
    json_decref(b);
}
END_TEST

START_TEST(test_patch_user_semantics)
{
    json_t *doc = stored_from_v1(
        &scim_rt_user,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"userName\":\"p@example.com\","
        "\"name\":{\"givenName\":\"Pat\",\"familyName\":\"Lee\",\"middleName\":\"Q\"},"
        "\"nickName\":\"pq\",\"title\":\"Eng\","
        "\"emails\":[{\"value\":\"p@example.com\",\"type\":\"work\",\"primary\":true},"
        "{\"value\":\"p@home.example\",\"type\":\"home\"}],"
        "\"urn:scim:schemas:extension:enterprise:1.0\":{\"department\":\"R&D\","
        "\"costCenter\":\"7\"}}");
    struct scim_patch_result res = {0};
    struct scim_error err = {0};
    bool ok = patch_v1(&scim_rt_user, doc,
                       "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],"
                       "\"meta\":{\"attributes\":[\"nickName\",\"name.middleName\","
                       "\"urn:scim:schemas:extension:enterprise:1.0:department\"]},"
                       "\"name\":{\"familyName\":\"Lee-Park\"},"
                       "\"emails\":[{\"value\":\"p@home.example\",\"type\":\"home\","
                       "\"operation\":\"delete\"},"
                       "{\"value\":\"p2@example.com\",\"type\":\"other\"}],"
                       "\"title\":\"Lead\",\"password\":\"s3cret\","
                       "\"urn:scim:schemas:extension:enterprise:1.0\":{\"manager\":{"
                       "\"managerId\":\"usr_m\"}},"
                       "\"groups\":[{\"value\":\"grp_x\",\"operation\":\"delete\"}]}",
                       &res, &err);
    ck_assert_msg(ok, "%s", err.detail);
    json_t *d = res.doc;
    check_json(json_object_get(d, "name"),
               "{\"givenName\":\"Pat\",\"familyName\":\"Lee-Park\"}");
    ck_assert_ptr_null(json_object_get(d, "nickName"));
    ck_assert_str_eq(json_string_value(json_object_get(d, "title")), "Lead");
    check_json(json_object_get(d, "emails"),
               "[{\"value\":\"p@example.com\",\"type\":\"work\",\"primary\":true},"
               "{\"value\":\"p2@example.com\",\"type\":\"other\"}]");
    check_json(json_object_get(d, SCIM_SCHEMA_ENTERPRISE),
               "{\"costCenter\":\"7\",\"manager\":{\"value\":\"usr_m\"}}");
    ck_assert_str_eq(res.password, "s3cret");
    ck_assert_int_eq(res.n_member_ops, 0);
    scim_patch_result_clear(&res);

    /* A listed attribute that is also sent is replaced, not merged. */
    ok = patch_v1(&scim_rt_user, doc,
                  "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"meta\":{\"attributes\":"
                  "[\"emails\"]},\"emails\":[{\"value\":\"only@example.com\"}]}",
                  &res, &err);
    ck_assert_msg(ok, "%s", err.detail);
    check_json(json_object_get(res.doc, "emails"), "[{\"value\":\"only@example.com\"}]");
    scim_patch_result_clear(&res);

    /* Removing what is not there changes nothing. */
    ok = patch_v1(&scim_rt_user, doc,
                  "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"meta\":{\"attributes\":"
                  "[\"profileUrl\"]},\"phoneNumbers\":[{\"value\":\"1\",\"operation\":"
                  "\"delete\"}]}",
                  &res, &err);
    ck_assert_msg(ok, "%s", err.detail);
    ck_assert(!res.changed);
    scim_patch_result_clear(&res);

    /* userName is required: clearing it is the engine's 400 mutability. */
    ok = patch_v1(&scim_rt_user, doc, "{\"meta\":{\"attributes\":[\"userName\"]}}", &res,
                  &err);
    ck_assert(!ok);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, SCIM_TYPE_MUTABILITY);
    json_decref(doc);
}
END_TEST

START_TEST(test_patch_group_members)
{
    json_t *doc =
        tu_json("{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\"],\"displayName\":\"Lisbon\"}");
    struct scim_patch_result res = {0};
    struct scim_error err = {0};
    /* Okta: add B and delete A in one body. */
    bool ok =
        patch_v1(&scim_rt_group, doc,
                 "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"members\":["
                 "{\"value\":\"usr_b\",\"display\":\"b@x\"},"
                 "{\"value\":\"usr_a\",\"display\":\"a@x\",\"operation\":\"delete\"}]}",
                 &res, &err);
    ck_assert_msg(ok, "%s", err.detail);
    ck_assert_int_eq(res.n_member_ops, 2);
    ck_assert_int_eq(res.member_ops[0].kind, SCIM_MEMBERS_REMOVE);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(res.member_ops[0].values, 0), "value")),
                     "usr_a");
    ck_assert_int_eq(res.member_ops[1].kind, SCIM_MEMBERS_ADD);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(res.member_ops[1].values, 0), "value")),
                     "usr_b");
    scim_patch_result_clear(&res);

    /* Full push: clear, then add. */
    ok = patch_v1(
        &scim_rt_group, doc,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"meta\":{\"attributes\":"
        "[\"members\"]},\"members\":[{\"value\":\"usr_a\"},{\"value\":\"usr_c\"}]}",
        &res, &err);
    ck_assert_msg(ok, "%s", err.detail);
    ck_assert_int_eq(res.n_member_ops, 2);
    ck_assert_int_eq(res.member_ops[0].kind, SCIM_MEMBERS_REMOVE_ALL);
    ck_assert_int_eq(res.member_ops[1].kind, SCIM_MEMBERS_ADD);
    ck_assert_int_eq(json_array_size(res.member_ops[1].values), 2);
    scim_patch_result_clear(&res);

    /* Rename with the id Okta sends along; the same name again is no change. */
    ok = patch_v1(&scim_rt_group, doc,
                  "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"id\":\"grp_1\","
                  "\"displayName\":\"Lisbon Office\"}",
                  &res, &err);
    ck_assert_msg(ok, "%s", err.detail);
    ck_assert_str_eq(json_string_value(json_object_get(res.doc, "displayName")),
                     "Lisbon Office");
    scim_patch_result_clear(&res);
    ok = patch_v1(&scim_rt_group, doc, "{\"displayName\":\"Lisbon\"}", &res, &err);
    ck_assert(ok && !res.changed);
    scim_patch_result_clear(&res);

    /* Okta's group description extension is kept. */
    ok = patch_v1(
        &scim_rt_group, doc,
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\",\"urn:okta:custom:group:1.0\"],"
        "\"urn:okta:custom:group:1.0\":{\"description\":\"Everyone\"}}",
        &res, &err);
    ck_assert_msg(ok, "%s", err.detail);
    check_json(json_object_get(res.doc, "urn:okta:custom:group:1.0"),
               "{\"description\":\"Everyone\"}");
    scim_patch_result_clear(&res);
    json_decref(doc);
}
END_TEST

START_TEST(test_patch_errors)
{
    static const char *const bad[] = {
        "{\"meta\":{\"attributes\":\"members\"}}",
        "{\"meta\":{\"attributes\":[\"members\",7]}}",
        "{\"meta\":{\"attributes\":[\"\"]}}",
        "{\"schemas\":[\"" SCIM_SCHEMA_USER "x\"],\"active\":true}",
        "{\"schemas\":{},\"active\":true}",
        "{\"active\":true,\"urn:scim:schemas:core:1.0:active\":false}",
        "[]",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        json_t *body = json_loads(bad[i], 0, NULL);
        ck_assert_ptr_nonnull(body);
        struct scim_error err = {0};
        expect_400(scim_v1_patch_to_v2(&scim_rt_group, body, &err), &err,
                   SCIM_TYPE_INVALID_SYNTAX);
        json_decref(body);
    }
    struct scim_error err = {0};
    expect_400(scim_v1_patch_to_v2(&scim_rt_user, NULL, &err), &err,
               SCIM_TYPE_INVALID_SYNTAX);
}
END_TEST

/* Replies ---------------------------------------------------------------- */

START_TEST(test_user_reply)
{
    json_t *v2 = tu_json(
        "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" SCIM_SCHEMA_ENTERPRISE
        "\"],\"id\":\"usr_1\","
        "\"userName\":\"a@b.c\",\"active\":true,"
        "\"groups\":[{\"value\":\"grp_1\",\"display\":\"G\",\"type\":\"direct\","
        "\"$ref\":\"" V2 "/Groups/grp_1\"}],"
        "\"" SCIM_SCHEMA_ENTERPRISE
        "\":{\"department\":\"D\",\"manager\":{\"value\":\"usr_m\","
        "\"$ref\":\"" V2 "/Users/usr_m\",\"displayName\":\"M\"}},"
        "\"meta\":{\"resourceType\":\"User\",\"created\":\"2024-05-01T12:00:00.000Z\","
        "\"lastModified\":\"2024-05-01T12:00:00.000Z\",\"location\":\"" V2
        "/Users/usr_1\","
        "\"version\":\"W/\\\"1\\\"\"}}");
    json_t *v1 = scim_v1_response_from_v2(v2, &urls);
    check_json(
        v1, "{\"schemas\":[\"urn:scim:schemas:core:1.0\",\"urn:scim:schemas:extension:"
            "enterprise:1.0\"],\"id\":\"usr_1\",\"userName\":\"a@b.c\",\"active\":true,"
            "\"groups\":[{\"value\":\"grp_1\",\"display\":\"G\",\"type\":\"direct\"}],"
            "\"urn:scim:schemas:extension:enterprise:1.0\":{\"department\":\"D\","
            "\"manager\":{\"managerId\":\"usr_m\",\"displayName\":\"M\"}},"
            "\"meta\":{\"created\":\"2024-05-01T12:00:00.000Z\",\"lastModified\":"
            "\"2024-05-01T12:00:00.000Z\",\"location\":\"" V1 "/Users/usr_1\","
            "\"version\":\"W/\\\"1\\\"\"}}");
    /* Converting again changes nothing more. */
    json_t *again = scim_v1_response_from_v2(v1, &urls);
    ck_assert(json_equal(again, v1));
    json_decref(again);
    /* Without base URLs the location stays. */
    json_t *no_urls = scim_v1_response_from_v2(v2, NULL);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(no_urls, "meta"), "location")),
        V2 "/Users/usr_1");
    json_decref(no_urls);
    json_decref(v1);
    json_decref(v2);
}
END_TEST

START_TEST(test_list_reply)
{
    json_t *v2 = tu_json(
        "{\"schemas\":[\"" SCIM_SCHEMA_LIST "\"],\"totalResults\":2,\"itemsPerPage\":1,"
        "\"startIndex\":1,\"Resources\":[{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\","
        "\"urn:okta:custom:group:1.0\"],\"id\":\"grp_1\",\"displayName\":\"G\","
        "\"urn:okta:custom:group:1.0\":{\"description\":\"d\"},"
        "\"members\":[{\"value\":\"usr_1\",\"$ref\":\"" V2
        "/Users/usr_1\",\"type\":\"User\","
        "\"display\":\"U\"}]}]}");
    json_t *v1 = scim_v1_response_from_v2(v2, &urls);
    check_json(v1, "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"totalResults\":2,"
                   "\"itemsPerPage\":1,\"startIndex\":1,\"Resources\":[{\"schemas\":["
                   "\"urn:scim:schemas:core:1.0\",\"urn:okta:custom:group:1.0\"],"
                   "\"id\":\"grp_1\",\"displayName\":\"G\",\"urn:okta:custom:group:1.0\":"
                   "{\"description\":\"d\"},\"members\":[{\"value\":\"usr_1\","
                   "\"type\":\"User\",\"display\":\"U\"}]}]}");
    json_decref(v1);
    json_decref(v2);

    /* The pieces groups.c streams: the list head, the group prefix, one member. */
    v2 = tu_json("{\"schemas\":[\"" SCIM_SCHEMA_LIST "\"],\"totalResults\":0,"
                 "\"itemsPerPage\":0,\"startIndex\":1}");
    v1 = scim_v1_response_from_v2(v2, &urls);
    check_json(v1, "{\"schemas\":[\"urn:scim:schemas:core:1.0\"],\"totalResults\":0,"
                   "\"itemsPerPage\":0,\"startIndex\":1}");
    json_decref(v1);
    json_decref(v2);
    v2 = tu_json("{\"members\":[{\"value\":\"grp_2\",\"$ref\":\"" V2 "/Groups/grp_2\","
                 "\"type\":\"Group\"}]}");
    v1 = scim_v1_response_from_v2(v2, &urls);
    check_json(v1, "{\"members\":[{\"value\":\"grp_2\",\"type\":\"Group\"}]}");
    json_decref(v1);
    json_decref(v2);
}
END_TEST

START_TEST(test_reply_odd_shapes)
{
    ck_assert_ptr_null(scim_v1_response_from_v2(NULL, &urls));
    json_t *v = tu_json("[1,2]");
    json_t *c = scim_v1_response_from_v2(v, &urls);
    ck_assert(json_equal(c, v));
    json_decref(c);
    json_decref(v);
    v = tu_json("{\"schemas\":[1,null,\"" SCIM_SCHEMA_USER "\",\"" SCIM_SCHEMA_GROUP
                "\"],"
                "\"meta\":{\"location\":5},\"members\":[3,{\"$REF\":\"x\"}],"
                "\"" SCIM_SCHEMA_ENTERPRISE "\":{\"manager\":\"usr_m\"}}");
    c = scim_v1_response_from_v2(v, &urls);
    check_json(c, "{\"schemas\":[1,null,\"urn:scim:schemas:core:1.0\"],\"meta\":"
                  "{\"location\":5},\"members\":[3,{}],\"urn:scim:schemas:extension:"
                  "enterprise:1.0\":{\"manager\":\"usr_m\"}}");
    json_decref(c);
    json_decref(v);
}
END_TEST

START_TEST(test_urls)
{
    char *s = scim_v1_url_from_v2(V2 "/Users/usr_1", &urls);
    ck_assert_str_eq(s, V1 "/Users/usr_1");
    free(s);
    s = scim_v1_url_from_v2(V2, &urls);
    ck_assert_str_eq(s, V1);
    free(s);
    ck_assert_ptr_null(scim_v1_url_from_v2(V2 "x/Users/1", &urls));
    ck_assert_ptr_null(scim_v1_url_from_v2("https://other/scim/v2/Users/1", &urls));
    ck_assert_ptr_null(scim_v1_url_from_v2(NULL, &urls));
    ck_assert_ptr_null(scim_v1_url_from_v2(V2, NULL));
}
END_TEST

/* Round trip: a user created over 1.1 reads the same over 1.1. */
START_TEST(test_round_trip)
{
    const char *in =
        "{\"schemas\":[\"urn:scim:schemas:core:1.0\",\"urn:scim:schemas:extension:"
        "enterprise:1.0\"],"
        "\"userName\":\"r@example.com\",\"externalId\":\"00u1\","
        "\"name\":{\"givenName\":\"R\",\"familyName\":\"T\"},\"displayName\":\"R T\","
        "\"locale\":\"en_US\",\"active\":true,"
        "\"emails\":[{\"value\":\"r@example.com\",\"type\":\"work\",\"primary\":true}],"
        "\"urn:scim:schemas:extension:enterprise:1.0\":{\"division\":\"X\","
        "\"manager\":{\"managerId\":\"usr_m\"}}}";
    json_t *doc = stored_from_v1(&scim_rt_user, in);
    json_object_set_new(doc, "id", json_string("usr_1"));
    json_t *out = scim_v1_response_from_v2(doc, &urls);
    json_t *want = tu_json(in);
    json_object_set_new(want, "id", json_string("usr_1"));
    ck_assert(json_equal(out, want));
    json_decref(want);
    json_decref(out);
    json_decref(doc);
}
END_TEST

/* Errors ----------------------------------------------------------------- */

START_TEST(test_error_shape)
{
    struct scim_error err = {0};
    scim_error_set(&err, 404, NULL, "User %s not found.", "x");
    json_t *doc = scim_error_to_json_v1(&err);
    check_json(doc,
               "{\"Errors\":[{\"description\":\"User x not found.\",\"code\":\"404\"}],"
               "\"detail\":\"User x not found.\"}");
    json_decref(doc);
}
END_TEST

/* Discovery against Okta's 1.1 suite ------------------------------------ */

/* The discovery document a fixture path names, or NULL. */
static json_t *discovery_for(const char *path)
{
    static const struct scim_spc_limits limits = {1000, 1048576, 200, NULL};
    if (!strcmp(path, "/ServiceProviderConfigs") ||
        !strcmp(path, "/ServiceProviderConfig"))
        return scim_v1_spc(&limits, V1);
    if (!strcmp(path, "/ResourceTypes"))
        return scim_v1_resource_types_list(V1);
    if (!strcmp(path, "/Schemas"))
        return scim_v1_schemas_list(V1);
    return NULL;
}

START_TEST(test_discovery_as_okta_checks)
{
    json_t *fx = tu_load_json_fixture("okta-v1/spec-test.json");
    size_t i, checked = 0;
    json_t *step;
    json_array_foreach(json_object_get(fx, "steps"), i, step)
    {
        const char *method = json_string_value(json_object_get(step, "method"));
        json_t *doc = discovery_for(json_string_value(json_object_get(step, "path")));
        if (!doc || strcmp(method, "GET") != 0) {
            json_decref(doc);
            continue;
        }
        json_t *expect = json_object_get(step, "expect");
        const char *ptr;
        json_t *type;
        json_object_foreach(json_object_get(expect, "types"), ptr, type)
        {
            const json_t *v = pointer(doc, ptr);
            ck_assert_msg(v && has_type(v, json_string_value(type)), "%s: %s is not %s",
                          json_string_value(json_object_get(step, "path")), ptr,
                          json_string_value(type));
        }
        json_t *want = json_object_get(
            json_object_get(json_object_get(expect, "json"), "schemas"), "$contains");
        size_t k;
        json_t *urn;
        json_array_foreach(want, k, urn)
        {
            bool found = false;
            size_t m;
            json_t *have;
            json_array_foreach(json_object_get(doc, "schemas"), m, have) found =
                found || json_equal(have, urn);
            ck_assert_msg(found, "%s: schemas lacks %s",
                          json_string_value(json_object_get(step, "path")),
                          json_string_value(urn));
        }
        checked++;
        json_decref(doc);
    }
    ck_assert_int_eq(checked, 3);
    json_decref(fx);
}
END_TEST

START_TEST(test_schema_documents)
{
    json_t *s = scim_v1_schema(&scim_rt_user, V1 "/");
    ck_assert_str_eq(json_string_value(json_object_get(s, "id")),
                     "urn:scim:schemas:core:1.0:User");
    ck_assert_str_eq(json_string_value(json_object_get(s, "endpoint")), "/Users");
    ck_assert_str_eq(json_string_value(pointer(s, "/meta/location")),
                     V1 "/Schemas/Users");
    const json_t *attrs = json_object_get(s, "attributes");
    bool manager_id = false, ext = false, refs = false, user_name = false;
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *schema = json_string_value(json_object_get(a, "schema"));
        ck_assert(json_is_boolean(json_object_get(a, "readOnly")));
        ck_assert(json_is_string(json_object_get(a, "type")));
        ck_assert_str_ne(json_string_value(json_object_get(a, "type")), "reference");
        if (!strcmp(name, "userName"))
            user_name = json_is_true(json_object_get(a, "required"));
        if (!strcmp(schema, SCIM_V1_SCHEMA_ENTERPRISE))
            ext = true;
        if (!strcmp(name, "manager"))
            manager_id = !strcmp(json_string_value(pointer(a, "/subAttributes/0/name")),
                                 "managerId");
        size_t k;
        json_t *sub;
        json_array_foreach(json_object_get(a, "subAttributes"), k, sub) refs =
            refs || !strcmp(json_string_value(json_object_get(sub, "name")), "$ref");
    }
    ck_assert(user_name && ext && manager_id && !refs);
    json_decref(s);

    ck_assert_ptr_eq(scim_v1_resource_type_find("Users"), &scim_rt_user);
    ck_assert_ptr_eq(scim_v1_resource_type_find("user"), &scim_rt_user);
    ck_assert_ptr_eq(scim_v1_resource_type_find("urn:scim:schemas:core:1.0:Group"),
                     &scim_rt_group);
    ck_assert_ptr_eq(scim_v1_resource_type_find(SCIM_SCHEMA_GROUP), &scim_rt_group);
    ck_assert_ptr_null(scim_v1_resource_type_find("urn:scim:schemas:core:1.0"));
    ck_assert_ptr_null(scim_v1_resource_type_find("Bulk"));
    ck_assert_ptr_null(scim_v1_resource_type_find(NULL));

    json_t *rt = scim_v1_resource_type(&scim_rt_group, V1);
    ck_assert_str_eq(json_string_value(json_object_get(rt, "schema")),
                     SCIM_V1_SCHEMA_CORE);
    ck_assert_int_eq(json_array_size(json_object_get(rt, "schemaExtensions")), 0);
    json_decref(rt);

    json_t *spc = scim_v1_spc(NULL, V1);
    ck_assert(json_is_false(pointer(spc, "/bulk/supported")));
    ck_assert_int_eq(json_integer_value(pointer(spc, "/filter/maxResults")), 1000);
    json_decref(spc);
}
END_TEST

/* Every okta-v1 request through the translation ------------------------- */

/* The fixture's variables replaced by a plain sample value. */
static char *substitute(const char *s)
{
    struct strbuf b = {0};
    while (*s) {
        const char *end;
        if (s[0] == '$' && s[1] == '{' && (end = strchr(s, '}')) != NULL) {
            strbuf_puts(&b, "SAMPLE.VALUE%40EXAMPLE.COM");
            s = end + 1;
        } else {
            strbuf_putc(&b, *s++);
        }
    }
    return strbuf_detach(&b);
}

/* The decoded filter= of a fixture path, or NULL. */
static char *path_filter(const char *path)
{
    char *sub = substitute(path);
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    const char *qs = strchr(sub, '?');
    char *out = NULL;
    if (qs && evhttp_parse_query_str(qs + 1, &q) == 0) {
        const char *f = evhttp_find_header(&q, "filter");
        out = f ? xstrdup(f) : NULL;
    }
    evhttp_clear_headers(&q);
    free(sub);
    return out;
}

static const struct scim_resource_type *rt_of_path(const char *path)
{
    return util_has_prefix_ci(path, "/Groups") ? &scim_rt_group : &scim_rt_user;
}

static void check_step(const char *file, const json_t *step)
{
    const char *name = json_string_value(json_object_get(step, "name"));
    const char *method = json_string_value(json_object_get(step, "method"));
    const char *path = json_string_value(json_object_get(step, "path"));
    const json_t *body = json_object_get(step, "body");
    const json_t *status = json_object_get(json_object_get(step, "expect"), "status");
    bool want_400 = json_integer_value(status) == 400;
    const struct scim_resource_type *rt = rt_of_path(path);
    struct scim_error err = {0};
    if (!strcmp(method, "GET")) {
        char *f = path_filter(path);
        if (f)
            ck_assert_msg(filter_accepted(rt, f) != want_400, "%s: %s: filter %s", file,
                          name, f);
        free(f);
        return;
    }
    if (!json_is_object(body) ||
        (!util_has_prefix_ci(path, "/Users") && !util_has_prefix_ci(path, "/Groups")))
        return;
    if (!strcmp(method, "PATCH")) {
        json_t *v2 = scim_v1_patch_to_v2(rt, body, &err);
        ck_assert_msg(v2, "%s: %s: %s", file, name, err.detail);
        json_t *doc = rt == &scim_rt_group
                          ? tu_json("{\"displayName\":\"G\"}")
                          : tu_json("{\"userName\":\"u@example.com\",\"active\":true}");
        struct scim_patch_result res = {0};
        ck_assert_msg(scim_patch_apply(rt, doc, v2, &res, &err), "%s: %s: %s", file, name,
                      err.detail);
        scim_patch_result_clear(&res);
        json_decref(doc);
        json_decref(v2);
        return;
    }
    json_t *v2 = scim_v1_resource_to_v2(rt, body, &err);
    ck_assert_msg(v2, "%s: %s: %s", file, name, err.detail);
    char *pw = NULL;
    json_t *doc = scim_schema_validate(rt, v2, SCIM_VALIDATE_CREATE, NULL, &pw, &err);
    ck_assert_msg(doc, "%s: %s: %s", file, name, err.detail);
    free(pw);
    json_decref(doc);
    json_decref(v2);
}

START_TEST(test_fixture_requests)
{
    static const char *const files[] = {
        "okta-v1/spec-test.json", "okta-v1/user-lifecycle.json",
        "okta-v1/user-match.json", "okta-v1/group-push.json"};
    for (size_t f = 0; f < ARRAY_LEN(files); f++) {
        json_t *fx = tu_load_json_fixture(files[f]);
        size_t i;
        json_t *step;
        json_array_foreach(json_object_get(fx, "steps"), i, step)
            check_step(files[f], step);
        json_decref(fx);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scim_v1");
    TCase *tc = tcase_create("paths and filters");
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_path_lists);
    tcase_add_test(tc, test_filters_unchanged);
    tcase_add_test(tc, test_filters_mapped);
    tcase_add_test(tc, test_filters_refused);
    tcase_add_test(tc, test_filter_bare_name_is_400);
    suite_add_tcase(s, tc);

    tc = tcase_create("request bodies");
    tcase_add_test(tc, test_okta_create_user);
    tcase_add_test(tc, test_okta_put_user_with_meta);
    tcase_add_test(tc, test_enterprise_extension);
    tcase_add_test(tc, test_group_bodies);
    tcase_add_test(tc, test_body_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("patch");
    tcase_add_test(tc, test_patch_shapes);
    tcase_add_test(tc, test_patch_user_semantics);
    tcase_add_test(tc, test_patch_group_members);
    tcase_add_test(tc, test_patch_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("replies");
    tcase_add_test(tc, test_user_reply);
    tcase_add_test(tc, test_list_reply);
    tcase_add_test(tc, test_reply_odd_shapes);
    tcase_add_test(tc, test_urls);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_error_shape);
    suite_add_tcase(s, tc);

    tc = tcase_create("discovery and fixtures");
    tcase_add_test(tc, test_discovery_as_okta_checks);
    tcase_add_test(tc, test_schema_documents);
    tcase_add_test(tc, test_fixture_requests);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
