/*
 * MC146818 RTC and CMOS at 0x70/0x71 (IRQ 8), per the MC146818A datasheet:
 * register D's VRT bit, BCD and binary time formats, the SET bit, the
 * periodic interrupt, and the memory-size bytes the BIOS reads.
 */
#include "libqtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define REG_SEC 0x00
#define REG_MIN 0x02
#define REG_HOUR 0x04
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d

#define A_UIP 0x80
#define B_SET 0x80
#define B_PIE 0x40
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40

static uint8_t cmos_read(QTestState *s, uint8_t idx)
{
    qtest_outb(s, 0x70, idx);
    return qtest_inb(s, 0x71);
}

static void cmos_write(QTestState *s, uint8_t idx, uint8_t v)
{
    qtest_outb(s, 0x70, idx);
    qtest_outb(s, 0x71, v);
}

static bool is_bcd(uint8_t v)
{
    return (v & 0x0f) < 10 && (v >> 4) < 10;
}

static int from_bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

/* Read minutes while no update is in progress (datasheet: UIP). */
static uint8_t read_minutes(QTestState *s)
{
    for (int i = 0; i < 1000 && (cmos_read(s, REG_A) & A_UIP); i++)
        ;
    return cmos_read(s, REG_MIN);
}

static bool minutes_close(int got, int want)
{
    int d = (got - want + 60) % 60;
    return d <= 1 || d == 59;
}

static void test_time_formats(const QTarget *t, QTestState *s)
{
    uint8_t d = cmos_read(s, REG_D);
    CHECK(t, d & 0x80, "rtc register d vrt", "reg D %02x", d);

    cmos_write(s, REG_B, B_24H);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint8_t sec = cmos_read(s, REG_SEC), min = read_minutes(s), hour = cmos_read(s, REG_HOUR);
    CHECK(t, is_bcd(sec) && is_bcd(min) && is_bcd(hour) && minutes_close(from_bcd(min), tm.tm_min),
          "rtc bcd time matches host", "bcd %02x:%02x:%02x host %02d:%02d", hour, min, sec,
          tm.tm_hour, tm.tm_min);

    cmos_write(s, REG_B, B_24H | B_DM_BINARY);
    uint8_t bmin = read_minutes(s), bhour = cmos_read(s, REG_HOUR);
    CHECK(t, bmin < 60 && bhour < 24 && minutes_close(bmin, tm.tm_min), "rtc binary time matches host",
          "binary %u:%u host %02d:%02d", bhour, bmin, tm.tm_hour, tm.tm_min);

    /* SET halts updates so the time can be written (datasheet, register B).
     * Go back to BCD first: changing DM together with SET is undefined. */
    cmos_write(s, REG_B, B_24H);
    cmos_write(s, REG_B, B_SET | B_24H);
    cmos_write(s, REG_SEC, 0x30);
    cmos_write(s, REG_MIN, 0x15);
    cmos_write(s, REG_HOUR, 0x12);
    cmos_write(s, REG_B, B_24H);
    uint8_t h = cmos_read(s, REG_HOUR), m = cmos_read(s, REG_MIN), sc = cmos_read(s, REG_SEC);
    CHECK(t, h == 0x12 && m == 0x15 && sc >= 0x30 && sc <= 0x32, "rtc set time read back",
          "read %02x:%02x:%02x", h, m, sc);
}

static void test_periodic(const QTarget *t, QTestState *s)
{
    CHECK(t, qtest_irq_intercept_in(s, "ioapic"), "rtc irq_intercept_in ioapic", "reply not OK");
    cmos_read(s, REG_C);
    /* DV = 010 (32.768 kHz time base), RS = 15: 2 Hz, a 500 ms period. */
    cmos_write(s, REG_A, 0x2f);
    cmos_write(s, REG_B, B_24H | B_PIE);
    bool before = qtest_get_irq(s, 8);
    if (t->has_clock)
        qtest_clock_step(s, 600 * 1000 * 1000LL);
    else
        usleep(600 * 1000);   /* QEMU without qtest accel: -rtc clock=host */
    bool raised = qtest_get_irq(s, 8);
    uint8_t c = cmos_read(s, REG_C);
    bool after = qtest_get_irq(s, 8);
    CHECK(t, !before && raised, "rtc periodic interrupt raises irq 8", "before %d after 600 ms %d",
          before, raised);
    CHECK(t, (c & (C_IRQF | C_PF)) == (C_IRQF | C_PF) && !after, "rtc reg c pf/irqf, read lowers",
          "reg C %02x, irq after read %d", c, after);

    /* "clock_step" without a value jumps to the next timer deadline: the
     * next periodic tick, at most one 500 ms period away. */
    if (t->has_clock) {
        cmos_read(s, REG_C);
        int64_t before_ns = qtest_clock_step(s, 1);
        int64_t after_ns = qtest_clock_step_next(s);
        int64_t delta = after_ns - before_ns;
        bool tick = qtest_get_irq(s, 8);
        if (after_ns < 0)
            CHECK(t, false, "rtc clock_step to next deadline fires the tick",
                  "'clock_step' without a value replied FAIL");
        else
            CHECK(t, delta > 0 && delta <= 500000000LL && tick,
                  "rtc clock_step to next deadline fires the tick", "stepped %lld ns, irq %d",
                  (long long)delta, tick);
    }
    cmos_write(s, REG_B, B_24H);
    cmos_read(s, REG_C);
}

static void test_memory_size(const QTarget *t, QTestState *s)
{
    /* 128 MiB: extended memory above 1 MiB in KiB saturates at 0xffff
     * (0x30/0x31); memory above 16 MiB in 64 KiB units is 0x0700 (0x34/0x35). */
    uint8_t e0 = cmos_read(s, 0x30), e1 = cmos_read(s, 0x31);
    uint8_t h0 = cmos_read(s, 0x34), h1 = cmos_read(s, 0x35);
    CHECK(t, e0 == 0xff && e1 == 0xff, "rtc cmos extended memory 0x30/0x31", "%02x %02x", e0, e1);
    CHECK(t, h0 == 0x00 && h1 == 0x07, "rtc cmos memory above 16M 0x34/0x35", "%02x %02x", h0, h1);
}

static void test_rtc(const QTarget *t)
{
    /* QEMU's RTC timers follow the virtual clock only with -rtc clock=vm. */
    QTestState *s = qtest_start_target(t, "rtc start", "-serial null%s",
                                       t->is_qemu && t->has_clock ? " -rtc clock=vm" : "");
    if (!s)
        return;
    test_memory_size(t, s);
    test_time_formats(t, s);
    test_periodic(t, s);
    CHECK(t, !qtest_broken(s), "rtc connection", "%s", qtest_broken(s));
    qtest_quit(s);
}

int main(void)
{
    return qtest_run_targets(test_rtc);
}
