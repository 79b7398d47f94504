/*
 * test_scim_filter.c - unit tests of scim_filter.c: the cases under
 * tests/fixtures/filter/<case>/ (filters compiled to SQL, PATCH paths, sortBy
 * and errors), the in-memory match table tests/fixtures/filter/matches.txt
 * over the documents in tests/fixtures/filter/documents/, and the limits,
 * ownership rules and invariants the fixtures cannot express.
 *
 * A fixture case is a directory holding:
 *   input     the filter, path or sortBy text (one trailing newline ignored)
 *   resource  optional: User (default), Group, or none (untyped parse)
 *   mode      optional: filter (default), path or sort
 *   tree      optional (filter): the parsed tree as an s-expression
 *   sql       the expected WHERE expression (filter), ORDER BY expression
 *             (sort), or description (path)
 *   params    optional: the expected parameters, one a line
 *   error     instead of sql: the scimType on line 1 and a piece of the
 *             detail on line 2
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scim_filter.h"
#include "testutil.h"
#include "util.h"

/* The maps recommended to the handlers (also in scim_filter.h). */
#define GROUPS_EXISTS                                                                    \
    "EXISTS (SELECT 1 FROM group_members m WHERE m.org_id = u.org_id AND m.member_id = " \
    "u.id AND %s)"
static const struct scim_sql_column user_columns[] = {
    {"id", SCIM_SQL_TEXT, "u.id", NULL, true},
    {"userName", SCIM_SQL_TEXT, "u.user_name", NULL, false},
    {"externalId", SCIM_SQL_TEXT, "u.external_id", NULL, true},
    {"active", SCIM_SQL_BOOL, "u.active", NULL, false},
    {"meta.created", SCIM_SQL_TIMESTAMP, "u.created_at", NULL, false},
    {"meta.lastModified", SCIM_SQL_TIMESTAMP, "u.updated_at", NULL, false},
    {"groups.value", SCIM_SQL_EXISTS, GROUPS_EXISTS, "m.group_id", false},
    {NULL, SCIM_SQL_TEXT, NULL, NULL, false},
};
static const struct scim_sql_map user_map = {&scim_rt_user, "u.doc", user_columns};

#define MEMBERS_EXISTS                                                                   \
    "EXISTS (SELECT 1 FROM group_members m WHERE m.org_id = g.org_id AND m.group_id = "  \
    "g.id AND %s)"
static const struct scim_sql_column group_columns[] = {
    {"id", SCIM_SQL_TEXT, "g.id", NULL, true},
    {"displayName", SCIM_SQL_TEXT, "g.display_name", NULL, false},
    {"externalId", SCIM_SQL_TEXT, "g.external_id", NULL, true},
    {"meta.created", SCIM_SQL_TIMESTAMP, "g.created_at", NULL, false},
    {"meta.lastModified", SCIM_SQL_TIMESTAMP, "g.updated_at", NULL, false},
    {"members.value", SCIM_SQL_EXISTS, MEMBERS_EXISTS, "m.member_id", true},
    {"members.type", SCIM_SQL_EXISTS, MEMBERS_EXISTS, "m.member_type", false},
    {NULL, SCIM_SQL_TEXT, NULL, NULL, false},
};
static const struct scim_sql_map group_map = {&scim_rt_group, "g.doc", group_columns};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static char *fixture_path(const char *rel)
{
    return xasprintf("%s/filter/%s", FIXTURES_DIR, rel);
}

static bool fixture_exists(const char *rel)
{
    char *path = fixture_path(rel);
    struct stat st;
    bool ok = stat(path, &st) == 0;
    free(path);
    return ok;
}

/* FIXTURES_DIR/filter/<dir>/<name> without one trailing newline, or NULL. */
static char *read_case_file_raw(const char *dir, const char *name, bool strip)
{
    char *rel = xasprintf("%s/%s", dir, name);
    char *text = NULL;
    if (fixture_exists(rel)) {
        char *full = xasprintf("filter/%s", rel);
        size_t len;
        text = tu_read_fixture(full, &len);
        if (strip && len > 0 && text[len - 1] == '\n')
            text[len - 1] = '\0';
        free(full);
    }
    free(rel);
    return text;
}

