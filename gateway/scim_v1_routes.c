/*
 * scim_v1_routes.c - /scim/v1 on top of the SCIM 2.0 handlers: translate the
 * request in place, install the 1.1 reply transform, call the 2.0 handler.
 */
#include "scim_v1_routes.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "groups.h"
#include "scim_v1.h"
#include "users.h"
#include "util.h"

typedef void (*v2_handler)(struct request *req);

/* The Location header of a 201 names the 2.0 URL; 1.1 clients get theirs. */
static void location_to_v1(struct request *req, const struct scim_v1_urls *urls)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
    char *loc = scim_v1_url_from_v2(evhttp_find_header(h, "Location"), urls);
    if (!loc)
        return;
    evhttp_remove_header(h, "Location");
    evhttp_add_header(h, "Location", loc);
    free(loc);
}

/* The reply transform: every JSON document a 2.0 handler answers with. */
static json_t *to_v1(struct request *req, json_t *doc)
{
    struct scim_v1_urls urls = {req->gw->scim_base, req->gw->scim_base_v1};
    json_t *out = scim_v1_response_from_v2(doc, &urls);
    json_decref(doc);
    /* Before a reply starts, libevent's request is ours to change (never
     * during a stream, when the client may be gone). */
    if (req->state == REQ_HANDLE)
        location_to_v1(req, &urls);
    return out;
}

/* Replaces every query parameter called name (any case) by value. */
static bool set_query(struct request *req, const char *name, const char *value)
{
    while (evhttp_remove_header(&req->query, name) == 0)
        ;
    return evhttp_add_header(&req->query, name, value) == 0;
}

/* Rewrites the paths of attributes=, excludedAttributes= and sortBy=. */
static bool paths_to_v2(struct request *req, const struct scim_resource_type *rt)
{
    static const char *const names[] = {"attributes", "excludedAttributes", "sortBy"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        const char *v = request_query(req, names[i]);
        if (!v)
            continue;
        char *mapped = scim_v1_paths_to_v2(rt, v);
        bool ok = set_query(req, names[i], mapped);
        free(mapped);
        if (!ok) {
            request_fail(req, 400, SCIM_TYPE_INVALID_VALUE, "%s is malformed.", names[i]);
            return false;
        }
    }
    return true;
}

static bool filter_to_v2(struct request *req, const struct scim_resource_type *rt)
{
    const char *f = request_query(req, "filter");
    if (!f || !*f)
        return true;
    struct scim_error err = {0};
    char *mapped = scim_v1_filter_to_v2(rt, f, &err);
    if (!mapped) {
        request_reply_error(req, &err);
        return false;
    }
    bool ok = set_query(req, "filter", mapped);
    free(mapped);
    if (!ok)
        request_fail(req, 400, SCIM_TYPE_INVALID_FILTER, "The filter is malformed.");
    return ok;
}

/* GET of one resource or a list: the query is translated, the body unused. */
static void run_read(struct request *req, const struct scim_resource_type *rt,
                     v2_handler h, bool list)
{
    req->transform = to_v1;
    if (!paths_to_v2(req, rt) || (list && !filter_to_v2(req, rt)))
        return;
    h(req);
}

/* POST, PUT and PATCH: the body is translated too. */
static void run_write(struct request *req, const struct scim_resource_type *rt,
                      v2_handler h, bool patch)
{
    struct scim_error err = {0};
    json_t *body = patch ? scim_v1_patch_to_v2(rt, req->json, &err)
                         : scim_v1_resource_to_v2(rt, req->json, &err);
    if (!body) {
        request_reply_error(req, &err);
        return;
    }
    json_decref(req->json);
    req->json = body;
    run_read(req, rt, h, false);
}

/* ---- discovery ---- */

void scim_v1_routes_spc(struct request *req)
{
    const struct config *cfg = req->gw->cfg;
    struct scim_spc_limits limits = {
        .bulk_max_operations = cfg->bulk_max_operations,
        .bulk_max_payload = cfg->bulk_max_payload,
        .filter_max_results = cfg->filter_max_results,
        .docs_url = NULL,
    };
    request_reply_json(req, 200, scim_v1_spc(&limits, req->gw->scim_base_v1));
}

void scim_v1_routes_resource_types(struct request *req)
{
    request_reply_json(req, 200, scim_v1_resource_types_list(req->gw->scim_base_v1));
}

void scim_v1_routes_resource_type(struct request *req)
{
    const struct scim_resource_type *rt = scim_v1_resource_type_find(req->params[0]);
    if (!rt) {
        request_fail(req, 404, NULL, "No resource type \"%.64s\".", req->params[0]);
        return;
    }
    request_reply_json(req, 200, scim_v1_resource_type(rt, req->gw->scim_base_v1));
}

void scim_v1_routes_schemas(struct request *req)
{
    request_reply_json(req, 200, scim_v1_schemas_list(req->gw->scim_base_v1));
}

void scim_v1_routes_schema(struct request *req)
{
    const struct scim_resource_type *rt = scim_v1_resource_type_find(req->params[0]);
    if (!rt) {
        request_fail(req, 404, NULL, "No schema \"%.64s\".", req->params[0]);
        return;
    }
    request_reply_json(req, 200, scim_v1_schema(rt, req->gw->scim_base_v1));
}

/* ---- Users ---- */

void scim_v1_routes_users_list(struct request *req)
{
    run_read(req, &scim_rt_user, users_list, true);
}

void scim_v1_routes_users_create(struct request *req)
{
    run_write(req, &scim_rt_user, users_create, false);
}

void scim_v1_routes_users_get(struct request *req)
{
    run_read(req, &scim_rt_user, users_get, false);
}

void scim_v1_routes_users_replace(struct request *req)
{
    run_write(req, &scim_rt_user, users_replace, false);
}

void scim_v1_routes_users_patch(struct request *req)
{
    run_write(req, &scim_rt_user, users_patch, true);
}

void scim_v1_routes_users_delete(struct request *req)
{
    run_read(req, &scim_rt_user, users_delete, false);
}

/* ---- Groups ---- */

void scim_v1_routes_groups_list(struct request *req)
{
    run_read(req, &scim_rt_group, groups_list, true);
}

void scim_v1_routes_groups_create(struct request *req)
{
    run_write(req, &scim_rt_group, groups_create, false);
}

void scim_v1_routes_groups_get(struct request *req)
{
    run_read(req, &scim_rt_group, groups_get, false);
}

void scim_v1_routes_groups_replace(struct request *req)
{
    run_write(req, &scim_rt_group, groups_replace, false);
}

void scim_v1_routes_groups_patch(struct request *req)
{
    run_write(req, &scim_rt_group, groups_patch, true);
}

void scim_v1_routes_groups_delete(struct request *req)
{
    run_read(req, &scim_rt_group, groups_delete, false);
}
