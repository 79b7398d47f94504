/*
 * metrics.h - Prometheus metrics of one process, exposed at GET /metrics in
 * the text format (version 0.0.4): requests by route and status, latency
 * histograms, rate-limit refusals by reason, database pool and query
 * latency, outbox depth and age, webhook deliveries by outcome, build info
 * and process figures. Labels never carry users, tokens or organizations.
 */
#ifndef SCIMGATE_METRICS_H
#define SCIMGATE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct metrics;
struct request;

struct metrics *metrics_create(void);
void metrics_free(struct metrics *m);

/* One finished HTTP request; route is the route pattern ("unmatched" when no
 * route matched). */
void metrics_request(struct metrics *m, const char *route, const char *method, int status,
                     double seconds);
/* A 429 refusal; reason is "token_bucket" or "failed_auth". */
void metrics_rate_limited(struct metrics *m, const char *reason);
/* One database query finished after `seconds`, ok or not. */
void metrics_query(struct metrics *m, double seconds, bool ok);
/* A webhook attempt's outcome: "succeeded", "retry_scheduled", "failed". */
void metrics_delivery(struct metrics *m, const char *outcome, double seconds);

/* The handler of GET /metrics. */
void metrics_handle(struct request *req);

#endif
