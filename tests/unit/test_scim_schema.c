/*
 * test_scim_schema.c - unit tests of scim_schema.c: attribute tables and
 * lookups, discovery documents, body validation and coercion, projection.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scim_schema.h"
#include "testutil.h"

/* Lookups ---------------------------------------------------------------- */

START_TEST(test_find_schema)
{
    ck_assert_ptr_eq(scim_schema_find(SCIM_SCHEMA_USER), &scim_schema_user);
    ck_assert_ptr_eq(scim_schema_find("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"),
                     &scim_schema_user);
    ck_assert_ptr_eq(scim_schema_find(SCIM_SCHEMA_ENTERPRISE),
                     &scim_schema_enterprise_user);
    ck_assert_ptr_eq(scim_schema_find(SCIM_SCHEMA_GROUP), &scim_schema_group);
    ck_assert_ptr_null(scim_schema_find("urn:ietf:params:scim:schemas:core:2.0:Users"));
    ck_assert_ptr_null(scim_schema_find(""));
    ck_assert_ptr_null(scim_schema_find(NULL));
}
END_TEST

START_TEST(test_user_attrs)
{
    const struct scim_attr *a = scim_schema_attr(&scim_schema_user, "USERNAME");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->name, "userName");
    ck_assert_int_eq(a->type, SCIM_TYPE_STRING);
    ck_assert(a->required);
    ck_assert(!a->case_exact);
    ck_assert(!a->multi_valued);
    ck_assert_int_eq(a->uniqueness, SCIM_UNIQ_SERVER);
    ck_assert_int_eq(a->mutability, SCIM_MUT_READ_WRITE);

    a = scim_schema_attr(&scim_schema_user, "password");
    ck_assert_int_eq(a->mutability, SCIM_MUT_WRITE_ONLY);
    ck_assert_int_eq(a->returned, SCIM_RET_NEVER);

    a = scim_schema_attr(&scim_schema_user, "groups");
    ck_assert_int_eq(a->mutability, SCIM_MUT_READ_ONLY);
    ck_assert(a->multi_valued);
    ck_assert_int_eq(scim_attr_sub(a, "value")->mutability, SCIM_MUT_READ_ONLY);
    ck_assert_str_eq(scim_attr_sub(a, "type")->canonical_values[1], "indirect");

    a = scim_schema_attr(&scim_schema_user, "active");
    ck_assert_int_eq(a->type, SCIM_TYPE_BOOLEAN);

    a = scim_schema_attr(&scim_schema_user, "emails");
    ck_assert(a->multi_valued);
    ck_assert_int_eq(a->type, SCIM_TYPE_COMPLEX);
    const struct scim_attr *s = scim_attr_sub(a, "PRIMARY");
    ck_assert_str_eq(s->name, "primary");
    ck_assert_int_eq(s->type, SCIM_TYPE_BOOLEAN);
    s = scim_attr_sub(a, "type");
    ck_assert_str_eq(s->canonical_values[0], "work");
    ck_assert_str_eq(s->canonical_values[1], "home");
    ck_assert_str_eq(s->canonical_values[2], "other");
    ck_assert_ptr_null(s->canonical_values[3]);

    s = scim_attr_sub(scim_schema_attr(&scim_schema_user, "name"), "givenname");
    ck_assert_str_eq(s->name, "givenName");
    ck_assert_ptr_nonnull(
        scim_attr_sub(scim_schema_attr(&scim_schema_user, "name"), "honorificSuffix"));
    s = scim_attr_sub(scim_schema_attr(&scim_schema_user, "phoneNumbers"), "type");
    ck_assert_str_eq(s->canonical_values[2], "mobile");
    s = scim_attr_sub(scim_schema_attr(&scim_schema_user, "photos"), "value");
    ck_assert_int_eq(s->type, SCIM_TYPE_REFERENCE);
    ck_assert_str_eq(s->reference_types[0], "external");
    s = scim_attr_sub(scim_schema_attr(&scim_schema_user, "x509Certificates"), "value");
    ck_assert_int_eq(s->type, SCIM_TYPE_BINARY);
    ck_assert_ptr_nonnull(
        scim_attr_sub(scim_schema_attr(&scim_schema_user, "addresses"), "postalCode"));

    static const char *const all[] = {
        "userName",        "name",         "displayName",  "nickName",
        "profileUrl",      "title",        "userType",     "preferredLanguage",
        "locale",          "timezone",     "active",       "password",
        "emails",          "phoneNumbers", "ims",          "photos",
        "addresses",       "groups",       "entitlements", "roles",
        "x509Certificates"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        a = scim_schema_attr(&scim_schema_user, all[i]);
        ck_assert_ptr_nonnull(a);
        ck_assert_str_eq(a->name, all[i]);
    }
    ck_assert_ptr_null(scim_schema_attr(&scim_schema_user, "members"));
    ck_assert_ptr_null(scim_schema_attr(&scim_schema_user, "name.givenName"));
    ck_assert_ptr_null(scim_schema_attr(&scim_schema_user, ""));
    ck_assert_ptr_null(scim_schema_attr(&scim_schema_user, NULL));
    ck_assert_ptr_null(scim_schema_attr(NULL, "userName"));
    ck_assert_ptr_null(
        scim_attr_sub(scim_schema_attr(&scim_schema_user, "userName"), "value"));
    ck_assert_ptr_null(scim_attr_sub(NULL, "value"));
}
END_TEST

START_TEST(test_common_attrs)
{
    const struct scim_attr *a = scim_schema_attr(&scim_schema_user, "ID");
    ck_assert_str_eq(a->name, "id");
    ck_assert_int_eq(a->mutability, SCIM_MUT_READ_ONLY);
    ck_assert_int_eq(a->returned, SCIM_RET_ALWAYS);
    ck_assert(a->case_exact);
    ck_assert_ptr_eq(scim_schema_attr(&scim_schema_group, "id"), a);

    a = scim_schema_attr(&scim_schema_group, "externalid");
    ck_assert_str_eq(a->name, "externalId");
    ck_assert(a->case_exact);
    ck_assert_int_eq(a->mutability, SCIM_MUT_READ_WRITE);

    a = scim_schema_attr(&scim_schema_user, "meta");
    ck_assert_int_eq(a->mutability, SCIM_MUT_READ_ONLY);
    const struct scim_attr *s = scim_attr_sub(a, "lastmodified");
    ck_assert_str_eq(s->name, "lastModified");
    ck_assert_int_eq(s->type, SCIM_TYPE_DATETIME);
    ck_assert_ptr_nonnull(scim_attr_sub(a, "created"));
    ck_assert_ptr_nonnull(scim_attr_sub(a, "resourceType"));
    ck_assert_ptr_nonnull(scim_attr_sub(a, "location"));
    ck_assert_ptr_nonnull(scim_attr_sub(a, "version"));

    /* Common attributes belong to resources, not to extensions. */
    ck_assert_ptr_null(scim_schema_attr(&scim_schema_enterprise_user, "id"));
}
END_TEST

START_TEST(test_enterprise_and_group_attrs)
{
    static const char *const ent[] = {"employeeNumber", "costCenter", "organization",
                                      "division",       "department", "manager"};
    for (size_t i = 0; i < sizeof ent / sizeof ent[0]; i++)
        ck_assert_str_eq(scim_schema_attr(&scim_schema_enterprise_user, ent[i])->name,
                         ent[i]);
    const struct scim_attr *m = scim_schema_attr(&scim_schema_enterprise_user, "MANAGER");
    ck_assert_int_eq(m->type, SCIM_TYPE_COMPLEX);
    ck_assert_str_eq(scim_attr_sub(m, "$REF")->name, "$ref");
    ck_assert_str_eq(scim_attr_sub(m, "$ref")->reference_types[0], "User");
    ck_assert_int_eq(scim_attr_sub(m, "displayName")->mutability, SCIM_MUT_READ_ONLY);
    ck_assert_int_eq(scim_attr_sub(m, "value")->mutability, SCIM_MUT_READ_WRITE);

    const struct scim_attr *d = scim_schema_attr(&scim_schema_group, "displayname");
    ck_assert_str_eq(d->name, "displayName");
    ck_assert(d->required);
    ck_assert(!d->case_exact);
    ck_assert_int_eq(d->uniqueness, SCIM_UNIQ_SERVER);
    const struct scim_attr *mem = scim_schema_attr(&scim_schema_group, "members");
    ck_assert(mem->multi_valued);
    ck_assert_ptr_nonnull(scim_attr_sub(mem, "value"));
    ck_assert_ptr_nonnull(scim_attr_sub(mem, "$ref"));
    ck_assert_ptr_nonnull(scim_attr_sub(mem, "display"));
    ck_assert_str_eq(scim_attr_sub(mem, "type")->canonical_values[1], "Group");
    ck_assert_ptr_null(scim_schema_attr(&scim_schema_group, "userName"));
}
END_TEST

