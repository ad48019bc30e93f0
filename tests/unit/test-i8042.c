/*
 * i8042 keyboard controller through ports 0x60/0x64: controller commands,
 * the output port (reset line, A20), the minimal keyboard and mouse, the
 * status bits and the IRQ 1 / IRQ 12 levels.
 */
#include <string.h>

#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "unit.h"
#include "util.h"

#define DATA 0x60
#define CMD 0x64
#define STAT_OBF 0x01
#define STAT_SYS 0x04
#define STAT_CMD 0x08
#define STAT_AUXB 0x20

static I8042State *setup(void)
{
    fake_hw_setup();
    I8042State *s = i8042_create();
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Read the output buffer, which must be full. */
static uint8_t read_obuf(void)
{
    ck_assert_uint_eq(inb(CMD) & STAT_OBF, STAT_OBF);
    return inb(DATA);
}

START_TEST(power_on_state)
{
    setup();
    ck_assert_uint_eq(inb(CMD), 0x18);
    outb(CMD, 0x20);
    ck_assert_uint_eq(read_obuf(), 0x03);
    ck_assert_uint_eq(inb(CMD) & STAT_OBF, 0);
}
END_TEST

START_TEST(self_test)
{
    setup();
    outb(CMD, 0xaa);
    ck_assert_uint_eq(inb(CMD) & (STAT_OBF | STAT_SYS | STAT_CMD),
                      STAT_OBF | STAT_SYS | STAT_CMD);
    ck_assert_uint_eq(inb(DATA), 0x55);
    ck_assert_uint_eq(inb(CMD) & STAT_OBF, 0);
    outb(CMD, 0xab);
    ck_assert_uint_eq(read_obuf(), 0x00);
    outb(CMD, 0xa9);
    ck_assert_uint_eq(read_obuf(), 0x00);
}
END_TEST

START_TEST(command_byte_round_trip)
{
    setup();
    outb(CMD, 0x60);
    outb(DATA, 0x47);
    ck_assert_uint_eq(inb(CMD) & STAT_CMD, 0);   /* last write was data */
    outb(CMD, 0x20);
    ck_assert_uint_eq(read_obuf(), 0x47);
    ck_assert_uint_eq(inb(CMD) & STAT_SYS, STAT_SYS);
    outb(CMD, 0xa7);              /* aux disable sets bit 5 */
    outb(CMD, 0xad);              /* kbd disable sets bit 4 */
    outb(CMD, 0x20);
    ck_assert_uint_eq(read_obuf(), 0x77);
    outb(CMD, 0xa8);
    outb(CMD, 0xae);
    outb(CMD, 0x20);
    ck_assert_uint_eq(read_obuf(), 0x47);
}
END_TEST

START_TEST(output_port_a20)
{
    setup();
    outb(CMD, 0xd0);
    uint8_t out = read_obuf();
    ck_assert_uint_eq(out & 0x03, 0x03);
    outb(CMD, 0xd1);
    outb(DATA, out & ~0x02);      /* A20 off, reset line stays high */
    outb(CMD, 0xd0);
    ck_assert_uint_eq(read_obuf() & 0x03, 0x01);
    outb(CMD, 0xdf);              /* A20 on */
    outb(CMD, 0xd0);
    ck_assert_uint_eq(read_obuf() & 0x03, 0x03);
    ck_assert_int_eq(resets, 0);
}
END_TEST

START_TEST(reset_commands)
{
    setup();
    outb(CMD, 0xfe);
    ck_assert_int_eq(resets, 1);
    ck_assert_int_eq(last_reset_cause, SHUTDOWN_CAUSE_GUEST_RESET);
    outb(CMD, 0xff);              /* pulses nothing */
    outb(CMD, 0xf1);
    ck_assert_int_eq(resets, 1);
    outb(CMD, 0xf0);              /* pulses bits 0-3, including reset */
    ck_assert_int_eq(resets, 2);
    outb(CMD, 0xd1);
    outb(DATA, 0xce);             /* output port bit 0 low */
    ck_assert_int_eq(resets, 3);
}
END_TEST

START_TEST(keyboard_reset_and_identify)
{
    setup();
    outb(DATA, 0xff);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    ck_assert_uint_eq(read_obuf(), 0xaa);
    ck_assert_uint_eq(inb(CMD) & STAT_OBF, 0);
    outb(DATA, 0xf2);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    ck_assert_uint_eq(read_obuf(), 0xab);
    ck_assert_uint_eq(read_obuf(), 0x83);
    /* With translation the second ID byte arrives as 0x41. */
    outb(CMD, 0x60);
    outb(DATA, 0x43);
    outb(DATA, 0xf2);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    ck_assert_uint_eq(read_obuf(), 0xab);
    ck_assert_uint_eq(read_obuf(), 0x41);
}
END_TEST

START_TEST(keyboard_commands)
{
    setup();
    outb(DATA, 0xee);
    ck_assert_uint_eq(read_obuf(), 0xee);
    outb(DATA, 0xed);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0x07);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0xf3);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0x20);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0xf0);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0x00);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    ck_assert_uint_eq(read_obuf(), 0x02);
    outb(DATA, 0xf5);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0xf4);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0xf6);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    outb(DATA, 0x12);             /* not a command */
    ck_assert_uint_eq(read_obuf(), 0xfe);
}
END_TEST

