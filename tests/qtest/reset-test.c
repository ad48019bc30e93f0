/*
 * System reset through the PIIX3 reset control register (0xcf9): writing
 * SYS_RST|RST_CPU (0x06) resets the machine; devices return to their
 * power-on state (the 16550 scratch register reads 0) and the machine keeps
 * answering.
 */
#include "libqtest.h"

#include <stdio.h>

#define COM1_SCR 0x3ff

static void test_reset(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "reset start", "-serial null");
    if (!s)
        return;

    qtest_outb(s, COM1_SCR, 0x5a);
    uint8_t before = qtest_inb(s, COM1_SCR);
    CHECK(t, before == 0x5a, "reset scratch written", "scratch %02x", before);

    qtest_outb(s, 0xcf9, 0x06);
    /* The reset is carried out by the main loop after the write returns;
     * allow a few round trips for it to happen. */
    uint8_t after = 0xff;
    for (int i = 0; i < 50; i++) {
        after = qtest_inb(s, COM1_SCR);
        if (after == 0 || qtest_broken(s))
            break;
    }
    CHECK(t, after == 0, "reset via 0xcf9 clears uart scratch", "scratch %02x after reset", after);

    uint32_t id = qtest_pci_cfg_read(s, 0, 0, 0, 4);
    CHECK(t, id == 0x12378086, "reset machine still answers", "host bridge id %08x", id);

    int status = qtest_wait_exit(s, 0);
    CHECK(t, status < 0 && !qtest_broken(s), "reset does not exit", "exit status %d, %s", status,
          qtest_broken(s) ? qtest_broken(s) : "connected");
    qtest_quit(s);
}

int main(void)
{
    return qtest_run_targets(test_reset);
}
