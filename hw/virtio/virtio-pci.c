/*
 * virtio over PCI (virtio 1.2, 4.1), laid out as QEMU 7.2 lays out a
 * virtio-*-pci function on i440fx so that guests and firmware see the same
 * device:
 *   BAR0  legacy I/O registers (4.1.4.8), transitional devices only
 *   BAR1  MSI-X table and PBA, when vectors > 0
 *   BAR4  64-bit prefetchable memory, 16 KiB: common config at 0x0000,
 *         ISR at 0x1000, device config at 0x2000, notify at 0x3000
 *         (notify_off_multiplier 4: queue i at 0x3000 + 4 * i)
 * Capabilities at 0x40 common, 0x50 ISR, 0x60 device, 0x70 notify,
 * 0x84 PCI config access window, 0x98 MSI-X.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices.h"
#include "hw.h"
#include "pci.h"
#include "util.h"
#include "virtio.h"
#include "vmstate.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_LEGACY 0x1000   /* transitional: see transitional_device_id */
#define VIRTIO_PCI_DEVICE_MODERN 0x1040   /* + id, modern only */

#define MSIX_BAR 1
#define MODERN_BAR 4
#define LEGACY_BAR 0

/* BAR4 regions (QEMU's 0x1000 each). */
#define REGION_SIZE 0x1000
#define COMMON_OFF 0x0000
#define ISR_OFF 0x1000
#define DEVICE_OFF 0x2000
#define NOTIFY_OFF 0x3000
#define MODERN_BAR_SIZE 0x4000
#define NOTIFY_MULT 4

/* 4.1.4 vendor capability: struct virtio_pci_cap */
#define PCI_CAP_ID_VNDR 0x09
#define CAP_LEN 2
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_NOTIFY_MULT 16        /* virtio_pci_notify_cap */
#define CAP_PCI_CFG_DATA 16       /* virtio_pci_cfg_cap */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* 4.1.4.3 common configuration structure */
#define COMMON_DFSELECT 0x00
#define COMMON_DF 0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF 0x0c
#define COMMON_MSIX 0x10
#define COMMON_NUMQ 0x12
#define COMMON_STATUS 0x14
#define COMMON_CFGGEN 0x15
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE 0x18
#define COMMON_Q_MSIX 0x1a
#define COMMON_Q_ENABLE 0x1c
#define COMMON_Q_NOFF 0x1e
#define COMMON_Q_DESCLO 0x20
#define COMMON_Q_DESCHI 0x24
#define COMMON_Q_AVAILLO 0x28
#define COMMON_Q_AVAILHI 0x2c
#define COMMON_Q_USEDLO 0x30
#define COMMON_Q_USEDHI 0x34

/* 4.1.4.8 legacy interface registers */
#define LEGACY_HOST_FEATURES 0x00
#define LEGACY_GUEST_FEATURES 0x04
#define LEGACY_QUEUE_PFN 0x08
#define LEGACY_QUEUE_NUM 0x0c
#define LEGACY_QUEUE_SEL 0x0e
#define LEGACY_QUEUE_NOTIFY 0x10
#define LEGACY_STATUS 0x12
#define LEGACY_ISR 0x13
#define LEGACY_MSI_CONFIG 0x14
#define LEGACY_MSI_QUEUE 0x16
#define LEGACY_HEADER 20
#define LEGACY_HEADER_MSIX 24
#define LEGACY_PFN_SHIFT 12
#define LEGACY_ALIGN 4096
#define LEGACY_BAD_FEATURE (1u << 30)

typedef struct VirtioPci {
    PCIDevice pci;
    VirtIODevice *vdev;
    VirtioPciConfig cfg;
    bool legacy, modern;
    uint32_t dfselect, gfselect;
    uint16_t queue_sel;
    uint8_t cfg_cap;            /* the PCI_CFG capability's offset, 0 if none */
    /* Where the queue kick ioeventfds are registered (PCI_BAR_UNMAPPED: not). */
    uint64_t kick_mem_base, kick_io_base;
} VirtioPci;

static VirtioPci *proxy_of(VirtIODevice *vdev)
{
    return vdev->transport.opaque;
}

