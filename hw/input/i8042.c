/*
 * Intel 8042 keyboard controller as on the PC/AT and PS/2: data port 0x60,
 * status/command port 0x64, IRQ 1 (keyboard) and IRQ 12 (aux/mouse).  It
 * also owns the system reset line (output port bit 0, command 0xfe) and the
 * A20 gate (output port bit 1, remembered only: KVM guests run with A20 on).
 *
 * Model: one output buffer register (what port 0x60 reads), filled from
 * three small queues in priority order: controller replies (and bytes the
 * guest injects with 0xd2/0xd3), the keyboard, the aux device.  A device's
 * queue only feeds the buffer while its interface is enabled in the command
 * byte.  The IRQ of the source of the byte in the buffer is high while the
 * buffer is full and that source's interrupt is enabled in the command byte.
 *
 * Behind the controller sit a PS/2 keyboard (scan code sets 1/2/3, LEDs,
 * typematic, the IBM PS/2 technical reference command set) and a PS/2
 * mouse (stream and remote modes, IntelliMouse wheel and 5-button
 * detection).  Both take events from the input layer (include/ui.h) as
 * Linux keycodes and relative motion.  With the command byte's XLATE bit
 * the keyboard's bytes pass through the 8042's set 2 -> set 1 translation
 * (translated as they are queued, as QEMU does).
 */
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "hw.h"
#include "ui.h"
#include "util.h"
#include "vmstate.h"

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

/* PS/2 keyboard commands (IBM PS/2 technical reference, keyboard). */
enum {
    KCMD_SET_LEDS = 0xed,
    KCMD_ECHO = 0xee,
    KCMD_SCANCODE_SET = 0xf0,
    KCMD_IDENTIFY = 0xf2,
    KCMD_TYPEMATIC = 0xf3,
    KCMD_ENABLE = 0xf4,
    KCMD_DISABLE = 0xf5,
    KCMD_DEFAULTS = 0xf6,
    KCMD_ALL_TYPEMATIC = 0xf7,     /* f7-fa: set-3 all-key modes */
    KCMD_ALL_MAKE_TYPEMATIC = 0xfa,
    KCMD_KEY_TYPEMATIC = 0xfb,     /* fb-fd: set-3 per-key modes + a key */
    KCMD_KEY_MAKE = 0xfd,
    KCMD_RESEND = 0xfe,
    KCMD_RESET = 0xff,
};

/* PS/2 mouse commands. */
enum {
    MCMD_SCALE11 = 0xe6,
    MCMD_SCALE21 = 0xe7,
    MCMD_SET_RES = 0xe8,
    MCMD_STATUS = 0xe9,
    MCMD_STREAM = 0xea,
    MCMD_READ_DATA = 0xeb,
    MCMD_RESET_WRAP = 0xec,
    MCMD_WRAP = 0xee,
    MCMD_REMOTE = 0xf0,
    MCMD_GET_ID = 0xf2,
    MCMD_SAMPLE_RATE = 0xf3,
    MCMD_ENABLE = 0xf4,
    MCMD_DISABLE = 0xf5,
    MCMD_DEFAULTS = 0xf6,
    MCMD_RESET = 0xff,
};

/* Mouse status byte (reply to 0xe9). */
#define MSTAT_REMOTE 0x40
#define MSTAT_ENABLED 0x20
#define MSTAT_SCALE21 0x10

/* Device IDs (0xf2): standard, IntelliMouse (wheel), IntelliMouse Explorer. */
#define MOUSE_ID_PS2 0
#define MOUSE_ID_IMPS2 3
#define MOUSE_ID_IMEX 4

/* Packet byte 0. */
#define PKT_ALWAYS1 0x08
#define PKT_X_SIGN 0x10
#define PKT_Y_SIGN 0x20

#define QUEUE_SIZE 16
/* Queue entries: a byte plus where it came from. */
#define FROM_AUX 0x100

typedef struct ByteQueue {
    uint16_t data[QUEUE_SIZE];
    uint32_t head, count;
} ByteQueue;

