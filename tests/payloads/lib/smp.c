/*
 * Local APIC (xAPIC MMIO, Intel SDM vol. 3, chapter 10) and the
 * INIT-SIPI-SIPI sequence that starts the application processors (8.4.4).
 */
#include "payload.h"

#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define SVR_ENABLE 0x100
#define ICR_INIT 0x500
#define ICR_STARTUP 0x600
#define ICR_ASSERT 0x4000
#define ICR_BUSY 0x1000
#define TRAMPOLINE_ADDR 0x70000u    /* free conventional memory, 4 KiB aligned */
#define TSC_PER_MS_MAX 4000000ull   /* assume at most a 4 GHz TSC for timeouts */

extern const char ap_trampoline_start[], ap_trampoline_end[], ap_trampoline_gdtr[];

static volatile uint32_t ap_started;
void (*volatile smp_ap_hook)(void);

void ap_main(void);
void ap_main(void)
{
    if (smp_ap_hook)
        smp_ap_hook();
    __atomic_fetch_add(&ap_started, 1, __ATOMIC_SEQ_CST);   /* lock add */
}

uint32_t lapic_read(unsigned reg)
{
    return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(unsigned reg, uint32_t v)
{
    mmio_write32(LAPIC_BASE + reg, v);
}

uint32_t lapic_id(void)
{
    return lapic_read(LAPIC_ID) >> 24;
}

static void send_ipi(uint32_t apic_id, uint32_t icr)
{
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr);
    for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
        cpu_relax();
}

static void install_trampoline(void)
{
    size_t len = ap_trampoline_end - ap_trampoline_start;
    uint8_t *dst = (uint8_t *)(uintptr_t)TRAMPOLINE_ADDR;
    memcpy(dst, ap_trampoline_start, len);
    uint16_t limit;
    uint32_t base;
    gdt_pointer(&limit, &base);
    uint8_t *gdtr = dst + (ap_trampoline_gdtr - ap_trampoline_start);
    memcpy(gdtr, &limit, 2);
    memcpy(gdtr + 2, &base, 4);
}

static void start_one(uint32_t id)
{
    uint32_t vector = TRAMPOLINE_ADDR >> 12;
    send_ipi(id, ICR_INIT | ICR_ASSERT);
    udelay_io(10000);   /* SDM 8.4.4.1: 10 ms after INIT */
    send_ipi(id, ICR_STARTUP | ICR_ASSERT | vector);
    udelay_io(200);
    send_ipi(id, ICR_STARTUP | ICR_ASSERT | vector);
}

int smp_start_aps(const uint32_t *ids, int n, unsigned timeout_ms)
{
    install_trampoline();
    lapic_write(LAPIC_SVR, SVR_ENABLE | 0xff);
    uint32_t self = lapic_id();
    for (int i = 0; i < n; i++)
        if (ids[i] != self)
            start_one(ids[i]);
    uint64_t deadline = rdtsc() + timeout_ms * TSC_PER_MS_MAX;
    while (ap_started < (uint32_t)(n - 1) && rdtsc() < deadline)
        cpu_relax();
    udelay_io(1000);    /* let any extra (unexpected) AP check in too */
    return (int)ap_started;
}
