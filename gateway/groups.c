/*
 * groups.c - SCIM 2.0 /Groups, built for very large memberships.
 *
 * Members are rows of group_members (one per membership), never a list held
 * in a document, and every membership change is one set-based statement:
 * insert the wanted ids that are users or groups of the organization (an
 * assertion aborts the transaction when one is not, or when a nested group
 * would make a cycle), delete a set, or delete everything outside a set. Each
 * statement returns the ids it really changed, so the events say exactly
 * what was added and removed, and concurrent PATCHes on one group serialise
 * on the group row without ever reading and rewriting the member list.
 *
 * PUT and PATCH run on a leased connection in three round trips: BEGIN and
 * lock the group row; apply the document change and the member statements in
 * request order; bump the version if anything changed, append the events,
 * COMMIT. POST and DELETE are single segments.
 *
 * Reads stream: the group's JSON prefix goes out first, then its members in
 * keyset pages (each fetched only after the previous chunk reached the
 * socket), so a 100,000-member group is never held in memory at once. Small
 * answers that fit in one page are sent as ordinary replies.
 */
#include "groups.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "hmap.h"
#include "ids.h"
#include "log.h"
#include "outbox.h"
#include "pg_pool.h"
#include "scim_patch.h"
#include "scim_resource.h"
#include "util.h"

#define PAGE 5000          /* members per page of a single group */
#define LIST_PAGE 200      /* members per group in the first page of a list */
#define EVENT_IDS 5000     /* ids per membersChanged event */
#define MAX_TRIES 5
#define SQLSTATE_BAD_MEMBER "SGM01"
#define SQLSTATE_CYCLE "SGC01"

#define MEMBERS_EXISTS                                                                     \
    "EXISTS (SELECT 1 FROM group_members m WHERE m.org_id = g.org_id AND m.group_id = g.id" \
    " AND %s)"
static const struct scim_sql_column group_columns[] = {
    {"id", SCIM_SQL_TEXT, "g.id", NULL, true},
    {"displayName", SCIM_SQL_TEXT, "g.display_name", NULL, false},
    {"externalId", SCIM_SQL_TEXT, "g.external_id", NULL, true},
    {"meta.created", SCIM_SQL_TIMESTAMP, "g.created_at", NULL, false},
    {"meta.lastModified", SCIM_SQL_TIMESTAMP, "g.updated_at", NULL, false},
    {"members.value", SCIM_SQL_EXISTS, MEMBERS_EXISTS, "m.member_id", true},
    {"members.type", SCIM_SQL_EXISTS, MEMBERS_EXISTS, "m.member_type", false},
    {NULL},
};
const struct scim_sql_map groups_sql_map = {&scim_rt_group, "g.doc", group_columns};

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"
#define GROUP_COLUMNS                                                                      \
    "g.id, g.doc::text, g.version, " MS("g.created_at") ", " MS("g.updated_at")

/* A member's display: a user's displayName, else its userName; a group's name. */
#define MEMBER_SELECT                                                                      \
    "m.member_id, m.member_type, coalesce(u.doc->>'displayName', u.user_name, sg.display_name)"
#define MEMBER_JOINS                                                                       \
    " LEFT JOIN users u ON m.member_type = 'User' AND u.org_id = m.org_id"                 \
    "  AND u.id = m.member_id"                                                             \
    " LEFT JOIN groups sg ON m.member_type = 'Group' AND sg.org_id = m.org_id"             \
    "  AND sg.id = m.member_id"

struct group_state {
    char id[IDS_MAX];
    json_t *doc;         /* stored document, without members (owned) */
    long long version;
    int64_t created_ms, updated_ms;
};

static void state_clear(struct group_state *s)
{
    json_decref(s->doc);
    memset(s, 0, sizeof *s);
}

static void state_from_row(const PGresult *r, int row, struct group_state *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", pg_value(r, row, 0));
    s->doc = pg_value_json(r, row, 1);
    if (!s->doc)
        s->doc = json_object();
    s->version = pg_value_int(r, row, 2);
    s->created_ms = pg_value_int(r, row, 3);
    s->updated_ms = pg_value_int(r, row, 4);
}

static const char *doc_str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* ---- rendering ---- */

static json_t *render_base(const struct request *req, const struct group_state *s)
{
    json_t *out = json_object();
    json_t *schemas = json_pack("[s]", SCIM_SCHEMA_GROUP);
    const char *key;
    json_t *v;
    json_object_foreach(s->doc, key, v)
        if (util_has_prefix_ci(key, "urn:") && json_is_object(v))
            json_array_append_new(schemas, json_string(key));
    json_object_set_new(out, "schemas", schemas);
    json_object_set_new(out, "id", json_string(s->id));
    json_object_foreach(s->doc, key, v)
        json_object_set(out, key, v);
    json_object_set_new(out, "meta",
                        scim_meta("Group", req->gw->scim_base, "Groups", s->id, s->created_ms,
                                  s->updated_ms, s->version));
    return out;
}

static json_t *member_json(const struct request *req, const PGresult *r, int row, int col)
{
    const char *id = pg_value(r, row, col), *type = pg_value(r, row, col + 1);
    const char *display = pg_value(r, row, col + 2);
    bool user = type && strcmp(type, "User") == 0;
    char *ref = xasprintf("%s/%s/%s", req->gw->scim_base, user ? "Users" : "Groups", id);
    json_t *m = json_pack("{s:s,s:s,s:s}", "value", id, "$ref", ref, "type", user ? "User" : "Group");
    if (display)
        json_object_set_new(m, "display", json_string(display));
    free(ref);
    return m;
}

