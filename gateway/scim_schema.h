/*
 * scim_schema.h - the SCIM 2.0 schemas scimgate serves (core User, enterprise
 * User extension, Group; RFC 7643 section 4 and 8.7.1) as static attribute
 * tables, their discovery documents (/Schemas, /ResourceTypes,
 * /ServiceProviderConfig), validation and normalisation of request bodies, and
 * the attributes / excludedAttributes projection of responses.
 *
 * Pure: JSON in, JSON out, no I/O.
 *
 * Stored document convention (the "doc" jsonb column, shared with the filter
 * compiler and the PATCH engine): the resource as a SCIM 2.0 JSON object whose
 * attribute names are the canonical ones of the tables below (so "USERNAME"
 * on input is stored as "userName"), extension attributes under their schema
 * URN key ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
 * {...}), unknown extension objects kept verbatim, and without the server-side
 * attributes "id", "meta", "password" and, for groups, "members" (those live in
 * columns and rows of their own and are merged in when rendering).
 */
#ifndef SCIMGATE_SCIM_SCHEMA_H
#define SCIMGATE_SCIM_SCHEMA_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "scim_error.h"

#define SCIM_SCHEMA_USER "urn:ietf:params:scim:schemas:core:2.0:User"
#define SCIM_SCHEMA_GROUP "urn:ietf:params:scim:schemas:core:2.0:Group"
#define SCIM_SCHEMA_ENTERPRISE "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#define SCIM_SCHEMA_LIST "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#define SCIM_SCHEMA_PATCHOP "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#define SCIM_SCHEMA_SEARCH "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
#define SCIM_SCHEMA_BULK_REQUEST "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
#define SCIM_SCHEMA_BULK_RESPONSE "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
#define SCIM_SCHEMA_ERROR "urn:ietf:params:scim:api:messages:2.0:Error"
#define SCIM_SCHEMA_SPC "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
#define SCIM_SCHEMA_RESOURCE_TYPE "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
#define SCIM_SCHEMA_SCHEMA "urn:ietf:params:scim:schemas:core:2.0:Schema"

enum scim_attr_type {
    SCIM_TYPE_STRING,    /* "string" */
    SCIM_TYPE_BOOLEAN,   /* "boolean" */
    SCIM_TYPE_DECIMAL,   /* "decimal" */
    SCIM_TYPE_INTEGER,   /* "integer" */
    SCIM_TYPE_DATETIME,  /* "dateTime" (xsd:dateTime) */
    SCIM_TYPE_BINARY,    /* "binary" (base64) */
    SCIM_TYPE_REFERENCE, /* "reference" */
    SCIM_TYPE_COMPLEX,   /* "complex": has sub-attributes */
};

enum scim_mutability {
    SCIM_MUT_READ_WRITE, /* "readWrite" */
    SCIM_MUT_READ_ONLY,  /* "readOnly": ignored on input */
    SCIM_MUT_IMMUTABLE,  /* "immutable": set once, then changes are refused */
    SCIM_MUT_WRITE_ONLY, /* "writeOnly": accepted, never returned */
};

enum scim_returned {
    SCIM_RET_DEFAULT, /* "default" */
    SCIM_RET_ALWAYS,  /* "always" */
    SCIM_RET_NEVER,   /* "never" */
    SCIM_RET_REQUEST, /* "request": only when named in attributes= */
};

enum scim_uniqueness {
    SCIM_UNIQ_NONE,   /* "none" */
    SCIM_UNIQ_SERVER, /* "server" */
    SCIM_UNIQ_GLOBAL, /* "global" */
};

/* One attribute definition. Arrays of these end with an entry whose name is NULL. */
struct scim_attr {
    const char *name;                     /* canonical name, e.g. "userName" */
    enum scim_attr_type type;
    bool multi_valued;
    bool required;
    bool case_exact;
    enum scim_mutability mutability;
    enum scim_returned returned;
    enum scim_uniqueness uniqueness;
    const char *description;
    const char *const *canonical_values;  /* NULL-terminated, or NULL */
    const char *const *reference_types;   /* NULL-terminated, or NULL */
    const struct scim_attr *sub_attrs;    /* for SCIM_TYPE_COMPLEX, else NULL */
};

