/*
 * virtio-input (virtio 1.2, 5.8) against vmm and QEMU: the PCI identity of
 * a modern-only device (1af4:1052), the select/subsel config window
 * (ID_NAME, ID_DEVIDS, EV_BITS, ABS_INFO), and event delivery: QMP
 * input-send-event moves the tablet and presses a key, and the events
 * arrive in the buffers the test posted on the event queue, each batch
 * ended by EV_SYN.
 *
 * QEMU runs "-accel tcg -S" and drops input while stopped, so it gets a
 * firmware that only halts and a "cont".
 */
#include "libnet.h"
#include "libqos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLET_SLOT 5
#define KEYBOARD_SLOT 6
#define MOUSE_SLOT 7

/* 5.8.4 config layout and selectors */
#define CFG_SELECT 0
#define CFG_SUBSEL 1
#define CFG_SIZE 2
#define CFG_UNION 8
#define SEL_ID_NAME 0x01
#define SEL_ID_DEVIDS 0x03
#define SEL_EV_BITS 0x11
#define SEL_ABS_INFO 0x12

/* <linux/input-event-codes.h> */
#define EV_SYN 0
#define EV_KEY 1
#define EV_REL 2
#define EV_ABS 3
#define EV_LED 0x11
#define ABS_X 0
#define ABS_Y 1
#define BTN_LEFT 0x110
#define KEY_A 30

#define NBUFS 16

typedef struct Dev {
    QVirtioDev vd;
    QVirtQueue evq;
    uint64_t bufs;
} Dev;

typedef struct Ctx {
    QOSState qs;
    QmpClient *qmp;
    char *qmp_path;
    Dev tablet, kbd, mouse;
} Ctx;

static uint8_t cfg_select(QVirtioDev *d, uint8_t sel, uint8_t sub, uint8_t *u)
{
    qvirtio_config_writeb(d, CFG_SELECT, sel);
    qvirtio_config_writeb(d, CFG_SUBSEL, sub);
    uint8_t size = qvirtio_config_readb(d, CFG_SIZE);
    for (unsigned i = 0; i < 128; i++)
        u[i] = i < size ? qvirtio_config_readb(d, CFG_UNION + i) : 0;
    return size;
}

static void check_identity(const QTarget *t, Dev *dev, const char *what, const char *name,
                           uint16_t product, uint16_t version, uint32_t class_code)
{
    QVirtioDev *d = &dev->vd;
    char label[96];
    uint8_t u[128];

    uint16_t vendor = qpci_config_readw(&d->pci, 0x00);
    uint16_t devid = qpci_config_readw(&d->pci, 0x02);
    uint8_t rev = qpci_config_readb(&d->pci, 0x08);
    uint32_t cls = qpci_config_readl(&d->pci, 0x08) >> 8;
    snprintf(label, sizeof(label), "virtio-input %s PCI identity", what);
    qtest_check(t, vendor == 0x1af4 && devid == 0x1052 && rev == 1 && cls == class_code, label,
                "%04x:%04x rev %u class %06x", vendor, devid, rev, cls);

    uint8_t size = cfg_select(d, SEL_ID_NAME, 0, u);
    snprintf(label, sizeof(label), "virtio-input %s ID_NAME", what);
    /* The size counts the terminating NUL, as QEMU's. */
    qtest_check(t, size == strlen(name) + 1 && !memcmp(u, name, size), label, "size %u '%.*s'",
                size, (int)size, (char *)u);

    size = cfg_select(d, SEL_ID_DEVIDS, 0, u);
    snprintf(label, sizeof(label), "virtio-input %s ID_DEVIDS", what);
    qtest_check(t, size == 8 && u[0] == 6 && u[1] == 0 && u[2] == 0x27 && u[3] == 0x06 &&
                       u[4] == product && u[5] == 0 && u[6] == version && u[7] == 0,
                label, "size %u bus %02x%02x vendor %02x%02x product %02x%02x version %02x%02x",
                size, u[1], u[0], u[3], u[2], u[5], u[4], u[7], u[6]);
}

