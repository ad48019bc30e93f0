/*
 * mouse: reads PS/2 mouse packets from the i8042 AUX port by polling, for
 * the VNC pointer tests (tests/integration/vnc.sh).  IBM PS/2 Technical
 * Reference, pointing device chapter: controller commands 0xa8 (enable AUX),
 * 0xd4 (next data byte goes to the mouse); mouse commands 0xf6 (defaults),
 * 0xf3 (sample rate), 0xf2 (read ID), 0xf4 (enable reporting), each ACKed
 * with 0xfa.  A packet: byte 0 = Y overflow, X overflow, Y sign, X sign, 1,
 * middle, right, left (bit 7..0); byte 1 = X delta; byte 2 = Y delta
 * (positive = up); with the IntelliMouse ID 3 a 4th byte holds the wheel
 * (two's complement, negative = up).
 *
 * -append "wheel=1" first sends the IntelliMouse knock (sample rates
 * 200, 100, 80) and requires ID 3.  Prints "mouse: ready id=N" and then one
 * line per packet: "mouse: dx=D dy=D dz=D buttons=B"; runs until the VMM
 * is stopped.  Packets without bit 3 in byte 0 are reported as "mouse:
 * resync" and skipped byte by byte.
 *
 * -append "tablet=1" reads a virtio-input device (virtio-tablet-pci, PCI
 * 1af4:1052; virtio 1.2, 5.8) instead: its eventq (queue 0) gets 64
 * device-writable 8-byte buffers (struct virtio_input_event: le16 type,
 * le16 code, le32 value), and every used buffer is printed as "tablet:
 * type=T code=C value=V" (EV_ABS 3 with ABS_X 0 / ABS_Y 1, EV_KEY 1 with
 * BTN_LEFT 0x110, EV_SYN 0) and made available again.  Polls, no interrupts.
 */
#include "payload.h"
#include "virtio.h"

#define NAME "mouse"
#define KBC_DATA 0x60
#define KBC_STATUS 0x64
#define ST_OBF 0x01
#define ST_IBF 0x02
#define ST_AUX 0x20
#define CMD_WRITE_CB 0x60
#define CMD_KBD_DISABLE 0xad
#define CMD_AUX_ENABLE 0xa8
#define CMD_TO_AUX 0xd4
#define CB_TRANSLATE 0x40
#define CB_KBD_CLOCK_OFF 0x10
#define MOUSE_DEFAULTS 0xf6
#define MOUSE_RATE 0xf3
#define MOUSE_GET_ID 0xf2
#define MOUSE_ENABLE 0xf4
#define MOUSE_ACK 0xfa
#define PKT_ALWAYS1 0x08
#define PKT_XSIGN 0x10
#define PKT_YSIGN 0x20

static void wait_input_empty(void)
{
    for (int i = 0; i < 100000 && (inb(KBC_STATUS) & ST_IBF); i++)
        ;
}

static void kbc_command(uint8_t cmd)
{
    wait_input_empty();
    outb(KBC_STATUS, cmd);
}

static void kbc_data(uint8_t v)
{
    wait_input_empty();
    outb(KBC_DATA, v);
}

/* A byte from the AUX device, or -1 after polls status reads. */
static int aux_byte(unsigned polls)
{
    for (unsigned i = 0; i < polls; i++) {
        uint8_t st = inb(KBC_STATUS);
        if (st & ST_OBF) {
            uint8_t v = inb(KBC_DATA);
            if (st & ST_AUX)
                return v;
        }
    }
    return -1;
}

static void mouse_command(uint8_t v)
{
    kbc_command(CMD_TO_AUX);
    kbc_data(v);
    int r = aux_byte(100000);
    if (r != MOUSE_ACK)
        fail(NAME, "mouse answered 0x%x to 0x%x, expected ACK", r, v);
}

static void set_rate(uint8_t rate)
{
    mouse_command(MOUSE_RATE);
    mouse_command(rate);
}

static int mouse_id(void)
{
    mouse_command(MOUSE_GET_ID);
    return aux_byte(100000);
}

static void setup(bool wheel)
{
    kbc_command(CMD_KBD_DISABLE);
    kbc_command(CMD_WRITE_CB);
    kbc_data(CB_TRANSLATE | CB_KBD_CLOCK_OFF);
    kbc_command(CMD_AUX_ENABLE);
    while (aux_byte(100) >= 0 || (inb(KBC_STATUS) & ST_OBF))
        inb(KBC_DATA);
    mouse_command(MOUSE_DEFAULTS);
    if (wheel) {
        set_rate(200);
        set_rate(100);
        set_rate(80);
    }
    int id = mouse_id();
    if (wheel && id != 3)
        fail(NAME, "mouse ID %d after the IntelliMouse sequence, expected 3", id);
    mouse_command(MOUSE_ENABLE);
    printf("mouse: ready id=%d\n", id);
}

