/*
 * PCI bus, i440FX/PIIX3 and PIIX4 PM through the guest's view: config
 * mechanism #1 on ports 0xcf8/0xcfc, BAR sizing and mapping, PIRQ routing,
 * the 0xcf9 reset register and the ACPI PM block.
 */
#include <stdint.h>
#include <string.h>

#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "pci.h"
#include "unit.h"
#include "util.h"

#define PM 0x600   /* PIIX4_PM_BASE, preconfigured */

/* ---- fakes ---- */

static uint64_t fake_bar_read(void *opaque, uint64_t off, unsigned size)
{
    return 0xab;
}

static void fake_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val) { }

static const MemOps fake_bar_ops = { .read = fake_bar_read, .write = fake_bar_write };

static int io_tag, mem_tag;   /* BAR opaques */

static void fake_device_init(PCIDevice *d, int devfn)
{
    memset(d, 0, sizeof(*d));
    pci_device_init(d, "fake", 0x1af4, 0x1000, 0, 0x020000, 0);
    d->config[PCI_INTERRUPT_PIN] = 1;   /* INTA# */
    pci_register_bar(d, 0, 0x20, PCI_BAR_IO, &fake_bar_ops, &io_tag);
    pci_register_bar(d, 2, 0x4000, PCI_BAR_MEM64, &fake_bar_ops, &mem_tag);
    ck_assert_int_eq(pci_register_device(d, devfn), 0);
}

static void machine_setup(bool pm_preconfigure)
{
    fake_hw_setup();
    ck_assert_int_eq(pci_bus_init(), 0);
    ck_assert_int_eq(i440fx_create(128 * MiB), 0);
    ck_assert_int_eq(piix4_pm_create(PIIX4_PM_BASE, pm_preconfigure), 0);
}

/* ---- guest-side config access ---- */

static uint32_t cfg_addr(unsigned bus, unsigned devfn, unsigned reg)
{
    return 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xfc);
}

static uint32_t cfg_read(unsigned devfn, unsigned reg, unsigned size)
{
    uint64_t v;
    as_write(&pio_space, 0xcf8, 4, cfg_addr(0, devfn, reg));
    as_read(&pio_space, 0xcfc + (reg & 3), size, &v);
    return v;
}

static void cfg_write(unsigned devfn, unsigned reg, unsigned size, uint32_t val)
{
    as_write(&pio_space, 0xcf8, 4, cfg_addr(0, devfn, reg));
    as_write(&pio_space, 0xcfc + (reg & 3), size, val);
}

/* ---- tests ---- */

START_TEST(chipset_ids)
{
    machine_setup(true);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(0, 0), 0, 4), 0x12378086);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(1, 0), 0, 4), 0x70008086);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(1, 3), 0, 4), 0x71138086);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(0, 0), 8, 4), 0x06000002);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(1, 0), 8, 4) >> 8, 0x060100);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(1, 3), 8, 4), 0x06800003);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(1, 0), PCI_HEADER_TYPE, 1), 0x80);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(1, 0), 0x60, 4), 0x80808080);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(0, 0), 0x72, 1), 0x02);
    /* PAM registers are writable bytes. */
    cfg_write(PCI_DEVFN(0, 0), 0x5a, 1, 0x33);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(0, 0), 0x5a, 1), 0x33);
    /* Vendor ID is read-only. */
    cfg_write(PCI_DEVFN(0, 0), 0, 4, 0);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(0, 0), 0, 4), 0x12378086);
}
END_TEST

START_TEST(empty_slot_and_disabled_all_ones)
{
    machine_setup(true);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(5, 0), 0, 4), 0xffffffff);
    ck_assert_uint_eq(cfg_read(PCI_DEVFN(1, 1), 0, 2), 0xffff);
    /* Bus 1 does not exist. */
    pio_out(0xcf8, 4, cfg_addr(1, 0, 0));
    ck_assert_uint_eq(pio_in(0xcfc, 4), 0xffffffff);
    /* Enable bit clear: no config cycle. */
    pio_out(0xcf8, 4, cfg_addr(0, 0, 0) & ~0x80000000u);
    ck_assert_uint_eq(pio_in(0xcfc, 4), 0xffffffff);
    ck_assert_uint_eq(pio_in(0xcf8, 4), 0);
    /* Only dword writes latch CONFIG_ADDRESS. */
    pio_out(0xcf8, 4, cfg_addr(0, 0, 0));
    pio_out(0xcf8, 1, 0);
    pio_out(0xcfa, 2, 0);
    ck_assert_uint_eq(pio_in(0xcf8, 4), 0x80000000);
    ck_assert_uint_eq(pio_in(0xcfc, 4), 0x12378086);
    ck_assert_uint_eq(pci_config_read(1, 0, 0, 4), 0xffffffff);
    ck_assert_uint_eq(pci_config_read(0, 0, 0xfe, 4), 0xffffffff);
}
END_TEST

