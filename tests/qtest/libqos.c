/*
 * libqos: guest-side PCI, MSI-X, virtio-pci and split-virtqueue drivers for
 * qtests (see libqos.h).  All device access goes through libqtest.
 */
#include "libqos.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- guest RAM allocator ---- */

void qos_alloc_init(QGuestAlloc *a, uint64_t start, uint64_t end)
{
    a->start = a->next = start;
    a->end = end;
}

uint64_t qos_alloc(QGuestAlloc *a, uint64_t size, uint64_t align)
{
    if (!align)
        align = 16;
    uint64_t addr = (a->next + align - 1) & ~(align - 1);
    if (addr < a->next || size > a->end || addr > a->end - size)
        return 0;
    a->next = addr + (size ? size : 1);
    return addr;
}

uint64_t qos_alloc_zero(QTestState *s, QGuestAlloc *a, uint64_t size, uint64_t align)
{
    uint64_t addr = qos_alloc(a, size, align);
    if (addr && size)
        qtest_memset(s, addr, 0, size);
    return addr;
}

/* ---- PCI config space ---- */

void qpci_bus_init(QPCIBus *bus, QTestState *s)
{
    bus->s = s;
    bus->io_next = QPCI_IO_BASE;
    bus->mem_next = QPCI_MEM_BASE;
}

int qpci_find_slot(QPCIBus *bus, uint16_t vendor, uint16_t device, unsigned from_slot)
{
    for (unsigned slot = from_slot; slot < 32; slot++) {
        uint32_t id = qtest_pci_cfg_read(bus->s, slot, 0, 0x00, 4);
        if (id == ((uint32_t)device << 16 | vendor))
            return slot;
    }
    return -1;
}

bool qpci_device_init(QPCIDevice *d, QPCIBus *bus, unsigned slot, unsigned fn)
{
    memset(d, 0, sizeof(*d));
    d->bus = bus;
    d->s = bus->s;
    d->slot = slot;
    d->fn = fn;
    d->msix_table_bar = d->msix_pba_bar = -1;
    return qpci_config_readw(d, 0x00) != 0xffff;
}

uint8_t qpci_config_readb(QPCIDevice *d, unsigned reg) { return qtest_pci_cfg_read(d->s, d->slot, d->fn, reg, 1); }
uint16_t qpci_config_readw(QPCIDevice *d, unsigned reg) { return qtest_pci_cfg_read(d->s, d->slot, d->fn, reg, 2); }
uint32_t qpci_config_readl(QPCIDevice *d, unsigned reg) { return qtest_pci_cfg_read(d->s, d->slot, d->fn, reg, 4); }
void qpci_config_writeb(QPCIDevice *d, unsigned reg, uint8_t v) { qtest_pci_cfg_write(d->s, d->slot, d->fn, reg, 1, v); }
void qpci_config_writew(QPCIDevice *d, unsigned reg, uint16_t v) { qtest_pci_cfg_write(d->s, d->slot, d->fn, reg, 2, v); }
void qpci_config_writel(QPCIDevice *d, unsigned reg, uint32_t v) { qtest_pci_cfg_write(d->s, d->slot, d->fn, reg, 4, v); }

/* ---- BARs (PCI 3.0, 6.2.5.1) ---- */

static unsigned bar_reg(int n)
{
    return 0x10 + 4 * n;
}

uint32_t qpci_bar_raw(QPCIDevice *d, int n)
{
    return qpci_config_readl(d, bar_reg(n));
}

/* Size of an I/O BAR from its all-ones readback; some devices implement
 * only 16 address bits. */
static uint64_t io_bar_size(uint32_t v)
{
    uint32_t mask = v & ~3u;
    if (!mask)
        return 0;
    if (!(mask & 0xffff0000u))
        mask |= 0xffff0000u;
    return (uint64_t)(~mask) + 1;
}

