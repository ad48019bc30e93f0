/*
 * Firmware boot: the BIOS image (SeaBIOS) mapped at the top of the 32-bit
 * address space, where the CPU's reset vector 0xfffffff0 lands, with its
 * last 128 KiB also in the legacy area 0xe0000-0xfffff, as the PC's
 * chipset aliases it there at power-on (i440FX PMC datasheet, PAM
 * registers).  The firmware learns the machine through fw_cfg.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu.h"
#include "devices.h"
#include "hw.h"
#include "pc.h"
#include "pci.h"
#include "util.h"

#define FOUR_GIB 0x100000000ULL
#define LEGACY_BIOS_END 0x100000ULL
#define FW_CFG_IRQ0_OVERRIDE (FW_CFG_ARCH_LOCAL + 2)

static struct {
    uint8_t *image;
    size_t size;
} fwimg;

static int bios_load(const char *path)
{
    size_t len;
    uint8_t *data = read_file(path, &len);
    if (!data) {
        int err = errno;
        bool hint = err == ENOENT && !strcmp(path, FIRMWARE_DEFAULT_BIOS);
        error_report("-bios %s: %s%s", path, strerror(err),
                     hint ? " (install Debian's seabios package)" : "");
        return -1;
    }
    if (len == 0 || len % (64 * KiB) || len > FIRMWARE_MAX_SIZE) {
        error_report("-bios %s: size %zu is not a non-zero multiple of 64 KiB up to 16 MiB",
                     path, len);
        free(data);
        return -1;
    }
    /* Page-aligned host memory: KVM maps it as a memory slot. */
    fwimg.image = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fwimg.image == MAP_FAILED) {
        fwimg.image = NULL;
        error_report("-bios %s: %s", path, strerror(errno));
        free(data);
        return -1;
    }
    memcpy(fwimg.image, data, len);
    fwimg.size = len;
    free(data);
    return 0;
}

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    if (off < fwimg.size)
        memcpy(&v, fwimg.image + off, MIN((uint64_t)size, fwimg.size - off));
    return v;
}

static void rom_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    guest_error("pc.bios: write of 0x%llx to ROM offset 0x%llx ignored",
                (unsigned long long)val, (unsigned long long)off);
}

static const MemOps rom_ops = { .read = rom_read, .write = rom_write };

/*
 * The ROM below 4 GiB: a read-only KVM slot (guest writes exit as MMIO and
 * are dropped).  It is never guest RAM for devices (no DMA into it, and the
 * balloon does not count it); the MMIO region answers reads that do not
 * come from a vCPU (qtest, the monitor's xp).
 */
static int bios_map(void)
{
    uint64_t gpa = FOUR_GIB - fwimg.size;
    if (kvm_enabled() && kvm_map_ram(gpa, fwimg.size, fwimg.image, true) < 0)
        return -1;
    return mmio_region_add(gpa, fwimg.size, &rom_ops, NULL, "pc.bios");
}

void pc_firmware_reset(void)
{
    if (!fwimg.image)
        return;
    size_t n = MIN(fwimg.size, (size_t)FIRMWARE_SHADOW_SIZE);
    guest_mem_write(LEGACY_BIOS_END - n, fwimg.image + fwimg.size - n, n);
}

static void firmware_reset_cb(void *opaque)
{
    pc_firmware_reset();
}

/*
 * etc/e820 as QEMU writes it: RAM below 4 GiB as one range from 0 (SeaBIOS
 * carves out the EBDA, VGA and BIOS areas itself), RAM above 4 GiB, and the
 * reserved ranges the machine keeps above 1 MiB (KVM's TSS pages).
 */
