/*
 * mapping.h - the product-side user (API.md) computed from a stored SCIM
 * user: the default mapping covers what Okta and Entra send; an organization
 * may choose its unique identifier and override fields with expressions
 * (mapping_expr.h). Pure: JSON in, JSON out.
 *
 * The default mapping:
 *   email_address      the value of the email with "primary": true, else of
 *                      the first email of type "work", else of the first
 *                      email, else userName when it looks like an address
 *                      (one "@", a dot in the domain, no white space, not an
 *                      Entra guest UPN "...#EXT#@...")
 *   first_name         name.givenName
 *   last_name          name.familyName
 *   external_id        externalId
 *   organization_role  "org:member"
 *   public_metadata    {}
 * Empty strings count as absent and give null.
 *
 * An organization's mapping document (GET / PUT .../scim/attribute-mappings):
 *   {"user_id_attribute": "userName" | "externalId" | "email",
 *    "mapping": {"<target>": "<expression>", ...}}
 * Both members are optional (defaults "userName" and {}); other members are
 * refused. A target is email_address, first_name, last_name, external_id,
 * organization_role or public_metadata.<key>, the key being 1 to 64 ASCII
 * letters, digits, "_" or "-" (no ".": public_metadata is one flat object).
 * An expression replaces the default of its field; a public_metadata key whose
 * expression gives null is left out. Product fields take one text value: the
 * first of a list, numbers and booleans as their JSON text.
 *
 * user_id_attribute names the value the product should use to recognise an
 * existing account of the organization (when the IdP first provisions people
 * who already signed up, or when the product matches SCIM users to SSO
 * logins). It does not change any other field; the product user carries it as
 *   "identifier": {"attribute": "userName", "value": "<userName>"}
 * with value the SCIM userName, the SCIM externalId, or (for "email") the
 * product user's email_address after overrides; null when that is absent.
 */
#ifndef SCIMGATE_MAPPING_H
#define SCIMGATE_MAPPING_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "scim_error.h"

/* Documents with more targets than this are refused. */
#define MAPPING_MAX_TARGETS 64
/* Longest public_metadata key, in bytes. */
#define MAPPING_MAX_KEY 64

struct mapping;

/* The stored state of one user, as the mapping reads it. */
struct mapping_user {
    const char *org_id;
    const char *id;       /* usr_... */
    const json_t *doc;    /* stored SCIM document (borrowed) */
    const json_t *groups; /* the rendered "groups" array, or NULL */
    bool active;
    int64_t created_ms;
    int64_t updated_ms;
    int64_t deleted_ms; /* 0 = not deleted */
};

/* The default mapping (shared, never freed; mapping_free ignores it). */
const struct mapping *mapping_default(void);
/* Parses and compiles an organization's mapping document (borrowed). Returns
 * a new mapping (free with mapping_free), or NULL with err set to 400
 * invalidValue whose detail names the member or target and, for an
 * expression, the 1-based character position of the problem: "Invalid
 * expression for first_name at position 12: unknown filter ...". */
struct mapping *mapping_parse(const json_t *doc, struct scim_error *err) MUSTCHECK;
/* Frees m; NULL and the default mapping are allowed. */
void mapping_free(struct mapping *m);
/* The mapping as its normalised document (new reference): both members
 * present, targets in a fixed order (product fields, then public_metadata keys
 * sorted), expressions in normalised form (mapping_expr_print). Parsing it
 * again gives the same mapping. */
json_t *mapping_to_json(const struct mapping *m);
/* "userName", "externalId" or "email" (static string), as stored in the
 * attribute_mappings.user_id_attribute column. */
const char *mapping_user_id_attribute(const struct mapping *m);
/* True when some expression reads the groups array: the caller must then pass
 * the user's groups, or group-derived fields would read as absent. */
bool mapping_uses_groups(const struct mapping *m);

/* The product-side user object (new reference): the API.md fields plus
 * "identifier" (above). m NULL means the default mapping. Never fails,
 * whatever the document holds. */
json_t *mapping_product_user(const struct mapping *m, const struct mapping_user *u);
/* Names of the top-level fields whose values differ between two product-side
 * users, as a JSON array (new reference); also fills previous (new reference)
 * with those fields' old values. Timestamps are not compared. */
json_t *mapping_changed_fields(const json_t *before, const json_t *after,
                               json_t **previous);

#endif
