/*
 * Monitors on chardevs (-monitor, -qmp, -mon, the -nographic mux) and in
 * memory (human-monitor-command).
 *
 * HMP: greets each client with the banner and "(qemu) " prompt, edits its
 * input with readline (echoing, as QEMU does on stdio, ptys and sockets),
 * runs each line with hmp_execute and prompts again.  Output line ends are
 * "\r\n", as QEMU's monitor prints them (also into buffers, so
 * human-monitor-command returns "...\r\n" like QEMU).
 * QMP: one QmpSession per client connection (monitor/qmp.c); a client that
 * reconnects gets a new greeting and must negotiate again.
 * A client may vanish at any time, even inside one of our own writes: its
 * session is then retired and freed from a bottom half, never under a
 * caller's feet.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-host.h"
#include "monitor.h"
#include "commands.h"
#include "readline.h"
#include "util.h"

#define MONITOR_READ_CHUNK 4096
#define MONITOR_PROMPT "(qemu) "

struct Monitor {
    MonitorMode mode;
    Chardev *chr;            /* NULL: a buffer monitor */
    bool pretty;
    bool mux;                /* shares stdio through the Ctrl-A mux */
    bool greeted;            /* mux: banner printed once */
    unsigned cpu;            /* this monitor's current CPU ("cpu N") */
    ReadLine *rl;            /* HMP on a chardev */
    QmpSession *qmp;         /* QMP: the current client's session */
    QmpSession *retired;     /* disconnected session awaiting free */
    BH *free_bh;
    char *buf;               /* buffer monitor output */
    size_t buf_len, buf_cap;
    Monitor *next;
};

static Monitor *monitors;    /* chardev monitors, for monitor_present */

/* ------------------------------------------------------------ output */

static void buffer_append(Monitor *mon, const char *s, size_t len)
{
    if (mon->buf_len + len + 1 > mon->buf_cap) {
        mon->buf_cap = MAX(mon->buf_cap * 2, mon->buf_len + len + 1);
        mon->buf = xrealloc(mon->buf, mon->buf_cap);
    }
    memcpy(mon->buf + mon->buf_len, s, len);
    mon->buf_len += len;
    mon->buf[mon->buf_len] = '\0';
}

static void monitor_write(Monitor *mon, const char *s, size_t len)
{
    if (!mon->chr)
        buffer_append(mon, s, len);
    else
        chardev_write(mon->chr, (const uint8_t *)s, len);
}

/* Text with "\n" line ends, written with "\r\n". */
static void monitor_puts(Monitor *mon, const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        monitor_write(mon, s, n);
        if (!nl)
            break;
        monitor_write(mon, "\r\n", 2);
        s = nl + 1;
    }
}

void monitor_printf(Monitor *mon, const char *fmt, ...)
{
    va_list ap;
    char *text;
    if (!mon || mon->mode != MONITOR_HMP)
        return;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    monitor_puts(mon, text);
    free(text);
}

/* ------------------------------------------------------------------ HMP */

static void hmp_prompt(Monitor *mon)
{
    monitor_write(mon, MONITOR_PROMPT, strlen(MONITOR_PROMPT));
}

static void hmp_greet(Monitor *mon)
{
    monitor_printf(mon, "vmm %s monitor - type 'help' for more information\n", VMM_VERSION);
    hmp_prompt(mon);
}

static void hmp_echo(void *opaque, const char *s, size_t len)
{
    monitor_write(opaque, s, len);
}

static void hmp_line(void *opaque, const char *line)
{
    Monitor *mon = opaque;
    if (!line) {
        monitor_printf(mon, "Error: line too long\n");
    } else {
        /* Each monitor has its own current CPU, as in QEMU: the commands
         * read the shared variable while this monitor's line runs. */
        unsigned saved = monitor_current_cpu;
        monitor_current_cpu = mon->cpu;
        hmp_execute(mon, line);
        mon->cpu = monitor_current_cpu;
        monitor_current_cpu = saved;
    }
    hmp_prompt(mon);
}

/* ------------------------------------------------------------------ QMP */

static void qmp_send(void *opaque, const char *text)
{
    Monitor *mon = opaque;
    if (mon->chr)
        chardev_write_message(mon->chr, (const uint8_t *)text, strlen(text));
}

static void qmp_free(QmpSession *s)
{
    if (s)
        qmp_session_free(s);
}

static void qmp_free_retired(void *opaque)
{
    Monitor *mon = opaque;
    qmp_free(mon->retired);
    mon->retired = NULL;
}

/* The client left: stop using its session, free it once we are out of
 * whatever call noticed the hang-up (possibly its own send). */
