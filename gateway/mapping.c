/*
 * mapping.c - SCIM user -> product-side user: the default mapping, the
 * organization's compiled overrides and the comparison of two product users.
 */
#include "mapping.h"

#include <stdlib.h>
#include <string.h>

#include "mapping_expr.h"
#include "util.h"

enum id_attribute {
    ID_USER_NAME,   /* "userName" */
    ID_EXTERNAL_ID, /* "externalId" */
    ID_EMAIL,       /* "email" */
};

static const char *const id_names[] = {"userName", "externalId", "email"};

/* Product fields an expression may set; MAP_METADATA is public_metadata.<key>. */
enum mapping_target {
    MAP_EMAIL,       /* email_address */
    MAP_FIRST_NAME,  /* first_name */
    MAP_LAST_NAME,   /* last_name */
    MAP_EXTERNAL_ID, /* external_id */
    MAP_ROLE,        /* organization_role */
    MAP_METADATA,    /* public_metadata.<key> */
};

static const char *const target_names[MAP_METADATA] = {
    "email_address", "first_name", "last_name", "external_id", "organization_role",
};

#define METADATA_PREFIX "public_metadata."

struct mapping_rule {
    enum mapping_target target;
    char *key;                 /* public_metadata key (owned), or NULL */
    struct mapping_expr *expr; /* compiled expression (owned) */
};

struct mapping {
    enum id_attribute id_attr;
    struct mapping_rule *rules; /* product fields in enum order, then keys sorted */
    size_t nrules;
    bool uses_groups; /* some expression reads groups */
};

static struct mapping default_mapping = {ID_USER_NAME, NULL, 0, false};

const struct mapping *mapping_default(void)
{
    return &default_mapping;
}

void mapping_free(struct mapping *m)
{
    if (!m || m == &default_mapping)
        return;
    for (size_t i = 0; i < m->nrules; i++) {
        free(m->rules[i].key);
        mapping_expr_free(m->rules[i].expr);
    }
    free(m->rules);
    free(m);
}

/* ---- parsing the document ---- */

static bool parse_id_attribute(const json_t *v, struct mapping *m, struct scim_error *err)
{
    if (!v || json_is_null(v))
        return true;
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < ARRAY_LEN(id_names); i++) {
        if (util_streq_ci(s, id_names[i])) {
            m->id_attr = (enum id_attribute)i;
            return true;
        }
    }
    return scim_error_set(
        err, 400, SCIM_TYPE_INVALID_VALUE,
        "user_id_attribute must be \"userName\", \"externalId\" or \"email\".");
}

static bool valid_key(const char *key, size_t len)
{
    if (len == 0 || len > MAPPING_MAX_KEY)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Fills r->target and r->key from a target name. */
static bool parse_target(const char *name, size_t len, struct mapping_rule *r,
                         struct scim_error *err)
{
    for (size_t i = 0; i < ARRAY_LEN(target_names); i++) {
        if (len == strlen(target_names[i]) && memcmp(name, target_names[i], len) == 0) {
            r->target = (enum mapping_target)i;
            return true;
        }
    }
    size_t plen = strlen(METADATA_PREFIX);
    if (len >= plen && strncmp(name, METADATA_PREFIX, plen) == 0) {
        if (!valid_key(name + plen, len - plen))
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                                  "Invalid mapping target \"%.100s\": the key after "
                                  "\"public_metadata.\" must be 1 to %d ASCII letters, "
                                  "digits, \"_\" or \"-\".",
                                  name, MAPPING_MAX_KEY);
        r->target = MAP_METADATA;
        r->key = xstrdup(name + plen);
        return true;
    }
    return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                          "Unknown mapping target \"%.100s\": expected email_address, "
                          "first_name, last_name, external_id, organization_role or "
                          "public_metadata.<key>.",
                          name);
}

