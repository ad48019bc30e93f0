/*
 * libqtest: qtest protocol client and per-target test harness (see
 * libqtest.h).  The protocol is QEMU's: one command per line, replies
 * "OK[ value]" or "FAIL reason", asynchronous "IRQ raise|lower N" lines.
 */
#include "libqtest.h"
#include "util.h"   /* base64 (util/base64.c is linked in) */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 20000
#define REPLY_TIMEOUT_MS 20000
#define MAX_IRQ 256
#define MAX_ARGS 128

struct QTestState {
    int fd;
    pid_t pid;
    int exit_status;          /* valid once reaped */
    bool reaped;
    char *sock_path;
    char *err_path;
    char *inbuf;              /* received, not yet consumed */
    size_t inlen, incap;
    bool irq_level[MAX_IRQ];
    bool last_ok;
    bool term_on_quit;
    char broken[256];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "libqtest: out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrdup_(const char *s)
{
    char *p = xalloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

char *qtest_tmp_path(const char *suffix)
{
    static unsigned counter;
    const char *dir = getenv("TMPDIR");
    char buf[256];

    if (!dir || !*dir || strlen(dir) > 60)   /* sun_path holds 108 bytes */
        dir = "/tmp";
    snprintf(buf, sizeof(buf), "%s/vmm-qtest-%d-%u%s", dir, (int)getpid(), counter++, suffix);
    return xstrdup_(buf);
}

char *qtest_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap * 2 + 4096;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* ---- starting and stopping the child ---- */

/* Split on blanks; '...' and "..." group.  Writes into a copy in *storage. */
static int split_args(const char *str, char **argv, int max, char **storage)
{
    char *out = xalloc(strlen(str) + 1);
    int n = 0;
    const char *p = str;

    *storage = out;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        if (n >= max)
            return -1;
        argv[n++] = out;
        char quote = 0;
        while (*p && (quote || (*p != ' ' && *p != '\t' && *p != '\n'))) {
            if (!quote && (*p == '\'' || *p == '"'))
                quote = *p;
            else if (quote && *p == quote)
                quote = 0;
            else
                *out++ = *p;
            p++;
        }
        *out++ = '\0';
    }
    return n;
}

static int listen_unix(const char *path, char *why, size_t whylen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        snprintf(why, whylen, "bind/listen %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void reap(QTestState *s, int wstatus)
{
    s->reaped = true;
    if (WIFEXITED(wstatus))
        s->exit_status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus))
        s->exit_status = 128 + WTERMSIG(wstatus);
    else
        s->exit_status = 255;
}

static bool try_reap(QTestState *s)
{
    int wstatus;

    if (s->reaped)
        return true;
    if (waitpid(s->pid, &wstatus, WNOHANG) == s->pid) {
        reap(s, wstatus);
        return true;
    }
    return false;
}

/* First line of the child's stderr, to explain a failed start. */
static void stderr_first_line(const QTestState *s, char *out, size_t outlen)
{
    char *text = qtest_slurp(s->err_path, NULL);
    out[0] = '\0';
    if (!text)
        return;
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    snprintf(out, outlen, "%s", text);
    free(text);
}

static pid_t spawn(const char *binary, const char *sock_path, const char *extra,
                   const char *err_path, char *why, size_t whylen)
{
    char *argv[MAX_ARGS + 16];
    char *storage, *spec;
    int n = 0;

    spec = xalloc(strlen(sock_path) + 8);
    sprintf(spec, "unix:%s", sock_path);
    argv[n++] = (char *)binary;
    if (!extra || !strstr(extra, "-accel")) {
        argv[n++] = "-accel";
        argv[n++] = "qtest";
    }
    argv[n++] = "-qtest";
    argv[n++] = spec;
    argv[n++] = "-display";
    argv[n++] = "none";
    int extra_n = split_args(extra ? extra : "", argv + n, MAX_ARGS, &storage);
    if (extra_n < 0) {
        snprintf(why, whylen, "too many arguments");
        free(storage);
        free(spec);
        return -1;
    }
    argv[n + extra_n] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int efd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nfd = open("/dev/null", O_RDWR);
        if (nfd >= 0) {
            dup2(nfd, 0);
            dup2(nfd, 1);
        }
        if (efd >= 0)
            dup2(efd, 2);
        execvp(binary, argv);
        fprintf(stderr, "exec %s: %s\n", binary, strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        snprintf(why, whylen, "fork: %s", strerror(errno));
    free(storage);
    free(spec);
    return pid;
}

/* Wait for the child to connect, watching for it to die first. */
static int accept_child(QTestState *s, int lfd, char *why, size_t whylen)
{
    int64_t deadline = now_ms() + START_TIMEOUT_MS;

    while (now_ms() < deadline) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (poll(&p, 1, 100) > 0) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                return fd;
        }
        if (try_reap(s)) {
            char line[200];
            stderr_first_line(s, line, sizeof(line));
            snprintf(why, whylen, "exited with status %d before connecting%s%s",
                     s->exit_status, line[0] ? ": " : "", line);
            return -1;
        }
    }
    snprintf(why, whylen, "did not connect within %d s", START_TIMEOUT_MS / 1000);
    return -1;
}

