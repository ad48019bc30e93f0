/*
 * 16550A UART (National Semiconductor / TI PC16550D datasheet).
 *
 * Eight registers at iobase..iobase+7.  Transmission is instant: a byte
 * written to THR goes straight to the chardev (or, in loopback mode, to our
 * own receiver), so THR/TSR are always empty again by the time the guest can
 * look, but the THRE interrupt still goes through its clear/raise cycle the
 * datasheet describes.  The receiver has a real 16-byte FIFO fed by the
 * chardev, with trigger levels and the character-timeout interrupt driven by
 * the virtual clock.
 *
 * The ISA IRQ line is (interrupt pending) AND MCR.OUT2: on a PC the OUT2
 * pin gates the UART's interrupt output onto the bus.
 */
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "hw.h"
#include "util.h"
#include "vmstate.h"

/* Register offsets (DLAB = 0 unless noted). */
enum {
    UART_RBR_THR = 0,   /* DLL when DLAB = 1 */
    UART_IER = 1,       /* DLM when DLAB = 1 */
    UART_IIR_FCR = 2,
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

#define IER_ERBFI 0x01  /* received data available */
#define IER_ETBEI 0x02  /* THR empty */
#define IER_ELSI 0x04   /* receiver line status */
#define IER_EDSSI 0x08  /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c    /* character timeout (FIFO mode) */
#define IIR_FIFOS 0xc0  /* both bits set when FCR bit 0 is set */

#define FCR_ENABLE 0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_TRIGGER_MASK 0xc0

#define LCR_DLAB 0x80
#define LCR_PARITY 0x08
#define LCR_STOP2 0x04

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_RXFIFO_ERR 0x80
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define UART_FIFO_SIZE 16
#define UART_CLOCK_HZ 115200   /* 1.8432 MHz / 16 */
#define UART_RESET_DIVISOR 0x0c

struct SerialState {
    unsigned irq;
    Chardev *chr;
    ChardevHandlers chr_handlers;   /* kept here: the chardev may hold the pointer */
    Timer *timeout_timer;

    uint16_t divisor;
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    /* Modem status lines when not in loopback (what the "cable" says). */
    uint8_t msr_lines;

