/*
 * tenancy.h - organizations and SCIM tokens as data: input validation, the
 * SQL that reads and writes them, and their JSON shapes (API.md). Shared by
 * the admin HTTP API (admin.c, asynchronous) and the operator CLI (cli.c,
 * blocking), so both speak exactly the same language.
 */
#ifndef SCIMGATE_TENANCY_H
#define SCIMGATE_TENANCY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "scim_error.h"

/* Column list every organization query returns, in this order. */
#define TENANCY_ORG_COLUMNS                                                              \
    "o.id, o.name, o.slug, (extract(epoch FROM o.created_at) * 1000)::bigint,"          \
    " (extract(epoch FROM o.updated_at) * 1000)::bigint"
/* Column list every token query returns, in this order. */
#define TENANCY_TOKEN_COLUMNS                                                            \
    "t.id, t.org_id, t.name, t.prefix, array_to_string(t.scopes, ' '), t.scopes IS NULL," \
    " (extract(epoch FROM t.expires_at) * 1000)::bigint,"                               \
    " (extract(epoch FROM t.created_at) * 1000)::bigint,"                               \
    " (extract(epoch FROM t.revoked_at) * 1000)::bigint, t.rate_per_sec, t.burst"

/* $1 id, $2 name, $3 slug (or NULL). Returns the organization. */
extern const char *const tenancy_sql_org_insert;
/* $1 id. */
extern const char *const tenancy_sql_org_get;
/* $1 cursor id ("" = from the start), $2 limit+1. */
extern const char *const tenancy_sql_org_list;
/* $1 id. Two statements (run them in one segment): soft-deletes the
 * organization (returns its id), then revokes its tokens and notifies every
 * process. */
extern const char *const tenancy_sql_org_delete;
extern const char *const tenancy_sql_org_revoke_tokens;

/* $1 org, $2 id, $3 name, $4 prefix, $5 hash, $6 scopes (space-separated or
 * NULL), $7 expires_at ms (or NULL), $8 rate (or NULL), $9 burst (or NULL).
 * Inserts only into a live organization; returns the token row. */
extern const char *const tenancy_sql_token_insert;
/* $1 org. */
extern const char *const tenancy_sql_token_list;
/* $1 org, $2 token id: revokes (idempotent), notifies, returns the row. */
extern const char *const tenancy_sql_token_revoke;

struct tenancy_org_input {
    const char *name;  /* borrowed from the body */
    const char *slug;  /* borrowed, or NULL */
};

struct tenancy_token_input {
    const char *name;       /* borrowed */
    char scopes[256];       /* space-separated names, "" = every scope */
    bool all_scopes;        /* scopes was null or absent */
    int64_t expires_at_ms;  /* 0 = never */
    double rate_per_sec;    /* 0 = the process default */
    int burst;              /* 0 = the process default */
};

/* Validate request bodies (400 invalid_request with a detail on failure). */
bool tenancy_parse_org(const json_t *body, struct tenancy_org_input *out,
                       struct scim_error *err);
bool tenancy_parse_token(const json_t *body, int64_t now_ms, struct tenancy_token_input *out,
                         struct scim_error *err);

/* Row (TENANCY_*_COLUMNS order) -> API object (new reference). */
json_t *tenancy_org_json(const PGresult *r, int row);
json_t *tenancy_token_json(const PGresult *r, int row);

/* Generates a token for input: fills id, the secret, its display prefix and
 * hash (sizes as in auth_new_secret). */
void tenancy_new_token(char *id, char *secret, char *prefix, char *hash);

#endif
