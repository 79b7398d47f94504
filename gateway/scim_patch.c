/*
 * scim_patch.c - the PATCH engine: applies the operations of a PatchOp body
 * (RFC 7644 section 3.5.2) to a private copy of a stored document, in the
 * forms Okta and Microsoft Entra ID send, and turns every operation on group
 * members into a set operation for the caller to run against its rows.
 *
 * How it works. scim_patch_apply deep-copies the document once, then applies
 * the operations in order to that copy through a "slot": the object holding
 * the attribute (the document itself, or the object under an extension URN)
 * and the attribute's canonical name and definition. Every value is checked
 * and normalised against the attribute's definition before it is stored
 * (canonical sub-attribute names, "True"/"False" strings as booleans, a bare
 * string as {"value": ...} for complex attributes with a "value"). Values are
 * never shared between the body and the result. On the first error the copy
 * and everything collected are dropped: all operations apply or none.
 *
 * Where the RFC and the clients disagree, the clients win when the intent is
 * clear (the choices are listed in the report and the fixtures):
 *
 * - A filtered path that matches nothing ("emails[type eq \"work\"].value"
 *   when there is no work email) creates the element from the filter's
 *   equality tests and the value, for add and replace, as Entra ID expects.
 *   Only a filter that names no such element ("co", "or", "not", ...) is the
 *   RFC's 400 noTarget. A remove matching nothing changes nothing.
 * - Replacing selected elements keeps the filter's equality tests as their
 *   defaults, so "addresses[type eq \"work\"]" stays a work address.
 * - Removing the "value" of an element (or of "manager") removes the element:
 *   an email without an address is not kept. Elements and complex attributes
 *   left without sub-attributes are removed too.
 * - Removing a required attribute (userName, displayName), or setting it to
 *   null, is 400 mutability, as RFC 7644 section 3.5.2.2 says for required
 *   and readOnly attributes. readOnly attributes named by a path are 400
 *   mutability; inside a path-less value (Okta sends "id") they are ignored,
 *   as are "schemas" and "meta".
 * - "remove" with a "value" on a multi-valued attribute removes the values
 *   listed (Entra ID's form for members); on a single-valued attribute the
 *   value is ignored and the attribute removed (Entra ID's manager removal).
 * - Adding a value equal to an existing one, or with the same "value" and
 *   "type", changes nothing but the sub-attributes it brings; a value made
 *   primary makes the others "primary": false (RFC 7644 section 3.5.2).
 */
#include "scim_patch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Longest name or path echoed back in an error detail, in bytes. */
#define PATCH_ECHO_MAX 64
/* Longest string value accepted (as scim_schema_validate). */
#define PATCH_MAX_STRING 65536

enum patch_verb {
    PATCH_ADD,     /* "add" */
    PATCH_REPLACE, /* "replace" */
    PATCH_REMOVE,  /* "remove" */
};

/* State of one scim_patch_apply call. */
struct patch_ctx {
    const struct scim_resource_type *rt;
    json_t *doc;                 /* the working copy (owned) */
    struct scim_member_op *mops; /* member operations so far (owned) */
    size_t n_mops;
    size_t cap_mops;
    char *password;              /* set by the PATCH (owned), or NULL */
    size_t index;                /* index of the operation being applied */
    const char *path;            /* its path or path-less key (borrowed), or NULL */
    bool pathless;               /* applying a member of a path-less value */
    struct scim_error *err;      /* receives the first error */
};

/* Where an attribute lives in the working document. */
struct slot {
    json_t *holder;              /* object holding the attribute, NULL until needed */
    const char *ext_key;         /* the extension URN key of holder, or NULL (core) */
    const char *key;             /* canonical attribute name (as written when unknown) */
    const struct scim_attr *def; /* NULL for attributes of unknown extensions */
};

static bool apply_path_text(struct patch_ctx *c, enum patch_verb verb, const char *text,
                            const json_t *value);
static json_t *norm_single(struct patch_ctx *c, const struct scim_attr *def,
                           const json_t *v, bool unwrap);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Bytes of s to echo: at most PATCH_ECHO_MAX, never ending inside a UTF-8
 * sequence (jansson strings are valid UTF-8). */
static int echo_len(const char *s)
{
    size_t n = strnlen(s, PATCH_ECHO_MAX + 1);
    if (n <= PATCH_ECHO_MAX)
        return (int)n;
    n = PATCH_ECHO_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* Cuts a trailing incomplete UTF-8 sequence that snprintf truncation left. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < want)
        s[i - 1] = '\0';
}

static bool fail(struct patch_ctx *c, const char *type, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

/* Sets a 400 error naming the operation and its path; returns false. */
static bool fail(struct patch_ctx *c, const char *type, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_trim(msg);
    if (!c->path)
        return scim_error_set(c->err, 400, type, "Operations[%zu]: %s", c->index, msg);
    return scim_error_set(c->err, 400, type, "Operations[%zu] (%s \"%.*s\"): %s", c->index,
                          c->pathless ? "attribute" : "path", echo_len(c->path), c->path,
                          msg);
}

/* ------------------------------------------------------------------------ */
/* Objects with case-insensitive member names                               */
/* ------------------------------------------------------------------------ */

/* The member of obj named key in any case (the exact spelling first). */
static json_t *obj_get_ci(const json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (v)
        return v;
    const char *k;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (util_streq_ci(k, key))
            return v;
    }
    return NULL;
}

/* Deletes every spelling of key from obj. */
static void obj_del_ci(json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, k, v)
    {
        if (util_streq_ci(k, key))
            json_object_del(obj, k);
    }
}

/* obj[key] = v (stolen), replacing any other spelling of key. */
static void obj_set_ci(json_t *obj, const char *key, json_t *v)
{
    if (!json_object_get(obj, key))
        obj_del_ci(obj, key);
    json_object_set_new(obj, key, v);
}

/* ------------------------------------------------------------------------ */
/* Values: type checks and normalisation                                    */
/* ------------------------------------------------------------------------ */

static bool is_string_ok(const json_t *v)
{
    size_t n = json_string_length(v);
    return n <= PATCH_MAX_STRING && strlen(json_string_value(v)) == n;
}