static bool parse_rule(const char *name, size_t len, const json_t *v,
                       struct mapping_rule *r, struct scim_error *err)
{
    if (!parse_target(name, len, r, err))
        return false;
    if (!json_is_string(v))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                              "The mapping of %s must be an expression in a string.",
                              name);
    struct mapping_expr_error xerr;
    r->expr = mapping_expr_parse(json_string_value(v), json_string_length(v), &xerr);
    if (!r->expr)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                              "Invalid expression for %s at position %zu: %s.", name,
                              xerr.position, xerr.message);
    return true;
}

static int rule_cmp(const void *a, const void *b)
{
    const struct mapping_rule *x = a, *y = b;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    return x->key && y->key ? strcmp(x->key, y->key) : 0;
}

static bool parse_rules(const json_t *map, struct mapping *m, struct scim_error *err)
{
    if (!map || json_is_null(map))
        return true;
    if (!json_is_object(map))
        return scim_error_set(
            err, 400, SCIM_TYPE_INVALID_VALUE,
            "mapping must be an object of target fields to expressions.");
    if (json_object_size(map) > MAPPING_MAX_TARGETS)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                              "mapping has more than %d targets.", MAPPING_MAX_TARGETS);
    m->rules = xcalloc(json_object_size(map) + 1, sizeof *m->rules);
    const char *name;
    size_t len;
    json_t *v;
    json_object_keylen_foreach ((json_t *)map, name, len, v) {
        struct mapping_rule *r = &m->rules[m->nrules++];
        if (!parse_rule(name, len, v, r, err))
            return false;
        m->uses_groups = m->uses_groups || mapping_expr_uses_groups(r->expr);
    }
    qsort(m->rules, m->nrules, sizeof *m->rules, rule_cmp);
    return true;
}

static bool check_members(const json_t *doc, struct scim_error *err)
{
    const char *key;
    size_t len;
    json_t *v;
    json_object_keylen_foreach ((json_t *)doc, key, len, v)
        if (!(len == 17 && strcmp(key, "user_id_attribute") == 0) &&
            !(len == 7 && strcmp(key, "mapping") == 0))
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                                  "Unknown member \"%.100s\": a mapping document has "
                                  "user_id_attribute and mapping.",
                                  key);
    return true;
}

struct mapping *mapping_parse(const json_t *doc, struct scim_error *err)
{
    if (!json_is_object(doc)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                       "The mapping must be a JSON object.");
        return NULL;
    }
    struct mapping *m = xcalloc(1, sizeof *m);
    m->id_attr = ID_USER_NAME;
    if (check_members(doc, err) &&
        parse_id_attribute(json_object_get(doc, "user_id_attribute"), m, err) &&
        parse_rules(json_object_get(doc, "mapping"), m, err))
        return m;
    mapping_free(m);
    return NULL;
}

static char *target_name(const struct mapping_rule *r)
{
    return r->target == MAP_METADATA ? xasprintf(METADATA_PREFIX "%s", r->key)
                                     : xstrdup(target_names[r->target]);
}

json_t *mapping_to_json(const struct mapping *m)
{
    if (!m)
        m = &default_mapping;
    json_t *map = json_object();
    for (size_t i = 0; i < m->nrules; i++) {
        struct strbuf b = {0};
        mapping_expr_print(m->rules[i].expr, &b);
        char *name = target_name(&m->rules[i]);
        json_object_set_new(map, name, json_string(b.s ? b.s : ""));
        free(name);
        strbuf_clear(&b);
    }
    return json_pack("{s:s,s:o}", "user_id_attribute", id_names[m->id_attr], "mapping",
                     map);
}

const char *mapping_user_id_attribute(const struct mapping *m)
{
    return id_names[(m ? m : &default_mapping)->id_attr];
}

bool mapping_uses_groups(const struct mapping *m)
{
    return m && m->uses_groups;
}

/* ---- the default mapping ---- */

