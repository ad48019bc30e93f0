/*
 * qtest accelerator server: no vCPU; a test program drives the devices over
 * QEMU's qtest line protocol on a chardev.  One command per line, answered
 * with "OK[ value]" or "FAIL reason"; "IRQ raise N" / "IRQ lower N" lines are
 * sent asynchronously once interrupts are intercepted.  Reply formats follow
 * QEMU's (system/qtest.c) so that one client library drives both.
 *
 * Everything on the line is hostile input: malformed or missing numbers,
 * missing arguments, huge sizes and over-long lines get a FAIL reply and
 * the server keeps going (QEMU asserts on most of these).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chardev.h"
#include "hw.h"
#include "qtest.h"
#include "util.h"

/* A line longer than this is refused (and skipped up to its newline). */
#define QTEST_MAX_LINE (4 * MiB)
/* Largest read/b64read (the reply is ~2x) and write/memset size. */
#define QTEST_MAX_READ ((uint64_t)(1 * MiB))
#define QTEST_MAX_WRITE ((uint64_t)(16 * MiB))
#define QTEST_MAX_WORDS 8
/* How often the connection is checked: vmm exits when the test hangs up. */
#define QTEST_POLL_NS (20 * 1000 * 1000)

static struct {
    bool enabled;
    Chardev *chr;
    FILE *log;
    int64_t start_ns;           /* for log timestamps */
    char *line;                 /* the line being received */
    size_t len;
    bool discarding;            /* skipping the rest of an over-long line */
    bool intercepting;
    char *intercept_name;       /* the device path first intercepted */
    int reported[IRQ_NUM_GSI];  /* last level sent in an IRQ line */
    Timer *poll_timer;
    bool seen_connected;
} qt;

bool qtest_enabled(void)
{
    return qt.enabled;
}

/* ---- output ---- */

static double elapsed_s(void)
{
    return (clock_ns(CLOCK_REALTIME_NS) - qt.start_ns) / 1e9;
}

static void log_line(char dir, const char *text, size_t len)
{
    if (!qt.log)
        return;
    fprintf(qt.log, "[%c +%.6f] %.*s\n", dir, elapsed_s(), (int)len, text);
    fflush(qt.log);
}

static void send_text(const char *text)
{
    size_t len = strlen(text);
    chardev_write_all(qt.chr, (const uint8_t *)text, len);
    if (len && text[len - 1] == '\n')
        len--;
    log_line('S', text, len);
}

static void __attribute__((format(printf, 1, 2))) reply(const char *fmt, ...)
{
    char small[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        send_text(small);
        return;
    }
    char *big = xmalloc(n + 1);
    va_start(ap, fmt);
    vsnprintf(big, n + 1, fmt, ap);
    va_end(ap);
    send_text(big);
    free(big);
}

/* ---- the IRQ recorder (the IrqBackend under qtest) ---- */

static void qtest_irq_set_level(void *opaque, unsigned gsi, int level)
{
    if (!qt.intercepting || gsi >= IRQ_NUM_GSI || qt.reported[gsi] == level)
        return;
    qt.reported[gsi] = level;
    reply("IRQ %s %u\n", level ? "raise" : "lower", gsi);
}

/* ---- argument parsing ---- */

typedef struct Args {
    int n;                      /* words after the command */
    char *w[QTEST_MAX_WORDS];   /* w[0] is the command */
} Args;

/* Unsigned number in C syntax (0x hex, 0 octal, decimal), all of the word. */
static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;

    if (!s || !*s)
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Parse argument i as an unsigned number or reply FAIL. */
static bool arg_u64(const Args *a, int i, uint64_t *out)
{
    if (!parse_u64(a->w[i], out)) {
        reply("FAIL invalid number '%.64s'\n", a->w[i]);
        return false;
    }
    return true;
}

/* "ADDR SIZE" with 0 < SIZE <= max. */
static bool arg_addr_size(const Args *a, uint64_t max, uint64_t *addr, uint64_t *size)
{
    if (!arg_u64(a, 1, addr) || !arg_u64(a, 2, size))
        return false;
    if (*size == 0 || *size > max) {
        reply("FAIL size %" PRIu64 " out of range (1-%" PRIu64 ")\n", *size, max);
        return false;
    }
    return true;
}

static unsigned access_size(char suffix)
{
    switch (suffix) {
    case 'b': return 1;
    case 'w': return 2;
    case 'l': return 4;
    case 'q': return 8;
    }
    return 0;
}