QTestState *qtest_start(const char *binary, const char *extra_args, char *why, size_t whylen)
{
    char dummy[8];
    QTestState *s = xalloc(sizeof(*s));

    if (!why) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    s->fd = -1;
    s->sock_path = qtest_tmp_path(".sock");
    s->err_path = qtest_tmp_path(".stderr");
    int lfd = listen_unix(s->sock_path, why, whylen);
    if (lfd < 0)
        goto fail;
    s->pid = spawn(binary, s->sock_path, extra_args, s->err_path, why, whylen);
    if (s->pid < 0) {
        close(lfd);
        goto fail;
    }
    s->fd = accept_child(s, lfd, why, whylen);
    close(lfd);
    unlink(s->sock_path);
    if (s->fd < 0) {
        qtest_quit(s);
        return NULL;
    }
    return s;
fail:
    unlink(s->sock_path);
    free(s->sock_path);
    free(s->err_path);
    free(s);
    return NULL;
}

void qtest_set_term_on_quit(QTestState *s, bool on)
{
    s->term_on_quit = on;
}

pid_t qtest_pid(const QTestState *s)
{
    return s->pid;
}

const char *qtest_broken(const QTestState *s)
{
    return s->broken[0] ? s->broken : NULL;
}

const char *qtest_stderr_path(const QTestState *s)
{
    return s->err_path;
}

int qtest_wait_exit(QTestState *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        if (try_reap(s))
            return s->exit_status;
        if (now_ms() >= deadline)
            return -1;
        usleep(10000);
    }
}

int qtest_quit(QTestState *s)
{
    int status;

    if (!s)
        return -1;
    if (s->fd >= 0)
        close(s->fd);
    /* vmm exits when the qtest connection closes; QEMU needs a SIGTERM. */
    status = s->pid > 0 ? qtest_wait_exit(s, s->term_on_quit ? 0 : 3000) : 0;
    if (status < 0) {
        kill(s->pid, SIGTERM);
        status = qtest_wait_exit(s, 5000);
    }
    if (status < 0) {
        kill(s->pid, SIGKILL);
        status = qtest_wait_exit(s, 5000);
    }
    unlink(s->sock_path);
    unlink(s->err_path);
    free(s->sock_path);
    free(s->err_path);
    free(s->inbuf);
    free(s);
    return status;
}

/* ---- the line protocol ---- */

static void set_broken(QTestState *s, const char *fmt, ...)
{
    va_list ap;

    if (s->broken[0])
        return;
    va_start(ap, fmt);
    vsnprintf(s->broken, sizeof(s->broken), fmt, ap);
    va_end(ap);
}

static void send_all(QTestState *s, const char *buf, size_t len)
{
    while (len && !s->broken[0]) {
        ssize_t w = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            set_broken(s, "send: %s", w < 0 ? strerror(errno) : "closed");
            return;
        }
        buf += w;
        len -= w;
    }
}

/* Take one complete line out of inbuf, or NULL. */
static char *take_line(QTestState *s)
{
    char *nl = s->inlen ? memchr(s->inbuf, '\n', s->inlen) : NULL;
    if (!nl)
        return NULL;
    size_t n = nl - s->inbuf;
    char *line = xalloc(n + 1);
    memcpy(line, s->inbuf, n);
    line[n] = '\0';
    memmove(s->inbuf, nl + 1, s->inlen - n - 1);
    s->inlen -= n + 1;
    return line;
}

