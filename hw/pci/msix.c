/*
 * MSI-X (PCI Local Bus Spec 3.0, 6.8.2): the capability in config space,
 * and the vector table and pending bit array (PBA) in a memory BAR of
 * their own.  A vector is delivered through the accelerator's MsiBackend:
 * an irqfd bound to an MSI route when it has one (KVM), else msi_send.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hw.h"
#include "pci.h"
#include "util.h"
#include "vmstate.h"

/* Capability layout (6.8.2.1 - 6.8.2.5). */
#define MSIX_CAP_LEN 12
#define MSIX_CTRL 2             /* message control */
#define  MSIX_CTRL_FMASK 0x4000 /* Function Mask */
#define  MSIX_CTRL_ENABLE 0x8000
#define MSIX_TABLE 4            /* table offset | BIR */
#define MSIX_PBA 8              /* PBA offset | BIR */

/* Table entry layout (6.8.2.6 - 6.8.2.9). */
#define ENTRY_SIZE 16
#define ENTRY_ADDR_LO 0
#define ENTRY_ADDR_HI 4
#define ENTRY_DATA 8
#define ENTRY_CTRL 12
#define  ENTRY_CTRL_MASKED 0x1

#define MSIX_MAX_VECTORS 2048
#define MSIX_MIN_BAR 4096

/* The irqfd fast path for one vector, made on its first delivery. */
typedef struct MsixRoute {
    int gsi;                /* -1: none yet */
    int fd;                 /* eventfd bound to gsi */
    uint64_t addr;          /* message the route was made with */
    uint32_t data;
} MsixRoute;

typedef struct MsixState {
    PCIDevice *dev;
    unsigned nvectors;
    uint8_t cap;            /* config space offset of the capability */
    uint64_t pba_off;       /* in the BAR */
    uint8_t *table;         /* nvectors * ENTRY_SIZE, little endian */
    uint8_t *pba;           /* one bit per vector, 8-byte granules */
    size_t pba_len;
    MsixRoute *routes;
    bool was_active;        /* enabled and unmasked at the last control write */
} MsixState;

/* ---- little-endian helpers ---- */

static uint32_t get32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static uint16_t control(const MsixState *s)
{
    return s->dev->config[s->cap + MSIX_CTRL] | s->dev->config[s->cap + MSIX_CTRL + 1] << 8;
}

static uint8_t *entry(MsixState *s, unsigned v)
{
    return s->table + (size_t)v * ENTRY_SIZE;
}

static uint64_t entry_addr(MsixState *s, unsigned v)
{
    return get32(entry(s, v) + ENTRY_ADDR_LO) | (uint64_t)get32(entry(s, v) + ENTRY_ADDR_HI) << 32;
}

static uint32_t entry_data(MsixState *s, unsigned v)
{
    return get32(entry(s, v) + ENTRY_DATA);
}

static bool entry_masked(MsixState *s, unsigned v)
{
    return get32(entry(s, v) + ENTRY_CTRL) & ENTRY_CTRL_MASKED;
}

static bool pending(const MsixState *s, unsigned v)
{
    return s->pba[v / 8] & (1u << (v % 8));
}

static void set_pending(MsixState *s, unsigned v, bool on)
{
    if (on)
        s->pba[v / 8] |= 1u << (v % 8);
    else
        s->pba[v / 8] &= ~(1u << (v % 8));
}

static bool enable_bit(const MsixState *s)
{
    return control(s) & MSIX_CTRL_ENABLE;
}

/* Enabled and the whole function unmasked: vectors may fire. */
static bool active(const MsixState *s)
{
    return (control(s) & (MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK)) == MSIX_CTRL_ENABLE;
}

/* ---- delivery ---- */

static void route_drop(MsixRoute *r)
{
    const MsiBackend *b = msi_backend();
    if (r->gsi >= 0) {
        if (b->irqfd && r->fd >= 0)
            b->irqfd(b->opaque, r->gsi, r->fd, false);
        if (b->route_del)
            b->route_del(b->opaque, r->gsi);
    }
    if (r->fd >= 0)
        close(r->fd);
    r->gsi = r->fd = -1;
}

/* Make the route and its bound eventfd; false when the backend refuses. */
static bool route_make(MsixRoute *r, uint64_t addr, uint32_t data)
{
    const MsiBackend *b = msi_backend();
    r->gsi = b->route_add(b->opaque, addr, data);
    if (r->gsi < 0)
        return false;
    r->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->fd < 0 || b->irqfd(b->opaque, r->gsi, r->fd, true) < 0) {
        if (r->fd >= 0)
            close(r->fd);
        r->fd = -1;
        if (b->route_del)
            b->route_del(b->opaque, r->gsi);
        r->gsi = -1;
        return false;
    }
    r->addr = addr;
    r->data = data;
    return true;
}

