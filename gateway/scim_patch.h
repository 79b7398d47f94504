/*
 * scim_patch.h - the PATCH engine (RFC 7644 section 3.5.2): applies a PatchOp
 * body to a stored document, all operations or none, in the forms Okta and
 * Microsoft Entra ID send. Group memberships are not part of the document;
 * operations on "members" come back as set operations for the caller to run as
 * SQL against the membership rows.
 *
 * Pure: JSON in, JSON out, no I/O.
 */
#ifndef SCIMGATE_SCIM_PATCH_H
#define SCIMGATE_SCIM_PATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "scim_error.h"
#include "scim_filter.h"
#include "scim_schema.h"

/* Bodies with more operations than this are refused (400 tooMany). */
#define SCIM_PATCH_MAX_OPERATIONS 10000
/* A PATCH may not grow a multi-valued attribute of the document (emails,
 * roles, ...) beyond this many values, nor list more in one operation
 * (400 invalidValue); group members are not counted, they are not in the
 * document. Bounds the work of filtered operations on hostile bodies. */
#define SCIM_PATCH_MAX_VALUES 1000

enum scim_member_op_kind {
    SCIM_MEMBERS_ADD,        /* add the members in values */
    SCIM_MEMBERS_REMOVE,     /* remove the members in values, or those matching filter */
    SCIM_MEMBERS_REMOVE_ALL, /* remove every member */
    SCIM_MEMBERS_REPLACE,    /* make values the whole member set */
};

struct scim_member_op {
    enum scim_member_op_kind kind;
    json_t *values;             /* array of {"value": id, "type"?: ..., "display"?: ...};
                                 * NULL for REMOVE_ALL and filter removals */
    struct scim_filter *filter; /* REMOVE by members[filter] (filter paths are
                                 * member sub-attributes), else NULL */
};

struct scim_patch_result {
    json_t *doc;                        /* the patched document (new reference) */
    bool changed;                       /* doc differs from the input document */
    struct scim_member_op *member_ops;  /* in request order; owned */
    size_t n_member_ops;
    char *password;                     /* a password set by the PATCH (owned), or NULL */
};

/* Applies body ({"schemas":[PatchOp],"Operations":[...]}) to doc, a stored
 * document of resource type rt. On success fills out (the caller clears it).
 * On failure returns false with err set and out left empty: 400 invalidSyntax
 * (malformed body or op), invalidPath (bad path), noTarget (remove/replace of
 * a filtered path matching nothing where the RFC requires it), invalidValue
 * (wrong type), mutability (readOnly/immutable attribute). */
bool scim_patch_apply(const struct scim_resource_type *rt, const json_t *doc,
                      const json_t *body, struct scim_patch_result *out,
                      struct scim_error *err);
void scim_patch_result_clear(struct scim_patch_result *r);

/*
 * Semantics where RFC 7644 leaves room or the clients depart from it (the
 * fixtures under tests/fixtures/patch show each):
 *
 * - Errors name the operation ("Operations[2] (path \"userName\"): ..."),
 *   never a value. Unknown attributes are 400 invalidPath in a path and
 *   400 invalidSyntax in a path-less value; values of the wrong type are
 *   400 invalidValue; removing a required attribute (or setting it to null)
 *   and naming a readOnly attribute in a path are 400 mutability; a remove
 *   without path is 400 noTarget; an empty Operations array is 400
 *   invalidSyntax.
 * - A filtered path that matches nothing creates the element from the
 *   filter's equality tests plus the value, for add and replace
 *   ("emails[type eq \"work\"].value"); 400 noTarget only when the filter
 *   names no element (co, or, not, ...). A remove matching nothing, or of an
 *   absent attribute, succeeds without change.
 * - Path-less values: "schemas", "meta" and readOnly attributes ("id") are
 *   ignored; keys may be paths ("name.givenName", URN-qualified, filtered);
 *   objects under unknown extension URNs are merged verbatim.
 * - Values are checked and normalised by scim_schema_coerce, as POST and PUT
 *   bodies are validated. The document's "schemas" is rewritten
 *   (scim_schema_set_schemas) when the PATCH adds or removes an extension
 *   object, and left alone otherwise.
 * - "password" goes to out->password (never into doc); removing it is 400
 *   mutability.
 * - "members" of a Group: add and replace need objects with a string
 *   "value" (type, display and $ref kept, other members dropped); remove
 *   takes no value (REMOVE_ALL), a list of values (REMOVE) or a filter
 *   (REMOVE with filter, owned by the result); filters with add or replace
 *   and sub-attribute paths are 400 invalidPath.
 */

#endif
