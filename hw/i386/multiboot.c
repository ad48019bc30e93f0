/*
 * Multiboot v1 (Multiboot Specification 0.6.96): load an ELF32 image or one
 * using the header's a.out kludge, load -initrd items as modules, build the
 * multiboot information structure in low RAM and start the BSP in 32-bit
 * protected mode with eax = 0x2BADB002, ebx = the info structure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"
#include "pc.h"
#include "util.h"

#define MB_BOOTLOADER_MAGIC 0x2BADB002u

/* Header flags (spec 3.1.2).  Bits 0-15 are requirements. */
#define MBH_PAGE_ALIGN (1u << 0)    /* modules page-aligned: we always do */
#define MBH_MEMORY_INFO (1u << 1)   /* mem_* fields: always provided */
#define MBH_VIDEO_MODE (1u << 2)    /* accepted; no video info is provided */
#define MBH_AOUT_KLUDGE (1u << 16)
#define MBH_SUPPORTED_REQ (MBH_PAGE_ALIGN | MBH_MEMORY_INFO | MBH_VIDEO_MODE)

/* Info structure flags and offsets (spec 3.3). */
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE_PTR 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_LOADER_NAME_PTR 64
#define MBI_SIZE 120

#define MB_MAX_MODULES 64

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

typedef struct MbKernel {
    uint32_t entry;
    uint64_t end;       /* first byte after the kernel image + bss */
} MbKernel;

/*
 * a.out kludge (spec 3.1.3): header_addr is where the header itself is
 * loaded, so file offset hoff - (header_addr - load_addr) goes to
 * load_addr; text+data end at load_end_addr (0: end of file), bss ends at
 * bss_end_addr (0: none).
 */
static int load_aout_kludge(const uint8_t *img, size_t len, size_t hoff, MbKernel *k)
{
    if (hoff + 32 > len) {
        error_report("multiboot: header address fields lie beyond the end of the file");
        return -1;
    }
    const uint8_t *h = img + hoff;
    uint32_t header_addr = rd32(h + 12), load_addr = rd32(h + 16);
    uint32_t load_end = rd32(h + 20), bss_end = rd32(h + 24);
    k->entry = rd32(h + 28);
    if (load_addr > header_addr || header_addr - load_addr > hoff) {
        error_report("multiboot: invalid header_addr 0x%x / load_addr 0x%x", header_addr,
                     load_addr);
        return -1;
    }
    size_t file_off = hoff - (header_addr - load_addr);
    uint64_t size = load_end ? (uint64_t)load_end - load_addr : len - file_off;
    if ((load_end && load_end < load_addr) || size > len - file_off) {
        error_report("multiboot: invalid load_end_addr 0x%x", load_end);
        return -1;
    }
    uint64_t end = (uint64_t)load_addr + size;
    if (bss_end && bss_end < end) {
        error_report("multiboot: invalid bss_end_addr 0x%x", bss_end);
        return -1;
    }
    uint64_t mem_end = bss_end ? bss_end : end;
    const char *why = boot_range_check(load_addr, mem_end - load_addr);
    if (why) {
        error_report("multiboot: kernel [0x%x, 0x%llx) %s", load_addr,
                     (unsigned long long)mem_end, why);
        return -1;
    }
    uint8_t *dst = guest_mem_map(load_addr, mem_end - load_addr);
    memcpy(dst, img + file_off, size);
    memset(dst + size, 0, mem_end - end);
    k->end = mem_end;
    return 0;
}

static int load_elf(const uint8_t *img, size_t len, MbKernel *k)
{
    bool is64;
    const char *why;
    if (elf_check(img, len, &is64, &why) < 0) {
        error_report("multiboot: image has no a.out kludge (flags bit 16) and %s", why);
        return -1;
    }
    if (is64) {
        error_report("multiboot: 64-bit ELF images are not supported (use ELF32 or the "
                     "a.out kludge)");
        return -1;
    }
    if (elf_load_segments(img, len, "multiboot", &k->end) < 0)
        return -1;
    k->entry = (uint32_t)elf_entry_paddr(img, len);
    return 0;
}

