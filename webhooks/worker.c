/*
 * worker.c - the webhook delivery worker.
 *
 * Wake-ups come from NOTIFY scimgate_outbox (on its own listening
 * connection), from a polling timer (retries that fall due, missed
 * notifications) and from finished deliveries. A wake-up claims up to the
 * free concurrency with FOR UPDATE SKIP LOCKED and a lease (outbox.c), so any
 * number of workers share the work and a crashed worker's claims are taken
 * over when their leases expire. Each claimed delivery is signed (Standard
 * Webhooks), POSTed (deliver.c), and its attempt recorded together with the
 * delivery's next state: succeeded, pending with the next attempt time from
 * the backoff schedule, or failed once the retry horizon has passed.
 *
 * Stopping: no more claims; the deliveries in flight finish and are recorded
 * (bounded by the caller's shutdown timeout); anything unfinished keeps its
 * lease and is retried by whoever claims it next, with the same webhook-id.
 */
#include "worker.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "deliver.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "pg_listen.h"
#include "pg_pool.h"
#include "sign.h"
#include "util.h"

struct job {
    struct worker *w;
    char org_id[IDS_MAX];
    char id[96];                /* msg_..., the webhook-id */
    int attempt;                /* this attempt's number (1-based) */
    int64_t first_attempt_ms;
    int64_t started_ms;
    char *url, *secret, *payload;
    struct deliver_result result;
};

struct worker {
    struct gateway *gw;
    struct deliver *deliver;
    struct pg_listen *listen;
    struct event *poll_timer;
    struct backoff_policy policy;
    char owner[96];             /* lease owner: host, pid and a random tag */
    int inflight;               /* claimed deliveries not yet recorded */
    int pending_db;             /* our queries in flight */
    bool claiming;              /* a claim query is in flight */
    bool stopping;
    bool freed;                 /* worker_free ran; the struct goes with the last query */
    void (*stopped)(void *arg);
    void *stopped_arg;
    uint64_t delivered, failed, retried;
};

static void wake(struct worker *w);

static void maybe_release(struct worker *w)
{
    if (w->freed && w->pending_db == 0)
        free(w);
}

static void maybe_stopped(struct worker *w)
{
    if (w->stopping && w->inflight == 0 && !w->claiming && w->stopped) {
        void (*done)(void *) = w->stopped;
        w->stopped = NULL;
        log_info("webhook worker stopped", LF_INT("delivered", w->delivered),
                 LF_INT("failed", w->failed), LF_INT("retries_scheduled", w->retried));
        done(w->stopped_arg);
    }
}

static void job_free(struct job *j)
{
    free(j->url);
    free(j->secret);
    free(j->payload);
    free(j);
}

/* ---- recording ---- */

static void on_recorded(struct pg_query *q, void *arg)
{
    struct job *j = arg;
    struct worker *w = j->w;
    w->pending_db--;
    w->inflight--;
    if (pg_query_status(q) != PG_OK && !w->freed)
        log_warn("could not record a webhook attempt; it will be retried after its lease",
                 LF_STR("delivery", j->id), LF_STR("error", pg_query_error(q)));
    job_free(j);
    if (w->freed) {
        maybe_release(w);
        return;
    }
    maybe_stopped(w);
    wake(w);
}

static void record(struct job *j, const char *outcome, int64_t next_ms)
{
    struct worker *w = j->w;
    const struct deliver_result *r = &j->result;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, outbox_sql_record);
    pg_query_param(q, j->org_id);
    pg_query_param(q, j->id);
    pg_query_param(q, w->owner);
    pg_query_param_int(q, j->attempt);
    if (r->status)
        pg_query_param_int(q, r->status);
    else
        pg_query_param(q, NULL);
    pg_query_param(q, r->error[0] ? r->error : NULL);
    pg_query_param(q, outcome);
    pg_query_param_int(q, next_ms);
    pg_query_sql(q, outbox_sql_record_attempt);
    pg_query_param(q, j->org_id);
    pg_query_param(q, j->id);
    pg_query_param_int(q, j->attempt);
    pg_query_param_int(q, j->started_ms);
    pg_query_param_int(q, r->duration_ms);
    if (r->status)
        pg_query_param_int(q, r->status);
    else
        pg_query_param(q, NULL);
    pg_query_param(q, r->error[0] ? r->error : NULL);
    w->pending_db++;
    pg_query_set_key(q, j->org_id);
    pg_pool_submit_write(w->gw->pool, q, on_recorded, j);
}

