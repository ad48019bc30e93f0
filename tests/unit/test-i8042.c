/*
 * i8042 keyboard controller through ports 0x60/0x64: controller commands,
 * the output port (reset line, A20), the PS/2 keyboard (scan code sets,
 * translation, commands) and mouse (packets, IntelliMouse, remote and wrap
 * modes), the status bits, the IRQ 1 / IRQ 12 levels and migration.
 */
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <string.h>

#include "devices.h"
#include "ui.h"
#include "migration.h"
#include "vmstate.h"
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

/* Read every byte now in the output buffer (at most n) into out. */
static size_t read_all(uint8_t *out, size_t n)
{
    size_t k = 0;
    while (k < n && (inb(CMD) & STAT_OBF))
        out[k++] = inb(DATA);
    return k;
}

static void expect_bytes(const uint8_t *want, size_t n)
{
    uint8_t got[64];
    size_t k = read_all(got, sizeof(got));
    char txt[200] = "";
    for (size_t i = 0; i < k && i < 60; i++)
        snprintf(txt + strlen(txt), sizeof(txt) - strlen(txt), " %02x", got[i]);
    ck_assert_msg(k == n, "got %zu bytes (%s), want %zu", k, txt, n);
    if (n)
        ck_assert_mem_eq(got, want, n);
}
#define EXPECT(...) \
    expect_bytes((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))
#define EXPECT_NONE() expect_bytes(NULL, 0)

static void write_mode(uint8_t mode)
{
    outb(CMD, 0x60);
    outb(DATA, mode);
}

static void kbd_cmd(uint8_t b)
{
    outb(DATA, b);
}

static void aux_cmd(uint8_t b)
{
    outb(CMD, 0xd4);
    outb(DATA, b);
}

static void key(unsigned code, bool down)
{
    input_key_event(code, down);
}

START_TEST(scancode_input)
{
    setup();
    key(KEY_A, true);
    ck_assert_int_eq(irq_levels[1], 1);
    EXPECT(0x1c);
    key(KEY_A, false);
    EXPECT(0xf0, 0x1c);
    kbd_cmd(0xf5);                /* scanning off: input dropped */
    EXPECT(0xfa);
    key(KEY_A, true);
    EXPECT_NONE();
    kbd_cmd(0xf4);
    EXPECT(0xfa);
    key(KEY_A, true);
    EXPECT(0x1c);
}
END_TEST

START_TEST(scancode_set2_sequences)
{
    setup();
    key(KEY_RIGHTCTRL, true);
    EXPECT(0xe0, 0x14);
    key(KEY_RIGHTCTRL, false);
    EXPECT(0xe0, 0xf0, 0x14);
    key(KEY_DELETE, true);
    key(KEY_DELETE, false);
    EXPECT(0xe0, 0x71, 0xe0, 0xf0, 0x71);
    key(KEY_F7, true);
    EXPECT(0x83);
    key(KEY_PAUSE, true);
    EXPECT(0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77);
    key(KEY_PAUSE, false);
    EXPECT_NONE();
    key(KEY_SYSRQ, true);         /* PrintScreen: fake shift + E0 7C */
    EXPECT(0xe0, 0x12, 0xe0, 0x7c);
    key(KEY_SYSRQ, false);
    EXPECT(0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12);
    key(KEY_LEFTCTRL, true);      /* Ctrl+Pause is Break */
    key(KEY_PAUSE, true);
    EXPECT(0x14, 0xe0, 0x7e, 0xe0, 0xf0, 0x7e);
    key(KEY_LEFTCTRL, false);
    key(KEY_LEFTALT, true);       /* Alt+PrintScreen is SysRq */
    key(KEY_SYSRQ, true);
    EXPECT(0xf0, 0x14, 0x11, 0x84);
}
END_TEST

