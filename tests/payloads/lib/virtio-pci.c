/* The modern virtio PCI transport (virtio 1.2, 4.1); see virtio.h. */
#include "virtio.h"

/* ---- PCI (PCI Local Bus Spec 3.0, 6.1, 6.2.5, 6.7) ---- */
#define VIRTIO_VENDOR 0x1af4
#define PCI_COMMAND 0x04
#define PCI_CMD_MEMORY 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* ---- virtio 1.2, 4.1.4: PCI capabilities, common configuration ---- */
#define CAP_COMMON_CFG 1
#define CAP_NOTIFY_CFG 2
#define CAP_DEVICE_CFG 4
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_NOTIFY_MULT 16

#define COMMON_DFSELECT 0x00
#define COMMON_DF 0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF 0x0c
#define COMMON_MSIX 0x10
#define COMMON_STATUS 0x14
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE 0x18
#define COMMON_Q_MSIX 0x1a
#define COMMON_Q_ENABLE 0x1c
#define COMMON_Q_NOFF 0x1e
#define COMMON_Q_DESC 0x20
#define COMMON_Q_AVAIL 0x28
#define COMMON_Q_USED 0x30

/* 2.1: device status bits */
#define S_ACKNOWLEDGE 0x01
#define S_DRIVER 0x02
#define S_DRIVER_OK 0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40
#define S_FAILED 0x80

static void mmio_write64(uintptr_t a, uint64_t v)
{
    /* 4.1.3.1: 64-bit fields may be written as two 32-bit halves, low first. */
    mmio_write32(a, (uint32_t)v);
    mmio_write32(a + 4, (uint32_t)(v >> 32));
}

/* ---- discovery and BARs ---- */
bool virtio_pci_find(struct virtio_pci *vp, uint16_t transitional_id, uint16_t modern_id)
{
    for (unsigned d = 0; d < 32; d++) {
        uint32_t id = pci_read32(0, d, 0, 0);
        if ((id & 0xffff) == VIRTIO_VENDOR &&
            ((id >> 16) == transitional_id || (id >> 16) == modern_id)) {
            vp->dev = d;
            return true;
        }
    }
    return false;
}

/* Size of memory BAR bar (6.2.5.1: write all ones, read back the mask). */
static uint32_t bar_size(const struct virtio_pci *vp, unsigned bar)
{
    unsigned off = PCI_BAR0 + 4 * bar;
    uint32_t old = pci_read32(0, vp->dev, 0, off);
    pci_write32(0, vp->dev, 0, off, 0xffffffff);
    uint32_t mask = pci_read32(0, vp->dev, 0, off) & ~0xfu;
    pci_write32(0, vp->dev, 0, off, old);
    return mask ? ~mask + 1 : 0;
}

/*
 * Room for a moved BAR of size bytes: BARs are naturally aligned (PCI 3.0,
 * 6.2.5.1), and each moved BAR gets its own range from VIRTIO_FALLBACK_MMIO
 * up so that two never overlap.
 */
static uint32_t fallback_alloc(struct virtio_pci *vp, uint32_t size)
{
    if (size < 0x1000)
        size = 0x1000;
    uint32_t addr = vp->fallback_next ? vp->fallback_next : VIRTIO_FALLBACK_MMIO;
    addr = (addr + size - 1) & ~(size - 1);
    if (addr < VIRTIO_FALLBACK_MMIO || addr > VIRTIO_FALLBACK_END ||
        size > VIRTIO_FALLBACK_END - addr)
        fail(vp->name, "no room below 0x%x to move a BAR of size 0x%x",
             VIRTIO_FALLBACK_END, size);
    vp->fallback_next = addr + size;
    return addr;
}

uint32_t virtio_pci_bar_address(struct virtio_pci *vp, unsigned bar)
{
    if (bar > 5)
        fail(vp->name, "capability names BAR %u", bar);
    unsigned off = PCI_BAR0 + 4 * bar;
    uint32_t lo = pci_read32(0, vp->dev, 0, off);
    if (lo & 1)
        fail(vp->name, "BAR %u is an I/O BAR, expected memory", bar);
    bool is64 = (lo & 0x6) == 0x4;
    uint32_t hi = is64 && bar < 5 ? pci_read32(0, vp->dev, 0, off + 4) : 0;
    bool move_anyway = vp->force_move && !(vp->moved & (1u << bar));
    if ((lo & ~0xfu) != 0 && hi == 0 && !move_anyway)
        return lo & ~0xfu;
    vp->moved |= 1u << bar;
    uint32_t size = bar_size(vp, bar);
    uint32_t addr = fallback_alloc(vp, size);
    printf("%s: BAR%u at 0x%x%08x (size 0x%x): moving it to 0x%x\n",
           vp->name, bar, hi, lo & ~0xfu, size, addr);
    pci_write32(0, vp->dev, 0, off, addr);
    if (is64)
        pci_write32(0, vp->dev, 0, off + 4, 0);
    return addr;
}

/* One virtio vendor capability at config offset ptr (4.1.4, 4.1.4.4). */
static void take_vendor_cap(struct virtio_pci *vp, unsigned ptr)
{
    unsigned type = pci_read8(0, vp->dev, 0, ptr + CAP_CFG_TYPE);
    unsigned bar = pci_read8(0, vp->dev, 0, ptr + CAP_BAR);
    uint32_t offset = pci_read32(0, vp->dev, 0, ptr + CAP_OFFSET);
    if (type == CAP_COMMON_CFG && !vp->common) {
        vp->common = virtio_pci_bar_address(vp, bar) + offset;
    } else if (type == CAP_NOTIFY_CFG && !vp->notify) {
        vp->notify = virtio_pci_bar_address(vp, bar) + offset;
        vp->notify_mult = pci_read32(0, vp->dev, 0, ptr + CAP_NOTIFY_MULT);
    } else if (type == CAP_DEVICE_CFG && !vp->device) {
        vp->device = virtio_pci_bar_address(vp, bar) + offset;
    }
}

