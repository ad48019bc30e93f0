/*
 * ROMs the firmware runs: a PCI function's expansion ROM BAR (PCI 3.0,
 * 6.2.5.2: sizing, enable bit, Memory Space decoding, read-only contents,
 * reset), and the fw_cfg side of booting -kernel through SeaBIOS (the
 * genroms/ boot ROM, QEMU's kernel/setup/cmdline/initrd items and the
 * "bootorder" file built from bootindex).  Also isa-debugcon, the port
 * SeaBIOS logs to.  The expected fw_cfg values were read from QEMU 7.2
 * with the same images (tests/qtest/firmware-test.c compares live).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chardev.h"
#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "pc.h"
#include "pci.h"
#include "unit.h"
#include "util.h"

#define ROM_LEN 3000   /* -> a 4 KiB ROM BAR */
#define ROM_ADDR 0xfeb00000u

static PCIDevice dev;
static char rom_path[64];

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size) { return 0; }
static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val) { }
static const MemOps bar_ops = { .read = bar_read, .write = bar_write };

static void write_rom_file(void)
{
    snprintf(rom_path, sizeof(rom_path), "/tmp/vmm-test-rom.%d", (int)getpid());
    FILE *f = fopen(rom_path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < ROM_LEN; i++)
        fputc(i == 0 ? 0x55 : i == 1 ? 0xaa : (uint8_t)(i * 7), f);
    fclose(f);
}

static void setup_device(bool with_rom)
{
    fake_hw_setup();
    ck_assert_int_eq(pci_bus_init(), 0);
    memset(&dev, 0, sizeof(dev));
    pci_device_init(&dev, "fake-nic", 0x8086, 0x100e, 3, 0x020000, 0);
    pci_register_bar(&dev, 0, 0x20000, 0, &bar_ops, &dev);
    ck_assert_int_eq(pci_register_device(&dev, PCI_DEVFN(3, 0)), 0);
    if (with_rom) {
        write_rom_file();
        ck_assert_int_eq(pci_add_option_rom(&dev, rom_path), 0);
        unlink(rom_path);
    }
}

static uint32_t cfg_read(unsigned reg)
{
    return pci_config_read(0, dev.devfn, reg, 4);
}

static void cfg_write(unsigned reg, uint32_t val, unsigned len)
{
    pci_config_write(0, dev.devfn, reg, val, len);
}

static uint64_t mem_read(uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    if (!as_read(&mmio_space, addr, size, &v))
        return UINT64_MAX;
    return v;
}

static void map_rom(void)
{
    cfg_write(PCI_ROM_ADDRESS, ROM_ADDR | 1, 4);
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
}

START_TEST(rom_sizing)
{
    setup_device(true);
    ck_assert_uint_eq(pci_rom_size(&dev), 4096);
    ck_assert_uint_eq(cfg_read(PCI_ROM_ADDRESS), 0);
    /* Firmware's probe: all ones but the enable bit, read back the mask. */
    cfg_write(PCI_ROM_ADDRESS, 0xfffffffe, 4);
    ck_assert_uint_eq(cfg_read(PCI_ROM_ADDRESS), 0xfffff000);
    cfg_write(PCI_ROM_ADDRESS, 0xffffffff, 4);
    ck_assert_uint_eq(cfg_read(PCI_ROM_ADDRESS), 0xfffff001);
}
END_TEST

START_TEST(rom_minimum_2k)
{
    setup_device(false);
    snprintf(rom_path, sizeof(rom_path), "/tmp/vmm-test-rom-small.%d", (int)getpid());
    FILE *f = fopen(rom_path, "wb");
    fputs("tiny", f);
    fclose(f);
    ck_assert_int_eq(pci_add_option_rom(&dev, rom_path), 0);
    unlink(rom_path);
    ck_assert_uint_eq(pci_rom_size(&dev), 2048);
    cfg_write(PCI_ROM_ADDRESS, 0xfffffffe, 4);
    ck_assert_uint_eq(cfg_read(PCI_ROM_ADDRESS), 0xfffff800);
}
END_TEST

START_TEST(no_rom_reads_zero)
{
    setup_device(false);
    ck_assert_int_eq(pci_add_option_rom(&dev, NULL), 0);
    ck_assert_int_eq(pci_add_option_rom(&dev, ""), 0);
    cfg_write(PCI_ROM_ADDRESS, 0xffffffff, 4);
    ck_assert_uint_eq(cfg_read(PCI_ROM_ADDRESS), 0);
    ck_assert_uint_eq(pci_rom_size(&dev), 0);
}
END_TEST

