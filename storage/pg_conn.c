/*
 * pg_conn.c - one libpq connection on the event loop.
 *
 * States: DOWN (no PGconn, a reconnect timer armed) -> RESOLVING (when the
 * host is a name: libpq would call getaddrinfo and block the loop, so evdns
 * resolves it and libpq gets the address as hostaddr) -> CONNECTING (driving
 * PQconnectPoll from one-shot read/write events, re-reading PQsocket before
 * every wait because libpq may change sockets while it tries addresses) ->
 * SETUP (pipeline mode entered, the session set-up segment in flight) -> READY.
 *
 * In READY a persistent read event is always armed: it consumes input, drains
 * notifications and collects results. Every query is written as a pipeline
 * segment: its statements, then a Sync. Results arrive in order: for each
 * statement one or more PGresults and then NULL, and after the last statement
 * a PGRES_PIPELINE_SYNC. After an error the remaining statements of that
 * segment come back as PGRES_PIPELINE_ABORTED and the segment rolls back. The
 * FIFO `inflight` matches segments to queries. A write that cannot complete
 * (PQflush returns 1) arms a one-shot write event until the buffer drains.
 *
 * With opts.prepare, each distinct statement text is named and prepared once
 * per session: the first segment that uses it sends a Parse before the
 * Execute (its extra result is consumed here), and the name is used only once
 * that Parse succeeded; until then other segments send the text unnamed. The
 * cache is capped and forgotten with the session.
 *
 * Any I/O failure or an expired query timer closes the connection, fails every
 * in-flight query, and schedules a reconnect with exponential backoff and
 * jitter. Completed and failed queries go to the owner's on_done hook; this
 * file never calls user callbacks directly, so the owner decides when they run.
 */
#include "pg_conn.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "hmap.h"
#include "log.h"
#include "pg_internal.h"
#include "util.h"

enum pg_conn_state {
    PGC_DOWN,       /* no connection; reconnect timer armed (or not started) */
    PGC_RESOLVING,  /* looking the host name up with evdns */
    PGC_CONNECTING, /* PQconnectPoll in progress */
    PGC_SETUP,      /* connected, session set-up segment in flight */
    PGC_READY,      /* usable */
};

struct pg_conn {
    struct event_base *base;
    struct pg_conn_opts opts;        /* copied strings */
    char **listen;                   /* copied channel names */
    struct pg_conn_hooks hooks;
    void *arg;
    enum pg_conn_state state;
    PGconn *pg;
    int sock;                        /* socket the events are assigned to */
    struct event *io_ev;             /* one-shot during connect; persistent read when ready */
    struct event *write_ev;          /* one-shot write while PQflush returns 1 */
    struct event *timer;             /* connect timeout / head query timeout */
    struct event *retry_ev;          /* reconnect backoff */
    struct pg_query_list inflight;   /* written, awaiting their Sync */
    int ninflight;
    int failures;                    /* consecutive failed attempts */
    bool flushing;                   /* write_ev armed */
    char *resolve_host;              /* a host name to resolve first, or NULL */
    struct evdns_base *dns;          /* resolver for resolve_host */
    struct evdns_getaddrinfo_request *dns_req; /* lookup in flight */
    char hostaddr[INET6_ADDRSTRLEN]; /* the address it resolved to */
    struct hmap *prepared;           /* statement text -> struct prepared (this session) */
    int nbuilt;                      /* entries for built (copied) statement texts */
    unsigned next_name;              /* for naming prepared statements */
};

/* A statement prepared (or being prepared) on the current session. */
struct prepared {
    char name[16];
    bool ready; /* the server confirmed the Parse */
    bool built; /* counted in nbuilt */
};

/* Distinct statements kept per session. Statements whose text is built per
 * request (compiled filters) may take only half, so a client with many
 * filter shapes cannot crowd out the fixed statements. */
enum { MAX_PREPARED = 256, MAX_PREPARED_BUILT = MAX_PREPARED / 2 };

static void start_connect(struct pg_conn *c);
static void reset(struct pg_conn *c, enum pg_status st, const char *why);
static void on_io(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static bool write_query(struct pg_conn *c, struct pg_query *q);

/* The host name libpq would resolve with a blocking getaddrinfo, or NULL:
 * none when an address is given (hostaddr), the host is numeric or a socket
 * directory, or several hosts are listed (libpq's own fallback order is kept
 * for those). */
static char *host_to_resolve(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQfreemem(err);
    const char *host = NULL, *hostaddr = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
    }
    if (!host)
        host = getenv("PGHOST");
    if (!hostaddr)
        hostaddr = getenv("PGHOSTADDR");
    char *out = NULL;
    unsigned char buf[16];
    if (host && *host && !(hostaddr && *hostaddr) && host[0] != '/' && host[0] != '@' &&
        !strchr(host, ',') && inet_pton(AF_INET, host, buf) != 1 &&
        inet_pton(AF_INET6, host, buf) != 1)
        out = xstrdup(host);
    PQconninfoFree(opts);
    return out;
}

