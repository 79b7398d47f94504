/*
 * request.h - one HTTP request from arrival to its single reply: the parsed
 * path and query, the JSON body, the authenticated organization and token, the
 * reply helpers (SCIM, SCIM 1.1 or admin API error shapes), and the access
 * log line written when it ends.
 *
 * Ownership: the server creates a request per evhttp request; exactly one of
 * the request_reply_* / request_stream_end calls ends it and frees it. After
 * that call the handler must not touch req. If the client went away, the reply
 * is still made (libevent discards it), so handlers never special-case it.
 */
#ifndef SCIMGATE_REQUEST_H
#define SCIMGATE_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "gateway.h"
#include "ids.h"
#include "scim_error.h"

#define REQUEST_MAX_PARAMS 6

enum request_style {
    REQ_STYLE_SCIM2, /* SCIM 2.0 errors, application/scim+json */
    REQ_STYLE_SCIM1, /* SCIM 1.1 errors, application/json */
    REQ_STYLE_API,   /* admin API errors, application/json */
    REQ_STYLE_PLAIN, /* health and metrics */
};

enum request_state {
    REQ_ROUTE,   /* path and method matched to a route */
    REQ_AUTH,    /* credentials being checked (maybe a database lookup) */
    REQ_LIMIT,   /* rate limit being applied */
    REQ_HANDLE,  /* the handler runs (possibly waiting on the database) */
    REQ_STREAM,  /* a chunked reply is being written */
    REQ_DONE,    /* replied; about to be freed */
};

struct route;

struct request {
    struct gateway *gw;               /* process context (borrowed) */
    struct evhttp_request *ev;        /* libevent's request (borrowed) */
    enum request_state state;
    enum request_style style;
    char id[40];                      /* request id, echoed as X-Request-Id */
    enum evhttp_cmd_type method;
    const char *method_name;          /* "GET", ... */
    char *path;                       /* normalised, percent-decoded path */
    char *params[REQUEST_MAX_PARAMS]; /* the "*" segments of the route, decoded */
    int nparams;
    struct evkeyvalq query;           /* decoded query parameters */
    const struct route *route;        /* matched route */
    int64_t start_us;                 /* arrival (monotonic) */
    char remote[64];                  /* peer address */
    const char *body;                 /* raw body bytes (borrowed from libevent) */
    size_t body_len;
    json_t *json;                     /* parsed body for JSON routes, else NULL */
    char org_id[IDS_MAX];             /* authenticated organization ("" if none) */
    char token_id[IDS_MAX];           /* SCIM token or admin key id */
    char token_prefix[32];            /* for logs: never the secret */
    unsigned scopes;                  /* granted scope bits (auth.h) */
    double rate_per_sec;              /* the token's own rate limit, 0 = default */
    int burst;                        /* the token's own burst, 0 = default */
    int status;                       /* reply status, for the access log */
    size_t reply_bytes;               /* reply body size, for the access log */
    bool client_gone;                 /* the connection closed during a stream */
    bool ev_dead;                     /* libevent frees ev with its connection: never touch it */
    char user_agent[128];             /* for the access log (copied at arrival) */
    void (*stream_sent)(struct request *); /* waiting for a chunk to be written */
    struct event *defer_ev;           /* completes an empty chunk from the loop */
    struct request_virtual *virt;     /* a /Bulk operation (no HTTP exchange), or NULL */
    json_t *(*transform)(struct request *req, json_t *doc); /* rewrites each JSON reply
                                      * document (steals doc, returns a new reference)
                                      * before it is sent, and each streamed piece of one;
                                      * NULL = as built. The SCIM 1.1 routes set it; error
                                      * replies never pass through it */
    void *ctx;                        /* handler state */
    void (*ctx_free)(void *ctx);      /* frees ctx with the request (may be NULL) */
};

/* Reply with a JSON document (stolen; NULL = empty object), rewritten by
 * req->transform when set, and end the request. */
void request_reply_json(struct request *req, int status, json_t *doc);
/* Reply with the error in the request's style and end the request. */
void request_reply_error(struct request *req, const struct scim_error *err);
/* Shortcut: set an error and reply. */
void request_fail(struct request *req, int status, const char *scim_type, const char *fmt,
                  ...) PRINTF_LIKE(4, 5);
