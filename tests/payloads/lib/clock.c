/*
 * Nanoseconds from the TSC, at the rate kvmclock reports (Linux
 * Documentation/virt/kvm/x86/msr.rst; layout from pvclock-abi.h): the
 * pvclock multiplier and shift are read once, then rdtsc differences are
 * scaled without further exits.  Works under vmm and QEMU/KVM alike.
 */
#include "payload.h"

#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVM_CPUID_FEATURES 0x40000001
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)

static volatile struct pvclock_vcpu_time_info pvti __attribute__((aligned(64)));
static uint32_t tsc_mul;
static int tsc_shift;

uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int shift)
{
    if (shift >= 0)
        delta <<= shift;
    else
        delta >>= -shift;
    /* (delta * mul) >> 32 without a 128-bit product. */
    uint64_t lo = (uint64_t)(uint32_t)delta * mul;
    uint64_t hi = (delta >> 32) * mul;
    return hi + (lo >> 32);
}

void tsc_clock_init(const char *name)
{
    uint32_t r[4];
    cpuid_count(0x40000000, 0, r);
    if (r[0] < KVM_CPUID_FEATURES)
        fail(name, "no KVM paravirtual CPUID leaves for the TSC rate");
    cpuid_count(KVM_CPUID_FEATURES, 0, r);
    if (!(r[0] & KVM_FEATURE_CLOCKSOURCE2))
        fail(name, "no KVM_FEATURE_CLOCKSOURCE2 for the TSC rate");
    /* Enable, read the rate, disable again. */
    kvmclock_enable(name);
    tsc_mul = pvti.tsc_to_system_mul;
    tsc_shift = pvti.tsc_shift;
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
}

void kvmclock_enable(const char *name)
{
    /* Enable (bit 0), wait for an even nonzero version. */
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint32_t)(uintptr_t)&pvti | 1);
    for (int i = 0; i < 1000000 && (pvti.version == 0 || (pvti.version & 1)); i++)
        cpu_relax();
    if (pvti.tsc_to_system_mul == 0)
        fail(name, "kvmclock gave no TSC multiplier");
}

uint64_t pvclock_read_ns(const volatile struct pvclock_vcpu_time_info *p)
{
    /* msr.rst: retry while the version is odd or changed during the read. */
    for (;;) {
        uint32_t v = p->version;
        __asm__ volatile("" ::: "memory");
        uint64_t ts = p->tsc_timestamp, st = p->system_time;
        uint32_t mul = p->tsc_to_system_mul;
        int8_t shift = p->tsc_shift;
        uint64_t now = rdtsc();
        __asm__ volatile("" ::: "memory");
        if (!(v & 1) && v == p->version)
            return st + pvclock_scale(now - ts, mul, shift);
    }
}

uint64_t kvmclock_ns(void)
{
    return pvclock_read_ns(&pvti);
}

uint64_t tsc_to_ns(uint64_t cycles) { return pvclock_scale(cycles, tsc_mul, tsc_shift); }

uint64_t ns_since(uint64_t tsc0) { return tsc_to_ns(rdtsc() - tsc0); }

void print_frame_rate(const char *prefix, const char *dir, uint64_t frames, uint32_t frame_size,
                      uint64_t ns)
{
    uint64_t r, fps10 = ns ? udiv64(frames * 10000000000ull, ns, NULL) : 0;
    uint64_t mbps10 = ns ? udiv64(frames * frame_size * 10000, ns, NULL) : 0;
    uint64_t fq = udiv64(fps10, 10, &r);
    printf("%s %s_frames=%llu %s_fps=%llu.%llu", prefix, dir, frames, dir, fq, r);
    uint64_t mq = udiv64(mbps10, 10, &r);
    printf(" %s_MBps=%llu.%llu %s_ms=%llu\n", dir, mq, r, dir, udiv64(ns, 1000000, NULL));
}