/* A non-empty string member, or NULL. */
static const char *str_at(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
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
    json_array_foreach (emails, i, e) {
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

/* userName as an address: one "@" with text on both sides, a dot inside the
 * domain, no white space or control characters, and not an Entra guest UPN
 * ("alice_example.com#EXT#@contoso.onmicrosoft.com"), which is no mailbox. */
static bool looks_like_email(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dot = strchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0' || s[strlen(s) - 1] == '.')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7F)
            return false;
    for (const char *p = s; p < at; p++)
        if (util_has_prefix_ci(p, "#EXT#"))
            return false;
    return true;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *default_email(const json_t *doc)
{
    const char *email = email_of(doc);
    const char *user_name = str_at(doc, "userName");
    if (!email && user_name && looks_like_email(user_name))
        email = user_name;
    return str_or_null(email);
}

/* The default values of the product fields (new references). */
static void default_fields(const json_t *doc, json_t *field[MAP_METADATA])
{
    const json_t *name = json_object_get(doc, "name");
    field[MAP_EMAIL] = default_email(doc);
    field[MAP_FIRST_NAME] = str_or_null(str_at(name, "givenName"));
    field[MAP_LAST_NAME] = str_or_null(str_at(name, "familyName"));
    field[MAP_EXTERNAL_ID] = str_or_null(str_at(doc, "externalId"));
    field[MAP_ROLE] = json_string("org:member");
}

/* ---- overrides ---- */

static void apply_rules(const struct mapping *m, const struct mapping_user *u,
                        json_t *field[MAP_METADATA], json_t *meta)
{
    for (size_t i = 0; i < m->nrules; i++) {
        const struct mapping_rule *r = &m->rules[i];
        if (r->target != MAP_METADATA) {
            json_decref(field[r->target]);
            field[r->target] = mapping_expr_eval_text(r->expr, u->doc, u->groups);
            continue;
        }
        json_t *v = mapping_expr_eval(r->expr, u->doc, u->groups);
        if (json_is_null(v))
            json_decref(v);
        else
            json_object_set_new(meta, r->key, v);
    }
}

static json_t *identifier(const struct mapping *m, const json_t *doc, const json_t *email)
{
    json_t *value;
    switch (m->id_attr) {
    case ID_EXTERNAL_ID:
        value = str_or_null(str_at(doc, "externalId"));
        break;
    case ID_EMAIL:
        value = json_incref((json_t *)email);
        break;
    default:
        value = str_or_null(str_at(doc, "userName"));
        break;
    }
    return json_pack("{s:s,s:o}", "attribute", id_names[m->id_attr], "value", value);
}

static json_t *ms_or_null(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

json_t *mapping_product_user(const struct mapping *m, const struct mapping_user *u)
{
    if (!m)
        m = &default_mapping;
    json_t *f[MAP_METADATA], *meta = json_object();
    default_fields(u->doc, f);
    apply_rules(m, u, f, meta);
    json_t *id = identifier(m, u->doc, f[MAP_EMAIL]);
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o}", "id",
                     u->id ? u->id : "", "object", "user", "organization_id",
                     u->org_id ? u->org_id : "", "email_address", f[MAP_EMAIL],
                     "first_name", f[MAP_FIRST_NAME], "last_name", f[MAP_LAST_NAME],
                     "external_id", f[MAP_EXTERNAL_ID], "active", u->active,
                     "organization_role", f[MAP_ROLE], "public_metadata", meta,
                     "identifier", id, "created_at", ms_or_null(u->created_ms),
                     "updated_at", ms_or_null(u->updated_ms), "deleted_at",
                     ms_or_null(u->deleted_ms));
}

/* ---- comparison ---- */

json_t *mapping_changed_fields(const json_t *before, const json_t *after,
                               json_t **previous)
{
    static const char *const ignored[] = {"created_at", "updated_at", "object", "id",
                                          "organization_id"};
    json_t *changed = json_array();
    *previous = json_object();
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)after, key, v) {
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
