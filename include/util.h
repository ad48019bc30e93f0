/*
 * util: error reporting and logging, size/option parsing, the epoll main
 * loop (fd handlers, bottom halves, timers on a virtual clock) and the big
 * machine lock.  Nothing here knows about devices or KVM.
 */
#ifndef VMM_UTIL_H
#define VMM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* ---- errors and logging (util/error.c) ---- */
/* "vmm: <msg>\n" on stderr.  One line per user error. */
void error_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Guest misbehaviour: logged, at most a few per second per call site. */
#define guest_error(...)                                                     \
    do {                                                                     \
        static struct ratelimit rl_;                                         \
        if (ratelimit_ok(&rl_))                                              \
            log_msg(LOG_GUEST_ERROR, __VA_ARGS__);                           \
    } while (0)
struct ratelimit { uint64_t window_start_ns; unsigned count; };
bool ratelimit_ok(struct ratelimit *rl);

enum log_mask {
    LOG_GUEST_ERROR = 1 << 0,  /* -d guest_errors */
    LOG_UNIMP       = 1 << 1,  /* -d unimp */
    LOG_IOPORT      = 1 << 2,  /* -d ioport: unassigned port accesses */
    LOG_KVM         = 1 << 3,  /* -d kvm: exits and state */
};
extern unsigned log_mask_enabled;
/* -D FILE; NULL -> stderr.  Returns -1 with errno on failure. */
int log_set_file(const char *path);
/* "guest_errors,unimp" -> mask; returns -1 for an unknown name. */
int log_parse_mask(const char *list, unsigned *mask);
void log_msg(unsigned mask, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- parsing (util/cutils.c) ---- */
/*
 * Parse a size like QEMU: a number with an optional suffix k/K, M, G, T, P,
 * E (binary multiples) or b/B (bytes).  default_suffix applies when none is
 * given ('M' for -m, 'B' for byte counts).  Returns 0, or -1 on a malformed
 * or overflowing value.
 */
int parse_size(const char *str, char default_suffix, uint64_t *out);
/* Strict unsigned integer (decimal, 0x hex, 0 octal); -1 if malformed. */
int parse_uint(const char *str, uint64_t *out);
/* "on/off/yes/no/true/false" */
int parse_bool(const char *str, bool *out);

/*
 * QemuOpts-style "implied,key=val,key=val" lists.  A value may contain ','
 * written as ",,".  implied_key names the key of a leading bare value
 * (e.g. "driver" for -device, "mem" for -m); NULL means a bare value is an
 * error unless it is a boolean flag "key" (= "key=on").
 */
typedef struct Opts {
    unsigned n;
    struct { char *key, *val; bool used; } *kv;
} Opts;
Opts *opts_parse(const char *str, const char *implied_key, char *errbuf, size_t errlen);
void opts_free(Opts *o);
const char *opts_get(Opts *o, const char *key);   /* marks used */
/* First key not fetched with opts_get, or NULL: "unknown parameter". */
const char *opts_first_unused(const Opts *o);

/* ---- the big machine lock (util/main-loop.c) ---- */
void bql_lock(void);
void bql_unlock(void);
bool bql_locked(void);

/* ---- main loop (util/main-loop.c) ---- */
typedef void IOHandler(void *opaque);
int main_loop_init(void);
/* Register/replace/remove (both NULL) the handlers of fd.  Main thread, lock held. */
void main_loop_set_fd_handler(int fd, IOHandler *on_read, IOHandler *on_write, void *opaque);
/* Runs until main_loop_quit(); returns the exit status passed there. */
int main_loop_run(void);
/* Thread-safe. */
void main_loop_quit(int status);
bool main_loop_quitting(void);
/* Thread-safe: wakes the main loop (e.g. after a vCPU posted a request). */
void main_loop_wakeup(void);
/* util/timer.c: the earliest deadline moved earlier; wakes the loop when
 * called from another thread (lock held), so it recomputes its timeout. */
void main_loop_timers_changed(void);
/*
 * Deliver signo through a signalfd on the main loop: cb runs on the main
 * thread with the lock held.  Blocks signo in the calling thread, so call
 * it from main() before any other thread starts (threads inherit the
 * mask).  May be called before main_loop_init().  Returns -1 with errno.
 */
int main_loop_add_signal(int signo, void (*cb)(int signo, void *opaque), void *opaque);

typedef struct BH BH;
BH *bh_new(void (*cb)(void *opaque), void *opaque);
/* Thread-safe; cb runs once on the main thread with the lock held. */
void bh_schedule(BH *bh);
void bh_delete(BH *bh);

/* ---- clocks and timers (util/timer.c) ---- */
typedef enum {
    CLOCK_REALTIME_NS,  /* host monotonic, always runs */
    CLOCK_VIRTUAL_NS,   /* guest time: stops while the VM is paused; under
                           qtest it only moves with clock_step/clock_set */
    CLOCK_HOST_NS,      /* wall-clock time (CLOCK_REALTIME), for the RTC base */
} ClockType;
int64_t clock_ns(ClockType c);
/* Virtual clock control (called by the run-state code and qtest). */
void vclock_stop(void);
void vclock_start(void);
bool vclock_running(void);
void vclock_set_manual(bool manual);   /* qtest: clock moves only by vclock_warp */
/* Advance the manual virtual clock to ns, firing timers on the way in order. */
void vclock_warp(int64_t target_ns);
/* Migration: the destination continues the source's virtual clock.  Set
 * while the clock is stopped; timers keep their absolute deadlines. */
void vclock_set_ns(int64_t ns);
/* ns until the next virtual-clock timer (-1 if none): qtest's bare clock_step. */
int64_t vclock_next_deadline_ns(void);

typedef struct Timer Timer;
Timer *timer_new(ClockType c, void (*cb)(void *opaque), void *opaque);
void timer_mod(Timer *t, int64_t expire_ns);   /* absolute, in its clock */
void timer_del(Timer *t);
bool timer_pending(const Timer *t);
int64_t timer_expire_time(const Timer *t);      /* -1 if not pending */
ClockType timer_clock(const Timer *t);          /* the clock it was made with */
void timer_free(Timer *t);
/* Main loop helpers: ns until the next deadline (-1 none); run expired. */
int64_t timers_next_deadline_ns(void);
void timers_run_expired(void);

/* ---- base64, RFC 4648 (util/base64.c) ---- */
/* Characters base64_encode writes for len bytes, without the NUL. */
size_t base64_encoded_len(size_t len);
/* out: room for base64_encoded_len(len) + 1; NUL-terminated. */
void base64_encode(const uint8_t *in, size_t len, char *out);
/*
 * Decode up to the end or the first '='.  Stores at most max bytes but
 * returns how many the text holds (so a caller can tell a short or long
 * input), or -1 on a character outside the alphabet.
 */
long base64_decode(const char *in, uint8_t *out, size_t max);

/* ---- scatter/gather lists (util/iov.c) ---- */
size_t iov_size(const struct iovec *iov, unsigned cnt);
/* Copy between buf and bytes [off, off + len) of iov; returns the bytes
 * copied (fewer when iov ends first). */
size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf,
                    size_t len);
/* dst = bytes [skip, skip + len) of src without copying; the entries used,
 * or -1 when more than max would be needed. */
int iov_view(const struct iovec *src, unsigned cnt, size_t skip, size_t len, struct iovec *dst,
             unsigned max);
/* Copy len bytes from src (at soff) into dst (at doff); returns bytes copied. */
size_t iov_to_iov(const struct iovec *dst, unsigned dcnt, size_t doff, const struct iovec *src,
                  unsigned scnt, size_t soff, size_t len);

/* ---- small helpers (util/cutils.c) ---- */
void *xmalloc(size_t n);
void *xzalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Read a whole file (for kernels, firmware); NULL + errno on failure. */
uint8_t *read_file(const char *path, size_t *len);
/* Write all / read all, retrying on EINTR and short transfers. */
ssize_t write_full(int fd, const void *buf, size_t len);

#endif
