/*
 * scim_v1.c - SCIM 1.1 <-> SCIM 2.0 translation of request bodies, PATCH
 * bodies, attribute paths, filters and reply documents, and the 1.1 discovery
 * documents. See scim_v1.h for the mapping.
 *
 * Every function builds a new value and never modifies its input. Keys are
 * matched without regard to case, as attribute names are (RFC 7643 section
 * 2.1, draft-scim-core-schema-01 section 3); anything this module does not
 * know is copied unchanged and left for the 2.0 validator, PATCH engine or
 * filter parser to judge, so the two dialects are refused with the same rules.
 */
#include "scim_v1.h"

#include <stdlib.h>
#include <string.h>

#include "scim_filter.h"
#include "util.h"

/* ------------------------------------------------------------------------ */
/* Shared helpers                                                           */
/* ------------------------------------------------------------------------ */

static const json_t *obj_get_ci(const json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (util_streq_ci(k, key))
            return v;
    }
    return NULL;
}

/* util_streq_ci for a string that may be NULL (a non-string JSON value). */
static bool eq_ci(const char *a, const char *b)
{
    return a && b && util_streq_ci(a, b);
}

static bool is_user(const struct scim_resource_type *rt)
{
    return rt != &scim_rt_group;
}

/* True when s is urn followed by ':' or '.' and at least one more byte;
 * *rest then points after the separator. */
static bool urn_rest(const char *s, const char *urn, const char **rest)
{
    size_t n = strlen(urn);
    if (!util_has_prefix_ci(s, urn) || (s[n] != ':' && s[n] != '.') || s[n + 1] == '\0')
        return false;
    *rest = s + n + 1;
    return true;
}

/* A copy of obj without the member named drop (any case). */
static json_t *copy_without(const json_t *obj, const char *drop)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!util_streq_ci(k, drop))
            json_object_set_new(out, k, json_deep_copy(v));
    }
    return out;
}

static bool lists_urn(const json_t *schemas, const char *urn)
{
    size_t i;
    json_t *s;
    json_array_foreach(schemas, i, s)
    {
        if (json_is_string(s) && util_streq_ci(json_string_value(s), urn))
            return true;
    }
    return false;
}