START_TEST(rom_decodes_when_enabled)
{
    setup_device(true);
    map_rom();
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), 0xaa55);
    ck_assert_uint_eq(mem_read(ROM_ADDR + 100, 1), (uint8_t)(100 * 7));
    /* Past the file, inside the BAR: zero padding. */
    ck_assert_uint_eq(mem_read(ROM_ADDR + ROM_LEN + 4, 4), 0);
    /* Read-only: a write changes nothing. */
    as_write(&mmio_space, ROM_ADDR, 2, 0x1234);
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), 0xaa55);
}
END_TEST

START_TEST(rom_needs_enable_and_memory)
{
    setup_device(true);
    cfg_write(PCI_ROM_ADDRESS, ROM_ADDR, 4);          /* enable bit clear */
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), UINT64_MAX);
    cfg_write(PCI_ROM_ADDRESS, ROM_ADDR | 1, 4);
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), 0xaa55);
    cfg_write(PCI_COMMAND, 0, 2);                      /* memory decoding off */
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), UINT64_MAX);
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), 0xaa55);
    /* Byte write of the enable bit alone turns it off. */
    cfg_write(PCI_ROM_ADDRESS, 0, 1);
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), UINT64_MAX);
}
END_TEST

START_TEST(rom_moves)
{
    setup_device(true);
    map_rom();
    cfg_write(PCI_ROM_ADDRESS, (ROM_ADDR + 0x10000) | 1, 4);
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), UINT64_MAX);
    ck_assert_uint_eq(mem_read(ROM_ADDR + 0x10000, 2), 0xaa55);
}
END_TEST

START_TEST(rom_overlap_not_mapped)
{
    setup_device(true);
    /* BAR0 (128 KiB) at ROM_ADDR first; the ROM placed on top of it must
     * not take over (the guest's mistake; logged). */
    cfg_write(PCI_BASE_ADDRESS_0, ROM_ADDR, 4);
    map_rom();
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), 0);     /* BAR0's read op */
    const Region *r = as_find(&mmio_space, ROM_ADDR);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(r->opaque, &dev);
}
END_TEST

START_TEST(rom_reset_unmaps)
{
    setup_device(true);
    map_rom();
    pci_bus_reset();
    ck_assert_uint_eq(cfg_read(PCI_ROM_ADDRESS), 0);
    cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), UINT64_MAX);
    map_rom();
    ck_assert_uint_eq(mem_read(ROM_ADDR, 2), 0xaa55);
}
END_TEST

START_TEST(rom_missing_file)
{
    setup_device(false);
    ck_assert_int_eq(pci_add_option_rom(&dev, "/nonexistent/vmm.rom"), -1);
    ck_assert_uint_eq(pci_rom_size(&dev), 0);
}
END_TEST

/* ---- firmware: bootorder and -kernel through fw_cfg ---- */

#define FW_RAM (2 * MiB)
static uint8_t *fw_ram;

static bool firmware_setup(FirmwareConfig *fc)
{
    if (access(FIRMWARE_DEFAULT_BIOS, R_OK) != 0)
        return false;
    fake_hw_setup();
    guest_ram_clear();
    fw_ram = calloc(1, FW_RAM);
    guest_ram_add(0, FW_RAM, fw_ram);
    fc->ram_below_4g = FW_RAM;
    fc->ncpus = 1;
    return pc_firmware_init(fc) == 0;
}

static size_t fw_read_item(uint16_t key, void *buf, size_t n)
{
    outb(0x510, 0);   /* 16-bit selector: write it whole */
    pio_out(0x510, 2, key);
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = inb(0x511);
    return n;
}

