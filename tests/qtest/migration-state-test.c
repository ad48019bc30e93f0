/*
 * Device state across a save/restore (issue 8): program devices as a guest
 * would under -accel qtest, save with QMP migrate to a file, start a second
 * vmm with the same options and -incoming file:, and compare what the guest
 * would read back on both sides: serial registers, RTC CMOS bytes, PCI
 * config space (BARs, command) of an e1000 and a virtio-blk, the e1000's
 * registers through its BAR, the virtio-blk queue setup through BAR4, the
 * fw_cfg read position, guest memory, and:
 *   IDE (PIIX3 00:01.1, primary master): task file and HOB bytes, device
 *     control, a half-read IDENTIFY, the latched transfer modes, multiple
 *     count and write cache, the bus-master command/status/PRD address;
 *   i8042: command byte, a byte in the output buffer, the keyboard's scan
 *     code set and a command waiting for its argument;
 *   VGA (-vga std): SR/GR/CRTC/AR, DAC palette, VBE DISPI registers and a
 *     pattern in video memory through the BAR0 framebuffer;
 *   virtio-net-pci: status, features, queues, a MAC set through the control
 *     queue, and a control command completed after the restore;
 *   MSI-X (virtio-net): table, mask bits, PBA, and a pending message that
 *     is delivered when the vector is unmasked after the restore;
 *   virtio-balloon: QMP balloon target (num_pages) and the driver's actual;
 *   PIIX4 PM: PMBA/PMIOSE, PM1_EN, PM1_CNT, GPE0_EN.
 * Every value programmed differs from the power-on one (the source is
 * checked to hold it), so a device whose state is not migrated fails.
 */
#include "libqos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define COM1 0x3f8
#define E1000_SLOT 4
#define VBLK_SLOT 5
#define E1000_MMIO 0xfeb00000u
#define VBLK_IO 0xc100
#define VBLK_MEM 0xfe000000u     /* BAR4, 64-bit */
#define MEM_PATTERN_ADDR 0x100000
#define MEM_PATTERN_LEN 8192

/* ---- a minimal QMP client ---- */

static int qmp_connect(const char *path)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        usleep(50000);
    }
    return -1;
}

/* Read one line (a QMP message) into buf; false on EOF. */
static bool qmp_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        char c;
        if (read(fd, &c, 1) != 1)
            return false;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = 0;
    return true;
}

/* Send cmd; return the reply line (events skipped) in buf. */
static bool qmp_cmd(int fd, const char *cmd, char *buf, size_t len)
{
    if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) || write(fd, "\n", 1) != 1)
        return false;
    while (qmp_line(fd, buf, len))
        if (strstr(buf, "\"return\"") || strstr(buf, "\"error\""))
            return true;
    return false;
}

/* ---- guest-side programming ---- */

static void program_serial(QTestState *s)
{
    qtest_outb(s, COM1 + 3, 0x80);          /* DLAB */
    qtest_outb(s, COM1 + 0, 0x03);          /* 38400 baud */
    qtest_outb(s, COM1 + 1, 0x00);
    qtest_outb(s, COM1 + 3, 0x1b);          /* 8E1 */
    qtest_outb(s, COM1 + 1, 0x05);          /* IER: RDA + RLS */
    qtest_outb(s, COM1 + 4, 0x0b);          /* DTR RTS OUT2 */
    qtest_outb(s, COM1 + 7, 0x5a);          /* scratch */
}

static void read_serial(QTestState *s, uint8_t out[8])
{
    qtest_outb(s, COM1 + 3, 0x9b);
    out[0] = qtest_inb(s, COM1 + 0);
    out[1] = qtest_inb(s, COM1 + 1);
    qtest_outb(s, COM1 + 3, 0x1b);
    out[2] = qtest_inb(s, COM1 + 1);
    out[3] = qtest_inb(s, COM1 + 3);
    out[4] = qtest_inb(s, COM1 + 4);
    out[5] = qtest_inb(s, COM1 + 7);
    out[6] = qtest_inb(s, COM1 + 5);
    out[7] = 0;
}

static void program_rtc(QTestState *s)
{
    /* NVRAM bytes and the alarm registers (MC146818: 0x01/0x03/0x05). */
    const uint8_t regs[][2] = { { 0x01, 0x30 }, { 0x03, 0x15 }, { 0x05, 0x07 },
                                { 0x40, 0xa5 }, { 0x41, 0x5a }, { 0x7f, 0x77 } };
    for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        qtest_outb(s, 0x70, regs[i][0]);
        qtest_outb(s, 0x71, regs[i][1]);
    }
}

static void read_rtc(QTestState *s, uint8_t out[6])
{
    const uint8_t idx[6] = { 0x01, 0x03, 0x05, 0x40, 0x41, 0x7f };
    for (int i = 0; i < 6; i++) {
        qtest_outb(s, 0x70, idx[i]);
        out[i] = qtest_inb(s, 0x71);
    }
}

static void program_pci(QTestState *s)
{
    qtest_pci_cfg_write(s, E1000_SLOT, 0, 0x10, 4, E1000_MMIO);
    qtest_pci_cfg_write(s, E1000_SLOT, 0, 0x04, 2, 0x0007);
    qtest_pci_cfg_write(s, VBLK_SLOT, 0, 0x10, 4, VBLK_IO);
    qtest_pci_cfg_write(s, VBLK_SLOT, 0, 0x20, 4, VBLK_MEM | 0xc);
    qtest_pci_cfg_write(s, VBLK_SLOT, 0, 0x24, 4, 0);
    qtest_pci_cfg_write(s, VBLK_SLOT, 0, 0x04, 2, 0x0007);
    /* e1000: receive address and an interrupt mask through the BAR. */
    qtest_writel(s, E1000_MMIO + 0x5400, 0x78563412);
    qtest_writel(s, E1000_MMIO + 0x00d0, 0x00000084);   /* IMS */
    qtest_writel(s, E1000_MMIO + 0x2800, 0x00200000);   /* RDBAL */
    qtest_writel(s, E1000_MMIO + 0x2808, 4096);         /* RDLEN */
    /* virtio-blk (legacy I/O BAR): status ACK|DRIVER, queue 0 at PFN 0x300. */
    qtest_outb(s, VBLK_IO + 0x12, 0x03);
    qtest_outw(s, VBLK_IO + 0x0e, 0);
    qtest_outl(s, VBLK_IO + 0x08, 0x300);
    qtest_outl(s, VBLK_IO + 0x04, 0x1);
}

