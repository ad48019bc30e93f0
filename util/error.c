/*
 * Error reporting and debug logging.
 *
 * Every message is formatted into one buffer and written with a single
 * write() so lines from vCPU threads and the main thread never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

unsigned log_mask_enabled;
static int log_fd = -1;          /* -D file; -1 means stderr */

#define RATELIMIT_WINDOW_NS 1000000000LL   /* one second */
#define RATELIMIT_BURST     10

/* Format prefix + message into buf, always ending in exactly one newline. */
static size_t format_line(char *buf, size_t size, const char *prefix,
                          const char *fmt, va_list ap)
{
    int n = snprintf(buf, size, "%s", prefix);
    size_t len = n > 0 ? (size_t)n : 0;
    if (len >= size)
        len = size - 1;
    n = vsnprintf(buf + len, size - len, fmt, ap);
    if (n > 0)
        len += (size_t)n;
    if (len > size - 2)
        len = size - 2;                 /* truncated: keep room for '\n' */
    if (len == 0 || buf[len - 1] != '\n')
        buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

static void write_line(int fd, const char *prefix, const char *fmt, va_list ap)
{
    char buf[1024];
    size_t len = format_line(buf, sizeof(buf), prefix, fmt, ap);
    int saved = errno;   /* callers often print strerror(errno) after us */
    (void)write_full(fd, buf, len);
    errno = saved;
}

void error_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(STDERR_FILENO, "vmm: ", fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(STDERR_FILENO, "vmm: warning: ", fmt, ap);
    va_end(ap);
}

int log_set_file(const char *path)
{
    int fd = -1;
    if (path) {
        /* Like QEMU's -D: the log starts empty on every run. */
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
    }
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    return 0;
}

static const struct { const char *name; unsigned bit; } log_names[] = {
    { "guest_errors", LOG_GUEST_ERROR },
    { "unimp", LOG_UNIMP },
    { "ioport", LOG_IOPORT },
    { "kvm", LOG_KVM },
};

static int log_name_bit(const char *name, size_t len, unsigned *bit)
{
    for (size_t i = 0; i < ARRAY_SIZE(log_names); i++) {
        if (strlen(log_names[i].name) == len &&
            memcmp(log_names[i].name, name, len) == 0) {
            *bit = log_names[i].bit;
            return 0;
        }
    }
    return -1;
}

int log_parse_mask(const char *list, unsigned *mask)
{
    unsigned m = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        unsigned bit;
        if (len > 0) {
            if (log_name_bit(p, len, &bit) < 0)
                return -1;
            m |= bit;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    *mask = m;
    return 0;
}

void log_msg(unsigned mask, const char *fmt, ...)
{
    if (!(log_mask_enabled & mask))
        return;
    va_list ap;
    va_start(ap, fmt);
    write_line(log_fd >= 0 ? log_fd : STDERR_FILENO, "", fmt, ap);
    va_end(ap);
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * At most RATELIMIT_BURST messages per one-second window per call site.
 * Races between threads only make the count slightly inexact, which is fine
 * for a log limiter.
 */
bool ratelimit_ok(struct ratelimit *rl)
{
    uint64_t now = monotonic_ns();
    if (rl->window_start_ns == 0 || now - rl->window_start_ns >= RATELIMIT_WINDOW_NS) {
        rl->window_start_ns = now ? now : 1;
        rl->count = 0;
    }
    if (rl->count >= RATELIMIT_BURST)
        return false;
    rl->count++;
    return true;
}