static int fw_cfg_add_e820(const FirmwareConfig *cfg)
{
    E820Table t = { 0 };
    if (e820_add(&t, 0, cfg->ram_below_4g, E820_RAM) < 0)
        goto bad;
    if (cfg->ram_above_4g && e820_add(&t, FOUR_GIB, cfg->ram_above_4g, E820_RAM) < 0)
        goto bad;
    for (unsigned i = 0; cfg->e820 && i < cfg->e820->n; i++) {
        const E820Entry *e = &cfg->e820->e[i];
        if (e->type == E820_RESERVED && e->addr >= LEGACY_BIOS_END &&
            e->addr >= cfg->ram_below_4g && e->addr < FOUR_GIB - fwimg.size)
            e820_add(&t, e->addr, e->size, E820_RESERVED);
    }
    return fw_cfg_add_file("etc/e820", t.e, t.n * sizeof(t.e[0]));
bad:
    error_report("firmware: cannot describe %llu MiB of RAM in the e820 map",
                 (unsigned long long)((cfg->ram_below_4g + cfg->ram_above_4g) >> 20));
    return -1;
}

static int fw_cfg_add_acpi(const AcpiConfig *acpi)
{
    AcpiFwCfgBlobs b;
    if (acpi_build_fw_cfg(acpi, &b) < 0)
        return -1;
    int rc = fw_cfg_add_file(ACPI_FILE_TABLES, b.tables, b.tables_len) |
             fw_cfg_add_file(ACPI_FILE_RSDP, b.rsdp, sizeof(b.rsdp)) |
             fw_cfg_add_file(ACPI_FILE_LOADER, b.loader, b.loader_len);
    acpi_fw_cfg_blobs_free(&b);
    return rc ? -1 : 0;
}

/* ---- bootorder (bootindex= of devices, QEMU's fw_cfg "bootorder" file) ---- */

typedef struct BootEntry {
    int index;
    unsigned seq;           /* insertion order: ties keep it */
    char *path;
} BootEntry;

#define BOOT_ENTRIES_MAX 64
static BootEntry boot_entries[BOOT_ENTRIES_MAX + 1];   /* + the kernel ROM */
static unsigned nboot_entries;
static bool boot_order_broken;

void fw_boot_order_add(int bootindex, const char *ofw_path)
{
    for (unsigned i = 0; i < nboot_entries; i++) {
        if (boot_entries[i].index == bootindex) {
            /* QEMU refuses a duplicate too; the machine fails to start. */
            error_report("-device: The bootindex %d has already been used", bootindex);
            boot_order_broken = true;
            return;
        }
    }
    if (bootindex < 0 || nboot_entries >= BOOT_ENTRIES_MAX) {
        error_report("-device: bootindex %d: %s", bootindex,
                     bootindex < 0 ? "must not be negative" : "too many boot devices");
        boot_order_broken = true;
        return;
    }
    boot_entries[nboot_entries] = (BootEntry){ bootindex, nboot_entries, xstrdup(ofw_path) };
    nboot_entries++;
}

int fw_parse_bootindex(Opts *o, const char *what, int *bootindex)
{
    const char *v = opts_get(o, "bootindex");
    uint64_t n;
    *bootindex = -1;
    if (!v || !strcmp(v, "-1"))
        return 0;
    if (parse_uint(v, &n) < 0 || n > INT32_MAX) {
        error_report("%s: Parameter 'bootindex' expects an int32 value", what);
        return -1;
    }
    *bootindex = (int)n;
    return 0;
}

void fw_boot_order_add_pci(int bootindex, const PCIDevice *d, const char *name,
                           const char *suffix)
{
    if (bootindex < 0)
        return;
    char *path = PCI_FUNC(d->devfn)
        ? xasprintf("/pci@i0cf8/%s@%x,%x%s", name, PCI_SLOT(d->devfn), PCI_FUNC(d->devfn), suffix)
        : xasprintf("/pci@i0cf8/%s@%x%s", name, PCI_SLOT(d->devfn), suffix);
    fw_boot_order_add(bootindex, path);
    free(path);
}

