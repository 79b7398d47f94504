/*
 * scim_schema.c - the SCIM 2.0 User, enterprise User and Group schemas as
 * static tables, with lookups, discovery documents, body validation and
 * response projection built on them.
 */
#include "scim_schema.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Attribute tables ------------------------------------------------------- */

#define F_MULTI  1u /* multiValued */
#define F_REQ    2u /* required */
#define F_CEXACT 4u /* caseExact */

#define ATTR(n, t, f, mut, ret, uniq, canon, refs, subs, desc)                           \
    {                                                                                    \
        .name = (n), .type = SCIM_TYPE_##t, .multi_valued = ((f)&F_MULTI) != 0,          \
        .required = ((f)&F_REQ) != 0, .case_exact = ((f)&F_CEXACT) != 0,                 \
        .mutability = SCIM_MUT_##mut, .returned = SCIM_RET_##ret,                        \
        .uniqueness = SCIM_UNIQ_##uniq, .description = (desc),                           \
        .canonical_values = (canon), .reference_types = (refs), .sub_attrs = (subs)      \
    }
/* The usual case: single-valued, optional, case-insensitive, readWrite. */
#define STR(n, desc) ATTR(n, STRING, 0, READ_WRITE, DEFAULT, NONE, NULL, NULL, NULL, desc)
#define BOOL(n, desc)                                                                    \
    ATTR(n, BOOLEAN, 0, READ_WRITE, DEFAULT, NONE, NULL, NULL, NULL, desc)
#define ATTR_END                                                                         \
    {                                                                                    \
        .name = NULL                                                                     \
    }

static const char *const ref_external[] = {"external", NULL};
static const char *const ref_uri[] = {"uri", NULL};
static const char *const ref_user[] = {"User", NULL};
static const char *const ref_user_group[] = {"User", "Group", NULL};

static const char *const types_email[] = {"work", "home", "other", NULL};
static const char *const types_phone[] = {"work",  "home",  "mobile", "fax",
                                          "pager", "other", NULL};
static const char *const types_im[] = {"aim",   "gtalk", "icq",   "xmpp", "msn",
                                       "skype", "qq",    "yahoo", NULL};
static const char *const types_photo[] = {"photo", "thumbnail", NULL};
static const char *const types_address[] = {"work", "home", "other", NULL};
static const char *const types_membership[] = {"direct", "indirect", NULL};
static const char *const types_member[] = {"User", "Group", NULL};

/*
 * The common attributes of RFC 7643 section 3.1. They belong to no schema, so
 * /Schemas does not list them (as in RFC 7643 section 8.7.1); they resolve
 * through scim_schema_attr() on the core User and Group schemas so that
 * filters, sortBy, attributes= and validation can name them.
 */
static const struct scim_attr meta_subs[] = {
    ATTR("resourceType", STRING, F_CEXACT, READ_ONLY, DEFAULT, NONE, NULL, NULL, NULL,
         "The name of the resource type of the resource."),
    ATTR("created", DATETIME, 0, READ_ONLY, DEFAULT, NONE, NULL, NULL, NULL,
         "When the resource was added to the service provider."),
    ATTR("lastModified", DATETIME, 0, READ_ONLY, DEFAULT, NONE, NULL, NULL, NULL,
         "When the resource was last changed."),
    ATTR("location", REFERENCE, F_CEXACT, READ_ONLY, DEFAULT, NONE, NULL, ref_uri, NULL,
         "The URI of the resource."),
    ATTR("version", STRING, F_CEXACT, READ_ONLY, DEFAULT, NONE, NULL, NULL, NULL,
         "The version of the resource, as used in its ETag."),
    ATTR_END,
};

static const struct scim_attr common_attrs[] = {
    ATTR("id", STRING, F_CEXACT, READ_ONLY, ALWAYS, SERVER, NULL, NULL, NULL,
         "Identifier of the resource, issued by the service provider."),
    ATTR("externalId", STRING, F_CEXACT, READ_WRITE, DEFAULT, NONE, NULL, NULL, NULL,
         "Identifier of the resource as defined by the provisioning client."),
    ATTR("meta", COMPLEX, 0, READ_ONLY, DEFAULT, NONE, NULL, NULL, meta_subs,
         "Resource metadata maintained by the service provider."),
    ATTR_END,
};

/* Sub-attributes of User. */

static const struct scim_attr name_subs[] = {
    STR("formatted", "The full name, formatted for display."),
    STR("familyName", "The family (last) name."),
    STR("givenName", "The given (first) name."),
    STR("middleName", "The middle name(s)."),
    STR("honorificPrefix", "The honorific prefix or title, e.g. \"Ms.\"."),
    STR("honorificSuffix", "The honorific suffix, e.g. \"III\"."),
    ATTR_END,
};

/* value, display, type and primary: the shape of most multi-valued attributes. */
#define MV_SUBS(value_attr, types, type_desc)                                            \
    {                                                                                    \
        value_attr, STR("display", "A label for the value, for display only."),          \
            ATTR("type", STRING, 0, READ_WRITE, DEFAULT, NONE, types, NULL, NULL,        \
                 type_desc),                                                             \
            BOOL("primary", "Marks the preferred value; at most one value is "           \
                            "primary."),                                                 \
            ATTR_END,                                                                    \
    }

static const struct scim_attr emails_subs[] =
    MV_SUBS(STR("value", "An email address, in the form of RFC 5321."), types_email,
            "The kind of address, e.g. \"work\" or \"home\".");
static const struct scim_attr phone_subs[] =
    MV_SUBS(STR("value", "A telephone number, preferably as an RFC 3966 URI."),
            types_phone, "The kind of number, e.g. \"work\" or \"mobile\".");
static const struct scim_attr ims_subs[] =
    MV_SUBS(STR("value", "An instant messaging address."), types_im,
            "The messaging service, e.g. \"xmpp\".");
static const struct scim_attr photos_subs[] =
    MV_SUBS(ATTR("value", REFERENCE, 0, READ_WRITE, DEFAULT, NONE, NULL, ref_external,
                 NULL, "The URL of an image of the user."),
            types_photo, "\"photo\" or \"thumbnail\".");
static const struct scim_attr entitlements_subs[] = MV_SUBS(
    STR("value", "An entitlement of the user."), NULL, "The kind of entitlement.");
static const struct scim_attr roles_subs[] =
    MV_SUBS(STR("value", "A role of the user."), NULL, "The kind of role.");
static const struct scim_attr x509_subs[] =
    MV_SUBS(ATTR("value", BINARY, 0, READ_WRITE, DEFAULT, NONE, NULL, NULL, NULL,
                 "A DER-encoded X.509 certificate, base64-encoded."),
            NULL, "The kind of certificate.");

static const struct scim_attr addresses_subs[] = {
    STR("formatted", "The full mailing address, formatted for display."),
    STR("streetAddress", "Street, house number and the like."),
    STR("locality", "City or locality."),
    STR("region", "State or region."),
    STR("postalCode", "Postal code."),
    STR("country", "Country, as an ISO 3166-1 alpha-2 code."),
    ATTR("type", STRING, 0, READ_WRITE, DEFAULT, NONE, types_address, NULL, NULL,
         "The kind of address, e.g. \"work\" or \"home\"."),
    BOOL("primary", "Marks the preferred mailing address."),
    ATTR_END,
};

static const struct scim_attr groups_subs[] = {
    ATTR("value", STRING, 0, READ_ONLY, DEFAULT, NONE, NULL, NULL, NULL,
         "The id of a group the user belongs to."),
    ATTR("$ref", REFERENCE, 0, READ_ONLY, DEFAULT, NONE, NULL, ref_user_group, NULL,
         "The URI of that group."),
    ATTR("display", STRING, 0, READ_ONLY, DEFAULT, NONE, NULL, NULL, NULL,
         "The group's display name."),
    ATTR("type", STRING, 0, READ_ONLY, DEFAULT, NONE, types_membership, NULL, NULL,
         "\"direct\" or \"indirect\" membership."),
    ATTR_END,
};