static json_t *norm_string(struct patch_ctx *c, const struct scim_attr *def, const json_t *v)
{
    if (!json_is_string(v)) {
        fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s\" must be a string", def->name);
        return NULL;
    }
    if (!is_string_ok(v)) {
        fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s\" is longer than %d bytes or holds NUL",
             def->name, PATCH_MAX_STRING);
        return NULL;
    }
    int64_t ms;
    if (def->type == SCIM_TYPE_DATETIME && !util_parse_rfc3339(json_string_value(v), &ms)) {
        fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s\" must be an xsd:dateTime", def->name);
        return NULL;
    }
    return json_stringn(json_string_value(v), json_string_length(v));
}

/* Booleans, and the strings "True"/"False" in any case (Entra ID). */
static json_t *norm_boolean(struct patch_ctx *c, const struct scim_attr *def, const json_t *v)
{
    if (json_is_boolean(v))
        return json_boolean(json_is_true(v));
    const char *s = json_string_value(v);
    if (s && util_streq_ci(s, "true"))
        return json_true();
    if (s && util_streq_ci(s, "false"))
        return json_false();
    fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s\" must be a boolean", def->name);
    return NULL;
}

static json_t *norm_number(struct patch_ctx *c, const struct scim_attr *def, const json_t *v)
{
    if (def->type == SCIM_TYPE_INTEGER && json_is_integer(v))
        return json_integer(json_integer_value(v));
    if (def->type == SCIM_TYPE_DECIMAL && json_is_number(v))
        return json_real(json_number_value(v));
    fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s\" must be %s", def->name,
         def->type == SCIM_TYPE_INTEGER ? "an integer" : "a number");
    return NULL;
}

/* A complex value given as an object: canonical sub-attribute names, typed
 * sub-values; null and readOnly sub-attributes are dropped. An object left
 * empty is unassigned (JSON null). */
static json_t *norm_object(struct patch_ctx *c, const struct scim_attr *def, const json_t *v)
{
    json_t *out = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        const struct scim_attr *sub = scim_attr_sub(def, k);
        if (!sub) {
            json_decref(out);
            fail(c, SCIM_TYPE_INVALID_VALUE, "unknown sub-attribute \"%.*s\" of \"%s\"",
                 echo_len(k), k, def->name);
            return NULL;
        }
        if (json_is_null(x) || sub->mutability == SCIM_MUT_READ_ONLY)
            continue;
        if (sub->type == SCIM_TYPE_COMPLEX) {
            json_decref(out);
            fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s.%s\" cannot be nested", def->name,
                 sub->name);
            return NULL;
        }
        json_t *nx = norm_single(c, sub, x, false);
        if (!nx) {
            json_decref(out);
            return NULL;
        }
        if (json_is_null(nx))
            json_decref(nx);
        else
            json_object_set_new(out, sub->name, nx);
    }
    if (json_object_size(out) > 0)
        return out;
    json_decref(out);
    return json_null();
}

/* A complex value: an object; a bare value for the "value" sub-attribute
 * (Entra ID sends manager as an id string); with unwrap, a one-element array
 * (Entra ID's "manager": [{"value": ...}]). */
static json_t *norm_complex(struct patch_ctx *c, const struct scim_attr *def, const json_t *v,
                            bool unwrap)
{
    if (json_is_object(v))
        return norm_object(c, def, v);
    if (json_is_array(v) && unwrap && json_array_size(v) <= 1)
        return json_array_size(v) ? norm_complex(c, def, json_array_get(v, 0), false)
                                  : json_null();
    if (json_is_array(v) && unwrap) {
        fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s\" takes a single value", def->name);
        return NULL;
    }
    const struct scim_attr *value_def = scim_attr_sub(def, "value");
    if (value_def && !json_is_array(v)) {
        if (json_is_string(v) && json_string_length(v) == 0)
            return json_null();
        json_t *nv = norm_single(c, value_def, v, false);
        return nv ? json_pack("{s:o}", value_def->name, nv) : NULL;
    }
    fail(c, SCIM_TYPE_INVALID_VALUE, "\"%s\" must be an object", def->name);
    return NULL;
}

/* One value of def (one element when def is multi-valued): a new reference,
 * JSON null when the value is unassigned, or NULL with the error set. */
static json_t *norm_single(struct patch_ctx *c, const struct scim_attr *def,
                           const json_t *v, bool unwrap)
{
    if (json_is_null(v))
        return json_null();
    switch (def->type) {
    case SCIM_TYPE_COMPLEX:
        return norm_complex(c, def, v, unwrap);
    case SCIM_TYPE_BOOLEAN:
        return norm_boolean(c, def, v);
    case SCIM_TYPE_INTEGER:
    case SCIM_TYPE_DECIMAL:
        return norm_number(c, def, v);
    default:
        return norm_string(c, def, v);
    }
}

/* The values of a multi-valued attribute as an array (a single value counts
 * as a one-element array); null elements are dropped. */
static json_t *norm_multi(struct patch_ctx *c, const struct scim_attr *def, const json_t *v)
{
    json_t *out = json_array();
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (n > SCIM_PATCH_MAX_VALUES) {
        json_decref(out);
        fail(c, SCIM_TYPE_INVALID_VALUE, "more than %d values for \"%s\"",
             SCIM_PATCH_MAX_VALUES, def ? def->name : "attribute");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        json_t *ne = def ? norm_single(c, def, e, false) : json_deep_copy(e);
        if (!ne) {
            json_decref(out);
            return NULL;
        }
        if (json_is_null(ne))
            json_decref(ne);
        else
            json_array_append_new(out, ne);
    }
    return out;
}

/* ------------------------------------------------------------------------ */
/* Slots                                                                    */
/* ------------------------------------------------------------------------ */

static void slot_init(struct patch_ctx *c, struct slot *s, const struct scim_attr_path *ap)
{
    memset(s, 0, sizeof *s);
    s->def = ap->attr_def;
    s->key = ap->attr_def ? ap->attr_def->name : ap->attr;
    if (!ap->in_extension) {
        s->holder = c->doc;
        return;
    }
    s->ext_key = ap->schema ? ap->schema->id : ap->urn;
    if (!s->ext_key) {
        s->holder = c->doc;
        return;
    }
    json_t *h = obj_get_ci(c->doc, s->ext_key);
    if (!json_is_object(h))
        return;
    s->holder = h;
    if (ap->schema && !json_object_get(c->doc, s->ext_key)) {
        json_incref(h); /* known extensions are stored under their canonical URN */
        obj_set_ci(c->doc, s->ext_key, h);
    }
}