static void read_pci(QTestState *s, uint32_t out[16])
{
    for (int i = 0; i < 6; i++)
        out[i] = qtest_pci_cfg_read(s, E1000_SLOT, 0, 4 * i, 4);
    for (int i = 0; i < 6; i++)
        out[6 + i] = qtest_pci_cfg_read(s, VBLK_SLOT, 0, 0x04 + 4 * i, 4);
    out[12] = qtest_readl(s, E1000_MMIO + 0x5400) ^ qtest_readl(s, E1000_MMIO + 0x2808);
    out[13] = qtest_readl(s, E1000_MMIO + 0x00d0);    /* IMS */
    qtest_outw(s, VBLK_IO + 0x0e, 0);
    out[14] = qtest_inl(s, VBLK_IO + 0x08) | (uint32_t)qtest_inb(s, VBLK_IO + 0x12) << 24;
    out[15] = qtest_inl(s, VBLK_IO + 0x04);
}

static void program_fwcfg(QTestState *s)
{
    qtest_outw(s, 0x510, 0x0000);           /* signature "QEMU" */
    qtest_inb(s, 0x511);
    qtest_inb(s, 0x511);                    /* next byte read is 'M' */
}

/* ---- comparing register dumps ---- */

/* A register dump: values read in a fixed order, with a name for each so a
 * mismatch names the register. */
#define DUMP_MAX 512
typedef struct Dump {
    uint32_t v[DUMP_MAX];
    const char *name[DUMP_MAX];
    unsigned n;
} Dump;

static void put(Dump *d, const char *name, uint32_t v)
{
    if (d->n < DUMP_MAX) {
        d->name[d->n] = name;
        d->v[d->n++] = v;
    }
}

/* Equal dumps, or a failure naming the first register that differs. */
static void check_dumps(const QTarget *t, const char *what, const Dump *a, const Dump *b)
{
    unsigned i = 0;
    while (i < a->n && i < b->n && a->v[i] == b->v[i])
        i++;
    if (a->n == b->n && i == a->n) {
        CHECK(t, true, what, "%s", "");
        return;
    }
    if (i >= a->n || i >= b->n)
        CHECK(t, false, what, "%u values read on the source, %u on the destination", a->n,
              b->n);
    else
        CHECK(t, false, what, "%s: source 0x%x, destination 0x%x", a->name[i], a->v[i], b->v[i]);
}

/* The dump holds want at register name (the source was programmed as meant,
 * so an equal destination cannot just be showing power-on values). */
static uint32_t dump_get(const Dump *d, const char *name)
{
    for (unsigned i = 0; i < d->n; i++)
        if (!strcmp(d->name[i], name))
            return d->v[i];
    return 0xdeadbeef;
}

/* ---- IDE: PIIX3 00:01.1, primary master ---- */

#define IDE_CMD 0x1f0
#define IDE_CTL 0x3f6
#define IDE_BM 0xc200
#define IDE_PARTIAL_WORDS 100   /* IDENTIFY words read before the save */

static void ide_wait_not_busy(QTestState *s)
{
    for (int i = 0; i < 1000 && (qtest_inb(s, IDE_CTL) & 0x80); i++)
        usleep(1000);
}

static void ide_command(QTestState *s, uint8_t feature, uint8_t nsector, uint8_t cmd)
{
    qtest_outb(s, IDE_CMD + 6, 0xa0);
    qtest_outb(s, IDE_CMD + 1, feature);
    qtest_outb(s, IDE_CMD + 2, nsector);
    qtest_outb(s, IDE_CMD + 7, cmd);
    ide_wait_not_busy(s);
}

/*
 * SET FEATURES latches the transfer mode (MDMA 2) and turns the write cache
 * off, SET MULTIPLE latches 8 sectors: IDENTIFY words 63/88/85/59 show
 * them.  Then the task file gets two rounds of values (the first lands in
 * the HOB copies), the device register LBA mode head 5, HOB is set in
 * device control so the command block reads the HOB bytes, an IDENTIFY is
 * left half read (the PIO buffer and position), and the bus master gets a
 * PRD address, drive-capable bits and a started read-direction engine.
 */
static void program_ide(QTestState *s, uint16_t ident[256])
{
    qtest_pci_cfg_write(s, 1, 1, 0x20, 4, IDE_BM | 1);
    qtest_pci_cfg_write(s, 1, 1, 0x04, 2, 0x0005);
    qtest_pci_cfg_write(s, 1, 1, 0x40, 2, 0xa307);          /* IDETIM */
    ide_command(s, 0x03, 0x22, 0xef);                       /* MDMA mode 2 */
    ide_command(s, 0x82, 0, 0xef);                          /* write cache off */
    ide_command(s, 0, 8, 0xc6);                             /* SET MULTIPLE 8 */
    ide_command(s, 0, 0, 0xec);                             /* IDENTIFY */
    for (int i = 0; i < 256; i++)
        ident[i] = qtest_inw(s, IDE_CMD);
    static const uint8_t tf[2][5] = { { 0x11, 0x22, 0x33, 0x44, 0x55 },
                                      { 0x66, 0x77, 0x88, 0x99, 0xaa } };
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 5; i++)
            qtest_outb(s, IDE_CMD + 1 + i, tf[r][i]);
    qtest_outb(s, IDE_CMD + 6, 0xe5);
    qtest_outb(s, IDE_CMD + 7, 0xec);                       /* IDENTIFY, half read */
    ide_wait_not_busy(s);
    for (int i = 0; i < IDE_PARTIAL_WORDS; i++)
        qtest_inw(s, IDE_CMD);
    qtest_outb(s, IDE_CTL, 0x82);                           /* HOB, nIEN */
    qtest_outl(s, IDE_BM + 4, 0x00123458);
    qtest_outb(s, IDE_BM + 2, 0x60);
    qtest_outb(s, IDE_BM + 0, 0x09);
}