PCIDevice *virtio_pci_device(VirtIODevice *vdev)
{
    VirtioPci *p = proxy_of(vdev);
    return p ? &p->pci : NULL;
}

static uint64_t le_bytes(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *b, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        b[i] = v >> (8 * i);
}

static VirtQueue *selected_queue(VirtioPci *p)
{
    return p->queue_sel < p->vdev->nvqs ? &p->vdev->vq[p->queue_sel] : NULL;
}

/* ---- interrupts ---- */

static void transport_notify(VirtIODevice *vdev, uint16_t vector)
{
    VirtioPci *p = proxy_of(vdev);
    /* With MSI-X enabled the function never uses INTx (PCI 3.0, 6.8.2). */
    if (msix_enable_set(&p->pci)) {
        if (vector != VIRTIO_NO_VECTOR)
            msix_notify(&p->pci, vector);
        return;
    }
    pci_set_irq(&p->pci, 1);
}

/* 4.1.4.5: reading the ISR returns and clears it, deasserting INTx. */
static uint8_t isr_read_clear(VirtioPci *p)
{
    uint8_t v = p->vdev->isr;
    p->vdev->isr = 0;
    pci_set_irq(&p->pci, 0);
    return v;
}

/* A vector the driver chose: kept when it exists, else NO_VECTOR reads back. */
static uint16_t valid_vector(VirtioPci *p, uint16_t v)
{
    return v < msix_nvectors(&p->pci) ? v : VIRTIO_NO_VECTOR;
}

/* ---- queue kicks through ioeventfd ---- */

static bool kicks_wanted(const VirtioPci *p)
{
    return p->cfg.ioeventfd && ioeventfd_available();
}

