/*
 * serve.h - the long-running processes: `scimgate serve` (HTTP listener,
 * optionally with the delivery worker) and `scimgate worker`. Each builds its
 * gateway context, runs the loop until SIGTERM/SIGINT, drains, and frees
 * everything in reverse order.
 */
#ifndef SCIMGATE_SERVE_H
#define SCIMGATE_SERVE_H

#include "config.h"

/* Runs until stopped; returns the process exit status. */
int serve_run(const struct config *cfg);
int serve_worker_run(const struct config *cfg);

#endif