/* ---- commands ---- */

static void cmd_out(const Args *a)
{
    uint64_t port, val;

    if (!arg_u64(a, 1, &port) || !arg_u64(a, 2, &val))
        return;
    if (port > 0xffff) {
        reply("FAIL port 0x%" PRIx64 " out of range\n", port);
        return;
    }
    unsigned size = access_size(a->w[0][3]);
    as_write(&pio_space, port, size, val & (size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1));
    reply("OK\n");
}

static void cmd_in(const Args *a)
{
    uint64_t port, val = ~0ULL;

    if (!arg_u64(a, 1, &port))
        return;
    if (port > 0xffff) {
        reply("FAIL port 0x%" PRIx64 " out of range\n", port);
        return;
    }
    unsigned size = access_size(a->w[0][2]);
    as_read(&pio_space, port, size, &val);
    if (size < 4)
        val &= (1u << (8 * size)) - 1;
    reply("OK 0x%04" PRIx64 "\n", val & 0xffffffffu);
}

static void cmd_write_n(const Args *a)
{
    uint64_t addr, val;
    uint8_t buf[8];

    if (!arg_u64(a, 1, &addr) || !arg_u64(a, 2, &val))
        return;
    unsigned size = access_size(a->w[0][5]);
    for (unsigned i = 0; i < size; i++)   /* the guest is little-endian */
        buf[i] = val >> (8 * i);
    phys_write(addr, buf, size);
    reply("OK\n");
}

static void cmd_read_n(const Args *a)
{
    uint64_t addr, val = 0;
    uint8_t buf[8];

    if (!arg_u64(a, 1, &addr))
        return;
    unsigned size = access_size(a->w[0][4]);
    phys_read(addr, buf, size);
    for (unsigned i = 0; i < size; i++)
        val |= (uint64_t)buf[i] << (8 * i);
    reply("OK 0x%016" PRIx64 "\n", val);
}

static void cmd_read(const Args *a)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t addr, size;

    if (!arg_addr_size(a, QTEST_MAX_READ, &addr, &size))
        return;
    uint8_t *data = xmalloc(size);
    char *text = xmalloc(2 * size + 8);
    phys_read(addr, data, size);
    char *p = text + sprintf(text, "OK 0x");
    for (uint64_t i = 0; i < size; i++) {
        *p++ = hex[data[i] >> 4];
        *p++ = hex[data[i] & 15];
    }
    strcpy(p, "\n");
    send_text(text);
    free(text);
    free(data);
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "write ADDR SIZE 0xHEX": missing trailing bytes are zero (as QEMU). */
static void cmd_write(const Args *a)
{
    uint64_t addr, size;
    const char *hex = a->w[3];

    if (!arg_addr_size(a, QTEST_MAX_WRITE, &addr, &size))
        return;
    if (strncmp(hex, "0x", 2) != 0 || strlen(hex) % 2) {
        reply("FAIL data must be 0x followed by pairs of hex digits\n");
        return;
    }
    hex += 2;
    size_t ndigits = strlen(hex);
    uint8_t *data = xzalloc(size);
    for (uint64_t i = 0; i < size && 2 * i < ndigits; i++) {
        int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            reply("FAIL invalid hex data\n");
            free(data);
            return;
        }
        data[i] = hi << 4 | lo;
    }
    phys_write(addr, data, size);
    free(data);
    reply("OK\n");
}

static void cmd_b64read(const Args *a)
{
    uint64_t addr, size;

    if (!arg_addr_size(a, QTEST_MAX_READ, &addr, &size))
        return;
    uint8_t *data = xmalloc(size);
    char *text = xmalloc(base64_encoded_len(size) + 8);
    phys_read(addr, data, size);
    strcpy(text, "OK ");
    base64_encode(data, size, text + 3);
    strcat(text + 3, "\n");
    send_text(text);
    free(text);
    free(data);
}

/* "b64write ADDR SIZE DATA": data shorter than SIZE is zero-filled. */
static void cmd_b64write(const Args *a)
{
    uint64_t addr, size;

    if (!arg_addr_size(a, QTEST_MAX_WRITE, &addr, &size))
        return;
    uint8_t *data = xzalloc(size);
    if (base64_decode(a->w[3], data, size) < 0) {
        reply("FAIL invalid base64 data\n");
        free(data);
        return;
    }
    phys_write(addr, data, size);
    free(data);
    reply("OK\n");
}

