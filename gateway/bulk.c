/*
 * bulk.c - POST /Bulk (RFC 7644 section 3.7).
 *
 * Operations run one after another, in request order, each through the same
 * handler (and the same validation, scopes and transaction) as the single
 * request it stands for, as a virtual request. "bulkId:<id>" references in an
 * operation's path or data are replaced by the id the referenced POST
 * created. An operation that refers to a POST further down waits: every pass
 * runs whatever can run, and passes repeat while they make progress, so
 * forward references resolve; references that can never resolve (unknown,
 * failed, or circular) fail their operation with 409. failOnErrors stops the
 * run after that many errors. Each operation reports its own status; bodies
 * are included for errors only. The whole request takes one rate-limit unit
 * per operation before anything runs.
 */
#include "bulk.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "hmap.h"
#include "ratelimit_gate.h"
#include "router.h"
#include "scim_schema.h"
#include "util.h"

enum op_phase {
    OP_PENDING,  /* not run yet (maybe waiting for a bulkId) */
    OP_RUNNING,  /* its virtual request is in flight */
    OP_DONE,     /* finished with a status */
};

struct op {
    enum op_phase phase;
    enum evhttp_cmd_type method;
    const char *method_name;
    const char *bulk_id;    /* borrowed from the body, or NULL */
    const char *path;       /* borrowed */
    const char *version;    /* borrowed, or NULL */
    const json_t *data;     /* borrowed, or NULL */
    int status;
    char *location;         /* of the resource it touched */
    char *version_out;
    char *created_id;       /* POST: the new resource's id */
    json_t *response;       /* error document */
    bool invalid;           /* malformed: fails with `response` when its turn comes */
    int invalid_status;
};

struct bulk {
    struct request *req;    /* the /Bulk request */
    struct op *ops;
    size_t n;
    struct hmap *by_bulk_id; /* bulkId -> (op index + 1) */
    long long fail_on_errors; /* 0 = never stop */
    long long errors;
    size_t cursor;          /* next op to consider in this pass */
    bool progress;          /* an op ran during this pass */
    bool stopped;           /* failOnErrors reached */
    bool in_handler;        /* inside a handler call: a synchronous completion must
                             * not re-enter step() */
};

static void bulk_free(void *p)
{
    struct bulk *b = p;
    for (size_t i = 0; i < b->n; i++) {
        free(b->ops[i].location);
        free(b->ops[i].version_out);
        free(b->ops[i].created_id);
        json_decref(b->ops[i].response);
    }
    free(b->ops);
    hmap_free(b->by_bulk_id);
    free(b);
}

static void step(struct bulk *b);

/* ---- results ---- */

static json_t *error_doc(int status, const char *type, const char *detail)
{
    struct scim_error err = {0};
    scim_error_set(&err, status, type, "%s", detail);
    return scim_error_to_json(&err);
}

static void op_fail(struct bulk *b, struct op *op, int status, const char *type,
                    const char *detail)
{
    op->phase = OP_DONE;
    op->status = status;
    op->response = error_doc(status, type, detail);
    b->errors++;
    if (b->fail_on_errors && b->errors >= b->fail_on_errors)
        b->stopped = true;
}

static json_t *op_result(const struct op *op)
{
    char status[8];
    snprintf(status, sizeof status, "%d", op->status);
    json_t *r = json_pack("{s:s,s:s}", "method", op->method_name, "status", status);
    if (op->bulk_id)
        json_object_set_new(r, "bulkId", json_string(op->bulk_id));
    if (op->location)
        json_object_set_new(r, "location", json_string(op->location));
    if (op->version_out)
        json_object_set_new(r, "version", json_string(op->version_out));
    if (op->response)
        json_object_set(r, "response", op->response);
    return r;
}

static void reply(struct bulk *b)
{
    json_t *results = json_array();
    for (size_t i = 0; i < b->n; i++)
        if (b->ops[i].phase == OP_DONE)
            json_array_append_new(results, op_result(&b->ops[i]));
    request_reply_json(b->req, 200,
                       json_pack("{s:[s],s:o}", "schemas", SCIM_SCHEMA_BULK_RESPONSE,
                                 "Operations", results));
}

/* ---- bulkId references ---- */

