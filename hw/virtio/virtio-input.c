/*
 * virtio-input (virtio 1.2, section 5.8): -device virtio-keyboard-pci,
 * virtio-mouse-pci and virtio-tablet-pci.  The device passes Linux evdev
 * events (le16 type, le16 code, le32 value) to the driver in the buffers
 * of the event queue, each batch ended by EV_SYN; the driver describes
 * itself through the select/subsel config window.  Like QEMU's devices
 * they are modern-only (PCI device 0x1052, no legacy I/O BAR) and take
 * their events from the input layer (include/ui.h): the keyboard keys,
 * the mouse relative motion, the tablet absolute positions.
 */
#include <endian.h>
#include <linux/input-event-codes.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "hw.h"
#include "ui.h"
#include "virtio.h"
#include "vmstate.h"

#define VIRTIO_ID_INPUT 18

/* 5.8.4 config selectors */
#define CFG_UNSET 0x00
#define CFG_ID_NAME 0x01
#define CFG_ID_SERIAL 0x02
#define CFG_ID_DEVIDS 0x03
#define CFG_PROP_BITS 0x10
#define CFG_EV_BITS 0x11
#define CFG_ABS_INFO 0x12

/* struct virtio_input_config: select, subsel, size, reserved[5], u[128]. */
#define CFG_OFF_SELECT 0
#define CFG_OFF_SUBSEL 1
#define CFG_OFF_SIZE 2
#define CFG_OFF_UNION 8
#define CFG_UNION_SIZE 128
#define INPUT_CONFIG_SIZE (CFG_OFF_UNION + CFG_UNION_SIZE)

/* QEMU's identity of its HID-like devices (BUS_VIRTUAL, vendor 0x0627). */
#define INPUT_BUSTYPE 0x06
#define INPUT_VENDOR 0x0627

#define EVENT_QUEUE_SIZE 64
#define MAX_BATCH 16            /* events of one batch, EV_SYN included */

typedef enum { VI_KEYBOARD, VI_MOUSE, VI_TABLET } VirtioInputKind;

typedef struct VirtioInputModel {
    const char *name;           /* ID_NAME */
    const char *dev_name;       /* "virtio-tablet-pci" */
    uint16_t product;
    unsigned handler_kinds;
    uint16_t class_code;        /* PCI class: keyboard, mouse, other input */
    uint16_t version;           /* ID_DEVIDS version, QEMU's */
} VirtioInputModel;

static const VirtioInputModel models[] = {
    [VI_KEYBOARD] = { "QEMU Virtio Keyboard", "virtio-keyboard-pci", 1, INPUT_KIND_KEY, 0x0900, 1 },
    [VI_MOUSE] = { "QEMU Virtio Mouse", "virtio-mouse-pci", 2, INPUT_KIND_REL, 0x0902, 2 },
    [VI_TABLET] = { "QEMU Virtio Tablet", "virtio-tablet-pci", 3, INPUT_KIND_ABS, 0x0980, 2 },
};

typedef struct VirtioInputEvent {
    uint16_t type, code;
    uint32_t value;
} VirtioInputEvent;

typedef struct VirtIOInput {
    VirtIODevice vdev;
    VirtioInputKind kind;
    char *serial;               /* serial= property, NULL: none */
    VirtQueue *evq, *stsq;
    VirtQueueElement elem;
    uint32_t buttons;           /* INPUT_BUTTON_* last reported */
    uint32_t leds;              /* LED_* bits the driver set (keyboard) */
    uint64_t dropped;           /* batches lost for want of buffers */
    InputHandler handler;
    VirtioInputEvent batch[MAX_BATCH];
    unsigned nbatch;
} VirtIOInput;

static const struct { unsigned bit; unsigned btn; } button_map[] = {
    { INPUT_BUTTON_LEFT, BTN_LEFT },
    { INPUT_BUTTON_RIGHT, BTN_RIGHT },
    { INPUT_BUTTON_MIDDLE, BTN_MIDDLE },
};

/* ---- config space ---- */