/* Non-destructive: what the programming left (altstatus, not status). */
static void read_ide(QTestState *s, Dump *d)
{
    static const char *const hob[5] = { "hob feature", "hob nsector", "hob lba low",
                                        "hob lba mid", "hob lba high" };
    static const char *const cur[5] = { "error", "nsector", "lba low", "lba mid", "lba high" };
    put(d, "ide BAR4", qtest_pci_cfg_read(s, 1, 1, 0x20, 4));
    put(d, "ide command", qtest_pci_cfg_read(s, 1, 1, 0x04, 2));
    put(d, "ide IDETIM", qtest_pci_cfg_read(s, 1, 1, 0x40, 2));
    for (int i = 0; i < 5; i++)
        put(d, hob[i], qtest_inb(s, IDE_CMD + 1 + i));
    put(d, "device/head", qtest_inb(s, IDE_CMD + 6));
    put(d, "altstatus", qtest_inb(s, IDE_CTL));
    qtest_outb(s, IDE_CTL, 0x02);
    for (int i = 0; i < 5; i++)
        put(d, cur[i], qtest_inb(s, IDE_CMD + 1 + i));
    qtest_outb(s, IDE_CTL, 0x82);
    put(d, "bm command", qtest_inb(s, IDE_BM + 0));
    put(d, "bm status", qtest_inb(s, IDE_BM + 2));
    put(d, "bm prd", qtest_inl(s, IDE_BM + 4));
}

/* Destructive, after the restore: finish the half-read IDENTIFY, then a
 * new one for the latched modes. */
static void probe_ide(QTestState *s, uint16_t rest[256 - IDE_PARTIAL_WORDS], uint16_t ident[256])
{
    for (int i = 0; i < 256 - IDE_PARTIAL_WORDS; i++)
        rest[i] = qtest_inw(s, IDE_CMD);
    qtest_outb(s, IDE_CTL, 0x02);
    ide_command(s, 0, 0, 0xec);
    for (int i = 0; i < 256; i++)
        ident[i] = qtest_inw(s, IDE_CMD);
}

/* ---- i8042 ---- */

static void kbc_cmd(QTestState *s, uint8_t cmd) { qtest_outb(s, 0x64, cmd); }
static void kbc_data(QTestState *s, uint8_t v) { qtest_outb(s, 0x60, v); }
static uint8_t kbc_read(QTestState *s) { return qtest_inb(s, 0x60); }

/*
 * Command byte 0x25 (keyboard interrupt, system flag, aux disabled, no
 * translation; power-on 0x03), scan code set 3 (power-on 2), a set-LEDs
 * command left waiting for its argument, and 0x5a put in the output buffer
 * with 0xd2.
 */
static void program_i8042(QTestState *s)
{
    kbc_cmd(s, 0x60);
    kbc_data(s, 0x25);
    kbc_data(s, 0xf0);
    kbc_read(s);
    kbc_data(s, 0x03);
    kbc_read(s);
    kbc_data(s, 0xed);
    kbc_read(s);
    kbc_cmd(s, 0xd2);
    kbc_data(s, 0x5a);
}

/* Destructive: output buffer, status after it, command byte, the LED
 * argument's reply (ACK if the pending command survived, RESEND if 0x04
 * were taken as a command), then F0 00 reports the scan code set. */
static void probe_i8042(QTestState *s, uint8_t out[8])
{
    out[0] = qtest_inb(s, 0x64);
    out[1] = kbc_read(s);
    out[2] = qtest_inb(s, 0x64);
    kbc_cmd(s, 0x20);
    out[3] = kbc_read(s);
    kbc_data(s, 0x04);
    out[4] = kbc_read(s);
    kbc_data(s, 0xf0);
    out[5] = kbc_read(s);
    kbc_data(s, 0x00);
    out[6] = kbc_read(s);
    out[7] = kbc_read(s);
}

/* ---- VGA (-vga std) ---- */

#define VGA_LFB_OFF 0x10000
#define VGA_PATTERN_LEN 4096

static void vga_idx(QTestState *s, uint16_t port, uint8_t i, uint8_t v)
{
    qtest_outb(s, port, i);
    qtest_outb(s, port + 1, v);
}

static void vbe_w(QTestState *s, uint16_t i, uint16_t v)
{
    qtest_outw(s, 0x1ce, i);
    qtest_outw(s, 0x1cf, v);
}

static uint16_t vbe_r(QTestState *s, uint16_t i)
{
    qtest_outw(s, 0x1ce, i);
    return qtest_inw(s, 0x1cf);
}

