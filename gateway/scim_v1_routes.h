/*
 * scim_v1_routes.h - the /scim/v1 handlers (SCIM 1.1, Okta's "SCIM 1.1"
 * connector). Each translates the request into its 2.0 form with scim_v1.c
 * (the body in req->json, filter, attributes, excludedAttributes and sortBy
 * in the query), sets the request's reply transform so the 2.0 handler's
 * answer goes out in 1.1 form, and runs the 2.0 handler of users.c or
 * groups.c. Errors are rendered in the 1.1 shape because the routes have
 * style REQ_STYLE_SCIM1. Routes are in router.c.
 */
#ifndef SCIMGATE_SCIM_V1_ROUTES_H
#define SCIMGATE_SCIM_V1_ROUTES_H

#include "request.h"

/* Discovery: /ServiceProviderConfigs (and the 2.0 singular name),
 * /ResourceTypes[/{id}], /Schemas[/{id}], all in 1.1 form. */
void scim_v1_routes_spc(struct request *req);
void scim_v1_routes_resource_types(struct request *req);
void scim_v1_routes_resource_type(struct request *req);
void scim_v1_routes_schemas(struct request *req);
void scim_v1_routes_schema(struct request *req);

void scim_v1_routes_users_list(struct request *req);
void scim_v1_routes_users_create(struct request *req);
void scim_v1_routes_users_get(struct request *req);
void scim_v1_routes_users_replace(struct request *req);
void scim_v1_routes_users_patch(struct request *req);
void scim_v1_routes_users_delete(struct request *req);

void scim_v1_routes_groups_list(struct request *req);
void scim_v1_routes_groups_create(struct request *req);
void scim_v1_routes_groups_get(struct request *req);
void scim_v1_routes_groups_replace(struct request *req);
void scim_v1_routes_groups_patch(struct request *req);
void scim_v1_routes_groups_delete(struct request *req);

#endif
