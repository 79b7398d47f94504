/*
 * ids.h - identifiers: a prefix ("usr_", "org_", ...) followed by a ULID, 26
 * Crockford base32 characters whose first ten encode the creation time in
 * milliseconds, so ids sort in creation order and index pages stay local.
 */
#ifndef SCIMGATE_IDS_H
#define SCIMGATE_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDS_ULID_LEN 26
/* Room for the longest prefix ("scimt_") and a ULID and the NUL. */
#define IDS_MAX 40

/* Writes prefix + ULID(now) into out (IDS_MAX bytes) and returns out. */
char *ids_new(const char *prefix, char *out);
/* Same with an explicit timestamp; used by tests. */
char *ids_new_at(const char *prefix, int64_t ms, char *out);
/* True when s is prefix followed by exactly one well-formed ULID. */
bool ids_valid(const char *prefix, const char *s);

#endif