/* Everything is zero at power-on (the VGA BIOS programs a mode). */
static void program_vga(QTestState *s, QPCIDevice *vga, const uint8_t *pattern)
{
    qtest_outb(s, 0x3c2, 0x67);                             /* colour, 0x3dx */
    static const uint8_t sr[][2] = { { 1, 0x21 }, { 2, 0x0f }, { 3, 0x05 }, { 4, 0x0e } };
    for (unsigned i = 0; i < sizeof(sr) / sizeof(sr[0]); i++)
        vga_idx(s, 0x3c4, sr[i][0], sr[i][1]);
    static const uint8_t gr[][2] = { { 0, 0x0a }, { 1, 0x05 }, { 3, 0x08 }, { 4, 0x02 },
                                     { 5, 0x40 }, { 6, 0x05 }, { 7, 0x0f }, { 8, 0xfe } };
    for (unsigned i = 0; i < sizeof(gr) / sizeof(gr[0]); i++)
        vga_idx(s, 0x3ce, gr[i][0], gr[i][1]);
    for (uint8_t i = 0; i < 0x19; i++)
        vga_idx(s, 0x3d4, i, (uint8_t)(0x31 + 7 * i) & (i == 0x11 ? 0x7f : 0xff));
    qtest_inb(s, 0x3da);
    for (uint8_t i = 0; i < 0x15; i++) {
        qtest_outb(s, 0x3c0, i);
        qtest_outb(s, 0x3c0, (uint8_t)(i == 0x10 ? 0x41 : i == 0x12 ? 0x0f : 3 * i + 1));
    }
    qtest_outb(s, 0x3c0, 0x20);                             /* PAS: display on */
    qtest_outb(s, 0x3c8, 0x10);
    for (int i = 0; i < 4 * 3; i++)
        qtest_outb(s, 0x3c9, (uint8_t)(0x3f - 5 * i));
    qtest_outb(s, 0x3c8, 0x77);                             /* write index left at 0x77 */
    /* LFB: BAR0 at a fixed place, pattern in, then an 800x600x32 mode
     * enabled with NOCLEARMEM so the pattern stays. */
    qpci_device_enable(vga);
    qtest_memwrite(s, vga->bars[0].addr + VGA_LFB_OFF, pattern, VGA_PATTERN_LEN);
    vbe_w(s, 1, 800);
    vbe_w(s, 2, 600);
    vbe_w(s, 3, 32);
    vbe_w(s, 4, 0x01 | 0x40 | 0x80);
    vbe_w(s, 9, 3);                                         /* y offset */
    qtest_outw(s, 0x1ce, 5);                                /* index left at BANK */
}

static void read_vga(QTestState *s, QPCIDevice *vga, Dump *d)
{
    static const char *const srn[8] = { "SR0", "SR1", "SR2", "SR3", "SR4", "SR5", "SR6", "SR7" };
    static const char *const grn[9] = { "GR0", "GR1", "GR2", "GR3", "GR4",
                                        "GR5", "GR6", "GR7", "GR8" };
    static char crn[0x19][8], arn[0x15][8];
    put(d, "vga BAR0", qpci_config_readl(vga, 0x10));
    put(d, "vga command", qpci_config_readw(vga, 0x04));
    put(d, "misc output", qtest_inb(s, 0x3cc));
    put(d, "vbe index", qtest_inw(s, 0x1ce));
    put(d, "dac write index", qtest_inb(s, 0x3c8));
    for (int i = 0; i < 8; i++) {
        qtest_outb(s, 0x3c4, i);
        put(d, srn[i], qtest_inb(s, 0x3c5));
    }
    for (int i = 0; i < 9; i++) {
        qtest_outb(s, 0x3ce, i);
        put(d, grn[i], qtest_inb(s, 0x3cf));
    }
    for (int i = 0; i < 0x19; i++) {
        snprintf(crn[i], sizeof(crn[i]), "CR%02x", i);
        qtest_outb(s, 0x3d4, i);
        put(d, crn[i], qtest_inb(s, 0x3d5));
    }
    for (int i = 0; i < 0x15; i++) {
        snprintf(arn[i], sizeof(arn[i]), "AR%02x", i);
        qtest_inb(s, 0x3da);
        qtest_outb(s, 0x3c0, i | 0x20);
        put(d, arn[i], qtest_inb(s, 0x3c1));
    }
    qtest_outb(s, 0x3c7, 0x10);
    for (int i = 0; i < 4 * 3; i++)
        put(d, "DAC palette", qtest_inb(s, 0x3c9));
    static const char *const vbe[10] = { "VBE id", "VBE xres", "VBE yres", "VBE bpp",
                                         "VBE enable", "VBE bank", "VBE virt width",
                                         "VBE virt height", "VBE x offset", "VBE y offset" };
    for (int i = 0; i < 10; i++)
        put(d, vbe[i], vbe_r(s, i));
    qtest_outw(s, 0x1ce, 5);
}

/* ---- virtio-net-pci (slot 6) with MSI-X ---- */

#define NET_SLOT 6
#define NET_F_CTRL_VQ 17
#define NET_F_MAC 5
#define NET_F_STATUS 16
#define NET_F_CTRL_MAC_ADDR 23
#define NET_MSIX_ADDR 0x3ff000ull    /* a RAM word the masked vector points at */
#define NET_MSIX_DATA 0x4e7c0003u
static const uint8_t new_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

/* One control command (5.1.6.5): class, command, data; the ack byte. */
static int net_ctrl(QVirtQueue *vq, QGuestAlloc *alloc, uint8_t cls, uint8_t cmd,
                    const void *data, uint32_t len)
{
    QTestState *s = vq->dev->qs->s;
    uint64_t out = qos_alloc(alloc, 2 + len, 16), ack = qos_alloc(alloc, 1, 16);
    uint8_t hdr[2] = { cls, cmd };
    qtest_memwrite(s, out, hdr, 2);
    qtest_memwrite(s, out + 2, data, len);
    qtest_writeb(s, ack, 0xee);
    QVirtBuf bufs[2] = { { out, 2 + len, false }, { ack, 1, true } };
    qvirtqueue_submit(vq, bufs, 2);
    if (!qvirtqueue_wait_used(vq, NULL, NULL, QOS_TIMEOUT_MS))
        return -1;
    return qtest_readb(s, ack);
}

/*
 * Negotiate VERSION_1, MAC, STATUS, CTRL_VQ, CTRL_MAC_ADDR; config on MSI-X
 * vector 0, rx/tx/ctrl queues on 1/2/3; DRIVER_OK; change the MAC through
 * the control queue after pointing vector 3 (ctrl) at a RAM word with our
 * own data and masking it.  At power-on the table is all zero with every
 * vector masked and the PBA clear; the queues are 256 entries, disabled.
 */
