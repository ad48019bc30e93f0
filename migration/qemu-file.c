/*
 * The migration byte stream: big-endian values over a buffered fd (socket,
 * pipe, file) or over memory (one section's data, tests).
 *
 * Writers fill a 64 KiB buffer and push it with write(2); readers refill
 * theirs with read(2).  A running CRC-32 covers every byte put or got: it
 * is folded over the buffer lazily (on flush, refill or when asked), so a
 * small put costs a memcpy, not a crc32() call.  Errors are sticky: after
 * the first, puts are dropped and gets return zeros.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "migration.h"
#include "util.h"
#include "vmstate.h"

#define STREAM_BUF_SIZE (64 * 1024)
#define RATE_WINDOW_NS 100000000LL   /* QEMU also meters bandwidth in 100 ms slices */

struct MigStream {
    int fd;                 /* -1: memory stream */
    bool writing;
    uint8_t *buf;
    size_t cap;             /* allocated */
    size_t len;             /* valid bytes (reader) / bytes put (writer) */
    size_t pos;             /* reader: next byte to get */
    size_t crc_done;        /* bytes of buf already folded into crc */
    uint32_t crc;
    uint64_t flushed;       /* bytes pushed out (writer) or consumed before buf (reader) */
    char *error;
    bool cancelled;         /* atomic */
    uint64_t rate_limit;    /* bytes/s, 0 = unlimited */
    int64_t window_start_ns;
    uint64_t window_bytes;
};

static MigStream *stream_alloc(int fd, bool writing, size_t cap)
{
    MigStream *s = xzalloc(sizeof(*s));
    s->fd = fd;
    s->writing = writing;
    s->cap = cap;
    s->buf = xmalloc(cap ? cap : 1);
    s->crc = crc32(0L, Z_NULL, 0);
    return s;
}

MigStream *mig_stream_new_fd(int fd, bool writing)
{
    return stream_alloc(fd, writing, STREAM_BUF_SIZE);
}

MigStream *mig_stream_new_mem(const void *buf, size_t len)
{
    MigStream *s = stream_alloc(-1, false, len);
    if (len)
        memcpy(s->buf, buf, len);
    s->len = len;
    return s;
}

MigStream *mig_stream_new_mem_writer(void)
{
    return stream_alloc(-1, true, 4096);
}

const uint8_t *mig_stream_mem_data(const MigStream *s, size_t *len)
{
    *len = s->len;
    return s->buf;
}

int mig_stream_fd(const MigStream *s)
{
    return s->fd;
}

int mig_stream_set_error(MigStream *s, const char *fmt, ...)
{
    if (s->error)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->error, fmt, ap) < 0)
        s->error = xstrdup("stream error");
    va_end(ap);
    return -1;
}

const char *mig_stream_error(const MigStream *s)
{
    return s->error;
}

bool mig_stream_cancelled(const MigStream *s)
{
    return __atomic_load_n(&s->cancelled, __ATOMIC_ACQUIRE);
}

void mig_stream_cancel(MigStream *s)
{
    __atomic_store_n(&s->cancelled, true, __ATOMIC_RELEASE);
    /* Unblocks a read/write in progress on a socket; fails on pipes and
     * files, which then notice the flag at their next buffer. */
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR);
}

static void fold_crc(MigStream *s, size_t upto)
{
    if (upto > s->crc_done) {
        s->crc = crc32(s->crc, s->buf + s->crc_done, (uInt)(upto - s->crc_done));
        s->crc_done = upto;
    }
}

uint32_t mig_stream_crc(MigStream *s)
{
    fold_crc(s, s->writing ? s->len : s->pos);
    return s->crc;
}

uint64_t mig_stream_bytes(const MigStream *s)
{
    return s->flushed + (s->writing ? s->len : s->pos);
}

size_t mig_stream_pending(const MigStream *s)
{
    return s->writing ? 0 : s->len - s->pos;
}

void mig_stream_set_rate_limit(MigStream *s, uint64_t bytes_per_sec)
{
    /* May come from the main thread while the migration thread writes. */
    __atomic_store_n(&s->rate_limit, bytes_per_sec, __ATOMIC_RELAXED);
}

/* ---- writing ---- */

/* Sleep out the rest of the window once its share of the budget is spent. */
static void rate_limit_account(MigStream *s, size_t n)
{
    uint64_t limit = __atomic_load_n(&s->rate_limit, __ATOMIC_RELAXED);
    if (!limit)
        return;
    int64_t now = clock_ns(CLOCK_REALTIME_NS);
    if (now - s->window_start_ns >= RATE_WINDOW_NS) {
        s->window_start_ns = now;
        s->window_bytes = 0;
    }
    s->window_bytes += n;
    uint64_t budget = limit / 10 ? limit / 10 : 1;
    while (s->window_bytes >= budget && !mig_stream_cancelled(s)) {
        int64_t left = s->window_start_ns + RATE_WINDOW_NS - clock_ns(CLOCK_REALTIME_NS);
        if (left <= 0)
            break;
        /* Short naps so that a cancel is noticed quickly. */
        struct timespec ts = { 0, MIN(left, 10000000LL) };
        nanosleep(&ts, NULL);
    }
    if (s->window_bytes >= budget) {
        s->window_start_ns = clock_ns(CLOCK_REALTIME_NS);
        s->window_bytes -= budget;
    }
}

