/*
 * admin.h - the admin API handlers (/v1): organizations, the SCIM endpoint
 * URL, and SCIM tokens. Routes are in router.c.
 */
#ifndef SCIMGATE_ADMIN_H
#define SCIMGATE_ADMIN_H

#include "request.h"

void admin_org_create(struct request *req);
void admin_org_list(struct request *req);
void admin_org_get(struct request *req);
void admin_org_delete(struct request *req);
void admin_org_endpoint(struct request *req);
void admin_token_create(struct request *req);
void admin_token_list(struct request *req);
void admin_token_revoke(struct request *req);
void admin_mapping_get(struct request *req);
void admin_mapping_put(struct request *req);

#endif