/* Reply 503 with Retry-After for a database that is down or too slow. */
void request_fail_unavailable(struct request *req);
/* Reply for a failed database query: 503 with Retry-After when the database
 * is unavailable or slow, 409 for a uniqueness violation, 500 otherwise. */
struct pg_query;
void request_fail_db(struct request *req, const struct pg_query *q);
/* Reply with no body (e.g. 204) and end the request. */
void request_reply_empty(struct request *req, int status);
/* Reply with a preformatted text body (copied). */
void request_reply_text(struct request *req, int status, const char *content_type,
                        const char *body, size_t len);

/* Chunked replies for large documents: start, any number of chunks, end.
 * request_stream_chunk queues buf (drained) and calls sent(req) once it has
 * been written to the socket, so a producer fetches its next page only when
 * the client keeps up; if the client goes away, sent(req) is called anyway
 * and request_stream_gone(req) turns true: the producer then ends. */
void request_stream_start(struct request *req, int status);
void request_stream_chunk(struct request *req, struct evbuffer *buf,
                          void (*sent)(struct request *req));
bool request_stream_gone(const struct request *req);
/* Ends a stream that cannot be completed (a database error halfway): the
 * connection is closed without the final chunk, so the client sees a failed
 * transfer instead of a truncated document. */
void request_stream_abort(struct request *req);
void request_stream_end(struct request *req);

/* Adds a response header (before the reply). */
void request_add_header(struct request *req, const char *name, const char *value);
/* A request header, or NULL. */
const char *request_header(const struct request *req, const char *name);
/* A decoded query parameter, or NULL. Names compare case-insensitively. */
const char *request_query(const struct request *req, const char *name);

/* Logs with the request's id, organization and token prefix. */
void request_log(const struct request *req, enum log_level level, const char *msg,
                 const struct log_field *fields, size_t n);
#define rlog_info(req, msg, ...)                                                         \
    do {                                                                                 \
        if (LOG_INFO >= log_level_min) {                                                 \
            const struct log_field rl_f_[] = {__VA_ARGS__};                              \
            request_log((req), LOG_INFO, (msg), rl_f_, ARRAY_LEN(rl_f_));                \
        }                                                                                \
    } while (0)
#define rlog_warn(req, msg, ...)                                                         \
    do {                                                                                 \
        if (LOG_WARN >= log_level_min) {                                                 \
            const struct log_field rl_f_[] = {__VA_ARGS__};                              \
            request_log((req), LOG_WARN, (msg), rl_f_, ARRAY_LEN(rl_f_));                \
        }                                                                                \
    } while (0)
#define rlog_error(req, msg, ...)                                                        \
    do {                                                                                 \
        if (LOG_ERROR >= log_level_min) {                                                \
            const struct log_field rl_f_[] = {__VA_ARGS__};                              \
            request_log((req), LOG_ERROR, (msg), rl_f_, ARRAY_LEN(rl_f_));               \
        }                                                                                \
    } while (0)

/* ---- operations of a /Bulk request ----
 *
 * A virtual request runs a handler exactly as an HTTP request would, with the
 * parent's organization, token and scopes, but its reply is captured and
 * handed to done(req, arg) instead of being sent: req->status, then
 * request_virtual_location / _etag / _body. The request is freed after done
 * returns. */
struct request *request_create_virtual(struct request *parent, enum evhttp_cmd_type method,
                                       const char *path, json_t *body, const char *if_match,
                                       void (*done)(struct request *req, void *arg), void *arg);
bool request_is_virtual(const struct request *req);
const char *request_virtual_location(const struct request *req);
const char *request_virtual_etag(const struct request *req);
/* The reply document (borrowed), or NULL. */
const json_t *request_virtual_body(const struct request *req);

/* ---- for server.c ---- */
/* Creates the request for ev; NULL (after replying) when the request line is unusable. */
struct request *request_create(struct gateway *gw, struct evhttp_request *ev);
void request_set_state(struct request *req, enum request_state state);
/* Frees a request without replying (server shutdown only). */
void request_free(struct request *req);

#endif