uint64_t qpci_bar_probe(QPCIDevice *d, int n)
{
    if (n < 0 || n >= 6)
        return 0;
    QPCIBar *b = &d->bars[n];
    unsigned reg = bar_reg(n);
    uint16_t cmd = qpci_config_readw(d, 0x04);

    memset(b, 0, sizeof(*b));
    /* Decoding off while the BAR holds all ones, so it never overlaps
     * anything in between (PCI 3.0, 6.2.5.1 recommends this). */
    qpci_config_writew(d, 0x04, cmd & ~3);
    uint32_t orig = qpci_config_readl(d, reg);
    qpci_config_writel(d, reg, 0xffffffff);
    uint32_t lo = qpci_config_readl(d, reg);
    qpci_config_writel(d, reg, orig);
    if (lo & 1) {
        b->io = true;
        b->size = io_bar_size(lo);
        b->addr = orig & ~3u;
    } else if (lo) {
        uint64_t mask = lo & ~0xfu;
        b->prefetch = lo & 8;
        b->mem64 = ((lo >> 1) & 3) == 2;
        b->addr = orig & ~0xfu;
        if (b->mem64 && n < 5) {
            uint32_t orig_hi = qpci_config_readl(d, reg + 4);
            qpci_config_writel(d, reg + 4, 0xffffffff);
            uint32_t hi = qpci_config_readl(d, reg + 4);
            qpci_config_writel(d, reg + 4, orig_hi);
            mask |= (uint64_t)hi << 32;
            b->addr |= (uint64_t)orig_hi << 32;
        } else {
            mask |= 0xffffffff00000000ull;
        }
        b->size = mask ? ~mask + 1 : 0;
    }
    qpci_config_writew(d, 0x04, cmd);
    return b->size;
}

void qpci_bar_set(QPCIDevice *d, int n, uint64_t addr)
{
    QPCIBar *b = &d->bars[n];
    unsigned reg = bar_reg(n);

    qpci_config_writel(d, reg, (uint32_t)addr);
    if (b->mem64)
        qpci_config_writel(d, reg + 4, (uint32_t)(addr >> 32));
    b->addr = addr;
}

uint64_t qpci_bar_map(QPCIDevice *d, int n)
{
    uint64_t size = qpci_bar_probe(d, n);
    QPCIBar *b = &d->bars[n];
    uint64_t addr;

    if (!size)
        return UINT64_MAX;
    if (b->io) {
        uint32_t align = size < 4 ? 4 : (uint32_t)size;
        addr = (d->bus->io_next + align - 1) & ~(uint64_t)(align - 1);
        d->bus->io_next = addr + size;
    } else {
        uint64_t align = size < 16 ? 16 : size;
        addr = (d->bus->mem_next + align - 1) & ~(align - 1);
        d->bus->mem_next = addr + size;
    }
    qpci_bar_set(d, n, addr);
    return addr;
}

void qpci_device_enable(QPCIDevice *d)
{
    for (int n = 0; n < 6; n++) {
        qpci_bar_map(d, n);
        if (d->bars[n].mem64)
            n++;   /* the upper half of a 64-bit BAR */
    }
    uint16_t cmd = qpci_config_readw(d, 0x04);
    qpci_config_writew(d, 0x04, cmd | 0x7);   /* I/O, memory, bus master */
}

/* ---- BAR access ---- */

static uint64_t bar_addr(QPCIDevice *d, int n, uint64_t off)
{
    return d->bars[n].addr + off;
}

uint8_t qpci_io_readb(QPCIDevice *d, int n, uint64_t off)
{
    uint64_t a = bar_addr(d, n, off);
    return d->bars[n].io ? qtest_inb(d->s, a) : qtest_readb(d->s, a);
}

uint16_t qpci_io_readw(QPCIDevice *d, int n, uint64_t off)
{
    uint64_t a = bar_addr(d, n, off);
    return d->bars[n].io ? qtest_inw(d->s, a) : qtest_readw(d->s, a);
}

uint32_t qpci_io_readl(QPCIDevice *d, int n, uint64_t off)
{
    uint64_t a = bar_addr(d, n, off);
    return d->bars[n].io ? qtest_inl(d->s, a) : qtest_readl(d->s, a);
}

uint64_t qpci_io_readq(QPCIDevice *d, int n, uint64_t off)
{
    uint64_t lo = qpci_io_readl(d, n, off);
    return lo | (uint64_t)qpci_io_readl(d, n, off + 4) << 32;
}

void qpci_io_writeb(QPCIDevice *d, int n, uint64_t off, uint8_t v)
{
    uint64_t a = bar_addr(d, n, off);
    if (d->bars[n].io)
        qtest_outb(d->s, a, v);
    else
        qtest_writeb(d->s, a, v);
}

void qpci_io_writew(QPCIDevice *d, int n, uint64_t off, uint16_t v)
{
    uint64_t a = bar_addr(d, n, off);
    if (d->bars[n].io)
        qtest_outw(d->s, a, v);
    else
        qtest_writew(d->s, a, v);
}

void qpci_io_writel(QPCIDevice *d, int n, uint64_t off, uint32_t v)
{
    uint64_t a = bar_addr(d, n, off);
    if (d->bars[n].io)
        qtest_outl(d->s, a, v);
    else
        qtest_writel(d->s, a, v);
}

void qpci_io_writeq(QPCIDevice *d, int n, uint64_t off, uint64_t v)
{
    qpci_io_writel(d, n, off, (uint32_t)v);
    qpci_io_writel(d, n, off + 4, (uint32_t)(v >> 32));
}

