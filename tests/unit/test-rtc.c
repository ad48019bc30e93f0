/*
 * MC146818 RTC/CMOS through ports 0x70/0x71 on the manual virtual clock:
 * BCD/binary and 12/24-hour formats, SET, UIP, the periodic, update and
 * alarm interrupts on IRQ 8, and the CMOS memory-size bytes.
 */
#include <string.h>

#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "unit.h"
#include "util.h"

#define MS (1000 * 1000LL)
#define SEC (1000 * MS)

static uint8_t cmos_read(uint8_t idx)
{
    outb(0x70, idx);
    return inb(0x71);
}

static void cmos_write(uint8_t idx, uint8_t val)
{
    outb(0x70, idx);
    outb(0x71, val);
}

static RtcState *setup(void)
{
    fake_hw_setup();
    vclock_set_manual(true);
    RtcState *s = rtc_create();
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Set 2024-02-29 23:59:58 (a Thursday) in BCD/24h with SET held. */
static void set_known_time(void)
{
    cmos_write(0x0b, 0x82);
    cmos_write(0x00, 0x58);
    cmos_write(0x02, 0x59);
    cmos_write(0x04, 0x23);
    cmos_write(0x06, 0x05);
    cmos_write(0x07, 0x29);
    cmos_write(0x08, 0x02);
    cmos_write(0x09, 0x24);
    cmos_write(0x32, 0x20);
    cmos_write(0x0b, 0x02);
}

/* Restart the divider: the next update is exactly 500 ms from now. */
static void align_phase(void)
{
    cmos_write(0x0a, 0x70);
    cmos_write(0x0a, 0x26);
}

START_TEST(power_on_registers)
{
    setup();
    ck_assert_uint_eq(cmos_read(0x0a) & 0x7f, 0x26);
    ck_assert_uint_eq(cmos_read(0x0b), 0x02);
    ck_assert_uint_eq(cmos_read(0x0c), 0x00);
    ck_assert_uint_eq(cmos_read(0x0d), 0x80);
    /* Host time: the century is 20 and every byte is valid BCD. */
    ck_assert_uint_eq(cmos_read(0x32), 0x20);
    uint8_t sec = cmos_read(0x00);
    ck_assert_uint_lt(sec >> 4, 6);
    ck_assert_uint_lt(sec & 0xf, 10);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
}
END_TEST

START_TEST(bcd_and_binary)
{
    setup();
    set_known_time();
    ck_assert_uint_eq(cmos_read(0x00), 0x58);
    ck_assert_uint_eq(cmos_read(0x04), 0x23);
    ck_assert_uint_eq(cmos_read(0x07), 0x29);
    ck_assert_uint_eq(cmos_read(0x09), 0x24);
    cmos_write(0x0b, 0x06);       /* binary */
    ck_assert_uint_eq(cmos_read(0x00), 58);
    ck_assert_uint_eq(cmos_read(0x02), 59);
    ck_assert_uint_eq(cmos_read(0x09), 24);
    ck_assert_uint_eq(cmos_read(0x32), 20);
    /* Rolls over into March 1st (leap year), a Friday. */
    warp_by(2 * SEC);
    ck_assert_uint_eq(cmos_read(0x08), 3);
    ck_assert_uint_eq(cmos_read(0x07), 1);
    ck_assert_uint_eq(cmos_read(0x06), 6);
    ck_assert_uint_eq(cmos_read(0x04), 0);
}
END_TEST

START_TEST(twelve_hour_mode)
{
    setup();
    set_known_time();
    cmos_write(0x0b, 0x00);       /* BCD, 12-hour */
    ck_assert_uint_eq(cmos_read(0x04), 0x91);   /* 11 PM */
    warp_by(2 * SEC);
    ck_assert_uint_eq(cmos_read(0x04), 0x12);   /* 12 AM */
    /* Set 1:30 PM in 12-hour mode and read it back in 24-hour mode. */
    cmos_write(0x0b, 0x80);
    cmos_write(0x04, 0x81);
    cmos_write(0x02, 0x30);
    cmos_write(0x0b, 0x00);
    cmos_write(0x0b, 0x02);
    ck_assert_uint_eq(cmos_read(0x04), 0x13);
    ck_assert_uint_eq(cmos_read(0x02), 0x30);
}
END_TEST

START_TEST(set_freezes_and_sets_time)
{
    setup();
    set_known_time();
    cmos_write(0x0b, 0x82);       /* SET */
    warp_by(5 * SEC);
    ck_assert_uint_eq(cmos_read(0x00), 0x58);
    cmos_write(0x00, 0x10);
    cmos_write(0x02, 0x20);
    ck_assert_uint_eq(cmos_read(0x00), 0x10);
    cmos_write(0x0b, 0x02);
    ck_assert_uint_eq(cmos_read(0x00), 0x10);
    ck_assert_uint_eq(cmos_read(0x02), 0x20);
    warp_by(3 * SEC);
    ck_assert_uint_eq(cmos_read(0x00), 0x13);
}
END_TEST

START_TEST(uip_window)
{
    setup();
    set_known_time();
    align_phase();                /* update at +500 ms */
    ck_assert_uint_eq(cmos_read(0x0a) & 0x80, 0);
    warp_by(500 * MS - 100 * 1000);   /* 100 us before the update */
    ck_assert_uint_eq(cmos_read(0x0a) & 0x80, 0x80);
    ck_assert_uint_eq(cmos_read(0x00), 0x58);
    warp_by(200 * 1000);
    ck_assert_uint_eq(cmos_read(0x0a) & 0x80, 0);
    ck_assert_uint_eq(cmos_read(0x00), 0x59);
    /* Divider held in reset: the clock stands still. */
    cmos_write(0x0a, 0x70);
    warp_by(3 * SEC);
    ck_assert_uint_eq(cmos_read(0x00), 0x59);
    ck_assert_uint_eq(cmos_read(0x0a) & 0x80, 0);
}
END_TEST

START_TEST(periodic_irq)
{
    setup();
    cmos_write(0x0a, 0x26);       /* 1024 Hz */
    cmos_write(0x0b, 0x42);       /* PIE */
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    warp_by(1 * MS);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 1);
    uint8_t c = cmos_read(0x0c);
    ck_assert_uint_eq(c & 0xc0, 0xc0);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    ck_assert_uint_eq(cmos_read(0x0c) & 0xc0, 0);
    /* Stays quiet until the next edge, then fires again. */
    warp_by(1 * MS);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 1);
    cmos_read(0x0c);
    cmos_write(0x0b, 0x02);       /* PIE off */
    warp_by(10 * MS);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    /* PF is still visible to a poller, without IRQF. */
    ck_assert_uint_eq(cmos_read(0x0c) & 0xc0, 0x40);
}
END_TEST

