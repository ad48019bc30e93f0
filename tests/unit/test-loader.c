/*
 * Kernel loaders: kernel_probe on synthetic (and hostile) images, and
 * linux_load / multiboot_load / pvh_load into a fake 64 MiB guest RAM.
 */
#include <elf.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw.h"
#include "pc.h"
#include "unit.h"
#include "util.h"

#define RAM_SIZE (64 * MiB)
static uint8_t *ram;
static E820Table e820;

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void ram_setup(void)
{
    ram = calloc(1, RAM_SIZE);
    guest_ram_clear();
    guest_ram_add(0, RAM_SIZE, ram);
    e820_build(&e820, RAM_SIZE, 0);
}

static void ram_teardown(void)
{
    guest_ram_clear();
    free(ram);
}

static BootInfo boot_info(const uint8_t *img, size_t len)
{
    return (BootInfo){ .kernel = img, .kernel_len = len, .cmdline = "", .e820 = &e820,
                       .ram_below_4g = RAM_SIZE, .acpi_rsdp = 0xe0000 };
}

/* A temporary file with the given content; returns its malloc'd path. */
static char *temp_file(const char *content, size_t len)
{
    char *path = xstrdup("/tmp/vmm-test-loader-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- synthetic images ---- */

#define BZ_SETUP_SECTS 1
#define BZ_KERNEL_SIZE 8192
#define BZ_LEN ((BZ_SETUP_SECTS + 1) * 512 + BZ_KERNEL_SIZE)

static uint8_t *make_bzimage(uint16_t version, bool loaded_high, bool has64)
{
    uint8_t *img = calloc(1, BZ_LEN);
    img[0x1f1] = BZ_SETUP_SECTS;
    wr16(img + 0x1fe, 0xaa55);
    img[0x200] = 0xeb;
    img[0x201] = 0x6a;                      /* header ends at 0x26c */
    memcpy(img + 0x202, "HdrS", 4);
    wr16(img + 0x206, version);
    img[0x211] = loaded_high ? 1 : 0;
    wr32(img + 0x214, 0x100000);
    wr32(img + 0x22c, 0x37ffffff);
    wr16(img + 0x236, has64 ? 3 : 0);
    wr32(img + 0x238, 255);                 /* cmdline_size */
    wr32(img + 0x260, 0x20000);             /* init_size */
    memset(img + 1024, 0x90, BZ_KERNEL_SIZE);
    return img;
}

static void put_multiboot_header(uint8_t *at, uint32_t flags)
{
    wr32(at, 0x1badb002);
    wr32(at + 4, flags);
    wr32(at + 8, (uint32_t)-(0x1badb002u + flags));
}

/*
 * ELF with one PT_LOAD (file offset 0x1000, 0x2000 bytes, memsz 0x3000 at
 * paddr 0x200000) and, if xen_note, a PT_NOTE with a PHYS32_ENTRY note.
 */
#define ELF_LEN 0x3000
#define ELF_PADDR 0x200000
#define ELF_ENTRY 0x200100
static uint8_t *make_elf(bool is64, bool xen_note, unsigned note_desc_size)
{
    uint8_t *img = calloc(1, ELF_LEN);
    size_t phoff = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    unsigned phnum = xen_note ? 2 : 1;
    size_t note_off = 0x800;
    uint8_t *n = img + note_off;
    wr32(n, 4);
    wr32(n + 4, note_desc_size);
    wr32(n + 8, 18);
    memcpy(n + 12, "Xen", 4);
    wr32(n + 16, ELF_ENTRY);
    size_t note_len = 16 + note_desc_size;
    if (is64) {
        Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                          .e_entry = 0xffffffff80000000ULL + 0x100, .e_phoff = phoff,
                          .e_ehsize = sizeof(eh), .e_phentsize = sizeof(Elf64_Phdr),
                          .e_phnum = (Elf64_Half)phnum };
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        memcpy(img, &eh, sizeof(eh));
        Elf64_Phdr ph[2] = {
            { .p_type = PT_LOAD, .p_offset = 0x1000, .p_vaddr = 0xffffffff80000000ULL,
              .p_paddr = ELF_PADDR, .p_filesz = 0x2000, .p_memsz = 0x3000 },
            { .p_type = PT_NOTE, .p_offset = note_off, .p_filesz = note_len },
        };
        memcpy(img + phoff, ph, phnum * sizeof(ph[0]));
    } else {
        Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
                          .e_entry = ELF_ENTRY, .e_phoff = (Elf32_Off)phoff,
                          .e_ehsize = sizeof(eh), .e_phentsize = sizeof(Elf32_Phdr),
                          .e_phnum = (Elf32_Half)phnum };
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS32;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        memcpy(img, &eh, sizeof(eh));
        Elf32_Phdr ph[2] = {
            { .p_type = PT_LOAD, .p_offset = 0x1000, .p_vaddr = ELF_PADDR,
              .p_paddr = ELF_PADDR, .p_filesz = 0x2000, .p_memsz = 0x3000 },
            { .p_type = PT_NOTE, .p_offset = (Elf32_Off)note_off, .p_filesz = (Elf32_Word)note_len },
        };
        memcpy(img + phoff, ph, phnum * sizeof(ph[0]));
    }
    memset(img + 0x1000, 0xcc, 0x2000);
    return img;
}

