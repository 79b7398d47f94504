/*
 * admin.c - the admin API under /v1 for organizations, their SCIM endpoint
 * and SCIM tokens (API.md). Authenticated by admin keys in server.c; every
 * handler validates, runs one pipeline segment, and renders the answer.
 */
#include "admin.h"

#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "mapping.h"
#include "mapping_cache.h"
#include "pg_pool.h"
#include "tenancy.h"
#include "util.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

static void submit(struct request *req, struct pg_query *q, pg_query_cb cb)
{
    pg_pool_submit(req->gw->pool, q, cb, req);
}

/* True when the query succeeded; otherwise replies and returns false. */
static bool query_ok(struct request *req, struct pg_query *q)
{
    if (pg_query_status(q) == PG_OK)
        return true;
    if (strcmp(pg_query_sqlstate(q), "23505") == 0) {
        request_fail(req, 409, NULL, "An organization with that slug already exists.");
        return false;
    }
    request_fail_db(req, q);
    return false;
}

static void not_found(struct request *req, const char *what)
{
    request_fail(req, 404, NULL, "No such %s.", what);
}

static bool parse_limit(struct request *req, long long *limit)
{
    const char *v = request_query(req, "limit");
    *limit = LIST_DEFAULT;
    if (v && !util_parse_int(v, 1, LIST_MAX, limit)) {
        request_fail(req, 400, NULL, "limit must be an integer from 1 to %d.", LIST_MAX);
        return false;
    }
    return true;
}

/* {"object":"list","data":[...],"has_more":b,"next_cursor":id|null} from the
 * rows of r, where limit+1 rows were asked for. */
static json_t *list_json(const PGresult *r, long long limit,
                         json_t *(*row_json)(const PGresult *, int))
{
    json_t *data = json_array();
    int n = PQntuples(r);
    bool more = n > limit;
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(data, row_json(r, i));
    json_t *cursor = more ? json_string(pg_value(r, (int)limit - 1, 0)) : json_null();
    return json_pack("{s:s,s:o,s:b,s:o}", "object", "list", "data", data, "has_more", more,
                     "next_cursor", cursor);
}

/* ---- organizations ---- */

static void org_created(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (query_ok(req, q))
        request_reply_json(req, 201, tenancy_org_json(pg_query_result(q, 0), 0));
}

void admin_org_create(struct request *req)
{
    struct tenancy_org_input in;
    struct scim_error err = {0};
    if (!tenancy_parse_org(req->json, &in, &err)) {
        request_reply_error(req, &err);
        return;
    }
    char id[IDS_MAX];
    ids_new("org_", id);
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_org_insert);
    pg_query_param(q, id);
    pg_query_param(q, in.name);
    pg_query_param(q, in.slug);
    submit(req, q, org_created);
}

static void org_listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (query_ok(req, q))
        request_reply_json(req, 200, list_json(pg_query_result(q, 0),
                                               (long long)(intptr_t)req->ctx, tenancy_org_json));
}

void admin_org_list(struct request *req)
{
    long long limit;
    if (!parse_limit(req, &limit))
        return;
    const char *cursor = request_query(req, "cursor");
    req->ctx = (void *)(intptr_t)limit;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_org_list);
    pg_query_param(q, cursor ? cursor : "");
    pg_query_param_int(q, limit + 1);
    submit(req, q, org_listed);
}

static void org_got(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0)
        not_found(req, "organization");
    else
        request_reply_json(req, 200, tenancy_org_json(pg_query_result(q, 0), 0));
}

void admin_org_get(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_org_get);
    pg_query_param(q, req->params[0]);
    submit(req, q, org_got);
}

static void org_deleted(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0)
        not_found(req, "organization");
    else
        request_reply_empty(req, 204);
}

void admin_org_delete(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_org_delete);
    pg_query_param(q, req->params[0]);
    pg_query_sql(q, tenancy_sql_org_revoke_tokens);
    pg_query_param(q, req->params[0]);
    submit(req, q, org_deleted);
}

static void endpoint_got(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0) {
        not_found(req, "organization");
        return;
    }
    char url[600];
    snprintf(url, sizeof url, "%s/", req->gw->scim_base);
    request_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:s}", "object", "scim_endpoint", "organization_id",
                                 pg_value(pg_query_result(q, 0), 0, 0), "endpoint_url", url));
}

void admin_org_endpoint(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_org_get);
    pg_query_param(q, req->params[0]);
    submit(req, q, endpoint_got);
}

/* ---- SCIM tokens ---- */

struct token_ctx {
    char secret[96];
};

static void token_ctx_free(void *p)
{
    struct token_ctx *c = p;
    memset(c->secret, 0, sizeof c->secret);
    free(c);
}

