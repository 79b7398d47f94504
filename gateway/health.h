/*
 * health.h - liveness and readiness: /healthz and /livez say the process
 * answers; /readyz says the database is reachable and its migrations current.
 */
#ifndef SCIMGATE_HEALTH_H
#define SCIMGATE_HEALTH_H

#include "request.h"

void health_live(struct request *req);
void health_ready(struct request *req);

#endif
