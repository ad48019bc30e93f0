/*
 * The modern (virtio 1.2) PCI transport for the virtio payloads
 * (virtio-blk.c, virtio-net.c): device discovery on bus 0, BARs,
 * capabilities, status and feature negotiation, queue setup, and the split
 * virtqueue layout (virtio 1.2, 2.7).  Every failure ends the payload
 * through fail(vp->name, ...).
 *
 * BARs: under QEMU SeaBIOS assigns them; under vmm the VMM assigns them
 * before a direct boot.  A BAR that still reads 0, or lies above 4 GiB (the
 * payloads run without paging), is moved into [VIRTIO_FALLBACK_MMIO,
 * VIRTIO_FALLBACK_END), each moved BAR to its own naturally aligned range:
 * on the i440fx PC that is below the firmware's BARs, the IOAPIC and LAPIC.
 */
#ifndef PAYLOAD_VIRTIO_H
#define PAYLOAD_VIRTIO_H

#include "payload.h"

#define VIRTIO_FALLBACK_MMIO 0xe0000000u
#define VIRTIO_FALLBACK_END 0xf0000000u
#define VIRTIO_NO_VECTOR 0xffff         /* 4.1.4.3: no MSI-X vector */
#define VIRTIO_F_VERSION_1 32           /* 6 */

/* ---- split virtqueue (2.7.5, 2.7.6, 2.7.8) ---- */
#define VRING_MAX 256u                  /* the payloads use at most this many entries */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
} PACKED;

struct vring_avail {
    uint16_t flags, idx;
    uint16_t ring[VRING_MAX];
} PACKED;

struct vring_used_elem {
    uint32_t id, len;
} PACKED;

struct vring_used {
    uint16_t flags, idx;
    struct vring_used_elem ring[VRING_MAX];
} PACKED;

static inline void mmio_write16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline uint16_t mmio_read16(uintptr_t a) { return *(volatile uint16_t *)a; }
#define barrier() __asm__ volatile("" ::: "memory")
/* Order the avail->idx store before the used->flags load (2.7.13.4). */
static inline void full_barrier(void) { __asm__ volatile("lock; orl $0, (%%esp)" ::: "memory"); }

/* ---- the PCI function ---- */
struct virtio_pci {
    const char *name;                   /* payload name, for messages */
    unsigned dev;                       /* PCI slot on bus 0, function 0 */
    uintptr_t common, notify, device;   /* MMIO addresses (4.1.4.3-4.1.4.6) */
    uint32_t notify_mult;               /* 4.1.4.4 notify_off_multiplier */
    unsigned msix_cap;                  /* config offset, 0 if none */
    bool force_move;                    /* move every BAR used (bars=move) */
    unsigned moved;                     /* bitmask of the BARs moved so far */
    uint32_t fallback_next;             /* next free fallback address, 0: none used */
};

/* First function 0 on bus 0 with vendor 1af4 and either device id. */
bool virtio_pci_find(struct virtio_pci *vp, uint16_t transitional_id, uint16_t modern_id);
/* Guest-physical address of memory BAR bar, moved below 4 GiB if needed. */
uint32_t virtio_pci_bar_address(struct virtio_pci *vp, unsigned bar);
/* Walk the capabilities (4.1.4): common, notify and device configuration
 * (all required) and MSI-X (optional). */
void virtio_pci_find_capabilities(struct virtio_pci *vp);

/* ---- device initialization (3.1.1) ---- */
void virtio_set_status(struct virtio_pci *vp, uint8_t status);
uint8_t virtio_get_status(struct virtio_pci *vp);
/* Enable memory decoding and bus mastering, reset the device, then set
 * ACKNOWLEDGE and DRIVER (steps 1-3). */
void virtio_reset(struct virtio_pci *vp);
/* The device's 64 feature bits; fails unless VIRTIO_F_VERSION_1 is among them. */
uint64_t virtio_device_features(struct virtio_pci *vp);
/* Write the driver features and set FEATURES_OK; fails if the device
 * clears it (steps 4-6). */
void virtio_accept_features(struct virtio_pci *vp, uint64_t features);
/* MSI-X vector for configuration changes (4.1.5.1.2). */
void virtio_set_config_vector(struct virtio_pci *vp, uint16_t vector);
/* Size to use for queue qi: the device's maximum capped at VRING_MAX; fails
 * unless it is a power of 2 of at least min. */
uint16_t virtio_queue_size(struct virtio_pci *vp, unsigned qi, unsigned min);
/*
 * Program queue qi (4.1.5.1.3): size, MSI-X vector (fails if refused), ring
 * addresses; enable it and return its notification address.
 */
uintptr_t virtio_queue_enable(struct virtio_pci *vp, unsigned qi, uint16_t size,
                              uint16_t vector, uint32_t desc, uint32_t avail, uint32_t used);
/* Set DRIVER_OK (step 8); fails if the device reports FAILED or NEEDS_RESET. */
void virtio_driver_ok(struct virtio_pci *vp);

#endif