enum ref_state {
    REFS_READY,     /* every reference resolved (or none) */
    REFS_WAIT,      /* refers to a POST not run yet */
    REFS_BROKEN,    /* refers to an unknown or failed operation */
};

static enum ref_state ref_of(const struct bulk *b, const char *s, const char **id_out)
{
    if (strncmp(s, "bulkId:", 7) != 0)
        return REFS_READY;
    intptr_t idx = (intptr_t)hmap_get(b->by_bulk_id, s + 7);
    if (!idx)
        return REFS_BROKEN;
    const struct op *target = &b->ops[idx - 1];
    if (target->phase != OP_DONE)
        return REFS_WAIT;
    if (!target->created_id)
        return REFS_BROKEN;
    *id_out = target->created_id;
    return REFS_READY;
}

/* Worst state of the references in v; with out != NULL, also writes v with
 * the references replaced (new reference). */
static enum ref_state resolve(const struct bulk *b, const json_t *v, json_t **out)
{
    enum ref_state worst = REFS_READY;
    if (json_is_string(v)) {
        const char *id = NULL;
        worst = ref_of(b, json_string_value(v), &id);
        if (out)
            *out = id ? json_string(id) : json_incref((json_t *)v);
    } else if (json_is_object(v)) {
        if (out)
            *out = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            json_t *r = NULL;
            enum ref_state s = resolve(b, x, out ? &r : NULL);
            worst = s > worst ? s : worst;
            if (out)
                json_object_set_new(*out, k, r);
        }
    } else if (json_is_array(v)) {
        if (out)
            *out = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            json_t *r = NULL;
            enum ref_state s = resolve(b, x, out ? &r : NULL);
            worst = s > worst ? s : worst;
            if (out)
                json_array_append_new(*out, r);
        }
    } else if (out) {
        *out = json_incref((json_t *)v);
    }
    return worst;
}

/* The path with a "bulkId:x" last segment resolved (new string); state in *st. */
static char *resolve_path(const struct bulk *b, const char *path, enum ref_state *st)
{
    const char *slash = strrchr(path, '/');
    const char *id = NULL;
    *st = slash ? ref_of(b, slash + 1, &id) : REFS_READY;
    if (!id)
        return xstrdup(path);
    return xasprintf("%.*s/%s", (int)(slash - path), path, id);
}

/* ---- running one operation ---- */

struct run_ctx {
    struct bulk *b;
    size_t index;
    char *path;             /* the operation's path with bulkIds resolved */
};

static void op_done(struct request *vreq, void *arg)
{
    struct run_ctx *c = arg;
    struct bulk *b = c->b;
    struct op *op = &b->ops[c->index];
    op->phase = OP_DONE;
    op->status = vreq->status;
    const char *loc = request_virtual_location(vreq), *etag = request_virtual_etag(vreq);
    if (loc)
        op->location = xstrdup(loc);
    if (etag)
        op->version_out = xstrdup(etag);
    if (op->status >= 400) {
        const json_t *body = request_virtual_body(vreq);
        op->response = body ? json_deep_copy(body)
                            : error_doc(op->status, NULL, "The operation failed.");
        b->errors++;
        if (b->fail_on_errors && b->errors >= b->fail_on_errors)
            b->stopped = true;
    } else if (op->method == EVHTTP_REQ_POST && loc) {
        const char *slash = strrchr(loc, '/');
        op->created_id = xstrdup(slash ? slash + 1 : loc);
    }
    if (!op->location && op->method != EVHTTP_REQ_POST && op->status < 400)
        op->location = xasprintf("%s%s", b->req->gw->scim_base, c->path);
    free(c->path);
    free(c);
    b->progress = true;
    if (!b->in_handler)
        step(b);
}

static bool scope_ok(const struct request *req, const struct route *route)
{
    return !route->scope || (req->scopes & route->scope);
}

