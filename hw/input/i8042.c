/*
 * Intel 8042 keyboard controller as on the PC/AT and PS/2: data port 0x60,
 * status/command port 0x64, IRQ 1 (keyboard) and IRQ 12 (aux/mouse).  It
 * also owns the system reset line (output port bit 0, command 0xfe) and the
 * A20 gate (output port bit 1, remembered only: KVM guests run with A20 on).
 *
 * Model: one output buffer register (what port 0x60 reads), filled from
 * three small queues in priority order: controller replies (and bytes the
 * guest injects with 0xd2/0xd3), the keyboard, the aux device.  The IRQ of
 * the source of the byte in the buffer is high while the buffer is full and
 * that source's interrupt is enabled in the command byte.
 *
 * Behind the controller sit a minimal PS/2 keyboard and mouse that answer
 * the commands firmware and OS drivers use to probe them.
 */
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "hw.h"
#include "util.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

/* Status register. */
#define STAT_OBF 0x01
#define STAT_IBF 0x02
#define STAT_SYS 0x04       /* system flag: set after self-test / POST */
#define STAT_CMD 0x08       /* A2: last write was to the command port */
#define STAT_UNLOCKED 0x10  /* keyboard not inhibited by the keylock */
#define STAT_AUXB 0x20      /* output buffer holds aux data */

/* Command byte ("mode"). */
#define MODE_KBD_INT 0x01
#define MODE_AUX_INT 0x02
#define MODE_SYS 0x04
#define MODE_DISABLE_KBD 0x10
#define MODE_DISABLE_AUX 0x20
#define MODE_XLATE 0x40

/* Output port. */
#define OUT_RESET 0x01      /* 0 = assert CPU reset */
#define OUT_A20 0x02
#define OUT_OBF 0x10
#define OUT_AUX_OBF 0x20
/* QEMU's power-on output port: reset/A20 high plus the unused ones. */
#define OUT_POWER_ON 0xcf

/* Controller commands (port 0x64). */
enum {
    CCMD_READ_MODE = 0x20,
    CCMD_WRITE_MODE = 0x60,
    CCMD_AUX_DISABLE = 0xa7,
    CCMD_AUX_ENABLE = 0xa8,
    CCMD_AUX_TEST = 0xa9,
    CCMD_SELF_TEST = 0xaa,
    CCMD_KBD_TEST = 0xab,
    CCMD_KBD_DISABLE = 0xad,
    CCMD_KBD_ENABLE = 0xae,
    CCMD_READ_INPORT = 0xc0,
    CCMD_READ_OUTPORT = 0xd0,
    CCMD_WRITE_OUTPORT = 0xd1,
    CCMD_WRITE_KBD_OBUF = 0xd2,
    CCMD_WRITE_AUX_OBUF = 0xd3,
    CCMD_WRITE_AUX = 0xd4,
    CCMD_DISABLE_A20 = 0xdd,
    CCMD_ENABLE_A20 = 0xdf,
    CCMD_PULSE_FIRST = 0xf0,
};

/* Device replies. */
#define PS2_ACK 0xfa
#define PS2_RESEND 0xfe
#define PS2_BAT_OK 0xaa
#define PS2_ECHO 0xee

#define QUEUE_SIZE 16
/* Queue entries: a byte plus where it came from. */
#define FROM_AUX 0x100

typedef struct ByteQueue {
    uint16_t data[QUEUE_SIZE];
    unsigned head, count;
} ByteQueue;

typedef struct Ps2Kbd {
    uint8_t pending_cmd;   /* 0xed / 0xf3 / 0xf0 waiting for its argument */
    bool scanning;
    uint8_t scancode_set;
    uint8_t leds;
} Ps2Kbd;

typedef struct Ps2Mouse {
    uint8_t pending_cmd;   /* 0xe8 / 0xf3 waiting for its argument */
    bool enabled, remote, scale21;
    uint8_t resolution, sample_rate;
} Ps2Mouse;

