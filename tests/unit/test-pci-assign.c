/*
 * pci_bus_assign_resources: the firmware-style BAR placement and interrupt
 * routing done for direct boot, checked on the i440fx chipset plus a few
 * fake cards, through the devices' config space and the address spaces.
 */
#include <stdint.h>
#include <string.h>

#include "devices.h"
#include "fake-hw.h"
#include "hw.h"
#include "pci.h"
#include "unit.h"
#include "util.h"

#define HOLE 0xe0000000ULL
#define HOLE_END 0xfec00000ULL
#define HIGH 0x800000000ULL

static uint64_t bar_rd(void *opaque, uint64_t off, unsigned size) { return 0x5a; }
static void bar_wr(void *opaque, uint64_t off, unsigned size, uint64_t val) { }
static const MemOps bar_ops = { .read = bar_rd, .write = bar_wr };

static PCIDevice card_a, card_b, card_c;
static int tag_a, tag_b, tag_c;

static void card(PCIDevice *d, const char *name, int slot, uint8_t pin, int *tag)
{
    memset(d, 0, sizeof(*d));
    pci_device_init(d, name, 0x1af4, 0x1000, 0, 0x020000, 0);
    d->config[PCI_INTERRUPT_PIN] = pin;
    d->opaque = tag;
    ck_assert_int_eq(pci_register_device(d, PCI_DEVFN(slot, 0)), 0);
}

static void machine(void)
{
    fake_hw_setup();
    ck_assert_int_eq(pci_bus_init(), 0);
    ck_assert_int_eq(i440fx_create(128 * MiB), 0);
    ck_assert_int_eq(piix4_pm_create(PIIX4_PM_BASE, true), 0);
    card(&card_a, "a", 2, 1, &tag_a);
    pci_register_bar(&card_a, 0, 0x20, PCI_BAR_IO, &bar_ops, &tag_a);
    pci_register_bar(&card_a, 1, 0x1000, 0, &bar_ops, &tag_a);
    pci_register_bar(&card_a, 2, 0x4000, PCI_BAR_MEM64, &bar_ops, &tag_a);
    card(&card_b, "b", 3, 2, &tag_b);
    pci_register_bar(&card_b, 0, 1 * MiB, 0, &bar_ops, &tag_b);
    pci_register_bar(&card_b, 1, 0x100, PCI_BAR_IO, &bar_ops, &tag_b);
    card(&card_c, "c", 5, 1, &tag_c);
    pci_register_bar(&card_c, 0, 256 * MiB, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, &bar_ops, &tag_c);
    reset_all();
}

static uint32_t cfg32(const PCIDevice *d, unsigned off)
{
    return d->config[off] | d->config[off + 1] << 8 | d->config[off + 2] << 16 |
           (uint32_t)d->config[off + 3] << 24;
}

/* The BAR's programmed address; it must also be where the region is mapped. */
static uint64_t bar_addr(const PCIDevice *d, int i)
{
    const PCIBar *b = &d->bars[i];
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;
    uint64_t a = cfg32(d, off) & ((b->flags & PCI_BAR_IO) ? ~3u : ~0xfu);
    if (!(b->flags & PCI_BAR_IO) && (b->flags & PCI_BAR_MEM64))
        a |= (uint64_t)cfg32(d, off + 4) << 32;
    ck_assert_uint_eq(a % b->size, 0);
    ck_assert_uint_eq(b->mapped_addr, a);
    AddressSpace *as = (b->flags & PCI_BAR_IO) ? &pio_space : &mmio_space;
    const Region *r = as_find(as, a);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(r->opaque, b->opaque);
    ck_assert_uint_eq(r->len, b->size);
    return a;
}

static void check_enabled(const PCIDevice *d)
{
    uint16_t cmd = d->config[PCI_COMMAND] | d->config[PCI_COMMAND + 1] << 8;
    ck_assert_uint_eq(cmd & 7, 7);
}

START_TEST(assign_all_below_4g)
{
    machine();
    ck_assert_int_eq(pci_bus_assign_resources(HOLE, HOLE_END, HIGH), 0);
    /* largest first from the window base */
    ck_assert_uint_eq(bar_addr(&card_c, 0), HOLE);
    ck_assert_uint_eq(bar_addr(&card_b, 0), HOLE + 256 * MiB);
    uint64_t a64 = bar_addr(&card_a, 2), a32 = bar_addr(&card_a, 1);
    ck_assert_uint_ge(a64, HOLE + 257 * MiB);
    ck_assert_uint_lt(a64 + 0x4000, HOLE_END);
    ck_assert_uint_ge(a32, HOLE + 257 * MiB);
    ck_assert(a32 + 0x1000 <= a64 || a64 + 0x4000 <= a32);
    uint64_t io_b = bar_addr(&card_b, 1), io_a = bar_addr(&card_a, 0);
    ck_assert_uint_eq(io_b, 0xc000);
    ck_assert_uint_eq(io_a, 0xc100);
    check_enabled(&card_a);
    check_enabled(&card_b);
    check_enabled(&card_c);
}
END_TEST