static void bitmap_set(uint8_t *map, unsigned bit, uint8_t *size)
{
    if (bit / 8 >= CFG_UNION_SIZE)
        return;
    map[bit / 8] |= (uint8_t)(1u << (bit % 8));
    if (bit / 8 + 1 > *size)
        *size = (uint8_t)(bit / 8 + 1);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, 2);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

/* A string and, as QEMU reports it, its terminating NUL (when it fits). */
static uint8_t set_string(uint8_t *u, const char *str)
{
    size_t n;

    if (!str)
        return 0;
    n = strlen(str) + 1;
    if (n > CFG_UNION_SIZE)
        n = CFG_UNION_SIZE;
    memcpy(u, str, n);
    return (uint8_t)n;
}

/* The event codes of each type the device can send (subsel = EV_*). */
static uint8_t ev_bits(const VirtIOInput *s, uint8_t type, uint8_t *map)
{
    uint8_t size = 0;

    switch (type) {
    case EV_KEY:
        if (s->kind == VI_KEYBOARD) {
            for (unsigned kc = 1; kc < 256; kc++)
                if (ps2_key_known(kc))
                    bitmap_set(map, kc, &size);
        } else {
            for (size_t i = 0; i < ARRAY_SIZE(button_map); i++)
                bitmap_set(map, button_map[i].btn, &size);
        }
        break;
    case EV_REL:
        if (s->kind == VI_MOUSE) {
            bitmap_set(map, REL_X, &size);
            bitmap_set(map, REL_Y, &size);
        }
        if (s->kind != VI_KEYBOARD)
            bitmap_set(map, REL_WHEEL, &size);
        break;
    case EV_ABS:
        if (s->kind == VI_TABLET) {
            bitmap_set(map, ABS_X, &size);
            bitmap_set(map, ABS_Y, &size);
        }
        break;
    case EV_LED:
        if (s->kind == VI_KEYBOARD) {
            bitmap_set(map, LED_NUML, &size);
            bitmap_set(map, LED_CAPSL, &size);
            bitmap_set(map, LED_SCROLLL, &size);
        }
        break;
    case EV_REP:
        /* The keyboard repeats (the driver's software autorepeat). */
        if (s->kind == VI_KEYBOARD)
            size = 1;
        break;
    }
    return size;
}

/* Fill size and the union for the current select/subsel (5.8.5.2). */
static void input_fill_config(VirtIOInput *s)
{
    uint8_t *cfg = s->vdev.config, *u = cfg + CFG_OFF_UNION;
    uint8_t sel = cfg[CFG_OFF_SELECT], sub = cfg[CFG_OFF_SUBSEL], size = 0;

    memset(u, 0, CFG_UNION_SIZE);
    switch (sel) {
    case CFG_ID_NAME:
        if (sub == 0)
            size = set_string(u, models[s->kind].name);
        break;
    case CFG_ID_SERIAL:
        if (sub == 0)
            size = set_string(u, s->serial);
        break;
    case CFG_ID_DEVIDS:
        if (sub == 0) {
            put_le16(u, INPUT_BUSTYPE);
            put_le16(u + 2, INPUT_VENDOR);
            put_le16(u + 4, models[s->kind].product);
            put_le16(u + 6, models[s->kind].version);
            size = 8;
        }
        break;
    case CFG_EV_BITS:
        size = ev_bits(s, sub, u);
        break;
    case CFG_ABS_INFO:
        if (s->kind == VI_TABLET && (sub == ABS_X || sub == ABS_Y)) {
            put_le32(u, 0);                 /* min */
            put_le32(u + 4, INPUT_ABS_MAX); /* max; fuzz, flat, res 0 */
            size = 20;
        }
        break;
    case CFG_PROP_BITS:
    case CFG_UNSET:
    default:
        break;
    }
    cfg[CFG_OFF_SIZE] = size;
}

/* Only select and subsel are writable; size and the union are the device's. */
static void input_set_config(VirtIODevice *vdev, unsigned off, unsigned len)
{
    input_fill_config(vdev->opaque);
}

/* ---- events ---- */