static json_t *fail(struct scim_error *err, const char *type, const char *detail)
{
    scim_error_set(err, 400, type, "%s", detail);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Paths and filters                                                        */
/* ------------------------------------------------------------------------ */

/* The enterprise manager's id is "managerId" in 1.1 and "value" in 2.0. */
static const char *manager_sub_to_v2(const char *path)
{
    return util_streq_ci(path, "manager.managerId") ? "manager.value" : path;
}

char *scim_v1_path_to_v2(const struct scim_resource_type *rt, const char *path)
{
    const char *rest;
    if (!path)
        return xstrdup("");
    if (urn_rest(path, SCIM_V1_SCHEMA_CORE, &rest))
        path = rest;
    else if (util_streq_ci(path, SCIM_V1_SCHEMA_CORE))
        return xstrdup((rt ? rt : &scim_rt_user)->schema->id);
    else if (is_user(rt) && util_streq_ci(path, SCIM_V1_SCHEMA_ENTERPRISE))
        return xstrdup(SCIM_SCHEMA_ENTERPRISE);
    else if (is_user(rt) && urn_rest(path, SCIM_V1_SCHEMA_ENTERPRISE, &rest))
        return xasprintf("%s:%s", SCIM_SCHEMA_ENTERPRISE, manager_sub_to_v2(rest));
    return xstrdup(is_user(rt) ? manager_sub_to_v2(path) : path);
}

char *scim_v1_paths_to_v2(const struct scim_resource_type *rt, const char *list)
{
    struct strbuf b = {0};
    const char *p = list ? list : "";
    for (;;) {
        size_t n = strcspn(p, ",");
        size_t lead = 0, len = n;
        while (lead < len && (p[lead] == ' ' || p[lead] == '\t'))
            lead++;
        while (len > lead && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char *one = xstrndup(p + lead, len - lead);
        char *mapped = scim_v1_path_to_v2(rt, one);
        strbuf_puts(&b, mapped);
        free(mapped);
        free(one);
        if (p[n] == '\0')
            break;
        strbuf_putc(&b, ',');
        p += n + 1;
    }
    return strbuf_detach(&b);
}

static bool filter_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool filter_punct(char c)
{
    return c == '(' || c == ')' || c == '[' || c == ']' || c == '"';
}

/* Length of the quoted string at s (s[0] is '"'), closing quote included, or
 * 0 when it does not end. */
static size_t quoted_len(const char *s)
{
    size_t i = 1;
    while (s[i] && s[i] != '"') {
        if (s[i] == '\\' && s[i + 1])
            i++;
        i++;
    }
    return s[i] == '"' ? i + 1 : 0;
}

static char *filter_fail(struct strbuf *b, struct scim_error *err, const char *detail)
{
    strbuf_clear(b);
    scim_error_set(err, 400, SCIM_TYPE_INVALID_FILTER, "%s", detail);
    return NULL;
}

char *scim_v1_filter_to_v2(const struct scim_resource_type *rt, const char *text,
                           struct scim_error *err)
{
    struct strbuf b = {0};
    if (!text || strlen(text) > SCIM_FILTER_MAX_LEN)
        return filter_fail(&b, err, "The filter is missing or too long.");
    int depth = 0;
    bool any = false;
    const char *p = text;
    while (*p) {
        if (filter_space(*p)) {
            strbuf_putc(&b, *p++);
            continue;
        }
        any = true;
        if (*p == '"') {
            size_t n = quoted_len(p);
            if (!n)
                return filter_fail(&b, err,
                                   "The filter has a string without its closing quote.");
            strbuf_append(&b, p, n);
            p += n;
        } else if (filter_punct(*p)) {
            depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
            if (depth < 0)
                return filter_fail(&b, err,
                                   "The filter closes a parenthesis it never opened.");
            strbuf_putc(&b, *p++);
        } else {
            size_t n = 0;
            while (p[n] && !filter_space(p[n]) && !filter_punct(p[n]))
                n++;
            char *word = xstrndup(p, n);
            char *mapped = scim_v1_path_to_v2(rt, word);
            strbuf_puts(&b, mapped);
            free(mapped);
            free(word);
            p += n;
        }
    }
    if (!any)
        return filter_fail(&b, err, "The filter is empty.");
    if (depth != 0)
        return filter_fail(&b, err, "The filter leaves a parenthesis open.");
    return strbuf_detach(&b);
}

/* ------------------------------------------------------------------------ */
/* Request bodies                                                           */
/* ------------------------------------------------------------------------ */

/* "schemas" lists the core schema, as 1.1 (or, leniently, 2.0) names it. */
static bool schemas_name_core(const struct scim_resource_type *rt, const json_t *s)
{
    if (!json_is_array(s))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(s, i, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return lists_urn(s, SCIM_V1_SCHEMA_CORE) || lists_urn(s, rt->schema->id);
}

static json_t *schemas_to_v2(const struct scim_resource_type *rt, const json_t *s)
{
    json_t *out = json_array();
    bool core = false;
    size_t i;
    json_t *v;
    json_array_foreach(s, i, v)
    {
        const char *urn = json_string_value(v);
        if (eq_ci(urn, SCIM_V1_SCHEMA_CORE) || eq_ci(urn, rt->schema->id)) {
            if (!core)
                json_array_append_new(out, json_string(rt->schema->id));
            core = true;
        } else if (is_user(rt) && eq_ci(urn, SCIM_V1_SCHEMA_ENTERPRISE)) {
            json_array_append_new(out, json_string(SCIM_SCHEMA_ENTERPRISE));
        } else {
            json_array_append(out, v);
        }
    }
    return out;
}

/* {"managerId": id, ...} -> {"value": id, ...}; other shapes are copied. */
static json_t *manager_to_v2(const json_t *m)
{
    if (!json_is_object(m))
        return json_deep_copy(m);
    const json_t *id = obj_get_ci(m, "managerId");
    if (!id || obj_get_ci(m, "value"))
        return json_deep_copy(m);
    json_t *out = copy_without(m, "managerId");
    json_object_set_new(out, "value", json_deep_copy(id));
    return out;
}

static json_t *enterprise_to_v2(const json_t *ext)
{
    if (!json_is_object(ext))
        return json_deep_copy(ext);
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ext, k, v)
    {
        json_object_set_new(
            out, k, util_streq_ci(k, "manager") ? manager_to_v2(v) : json_deep_copy(v));
    }
    return out;
}

static bool marked_delete(const json_t *elem)
{
    if (!json_is_object(elem))
        return false;
    return eq_ci(json_string_value(obj_get_ci(elem, "operation")), "delete");
}

/* An element without its 1.1 "operation" sub-attribute. */
static json_t *element_to_v2(const json_t *elem)
{
    return json_is_object(elem) ? copy_without(elem, "operation") : json_deep_copy(elem);
}

/* The elements of a multi-valued attribute that are (want_deleted) or are
 * not marked "operation": "delete", without that marker. */
static json_t *elements_to_v2(const json_t *arr, bool want_deleted)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (marked_delete(e) == want_deleted)
            json_array_append_new(out, element_to_v2(e));
    }
    return out;
}