static const struct scim_attr user_attrs[] = {
    ATTR("userName", STRING, F_REQ, READ_WRITE, DEFAULT, SERVER, NULL, NULL, NULL,
         "The unique identifier the user signs in with. Required and unique among "
         "the users of an organization, compared without regard to case."),
    ATTR("name", COMPLEX, 0, READ_WRITE, DEFAULT, NONE, NULL, NULL, name_subs,
         "The components of the user's real name."),
    STR("displayName", "The name of the user, suitable for display."),
    STR("nickName", "The casual name of the user."),
    ATTR("profileUrl", REFERENCE, 0, READ_WRITE, DEFAULT, NONE, NULL, ref_external, NULL,
         "A URL of the user's online profile."),
    STR("title", "The user's job title."),
    STR("userType", "The relationship of the user to the organization, e.g. "
                    "\"Employee\"."),
    STR("preferredLanguage", "The preferred written or spoken language, as an HTTP "
                             "Accept-Language value."),
    STR("locale", "The default location for localising dates, currency and the like, "
                  "e.g. \"en-US\"."),
    STR("timezone", "The time zone, in IANA database form, e.g. \"Europe/Paris\"."),
    BOOL("active", "Whether the user may use the service."),
    ATTR("password", STRING, 0, WRITE_ONLY, NEVER, NONE, NULL, NULL, NULL,
         "The clear-text password; accepted on input, stored only as a hash and never "
         "returned."),
    ATTR("emails", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL, emails_subs,
         "Email addresses of the user."),
    ATTR("phoneNumbers", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL,
         phone_subs, "Telephone numbers of the user."),
    ATTR("ims", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL, ims_subs,
         "Instant messaging addresses of the user."),
    ATTR("photos", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL, photos_subs,
         "URLs of images of the user."),
    ATTR("addresses", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL,
         addresses_subs, "Physical mailing addresses of the user."),
    ATTR("groups", COMPLEX, F_MULTI, READ_ONLY, DEFAULT, NONE, NULL, NULL, groups_subs,
         "The groups the user belongs to; changed through the Group resources."),
    ATTR("entitlements", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL,
         entitlements_subs, "Entitlements of the user."),
    ATTR("roles", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL, roles_subs,
         "Roles of the user."),
    ATTR("x509Certificates", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL,
         x509_subs, "X.509 certificates of the user."),
    ATTR_END,
};

static const struct scim_attr manager_subs[] = {
    STR("value", "The id of the manager's User resource."),
    ATTR("$ref", REFERENCE, 0, READ_WRITE, DEFAULT, NONE, NULL, ref_user, NULL,
         "The URI of the manager's User resource."),
    ATTR("displayName", STRING, 0, READ_ONLY, DEFAULT, NONE, NULL, NULL, NULL,
         "The manager's display name."),
    ATTR_END,
};

static const struct scim_attr enterprise_attrs[] = {
    STR("employeeNumber", "The identifier the organization assigns to the user."),
    STR("costCenter", "The name of a cost center."),
    STR("organization", "The name of an organization."),
    STR("division", "The name of a division."),
    STR("department", "The name of a department."),
    ATTR("manager", COMPLEX, 0, READ_WRITE, DEFAULT, NONE, NULL, NULL, manager_subs,
         "The user's manager."),
    ATTR_END,
};

/* "display" is not in RFC 7643 section 8.7.1 but Okta and Entra ID send it. */
static const struct scim_attr members_subs[] = {
    ATTR("value", STRING, F_CEXACT, IMMUTABLE, DEFAULT, NONE, NULL, NULL, NULL,
         "The id of a member (a User or a Group)."),
    ATTR("$ref", REFERENCE, 0, IMMUTABLE, DEFAULT, NONE, NULL, ref_user_group, NULL,
         "The URI of the member resource."),
    ATTR("type", STRING, 0, IMMUTABLE, DEFAULT, NONE, types_member, NULL, NULL,
         "\"User\" or \"Group\"."),
    ATTR("display", STRING, 0, IMMUTABLE, DEFAULT, NONE, NULL, NULL, NULL,
         "A label for the member, for display only."),
    ATTR_END,
};

/* RFC 7643 gives Group displayName uniqueness "none"; scimgate keeps display
 * names unique per organization (without regard to case) and says so. */
static const struct scim_attr group_attrs[] = {
    ATTR("displayName", STRING, F_REQ, READ_WRITE, DEFAULT, SERVER, NULL, NULL, NULL,
         "The name of the group, suitable for display. Required and unique among the "
         "groups of an organization, compared without regard to case."),
    ATTR("members", COMPLEX, F_MULTI, READ_WRITE, DEFAULT, NONE, NULL, NULL, members_subs,
         "The members of the group."),
    ATTR_END,
};

const struct scim_schema scim_schema_user = {
    .id = SCIM_SCHEMA_USER,
    .name = "User",
    .description = "User Account",
    .attrs = user_attrs,
};

const struct scim_schema scim_schema_enterprise_user = {
    .id = SCIM_SCHEMA_ENTERPRISE,
    .name = "EnterpriseUser",
    .description = "Enterprise User",
    .attrs = enterprise_attrs,
};

const struct scim_schema scim_schema_group = {
    .id = SCIM_SCHEMA_GROUP,
    .name = "Group",
    .description = "Group",
    .attrs = group_attrs,
};

static const struct scim_schema *const user_extensions[] = {
    &scim_schema_enterprise_user,
    NULL,
};
static const struct scim_schema *const no_extensions[] = {NULL};

const struct scim_resource_type scim_rt_user = {
    .id = "User",
    .name = "User",
    .endpoint = "/Users",
    .description = "User Account",
    .schema = &scim_schema_user,
    .extensions = user_extensions,
};

const struct scim_resource_type scim_rt_group = {
    .id = "Group",
    .name = "Group",
    .endpoint = "/Groups",
    .description = "Group",
    .schema = &scim_schema_group,
    .extensions = no_extensions,
};

static const struct scim_schema *const all_schemas[] = {
    &scim_schema_user,
    &scim_schema_enterprise_user,
    &scim_schema_group,
};

/* Lookups ---------------------------------------------------------------- */

static const struct scim_attr *attr_in(const struct scim_attr *list, const char *name)
{
    if (!list || !name)
        return NULL;
    for (; list->name; list++)
        if (util_streq_ci(list->name, name))
            return list;
    return NULL;
}

const struct scim_schema *scim_schema_find(const char *urn)
{
    if (!urn)
        return NULL;
    for (size_t i = 0; i < ARRAY_LEN(all_schemas); i++)
        if (util_streq_ci(all_schemas[i]->id, urn))
            return all_schemas[i];
    return NULL;
}

const struct scim_attr *scim_schema_attr(const struct scim_schema *schema,
                                         const char *name)
{
    if (!schema)
        return NULL;
    const struct scim_attr *a = attr_in(schema->attrs, name);
    if (!a && (schema == &scim_schema_user || schema == &scim_schema_group))
        a = attr_in(common_attrs, name);
    return a;
}

const struct scim_attr *scim_attr_sub(const struct scim_attr *attr, const char *name)
{
    return attr ? attr_in(attr->sub_attrs, name) : NULL;
}

const struct scim_schema *scim_rt_schema(const struct scim_resource_type *rt,
                                         const char *urn)
{
    if (!rt || !urn)
        return NULL;
    if (util_streq_ci(rt->schema->id, urn))
        return rt->schema;
    for (const struct scim_schema *const *e = rt->extensions; e && *e; e++)
        if (util_streq_ci((*e)->id, urn))
            return *e;
    return NULL;
}

/* Discovery documents ---------------------------------------------------- */

static const char *type_name(enum scim_attr_type t)
{
    switch (t) {
    case SCIM_TYPE_STRING:
        return "string";
    case SCIM_TYPE_BOOLEAN:
        return "boolean";
    case SCIM_TYPE_DECIMAL:
        return "decimal";
    case SCIM_TYPE_INTEGER:
        return "integer";
    case SCIM_TYPE_DATETIME:
        return "dateTime";
    case SCIM_TYPE_BINARY:
        return "binary";
    case SCIM_TYPE_REFERENCE:
        return "reference";
    case SCIM_TYPE_COMPLEX:
        return "complex";
    }
    return "string";
}

static const char *mutability_name(enum scim_mutability m)
{
    switch (m) {
    case SCIM_MUT_READ_WRITE:
        return "readWrite";
    case SCIM_MUT_READ_ONLY:
        return "readOnly";
    case SCIM_MUT_IMMUTABLE:
        return "immutable";
    case SCIM_MUT_WRITE_ONLY:
        return "writeOnly";
    }
    return "readWrite";
}

static const char *returned_name(enum scim_returned r)
{
    switch (r) {
    case SCIM_RET_DEFAULT:
        return "default";
    case SCIM_RET_ALWAYS:
        return "always";
    case SCIM_RET_NEVER:
        return "never";
    case SCIM_RET_REQUEST:
        return "request";
    }
    return "default";
}

static const char *uniqueness_name(enum scim_uniqueness u)
{
    switch (u) {
    case SCIM_UNIQ_NONE:
        return "none";
    case SCIM_UNIQ_SERVER:
        return "server";
    case SCIM_UNIQ_GLOBAL:
        return "global";
    }
    return "none";
}

