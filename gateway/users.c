/*
 * users.c - SCIM 2.0 /Users: create, read, list and search, replace, patch,
 * delete. Every write is one pipeline segment (one transaction) holding the
 * row change and its outbox events.
 *
 * Updates read the row, compute the new document in C (schema validation or
 * the PATCH engine), then write with an optimistic version check that aborts
 * the whole segment (scimgate_assert, SQLSTATE SGV01) if the row changed in
 * between; the update is then recomputed from the fresh row. No lock is held
 * across round trips and no event is written for a write that did not happen.
 */
#include "users.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "offload.h"
#include "password.h"
#include "ids.h"
#include "mapping.h"
#include "mapping_cache.h"
#include "outbox.h"
#include "pg_pool.h"
#include "scim_patch.h"
#include "scim_resource.h"
#include "util.h"

#define MAX_TRIES 5

static const struct scim_sql_column user_columns[] = {
    {"id", SCIM_SQL_TEXT, "u.id", NULL, true},
    {"userName", SCIM_SQL_TEXT, "u.user_name", NULL, false},
    {"externalId", SCIM_SQL_TEXT, "u.external_id", NULL, true},
    {"active", SCIM_SQL_BOOL, "u.active", NULL, false},
    {"meta.created", SCIM_SQL_TIMESTAMP, "u.created_at", NULL, false},
    {"meta.lastModified", SCIM_SQL_TIMESTAMP, "u.updated_at", NULL, false},
    {"groups.value", SCIM_SQL_EXISTS,
     "EXISTS (SELECT 1 FROM group_members m WHERE m.org_id = u.org_id AND m.member_id = u.id"
     " AND %s)",
     "m.group_id", false},
    {NULL},
};
const struct scim_sql_map users_sql_map = {&scim_rt_user, "u.doc", user_columns};

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/* Direct and indirect groups of u, with their display names. */
#define GROUPS_SQL                                                                         \
    "(WITH RECURSIVE g(group_id, depth) AS ("                                             \
    "  SELECT m.group_id, 1 FROM group_members m"                                         \
    "  WHERE m.org_id = u.org_id AND m.member_id = u.id"                                  \
    "  UNION SELECT m.group_id, g.depth + 1 FROM group_members m JOIN g"                  \
    "  ON m.org_id = u.org_id AND m.member_id = g.group_id WHERE g.depth < 8)"             \
    " SELECT coalesce(json_agg(json_build_object('value', x.group_id,"                    \
    "  'display', gr.display_name, 'type', CASE WHEN x.direct THEN 'direct'"              \
    "  ELSE 'indirect' END) ORDER BY gr.display_name, x.group_id), '[]')::text"            \
    " FROM (SELECT group_id, min(depth) = 1 AS direct FROM g GROUP BY group_id) x"        \
    " JOIN groups gr ON gr.org_id = u.org_id AND gr.id = x.group_id)"

#define USER_COLUMNS(groups)                                                               \
    "u.id, u.doc::text, u.active, u.version, " MS("u.created_at") ", " MS("u.updated_at")  \
    ", " MS("u.deleted_at") ", u.password_hash, " groups

/* One user as stored. */
struct user_state {
    char id[IDS_MAX];
    json_t *doc;            /* stored document (owned) */
    bool active;
    long long version;
    int64_t created_ms, updated_ms, deleted_ms;
    char *password_hash;    /* owned, or NULL */
    json_t *groups;         /* rendered groups (owned), or NULL when not loaded */
};

static void state_clear(struct user_state *s)
{
    json_decref(s->doc);
    json_decref(s->groups);
    free(s->password_hash);
    memset(s, 0, sizeof *s);
}

static void state_from_row(const PGresult *r, int row, struct user_state *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", pg_value(r, row, 0));
    s->doc = pg_value_json(r, row, 1);
    if (!s->doc)
        s->doc = json_object();
    s->active = pg_value_bool(r, row, 2);
    s->version = pg_value_int(r, row, 3);
    s->created_ms = pg_value_int(r, row, 4);
    s->updated_ms = pg_value_int(r, row, 5);
    s->deleted_ms = pg_value_int(r, row, 6);
    s->password_hash = pg_value(r, row, 7) ? xstrdup(pg_value(r, row, 7)) : NULL;
    s->groups = pg_value_json(r, row, 8);
}

/* ---- rendering ---- */

