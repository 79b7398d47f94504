/*
 * metrics.c - counters and histograms kept in memory, rendered on scrape.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "hmap.h"
#include "pg_pool.h"
#include "request.h"
#include "util.h"

static const double latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,   5,     10};
#define NBUCKETS (sizeof latency_buckets / sizeof latency_buckets[0])

struct histogram {
    uint64_t buckets[NBUCKETS]; /* cumulative counts are computed when rendering */
    uint64_t count;
    double sum;
};

struct counter {
    uint64_t value;
};

struct metrics {
    struct hmap *requests;        /* "route\x1fmethod\x1fstatus" -> counter */
    struct hmap *latency;         /* "route\x1fmethod" -> histogram */
    uint64_t limited_bucket;      /* 429s from the token bucket */
    uint64_t limited_auth;        /* 429s from failed-auth limiting */
    struct histogram queries;
    uint64_t query_errors;
    struct hmap *deliveries;      /* outcome -> counter */
    struct histogram delivery_latency;
    int64_t start_ms;
};

struct metrics *metrics_create(void)
{
    struct metrics *m = xcalloc(1, sizeof *m);
    m->requests = hmap_create();
    m->latency = hmap_create();
    m->deliveries = hmap_create();
    m->start_ms = util_now_ms();
    return m;
}

static void free_value(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    hmap_each(m->requests, free_value, NULL);
    hmap_each(m->latency, free_value, NULL);
    hmap_each(m->deliveries, free_value, NULL);
    hmap_free(m->requests);
    hmap_free(m->latency);
    hmap_free(m->deliveries);
    free(m);
}

static void observe(struct histogram *h, double seconds)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (seconds <= latency_buckets[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += seconds;
}

static void *get_or_add(struct hmap *map, const char *key, size_t size)
{
    void *v = hmap_get(map, key);
    if (!v) {
        v = xcalloc(1, size);
        hmap_put(map, key, v);
    }
    return v;
}

void metrics_request(struct metrics *m, const char *route, const char *method, int status,
                     double seconds)
{
    if (!m)
        return;
    char key[256];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%d", route, method, status);
    ((struct counter *)get_or_add(m->requests, key, sizeof(struct counter)))->value++;
    snprintf(key, sizeof key, "%s\x1f%s", route, method);
    observe(get_or_add(m->latency, key, sizeof(struct histogram)), seconds);
}

void metrics_rate_limited(struct metrics *m, const char *reason)
{
    if (!m)
        return;
    if (strcmp(reason, "failed_auth") == 0)
        m->limited_auth++;
    else
        m->limited_bucket++;
}

void metrics_query(struct metrics *m, double seconds, bool ok)
{
    if (!m)
        return;
    observe(&m->queries, seconds);
    if (!ok)
        m->query_errors++;
}

void metrics_delivery(struct metrics *m, const char *outcome, double seconds)
{
    if (!m)
        return;
    ((struct counter *)get_or_add(m->deliveries, outcome, sizeof(struct counter)))->value++;
    observe(&m->delivery_latency, seconds);
}

/* ---- rendering ---- */

static void label_value(struct strbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            strbuf_putc(b, '\\');
        if (*v == '\n') {
            strbuf_puts(b, "\\n");
            continue;
        }
        strbuf_putc(b, *v);
    }
}

static void header(struct strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Splits "a\x1fb\x1fc" into labels, writing name="value" pairs. */
static void labels(struct strbuf *b, const char *key, const char *const *names, size_t n)
{
    const char *p = key;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(p, '\x1f');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *v = xstrndup(p, len);
        strbuf_printf(b, "%s%s=\"", i ? "," : "", names[i]);
        label_value(b, v);
        strbuf_putc(b, '"');
        free(v);
        p = end ? end + 1 : p + len;
    }
}

struct render_ctx {
    struct strbuf *b;
    const char *name;
    const char *const *names;
    size_t n;
};

static void render_counter(const char *key, void *value, void *arg)
{
    struct render_ctx *c = arg;
    strbuf_printf(c->b, "%s{", c->name);
    labels(c->b, key, c->names, c->n);
    strbuf_printf(c->b, "} %llu\n", (unsigned long long)((struct counter *)value)->value);
}

static void render_histogram(struct strbuf *b, const char *name, const char *lbl,
                             const struct histogram *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += h->buckets[i];
        strbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lbl, *lbl ? "," : "",
                      latency_buckets[i], (unsigned long long)cum);
    }
    strbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lbl, *lbl ? "," : "",
                  (unsigned long long)h->count);
    strbuf_printf(b, "%s_sum%s%s%s %.6f\n", name, *lbl ? "{" : "", lbl, *lbl ? "}" : "", h->sum);
    strbuf_printf(b, "%s_count%s%s%s %llu\n", name, *lbl ? "{" : "", lbl, *lbl ? "}" : "",
                  (unsigned long long)h->count);
}

static void render_latency(const char *key, void *value, void *arg)
{
    struct render_ctx *c = arg;
    struct strbuf lbl = {0};
    static const char *const names[] = {"route", "method"};
    labels(&lbl, key, names, 2);
    render_histogram(c->b, c->name, lbl.s, value);
    strbuf_clear(&lbl);
}

