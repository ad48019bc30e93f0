/*
 * PCI bus 0: device table indexed by devfn, configuration space with write
 * masks, BAR sizing and mapping, capabilities, INTx routing and the host
 * bridge's configuration mechanism #1 (PCI Local Bus Spec 3.0, 3.2.2.3.2).
 */
#include <inttypes.h>
#include <string.h>

#include "hw.h"
#include "pci.h"
#include "util.h"
#include "vmstate.h"

#define PCI_COMMAND_SERR 0x100
#define PCI_STATUS_INTERRUPT 0x08
/* Status bits the guest clears by writing 1 (PCI 3.0, 6.2.3). */
#define PCI_STATUS_W1C 0xf900
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_CAP_START 0x40

#define BAR_UNMAPPED PCI_BAR_UNMAPPED
#define CONFIG_ADDRESS_PORT 0xcf8
#define CONFIG_DATA_PORT 0xcfc
#define CONFIG_ADDRESS_ENABLE 0x80000000u

static PCIDevice *devices[256];
static uint32_t config_address;
static PCIRouteIrq irq_router;
static void *irq_router_opaque;
static uint32_t gsi_asserted;   /* GSIs PCI INTx currently drives high */

/* ---- config space helpers ---- */

static uint16_t cfg_get16(const PCIDevice *d, unsigned off)
{
    return d->config[off] | d->config[off + 1] << 8;
}

static uint32_t cfg_get32(const PCIDevice *d, unsigned off)
{
    return cfg_get16(d, off) | (uint32_t)cfg_get16(d, off + 2) << 16;
}

static void set16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void set32(uint8_t *p, uint32_t v)
{
    set16(p, v);
    set16(p + 2, v >> 16);
}

static bool ranges_meet(uint32_t a, unsigned alen, uint32_t b, unsigned blen)
{
    return a < b + blen && b < a + alen;
}

static bool bar_is_io(const PCIBar *b)
{
    return b->flags & PCI_BAR_IO;
}

static AddressSpace *bar_space(const PCIBar *b)
{
    return bar_is_io(b) ? &pio_space : &mmio_space;
}

/* ---- device setup ---- */

