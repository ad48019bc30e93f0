/*
 * 16550A UART through the PIO address space: registers, loopback, FIFO
 * trigger levels, the character timeout, interrupt identification and the
 * OUT2 gate on the IRQ line.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "unit.h"
#include "util.h"

#define BASE COM1_BASE
#define RBR (BASE + 0)
#define THR (BASE + 0)
#define DLL (BASE + 0)
#define IER (BASE + 1)
#define DLM (BASE + 1)
#define IIR (BASE + 2)
#define FCR (BASE + 2)
#define LCR (BASE + 3)
#define MCR (BASE + 4)
#define LSR (BASE + 5)
#define MSR (BASE + 6)
#define SCR (BASE + 7)

static SerialState *setup(void)
{
    fake_hw_setup();
    vclock_set_manual(true);
    SerialState *s = serial_create(BASE, COM1_IRQ, NULL);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(reset_values)
{
    setup();
    ck_assert_uint_eq(inb(LSR), 0x60);
    ck_assert_uint_eq(inb(IIR), 0x01);
    ck_assert_uint_eq(inb(MSR), 0xb0);
    ck_assert_uint_eq(inb(LCR), 0x00);
    ck_assert_uint_eq(inb(MCR), 0x00);
    ck_assert_uint_eq(inb(IER), 0x00);
    outb(LCR, 0x80);
    ck_assert_uint_eq(inb(DLL), 0x0c);
    ck_assert_uint_eq(inb(DLM), 0x00);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
}
END_TEST

START_TEST(scratch_register)
{
    setup();
    outb(SCR, 0x5a);
    ck_assert_uint_eq(inb(SCR), 0x5a);
    outb(SCR, 0xa5);
    ck_assert_uint_eq(inb(SCR), 0xa5);
}
END_TEST

START_TEST(divisor_latch)
{
    setup();
    outb(IER, 0x05);
    outb(LCR, 0x83);              /* DLAB + 8N1 */
    outb(DLL, 0x01);
    outb(DLM, 0x02);
    ck_assert_uint_eq(inb(DLL), 0x01);
    ck_assert_uint_eq(inb(DLM), 0x02);
    outb(LCR, 0x03);
    ck_assert_uint_eq(inb(IER), 0x05);   /* DLM did not touch IER */
    ck_assert_uint_eq(inb(LCR), 0x03);
    outb(LCR, 0x83);
    ck_assert_uint_eq(inb(DLM), 0x02);
}
END_TEST

START_TEST(loopback_receive)
{
    setup();
    outb(MCR, 0x10);
    outb(THR, 'A');
    ck_assert_uint_eq(inb(LSR) & 0x61, 0x61);   /* DR, THRE, TEMT */
    ck_assert_uint_eq(inb(RBR), 'A');
    ck_assert_uint_eq(inb(LSR) & 0x01, 0);
    /* 16450 mode holds one byte: a second unread one overruns. */
    outb(THR, 'B');
    outb(THR, 'C');
    ck_assert_uint_eq(inb(LSR) & 0x03, 0x03);   /* DR + OE */
    ck_assert_uint_eq(inb(LSR) & 0x02, 0);      /* OE clears on read */
    ck_assert_uint_eq(inb(RBR), 'C');
}
END_TEST

START_TEST(fifo_trigger_level_irq)
{
    setup();
    outb(FCR, 0x47);              /* enable + reset, trigger 4 */
    ck_assert_uint_eq(inb(IIR) & 0xc0, 0xc0);
    outb(MCR, 0x18);              /* loopback + OUT2 */
    outb(IER, 0x01);
    for (int i = 0; i < 3; i++)
        outb(THR, 'a' + i);
    ck_assert_uint_eq(inb(IIR), 0xc1);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
    outb(THR, 'd');
    ck_assert_uint_eq(inb(IIR), 0xc4);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 1);
    ck_assert_uint_eq(inb(RBR), 'a');
    ck_assert_uint_eq(inb(IIR), 0xc1);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
    ck_assert_uint_eq(inb(RBR), 'b');
    ck_assert_uint_eq(inb(RBR), 'c');
    ck_assert_uint_eq(inb(RBR), 'd');
    ck_assert_uint_eq(inb(LSR) & 0x01, 0);
}
END_TEST