static int boot_entry_cmp(const void *a, const void *b)
{
    const BootEntry *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The "bootorder" file: one OpenFirmware path a line, lowest bootindex
 * first, NUL-terminated without a final newline (byte for byte what QEMU
 * writes).  first (may be NULL) goes before everything: the option ROM
 * that boots -kernel, which QEMU registers with bootindex 0 before any
 * device.  extra (-boot's list, may be NULL) goes last.
 */
static char *boot_order_build(const char *first, const char *extra)
{
    BootEntry sorted[BOOT_ENTRIES_MAX];
    memcpy(sorted, boot_entries, nboot_entries * sizeof(sorted[0]));
    qsort(sorted, nboot_entries, sizeof(sorted[0]), boot_entry_cmp);
    size_t cap = 1 + (first ? strlen(first) + 1 : 0) + (extra ? strlen(extra) + 1 : 0);
    for (unsigned i = 0; i < nboot_entries; i++)
        cap += strlen(sorted[i].path) + 1;
    char *out = xzalloc(cap);
    if (first)
        strcat(out, first);
    for (unsigned i = 0; i < nboot_entries; i++) {
        if (*out)
            strcat(out, "\n");
        strcat(out, sorted[i].path);
    }
    if (extra && *extra) {
        if (*out)
            strcat(out, "\n");
        strcat(out, extra);
    }
    return out;
}

static int fw_cfg_add_boot_order(const FirmwareConfig *cfg, const char *first)
{
    if (boot_order_broken)
        return -1;
    if (!first && !nboot_entries && !cfg->boot_order)
        return 0;
    char *order = boot_order_build(first, cfg->boot_order);
    int rc = fw_cfg_add_file("bootorder", order, strlen(order) + 1);
    free(order);
    return rc;
}

/* ---- -kernel through the firmware (QEMU's x86_load_linux / load_multiboot) ---- */

/* fw_cfg items the linuxboot and multiboot option ROMs read (QEMU
 * docs/specs/fw_cfg.rst; include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_KERNEL_ADDR 0x07
#define FW_CFG_KERNEL_SIZE 0x08
#define FW_CFG_INITRD_ADDR 0x0a
#define FW_CFG_INITRD_SIZE 0x0b
#define FW_CFG_KERNEL_ENTRY 0x10
#define FW_CFG_KERNEL_DATA 0x11
#define FW_CFG_INITRD_DATA 0x12
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_ADDR 0x16
#define FW_CFG_SETUP_SIZE 0x17
#define FW_CFG_SETUP_DATA 0x18

/* Linux boot protocol (Documentation/x86/boot.rst), "HdrS" kernels >= 2.02
 * loaded high: where QEMU puts the real-mode part, command line and kernel. */
#define LINUX_REAL_ADDR 0x10000u
#define LINUX_CMDLINE_ADDR 0x20000u
#define LINUX_PROT_ADDR 0x100000u
#define LINUX_HDR_SETUP_SECTS 0x1f1
#define LINUX_HDR_MAGIC 0x202
#define LINUX_HDR_VERSION 0x206
#define LINUX_HDR_LOADER_TYPE 0x210
#define LINUX_HDR_LOADFLAGS 0x211
#define LINUX_HDR_RAMDISK_IMAGE 0x218
#define LINUX_HDR_RAMDISK_SIZE 0x21c
#define LINUX_HDR_HEAP_END 0x224
#define LINUX_HDR_CMDLINE_PTR 0x228
#define LINUX_HDR_INITRD_MAX 0x22c
#define LINUX_HDR_XLOADFLAGS 0x236
#define LINUX_LOADED_HIGH 0x01
#define LINUX_CAN_USE_HEAP 0x80
#define LINUX_XLF_CAN_BE_LOADED_ABOVE_4G 0x02
#define LINUX_LOADER_QEMU 0xb0      /* type_of_loader QEMU reports */
/* QEMU's pc machine keeps the initrd below RAM end minus its ACPI area. */
#define LINUX_ACPI_DATA_SIZE 0x28000u

static uint16_t le16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v) { put_le16(p, (uint16_t)v); put_le16(p + 2, v >> 16); }

static bool is_bzimage(const uint8_t *img, size_t len)
{
    return len > LINUX_HDR_INITRD_MAX + 4 && le32(img + LINUX_HDR_MAGIC) == 0x53726448;
}

/* The fw_cfg file "genroms/NAME" from the option ROM directory. */
static int add_boot_rom(const FirmwareConfig *cfg, const char *name)
{
    const char *dir = cfg->optionrom_dir ? cfg->optionrom_dir : FIRMWARE_OPTIONROM_DIR;
    char *path = xasprintf("%s/%s", dir, name);
    size_t len;
    uint8_t *rom = read_file(path, &len);
    if (!rom) {
        error_report("-kernel: option ROM %s: %s (install Debian's qemu-system-data)", path,
                     strerror(errno));
        free(path);
        return -1;
    }
    char *file = xasprintf("genroms/%s", name);
    int rc = fw_cfg_add_file(file, rom, len);
    free(file);
    free(rom);
    free(path);
    return rc;
}

static int fw_cfg_add_blob(uint16_t addr_key, uint32_t addr, uint16_t size_key,
                           uint16_t data_key, const void *data, size_t len)
{
    return fw_cfg_add_i32(addr_key, addr) | fw_cfg_add_i32(size_key, (uint32_t)len) |
           fw_cfg_add_bytes(data_key, data, len);
}

/* Highest initrd end for this kernel and RAM, as QEMU computes it. */
static uint32_t linux_initrd_max(const uint8_t *hdr, uint64_t ram_below_4g)
{
    uint16_t protocol = le16(hdr + LINUX_HDR_VERSION);
    uint64_t max = 0x37ffffff;
    if (protocol >= 0x20c && (le16(hdr + LINUX_HDR_XLOADFLAGS) & LINUX_XLF_CAN_BE_LOADED_ABOVE_4G))
        max = UINT32_MAX;
    else if (protocol >= 0x203)
        max = le32(hdr + LINUX_HDR_INITRD_MAX);
    if (max >= ram_below_4g - LINUX_ACPI_DATA_SIZE)
        max = ram_below_4g - LINUX_ACPI_DATA_SIZE - 1;
    return (uint32_t)max;
}

static int linux_add_initrd(const FirmwareConfig *cfg, uint8_t *setup)
{
    size_t len;
    uint8_t *data = read_file(cfg->initrd, &len);
    if (!data) {
        error_report("-initrd %s: %s", cfg->initrd, strerror(errno));
        return -1;
    }
    uint32_t max = linux_initrd_max(setup, cfg->ram_below_4g);
    if (len >= max) {
        error_report("-initrd %s: %zu bytes do not fit below 0x%x", cfg->initrd, len, max);
        free(data);
        return -1;
    }
    uint32_t addr = (uint32_t)((max - len) & ~0xfffu);
    put_le32(setup + LINUX_HDR_RAMDISK_IMAGE, addr);
    put_le32(setup + LINUX_HDR_RAMDISK_SIZE, (uint32_t)len);
    int rc = fw_cfg_add_blob(FW_CFG_INITRD_ADDR, addr, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA,
                             data, len);
    free(data);
    return rc;
}

/*
 * bzImage: split into the setup (real-mode) part and the protected-mode
 * kernel, patch the setup header as a boot loader must (boot protocol:
 * type_of_loader, CAN_USE_HEAP + heap_end_ptr, cmd_line_ptr, ramdisk
 * fields), and hand both to linuxboot_dma.bin through fw_cfg.
 */
static int linux_to_fw_cfg(const FirmwareConfig *cfg, const uint8_t *img, size_t len)
{
    const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
    uint16_t protocol = le16(img + LINUX_HDR_VERSION);
    if (protocol < 0x202 || !(img[LINUX_HDR_LOADFLAGS] & LINUX_LOADED_HIGH)) {
        error_report("-kernel %s: boot protocol %x.%02x: only kernels >= 2.02 loaded high "
                     "boot through the firmware", cfg->kernel, protocol >> 8, protocol & 0xff);
        return -1;
    }
    size_t setup_size = img[LINUX_HDR_SETUP_SECTS] ? img[LINUX_HDR_SETUP_SECTS] : 4;
    setup_size = (setup_size + 1) * 512;
    if (setup_size > len || strlen(cmdline) + 1 > 0x10000 - 16) {
        error_report("-kernel %s: %s", cfg->kernel, setup_size > len ?
                     "setup sectors extend past the end of the image" : "command line too long");
        return -1;
    }
    uint8_t *setup = xmalloc(setup_size);
    memcpy(setup, img, setup_size);
    put_le32(setup + LINUX_HDR_CMDLINE_PTR, LINUX_CMDLINE_ADDR);
    setup[LINUX_HDR_LOADER_TYPE] = LINUX_LOADER_QEMU;
    setup[LINUX_HDR_LOADFLAGS] |= LINUX_CAN_USE_HEAP;
    put_le16(setup + LINUX_HDR_HEAP_END, LINUX_CMDLINE_ADDR - LINUX_REAL_ADDR - 0x200);
    int rc = cfg->initrd ? linux_add_initrd(cfg, setup) : 0;
    if (rc == 0)
        rc = fw_cfg_add_blob(FW_CFG_CMDLINE_ADDR, LINUX_CMDLINE_ADDR, FW_CFG_CMDLINE_SIZE,
                             FW_CFG_CMDLINE_DATA, cmdline, strlen(cmdline) + 1) |
             fw_cfg_add_blob(FW_CFG_SETUP_ADDR, LINUX_REAL_ADDR, FW_CFG_SETUP_SIZE,
                             FW_CFG_SETUP_DATA, setup, setup_size) |
             fw_cfg_add_blob(FW_CFG_KERNEL_ADDR, LINUX_PROT_ADDR, FW_CFG_KERNEL_SIZE,
                             FW_CFG_KERNEL_DATA, img + setup_size, len - setup_size);
    free(setup);
    return rc ? -1 : add_boot_rom(cfg, "linuxboot_dma.bin");
}

/*
 * Multiboot v1 as QEMU's load_multiboot lays it out for multiboot_dma.bin:
 * one buffer loaded at the kernel's load address holding the kernel image
 * (page aligned), then the module list, command lines and boot loader
 * name (page aligned), then each module (page aligned); the 88-byte info
 * structure goes to 0x9500 and the ROM fills in mem_lower/upper and the
 * e820 memory map at 0x9000 (Multiboot Specification 0.6.96, 3.3).
 */
#define MB_STRUCT_ADDR 0x9000u
#define MB_MMAP_ADDR MB_STRUCT_ADDR
#define MB_INFO_ADDR (MB_STRUCT_ADDR + 0x500)
#define MB_INFO_SIZE 88
#define MB_MOD_SIZE 16
#define MB_HDR_AOUT_KLUDGE (1u << 16)
#define MB_INFO_FLAGS 0x24fu   /* MEMORY|BOOTDEV|CMDLINE|MODS|MMAP|LOADER_NAME */
#define MB_LOADER_NAME "qemu"
#define MB_MAX_IMAGE (1ULL << 30)
#define PAGE_ALIGN(x) (((x) + 0xfffULL) & ~0xfffULL)

typedef struct MbImage {
    uint8_t *buf;
    uint64_t size;          /* bytes of buf in use */
    uint32_t load_addr, entry;
} MbImage;

/* a.out kludge: the header gives the load range (spec 3.1.3). */
static const char *mb_load_aout(const uint8_t *img, size_t len, long hoff, MbImage *mb)
{
    const uint8_t *h = img + hoff;
    uint32_t header_addr = le32(h + 12), load_addr = le32(h + 16);
    uint32_t load_end = le32(h + 20), bss_end = le32(h + 24);
    if (header_addr < load_addr || header_addr - load_addr > (uint64_t)hoff)
        return "invalid header_addr/load_addr in the multiboot header";
    uint64_t text_off = hoff - (header_addr - load_addr);
    uint64_t load_size = load_end ? (uint64_t)load_end - load_addr : len - text_off;
    if ((load_end && load_end < load_addr) || text_off + load_size > len)
        return "invalid load_end_addr in the multiboot header";
    uint64_t size = bss_end ? (uint64_t)bss_end - load_addr : load_size;
    if ((bss_end && bss_end < load_addr + load_size) || size > MB_MAX_IMAGE)
        return "invalid bss_end_addr in the multiboot header";
    mb->buf = xzalloc(size ? size : 1);
    memcpy(mb->buf, img + text_off, load_size);
    mb->size = size;
    mb->load_addr = load_addr;
    mb->entry = le32(h + 28);
    return NULL;
}

/* ELF32: the PT_LOAD segments at their physical addresses, as one image
 * from the lowest to the highest (gaps and bss zeroed). */
static const char *mb_load_elf(const uint8_t *img, size_t len, MbImage *mb)
{
    bool is64;
    const char *why = NULL;
    if (elf_check(img, len, &is64, &why) < 0)
        return why ? why : "not an ELF image";
    if (is64)
        return "Cannot load x86-64 image, give a 32bit one.";
    const Elf32_Ehdr *eh = (const Elf32_Ehdr *)img;
    uint64_t low = UINT64_MAX, high = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < eh->e_phnum; i++) {
            Elf32_Phdr ph;
            memcpy(&ph, img + eh->e_phoff + (size_t)i * eh->e_phentsize, sizeof(ph));
            if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
                continue;
            if (ph.p_filesz > ph.p_memsz || (uint64_t)ph.p_offset + ph.p_filesz > len)
                return "a PT_LOAD segment lies outside the file";
            if (pass == 0) {
                low = MIN(low, (uint64_t)ph.p_paddr);
                high = MAX(high, (uint64_t)ph.p_paddr + ph.p_memsz);
            } else {
                memcpy(mb->buf + (ph.p_paddr - low), img + ph.p_offset, ph.p_filesz);
            }
        }
        if (pass == 0) {
            if (low >= high || high - low > MB_MAX_IMAGE || high > UINT32_MAX)
                return "no loadable segments below 4 GiB";
            mb->buf = xzalloc(high - low);
        }
    }
    mb->size = high - low;
    mb->load_addr = (uint32_t)low;
    mb->entry = eh->e_entry;
    return NULL;
}