void pci_device_init(PCIDevice *d, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code, uint8_t header_type)
{
    d->name = name;
    memset(d->config, 0, sizeof(d->config));
    memset(d->wmask, 0, sizeof(d->wmask));
    memset(d->w1cmask, 0, sizeof(d->w1cmask));
    memset(d->bars, 0, sizeof(d->bars));
    for (int i = 0; i < PCI_NUM_BARS; i++)
        d->bars[i].mapped_addr = BAR_UNMAPPED;
    d->intx_level = false;
    d->cap_next = PCI_CAP_START;

    set16(&d->config[PCI_VENDOR_ID], vendor);
    set16(&d->config[PCI_DEVICE_ID], device);
    d->config[PCI_REVISION_ID] = revision;
    d->config[PCI_CLASS_PROG] = class_code;
    set16(&d->config[PCI_CLASS_DEVICE], class_code >> 8);
    d->config[PCI_HEADER_TYPE] = header_type;
    /* Like QEMU, every function reports subsystem 1af4:1100 (Red Hat's
     * "QEMU virtual machine") unless the device sets its own; guests'
     * quirk tables and users' scripts match on it. */
    set16(&d->config[PCI_SUBSYSTEM_VENDOR_ID], 0x1af4);
    set16(&d->config[PCI_SUBSYSTEM_ID], 0x1100);

    set16(&d->wmask[PCI_COMMAND], PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                  PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    set16(&d->w1cmask[PCI_STATUS], PCI_STATUS_W1C);
    d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    d->wmask[PCI_LATENCY_TIMER] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

static bool slot_empty(unsigned slot)
{
    for (unsigned fn = 0; fn < 8; fn++)
        if (devices[PCI_DEVFN(slot, fn)])
            return false;
    return true;
}

int pci_register_device(PCIDevice *d, int devfn)
{
    if (devfn < 0) {
        /* 00:00.0 and 00:01.x belong to the chipset; cards start at slot 2. */
        for (unsigned slot = 2; slot < 32 && devfn < 0; slot++)
            if (slot_empty(slot))
                devfn = PCI_DEVFN(slot, 0);
        if (devfn < 0) {
            error_report("PCI device '%s': no free slot on bus 0", d->name);
            return -1;
        }
    }
    if (devfn > 0xff) {
        error_report("PCI device '%s': invalid address %d", d->name, devfn);
        return -1;
    }
    if (devices[devfn]) {
        error_report("PCI device '%s': slot 00:%02x.%x is already used by '%s'", d->name,
                     PCI_SLOT(devfn), PCI_FUNC(devfn), devices[devfn]->name);
        return -1;
    }
    d->devfn = devfn;
    devices[devfn] = d;
    return 0;
}

static uint64_t pow2_at_least(uint64_t v, uint64_t min)
{
    uint64_t p = min;
    while (p < v && p < (1ULL << 63))
        p <<= 1;
    return p;
}

void pci_register_bar(PCIDevice *d, int bar, uint64_t size, uint32_t flags,
                      const MemOps *ops, void *opaque)
{
    bool io = flags & PCI_BAR_IO;
    bool mem64 = !io && (flags & PCI_BAR_MEM64);
    if (bar < 0 || bar >= PCI_NUM_BARS || (mem64 && bar == PCI_NUM_BARS - 1) || size == 0) {
        error_report("PCI device '%s': invalid BAR %d", d->name, bar);
        return;
    }
    /* BARs are naturally aligned powers of two; I/O >= 4 bytes, memory >= 16. */
    size = pow2_at_least(size, io ? 4 : 16);
    uint32_t type = io ? PCI_BAR_IO : flags & (PCI_BAR_MEM64 | PCI_BAR_PREFETCH);
    if (!io)
        flags &= PCI_BAR_MEM64 | PCI_BAR_PREFETCH;
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
    uint64_t addr_mask = ~(size - 1);

    d->bars[bar] = (PCIBar){ .size = size, .flags = io ? PCI_BAR_IO : flags, .ops = ops,
                             .opaque = opaque, .mapped_addr = BAR_UNMAPPED };
    set32(&d->config[off], type);
    set32(&d->wmask[off], (uint32_t)addr_mask & (io ? ~3u : ~0xfu));
    if (mem64) {
        d->bars[bar + 1] = (PCIBar){ .mapped_addr = BAR_UNMAPPED };
        set32(&d->config[off + 4], 0);
        set32(&d->wmask[off + 4], addr_mask >> 32);
    }
}

void pci_register_bar_ram(PCIDevice *d, int bar, uint32_t flags, unsigned ram_idx)
{
    const RamBlock *rb = guest_ram_block(ram_idx);
    if (!rb || (flags & PCI_BAR_IO)) {
        error_report("PCI device '%s': BAR %d: no such RAM block", d->name, bar);
        return;
    }
    pci_register_bar(d, bar, rb->size, flags, NULL, NULL);
    d->bars[bar].ram_backed = true;
    d->bars[bar].ram_block = ram_idx;
}

uint8_t pci_add_capability(PCIDevice *d, uint8_t cap_id, uint8_t len)
{
    unsigned off = (d->cap_next + 3) & ~3u;
    if (len < 2 || off < PCI_CAP_START || off + len > PCI_CONFIG_SPACE_SIZE)
        return 0;
    /* Append to the end of the list so it reads in ascending order. */
    uint8_t *link = &d->config[PCI_CAPABILITY_LIST];
    for (int hops = 0; *link >= PCI_CAP_START && *link < 0xff && hops < 48; hops++)
        link = &d->config[*link + 1];
    *link = off;
    d->config[off] = cap_id;
    d->config[off + 1] = 0;
    set16(&d->config[PCI_STATUS], cfg_get16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
    d->cap_next = off + len < PCI_CONFIG_SPACE_SIZE ? off + len : 0xff;
    return off;
}

/* ---- BAR mapping ---- */

/* Where the BAR decodes now, or BAR_UNMAPPED (decode off or an unusable address). */
static uint64_t bar_address(const PCIDevice *d, int i)
{
    const PCIBar *b = &d->bars[i];
    uint16_t cmd = cfg_get16(d, PCI_COMMAND);
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;
    uint64_t addr, last;

    if (bar_is_io(b)) {
        if (!(cmd & PCI_COMMAND_IO))
            return BAR_UNMAPPED;
        addr = cfg_get32(d, off) & ~3u;
        last = addr + b->size - 1;
        return addr == 0 || last > 0xffff ? BAR_UNMAPPED : addr;
    }
    if (!(cmd & PCI_COMMAND_MEMORY))
        return BAR_UNMAPPED;
    addr = cfg_get32(d, off) & ~0xfu;
    if (b->flags & PCI_BAR_MEM64)
        addr |= (uint64_t)cfg_get32(d, off + 4) << 32;
    last = addr + (b->size - 1);
    /* All-ones sizing values and wrap-around never decode. */
    if (addr == 0 || last < addr || last == UINT64_MAX)
        return BAR_UNMAPPED;
    if (!(b->flags & PCI_BAR_MEM64) && last >= 0xffffffffULL)
        return BAR_UNMAPPED;
    return addr;
}

static void bar_unmap(PCIBar *b)
{
    if (b->mapped_addr == BAR_UNMAPPED)
        return;
    if (b->ram_backed)
        guest_ram_move(b->ram_block, RAM_UNMAPPED);
    else
        as_del(bar_space(b), b->mapped_addr, b->opaque);
    b->mapped_addr = BAR_UNMAPPED;
}

static void bar_map(PCIDevice *d, int i, uint64_t addr)
{
    PCIBar *b = &d->bars[i];
    AddressSpace *as = bar_space(b);
    const Region *o = as_find_overlap(as, addr, b->size);
    if (o) {
        guest_error("pci %02x.%x %s: BAR%d at 0x%" PRIx64 " overlaps '%s'; not mapped",
                    PCI_SLOT(d->devfn), PCI_FUNC(d->devfn), d->name, i, addr, o->name);
        return;
    }
    if (b->ram_backed) {
        if (guest_ram_move(b->ram_block, addr) == 0)
            b->mapped_addr = addr;
    } else if (as_add(as, addr, b->size, b->ops, b->opaque, d->name) == 0) {
        b->mapped_addr = addr;
    }
}

static void pci_update_mappings(PCIDevice *d)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PCIBar *b = &d->bars[i];
        if (!b->size)
            continue;
        uint64_t addr = bar_address(d, i);
        uint64_t old = b->mapped_addr;
        if (addr == old)
            continue;
        bar_unmap(b);
        if (addr != BAR_UNMAPPED)
            bar_map(d, i, addr);
        if (d->bar_moved && b->mapped_addr != old)
            d->bar_moved(d, i, old, b->mapped_addr);
    }
}

/* ---- INTx ---- */

static int device_gsi(const PCIDevice *d)
{
    uint8_t pin = d->config[PCI_INTERRUPT_PIN];
    if (!irq_router || pin < 1 || pin > 4)
        return -1;
    int gsi = irq_router(irq_router_opaque, d->devfn, pin);
    return gsi >= 0 && gsi < IRQ_NUM_GSI ? gsi : -1;
}

/*
 * Recompute every PCI-driven GSI as the OR of the devices routed to it, so
 * that devices sharing a PIRQ line (or PIRQs sharing an IRQ) work, and a
 * routing change moves an asserted interrupt to its new line.
 */
static void pci_update_irqs(void)
{
    uint32_t want = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(devices); i++) {
        const PCIDevice *d = devices[i];
        if (!d || !d->intx_level || (cfg_get16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE))
            continue;
        int gsi = device_gsi(d);
        if (gsi >= 0)
            want |= 1u << gsi;
    }
    uint32_t changed = want ^ gsi_asserted;
    gsi_asserted = want;
    for (unsigned gsi = 0; gsi < IRQ_NUM_GSI; gsi++)
        if (changed & (1u << gsi))
            irq_set_level(gsi, (want >> gsi) & 1);
}

