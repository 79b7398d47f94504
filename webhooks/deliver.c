/*
 * deliver.c - webhook POSTs with the evhttp client.
 *
 * Each attempt owns a fresh evhttp_connection (Connection: close) so that no
 * state leaks between endpoints. Completion (answer, failure, or our own
 * deadline) calls the user back once; the connection is freed afterwards from
 * a zero-delay event, never inside libevent's own callback. On failure
 * libevent calls the request callback with NULL; the error callback that runs
 * just before says why, and for TLS the OpenSSL error queue and the
 * verification result say more.
 */
#include "deliver.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

struct attempt {
    struct deliver *d;
    struct evhttp_connection *evcon;
    struct evhttp_request *req;     /* owned by libevent; NULL once finished */
    struct event *timer;            /* our total deadline */
    SSL *ssl;                       /* borrowed from the bufferevent, for diagnostics */
    deliver_cb cb;
    void *arg;
    int64_t start_us;
    int timeout_ms;
    bool done;
    enum evhttp_request_error error; /* from the error callback */
    bool have_error;
    char fail_reason[64];           /* set when it failed before any I/O */
    TAILQ_ENTRY(attempt) link;      /* in live, then in dead */
};

struct deliver {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ssl_ctx;
    TAILQ_HEAD(, attempt) live;     /* not yet called back */
    TAILQ_HEAD(, attempt) dead;     /* called back; connection still to free */
    struct event *reaper;           /* frees `dead` from the loop */
    int inflight;
};

static void reap(evutil_socket_t fd, short what, void *arg);

struct deliver *deliver_create(struct event_base *base, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "cannot set up TLS for webhook delivery");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    struct deliver *d = xcalloc(1, sizeof *d);
    d->base = base;
    d->ssl_ctx = ctx;
    d->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                      EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!d->dns)
        d->dns = evdns_base_new(base, 0); /* no resolv.conf: numeric hosts still work */
    evdns_base_load_hosts(d->dns, NULL);
    TAILQ_INIT(&d->live);
    TAILQ_INIT(&d->dead);
    d->reaper = event_new(base, -1, 0, reap, d);
    return d;
}

int deliver_inflight(const struct deliver *d)
{
    return d->inflight;
}

static void release(struct attempt *a)
{
    if (a->evcon)
        evhttp_connection_free(a->evcon);
    if (a->timer)
        event_free(a->timer);
    free(a);
}

static void reap(evutil_socket_t fd, short what, void *arg)
{
    struct deliver *d = arg;
    struct attempt *a;
    (void)fd;
    (void)what;
    while ((a = TAILQ_FIRST(&d->dead))) {
        TAILQ_REMOVE(&d->dead, a, link);
        release(a);
    }
}

static void finish(struct attempt *a, int status, const char *error)
{
    if (a->done)
        return;
    a->done = true;
    a->req = NULL;
    event_del(a->timer);
    struct deliver_result r = {.status = status};
    snprintf(r.error, sizeof r.error, "%s", error ? error : "");
    r.duration_ms = (util_mono_us() - a->start_us) / 1000;
    TAILQ_REMOVE(&a->d->live, a, link);
    a->d->inflight--;
    TAILQ_INSERT_TAIL(&a->d->dead, a, link);
    event_active(a->d->reaper, EV_TIMEOUT, 0);
    a->cb(&r, a->arg);
}