/* ---- capabilities (PCI 3.0, 6.7) ---- */

uint8_t qpci_find_cap(QPCIDevice *d, uint8_t id, uint8_t start)
{
    uint8_t off;

    if (!(qpci_config_readw(d, 0x06) & 0x10))   /* Status: capabilities list */
        return 0;
    off = start ? qpci_config_readb(d, start + 1) : qpci_config_readb(d, 0x34);
    for (int i = 0; i < 48 && off >= 0x40; i++) {
        off &= ~3;
        if (qpci_config_readb(d, off) == id)
            return off;
        off = qpci_config_readb(d, off + 1);
    }
    return 0;
}

/* ---- MSI-X (PCI 3.0, 6.8.2) ---- */

bool qpci_msix_init(QPCIDevice *d)
{
    uint8_t cap = qpci_find_cap(d, QPCI_CAP_ID_MSIX, 0);

    d->msix_cap = cap;
    if (!cap)
        return false;
    uint16_t ctrl = qpci_config_readw(d, cap + 2);
    uint32_t table = qpci_config_readl(d, cap + 4);
    uint32_t pba = qpci_config_readl(d, cap + 8);
    d->msix_size = (ctrl & 0x7ff) + 1;
    d->msix_table_bar = table & 7;
    d->msix_table_off = table & ~7u;
    d->msix_pba_bar = pba & 7;
    d->msix_pba_off = pba & ~7u;
    return true;
}

static void msix_ctrl_update(QPCIDevice *d, uint16_t bit, bool on)
{
    if (!d->msix_cap)
        return;
    uint16_t ctrl = qpci_config_readw(d, d->msix_cap + 2);
    ctrl = on ? ctrl | bit : ctrl & ~bit;
    qpci_config_writew(d, d->msix_cap + 2, ctrl);
}

void qpci_msix_enable(QPCIDevice *d, bool on)
{
    msix_ctrl_update(d, QPCI_MSIX_ENABLE, on);
}

void qpci_msix_function_mask(QPCIDevice *d, bool masked)
{
    msix_ctrl_update(d, QPCI_MSIX_FUNC_MASK, masked);
}

static uint64_t msix_entry_off(QPCIDevice *d, unsigned vector)
{
    return d->msix_table_off + 16ull * vector;
}

void qpci_msix_set_entry(QPCIDevice *d, unsigned vector, uint64_t addr, uint32_t data)
{
    uint64_t e = msix_entry_off(d, vector);
    int bar = d->msix_table_bar;

    qpci_io_writel(d, bar, e + 0, (uint32_t)addr);
    qpci_io_writel(d, bar, e + 4, (uint32_t)(addr >> 32));
    qpci_io_writel(d, bar, e + 8, data);
}

void qpci_msix_mask(QPCIDevice *d, unsigned vector, bool masked)
{
    uint64_t e = msix_entry_off(d, vector) + 12;
    uint32_t ctl = qpci_io_readl(d, d->msix_table_bar, e);
    qpci_io_writel(d, d->msix_table_bar, e, masked ? ctl | 1 : ctl & ~1u);
}

bool qpci_msix_masked(QPCIDevice *d, unsigned vector)
{
    return qpci_io_readl(d, d->msix_table_bar, msix_entry_off(d, vector) + 12) & 1;
}

bool qpci_msix_pending(QPCIDevice *d, unsigned vector)
{
    uint32_t w = qpci_io_readl(d, d->msix_pba_bar, d->msix_pba_off + 4 * (vector / 32));
    return (w >> (vector % 32)) & 1;
}

/* ---- INTx through PIIX3 ---- */

unsigned qpci_pirq_of_slot(unsigned slot)
{
    return (slot - 1) & 3;
}

void qpci_intx_route(QPCIDevice *d, unsigned irq)
{
    unsigned pirq = qpci_pirq_of_slot(d->slot);
    /* PIIX3 PIRQRC[A:D] (82371SB datasheet, 2.2.13): bit 7 disables the
     * routing, bits 3:0 name the ISA IRQ. */
    qtest_pci_cfg_write(d->s, 1, 0, 0x60 + pirq, 1, irq & 0x0f);
    uint16_t cmd = qpci_config_readw(d, 0x04);
    qpci_config_writew(d, 0x04, cmd & ~0x400);   /* INTx not disabled */
    qtest_irq_intercept_in(d->s, "ioapic");
}

bool qpci_irq_level(QTestState *s, unsigned irq)
{
    return qtest_get_irq(s, irq);
}

/* ---- machine context ---- */