void pci_set_irq(PCIDevice *d, int level)
{
    d->intx_level = level != 0;
    uint16_t status = cfg_get16(d, PCI_STATUS) & ~PCI_STATUS_INTERRUPT;
    if (d->intx_level)
        status |= PCI_STATUS_INTERRUPT;
    set16(&d->config[PCI_STATUS], status);
    pci_update_irqs();
}

void pci_set_irq_router(PCIRouteIrq fn, void *opaque)
{
    irq_router = fn;
    irq_router_opaque = opaque;
    pci_update_irqs();
}

void pci_irq_routing_changed(void)
{
    pci_update_irqs();
}

/* ---- config access ---- */

static bool config_access_ok(uint32_t addr, unsigned len)
{
    return (len == 1 || len == 2 || len == 4) && addr < PCI_CONFIG_SPACE_SIZE &&
           len <= PCI_CONFIG_SPACE_SIZE - addr;
}

static uint32_t all_ones(unsigned len)
{
    return len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
}

uint32_t pci_default_config_read(PCIDevice *d, uint32_t addr, unsigned len)
{
    if (!config_access_ok(addr, len))
        return all_ones(len);
    uint32_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint32_t)d->config[addr + i] << (8 * i);
    return v;
}

void pci_default_config_write(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    if (!config_access_ok(addr, len)) {
        guest_error("pci %s: bad config write at 0x%x len %u", d->name, addr, len);
        return;
    }
    uint16_t old_cmd = cfg_get16(d, PCI_COMMAND);
    for (unsigned i = 0; i < len; i++) {
        unsigned off = addr + i;
        uint8_t b = val >> (8 * i);
        uint8_t w = d->wmask[off];
        d->config[off] = (d->config[off] & ~w) | (b & w);
        d->config[off] &= ~(b & d->w1cmask[off]);
    }
    if (ranges_meet(addr, len, PCI_COMMAND, 2) ||
        ranges_meet(addr, len, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS))
        pci_update_mappings(d);
    /* The expansion ROM register (hw/pci/pci-rom.c) decodes by its enable
     * bit and the Memory Space bit. */
    if (ranges_meet(addr, len, PCI_COMMAND, 2) || ranges_meet(addr, len, PCI_ROM_ADDRESS, 4))
        pci_rom_config_changed(d);
    if ((old_cmd ^ cfg_get16(d, PCI_COMMAND)) & PCI_COMMAND_INTX_DISABLE)
        pci_update_irqs();
    if (d->msix)
        msix_config_written(d, addr, len);
}

