/*
 * A step runner for unit tests that need the real main loop: run_steps()
 * runs the loop and, every millisecond, calls the current step until it
 * returns true, then moves to the next; it stops after the last step, when
 * a step quits the loop, or at the deadline.  RUN_STEPS(a, b, ...) fails
 * the test when it did not get through every step within
 * STEPS_TIMEOUT_MS (define it before including this file; 3000 otherwise).
 */
#ifndef VMM_TEST_STEPS_H
#define VMM_TEST_STEPS_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#ifndef STEPS_TIMEOUT_MS
#define STEPS_TIMEOUT_MS 3000
#endif

typedef bool (*Step)(void);
static const Step *steps;
static size_t nsteps, cur_step;
static int64_t step_deadline;
static Timer *step_timer;

static void step_tick(void *opaque)
{
    while (cur_step < nsteps && !main_loop_quitting() && steps[cur_step]())
        cur_step++;
    if (cur_step == nsteps || clock_ns(CLOCK_REALTIME_NS) > step_deadline) {
        main_loop_quit(0);
        return;
    }
    timer_mod(step_timer, clock_ns(CLOCK_REALTIME_NS) + 1000000);
}

static inline void run_steps(const Step *s, size_t n, int timeout_ms)
{
    steps = s;
    nsteps = n;
    cur_step = 0;
    step_deadline = clock_ns(CLOCK_REALTIME_NS) + timeout_ms * 1000000LL;
    step_timer = timer_new(CLOCK_REALTIME_NS, step_tick, NULL);
    timer_mod(step_timer, clock_ns(CLOCK_REALTIME_NS));
    main_loop_run();
}

#define RUN_STEPS(...)                                                       \
    do {                                                                     \
        static const Step s_[] = { __VA_ARGS__ };                            \
        run_steps(s_, ARRAY_SIZE(s_), STEPS_TIMEOUT_MS);                     \
        ck_assert_msg(cur_step == ARRAY_SIZE(s_), "stuck at step %zu (%s)",  \
                      cur_step, #__VA_ARGS__);                               \
    } while (0)

#endif