/* A JSON array of the strings of a NULL-terminated list (new reference). */
static json_t *string_list(const char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *attrs_to_json(const struct scim_attr *list);

/* One attribute in the form of RFC 7643 section 7 (new reference). caseExact is
 * given for every non-complex attribute, referenceTypes for references. */
static json_t *attr_to_json(const struct scim_attr *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "type", json_string(type_name(a->type)));
    json_object_set_new(o, "multiValued", json_boolean(a->multi_valued));
    json_object_set_new(o, "description",
                        json_string(a->description ? a->description : ""));
    json_object_set_new(o, "required", json_boolean(a->required));
    if (a->type != SCIM_TYPE_COMPLEX)
        json_object_set_new(o, "caseExact", json_boolean(a->case_exact));
    if (a->canonical_values)
        json_object_set_new(o, "canonicalValues", string_list(a->canonical_values));
    if (a->type == SCIM_TYPE_REFERENCE)
        json_object_set_new(o, "referenceTypes", string_list(a->reference_types));
    json_object_set_new(o, "mutability", json_string(mutability_name(a->mutability)));
    json_object_set_new(o, "returned", json_string(returned_name(a->returned)));
    json_object_set_new(o, "uniqueness", json_string(uniqueness_name(a->uniqueness)));
    if (a->type == SCIM_TYPE_COMPLEX)
        json_object_set_new(o, "subAttributes", attrs_to_json(a->sub_attrs));
    return o;
}

static json_t *attrs_to_json(const struct scim_attr *list)
{
    json_t *arr = json_array();
    for (; list && list->name; list++)
        json_array_append_new(arr, attr_to_json(list));
    return arr;
}

/* base_url without trailing slashes, followed by the path pieces (new string). */
static char *url_join(const char *base, const char *a, const char *b)
{
    if (!base)
        base = "";
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return xasprintf("%.*s%s%s", (int)n, base, a, b ? b : "");
}

/* {"resourceType": rtype, "location": base + a + b} (new reference). */
static json_t *meta_json(const char *rtype, const char *base, const char *a,
                         const char *b)
{
    char *loc = url_join(base, a, b);
    json_t *m = json_pack("{s:s,s:s}", "resourceType", rtype, "location", loc);
    free(loc);
    return m;
}

json_t *scim_schema_to_json(const struct scim_schema *schema, const char *base_url)
{
    json_t *o = json_object();
    json_object_set_new(o, "schemas", json_pack("[s]", SCIM_SCHEMA_SCHEMA));
    json_object_set_new(o, "id", json_string(schema->id));
    json_object_set_new(o, "name", json_string(schema->name));
    json_object_set_new(o, "description", json_string(schema->description));
    json_object_set_new(o, "attributes", attrs_to_json(schema->attrs));
    json_object_set_new(o, "meta",
                        meta_json("Schema", base_url, "/Schemas/", schema->id));
    return o;
}

json_t *scim_list_response_new(json_t *resources, int64_t total_results,
                               int64_t start_index)
{
    if (!json_is_array(resources)) {
        json_decref(resources);
        resources = json_array();
    }
    json_t *o = json_object();
    json_object_set_new(o, "schemas", json_pack("[s]", SCIM_SCHEMA_LIST));
    json_object_set_new(o, "totalResults", json_integer(total_results));
    json_object_set_new(o, "itemsPerPage",
                        json_integer((json_int_t)json_array_size(resources)));
    json_object_set_new(o, "startIndex", json_integer(start_index));
    json_object_set_new(o, "Resources", resources);
    return o;
}

json_t *scim_schemas_list_json(const char *base_url)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_LEN(all_schemas); i++)
        json_array_append_new(arr, scim_schema_to_json(all_schemas[i], base_url));
    return scim_list_response_new(arr, (int64_t)ARRAY_LEN(all_schemas), 1);
}

json_t *scim_rt_to_json(const struct scim_resource_type *rt, const char *base_url)
{
    json_t *o = json_object();
    json_object_set_new(o, "schemas", json_pack("[s]", SCIM_SCHEMA_RESOURCE_TYPE));
    json_object_set_new(o, "id", json_string(rt->id));
    json_object_set_new(o, "name", json_string(rt->name));
    json_object_set_new(o, "endpoint", json_string(rt->endpoint));
    json_object_set_new(o, "description", json_string(rt->description));
    json_object_set_new(o, "schema", json_string(rt->schema->id));
    json_t *ext = json_array();
    for (const struct scim_schema *const *e = rt->extensions; e && *e; e++)
        json_array_append_new(ext,
                              json_pack("{s:s,s:b}", "schema", (*e)->id, "required", 0));
    json_object_set_new(o, "schemaExtensions", ext);
    json_object_set_new(o, "meta",
                        meta_json("ResourceType", base_url, "/ResourceTypes/", rt->id));
    return o;
}

static const struct scim_resource_type *const all_rts[] = {
    &scim_rt_user,
    &scim_rt_group,
};

json_t *scim_rts_list_json(const char *base_url)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_LEN(all_rts); i++)
        json_array_append_new(arr, scim_rt_to_json(all_rts[i], base_url));
    return scim_list_response_new(arr, (int64_t)ARRAY_LEN(all_rts), 1);
}

static json_t *supported(bool yes)
{
    return json_pack("{s:b}", "supported", yes);
}

static json_t *auth_schemes(const char *docs_url)
{
    json_t *s =
        json_pack("{s:s,s:s,s:s,s:s,s:b}", "type", "oauthbearertoken", "name",
                  "OAuth Bearer Token", "description",
                  "Authentication with a SCIM token issued by the scimgate "
                  "admin API, sent as an OAuth 2.0 bearer token.",
                  "specUri", "https://www.rfc-editor.org/info/rfc6750", "primary", 1);
    if (docs_url)
        json_object_set_new(s, "documentationUri", json_string(docs_url));
    return json_pack("[o]", s);
}

json_t *scim_spc_to_json(const struct scim_spc_limits *limits, const char *base_url)
{
    static const struct scim_spc_limits defaults = {
        .bulk_max_operations = 1000,
        .bulk_max_payload = 1048576,
        .filter_max_results = 1000,
        .docs_url = NULL,
    };
    if (!limits)
        limits = &defaults;
    json_t *o = json_object();
    json_object_set_new(o, "schemas", json_pack("[s]", SCIM_SCHEMA_SPC));
    if (limits->docs_url)
        json_object_set_new(o, "documentationUri", json_string(limits->docs_url));
    json_object_set_new(o, "patch", supported(true));
    json_t *bulk = supported(true);
    json_object_set_new(bulk, "maxOperations", json_integer(limits->bulk_max_operations));
    json_object_set_new(bulk, "maxPayloadSize", json_integer(limits->bulk_max_payload));
    json_object_set_new(o, "bulk", bulk);
    json_t *filter = supported(true);
    json_object_set_new(filter, "maxResults", json_integer(limits->filter_max_results));
    json_object_set_new(o, "filter", filter);
    json_object_set_new(o, "changePassword", supported(false));
    json_object_set_new(o, "sort", supported(true));
    json_object_set_new(o, "etag", supported(true));
    json_object_set_new(o, "authenticationSchemes", auth_schemes(limits->docs_url));
    json_object_set_new(
        o, "meta",
        meta_json("ServiceProviderConfig", base_url, "/ServiceProviderConfig", NULL));
    return o;
}

/* Validation ------------------------------------------------------------- */

/*
 * A body is walked against the tables with a context (struct vctx) and, for
 * error details, a chain of path nodes on the stack (struct vpath), turned
 * into text only when something is refused. Every normaliser has three
 * outcomes: false with the error set, true with *out a new value, or true
 * with *out NULL when the value is to be left out (null, empty, readOnly).
 * Recursion follows the attribute tables, never the input, except in
 * check_verbatim() which is bounded by SCIM_SCHEMA_MAX_EXT_DEPTH.
 */

struct vpath {
    const struct vpath *parent; /* enclosing attribute, or NULL at the top */
    const char *name;           /* attribute name, or a schema URN */
    long index;                 /* element index in a multi-valued attribute, or -1 */
    bool urn;                   /* name is a URN: children join with ':' */
};

struct vctx {
    const struct scim_resource_type *rt; /* NULL in scim_schema_coerce */
    bool lenient;                        /* drop unknown attributes */
    struct scim_error *err;              /* where a refusal is described */
    json_t *doc;                         /* the document being built (core attributes) */
    json_t **ext_out;                    /* per extension of rt: its object, or NULL */
    char *password;                      /* the extracted password (owned), or NULL */
    bool have_password;                  /* a password key was seen (even null) */
    json_t *members;                     /* Group members (owned), or NULL */
    bool have_members;                   /* a members key was seen (even null) */
};