static void token_created(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct token_ctx *c = req->ctx;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0) {
        not_found(req, "organization");
        return;
    }
    json_t *tok = tenancy_token_json(pg_query_result(q, 0), 0);
    json_object_set_new(tok, "token", json_string(c->secret));
    request_add_header(req, "Cache-Control", "no-store");
    request_reply_json(req, 201, tok);
}

void admin_token_create(struct request *req)
{
    struct tenancy_token_input in;
    struct scim_error err = {0};
    if (!tenancy_parse_token(req->json, util_now_ms(), &in, &err)) {
        request_reply_error(req, &err);
        return;
    }
    struct token_ctx *c = xcalloc(1, sizeof *c);
    req->ctx = c;
    req->ctx_free = token_ctx_free;
    char id[IDS_MAX], prefix[32], hash[65];
    tenancy_new_token(id, c->secret, prefix, hash);
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_token_insert);
    pg_query_param(q, req->params[0]);
    pg_query_param(q, id);
    pg_query_param(q, in.name);
    pg_query_param(q, prefix);
    pg_query_param(q, hash);
    pg_query_param(q, in.all_scopes ? NULL : in.scopes);
    if (in.expires_at_ms)
        pg_query_param_int(q, in.expires_at_ms);
    else
        pg_query_param(q, NULL);
    if (in.rate_per_sec > 0)
        pg_query_paramf(q, "%.17g", in.rate_per_sec);
    else
        pg_query_param(q, NULL);
    if (in.burst > 0)
        pg_query_param_int(q, in.burst);
    else
        pg_query_param(q, NULL);
    submit(req, q, token_created);
}

static void tokens_listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0) {
        not_found(req, "organization");
        return;
    }
    request_reply_json(req, 200, list_json(pg_query_result(q, 1), LIST_MAX, tenancy_token_json));
}

void admin_token_list(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_org_get);
    pg_query_param(q, req->params[0]);
    pg_query_sql(q, tenancy_sql_token_list);
    pg_query_param(q, req->params[0]);
    submit(req, q, tokens_listed);
}

static void token_revoked(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0)
        not_found(req, "SCIM token");
    else
        request_reply_empty(req, 204);
}

void admin_token_revoke(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_token_revoke);
    pg_query_param(q, req->params[0]);
    pg_query_param(q, req->params[1]);
    submit(req, q, token_revoked);
}

/* ---- attribute mappings ---- */

static void mapping_got(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0) {
        not_found(req, "organization");
        return;
    }
    const PGresult *r = pg_query_result(q, 1);
    if (PQntuples(r) == 0) {
        request_reply_json(req, 200, mapping_to_json(mapping_default()));
        return;
    }
    json_t *mapping = pg_value_json(r, 0, 1);
    json_t *doc = json_pack("{s:s,s:o}", "user_id_attribute", pg_value(r, 0, 0), "mapping",
                            mapping ? mapping : json_object());
    request_reply_json(req, 200, doc);
}

void admin_mapping_get(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, tenancy_sql_org_get);
    pg_query_param(q, req->params[0]);
    pg_query_sql(q, "SELECT user_id_attribute, mapping::text FROM attribute_mappings"
                    " WHERE org_id = $1");
    pg_query_param(q, req->params[0]);
    submit(req, q, mapping_got);
}

static void mapping_stored(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (!query_ok(req, q))
        return;
    if (pg_query_ntuples(q, 0) == 0) {
        not_found(req, "organization");
        return;
    }
    json_t *doc = req->ctx; /* the reply takes it; the request is gone after */
    req->ctx = NULL;
    request_reply_json(req, 200, doc);
}

static void json_ctx_free(void *p)
{
    json_decref(p);
}

void admin_mapping_put(struct request *req)
{
    struct scim_error err = {0};
    struct mapping *m = mapping_parse(req->json, &err);
    if (!m) {
        if (!err.status)
            scim_error_set(&err, 400, NULL, "The mapping is not valid.");
        request_reply_error(req, &err);
        return;
    }
    json_t *doc = mapping_to_json(m);
    req->ctx = doc;
    req->ctx_free = json_ctx_free;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "INSERT INTO attribute_mappings (org_id, user_id_attribute, mapping, updated_at)"
                    " SELECT o.id, $2, $3::jsonb, now() FROM organizations o"
                    " WHERE o.id = $1 AND o.deleted_at IS NULL"
                    " ON CONFLICT (org_id) DO UPDATE SET user_id_attribute = EXCLUDED.user_id_attribute,"
                    " mapping = EXCLUDED.mapping, updated_at = now() RETURNING org_id");
    pg_query_param(q, req->params[0]);
    pg_query_param(q, mapping_user_id_attribute(m));
    pg_query_param_json(q, json_object_get(doc, "mapping"));
    pg_query_sql(q, "SELECT pg_notify('" MAPPING_CHANNEL "', $1)");
    pg_query_param(q, req->params[0]);
    mapping_free(m);
    submit(req, q, mapping_stored);
}
