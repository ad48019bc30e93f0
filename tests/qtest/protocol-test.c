/*
 * The qtest protocol itself: reply formats shared with QEMU, RAM access
 * round trips (hex, base64, memset), the virtual clock, and - for vmm only,
 * since QEMU asserts on these - hostile input that must get a FAIL reply and
 * leave the server answering.
 */
#include "libqtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM_ADDR 0x100000

static bool reply_is(QTestState *s, const char *want, const char *cmd)
{
    char *r = qtest_command(s, "%s", cmd);
    bool ok = r && strcmp(r, want) == 0;
    free(r);
    return ok;
}

static bool reply_starts(QTestState *s, const char *prefix, const char *cmd)
{
    char *r = qtest_command(s, "%s", cmd);
    bool ok = r && strncmp(r, prefix, strlen(prefix)) == 0;
    free(r);
    return ok;
}

static void test_formats(const QTarget *t, QTestState *s)
{
    CHECK(t, reply_is(s, "OK little", "endianness"), "protocol endianness", "not 'OK little'");
    CHECK(t, reply_is(s, "OK 0x00ff", "inb 0x5000"), "protocol inb format", "not 'OK 0x00ff'");
    CHECK(t, reply_is(s, "OK 0xffffffff", "inl 0x5000"), "protocol inl format", "not 'OK 0xffffffff'");
    CHECK(t, reply_is(s, "OK", "writel 0x100000 0x04030201"), "protocol writel ok", "not 'OK'");
    CHECK(t, reply_is(s, "OK 0x0000000004030201", "readq 0x100000"), "protocol readq format",
          "wrong");
    CHECK(t, reply_is(s, "OK 0x01020304", "read 0x100000 4"), "protocol read hex format", "wrong");
    CHECK(t, reply_is(s, "OK AQIDBA==", "b64read 0x100000 4"), "protocol b64read format", "wrong");
    CHECK(t, reply_is(s, "FAIL Unknown command 'frobnicate'", "frobnicate 1 2"),
          "protocol unknown command", "wrong FAIL text");
}

static void test_ram(const QTarget *t, QTestState *s)
{
    uint8_t buf[300], back[300];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = i * 7 + 3;

    qtest_memwrite(s, RAM_ADDR, buf, sizeof(buf));
    qtest_bufread(s, RAM_ADDR, back, sizeof(back));
    CHECK(t, memcmp(buf, back, sizeof(buf)) == 0, "protocol write/b64read round trip", "mismatch");

    qtest_bufwrite(s, RAM_ADDR + 0x1000, buf, 299);
    qtest_memread(s, RAM_ADDR + 0x1000, back, 299);
    CHECK(t, memcmp(buf, back, 299) == 0, "protocol b64write/read round trip", "mismatch");

    qtest_memset(s, RAM_ADDR + 0x2000, 0xa5, 64);
    qtest_memread(s, RAM_ADDR + 0x2000, back, 66);
    bool ok = back[64] == 0 && back[65] == 0;
    for (int i = 0; i < 64; i++)
        ok = ok && back[i] == 0xa5;
    CHECK(t, ok, "protocol memset", "bytes %02x %02x %02x", back[0], back[63], back[64]);

    qtest_writeq(s, RAM_ADDR, 0x1122334455667788ULL);
    uint16_t w = qtest_readw(s, RAM_ADDR + 2);
    uint8_t b = qtest_readb(s, RAM_ADDR + 7);
    uint32_t l = qtest_readl(s, RAM_ADDR + 4);
    CHECK(t, w == 0x5566 && b == 0x11 && l == 0x11223344, "protocol little-endian sub-reads",
          "w %04x b %02x l %08x", w, b, l);
}

/*
 * Replies far larger than a socket buffer (a 1 MiB read is a 2 MiB hex
 * line) must arrive whole even though the test only reads them after
 * sending the command.
 */
static void test_large_reply(const QTarget *t, QTestState *s)
{
    size_t n = 1 << 20;
    uint8_t *buf = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 12));
    qtest_bufwrite(s, RAM_ADDR, buf, n);
    qtest_memread(s, RAM_ADDR, back, n);
    CHECK(t, memcmp(buf, back, n) == 0, "protocol 1 MiB read reply arrives whole", "%s",
          qtest_broken(s) ? qtest_broken(s) : "mismatch");
    memset(back, 0, n);
    qtest_bufread(s, RAM_ADDR, back, n);
    CHECK(t, memcmp(buf, back, n) == 0, "protocol 1 MiB b64read reply arrives whole", "%s",
          qtest_broken(s) ? qtest_broken(s) : "mismatch");
    free(buf);
    free(back);
}

