/*
 * admin_webhooks.c - the admin API for webhook endpoints, their delivery
 * attempts, event replay, and the ordered event feed for backends that poll.
 */
#include "admin_webhooks.h"

#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "pg_pool.h"
#include "sign.h"
#include "util.h"

#define ENDPOINT_COLUMNS                                                                  \
    "w.id, w.org_id, w.url, array_to_string(w.events, ' '), w.events IS NULL,"           \
    " (extract(epoch FROM w.created_at) * 1000)::bigint"

static const char *const event_types[] = {
    "scimUser.provisioned",   "scimUser.updated",      "scimUser.deprovisioned",
    "scimUser.reactivated",   "scimUser.deleted",      "scimGroup.created",
    "scimGroup.updated",      "scimGroup.deleted",     "scimGroup.membersChanged",
};

static bool known_event_type(const char *t)
{
    for (size_t i = 0; i < ARRAY_LEN(event_types); i++)
        if (strcmp(event_types[i], t) == 0)
            return true;
    return false;
}

static void fail_db(struct request *req, struct pg_query *q)
{
    if (strcmp(pg_query_sqlstate(q), "23503") == 0) {
        request_fail(req, 404, NULL, "No such organization.");
        return;
    }
    request_fail_db(req, q);
}

static json_t *text_or_null(const PGresult *r, int row, int col)
{
    const char *v = pg_value(r, row, col);
    return v ? json_string(v) : json_null();
}

static json_t *ms_or_null(const PGresult *r, int row, int col)
{
    return pg_is_null(r, row, col) ? json_null() : json_integer(pg_value_int(r, row, col));
}

static json_t *endpoint_json(const PGresult *r, int row)
{
    json_t *events = json_null();
    if (!pg_value_bool(r, row, 4)) {
        events = json_array();
        char *copy = xstrdup(pg_value(r, row, 3) ? pg_value(r, row, 3) : ""), *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
            json_array_append_new(events, json_string(t));
        free(copy);
    }
    return json_pack("{s:o,s:s,s:o,s:o,s:o,s:o}", "id", text_or_null(r, row, 0), "object",
                     "webhook_endpoint", "organization_id", text_or_null(r, row, 1), "url",
                     text_or_null(r, row, 2), "events", events, "created_at",
                     ms_or_null(r, row, 5));
}

/* ---- endpoints ---- */

static bool valid_url(const char *url)
{
    if (!util_has_prefix_ci(url, "https://") && !util_has_prefix_ci(url, "http://"))
        return false;
    struct evhttp_uri *u = evhttp_uri_parse(url);
    bool ok = u && evhttp_uri_get_host(u) && *evhttp_uri_get_host(u);
    if (u)
        evhttp_uri_free(u);
    return ok && strlen(url) <= 2048;
}

/* Validates the body; fills the events list ("" = all) and the organization. */
static bool parse_endpoint(struct request *req, const char **url, struct strbuf *events,
                           bool *all_events, const char **org)
{
    json_t *b = req->json;
    *url = json_string_value(json_object_get(b, "url"));
    if (!*url || !valid_url(*url)) {
        request_fail(req, 400, NULL, "\"url\" must be an http:// or https:// URL.");
        return false;
    }
    json_t *ev = json_object_get(b, "events");
    *all_events = !ev || json_is_null(ev);
    if (!*all_events) {
        size_t i;
        json_t *t;
        if (!json_is_array(ev) || json_array_size(ev) == 0) {
            request_fail(req, 400, NULL, "\"events\" must be null or a non-empty array.");
            return false;
        }
        json_array_foreach(ev, i, t) {
            if (!json_is_string(t) || !known_event_type(json_string_value(t))) {
                request_fail(req, 400, NULL, "Unknown event type at events[%zu].", i);
                return false;
            }
            if (events->len)
                strbuf_putc(events, ' ');
            strbuf_puts(events, json_string_value(t));
        }
    }
    json_t *o = json_object_get(b, "organization_id");
    *org = json_string_value(o);
    if (o && !json_is_null(o) && !*org) {
        request_fail(req, 400, NULL, "\"organization_id\" must be null or a string.");
        return false;
    }
    return true;
}

struct created_ctx {
    char *secret;
};

static void created_ctx_free(void *p)
{
    struct created_ctx *c = p;
    free(c->secret);
    free(c);
}

static void endpoint_created(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct created_ctx *c = req->ctx;
    if (pg_query_status(q) != PG_OK) {
        fail_db(req, q);
        return;
    }
    if (pg_query_ntuples(q, 0) == 0) {
        request_fail(req, 404, NULL, "No such organization.");
        return;
    }
    json_t *doc = endpoint_json(pg_query_result(q, 0), 0);
    json_object_set_new(doc, "secret", json_string(c->secret));
    request_add_header(req, "Cache-Control", "no-store");
    request_reply_json(req, 201, doc);
}