static bool fill_inbuf(QTestState *s, int64_t deadline)
{
    struct pollfd p = { .fd = s->fd, .events = POLLIN };
    int64_t left = deadline - now_ms();

    if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
        set_broken(s, "no reply within %d s", REPLY_TIMEOUT_MS / 1000);
        return false;
    }
    if (s->incap - s->inlen < 65536) {
        s->incap = s->incap * 2 + 65536;
        s->inbuf = realloc(s->inbuf, s->incap);
        if (!s->inbuf) {
            fprintf(stderr, "libqtest: out of memory\n");
            exit(2);
        }
    }
    ssize_t r = recv(s->fd, s->inbuf + s->inlen, s->incap - s->inlen, 0);
    if (r < 0 && errno == EINTR)
        return true;
    if (r <= 0) {
        set_broken(s, "connection closed (%s)", r < 0 ? strerror(errno) : "EOF");
        return false;
    }
    s->inlen += r;
    return true;
}

/* "IRQ raise N" / "IRQ lower N": record and report true. */
static bool absorb_irq_line(QTestState *s, const char *line)
{
    char what[8];
    unsigned n;

    if (strncmp(line, "IRQ ", 4) != 0)
        return false;
    if (sscanf(line, "IRQ %7s %u", what, &n) == 2 && n < MAX_IRQ)
        s->irq_level[n] = strcmp(what, "raise") == 0;
    return true;
}

static char *read_reply(QTestState *s)
{
    int64_t deadline = now_ms() + REPLY_TIMEOUT_MS;

    while (!s->broken[0]) {
        char *line;
        while ((line = take_line(s))) {
            if (!absorb_irq_line(s, line))
                return line;
            free(line);
        }
        if (!fill_inbuf(s, deadline))
            break;
    }
    return NULL;
}

static char *vcommand(QTestState *s, const char *fmt, va_list ap)
{
    char *cmd;

    s->last_ok = false;
    if (s->broken[0])
        return NULL;
    if (vasprintf(&cmd, fmt, ap) < 0) {
        fprintf(stderr, "libqtest: out of memory\n");
        exit(2);
    }
    size_t n = strlen(cmd);
    cmd = realloc(cmd, n + 2);
    cmd[n] = '\n';
    send_all(s, cmd, n + 1);
    free(cmd);
    char *reply = read_reply(s);
    s->last_ok = reply && strncmp(reply, "OK", 2) == 0 && (reply[2] == '\0' || reply[2] == ' ');
    return reply;
}

char *qtest_command(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = vcommand(s, fmt, ap);
    va_end(ap);
    return r;
}

bool qtest_last_ok(const QTestState *s)
{
    return s->last_ok;
}

/* Send a command whose reply is "OK" or "OK VALUE"; returns VALUE (or
 * all-ones on failure, which also marks the state broken). */
static uint64_t command_value(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    uint64_t val = UINT64_MAX;

    va_start(ap, fmt);
    char *r = vcommand(s, fmt, ap);
    va_end(ap);
    if (!r)
        return val;
    if (!s->last_ok)
        set_broken(s, "unexpected reply '%.100s'", r);
    else if (r[2] == ' ')
        val = strtoull(r + 3, NULL, 0);
    free(r);
    return val;
}

void qtest_outb(QTestState *s, uint16_t port, uint8_t v) { command_value(s, "outb 0x%x 0x%x", port, v); }
void qtest_outw(QTestState *s, uint16_t port, uint16_t v) { command_value(s, "outw 0x%x 0x%x", port, v); }
void qtest_outl(QTestState *s, uint16_t port, uint32_t v) { command_value(s, "outl 0x%x 0x%x", port, v); }
uint8_t qtest_inb(QTestState *s, uint16_t port) { return command_value(s, "inb 0x%x", port); }
uint16_t qtest_inw(QTestState *s, uint16_t port) { return command_value(s, "inw 0x%x", port); }
uint32_t qtest_inl(QTestState *s, uint16_t port) { return command_value(s, "inl 0x%x", port); }

