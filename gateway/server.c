/*
 * server.c - the evhttp listener and the path of every request to its handler:
 *
 *   route (404 / 405) -> body checks (413 / 415 / 400) -> authentication
 *   (auth.c; 401 / 403) -> rate limit (429) -> handler
 *
 * Limits: headers are capped, bodies are capped twice over: evhttp refuses
 * anything above twice the configured cap before reading it (its own plain
 * 413 page), and bodies between the cap and that hard limit get a SCIM or API
 * shaped 413 from here. Read/idle timeouts come from evhttp_set_timeout_tv.
 *
 * Drain: server_drain closes the listening socket, marks replies
 * "Connection: close", waits until every request has replied and its reply has
 * been written (evhttp's on-complete callback), then reports done.
 */
#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <event2/keyvalq_struct.h>

#include "auth.h"
#include "log.h"
#include "ratelimit_gate.h"
#include "request.h"
#include "router.h"
#include "util.h"

#define MAX_HEADERS_BYTES (64 * 1024)
#define MAX_JSON_DEPTH 32

struct server {
    struct gateway *gw;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    int port;
    int inflight;                 /* requests without a reply yet */
    int unflushed;                /* replies not yet fully written */
    bool draining;
    struct event *drain_timer;    /* deadline of the drain */
    struct event *drain_check;    /* runs the completion check from the loop */
    void (*drained)(void *arg);
    void *drained_arg;
    SSL_CTX *tls;                 /* current certificate, or NULL for plain HTTP */
};

/* ---- TLS ---- */

static void tls_error(char *err, size_t errlen, const char *what)
{
    char msg[200] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, msg, sizeof msg);
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s", what, *msg ? ": " : "", msg);
}

/* TLS 1.2 and 1.3 only, forward-secret AEAD suites for 1.2, no renegotiation,
 * no compression. */
static SSL_CTX *tls_load(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_error(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls_error(err, errlen, "cannot load SCIMGATE_TLS_CERT");
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        tls_error(err, errlen, mismatch ? "SCIMGATE_TLS_KEY does not match SCIMGATE_TLS_CERT"
                                        : "cannot load SCIMGATE_TLS_KEY");
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(err, errlen, "SCIMGATE_TLS_KEY does not match SCIMGATE_TLS_CERT");
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

/* Every accepted connection gets a TLS bufferevent from the current context;
 * SSL_new takes its own reference, so a reload never disturbs it. */
static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
    struct server *s = arg;
    SSL *ssl = SSL_new(s->tls);
    if (!ssl) /* never fall back to plain HTTP on the TLS port */
        util_fatal("cannot create a TLS session (out of memory)");
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

bool server_reload_tls(struct server *s, char *err, size_t errlen)
{
    const struct config *cfg = s->gw->cfg;
    if (!cfg->tls_cert)
        return true;
    SSL_CTX *ctx = tls_load(cfg->tls_cert, cfg->tls_key, err, errlen);
    if (!ctx)
        return false;
    SSL_CTX_free(s->tls);
    s->tls = ctx;
    return true;
}

static void on_request(struct evhttp_request *ev, void *arg);

struct server *server_create(struct gateway *gw)
{
    struct server *s = xcalloc(1, sizeof *s);
    s->gw = gw;
    s->http = evhttp_new(gw->base);
    if (!s->http)
        util_fatal("cannot create the HTTP server");
    const struct config *cfg = gw->cfg;
    ev_ssize_t hard = (ev_ssize_t)cfg->max_body_bytes * 2;
    if (hard < cfg->max_body_bytes + 65536)
        hard = cfg->max_body_bytes + 65536;
    evhttp_set_max_body_size(s->http, hard);
    evhttp_set_max_headers_size(s->http, MAX_HEADERS_BYTES);
    struct timeval tv = {cfg->http_timeout_s, 0};
    evhttp_set_timeout_tv(s->http, &tv);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->http, on_request, s);
    return s;
}

bool server_listen(struct server *s, char *err, size_t errlen)
{
    const struct config *cfg = s->gw->cfg;
    if (cfg->tls_cert) {
        if (!server_reload_tls(s, err, errlen))
            return false;
        evhttp_set_bevcb(s->http, tls_bevcb, s);
    }
    const char *host = cfg->listen_host[0] ? cfg->listen_host : "0.0.0.0";
    s->bound = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)cfg->listen_port);
    if (!s->bound) {
        snprintf(err, errlen, "cannot listen on %s (in use, or not an address of this host)",
                 cfg->listen);
        return false;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = evhttp_bound_socket_get_fd(s->bound);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return true;
}

