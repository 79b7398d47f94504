/*
 * admin_webhooks.h - admin API handlers for webhook endpoints, their
 * deliveries, event replay and the event feed (/v1/events). Routes are in
 * router.c.
 */
#ifndef SCIMGATE_ADMIN_WEBHOOKS_H
#define SCIMGATE_ADMIN_WEBHOOKS_H

#include "request.h"

void admin_webhook_create(struct request *req);
void admin_webhook_list(struct request *req);
void admin_webhook_delete(struct request *req);
void admin_webhook_deliveries(struct request *req);
void admin_event_replay(struct request *req);
void admin_events_list(struct request *req);

#endif
