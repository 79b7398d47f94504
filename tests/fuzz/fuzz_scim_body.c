/*
 * fuzz_scim_body.c - libFuzzer target for scim_schema.c: the input is parsed as
 * a JSON request body and validated for both resource types in both modes,
 * its parts are coerced against a few attributes, and the same bytes are read
 * as attributes / excludedAttributes lists and applied to the results. Every
 * error set must be a 400 that renders as a SCIM error document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scim_schema.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(struct scim_error *err)
{
    if (err->status) {
        json_t *doc = scim_error_to_json(err);
        if (!doc || err->status != 400)
            abort();
        json_decref(doc);
    }
    scim_error_clear(err);
}

static struct scim_projection *parse(const struct scim_resource_type *rt,
                                     const char *attrs, const char *excluded)
{
    struct scim_error err = {0};
    struct scim_projection *p = scim_projection_parse(rt, attrs, excluded, &err);
    if ((p == NULL) != (err.status != 0))
        abort();
    check_error(&err);
    return p;
}

static void project(const struct scim_resource_type *rt, const char *text, json_t *doc)
{
    struct scim_projection *p[3] = {
        parse(rt, text, NULL),
        parse(rt, NULL, text),
        parse(rt, "userName,displayName,members.value", text),
    };
    for (int i = 0; i < 3; i++) {
        scim_projection_wants(p[i], text);
        scim_projection_wants(p[i], "members");
        scim_projection_wants(p[i], "name.givenName");
        if (!doc)
            continue;
        json_t *r = json_deep_copy(doc);
        json_object_set_new(r, "id", json_string("usr_1"));
        scim_projection_apply(p[i], r);
        if (!json_object_get(r, "id") || !json_object_get(r, "schemas"))
            abort();
        json_decref(r);
    }
    for (int i = 0; i < 3; i++)
        scim_projection_free(p[i]);
}

static void validate(const struct scim_resource_type *rt, const json_t *body,
                     const char *text)
{
    struct scim_error err = {0};
    char *pw = NULL;
    json_t *members = NULL;
    struct scim_validate_opts opts = {.lenient = true, .members_out = &members};
    json_t *doc = scim_schema_validate(rt, body, SCIM_VALIDATE_CREATE, NULL, &pw, &err);
    if ((doc == NULL) != (err.status != 0))
        abort();
    check_error(&err);
    free(pw);
    json_t *again =
        scim_schema_validate(rt, body, SCIM_VALIDATE_REPLACE, doc, NULL, &err);
    check_error(&err);
    /* A normalised document validates to itself. */
    json_t *fixed =
        doc ? scim_schema_validate(rt, doc, SCIM_VALIDATE_CREATE, NULL, NULL, &err)
            : NULL;
    if (doc && !json_equal(doc, fixed))
        abort();
    check_error(&err);
    json_t *lenient =
        scim_schema_validate_ex(rt, body, SCIM_VALIDATE_REPLACE, body, &opts, &pw, &err);
    check_error(&err);
    free(pw);
    project(rt, text, doc ? doc : lenient);
    scim_projection_apply(NULL, again);
    json_decref(doc);
    json_decref(again);
    json_decref(fixed);
    json_decref(lenient);
    json_decref(members);
}

static void coerce_one(const struct scim_attr *a, const json_t *value, const char *path)
{
    struct scim_error err = {0};
    json_t *v = scim_schema_coerce(a, value, path, &err);
    if ((v == NULL) != (err.status != 0))
        abort();
    check_error(&err);
    json_decref(v);
}

static void coerce(const json_t *value)
{
    static const char *const user_attrs[] = {"active",   "emails",    "name",
                                             "userName", "addresses", "meta"};
    for (size_t i = 0; i < sizeof user_attrs / sizeof user_attrs[0]; i++)
        coerce_one(scim_schema_attr(&scim_schema_user, user_attrs[i]), value, NULL);
    coerce_one(scim_schema_attr(&scim_schema_enterprise_user, "manager"), value,
               "manager");
    coerce_one(scim_schema_attr(&scim_schema_group, "members"), value, "members");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xstrndup((const char *)data, size);
    json_error_t jerr;
    json_t *body =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    validate(&scim_rt_user, body, text);
    validate(&scim_rt_group, body, text);
    if (body)
        coerce(body);
    const char *key;
    json_t *val;
    if (json_is_object(body)) {
        json_object_foreach(body, key, val)
        {
            coerce(val);
        }
    }
    json_decref(body);
    free(text);
    return 0;
}