static char *read_case_file(const char *dir, const char *name)
{
    return read_case_file_raw(dir, name, true);
}

static const struct scim_resource_type *resource_named(const char *name)
{
    if (!name || strcmp(name, "User") == 0)
        return &scim_rt_user;
    if (strcmp(name, "Group") == 0)
        return &scim_rt_group;
    ck_assert_msg(strcmp(name, "none") == 0, "unknown resource %s", name);
    return NULL;
}

static void sexpr_path(struct strbuf *b, const struct scim_attr_path *p)
{
    if (p->in_extension)
        strbuf_printf(b, "%s:", p->schema ? p->schema->id : p->urn);
    strbuf_puts(b, p->attr_def ? p->attr_def->name : p->attr);
    if (p->sub)
        strbuf_printf(b, ".%s", p->sub_def ? p->sub_def->name : p->sub);
}

static const char *op_text(enum scim_filter_op op)
{
    static const char *const names[] = {"eq", "ne", "co", "sw",  "ew", "pr",  "gt",
                                        "ge", "lt", "le", "and", "or", "not", "[]"};
    return names[op];
}

static void sexpr(struct strbuf *b, const struct scim_filter *f);

/* Chains of one operator print flat: (and a b c). */
static void sexpr_chain(struct strbuf *b, const struct scim_filter *f,
                        enum scim_filter_op op)
{
    if (f->op != op) {
        strbuf_putc(b, ' ');
        sexpr(b, f);
        return;
    }
    sexpr_chain(b, f->left, op);
    sexpr_chain(b, f->right, op);
}

static void sexpr(struct strbuf *b, const struct scim_filter *f)
{
    strbuf_putc(b, '(');
    if (f->op == SCIM_OP_AND || f->op == SCIM_OP_OR) {
        strbuf_puts(b, op_text(f->op));
        sexpr_chain(b, f, f->op);
    } else if (f->op == SCIM_OP_NOT) {
        strbuf_puts(b, "not ");
        sexpr(b, f->left);
    } else if (f->op == SCIM_OP_VALUE_PATH) {
        sexpr_path(b, &f->path);
        strbuf_puts(b, "[] ");
        sexpr(b, f->left);
    } else {
        strbuf_printf(b, "%s ", op_text(f->op));
        sexpr_path(b, &f->path);
        if (f->value) {
            char *v = json_dumps(f->value, JSON_ENCODE_ANY);
            strbuf_printf(b, " %s", v);
            free(v);
        }
    }
    strbuf_putc(b, ')');
}

static char *tree_text(const struct scim_filter *f)
{
    struct strbuf b = {0};
    sexpr(&b, f);
    return strbuf_detach(&b);
}

static char *path_text(const struct scim_patch_path *p)
{
    struct strbuf b = {0};
    strbuf_puts(&b, "attr=");
    sexpr_path(&b, &p->attr);
    strbuf_puts(&b, " filter=");
    if (p->filter)
        sexpr(&b, p->filter);
    else
        strbuf_puts(&b, "-");
    strbuf_printf(
        &b, " after=%s",
        p->sub_after ? (p->sub_after_def ? p->sub_after_def->name : p->sub_after) : "-");
    return strbuf_detach(&b);
}

static const struct scim_sql_map *map_for(const struct scim_resource_type *rt)
{
    return rt == &scim_rt_group ? &group_map : &user_map;
}

/* ------------------------------------------------------------------------ */
/* Fixture cases                                                            */
/* ------------------------------------------------------------------------ */

static char **case_names;
static size_t n_cases;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory under tests/fixtures/filter with an input file. */
static void load_case_names(void)
{
    char *dir = fixture_path("");
    DIR *d = opendir(dir);
    if (!d)
        util_fatal("cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        char *rel = xasprintf("%s/input", e->d_name);
        if (e->d_name[0] != '.' && fixture_exists(rel)) {
            case_names = xrealloc(case_names, (n_cases + 1) * sizeof *case_names);
            case_names[n_cases++] = xstrdup(e->d_name);
        }
        free(rel);
    }
    closedir(d);
    free(dir);
    qsort(case_names, n_cases, sizeof *case_names, cmp_names);
}