static void batch_add(VirtIOInput *s, uint16_t type, uint16_t code, int32_t value)
{
    if (s->nbatch < MAX_BATCH - 1)
        s->batch[s->nbatch++] = (VirtioInputEvent){ type, code, (uint32_t)value };
}

/* Put one event into the next event buffer; false if it is unusable. */
static bool send_event(VirtIOInput *s, const VirtioInputEvent *ev)
{
    VirtQueueElement *e = &s->elem;
    uint8_t raw[8];

    if (virtqueue_pop(s->evq, e) <= 0)
        return false;
    put_le16(raw, ev->type);
    put_le16(raw + 2, ev->code);
    put_le32(raw + 4, ev->value);
    size_t n = virtqueue_elem_write(e, 0, raw, sizeof(raw));
    /* We wrote guest RAM: tell migration and the display. */
    size_t left = n;
    for (unsigned i = e->out_num; i < e->out_num + e->in_num && left; i++) {
        size_t k = MIN(left, e->sg[i].iov_len);
        ram_mark_dirty(e->addr[i], k);
        left -= k;
    }
    virtqueue_push(s->evq, e, (uint32_t)n);
    return true;
}

/*
 * End the batch with EV_SYN and deliver it whole, or drop it whole when
 * the driver has not posted enough buffers (a partial batch would merge
 * with the next one in the driver).
 */
static void batch_flush(VirtIOInput *s)
{
    unsigned n;

    if (s->nbatch == 0)
        return;
    s->batch[s->nbatch++] = (VirtioInputEvent){ EV_SYN, SYN_REPORT, 0 };
    n = s->nbatch;
    s->nbatch = 0;
    if (!virtio_device_ready(&s->vdev) || virtqueue_avail_count(s->evq) < n) {
        s->dropped++;
        /* guest_error is rate-limited. */
        guest_error("%s: no event buffers posted, %u events dropped",
                    s->vdev.name, n);
        return;
    }
    for (unsigned i = 0; i < n; i++)
        if (!send_event(s, &s->batch[i]))
            break;
    virtio_notify(&s->vdev, s->evq);
}

static void batch_buttons(VirtIOInput *s, unsigned buttons)
{
    for (size_t i = 0; i < ARRAY_SIZE(button_map); i++) {
        unsigned bit = button_map[i].bit;
        if ((buttons ^ s->buttons) & bit)
            batch_add(s, EV_KEY, (uint16_t)button_map[i].btn, (buttons & bit) ? 1 : 0);
    }
    s->buttons = buttons & (INPUT_BUTTON_LEFT | INPUT_BUTTON_RIGHT | INPUT_BUTTON_MIDDLE);
}

static void input_key(void *opaque, unsigned keycode, bool down)
{
    VirtIOInput *s = opaque;

    if (keycode == 0 || keycode > KEY_MAX)
        return;
    batch_add(s, EV_KEY, (uint16_t)keycode, down ? 1 : 0);
    batch_flush(s);
}

/* dz: positive towards the user; REL_WHEEL is positive away from the user. */
static void input_rel(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
    VirtIOInput *s = opaque;

    batch_buttons(s, buttons);
    if (dx)
        batch_add(s, EV_REL, REL_X, dx);
    if (dy)
        batch_add(s, EV_REL, REL_Y, dy);
    if (dz)
        batch_add(s, EV_REL, REL_WHEEL, -dz);
    batch_flush(s);
}

static void input_abs(void *opaque, int x, int y, int dz, unsigned buttons)
{
    VirtIOInput *s = opaque;

    batch_buttons(s, buttons);
    batch_add(s, EV_ABS, ABS_X, x);
    batch_add(s, EV_ABS, ABS_Y, y);
    if (dz)
        batch_add(s, EV_REL, REL_WHEEL, -dz);
    batch_flush(s);
}

/* The driver posted event buffers: nothing to do until an event comes. */
static void handle_event_queue(VirtIODevice *vdev, VirtQueue *vq)
{
}

/* Status queue: the driver's LED updates (EV_LED code value); others are
 * consumed and ignored. */
