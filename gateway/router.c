/*
 * router.c - the route table and the matcher. Every endpoint of API.md is one
 * row here; handlers live in their own modules.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin_webhooks.h"
#include "auth.h"
#include "bulk.h"
#include "discovery.h"
#include "groups.h"
#include "health.h"
#include "metrics.h"
#include "scim_v1_routes.h"
#include "users.h"
#include "util.h"

#define SCIM2 REQ_STYLE_SCIM2
#define SCIM1 REQ_STYLE_SCIM1
#define API REQ_STYLE_API
#define PLAIN REQ_STYLE_PLAIN
#define ADMIN_JSON (ROUTE_ADMIN | ROUTE_JSON)
#define SCIM_JSON (ROUTE_SCIM | ROUTE_JSON)

static const struct route routes[] = {
    {EVHTTP_REQ_GET, "/healthz", health_live, ROUTE_PUBLIC, 0, PLAIN},
    {EVHTTP_REQ_GET, "/livez", health_live, ROUTE_PUBLIC, 0, PLAIN},
    {EVHTTP_REQ_GET, "/readyz", health_ready, ROUTE_PUBLIC, 0, PLAIN},
    {EVHTTP_REQ_GET, "/metrics", metrics_handle, ROUTE_PUBLIC, 0, PLAIN},

    /* SCIM 2.0 */
    {EVHTTP_REQ_GET, "/scim/v2/ServiceProviderConfig", discovery_spc, ROUTE_SCIM, 0, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/ResourceTypes", discovery_resource_types, ROUTE_SCIM, 0, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/ResourceTypes/*", discovery_resource_type, ROUTE_SCIM, 0, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/Schemas", discovery_schemas, ROUTE_SCIM, 0, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/Schemas/*", discovery_schema, ROUTE_SCIM, 0, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/Me", discovery_me, ROUTE_SCIM, 0, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/Users", users_list, ROUTE_SCIM, SCOPE_GET_USERS, SCIM2},
    {EVHTTP_REQ_POST, "/scim/v2/Users", users_create, SCIM_JSON, SCOPE_POST_USERS, SCIM2},
    {EVHTTP_REQ_POST, "/scim/v2/Users/.search", users_search, SCIM_JSON, SCOPE_GET_USERS, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/Users/*", users_get, ROUTE_SCIM, SCOPE_GET_USERS, SCIM2},
    {EVHTTP_REQ_PUT, "/scim/v2/Users/*", users_replace, SCIM_JSON, SCOPE_PUT_USERS, SCIM2},
    {EVHTTP_REQ_PATCH, "/scim/v2/Users/*", users_patch, SCIM_JSON, SCOPE_PATCH_USERS, SCIM2},
    {EVHTTP_REQ_DELETE, "/scim/v2/Users/*", users_delete, ROUTE_SCIM, SCOPE_DELETE_USERS, SCIM2},
    {EVHTTP_REQ_POST, "/scim/v2/Bulk", bulk_handle, SCIM_JSON | ROUTE_UNLIMITED, 0, SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/Groups", groups_list, ROUTE_SCIM, SCOPE_GET_GROUPS, SCIM2},
    {EVHTTP_REQ_POST, "/scim/v2/Groups", groups_create, SCIM_JSON, SCOPE_POST_GROUPS, SCIM2},
    {EVHTTP_REQ_POST, "/scim/v2/Groups/.search", groups_search, SCIM_JSON, SCOPE_GET_GROUPS,
     SCIM2},
    {EVHTTP_REQ_GET, "/scim/v2/Groups/*", groups_get, ROUTE_SCIM, SCOPE_GET_GROUPS, SCIM2},
    {EVHTTP_REQ_PUT, "/scim/v2/Groups/*", groups_replace, SCIM_JSON, SCOPE_PUT_GROUPS, SCIM2},
    {EVHTTP_REQ_PATCH, "/scim/v2/Groups/*", groups_patch, SCIM_JSON, SCOPE_PATCH_GROUPS, SCIM2},
    {EVHTTP_REQ_DELETE, "/scim/v2/Groups/*", groups_delete, ROUTE_SCIM, SCOPE_DELETE_GROUPS,
     SCIM2},

    /* SCIM 1.1 (Okta's SCIM 1.1 connector) over the same handlers and data. 1.1
     * names the configuration endpoint in the plural; the singular is kept too. */
    {EVHTTP_REQ_GET, "/scim/v1/ServiceProviderConfigs", scim_v1_routes_spc, ROUTE_SCIM, 0,
     SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/ServiceProviderConfig", scim_v1_routes_spc, ROUTE_SCIM, 0,
     SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/ResourceTypes", scim_v1_routes_resource_types, ROUTE_SCIM,
     0, SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/ResourceTypes/*", scim_v1_routes_resource_type, ROUTE_SCIM,
     0, SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/Schemas", scim_v1_routes_schemas, ROUTE_SCIM, 0, SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/Schemas/*", scim_v1_routes_schema, ROUTE_SCIM, 0, SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/Users", scim_v1_routes_users_list, ROUTE_SCIM,
     SCOPE_GET_USERS, SCIM1},
    {EVHTTP_REQ_POST, "/scim/v1/Users", scim_v1_routes_users_create, SCIM_JSON,
     SCOPE_POST_USERS, SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/Users/*", scim_v1_routes_users_get, ROUTE_SCIM,
     SCOPE_GET_USERS, SCIM1},
    {EVHTTP_REQ_PUT, "/scim/v1/Users/*", scim_v1_routes_users_replace, SCIM_JSON,
     SCOPE_PUT_USERS, SCIM1},
    {EVHTTP_REQ_PATCH, "/scim/v1/Users/*", scim_v1_routes_users_patch, SCIM_JSON,
     SCOPE_PATCH_USERS, SCIM1},
    {EVHTTP_REQ_DELETE, "/scim/v1/Users/*", scim_v1_routes_users_delete, ROUTE_SCIM,
     SCOPE_DELETE_USERS, SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/Groups", scim_v1_routes_groups_list, ROUTE_SCIM,
     SCOPE_GET_GROUPS, SCIM1},
    {EVHTTP_REQ_POST, "/scim/v1/Groups", scim_v1_routes_groups_create, SCIM_JSON,
     SCOPE_POST_GROUPS, SCIM1},
    {EVHTTP_REQ_GET, "/scim/v1/Groups/*", scim_v1_routes_groups_get, ROUTE_SCIM,
     SCOPE_GET_GROUPS, SCIM1},
    {EVHTTP_REQ_PUT, "/scim/v1/Groups/*", scim_v1_routes_groups_replace, SCIM_JSON,
     SCOPE_PUT_GROUPS, SCIM1},
    {EVHTTP_REQ_PATCH, "/scim/v1/Groups/*", scim_v1_routes_groups_patch, SCIM_JSON,
     SCOPE_PATCH_GROUPS, SCIM1},
    {EVHTTP_REQ_DELETE, "/scim/v1/Groups/*", scim_v1_routes_groups_delete, ROUTE_SCIM,
     SCOPE_DELETE_GROUPS, SCIM1},

    /* Admin API */
    {EVHTTP_REQ_POST, "/v1/organizations", admin_org_create, ADMIN_JSON, 0, API},
    {EVHTTP_REQ_GET, "/v1/organizations", admin_org_list, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_GET, "/v1/organizations/*", admin_org_get, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_DELETE, "/v1/organizations/*", admin_org_delete, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_GET, "/v1/organizations/*/scim/endpoint", admin_org_endpoint, ROUTE_ADMIN, 0,
     API},
    {EVHTTP_REQ_POST, "/v1/organizations/*/scim/tokens", admin_token_create, ADMIN_JSON, 0,
     API},
    {EVHTTP_REQ_GET, "/v1/organizations/*/scim/tokens", admin_token_list, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_DELETE, "/v1/organizations/*/scim/tokens/*", admin_token_revoke, ROUTE_ADMIN, 0,
     API},
    {EVHTTP_REQ_GET, "/v1/organizations/*/scim/attribute-mappings", admin_mapping_get,
     ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_PUT, "/v1/organizations/*/scim/attribute-mappings", admin_mapping_put,
     ADMIN_JSON, 0, API},
    {EVHTTP_REQ_GET, "/v1/organizations/*/users", users_admin_list, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_POST, "/v1/webhook-endpoints", admin_webhook_create, ADMIN_JSON, 0, API},
    {EVHTTP_REQ_GET, "/v1/webhook-endpoints", admin_webhook_list, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_DELETE, "/v1/webhook-endpoints/*", admin_webhook_delete, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_GET, "/v1/webhook-endpoints/*/deliveries", admin_webhook_deliveries, ROUTE_ADMIN,
     0, API},
    {EVHTTP_REQ_POST, "/v1/events/*/replay", admin_event_replay, ROUTE_ADMIN, 0, API},
    {EVHTTP_REQ_GET, "/v1/events", admin_events_list, ROUTE_ADMIN, 0, API},
};

enum request_style router_style_for(const char *path)
{
    if (util_has_prefix_ci(path, "/scim/v1/") || util_streq_ci(path, "/scim/v1"))
        return REQ_STYLE_SCIM1;
    if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0)
        return REQ_STYLE_API;
    return REQ_STYLE_SCIM2;
}

