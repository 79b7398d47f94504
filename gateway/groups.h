/*
 * groups.h - SCIM 2.0 /Groups handlers, with memberships as rows changed by
 * set-based SQL and member lists streamed in pages. Routes are in router.c.
 */
#ifndef SCIMGATE_GROUPS_H
#define SCIMGATE_GROUPS_H

#include "request.h"
#include "scim_filter.h"

/* How group attributes map to columns, rows and the document, for filters. */
extern const struct scim_sql_map groups_sql_map;

void groups_create(struct request *req);
void groups_get(struct request *req);
void groups_list(struct request *req);
void groups_search(struct request *req);
void groups_replace(struct request *req);
void groups_patch(struct request *req);
void groups_delete(struct request *req);

#endif