bool qos_start(QOSState *qs, const QTarget *t, const char *test, const char *fmt, ...)
{
    char *tail = NULL;
    va_list ap;

    memset(qs, 0, sizeof(*qs));
    qs->t = t;
    va_start(ap, fmt);
    if (vasprintf(&tail, fmt, ap) < 0)
        tail = NULL;
    va_end(ap);
    qs->s = qtest_start_target(t, test, "%s", tail ? tail : "");
    free(tail);
    if (!qs->s)
        return false;
    qos_alloc_init(&qs->alloc, 1 << 20, QOS_RAM_SIZE);
    qpci_bus_init(&qs->bus, qs->s);
    return true;
}

void qos_quit(QOSState *qs)
{
    if (qs->s)
        qtest_quit(qs->s);
    qs->s = NULL;
}

bool qos_wait(QOSState *qs, bool (*cond)(QOSState *qs, void *opaque), void *opaque,
              int timeout_ms)
{
    int64_t deadline = host_ms() + timeout_ms;

    for (;;) {
        if (cond(qs, opaque))
            return true;
        if (qtest_broken(qs->s) || host_ms() >= deadline)
            return cond(qs, opaque);
        if (qs->t->has_clock)
            qtest_clock_step(qs->s, 100000);
        else
            usleep(500);
    }
}

/* ---- virtio-pci capabilities (virtio 1.2, 4.1.4) ---- */

uint8_t qvirtio_find_vcap(QVirtioDev *d, uint8_t cfg_type)
{
    uint8_t off = 0;

    for (int i = 0; i < 16; i++) {
        off = qpci_find_cap(&d->pci, 0x09, off);
        if (!off)
            return 0;
        if (qpci_config_readb(&d->pci, off + 3) == cfg_type)
            return off;
    }
    return 0;
}

static void parse_vcap(QVirtioDev *d, QVirtioCap *c, uint8_t cfg_type)
{
    memset(c, 0, sizeof(*c));
    c->cap = qvirtio_find_vcap(d, cfg_type);
    c->bar = -1;
    if (!c->cap)
        return;
    c->bar = qpci_config_readb(&d->pci, c->cap + 4);
    c->offset = qpci_config_readl(&d->pci, c->cap + 8);
    c->length = qpci_config_readl(&d->pci, c->cap + 12);
    if (c->bar > 5)
        c->bar = -1;
}

bool qvirtio_pci_init(QVirtioDev *d, QOSState *qs, unsigned slot)
{
    memset(d, 0, sizeof(*d));
    d->qs = qs;
    d->config_vector = 0xffff;
    if (!qpci_device_init(&d->pci, &qs->bus, slot, 0) ||
        qpci_config_readw(&d->pci, 0x00) != QVIRTIO_VENDOR)
        return false;
    qpci_device_enable(&d->pci);
    parse_vcap(d, &d->common, QVIRTIO_PCI_CAP_COMMON);
    parse_vcap(d, &d->notify, QVIRTIO_PCI_CAP_NOTIFY);
    parse_vcap(d, &d->isr, QVIRTIO_PCI_CAP_ISR);
    parse_vcap(d, &d->device, QVIRTIO_PCI_CAP_DEVICE);
    parse_vcap(d, &d->pci_cfg, QVIRTIO_PCI_CAP_PCI_CFG);
    if (d->notify.cap)
        d->notify_mult = qpci_config_readl(&d->pci, d->notify.cap + 16);
    qpci_msix_init(&d->pci);
    return true;
}

/* ---- common and device config ---- */

#define CAP_ACCESSORS(kind, cap)                                                         \
    uint8_t qvirtio_##kind##_readb(QVirtioDev *d, unsigned off)                         \
    { return qpci_io_readb(&d->pci, d->cap.bar, d->cap.offset + off); }                 \
    uint16_t qvirtio_##kind##_readw(QVirtioDev *d, unsigned off)                        \
    { return qpci_io_readw(&d->pci, d->cap.bar, d->cap.offset + off); }                 \
    uint32_t qvirtio_##kind##_readl(QVirtioDev *d, unsigned off)                        \
    { return qpci_io_readl(&d->pci, d->cap.bar, d->cap.offset + off); }                 \
    uint64_t qvirtio_##kind##_readq(QVirtioDev *d, unsigned off)                        \
    { return qpci_io_readq(&d->pci, d->cap.bar, d->cap.offset + off); }                 \
    void qvirtio_##kind##_writeb(QVirtioDev *d, unsigned off, uint8_t v)                \
    { qpci_io_writeb(&d->pci, d->cap.bar, d->cap.offset + off, v); }                    \
    void qvirtio_##kind##_writel(QVirtioDev *d, unsigned off, uint32_t v)               \
    { qpci_io_writel(&d->pci, d->cap.bar, d->cap.offset + off, v); }