typedef struct Ps2Kbd {
    uint8_t pending_cmd;   /* command waiting for its argument, 0 = none */
    bool scanning;
    uint8_t scancode_set;  /* 1, 2 or 3 */
    uint8_t leds;          /* bit 0 scroll, 1 num, 2 caps lock */
    uint8_t typematic;     /* rate (bits 0-4) and delay (bits 5-6), stored only */
    uint8_t last_sent;     /* for 0xfe (resend) */
    bool need_high_bit;    /* translating: a set-2 0xf0 was swallowed */
    uint8_t modifiers;     /* PS2_MOD_* held, for PrintScreen/Pause */
} Ps2Kbd;

typedef struct Ps2Mouse {
    uint8_t pending_cmd;   /* 0xe8 / 0xf3 waiting for its argument */
    uint8_t status;        /* MSTAT_* */
    uint8_t resolution, sample_rate;
    bool wrap;
    uint8_t id;            /* MOUSE_ID_* */
    uint8_t detect;        /* IntelliMouse knock state machine */
    int32_t dx, dy, dz;    /* accumulated motion not yet sent (dy: up) */
    uint8_t buttons;       /* packet bits 0-2: left, right, middle */
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
    InputHandler kbd_handler, mouse_handler;
};

/* ---- queues and the output buffer ---- */

static void queue_clear(ByteQueue *q)
{
    q->head = q->count = 0;
}