START_TEST(test_rt_schema)
{
    ck_assert_ptr_eq(scim_rt_schema(&scim_rt_user, SCIM_SCHEMA_USER), &scim_schema_user);
    ck_assert_ptr_eq(scim_rt_schema(&scim_rt_user,
                                    "urn:ietf:params:scim:schemas:extension:ENTERPRISE:"
                                    "2.0:User"),
                     &scim_schema_enterprise_user);
    ck_assert_ptr_null(scim_rt_schema(&scim_rt_user, SCIM_SCHEMA_GROUP));
    ck_assert_ptr_eq(scim_rt_schema(&scim_rt_group, SCIM_SCHEMA_GROUP),
                     &scim_schema_group);
    ck_assert_ptr_null(scim_rt_schema(&scim_rt_group, SCIM_SCHEMA_ENTERPRISE));
    ck_assert_ptr_null(scim_rt_schema(&scim_rt_group, NULL));
    ck_assert_str_eq(scim_rt_user.endpoint, "/Users");
    ck_assert_str_eq(scim_rt_group.endpoint, "/Groups");
    ck_assert_ptr_eq(scim_rt_user.extensions[0], &scim_schema_enterprise_user);
    ck_assert_ptr_null(scim_rt_user.extensions[1]);
    ck_assert_ptr_null(scim_rt_group.extensions[0]);
}
END_TEST

/* Helpers ---------------------------------------------------------------- */

#define ENT SCIM_SCHEMA_ENTERPRISE

/* Fails the test unless got equals the JSON text expected (key order ignored). */
static void assert_json(const json_t *got, const char *expected)
{
    json_t *want = tu_json(expected);
    if (!got || !tu_json_equal(got, want)) {
        char *g = got ? json_dumps(got, JSON_SORT_KEYS) : NULL;
        char *w = json_dumps(want, JSON_SORT_KEYS);
        ck_abort_msg("JSON differs:\n got: %s\nwant: %s", g ? g : "(null)", w);
    }
    json_decref(want);
}

static json_t *validate_mode(const struct scim_resource_type *rt, const char *body,
                             enum scim_validate_mode mode, const json_t *existing,
                             char **pw)
{
    struct scim_error err = {0};
    json_t *b = tu_json(body);
    json_t *copy = json_deep_copy(b);
    json_t *doc = scim_schema_validate(rt, b, mode, existing, pw, &err);
    if (!doc)
        ck_abort_msg("validation refused: %d %s %s", err.status,
                     err.type ? err.type : "-", err.detail);
    ck_assert_int_eq(err.status, 0);
    /* The body is only read. */
    ck_assert(tu_json_equal(b, copy));
    json_decref(copy);
    json_decref(b);
    return doc;
}

static json_t *validate(const struct scim_resource_type *rt, const char *body, char **pw)
{
    return validate_mode(rt, body, SCIM_VALIDATE_CREATE, NULL, pw);
}

static void refuse_mode(const struct scim_resource_type *rt, const char *body,
                        enum scim_validate_mode mode, const json_t *existing,
                        const char *type, const char *detail)
{
    struct scim_error err = {0};
    char *pw = (char *)"sentinel";
    json_t *b = tu_json(body);
    json_t *doc = scim_schema_validate(rt, b, mode, existing, &pw, &err);
    if (doc) {
        char *d = json_dumps(doc, JSON_SORT_KEYS);
        ck_abort_msg("accepted, expected %s: %s", detail, d);
    }
    ck_assert_ptr_null(pw);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, type);
    ck_assert_str_eq(err.detail, detail);
    json_decref(b);
}

static void refuse(const struct scim_resource_type *rt, const char *body,
                   const char *type, const char *detail)
{
    refuse_mode(rt, body, SCIM_VALIDATE_CREATE, NULL, type, detail);
}

#define U  "{\"schemas\":[\"" SCIM_SCHEMA_USER "\"],"
#define UE "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\"],"
#define G  "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\"],"

static json_t *find_by_name(const json_t *arr, const char *name)
{
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        if (strcmp(json_string_value(json_object_get(el, "name")), name) == 0)
            return el;
    }
    return NULL;
}

/* Discovery -------------------------------------------------------------- */

START_TEST(test_schemas_list)
{
    json_t *l = scim_schemas_list_json("https://sso.example/scim/v2/");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(l, "schemas"), 0)),
                     SCIM_SCHEMA_LIST);
    ck_assert(json_is_integer(json_object_get(l, "totalResults")));
    ck_assert_int_eq(json_integer_value(json_object_get(l, "totalResults")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(l, "itemsPerPage")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(l, "startIndex")), 1);
    json_t *res = json_object_get(l, "Resources");
    ck_assert_int_eq(json_array_size(res), 3);
    json_t *user = json_array_get(res, 0);
    ck_assert_str_eq(json_string_value(json_object_get(user, "id")), SCIM_SCHEMA_USER);
    ck_assert_str_eq(json_string_value(json_object_get(user, "name")), "User");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(user, "schemas"), 0)),
        SCIM_SCHEMA_SCHEMA);
    assert_json(json_object_get(user, "meta"),
                "{\"resourceType\":\"Schema\",\"location\":"
                "\"https://sso.example/scim/v2/Schemas/" SCIM_SCHEMA_USER "\"}");

    json_t *attrs = json_object_get(user, "attributes");
    ck_assert_int_eq(json_array_size(attrs), 21);
    assert_json(
        find_by_name(attrs, "userName"),
        "{\"name\":\"userName\",\"type\":\"string\",\"multiValued\":false,"
        "\"description\":\"The unique identifier the user signs in with. Required "
        "and unique among the users of an organization, compared without regard "
        "to case.\",\"required\":true,\"caseExact\":false,"
        "\"mutability\":\"readWrite\",\"returned\":\"default\","
        "\"uniqueness\":\"server\"}");
    json_t *pw = find_by_name(attrs, "password");
    ck_assert_str_eq(json_string_value(json_object_get(pw, "mutability")), "writeOnly");
    ck_assert_str_eq(json_string_value(json_object_get(pw, "returned")), "never");
    json_t *groups = find_by_name(attrs, "groups");
    ck_assert_str_eq(json_string_value(json_object_get(groups, "mutability")),
                     "readOnly");
    ck_assert(json_is_true(json_object_get(groups, "multiValued")));
    json_t *emails = find_by_name(attrs, "emails");
    ck_assert_str_eq(json_string_value(json_object_get(emails, "type")), "complex");
    ck_assert_ptr_null(json_object_get(emails, "caseExact"));
    json_t *etype = find_by_name(json_object_get(emails, "subAttributes"), "type");
    assert_json(json_object_get(etype, "canonicalValues"),
                "[\"work\",\"home\",\"other\"]");
    json_t *profile = find_by_name(attrs, "profileUrl");
    assert_json(json_object_get(profile, "referenceTypes"), "[\"external\"]");
    /* Common attributes are not part of any schema (RFC 7643 section 8.7.1). */
    ck_assert_ptr_null(find_by_name(attrs, "id"));
    ck_assert_ptr_null(find_by_name(attrs, "meta"));

    json_t *ent = json_array_get(res, 1);
    ck_assert_str_eq(json_string_value(json_object_get(ent, "id")), ENT);
    json_t *mgr = find_by_name(json_object_get(ent, "attributes"), "manager");
    json_t *ref = find_by_name(json_object_get(mgr, "subAttributes"), "$ref");
    assert_json(json_object_get(ref, "referenceTypes"), "[\"User\"]");
    ck_assert_str_eq(json_string_value(json_object_get(ref, "type")), "reference");

    json_t *group = json_array_get(res, 2);
    json_t *members = find_by_name(json_object_get(group, "attributes"), "members");
    ck_assert_int_eq(json_array_size(json_object_get(members, "subAttributes")), 4);
    json_t *dn = find_by_name(json_object_get(group, "attributes"), "displayName");
    ck_assert(json_is_true(json_object_get(dn, "required")));
    json_decref(l);
}
END_TEST

START_TEST(test_resource_types)
{
    json_t *l = scim_rts_list_json("http://127.0.0.1:8080/scim/v2");
    ck_assert_int_eq(json_integer_value(json_object_get(l, "totalResults")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(l, "itemsPerPage")), 2);
    json_t *res = json_object_get(l, "Resources");
    assert_json(json_array_get(res, 0),
                "{\"schemas\":[\"" SCIM_SCHEMA_RESOURCE_TYPE "\"],\"id\":\"User\","
                "\"name\":\"User\",\"endpoint\":\"/Users\",\"description\":\"User "
                "Account\",\"schema\":\"" SCIM_SCHEMA_USER "\",\"schemaExtensions\":"
                "[{\"schema\":\"" ENT
                "\",\"required\":false}],\"meta\":{\"resourceType\":"
                "\"ResourceType\",\"location\":"
                "\"http://127.0.0.1:8080/scim/v2/ResourceTypes/User\"}}");
    assert_json(json_array_get(res, 1),
                "{\"schemas\":[\"" SCIM_SCHEMA_RESOURCE_TYPE "\"],\"id\":\"Group\","
                "\"name\":\"Group\",\"endpoint\":\"/Groups\",\"description\":\"Group\","
                "\"schema\":\"" SCIM_SCHEMA_GROUP "\",\"schemaExtensions\":[],"
                "\"meta\":{\"resourceType\":\"ResourceType\",\"location\":"
                "\"http://127.0.0.1:8080/scim/v2/ResourceTypes/Group\"}}");
    json_decref(l);
}
END_TEST

