/*
 * highmem: with more than ~3.5 GiB of RAM the memory map must show RAM above
 * 4 GiB; map a 2 MiB page of it (IA-32e paging in compatibility mode, which
 * also works on the PVM host where 32-bit PAE paging faults), write a pattern,
 * read it back, and check that low memory at the same virtual address was not
 * touched (a wrong memory slot would alias).
 */
#include "payload.h"

#define WINDOW 0x40000000u      /* 1 GiB: unused by the payload */
#define WORDS (2u << 20) / 4

static uint64_t find_high_ram(void)
{
    const struct mem_range *r;
    unsigned n = boot_mem_ranges(&r);
    for (unsigned i = 0; i < n; i++) {
        printf("highmem: map %llx-%llx type %u\n", r[i].addr, r[i].addr + r[i].len - 1, r[i].type);
    }
    for (unsigned i = 0; i < n; i++) {
        uint64_t start = (r[i].addr + 0x1fffff) & ~0x1fffffull;
        if (r[i].type == 1 && start >= 0x100000000ull && r[i].addr + r[i].len >= start + 0x200000)
            return start;
    }
    return 0;
}

static uint32_t pattern(uint32_t i)
{
    return i * 2654435761u ^ 0xa5a5a5a5u;
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("highmem", "bad multiboot magic 0x%x", magic);
    uint64_t pa = find_high_ram();
    if (!pa)
        fail("highmem", "no RAM above 4 GiB in the memory map (run with -m 5G)");
    volatile uint32_t *w = (volatile uint32_t *)WINDOW;
    w[0] = 0x12345678;          /* low RAM marker at the window's identity address */
    paging_enable_long();
    paging_map_2m(WINDOW, pa);
    for (uint32_t i = 0; i < WORDS; i += 1024)
        w[i] = pattern(i);
    for (uint32_t i = 0; i < WORDS; i += 1024)
        if (w[i] != pattern(i))
            fail("highmem", "word %u at %llx reads 0x%x, wrote 0x%x", i, pa + 4 * i, w[i], pattern(i));
    paging_map_2m(WINDOW, WINDOW);
    if (w[0] != 0x12345678)
        fail("highmem", "low memory at 0x%x changed to 0x%x: high page aliases it", WINDOW, w[0]);
    printf("highmem: wrote and read back 2 MiB page at 0x%llx\n", pa);
    pass("highmem");
}