static PCIDevice *device_at(uint8_t bus, uint8_t devfn)
{
    return bus == 0 ? devices[devfn] : NULL;
}

uint32_t pci_config_read(uint8_t bus, uint8_t devfn, uint32_t addr, unsigned len)
{
    PCIDevice *d = device_at(bus, devfn);
    if (!d || !config_access_ok(addr, len))
        return all_ones(len);
    if (d->config_read)
        return d->config_read(d, addr, len);
    return pci_default_config_read(d, addr, len);
}

void pci_config_write(uint8_t bus, uint8_t devfn, uint32_t addr, uint32_t val, unsigned len)
{
    PCIDevice *d = device_at(bus, devfn);
    if (!d || !config_access_ok(addr, len))
        return;
    if (d->config_write)
        d->config_write(d, addr, val, len);
    else
        pci_default_config_write(d, addr, val, len);
}

PCIDevice *pci_find_device(uint8_t devfn)
{
    return devices[devfn];
}

PCIDevice *pci_next_device(PCIDevice *prev)
{
    for (unsigned i = prev ? prev->devfn + 1u : 0; i < ARRAY_SIZE(devices); i++)
        if (devices[i])
            return devices[i];
    return NULL;
}

/* ---- configuration mechanism #1 ---- */

/*
 * CONFIG_ADDRESS (0xcf8): only a dword access is a config address access; a
 * byte access to 0xcf9 is the PIIX3 reset control register, so the index
 * port is claimed as 0xcf8 and 0xcfa-0xcfb around it.  A dword access at
 * 0xcf8 reaches this handler whole (accesses belong to their first byte).
 */