START_TEST(test_service_provider_config)
{
    struct scim_spc_limits lim = {.bulk_max_operations = 500,
                                  .bulk_max_payload = 2097152,
                                  .filter_max_results = 200,
                                  .docs_url = "https://docs.example/scim"};
    json_t *spc = scim_spc_to_json(&lim, "https://sso.example/scim/v2");
    assert_json(
        spc, "{\"schemas\":[\"" SCIM_SCHEMA_SPC "\"],"
             "\"documentationUri\":\"https://docs.example/scim\","
             "\"patch\":{\"supported\":true},"
             "\"bulk\":{\"supported\":true,\"maxOperations\":500,"
             "\"maxPayloadSize\":2097152},"
             "\"filter\":{\"supported\":true,\"maxResults\":200},"
             "\"changePassword\":{\"supported\":false},"
             "\"sort\":{\"supported\":true},\"etag\":{\"supported\":true},"
             "\"authenticationSchemes\":[{\"type\":\"oauthbearertoken\","
             "\"name\":\"OAuth Bearer Token\",\"description\":\"Authentication with a "
             "SCIM token issued by the scimgate admin API, sent as an OAuth 2.0 bearer "
             "token.\",\"specUri\":\"https://www.rfc-editor.org/info/rfc6750\","
             "\"documentationUri\":\"https://docs.example/scim\",\"primary\":true}],"
             "\"meta\":{\"resourceType\":\"ServiceProviderConfig\",\"location\":"
             "\"https://sso.example/scim/v2/ServiceProviderConfig\"}}");
    json_decref(spc);

    spc = scim_spc_to_json(NULL, NULL);
    json_t *bulk = json_object_get(spc, "bulk");
    ck_assert_int_eq(json_integer_value(json_object_get(bulk, "maxOperations")), 1000);
    ck_assert_ptr_null(json_object_get(spc, "documentationUri"));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(spc, "meta"), "location")),
        "/ServiceProviderConfig");
    json_decref(spc);
}
END_TEST

START_TEST(test_list_response)
{
    json_t *l =
        scim_list_response_new(tu_json("[{\"id\":\"a\"},{\"id\":\"b\"}]"), 57, 11);
    assert_json(l, "{\"schemas\":[\"" SCIM_SCHEMA_LIST "\"],\"totalResults\":57,"
                   "\"itemsPerPage\":2,\"startIndex\":11,"
                   "\"Resources\":[{\"id\":\"a\"},{\"id\":\"b\"}]}");
    json_decref(l);
    l = scim_list_response_new(NULL, 0, 1);
    assert_json(l, "{\"schemas\":[\"" SCIM_SCHEMA_LIST "\"],\"totalResults\":0,"
                   "\"itemsPerPage\":0,\"startIndex\":1,\"Resources\":[]}");
    json_decref(l);
}
END_TEST

/* Validation: what real clients send -------------------------------------- */

START_TEST(test_okta_create_user)
{
    char *pw = NULL;
    json_t *doc =
        validate(&scim_rt_user,
                 U "\"userName\":\"Ada.Lovelace@Example.com\","
                   "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"Lovelace\"},"
                   "\"emails\":[{\"primary\":true,\"value\":"
                   "\"ada.lovelace@example.com\",\"type\":\"work\"}],"
                   "\"displayName\":\"Ada Lovelace\",\"locale\":\"en-US\","
                   "\"externalId\":\"00u1a2b3c4d5e6f7g8h9\",\"groups\":[],"
                   "\"password\":\"t0p-Secret!\",\"active\":true}",
                 &pw);
    assert_json(doc, U "\"userName\":\"Ada.Lovelace@Example.com\","
                       "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"Lovelace\"},"
                       "\"emails\":[{\"primary\":true,\"value\":"
                       "\"ada.lovelace@example.com\",\"type\":\"work\"}],"
                       "\"displayName\":\"Ada Lovelace\",\"locale\":\"en-US\","
                       "\"externalId\":\"00u1a2b3c4d5e6f7g8h9\",\"active\":true}");
    ck_assert_str_eq(pw, "t0p-Secret!");
    /* "schemas" comes first in the stored document. */
    ck_assert_str_eq(json_object_iter_key(json_object_iter(doc)), "schemas");
    free(pw);
    json_decref(doc);
}
END_TEST

START_TEST(test_entra_create_user)
{
    char *pw = (char *)"sentinel";
    json_t *doc = validate(
        &scim_rt_user,
        UE "\"externalId\":\"8c2d9b7e\",\"userName\":\"grace@contoso.example\","
           "\"active\":\"True\",\"addresses\":[{\"primary\":\"true\",\"type\":\"work\","
           "\"country\":\"US\",\"locality\":\"Arlington\",\"postalCode\":\"22202\","
           "\"region\":\"VA\",\"streetAddress\":\"1 Navy Way\"}],"
           "\"displayName\":\"Grace Hopper\",\"emails\":[{\"type\":\"work\","
           "\"primary\":true,\"value\":\"grace@contoso.example\"}],"
           "\"meta\":{\"resourceType\":\"User\"},\"name\":{\"familyName\":\"Hopper\","
           "\"givenName\":\"Grace\"},\"phoneNumbers\":[{\"type\":\"work\",\"value\":"
           "\"+1 555 0100\"},{\"type\":\"mobile\",\"value\":\"+1 555 0101\"}],"
           "\"title\":\"Rear Admiral\",\"roles\":[{\"primary\":\"False\",\"type\":"
           "\"WindowsAzureActiveDirectoryRole\",\"display\":\"Admin\",\"value\":"
           "\"Admin\"}],\"" ENT "\":{\"employeeNumber\":\"1906\",\"department\":"
           "\"Navy\",\"costCenter\":\"CC-42\",\"division\":\"Computing\","
           "\"organization\":\"Contoso\",\"manager\":{\"value\":\"usr_7\","
           "\"displayName\":\"Boss\"}}}",
        &pw);
    assert_json(doc, UE
                "\"externalId\":\"8c2d9b7e\",\"userName\":\"grace@contoso.example\","
                "\"active\":true,\"addresses\":[{\"primary\":true,\"type\":\"work\","
                "\"country\":\"US\",\"locality\":\"Arlington\",\"postalCode\":\"22202\","
                "\"region\":\"VA\",\"streetAddress\":\"1 Navy Way\"}],"
                "\"displayName\":\"Grace Hopper\",\"emails\":[{\"type\":\"work\","
                "\"primary\":true,\"value\":\"grace@contoso.example\"}],"
                "\"name\":{\"familyName\":\"Hopper\",\"givenName\":\"Grace\"},"
                "\"phoneNumbers\":[{\"type\":\"work\",\"value\":\"+1 555 0100\"},"
                "{\"type\":\"mobile\",\"value\":\"+1 555 0101\"}],"
                "\"title\":\"Rear Admiral\",\"roles\":[{\"primary\":false,\"type\":"
                "\"WindowsAzureActiveDirectoryRole\",\"display\":\"Admin\",\"value\":"
                "\"Admin\"}],\"" ENT "\":{\"employeeNumber\":\"1906\",\"department\":"
                "\"Navy\",\"costCenter\":\"CC-42\",\"division\":\"Computing\","
                "\"organization\":\"Contoso\",\"manager\":{\"value\":\"usr_7\"}}}");
    ck_assert_ptr_null(pw);
    json_decref(doc);
}
END_TEST

START_TEST(test_manager_bare_string)
{
    json_t *doc = validate(&scim_rt_user,
                           UE "\"userName\":\"alan\",\"active\":\"FALSE\",\"" ENT
                              "\":{\"manager\":\"usr_1\"}}",
                           NULL);
    assert_json(doc, UE "\"userName\":\"alan\",\"active\":false,\"" ENT
                        "\":{\"manager\":{\"value\":\"usr_1\"}}}");
    json_decref(doc);
    /* Only readOnly content: the manager disappears, and with it the extension. */
    doc = validate(&scim_rt_user,
                   UE "\"userName\":\"alan\",\"" ENT
                      "\":{\"manager\":{\"displayName\":\"Boss\"}}}",
                   NULL);
    assert_json(doc, U "\"userName\":\"alan\"}");
    json_decref(doc);
}
END_TEST

