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

#define F_MULTI 1u  /* multiValued */
#define F_REQ 2u    /* required */
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
#define BOOL(n, desc) ATTR(n, BOOLEAN, 0, READ_WRITE, DEFAULT, NONE, NULL, NULL, NULL, desc)
#define ATTR_END                                                                         \
    {                                                                                    \
        .name = NULL                                                                     \
    }

static const char *const ref_external[] = {"external", NULL};
static const char *const ref_uri[] = {"uri", NULL};
static const char *const ref_user[] = {"User", NULL};
static const char *const ref_user_group[] = {"User", "Group", NULL};

static const char *const types_email[] = {"work", "home", "other", NULL};
static const char *const types_phone[] = {"work", "home", "mobile", "fax",
                                          "pager", "other", NULL};
static const char *const types_im[] = {"aim", "gtalk", "icq", "xmpp", "msn",
                                       "skype", "qq", "yahoo", NULL};
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
#define MV_SUBS(value_attr, types, type_desc)                                \
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
static const struct scim_attr entitlements_subs[] =
    MV_SUBS(STR("value", "An entitlement of the user."), NULL,
            "The kind of entitlement.");
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

static const struct scim_attr group_attrs[] = {
    ATTR("displayName", STRING, F_REQ, READ_WRITE, DEFAULT, NONE, NULL, NULL, NULL,
         "The name of the group, suitable for display. Required."),
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