static uint64_t conf_addr_read(void *opaque, uint64_t off, unsigned size)
{
    return off == 0 && size == 4 ? config_address : UINT64_MAX;
}

static void conf_addr_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    if (off == 0 && size == 4)
        config_address = val;
}

static const MemOps conf_addr_ops = { .read = conf_addr_read, .write = conf_addr_write };

/* Register offset for a CONFIG_DATA access at byte off, or -1 when disabled. */
static int conf_data_target(uint64_t off, uint8_t *bus, uint8_t *devfn)
{
    if (!(config_address & CONFIG_ADDRESS_ENABLE))
        return -1;
    *bus = config_address >> 16;
    *devfn = config_address >> 8;
    return (config_address & 0xfc) + off;
}

static uint64_t conf_data_read(void *opaque, uint64_t off, unsigned size)
{
    uint8_t bus, devfn;
    int reg = conf_data_target(off, &bus, &devfn);
    if (reg < 0 || size > 4)
        return UINT64_MAX;
    return pci_config_read(bus, devfn, reg, size);
}

static void conf_data_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    uint8_t bus, devfn;
    int reg = conf_data_target(off, &bus, &devfn);
    if (reg >= 0 && size <= 4)
        pci_config_write(bus, devfn, reg, val, size);
}

static const MemOps conf_data_ops = { .read = conf_data_read, .write = conf_data_write };

static void pci_bus_reset_cb(void *opaque)
{
    pci_bus_reset();
}

int pci_bus_init(void)
{
    memset(devices, 0, sizeof(devices));
    config_address = 0;
    gsi_asserted = 0;
    irq_router = NULL;
    if (pio_region_add(CONFIG_ADDRESS_PORT, 1, &conf_addr_ops, &config_address,
                       "pci-conf-idx") < 0 ||
        pio_region_add(CONFIG_ADDRESS_PORT + 2, 2, &conf_addr_ops, &config_address,
                       "pci-conf-idx") < 0 ||
        pio_region_add(CONFIG_DATA_PORT, 4, &conf_data_ops, &config_address,
                       "pci-conf-data") < 0)
        return -1;
    reset_register(pci_bus_reset_cb, NULL);
    return 0;
}

/* Power-on state of the generic header; the device hook restores the rest. */
static void pci_device_reset(PCIDevice *d)
{
    set16(&d->config[PCI_COMMAND], 0);
    pci_update_mappings(d);
    set32(&d->config[PCI_ROM_ADDRESS], 0);   /* ROM BAR: unassigned, disabled */
    pci_rom_config_changed(d);
    uint16_t status = cfg_get16(d, PCI_STATUS) & ~(PCI_STATUS_W1C | PCI_STATUS_INTERRUPT);
    set16(&d->config[PCI_STATUS], status);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        PCIBar *b = &d->bars[i];
        if (!b->size)
            continue;
        unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;
        set32(&d->config[off], bar_is_io(b) ? PCI_BAR_IO : b->flags);
        if (b->flags & PCI_BAR_MEM64)
            set32(&d->config[off + 4], 0);
    }
    d->config[PCI_CACHE_LINE_SIZE] = 0;
    d->config[PCI_LATENCY_TIMER] = 0;
    d->config[PCI_INTERRUPT_LINE] = 0;
    d->intx_level = false;
    if (d->msix)
        msix_reset(d);
    if (d->reset)
        d->reset(d);
}

