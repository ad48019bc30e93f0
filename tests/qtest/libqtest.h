/*
 * libqtest: a client for the qtest line protocol, able to drive both vmm and
 * QEMU (-accel qtest), plus a tiny harness that runs each test's cases once
 * per target and prints "ok - NAME [target]" / "not ok - NAME [target]: why".
 *
 * The test listens on a unix socket and starts the binary with
 * "-accel qtest -qtest unix:PATH -display none"; the binary connects back.
 * Asynchronous "IRQ raise N" / "IRQ lower N" lines may arrive before any
 * reply; they are parsed out and recorded (qtest_get_irq).
 *
 * Nothing here aborts: after a broken connection or a timeout every call
 * returns all-ones and qtest_broken() says why, so a test keeps reporting.
 */
#ifndef VMM_LIBQTEST_H
#define VMM_LIBQTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct QTestState QTestState;

/*
 * Start binary with "-qtest unix:PATH -display none" (and "-accel qtest"
 * unless extra_args names an accelerator) followed by extra_args (split on
 * blanks; '...' and "..." quote).  Returns NULL and fills why (if non-NULL)
 * when the child cannot be started or does not connect within 20 s.
 */
QTestState *qtest_start(const char *binary, const char *extra_args, char *why, size_t whylen);
/* Close the connection, wait for the child (killing it after a while) and
 * free s.  Returns the child's wait status as qtest_wait_exit does. */
int qtest_quit(QTestState *s);
pid_t qtest_pid(const QTestState *s);
/* qtest_quit sends SIGTERM at once instead of waiting for the child to exit
 * on its own (QEMU keeps running after the qtest connection closes). */
void qtest_set_term_on_quit(QTestState *s, bool on);
/* Exit status of the child (0-255), 128+signal if killed by a signal, or -1
 * if it is still running after timeout_ms. */
int qtest_wait_exit(QTestState *s, int timeout_ms);
/* NULL while the connection works, else the reason it does not. */
const char *qtest_broken(const QTestState *s);
/* Path of the child's captured stderr (for messages). */
const char *qtest_stderr_path(const QTestState *s);

/* Send one command line (printf-style, no newline) and return the reply
 * line without "\n" (malloc'd; NULL when broken).  IRQ lines are absorbed. */
char *qtest_command(QTestState *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Last reply began with "OK"? */
bool qtest_last_ok(const QTestState *s);

void qtest_outb(QTestState *s, uint16_t port, uint8_t v);
void qtest_outw(QTestState *s, uint16_t port, uint16_t v);
void qtest_outl(QTestState *s, uint16_t port, uint32_t v);
uint8_t qtest_inb(QTestState *s, uint16_t port);
uint16_t qtest_inw(QTestState *s, uint16_t port);
uint32_t qtest_inl(QTestState *s, uint16_t port);

void qtest_writeb(QTestState *s, uint64_t addr, uint8_t v);
void qtest_writew(QTestState *s, uint64_t addr, uint16_t v);
void qtest_writel(QTestState *s, uint64_t addr, uint32_t v);
void qtest_writeq(QTestState *s, uint64_t addr, uint64_t v);
uint8_t qtest_readb(QTestState *s, uint64_t addr);
uint16_t qtest_readw(QTestState *s, uint64_t addr);
uint32_t qtest_readl(QTestState *s, uint64_t addr);
uint64_t qtest_readq(QTestState *s, uint64_t addr);

/* "read"/"write" with hex data; buf*: the same with base64. */
void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len);
void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf, size_t len);
void qtest_bufread(QTestState *s, uint64_t addr, void *buf, size_t len);
void qtest_bufwrite(QTestState *s, uint64_t addr, const void *buf, size_t len);
void qtest_memset(QTestState *s, uint64_t addr, uint8_t pattern, size_t len);

/* Virtual clock; each returns the new clock in ns, or -1 on FAIL. */
int64_t qtest_clock_step(QTestState *s, int64_t ns);
int64_t qtest_clock_step_next(QTestState *s);
int64_t qtest_clock_set(QTestState *s, int64_t ns);

bool qtest_irq_intercept_in(QTestState *s, const char *name);
bool qtest_irq_intercept_out(QTestState *s, const char *name);
/* Current level of intercepted line n as last reported by "IRQ" lines. */
bool qtest_get_irq(QTestState *s, unsigned n);

/* PCI configuration mechanism #1 (0xcf8/0xcfc) on bus 0; size 1, 2 or 4. */
uint32_t qtest_pci_cfg_read(QTestState *s, unsigned dev, unsigned fn, unsigned reg, unsigned size);
void qtest_pci_cfg_write(QTestState *s, unsigned dev, unsigned fn, unsigned reg, unsigned size,
                         uint32_t val);

/* ---- harness ---- */
typedef struct QTarget {
    const char *name;          /* "vmm" or "qemu" */
    const char *binary;
    const char *machine_args;  /* machine options every test passes */
    bool is_qemu;
    /* clock_step/clock_set work.  Debian's QEMU has no qtest accelerator:
     * it runs as "-accel tcg -S" (vCPU never started) and its virtual clock
     * stands still, so clock-driven checks use host time or are skipped. */
    bool has_clock;
} QTarget;

/* Start the target with its machine args plus a printf-formatted tail.
 * On failure prints "not ok - test [target]: why" and returns NULL. */
QTestState *qtest_start_target(const QTarget *t, const char *test, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs fn once per target ($VMM or build/vmm; qemu-system-x86_64 from PATH,
 * skipped if absent).  Returns the exit status for main(). */
int qtest_run_targets(void (*fn)(const QTarget *t));
/* Print a result line; returns cond. */
bool qtest_check(const QTarget *t, bool cond, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void qtest_skip(const QTarget *t, const char *name, const char *why);
/* A unique temporary file path (not created) with this suffix; malloc'd. */
char *qtest_tmp_path(const char *suffix);
/* Read a whole (small) file, NUL-terminated; NULL if missing. */
char *qtest_slurp(const char *path, size_t *len);

#define CHECK(t, cond, name, ...) qtest_check((t), (cond), (name), __VA_ARGS__)

#endif