struct pg_conn *pg_conn_create(struct event_base *base, const struct pg_conn_opts *opts,
                               const struct pg_conn_hooks *hooks, void *arg)
{
    struct pg_conn *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->opts = *opts;
    c->opts.conninfo = xstrdup(opts->conninfo ? opts->conninfo : "");
    c->opts.application_name =
        xstrdup(opts->application_name ? opts->application_name : "scimgate");
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = 10000;
    size_t n = 0;
    while (opts->listen && opts->listen[n])
        n++;
    c->listen = xcalloc(n + 1, sizeof *c->listen);
    for (size_t i = 0; i < n; i++)
        c->listen[i] = xstrdup(opts->listen[i]);
    c->opts.listen = (const char *const *)c->listen;
    c->hooks = *hooks;
    c->arg = arg;
    c->sock = -1;
    c->resolve_host = host_to_resolve(c->opts.conninfo);
    if (c->resolve_host) {
        c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (!c->dns)
            c->dns = evdns_base_new(base, 0);
        evdns_base_load_hosts(c->dns, NULL);
    }
    c->timer = evtimer_new(base, on_timer, c);
    c->retry_ev = evtimer_new(base, on_retry, c);
    TAILQ_INIT(&c->inflight);
    return c;
}

void pg_conn_start(struct pg_conn *c)
{
    if (c->state == PGC_DOWN && !evtimer_pending(c->retry_ev, NULL))
        start_connect(c);
}

static void free_events(struct pg_conn *c)
{
    if (c->io_ev)
        event_free(c->io_ev);
    if (c->write_ev)
        event_free(c->write_ev);
    c->io_ev = c->write_ev = NULL;
    c->flushing = false;
    c->sock = -1;
}

void pg_conn_free(struct pg_conn *c)
{
    if (!c)
        return;
    reset(c, PG_ERR_UNAVAILABLE, NULL);
    event_del(c->retry_ev);
    event_free(c->timer);
    event_free(c->retry_ev);
    if (c->dns)
        evdns_base_free(c->dns, 0);
    free(c->resolve_host);
    free((char *)c->opts.conninfo);
    free((char *)c->opts.application_name);
    for (char **p = c->listen; *p; p++)
        free(*p);
    free(c->listen);
    free(c);
}

bool pg_conn_ready(const struct pg_conn *c)
{
    return c && c->state == PGC_READY;
}

int pg_conn_inflight(const struct pg_conn *c)
{
    return c->ninflight;
}

int pg_conn_failures(const struct pg_conn *c)
{
    return c->failures;
}

