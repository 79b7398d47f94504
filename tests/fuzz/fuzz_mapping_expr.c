/*
 * fuzz_mapping_expr.c - libFuzzer target for attribute mappings. An input
 * whose first byte is '{' is a mapping document (mapping_parse, then the
 * product user of fixed Okta- and Entra-shaped users); any other input is one
 * expression (mapping_expr_parse, evaluation against the same users and
 * against documents of the wrong shape). Accepted inputs must print to a
 * normalised form that parses again and prints the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mapping.h"
#include "mapping_expr.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char user_text[] =
    "{\"userName\":\"AdeleV@contoso.onmicrosoft.com\",\"externalId\":\"AdeleV\","
    "\"active\":true,\"displayName\":\"Adele Vance\",\"title\":\"\","
    "\"name\":{\"givenName\":\"Adele\",\"familyName\":\"Vance\"},"
    "\"emails\":[{\"type\":\"other\",\"value\":\"a@fabrikam.example\"},"
    "{\"type\":\"work\",\"value\":\"AdeleV@contoso.com\",\"primary\":true}],"
    "\"phoneNumbers\":[{\"type\":\"work\",\"value\":\"+1 425 555 0109\"},7,null,[1],"
    "{\"type\":\"mobile\",\"value\":true}],"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":"
    "\"Retail\",\"employeeNumber\":4087,\"manager\":{\"value\":\"26f4c4b3\"}},"
    "\"urn:example:custom:2.0:User\":\"flat\"}";

static const char groups_text[] =
    "[{\"value\":\"grp_1\",\"display\":\"Admins\",\"type\":\"direct\"},"
    "{\"value\":\"grp_2\",\"display\":\"\\u00c4rzte "
    "\\u0416\\u0423\\u041a\",\"type\":\"indirect\"},"
    "{\"value\":\"grp_3\",\"display\":[\"odd\"]},\"loose\",null]";

static json_t *docs[4];   /* the user, null, a string, an array */
static json_t *groups[2]; /* the groups, an object */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    docs[0] = json_loads(user_text, 0, NULL);
    docs[1] = json_null();
    docs[2] = json_string("userName");
    docs[3] = json_loads("[{\"userName\":\"x\"}]", 0, NULL);
    groups[0] = json_loads(groups_text, 0, NULL);
    groups[1] = json_object();
    if (!docs[0] || !docs[3] || !groups[0])
        abort();
    return 0;
}

static void check_product(const struct mapping *m)
{
    for (size_t d = 0; d < ARRAY_LEN(docs); d++) {
        struct mapping_user u = {.org_id = "org_f",
                                 .id = "usr_f",
                                 .doc = docs[d],
                                 .groups = groups[d % 2],
                                 .active = true};
        json_t *user = mapping_product_user(m, &u);
        if (!user || !json_is_object(json_object_get(user, "public_metadata")))
            abort();
        json_decref(user);
    }
}

static void fuzz_document(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if (!doc)
        return;
    struct scim_error err = {0};
    struct mapping *m = mapping_parse(doc, &err);
    json_decref(doc);
    if (!m) {
        if (err.status != 400 || !err.detail[0])
            abort();
        return;
    }
    check_product(m);
    json_t *norm = mapping_to_json(m);
    struct mapping *again = mapping_parse(norm, &err);
    if (!again)
        abort();
    json_t *norm2 = mapping_to_json(again);
    if (!json_equal(norm, norm2))
        abort();
    json_decref(norm);
    json_decref(norm2);
    mapping_free(again);
    mapping_free(m);
}

static void check_print(const struct mapping_expr *e)
{
    struct strbuf a = {0}, b = {0};
    struct mapping_expr_error err;
    mapping_expr_print(e, &a);
    struct mapping_expr *again = mapping_expr_parse(a.s, a.len, &err);
    if (!again) {
        fprintf(stderr, "normalised text refused: %s (%zu: %s)\n", a.s, err.position,
                err.message);
        abort();
    }
    mapping_expr_print(again, &b);
    if (a.len != b.len || memcmp(a.s, b.s, a.len) != 0) {
        fprintf(stderr, "not a fixed point: %s -> %s\n", a.s, b.s);
        abort();
    }
    mapping_expr_free(again);
    strbuf_clear(&a);
    strbuf_clear(&b);
}

static void fuzz_expression(const uint8_t *data, size_t size)
{
    struct mapping_expr_error err = {0};
    struct mapping_expr *e = mapping_expr_parse((const char *)data, size, &err);
    if (!e) {
        size_t chars = 1;
        for (size_t i = 0; i < size; i++)
            chars += (data[i] & 0xC0) != 0x80;
        if (err.position < 1 || err.position > chars || !err.message[0])
            abort();
        return;
    }
    check_print(e);
    for (size_t d = 0; d < ARRAY_LEN(docs); d++)
        for (size_t g = 0; g < ARRAY_LEN(groups); g++) {
            json_t *v = mapping_expr_eval(e, docs[d], groups[g]);
            if (!v)
                abort();
            json_decref(v);
        }
    json_t *v = mapping_expr_eval(e, NULL, NULL);
    json_decref(v);
    mapping_expr_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == '{')
        fuzz_document(data, size);
    else
        fuzz_expression(data, size);
    return 0;
}