static void cmd_memset(const Args *a)
{
    uint64_t addr, size, pattern;
    uint8_t chunk[4096];

    if (!arg_u64(a, 1, &addr) || !arg_u64(a, 2, &size) || !arg_u64(a, 3, &pattern))
        return;
    if (size > QTEST_MAX_WRITE) {
        reply("FAIL size %" PRIu64 " out of range (0-%" PRIu64 ")\n", size, QTEST_MAX_WRITE);
        return;
    }
    memset(chunk, (uint8_t)pattern, sizeof(chunk));
    for (uint64_t done = 0; done < size;) {
        uint64_t n = MIN(size - done, sizeof(chunk));
        phys_write(addr + done, chunk, n);
        done += n;
    }
    reply("OK\n");
}

static void cmd_endianness(const Args *a)
{
    reply("OK little\n");
}

static void clock_advance_to(int64_t old_ns, int64_t target)
{
    vclock_warp(target);
    int64_t now = clock_ns(CLOCK_VIRTUAL_NS);
    if (now > old_ns)
        reply("OK %" PRIi64 "\n", now);
    else
        reply("FAIL could not advance time\n");
}

/*
 * "clock_step [NS]": by NS, or to the next virtual timer deadline
 * (vclock_next_deadline_ns: the main loop ignores future virtual timers in
 * manual mode).
 */
static void cmd_clock_step(const Args *a)
{
    int64_t old_ns = clock_ns(CLOCK_VIRTUAL_NS), ns;

    if (a->n >= 1) {
        if (!parse_i64(a->w[1], &ns) || ns <= 0) {
            reply("FAIL invalid step '%.64s'\n", a->w[1]);
            return;
        }
    } else {
        ns = vclock_next_deadline_ns();
        if (ns < 0) {
            reply("FAIL cannot advance clock to the next deadline because there is no "
                  "pending deadline\n");
            return;
        }
    }
    clock_advance_to(old_ns, ns > INT64_MAX - old_ns ? INT64_MAX : old_ns + ns);
}

/* "clock_set NS": OK NS, or FAIL with the clock if NS is in the past. */
static void cmd_clock_set(const Args *a)
{
    int64_t ns;

    if (!parse_i64(a->w[1], &ns)) {
        reply("FAIL invalid time '%.64s'\n", a->w[1]);
        return;
    }
    vclock_warp(ns);
    int64_t now = clock_ns(CLOCK_VIRTUAL_NS);
    reply("%s %" PRIi64 "\n", now == ns ? "OK" : "FAIL", now);
}

/*
 * vmm has a single interrupt controller view (the GSIs), so any device path
 * ("ioapic", "/machine/i440fx/ioapic", ...) intercepts it; as in QEMU only
 * one device may be intercepted, re-intercepting the same one is OK.
 */
static void cmd_irq_intercept(const Args *a)
{
    if (qt.intercepting) {
        if (strcmp(qt.intercept_name, a->w[1]) == 0)
            reply("OK\n");
        else
            reply("FAIL IRQ intercept already enabled\n");
        return;
    }
    qt.intercept_name = xstrdup(a->w[1]);
    qt.intercepting = true;
    reply("OK\n");
}

/* "set_irq_in PATH NAME NUM LEVEL": drive GSI NUM as a device would. */
static void cmd_set_irq_in(const Args *a)
{
    uint64_t num;
    int64_t level;

    if (!arg_u64(a, 3, &num))
        return;
    if (!parse_i64(a->w[4], &level)) {
        reply("FAIL invalid level '%.64s'\n", a->w[4]);
        return;
    }
    if (num >= IRQ_NUM_GSI) {
        reply("FAIL irq %" PRIu64 " out of range\n", num);
        return;
    }
    irq_set_level(num, level != 0);
    reply("OK\n");
}

typedef struct Command {
    const char *name;
    int min_args;
    void (*fn)(const Args *a);
} Command;