static void handle_status_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOInput *s = vdev->opaque;
    uint8_t raw[8];

    while (virtqueue_pop(vq, &s->elem) > 0) {
        if (virtqueue_elem_read(&s->elem, 0, raw, sizeof(raw)) == sizeof(raw)) {
            uint16_t type = le16toh(*(uint16_t *)raw), code = le16toh(*(uint16_t *)(raw + 2));
            uint32_t value = le32toh(*(uint32_t *)(raw + 4));
            if (type == EV_LED && code < 32) {
                if (value)
                    s->leds |= 1u << code;
                else
                    s->leds &= ~(1u << code);
            }
        } else {
            guest_error("%s: short status buffer", vdev->name);
        }
        virtqueue_push(vq, &s->elem, 0);
    }
    virtio_notify(vdev, vq);
}

static void input_reset(VirtIODevice *vdev)
{
    VirtIOInput *s = vdev->opaque;

    s->buttons = 0;
    s->leds = 0;
    s->nbatch = 0;
    memset(vdev->config, 0, vdev->config_len);
}

static const VirtIODeviceOps virtio_input_ops = {
    .name = "virtio-input",
    .device_id = VIRTIO_ID_INPUT,
    .set_config = input_set_config,
    .reset = input_reset,
};

/* ---- migration: the device's own part (the transport saves the core) ---- */

static const VMStateField virtio_input_fields[] = {
    VMSTATE_U32(buttons, VirtIOInput),
    VMSTATE_U32(leds, VirtIOInput),
    VMSTATE_END,
};

static int virtio_input_post_load(void *opaque, unsigned version)
{
    VirtIOInput *s = opaque;

    s->buttons &= INPUT_BUTTON_LEFT | INPUT_BUTTON_RIGHT | INPUT_BUTTON_MIDDLE;
    s->nbatch = 0;
    return 0;
}

static const VMStateDescription vmstate_virtio_input = {
    .name = "virtio-input",
    .version = 1,
    .fields = virtio_input_fields,
    .post_load = virtio_input_post_load,
};

/* ---- -device ---- */

static int virtio_input_new(VirtioInputKind kind, Opts *o, const char *what)
{
    static unsigned count;
    VirtioPciConfig pc = { .devfn = -1, .vectors = 2, .disable_legacy = true,
                           .ioeventfd = true, .class_code = models[kind].class_code };
    const char *serial = opts_get(o, "serial");

    if (virtio_pci_parse_opts(o, what, &pc) < 0)
        return -1;
    if (!pc.disable_legacy) {
        error_report("%s: virtio-input is a modern-only device: disable-legacy must be on",
                     what);
        return -1;
    }
    VirtIOInput *s = xzalloc(sizeof(*s));
    s->kind = kind;
    s->serial = serial ? xstrdup(serial) : NULL;
    virtio_init(&s->vdev, &virtio_input_ops, xasprintf("%s.%u", models[kind].dev_name, count++),
                INPUT_CONFIG_SIZE, s);
    s->evq = virtio_add_queue(&s->vdev, EVENT_QUEUE_SIZE, handle_event_queue);
    s->stsq = virtio_add_queue(&s->vdev, EVENT_QUEUE_SIZE, handle_status_queue);
    if (virtio_pci_create(&s->vdev, &pc) < 0) {
        free(s->vdev.config);
        free(s->serial);
        free(s);
        return -1;
    }
    s->handler = (InputHandler){
        .name = models[kind].name, .kinds = models[kind].handler_kinds,
        .key = input_key, .rel = input_rel, .abs = input_abs, .opaque = s,
    };
    input_register_handler(&s->handler);
    vmstate_register(&vmstate_virtio_input, virtio_pci_device(&s->vdev)->devfn, s);
    return 0;
}

int virtio_keyboard_pci_new(Opts *o, const char *what)
{
    return virtio_input_new(VI_KEYBOARD, o, what);
}

int virtio_mouse_pci_new(Opts *o, const char *what)
{
    return virtio_input_new(VI_MOUSE, o, what);
}

int virtio_tablet_pci_new(Opts *o, const char *what)
{
    return virtio_input_new(VI_TABLET, o, what);
}
