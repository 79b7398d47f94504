/*
 * load.c - scimgate-load, an Okta-style SCIM load generator on libevent: N
 * organizations, each with its own SCIM token and its own keep-alive
 * connections, provisioning users and groups the way Okta does, honouring
 * 429 + Retry-After, and reporting throughput and latency per operation kind;
 * afterwards it checks the database (libpq) and the example receiver's record
 * file against what it was told to do.
 *
 * The model: every organization has a queue of jobs per phase (a job is a
 * short chain of requests on one user or group, e.g. filter lookup then POST),
 * and C workers, one per connection, that take jobs from it. A phase ends when
 * its queue is empty and no job is in flight; then the next phase starts (a
 * barrier per organization, so "later GET + PUT" finds every user created).
 * With --rate, every request also needs a permit; permits are issued at R per
 * second spread evenly over the organizations (open loop), and a request's
 * latency counts from the moment its permit was due, so a stalled server
 * shows up as latency instead of being hidden by the closed loop.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <libpq-fe.h>

#define SCIM_USER "urn:ietf:params:scim:schemas:core:2.0:User"
#define SCIM_GROUP "urn:ietf:params:scim:schemas:core:2.0:Group"
#define SCIM_PATCHOP "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#define MAX_TRANSPORT_RETRIES 3
#define PERMIT_RING 8192 /* permits an organization may be behind by */
#define IMPORT_PAGE 100
#define GROUP_BATCH 256

/* ------------------------------------------------------------------ types */

enum op_kind {
    OP_LOOKUP,       /* GET /Users?filter=userName eq "x" */
    OP_CREATE,       /* POST /Users */
    OP_GET,          /* GET /Users/{id} */
    OP_PUT,          /* PUT /Users/{id}, a profile change */
    OP_DEACTIVATE,   /* PATCH /Users/{id} replace active false */
    OP_GROUP_CREATE, /* POST /Groups */
    OP_GROUP_PATCH,  /* PATCH /Groups/{id} add up to 256 members */
    OP_IMPORT,       /* GET /Users?startIndex=&count=100 */
    OP_DISCOVERY,    /* GET /ServiceProviderConfig */
    OP_IDLE,         /* GET /healthz on an idle connection */
    OP__COUNT
};

static const char *const op_names[OP__COUNT] = {
    "lookup", "create", "get", "put", "deactivate", "group_create", "group_patch",
    "import_page", "discovery", "idle_connect"};

enum mode {
    MODE_CREATE,    /* POST every user */
    MODE_LOOKUP,    /* filter lookups of existing users, for --duration */
    MODE_OKTA,      /* lookup + POST, then GET + PUT, then PATCH active false */
    MODE_GROUPS,    /* POST groups, then PATCH member batches in parallel */
    MODE_IMPORT,    /* paged GET /Users per organization */
    MODE_DISCOVERY, /* GET /ServiceProviderConfig, for --duration */
    MODE_IDLE,      /* open K keep-alive connections and hold them */
};

struct samples {
    uint32_t *us;     /* latencies in microseconds, owned */
    size_t n, cap;
    uint64_t errors;  /* unexpected status or body */
    uint64_t r429;    /* answered 429 */
    uint64_t retries; /* requests sent again (429 or transport) */
    uint64_t transport; /* no HTTP answer */
    double first, last; /* start of the first, end of the last (monotonic s) */
};

struct job {
    bool active;
    enum op_kind steps[4]; /* the chain */
    int nsteps, step;
    size_t index;          /* user or group index within the organization */
    size_t batch;          /* member batch (group patch) */
    long start_index;      /* import: next startIndex */
};

struct org;

struct worker {
    struct org *org;                  /* borrowed */
    struct evhttp_connection *conn;   /* owned */
    struct job job;
    struct event *timer;              /* retry wait, owned */
    struct worker *next_idle;         /* org's idle or permit-waiting list */
    enum op_kind kind;                /* request in flight */
    double started;                   /* its latency origin */
    double permit_at;                 /* intended start when rate limited, else 0 */
    int attempts;                     /* sends of the current step */
    bool busy;                        /* a request or a retry wait is pending */
};

struct org {
    int idx;
    char *org_id, *token, *auth;       /* owned */
    char **user_ids;                   /* [users], owned */
    char **group_ids;                  /* [groups], owned */
    size_t nusers_known;               /* groups mode: user ids from the database */
    struct worker *workers;            /* [conns], owned */
    struct worker *idle;               /* workers without a job */
    struct worker *waiting;            /* workers waiting for a permit (FIFO) */
    struct worker *waiting_tail;
    struct event *advance;             /* deferred phase change, owned */
    int phase;
    size_t cursor;                     /* next job of the phase */
    int inflight;                      /* jobs running */
    bool done;
    /* rate mode */
    double permits[PERMIT_RING];       /* due times of unused permits */
    size_t p_head, p_len;
    uint64_t issued;                   /* permits issued so far */
    uint64_t dropped;                  /* permits lost because the ring was full */
    /* results */
    uint64_t created, lookups_found, import_items, members_added, writes;
    long import_total;
};

struct options {
    const char *url;           /* http://127.0.0.1:8080 */
    const char *tokens;        /* file of "org_id token" lines */
    const char *db;            /* libpq URL, for the checks */
    const char *json_out;      /* results file */
    const char *record;        /* receiver --record file */
    const char *prefix;        /* userName prefix of this run */
    const char *ready_file;    /* idle mode: touched once connected */
    const char *label;         /* free text stored in the JSON */
    enum mode mode;
    int orgs, conns, users, groups, members, idle, password, quiet;
    double rate, duration, drain_timeout, timeout;
};

struct load {
    struct options o;
    struct event_base *base;
    struct evhttp_uri *uri;     /* parsed --url, owned */
    char host_header[300];
    const char *host;
    int port;
    struct org *orgs;           /* [o.orgs], owned */
    struct samples s[OP__COUNT];
    struct event *ticker;       /* rate permits, owned */
    struct event *stopper;      /* --duration, owned */
    struct event *watchdog;     /* --timeout, owned */
    struct event *sigint;       /* owned */
    double t0, t_end;           /* monotonic seconds */
    int64_t wall0_ms;           /* wall clock at start, for the event check */
    bool stopping;
    int orgs_done;
    /* idle mode */
    struct evhttp_connection **idle_conns;
    int idle_sent, idle_ok, idle_failed, idle_pending;
    bool timed_out;
};

static struct load L;

static void worker_kick(struct worker *w);
static void worker_send(struct worker *w);
static void org_park(struct org *g, struct worker *w);
static void check_all_done(void);

