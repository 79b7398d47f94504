/*
 * worker.h - the webhook delivery worker: claims due deliveries from the
 * outbox, signs and POSTs them, records every attempt and schedules retries.
 * Runs on the caller's event loop, inside `scimgate serve --with-worker` or
 * as `scimgate worker`; any number of workers may share one database.
 */
#ifndef SCIMGATE_WORKER_H
#define SCIMGATE_WORKER_H

#include "gateway.h"

struct worker;

/* Starts working on gw's loop with gw's pool. */
struct worker *worker_create(struct gateway *gw);
/* Stops claiming; calls done(arg) when the deliveries in flight have finished
 * and their attempts are recorded (or after the shutdown timeout). */
void worker_stop(struct worker *w, void (*done)(void *arg), void *arg);
/* NULL is fine. */
void worker_free(struct worker *w);

#endif