/* Starts op i if its references allow; returns false if it must wait. */
static bool try_run(struct bulk *b, size_t i)
{
    struct op *op = &b->ops[i];
    if (op->invalid) {
        op->phase = OP_DONE;
        op->status = op->invalid_status;
        b->errors++;
        if (b->fail_on_errors && b->errors >= b->fail_on_errors)
            b->stopped = true;
        return true;
    }
    enum ref_state ps, ds = REFS_READY;
    char *path = resolve_path(b, op->path, &ps);
    if (op->data)
        ds = resolve(b, op->data, NULL);
    enum ref_state worst = ps > ds ? ps : ds;
    if (worst == REFS_WAIT) {
        free(path);
        return false;
    }
    if (worst == REFS_BROKEN) {
        free(path);
        op_fail(b, op, 409, SCIM_TYPE_INVALID_VALUE,
                "A bulkId it refers to is unknown or its operation failed.");
        return true;
    }
    char *full = xasprintf("/scim/v2%s", path);
    char *params[REQUEST_MAX_PARAMS];
    int nparams = 0;
    unsigned allowed;
    char *norm = router_normalize(full);
    const struct route *route =
        norm ? router_match(norm, op->method, params, &nparams, &allowed) : NULL;
    bool resource = route && (util_has_prefix_ci(norm, "/scim/v2/Users") ||
                              util_has_prefix_ci(norm, "/scim/v2/Groups")) &&
                    !strstr(norm, "/.search");
    if (!resource || !scope_ok(b->req, route)) {
        op_fail(b, op, !resource ? 404 : 403, NULL,
                !resource ? "No such resource path for a bulk operation."
                          : "This token's scopes do not allow this operation.");
        for (int k = 0; k < nparams; k++)
            free(params[k]);
        free(norm);
        free(full);
        free(path);
        return true;
    }
    json_t *data = NULL;
    if (op->data)
        resolve(b, op->data, &data);
    struct run_ctx *c = xcalloc(1, sizeof *c);
    c->b = b;
    c->index = i;
    c->path = path;
    struct request *v = request_create_virtual(b->req, op->method, norm, data, op->version,
                                               op_done, c);
    v->route = route;
    memcpy(v->params, params, sizeof(char *) * (size_t)nparams);
    v->nparams = nparams;
    free(norm);
    free(full);
    op->phase = OP_RUNNING;
    request_set_state(v, REQ_HANDLE);
    b->in_handler = true;
    route->handler(v); /* may complete at once (a validation error) */
    b->in_handler = false;
    return true;
}

/* Advances to the next operation that can run, or finishes. */
static void step(struct bulk *b)
{
    for (;;) {
        if (b->stopped) {
            reply(b);
            return;
        }
        while (b->cursor < b->n) {
            size_t i = b->cursor++;
            if (b->ops[i].phase != OP_PENDING)
                continue;
            if (!try_run(b, i))
                continue; /* waits for a later POST */
            if (b->ops[i].phase == OP_RUNNING)
                return; /* op_done calls step again */
            b->progress = true;
            if (b->stopped)
                break;
        }
        bool waiting = false;
        for (size_t i = 0; i < b->n; i++)
            waiting = waiting || b->ops[i].phase == OP_PENDING;
        if (!waiting || b->stopped) {
            reply(b);
            return;
        }
        if (!b->progress) {
            /* Circular references: nothing can move any more. */
            for (size_t i = 0; i < b->n && !b->stopped; i++)
                if (b->ops[i].phase == OP_PENDING)
                    op_fail(b, &b->ops[i], 409, SCIM_TYPE_INVALID_VALUE,
                            "Its bulkId references cannot be resolved (circular).");
            reply(b);
            return;
        }
        b->cursor = 0;
        b->progress = false;
    }
}

/* ---- parsing ---- */

static const json_t *member(const json_t *obj, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
        if (util_streq_ci(k, name))
            return v;
    return NULL;
}

static bool parse_method(const char *m, enum evhttp_cmd_type *out, const char **name)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } methods[] = {{"POST", EVHTTP_REQ_POST},
                   {"PUT", EVHTTP_REQ_PUT},
                   {"PATCH", EVHTTP_REQ_PATCH},
                   {"DELETE", EVHTTP_REQ_DELETE}};
    for (size_t i = 0; m && i < ARRAY_LEN(methods); i++) {
        if (util_streq_ci(m, methods[i].name)) {
            *out = methods[i].type;
            *name = methods[i].name;
            return true;
        }
    }
    return false;
}

static void invalid(struct op *op, int status, const char *type, const char *detail)
{
    op->invalid = true;
    op->invalid_status = status;
    op->response = error_doc(status, type, detail);
}

/* Fills op from the i-th operation; a malformed operation fails on its own
 * turn (it never fails the whole request). */