/* The product-side group of events (API.md style). */
static json_t *product_group(const struct request *req, const struct group_state *s)
{
    const char *ext = doc_str(s->doc, "externalId");
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:I,s:I}", "id", s->id, "object", "group",
                     "organization_id", req->org_id, "name",
                     doc_str(s->doc, "displayName") ? json_string(doc_str(s->doc, "displayName"))
                                                    : json_null(),
                     "external_id", ext ? json_string(ext) : json_null(), "created_at",
                     (json_int_t)s->created_ms, "updated_at", (json_int_t)s->updated_ms);
}

static json_t *group_event(const struct request *req, json_t *group)
{
    return json_pack("{s:o,s:s,s:n}", "group", group, "organization_id", req->org_id,
                     "enterprise_connection_id");
}

/* membersChanged events, at most EVENT_IDS ids of each kind per event. */
static void add_member_events(struct outbox *ob, const struct request *req,
                              const struct group_state *s, json_t *added, json_t *removed)
{
    size_t na = json_array_size(added), nr = json_array_size(removed), i = 0, k = 0;
    while (i < na || k < nr) {
        json_t *a = json_array(), *r = json_array();
        for (size_t n = 0; n < EVENT_IDS && i < na; n++, i++)
            json_array_append(a, json_array_get(added, i));
        for (size_t n = 0; n < EVENT_IDS && k < nr; n++, k++)
            json_array_append(r, json_array_get(removed, k));
        json_t *data = group_event(req, product_group(req, s));
        json_object_set_new(data, "added", a);
        json_object_set_new(data, "removed", r);
        outbox_add(ob, "scimGroup.membersChanged", s->id, data);
    }
}

/* ---- the per-request context ---- */

struct group_op {
    struct group_state old, new;
    struct scim_projection *proj;
    struct scim_list_params list;
    struct pg_conn *conn;          /* leased connection (PUT, PATCH) */
    struct pg_pool *pool;          /* the pool conn came from */
    struct scim_patch_result patch;
    json_t *members;               /* POST/PUT: the wanted member objects */
    json_t *parents;               /* DELETE: groups containing this one */
    struct hmap *net;              /* member id -> (intptr_t) +1 added / -1 removed */
    int tries;
    /* reads */
    struct group_state *groups;    /* the groups to render, in order */
    int ngroups, cur;              /* cur: the group being written */
    bool opened;                   /* groups[cur]'s prefix has been written */
    bool member_written;           /* groups[cur] has a member element already */
    long long total;
    bool want_members, streaming, list_mode;
    PGresult *first;               /* first page of members (owned) */
    int first_row;                 /* next unread row of first */
    int first_limit;               /* rows per group in first; as many means "maybe more" */
    char last_member[IDS_MAX];     /* keyset cursor within groups[cur] */
    struct evbuffer *out;          /* output not yet handed to the connection */
    void (*after_flush)(struct request *req);
};

static void net_free(struct hmap *net)
{
    hmap_free(net);
}

static void op_free(void *p)
{
    struct group_op *op = p;
    state_clear(&op->old);
    state_clear(&op->new);
    scim_projection_free(op->proj);
    scim_list_params_clear(&op->list);
    scim_patch_result_clear(&op->patch);
    json_decref(op->members);
    json_decref(op->parents);
    net_free(op->net);
    for (int i = 0; i < op->ngroups; i++)
        state_clear(&op->groups[i]);
    free(op->groups);
    PQclear(op->first);
    if (op->out)
        evbuffer_free(op->out);
    if (op->conn) {
        /* A bug, but one the process survives: give the connection back. */
        log_error("a leased connection outlived its request", LF_NONE);
        pg_pool_release(op->pool, op->conn);
    }
    free(op);
}

static struct group_op *op_new(struct request *req)
{
    struct group_op *op = xcalloc(1, sizeof *op);
    req->ctx = op;
    req->ctx_free = op_free;
    return op;
}

static bool not_found(struct request *req)
{
    request_fail(req, 404, NULL, "Group %s not found.", req->params[0]);
    return false;
}

static bool valid_id(struct request *req)
{
    return ids_valid("grp_", req->params[0]) || not_found(req);
}

/* Replies for a failed write: membership and cycle refusals are the client's. */
static void fail_write(struct request *req, struct pg_query *q)
{
    const char *state = pg_query_sqlstate(q);
    const char *msg = pg_query_error(q);
    if (strcmp(state, SQLSTATE_BAD_MEMBER) == 0 || strcmp(state, SQLSTATE_CYCLE) == 0)
        request_fail(req, 400, SCIM_TYPE_INVALID_VALUE, "%s", msg);
    else if (strcmp(state, "23505") == 0)
        request_fail(req, 409, SCIM_TYPE_UNIQUENESS, "A group with that displayName already exists.");
    else
        request_fail_db(req, q);
}

/* ---- members in request bodies ---- */

/* Checks a members array ([{"value": id, ...}]) and returns the ids as a JSON
 * array (new), or NULL with err set (400 invalidValue). Never replies. */
static json_t *member_ids(const json_t *members, struct scim_error *err)
{
    if (!members || json_is_null(members))
        return json_array();
    if (!json_is_array(members)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "members must be an array.");
        return NULL;
    }
    json_t *ids = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        const char *id = json_string_value(json_object_get(m, "value"));
        const char *type = json_string_value(json_object_get(m, "type"));
        if (!json_is_object(m) || !id) {
            scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                           "members[%zu] must be an object with a string \"value\".", i);
        } else if (type && !util_streq_ci(type, "User") && !util_streq_ci(type, "Group")) {
            scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                           "members[%zu].type must be \"User\" or \"Group\".", i);
        } else {
            json_array_append_new(ids, json_string(id));
            continue;
        }
        json_decref(ids);
        return NULL;
    }
    return ids;
}