CAP_ACCESSORS(common, common)
CAP_ACCESSORS(config, device)

void qvirtio_common_writew(QVirtioDev *d, unsigned off, uint16_t v)
{
    qpci_io_writew(&d->pci, d->common.bar, d->common.offset + off, v);
}

void qvirtio_common_writeq(QVirtioDev *d, unsigned off, uint64_t v)
{
    qpci_io_writeq(&d->pci, d->common.bar, d->common.offset + off, v);
}

uint8_t qvirtio_get_status(QVirtioDev *d)
{
    return qvirtio_common_readb(d, QVPCI_STATUS);
}

void qvirtio_set_status(QVirtioDev *d, uint8_t status)
{
    qvirtio_common_writeb(d, QVPCI_STATUS, status);
}

static bool status_is_zero(QOSState *qs, void *opaque)
{
    return qvirtio_get_status(opaque) == 0;
}

bool qvirtio_reset(QVirtioDev *d)
{
    qvirtio_set_status(d, 0);
    /* 4.1.4.3.2: the driver waits for device_status to read 0. */
    return qos_wait(d->qs, status_is_zero, d, QOS_TIMEOUT_MS);
}

uint64_t qvirtio_get_features(QVirtioDev *d)
{
    qvirtio_common_writel(d, QVPCI_DFSELECT, 0);
    uint64_t lo = qvirtio_common_readl(d, QVPCI_DF);
    qvirtio_common_writel(d, QVPCI_DFSELECT, 1);
    uint64_t hi = qvirtio_common_readl(d, QVPCI_DF);
    return lo | hi << 32;
}

void qvirtio_set_features(QVirtioDev *d, uint64_t features)
{
    qvirtio_common_writel(d, QVPCI_GFSELECT, 0);
    qvirtio_common_writel(d, QVPCI_GF, (uint32_t)features);
    qvirtio_common_writel(d, QVPCI_GFSELECT, 1);
    qvirtio_common_writel(d, QVPCI_GF, (uint32_t)(features >> 32));
    d->features = features;
}

bool qvirtio_negotiate(QVirtioDev *d, uint64_t wanted)
{
    /* 3.1.1 device initialization sequence. */
    qvirtio_reset(d);
    qvirtio_set_status(d, QVIRTIO_S_ACKNOWLEDGE);
    qvirtio_set_status(d, QVIRTIO_S_ACKNOWLEDGE | QVIRTIO_S_DRIVER);
    qvirtio_set_features(d, qvirtio_get_features(d) & wanted);
    qvirtio_set_status(d, QVIRTIO_S_ACKNOWLEDGE | QVIRTIO_S_DRIVER | QVIRTIO_S_FEATURES_OK);
    return qvirtio_get_status(d) & QVIRTIO_S_FEATURES_OK;
}

void qvirtio_driver_ok(QVirtioDev *d)
{
    qvirtio_set_status(d, qvirtio_get_status(d) | QVIRTIO_S_DRIVER_OK);
}

uint8_t qvirtio_isr(QVirtioDev *d)
{
    return qpci_io_readb(&d->pci, d->isr.bar, d->isr.offset);
}

static void msix_enable_once(QPCIDevice *p)
{
    if (p->msix_cap && !(qpci_config_readw(p, p->msix_cap + 2) & QPCI_MSIX_ENABLE))
        qpci_msix_enable(p, true);
}

uint16_t qvirtio_msix_config(QVirtioDev *d, uint16_t vector)
{
    if (vector != 0xffff && d->pci.msix_cap && vector < d->pci.msix_size) {
        d->config_msix_addr = qos_alloc_zero(d->qs->s, &d->qs->alloc, 4, 4);
        d->config_msix_data = 0xc0f10000u | vector;
        msix_enable_once(&d->pci);
        qpci_msix_set_entry(&d->pci, vector, d->config_msix_addr, d->config_msix_data);
        qpci_msix_mask(&d->pci, vector, false);
    }
    qvirtio_common_writew(d, QVPCI_MSIX_CONFIG, vector);
    d->config_vector = qvirtio_common_readw(d, QVPCI_MSIX_CONFIG);
    return d->config_vector;
}

bool qvirtio_config_msix_fired(QVirtioDev *d)
{
    if (!d->config_msix_addr)
        return false;
    if (qtest_readl(d->qs->s, d->config_msix_addr) != d->config_msix_data)
        return false;
    qtest_writel(d->qs->s, d->config_msix_addr, 0);
    return true;
}

/* ---- legacy I/O BAR0 ---- */

uint32_t qvirtio_legacy_features(QVirtioDev *d)
{
    return qpci_io_readl(&d->pci, 0, QVIRTIO_LEGACY_HOST_FEATURES);
}

