/*
 * mapping.c - SCIM user -> product-side user.
 */
#include "mapping.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

enum id_attribute {
    ID_USER_NAME,   /* "userName" */
    ID_EXTERNAL_ID, /* "externalId" */
    ID_EMAIL,       /* "email" */
};

struct mapping {
    enum id_attribute id_attr;
    json_t *overrides; /* {"field": "expression"} as configured */
};

static struct mapping default_mapping = {ID_USER_NAME, NULL};

const struct mapping *mapping_default(void)
{
    return &default_mapping;
}

static const char *const id_names[] = {"userName", "externalId", "email"};

struct mapping *mapping_parse(const json_t *doc, struct scim_error *err)
{
    if (!json_is_object(doc)) {
        scim_error_set(err, 400, NULL, "The mapping must be a JSON object.");
        return NULL;
    }
    struct mapping *m = xcalloc(1, sizeof *m);
    const char *id = json_string_value(json_object_get(doc, "user_id_attribute"));
    m->id_attr = ID_USER_NAME;
    if (id) {
        size_t i;
        for (i = 0; i < ARRAY_LEN(id_names); i++)
            if (strcmp(id, id_names[i]) == 0)
                break;
        if (i == ARRAY_LEN(id_names)) {
            free(m);
            scim_error_set(err, 400, NULL,
                           "user_id_attribute must be \"userName\", \"externalId\" or \"email\".");
            return NULL;
        }
        m->id_attr = (enum id_attribute)i;
    }
    const json_t *over = json_object_get(doc, "mapping");
    m->overrides = json_is_object(over) ? json_deep_copy(over) : json_object();
    return m;
}

void mapping_free(struct mapping *m)
{
    if (!m || m == &default_mapping)
        return;
    json_decref(m->overrides);
    free(m);
}

json_t *mapping_to_json(const struct mapping *m)
{
    return json_pack("{s:s,s:O}", "user_id_attribute", id_names[m->id_attr], "mapping",
                     m->overrides ? m->overrides : json_object());
}

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Primary email, else the first work email, else the first email. */
static const char *email_of(const json_t *doc)
{
    const json_t *emails = json_object_get(doc, "emails");
    if (!json_is_array(emails))
        return NULL;
    size_t i;
    json_t *e;
    const char *first = NULL, *work = NULL;
    json_array_foreach(emails, i, e) {
        const char *v = str_at(e, "value");
        if (!v)
            continue;
        if (json_is_true(json_object_get(e, "primary")))
            return v;
        if (!work && str_at(e, "type") && util_streq_ci(str_at(e, "type"), "work"))
            work = v;
        if (!first)
            first = v;
    }
    return work ? work : first;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *ms_or_null(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

json_t *mapping_product_user(const struct mapping *m, const struct mapping_user *u)
{
    (void)m;
    const json_t *doc = u->doc;
    const json_t *name = json_object_get(doc, "name");
    const char *user_name = str_at(doc, "userName");
    const char *email = email_of(doc);
    if (!email && user_name && strchr(user_name, '@'))
        email = user_name;
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:b,s:s,s:o,s:o,s:o,s:o}", "id", u->id,
                     "object", "user", "organization_id", u->org_id, "email_address",
                     str_or_null(email), "first_name", str_or_null(str_at(name, "givenName")),
                     "last_name", str_or_null(str_at(name, "familyName")), "external_id",
                     str_or_null(str_at(doc, "externalId")), "active", u->active,
                     "organization_role", "org:member", "public_metadata", json_object(),
                     "created_at", ms_or_null(u->created_ms), "updated_at",
                     ms_or_null(u->updated_ms), "deleted_at", ms_or_null(u->deleted_ms));
}

json_t *mapping_changed_fields(const json_t *before, const json_t *after, json_t **previous)
{
    static const char *const ignored[] = {"created_at", "updated_at", "object", "id",
                                          "organization_id"};
    json_t *changed = json_array();
    *previous = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)after, key, v) {
        bool skip = false;
        for (size_t i = 0; i < ARRAY_LEN(ignored); i++)
            skip = skip || strcmp(key, ignored[i]) == 0;
        if (skip)
            continue;
        json_t *old = json_object_get(before, key);
        if (old && json_equal(old, v))
            continue;
        json_array_append_new(changed, json_string(key));
        json_object_set(*previous, key, old ? old : json_null());
    }
    return changed;
}