/* Grow the image to size bytes (zero filled). */
static void mb_grow(MbImage *mb, uint64_t size)
{
    mb->buf = xrealloc(mb->buf, size);
    memset(mb->buf + mb->size, 0, size - mb->size);
    mb->size = size;
}

/* Append string s at *off in the image; returns its guest address. */
static uint32_t mb_put_string(MbImage *mb, uint64_t *off, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(mb->buf + *off, s, n);
    uint32_t addr = mb->load_addr + (uint32_t)*off;
    *off += n;
    return addr;
}

static unsigned count_modules(const char *initrd)
{
    unsigned n = 1;
    for (const char *p = initrd; *p; p++)
        n += *p == ',';
    return n;
}

/* Load the modules ("file args" items separated by ','); fills the module
 * list at mods_off and their command lines from *str_off. */
static int mb_add_modules(const FirmwareConfig *cfg, MbImage *mb, uint64_t mods_off,
                          uint64_t *str_off)
{
    char *list = xstrdup(cfg->initrd), *save = NULL;
    unsigned i = 0;
    for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save), i++) {
        uint32_t cmd = mb_put_string(mb, str_off, item);
        char *space = strchr(item, ' ');
        if (space)
            *space = '\0';
        size_t len;
        uint8_t *data = read_file(item, &len);
        if (!data || mb->size + len > MB_MAX_IMAGE) {
            error_report("-initrd %s: %s", item, data ? "too large" : strerror(errno));
            free(data);
            free(list);
            return -1;
        }
        uint64_t at = mb->size;
        mb_grow(mb, PAGE_ALIGN(at + len));
        memcpy(mb->buf + at, data, len);
        free(data);
        uint8_t *m = mb->buf + mods_off + (uint64_t)i * MB_MOD_SIZE;
        put_le32(m, mb->load_addr + (uint32_t)at);
        put_le32(m + 4, mb->load_addr + (uint32_t)(at + len));
        put_le32(m + 8, cmd);
    }
    free(list);
    return (int)i;
}