char *router_normalize(const char *raw)
{
    if (!raw || raw[0] != '/')
        return NULL;
    struct strbuf b = {0};
    for (const char *p = raw; *p; p++) {
        if (*p == '/' && b.len && b.s[b.len - 1] == '/')
            continue;
        strbuf_putc(&b, *p);
    }
    if (b.len > 1 && b.s[b.len - 1] == '/')
        b.s[--b.len] = '\0';
    char *s = strbuf_detach(&b);
    /* Encoded NUL or traversal never name a resource. */
    if (strstr(s, "%00") || strstr(s, "/../") || strstr(s, "/./")) {
        free(s);
        return NULL;
    }
    return s;
}

/* Compares one path segment [seg, seg+len) with a pattern segment. */
static bool segment_matches(const char *pat, size_t plen, const char *seg, size_t len)
{
    if (plen == 1 && pat[0] == '*')
        return len > 0;
    if (plen != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char a = pat[i], b = seg[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

static void free_params(char **params, int *n)
{
    for (int i = 0; i < *n; i++) {
        free(params[i]);
        params[i] = NULL;
    }
    *n = 0;
}

/* Matches path against one pattern; on success fills the decoded params. */
static bool pattern_matches(const char *pattern, const char *path, char **params, int *n)
{
    const char *p = pattern, *s = path;
    *n = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            break;
        p++;
        s++;
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (!segment_matches(p, plen, s, slen))
            break;
        if (plen == 1 && *p == '*') {
            if (*n == REQUEST_MAX_PARAMS)
                break;
            size_t dlen = 0;
            char *raw = xstrndup(s, slen);
            char *dec = evhttp_uridecode(raw, 0, &dlen);
            free(raw);
            if (!dec || strlen(dec) != dlen) {
                free(dec);
                break;
            }
            params[(*n)++] = xstrdup(dec);
            free(dec);
        }
        p += plen;
        s += slen;
    }
    if (*p == '\0' && *s == '\0')
        return true;
    free_params(params, n);
    return false;
}

const struct route *router_match(const char *path, enum evhttp_cmd_type method,
                                 char **params, int *nparams, unsigned *allowed)
{
    *allowed = 0;
    *nparams = 0;
    const struct route *found = NULL;
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        char *tmp[REQUEST_MAX_PARAMS];
        int n;
        if (!pattern_matches(routes[i].pattern, path, tmp, &n))
            continue;
        *allowed |= (unsigned)routes[i].method;
        if (!found && routes[i].method == method) {
            found = &routes[i];
            memcpy(params, tmp, sizeof(char *) * (size_t)n);
            *nparams = n;
        } else {
            free_params(tmp, &n);
        }
    }
    return found;
}

void router_allow_header(unsigned allowed, char *buf, size_t len)
{
    static const struct {
        enum evhttp_cmd_type m;
        const char *name;
    } names[] = {
        {EVHTTP_REQ_GET, "GET"},       {EVHTTP_REQ_HEAD, "HEAD"},
        {EVHTTP_REQ_POST, "POST"},     {EVHTTP_REQ_PUT, "PUT"},
        {EVHTTP_REQ_PATCH, "PATCH"},   {EVHTTP_REQ_DELETE, "DELETE"},
        {EVHTTP_REQ_OPTIONS, "OPTIONS"},
    };
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (!(allowed & (unsigned)names[i].m))
            continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i].name);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}
