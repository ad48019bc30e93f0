/*
 * What the firmware finds, compared between vmm and QEMU: the fw_cfg
 * "bootorder" file built from bootindex= (paths and order byte for byte),
 * a PCI expansion ROM BAR (romfile=: sizing, enable, contents), the
 * isa-debugcon port (readback, bytes reaching the chardev) and the fw_cfg
 * items that hand a -kernel to SeaBIOS when -bios is given too.
 */
#include "libqtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEL 0x510
#define DATA 0x511
#define IPXE_ROM "/usr/lib/ipxe/qemu/efi-virtio.rom"
#define BIOS "/usr/share/seabios/bios-256k.bin"
#define ROM_BASE 0xfeb80000u

static void fw_read(QTestState *s, uint16_t key, void *buf, size_t n)
{
    qtest_outw(s, SEL, key);
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = qtest_inb(s, DATA);
}

static uint32_t fw_read32(QTestState *s, uint16_t key)
{
    uint8_t b[4];
    fw_read(s, key, b, 4);
    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static bool has_fw_cfg(QTestState *s)
{
    char sig[5] = { 0 };
    fw_read(s, 0, sig, 4);
    return !strcmp(sig, "QEMU");
}

/* Contents of fw_cfg file name (malloc'd, NUL-terminated), NULL if absent. */
static char *fw_file(QTestState *s, const char *name)
{
    uint8_t cnt[4], e[64];
    fw_read(s, 0x19, cnt, 4);
    uint32_t n = (uint32_t)cnt[0] << 24 | cnt[1] << 16 | cnt[2] << 8 | cnt[3];
    uint16_t key = 0;
    uint32_t size = 0;
    for (uint32_t i = 0; i < n && i < 256; i++) {
        for (int j = 0; j < 64; j++)
            e[j] = qtest_inb(s, DATA);
        e[63] = 0;
        if (!strcmp((const char *)e + 8, name)) {
            size = (uint32_t)e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3];
            key = (uint16_t)(e[4] << 8 | e[5]);
        }
    }
    if (!key || size > 65536)
        return NULL;
    char *buf = calloc(1, size + 1);
    fw_read(s, key, buf, size);
    return buf;
}

static char *make_image(void)
{
    char *path = qtest_tmp_path(".img");
    FILE *f = fopen(path, "wb");
    if (f) {
        fseek(f, 1024 * 1024 - 1, SEEK_SET);
        fputc(0, f);
        fclose(f);
    }
    return path;
}

/* Does this binary know the device model?  (isa-debugcon arrives in vmm
 * with the lead's -device table row.) */
static bool knows_device(const QTarget *t, const char *model)
{
    char cmd[512], line[256];
    bool found = false;
    snprintf(cmd, sizeof(cmd), "'%s' -device help 2>&1", t->binary);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    while (fgets(line, sizeof(line), p))
        if (strstr(line, model))
            found = true;
    pclose(p);
    return found;
}

static void test_bootorder(const QTarget *t)
{
    char *a = make_image(), *b = make_image();
    QTestState *s = qtest_start_target(
        t, "bootorder",
        "-drive file=%s,if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0,bootindex=2 "
        "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,bootindex=1 "
        "-drive file=%s,if=none,id=d1,format=raw "
        "-device virtio-blk-pci,drive=d1,bootindex=0,addr=0x9 "
        "-netdev user,id=n1 -device virtio-net-pci,netdev=n1,addr=0xa",
        a, b);
    if (s) {
        char *order = has_fw_cfg(s) ? fw_file(s, "bootorder") : NULL;
        const char *want = "/pci@i0cf8/scsi@9/disk@0,0\n"
                           "/pci@i0cf8/ethernet@3/ethernet-phy@0\n"
                           "/pci@i0cf8/scsi@2/disk@0,0";
        CHECK(t, order && !strcmp(order, want), "bootorder from bootindex",
              "got '%s'", order ? order : "(no bootorder file)");
        free(order);
        qtest_quit(s);
    }
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}

