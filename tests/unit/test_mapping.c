/*
 * test_mapping.c - unit tests of mapping.c and mapping_expr.c: the default
 * mapping on Okta and Entra documents, the expression language (paths,
 * filters, errors and their positions), organization mappings and evaluation
 * on documents of the wrong shape.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "mapping_expr.h"
#include "testutil.h"

#define ENTERPRISE "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

static json_t *fixture(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "mapping/%s", name);
    return tu_load_json_fixture(rel);
}

/* The product user of a fixture document under m. */
static json_t *product(const struct mapping *m, const char *doc_name,
                       const json_t *groups)
{
    json_t *doc = fixture(doc_name);
    struct mapping_user u = {
        .org_id = "org_01HX3BZ8K2M4N5P6Q7R8S9T0V1",
        .id = "usr_01HX3C0A1B2C3D4E5F6G7H8J9K",
        .doc = doc,
        .groups = groups,
        .active = true,
        .created_ms = 1714723000000,
        .updated_ms = 1714723000500,
    };
    json_t *out = mapping_product_user(m, &u);
    json_decref(doc);
    return out;
}

static void assert_field(const json_t *user, const char *field, const char *want)
{
    const json_t *v = json_object_get(user, field);
    ck_assert_msg(v != NULL, "field %s missing", field);
    if (!want) {
        ck_assert_msg(json_is_null(v), "field %s should be null", field);
        return;
    }
    ck_assert_msg(json_is_string(v), "field %s should be a string", field);
    ck_assert_str_eq(json_string_value(v), want);
}

static struct mapping *compile(const char *text)
{
    json_t *doc = tu_json(text);
    struct scim_error err = {0};
    struct mapping *m = mapping_parse(doc, &err);
    ck_assert_msg(m != NULL, "mapping refused: %s", err.detail);
    json_decref(doc);
    return m;
}

/* The result of one expression as compact JSON text (new string). */
static char *eval_text(const char *expr, const json_t *doc, const json_t *groups)
{
    struct mapping_expr_error err;
    struct mapping_expr *e = mapping_expr_parse(expr, strlen(expr), &err);
    ck_assert_msg(e != NULL, "%s: refused at %zu: %s", expr, e ? 0 : err.position,
                  err.message);
    json_t *v = mapping_expr_eval(e, doc, groups);
    ck_assert_ptr_nonnull(v);
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(v);
    mapping_expr_free(e);
    return text;
}

struct eval_case {
    const char *expr;
    const char *want; /* compact JSON of the result */
};

static void run_cases(const struct eval_case *cases, size_t n, const json_t *doc,
                      const json_t *groups)
{
    for (size_t i = 0; i < n; i++) {
        char *got = eval_text(cases[i].expr, doc, groups);
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "%s: got %s, want %s",
                      cases[i].expr, got, cases[i].want);
        free(got);
    }
}

/* ---- the default mapping ---- */

START_TEST(test_default_okta)
{
    json_t *u = product(NULL, "okta_user.json", NULL);
    assert_field(u, "id", "usr_01HX3C0A1B2C3D4E5F6G7H8J9K");
    assert_field(u, "object", "user");
    assert_field(u, "organization_id", "org_01HX3BZ8K2M4N5P6Q7R8S9T0V1");
    assert_field(u, "email_address", "isabella.ruiz@example.com");
    assert_field(u, "first_name", "Isabella");
    assert_field(u, "last_name", "Ruiz");
    assert_field(u, "external_id", "00u1f2x3y4z5AbCdE697");
    assert_field(u, "organization_role", "org:member");
    assert_field(u, "deleted_at", NULL);
    ck_assert(json_is_true(json_object_get(u, "active")));
    ck_assert_int_eq(json_integer_value(json_object_get(u, "created_at")), 1714723000000);
    ck_assert_int_eq(json_integer_value(json_object_get(u, "updated_at")), 1714723000500);
    json_t *want = tu_json("{}");
    ck_assert(json_equal(json_object_get(u, "public_metadata"), want));
    json_decref(want);
    want =
        tu_json("{\"attribute\":\"userName\",\"value\":\"isabella.ruiz@example.com\"}");
    ck_assert(json_equal(json_object_get(u, "identifier"), want));
    json_decref(want);
    json_decref(u);
}
END_TEST

START_TEST(test_default_okta_login_username)
{
    /* A custom Okta username format: userName is no address, the primary work
     * email wins over an earlier home email. */
    json_t *u = product(mapping_default(), "okta_user_login.json", NULL);
    assert_field(u, "email_address", "Isabella.Ruiz@example.com");
    assert_field(u, "external_id", "00u1f2x3y4z5AbCdE697");
    json_decref(u);
}
END_TEST

START_TEST(test_default_entra)
{
    /* userName is the UPN; the mail attribute arrives as the work email. */
    json_t *u = product(NULL, "entra_user.json", NULL);
    assert_field(u, "email_address", "AdeleV@contoso.com");
    assert_field(u, "first_name", "Adele");
    assert_field(u, "last_name", "Vance");
    assert_field(u, "external_id", "AdeleV");
    json_decref(u);

    /* After PATCH emails[type eq "work"].value no element is primary: the
     * work email still wins over an earlier "other" one. */
    u = product(NULL, "entra_user_patched.json", NULL);
    assert_field(u, "email_address", "LeeG@contoso.com");
    json_decref(u);

    /* No mail: the UPN is an address. */
    u = product(NULL, "entra_no_mail.json", NULL);
    assert_field(u, "email_address", "MeganB@contoso.onmicrosoft.com");
    json_decref(u);

    /* A guest UPN is no mailbox; no name either. */
    u = product(NULL, "entra_guest.json", NULL);
    assert_field(u, "email_address", NULL);
    assert_field(u, "first_name", NULL);
    assert_field(u, "last_name", NULL);
    assert_field(u, "external_id", "alice_fabrikam.com#EXT#");
    json_decref(u);
}
END_TEST

