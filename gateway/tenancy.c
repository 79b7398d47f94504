/*
 * tenancy.c - organizations and SCIM tokens: validation, SQL, JSON.
 */
#include "tenancy.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ids.h"
#include "pg_query.h"
#include "util.h"

const char *const tenancy_sql_org_insert =
    "WITH o AS (INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)"
    " RETURNING *), c AS (INSERT INTO event_counters (org_id) SELECT id FROM o)"
    " SELECT " TENANCY_ORG_COLUMNS " FROM o";

const char *const tenancy_sql_org_get =
    "SELECT " TENANCY_ORG_COLUMNS " FROM organizations o WHERE o.id = $1 AND o.deleted_at IS NULL";

const char *const tenancy_sql_org_list =
    "SELECT " TENANCY_ORG_COLUMNS " FROM organizations o"
    " WHERE o.deleted_at IS NULL AND o.id > $1 ORDER BY o.id LIMIT $2";

const char *const tenancy_sql_org_delete =
    "UPDATE organizations SET deleted_at = now(), updated_at = now()"
    " WHERE id = $1 AND deleted_at IS NULL RETURNING id";

const char *const tenancy_sql_org_revoke_tokens =
    "WITH r AS (UPDATE scim_tokens SET revoked_at = coalesce(revoked_at, now())"
    " WHERE org_id = $1 RETURNING token_hash)"
    " SELECT count(pg_notify('" AUTH_CHANNEL "', token_hash)) FROM r";

const char *const tenancy_sql_token_insert =
    "INSERT INTO scim_tokens AS t (org_id, id, name, prefix, token_hash, scopes, expires_at,"
    " rate_per_sec, burst)"
    " SELECT o.id, $2, $3, $4, $5, string_to_array($6, ' '),"
    " to_timestamp($7::bigint / 1000.0), $8::double precision, $9::integer"
    " FROM organizations o WHERE o.id = $1 AND o.deleted_at IS NULL"
    " RETURNING " TENANCY_TOKEN_COLUMNS;

const char *const tenancy_sql_token_list =
    "SELECT " TENANCY_TOKEN_COLUMNS " FROM scim_tokens t JOIN organizations o ON o.id = t.org_id"
    " WHERE t.org_id = $1 AND o.deleted_at IS NULL ORDER BY t.id";

const char *const tenancy_sql_token_revoke =
    "WITH r AS (UPDATE scim_tokens t SET revoked_at = coalesce(t.revoked_at, now())"
    " FROM organizations o WHERE o.id = t.org_id AND o.deleted_at IS NULL"
    " AND t.org_id = $1 AND t.id = $2 RETURNING t.*),"
    " n AS (SELECT pg_notify('" AUTH_CHANNEL "', token_hash) FROM r)"
    " SELECT " TENANCY_TOKEN_COLUMNS ", (SELECT count(*) FROM n) FROM r t";

#define bad(err, fmt, what) scim_error_set((err), 400, NULL, fmt, what)

static bool valid_slug(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return true;
}

static bool text_field(const json_t *body, const char *key, bool required, size_t max,
                       const char **out, struct scim_error *err)
{
    const json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return bad(err, "\"%s\" is required.", key);
        return true;
    }
    if (!json_is_string(v))
        return bad(err, "\"%s\" must be a string.", key);
    size_t n = json_string_length(v);
    if (n == 0 || n > max || strlen(json_string_value(v)) != n)
        return scim_error_set(err, 400, NULL, "\"%s\" must have 1 to %zu characters.", key,
                              max);
    *out = json_string_value(v);
    return true;
}

bool tenancy_parse_org(const json_t *body, struct tenancy_org_input *out,
                       struct scim_error *err)
{
    if (!text_field(body, "name", true, 200, &out->name, err) ||
        !text_field(body, "slug", false, 64, &out->slug, err))
        return false;
    if (out->slug && !valid_slug(out->slug))
        return bad(err, "\"%s\" may hold lower-case letters, digits and '-' only.", "slug");
    return true;
}