/* ASCII case-insensitive ordering, for sorting keys. */
static int casecmp_ascii(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca += 'a' - 'A';
        if (cb >= 'A' && cb <= 'Z')
            cb += 'a' - 'A';
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

static int cmp_key_ptr(const void *x, const void *y)
{
    return casecmp_ascii(*(const char *const *)x, *(const char *const *)y);
}

/* True when s (C string) equals prefix followed by ':' ; *rest gets the tail. */
static bool urn_prefix(const char *s, const char *urn, const char **rest)
{
    size_t n = strlen(urn);
    if (!util_has_prefix_ci(s, urn) || s[n] != ':')
        return false;
    *rest = s + n + 1;
    return true;
}

/* Client text quoted in an error detail must stay valid UTF-8 however it is
 * cut: appends at most max bytes of s, whole UTF-8 sequences only, with '?'
 * for each byte that does not start a valid one. */
static void put_text(struct strbuf *b, const char *s, size_t max)
{
    size_t used = 0;
    while (*s && used < max) {
        unsigned char c = (unsigned char)*s;
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (strnlen(s, n) < n || !util_utf8_valid(s, n))
            n = 0;
        if (used + (n ? n : 1) > max)
            break;
        if (n)
            strbuf_append(b, s, n);
        else
            strbuf_putc(b, '?');
        used += n ? n : 1;
        s += n ? n : 1;
    }
    if (*s)
        strbuf_puts(b, "...");
}

/* Sets err to a 400 with detail, cut to fit the record on a UTF-8 boundary. */
static void set_detail(struct scim_error *err, const char *type, const char *detail)
{
    size_t n = strlen(detail), room = sizeof err->detail - 1;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)detail[n] & 0xc0) == 0x80)
            n--;
    }
    scim_error_set(err, 400, type, "%.*s", (int)n, detail);
}

static void path_format(const struct vpath *p, struct strbuf *b)
{
    if (!p)
        return;
    path_format(p->parent, b);
    if (p->parent)
        strbuf_putc(b, p->parent->urn ? ':' : '.');
    if (p->name[0])
        put_text(b, p->name, 120);
    else
        strbuf_puts(b, "\"\"");
    if (p->index >= 0)
        strbuf_printf(b, "[%ld]", p->index);
}

static bool vfail(struct vctx *c, const struct vpath *p, const char *type,
                  const char *fmt, ...) PRINTF_LIKE(4, 5);

/* Sets a 400 error "<path>: <message>". Always returns false. */
static bool vfail(struct vctx *c, const struct vpath *p, const char *type,
                  const char *fmt, ...)
{
    struct strbuf path = {0}, msg = {0};
    path_format(p, &path);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (path.len)
        strbuf_puts(&path, ": ");
    strbuf_puts(&path, msg.s ? msg.s : "");
    set_detail(c->err, type, path.s);
    strbuf_clear(&path);
    strbuf_clear(&msg);
    return false;
}

/* One key of obj that equals another but for case, or NULL. Borrowed. */
static const char *duplicate_key_ci(const json_t *obj)
{
    size_t n = json_object_size(obj);
    if (n < 2)
        return NULL;
    const char **keys = xmalloc(n * sizeof *keys);
    size_t k = 0;
    for (void *it = json_object_iter((json_t *)obj); it && k < n;
         it = json_object_iter_next((json_t *)obj, it))
        keys[k++] = json_object_iter_key(it);
    const char *dup = NULL;
    if (k <= 8) {
        for (size_t i = 0; i < k && !dup; i++)
            for (size_t j = i + 1; j < k && !dup; j++)
                if (util_streq_ci(keys[i], keys[j]))
                    dup = keys[j];
    } else {
        qsort(keys, k, sizeof *keys, cmp_key_ptr);
        for (size_t i = 1; i < k && !dup; i++)
            if (casecmp_ascii(keys[i - 1], keys[i]) == 0)
                dup = keys[i];
    }
    free(keys);
    return dup;
}

static bool check_unique_keys(struct vctx *c, const json_t *obj, const struct vpath *p)
{
    const char *dup = duplicate_key_ci(obj);
    if (!dup)
        return true;
    struct strbuf key = {0};
    put_text(&key, dup, 120);
    vfail(c, p, SCIM_TYPE_INVALID_SYNTAX,
          "the key \"%s\" appears more than once (names ignore case)",
          key.s ? key.s : "");
    strbuf_clear(&key);
    return false;
}

static bool check_string(struct vctx *c, const json_t *v, const struct vpath *p)
{
    if (!json_is_string(v))
        return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "expected a string");
    if (json_string_length(v) > SCIM_SCHEMA_MAX_STRING)
        return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "longer than %d bytes",
                     SCIM_SCHEMA_MAX_STRING);
    return true;
}

/* "true"/"false" in any case, as Entra ID sends booleans; -1 for anything else. */
static int bool_string(const json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)))
        return -1;
    if (util_streq_ci(json_string_value(v), "true"))
        return 1;
    if (util_streq_ci(json_string_value(v), "false"))
        return 0;
    return -1;
}

static bool norm_value(struct vctx *c, const struct scim_attr *a, const json_t *v,
                       const struct vpath *p, json_t **out);
static bool norm_complex(struct vctx *c, const struct scim_attr *a, const json_t *v,
                         const struct vpath *p, json_t **out);

/* One value of a non-complex type (new reference in *out). */
static bool norm_scalar(struct vctx *c, const struct scim_attr *a, const json_t *v,
                        const struct vpath *p, json_t **out)
{
    int64_t ms;
    int b;
    switch (a->type) {
    case SCIM_TYPE_STRING:
    case SCIM_TYPE_REFERENCE:
    case SCIM_TYPE_BINARY:
        if (!check_string(c, v, p))
            return false;
        break;
    case SCIM_TYPE_DATETIME:
        if (!check_string(c, v, p))
            return false;
        if (!util_parse_rfc3339(json_string_value(v), &ms))
            return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "expected an xsd:dateTime");
        break;
    case SCIM_TYPE_BOOLEAN:
        if ((b = bool_string(v)) >= 0) {
            *out = json_boolean(b);
            return true;
        }
        if (!json_is_boolean(v))
            return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "expected a boolean");
        break;
    case SCIM_TYPE_INTEGER:
        if (!json_is_integer(v))
            return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "expected an integer");
        break;
    case SCIM_TYPE_DECIMAL:
        if (!json_is_number(v))
            return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "expected a number");
        break;
    case SCIM_TYPE_COMPLEX:
        return norm_complex(c, a, v, p, out);
    }
    *out = json_deep_copy(v);
    return true;
}

/* A Group member: "value" is required; "type" takes its canonical case. */
static bool check_member(struct vctx *c, json_t *m, const struct vpath *p)
{
    struct vpath vp = {p, "value", -1, false}, tp = {p, "type", -1, false};
    const char *id = json_string_value(json_object_get(m, "value"));
    if (!id || !*id)
        return vfail(c, &vp, SCIM_TYPE_INVALID_VALUE, "required");
    json_t *t = json_object_get(m, "type");
    if (!t)
        return true;
    for (const char *const *cv = types_member; *cv; cv++)
        if (util_streq_ci(json_string_value(t), *cv)) {
            json_object_set_new(m, "type", json_string(*cv));
            return true;
        }
    return vfail(c, &tp, SCIM_TYPE_INVALID_VALUE, "expected \"User\" or \"Group\"");
}

/* The sub-attributes of a complex value given as an object (new object in *out). */
static bool norm_object(struct vctx *c, const struct scim_attr *a, const json_t *v,
                        const struct vpath *p, json_t **out)
{
    if (!check_unique_keys(c, v, p))
        return false;
    json_t *o = json_object(), *val;
    const char *key;
    json_object_foreach((json_t *)v, key, val)
    {
        const struct scim_attr *s = attr_in(a->sub_attrs, key);
        struct vpath sp = {p, s ? s->name : key, -1, false};
        json_t *nv = NULL;
        if (!s && !c->lenient) {
            json_decref(o);
            return vfail(c, &sp, SCIM_TYPE_INVALID_SYNTAX, "unknown sub-attribute");
        }
        if (!s || s->mutability == SCIM_MUT_READ_ONLY)
            continue;
        if (!norm_value(c, s, val, &sp, &nv)) {
            json_decref(o);
            return false;
        }
        if (nv)
            json_object_set_new(o, s->name, nv);
    }
    *out = o;
    return true;
}

