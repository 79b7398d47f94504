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

#endif