START_TEST(fifo_holds_sixteen)
{
    setup();
    outb(FCR, 0x07);
    outb(MCR, 0x10);
    for (int i = 0; i < 17; i++)
        outb(THR, i);
    ck_assert_uint_eq(inb(LSR) & 0x03, 0x03);   /* 17th overran */
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(inb(RBR), i);
    ck_assert_uint_eq(inb(LSR) & 0x01, 0);
}
END_TEST

START_TEST(character_timeout)
{
    setup();
    outb(FCR, 0xc1);              /* FIFO, trigger 14 */
    outb(MCR, 0x18);
    outb(IER, 0x01);
    outb(THR, 'x');
    ck_assert_uint_eq(inb(IIR), 0xc1);
    /* Divisor 12 = 9600 baud, LCR 0 = 5N1: 4 characters take ~3 ms. */
    warp_by(10 * 1000 * 1000);
    ck_assert_uint_eq(inb(IIR), 0xcc);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 1);
    ck_assert_uint_eq(inb(RBR), 'x');
    ck_assert_uint_eq(inb(IIR), 0xc1);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
}
END_TEST

START_TEST(thre_interrupt_on_etbei)
{
    setup();
    outb(MCR, 0x08);
    outb(IER, 0x02);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 1);
    ck_assert_uint_eq(inb(IIR), 0x02);
    /* Reading IIR that reported THRE clears it. */
    ck_assert_uint_eq(inb(IIR), 0x01);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
    /* THR empties again after a write: interrupt again. */
    outb(THR, 'z');
    ck_assert_int_eq(irq_levels[COM1_IRQ], 1);
    ck_assert_uint_eq(inb(IIR), 0x02);
    /* Re-enabling ETBEI with THR empty raises it again. */
    outb(IER, 0x00);
    outb(IER, 0x02);
    ck_assert_uint_eq(inb(IIR), 0x02);
}
END_TEST

START_TEST(iir_priorities)
{
    setup();
    outb(MCR, 0x10);
    outb(THR, 1);
    outb(THR, 2);                 /* overrun */
    outb(IER, 0x0f);
    ck_assert_uint_eq(inb(IIR), 0x06);   /* line status first */
    inb(LSR);
    ck_assert_uint_eq(inb(IIR), 0x04);   /* then received data */
    inb(RBR);
    ck_assert_uint_eq(inb(IIR), 0x02);   /* then THR empty */
    ck_assert_uint_eq(inb(IIR), 0x00);   /* then modem status (loop deltas) */
    inb(MSR);
    ck_assert_uint_eq(inb(IIR), 0x01);
}
END_TEST

START_TEST(msr_loopback_deltas)
{
    setup();
    outb(MCR, 0x10);              /* loop, all outputs off: lines drop */
    ck_assert_uint_eq(inb(MSR), 0x0b);   /* DCTS, DDSR, DDCD */
    ck_assert_uint_eq(inb(MSR), 0x00);
    outb(MCR, 0x12);              /* RTS -> CTS */
    ck_assert_uint_eq(inb(MSR), 0x11);
    outb(MCR, 0x11);              /* DTR -> DSR, RTS off */
    ck_assert_uint_eq(inb(MSR), 0x23);
    outb(MCR, 0x14);              /* OUT1 -> RI (leading edge: no delta) */
    ck_assert_uint_eq(inb(MSR), 0x42);
    outb(MCR, 0x10);              /* RI trailing edge -> TERI */
    ck_assert_uint_eq(inb(MSR), 0x04);
    outb(MCR, 0x18);              /* OUT2 -> DCD */
    ck_assert_uint_eq(inb(MSR), 0x88);
    outb(MCR, 0x00);              /* back to the cable's lines */
    ck_assert_uint_eq(inb(MSR) & 0xf0, 0xb0);
}
END_TEST

START_TEST(out2_gates_irq)
{
    setup();
    outb(IER, 0x02);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
    outb(MCR, 0x08);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 1);
    outb(MCR, 0x00);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
    ck_assert_uint_eq(inb(IIR), 0x02);
}
END_TEST