static void test_rom_bar(const QTarget *t)
{
    size_t len;
    char *rom = qtest_slurp(IPXE_ROM, &len);
    if (!rom || len < 0x1a + 2) {
        qtest_skip(t, "option ROM BAR", IPXE_ROM " missing (Debian package ipxe-qemu)");
        free(rom);
        return;
    }
    QTestState *s = qtest_start_target(
        t, "option ROM BAR",
        "-netdev user,id=n0 -device virtio-net-pci,netdev=n0,addr=0x3,romfile=" IPXE_ROM);
    if (!s) {
        free(rom);
        return;
    }
    qtest_pci_cfg_write(s, 3, 0, 0x30, 4, 0xfffffffe);
    uint32_t mask = qtest_pci_cfg_read(s, 3, 0, 0x30, 4);
    CHECK(t, mask == 0xfffc0000, "ROM BAR size: 256 KiB for a 243 KiB file", "mask %#x", mask);
    qtest_pci_cfg_write(s, 3, 0, 0x30, 4, ROM_BASE | 1);
    qtest_pci_cfg_write(s, 3, 0, 0x04, 2, 0x2);
    uint8_t got[64];
    qtest_memread(s, ROM_BASE, got, sizeof(got));
    CHECK(t, got[0] == 0x55 && got[1] == 0xaa && !memcmp(got, rom, sizeof(got)),
          "ROM BAR maps the file", "first bytes %02x %02x", got[0], got[1]);
    unsigned pcir = (uint8_t)rom[0x18] | (uint8_t)rom[0x19] << 8;
    char sig[5] = { 0 };
    if (pcir + 4 <= len)
        qtest_memread(s, ROM_BASE + pcir, sig, 4);
    CHECK(t, !strcmp(sig, "PCIR"), "ROM BAR: PCI data structure", "'%s' at %#x", sig, pcir);
    qtest_pci_cfg_write(s, 3, 0, 0x30, 4, ROM_BASE);   /* enable bit clear */
    uint8_t off = qtest_readb(s, ROM_BASE);
    CHECK(t, off != 0x55, "ROM BAR disabled by bit 0", "still reads %#x", off);
    CHECK(t, !qtest_broken(s), "option ROM BAR connection", "%s", qtest_broken(s));
    qtest_quit(s);
    free(rom);
}

static void test_debugcon(const QTarget *t)
{
    if (!knows_device(t, "isa-debugcon")) {
        qtest_skip(t, "isa-debugcon", "no isa-debugcon in this binary's -device table yet");
        return;
    }
    char *log = qtest_tmp_path(".log");
    QTestState *s = qtest_start_target(
        t, "isa-debugcon",
        "-chardev file,id=dbg,path=%s -device isa-debugcon,iobase=0x402,chardev=dbg", log);
    if (s) {
        uint8_t rb = qtest_inb(s, 0x402);
        CHECK(t, rb == 0xe9, "isa-debugcon readback", "read %#x", rb);
        for (const char *p = "seabios\n"; *p; p++)
            qtest_outb(s, 0x402, (uint8_t)*p);
        qtest_inb(s, 0x402);   /* a round trip: the writes are done */
        qtest_set_term_on_quit(s, true);
        qtest_quit(s);
        size_t len;
        char *got = qtest_slurp(log, &len);
        CHECK(t, got && !strcmp(got, "seabios\n"), "isa-debugcon writes reach the chardev",
              "file holds '%s'", got ? got : "(nothing)");
        free(got);
    }
    unlink(log);
    free(log);
}

/* -bios + -kernel: the items QEMU's x86_load_linux gives linuxboot_dma.bin. */
static void test_kernel_items(const QTarget *t)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char kernel[256];
    snprintf(kernel, sizeof(kernel), "%s/payloads/bzimage.bin", build);
    if (access(kernel, R_OK) != 0 || access(BIOS, R_OK) != 0) {
        qtest_skip(t, "-kernel through firmware", "no payloads built or no SeaBIOS");
        return;
    }
    QTestState *s = qtest_start_target(t, "-kernel through firmware",
                                       "-bios " BIOS " -kernel %s -append 'bztest arg=1'",
                                       kernel);
    if (!s)
        return;
    if (!t->is_qemu && !has_fw_cfg(s)) {
        qtest_skip(t, "-kernel through firmware", "vmm boots -kernel directly (pc.c not wired)");
        qtest_quit(s);
        return;
    }
    CHECK(t, fw_read32(s, 0x07) == 0x100000 && fw_read32(s, 0x16) == 0x10000 &&
              fw_read32(s, 0x13) == 0x20000,
          "-kernel via firmware: kernel/setup/cmdline addresses", "%#x %#x %#x",
          fw_read32(s, 0x07), fw_read32(s, 0x16), fw_read32(s, 0x13));
    CHECK(t, fw_read32(s, 0x08) == 0xa000 && fw_read32(s, 0x17) == 0xa00 &&
              fw_read32(s, 0x14) == 13,
          "-kernel via firmware: kernel/setup/cmdline sizes", "%#x %#x %u",
          fw_read32(s, 0x08), fw_read32(s, 0x17), fw_read32(s, 0x14));
    char *order = fw_file(s, "bootorder");
    CHECK(t, order && !strcmp(order, "/rom@genroms/linuxboot_dma.bin"),
          "-kernel via firmware: boot ROM first", "bootorder '%s'", order ? order : "(none)");
    free(order);
    qtest_quit(s);
}

static void run(const QTarget *t)
{
    test_bootorder(t);
    test_rom_bar(t);
    test_debugcon(t);
    test_kernel_items(t);
}

int main(void)
{
    return qtest_run_targets(run);
}