START_TEST(sub_dword_config_reads)
{
    machine_setup(true);
    pio_out(0xcf8, 4, cfg_addr(0, PCI_DEVFN(0, 0), 0));
    ck_assert_uint_eq(pio_in(0xcfe, 2), 0x1237);
    ck_assert_uint_eq(pio_in(0xcfc, 2), 0x8086);
    ck_assert_uint_eq(pio_in(0xcfd, 1), 0x80);
    ck_assert_uint_eq(pio_in(0xcff, 1), 0x12);
    ck_assert_uint_eq(pio_in(0xcfd, 2), 0x3780);
    /* Register 0x08 read via a word at 0xcfe: class/subclass. */
    pio_out(0xcf8, 4, cfg_addr(0, PCI_DEVFN(1, 0), 8));
    ck_assert_uint_eq(pio_in(0xcfe, 2), 0x0601);
}
END_TEST

START_TEST(bar_sizing)
{
    static PCIDevice d;
    machine_setup(true);
    fake_device_init(&d, -1);
    ck_assert_uint_eq(d.devfn, PCI_DEVFN(2, 0));
    unsigned fn = d.devfn;
    ck_assert_uint_eq(cfg_read(fn, 0x10, 4), 0x1);
    ck_assert_uint_eq(cfg_read(fn, 0x18, 4), 0x4);
    cfg_write(fn, 0x10, 4, 0xffffffff);
    cfg_write(fn, 0x18, 4, 0xffffffff);
    cfg_write(fn, 0x1c, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_read(fn, 0x10, 4), 0xffffffe1);
    ck_assert_uint_eq(cfg_read(fn, 0x18, 4), 0xffffc004);
    ck_assert_uint_eq(cfg_read(fn, 0x1c, 4), 0xffffffff);
    ck_assert_uint_eq(cfg_read(fn, 0x14, 4), 0);   /* unused BAR */
    ck_assert_uint_eq(cfg_read(fn, 0x20, 4), 0);   /* ...and the one after the 64-bit pair */
}
END_TEST

