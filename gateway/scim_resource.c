/*
 * scim_resource.c - list parameters, paged SQL, ListResponse, meta, ETags.
 */
#include "scim_resource.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool fail(struct request *req, const struct scim_error *err)
{
    request_reply_error(req, err);
    return false;
}

/* An integer query parameter; digits beyond the range saturate (a client's
 * "count=99999999999999999999" means "as many as allowed"). */
static bool parse_big_int(const char *v, long long *out)
{
    if (util_parse_int(v, INT64_MIN / 2, INT64_MAX / 2, out))
        return true;
    const char *p = v + (*v == '-' || *v == '+');
    if (!*p || strspn(p, "0123456789") != strlen(p))
        return false;
    *out = *v == '-' ? INT64_MIN / 2 : INT64_MAX / 2;
    return true;
}

static bool parse_start(struct request *req, const char *v, long long *out)
{
    *out = 1;
    if (!v || !*v)
        return true;
    if (!parse_big_int(v, out)) {
        request_fail(req, 400, SCIM_TYPE_INVALID_VALUE, "startIndex must be an integer.");
        return false;
    }
    if (*out < 1)
        *out = 1; /* RFC 7644 3.4.2.4 */
    return true;
}

static bool parse_count(struct request *req, const char *v, long long *out)
{
    long long max = req->gw->cfg->filter_max_results;
    *out = max;
    if (!v || !*v)
        return true;
    if (!parse_big_int(v, out)) {
        request_fail(req, 400, SCIM_TYPE_INVALID_VALUE, "count must be an integer.");
        return false;
    }
    if (*out < 0)
        *out = 0;
    if (*out > max)
        *out = max;
    return true;
}

static bool parse_order(struct request *req, const char *v, bool *desc)
{
    *desc = false;
    if (!v || !*v || util_streq_ci(v, "ascending"))
        return true;
    if (util_streq_ci(v, "descending")) {
        *desc = true;
        return true;
    }
    request_fail(req, 400, SCIM_TYPE_INVALID_VALUE,
                 "sortOrder must be \"ascending\" or \"descending\".");
    return false;
}

static bool parse_common(struct request *req, const struct scim_resource_type *rt,
                         const char *filter, const char *start, const char *count,
                         const char *sort_by, const char *order, const char *attrs,
                         const char *excluded, struct scim_list_params *out)
{
    memset(out, 0, sizeof *out);
    struct scim_error err = {0};
    if (!parse_start(req, start, &out->start_index) || !parse_count(req, count, &out->count) ||
        !parse_order(req, order, &out->descending))
        return false;
    if (filter && *filter) {
        out->filter = scim_filter_parse(filter, rt, &err);
        if (!out->filter)
            return fail(req, &err);
    }
    if (sort_by && *sort_by)
        out->sort_by = xstrdup(sort_by);
    out->proj = scim_projection_parse(rt, attrs, excluded, &err);
    if (!out->proj && err.status) {
        scim_list_params_clear(out);
        return fail(req, &err);
    }
    return true;
}

bool scim_list_params_from_query(struct request *req, const struct scim_resource_type *rt,
                                 struct scim_list_params *out)
{
    return parse_common(req, rt, request_query(req, "filter"), request_query(req, "startIndex"),
                        request_query(req, "count"), request_query(req, "sortBy"),
                        request_query(req, "sortOrder"), request_query(req, "attributes"),
                        request_query(req, "excludedAttributes"), out);
}

/* A SearchRequest member as text: strings as they are, integers printed,
 * arrays of strings joined with commas. NULL when absent or null. */
static const char *member_text(const json_t *v, char *buf, size_t len, struct strbuf *join,
                               bool *bad)
{
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                *bad = true;
                return NULL;
            }
            if (join->len)
                strbuf_putc(join, ',');
            strbuf_puts(join, json_string_value(e));
        }
        return join->s ? join->s : "";
    }
    *bad = true;
    return NULL;
}