static json_t *schemas_of(const json_t *doc)
{
    json_t *schemas = json_pack("[s]", SCIM_SCHEMA_USER);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
        if (util_has_prefix_ci(key, "urn:") && json_is_object(v))
            json_array_append_new(schemas, json_string(key));
    return schemas;
}

static json_t *render(const struct request *req, const struct user_state *s,
                      const struct scim_projection *proj)
{
    json_t *out = json_object();
    json_object_set_new(out, "schemas", schemas_of(s->doc));
    json_object_set_new(out, "id", json_string(s->id));
    const char *key;
    json_t *v;
    json_object_foreach(s->doc, key, v)
        json_object_set(out, key, v);
    json_object_set_new(out, "active", json_boolean(s->active));
    if (s->groups && json_array_size(s->groups)) {
        json_t *groups = json_deep_copy(s->groups), *g;
        size_t i;
        json_array_foreach(groups, i, g) {
            char *ref = xasprintf("%s/Groups/%s", req->gw->scim_base,
                                  json_string_value(json_object_get(g, "value")));
            json_object_set_new(g, "$ref", json_string(ref));
            free(ref);
        }
        json_object_set_new(out, "groups", groups);
    }
    json_object_set_new(out, "meta",
                        scim_meta("User", req->gw->scim_base, "Users", s->id, s->created_ms,
                                  s->updated_ms, s->version));
    scim_projection_apply(proj, out);
    return out;
}

static void reply_user(struct request *req, int status, const struct user_state *s,
                       const struct scim_projection *proj)
{
    char etag[32];
    request_add_header(req, "ETag", scim_etag(s->version, etag, sizeof etag));
    if (status == 201) {
        char *loc = xasprintf("%s/Users/%s", req->gw->scim_base, s->id);
        request_add_header(req, "Location", loc);
        free(loc);
    }
    request_reply_json(req, status, render(req, s, proj));
}

struct user_op;
static const struct mapping *op_mapping(const struct request *req);

static json_t *product_user(const struct request *req, const struct user_state *s)
{
    struct mapping_user mu = {
        .org_id = req->org_id,
        .id = s->id,
        .doc = s->doc,
        .groups = s->groups,
        .active = s->active,
        .created_ms = s->created_ms,
        .updated_ms = s->updated_ms,
        .deleted_ms = s->deleted_ms,
    };
    return mapping_product_user(op_mapping(req), &mu);
}

static json_t *event_data(const struct request *req, json_t *user)
{
    return json_pack("{s:o,s:s,s:n}", "user", user, "organization_id", req->org_id,
                     "enterprise_connection_id");
}

static bool not_found(struct request *req)
{
    request_fail(req, 404, NULL, "User %s not found.", req->params[0]);
    return false;
}

/* ---- per-request context ---- */

struct user_op {
    struct user_state old;     /* as read */
    struct user_state new;     /* as written */
    struct scim_projection *proj;
    struct scim_list_params list;
    int tries;
    char *password;            /* a new clear password from the body, wiped on free */
    int password_differs;      /* password_changed's answer: -1 not known yet */
    char *new_password_hash;   /* an update's new hash, made on a hashing thread */
    json_t *member_groups;     /* DELETE: [{"id","name"}] of the groups it was in */
    struct mapping_handle *mh; /* the organization's attribute mapping */
    void (*after_mapping)(struct request *req);
};

static const struct mapping *op_mapping(const struct request *req)
{
    const struct user_op *op = req->ctx;
    return mapping_handle_get(op ? op->mh : NULL);
}

static void got_mapping(struct mapping_handle *h, bool ok, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (!ok) {
        request_fail_unavailable(req);
        return;
    }
    op->mh = mapping_handle_hold(h);
    op->after_mapping(req);
}

/* Runs next once the organization's mapping is at hand (at once when cached). */
static void with_mapping(struct request *req, void (*next)(struct request *req))
{
    struct user_op *op = req->ctx;
    if (op->mh) {
        next(req);
        return;
    }
    op->after_mapping = next;
    mapping_cache_get(req->gw->mappings, req->org_id, got_mapping, req);
}

static void wipe_password(struct user_op *op)
{
    if (op->password) {
        memset(op->password, 0, strlen(op->password));
        free(op->password);
        op->password = NULL;
    }
}