START_TEST(periodic_rate_2hz)
{
    setup();
    cmos_write(0x0a, 0x2f);       /* RS 15: 2 Hz */
    cmos_write(0x0b, 0x42);
    cmos_read(0x0c);
    int64_t now = clock_ns(CLOCK_VIRTUAL_NS);
    int64_t next = (now / (500 * MS) + 1) * (500 * MS);
    vclock_warp(next - 1000);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    vclock_warp(next + 1000);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 1);
}
END_TEST

START_TEST(update_ended_irq)
{
    setup();
    set_known_time();
    align_phase();
    cmos_write(0x0b, 0x12);       /* UIE */
    warp_by(400 * MS);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    warp_by(200 * MS);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 1);
    /* PF may be set too (the divider runs at 1024 Hz), but not enabled. */
    ck_assert_uint_eq(cmos_read(0x0c) & 0xb0, 0x90);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    /* SET clears UIE (datasheet). */
    cmos_write(0x0b, 0x92);
    ck_assert_uint_eq(cmos_read(0x0b), 0x82);
}
END_TEST

START_TEST(alarm_irq)
{
    setup();
    set_known_time();             /* 23:59:58 */
    align_phase();
    cmos_write(0x01, 0x01);       /* alarm at seconds == 01 */
    cmos_write(0x03, 0xc0);       /* any minute */
    cmos_write(0x05, 0xff);       /* any hour */
    cmos_write(0x0b, 0x22);       /* AIE */
    warp_by(2 * SEC);             /* 00:00:00 */
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    cmos_read(0x0c);
    warp_by(1 * SEC);             /* 00:00:01 */
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 1);
    ck_assert_uint_eq(cmos_read(0x0c) & 0xa0, 0xa0);
}
END_TEST