/* a.out-kludge multiboot image: header at 4096, loaded at 1 MiB. */
#define MB_LEN 8192
static uint8_t *make_multiboot_aout(uint32_t extra_flags)
{
    uint8_t *img = calloc(1, MB_LEN);
    memset(img, 0x90, MB_LEN);
    uint8_t *h = img + 4096;
    put_multiboot_header(h, (1u << 16) | 2 | extra_flags);
    wr32(h + 12, 0x101000);     /* header_addr */
    wr32(h + 16, 0x100000);     /* load_addr */
    wr32(h + 20, 0);            /* load_end_addr: whole file */
    wr32(h + 24, 0x104000);     /* bss_end_addr */
    wr32(h + 28, 0x100010);     /* entry_addr */
    return img;
}

static KernelKind probe(const uint8_t *img, size_t len, const char **why)
{
    *why = NULL;
    KernelKind k = kernel_probe(img, len, why);
    if (k == KERNEL_UNKNOWN)
        ck_assert_ptr_nonnull(*why);
    return k;
}

/* ---- kernel_probe ---- */

START_TEST(probe_bzimage_ok)
{
    const char *why;
    uint8_t *img = make_bzimage(0x20f, true, true);
    ck_assert_int_eq(probe(img, BZ_LEN, &why), KERNEL_BZIMAGE);
    free(img);
}
END_TEST

START_TEST(probe_protocol_205_refused)
{
    const char *why;
    uint8_t *img = make_bzimage(0x205, true, false);
    ck_assert_int_eq(probe(img, BZ_LEN, &why), KERNEL_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(why, "2.06"));
    free(img);
}
END_TEST

START_TEST(probe_zimage_refused)
{
    const char *why;
    uint8_t *img = make_bzimage(0x20f, false, false);
    ck_assert_int_eq(probe(img, BZ_LEN, &why), KERNEL_UNKNOWN);
    ck_assert_str_eq(why, "zImage (not loaded high) is not supported");
    free(img);
}
END_TEST

/* Probe every prefix of img shorter than upto, each in a buffer of exactly
 * that size (so that ASan/valgrind catch a read past the end). */
static void probe_truncations(const uint8_t *img, size_t upto)
{
    const char *why;
    for (size_t len = 0; len < upto; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, img, len);
        kernel_probe(copy, len, &why);
        free(copy);
    }
}

START_TEST(probe_truncated_bzimage)
{
    const char *why;
    uint8_t *img = make_bzimage(0x20f, true, true);
    ck_assert_int_eq(probe(img, 0x200, &why), KERNEL_UNKNOWN);
    ck_assert_int_eq(probe(img, 0x300, &why), KERNEL_UNKNOWN);
    /* Every truncation is handled without reading past the end. */
    probe_truncations(img, 1100);
    free(img);
}
END_TEST

START_TEST(probe_text_file)
{
    const char *why;
    static const char text[] = "#!/bin/sh\necho this is not a kernel\n";
    ck_assert_int_eq(probe((const uint8_t *)text, sizeof(text), &why), KERNEL_UNKNOWN);
    ck_assert_str_eq(why, "not a bzImage, PVH ELF or multiboot image");
    ck_assert_int_eq(probe((const uint8_t *)text, 0, &why), KERNEL_UNKNOWN);
}
END_TEST

START_TEST(probe_multiboot_offsets)
{
    const char *why;
    uint8_t *img = calloc(1, 16384);
    put_multiboot_header(img + 4096, 0);
    ck_assert_int_eq(probe(img, 16384, &why), KERNEL_MULTIBOOT);
    memset(img, 0, 16384);
    put_multiboot_header(img + 8192 - 12, 0);
    ck_assert_int_eq(probe(img, 16384, &why), KERNEL_MULTIBOOT);
    memset(img, 0, 16384);
    put_multiboot_header(img + 8192, 0);
    ck_assert_int_eq(probe(img, 16384, &why), KERNEL_UNKNOWN);
    memset(img, 0, 16384);
    put_multiboot_header(img + 4098, 0);    /* not 4-byte aligned */
    ck_assert_int_eq(probe(img, 16384, &why), KERNEL_UNKNOWN);
    /* Header cut by the end of the file. */
    memset(img, 0, 16384);
    put_multiboot_header(img + 4096, 0);
    ck_assert_int_eq(probe(img, 4096 + 8, &why), KERNEL_UNKNOWN);
    free(img);
}
END_TEST