static void kick_read(void *opaque)
{
    VirtQueue *vq = opaque;
    uint64_t cnt;
    if (read(vq->kick_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
        return;
    virtio_queue_notify(vq->vdev, vq->index);
}

static void kick_bind(VirtioPci *p, VirtQueue *vq, bool assign)
{
    int (*fn)(bool, uint64_t, unsigned, bool, uint64_t, int) =
        assign ? ioeventfd_assign : ioeventfd_deassign;
    if (p->kick_mem_base != PCI_BAR_UNMAPPED)
        fn(false, p->kick_mem_base + NOTIFY_OFF + NOTIFY_MULT * vq->index, 2, false, 0,
           vq->kick_fd);
    if (p->kick_io_base != PCI_BAR_UNMAPPED)
        fn(true, p->kick_io_base + LEGACY_QUEUE_NOTIFY, 2, true, vq->index, vq->kick_fd);
}

static void kick_start(VirtioPci *p, VirtQueue *vq)
{
    if (!kicks_wanted(p) || vq->kick_fd >= 0)
        return;
    vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vq->kick_fd < 0)
        return;   /* the notify write ops handle kicks instead */
    main_loop_set_fd_handler(vq->kick_fd, kick_read, NULL, vq);
    kick_bind(p, vq, true);
}

static void kick_stop(VirtioPci *p, VirtQueue *vq)
{
    if (vq->kick_fd < 0)
        return;
    kick_bind(p, vq, false);
    main_loop_set_fd_handler(vq->kick_fd, NULL, NULL, NULL);
    close(vq->kick_fd);
    vq->kick_fd = -1;
}

static void kicks_stop_all(VirtioPci *p)
{
    for (unsigned i = 0; i < p->vdev->nvqs; i++)
        kick_stop(p, &p->vdev->vq[i]);
}

/* BAR0 or BAR4 moved: move every queue's ioeventfd with it. */
static void bar_moved(PCIDevice *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
    VirtioPci *p = d->opaque;
    if (bar != MODERN_BAR && bar != LEGACY_BAR)
        return;
    VirtIODevice *vdev = p->vdev;
    for (unsigned i = 0; i < vdev->nvqs; i++)
        if (vdev->vq[i].kick_fd >= 0)
            kick_bind(p, &vdev->vq[i], false);
    if (bar == MODERN_BAR && p->modern)
        p->kick_mem_base = new_addr;
    if (bar == LEGACY_BAR && p->legacy)
        p->kick_io_base = new_addr;
    for (unsigned i = 0; i < vdev->nvqs; i++)
        if (vdev->vq[i].kick_fd >= 0)
            kick_bind(p, &vdev->vq[i], true);
}

/* ---- status and reset ---- */

static void device_reset(VirtioPci *p)
{
    kicks_stop_all(p);
    virtio_reset(p->vdev);
    p->dfselect = p->gfselect = 0;
    p->queue_sel = 0;
    pci_set_irq(&p->pci, 0);
}

static void set_status(VirtioPci *p, uint8_t status)
{
    if (status == 0) {
        device_reset(p);
        return;
    }
    virtio_set_status(p->vdev, status);
}

static void pci_reset_hook(PCIDevice *d)
{
    device_reset(d->opaque);
}

static void queue_enable(VirtioPci *p, VirtQueue *vq)
{
    vq->enabled = true;
    kick_start(p, vq);
}

static void queue_disable(VirtioPci *p, VirtQueue *vq)
{
    kick_stop(p, vq);
    vq->enabled = false;
}

/* ---- modern: common configuration (4.1.4.3) ---- */

static uint64_t queue_field_read(VirtioPci *p, uint64_t off)
{
    VirtQueue *vq = selected_queue(p);
    if (!vq) {
        /* No such queue: size 0 says so; the rest reads as QEMU's does. */
        if (off == COMMON_Q_MSIX)
            return VIRTIO_NO_VECTOR;
        return off == COMMON_Q_NOFF ? p->queue_sel : 0;
    }
    switch (off) {
    case COMMON_Q_SIZE: return vq->num;
    case COMMON_Q_MSIX: return vq->vector;
    case COMMON_Q_ENABLE: return vq->enabled;
    case COMMON_Q_NOFF: return vq->index;
    case COMMON_Q_DESCLO: return (uint32_t)vq->desc;
    case COMMON_Q_DESCHI: return vq->desc >> 32;
    case COMMON_Q_AVAILLO: return (uint32_t)vq->avail;
    case COMMON_Q_AVAILHI: return vq->avail >> 32;
    case COMMON_Q_USEDLO: return (uint32_t)vq->used;
    case COMMON_Q_USEDHI: return vq->used >> 32;
    }
    return 0;
}

static uint64_t common_read(VirtioPci *p, uint64_t off, unsigned size)
{
    VirtIODevice *vdev = p->vdev;
    switch (off) {
    case COMMON_DFSELECT: return p->dfselect;
    case COMMON_DF:
        return p->dfselect < 2 ? (uint32_t)(vdev->host_features >> (32 * p->dfselect)) : 0;
    case COMMON_GFSELECT: return p->gfselect;
    case COMMON_GF:
        return p->gfselect < 2 ? (uint32_t)(vdev->guest_features >> (32 * p->gfselect)) : 0;
    case COMMON_MSIX: return vdev->config_vector;
    case COMMON_NUMQ: return vdev->nvqs;
    case COMMON_STATUS: return vdev->status;
    case COMMON_CFGGEN: return vdev->config_generation;
    case COMMON_Q_SELECT: return p->queue_sel;
    }
    return queue_field_read(p, off);
}

static void set_lo(uint64_t *v, uint32_t lo)
{
    *v = (*v & ~0xffffffffULL) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
    *v = (*v & 0xffffffffULL) | (uint64_t)hi << 32;
}

static void queue_size_write(VirtioPci *p, VirtQueue *vq, uint16_t val)
{
    if (val == 0 || val > vq->num_max || (val & (val - 1))) {
        guest_error("%s: queue %u: size %u refused (max %u, power of 2)", p->pci.name,
                    vq->index, val, vq->num_max);
        return;
    }
    vq->num = val;
}

static void queue_field_write(VirtioPci *p, uint64_t off, uint32_t val)
{
    VirtQueue *vq = selected_queue(p);
    if (!vq) {
        guest_error("%s: write to queue %u of %u", p->pci.name, p->queue_sel, p->vdev->nvqs);
        return;
    }
    if (off == COMMON_Q_MSIX) {
        vq->vector = valid_vector(p, val);
        return;
    }
    /* 4.1.4.3.2: the rest may only change while the queue is disabled. */
    if (vq->enabled) {
        guest_error("%s: queue %u: write at 0x%" PRIx64 " while enabled", p->pci.name,
                    vq->index, off);
        return;
    }
    switch (off) {
    case COMMON_Q_SIZE: queue_size_write(p, vq, val); break;
    case COMMON_Q_ENABLE:
        if (val == 1)
            queue_enable(p, vq);
        break;
    case COMMON_Q_DESCLO: set_lo(&vq->desc, val); break;
    case COMMON_Q_DESCHI: set_hi(&vq->desc, val); break;
    case COMMON_Q_AVAILLO: set_lo(&vq->avail, val); break;
    case COMMON_Q_AVAILHI: set_hi(&vq->avail, val); break;
    case COMMON_Q_USEDLO: set_lo(&vq->used, val); break;
    case COMMON_Q_USEDHI: set_hi(&vq->used, val); break;
    default:
        guest_error("%s: write to read-only common config 0x%" PRIx64, p->pci.name, off);
    }
}

static void guest_features_write(VirtioPci *p, uint32_t val)
{
    VirtIODevice *vdev = p->vdev;
    /* 3.1.1: features are fixed once FEATURES_OK is set. */
    if (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK) {
        guest_error("%s: driver features written after FEATURES_OK", p->pci.name);
        return;
    }
    if (p->gfselect == 0)
        set_lo(&vdev->guest_features, val);
    else if (p->gfselect == 1)
        set_hi(&vdev->guest_features, val);
}

static void common_write(VirtioPci *p, uint64_t off, unsigned size, uint32_t val)
{
    VirtIODevice *vdev = p->vdev;
    switch (off) {
    case COMMON_DFSELECT: p->dfselect = val; break;
    case COMMON_GFSELECT: p->gfselect = val; break;
    case COMMON_GF: guest_features_write(p, val); break;
    case COMMON_MSIX: vdev->config_vector = valid_vector(p, val); break;
    case COMMON_STATUS: set_status(p, val); break;
    case COMMON_Q_SELECT: p->queue_sel = val; break;
    default: queue_field_write(p, off, val); break;
    }
}

/* ---- modern: device config, notify and the BAR ---- */

static uint64_t config_read(VirtIODevice *vdev, uint64_t off, unsigned size)
{
    /* Past the end reads as all ones, as on QEMU. */
    if (off >= vdev->config_len || size > vdev->config_len - off)
        return size >= 8 ? UINT64_MAX : (1ULL << (8 * size)) - 1;
    if (vdev->ops->get_config)
        vdev->ops->get_config(vdev);
    return le_bytes(vdev->config + off, size);
}

static void config_write(VirtioPci *p, uint64_t off, unsigned size, uint64_t val)
{
    VirtIODevice *vdev = p->vdev;
    if (off >= vdev->config_len || size > vdev->config_len - off) {
        guest_error("%s: config write out of range: 0x%" PRIx64 "+%u", p->pci.name, off, size);
        return;
    }
    if (!vdev->ops->set_config)
        return;   /* read-only config space */
    put_le(vdev->config + off, size, val);
    vdev->ops->set_config(vdev, off, size);
}

static uint64_t modern_read(void *opaque, uint64_t off, unsigned size)
{
    VirtioPci *p = opaque;
    if (size > 4 && off < DEVICE_OFF)
        return 0;
    if (off < ISR_OFF)
        return common_read(p, off - COMMON_OFF, size);
    if (off < DEVICE_OFF)
        return off == ISR_OFF ? isr_read_clear(p) : 0;
    if (off < NOTIFY_OFF)
        return config_read(p->vdev, off - DEVICE_OFF, size);
    return 0;
}

static void modern_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    VirtioPci *p = opaque;
    if (off < ISR_OFF) {
        if (size <= 4)
            common_write(p, off - COMMON_OFF, size, val);
    } else if (off >= DEVICE_OFF && off < NOTIFY_OFF) {
        config_write(p, off - DEVICE_OFF, size, val);
    } else if (off >= NOTIFY_OFF && off < MODERN_BAR_SIZE) {
        /* No ioeventfd took this kick (qtest, or none available). */
        virtio_queue_notify(p->vdev, (off - NOTIFY_OFF) / NOTIFY_MULT);
    }
}

