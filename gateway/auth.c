/*
 * auth.c - bearer-token and admin-key authentication with a shared cache.
 *
 * The cache maps "s:<sha256>" (SCIM tokens) and "a:<sha256>" (admin keys) to
 * entries that are LOADING (one query in flight, requests waiting on it),
 * VALID (a grant) or INVALID (unknown, revoked, or of a deleted organization).
 * Failed attempts are counted per client address and answered with 429 once
 * an address fails too often, before any lookup.
 */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>


#include "hmap.h"
#include "ids.h"
#include "metrics.h"
#include "log.h"
#include "pg_pool.h"
#include "request.h"
#include "router.h"
#include "server.h"
#include "util.h"

#define MAX_SECRET_LEN 200
#define POSITIVE_TTL_MS (5 * 60 * 1000)
#define NEGATIVE_TTL_MS (60 * 1000)
#define MAX_ENTRIES 100000
#define FAIL_WINDOW_MS 10000
#define FAIL_LIMIT 30
#define MAX_FAIL_ADDRS 50000

enum entry_state {
    ENTRY_LOADING, /* a lookup is in flight; waiters queued */
    ENTRY_VALID,   /* grant usable (subject to expiry) */
    ENTRY_INVALID, /* lookup found nothing usable */
};

struct entry {
    char key[80];            /* "s:<hash>" or "a:<hash>" */
    enum entry_state state;
    struct auth_grant grant;
    int64_t expires_ms;      /* token expiry, 0 = never */
    int64_t cached_ms;       /* when the lookup finished */
    struct request **waiters;
    size_t nwaiters, capwaiters;
    bool dropped;            /* removed from the map while loading */
    unsigned gen;            /* listener generation when the lookup started */
};

struct fail_count {
    int64_t window_start;
    int count;
};

struct auth {
    struct gateway *gw;
    struct hmap *cache;      /* key -> struct entry */
    struct hmap *fails;      /* remote address -> struct fail_count */
    bool listening;          /* invalidations are being received */
    unsigned gen;            /* bumped whenever the listener goes down or up */
    char generated[96];      /* a bootstrap key not yet stored, or "" */
    char bootstrap_hash[65]; /* hash of the key being bootstrapped */
    bool bootstrapped;       /* the admin key is stored */
    bool bootstrap_tried;    /* a first attempt has finished, either way */
};

static const char *const scope_names[] = {
    "get:users",  "post:users",  "put:users",  "patch:users",  "delete:users",
    "get:groups", "post:groups", "put:groups", "patch:groups", "delete:groups",
};

struct auth *auth_create(struct gateway *gw)
{
    struct auth *a = xcalloc(1, sizeof *a);
    a->gw = gw;
    a->cache = hmap_create();
    a->fails = hmap_create();
    return a;
}

static void free_entry(const char *key, void *value, void *arg)
{
    struct entry *e = value;
    (void)key;
    (void)arg;
    if (e->state == ENTRY_LOADING) {
        e->dropped = true; /* freed when its lookup completes */
        return;
    }
    free(e->waiters);
    free(e);
}

static void free_value(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    hmap_each(a->cache, free_entry, NULL);
    hmap_free(a->cache);
    hmap_each(a->fails, free_value, NULL);
    hmap_free(a->fails);
    free(a);
}

bool auth_parse_scopes(const char *text, unsigned *out)
{
    unsigned bits = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, " ,");
        if (n == 0)
            break;
        bool found = false;
        for (size_t i = 0; i < ARRAY_LEN(scope_names); i++) {
            if (strlen(scope_names[i]) == n && strncmp(scope_names[i], p, n) == 0) {
                bits |= 1u << i;
                found = true;
            }
        }
        if (!found)
            return false;
        p += n;
    }
    *out = bits;
    return true;
}

json_t *auth_scopes_json(unsigned scopes)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_LEN(scope_names); i++)
        if (scopes & (1u << i))
            json_array_append_new(arr, json_string(scope_names[i]));
    return arr;
}

void auth_new_secret(const char *prefix, char *out, char *display_out, char *hash_out)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char rnd[33] = {0};
    util_random(rnd, 32);
    size_t plen = strlen(prefix);
    memcpy(out, prefix, plen);
    /* 256 bits -> 52 characters of 5 bits (the last carries one bit). */
    for (int i = 0; i < 52; i++) {
        int bit = i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)rnd[byte] << 8 | rnd[byte + 1]) >> (11 - shift);
        out[plen + (size_t)i] = b32[v & 31];
    }
    out[plen + 52] = '\0';
    snprintf(display_out, 32, "%.*s", (int)plen + 8, out);
    util_sha256_hex(out, strlen(out), hash_out);
}

