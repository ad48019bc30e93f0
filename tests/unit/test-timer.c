/*
 * Unit tests for util/timer.c and util/main-loop.c: the manual virtual
 * clock, stop/start, timers that re-arm or delete timers from their
 * callbacks, and the epoll loop (bottom halves from other threads, fd
 * handlers, signals, quit).  Check forks every test, so each starts with a
 * fresh main loop.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "unit.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- manual virtual clock ---- */

struct fired {
    int64_t at[16];
    char who[16];
    int n;
};
static struct fired fired;

struct tctx {
    char name;
    Timer *t;
    int rearm_left;
    int64_t period;
};

static void record_cb(void *opaque)
{
    struct tctx *c = opaque;
    if (fired.n < 16) {
        fired.at[fired.n] = clock_ns(CLOCK_VIRTUAL_NS);
        fired.who[fired.n] = c->name;
        fired.n++;
    }
    ck_assert(!timer_pending(c->t));
    if (c->rearm_left-- > 0)
        timer_mod(c->t, clock_ns(CLOCK_VIRTUAL_NS) + c->period);
}

START_TEST(warp_fires_in_order)
{
    vclock_set_manual(true);
    ck_assert_int_eq(clock_ns(CLOCK_VIRTUAL_NS), 0);
    struct tctx a = { 'a', NULL, 3, 150 }, b = { 'b', NULL, 0, 0 }, c = { 'c', NULL, 0, 0 };
    a.t = timer_new(CLOCK_VIRTUAL_NS, record_cb, &a);
    b.t = timer_new(CLOCK_VIRTUAL_NS, record_cb, &b);
    c.t = timer_new(CLOCK_VIRTUAL_NS, record_cb, &c);
    timer_mod(c.t, 300);
    timer_mod(a.t, 100);
    timer_mod(b.t, 200);
    ck_assert_int_eq(timer_expire_time(a.t), 100);
    ck_assert_int_eq(timers_next_deadline_ns(), -1);   /* manual: nothing due */

    vclock_warp(120);
    ck_assert_int_eq(fired.n, 1);
    ck_assert_int_eq(clock_ns(CLOCK_VIRTUAL_NS), 120);

    /* a re-arms at 250 and 400; 550 lies beyond the target. */
    vclock_warp(500);
    int64_t want_at[] = { 100, 200, 250, 300, 400 };
    const char want[] = "abaca";
    ck_assert_int_eq(fired.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(fired.who[i], want[i]);
        ck_assert_int_eq(fired.at[i], want_at[i]);
    }
    ck_assert_int_eq(clock_ns(CLOCK_VIRTUAL_NS), 500);
    ck_assert(timer_pending(a.t));
    ck_assert_int_eq(timer_expire_time(a.t), 550);

    /* The clock never moves backwards. */
    vclock_warp(10);
    ck_assert_int_eq(clock_ns(CLOCK_VIRTUAL_NS), 500);
    timer_free(a.t);
    timer_free(b.t);
    timer_free(c.t);
}
END_TEST

START_TEST(warp_equal_deadlines_fifo)
{
    vclock_set_manual(true);
    struct tctx x = { 'x', NULL, 0, 0 }, y = { 'y', NULL, 0, 0 }, z = { 'z', NULL, 0, 0 };
    x.t = timer_new(CLOCK_VIRTUAL_NS, record_cb, &x);
    y.t = timer_new(CLOCK_VIRTUAL_NS, record_cb, &y);
    z.t = timer_new(CLOCK_VIRTUAL_NS, record_cb, &z);
    timer_mod(x.t, 50);
    timer_mod(y.t, 50);
    timer_mod(z.t, 50);
    timer_mod(x.t, 50);          /* re-mod moves x behind y and z */
    timer_del(z.t);
    ck_assert(!timer_pending(z.t));
    ck_assert_int_eq(timer_expire_time(z.t), -1);
    vclock_warp(50);
    ck_assert_int_eq(fired.n, 2);
    ck_assert_int_eq(fired.who[0], 'y');
    ck_assert_int_eq(fired.who[1], 'x');
    timer_free(x.t);
    timer_free(y.t);
    timer_free(z.t);
}
END_TEST