uint8_t qvirtio_legacy_get_status(QVirtioDev *d)
{
    return qpci_io_readb(&d->pci, 0, QVIRTIO_LEGACY_STATUS);
}

void qvirtio_legacy_set_status(QVirtioDev *d, uint8_t status)
{
    qpci_io_writeb(&d->pci, 0, QVIRTIO_LEGACY_STATUS, status);
}

/* ---- split virtqueues (virtio 1.2, 2.7) ---- */

bool qvirtqueue_setup(QVirtioDev *d, QVirtQueue *vq, unsigned index, uint16_t size,
                      uint16_t vector)
{
    QTestState *s = d->qs->s;
    QGuestAlloc *a = &d->qs->alloc;

    memset(vq, 0, sizeof(*vq));
    vq->dev = d;
    vq->index = index;
    vq->vector = 0xffff;
    if (index >= qvirtio_common_readw(d, QVPCI_NUM_QUEUES))
        return false;
    qvirtio_common_writew(d, QVPCI_Q_SELECT, index);
    uint16_t max = qvirtio_common_readw(d, QVPCI_Q_SIZE);
    if (!max)
        return false;
    vq->size = size && size < max ? size : max;
    qvirtio_common_writew(d, QVPCI_Q_SIZE, vq->size);

    /* 2.7: desc 16-byte, avail 2-byte, used 4-byte alignment. */
    vq->desc = qos_alloc_zero(s, a, 16ull * vq->size, 4096);
    vq->avail = qos_alloc_zero(s, a, 6 + 2ull * vq->size, 4096);
    vq->used = qos_alloc_zero(s, a, 6 + 8ull * vq->size, 4096);
    qvirtio_common_writeq(d, QVPCI_Q_DESC, vq->desc);
    qvirtio_common_writeq(d, QVPCI_Q_AVAIL, vq->avail);
    qvirtio_common_writeq(d, QVPCI_Q_USED, vq->used);

    if (vector != 0xffff && d->pci.msix_cap && vector < d->pci.msix_size) {
        vq->msix_addr = qos_alloc_zero(s, a, 4, 4);
        vq->msix_data = 0x5eed0000u | (index << 8) | vector;
        msix_enable_once(&d->pci);
        qpci_msix_set_entry(&d->pci, vector, vq->msix_addr, vq->msix_data);
        qpci_msix_mask(&d->pci, vector, false);
    }
    qvirtio_common_writew(d, QVPCI_Q_MSIX, vector);
    vq->vector = qvirtio_common_readw(d, QVPCI_Q_MSIX);
    vq->notify_off = qvirtio_common_readw(d, QVPCI_Q_NOFF);
    vq->notify_addr_off = d->notify.offset + (uint64_t)vq->notify_off * d->notify_mult;
    vq->event_idx = d->features & QVIRTIO_BIT(QVIRTIO_F_EVENT_IDX);
    vq->indirect = d->features & QVIRTIO_BIT(QVIRTIO_F_INDIRECT_DESC);
    qvirtio_common_writew(d, QVPCI_Q_ENABLE, 1);
    return true;
}

struct qdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
} __attribute__((packed));

void qvirtqueue_write_desc(QVirtQueue *vq, uint16_t i, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next)
{
    struct qdesc dsc = { addr, len, flags, next };
    qtest_memwrite(vq->dev->qs->s, vq->desc + 16ull * (i % vq->size), &dsc, sizeof(dsc));
}

/* Descriptors for n buffers into table[] (chained through next). */
static void fill_table(struct qdesc *table, const uint16_t *idx, const QVirtBuf *bufs,
                       unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        table[i].addr = bufs[i].addr;
        table[i].len = bufs[i].len;
        table[i].flags = (bufs[i].write ? QVRING_DESC_F_WRITE : 0) |
                         (i + 1 < n ? QVRING_DESC_F_NEXT : 0);
        table[i].next = i + 1 < n ? idx[i + 1] : 0;
    }
}

uint16_t qvirtqueue_add_chain(QVirtQueue *vq, const QVirtBuf *bufs, unsigned n)
{
    uint16_t idx[256];
    struct qdesc table[256];

    if (n == 0 || n > 256 || n > vq->size)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        idx[i] = vq->free_head;
        vq->free_head = (vq->free_head + 1) % vq->size;
    }
    fill_table(table, idx, bufs, n);
    /* Consecutive indexes (no wrap) go out in one write. */
    if (idx[n - 1] == idx[0] + n - 1) {
        qtest_memwrite(vq->dev->qs->s, vq->desc + 16ull * idx[0], table, 16ull * n);
    } else {
        for (unsigned i = 0; i < n; i++)
            qtest_memwrite(vq->dev->qs->s, vq->desc + 16ull * idx[i], &table[i], 16);
    }
    return idx[0];
}

