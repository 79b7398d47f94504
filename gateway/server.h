/*
 * server.h - the HTTP listener: evhttp on the gateway's loop, limits and
 * timeouts, the dispatch of every request through routing, body checks,
 * authentication and rate limiting to its handler, and the graceful drain on
 * SIGTERM (stop accepting, finish in-flight requests, then stop).
 */
#ifndef SCIMGATE_SERVER_H
#define SCIMGATE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway.h"

struct request;

/* Creates the listener's evhttp (not yet bound). */
struct server *server_create(struct gateway *gw);
/* Binds cfg->listen; on failure err says why. */
bool server_listen(struct server *s, char *err, size_t errlen);
/* The bound port (useful with port 0). */
int server_port(const struct server *s);
/* Stops accepting and calls done(arg) once every in-flight request has been
 * answered and written, or when timeout_ms passes, whichever is first. */
void server_drain(struct server *s, int timeout_ms, void (*done)(void *arg), void *arg);
/* Loads SCIMGATE_TLS_CERT / SCIMGATE_TLS_KEY again (SIGHUP). New connections
 * use the new certificate; open connections keep theirs. On failure the old
 * one stays and err says why. */
bool server_reload_tls(struct server *s, char *err, size_t errlen);
/* Frees the evhttp and every connection. NULL is fine. */
void server_free(struct server *s);

/* Called by request.c just before a request's reply is handed to libevent. */
void server_request_done(struct server *s, struct request *req);
/* Requests received and not yet answered. */
int server_inflight(const struct server *s);

/* Continues a request after authentication (auth.c calls this). */
void server_dispatch_authenticated(struct request *req);

#endif
