/*
 * PVH direct boot (Xen's HVM direct boot ABI, xen/include/public/arch-x86/
 * hvm/start_info.h, as Linux and QEMU use it without Xen): load an ELF
 * kernel's PT_LOAD segments at their physical addresses, enter at the
 * XEN_ELFNOTE_PHYS32_ENTRY address in 32-bit protected mode with paging
 * off and ebx pointing to struct hvm_start_info.
 */
#include <string.h>

#include "hw.h"
#include "pc.h"
#include "util.h"

#define HVM_START_MAGIC 0x336ec578u

/* struct hvm_start_info, version 1 (56 bytes, little-endian). */
#define SI_MAGIC 0
#define SI_VERSION 4
#define SI_FLAGS 8
#define SI_NR_MODULES 12
#define SI_MODLIST_PADDR 16
#define SI_CMDLINE_PADDR 24
#define SI_RSDP_PADDR 32
#define SI_MEMMAP_PADDR 40
#define SI_MEMMAP_ENTRIES 48
#define SI_SIZE 56
/* struct hvm_modlist_entry: paddr, size, cmdline_paddr, reserved (u64 each). */
#define MOD_SIZE 32
/* struct hvm_memmap_table_entry: addr, size (u64), type, reserved (u32). */
#define MEMMAP_ENTRY_SIZE 24

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

static int put_cmdline(const BootInfo *bi, uint8_t *si)
{
    const char *cmdline = bi->cmdline ? bi->cmdline : "";
    size_t n = strlen(cmdline);
    if (n >= BOOT_CMDLINE_MAX) {
        error_report("-append: kernel command line is %zu bytes, at most %llu are supported",
                     n, BOOT_CMDLINE_MAX - 1ULL);
        return -1;
    }
    if (guest_mem_write(BOOT_CMDLINE_ADDR, cmdline, n + 1) < 0) {
        error_report("pvh: no RAM for the command line at 0x%x", BOOT_CMDLINE_ADDR);
        return -1;
    }
    wr64(si + SI_CMDLINE_PADDR, BOOT_CMDLINE_ADDR);
    return 0;
}

static int put_memmap(const BootInfo *bi, BootArea *area, uint8_t *si)
{
    unsigned n = bi->e820 ? bi->e820->n : 0;
    uint8_t buf[E820_MAX * MEMMAP_ENTRY_SIZE] = { 0 };
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = buf + i * MEMMAP_ENTRY_SIZE;
        wr64(e, bi->e820->e[i].addr);
        wr64(e + 8, bi->e820->e[i].size);
        wr32(e + 16, bi->e820->e[i].type);   /* same codes as e820 */
    }
    uint64_t at = boot_area_put(area, buf, n * MEMMAP_ENTRY_SIZE, 8);
    if (!at) {
        error_report("pvh: no RAM for the memory map at 0x%x", BOOT_INFO_START);
        return -1;
    }
    wr64(si + SI_MEMMAP_PADDR, at);
    wr32(si + SI_MEMMAP_ENTRIES, n);
    return 0;
}

/* One module: the initrd, at the top of RAM below 4 GiB. */
static int put_initrd(const BootInfo *bi, uint64_t kernel_end, BootArea *area, uint8_t *si)
{
    if (!bi->initrd_paths || !*bi->initrd_paths)
        return 0;
    if (strchr(bi->initrd_paths, ',')) {
        error_report("-initrd with several files is only for multiboot");
        return -1;
    }
    uint64_t gpa, size;
    uint64_t floor = (kernel_end + 0xfff) & ~0xfffULL;
    if (initrd_load_top(bi->initrd_paths, floor, bi->ram_below_4g, &gpa, &size) < 0)
        return -1;
    uint8_t mod[MOD_SIZE] = { 0 };
    wr64(mod, gpa);
    wr64(mod + 8, size);
    uint64_t at = boot_area_put(area, mod, sizeof(mod), 8);
    if (!at) {
        error_report("pvh: no RAM for the module list at 0x%x", BOOT_INFO_START);
        return -1;
    }
    wr32(si + SI_NR_MODULES, 1);
    wr64(si + SI_MODLIST_PADDR, at);
    return 0;
}

int pvh_load(const BootInfo *bi, BootCpuState *cpu)
{
    uint64_t entry, kernel_end;
    if (!elf_find_pvh_entry(bi->kernel, bi->kernel_len, &entry)) {
        error_report("kernel: ELF image has no Xen PHYS32_ENTRY note");
        return -1;
    }
    if (entry > 0xffffffffULL) {
        error_report("pvh: entry point 0x%llx is above 4 GiB", (unsigned long long)entry);
        return -1;
    }
    if (elf_load_segments(bi->kernel, bi->kernel_len, "pvh", &kernel_end) < 0)
        return -1;
    uint8_t si[SI_SIZE] = { 0 };
    BootArea area = { BOOT_INFO_START + SI_SIZE, BOOT_INFO_END };
    wr32(si + SI_MAGIC, HVM_START_MAGIC);
    wr32(si + SI_VERSION, 1);
    wr64(si + SI_RSDP_PADDR, bi->acpi_rsdp);
    if (put_cmdline(bi, si) < 0 || put_memmap(bi, &area, si) < 0 ||
        put_initrd(bi, kernel_end, &area, si) < 0)
        return -1;
    if (guest_mem_write(BOOT_INFO_START, si, sizeof(si)) < 0) {
        error_report("pvh: no RAM for the start info at 0x%x", BOOT_INFO_START);
        return -1;
    }
    memset(cpu, 0, sizeof(*cpu));
    if (boot_cpu_common(cpu) < 0)
        return -1;
    cpu->mode = BOOT_PROTECTED32;
    cpu->rip = entry;
    cpu->rbx = BOOT_INFO_START;
    return 0;
}