START_TEST(test_canonical_names)
{
    json_t *doc = validate(
        &scim_rt_user,
        "{\"SCHEMAS\":[\"urn:ietf:params:scim:schemas:core:2.0:user\"],"
        "\"USERNAME\":\"Mixed.Case\",\"Name\":{\"GIVENNAME\":\"a\",\"familyname\":\"b\"},"
        "\"EMAILS\":[{\"VALUE\":\"e@x\",\"Primary\":\"true\",\"TYPE\":\"Work\"}],"
        "\"ExternalID\":\"X-1\",\"X509CERTIFICATES\":[{\"value\":\"TUlJQg==\"}],"
        "\"urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user\":"
        "{\"Department\":\"d\",\"MANAGER\":{\"VALUE\":\"m\",\"$REF\":\"../Users/m\"}}}",
        NULL);
    assert_json(doc,
                UE "\"userName\":\"Mixed.Case\","
                   "\"name\":{\"givenName\":\"a\",\"familyName\":\"b\"},"
                   "\"emails\":[{\"value\":\"e@x\",\"primary\":true,\"type\":\"Work\"}],"
                   "\"externalId\":\"X-1\","
                   "\"x509Certificates\":[{\"value\":\"TUlJQg==\"}],"
                   "\"" ENT "\":{\"department\":\"d\",\"manager\":{\"value\":\"m\","
                   "\"$ref\":\"../Users/m\"}}}");
    json_decref(doc);
}
END_TEST

START_TEST(test_qualified_names)
{
    /* Attributes qualified by their schema URN, and the core URN as an object. */
    json_t *doc = validate(&scim_rt_user,
                           U "\"" SCIM_SCHEMA_USER ":userName\":\"q\",\"" SCIM_SCHEMA_USER
                             "\":{\"displayName\":\"Q\",\"id\":\"ignored\"},\"" ENT
                             ":employeeNumber\":\"77\"}",
                           NULL);
    assert_json(doc, UE "\"userName\":\"q\",\"displayName\":\"Q\",\"" ENT
                        "\":{\"employeeNumber\":\"77\"}}");
    json_decref(doc);
    refuse(&scim_rt_user, U "\"userName\":\"a\",\"" SCIM_SCHEMA_USER ":userName\":\"b\"}",
           "invalidSyntax", "userName: given more than once");
    refuse(&scim_rt_user,
           U "\"userName\":\"a\",\"" ENT ":department\":\"b\",\"" ENT
             "\":{\"department\":\"c\"}}",
           "invalidSyntax", ENT ":department: given more than once");
    refuse(&scim_rt_user, U "\"userName\":\"a\",\"" SCIM_SCHEMA_USER "\":5}",
           "invalidSyntax", SCIM_SCHEMA_USER ": expected an object");
    refuse(&scim_rt_user, U "\"userName\":\"a\",\"" ENT "\":[]}", "invalidSyntax",
           ENT ": expected an object");
}
END_TEST

START_TEST(test_readonly_dropped)
{
    json_t *doc =
        validate(&scim_rt_user,
                 U "\"id\":\"usr_evil\",\"userName\":\"u\",\"meta\":{\"created\":"
                   "\"2020-01-01T00:00:00Z\"},\"groups\":[{\"value\":\"g\"}]}",
                 NULL);
    assert_json(doc, U "\"userName\":\"u\"}");
    json_decref(doc);
    /* Dropped without a look at the value. */
    doc = validate(&scim_rt_user,
                   U "\"userName\":\"u\",\"groups\":5,\"id\":[],\"meta\":1}", NULL);
    assert_json(doc, U "\"userName\":\"u\"}");
    json_decref(doc);
}
END_TEST

START_TEST(test_nulls_and_empties)
{
    json_t *doc = validate(&scim_rt_user,
                           U "\"userName\":\"u\",\"nickName\":null,\"name\":{},"
                             "\"emails\":[null,{},{\"type\":null}],\"phoneNumbers\":[],"
                             "\"addresses\":[{\"locality\":\"Oslo\",\"country\":null}],"
                             "\"" ENT "\":{},\"urn:x:empty\":null}",
                           NULL);
    assert_json(doc, U "\"userName\":\"u\",\"addresses\":[{\"locality\":\"Oslo\"}]}");
    json_decref(doc);
}
END_TEST

START_TEST(test_unknown_extension_kept)
{
    json_t *doc =
        validate(&scim_rt_user,
                 "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"urn:okta:custom:2.0:User\","
                 "\"urn:never:sent\"],\"userName\":\"u\","
                 "\"urn:okta:custom:2.0:User\":{\"badgeColour\":\"blue\","
                 "\"FLOORS\":[1,2,{\"wing\":null}],\"\":true,\"a.b\":\"c\"},"
                 "\"urn:acme:flag\":true}",
                 NULL);
    assert_json(doc,
                "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"urn:okta:custom:2.0:User\"],"
                "\"userName\":\"u\",\"urn:okta:custom:2.0:User\":{\"badgeColour\":"
                "\"blue\",\"FLOORS\":[1,2,{\"wing\":null}],\"\":true,\"a.b\":\"c\"},"
                "\"urn:acme:flag\":true}");
    json_decref(doc);
    /* An extension of another resource type is unknown to this one. */
    doc =
        validate(&scim_rt_group, G "\"displayName\":\"g\",\"" ENT "\":{\"x\":1}}", NULL);
    assert_json(doc, "{\"schemas\":[\"" SCIM_SCHEMA_GROUP "\",\"" ENT "\"],"
                     "\"displayName\":\"g\",\"" ENT "\":{\"x\":1}}");
    json_decref(doc);
}
END_TEST

START_TEST(test_password)
{
    char *pw = (char *)"sentinel";
    json_t *doc = validate(&scim_rt_user, U "\"userName\":\"u\",\"password\":null}", &pw);
    ck_assert_ptr_null(pw);
    json_decref(doc);
    doc = validate(&scim_rt_user, U "\"userName\":\"u\",\"PassWord\":\"s3cret\"}", NULL);
    assert_json(doc, U "\"userName\":\"u\"}");
    json_decref(doc);
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"password\":42}", "invalidValue",
           "password: expected a string");
    refuse(&scim_rt_user,
           U "\"userName\":\"u\",\"password\":\"a\",\"" SCIM_SCHEMA_USER
             ":password\":\"b\"}",
           "invalidSyntax", "password: given more than once");
}
END_TEST

START_TEST(test_userName_rules)
{
    refuse(&scim_rt_user, U "\"displayName\":\"x\"}", "invalidValue",
           "userName: required");
    refuse(&scim_rt_user, U "\"userName\":null}", "invalidValue", "userName: required");
    refuse(&scim_rt_user, U "\"userName\":\"\"}", "invalidValue",
           "userName: must not be empty");
    refuse(&scim_rt_user, U "\"userName\":12}", "invalidValue",
           "userName: expected a string");
    refuse(&scim_rt_user, U "\"userName\":[\"a\"]}", "invalidValue",
           "userName: expected a string");
    refuse(&scim_rt_group, G "\"members\":[]}", "invalidValue", "displayName: required");
}
END_TEST

START_TEST(test_structure_errors)
{
    refuse(&scim_rt_user, "[1,2]", "invalidSyntax",
           "the request body must be a JSON object");
    refuse(&scim_rt_user, "{\"userName\":\"u\"}", "invalidSyntax",
           "schemas: missing; it must list " SCIM_SCHEMA_USER);
    refuse(&scim_rt_user, "{\"schemas\":\"" SCIM_SCHEMA_USER "\",\"userName\":\"u\"}",
           "invalidSyntax", "schemas: expected an array of schema URNs");
    refuse(&scim_rt_user, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",7],\"userName\":\"u\"}",
           "invalidSyntax", "schemas: expected an array of schema URNs");
    refuse(&scim_rt_user, "{\"schemas\":[\"" ENT "\"],\"userName\":\"u\"}",
           "invalidSyntax", "schemas: must list " SCIM_SCHEMA_USER);
    refuse(&scim_rt_group, U "\"displayName\":\"g\"}", "invalidSyntax",
           "schemas: must list " SCIM_SCHEMA_GROUP);
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"nickname\":\"n\",\"NickName\":\"m\"}",
           "invalidSyntax",
           "the key \"NickName\" appears more than once (names ignore case)");
    refuse(&scim_rt_user,
           U "\"userName\":\"u\",\"name\":{\"givenName\":\"a\",\"GIVENNAME\":"
             "\"b\"}}",
           "invalidSyntax",
           "name: the key \"GIVENNAME\" appears more than once (names ignore case)");
    refuse(&scim_rt_user,
           UE "\"userName\":\"u\",\"" ENT "\":{\"division\":\"a\","
              "\"Division\":null}}",
           "invalidSyntax",
           ENT ": the key \"Division\" appears more than once (names ignore case)");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"urn:x:A\":{},\"urn:X:a\":{}}",
           "invalidSyntax",
           "the key \"urn:X:a\" appears more than once (names ignore case)");
}
END_TEST