static int multiboot_to_fw_cfg(const FirmwareConfig *cfg, const uint8_t *img, size_t len,
                               long hoff)
{
    MbImage mb = { 0 };
    const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
    uint32_t flags = le32(img + hoff + 4);
    const char *why = flags & MB_HDR_AOUT_KLUDGE ? mb_load_aout(img, len, hoff, &mb)
                                                 : mb_load_elf(img, len, &mb);
    if (why) {
        error_report("-kernel %s: %s", cfg->kernel, why);
        free(mb.buf);
        return -1;
    }
    unsigned nmods = cfg->initrd ? count_modules(cfg->initrd) : 0;
    uint64_t mods_off = PAGE_ALIGN(mb.size);
    uint64_t str_off = mods_off + (uint64_t)nmods * MB_MOD_SIZE;
    size_t strings = strlen(cfg->kernel) + 1 + strlen(cmdline) + 1 + sizeof(MB_LOADER_NAME) +
                     (cfg->initrd ? strlen(cfg->initrd) + 1 : 0);
    mb_grow(&mb, PAGE_ALIGN(str_off + strings));
    int got = nmods ? mb_add_modules(cfg, &mb, mods_off, &str_off) : 0;
    if (got < 0) {
        free(mb.buf);
        return -1;
    }
    /* QEMU's command line: the kernel's file name, a space, -append. */
    char *kcmd = xasprintf("%s %s", cfg->kernel, cmdline);
    uint8_t info[MB_INFO_SIZE] = { 0 };
    put_le32(info + 0, MB_INFO_FLAGS);
    put_le32(info + 12, 0x8000ffff);            /* boot_device: first BIOS disk */
    put_le32(info + 16, mb_put_string(&mb, &str_off, kcmd));
    put_le32(info + 20, (uint32_t)got);
    put_le32(info + 24, mb.load_addr + (uint32_t)mods_off);
    put_le32(info + 48, MB_MMAP_ADDR);
    put_le32(info + 64, mb_put_string(&mb, &str_off, MB_LOADER_NAME));
    free(kcmd);
    int rc = fw_cfg_add_i32(FW_CFG_KERNEL_ENTRY, mb.entry) |
             fw_cfg_add_blob(FW_CFG_KERNEL_ADDR, mb.load_addr, FW_CFG_KERNEL_SIZE,
                             FW_CFG_KERNEL_DATA, mb.buf, mb.size) |
             fw_cfg_add_blob(FW_CFG_INITRD_ADDR, MB_INFO_ADDR, FW_CFG_INITRD_SIZE,
                             FW_CFG_INITRD_DATA, info, sizeof(info));
    free(mb.buf);
    return rc ? -1 : add_boot_rom(cfg, "multiboot_dma.bin");
}