void auth_set_listening(struct auth *a, bool up)
{
    a->listening = up;
    a->gen++; /* lookups that straddle this may have missed a NOTIFY */
    if (!up)
        auth_invalidate(a, "*");
}

static void drop_key(struct auth *a, const char *key)
{
    struct entry *e = hmap_del(a->cache, key);
    if (e)
        free_entry(key, e, NULL);
}

struct drop_ctx {
    char **keys;
    size_t n, cap;
};

static void collect_key(const char *key, void *value, void *arg)
{
    struct drop_ctx *d = arg;
    (void)value;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->keys = xrealloc(d->keys, d->cap * sizeof *d->keys);
    }
    d->keys[d->n++] = xstrdup(key);
}

void auth_invalidate(struct auth *a, const char *hash)
{
    if (strcmp(hash, "*") != 0) {
        char key[80];
        snprintf(key, sizeof key, "s:%s", hash);
        drop_key(a, key);
        snprintf(key, sizeof key, "a:%s", hash);
        drop_key(a, key);
        return;
    }
    struct drop_ctx d = {0};
    hmap_each(a->cache, collect_key, &d);
    for (size_t i = 0; i < d.n; i++) {
        drop_key(a, d.keys[i]);
        free(d.keys[i]);
    }
    free(d.keys);
}

/* ---- failures ---- */

static bool address_blocked(struct auth *a, const char *remote, int64_t now)
{
    struct fail_count *f = hmap_get(a->fails, remote);
    return f && now - f->window_start < FAIL_WINDOW_MS && f->count >= FAIL_LIMIT;
}

static void count_failure(struct auth *a, const char *remote, int64_t now)
{
    if (hmap_count(a->fails) >= MAX_FAIL_ADDRS) {
        hmap_each(a->fails, free_value, NULL);
        hmap_free(a->fails);
        a->fails = hmap_create();
    }
    struct fail_count *f = hmap_get(a->fails, remote);
    if (!f) {
        f = xcalloc(1, sizeof *f);
        hmap_put(a->fails, remote, f);
    }
    if (now - f->window_start >= FAIL_WINDOW_MS) {
        f->window_start = now;
        f->count = 0;
    }
    f->count++;
}

static void reply_unauthorized(struct request *req, bool had_credentials)
{
    struct auth *a = req->gw->auth;
    count_failure(a, req->remote, util_now_ms());
    request_add_header(req, "WWW-Authenticate",
                       had_credentials ? "Bearer realm=\"scimgate\", error=\"invalid_token\""
                                       : "Bearer realm=\"scimgate\"");
    request_fail(req, 401, NULL,
                 had_credentials ? "The bearer token is not valid."
                                 : "A bearer token is required (Authorization: Bearer ...).");
}

/* ---- the decision once an entry is known ---- */

static void decide(struct request *req, const struct entry *e)
{
    bool admin = e->key[0] == 'a';
    if (e->state != ENTRY_VALID || (e->expires_ms && util_now_ms() >= e->expires_ms)) {
        reply_unauthorized(req, true);
        return;
    }
    snprintf(req->org_id, sizeof req->org_id, "%s", admin ? "" : e->grant.org_id);
    snprintf(req->token_id, sizeof req->token_id, "%s", e->grant.token_id);
    snprintf(req->token_prefix, sizeof req->token_prefix, "%s", e->grant.prefix);
    req->scopes = e->grant.scopes;
    req->rate_per_sec = e->grant.rate_per_sec;
    req->burst = e->grant.burst;
    if (!admin && req->route->scope && !(req->scopes & req->route->scope)) {
        request_fail(req, 403, NULL, "This token's scopes do not allow this operation.");
        return;
    }
    server_dispatch_authenticated(req);
}

/* ---- lookups ---- */

static const char *const token_sql =
    "SELECT t.org_id, t.id, t.prefix, array_to_string(t.scopes, ' '), t.scopes IS NULL,"
    " (extract(epoch FROM t.expires_at) * 1000)::bigint,"
    " t.revoked_at IS NULL AND o.deleted_at IS NULL,"
    " coalesce(t.rate_per_sec, 0), coalesce(t.burst, 0), t.token_hash"
    " FROM scim_tokens t JOIN organizations o ON o.id = t.org_id"
    " WHERE t.token_hash = $1";

static const char *const admin_sql =
    "SELECT id, prefix, key_hash FROM admin_keys WHERE key_hash = $1 AND revoked_at IS NULL";

/* The index lookup compares hashes, never secrets; the stored hash is compared
 * again here in constant time so no comparison of ours depends on the data. */
static bool same_hash(const struct entry *e, const PGresult *r, int col)
{
    const char *stored = pg_value(r, 0, col);
    return stored && strlen(stored) == 64 && util_ct_equal(stored, e->key + 2, 64);
}

