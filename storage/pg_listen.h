/*
 * pg_listen.h - a dedicated connection that LISTENs on notification channels
 * and reports each NOTIFY, and whether it is connected (while it is not,
 * notifications may be missed and caches must not be trusted).
 */
#ifndef SCIMGATE_PG_LISTEN_H
#define SCIMGATE_PG_LISTEN_H

#include <stdbool.h>

#include <event2/event.h>

struct pg_listen;

typedef void (*pg_listen_notify_cb)(const char *channel, const char *payload, void *arg);
typedef void (*pg_listen_state_cb)(bool connected, void *arg);

/* channels: NULL-terminated identifiers (copied). Connects at once and
 * reconnects with backoff. */
struct pg_listen *pg_listen_create(struct event_base *base, const char *conninfo,
                                   const char *const *channels, pg_listen_notify_cb on_notify,
                                   pg_listen_state_cb on_state, void *arg);
void pg_listen_free(struct pg_listen *l);
bool pg_listen_connected(const struct pg_listen *l);

#endif