START_TEST(test_duplicate_in_large_object)
{
    /* More keys than the pairwise check handles: the sorted path. */
    struct scim_error err = {0};
    json_t *b = tu_json(U "\"userName\":\"u\"}");
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "urn:x:k%d", i);
        json_object_set_new(b, key, json_object());
    }
    json_t *doc =
        scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err);
    ck_assert_ptr_nonnull(doc);
    json_decref(doc);
    json_object_set_new(b, "URN:X:K17", json_object());
    doc = scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err);
    ck_assert_ptr_null(doc);
    ck_assert_str_eq(err.type, "invalidSyntax");
    ck_assert_ptr_nonnull(strstr(err.detail, "appears more than once"));
    ck_assert(strstr(err.detail, "K17") || strstr(err.detail, "k17"));
    json_decref(b);
}
END_TEST

START_TEST(test_unknown_attributes)
{
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"favouriteColour\":\"red\"}",
           "invalidSyntax", "favouriteColour: unknown attribute");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"name.givenName\":\"x\"}",
           "invalidSyntax", "name.givenName: unknown attribute");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"\":1}", "invalidSyntax",
           "\"\": unknown attribute");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"" SCIM_SCHEMA_USER ":\":1}",
           "invalidSyntax", "\"\": unknown attribute");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"members\":[]}", "invalidSyntax",
           "members: unknown attribute");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"name\":{\"nick\":\"x\"}}",
           "invalidSyntax", "name.nick: unknown sub-attribute");
    refuse(&scim_rt_user, UE "\"userName\":\"u\",\"" ENT "\":{\"shoeSize\":44}}",
           "invalidSyntax", ENT ":shoeSize: unknown attribute");
    refuse(&scim_rt_user,
           U "\"userName\":\"u\",\"emails\":[{\"value\":\"a\",\"label\":1}]}",
           "invalidSyntax", "emails[0].label: unknown sub-attribute");

    /* Lenient: unknown attributes are dropped instead. */
    struct scim_error err = {0};
    struct scim_validate_opts opts = {.lenient = true};
    json_t *b =
        tu_json(UE "\"userName\":\"u\",\"favouriteColour\":\"red\",\"name\":"
                   "{\"nick\":\"x\",\"givenName\":\"g\"},\"" ENT "\":{\"shoeSize\":44}}");
    json_t *doc = scim_schema_validate_ex(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL,
                                          &opts, NULL, &err);
    assert_json(doc, U "\"userName\":\"u\",\"name\":{\"givenName\":\"g\"}}");
    json_decref(doc);
    json_decref(b);
}
END_TEST

START_TEST(test_detail_stays_utf8)
{
    /* A long multi-byte key is cut on a character boundary, bad bytes are
     * replaced, and the error still renders as JSON. */
    struct scim_error err = {0};
    json_t *b = tu_json(U "\"userName\":\"u\"}");
    char key[401];
    for (int i = 0; i < 200; i++)
        memcpy(key + 2 * i, "\xc3\xa9", 2);
    key[400] = '\0';
    json_object_set_new(b, key, json_true());
    ck_assert_ptr_null(
        scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err));
    ck_assert(util_utf8_valid(err.detail, strlen(err.detail)));
    ck_assert_ptr_nonnull(strstr(err.detail, "...: unknown attribute"));
    json_t *rendered = scim_error_to_json(&err);
    ck_assert_ptr_nonnull(rendered);
    json_decref(rendered);
    json_decref(b);

    scim_error_clear(&err);
    ck_assert_ptr_null(scim_projection_parse(&scim_rt_user, "user\xffName", NULL, &err));
    ck_assert_str_eq(err.detail,
                     "attributes: \"user?Name\" is not a valid attribute path");
    rendered = scim_error_to_json(&err);
    ck_assert_ptr_nonnull(rendered);
    json_decref(rendered);
}
END_TEST

START_TEST(test_type_errors)
{
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"active\":\"yes\"}", "invalidValue",
           "active: expected a boolean");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"active\":1}", "invalidValue",
           "active: expected a boolean");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"emails\":{\"value\":\"a\"}}",
           "invalidValue", "emails: expected an array");
    refuse(&scim_rt_user,
           U "\"userName\":\"u\",\"emails\":[{\"value\":\"a\"},{\"value\":1}]}",
           "invalidValue", "emails[1].value: expected a string");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"emails\":[[{\"value\":\"a\"}]]}",
           "invalidValue", "emails[0]: expected an object");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"name\":[\"x\"]}", "invalidValue",
           "name: expected an object");
    /* A bare string stands for "value" only where there is one. */
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"name\":\"Ada\"}", "invalidValue",
           "name: expected an object");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"name\":{\"givenName\":{\"x\":1}}}",
           "invalidValue", "name.givenName: expected a string");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"emails\":[{\"primary\":\"maybe\"}]}",
           "invalidValue", "emails[0].primary: expected a boolean");
    refuse(&scim_rt_user, UE "\"userName\":\"u\",\"" ENT "\":{\"employeeNumber\":1906}}",
           "invalidValue", ENT ":employeeNumber: expected a string");
    refuse(&scim_rt_user,
           UE "\"userName\":\"u\",\"" ENT "\":{\"manager\":{\"value\":[]}}}",
           "invalidValue", ENT ":manager.value: expected a string");
    refuse(&scim_rt_user, U "\"userName\":\"u\",\"externalId\":false}", "invalidValue",
           "externalId: expected a string");
}
END_TEST

START_TEST(test_primary)
{
    refuse(&scim_rt_user,
           U
           "\"userName\":\"u\",\"emails\":[{\"value\":\"a\",\"primary\":true},"
           "{\"value\":\"b\",\"primary\":false},{\"value\":\"c\",\"primary\":\"TRUE\"}]}",
           "invalidValue", "emails[2]: more than one value is marked primary");
    json_t *doc = validate(&scim_rt_user,
                           U "\"userName\":\"u\",\"phoneNumbers\":[{\"value\":\"1\","
                             "\"primary\":false},{\"value\":\"2\",\"primary\":\"false\"},"
                             "{\"value\":\"3\",\"primary\":true}]}",
                           NULL);
    assert_json(
        json_object_get(doc, "phoneNumbers"),
        "[{\"value\":\"1\",\"primary\":false},{\"value\":\"2\",\"primary\":false},"
        "{\"value\":\"3\",\"primary\":true}]");
    json_decref(doc);
}
END_TEST

START_TEST(test_limits)
{
    struct scim_error err = {0};
    json_t *b = tu_json(U "\"userName\":\"u\"}");
    char *big = xmalloc(SCIM_SCHEMA_MAX_STRING + 2);
    memset(big, 'a', SCIM_SCHEMA_MAX_STRING + 1);
    big[SCIM_SCHEMA_MAX_STRING + 1] = '\0';
    json_object_set_new(b, "title", json_string(big));
    ck_assert_ptr_null(
        scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err));
    ck_assert_str_eq(err.detail, "title: longer than 65536 bytes");
    scim_error_clear(&err);
    big[SCIM_SCHEMA_MAX_STRING] = '\0';
    json_object_set_new(b, "title", json_string(big));
    json_t *doc =
        scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err);
    ck_assert_int_eq(json_string_length(json_object_get(doc, "title")),
                     SCIM_SCHEMA_MAX_STRING);
    json_decref(doc);
    free(big);

    /* A large multi-valued attribute is fine. */
    json_t *emails = json_array();
    for (int i = 0; i < 20000; i++)
        json_array_append_new(emails, json_pack("{s:s}", "value", "x@example.com"));
    json_object_set_new(b, "emails", emails);
    doc = scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "emails")), 20000);
    json_decref(doc);
    json_decref(b);

    /* Unknown extensions are kept only up to SCIM_SCHEMA_MAX_EXT_DEPTH levels. */
    b = tu_json(U "\"userName\":\"u\"}");
    json_t *deep = json_pack("[i]", 1);
    for (int i = 0; i < SCIM_SCHEMA_MAX_EXT_DEPTH - 2; i++)
        deep = json_pack("[o]", deep);
    json_object_set_new(b, "urn:x:deep", json_pack("{s:o}", "a", deep));
    doc = scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err);
    ck_assert_ptr_nonnull(doc);
    json_decref(doc);
    json_decref(b);
}
END_TEST

START_TEST(test_ext_depth_refused)
{
    struct scim_error err = {0};
    json_t *b = tu_json(U "\"userName\":\"u\"}");
    json_t *deep = json_pack("[i]", 1);
    for (int i = 0; i < SCIM_SCHEMA_MAX_EXT_DEPTH; i++)
        deep = json_pack("[o]", deep);
    json_object_set_new(b, "urn:x:deep", deep);
    ck_assert_ptr_null(
        scim_schema_validate(&scim_rt_user, b, SCIM_VALIDATE_CREATE, NULL, NULL, &err));
    ck_assert_str_eq(err.type, "invalidValue");
    ck_assert_str_eq(err.detail, "urn:x:deep: nested more than 32 levels deep");
    json_decref(b);
}
END_TEST