/* The body's "members" member, whatever its case. */
static const json_t *body_members(const json_t *body)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
        if (util_streq_ci(k, "members"))
            return v;
    return NULL;
}

/* Statement: add the ids of $3 (a JSON array) to group $2 of org $1; refuses
 * ids that are not users or groups of the organization and nested groups that
 * would make a cycle; returns the ids added as a JSON array. Locks the member
 * rows it reads so a concurrent delete of one cannot leave a dangling row. */
static const char *const add_members_sql =
    "WITH want AS (SELECT DISTINCT x AS id FROM json_array_elements_text($3::json) AS x),"
    " lu AS (SELECT id, 'User'::text AS t FROM users"
    "  WHERE org_id = $1 AND id IN (SELECT id FROM want) FOR KEY SHARE),"
    " lg AS (SELECT id, 'Group'::text AS t FROM groups"
    "  WHERE org_id = $1 AND id IN (SELECT id FROM want) FOR KEY SHARE),"
    " res AS (SELECT w.id, coalesce(lu.t, lg.t) AS t FROM want w"
    "  LEFT JOIN lu ON lu.id = w.id LEFT JOIN lg ON lg.id = w.id),"
    " chk AS (SELECT scimgate_assert(coalesce(bool_and(t IS NOT NULL), true),"
    "  '" SQLSTATE_BAD_MEMBER "', 'Not a user or group of this organization: '"
    "  || coalesce(min(id) FILTER (WHERE t IS NULL), '')) AS ok FROM res),"
    " cyc AS (SELECT scimgate_assert(NOT EXISTS ("
    "  WITH RECURSIVE d(id) AS (SELECT r.id FROM res r WHERE r.t = 'Group'"
    "   UNION SELECT m.member_id FROM group_members m JOIN d"
    "   ON m.org_id = $1 AND m.group_id = d.id AND m.member_type = 'Group')"
    "  SELECT 1 FROM d WHERE d.id = $2), '" SQLSTATE_CYCLE "',"
    "  'A group cannot contain itself, directly or through other groups.') AS ok),"
    " ins AS (INSERT INTO group_members (org_id, group_id, member_id, member_type)"
    "  SELECT $1, $2, r.id, r.t FROM res r, chk, cyc WHERE chk.ok AND cyc.ok ORDER BY r.id"
    "  ON CONFLICT DO NOTHING RETURNING member_id)"
    " SELECT coalesce(json_agg(member_id ORDER BY member_id), '[]')::text AS added FROM ins";

static const char *const remove_members_sql =
    "WITH x AS (SELECT DISTINCT v AS id FROM json_array_elements_text($3::json) AS v),"
    " d AS (DELETE FROM group_members m USING x WHERE m.org_id = $1 AND m.group_id = $2"
    "  AND m.member_id = x.id RETURNING m.member_id)"
    " SELECT coalesce(json_agg(member_id ORDER BY member_id), '[]')::text AS removed FROM d";

static const char *const remove_all_sql =
    "WITH d AS (DELETE FROM group_members WHERE org_id = $1 AND group_id = $2"
    "  RETURNING member_id)"
    " SELECT coalesce(json_agg(member_id ORDER BY member_id), '[]')::text AS removed FROM d";

/* Removes every member not in $3 (the second half of a replacement). */
static const char *const remove_others_sql =
    "WITH keep AS (SELECT DISTINCT v AS id FROM json_array_elements_text($3::json) AS v),"
    " d AS (DELETE FROM group_members WHERE org_id = $1 AND group_id = $2"
    "  AND member_id NOT IN (SELECT id FROM keep) RETURNING member_id)"
    " SELECT coalesce(json_agg(member_id ORDER BY member_id), '[]')::text AS removed FROM d";

static void member_stmt(struct pg_query *q, const char *sql, const char *org, const char *group,
                        const json_t *ids)
{
    pg_query_sql(q, sql);
    pg_query_param(q, org);
    pg_query_param(q, group);
    if (strstr(sql, "$3"))
        pg_query_param_json(q, ids);
}

/* ---- create ---- */

static void created(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        fail_write(req, q);
        return;
    }
    char etag[32];
    request_add_header(req, "ETag", scim_etag(op->new.version, etag, sizeof etag));
    char *loc = xasprintf("%s/Groups/%s", req->gw->scim_base, op->new.id);
    request_add_header(req, "Location", loc);
    free(loc);
    json_t *out = render_base(req, &op->new);
    /* The members just written, as the client sent them, resolved. */
    PGresult *r = pg_query_result(q, 2);
    json_t *members = json_array();
    for (int i = 0; r && i < PQntuples(r); i++)
        json_array_append_new(members, member_json(req, r, i, 0));
    json_object_set_new(out, "members", members);
    scim_projection_apply(op->proj, out);
    request_reply_json(req, 201, out);
}