static bool program_net(QVirtioDev *d, QVirtQueue vq[3], QOSState *qs)
{
    if (!qvirtio_pci_init(d, qs, NET_SLOT))
        return false;
    uint64_t want = QVIRTIO_BIT(QVIRTIO_F_VERSION_1) | QVIRTIO_BIT(NET_F_MAC) |
                    QVIRTIO_BIT(NET_F_STATUS) | QVIRTIO_BIT(NET_F_CTRL_VQ) |
                    QVIRTIO_BIT(NET_F_CTRL_MAC_ADDR);
    if (!qvirtio_negotiate(d, want) || d->features != want)
        return false;
    qvirtio_msix_config(d, 0);
    for (unsigned i = 0; i < 3; i++)
        if (!qvirtqueue_setup(d, &vq[i], i, i == 2 ? 0 : 64, (uint16_t)(i + 1)))
            return false;
    qpci_msix_set_entry(&d->pci, 3, NET_MSIX_ADDR, NET_MSIX_DATA);
    qpci_msix_mask(&d->pci, 3, true);
    qvirtio_driver_ok(d);
    /* Its completion finds vector 3 masked: the PBA bit stays set. */
    return net_ctrl(&vq[2], &qs->alloc, 1, 1, new_mac, 6) == 0;
}

static void read_net(QVirtioDev *d, Dump *out)
{
    static const char *const mac[6] = { "mac0", "mac1", "mac2", "mac3", "mac4", "mac5" };
    put(out, "net command", qpci_config_readw(&d->pci, 0x04));
    put(out, "net BAR1", qpci_config_readl(&d->pci, 0x14));
    put(out, "net BAR4", qpci_config_readl(&d->pci, 0x20));
    put(out, "device status", qvirtio_get_status(d));
    qvirtio_common_writel(d, QVPCI_GFSELECT, 0);
    put(out, "driver features lo", qvirtio_common_readl(d, QVPCI_GF));
    qvirtio_common_writel(d, QVPCI_GFSELECT, 1);
    put(out, "driver features hi", qvirtio_common_readl(d, QVPCI_GF));
    put(out, "config msix vector", qvirtio_common_readw(d, QVPCI_MSIX_CONFIG));
    for (unsigned q = 0; q < 3; q++) {
        qvirtio_common_writew(d, QVPCI_Q_SELECT, q);
        put(out, "queue size", qvirtio_common_readw(d, QVPCI_Q_SIZE));
        put(out, "queue msix vector", qvirtio_common_readw(d, QVPCI_Q_MSIX));
        put(out, "queue enable", qvirtio_common_readw(d, QVPCI_Q_ENABLE));
        put(out, "queue desc", qvirtio_common_readl(d, QVPCI_Q_DESC));
        put(out, "queue avail", qvirtio_common_readl(d, QVPCI_Q_AVAIL));
        put(out, "queue used", qvirtio_common_readl(d, QVPCI_Q_USED));
    }
    for (int i = 0; i < 6; i++)
        put(out, mac[i], qvirtio_config_readb(d, i));
    put(out, "net status", qvirtio_config_readw(d, 6));
}

static void read_msix(QPCIDevice *p, Dump *out)
{
    static char names[8][4][24];
    put(out, "msix control", qpci_config_readw(p, p->msix_cap + 2));
    for (unsigned v = 0; v < p->msix_size && v < 8; v++) {
        for (unsigned w = 0; w < 4; w++) {
            snprintf(names[v][w], sizeof(names[v][w]), "msix vector %u dword %u", v, w);
            put(out, names[v][w], qpci_io_readl(p, p->msix_table_bar,
                                                p->msix_table_off + 16 * v + 4 * w));
        }
    }
    put(out, "msix pba", qpci_io_readl(p, p->msix_pba_bar, p->msix_pba_off));
}

/* ---- virtio-balloon-pci (slot 7) ---- */

#define BALLOON_SLOT 7
#define BALLOON_TARGET (48ull << 20)        /* of 64 MiB: 4096 pages to give */
#define BALLOON_ACTUAL 0x321

static bool program_balloon(QVirtioDev *d, QOSState *qs)
{
    if (!qvirtio_pci_init(d, qs, BALLOON_SLOT) ||
        !qvirtio_negotiate(d, QVIRTIO_BIT(QVIRTIO_F_VERSION_1)))
        return false;
    qvirtio_driver_ok(d);
    qvirtio_config_writel(d, 4, BALLOON_ACTUAL);
    return true;
}

static void read_balloon(QVirtioDev *d, Dump *out)
{
    put(out, "balloon status", qvirtio_get_status(d));
    put(out, "balloon num_pages", qvirtio_config_readl(d, 0));
    put(out, "balloon actual", qvirtio_config_readl(d, 4));
}

/* ---- PIIX4 PM (00:01.3) ---- */

#define PM_BASE 0xb000

/* PMBA/PMIOSE are 0 at power-on without firmware; PM1_EN, PM1_CNT's
 * SLP_TYP/BM_RLD and GPE0_EN are 0. */
static void program_pm(QTestState *s)
{
    qtest_pci_cfg_write(s, 1, 3, 0x40, 4, PM_BASE | 1);
    qtest_pci_cfg_write(s, 1, 3, 0x80, 1, 0x01);
    qtest_outw(s, PM_BASE + 2, 0x0320);     /* GBL, PWRBTN, SLPBTN */
    qtest_outw(s, PM_BASE + 4, 0x0c02);     /* SLP_TYP 3 (no SLP_EN), BM_RLD */
    qtest_outw(s, PM_BASE + 0x0e, 0x0005);
}

static void read_pm(QTestState *s, Dump *d)
{
    put(d, "PMBA", qtest_pci_cfg_read(s, 1, 3, 0x40, 4));
    put(d, "PMREGMISC", qtest_pci_cfg_read(s, 1, 3, 0x80, 1));
    put(d, "PM1_EN", qtest_inw(s, PM_BASE + 2));
    put(d, "PM1_CNT", qtest_inw(s, PM_BASE + 4));
    put(d, "GPE0_EN", qtest_inw(s, PM_BASE + 0x0e));
}

