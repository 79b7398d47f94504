/*
 * test_offload.c - jobs run on the worker threads, their done callbacks on the
 * loop's thread, every one exactly once, including those still queued when
 * the pool is freed.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "offload.h"

enum { N = 200 };

struct job_state {
    pthread_t worked_on;
    int worked, done;
    pthread_t done_on;
};

static void work(void *arg)
{
    struct job_state *j = arg;
    j->worked_on = pthread_self();
    j->worked++;
}

static int ndone;

static void done(void *arg)
{
    struct job_state *j = arg;
    j->done_on = pthread_self();
    j->done++;
    ndone++;
}

START_TEST(test_threads)
{
    struct event_base *base = event_base_new();
    struct offload *o = offload_create(base, 3);
    static struct job_state jobs[N];
    ndone = 0;
    for (int i = 0; i < N; i++)
        offload_run(o, work, done, &jobs[i]);
    ck_assert_int_eq(ndone, 0); /* never from inside offload_run */
    for (int spins = 0; ndone < N && spins < 100000; spins++)
        event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_eq(ndone, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(jobs[i].worked, 1);
        ck_assert_int_eq(jobs[i].done, 1);
        ck_assert(!pthread_equal(jobs[i].worked_on, pthread_self()));
        ck_assert(pthread_equal(jobs[i].done_on, pthread_self()));
    }
    offload_free(o);
    event_base_free(base);
}
END_TEST

START_TEST(test_free_finishes_queue)
{
    struct event_base *base = event_base_new();
    struct offload *o = offload_create(base, 1);
    static struct job_state jobs[N];
    ndone = 0;
    for (int i = 0; i < N; i++)
        offload_run(o, work, done, &jobs[i]);
    offload_free(o); /* without running the loop */
    ck_assert_int_eq(ndone, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(jobs[i].worked + jobs[i].done, 2);
    event_base_free(base);
}
END_TEST

START_TEST(test_bounded_queue)
{
    /* Jobs count until their done callback ran on the loop: without running
     * it, everything past 1,024 is done inline, at once. */
    struct event_base *base = event_base_new();
    struct offload *o = offload_create(base, 1);
    enum { MANY = 1100 };
    static struct job_state jobs[MANY];
    ndone = 0;
    for (int i = 0; i < MANY; i++)
        offload_run(o, work, done, &jobs[i]);
    ck_assert_int_eq(ndone, MANY - 1024);
    for (int i = 1024; i < MANY; i++)
        ck_assert(pthread_equal(jobs[i].worked_on, pthread_self()));
    offload_free(o);
    ck_assert_int_eq(ndone, MANY);
    event_base_free(base);
}
END_TEST

START_TEST(test_inline)
{
    struct event_base *base = event_base_new();
    struct offload *o = offload_create(base, 0);
    struct job_state j = {0};
    ndone = 0;
    offload_run(o, work, done, &j);
    ck_assert_int_eq(ndone, 1);
    ck_assert(pthread_equal(j.worked_on, pthread_self()));
    offload_free(o);
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("offload");
    TCase *tc = tcase_create("offload");
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_free_finishes_queue);
    tcase_add_test(tc, test_bounded_queue);
    tcase_add_test(tc, test_inline);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