/* What one case produces: the output text and parameters, or an error. */
struct case_result {
    bool ok;
    struct scim_error err;
    char *text; /* sql / path description / sort expression */
    char *tree; /* filter mode: the s-expression */
    struct scim_sql sql;
};

static void run_filter(const char *input, const struct scim_resource_type *rt,
                       struct case_result *r)
{
    struct scim_filter *f = scim_filter_parse(input, rt, &r->err);
    if (!f)
        return;
    r->tree = tree_text(f);
    json_t *doc =
        tu_load_json_fixture(rt == &scim_rt_group ? "filter/documents/group_eng.json"
                                                  : "filter/documents/user_babs.json");
    (void)scim_filter_match(f, doc); /* must not crash, whatever the answer */
    json_decref(doc);
    r->ok = scim_filter_to_sql(f, map_for(rt), 1, &r->sql, &r->err);
    if (r->ok)
        r->text = xstrdup(r->sql.where.s ? r->sql.where.s : "");
    scim_filter_free(f);
}

static void run_path(const char *input, const struct scim_resource_type *rt,
                     struct case_result *r)
{
    struct scim_patch_path p;
    r->ok = scim_patch_path_parse(input, rt, &p, &r->err);
    if (!r->ok) {
        ck_assert_ptr_null(p.filter);
        ck_assert_ptr_null(p.attr.attr);
        return;
    }
    r->text = path_text(&p);
    scim_patch_path_clear(&p);
}

static void run_sort(const char *input, const struct scim_resource_type *rt,
                     struct case_result *r)
{
    struct strbuf out = {0};
    r->ok = scim_filter_sort_sql(input, map_for(rt), &out, &r->err);
    r->text = r->ok ? strbuf_detach(&out) : NULL;
    strbuf_clear(&out);
}

static void check_error(const char *name, const struct case_result *r,
                        const char *expected)
{
    char *nl = strchr(expected, '\n');
    ck_assert_msg(nl, "%s: error file needs two lines", name);
    *nl = '\0';
    ck_assert_msg(!r->ok, "%s: expected error %s, got success: %s", name, expected,
                  r->text ? r->text : "");
    ck_assert_int_eq(r->err.status, 400);
    ck_assert_msg(r->err.type && strcmp(r->err.type, expected) == 0,
                  "%s: scimType %s, expected %s (%s)", name, r->err.type, expected,
                  r->err.detail);
    ck_assert_msg(strstr(r->err.detail, nl + 1), "%s: detail \"%s\" lacks \"%s\"", name,
                  r->err.detail, nl + 1);
}

/* params holds one parameter per line, each ending with a newline. */
static void check_params(const char *name, const struct case_result *r,
                         const char *params)
{
    size_t i = 0;
    for (const char *line = params ? params : ""; *line; i++) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        ck_assert_msg(i < r->sql.nparams, "%s: fewer parameters than expected", name);
        ck_assert_msg(strlen(r->sql.params[i]) == n &&
                          memcmp(r->sql.params[i], line, n) == 0,
                      "%s: $%zu is \"%s\", expected \"%.*s\"", name, i + 1,
                      r->sql.params[i], (int)n, line);
        line += n + (nl ? 1 : 0);
    }
    ck_assert_msg(i == r->sql.nparams, "%s: %zu parameters, expected %zu", name,
                  r->sql.nparams, i);
}