void qtest_writeb(QTestState *s, uint64_t a, uint8_t v) { command_value(s, "writeb 0x%llx 0x%x", (unsigned long long)a, v); }
void qtest_writew(QTestState *s, uint64_t a, uint16_t v) { command_value(s, "writew 0x%llx 0x%x", (unsigned long long)a, v); }
void qtest_writel(QTestState *s, uint64_t a, uint32_t v) { command_value(s, "writel 0x%llx 0x%x", (unsigned long long)a, v); }
void qtest_writeq(QTestState *s, uint64_t a, uint64_t v)
{
    command_value(s, "writeq 0x%llx 0x%llx", (unsigned long long)a, (unsigned long long)v);
}
uint8_t qtest_readb(QTestState *s, uint64_t a) { return command_value(s, "readb 0x%llx", (unsigned long long)a); }
uint16_t qtest_readw(QTestState *s, uint64_t a) { return command_value(s, "readw 0x%llx", (unsigned long long)a); }
uint32_t qtest_readl(QTestState *s, uint64_t a) { return command_value(s, "readl 0x%llx", (unsigned long long)a); }
uint64_t qtest_readq(QTestState *s, uint64_t a) { return command_value(s, "readq 0x%llx", (unsigned long long)a); }

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len)
{
    uint8_t *out = buf;

    memset(buf, 0xff, len);
    if (!len)
        return;
    char *r = qtest_command(s, "read 0x%llx 0x%zx", (unsigned long long)addr, len);
    if (!r)
        return;
    if (!s->last_ok || strncmp(r, "OK 0x", 5) != 0 || strlen(r) != 5 + 2 * len) {
        set_broken(s, "bad read reply '%.60s'", r);
    } else {
        for (size_t i = 0; i < len; i++)
            out[i] = hexval(r[5 + 2 * i]) << 4 | hexval(r[6 + 2 * i]);
    }
    free(r);
}

void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf, size_t len)
{
    const uint8_t *in = buf;
    char *hex = xalloc(2 * len + 1);

    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", in[i]);
    command_value(s, "write 0x%llx 0x%zx 0x%s", (unsigned long long)addr, len, hex);
    free(hex);
}

void qtest_bufread(QTestState *s, uint64_t addr, void *buf, size_t len)
{
    memset(buf, 0xff, len);
    char *r = qtest_command(s, "b64read 0x%llx 0x%zx", (unsigned long long)addr, len);
    if (!r)
        return;
    if (!s->last_ok || strncmp(r, "OK ", 3) != 0 || base64_decode(r + 3, buf, len) != (long)len)
        set_broken(s, "bad b64read reply '%.60s'", r);
    free(r);
}

void qtest_bufwrite(QTestState *s, uint64_t addr, const void *buf, size_t len)
{
    char *b64 = xalloc(base64_encoded_len(len) + 1);
    base64_encode(buf, len, b64);
    command_value(s, "b64write 0x%llx 0x%zx %s", (unsigned long long)addr, len, b64);
    free(b64);
}

void qtest_memset(QTestState *s, uint64_t addr, uint8_t pattern, size_t len)
{
    command_value(s, "memset 0x%llx 0x%zx 0x%02x", (unsigned long long)addr, len, pattern);
}

/* Clock commands reply "OK NS" or "FAIL ..." (not a broken connection). */
static int64_t clock_command(QTestState *s, const char *cmd)
{
    char *r = qtest_command(s, "%s", cmd);
    int64_t v = -1;

    if (r && s->last_ok)
        v = strtoll(r + 2, NULL, 10);
    free(r);
    return v;
}

int64_t qtest_clock_step(QTestState *s, int64_t ns)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "clock_step %lld", (long long)ns);
    return clock_command(s, cmd);
}

int64_t qtest_clock_step_next(QTestState *s)
{
    return clock_command(s, "clock_step");
}

int64_t qtest_clock_set(QTestState *s, int64_t ns)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "clock_set %lld", (long long)ns);
    return clock_command(s, cmd);
}

static bool intercept(QTestState *s, const char *dir, const char *name)
{
    char *r = qtest_command(s, "irq_intercept_%s %s", dir, name);
    free(r);
    return s->last_ok;
}

bool qtest_irq_intercept_in(QTestState *s, const char *name) { return intercept(s, "in", name); }
bool qtest_irq_intercept_out(QTestState *s, const char *name) { return intercept(s, "out", name); }

bool qtest_get_irq(QTestState *s, unsigned n)
{
    /* A harmless round trip collects any IRQ lines already sent. */
    free(qtest_command(s, "endianness"));
    return n < MAX_IRQ && s->irq_level[n];
}

/* PCI Local Bus spec 3.0, 3.2.2.3.2: CONFIG_ADDRESS = enable bit 31 | bus
 * 23:16 | device 15:11 | function 10:8 | dword register 7:2; the byte lanes
 * of CONFIG_DATA select the bytes within the dword. */
