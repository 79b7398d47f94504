/*
 * test_scim_schema.c - unit tests of scim_schema.c: attribute tables and
 * lookups, discovery documents, body validation and coercion, projection.
 */
#include <check.h>
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
        "userName", "name",         "displayName", "nickName",  "profileUrl",
        "title",    "userType",     "preferredLanguage",        "locale",
        "timezone", "active",       "password",    "emails",    "phoneNumbers",
        "ims",      "photos",       "addresses",   "groups",    "entitlements",
        "roles",    "x509Certificates"};
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
    ck_assert_ptr_null(scim_attr_sub(scim_schema_attr(&scim_schema_user, "userName"),
                                     "value"));
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
                                      "division", "department", "manager"};
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
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