/* The holder, created (as an empty extension object) when absent. */
static json_t *slot_holder(struct patch_ctx *c, struct slot *s)
{
    if (!s->holder) {
        s->holder = json_object();
        obj_set_ci(c->doc, s->ext_key, s->holder);
    }
    return s->holder;
}

static json_t *slot_get(const struct slot *s)
{
    json_t *v = s->holder ? obj_get_ci(s->holder, s->key) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* Stores v (stolen) as the attribute's value. */
static void slot_set(struct patch_ctx *c, struct slot *s, json_t *v)
{
    obj_set_ci(slot_holder(c, s), s->key, v);
}

/* Deletes the attribute; an extension object left empty goes too. */
static void slot_del(struct patch_ctx *c, struct slot *s)
{
    if (!s->holder)
        return;
    obj_del_ci(s->holder, s->key);
    if (s->ext_key && json_object_size(s->holder) == 0) {
        obj_del_ci(c->doc, s->ext_key);
        s->holder = NULL;
    }
}

/* Removes the attribute, refusing required attributes (RFC 7644 section
 * 3.5.2.2) and set immutable ones. */
static bool slot_unassign(struct patch_ctx *c, struct slot *s)
{
    if (s->def && s->def->required)
        return fail(c, SCIM_TYPE_MUTABILITY, "\"%s\" is required and cannot be removed",
                    s->def->name);
    if (s->def && s->def->mutability == SCIM_MUT_IMMUTABLE && slot_get(s))
        return fail(c, SCIM_TYPE_MUTABILITY, "\"%s\" is immutable", s->def->name);
    slot_del(c, s);
    return true;
}

/* The current values of the attribute as a new array (a stored non-array
 * value counts as one element). */
static json_t *slot_elements(const struct slot *s)
{
    json_t *cur = slot_get(s);
    if (json_is_array(cur))
        return json_copy(cur);
    json_t *arr = json_array();
    if (cur)
        json_array_append(arr, cur);
    return arr;
}

/* Stores elements (stolen) as the attribute: the array when multi-valued,
 * else its one element; nothing left unassigns the attribute. */
static bool slot_store(struct patch_ctx *c, struct slot *s, bool multi, json_t *elements,
                       size_t before)
{
    size_t n = json_array_size(elements);
    if (n == 0) {
        json_decref(elements);
        return slot_get(s) ? slot_unassign(c, s) : true;
    }
    if (n > SCIM_PATCH_MAX_VALUES && n > before) {
        json_decref(elements);
        return fail(c, SCIM_TYPE_INVALID_VALUE, "more than %d values for \"%s\"",
                    SCIM_PATCH_MAX_VALUES, s->key);
    }
    if (multi) {
        slot_set(c, s, elements);
        return true;
    }
    slot_set(c, s, json_incref(json_array_get(elements, 0)));
    json_decref(elements);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Multi-valued attributes                                                  */
/* ------------------------------------------------------------------------ */

static bool is_primary(const json_t *e)
{
    return json_is_true(obj_get_ci(e, "primary"));
}

/* At most one element stays primary: keep when it is primary, else the
 * first; the others get "primary": false (RFC 7644 section 3.5.2). */
static void fix_primary(json_t *arr, const struct scim_attr *def, const json_t *keep)
{
    if (!def || !scim_attr_sub(def, "primary"))
        return;
    size_t i;
    json_t *e;
    const json_t *winner = keep && is_primary(keep) ? keep : NULL;
    json_array_foreach(arr, i, e)
    {
        if (!is_primary(e))
            continue;
        if (!winner)
            winner = e;
        else if (e != winner)
            obj_set_ci(e, "primary", json_false());
    }
}

/* Two strings equal by the case rule of their definition. */
static bool str_same(const json_t *a, const json_t *b, const struct scim_attr *def)
{
    if (!json_is_string(a) || !json_is_string(b))
        return json_equal(a, b);
    if (def && def->case_exact)
        return json_equal(a, b);
    return util_streq_ci(json_string_value(a), json_string_value(b));
}

/* Whether x and e name the same value: equal, or the same "value" and
 * "type" (when the attribute has a "value" sub-attribute). */
static bool same_value(const json_t *x, const json_t *e, const struct scim_attr *def)
{
    const struct scim_attr *vdef = def ? scim_attr_sub(def, "value") : NULL;
    if (!vdef || !json_is_object(x) || !json_is_object(e))
        return json_equal(x, e);
    const json_t *xv = obj_get_ci(x, "value"), *ev = obj_get_ci(e, "value");
    if (!xv || !ev || !str_same(xv, ev, vdef))
        return json_equal(x, e);
    const json_t *xt = obj_get_ci(x, "type"), *et = obj_get_ci(e, "type");
    return (!xt && !et) || (xt && et && str_same(xt, et, NULL));
}

/* Whether element e is one of the values listed for removal. */
static bool listed(const json_t *vals, const json_t *e, const struct scim_attr *def)
{
    size_t i;
    json_t *r;
    json_array_foreach(vals, i, r)
    {
        if (!json_is_object(r) || !json_is_object(e) || !obj_get_ci(r, "value")) {
            if (json_equal(r, e))
                return true;
            continue;
        }
        const json_t *rt = obj_get_ci(r, "type"), *et = obj_get_ci(e, "type");
        const struct scim_attr *vdef = def ? scim_attr_sub(def, "value") : NULL;
        if (str_same(obj_get_ci(r, "value"), obj_get_ci(e, "value"), vdef) &&
            (!rt || (et && str_same(rt, et, NULL))))
            return true;
    }
    return false;
}

/* "add" of values to a multi-valued attribute: appended unless already there. */
static bool multi_add(struct patch_ctx *c, struct slot *s, json_t *vals)
{
    json_t *arr = slot_elements(s);
    size_t before = json_array_size(arr), i, j;
    const json_t *keep = NULL;
    json_t *e, *x;
    json_array_foreach(vals, i, e)
    {
        json_t *found = NULL;
        json_array_foreach(arr, j, x)
        {
            if (same_value(x, e, s->def)) {
                found = x;
                break;
            }
        }
        if (found && json_is_object(found) && json_is_object(e))
            json_object_update(found, e);
        else if (!found)
            json_array_append(arr, e);
        if (is_primary(e))
            keep = found ? found : e;
    }
    json_decref(vals);
    fix_primary(arr, s->def, keep);
    return slot_store(c, s, true, arr, before);
}

/* "remove" with a value on a multi-valued attribute: the listed values go. */
static bool multi_remove_listed(struct patch_ctx *c, struct slot *s, const json_t *value)
{
    json_t *vals = norm_multi(c, s->def, value);
    if (!vals)
        return false;
    json_t *arr = slot_elements(s), *out = json_array(), *e;
    size_t before = json_array_size(arr), i;
    json_array_foreach(arr, i, e)
    {
        if (!listed(vals, e, s->def))
            json_array_append(out, e);
    }
    json_decref(vals);
    json_decref(arr);
    if (json_array_size(out) == before) {
        json_decref(out);
        return true;
    }
    return slot_store(c, s, true, out, before);
}

/* ------------------------------------------------------------------------ */
/* Operations on a whole attribute (no filter, no sub-attribute)            */
/* ------------------------------------------------------------------------ */

/* Attributes of unknown extensions: kept verbatim; "add" to an array appends. */
static bool unknown_set(struct patch_ctx *c, enum patch_verb verb, struct slot *s,
                        const json_t *value)
{
    if (json_is_null(value)) {
        slot_del(c, s);
        return true;
    }
    json_t *cur = slot_get(s);
    if (verb == PATCH_ADD && json_is_array(cur)) {
        json_t *vals = norm_multi(c, NULL, value);
        return vals && multi_add(c, s, vals);
    }
    slot_set(c, s, json_deep_copy(value));
    return true;
}

static bool multi_set(struct patch_ctx *c, enum patch_verb verb, struct slot *s,
                      const json_t *value)
{
    if (json_is_null(value))
        return verb == PATCH_REPLACE ? slot_unassign(c, s) : true;
    json_t *vals = norm_multi(c, s->def, value);
    if (!vals)
        return false;
    if (verb == PATCH_ADD) {
        if (json_array_size(vals) == 0) {
            json_decref(vals);
            return true;
        }
        return multi_add(c, s, vals);
    }
    fix_primary(vals, s->def, NULL);
    return slot_store(c, s, true, vals, 0);
}

/* Single-valued: "add" and "replace" both set; a complex value is merged
 * into the current one (RFC 7644 sections 3.5.2.1 and 3.5.2.3). */
static bool single_set(struct patch_ctx *c, struct slot *s, const json_t *value)
{
    json_t *nv = norm_single(c, s->def, value, true);
    if (!nv)
        return false;
    if (json_is_null(nv)) {
        json_decref(nv);
        return slot_unassign(c, s);
    }
    json_t *cur = slot_get(s);
    if (s->def->type == SCIM_TYPE_COMPLEX && json_is_object(cur)) {
        json_t *merged = json_copy(cur);
        json_object_update(merged, nv);
        json_decref(nv);
        nv = merged;
    }
    slot_set(c, s, nv);
    return true;
}

static bool op_whole(struct patch_ctx *c, enum patch_verb verb, struct slot *s,
                     const json_t *value)
{
    if (verb == PATCH_REMOVE) {
        bool multi = s->def ? s->def->multi_valued : json_is_array(slot_get(s));
        if (multi && value && !json_is_null(value))
            return multi_remove_listed(c, s, value);
        return slot_unassign(c, s);
    }
    if (!s->def)
        return unknown_set(c, verb, s, value);
    if (s->def->multi_valued)
        return multi_set(c, verb, s, value);
    return single_set(c, s, value);
}

/* ------------------------------------------------------------------------ */
/* Filtered paths and sub-attributes                                        */
/* ------------------------------------------------------------------------ */

/* Adds the equality tests of f to tpl; false when f is not a conjunction of
 * "sub eq value" (then it names no element to create). */
static bool template_add(json_t *tpl, const struct scim_filter *f)
{
    if (!f)
        return true;
    if (f->op == SCIM_OP_AND)
        return template_add(tpl, f->left) && template_add(tpl, f->right);
    if (f->op != SCIM_OP_EQ || f->path.sub || f->path.urn || !f->path.attr || !f->value ||
        json_is_null(f->value))
        return false;
    const char *name = f->path.attr_def ? f->path.attr_def->name : f->path.attr;
    const json_t *have = obj_get_ci(tpl, name);
    if (have)
        return json_equal(have, f->value);
    json_object_set_new(tpl, name, json_deep_copy(f->value));
    return true;
}

/* The element the filter describes (its equality tests, normalised) as a
 * new object in *out; *out stays NULL when the filter describes none.
 * Returns false only on an invalid value. */
static bool template_for(struct patch_ctx *c, const struct slot *s,
                         const struct scim_filter *f, json_t **out)
{
    json_t *tpl = json_object();
    *out = NULL;
    if (!template_add(tpl, f)) {
        json_decref(tpl);
        return true;
    }
    if (!s->def || json_object_size(tpl) == 0) {
        *out = tpl;
        return true;
    }
    json_t *n = norm_single(c, s->def, tpl, false);
    json_decref(tpl);
    if (!n)
        return false;
    if (json_is_object(n)) {
        *out = n;
        return true;
    }
    json_decref(n);
    *out = json_object();
    return true;
}

/* What one filtered operation applies to each selected element. */
struct selection {
    enum patch_verb verb;
    const struct scim_filter *filter; /* NULL selects every element */
    const char *sub;                  /* sub-attribute after the filter, or NULL */
    const struct scim_attr *sub_def;  /* its definition, or NULL */
    json_t *nv;                       /* normalised value (owned); NULL for remove */
};

static bool selected(const struct selection *sel, const json_t *e)
{
    return !sel->filter || scim_filter_match(sel->filter, e);
}

/* e with sel->sub set to the value; refuses changing an immutable one. */
static json_t *with_sub(struct patch_ctx *c, const struct selection *sel, json_t *e)
{
    json_t *out = json_is_object(e) ? json_copy(e) : json_object();
    const json_t *have = obj_get_ci(out, sel->sub);
    if (sel->sub_def && sel->sub_def->mutability == SCIM_MUT_IMMUTABLE && have &&
        !json_equal(have, sel->nv)) {
        json_decref(out);
        fail(c, SCIM_TYPE_MUTABILITY, "\"%s\" is immutable", sel->sub_def->name);
        return NULL;
    }
    obj_set_ci(out, sel->sub_def ? sel->sub_def->name : sel->sub, json_deep_copy(sel->nv));
    return out;
}

/* The new value of selected element e: sub-attribute set, merged ("add") or
 * replaced by the value over the filter's equality tests ("replace"). */
static json_t *updated(struct patch_ctx *c, const struct selection *sel, const struct slot *s,
                       json_t *e)
{
    if (sel->sub)
        return with_sub(c, sel, e);
    if (!json_is_object(sel->nv))
        return json_deep_copy(sel->nv);
    json_t *base = NULL;
    if (sel->verb == PATCH_ADD && json_is_object(e))
        base = json_copy(e);
    else if (!template_for(c, s, sel->filter, &base))
        return NULL;
    if (!base)
        base = json_object();
    json_t *d = json_deep_copy(sel->nv);
    json_object_update(base, d);
    json_decref(d);
    return base;
}

/* Removes sel->sub from selected elements, or the elements themselves. An
 * element losing its "value", or its last sub-attribute, goes. */
static bool select_remove(struct patch_ctx *c, const struct selection *sel, json_t *arr,
                          json_t *out)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!selected(sel, e)) {
            json_array_append(out, e);
            continue;
        }
        if (!sel->sub || !json_is_object(e))
            continue;
        if (sel->sub_def && sel->sub_def->mutability == SCIM_MUT_IMMUTABLE &&
            obj_get_ci(e, sel->sub))
            return fail(c, SCIM_TYPE_MUTABILITY, "\"%s\" is immutable", sel->sub_def->name);
        json_t *copy = json_copy(e);
        obj_del_ci(copy, sel->sub);
        if (json_object_size(copy) > 0 && !util_streq_ci(sel->sub, "value"))
            json_array_append(out, copy);
        json_decref(copy);
    }
    return true;
}