static void pci_select(QTestState *s, unsigned dev, unsigned fn, unsigned reg)
{
    qtest_outl(s, 0xcf8, 0x80000000u | (dev & 31) << 11 | (fn & 7) << 8 | (reg & 0xfc));
}

uint32_t qtest_pci_cfg_read(QTestState *s, unsigned dev, unsigned fn, unsigned reg, unsigned size)
{
    pci_select(s, dev, fn, reg);
    uint16_t port = 0xcfc + (reg & 3);
    return size == 1 ? qtest_inb(s, port) : size == 2 ? qtest_inw(s, port) : qtest_inl(s, port);
}

void qtest_pci_cfg_write(QTestState *s, unsigned dev, unsigned fn, unsigned reg, unsigned size,
                         uint32_t val)
{
    pci_select(s, dev, fn, reg);
    uint16_t port = 0xcfc + (reg & 3);
    if (size == 1)
        qtest_outb(s, port, val);
    else if (size == 2)
        qtest_outw(s, port, val);
    else
        qtest_outl(s, port, val);
}

/* ---- harness ---- */

static int failures;

bool qtest_check(const QTarget *t, bool cond, const char *name, const char *fmt, ...)
{
    if (cond) {
        printf("ok - %s [%s]\n", name, t->name);
    } else {
        va_list ap;
        printf("not ok - %s [%s]: ", name, t->name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        failures++;
    }
    fflush(stdout);
    return cond;
}

void qtest_skip(const QTarget *t, const char *name, const char *why)
{
    printf("ok - %s [%s] # SKIP %s\n", name, t->name, why);
    fflush(stdout);
}

QTestState *qtest_start_target(const QTarget *t, const char *test, const char *fmt, ...)
{
    char *tail = NULL, *args, why[512];
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&tail, fmt, ap) < 0)
        tail = NULL;
    va_end(ap);
    if (asprintf(&args, "%s %s", t->machine_args, tail ? tail : "") < 0)
        args = NULL;
    free(tail);
    QTestState *s = args ? qtest_start(t->binary, args, why, sizeof(why)) : NULL;
    if (!s)
        qtest_check(t, false, test, "start %s: %s", t->binary, args ? why : "out of memory");
    else
        qtest_set_term_on_quit(s, t->is_qemu);
    free(args);
    return s;
}

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (!path)
        return false;
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
        if (access(buf, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* Does this QEMU build have the qtest accelerator ("-accel help")? */
static bool qemu_has_qtest_accel(const char *binary)
{
    char cmd[512], line[256];
    bool found = false;

    snprintf(cmd, sizeof(cmd), "'%s' -accel help 2>/dev/null", binary);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    while (fgets(line, sizeof(line), p))
        if (strncmp(line, "qtest", 5) == 0)
            found = true;
    pclose(p);
    return found;
}

int qtest_run_targets(void (*fn)(const QTarget *t))
{
    const char *vmm = getenv("VMM");
    const char *qemu = getenv("QEMU");
    /* -nodefaults on both: no default VGA, so slots match QEMU's run. */
    QTarget tv = { "vmm", vmm && *vmm ? vmm : "build/vmm", "-accel qtest -m 128M -nodefaults",
                   false, true };
    QTarget tq = { "qemu", qemu && *qemu ? qemu : "qemu-system-x86_64", NULL, true, false };
    const char *only = getenv("QTEST_TARGET");   /* "vmm" or "qemu" to run one */

    signal(SIGPIPE, SIG_IGN);
    if (!only || strcmp(only, "vmm") == 0) {
        if (access(tv.binary, X_OK) == 0)
            fn(&tv);
        else
            qtest_check(&tv, false, "start", "%s is not an executable (set $VMM)", tv.binary);
    }
    if (!only || strcmp(only, "qemu") == 0) {
        if (strchr(tq.binary, '/') ? access(tq.binary, X_OK) == 0 : in_path(tq.binary)) {
            tq.has_clock = qemu_has_qtest_accel(tq.binary);
            tq.machine_args = tq.has_clock
                ? "-accel qtest -M pc -m 128M -nodefaults -qtest-log /dev/null"
                : "-accel tcg -S -M pc -m 128M -nodefaults -qtest-log /dev/null";
            fn(&tq);
        } else
            qtest_skip(&tq, "all", "qemu-system-x86_64 not installed");
    }
    return failures ? 1 : 0;
}
