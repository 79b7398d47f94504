/*
 * hmap.h - a small string-keyed hash map (open addressing, linear probing,
 * tombstone-free deletion by backward shift). Keys are copied; values are
 * borrowed pointers the caller owns.
 */
#ifndef SCIMGATE_HMAP_H
#define SCIMGATE_HMAP_H

#include <stdbool.h>
#include <stddef.h>

struct hmap;

struct hmap *hmap_create(void);
/* Frees the map and its keys (not the values). NULL is fine. */
void hmap_free(struct hmap *m);
/* The value of key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key);
/* Sets key to value (replacing); returns the previous value or NULL. */
void *hmap_put(struct hmap *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key);
size_t hmap_count(const struct hmap *m);
/* Calls fn for every entry; fn may not modify the map. */
void hmap_each(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg),
               void *arg);

#endif
