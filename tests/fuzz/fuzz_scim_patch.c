/*
 * fuzz_scim_patch.c - libFuzzer target for the PATCH engine: the input is
 * parsed as JSON (any value) and applied as a PATCH body to a realistic User
 * document and to a Group document. Besides the sanitizers, it checks the
 * engine's promises: the input document is untouched, a failure leaves the
 * result empty with a 400 whose detail is valid UTF-8, a success yields an
 * object without a password and well-formed member operations.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scim_patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char user_text[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\","
    "\"urn:example:params:scim:schemas:extension:custom:2.0:User\"],"
    "\"userName\":\"bjensen@example.com\",\"externalId\":\"701984\",\"active\":true,"
    "\"name\":{\"familyName\":\"Jensen\",\"givenName\":\"Barbara\",\"formatted\":\"Ms. "
    "Barbara J Jensen III\"},\"displayName\":\"Babs Jensen\",\"nickName\":\"Babs\","
    "\"title\":\"Tour Guide\",\"emails\":[{\"value\":\"bjensen@example.com\",\"type\":"
    "\"work\",\"primary\":true},{\"value\":\"babs@jensen.org\",\"type\":\"home\"}],"
    "\"phoneNumbers\":[{\"value\":\"555-555-5555\",\"type\":\"work\"},{\"value\":"
    "\"555-555-4444\",\"type\":\"mobile\"}],\"addresses\":[{\"type\":\"work\","
    "\"streetAddress\":\"100 Universal City "
    "Plaza\",\"locality\":\"Hollywood\",\"region\":"
    "\"CA\",\"postalCode\":\"91608\",\"country\":\"USA\",\"primary\":true}],"
    "\"roles\":[{\"value\":\"admin\",\"type\":\"app\"}],"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"employeeNumber\":"
    "\"701984\",\"department\":\"Tour Operations\",\"manager\":{\"value\":\"26118915\","
    "\"$ref\":\"../Users/26118915\"}},"
    "\"urn:example:params:scim:schemas:extension:custom:2.0:User\":{\"tag\":\"701984\","
    "\"badges\":[\"gold\"]}}";

static const char group_text[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":"
    "\"Eng\",\"externalId\":\"60f1bb27-2e1e-402d-bcc4-ec999564a194\"}";

static json_t *user_doc, *group_doc;

static void check_member_ops(const struct scim_patch_result *r)
{
    if (r->n_member_ops && !r->member_ops)
        abort();
    for (size_t i = 0; i < r->n_member_ops; i++) {
        const struct scim_member_op *op = &r->member_ops[i];
        if (op->kind == SCIM_MEMBERS_REMOVE_ALL && (op->values || op->filter))
            abort();
        if (op->filter && (op->kind != SCIM_MEMBERS_REMOVE || op->values))
            abort();
        if (op->kind != SCIM_MEMBERS_REMOVE_ALL && !op->filter &&
            !json_is_array(op->values))
            abort();
        size_t k;
        json_t *m;
        json_array_foreach(op->values, k, m)
        {
            if (!json_is_string(json_object_get(m, "value")))
                abort();
        }
    }
}

/* Every extension object of doc is listed in its "schemas". */
static void check_schemas(const json_t *doc)
{
    const json_t *schemas = json_object_get(doc, "schemas");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        if (strncasecmp(key, "urn:", 4) != 0 || !json_is_object(v))
            continue;
        bool listed = false;
        size_t i;
        json_t *s;
        json_array_foreach(schemas, i, s)
        {
            listed = listed || strcasecmp(json_string_value(s), key) == 0;
        }
        if (!listed)
            abort();
    }
}

static void run(const struct scim_resource_type *rt, const json_t *doc,
                const json_t *body)
{
    json_t *before = json_deep_copy(doc);
    struct scim_patch_result r;
    struct scim_error err = {0};
    if (scim_patch_apply(rt, doc, body, &r, &err)) {
        if (!json_is_object(r.doc) || json_object_get(r.doc, "password"))
            abort();
        if (r.password && !r.changed)
            abort();
        check_member_ops(&r);
        check_schemas(r.doc);
        char *text = json_dumps(r.doc, 0);
        if (!text)
            abort();
        free(text);
    } else {
        if (err.status != 400 || !err.type || r.doc || r.member_ops || r.password)
            abort();
        json_t *e = scim_error_to_json(&err);
        if (!e)
            abort(); /* the detail is not valid UTF-8 */
        json_decref(e);
    }
    if (!json_equal(doc, before))
        abort();
    scim_patch_result_clear(&r);
    json_decref(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!user_doc) {
        user_doc = json_loads(user_text, 0, NULL);
        group_doc = json_loads(group_text, 0, NULL);
        if (!user_doc || !group_doc)
            abort();
    }
    json_t *body =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!body)
        return 0;
    run(&scim_rt_user, user_doc, body);
    run(&scim_rt_group, group_doc, body);
    json_decref(body);
    return 0;
}
