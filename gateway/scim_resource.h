/*
 * scim_resource.h - what the Users and Groups handlers share: list and
 * search parameters (filter, startIndex, count, sortBy, sortOrder,
 * attributes, excludedAttributes), the paged SQL with totalResults, the
 * ListResponse, meta and ETags with If-Match / If-None-Match.
 */
#ifndef SCIMGATE_SCIM_RESOURCE_H
#define SCIMGATE_SCIM_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "pg_query.h"
#include "request.h"
#include "scim_filter.h"
#include "scim_schema.h"

/* SQLSTATEs raised through scimgate_assert() (migrations/0001). */
#define SQLSTATE_VERSION_CHANGED "SGV01"
#define SQLSTATE_NOT_FOUND "SGN01"

struct scim_list_params {
    struct scim_filter *filter;       /* NULL: every resource */
    long long start_index;            /* 1-based */
    long long count;                  /* page size, 0..max */
    char *sort_by;                    /* NULL: stable default order */
    bool descending;
    struct scim_projection *proj;     /* attributes / excludedAttributes */
};

/* From the query string of GET /Users and GET /Groups. On failure replies
 * (400) and returns false. */
bool scim_list_params_from_query(struct request *req, const struct scim_resource_type *rt,
                                 struct scim_list_params *out);
/* From the body of POST /.search (SearchRequest). */
bool scim_list_params_from_search(struct request *req, const struct scim_resource_type *rt,
                                  struct scim_list_params *out);
void scim_list_params_clear(struct scim_list_params *p);

/* Appends two statements to q: the total count and the page. from_where is
 * "FROM users u WHERE u.org_id = $1" ($1 is bound to org_id here); columns is
 * the SELECT list of the page; tiebreak is the unique column ("u.id"). On a
 * bad filter or sortBy replies 400 and returns false. */
bool scim_list_append(struct request *req, struct pg_query *q,
                      const struct scim_list_params *p, const struct scim_sql_map *map,
                      const char *from_where, const char *columns, const char *tiebreak);

/* The projection of a single-resource request (attributes= and
 * excludedAttributes= in the query). On failure replies 400 and returns
 * false. *out may be NULL (no projection). */
bool scim_projection_from_query(struct request *req, const struct scim_resource_type *rt,
                                struct scim_projection **out);

/* Statement for deleting a user or group: removes its memberships in other
 * groups ($1 org, $2 member id), bumps those groups' versions, and aborts
 * with SGV01 unless they are exactly $3 (a text[] of group ids, as read
 * before: the events describe them). Run it after the row's own DELETE, whose
 * lock keeps new memberships out. */
extern const char *const scim_sql_delete_memberships;
/* The ids of a JSON array of objects (field key) as a text[] literal (new). */
char *scim_id_array_literal(const json_t *arr, const char *key);

/* W/"<version>" into buf (at least 32 bytes). */
const char *scim_etag(long long version, char *buf, size_t len);
/* If-Match: true when absent, "*", or one of its entity tags names version
 * (weak comparison). */
bool scim_if_match(const struct request *req, long long version);
/* If-None-Match on GET: true when it names version (answer 304). */
bool scim_if_none_match(const struct request *req, long long version);

/* The "meta" object. base is the SCIM base URL, endpoint "Users"/"Groups". */
json_t *scim_meta(const char *resource_type, const char *base, const char *endpoint,
                  const char *id, int64_t created_ms, int64_t updated_ms, long long version);

#endif