START_TEST(test_group)
{
    json_t *members = NULL;
    struct scim_error err = {0};
    struct scim_validate_opts opts = {.members_out = &members};
    json_t *b = tu_json(G "\"displayName\":\"Engineering\",\"externalId\":\"e1\","
                          "\"Members\":[{\"value\":\"usr_1\",\"display\":\"ada\"},"
                          "{\"VALUE\":\"grp_2\",\"type\":\"group\"},null,"
                          "\"usr_3\"]}");
    json_t *doc = scim_schema_validate_ex(&scim_rt_group, b, SCIM_VALIDATE_CREATE, NULL,
                                          &opts, NULL, &err);
    assert_json(doc, G "\"displayName\":\"Engineering\",\"externalId\":\"e1\"}");
    assert_json(members,
                "[{\"value\":\"usr_1\",\"display\":\"ada\"},"
                "{\"value\":\"grp_2\",\"type\":\"Group\"},{\"value\":\"usr_3\"}]");
    json_decref(members);
    json_decref(doc);
    json_decref(b);

    b = tu_json(G "\"displayName\":\"Sales\",\"members\":[]}");
    doc = scim_schema_validate_ex(&scim_rt_group, b, SCIM_VALIDATE_CREATE, NULL, &opts,
                                  NULL, &err);
    assert_json(members, "[]");
    json_decref(members);
    json_decref(doc);
    json_decref(b);

    b = tu_json(G "\"displayName\":\"Sales\"}");
    members = json_true();
    doc = scim_schema_validate_ex(&scim_rt_group, b, SCIM_VALIDATE_CREATE, NULL, &opts,
                                  NULL, &err);
    ck_assert_ptr_nonnull(doc);
    ck_assert_ptr_null(members);
    json_decref(doc);
    json_decref(b);

    refuse(&scim_rt_group, G "\"displayName\":\"g\",\"members\":[{\"display\":\"x\"}]}",
           "invalidValue", "members[0].value: required");
    refuse(&scim_rt_group,
           G "\"displayName\":\"g\",\"members\":[{\"value\":\"u\",\"type\":\"robot\"}]}",
           "invalidValue", "members[0].type: expected \"User\" or \"Group\"");
    refuse(&scim_rt_group, G "\"displayName\":\"g\",\"members\":{\"value\":\"u\"}}",
           "invalidValue", "members: expected an array");
}
END_TEST

/* A resource type with immutable attributes, as a service could define one. */
static const struct scim_attr since_subs[] = {
    {.name = "since", .type = SCIM_TYPE_STRING, .mutability = SCIM_MUT_IMMUTABLE},
    {.name = "note", .type = SCIM_TYPE_STRING},
    {.name = NULL},
};
static const struct scim_attr badge_attrs[] = {
    {.name = "label", .type = SCIM_TYPE_STRING, .required = true},
    {.name = "serial", .type = SCIM_TYPE_STRING, .mutability = SCIM_MUT_IMMUTABLE},
    {.name = "code",
     .type = SCIM_TYPE_STRING,
     .case_exact = true,
     .mutability = SCIM_MUT_IMMUTABLE},
    {.name = "issued", .type = SCIM_TYPE_COMPLEX, .sub_attrs = since_subs},
    {.name = "count", .type = SCIM_TYPE_INTEGER},
    {.name = "weight", .type = SCIM_TYPE_DECIMAL},
    {.name = "expires", .type = SCIM_TYPE_DATETIME},
    {.name = NULL},
};
static const struct scim_schema badge_schema = {
    .id = "urn:example:params:scim:schemas:Badge", .name = "Badge", .attrs = badge_attrs};
static const struct scim_resource_type badge_rt = {
    .id = "Badge", .name = "Badge", .endpoint = "/Badges", .schema = &badge_schema};

#define B "{\"schemas\":[\"urn:example:params:scim:schemas:Badge\"],"

START_TEST(test_immutable)
{
    json_t *old = validate(&badge_rt,
                           B "\"label\":\"L\",\"serial\":\"AbC\",\"code\":\"xY\","
                             "\"issued\":{\"since\":\"2020\",\"note\":\"n\"}}",
                           NULL);
    /* Same values (serial compares without case): accepted. */
    json_t *doc = validate_mode(&badge_rt,
                                B "\"label\":\"M\",\"serial\":\"abc\",\"code\":\"xY\","
                                  "\"issued\":{\"since\":\"2020\"}}",
                                SCIM_VALIDATE_REPLACE, old, NULL);
    assert_json(doc, B "\"label\":\"M\",\"serial\":\"abc\",\"code\":\"xY\","
                       "\"issued\":{\"since\":\"2020\"}}");
    json_decref(doc);
    /* Left out: carried over from the existing document. */
    doc =
        validate_mode(&badge_rt, B "\"label\":\"M\"}", SCIM_VALIDATE_REPLACE, old, NULL);
    assert_json(doc, B "\"label\":\"M\",\"serial\":\"AbC\",\"code\":\"xY\","
                       "\"issued\":{\"since\":\"2020\"}}");
    json_decref(doc);
    refuse_mode(&badge_rt, B "\"label\":\"M\",\"serial\":\"other\"}",
                SCIM_VALIDATE_REPLACE, old, "mutability",
                "serial: immutable; it cannot be changed once set");
    refuse_mode(&badge_rt, B "\"label\":\"M\",\"code\":\"XY\"}", SCIM_VALIDATE_REPLACE,
                old, "mutability", "code: immutable; it cannot be changed once set");
    refuse_mode(&badge_rt, B "\"label\":\"M\",\"issued\":{\"since\":\"2021\"}}",
                SCIM_VALIDATE_REPLACE, old, "mutability",
                "issued.since: immutable; it cannot be changed once set");
    /* CREATE ignores existing; REPLACE without existing has nothing to compare. */
    doc = validate_mode(&badge_rt, B "\"label\":\"M\",\"serial\":\"other\"}",
                        SCIM_VALIDATE_CREATE, old, NULL);
    json_decref(doc);
    doc = validate_mode(&badge_rt, B "\"label\":\"M\",\"serial\":\"other\"}",
                        SCIM_VALIDATE_REPLACE, NULL, NULL);
    json_decref(doc);
    /* Set once: an existing document without the value accepts one. */
    json_t *bare = tu_json(B "\"label\":\"L\"}");
    doc = validate_mode(&badge_rt, B "\"label\":\"M\",\"serial\":\"new\"}",
                        SCIM_VALIDATE_REPLACE, bare, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "serial")), "new");
    json_decref(doc);
    json_decref(bare);
    json_decref(old);
}
END_TEST

START_TEST(test_scalar_types)
{
    json_t *doc = validate(&badge_rt,
                           B "\"label\":\"L\",\"count\":3,\"weight\":2.5,"
                             "\"expires\":\"2030-01-01T00:00:00Z\"}",
                           NULL);
    assert_json(doc, B "\"label\":\"L\",\"count\":3,\"weight\":2.5,"
                       "\"expires\":\"2030-01-01T00:00:00Z\"}");
    json_decref(doc);
    doc = validate(&badge_rt, B "\"label\":\"L\",\"weight\":2}", NULL);
    json_decref(doc);
    refuse(&badge_rt, B "\"label\":\"L\",\"count\":\"3\"}", "invalidValue",
           "count: expected an integer");
    refuse(&badge_rt, B "\"label\":\"L\",\"count\":3.5}", "invalidValue",
           "count: expected an integer");
    refuse(&badge_rt, B "\"label\":\"L\",\"weight\":\"2.5\"}", "invalidValue",
           "weight: expected a number");
    refuse(&badge_rt, B "\"label\":\"L\",\"expires\":\"tomorrow\"}", "invalidValue",
           "expires: expected an xsd:dateTime");
}
END_TEST

START_TEST(test_replace_user)
{
    json_t *old = validate(
        &scim_rt_user, UE "\"userName\":\"u\",\"" ENT "\":{\"department\":\"d\"}}", NULL);
    json_t *doc = validate_mode(&scim_rt_user, U "\"userName\":\"U2\",\"active\":false}",
                                SCIM_VALIDATE_REPLACE, old, NULL);
    assert_json(doc, U "\"userName\":\"U2\",\"active\":false}");
    json_decref(doc);
    refuse_mode(&scim_rt_user, U "\"active\":false}", SCIM_VALIDATE_REPLACE, old,
                "invalidValue", "userName: required");
    /* Whatever the existing document holds, nothing breaks. */
    json_t *odd = tu_json("{\"userName\":5,\"" ENT "\":[1],\"name\":\"x\"}");
    doc = validate_mode(&scim_rt_user, U "\"userName\":\"u\"}", SCIM_VALIDATE_REPLACE,
                        odd, NULL);
    json_decref(doc);
    json_decref(odd);
    json_decref(old);
}
END_TEST

