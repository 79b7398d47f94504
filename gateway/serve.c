/*
 * serve.c - process lifecycle of `scimgate serve` and `scimgate worker`.
 *
 * Start: loop, database pool, auth cache and its NOTIFY listener, HTTP
 * listener, optional worker, signal handlers; READY=1 to systemd.
 * First SIGTERM/SIGINT: stop accepting, let in-flight requests finish and the
 * worker record its deliveries (bounded by the shutdown timeout), then leave
 * the loop. A second signal leaves at once. Teardown runs in reverse order;
 * the pool goes before the HTTP server so late callbacks still find their
 * requests.
 */
#include "serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "auth.h"
#include "gateway.h"
#include "log.h"
#include "mapping_cache.h"
#include "metrics.h"
#include "offload.h"
#include "pg_listen.h"
#include "pg_pool.h"
#include "ratelimit_gate.h"
#include "sdnotify.h"
#include "server.h"
#include "util.h"
#include "worker.h"

struct process {
    struct gateway gw;
    struct pg_listen *listen;
    struct worker *worker;
    struct event *sigterm, *sigint, *sighup;
    struct event *ready_timer;  /* announces READY=1 once the pool has settled */
    char listening[300];        /* host:port actually bound */
    int pending_stops;        /* drain steps still running */
    bool stopping;
};

/* Invalidations of the process's caches: tokens and admin keys, mappings. */
static void on_notify(const char *channel, const char *payload, void *arg)
{
    struct process *p = arg;
    if (strcmp(channel, MAPPING_CHANNEL) == 0)
        mapping_cache_invalidate(p->gw.mappings, payload);
    else
        auth_invalidate(p->gw.auth, payload);
}

static void on_listen_state(bool up, void *arg)
{
    struct process *p = arg;
    auth_set_listening(p->gw.auth, up);
    mapping_cache_set_listening(p->gw.mappings, up);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct process *p = arg;
    char err[300];
    (void)sig;
    (void)what;
    if (!p->gw.server || !p->gw.cfg->tls_cert) {
        log_info("SIGHUP: nothing to reload", LF_NONE);
        return;
    }
    if (server_reload_tls(p->gw.server, err, sizeof err))
        log_info("TLS certificate reloaded", LF_STR("cert", p->gw.cfg->tls_cert));
    else
        log_error("TLS reload failed; keeping the previous certificate", LF_STR("error", err));
}

