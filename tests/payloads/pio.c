/*
 * pio: port I/O exit cost.  At CPL3 with IOPL 3, "n=N" (default 200000)
 * inb reads of the unassigned port 0x3333, timed with rdtsc.
 */
#include "payload.h"

#define PIO_PORT 0x3333

static uint32_t iterations = 200000;

static void pio_loop(void)
{
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < iterations; i++)
        inb(PIO_PORT);
    uint64_t cycles = rdtsc() - t0;
    printf("PIO: %u exits, %llu cycles/exit\n", iterations, udiv64(cycles, iterations, NULL));
    user_return(0);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("pio", "bad multiboot magic 0x%x", magic);
    uint64_t n;
    if (cmdline_get_u64(boot_cmdline(), "n", &n)) {
        if (n == 0 || n > 100000000)
            fail("pio", "n=%llu out of range", n);
        iterations = (uint32_t)n;
    }
    cpu_tables_init();
    run_user(pio_loop);
    pass("pio");
}