START_TEST(test_set_schemas)
{
    json_t *doc = tu_json("{\"schemas\":[],\"userName\":\"u\",\"" ENT "\":{\"division\":"
                          "\"d\"},\"urn:x:y\":{\"a\":1},\"urn:x:z\":3}");
    scim_schema_set_schemas(&scim_rt_user, doc);
    assert_json(json_object_get(doc, "schemas"),
                "[\"" SCIM_SCHEMA_USER "\",\"" ENT "\",\"urn:x:y\"]");
    json_decref(doc);
    scim_schema_set_schemas(&scim_rt_user, NULL);
}
END_TEST

/* Coercion ---------------------------------------------------------------- */

/* Any JSON value, scalars included (new reference). */
static json_t *any_json(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        ck_abort_msg("bad JSON in test: %s", jerr.text);
    return v;
}

static json_t *coerce_ok(const struct scim_attr *a, const char *value)
{
    struct scim_error err = {0};
    json_t *v = any_json(value);
    json_t *out = scim_schema_coerce(a, v, NULL, &err);
    if (!out)
        ck_abort_msg("coerce refused %s: %s", value, err.detail);
    json_decref(v);
    return out;
}

static void coerce_refused(const struct scim_attr *a, const char *value, const char *path,
                           const char *detail)
{
    struct scim_error err = {0};
    json_t *v = any_json(value);
    ck_assert_ptr_null(scim_schema_coerce(a, v, path, &err));
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, "invalidValue");
    ck_assert_str_eq(err.detail, detail);
    json_decref(v);
}

START_TEST(test_coerce)
{
    const struct scim_attr *active = scim_schema_attr(&scim_schema_user, "active");
    const struct scim_attr *emails = scim_schema_attr(&scim_schema_user, "emails");
    const struct scim_attr *manager =
        scim_schema_attr(&scim_schema_enterprise_user, "manager");
    const struct scim_attr *members = scim_schema_attr(&scim_schema_group, "members");
    json_t *v;

    v = coerce_ok(active, "\"False\"");
    ck_assert(json_is_false(v));
    json_decref(v);
    v = coerce_ok(active, "\"TRUE\"");
    ck_assert(json_is_true(v));
    json_decref(v);
    v = coerce_ok(active, "true");
    ck_assert(json_is_true(v));
    json_decref(v);
    v = coerce_ok(active, "null");
    ck_assert(json_is_null(v));
    json_decref(v);
    coerce_refused(active, "\"yes\"", NULL, "active: expected a boolean");
    coerce_refused(active, "1", "active", "active: expected a boolean");

    v = coerce_ok(manager, "\"usr_9\"");
    assert_json(v, "{\"value\":\"usr_9\"}");
    json_decref(v);
    v = coerce_ok(manager, "{\"Value\":\"usr_9\",\"displayName\":\"Boss\"}");
    assert_json(v, "{\"value\":\"usr_9\"}");
    json_decref(v);
    v = coerce_ok(manager, "{\"displayName\":\"Boss\"}");
    ck_assert(json_is_null(v));
    json_decref(v);
    coerce_refused(manager, "7", "urn:x:User:manager",
                   "urn:x:User:manager: expected an object");

    v = coerce_ok(emails, "[{\"VALUE\":\"a@x\",\"primary\":\"True\"},null,{}]");
    assert_json(v, "[{\"value\":\"a@x\",\"primary\":true}]");
    json_decref(v);
    v = coerce_ok(emails, "{\"value\":\"a@x\",\"type\":\"work\"}");
    assert_json(v, "{\"value\":\"a@x\",\"type\":\"work\"}");
    json_decref(v);
    v = coerce_ok(emails, "[]");
    ck_assert(json_is_null(v));
    json_decref(v);
    coerce_refused(emails, "[{\"primary\":true},{\"primary\":true}]", "emails",
                   "emails[1]: more than one value is marked primary");
    coerce_refused(emails, "[{\"value\":1}]", "emails[type eq \"work\"]",
                   "emails[type eq \"work\"][0].value: expected a string");

    v = coerce_ok(members, "[{\"value\":\"usr_1\",\"type\":\"user\"},\"grp_2\"]");
    assert_json(v, "[{\"value\":\"usr_1\",\"type\":\"User\"},{\"value\":\"grp_2\"}]");
    json_decref(v);

    const struct scim_attr *created =
        scim_attr_sub(scim_schema_attr(&scim_schema_user, "meta"), "created");
    v = coerce_ok(created, "\"2024-05-01T12:00:00+02:00\"");
    ck_assert_str_eq(json_string_value(v), "2024-05-01T12:00:00+02:00");
    json_decref(v);
    coerce_refused(created, "\"yesterday\"", "meta.created",
                   "meta.created: expected an xsd:dateTime");

    struct scim_error err = {0};
    ck_assert_ptr_null(scim_schema_coerce(NULL, json_true(), "x", &err));
    ck_assert_int_eq(err.status, 400);
    scim_error_clear(&err);
    ck_assert_ptr_null(scim_schema_coerce(active, NULL, NULL, &err));
    ck_assert_int_eq(err.status, 400);
}
END_TEST

/* Projection -------------------------------------------------------------- */

#define RENDERED_USER                                                                    \
    "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"" ENT "\",\"urn:okta:custom:2.0:User\"],"  \
    "\"id\":\"usr_1\",\"externalId\":\"ext\",\"userName\":\"ada\","                      \
    "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"Lovelace\"},"                      \
    "\"emails\":[{\"value\":\"a@x\",\"type\":\"work\",\"primary\":true},"                \
    "{\"value\":\"b@x\",\"type\":\"home\"}],\"active\":true,\"password\":\"leak\","      \
    "\"meta\":{\"resourceType\":\"User\",\"created\":\"2024-01-01T00:00:00Z\","          \
    "\"lastModified\":\"2024-02-01T00:00:00Z\",\"location\":\"https://h/Users/usr_1\","  \
    "\"version\":\"W/\\\"2\\\"\"},"                                                      \
    "\"" ENT "\":{\"department\":\"D\",\"manager\":{\"value\":\"usr_2\","                \
    "\"displayName\":\"Boss\"}},"                                                        \
    "\"urn:okta:custom:2.0:User\":{\"badge\":\"b\",\"floor\":3}}"

/* Applies attributes / excludedAttributes to the sample user; returns it. */
static json_t *projected(const char *attrs, const char *excluded)
{
    struct scim_error err = {0};
    struct scim_projection *p =
        scim_projection_parse(&scim_rt_user, attrs, excluded, &err);
    if (!p)
        ck_abort_msg("projection refused: %s", err.detail);
    json_t *r = tu_json(RENDERED_USER);
    scim_projection_apply(p, r);
    scim_projection_free(p);
    return r;
}

START_TEST(test_projection_defaults)
{
    json_t *r = tu_json(RENDERED_USER);
    scim_projection_apply(NULL, r);
    json_t *want = tu_json(RENDERED_USER);
    json_object_del(want, "password");
    ck_assert(tu_json_equal(r, want));
    json_decref(want);
    json_decref(r);

    r = projected(NULL, "");
    ck_assert_ptr_null(json_object_get(r, "password"));
    ck_assert_int_eq(json_object_size(r), 10);
    json_decref(r);
}
END_TEST

START_TEST(test_projection_attributes)
{
    json_t *r = projected("userName", NULL);
    assert_json(r, U "\"id\":\"usr_1\",\"userName\":\"ada\"}");
    json_decref(r);

    r = projected(" USERNAME , name.givenName,emails.value,,", NULL);
    assert_json(r, U "\"id\":\"usr_1\",\"userName\":\"ada\",\"name\":{\"givenName\":"
                     "\"Ada\"},\"emails\":[{\"value\":\"a@x\"},{\"value\":\"b@x\"}]}");
    json_decref(r);

    r = projected(ENT ":manager", NULL);
    assert_json(r, UE "\"id\":\"usr_1\",\"" ENT "\":{\"manager\":{\"value\":\"usr_2\","
                      "\"displayName\":\"Boss\"}}}");
    json_decref(r);

    r = projected(ENT ":manager.value,name", NULL);
    assert_json(r, UE "\"id\":\"usr_1\",\"name\":{\"givenName\":\"Ada\",\"familyName\":"
                      "\"Lovelace\"},\"" ENT "\":{\"manager\":{\"value\":\"usr_2\"}}}");
    json_decref(r);

    r = projected(ENT, NULL);
    assert_json(r, UE "\"id\":\"usr_1\",\"" ENT "\":{\"department\":\"D\",\"manager\":"
                      "{\"value\":\"usr_2\",\"displayName\":\"Boss\"}}}");
    json_decref(r);

    r = projected(SCIM_SCHEMA_USER ":userName,urn:okta:custom:2.0:User:badge", NULL);
    assert_json(r, "{\"schemas\":[\"" SCIM_SCHEMA_USER "\",\"urn:okta:custom:2.0:User\"],"
                   "\"id\":\"usr_1\",\"userName\":\"ada\","
                   "\"urn:okta:custom:2.0:User\":{\"badge\":\"b\"}}");
    json_decref(r);

    r = projected("meta.lastModified,password,noSuchThing,emails.noSuchSub", NULL);
    assert_json(r, U "\"id\":\"usr_1\",\"meta\":{\"lastModified\":"
                     "\"2024-02-01T00:00:00Z\"}}");
    json_decref(r);
}
END_TEST