/* A complex value: an object, or a bare string standing for {"value": ...}
 * when the attribute has a single-valued "value" sub-attribute. */
static bool norm_complex(struct vctx *c, const struct scim_attr *a, const json_t *v,
                         const struct vpath *p, json_t **out)
{
    const struct scim_attr *va = attr_in(a->sub_attrs, "value");
    if (json_is_string(v) && va && va->type != SCIM_TYPE_COMPLEX && !va->multi_valued) {
        struct vpath vp = {p, va->name, -1, false};
        json_t *s;
        if (!norm_scalar(c, va, v, &vp, &s))
            return false;
        *out = json_object();
        json_object_set_new(*out, va->name, s);
    } else if (!json_is_object(v)) {
        return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "expected an object");
    } else if (!norm_object(c, a, v, p, out)) {
        return false;
    }
    bool ok = true;
    if (json_object_size(*out) > 0 && a->sub_attrs == members_subs)
        ok = check_member(c, *out, p);
    if (!ok || json_object_size(*out) == 0) {
        json_decref(*out);
        *out = NULL;
    }
    return ok;
}

/* A multi-valued attribute: an array, with at most one primary element. */
static bool norm_multi(struct vctx *c, const struct scim_attr *a, const json_t *v,
                       const struct vpath *p, json_t **out)
{
    if (!json_is_array(v))
        return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "expected an array");
    json_t *arr = json_array(), *el;
    size_t i, primaries = 0;
    json_array_foreach(v, i, el)
    {
        struct vpath ep = {p->parent, p->name, (long)i, p->urn};
        json_t *ne = NULL;
        if (!json_is_null(el) && !norm_scalar(c, a, el, &ep, &ne)) {
            json_decref(arr);
            return false;
        }
        if (!ne)
            continue;
        if (json_is_true(json_object_get(ne, "primary")) && ++primaries > 1) {
            json_decref(ne);
            json_decref(arr);
            return vfail(c, &ep, SCIM_TYPE_INVALID_VALUE,
                         "more than one value is marked primary");
        }
        json_array_append_new(arr, ne);
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return true;
}

static bool norm_value(struct vctx *c, const struct scim_attr *a, const json_t *v,
                       const struct vpath *p, json_t **out)
{
    *out = NULL;
    if (json_is_null(v))
        return true;
    if (a->multi_valued)
        return norm_multi(c, a, v, p, out);
    return norm_scalar(c, a, v, p, out);
}

/* An unknown extension value, kept as sent within the size and depth limits. */
static bool check_verbatim(struct vctx *c, const json_t *v, int depth,
                           const struct vpath *p)
{
    if ((json_is_object(v) || json_is_array(v)) && depth > SCIM_SCHEMA_MAX_EXT_DEPTH)
        return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "nested more than %d levels deep",
                     SCIM_SCHEMA_MAX_EXT_DEPTH);
    if (json_is_string(v))
        return check_string(c, v, p);
    const char *key;
    json_t *val;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, val)
        {
            if (strlen(key) > SCIM_SCHEMA_MAX_STRING)
                return vfail(c, p, SCIM_TYPE_INVALID_VALUE, "a key is too long");
            if (!check_verbatim(c, val, depth + 1, p))
                return false;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, val)
        {
            if (!check_verbatim(c, val, depth + 1, p))
                return false;
        }
    }
    return true;
}

/* An attribute of rt's core schema, including the common ones. */
static const struct scim_attr *core_attr(const struct scim_resource_type *rt,
                                         const char *name)
{
    const struct scim_attr *a = attr_in(rt->schema->attrs, name);
    return a ? a : attr_in(common_attrs, name);
}

static bool put_unique(struct vctx *c, json_t *obj, const char *name, json_t *v,
                       const struct vpath *p)
{
    if (json_object_get(obj, name)) {
        json_decref(v);
        return vfail(c, p, SCIM_TYPE_INVALID_SYNTAX, "given more than once");
    }
    json_object_set_new(obj, name, v);
    return true;
}

static bool take_password(struct vctx *c, const json_t *v, const struct vpath *p)
{
    if (c->have_password)
        return vfail(c, p, SCIM_TYPE_INVALID_SYNTAX, "given more than once");
    c->have_password = true;
    if (json_is_null(v))
        return true;
    if (!check_string(c, v, p))
        return false;
    c->password = xstrdup(json_string_value(v));
    return true;
}

static bool take_members(struct vctx *c, const struct scim_attr *a, const json_t *v,
                         const struct vpath *p)
{
    if (c->have_members)
        return vfail(c, p, SCIM_TYPE_INVALID_SYNTAX, "given more than once");
    c->have_members = true;
    if (!norm_value(c, a, v, p, &c->members))
        return false;
    if (!c->members)
        c->members = json_array();
    return true;
}

/* A core attribute given at the top level (or qualified by the core URN). */
static bool put_core(struct vctx *c, const char *name, const json_t *v,
                     const struct vpath *parent)
{
    const struct scim_attr *a = core_attr(c->rt, name);
    struct vpath p = {parent, a ? a->name : name, -1, false};
    if (!a)
        return c->lenient ? true
                          : vfail(c, &p, SCIM_TYPE_INVALID_SYNTAX, "unknown attribute");
    if (a->mutability == SCIM_MUT_READ_ONLY)
        return true;
    if (a->mutability == SCIM_MUT_WRITE_ONLY && util_streq_ci(a->name, "password"))
        return take_password(c, v, &p);
    if (a->sub_attrs == members_subs)
        return take_members(c, a, v, &p);
    json_t *nv;
    if (!norm_value(c, a, v, &p, &nv))
        return false;
    return !nv || put_unique(c, c->doc, a->name, nv, &p);
}

/* An attribute of extension number i of rt. */
static bool put_ext(struct vctx *c, size_t i, const char *name, const json_t *v)
{
    const struct scim_schema *s = c->rt->extensions[i];
    const struct scim_attr *a = attr_in(s->attrs, name);
    struct vpath up = {NULL, s->id, -1, true}, p = {&up, a ? a->name : name, -1, false};
    if (!a)
        return c->lenient ? true
                          : vfail(c, &p, SCIM_TYPE_INVALID_SYNTAX, "unknown attribute");
    if (a->mutability == SCIM_MUT_READ_ONLY)
        return true;
    json_t *nv;
    if (!norm_value(c, a, v, &p, &nv))
        return false;
    if (!nv)
        return true;
    if (!c->ext_out[i])
        c->ext_out[i] = json_object();
    return put_unique(c, c->ext_out[i], a->name, nv, &p);
}

/* Every member of obj through put (an extension object or the core URN object). */
static bool put_object(struct vctx *c, const json_t *obj, const struct vpath *p, size_t i,
                       bool core)
{
    if (json_is_null(obj))
        return true;
    if (!json_is_object(obj))
        return vfail(c, p, SCIM_TYPE_INVALID_SYNTAX, "expected an object");
    if (!check_unique_keys(c, obj, p))
        return false;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (!(core ? put_core(c, key, val, p) : put_ext(c, i, key, val)))
            return false;
    }
    return true;
}

/* An extension URN not of rt: the value is kept as sent. */
static bool put_unknown_urn(struct vctx *c, const char *key, const json_t *v)
{
    struct vpath p = {NULL, key, -1, false};
    if (json_is_null(v))
        return true;
    if (!check_verbatim(c, v, 1, &p))
        return false;
    return put_unique(c, c->doc, key, json_deep_copy(v), &p);
}

/* One top-level key of the body, dispatched on what it names. */
static bool put_top(struct vctx *c, const char *key, const json_t *v)
{
    const char *rest;
    const struct scim_resource_type *rt = c->rt;
    struct vpath p = {NULL, key, -1, true};
    for (size_t i = 0; rt->extensions[i]; i++) {
        if (util_streq_ci(key, rt->extensions[i]->id)) {
            p.name = rt->extensions[i]->id;
            return put_object(c, v, &p, i, false);
        }
        if (urn_prefix(key, rt->extensions[i]->id, &rest))
            return put_ext(c, i, rest, v);
    }
    if (util_streq_ci(key, rt->schema->id)) {
        p.name = rt->schema->id;
        return put_object(c, v, &p, 0, true);
    }
    if (urn_prefix(key, rt->schema->id, &rest))
        return put_core(c, rest, v, NULL);
    if (util_has_prefix_ci(key, "urn:"))
        return put_unknown_urn(c, key, v);
    return put_core(c, key, v, NULL);
}