START_TEST(test_fixture_case)
{
    const char *name = case_names[_i];
    char *input = read_case_file(name, "input");
    char *resource = read_case_file(name, "resource");
    char *mode = read_case_file(name, "mode");
    char *error = read_case_file(name, "error");
    char *sql = read_case_file(name, "sql");
    char *params = read_case_file_raw(name, "params", false);
    char *tree = read_case_file(name, "tree");
    const struct scim_resource_type *rt = resource_named(resource);
    struct case_result r = {0};
    if (!mode || strcmp(mode, "filter") == 0)
        run_filter(input, rt, &r);
    else if (strcmp(mode, "path") == 0)
        run_path(input, rt, &r);
    else
        run_sort(input, rt, &r);
    ck_assert_msg(error || sql, "%s: needs an error or sql file", name);
    if (tree)
        ck_assert_msg(r.tree && strcmp(r.tree, tree) == 0,
                      "%s: tree\n  %s\nexpected\n  %s", name, r.tree ? r.tree : "(none)",
                      tree);
    if (error) {
        check_error(name, &r, error);
    } else {
        ck_assert_msg(r.ok, "%s: unexpected error %s: %s", name, r.err.type,
                      r.err.detail);
        ck_assert_msg(strcmp(r.text, sql) == 0, "%s: got\n  %s\nexpected\n  %s", name,
                      r.text, sql);
        if (!mode || strcmp(mode, "filter") == 0)
            check_params(name, &r, params);
    }
    scim_sql_clear(&r.sql);
    free(r.text);
    free(r.tree);
    free(input);
    free(resource);
    free(mode);
    free(error);
    free(sql);
    free(params);
    free(tree);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The match table                                                          */
/* ------------------------------------------------------------------------ */

/* Runs every line "<document> <yes|no> <filter>" of matches.txt. */
START_TEST(test_match_table)
{
    char *table = tu_read_fixture("filter/matches.txt", NULL);
    int lineno = 0, cases = 0;
    for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n")) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char doc_name[64], expect[8];
        int used = 0;
        ck_assert_msg(sscanf(line, "%63s %7s %n", doc_name, expect, &used) == 2 &&
                          used > 0,
                      "matches.txt:%d: malformed", lineno);
        const char *filter = line + used;
        const struct scim_resource_type *rt =
            strncmp(doc_name, "group", 5) == 0 ? &scim_rt_group : &scim_rt_user;
        char *rel = xasprintf("filter/documents/%s.json", doc_name);
        json_t *doc = tu_load_json_fixture(rel);
        struct scim_error err = {0};
        struct scim_filter *f = scim_filter_parse(filter, rt, &err);
        ck_assert_msg(f, "matches.txt:%d: %s", lineno, err.detail);
        bool want = strcmp(expect, "yes") == 0;
        ck_assert_msg(want || strcmp(expect, "no") == 0, "matches.txt:%d: yes or no",
                      lineno);
        ck_assert_msg(scim_filter_match(f, doc) == want,
                      "matches.txt:%d: %s on %s should be %s", lineno, filter, doc_name,
                      expect);
        struct scim_sql sql = {0};
        ck_assert_msg(scim_filter_to_sql(f, map_for(rt), 1, &sql, &err),
                      "matches.txt:%d: no SQL: %s", lineno, err.detail);
        scim_sql_clear(&sql);
        scim_filter_free(f);
        json_decref(doc);
        free(rel);
        cases++;
    }
    ck_assert_int_ge(cases, 100);
    free(table);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

static char *nested(const char *open, int depth, const char *core, const char *close)
{
    struct strbuf b = {0};
    for (int i = 0; i < depth; i++)
        strbuf_puts(&b, open);
    strbuf_puts(&b, core);
    for (int i = 0; i < depth; i++)
        strbuf_puts(&b, close);
    return strbuf_detach(&b);
}

static void expect_parse_error(const char *text, const char *piece)
{
    struct scim_error err = {0};
    struct scim_filter *f = scim_filter_parse(text, &scim_rt_user, &err);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, SCIM_TYPE_INVALID_FILTER);
    ck_assert_msg(strstr(err.detail, piece), "detail \"%s\" lacks \"%s\"", err.detail,
                  piece);
}

static void expect_parse_ok(const char *text)
{
    struct scim_error err = {0};
    struct scim_filter *f = scim_filter_parse(text, &scim_rt_user, &err);
    ck_assert_msg(f, "%.80s: %s", text, err.detail);
    scim_filter_free(f);
}

