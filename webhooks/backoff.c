/*
 * backoff.c - when to retry a failed webhook delivery, and when to stop.
 */
#include "backoff.h"

const struct backoff_policy backoff_default_policy = {
    .base_ms = 5 * 1000,
    .cap_ms = 60 * 60 * 1000,
    .min_ms = 1000,
    .horizon_ms = 24 * 60 * 60 * 1000LL,
};

int64_t backoff_ceiling_ms(const struct backoff_policy *policy, int attempt)
{
    int64_t ceiling = policy->base_ms;
    /* Doubling stops at the cap, so large attempt numbers cannot overflow. */
    for (int i = 1; i < attempt && ceiling < policy->cap_ms; i++)
        ceiling *= 2;
    if (ceiling > policy->cap_ms)
        ceiling = policy->cap_ms;
    return ceiling < policy->min_ms ? policy->min_ms : ceiling;
}

int64_t backoff_next_policy(const struct backoff_policy *policy, int attempt,
                            int64_t first_attempt_ms, int64_t now_ms, uint64_t rand)
{
    int64_t deadline = first_attempt_ms + policy->horizon_ms;
    if (now_ms >= deadline)
        return BACKOFF_GIVE_UP;
    int64_t ceiling = backoff_ceiling_ms(policy, attempt < 1 ? 1 : attempt);
    /* The modulo bias is below 2^-40 for spans of hours: irrelevant here. */
    uint64_t span = (uint64_t)(ceiling - policy->min_ms) + 1;
    int64_t next = now_ms + policy->min_ms + (int64_t)(rand % span);
    if (next > deadline) {
        /* One last attempt on the horizon itself, so the schedule covers it. */
        next = deadline;
        if (next < now_ms + policy->min_ms)
            next = now_ms + policy->min_ms;
    }
    return next;
}

int64_t backoff_next(int attempt, int64_t first_attempt_ms, int64_t now_ms, uint64_t rand)
{
    return backoff_next_policy(&backoff_default_policy, attempt, first_attempt_ms, now_ms,
                               rand);
}