static const MemOps modern_ops = { .read = modern_read, .write = modern_write };

/* ---- legacy I/O BAR (4.1.4.8) ---- */

/* With MSI-X on, two vector registers sit before the device config. */
static unsigned legacy_config_off(VirtioPci *p)
{
    return msix_enable_set(&p->pci) ? LEGACY_HEADER_MSIX : LEGACY_HEADER;
}

static uint64_t legacy_queue_pfn(const VirtQueue *vq)
{
    return vq->enabled ? vq->desc >> LEGACY_PFN_SHIFT : 0;
}

static uint64_t legacy_read(void *opaque, uint64_t off, unsigned size)
{
    VirtioPci *p = opaque;
    VirtIODevice *vdev = p->vdev;
    VirtQueue *vq = selected_queue(p);
    unsigned cfg_off = legacy_config_off(p);
    if (off >= cfg_off)
        return config_read(vdev, off - cfg_off, size);
    switch (off) {
    case LEGACY_HOST_FEATURES:
        /* Bit 30 is QEMU's "bad feature" canary: offered, never accepted. */
        return (uint32_t)(vdev->host_features | VIRTIO_LEGACY_TRANSPORT_FEATURES) |
               LEGACY_BAD_FEATURE;
    case LEGACY_GUEST_FEATURES: return (uint32_t)vdev->guest_features;
    case LEGACY_QUEUE_PFN: return vq ? legacy_queue_pfn(vq) : 0;
    case LEGACY_QUEUE_NUM: return vq ? vq->num_max : 0;
    case LEGACY_QUEUE_SEL: return p->queue_sel;
    case LEGACY_STATUS: return vdev->status;
    case LEGACY_ISR: return isr_read_clear(p);
    case LEGACY_MSI_CONFIG: return vdev->config_vector;
    case LEGACY_MSI_QUEUE: return vq ? vq->vector : VIRTIO_NO_VECTOR;
    }
    return 0;
}