START_TEST(test_depth_limit)
{
    char *s = nested("(", SCIM_FILTER_MAX_DEPTH, "title pr", ")");
    expect_parse_ok(s);
    free(s);
    s = nested("(", SCIM_FILTER_MAX_DEPTH + 1, "title pr", ")");
    expect_parse_error(s, "nested deeper than 64 levels at position 65");
    free(s);
    s = nested("not (", SCIM_FILTER_MAX_DEPTH + 1, "title pr", ")");
    expect_parse_error(s, "nested deeper than 64");
    free(s);
    s = nested("(", SCIM_FILTER_MAX_DEPTH - 1, "emails[type pr]", ")");
    expect_parse_ok(s);
    free(s);
    s = nested("(", SCIM_FILTER_MAX_DEPTH, "emails[type pr]", ")");
    expect_parse_error(s, "nested deeper than 64");
    free(s);
    /* Deep input that is also unbalanced fails on depth, without recursing on. */
    s = nested("(", 100000, "", "");
    expect_parse_error(s, "longer than 8192 bytes");
    free(s);
    s = nested("(", 8000, "", "");
    expect_parse_error(s, "nested deeper than 64");
    free(s);
}
END_TEST

START_TEST(test_length_limit)
{
    struct strbuf b = {0};
    strbuf_puts(&b, "userName eq \"");
    while (b.len < SCIM_FILTER_MAX_LEN - 1)
        strbuf_putc(&b, 'x');
    strbuf_putc(&b, '"');
    ck_assert_int_eq(b.len, SCIM_FILTER_MAX_LEN);
    expect_parse_ok(b.s);
    strbuf_putc(&b, ' ');
    expect_parse_error(b.s, "filter longer than 8192 bytes at position 8193");
    strbuf_clear(&b);

    struct scim_error err = {0};
    struct scim_patch_path p;
    char *long_path = nested("a", SCIM_FILTER_MAX_LEN + 1, "", "");
    ck_assert(!scim_patch_path_parse(long_path, &scim_rt_user, &p, &err));
    ck_assert_str_eq(err.type, SCIM_TYPE_INVALID_PATH);
    free(long_path);
}
END_TEST

static int tree_depth(const struct scim_filter *f)
{
    if (!f)
        return 0;
    int l = tree_depth(f->left), r = tree_depth(f->right);
    return 1 + (l > r ? l : r);
}