static void check_tablet_config(const QTarget *t, Dev *dev)
{
    QVirtioDev *d = &dev->vd;
    uint8_t u[128];

    uint8_t size = cfg_select(d, SEL_EV_BITS, EV_ABS, u);
    qtest_check(t, size == 1 && u[0] == 0x03, "virtio-input tablet EV_ABS bits", "size %u %02x",
                size, u[0]);
    size = cfg_select(d, SEL_EV_BITS, EV_KEY, u);
    qtest_check(t, size > BTN_LEFT / 8 && (u[BTN_LEFT / 8] & 0x07) == 0x07,
                "virtio-input tablet EV_KEY has left/right/middle", "size %u", size);
    size = cfg_select(d, SEL_ABS_INFO, ABS_X, u);
    uint32_t min = u[0] | u[1] << 8 | u[2] << 16 | (uint32_t)u[3] << 24;
    uint32_t max = u[4] | u[5] << 8 | u[6] << 16 | (uint32_t)u[7] << 24;
    qtest_check(t, size == 20 && min == 0 && max == 0x7fff, "virtio-input tablet ABS_INFO X",
                "size %u min %u max %u", size, min, max);
    size = cfg_select(d, SEL_EV_BITS, EV_LED, u);
    qtest_check(t, size == 0, "virtio-input tablet has no LEDs", "size %u", size);
    size = cfg_select(d, 0x7f, 0, u);
    qtest_check(t, size == 0, "virtio-input unknown select has size 0", "size %u", size);
}

static void check_keyboard_config(const QTarget *t, Dev *dev)
{
    uint8_t u[128];
    uint8_t size = cfg_select(&dev->vd, SEL_EV_BITS, EV_LED, u);
    qtest_check(t, size == 1 && u[0] == 0x07, "virtio-input keyboard EV_LED bits",
                "size %u %02x", size, u[0]);
    size = cfg_select(&dev->vd, SEL_EV_BITS, EV_KEY, u);
    qtest_check(t, size > KEY_A / 8 && (u[KEY_A / 8] & (1 << (KEY_A % 8))),
                "virtio-input keyboard EV_KEY has KEY_A", "size %u", size);
}

/* Driver setup: event queue with NBUFS 8-byte buffers posted. */
static bool driver_init(Ctx *c, Dev *dev, unsigned slot)
{
    if (!qvirtio_pci_init(&dev->vd, &c->qs, slot))
        return false;
    if (!qvirtio_negotiate(&dev->vd, QVIRTIO_BIT(QVIRTIO_F_VERSION_1)))
        return false;
    if (!qvirtqueue_setup(&dev->vd, &dev->evq, 0, NBUFS, 0xffff))
        return false;
    qvirtio_driver_ok(&dev->vd);
    dev->bufs = qos_alloc_zero(c->qs.s, &c->qs.alloc, NBUFS * 8, 8);
    for (unsigned i = 0; i < NBUFS; i++) {
        QVirtBuf b = { dev->bufs + i * 8, 8, true };
        qvirtqueue_publish(&dev->evq, qvirtqueue_add_chain(&dev->evq, &b, 1));
    }
    qvirtqueue_kick(&dev->evq);
    return true;
}

typedef struct Ev {
    uint16_t type, code;
    uint32_t value;
} Ev;

/* Collect n events from the used ring (in order). */
static unsigned read_events(Ctx *c, Dev *dev, Ev *ev, unsigned n)
{
    unsigned k = 0;
    while (k < n) {
        uint32_t id, len;
        if (!qvirtqueue_wait_used(&dev->evq, &id, &len, 3000) || len != 8 || id >= NBUFS)
            break;
        uint8_t raw[8];
        qtest_memread(c->qs.s, dev->bufs + id * 8, raw, 8);
        ev[k].type = raw[0] | raw[1] << 8;
        ev[k].code = raw[2] | raw[3] << 8;
        ev[k].value = raw[4] | raw[5] << 8 | raw[6] << 16 | (uint32_t)raw[7] << 24;
        k++;
    }
    return k;
}

static bool qmp_ok(Ctx *c, const char *cmd)
{
    char *r = qmp_client_cmd(c->qmp, "%s", cmd);
    bool ok = r && strstr(r, "\"return\"");
    free(r);
    return ok;
}