/* ------------------------------------------------------------------ utils */

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("scimgate-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xcalloc_(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

static char *xstrdup_(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        die("out of memory");
    va_end(ap);
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_of(double s)
{
    if (s < 0)
        s = 0;
    struct timeval tv = {.tv_sec = (time_t)s, .tv_usec = (suseconds_t)((s - floor(s)) * 1e6)};
    return tv;
}

static void sample_add(enum op_kind k, double start, double end)
{
    struct samples *s = &L.s[k];
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->us = realloc(s->us, s->cap * sizeof *s->us);
        if (!s->us)
            die("out of memory");
    }
    double us = (end - start) * 1e6;
    s->us[s->n++] = us > 4e9 ? 4000000000u : (uint32_t)us;
    if (s->first == 0 || start < s->first)
        s->first = start;
    if (end > s->last)
        s->last = end;
}

static char *user_name(const struct org *g, size_t i)
{
    return fmt("%s-%d-%zu@example.com", L.o.prefix, g->idx, i);
}

/* ----------------------------------------------------------------- phases */

/* The chain of phase p of the mode, or false when the mode has no phase p. */
static bool phase_steps(int p, struct job *j)
{
    j->nsteps = 0;
    switch (L.o.mode) {
    case MODE_CREATE:
        if (p != 0)
            return false;
        j->steps[j->nsteps++] = OP_CREATE;
        return true;
    case MODE_LOOKUP:
        if (p != 0)
            return false;
        j->steps[j->nsteps++] = OP_LOOKUP;
        return true;
    case MODE_DISCOVERY:
        if (p != 0)
            return false;
        j->steps[j->nsteps++] = OP_DISCOVERY;
        return true;
    case MODE_OKTA:
        if (p == 0) {
            j->steps[j->nsteps++] = OP_LOOKUP;
            j->steps[j->nsteps++] = OP_CREATE;
        } else if (p == 1) {
            j->steps[j->nsteps++] = OP_GET;
            j->steps[j->nsteps++] = OP_PUT;
        } else if (p == 2) {
            j->steps[j->nsteps++] = OP_DEACTIVATE;
        } else
            return false;
        return true;
    case MODE_GROUPS:
        if (p == 0)
            j->steps[j->nsteps++] = OP_GROUP_CREATE;
        else if (p == 1)
            j->steps[j->nsteps++] = OP_GROUP_PATCH;
        else
            return false;
        return true;
    case MODE_IMPORT:
        if (p != 0)
            return false;
        j->steps[j->nsteps++] = OP_IMPORT;
        return true;
    case MODE_IDLE:
        return false;
    }
    return false;
}

static size_t member_batches(const struct org *g)
{
    size_t m = (size_t)L.o.members;
    if (m > g->nusers_known)
        m = g->nusers_known;
    return (m + GROUP_BATCH - 1) / GROUP_BATCH;
}

/* Number of jobs in the current phase; SIZE_MAX for endless modes. */
static size_t phase_jobs(const struct org *g)
{
    switch (L.o.mode) {
    case MODE_LOOKUP:
    case MODE_DISCOVERY:
        return SIZE_MAX;
    case MODE_IMPORT:
        return 1;
    case MODE_GROUPS:
        return g->phase == 0 ? (size_t)L.o.groups : (size_t)L.o.groups * member_batches(g);
    default:
        return (size_t)L.o.users;
    }
}

/* Fills j with the next job of the organization's phase. */
static bool org_next_job(struct org *g, struct job *j)
{
    for (;;) {
        if (L.stopping || g->done || g->cursor >= phase_jobs(g))
            return false;
        *j = (struct job){0};
        if (!phase_steps(g->phase, j))
            return false;
        size_t c = g->cursor++;
        j->active = true;
        j->start_index = 1;
        if (L.o.mode == MODE_LOOKUP)
            j->index = (size_t)random() % (size_t)L.o.users;
        else if (L.o.mode == MODE_GROUPS && g->phase == 1) {
            /* batch-major order: the batches of different groups interleave */
            j->index = c % (size_t)L.o.groups;
            j->batch = c / (size_t)L.o.groups;
        } else
            j->index = c;
        /* a later phase skips the users and groups whose earlier requests failed */
        if (L.o.mode == MODE_OKTA && g->phase > 0 && !g->user_ids[j->index])
            continue;
        if (L.o.mode == MODE_GROUPS && g->phase == 1 && !g->group_ids[j->index])
            continue;
        g->inflight++;
        return true;
    }
}

static void org_finish(struct org *g)
{
    if (g->done)
        return;
    g->done = true;
    L.orgs_done++;
    check_all_done();
}

/* Deferred: the phase barrier was reached; start the next phase. */
static void on_advance(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct org *g = arg;
    if (g->done || g->inflight > 0)
        return;
    struct job probe;
    if (L.stopping || !phase_steps(g->phase + 1, &probe)) {
        org_finish(g);
        return;
    }
    g->phase++;
    g->cursor = 0;
    struct worker *w = g->idle;
    g->idle = NULL;
    while (w) {
        struct worker *next = w->next_idle;
        w->next_idle = NULL;
        worker_kick(w);
        w = next;
    }
    if (g->inflight == 0 && !g->done)
        event_active(g->advance, 0, 0);
}

static void org_park(struct org *g, struct worker *w)
{
    w->next_idle = g->idle;
    g->idle = w;
    if (g->inflight == 0)
        event_active(g->advance, 0, 0);
}

static void job_end(struct worker *w)
{
    w->job.active = false;
    w->org->inflight--;
}

/* ------------------------------------------------------------ rate permits */

static bool permit_take(struct org *g, double *due)
{
    if (g->p_len == 0)
        return false;
    *due = g->permits[g->p_head];
    g->p_head = (g->p_head + 1) % PERMIT_RING;
    g->p_len--;
    return true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (L.stopping)
        return;
    double t = now_s(), el = t - L.t0, per_org = L.o.rate / L.o.orgs;
    for (int i = 0; i < L.o.orgs; i++) {
        struct org *g = &L.orgs[i];
        if (g->done)
            continue;
        /* each organization's permits are offset by i/N of its period */
        uint64_t due = (uint64_t)floor(per_org * el + (double)i / L.o.orgs);
        while (g->issued < due) {
            double when = L.t0 + ((double)g->issued + 1 - (double)i / L.o.orgs) / per_org;
            g->issued++;
            if (g->waiting) {
                struct worker *w = g->waiting;
                g->waiting = w->next_idle;
                if (!g->waiting)
                    g->waiting_tail = NULL;
                w->next_idle = NULL;
                w->permit_at = when < L.t0 ? L.t0 : when;
                worker_send(w);
            } else if (g->p_len < PERMIT_RING) {
                g->permits[(g->p_head + g->p_len++) % PERMIT_RING] = when;
            } else {
                g->dropped++;
            }
        }
    }
}

/* --------------------------------------------------------------- requests */

static void add_headers(struct evhttp_request *req, struct org *g, bool body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", L.host_header);
    evhttp_add_header(h, "Accept", "application/scim+json");
    evhttp_add_header(h, "User-Agent", "Okta SCIM Client 1.0.0 (scimgate-load)");
    if (g)
        evhttp_add_header(h, "Authorization", g->auth);
    if (body)
        evhttp_add_header(h, "Content-Type", "application/scim+json; charset=utf-8");
}

static char *body_create(const struct org *g, size_t i)
{
    char *name = user_name(g, i);
    json_t *doc = json_pack(
        "{s:[s],s:s,s:{s:s,s:s},s:[{s:b,s:s,s:s}],s:s,s:s,s:s,s:[],s:b}", "schemas", SCIM_USER,
        "userName", name, "name", "givenName", "Lee", "familyName", "Chen", "emails", "primary", 1,
        "value", name, "type", "work", "displayName", "Lee Chen", "locale", "en-US", "externalId",
        name, "groups", "active", 1);
    if (L.o.password)
        json_object_set_new(doc, "password", json_string("t7Kq2mZp-load"));
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(name);
    return s;
}

static char *body_put(const struct org *g, size_t i)
{
    char *name = user_name(g, i);
    json_t *doc = json_pack(
        "{s:[s],s:s,s:s,s:{s:s,s:s},s:[{s:b,s:s,s:s}],s:s,s:s,s:s,s:b,s:[]}", "schemas",
        SCIM_USER, "id", g->user_ids[i], "userName", name, "name", "givenName", "Lee",
        "familyName", "Chen-Moreau", "emails", "primary", 1, "value", name, "type", "work",
        "displayName", "Lee Chen-Moreau", "locale", "fr-FR", "externalId", name, "active", 1,
        "groups");
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(name);
    return s;
}

static char *body_group_patch(const struct org *g, size_t batch)
{
    json_t *vals = json_array();
    size_t m = (size_t)L.o.members < g->nusers_known ? (size_t)L.o.members : g->nusers_known;
    for (size_t k = batch * GROUP_BATCH; k < m && k < (batch + 1) * GROUP_BATCH; k++)
        json_array_append_new(vals, json_pack("{s:s}", "value", g->user_ids[k]));
    json_t *doc = json_pack("{s:[s],s:[{s:s,s:s,s:o}]}", "schemas", SCIM_PATCHOP, "Operations",
                            "op", "add", "path", "members", "value", vals);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static void on_response(struct evhttp_request *req, void *arg);

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    w->permit_at = 0; /* a retry is a new request, Okta's clock restarts */
    worker_send(w);
}

/* Sends the current step of w's job. */
static void worker_send(struct worker *w)
{
    struct org *g = w->org;
    struct job *j = &w->job;
    enum op_kind k = j->steps[j->step];
    char *uri = NULL, *body = NULL;
    enum evhttp_cmd_type method = EVHTTP_REQ_GET;
    char *name = NULL, *enc = NULL;
    switch (k) {
    case OP_LOOKUP:
        name = user_name(g, j->index);
        enc = evhttp_uriencode(name, -1, 0);
        uri = fmt("/scim/v2/Users?filter=userName%%20eq%%20%%22%s%%22&startIndex=1&count=100",
                  enc);
        break;
    case OP_CREATE:
        method = EVHTTP_REQ_POST;
        uri = xstrdup_("/scim/v2/Users");
        body = body_create(g, j->index);
        break;
    case OP_GET:
        uri = fmt("/scim/v2/Users/%s", g->user_ids[j->index]);
        break;
    case OP_PUT:
        method = EVHTTP_REQ_PUT;
        uri = fmt("/scim/v2/Users/%s", g->user_ids[j->index]);
        body = body_put(g, j->index);
        break;
    case OP_DEACTIVATE:
        method = EVHTTP_REQ_PATCH;
        uri = fmt("/scim/v2/Users/%s", g->user_ids[j->index]);
        body = fmt("{\"schemas\":[\"" SCIM_PATCHOP "\"],\"Operations\":[{\"op\":\"replace\","
                   "\"value\":{\"active\":false}}]}");
        break;
    case OP_GROUP_CREATE:
        method = EVHTTP_REQ_POST;
        uri = xstrdup_("/scim/v2/Groups");
        body = fmt("{\"schemas\":[\"" SCIM_GROUP "\"],\"displayName\":\"%s-%d-group-%zu\","
                   "\"members\":[]}",
                   L.o.prefix, g->idx, j->index);
        break;
    case OP_GROUP_PATCH:
        method = EVHTTP_REQ_PATCH;
        uri = fmt("/scim/v2/Groups/%s", g->group_ids[j->index]);
        body = body_group_patch(g, j->batch);
        break;
    case OP_IMPORT:
        uri = fmt("/scim/v2/Users?startIndex=%ld&count=%d", j->start_index, IMPORT_PAGE);
        break;
    case OP_DISCOVERY:
        uri = xstrdup_("/scim/v2/ServiceProviderConfig");
        break;
    default:
        die("unexpected step");
    }
    free(name);
    free(enc);
    struct evhttp_request *req = evhttp_request_new(on_response, w);
    add_headers(req, g, body != NULL);
    if (body) {
        /* libevent adds Content-Length itself only to POST and PUT */
        char len[24];
        snprintf(len, sizeof len, "%zu", strlen(body));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    w->kind = k;
    w->busy = true;
    w->started = w->permit_at > 0 ? w->permit_at : now_s();
    if (evhttp_make_request(w->conn, req, method, uri) != 0)
        die("cannot send a request");
    free(uri);
    free(body);
}

/* Gets a permit (rate mode) and sends, or queues w for the next permit. */
static void worker_go(struct worker *w)
{
    w->attempts = 0;
    w->permit_at = 0;
    if (L.o.rate > 0) {
        double due;
        if (!permit_take(w->org, &due)) {
            w->busy = true;
            w->next_idle = NULL;
            if (w->org->waiting_tail)
                w->org->waiting_tail->next_idle = w;
            else
                w->org->waiting = w;
            w->org->waiting_tail = w;
            return;
        }
        w->permit_at = due;
    }
    worker_send(w);
}

static void worker_kick(struct worker *w)
{
    w->busy = false;
    if (!w->job.active && !org_next_job(w->org, &w->job)) {
        org_park(w->org, w);
        return;
    }
    worker_go(w);
}

static json_t *body_json(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return NULL;
    const char *p = (const char *)evbuffer_pullup(in, -1);
    return json_loadb(p, n, 0, NULL);
}

static double retry_after(struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After");
    double s = h ? strtod(h, NULL) : 1;
    return s > 0 && s < 3600 ? s : 1;
}

/* Checks one answer; stores what later steps need. True when it is as expected. */
static bool accept_answer(struct worker *w, int code, struct evhttp_request *req)
{
    struct org *g = w->org;
    struct job *j = &w->job;
    json_t *doc = NULL;
    bool ok = false;
    switch (w->kind) {
    case OP_LOOKUP:
        if (code == 200 && (doc = body_json(req))) {
            json_int_t n = json_integer_value(json_object_get(doc, "totalResults"));
            ok = L.o.mode == MODE_OKTA ? n == 0 : n == 1;
            g->lookups_found += (uint64_t)n;
        }
        break;
    case OP_CREATE:
        if (code == 201 && (doc = body_json(req))) {
            const char *id = json_string_value(json_object_get(doc, "id"));
            if (id) {
                free(g->user_ids[j->index]);
                g->user_ids[j->index] = xstrdup_(id);
                g->created++;
                g->writes++;
                ok = true;
            }
        }
        break;
    case OP_GROUP_CREATE:
        if (code == 201 && (doc = body_json(req))) {
            const char *id = json_string_value(json_object_get(doc, "id"));
            if (id) {
                g->group_ids[j->index] = xstrdup_(id);
                g->writes++;
                ok = true;
            }
        }
        break;
    case OP_IMPORT:
        if (code == 200 && (doc = body_json(req))) {
            json_t *res = json_object_get(doc, "Resources");
            g->import_total = (long)json_integer_value(json_object_get(doc, "totalResults"));
            g->import_items += json_array_size(res);
            ok = true;
            j->start_index += IMPORT_PAGE;
            /* more pages: the chain goes on with the same step */
            if (json_array_size(res) > 0 && j->start_index <= g->import_total)
                j->step--;
        }
        break;
    case OP_GROUP_PATCH:
        ok = code == 200 || code == 204;
        if (ok) {
            size_t m = (size_t)L.o.members < g->nusers_known ? (size_t)L.o.members
                                                              : g->nusers_known;
            size_t lo = j->batch * GROUP_BATCH, hi = lo + GROUP_BATCH;
            g->members_added += (hi < m ? hi : m) - lo;
            g->writes++;
        }
        break;
    case OP_PUT:
    case OP_DEACTIVATE:
        ok = code == 200 || code == 204;
        g->writes += ok;
        break;
    default:
        ok = code == 200;
    }
    json_decref(doc);
    return ok;
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    double end = now_s();
    int code = req ? evhttp_request_get_response_code(req) : 0;
    struct samples *s = &L.s[w->kind];
    if (code == 0) {
        s->transport++;
        if (++w->attempts <= MAX_TRANSPORT_RETRIES && !L.stopping) {
            s->retries++;
            struct timeval tv = tv_of(0.05 * w->attempts);
            evtimer_add(w->timer, &tv);
            return;
        }
        s->errors++;
        job_end(w);
        worker_kick(w);
        return;
    }
    if (code == 429) {
        s->r429++;
        if (!L.stopping) {
            s->retries++;
            struct timeval tv = tv_of(retry_after(req));
            evtimer_add(w->timer, &tv);
            return;
        }
        job_end(w);
        worker_kick(w);
        return;
    }
    bool ok = accept_answer(w, code, req);
    sample_add(w->kind, w->started, end);
    if (!ok) {
        s->errors++;
        if (!L.o.quiet && s->errors <= 5) {
            struct evbuffer *in = evhttp_request_get_input_buffer(req);
            size_t n = evbuffer_get_length(in);
            fprintf(stderr, "scimgate-load: %s answered %d: %.*s\n", op_names[w->kind], code,
                    (int)(n > 300 ? 300 : n), (const char *)evbuffer_pullup(in, -1));
        }
        job_end(w);
    } else if (++w->job.step >= w->job.nsteps) {
        job_end(w);
    }
    worker_kick(w);
}

/* -------------------------------------------------------------- idle mode */

static void idle_open_more(void);

static void on_idle_response(struct evhttp_request *req, void *arg)
{
    (void)arg;
    double end = now_s();
    L.idle_pending--;
    if (req && evhttp_request_get_response_code(req) == 200) {
        L.idle_ok++;
        sample_add(OP_IDLE, end, end);
    } else {
        L.idle_failed++;
        L.s[OP_IDLE].errors++;
    }
    idle_open_more();
}

/* Opens connections 200 at a time so the listen backlog never overflows. */
static void idle_open_more(void)
{
    while (L.idle_sent < L.o.idle && L.idle_pending < 200) {
        struct evhttp_connection *c =
            evhttp_connection_base_new(L.base, NULL, L.host, (unsigned short)L.port);
        if (!c)
            die("cannot create connection %d", L.idle_sent);
        evhttp_connection_set_timeout(c, 600);
        L.idle_conns[L.idle_sent++] = c;
        struct evhttp_request *req = evhttp_request_new(on_idle_response, NULL);
        add_headers(req, NULL, false);
        L.idle_pending++;
        if (evhttp_make_request(c, req, EVHTTP_REQ_GET, "/healthz") != 0)
            die("cannot send a request");
    }
    if (L.idle_sent == L.o.idle && L.idle_pending == 0 && !L.stopping) {
        fprintf(stderr, "scimgate-load: %d idle connections open (%d failed), holding %.0f s\n",
                L.idle_ok, L.idle_failed, L.o.duration);
        if (L.o.ready_file) {
            FILE *f = fopen(L.o.ready_file, "w");
            if (f) {
                fprintf(f, "%d\n", L.idle_ok);
                fclose(f);
            }
        }
        struct timeval tv = tv_of(L.o.duration);
        evtimer_add(L.stopper, &tv);
    }
}

/* ------------------------------------------------------------ run control */

static void check_all_done(void)
{
    if (L.orgs_done == L.o.orgs) {
        L.t_end = now_s();
        event_base_loopexit(L.base, NULL);
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    L.stopping = true;
    if (L.o.mode == MODE_IDLE) {
        L.t_end = now_s();
        event_base_loopexit(L.base, NULL);
        return;
    }
    /* jobs in flight finish their current request; parked ones end now */
    for (int i = 0; i < L.o.orgs; i++) {
        struct org *g = &L.orgs[i];
        while (g->waiting) {
            struct worker *w = g->waiting;
            g->waiting = w->next_idle;
            w->busy = false;
            job_end(w);
            org_park(g, w);
        }
        g->waiting_tail = NULL;
        for (int c = 0; c < L.o.conns; c++) {
            struct worker *w = &g->workers[c];
            if (w->busy && evtimer_pending(w->timer, NULL)) {
                evtimer_del(w->timer);
                job_end(w);
                worker_kick(w);
            }
        }
        if (g->inflight == 0)
            event_active(g->advance, 0, 0);
    }
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    fprintf(stderr, "scimgate-load: --timeout reached, stopping\n");
    L.timed_out = true;
    L.t_end = now_s();
    event_base_loopexit(L.base, NULL);
}

static void on_sigint(evutil_socket_t fd, short what, void *arg)
{
    on_watchdog(fd, what, arg);
}

/* ------------------------------------------------------------- the checks */

struct checks {
    json_t *list; /* [{name, expected, actual, ok}] */
    bool ok;
};

static void check_eq(struct checks *c, const char *name, long long expected, long long actual)
{
    bool ok = expected == actual;
    c->ok &= ok;
    json_array_append_new(c->list, json_pack("{s:s,s:I,s:I,s:b}", "check", name, "expected",
                                             (json_int_t)expected, "actual", (json_int_t)actual,
                                             "ok", ok));
    if (!ok || !L.o.quiet)
        fprintf(stderr, "check %-44s expected %-8lld actual %-8lld %s\n", name, expected, actual,
                ok ? "ok" : "MISMATCH");
}

static long long q_count(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "scimgate-load: query failed: %s", PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

static char *org_array_literal(void)
{
    size_t len = 3;
    for (int i = 0; i < L.o.orgs; i++)
        len += strlen(L.orgs[i].org_id) + 1;
    char *s = xcalloc_(len, 1), *p = s;
    *p++ = '{';
    for (int i = 0; i < L.o.orgs; i++)
        p += sprintf(p, "%s%s", i ? "," : "", L.orgs[i].org_id);
    *p++ = '}';
    return s;
}

/* Per-organization counts after create / okta / groups / import. */
static void check_db_orgs(PGconn *db, struct checks *c)
{
    long long users = 0, inactive = 0, created = 0, groups = 0, members = 0, added = 0;
    long long imported = 0, import_db = 0, bad_orgs = 0;
    for (int i = 0; i < L.o.orgs; i++) {
        struct org *g = &L.orgs[i];
        char *pre = fmt("%s-%d-", L.o.prefix, g->idx);
        const char *p[] = {g->org_id, pre};
        long long u = 0, want = L.o.users;
        if (L.o.mode == MODE_CREATE || L.o.mode == MODE_OKTA) {
            u = q_count(db, "SELECT count(*) FROM users WHERE org_id = $1"
                            " AND starts_with(user_name, $2)", 2, p);
            users += u;
            created += (long long)g->created;
            bad_orgs += u != want || (long long)g->created != want;
        }
        if (L.o.mode == MODE_OKTA) {
            long long d = q_count(db, "SELECT count(*) FROM users WHERE org_id = $1"
                                      " AND starts_with(user_name, $2) AND NOT active"
                                      " AND deleted_at IS NOT NULL", 2, p);
            inactive += d;
            bad_orgs += d != want;
        }
        if (L.o.mode == MODE_GROUPS) {
            char *gp = fmt("%s-%d-group-", L.o.prefix, g->idx);
            const char *pg[] = {g->org_id, gp};
            long long n = q_count(db, "SELECT count(*) FROM groups WHERE org_id = $1"
                                      " AND starts_with(display_name, $2)", 2, pg);
            long long m = q_count(db, "SELECT count(*) FROM group_members gm JOIN groups gr"
                                      " ON gr.org_id = gm.org_id AND gr.id = gm.group_id"
                                      " WHERE gm.org_id = $1 AND starts_with(gr.display_name, $2)",
                                  2, pg);
            groups += n;
            members += m;
            added += (long long)g->members_added;
            long long mw = (long long)(L.o.members < (int)g->nusers_known ? L.o.members
                                                                       : (int)g->nusers_known);
            bad_orgs += n != L.o.groups || m != (long long)L.o.groups * mw;
            free(gp);
        }
        if (L.o.mode == MODE_IMPORT) {
            long long n = q_count(db, "SELECT count(*) FROM users WHERE org_id = $1", 1, p);
            import_db += n;
            imported += (long long)g->import_items;
            bad_orgs += n != (long long)g->import_items;
        }
        free(pre);
    }
    long long want_all = (long long)L.o.orgs * L.o.users;
    if (L.o.mode == MODE_CREATE || L.o.mode == MODE_OKTA) {
        check_eq(c, "users in the database (all orgs)", want_all, users);
        check_eq(c, "users created (201 answers)", want_all, created);
    }
    if (L.o.mode == MODE_OKTA)
        check_eq(c, "users deactivated in the database", want_all, inactive);
    if (L.o.mode == MODE_GROUPS) {
        check_eq(c, "groups in the database", (long long)L.o.orgs * L.o.groups, groups);
        check_eq(c, "memberships in the database", added, members);
    }
    if (L.o.mode == MODE_IMPORT)
        check_eq(c, "users imported = users in the database", import_db, imported);
    check_eq(c, "organizations with a wrong count", 0, bad_orgs);
}

/* Every event of this run's organizations since the start, delivered once. */
static void check_events(PGconn *db, struct checks *c, json_t *out)
{
    char *orgs = org_array_literal(), since[32];
    snprintf(since, sizeof since, "%lld", (long long)L.wall0_ms);
    const char *p[] = {orgs, since};
    long long writes = 0;
    for (int i = 0; i < L.o.orgs; i++)
        writes += (long long)L.orgs[i].writes;
    long long events = q_count(db, "SELECT count(*) FROM events WHERE org_id = ANY ($1::text[])"
                                   " AND created_at >= to_timestamp($2::bigint / 1000.0)", 2, p);
    check_eq(c, "events in the outbox = successful writes", writes, events);
    json_object_set_new(out, "events_in_outbox", json_integer(events));
    if (!L.o.record) {
        free(orgs);
        return;
    }
    /* wait for the worker to drain this run's deliveries */
    double t = now_s(), deadline = t + L.o.drain_timeout;
    long long pending = -1;
    while (now_s() < deadline) {
        pending = q_count(db, "SELECT count(*) FROM deliveries d JOIN events e"
                              " ON e.org_id = d.org_id AND e.seq = d.event_seq"
                              " WHERE d.org_id = ANY ($1::text[]) AND d.status = 'pending'"
                              " AND e.created_at >= to_timestamp($2::bigint / 1000.0)", 2, p);
        if (pending <= 0)
            break;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    double drain_s = now_s() - t;
    json_object_set_new(out, "delivery_drain_s", json_real(drain_s));
    check_eq(c, "deliveries still pending after the drain", 0, pending);
    long long failed = q_count(db, "SELECT count(*) FROM deliveries d JOIN events e"
                                   " ON e.org_id = d.org_id AND e.seq = d.event_seq"
                                   " WHERE d.org_id = ANY ($1::text[]) AND d.status = 'failed'"
                                   " AND e.created_at >= to_timestamp($2::bigint / 1000.0)",
                               2, p);
    check_eq(c, "deliveries failed", 0, failed);
    PGresult *r = PQexecParams(db, "SELECT id FROM events WHERE org_id = ANY ($1::text[])"
                                   " AND created_at >= to_timestamp($2::bigint / 1000.0)",
                               2, NULL, p, NULL, NULL, 0);
    json_t *seen = json_object(); /* event id -> times received */
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
        json_object_set_new(seen, PQgetvalue(r, i, 0), json_integer(0));
    PQclear(r);
    long long received = 0, unique = 0, dups = 0;
    FILE *f = fopen(L.o.record, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(ev, "id"));
        json_t *n = id ? json_object_get(seen, id) : NULL;
        if (n) {
            received++;
            if (json_integer_value(n) == 0)
                unique++;
            else
                dups++;
            json_integer_set(n, json_integer_value(n) + 1);
        }
        json_decref(ev);
    }
    free(line);
    if (f)
        fclose(f);
    else
        fprintf(stderr, "scimgate-load: cannot read %s\n", L.o.record);
    check_eq(c, "events received by the receiver (distinct)", events, unique);
    check_eq(c, "events received more than once", 0, dups);
    json_object_set_new(out, "events_received", json_integer(received));
    json_object_set_new(out, "events_duplicated", json_integer(dups));
    json_decref(seen);
    free(orgs);
}

static json_t *run_checks(bool *ok)
{
    json_t *out = json_object();
    struct checks c = {.list = json_array(), .ok = true};
    PGconn *db = PQconnectdb(L.o.db);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "scimgate-load: cannot connect to %s: %s", L.o.db, PQerrorMessage(db));
        c.ok = false;
    } else {
        check_db_orgs(db, &c);
        if (L.o.mode == MODE_CREATE || L.o.mode == MODE_OKTA || L.o.mode == MODE_GROUPS)
            check_events(db, &c, out);
    }
    PQfinish(db);
    json_object_set_new(out, "checks", c.list);
    json_object_set_new(out, "ok", json_boolean(c.ok));
    *ok = c.ok;
    return out;
}

/* --------------------------------------------------------------- reporting */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const struct samples *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)s->n);
    i = i ? i - 1 : 0;
    return s->us[i < s->n ? i : s->n - 1] / 1000.0;
}

