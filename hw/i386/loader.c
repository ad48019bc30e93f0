/*
 * Kernel image probing and the pieces every direct-boot loader shares: the
 * boot GDT, the identity page tables for 64-bit entry, the low-RAM info
 * area, ELF program-header walking and initrd placement.
 *
 * Every image is untrusted input: each header read is bounds-checked
 * against the file length before it happens.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"
#include "pc.h"
#include "util.h"

/* ---- little-endian reads, bounds-checked by the callers ---- */
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }

/* Is [off, off+n) inside a buffer of len bytes (no overflow)? */
static bool in_file(uint64_t off, uint64_t n, size_t len)
{
    return off <= len && n <= len - off;
}

/* ---- the boot GDT ---- */

/*
 * Flat 4 GiB descriptors (Intel SDM vol. 3, 3.4.5): base 0, limit 0xfffff
 * with G=1, present, DPL 0.  0x08 is a 64-bit code segment (L=1, D=0),
 * 0x10/0x18 are __BOOT_CS/__BOOT_DS of the Linux 32-bit boot protocol.
 */
uint16_t boot_gdt_write(uint8_t *host_gdt)
{
    static const uint64_t gdt[4] = {
        0,
        0x00af9b000000ffffULL,   /* BOOT_GDT_CS64: code, execute/read, L=1 */
        0x00cf9b000000ffffULL,   /* BOOT_GDT_CS32: code, execute/read, D=1 */
        0x00cf93000000ffffULL,   /* BOOT_GDT_DS: data, read/write, B=1 */
    };
    for (unsigned i = 0; i < ARRAY_SIZE(gdt); i++)
        for (unsigned b = 0; b < 8; b++)
            host_gdt[i * 8 + b] = (uint8_t)(gdt[i] >> (8 * b));
    return sizeof(gdt) - 1;
}

int boot_cpu_common(BootCpuState *cpu)
{
    uint8_t *gdt = guest_mem_map(BOOT_GDT_ADDR, 32);
    if (!gdt) {
        error_report("kernel: no RAM for the boot GDT at 0x%x", BOOT_GDT_ADDR);
        return -1;
    }
    cpu->gdt_base = BOOT_GDT_ADDR;
    cpu->gdt_limit = boot_gdt_write(gdt);
    cpu->rsp = BOOT_STACK_TOP;
    return 0;
}

/* ---- identity page tables for 64-bit entry ---- */

/*
 * 4-level paging (Intel SDM vol. 3, 4.5): one PML4 entry -> one PDPT whose
 * first four entries point to page directories of 2 MiB pages (PS=1).
 */
uint64_t boot_identity_map_write(void)
{
    const uint64_t pdpt = BOOT_PML4_ADDR + 0x1000, pd = BOOT_PML4_ADDR + 0x2000;
    uint64_t *pml4_h = guest_mem_map(BOOT_PML4_ADDR, 6 * 0x1000);
    if (!pml4_h)
        return 0;
    memset(pml4_h, 0, 6 * 0x1000);
    uint64_t *pdpt_h = pml4_h + 512, *pd_h = pml4_h + 1024;
    pml4_h[0] = pdpt | 0x3;                             /* P | RW */
    for (unsigned i = 0; i < 4; i++)
        pdpt_h[i] = (pd + i * 0x1000) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd_h[i] = (i << 21) | 0x83;                     /* P | RW | PS */
    return BOOT_PML4_ADDR;
}

/* ---- low-RAM info area ---- */

uint64_t boot_area_put(BootArea *a, const void *data, size_t len, size_t align)
{
    uint64_t at = (a->next + align - 1) & ~(uint64_t)(align - 1);
    if (at < a->next || at > a->end || len > a->end - at)
        return 0;
    if (guest_mem_write(at, data, len) < 0)
        return 0;
    a->next = at + len;
    return at;
}

/*
 * Kernel images, modules and initrds may go anywhere in RAM except the
 * boot information area and the PC's legacy hole from the EBDA to 1 MiB:
 * the ACPI tables sit at 0xe0000 there, built before the kernel is loaded,
 * and the e820 map reports the hole as reserved.
 */
const char *boot_range_check(uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa)
        return "wraps around the address space";
    if (gpa < BOOT_INFO_END)
        return "overlaps the boot information area (below 0x30000)";
    if (gpa < BOOT_LEGACY_HOLE_END && gpa + len > PC_EBDA_START)
        return "overlaps the EBDA/VGA/BIOS area 0x9fc00-0xfffff (ACPI tables)";
    if (!guest_mem_map(gpa, len))
        return "is not in guest RAM";
    return NULL;
}

/* ---- ELF ---- */

/* A normalised program header (ELF32 and ELF64 read into one shape). */
typedef struct Phdr {
    uint32_t type;
    uint64_t offset, vaddr, paddr, filesz, memsz;
} Phdr;