void virtio_pci_find_capabilities(struct virtio_pci *vp)
{
    if (!(pci_read16(0, vp->dev, 0, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        fail(vp->name, "no capability list");
    unsigned ptr = pci_read8(0, vp->dev, 0, PCI_CAP_PTR) & 0xfc;
    /* At most 48 capabilities fit in 192 bytes: a longer list is a loop. */
    for (unsigned n = 0; ptr && n < 48; n++) {
        uint8_t id = pci_read8(0, vp->dev, 0, ptr);
        if (id == PCI_CAP_ID_MSIX)
            vp->msix_cap = ptr;
        else if (id == PCI_CAP_ID_VNDR)
            take_vendor_cap(vp, ptr);
        ptr = pci_read8(0, vp->dev, 0, ptr + 1) & 0xfc;
    }
    if (!vp->common || !vp->notify || !vp->device)
        fail(vp->name, "missing virtio capabilities (common 0x%x notify 0x%x device 0x%x)",
             vp->common, vp->notify, vp->device);
}

/* ---- device initialization (virtio 1.2, 3.1.1) ---- */
void virtio_set_status(struct virtio_pci *vp, uint8_t status)
{
    mmio_write8(vp->common + COMMON_STATUS, status);
}

uint8_t virtio_get_status(struct virtio_pci *vp)
{
    return mmio_read8(vp->common + COMMON_STATUS);
}

void virtio_reset(struct virtio_pci *vp)
{
    uint16_t cmd = pci_read16(0, vp->dev, 0, PCI_COMMAND);
    pci_write16(0, vp->dev, 0, PCI_COMMAND,
                cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE);
    virtio_set_status(vp, 0);
    for (int i = 0; i < 1000 && virtio_get_status(vp) != 0; i++)
        cpu_relax();
    if (virtio_get_status(vp) != 0)
        fail(vp->name, "device did not reset (status 0x%x)", virtio_get_status(vp));
    virtio_set_status(vp, S_ACKNOWLEDGE);
    virtio_set_status(vp, S_ACKNOWLEDGE | S_DRIVER);
}

uint64_t virtio_device_features(struct virtio_pci *vp)
{
    mmio_write32(vp->common + COMMON_DFSELECT, 0);
    uint64_t lo = mmio_read32(vp->common + COMMON_DF);
    mmio_write32(vp->common + COMMON_DFSELECT, 1);
    uint64_t offered = (uint64_t)mmio_read32(vp->common + COMMON_DF) << 32 | lo;
    if (!(offered & (1ull << VIRTIO_F_VERSION_1)))
        fail(vp->name, "device does not offer VIRTIO_F_VERSION_1 (features 0x%llx)", offered);
    return offered;
}

void virtio_accept_features(struct virtio_pci *vp, uint64_t features)
{
    mmio_write32(vp->common + COMMON_GFSELECT, 0);
    mmio_write32(vp->common + COMMON_GF, (uint32_t)features);
    mmio_write32(vp->common + COMMON_GFSELECT, 1);
    mmio_write32(vp->common + COMMON_GF, (uint32_t)(features >> 32));
    virtio_set_status(vp, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    if (!(virtio_get_status(vp) & S_FEATURES_OK))
        fail(vp->name, "device refused features 0x%llx", features);
}

void virtio_set_config_vector(struct virtio_pci *vp, uint16_t vector)
{
    mmio_write16(vp->common + COMMON_MSIX, vector);
}

uint16_t virtio_queue_size(struct virtio_pci *vp, unsigned qi, unsigned min)
{
    mmio_write16(vp->common + COMMON_Q_SELECT, qi);
    uint16_t max = mmio_read16(vp->common + COMMON_Q_SIZE);
    uint16_t size = max < VRING_MAX ? max : VRING_MAX;
    /* 2.7: a split virtqueue's size is a power of 2. */
    if (size < min || (size & (size - 1)))
        fail(vp->name, "queue %u size %u unusable (need a power of 2, at least %u)", qi, max, min);
    return size;
}

uintptr_t virtio_queue_enable(struct virtio_pci *vp, unsigned qi, uint16_t size,
                              uint16_t vector, uint32_t desc, uint32_t avail, uint32_t used)
{
    mmio_write16(vp->common + COMMON_Q_SELECT, qi);
    mmio_write16(vp->common + COMMON_Q_SIZE, size);
    mmio_write16(vp->common + COMMON_Q_MSIX, vector);
    /* 4.1.5.1.2.1: the device answers NO_VECTOR when it cannot map one. */
    uint16_t got = mmio_read16(vp->common + COMMON_Q_MSIX);
    if (got != vector)
        fail(vp->name, "queue %u MSI-X vector %u refused (reads 0x%x)", qi, vector, got);
    mmio_write64(vp->common + COMMON_Q_DESC, desc);
    mmio_write64(vp->common + COMMON_Q_AVAIL, avail);
    mmio_write64(vp->common + COMMON_Q_USED, used);
    uint16_t noff = mmio_read16(vp->common + COMMON_Q_NOFF);
    mmio_write16(vp->common + COMMON_Q_ENABLE, 1);
    return vp->notify + (uintptr_t)noff * vp->notify_mult;
}

void virtio_driver_ok(struct virtio_pci *vp)
{
    virtio_set_status(vp, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    uint8_t st = virtio_get_status(vp);
    if (st & (S_FAILED | S_NEEDS_RESET))
        fail(vp->name, "device status 0x%x after DRIVER_OK", st);
}