/* add/replace on the selected elements; creates one from the filter when
 * none is selected. *keep receives the element to keep primary. */
static bool select_update(struct patch_ctx *c, const struct selection *sel, struct slot *s,
                          bool multi, json_t *arr, json_t *out, const json_t **keep)
{
    size_t i, matched = 0;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!selected(sel, e)) {
            json_array_append(out, e);
            continue;
        }
        json_t *ne = updated(c, sel, s, e);
        if (!ne)
            return false;
        matched++;
        if (is_primary(ne))
            *keep = ne;
        json_array_append_new(out, ne);
    }
    if (matched)
        return true;
    if (!multi && json_array_size(arr) > 0)
        return fail(c, SCIM_TYPE_NO_TARGET, "the value of \"%s\" does not match the filter",
                    s->key);
    json_t *tpl;
    if (!template_for(c, s, sel->filter, &tpl))
        return false;
    if (!tpl)
        return fail(c, SCIM_TYPE_NO_TARGET, "no value of \"%s\" matches the filter", s->key);
    json_t *ne = updated(c, sel, s, tpl);
    json_decref(tpl);
    if (!ne)
        return false;
    if (is_primary(ne))
        *keep = ne;
    json_array_append_new(out, ne);
    return true;
}

/* Normalises the value of a filtered or sub-attribute operation into
 * sel->nv; JSON null when it unassigns. */