START_TEST(test_default_username_shapes)
{
    static const struct {
        const char *user_name;
        bool email;
    } cases[] = {
        {"a@b.co", true},
        {"jdoe", false},
        {"@b.co", false},
        {"a@b", false},
        {"a@b.", false},
        {"a@.b", false},
        {"a@b@c.d", false},
        {"a b@c.d", false},
        {"x#EXT#@t.onmicrosoft.com", false},
        {"x#ext#@t.com", false},
        {"first.last@sub.example.org", true},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *doc = json_pack("{s:s}", "userName", cases[i].user_name);
        struct mapping_user mu = {.org_id = "org_x", .id = "usr_x", .doc = doc};
        json_t *u = mapping_product_user(NULL, &mu);
        const json_t *email = json_object_get(u, "email_address");
        ck_assert_msg(json_is_string(email) == cases[i].email, "%s", cases[i].user_name);
        json_decref(u);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_default_empty_and_deleted)
{
    json_t *doc =
        tu_json("{\"userName\":\"\",\"externalId\":\"\",\"name\":{\"givenName\":\"\"},"
                "\"emails\":[{\"value\":\"\",\"primary\":true},"
                "{\"value\":\"b@example.com\"}]}");
    struct mapping_user mu = {
        .org_id = "org_x",
        .id = "usr_x",
        .doc = doc,
        .active = false,
        .created_ms = 1,
        .updated_ms = 2,
        .deleted_ms = 3,
    };
    json_t *u = mapping_product_user(NULL, &mu);
    assert_field(u, "email_address", "b@example.com");
    assert_field(u, "external_id", NULL);
    assert_field(u, "first_name", NULL);
    ck_assert(json_is_false(json_object_get(u, "active")));
    ck_assert_int_eq(json_integer_value(json_object_get(u, "deleted_at")), 3);
    ck_assert(json_is_null(json_object_get(json_object_get(u, "identifier"), "value")));
    json_decref(u);
    json_decref(doc);
}
END_TEST

/* ---- paths ---- */

START_TEST(test_paths)
{
    static const struct eval_case cases[] = {
        {"userName", "\"AdeleV@contoso.onmicrosoft.com\""},
        {"USERNAME", "\"AdeleV@contoso.onmicrosoft.com\""},
        {"name.givenName", "\"Adele\""},
        {"name.GIVENNAME", "\"Adele\""},
        {"name", "null"},
        {"nickName", "null"},
        {"active", "true"},
        {"emails[type eq \"work\"].value", "\"AdeleV@contoso.com\""},
        {"emails[type eq \"WORK\"].value", "\"AdeleV@contoso.com\""},
        {"emails[primary eq true].value", "\"AdeleV@contoso.com\""},
        {"emails[primary eq \"TRUE\"].value", "\"AdeleV@contoso.com\""},
        {"emails[type eq \"home\"].value", "null"},
        {"emails.value", "[\"AdeleV@contoso.com\"]"},
        {"emails", "[\"AdeleV@contoso.com\"]"},
        {"emails[0]", "\"AdeleV@contoso.com\""},
        {"phoneNumbers[1].value", "\"+1 425 555 0110\""},
        {"phoneNumbers[2].value", "null"},
        {"phoneNumbers.value", "[\"+1 425 555 0109\",\"+1 425 555 0110\"]"},
        {"phoneNumbers[type eq \"mobile\"].value", "\"+1 425 555 0110\""},
        {"phoneNumbers[type eq \"fax\" or type eq \"mobile\"].value",
         "\"+1 425 555 0110\""},
        {"phoneNumbers[type sw \"MOB\" and value co \"0110\"].value",
         "\"+1 425 555 0110\""},
        {"phoneNumbers[type eq \"work\" and value co \"0110\"].value", "null"},
        {"phoneNumbers[type eq \"x\" and value pr or type eq \"mobile\"].value",
         "\"+1 425 555 0110\""},
        {"phoneNumbers[type ne \"work\"].value", "\"+1 425 555 0110\""},
        {"phoneNumbers[type ew \"RK\"].value", "\"+1 425 555 0109\""},
        {"phoneNumbers[display eq null].value", "\"+1 425 555 0109\""},
        {"phoneNumbers[display pr].value", "null"},
        {"addresses[primary pr].locality", "\"Bellevue\""},
        {"addresses[type eq \"work\"].postalCode", "\"98004\""},
        {"addresses.nothing", "[]"},
        {"groups[0].display", "\"Admins\""},
        {"groups[0].value", "\"grp_01HX3C1A9D2M4N5P6Q7R8S9T0V\""},
        {"groups[type eq \"indirect\"].display", "\"All Staff\""},
        {"groups[display eq \"engineering\"].type", "\"direct\""},
        {"groups.display", "[\"Admins\",\"All Staff\",\"Engineering\"]"},
        {"Groups[2].Display", "\"Engineering\""},
        {"groups[3].display", "null"},
        {"\"org:admin\"", "\"org:admin\""},
        {"\"\"", "null"},
        {"\"say \\\"hi\\\" \\\\o/\"", "\"say \\\"hi\\\" \\\\o/\""},
    };
    json_t *doc = fixture("entra_user.json"), *groups = fixture("groups.json");
    run_cases(cases, ARRAY_LEN(cases), doc, groups);
    json_decref(doc);
    json_decref(groups);
}
END_TEST

START_TEST(test_enterprise_urns)
{
    static const struct eval_case cases[] = {
        {ENTERPRISE ":department", "\"Retail\""},
        {ENTERPRISE ":manager.value", "\"26f4c4b3-6c63-4a47-8ca9-1b3f0b0e8d55\""},
        {ENTERPRISE ":manager", "\"26f4c4b3-6c63-4a47-8ca9-1b3f0b0e8d55\""},
        {ENTERPRISE ":manager.displayName", "null"},
        {ENTERPRISE ":division", "null"},
        {"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department",
         "\"Retail\""},
        {ENTERPRISE ":employeeNumber | replace: \"4\", \"four\"", "\"four087\""},
        {"urn:ietf:params:scim:schemas:core:2.0:User:userName",
         "\"AdeleV@contoso.onmicrosoft.com\""},
        {"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "\"Vance\""},
        {"urn:example:missing:2.0:User:level", "null"},
    };
    json_t *doc = fixture("entra_user.json");
    run_cases(cases, ARRAY_LEN(cases), doc, NULL);
    json_decref(doc);
}
END_TEST

/* ---- filters ---- */

START_TEST(test_filters)
{
    static const struct eval_case cases[] = {
        {"userName | downcase", "\"adelev@contoso.onmicrosoft.com\""},
        {"userName | upcase", "\"ADELEV@CONTOSO.ONMICROSOFT.COM\""},
        {"\"\xc3\x84RZTE \xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91 "
         "\xd0\x96\xd0\xa3\xd0\x9a "
         "\xc5\xb8\xc5\x81\" | downcase",
         "\"\xc3\xa4rzte \xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1 "
         "\xd0\xb6\xd1\x83\xd0\xba "
         "\xc3\xbf\xc5\x82\""},
        {"\"stra\xc3\x9f"
         "e \xc3\xa4rger \xd1\x91\xd0\xb6 \xe2\x82\xac\" | upcase",
         "\"STRA\xc3\x9f"
         "E \xc3\x84RGER \xd0\x81\xd0\x96 \xe2\x82\xac\""},
        {"\"  padded \t\" | strip", "\"padded\""},
        {"\"\xc2\xa0x y\xc2\xa0\" | strip", "\"x y\""},
        {"\"   \" | strip", "null"},
        {"\"tight\" | strip", "\"tight\""},
        {"userName | replace: \"@contoso.onmicrosoft.com\", \"@contoso.com\"",
         "\"AdeleV@contoso.com\""},
        {"userName | replace: \"o\", \"0\"", "\"AdeleV@c0nt0s0.0nmicr0s0ft.c0m\""},
        {"userName | replace: \"zzz\", \"y\"", "\"AdeleV@contoso.onmicrosoft.com\""},
        {"userName | replace: \"AdeleV@contoso.onmicrosoft.com\", \"\"", "null"},
        {"\"aaa\" | replace: \"aa\", \"b\"", "\"ba\""},
        {"title | default: \"Staff\"", "\"Retail Manager\""},
        {"nickName | default: \"none\"", "\"none\""},
        {"nickName | downcase", "null"},
        {"nickName | upcase | strip | replace: \"a\", \"b\"", "null"},
        {"nickName | map: * => \"x\"", "null"},
        {"nickName | default: \"A\" | downcase", "\"a\""},
        {"active | upcase", "\"TRUE\""},
        {"active | map: \"true\" => \"yes\"", "\"yes\""},
        {"\"Sales\" | map: \"sales\" => \"org:sales\", * => \"org:member\"",
         "\"org:sales\""},
        {"\"Other\" | map: \"sales\" => \"org:sales\", * => \"org:member\"",
         "\"org:member\""},
        {"\"Other\" | map: \"sales\" => \"org:sales\"", "null"},
        {"\"Other\" | map: \"sales\" => \"org:sales\" | default: \"org:member\"",
         "\"org:member\""},
        {"\"x\" | default: \"\"", "\"x\""},
        {"nickName | default: \"\"", "null"},
    };
    json_t *doc = fixture("entra_user.json");
    run_cases(cases, ARRAY_LEN(cases), doc, NULL);
    json_decref(doc);
}
END_TEST

START_TEST(test_chained_filters)
{
    static const struct eval_case cases[] = {
        {"emails[type eq \"work\"].value | strip | downcase | replace: \"@contoso.com\", "
         "\"@corp.contoso.com\"",
         "\"adelev@corp.contoso.com\""},
        {"\"  MiXeD  \" | strip | downcase | upcase | replace: \"X\", \"x\"",
         "\"MIxED\""},
        {"groups.display | downcase", "[\"admins\",\"all staff\",\"engineering\"]"},
        {"groups.display | replace: \" \", \"_\" | upcase",
         "[\"ADMINS\",\"ALL_STAFF\",\"ENGINEERING\"]"},
        {"groups[type eq \"nothing\"].display | default: \"none\" | upcase", "\"NONE\""},
        {"addresses.nothing | default: \"x\"", "[\"x\"]"},
        {"nickName | default: \"  Pad \" | strip | replace: \"Pad\", \"pad\"", "\"pad\""},
    };
    json_t *doc = fixture("entra_user.json"), *groups = fixture("groups.json");
    run_cases(cases, ARRAY_LEN(cases), doc, groups);
    json_decref(doc);
    json_decref(groups);
}
END_TEST

START_TEST(test_group_roles)
{
    const char *role_map =
        "groups.display | map: \"Owners\" => \"org:owner\", \"ADMINS\" => "
        "\"org:admin\", * => \"org:member\"";
    const char *issue_example = "groups[0].display | downcase | replace: \"admins\", "
                                "\"org:admin\" | default: \"org:member\"";
    const char *member_of =
        "groups[display eq \"Admins\"].display | map: * => \"org:admin\" | "
        "default: \"org:member\"";
    json_t *doc = fixture("entra_user.json"), *groups = fixture("groups.json");
    json_t *eng = tu_json("[{\"value\":\"grp_1\",\"display\":\"Engineering\"}]");
    json_t *owner = tu_json("[{\"value\":\"grp_1\",\"display\":\"Admins\"},"
                            "{\"value\":\"grp_2\",\"display\":\"owners\"}]");
    json_t *none = json_array();
    const struct {
        const char *expr;
        const json_t *groups;
        const char *want;
    } cases[] = {
        {role_map, groups, "\"org:admin\""},
        {role_map, owner, "\"org:owner\""}, /* arms are the priority order */
        {role_map, eng, "\"org:member\""},
        {role_map, none, "null"},
        {role_map, NULL, "null"},
        {issue_example, groups, "\"org:admin\""},
        /* Why map exists: replace leaves other group names in place. */
        {issue_example, eng, "\"engineering\""},
        {issue_example, none, "\"org:member\""},
        {member_of, groups, "\"org:admin\""},
        {member_of, eng, "\"org:member\""},
        {member_of, NULL, "\"org:member\""},
        {"groups.display | map: \"Engineering\" => \"org:eng\", \"Admins\" => "
         "\"org:admin\"",
         groups, "\"org:eng\""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *got = eval_text(cases[i].expr, doc, cases[i].groups);
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu: got %s", i, got);
        free(got);
    }

    struct mapping *m =
        compile("{\"mapping\":{\"organization_role\":\"groups.display | map: "
                "\\\"Admins\\\" => \\\"org:admin\\\" | default: "
                "\\\"org:member\\\"\"}}");
    ck_assert(mapping_uses_groups(m));
    ck_assert(!mapping_uses_groups(mapping_default()));
    json_t *u = product(m, "entra_user.json", groups);
    assert_field(u, "organization_role", "org:admin");
    json_decref(u);
    u = product(m, "entra_user.json", eng);
    assert_field(u, "organization_role", "org:member");
    json_decref(u);
    mapping_free(m);
    json_decref(doc);
    json_decref(groups);
    json_decref(eng);
    json_decref(owner);
    json_decref(none);
}
END_TEST

/* ---- organization mappings ---- */

START_TEST(test_overrides_and_metadata)
{
    struct mapping *m = compile(
        "{\"user_id_attribute\":\"externalId\",\"mapping\":{"
        "\"public_metadata.department\":\"" ENTERPRISE ":department\","
        "\"public_metadata.groups\":\"groups.display\","
        "\"public_metadata.nick\":\"nickName\","
        "\"public_metadata.active\":\"active\","
        "\"public_metadata.Cost_Center-1\":\"" ENTERPRISE ":costCenter | downcase\","
        "\"first_name\":\"name.givenName | upcase\","
        "\"email_address\":\"userName | downcase\","
        "\"last_name\":\"nickName\","
        "\"external_id\":\"phoneNumbers.value\","
        "\"organization_role\":\"\\\"org:admin\\\"\"}}");
    json_t *groups = fixture("groups.json");
    json_t *u = product(m, "entra_user.json", groups);
    assert_field(u, "first_name", "ADELE");
    assert_field(u, "email_address", "adelev@contoso.onmicrosoft.com");
    assert_field(u, "last_name",
                 NULL); /* an override replaces the default, even by null */
    assert_field(u, "external_id", "+1 425 555 0109"); /* the first of a list */
    assert_field(u, "organization_role", "org:admin");
    json_t *want =
        tu_json("{\"department\":\"Retail\",\"groups\":[\"Admins\",\"All Staff\","
                "\"Engineering\"],\"active\":true,\"Cost_Center-1\":\"cc-42\"}");
    ck_assert(json_equal(json_object_get(u, "public_metadata"), want));
    json_decref(want);
    want = tu_json("{\"attribute\":\"externalId\",\"value\":\"AdeleV\"}");
    ck_assert(json_equal(json_object_get(u, "identifier"), want));
    json_decref(want);
    json_decref(u);
    json_decref(groups);
    mapping_free(m);
}
END_TEST

START_TEST(test_identifier)
{
    struct mapping *m = compile("{\"user_id_attribute\":\"email\"}");
    json_t *u = product(m, "entra_user.json", NULL);
    json_t *want = tu_json("{\"attribute\":\"email\",\"value\":\"AdeleV@contoso.com\"}");
    ck_assert(json_equal(json_object_get(u, "identifier"), want));
    json_decref(want);
    json_decref(u);
    mapping_free(m);

    /* "email" follows an override of email_address. */
    m = compile("{\"user_id_attribute\":\"EMAIL\",\"mapping\":{\"email_address\":"
                "\"userName | downcase\"}}");
    ck_assert_str_eq(mapping_user_id_attribute(m), "email");
    u = product(m, "entra_user.json", NULL);
    assert_field(json_object_get(u, "identifier"), "value",
                 "adelev@contoso.onmicrosoft.com");
    json_decref(u);
    mapping_free(m);

    m = compile("{\"user_id_attribute\":\"externalId\"}");
    u = product(m, "okta_user.json", NULL);
    assert_field(json_object_get(u, "identifier"), "value", "00u1f2x3y4z5AbCdE697");
    json_decref(u);
    u = product(m, "odd_types.json", NULL);
    assert_field(json_object_get(u, "identifier"), "value", NULL);
    json_decref(u);
    mapping_free(m);
    ck_assert_str_eq(mapping_user_id_attribute(mapping_default()), "userName");
    ck_assert_str_eq(mapping_user_id_attribute(NULL), "userName");
}
END_TEST

START_TEST(test_to_json_normalised)
{
    struct mapping *m = compile(
        "{\"mapping\":{\"public_metadata.zeta\":\"  userName|DOWNCASE  \","
        "\"public_metadata.alpha\":\"emails[ type EQ \\\"work\\\"  AND primary eq TRUE ]"
        ".value\",\"organization_role\":\"groups.display|map:\\\"A\\\"=>\\\"b\\\",*=>"
        "\\\"c\\\"\","
        "\"first_name\":\"name.givenName|replace:\\\"a\\\",\\\"b\\\"|default:"
        "\\\"q\\\\\\\"\\\"\","
        "\"last_name\":\"\\\"x\\\" | strip\","
        "\"external_id\":\"phoneNumbers[value eq -0.0 or value eq 1.50 or value eq "
        "7].value\"}}");
    json_t *got = mapping_to_json(m);
    json_t *want = tu_json(
        "{\"user_id_attribute\":\"userName\",\"mapping\":{"
        "\"first_name\":\"name.givenName | replace: \\\"a\\\", \\\"b\\\" | default: "
        "\\\"q\\\\\\\"\\\"\","
        "\"last_name\":\"\\\"x\\\" | strip\","
        "\"external_id\":\"phoneNumbers[value eq -0.0 or value eq 1.5 or value eq "
        "7].value\","
        "\"organization_role\":\"groups.display | map: \\\"A\\\" => \\\"b\\\", * => "
        "\\\"c\\\"\","
        "\"public_metadata.alpha\":\"emails[type eq \\\"work\\\" and primary eq "
        "true].value\","
        "\"public_metadata.zeta\":\"userName | downcase\"}}");
    char *text = json_dumps(got, JSON_COMPACT);
    ck_assert_msg(json_equal(got, want), "got %s", text);
    /* Targets come out in a fixed order. */
    const char *order[] = {"first_name",
                           "last_name",
                           "external_id",
                           "organization_role",
                           "public_metadata.alpha",
                           "public_metadata.zeta"};
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach (json_object_get(got, "mapping"), key, v)
        ck_assert_str_eq(key, order[i++]);
    /* The normalised document parses to the same document. */
    struct scim_error err = {0};
    struct mapping *again = mapping_parse(got, &err);
    ck_assert_ptr_nonnull(again);
    json_t *got2 = mapping_to_json(again);
    ck_assert(json_equal(got, got2));
    free(text);
    json_decref(got2);
    json_decref(got);
    json_decref(want);
    mapping_free(again);
    mapping_free(m);

    got = mapping_to_json(mapping_default());
    want = tu_json("{\"user_id_attribute\":\"userName\",\"mapping\":{}}");
    ck_assert(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    /* null members take their defaults. */
    m = compile("{\"user_id_attribute\":null,\"mapping\":null}");
    got = mapping_to_json(m);
    assert_field(got, "user_id_attribute", "userName");
    json_decref(got);
    mapping_free(m);
}
END_TEST

static void assert_refused(const char *doc_text, const char *detail_part)
{
    json_t *doc = tu_json(doc_text);
    struct scim_error err = {0};
    struct mapping *m = mapping_parse(doc, &err);
    ck_assert_msg(m == NULL, "accepted: %s", doc_text);
    ck_assert_int_eq(err.status, 400);
    ck_assert_msg(strstr(err.detail, detail_part) != NULL,
                  "%s: detail \"%s\" lacks \"%s\"", doc_text, err.detail, detail_part);
    json_decref(doc);
}

/* A target name with a NUL byte inside, which JSON text allows as \u0000. */
static void assert_refused_key(const char *key, size_t len, const char *detail_part)
{
    json_t *map = json_object();
    json_object_setn_new(map, key, len, json_string("userName"));
    json_t *doc = json_pack("{s:o}", "mapping", map);
    struct scim_error err = {0};
    ck_assert_ptr_null(mapping_parse(doc, &err));
    ck_assert(strstr(err.detail, detail_part) != NULL);
    json_decref(doc);
}

START_TEST(test_document_errors)
{
    assert_refused("[]", "must be a JSON object");
    assert_refused("{\"user_id_attribute\":\"login\"}", "user_id_attribute must be");
    assert_refused("{\"user_id_attribute\":3}", "user_id_attribute must be");
    assert_refused("{\"user_id_atribute\":\"userName\"}",
                   "Unknown member \"user_id_atribute\"");
    assert_refused("{\"mapping\":[]}", "mapping must be an object");
    assert_refused("{\"mapping\":{\"active\":\"\\\"x\\\"\"}}",
                   "Unknown mapping target \"active\"");
    assert_refused("{\"mapping\":{\"public_metadata\":\"userName\"}}",
                   "Unknown mapping target \"public_metadata\"");
    assert_refused("{\"mapping\":{\"public_metadata.\":\"userName\"}}",
                   "Invalid mapping target \"public_metadata.\"");
    assert_refused("{\"mapping\":{\"public_metadata.a.b\":\"userName\"}}",
                   "Invalid mapping target \"public_metadata.a.b\"");
    assert_refused("{\"mapping\":{\"public_metadata.a b\":\"userName\"}}",
                   "Invalid mapping target");
    assert_refused_key("public_metadata.a\0", 18, "Invalid mapping target");
    assert_refused_key("first_name\0x", 12, "Unknown mapping target");
    assert_refused("{\"mapping\":{\"First_Name\":\"userName\"}}",
                   "Unknown mapping target");
    assert_refused("{\"mapping\":{\"first_name\":null}}",
                   "The mapping of first_name must be an expression in a string");
    assert_refused("{\"mapping\":{\"first_name\":[\"userName\"]}}", "first_name must be");
    assert_refused("{\"mapping\":{\"first_name\":\"name.givenName | downcas\"}}",
                   "Invalid expression for first_name at position 18: unknown filter "
                   "\"downcas\"");
    assert_refused(
        "{\"mapping\":{\"public_metadata.team\":\"\\\"Caf\\u00e9 | x\"}}",
        "Invalid expression for public_metadata.team at position 1: unterminated");
    json_t *nul =
        json_pack("{s:{s:o}}", "mapping", "last_name", json_stringn("userName\0", 9));
    struct scim_error nul_err = {0};
    ck_assert_ptr_null(mapping_parse(nul, &nul_err));
    ck_assert_str_eq(nul_err.detail,
                     "Invalid expression for last_name at position 9: NUL character.");
    json_decref(nul);

    /* Too many targets. */
    json_t *map = json_object();
    for (int i = 0; i <= MAPPING_MAX_TARGETS; i++) {
        char key[40];
        snprintf(key, sizeof key, "public_metadata.k%d", i);
        json_object_set_new(map, key, json_string("userName"));
    }
    json_t *doc = json_pack("{s:o}", "mapping", map);
    char *text = json_dumps(doc, 0);
    assert_refused(text, "more than 64 targets");
    free(text);
    json_decref(doc);
    /* A 64-byte key is the longest. */
    char key[128];
    snprintf(key, sizeof key, "{\"mapping\":{\"public_metadata.%064d\":\"userName\"}}",
             0);
    struct mapping *m = compile(key);
    mapping_free(m);
    snprintf(key, sizeof key, "{\"mapping\":{\"public_metadata.%065d\":\"userName\"}}",
             0);
    assert_refused(key, "Invalid mapping target");
}
END_TEST

/* ---- expression errors ---- */

struct error_case {
    const char *expr;
    size_t position;
    const char *message_part;
};

START_TEST(test_expression_errors)
{
    static const struct error_case cases[] = {
        {"", 1, "empty expression"},
        {"  \t ", 1, "empty expression"},
        {"\"abc", 1, "unterminated string"},
        {"userName | default: \"x", 21, "unterminated string"},
        {"\"a\\x\"", 3, "unknown escape"},
        {"userName | downcas", 12, "unknown filter \"downcas\""},
        {"userName | Downcase: \"x\"", 20, "downcase takes no arguments"},
        {"userName | strip:", 17, "strip takes no arguments"},
        {"userName | replace: \"a\"", 24, "replace takes 2 arguments, not 1"},
        {"userName | replace: \"a, \"b\"", 26, "replace takes 2 arguments, not 1"},
        {"userName | replace: \"a\", \"b\", \"c\"", 29, "replace takes 2 arguments"},
        {"userName | replace: \"a\",", 25, "replace: expected a string argument"},
        {"userName | replace: \"\", \"x\"", 12, "must not be empty"},
        {"userName | default", 19, "default needs arguments"},
        {"userName | default: \"a\", \"b\"", 24, "default takes 1 argument"},
        {"userName | default: x", 21, "default: expected a string argument"},
        {"userName |", 11, "expected a filter name"},
        {"userName | | downcase", 12, "expected a filter name"},
        {"userName department", 10, "expected \"|\" or the end"},
        {"userName | downcase upcase", 21, "expected \"|\" or the end"},
        {"123abc", 1, "expected a SCIM path or a string"},
        {"| downcase", 1, "expected a SCIM path or a string"},
        {"name..givenName", 6, "expected an attribute name"},
        {"name.", 6, "expected an attribute name"},
        {"name.given Name", 12, "expected \"|\" or the end"},
        {"emails[]", 8, "expected an index or a condition"},
        {"emails[type eq \"work\".value", 22, "expected \"and\", \"or\" or \"]\""},
        {"emails[type eq \"work\"", 22, "expected \"and\", \"or\" or \"]\""},
        {"emails[0", 1 + 6, "unclosed \"[\""},
        {"emails[0 1]", 10, "expected \"]\""},
        {"emails[type xx \"work\"]", 13, "unknown operator \"xx\""},
        {"emails[type]", 12, "expected an operator"},
        {"emails[type eq work]", 16, "expected a value"},
        {"emails[type eq \"a\" and]", 23, "expected an attribute name"},
        {"emails[value co 5]", 17, "co compares with a string"},
        {"emails[value eq 1e999]", 17, "number out of range"},
        {"emails[value eq -]", 17, "expected a number"},
        {"emails[value eq 1.]", 19, "expected digits after the decimal point"},
        {"groups[1000000].display", 8, "index larger than"},
        {"a.b.c.d.e.f.g.h.i", 17, "at most 8 steps"},
        {"urn:foo", 1, "urn:<schema>:<attribute>"},
        {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:", 60,
         "expected an attribute name"},
        {"\"x\" | map", 10, "map needs arguments"},
        {"\"x\" | map: \"a\" \"b\"", 16, "expected \"=>\""},
        {"\"x\" | map: \"a\" => b", 19, "expected a string after"},
        {"\"x\" | map: a => \"b\"", 12, "expected a string or *"},
        {"\"x\" | map: \"a\" => \"b\", * => \"c\", \"d\" => \"e\"", 34,
         "must be the last arm"},
        {"\"F\xc3\xbchrung\" | bogus", 13, "unknown filter \"bogus\""},
        {"\"\xce\xa3\xce\xa3\" x", 6, "expected \"|\""},
        {"\"a\xff\"", 3, "invalid UTF-8"},
        {"\"a\xc3\"", 3, "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", 2, "invalid UTF-8"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct mapping_expr_error err = {0};
        struct mapping_expr *e =
            mapping_expr_parse(cases[i].expr, strlen(cases[i].expr), &err);
        ck_assert_msg(e == NULL, "accepted: %s", cases[i].expr);
        ck_assert_msg(err.position == cases[i].position,
                      "%s: position %zu, want %zu (%s)", cases[i].expr, err.position,
                      cases[i].position, err.message);
        ck_assert_msg(strstr(err.message, cases[i].message_part) != NULL,
                      "%s: message \"%s\" lacks \"%s\"", cases[i].expr, err.message,
                      cases[i].message_part);
    }
}
END_TEST

START_TEST(test_expression_limits)
{
    struct mapping_expr_error err = {0};
    /* NUL inside the text. */
    ck_assert_ptr_null(mapping_expr_parse("userName\0x", 10, &err));
    ck_assert_int_eq(err.position, 9);
    /* Length. */
    char long_text[MAPPING_EXPR_MAX_LEN + 2];
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    ck_assert_ptr_null(mapping_expr_parse(long_text, strlen(long_text), &err));
    ck_assert_int_eq(err.position, MAPPING_EXPR_MAX_LEN + 1);
    long_text[0] = long_text[MAPPING_EXPR_MAX_LEN - 1] = '"';
    struct mapping_expr *e = mapping_expr_parse(long_text, MAPPING_EXPR_MAX_LEN, &err);
    ck_assert_ptr_nonnull(e);
    mapping_expr_free(e);
    /* Normalising adds spaces: the normalised text has the same limit, so an
     * accepted expression always prints to one that is accepted again. */
    memset(long_text, 'a', 1000);
    long_text[0] = long_text[999] = '"';
    memcpy(long_text + 1000, "|strip|strip|strip|strip", 25);
    ck_assert_int_eq(strlen(long_text), MAPPING_EXPR_MAX_LEN);
    ck_assert_ptr_null(mapping_expr_parse(long_text, strlen(long_text), &err));
    ck_assert_int_eq(err.position, 1);
    ck_assert(strstr(err.message, "once normalised"));
    /* Too many filters, conditions and arms. */
    struct strbuf b = {0};
    strbuf_puts(&b, "userName");
    for (int i = 0; i < 17; i++)
        strbuf_puts(&b, " | strip");
    ck_assert_ptr_null(mapping_expr_parse(b.s, b.len, &err));
    ck_assert(strstr(err.message, "at most 16 filters"));
    strbuf_clear(&b);
    strbuf_puts(&b, "emails[value pr");
    for (int i = 0; i < 8; i++)
        strbuf_puts(&b, " or value pr");
    strbuf_puts(&b, "]");
    ck_assert_ptr_null(mapping_expr_parse(b.s, b.len, &err));
    ck_assert(strstr(err.message, "more than 8 conditions"));
    strbuf_clear(&b);
    strbuf_puts(&b, "userName | map: \"a\" => \"b\"");
    for (int i = 0; i < 32; i++)
        strbuf_puts(&b, ", \"a\" => \"b\"");
    ck_assert_ptr_null(mapping_expr_parse(b.s, b.len, &err));
    ck_assert(strstr(err.message, "at most 32 arms"));
    strbuf_clear(&b);
    /* NULL text is an empty expression. */
    ck_assert_ptr_null(mapping_expr_parse(NULL, 5, &err));
    ck_assert_int_eq(err.position, 1);
}
END_TEST

START_TEST(test_value_limits)
{
    /* replace cannot blow a value up beyond max(4 KiB, its input). */
    json_t *doc = json_pack("{s:s}", "userName",
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    const char *expr =
        "userName | replace: \"a\", "
        "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
        "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\" | "
        "replace: \"\xc3\xa9\", \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"";
    struct mapping_expr_error err;
    struct mapping_expr *e = mapping_expr_parse(expr, strlen(expr), &err);
    ck_assert_ptr_nonnull(e);
    json_t *v = mapping_expr_eval(e, doc, NULL);
    ck_assert(json_is_string(v));
    ck_assert_uint_le(json_string_length(v), 4096);
    ck_assert_uint_ge(json_string_length(v), 4094); /* cut on a character boundary */
    json_decref(v);
    mapping_expr_free(e);
    json_decref(doc);

    /* A list keeps at most MAPPING_EXPR_MAX_VALUES values. */
    json_t *groups = json_array();
    for (int i = 0; i < MAPPING_EXPR_MAX_VALUES + 50; i++)
        json_array_append_new(groups, json_pack("{s:i}", "value", i));
    e = mapping_expr_parse("groups", 6, &err);
    v = mapping_expr_eval(e, NULL, groups);
    ck_assert_uint_eq(json_array_size(v), MAPPING_EXPR_MAX_VALUES);
    json_decref(v);
    mapping_expr_free(e);
    json_decref(groups);
}
END_TEST

/* ---- odd documents ---- */

static const char *const odd_exprs[] = {
    "userName",
    "name.givenName",
    "emails",
    "emails.value",
    "emails[0].value",
    "emails[type eq \"work\"].value",
    "emails[primary eq true]",
    "externalId",
    "externalId[1]",
    "displayName",
    "displayName.value",
    "phoneNumbers",
    "phoneNumbers[value eq 7]",
    "phoneNumbers[value eq \"7\" or value eq true].value",
    "phoneNumbers[value co \"x\"]",
    "phoneNumbers[primary eq \"yes\"].value",
    "phoneNumbers | upcase | strip | replace: \"X\", \"y\" | map: \"y\" => \"z\"",
    "addresses[0]",
    "addresses.locality | default: \"d\"",
    ENTERPRISE ":department",
    ENTERPRISE ":manager.value",
    "urn:example:custom:2.0:User:level",
    "urn:example:custom:2.0:User:flags | downcase",
    "title | default: \"t\"",
    "active",
    "groups",
    "groups[0].display",
    "groups.display | map: * => \"x\"",
    "\"lit\" | strip",
};

static void eval_all(const json_t *doc, const json_t *groups)
{
    for (size_t i = 0; i < ARRAY_LEN(odd_exprs); i++)
        free(eval_text(odd_exprs[i], doc, groups));
}

START_TEST(test_odd_documents)
{
    json_t *odd = fixture("odd_types.json");
    static const struct eval_case cases[] = {
        {"userName", "42"},
        {"userName | replace: \"2\", \"3\"", "\"43\""},
        {"name.givenName", "null"},
        {"emails.value", "\"not-an-array@example.com\""},
        {"emails[0].value", "null"},
        {"emails[type eq \"work\"].value", "null"},
        {"externalId", "[\"a\",\"b\"]"},
        {"externalId[1]", "\"b\""},
        {"displayName", "null"},
        {"phoneNumbers", "[7,\"x\",true]"},
        {"phoneNumbers | upcase", "[\"7\",\"X\",\"TRUE\"]"},
        {"phoneNumbers[value eq 7]", "7"},
        {"phoneNumbers[value eq \"7\"]", "7"},
        {"phoneNumbers[value eq 7.0]", "7"},
        {ENTERPRISE ":department", "null"},
        {"urn:example:custom:2.0:User:level", "3.5"},
        {"urn:example:custom:2.0:User:level | upcase", "\"3.5\""},
        {"urn:example:custom:2.0:User:flags", "[true,false]"},
        {"title | default: \"t\"", "\"t\""},
        {"active", "\"maybe\""},
    };
    run_cases(cases, ARRAY_LEN(cases), odd, NULL);

    json_t *docs[] = {odd,
                      NULL,
                      json_null(),
                      json_string("x"),
                      json_integer(3),
                      json_array(),
                      json_object(),
                      tu_json("{\"emails\":[[[]]],\"groups\":[{\"display\":1}]}")};
    json_t *groups[] = {NULL, json_object(), json_string("Admins"),
                        tu_json("[null,1,\"x\",[],{},{\"display\":{\"value\":[]}}]")};
    for (size_t d = 0; d < ARRAY_LEN(docs); d++)
        for (size_t g = 0; g < ARRAY_LEN(groups); g++)
            eval_all(docs[d], groups[g]);

    /* The product user too: every field falls back to null, never fails. */
    struct mapping *m =
        compile("{\"user_id_attribute\":\"email\",\"mapping\":{"
                "\"first_name\":\"phoneNumbers\","
                "\"last_name\":\"name.familyName | upcase\","
                "\"public_metadata.flags\":\"urn:example:custom:2.0:User:flags\","
                "\"public_metadata.none\":\"addresses.x\"}}");
    for (size_t d = 0; d < ARRAY_LEN(docs); d++)
        for (size_t g = 0; g < ARRAY_LEN(groups); g++) {
            struct mapping_user mu = {
                .org_id = "org_x", .id = "usr_x", .doc = docs[d], .groups = groups[g]};
            json_decref(mapping_product_user(m, &mu));
            json_decref(mapping_product_user(NULL, &mu));
        }
    json_t *u = product(m, "odd_types.json", NULL);
    assert_field(u, "email_address", NULL);
    assert_field(u, "first_name", "7");
    assert_field(u, "last_name", NULL);
    assert_field(u, "external_id", NULL);
    json_t *want = tu_json("{\"flags\":[true,false],\"none\":[]}");
    ck_assert(json_equal(json_object_get(u, "public_metadata"), want));
    json_decref(want);
    json_decref(u);
    mapping_free(m);
    for (size_t d = 1; d < ARRAY_LEN(docs); d++)
        json_decref(docs[d]);
    for (size_t g = 0; g < ARRAY_LEN(groups); g++)
        json_decref(groups[g]);
    json_decref(odd);
}
END_TEST

START_TEST(test_print_roundtrip)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"userName", "userName"},
        {"  userName  |downcase|  UPCASE ", "userName | downcase | upcase"},
        {"emails[ TYPE Eq \"work\" ]. value", NULL},
        {"emails[type eq \"work\"].value", "emails[type eq \"work\"].value"},
        {"groups[ 03 ].display", "groups[3].display"},
        {"x[a eq 1e2 and b ne false or c pr or d eq null]",
         "x[a eq 100.0 and b ne false or c pr or d eq null]"},
        {"\"a\\\"b\\\\\" | replace:\"\\\\\",\"/\"",
         "\"a\\\"b\\\\\" | replace: \"\\\\\", \"/\""},
        {"urn:x:y:2.0:User:a.b", "urn:x:y:2.0:User:a.b"},
        {"$ref", "$ref"},
        {"\"\" | map:\"a\"=>\"b\",*=>\"\"", "\"\" | map: \"a\" => \"b\", * => \"\""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct mapping_expr_error err = {0};
        struct mapping_expr *e =
            mapping_expr_parse(cases[i].in, strlen(cases[i].in), &err);
        if (!cases[i].out) {
            ck_assert_msg(e == NULL, "accepted %s", cases[i].in);
            continue;
        }
        ck_assert_msg(e != NULL, "%s: %s", cases[i].in, err.message);
        struct strbuf b = {0};
        mapping_expr_print(e, &b);
        ck_assert_str_eq(b.s, cases[i].out);
        struct mapping_expr *again = mapping_expr_parse(b.s, b.len, &err);
        ck_assert_ptr_nonnull(again);
        struct strbuf b2 = {0};
        mapping_expr_print(again, &b2);
        ck_assert_str_eq(b2.s, b.s);
        strbuf_clear(&b);
        strbuf_clear(&b2);
        mapping_expr_free(again);
        mapping_expr_free(e);
    }
}
END_TEST

START_TEST(test_changed_fields)
{
    json_t *before = product(NULL, "entra_user.json", NULL);
    json_t *after = product(NULL, "entra_user_patched.json", NULL);
    json_t *previous = NULL;
    json_t *changed = mapping_changed_fields(before, after, &previous);
    json_t *want =
        tu_json("[\"email_address\",\"first_name\",\"last_name\",\"external_id\","
                "\"identifier\"]");
    ck_assert(json_equal(changed, want));
    assert_field(previous, "email_address", "AdeleV@contoso.com");
    json_decref(want);
    json_decref(changed);
    json_decref(previous);
    changed = mapping_changed_fields(before, before, &previous);
    ck_assert_int_eq(json_array_size(changed), 0);
    json_decref(changed);
    json_decref(previous);
    json_decref(before);
    json_decref(after);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mapping");
    TCase *tc = tcase_create("default");
    tcase_add_test(tc, test_default_okta);
    tcase_add_test(tc, test_default_okta_login_username);
    tcase_add_test(tc, test_default_entra);
    tcase_add_test(tc, test_default_username_shapes);
    tcase_add_test(tc, test_default_empty_and_deleted);
    suite_add_tcase(s, tc);
    tc = tcase_create("expressions");
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_enterprise_urns);
    tcase_add_test(tc, test_filters);
    tcase_add_test(tc, test_chained_filters);
    tcase_add_test(tc, test_group_roles);
    tcase_add_test(tc, test_expression_errors);
    tcase_add_test(tc, test_expression_limits);
    tcase_add_test(tc, test_value_limits);
    tcase_add_test(tc, test_print_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("mappings");
    tcase_add_test(tc, test_overrides_and_metadata);
    tcase_add_test(tc, test_identifier);
    tcase_add_test(tc, test_to_json_normalised);
    tcase_add_test(tc, test_document_errors);
    tcase_add_test(tc, test_odd_documents);
    tcase_add_test(tc, test_changed_fields);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