/* Legacy ring layout: desc, avail right after, used at the next 4 KiB. */
static void legacy_set_pfn(VirtioPci *p, VirtQueue *vq, uint32_t pfn)
{
    if (pfn == 0) {
        queue_disable(p, vq);
        return;
    }
    if (vq->enabled)
        queue_disable(p, vq);
    vq->num = vq->num_max;
    vq->desc = (uint64_t)pfn << LEGACY_PFN_SHIFT;
    vq->avail = vq->desc + 16ULL * vq->num;
    uint64_t avail_end = vq->avail + 6 + 2ULL * vq->num;
    vq->used = (avail_end + LEGACY_ALIGN - 1) & ~(uint64_t)(LEGACY_ALIGN - 1);
    queue_enable(p, vq);
}

static void legacy_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    VirtioPci *p = opaque;
    VirtIODevice *vdev = p->vdev;
    VirtQueue *vq = selected_queue(p);
    unsigned cfg_off = legacy_config_off(p);
    if (off >= cfg_off) {
        config_write(p, off - cfg_off, size, val);
        return;
    }
    switch (off) {
    case LEGACY_GUEST_FEATURES: virtio_legacy_set_features(vdev, val); break;
    case LEGACY_QUEUE_PFN:
        if (vq)
            legacy_set_pfn(p, vq, val);
        break;
    case LEGACY_QUEUE_SEL: p->queue_sel = val; break;
    case LEGACY_QUEUE_NOTIFY: virtio_queue_notify(vdev, val & 0xffff); break;
    case LEGACY_STATUS: set_status(p, val); break;
    case LEGACY_MSI_CONFIG: vdev->config_vector = valid_vector(p, val); break;
    case LEGACY_MSI_QUEUE:
        if (vq)
            vq->vector = valid_vector(p, val);
        break;
    default:
        guest_error("%s: legacy write to read-only register 0x%" PRIx64, p->pci.name, off);
    }
}

