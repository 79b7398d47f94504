/*
 * router.h - the route table: method + path pattern -> handler, with the
 * authentication each route needs, and matching that tells 404 from 405.
 */
#ifndef SCIMGATE_ROUTER_H
#define SCIMGATE_ROUTER_H

#include <stdbool.h>

#include <event2/http.h>

#include "request.h"

typedef void (*route_handler)(struct request *req);

enum route_flags {
    ROUTE_PUBLIC = 0,            /* no credentials */
    ROUTE_SCIM = 1 << 0,         /* SCIM bearer token; organization from the token */
    ROUTE_ADMIN = 1 << 1,        /* admin secret key */
    ROUTE_JSON = 1 << 2,         /* a JSON body is required and parsed into req->json */
    ROUTE_JSON_OPTIONAL = 1 << 3,/* a JSON body is parsed when present */
    ROUTE_UNLIMITED = 1 << 4,    /* SCIM route that takes no rate-limit unit (the handler
                                  * charges itself, e.g. /Bulk per operation) */
};

struct route {
    enum evhttp_cmd_type method;
    const char *pattern;         /* e.g. "/scim/v2/Users/ *" (no space): a "*" segment matches one segment */
    route_handler handler;
    unsigned flags;              /* enum route_flags */
    unsigned scope;              /* SCIM scope bit required (auth.h), 0 = none */
    enum request_style style;    /* error shape and content type */
};

/* Matches path (normalised) and method. On a match returns the route and
 * fills params (new strings, percent-decoded) and *nparams. Otherwise returns
 * NULL; *allowed gets the methods the path supports (0 = unknown path). */
const struct route *router_match(const char *path, enum evhttp_cmd_type method,
                                 char **params, int *nparams, unsigned *allowed);
/* The style for a path no route matched (SCIM unless under /v1/). */
enum request_style router_style_for(const char *path);
/* "GET, POST" for an Allow header, into buf. */
void router_allow_header(unsigned allowed, char *buf, size_t len);
/* Normalises a raw request path (no query): collapses "//", drops a trailing
 * "/", rejects NUL and "..". Returns a new string or NULL. */
char *router_normalize(const char *raw);

#endif
