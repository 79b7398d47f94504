/*
 * offload.c - a fixed set of threads taking jobs from one queue.
 *
 * Jobs go in under a mutex and a condition variable wakes a thread. Finished
 * jobs go to a second list; the first one to arrive there writes to an
 * eventfd that the loop watches, and the loop takes the whole list at once
 * and runs the done callbacks in the order the jobs finished.
 */
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "util.h"

#define MAX_QUEUED 1024 /* jobs queued or running at most */

struct job {
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
    struct job *next;
};

struct job_list {
    struct job *head, *tail;
};

struct offload {
    struct event_base *base;
    int nthreads;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job_list todo;     /* under lock */
    struct job_list finished; /* under lock */
    bool stopping;            /* under lock */
    int efd;                  /* finished jobs are waiting */
    struct event *ev;
    int pending;              /* jobs queued or running (loop thread only) */
    bool stopped;             /* offload_free began: run new jobs inline */
};

static void list_push(struct job_list *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct job *list_pop(struct job_list *l)
{
    struct job *j = l->head;
    if (j) {
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
    }
    return j;
}

static void *thread_main(void *arg)
{
    struct offload *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        struct job *j;
        while (!(j = list_pop(&o->todo)) && !o->stopping)
            pthread_cond_wait(&o->wake, &o->lock);
        if (!j)
            break;
        pthread_mutex_unlock(&o->lock);
        j->work(j->arg);
        pthread_mutex_lock(&o->lock);
        bool first = !o->finished.head;
        list_push(&o->finished, j);
        if (first) {
            uint64_t one = 1;
            while (write(o->efd, &one, sizeof one) < 0 && errno == EINTR)
                ;
        }
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

/* Runs the done callbacks of the jobs finished so far. */
static void collect(struct offload *o)
{
    uint64_t n;
    while (read(o->efd, &n, sizeof n) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&o->lock);
    struct job *j = o->finished.head;
    o->finished.head = o->finished.tail = NULL;
    pthread_mutex_unlock(&o->lock);
    while (j) {
        struct job *next = j->next;
        o->pending--;
        j->done(j->arg);
        free(j);
        j = next;
    }
}

static void on_finished(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    collect(arg);
}

struct offload *offload_create(struct event_base *base, int threads)
{
    struct offload *o = xcalloc(1, sizeof *o);
    o->base = base;
    o->efd = -1;
    if (threads <= 0)
        return o;
    o->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (o->efd < 0)
        util_fatal("eventfd: %s", strerror(errno));
    o->ev = event_new(base, o->efd, EV_READ | EV_PERSIST, on_finished, o);
    event_add(o->ev, NULL);
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->wake, NULL);
    o->threads = xcalloc((size_t)threads, sizeof *o->threads);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&o->threads[i], NULL, thread_main, o) != 0)
            util_fatal("cannot start a worker thread");
        o->nthreads++;
    }
    return o;
}

void offload_stop(struct offload *o)
{
    if (!o || o->stopped)
        return;
    o->stopped = true;
    if (o->nthreads) {
        pthread_mutex_lock(&o->lock);
        o->stopping = true; /* threads finish the queue first: they stop on an empty one */
        pthread_cond_broadcast(&o->wake);
        pthread_mutex_unlock(&o->lock);
        for (int i = 0; i < o->nthreads; i++)
            pthread_join(o->threads[i], NULL);
        while (o->pending > 0)
            collect(o);
    }
}

void offload_free(struct offload *o)
{
    if (!o)
        return;
    offload_stop(o);
    if (o->nthreads) {
        event_free(o->ev);
        close(o->efd);
        pthread_cond_destroy(&o->wake);
        pthread_mutex_destroy(&o->lock);
        free(o->threads);
    }
    free(o);
}

void offload_run(struct offload *o, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
    /* Past MAX_QUEUED the loop does the work itself: a burst slows down
     * instead of queueing without bound, and a stop never waits long. */
    if (!o->nthreads || o->stopped || o->pending >= MAX_QUEUED) {
        work(arg);
        done(arg);
        return;
    }
    struct job *j = xcalloc(1, sizeof *j);
    j->work = work;
    j->done = done;
    j->arg = arg;
    o->pending++;
    pthread_mutex_lock(&o->lock);
    list_push(&o->todo, j);
    pthread_cond_signal(&o->wake);
    pthread_mutex_unlock(&o->lock);
}