struct scim_schema {
    const char *id;                /* the schema URN */
    const char *name;              /* "User" */
    const char *description;
    const struct scim_attr *attrs; /* terminated by a NULL name */
};

struct scim_resource_type {
    const char *id;                               /* "User" */
    const char *name;                             /* "User" */
    const char *endpoint;                         /* "/Users" */
    const char *description;
    const struct scim_schema *schema;             /* the core schema */
    const struct scim_schema *const *extensions;  /* NULL-terminated */
};

extern const struct scim_schema scim_schema_user;
extern const struct scim_schema scim_schema_enterprise_user;
extern const struct scim_schema scim_schema_group;
extern const struct scim_resource_type scim_rt_user;
extern const struct scim_resource_type scim_rt_group;

/* Lookups; names compare case-insensitively (RFC 7643 section 2.1). */
const struct scim_schema *scim_schema_find(const char *urn);
const struct scim_attr *scim_schema_attr(const struct scim_schema *schema,
                                         const char *name);
const struct scim_attr *scim_attr_sub(const struct scim_attr *attr, const char *name);
/* The schema of rt (core or one of its extensions) with this URN, or NULL. */
const struct scim_schema *scim_rt_schema(const struct scim_resource_type *rt,
                                         const char *urn);

/* Limits and switches the ServiceProviderConfig advertises; the handlers
 * enforce the same numbers. */
struct scim_spc_limits {
    int bulk_max_operations;  /* e.g. 1000 */
    int bulk_max_payload;     /* bytes, e.g. 1048576 */
    int filter_max_results;   /* e.g. 1000 */
    const char *docs_url;     /* documentationUri, or NULL */
};

/* Discovery documents (new references). base_url is the public SCIM base
 * ("https://host/scim/v2") used in meta.location. */
json_t *scim_schema_to_json(const struct scim_schema *schema, const char *base_url);
json_t *scim_schemas_list_json(const char *base_url);         /* ListResponse */
json_t *scim_rt_to_json(const struct scim_resource_type *rt, const char *base_url);
json_t *scim_rts_list_json(const char *base_url);             /* ListResponse */
json_t *scim_spc_to_json(const struct scim_spc_limits *limits, const char *base_url);

/* A ListResponse (RFC 7644 section 3.4.2) around resources, a JSON array it
 * steals: {"schemas":[ListResponse],"totalResults":n,"itemsPerPage":<array
 * size>,"startIndex":s,"Resources":[...]}, all numbers JSON integers. New
 * reference. */
json_t *scim_list_response_new(json_t *resources, int64_t total_results,
                               int64_t start_index);

/* Input validation ------------------------------------------------------- */

enum scim_validate_mode {
    SCIM_VALIDATE_CREATE,  /* POST: required attributes must be present */
    SCIM_VALIDATE_REPLACE, /* PUT: like create; immutable values must not change */
};

/* Validates a request body for rt and returns the normalised document (new
 * reference) in the stored-document convention above, or NULL with err set
 * (400 invalidSyntax / invalidValue / mutability, with a detail naming the
 * attribute).
 *
 * - "schemas" must list the core schema; extension schemas may be listed;
 *   attributes under an extension URN key are accepted when the URN is one of
 *   rt's extensions (validated) or any other URN (kept verbatim, not dropped).
 * - attribute names are matched case-insensitively and written canonically;
 *   unknown core attributes are refused (400 invalidSyntax) unless lenient.
 * - type checks per attribute, with the coercions real clients need: the
 *   strings "True"/"False" (any case) for booleans (Microsoft Entra ID), a
 *   bare string for a complex attribute that has a "value" sub-attribute
 *   (Entra sends manager as a string id), numbers in strings for integers are
 *   refused.
 * - readOnly attributes (id, meta, groups, ...) are dropped silently; the
 *   "password" attribute is removed from the document and handed back through
 *   password_out (new string, or NULL) so the caller can hash it.
 * - multi-valued attributes must be arrays; at most one element with
 *   "primary": true; null values and empty objects are removed.
 * - REPLACE with existing != NULL: an immutable attribute whose value differs
 *   from existing's is refused (400 mutability).
 * - strings must be valid UTF-8 (jansson guarantees it) and at most 64 KiB;
 *   nesting deeper than the schema allows is refused. */