bool scim_list_params_from_search(struct request *req, const struct scim_resource_type *rt,
                                  struct scim_list_params *out)
{
    const json_t *b = req->json;
    const json_t *schemas = json_object_get(b, "schemas");
    if (schemas && (!json_is_array(schemas) ||
                    !json_string_value(json_array_get(schemas, 0)) ||
                    strcmp(json_string_value(json_array_get(schemas, 0)), SCIM_SCHEMA_SEARCH))) {
        request_fail(req, 400, SCIM_TYPE_INVALID_SYNTAX, "schemas must be [\"%s\"].",
                     SCIM_SCHEMA_SEARCH);
        return false;
    }
    static const char *const keys[] = {"filter",    "startIndex", "count",      "sortBy",
                                       "sortOrder", "attributes", "excludedAttributes"};
    const char *vals[7];
    char nums[7][32];
    struct strbuf joins[7] = {{0}};
    bool bad = false;
    for (size_t i = 0; i < 7; i++) {
        /* Member names are case-insensitive like attribute names. */
        const json_t *v = NULL;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)b, k, x)
            if (util_streq_ci(k, keys[i]))
                v = x;
        vals[i] = member_text(v, nums[i], sizeof nums[i], &joins[i], &bad);
        if (bad) {
            request_fail(req, 400, SCIM_TYPE_INVALID_VALUE, "\"%s\" has the wrong type.",
                         keys[i]);
            for (size_t k2 = 0; k2 < 7; k2++)
                strbuf_clear(&joins[k2]);
            return false;
        }
    }
    bool ok = parse_common(req, rt, vals[0], vals[1], vals[2], vals[3], vals[4], vals[5],
                           vals[6], out);
    for (size_t i = 0; i < 7; i++)
        strbuf_clear(&joins[i]);
    return ok;
}

void scim_list_params_clear(struct scim_list_params *p)
{
    scim_filter_free(p->filter);
    scim_projection_free(p->proj);
    free(p->sort_by);
    memset(p, 0, sizeof *p);
}

static void bind_all(struct pg_query *q, const char *org_id, const struct scim_sql *sql)
{
    pg_query_param(q, org_id);
    for (size_t i = 0; i < sql->nparams; i++)
        pg_query_param(q, sql->params[i]);
}

bool scim_list_append(struct request *req, struct pg_query *q,
                      const struct scim_list_params *p, const struct scim_sql_map *map,
                      const char *from_where, const char *columns, const char *tiebreak)
{
    struct scim_error err = {0};
    struct scim_sql sql = {0};
    struct strbuf order = {0}, text = {0};
    bool ok = true;
    if (p->filter && !scim_filter_to_sql(p->filter, map, 2, &sql, &err))
        ok = false;
    if (ok && p->sort_by && !scim_filter_sort_sql(p->sort_by, map, &order, &err))
        ok = false;
    if (!ok) {
        scim_sql_clear(&sql);
        strbuf_clear(&order);
        return fail(req, &err);
    }
    const char *where = sql.where.s ? sql.where.s : "";
    strbuf_printf(&text, "SELECT count(*) %s%s%s%s", from_where, *where ? " AND (" : "", where,
                  *where ? ")" : "");
    pg_query_sql_copy(q, text.s);
    bind_all(q, req->org_id, &sql);
    text.len = 0;
    strbuf_printf(&text, "SELECT %s %s%s%s%s ORDER BY ", columns, from_where,
                  *where ? " AND (" : "", where, *where ? ")" : "");
    if (order.s)
        strbuf_printf(&text, "%s %s NULLS LAST, ", order.s, p->descending ? "DESC" : "ASC");
    strbuf_printf(&text, "%s %s", tiebreak, p->descending && !order.s ? "DESC" : "ASC");
    /* The first page (every lookup) has no OFFSET: with an OFFSET parameter
     * PostgreSQL keeps choosing a custom plan and plans the statement on
     * every execution; without one it settles on the cached generic plan. */
    if (p->start_index > 1)
        strbuf_printf(&text, " OFFSET $%zu", sql.nparams + 3);
    strbuf_printf(&text, " LIMIT $%zu", sql.nparams + 2);
    pg_query_sql_copy(q, text.s);
    bind_all(q, req->org_id, &sql);
    pg_query_param_int(q, p->count);
    if (p->start_index > 1)
        pg_query_param_int(q, p->start_index - 1);
    scim_sql_clear(&sql);
    strbuf_clear(&order);
    strbuf_clear(&text);
    return true;
}