START_TEST(no_chardev_hostile_guest)
{
    setup();
    outb(LCR, 0x80);
    outb(DLL, 0);                 /* divisor 0 */
    outb(DLM, 0);
    outb(LCR, 0x3f);
    outb(FCR, 0xff);
    outb(MCR, 0xff);
    outb(IER, 0xff);
    for (int i = 0; i < 100; i++)
        outb(THR, i);
    warp_by(1000 * 1000 * 1000);
    for (unsigned port = BASE; port < BASE + 8; port++) {
        uint64_t v;
        as_read(&pio_space, port, 4, &v);
        as_write(&pio_space, port, 2, 0xffff);
    }
    outb(LCR, 0x03);
    ck_assert_uint_eq(inb(MCR), 0x1f);
    ck_assert_uint_eq(inb(IER), 0x0f);
}
END_TEST

START_TEST(system_reset_restores_defaults)
{
    setup();
    outb(SCR, 0x12);
    outb(MCR, 0x08);
    outb(IER, 0x02);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 1);
    reset_all();
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
    ck_assert_uint_eq(inb(SCR), 0);
    ck_assert_uint_eq(inb(IER), 0);
    ck_assert_uint_eq(inb(LSR), 0x60);
}
END_TEST

/*
 * Linux 8250 autoconfig_irq() (used for ports without a known IRQ): with
 * OUT2 set and every interrupt enabled, one byte written to THR must raise
 * the line; and serial8250_do_startup's THRE re-assertion test (IER THRI
 * toggled, IIR read each time) must see a THRE interrupt both times, or
 * Linux marks the port UART_BUG_THRE.
 */
START_TEST(linux_irq_probe_and_thre_test)
{
    setup();
    outb(MCR, 0x0c);                  /* OUT1 | OUT2: probe_irq_on() */
    outb(MCR, 0x00);
    outb(MCR, 0x0b);                  /* DTR | RTS | OUT2 */
    outb(IER, 0x0f);
    inb(LSR);
    inb(RBR);
    inb(IIR);
    inb(MSR);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);
    outb(THR, 0xff);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 1);
    outb(IER, 0);
    ck_assert_int_eq(irq_levels[COM1_IRQ], 0);

    outb(IER, 0x02);
    ck_assert_uint_eq(inb(IIR) & 0x0f, 0x02);
    outb(IER, 0);
    outb(IER, 0x02);
    ck_assert_uint_eq(inb(IIR) & 0x0f, 0x02);
    ck_assert_uint_eq(inb(IIR) & 0x0f, 0x01);   /* the IIR read cleared it */
    outb(IER, 0);
}
END_TEST

START_TEST(transmit_to_chardev)
{
    char path[] = "/tmp/vmm-test-serial-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char *spec = xasprintf("file:%s", path);

    fake_hw_setup();
    vclock_set_manual(true);
    main_loop_init();
    Chardev *chr = chardev_open(spec, "serial0");
    ck_assert_ptr_nonnull(chr);
    ck_assert_ptr_nonnull(serial_create(BASE, COM1_IRQ, chr));
    for (const char *p = "hi\n"; *p; p++)
        outb(THR, *p);
    outb(MCR, 0x10);
    outb(THR, 'X');               /* loopback: not sent */
    ck_assert_uint_eq(inb(RBR), 'X');
    chardev_close(chr);

    size_t len;
    uint8_t *data = read_file(path, &len);
    unlink(path);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(data, "hi\n", 3) == 0);
    free(data);
    free(spec);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("serial");
    UNIT_TEST(s, reset_values);
    UNIT_TEST(s, scratch_register);
    UNIT_TEST(s, divisor_latch);
    UNIT_TEST(s, loopback_receive);
    UNIT_TEST(s, fifo_trigger_level_irq);
    UNIT_TEST(s, fifo_holds_sixteen);
    UNIT_TEST(s, character_timeout);
    UNIT_TEST(s, thre_interrupt_on_etbei);
    UNIT_TEST(s, iir_priorities);
    UNIT_TEST(s, msr_loopback_deltas);
    UNIT_TEST(s, out2_gates_irq);
    UNIT_TEST(s, no_chardev_hostile_guest);
    UNIT_TEST(s, system_reset_restores_defaults);
    UNIT_TEST(s, linux_irq_probe_and_thre_test);
    UNIT_TEST(s, transmit_to_chardev);
    return unit_run(s);
}