static bool select_value(struct patch_ctx *c, struct selection *sel, const struct slot *s,
                         const json_t *value)
{
    if (sel->sub)
        sel->nv = sel->sub_def ? norm_single(c, sel->sub_def, value, false)
                               : json_deep_copy(value);
    else
        sel->nv = s->def ? norm_single(c, s->def, value, true) : json_deep_copy(value);
    return sel->nv != NULL;
}

/* "attr[filter]", "attr[filter].sub" and "attr.sub": applies to the selected
 * elements of a multi-valued attribute, or to a single complex value. */
static bool op_selected(struct patch_ctx *c, struct selection *sel, struct slot *s,
                        const json_t *value)
{
    json_t *cur = slot_get(s);
    bool multi = s->def ? s->def->multi_valued : (json_is_array(cur) || (!cur && sel->filter));
    if (sel->verb != PATCH_REMOVE) {
        if (!select_value(c, sel, s, value))
            return false;
        if (json_is_null(sel->nv)) {
            if (!sel->sub && sel->verb == PATCH_ADD)
                return true;
            sel->verb = PATCH_REMOVE; /* a null value unassigns the selection */
        }
    }
    json_t *arr = slot_elements(s), *out = json_array();
    size_t before = json_array_size(arr);
    const json_t *keep = NULL;
    bool ok = sel->verb == PATCH_REMOVE ? select_remove(c, sel, arr, out)
                                        : select_update(c, sel, s, multi, arr, out, &keep);
    json_decref(arr);
    if (!ok) {
        json_decref(out);
        return false;
    }
    if (sel->verb == PATCH_REMOVE && json_array_size(out) == before && before > 0 &&
        !sel->sub) {
        json_decref(out);
        return true;
    }
    fix_primary(out, s->def, keep);
    return slot_store(c, s, multi, out, before);
}

/* ------------------------------------------------------------------------ */
/* Group members, password, mutability                                      */
/* ------------------------------------------------------------------------ */

static bool is_members(const struct patch_ctx *c, const struct scim_attr_path *ap)
{
    return c->rt == &scim_rt_group && ap->attr_def &&
           ap->attr_def == scim_schema_attr(&scim_schema_group, "members");
}

static void mop_push(struct patch_ctx *c, enum scim_member_op_kind kind, json_t *values,
                     struct scim_filter *filter)
{
    if (c->n_mops == c->cap_mops) {
        c->cap_mops = c->cap_mops ? 2 * c->cap_mops : 8;
        c->mops = xrealloc(c->mops, c->cap_mops * sizeof *c->mops);
    }
    c->mops[c->n_mops++] = (struct scim_member_op){kind, values, filter};
}