/* With SCIMGATE_STORE_PASSWORDS=false a password in the body is accepted
 * and forgotten: nothing is hashed or stored, and it changes nothing. */
static void drop_password_unless_stored(const struct request *req, struct user_op *op)
{
    if (!req->gw->cfg->store_passwords)
        wipe_password(op);
}

static void op_free(void *p)
{
    struct user_op *op = p;
    state_clear(&op->old);
    state_clear(&op->new);
    scim_projection_free(op->proj);
    scim_list_params_clear(&op->list);
    wipe_password(op);
    free(op->new_password_hash);
    json_decref(op->member_groups);
    mapping_handle_release(op->mh);
    free(op);
}

static struct user_op *op_new(struct request *req)
{
    struct user_op *op = xcalloc(1, sizeof *op);
    op->password_differs = -1;
    req->ctx = op;
    req->ctx_free = op_free;
    return op;
}

static bool valid_id(struct request *req)
{
    return ids_valid("usr_", req->params[0]) || not_found(req);
}

/* ---- column values from a document ---- */

static const char *doc_str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static void bind_row(struct pg_query *q, const struct user_state *s)
{
    pg_query_param(q, doc_str(s->doc, "userName"));
    pg_query_param(q, doc_str(s->doc, "externalId"));
    pg_query_param_bool(q, s->active);
    pg_query_param_json(q, s->doc);
    pg_query_param(q, s->password_hash);
    pg_query_param_int(q, s->updated_ms);
    if (s->deleted_ms)
        pg_query_param_int(q, s->deleted_ms);
    else
        pg_query_param(q, NULL);
}

/* ---- create ---- */

static void created(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        if (strcmp(pg_query_sqlstate(q), "23505") == 0)
            request_fail(req, 409, SCIM_TYPE_UNIQUENESS, "A user with userName \"%s\" already exists.",
                         doc_str(op->new.doc, "userName"));
        else
            request_fail_db(req, q);
        return;
    }
    reply_user(req, 201, &op->new, op->proj);
}

static void create_write(struct request *req);

void users_create(struct request *req)
{
    struct user_op *op = op_new(req);
    struct scim_error err = {0};
    if (!scim_projection_from_query(req, &scim_rt_user, &op->proj))
        return;
    json_t *doc = scim_schema_validate(&scim_rt_user, req->json, SCIM_VALIDATE_CREATE, NULL,
                                       &op->password, &err);
    if (!doc) {
        request_reply_error(req, &err);
        return;
    }
    struct user_state *s = &op->new;
    ids_new("usr_", s->id);
    s->doc = doc;
    with_mapping(req, create_write);
}

static void create_insert(struct request *req);
static void hash_password(void *arg);
static void create_insert_cb(void *arg);

static void create_write(struct request *req)
{
    struct user_op *op = req->ctx;
    struct user_state *s = &op->new;
    json_t *doc = s->doc;
    const json_t *active = json_object_get(doc, "active");
    s->active = !json_is_false(active);
    s->version = 1;
    s->created_ms = s->updated_ms = util_now_ms();
    s->deleted_ms = s->active ? 0 : s->created_ms;
    s->groups = json_array();
    drop_password_unless_stored(req, op);
    if (op->password)
        offload_run(req->gw->offload, hash_password, create_insert_cb, req);
    else
        create_insert(req);
}

/* On a hashing thread: reads op->password and writes op->new.password_hash,
 * which nothing on the loop touches until create_insert_cb runs. */
static void hash_password(void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    op->new.password_hash = password_hash(op->password);
}

static void create_insert_cb(void *arg)
{
    create_insert(arg);
}

static void create_insert(struct request *req)
{
    struct user_op *op = req->ctx;
    struct user_state *s = &op->new;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "INSERT INTO users (org_id, id, user_name, external_id, active, doc,"
                    " password_hash, updated_at, deleted_at, created_at, version)"
                    " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, to_timestamp($8::bigint / 1000.0),"
                    " to_timestamp($9::bigint / 1000.0), to_timestamp($8::bigint / 1000.0), 1)");
    pg_query_param(q, req->org_id);
    pg_query_param(q, s->id);
    bind_row(q, s);
    struct outbox *ob = outbox_new(req->org_id);
    outbox_add(ob, "scimUser.provisioned", s->id, event_data(req, product_user(req, s)));
    outbox_append(ob, q);
    outbox_free(ob);
    pg_query_set_key(q, req->org_id);
    pg_pool_submit_write(req->gw->pool, q, created, req);
}

