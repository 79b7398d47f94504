/*
 * test_scim_patch.c - unit tests of scim_patch.c: the cases under
 * tests/fixtures/patch/<case>/ (real Okta and Entra ID requests, RFC 7644
 * examples, semantics and hostile bodies), then the limits, atomicity,
 * ownership and cost properties the fixtures cannot express.
 *
 * A fixture case is a directory holding:
 *   resource_type   User or Group
 *   before.json     the stored document
 *   request.json    the PATCH body (any JSON value)
 *   after.json      the expected document, or
 *   error           instead: the HTTP status on line 1, the scimType on
 *                   line 2 and a piece of the detail on line 3
 *   member_ops.json optional: the expected member operations, an array of
 *                   {"kind": "add|remove|remove_all|replace", "values": [...],
 *                   "filter": "(eq value \"id\")"} (absent members: none)
 *   password        optional: the password the PATCH sets (no newline)
 *   source          where the request comes from
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scim_patch.h"
#include "testutil.h"
#include "util.h"

#define ENTERPRISE SCIM_SCHEMA_ENTERPRISE

/* ------------------------------------------------------------------------ */
/* Fixture helpers                                                          */
/* ------------------------------------------------------------------------ */

static bool case_has(const char *dir, const char *name)
{
    char *path = xasprintf("%s/patch/%s/%s", FIXTURES_DIR, dir, name);
    struct stat st;
    bool ok = stat(path, &st) == 0;
    free(path);
    return ok;
}

/* The text of a case file without one trailing newline, or NULL. */
static char *case_text(const char *dir, const char *name)
{
    if (!case_has(dir, name))
        return NULL;
    char *rel = xasprintf("patch/%s/%s", dir, name);
    size_t len;
    char *text = tu_read_fixture(rel, &len);
    if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0';
    free(rel);
    return text;
}

/* A case file as JSON (any value), or NULL when absent. */
static json_t *case_json(const char *dir, const char *name)
{
    char *text = case_text(dir, name);
    if (!text)
        return NULL;
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(v, "%s/%s: %s at line %d", dir, name, e.text, e.line);
    free(text);
    return v;
}