typedef struct ElfInfo {
    bool is64;
    uint64_t entry, phoff;
    unsigned phnum, phentsize;
} ElfInfo;

static int elf_parse(const uint8_t *img, size_t len, ElfInfo *ei, const char **why)
{
    if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0) {
        *why = "not an ELF file";
        return -1;
    }
    if (img[EI_DATA] != ELFDATA2LSB) {
        *why = "ELF image is not little-endian";
        return -1;
    }
    if (img[EI_CLASS] != ELFCLASS64 && img[EI_CLASS] != ELFCLASS32) {
        *why = "unknown ELF class";
        return -1;
    }
    bool is64 = img[EI_CLASS] == ELFCLASS64;
    if (len < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
        *why = "truncated ELF header";
        return -1;
    }
    if (is64) {
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        *ei = (ElfInfo){ true, eh.e_entry, eh.e_phoff, eh.e_phnum, eh.e_phentsize };
    } else {
        Elf32_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        *ei = (ElfInfo){ false, eh.e_entry, eh.e_phoff, eh.e_phnum, eh.e_phentsize };
    }
    if (ei->phentsize < (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
        *why = "bad ELF program header size";
        return -1;
    }
    if (ei->phnum == 0 || !in_file(ei->phoff, (uint64_t)ei->phnum * ei->phentsize, len)) {
        *why = "ELF program headers lie beyond the end of the file";
        return -1;
    }
    return 0;
}

int elf_check(const uint8_t *img, size_t len, bool *is64, const char **why)
{
    ElfInfo ei;
    if (elf_parse(img, len, &ei, why) < 0)
        return -1;
    *is64 = ei.is64;
    return 0;
}

/* Program header i; elf_parse has checked that it lies in the file. */
static Phdr elf_phdr(const uint8_t *img, const ElfInfo *ei, unsigned i)
{
    const uint8_t *p = img + ei->phoff + (uint64_t)i * ei->phentsize;
    if (ei->is64) {
        Elf64_Phdr ph;
        memcpy(&ph, p, sizeof(ph));
        return (Phdr){ ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz };
    }
    Elf32_Phdr ph;
    memcpy(&ph, p, sizeof(ph));
    return (Phdr){ ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz };
}

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Walk the notes of one PT_NOTE segment (ELF spec, "Note Section"). */
static bool notes_find_pvh(const uint8_t *n, uint64_t size, uint64_t *entry)
{
    uint64_t off = 0;
    while (size - off >= 12) {
        uint32_t namesz = rd32(n + off), descsz = rd32(n + off + 4), type = rd32(n + off + 8);
        uint64_t name = off + 12;
        uint64_t desc = name + (((uint64_t)namesz + 3) & ~3ULL);
        uint64_t next = desc + (((uint64_t)descsz + 3) & ~3ULL);
        if (next > size)
            return false;
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
            memcmp(n + name, "Xen", 4) == 0) {
            if (descsz == 4) {
                *entry = rd32(n + desc);
                return true;
            }
            if (descsz == 8) {
                *entry = rd32(n + desc) | (uint64_t)rd32(n + desc + 4) << 32;
                return true;
            }
        }
        off = next;
    }
    return false;
}

bool elf_find_pvh_entry(const uint8_t *img, size_t len, uint64_t *entry)
{
    ElfInfo ei;
    const char *why;
    if (elf_parse(img, len, &ei, &why) < 0)
        return false;
    for (unsigned i = 0; i < ei.phnum; i++) {
        Phdr ph = elf_phdr(img, &ei, i);
        if (ph.type != PT_NOTE || !in_file(ph.offset, ph.filesz, len))
            continue;
        if (notes_find_pvh(img + ph.offset, ph.filesz, entry))
            return true;
    }
    return false;
}

static int load_segment(const uint8_t *img, size_t len, const Phdr *ph, const char *what)
{
    if (ph->filesz > ph->memsz) {
        error_report("%s: ELF segment at 0x%llx has more file bytes than memory bytes", what,
                     (unsigned long long)ph->paddr);
        return -1;
    }
    if (!in_file(ph->offset, ph->filesz, len)) {
        error_report("%s: ELF segment at file offset 0x%llx lies beyond the end of the file",
                     what, (unsigned long long)ph->offset);
        return -1;
    }
    const char *why = boot_range_check(ph->paddr, ph->memsz);
    if (why) {
        error_report("%s: ELF segment [0x%llx, +0x%llx) %s", what,
                     (unsigned long long)ph->paddr, (unsigned long long)ph->memsz, why);
        return -1;
    }
    uint8_t *dst = guest_mem_map(ph->paddr, ph->memsz);
    memcpy(dst, img + ph->offset, ph->filesz);
    memset(dst + ph->filesz, 0, ph->memsz - ph->filesz);
    return 0;
}