static uint32_t fw_read32(uint16_t key)
{
    uint8_t b[4];
    fw_read_item(key, b, 4);
    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static char *fw_read_file(const char *name)
{
    uint16_t key;
    uint32_t len;
    if (fw_cfg_find_file(name, &key, &len) < 0)
        return NULL;
    char *s = calloc(1, len + 1);
    fw_read_item(key, s, len);
    return s;
}

START_TEST(bootorder_sorted_by_index)
{
    fw_boot_order_add(2, "/pci@i0cf8/scsi@2/disk@0,0");
    fw_boot_order_add(0, "/pci@i0cf8/scsi@9/disk@0,0");
    PCIDevice d = { .devfn = PCI_DEVFN(10, 0) };
    fw_boot_order_add_pci(1, &d, "ethernet", "/ethernet-phy@0");
    d.devfn = PCI_DEVFN(4, 1);
    fw_boot_order_add_pci(3, &d, "scsi", "/disk@0,0");
    fw_boot_order_add_pci(-1, &d, "scsi", "/disk@0,0");   /* no bootindex: nothing */
    FirmwareConfig fc = { 0 };
    if (!firmware_setup(&fc))
        return;   /* no SeaBIOS image installed */
    char *order = fw_read_file("bootorder");
    ck_assert_ptr_nonnull(order);
    ck_assert_str_eq(order, "/pci@i0cf8/scsi@9/disk@0,0\n/pci@i0cf8/ethernet@a/ethernet-phy@0\n"
                            "/pci@i0cf8/scsi@2/disk@0,0\n/pci@i0cf8/scsi@4,1/disk@0,0");
    free(order);
}
END_TEST

START_TEST(bootorder_duplicate_index_fails)
{
    fw_boot_order_add(1, "/pci@i0cf8/scsi@2/disk@0,0");
    fw_boot_order_add(1, "/pci@i0cf8/scsi@3/disk@0,0");
    FirmwareConfig fc = { 0 };
    ck_assert(!firmware_setup(&fc) || access(FIRMWARE_DEFAULT_BIOS, R_OK) != 0);
}
END_TEST

START_TEST(no_bootorder_without_bootindex)
{
    FirmwareConfig fc = { 0 };
    if (!firmware_setup(&fc))
        return;
    ck_assert_ptr_null(fw_read_file("bootorder"));
}
END_TEST

static const char *payload(const char *name)
{
    static char path[256];
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    snprintf(path, sizeof(path), "%s/payloads/%s", build, name);
    return access(path, R_OK) == 0 && access(FIRMWARE_DEFAULT_BIOS, R_OK) == 0 &&
                   access(FIRMWARE_OPTIONROM_DIR "/linuxboot_dma.bin", R_OK) == 0
               ? path : NULL;
}

START_TEST(kernel_bzimage_items)
{
    const char *k = payload("bzimage.bin");
    if (!k)
        return;   /* payloads not built, or no SeaBIOS / QEMU option ROMs */
    fw_boot_order_add(1, "/pci@i0cf8/scsi@2/disk@0,0");
    FirmwareConfig fc = { .kernel = k, .cmdline = "bztest arg=1" };
    ck_assert(firmware_setup(&fc));
    /* As QEMU 7.2 gives them for this image. */
    ck_assert_uint_eq(fw_read32(0x07), 0x100000);     /* KERNEL_ADDR */
    ck_assert_uint_eq(fw_read32(0x16), 0x10000);      /* SETUP_ADDR */
    ck_assert_uint_eq(fw_read32(0x13), 0x20000);      /* CMDLINE_ADDR */
    ck_assert_uint_eq(fw_read32(0x14), 13);           /* CMDLINE_SIZE */
    uint32_t setup_size = fw_read32(0x17), kernel_size = fw_read32(0x08);
    size_t len;
    uint8_t *img = read_file(k, &len);
    ck_assert_uint_eq(setup_size, (img[0x1f1] + 1) * 512u);
    ck_assert_uint_eq(setup_size + kernel_size, len);
    char cmd[13];
    fw_read_item(0x15, cmd, sizeof(cmd));
    ck_assert_str_eq(cmd, "bztest arg=1");
    uint8_t *setup = malloc(setup_size);
    fw_read_item(0x18, setup, setup_size);
    ck_assert_uint_eq(setup[0x210], 0xb0);            /* type_of_loader */
    ck_assert(setup[0x211] & 0x80);                   /* CAN_USE_HEAP */
    ck_assert_uint_eq(setup[0x224] | setup[0x225] << 8, 0x20000 - 0x10000 - 0x200);
    ck_assert_uint_eq(setup[0x228] | setup[0x229] << 8 | setup[0x22a] << 16, 0x20000);
    ck_assert_mem_eq(setup + 0x240, img + 0x240, setup_size - 0x240);
    uint16_t key;
    uint32_t rom_len;
    ck_assert_int_eq(fw_cfg_find_file("genroms/linuxboot_dma.bin", &key, &rom_len), 0);
    char *order = fw_read_file("bootorder");
    ck_assert_str_eq(order, "/rom@genroms/linuxboot_dma.bin\n/pci@i0cf8/scsi@2/disk@0,0");
    free(order);
    free(setup);
    free(img);
}
END_TEST

START_TEST(kernel_multiboot_items)
{
    const char *k = payload("hello.elf");
    if (!k)
        return;
    FirmwareConfig fc = { .kernel = k };
    ck_assert(firmware_setup(&fc));
    /* QEMU 7.2 with hello.elf: the image at 1 MiB, 0x7000 bytes with the
     * command line and loader name; the info structure at 0x9500. */
    ck_assert_uint_eq(fw_read32(0x07), 0x100000);
    ck_assert_uint_eq(fw_read32(0x08), 0x7000);
    ck_assert_uint_eq(fw_read32(0x0a), 0x9500);
    ck_assert_uint_eq(fw_read32(0x0b), 88);
    uint8_t info[88];
    fw_read_item(0x12, info, sizeof(info));
    ck_assert_uint_eq(info[0] | info[1] << 8, 0x24f);
    ck_assert_uint_eq(info[48] | info[49] << 8, 0x9000);
    char *order = fw_read_file("bootorder");
    ck_assert_str_eq(order, "/rom@genroms/multiboot_dma.bin");
    free(order);
}
END_TEST

START_TEST(kernel_unknown_format_fails)
{
    if (access(FIRMWARE_DEFAULT_BIOS, R_OK) != 0)
        return;
    FirmwareConfig fc = { .kernel = "/etc/hostname" };
    ck_assert(!firmware_setup(&fc));
}
END_TEST

/* ---- isa-debugcon ---- */

START_TEST(debugcon_writes_chardev)
{
    fake_hw_setup();
    ck_assert_int_eq(main_loop_init(), 0);
    char path[64], spec[128], err[64];
    snprintf(path, sizeof(path), "/tmp/vmm-test-debugcon.%d", (int)getpid());
    snprintf(spec, sizeof(spec), "file,id=dbg,path=%s", path);
    ck_assert_ptr_nonnull(chardev_new_from_opts(spec));
    Opts *o = opts_parse("isa-debugcon,iobase=0x402,chardev=dbg", "driver", err, sizeof(err));
    opts_get(o, "driver");
    ck_assert_int_eq(isa_debugcon_new(o, "-device isa-debugcon"), 0);
    ck_assert_ptr_null(opts_first_unused(o));
    opts_free(o);
    ck_assert_uint_eq(inb(0x402), 0xe9);
    outb(0x402, 'h');
    outb(0x402, 'i');
    pio_out(0x402, 2, 0x0a21);      /* a word: its low byte only */
    chardev_flush_all(1000);
    size_t len;
    char *got = (char *)read_file(path, &len);
    unlink(path);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(got, "hi!", 3);
    free(got);
}
END_TEST

START_TEST(debugcon_readback_and_errors)
{
    fake_hw_setup();
    ck_assert_int_eq(main_loop_init(), 0);
    char err[64];
    ck_assert_ptr_nonnull(chardev_new_from_opts("null,id=n0"));
    Opts *o = opts_parse("isa-debugcon,chardev=n0,readback=0x42", "driver", err, sizeof(err));
    ck_assert_int_eq(isa_debugcon_new(o, "-device isa-debugcon"), 0);
    opts_free(o);
    ck_assert_uint_eq(inb(0xe9), 0x42);               /* QEMU's default port */
    o = opts_parse("isa-debugcon,chardev=nosuch", "driver", err, sizeof(err));
    ck_assert_int_eq(isa_debugcon_new(o, "-device isa-debugcon"), -1);
    opts_free(o);
    o = opts_parse("isa-debugcon,iobase=0x402", "driver", err, sizeof(err));
    ck_assert_int_eq(isa_debugcon_new(o, "-device isa-debugcon"), -1);
    opts_free(o);
    o = opts_parse("isa-debugcon,chardev=n0,readback=256", "driver", err, sizeof(err));
    ck_assert_int_eq(isa_debugcon_new(o, "-device isa-debugcon"), -1);
    opts_free(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pci-rom");
    UNIT_TEST(s, rom_sizing);
    UNIT_TEST(s, rom_minimum_2k);
    UNIT_TEST(s, no_rom_reads_zero);
    UNIT_TEST(s, rom_decodes_when_enabled);
    UNIT_TEST(s, rom_needs_enable_and_memory);
    UNIT_TEST(s, rom_moves);
    UNIT_TEST(s, rom_overlap_not_mapped);
    UNIT_TEST(s, rom_reset_unmaps);
    UNIT_TEST(s, rom_missing_file);
    UNIT_TEST(s, bootorder_sorted_by_index);
    UNIT_TEST(s, bootorder_duplicate_index_fails);
    UNIT_TEST(s, no_bootorder_without_bootindex);
    UNIT_TEST(s, kernel_bzimage_items);
    UNIT_TEST(s, kernel_multiboot_items);
    UNIT_TEST(s, kernel_unknown_format_fails);
    UNIT_TEST(s, debugcon_writes_chardev);
    UNIT_TEST(s, debugcon_readback_and_errors);
    return unit_run(s);
}