static void check_events(const QTarget *t, Ctx *c)
{
    Ev ev[8];
    bool sent = qmp_ok(c, "{\"execute\": \"input-send-event\", \"arguments\": {\"events\": ["
                          "{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 1000}},"
                          "{\"type\": \"abs\", \"data\": {\"axis\": \"y\", \"value\": 2000}}]}}");
    unsigned n = sent ? read_events(c, &c->tablet, ev, 3) : 0;
    qtest_check(t, n == 3 && ev[0].type == EV_ABS && ev[0].code == ABS_X && ev[0].value == 1000 &&
                       ev[1].type == EV_ABS && ev[1].code == ABS_Y && ev[1].value == 2000 &&
                       ev[2].type == EV_SYN,
                "virtio-input tablet abs events", "sent %d, %u events: %u/%u/%u %u/%u/%u", sent,
                n, n > 0 ? ev[0].type : 0, n > 0 ? ev[0].code : 0, n > 0 ? ev[0].value : 0,
                n > 1 ? ev[1].type : 0, n > 1 ? ev[1].code : 0, n > 1 ? ev[1].value : 0);

    sent = qmp_ok(c, "{\"execute\": \"input-send-event\", \"arguments\": {\"events\": ["
                     "{\"type\": \"key\", \"data\": {\"down\": true, \"key\": "
                     "{\"type\": \"qcode\", \"data\": \"a\"}}}]}}");
    n = sent ? read_events(c, &c->kbd, ev, 2) : 0;
    qtest_check(t, n == 2 && ev[0].type == EV_KEY && ev[0].code == KEY_A && ev[0].value == 1 &&
                       ev[1].type == EV_SYN,
                "virtio-input keyboard key event", "sent %d, %u events: %u/%u/%u", sent, n,
                n > 0 ? ev[0].type : 0, n > 0 ? ev[0].code : 0, n > 0 ? ev[0].value : 0);
}

static void test_virtio_input(const QTarget *t)
{
    Ctx c;
    char bios[300] = "";

    memset(&c, 0, sizeof(c));
    c.qmp_path = qtest_tmp_path("-qmp.sock");
    if (t->is_qemu)
        snprintf(bios, sizeof(bios), "-bios %s", halt_firmware_path());
    if (!qos_start(&c.qs, t, "virtio-input start",
                   "%s -device virtio-tablet-pci,addr=%d -device virtio-keyboard-pci,addr=%d "
                   "-device virtio-mouse-pci,addr=%d -qmp unix:%s,server=on,wait=off",
                   bios, TABLET_SLOT, KEYBOARD_SLOT, MOUSE_SLOT, c.qmp_path))
        goto out;
    c.qmp = qmp_client_open(c.qmp_path);
    if (!qtest_check(t, c.qmp != NULL, "virtio-input qmp", "cannot open QMP"))
        goto out;
    if (t->is_qemu && !qtest_check(t, qmp_ok(&c, "{\"execute\": \"cont\"}"),
                                   "virtio-input cont", "QMP cont failed"))
        goto out;
    bool ok = driver_init(&c, &c.tablet, TABLET_SLOT) && driver_init(&c, &c.kbd, KEYBOARD_SLOT) &&
              qvirtio_pci_init(&c.mouse.vd, &c.qs, MOUSE_SLOT);
    if (!qtest_check(t, ok, "virtio-input driver setup", "binding or queue setup failed"))
        goto out;
    check_identity(t, &c.tablet, "tablet", "QEMU Virtio Tablet", 3, 2, 0x098000);
    check_identity(t, &c.kbd, "keyboard", "QEMU Virtio Keyboard", 1, 1, 0x090000);
    check_identity(t, &c.mouse, "mouse", "QEMU Virtio Mouse", 2, 2, 0x090200);
    check_tablet_config(t, &c.tablet);
    check_keyboard_config(t, &c.kbd);
    check_events(t, &c);
    qtest_check(t, !qtest_broken(c.qs.s), "virtio-input connection", "%s",
                qtest_broken(c.qs.s));
out:
    if (c.qmp)
        qmp_client_close(c.qmp);
    if (c.qs.s)
        qos_quit(&c.qs);
    unlink(c.qmp_path);
    free(c.qmp_path);
}

int main(void)
{
    return qtest_run_targets(test_virtio_input);
}