START_TEST(probe_multiboot_bad_checksum)
{
    const char *why;
    uint8_t *img = calloc(1, 8192);
    put_multiboot_header(img + 64, 0);
    wr32(img + 64 + 8, rd32(img + 64 + 8) + 1);
    ck_assert_int_eq(probe(img, 8192, &why), KERNEL_UNKNOWN);
    free(img);
}
END_TEST

START_TEST(probe_elf_pvh)
{
    const char *why;
    uint8_t *img = make_elf(true, true, 4);
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_PVH);
    free(img);
    img = make_elf(true, true, 8);
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_PVH);
    free(img);
    img = make_elf(false, true, 4);
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_PVH);
    /* PVH wins over a multiboot header in the same file. */
    put_multiboot_header(img + 0x1000, 0);
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_PVH);
    free(img);
    img = make_elf(true, false, 4);
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_UNKNOWN);
    free(img);
}
END_TEST

START_TEST(probe_elf_hostile)
{
    const char *why;
    uint8_t *img = make_elf(true, true, 4);
    /* Truncated ELF header. */
    ck_assert_int_eq(probe(img, 40, &why), KERNEL_UNKNOWN);
    /* Program headers beyond EOF. */
    ck_assert_int_eq(probe(img, sizeof(Elf64_Ehdr) + 10, &why), KERNEL_UNKNOWN);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    eh->e_phoff = ELF_LEN - 8;
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_UNKNOWN);
    eh->e_phoff = UINT64_MAX - 10;
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_UNKNOWN);
    eh->e_phoff = sizeof(Elf64_Ehdr);
    eh->e_phnum = 0xffff;
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_UNKNOWN);
    eh->e_phnum = 2;
    /* Note segment beyond EOF, and a note with a huge name size. */
    Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr));
    ph[1].p_filesz = 0x10000;
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_UNKNOWN);
    ph[1].p_filesz = 20;
    wr32(img + 0x800, 0xfffffff0);
    ck_assert_int_eq(probe(img, ELF_LEN, &why), KERNEL_UNKNOWN);
    free(img);
    /* Every truncation of a valid PVH ELF. */
    img = make_elf(false, true, 4);
    probe_truncations(img, 0x900);
    free(img);
}
END_TEST

/* ---- boot GDT and page tables ---- */

START_TEST(gdt_and_identity_map)
{
    uint8_t gdt[32];
    ck_assert_uint_eq(boot_gdt_write(gdt), 31);
    ck_assert_uint_eq(rd64(gdt), 0);
    ck_assert_uint_eq(rd64(gdt + BOOT_GDT_CS64) >> 53 & 1, 1);   /* L */
    ck_assert_uint_eq(rd64(gdt + BOOT_GDT_CS32) >> 54 & 1, 1);   /* D */
    ck_assert_uint_eq(rd64(gdt + BOOT_GDT_DS) >> 40 & 0xff, 0x93);
    ram_setup();
    ck_assert_uint_eq(boot_identity_map_write(), BOOT_PML4_ADDR);
    uint64_t pdpt = rd64(ram + BOOT_PML4_ADDR) & ~0xfffULL;
    uint64_t pd3 = rd64(ram + pdpt + 3 * 8) & ~0xfffULL;
    ck_assert_uint_eq(rd64(ram + pd3 + 511 * 8), 0xffe00000ULL | 0x83);
    ram_teardown();
}
END_TEST

/* ---- linux_load ---- */