static unsigned queue_room(const ByteQueue *q)
{
    return QUEUE_SIZE - q->count;
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

/*
 * Move the next queued byte into an empty output buffer: controller
 * replies first, then the keyboard, then the aux device; a device whose
 * interface the command byte disables keeps its bytes until re-enabled.
 */
static void fill_obuf(I8042State *s)
{
    if (!s->obuf_full) {
        ByteQueue *q = NULL;
        if (s->ctrl_q.count)
            q = &s->ctrl_q;
        else if (s->kbd_q.count && !(s->mode & MODE_DISABLE_KBD))
            q = &s->kbd_q;
        else if (s->aux_q.count && !(s->mode & MODE_DISABLE_AUX))
            q = &s->aux_q;
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
    s->kbd.last_sent = b;
    push_to(s, &s->kbd_q, b);
}

static void aux_reply(I8042State *s, uint8_t b)
{
    push_to(s, &s->aux_q, b | FROM_AUX);
}

/* ---- the keyboard ---- */

static bool translating(const I8042State *s)
{
    return (s->mode & MODE_XLATE) != 0;
}

/*
 * A scan code byte from the keyboard.  Translating, the 8042 swallows a
 * set-2 break prefix 0xf0 and sets bit 7 of the next (translated) code.
 */
static void kbd_put_scancode(I8042State *s, uint8_t b)
{
    if (!translating(s)) {
        kbd_reply(s, b);
    } else if (b == 0xf0) {
        s->kbd.need_high_bit = true;
    } else {
        uint8_t t = ps2_translate_set2(b);
        if (s->kbd.need_high_bit)
            t |= 0x80;
        s->kbd.need_high_bit = false;
        kbd_reply(s, t);
    }
}

static void kbd_set_defaults(I8042State *s)
{
    Ps2Kbd *k = &s->kbd;

    k->scancode_set = 2;
    k->leds = 0;
    k->typematic = 0x2b;   /* 10.9 characters/s, 500 ms: the power-on rate */
    k->pending_cmd = 0;
    k->need_high_bit = false;
}

/* F5/F6/FF: as QEMU, anything still queued from the keyboard is dropped. */
static void kbd_reset_state(I8042State *s, bool scanning)
{
    queue_clear(&s->kbd_q);
    kbd_set_defaults(s);
    s->kbd.scanning = scanning;
}

static void kbd_scancode_set_cmd(I8042State *s, uint8_t val)
{
    if (val == 0) {
        /* Report the set as a scan code (translated: 0x43/0x41/0x3f). */
        if (queue_room(&s->kbd_q) >= 2) {
            kbd_reply(s, PS2_ACK);
            kbd_put_scancode(s, s->kbd.scancode_set);
        }
    } else if (val <= 3) {
        s->kbd.scancode_set = val;
        kbd_reply(s, PS2_ACK);
    } else {
        kbd_reply(s, PS2_RESEND);
    }
}

static void kbd_argument(I8042State *s, uint8_t val)
{
    uint8_t cmd = s->kbd.pending_cmd;

    s->kbd.pending_cmd = 0;
    switch (cmd) {
    case KCMD_SET_LEDS:
        s->kbd.leds = val & 0x07;
        kbd_reply(s, PS2_ACK);
        break;
    case KCMD_TYPEMATIC:
        s->kbd.typematic = val & 0x7f;
        kbd_reply(s, PS2_ACK);
        break;
    case KCMD_SCANCODE_SET:
        kbd_scancode_set_cmd(s, val);
        break;
    default:   /* 0xfb-0xfd: the set-3 key whose mode changes */
        kbd_reply(s, PS2_ACK);
        break;
    }
}

static void kbd_identify(I8042State *s)
{
    /* An MF2 keyboard: AB 83, whose second byte QEMU (like a translating
     * 8042) reports as 0x41. */
    if (queue_room(&s->kbd_q) < 3)
        return;
    kbd_reply(s, PS2_ACK);
    kbd_reply(s, 0xab);
    kbd_reply(s, translating(s) ? 0x41 : 0x83);
}

static void kbd_command(I8042State *s, uint8_t val)
{
    if (s->kbd.pending_cmd) {
        kbd_argument(s, val);
        return;
    }
    switch (val) {
    case KCMD_RESET:   /* reset + basic assurance test */
        kbd_reset_state(s, true);
        kbd_reply(s, PS2_ACK);
        kbd_reply(s, PS2_BAT_OK);
        break;
    case KCMD_IDENTIFY:
        kbd_identify(s);
        break;
    case KCMD_ENABLE:
        s->kbd.scanning = true;
        kbd_reply(s, PS2_ACK);
        break;
    case KCMD_DISABLE:   /* disable scanning and restore defaults */
        kbd_reset_state(s, false);
        kbd_reply(s, PS2_ACK);
        break;
    case KCMD_DEFAULTS:
        kbd_reset_state(s, true);
        kbd_reply(s, PS2_ACK);
        break;
    case KCMD_SET_LEDS:
    case KCMD_TYPEMATIC:
    case KCMD_SCANCODE_SET:
        s->kbd.pending_cmd = val;
        kbd_reply(s, PS2_ACK);
        break;
    case KCMD_ECHO:
        kbd_reply(s, PS2_ECHO);
        break;
    case KCMD_RESEND:
        kbd_reply(s, s->kbd.last_sent);
        break;
    default:
        if (val >= KCMD_ALL_TYPEMATIC && val <= KCMD_ALL_MAKE_TYPEMATIC) {
            kbd_reply(s, PS2_ACK);   /* set-3 key modes: not modelled */
        } else if (val >= KCMD_KEY_TYPEMATIC && val <= KCMD_KEY_MAKE) {
            s->kbd.pending_cmd = val;
            kbd_reply(s, PS2_ACK);
        } else {
            kbd_reply(s, PS2_RESEND);
        }
        break;
    }
}

/* Input layer: a key went down or up. */
static void kbd_key_event(void *opaque, unsigned keycode, bool down)
{
    I8042State *s = opaque;
    uint8_t seq[PS2_MAX_SEQ];
    unsigned mod = ps2_modifier_bit(keycode);
    size_t n;

    if (down)
        s->kbd.modifiers |= mod;
    else
        s->kbd.modifiers &= ~mod;
    /* A disabled keyboard does not scan (its keys are lost). */
    if (!s->kbd.scanning)
        return;
    n = ps2_key_sequence(keycode, s->kbd.scancode_set, down, s->kbd.modifiers, seq);
    /* All or nothing: half a sequence would desynchronise the driver. */
    if (n > queue_room(&s->kbd_q)) {
        guest_error("i8042: keyboard queue full, key %u dropped", keycode);
        return;
    }
    for (size_t i = 0; i < n; i++)
        kbd_put_scancode(s, seq[i]);
}

/* ---- the mouse ---- */

static void mouse_set_defaults(Ps2Mouse *m)
{
    m->status = 0;          /* stream mode, reporting off, scaling 1:1 */
    m->resolution = 2;      /* 4 counts/mm */
    m->sample_rate = 100;
    m->pending_cmd = 0;
}

static void mouse_reset_state(I8042State *s)
{
    Ps2Mouse *m = &s->mouse;

    queue_clear(&s->aux_q);
    mouse_set_defaults(m);
    m->wrap = false;
    m->id = MOUSE_ID_PS2;
    m->detect = 0;
    m->dx = m->dy = m->dz = 0;
}

static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static unsigned packet_size(const Ps2Mouse *m)
{
    return m->id == MOUSE_ID_PS2 ? 3 : 4;
}

/*
 * One movement packet: byte 0 buttons, bit 3 set, X/Y sign bits; bytes 1
 * and 2 the low 8 bits of the 9-bit two's complement X and Y (range
 * -256..255); with IntelliMouse a Z byte (IMEX: 4-bit Z).  What does not
 * fit stays accumulated for the next packet, so nothing is lost and the
 * overflow bits are never needed.  0 if the queue has no room.
 */
static bool mouse_send_packet(I8042State *s)
{
    Ps2Mouse *m = &s->mouse;
    int32_t dx = clamp32(m->dx, -256, 255), dy = clamp32(m->dy, -256, 255);
    int32_t dz = m->id == MOUSE_ID_IMEX ? clamp32(m->dz, -8, 7) : clamp32(m->dz, -128, 127);

    if (queue_room(&s->aux_q) < packet_size(m))
        return false;
    aux_reply(s, PKT_ALWAYS1 | (m->buttons & 0x07) | (dx < 0 ? PKT_X_SIGN : 0) |
                 (dy < 0 ? PKT_Y_SIGN : 0));
    aux_reply(s, (uint8_t)dx);
    aux_reply(s, (uint8_t)dy);
    if (m->id == MOUSE_ID_IMPS2)
        aux_reply(s, (uint8_t)dz);
    else if (m->id == MOUSE_ID_IMEX)
        aux_reply(s, (uint8_t)(dz & 0x0f));
    m->dx -= dx;
    m->dy -= dy;
    m->dz -= dz;
    return true;
}

/* Stream mode with reporting on: send until the motion is all out. */
static void mouse_flush(I8042State *s)
{
    Ps2Mouse *m = &s->mouse;

    if ((m->status & (MSTAT_ENABLED | MSTAT_REMOTE)) != MSTAT_ENABLED)
        return;
    while (mouse_send_packet(s)) {
        if (m->dx == 0 && m->dy == 0 && m->dz == 0)
            break;
    }
}

/* Input layer: relative motion (dy down, dz towards the user) + buttons. */
static void mouse_rel_event(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
    I8042State *s = opaque;
    Ps2Mouse *m = &s->mouse;

    /* Motion is only counted while reporting is on or polled (remote). */
    if (!(m->status & (MSTAT_ENABLED | MSTAT_REMOTE)))
        return;
    /* Keep the sums bounded whatever the client sends. */
    m->dx = clamp32(m->dx + clamp32(dx, -65536, 65536), -65536, 65536);
    m->dy = clamp32(m->dy - clamp32(dy, -65536, 65536), -65536, 65536);
    m->dz = clamp32(m->dz + clamp32(dz, -256, 256), -256, 256);
    /* PS/2 byte 0: bit 0 left, bit 1 right, bit 2 middle (same as INPUT_BUTTON_*). */
    m->buttons = (uint8_t)(buttons & (INPUT_BUTTON_LEFT | INPUT_BUTTON_RIGHT |
                                      INPUT_BUTTON_MIDDLE));
    mouse_flush(s);
}

/*
 * The IntelliMouse knock: sample rates 200, 100, 80 make the mouse report
 * ID 3 (wheel); 200, 200, 80 (once it has a wheel) ID 4 (5 buttons).
 */
static void mouse_detect(Ps2Mouse *m, uint8_t rate)
{
    switch (m->detect) {
    case 0:
        m->detect = rate == 200 ? 1 : 0;
        break;
    case 1:
        m->detect = rate == 100 ? 2 : rate == 200 ? 3 : 0;
        break;
    case 2:
        if (rate == 80)
            m->id = MOUSE_ID_IMPS2;
        m->detect = 0;
        break;
    default:
        if (rate == 80 && m->id == MOUSE_ID_IMPS2)
            m->id = MOUSE_ID_IMEX;
        m->detect = rate == 200 ? 1 : 0;
        break;
    }
}

static void mouse_argument(I8042State *s, uint8_t val)
{
    Ps2Mouse *m = &s->mouse;

    if (m->pending_cmd == MCMD_SET_RES) {
        m->resolution = val;
    } else {
        m->sample_rate = val;
        mouse_detect(m, val);
    }
    m->pending_cmd = 0;
    aux_reply(s, PS2_ACK);
}

static void mouse_status_cmd(I8042State *s)
{
    Ps2Mouse *m = &s->mouse;

    if (queue_room(&s->aux_q) < 4)
        return;
    aux_reply(s, PS2_ACK);
    aux_reply(s, m->status);
    aux_reply(s, m->resolution);
    aux_reply(s, m->sample_rate);
}

static void mouse_command(I8042State *s, uint8_t val)
{
    Ps2Mouse *m = &s->mouse;

    if (m->pending_cmd) {
        mouse_argument(s, val);
        return;
    }
    /* Wrap mode echoes everything but "reset wrap" and "reset". */
    if (m->wrap && val != MCMD_RESET_WRAP && val != MCMD_RESET) {
        aux_reply(s, val);
        return;
    }
    switch (val) {
    case MCMD_RESET:   /* ACK, BAT passed, device ID 0 */
        mouse_reset_state(s);
        aux_reply(s, PS2_ACK);
        aux_reply(s, PS2_BAT_OK);
        aux_reply(s, MOUSE_ID_PS2);
        break;
    case MCMD_GET_ID:
        aux_reply(s, PS2_ACK);
        aux_reply(s, m->id);
        break;
    case MCMD_STATUS:
        mouse_status_cmd(s);
        break;
    case MCMD_READ_DATA:   /* remote mode poll: one packet, even an empty one */
        aux_reply(s, PS2_ACK);
        mouse_send_packet(s);
        break;
    case MCMD_SET_RES:
    case MCMD_SAMPLE_RATE:
        m->pending_cmd = val;
        aux_reply(s, PS2_ACK);
        break;
    case MCMD_ENABLE: m->status |= MSTAT_ENABLED; aux_reply(s, PS2_ACK); break;
    case MCMD_DISABLE: m->status &= ~MSTAT_ENABLED; aux_reply(s, PS2_ACK); break;
    case MCMD_DEFAULTS: mouse_set_defaults(m); aux_reply(s, PS2_ACK); break;
    case MCMD_SCALE11: m->status &= ~MSTAT_SCALE21; aux_reply(s, PS2_ACK); break;
    case MCMD_SCALE21: m->status |= MSTAT_SCALE21; aux_reply(s, PS2_ACK); break;
    case MCMD_STREAM: m->status &= ~MSTAT_REMOTE; aux_reply(s, PS2_ACK); break;
    case MCMD_REMOTE: m->status |= MSTAT_REMOTE; aux_reply(s, PS2_ACK); break;
    case MCMD_WRAP: m->wrap = true; aux_reply(s, PS2_ACK); break;
    case MCMD_RESET_WRAP: m->wrap = false; aux_reply(s, PS2_ACK); break;
    default:
        /* QEMU's mouse ignores other bytes; so do we (the driver times out). */
        guest_error("i8042: unknown mouse command 0x%02x", val);
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
    fill_obuf(s);   /* an interface enabled again may have bytes waiting */
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
        fill_obuf(s);
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
        fill_obuf(s);
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
        /* Sending to the keyboard re-enables its interface (as QEMU). */
        s->mode &= ~MODE_DISABLE_KBD;
        kbd_command(s, val);
        fill_obuf(s);
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
        s->mode &= ~MODE_DISABLE_AUX;
        mouse_command(s, val);
        fill_obuf(s);
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
    kbd_reset_state(s, true);
    s->kbd.modifiers = 0;
    s->kbd.last_sent = 0;
    mouse_reset_state(s);
    s->mouse.buttons = 0;
    s->kbd_irq_level = s->aux_irq_level = 0;
    irq_set_level(I8042_KBD_IRQ, 0);
    irq_set_level(I8042_AUX_IRQ, 0);
}

/* ---- migration ---- */

static const VMStateField byte_queue_fields[] = {
    VMSTATE_U16_ARRAY(data, ByteQueue, QUEUE_SIZE),
    VMSTATE_U32(head, ByteQueue),
    VMSTATE_U32(count, ByteQueue),
    VMSTATE_END,
};
static const VMStateDescription vmstate_byte_queue = {
    .name = "i8042-queue", .version = 1, .fields = byte_queue_fields,
};

static const VMStateField ps2_kbd_fields[] = {
    VMSTATE_U8(pending_cmd, Ps2Kbd),
    VMSTATE_BOOL(scanning, Ps2Kbd),
    VMSTATE_U8(scancode_set, Ps2Kbd),
    VMSTATE_U8(leds, Ps2Kbd),
    VMSTATE_U8(typematic, Ps2Kbd),
    VMSTATE_U8(last_sent, Ps2Kbd),
    VMSTATE_BOOL(need_high_bit, Ps2Kbd),
    VMSTATE_U8(modifiers, Ps2Kbd),
    VMSTATE_END,
};
static const VMStateDescription vmstate_ps2_kbd = {
    .name = "ps2kbd", .version = 1, .fields = ps2_kbd_fields,
};

static const VMStateField ps2_mouse_fields[] = {
    VMSTATE_U8(pending_cmd, Ps2Mouse),
    VMSTATE_U8(status, Ps2Mouse),
    VMSTATE_U8(resolution, Ps2Mouse),
    VMSTATE_U8(sample_rate, Ps2Mouse),
    VMSTATE_BOOL(wrap, Ps2Mouse),
    VMSTATE_U8(id, Ps2Mouse),
    VMSTATE_U8(detect, Ps2Mouse),
    VMSTATE_I32(dx, Ps2Mouse),
    VMSTATE_I32(dy, Ps2Mouse),
    VMSTATE_I32(dz, Ps2Mouse),
    VMSTATE_U8(buttons, Ps2Mouse),
    VMSTATE_END,
};
static const VMStateDescription vmstate_ps2_mouse = {
    .name = "ps2mouse", .version = 1, .fields = ps2_mouse_fields,
};

static const VMStateField i8042_fields[] = {
    VMSTATE_U8(mode, I8042State),
    VMSTATE_U8(status, I8042State),
    VMSTATE_U8(outport, I8042State),
    VMSTATE_U8(write_cmd, I8042State),
    VMSTATE_BOOL(obuf_full, I8042State),
    VMSTATE_U16(obuf, I8042State),
    VMSTATE_STRUCT(ctrl_q, I8042State, vmstate_byte_queue),
    VMSTATE_STRUCT(kbd_q, I8042State, vmstate_byte_queue),
    VMSTATE_STRUCT(aux_q, I8042State, vmstate_byte_queue),
    VMSTATE_STRUCT(kbd, I8042State, vmstate_ps2_kbd),
    VMSTATE_STRUCT(mouse, I8042State, vmstate_ps2_mouse),
    VMSTATE_END,
};

static bool queue_valid(const ByteQueue *q)
{
    return q->head < QUEUE_SIZE && q->count <= QUEUE_SIZE;
}

/* The stream is hostile: refuse indexes and modes the code cannot handle,
 * then re-derive the IRQ lines from the loaded buffer and command byte. */
static int i8042_post_load(void *opaque, unsigned version)
{
    I8042State *s = opaque;
    Ps2Mouse *m = &s->mouse;

    if (!queue_valid(&s->ctrl_q) || !queue_valid(&s->kbd_q) || !queue_valid(&s->aux_q))
        return -1;
    if (s->kbd.scancode_set < 1 || s->kbd.scancode_set > 3)
        return -1;
    if (m->id != MOUSE_ID_PS2 && m->id != MOUSE_ID_IMPS2 && m->id != MOUSE_ID_IMEX)
        return -1;
    m->dx = clamp32(m->dx, -65536, 65536);
    m->dy = clamp32(m->dy, -65536, 65536);
    m->dz = clamp32(m->dz, -256, 256);
    s->kbd_irq_level = s->aux_irq_level = -1;   /* force both lines out */
    update_irqs(s);
    return 0;
}

static const VMStateDescription vmstate_i8042 = {
    .name = "i8042",
    .version = 1,
    .fields = i8042_fields,
    .post_load = i8042_post_load,
};

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
    s->kbd_handler = (InputHandler){
        .name = I8042_KBD_HANDLER_NAME, .kinds = INPUT_KIND_KEY,
        .key = kbd_key_event, .opaque = s,
    };
    s->mouse_handler = (InputHandler){
        .name = I8042_MOUSE_HANDLER_NAME, .kinds = INPUT_KIND_REL,
        .rel = mouse_rel_event, .opaque = s,
    };
    input_register_handler(&s->kbd_handler);
    input_register_handler(&s->mouse_handler);
    vmstate_register(&vmstate_i8042, I8042_DATA_PORT, s);
    i8042_the_instance = s;
    return s;
}