struct I8042State {
    uint8_t mode;          /* command byte */
    uint8_t status;        /* SYS, CMD, UNLOCKED; OBF/AUXB are derived */
    uint8_t outport;
    uint8_t write_cmd;     /* command whose data byte port 0x60 expects */

    bool obuf_full;
    uint16_t obuf;         /* byte | FROM_AUX */

    ByteQueue ctrl_q, kbd_q, aux_q;
    Ps2Kbd kbd;
    Ps2Mouse mouse;
    int kbd_irq_level, aux_irq_level;
};

/* ---- queues and the output buffer ---- */

static void queue_clear(ByteQueue *q)
{
    q->head = q->count = 0;
}

static bool queue_push(ByteQueue *q, uint16_t v)
{
    if (q->count == QUEUE_SIZE)
        return false;
    q->data[(q->head + q->count) % QUEUE_SIZE] = v;
    q->count++;
    return true;
}

static uint16_t queue_pop(ByteQueue *q)
{
    uint16_t v = q->data[q->head];

    q->head = (q->head + 1) % QUEUE_SIZE;
    q->count--;
    return v;
}

static void update_irqs(I8042State *s)
{
    int kbd = 0, aux = 0;

    if (s->obuf_full) {
        if (s->obuf & FROM_AUX)
            aux = (s->mode & MODE_AUX_INT) != 0;
        else
            /* Like QEMU: a disabled keyboard interface raises no IRQ 1. */
            kbd = (s->mode & MODE_KBD_INT) && !(s->mode & MODE_DISABLE_KBD);
    }
    if (kbd != s->kbd_irq_level) {
        s->kbd_irq_level = kbd;
        irq_set_level(I8042_KBD_IRQ, kbd);
    }
    if (aux != s->aux_irq_level) {
        s->aux_irq_level = aux;
        irq_set_level(I8042_AUX_IRQ, aux);
    }
}

/* Move the next queued byte into an empty output buffer. */
static void fill_obuf(I8042State *s)
{
    if (!s->obuf_full) {
        ByteQueue *q = s->ctrl_q.count ? &s->ctrl_q :
                       s->kbd_q.count ? &s->kbd_q :
                       s->aux_q.count ? &s->aux_q : NULL;
        if (q) {
            s->obuf = queue_pop(q);
            s->obuf_full = true;
        }
    }
    update_irqs(s);
}

static void push_to(I8042State *s, ByteQueue *q, uint16_t v)
{
    if (!queue_push(q, v))
        guest_error("i8042: output queue full, byte 0x%02x dropped", v & 0xff);
    fill_obuf(s);
}

static void ctrl_reply(I8042State *s, uint8_t b)
{
    push_to(s, &s->ctrl_q, b);
}

static void kbd_reply(I8042State *s, uint8_t b)
{
    push_to(s, &s->kbd_q, b);
}

static void aux_reply(I8042State *s, uint8_t b)
{
    push_to(s, &s->aux_q, b | FROM_AUX);
}

/* ---- the keyboard ---- */

/*
 * With translation on, the controller turns the keyboard's set-2 bytes
 * into set-1; the only such bytes our minimal keyboard sends on its own are
 * the second ID byte and the scancode-set numbers (the set-2 codes
 * 0x83, 0x01, 0x02, 0x03 translate to 0x41, 0x43, 0x41, 0x3f).
 */
static uint8_t xlate(const I8042State *s, uint8_t b)
{
    if (!(s->mode & MODE_XLATE))
        return b;
    switch (b) {
    case 0x83: return 0x41;
    case 0x01: return 0x43;
    case 0x02: return 0x41;
    case 0x03: return 0x3f;
    }
    return b;
}

static void kbd_set_defaults(Ps2Kbd *k)
{
    k->scancode_set = 2;
    k->leds = 0;
    k->pending_cmd = 0;
}