START_TEST(test_projection_attributes_errors)
{
    struct scim_error err = {0};
    static const char *const bad[] = {
        "name..givenName", "a.b.c",   "1abc", "user name",
        "name.",           ".name",   "urn:", "emails[type eq \"work\"]",
        ENT ":",           "urn:x: y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        scim_error_clear(&err);
        ck_assert_ptr_null(scim_projection_parse(&scim_rt_user, bad[i], NULL, &err));
        ck_assert_int_eq(err.status, 400);
        ck_assert_str_eq(err.type, "invalidPath");
        ck_assert_ptr_nonnull(strstr(err.detail, "attributes: "));
    }
    scim_error_clear(&err);
    ck_assert_ptr_null(scim_projection_parse(&scim_rt_user, "userName", "a..b", &err));
    ck_assert_str_eq(err.detail,
                     "excludedAttributes: \"a..b\" is not a valid attribute path");
}
END_TEST

START_TEST(test_projection_excluded)
{
    json_t *r = projected(NULL, "id,emails,name.familyName," ENT ":manager,schemas");
    json_t *want = tu_json(RENDERED_USER);
    json_object_del(want, "password");
    json_object_del(want, "emails");
    json_object_del(json_object_get(want, "name"), "familyName");
    json_object_del(json_object_get(want, ENT), "manager");
    ck_assert(tu_json_equal(r, want));
    json_decref(want);
    json_decref(r);

    r = projected(NULL, "urn:okta:custom:2.0:User,meta," ENT);
    assert_json(r, U "\"id\":\"usr_1\",\"externalId\":\"ext\",\"userName\":\"ada\","
                     "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"Lovelace\"},"
                     "\"emails\":[{\"value\":\"a@x\",\"type\":\"work\",\"primary\":true},"
                     "{\"value\":\"b@x\",\"type\":\"home\"}],\"active\":true}");
    json_decref(r);

    r = projected(NULL, "urn:okta:custom:2.0:User:floor,emails.type,emails.primary");
    assert_json(json_object_get(r, "urn:okta:custom:2.0:User"), "{\"badge\":\"b\"}");
    assert_json(json_object_get(r, "emails"),
                "[{\"value\":\"a@x\"},{\"value\":\"b@x\"}]");
    json_decref(r);

    /* Both lists: attributes first, then exclusions. */
    r = projected("name,userName", "name.givenName");
    assert_json(r, U "\"id\":\"usr_1\",\"userName\":\"ada\",\"name\":{\"familyName\":"
                     "\"Lovelace\"}}");
    json_decref(r);
}
END_TEST

START_TEST(test_projection_group_and_wants)
{
    struct scim_error err = {0};
    const char *group = G "\"id\":\"grp_1\",\"displayName\":\"Eng\",\"members\":["
                          "{\"value\":\"usr_1\",\"display\":\"a\",\"type\":\"User\"}],"
                          "\"meta\":{\"resourceType\":\"Group\"}}";
    struct scim_projection *p =
        scim_projection_parse(&scim_rt_group, NULL, "members", &err);
    ck_assert(!scim_projection_wants(p, "members"));
    ck_assert(!scim_projection_wants(p, "members.value"));
    ck_assert(scim_projection_wants(p, "displayName"));
    ck_assert(scim_projection_wants(p, "id"));
    ck_assert(scim_projection_wants(p, "meta"));
    json_t *r = tu_json(group);
    scim_projection_apply(p, r);
    assert_json(r,
                G "\"id\":\"grp_1\",\"displayName\":\"Eng\",\"meta\":{\"resourceType\":"
                  "\"Group\"}}");
    json_decref(r);
    scim_projection_free(p);

    p = scim_projection_parse(&scim_rt_group, "displayName", NULL, &err);
    ck_assert(!scim_projection_wants(p, "members"));
    ck_assert(scim_projection_wants(p, "DISPLAYNAME"));
    ck_assert(scim_projection_wants(p, "id"));
    ck_assert(!scim_projection_wants(p, "meta"));
    scim_projection_free(p);

    p = scim_projection_parse(&scim_rt_group, "members.value", NULL, &err);
    ck_assert(scim_projection_wants(p, "members"));
    ck_assert(scim_projection_wants(p, "members.value"));
    ck_assert(!scim_projection_wants(p, "members.display"));
    r = tu_json(group);
    scim_projection_apply(p, r);
    assert_json(r, G "\"id\":\"grp_1\",\"members\":[{\"value\":\"usr_1\"}]}");
    json_decref(r);
    scim_projection_free(p);

    ck_assert(scim_projection_wants(NULL, "members"));
    ck_assert(!scim_projection_wants(NULL, "password"));
    ck_assert(scim_projection_wants(NULL, "schemas"));
    ck_assert(!scim_projection_wants(NULL, NULL));

    p = scim_projection_parse(&scim_rt_user, "emails," ENT ":manager", "id", &err);
    ck_assert(scim_projection_wants(p, "id"));
    ck_assert(scim_projection_wants(p, "emails.value"));
    ck_assert(scim_projection_wants(p, ENT ":manager.value"));
    ck_assert(!scim_projection_wants(p, ENT ":department"));
    ck_assert(scim_projection_wants(p, ENT));
    ck_assert(!scim_projection_wants(p, "groups"));
    ck_assert(!scim_projection_wants(p, "password"));
    ck_assert(!scim_projection_wants(p, "urn:x:y"));
    scim_projection_free(p);

    p = scim_projection_parse(&scim_rt_user, NULL, ENT ",urn:x:y", &err);
    ck_assert(!scim_projection_wants(p, ENT));
    ck_assert(!scim_projection_wants(p, ENT ":manager"));
    ck_assert(!scim_projection_wants(p, "urn:x:y"));
    ck_assert(scim_projection_wants(p, "urn:x:z"));
    ck_assert(scim_projection_wants(p, "userName"));
    scim_projection_free(p);
    scim_projection_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scim_schema");
    TCase *tc = tcase_create("lookup");
    tcase_add_test(tc, test_find_schema);
    tcase_add_test(tc, test_user_attrs);
    tcase_add_test(tc, test_common_attrs);
    tcase_add_test(tc, test_enterprise_and_group_attrs);
    tcase_add_test(tc, test_rt_schema);
    suite_add_tcase(s, tc);

    tc = tcase_create("discovery");
    tcase_add_test(tc, test_schemas_list);
    tcase_add_test(tc, test_resource_types);
    tcase_add_test(tc, test_service_provider_config);
    tcase_add_test(tc, test_list_response);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_test(tc, test_okta_create_user);
    tcase_add_test(tc, test_entra_create_user);
    tcase_add_test(tc, test_manager_bare_string);
    tcase_add_test(tc, test_canonical_names);
    tcase_add_test(tc, test_qualified_names);
    tcase_add_test(tc, test_readonly_dropped);
    tcase_add_test(tc, test_nulls_and_empties);
    tcase_add_test(tc, test_unknown_extension_kept);
    tcase_add_test(tc, test_password);
    tcase_add_test(tc, test_userName_rules);
    tcase_add_test(tc, test_structure_errors);
    tcase_add_test(tc, test_duplicate_in_large_object);
    tcase_add_test(tc, test_unknown_attributes);
    tcase_add_test(tc, test_type_errors);
    tcase_add_test(tc, test_detail_stays_utf8);
    tcase_add_test(tc, test_primary);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_ext_depth_refused);
    tcase_add_test(tc, test_group);
    tcase_add_test(tc, test_immutable);
    tcase_add_test(tc, test_scalar_types);
    tcase_add_test(tc, test_replace_user);
    tcase_add_test(tc, test_set_schemas);
    tcase_add_test(tc, test_coerce);
    suite_add_tcase(s, tc);

    tc = tcase_create("projection");
    tcase_add_test(tc, test_projection_defaults);
    tcase_add_test(tc, test_projection_attributes);
    tcase_add_test(tc, test_projection_attributes_errors);
    tcase_add_test(tc, test_projection_excluded);
    tcase_add_test(tc, test_projection_group_and_wants);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
