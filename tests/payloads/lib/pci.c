/* PCI configuration mechanism #1 (PCI Local Bus spec 3.0, 3.2.2.3.2). */
#include "payload.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

static void select_reg(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    outl(PCI_CONFIG_ADDRESS, 0x80000000u | (bus & 0xff) << 16 | (dev & 0x1f) << 11 |
                             (fn & 7) << 8 | (off & 0xfc));
}

uint32_t pci_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    select_reg(bus, dev, fn, off);
    return inl(PCI_CONFIG_DATA);
}

uint16_t pci_read16(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    select_reg(bus, dev, fn, off);
    return inw(PCI_CONFIG_DATA + (off & 2));
}

uint8_t pci_read8(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    select_reg(bus, dev, fn, off);
    return inb(PCI_CONFIG_DATA + (off & 3));
}

void pci_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v)
{
    select_reg(bus, dev, fn, off);
    outl(PCI_CONFIG_DATA, v);
}

void pci_write16(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint16_t v)
{
    select_reg(bus, dev, fn, off);
    outw(PCI_CONFIG_DATA + (off & 2), v);
}

void pci_write8(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint8_t v)
{
    select_reg(bus, dev, fn, off);
    outb(PCI_CONFIG_DATA + (off & 3), v);
}

void udelay_io(unsigned us)
{
    while (us--)
        inb(0x80);
}