START_TEST(linux_zero_page)
{
    ram_setup();
    uint8_t *img = make_bzimage(0x20f, true, true);
    static const char initrd_data[] = "initrd contents";
    char *initrd = temp_file(initrd_data, sizeof(initrd_data));
    BootInfo bi = boot_info(img, BZ_LEN);
    bi.cmdline = "console=ttyS0 quiet";
    bi.initrd_paths = initrd;
    BootCpuState cpu;
    ck_assert_int_eq(linux_load(&bi, &cpu), 0);
    const uint8_t *bp = ram + BOOT_ZEROPAGE_ADDR;
    ck_assert_uint_eq(bp[0x210], 0xff);                         /* type_of_loader */
    ck_assert_uint_eq(bp[0x211] & 0x81, 0x81);
    ck_assert_mem_eq(bp + 0x202, "HdrS", 4);
    ck_assert_uint_eq(rd16(bp + 0x1fa), 0xffff);
    ck_assert_uint_eq(rd32(bp + 0x228), BOOT_CMDLINE_ADDR);
    ck_assert_str_eq((const char *)ram + BOOT_CMDLINE_ADDR, "console=ttyS0 quiet");
    uint32_t rd_image = rd32(bp + 0x218), rd_size = rd32(bp + 0x21c);
    ck_assert_uint_eq(rd_size, sizeof(initrd_data));
    ck_assert_uint_eq(rd_image % 4096, 0);
    ck_assert_uint_le(rd_image + rd_size, RAM_SIZE);
    ck_assert_uint_gt(rd_image, RAM_SIZE - 8192);               /* top of RAM */
    ck_assert_mem_eq(ram + rd_image, initrd_data, sizeof(initrd_data));
    ck_assert_uint_eq(bp[0x1e8], e820.n);
    for (unsigned i = 0; i < e820.n; i++) {
        ck_assert_uint_eq(rd64(bp + 0x2d0 + i * 20), e820.e[i].addr);
        ck_assert_uint_eq(rd64(bp + 0x2d0 + i * 20 + 8), e820.e[i].size);
        ck_assert_uint_eq(rd32(bp + 0x2d0 + i * 20 + 16), e820.e[i].type);
    }
    ck_assert_uint_eq(rd64(bp + 0x70), 0xe0000);               /* acpi_rsdp_addr */
    ck_assert_uint_eq(ram[0x100000], 0x90);                      /* kernel body */
    ck_assert_int_eq(cpu.mode, BOOT_LONG64);
    ck_assert_uint_eq(cpu.rip, 0x100200);
    ck_assert_uint_eq(cpu.rsi, BOOT_ZEROPAGE_ADDR);
    ck_assert_uint_eq(cpu.cr3, BOOT_PML4_ADDR);
    ck_assert_uint_eq(cpu.gdt_base, BOOT_GDT_ADDR);
    ck_assert_uint_eq(cpu.gdt_limit, 31);
    unlink(initrd);
    free(initrd);
    free(img);
    ram_teardown();
}
END_TEST

START_TEST(linux_32bit_entry)
{
    ram_setup();
    uint8_t *img = make_bzimage(0x20a, true, false);
    BootInfo bi = boot_info(img, BZ_LEN);
    BootCpuState cpu;
    ck_assert_int_eq(linux_load(&bi, &cpu), 0);
    ck_assert_int_eq(cpu.mode, BOOT_PROTECTED32);
    ck_assert_uint_eq(cpu.rip, 0x100000);
    ck_assert_uint_eq(cpu.rsi, BOOT_ZEROPAGE_ADDR);
    ck_assert_uint_eq(rd64(ram + BOOT_ZEROPAGE_ADDR + 0x70), 0);   /* protocol < 2.14 */
    ck_assert_uint_eq(ram[BOOT_ZEROPAGE_ADDR + 0x218], 0);
    free(img);
    ram_teardown();
}
END_TEST

START_TEST(linux_cmdline_too_long)
{
    ram_setup();
    uint8_t *img = make_bzimage(0x20f, true, true);
    char *cmdline = malloc(300);
    memset(cmdline, 'x', 299);
    cmdline[299] = 0;
    BootInfo bi = boot_info(img, BZ_LEN);
    bi.cmdline = cmdline;
    BootCpuState cpu;
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    cmdline[255] = 0;                                       /* exactly cmdline_size */
    ck_assert_int_eq(linux_load(&bi, &cpu), 0);
    free(cmdline);
    free(img);
    ram_teardown();
}
END_TEST

START_TEST(linux_too_big_for_ram)
{
    ram_setup();
    uint8_t *img = make_bzimage(0x20f, true, true);
    wr32(img + 0x260, RAM_SIZE);                            /* init_size */
    BootInfo bi = boot_info(img, BZ_LEN);
    BootCpuState cpu;
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    wr32(img + 0x260, 0x20000);
    bi.ram_below_4g = 0x100000 + 4096;
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    free(img);
    ram_teardown();
}
END_TEST