/* ---- stop/start ---- */

START_TEST(vclock_stop_freezes)
{
    ck_assert(vclock_running());
    int64_t t0 = clock_ns(CLOCK_VIRTUAL_NS);
    sleep_ms(5);
    ck_assert_int_gt(clock_ns(CLOCK_VIRTUAL_NS), t0);

    vclock_stop();
    ck_assert(!vclock_running());
    int64_t frozen = clock_ns(CLOCK_VIRTUAL_NS);
    Timer *t = timer_new(CLOCK_VIRTUAL_NS, record_cb, &(struct tctx){ 'v', NULL, 0, 0 });
    timer_mod(t, frozen + 1000);
    ck_assert_int_eq(timers_next_deadline_ns(), -1);    /* stopped: no deadline */
    sleep_ms(30);
    ck_assert_int_eq(clock_ns(CLOCK_VIRTUAL_NS), frozen);
    timers_run_expired();
    ck_assert_int_eq(fired.n, 0);

    vclock_start();
    int64_t resumed = clock_ns(CLOCK_VIRTUAL_NS);
    ck_assert_int_ge(resumed, frozen);
    ck_assert_int_lt(resumed - frozen, 10 * 1000000);   /* no 30 ms jump */
    ck_assert_int_ge(timers_next_deadline_ns(), 0);
    timer_free(t);
}
END_TEST

/* ---- timers that touch other timers from their callbacks ---- */

static Timer *victim, *self_freeing;
static int victim_ran, killer_ran;

static void victim_cb(void *opaque) { victim_ran++; }

static void killer_cb(void *opaque)
{
    killer_ran++;
    timer_free(victim);          /* due at the same time, must not run */
    victim = NULL;
    timer_free(self_freeing);    /* frees itself */
    self_freeing = NULL;
}

START_TEST(timer_callback_frees_timers)
{
    int64_t now = clock_ns(CLOCK_REALTIME_NS);
    self_freeing = timer_new(CLOCK_REALTIME_NS, killer_cb, NULL);
    victim = timer_new(CLOCK_REALTIME_NS, victim_cb, NULL);
    timer_mod(self_freeing, now - 10);
    timer_mod(victim, now - 5);
    ck_assert_int_eq(timers_next_deadline_ns(), 0);
    timers_run_expired();
    ck_assert_int_eq(killer_ran, 1);
    ck_assert_int_eq(victim_ran, 0);
    ck_assert_int_eq(timers_next_deadline_ns(), -1);
}
END_TEST

/* ---- main loop ---- */

static pthread_t main_thread;
static bool bh_saw_lock, bh_on_main;

static void quit_bh(void *opaque)
{
    bh_saw_lock = bql_locked();
    bh_on_main = pthread_equal(pthread_self(), main_thread);
    main_loop_quit(*(int *)opaque);
}

static void *schedule_later(void *bh)
{
    sleep_ms(20);
    ck_assert(!bql_locked());
    bh_schedule(bh);
    return NULL;
}

START_TEST(loop_bh_from_thread)
{
    main_thread = pthread_self();
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert(bql_locked());
    int status = 7;
    BH *bh = bh_new(quit_bh, &status);
    pthread_t th;
    pthread_create(&th, NULL, schedule_later, bh);
    ck_assert_int_eq(main_loop_run(), 7);
    pthread_join(th, NULL);
    ck_assert(bh_saw_lock);
    ck_assert(bh_on_main);
    ck_assert(main_loop_quitting());
    bh_delete(bh);
}
END_TEST

static BH *deleted_bh, *deleting_bh;
static int deleted_bh_ran;
static void deleted_cb(void *opaque) { deleted_bh_ran++; }
static void deleting_cb(void *opaque)
{
    bh_delete(deleted_bh);       /* scheduled too, deleted before it runs */
    bh_delete(deleting_bh);      /* and itself */
    main_loop_quit(0);
}