void pci_bus_reset(void)
{
    config_address = 0;
    for (PCIDevice *d = pci_next_device(NULL); d; d = pci_next_device(d))
        pci_device_reset(d);
    pci_update_irqs();
}

/* ---- firmware-style resource assignment (direct boot) ---- */

/*
 * What SeaBIOS's pci_setup does before an OS runs, for machines booted
 * without firmware: size every BAR, place the largest first so every BAR
 * is naturally aligned with no waste between them, enable decoding and bus
 * mastering, route PIRQA-D and write each function's INTERRUPT_LINE.
 */
#define ASSIGN_IO_BASE 0xc000ULL
#define ASSIGN_IO_LIMIT 0x10000ULL
#define ASSIGN_MAX_BARS (256 * PCI_NUM_BARS)
#define PIIX3_DEVFN PCI_DEVFN(1, 0)
#define PIIX3_PIRQRC_REG 0x60
/* SeaBIOS's choice of ISA IRQs for PIRQA-D (pci_irqs[] in pciinit.c). */
static const uint8_t assign_pirq_irqs[4] = { 10, 10, 11, 11 };
#define ASSIGN_SCI_IRQ 9

typedef struct BarRef {
    PCIDevice *d;
    int bar;
    uint64_t size;
    uint64_t addr;
} BarRef;

static int bar_ref_by_size_desc(const void *a, const void *b)
{
    const BarRef *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    /* Stable order for equal sizes: by device, then BAR. */
    if (x->d->devfn != y->d->devfn)
        return x->d->devfn < y->d->devfn ? -1 : 1;
    return x->bar - y->bar;
}

/* Insertion sort (a few dozen BARs at most in practice). */
static void sort_bars(BarRef *refs, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        BarRef r = refs[i];
        unsigned j = i;
        for (; j > 0 && bar_ref_by_size_desc(&refs[j - 1], &r) > 0; j--)
            refs[j] = refs[j - 1];
        refs[j] = r;
    }
}

static bool bar_assigned(const PCIDevice *d, int i)
{
    const PCIBar *b = &d->bars[i];
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;
    uint64_t addr = cfg_get32(d, off) & (bar_is_io(b) ? ~3u : ~0xfu);
    if (!bar_is_io(b) && (b->flags & PCI_BAR_MEM64))
        addr |= (uint64_t)cfg_get32(d, off + 4) << 32;
    return addr != 0;
}

/* Place refs (sorted by size, descending) from base; false if past limit. */
static bool place_bars(BarRef *refs, unsigned n, uint64_t base, uint64_t limit)
{
    uint64_t cur = base;
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = (cur + refs[i].size - 1) & ~(refs[i].size - 1);
        if (a < cur || a + refs[i].size < a || a + refs[i].size > limit)
            return false;
        refs[i].addr = a;
        cur = a + refs[i].size;
    }
    return true;
}

static uint64_t bars_total(const BarRef *refs, unsigned n)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += refs[i].size;
    return t;
}

static void write_bar(const BarRef *r)
{
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * r->bar;
    uint8_t devfn = r->d->devfn;
    pci_config_write(0, devfn, off, (uint32_t)r->addr, 4);
    if (!bar_is_io(&r->d->bars[r->bar]) && (r->d->bars[r->bar].flags & PCI_BAR_MEM64))
        pci_config_write(0, devfn, off + 4, (uint32_t)(r->addr >> 32), 4);
}