void groups_create(struct request *req)
{
    struct group_op *op = op_new(req);
    struct scim_error err = {0};
    if (!scim_projection_from_query(req, &scim_rt_group, &op->proj))
        return;
    json_t *ids = member_ids(body_members(req->json), &err);
    if (!ids) {
        request_reply_error(req, &err);
        return;
    }
    json_t *doc = scim_schema_validate(&scim_rt_group, req->json, SCIM_VALIDATE_CREATE, NULL,
                                       NULL, &err);
    if (!doc) {
        json_decref(ids);
        request_reply_error(req, &err);
        return;
    }
    json_object_del(doc, "members");
    struct group_state *s = &op->new;
    ids_new("grp_", s->id);
    s->doc = doc;
    s->version = 1;
    s->created_ms = s->updated_ms = util_now_ms();

    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "INSERT INTO groups (org_id, id, display_name, external_id, doc, version,"
                    " created_at, updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, 1,"
                    " to_timestamp($6::bigint / 1000.0), to_timestamp($6::bigint / 1000.0))");
    pg_query_param(q, req->org_id);
    pg_query_param(q, s->id);
    pg_query_param(q, doc_str(doc, "displayName"));
    pg_query_param(q, doc_str(doc, "externalId"));
    pg_query_param_json(q, doc);
    pg_query_param_int(q, s->created_ms);
    member_stmt(q, add_members_sql, req->org_id, s->id, ids);
    /* Read back what was added, with displays, for the answer. */
    pg_query_sql(q, "SELECT " MEMBER_SELECT " FROM group_members m" MEMBER_JOINS
                    " WHERE m.org_id = $1 AND m.group_id = $2 ORDER BY m.member_id");
    pg_query_param(q, req->org_id);
    pg_query_param(q, s->id);
    struct outbox *ob = outbox_new(req->org_id);
    outbox_add(ob, "scimGroup.created", s->id, group_event(req, product_group(req, s)));
    /* Every valid id is new to a new group (invalid ones abort the insert). */
    json_t *sorted = json_array(), *none = json_array();
    struct hmap *seen = hmap_create();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        if (!hmap_get(seen, json_string_value(id))) {
            hmap_put(seen, json_string_value(id), (void *)1);
            json_array_append(sorted, id);
        }
    }
    hmap_free(seen);
    add_member_events(ob, req, s, sorted, none);
    json_decref(sorted);
    json_decref(none);
    outbox_append(ob, q);
    outbox_free(ob);
    json_decref(ids);
    pg_query_set_key(q, req->org_id);
    pg_pool_submit_write(req->gw->pool, q, created, req);
}

/* ---- streaming reads ----
 *
 * advance() walks the groups in order: write a group's prefix, then the
 * members found in the first page; a group with as many rows there as the
 * page allows may have more, so the output so far is sent and keyset pages
 * follow (page_done), each fetched after the previous chunk was written.
 * Everything that fits in one megabyte goes out as one ordinary reply.
 */

#define FLUSH_BYTES (1 << 20)

static void advance(struct request *req);
static void fetch_page(struct request *req);

static struct evbuffer *out_buf(struct group_op *op)
{
    if (!op->out)
        op->out = evbuffer_new();
    return op->out;
}

static void on_flushed(struct request *req)
{
    struct group_op *op = req->ctx;
    if (request_stream_gone(req)) {
        request_stream_end(req);
        return;
    }
    op->after_flush(req);
}

/* Sends what is buffered (starting the chunked reply the first time), then
 * runs next once it has been written. */
static void flush_then(struct request *req, void (*next)(struct request *))
{
    struct group_op *op = req->ctx;
    if (!op->streaming) {
        if (!op->list_mode) {
            char etag[32];
            request_add_header(req, "ETag", scim_etag(op->groups[0].version, etag, sizeof etag));
        }
        request_stream_start(req, 200);
        op->streaming = true;
    }
    op->after_flush = next;
    request_stream_chunk(req, out_buf(op), on_flushed);
}

static void end_stream(struct request *req)
{
    request_stream_end(req);
}

static void finish_reads(struct request *req)
{
    struct group_op *op = req->ctx;
    if (op->list_mode)
        evbuffer_add(out_buf(op), "]}", 2);
    if (op->streaming) {
        if (evbuffer_get_length(out_buf(op)) == 0)
            request_stream_end(req);
        else
            flush_then(req, end_stream);
        return;
    }
    if (!op->list_mode) {
        char etag[32];
        request_add_header(req, "ETag", scim_etag(op->groups[0].version, etag, sizeof etag));
    }
    size_t len = evbuffer_get_length(out_buf(op));
    const char *body = len ? (const char *)evbuffer_pullup(op->out, -1) : "";
    request_reply_text(req, 200,
                       req->style == REQ_STYLE_SCIM1 ? "application/json; charset=utf-8"
                                                     : "application/scim+json",
                       body, len);
}

static void write_json(struct evbuffer *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    evbuffer_add(b, s, strlen(s));
    free(s);
}

/* Writes group i without its closing brace and, with members wanted,
 * ',"members":[' so member elements can follow. */
static void open_group(struct request *req, int i)
{
    struct group_op *op = req->ctx;
    json_t *g = render_base(req, &op->groups[i]);
    scim_projection_apply(op->proj, g);
    if (req->transform)
        g = req->transform(req, g); /* e.g. SCIM 1.1 */
    char *s = json_dumps(g, JSON_COMPACT);
    json_decref(g);
    size_t n = strlen(s);
    struct evbuffer *b = out_buf(op);
    if (i > 0)
        evbuffer_add(b, ",", 1);
    evbuffer_add(b, s, n - 1);
    if (op->want_members)
        evbuffer_add_printf(b, "%s\"members\":[", n > 2 ? "," : "");
    free(s);
    op->last_member[0] = '\0';
    op->member_written = false;
    op->opened = true;
}

static void close_group(struct group_op *op)
{
    evbuffer_add(out_buf(op), op->want_members ? "]}" : "}", op->want_members ? 2 : 1);
    op->opened = false;
    op->cur++;
}

/* Appends rows [*row, ...) of r that belong to groups[cur] (column 0 is the
 * group's 1-based position when ord_col, the member columns start at col).
 * Returns how many rows it consumed. */