/* The value of top-level key key2 (its 2.0 name), 1.1 -> 2.0. Arrays keep
 * their elements not marked deleted. */
static json_t *value_to_v2(const char *key2, const json_t *v)
{
    const char *rest;
    if (util_streq_ci(key2, SCIM_SCHEMA_ENTERPRISE))
        return enterprise_to_v2(v);
    if (urn_rest(key2, SCIM_SCHEMA_ENTERPRISE, &rest) && util_streq_ci(rest, "manager"))
        return manager_to_v2(v);
    if (json_is_array(v))
        return elements_to_v2(v, false);
    return json_deep_copy(v);
}

static bool dup_key(json_t *seen, const char *key2, struct scim_error *err)
{
    if (json_object_get(seen, key2)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX,
                       "The attribute \"%.64s\" is given more than once.", key2);
        return true;
    }
    json_object_set_new(seen, key2, json_true());
    return false;
}

static const char *const core_missing =
    "\"schemas\" must be an array of schema URNs listing " SCIM_V1_SCHEMA_CORE ".";

json_t *scim_v1_resource_to_v2(const struct scim_resource_type *rt, const json_t *body,
                               struct scim_error *err)
{
    if (!rt)
        rt = &scim_rt_user;
    if (!json_is_object(body))
        return fail(err, SCIM_TYPE_INVALID_SYNTAX,
                    "The request body must be a JSON object.");
    if (!schemas_name_core(rt, obj_get_ci(body, "schemas")))
        return fail(err, SCIM_TYPE_INVALID_SYNTAX, core_missing);
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        if (util_streq_ci(k, "meta"))
            continue; /* read-only in both versions */
        char *k2 =
            util_streq_ci(k, "schemas") ? xstrdup("schemas") : scim_v1_path_to_v2(rt, k);
        if (dup_key(out, k2, err)) {
            free(k2);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k2,
                            strcmp(k2, "schemas") == 0 ? schemas_to_v2(rt, v)
                                                       : value_to_v2(k2, v));
        free(k2);
    }
    return out;
}

/* PATCH ------------------------------------------------------------------ */

static void push_op(json_t *ops, const char *op, const char *path, json_t *value)
{
    json_t *o = json_pack("{s:s}", "op", op);
    if (path)
        json_object_set_new(o, "path", json_string(path));
    if (value)
        json_object_set_new(o, "value", value);
    json_array_append_new(ops, o);
}

/* meta.attributes: the attributes to clear before anything else. */
static bool meta_removals(const struct scim_resource_type *rt, const json_t *body,
                          json_t *ops, struct scim_error *err)
{
    const json_t *meta = obj_get_ci(body, "meta");
    const json_t *attrs = json_is_object(meta) ? obj_get_ci(meta, "attributes") : NULL;
    if (!attrs || json_is_null(attrs))
        return true;
    if (!json_is_array(attrs)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX,
                       "meta.attributes must be an array of attribute names.");
        return false;
    }
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        const char *name = json_string_value(a);
        if (!name || !*name || strlen(name) != json_string_length(a)) {
            scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX,
                           "meta.attributes[%zu] must be an attribute name.", i);
            return false;
        }
        char *path = scim_v1_path_to_v2(rt, name);
        push_op(ops, "remove", path, NULL);
        free(path);
    }
    return true;
}

