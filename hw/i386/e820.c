/*
 * The PC physical memory map reported to the guest (BIOS INT 15h E820
 * semantics; ACPI spec, "System Address Map Interfaces").  Linux, multiboot
 * and PVH guests all receive this table.
 */
#include <string.h>

#include "pc.h"
#include "util.h"

/* Reserved ranges above low RAM that firmware would report. */
#define KVM_TSS_AREA 0xfeffc000ULL      /* KVM's TSS + identity page (as QEMU) */
#define KVM_TSS_AREA_SIZE 0x4000ULL
#define HIGH_BIOS_START 0xfffc0000ULL   /* BIOS ROM alias below 4 GiB */

void pc_ram_split(uint64_t ram_size, uint64_t *below_4g, uint64_t *above_4g)
{
    *below_4g = MIN(ram_size, PC_PCI_HOLE_START);
    *above_4g = ram_size - *below_4g;
}

/* Insert keeping the table sorted; overlapping or empty ranges are refused. */
int e820_add(E820Table *t, uint64_t addr, uint64_t size, uint32_t type)
{
    if (t->n >= E820_MAX || size == 0 || addr + size < addr)
        return -1;
    unsigned i = 0;
    while (i < t->n && t->e[i].addr < addr)
        i++;
    if (i > 0 && t->e[i - 1].addr + t->e[i - 1].size > addr)
        return -1;
    if (i < t->n && addr + size > t->e[i].addr)
        return -1;
    memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(t->e[0]));
    t->e[i] = (E820Entry){ .addr = addr, .size = size, .type = type };
    t->n++;
    return 0;
}

void e820_build(E820Table *t, uint64_t below_4g, uint64_t above_4g)
{
    t->n = 0;
    /* Conventional memory ends where the EBDA starts (639 KiB). */
    e820_add(t, 0, MIN(below_4g, PC_EBDA_START), E820_RAM);
    if (below_4g > PC_EBDA_START)
        e820_add(t, PC_EBDA_START, 0xa0000 - PC_EBDA_START, E820_RESERVED);
    /* 0xa0000-0xdffff is the VGA window and option ROMs: not reported, as on
     * real PCs.  0xe0000-0xfffff holds the BIOS and our ACPI tables. */
    e820_add(t, PC_BIOS_AREA_START, 0x100000 - PC_BIOS_AREA_START, E820_RESERVED);
    if (below_4g > 0x100000)
        e820_add(t, 0x100000, below_4g - 0x100000, E820_RAM);
    e820_add(t, KVM_TSS_AREA, KVM_TSS_AREA_SIZE, E820_RESERVED);
    e820_add(t, HIGH_BIOS_START, PC_HIGH_RAM_START - HIGH_BIOS_START, E820_RESERVED);
    if (above_4g)
        e820_add(t, PC_HIGH_RAM_START, above_4g, E820_RAM);
}