static json_t *report(double elapsed, uint64_t *total_ops, uint64_t *total_err)
{
    json_t *kinds = json_object();
    printf("\n%-13s %9s %10s %8s %8s %8s %8s %7s %7s %7s\n", "operation", "count", "ops/s",
           "p50 ms", "p95 ms", "p99 ms", "max ms", "429s", "errors", "retries");
    for (int k = 0; k < OP__COUNT; k++) {
        struct samples *s = &L.s[k];
        if (s->n == 0 && s->errors == 0 && s->r429 == 0)
            continue;
        qsort(s->us, s->n, sizeof *s->us, cmp_u32);
        double win = s->last - s->first, rate = win > 0 ? (double)s->n / win : 0;
        if (k == OP_IDLE)
            rate = 0;
        printf("%-13s %9zu %10.1f %8.2f %8.2f %8.2f %8.2f %7" PRIu64 " %7" PRIu64 " %7" PRIu64
               "\n",
               op_names[k], s->n, rate, pct_ms(s, 50), pct_ms(s, 95), pct_ms(s, 99),
               pct_ms(s, 100), s->r429, s->errors, s->retries);
        json_object_set_new(
            kinds, op_names[k],
            json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I}", "count", (json_int_t)s->n,
                      "ops_per_s", rate, "p50_ms", pct_ms(s, 50), "p95_ms", pct_ms(s, 95),
                      "p99_ms", pct_ms(s, 99), "max_ms", pct_ms(s, 100), "r429",
                      (json_int_t)s->r429, "errors", (json_int_t)s->errors, "retries",
                      (json_int_t)s->retries, "transport_errors", (json_int_t)s->transport));
        if (k != OP_IDLE)
            *total_ops += s->n;
        *total_err += s->errors;
    }
    uint64_t r429 = 0;
    for (int k = 0; k < OP__COUNT; k++)
        r429 += L.s[k].r429;
    printf("%-13s %9" PRIu64 " %10.1f   (elapsed %.2f s, %" PRIu64 " x 429)\n", "total",
           *total_ops, elapsed > 0 ? (double)*total_ops / elapsed : 0, elapsed, r429);
    return kinds;
}