START_TEST(loop_bh_deletes_bhs)
{
    ck_assert_int_eq(main_loop_init(), 0);
    deleted_bh = bh_new(deleted_cb, NULL);
    deleting_bh = bh_new(deleting_cb, NULL);   /* newest runs first */
    bh_schedule(deleted_bh);
    bh_schedule(deleting_bh);
    ck_assert_int_eq(main_loop_run(), 0);
    ck_assert_int_eq(deleted_bh_ran, 0);
}
END_TEST

/* ---- fd handlers ---- */

static int pipe_a[2], pipe_b[2];
static int reads_a, reads_b;

static void write_byte_cb(void *opaque)
{
    ck_assert(bql_locked());
    ck_assert_int_eq(write(*(int *)opaque, "x", 1), 1);
}

static void read_and_quit(void *opaque)
{
    char c;
    ck_assert_int_eq(read(pipe_a[0], &c, 1), 1);
    reads_a++;
    main_loop_set_fd_handler(pipe_a[0], NULL, NULL, NULL);
    main_loop_quit(3);
}

START_TEST(loop_fd_handler_and_timer)
{
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(pipe(pipe_a), 0);
    main_loop_set_fd_handler(pipe_a[0], read_and_quit, NULL, NULL);
    Timer *t = timer_new(CLOCK_REALTIME_NS, write_byte_cb, &pipe_a[1]);
    int64_t start = clock_ns(CLOCK_REALTIME_NS);
    timer_mod(t, start + 20 * 1000000);
    ck_assert_int_eq(main_loop_run(), 3);
    ck_assert_int_ge(clock_ns(CLOCK_REALTIME_NS) - start, 20 * 1000000);
    ck_assert_int_eq(reads_a, 1);
    timer_free(t);
}
END_TEST

/* Each handler removes the other: only one may run although both fds
 * were ready in the same epoll_wait. */
static void read_a_remove_b(void *opaque)
{
    reads_a++;
    main_loop_set_fd_handler(pipe_b[0], NULL, NULL, NULL);
    main_loop_set_fd_handler(pipe_a[0], NULL, NULL, NULL);
}

static void read_b_remove_a(void *opaque)
{
    reads_b++;
    main_loop_set_fd_handler(pipe_a[0], NULL, NULL, NULL);
    main_loop_set_fd_handler(pipe_b[0], NULL, NULL, NULL);
}

static void quit_timer_cb(void *opaque) { main_loop_quit(0); }

START_TEST(loop_handler_removes_other)
{
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(pipe(pipe_a), 0);
    ck_assert_int_eq(pipe(pipe_b), 0);
    ck_assert_int_eq(write(pipe_a[1], "x", 1), 1);
    ck_assert_int_eq(write(pipe_b[1], "x", 1), 1);
    main_loop_set_fd_handler(pipe_a[0], read_a_remove_b, NULL, NULL);
    main_loop_set_fd_handler(pipe_b[0], read_b_remove_a, NULL, NULL);
    Timer *t = timer_new(CLOCK_REALTIME_NS, quit_timer_cb, NULL);
    timer_mod(t, clock_ns(CLOCK_REALTIME_NS) + 30 * 1000000);
    main_loop_run();
    ck_assert_int_eq(reads_a + reads_b, 1);
    timer_free(t);
}
END_TEST

static int writes_seen;
static void on_writable(void *opaque)
{
    writes_seen++;
    /* Drop the write interest and watch the read end instead. */
    main_loop_set_fd_handler(pipe_a[1], NULL, NULL, NULL);
    main_loop_set_fd_handler(pipe_a[0], read_and_quit, NULL, NULL);
    ck_assert_int_eq(write(pipe_a[1], "y", 1), 1);
}

START_TEST(loop_write_handler_then_modify)
{
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(pipe(pipe_a), 0);
    main_loop_set_fd_handler(pipe_a[1], NULL, on_writable, NULL);
    main_loop_set_fd_handler(pipe_a[0], NULL, NULL, NULL);      /* no-op */
    ck_assert_int_eq(main_loop_run(), 3);
    ck_assert_int_eq(writes_seen, 1);
}
END_TEST