START_TEST(aux_port)
{
    setup();
    outb(CMD, 0xd4);
    outb(DATA, 0xf2);
    ck_assert_uint_eq(inb(CMD) & (STAT_OBF | STAT_AUXB), STAT_OBF | STAT_AUXB);
    ck_assert_int_eq(irq_levels[12], 1);
    ck_assert_int_eq(irq_levels[1], 0);
    ck_assert_uint_eq(inb(DATA), 0xfa);
    ck_assert_uint_eq(read_obuf(), 0x00);
    ck_assert_int_eq(irq_levels[12], 0);
    ck_assert_uint_eq(inb(CMD) & STAT_AUXB, 0);
    outb(CMD, 0xd4);
    outb(DATA, 0xff);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    ck_assert_uint_eq(read_obuf(), 0xaa);
    ck_assert_uint_eq(read_obuf(), 0x00);
    outb(CMD, 0xd4);
    outb(DATA, 0xe9);
    ck_assert_uint_eq(read_obuf(), 0xfa);
    ck_assert_uint_eq(read_obuf(), 0x00);
    ck_assert_uint_eq(read_obuf(), 0x02);
    ck_assert_uint_eq(read_obuf(), 100);
    /* 0xd3 loops a byte back as if from the mouse (Linux's AUX probe). */
    outb(CMD, 0xd3);
    outb(DATA, 0x5a);
    ck_assert_uint_eq(inb(CMD) & STAT_AUXB, STAT_AUXB);
    ck_assert_uint_eq(inb(DATA), 0x5a);
    outb(CMD, 0xd2);
    outb(DATA, 0xa5);
    ck_assert_uint_eq(inb(CMD) & (STAT_OBF | STAT_AUXB), STAT_OBF);
    ck_assert_uint_eq(inb(DATA), 0xa5);
}
END_TEST

START_TEST(keyboard_irq_level)
{
    setup();
    outb(DATA, 0xff);
    ck_assert_int_eq(irq_levels[1], 1);
    ck_assert_int_eq(irq_raises[1], 1);
    inb(DATA);
    /* The next byte refilled the buffer: a fresh rising edge. */
    ck_assert_int_eq(irq_levels[1], 1);
    ck_assert_int_eq(irq_raises[1], 2);
    inb(DATA);
    ck_assert_int_eq(irq_levels[1], 0);
    /* KBD_INT off: no IRQ 1. */
    outb(CMD, 0x60);
    outb(DATA, 0x00);
    outb(DATA, 0xee);
    ck_assert_int_eq(irq_levels[1], 0);
    ck_assert_uint_eq(read_obuf(), 0xee);
}
END_TEST

START_TEST(scancode_input)
{
    I8042State *s = setup();
    ck_assert(!i8042_kbd_translating(s));
    i8042_kbd_put(s, 0x1c);
    ck_assert_int_eq(irq_levels[1], 1);
    ck_assert_uint_eq(read_obuf(), 0x1c);
    outb(DATA, 0xf5);             /* scanning off: input dropped */
    ck_assert_uint_eq(read_obuf(), 0xfa);
    i8042_kbd_put(s, 0x1c);
    ck_assert_uint_eq(inb(CMD) & STAT_OBF, 0);
    outb(CMD, 0x60);
    outb(DATA, 0x61);
    ck_assert(i8042_kbd_translating(s));
}
END_TEST

START_TEST(queue_overflow_is_safe)
{
    setup();
    for (int i = 0; i < 100; i++) {
        outb(DATA, 0xf2);
        outb(CMD, 0xd4);
        outb(DATA, 0xe9);
        outb(CMD, 0x20);
    }
    int n = 0;
    while ((inb(CMD) & STAT_OBF) && n < 1000) {
        inb(DATA);
        n++;
    }
    ck_assert_int_lt(n, 1000);
    ck_assert_int_eq(irq_levels[1], 0);
    ck_assert_int_eq(irq_levels[12], 0);
    for (int c = 0; c < 256; c++) {
        if (c == 0xfe || (c >= 0xf0 && !(c & 1)) || c == 0xd1)
            continue;
        outb(CMD, c);
        outb(DATA, 0xff);
    }
    ck_assert_int_eq(resets, 0);
}
END_TEST

START_TEST(system_reset_clears_state)
{
    setup();
    outb(CMD, 0x60);
    outb(DATA, 0x65);
    outb(DATA, 0xff);
    ck_assert_int_eq(irq_levels[1], 1);
    reset_all();
    ck_assert_int_eq(irq_levels[1], 0);
    ck_assert_uint_eq(inb(CMD), 0x18);
    outb(CMD, 0x20);
    ck_assert_uint_eq(read_obuf(), 0x03);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("i8042");
    UNIT_TEST(s, power_on_state);
    UNIT_TEST(s, self_test);
    UNIT_TEST(s, command_byte_round_trip);
    UNIT_TEST(s, output_port_a20);
    UNIT_TEST(s, reset_commands);
    UNIT_TEST(s, keyboard_reset_and_identify);
    UNIT_TEST(s, keyboard_commands);
    UNIT_TEST(s, aux_port);
    UNIT_TEST(s, keyboard_irq_level);
    UNIT_TEST(s, scancode_input);
    UNIT_TEST(s, queue_overflow_is_safe);
    UNIT_TEST(s, system_reset_clears_state);
    return unit_run(s);
}
