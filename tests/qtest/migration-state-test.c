/*
 * Device state across a save/restore (issue 8): program devices as a guest
 * would under -accel qtest, save with QMP migrate to a file, start a second
 * vmm with the same options and -incoming file:, and compare what the guest
 * would read back on both sides: serial registers, RTC CMOS bytes, PCI
 * config space (BARs, command) of an e1000 and a virtio-blk, the e1000's
 * registers through its BAR, the virtio-blk queue setup through BAR4, the
 * fw_cfg read position, and guest memory.
 */
#include "libqtest.h"

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

/* ---- the test ---- */

static const char *machine_opts(const char *img)
{
    static char buf[512];
    snprintf(buf, sizeof(buf),
             "-m 64 -nodefaults -device e1000,addr=04.0 "
             "-drive file=%s,if=none,id=d0,format=raw "
             "-device virtio-blk-pci,drive=d0,addr=05.0,vectors=0", img);
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

static void run(const QTarget *t)
{
    if (t->is_qemu) {
        qtest_skip(t, "migration-state", "vmm's own stream; QEMU cannot load it");
        return;
    }
    char *img = qtest_tmp_path(".img"), *state = qtest_tmp_path(".state");
    char *qmp = qtest_tmp_path(".qmp");
    FILE *f = fopen(img, "w");
    if (!f || ftruncate(fileno(f), 1 << 20) < 0) {
        qtest_check(t, false, "migration-state setup", "cannot create %s", img);
        return;
    }
    fclose(f);
    char args[1024];
    snprintf(args, sizeof(args), "%s -qmp unix:%s,server=on,wait=off", machine_opts(img), qmp);
    char why[256] = "";
    QTestState *a = qtest_start(t->binary, args, why, sizeof(why));
    int qfd = a ? qmp_connect(qmp) : -1;
    char buf[4096];
    if (!a || qfd < 0 || !qmp_line(qfd, buf, sizeof(buf)) ||
        !qmp_cmd(qfd, "{\"execute\":\"qmp_capabilities\"}", buf, sizeof(buf))) {
        qtest_check(t, false, "migration-state source", "cannot start: %s", why);
        return;
    }
    program_serial(a);
    program_rtc(a);
    program_pci(a);
    program_fwcfg(a);
    uint8_t pattern[MEM_PATTERN_LEN];
    for (unsigned i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    qtest_memwrite(a, MEM_PATTERN_ADDR, pattern, sizeof(pattern));

    uint8_t ser_a[8], rtc_a[6];
    uint32_t pci_a[16];
    read_serial(a, ser_a);
    read_rtc(a, rtc_a);
    read_pci(a, pci_a);
    bool saved = migrate_to_file(qfd, state);
    qtest_check(t, saved, "migrate to file completes", "query-migrate never said completed");
    close(qfd);
    qtest_quit(a);
    if (!saved)
        return;

    snprintf(args, sizeof(args), "%s -incoming file:%s", machine_opts(img), state);
    QTestState *b = qtest_start(t->binary, args, why, sizeof(why));
    if (!b) {
        qtest_check(t, false, "restore starts", "%s", why);
        return;
    }
    /* The stream loads before the main loop serves qtest; give it a moment. */
    usleep(300000);
    uint8_t ser_b[8], rtc_b[6], mem_b[MEM_PATTERN_LEN];
    uint32_t pci_b[16];
    read_serial(b, ser_b);
    read_rtc(b, rtc_b);
    read_pci(b, pci_b);
    qtest_memread(b, MEM_PATTERN_ADDR, mem_b, sizeof(mem_b));
    uint8_t fw = qtest_inb(b, 0x511);
    CHECK(t, !qtest_broken(b), "restored vmm answers", "%s", qtest_broken(b));
    CHECK(t, memcmp(ser_a, ser_b, sizeof(ser_a)) == 0, "serial registers migrate",
          "dll %02x/%02x ier %02x/%02x lcr %02x/%02x mcr %02x/%02x scr %02x/%02x", ser_a[0],
          ser_b[0], ser_a[2], ser_b[2], ser_a[3], ser_b[3], ser_a[4], ser_b[4], ser_a[5], ser_b[5]);
    CHECK(t, memcmp(rtc_a, rtc_b, sizeof(rtc_a)) == 0, "RTC CMOS and alarm migrate",
          "0x40: %02x/%02x", rtc_a[3], rtc_b[3]);
    CHECK(t, memcmp(pci_a, pci_b, 12 * sizeof(uint32_t)) == 0, "PCI config space migrates",
          "e1000 BAR0 %08x/%08x virtio-blk cmd %08x/%08x", pci_a[4], pci_b[4], pci_a[6],
          pci_b[6]);
    CHECK(t, pci_a[12] == pci_b[12] && pci_a[13] == pci_b[13],
          "e1000 registers reachable at the migrated BAR", "%08x/%08x", pci_a[12], pci_b[12]);
    CHECK(t, pci_a[14] == pci_b[14] && pci_a[15] == pci_b[15] && (pci_b[14] & 0xffffff) == 0x300,
          "virtio-blk queue and status migrate", "%08x/%08x", pci_a[14], pci_b[14]);
    CHECK(t, fw == 'M', "fw_cfg read position migrates", "read 0x%02x, want 'M'", fw);
    CHECK(t, memcmp(pattern, mem_b, sizeof(pattern)) == 0, "guest memory migrates",
          "pattern differs");
    qtest_quit(b);
    unlink(img);
    unlink(state);
}

int main(void)
{
    return qtest_run_targets(run);
}