/* ---- read ---- */

static bool read_one(struct request *req, struct pg_query *q, struct user_state *out)
{
    if (pg_query_status(q) != PG_OK) {
        request_fail_db(req, q);
        return false;
    }
    if (pg_query_ntuples(q, 0) == 0)
        return not_found(req);
    state_from_row(pg_query_result(q, 0), 0, out);
    return true;
}

static void got(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (!read_one(req, q, &op->old))
        return;
    if (scim_if_none_match(req, op->old.version)) {
        char etag[32];
        request_add_header(req, "ETag", scim_etag(op->old.version, etag, sizeof etag));
        request_reply_empty(req, 304);
        return;
    }
    reply_user(req, 200, &op->old, op->proj);
}

static void submit_read(struct request *req, pg_query_cb cb)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT " USER_COLUMNS(GROUPS_SQL)
                    " FROM users u WHERE u.org_id = $1 AND u.id = $2");
    pg_query_param(q, req->org_id);
    pg_query_param(q, req->params[0]);
    pg_pool_submit(req->gw->pool, q, cb, req);
}

void users_get(struct request *req)
{
    struct user_op *op = op_new(req);
    if (!valid_id(req) || !scim_projection_from_query(req, &scim_rt_user, &op->proj))
        return;
    submit_read(req, got);
}

/* ---- list and search ---- */

static void listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        request_fail_db(req, q);
        return;
    }
    long long total = pg_value_int(pg_query_result(q, 0), 0, 0);
    const PGresult *rows = pg_query_result(q, 1);
    json_t *resources = json_array();
    for (int i = 0; i < PQntuples(rows); i++) {
        struct user_state s;
        state_from_row(rows, i, &s);
        json_array_append_new(resources, render(req, &s, op->list.proj));
        state_clear(&s);
    }
    request_reply_json(req, 200, scim_list_response_new(resources, total, op->list.start_index));
}

static void run_list(struct request *req)
{
    struct user_op *op = req->ctx;
    bool groups = scim_projection_wants(op->list.proj, "groups");
    struct pg_query *q = pg_query_new();
    if (!scim_list_append(req, q, &op->list, &users_sql_map, "FROM users u WHERE u.org_id = $1",
                          groups ? USER_COLUMNS(GROUPS_SQL) : USER_COLUMNS("NULL"), "u.id")) {
        pg_query_free(q);
        return;
    }
    pg_pool_submit(req->gw->pool, q, listed, req);
}

void users_list(struct request *req)
{
    struct user_op *op = op_new(req);
    if (scim_list_params_from_query(req, &scim_rt_user, &op->list))
        run_list(req);
}

void users_search(struct request *req)
{
    struct user_op *op = op_new(req);
    if (scim_list_params_from_search(req, &scim_rt_user, &op->list))
        run_list(req);
}

/* ---- replace and patch ---- */

enum update_kind { UPDATE_PUT, UPDATE_PATCH };

static void start_update(struct request *req);

/* Whether the body sets a password other than the stored one (hashed once
 * per computed update). */
static bool password_changed(struct user_op *op)
{
    if (op->password_differs < 0)
        op->password_differs =
            op->password && !(op->old.password_hash &&
                              password_matches(op->password, op->old.password_hash));
    return op->password_differs;
}

/* Computes op->new from op->old and the body. Replies and returns false on a
 * client error. */