uint16_t qvirtqueue_add_indirect(QVirtQueue *vq, const QVirtBuf *bufs, unsigned n)
{
    uint16_t idx[256];
    struct qdesc table[256];
    QOSState *qs = vq->dev->qs;

    if (n == 0 || n > 256)
        return 0;
    for (unsigned i = 0; i < n; i++)
        idx[i] = i;
    fill_table(table, idx, bufs, n);
    uint64_t t = qos_alloc(&qs->alloc, 16ull * n, 16);
    qtest_memwrite(qs->s, t, table, 16ull * n);
    uint16_t head = vq->free_head;
    vq->free_head = (vq->free_head + 1) % vq->size;
    qvirtqueue_write_desc(vq, head, t, 16 * n, QVRING_DESC_F_INDIRECT, 0);
    return head;
}

void qvirtqueue_publish(QVirtQueue *vq, uint16_t head)
{
    QTestState *s = vq->dev->qs->s;
    qtest_writew(s, vq->avail + 4 + 2ull * (vq->avail_idx % vq->size), head);
    vq->avail_idx++;
    qtest_writew(s, vq->avail + 2, vq->avail_idx);
}

void qvirtqueue_kick(QVirtQueue *vq)
{
    QVirtioDev *d = vq->dev;
    qpci_io_writew(&d->pci, d->notify.bar, vq->notify_addr_off, vq->index);
}

uint16_t qvirtqueue_submit(QVirtQueue *vq, const QVirtBuf *bufs, unsigned n)
{
    uint16_t head = qvirtqueue_add_chain(vq, bufs, n);
    qvirtqueue_publish(vq, head);
    qvirtqueue_kick(vq);
    return head;
}

uint16_t qvirtqueue_used_idx(QVirtQueue *vq)
{
    return qtest_readw(vq->dev->qs->s, vq->used + 2);
}

uint16_t qvirtqueue_used_flags(QVirtQueue *vq)
{
    return qtest_readw(vq->dev->qs->s, vq->used);
}

bool qvirtqueue_has_used(QVirtQueue *vq)
{
    return qvirtqueue_used_idx(vq) != vq->last_used_idx;
}

bool qvirtqueue_get_used(QVirtQueue *vq, uint32_t *id, uint32_t *len)
{
    uint32_t elem[2];

    if (!qvirtqueue_has_used(vq))
        return false;
    qtest_memread(vq->dev->qs->s, vq->used + 4 + 8ull * (vq->last_used_idx % vq->size), elem,
                  sizeof(elem));
    vq->last_used_idx++;
    if (id)
        *id = elem[0];
    if (len)
        *len = elem[1];
    return true;
}

static bool has_used_cond(QOSState *qs, void *opaque)
{
    return qvirtqueue_has_used(opaque);
}

bool qvirtqueue_wait_used(QVirtQueue *vq, uint32_t *id, uint32_t *len, int timeout_ms)
{
    if (!qos_wait(vq->dev->qs, has_used_cond, vq, timeout_ms))
        return false;
    return qvirtqueue_get_used(vq, id, len);
}

struct used_n { QVirtQueue *vq; uint16_t n; };

static bool used_n_cond(QOSState *qs, void *opaque)
{
    struct used_n *u = opaque;
    return (uint16_t)(qvirtqueue_used_idx(u->vq) - u->vq->last_used_idx) >= u->n;
}

bool qvirtqueue_wait_used_n(QVirtQueue *vq, uint16_t n, int timeout_ms)
{
    struct used_n u = { vq, n };
    return qos_wait(vq->dev->qs, used_n_cond, &u, timeout_ms);
}

void qvirtqueue_set_avail_flags(QVirtQueue *vq, uint16_t flags)
{
    qtest_writew(vq->dev->qs->s, vq->avail, flags);
}

void qvirtqueue_set_used_event(QVirtQueue *vq, uint16_t idx)
{
    qtest_writew(vq->dev->qs->s, vq->avail + 4 + 2ull * vq->size, idx);
}

uint16_t qvirtqueue_avail_event(QVirtQueue *vq)
{
    return qtest_readw(vq->dev->qs->s, vq->used + 4 + 8ull * vq->size);
}

bool qvirtqueue_msix_fired(QVirtQueue *vq)
{
    QTestState *s = vq->dev->qs->s;
    if (!vq->msix_addr || qtest_readl(s, vq->msix_addr) != vq->msix_data)
        return false;
    qtest_writel(s, vq->msix_addr, 0);
    return true;
}

static bool msix_cond(QOSState *qs, void *opaque)
{
    return qvirtqueue_msix_fired(opaque);
}