static void parse_op(struct bulk *b, size_t i, const json_t *o)
{
    struct op *op = &b->ops[i];
    const char *m = json_string_value(member(o, "method"));
    op->method_name = m ? m : "";
    op->path = json_string_value(member(o, "path"));
    op->bulk_id = json_string_value(member(o, "bulkId"));
    op->version = json_string_value(member(o, "version"));
    op->data = member(o, "data");
    if (!json_is_object(o) || !parse_method(m, &op->method, &op->method_name))
        invalid(op, 400, SCIM_TYPE_INVALID_SYNTAX, "method must be POST, PUT, PATCH or DELETE.");
    else if (!op->path || op->path[0] != '/')
        invalid(op, 400, SCIM_TYPE_INVALID_SYNTAX, "path must be like \"/Users\".");
    else if (op->method == EVHTTP_REQ_POST && (!op->bulk_id || !*op->bulk_id))
        invalid(op, 400, SCIM_TYPE_INVALID_SYNTAX, "A POST operation needs a bulkId.");
    else if (op->method != EVHTTP_REQ_DELETE && !json_is_object(op->data))
        invalid(op, 400, SCIM_TYPE_INVALID_SYNTAX, "data must be an object.");
    else if (op->bulk_id && hmap_get(b->by_bulk_id, op->bulk_id))
        invalid(op, 400, SCIM_TYPE_INVALID_VALUE, "This bulkId is used twice.");
    else if (op->bulk_id && op->method == EVHTTP_REQ_POST)
        hmap_put(b->by_bulk_id, op->bulk_id, (void *)(intptr_t)(i + 1));
}

static void start(struct request *req)
{
    step(req->ctx);
}

void bulk_handle(struct request *req)
{
    const struct config *cfg = req->gw->cfg;
    if (req->body_len > (size_t)cfg->bulk_max_payload) {
        request_fail(req, 413, NULL, "The bulk request exceeds maxPayloadSize (%d bytes).",
                     cfg->bulk_max_payload);
        return;
    }
    const json_t *schemas = member(req->json, "schemas");
    const char *s0 = json_string_value(json_array_get(schemas, 0));
    if (schemas && (!s0 || strcmp(s0, SCIM_SCHEMA_BULK_REQUEST) != 0)) {
        request_fail(req, 400, SCIM_TYPE_INVALID_SYNTAX, "schemas must be [\"%s\"].",
                     SCIM_SCHEMA_BULK_REQUEST);
        return;
    }
    const json_t *ops = member(req->json, "Operations");
    if (!json_is_array(ops) || json_array_size(ops) == 0) {
        request_fail(req, 400, SCIM_TYPE_INVALID_SYNTAX, "Operations must be a non-empty array.");
        return;
    }
    size_t n = json_array_size(ops), max = bulk_max_operations(req);
    if (n > max) {
        request_fail(req, 413, NULL, "The bulk request has %zu operations; maxOperations is %zu.",
                     n, max);
        return;
    }
    const json_t *foe = member(req->json, "failOnErrors");
    if (foe && !json_is_null(foe) && (!json_is_integer(foe) || json_integer_value(foe) < 1)) {
        request_fail(req, 400, SCIM_TYPE_INVALID_VALUE, "failOnErrors must be a positive integer.");
        return;
    }
    struct bulk *b = xcalloc(1, sizeof *b);
    b->req = req;
    b->n = n;
    b->ops = xcalloc(n, sizeof *b->ops);
    b->by_bulk_id = hmap_create();
    b->fail_on_errors = foe ? json_integer_value(foe) : 0;
    req->ctx = b;
    req->ctx_free = bulk_free;
    for (size_t i = 0; i < n; i++)
        parse_op(b, i, json_array_get(ops, i));
    request_set_state(req, REQ_LIMIT);
    if (ratelimit_gate_take(req, (int)n, start) == RATELIMIT_GATE_PASS)
        start(req);
}

size_t bulk_max_operations(const struct request *req)
{
    size_t max = (size_t)req->gw->cfg->bulk_max_operations;
    /* Never advertise more than the token's bucket can take at once. */
    size_t burst = req->burst > 0 ? (size_t)req->burst : (size_t)req->gw->cfg->burst_per_token;
    if (req->gw->cfg->rate_per_token > 0 || req->rate_per_sec > 0)
        max = burst < max ? burst : max;
    return max;
}
