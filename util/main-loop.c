/*
 * The main loop and the big machine lock.
 *
 * One epoll instance watches every fd handler, an eventfd used to wake the
 * loop from other threads (bottom halves, quit, main_loop_wakeup) and a
 * signalfd for signals routed with main_loop_add_signal().  The main thread
 * holds the big lock except while it sleeps in epoll_wait.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* ---- the big lock ---- */

static pthread_mutex_t bql = PTHREAD_MUTEX_INITIALIZER;
static __thread bool bql_held;

void bql_lock(void)
{
    pthread_mutex_lock(&bql);
    bql_held = true;
}

void bql_unlock(void)
{
    bql_held = false;
    pthread_mutex_unlock(&bql);
}

bool bql_locked(void)
{
    return bql_held;
}

/* ---- fd handlers: a table indexed by fd, so dispatch is O(1) ---- */

typedef struct FdHandler {
    IOHandler *on_read, *on_write;
    void *opaque;
    bool registered;            /* fd is in the epoll set */
    uint32_t gen;               /* bumped on every (re)registration */
} FdHandler;

static FdHandler *fd_table;
static int fd_table_size;
static int epoll_fd = -1;
static int wake_fd = -1;
static atomic_bool wake_pending;
static __thread bool in_loop_thread;   /* this thread runs main_loop_run */
static atomic_bool quit_requested;
static atomic_int quit_status;

static void fd_table_grow(int fd)
{
    if (fd < fd_table_size)
        return;
    int n = fd_table_size ? fd_table_size : 64;
    while (n <= fd)
        n *= 2;
    fd_table = xrealloc(fd_table, (size_t)n * sizeof(*fd_table));
    memset(fd_table + fd_table_size, 0, (size_t)(n - fd_table_size) * sizeof(*fd_table));
    fd_table_size = n;
}

/* The event carries fd and generation so a stale event is recognised. */
static uint64_t epoll_tag(int fd, uint32_t gen)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

static void fd_unregister(int fd)
{
    FdHandler *h = &fd_table[fd];
    if (h->registered)
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);   /* may be closed already */
    h->registered = false;
    h->on_read = h->on_write = NULL;
    h->opaque = NULL;
    h->gen++;
}

/*
 * ADD or MOD.  The table can disagree with the kernel when an fd was closed
 * without being removed (closing drops it from the epoll set) and the
 * number got reused, so fall back to the other operation.
 */
static int fd_epoll_update(int fd, bool known, struct epoll_event *ev)
{
    int op = known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epoll_fd, op, fd, ev) == 0)
        return 0;
    if (known && errno == ENOENT)
        return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, ev);
    if (!known && errno == EEXIST)
        return epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, ev);
    return -1;
}

static uint32_t fd_events(IOHandler *on_read, IOHandler *on_write)
{
    return (on_read ? EPOLLIN : 0) | (on_write ? EPOLLOUT : 0);
}

void main_loop_set_fd_handler(int fd, IOHandler *on_read, IOHandler *on_write, void *opaque)
{
    if (fd < 0 || epoll_fd < 0)
        return;
    fd_table_grow(fd);
    if (!on_read && !on_write) {
        fd_unregister(fd);
        return;
    }
    FdHandler *h = &fd_table[fd];
    uint32_t events = fd_events(on_read, on_write);
    if (h->registered && fd_events(h->on_read, h->on_write) == events) {
        /* Same interest (e.g. a chardev re-arming its reader): no syscall. */
        h->on_read = on_read;
        h->on_write = on_write;
        h->opaque = opaque;
        return;
    }
    h->gen++;
    struct epoll_event ev = { .events = events, .data.u64 = epoll_tag(fd, h->gen) };
    if (fd_epoll_update(fd, h->registered, &ev) < 0) {
        error_report("cannot watch fd %d: %s", fd, strerror(errno));
        fd_unregister(fd);
        return;
    }
    h->registered = true;
    h->on_read = on_read;
    h->on_write = on_write;
    h->opaque = opaque;
}