static const Command commands[] = {
    { "outb", 2, cmd_out },           { "outw", 2, cmd_out },
    { "outl", 2, cmd_out },           { "inb", 1, cmd_in },
    { "inw", 1, cmd_in },             { "inl", 1, cmd_in },
    { "writeb", 2, cmd_write_n },     { "writew", 2, cmd_write_n },
    { "writel", 2, cmd_write_n },     { "writeq", 2, cmd_write_n },
    { "readb", 1, cmd_read_n },       { "readw", 1, cmd_read_n },
    { "readl", 1, cmd_read_n },       { "readq", 1, cmd_read_n },
    { "read", 2, cmd_read },          { "write", 3, cmd_write },
    { "b64read", 2, cmd_b64read },    { "b64write", 3, cmd_b64write },
    { "memset", 3, cmd_memset },      { "endianness", 0, cmd_endianness },
    { "clock_step", 0, cmd_clock_step }, { "clock_set", 1, cmd_clock_set },
    { "irq_intercept_in", 1, cmd_irq_intercept },
    { "irq_intercept_out", 1, cmd_irq_intercept },
    { "set_irq_in", 4, cmd_set_irq_in },
};

/* Split in place on blanks; words beyond QTEST_MAX_WORDS are ignored. */
static void split_words(char *line, Args *a)
{
    int n = 0;
    char *save = NULL;

    for (char *w = strtok_r(line, " \t", &save); w && n < QTEST_MAX_WORDS;
         w = strtok_r(NULL, " \t", &save))
        a->w[n++] = w;
    for (int i = n; i < QTEST_MAX_WORDS; i++)
        a->w[i] = NULL;
    a->n = n - 1;
}

static void process_line(char *line, size_t len)
{
    Args a;

    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    log_line('R', line, len);
    split_words(line, &a);
    if (a.n < 0) {
        reply("FAIL empty command\n");
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, a.w[0]) != 0)
            continue;
        if (a.n < commands[i].min_args)
            reply("FAIL %s: missing argument\n", a.w[0]);
        else
            commands[i].fn(&a);
        return;
    }
    reply("FAIL Unknown command '%.64s'\n", a.w[0]);
}

/* ---- input ---- */

static size_t qtest_can_read(void *opaque)
{
    return 64 * KiB;
}

static void append_byte_run(const uint8_t *buf, size_t n)
{
    if (qt.discarding)
        return;
    if (qt.len + n > QTEST_MAX_LINE) {
        reply("FAIL line longer than %llu bytes\n", (unsigned long long)QTEST_MAX_LINE);
        qt.discarding = true;
        qt.len = 0;
        return;
    }
    memcpy(qt.line + qt.len, buf, n);
    qt.len += n;
}

static void qtest_read(void *opaque, const uint8_t *buf, size_t len)
{
    while (len) {
        const uint8_t *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        append_byte_run(buf, n);
        if (!nl)
            return;
        if (!qt.discarding) {
            qt.line[qt.len] = '\0';
            process_line(qt.line, qt.len);
        }
        qt.discarding = false;
        qt.len = 0;
        buf += n + 1;
        len -= n + 1;
    }
}

/* Like QEMU under qtest, the machine ends when the test hangs up. */
static void qtest_poll_connection(void *opaque)
{
    if (chardev_connected(qt.chr)) {
        qt.seen_connected = true;
    } else if (qt.seen_connected) {
        if (qt.log)
            fprintf(qt.log, "[I +%.6f] CLOSED\n", elapsed_s());
        main_loop_quit(0);
        return;
    }
    timer_mod(qt.poll_timer, clock_ns(CLOCK_REALTIME_NS) + QTEST_POLL_NS);
}

int qtest_init(const char *spec, const char *log_path)
{
    static const ChardevHandlers handlers = {
        .can_read = qtest_can_read, .read = qtest_read,
    };
    static const IrqBackend irq_backend = { .set_level = qtest_irq_set_level };

    if (log_path && strcmp(log_path, "none") != 0) {
        qt.log = fopen(log_path, "w");
        if (!qt.log) {
            error_report("-qtest-log %s: %s", log_path, strerror(errno));
            return -1;
        }
    }
    qt.chr = chardev_open(spec, "qtest");
    if (!qt.chr)
        return -1;
    qt.line = xmalloc(QTEST_MAX_LINE + 1);
    qt.start_ns = clock_ns(CLOCK_REALTIME_NS);
    qt.enabled = true;
    vclock_set_manual(true);
    irq_set_backend(&irq_backend);
    chardev_set_handlers(qt.chr, &handlers);
    if (qt.log)
        fprintf(qt.log, "[I %.6f] OPENED\n", 0.0);
    qt.poll_timer = timer_new(CLOCK_REALTIME_NS, qtest_poll_connection, NULL);
    qtest_poll_connection(NULL);
    return 0;
}