static bool compute(struct request *req, enum update_kind kind)
{
    struct user_op *op = req->ctx;
    struct scim_error err = {0};
    json_t *doc;
    wipe_password(op);
    op->password_differs = -1;
    if (kind == UPDATE_PUT) {
        doc = scim_schema_validate(&scim_rt_user, req->json, SCIM_VALIDATE_REPLACE, op->old.doc,
                                   &op->password, &err);
        /* A PUT that leaves active out does not deactivate (Okta sends the
         * whole profile without it). */
        if (doc && !json_object_get(doc, "active"))
            json_object_set_new(doc, "active", json_boolean(op->old.active));
    } else {
        struct scim_patch_result res = {0};
        doc = NULL;
        if (scim_patch_apply(&scim_rt_user, op->old.doc, req->json, &res, &err)) {
            if (res.n_member_ops)
                scim_error_set(&err, 400, SCIM_TYPE_INVALID_PATH,
                               "Users have no members; change memberships through /Groups.");
            else
                doc = json_incref(res.doc);
            op->password = res.password;
            res.password = NULL;
        }
        scim_patch_result_clear(&res);
    }
    if (!doc) {
        request_reply_error(req, &err);
        return false;
    }
    drop_password_unless_stored(req, op);
    struct user_state *n = &op->new;
    state_clear(n);
    memcpy(n->id, op->old.id, sizeof n->id);
    n->doc = doc;
    const json_t *active = json_object_get(doc, "active");
    n->active = active ? !json_is_false(active) : op->old.active;
    n->version = op->old.version + 1;
    n->created_ms = op->old.created_ms;
    n->updated_ms = util_now_ms();
    if (n->updated_ms <= op->old.updated_ms)
        n->updated_ms = op->old.updated_ms + 1;
    n->deleted_ms = n->active ? 0 : (op->old.active ? n->updated_ms : op->old.deleted_ms);
    n->groups = json_incref(op->old.groups);
    /* A new password replaces this in update_hashed, once compared and hashed. */
    if (op->old.password_hash)
        n->password_hash = xstrdup(op->old.password_hash);
    return true;
}

static bool unchanged(struct user_op *op)
{
    return op->new.active == op->old.active && json_equal(op->new.doc, op->old.doc) &&
           !password_changed(op);
}

static void add_events(struct request *req, struct outbox *ob)
{
    struct user_op *op = req->ctx;
    json_t *before = product_user(req, &op->old), *after = product_user(req, &op->new);
    json_t *previous = NULL;
    json_t *changed = mapping_changed_fields(before, after, &previous);
    /* active and deleted_at changes have events of their own. */
    size_t i;
    json_t *f;
    json_t *other = json_array();
    json_array_foreach(changed, i, f) {
        const char *name = json_string_value(f);
        if (strcmp(name, "active") != 0 && strcmp(name, "deleted_at") != 0)
            json_array_append(other, f);
    }
    if (json_array_size(other)) {
        json_t *data = event_data(req, json_incref(after));
        json_object_set_new(data, "changed_fields", json_incref(other));
        json_object_set_new(data, "previous_attributes", json_incref(previous));
        outbox_add(ob, "scimUser.updated", op->new.id, data);
    }
    if (op->old.active && !op->new.active)
        outbox_add(ob, "scimUser.deprovisioned", op->new.id, event_data(req, json_incref(after)));
    else if (!op->old.active && op->new.active)
        outbox_add(ob, "scimUser.reactivated", op->new.id, event_data(req, json_incref(after)));
    json_decref(other);
    json_decref(changed);
    json_decref(previous);
    json_decref(before);
    json_decref(after);
}

static void written(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (pg_query_status(q) == PG_OK) {
        reply_user(req, 200, &op->new, op->proj);
        return;
    }
    const char *state = pg_query_sqlstate(q);
    if (strcmp(state, SQLSTATE_VERSION_CHANGED) == 0 && ++op->tries < MAX_TRIES) {
        state_clear(&op->old);
        start_update(req); /* the row changed under us: recompute from the new one */
        return;
    }
    if (strcmp(state, "23505") == 0)
        request_fail(req, 409, SCIM_TYPE_UNIQUENESS,
                     "A user with userName \"%s\" already exists.",
                     doc_str(op->new.doc, "userName"));
    else if (strcmp(state, SQLSTATE_VERSION_CHANGED) == 0)
        request_fail(req, 409, NULL, "The user is being changed concurrently; retry.");
    else
        request_fail_db(req, q);
}

static void write_update(struct request *req)
{
    struct user_op *op = req->ctx;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "WITH w AS (UPDATE users SET user_name = $3, external_id = $4, active = $5,"
                    " doc = $6::jsonb, password_hash = $7, updated_at = to_timestamp($8::bigint / 1000.0),"
                    " deleted_at = to_timestamp($9::bigint / 1000.0), version = version + 1"
                    " WHERE org_id = $1 AND id = $2 AND version = $10 RETURNING 1)"
                    " SELECT scimgate_assert(count(*) = 1, '" SQLSTATE_VERSION_CHANGED
                    "', 'user changed concurrently') FROM w");
    pg_query_param(q, req->org_id);
    pg_query_param(q, op->new.id);
    bind_row(q, &op->new);
    pg_query_param_int(q, op->old.version);
    struct outbox *ob = outbox_new(req->org_id);
    add_events(req, ob);
    outbox_append(ob, q);
    outbox_free(ob);
    pg_query_set_key(q, req->org_id);
    pg_pool_submit_write(req->gw->pool, q, written, req);
}