    uint8_t rx[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
    uint8_t rbr_last;          /* RBR reads as the last byte when empty */

    bool thr_ipending;         /* THR-empty interrupt latched */
    bool timeout_ipending;     /* character timeout indication */
    int irq_level;
};

static bool fifo_enabled(const SerialState *s)
{
    return s->fcr & FCR_ENABLE;
}

static unsigned rx_trigger_level(const SerialState *s)
{
    static const unsigned levels[4] = { 1, 4, 8, 14 };
    return levels[(s->fcr & FCR_TRIGGER_MASK) >> 6];
}

/* Highest-priority pending source, datasheet table 4 (IIR). */
static uint8_t pending_interrupt(const SerialState *s)
{
    if ((s->ier & IER_ELSI) && (s->lsr & LSR_ERRORS))
        return IIR_RLSI;
    if (s->ier & IER_ERBFI) {
        if (s->timeout_ipending)
            return IIR_CTI;
        if (fifo_enabled(s) ? s->rx_count >= rx_trigger_level(s) : (s->lsr & LSR_DR))
            return IIR_RDI;
    }
    if ((s->ier & IER_ETBEI) && s->thr_ipending)
        return IIR_THRI;
    if ((s->ier & IER_EDSSI) && (s->msr & MSR_DELTAS))
        return IIR_MSI;
    return IIR_NO_INT;
}

static void serial_update_irq(SerialState *s)
{
    int level = pending_interrupt(s) != IIR_NO_INT && (s->mcr & MCR_OUT2);

    if (level != s->irq_level) {
        s->irq_level = level;
        irq_set_level(s->irq, level);
    }
}

/* Time for one character frame at the current baud rate and LCR format. */
static int64_t char_time_ns(const SerialState *s)
{
    unsigned divisor = s->divisor ? s->divisor : 1;
    unsigned bits = 1 + 5 + (s->lcr & 0x03);       /* start + data bits */

    if (s->lcr & LCR_PARITY)
        bits++;
    bits += (s->lcr & LCR_STOP2) ? 2 : 1;
    return (int64_t)bits * divisor * 1000000000LL / UART_CLOCK_HZ;
}

/*
 * Character timeout (datasheet: "no characters have been removed from or
 * input to the RCVR FIFO during the last 4 character times and there is at
 * least 1 character in it").  Re-armed on every FIFO input and removal.
 */
static void rearm_char_timeout(SerialState *s)
{
    if (!fifo_enabled(s) || s->rx_count == 0) {
        timer_del(s->timeout_timer);
        return;
    }
    timer_mod(s->timeout_timer, clock_ns(CLOCK_VIRTUAL_NS) + 4 * char_time_ns(s));
}

static void char_timeout_expired(void *opaque)
{
    SerialState *s = opaque;

    if (fifo_enabled(s) && s->rx_count) {
        s->timeout_ipending = true;
        serial_update_irq(s);
    }
}

static void rx_fifo_clear(SerialState *s)
{
    s->rx_head = s->rx_count = 0;
    s->lsr &= ~(LSR_DR | LSR_RXFIFO_ERR);
    s->timeout_ipending = false;
    timer_del(s->timeout_timer);
}

/* One character arrives at the receiver shift register. */
static void receive_byte(SerialState *s, uint8_t b)
{
    unsigned cap = fifo_enabled(s) ? UART_FIFO_SIZE : 1;

    if (s->rx_count >= cap) {
        /*
         * Overrun.  FIFO mode: the FIFO is kept and the new character is
         * lost; 16450 mode: the new character overwrites RBR.
         */
        s->lsr |= LSR_OE;
        if (!fifo_enabled(s))
            s->rx[s->rx_head] = b;
    } else {
        s->rx[(s->rx_head + s->rx_count) % UART_FIFO_SIZE] = b;
        s->rx_count++;
    }
    s->lsr |= LSR_DR;
    s->timeout_ipending = false;
    rearm_char_timeout(s);
}

static uint8_t read_rbr(SerialState *s)
{
    if (s->rx_count) {
        s->rbr_last = s->rx[s->rx_head];
        s->rx_head = (s->rx_head + 1) % UART_FIFO_SIZE;
        s->rx_count--;
    }
    if (s->rx_count == 0)
        s->lsr &= ~LSR_DR;
    s->timeout_ipending = false;
    rearm_char_timeout(s);
    serial_update_irq(s);
    if (s->chr && !(s->mcr & MCR_LOOP))
        chardev_accept_input(s->chr);
    return s->rbr_last;
}

static void write_thr(SerialState *s, uint8_t b)
{
    /* Writing THR clears the THRE interrupt and the empty flags ... */
    s->thr_ipending = false;
    s->lsr &= ~(LSR_THRE | LSR_TEMT);
    serial_update_irq(s);

    if (s->mcr & MCR_LOOP)
        receive_byte(s, b);
    else if (s->chr)
        chardev_write(s->chr, &b, 1);

    /* ... and the (instant) transmission empties THR and TSR again. */
    s->lsr |= LSR_THRE | LSR_TEMT;
    s->thr_ipending = true;
    serial_update_irq(s);
}

static void write_ier(SerialState *s, uint8_t val)
{
    uint8_t old = s->ier;

    s->ier = val & 0x0f;
    /*
     * Enabling ETBEI while THR is empty raises the THRE interrupt at once;
     * Linux's 8250 autoconfig and SeaBIOS probe for exactly this.
     */
    if ((s->ier & IER_ETBEI) && !(old & IER_ETBEI) && (s->lsr & LSR_THRE))
        s->thr_ipending = true;
    serial_update_irq(s);
}

static void write_fcr(SerialState *s, uint8_t val)
{
    /* Changing the FIFO enable bit resets both FIFOs (datasheet FCR bit 0). */
    if ((val ^ s->fcr) & FCR_ENABLE)
        rx_fifo_clear(s);
    if (!(val & FCR_ENABLE)) {
        s->fcr = 0;   /* the other bits cannot be written with bit 0 clear */
        serial_update_irq(s);
        return;
    }
    if (val & FCR_RX_RESET)
        rx_fifo_clear(s);
    /* TX reset: our transmitter FIFO is always empty already. */
    s->fcr = val & (FCR_ENABLE | FCR_TRIGGER_MASK);
    serial_update_irq(s);
    if (s->chr && !(s->mcr & MCR_LOOP))
        chardev_accept_input(s->chr);
}

/* Loopback wiring (datasheet MCR bit 4): RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t loopback_msr_lines(uint8_t mcr)
{
    uint8_t lines = 0;

    if (mcr & MCR_RTS)
        lines |= MSR_CTS;
    if (mcr & MCR_DTR)
        lines |= MSR_DSR;
    if (mcr & MCR_OUT1)
        lines |= MSR_RI;
    if (mcr & MCR_OUT2)
        lines |= MSR_DCD;
    return lines;
}

/* Set the MSR line bits and latch the delta bits for any change. */
static void set_msr_lines(SerialState *s, uint8_t lines)
{
    uint8_t old = s->msr;
    uint8_t changed = (old ^ lines) & 0xf0;

    if (changed & MSR_CTS)
        s->msr |= MSR_DCTS;
    if (changed & MSR_DSR)
        s->msr |= MSR_DDSR;
    if (changed & MSR_DCD)
        s->msr |= MSR_DDCD;
    /* TERI: trailing edge only, RI going from on to off. */
    if ((old & MSR_RI) && !(lines & MSR_RI))
        s->msr |= MSR_TERI;
    s->msr = (s->msr & MSR_DELTAS) | lines;
}

static void write_mcr(SerialState *s, uint8_t val)
{
    bool was_loop = s->mcr & MCR_LOOP;

    s->mcr = val & MCR_MASK;
    if (s->mcr & MCR_LOOP)
        set_msr_lines(s, loopback_msr_lines(s->mcr));
    else if (was_loop)
        set_msr_lines(s, s->msr_lines);
    serial_update_irq(s);
    if (was_loop && !(s->mcr & MCR_LOOP) && s->chr)
        chardev_accept_input(s->chr);
}

static uint8_t read_iir(SerialState *s)
{
    uint8_t id = pending_interrupt(s);

    /* Reading IIR clears a THRE interrupt if that is what it reports. */
    if (id == IIR_THRI) {
        s->thr_ipending = false;
        serial_update_irq(s);
    }
    return id | (fifo_enabled(s) ? IIR_FIFOS : 0);
}

static uint8_t read_lsr(SerialState *s)
{
    uint8_t val = s->lsr;

    /* Error bits clear on read; the RXFIFO error bit too when FIFO clean. */
    s->lsr &= ~(LSR_ERRORS | LSR_RXFIFO_ERR);
    if (val & LSR_ERRORS)
        serial_update_irq(s);
    return val;
}

static uint8_t read_msr(SerialState *s)
{
    uint8_t val = s->msr;

    if (val & MSR_DELTAS) {
        s->msr &= ~MSR_DELTAS;
        serial_update_irq(s);
    }
    return val;
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned size)
{
    SerialState *s = opaque;
    bool dlab = s->lcr & LCR_DLAB;

    switch (off) {
    case UART_RBR_THR:
        return dlab ? (s->divisor & 0xff) : read_rbr(s);
    case UART_IER:
        return dlab ? (s->divisor >> 8) : s->ier;
    case UART_IIR_FCR:
        return read_iir(s);
    case UART_LCR:
        return s->lcr;
    case UART_MCR:
        return s->mcr;
    case UART_LSR:
        return read_lsr(s);
    case UART_MSR:
        return read_msr(s);
    case UART_SCR:
        return s->scr;
    }
    return 0xff;
}

static void serial_write(void *opaque, uint64_t off, unsigned size, uint64_t val64)
{
    SerialState *s = opaque;
    uint8_t val = val64;
    bool dlab = s->lcr & LCR_DLAB;

    switch (off) {
    case UART_RBR_THR:
        if (dlab)
            s->divisor = (s->divisor & 0xff00) | val;
        else
            write_thr(s, val);
        break;
    case UART_IER:
        if (dlab)
            s->divisor = (s->divisor & 0x00ff) | (val << 8);
        else
            write_ier(s, val);
        break;
    case UART_IIR_FCR:
        write_fcr(s, val);
        break;
    case UART_LCR:
        s->lcr = val;
        break;
    case UART_MCR:
        write_mcr(s, val);
        break;
    case UART_LSR:
    case UART_MSR:
        /* Read-only on a 16550 (writes are factory-test only). */
        break;
    case UART_SCR:
        s->scr = val;
        break;
    }
}

static const MemOps serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

/* ---- chardev side ---- */

static size_t serial_can_read(void *opaque)
{
    SerialState *s = opaque;

    /* In loopback the receiver is disconnected from the serial input pin. */
    if (s->mcr & MCR_LOOP)
        return 0;
    if (fifo_enabled(s))
        return UART_FIFO_SIZE - s->rx_count;
    return s->rx_count ? 0 : 1;
}

static void serial_chr_read(void *opaque, const uint8_t *buf, size_t len)
{
    SerialState *s = opaque;

    if (s->mcr & MCR_LOOP)
        return;
    for (size_t i = 0; i < len; i++)
        receive_byte(s, buf[i]);
    serial_update_irq(s);
}

/* ---- life cycle ---- */

static void serial_reset(void *opaque)
{
    SerialState *s = opaque;

    s->divisor = UART_RESET_DIVISOR;
    s->ier = 0;
    s->lcr = 0;
    s->mcr = 0;
    s->fcr = 0;
    s->scr = 0;
    s->lsr = LSR_THRE | LSR_TEMT;
    /* Modem lines as QEMU reports them: carrier, data set ready, clear to send. */
    s->msr_lines = MSR_DCD | MSR_DSR | MSR_CTS;
    s->msr = s->msr_lines;
    s->thr_ipending = false;
    s->rbr_last = 0;
    rx_fifo_clear(s);
    s->irq_level = 0;
    irq_set_level(s->irq, 0);
    if (s->chr)
        chardev_accept_input(s->chr);
}

/* ---- migration ---- */

static int serial_post_load(void *opaque, unsigned version)
{
    SerialState *s = opaque;
    (void)version;
    if (s->rx_head >= UART_FIFO_SIZE || s->rx_count > UART_FIFO_SIZE) {
        log_msg(LOG_GUEST_ERROR, "serial: migrated FIFO position %u+%u out of range\n",
                s->rx_head, s->rx_count);
        return -1;
    }
    s->mcr &= MCR_MASK;
    /* Drive the line from the loaded registers, whatever it was here. */
    s->irq_level = pending_interrupt(s) != IIR_NO_INT && (s->mcr & MCR_OUT2);
    irq_set_level(s->irq, s->irq_level);
    if (s->chr && s->rx_count < UART_FIFO_SIZE)
        chardev_accept_input(s->chr);
    return 0;
}

static const VMStateField serial_fields[] = {
    VMSTATE_U16(divisor, SerialState),
    VMSTATE_U8(ier, SerialState),
    VMSTATE_U8(lcr, SerialState),
    VMSTATE_U8(mcr, SerialState),
    VMSTATE_U8(lsr, SerialState),
    VMSTATE_U8(msr, SerialState),
    VMSTATE_U8(scr, SerialState),
    VMSTATE_U8(fcr, SerialState),
    VMSTATE_U8(msr_lines, SerialState),
    VMSTATE_U8_ARRAY(rx, SerialState, UART_FIFO_SIZE),
    VMSTATE_U32(rx_head, SerialState),
    VMSTATE_U32(rx_count, SerialState),
    VMSTATE_U8(rbr_last, SerialState),
    VMSTATE_BOOL(thr_ipending, SerialState),
    VMSTATE_BOOL(timeout_ipending, SerialState),
    VMSTATE_TIMER(timeout_timer, SerialState),
    VMSTATE_END,
};

static const VMStateDescription vmstate_serial = {
    .name = "serial",
    .version = 1,
    .fields = serial_fields,
    .post_load = serial_post_load,
};

SerialState *serial_create(uint16_t iobase, unsigned irq, Chardev *chr)
{
    SerialState *s;

    if (irq >= IRQ_NUM_GSI) {
        error_report("serial 0x%x: irq %u out of range", iobase, irq);
        return NULL;
    }
    s = xzalloc(sizeof(*s));
    s->irq = irq;
    s->chr = chr;
    if (pio_region_add(iobase, 8, &serial_ops, s, "serial") < 0) {
        free(s);
        return NULL;
    }
    s->timeout_timer = timer_new(CLOCK_VIRTUAL_NS, char_timeout_expired, s);
    if (chr) {
        s->chr_handlers = (ChardevHandlers){
            .can_read = serial_can_read,
            .read = serial_chr_read,
            .opaque = s,
        };
        chardev_set_handlers(chr, &s->chr_handlers);
    }
    serial_reset(s);
    reset_register(serial_reset, s);
    vmstate_register(&vmstate_serial, iobase, s);
    return s;
}
