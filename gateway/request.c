/*
 * request.c - the per-request context: creation from an evhttp request,
 * reply helpers in the three error styles, chunked streaming, and the access
 * log line written exactly once when the request ends.
 */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "metrics.h"
#include "router.h"
#include "pg_query.h"
#include "server.h"
#include "util.h"

struct request_virtual {
    char if_match[128];          /* the operation's "version", as If-Match */
    char location[600];          /* captured Location */
    char etag[64];               /* captured ETag */
    json_t *body;                /* captured reply document */
    void (*done)(struct request *req, void *arg);
    void *arg;
};

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "UNKNOWN";
}

static bool valid_request_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 36)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

static void set_remote(struct request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req->ev);
    const char *host = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer(conn, (char **)&host, &port);
    snprintf(req->remote, sizeof req->remote, "%s", host ? host : "");
}

struct request *request_create(struct gateway *gw, struct evhttp_request *ev)
{
    struct request *req = xcalloc(1, sizeof *req);
    req->gw = gw;
    req->ev = ev;
    req->start_us = util_mono_us();
    req->method = evhttp_request_get_command(ev);
    req->method_name = method_name(req->method);
    req->style = REQ_STYLE_SCIM2;
    req->state = REQ_ROUTE;
    TAILQ_INIT(&req->query);
    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(ev), "X-Request-Id");
    if (rid && valid_request_id(rid))
        snprintf(req->id, sizeof req->id, "%s", rid);
    else
        ids_new("", req->id);
    set_remote(req);
    const char *ua = evhttp_find_header(evhttp_request_get_input_headers(ev), "User-Agent");
    if (ua)
        snprintf(req->user_agent, sizeof req->user_agent, "%s", ua);
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    req->body_len = evbuffer_get_length(in);
    req->body = req->body_len ? (const char *)evbuffer_pullup(in, -1) : "";
    return req;
}

void request_set_state(struct request *req, enum request_state state)
{
    if (log_level_min <= LOG_DEBUG)
        log_debug("request state", LF_STR("request_id", req->id),
                  LF_INT("from", req->state), LF_INT("to", state));
    req->state = state;
}

void request_free(struct request *req)
{
    if (!req)
        return;
    if (req->virt) {
        json_decref(req->virt->body);
        free(req->virt);
    }
    if (req->defer_ev)
        event_free(req->defer_ev);
    if (req->ctx_free)
        req->ctx_free(req->ctx);
    for (int i = 0; i < req->nparams; i++)
        free(req->params[i]);
    evhttp_clear_headers(&req->query);
    json_decref(req->json);
    free(req->path);
    free(req);
}

static void prefix_fields(const struct request *req, struct strbuf *b)
{
    strbuf_puts(b, "\"request_id\":");
    log_json_string(b, req->id);
    if (req->org_id[0]) {
        strbuf_puts(b, ",\"org_id\":");
        log_json_string(b, req->org_id);
    }
    if (req->token_prefix[0]) {
        strbuf_puts(b, ",\"token_prefix\":");
        log_json_string(b, req->token_prefix);
    }
}

void request_log(const struct request *req, enum log_level level, const char *msg,
                 const struct log_field *fields, size_t n)
{
    struct strbuf b = {0};
    prefix_fields(req, &b);
    log_emit(level, msg, b.s, fields, n);
    strbuf_clear(&b);
}

static void access_log(struct request *req)
{
    double ms = (double)(util_mono_us() - req->start_us) / 1000.0;
    enum log_level level = req->status >= 500 ? LOG_ERROR : LOG_INFO;
    if (level < log_level_min)
        return;
    const struct log_field f[] = {
        LF_STR("method", req->method_name), LF_STR("path", req->path ? req->path : ""),
        LF_INT("status", req->status), LF_NUM("duration_ms", ms),
        LF_INT("bytes", req->reply_bytes), LF_STR("remote", req->remote),
        req->user_agent[0] ? LF_STR("user_agent", req->user_agent) : LF_NONE,
    };
    request_log(req, level, "request", f, ARRAY_LEN(f));
}

