/*
 * fuzz_scim_v1.c - libFuzzer target for scim_v1.c: the input is read as a
 * 1.1 request body for both resource types (POST/PUT and PATCH), the results
 * are handed to the 2.0 validator and PATCH engine as the handlers would; it
 * is read as a 2.0 reply and translated to 1.1 (twice: the second changes
 * nothing); and the same bytes are read as a 1.1 filter, attribute list and
 * resource type name. Every refusal must be a 400 with a detail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scim_filter.h"
#include "scim_patch.h"
#include "scim_schema.h"
#include "scim_v1.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct scim_v1_urls urls = {"https://h.example/scim/v2",
                                         "https://h.example/scim/v1"};

/* A refusal is a 400 with a detail, and the result says so consistently. */
static void check(bool ok, struct scim_error *err)
{
    if (ok != (err->status == 0))
        abort();
    if (!ok && (err->status != 400 || !err->detail[0]))
        abort();
    scim_error_clear(err);
}

static void body_to_v2(const struct scim_resource_type *rt, const json_t *body)
{
    struct scim_error err = {0};
    json_t *v2 = scim_v1_resource_to_v2(rt, body, &err);
    check(v2 != NULL, &err);
    if (!v2)
        return;
    char *pw = NULL;
    json_t *doc = scim_schema_validate(rt, v2, SCIM_VALIDATE_CREATE, NULL, &pw, &err);
    check(doc != NULL, &err);
    free(pw);
    /* What the validator stored reads back as a 1.1 resource. */
    json_t *back = doc ? scim_v1_response_from_v2(doc, &urls) : NULL;
    if (doc && !json_is_object(back))
        abort();
    json_decref(back);
    json_decref(doc);
    json_decref(v2);
}

static void patch_to_v2(const struct scim_resource_type *rt, const json_t *body)
{
    struct scim_error err = {0};
    json_t *v2 = scim_v1_patch_to_v2(rt, body, &err);
    check(v2 != NULL, &err);
    if (!v2)
        return;
    json_t *doc =
        json_pack("{s:s,s:s,s:b,s:[{s:s}]}", "userName", "u@example.com", "displayName",
                  "G", "active", 1, "emails", "value", "u@example.com");
    struct scim_patch_result res = {0};
    bool ok = scim_patch_apply(rt, doc, v2, &res, &err);
    /* The engine's own refusals (tooMany included) are 400s as well. */
    if (ok != (err.status == 0) || (!ok && err.status != 400))
        abort();
    scim_patch_result_clear(&res);
    json_decref(doc);
    json_decref(v2);
}

static bool is_list(const json_t *doc)
{
    const json_t *s = json_object_get(doc, "schemas");
    size_t i;
    json_t *v;
    json_array_foreach(s, i, v)
    {
        if (json_is_string(v) && util_streq_ci(json_string_value(v), SCIM_SCHEMA_LIST))
            return true;
    }
    return false;
}

static void reply_to_v1(const json_t *doc)
{
    json_t *once = scim_v1_response_from_v2(doc, &urls);
    if ((doc == NULL) != (once == NULL))
        abort();
    if (json_is_object(doc) && !is_list(doc)) {
        json_t *twice = scim_v1_response_from_v2(once, &urls);
        if (!json_equal(once, twice))
            abort();
        json_decref(twice);
    }
    json_decref(once);
}

static void text_inputs(const char *text)
{
    const struct scim_resource_type *rts[] = {&scim_rt_user, &scim_rt_group};
    for (size_t i = 0; i < 2; i++) {
        struct scim_error err = {0};
        char *f = scim_v1_filter_to_v2(rts[i], text, &err);
        check(f != NULL, &err);
        struct scim_filter *parsed = f ? scim_filter_parse(f, rts[i], &err) : NULL;
        if (f && (parsed == NULL) != (err.status != 0))
            abort();
        scim_error_clear(&err);
        scim_filter_free(parsed);
        free(f);
        char *paths = scim_v1_paths_to_v2(rts[i], text);
        struct scim_projection *p = scim_projection_parse(rts[i], paths, NULL, &err);
        scim_projection_free(p);
        scim_error_clear(&err);
        free(paths);
    }
    scim_v1_resource_type_find(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xstrndup((const char *)data, size);
    text_inputs(text);
    json_error_t jerr;
    json_t *doc =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    const struct scim_resource_type *rts[] = {&scim_rt_user, &scim_rt_group};
    for (size_t i = 0; i < 2; i++) {
        body_to_v2(rts[i], doc);
        patch_to_v2(rts[i], doc);
    }
    reply_to_v1(doc);
    json_decref(doc);
    free(text);
    return 0;
}