static void on_delivered(const struct deliver_result *r, void *arg)
{
    struct job *j = arg;
    struct worker *w = j->w;
    j->result = *r;
    if (w->freed) {
        /* Shutting down without waiting: the lease will bring it back. */
        w->inflight--;
        job_free(j);
        return;
    }
    double seconds = (double)r->duration_ms / 1000.0;
    if (r->status >= 200 && r->status < 300) {
        w->delivered++;
        metrics_delivery(w->gw->metrics, "succeeded", seconds);
        record(j, "succeeded", 0);
        return;
    }
    uint64_t rnd;
    util_random(&rnd, sizeof rnd);
    int64_t next = backoff_next_policy(&w->policy, j->attempt, j->first_attempt_ms,
                                       util_now_ms(), rnd);
    if (next == BACKOFF_GIVE_UP) {
        w->failed++;
        metrics_delivery(w->gw->metrics, "failed", seconds);
        log_warn("webhook delivery failed for good", LF_STR("delivery", j->id),
                 LF_INT("attempts", j->attempt), LF_STR("error", r->error));
        record(j, "failed", 0);
        return;
    }
    w->retried++;
    metrics_delivery(w->gw->metrics, "retry_scheduled", seconds);
    log_info("webhook attempt failed; retrying", LF_STR("delivery", j->id),
             LF_INT("attempt", j->attempt), LF_INT("status", r->status), LF_STR("error", r->error),
             LF_INT("retry_in_ms", next - util_now_ms()));
    record(j, "pending", next);
}

/* ---- sending ---- */

static void send_job(struct worker *w, struct job *j)
{
    struct sign_key *key = sign_key_new(j->secret);
    int64_t ts = util_now_ms() / 1000;
    char *sig = key ? sign_signature_new(key, j->id, ts, j->payload, strlen(j->payload)) : NULL;
    sign_key_free(key);
    if (!sig) {
        j->result = (struct deliver_result){0};
        snprintf(j->result.error, sizeof j->result.error, "the endpoint secret is unusable");
        w->failed++;
        record(j, "failed", 0);
        return;
    }
    char tsbuf[32];
    snprintf(tsbuf, sizeof tsbuf, "%" PRId64, ts);
    const char *names[] = {"webhook-id", "webhook-timestamp", "webhook-signature"};
    const char *values[] = {j->id, tsbuf, sig};
    j->started_ms = util_now_ms();
    deliver_post(w->deliver, j->url, names, values, 3, j->payload, strlen(j->payload),
                 w->gw->cfg->webhook_timeout_ms, on_delivered, j);
    free(sig);
}

static struct job *job_from_row(struct worker *w, const PGresult *r, int i)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->w = w;
    snprintf(j->org_id, sizeof j->org_id, "%s", pg_value(r, i, 0));
    snprintf(j->id, sizeof j->id, "%s", pg_value(r, i, 1));
    j->attempt = (int)pg_value_int(r, i, 2);
    j->first_attempt_ms = pg_value_int(r, i, 3);
    j->payload = xstrdup(pg_value(r, i, 4) ? pg_value(r, i, 4) : "{}");
    j->url = xstrdup(pg_value(r, i, 5) ? pg_value(r, i, 5) : "");
    j->secret = xstrdup(pg_value(r, i, 6) ? pg_value(r, i, 6) : "");
    j->started_ms = util_now_ms();
    return j;
}

static void given_back(struct pg_query *q, void *arg)
{
    struct worker *w = arg;
    (void)q;
    w->pending_db--;
    w->claiming = false;
    if (w->freed)
        maybe_release(w);
    else
        maybe_stopped(w);
}

/* Stopping while a claim was out: release what it claimed, attempt count
 * included, so another worker sends them without waiting for the lease. */
static void give_back(struct worker *w, const PGresult *r)
{
    json_t *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(ids, json_pack("[s,s]", pg_value(r, i, 0), pg_value(r, i, 1)));
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        maybe_stopped(w);
        return;
    }
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "UPDATE deliveries d SET lease_owner = NULL, lease_until = NULL,"
                    " attempts = d.attempts - 1"
                    " FROM json_array_elements($1::json) AS x(k)"
                    " WHERE d.org_id = x.k->>0 AND d.id = x.k->>1 AND d.lease_owner = $2");
    pg_query_param_json(q, ids);
    pg_query_param(q, w->owner);
    json_decref(ids);
    w->claiming = true; /* still owes the database an answer */
    w->pending_db++;
    pg_pool_submit(w->gw->pool, q, given_back, w);
}