/* The handler for this event, or NULL if it was removed or replaced since. */
static FdHandler *live_handler(uint64_t tag)
{
    int fd = (int)(uint32_t)tag;
    if (fd < 0 || fd >= fd_table_size)
        return NULL;
    FdHandler *h = &fd_table[fd];
    if (!h->registered || h->gen != (uint32_t)(tag >> 32))
        return NULL;
    return h;
}

/*
 * Errors and hangups go to both handlers: a reader sees EOF or the error
 * on its next read, a writer its failure.  Each handler may remove or
 * replace itself or others, so the table is re-checked before the second.
 */
static void dispatch_event(const struct epoll_event *ev)
{
    uint32_t bad = EPOLLERR | EPOLLHUP;
    FdHandler *h = live_handler(ev->data.u64);
    if (h && h->on_read && (ev->events & (EPOLLIN | EPOLLRDHUP | bad)))
        h->on_read(h->opaque);
    h = live_handler(ev->data.u64);
    if (h && h->on_write && (ev->events & (EPOLLOUT | bad)))
        h->on_write(h->opaque);
}

/* ---- wakeups ---- */

/*
 * wake_pending avoids one eventfd write per wakeup.  The loop reads the
 * eventfd before clearing the flag and checks its work (BHs, quit) after,
 * so a wakeup is never lost: either it happened before the check, or its
 * writer saw the flag clear and wrote the eventfd.
 */
void main_loop_wakeup(void)
{
    if (wake_fd < 0 || atomic_exchange(&wake_pending, true))
        return;
    uint64_t one = 1;
    ssize_t r = write(wake_fd, &one, sizeof(one));
    (void)r;   /* EAGAIN: the counter is already non-zero, still readable */
}

static void wake_read(void *opaque)
{
    uint64_t v;
    ssize_t r = read(wake_fd, &v, sizeof(v));
    (void)r;
    atomic_store(&wake_pending, false);
}

/*
 * The loop computed its epoll timeout from the timer lists before it let go
 * of the lock; a vCPU thread arming an earlier timer (a device register
 * write) must cut that sleep short.  The loop thread itself recomputes the
 * timeout before it sleeps again, so it needs no wakeup.
 */
void main_loop_timers_changed(void)
{
    if (!in_loop_thread)
        main_loop_wakeup();
}

void main_loop_quit(int status)
{
    atomic_store(&quit_status, status);
    atomic_store(&quit_requested, true);
    main_loop_wakeup();
}

bool main_loop_quitting(void)
{
    return atomic_load(&quit_requested);
}

/* ---- bottom halves ---- */

struct BH {
    void (*cb)(void *opaque);
    void *opaque;
    atomic_bool scheduled;
    bool deleted;
    BH *next;
};

static BH *bh_list;            /* protected by the big lock */
static bool bh_running;

BH *bh_new(void (*cb)(void *opaque), void *opaque)
{
    BH *bh = xzalloc(sizeof(*bh));
    bh->cb = cb;
    bh->opaque = opaque;
    atomic_init(&bh->scheduled, false);
    bh->next = bh_list;
    bh_list = bh;
    return bh;
}

void bh_schedule(BH *bh)
{
    if (!atomic_exchange(&bh->scheduled, true))
        main_loop_wakeup();
}

static void bh_unlink_deleted(void)
{
    BH **pp = &bh_list;
    while (*pp) {
        BH *bh = *pp;
        if (bh->deleted) {
            *pp = bh->next;
            free(bh);
        } else {
            pp = &bh->next;
        }
    }
}

/* Deletion during bh_run_all (from a callback) is deferred to its end. */
void bh_delete(BH *bh)
{
    if (!bh)
        return;
    bh->deleted = true;
    atomic_store(&bh->scheduled, false);
    if (!bh_running)
        bh_unlink_deleted();
}

/*
 * Run each scheduled BH once.  BHs created or scheduled by a callback run
 * on the next iteration (the wakeup makes epoll_wait return at once).
 */
