/*
 * scim_v1.h - SCIM 1.1 (draft-scim-core-schema-01, draft-scim-api-01) as Okta's
 * "SCIM 1.1" connector speaks it, translated to and from the SCIM 2.0 forms
 * the handlers, the validator and the PATCH engine work with, so that /scim/v1
 * and /scim/v2 serve the same stored data.
 *
 * Pure: JSON and text in, JSON and text out, no I/O.
 *
 * What maps to what:
 *
 *   SCIM 1.1                                     SCIM 2.0
 *   "urn:scim:schemas:core:1.0" (User, Group)    core User / core Group URN
 *   "urn:scim:schemas:extension:enterprise:1.0"  enterprise User extension URN
 *   enterprise "manager": {"managerId": id}      "manager": {"value": id}
 *   "urn:scim:schemas:core:1.0:x", ".x"          x (a core attribute)
 *   ListResponse with schemas [core 1.0]         ListResponse with the 2.0 URN
 *   meta: created, lastModified, location,       meta with resourceType; the
 *         version (location under /scim/v1)      location under /scim/v2
 *   members / groups elements without "$ref"     elements with "$ref"
 *   PATCH: a partial resource where              PatchOp: "remove" of each
 *     meta.attributes lists what to clear,         listed path, "remove" with
 *     elements with "operation": "delete" go,      the deleted elements as
 *     everything else is merged in                 value, then one path-less
 *                                                  "add" of the rest
 *
 * Everything else (attribute names, filter operators, paging parameters)
 * is the same in both versions. Unknown extension URNs pass through as they
 * are, in both directions.
 */
#ifndef SCIMGATE_SCIM_V1_H
#define SCIMGATE_SCIM_V1_H

#include <stdbool.h>

#include <jansson.h>

#include "scim_error.h"
#include "scim_schema.h"

#define SCIM_V1_SCHEMA_CORE       "urn:scim:schemas:core:1.0"
#define SCIM_V1_SCHEMA_ENTERPRISE "urn:scim:schemas:extension:enterprise:1.0"
/* Okta's 1.1 test suite looks for this URN in the /Schemas list. */
#define SCIM_V1_SCHEMA_LIST "urn:scim:schemas:core:1.0:ListResponse"

/* The two public base URLs, for rewriting meta.location and Location. */
struct scim_v1_urls {
    const char *v2_base; /* e.g. "https://h/scim/v2", no trailing slash */
    const char *v1_base; /* e.g. "https://h/scim/v1" */
};

/* Requests (1.1 -> 2.0) ------------------------------------------------- */

/* A POST or PUT body of rt (scim_rt_user or scim_rt_group) in 2.0 form, for
 * scim_schema_validate (new reference), or NULL with err set (400
 * invalidSyntax) when body is not an object, "schemas" is missing or does not
 * list urn:scim:schemas:core:1.0 (or rt's 2.0 core URN), or two keys name the
 * same attribute once qualified names are resolved. body is borrowed. "meta"
 * is dropped; elements of multi-valued attributes lose their "operation"
 * sub-attribute, and those marked "delete" are left out. */
json_t *scim_v1_resource_to_v2(const struct scim_resource_type *rt, const json_t *body,
                               struct scim_error *err);

/* A 1.1 PATCH body (a partial resource) of rt as a PatchOp body for
 * scim_patch_apply (new reference), or NULL with err set (400 invalidSyntax:
 * not an object, "schemas" not listing the core URN, meta.attributes not an
 * array of strings, duplicate attributes). Operations, in order: a "remove"
 * per meta.attributes entry; a "remove" with the deleted elements as value
 * per multi-valued attribute with elements marked "operation": "delete"; one
 * path-less "add" of every other attribute, so singular attributes are
 * replaced, complex ones merged and multi-valued ones extended, as 1.1
 * wants. "schemas", "id", "meta" and, for users, the read-only "groups" take
 * no part. A body that changes nothing gives a path-less "add" of {}. A body
 * that already is a 2.0 PatchOp (its schemas list the PatchOp URN) is returned
 * as it is. */