static int next_byte(void)
{
    int b;
    while ((b = aux_byte(1000000)) < 0)
        ;
    return b;
}

/* ---- virtio-input tablet ---- */
#define VIRTIO_INPUT_MODERN 0x1052
#define TABLET_RING 0x1000000u          /* desc, avail, used on three pages */
#define TABLET_BUFS 0x1004000u
#define EVENT_SIZE 8u
#define TABLET_QSIZE 64u

static struct virtio_pci tablet = { .name = NAME };

NORETURN static void tablet_main(void)
{
    if (!virtio_pci_find(&tablet, VIRTIO_INPUT_MODERN, VIRTIO_INPUT_MODERN))
        fail(NAME, "no virtio-input device (1af4:1052) on bus 0");
    virtio_pci_find_capabilities(&tablet);
    virtio_reset(&tablet);
    virtio_device_features(&tablet);
    virtio_accept_features(&tablet, 1ull << VIRTIO_F_VERSION_1);
    virtio_set_config_vector(&tablet, VIRTIO_NO_VECTOR);
    uint16_t size = virtio_queue_size(&tablet, 0, 2);
    if (size > TABLET_QSIZE)
        size = TABLET_QSIZE;
    memset((void *)TABLET_RING, 0, 0x3000);
    volatile struct vring_desc *desc = (volatile struct vring_desc *)TABLET_RING;
    volatile struct vring_avail *avail = (volatile struct vring_avail *)(TABLET_RING + 0x1000);
    volatile struct vring_used *used = (volatile struct vring_used *)(TABLET_RING + 0x2000);
    for (unsigned i = 0; i < size; i++) {
        desc[i] = (struct vring_desc){ TABLET_BUFS + i * EVENT_SIZE, EVENT_SIZE,
                                       VRING_DESC_F_WRITE, 0 };
        avail->ring[i] = (uint16_t)i;
    }
    avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    uintptr_t notify = virtio_queue_enable(&tablet, 0, size, VIRTIO_NO_VECTOR, TABLET_RING,
                                           TABLET_RING + 0x1000, TABLET_RING + 0x2000);
    virtio_driver_ok(&tablet);
    uint16_t avail_idx = size, used_idx = 0;
    avail->idx = avail_idx;
    full_barrier();
    mmio_write16(notify, 0);
    printf("mouse: ready tablet dev=%u\n", tablet.dev);
    for (;;) {
        if (used->idx == used_idx) {
            inb(0x80);      /* an exit: lets the VMM run while we poll */
            continue;
        }
        uint32_t id = used->ring[used_idx % size].id;
        if (id >= size)
            fail(NAME, "used entry names descriptor %u of %u", id, size);
        const volatile uint8_t *ev = (const volatile uint8_t *)(TABLET_BUFS + id * EVENT_SIZE);
        uint16_t type = (uint16_t)(ev[0] | ev[1] << 8), code = (uint16_t)(ev[2] | ev[3] << 8);
        uint32_t value = ev[4] | ev[5] << 8 | ev[6] << 16 | (uint32_t)ev[7] << 24;
        printf("tablet: type=%u code=%u value=%u\n", type, code, value);
        used_idx++;
        avail->ring[avail_idx % size] = (uint16_t)id;
        avail_idx++;
        avail->idx = avail_idx;
        full_barrier();
        mmio_write16(notify, 0);
    }
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    if (cmdline_option(NAME, "tablet", 0, 0, 1))
        tablet_main();
    bool wheel = cmdline_option(NAME, "wheel", 0, 0, 1);
    setup(wheel);
    for (;;) {
        int b0 = next_byte();
        if (!(b0 & PKT_ALWAYS1)) {
            printf("mouse: resync 0x%x\n", b0);
            continue;
        }
        int dx = next_byte(), dy = next_byte(), dz = wheel ? (int8_t)next_byte() : 0;
        if (b0 & PKT_XSIGN)
            dx -= 256;
        if (b0 & PKT_YSIGN)
            dy -= 256;
        printf("mouse: dx=%d dy=%d dz=%d buttons=%d\n", dx, dy, dz, b0 & 7);
    }
}
