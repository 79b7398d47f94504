/*
 * gateway.h - the process-wide context every handler reaches through its
 * request: the loop, the configuration, the database pool and the shared
 * services (authentication cache, rate limiter, metrics). Built once by
 * `scimgate serve`, read-only afterwards except for the services' own state.
 */
#ifndef SCIMGATE_GATEWAY_H
#define SCIMGATE_GATEWAY_H

#include <stdbool.h>

#include <event2/event.h>

#include "config.h"
#include "pg_pool.h"

struct server;
struct auth;
struct ratelimit_gate;
struct metrics;
struct mapping_cache;
struct offload;

struct gateway {
    struct event_base *base;     /* the one event loop of this process */
    const struct config *cfg;    /* validated settings */
    struct pg_pool *pool;        /* database connections */
    struct server *server;       /* HTTP listener(s) */
    struct auth *auth;           /* token and admin-key cache */
    struct ratelimit_gate *gate; /* per-token rate limit */
    struct metrics *metrics;     /* counters and histograms */
    struct mapping_cache *mappings; /* organizations' attribute mappings */
    struct offload *offload;     /* threads for password hashing */
    char scim_base[512];         /* public SCIM 2.0 base URL, e.g. https://h/scim/v2 */
    char scim_base_v1[512];      /* public SCIM 1.1 base URL */
    bool draining;               /* SIGTERM received: finishing in-flight work */
};

#endif
