/*
 * PCI expansion ROMs (PCI Local Bus Spec 3.0, 6.2.5.2 and 6.3): the
 * Expansion ROM Base Address register at config 0x30 decodes a read-only
 * image (iPXE for a NIC) when its enable bit 0 and the Command register's
 * Memory Space bit are both set.  Firmware sizes it like a BAR (write all
 * ones, read back the address mask), maps it, copies the image into the
 * 0xc0000 area and runs it.
 *
 * The generic config code in pci.c owns the register's contents (the write
 * mask set here makes bits 31..11 above the size and bit 0 writable) and
 * calls pci_rom_config_changed after every write that may move it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"
#include "pci.h"
#include "util.h"

#define ROM_ENABLE 0x1u
#define ROM_ADDR_MASK 0xfffff800u   /* bits 31..11: at least 2 KiB */
#define ROM_MIN_SIZE (2 * KiB)
#define ROM_MAX_SIZE (16 * MiB)     /* far beyond any real option ROM */
#define ROM_UNMAPPED UINT64_MAX

typedef struct PciRom {
    PCIDevice *dev;
    uint8_t *data;          /* size bytes: the file, zero padded */
    uint64_t size;          /* power of two >= 2 KiB */
    uint64_t mapped_addr;   /* ROM_UNMAPPED when not decoding */
    struct PciRom *next;
} PciRom;

static PciRom *roms;

static PciRom *rom_of(const PCIDevice *d)
{
    for (PciRom *r = roms; r; r = r->next)
        if (r->dev == d)
            return r;
    return NULL;
}

static uint32_t cfg32(const PCIDevice *d, unsigned off)
{
    return d->config[off] | d->config[off + 1] << 8 | d->config[off + 2] << 16 |
           (uint32_t)d->config[off + 3] << 24;
}

static void set_cfg32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
    const PciRom *r = opaque;
    uint64_t v = 0;
    if (off < r->size)
        memcpy(&v, r->data + off, MIN((uint64_t)size, r->size - off));
    return v;
}

static void rom_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    const PciRom *r = opaque;
    guest_error("pci %s: write of 0x%" PRIx64 " to its read-only option ROM at offset "
                "0x%" PRIx64 " ignored", r->dev->name, val, off);
}

static const MemOps rom_ops = { .read = rom_read, .write = rom_write };

/* Where the ROM should decode now, or ROM_UNMAPPED. */
static uint64_t rom_address(const PciRom *r)
{
    const PCIDevice *d = r->dev;
    uint16_t cmd = d->config[PCI_COMMAND] | d->config[PCI_COMMAND + 1] << 8;
    uint32_t reg = cfg32(d, PCI_ROM_ADDRESS);
    uint64_t addr = reg & ROM_ADDR_MASK & ~(uint32_t)(r->size - 1);
    if (!(reg & ROM_ENABLE) || !(cmd & PCI_COMMAND_MEMORY) || addr == 0)
        return ROM_UNMAPPED;
    /* A window ending at 4 GiB overlaps the BIOS; never decode there. */
    if (addr + r->size - 1 >= 0xffffffffULL)
        return ROM_UNMAPPED;
    return addr;
}

void pci_rom_config_changed(PCIDevice *d)
{
    PciRom *r = rom_of(d);
    if (!r)
        return;
    uint64_t addr = rom_address(r);
    if (addr == r->mapped_addr)
        return;
    if (r->mapped_addr != ROM_UNMAPPED)
        as_del(&mmio_space, r->mapped_addr, r);
    r->mapped_addr = ROM_UNMAPPED;
    if (addr == ROM_UNMAPPED)
        return;
    const Region *o = as_find_overlap(&mmio_space, addr, r->size);
    if (o) {
        guest_error("pci %02x.%x %s: ROM at 0x%" PRIx64 " overlaps '%s'; not mapped",
                    PCI_SLOT(d->devfn), PCI_FUNC(d->devfn), d->name, addr, o->name);
        return;
    }
    if (as_add(&mmio_space, addr, r->size, &rom_ops, r, d->name) == 0)
        r->mapped_addr = addr;
}

static uint64_t rom_size_for(size_t len)
{
    uint64_t size = ROM_MIN_SIZE;
    while (size < len)
        size <<= 1;
    return size;
}

/* "-device e1000" rather than the instance name when the caller has one. */
static int rom_error(const PCIDevice *d, const char *path, const char *why)
{
    error_report("-device %s: could not load PCI option ROM '%s': %s", d->name, path, why);
    return -1;
}

int pci_add_option_rom(PCIDevice *d, const char *path)
{
    if (!path || !*path)
        return 0;
    if (rom_of(d))
        return rom_error(d, path, "the device already has an option ROM");
    size_t len;
    uint8_t *file = read_file(path, &len);
    if (!file)
        return rom_error(d, path, strerror(errno));
    if (len == 0 || len > ROM_MAX_SIZE) {
        free(file);
        return rom_error(d, path, len ? "larger than 16 MiB" : "empty file");
    }
    PciRom *r = xzalloc(sizeof(*r));
    r->dev = d;
    r->size = rom_size_for(len);
    r->data = xzalloc(r->size);
    memcpy(r->data, file, len);
    free(file);
    r->mapped_addr = ROM_UNMAPPED;
    r->next = roms;
    roms = r;
    /* Address bits above the size and the enable bit are writable; the
     * rest read as zero, which is how firmware learns the size. */
    set_cfg32(&d->config[PCI_ROM_ADDRESS], 0);
    set_cfg32(&d->wmask[PCI_ROM_ADDRESS],
              (ROM_ADDR_MASK & ~(uint32_t)(r->size - 1)) | ROM_ENABLE);
    return 0;
}

uint64_t pci_rom_size(const PCIDevice *d)
{
    const PciRom *r = rom_of(d);
    return r ? r->size : 0;
}
