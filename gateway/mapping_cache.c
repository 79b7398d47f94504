/*
 * mapping_cache.c - each organization's compiled attribute mapping, loaded
 * once and kept until a PUT changes it (NOTIFY scimgate_mapping, payload the
 * organization id). While the listener is down the cache is bypassed, as the
 * token cache is. Handles are refcounted, so a mapping replaced while a
 * request still uses it lives until that request lets go.
 */
#include "mapping_cache.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "log.h"
#include "pg_pool.h"
#include "util.h"

struct mapping_handle {
    int refs;
    struct mapping *m;           /* NULL: the default mapping */
};

struct waiter {
    mapping_cache_cb cb;
    void *arg;
    struct waiter *next;
};

struct slot {
    char org_id[64];
    struct mapping_handle *h;    /* NULL while loading */
    struct waiter *waiters;      /* while loading */
    bool dropped;                /* invalidated while loading */
    unsigned gen;                /* listener generation when loading started */
    int64_t loaded_ms;           /* when it was loaded */
};

struct mapping_cache {
    struct gateway *gw;
    struct hmap *slots;          /* org id -> struct slot */
    bool listening;
    unsigned gen;                /* bumped whenever the listener goes down or up */
};

/* A safety net under NOTIFY: a cached mapping is read again after this. */
#define MAPPING_TTL_MS (5 * 60 * 1000)

static struct mapping_handle *handle_new(struct mapping *m)
{
    struct mapping_handle *h = xcalloc(1, sizeof *h);
    h->refs = 1;
    h->m = m;
    return h;
}

struct mapping_handle *mapping_handle_hold(struct mapping_handle *h)
{
    if (h)
        h->refs++;
    return h;
}

void mapping_handle_release(struct mapping_handle *h)
{
    if (h && --h->refs == 0) {
        mapping_free(h->m);
        free(h);
    }
}

const struct mapping *mapping_handle_get(const struct mapping_handle *h)
{
    return h && h->m ? h->m : mapping_default();
}

struct mapping_cache *mapping_cache_create(struct gateway *gw)
{
    struct mapping_cache *c = xcalloc(1, sizeof *c);
    c->gw = gw;
    c->slots = hmap_create();
    return c;
}

static void drop_slot(struct slot *s)
{
    if (s->waiters) {
        s->dropped = true; /* the load in flight frees it */
        return;
    }
    mapping_handle_release(s->h);
    free(s);
}

static void free_slot(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    drop_slot(value);
}

void mapping_cache_free(struct mapping_cache *c)
{
    if (!c)
        return;
    hmap_each(c->slots, free_slot, NULL);
    hmap_free(c->slots);
    free(c);
}

void mapping_cache_invalidate(struct mapping_cache *c, const char *org_id)
{
    struct slot *s = hmap_del(c->slots, org_id);
    if (s)
        drop_slot(s);
}

void mapping_cache_set_listening(struct mapping_cache *c, bool up)
{
    c->listening = up;
    c->gen++;
    if (up)
        return;
    struct hmap *old = c->slots;
    c->slots = hmap_create();
    hmap_each(old, free_slot, NULL);
    hmap_free(old);
}

/* A stored mapping compiles as it did when it was accepted; if a newer build
 * refuses it, the default applies and the problem is logged. */
static struct mapping *compile(const PGresult *r, const char *org_id)
{
    if (PQntuples(r) == 0)
        return NULL;
    json_t *doc = json_pack("{s:s?,s:o?}", "user_id_attribute", pg_value(r, 0, 0), "mapping",
                            pg_value_json(r, 0, 1));
    struct scim_error err = {0};
    struct mapping *m = mapping_parse(doc, &err);
    json_decref(doc);
    if (!m)
        log_error("stored attribute mapping does not compile; using the default",
                  LF_STR("org_id", org_id), LF_STR("error", err.detail));
    return m;
}

struct load_ctx {
    struct mapping_cache *c;
    struct slot *slot;
};

static void loaded(struct pg_query *q, void *arg)
{
    struct load_ctx *l = arg;
    struct slot *s = l->slot;
    bool ok = pg_query_status(q) == PG_OK;
    struct mapping_handle *h = ok ? handle_new(compile(pg_query_result(q, 0), s->org_id)) : NULL;
    struct waiter *w = s->waiters;
    s->waiters = NULL;
    bool keep = ok && !s->dropped && l->c->listening && s->gen == l->c->gen;
    s->loaded_ms = util_now_ms();
    if (keep)
        s->h = mapping_handle_hold(h);
    else if (!s->dropped)
        hmap_del(l->c->slots, s->org_id);
    while (w) {
        struct waiter *next = w->next;
        w->cb(h, ok, w->arg);
        free(w);
        w = next;
    }
    mapping_handle_release(h);
    if (!keep)
        free(s);
    free(l);
}

void mapping_cache_get(struct mapping_cache *c, const char *org_id, mapping_cache_cb cb,
                       void *arg)
{
    struct slot *s = hmap_get(c->slots, org_id);
    if (s && s->h && util_now_ms() - s->loaded_ms > MAPPING_TTL_MS) {
        mapping_cache_invalidate(c, org_id);
        s = NULL;
    }
    if (s && s->h) {
        cb(s->h, true, arg);
        return;
    }
    struct waiter *w = xcalloc(1, sizeof *w);
    w->cb = cb;
    w->arg = arg;
    if (s) {
        w->next = s->waiters;
        s->waiters = w;
        return;
    }
    s = xcalloc(1, sizeof *s);
    snprintf(s->org_id, sizeof s->org_id, "%s", org_id);
    s->waiters = w;
    s->gen = c->gen;
    hmap_put(c->slots, s->org_id, s);
    struct load_ctx *l = xcalloc(1, sizeof *l);
    l->c = c;
    l->slot = s;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT user_id_attribute, mapping::text FROM attribute_mappings"
                    " WHERE org_id = $1");
    pg_query_param(q, org_id);
    pg_pool_submit(c->gw->pool, q, loaded, l);
}