START_TEST(linux_initrd_errors)
{
    ram_setup();
    uint8_t *img = make_bzimage(0x20f, true, true);
    BootInfo bi = boot_info(img, BZ_LEN);
    BootCpuState cpu;
    bi.initrd_paths = "/tmp/a,/tmp/b";
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    bi.initrd_paths = "/nonexistent/initrd";
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    /* initrd_addr_max below the kernel: no room. */
    char *initrd = temp_file("abc", 3);
    bi.initrd_paths = initrd;
    wr32(img + 0x22c, 0xfffff);
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    unlink(initrd);
    free(initrd);
    free(img);
    ram_teardown();
}
END_TEST

/*
 * The decompressor runs at max(load address rounded to kernel_alignment,
 * pref_address) and needs init_size bytes there: a kernel whose pref_address
 * is 16 MiB with a 32 MiB init_size needs 48 MiB, not 33.
 */
START_TEST(linux_init_size_from_pref_address)
{
    ram_setup();
    uint8_t *img = make_bzimage(0x20f, true, true);
    img[0x234] = 1;                                 /* relocatable_kernel */
    wr32(img + 0x230, 0x200000);                    /* kernel_alignment */
    wr32(img + 0x258, 16 * MiB);                    /* pref_address */
    wr32(img + 0x260, 32 * MiB);                    /* init_size */
    BootInfo bi = boot_info(img, BZ_LEN);
    BootCpuState cpu;
    ck_assert_int_eq(linux_load(&bi, &cpu), 0);
    bi.ram_below_4g = 40 * MiB;
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    /* The initrd may not land in [16 MiB, 16 MiB + init_size) either. */
    bi.ram_below_4g = RAM_SIZE;
    wr32(img + 0x260, RAM_SIZE - 16 * MiB - 0x800);
    static char one_mib[MiB];
    char *initrd = temp_file(one_mib, sizeof(one_mib));
    bi.initrd_paths = initrd;
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    wr32(img + 0x260, 32 * MiB);
    ck_assert_int_eq(linux_load(&bi, &cpu), 0);
    ck_assert_uint_ge(rd32(ram + BOOT_ZEROPAGE_ADDR + 0x218), 48 * MiB);
    /* A relocatable kernel must give a power-of-two alignment. */
    wr32(img + 0x230, 3);
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    unlink(initrd);
    free(initrd);
    free(img);
    ram_teardown();
}
END_TEST

/* The ACPI tables live at 0xe0000: nothing the loaders place may go into
 * [0x9fc00, 1 MiB), which the e820 map reports as reserved. */
START_TEST(loaders_avoid_legacy_hole)
{
    ram_setup();
    BootCpuState cpu;
    memset(ram + 0xe0000, 0xa5, 16);
    uint8_t *img = make_multiboot_aout(0);
    wr32(img + 4096 + 12, 0xe1000);                 /* header_addr */
    wr32(img + 4096 + 16, 0xe0000);                 /* a.out load_addr in the BIOS area */
    wr32(img + 4096 + 24, 0);
    BootInfo bi = boot_info(img, MB_LEN);
    ck_assert_int_eq(multiboot_load(&bi, &cpu), -1);
    ck_assert_uint_eq(ram[0xe0000], 0xa5);
    free(img);
    img = make_elf(false, true, 4);
    Elf32_Phdr *ph = (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr));
    ph[0].p_paddr = 0x9f000;                        /* straddles the EBDA */
    bi = boot_info(img, ELF_LEN);
    ck_assert_int_eq(pvh_load(&bi, &cpu), -1);
    ck_assert_uint_eq(ram[0x9fc00], 0);
    free(img);
    /* A module that would cross the hole is placed at 1 MiB instead. */
    img = make_multiboot_aout(0);
    wr32(img + 4096 + 12, 0x31000);
    wr32(img + 4096 + 16, 0x30000);
    wr32(img + 4096 + 24, 0x90000);                 /* kernel + bss end at 0x90000 */
    static char module[0x20000];
    memset(module, 0x5a, sizeof(module));
    char *path = temp_file(module, sizeof(module));
    bi = boot_info(img, MB_LEN);
    bi.initrd_paths = path;
    ck_assert_int_eq(multiboot_load(&bi, &cpu), 0);
    const uint8_t *mod = ram + rd32(ram + cpu.rbx + 24);
    ck_assert_uint_eq(rd32(mod), 0x100000);
    ck_assert_uint_eq(ram[0xe0000], 0xa5);
    unlink(path);
    free(path);
    free(img);
    ram_teardown();
}
END_TEST