/* Returns the boot ROM's fw_cfg file name (for bootorder), NULL on error. */
static const char *kernel_to_fw_cfg(const FirmwareConfig *cfg)
{
    size_t len;
    uint8_t *img = read_file(cfg->kernel, &len);
    if (!img) {
        error_report("-kernel %s: %s", cfg->kernel, strerror(errno));
        return NULL;
    }
    long hoff;
    const char *rom = NULL;
    if (is_bzimage(img, len)) {
        if (linux_to_fw_cfg(cfg, img, len) == 0)
            rom = "/rom@genroms/linuxboot_dma.bin";
    } else if ((hoff = multiboot_find_header(img, len)) >= 0) {
        if (multiboot_to_fw_cfg(cfg, img, len, hoff) == 0)
            rom = "/rom@genroms/multiboot_dma.bin";
    } else {
        error_report("-kernel %s: the firmware boots only bzImage and multiboot v1 kernels",
                     cfg->kernel);
    }
    free(img);
    return rom;
}

static int fw_cfg_fill(const FirmwareConfig *cfg)
{
    static const uint8_t no_uuid[16];
    unsigned max_cpus = cfg->max_cpus ? cfg->max_cpus : cfg->ncpus;
    int rc = fw_cfg_add_i64(FW_CFG_RAM_SIZE, cfg->ram_below_4g + cfg->ram_above_4g) |
             fw_cfg_add_i16(FW_CFG_NB_CPUS, (uint16_t)cfg->ncpus) |
             fw_cfg_add_i16(FW_CFG_MAX_CPUS, (uint16_t)max_cpus) |
             fw_cfg_add_bytes(FW_CFG_UUID, no_uuid, sizeof(no_uuid)) |
             /* The PIT's IRQ 0 reaches IOAPIC pin 2 (our MADT says so too). */
             fw_cfg_add_i32(FW_CFG_IRQ0_OVERRIDE, 1) |
             /* SeaBIOS waits for a key unless told there is no menu. */
             fw_cfg_add_i16(FW_CFG_BOOT_MENU, cfg->boot_menu) |
             fw_cfg_add_i16(FW_CFG_NOGRAPHIC, cfg->sercon_port != 0);
    if (rc || fw_cfg_add_e820(cfg) < 0)
        return -1;
    const char *boot_rom = NULL;
    if (cfg->kernel && !(boot_rom = kernel_to_fw_cfg(cfg)))
        return -1;
    if (fw_cfg_add_boot_order(cfg, boot_rom) < 0)
        return -1;
    if (cfg->boot_menu && cfg->boot_menu_wait_ms) {
        uint16_t ms = (uint16_t)MIN(cfg->boot_menu_wait_ms, 0xffffu);
        uint8_t le[2] = { (uint8_t)ms, (uint8_t)(ms >> 8) };
        if (fw_cfg_add_file("etc/boot-menu-wait", le, sizeof(le)) < 0)
            return -1;
    }
    if (cfg->sercon_port) {
        /* SeaBIOS's serial console: int 10h text mirrored to this UART. */
        uint8_t le[2] = { (uint8_t)cfg->sercon_port, (uint8_t)(cfg->sercon_port >> 8) };
        if (fw_cfg_add_file("etc/sercon-port", le, sizeof(le)) < 0)
            return -1;
    }
    return cfg->acpi ? fw_cfg_add_acpi(cfg->acpi) : 0;
}

int pc_firmware_init(const FirmwareConfig *cfg)
{
    const char *path = cfg->bios_path ? cfg->bios_path : FIRMWARE_DEFAULT_BIOS;
    if (cfg->ram_below_4g < LEGACY_BIOS_END) {
        error_report("-bios %s: needs at least 1 MiB of RAM", path);
        return -1;
    }
    if (bios_load(path) < 0 || bios_map() < 0)
        return -1;
    if (fw_cfg_create() < 0 || fw_cfg_fill(cfg) < 0)
        return -1;
    reset_register(firmware_reset_cb, NULL);
    pc_firmware_reset();
    return 0;
}