START_TEST(bar_mapping_follows_command_and_value)
{
    static PCIDevice d;
    machine_setup(true);
    fake_device_init(&d, PCI_DEVFN(3, 0));
    unsigned fn = d.devfn;
    cfg_write(fn, 0x10, 4, 0xc000);
    cfg_write(fn, 0x18, 4, 0xfe000000);
    cfg_write(fn, 0x1c, 4, 0);
    ck_assert_ptr_null(as_find(&pio_space, 0xc000));
    ck_assert_ptr_null(as_find(&mmio_space, 0xfe000000));

    cfg_write(fn, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    ck_assert_ptr_eq(as_find(&pio_space, 0xc01f)->opaque, &io_tag);
    ck_assert_ptr_eq(as_find(&mmio_space, 0xfe003fff)->opaque, &mem_tag);
    ck_assert_ptr_null(as_find(&mmio_space, 0xfe004000));
    ck_assert_uint_eq(pio_in(0xc004, 1), 0xab);

    /* Rewriting a BAR moves the region. */
    cfg_write(fn, 0x10, 4, 0xc100);
    ck_assert_ptr_null(as_find(&pio_space, 0xc000));
    ck_assert_ptr_eq(as_find(&pio_space, 0xc100)->opaque, &io_tag);
    cfg_write(fn, 0x1c, 4, 0x1);   /* high dword: above 4 GiB */
    ck_assert_ptr_null(as_find(&mmio_space, 0xfe000000));
    ck_assert_ptr_eq(as_find(&mmio_space, 0x1fe000000ULL)->opaque, &mem_tag);
    ck_assert_uint_eq(d.bars[2].mapped_addr, 0x1fe000000ULL);

    /* Never over an existing region (the PM block) nor at 0. */
    cfg_write(fn, 0x10, 4, PM);
    ck_assert_ptr_ne(as_find(&pio_space, PM)->opaque, &io_tag);
    ck_assert_uint_eq(d.bars[0].mapped_addr, UINT64_MAX);
    cfg_write(fn, 0x10, 4, 0);
    ck_assert_uint_eq(d.bars[0].mapped_addr, UINT64_MAX);
    cfg_write(fn, 0x10, 4, 0xc100);
    ck_assert_ptr_eq(as_find(&pio_space, 0xc100)->opaque, &io_tag);

    /* Clearing decode unmaps. */
    cfg_write(fn, PCI_COMMAND, 2, 0);
    ck_assert_ptr_null(as_find(&pio_space, 0xc100));
    ck_assert_ptr_null(as_find(&mmio_space, 0x1fe000000ULL));

    /* Bus reset: command 0, BARs back to their type bits. */
    cfg_write(fn, PCI_COMMAND, 2, PCI_COMMAND_IO);
    ck_assert_ptr_nonnull(as_find(&pio_space, 0xc100));
    pci_bus_reset();
    ck_assert_ptr_null(as_find(&pio_space, 0xc100));
    ck_assert_uint_eq(cfg_read(fn, 0x10, 4), 0x1);
    ck_assert_uint_eq(cfg_read(fn, PCI_COMMAND, 2), 0);
}
END_TEST

START_TEST(pirq_routing_and_sharing)
{
    static PCIDevice a, b;
    machine_setup(true);
    fake_device_init(&a, PCI_DEVFN(3, 0));   /* INTA -> PIRQ (3-1+0)%4 = C */
    fake_device_init(&b, PCI_DEVFN(7, 0));   /* INTA -> PIRQ (7-1+0)%4 = C */
    pci_set_irq(&a, 1);   /* PIRQC disabled: nothing */
    for (int i = 0; i < IRQ_NUM_GSI; i++)
        ck_assert_int_eq(irq_levels[i], 0);
    ck_assert_uint_eq(cfg_read(a.devfn, PCI_STATUS, 2) & 0x08, 0x08);

    cfg_write(PCI_DEVFN(1, 0), 0x62, 1, 11);   /* PIRQC -> IRQ 11 */
    ck_assert_int_eq(irq_levels[11], 1);
    pci_set_irq(&b, 1);
    pci_set_irq(&a, 0);
    ck_assert_int_eq(irq_levels[11], 1);        /* b still asserts */
    pci_set_irq(&a, 1);
    pci_set_irq(&b, 0);
    ck_assert_int_eq(irq_levels[11], 1);
    pci_set_irq(&a, 0);
    ck_assert_int_eq(irq_levels[11], 0);

    /* Rerouting moves an asserted line. */
    pci_set_irq(&a, 1);
    cfg_write(PCI_DEVFN(1, 0), 0x60, 4, 0x800a8080);   /* PIRQC -> IRQ 10 */
    ck_assert_int_eq(irq_levels[11], 0);
    ck_assert_int_eq(irq_levels[10], 1);
    /* INTx disable masks it. */
    cfg_write(a.devfn, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    ck_assert_int_eq(irq_levels[10], 0);
    cfg_write(a.devfn, PCI_COMMAND, 2, 0);
    ck_assert_int_eq(irq_levels[10], 1);
    /* Disabling the PIRQ lowers it. */
    cfg_write(PCI_DEVFN(1, 0), 0x62, 1, 0x80);
    ck_assert_int_eq(irq_levels[10], 0);

    /* Other pins rotate: slot 7 INTB -> PIRQ (7-1+1)%4 = D. */
    b.config[PCI_INTERRUPT_PIN] = 2;
    cfg_write(PCI_DEVFN(1, 0), 0x63, 1, 5);
    pci_set_irq(&b, 1);
    ck_assert_int_eq(irq_levels[5], 1);
    ck_assert_int_eq(irq_get_level(5), 1);
    /* Reserved IRQs (0, 1, 2, 8, 13) are refused. */
    cfg_write(PCI_DEVFN(1, 0), 0x63, 1, 2);
    ck_assert_int_eq(irq_levels[5], 0);
    ck_assert_int_eq(irq_levels[2], 0);
}
END_TEST

START_TEST(reset_control_register)
{
    machine_setup(true);
    pio_out(0xcf9, 1, 0x02);
    ck_assert_uint_eq(resets, 0);
    ck_assert_uint_eq(pio_in(0xcf9, 1), 0x02);
    pio_out(0xcf9, 1, 0x06);
    ck_assert_uint_eq(resets, 1);
    ck_assert_int_eq(last_reset_cause, SHUTDOWN_CAUSE_GUEST_RESET);
    ck_assert_uint_eq(pio_in(0xcf9, 1), 0x06);
    /* A machine reset (what the hook would do) re-arms it. */
    reset_all();
    ck_assert_uint_eq(pio_in(0xcf9, 1), 0);
    pio_out(0xcf9, 1, 0x06);
    ck_assert_uint_eq(resets, 2);
}
END_TEST

START_TEST(pm_s5_shutdown)
{
    machine_setup(true);
    ck_assert_uint_eq(pio_in(PM + 4, 2) & 1, 1);   /* SCI_EN */
    pio_out(PM + 4, 2, (1 << 10) | (1 << 13));     /* SLP_TYP 1: not S5 */
    ck_assert_uint_eq(shutdowns, 0);
    pio_out(PM + 4, 2, (PIIX4_SLP_TYP_S5 << 10) | (1 << 13));
    ck_assert_uint_eq(shutdowns, 1);
    ck_assert_int_eq(last_shutdown_cause, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    /* A byte write to the high half works too; SLP_EN reads back 0. */
    pio_out(PM + 5, 1, 0x20);
    ck_assert_uint_eq(shutdowns, 2);
    ck_assert_uint_eq(pio_in(PM + 4, 2) & (1 << 13), 0);
}
END_TEST

START_TEST(pm_power_button_sci)
{
    machine_setup(true);
    piix4_pm_power_button();
    ck_assert_uint_eq(pio_in(PM, 2), 0x0100);
    ck_assert_int_eq(irq_levels[ACPI_SCI_IRQ], 0);   /* not enabled */
    pio_out(PM + 2, 2, 0x0100);                      /* PWRBTN_EN */
    ck_assert_int_eq(irq_levels[ACPI_SCI_IRQ], 1);
    ck_assert_uint_eq(pio_in(PM + 2, 2), 0x0100);
    pio_out(PM, 2, 0x0100);                          /* w1c */
    ck_assert_uint_eq(pio_in(PM, 2), 0);
    ck_assert_int_eq(irq_levels[ACPI_SCI_IRQ], 0);
    /* GPE0 block: no sources, EN writable, STS reads 0. */
    pio_out(PM + 0x0e, 2, 0x0003);
    ck_assert_uint_eq(pio_in(PM + 0x0c, 4), 0x00030000);
    ck_assert_uint_eq(pio_in(PM + 0x20, 4), 0);
}
END_TEST

START_TEST(pm_timer_runs_on_virtual_clock)
{
    vclock_set_manual(true);
    machine_setup(true);
    uint32_t t0 = pio_in(PM + 8, 4);
    ck_assert_uint_eq(t0, 0);
    vclock_warp(1000000000);   /* 1 s */
    ck_assert_uint_eq(pio_in(PM + 8, 4), 3579545);
    ck_assert_uint_eq(pio_in(PM + 8, 2), 3579545 & 0xffff);
    pio_out(PM + 8, 4, 0);   /* read-only */
    ck_assert_uint_eq(pio_in(PM + 8, 4), 3579545);
    /* TMR_EN: TMR_STS and SCI when bit 23 toggles (2^23 ticks ~ 2.34 s). */
    pio_out(PM + 2, 2, 0x0001);
    vclock_warp(2300000000LL);
    ck_assert_uint_eq(pio_in(PM, 2) & 1, 0);
    vclock_warp(2400000000LL);
    ck_assert_uint_eq(pio_in(PM, 2) & 1, 1);
    ck_assert_int_eq(irq_levels[ACPI_SCI_IRQ], 1);
    pio_out(PM, 2, 0x0001);
    ck_assert_int_eq(irq_levels[ACPI_SCI_IRQ], 0);
    /* Wraps at 24 bits; the next toggle comes 2^23 ticks later. */
    vclock_warp(4700000000LL);
    ck_assert_uint_eq(pio_in(PM, 2) & 1, 1);
    ck_assert_uint_eq(pio_in(PM + 8, 4), (uint32_t)(4700000000ULL * 3579545 / 1000000000) & 0xffffff);
}
END_TEST

START_TEST(pm_io_space_enable)
{
    machine_setup(false);
    unsigned fn = PCI_DEVFN(1, 3);
    ck_assert_ptr_null(as_find(&pio_space, PM));
    ck_assert_uint_eq(cfg_read(fn, 0x40, 4), 1);
    cfg_write(fn, 0x40, 4, 0xb000);
    ck_assert_ptr_null(as_find(&pio_space, 0xb000));
    cfg_write(fn, 0x80, 1, 1);
    ck_assert_str_eq(as_find(&pio_space, 0xb03f)->name, "piix4-pm");
    ck_assert_uint_eq(cfg_read(fn, 0x40, 4), 0xb001);
    cfg_write(fn, 0x40, 2, 0xb040);   /* move */
    ck_assert_ptr_null(as_find(&pio_space, 0xb000));
    ck_assert_ptr_nonnull(as_find(&pio_space, 0xb040));
    cfg_write(fn, 0x80, 1, 0);
    ck_assert_ptr_null(as_find(&pio_space, 0xb040));
    /* SMBus base: 16-byte aligned I/O. */
    cfg_write(fn, 0x90, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_read(fn, 0x90, 4), 0xfff1);
}
END_TEST

START_TEST(pm_preconfigured_survives_reset)
{
    machine_setup(true);
    unsigned fn = PCI_DEVFN(1, 3);
    ck_assert_uint_eq(cfg_read(fn, 0x40, 4), PM | 1);
    ck_assert_uint_eq(cfg_read(fn, 0x80, 1), 1);
    pio_out(PM + 2, 2, 0x0100);
    reset_all();
    ck_assert_ptr_nonnull(as_find(&pio_space, PM));
    ck_assert_uint_eq(pio_in(PM + 2, 2), 0);
}
END_TEST

START_TEST(capabilities_chain)
{
    static PCIDevice d;
    machine_setup(true);
    fake_device_init(&d, -1);
    ck_assert_uint_eq(pci_add_capability(&d, 0x09, 10), 0x40);
    ck_assert_uint_eq(pci_add_capability(&d, 0x11, 12), 0x4c);
    ck_assert_uint_eq(cfg_read(d.devfn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
    ck_assert_uint_eq(cfg_read(d.devfn, PCI_CAPABILITY_LIST, 1), 0x40);
    ck_assert_uint_eq(cfg_read(d.devfn, 0x40, 2), 0x4c09);
    ck_assert_uint_eq(cfg_read(d.devfn, 0x4c, 2), 0x0011);
    ck_assert_uint_eq(pci_add_capability(&d, 0x05, 200), 0);   /* does not fit */
}
END_TEST

START_TEST(device_table)
{
    static PCIDevice a, b;
    machine_setup(true);
    fake_device_init(&a, -1);
    fake_device_init(&b, -1);
    ck_assert_uint_eq(a.devfn, PCI_DEVFN(2, 0));
    ck_assert_uint_eq(b.devfn, PCI_DEVFN(3, 0));
    ck_assert_int_eq(pci_register_device(&b, PCI_DEVFN(2, 0)), -1);
    ck_assert_str_eq(pci_find_device(PCI_DEVFN(1, 3))->name, "PIIX4_PM");
    unsigned n = 0;
    int last = -1;
    for (PCIDevice *d = pci_next_device(NULL); d; d = pci_next_device(d)) {
        ck_assert_int_gt(d->devfn, last);
        last = d->devfn;
        n++;
    }
    ck_assert_uint_eq(n, 5);
    /* Guest-controlled offsets and lengths are checked. */
    pci_config_write(0, 0, 0xff, 0xffffffff, 4);
    pci_config_write(0, 0, 0x10, 0xffffffff, 3);
    ck_assert_uint_eq(pci_config_read(0, 0, 0x10, 3), 0xffffff);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pci");
    UNIT_TEST(s, chipset_ids);
    UNIT_TEST(s, empty_slot_and_disabled_all_ones);
    UNIT_TEST(s, sub_dword_config_reads);
    UNIT_TEST(s, bar_sizing);
    UNIT_TEST(s, bar_mapping_follows_command_and_value);
    UNIT_TEST(s, pirq_routing_and_sharing);
    UNIT_TEST(s, reset_control_register);
    UNIT_TEST(s, pm_s5_shutdown);
    UNIT_TEST(s, pm_power_button_sci);
    UNIT_TEST(s, pm_timer_runs_on_virtual_clock);
    UNIT_TEST(s, pm_io_space_enable);
    UNIT_TEST(s, pm_preconfigured_survives_reset);
    UNIT_TEST(s, capabilities_chain);
    UNIT_TEST(s, device_table);
    return unit_run(s);
}
