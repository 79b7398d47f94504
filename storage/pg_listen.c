/*
 * pg_listen.c - LISTEN on a connection of its own (see pg_listen.h).
 */
#include "pg_listen.h"

#include <stdlib.h>

#include "pg_conn.h"
#include "pg_internal.h"
#include "util.h"

struct pg_listen {
    struct pg_conn *conn;
    pg_listen_notify_cb on_notify;
    pg_listen_state_cb on_state;
    void *arg;
    bool connected;
};

static void set_state(struct pg_listen *l, bool up)
{
    if (l->connected == up)
        return;
    l->connected = up;
    if (l->on_state)
        l->on_state(up, l->arg);
}

static void hook_ready(struct pg_conn *c, void *arg)
{
    (void)c;
    set_state(arg, true);
}

static void hook_down(struct pg_conn *c, void *arg)
{
    (void)c;
    set_state(arg, false);
}

static void hook_done(struct pg_conn *c, struct pg_query *q, void *arg)
{
    (void)c;
    (void)arg;
    pg_query_free(q);
}

static void hook_notify(struct pg_conn *c, const char *channel, const char *payload, void *arg)
{
    struct pg_listen *l = arg;
    (void)c;
    if (l->on_notify)
        l->on_notify(channel, payload ? payload : "", l->arg);
}

static const struct pg_conn_hooks listen_hooks = {
    .on_ready = hook_ready,
    .on_down = hook_down,
    .on_done = hook_done,
    .on_notify = hook_notify,
};

struct pg_listen *pg_listen_create(struct event_base *base, const char *conninfo,
                                   const char *const *channels, pg_listen_notify_cb on_notify,
                                   pg_listen_state_cb on_state, void *arg)
{
    struct pg_listen *l = xcalloc(1, sizeof *l);
    l->on_notify = on_notify;
    l->on_state = on_state;
    l->arg = arg;
    struct pg_conn_opts opts = {
        .conninfo = conninfo,
        .application_name = "scimgate-listen",
        .query_timeout_ms = 10000,
        .listen = channels,
    };
    l->conn = pg_conn_create(base, &opts, &listen_hooks, l);
    pg_conn_start(l->conn);
    return l;
}

void pg_listen_free(struct pg_listen *l)
{
    if (!l)
        return;
    l->on_state = NULL;
    pg_conn_free(l->conn);
    free(l);
}

bool pg_listen_connected(const struct pg_listen *l)
{
    return l->connected;
}