const char *const scim_sql_delete_memberships =
    "WITH g AS (DELETE FROM group_members WHERE org_id = $1 AND member_id = $2"
    "  RETURNING group_id),"
    " v AS (UPDATE groups SET version = version + 1, updated_at = now()"
    "  WHERE org_id = $1 AND id IN (SELECT group_id FROM g) RETURNING id)"
    " SELECT scimgate_assert(coalesce((SELECT array_agg(group_id ORDER BY group_id COLLATE \"C\")"
    "  FROM g), '{}') = $3::text[], '" SQLSTATE_VERSION_CHANGED "',"
    "  'memberships changed concurrently'), (SELECT count(*) FROM v)";

char *scim_id_array_literal(const json_t *arr, const char *key)
{
    size_t n = json_array_size(arr);
    const char **ids = xcalloc(n ? n : 1, sizeof *ids);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(arr, i), key));
        if (id)
            ids[k++] = id;
    }
    /* Byte order, as array_agg(... ORDER BY) with COLLATE "C" sorts them. */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && strcmp(ids[j - 1], ids[j]) > 0; j--) {
            const char *t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    struct strbuf b = {0};
    strbuf_putc(&b, '{');
    for (size_t i = 0; i < k; i++) {
        if (i)
            strbuf_putc(&b, ',');
        strbuf_printf(&b, "\"%s\"", ids[i]); /* ids are [A-Za-z0-9_] */
    }
    strbuf_putc(&b, '}');
    free(ids);
    return strbuf_detach(&b);
}

bool scim_projection_from_query(struct request *req, const struct scim_resource_type *rt,
                                struct scim_projection **out)
{
    struct scim_error err = {0};
    const char *a = request_query(req, "attributes"), *x = request_query(req, "excludedAttributes");
    *out = NULL;
    if ((!a || !*a) && (!x || !*x))
        return true;
    *out = scim_projection_parse(rt, a, x, &err);
    if (!*out && err.status)
        return fail(req, &err);
    return true;
}

const char *scim_etag(long long version, char *buf, size_t len)
{
    snprintf(buf, len, "W/\"%lld\"", version);
    return buf;
}

/* True when the entity-tag list (RFC 9110) names version or is "*". */
static bool tags_name(const char *list, long long version)
{
    char want[32];
    snprintf(want, sizeof want, "\"%lld\"", version);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        size_t n = strcspn(p, ",");
        size_t wl = strlen(want);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == wl && strncmp(p, want, wl) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

bool scim_if_match(const struct request *req, long long version)
{
    const char *h = request_header(req, "If-Match");
    return !h || tags_name(h, version);
}

bool scim_if_none_match(const struct request *req, long long version)
{
    const char *h = request_header(req, "If-None-Match");
    return h && tags_name(h, version);
}

json_t *scim_meta(const char *resource_type, const char *base, const char *endpoint,
                  const char *id, int64_t created_ms, int64_t updated_ms, long long version)
{
    char created[40], modified[40], etag[32];
    char *location = xasprintf("%s/%s/%s", base, endpoint, id);
    json_t *meta = json_pack("{s:s,s:s,s:s,s:s,s:s}", "resourceType", resource_type, "created",
                             util_format_rfc3339(created_ms, created, sizeof created),
                             "lastModified",
                             util_format_rfc3339(updated_ms, modified, sizeof modified),
                             "location", location, "version",
                             scim_etag(version, etag, sizeof etag));
    free(location);
    return meta;
}