/* Collect the unassigned BARs into io, m32 (32-bit only) and m64. */
static void collect_bars(BarRef *io, unsigned *nio, BarRef *m32, unsigned *n32,
                         BarRef *m64, unsigned *n64)
{
    *nio = *n32 = *n64 = 0;
    for (PCIDevice *d = pci_next_device(NULL); d; d = pci_next_device(d)) {
        if (d->devfn == PCI_DEVFN(0, 0))
            continue;               /* the host bridge has no BARs to give */
        for (int i = 0; i < PCI_NUM_BARS; i++) {
            const PCIBar *b = &d->bars[i];
            if (!b->size || bar_assigned(d, i))
                continue;
            BarRef r = { .d = d, .bar = i, .size = b->size };
            if (bar_is_io(b))
                io[(*nio)++] = r;
            else if (b->flags & PCI_BAR_MEM64)
                m64[(*n64)++] = r;
            else
                m32[(*n32)++] = r;
        }
    }
}

static int assign_memory(BarRef *m32, unsigned n32, BarRef *m64, unsigned n64,
                         uint64_t mem32_base, uint64_t mem32_limit, uint64_t mem64_base)
{
    /* 64-bit BARs go below 4 GiB too while everything fits there (old
     * guests cope better), else above mem64_base. */
    static BarRef all[2 * ASSIGN_MAX_BARS];
    memcpy(all, m32, n32 * sizeof(*all));
    memcpy(all + n32, m64, n64 * sizeof(*all));
    sort_bars(all, n32 + n64);
    if (place_bars(all, n32 + n64, mem32_base, mem32_limit)) {
        for (unsigned i = 0; i < n32 + n64; i++)
            write_bar(&all[i]);
        return 0;
    }
    sort_bars(m32, n32);
    sort_bars(m64, n64);
    if (!place_bars(m32, n32, mem32_base, mem32_limit)) {
        error_report("PCI: 32-bit memory BARs need %" PRIu64 " KiB, more than the window "
                     "0x%" PRIx64 "-0x%" PRIx64, bars_total(m32, n32) / 1024, mem32_base,
                     mem32_limit - 1);
        return -1;
    }
    if (!place_bars(m64, n64, mem64_base, UINT64_MAX)) {
        error_report("PCI: 64-bit memory BARs do not fit above 0x%" PRIx64, mem64_base);
        return -1;
    }
    for (unsigned i = 0; i < n32; i++)
        write_bar(&m32[i]);
    for (unsigned i = 0; i < n64; i++)
        write_bar(&m64[i]);
    return 0;
}

/*
 * PIRQA-D to IRQs 10, 10, 11, 11 in the PIIX3, and INTERRUPT_LINE of each
 * function from the board wiring: slot S pin P (1 = INTA) to PIRQ
 * (S - 1 + P - 1) mod 4.  Slot 1 INTA is the PIIX4 PM function's SCI
 * (IRQ 9), as the DSDT's _PRT (LNKS) says.
 */
static void assign_irqs(void)
{
    PCIDevice *isa = pci_find_device(PIIX3_DEVFN);
    bool piix3 = isa && cfg_get16(isa, PCI_VENDOR_ID) == 0x8086 &&
                 cfg_get16(isa, PCI_DEVICE_ID) == 0x7000;
    if (piix3)
        for (unsigned i = 0; i < 4; i++)
            pci_config_write(0, PIIX3_DEVFN, PIIX3_PIRQRC_REG + i, assign_pirq_irqs[i], 1);
    for (PCIDevice *d = pci_next_device(NULL); d; d = pci_next_device(d)) {
        uint8_t pin = d->config[PCI_INTERRUPT_PIN];
        unsigned slot = PCI_SLOT(d->devfn);
        if (pin < 1 || pin > 4 || slot == 0)
            continue;
        uint8_t irq = slot == 1 && pin == 1 ? ASSIGN_SCI_IRQ
                                            : assign_pirq_irqs[(slot - 1 + pin - 1) & 3];
        pci_config_write(0, d->devfn, PCI_INTERRUPT_LINE, irq, 1);
    }
}