static void qmp_retire(Monitor *mon)
{
    if (!mon->qmp)
        return;
    qmp_free(mon->retired);   /* an older one, long idle */
    mon->retired = mon->qmp;
    mon->qmp = NULL;
    bh_schedule(mon->free_bh);
}

static void qmp_start(Monitor *mon)
{
    qmp_retire(mon);
    mon->qmp = qmp_session_new(qmp_send, mon, mon->pretty);
}

/* ------------------------------------------------------ chardev glue */

static size_t monitor_can_read(void *opaque)
{
    return MONITOR_READ_CHUNK;
}

static void monitor_read(void *opaque, const uint8_t *buf, size_t len)
{
    Monitor *mon = opaque;
    if (mon->mode == MONITOR_HMP)
        readline_feed(mon->rl, buf, len);
    else if (mon->qmp)
        qmp_session_input(mon->qmp, buf, len);
}

static void monitor_connected(Monitor *mon)
{
    if (mon->mode == MONITOR_QMP) {
        qmp_start(mon);
        return;
    }
    readline_reset(mon->rl);
    hmp_greet(mon);
}

/*
 * Socket chardevs: a client came or went.  The stdio mux: the monitor got
 * the terminal (Ctrl-A c) or lost it; QEMU prints the banner the first time
 * and a fresh prompt on every switch.
 */
static void monitor_chr_event(void *opaque, int connected)
{
    Monitor *mon = opaque;
    if (mon->mux) {
        if (!connected)
            return;
        if (!mon->greeted) {
            mon->greeted = true;
            hmp_greet(mon);
        } else {
            monitor_write(mon, "\r\n", 2);
            hmp_prompt(mon);
        }
        return;
    }
    if (connected) {
        monitor_connected(mon);
    } else if (mon->mode == MONITOR_QMP) {
        qmp_retire(mon);
    } else {
        readline_reset(mon->rl);   /* a half-typed line dies with its client */
    }
}

/* -------------------------------------------------------- life cycle */

static Monitor *monitor_alloc(MonitorMode mode, bool pretty)
{
    Monitor *mon = xzalloc(sizeof(*mon));
    mon->mode = mode;
    mon->pretty = pretty;
    return mon;
}

Monitor *monitor_new(Chardev *chr, MonitorMode mode, bool pretty)
{
    Monitor *mon = monitor_alloc(mode, pretty);
    ChardevHandlers h = { .can_read = monitor_can_read, .read = monitor_read, .opaque = mon };
    mon->chr = chr;
    mon->free_bh = bh_new(qmp_free_retired, mon);
    if (mode == MONITOR_HMP) {
        mon->rl = xzalloc(sizeof(*mon->rl));
        readline_init(mon->rl, true, hmp_echo, hmp_line, mon);
    }
    mon->next = monitors;
    monitors = mon;
    chardev_set_event_handler(chr, monitor_chr_event, mon);
    /* The mux is for the human monitor; QMP on stdio takes it whole. */
    mon->mux = (chardev_wants_monitor(chr) || chardev_is_mux(chr)) && mode == MONITOR_HMP;
    if (mon->mux) {
        chardev_mux_set_monitor(chr, &h);
        return mon;
    }
    chardev_set_handlers(chr, &h);
    if (chardev_connected(chr))
        monitor_connected(mon);
    return mon;
}

Monitor *monitor_new_buffer(void)
{
    Monitor *mon = monitor_alloc(MONITOR_HMP, false);
    buffer_append(mon, "", 0);
    return mon;
}

const char *monitor_buffer(Monitor *mon)
{
    return mon->buf ? mon->buf : "";
}

static void monitor_unlink(Monitor *mon)
{
    for (Monitor **p = &monitors; *p; p = &(*p)->next) {
        if (*p == mon) {
            *p = mon->next;
            return;
        }
    }
}

void monitor_free(Monitor *mon)
{
    if (!mon)
        return;
    if (mon->chr) {
        monitor_unlink(mon);
        chardev_set_event_handler(mon->chr, NULL, NULL);
        if (mon->mux)
            chardev_mux_set_monitor(mon->chr, NULL);
        else
            chardev_set_handlers(mon->chr, NULL);
    }
    qmp_free(mon->qmp);
    qmp_free(mon->retired);
    if (mon->free_bh)
        bh_delete(mon->free_bh);
    if (mon->rl) {
        readline_free(mon->rl);
        free(mon->rl);
    }
    free(mon->buf);
    free(mon);
}

bool monitor_present(void)
{
    return monitors != NULL;
}