/* Attributes of a 1.1 PATCH body that change nothing. */
static bool patch_skips(const struct scim_resource_type *rt, const char *key)
{
    return util_streq_ci(key, "schemas") || util_streq_ci(key, "meta") ||
           util_streq_ci(key, "id") || (is_user(rt) && util_streq_ci(key, "groups"));
}

/* Sorts one attribute of the body into removals (its deleted elements) and
 * the path-less "add" value (everything else). */
static void patch_attribute(const char *key2, const json_t *v, json_t *removals,
                            json_t *add)
{
    if (!json_is_array(v)) {
        json_object_set_new(add, key2, value_to_v2(key2, v));
        return;
    }
    json_t *gone = elements_to_v2(v, true), *kept = elements_to_v2(v, false);
    if (json_array_size(gone))
        push_op(removals, "remove", key2, json_incref(gone));
    if (json_array_size(kept) || !json_array_size(gone))
        json_object_set(add, key2, kept);
    json_decref(gone);
    json_decref(kept);
}

json_t *scim_v1_patch_to_v2(const struct scim_resource_type *rt, const json_t *body,
                            struct scim_error *err)
{
    if (!rt)
        rt = &scim_rt_user;
    if (!json_is_object(body))
        return fail(err, SCIM_TYPE_INVALID_SYNTAX,
                    "The PATCH body must be a JSON object.");
    const json_t *schemas = obj_get_ci(body, "schemas");
    if (json_is_array(schemas) && lists_urn(schemas, SCIM_SCHEMA_PATCHOP))
        return json_deep_copy(body);
    if (schemas && !json_is_null(schemas) && !schemas_name_core(rt, schemas))
        return fail(err, SCIM_TYPE_INVALID_SYNTAX, core_missing);
    json_t *ops = json_array(), *removals = json_array(), *add = json_object();
    json_t *seen = json_object();
    bool ok = meta_removals(rt, body, ops, err);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        if (!ok)
            break;
        char *k2 = scim_v1_path_to_v2(rt, k);
        if (!patch_skips(rt, k2)) {
            ok = !dup_key(seen, k2, err);
            if (ok)
                patch_attribute(k2, v, removals, add);
        }
        free(k2);
    }
    json_t *out = NULL;
    if (ok) {
        json_array_extend(ops, removals);
        if (json_object_size(add) || !json_array_size(ops))
            push_op(ops, "add", NULL, json_incref(add));
        out = json_pack("{s:[s],s:O}", "schemas", SCIM_SCHEMA_PATCHOP, "Operations", ops);
    }
    json_decref(ops);
    json_decref(removals);
    json_decref(add);
    json_decref(seen);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                  */
/* ------------------------------------------------------------------------ */

char *scim_v1_url_from_v2(const char *url, const struct scim_v1_urls *urls)
{
    if (!url || !urls || !urls->v2_base || !urls->v1_base || !*urls->v2_base)
        return NULL;
    size_t n = strlen(urls->v2_base);
    if (strncmp(url, urls->v2_base, n) != 0 ||
        (url[n] != '\0' && url[n] != '/' && url[n] != '?'))
        return NULL;
    return xasprintf("%s%s", urls->v1_base, url + n);
}

static json_t *schemas_from_v2(const json_t *s)
{
    json_t *out = json_array();
    bool core = false, ent = false;
    size_t i;
    json_t *v;
    json_array_foreach(s, i, v)
    {
        const char *urn = json_string_value(v);
        if (eq_ci(urn, SCIM_SCHEMA_USER) || eq_ci(urn, SCIM_SCHEMA_GROUP) ||
            eq_ci(urn, SCIM_V1_SCHEMA_CORE)) {
            if (!core)
                json_array_append_new(out, json_string(SCIM_V1_SCHEMA_CORE));
            core = true;
        } else if (eq_ci(urn, SCIM_SCHEMA_ENTERPRISE) ||
                   eq_ci(urn, SCIM_V1_SCHEMA_ENTERPRISE)) {
            if (!ent)
                json_array_append_new(out, json_string(SCIM_V1_SCHEMA_ENTERPRISE));
            ent = true;
        } else {
            json_array_append(out, v);
        }
    }
    return out;
}