static const char *mode_name(enum mode m)
{
    static const char *const n[] = {"create", "lookup", "okta", "groups", "import",
                                    "discovery", "idle"};
    return n[m];
}

static void write_json(json_t *kinds, json_t *verify, double elapsed, uint64_t ops,
                       uint64_t errs)
{
    uint64_t dropped = 0, r429 = 0;
    for (int i = 0; i < L.o.orgs; i++)
        dropped += L.orgs[i].dropped;
    for (int k = 0; k < OP__COUNT; k++)
        r429 += L.s[k].r429;
    json_t *doc = json_pack(
        "{s:s,s:s?,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:I,s:f,s:I,s:I,s:I,s:o,s:b}", "mode",
        mode_name(L.o.mode), "label", L.o.label, "orgs", L.o.orgs, "users_per_org", L.o.users,
        "conns_per_org", L.o.conns, "groups_per_org", L.o.groups, "members_per_group",
        L.o.members, "rate", L.o.rate, "duration_s", L.o.duration, "elapsed_s", elapsed, "ops",
        (json_int_t)ops, "ops_per_s", elapsed > 0 ? (double)ops / elapsed : 0, "errors",
        (json_int_t)errs, "r429", (json_int_t)r429, "permits_dropped", (json_int_t)dropped,
        "kinds", kinds, "timed_out", L.timed_out);
    if (L.o.mode == MODE_IDLE) {
        json_object_set_new(doc, "idle_connected", json_integer(L.idle_ok));
        json_object_set_new(doc, "idle_failed", json_integer(L.idle_failed));
    }
    if (verify)
        json_object_set_new(doc, "verify", verify);
    if (L.o.json_out && json_dump_file(doc, L.o.json_out, JSON_INDENT(2)) != 0)
        fprintf(stderr, "scimgate-load: cannot write %s\n", L.o.json_out);
    json_decref(doc);
}

