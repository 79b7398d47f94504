/*
 * scim_filter.h - SCIM filters (RFC 7644 section 3.4.2.2) and attribute paths:
 * parsed into a tree, evaluated in memory against JSON, and compiled into a
 * parameterised SQL boolean expression over a resource table.
 *
 * Pure: no I/O. Values never enter SQL text; they become $n parameters.
 */
#ifndef SCIMGATE_SCIM_FILTER_H
#define SCIMGATE_SCIM_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "scim_error.h"
#include "scim_schema.h"
#include "util.h"

/* Inputs longer or deeper than these are refused (400 invalidFilter). */
#define SCIM_FILTER_MAX_LEN 8192
#define SCIM_FILTER_MAX_DEPTH 64

enum scim_filter_op {
    SCIM_OP_EQ,         /* attr eq value */
    SCIM_OP_NE,         /* attr ne value */
    SCIM_OP_CO,         /* attr co value (contains) */
    SCIM_OP_SW,         /* attr sw value (starts with) */
    SCIM_OP_EW,         /* attr ew value (ends with) */
    SCIM_OP_PR,         /* attr pr (present: non-null, non-empty) */
    SCIM_OP_GT,         /* attr gt value */
    SCIM_OP_GE,         /* attr ge value */
    SCIM_OP_LT,         /* attr lt value */
    SCIM_OP_LE,         /* attr le value */
    SCIM_OP_AND,        /* left and right */
    SCIM_OP_OR,         /* left or right */
    SCIM_OP_NOT,        /* not (left) */
    SCIM_OP_VALUE_PATH, /* path[left]: some element of multi-valued path matches left */
};

/* An attribute path: [URN ":"] attr ["." sub]. */
struct scim_attr_path {
    char *urn;                         /* schema URN as written, or NULL */
    char *attr;                        /* attribute name as written */
    char *sub;                         /* sub-attribute as written, or NULL */
    const struct scim_schema *schema;  /* resolved schema, or NULL if unknown */
    const struct scim_attr *attr_def;  /* resolved attribute, or NULL if unknown */
    const struct scim_attr *sub_def;   /* resolved sub-attribute, or NULL */
    bool in_extension;                 /* the attribute sits under its schema URN key in
                                        * the document (a known extension, or any URN
                                        * other than a core one), not at the top level */
};

/* A node of the filter tree; owns its children, path strings and value. */
struct scim_filter {
    enum scim_filter_op op;
    struct scim_attr_path path; /* comparisons, PR and VALUE_PATH */
    json_t *value;              /* comparison value: string, number, true, false or null */
    struct scim_filter *left;   /* AND/OR/NOT operand; VALUE_PATH element filter */
    struct scim_filter *right;  /* AND/OR second operand */
};

/* Parses a filter. rt resolves attribute names (case-insensitively, with the
 * implicit core schema and rt's extensions) so that case rules and types are
 * known; rt may be NULL for an untyped parse. Within a value path, the inner
 * filter's paths name sub-attributes of the outer attribute. Returns a new
 * tree, or NULL with err set (400 invalidFilter, detail naming the position). */
struct scim_filter *scim_filter_parse(const char *text, const struct scim_resource_type *rt,
                                      struct scim_error *err);
void scim_filter_free(struct scim_filter *f);

/* Evaluates f against a resource (or, for the inner filter of a value path, an
 * element of a multi-valued attribute) using the attribute's case rules. */
bool scim_filter_match(const struct scim_filter *f, const json_t *obj);

/* A PATCH path (RFC 7644 section 3.5.2): attrPath, or valuePath with an
 * optional sub-attribute after the filter ("emails[type eq \"work\"].value"). */
struct scim_patch_path {
    struct scim_attr_path attr;       /* the attribute (with .sub when no filter) */
    struct scim_filter *filter;       /* the [filter], or NULL */
    char *sub_after;                  /* sub-attribute after "]", or NULL */
    const struct scim_attr *sub_after_def;
};
/* Parses a PATCH path; NULL-free on failure, err set (400 invalidPath). */
bool scim_patch_path_parse(const char *text, const struct scim_resource_type *rt,
                           struct scim_patch_path *out, struct scim_error *err);
void scim_patch_path_clear(struct scim_patch_path *p);