int server_port(const struct server *s)
{
    return s->port;
}

int server_inflight(const struct server *s)
{
    return s->inflight;
}

void server_free(struct server *s)
{
    if (!s)
        return;
    /* Freeing the connections runs their close callbacks, which report
     * replies as done: nothing may be drained any more by then. */
    s->drained = NULL;
    s->draining = false;
    evhttp_free(s->http);
    if (s->drain_timer)
        event_free(s->drain_timer);
    if (s->drain_check)
        event_free(s->drain_check);
    SSL_CTX_free(s->tls);
    free(s);
}

/* ---- drain ---- */

static void drain_finish(struct server *s)
{
    if (!s->drained)
        return;
    void (*done)(void *) = s->drained;
    s->drained = NULL;
    event_del(s->drain_timer);
    done(s->drained_arg);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_finish(arg);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    if (s->inflight + s->unflushed > 0)
        log_warn("shutdown timeout: closing with requests unfinished",
                 LF_INT("in_flight", s->inflight), LF_INT("unflushed", s->unflushed));
    drain_finish(s);
}

static void maybe_drained(struct server *s)
{
    if (s->draining && s->drained && s->inflight == 0 && s->unflushed == 0)
        event_active(s->drain_check, EV_READ, 0);
}

void server_drain(struct server *s, int timeout_ms, void (*done)(void *), void *arg)
{
    s->draining = true;
    s->gw->draining = true;
    if (s->bound) {
        evhttp_del_accept_socket(s->http, s->bound);
        s->bound = NULL;
    }
    s->drained = done;
    s->drained_arg = arg;
    s->drain_timer = evtimer_new(s->gw->base, on_drain_timeout, s);
    s->drain_check = event_new(s->gw->base, -1, 0, on_drain_check, s);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(s->drain_timer, &tv);
    log_info("draining", LF_INT("in_flight", s->inflight));
    maybe_drained(s);
}

/* A reply being written: counted until libevent reports it written, or until
 * its connection goes away without writing it (a failed write frees the
 * request without calling its on-complete callback). */
struct unflushed {
    struct server *s;
    struct evhttp_connection *conn;
};

static void unflushed_done(struct unflushed *u)
{
    struct server *s = u->s;
    free(u);
    s->unflushed--;
    maybe_drained(s);
}

static void on_reply_written(struct evhttp_request *ev, void *arg)
{
    struct unflushed *u = arg;
    (void)ev;
    evhttp_connection_set_closecb(u->conn, NULL, NULL);
    unflushed_done(u);
}

static void on_reply_conn_closed(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    unflushed_done(arg);
}

void server_request_done(struct server *s, struct request *req)
{
    s->inflight--;
    struct evhttp_connection *conn = req->ev_dead ? NULL : evhttp_request_get_connection(req->ev);
    if (conn) {
        struct unflushed *u = xcalloc(1, sizeof *u);
        u->s = s;
        u->conn = conn;
        s->unflushed++;
        evhttp_request_set_on_complete_cb(req->ev, on_reply_written, u);
        evhttp_connection_set_closecb(conn, on_reply_conn_closed, u);
    }
    maybe_drained(s);
}

/* ---- the request path ---- */

static bool json_media_type(const char *ctype)
{
    while (*ctype == ' ')
        ctype++;
    size_t n = strcspn(ctype, "; \t");
    static const char *const ok[] = {"application/scim+json", "application/json"};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++)
        if (n == strlen(ok[i]) && util_has_prefix_ci(ctype, ok[i]))
            return true;
    /* Any other structured-syntax JSON type (RFC 6839) is JSON too. */
    return n > 5 && util_has_prefix_ci(ctype, "application/") &&
           util_has_prefix_ci(ctype + n - 5, "+json");
}

static bool depth_ok(const json_t *v, int depth)
{
    if (depth > MAX_JSON_DEPTH)
        return false;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child)
            if (!depth_ok(child, depth + 1))
                return false;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
            if (!depth_ok(child, depth + 1))
                return false;
    }
    return true;
}