/* ------------------------------------------------------------------ setup */

static void usage(FILE *out)
{
    fputs(
        "usage: scimgate-load --url http://127.0.0.1:PORT --tokens FILE --mode MODE [options]\n"
        "\n"
        "modes:\n"
        "  create     POST /Users for every user (Okta's body, with a password)\n"
        "  lookup     GET /Users?filter=userName eq \"x\" of existing users, for --duration\n"
        "  okta       per user: filter lookup + POST; then GET + PUT (profile change);\n"
        "             then PATCH replace active false; a barrier between the three phases\n"
        "  groups     POST --groups groups per organization, then PATCH members in batches\n"
        "             of 256, in parallel (members: the users of this --prefix, from --db)\n"
        "  import     paged GET /Users?startIndex=&count=100, one import per organization\n"
        "  discovery  GET /ServiceProviderConfig (rate limited, no database work)\n"
        "  idle       open --idle keep-alive connections (GET /healthz) and hold them\n"
        "\n"
        "options:\n"
        "  --tokens FILE       lines \"org_id scim_token\"; organization i is line i\n"
        "  --orgs N            use the first N lines (default: all)\n"
        "  --users M           users per organization (default 100)\n"
        "  --conns C           keep-alive connections per organization (default 4)\n"
        "  --groups G          groups per organization (groups mode, default 2)\n"
        "  --members K         members per group (groups mode, default all users)\n"
        "  --prefix P          userName prefix: P-<org>-<i>@example.com (default u)\n"
        "  --no-password       create users without a password\n"
        "  --rate R            open loop: R requests per second spread over the organizations\n"
        "  --duration S        stop issuing after S seconds (lookup/discovery default 10)\n"
        "  --idle K            idle mode: connections to open (default 1000)\n"
        "  --ready-file F      idle mode: written once every connection is open\n"
        "  --db URL            check the database afterwards (libpq)\n"
        "  --record FILE       scimgate-receiver --record file: check every event arrived once\n"
        "  --drain-timeout S   wait that long for deliveries to finish (default 60)\n"
        "  --timeout S         watchdog: give up after S seconds (default 600)\n"
        "  --json FILE         write the results as JSON\n"
        "  --label TEXT        stored in the JSON\n"
        "  --quiet             print only the table and mismatches\n"
        "\n"
        "Exit status: 0 when every request got its expected answer (429s retried) and every\n"
        "check passed; 1 otherwise; 2 on bad usage.\n",
        out);
}

