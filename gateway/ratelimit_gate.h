/*
 * ratelimit_gate.h - the per-token rate limit applied to SCIM requests: each
 * operation takes units from its token's bucket, or the request is answered
 * 429 with Retry-After (whole seconds, rounded up) and a SCIM error before
 * any database work for it. Buckets are per process
 * (SCIMGATE_RATE_LIMIT_LOCAL) or, by default, leased in slices from one
 * shared bucket per token in PostgreSQL so several processes together keep to
 * the rate (see ratelimit.h for the mechanism and its bound).
 */
#ifndef SCIMGATE_RATELIMIT_GATE_H
#define SCIMGATE_RATELIMIT_GATE_H

struct request;
struct gateway;
struct ratelimit_gate;

enum ratelimit_gate_result {
    RATELIMIT_GATE_PASS,    /* go on now */
    RATELIMIT_GATE_REPLIED, /* refused: 429 (or 413, 503) has been sent */
    RATELIMIT_GATE_PARKED,  /* waiting for a slice: resume(req) runs later, or the
                             * request is answered by the gate */
};

struct ratelimit_gate *ratelimit_gate_create(struct gateway *gw);
/* Parked requests are answered 503. NULL is fine. */
void ratelimit_gate_free(struct ratelimit_gate *g);

/* Takes `units` (1, or the operations of a /Bulk request) for req's token. */
enum ratelimit_gate_result ratelimit_gate_take(struct request *req, int units,
                                               void (*resume)(struct request *req));

#endif
