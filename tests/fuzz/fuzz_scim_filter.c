/*
 * fuzz_scim_filter.c - libFuzzer target for the filter parser: parses the
 * input for Users, for Groups and untyped, compiles each tree to SQL with the
 * recommended maps, evaluates it against a fixed document, also reads the
 * input as a sortBy, and checks invariants of the SQL text on the way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scim_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

static const char doc_text[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
    "\"id\":\"usr_1\",\"externalId\":\"701984\",\"userName\":\"bjensen@example.com\","
    "\"name\":{\"familyName\":\"Jensen\",\"givenName\":\"Barbara\"},"
    "\"title\":\"\",\"active\":true,\"nickName\":null,"
    "\"emails\":[{\"value\":\"bjensen@example.com\",\"type\":\"work\",\"primary\":true},"
    "{\"value\":\"babs@jensen.org\",\"type\":\"home\"},{\"type\":\"other\"},\"odd\",[1]],"
    "\"members\":[{\"value\":\"usr_2\",\"type\":\"User\"}],"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
    "{\"employeeNumber\":\"701984\",\"manager\":{\"value\":\"usr_9\"}},"
    "\"urn:acme:x:2.0:User\":{\"level\":3,\"score\":2.5,\"vip\":true,\"tags\":[\"a\",1]},"
    "\"meta\":{\"created\":\"2010-01-23T04:56:22Z\",\"lastModified\":\"2011-05-13T04:42:"
    "34Z\"}}";

/* The SQL text never carries input bytes: it is ASCII, has no statement
 * separator and its string literals are balanced; every parameter is used. */
static void check_sql(const struct scim_sql *sql, int first)
{
    const char *w = sql->where.s ? sql->where.s : "";
    size_t quotes = 0;
    for (const char *c = w; *c; c++) {
        if ((unsigned char)*c >= 0x80 || *c == ';')
            abort();
        quotes += *c == '\'';
    }
    if (quotes % 2 != 0 || sql->where.len == 0)
        abort();
    for (size_t i = 0; i < sql->nparams; i++) {
        char ref[24];
        snprintf(ref, sizeof ref, "$%d", first + (int)i);
        if (!strstr(w, ref) || !sql->params[i])
            abort();
    }
}

static void run(const char *text, const struct scim_resource_type *rt,
                const struct scim_sql_map *map, const json_t *doc)
{
    struct scim_error err = {0};
    struct scim_filter *f = scim_filter_parse(text, rt, &err);
    if (!f) {
        if (err.status != 400 || !err.type)
            abort();
        return;
    }
    (void)scim_filter_match(f, doc);
    struct scim_sql sql = {0};
    if (scim_filter_to_sql(f, map, 2, &sql, &err))
        check_sql(&sql, 2);
    else if (sql.nparams != 0 || sql.where.len != 0)
        abort();
    scim_sql_clear(&sql);
    scim_filter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *doc;
    if (!doc)
        doc = json_loads(doc_text, 0, NULL);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    run(text, &scim_rt_user, &user_map, doc);
    run(text, &scim_rt_group, &group_map, doc);
    run(text, NULL, &user_map, doc);
    struct scim_error err = {0};
    struct strbuf order = {0};
    (void)scim_filter_sort_sql(text, &user_map, &order, &err);
    strbuf_clear(&order);
    free(text);
    return 0;
}
