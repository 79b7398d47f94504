/*
 * discovery.c - the discovery documents, built by scim_schema.c.
 */
#include "discovery.h"

#include <string.h>

#include "bulk.h"
#include "scim_schema.h"
#include "util.h"

void discovery_spc(struct request *req)
{
    const struct config *cfg = req->gw->cfg;
    struct scim_spc_limits limits = {
        .bulk_max_operations = (int)bulk_max_operations(req),
        .bulk_max_payload = cfg->bulk_max_payload,
        .filter_max_results = cfg->filter_max_results,
        .docs_url = NULL,
    };
    request_reply_json(req, 200, scim_spc_to_json(&limits, req->gw->scim_base));
}

void discovery_resource_types(struct request *req)
{
    request_reply_json(req, 200, scim_rts_list_json(req->gw->scim_base));
}

void discovery_resource_type(struct request *req)
{
    const struct scim_resource_type *rts[] = {&scim_rt_user, &scim_rt_group};
    for (size_t i = 0; i < ARRAY_LEN(rts); i++) {
        if (util_streq_ci(req->params[0], rts[i]->id)) {
            request_reply_json(req, 200, scim_rt_to_json(rts[i], req->gw->scim_base));
            return;
        }
    }
    request_fail(req, 404, NULL, "No resource type \"%s\".", req->params[0]);
}

void discovery_schemas(struct request *req)
{
    request_reply_json(req, 200, scim_schemas_list_json(req->gw->scim_base));
}

void discovery_schema(struct request *req)
{
    const struct scim_schema *s = scim_schema_find(req->params[0]);
    if (!s) {
        request_fail(req, 404, NULL, "No schema \"%s\".", req->params[0]);
        return;
    }
    request_reply_json(req, 200, scim_schema_to_json(s, req->gw->scim_base));
}

void discovery_me(struct request *req)
{
    request_fail(req, 501, NULL, "/Me is not supported: tokens identify an identity "
                                 "provider connection, not a user.");
}