START_TEST(index_ignores_nmi_bit)
{
    setup();
    cmos_write(0x40, 0x5a);
    as_write(&pio_space, 0x70, 1, 0x80 | 0x40);
    uint64_t v = 0;
    as_read(&pio_space, 0x71, 1, &v);
    ck_assert_uint_eq(v, 0x5a);
    as_read(&pio_space, 0x70, 1, &v);
    ck_assert_uint_eq(v & 0xff, 0xff);
    cmos_write(0x0d, 0x00);       /* read-only */
    ck_assert_uint_eq(cmos_read(0x0d), 0x80);
}
END_TEST

START_TEST(memory_info)
{
    RtcState *s = setup();
    rtc_set_memory_info(s, 512 * MiB, 1 * GiB, 4);
    ck_assert_uint_eq(cmos_read(0x15) | cmos_read(0x16) << 8, 640);
    ck_assert_uint_eq(cmos_read(0x17) | cmos_read(0x18) << 8, 0xffff);
    ck_assert_uint_eq(cmos_read(0x30) | cmos_read(0x31) << 8, 0xffff);
    ck_assert_uint_eq(cmos_read(0x34) | cmos_read(0x35) << 8, (512 - 16) * 16);
    ck_assert_uint_eq(cmos_read(0x5b) | cmos_read(0x5c) << 8 | cmos_read(0x5d) << 16,
                      16384);
    ck_assert_uint_eq(cmos_read(0x5f), 3);
    ck_assert_uint_eq(cmos_read(0x14), 0x06);
    unsigned sum = 0;
    for (int i = 0x10; i <= 0x2d; i++)
        sum += cmos_read(i);
    ck_assert_uint_eq(cmos_read(0x2e) << 8 | cmos_read(0x2f), sum);

    rtc_set_memory_info(s, 8 * MiB, 0, 1);
    ck_assert_uint_eq(cmos_read(0x17) | cmos_read(0x18) << 8, 7 * 1024);
    ck_assert_uint_eq(cmos_read(0x34) | cmos_read(0x35) << 8, 0);
    ck_assert_uint_eq(cmos_read(0x5f), 0);
    rtc_cmos_set(s, 0x3d, 0x12);
    ck_assert_uint_eq(rtc_cmos_get(s, 0x3d), 0x12);
}
END_TEST

START_TEST(reset_keeps_nvram)
{
    setup();
    cmos_write(0x50, 0xab);
    cmos_write(0x0b, 0x7a);       /* PIE AIE UIE SQWE + 24h */
    warp_by(2 * SEC);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 1);
    reset_all();
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 0);
    ck_assert_uint_eq(cmos_read(0x50), 0xab);
    ck_assert_uint_eq(cmos_read(0x0b), 0x02);
    ck_assert_uint_eq(cmos_read(0x0c), 0x00);
}
END_TEST

START_TEST(hostile_time_values)
{
    setup();
    cmos_write(0x0b, 0x82);
    for (int i = 0; i <= 9; i++)
        cmos_write(i, 0xff);
    cmos_write(0x32, 0xff);
    cmos_write(0x0b, 0x02);
    warp_by(3 * SEC);
    for (int i = 0; i < 128; i++)
        cmos_read(i);
    cmos_write(0x0a, 0x21);       /* RS 1 behaves as RS 8 */
    cmos_write(0x0b, 0x42);
    warp_by(10 * MS);
    ck_assert_int_eq(irq_levels[RTC_ISA_IRQ], 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rtc");
    UNIT_TEST(s, power_on_registers);
    UNIT_TEST(s, bcd_and_binary);
    UNIT_TEST(s, twelve_hour_mode);
    UNIT_TEST(s, set_freezes_and_sets_time);
    UNIT_TEST(s, uip_window);
    UNIT_TEST(s, periodic_irq);
    UNIT_TEST(s, periodic_rate_2hz);
    UNIT_TEST(s, update_ended_irq);
    UNIT_TEST(s, alarm_irq);
    UNIT_TEST(s, index_ignores_nmi_bit);
    UNIT_TEST(s, memory_info);
    UNIT_TEST(s, reset_keeps_nvram);
    UNIT_TEST(s, hostile_time_values);
    return unit_run(s);
}