json_t *scim_v1_patch_to_v2(const struct scim_resource_type *rt, const json_t *body,
                            struct scim_error *err);

/* One attribute path, 1.1 -> 2.0 (new string): core-qualified names lose
 * the URN, enterprise-qualified ones get the 2.0 URN, manager.managerId
 * becomes manager.value. Anything else is returned unchanged. rt may be NULL
 * (treated as User). */
char *scim_v1_path_to_v2(const struct scim_resource_type *rt, const char *path);

/* A comma-separated list of paths (attributes=, excludedAttributes=,
 * sortBy), each through scim_v1_path_to_v2 (new string). */
char *scim_v1_paths_to_v2(const struct scim_resource_type *rt, const char *list);

/* A 1.1 filter as 2.0 filter text (new string), or NULL with err set (400
 * invalidFilter) for an empty filter, an unterminated string, unbalanced
 * parentheses or one longer than SCIM_FILTER_MAX_LEN. Quoted values are kept
 * byte for byte; every other word goes through scim_v1_path_to_v2 (operators
 * and literals come out unchanged). The result still has to be parsed: a
 * filter that is not an expression, such as a bare user name, is refused by
 * scim_filter_parse with 400 invalidFilter. */
char *scim_v1_filter_to_v2(const struct scim_resource_type *rt, const char *text,
                           struct scim_error *err);

/* Responses (2.0 -> 1.1) ------------------------------------------------ */

/* A reply document in 1.1 form (new reference; doc is borrowed): a
 * ListResponse becomes the 1.1 list (schemas [urn:scim:schemas:core:1.0],
 * totalResults, itemsPerPage, startIndex, Resources, each resource
 * converted); any other object is converted as a resource, keeping its shape:
 * URNs in "schemas" and extension keys mapped, "meta" in 1.1 form, "$ref"
 * dropped from "members", "groups" and manager. Keys it does not know are
 * copied, so a part of a resource (a {"members": [...]} fragment) converts
 * too, and converting twice changes nothing more. urls may be NULL (locations
 * stay as they are). A non-object is copied. */
json_t *scim_v1_response_from_v2(const json_t *doc, const struct scim_v1_urls *urls);

/* url under urls->v2_base rewritten under urls->v1_base (new string), or NULL
 * when url is not under v2_base. */
char *scim_v1_url_from_v2(const char *url, const struct scim_v1_urls *urls);

/* Discovery documents in 1.1 form (new references); base is the 1.1 base
 * URL, used in meta.location. ----------------------------------------- */

/* /ServiceProviderConfigs: schemas [core 1.0], patch, bulk (not supported
 * at /scim/v1; its limits are still given as integers), filter with
 * maxResults, changePassword, sort, etag, xmlDataFormat and
 * authenticationSchemes with type, name and description. */
json_t *scim_v1_spc(const struct scim_spc_limits *limits, const char *base);
/* The 1.1 schema document of rt: id "urn:scim:schemas:core:1.0:User" (or
 * Group), name, description, schema, endpoint and attributes with the 1.1
 * descriptors (name, type, multiValued, description, schema, readOnly,
 * required, caseExact, subAttributes); the User's include the enterprise
 * extension's, with that schema. */
json_t *scim_v1_schema(const struct scim_resource_type *rt, const char *base);
/* The list of both (schemas [core 1.0, core 1.0 ListResponse]). */
json_t *scim_v1_schemas_list(const char *base);
/* A resource type as Okta's 1.1 suite reads it: id, name, endpoint, schema
 * (the 1.1 core URN), schemaExtensions, meta.location. */
json_t *scim_v1_resource_type(const struct scim_resource_type *rt, const char *base);
/* The list of both (schemas [core 1.0]). */
json_t *scim_v1_resource_types_list(const char *base);
/* The resource type a /Schemas/{name} or /ResourceTypes/{name} segment
 * names ("User", "Users", "urn:scim:schemas:core:1.0:User", any case), or
 * NULL. */
const struct scim_resource_type *scim_v1_resource_type_find(const char *name);

#endif