/* The body's "schemas" must be an array of strings holding rt's core URN. */
static bool check_schemas(struct vctx *c, const json_t *body)
{
    const json_t *s = NULL;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        if (util_streq_ci(key, "schemas"))
            s = val;
    }
    struct vpath p = {NULL, "schemas", -1, false};
    if (!s)
        return vfail(c, &p, SCIM_TYPE_INVALID_SYNTAX, "missing; it must list %s",
                     c->rt->schema->id);
    if (!json_is_array(s))
        return vfail(c, &p, SCIM_TYPE_INVALID_SYNTAX, "expected an array of schema URNs");
    bool core = false;
    size_t i;
    json_array_foreach(s, i, val)
    {
        if (!json_is_string(val))
            return vfail(c, &p, SCIM_TYPE_INVALID_SYNTAX,
                         "expected an array of schema URNs");
        core = core || util_streq_ci(json_string_value(val), c->rt->schema->id);
    }
    if (!core)
        return vfail(c, &p, SCIM_TYPE_INVALID_SYNTAX, "must list %s", c->rt->schema->id);
    return true;
}

static json_t *schemas_of(const struct scim_resource_type *rt, const json_t *doc)
{
    json_t *arr = json_pack("[s]", rt->schema->id), *val;
    const char *key;
    json_object_foreach((json_t *)doc, key, val)
    {
        if (util_has_prefix_ci(key, "urn:") && json_is_object(val))
            json_array_append_new(arr, json_string(key));
    }
    return arr;
}

void scim_schema_set_schemas(const struct scim_resource_type *rt, json_t *doc)
{
    if (rt && json_is_object(doc))
        json_object_set_new(doc, "schemas", schemas_of(rt, doc));
}

static bool check_required_in(struct vctx *c, const struct scim_attr *list,
                              const json_t *obj, const struct vpath *parent)
{
    for (; list && list->name; list++) {
        if (!list->required || list->mutability == SCIM_MUT_READ_ONLY)
            continue;
        struct vpath p = {parent, list->name, -1, false};
        const json_t *v = json_object_get(obj, list->name);
        if (list->sub_attrs == members_subs)
            v = c->members;
        if (!v)
            return vfail(c, &p, SCIM_TYPE_INVALID_VALUE, "required");
        if (json_is_string(v) && json_string_length(v) == 0)
            return vfail(c, &p, SCIM_TYPE_INVALID_VALUE, "must not be empty");
    }
    return true;
}

static bool check_required(struct vctx *c)
{
    if (!check_required_in(c, c->rt->schema->attrs, c->doc, NULL))
        return false;
    for (size_t i = 0; c->rt->extensions[i]; i++) {
        struct vpath up = {NULL, c->rt->extensions[i]->id, -1, true};
        if (c->ext_out[i] &&
            !check_required_in(c, c->rt->extensions[i]->attrs, c->ext_out[i], &up))
            return false;
    }
    return true;
}

static bool same_value(const struct scim_attr *a, const json_t *x, const json_t *y)
{
    if (!a->case_exact && json_is_string(x) && json_is_string(y))
        return util_streq_ci(json_string_value(x), json_string_value(y));
    return json_equal(x, y);
}

static bool has_immutable_sub(const struct scim_attr *a)
{
    for (const struct scim_attr *s = a->sub_attrs; s && s->name; s++)
        if (s->mutability == SCIM_MUT_IMMUTABLE)
            return true;
    return false;
}

static bool keep_immutable(struct vctx *c, const struct scim_attr *list, json_t *cur,
                           const json_t *old, const struct vpath *parent);

/* Immutable sub-attributes of a single-valued complex attribute a. */
static bool keep_immutable_subs(struct vctx *c, const struct scim_attr *a, json_t *cur,
                                const json_t *ov, const struct vpath *p)
{
    json_t *nv = json_object_get(cur, a->name);
    if (nv && !json_is_object(nv))
        return true;
    bool created = !nv;
    if (created)
        nv = json_object();
    bool ok = keep_immutable(c, a->sub_attrs, nv, ov, p);
    if (created && ok && json_object_size(nv) > 0)
        json_object_set_new(cur, a->name, nv);
    else if (created)
        json_decref(nv);
    return ok;
}

/* For each immutable attribute of list set in old: refuses a different value
 * in cur, and carries the old value over when cur leaves it out. */
static bool keep_immutable(struct vctx *c, const struct scim_attr *list, json_t *cur,
                           const json_t *old, const struct vpath *parent)
{
    for (; list && list->name; list++) {
        const json_t *ov = json_object_get(old, list->name);
        struct vpath p = {parent, list->name, -1, false};
        if (!ov || json_is_null(ov))
            continue;
        if (list->mutability == SCIM_MUT_IMMUTABLE) {
            const json_t *nv = json_object_get(cur, list->name);
            if (!nv)
                json_object_set_new(cur, list->name, json_deep_copy(ov));
            else if (!same_value(list, ov, nv))
                return vfail(c, &p, SCIM_TYPE_MUTABILITY,
                             "immutable; it cannot be changed once set");
        } else if (list->type == SCIM_TYPE_COMPLEX && !list->multi_valued &&
                   json_is_object(ov) && has_immutable_sub(list)) {
            if (!keep_immutable_subs(c, list, cur, ov, &p))
                return false;
        }
    }
    return true;
}

static bool check_immutable(struct vctx *c, const json_t *existing)
{
    if (!json_is_object(existing))
        return true;
    if (!keep_immutable(c, c->rt->schema->attrs, c->doc, existing, NULL) ||
        !keep_immutable(c, common_attrs, c->doc, existing, NULL))
        return false;
    for (size_t i = 0; c->rt->extensions[i]; i++) {
        const struct scim_schema *s = c->rt->extensions[i];
        const json_t *old = json_object_get(existing, s->id);
        struct vpath up = {NULL, s->id, -1, true};
        if (!json_is_object(old))
            continue;
        if (!c->ext_out[i])
            c->ext_out[i] = json_object();
        if (!keep_immutable(c, s->attrs, c->ext_out[i], old, &up))
            return false;
    }
    return true;
}

/* Walks the body into c->doc and c->ext_out; then the whole-document checks. */
static bool validate_body(struct vctx *c, const json_t *body,
                          enum scim_validate_mode mode, const json_t *existing)
{
    if (!json_is_object(body))
        return vfail(c, NULL, SCIM_TYPE_INVALID_SYNTAX,
                     "the request body must be a JSON object");
    if (!check_unique_keys(c, body, NULL) || !check_schemas(c, body))
        return false;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        if (!util_streq_ci(key, "schemas") && !put_top(c, key, val))
            return false;
    }
    if (!check_required(c))
        return false;
    if (mode == SCIM_VALIDATE_REPLACE && existing && !check_immutable(c, existing))
        return false;
    for (size_t i = 0; c->rt->extensions[i]; i++) {
        if (c->ext_out[i] && json_object_size(c->ext_out[i]) > 0) {
            struct vpath p = {NULL, c->rt->extensions[i]->id, -1, false};
            json_t *e = c->ext_out[i];
            c->ext_out[i] = NULL;
            if (!put_unique(c, c->doc, c->rt->extensions[i]->id, e, &p))
                return false;
        }
    }
    scim_schema_set_schemas(c->rt, c->doc);
    return true;
}

json_t *scim_schema_validate_ex(const struct scim_resource_type *rt, const json_t *body,
                                enum scim_validate_mode mode, const json_t *existing,
                                const struct scim_validate_opts *opts,
                                char **password_out, struct scim_error *err)
{
    if (password_out)
        *password_out = NULL;
    if (opts && opts->members_out)
        *opts->members_out = NULL;
    if (!rt || !rt->schema) {
        scim_error_set(err, 500, NULL, "no resource type to validate against");
        return NULL;
    }
    size_t n_ext = 0;
    while (rt->extensions && rt->extensions[n_ext])
        n_ext++;
    static const struct scim_schema *const none[] = {NULL};
    struct scim_resource_type rt_copy = *rt;
    if (!rt_copy.extensions)
        rt_copy.extensions = none;
    struct vctx c = {
        .rt = &rt_copy,
        .lenient = opts && opts->lenient,
        .err = err,
        .doc = json_object(),
        .ext_out = xcalloc(n_ext + 1, sizeof(json_t *)),
    };
    /* "schemas" goes first; its final value is set once the document is built. */
    json_object_set_new(c.doc, "schemas", json_array());
    bool ok = validate_body(&c, body, mode, existing);
    for (size_t i = 0; i < n_ext; i++)
        json_decref(c.ext_out[i]);
    free(c.ext_out);
    if (ok && password_out)
        *password_out = c.password;
    else
        free(c.password);
    if (ok && opts && opts->members_out)
        *opts->members_out = c.members;
    else
        json_decref(c.members);
    if (!ok) {
        json_decref(c.doc);
        return NULL;
    }
    return c.doc;
}

