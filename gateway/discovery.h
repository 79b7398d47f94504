/*
 * discovery.h - SCIM 2.0 service discovery (RFC 7644 section 4):
 * /ServiceProviderConfig, /ResourceTypes[/{id}], /Schemas[/{urn}], and /Me
 * (not supported: 501). They require a valid token, so an identity
 * provider's "test connection" tells a wrong token from a right one.
 */
#ifndef SCIMGATE_DISCOVERY_H
#define SCIMGATE_DISCOVERY_H

#include "request.h"

void discovery_spc(struct request *req);
void discovery_resource_types(struct request *req);
void discovery_resource_type(struct request *req);
void discovery_schemas(struct request *req);
void discovery_schema(struct request *req);
void discovery_me(struct request *req);

#endif