/*
 * A vCPU thread (lock held, as for a device register write) arms a timer
 * earlier than the one the loop is sleeping towards: the loop must wake
 * and fire it on time, not after the old 3 s timeout.
 */
static Timer *early_timer;
static const char *which_fired;

static void early_cb(void *opaque) { which_fired = "early"; main_loop_quit(0); }
static void late_cb(void *opaque) { which_fired = "late"; main_loop_quit(0); }

static void *arm_early_from_thread(void *arg)
{
    sleep_ms(50);                        /* the loop is in epoll_wait by now */
    bql_lock();
    timer_mod(early_timer, clock_ns(CLOCK_REALTIME_NS) + 10 * 1000000);
    bql_unlock();
    return NULL;
}

START_TEST(loop_timer_armed_from_thread_wakes)
{
    ck_assert_int_eq(main_loop_init(), 0);
    int64_t start = clock_ns(CLOCK_REALTIME_NS);
    Timer *late = timer_new(CLOCK_REALTIME_NS, late_cb, NULL);
    timer_mod(late, start + 3000 * 1000000LL);
    early_timer = timer_new(CLOCK_REALTIME_NS, early_cb, NULL);
    pthread_t th;
    pthread_create(&th, NULL, arm_early_from_thread, NULL);
    main_loop_run();
    pthread_join(th, NULL);
    ck_assert_str_eq(which_fired, "early");
    ck_assert_int_lt(clock_ns(CLOCK_REALTIME_NS) - start, 1000 * 1000000LL);
    timer_free(late);
    timer_free(early_timer);
}
END_TEST

/* ---- quit and signals ---- */

static void *quit_later(void *arg)
{
    sleep_ms(20);
    main_loop_quit(42);
    return NULL;
}

START_TEST(loop_quit_from_thread)
{
    ck_assert_int_eq(main_loop_init(), 0);
    pthread_t th;
    pthread_create(&th, NULL, quit_later, NULL);
    ck_assert_int_eq(main_loop_run(), 42);       /* blocked with no timers */
    pthread_join(th, NULL);
}
END_TEST

static int got_signo;
static void on_signal(int signo, void *opaque)
{
    ck_assert(bql_locked());
    got_signo = signo;
    main_loop_quit(*(int *)opaque);
}

static void raise_bh(void *opaque) { raise(SIGUSR2); }

START_TEST(loop_signal_delivery)
{
    int status = 9;
    /* Before main_loop_init, as main() would do. */
    ck_assert_int_eq(main_loop_add_signal(SIGUSR2, on_signal, &status), 0);
    ck_assert_int_eq(main_loop_init(), 0);
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    ck_assert(sigismember(&cur, SIGUSR2));
    BH *bh = bh_new(raise_bh, NULL);
    bh_schedule(bh);
    ck_assert_int_eq(main_loop_run(), 9);
    ck_assert_int_eq(got_signo, SIGUSR2);
    ck_assert_int_lt(main_loop_add_signal(0, on_signal, NULL), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timer");
    UNIT_TEST(s, warp_fires_in_order);
    UNIT_TEST(s, warp_equal_deadlines_fifo);
    UNIT_TEST(s, vclock_stop_freezes);
    UNIT_TEST(s, timer_callback_frees_timers);
    UNIT_TEST(s, loop_bh_from_thread);
    UNIT_TEST(s, loop_bh_deletes_bhs);
    UNIT_TEST(s, loop_fd_handler_and_timer);
    UNIT_TEST(s, loop_handler_removes_other);
    UNIT_TEST(s, loop_write_handler_then_modify);
    UNIT_TEST(s, loop_timer_armed_from_thread_wakes);
    UNIT_TEST(s, loop_quit_from_thread);
    UNIT_TEST(s, loop_signal_delivery);
    return unit_run(s);
}
