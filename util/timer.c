/*
 * Clocks and timers.
 *
 * Three clocks: REALTIME (host CLOCK_MONOTONIC), HOST (wall clock) and
 * VIRTUAL (guest time).  The virtual clock is host monotonic time minus the
 * time the VM spent stopped; under qtest it is "manual": it starts at 0 and
 * only moves with vclock_warp().
 *
 * Timers live in one list per clock sorted by expiry.  Every caller holds
 * the big lock: the main loop, and device code running in vCPU threads
 * (register writes arm timers), so the lists need no lock of their own.
 * A timer that becomes the head of its list may be earlier than the
 * deadline the main loop is sleeping towards: list_insert tells the loop.
 */
#include <stdlib.h>
#include <time.h>

#include "util.h"

#define NUM_CLOCKS 3

struct Timer {
    ClockType clock;
    void (*cb)(void *opaque);
    void *opaque;
    int64_t expire_ns;          /* -1 when not pending */
    Timer *next;
};

static Timer *timer_lists[NUM_CLOCKS];

static struct {
    bool running;               /* false while the VM is stopped */
    bool manual;                /* qtest: moves only by vclock_warp */
    int64_t offset_ns;          /* virtual = monotonic + offset while running */
    int64_t frozen_ns;          /* value while stopped */
    int64_t manual_ns;          /* value in manual mode */
} vclock = { .running = true };

static int64_t host_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t virtual_clock_ns(void)
{
    if (vclock.manual)
        return vclock.manual_ns;
    if (!vclock.running)
        return vclock.frozen_ns;
    return host_clock_ns(CLOCK_MONOTONIC) + vclock.offset_ns;
}

int64_t clock_ns(ClockType c)
{
    switch (c) {
    case CLOCK_REALTIME_NS: return host_clock_ns(CLOCK_MONOTONIC);
    case CLOCK_HOST_NS:     return host_clock_ns(CLOCK_REALTIME);
    case CLOCK_VIRTUAL_NS:  return virtual_clock_ns();
    }
    return 0;
}

void vclock_stop(void)
{
    if (!vclock.running)
        return;
    vclock.frozen_ns = virtual_clock_ns();
    vclock.running = false;
}

/* Resume from the frozen value: the guest sees no jump over the pause. */
void vclock_start(void)
{
    if (vclock.running)
        return;
    vclock.offset_ns = vclock.frozen_ns - host_clock_ns(CLOCK_MONOTONIC);
    vclock.running = true;
    main_loop_timers_changed();   /* virtual timers count again */
}

bool vclock_running(void)
{
    return vclock.running;
}

void vclock_set_manual(bool manual)
{
    if (manual == vclock.manual)
        return;
    if (manual) {
        vclock.manual_ns = 0;
    } else {
        /* Continue from the manual value without a jump. */
        vclock.offset_ns = vclock.manual_ns - host_clock_ns(CLOCK_MONOTONIC);
        vclock.frozen_ns = vclock.manual_ns;
    }
    vclock.manual = manual;
}

/* Migration: continue the source's virtual clock from ns (the incoming
 * side sets it while stopped; a running clock is moved too, so callers
 * need not care). */
void vclock_set_ns(int64_t ns)
{
    if (vclock.manual)
        vclock.manual_ns = ns;
    else if (!vclock.running)
        vclock.frozen_ns = ns;
    else
        vclock.offset_ns = ns - host_clock_ns(CLOCK_MONOTONIC);
    main_loop_timers_changed();
}

/* ---- timer lists ---- */

static bool clock_valid(ClockType c)
{
    return (unsigned)c < NUM_CLOCKS;
}

