/*
 * PIIX4 power management function (00:01.3): PMBA/PMREGMISC enable the PM
 * I/O block; the ACPI PM timer counts at 3.579545 MHz (ACPI spec 4.8.2.1);
 * PM1a_STS is write-one-to-clear; SLP_EN with the S5 sleep type powers off.
 */
#include "libqtest.h"

#include <stdio.h>
#include <stdlib.h>

#define PM_BASE 0x600
#define PM1_STS (PM_BASE + 0)
#define PM1_EN (PM_BASE + 2)
#define PM1_CNT (PM_BASE + 4)
#define PM_TMR (PM_BASE + 8)
#define SLP_EN (1 << 13)
#define TMR_STS 0x0001

static void enable_pm_io(QTestState *s)
{
    qtest_pci_cfg_write(s, 1, 3, 0x40, 4, PM_BASE | 1);   /* PMBA, I/O space indicator */
    qtest_pci_cfg_write(s, 1, 3, 0x80, 1, 0x01);          /* PMREGMISC: PMIOSE */
}

static void test_pm_timer(const QTarget *t, QTestState *s)
{
    uint32_t pmba = qtest_pci_cfg_read(s, 1, 3, 0x40, 4);
    CHECK(t, (pmba & 0xffc0) == PM_BASE, "acpi pmba readback", "PMBA %08x", pmba);

    uint32_t t0 = qtest_inl(s, PM_TMR);
    if (!t->has_clock) {
        qtest_skip(t, "acpi pm timer follows clock_step", "no clock_step on this target");
        return;
    }
    qtest_clock_step(s, 1000 * 1000);   /* 1 ms = 3579.545 ticks */
    uint32_t t1 = qtest_inl(s, PM_TMR);
    uint32_t d = (t1 - t0) & 0xffffff;
    CHECK(t, d >= 3578 && d <= 3581, "acpi pm timer follows clock_step", "%u ticks in 1 ms", d);

    qtest_clock_step(s, 100 * 1000 * 1000);   /* 100 ms */
    uint32_t t2 = qtest_inl(s, PM_TMR);
    d = (t2 - t1) & 0xffffff;
    CHECK(t, d >= 357950 && d <= 357960, "acpi pm timer 100 ms", "%u ticks in 100 ms", d);
}

static void test_pm1_sts(const QTarget *t, QTestState *s)
{
    if (t->has_clock) {
        /* The timer's bit 23 toggles every 2^23 ticks (~2.34 s): TMR_STS. */
        qtest_clock_step(s, 3000LL * 1000 * 1000);
        uint16_t sts = qtest_inw(s, PM1_STS);
        CHECK(t, sts & TMR_STS, "acpi tmr_sts set after 2^23 ticks", "PM1a_STS %04x", sts);
    }
    qtest_outw(s, PM1_STS, 0xffff);
    uint16_t sts = qtest_inw(s, PM1_STS);
    CHECK(t, (sts & TMR_STS) == 0, "acpi pm1a_sts write-one-to-clear", "PM1a_STS %04x", sts);

    qtest_outw(s, PM1_EN, 0x0121);
    uint16_t en = qtest_inw(s, PM1_EN);
    CHECK(t, en == 0x0121, "acpi pm1a_en readback", "PM1a_EN %04x", en);
    qtest_outw(s, PM1_EN, 0);
}

/* QEMU's PIIX4 treats SLP_TYP 0 as soft-off (acpi_pm1_cnt_write), and vmm's
 * DSDT declares \_S5 as 0 too, so both targets power off with status 0. */
static void test_poweroff(const QTarget *t, QTestState *s)
{
    free(qtest_command(s, "outw 0x%x 0x%x", PM1_CNT, 0 << 10 | SLP_EN));
    int status = qtest_wait_exit(s, 10000);
    CHECK(t, status == 0, "acpi slp_en s5 powers off with status 0", "exit status %d", status);
}

static void test_acpi_pm(const QTarget *t)
{
    QTestState *s = qtest_start_target(t, "acpi start", "-serial null");
    if (!s)
        return;
    enable_pm_io(s);
    test_pm_timer(t, s);
    test_pm1_sts(t, s);
    CHECK(t, !qtest_broken(s), "acpi connection", "%s", qtest_broken(s));
    test_poweroff(t, s);
    qtest_quit(s);
}

int main(void)
{
    return qtest_run_targets(test_acpi_pm);
}