/* 1.1 meta has no resourceType; its location is under the 1.1 base. */
static json_t *meta_from_v2(const json_t *meta, const struct scim_v1_urls *urls)
{
    json_t *out = copy_without(meta, "resourceType");
    const char *k;
    json_t *v;
    json_object_foreach(out, k, v)
    {
        if (!util_streq_ci(k, "location"))
            continue;
        char *loc = scim_v1_url_from_v2(json_string_value(v), urls);
        if (loc)
            json_object_set_new(out, k, json_string(loc));
        free(loc);
        break;
    }
    return out;
}

/* members and groups elements: 1.1 has no "$ref". */
static json_t *refs_dropped(const json_t *arr)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        json_array_append_new(out, json_is_object(e) ? copy_without(e, "$ref")
                                                     : json_deep_copy(e));
    }
    return out;
}

static json_t *manager_from_v2(const json_t *m)
{
    if (!json_is_object(m))
        return json_deep_copy(m);
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (util_streq_ci(k, "$ref"))
            continue;
        json_object_set_new(out, util_streq_ci(k, "value") ? "managerId" : k,
                            json_deep_copy(v));
    }
    return out;
}

static json_t *enterprise_from_v2(const json_t *ext)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ext, k, v)
    {
        json_object_set_new(
            out, k, util_streq_ci(k, "manager") ? manager_from_v2(v) : json_deep_copy(v));
    }
    return out;
}

static json_t *resource_from_v2(const json_t *doc, const struct scim_v1_urls *urls)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (util_streq_ci(k, "schemas") && json_is_array(v))
            json_object_set_new(out, k, schemas_from_v2(v));
        else if (util_streq_ci(k, SCIM_SCHEMA_ENTERPRISE) && json_is_object(v))
            json_object_set_new(out, SCIM_V1_SCHEMA_ENTERPRISE, enterprise_from_v2(v));
        else if (util_streq_ci(k, "meta") && json_is_object(v))
            json_object_set_new(out, k, meta_from_v2(v, urls));
        else if ((util_streq_ci(k, "members") || util_streq_ci(k, "groups")) &&
                 json_is_array(v))
            json_object_set_new(out, k, refs_dropped(v));
        else
            json_object_set_new(out, k, json_deep_copy(v));
    }
    return out;
}

static json_t *list_from_v2(const json_t *doc, const struct scim_v1_urls *urls)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (util_streq_ci(k, "schemas")) {
            json_object_set_new(out, k, json_pack("[s]", SCIM_V1_SCHEMA_CORE));
        } else if (util_streq_ci(k, "Resources") && json_is_array(v)) {
            json_t *res = json_array();
            size_t i;
            json_t *r;
            json_array_foreach(v, i, r)
            {
                json_array_append_new(res, json_is_object(r) ? resource_from_v2(r, urls)
                                                             : json_deep_copy(r));
            }
            json_object_set_new(out, k, res);
        } else {
            json_object_set_new(out, k, json_deep_copy(v));
        }
    }
    return out;
}

json_t *scim_v1_response_from_v2(const json_t *doc, const struct scim_v1_urls *urls)
{
    if (!json_is_object(doc))
        return doc ? json_deep_copy(doc) : NULL;
    const json_t *schemas = obj_get_ci(doc, "schemas");
    if (json_is_array(schemas) && lists_urn(schemas, SCIM_SCHEMA_LIST))
        return list_from_v2(doc, urls);
    return resource_from_v2(doc, urls);
}

/* ------------------------------------------------------------------------ */
/* Discovery                                                                */
/* ------------------------------------------------------------------------ */

static const struct scim_resource_type *const v1_types[] = {&scim_rt_user,
                                                            &scim_rt_group};

static json_t *supported(bool yes)
{
    return json_pack("{s:b}", "supported", yes);
}

static char *url_join(const char *base, const char *path)
{
    size_t n = base ? strlen(base) : 0;
    while (n > 0 && base[n - 1] == '/')
        n--;
    return xasprintf("%.*s%s", (int)n, base ? base : "", path);
}