/* Signal through the irqfd; false to fall back to msi_send. */
static bool deliver_irqfd(MsixState *s, unsigned v, uint64_t addr, uint32_t data)
{
    const MsiBackend *b = msi_backend();
    MsixRoute *r = &s->routes[v];
    if (!b->route_add || !b->irqfd)
        return false;
    if (r->gsi < 0 && !route_make(r, addr, data))
        return false;
    if (r->addr != addr || r->data != data) {
        if (!b->route_update || b->route_update(b->opaque, r->gsi, addr, data) < 0) {
            route_drop(r);
            if (!route_make(r, addr, data))
                return false;
        }
        r->addr = addr;
        r->data = data;
    }
    uint64_t one = 1;
    return write(r->fd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN;
}

static void deliver(MsixState *s, unsigned v)
{
    uint64_t addr = entry_addr(s, v);
    uint32_t data = entry_data(s, v);
    if (!deliver_irqfd(s, v, addr, data))
        msi_send(addr, data);
}

/* 6.8.2.9: a vector unmasked with its pending bit set is sent now. */
static void deliver_pending(MsixState *s, unsigned v)
{
    if (active(s) && !entry_masked(s, v) && pending(s, v)) {
        set_pending(s, v, false);
        deliver(s, v);
    }
}

static void deliver_all_pending(MsixState *s)
{
    for (unsigned v = 0; v < s->nvectors; v++)
        deliver_pending(s, v);
}

/* ---- the BAR: table at 0, PBA at pba_off ---- */

static bool in_range(uint64_t off, unsigned size, uint64_t base, uint64_t len)
{
    return off >= base && off - base < len && size <= len - (off - base);
}

static uint64_t read_bytes(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t msix_bar_read(void *opaque, uint64_t off, unsigned size)
{
    MsixState *s = opaque;
    if (size > 8)
        return 0;
    if (in_range(off, size, 0, (uint64_t)s->nvectors * ENTRY_SIZE))
        return read_bytes(s->table + off, size);
    if (in_range(off, size, s->pba_off, s->pba_len))
        return read_bytes(s->pba + (off - s->pba_off), size);
    /* Reserved space reads as zero, like QEMU's. */
    return 0;
}

static void table_write32(MsixState *s, uint64_t off, uint32_t val)
{
    unsigned v = off / ENTRY_SIZE;
    bool was_masked = entry_masked(s, v);
    put32(s->table + off, val);
    /* Only the mask bit of the vector control is defined (6.8.2.9). */
    if (off % ENTRY_SIZE == ENTRY_CTRL)
        put32(s->table + off, val & ENTRY_CTRL_MASKED);
    if (was_masked && !entry_masked(s, v))
        deliver_pending(s, v);
}

static void msix_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    MsixState *s = opaque;
    bool aligned = (size == 4 || size == 8) && off % size == 0;
    if (aligned && in_range(off, size, 0, (uint64_t)s->nvectors * ENTRY_SIZE)) {
        table_write32(s, off, val);
        if (size == 8)
            table_write32(s, off + 4, val >> 32);
        return;
    }
    if (in_range(off, size, s->pba_off, s->pba_len)) {
        guest_error("%s: MSI-X PBA is read-only (write at 0x%" PRIx64 ")", s->dev->name, off);
        return;
    }
    guest_error("%s: MSI-X BAR write ignored: offset 0x%" PRIx64 " size %u", s->dev->name, off,
                size);
}

static const MemOps msix_bar_ops = { .read = msix_bar_read, .write = msix_bar_write };

/* ---- setup and config space ---- */

static void set_config32(PCIDevice *d, unsigned off, uint32_t v)
{
    put32(&d->config[off], v);
}

void msix_uninit(PCIDevice *d)
{
    MsixState *s = d->msix;
    if (!s)
        return;
    free(s->table);
    free(s->pba);
    free(s->routes);
    free(s);
    d->msix = NULL;
}

int msix_init_exclusive_bar(PCIDevice *d, unsigned nvectors, int bar)
{
    if (nvectors < 1 || nvectors > MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_NUM_BARS) {
        error_report("%s: invalid MSI-X setup (%u vectors, BAR %d)", d->name, nvectors, bar);
        return -1;
    }
    uint8_t cap = pci_add_capability(d, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
    if (!cap) {
        error_report("%s: no room in config space for the MSI-X capability", d->name);
        return -1;
    }
    MsixState *s = xzalloc(sizeof(*s));
    s->dev = d;
    s->nvectors = nvectors;
    s->cap = cap;
    s->table = xzalloc((size_t)nvectors * ENTRY_SIZE);
    s->pba_len = (nvectors + 63) / 64 * 8;
    s->pba = xzalloc(s->pba_len);
    s->routes = xzalloc(nvectors * sizeof(*s->routes));
    for (unsigned v = 0; v < nvectors; v++)
        s->routes[v] = (MsixRoute){ .gsi = -1, .fd = -1 };

    /* Table in the first half, PBA in the second: 4 KiB up to 128 vectors. */
    uint64_t bar_size = MSIX_MIN_BAR;
    while (bar_size / 2 < (uint64_t)nvectors * ENTRY_SIZE)
        bar_size *= 2;
    s->pba_off = bar_size / 2;

    d->config[cap + MSIX_CTRL] = (nvectors - 1) & 0xff;
    d->config[cap + MSIX_CTRL + 1] = (nvectors - 1) >> 8;
    d->wmask[cap + MSIX_CTRL + 1] = (MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK) >> 8;
    set_config32(d, cap + MSIX_TABLE, 0 | bar);
    set_config32(d, cap + MSIX_PBA, (uint32_t)s->pba_off | bar);
    d->msix = s;
    pci_register_bar(d, bar, bar_size, 0, &msix_bar_ops, s);
    msix_reset(d);
    return 0;
}

bool msix_present(const PCIDevice *d)
{
    return d->msix != NULL;
}

bool msix_enabled(const PCIDevice *d)
{
    return d->msix && active(d->msix);
}

bool msix_enable_set(const PCIDevice *d)
{
    return d->msix && enable_bit(d->msix);
}

unsigned msix_nvectors(const PCIDevice *d)
{
    return d->msix ? d->msix->nvectors : 0;
}

bool msix_vector_masked(const PCIDevice *d, unsigned vector)
{
    MsixState *s = d->msix;
    if (!s || vector >= s->nvectors)
        return true;
    return entry_masked(s, vector) || (control(s) & MSIX_CTRL_FMASK);
}

bool msix_vector_pending(const PCIDevice *d, unsigned vector)
{
    const MsixState *s = d->msix;
    return s && vector < s->nvectors && pending(s, vector);
}

void msix_notify(PCIDevice *d, unsigned vector)
{
    MsixState *s = d->msix;
    if (!s || vector >= s->nvectors || !enable_bit(s))
        return;
    if (!active(s) || entry_masked(s, vector)) {
        set_pending(s, vector, true);
        return;
    }
    deliver(s, vector);
}

void msix_reset(PCIDevice *d)
{
    MsixState *s = d->msix;
    if (!s)
        return;
    d->config[s->cap + MSIX_CTRL + 1] &= ~((MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK) >> 8);
    memset(s->table, 0, (size_t)s->nvectors * ENTRY_SIZE);
    for (unsigned v = 0; v < s->nvectors; v++)
        put32(entry(s, v) + ENTRY_CTRL, ENTRY_CTRL_MASKED);
    memset(s->pba, 0, s->pba_len);
    s->was_active = false;
}

void msix_config_written(PCIDevice *d, uint32_t addr, unsigned len)
{
    MsixState *s = d->msix;
    uint32_t ctrl = s ? s->cap + MSIX_CTRL : 0;
    if (!s || addr >= ctrl + 2 || addr + len <= ctrl)
        return;
    bool now = active(s);
    /* With MSI-X on, the function must not use INTx (6.8.2). */
    if (enable_bit(s) && d->intx_level)
        pci_set_irq(d, 0);
    if (now && !s->was_active)
        deliver_all_pending(s);
    s->was_active = now;
}

/* ---- migration ---- */

void msix_save(MigStream *st, PCIDevice *d)
{
    MsixState *s = d->msix;
    mig_put_be32(st, s ? s->nvectors : 0);
    if (!s)
        return;
    mig_put_buf(st, s->table, (size_t)s->nvectors * ENTRY_SIZE);
    mig_put_buf(st, s->pba, s->pba_len);
}

int msix_load(MigStream *st, PCIDevice *d)
{
    MsixState *s = d->msix;
    uint32_t n = mig_get_be32(st);
    if (mig_stream_error(st))
        return -1;
    if (n != (s ? s->nvectors : 0))
        return mig_stream_set_error(st, "%s: %u MSI-X vectors in the stream, %u here", d->name,
                                    n, s ? s->nvectors : 0);
    if (!s)
        return 0;
    if (mig_get_buf(st, s->table, (size_t)n * ENTRY_SIZE) < 0 ||
        mig_get_buf(st, s->pba, s->pba_len) < 0)
        return -1;
    /* Only the mask bit of a vector control exists (6.8.2.9); pending bits
     * beyond the last vector do not. */
    for (unsigned v = 0; v < n; v++)
        put32(entry(s, v) + ENTRY_CTRL, get32(entry(s, v) + ENTRY_CTRL) & ENTRY_CTRL_MASKED);
    for (unsigned v = n; v < s->pba_len * 8; v++)
        set_pending(s, v, false);
    return 0;
}

/*
 * Routes to the accelerator are made lazily on a vector's first delivery
 * and re-made when its message differs, so a loaded table needs none now;
 * only the edge detector for "became active" must match the loaded
 * control word, or the next control write would flush the PBA twice.
 */
void msix_post_load(PCIDevice *d)
{
    MsixState *s = d->msix;
    if (s)
        s->was_active = active(s);
}