static void kbd_argument(I8042State *s, uint8_t val)
{
    uint8_t cmd = s->kbd.pending_cmd;

    s->kbd.pending_cmd = 0;
    switch (cmd) {
    case 0xed:   /* set LEDs */
        s->kbd.leds = val & 0x07;
        kbd_reply(s, PS2_ACK);
        break;
    case 0xf3:   /* typematic rate/delay: accepted, not modelled */
        kbd_reply(s, PS2_ACK);
        break;
    case 0xf0:   /* scancode set: 0 = report the current one */
        if (val == 0) {
            kbd_reply(s, PS2_ACK);
            kbd_reply(s, xlate(s, s->kbd.scancode_set));
        } else if (val <= 3) {
            s->kbd.scancode_set = val;
            kbd_reply(s, PS2_ACK);
        } else {
            kbd_reply(s, PS2_RESEND);
        }
        break;
    }
}

static void kbd_command(I8042State *s, uint8_t val)
{
    if (s->kbd.pending_cmd) {
        kbd_argument(s, val);
        return;
    }
    switch (val) {
    case 0xff:   /* reset + basic assurance test */
        queue_clear(&s->kbd_q);
        kbd_set_defaults(&s->kbd);
        s->kbd.scanning = true;
        kbd_reply(s, PS2_ACK);
        kbd_reply(s, PS2_BAT_OK);
        break;
    case 0xf2:   /* identify: MF2 keyboard */
        kbd_reply(s, PS2_ACK);
        kbd_reply(s, 0xab);
        kbd_reply(s, xlate(s, 0x83));
        break;
    case 0xf4:
        s->kbd.scanning = true;
        kbd_reply(s, PS2_ACK);
        break;
    case 0xf5:   /* disable scanning and restore defaults */
        kbd_set_defaults(&s->kbd);
        s->kbd.scanning = false;
        kbd_reply(s, PS2_ACK);
        break;
    case 0xf6:
        kbd_set_defaults(&s->kbd);
        s->kbd.scanning = true;
        kbd_reply(s, PS2_ACK);
        break;
    case 0xed:
    case 0xf3:
    case 0xf0:
        s->kbd.pending_cmd = val;
        kbd_reply(s, PS2_ACK);
        break;
    case 0xee:
        kbd_reply(s, PS2_ECHO);
        break;
    default:
        kbd_reply(s, PS2_RESEND);
        break;
    }
}

void i8042_kbd_put(I8042State *s, uint8_t scancode)
{
    if (!s->kbd.scanning)
        return;
    kbd_reply(s, scancode);
}

bool i8042_kbd_translating(const I8042State *s)
{
    return s->mode & MODE_XLATE;
}

/* ---- the mouse ---- */

static void mouse_set_defaults(Ps2Mouse *m)
{
    m->enabled = false;
    m->remote = false;
    m->scale21 = false;
    m->resolution = 2;      /* 4 counts/mm */
    m->sample_rate = 100;
    m->pending_cmd = 0;
}

static void mouse_command(I8042State *s, uint8_t val)
{
    Ps2Mouse *m = &s->mouse;

    if (m->pending_cmd) {
        if (m->pending_cmd == 0xe8)
            m->resolution = val & 3;
        else
            m->sample_rate = val;
        m->pending_cmd = 0;
        aux_reply(s, PS2_ACK);
        return;
    }
    switch (val) {
    case 0xff:   /* reset: ACK, BAT passed, device ID 0 */
        queue_clear(&s->aux_q);
        mouse_set_defaults(m);
        aux_reply(s, PS2_ACK);
        aux_reply(s, PS2_BAT_OK);
        aux_reply(s, 0x00);
        break;
    case 0xf2:   /* get device ID: standard mouse */
        aux_reply(s, PS2_ACK);
        aux_reply(s, 0x00);
        break;
    case 0xe9:   /* status request */
        aux_reply(s, PS2_ACK);
        aux_reply(s, (m->remote ? 0x40 : 0) | (m->enabled ? 0x20 : 0) |
                     (m->scale21 ? 0x10 : 0));
        aux_reply(s, m->resolution);
        aux_reply(s, m->sample_rate);
        break;
    case 0xeb:   /* read data: an empty movement packet */
        aux_reply(s, PS2_ACK);
        aux_reply(s, 0x08);
        aux_reply(s, 0x00);
        aux_reply(s, 0x00);
        break;
    case 0xe8:
    case 0xf3:
        m->pending_cmd = val;
        aux_reply(s, PS2_ACK);
        break;
    case 0xf4: m->enabled = true; aux_reply(s, PS2_ACK); break;
    case 0xf5: m->enabled = false; aux_reply(s, PS2_ACK); break;
    case 0xf6: mouse_set_defaults(m); aux_reply(s, PS2_ACK); break;
    case 0xe6: m->scale21 = false; aux_reply(s, PS2_ACK); break;
    case 0xe7: m->scale21 = true; aux_reply(s, PS2_ACK); break;
    case 0xea: m->remote = false; aux_reply(s, PS2_ACK); break;
    case 0xf0: m->remote = true; aux_reply(s, PS2_ACK); break;
    case 0xec:
    case 0xee:   /* wrap mode on/off: not modelled, acknowledged */
        aux_reply(s, PS2_ACK);
        break;
    default:
        aux_reply(s, PS2_RESEND);
        break;
    }
}