static const MemOps legacy_ops = { .read = legacy_read, .write = legacy_write };

/* ---- PCI config: the VIRTIO_PCI_CAP_PCI_CFG window (4.1.4.9) ---- */

static bool touches_window(VirtioPci *p, uint32_t addr, unsigned len)
{
    unsigned data = p->cfg_cap + CAP_PCI_CFG_DATA;
    return p->cfg_cap && addr < data + 4 && data < addr + len;
}

/* The BAR access the window describes: BAR4 only, 1/2/4 bytes, inside it. */
static bool window_target(VirtioPci *p, uint32_t *off, unsigned *len)
{
    const uint8_t *cap = &p->pci.config[p->cfg_cap];
    *off = le_bytes(cap + CAP_OFFSET, 4);
    *len = le_bytes(cap + CAP_LENGTH, 4);
    if (cap[CAP_BAR] != MODERN_BAR || (*len != 1 && *len != 2 && *len != 4) ||
        *off % *len || *off >= MODERN_BAR_SIZE) {
        guest_error("%s: PCI_CFG window: bar %u offset 0x%x length %u refused", p->pci.name,
                    cap[CAP_BAR], *off, *len);
        return false;
    }
    return true;
}

static uint32_t pci_config_read_hook(PCIDevice *d, uint32_t addr, unsigned len)
{
    VirtioPci *p = d->opaque;
    uint32_t off;
    unsigned n;
    if (touches_window(p, addr, len) && window_target(p, &off, &n))
        put_le(&d->config[p->cfg_cap + CAP_PCI_CFG_DATA], n, modern_read(p, off, n));
    return pci_default_config_read(d, addr, len);
}

static void pci_config_write_hook(PCIDevice *d, uint32_t addr, uint32_t val, unsigned len)
{
    VirtioPci *p = d->opaque;
    uint32_t off;
    unsigned n;
    pci_default_config_write(d, addr, val, len);
    if (touches_window(p, addr, len) && window_target(p, &off, &n))
        modern_write(p, off, n, le_bytes(&d->config[p->cfg_cap + CAP_PCI_CFG_DATA], n));
}

/* ---- migration ---- */

static void transport_save(MigStream *s, void *opaque)
{
    VirtioPci *p = opaque;
    vmstate_save_state(s, &vmstate_virtio_device, p->vdev);
}

static int transport_load(MigStream *s, void *opaque, unsigned version)
{
    VirtioPci *p = opaque;
    (void)version;
    /* The queues' kicks are re-made for the loaded state in post_load. */
    kicks_stop_all(p);
    return vmstate_load_state(s, &vmstate_virtio_device, p->vdev,
                              vmstate_virtio_device.version);
}

/*
 * The PCI part's post_load has remapped the BARs (bar_moved set the kick
 * bases); now bind an ioeventfd for every enabled queue and re-derive
 * INTx from the ISR (4.1.4.5: the line is high while the ISR is non-zero).
 */
static int transport_post_load(void *opaque, unsigned version)
{
    VirtioPci *p = opaque;
    (void)version;
    if (p->queue_sel > p->vdev->nvqs)
        p->queue_sel = p->vdev->nvqs;   /* reads as "no such queue" either way */
    for (unsigned i = 0; i < p->vdev->nvqs; i++)
        if (p->vdev->vq[i].enabled)
            kick_start(p, &p->vdev->vq[i]);
    pci_set_irq(&p->pci, p->vdev->isr != 0 && !msix_enable_set(&p->pci));
    return 0;
}

static const VMStateField virtio_pci_fields[] = {
    VMSTATE_STRUCT(pci, VirtioPci, vmstate_pci_device),
    VMSTATE_U32(dfselect, VirtioPci),
    VMSTATE_U32(gfselect, VirtioPci),
    VMSTATE_U16(queue_sel, VirtioPci),
    VMSTATE_END,
};

static const VMStateDescription vmstate_virtio_pci = {
    .name = "virtio-pci",
    .version = 1,
    .fields = virtio_pci_fields,
    .save = transport_save,
    .load = transport_load,
    .post_load = transport_post_load,
};

