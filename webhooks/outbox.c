/*
 * outbox.c - writing events with their deliveries, and the worker's claim and
 * record statements.
 */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "util.h"

struct outbox {
    char org_id[IDS_MAX];
    json_t *events; /* [{"id","type","resource_id","payload"}] */
    char **ids;
    size_t n, cap;
};

struct outbox *outbox_new(const char *org_id)
{
    struct outbox *o = xcalloc(1, sizeof *o);
    snprintf(o->org_id, sizeof o->org_id, "%s", org_id);
    o->events = json_array();
    return o;
}

void outbox_free(struct outbox *o)
{
    if (!o)
        return;
    json_decref(o->events);
    for (size_t i = 0; i < o->n; i++)
        free(o->ids[i]);
    free(o->ids);
    free(o);
}

const char *outbox_add(struct outbox *o, const char *type, const char *resource_id,
                       json_t *data)
{
    char id[IDS_MAX];
    ids_new("evt_", id);
    if (!json_object_get(data, "organization_id"))
        json_object_set_new(data, "organization_id", json_string(o->org_id));
    json_t *payload = json_pack("{s:s,s:s,s:I,s:o}", "id", id, "type", type, "created_at",
                                (json_int_t)util_now_ms(), "data", data);
    json_array_append_new(o->events, json_pack("{s:s,s:s,s:s,s:o}", "id", id, "type", type,
                                               "resource_id", resource_id ? resource_id : "",
                                               "payload", payload));
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 4;
        o->ids = xrealloc(o->ids, o->cap * sizeof *o->ids);
    }
    o->ids[o->n] = xstrdup(id);
    return o->ids[o->n++];
}

size_t outbox_count(const struct outbox *o)
{
    return o->n;
}

static const char *const append_sql =
    "WITH ev AS ("
    "  SELECT a.e->>'id' AS id, a.e->>'type' AS type, a.e->>'resource_id' AS resource_id,"
    "         a.e->'payload' AS payload, a.ord"
    "  FROM json_array_elements($2::json) WITH ORDINALITY AS a(e, ord)),"
    " c AS ("
    "  INSERT INTO event_counters AS k (org_id, last_seq)"
    "  VALUES ($1, (SELECT count(*) FROM ev))"
    "  ON CONFLICT (org_id) DO UPDATE SET last_seq = k.last_seq + EXCLUDED.last_seq"
    "  RETURNING k.last_seq - (SELECT count(*) FROM ev) AS base),"
    " e AS ("
    "  INSERT INTO events (org_id, seq, id, type, resource_id, payload)"
    "  SELECT $1, c.base + ev.ord, ev.id, ev.type, ev.resource_id, ev.payload FROM ev, c"
    "  RETURNING seq, id, type, resource_id),"
    " d AS ("
    "  INSERT INTO deliveries (org_id, id, event_seq, endpoint_id, resource_id)"
    "  SELECT $1, 'msg_' || substr(e.id, 5) || substr(w.id, 6), e.seq, w.id, e.resource_id"
    "  FROM e JOIN webhook_endpoints w ON w.deleted_at IS NULL"
    "   AND (w.org_id IS NULL OR w.org_id = $1) AND (w.events IS NULL OR e.type = ANY (w.events))"
    "  RETURNING 1)"
    " SELECT (SELECT max(seq) FROM e), (SELECT count(*) FROM d)";

int outbox_append(const struct outbox *o, struct pg_query *q)
{
    if (o->n == 0)
        return -1;
    pg_query_sql(q, append_sql);
    pg_query_param(q, o->org_id);
    pg_query_param_json(q, o->events);
    pg_query_set_tail(q, pg_query_nstmts(q) - 1);
    /* The worker is woken after the commit, never from inside it. */
    pg_query_set_notify(q, OUTBOX_CHANNEL);
    return pg_query_nstmts(q) - 1;
}

const char *const outbox_sql_claim =
    "WITH due AS ("
    "  SELECT d.org_id, d.id FROM deliveries d"
    "  WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
    "    AND (d.lease_until IS NULL OR d.lease_until < now())"
    "    AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.status = 'pending'"
    "      AND p.endpoint_id = d.endpoint_id AND p.org_id = d.org_id"
    "      AND p.resource_id = d.resource_id AND p.event_seq < d.event_seq)"
    "  ORDER BY d.next_attempt_at, d.org_id, d.event_seq"
    "  LIMIT $1 FOR UPDATE OF d SKIP LOCKED)"
    " UPDATE deliveries d SET lease_owner = $2,"
    "  lease_until = now() + make_interval(secs => $3::double precision),"
    "  attempts = d.attempts + 1, first_attempt_at = coalesce(d.first_attempt_at, now()),"
    "  updated_at = now()"
    " FROM due, events e, webhook_endpoints w"
    " WHERE d.org_id = due.org_id AND d.id = due.id AND e.org_id = d.org_id"
    "  AND e.seq = d.event_seq AND w.id = d.endpoint_id"
    " RETURNING d.org_id, d.id, d.attempts,"
    "  (extract(epoch FROM d.first_attempt_at) * 1000)::bigint, e.payload::text, w.url,"
    "  w.secret, w.deleted_at IS NOT NULL";

const char *const outbox_sql_record =
    "UPDATE deliveries SET status = $7, attempts = $4::integer,"
    " next_attempt_at = CASE WHEN $7 = 'pending' THEN to_timestamp($8::bigint / 1000.0)"
    "  ELSE next_attempt_at END,"
    " lease_owner = NULL, lease_until = NULL, last_status = $5::integer, last_error = $6,"
    " updated_at = now()"
    " WHERE org_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'pending'"
    " RETURNING 1";

const char *const outbox_sql_record_attempt =
    "INSERT INTO delivery_attempts (org_id, delivery_id, attempt, started_at, duration_ms,"
    " response_status, error)"
    " VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0), $5, $6::integer, $7)"
    " ON CONFLICT DO NOTHING";