void admin_webhook_create(struct request *req)
{
    const char *url, *org;
    struct strbuf events = {0};
    bool all;
    if (!parse_endpoint(req, &url, &events, &all, &org)) {
        strbuf_clear(&events);
        return;
    }
    struct created_ctx *c = xcalloc(1, sizeof *c);
    c->secret = sign_secret_new();
    req->ctx = c;
    req->ctx_free = created_ctx_free;
    char id[IDS_MAX];
    ids_new("whep_", id);
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "INSERT INTO webhook_endpoints AS w (id, org_id, url, secret, events)"
                    " SELECT $1, $2, $3, $4, string_to_array($5, ' ')"
                    " WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM organizations"
                    "  WHERE id = $2 AND deleted_at IS NULL)"
                    " RETURNING " ENDPOINT_COLUMNS);
    pg_query_param(q, id);
    pg_query_param(q, org);
    pg_query_param(q, url);
    pg_query_param(q, c->secret);
    pg_query_param(q, all ? NULL : events.s);
    strbuf_clear(&events);
    pg_pool_submit(req->gw->pool, q, endpoint_created, req);
}

static void endpoints_listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (pg_query_status(q) != PG_OK) {
        fail_db(req, q);
        return;
    }
    const PGresult *r = pg_query_result(q, 0);
    json_t *data = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(data, endpoint_json(r, i));
    request_reply_json(req, 200, json_pack("{s:s,s:o,s:b,s:n}", "object", "list", "data", data,
                                           "has_more", 0, "next_cursor"));
}

void admin_webhook_list(struct request *req)
{
    struct pg_query *q = pg_query_new();
    const char *org = request_query(req, "organization_id");
    pg_query_sql(q, "SELECT " ENDPOINT_COLUMNS " FROM webhook_endpoints w"
                    " WHERE w.deleted_at IS NULL AND ($1::text IS NULL OR w.org_id = $1)"
                    " ORDER BY w.id");
    pg_query_param(q, org);
    pg_pool_submit(req->gw->pool, q, endpoints_listed, req);
}

static void endpoint_deleted(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (pg_query_status(q) != PG_OK)
        fail_db(req, q);
    else if (pg_query_ntuples(q, 0) == 0)
        request_fail(req, 404, NULL, "No such webhook endpoint.");
    else
        request_reply_empty(req, 204);
}

void admin_webhook_delete(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "UPDATE webhook_endpoints SET deleted_at = now()"
                    " WHERE id = $1 AND deleted_at IS NULL RETURNING id");
    pg_query_param(q, req->params[0]);
    pg_pool_submit(req->gw->pool, q, endpoint_deleted, req);
}

/* ---- deliveries ---- */

static json_t *delivery_json(const PGresult *r, int row)
{
    json_t *attempts = pg_value_json(r, row, 10);
    return json_pack("{s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id",
                     text_or_null(r, row, 0), "object", "webhook_delivery", "organization_id",
                     text_or_null(r, row, 1), "event_id", text_or_null(r, row, 2), "event_type",
                     text_or_null(r, row, 3), "status", text_or_null(r, row, 4), "attempts",
                     json_integer(pg_value_int(r, row, 5)), "next_attempt_at",
                     pg_value(r, row, 4) && strcmp(pg_value(r, row, 4), "pending") == 0
                         ? ms_or_null(r, row, 6)
                         : json_null(),
                     "last_response_status", ms_or_null(r, row, 7), "last_error",
                     text_or_null(r, row, 8), "created_at", ms_or_null(r, row, 9),
                     "attempt_log", attempts ? attempts : json_array());
}

static void deliveries_listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (pg_query_status(q) != PG_OK) {
        fail_db(req, q);
        return;
    }
    if (pg_query_ntuples(q, 0) == 0) {
        request_fail(req, 404, NULL, "No such webhook endpoint.");
        return;
    }
    const PGresult *r = pg_query_result(q, 1);
    long long limit = (long long)(intptr_t)req->ctx;
    int n = PQntuples(r);
    json_t *data = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(data, delivery_json(r, i));
    json_t *cursor = n > limit ? json_string(pg_value(r, (int)limit - 1, 0)) : json_null();
    request_reply_json(req, 200, json_pack("{s:s,s:o,s:b,s:o}", "object", "list", "data", data,
                                           "has_more", n > limit, "next_cursor", cursor));
}