int mig_stream_flush(MigStream *s)
{
    if (!s->writing || s->fd < 0)
        return s->error ? -1 : 0;
    if (s->error) {
        s->len = s->crc_done = 0;
        return -1;
    }
    fold_crc(s, s->len);
    size_t done = 0;
    while (done < s->len) {
        if (mig_stream_cancelled(s))
            return mig_stream_set_error(s, "cancelled");
        ssize_t n = write(s->fd, s->buf + done, s->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (mig_stream_cancelled(s))
                return mig_stream_set_error(s, "cancelled");
            return mig_stream_set_error(s, "write: %s", n < 0 ? strerror(errno) : "closed");
        }
        done += (size_t)n;
    }
    s->flushed += s->len;
    rate_limit_account(s, s->len);
    s->len = s->crc_done = 0;
    return 0;
}

static void mem_grow(MigStream *s, size_t need)
{
    if (s->len + need <= s->cap)
        return;
    size_t cap = s->cap * 2;
    while (cap < s->len + need)
        cap *= 2;
    s->buf = xrealloc(s->buf, cap);
    s->cap = cap;
}

void mig_put_buf(MigStream *s, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (s->error || !s->writing)
        return;
    if (s->fd < 0) {
        mem_grow(s, len);
        memcpy(s->buf + s->len, p, len);
        s->len += len;
        return;
    }
    while (len && !s->error) {
        size_t n = MIN(len, s->cap - s->len);
        memcpy(s->buf + s->len, p, n);
        s->len += n;
        p += n;
        len -= n;
        if (s->len == s->cap)
            mig_stream_flush(s);
    }
}

void mig_put_u8(MigStream *s, uint8_t v)
{
    mig_put_buf(s, &v, 1);
}

void mig_put_be16(MigStream *s, uint16_t v)
{
    uint8_t b[2] = { v >> 8, v };
    mig_put_buf(s, b, 2);
}

void mig_put_be32(MigStream *s, uint32_t v)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
    mig_put_buf(s, b, 4);
}

void mig_put_be64(MigStream *s, uint64_t v)
{
    mig_put_be32(s, v >> 32);
    mig_put_be32(s, (uint32_t)v);
}

/* ---- reading ---- */

/* Refill an fd reader's buffer; false at EOF or on an error (set). */
static bool refill(MigStream *s)
{
    if (s->fd < 0)
        return false;
    fold_crc(s, s->pos);
    s->flushed += s->pos;
    memmove(s->buf, s->buf + s->pos, s->len - s->pos);
    s->len -= s->pos;
    s->pos = s->crc_done = 0;
    for (;;) {
        if (mig_stream_cancelled(s)) {
            mig_stream_set_error(s, "cancelled");
            return false;
        }
        ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            mig_stream_set_error(s, "read: %s", strerror(errno));
            return false;
        }
        s->len += (size_t)n;
        return n > 0;
    }
}

int mig_get_buf(MigStream *s, void *buf, size_t len)
{
    uint8_t *p = buf;
    if (s->writing)
        return mig_stream_set_error(s, "read from a write stream");
    while (len) {
        if (s->error)
            break;
        if (s->pos == s->len && !refill(s)) {
            mig_stream_set_error(s, "unexpected end of stream");
            break;
        }
        size_t n = MIN(len, s->len - s->pos);
        memcpy(p, s->buf + s->pos, n);
        s->pos += n;
        p += n;
        len -= n;
    }
    if (len) {
        memset(p, 0, len);
        return -1;
    }
    return 0;
}

uint8_t mig_get_u8(MigStream *s)
{
    uint8_t v;
    mig_get_buf(s, &v, 1);
    return v;
}

uint16_t mig_get_be16(MigStream *s)
{
    uint8_t b[2];
    mig_get_buf(s, b, 2);
    return (uint16_t)(b[0] << 8 | b[1]);
}

uint32_t mig_get_be32(MigStream *s)
{
    uint8_t b[4];
    mig_get_buf(s, b, 4);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

uint64_t mig_get_be64(MigStream *s)
{
    uint64_t hi = mig_get_be32(s);
    return hi << 32 | mig_get_be32(s);
}

int mig_stream_close(MigStream *s)
{
    if (!s)
        return 0;
    if (s->writing)
        mig_stream_flush(s);
    int ret = s->error ? -1 : 0;
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    free(s->error);
    free(s);
    return ret;
}