static json_t *location_meta(const char *base, const char *path)
{
    char *loc = url_join(base, path);
    json_t *m = json_pack("{s:s}", "location", loc);
    free(loc);
    return m;
}

json_t *scim_v1_spc(const struct scim_spc_limits *limits, const char *base)
{
    static const struct scim_spc_limits defaults = {1000, 1048576, 1000, NULL};
    if (!limits)
        limits = &defaults;
    json_t *o = json_pack("{s:[s]}", "schemas", SCIM_V1_SCHEMA_CORE);
    if (limits->docs_url)
        json_object_set_new(o, "documentationUrl", json_string(limits->docs_url));
    json_object_set_new(o, "patch", supported(true));
    /* /Bulk is not served at /scim/v1; the limits are given all the same. */
    json_object_set_new(o, "bulk",
                        json_pack("{s:b,s:i,s:i}", "supported", 0, "maxOperations",
                                  limits->bulk_max_operations, "maxPayloadSize",
                                  limits->bulk_max_payload));
    json_object_set_new(
        o, "filter",
        json_pack("{s:b,s:i}", "supported", 1, "maxResults", limits->filter_max_results));
    json_object_set_new(o, "changePassword", supported(false));
    json_object_set_new(o, "sort", supported(true));
    json_object_set_new(o, "etag", supported(true));
    json_object_set_new(o, "xmlDataFormat", supported(false));
    json_t *scheme = json_pack(
        "{s:s,s:s,s:s,s:s,s:b}", "type", "oauthbearertoken", "name", "OAuth Bearer Token",
        "description",
        "Authentication with a SCIM token issued by the scimgate admin API, sent as an "
        "OAuth 2.0 bearer token.",
        "specUrl", "https://www.rfc-editor.org/info/rfc6750", "primary", 1);
    json_object_set_new(o, "authenticationSchemes", json_pack("[o]", scheme));
    json_object_set_new(o, "meta", location_meta(base, "/ServiceProviderConfigs"));
    return o;
}

static const char *type_v1(enum scim_attr_type t)
{
    switch (t) {
    case SCIM_TYPE_BOOLEAN:
        return "boolean";
    case SCIM_TYPE_DECIMAL:
        return "decimal";
    case SCIM_TYPE_INTEGER:
        return "integer";
    case SCIM_TYPE_DATETIME:
        return "dateTime";
    case SCIM_TYPE_BINARY:
        return "binary";
    case SCIM_TYPE_COMPLEX:
        return "complex";
    case SCIM_TYPE_STRING:
    case SCIM_TYPE_REFERENCE:
        return "string"; /* 1.1 has no reference type */
    }
    return "string";
}

/* Sub-attributes 1.1 does not have. */
static bool v1_skips_sub(const struct scim_attr *a)
{
    return strcmp(a->name, "$ref") == 0 || strcmp(a->name, "resourceType") == 0;
}

/* One attribute descriptor of draft-scim-core-schema-01 section 10. */
static json_t *attr_v1(const struct scim_attr *a, const char *schema, bool manager_id)
{
    json_t *o = json_pack("{s:s,s:s,s:b,s:s,s:s,s:b,s:b,s:b}", "name",
                          manager_id ? "managerId" : a->name, "type", type_v1(a->type),
                          "multiValued", a->multi_valued, "description",
                          a->description ? a->description : "", "schema", schema,
                          "readOnly", a->mutability == SCIM_MUT_READ_ONLY, "required",
                          a->required, "caseExact", a->case_exact);
    if (a->type == SCIM_TYPE_COMPLEX) {
        json_t *subs = json_array();
        bool manager = strcmp(a->name, "manager") == 0;
        for (const struct scim_attr *s = a->sub_attrs; s && s->name; s++) {
            if (!v1_skips_sub(s))
                json_array_append_new(
                    subs, attr_v1(s, schema, manager && strcmp(s->name, "value") == 0));
        }
        json_object_set_new(o, "subAttributes", subs);
    }
    return o;
}

static void append_attrs(json_t *arr, const struct scim_attr *list, const char *schema)
{
    for (; list && list->name; list++)
        json_array_append_new(arr, attr_v1(list, schema, false));
}