void admin_webhook_deliveries(struct request *req)
{
    long long limit = 100;
    const char *v = request_query(req, "limit");
    if (v && !util_parse_int(v, 1, 1000, &limit)) {
        request_fail(req, 400, NULL, "limit must be an integer from 1 to 1000.");
        return;
    }
    const char *cursor = request_query(req, "cursor");
    const char *status = request_query(req, "status");
    req->ctx = (void *)(intptr_t)limit;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT id FROM webhook_endpoints WHERE id = $1");
    pg_query_param(q, req->params[0]);
    pg_query_sql(q,
                 "SELECT d.id, d.org_id, e.id, e.type, d.status, d.attempts,"
                 " (extract(epoch FROM d.next_attempt_at) * 1000)::bigint, d.last_status,"
                 " d.last_error, (extract(epoch FROM d.created_at) * 1000)::bigint,"
                 " (SELECT coalesce(json_agg(json_build_object('attempt', a.attempt,"
                 "   'started_at', (extract(epoch FROM a.started_at) * 1000)::bigint,"
                 "   'duration_ms', a.duration_ms, 'response_status', a.response_status,"
                 "   'error', a.error) ORDER BY a.attempt), '[]')"
                 "  FROM delivery_attempts a WHERE a.org_id = d.org_id AND a.delivery_id = d.id)"
                 " FROM deliveries d JOIN events e ON e.org_id = d.org_id AND e.seq = d.event_seq"
                 " WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.id < $2)"
                 "  AND ($3::text IS NULL OR d.status = $3)"
                 " ORDER BY d.id DESC LIMIT $4"); /* ids sort by event time; the cursor is one */
    pg_query_param(q, req->params[0]);
    pg_query_param(q, cursor);
    pg_query_param(q, status);
    pg_query_param_int(q, limit + 1);
    pg_pool_submit(req->gw->pool, q, deliveries_listed, req);
}

/* ---- replay ---- */

static void replayed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (pg_query_status(q) != PG_OK) {
        fail_db(req, q);
        return;
    }
    const PGresult *r = pg_query_result(q, 0);
    if (PQntuples(r) == 0 || pg_is_null(r, 0, 0)) {
        request_fail(req, 404, NULL, "No such event.");
        return;
    }
    request_reply_json(req, 202, json_pack("{s:s,s:s,s:I}", "object", "event_replay", "event_id",
                                           req->params[0], "deliveries",
                                           (json_int_t)pg_value_int(r, 0, 1)));
}

void admin_event_replay(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(
        q, "WITH e AS (SELECT org_id, seq, id, type, resource_id FROM events WHERE id = $1),"
           " d AS (INSERT INTO deliveries (org_id, id, event_seq, endpoint_id, resource_id)"
           "  SELECT e.org_id, 'msg_' || substr(e.id, 5) || substr(w.id, 6), e.seq, w.id,"
           "   e.resource_id"
           "  FROM e JOIN webhook_endpoints w ON w.deleted_at IS NULL"
           "   AND (w.org_id IS NULL OR w.org_id = e.org_id)"
           "   AND (w.events IS NULL OR e.type = ANY (w.events))"
           "  ON CONFLICT (org_id, id) DO UPDATE SET status = 'pending', next_attempt_at = now(),"
           "   first_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = now()"
           "  RETURNING 1)"
           " SELECT (SELECT id FROM e), (SELECT count(*) FROM d),"
           "  pg_notify('scimgate_outbox', '')");
    pg_query_param(q, req->params[0]);
    pg_pool_submit(req->gw->pool, q, replayed, req);
}

/* ---- the event feed ---- */

static void events_listed(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    if (pg_query_status(q) != PG_OK) {
        fail_db(req, q);
        return;
    }
    if (pg_query_ntuples(q, 0) == 0) {
        request_fail(req, 404, NULL, "No such organization.");
        return;
    }
    const PGresult *r = pg_query_result(q, 1);
    long long limit = (long long)(intptr_t)req->ctx;
    int n = PQntuples(r);
    json_t *data = json_array();
    long long last = -1;
    for (int i = 0; i < n && i < limit; i++) {
        json_t *ev = pg_value_json(r, i, 1);
        if (!ev)
            ev = json_object();
        last = pg_value_int(r, i, 0);
        json_object_set_new(ev, "seq", json_integer(last));
        json_array_append_new(data, ev);
    }
    request_reply_json(req, 200,
                       json_pack("{s:s,s:o,s:b,s:o}", "object", "list", "data", data, "has_more",
                                 n > limit, "next_after",
                                 last >= 0 ? json_integer(last) : json_null()));
}

void admin_events_list(struct request *req)
{
    const char *org = request_query(req, "organization_id");
    const char *after = request_query(req, "after");
    const char *lim = request_query(req, "limit");
    long long after_seq = 0, limit = 100;
    if (!org) {
        request_fail(req, 400, NULL, "organization_id is required.");
        return;
    }
    if ((after && !util_parse_int(after, 0, INT64_MAX, &after_seq)) ||
        (lim && !util_parse_int(lim, 1, 1000, &limit))) {
        request_fail(req, 400, NULL,
                     "after must be a sequence number and limit an integer from 1 to 1000.");
        return;
    }
    req->ctx = (void *)(intptr_t)limit;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT id FROM organizations WHERE id = $1");
    pg_query_param(q, org);
    pg_query_sql(q, "SELECT seq, payload::text FROM events WHERE org_id = $1 AND seq > $2"
                    " ORDER BY seq LIMIT $3");
    pg_query_param(q, org);
    pg_query_param_int(q, after_seq);
    pg_query_param_int(q, limit + 1);
    pg_pool_submit(req->gw->pool, q, events_listed, req);
}
