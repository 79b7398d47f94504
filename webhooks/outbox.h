/*
 * outbox.h - the transactional outbox: events are written in the same
 * transaction as the change that causes them, together with one delivery row
 * per matching webhook endpoint and a NOTIFY that wakes the workers. Also the
 * worker's side: claiming due deliveries with a lease and recording attempts.
 *
 * Ordering: an organization's events get consecutive sequence numbers from
 * its row in event_counters, locked by the appending statement until commit,
 * so they commit in sequence order and a reader paging "after seq" never
 * skips one. To keep that lock from ever taking part in a deadlock, a
 * transaction appends all its events with ONE statement, after its other
 * writes (outbox_append).
 */
#ifndef SCIMGATE_OUTBOX_H
#define SCIMGATE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "pg_query.h"

/* The NOTIFY channel that wakes workers. */
#define OUTBOX_CHANNEL "scimgate_outbox"

struct outbox;

/* Collects the events of one transaction of organization org_id (copied). */
struct outbox *outbox_new(const char *org_id);
void outbox_free(struct outbox *o);
/* Adds an event of type (e.g. "scimUser.provisioned") about resource_id with
 * the given data object (stolen; organization_id is added when missing).
 * Returns the new event id (valid until outbox_free). */
const char *outbox_add(struct outbox *o, const char *type, const char *resource_id,
                       json_t *data);
size_t outbox_count(const struct outbox *o);
/* Appends the statement that stores every event, their deliveries and the
 * notification to q. Returns its statement index, or -1 when there are no
 * events (nothing appended). */
int outbox_append(const struct outbox *o, struct pg_query *q);

/* ---- worker side ---- */

/* $1 limit, $2 lease owner, $3 lease seconds. Claims due deliveries (the
 * oldest pending one per endpoint and resource only) and returns: org_id, id,
 * attempts, first_attempt_at ms, payload text, url, secret, endpoint_gone. */
extern const char *const outbox_sql_claim;
/* $1 org, $2 id, $3 lease owner, $4 attempts, $5 HTTP status or NULL, $6 error
 * or NULL, $7 outcome ('succeeded', 'pending' or 'failed'), $8 next attempt ms
 * (used for 'pending'). Sets the delivery's new state if the lease is still
 * ours; returns a row when it was. */
extern const char *const outbox_sql_record;
/* $1 org, $2 delivery id, $3 attempt, $4 started ms, $5 duration ms, $6 HTTP
 * status or NULL, $7 error or NULL. Every attempt is kept. */
extern const char *const outbox_sql_record_attempt;

#endif