static void compare_password(void *arg);
static void update_hashed(void *arg);
static void update_apply(struct request *req);

static void update_read(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (!read_one(req, q, &op->old))
        return;
    if (!scim_if_match(req, op->old.version)) {
        request_fail(req, 412, NULL, "The user has changed (ETag mismatch).");
        return;
    }
    enum update_kind kind = req->method == EVHTTP_REQ_PUT ? UPDATE_PUT : UPDATE_PATCH;
    if (!compute(req, kind))
        return;
    if (op->password)
        offload_run(req->gw->offload, compare_password, update_hashed, req);
    else
        update_apply(req);
}

/* On a hashing thread: compares the body's password with the stored hash and
 * hashes it when it differs. Touches only op's password fields, which the loop
 * leaves alone until update_hashed runs. */
static void compare_password(void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    free(op->new_password_hash);
    op->new_password_hash = NULL;
    if (password_changed(op))
        op->new_password_hash = password_hash(op->password);
}

static void update_hashed(void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (op->new_password_hash) {
        free(op->new.password_hash);
        op->new.password_hash = op->new_password_hash;
        op->new_password_hash = NULL;
    }
    update_apply(req);
}

static void update_apply(struct request *req)
{
    struct user_op *op = req->ctx;
    if (unchanged(op)) {
        reply_user(req, 200, &op->old, op->proj);
        return;
    }
    write_update(req);
}

static void read_for_update(struct request *req)
{
    submit_read(req, update_read);
}

static void start_update(struct request *req)
{
    with_mapping(req, read_for_update);
}

void users_replace(struct request *req)
{
    struct user_op *op = op_new(req);
    if (valid_id(req) && scim_projection_from_query(req, &scim_rt_user, &op->proj))
        start_update(req);
}

void users_patch(struct request *req)
{
    users_replace(req);
}

/* ---- delete ---- */

static void delete_start(struct request *req);

static void deleted(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (pg_query_status(q) == PG_OK) {
        request_reply_empty(req, 204);
        return;
    }
    if (strcmp(pg_query_sqlstate(q), SQLSTATE_VERSION_CHANGED) == 0 && ++op->tries < MAX_TRIES) {
        state_clear(&op->old);
        delete_start(req);
        return;
    }
    request_fail_db(req, q);
}

static void delete_read(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (!read_one(req, q, &op->old))
        return;
    if (!scim_if_match(req, op->old.version)) {
        request_fail(req, 412, NULL, "The user has changed (ETag mismatch).");
        return;
    }
    json_decref(op->member_groups);
    op->member_groups = pg_value_json(pg_query_result(q, 1), 0, 0);
    struct user_state gone = {0};
    memcpy(gone.id, op->old.id, sizeof gone.id);
    gone.doc = op->old.doc;
    gone.active = false;
    gone.created_ms = op->old.created_ms;
    gone.updated_ms = gone.deleted_ms = util_now_ms();
    gone.groups = op->old.groups;

    struct pg_query *w = pg_query_new();
    pg_query_sql(w, "WITH d AS (DELETE FROM users WHERE org_id = $1 AND id = $2 AND version = $3"
                    " RETURNING 1) SELECT scimgate_assert(count(*) = 1, '" SQLSTATE_VERSION_CHANGED
                    "', 'user changed concurrently') FROM d");
    pg_query_param(w, req->org_id);
    pg_query_param(w, op->old.id);
    pg_query_param_int(w, op->old.version);
    char *expected = scim_id_array_literal(op->member_groups, "id");
    pg_query_sql(w, scim_sql_delete_memberships);
    pg_query_param(w, req->org_id);
    pg_query_param(w, op->old.id);
    pg_query_param(w, expected);
    free(expected);
    struct outbox *ob = outbox_new(req->org_id);
    outbox_add(ob, "scimUser.deleted", op->old.id, event_data(req, product_user(req, &gone)));
    size_t i;
    json_t *g;
    json_array_foreach(op->member_groups, i, g) {
        json_t *data = json_pack("{s:O,s:[],s:[s],s:s,s:n}", "group", g, "added", "removed",
                                 op->old.id, "organization_id", req->org_id,
                                 "enterprise_connection_id");
        outbox_add(ob, "scimGroup.membersChanged",
                   json_string_value(json_object_get(g, "id")), data);
    }
    outbox_append(ob, w);
    outbox_free(ob);
    pg_query_set_key(w, req->org_id);
    pg_pool_submit_write(req->gw->pool, w, deleted, req);
}