json_t *scim_schema_validate(const struct scim_resource_type *rt, const json_t *body,
                             enum scim_validate_mode mode, const json_t *existing,
                             char **password_out, struct scim_error *err)
{
    return scim_schema_validate_ex(rt, body, mode, existing, NULL, password_out, err);
}

json_t *scim_schema_coerce(const struct scim_attr *attr, const json_t *value,
                           const char *path_for_errors, struct scim_error *err)
{
    struct vctx c = {.err = err};
    const char *name = path_for_errors ? path_for_errors : attr ? attr->name : "value";
    struct vpath p = {NULL, name, -1, false};
    if (!attr || !value) {
        vfail(&c, &p, SCIM_TYPE_INVALID_VALUE, "no value");
        return NULL;
    }
    json_t *out = NULL;
    bool ok;
    if (json_is_null(value))
        ok = true;
    else if (attr->multi_valued && json_is_array(value))
        ok = norm_multi(&c, attr, value, &p, &out);
    else
        ok = norm_scalar(&c, attr, value, &p, &out);
    if (!ok)
        return NULL;
    return out ? out : json_null();
}

/* Projection ------------------------------------------------------------- */

/*
 * Each entry of attributes= or excludedAttributes= is resolved against the
 * resource type once: a whole schema (a URN of rt), an attribute, or an
 * attribute's sub-attribute, of rt's core schema or one of its extensions.
 * Entries under other URNs cannot be split into URN and attribute without
 * knowing the resource, so they keep their text and are matched against the
 * keys of the unknown extension objects found in the resource.
 */

struct proj_entry {
    const struct scim_schema *schema; /* core or extension schema; NULL: unknown URN */
    char *attr;                       /* attribute as written; NULL: the whole schema */
    char *sub;                        /* sub-attribute as written, or NULL */
    char *raw;                        /* unknown URN entries: the text as written */
};

struct proj_list {
    struct proj_entry *v; /* entries, owned */
    size_t n;             /* entries used */
    size_t cap;           /* entries allocated */
};

struct scim_projection {
    const struct scim_resource_type *rt; /* &rt_copy */
    struct scim_resource_type rt_copy;   /* the caller's, extensions never NULL */
    bool has_attrs;                      /* attributes= named at least one path */
    struct proj_list attrs;              /* attributes= */
    struct proj_list excluded;           /* excludedAttributes= */
};

enum named { NAMED_NONE, NAMED_SUBS, NAMED_WHOLE };

static void entry_clear(struct proj_entry *e)
{
    free(e->attr);
    free(e->sub);
    free(e->raw);
}

static void list_clear(struct proj_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        entry_clear(&l->v[i]);
    free(l->v);
}

/* ATTRNAME of RFC 7643 section 2.1, plus "$ref". */
static bool name_ok(const char *s, size_t n)
{
    if (n == 0 ||
        !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '$'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

static bool parse_attr_sub(const char *s, struct proj_entry *e)
{
    size_t n = strlen(s);
    const char *dot = memchr(s, '.', n);
    size_t an = dot ? (size_t)(dot - s) : n;
    if (!name_ok(s, an) || (dot && !name_ok(dot + 1, n - an - 1)))
        return false;
    e->attr = xstrndup(s, an);
    e->sub = dot ? xstrndup(dot + 1, n - an - 1) : NULL;
    return true;
}

static bool urn_text_ok(const char *s)
{
    if (strlen(s) <= 4)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

/* Resolves one path (NUL-terminated, trimmed) into e. False when malformed. */
static bool parse_entry(const struct scim_resource_type *rt, const char *t,
                        struct proj_entry *e)
{
    const char *rest;
    memset(e, 0, sizeof *e);
    for (size_t i = 0; i == 0 || rt->extensions[i - 1]; i++) {
        const struct scim_schema *s = i == 0 ? rt->schema : rt->extensions[i - 1];
        e->schema = s;
        if (util_streq_ci(t, s->id))
            return true;
        if (urn_prefix(t, s->id, &rest))
            return parse_attr_sub(rest, e);
    }
    if (util_has_prefix_ci(t, "urn:")) {
        e->schema = NULL;
        e->raw = xstrdup(t);
        return urn_text_ok(t);
    }
    e->schema = rt->schema;
    return parse_attr_sub(t, e);
}

static void path_error(struct scim_error *err, const char *param, const char *text)
{
    struct strbuf b = {0};
    strbuf_printf(&b, "%s: \"", param);
    put_text(&b, text, 100);
    strbuf_puts(&b, "\" is not a valid attribute path");
    scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "%s", b.s);
    strbuf_clear(&b);
}

static bool parse_list(const struct scim_resource_type *rt, const char *text,
                       const char *param, struct proj_list *l, struct scim_error *err)
{
    for (const char *s = text; s && *s;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *next = end ? end + 1 : s + n;
        while (n > 0 && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > 0) {
            char *t = xstrndup(s, n);
            struct proj_entry e;
            if (!parse_entry(rt, t, &e)) {
                entry_clear(&e);
                path_error(err, param, t);
                free(t);
                return false;
            }
            free(t);
            if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 8;
                l->v = xrealloc(l->v, l->cap * sizeof *l->v);
            }
            l->v[l->n++] = e;
        }
        s = next;
    }
    return true;
}

struct scim_projection *scim_projection_parse(const struct scim_resource_type *rt,
                                              const char *attributes,
                                              const char *excluded,
                                              struct scim_error *err)
{
    static const struct scim_schema *const none[] = {NULL};
    struct scim_projection *p = xcalloc(1, sizeof *p);
    p->rt_copy = rt && rt->schema ? *rt : scim_rt_user;
    if (!p->rt_copy.extensions)
        p->rt_copy.extensions = none;
    p->rt = &p->rt_copy;
    if (!parse_list(p->rt, attributes, "attributes", &p->attrs, err) ||
        !parse_list(p->rt, excluded, "excludedAttributes", &p->excluded, err)) {
        scim_projection_free(p);
        return NULL;
    }
    p->has_attrs = p->attrs.n > 0;
    return p;
}

void scim_projection_free(struct scim_projection *p)
{
    if (!p)
        return;
    list_clear(&p->attrs);
    list_clear(&p->excluded);
    free(p);
}

/* How l names attribute `name` of schema s. */
static enum named named(const struct proj_list *l, const struct scim_schema *s,
                        const char *name)
{
    enum named r = NAMED_NONE;
    for (size_t i = 0; i < l->n; i++) {
        const struct proj_entry *e = &l->v[i];
        if (!e->schema || e->schema != s)
            continue;
        if (!e->attr)
            return NAMED_WHOLE;
        if (!util_streq_ci(e->attr, name))
            continue;
        if (!e->sub)
            return NAMED_WHOLE;
        r = NAMED_SUBS;
    }
    return r;
}

static bool sub_named(const struct proj_list *l, const struct scim_schema *s,
                      const char *name, const char *sub)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct proj_entry *e = &l->v[i];
        if (e->schema == s && e->schema && e->attr && e->sub &&
            util_streq_ci(e->attr, name) && util_streq_ci(e->sub, sub))
            return true;
    }
    return false;
}

static bool has_hidden_subs(const struct scim_attr *a)
{
    for (const struct scim_attr *s = a ? a->sub_attrs : NULL; s && s->name; s++)
        if (s->returned == SCIM_RET_NEVER || s->returned == SCIM_RET_REQUEST)
            return true;
    return false;
}

/* Trims the sub-attributes of one complex value (an object). */
static void filter_subs(const struct scim_projection *p, const struct scim_schema *s,
                        const struct scim_attr *a, const char *name, json_t *obj,
                        bool only_named)
{
    const char *key;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, val)
    {
        const struct scim_attr *sd = a ? attr_in(a->sub_attrs, key) : NULL;
        enum scim_returned r = sd ? sd->returned : SCIM_RET_DEFAULT;
        bool requested = p && sub_named(&p->attrs, s, name, key);
        bool keep;
        if (r == SCIM_RET_ALWAYS || r == SCIM_RET_NEVER)
            keep = r == SCIM_RET_ALWAYS;
        else
            keep = (only_named || r == SCIM_RET_REQUEST) ? requested : true;
        if (keep && r != SCIM_RET_ALWAYS && p && sub_named(&p->excluded, s, name, key))
            keep = false;
        if (!keep)
            json_object_del(obj, key);
    }
}