/* ---- creation ---- */

static uint8_t add_vendor_cap(VirtioPci *p, uint8_t type, uint8_t len, uint32_t offset,
                              uint32_t length)
{
    uint8_t c = pci_add_capability(&p->pci, PCI_CAP_ID_VNDR, len);
    if (!c)
        return 0;
    uint8_t *cap = &p->pci.config[c];
    cap[CAP_LEN] = len;
    cap[CAP_CFG_TYPE] = type;
    cap[CAP_BAR] = MODERN_BAR;
    put_le(cap + CAP_OFFSET, 4, offset);
    put_le(cap + CAP_LENGTH, 4, length);
    return c;
}

static int add_modern_caps(VirtioPci *p)
{
    if (!add_vendor_cap(p, VIRTIO_PCI_CAP_COMMON_CFG, 16, COMMON_OFF, REGION_SIZE) ||
        !add_vendor_cap(p, VIRTIO_PCI_CAP_ISR_CFG, 16, ISR_OFF, REGION_SIZE) ||
        !add_vendor_cap(p, VIRTIO_PCI_CAP_DEVICE_CFG, 16, DEVICE_OFF, REGION_SIZE))
        return -1;
    uint8_t n = add_vendor_cap(p, VIRTIO_PCI_CAP_NOTIFY_CFG, 20, NOTIFY_OFF, REGION_SIZE);
    if (!n)
        return -1;
    put_le(&p->pci.config[n + CAP_NOTIFY_MULT], 4, NOTIFY_MULT);
    pci_register_bar(&p->pci, MODERN_BAR, MODERN_BAR_SIZE, PCI_BAR_MEM64 | PCI_BAR_PREFETCH,
                     &modern_ops, p);
    /* The access window: bar, offset, length and data are the driver's. */
    uint8_t c = add_vendor_cap(p, VIRTIO_PCI_CAP_PCI_CFG, 20, 0, 0);
    if (!c)
        return -1;
    p->pci.config[c + CAP_BAR] = 0;
    p->pci.wmask[c + CAP_BAR] = 0xff;
    memset(&p->pci.wmask[c + CAP_OFFSET], 0xff, 12);
    p->cfg_cap = c;
    return 0;
}