/* Copies an optional string member of a member value; false when it is
 * neither absent, null nor a string. */
static bool member_string(struct patch_ctx *c, const json_t *e, json_t *out, const char *name,
                          size_t i)
{
    const json_t *v = obj_get_ci(e, name);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || !is_string_ok(v))
        return fail(c, SCIM_TYPE_INVALID_VALUE, "members[%zu].%s must be a string", i, name);
    const char *s = json_string_value(v);
    if (strcmp(name, "type") == 0) {
        if (util_streq_ci(s, "User"))
            s = "User";
        else if (util_streq_ci(s, "Group"))
            s = "Group";
        else
            return fail(c, SCIM_TYPE_INVALID_VALUE, "members[%zu].type must be User or Group",
                        i);
    }
    json_object_set_new(out, name, json_string(s));
    return true;
}

/* One member value: {"value": id} with optional type, display and $ref. */
static json_t *member_value(struct patch_ctx *c, const json_t *e, size_t i)
{
    const json_t *id = obj_get_ci(e, "value");
    if (!json_is_string(id) || json_string_length(id) == 0 || !is_string_ok(id)) {
        fail(c, SCIM_TYPE_INVALID_VALUE, "members[%zu] must be an object with a string "
             "\"value\"", i);
        return NULL;
    }
    json_t *out = json_pack("{s:s}", "value", json_string_value(id));
    if (member_string(c, e, out, "type", i) && member_string(c, e, out, "display", i) &&
        member_string(c, e, out, "$ref", i))
        return out;
    json_decref(out);
    return NULL;
}

/* The member values of an operation as a new array (a single object counts
 * as one value, null as none). */
static json_t *member_values(struct patch_ctx *c, const json_t *value)
{
    json_t *out = json_array();
    if (!value || json_is_null(value))
        return out;
    if (!json_is_array(value) && !json_is_object(value)) {
        json_decref(out);
        fail(c, SCIM_TYPE_INVALID_VALUE, "members must be an array of {\"value\": id}");
        return NULL;
    }
    size_t n = json_is_array(value) ? json_array_size(value) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(value) ? json_array_get(value, i) : value;
        json_t *m = json_is_object(e) ? member_value(c, e, i) : NULL;
        if (!m) {
            json_decref(out);
            fail(c, SCIM_TYPE_INVALID_VALUE, "members[%zu] must be an object", i);
            return NULL;
        }
        json_array_append_new(out, m);
    }
    return out;
}

/* Operations on "members" become member operations (request order). */
static bool members_op(struct patch_ctx *c, enum patch_verb verb, struct scim_patch_path *pp,
                       const json_t *value)
{
    if (pp->attr.sub || pp->sub_after)
        return fail(c, SCIM_TYPE_INVALID_PATH, "members are added and removed whole; their "
                    "sub-attributes cannot be changed");
    if (pp->filter) {
        if (verb != PATCH_REMOVE)
            return fail(c, SCIM_TYPE_INVALID_PATH, "a filter on members is only allowed "
                        "with \"remove\"");
        mop_push(c, SCIM_MEMBERS_REMOVE, NULL, pp->filter);
        pp->filter = NULL;
        return true;
    }
    if (verb == PATCH_REMOVE && (!value || json_is_null(value))) {
        mop_push(c, SCIM_MEMBERS_REMOVE_ALL, NULL, NULL);
        return true;
    }
    json_t *vals = member_values(c, value);
    if (!vals)
        return false;
    if (verb != PATCH_REPLACE && json_array_size(vals) == 0) {
        json_decref(vals);
        return true;
    }
    mop_push(c,
             verb == PATCH_ADD       ? SCIM_MEMBERS_ADD
             : verb == PATCH_REPLACE ? SCIM_MEMBERS_REPLACE
                                     : SCIM_MEMBERS_REMOVE,
             vals, NULL);
    return true;
}

static void password_free(char *p)
{
    if (!p)
        return;
    memset(p, 0, strlen(p));
    free(p);
}

/* The writeOnly password goes to the result, never into the document. */
static bool password_op(struct patch_ctx *c, enum patch_verb verb, const json_t *value)
{
    if (verb == PATCH_REMOVE)
        return fail(c, SCIM_TYPE_MUTABILITY, "the password cannot be removed");
    if (!json_is_string(value) || !is_string_ok(value) || json_string_length(value) == 0)
        return fail(c, SCIM_TYPE_INVALID_VALUE, "the password must be a non-empty string");
    password_free(c->password);
    c->password = xstrdup(json_string_value(value));
    obj_del_ci(c->doc, "password");
    return true;
}

