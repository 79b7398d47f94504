/*
 * ratelimit_gate.h - applies the per-token rate limit to a SCIM request:
 * takes units from the token's bucket or answers 429 with Retry-After (whole
 * seconds, rounded up) and a SCIM error, before any database work.
 */
#ifndef SCIMGATE_RATELIMIT_GATE_H
#define SCIMGATE_RATELIMIT_GATE_H

#include <stdbool.h>

struct request;

/* Takes `units` for req's token. Returns true to proceed; false after having
 * replied 429 (the request is finished). */
bool ratelimit_gate_take(struct request *req, int units);

#endif