static int load_kernel(const BootInfo *bi, MbKernel *k)
{
    long hoff = multiboot_find_header(bi->kernel, bi->kernel_len);
    if (hoff < 0) {
        error_report("kernel: no multiboot header in the first 8 KiB");
        return -1;
    }
    uint32_t flags = rd32(bi->kernel + hoff + 4);
    if (flags & 0xffff & ~MBH_SUPPORTED_REQ) {
        error_report("multiboot: kernel requires unsupported features (header flags 0x%x)",
                     flags);
        return -1;
    }
    if (flags & MBH_AOUT_KLUDGE)
        return load_aout_kludge(bi->kernel, bi->kernel_len, (size_t)hoff, k);
    return load_elf(bi->kernel, bi->kernel_len, k);
}

/* ---- modules ---- */

/*
 * Next item of a -initrd list: items are separated by ',' and ",," stands
 * for a literal comma (QEMU's convention).  Returns a malloc'd item and
 * advances *p, or NULL at the end.
 */
static char *next_item(const char **p)
{
    const char *s = *p;
    if (!*s)
        return NULL;
    char *out = xmalloc(strlen(s) + 1), *o = out;
    while (*s) {
        if (*s == ',' && s[1] == ',') {
            *o++ = ',';
            s += 2;
        } else if (*s == ',') {
            s++;
            break;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    *p = s;
    return out;
}

/* Load one "path args" item page-aligned at *next; fill the 16-byte
 * module entry (mod_start, mod_end, string, reserved). */
static int load_module(const char *item, uint64_t *next, uint64_t limit, BootArea *area,
                       uint8_t *entry)
{
    size_t plen = strcspn(item, " ");
    char *path = strndup(item, plen);
    size_t len;
    uint8_t *data = path ? read_file(path, &len) : NULL;
    if (!data) {
        error_report("could not load multiboot module '%s': %s", path ? path : item,
                     strerror(errno));
        free(path);
        return -1;
    }
    uint64_t at = (*next + 0xfff) & ~0xfffULL;
    /* Skip the legacy hole rather than overwrite the ACPI tables in it. */
    if (at < BOOT_LEGACY_HOLE_END && at + len > PC_EBDA_START)
        at = BOOT_LEGACY_HOLE_END;
    int r = -1;
    if (at > limit || len > limit - at || boot_range_check(at, len)) {
        error_report("multiboot module '%s' does not fit in RAM", path);
        goto out;
    }
    guest_mem_write(at, data, len);
    uint64_t str = boot_area_put(area, item, strlen(item) + 1, 1);
    if (!str) {
        error_report("multiboot: module command lines too long");
        goto out;
    }
    wr32(entry, (uint32_t)at);
    wr32(entry + 4, (uint32_t)(at + len));
    wr32(entry + 8, (uint32_t)str);
    wr32(entry + 12, 0);
    *next = at + len;
    r = 0;
out:
    free(data);
    free(path);
    return r;
}

static int load_modules(const BootInfo *bi, uint64_t kernel_end, BootArea *area, uint8_t *mbi)
{
    if (!bi->initrd_paths || !*bi->initrd_paths)
        return 0;
    uint8_t mods[MB_MAX_MODULES * 16];
    unsigned n = 0;
    uint64_t next = kernel_end;
    const char *p = bi->initrd_paths;
    char *item;
    while ((item = next_item(&p))) {
        int r = -1;
        if (n == MB_MAX_MODULES)
            error_report("multiboot: more than %d modules", MB_MAX_MODULES);
        else
            r = load_module(item, &next, bi->ram_below_4g, area, mods + n * 16);
        free(item);
        if (r < 0)
            return -1;
        n++;
    }
    uint64_t list = boot_area_put(area, mods, n * 16, 16);
    if (n && !list) {
        error_report("multiboot: no room for the module list");
        return -1;
    }
    wr32(mbi + MBI_MODS_COUNT, n);
    wr32(mbi + MBI_MODS_ADDR, (uint32_t)list);
    wr32(mbi + MBI_FLAGS, rd32(mbi + MBI_FLAGS) | MBI_MODS);
    return 0;
}

/* ---- information structure ---- */

/* Memory map entries: a 'size' field (20, not counting itself) then
 * base_addr, length, type (spec 3.3, "mmap_*"). */
static int put_mmap(const BootInfo *bi, BootArea *area, uint8_t *mbi)
{
    unsigned n = bi->e820 ? bi->e820->n : 0;
    uint8_t buf[E820_MAX * 24];
    for (unsigned i = 0; i < n; i++) {
        wr32(buf + i * 24, 20);
        wr64(buf + i * 24 + 4, bi->e820->e[i].addr);
        wr64(buf + i * 24 + 12, bi->e820->e[i].size);
        wr32(buf + i * 24 + 20, bi->e820->e[i].type);
    }
    uint64_t at = boot_area_put(area, buf, n * 24, 8);
    if (!at)
        return -1;
    wr32(mbi + MBI_MMAP_LENGTH, n * 24);
    wr32(mbi + MBI_MMAP_ADDR, (uint32_t)at);
    return 0;
}

/* "kernelpath append" exactly as QEMU builds it (GRUB passes the path
 * first too), so payloads see the same string under both. */
static int put_cmdline(const BootInfo *bi, uint8_t *mbi)
{
    const char *append = bi->cmdline ? bi->cmdline : "";
    char *s = bi->kernel_path ? xasprintf("%s %s", bi->kernel_path, append) : xstrdup(append);
    size_t n = strlen(s);
    int r = -1;
    if (n >= BOOT_CMDLINE_MAX)
        error_report("-append: multiboot command line is %zu bytes, at most %llu are supported",
                     n, BOOT_CMDLINE_MAX - 1ULL);
    else if (guest_mem_write(BOOT_CMDLINE_ADDR, s, n + 1) < 0)
        error_report("multiboot: no RAM for the command line at 0x%x", BOOT_CMDLINE_ADDR);
    else
        r = 0;
    free(s);
    wr32(mbi + MBI_CMDLINE_PTR, BOOT_CMDLINE_ADDR);
    return r;
}

static int build_info(const BootInfo *bi, uint64_t kernel_end, uint64_t *mbi_gpa)
{
    BootArea area = { BOOT_INFO_START + MBI_SIZE, BOOT_INFO_END };
    uint8_t mbi[MBI_SIZE] = { 0 };
    uint64_t upper = bi->ram_below_4g > MiB ? bi->ram_below_4g - MiB : 0;
    uint32_t mem_upper_kib = (uint32_t)(upper / KiB);
    wr32(mbi + MBI_FLAGS, MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME);
    wr32(mbi + MBI_MEM_LOWER, (uint32_t)(MIN(bi->ram_below_4g, PC_EBDA_START) / KiB));
    wr32(mbi + MBI_MEM_UPPER, mem_upper_kib);
    uint64_t name = boot_area_put(&area, "vmm", 4, 1);
    wr32(mbi + MBI_LOADER_NAME_PTR, (uint32_t)name);
    if (!name || put_mmap(bi, &area, mbi) < 0) {
        error_report("multiboot: no RAM for the boot information at 0x%x", BOOT_INFO_START);
        return -1;
    }
    if (put_cmdline(bi, mbi) < 0 || load_modules(bi, kernel_end, &area, mbi) < 0)
        return -1;
    if (guest_mem_write(BOOT_INFO_START, mbi, sizeof(mbi)) < 0) {
        error_report("multiboot: no RAM for the boot information at 0x%x", BOOT_INFO_START);
        return -1;
    }
    *mbi_gpa = BOOT_INFO_START;
    return 0;
}

int multiboot_load(const BootInfo *bi, BootCpuState *cpu)
{
    MbKernel k;
    uint64_t mbi;
    if (load_kernel(bi, &k) < 0 || build_info(bi, k.end, &mbi) < 0)
        return -1;
    /* Machine state (spec 3.2): 32-bit flat CS/DS, paging off, eax magic,
     * ebx the info structure. */
    memset(cpu, 0, sizeof(*cpu));
    if (boot_cpu_common(cpu) < 0)
        return -1;
    cpu->mode = BOOT_PROTECTED32;
    cpu->rip = k.entry;
    cpu->rax = MB_BOOTLOADER_MAGIC;
    cpu->rbx = mbi;
    return 0;
}
