/*
 * mig-dirty: a guest that keeps dirtying memory, for live-migration
 * convergence and memory-integrity checks (tests/integration/migration.sh,
 * bench/migrate.sh).
 *
 * -append options:
 *   mib=N     size of the dirtied region (default 16), from 16 MiB up: the
 *             guest needs at least 16 + N MiB of RAM;
 *   rate=N    dirty about N MiB/s (default 0: as fast as it can);
 *   verify_s=N  also verify the whole region every N seconds (default 0: only
 *             on request).
 *
 * Every 4 KiB page p of the region holds 1024 equal words
 * (p's physical page number << 8 | gen[p]), gen[p] being that page's
 * generation (a byte array below the region, guest RAM too).  The guest
 * fills the region once ("mig-dirty: filled N MiB"), then rewrites pages in
 * order at full speed, bumping their generation: a migration that misses a
 * dirty page, sends a stale copy or puts a page at the wrong address leaves
 * a page whose words do not match its generation.
 *
 * COM1 input (polled between pages):
 *   'v'  verify every page: "mig-dirty: verify ok pages=P passes=S" or
 *        "mig-dirty: verify FAIL page 0x... word W: 0x... expected 0x...";
 *   'x'  verify, then exit through isa-debug-exit (PASS / FAIL).
 * Once a second: "mig-dirty: pass S rate R MiB/s" (R measured with the TSC).
 * "mig-dirty: start" is printed once per boot.
 */
#include "payload.h"

#define NAME "mig-dirty"
#define MIB (1024u * 1024u)
#define PAGE 4096u
#define REGION_BASE (16u * MIB)
#define GEN_BASE (12u * MIB)        /* one byte per page: up to 4 MiB -> 16 GiB */
#define COM1_DATA 0x3f8
#define COM1_LSR 0x3fd
#define LSR_DATA_READY 0x01
#define POLL_EVERY 64u              /* pages between COM1 polls */

static volatile uint8_t *const gen = (volatile uint8_t *)GEN_BASE;
static uint32_t npages;
static uint32_t passes;             /* complete sweeps since boot */

static uint32_t page_word(uint32_t p)
{
    return ((REGION_BASE / PAGE + p) << 8) | gen[p];
}

/* One page, with a string instruction: the fastest path through KVM's
 * instruction emulator as well as on hardware. */
static void fill_page(uint32_t p)
{
    void *dst = (void *)(uintptr_t)(REGION_BASE + p * PAGE);
    uint32_t n = PAGE / 4;
    __asm__ volatile("cld; rep stosl" : "+D"(dst), "+c"(n) : "a"(page_word(p)) : "memory");
}

/* Index of the first word of page p that differs from its pattern, or -1. */
static int check_page(uint32_t p)
{
    const void *src = (const void *)(uintptr_t)(REGION_BASE + p * PAGE);
    uint32_t n = PAGE / 4;
    uint8_t differ;
    __asm__ volatile("cld; repe scasl; setne %2"
                     : "+D"(src), "+c"(n), "=q"(differ)
                     : "a"(page_word(p))
                     : "memory", "cc");
    return differ ? (int)(PAGE / 4 - n - 1) : -1;
}

static bool verify_all(void)
{
    for (uint32_t p = 0; p < npages; p++) {
        int w = check_page(p);
        if (w >= 0) {
            const volatile uint32_t *words = (const volatile uint32_t *)(REGION_BASE + p * PAGE);
            printf(NAME ": verify FAIL page 0x%x word %d: 0x%x expected 0x%x\n",
                   REGION_BASE + p * PAGE, w, words[w], page_word(p));
            return false;
        }
    }
    printf(NAME ": verify ok pages=%u passes=%u\n", npages, passes);
    return true;
}

static void serve_input(void)
{
    if (!(inb(COM1_LSR) & LSR_DATA_READY))
        return;
    char c = (char)inb(COM1_DATA);
    if (c == 'v') {
        verify_all();
    } else if (c == 'x') {
        if (verify_all())
            pass(NAME);
        fail(NAME, "memory pattern broken");
    }
}

static uint32_t ram_mib(void)
{
    const struct mem_range *r;
    unsigned n = boot_mem_ranges(&r);
    uint64_t top = 0;
    for (unsigned i = 0; i < n; i++)
        if (r[i].type == 1 && r[i].addr <= REGION_BASE && r[i].addr + r[i].len > top)
            top = r[i].addr + r[i].len;
    return (uint32_t)(top >> 20);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    printf(NAME ": start\n");
    tsc_clock_init(NAME);
    uint32_t mib = cmdline_option(NAME, "mib", 16, 1, 16384);
    uint32_t rate = cmdline_option(NAME, "rate", 0, 0, 100000);
    uint32_t verify_s = cmdline_option(NAME, "verify_s", 0, 0, 3600);
    uint32_t have = ram_mib();
    if (have && have < 16 + mib)
        fail(NAME, "mib=%u needs %u MiB of RAM, the memory map has %u", mib, 16 + mib, have);
    npages = mib * (MIB / PAGE);

    uint64_t t0 = rdtsc();
    for (uint32_t p = 0; p < npages; p++) {
        gen[p] = 0;
        fill_page(p);
    }
    printf(NAME ": filled %u MiB in %llu ms\n", mib, udiv64(ns_since(t0), 1000000, NULL));

    /* rate limit: at most `budget` pages per 10 ms slice. */
    uint32_t budget = rate ? (rate * (MIB / PAGE) + 99) / 100 : 0;
    uint64_t slice_start = rdtsc(), report_start = slice_start, verify_start = slice_start;
    uint32_t in_slice = 0, since_report = 0;
    for (uint32_t p = 0;; ) {
        gen[p]++;
        fill_page(p);
        since_report++;
        if (++p == npages) {
            p = 0;
            passes++;
        }
        if (p % POLL_EVERY == 0)
            serve_input();
        if (budget && ++in_slice >= budget) {
            while (ns_since(slice_start) < 10000000ull)
                cpu_relax();
            slice_start = rdtsc();
            in_slice = 0;
        }
        if (p % POLL_EVERY == 0 && ns_since(report_start) >= 1000000000ull) {
            uint64_t ms = udiv64(ns_since(report_start), 1000000, NULL);
            printf(NAME ": pass %u rate %llu MiB/s\n", passes,
                   udiv64((uint64_t)since_report * PAGE * 1000 / MIB, ms ? ms : 1, NULL));
            report_start = rdtsc();
            since_report = 0;
        }
        if (verify_s && p % POLL_EVERY == 0 && ns_since(verify_start) >= verify_s * 1000000000ull) {
            if (!verify_all())
                fail(NAME, "memory pattern broken");
            verify_start = rdtsc();
        }
    }
}