static bool is_empty(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

/* Trims a complex value or each element of a multi-valued one; drops elements
 * left empty. */
static void filter_value(const struct scim_projection *p, const struct scim_schema *s,
                         const struct scim_attr *a, const char *name, json_t *v,
                         bool only_named)
{
    if (json_is_object(v)) {
        filter_subs(p, s, a, name, v, only_named);
        return;
    }
    for (size_t i = json_array_size(v); i-- > 0;) {
        json_t *el = json_array_get(v, i);
        if (!json_is_object(el))
            continue;
        filter_subs(p, s, a, name, el, only_named);
        if (json_object_size(el) == 0)
            json_array_remove(v, i);
    }
}

/* Whether attribute `name` (definition a, or NULL when unknown) of schema s
 * stays in the response; trims its sub-attributes when it does. */
static bool project_attr(const struct scim_projection *p, const struct scim_schema *s,
                         const struct scim_attr *a, const char *name, json_t *v)
{
    enum scim_returned r = a ? a->returned : SCIM_RET_DEFAULT;
    if (r == SCIM_RET_NEVER || (a && a->mutability == SCIM_MUT_WRITE_ONLY))
        return false;
    if (r == SCIM_RET_ALWAYS)
        return true;
    enum named inc = NAMED_WHOLE;
    if (p && p->has_attrs) {
        inc = named(&p->attrs, s, name);
        if (inc == NAMED_NONE)
            return false;
    } else if (r == SCIM_RET_REQUEST) {
        return false;
    }
    enum named exc = p ? named(&p->excluded, s, name) : NAMED_NONE;
    if (exc == NAMED_WHOLE)
        return false;
    if (inc == NAMED_SUBS || exc == NAMED_SUBS || has_hidden_subs(a)) {
        filter_value(p, s, a, name, v, inc == NAMED_SUBS);
        if (is_empty(v))
            return false;
    }
    return true;
}

/* An extension object of rt: projects each of its attributes. */
static bool project_ext(const struct scim_projection *p, const struct scim_schema *s,
                        json_t *obj)
{
    if (!json_is_object(obj)) /* not a stored form; only a whole-schema entry keeps it */
        return !p || ((!p->has_attrs || named(&p->attrs, s, "") == NAMED_WHOLE) &&
                      named(&p->excluded, s, "") != NAMED_WHOLE);
    const char *key;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, val)
    {
        if (!project_attr(p, s, attr_in(s->attrs, key), key, val))
            json_object_del(obj, key);
    }
    return json_object_size(obj) > 0;
}

/* The text of an unknown-URN entry after "key:", or NULL. */
static const char *raw_after(const struct proj_entry *e, const char *key)
{
    const char *rest;
    return e->raw && urn_prefix(e->raw, key, &rest) ? rest : NULL;
}

/* Whether an entry names member m of the unknown extension key ("key:m" or
 * "key:m.sub"). */
static bool raw_names_member(const struct proj_entry *e, const char *key, const char *m)
{
    const char *rest = raw_after(e, key);
    if (!rest)
        return false;
    const char *dot = strchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
    return strlen(m) == n && util_has_prefix_ci(rest, m);
}

static bool raw_names_whole(const struct proj_list *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].raw && util_streq_ci(l->v[i].raw, key))
            return true;
    return false;
}

static bool raw_names_any_member(const struct proj_list *l, const char *key,
                                 const char *m)
{
    for (size_t i = 0; i < l->n; i++)
        if (raw_names_member(&l->v[i], key, m))
            return true;
    return false;
}

/* An unknown extension kept verbatim under key. */
static bool project_unknown(const struct scim_projection *p, const char *key, json_t *v)
{
    if (!p)
        return true;
    if (raw_names_whole(&p->excluded, key))
        return false;
    bool whole = !p->has_attrs || raw_names_whole(&p->attrs, key);
    if (!json_is_object(v))
        return whole;
    const char *m;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(v, tmp, m, val)
    {
        bool keep = whole || raw_names_any_member(&p->attrs, key, m);
        if (!keep || raw_names_any_member(&p->excluded, key, m))
            json_object_del(v, m);
    }
    return json_object_size(v) > 0;
}

/* Removes urn from resource's "schemas". */
static void drop_schema_urn(json_t *resource, const char *urn)
{
    json_t *arr = json_object_get(resource, "schemas");
    for (size_t i = json_array_size(arr); i-- > 0;)
        if (util_streq_ci(json_string_value(json_array_get(arr, i)), urn))
            json_array_remove(arr, i);
}

/* The resource type a rendered resource declares in "schemas" (User if none). */
static const struct scim_resource_type *rt_of(const json_t *resource)
{
    json_t *arr = json_object_get(resource, "schemas");
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (util_streq_ci(json_string_value(json_array_get(arr, i)), SCIM_SCHEMA_GROUP))
            return &scim_rt_group;
    return &scim_rt_user;
}

static const struct scim_schema *ext_of(const struct scim_resource_type *rt,
                                        const char *key)
{
    for (const struct scim_schema *const *e = rt->extensions; *e; e++)
        if (util_streq_ci((*e)->id, key))
            return *e;
    return NULL;
}

void scim_projection_apply(const struct scim_projection *p, json_t *resource)
{
    if (!json_is_object(resource))
        return;
    const struct scim_resource_type *rt = p ? p->rt : rt_of(resource);
    const char *key;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(resource, tmp, key, val)
    {
        const struct scim_schema *ext = ext_of(rt, key);
        bool urn = ext || util_has_prefix_ci(key, "urn:"), keep;
        if (util_streq_ci(key, "schemas"))
            keep = true;
        else if (ext)
            keep = project_ext(p, ext, val);
        else if (urn)
            keep = project_unknown(p, key, val);
        else
            keep = project_attr(p, rt->schema, core_attr(rt, key), key, val);
        if (keep)
            continue;
        if (urn)
            drop_schema_urn(resource, key);
        json_object_del(resource, key);
    }
}

/* Whether an unknown-URN path survives the projection. */
static bool wants_unknown(const struct scim_projection *p, const char *path)
{
    if (raw_names_whole(&p->excluded, path))
        return false;
    if (!p->has_attrs)
        return true;
    for (size_t i = 0; i < p->attrs.n; i++) {
        const struct proj_entry *e = &p->attrs.v[i];
        const char *rest;
        if (e->raw && (util_streq_ci(e->raw, path) || raw_after(e, path) ||
                       urn_prefix(path, e->raw, &rest)))
            return true;
    }
    return false;
}

static bool wants_entry(const struct scim_projection *p, const struct proj_entry *e)
{
    if (!e->schema)
        return !p || wants_unknown(p, e->raw);
    if (!e->attr) {
        for (size_t i = 0; p && i < p->excluded.n; i++)
            if (p->excluded.v[i].schema == e->schema && !p->excluded.v[i].attr)
                return false;
        for (size_t i = 0; p && p->has_attrs && i < p->attrs.n; i++)
            if (p->attrs.v[i].schema == e->schema)
                return true;
        return !p || !p->has_attrs;
    }
    const struct scim_resource_type *rt = p ? p->rt : &scim_rt_user;
    const struct scim_attr *a = e->schema == rt->schema
                                    ? core_attr(rt, e->attr)
                                    : attr_in(e->schema->attrs, e->attr);
    const struct scim_attr *sd = e->sub ? scim_attr_sub(a, e->sub) : NULL;
    enum scim_returned r = a ? a->returned : SCIM_RET_DEFAULT;
    enum scim_returned sr = sd ? sd->returned : SCIM_RET_DEFAULT;
    if (r == SCIM_RET_NEVER || sr == SCIM_RET_NEVER)
        return false;
    if (r == SCIM_RET_ALWAYS)
        return true;
    if (p && p->has_attrs) {
        enum named n = named(&p->attrs, e->schema, e->attr);
        if (n == NAMED_NONE || (n == NAMED_SUBS && e->sub &&
                                !sub_named(&p->attrs, e->schema, e->attr, e->sub)))
            return false;
    } else if (r == SCIM_RET_REQUEST || sr == SCIM_RET_REQUEST) {
        return false;
    }
    if (!p)
        return true;
    enum named x = named(&p->excluded, e->schema, e->attr);
    return !(x == NAMED_WHOLE || (x == NAMED_SUBS && e->sub &&
                                  sub_named(&p->excluded, e->schema, e->attr, e->sub)));
}

bool scim_projection_wants(const struct scim_projection *p, const char *path)
{
    if (!path)
        return false;
    if (util_streq_ci(path, "schemas"))
        return true;
    const struct scim_resource_type *rt = p ? p->rt : &scim_rt_user;
    struct proj_entry e;
    /* A path that does not parse cannot be trimmed away: report it wanted. */
    bool wanted = !parse_entry(rt, path, &e) || wants_entry(p, &e);
    entry_clear(&e);
    return wanted;
}