static void fill_token(struct entry *e, const PGresult *r)
{
    e->state = ENTRY_INVALID;
    if (PQntuples(r) != 1 || !pg_value_bool(r, 0, 6) || !same_hash(e, r, 9))
        return;
    struct auth_grant *g = &e->grant;
    snprintf(g->org_id, sizeof g->org_id, "%s", pg_value(r, 0, 0));
    snprintf(g->token_id, sizeof g->token_id, "%s", pg_value(r, 0, 1));
    snprintf(g->prefix, sizeof g->prefix, "%s", pg_value(r, 0, 2));
    unsigned scopes = SCOPE_ALL;
    if (!pg_value_bool(r, 0, 4) && !auth_parse_scopes(pg_value(r, 0, 3), &scopes))
        return;
    g->scopes = scopes;
    e->expires_ms = pg_value_int(r, 0, 5);
    g->rate_per_sec = strtod(pg_value(r, 0, 7), NULL);
    g->burst = (int)pg_value_int(r, 0, 8);
    e->state = ENTRY_VALID;
}

static void fill_admin(struct entry *e, const PGresult *r)
{
    e->state = ENTRY_INVALID;
    if (PQntuples(r) != 1 || !same_hash(e, r, 2))
        return;
    snprintf(e->grant.token_id, sizeof e->grant.token_id, "%s", pg_value(r, 0, 0));
    snprintf(e->grant.prefix, sizeof e->grant.prefix, "%s", pg_value(r, 0, 1));
    e->grant.scopes = SCOPE_ALL;
    e->state = ENTRY_VALID;
}

static void lookup_done(struct pg_query *q, void *arg)
{
    struct entry *e = arg;
    bool ok = pg_query_status(q) == PG_OK;
    if (ok) {
        if (e->key[0] == 's')
            fill_token(e, pg_query_result(q, 0));
        else
            fill_admin(e, pg_query_result(q, 0));
        e->cached_ms = util_now_ms();
    }
    struct request **waiters = e->waiters;
    size_t n = e->nwaiters;
    e->waiters = NULL;
    e->nwaiters = e->capwaiters = 0;
    struct request *first = n ? waiters[0] : NULL;
    struct auth *a = first ? first->gw->auth : NULL;
    bool keep = ok && !e->dropped && a && a->listening && e->gen == a->gen;
    if (!keep && a && !e->dropped)
        hmap_del(a->cache, e->key);
    for (size_t i = 0; i < n; i++) {
        if (ok)
            decide(waiters[i], e);
        else
            request_fail_unavailable(waiters[i]);
    }
    free(waiters);
    if (!keep)
        free(e);
}

static void add_waiter(struct entry *e, struct request *req)
{
    if (e->nwaiters == e->capwaiters) {
        e->capwaiters = e->capwaiters ? e->capwaiters * 2 : 4;
        e->waiters = xrealloc(e->waiters, e->capwaiters * sizeof *e->waiters);
    }
    e->waiters[e->nwaiters++] = req;
}

static bool fresh(const struct auth *a, const struct entry *e, int64_t now)
{
    if (!a->listening)
        return false;
    int64_t ttl = e->state == ENTRY_VALID ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS;
    return now - e->cached_ms < ttl;
}

static void lookup(struct request *req, const char *key, const char *hash)
{
    struct auth *a = req->gw->auth;
    int64_t now = util_now_ms();
    struct entry *e = hmap_get(a->cache, key);
    if (e && e->state != ENTRY_LOADING && fresh(a, e, now)) {
        decide(req, e);
        return;
    }
    if (e && e->state == ENTRY_LOADING) {
        add_waiter(e, req);
        return;
    }
    if (e)
        drop_key(a, key);
    if (hmap_count(a->cache) >= MAX_ENTRIES)
        auth_invalidate(a, "*");
    e = xcalloc(1, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    e->state = ENTRY_LOADING;
    e->gen = a->gen;
    add_waiter(e, req);
    hmap_put(a->cache, key, e);
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, key[0] == 's' ? token_sql : admin_sql);
    pg_query_param(q, hash);
    request_set_state(req, REQ_AUTH);
    pg_pool_submit(req->gw->pool, q, lookup_done, e);
}

const char *auth_bearer_secret(const char *h, size_t *len)
{
    *len = 0;
    if (!h)
        return NULL;
    while (*h == ' ')
        h++;
    if (util_has_prefix_ci(h, "Bearer ")) {
        h += 7;
        while (*h == ' ')
            h++;
    } else if (strncmp(h, "scim_", 5) != 0) {
        return NULL; /* a bare token is accepted only in our own format */
    }
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n == 0 || n > MAX_SECRET_LEN)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f)
            return NULL;
    *len = n;
    return h;
}

/* Failed attempts are counted per client address, and an address that fails
 * too often gets 429 - but only for credentials not already known good, so a
 * load balancer's shared address never locks out the tokens that work. */