/* A copy of a libqos device bound to the same BARs in another process. */
static void rebind(QVirtioDev *dst, const QVirtioDev *src, QOSState *qs)
{
    *dst = *src;
    dst->qs = qs;
    dst->pci.bus = &qs->bus;
    dst->pci.s = qs->s;
}

static void qos_wrap(QOSState *qs, const QTarget *t, QTestState *s)
{
    memset(qs, 0, sizeof(*qs));
    qs->t = t;
    qs->s = s;
    qos_alloc_init(&qs->alloc, 4 << 20, 64 << 20);   /* above the memory pattern */
    qpci_bus_init(&qs->bus, s);
    qs->bus.io_next = 0xd000;                       /* clear of the fixed BARs */
}

/* ---- the test ---- */

static const char *machine_opts(const char *img, const char *ide_img)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "-m 64 -nodefaults -vga std -device e1000,addr=04.0 "
             "-drive file=%s,if=none,id=d0,format=raw "
             "-device virtio-blk-pci,drive=d0,addr=05.0,vectors=0 "
             "-drive file=%s,if=ide,format=raw "
             "-device virtio-net-pci,addr=06.0,mac=52:54:00:12:34:56 "
             "-device virtio-balloon-pci,addr=07.0", img, ide_img);
    return buf;
}

static bool migrate_to_file(int qfd, const char *file)
{
    char buf[4096], cmd[512];
    snprintf(cmd, sizeof(cmd), "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"file:%s\"}}",
             file);
    if (!qmp_cmd(qfd, cmd, buf, sizeof(buf)) || strstr(buf, "\"error\""))
        return false;
    for (int i = 0; i < 200; i++) {
        if (!qmp_cmd(qfd, "{\"execute\":\"query-migrate\"}", buf, sizeof(buf)))
            return false;
        if (strstr(buf, "\"completed\""))
            return true;
        if (strstr(buf, "\"failed\""))
            return false;
        usleep(50000);
    }
    return false;
}

static bool make_image(const char *path, off_t size)
{
    FILE *f = fopen(path, "w");
    bool ok = f && ftruncate(fileno(f), size) == 0;
    if (f)
        fclose(f);
    return ok;
}

/* Everything read back without side effects, the same way on both sides. */
typedef struct Snapshot {
    uint8_t ser[8], rtc[6];
    uint32_t pci[16];
    Dump ide, kbc, vga, net, msix, balloon, pm;
} Snapshot;

static void snapshot(QTestState *s, QPCIDevice *vga, QVirtioDev *net, QVirtioDev *bal,
                     Snapshot *o)
{
    memset(o, 0, sizeof(*o));
    read_serial(s, o->ser);
    read_rtc(s, o->rtc);
    read_pci(s, o->pci);
    read_ide(s, &o->ide);
    put(&o->kbc, "i8042 status", qtest_inb(s, 0x64));
    read_vga(s, vga, &o->vga);
    read_net(net, &o->net);
    read_msix(&net->pci, &o->msix);
    read_balloon(bal, &o->balloon);
    read_pm(s, &o->pm);
}