static bool check_size(struct request *req)
{
    const struct config *cfg = req->gw->cfg;
    if (req->body_len > (size_t)cfg->max_body_bytes) {
        request_fail(req, 413, NULL, "The request body exceeds %d bytes.", cfg->max_body_bytes);
        return false;
    }
    return true;
}

static bool check_body(struct request *req)
{
    unsigned f = req->route->flags;
    if (!(f & (ROUTE_JSON | ROUTE_JSON_OPTIONAL)))
        return true;
    if (req->body_len == 0) {
        if (!(f & ROUTE_JSON))
            return true;
        request_fail(req, 400, SCIM_TYPE_INVALID_SYNTAX, "A JSON request body is required.");
        return false;
    }
    const char *ctype = request_header(req, "Content-Type");
    if (ctype && !json_media_type(ctype)) {
        request_fail(req, 415, NULL,
                     "Content-Type must be application/scim+json or application/json.");
        return false;
    }
    json_error_t e;
    req->json = json_loadb(req->body, req->body_len, 0, &e);
    if (!req->json) {
        request_fail(req, 400, SCIM_TYPE_INVALID_SYNTAX,
                     "The request body is not valid JSON: %s (line %d, column %d).", e.text,
                     e.line, e.column);
        return false;
    }
    if (!json_is_object(req->json)) {
        request_fail(req, 400, SCIM_TYPE_INVALID_SYNTAX, "The request body must be a JSON object.");
        return false;
    }
    if (!depth_ok(req->json, 0)) {
        request_fail(req, 400, SCIM_TYPE_INVALID_SYNTAX, "The request body is nested too deeply.");
        return false;
    }
    return true;
}

static bool parse_target(struct request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    req->path = router_normalize(path && *path ? path : "/");
    if (!req->path) {
        req->path = xstrdup(path ? path : "");
        request_fail(req, 404, NULL, "No such resource.");
        return false;
    }
    req->style = router_style_for(req->path);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (query && *query && evhttp_parse_query_str(query, &req->query) != 0) {
        request_fail(req, 400, SCIM_TYPE_INVALID_VALUE, "The query string is malformed.");
        return false;
    }
    return true;
}

static bool route(struct request *req)
{
    unsigned allowed;
    enum evhttp_cmd_type m = req->method;
    req->route = router_match(req->path, m, req->params, &req->nparams, &allowed);
    if (!req->route && m == EVHTTP_REQ_HEAD && (allowed & EVHTTP_REQ_GET)) {
        /* HEAD is served for the health and metrics routes (load balancers
         * probe with it); its reply never carries a body. */
        const struct route *get =
            router_match(req->path, EVHTTP_REQ_GET, req->params, &req->nparams, &allowed);
        if (get && get->style == REQ_STYLE_PLAIN)
            req->route = get;
        else
            for (int i = 0; i < req->nparams; i++) {
                free(req->params[i]);
                req->params[i] = NULL;
            }
        if (!req->route)
            req->nparams = 0;
    }
    if (req->route) {
        req->style = req->route->style;
        return true;
    }
    if (allowed) {
        char allow[96];
        router_allow_header(allowed, allow, sizeof allow);
        request_add_header(req, "Allow", allow);
        request_fail(req, 405, NULL, "Method %s is not allowed here; allowed: %s.",
                     req->method_name, allow);
    } else {
        request_fail(req, 404, NULL, "No such resource.");
    }
    return false;
}

static void run_handler(struct request *req)
{
    request_set_state(req, REQ_HANDLE);
    req->route->handler(req);
}

void server_dispatch_authenticated(struct request *req)
{
    if ((req->route->flags & ROUTE_SCIM) && !(req->route->flags & ROUTE_UNLIMITED)) {
        request_set_state(req, REQ_LIMIT);
        if (ratelimit_gate_take(req, 1, run_handler) != RATELIMIT_GATE_PASS)
            return;
    }
    run_handler(req);
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct server *s = arg;
    struct request *req = request_create(s->gw, ev);
    s->inflight++;
    if (!parse_target(req) || !check_size(req) || !route(req) || !check_body(req))
        return;
    if (req->route->flags & (ROUTE_SCIM | ROUTE_ADMIN)) {
        request_set_state(req, REQ_AUTH);
        auth_check(req);
        return;
    }
    request_set_state(req, REQ_HANDLE);
    req->route->handler(req);
}