static double num_arg(const char *name, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max)
        die("--%s wants a number in %g..%g, not \"%s\"", name, min, max, s);
    return v;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    static const struct option lo[] = {
        {"url", 1, NULL, 'u'},       {"tokens", 1, NULL, 't'},   {"mode", 1, NULL, 'm'},
        {"orgs", 1, NULL, 'n'},      {"users", 1, NULL, 'M'},    {"conns", 1, NULL, 'c'},
        {"groups", 1, NULL, 'g'},    {"members", 1, NULL, 'k'},  {"prefix", 1, NULL, 'p'},
        {"no-password", 0, NULL, 'P'}, {"rate", 1, NULL, 'r'},   {"duration", 1, NULL, 'd'},
        {"idle", 1, NULL, 'i'},      {"ready-file", 1, NULL, 'R'}, {"db", 1, NULL, 'D'},
        {"record", 1, NULL, 'e'},    {"drain-timeout", 1, NULL, 'T'}, {"timeout", 1, NULL, 'W'},
        {"json", 1, NULL, 'j'},      {"label", 1, NULL, 'l'},    {"quiet", 0, NULL, 'q'},
        {"help", 0, NULL, 'h'},      {NULL, 0, NULL, 0}};
    *o = (struct options){.url = "http://127.0.0.1:8080", .prefix = "u", .users = 100,
                          .conns = 4, .groups = 2, .members = -1, .idle = 1000, .password = 1,
                          .duration = -1, .drain_timeout = 60, .timeout = 600};
    const char *mode = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'u': o->url = optarg; break;
        case 't': o->tokens = optarg; break;
        case 'm': mode = optarg; break;
        case 'n': o->orgs = (int)num_arg("orgs", optarg, 1, 100000); break;
        case 'M': o->users = (int)num_arg("users", optarg, 1, 10000000); break;
        case 'c': o->conns = (int)num_arg("conns", optarg, 1, 10000); break;
        case 'g': o->groups = (int)num_arg("groups", optarg, 1, 100000); break;
        case 'k': o->members = (int)num_arg("members", optarg, 0, 10000000); break;
        case 'p': o->prefix = optarg; break;
        case 'P': o->password = 0; break;
        case 'r': o->rate = num_arg("rate", optarg, 0, 1e7); break;
        case 'd': o->duration = num_arg("duration", optarg, 0, 86400); break;
        case 'i': o->idle = (int)num_arg("idle", optarg, 1, 1000000); break;
        case 'R': o->ready_file = optarg; break;
        case 'D': o->db = optarg; break;
        case 'e': o->record = optarg; break;
        case 'T': o->drain_timeout = num_arg("drain-timeout", optarg, 0, 86400); break;
        case 'W': o->timeout = num_arg("timeout", optarg, 1, 86400); break;
        case 'j': o->json_out = optarg; break;
        case 'l': o->label = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    static const char *const names[] = {"create", "lookup", "okta", "groups", "import",
                                        "discovery", "idle"};
    bool found = false;
    for (size_t i = 0; mode && i < sizeof names / sizeof *names; i++)
        if (strcmp(mode, names[i]) == 0) {
            o->mode = (enum mode)i;
            found = true;
        }
    if (!found || optind != argc) {
        usage(stderr);
        exit(2);
    }
    if (o->mode != MODE_IDLE && !o->tokens)
        die("--tokens is required");
    if (o->mode == MODE_GROUPS && !o->db)
        die("groups mode needs --db to learn the user ids");
    if (o->duration < 0)
        o->duration = (o->mode == MODE_LOOKUP || o->mode == MODE_DISCOVERY ||
                       o->mode == MODE_IDLE) ? 10 : 0;
}