/* The host's own Debian kernel, when there is one: probe and load it. */
START_TEST(linux_host_kernel)
{
    glob_t g;
    if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0) {
        printf("ok - linux_host_kernel # SKIP no /boot/vmlinuz-*\n");
        return;
    }
    size_t len;
    uint8_t *img = read_file(g.gl_pathv[0], &len);
    globfree(&g);
    ck_assert_ptr_nonnull(img);
    ck_assert_int_eq(kernel_probe(img, len, NULL), KERNEL_BZIMAGE);
    uint64_t size = 256 * MiB;
    uint8_t *big = calloc(1, size);
    guest_ram_clear();
    guest_ram_add(0, size, big);
    E820Table t;
    e820_build(&t, size, 0);
    BootInfo bi = { .kernel = img, .kernel_len = len, .cmdline = "console=ttyS0", .e820 = &t,
                    .ram_below_4g = size };
    BootCpuState cpu;
    ck_assert_int_eq(linux_load(&bi, &cpu), 0);
    ck_assert_int_eq(cpu.mode, BOOT_LONG64);
    ck_assert_uint_eq(big[BOOT_ZEROPAGE_ADDR + 0x210], 0xff);
    size_t off = (size_t)((img[0x1f1] ? img[0x1f1] : 4) + 1) * 512;
    ck_assert_mem_eq(big + 0x100000, img + off, 4096);
    bi.ram_below_4g = 32 * MiB;                 /* init_size does not fit */
    ck_assert_int_eq(linux_load(&bi, &cpu), -1);
    guest_ram_clear();
    free(big);
    free(img);
}
END_TEST

/* ---- multiboot_load ---- */

START_TEST(multiboot_aout_info)
{
    ram_setup();
    uint8_t *img = make_multiboot_aout(0);
    char *m1 = temp_file("module one", 10), *m2 = temp_file("module,two", 10);
    char *mods = xasprintf("%s arg1 arg2,%s", m1, m2);
    BootInfo bi = boot_info(img, MB_LEN);
    bi.kernel_path = "/boot/kernel";
    bi.cmdline = "hello world";
    bi.initrd_paths = mods;
    BootCpuState cpu;
    ck_assert_int_eq(multiboot_load(&bi, &cpu), 0);
    ck_assert_int_eq(cpu.mode, BOOT_PROTECTED32);
    ck_assert_uint_eq(cpu.rax, 0x2badb002);
    ck_assert_uint_eq(cpu.rip, 0x100010);
    ck_assert_uint_eq(cpu.gdt_base, BOOT_GDT_ADDR);
    ck_assert_uint_eq(ram[0x100000], 0x90);
    ck_assert_uint_eq(rd32(ram + 0x101000), 0x1badb002);  /* header at header_addr */
    ck_assert_uint_eq(ram[0x103000], 0);                   /* bss */
    const uint8_t *mbi = ram + cpu.rbx;
    uint32_t flags = rd32(mbi);
    ck_assert_uint_eq(flags & 0x24d, 0x24d);       /* MEM CMDLINE MODS MMAP NAME */
    ck_assert_uint_eq(rd32(mbi + 4), 639);
    ck_assert_uint_eq(rd32(mbi + 8), (RAM_SIZE - MiB) / KiB);
    ck_assert_str_eq((const char *)ram + rd32(mbi + 16), "/boot/kernel hello world");
    ck_assert_str_eq((const char *)ram + rd32(mbi + 64), "vmm");
    /* mmap: 'size' = 20 prefix, entries = e820. */
    uint32_t mmap_len = rd32(mbi + 44), mmap = rd32(mbi + 48);
    ck_assert_uint_eq(mmap_len, e820.n * 24);
    for (unsigned i = 0; i < e820.n; i++) {
        const uint8_t *e = ram + mmap + i * 24;
        ck_assert_uint_eq(rd32(e), 20);
        ck_assert_uint_eq(rd64(e + 4), e820.e[i].addr);
        ck_assert_uint_eq(rd64(e + 12), e820.e[i].size);
        ck_assert_uint_eq(rd32(e + 20), e820.e[i].type);
    }
    /* Modules: page-aligned after the kernel's bss, with their strings. */
    ck_assert_uint_eq(rd32(mbi + 20), 2);
    const uint8_t *mod = ram + rd32(mbi + 24);
    uint32_t start0 = rd32(mod), end0 = rd32(mod + 4);
    ck_assert_uint_eq(start0 % 4096, 0);
    ck_assert_uint_ge(start0, 0x104000);
    ck_assert_uint_eq(end0 - start0, 10);
    ck_assert_mem_eq(ram + start0, "module one", 10);
    char *s0 = xasprintf("%s arg1 arg2", m1);
    ck_assert_str_eq((const char *)ram + rd32(mod + 8), s0);
    ck_assert_uint_eq(rd32(mod + 16) % 4096, 0);
    ck_assert_uint_ge(rd32(mod + 16), end0);
    ck_assert_mem_eq(ram + rd32(mod + 16), "module,two", 10);
    ck_assert_str_eq((const char *)ram + rd32(mod + 24), m2);
    unlink(m1);
    unlink(m2);
    free(s0), free(mods), free(m1), free(m2), free(img);
    ram_teardown();
}
END_TEST

