/*
 * users.h - SCIM 2.0 /Users handlers (RFC 7644 section 3). Routes are in
 * router.c; the organization comes from the request's token.
 */
#ifndef SCIMGATE_USERS_H
#define SCIMGATE_USERS_H

#include "request.h"
#include "scim_filter.h"

/* How user attributes map to columns and the document, for filters. */
extern const struct scim_sql_map users_sql_map;

void users_create(struct request *req);
void users_get(struct request *req);
void users_list(struct request *req);
void users_search(struct request *req);
void users_replace(struct request *req);
void users_patch(struct request *req);
void users_delete(struct request *req);
/* GET /v1/organizations/{org}/users: product-side users (admin API). */
void users_admin_list(struct request *req);

#endif