static void list_remove(Timer *t)
{
    for (Timer **pp = &timer_lists[t->clock]; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    t->next = NULL;
    t->expire_ns = -1;
}

/* Insert after every timer with the same expiry: equal deadlines fire FIFO. */
static void list_insert(Timer *t)
{
    Timer **pp = &timer_lists[t->clock];
    while (*pp && (*pp)->expire_ns <= t->expire_ns)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    if (pp == &timer_lists[t->clock])
        main_loop_timers_changed();
}

Timer *timer_new(ClockType c, void (*cb)(void *opaque), void *opaque)
{
    Timer *t = xzalloc(sizeof(*t));
    t->clock = clock_valid(c) ? c : CLOCK_REALTIME_NS;
    t->cb = cb;
    t->opaque = opaque;
    t->expire_ns = -1;
    return t;
}

void timer_mod(Timer *t, int64_t expire_ns)
{
    if (t->expire_ns >= 0)
        list_remove(t);
    t->expire_ns = expire_ns < 0 ? 0 : expire_ns;
    list_insert(t);
}

void timer_del(Timer *t)
{
    if (t && t->expire_ns >= 0)
        list_remove(t);
}

bool timer_pending(const Timer *t)
{
    return t->expire_ns >= 0;
}

int64_t timer_expire_time(const Timer *t)
{
    return t->expire_ns;
}

ClockType timer_clock(const Timer *t)
{
    return t->clock;
}

void timer_free(Timer *t)
{
    if (!t)
        return;
    timer_del(t);
    free(t);
}

/* Pop the head of c's list if it is due at now; NULL otherwise. */
static Timer *pop_due(ClockType c, int64_t now)
{
    Timer *t = timer_lists[c];
    if (!t || t->expire_ns > now)
        return NULL;
    timer_lists[c] = t->next;
    t->next = NULL;
    t->expire_ns = -1;
    return t;
}

/*
 * Fire every timer of c due at now.  The callback may re-arm, delete or
 * free any timer, itself included, so the list head is re-read each time
 * and t is not touched after its callback.
 */
static void run_clock(ClockType c, int64_t now)
{
    Timer *t;
    while ((t = pop_due(c, now)))
        t->cb(t->opaque);
}

/*
 * Whether the main loop drives the virtual clock's timers: while it runs
 * from host time.  In manual (qtest) mode only already-due timers (e.g.
 * armed for "now") are run by the loop; future ones wait for vclock_warp.
 */
static bool vclock_loop_driven(void)
{
    return vclock.manual || vclock.running;
}

void timers_run_expired(void)
{
    run_clock(CLOCK_REALTIME_NS, clock_ns(CLOCK_REALTIME_NS));
    run_clock(CLOCK_HOST_NS, clock_ns(CLOCK_HOST_NS));
    if (vclock_loop_driven())
        run_clock(CLOCK_VIRTUAL_NS, clock_ns(CLOCK_VIRTUAL_NS));
}

static int64_t clock_deadline(ClockType c)
{
    const Timer *t = timer_lists[c];
    if (!t)
        return -1;
    int64_t delta = t->expire_ns - clock_ns(c);
    return delta < 0 ? 0 : delta;
}

static int64_t earliest(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return MIN(a, b);
}

int64_t timers_next_deadline_ns(void)
{
    int64_t d = earliest(clock_deadline(CLOCK_REALTIME_NS), clock_deadline(CLOCK_HOST_NS));
    if (vclock.manual) {
        /* Only due timers count: the manual clock never moves by itself. */
        if (clock_deadline(CLOCK_VIRTUAL_NS) == 0)
            d = 0;
    } else if (vclock.running) {
        d = earliest(d, clock_deadline(CLOCK_VIRTUAL_NS));
    }
    return d;
}

int64_t vclock_next_deadline_ns(void)
{
    return clock_deadline(CLOCK_VIRTUAL_NS);
}

/*
 * qtest clock_step/clock_set: walk the manual clock forward, stopping at
 * each timer's expiry so devices see the time they asked for.  A callback
 * may re-arm its timer; the walk continues until nothing is due by target.
 */
void vclock_warp(int64_t target_ns)
{
    if (!vclock.manual)
        return;
    Timer *t;
    while ((t = timer_lists[CLOCK_VIRTUAL_NS]) && t->expire_ns <= target_ns) {
        if (t->expire_ns > vclock.manual_ns)
            vclock.manual_ns = t->expire_ns;
        t = pop_due(CLOCK_VIRTUAL_NS, t->expire_ns);
        t->cb(t->opaque);
    }
    if (target_ns > vclock.manual_ns)
        vclock.manual_ns = target_ns;
}