static bool parse_scopes(const json_t *v, struct tenancy_token_input *out,
                         struct scim_error *err)
{
    out->all_scopes = !v || json_is_null(v);
    out->scopes[0] = '\0';
    if (out->all_scopes)
        return true;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(err, "\"%s\" must be null (every scope) or a non-empty array.", "scopes");
    size_t i, used = 0;
    json_t *s;
    unsigned bits;
    json_array_foreach(v, i, s) {
        const char *name = json_string_value(s);
        if (!name || !auth_parse_scopes(name, &bits) || bits == 0 || strchr(name, ' '))
            return scim_error_set(err, 400, NULL,
                                  "Unknown scope at scopes[%zu]; use get:users, post:users, "
                                  "put:users, patch:users, delete:users and the same for groups.",
                                  i);
        size_t n = strlen(name);
        if (used + n + 2 > sizeof out->scopes)
            return bad(err, "\"%s\" lists too many entries.", "scopes");
        if (used)
            out->scopes[used++] = ' ';
        memcpy(out->scopes + used, name, n + 1);
        used += n;
    }
    return true;
}

static bool parse_expiry(const json_t *v, int64_t now_ms, int64_t *out, struct scim_error *err)
{
    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (!json_is_string(v) || !util_parse_rfc3339(json_string_value(v), out))
        return bad(err, "\"%s\" must be null, Unix milliseconds or an RFC 3339 time.",
                   "expires_at");
    if (*out <= now_ms || *out > 32503680000000LL)
        return bad(err, "\"%s\" must be in the future.", "expires_at");
    return true;
}

bool tenancy_parse_token(const json_t *body, int64_t now_ms, struct tenancy_token_input *out,
                         struct scim_error *err)
{
    memset(out, 0, sizeof *out);
    if (!text_field(body, "name", true, 200, &out->name, err) ||
        !parse_scopes(json_object_get(body, "scopes"), out, err) ||
        !parse_expiry(json_object_get(body, "expires_at"), now_ms, &out->expires_at_ms, err))
        return false;
    const json_t *rate = json_object_get(body, "rate_per_second");
    if (rate && !json_is_null(rate)) {
        double r = json_number_value(rate);
        if (!json_is_number(rate) || !(r > 0 && r <= 1e6))
            return bad(err, "\"%s\" must be a positive number.", "rate_per_second");
        out->rate_per_sec = r;
    }
    const json_t *burst = json_object_get(body, "burst");
    if (burst && !json_is_null(burst)) {
        json_int_t b = json_integer_value(burst);
        if (!json_is_integer(burst) || b < 1 || b > 1000000)
            return bad(err, "\"%s\" must be a positive integer.", "burst");
        out->burst = (int)b;
    }
    return true;
}

static json_t *ms_or_null(const PGresult *r, int row, int col)
{
    return pg_is_null(r, row, col) ? json_null() : json_integer(pg_value_int(r, row, col));
}

static json_t *text_or_null(const PGresult *r, int row, int col)
{
    const char *v = pg_value(r, row, col);
    return v ? json_string(v) : json_null();
}

json_t *tenancy_org_json(const PGresult *r, int row)
{
    return json_pack("{s:o,s:s,s:o,s:o,s:o,s:o}", "id", text_or_null(r, row, 0), "object",
                     "organization", "name", text_or_null(r, row, 1), "slug",
                     text_or_null(r, row, 2), "created_at", ms_or_null(r, row, 3),
                     "updated_at", ms_or_null(r, row, 4));
}

json_t *tenancy_token_json(const PGresult *r, int row)
{
    json_t *scopes;
    if (pg_value_bool(r, row, 5)) {
        scopes = json_null();
    } else {
        unsigned bits = 0;
        if (!auth_parse_scopes(pg_value(r, row, 4) ? pg_value(r, row, 4) : "", &bits))
            bits = 0;
        scopes = auth_scopes_json(bits);
    }
    json_t *rate = pg_is_null(r, row, 9) ? json_null()
                                         : json_real(strtod(pg_value(r, row, 9), NULL));
    return json_pack("{s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id",
                     text_or_null(r, row, 0), "object", "scim_token", "organization_id",
                     text_or_null(r, row, 1), "name", text_or_null(r, row, 2), "prefix",
                     text_or_null(r, row, 3), "scopes", scopes, "expires_at",
                     ms_or_null(r, row, 6), "created_at", ms_or_null(r, row, 7), "revoked_at",
                     ms_or_null(r, row, 8), "rate_per_second", rate, "burst",
                     ms_or_null(r, row, 10));
}

void tenancy_new_token(char *id, char *secret, char *prefix, char *hash)
{
    ids_new("scimt_", id);
    auth_new_secret("scim_", secret, prefix, hash);
}
