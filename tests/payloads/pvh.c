/*
 * pvh: booted through the PVH entry note; checks the hvm_start_info the
 * loader passed in ebx: magic, command line "pvhtest arg=2", memory map.
 */
#include "payload.h"

#define XEN_HVM_START_MAGIC 0x336ec578
#define EXPECTED_CMDLINE "pvhtest arg=2"

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
    uint64_t memmap_paddr;      /* version >= 1 */
    uint32_t memmap_entries, reserved;
} PACKED;

struct hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
} PACKED;

static void check_memmap(const struct hvm_start_info *si)
{
    if (si->version < 1)
        fail("pvh", "start_info version %u has no memory map", si->version);
    if (si->memmap_entries == 0 || si->memmap_entries > 128 ||
        si->memmap_paddr == 0 || si->memmap_paddr >= 0x100000000ull)
        fail("pvh", "bad memory map: %u entries at 0x%llx", si->memmap_entries, si->memmap_paddr);
    const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
    uint64_t ram = 0;
    for (uint32_t i = 0; i < si->memmap_entries; i++) {
        printf("pvh: memmap %llx-%llx type %u\n", e[i].addr, e[i].addr + e[i].size - 1, e[i].type);
        if (e[i].type == 1)
            ram += e[i].size;
    }
    if (ram < (1u << 20))
        fail("pvh", "memory map has only %llu bytes of RAM", ram);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (magic != XEN_HVM_START_MAGIC || info == 0)
        fail("pvh", "not entered through the PVH note");
    const struct hvm_start_info *si = (const void *)(uintptr_t)info;
    printf("pvh: start_info at 0x%x magic 0x%x version %u\n", info, si->magic, si->version);
    if (si->magic != XEN_HVM_START_MAGIC)
        fail("pvh", "start_info magic 0x%x", si->magic);
    if (si->cmdline_paddr == 0 || si->cmdline_paddr >= 0x100000000ull)
        fail("pvh", "no command line");
    boot_set_cmdline((const char *)(uintptr_t)si->cmdline_paddr);
    printf("pvh: cmdline '%s'\n", boot_cmdline());
    if (strcmp(boot_cmdline(), EXPECTED_CMDLINE) != 0)
        fail("pvh", "command line '%s', expected '%s'", boot_cmdline(), EXPECTED_CMDLINE);
    check_memmap(si);
    pass("pvh");
}