START_TEST(multiboot_module_comma_escape)
{
    ram_setup();
    uint8_t *img = make_multiboot_aout(0);
    const char *path = "/tmp/vmm-test-loader,comma";
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("xyz", f);
    fclose(f);
    BootInfo bi = boot_info(img, MB_LEN);
    bi.kernel_path = "k.elf";
    bi.initrd_paths = "/tmp/vmm-test-loader,,comma";
    BootCpuState cpu;
    ck_assert_int_eq(multiboot_load(&bi, &cpu), 0);
    const uint8_t *mbi = ram + cpu.rbx;
    ck_assert_str_eq((const char *)ram + rd32(mbi + 16), "k.elf ");   /* as QEMU */
    ck_assert_uint_eq(rd32(mbi + 20), 1);
    const uint8_t *mod = ram + rd32(mbi + 24);
    ck_assert_mem_eq(ram + rd32(mod), "xyz", 3);
    ck_assert_str_eq((const char *)ram + rd32(mod + 8), path);
    bi.initrd_paths = "/tmp/vmm-test-loader,comma";              /* two missing files */
    ck_assert_int_eq(multiboot_load(&bi, &cpu), -1);
    unlink(path);
    free(img);
    ram_teardown();
}
END_TEST

START_TEST(multiboot_elf32)
{
    ram_setup();
    uint8_t *img = make_elf(false, false, 4);
    put_multiboot_header(img + 0x1000, 0);
    BootInfo bi = boot_info(img, ELF_LEN);
    BootCpuState cpu;
    ck_assert_int_eq(multiboot_load(&bi, &cpu), 0);
    ck_assert_uint_eq(cpu.rip, ELF_ENTRY);
    ck_assert_uint_eq(rd32(ram + ELF_PADDR), 0x1badb002);
    ck_assert_uint_eq(ram[ELF_PADDR + 0x1fff], 0xcc);
    ck_assert_uint_eq(ram[ELF_PADDR + 0x2000], 0);
    /* No kernel path: the command line is -append alone. */
    ck_assert_str_eq((const char *)ram + rd32(ram + cpu.rbx + 16), "");
    free(img);
    ram_teardown();
}
END_TEST

START_TEST(multiboot_refusals)
{
    ram_setup();
    BootCpuState cpu;
    uint8_t *img = make_multiboot_aout(1u << 3);            /* unknown required bit */
    BootInfo bi = boot_info(img, MB_LEN);
    ck_assert_int_eq(multiboot_load(&bi, &cpu), -1);
    free(img);
    img = make_multiboot_aout(0);
    wr32(img + 4096 + 12, 0x200000);                        /* header_addr too far */
    ck_assert_int_eq(multiboot_load(&(BootInfo){ .kernel = img, .kernel_len = MB_LEN,
                                                  .e820 = &e820, .ram_below_4g = RAM_SIZE },
                                     &cpu), -1);
    free(img);
    img = make_multiboot_aout(0);
    wr32(img + 4096 + 16, 0x100);                           /* load below our info area */
    wr32(img + 4096 + 12, 0x1100);
    wr32(img + 4096 + 24, 0);
    bi.kernel = img;
    ck_assert_int_eq(multiboot_load(&bi, &cpu), -1);
    free(img);
    img = make_multiboot_aout(0);
    wr32(img + 4096 + 24, 0x100);                           /* bss_end before load_end */
    bi.kernel = img;
    ck_assert_int_eq(multiboot_load(&bi, &cpu), -1);
    wr32(img + 4096 + 24, 0x8000000);                       /* bss beyond RAM */
    ck_assert_int_eq(multiboot_load(&bi, &cpu), -1);
    free(img);
    img = make_elf(true, false, 4);                         /* ELF64 without kludge */
    put_multiboot_header(img + 0x1000, 0);
    bi.kernel = img;
    bi.kernel_len = ELF_LEN;
    ck_assert_int_eq(multiboot_load(&bi, &cpu), -1);
    free(img);
    ram_teardown();
}
END_TEST

/* ---- pvh_load ---- */