bool qvirtqueue_wait_msix(QVirtQueue *vq, int timeout_ms)
{
    return qos_wait(vq->dev->qs, msix_cond, vq, timeout_ms);
}

/* ---- virtio-blk (virtio 1.2, 5.2.6) ---- */

static bool blk_type_writes_data(uint32_t type)
{
    return type == QVIRTIO_BLK_T_IN || type == QVIRTIO_BLK_T_GET_ID;
}

void qvirtio_blk_prepare(QVirtQueue *vq, QVirtioBlkReq *r, uint32_t type, uint64_t sector,
                         const void *data, uint32_t len, bool indirect)
{
    QOSState *qs = vq->dev->qs;
    struct { uint32_t type, reserved; uint64_t sector; } __attribute__((packed)) hdr = {
        type, 0, sector };
    QVirtBuf bufs[3];
    unsigned n = 0;
    uint8_t ff = 0xff;

    memset(r, 0, sizeof(*r));
    r->hdr = qos_alloc(&qs->alloc, sizeof(hdr), 16);
    qtest_memwrite(qs->s, r->hdr, &hdr, sizeof(hdr));
    bufs[n++] = (QVirtBuf){ r->hdr, sizeof(hdr), false };
    if (len) {
        r->data = qos_alloc(&qs->alloc, len, 512);
        r->data_len = len;
        bool in = blk_type_writes_data(type);
        if (!in && data)
            qtest_bufwrite(qs->s, r->data, data, len);
        bufs[n++] = (QVirtBuf){ r->data, len, in };
    }
    r->status = qos_alloc(&qs->alloc, 1, 1);
    qtest_memwrite(qs->s, r->status, &ff, 1);
    bufs[n++] = (QVirtBuf){ r->status, 1, true };
    r->head = indirect ? qvirtqueue_add_indirect(vq, bufs, n) : qvirtqueue_add_chain(vq, bufs, n);
    qvirtqueue_publish(vq, r->head);
}

uint8_t qvirtio_blk_status(QVirtQueue *vq, const QVirtioBlkReq *r)
{
    return qtest_readb(vq->dev->qs->s, r->status);
}

int qvirtio_blk_rw(QVirtQueue *vq, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    QVirtioBlkReq r;
    uint64_t mark = vq->dev->qs->alloc.next;

    qvirtio_blk_prepare(vq, &r, type, sector, buf, len, false);
    qvirtqueue_kick(vq);
    if (!qvirtqueue_wait_used(vq, NULL, NULL, QOS_TIMEOUT_MS))
        return -1;
    if (blk_type_writes_data(type) && buf && len)
        qtest_bufread(vq->dev->qs->s, r.data, buf, len);
    int status = qvirtio_blk_status(vq, &r);
    /* The request is done: its buffers can be reused. */
    vq->dev->qs->alloc.next = mark;
    return status;
}

uint8_t qos_pattern_byte(uint64_t off)
{
    return (uint8_t)((off >> 9) * 37 + (off & 511) * 3 + 1);
}

char *qos_make_image(size_t size)
{
    char *path = qtest_tmp_path(".img");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    uint8_t sector[512];

    if (fd < 0) {
        free(path);
        return NULL;
    }
    for (size_t off = 0; off < size; off += sizeof(sector)) {
        size_t n = size - off < sizeof(sector) ? size - off : sizeof(sector);
        for (size_t i = 0; i < n; i++)
            sector[i] = qos_pattern_byte(off + i);
        if (pwrite(fd, sector, n, off) != (ssize_t)n) {
            close(fd);
            unlink(path);
            free(path);
            return NULL;
        }
    }
    close(fd);
    return path;
}

bool qos_start_blk(QOSState *qs, const QTarget *t, const char *test, const char *img,
                   const char *drive_opts, const char *dev_opts, const char *extra)
{
    return qos_start(qs, t, test,
                     "-drive file=%s,if=none,id=d0,format=raw%s "
                     "-device virtio-blk-pci,drive=d0,addr=4%s %s",
                     img, drive_opts ? drive_opts : "", dev_opts ? dev_opts : "",
                     extra ? extra : "");
}

bool qvirtio_blk_setup(QVirtioDev *d, QVirtQueue *vq, QOSState *qs, unsigned slot,
                       uint64_t wanted, uint16_t vector)
{
    if (!qvirtio_pci_init(d, qs, slot) || !d->common.cap)
        return false;
    if (!qvirtio_negotiate(d, wanted | QVIRTIO_BIT(QVIRTIO_F_VERSION_1)))
        return false;
    if (!qvirtqueue_setup(d, vq, 0, 0, vector))
        return false;
    qvirtio_driver_ok(d);
    return true;
}
