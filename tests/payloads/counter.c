/*
 * counter: a long-running guest for the monitor tests
 * (tests/integration/monitor-*.sh).
 *
 *  - prints "counter: start loop=0xA-0xB" once per boot (a system_reset
 *    shows it twice), then "counter N" on COM1 about every 100 ms;
 *  - while it waits between lines (nearly all of its time) the CPU sits in
 *    counter_wait with EBX = 0x1badc0de and ESI = 0xfeedface, and EIP in
 *    [A, B): `info registers` shows RBX=000000001badc0de RSI=00000000feedface;
 *  - guest physical page 0x200000 holds the 32-bit words 0xc0ffee00 + i
 *    (i = 0..1023) for `xp /4wx 0x200000` (paging stays off, so `x` too);
 *  - on the ACPI power button (PM1_STS.PWRBTN_STS, ACPI 6.4 4.8.3.1, polled
 *    every ~5 ms) prints "counter: power button" and enters S5 through
 *    PM1a_CNT (SLP_TYP from the DSDT's \_S5, SLP_EN), so system_powerdown
 *    ends the VMM with status 0.
 * Time base: the TSC, calibrated against PIT channel 2 (8254 datasheet,
 * mode 0; gate and OUT2 on port 0x61), 2.5 GHz assumed if that fails.
 */
#include "payload.h"

#define FILL_ADDR 0x200000u
#define FILL_WORDS 1024u
#define FILL_BASE 0xc0ffee00u

#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_DSDT 40
#define FADT_PM1A_EVT 56
#define FADT_PM1A_CNT 64
#define PIIX4_PMBA 0x40
#define PIIX4_PMREGMISC 0x80
#define PM_BASE_DEFAULT 0x600
#define PM1_PWRBTN 0x0100       /* PM1_STS / PM1_EN bit 8 */
#define PM1_SCI_EN 0x0001
#define SLP_EN (1u << 13)

#define PIT_HZ 1193182u
#define PIT_CAL_TICKS 59659u    /* 50 ms */
#define TSC_FALLBACK_HZ 2500000000ull

/*
 * counter_wait(poll_cycles, polls, pm1_sts_port): spin polls times for
 * poll_cycles TSC cycles each, reading PM1_STS after each; returns 1 as
 * soon as PWRBTN_STS is set, else 0.  EBX/ESI hold the documented values
 * for the whole wait.  Port 0 skips the status read.
 */
extern uint32_t counter_wait(uint32_t poll_cycles, uint32_t polls, uint32_t port);
extern char counter_wait_start[], counter_wait_end[];
__asm__(
    ".text\n"
    ".globl counter_wait, counter_wait_start, counter_wait_end\n"
    "counter_wait:\n"
    "counter_wait_start:\n"
    "    push %ebp\n push %ebx\n push %esi\n push %edi\n"
    "    mov 20(%esp), %ebp\n"          /* poll_cycles */
    "    mov 24(%esp), %ecx\n"          /* polls */
    "    mov 28(%esp), %edx\n"          /* port */
    "    mov $0x1badc0de, %ebx\n"
    "    mov $0xfeedface, %esi\n"
    "1:  test %ecx, %ecx\n jz 4f\n"
    "    push %edx\n"
    "    rdtsc\n mov %eax, %edi\n"
    "2:  rdtsc\n sub %edi, %eax\n cmp %ebp, %eax\n jb 2b\n"
    "    pop %edx\n"
    "    dec %ecx\n"
    "    test %edx, %edx\n jz 1b\n"
    "    inw %dx, %ax\n"
    "    test $0x100, %ax\n jz 1b\n"
    "    mov $1, %eax\n jmp 5f\n"
    "4:  xor %eax, %eax\n"
    "5:  pop %edi\n pop %esi\n pop %ebx\n pop %ebp\n"
    "    ret\n"
    "counter_wait_end:\n");

static uint32_t fadt_u32(const struct acpi_header *fadt, unsigned off, unsigned size)
{
    uint32_t v = 0;
    if (off + size <= fadt->length)
        memcpy(&v, (const uint8_t *)fadt + off, size);
    return v;
}

/* SLP_TYPa of \_S5 (ACPI 6.4 7.4.2): "_S5_" PackageOp PkgLength
 * NumElements, then a ZeroOp/OneOp/BytePrefix integer; -1 if absent. */
static int s5_slp_typ(const struct acpi_header *fadt)
{
    uint32_t addr = fadt_u32(fadt, FADT_DSDT, 4);
    if (!addr)
        return -1;
    const struct acpi_header *dsdt = (const void *)(uintptr_t)addr;
    if (memcmp(dsdt->sig, "DSDT", 4) != 0)
        return -1;
    const uint8_t *p = (const uint8_t *)dsdt + sizeof(*dsdt);
    const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;
    for (; p + 10 <= end; p++) {
        if (memcmp(p, "_S5_", 4) != 0 || p[4] != 0x12)
            continue;
        const uint8_t *q = p + 5;
        q += 1 + (*q >> 6) + 1;     /* PkgLength, NumElements */
        if (*q == 0x00 || *q == 0x01)
            return *q;
        return *q == 0x0a ? q[1] : -1;
    }
    return -1;
}

/* PIIX4 PM I/O space (PIIX4 datasheet: PMBA at 00:01.3 config 0x40,
 * PMREGMISC bit 0): program it if no firmware did (vmm loads us directly). */