/* SQL compilation -------------------------------------------------------- */

/* How an attribute path is stored. Paths not listed are read from the jsonb
 * document (see scim_schema.h for its layout). */
enum scim_sql_kind {
    SCIM_SQL_TEXT,      /* text column; caseExact=false compares lower(expr) with lower($n) */
    SCIM_SQL_BOOL,      /* boolean column */
    SCIM_SQL_TIMESTAMP, /* timestamptz column; the value must be an xsd:dateTime */
    SCIM_SQL_EXISTS,    /* rows of another table: expr is a template with one %s where
                         * the condition on inner_expr goes, e.g.
                         * "EXISTS (SELECT 1 FROM group_members m WHERE m.org_id = g.org_id
                         *  AND m.group_id = g.id AND %s)" */
};

struct scim_sql_column {
    const char *path;       /* canonical attribute path, e.g. "meta.created"; NULL ends */
    enum scim_sql_kind kind;
    const char *expr;       /* column expression, or the EXISTS template */
    const char *inner_expr; /* SCIM_SQL_EXISTS: the text column compared inside */
    bool case_exact;        /* how the column compares, overriding nothing else */
};

struct scim_sql_map {
    const struct scim_resource_type *rt;
    const char *doc_expr;                   /* the jsonb document, e.g. "u.doc" */
    const struct scim_sql_column *columns;  /* terminated by a NULL path */
};

/* The compiled expression and its parameters (text values, NULL for SQL NULL). */
struct scim_sql {
    struct strbuf where; /* boolean SQL expression using $first.. $first+nparams-1 */
    char **params;       /* owned strings */
    size_t nparams;
};

/* Compiles f into out->where, appending parameters numbered from first_param.
 * Column kinds use their index-friendly form (userName eq → lower(col) =
 * lower($n) when not case-exact; id eq → col = $n). Everything else becomes a
 * jsonb expression that cannot raise a runtime error whatever the stored data
 * (no casts of stored text). Returns false with err set (400 invalidFilter)
 * for a comparison the attribute's type does not allow. */
bool scim_filter_to_sql(const struct scim_filter *f, const struct scim_sql_map *map,
                        int first_param, struct scim_sql *out, struct scim_error *err);
/* An ORDER BY expression for sortBy (RFC 7644 section 3.4.2.3). */
bool scim_filter_sort_sql(const char *sort_by, const struct scim_sql_map *map,
                          struct strbuf *out, struct scim_error *err);
void scim_sql_clear(struct scim_sql *sql);

