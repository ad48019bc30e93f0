/*
 * Linux bzImage direct boot (Documentation/arch/x86/boot.rst): the
 * protected-mode kernel goes to 1 MiB, the "zero page" (struct boot_params)
 * carries the setup header, command line, initrd and e820 map, and the BSP
 * starts in the 64-bit entry when the kernel has one, else the 32-bit one.
 */
#include <string.h>

#include "hw.h"
#include "pc.h"
#include "util.h"

#define KERNEL_LOAD_ADDR 0x100000ULL

/* Setup header fields, as offsets in the image and in boot_params. */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_VID_MODE 0x1fa
#define HDR_JUMP_LEN 0x201      /* end of header = 0x202 + this byte */
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
/* The setup header may not run into boot_params' edd_mbr_sig_buffer. */
#define HDR_COPY_LIMIT 0x290

/* boot_params fields outside the setup header (zero-page.rst). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 0x1000

#define LOADFLAG_LOADED_HIGH 0x01
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

typedef struct LinuxImage {
    const uint8_t *img;
    size_t len;
    uint16_t version;
    size_t kernel_off, kernel_size;   /* the protected-mode part */
    uint64_t mem_end;                 /* end of the memory it needs to boot */
} LinuxImage;

static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/*
 * Protocol 2.10+: init_size bytes from the kernel's runtime start are what it
 * needs before it reads the memory map.  The decompressor (startup_32/64)
 * runs at our load address rounded up to kernel_alignment when relocatable,
 * but never below pref_address (LOAD_PHYSICAL_ADDR, usually 16 MiB), and at
 * pref_address when not relocatable (boot.rst, "pref_address", "init_size").
 */
static int decompress_end(const LinuxImage *li, uint64_t *end)
{
    uint64_t start = KERNEL_LOAD_ADDR, pref = rd64(li->img + HDR_PREF_ADDRESS);
    uint32_t align = rd32(li->img + HDR_KERNEL_ALIGNMENT);
    if (li->img[HDR_RELOCATABLE]) {
        if (align == 0 || (align & (align - 1))) {
            error_report("kernel: invalid kernel_alignment 0x%x in the bzImage header", align);
            return -1;
        }
        start = (start + align - 1) & ~(uint64_t)(align - 1);
    }
    start = MAX(start, pref);
    uint64_t init_end = start + rd32(li->img + HDR_INIT_SIZE);
    if (init_end < start) {
        error_report("kernel: invalid pref_address 0x%llx in the bzImage header",
                     (unsigned long long)pref);
        return -1;
    }
    *end = MAX(*end, init_end);
    return 0;
}

static int parse_image(const BootInfo *bi, LinuxImage *li)
{
    const char *why;
    if (kernel_probe(bi->kernel, bi->kernel_len, &why) != KERNEL_BZIMAGE) {
        error_report("kernel: %s", why ? why : "not a bzImage");
        return -1;
    }
    li->img = bi->kernel;
    li->len = bi->kernel_len;
    li->version = rd16(li->img + HDR_VERSION);
    unsigned sects = li->img[HDR_SETUP_SECTS] ? li->img[HDR_SETUP_SECTS] : 4;
    li->kernel_off = (size_t)(sects + 1) * 512;
    if (li->kernel_off >= li->len || 0x202u + li->img[HDR_JUMP_LEN] > li->len ||
        li->len < HDR_INIT_SIZE + 4) {
        error_report("kernel: truncated bzImage");
        return -1;
    }
    li->kernel_size = li->len - li->kernel_off;
    li->mem_end = KERNEL_LOAD_ADDR + li->kernel_size;
    if (li->version >= 0x20a && decompress_end(li, &li->mem_end) < 0)
        return -1;
    if (li->mem_end > bi->ram_below_4g) {
        error_report("kernel does not fit in RAM (%llu MiB needed)",
                     (unsigned long long)((li->mem_end + MiB - 1) / MiB));
        return -1;
    }
    return 0;
}

static int write_cmdline(const BootInfo *bi, const LinuxImage *li, uint8_t *bp)
{
    const char *cmdline = bi->cmdline ? bi->cmdline : "";
    size_t n = strlen(cmdline);
    uint32_t max = rd32(li->img + HDR_CMDLINE_SIZE);   /* without the NUL */
    max = (uint32_t)MIN((uint64_t)max, (uint64_t)BOOT_CMDLINE_MAX - 1);
    if (n > max) {
        error_report("-append: kernel command line is %zu bytes, this kernel accepts at most %u",
                     n, max);
        return -1;
    }
    if (guest_mem_write(BOOT_CMDLINE_ADDR, cmdline, n + 1) < 0) {
        error_report("kernel: no RAM for the command line at 0x%x", BOOT_CMDLINE_ADDR);
        return -1;
    }
    wr32(bp + HDR_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);
    wr32(bp + BP_EXT_CMD_LINE_PTR, 0);
    return 0;
}