int pci_bus_assign_resources(uint64_t mem32_base, uint64_t mem32_limit, uint64_t mem64_base)
{
    static BarRef io[ASSIGN_MAX_BARS], m32[ASSIGN_MAX_BARS], m64[ASSIGN_MAX_BARS];
    unsigned nio, n32, n64;
    collect_bars(io, &nio, m32, &n32, m64, &n64);
    sort_bars(io, nio);
    if (!place_bars(io, nio, ASSIGN_IO_BASE, ASSIGN_IO_LIMIT)) {
        error_report("PCI: I/O BARs need %" PRIu64 " bytes, more than 0x%llx-0xffff",
                     bars_total(io, nio), ASSIGN_IO_BASE);
        return -1;
    }
    if (assign_memory(m32, n32, m64, n64, mem32_base, mem32_limit, mem64_base) < 0)
        return -1;
    for (unsigned i = 0; i < nio; i++)
        write_bar(&io[i]);
    for (PCIDevice *d = pci_next_device(NULL); d; d = pci_next_device(d)) {
        bool has_bars = false;
        for (int i = 0; i < PCI_NUM_BARS; i++)
            has_bars |= d->bars[i].size != 0;
        if (d->devfn != PCI_DEVFN(0, 0) && has_bars)
            pci_config_write(0, d->devfn, PCI_COMMAND,
                             cfg_get16(d, PCI_COMMAND) | PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                             PCI_COMMAND_MASTER, 2);
    }
    assign_irqs();
    return 0;
}

/* ---- migration ---- */

/*
 * Bytes a guest can never change and that say what the function is:
 * vendor/device IDs, revision and class, header type, subsystem IDs and
 * the interrupt pin.  A stream that disagrees comes from another machine.
 */
static bool identity_matches(const PCIDevice *d, const uint8_t *cfg)
{
    static const struct { uint8_t off, len; } id[] = {
        { PCI_VENDOR_ID, 4 }, { PCI_REVISION_ID, 4 }, { PCI_HEADER_TYPE, 1 },
        { PCI_SUBSYSTEM_VENDOR_ID, 4 }, { PCI_INTERRUPT_PIN, 1 },
    };
    for (unsigned i = 0; i < ARRAY_SIZE(id); i++)
        if (memcmp(d->config + id[i].off, cfg + id[i].off, id[i].len))
            return false;
    return true;
}

static void pci_state_save(MigStream *s, void *opaque)
{
    PCIDevice *d = opaque;
    mig_put_buf(s, d->config, PCI_CONFIG_SPACE_SIZE);
    msix_save(s, d);
}

static int pci_state_load(MigStream *s, void *opaque, unsigned version)
{
    PCIDevice *d = opaque;
    uint8_t cfg[PCI_CONFIG_SPACE_SIZE];
    (void)version;
    if (mig_get_buf(s, cfg, sizeof(cfg)) < 0)
        return -1;
    if (!identity_matches(d, cfg))
        return mig_stream_set_error(s, "pci %02x.%x %s: the stream has another device here "
                                    "(%02x%02x:%02x%02x)", PCI_SLOT(d->devfn),
                                    PCI_FUNC(d->devfn), d->name, cfg[1], cfg[0], cfg[3], cfg[2]);
    memcpy(d->config, cfg, sizeof(cfg));
    return msix_load(s, d);
}

/* Re-derive what config space implies: BAR and ROM decoding, INTx, MSI-X. */
static int pci_state_post_load(void *opaque, unsigned version)
{
    PCIDevice *d = opaque;
    (void)version;
    pci_update_mappings(d);
    pci_rom_config_changed(d);
    msix_post_load(d);
    pci_set_irq(d, d->intx_level);
    return 0;
}

static const VMStateField pci_device_fields[] = {
    VMSTATE_BOOL(intx_level, PCIDevice),
    VMSTATE_END,
};

const VMStateDescription vmstate_pci_device = {
    .name = "pci-device",
    .version = 1,
    .fields = pci_device_fields,
    .save = pci_state_save,
    .load = pci_state_load,
    .post_load = pci_state_post_load,
};
