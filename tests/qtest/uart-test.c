/*
 * 16550A UART at COM1 (0x3f8, IRQ 4), checked against the register
 * behaviour of the NS16550A / TI PC16550D datasheet: scratch, divisor latch,
 * transmit to the -serial backend, LSR, interrupt identification, loopback
 * and FIFO enable.
 */
#include "libqtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COM1 0x3f8
#define RBR 0   /* THR on write; DLL with DLAB */
#define IER 1   /* DLM with DLAB */
#define IIR 2   /* FCR on write */
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

static uint8_t rd(QTestState *s, int reg) { return qtest_inb(s, COM1 + reg); }
static void wr(QTestState *s, int reg, uint8_t v) { qtest_outb(s, COM1 + reg, v); }

static void test_registers(const QTarget *t, QTestState *s)
{
    wr(s, SCR, 0x5a);
    uint8_t a = rd(s, SCR);
    wr(s, SCR, 0xa5);
    uint8_t b = rd(s, SCR);
    CHECK(t, a == 0x5a && b == 0xa5, "uart scratch register", "read %02x %02x", a, b);

    /* Divisor latch: DLAB (LCR bit 7) maps DLL/DLM over RBR/IER. */
    wr(s, LCR, 0x80);
    wr(s, RBR, 0x0c);
    wr(s, IER, 0x01);
    uint8_t dll = rd(s, RBR), dlm = rd(s, IER);
    wr(s, LCR, 0x03);
    uint8_t lcr = rd(s, LCR), ier = rd(s, IER);
    CHECK(t, dll == 0x0c && dlm == 0x01 && lcr == 0x03 && ier == 0x00,
          "uart divisor latch round trip", "dll %02x dlm %02x lcr %02x ier %02x", dll, dlm, lcr,
          ier);
    wr(s, LCR, 0x80);
    wr(s, IER, 0x00);
    wr(s, LCR, 0x03);

    uint8_t iir = rd(s, IIR);
    CHECK(t, iir == 0x01, "uart iir no interrupt pending", "iir %02x", iir);
}

static void test_transmit(const QTarget *t, QTestState *s, const char *outfile)
{
    const char *msg = "hello-qtest\n";
    for (const char *p = msg; *p; p++)
        wr(s, RBR, *p);
    uint8_t lsr = rd(s, LSR);
    CHECK(t, (lsr & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT), "uart lsr thre/temt after write",
          "lsr %02x", lsr);

    char *text = NULL;
    for (int i = 0; i < 50; i++) {   /* the backend may write asynchronously */
        free(text);
        text = qtest_slurp(outfile, NULL);
        if (text && strstr(text, msg))
            break;
        usleep(20000);
    }
    CHECK(t, text && strstr(text, msg), "uart thr bytes reach -serial file", "file has '%.40s'",
          text ? text : "(missing)");
    free(text);
}

static void test_thre_interrupt(const QTarget *t, QTestState *s)
{
    bool ok = qtest_irq_intercept_in(s, "ioapic");
    CHECK(t, ok, "uart irq_intercept_in ioapic", "reply not OK");

    wr(s, MCR, MCR_OUT2);   /* OUT2 gates the IRQ on PC serial cards */
    wr(s, IER, 0x02);       /* ETBEI: THR empty raises an interrupt at once */
    bool raised = qtest_get_irq(s, 4);
    uint8_t iir = rd(s, IIR);   /* reading IIR clears a THRE interrupt */
    bool after = qtest_get_irq(s, 4);
    CHECK(t, raised && (iir & 0x0f) == 0x02 && !after, "uart thre interrupt raise/lower",
          "raised %d iir %02x lowered %d", raised, iir, !after);
    wr(s, IER, 0x00);
}

static void test_loopback(const QTarget *t, QTestState *s)
{
    wr(s, MCR, MCR_LOOP | MCR_OUT2);
    wr(s, IER, 0x01);   /* ERBFI: received data available */
    rd(s, RBR);
    wr(s, RBR, 0x41);
    uint8_t lsr = rd(s, LSR), iir = rd(s, IIR);
    bool irq = qtest_get_irq(s, 4);
    uint8_t data = rd(s, RBR);
    uint8_t lsr2 = rd(s, LSR);
    bool irq2 = qtest_get_irq(s, 4);
    CHECK(t, (lsr & LSR_DR) && (iir & 0x0f) == 0x04 && data == 0x41 && !(lsr2 & LSR_DR),
          "uart loopback receive", "lsr %02x iir %02x data %02x lsr after %02x", lsr, iir, data,
          lsr2);
    CHECK(t, irq && !irq2, "uart loopback rx interrupt", "irq while pending %d after read %d", irq,
          irq2);
    wr(s, IER, 0x00);

    /* Loopback ties DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (datasheet 8.6). */
    wr(s, MCR, MCR_LOOP | MCR_DTR | MCR_RTS | MCR_OUT1 | MCR_OUT2);
    uint8_t msr = rd(s, MSR);
    wr(s, MCR, MCR_LOOP);
    uint8_t msr2 = rd(s, MSR);
    CHECK(t, (msr & 0xf0) == 0xf0 && (msr2 & 0xf0) == 0x00, "uart msr loopback bits",
          "msr %02x with all outputs, %02x with none", msr, msr2);
    wr(s, MCR, MCR_OUT2);
}

static void test_fifo(const QTarget *t, QTestState *s)
{
    wr(s, IIR, 0x07);   /* FCR: enable and clear both FIFOs */
    uint8_t iir = rd(s, IIR);
    wr(s, IIR, 0x00);
    uint8_t iir2 = rd(s, IIR);
    CHECK(t, (iir & 0xc0) == 0xc0 && (iir2 & 0xc0) == 0, "uart fifo enable iir bits",
          "iir %02x with fifo, %02x without", iir, iir2);
}

static void test_uart(const QTarget *t)
{
    char *outfile = qtest_tmp_path(".serial");
    QTestState *s = qtest_start_target(t, "uart start", "-serial file:%s", outfile);
    if (s) {
        test_registers(t, s);
        test_transmit(t, s, outfile);
        test_thre_interrupt(t, s);
        test_loopback(t, s);
        test_fifo(t, s);
        CHECK(t, !qtest_broken(s), "uart connection", "%s", qtest_broken(s));
        qtest_quit(s);
    }
    unlink(outfile);
    free(outfile);
}

int main(void)
{
    return qtest_run_targets(test_uart);
}