static int append_members(struct request *req, const PGresult *r, int *row, int col,
                          bool ord_col)
{
    struct group_op *op = req->ctx;
    int n = 0;
    for (; *row < PQntuples(r); (*row)++, n++) {
        if (ord_col && pg_value_int(r, *row, 0) != op->cur + 1)
            break;
        const char *id = pg_value(r, *row, col);
        snprintf(op->last_member, sizeof op->last_member, "%s", id ? id : "");
        json_t *wrap = json_pack("{s:[o]}", "members", member_json(req, r, *row, col));
        scim_projection_apply(op->proj, wrap);
        if (req->transform)
            wrap = req->transform(req, wrap);
        const json_t *m = json_array_get(json_object_get(wrap, "members"), 0);
        if (m) {
            if (op->member_written)
                evbuffer_add(out_buf(op), ",", 1);
            write_json(out_buf(op), m);
            op->member_written = true;
        }
        json_decref(wrap);
    }
    return n;
}

static void page_done(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        /* The headers are out: break the transfer rather than end it cleanly. */
        rlog_warn(req, "member stream cut short", LF_STR("error", pg_query_error(q)));
        request_stream_abort(req);
        return;
    }
    int row = 0;
    int n = append_members(req, pg_query_result(q, 0), &row, 0, false);
    if (n < PAGE) {
        close_group(op);
        flush_then(req, advance);
    } else {
        flush_then(req, fetch_page);
    }
}

static void fetch_page(struct request *req)
{
    struct group_op *op = req->ctx;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT " MEMBER_SELECT " FROM group_members m" MEMBER_JOINS
                    " WHERE m.org_id = $1 AND m.group_id = $2 AND m.member_id > $3"
                    " ORDER BY m.member_id LIMIT $4");
    pg_query_param(q, req->org_id);
    pg_query_param(q, op->groups[op->cur].id);
    pg_query_param(q, op->last_member);
    pg_query_param_int(q, PAGE);
    pg_pool_submit(req->gw->pool, q, page_done, req);
}

static void advance(struct request *req)
{
    struct group_op *op = req->ctx;
    while (op->cur < op->ngroups) {
        open_group(req, op->cur);
        if (!op->want_members) {
            close_group(op);
            continue;
        }
        int n = op->first ? append_members(req, op->first, &op->first_row,
                                           op->list_mode ? 1 : 0, op->list_mode)
                          : 0;
        if (n >= op->first_limit) {
            flush_then(req, fetch_page); /* there may be more members */
            return;
        }
        close_group(op);
        if (evbuffer_get_length(out_buf(op)) > FLUSH_BYTES) {
            flush_then(req, advance);
            return;
        }
    }
    finish_reads(req);
}

/* ---- read one ---- */

static void got(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        request_fail_db(req, q);
        return;
    }
    if (pg_query_ntuples(q, 0) == 0) {
        not_found(req);
        return;
    }
    op->groups = xcalloc(1, sizeof *op->groups);
    op->ngroups = 1;
    state_from_row(pg_query_result(q, 0), 0, &op->groups[0]);
    if (scim_if_none_match(req, op->groups[0].version)) {
        char etag[32];
        request_add_header(req, "ETag", scim_etag(op->groups[0].version, etag, sizeof etag));
        request_reply_empty(req, 304);
        return;
    }
    if (op->want_members) {
        op->first = pg_query_steal_result(q, 1);
        op->first_limit = PAGE;
    }
    advance(req);
}

/* Reads groups[id] with its first page of members and renders it. */
static void submit_read(struct request *req, const char *id)
{
    struct group_op *op = req->ctx;
    op->want_members = scim_projection_wants(op->proj, "members");
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT " GROUP_COLUMNS " FROM groups g WHERE g.org_id = $1 AND g.id = $2");
    pg_query_param(q, req->org_id);
    pg_query_param(q, id);
    if (op->want_members) {
        pg_query_sql(q, "SELECT " MEMBER_SELECT " FROM group_members m" MEMBER_JOINS
                        " WHERE m.org_id = $1 AND m.group_id = $2 ORDER BY m.member_id LIMIT $3");
        pg_query_param(q, req->org_id);
        pg_query_param(q, id);
        pg_query_param_int(q, PAGE);
    }
    pg_pool_submit(req->gw->pool, q, got, req);
}

void groups_get(struct request *req)
{
    struct group_op *op = op_new(req);
    if (!valid_id(req) || !scim_projection_from_query(req, &scim_rt_group, &op->proj))
        return;
    submit_read(req, req->params[0]);
}

/* ---- list and search ---- */

/* Writes the ListResponse up to the opening of "Resources". */
static void write_list_prefix(struct request *req)
{
    struct group_op *op = req->ctx;
    json_t *head = json_pack("{s:[s],s:I,s:i,s:I}", "schemas", SCIM_SCHEMA_LIST,
                             "totalResults", (json_int_t)op->total, "itemsPerPage",
                             op->ngroups, "startIndex", (json_int_t)op->list.start_index);
    if (req->transform)
        head = req->transform(req, head); /* e.g. SCIM 1.1 */
    char *s = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    size_t n = strlen(s);
    evbuffer_add(out_buf(op), s, n - 1);
    evbuffer_add_printf(out_buf(op), "%s\"Resources\":[", n > 2 ? "," : "");
    free(s);
}

static void list_members_done(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        request_fail_db(req, q);
        return;
    }
    op->first = pg_query_steal_result(q, 0);
    op->first_limit = LIST_PAGE;
    advance(req);
}

