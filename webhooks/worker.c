/*
 * worker.c - the delivery worker's lifecycle.
 */
#include "worker.h"

#include <stdlib.h>

#include "log.h"
#include "util.h"

struct worker {
    struct gateway *gw;
    bool stopping;
};

struct worker *worker_create(struct gateway *gw)
{
    struct worker *w = xcalloc(1, sizeof *w);
    w->gw = gw;
    log_info("webhook worker started", LF_INT("concurrency", gw->cfg->worker_concurrency));
    return w;
}

void worker_stop(struct worker *w, void (*done)(void *), void *arg)
{
    w->stopping = true;
    done(arg);
}

void worker_free(struct worker *w)
{
    free(w);
}