static void run_with_files(const QTarget *t, const char *img, const char *ide_img,
                           const char *state, const char *qmp)
{
    if (!make_image(img, 1 << 20) || !make_image(ide_img, 2 << 20)) {
        qtest_check(t, false, "migration-state setup", "cannot create %s", img);
        return;
    }
    char args[2048];
    snprintf(args, sizeof(args), "%s -qmp unix:%s,server=on,wait=off",
             machine_opts(img, ide_img), qmp);
    char why[256] = "";
    QTestState *a = qtest_start(t->binary, args, why, sizeof(why));
    int qfd = a ? qmp_connect(qmp) : -1;
    char buf[4096];
    if (!a || qfd < 0 || !qmp_line(qfd, buf, sizeof(buf)) ||
        !qmp_cmd(qfd, "{\"execute\":\"qmp_capabilities\"}", buf, sizeof(buf))) {
        qtest_check(t, false, "migration-state source", "cannot start: %s", why);
        return;
    }
    QOSState qa;
    qos_wrap(&qa, t, a);
    program_serial(a);
    program_rtc(a);
    program_pci(a);
    program_fwcfg(a);
    uint8_t pattern[MEM_PATTERN_LEN], vga_pattern[VGA_PATTERN_LEN];
    for (unsigned i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    for (unsigned i = 0; i < sizeof(vga_pattern); i++)
        vga_pattern[i] = (uint8_t)(i * 13 + 0x41);
    qtest_memwrite(a, MEM_PATTERN_ADDR, pattern, sizeof(pattern));

    uint16_t ident_a[256];
    program_ide(a, ident_a);
    program_i8042(a);
    program_pm(a);
    QPCIDevice vga_a;
    int vga_slot = qpci_find_slot(&qa.bus, 0x1234, 0x1111, 0);
    CHECK(t, vga_slot >= 0, "migration-state vga present", "no 1234:1111 function");
    qpci_device_init(&vga_a, &qa.bus, vga_slot < 0 ? 2 : (unsigned)vga_slot, 0);
    program_vga(a, &vga_a, vga_pattern);
    QVirtioDev net_a, bal_a;
    QVirtQueue nq_a[3];
    bool net_ok = program_net(&net_a, nq_a, &qa);
    CHECK(t, net_ok, "migration-state virtio-net driver set up", "init, queues or MAC_ADDR_SET");
    bool bal_ok = program_balloon(&bal_a, &qa);
    snprintf(buf, sizeof(buf), "{\"execute\":\"balloon\",\"arguments\":{\"value\":%llu}}",
             (unsigned long long)BALLOON_TARGET);
    char reply[4096];
    bal_ok = bal_ok && qmp_cmd(qfd, buf, reply, sizeof(reply)) && strstr(reply, "\"return\"");
    CHECK(t, bal_ok, "migration-state balloon set up", "driver init or QMP balloon failed");

    static Snapshot sa, sb;
    snapshot(a, &vga_a, &net_a, &bal_a, &sa);
    /* The source holds what was programmed (so equal values on the
     * destination are not power-on values). */
    CHECK(t, ident_a[59] == 0x108 && ident_a[63] == 0x0407 && !(ident_a[85] & 0x20) &&
          ident_a[88] == 0x003f, "migration-state source ide modes latched",
          "IDENTIFY 59 %04x 63 %04x 85 %04x 88 %04x", ident_a[59], ident_a[63], ident_a[85],
          ident_a[88]);
    CHECK(t, dump_get(&sa.ide, "hob lba high") == 0x55 && dump_get(&sa.ide, "lba high") == 0xaa &&
          dump_get(&sa.ide, "device/head") == 0xe5 &&
          (dump_get(&sa.ide, "bm status") & 0x61) == 0x61 &&
          dump_get(&sa.ide, "bm prd") == 0x00123458 && dump_get(&sa.ide, "bm command") == 0x09,
          "migration-state source ide registers programmed", "hob %02x lba %02x dev %02x bm %02x",
          dump_get(&sa.ide, "hob lba high"), dump_get(&sa.ide, "lba high"),
          dump_get(&sa.ide, "device/head"), dump_get(&sa.ide, "bm status"));
    CHECK(t, dump_get(&sa.kbc, "i8042 status") == 0x15, "migration-state source i8042 OBF set",
          "status %02x", dump_get(&sa.kbc, "i8042 status"));
    CHECK(t, dump_get(&sa.vga, "VBE enable") == 0xc1 && dump_get(&sa.vga, "VBE xres") == 800 &&
          dump_get(&sa.vga, "GR8") == 0xfe && dump_get(&sa.vga, "misc output") == 0x67,
          "migration-state source vga programmed", "VBE enable %x xres %u",
          dump_get(&sa.vga, "VBE enable"), dump_get(&sa.vga, "VBE xres"));
    CHECK(t, dump_get(&sa.net, "mac3") == 0xab && dump_get(&sa.net, "queue size") == 64 &&
          (dump_get(&sa.msix, "msix pba") & 0x8) &&
          dump_get(&sa.msix, "msix vector 3 dword 3") == 1,
          "migration-state source virtio-net MAC and MSI-X programmed",
          "mac3 %02x pba %x ctl3 %x", dump_get(&sa.net, "mac3"), dump_get(&sa.msix, "msix pba"),
          dump_get(&sa.msix, "msix vector 3 dword 3"));
    CHECK(t, dump_get(&sa.balloon, "balloon num_pages") == 4096 &&
          dump_get(&sa.balloon, "balloon actual") == BALLOON_ACTUAL,
          "migration-state source balloon programmed", "num_pages %u actual %u",
          dump_get(&sa.balloon, "balloon num_pages"), dump_get(&sa.balloon, "balloon actual"));
    CHECK(t, dump_get(&sa.pm, "PM1_EN") == 0x0320 && dump_get(&sa.pm, "PM1_CNT") == 0x0c03 &&
          dump_get(&sa.pm, "GPE0_EN") == 0x0005, "migration-state source PM programmed",
          "PM1_EN %04x PM1_CNT %04x GPE0_EN %04x", dump_get(&sa.pm, "PM1_EN"),
          dump_get(&sa.pm, "PM1_CNT"), dump_get(&sa.pm, "GPE0_EN"));

    bool saved = migrate_to_file(qfd, state);
    qtest_check(t, saved, "migrate to file completes", "query-migrate never said completed");
    close(qfd);
    qtest_quit(a);
    if (!saved)
        return;

    snprintf(args, sizeof(args), "%s -incoming file:%s", machine_opts(img, ide_img), state);
    QTestState *b = qtest_start(t->binary, args, why, sizeof(why));
    if (!b) {
        qtest_check(t, false, "restore starts", "%s", why);
        return;
    }
    /* The stream loads before the main loop serves qtest; give it a moment. */
    usleep(300000);
    QOSState qb;
    qos_wrap(&qb, t, b);
    qb.alloc = qa.alloc;                    /* the source's rings stay allocated */
    QPCIDevice vga_b = vga_a;
    vga_b.bus = &qb.bus;
    vga_b.s = b;
    QVirtioDev net_b, bal_b;
    rebind(&net_b, &net_a, &qb);
    rebind(&bal_b, &bal_a, &qb);
    QVirtQueue nq_b[3];
    for (int i = 0; i < 3; i++) {
        nq_b[i] = nq_a[i];
        nq_b[i].dev = &net_b;
    }

    uint8_t mem_b[MEM_PATTERN_LEN], vram_b[VGA_PATTERN_LEN];
    snapshot(b, &vga_b, &net_b, &bal_b, &sb);
    qtest_memread(b, MEM_PATTERN_ADDR, mem_b, sizeof(mem_b));
    qtest_memread(b, vga_b.bars[0].addr + VGA_LFB_OFF, vram_b, sizeof(vram_b));
    uint8_t fw = qtest_inb(b, 0x511);
    CHECK(t, !qtest_broken(b), "restored vmm answers", "%s", qtest_broken(b));
    CHECK(t, memcmp(sa.ser, sb.ser, sizeof(sa.ser)) == 0, "serial registers migrate",
          "dll %02x/%02x ier %02x/%02x lcr %02x/%02x mcr %02x/%02x scr %02x/%02x", sa.ser[0],
          sb.ser[0], sa.ser[2], sb.ser[2], sa.ser[3], sb.ser[3], sa.ser[4], sb.ser[4], sa.ser[5],
          sb.ser[5]);
    CHECK(t, memcmp(sa.rtc, sb.rtc, sizeof(sa.rtc)) == 0, "RTC CMOS and alarm migrate",
          "0x40: %02x/%02x", sa.rtc[3], sb.rtc[3]);
    CHECK(t, memcmp(sa.pci, sb.pci, 12 * sizeof(uint32_t)) == 0, "PCI config space migrates",
          "e1000 BAR0 %08x/%08x virtio-blk cmd %08x/%08x", sa.pci[4], sb.pci[4], sa.pci[6],
          sb.pci[6]);
    CHECK(t, sa.pci[12] == sb.pci[12] && sa.pci[13] == sb.pci[13],
          "e1000 registers reachable at the migrated BAR", "%08x/%08x", sa.pci[12], sb.pci[12]);
    CHECK(t, sa.pci[14] == sb.pci[14] && sa.pci[15] == sb.pci[15] &&
          (sb.pci[14] & 0xffffff) == 0x300,
          "virtio-blk queue and status migrate", "%08x/%08x", sa.pci[14], sb.pci[14]);
    CHECK(t, fw == 'M', "fw_cfg read position migrates", "read 0x%02x, want 'M'", fw);
    CHECK(t, memcmp(pattern, mem_b, sizeof(pattern)) == 0, "guest memory migrates",
          "pattern differs");

    /* IDE */
    check_dumps(t, "IDE task file, HOB, device control and bus master migrate", &sa.ide,
                &sb.ide);
    uint16_t rest[256 - IDE_PARTIAL_WORDS], ident_b[256];
    probe_ide(b, rest, ident_b);
    CHECK(t, memcmp(rest, ident_a + IDE_PARTIAL_WORDS, sizeof(rest)) == 0,
          "IDE PIO transfer in progress migrates", "IDENTIFY word %u: %04x, want %04x",
          IDE_PARTIAL_WORDS, rest[0], ident_a[IDE_PARTIAL_WORDS]);
    CHECK(t, ident_b[59] == ident_a[59] && ident_b[63] == ident_a[63] &&
          ident_b[85] == ident_a[85] && ident_b[88] == ident_a[88],
          "IDE multiple count, DMA modes and write cache migrate",
          "IDENTIFY 59 %04x/%04x 63 %04x/%04x 85 %04x/%04x 88 %04x/%04x", ident_a[59],
          ident_b[59], ident_a[63], ident_b[63], ident_a[85], ident_b[85], ident_a[88],
          ident_b[88]);

    /* i8042 */
    check_dumps(t, "i8042 status migrates", &sa.kbc, &sb.kbc);
    uint8_t k[8];
    probe_i8042(b, k);
    CHECK(t, k[0] == 0x15 && k[1] == 0x5a && k[2] == 0x14, "i8042 output buffer migrates",
          "status %02x data %02x then status %02x; want 15 5a 14", k[0], k[1], k[2]);
    CHECK(t, k[3] == 0x25, "i8042 command byte migrates", "read 0x%02x, want 0x25", k[3]);
    CHECK(t, k[4] == 0xfa, "keyboard pending set-LEDs command migrates",
          "argument answered 0x%02x, want ACK", k[4]);
    CHECK(t, k[5] == 0xfa && k[6] == 0xfa && k[7] == 3, "keyboard scan code set migrates",
          "F0 00 answered %02x %02x %02x, want fa fa 03", k[5], k[6], k[7]);

    /* VGA */
    check_dumps(t, "VGA SR/GR/CRTC/AR, DAC palette and VBE registers migrate", &sa.vga, &sb.vga);
    CHECK(t, memcmp(vga_pattern, vram_b, sizeof(vram_b)) == 0, "VGA memory migrates (LFB)",
          "pattern differs at the BAR0 framebuffer");

    /* virtio-net and MSI-X */
    check_dumps(t, "virtio-net status, features, queues and MAC migrate", &sa.net, &sb.net);
    check_dumps(t, "MSI-X table, PBA and control migrate", &sa.msix, &sb.msix);
    if (net_ok) {
        static const uint8_t mac2[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x77 };
        int ack = net_ctrl(&nq_b[2], &qb.alloc, 1, 1, mac2, 6);
        uint16_t used = qvirtqueue_used_idx(&nq_b[2]);
        uint8_t m5 = qvirtio_config_readb(&net_b, 5);
        CHECK(t, ack == 0 && used == 2 && m5 == 0x77,
              "virtio-net control queue continues after restore",
              "ack %d used idx %u (want 2) mac5 %02x", ack, used, m5);
        uint32_t before = qtest_readl(b, NET_MSIX_ADDR);
        bool pending = qpci_msix_pending(&net_b.pci, 3);
        qpci_msix_mask(&net_b.pci, 3, false);
        uint32_t after = qtest_readl(b, NET_MSIX_ADDR);
        CHECK(t, before == 0 && pending && after == NET_MSIX_DATA &&
              !qpci_msix_pending(&net_b.pci, 3),
              "masked MSI-X vector delivers its pending message on unmask after restore",
              "before %08x pending %d after %08x", before, pending, after);
    }

    check_dumps(t, "virtio-balloon target and actual migrate", &sa.balloon, &sb.balloon);
    check_dumps(t, "PIIX4 PM base, PM1 enable/control and GPE enable migrate", &sa.pm, &sb.pm);
    qtest_quit(b);
}

static void run(const QTarget *t)
{
    if (t->is_qemu) {
        qtest_skip(t, "migration-state", "vmm's own stream; QEMU cannot load it");
        return;
    }
    char *files[4] = { qtest_tmp_path(".img"), qtest_tmp_path("-ide.img"),
                       qtest_tmp_path(".state"), qtest_tmp_path(".qmp") };
    run_with_files(t, files[0], files[1], files[2], files[3]);
    for (unsigned i = 0; i < 4; i++) {
        unlink(files[i]);
        free(files[i]);
    }
}

int main(void)
{
    return qtest_run_targets(run);
}
