/*
 * offload.h - CPU-heavy work (password hashing) on a few threads, so the event
 * loop never stalls on it. work(arg) runs on a thread; done(arg) runs later
 * on the loop. Only the job's own data may be touched from work().
 *
 *   offload_run(gw->offload, hash_password, hashed, op);
 */
#ifndef SCIMGATE_OFFLOAD_H
#define SCIMGATE_OFFLOAD_H

struct event_base;
struct offload;

/* threads == 0: work and done run inline, from offload_run (as they do
 * while 1,024 jobs are already queued, and after offload_stop). */
struct offload *offload_create(struct event_base *base, int threads);
/* Finishes the jobs already queued (their done callbacks run) and stops the
 * threads; jobs offered afterwards run inline. NULL is fine. */
void offload_stop(struct offload *o);
/* Stops (if not yet) and frees. NULL is fine. */
void offload_free(struct offload *o);
void offload_run(struct offload *o, void (*work)(void *arg), void (*done)(void *arg), void *arg);

#endif