START_TEST(scancode_set1_and_set3)
{
    setup();
    kbd_cmd(0xf0);
    kbd_cmd(0x01);
    EXPECT(0xfa, 0xfa);
    key(KEY_A, true);
    key(KEY_A, false);
    EXPECT(0x1e, 0x9e);
    key(KEY_UP, true);
    key(KEY_UP, false);
    EXPECT(0xe0, 0x48, 0xe0, 0xc8);
    key(KEY_PAUSE, true);
    EXPECT(0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
    key(KEY_SYSRQ, true);
    key(KEY_SYSRQ, false);
    EXPECT(0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa);
    kbd_cmd(0xf0);
    kbd_cmd(0x03);
    EXPECT(0xfa, 0xfa);
    kbd_cmd(0xf0);
    kbd_cmd(0x00);
    EXPECT(0xfa, 0xfa, 0x03);
    key(KEY_A, true);
    key(KEY_A, false);
    EXPECT(0x1c, 0xf0, 0x1c);
    key(KEY_ESC, true);           /* set 3 differs from set 2 here */
    key(KEY_F1, true);
    key(KEY_UP, true);            /* no E0 prefixes in set 3 */
    key(KEY_LEFTCTRL, true);
    EXPECT(0x08, 0x07, 0x63, 0x11);
    key(KEY_PAUSE, true);
    key(KEY_PAUSE, false);
    EXPECT(0x62, 0xf0, 0x62);
}
END_TEST

/* The controller translates set 2 to set 1 (command byte bit 6): the
 * guest reads set 1 with the default set 2. */
START_TEST(translation)
{
    setup();
    write_mode(0x47);
    key(KEY_A, true);
    key(KEY_A, false);
    EXPECT(0x1e, 0x9e);
    key(KEY_KPENTER, true);
    key(KEY_KPENTER, false);
    EXPECT(0xe0, 0x1c, 0xe0, 0x9c);
    key(KEY_F7, true);
    EXPECT(0x41);
    key(KEY_PAUSE, true);
    EXPECT(0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
    key(KEY_SYSRQ, true);
    key(KEY_SYSRQ, false);
    EXPECT(0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa);
    kbd_cmd(0xf0);                /* the set number is translated too */
    kbd_cmd(0x00);
    EXPECT(0xfa, 0xfa, 0x41);
    /* Every key's set-2 code translates to its set-1 code. */
    for (unsigned kc = 1; kc < 256; kc++) {
        uint8_t s1[PS2_MAX_SEQ], s2[PS2_MAX_SEQ];
        for (int down = 0; down < 2; down++) {
            size_t n1 = ps2_key_sequence(kc, 1, down, 0, s1);
            size_t n2 = ps2_key_sequence(kc, 2, down, 0, s2);
            uint8_t t[PS2_MAX_SEQ];
            size_t nt = 0;
            bool high = false;
            for (size_t i = 0; i < n2; i++) {
                if (s2[i] == 0xf0) {
                    high = true;
                    continue;
                }
                t[nt++] = ps2_translate_set2(s2[i]) | (high ? 0x80 : 0);
                high = false;
            }
            ck_assert_msg(nt == n1 && (n1 == 0 || !memcmp(t, s1, n1)),
                          "keycode %u down %d: set 2 does not translate to set 1", kc, down);
        }
    }
}
END_TEST

START_TEST(keyboard_more_commands)
{
    setup();
    kbd_cmd(0xf0);                /* bad set: RESEND */
    kbd_cmd(0x04);
    EXPECT(0xfa, 0xfe);
    kbd_cmd(0xee);
    EXPECT(0xee);
    kbd_cmd(0xfe);                /* resend the last byte */
    EXPECT(0xee);
    kbd_cmd(0xf7);                /* set-3 all-key modes: ACK */
    kbd_cmd(0xf8);
    kbd_cmd(0xf9);
    kbd_cmd(0xfa);
    EXPECT(0xfa, 0xfa, 0xfa, 0xfa);
    kbd_cmd(0xfb);                /* per-key mode + the key */
    kbd_cmd(0x1c);
    EXPECT(0xfa, 0xfa);
    kbd_cmd(0xf0);
    kbd_cmd(0x03);
    EXPECT(0xfa, 0xfa);
    kbd_cmd(0xf6);                /* defaults: back to set 2 */
    kbd_cmd(0xf0);
    kbd_cmd(0x00);
    EXPECT(0xfa, 0xfa, 0xfa, 0x02);
    kbd_cmd(0xed);                /* LEDs survive in the state */
    kbd_cmd(0x02);
    EXPECT(0xfa, 0xfa);
    kbd_cmd(0xf3);
    kbd_cmd(0x7f);
    EXPECT(0xfa, 0xfa);
}
END_TEST

START_TEST(keyboard_queue_overflow)
{
    setup();
    for (int i = 0; i < 20; i++)
        key(KEY_DELETE, true);    /* 2 bytes each: 1 in the buffer, 15 queued */
    uint8_t b[64];
    size_t n = read_all(b, sizeof(b));
    /* Whole sequences only: the buffer byte plus 7 complete pairs. */
    ck_assert_uint_eq(n, 16);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(b[i], i % 2 ? 0x71 : 0xe0);
    key(KEY_A, true);             /* room again */
    EXPECT(0x1c);
}
END_TEST

START_TEST(kbd_interface_disabled_holds_bytes)
{
    setup();
    outb(CMD, 0xad);
    key(KEY_A, true);
    ck_assert_uint_eq(inb(CMD) & STAT_OBF, 0);
    outb(CMD, 0xae);
    EXPECT(0x1c);
}
END_TEST

START_TEST(mouse_packets)
{
    setup();
    aux_cmd(0xf4);
    EXPECT(0xfa);
    input_pointer_rel(5, 3, 0, INPUT_BUTTON_LEFT);   /* dy down = negative PS/2 Y */
    ck_assert_int_eq(irq_levels[12], 1);
    ck_assert_uint_eq(inb(CMD) & STAT_AUXB, STAT_AUXB);
    EXPECT(0x08 | 0x20 | 0x01, 5, (uint8_t)-3);
    input_pointer_rel(-2, -4, 0, INPUT_BUTTON_RIGHT | INPUT_BUTTON_MIDDLE);
    EXPECT(0x08 | 0x10 | 0x06, (uint8_t)-2, 4);
    /* A big move is split: 255 then the rest. */
    input_pointer_rel(300, 0, 0, 0);
    EXPECT(0x08, 255, 0, 0x08, 45, 0);
    input_pointer_rel(-300, 0, 0, 0);
    EXPECT(0x18, 0x00, 0, 0x18, (uint8_t)-44, 0);
    aux_cmd(0xf5);                /* reporting off: motion ignored */
    EXPECT(0xfa);
    input_pointer_rel(1, 1, 0, 0);
    EXPECT_NONE();
}
END_TEST

START_TEST(mouse_intellimouse)
{
    setup();
    aux_cmd(0xf2);
    EXPECT(0xfa, 0x00);
    static const uint8_t knock3[] = { 200, 100, 80 }, knock4[] = { 200, 200, 80 };
    for (int i = 0; i < 3; i++) {
        aux_cmd(0xf3);
        aux_cmd(knock3[i]);
    }
    EXPECT(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
    aux_cmd(0xf2);
    EXPECT(0xfa, 0x03);
    aux_cmd(0xf4);
    EXPECT(0xfa);
    input_pointer_rel(1, 0, 2, 0);
    EXPECT(0x08, 1, 0, 2);
    input_pointer_rel(0, 0, -1, 0);
    EXPECT(0x08, 0, 0, 0xff);
    for (int i = 0; i < 3; i++) {
        aux_cmd(0xf3);
        aux_cmd(knock4[i]);
    }
    EXPECT(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
    aux_cmd(0xf2);
    EXPECT(0xfa, 0x04);
    input_pointer_rel(0, 0, -20, 0);   /* IMEX: 4-bit Z, rest carried */
    EXPECT(0x08, 0, 0, 0x08, 0x08, 0, 0, 0x08, 0x08, 0, 0, 0x0c);
    aux_cmd(0xff);                /* reset: back to ID 0 */
    EXPECT(0xfa, 0xaa, 0x00);
    aux_cmd(0xf2);
    EXPECT(0xfa, 0x00);
}
END_TEST

START_TEST(mouse_modes)
{
    setup();
    aux_cmd(0xe8);
    aux_cmd(0x03);
    aux_cmd(0xe7);
    aux_cmd(0xf3);
    aux_cmd(40);
    aux_cmd(0xf0);                /* remote mode */
    EXPECT(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
    aux_cmd(0xe9);
    EXPECT(0xfa, 0x50, 0x03, 40);
    input_pointer_rel(7, 0, 0, INPUT_BUTTON_LEFT);
    EXPECT_NONE();                /* remote: nothing until polled */
    aux_cmd(0xeb);
    EXPECT(0xfa, 0x09, 7, 0);
    aux_cmd(0xeb);
    EXPECT(0xfa, 0x09, 0, 0);
    aux_cmd(0xea);                /* stream again */
    aux_cmd(0xe6);
    aux_cmd(0xe9);
    EXPECT(0xfa, 0xfa, 0xfa, 0x00, 0x03, 40);
    aux_cmd(0xee);                /* wrap: echo */
    aux_cmd(0x12);
    aux_cmd(0xf2);
    aux_cmd(0xec);
    aux_cmd(0xf2);
    EXPECT(0xfa, 0x12, 0xf2, 0xfa, 0xfa, 0x00);
    aux_cmd(0xf6);
    aux_cmd(0xe9);
    EXPECT(0xfa, 0xfa, 0x00, 0x02, 100);
    aux_cmd(0x12);                /* unknown: no reply, as QEMU */
    EXPECT_NONE();
}
END_TEST

START_TEST(aux_interface_disabled)
{
    setup();
    aux_cmd(0xf4);
    EXPECT(0xfa);
    outb(CMD, 0xa7);
    input_pointer_rel(1, 0, 0, 0);
    ck_assert_uint_eq(inb(CMD) & STAT_OBF, 0);
    ck_assert_int_eq(irq_levels[12], 0);
    outb(CMD, 0xa8);
    EXPECT(0x08, 1, 0);
}
END_TEST

static int tablet_x = -1, tablet_y = -1;
static unsigned tablet_keys;

static void tablet_abs(void *opaque, int x, int y, int dz, unsigned buttons)
{
    tablet_x = x;
    tablet_y = y;
}

static void tablet_key(void *opaque, unsigned keycode, bool down)
{
    tablet_keys++;
}

/* Events go to the newest handler of their kind; absolute events become
 * relative PS/2 motion while no tablet exists. */
START_TEST(input_layer_routing)
{
    setup();
    ck_assert(input_has_keyboard());
    ck_assert(!input_has_absolute());
    aux_cmd(0xf4);
    EXPECT(0xfa);
    input_pointer_abs(0, 0, 0, 0);
    EXPECT(0x08, 0, 0);
    input_pointer_abs(INPUT_ABS_MAX / 2 + 1, 0, 0, 0);   /* half a 1024 screen */
    EXPECT(0x08, 255, 0, 0x08, 255, 0, 0x08, 2, 0);
    static const InputHandler tablet = {
        .name = "test tablet", .kinds = INPUT_KIND_ABS | INPUT_KIND_KEY,
        .abs = tablet_abs, .key = tablet_key,
    };
    input_register_handler(&tablet);
    ck_assert(input_has_absolute());
    input_pointer_abs(100, 99999, 0, 0);
    ck_assert_int_eq(tablet_x, 100);
    ck_assert_int_eq(tablet_y, INPUT_ABS_MAX);
    input_key_event(KEY_A, true);
    ck_assert_uint_eq(tablet_keys, 1);
    EXPECT_NONE();
    input_pointer_rel(1, 0, 0, 0);      /* relative still goes to PS/2 */
    EXPECT(0x08, 1, 0);
    input_unregister_handler(&tablet);
    input_key_event(KEY_A, true);
    EXPECT(0x1c);
}
END_TEST

static const VMStateDescription *find_section(void *opaque, int *inst)
{
    const VMStateDescription *vmsd;
    void *o;
    for (unsigned i = 0; vmstate_section_at(i, &vmsd, inst, &o); i++)
        if (o == opaque)
            return vmsd;
    return NULL;
}

START_TEST(migration_round_trip)
{
    I8042State *s = setup();
    write_mode(0x47);
    kbd_cmd(0xf0);
    kbd_cmd(0x03);
    aux_cmd(0xf3);
    aux_cmd(60);
    EXPECT(0xfa, 0xfa, 0xfa, 0xfa);
    key(KEY_B, true);             /* leave bytes in the buffer and queue */
    key(KEY_B, false);
    int inst = -1;
    const VMStateDescription *vmsd = find_section(s, &inst);
    ck_assert_ptr_nonnull(vmsd);
    ck_assert_str_eq(vmsd->name, "i8042");
    ck_assert_int_eq(inst, 0x60);
    MigStream *w = mig_stream_new_mem_writer();
    vmstate_save_state(w, vmsd, s);
    size_t len;
    const uint8_t *data = mig_stream_mem_data(w, &len);
    /* Change everything, then load the saved state back. */
    uint8_t junk[64];
    read_all(junk, sizeof(junk));
    write_mode(0x03);
    kbd_cmd(0xf0);
    kbd_cmd(0x02);
    read_all(junk, sizeof(junk));
    MigStream *r = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_state(r, vmsd, s, vmsd->version), 0);
    ck_assert_int_eq(irq_levels[1], 1);
    EXPECT(0x30, 0xb0);           /* set 3 'b' (0x32), translated, make + break */
    outb(CMD, 0x20);
    EXPECT(0x47);
    aux_cmd(0xe9);
    EXPECT(0xfa, 0x00, 0x02, 60);
    /* A corrupt stream (queue index out of range) is refused. */
    uint8_t bad[4096];
    ck_assert_uint_le(len, sizeof(bad));
    memcpy(bad, data, len);
    memset(bad + 8, 0xff, len - 8);
    MigStream *rb = mig_stream_new_mem(bad, len);
    ck_assert_int_eq(vmstate_load_state(rb, vmsd, s, vmsd->version), -1);
    mig_stream_close(r);
    mig_stream_close(rb);
    mig_stream_close(w);
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
    UNIT_TEST(s, scancode_set2_sequences);
    UNIT_TEST(s, scancode_set1_and_set3);
    UNIT_TEST(s, translation);
    UNIT_TEST(s, keyboard_more_commands);
    UNIT_TEST(s, keyboard_queue_overflow);
    UNIT_TEST(s, kbd_interface_disabled_holds_bytes);
    UNIT_TEST(s, mouse_packets);
    UNIT_TEST(s, mouse_intellimouse);
    UNIT_TEST(s, mouse_modes);
    UNIT_TEST(s, aux_interface_disabled);
    UNIT_TEST(s, input_layer_routing);
    UNIT_TEST(s, migration_round_trip);
    UNIT_TEST(s, queue_overflow_is_safe);
    UNIT_TEST(s, system_reset_clears_state);
    return unit_run(s);
}