static bool blocked(struct request *req, const char *key)
{
    struct auth *a = req->gw->auth;
    int64_t now = util_now_ms();
    const struct entry *e = hmap_get(a->cache, key);
    if (e && e->state == ENTRY_VALID && fresh(a, e, now))
        return false;
    if (!address_blocked(a, req->remote, now))
        return false;
    metrics_rate_limited(req->gw->metrics, "failed_auth");
    request_add_header(req, "Retry-After", "10");
    request_fail(req, 429, NULL, "Too many failed authentication attempts.");
    return true;
}

void auth_check(struct request *req)
{
    const char *header = request_header(req, "Authorization");
    bool present = header && *header;
    size_t slen;
    const char *secret = auth_bearer_secret(header, &slen);
    bool admin = (req->route->flags & ROUTE_ADMIN) != 0;
    const char *want = admin ? "sk_" : "scim_";
    char hash[65], key[80] = "";
    bool ours = secret && strncmp(secret, want, strlen(want)) == 0;
    if (ours) {
        util_sha256_hex(secret, slen, hash);
        snprintf(key, sizeof key, "%c:%s", admin ? 'a' : 's', hash);
    }
    if (blocked(req, key))
        return;
    if (!ours) {
        reply_unauthorized(req, present);
        return;
    }
    lookup(req, key, hash);
}

/* ---- admin key bootstrap ---- */

static void bootstrap_retry(evutil_socket_t fd, short what, void *arg);

static void bootstrap_done(struct pg_query *q, void *arg)
{
    struct auth *a = arg;
    a->bootstrap_tried = true;
    if (pg_query_status(q) != PG_OK) {
        if (pg_query_status(q) == PG_ERR_SQL)
            log_warn("admin key bootstrap failed; retrying", LF_STR("error", pg_query_error(q)));
        struct timeval tv = {1, 0};
        event_base_once(a->gw->base, -1, EV_TIMEOUT, bootstrap_retry, a, &tv);
        return;
    }
    a->bootstrapped = true;
    /* A call with the configured key that raced the insert cached a refusal. */
    auth_invalidate(a, a->bootstrap_hash);
    PGresult *r = pg_query_result(q, 1);
    if (PQntuples(r) == 1 && a->generated[0]) {
        printf("\nAdmin key (shown once; keep it safe): %s\n\n", a->generated);
        fflush(stdout);
        log_info("admin key generated", LF_STR("prefix", pg_value(r, 0, 0)));
    }
    memset(a->generated, 0, sizeof a->generated);
}

static void bootstrap_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    auth_bootstrap_admin_key(arg);
}

bool auth_bootstrapped(const struct auth *a)
{
    return a->bootstrapped;
}

bool auth_bootstrap_tried(const struct auth *a)
{
    return a->bootstrap_tried;
}

void auth_bootstrap_admin_key(struct auth *a)
{
    if (a->gw->draining)
        return;
    if (!pg_pool_settled(a->gw->pool)) {
        /* The first connections are still being made: an attempt now would
         * only fail for want of one. */
        struct timeval tv = {0, 20000};
        event_base_once(a->gw->base, -1, EV_TIMEOUT, bootstrap_retry, a, &tv);
        return;
    }
    const char *configured = a->gw->cfg->admin_key;
    char secret[96], display[32], hash[65], id[IDS_MAX];
    if (configured) {
        snprintf(display, sizeof display, "%.11s", configured);
        util_sha256_hex(configured, strlen(configured), hash);
    } else {
        auth_new_secret("sk_", secret, display, hash);
        snprintf(a->generated, sizeof a->generated, "%s", secret);
        memset(secret, 0, sizeof secret);
    }
    snprintf(a->bootstrap_hash, sizeof a->bootstrap_hash, "%s", hash);
    ids_new("ak_", id);
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT pg_advisory_xact_lock(7462010343)");
    if (configured) {
        pg_query_sql(q, "INSERT INTO admin_keys (id, name, prefix, key_hash)"
                        " VALUES ($1, 'SCIMGATE_ADMIN_KEY', $2, $3)"
                        " ON CONFLICT (key_hash) DO UPDATE SET revoked_at = NULL"
                        " RETURNING prefix");
    } else {
        pg_query_sql(q, "INSERT INTO admin_keys (id, name, prefix, key_hash)"
                        " SELECT $1, 'generated at first start', $2, $3"
                        " WHERE NOT EXISTS (SELECT 1 FROM admin_keys WHERE revoked_at IS NULL)"
                        " RETURNING prefix");
    }
    pg_query_param(q, id);
    pg_query_param(q, display);
    pg_query_param(q, hash);
    pg_pool_submit(a->gw->pool, q, bootstrap_done, a);
}
