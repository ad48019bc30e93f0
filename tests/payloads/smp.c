/*
 * smp: counts the enabled LAPICs in the MADT, starts every AP with
 * INIT-SIPI-SIPI and checks that all of them ran (and, with "cpus=N", that
 * the machine has N CPUs).
 */
#include "payload.h"

int main(uint32_t magic, uint32_t info)
{
    static uint32_t ids[MAX_CPUS];
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("smp", "bad multiboot magic 0x%x", magic);
    cpu_tables_init();      /* the APs load this GDT */
    int n = madt_lapic_ids(ids, MAX_CPUS);
    if (n < 1)
        fail("smp", "no MADT or no enabled LAPIC in it");
    if (n > MAX_CPUS)
        fail("smp", "MADT lists %d CPUs, payload supports %d", n, MAX_CPUS);
    printf("smp: MADT lists %d enabled LAPICs, BSP LAPIC id %u\n", n, lapic_id());
    uint64_t want;
    if (cmdline_get_u64(boot_cmdline(), "cpus", &want) && want != (uint64_t)n)
        fail("smp", "MADT has %d CPUs, expected cpus=%u", n, (unsigned)want);
    int started = smp_start_aps(ids, n, 5000);
    printf("smp: %d of %d APs checked in\n", started, n - 1);
    if (started != n - 1)
        fail("smp", "%d APs started, expected %d", started, n - 1);
    pass("smp");
}
