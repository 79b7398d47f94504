/*
 * bulk.h - POST /scim/v2/Bulk: many operations in one request, with bulkId
 * references between them (RFC 7644 section 3.7).
 */
#ifndef SCIMGATE_BULK_H
#define SCIMGATE_BULK_H

#include <stddef.h>

#include "request.h"

void bulk_handle(struct request *req);
/* maxOperations for req's token: the configured limit, never above what the
 * token's rate-limit bucket can take in one go. */
size_t bulk_max_operations(const struct request *req);

#endif
