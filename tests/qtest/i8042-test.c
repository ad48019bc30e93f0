/*
 * i8042 keyboard controller at 0x60 (data) / 0x64 (status, command), as the
 * IBM PC/AT technical reference describes it: controller self test and
 * interface test, the command byte, and keyboard commands forwarded to the
 * PS/2 keyboard (reset, identify).
 */
#include "libqtest.h"

#include <stdio.h>
#include <string.h>

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

/* Send bytes (to the mouse with aux) and compare every reply byte. */
static void exchange(const QTarget *t, QTestState *s, const char *name, bool aux,
                     const uint8_t *send, size_t ns, const uint8_t *want, size_t nw)
{
    int got[32];
    size_t n = 0;
    for (size_t i = 0; i < ns; i++) {
        if (aux)
            qtest_outb(s, STATUS, 0xd4);
        qtest_outb(s, DATA, send[i]);
        for (int b; n < 32 && (b = read_data(s)) >= 0;)
            got[n++] = b;
    }
    bool same = n == nw;
    char txt[128] = "";
    for (size_t i = 0; i < n; i++) {
        same = same && got[i] == want[i];
        snprintf(txt + strlen(txt), sizeof(txt) - strlen(txt), " %02x", got[i]);
    }
    CHECK(t, same, name, "got%s", txt);
}
#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static void test_keyboard_commands(const QTarget *t, QTestState *s)
{
    drain(s);
    qtest_outb(s, STATUS, 0x60);
    qtest_outb(s, DATA, 0x05);   /* no translation: raw set-2 replies */
    exchange(t, s, "i8042 kbd set query", false, BYTES(0xf0, 0x00), BYTES(0xfa, 0xfa, 0x02));
    exchange(t, s, "i8042 kbd set 3", false, BYTES(0xf0, 0x03, 0xf0, 0x00),
             BYTES(0xfa, 0xfa, 0xfa, 0xfa, 0x03));
    exchange(t, s, "i8042 kbd bad set", false, BYTES(0xf0, 0x07), BYTES(0xfa, 0xfe));
    exchange(t, s, "i8042 kbd leds + typematic", false, BYTES(0xed, 0x07, 0xf3, 0x20),
             BYTES(0xfa, 0xfa, 0xfa, 0xfa));
    exchange(t, s, "i8042 kbd disable/enable/defaults", false, BYTES(0xf5, 0xf4, 0xf6),
             BYTES(0xfa, 0xfa, 0xfa));
    exchange(t, s, "i8042 kbd defaults restore set 2", false, BYTES(0xf0, 0x00),
             BYTES(0xfa, 0xfa, 0x02));
    exchange(t, s, "i8042 kbd unknown -> resend", false, BYTES(0x12), BYTES(0xfe));
    qtest_outb(s, STATUS, 0x60);
    qtest_outb(s, DATA, 0x45);   /* translation on */
    exchange(t, s, "i8042 kbd set query translated", false, BYTES(0xf0, 0x01, 0xf0, 0x00),
             BYTES(0xfa, 0xfa, 0xfa, 0xfa, 0x43));
    exchange(t, s, "i8042 kbd reset", false, BYTES(0xff), BYTES(0xfa, 0xaa));
}

static void test_mouse_commands(const QTarget *t, QTestState *s)
{
    drain(s);
    exchange(t, s, "i8042 mouse reset", true, BYTES(0xff), BYTES(0xfa, 0xaa, 0x00));
    exchange(t, s, "i8042 mouse id", true, BYTES(0xf2), BYTES(0xfa, 0x00));
    exchange(t, s, "i8042 mouse intellimouse", true,
             BYTES(0xf3, 200, 0xf3, 100, 0xf3, 80, 0xf2),
             BYTES(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x03));
    exchange(t, s, "i8042 mouse explorer", true, BYTES(0xf3, 200, 0xf3, 200, 0xf3, 80, 0xf2),
             BYTES(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x04));
    exchange(t, s, "i8042 mouse status", true, BYTES(0xe8, 0x03, 0xe7, 0xf4, 0xe9),
             BYTES(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x30, 0x03, 80));
    exchange(t, s, "i8042 mouse remote poll", true, BYTES(0xf5, 0xe6, 0xf0, 0xeb),
             BYTES(0xfa, 0xfa, 0xfa, 0xfa, 0x08, 0x00, 0x00, 0x00));
    exchange(t, s, "i8042 mouse wrap", true, BYTES(0xee, 0x12, 0xec, 0xea),
             BYTES(0xfa, 0x12, 0xfa, 0xfa));
    exchange(t, s, "i8042 mouse defaults", true, BYTES(0xf6, 0xe9),
             BYTES(0xfa, 0xfa, 0x00, 0x02, 100));
    exchange(t, s, "i8042 mouse reset clears id", true, BYTES(0xff, 0xf2),
             BYTES(0xfa, 0xaa, 0x00, 0xfa, 0x00));
}

static void test_i8042(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "i8042 start", "-serial null");
    if (!s)
        return;
    test_controller(t, s);
    test_keyboard(t, s);
    test_keyboard_commands(t, s);
    test_mouse_commands(t, s);
    CHECK(t, !qtest_broken(s), "i8042 connection", "%s", qtest_broken(s));
    qtest_quit(s);
}

int main(void)
{
    return qtest_run_targets(test_i8042);
}