/* ---- the controller ---- */

static void write_outport(I8042State *s, uint8_t val)
{
    s->outport = val;
    /* Output port bit 0 is wired to the CPU reset line (active low). */
    if (!(val & OUT_RESET))
        request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
}

static uint8_t read_outport(const I8042State *s)
{
    uint8_t val = s->outport & ~(OUT_OBF | OUT_AUX_OBF);

    if (s->obuf_full)
        val |= (s->obuf & FROM_AUX) ? OUT_AUX_OBF : OUT_OBF;
    return val;
}

static void write_mode(I8042State *s, uint8_t val)
{
    s->mode = val;
    /* The status register's system flag follows command byte bit 2. */
    if (val & MODE_SYS)
        s->status |= STAT_SYS;
    else
        s->status &= ~STAT_SYS;
    update_irqs(s);
}

static void controller_command(I8042State *s, uint8_t cmd)
{
    /*
     * 0xf0-0xff pulse the output port bits whose bit is 0 in the low
     * nibble for ~6 us; only bit 0 (CPU reset) has a visible effect.
     */
    if (cmd >= CCMD_PULSE_FIRST) {
        if (!(cmd & 0x01))
            request_reset(SHUTDOWN_CAUSE_GUEST_RESET);
        return;
    }
    switch (cmd) {
    case CCMD_READ_MODE:
        ctrl_reply(s, s->mode);
        break;
    case CCMD_WRITE_MODE:
    case CCMD_WRITE_OUTPORT:
    case CCMD_WRITE_KBD_OBUF:
    case CCMD_WRITE_AUX_OBUF:
    case CCMD_WRITE_AUX:
        s->write_cmd = cmd;
        break;
    case CCMD_AUX_DISABLE:
        s->mode |= MODE_DISABLE_AUX;
        break;
    case CCMD_AUX_ENABLE:
        s->mode &= ~MODE_DISABLE_AUX;
        break;
    case CCMD_AUX_TEST:
    case CCMD_KBD_TEST:
        ctrl_reply(s, 0x00);   /* interface OK */
        break;
    case CCMD_SELF_TEST:
        s->status |= STAT_SYS;
        ctrl_reply(s, 0x55);
        break;
    case CCMD_KBD_DISABLE:
        s->mode |= MODE_DISABLE_KBD;
        update_irqs(s);
        break;
    case CCMD_KBD_ENABLE:
        s->mode &= ~MODE_DISABLE_KBD;
        update_irqs(s);
        break;
    case CCMD_READ_INPORT:
        ctrl_reply(s, 0x80);   /* bit 7: keyboard not inhibited */
        break;
    case CCMD_READ_OUTPORT:
        ctrl_reply(s, read_outport(s));
        break;
    case CCMD_DISABLE_A20:
        s->outport &= ~OUT_A20;
        break;
    case CCMD_ENABLE_A20:
        s->outport |= OUT_A20;
        break;
    default:
        guest_error("i8042: unsupported controller command 0x%02x", cmd);
        break;
    }
}

