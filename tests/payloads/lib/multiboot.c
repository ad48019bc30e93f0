/*
 * Boot information: copies the command line and memory map out of the
 * multiboot v1 info structure (Multiboot spec 0.6.96, section 3.3) into our
 * own storage, so later code never touches loader-owned memory.
 */
#include "payload.h"

#define CMDLINE_MAX 1024

static char cmdline[CMDLINE_MAX];
static struct mem_range ranges[MAX_MEM_RANGES];
static unsigned nranges;

void boot_set_cmdline(const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i < CMDLINE_MAX - 1; i++)
        cmdline[i] = s[i];
    cmdline[i] = 0;
}

void boot_add_mem_range(uint64_t addr, uint64_t len, uint32_t type)
{
    if (nranges < MAX_MEM_RANGES)
        ranges[nranges++] = (struct mem_range){ addr, len, type };
}

const char *boot_cmdline(void)
{
    return cmdline;
}

unsigned boot_mem_ranges(const struct mem_range **out)
{
    *out = ranges;
    return nranges;
}

static void copy_mmap(const struct multiboot_info *mbi)
{
    uint32_t p = mbi->mmap_addr, end = mbi->mmap_addr + mbi->mmap_length;
    if (end < p)
        return;
    /* Each entry's size field excludes the size field itself. */
    while (p + sizeof(struct multiboot_mmap_entry) <= end) {
        const struct multiboot_mmap_entry *e = (const void *)(uintptr_t)p;
        boot_add_mem_range(e->addr, e->len, e->type);
        if (e->size < 20)
            break;
        p += e->size + 4;
    }
}

bool multiboot_parse(uint32_t magic, uint32_t info_addr)
{
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC || info_addr == 0)
        return false;
    const struct multiboot_info *mbi = (const void *)(uintptr_t)info_addr;
    if (mbi->flags & MB_INFO_CMDLINE)
        boot_set_cmdline((const char *)(uintptr_t)mbi->cmdline);
    if (mbi->flags & MB_INFO_MMAP)
        copy_mmap(mbi);
    return true;
}