static void test_clock(const QTarget *t, QTestState *s)
{
    if (!t->has_clock) {
        qtest_skip(t, "protocol clock_step", "no clock_step on this target");
        return;
    }
    int64_t a = qtest_clock_step(s, 1000);
    int64_t b = qtest_clock_step(s, 2500);
    CHECK(t, a >= 1000 && b == a + 2500, "protocol clock_step", "clock %lld then %lld",
          (long long)a, (long long)b);
    int64_t c = qtest_clock_set(s, b + 10000);
    CHECK(t, c == b + 10000, "protocol clock_set", "clock %lld", (long long)c);
    char *r = qtest_command(s, "clock_set %lld", (long long)(c - 5000));
    CHECK(t, r && strncmp(r, "FAIL", 4) == 0, "protocol clock_set into the past fails", "reply %s",
          r ? r : "(none)");
    free(r);
}

/* vmm only: each must FAIL (not crash), and the server must keep answering. */
static void test_hostile(const QTarget *t, QTestState *s)
{
    static const char *const bad[] = {
        "outb", "inb", "inb 0x10000", "outb zz 1", "inw 12abc", "readb", "writeq 0x100000",
        "read 0x100000 0", "read 0 0xffffffffffffffff", "b64read 0 0x7fffffffffff",
        "memset 0 0xffffffffffffffff 1", "write 0x100000 4 0xzz", "b64write 0x100000 4 !!!!",
        "clock_step -5", "clock_step abc", "irq_intercept_in", "",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char name[96];
        snprintf(name, sizeof(name), "protocol hostile '%s' fails", bad[i]);
        char *r = qtest_command(s, "%s", bad[i]);
        CHECK(t, r && strncmp(r, "FAIL", 4) == 0, name, "reply %s", r ? r : qtest_broken(s));
        free(r);
    }

    /* Accesses outside RAM and devices are dropped / read as ones. */
    CHECK(t, reply_is(s, "OK", "writeq 0xfffffffffffffff0 1"), "protocol hostile write outside ram",
          "not OK");
    CHECK(t, reply_starts(s, "OK 0x", "readq 0xfffffffffffffffc"),
          "protocol hostile read across the top of memory", "not OK");

    /* A line longer than the server's limit is refused as a whole. */
    size_t n = 5 << 20;
    char *line = malloc(n + 1);
    memset(line, 'a', n);
    line[n] = '\0';
    char *r = qtest_command(s, "%s", line);
    CHECK(t, r && strncmp(r, "FAIL", 4) == 0, "protocol hostile over-long line fails", "reply %.40s",
          r ? r : qtest_broken(s));
    free(r);
    free(line);

    CHECK(t, reply_is(s, "OK little", "endianness"), "protocol still answering after hostile input",
          "no");
    CHECK(t, reply_is(s, "OK", "irq_intercept_in ioapic") &&
             reply_is(s, "OK", "irq_intercept_in ioapic") &&
             reply_starts(s, "FAIL", "irq_intercept_in /machine/other"),
          "protocol irq intercept only once", "wrong replies");
}

/* vmm only: re-intercepting the same long device path is still OK (the
 * name was once cut at 255 bytes, so the second compare failed). */
static void test_long_intercept_name(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "protocol long intercept start", "-serial null");
    if (!s)
        return;
    char name[400];
    memset(name, 'p', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    bool first = qtest_irq_intercept_in(s, name);
    bool again = qtest_irq_intercept_in(s, name);
    CHECK(t, first && again, "protocol irq intercept of a long path twice", "first %d again %d",
          first, again);
    qtest_quit(s);
}

/* -qtest-log FILE records each request ("[R +secs] ...") and reply
 * ("[S +secs] ..."), as QEMU does. */
static void test_log(const QTarget *t)
{
    char *log = qtest_tmp_path(".log");
    QTestState *s = qtest_start_target(t, "protocol log start", "-serial null -qtest-log %s", log);
    if (!s) {
        free(log);
        return;
    }
    free(qtest_command(s, "inb 0x3fc"));
    qtest_quit(s);
    char *text = qtest_slurp(log, NULL);
    CHECK(t, text && strstr(text, "[R +") && strstr(text, "] inb 0x3fc") && strstr(text, "[S +") &&
             strstr(text, "] OK 0x"),
          "protocol -qtest-log records requests and replies", "log: %.200s", text ? text : "(none)");
    free(text);
    unlink(log);
    free(log);
}

static void test_protocol(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "protocol start", "-serial null");
    if (!s)
        return;
    test_formats(t, s);
    test_ram(t, s);
    test_large_reply(t, s);
    test_clock(t, s);
    if (!t->is_qemu)
        test_hostile(t, s);
    CHECK(t, !qtest_broken(s), "protocol connection", "%s", qtest_broken(s));
    int status = qtest_quit(s);
    if (!t->is_qemu)
        CHECK(t, status == 0, "protocol exits 0 when the qtest socket closes", "status %d", status);
    test_log(t);
    if (!t->is_qemu)
        test_long_intercept_name(t);
}

int main(void)
{
    return qtest_run_targets(test_protocol);
}