/* readOnly targets: refused with a path, skipped inside path-less values. */
static bool check_read_only(struct patch_ctx *c, const struct scim_patch_path *pp, bool *skip)
{
    const struct scim_attr *defs[] = {pp->attr.attr_def, pp->attr.sub_def, pp->sub_after_def};
    for (size_t i = 0; i < ARRAY_LEN(defs); i++) {
        if (!defs[i] || defs[i]->mutability != SCIM_MUT_READ_ONLY)
            continue;
        if (c->pathless) {
            *skip = true;
            return true;
        }
        return fail(c, SCIM_TYPE_MUTABILITY, "\"%s\" is readOnly", defs[i]->name);
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */
/* ------------------------------------------------------------------------ */

/* The operation's target after its mutability allows it. */
static bool apply_target(struct patch_ctx *c, enum patch_verb verb,
                         const struct scim_patch_path *pp, const json_t *value)
{
    struct slot s;
    slot_init(c, &s, &pp->attr);
    if (!pp->filter && !pp->attr.sub)
        return op_whole(c, verb, &s, value);
    struct selection sel = {verb, pp->filter, NULL, NULL, NULL};
    if (pp->filter) {
        sel.sub = pp->sub_after;
        sel.sub_def = pp->sub_after_def;
    } else {
        sel.sub = pp->attr.sub;
        sel.sub_def = pp->attr.sub_def;
    }
    bool ok = op_selected(c, &sel, &s, value);
    json_decref(sel.nv);
    return ok;
}

/* Applies one operation on a parsed path, checking immutable attributes by
 * comparing before and after. */
static bool apply_parsed(struct patch_ctx *c, enum patch_verb verb, struct scim_patch_path *pp,
                         const json_t *value)
{
    const struct scim_attr *def = pp->attr.attr_def;
    if (is_members(c, &pp->attr))
        return members_op(c, verb, pp, value);
    bool skip = false;
    if (!check_read_only(c, pp, &skip))
        return false;
    if (skip)
        return true;
    if (def && def->mutability == SCIM_MUT_WRITE_ONLY)
        return password_op(c, verb, value);
    json_t *before = NULL;
    if (def && def->mutability == SCIM_MUT_IMMUTABLE) {
        struct slot s;
        slot_init(c, &s, &pp->attr);
        before = json_deep_copy(slot_get(&s));
    }
    bool ok = apply_target(c, verb, pp, value);
    if (ok && before) {
        struct slot s;
        slot_init(c, &s, &pp->attr);
        if (!json_equal(before, slot_get(&s)))
            ok = fail(c, SCIM_TYPE_MUTABILITY, "\"%s\" is immutable", def->name);
    }
    json_decref(before);
    return ok;
}

/* Members of an unknown extension object in a path-less value, kept verbatim. */
static bool unknown_extension(struct patch_ctx *c, enum patch_verb verb, const char *urn,
                              const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        struct scim_attr_path ap = {.urn = (char *)urn, .attr = (char *)k, .in_extension = true};
        struct slot s;
        slot_init(c, &s, &ap);
        if (!unknown_set(c, verb, &s, v))
            return false;
    }
    return true;
}

/* The object under a schema URN (core or extension of rt): its members are
 * attributes of that schema. */
static bool schema_object(struct patch_ctx *c, enum patch_verb verb,
                          const struct scim_schema *schema, const json_t *obj)
{
    if (!json_is_object(obj))
        return fail(c, c->pathless ? SCIM_TYPE_INVALID_SYNTAX : SCIM_TYPE_INVALID_VALUE,
                    "the value of schema \"%s\" must be an object", schema->id);
    bool saved = c->pathless;
    c->pathless = true;
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach((json_t *)obj, k, v)
    {
        char *text = xasprintf("%s:%s", schema->id, k);
        ok = apply_path_text(c, verb, text, v);
        free(text);
        if (!ok)
            break;
    }
    c->pathless = saved;
    return ok;
}

/* Whether key starts with a schema URN known here followed by ':'. */
static bool known_urn_prefix(const struct patch_ctx *c, const char *key)
{
    const char *urns[] = {SCIM_SCHEMA_USER, SCIM_SCHEMA_GROUP, SCIM_SCHEMA_ENTERPRISE};
    for (size_t i = 0; i < ARRAY_LEN(urns); i++)
        if (util_has_prefix_ci(key, urns[i]) && key[strlen(urns[i])] == ':')
            return true;
    for (const struct scim_schema *const *e = c->rt->extensions; e && *e; e++)
        if (util_has_prefix_ci(key, (*e)->id) && key[strlen((*e)->id)] == ':')
            return true;
    return false;
}

/* One member of a path-less value: an attribute path ("displayName",
 * "name.givenName", "urn:...:User:department"), a schema URN with an object,
 * or an unknown extension object. */
static bool pathless_member(struct patch_ctx *c, enum patch_verb verb, const char *key,
                            const json_t *v)
{
    const char *saved = c->path;
    c->path = key;
    bool ok;
    const struct scim_schema *schema = scim_rt_schema(c->rt, key);
    if (util_streq_ci(key, "schemas"))
        ok = true;
    else if (schema)
        ok = schema_object(c, verb, schema, v);
    else if (util_has_prefix_ci(key, "urn:") && json_is_object(v) && !scim_schema_find(key) &&
             !known_urn_prefix(c, key))
        ok = unknown_extension(c, verb, key, v);
    else
        ok = apply_path_text(c, verb, key, v);
    c->path = saved;
    return ok;
}

/* A path-less add or replace: value is the resource (or a part of it). */
static bool apply_pathless(struct patch_ctx *c, enum patch_verb verb, const json_t *value)
{
    if (!json_is_object(value))
        return fail(c, SCIM_TYPE_INVALID_SYNTAX, "an operation without \"path\" needs an "
                    "object \"value\"");
    bool saved = c->pathless;
    c->pathless = true;
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach((json_t *)value, k, v)
    {
        if (!(ok = pathless_member(c, verb, k, v)))
            break;
    }
    c->pathless = saved;
    return ok;
}

/* A path naming a whole schema: the extension object, or the resource. */
static bool apply_schema_path(struct patch_ctx *c, enum patch_verb verb,
                              const struct scim_schema *schema, const json_t *value)
{
    if (verb != PATCH_REMOVE)
        return schema_object(c, verb, schema, value);
    if (schema == c->rt->schema)
        return fail(c, SCIM_TYPE_INVALID_PATH, "the resource itself cannot be removed");
    obj_del_ci(c->doc, schema->id);
    return true;
}

/* Whether a path names a whole unknown extension object: one stored under
 * that URN, or a URN ending in the resource type's name
 * ("urn:example:params:scim:schemas:extension:acme:2.0:User"). */
static bool is_unknown_extension(const struct patch_ctx *c, const char *text)
{
    if (!util_has_prefix_ci(text, "urn:") || scim_schema_find(text) || known_urn_prefix(c, text))
        return false;
    if (json_is_object(obj_get_ci(c->doc, text)))
        return true;
    const char *last = strrchr(text, ':');
    return util_streq_ci(last + 1, c->rt->name);
}

/* add, replace or remove of a whole unknown extension object. */
static bool apply_unknown_extension(struct patch_ctx *c, enum patch_verb verb,
                                    const char *urn, const json_t *value)
{
    if (verb == PATCH_REMOVE) {
        obj_del_ci(c->doc, urn);
        return true;
    }
    if (!json_is_object(value))
        return fail(c, SCIM_TYPE_INVALID_VALUE, "the value of an extension must be an object");
    return unknown_extension(c, verb, urn, value);
}

/* Parses text as a PATCH path and applies the operation to it. */
static bool apply_path_text(struct patch_ctx *c, enum patch_verb verb, const char *text,
                            const json_t *value)
{
    const char *saved = c->path;
    c->path = text;
    struct scim_patch_path pp;
    struct scim_error perr = {0};
    const struct scim_schema *schema = scim_rt_schema(c->rt, text);
    bool ok;
    if (util_streq_ci(text, "schemas"))
        ok = c->pathless || fail(c, SCIM_TYPE_MUTABILITY, "\"schemas\" cannot be patched");
    else if (schema && !c->pathless)
        ok = apply_schema_path(c, verb, schema, value);
    else if (!c->pathless && is_unknown_extension(c, text))
        ok = apply_unknown_extension(c, verb, text, value);
    else if (!scim_patch_path_parse(text, c->rt, &pp, &perr))
        ok = fail(c, c->pathless ? SCIM_TYPE_INVALID_SYNTAX : SCIM_TYPE_INVALID_PATH, "%s",
                  perr.detail);
    else {
        ok = apply_parsed(c, verb, &pp, value);
        scim_patch_path_clear(&pp);
    }
    c->path = saved;
    return ok;
}

/* ------------------------------------------------------------------------ */
/* The body                                                                 */
/* ------------------------------------------------------------------------ */

static bool lists_patchop(const json_t *schemas)
{
    size_t i;
    json_t *s;
    json_array_foreach(schemas, i, s)
    {
        if (json_is_string(s) && util_streq_ci(json_string_value(s), SCIM_SCHEMA_PATCHOP))
            return true;
    }
    return false;
}

/* The Operations array of a well-formed body, or NULL with err set. */
static const json_t *body_operations(const json_t *body, struct scim_error *err)
{
    if (!json_is_object(body)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "The PATCH body must be an object.");
        return NULL;
    }
    const json_t *schemas = obj_get_ci(body, "schemas");
    if (schemas && !json_is_null(schemas) && !lists_patchop(schemas)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX,
                       "\"schemas\" must list \"%s\".", SCIM_SCHEMA_PATCHOP);
        return NULL;
    }
    const json_t *ops = obj_get_ci(body, "Operations");
    if (!json_is_array(ops) || json_array_size(ops) == 0) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX,
                       "The PATCH body needs a non-empty \"Operations\" array.");
        return NULL;
    }
    if (json_array_size(ops) > SCIM_PATCH_MAX_OPERATIONS) {
        scim_error_set(err, 400, SCIM_TYPE_TOO_MANY,
                       "A PATCH may hold at most %d operations, this one has %zu.",
                       SCIM_PATCH_MAX_OPERATIONS, json_array_size(ops));
        return NULL;
    }
    return ops;
}