static void listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        request_fail_db(req, q);
        return;
    }
    op->total = pg_value_int(pg_query_result(q, 0), 0, 0);
    const PGresult *rows = pg_query_result(q, 1);
    op->ngroups = PQntuples(rows);
    op->groups = xcalloc((size_t)op->ngroups + 1, sizeof *op->groups);
    json_t *ids = json_array();
    for (int i = 0; i < op->ngroups; i++) {
        state_from_row(rows, i, &op->groups[i]);
        json_array_append_new(ids, json_string(op->groups[i].id));
    }
    write_list_prefix(req);
    if (!op->want_members || op->ngroups == 0) {
        json_decref(ids);
        advance(req);
        return;
    }
    /* The first LIST_PAGE members of every group of the page, in one query. */
    struct pg_query *m = pg_query_new();
    pg_query_sql(m, "SELECT gg.ord, mm.* FROM json_array_elements_text($2::json)"
                    " WITH ORDINALITY AS gg(id, ord), LATERAL (SELECT " MEMBER_SELECT
                    " FROM group_members m" MEMBER_JOINS
                    " WHERE m.org_id = $1 AND m.group_id = gg.id ORDER BY m.member_id LIMIT $3) mm"
                    " ORDER BY gg.ord, mm.member_id");
    pg_query_param(m, req->org_id);
    pg_query_param_json(m, ids);
    pg_query_param_int(m, LIST_PAGE);
    json_decref(ids);
    pg_pool_submit(req->gw->pool, m, list_members_done, req);
}

static void run_list(struct request *req)
{
    struct group_op *op = req->ctx;
    op->list_mode = true;
    op->want_members = scim_projection_wants(op->list.proj, "members");
    op->proj = op->list.proj;
    op->list.proj = NULL;
    struct pg_query *q = pg_query_new();
    if (!scim_list_append(req, q, &op->list, &groups_sql_map, "FROM groups g WHERE g.org_id = $1",
                          GROUP_COLUMNS, "g.id")) {
        pg_query_free(q);
        return;
    }
    pg_pool_submit(req->gw->pool, q, listed, req);
}

void groups_list(struct request *req)
{
    struct group_op *op = op_new(req);
    if (scim_list_params_from_query(req, &scim_rt_group, &op->list))
        run_list(req);
}

void groups_search(struct request *req)
{
    struct group_op *op = op_new(req);
    if (scim_list_params_from_search(req, &scim_rt_group, &op->list))
        run_list(req);
}

/* ---- replace and patch (leased connection, three round trips) ---- */

static void update_begin(struct request *req);

static void release(struct request *req)
{
    struct group_op *op = req->ctx;
    if (op->conn) {
        pg_pool_release(req->gw->pool, op->conn);
        op->conn = NULL;
    }
}

static void finish_update(struct request *req, int status)
{
    struct group_op *op = req->ctx;
    release(req);
    if (status == 204) {
        request_reply_empty(req, 204);
        return;
    }
    if (request_is_virtual(req)) {
        /* A /Bulk operation reports status, location and version only. */
        char etag[32], *loc = xasprintf("%s/Groups/%s", req->gw->scim_base, op->new.id);
        request_add_header(req, "ETag", scim_etag(op->new.version, etag, sizeof etag));
        request_add_header(req, "Location", loc);
        free(loc);
        request_reply_empty(req, 200);
        return;
    }
    /* Answer with the group as it is now, members included, read afresh. */
    submit_read(req, op->new.id);
}

static bool retryable(struct pg_query *q)
{
    const char *s = pg_query_sqlstate(q);
    return strcmp(s, "40P01") == 0 || strcmp(s, "40001") == 0 ||
           strcmp(s, SQLSTATE_VERSION_CHANGED) == 0;
}

static void update_failed(struct request *req, struct pg_query *q)
{
    struct group_op *op = req->ctx;
    release(req);
    if (retryable(q) && ++op->tries < MAX_TRIES) {
        update_begin(req);
        return;
    }
    fail_write(req, q);
}

static void committed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (pg_query_status(q) != PG_OK) {
        update_failed(req, q);
        return;
    }
    bool wants_body = request_query(req, "attributes") || request_query(req, "excludedAttributes");
    finish_update(req, req->method == EVHTTP_REQ_PATCH && !wants_body ? 204 : 200);
}

static void note_change(struct hmap *net, const char *id, int delta)
{
    intptr_t cur = (intptr_t)hmap_get(net, id);
    intptr_t next = cur == -delta ? 0 : delta;
    if (next == 0 && cur != 0)
        hmap_del(net, id);
    else if (next != 0)
        hmap_put(net, id, (void *)next);
}

struct collect_ctx {
    json_t *added, *removed;
};