static void delete_read_now(struct request *req);

static void delete_start(struct request *req)
{
    with_mapping(req, delete_read_now);
}

static void delete_read_now(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT " USER_COLUMNS(GROUPS_SQL)
                    " FROM users u WHERE u.org_id = $1 AND u.id = $2");
    pg_query_param(q, req->org_id);
    pg_query_param(q, req->params[0]);
    /* The groups it is a direct member of, as product-side groups, for the
     * membersChanged events. */
    pg_query_sql(q, "SELECT coalesce(json_agg(json_build_object('id', g.id, 'object', 'group',"
                    " 'organization_id', g.org_id, 'name', g.display_name, 'external_id',"
                    " g.external_id) ORDER BY g.id), '[]')"
                    " FROM group_members m JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id"
                    " WHERE m.org_id = $1 AND m.member_id = $2");
    pg_query_param(q, req->org_id);
    pg_query_param(q, req->params[0]);
    pg_pool_submit(req->gw->pool, q, delete_read, req);
}

void users_delete(struct request *req)
{
    op_new(req);
    if (valid_id(req))
        delete_start(req);
}

/* ---- the product-side users of an organization (admin API) ---- */

static void product_listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct user_op *op = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        request_fail_db(req, q);
        return;
    }
    if (pg_query_ntuples(q, 0) == 0) {
        request_fail(req, 404, NULL, "No such organization.");
        return;
    }
    const PGresult *rows = pg_query_result(q, 1);
    int n = PQntuples(rows);
    long long limit = op->list.count;
    json_t *data = json_array();
    for (int i = 0; i < n && i < limit; i++) {
        struct user_state s;
        state_from_row(rows, i, &s);
        json_array_append_new(data, product_user(req, &s));
        state_clear(&s);
    }
    json_t *cursor = n > limit ? json_string(pg_value(rows, (int)limit - 1, 0)) : json_null();
    request_reply_json(req, 200, json_pack("{s:s,s:o,s:b,s:o}", "object", "list", "data", data,
                                           "has_more", n > limit, "next_cursor", cursor));
}

static void product_list_query(struct request *req)
{
    struct user_op *op = req->ctx;
    const char *active = request_query(req, "active");
    const char *cursor = request_query(req, "cursor");
    bool groups = mapping_uses_groups(op_mapping(req));
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT id FROM organizations WHERE id = $1 AND deleted_at IS NULL");
    pg_query_param(q, req->org_id);
    pg_query_sql(q, groups ? "SELECT " USER_COLUMNS(GROUPS_SQL)
                             " FROM users u WHERE u.org_id = $1 AND ($2::boolean IS NULL OR"
                             " u.active = $2) AND u.id > $3 ORDER BY u.id LIMIT $4"
                           : "SELECT " USER_COLUMNS("NULL")
                             " FROM users u WHERE u.org_id = $1 AND ($2::boolean IS NULL OR"
                             " u.active = $2) AND u.id > $3 ORDER BY u.id LIMIT $4");
    pg_query_param(q, req->org_id);
    pg_query_param(q, active);
    pg_query_param(q, cursor ? cursor : "");
    pg_query_param_int(q, op->list.count + 1);
    pg_pool_submit(req->gw->pool, q, product_listed, req);
}

void users_admin_list(struct request *req)
{
    struct user_op *op = op_new(req);
    const char *active = request_query(req, "active");
    const char *limit = request_query(req, "limit");
    op->list.count = 100;
    if ((active && strcmp(active, "true") != 0 && strcmp(active, "false") != 0) ||
        (limit && !util_parse_int(limit, 1, 1000, &op->list.count))) {
        request_fail(req, 400, NULL,
                     "active must be true or false and limit an integer from 1 to 1000.");
        return;
    }
    /* The organization is the path's; the admin key may read any. */
    snprintf(req->org_id, sizeof req->org_id, "%s", req->params[0]);
    with_mapping(req, product_list_query);
}