START_TEST(pvh_start_info)
{
    ram_setup();
    uint8_t *img = make_elf(true, true, 8);
    static const char initrd_data[] = "pvh initrd";
    char *initrd = temp_file(initrd_data, sizeof(initrd_data));
    BootInfo bi = boot_info(img, ELF_LEN);
    bi.cmdline = "console=hvc0";
    bi.initrd_paths = initrd;
    BootCpuState cpu;
    ck_assert_int_eq(pvh_load(&bi, &cpu), 0);
    ck_assert_int_eq(cpu.mode, BOOT_PROTECTED32);
    ck_assert_uint_eq(cpu.rip, ELF_ENTRY);
    ck_assert_uint_eq(ram[ELF_PADDR], 0xcc);
    ck_assert_uint_eq(ram[ELF_PADDR + 0x2000], 0);
    const uint8_t *si = ram + cpu.rbx;
    ck_assert_uint_eq(rd32(si), 0x336ec578);
    ck_assert_uint_eq(rd32(si + 4), 1);
    ck_assert_str_eq((const char *)ram + rd64(si + 24), "console=hvc0");
    ck_assert_uint_eq(rd64(si + 32), 0xe0000);
    ck_assert_uint_eq(rd32(si + 48), e820.n);
    const uint8_t *mm = ram + rd64(si + 40);
    for (unsigned i = 0; i < e820.n; i++) {
        ck_assert_uint_eq(rd64(mm + i * 24), e820.e[i].addr);
        ck_assert_uint_eq(rd64(mm + i * 24 + 8), e820.e[i].size);
        ck_assert_uint_eq(rd32(mm + i * 24 + 16), e820.e[i].type);
    }
    ck_assert_uint_eq(rd32(si + 12), 1);
    const uint8_t *mod = ram + rd64(si + 16);
    ck_assert_uint_eq(rd64(mod + 8), sizeof(initrd_data));
    ck_assert_mem_eq(ram + rd64(mod), initrd_data, sizeof(initrd_data));
    unlink(initrd);
    free(initrd);
    free(img);
    ram_teardown();
}
END_TEST

START_TEST(pvh_refusals)
{
    ram_setup();
    BootCpuState cpu;
    uint8_t *img = make_elf(false, true, 4);
    Elf32_Phdr *ph = (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr));
    BootInfo bi = boot_info(img, ELF_LEN);
    ph[0].p_filesz = 0x3000;                    /* segment data beyond EOF */
    ck_assert_int_eq(pvh_load(&bi, &cpu), -1);
    ph[0].p_filesz = 0x2000;
    ph[0].p_paddr = RAM_SIZE - 0x1000;          /* beyond RAM */
    ck_assert_int_eq(pvh_load(&bi, &cpu), -1);
    ph[0].p_paddr = 0x1000;                     /* over the boot info area */
    ck_assert_int_eq(pvh_load(&bi, &cpu), -1);
    ph[0].p_paddr = ELF_PADDR;
    ph[0].p_filesz = 0x4000;                    /* filesz > memsz */
    ck_assert_int_eq(pvh_load(&bi, &cpu), -1);
    ph[0].p_filesz = 0x2000;
    bi.cmdline = NULL;
    ck_assert_int_eq(pvh_load(&bi, &cpu), 0);
    free(img);
    ram_teardown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    UNIT_TEST(s, probe_bzimage_ok);
    UNIT_TEST(s, probe_protocol_205_refused);
    UNIT_TEST(s, probe_zimage_refused);
    UNIT_TEST(s, probe_truncated_bzimage);
    UNIT_TEST(s, probe_text_file);
    UNIT_TEST(s, probe_multiboot_offsets);
    UNIT_TEST(s, probe_multiboot_bad_checksum);
    UNIT_TEST(s, probe_elf_pvh);
    UNIT_TEST(s, probe_elf_hostile);
    UNIT_TEST(s, gdt_and_identity_map);
    UNIT_TEST(s, linux_zero_page);
    UNIT_TEST(s, linux_32bit_entry);
    UNIT_TEST(s, linux_cmdline_too_long);
    UNIT_TEST(s, linux_too_big_for_ram);
    UNIT_TEST(s, linux_initrd_errors);
    UNIT_TEST(s, linux_host_kernel);
    UNIT_TEST(s, linux_init_size_from_pref_address);
    UNIT_TEST(s, loaders_avoid_legacy_hole);
    UNIT_TEST(s, multiboot_aout_info);
    UNIT_TEST(s, multiboot_module_comma_escape);
    UNIT_TEST(s, multiboot_elf32);
    UNIT_TEST(s, multiboot_refusals);
    UNIT_TEST(s, pvh_start_info);
    UNIT_TEST(s, pvh_refusals);
    return unit_run(s);
}