static void bh_run_all(void)
{
    bh_running = true;
    for (BH *bh = bh_list; bh; bh = bh->next) {
        if (!bh->deleted && atomic_exchange(&bh->scheduled, false))
            bh->cb(bh->opaque);
    }
    bh_running = false;
    bh_unlink_deleted();
}

/* ---- signals through a signalfd ---- */

typedef struct SignalHandler {
    void (*cb)(int signo, void *opaque);
    void *opaque;
} SignalHandler;

static SignalHandler signal_handlers[_NSIG];
static sigset_t signal_set;
static int signal_fd = -1;

static void signal_read(void *opaque)
{
    struct signalfd_siginfo si;
    while (read(signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        unsigned signo = si.ssi_signo;
        if (signo < ARRAY_SIZE(signal_handlers) && signal_handlers[signo].cb)
            signal_handlers[signo].cb((int)signo, signal_handlers[signo].opaque);
    }
}

/*
 * Block signo (threads created later inherit the mask, so it is only ever
 * seen through the signalfd) and deliver it on the main loop.
 */
int main_loop_add_signal(int signo, void (*cb)(int signo, void *opaque), void *opaque)
{
    if (signo <= 0 || signo >= _NSIG || !cb) {
        errno = EINVAL;
        return -1;
    }
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    int err = pthread_sigmask(SIG_BLOCK, &one, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    if (signal_fd < 0)
        sigemptyset(&signal_set);
    sigaddset(&signal_set, signo);
    int fd = signalfd(signal_fd, &signal_set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    signal_fd = fd;
    signal_handlers[signo].cb = cb;
    signal_handlers[signo].opaque = opaque;
    if (epoll_fd >= 0)
        main_loop_set_fd_handler(signal_fd, signal_read, NULL, NULL);
    return 0;
}

/* ---- the loop ---- */

int main_loop_init(void)
{
    if (epoll_fd >= 0)
        return 0;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        return -1;
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) {
        close(epoll_fd);
        epoll_fd = -1;
        return -1;
    }
    bql_lock();
    main_loop_set_fd_handler(wake_fd, wake_read, NULL, NULL);
    if (signal_fd >= 0)
        main_loop_set_fd_handler(signal_fd, signal_read, NULL, NULL);
    return 0;
}

#define MAX_EVENTS 64

/* ns -> epoll_wait's ms, rounded up so a timer is never run early. */
static int timeout_ms(int64_t ns)
{
    if (ns < 0)
        return -1;
    int64_t ms = (ns + 999999) / 1000000;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

static int wait_events(struct epoll_event *evs, int64_t timeout_ns)
{
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
    /* epoll_pwait2 takes a timespec: timers fire on time, not on the
     * next millisecond.  Kernels before 5.11 lack it. */
    static bool no_pwait2;
    if (!no_pwait2) {
        struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
        int n = epoll_pwait2(epoll_fd, evs, MAX_EVENTS, timeout_ns < 0 ? NULL : &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = true;
    }
#endif
    return epoll_wait(epoll_fd, evs, MAX_EVENTS, timeout_ms(timeout_ns));
}

static void main_loop_iterate(void)
{
    struct epoll_event evs[MAX_EVENTS];
    bh_run_all();
    timers_run_expired();
    if (main_loop_quitting())
        return;
    int64_t timeout = timers_next_deadline_ns();
    bql_unlock();
    int n = wait_events(evs, timeout);
    bql_lock();
    for (int i = 0; i < n; i++)
        dispatch_event(&evs[i]);
}

int main_loop_run(void)
{
    if (epoll_fd < 0 && main_loop_init() < 0) {
        error_report("cannot start the main loop: %s", strerror(errno));
        return 1;
    }
    in_loop_thread = true;
    while (!main_loop_quitting())
        main_loop_iterate();
    in_loop_thread = false;
    return atomic_load(&quit_status);
}