static void ensure_pm_io(uint32_t pm1a_evt)
{
    if (pci_read32(0, 1, 3, 0) != 0x71138086)
        return;
    uint32_t pmba = pci_read32(0, 1, 3, PIIX4_PMBA) & 0xffc0;
    if (pmba == 0) {
        pmba = pm1a_evt ? (pm1a_evt & 0xffc0) : PM_BASE_DEFAULT;
        pci_write32(0, 1, 3, PIIX4_PMBA, pmba | 1);
    }
    pci_write8(0, 1, 3, PIIX4_PMREGMISC, 1);
}

/* ACPI mode (ACPI 6.4 4.8.2.1): write ACPI_ENABLE to SMI_CMD unless SCI_EN
 * is already set; the firmware's SMI handler (QEMU: the chipset) sets it. */
static void enable_acpi_mode(const struct acpi_header *fadt, uint16_t pm1a_cnt)
{
    uint32_t smi_cmd = fadt_u32(fadt, FADT_SMI_CMD, 4);
    uint32_t enable = fadt_u32(fadt, FADT_ACPI_ENABLE, 1);
    if ((inw(pm1a_cnt) & PM1_SCI_EN) || !smi_cmd || smi_cmd > 0xffff || !enable)
        return;
    outb((uint16_t)smi_cmd, (uint8_t)enable);
    for (int i = 0; i < 1000 && !(inw(pm1a_cnt) & PM1_SCI_EN); i++)
        inb(0x80);
}

static uint64_t tsc_hz_from_pit(void)
{
    outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));  /* gate 2 on, speaker off */
    outb(0x43, 0xb0);                                    /* ch 2, lo/hi, mode 0 */
    outb(0x42, PIT_CAL_TICKS & 0xff);
    uint64_t t0 = rdtsc();
    outb(0x42, PIT_CAL_TICKS >> 8);
    uint64_t limit = t0 + 4 * TSC_FALLBACK_HZ;   /* no PIT: give up after seconds */
    while (!(inb(0x61) & 0x20))
        if (rdtsc() > limit)
            return 0;
    uint64_t dt = rdtsc() - t0;
    return udiv64(dt * PIT_HZ, PIT_CAL_TICKS, NULL);
}

static void fill_page(void)
{
    volatile uint32_t *w = (volatile uint32_t *)FILL_ADDR;
    for (uint32_t i = 0; i < FILL_WORDS; i++)
        w[i] = FILL_BASE + i;
}

NORETURN static void power_off(uint16_t pm1a_cnt, int slp_typ)
{
    printf("counter: power button\n");
    if (pm1a_cnt && slp_typ >= 0)
        outw(pm1a_cnt, (uint16_t)((slp_typ & 7) << 10 | SLP_EN));
    udelay_io(100000);
    fail("counter", "still running after S5 (PM1a_CNT 0x%x, SLP_TYP %d)", pm1a_cnt, slp_typ);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    printf("counter: start loop=0x%x-0x%x\n", (uint32_t)(uintptr_t)counter_wait_start,
           (uint32_t)(uintptr_t)counter_wait_end);
    fill_page();

    uint16_t pm1a_evt = 0, pm1a_cnt = 0;
    int slp_typ = -1;
    const struct acpi_header *fadt = acpi_find_table("FACP");
    if (fadt) {
        pm1a_evt = (uint16_t)fadt_u32(fadt, FADT_PM1A_EVT, 4);
        pm1a_cnt = (uint16_t)fadt_u32(fadt, FADT_PM1A_CNT, 4);
        slp_typ = s5_slp_typ(fadt);
        ensure_pm_io(pm1a_evt);
        enable_acpi_mode(fadt, pm1a_cnt);
        outw(pm1a_evt, PM1_PWRBTN);              /* clear a stale status (W1C) */
        outw((uint16_t)(pm1a_evt + 2), PM1_PWRBTN);  /* PM1_EN.PWRBTN_EN */
    } else {
        printf("counter: no FADT, power button not watched\n");
    }

    uint64_t hz = tsc_hz_from_pit();
    if (hz < 100000000ull || hz > 10000000000ull)
        hz = TSC_FALLBACK_HZ;
    uint32_t poll_cycles = (uint32_t)udiv64(hz, 200, NULL);     /* 5 ms */
    printf("counter: tsc %u MHz, pm1a_evt 0x%x, pm1a_cnt 0x%x, s5 %d\n",
           (uint32_t)udiv64(hz, 1000000, NULL), pm1a_evt, pm1a_cnt, slp_typ);

    /* Lines on a fixed 100 ms schedule: printing is slow where CPL0 code
     * is emulated (PVM), so wait only for what is left of the period. */
    uint64_t period = (uint64_t)poll_cycles * 20, next = rdtsc() + period;
    for (uint32_t n = 0;; n++) {
        printf("counter %u\n", n);
        uint64_t now = rdtsc();
        uint32_t polls = 1;
        if (now < next)
            polls = (uint32_t)(next - now) / poll_cycles + 1;
        else
            next = now;
        next += period;
        if (counter_wait(poll_cycles, polls, pm1a_evt)) {
            outw(pm1a_evt, PM1_PWRBTN);
            power_off(pm1a_cnt, slp_typ);
        }
    }
}