static bool parse_verb(struct patch_ctx *c, const json_t *op, enum patch_verb *verb)
{
    const json_t *name = obj_get_ci(op, "op");
    const char *s = json_string_value(name);
    if (!s)
        return fail(c, SCIM_TYPE_INVALID_SYNTAX, "\"op\" must be \"add\", \"replace\" or "
                    "\"remove\"");
    if (util_streq_ci(s, "add"))
        *verb = PATCH_ADD;
    else if (util_streq_ci(s, "replace"))
        *verb = PATCH_REPLACE;
    else if (util_streq_ci(s, "remove"))
        *verb = PATCH_REMOVE;
    else
        return fail(c, SCIM_TYPE_INVALID_SYNTAX, "unknown op \"%.*s\"", echo_len(s), s);
    return true;
}

/* One element of Operations. */
static bool apply_operation(struct patch_ctx *c, const json_t *op)
{
    enum patch_verb verb;
    if (!json_is_object(op))
        return fail(c, SCIM_TYPE_INVALID_SYNTAX, "an operation must be an object");
    if (!parse_verb(c, op, &verb))
        return false;
    const json_t *path = obj_get_ci(op, "path");
    const json_t *value = obj_get_ci(op, "value");
    if (path && !json_is_null(path) && !json_is_string(path))
        return fail(c, SCIM_TYPE_INVALID_SYNTAX, "\"path\" must be a string");
    if (verb != PATCH_REMOVE && !value)
        return fail(c, SCIM_TYPE_INVALID_SYNTAX, "\"value\" is required for add and "
                    "replace");
    if (json_is_string(path)) {
        if (strlen(json_string_value(path)) != json_string_length(path))
            return fail(c, SCIM_TYPE_INVALID_PATH, "the path holds a NUL character");
        return apply_path_text(c, verb, json_string_value(path), value);
    }
    if (verb == PATCH_REMOVE)
        return fail(c, SCIM_TYPE_NO_TARGET, "\"remove\" needs a \"path\"");
    return apply_pathless(c, verb, value);
}

static void ctx_clear(struct patch_ctx *c)
{
    struct scim_patch_result r = {c->doc, false, c->mops, c->n_mops, c->password};
    scim_patch_result_clear(&r);
    c->doc = NULL;
    c->mops = NULL;
    c->n_mops = 0;
    c->password = NULL;
}

bool scim_patch_apply(const struct scim_resource_type *rt, const json_t *doc,
                      const json_t *body, struct scim_patch_result *out,
                      struct scim_error *err)
{
    memset(out, 0, sizeof *out);
    if (!rt)
        return scim_error_set(err, 500, NULL, "PATCH without a resource type.");
    const json_t *ops = body_operations(body, err);
    if (!ops)
        return false;
    struct patch_ctx c = {.rt = rt, .err = err};
    c.doc = json_is_object(doc) ? json_deep_copy(doc) : json_object();
    for (c.index = 0; c.index < json_array_size(ops); c.index++) {
        if (!apply_operation(&c, json_array_get(ops, c.index))) {
            ctx_clear(&c);
            return false;
        }
    }
    json_t *empty = json_object();
    out->changed = !json_equal(c.doc, json_is_object(doc) ? (json_t *)doc : empty) ||
                   c.n_mops > 0 || c.password;
    json_decref(empty);
    out->doc = c.doc;
    out->member_ops = c.mops;
    out->n_member_ops = c.n_mops;
    out->password = c.password;
    return true;
}

void scim_patch_result_clear(struct scim_patch_result *r)
{
    if (!r)
        return;
    json_decref(r->doc);
    for (size_t i = 0; i < r->n_member_ops; i++) {
        json_decref(r->member_ops[i].values);
        scim_filter_free(r->member_ops[i].filter);
    }
    free(r->member_ops);
    password_free(r->password);
    memset(r, 0, sizeof *r);
}
