/*
 * i8042 keyboard controller at 0x60 (data) / 0x64 (status, command), as the
 * IBM PC/AT technical reference describes it: controller self test and
 * interface test, the command byte, and keyboard commands forwarded to the
 * PS/2 keyboard (reset, identify).
 */
#include "libqtest.h"

#include <stdio.h>

#define DATA 0x60
#define STATUS 0x64
#define ST_OBF 0x01

#define CB_XLATE 0x40

/* Wait (a bounded number of polls) for output and read it; -1 if none. */
static int read_data(QTestState *s)
{
    for (int i = 0; i < 100; i++) {
        if (qtest_inb(s, STATUS) & ST_OBF)
            return qtest_inb(s, DATA);
        if (qtest_broken(s))
            break;
    }
    return -1;
}

static void drain(QTestState *s)
{
    for (int i = 0; i < 32 && (qtest_inb(s, STATUS) & ST_OBF); i++)
        qtest_inb(s, DATA);
}

static void test_controller(const QTarget *t, QTestState *s)
{
    drain(s);
    qtest_outb(s, STATUS, 0xaa);
    uint8_t st = qtest_inb(s, STATUS);
    int r = read_data(s);
    CHECK(t, (st & ST_OBF) && r == 0x55, "i8042 self test 0xaa -> 0x55", "status %02x data %d", st,
          r);

    qtest_outb(s, STATUS, 0xab);
    r = read_data(s);
    CHECK(t, r == 0x00, "i8042 interface test 0xab -> 0x00", "data %d", r);

    uint8_t empty = qtest_inb(s, STATUS);
    CHECK(t, !(empty & ST_OBF), "i8042 obf clear after read", "status %02x", empty);

    qtest_outb(s, STATUS, 0x60);
    qtest_outb(s, DATA, 0x45);   /* translate, system flag, keyboard interrupt */
    qtest_outb(s, STATUS, 0x20);
    r = read_data(s);
    CHECK(t, r == 0x45, "i8042 command byte write/read 0x60/0x20", "read %d", r);
}

static void test_keyboard(const QTarget *t, QTestState *s)
{
    drain(s);
    qtest_outb(s, DATA, 0xff);   /* keyboard reset: ACK then BAT passed */
    int ack = read_data(s), bat = read_data(s);
    CHECK(t, ack == 0xfa && bat == 0xaa, "i8042 keyboard reset -> fa aa", "got %d %d", ack, bat);

    qtest_outb(s, STATUS, 0x20);
    int cb = read_data(s);
    qtest_outb(s, DATA, 0xf2);   /* identify: ACK, 0xab, 0x83 (0x41 translated) */
    int a = read_data(s), id1 = read_data(s), id2 = read_data(s);
    int want2 = cb >= 0 && (cb & CB_XLATE) ? 0x41 : 0x83;
    CHECK(t, a == 0xfa && id1 == 0xab && id2 == want2, "i8042 keyboard identify",
          "got %d %d %d (command byte %d)", a, id1, id2, cb);

    qtest_outb(s, DATA, 0xee);   /* echo */
    int echo = read_data(s);
    CHECK(t, echo == 0xee, "i8042 keyboard echo", "got %d", echo);
}

static void test_i8042(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "i8042 start", "-serial null");
    if (!s)
        return;
    test_controller(t, s);
    test_keyboard(t, s);
    CHECK(t, !qtest_broken(s), "i8042 connection", "%s", qtest_broken(s));
    qtest_quit(s);
}

int main(void)
{
    return qtest_run_targets(test_i8042);
}
