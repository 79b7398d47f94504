/*
 * health.c - /healthz, /livez and /readyz.
 */
#include "health.h"

#include <stdlib.h>

#include "auth.h"
#include "migrate.h"
#include "pg_pool.h"

void health_live(struct request *req)
{
    request_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void ready_answer(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (pg_query_status(q) != PG_OK) {
        bool pending = pg_query_status(q) == PG_ERR_SQL; /* no schema_migrations yet */
        request_add_header(req, "Retry-After", "1");
        request_reply_json(req, 503,
                           json_pack("{s:s,s:s}", "status", "not ready", "database",
                                     pending ? "migrations pending" : "unreachable"));
        return;
    }
    bool current = pg_value_bool(pg_query_result(q, 0), 0, 0);
    if (!current) {
        request_add_header(req, "Retry-After", "5");
        request_reply_json(req, 503,
                           json_pack("{s:s,s:s,s:s}", "status", "not ready", "database", "ok",
                                     "migrations", "pending: run scimgate migrate"));
        return;
    }
    if (req->gw->auth && !auth_bootstrapped(req->gw->auth)) {
        request_add_header(req, "Retry-After", "1");
        request_reply_json(req, 503,
                           json_pack("{s:s,s:s,s:s}", "status", "not ready", "database", "ok",
                                     "admin_key", "being stored"));
        return;
    }
    request_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:s}", "status", "ready", "database", "ok",
                                 "migrations", migrate_latest_name()));
}

void health_ready(struct request *req)
{
    static char *names, *sums;
    if (!names)
        migrate_expected_params(&names, &sums);
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, migrate_current_sql);
    pg_query_param(q, names);
    pg_query_param(q, sums);
    pg_query_set_timeout(q, 2000);
    pg_pool_submit(req->gw->pool, q, ready_answer, req);
}
