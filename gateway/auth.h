/*
 * auth.h - who is calling: SCIM bearer tokens (which select the
 * organization) and admin secret keys.
 *
 * Secrets are never stored: the database holds the hex SHA-256 of each token
 * and key, and this process keeps a cache from that hash to what it grants.
 * A cache miss is one query, shared by every request that waits for the same
 * hash. Revocation, expiry and organization deletion take effect at once on
 * every process: the change's transaction runs pg_notify('scimgate_auth',
 * <hash>) and each process's listener connection drops that entry; when the
 * listener is not connected (and so might miss a notification) the cache is
 * bypassed. Expiry is checked against the clock on every request.
 */
#ifndef SCIMGATE_AUTH_H
#define SCIMGATE_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway.h"

struct request;

/* Scope bits, named as Auth0 names them. */
enum auth_scope {
    SCOPE_GET_USERS = 1 << 0,      /* "get:users" */
    SCOPE_POST_USERS = 1 << 1,     /* "post:users" */
    SCOPE_PUT_USERS = 1 << 2,      /* "put:users" */
    SCOPE_PATCH_USERS = 1 << 3,    /* "patch:users" */
    SCOPE_DELETE_USERS = 1 << 4,   /* "delete:users" */
    SCOPE_GET_GROUPS = 1 << 5,     /* "get:groups" */
    SCOPE_POST_GROUPS = 1 << 6,    /* "post:groups" */
    SCOPE_PUT_GROUPS = 1 << 7,     /* "put:groups" */
    SCOPE_PATCH_GROUPS = 1 << 8,   /* "patch:groups" */
    SCOPE_DELETE_GROUPS = 1 << 9,  /* "delete:groups" */
};
#define SCOPE_ALL 0x3ffu

/* The NOTIFY channel of invalidations (payload: a hash, or "*" for all). */
#define AUTH_CHANNEL "scimgate_auth"

/* What a SCIM token grants, as cached. */
struct auth_grant {
    char org_id[40];
    char token_id[40];
    char prefix[32];
    unsigned scopes;        /* enum auth_scope bits */
    double rate_per_sec;    /* per-token override, 0 = default */
    int burst;              /* per-token override, 0 = default */
};

struct auth *auth_create(struct gateway *gw);
void auth_free(struct auth *a);

/* Checks req's credentials for its route (SCIM token or admin key). On success
 * fills req->org_id / token_id / token_prefix / scopes / rate_per_sec / burst
 * and calls
 * server_dispatch_authenticated(req); on failure replies 401/403/429/503
 * itself. May finish before returning or later from the loop. */
void auth_check(struct request *req);

/* The secret of an Authorization header value ("Bearer <secret>", or a bare
 * scim_ token): a pointer into h and its length, or NULL when h is absent or
 * malformed (empty, over 200 characters, spaces or control characters). */
const char *auth_bearer_secret(const char *h, size_t *len);

/* Parses "get:users post:groups" (space or comma separated) into bits; false
 * for an unknown name. An empty list is 0. */
bool auth_parse_scopes(const char *text, unsigned *out);
/* Bits -> JSON array of names (new reference). */
json_t *auth_scopes_json(unsigned scopes);

/* Generates a new secret: prefix ("scim_" or "sk_") + 52 base32 characters
 * carrying 256 random bits. out must hold 64 bytes. The display prefix (the
 * first 13 characters) goes to display_out (32 bytes) and the hex SHA-256 to
 * hash_out (65 bytes). */
void auth_new_secret(const char *prefix, char *out, char *display_out, char *hash_out);

/* Makes sure an admin key exists, retrying until the database answers: the
 * configured SCIMGATE_ADMIN_KEY is registered (by hash), or, when none is
 * configured and the database has no admin key yet, one is generated and
 * printed once on stdout. */
void auth_bootstrap_admin_key(struct auth *a);
/* The bootstrap key is stored (/readyz waits for it). */
bool auth_bootstrapped(const struct auth *a);
/* A first attempt to store it has finished (it fails until migrations ran). */
bool auth_bootstrap_tried(const struct auth *a);


/* Drops a cached hash ("*" = everything); used by the NOTIFY listener. */
void auth_invalidate(struct auth *a, const char *hash);
/* The listener connection is up (cache trusted) or down (cache bypassed). */
void auth_set_listening(struct auth *a, bool up);

#endif