static void on_claimed(struct pg_query *q, void *arg)
{
    struct worker *w = arg;
    w->pending_db--;
    w->claiming = false;
    if (w->freed) {
        maybe_release(w);
        return;
    }
    if (pg_query_status(q) != PG_OK) {
        if (pg_query_status(q) == PG_ERR_SQL)
            log_warn("claiming webhook deliveries failed", LF_STR("error", pg_query_error(q)));
        return; /* the poll timer tries again */
    }
    const PGresult *r = pg_query_result(q, 0);
    int n = PQntuples(r);
    if (w->stopping) {
        give_back(w, r);
        return;
    }
    for (int i = 0; i < n; i++) {
        struct job *j = job_from_row(w, r, i);
        w->inflight++;
        if (pg_value_bool(r, i, 7)) {
            snprintf(j->result.error, sizeof j->result.error, "the endpoint was deleted");
            record(j, "failed", 0);
        } else {
            send_job(w, j);
        }
    }
    if (n > 0)
        wake(w); /* there may be more due */
    else
        maybe_stopped(w);
}

static void wake(struct worker *w)
{
    if (w->stopping || w->freed || w->claiming)
        return;
    int room = w->gw->cfg->worker_concurrency - w->inflight;
    if (room <= 0)
        return;
    w->claiming = true;
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, outbox_sql_claim);
    /* A plan cached while deliveries was small scans every pending row for
     * each candidate once it has grown; planned afresh it stays an index
     * lookup per candidate. */
    pg_query_set_unprepared(q);
    pg_query_param_int(q, room);
    pg_query_param(q, w->owner);
    /* The lease outlives one attempt twice over; a crashed worker's claims
     * come back to the pool when it runs out. */
    pg_query_param_int(q, (2 * w->gw->cfg->webhook_timeout_ms + 999) / 1000 + 5);
    w->pending_db++;
    pg_pool_submit(w->gw->pool, q, on_claimed, w);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wake(arg);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    (void)payload;
    wake(arg);
}

static void on_listen_state(bool up, void *arg)
{
    if (up)
        wake(arg); /* notifications may have been missed while down */
}

struct worker *worker_create(struct gateway *gw)
{
    const struct config *cfg = gw->cfg;
    char err[128];
    struct deliver *d = deliver_create(gw->base, err, sizeof err);
    if (!d)
        util_fatal("%s", err);
    struct worker *w = xcalloc(1, sizeof *w);
    w->gw = gw;
    w->deliver = d;
    w->policy = (struct backoff_policy){
        .min_ms = cfg->webhook_retry_min_ms,
        .base_ms = cfg->webhook_retry_base_ms,
        .cap_ms = cfg->webhook_retry_cap_ms,
        .horizon_ms = (int64_t)cfg->webhook_retry_horizon_s * 1000,
    };
    char host[64] = "host", tag[IDS_MAX];
    gethostname(host, sizeof host - 1);
    snprintf(w->owner, sizeof w->owner, "%s:%d:%s", host, (int)getpid(), ids_new("", tag) + 16);
    static const char *const channels[] = {OUTBOX_CHANNEL, NULL};
    w->listen = pg_listen_create(gw->base, cfg->database_url ? cfg->database_url : "", channels,
                                 on_notify, on_listen_state, w);
    w->poll_timer = event_new(gw->base, -1, EV_PERSIST, on_poll, w);
    struct timeval tv = {cfg->worker_poll_ms / 1000, (cfg->worker_poll_ms % 1000) * 1000};
    event_add(w->poll_timer, &tv);
    log_info("webhook worker started", LF_INT("concurrency", cfg->worker_concurrency),
             LF_STR("owner", w->owner));
    return w;
}

void worker_stop(struct worker *w, void (*done)(void *), void *arg)
{
    w->stopping = true;
    w->stopped = done;
    w->stopped_arg = arg;
    event_del(w->poll_timer);
    maybe_stopped(w);
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    w->freed = true;
    event_free(w->poll_timer);
    pg_listen_free(w->listen);
    deliver_free(w->deliver); /* unfinished deliveries keep their leases */
    maybe_release(w);
}