/*
 * Semantics shared by scim_filter_match and scim_filter_to_sql (the SQL is
 * written so that both give the same answer for the same resource):
 *
 * - A comparison holds when some value at its path satisfies it. The values of
 *   "emails.value" are the "value" of every element of "emails"; a missing
 *   attribute has no values, so every comparison on it is false, "ne"
 *   included. "not" is plain negation: "not (title eq \"x\")" matches a user
 *   without a title. In SQL, NULL is "does not match" and "not" is written
 *   "(...) IS NOT TRUE", so callers may embed the expression as it is:
 *   "... WHERE u.org_id = $1 AND <where>".
 * - "pr" holds for a value that is not null, "", [] or {}. "eq null" is "not
 *   pr", "ne null" is "pr".
 * - A comparison without sub-attribute on a complex attribute with a "value"
 *   sub-attribute applies to "value" ("emails co \"x\""); the parser stores
 *   it with sub "value".
 * - Strings compare by the attribute's caseExact (unknown attributes: not
 *   case-exact), ASCII case folding (SQL lower() folds more letters when the
 *   database locale does), ordering by bytes (COLLATE "C"). dateTime compares
 *   as instants at millisecond precision; numbers numerically; booleans with
 *   eq and ne only. A stored value of another JSON type never matches.
 * - "attr[filter]": some element of attr satisfies filter (the attribute
 *   itself when it is not an array). "attr[filter].sub op value" (Microsoft
 *   Entra ID) is parsed as "attr[filter and sub op value]".
 *
 * scim_filter_to_sql details:
 * - out is normally zero-initialised; where text and parameters are appended,
 *   parameter k (0-based, of this call) is $(first_param + k). On failure out
 *   is left as it was.
 * - TIMESTAMP columns: the stored instant truncated to milliseconds is
 *   compared, written as ranges on the bare column ("gt T" becomes
 *   "col >= $n::timestamptz" with T + 1 ms), so the (org_id, col) indexes
 *   serve and a client comparing with the lastModified it was shown gets
 *   consistent answers.
 * - Refused with 400 invalidFilter: attributes kept out of the document
 *   (readOnly core attributes such as id, meta and groups, and password) that
 *   the map has no column for; comparisons of dateTime attributes stored in the
 *   document (none in the core and enterprise schemas); inside "members[...]"
 *   only sub-attributes mapped with the same EXISTS template.
 * - Numbers in the document compare as jsonb numerics against the filter's
 *   value rendered by jansson (reals with 17 significant digits). That matches
 *   scim_filter_match (doubles) when the document was written with
 *   json_dumps at its default real precision, as a jansson round trip does;
 *   a document stored from other text may hold decimals that differ.
 * - Every parameter is text: bare for text comparisons, otherwise cast in the
 *   SQL ($n::boolean, $n::timestamptz, $n::jsonb). Stored jsonb is read with
 *   ->, ->>, #>> '{}' and jsonb_path_query in lax mode and compared as jsonb,
 *   so no stored document can make the statement fail.
 *
 * scim_filter_sort_sql details: writes only the expression; the caller adds
 * "ASC"/"DESC", "NULLS LAST" and a tiebreaker ("u.id"). A multi-valued
 * attribute sorts by its primary value, else its first. Errors are 400
 * invalidPath (the RFC has no sortBy error type; the value is a path):
 * malformed or unknown paths, complex attributes without "value",
 * EXISTS-mapped and server-side attributes without a column.
 *
 * The maps the unit tests use, recommended for the handlers:
 *
 *   #define GROUPS_EXISTS "EXISTS (SELECT 1 FROM group_members m WHERE " \
 *       "m.org_id = u.org_id AND m.member_id = u.id AND %s)"
 *   static const struct scim_sql_column user_columns[] = {
 *       {"id", SCIM_SQL_TEXT, "u.id", NULL, true},
 *       {"userName", SCIM_SQL_TEXT, "u.user_name", NULL, false},
 *       {"externalId", SCIM_SQL_TEXT, "u.external_id", NULL, true},
 *       {"active", SCIM_SQL_BOOL, "u.active", NULL, false},
 *       {"meta.created", SCIM_SQL_TIMESTAMP, "u.created_at", NULL, false},
 *       {"meta.lastModified", SCIM_SQL_TIMESTAMP, "u.updated_at", NULL, false},
 *       {"groups.value", SCIM_SQL_EXISTS, GROUPS_EXISTS, "m.group_id", false},
 *       {NULL},
 *   };
 *   const struct scim_sql_map users = {&scim_rt_user, "u.doc", user_columns};
 *
 *   #define MEMBERS_EXISTS "EXISTS (SELECT 1 FROM group_members m WHERE " \
 *       "m.org_id = g.org_id AND m.group_id = g.id AND %s)"
 *   static const struct scim_sql_column group_columns[] = {
 *       {"id", SCIM_SQL_TEXT, "g.id", NULL, true},
 *       {"displayName", SCIM_SQL_TEXT, "g.display_name", NULL, false},
 *       {"externalId", SCIM_SQL_TEXT, "g.external_id", NULL, true},
 *       {"meta.created", SCIM_SQL_TIMESTAMP, "g.created_at", NULL, false},
 *       {"meta.lastModified", SCIM_SQL_TIMESTAMP, "g.updated_at", NULL, false},
 *       {"members.value", SCIM_SQL_EXISTS, MEMBERS_EXISTS, "m.member_id", true},
 *       {"members.type", SCIM_SQL_EXISTS, MEMBERS_EXISTS, "m.member_type", false},
 *       {NULL},
 *   };
 *   const struct scim_sql_map groups = {&scim_rt_group, "g.doc", group_columns};
 *
 * Keep each column's case_exact equal to the attribute's caseExact so that
 * SQL and in-memory evaluation agree (the tests check it for these maps).
 * The maps assume the users query names the table "u" and the groups query
 * "g"; "e1", "e2", ... are used for jsonb elements inside subqueries.
 */

#endif
