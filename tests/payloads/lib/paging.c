/*
 * PAE paging (Intel SDM vol. 3, 4.4): four page directories of 2 MiB pages
 * identity-map the 32-bit address space; a directory entry can then be
 * pointed at physical memory above 4 GiB (PAE entries hold 52-bit addresses).
 */
#include "payload.h"

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define CR0_PG 0x80000000u
#define CR4_PAE 0x20u
#define CR4_PSE 0x10u
#define MSR_EFER 0xc0000080u
#define EFER_LME 0x100u

static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t page_dirs[4][512] __attribute__((aligned(4096)));

static uint64_t large_page(uint64_t pa)
{
    /* Uncached above 3 GiB where MMIO (LAPIC, IOAPIC, PCI holes) lives. */
    uint64_t flags = PTE_P | PTE_RW | PTE_US | PTE_PS;
    if (pa >= 0xc0000000ull && pa < 0x100000000ull)
        flags |= PTE_PCD;
    return pa | flags;
}

static void fill_page_dirs(void)
{
    for (unsigned d = 0; d < 4; d++)
        for (unsigned i = 0; i < 512; i++)
            page_dirs[d][i] = large_page(((uint64_t)d << 30) | ((uint64_t)i << 21));
}

void paging_enable_pae(void)
{
    fill_page_dirs();
    for (unsigned d = 0; d < 4; d++)
        pdpt[d] = (uint32_t)(uintptr_t)page_dirs[d] | PTE_P;
    uint32_t cr0, cr4;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr4 | CR4_PAE));
    __asm__ volatile("mov %0, %%cr3" :: "r"((uint32_t)(uintptr_t)pdpt) : "memory");
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0 | CR0_PG) : "memory");
}

/*
 * IA-32e paging entered from 32-bit code (SDM vol. 3, 9.8.5): with a 32-bit
 * code segment (L=0) the CPU runs in compatibility mode, so the payload keeps
 * running unchanged, but the tables are the 4-level ones: PML4[0] -> a PDPT
 * whose first four entries are the same page directories as above.
 */
static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt_long[512] __attribute__((aligned(4096)));

void paging_enable_long(void)
{
    fill_page_dirs();
    for (unsigned d = 0; d < 4; d++)
        pdpt_long[d] = (uint32_t)(uintptr_t)page_dirs[d] | PTE_P | PTE_RW | PTE_US;
    pml4[0] = (uint32_t)(uintptr_t)pdpt_long | PTE_P | PTE_RW | PTE_US;
    uint32_t cr0, cr4;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr4 | CR4_PAE));
    __asm__ volatile("mov %0, %%cr3" :: "r"((uint32_t)(uintptr_t)pml4) : "memory");
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_LME);
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0 | CR0_PG) : "memory");
}

void paging_map_2m(uint32_t va, uint64_t pa)
{
    page_dirs[va >> 30][(va >> 21) & 511] = large_page(pa & ~0x1fffffull);
    __asm__ volatile("invlpg (%0)" :: "r"(va) : "memory");
}

/* Classic 32-bit paging with 4 MiB pages (CR4.PSE), identity map of 4 GiB. */
static uint32_t legacy_dir[1024] __attribute__((aligned(4096)));

void paging_enable_legacy(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        legacy_dir[i] = i << 22 | (uint32_t)(PTE_P | PTE_RW | PTE_US | PTE_PS);
    uint32_t cr0, cr4;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr4 | CR4_PSE));
    __asm__ volatile("mov %0, %%cr3" :: "r"((uint32_t)(uintptr_t)legacy_dir) : "memory");
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0 | CR0_PG) : "memory");
}