static void data_write(I8042State *s, uint8_t val)
{
    uint8_t cmd = s->write_cmd;

    s->write_cmd = 0;
    switch (cmd) {
    case 0:
        kbd_command(s, val);
        break;
    case CCMD_WRITE_MODE:
        write_mode(s, val);
        break;
    case CCMD_WRITE_OUTPORT:
        write_outport(s, val);
        break;
    case CCMD_WRITE_KBD_OBUF:
        ctrl_reply(s, val);
        break;
    case CCMD_WRITE_AUX_OBUF:
        push_to(s, &s->ctrl_q, val | FROM_AUX);
        break;
    case CCMD_WRITE_AUX:
        mouse_command(s, val);
        break;
    }
}

static uint8_t data_read(I8042State *s)
{
    uint8_t val = s->obuf & 0xff;   /* an empty buffer reads its last byte */

    if (s->obuf_full) {
        s->obuf_full = false;
        update_irqs(s);   /* lower the line before the next byte raises it */
        fill_obuf(s);
    }
    return val;
}

static uint8_t status_read(const I8042State *s)
{
    uint8_t val = s->status;

    if (s->obuf_full) {
        val |= STAT_OBF;
        if (s->obuf & FROM_AUX)
            val |= STAT_AUXB;
    }
    return val;
}

static void i8042_data_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    I8042State *s = opaque;

    s->status &= ~STAT_CMD;
    data_write(s, (uint8_t)val);
}

static void i8042_cmd_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    I8042State *s = opaque;

    s->status |= STAT_CMD;
    controller_command(s, (uint8_t)val);
}

static uint64_t i8042_data_read(void *opaque, uint64_t off, unsigned size)
{
    return data_read(opaque);
}

static uint64_t i8042_status_read(void *opaque, uint64_t off, unsigned size)
{
    return status_read(opaque);
}

static const MemOps i8042_data_ops = {
    .read = i8042_data_read,
    .write = i8042_data_write,
};

static const MemOps i8042_cmd_ops = {
    .read = i8042_status_read,
    .write = i8042_cmd_write,
};

/* Power-on state as QEMU's pckbd: interrupts on, translation off until the
 * firmware sets it, A20 and reset lines high. */
static void i8042_reset(void *opaque)
{
    I8042State *s = opaque;

    s->mode = MODE_KBD_INT | MODE_AUX_INT;
    s->status = STAT_CMD | STAT_UNLOCKED;
    s->outport = OUT_POWER_ON;
    s->write_cmd = 0;
    s->obuf_full = false;
    s->obuf = 0;
    queue_clear(&s->ctrl_q);
    queue_clear(&s->kbd_q);
    queue_clear(&s->aux_q);
    kbd_set_defaults(&s->kbd);
    s->kbd.scanning = true;
    mouse_set_defaults(&s->mouse);
    s->kbd_irq_level = s->aux_irq_level = 0;
    irq_set_level(I8042_KBD_IRQ, 0);
    irq_set_level(I8042_AUX_IRQ, 0);
}

/* The machine has one keyboard controller; the monitor's sendkey finds it here. */
static I8042State *i8042_the_instance;

I8042State *i8042_instance(void)
{
    return i8042_the_instance;
}

I8042State *i8042_create(void)
{
    I8042State *s = xzalloc(sizeof(*s));

    if (pio_region_add(I8042_DATA_PORT, 1, &i8042_data_ops, s, "i8042-data") < 0) {
        free(s);
        return NULL;
    }
    if (pio_region_add(I8042_CMD_PORT, 1, &i8042_cmd_ops, s, "i8042-cmd") < 0) {
        as_del(&pio_space, I8042_DATA_PORT, s);
        free(s);
        return NULL;
    }
    i8042_reset(s);
    reset_register(i8042_reset, s);
    i8042_the_instance = s;
    return s;
}