static uint64_t pow2_ceil(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* 4.1.2.3: transitional device IDs are a table, not a formula. */
static uint16_t transitional_device_id(uint16_t virtio_id)
{
    static const struct { uint16_t id, pci; } ids[] = {
        { VIRTIO_ID_NET, 0x1000 }, { VIRTIO_ID_BLOCK, 0x1001 }, { VIRTIO_ID_BALLOON, 0x1002 },
        { 3 /* console */, 0x1003 }, { 8 /* scsi */, 0x1004 }, { 4 /* rng */, 0x1005 },
        { 9 /* 9p */, 0x1009 },
    };
    for (unsigned i = 0; i < ARRAY_SIZE(ids); i++)
        if (ids[i].id == virtio_id)
            return ids[i].pci;
    return VIRTIO_PCI_DEVICE_LEGACY + virtio_id - 1;
}

static void pci_identity(VirtioPci *p)
{
    VirtIODevice *vdev = p->vdev;
    uint16_t id = vdev->ops->device_id;
    uint16_t device = p->legacy ? transitional_device_id(id) : VIRTIO_PCI_DEVICE_MODERN + id;
    pci_device_init(&p->pci, vdev->name, VIRTIO_PCI_VENDOR, device, p->legacy ? 0 : 1,
                    (uint32_t)p->cfg.class_code << 8, 0);
    /* Transitional devices name the virtio device in the subsystem ID
     * (4.1.2.1); modern-only ones keep the default, as QEMU does. */
    if (p->legacy) {
        put_le(&p->pci.config[PCI_SUBSYSTEM_VENDOR_ID], 2, VIRTIO_PCI_VENDOR);
        put_le(&p->pci.config[PCI_SUBSYSTEM_ID], 2, id);
    }
    p->pci.config[PCI_INTERRUPT_PIN] = 1;
}

int virtio_pci_create(VirtIODevice *vdev, const VirtioPciConfig *cfg)
{
    if (cfg->disable_legacy && cfg->disable_modern) {
        error_report("%s: device cannot work as neither modern nor legacy mode is enabled",
                     vdev->name);
        return -1;
    }
    if (cfg->vectors > 2048) {
        error_report("%s: vectors=%u: at most 2048", vdev->name, cfg->vectors);
        return -1;
    }
    VirtioPci *p = xzalloc(sizeof(*p));
    p->vdev = vdev;
    p->cfg = *cfg;
    p->legacy = !cfg->disable_legacy;
    p->modern = !cfg->disable_modern;
    p->kick_mem_base = p->kick_io_base = PCI_BAR_UNMAPPED;
    vdev->host_features = vdev->ops->get_features ? vdev->ops->get_features(vdev) : 0;
    vdev->host_features |= 1ULL << VIRTIO_F_RING_INDIRECT_DESC |
                           1ULL << VIRTIO_F_RING_EVENT_IDX;
    if (p->modern)
        vdev->host_features |= 1ULL << VIRTIO_F_VERSION_1;
    vdev->transport = (VirtIOTransport){ .notify = transport_notify, .opaque = p };

    pci_identity(p);
    p->pci.opaque = p;
    p->pci.reset = pci_reset_hook;
    p->pci.bar_moved = bar_moved;
    p->pci.config_read = pci_config_read_hook;
    p->pci.config_write = pci_config_write_hook;
    if (p->modern && add_modern_caps(p) < 0) {
        error_report("%s: no room for the virtio capabilities", vdev->name);
        goto fail;
    }
    if (cfg->vectors && msix_init_exclusive_bar(&p->pci, cfg->vectors, MSIX_BAR) < 0)
        goto fail;
    if (p->legacy) {
        unsigned header = cfg->vectors ? LEGACY_HEADER_MSIX : LEGACY_HEADER;
        pci_register_bar(&p->pci, LEGACY_BAR, pow2_ceil(header + vdev->config_len), PCI_BAR_IO,
                         &legacy_ops, p);
    }
    if (pci_register_device(&p->pci, cfg->devfn) < 0)
        goto fail;
    vmstate_register(&vmstate_virtio_pci, p->pci.devfn, p);
    return 0;
fail:
    vdev->transport = (VirtIOTransport){ 0 };
    msix_uninit(&p->pci);
    free(p);
    return -1;
}

static int parse_bool_opt(Opts *o, const char *what, const char *key, bool *out)
{
    const char *v = opts_get(o, key);
    if (!v)
        return 0;
    if (parse_bool(v, out) < 0) {
        error_report("%s: %s '%s': expected on or off", what, key, v);
        return -1;
    }
    return 0;
}

int virtio_pci_parse_opts(Opts *o, const char *what, VirtioPciConfig *cfg)
{
    int devfn;
    if (device_opt_pci_addr(o, what, &devfn) < 0)
        return -1;
    if (devfn >= 0)
        cfg->devfn = devfn;
    const char *v = opts_get(o, "vectors");
    if (v) {
        uint64_t n;
        if (parse_uint(v, &n) < 0 || n > 2048) {
            error_report("%s: vectors '%s': expected a number from 0 to 2048", what, v);
            return -1;
        }
        cfg->vectors = n;
    }
    /* QEMU's "auto" for disable-legacy means legacy on a conventional PCI bus. */
    v = opts_get(o, "disable-legacy");
    if (v && strcmp(v, "auto") == 0)
        cfg->disable_legacy = false;
    else if (v && parse_bool(v, &cfg->disable_legacy) < 0) {
        error_report("%s: disable-legacy '%s': expected on, off or auto", what, v);
        return -1;
    }
    if (parse_bool_opt(o, what, "disable-modern", &cfg->disable_modern) < 0 ||
        parse_bool_opt(o, what, "ioeventfd", &cfg->ioeventfd) < 0)
        return -1;
    if (cfg->disable_legacy && cfg->disable_modern) {
        error_report("%s: device cannot work as neither modern nor legacy mode is enabled",
                     what);
        return -1;
    }
    return 0;
}
