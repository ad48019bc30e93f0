/*
 * kvmclock: the KVM paravirtual clock (Linux Documentation/virt/kvm/x86/
 * msr.rst and cpuid.rst; structure layout from pvclock-abi.h).
 *   - CPUID 0x40000001 EAX bit 3 (KVM_FEATURE_CLOCKSOURCE2) is set;
 *   - MSR_KVM_SYSTEM_TIME_NEW = gpa | 1 makes KVM fill a
 *     pvclock_vcpu_time_info there (even version, nonzero multiplier);
 *   - the clock never goes backwards and advances about 1 s between two
 *     CMOS RTC second boundaries;
 *   - MSR_KVM_WALL_CLOCK_NEW gives the wall clock at system_time 0, whose
 *     year plus the system time is after 2020 and equals the RTC's year.
 */
#include "payload.h"

#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)
#define NSEC_PER_SEC 1000000000ull

struct pvclock_wall_clock {
    uint32_t version, sec, nsec;
} PACKED;

static volatile struct pvclock_vcpu_time_info time_info __attribute__((aligned(4096)));
static volatile struct pvclock_wall_clock wall __attribute__((aligned(64)));

/* ---- CMOS RTC (MC146818 datasheet: registers 0-9, A, B; 0x32 century) ---- */
static uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static unsigned rtc_value(uint8_t raw)
{
    bool binary = cmos_read(0x0b) & 0x04;     /* register B, DM bit */
    return binary ? raw : (raw >> 4) * 10 + (raw & 0xf);
}

/* Seconds register, read outside an update cycle (register A, UIP). */
static uint8_t rtc_seconds(void)
{
    for (int i = 0; i < 100000 && (cmos_read(0x0a) & 0x80); i++)
        ;
    return cmos_read(0x00);
}

/* Busy-wait until the RTC seconds change; false after ~3 s of nothing. */
static bool wait_rtc_tick(void)
{
    uint8_t s = rtc_seconds();
    uint64_t deadline = rdtsc() + 3ull * 4000000000ull;
    while (rdtsc() < deadline)
        if (rtc_seconds() != s)
            return true;
    return false;
}

static unsigned year_of(uint64_t epoch_seconds)
{
    uint64_t days = udiv64(epoch_seconds, 86400, NULL);
    unsigned year = 1970;
    for (;;) {
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        unsigned len = leap ? 366 : 365;
        if (days < len)
            return year;
        days -= len;
        year++;
    }
}

static void check_feature(void)
{
    uint32_t r[4];
    cpuid_count(0x40000000, 0, r);
    if (r[1] != 0x4b4d564b)     /* "KVMK" */
        fail("kvmclock", "no KVM signature at CPUID 0x40000000");
    cpuid_count(0x40000001, 0, r);
    printf("kvmclock: CPUID 0x40000001 eax 0x%x\n", r[0]);
    if (!(r[0] & KVM_FEATURE_CLOCKSOURCE2))
        fail("kvmclock", "KVM_FEATURE_CLOCKSOURCE2 (bit 3) not set");
}

static void check_time_info(void)
{
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint32_t)(uintptr_t)&time_info | 1);
    uint64_t t = pvclock_read_ns(&time_info);
    printf("kvmclock: version %u mul %u shift %d flags 0x%x system_time %llu ns\n",
           time_info.version, time_info.tsc_to_system_mul, time_info.tsc_shift,
           time_info.flags, (unsigned long long)t);
    if (time_info.version == 0 || (time_info.version & 1))
        fail("kvmclock", "bad version %u after enabling", time_info.version);
    if (time_info.tsc_to_system_mul == 0)
        fail("kvmclock", "tsc_to_system_mul is 0");
    uint64_t prev = t;
    for (int i = 0; i < 1000; i++) {
        uint64_t now = pvclock_read_ns(&time_info);
        if (now < prev)
            fail("kvmclock", "went backwards: %llu after %llu", (unsigned long long)now,
                 (unsigned long long)prev);
        prev = now;
    }
}

/* One RTC second measured with kvmclock: must be 0.8-1.2 s. */
static void check_rate(void)
{
    if (!wait_rtc_tick())
        fail("kvmclock", "CMOS RTC seconds do not advance");
    uint64_t t0 = pvclock_read_ns(&time_info);
    if (!wait_rtc_tick())
        fail("kvmclock", "CMOS RTC seconds do not advance");
    uint64_t ms = udiv64(pvclock_read_ns(&time_info) - t0, 1000000, NULL);
    printf("kvmclock: one RTC second took %llu ms\n", (unsigned long long)ms);
    if (ms < 800 || ms > 1200)
        fail("kvmclock", "one RTC second took %llu ms of kvmclock time", (unsigned long long)ms);
}

static void check_wall_clock(void)
{
    wrmsr(MSR_KVM_WALL_CLOCK_NEW, (uint32_t)(uintptr_t)&wall);
    uint64_t now = wall.sec + udiv64(pvclock_read_ns(&time_info), NSEC_PER_SEC, NULL);
    unsigned year = year_of(now);
    unsigned rtc_year = rtc_value(cmos_read(0x32)) * 100 + rtc_value(cmos_read(0x09));
    printf("kvmclock: wall clock version %u sec %u -> year %u; RTC year %u\n", wall.version,
           wall.sec, year, rtc_year);
    if (year <= 2020)
        fail("kvmclock", "wall clock year %u is not after 2020", year);
    if (year != rtc_year && year != rtc_year + 1 && year + 1 != rtc_year)
        fail("kvmclock", "wall clock year %u, RTC year %u", year, rtc_year);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("kvmclock", "bad multiboot magic 0x%x", magic);
    check_feature();
    check_time_info();
    check_rate();
    check_wall_clock();
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);      /* stop KVM writing into our memory */
    pass("kvmclock");
}