START_TEST(assign_64bit_above_when_tight)
{
    machine();
    /* 128 MiB below 4 GiB cannot hold the 256 MiB BAR: 64-bit BARs go high */
    ck_assert_int_eq(pci_bus_assign_resources(0xf0000000ULL, 0xf8000000ULL, HIGH), 0);
    ck_assert_uint_eq(bar_addr(&card_c, 0), HIGH);
    uint64_t a64 = bar_addr(&card_a, 2);
    ck_assert_uint_ge(a64, HIGH + 256 * MiB);
    ck_assert_uint_eq(bar_addr(&card_b, 0), 0xf0000000ULL);
    ck_assert_uint_eq(bar_addr(&card_a, 1), 0xf0100000ULL);
}
END_TEST

START_TEST(assign_window_too_small)
{
    machine();
    ck_assert_int_eq(pci_bus_assign_resources(0xf0000000ULL, 0xf0080000ULL, HIGH), -1);
}
END_TEST

START_TEST(assign_irq_routing)
{
    machine();
    ck_assert_int_eq(pci_bus_assign_resources(HOLE, HOLE_END, HIGH), 0);
    PCIDevice *isa = pci_find_device(PCI_DEVFN(1, 0));
    ck_assert_ptr_nonnull(isa);
    ck_assert_uint_eq(isa->config[0x60], 10);
    ck_assert_uint_eq(isa->config[0x61], 10);
    ck_assert_uint_eq(isa->config[0x62], 11);
    ck_assert_uint_eq(isa->config[0x63], 11);
    /* slot S pin P -> PIRQ (S - 1 + P - 1) & 3 */
    ck_assert_uint_eq(card_a.config[PCI_INTERRUPT_LINE], 10);   /* 2 INTA: PIRQB */
    ck_assert_uint_eq(card_b.config[PCI_INTERRUPT_LINE], 11);   /* 3 INTB: PIRQD */
    ck_assert_uint_eq(card_c.config[PCI_INTERRUPT_LINE], 10);   /* 5 INTA: PIRQA */
    PCIDevice *pm = pci_find_device(PCI_DEVFN(1, 3));
    ck_assert_ptr_nonnull(pm);
    ck_assert_uint_eq(pm->config[PCI_INTERRUPT_LINE], 9);       /* the SCI */
    /* and the chipset delivers the interrupt on that line */
    pci_set_irq(&card_b, 1);
    ck_assert_int_eq(irq_levels[11], 1);
    pci_set_irq(&card_b, 0);
    ck_assert_int_eq(irq_levels[11], 0);
    pci_set_irq(&card_a, 1);
    ck_assert_int_eq(irq_levels[10], 1);
}
END_TEST

START_TEST(assign_twice_keeps_addresses)
{
    machine();
    ck_assert_int_eq(pci_bus_assign_resources(HOLE, HOLE_END, HIGH), 0);
    uint64_t c = bar_addr(&card_c, 0), b = bar_addr(&card_b, 0), io = bar_addr(&card_a, 0);
    ck_assert_int_eq(pci_bus_assign_resources(HOLE, HOLE_END, HIGH), 0);
    ck_assert_uint_eq(bar_addr(&card_c, 0), c);
    ck_assert_uint_eq(bar_addr(&card_b, 0), b);
    ck_assert_uint_eq(bar_addr(&card_a, 0), io);
    /* after a reset the BARs are cleared and assigned again the same way */
    reset_all();
    ck_assert_uint_eq(card_c.bars[0].mapped_addr, PCI_BAR_UNMAPPED);
    ck_assert_int_eq(pci_bus_assign_resources(HOLE, HOLE_END, HIGH), 0);
    ck_assert_uint_eq(bar_addr(&card_c, 0), c);
}
END_TEST

START_TEST(assign_chipset_untouched)
{
    machine();
    ck_assert_int_eq(pci_bus_assign_resources(HOLE, HOLE_END, HIGH), 0);
    PCIDevice *host = pci_find_device(PCI_DEVFN(0, 0));
    ck_assert_uint_eq(host->config[PCI_INTERRUPT_LINE], 0);
    ck_assert_uint_eq(cfg32(host, PCI_BASE_ADDRESS_0), 0);
    /* the PM block stays where it was preconfigured */
    uint64_t v;
    ck_assert(as_read(&pio_space, PIIX4_PM_BASE + 8, 4, &v));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pci-assign");
    UNIT_TEST(s, assign_all_below_4g);
    UNIT_TEST(s, assign_64bit_above_when_tight);
    UNIT_TEST(s, assign_window_too_small);
    UNIT_TEST(s, assign_irq_routing);
    UNIT_TEST(s, assign_twice_keeps_addresses);
    UNIT_TEST(s, assign_chipset_untouched);
    return unit_run(s);
}