bool pg_conn_in_transaction(const struct pg_conn *c)
{
    if (c->state != PGC_READY || c->ninflight)
        return false;
    PGTransactionStatusType t = PQtransactionStatus(c->pg);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

/* ---- failure and reconnect ---- */

static void schedule_retry(struct pg_conn *c)
{
    int shift = c->failures < 6 ? c->failures : 6;
    int64_t base_ms = 100LL << shift; /* 100 ms .. 6.4 s */
    if (base_ms > 5000)
        base_ms = 5000;
    int64_t ms = base_ms / 2 + (int64_t)util_random_below((uint64_t)base_ms / 2 + 1);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(c->retry_ev, &tv);
}

/* Closes the connection and fails what is in flight. why == NULL means an
 * orderly close (no reconnect, no log). */
static void free_prepared(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

/* The session is gone, and its prepared statements with it. */
static void forget_prepared(struct pg_conn *c)
{
    if (!c->prepared)
        return;
    hmap_each(c->prepared, free_prepared, NULL);
    hmap_free(c->prepared);
    c->prepared = NULL;
    c->nbuilt = 0;
}

static void reset(struct pg_conn *c, enum pg_status st, const char *why)
{
    bool was_ready = c->state == PGC_READY || c->state == PGC_SETUP;
    if (c->dns_req) {
        struct evdns_getaddrinfo_request *r = c->dns_req;
        c->dns_req = NULL;
        c->state = PGC_DOWN;
        evdns_getaddrinfo_cancel(r); /* its callback sees EVUTIL_EAI_CANCEL */
    }
    free_events(c);
    event_del(c->timer);
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = PGC_DOWN;
    forget_prepared(c);
    struct pg_query *q;
    while ((q = TAILQ_FIRST(&c->inflight))) {
        TAILQ_REMOVE(&c->inflight, q, link);
        c->ninflight--;
        if (q->internal) {
            pg_query_free(q);
            continue;
        }
        pg_query_fail(q, st, NULL, why ? why : "connection closed");
        c->hooks.on_done(c, q, c->arg);
    }
    if (!why)
        return;
    if (was_ready || c->failures == 0)
        log_warn("database connection lost", LF_STR("reason", why));
    c->failures++;
    schedule_retry(c);
    if (c->hooks.on_down)
        c->hooks.on_down(c, c->arg);
}

static void conn_error(struct pg_conn *c, const char *what)
{
    char why[300];
    const char *msg = c->pg ? PQerrorMessage(c->pg) : "";
    /* libpq's messages span lines; the first one says it. */
    snprintf(why, sizeof why, "%s%s%.*s", what, *msg ? ": " : "", (int)strcspn(msg, "\n"), msg);
    reset(c, PG_ERR_CONN_LOST, why);
}

/* Server notices (and libpq's own warnings) go to the log, not to stderr. */
static void on_notice(void *arg, const PGresult *res)
{
    (void)arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    log_debug("database notice", LF_STR("severity", sev), LF_STR("message", msg));
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

static void arm_timer(struct pg_conn *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* ---- connecting ---- */

static void wait_socket(struct pg_conn *c, short what)
{
    if (c->io_ev)
        event_free(c->io_ev);
    c->sock = PQsocket(c->pg);
    c->io_ev = event_new(c->base, c->sock, what, on_io, c);
    event_add(c->io_ev, NULL);
}

static void send_setup(struct pg_conn *c)
{
    struct pg_query *q = pg_query_new();
    q->internal = true;
    pg_query_sql(q, "SELECT set_config('statement_timeout', $1, false), "
                    "set_config('idle_in_transaction_session_timeout', $2, false), "
                    "set_config('lock_timeout', $3, false)");
    pg_query_paramf(q, "%d", c->opts.query_timeout_ms);
    pg_query_paramf(q, "%d", c->opts.query_timeout_ms * 3);
    pg_query_paramf(q, "%d", c->opts.query_timeout_ms);
    /* Channel names are compile-time identifiers, never client input. */
    for (char **ch = c->listen; *ch; ch++) {
        char *sql = xasprintf("LISTEN \"%s\"", *ch);
        pg_query_sql_copy(q, sql);
        free(sql);
    }
    c->state = PGC_SETUP;
    write_query(c, q);
}

static void poll_connect(struct pg_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        wait_socket(c, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        wait_socket(c, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        conn_error(c, "cannot connect to the database");
        return;
    }
    event_del(c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_error(c, "cannot enter pipeline mode");
        return;
    }
    /* From here on one persistent read event serves the connection. */
    event_free(c->io_ev);
    c->sock = PQsocket(c->pg);
    c->io_ev = event_new(c->base, c->sock, EV_READ | EV_PERSIST, on_io, c);
    c->write_ev = event_new(c->base, c->sock, EV_WRITE, on_write, c);
    event_add(c->io_ev, NULL);
    send_setup(c);
}

/* TCP keepalives find a silently dead connection (the listener's above all)
 * within about a minute; settings in DATABASE_URL win. */
static void connect_now(struct pg_conn *c, const char *hostaddr)
{
    const char *keys[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "dbname", "application_name",
                          hostaddr ? "hostaddr" : NULL, NULL};
    const char *vals[] = {"1", "30", "10", "3", c->opts.conninfo, c->opts.application_name,
                          hostaddr, NULL};
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_error(c, "cannot start a database connection");
        return;
    }
    PQsetNoticeReceiver(c->pg, on_notice, c);
    c->state = PGC_CONNECTING;
    /* libpq's documented first step: behave as if PQconnectPoll said WRITING. */
    wait_socket(c, EV_WRITE);
}

static void on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
    struct pg_conn *c = arg;
    if (err == EVUTIL_EAI_CANCEL)
        return; /* reset() cancelled it and has moved on */
    c->dns_req = NULL;
    if (err || !ai) {
        char why[300];
        snprintf(why, sizeof why, "cannot resolve the database host \"%s\": %s",
                 c->resolve_host, evutil_gai_strerror(err));
        if (ai)
            evutil_freeaddrinfo(ai);
        reset(c, PG_ERR_UNAVAILABLE, why);
        return;
    }
    const void *addr = ai->ai_family == AF_INET6
                           ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
    evutil_inet_ntop(ai->ai_family, addr, c->hostaddr, sizeof c->hostaddr);
    evutil_freeaddrinfo(ai);
    connect_now(c, c->hostaddr);
}

static void start_connect(struct pg_conn *c)
{
    arm_timer(c, c->opts.connect_timeout_ms);
    if (!c->resolve_host) {
        connect_now(c, NULL);
        return;
    }
    c->state = PGC_RESOLVING;
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    /* The callback may run before this returns (a name from /etc/hosts). */
    struct evdns_getaddrinfo_request *r =
        evdns_getaddrinfo(c->dns, c->resolve_host, NULL, &hints, on_resolved, c);
    if (c->state == PGC_RESOLVING)
        c->dns_req = r;
}

/* ---- queries ---- */

static void flush(struct pg_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        conn_error(c, "cannot write to the database");
        return;
    }
    c->flushing = r == 1;
    if (c->flushing)
        event_add(c->write_ev, NULL);
}

static void arm_head_timer(struct pg_conn *c)
{
    struct pg_query *head = TAILQ_FIRST(&c->inflight);
    if (!head) {
        event_del(c->timer);
        return;
    }
    int ms = head->timeout_ms > 0 ? head->timeout_ms : c->opts.query_timeout_ms;
    int64_t elapsed_ms = (util_mono_us() - head->sent_us) / 1000;
    /* The server's statement_timeout fires first; the margin covers the network. */
    int64_t left = (int64_t)ms + 2000 - elapsed_ms;
    arm_timer(c, left > 0 ? (int)left : 0);
}

/* The prepared statement to run s with, or NULL to send it unnamed. Sets
 * s->await_prepare when this segment must prepare it first, and records the
 * name s runs as. */
static struct prepared *prepared_for(struct pg_conn *c, const struct pg_query *q,
                                     struct pg_stmt *s)
{
    s->await_prepare = false;
    s->prep_name[0] = '\0';
    if (!c->opts.prepare || q->internal || q->unprepared)
        return NULL;
    if (!c->prepared)
        c->prepared = hmap_create();
    struct prepared *p = hmap_get(c->prepared, s->sql);
    if (p) {
        if (!p->ready)
            return NULL;
    } else {
        if (hmap_count(c->prepared) >= MAX_PREPARED ||
            (s->sql_owned && c->nbuilt >= MAX_PREPARED_BUILT))
            return NULL;
        p = xcalloc(1, sizeof *p);
        snprintf(p->name, sizeof p->name, "sg%u", c->next_name++);
        p->built = s->sql_owned;
        c->nbuilt += p->built;
        hmap_put(c->prepared, s->sql, p);
        s->await_prepare = true;
    }
    memcpy(s->prep_name, p->name, sizeof s->prep_name);
    return p;
}

/* What a result says about the prepared statement s ran as: its Parse
 * worked (ok), or the name is unusable (a failed or skipped Parse, a plan
 * whose result type changed, a name the server no longer has) and the text
 * is prepared afresh under a new name next time. An entry that has been
 * replaced meanwhile is left alone. */
static void prepared_result(struct pg_conn *c, const struct pg_stmt *s, bool ok)
{
    struct prepared *p = c->prepared && s->prep_name[0] ? hmap_get(c->prepared, s->sql) : NULL;
    if (!p || strcmp(p->name, s->prep_name) != 0)
        return;
    if (ok) {
        p->ready = true;
        return;
    }
    c->nbuilt -= p->built;
    free(hmap_del(c->prepared, s->sql));
}

static bool write_query(struct pg_conn *c, struct pg_query *q)
{
    q->sent_us = util_mono_us();
    q->next_result = 0;
    TAILQ_INSERT_TAIL(&c->inflight, q, link);
    c->ninflight++;
    for (int i = 0; i < q->nstmts; i++) {
        struct pg_stmt *s = &q->stmts[i];
        const char *const *params = (const char *const *)s->params;
        struct prepared *p = prepared_for(c, q, s);
        int ok;
        if (!p)
            ok = PQsendQueryParams(c->pg, s->sql, s->nparams, NULL, params, s->lengths, NULL, 0);
        else
            ok = (s->await_prepare ? PQsendPrepare(c->pg, p->name, s->sql, s->nparams, NULL)
                                   : 1) &&
                 PQsendQueryPrepared(c->pg, p->name, s->nparams, params, s->lengths, NULL, 0);
        if (!ok) {
            conn_error(c, "cannot send a query");
            return false;
        }
    }
    if (!PQpipelineSync(c->pg)) {
        conn_error(c, "cannot send a pipeline sync");
        return false;
    }
    if (c->ninflight == 1)
        arm_head_timer(c);
    flush(c);
    return c->state != PGC_DOWN;
}

void pg_conn_send(struct pg_conn *c, struct pg_query *q)
{
    if (c->state != PGC_READY) {
        pg_query_fail(q, PG_ERR_CONN_LOST, NULL, "connection not ready");
        c->hooks.on_done(c, q, c->arg);
        return;
    }
    write_query(c, q);
}

static void drain_notifies(struct pg_conn *c)
{
    PGnotify *n;
    while ((n = PQnotifies(c->pg))) {
        if (c->hooks.on_notify)
            c->hooks.on_notify(c, n->relname, n->extra, c->arg);
        PQfreemem(n);
    }
}

/* One query's Sync arrived: hand it over. Returns false if the connection
 * went down meanwhile. */
static bool finish_head(struct pg_conn *c)
{
    struct pg_query *q = TAILQ_FIRST(&c->inflight);
    TAILQ_REMOVE(&c->inflight, q, link);
    c->ninflight--;
    arm_head_timer(c);
    if (q->internal) {
        bool ok = q->status == PG_PENDING;
        if (!ok)
            log_warn("database session set-up failed", LF_STR("error", q->error));
        pg_query_free(q);
        if (!ok) {
            reset(c, PG_ERR_CONN_LOST, "session set-up failed");
            return false;
        }
        if (c->state == PGC_SETUP) {
            c->state = PGC_READY;
            if (c->failures)
                log_info("database connection restored", LF_INT("attempts", c->failures));
            c->failures = 0;
        }
    } else {
        c->hooks.on_done(c, q, c->arg);
    }
    return true;
}

/* Returns how many queries finished. */
static int collect_results(struct pg_conn *c)
{
    struct pg_query *q;
    int finished = 0;
    while (c->state != PGC_DOWN && (q = TAILQ_FIRST(&c->inflight)) && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        struct pg_stmt *s = q->next_result < q->nstmts ? &q->stmts[q->next_result] : NULL;
        if (!res) {
            if (PQstatus(c->pg) == CONNECTION_BAD || !s) {
                conn_error(c, "lost sync with the database");
                return finished;
            }
            if (s->await_prepare) { /* the end of the Parse's results: the Execute's follow */
                s->await_prepare = false;
                continue;
            }
            /* One statement finished: the timer measures the next one, as
             * the server's statement_timeout does. */
            q->next_result++;
            q->sent_us = util_mono_us();
            arm_head_timer(c);
            continue;
        }
        if (s && s->await_prepare && PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
            bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            prepared_result(c, s, ok);
            if (ok || PQresultStatus(res) == PGRES_PIPELINE_ABORTED)
                PQclear(res);
            else
                pg_query_take_result(q, res); /* the statement's own error, as unnamed */
            continue;
        }
        switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(res);
            if (!finish_head(c))
                return finished;
            finished++;
            break;
        case PGRES_PIPELINE_ABORTED:
            PQclear(res);
            break;
        default: {
            /* A schema change under a prepared statement ("cached plan must
             * not change result type", 0A000) or a name the server lost
             * (26000, e.g. DISCARD ALL from a pooler): prepare it afresh. */
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (s && state && (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0))
                prepared_result(c, s, false);
            pg_query_take_result(q, res);
            break;
        }
        }
    }
    return finished;
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == PGC_CONNECTING) {
        poll_connect(c);
        return;
    }
    if (!PQconsumeInput(c->pg)) {
        conn_error(c, "lost the database connection");
        return;
    }
    drain_notifies(c);
    if (c->flushing) {
        flush(c);
        if (c->state == PGC_DOWN)
            return;
    }
    if (collect_results(c) > 0 && c->state == PGC_READY && c->hooks.on_ready)
        c->hooks.on_ready(c, c->arg);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == PGC_CONNECTING || c->state == PGC_RESOLVING) {
        reset(c, PG_ERR_UNAVAILABLE, "database connection attempt timed out");
        return;
    }
    reset(c, PG_ERR_TIMEOUT, "database query timed out");
}
