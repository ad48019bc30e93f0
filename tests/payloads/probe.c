/*
 * probe: exercises the CPU mechanisms the other payloads rely on and prints
 * what works and how fast, for documenting the PVM host (README.md).
 * Steps: CPL0 loop speed, iret to CPL3 + int $0x80 back, CPL3 loop speed,
 * LAPIC timer interrupts taken at CPL3, PAE paging.
 */
#include "payload.h"

#define LAPIC_EOI 0xb0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0
#define LAPIC_SVR 0xf0
#define TIMER_VECTOR 0x40
#define LVT_PERIODIC 0x20000
#define LVT_MASKED 0x10000
#define LOOPS 100000

static volatile uint32_t ticks;
static volatile uint32_t user_cs_seen;

static uint64_t spin_loop(void)
{
    uint64_t t0 = rdtsc();
    for (volatile int i = 0; i < LOOPS; i++)
        ;
    return rdtsc() - t0;
}

static void user_hello(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    printf("probe: at CPL%u, printing with port I/O (IOPL 3)\n", cs & 3);
    uint64_t c = spin_loop();
    printf("probe: CPL3 loop %d iterations: %llu cycles\n", LOOPS, c);
    user_return(cs);
}

static void timer_tick(struct regs *r)
{
    ticks++;
    user_cs_seen |= 1u << (r->cs & 3);
    lapic_write(LAPIC_EOI, 0);
}

static void user_wait_ticks(void)
{
    uint64_t t0 = rdtsc();
    while (ticks < 20 && rdtsc() - t0 < 20000000000ull)
        ;
    user_return(ticks);
}

static void probe_interrupts(void)
{
    set_irq_handler(TIMER_VECTOR, timer_tick);
    lapic_write(LAPIC_SVR, 0x1ff);
    lapic_write(LAPIC_TIMER_DIV, 0xb);         /* divide by 1 */
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | TIMER_VECTOR);
    lapic_write(LAPIC_TIMER_INIT, 1000000);
    sti();
    uint64_t t0 = rdtsc();
    uint32_t n = run_user(user_wait_ticks);
    uint64_t dt = rdtsc() - t0;
    cli();
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    printf("probe: %u timer interrupts while at CPL3 in %llu cycles (CPLs seen mask 0x%x)\n",
           n, dt, user_cs_seen);
}

static void probe_pio_cpl0(void)
{
    uint64_t t0 = rdtsc();
    for (int i = 0; i < 1000; i++)
        inb(0x3333);
    printf("probe: CPL0 1000 inb: %llu cycles/exit\n", udiv64(rdtsc() - t0, 1000, NULL));
}

static void user_pio(void)
{
    uint64_t t0 = rdtsc();
    for (int i = 0; i < 10000; i++)
        inb(0x3333);
    printf("probe: CPL3 10000 inb: %llu cycles/exit\n", udiv64(rdtsc() - t0, 10000, NULL));
    user_return(0);
}

/*
 * "paging=0": PAE, "paging=1": non-PAE 32-bit paging, default: IA-32e paging
 * in compatibility mode (the only one of the three that works on PVM).  Paging comes last: under IA-32e paging
 * sysenter would enter 64-bit mode, so no more CPL3 after it.
 */
static void probe_paging(void)
{
    const char *mode = "pae";
    uint64_t m = 2;
    cmdline_get_u64(boot_cmdline(), "paging", &m);
    if (m == 1) {
        mode = "legacy 32-bit";
        paging_enable_legacy();
    } else if (m == 2) {
        mode = "IA-32e (compat mode)";
        paging_enable_long();
    } else {
        paging_enable_pae();
    }
    printf("probe: %s paging on, reading through it: 0x%x\n", mode, *(volatile uint32_t *)0x100000);
    printf("probe: CPL0 loop with paging: %llu cycles\n", spin_loop());
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    printf("probe: CPL0 loop %d iterations: %llu cycles\n", LOOPS, spin_loop());
    cpu_tables_init();
    printf("probe: GDT/IDT/TSS loaded\n");
    uint64_t t0 = rdtsc();
    uint32_t cs = run_user(user_hello);
    printf("probe: back at CPL0 from CPL%u (round trip %llu cycles)\n", cs & 3, rdtsc() - t0);
    probe_pio_cpl0();
    run_user(user_pio);
    probe_interrupts();
    probe_paging();
    pass("probe");
}