/* The route pattern as a metric label: "*" segments become "{id}". */
static void route_label(const struct request *req, char *buf, size_t len)
{
    if (!req->route) {
        snprintf(buf, len, "unmatched");
        return;
    }
    size_t o = 0;
    for (const char *p = req->route->pattern; *p && o + 5 < len; p++) {
        if (*p == '*') {
            memcpy(buf + o, "{id}", 4);
            o += 4;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
}

/* After the reply was handed to libevent, which may already have freed
 * req->ev (a departed client): log, count and free without touching it. */
static void finish(struct request *req)
{
    request_set_state(req, REQ_DONE);
    if (req->virt) {
        req->virt->done(req, req->virt->arg);
        request_free(req);
        return;
    }
    access_log(req);
    char label[128];
    route_label(req, label, sizeof label);
    metrics_request(req->gw->metrics, label, req->method_name, req->status,
                    (double)(util_mono_us() - req->start_us) / 1e6);
    request_free(req);
}

static const char *content_type(const struct request *req)
{
    return req->style == REQ_STYLE_SCIM2 ? "application/scim+json"
                                         : "application/json; charset=utf-8";
}

static void common_headers(struct request *req)
{
    if (req->virt)
        return;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
    evhttp_add_header(h, "X-Request-Id", req->id);
    if (req->gw->draining)
        evhttp_add_header(h, "Connection", "close");
}

void request_add_header(struct request *req, const char *name, const char *value)
{
    if (req->virt) {
        if (util_streq_ci(name, "Location"))
            snprintf(req->virt->location, sizeof req->virt->location, "%s", value);
        else if (util_streq_ci(name, "ETag"))
            snprintf(req->virt->etag, sizeof req->virt->etag, "%s", value);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

const char *request_header(const struct request *req, const char *name)
{
    if (req->virt)
        return util_streq_ci(name, "If-Match") && req->virt->if_match[0] ? req->virt->if_match
                                                                         : NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const char *request_query(const struct request *req, const char *name)
{
    const struct evkeyval *kv;
    TAILQ_FOREACH(kv, &req->query, next)
        if (util_streq_ci(kv->key, name))
            return kv->value;
    return NULL;
}

static void send_reply(struct request *req, int status, struct evbuffer *buf)
{
    req->status = status;
    req->reply_bytes = buf ? evbuffer_get_length(buf) : 0;
    if (req->virt) {
        size_t n = buf ? evbuffer_get_length(buf) : 0;
        if (n)
            req->virt->body = json_loadb((const char *)evbuffer_pullup(buf, -1), n, 0, NULL);
        finish(req);
        return;
    }
    common_headers(req);
    server_request_done(req->gw->server, req);
    if (req->method == EVHTTP_REQ_HEAD) {
        /* libevent 2.1 would write the body after a HEAD answer; send none and
         * close, so a keep-alive client cannot misread it. */
        request_add_header(req, "Connection", "close");
        evhttp_send_reply(req->ev, status, NULL, NULL);
        finish(req);
        return;
    }
    evhttp_send_reply(req->ev, status, NULL, buf);
    finish(req);
}

void request_reply_text(struct request *req, int status, const char *ctype, const char *body,
                        size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, body, len);
    request_add_header(req, "Content-Type", ctype);
    send_reply(req, status, buf);
    evbuffer_free(buf);
}

/* Sends doc as it is (stolen). */
static void reply_json_as_is(struct request *req, int status, json_t *doc)
{
    if (req->virt) {
        req->status = status;
        req->virt->body = doc;
        finish(req);
        return;
    }
    if (!doc)
        doc = json_object();
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        util_fatal("cannot serialise a reply");
    request_reply_text(req, status, content_type(req), text, strlen(text));
    free(text);
}

void request_reply_json(struct request *req, int status, json_t *doc)
{
    if (doc && req->transform)
        doc = req->transform(req, doc);
    reply_json_as_is(req, status, doc);
}

void request_reply_empty(struct request *req, int status)
{
    send_reply(req, status, NULL);
}

void request_reply_error(struct request *req, const struct scim_error *err)
{
    json_t *doc;
    switch (req->style) {
    case REQ_STYLE_SCIM1: doc = scim_error_to_json_v1(err); break;
    case REQ_STYLE_API: doc = scim_error_to_json_api(err); break;
    default: doc = scim_error_to_json(err); break;
    }
    if (err->status >= 500)
        rlog_error(req, "request failed", LF_INT("status", err->status),
                   LF_STR("detail", err->detail));
    /* Already in the request's style: no transform. */
    reply_json_as_is(req, err->status ? err->status : 500, doc);
}

void request_fail(struct request *req, int status, const char *scim_type, const char *fmt,
                  ...)
{
    struct scim_error err = {0};
    err.status = status;
    err.type = scim_type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.detail, sizeof err.detail, fmt, ap);
    va_end(ap);
    request_reply_error(req, &err);
}

void request_fail_unavailable(struct request *req)
{
    request_add_header(req, "Retry-After", "1");
    request_fail(req, 503, NULL, "The database is unavailable; retry shortly.");
}

void request_fail_db(struct request *req, const struct pg_query *q)
{
    enum pg_status st = pg_query_status(q);
    const char *state = pg_query_sqlstate(q);
    if (st == PG_ERR_TIMEOUT || st == PG_ERR_CONN_LOST) {
        /* The statement may have committed just before the connection went. */
        rlog_warn(req, "database outcome unknown", LF_INT("status", st),
                  LF_STR("error", pg_query_error(q)));
        request_add_header(req, "Retry-After", "1");
        request_fail(req, 503, NULL,
                     "The database did not confirm the outcome; a change may or may not have "
                     "been applied. Read the resource before retrying.");
        return;
    }
    if (st != PG_ERR_SQL || strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
        strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        /* Unavailable, timed out, cancelled, a lock timeout, a serialisation
         * failure or deadlock: nothing was committed and a retry may succeed. */
        rlog_warn(req, "database unavailable", LF_INT("status", st), LF_STR("sqlstate", state),
                  LF_STR("error", pg_query_error(q)));
        request_fail_unavailable(req);
        return;
    }
    if (strcmp(state, "23505") == 0) {
        request_fail(req, 409, SCIM_TYPE_UNIQUENESS, "A resource with that value already exists.");
        return;
    }
    rlog_error(req, "database error", LF_STR("sqlstate", state),
               LF_STR("error", pg_query_error(q)), LF_STR("query", pg_query_label(q)));
    request_fail(req, 500, NULL, "Internal error (request %s).", req->id);
}

/* The connection closed while streaming: wake a producer waiting for a
 * write that will never complete. */
static void on_stream_close(struct evhttp_connection *evcon, void *arg)
{
    struct request *req = arg;
    (void)evcon;
    req->client_gone = true;
    /* Still attached: libevent frees it right after this callback. */
    if (evhttp_request_get_connection(req->ev))
        req->ev_dead = true;
    void (*sent)(struct request *) = req->stream_sent;
    req->stream_sent = NULL;
    if (sent)
        sent(req);
}

static void on_chunk_written(struct evhttp_connection *evcon, void *arg)
{
    struct request *req = arg;
    (void)evcon;
    void (*sent)(struct request *) = req->stream_sent;
    req->stream_sent = NULL;
    if (sent)
        sent(req);
}

static void on_deferred_sent(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    on_chunk_written(NULL, arg);
}

void request_stream_start(struct request *req, int status)
{
    req->status = status;
    request_set_state(req, REQ_STREAM);
    if (req->virt)
        return; /* a /Bulk operation reports its status, not its body */
    request_add_header(req, "Content-Type", content_type(req));
    common_headers(req);
    struct evhttp_connection *c = evhttp_request_get_connection(req->ev);
    if (!c) {
        req->client_gone = true; /* nothing to send to; request_stream_end frees ev */
        return;
    }
    evhttp_connection_set_closecb(c, on_stream_close, req);
    evhttp_send_reply_start(req->ev, status, NULL);
}

void request_stream_chunk(struct request *req, struct evbuffer *buf,
                          void (*sent)(struct request *req))
{
    req->reply_bytes += evbuffer_get_length(buf);
    if (req->virt || req->client_gone || req->ev_dead ||
        !evhttp_request_get_connection(req->ev)) {
        req->client_gone = !req->virt;
        evbuffer_drain(buf, evbuffer_get_length(buf));
        sent(req);
        return;
    }
    req->stream_sent = sent;
    if (evbuffer_get_length(buf) == 0) {
        /* libevent calls nothing back for an empty chunk: continue from the
         * loop, never from inside this call. */
        if (!req->defer_ev)
            req->defer_ev = event_new(req->gw->base, -1, 0, on_deferred_sent, req);
        event_active(req->defer_ev, EV_TIMEOUT, 0);
        return;
    }
    evhttp_send_reply_chunk_with_cb(req->ev, buf, on_chunk_written, req);
}

void request_stream_abort(struct request *req)
{
    if (req->virt) {
        finish(req);
        return;
    }
    struct evhttp_connection *c = req->ev_dead ? NULL : evhttp_request_get_connection(req->ev);
    if (c)
        evhttp_connection_set_closecb(c, NULL, NULL); /* the stream's own */
    server_request_done(req->gw->server, req);
    if (c) {
        /* Freeing the connection frees the request with it and sends no
         * final chunk: the client sees a broken transfer, not a short answer. */
        req->ev_dead = true;
        evhttp_connection_free(c);
    } else if (!req->ev_dead) {
        evhttp_send_reply_end(req->ev); /* detached: this frees it */
    }
    finish(req);
}

bool request_stream_gone(const struct request *req)
{
    return req->client_gone;
}

void request_stream_end(struct request *req)
{
    if (req->virt) {
        finish(req);
        return;
    }
    if (!req->ev_dead) {
        struct evhttp_connection *c = evhttp_request_get_connection(req->ev);
        if (c)
            evhttp_connection_set_closecb(c, NULL, NULL);
        server_request_done(req->gw->server, req);
        evhttp_send_reply_end(req->ev); /* frees ev when the client is gone */
    } else {
        server_request_done(req->gw->server, req);
    }
    finish(req);
}

/* ---- virtual requests ---- */

struct request *request_create_virtual(struct request *parent, enum evhttp_cmd_type method,
                                       const char *path, json_t *body, const char *if_match,
                                       void (*done)(struct request *req, void *arg), void *arg)
{
    struct request *req = xcalloc(1, sizeof *req);
    req->gw = parent->gw;
    req->start_us = util_mono_us();
    req->method = method;
    req->method_name = method_name(method);
    req->style = parent->style;
    req->state = REQ_ROUTE;
    TAILQ_INIT(&req->query);
    snprintf(req->id, sizeof req->id, "%s", parent->id);
    memcpy(req->remote, parent->remote, sizeof req->remote);
    memcpy(req->org_id, parent->org_id, sizeof req->org_id);
    memcpy(req->token_id, parent->token_id, sizeof req->token_id);
    memcpy(req->token_prefix, parent->token_prefix, sizeof req->token_prefix);
    req->scopes = parent->scopes;
    req->rate_per_sec = parent->rate_per_sec;
    req->burst = parent->burst;
    req->path = xstrdup(path);
    req->json = body;
    req->body = "";
    req->virt = xcalloc(1, sizeof *req->virt);
    if (if_match)
        snprintf(req->virt->if_match, sizeof req->virt->if_match, "%s", if_match);
    req->virt->done = done;
    req->virt->arg = arg;
    return req;
}

bool request_is_virtual(const struct request *req)
{
    return req->virt != NULL;
}

const char *request_virtual_location(const struct request *req)
{
    return req->virt && req->virt->location[0] ? req->virt->location : NULL;
}

const char *request_virtual_etag(const struct request *req)
{
    return req->virt && req->virt->etag[0] ? req->virt->etag : NULL;
}

const json_t *request_virtual_body(const struct request *req)
{
    return req->virt ? req->virt->body : NULL;
}