/* The common attributes (RFC 7643 section 3.1) are part of 1.1's core schema. */
static void append_common(json_t *arr, const struct scim_schema *s, const char *name)
{
    const struct scim_attr *a = scim_schema_attr(s, name);
    if (a)
        json_array_append_new(arr, attr_v1(a, SCIM_V1_SCHEMA_CORE, false));
}

json_t *scim_v1_schema(const struct scim_resource_type *rt, const char *base)
{
    if (!rt)
        rt = &scim_rt_user;
    json_t *attrs = json_array();
    append_common(attrs, rt->schema, "id");
    append_common(attrs, rt->schema, "externalId");
    append_attrs(attrs, rt->schema->attrs, SCIM_V1_SCHEMA_CORE);
    append_common(attrs, rt->schema, "meta");
    if (is_user(rt))
        append_attrs(attrs, scim_schema_enterprise_user.attrs, SCIM_V1_SCHEMA_ENTERPRISE);
    char *id = xasprintf("%s:%s", SCIM_V1_SCHEMA_CORE, rt->name);
    char *path = xasprintf("/Schemas/%s", rt->endpoint + 1);
    json_t *o =
        json_pack("{s:[s],s:s,s:s,s:s,s:s,s:s,s:o}", "schemas", SCIM_V1_SCHEMA_CORE, "id",
                  id, "name", rt->name, "description", rt->description, "schema",
                  SCIM_V1_SCHEMA_CORE, "endpoint", rt->endpoint, "attributes", attrs);
    json_object_set_new(o, "meta", location_meta(base, path));
    free(id);
    free(path);
    return o;
}

static json_t *v1_list(json_t *resources, bool list_urn)
{
    json_t *o = json_pack("{s:[s]}", "schemas", SCIM_V1_SCHEMA_CORE);
    if (list_urn)
        json_array_append_new(json_object_get(o, "schemas"),
                              json_string(SCIM_V1_SCHEMA_LIST));
    json_object_set_new(o, "totalResults",
                        json_integer((json_int_t)json_array_size(resources)));
    json_object_set_new(o, "itemsPerPage",
                        json_integer((json_int_t)json_array_size(resources)));
    json_object_set_new(o, "startIndex", json_integer(1));
    json_object_set_new(o, "Resources", resources);
    return o;
}

json_t *scim_v1_schemas_list(const char *base)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_LEN(v1_types); i++)
        json_array_append_new(arr, scim_v1_schema(v1_types[i], base));
    return v1_list(arr, true);
}

json_t *scim_v1_resource_type(const struct scim_resource_type *rt, const char *base)
{
    if (!rt)
        rt = &scim_rt_user;
    json_t *ext = json_array();
    if (is_user(rt))
        json_array_append_new(ext, json_pack("{s:s,s:b}", "schema",
                                             SCIM_V1_SCHEMA_ENTERPRISE, "required", 0));
    char *path = xasprintf("/ResourceTypes/%s", rt->id);
    json_t *o = json_pack("{s:[s],s:s,s:s,s:s,s:s,s:s,s:o}", "schemas",
                          SCIM_V1_SCHEMA_CORE, "id", rt->id, "name", rt->name, "endpoint",
                          rt->endpoint, "description", rt->description, "schema",
                          SCIM_V1_SCHEMA_CORE, "schemaExtensions", ext);
    json_object_set_new(o, "meta", location_meta(base, path));
    free(path);
    return o;
}

json_t *scim_v1_resource_types_list(const char *base)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_LEN(v1_types); i++)
        json_array_append_new(arr, scim_v1_resource_type(v1_types[i], base));
    return v1_list(arr, false);
}

const struct scim_resource_type *scim_v1_resource_type_find(const char *name)
{
    const char *rest;
    if (!name)
        return NULL;
    if (urn_rest(name, SCIM_V1_SCHEMA_CORE, &rest))
        name = rest;
    for (size_t i = 0; i < ARRAY_LEN(v1_types); i++) {
        const struct scim_resource_type *rt = v1_types[i];
        if (util_streq_ci(name, rt->id) || util_streq_ci(name, rt->endpoint + 1) ||
            util_streq_ci(name, rt->schema->id))
            return rt;
    }
    return NULL;
}