/* A chain of a thousand "or"s parses into a shallow tree and compiles. */
START_TEST(test_long_chain)
{
    struct strbuf b = {0};
    int n = 0;
    strbuf_puts(&b, "title pr");
    while (b.len + 32 < SCIM_FILTER_MAX_LEN) {
        strbuf_puts(&b, n % 3 ? " or title pr" : " and id eq \"x\"");
        n++;
    }
    struct scim_error err = {0};
    struct scim_filter *f = scim_filter_parse(b.s, &scim_rt_user, &err);
    ck_assert_msg(f, "%s", err.detail);
    ck_assert_int_le(tree_depth(f), 16);
    struct scim_sql sql = {0};
    ck_assert(scim_filter_to_sql(f, &user_map, 1, &sql, &err));
    ck_assert_int_eq(sql.nparams, (n + 2) / 3);
    json_t *doc = tu_load_json_fixture("filter/documents/user_babs.json");
    ck_assert(scim_filter_match(f, doc));
    json_decref(doc);
    scim_sql_clear(&sql);
    scim_filter_free(f);
    strbuf_clear(&b);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* SQL output handling                                                      */
/* ------------------------------------------------------------------------ */

START_TEST(test_sql_append_and_rollback)
{
    struct scim_error err = {0};
    struct scim_sql sql = {0};
    strbuf_puts(&sql.where, "u.org_id = $1 AND ");
    struct scim_filter *f = scim_filter_parse("userName eq \"a\" or externalId eq \"b\"",
                                              &scim_rt_user, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert(scim_filter_to_sql(f, &user_map, 2, &sql, &err));
    ck_assert_str_eq(
        sql.where.s,
        "u.org_id = $1 AND (lower(u.user_name) = lower($2) OR u.external_id = $3)");
    ck_assert_int_eq(sql.nparams, 2);
    scim_filter_free(f);

    /* A failure halfway leaves text and parameters as they were. */
    f = scim_filter_parse("userName eq \"c\" and meta.version eq \"W/1\"", &scim_rt_user,
                          &err);
    ck_assert_ptr_nonnull(f);
    size_t len = sql.where.len;
    ck_assert(!scim_filter_to_sql(f, &user_map, 4, &sql, &err));
    ck_assert_str_eq(err.type, SCIM_TYPE_INVALID_FILTER);
    ck_assert_ptr_nonnull(strstr(err.detail, "meta.version"));
    ck_assert_int_eq(sql.where.len, len);
    ck_assert_int_eq(strlen(sql.where.s), len);
    ck_assert_int_eq(sql.nparams, 2);
    scim_filter_free(f);
    scim_sql_clear(&sql);
    scim_sql_clear(&sql);
    scim_sql_clear(NULL);
    scim_filter_free(NULL);
    scim_patch_path_clear(NULL);
}
END_TEST

/* The sortBy expression is appended to what the caller has written. */
START_TEST(test_sort_appends)
{
    struct scim_error err = {0};
    struct strbuf out = {0};
    strbuf_puts(&out, "ORDER BY ");
    ck_assert(scim_filter_sort_sql("userName", &user_map, &out, &err));
    ck_assert_str_eq(out.s, "ORDER BY lower(u.user_name)");
    ck_assert(!scim_filter_sort_sql("", &user_map, &out, &err));
    ck_assert_str_eq(err.type, SCIM_TYPE_INVALID_PATH);
    strbuf_clear(&out);
}
END_TEST

/* Each column compares the way the attribute's caseExact says, so that SQL
 * and in-memory evaluation agree. */
START_TEST(test_maps_follow_case_rules)
{
    const struct scim_sql_map *maps[] = {&user_map, &group_map};
    for (size_t m = 0; m < ARRAY_LEN(maps); m++) {
        for (const struct scim_sql_column *c = maps[m]->columns; c->path; c++) {
            struct scim_error err = {0};
            struct scim_patch_path p;
            ck_assert_msg(scim_patch_path_parse(c->path, maps[m]->rt, &p, &err), "%s: %s",
                          c->path, err.detail);
            const struct scim_attr *def = p.attr.sub ? p.attr.sub_def : p.attr.attr_def;
            ck_assert_ptr_nonnull(def);
            if (c->kind == SCIM_SQL_TEXT || c->kind == SCIM_SQL_EXISTS)
                ck_assert_msg(def->case_exact == c->case_exact, "%s: caseExact differs",
                              c->path);
            scim_patch_path_clear(&p);
        }
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* PATCH paths and element filters                                          */
/* ------------------------------------------------------------------------ */

START_TEST(test_patch_filter_on_elements)
{
    struct scim_error err = {0};
    struct scim_patch_path p;
    ck_assert(
        scim_patch_path_parse("emails[type eq \"work\" and not (primary eq false)].value",
                              &scim_rt_user, &p, &err));
    json_t *work = tu_json("{\"type\":\"WORK\",\"value\":\"a@b.c\"}");
    json_t *home = tu_json("{\"type\":\"home\",\"value\":\"a@b.c\",\"primary\":true}");
    json_t *not_primary = tu_json("{\"type\":\"work\",\"primary\":false}");
    ck_assert(scim_filter_match(p.filter, work));
    ck_assert(!scim_filter_match(p.filter, home));
    ck_assert(!scim_filter_match(p.filter, not_primary));
    ck_assert(!scim_filter_match(p.filter, NULL));
    ck_assert(!scim_filter_match(NULL, work));
    ck_assert_str_eq(p.sub_after, "value");
    ck_assert_ptr_nonnull(p.sub_after_def);
    scim_patch_path_clear(&p);
    ck_assert_ptr_null(p.filter);

    ck_assert(
        scim_patch_path_parse("members[value eq \"usr_1\"]", &scim_rt_group, &p, &err));
    json_t *member = tu_json("{\"value\":\"usr_1\",\"type\":\"User\"}");
    ck_assert(scim_filter_match(p.filter, member));
    scim_patch_path_clear(&p);
    json_decref(work);
    json_decref(home);
    json_decref(not_primary);
    json_decref(member);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Untyped parsing                                                          */
/* ------------------------------------------------------------------------ */

START_TEST(test_untyped)
{
    struct scim_error err = {0};
    struct scim_filter *f = scim_filter_parse(
        "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"BJensen@example.com\" "
        "and "
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr and "
        "Emails[Type eq \"work\"]",
        NULL, &err);
    ck_assert_msg(f, "%s", err.detail);
    ck_assert_ptr_null(f->left->path.attr_def);
    json_t *doc = tu_load_json_fixture("filter/documents/user_babs.json");
    ck_assert(scim_filter_match(f, doc));
    char *tree = tree_text(f);
    ck_assert_str_eq(tree,
                     "(and (eq userName \"BJensen@example.com\") "
                     "(pr urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
                     "manager.value) (Emails[] (eq Type \"work\")))");
    free(tree);
    scim_filter_free(f);
    json_decref(doc);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Values and positions                                                     */
/* ------------------------------------------------------------------------ */

static json_t *parsed_value(const char *text)
{
    struct scim_error err = {0};
    struct scim_filter *f = scim_filter_parse(text, NULL, &err);
    ck_assert_msg(f, "%s: %s", text, err.detail);
    json_t *v = json_incref(f->value);
    scim_filter_free(f);
    return v;
}

START_TEST(test_values)
{
    json_t *v = parsed_value("x eq 9223372036854775807");
    ck_assert(json_is_integer(v) && json_integer_value(v) == 9223372036854775807LL);
    json_decref(v);
    v = parsed_value("x eq 9223372036854775808");
    ck_assert(json_is_real(v));
    json_decref(v);
    v = parsed_value("x eq -0.5e-3");
    ck_assert(json_is_real(v) && json_real_value(v) == -0.0005);
    json_decref(v);
    v = parsed_value("x eq \"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
    ck_assert_str_eq(json_string_value(v), "\xc3\xa9\xf0\x9f\x98\x80\"\\/\b\f\n\r\t");
    json_decref(v);
    v = parsed_value("x eq TRUE");
    ck_assert(json_is_true(v));
    json_decref(v);
    v = parsed_value("x eq Null");
    ck_assert(json_is_null(v));
    json_decref(v);
    expect_parse_error("title eq 1e999", "number out of range at position 10");
    expect_parse_error("title eq 01", "invalid number at position 10");
    expect_parse_error("title eq 1.", "invalid number");
    expect_parse_error("title eq -", "invalid number");
    expect_parse_error("title eq 5or title pr", "invalid number");
    expect_parse_error("title eq \"\xff\"", "not valid UTF-8");
    expect_parse_error("title eq \"\\ud83d\\u0041\"", "unpaired surrogate");
}
END_TEST

/* Positions count characters, not bytes. */
START_TEST(test_positions_count_characters)
{
    expect_parse_error("displayName eq \"J\xc3\xbcrgen\" and title", "at position 34");
    expect_parse_error("displayName eq \"\xe2\x82\xac\xe2\x82\xac\" garbage",
                       "at position 21");
}
END_TEST

int main(void)
{
    load_case_names();
    if (n_cases < 60) {
        fprintf(stderr, "only %zu fixture cases under %s/filter\n", n_cases,
                FIXTURES_DIR);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("scim_filter");
    TCase *fx = tcase_create("fixtures");
    tcase_add_loop_test(fx, test_fixture_case, 0, (int)n_cases);
    suite_add_tcase(s, fx);
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_match_table);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_length_limit);
    tcase_add_test(tc, test_long_chain);
    tcase_add_test(tc, test_sql_append_and_rollback);
    tcase_add_test(tc, test_sort_appends);
    tcase_add_test(tc, test_maps_follow_case_rules);
    tcase_add_test(tc, test_patch_filter_on_elements);
    tcase_add_test(tc, test_untyped);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_positions_count_characters);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* Every case is a test of its own; forking ~180 times under the
     * sanitizers takes most of a minute, so run in one process unless
     * CK_FORK asks otherwise. */
    if (!getenv("CK_FORK"))
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (size_t i = 0; i < n_cases; i++)
        free(case_names[i]);
    free(case_names);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