json_t *scim_schema_validate(const struct scim_resource_type *rt, const json_t *body,
                             enum scim_validate_mode mode, const json_t *existing,
                             char **password_out, struct scim_error *err);

/* Longest string value, in bytes, that validation accepts. */
#define SCIM_SCHEMA_MAX_STRING 65536
/* Deepest nesting accepted inside an unknown extension object kept verbatim
 * (the extension object itself is depth 1). */
#define SCIM_SCHEMA_MAX_EXT_DEPTH 32

/* Options of scim_schema_validate_ex; a zeroed struct gives scim_schema_validate. */
struct scim_validate_opts {
    bool lenient;         /* drop unknown attributes and sub-attributes instead
                           * of refusing them */
    json_t **members_out; /* Group only: receives the normalised "members"
                           * (new reference to an array, possibly empty) when
                           * the body has that attribute, else NULL. Each
                           * element has a non-empty string "value"; "type",
                           * when given, is "User" or "Group" (any case on
                           * input). NULL after a failure. */
};

/* scim_schema_validate with options. opts may be NULL. */
json_t *scim_schema_validate_ex(const struct scim_resource_type *rt, const json_t *body,
                                enum scim_validate_mode mode, const json_t *existing,
                                const struct scim_validate_opts *opts,
                                char **password_out, struct scim_error *err);

/* Rewrites doc's "schemas" (a stored document of rt, modified in place) from
 * the attributes it holds: the core URN first, then every top-level key that
 * starts with "urn:" and holds an object (rt's extensions under their
 * canonical URN, unknown extensions as written). For the PATCH engine after it
 * adds or removes extension attributes. */
void scim_schema_set_schemas(const struct scim_resource_type *rt, json_t *doc);

/* Coerces one value to an attribute's type in place where a real client sends
 * a near-miss (the "True"/"False" strings; a bare string for a complex
 * attribute with a "value" sub-attribute). Returns the value to use (new
 * reference) or NULL with err set. Used by the PATCH engine.
 *
 * Beyond the near-misses it normalises like scim_schema_validate: type checks
 * and length limit, canonical sub-attribute names, readOnly sub-attributes
 * dropped, null elements and empty objects removed, at most one "primary".
 * A multi-valued attr takes an array (the array is normalised) or a single
 * element (that element is normalised and returned, for paths that target one
 * element). A value that normalises to nothing (null, {}, [] or only readOnly
 * sub-attributes) gives json null. Mutability of attr itself is not checked:
 * that is the caller's decision. */
json_t *scim_schema_coerce(const struct scim_attr *attr, const json_t *value,
                           const char *path_for_errors, struct scim_error *err);

/* Output projection ------------------------------------------------------ */

/* Parsed "attributes" / "excludedAttributes" query parameters. */
struct scim_projection;

/* Parses the comma-separated lists (either may be NULL or empty). Unknown
 * attribute names are accepted and ignored, as RFC 7644 section 3.4.2.5
 * suggests. Returns NULL with err set only for syntactically broken paths
 * (400 invalidPath). */
struct scim_projection *scim_projection_parse(const struct scim_resource_type *rt,
                                              const char *attributes,
                                              const char *excluded,
                                              struct scim_error *err);
void scim_projection_free(struct scim_projection *p);
/* True when the projection will include attribute path (e.g. "members",
 * "name.givenName"); lets handlers skip loading what will not be returned. */
bool scim_projection_wants(const struct scim_projection *p, const char *path);
/* Applies the projection and the "returned" rules (always / never / default /
 * request) to a full resource in place. p may be NULL (defaults only). */
void scim_projection_apply(const struct scim_projection *p, json_t *resource);

#endif