static void describe_failure(struct attempt *a, char *buf, size_t len)
{
    unsigned long e = 0, last = 0;
    while ((e = ERR_get_error()))
        last = e;
    if (a->ssl && SSL_get_verify_result(a->ssl) != X509_V_OK) {
        snprintf(buf, len, "TLS certificate rejected: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(a->ssl)));
        return;
    }
    struct bufferevent *bev = a->evcon ? evhttp_connection_get_bufferevent(a->evcon) : NULL;
    unsigned long tls = bev && a->ssl ? bufferevent_get_openssl_error(bev) : 0;
    if (tls || last) {
        char msg[160];
        ERR_error_string_n(tls ? tls : last, msg, sizeof msg);
        snprintf(buf, len, "TLS failure: %s", msg);
        return;
    }
    const char *why = "no answer";
    if (a->have_error) {
        switch (a->error) {
        case EVREQ_HTTP_TIMEOUT: why = "timed out"; break;
        case EVREQ_HTTP_EOF: why = "connection closed before a complete answer"; break;
        case EVREQ_HTTP_INVALID_HEADER: why = "invalid HTTP answer"; break;
        case EVREQ_HTTP_BUFFER_ERROR: why = "connection failed"; break;
        case EVREQ_HTTP_REQUEST_CANCEL: why = "cancelled"; break;
        case EVREQ_HTTP_DATA_TOO_LONG: why = "answer too large"; break;
        }
    }
    snprintf(buf, len, "%s", why);
}

static void on_error(enum evhttp_request_error error, void *arg)
{
    struct attempt *a = arg;
    a->error = error;
    a->have_error = true;
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct attempt *a = arg;
    if (a->done)
        return;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    char why[256] = "";
    if (status == 0)
        describe_failure(a, why, sizeof why);
    else if (status >= 300 && status < 400)
        snprintf(why, sizeof why, "redirects are not followed (HTTP %d)", status);
    else if (status < 200 || status >= 300)
        snprintf(why, sizeof why, "HTTP %d", status);
    finish(a, status, why);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct attempt *a = arg;
    (void)fd;
    (void)what;
    if (a->done)
        return;
    if (a->fail_reason[0]) {
        finish(a, 0, a->fail_reason);
        return;
    }
    if (a->req)
        evhttp_cancel_request(a->req);
    char why[64];
    snprintf(why, sizeof why, "no answer within %d ms", a->timeout_ms);
    finish(a, 0, why);
}

/* Fails an attempt that never started, from the loop like any other outcome. */
static void fail_soon(struct attempt *a, const char *why)
{
    snprintf(a->fail_reason, sizeof a->fail_reason, "%s", why);
    struct timeval zero = {0, 0};
    evtimer_add(a->timer, &zero);
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static struct bufferevent *make_bev(struct deliver *d, struct attempt *a, bool tls,
                                    const char *host)
{
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    if (!tls)
        return bufferevent_socket_new(d->base, -1, opts);
    SSL *ssl = SSL_new(d->ssl_ctx);
    if (!ssl)
        return NULL;
    if (is_ip_literal(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
    a->ssl = ssl;
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(d->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct target {
    bool tls;
    char host[256];
    int port;
    char *path; /* new string */
};

static bool parse_url(const char *url, struct target *t)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (!u)
        return false;
    const char *scheme = evhttp_uri_get_scheme(u), *host = evhttp_uri_get_host(u);
    bool ok = scheme && host && *host && strlen(host) < sizeof t->host &&
              (util_streq_ci(scheme, "http") || util_streq_ci(scheme, "https"));
    if (ok) {
        t->tls = util_streq_ci(scheme, "https");
        snprintf(t->host, sizeof t->host, "%s", host);
        t->port = evhttp_uri_get_port(u);
        if (t->port <= 0)
            t->port = t->tls ? 443 : 80;
        const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
        t->path = xasprintf("%s%s%s", path && *path ? path : "/", query ? "?" : "",
                            query ? query : "");
    }
    evhttp_uri_free(u);
    return ok;
}

void deliver_post(struct deliver *d, const char *url, const char *const *names,
                  const char *const *values, size_t nheaders, const char *body, size_t len,
                  int timeout_ms, deliver_cb cb, void *arg)
{
    struct attempt *a = xcalloc(1, sizeof *a);
    a->d = d;
    a->cb = cb;
    a->arg = arg;
    a->start_us = util_mono_us();
    a->timeout_ms = timeout_ms;
    a->timer = evtimer_new(d->base, on_timeout, a);
    TAILQ_INSERT_TAIL(&d->live, a, link);
    d->inflight++;
    struct target t = {0};
    struct bufferevent *bev = NULL;
    if (!parse_url(url, &t) || !(bev = make_bev(d, a, t.tls, t.host))) {
        free(t.path);
        fail_soon(a, "invalid endpoint URL");
        return;
    }
    a->evcon = evhttp_connection_base_bufferevent_new(d->base, d->dns, bev, t.host,
                                                      (ev_uint16_t)t.port);
    evhttp_connection_set_retries(a->evcon, 0);
    evhttp_connection_set_timeout(a->evcon, (timeout_ms + 999) / 1000);
    evhttp_connection_set_max_body_size(a->evcon, 1 << 20);
    evhttp_connection_set_max_headers_size(a->evcon, 64 << 10);
    a->req = evhttp_request_new(on_response, a);
    evhttp_request_set_error_cb(a->req, on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(a->req);
    char hostport[300];
    bool default_port = t.port == (t.tls ? 443 : 80);
    snprintf(hostport, sizeof hostport, default_port ? "%s" : "%s:%d", t.host, t.port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "User-Agent", "scimgate/" SCIMGATE_VERSION);
    evhttp_add_header(h, "Connection", "close");
    for (size_t i = 0; i < nheaders; i++)
        evhttp_add_header(h, names[i], values[i]);
    evbuffer_add(evhttp_request_get_output_buffer(a->req), body, len);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(a->timer, &tv);
    if (evhttp_make_request(a->evcon, a->req, EVHTTP_REQ_POST, t.path) != 0) {
        a->req = NULL;
        fail_soon(a, "cannot start the request");
    }
    free(t.path);
}

void deliver_free(struct deliver *d)
{
    if (!d)
        return;
    struct attempt *a;
    while ((a = TAILQ_FIRST(&d->live))) {
        if (a->req)
            evhttp_cancel_request(a->req);
        a->done = false;
        TAILQ_REMOVE(&d->live, a, link);
        d->inflight--;
        struct deliver_result r = {.status = 0};
        snprintf(r.error, sizeof r.error, "shutting down");
        a->cb(&r, a->arg);
        release(a);
    }
    reap(-1, 0, d);
    event_free(d->reaper);
    evdns_base_free(d->dns, 1);
    SSL_CTX_free(d->ssl_ctx);
    free(d);
}