static void collect(const char *key, void *value, void *arg)
{
    struct collect_ctx *c = arg;
    json_array_append_new((intptr_t)value > 0 ? c->added : c->removed, json_string(key));
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static void sort_ids(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **items = xmalloc((n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(arr, i));
    qsort(items, n, sizeof *items, cmp_json_str);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
}

/* Round trip 2 done: fold the member statements' results into net changes,
 * then bump the version, append the events and commit. */
static void applied(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        update_failed(req, q);
        return;
    }
    if (!op->net)
        op->net = hmap_create();
    for (int i = 0; i < pg_query_nstmts(q); i++) {
        const PGresult *r = pg_query_result(q, i);
        const char *v = pg_value(r, 0, 0);
        const char *label = PQfname(r, 0);
        if (!v || !label || (strcmp(label, "added") != 0 && strcmp(label, "removed") != 0))
            continue;
        json_t *ids = json_loads(v, 0, NULL);
        int delta = strcmp(label, "added") == 0 ? 1 : -1;
        size_t k;
        json_t *id;
        json_array_foreach(ids, k, id)
            note_change(op->net, json_string_value(id), delta);
        json_decref(ids);
    }
    struct collect_ctx c = {json_array(), json_array()};
    hmap_each(op->net, collect, &c);
    sort_ids(c.added);
    sort_ids(c.removed);
    bool doc_changed = !json_equal(op->old.doc, op->new.doc);
    bool members_changed = json_array_size(c.added) || json_array_size(c.removed);
    struct pg_query *w = pg_query_new();
    if (doc_changed || members_changed) {
        op->new.version = op->old.version + 1;
        op->new.updated_ms = util_now_ms();
        pg_query_sql(w, "UPDATE groups SET version = $3, updated_at = to_timestamp($4::bigint / 1000.0)"
                        " WHERE org_id = $1 AND id = $2");
        pg_query_param(w, req->org_id);
        pg_query_param(w, op->new.id);
        pg_query_param_int(w, op->new.version);
        pg_query_param_int(w, op->new.updated_ms);
        struct outbox *ob = outbox_new(req->org_id);
        if (doc_changed) {
            json_t *data = group_event(req, product_group(req, &op->new));
            json_t *before = product_group(req, &op->old), *after = product_group(req, &op->new);
            json_t *changed = json_array(), *previous = json_object();
            const char *k;
            json_t *v;
            json_object_foreach(after, k, v) {
                if (strcmp(k, "updated_at") && !json_equal(v, json_object_get(before, k))) {
                    json_array_append_new(changed, json_string(k));
                    json_object_set(previous, k, json_object_get(before, k));
                }
            }
            json_object_set_new(data, "changed_fields", changed);
            json_object_set_new(data, "previous_attributes", previous);
            json_decref(before);
            json_decref(after);
            outbox_add(ob, "scimGroup.updated", op->new.id, data);
        }
        add_member_events(ob, req, &op->new, c.added, c.removed);
        outbox_append(ob, w);
        outbox_free(ob);
    }
    json_decref(c.added);
    json_decref(c.removed);
    pg_query_sql(w, "COMMIT");
    pg_pool_submit_on(req->gw->pool, op->conn, w, committed, req);
}

/* Ids named by a member filter: `value eq "x"` joined by `or` (what clients
 * send). NULL for any other shape. */
static json_t *filter_ids(const struct scim_filter *f)
{
    if (f->op == SCIM_OP_OR) {
        json_t *a = filter_ids(f->left), *b = a ? filter_ids(f->right) : NULL;
        if (!a || !b) {
            json_decref(a);
            json_decref(b);
            return NULL;
        }
        json_array_extend(a, b);
        json_decref(b);
        return a;
    }
    if (f->op == SCIM_OP_EQ && json_is_string(f->value) &&
        util_streq_ci(f->path.sub ? f->path.sub : f->path.attr, "value"))
        return json_pack("[O]", f->value);
    return NULL;
}

/* Appends the statements of one member operation to q. Their single result
 * column is named "added" or "removed". Returns false with err set (400); it
 * never replies, because the caller holds a leased connection. */
static bool append_member_op(struct request *req, struct pg_query *q,
                             const struct scim_member_op *mop, struct scim_error *err)
{
    struct group_op *op = req->ctx;
    const char *org = req->org_id, *gid = op->new.id;
    json_t *ids = NULL;
    switch (mop->kind) {
    case SCIM_MEMBERS_ADD:
    case SCIM_MEMBERS_REPLACE:
        ids = member_ids(mop->values, err);
        if (!ids)
            return false;
        /* A replacement first adds what is missing, then removes the rest. */
        member_stmt(q, add_members_sql, org, gid, ids);
        if (mop->kind == SCIM_MEMBERS_REPLACE)
            member_stmt(q, remove_others_sql, org, gid, ids);
        break;
    case SCIM_MEMBERS_REMOVE:
        ids = mop->filter ? filter_ids(mop->filter) : member_ids(mop->values, err);
        if (!ids) {
            if (mop->filter)
                scim_error_set(err, 400, SCIM_TYPE_INVALID_FILTER,
                               "Member removal filters must name members by value "
                               "(members[value eq \"id\"], joined with or).");
            return false;
        }
        member_stmt(q, remove_members_sql, org, gid, ids);
        break;
    case SCIM_MEMBERS_REMOVE_ALL:
        member_stmt(q, remove_all_sql, org, gid, NULL);
        break;
    }
    json_decref(ids);
    return true;
}

static void locked(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        update_failed(req, q);
        return;
    }
    if (pg_query_ntuples(q, 1) == 0) {
        release(req);
        not_found(req);
        return;
    }
    state_clear(&op->old);
    state_from_row(pg_query_result(q, 1), 0, &op->old);
    if (!scim_if_match(req, op->old.version)) {
        release(req);
        request_fail(req, 412, NULL, "The group has changed (ETag mismatch).");
        return;
    }
    struct scim_error err = {0};
    state_clear(&op->new);
    op->new = op->old;
    op->new.doc = NULL;
    scim_patch_result_clear(&op->patch);
    struct scim_member_op replace = {0};
    if (req->method == EVHTTP_REQ_PUT) {
        op->new.doc = scim_schema_validate(&scim_rt_group, req->json, SCIM_VALIDATE_REPLACE,
                                           op->old.doc, NULL, &err);
        if (op->new.doc)
            json_object_del(op->new.doc, "members");
        replace.kind = SCIM_MEMBERS_REPLACE;
        replace.values = (json_t *)body_members(req->json);
        if (!replace.values)
            replace.kind = SCIM_MEMBERS_REMOVE_ALL;
    } else if (scim_patch_apply(&scim_rt_group, op->old.doc, req->json, &op->patch, &err)) {
        op->new.doc = json_incref(op->patch.doc);
    }
    if (!op->new.doc) {
        release(req);
        request_reply_error(req, &err);
        return;
    }
    struct pg_query *w = pg_query_new();
    if (!json_equal(op->old.doc, op->new.doc)) {
        pg_query_sql(w, "UPDATE groups SET display_name = $3, external_id = $4, doc = $5::jsonb"
                        " WHERE org_id = $1 AND id = $2");
        pg_query_param(w, req->org_id);
        pg_query_param(w, op->new.id);
        pg_query_param(w, doc_str(op->new.doc, "displayName"));
        pg_query_param(w, doc_str(op->new.doc, "externalId"));
        pg_query_param_json(w, op->new.doc);
    }
    bool ok = true;
    if (req->method == EVHTTP_REQ_PUT)
        ok = append_member_op(req, w, &replace, &err);
    for (size_t i = 0; ok && i < op->patch.n_member_ops; i++)
        ok = append_member_op(req, w, &op->patch.member_ops[i], &err);
    if (!ok) {
        pg_query_free(w);
        release(req); /* before replying: the reply frees the request */
        request_reply_error(req, &err);
        return;
    }
    if (pg_query_nstmts(w) == 0)
        pg_query_sql(w, "SELECT 1");
    pg_pool_submit_on(req->gw->pool, op->conn, w, applied, req);
}

