/*
 * mapping_cache.h - organizations' compiled attribute mappings, cached per
 * process and dropped on NOTIFY scimgate_mapping (payload: the organization
 * id) when a PUT replaces one.
 */
#ifndef SCIMGATE_MAPPING_CACHE_H
#define SCIMGATE_MAPPING_CACHE_H

#include <stdbool.h>

#include "gateway.h"
#include "mapping.h"

#define MAPPING_CHANNEL "scimgate_mapping"

struct mapping_cache;
/* A counted reference to one compiled mapping. */
struct mapping_handle;

/* cb gets a borrowed handle (hold it to keep it past the call) or, when the
 * database could not be asked, NULL with ok false. It may run before
 * mapping_cache_get returns (a cached mapping). */
typedef void (*mapping_cache_cb)(struct mapping_handle *h, bool ok, void *arg);

struct mapping_cache *mapping_cache_create(struct gateway *gw);
void mapping_cache_free(struct mapping_cache *c);
void mapping_cache_get(struct mapping_cache *c, const char *org_id, mapping_cache_cb cb,
                       void *arg);
void mapping_cache_invalidate(struct mapping_cache *c, const char *org_id);
void mapping_cache_set_listening(struct mapping_cache *c, bool up);

struct mapping_handle *mapping_handle_hold(struct mapping_handle *h);
void mapping_handle_release(struct mapping_handle *h);
/* The mapping (the default when the organization has none). */
const struct mapping *mapping_handle_get(const struct mapping_handle *h);

#endif