int elf_load_segments(const uint8_t *img, size_t len, const char *what, uint64_t *end)
{
    ElfInfo ei;
    const char *why;
    if (elf_parse(img, len, &ei, &why) < 0) {
        error_report("%s: %s", what, why);
        return -1;
    }
    unsigned nload = 0;
    *end = 0;
    for (unsigned i = 0; i < ei.phnum; i++) {
        Phdr ph = elf_phdr(img, &ei, i);
        if (ph.type != PT_LOAD || ph.memsz == 0)
            continue;
        if (load_segment(img, len, &ph, what) < 0)
            return -1;
        *end = MAX(*end, ph.paddr + ph.memsz);
        nload++;
    }
    if (!nload) {
        error_report("%s: ELF image has no loadable segment", what);
        return -1;
    }
    return 0;
}

uint64_t elf_entry_paddr(const uint8_t *img, size_t len)
{
    ElfInfo ei;
    const char *why;
    if (elf_parse(img, len, &ei, &why) < 0)
        return 0;
    for (unsigned i = 0; i < ei.phnum; i++) {
        Phdr ph = elf_phdr(img, &ei, i);
        if (ph.type == PT_LOAD && ei.entry >= ph.vaddr && ei.entry - ph.vaddr < ph.memsz)
            return ei.entry - ph.vaddr + ph.paddr;
    }
    return ei.entry;
}

/* ---- initrd ---- */

int initrd_load_top(const char *path, uint64_t floor, uint64_t ceiling,
                    uint64_t *gpa, uint64_t *size)
{
    size_t len;
    uint8_t *data = read_file(path, &len);
    if (!data) {
        error_report("could not load initrd '%s': %s", path, strerror(errno));
        return -1;
    }
    if (len > ceiling || ((ceiling - len) & ~0xfffULL) < floor) {
        error_report("initrd '%s' does not fit in RAM (%zu bytes, %llu available)", path,
                     len, (unsigned long long)(ceiling > floor ? ceiling - floor : 0));
        free(data);
        return -1;
    }
    *gpa = (ceiling - len) & ~0xfffULL;
    *size = len;
    const char *why = boot_range_check(*gpa, len);
    if (!why)
        guest_mem_write(*gpa, data, len);
    free(data);
    if (why) {
        error_report("initrd '%s': [0x%llx, +0x%zx) %s", path, (unsigned long long)*gpa, len,
                     why);
        return -1;
    }
    return 0;
}

/* ---- probing ---- */

#define MULTIBOOT_MAGIC 0x1BADB002u
#define MULTIBOOT_SEARCH 8192

/* Offset of a valid multiboot v1 header (Multiboot spec 3.1.1), or -1. */
long multiboot_find_header(const uint8_t *img, size_t len)
{
    size_t limit = MIN(len, (size_t)MULTIBOOT_SEARCH);
    for (size_t off = 0; off + 12 <= limit; off += 4) {
        uint32_t magic = rd32(img + off), flags = rd32(img + off + 4);
        uint32_t sum = rd32(img + off + 8);
        if (magic == MULTIBOOT_MAGIC && (uint32_t)(magic + flags + sum) == 0)
            return (long)off;
    }
    return -1;
}

/* Linux boot protocol (Documentation/arch/x86/boot.rst), setup header. */
static KernelKind probe_bzimage(const uint8_t *img, size_t len, const char **why)
{
    if (len < 0x206 || rd16(img + 0x1fe) != 0xAA55 || memcmp(img + 0x202, "HdrS", 4) != 0) {
        *why = "not a bzImage, PVH ELF or multiboot image";
        return KERNEL_UNKNOWN;
    }
    if (len < 1024) {
        *why = "truncated bzImage";
        return KERNEL_UNKNOWN;
    }
    uint16_t version = rd16(img + 0x206);
    if (version < 0x206) {
        *why = "Linux boot protocol older than 2.06 is not supported";
        return KERNEL_UNKNOWN;
    }
    if (!(img[0x211] & 0x01)) {
        *why = "zImage (not loaded high) is not supported";
        return KERNEL_UNKNOWN;
    }
    return KERNEL_BZIMAGE;
}

KernelKind kernel_probe(const uint8_t *img, size_t len, const char **why)
{
    const char *dummy;
    uint64_t entry;
    if (!why)
        why = &dummy;
    *why = NULL;
    /* A PVH ELF may carry a multiboot header too; PVH wins (as in QEMU). */
    if (elf_find_pvh_entry(img, len, &entry))
        return KERNEL_PVH;
    if (multiboot_find_header(img, len) >= 0)
        return KERNEL_MULTIBOOT;
    if (len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0) {
        bool is64;
        if (elf_check(img, len, &is64, why) == 0)
            *why = "ELF image without a PVH entry note or multiboot header";
        return KERNEL_UNKNOWN;
    }
    return probe_bzimage(img, len, why);
}