static char **case_names;
static size_t n_cases;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory under tests/fixtures/patch with a request.json. */
static void load_case_names(void)
{
    char *dir = xasprintf("%s/patch", FIXTURES_DIR);
    DIR *d = opendir(dir);
    if (!d)
        util_fatal("cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.' && case_has(e->d_name, "request.json")) {
            case_names = xrealloc(case_names, (n_cases + 1) * sizeof *case_names);
            case_names[n_cases++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    free(dir);
    qsort(case_names, n_cases, sizeof *case_names, cmp_names);
}

/* ------------------------------------------------------------------------ */
/* Member operations as JSON                                                */
/* ------------------------------------------------------------------------ */

static void sexpr(struct strbuf *b, const struct scim_filter *f)
{
    static const char *const names[] = {"eq", "ne", "co", "sw", "ew", "pr", "gt",
                                        "ge", "lt", "le", "and", "or", "not", "[]"};
    strbuf_printf(b, "(%s", names[f->op]);
    if (f->op == SCIM_OP_AND || f->op == SCIM_OP_OR || f->op == SCIM_OP_NOT) {
        strbuf_putc(b, ' ');
        sexpr(b, f->left);
        if (f->right) {
            strbuf_putc(b, ' ');
            sexpr(b, f->right);
        }
    } else {
        strbuf_printf(b, " %s", f->path.attr_def ? f->path.attr_def->name : f->path.attr);
        if (f->path.sub)
            strbuf_printf(b, ".%s", f->path.sub_def ? f->path.sub_def->name : f->path.sub);
        if (f->value) {
            char *v = json_dumps(f->value, JSON_ENCODE_ANY);
            strbuf_printf(b, " %s", v);
            free(v);
        }
    }
    strbuf_putc(b, ')');
}

static json_t *member_ops_json(const struct scim_patch_result *r)
{
    static const char *const kinds[] = {"add", "remove", "remove_all", "replace"};
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n_member_ops; i++) {
        const struct scim_member_op *op = &r->member_ops[i];
        json_t *o = json_pack("{s:s}", "kind", kinds[op->kind]);
        if (op->values)
            json_object_set(o, "values", op->values);
        if (op->filter) {
            struct strbuf b = {0};
            sexpr(&b, op->filter);
            json_object_set_new(o, "filter", json_string(b.s));
            strbuf_clear(&b);
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* ------------------------------------------------------------------------ */
/* Fixture cases                                                            */
/* ------------------------------------------------------------------------ */

static const struct scim_resource_type *resource_of(const char *name, const char *text)
{
    ck_assert_msg(text, "%s: needs a resource_type file", name);
    if (strcmp(text, "User") == 0)
        return &scim_rt_user;
    ck_assert_msg(strcmp(text, "Group") == 0, "%s: unknown resource_type %s", name, text);
    return &scim_rt_group;
}

static void check_error(const char *name, bool ok, const struct scim_patch_result *r,
                        const struct scim_error *err, char *expected)
{
    char *type = strchr(expected, '\n');
    ck_assert_msg(type, "%s: error needs three lines", name);
    *type++ = '\0';
    char *piece = strchr(type, '\n');
    ck_assert_msg(piece, "%s: error needs three lines", name);
    *piece++ = '\0';
    ck_assert_msg(!ok, "%s: expected error %s, got success", name, type);
    ck_assert_msg(r->doc == NULL && r->n_member_ops == 0 && r->member_ops == NULL &&
                      r->password == NULL && !r->changed,
                  "%s: result not empty on failure", name);
    ck_assert_msg(err->status == atoi(expected), "%s: status %d, expected %s (%s)", name,
                  err->status, expected, err->detail);
    ck_assert_msg(err->type && strcmp(err->type, type) == 0, "%s: scimType %s, expected %s (%s)",
                  name, err->type ? err->type : "(none)", type, err->detail);
    ck_assert_msg(strstr(err->detail, piece), "%s: detail \"%s\" lacks \"%s\"", name,
                  err->detail, piece);
    json_t *d = json_pack("{s:s}", "detail", err->detail);
    ck_assert_msg(d, "%s: detail is not valid UTF-8", name);
    json_decref(d);
}

static void check_success(const char *name, const json_t *before, bool ok,
                          const struct scim_patch_result *r, const struct scim_error *err)
{
    ck_assert_msg(ok, "%s: unexpected error %s: %s", name, err->type, err->detail);
    json_t *after = case_json(name, "after.json");
    ck_assert_msg(after, "%s: needs after.json or error", name);
    char *got = json_dumps(r->doc, JSON_SORT_KEYS | JSON_INDENT(1));
    ck_assert_msg(tu_json_equal(r->doc, after), "%s: document\n%s", name, got);
    free(got);
    json_t *want_ops = case_json(name, "member_ops.json");
    json_t *ops = member_ops_json(r);
    if (!want_ops)
        want_ops = json_array();
    char *ops_text = json_dumps(ops, JSON_SORT_KEYS);
    ck_assert_msg(tu_json_equal(ops, want_ops), "%s: member ops %s", name, ops_text);
    free(ops_text);
    char *password = case_text(name, "password");
    ck_assert_msg((!password && !r->password) ||
                      (password && r->password && strcmp(password, r->password) == 0),
                  "%s: password %s", name, r->password ? r->password : "(none)");
    bool changed = !json_equal(before, after) || r->n_member_ops > 0 || r->password;
    ck_assert_msg(r->changed == changed, "%s: changed is %d", name, r->changed);
    free(password);
    json_decref(after);
    json_decref(want_ops);
    json_decref(ops);
}

START_TEST(test_fixture_case)
{
    const char *name = case_names[_i];
    char *rt_name = case_text(name, "resource_type");
    const struct scim_resource_type *rt = resource_of(name, rt_name);
    ck_assert_msg(case_has(name, "source"), "%s: needs a source file", name);
    json_t *before = case_json(name, "before.json");
    json_t *body = case_json(name, "request.json");
    json_t *before_copy = json_deep_copy(before);
    json_t *body_copy = json_deep_copy(body);
    struct scim_patch_result r;
    struct scim_error err = {0};
    bool ok = scim_patch_apply(rt, before, body, &r, &err);
    ck_assert_msg(json_equal(before, before_copy), "%s: input document modified", name);
    ck_assert_msg(json_equal(body, body_copy), "%s: body modified", name);
    char *error = case_text(name, "error");
    if (error)
        check_error(name, ok, &r, &err, error);
    else
        check_success(name, before, ok, &r, &err);
    scim_patch_result_clear(&r);
    free(error);
    free(rt_name);
    json_decref(before);
    json_decref(body);
    json_decref(before_copy);
    json_decref(body_copy);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Helpers for the C tests                                                  */
/* ------------------------------------------------------------------------ */

static const char *const user_doc =
    "{\"userName\":\"bjensen@example.com\",\"active\":true,"
    "\"name\":{\"givenName\":\"Barbara\",\"familyName\":\"Jensen\"},"
    "\"emails\":[{\"value\":\"bjensen@example.com\",\"type\":\"work\",\"primary\":true}]}";

/* Applies body (JSON text) to doc (JSON text); returns the outcome. */
static bool apply_text(const struct scim_resource_type *rt, const char *doc, const char *body,
                       struct scim_patch_result *r, struct scim_error *err)
{
    json_t *d = tu_json(doc), *b = tu_json(body);
    memset(err, 0, sizeof *err);
    bool ok = scim_patch_apply(rt, d, b, r, err);
    json_decref(d);
    json_decref(b);
    return ok;
}

static void expect_error(const struct scim_resource_type *rt, const char *doc,
                         const char *body, const char *type, const char *piece)
{
    struct scim_patch_result r;
    struct scim_error err;
    ck_assert_msg(!apply_text(rt, doc, body, &r, &err), "expected %s for %s", type, body);
    ck_assert_ptr_null(r.doc);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, type);
    ck_assert_msg(strstr(err.detail, piece), "detail \"%s\" lacks \"%s\"", err.detail, piece);
}

/* {"Operations":[op, op, ...]} with n copies of op made by fmt(i). */
static json_t *body_of(size_t n, json_t *(*make)(size_t i, void *arg), void *arg)
{
    json_t *ops = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(ops, make(i, arg));
    return json_pack("{s:[s],s:o}", "schemas", SCIM_SCHEMA_PATCHOP, "Operations", ops);
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

static json_t *op_add_nick(size_t i, void *arg)
{
    (void)arg;
    (void)i;
    return json_pack("{s:s,s:s,s:s}", "op", "add", "path", "nickName", "value", "Babs");
}

START_TEST(test_too_many_operations)
{
    json_t *doc = tu_json(user_doc);
    json_t *body = body_of(SCIM_PATCH_MAX_OPERATIONS + 1, op_add_nick, NULL);
    struct scim_patch_result r;
    struct scim_error err = {0};
    ck_assert(!scim_patch_apply(&scim_rt_user, doc, body, &r, &err));
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, SCIM_TYPE_TOO_MANY);
    json_decref(body);
    body = body_of(SCIM_PATCH_MAX_OPERATIONS, op_add_nick, NULL);
    memset(&err, 0, sizeof err);
    ck_assert(scim_patch_apply(&scim_rt_user, doc, body, &r, &err));
    ck_assert_str_eq(json_string_value(json_object_get(r.doc, "nickName")), "Babs");
    scim_patch_result_clear(&r);
    json_decref(body);
    json_decref(doc);
}
END_TEST

START_TEST(test_long_and_odd_paths)
{
    struct strbuf b = {0};
    strbuf_puts(&b, "{\"Operations\":[{\"op\":\"add\",\"path\":\"");
    for (int i = 0; i < 9000; i++)
        strbuf_putc(&b, 'a');
    strbuf_puts(&b, "\",\"value\":\"x\"}]}");
    expect_error(&scim_rt_user, user_doc, b.s, SCIM_TYPE_INVALID_PATH, "Operations[0]");
    strbuf_clear(&b);
    /* A long path of a known shape is echoed in part only. */
    strbuf_puts(&b, "{\"Operations\":[{\"op\":\"add\",\"path\":\"emails[value eq \\\"");
    for (int i = 0; i < 3000; i++)
        strbuf_puts(&b, "\xc3\xa9");
    strbuf_puts(&b, "\\\"].display\",\"value\":\"x\"}]}");
    struct scim_patch_result r;
    struct scim_error err;
    ck_assert(apply_text(&scim_rt_user, user_doc, b.s, &r, &err));
    scim_patch_result_clear(&r);
    strbuf_clear(&b);
    expect_error(&scim_rt_user, user_doc,
                 "{\"Operations\":[{\"op\":\"add\",\"path\":\"emails[type eq \\\"\xc3\xa9"
                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\\\" or\",\"value\":1}]}",
                 SCIM_TYPE_INVALID_PATH, "Operations[0] (path \"emails[type eq");
}
END_TEST

static json_t *op_add_email(size_t i, void *arg)
{
    (void)arg;
    char v[64];
    snprintf(v, sizeof v, "user%zu@example.com", i);
    return json_pack("{s:s,s:s,s:[{s:s}]}", "op", "add", "path", "emails", "value", "value", v);
}

START_TEST(test_value_limit)
{
    json_t *doc = tu_json(user_doc);
    struct scim_patch_result r;
    struct scim_error err = {0};
    json_t *body = body_of(SCIM_PATCH_MAX_VALUES - 1, op_add_email, NULL);
    ck_assert(scim_patch_apply(&scim_rt_user, doc, body, &r, &err));
    ck_assert_int_eq(json_array_size(json_object_get(r.doc, "emails")), SCIM_PATCH_MAX_VALUES);
    scim_patch_result_clear(&r);
    json_decref(body);
    body = body_of(SCIM_PATCH_MAX_VALUES, op_add_email, NULL);
    ck_assert(!scim_patch_apply(&scim_rt_user, doc, body, &r, &err));
    ck_assert_str_eq(err.type, SCIM_TYPE_INVALID_VALUE);
    ck_assert_ptr_null(r.doc);
    json_decref(body);
    json_decref(doc);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Cost: thousands of operations and member values stay linear              */
/* ------------------------------------------------------------------------ */

static json_t *op_member(size_t i, void *arg)
{
    const char *kind = arg;
    char id[64], path[96];
    snprintf(id, sizeof id, "usr_%06zu", i);
    if (strcmp(kind, "add") == 0)
        return json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "op", "add", "path", "members", "value",
                         "value", id, "display", "someone@example.com");
    snprintf(path, sizeof path, "members[value eq \"%s\"]", id);
    return json_pack("{s:s,s:s}", "op", "remove", "path", path);
}

START_TEST(test_many_member_operations)
{
    json_t *doc = tu_json("{\"displayName\":\"Eng\"}");
    struct scim_patch_result r;
    struct scim_error err = {0};
    json_t *body = body_of(SCIM_PATCH_MAX_OPERATIONS, op_member, "add");
    ck_assert(scim_patch_apply(&scim_rt_group, doc, body, &r, &err));
    ck_assert_int_eq(r.n_member_ops, SCIM_PATCH_MAX_OPERATIONS);
    ck_assert(r.changed);
    scim_patch_result_clear(&r);
    json_decref(body);
    body = body_of(SCIM_PATCH_MAX_OPERATIONS, op_member, "remove");
    ck_assert(scim_patch_apply(&scim_rt_group, doc, body, &r, &err));
    ck_assert_int_eq(r.n_member_ops, SCIM_PATCH_MAX_OPERATIONS);
    ck_assert_ptr_nonnull(r.member_ops[9999].filter);
    scim_patch_result_clear(&r);
    json_decref(body);
    json_decref(doc);
}
END_TEST

static json_t *op_big_members(size_t i, void *arg)
{
    (void)arg;
    json_t *vals = json_array();
    for (size_t k = 0; k < 10000; k++) {
        char id[64];
        snprintf(id, sizeof id, "usr_%zu_%zu", i, k);
        json_array_append_new(vals, json_pack("{s:s}", "value", id));
    }
    return json_pack("{s:s,s:s,s:o}", "op", i % 2 ? "remove" : "add", "path", "members",
                     "value", vals);
}

START_TEST(test_large_member_values)
{
    json_t *doc = tu_json("{\"displayName\":\"Eng\"}");
    json_t *body = body_of(20, op_big_members, NULL);
    struct scim_patch_result r;
    struct scim_error err = {0};
    ck_assert(scim_patch_apply(&scim_rt_group, doc, body, &r, &err));
    ck_assert_int_eq(r.n_member_ops, 20);
    for (size_t i = 0; i < 20; i++) {
        ck_assert_int_eq(json_array_size(r.member_ops[i].values), 10000);
        ck_assert_int_eq(r.member_ops[i].kind, i % 2 ? SCIM_MEMBERS_REMOVE : SCIM_MEMBERS_ADD);
    }
    scim_patch_result_clear(&r);
    json_decref(body);
    json_decref(doc);
}
END_TEST

static json_t *op_filtered_replace(size_t i, void *arg)
{
    (void)arg;
    char path[96];
    snprintf(path, sizeof path, "emails[value eq \"user%zu@example.com\"].display", i % 1000);
    return json_pack("{s:s,s:s,s:s}", "op", "replace", "path", path, "value", "x");
}

START_TEST(test_many_filtered_operations)
{
    json_t *emails = json_array();
    for (size_t i = 0; i < SCIM_PATCH_MAX_VALUES; i++) {
        char v[64];
        snprintf(v, sizeof v, "user%zu@example.com", i);
        json_array_append_new(emails, json_pack("{s:s,s:s}", "value", v, "type", "work"));
    }
    json_t *doc = json_pack("{s:s,s:o}", "userName", "u", "emails", emails);
    json_t *body = body_of(SCIM_PATCH_MAX_OPERATIONS, op_filtered_replace, NULL);
    struct scim_patch_result r;
    struct scim_error err = {0};
    ck_assert_msg(scim_patch_apply(&scim_rt_user, doc, body, &r, &err), "%s", err.detail);
    json_t *e = json_array_get(json_object_get(r.doc, "emails"), 999);
    ck_assert_str_eq(json_string_value(json_object_get(e, "display")), "x");
    scim_patch_result_clear(&r);
    json_decref(body);
    json_decref(doc);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Atomicity and ownership                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(test_atomic_on_late_failure)
{
    json_t *doc = tu_json("{\"displayName\":\"Eng\"}");
    json_t *body = tu_json(
        "{\"Operations\":["
        "{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Ops\"},"
        "{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"usr_1\"}]},"
        "{\"op\":\"remove\",\"path\":\"members[value eq \\\"usr_2\\\"]\"},"
        "{\"op\":\"remove\",\"path\":\"displayName\"}]}");
    struct scim_patch_result r;
    memset(&r, 0x5a, sizeof r);
    struct scim_error err = {0};
    ck_assert(!scim_patch_apply(&scim_rt_group, doc, body, &r, &err));
    ck_assert_ptr_null(r.doc);
    ck_assert_ptr_null(r.member_ops);
    ck_assert_int_eq(r.n_member_ops, 0);
    ck_assert_ptr_null(r.password);
    ck_assert_str_eq(err.type, SCIM_TYPE_MUTABILITY);
    ck_assert_msg(strstr(err.detail, "Operations[3]"), "%s", err.detail);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "displayName")), "Eng");
    scim_patch_result_clear(&r);
    scim_patch_result_clear(NULL);
    json_decref(body);
    json_decref(doc);
}
END_TEST

START_TEST(test_result_is_independent)
{
    json_t *doc = tu_json(user_doc);
    json_t *body = tu_json("{\"Operations\":[{\"op\":\"add\",\"path\":\"emails\",\"value\":"
                           "[{\"value\":\"b@example.com\"}]},{\"op\":\"replace\",\"value\":"
                           "{\"urn:example:x:1.0:User\":{\"deep\":{\"a\":[1,2]}}}}]}");
    struct scim_patch_result r;
    struct scim_error err = {0};
    ck_assert(scim_patch_apply(&scim_rt_user, doc, body, &r, &err));
    json_t *body_copy = json_deep_copy(body), *doc_copy = json_deep_copy(doc);
    /* Changing the result touches neither the input document nor the body. */
    json_t *deep = json_object_get(json_object_get(r.doc, "urn:example:x:1.0:User"), "deep");
    json_object_set_new(deep, "a", json_null());
    json_t *email = json_array_get(json_object_get(r.doc, "emails"), 1);
    json_object_set_new(email, "value", json_string("changed"));
    json_object_set_new(json_object_get(r.doc, "name"), "givenName", json_string("X"));
    ck_assert(json_equal(body, body_copy));
    ck_assert(json_equal(doc, doc_copy));
    scim_patch_result_clear(&r);
    scim_patch_result_clear(&r);
    json_decref(body_copy);
    json_decref(doc_copy);
    json_decref(body);
    json_decref(doc);
}
END_TEST

START_TEST(test_member_filter_is_owned)
{
    struct scim_patch_result r;
    struct scim_error err;
    ck_assert(apply_text(&scim_rt_group, "{\"displayName\":\"Eng\"}",
                         "{\"Operations\":[{\"op\":\"remove\",\"path\":"
                         "\"members[value eq \\\"usr_1\\\" or type eq \\\"Group\\\"]\"}]}",
                         &r, &err));
    ck_assert_int_eq(r.n_member_ops, 1);
    const struct scim_filter *f = r.member_ops[0].filter;
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(r.member_ops[0].values);
    json_t *m1 = tu_json("{\"value\":\"usr_1\"}"), *m2 = tu_json("{\"value\":\"usr_2\"}");
    json_t *g = tu_json("{\"value\":\"grp_1\",\"type\":\"Group\"}");
    ck_assert(scim_filter_match(f, m1));
    ck_assert(!scim_filter_match(f, m2));
    ck_assert(scim_filter_match(f, g));
    scim_patch_result_clear(&r);
    json_decref(m1);
    json_decref(m2);
    json_decref(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Details the fixtures cannot express                                      */
/* ------------------------------------------------------------------------ */

START_TEST(test_password_never_in_document)
{
    struct scim_patch_result r;
    struct scim_error err;
    ck_assert(apply_text(&scim_rt_user, user_doc,
                         "{\"Operations\":[{\"op\":\"replace\",\"path\":\"PASSWORD\","
                         "\"value\":\"t1meMa$heen\"},{\"op\":\"add\",\"value\":{\"password\":"
                         "\"second\"}}]}",
                         &r, &err));
    ck_assert_str_eq(r.password, "second");
    ck_assert(r.changed);
    char *text = json_dumps(r.doc, 0);
    ck_assert_ptr_null(strstr(text, "t1meMa"));
    ck_assert_ptr_null(strstr(text, "second"));
    free(text);
    scim_patch_result_clear(&r);
    ck_assert_ptr_null(r.password);
    /* A value never reaches an error detail. */
    expect_error(&scim_rt_user, user_doc,
                 "{\"Operations\":[{\"op\":\"replace\",\"path\":\"password\",\"value\":5}]}",
                 SCIM_TYPE_INVALID_VALUE, "password");
}
END_TEST

START_TEST(test_unchanged)
{
    struct scim_patch_result r;
    struct scim_error err;
    ck_assert(apply_text(&scim_rt_user, user_doc,
                         "{\"Operations\":[{\"op\":\"replace\",\"path\":\"active\","
                         "\"value\":\"True\"},{\"op\":\"remove\",\"path\":\"title\"},"
                         "{\"op\":\"add\",\"path\":\"emails\",\"value\":{\"value\":"
                         "\"bjensen@example.com\",\"type\":\"work\"}}]}",
                         &r, &err));
    ck_assert(!r.changed);
    scim_patch_result_clear(&r);
}
END_TEST

START_TEST(test_bodies_of_every_shape)
{
    const char *bodies[] = {
        "[]", "null", "1", "\"x\"", "{}", "{\"Operations\":{}}", "{\"Operations\":[]}",
        "{\"Operations\":[1]}", "{\"Operations\":[[]]}", "{\"Operations\":[{}]}",
        "{\"Operations\":[{\"op\":1}]}", "{\"Operations\":[{\"op\":\"add\"}]}",
        "{\"Operations\":[{\"op\":\"add\",\"path\":[],\"value\":1}]}",
        "{\"Operations\":[{\"op\":\"add\",\"path\":\"\",\"value\":1}]}",
        "{\"Operations\":[{\"op\":\"add\",\"value\":[]}]}",
        "{\"Operations\":[{\"op\":\"add\",\"path\":\"emails\",\"value\":[[{}]]}]}",
        "{\"Operations\":[{\"op\":\"add\",\"path\":\"name\",\"value\":{\"givenName\":{}}}]}",
        "{\"Operations\":[{\"op\":\"add\",\"path\":\"emails[type eq 1]\",\"value\":"
        "{\"value\":\"x\"}}]}",
        "{\"schemas\":\"x\",\"Operations\":[{\"op\":\"add\",\"path\":\"title\",\"value\":\"x\"}]}",
    };
    json_t *doc = tu_json(user_doc);
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        json_error_t je;
        json_t *body = json_loads(bodies[i], JSON_DECODE_ANY, &je);
        ck_assert_ptr_nonnull(body);
        struct scim_patch_result r;
        struct scim_error err = {0};
        ck_assert_msg(!scim_patch_apply(&scim_rt_user, doc, body, &r, &err), "%s", bodies[i]);
        ck_assert_int_eq(err.status, 400);
        ck_assert_ptr_null(r.doc);
        json_decref(body);
    }
    json_decref(doc);
}
END_TEST

int main(void)
{
    load_case_names();
    if (n_cases < 60) {
        fprintf(stderr, "only %zu fixture cases under %s/patch\n", n_cases, FIXTURES_DIR);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("scim_patch");
    TCase *fx = tcase_create("fixtures");
    tcase_add_loop_test(fx, test_fixture_case, 0, (int)n_cases);
    suite_add_tcase(s, fx);
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_long_and_odd_paths);
    tcase_add_test(tc, test_atomic_on_late_failure);
    tcase_add_test(tc, test_result_is_independent);
    tcase_add_test(tc, test_member_filter_is_owned);
    tcase_add_test(tc, test_password_never_in_document);
    tcase_add_test(tc, test_unchanged);
    tcase_add_test(tc, test_bodies_of_every_shape);
    suite_add_tcase(s, tc);
    TCase *big = tcase_create("limits");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, test_too_many_operations);
    tcase_add_test(big, test_value_limit);
    tcase_add_test(big, test_many_member_operations);
    tcase_add_test(big, test_large_member_values);
    tcase_add_test(big, test_many_filtered_operations);
    suite_add_tcase(s, big);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (size_t i = 0; i < n_cases; i++)
        free(case_names[i]);
    free(case_names);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