static void leased(struct pg_conn *conn, enum pg_status st, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (!conn) {
        (void)st;
        request_fail_unavailable(req);
        return;
    }
    op->conn = conn;
    op->pool = req->gw->pool;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "BEGIN");
    pg_query_sql(q, "SELECT " GROUP_COLUMNS " FROM groups g WHERE g.org_id = $1 AND g.id = $2"
                    " FOR UPDATE");
    pg_query_param(q, req->org_id);
    pg_query_param(q, req->params[0]);
    pg_pool_submit_on(req->gw->pool, conn, q, locked, req);
}

static void update_begin(struct request *req)
{
    pg_pool_acquire(req->gw->pool, leased, req);
}

void groups_replace(struct request *req)
{
    struct group_op *op = op_new(req);
    if (!valid_id(req) || !scim_projection_from_query(req, &scim_rt_group, &op->proj))
        return;
    update_begin(req);
}

void groups_patch(struct request *req)
{
    groups_replace(req);
}

/* ---- delete ---- */

static void deleted(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) == PG_OK) {
        request_reply_empty(req, 204);
        return;
    }
    if (strcmp(pg_query_sqlstate(q), SQLSTATE_VERSION_CHANGED) == 0 && ++op->tries < MAX_TRIES) {
        groups_delete(req);
        return;
    }
    request_fail_db(req, q);
}

static void delete_read(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct group_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        request_fail_db(req, q);
        return;
    }
    if (pg_query_ntuples(q, 0) == 0) {
        not_found(req);
        return;
    }
    state_clear(&op->old);
    state_from_row(pg_query_result(q, 0), 0, &op->old);
    if (!scim_if_match(req, op->old.version)) {
        request_fail(req, 412, NULL, "The group has changed (ETag mismatch).");
        return;
    }
    json_t *parents = pg_value_json(pg_query_result(q, 1), 0, 0);
    struct pg_query *w = pg_query_new();
    pg_query_sql(w, "WITH d AS (DELETE FROM groups WHERE org_id = $1 AND id = $2 AND version = $3"
                    " RETURNING 1) SELECT scimgate_assert(count(*) = 1, '" SQLSTATE_VERSION_CHANGED
                    "', 'group changed concurrently') FROM d");
    pg_query_param(w, req->org_id);
    pg_query_param(w, op->old.id);
    pg_query_param_int(w, op->old.version);
    char *expected = scim_id_array_literal(parents, "id");
    pg_query_sql(w, scim_sql_delete_memberships);
    pg_query_param(w, req->org_id);
    pg_query_param(w, op->old.id);
    pg_query_param(w, expected);
    free(expected);
    struct outbox *ob = outbox_new(req->org_id);
    outbox_add(ob, "scimGroup.deleted", op->old.id, group_event(req, product_group(req, &op->old)));
    size_t i;
    json_t *p;
    json_array_foreach(parents, i, p) {
        struct group_state parent = {0};
        snprintf(parent.id, sizeof parent.id, "%s", json_string_value(json_object_get(p, "id")));
        parent.doc = json_incref(json_object_get(p, "doc"));
        parent.created_ms = json_integer_value(json_object_get(p, "created_ms"));
        parent.updated_ms = json_integer_value(json_object_get(p, "updated_ms"));
        json_t *none = json_array(), *gone = json_pack("[s]", op->old.id);
        add_member_events(ob, req, &parent, none, gone);
        json_decref(none);
        json_decref(gone);
        state_clear(&parent);
    }
    json_decref(parents);
    outbox_append(ob, w);
    outbox_free(ob);
    pg_query_set_key(w, req->org_id);
    pg_pool_submit_write(req->gw->pool, w, deleted, req);
}

void groups_delete(struct request *req)
{
    if (!req->ctx)
        op_new(req);
    if (!valid_id(req))
        return;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT " GROUP_COLUMNS " FROM groups g WHERE g.org_id = $1 AND g.id = $2");
    pg_query_param(q, req->org_id);
    pg_query_param(q, req->params[0]);
    pg_query_sql(q, "SELECT coalesce(json_agg(json_build_object('id', g.id, 'doc', g.doc,"
                    " 'created_ms', " MS("g.created_at") ", 'updated_ms', " MS("g.updated_at")
                    ") ORDER BY g.id), '[]')"
                    " FROM group_members m JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id"
                    " WHERE m.org_id = $1 AND m.member_id = $2");
    pg_query_param(q, req->org_id);
    pg_query_param(q, req->params[0]);
    pg_pool_submit(req->gw->pool, q, delete_read, req);
}