static void render_process(struct strbuf *b, const struct metrics *m)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    header(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    strbuf_printf(b, "process_resident_memory_bytes %ld\n", rss * sysconf(_SC_PAGESIZE));
    header(b, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
    strbuf_printf(b, "process_start_time_seconds %.3f\n", (double)m->start_ms / 1000.0);
}

static void render_pool(struct strbuf *b, const struct pg_pool *pool)
{
    struct pg_pool_stats st;
    pg_pool_get_stats(pool, &st);
    header(b, "scimgate_db_pool_connections", "gauge",
           "Database connections of this process by state.");
    strbuf_printf(b, "scimgate_db_pool_connections{state=\"configured\"} %d\n", st.size);
    strbuf_printf(b, "scimgate_db_pool_connections{state=\"connected\"} %d\n", st.connected);
    strbuf_printf(b, "scimgate_db_pool_connections{state=\"in_use\"} %d\n", st.busy + st.held);
    header(b, "scimgate_db_pool_waiting", "gauge", "Queries waiting for a free connection.");
    strbuf_printf(b, "scimgate_db_pool_waiting %d\n", st.waiting);
    header(b, "scimgate_db_group_commits_total", "counter",
           "Transactions that committed the writes of several requests together.");
    strbuf_printf(b, "scimgate_db_group_commits_total %llu\n", (unsigned long long)st.commits);
    header(b, "scimgate_db_group_commit_writes_total", "counter",
           "Writes sent in group commits.");
    strbuf_printf(b, "scimgate_db_group_commit_writes_total %llu\n",
                  (unsigned long long)st.grouped);
    header(b, "scimgate_db_group_commit_reruns_total", "counter",
           "Writes run again alone because their group failed.");
    strbuf_printf(b, "scimgate_db_group_commit_reruns_total %llu\n",
                  (unsigned long long)st.regrouped);
}

static void render_all(struct strbuf *b, const struct metrics *m, const struct gateway *gw)
{
    int pq = PQlibVersion();
    header(b, "scimgate_build_info", "gauge", "Build information; the value is always 1.");
    strbuf_printf(b,
                  "scimgate_build_info{version=\"%s\",libevent=\"%s\",libpq=\"%d.%d\","
                  "jansson=\"%s\",openssl=\"%s\"} 1\n",
                  SCIMGATE_VERSION, event_get_version(), pq / 10000, pq % 100, JANSSON_VERSION,
                  OpenSSL_version(OPENSSL_VERSION_STRING));
    static const char *const req_names[] = {"route", "method", "status"};
    struct render_ctx c = {b, "scimgate_http_requests_total", req_names, 3};
    header(b, c.name, "counter", "HTTP requests answered, by route pattern, method and status.");
    hmap_each(m->requests, render_counter, &c);
    c.name = "scimgate_http_request_duration_seconds";
    header(b, c.name, "histogram", "Time from request arrival to reply, by route and method.");
    hmap_each(m->latency, render_latency, &c);
    header(b, "scimgate_rate_limited_total", "counter", "Requests refused with 429, by reason.");
    strbuf_printf(b, "scimgate_rate_limited_total{reason=\"token_bucket\"} %llu\n",
                  (unsigned long long)m->limited_bucket);
    strbuf_printf(b, "scimgate_rate_limited_total{reason=\"failed_auth\"} %llu\n",
                  (unsigned long long)m->limited_auth);
    render_pool(b, gw->pool);
    header(b, "scimgate_db_query_duration_seconds", "histogram",
           "Database round trips, queued time included.");
    render_histogram(b, "scimgate_db_query_duration_seconds", "", &m->queries);
    header(b, "scimgate_db_query_errors_total", "counter", "Database round trips that failed.");
    strbuf_printf(b, "scimgate_db_query_errors_total %llu\n", (unsigned long long)m->query_errors);
    static const char *const out_names[] = {"outcome"};
    c = (struct render_ctx){b, "scimgate_webhook_deliveries_total", out_names, 1};
    header(b, c.name, "counter", "Webhook delivery attempts made by this process, by outcome.");
    hmap_each(m->deliveries, render_counter, &c);
    header(b, "scimgate_webhook_delivery_duration_seconds", "histogram",
           "Webhook delivery attempts, connect to last byte.");
    render_histogram(b, "scimgate_webhook_delivery_duration_seconds", "", &m->delivery_latency);
    render_process(b, m);
}

static void scraped(struct pg_query *q, void *arg)
{
    struct request *req = arg;
    struct strbuf b = {0};
    render_all(&b, req->gw->metrics, req->gw);
    header(&b, "scimgate_outbox_scrape_ok", "gauge",
           "1 when the outbox figures below could be read from the database.");
    bool ok = pg_query_status(q) == PG_OK;
    strbuf_printf(&b, "scimgate_outbox_scrape_ok %d\n", ok ? 1 : 0);
    if (ok) {
        const PGresult *r = pg_query_result(q, 0);
        header(&b, "scimgate_outbox_pending_deliveries", "gauge",
               "Webhook deliveries waiting to succeed (all processes).");
        strbuf_printf(&b, "scimgate_outbox_pending_deliveries %lld\n", pg_value_int(r, 0, 0));
        header(&b, "scimgate_outbox_oldest_pending_age_seconds", "gauge",
               "Age of the oldest pending webhook delivery.");
        strbuf_printf(&b, "scimgate_outbox_oldest_pending_age_seconds %s\n",
                      pg_value(r, 0, 1) ? pg_value(r, 0, 1) : "0");
        header(&b, "scimgate_webhook_retry_backlog_age_seconds", "gauge",
               "Age of the oldest pending delivery that has already failed once.");
        strbuf_printf(&b, "scimgate_webhook_retry_backlog_age_seconds %s\n",
                      pg_value(r, 0, 2) ? pg_value(r, 0, 2) : "0");
    }
    request_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
    strbuf_clear(&b);
}

void metrics_handle(struct request *req)
{
    struct pg_query *q = pg_query_new();
    pg_query_sql(q, "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0),"
                    " coalesce(extract(epoch FROM now() - min(first_attempt_at)"
                    "  FILTER (WHERE attempts > 0)), 0)"
                    " FROM deliveries WHERE status = 'pending'");
    pg_pool_submit(req->gw->pool, q, scraped, req);
}