static int load_initrd(const BootInfo *bi, const LinuxImage *li, uint8_t *bp)
{
    if (!bi->initrd_paths || !*bi->initrd_paths)
        return 0;
    if (strchr(bi->initrd_paths, ',')) {
        error_report("-initrd with several files is only for multiboot");
        return -1;
    }
    /* Highest page below both the end of low RAM and initrd_addr_max. */
    uint64_t ceiling = MIN((uint64_t)rd32(li->img + HDR_INITRD_ADDR_MAX) + 1, bi->ram_below_4g);
    uint64_t floor = (li->mem_end + 0xfff) & ~0xfffULL;
    uint64_t gpa, size;
    if (initrd_load_top(bi->initrd_paths, floor, ceiling, &gpa, &size) < 0)
        return -1;
    wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)gpa);
    wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)size);
    wr32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(gpa >> 32));
    wr32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(size >> 32));
    return 0;
}

static void write_e820(const BootInfo *bi, uint8_t *bp)
{
    unsigned n = bi->e820 ? MIN(bi->e820->n, (unsigned)BP_E820_MAX) : 0;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = bp + BP_E820_TABLE + i * 20;
        wr64(e, bi->e820->e[i].addr);
        wr64(e + 8, bi->e820->e[i].size);
        wr32(e + 16, bi->e820->e[i].type);
    }
    bp[BP_E820_ENTRIES] = (uint8_t)n;
}

/* Fill the zero page; boot.rst "Details of header fields" for each write. */
static int build_zero_page(const BootInfo *bi, const LinuxImage *li, uint8_t *bp)
{
    memset(bp, 0, BP_SIZE);
    size_t hdr_end = MIN(0x202u + li->img[HDR_JUMP_LEN], (size_t)HDR_COPY_LIMIT);
    memcpy(bp + HDR_SETUP_SECTS, li->img + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    wr16(bp + HDR_VID_MODE, 0xffff);                 /* "normal" video mode */
    bp[HDR_TYPE_OF_LOADER] = 0xff;                   /* undefined boot loader */
    bp[HDR_LOADFLAGS] |= LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP;
    wr16(bp + HDR_HEAP_END_PTR, 0xfe00);
    /* We load at 1 MiB and jump there: make the header say so. */
    wr32(bp + HDR_CODE32_START, KERNEL_LOAD_ADDR);
    if (write_cmdline(bi, li, bp) < 0 || load_initrd(bi, li, bp) < 0)
        return -1;
    write_e820(bi, bp);
    if (bi->acpi_rsdp && li->version >= 0x20e)
        wr64(bp + BP_ACPI_RSDP_ADDR, bi->acpi_rsdp);
    return 0;
}

static int set_entry(const LinuxImage *li, BootCpuState *cpu)
{
    memset(cpu, 0, sizeof(*cpu));
    if (boot_cpu_common(cpu) < 0)
        return -1;
    cpu->rsi = BOOT_ZEROPAGE_ADDR;
    bool has64 = li->version >= 0x20c && (rd16(li->img + HDR_XLOADFLAGS) & XLF_KERNEL_64);
    if (!has64) {
        /* 32-bit boot protocol: flat segments, paging off, esi = zero page. */
        cpu->mode = BOOT_PROTECTED32;
        cpu->rip = KERNEL_LOAD_ADDR;
        return 0;
    }
    /* 64-bit boot protocol: startup_64 is 0x200 past the 32-bit entry, with
     * an identity map covering kernel, zero page and command line. */
    cpu->mode = BOOT_LONG64;
    cpu->rip = KERNEL_LOAD_ADDR + 0x200;
    cpu->cr3 = boot_identity_map_write();
    if (!cpu->cr3) {
        error_report("kernel: no RAM for the boot page tables at 0x%x", BOOT_PML4_ADDR);
        return -1;
    }
    return 0;
}

int linux_load(const BootInfo *bi, BootCpuState *cpu)
{
    LinuxImage li;
    if (parse_image(bi, &li) < 0)
        return -1;
    uint8_t *bp = guest_mem_map(BOOT_ZEROPAGE_ADDR, BP_SIZE);
    if (!bp) {
        error_report("kernel: no RAM for the zero page at 0x%x", BOOT_ZEROPAGE_ADDR);
        return -1;
    }
    if (build_zero_page(bi, &li, bp) < 0)
        return -1;
    if (guest_mem_write(KERNEL_LOAD_ADDR, li.img + li.kernel_off, li.kernel_size) < 0) {
        error_report("kernel does not fit in RAM (%llu MiB needed)",
                     (unsigned long long)((KERNEL_LOAD_ADDR + li.kernel_size + MiB - 1) / MiB));
        return -1;
    }
    return set_entry(&li, cpu);
}
