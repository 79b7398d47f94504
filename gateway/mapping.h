/*
 * mapping.h - the product-side user (API.md) computed from a stored SCIM
 * user: the default mapping covers what Okta and Entra send; an organization
 * may choose its unique identifier and override fields with expressions
 * (mapping_expr.h). Pure: JSON in, JSON out.
 */
#ifndef SCIMGATE_MAPPING_H
#define SCIMGATE_MAPPING_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "scim_error.h"

struct mapping;

/* The stored state of one user, as the mapping reads it. */
struct mapping_user {
    const char *org_id;
    const char *id;          /* usr_... */
    const json_t *doc;       /* stored SCIM document (borrowed) */
    const json_t *groups;    /* the rendered "groups" array, or NULL */
    bool active;
    int64_t created_ms;
    int64_t updated_ms;
    int64_t deleted_ms;      /* 0 = not deleted */
};

/* The default mapping (shared, never freed). */
const struct mapping *mapping_default(void);
/* Parses an organization's mapping document {"user_id_attribute": ...,
 * "mapping": {...}}; NULL with err (400, detail giving the field and the
 * character position) when it is invalid. */
struct mapping *mapping_parse(const json_t *doc, struct scim_error *err);
void mapping_free(struct mapping *m);
/* The mapping as its JSON document (new reference). */
json_t *mapping_to_json(const struct mapping *m);

/* The product-side user object (new reference). */
json_t *mapping_product_user(const struct mapping *m, const struct mapping_user *u);
/* Names of the top-level fields whose values differ between two product-side
 * users, as a JSON array (new reference); also fills previous (new reference)
 * with those fields' old values. Timestamps are not compared. */
json_t *mapping_changed_fields(const json_t *before, const json_t *after, json_t **previous);

#endif