static void load_tokens(void)
{
    FILE *f = fopen(L.o.tokens, "r");
    if (!f)
        die("cannot open %s: %s", L.o.tokens, strerror(errno));
    char org[256], tok[512];
    int n = 0, cap = 16;
    struct org *orgs = xcalloc_((size_t)cap, sizeof *orgs);
    while (fscanf(f, "%255s %511s", org, tok) == 2) {
        if (L.o.orgs && n == L.o.orgs)
            break;
        if (n == cap) {
            orgs = realloc(orgs, (size_t)(cap *= 2) * sizeof *orgs);
            if (!orgs)
                die("out of memory");
        }
        orgs[n] = (struct org){.idx = n, .org_id = xstrdup_(org), .token = xstrdup_(tok),
                               .auth = fmt("Bearer %s", tok)};
        n++;
    }
    fclose(f);
    if (n == 0 || (L.o.orgs && n < L.o.orgs))
        die("%s has %d organizations, %d wanted", L.o.tokens, n, L.o.orgs);
    L.o.orgs = n;
    L.orgs = orgs;
}

/* groups mode: the ids of this prefix's users, in userName order. */
static void load_user_ids(struct org *g)
{
    PGconn *db = PQconnectdb(L.o.db);
    if (PQstatus(db) != CONNECTION_OK)
        die("cannot connect to %s: %s", L.o.db, PQerrorMessage(db));
    char *pre = fmt("%s-%d-", L.o.prefix, g->idx);
    const char *p[] = {g->org_id, pre};
    PGresult *r = PQexecParams(db, "SELECT id FROM users WHERE org_id = $1"
                                   " AND starts_with(user_name, $2) ORDER BY id",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die("cannot read user ids: %s", PQresultErrorMessage(r));
    size_t n = (size_t)PQntuples(r);
    if (n > (size_t)L.o.users) {
        for (size_t i = 0; i < (size_t)L.o.users; i++)
            free(g->user_ids[i]);
        free(g->user_ids);
        g->user_ids = xcalloc_(n, sizeof *g->user_ids);
    }
    for (size_t i = 0; i < n; i++)
        g->user_ids[i] = xstrdup_(PQgetvalue(r, (int)i, 0));
    g->nusers_known = n;
    PQclear(r);
    PQfinish(db);
    free(pre);
}

static void setup_orgs(void)
{
    for (int i = 0; i < L.o.orgs; i++) {
        struct org *g = &L.orgs[i];
        g->user_ids = xcalloc_((size_t)L.o.users, sizeof *g->user_ids);
        g->group_ids = xcalloc_((size_t)L.o.groups, sizeof *g->group_ids);
        if (L.o.mode == MODE_GROUPS)
            load_user_ids(g);
        g->advance = event_new(L.base, -1, 0, on_advance, g);
        g->workers = xcalloc_((size_t)L.o.conns, sizeof *g->workers);
        for (int c = 0; c < L.o.conns; c++) {
            struct worker *w = &g->workers[c];
            w->org = g;
            w->conn = evhttp_connection_base_new(L.base, NULL, L.host, (unsigned short)L.port);
            if (!w->conn)
                die("cannot create a connection");
            evhttp_connection_set_timeout(w->conn, 60);
            w->timer = evtimer_new(L.base, on_retry_timer, w);
        }
    }
    if (L.o.mode == MODE_GROUPS && L.o.members < 0) {
        size_t m = 0;
        for (int i = 0; i < L.o.orgs; i++)
            m = L.orgs[i].nusers_known > m ? L.orgs[i].nusers_known : m;
        L.o.members = (int)m;
    }
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void free_all(void)
{
    for (int i = 0; i < L.o.orgs && L.orgs; i++) {
        struct org *g = &L.orgs[i];
        for (int c = 0; g->workers && c < L.o.conns; c++) {
            evhttp_connection_free(g->workers[c].conn);
            event_free(g->workers[c].timer);
        }
        size_t nu = g->nusers_known > (size_t)L.o.users ? g->nusers_known : (size_t)L.o.users;
        for (size_t u = 0; g->user_ids && u < nu; u++)
            free(g->user_ids[u]);
        for (int k = 0; g->group_ids && k < L.o.groups; k++)
            free(g->group_ids[k]);
        free(g->user_ids);
        free(g->group_ids);
        free(g->workers);
        if (g->advance)
            event_free(g->advance);
        free(g->org_id);
        free(g->token);
        free(g->auth);
    }
    free(L.orgs);
    for (int i = 0; i < L.idle_sent; i++)
        evhttp_connection_free(L.idle_conns[i]);
    free(L.idle_conns);
    for (int k = 0; k < OP__COUNT; k++)
        free(L.s[k].us);
    struct event *evs[] = {L.ticker, L.stopper, L.watchdog, L.sigint};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        if (evs[i])
            event_free(evs[i]);
    evhttp_uri_free(L.uri);
    event_base_free(L.base);
}

static void start(void)
{
    L.t0 = now_s();
    L.wall0_ms = wall_ms();
    L.stopper = evtimer_new(L.base, on_stop, NULL);
    L.watchdog = evtimer_new(L.base, on_watchdog, NULL);
    L.sigint = evsignal_new(L.base, SIGINT, on_sigint, NULL);
    evsignal_add(L.sigint, NULL);
    struct timeval wd = tv_of(L.o.timeout);
    evtimer_add(L.watchdog, &wd);
    if (L.o.mode == MODE_IDLE) {
        L.idle_conns = xcalloc_((size_t)L.o.idle, sizeof *L.idle_conns);
        idle_open_more();
        return;
    }
    if (L.o.duration > 0) {
        struct timeval tv = tv_of(L.o.duration);
        evtimer_add(L.stopper, &tv);
    }
    if (L.o.rate > 0) {
        L.ticker = event_new(L.base, -1, EV_PERSIST, on_tick, NULL);
        struct timeval tv = tv_of(0.001);
        event_add(L.ticker, &tv);
    }
    for (int i = 0; i < L.o.orgs; i++)
        for (int c = 0; c < L.o.conns; c++)
            worker_kick(&L.orgs[i].workers[c]);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv, &L.o);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    srandom((unsigned)getpid());
    L.uri = evhttp_uri_parse(L.o.url);
    if (!L.uri || !evhttp_uri_get_host(L.uri))
        die("--url wants http://HOST:PORT, not \"%s\"", L.o.url);
    L.host = evhttp_uri_get_host(L.uri);
    L.port = evhttp_uri_get_port(L.uri) > 0 ? evhttp_uri_get_port(L.uri) : 80;
    snprintf(L.host_header, sizeof L.host_header, "%s:%d", L.host, L.port);
    L.base = event_base_new();
    if (!L.base)
        die("cannot create the event loop");
    if (L.o.mode != MODE_IDLE) {
        load_tokens();
        setup_orgs();
    }
    start();
    event_base_dispatch(L.base);
    if (L.t_end == 0)
        L.t_end = now_s();
    double elapsed = L.t_end - L.t0;
    uint64_t ops = 0, errs = 0;
    printf("scimgate-load: mode %s, %d organizations x %d connections%s\n", mode_name(L.o.mode),
           L.o.orgs, L.o.conns, L.o.rate > 0 ? ", open loop" : "");
    json_t *kinds = report(elapsed, &ops, &errs);
    bool ok = errs == 0 && !L.timed_out;
    json_t *verify = NULL;
    if (L.o.db && L.o.mode != MODE_IDLE && L.o.mode != MODE_DISCOVERY &&
        L.o.mode != MODE_LOOKUP && !L.timed_out) {
        bool vok;
        verify = run_checks(&vok);
        ok &= vok;
        printf("checks: %s\n", vok ? "all passed" : "FAILED");
    }
    if (L.o.mode == MODE_IDLE)
        ok = L.idle_failed == 0 && L.idle_ok == L.o.idle;
    fflush(stdout);
    write_json(kinds, verify, elapsed, ops, errs);
    free_all();
    libevent_global_shutdown();
    return ok ? 0 : 1;
}