static void step_done(void *arg)
{
    struct process *p = arg;
    if (--p->pending_stops == 0)
        event_base_loopbreak(p->gw.base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct process *p = arg;
    (void)what;
    if (p->stopping) {
        log_warn("second signal: stopping now", LF_INT("signal", sig));
        event_base_loopbreak(p->gw.base);
        return;
    }
    p->stopping = true;
    sdnotify("STOPPING=1");
    log_info("stopping", LF_INT("signal", sig));
    p->gw.draining = true;
    int timeout_ms = p->gw.cfg->shutdown_timeout_s * 1000;
    p->pending_stops = 1 + (p->gw.server ? 1 : 0) + (p->worker ? 1 : 0);
    if (p->gw.server)
        server_drain(p->gw.server, timeout_ms, step_done, p);
    if (p->worker)
        worker_stop(p->worker, step_done, p);
    step_done(p);
}

/* READY=1 waits until the first database connections are decided (up, or
 * failed once each) and, with the database up, until the first attempt to
 * store the admin key has finished, so "ready" means requests get real
 * answers. */
static void on_ready_timer(evutil_socket_t fd, short what, void *arg)
{
    struct process *p = arg;
    (void)fd;
    (void)what;
    if (!pg_pool_settled(p->gw.pool) ||
        (p->gw.auth && pg_pool_up(p->gw.pool) && !auth_bootstrap_tried(p->gw.auth))) {
        struct timeval tv = {0, 20000};
        evtimer_add(p->ready_timer, &tv);
        return;
    }
    char status[700];
    if (p->gw.server)
        snprintf(status, sizeof status, "READY=1\nSTATUS=listening on %s\nLISTEN=%s",
                 p->listening, p->listening);
    else
        snprintf(status, sizeof status, "READY=1\nSTATUS=delivering webhooks");
    sdnotify(status);
}

static void on_query_done(double seconds, bool ok, void *arg)
{
    metrics_query(arg, seconds, ok);
}

static void setup_common(struct process *p, const struct config *cfg, const char *app_name)
{
    memset(p, 0, sizeof *p);
    signal(SIGPIPE, SIG_IGN);
    p->gw.cfg = cfg;
    /* epoll's changelist folds the add/remove pairs evhttp makes for every
     * request into one epoll_ctl per descriptor and loop pass (none of the
     * descriptors here is dup()ed, which is what the changelist cannot handle). */
    struct event_config *ec = event_config_new();
    if (ec) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        p->gw.base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    if (!p->gw.base)
        p->gw.base = event_base_new();
    if (!p->gw.base)
        util_fatal("cannot create the event loop");
    snprintf(p->gw.scim_base, sizeof p->gw.scim_base, "%s/scim/v2", cfg->public_url);
    snprintf(p->gw.scim_base_v1, sizeof p->gw.scim_base_v1, "%s/scim/v1", cfg->public_url);
    struct pg_pool_opts po = {
        .conninfo = cfg->database_url ? cfg->database_url : "",
        .application_name = app_name,
        .size = cfg->db_pool_size,
        .query_timeout_ms = cfg->db_query_timeout_ms,
        .queue_timeout_ms = cfg->db_queue_timeout_ms,
        .max_queue = 20000,
        .max_inflight = 1,
        .group_commit = cfg->db_group_commit,
        .group_commit_max = cfg->db_group_commit_max,
        .group_commit_lanes = cfg->db_group_commit_lanes,
        .prepare = cfg->db_prepare,
    };
    p->gw.pool = pg_pool_create(p->gw.base, &po);
    p->gw.metrics = metrics_create();
    pg_pool_set_observer(p->gw.pool, on_query_done, p->gw.metrics);
    p->sigterm = evsignal_new(p->gw.base, SIGTERM, on_signal, p);
    p->sigint = evsignal_new(p->gw.base, SIGINT, on_signal, p);
    p->sighup = evsignal_new(p->gw.base, SIGHUP, on_sighup, p);
    evsignal_add(p->sigterm, NULL);
    evsignal_add(p->sigint, NULL);
    evsignal_add(p->sighup, NULL);
    p->ready_timer = evtimer_new(p->gw.base, on_ready_timer, p);
    event_active(p->ready_timer, EV_TIMEOUT, 0);
}

static void teardown(struct process *p)
{
    log_batch(NULL);
    offload_stop(p->gw.offload); /* first: what finishes there may still query */
    worker_free(p->worker);
    ratelimit_gate_free(p->gw.gate);
    pg_pool_free(p->gw.pool);
    pg_listen_free(p->listen);
    server_free(p->gw.server);
    auth_free(p->gw.auth);
    mapping_cache_free(p->gw.mappings);
    metrics_free(p->gw.metrics);
    event_free(p->sigterm);
    event_free(p->sigint);
    event_free(p->sighup);
    event_free(p->ready_timer);
    offload_free(p->gw.offload); /* last: callbacks of failed queries may still use it */
    event_base_free(p->gw.base);
    libevent_global_shutdown();
}

int serve_run(const struct config *cfg)
{
    struct process p;
    setup_common(&p, cfg, "scimgate");
    p.gw.auth = auth_create(&p.gw);
    p.gw.gate = ratelimit_gate_create(&p.gw);
    p.gw.mappings = mapping_cache_create(&p.gw);
    p.gw.offload = offload_create(p.gw.base, cfg->hash_threads);
    static const char *const channels[] = {AUTH_CHANNEL, MAPPING_CHANNEL, NULL};
    p.listen = pg_listen_create(p.gw.base, cfg->database_url ? cfg->database_url : "",
                                channels, on_notify, on_listen_state, &p);
    p.gw.server = server_create(&p.gw);
    char err[256];
    if (!server_listen(p.gw.server, err, sizeof err)) {
        fprintf(stderr, "scimgate: %s%s\n",
                strncmp(err, "cannot listen", 13) == 0 ? "invalid SCIMGATE_LISTEN (--listen): " : "",
                err);
        teardown(&p);
        return 1;
    }
    if (cfg->with_worker)
        p.worker = worker_create(&p.gw);
    auth_bootstrap_admin_key(p.gw.auth);
    int port = server_port(p.gw.server);
    snprintf(p.listening, sizeof p.listening, "%s:%d", cfg->listen_host, port);
    if (cfg->public_url_derived && cfg->listen_port == 0) {
        /* Port 0 was resolved by bind(): the derived public URL uses the real port. */
        const char *scheme = cfg->tls_cert ? "https" : "http";
        snprintf(p.gw.scim_base, sizeof p.gw.scim_base, "%s://%s/scim/v2", scheme, p.listening);
        snprintf(p.gw.scim_base_v1, sizeof p.gw.scim_base_v1, "%s://%s/scim/v1", scheme,
                 p.listening);
    }
    log_info("listening", LF_STR("address", p.listening), LF_STR("scim_base_url", p.gw.scim_base),
             LF_BOOL("worker", cfg->with_worker));
    log_batch(p.gw.base);
    event_base_dispatch(p.gw.base);
    log_info("stopped", LF_NONE);
    teardown(&p);
    return 0;
}

int serve_worker_run(const struct config *cfg)
{
    struct process p;
    setup_common(&p, cfg, "scimgate-worker");
    p.worker = worker_create(&p.gw);
    log_batch(p.gw.base);
    event_base_dispatch(p.gw.base);
    log_info("stopped", LF_NONE);
    teardown(&p);
    return 0;
}
