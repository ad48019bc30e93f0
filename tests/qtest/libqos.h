/*
 * libqos: a small "guest driver" library for qtests, written over libqtest.
 * Everything goes through the qtest protocol as a guest's driver would:
 * PCI config cycles at 0xcf8/0xcfc, BAR accesses with in/out or
 * read/write, guest RAM for rings and buffers.  It drives vmm and QEMU
 * alike (QEMU runs as "-accel tcg -S": no vCPU, clock stands still, so
 * waits poll against host time).
 *
 * Pieces:
 *   QOSState      one started target + its guest-RAM allocator + PCI bus
 *   QGuestAlloc   bump allocator over guest RAM [1 MiB, ram end)
 *   QPCIBus/QPCIDevice  enumeration, BAR sizing/assignment, capabilities,
 *                 MSI-X table/PBA, INTx routing through PIIX3's PIRQ regs
 *   QVirtioDev    virtio-pci modern transport (virtio 1.2, 4.1) plus a
 *                 little of the legacy I/O layout (0.9.5)
 *   QVirtQueue    split virtqueue driver (virtio 1.2, 2.7)
 *   virtio-blk    request helper and raw image helpers
 *
 * Nothing here aborts on a misbehaving device: accessors return what the
 * device answered (all ones when nothing answers), waits return false on
 * timeout, and the tests decide what that means.
 */
#ifndef VMM_LIBQOS_H
#define VMM_LIBQOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libqtest.h"

/* ---- guest RAM allocator ---- */
typedef struct QGuestAlloc {
    uint64_t start, end, next;
} QGuestAlloc;

void qos_alloc_init(QGuestAlloc *a, uint64_t start, uint64_t end);
/* size bytes aligned to align (power of 2; 0 means 16); 0 when exhausted. */
uint64_t qos_alloc(QGuestAlloc *a, uint64_t size, uint64_t align);
/* The same, zero-filled in guest RAM. */
uint64_t qos_alloc_zero(QTestState *s, QGuestAlloc *a, uint64_t size, uint64_t align);

/* ---- PCI (PCI Local Bus Spec 3.0) ---- */
#define QPCI_IO_BASE 0xc000u
#define QPCI_MEM_BASE 0xe0000000ull
#define QPCI_MEM_LIMIT 0xfec00000ull   /* IOAPIC and above are not ours */

typedef struct QPCIBus {
    QTestState *s;
    uint32_t io_next;       /* next free I/O port for BARs */
    uint64_t mem_next;      /* next free memory address for BARs */
} QPCIBus;

typedef struct QPCIBar {
    uint64_t size;          /* 0: not implemented */
    uint64_t addr;          /* assigned address (valid when size != 0) */
    bool io, mem64, prefetch;
} QPCIBar;

typedef struct QPCIDevice {
    QPCIBus *bus;
    QTestState *s;
    unsigned slot, fn;
    QPCIBar bars[6];
    /* MSI-X (filled by qpci_msix_init) */
    uint8_t msix_cap;       /* config offset, 0 = none */
    unsigned msix_size;     /* vectors */
    int msix_table_bar, msix_pba_bar;
    uint32_t msix_table_off, msix_pba_off;
} QPCIDevice;

void qpci_bus_init(QPCIBus *bus, QTestState *s);
/* First slot >= from_slot (function 0) with these IDs, or -1. */
int qpci_find_slot(QPCIBus *bus, uint16_t vendor, uint16_t device, unsigned from_slot);
/* Bind d to slot.fn; false if nothing (all-ones vendor ID) is there. */
bool qpci_device_init(QPCIDevice *d, QPCIBus *bus, unsigned slot, unsigned fn);

uint8_t qpci_config_readb(QPCIDevice *d, unsigned reg);
uint16_t qpci_config_readw(QPCIDevice *d, unsigned reg);
uint32_t qpci_config_readl(QPCIDevice *d, unsigned reg);
void qpci_config_writeb(QPCIDevice *d, unsigned reg, uint8_t v);
void qpci_config_writew(QPCIDevice *d, unsigned reg, uint16_t v);
void qpci_config_writel(QPCIDevice *d, unsigned reg, uint32_t v);

/*
 * Size BAR n (write all ones, read back, restore; PCI 3.0, 6.2.5.1) and
 * record its type in d->bars[n] (a 64-bit BAR also sizes n+1).  Returns
 * the size, 0 if the BAR is not implemented.
 */
uint64_t qpci_bar_probe(QPCIDevice *d, int n);
/* Probe and assign an address from the bus cursors (I/O from 0xc000,
 * memory from 0xe0000000 aligned to the size, 64-bit BARs below 4 GiB).
 * Returns the address, or UINT64_MAX if the BAR is not implemented. */
uint64_t qpci_bar_map(QPCIDevice *d, int n);
/* Probe and map every BAR, then enable I/O, memory and bus mastering. */
void qpci_device_enable(QPCIDevice *d);
/* Move BAR n to addr (the BAR must have been probed). */
void qpci_bar_set(QPCIDevice *d, int n, uint64_t addr);
/* Raw register value of BAR n (low dword) as the device reports it. */
uint32_t qpci_bar_raw(QPCIDevice *d, int n);

/* Access BAR n at offset off: I/O BARs with in/out, memory with read/write. */
uint8_t qpci_io_readb(QPCIDevice *d, int n, uint64_t off);
uint16_t qpci_io_readw(QPCIDevice *d, int n, uint64_t off);
uint32_t qpci_io_readl(QPCIDevice *d, int n, uint64_t off);
uint64_t qpci_io_readq(QPCIDevice *d, int n, uint64_t off);
void qpci_io_writeb(QPCIDevice *d, int n, uint64_t off, uint8_t v);
void qpci_io_writew(QPCIDevice *d, int n, uint64_t off, uint16_t v);
void qpci_io_writel(QPCIDevice *d, int n, uint64_t off, uint32_t v);
void qpci_io_writeq(QPCIDevice *d, int n, uint64_t off, uint64_t v);

/* Capability walk: the offset of the first capability with this ID after
 * offset start (0 = from the head of the list), 0 if none.  Gives up after
 * 48 entries (a looping list). */
uint8_t qpci_find_cap(QPCIDevice *d, uint8_t id, uint8_t start);

/* ---- MSI-X (PCI 3.0, 6.8.2) ---- */
#define QPCI_CAP_ID_MSIX 0x11
#define QPCI_MSIX_ENABLE 0x8000
#define QPCI_MSIX_FUNC_MASK 0x4000

/* Find and parse the MSI-X capability (the table/PBA BARs must be mapped
 * for the accessors below); false if the device has none. */
bool qpci_msix_init(QPCIDevice *d);
void qpci_msix_enable(QPCIDevice *d, bool on);
void qpci_msix_function_mask(QPCIDevice *d, bool masked);
/* Program table entry vector with (addr, data); leaves its mask as is. */
void qpci_msix_set_entry(QPCIDevice *d, unsigned vector, uint64_t addr, uint32_t data);
void qpci_msix_mask(QPCIDevice *d, unsigned vector, bool masked);
bool qpci_msix_masked(QPCIDevice *d, unsigned vector);
bool qpci_msix_pending(QPCIDevice *d, unsigned vector);   /* PBA bit */

/* ---- INTx through the PIIX3 (i440fx) ---- */
/* PIRQ (0-3 = A-D) that slot's INTA# is wired to: (slot - 1) & 3 (as QEMU's
 * i440fx board wires it). */
unsigned qpci_pirq_of_slot(unsigned slot);
/* Route the device's INTA# PIRQ to ISA irq (PIIX3 PIRQRC[A:D], config
 * 0x60-0x63 of 00:01.0) and start intercepting "ioapic" (once per state). */
void qpci_intx_route(QPCIDevice *d, unsigned irq);
/* Level of an intercepted IOAPIC input as last reported. */
bool qpci_irq_level(QTestState *s, unsigned irq);

/* ---- whole-machine context ---- */
typedef struct QOSState {
    const QTarget *t;
    QTestState *s;
    QGuestAlloc alloc;
    QPCIBus bus;
    bool intercepting;      /* irq_intercept_in ioapic done */
} QOSState;

#define QOS_RAM_SIZE (128ull << 20)   /* tests run with -m 128M */

/* Start the target with its machine args plus the printf tail (as
 * qtest_start_target) and set up allocator and bus.  false (with a
 * "not ok" line already printed) on failure. */
bool qos_start(QOSState *qs, const QTarget *t, const char *test, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void qos_quit(QOSState *qs);

/*
 * Wait until cond(opaque) holds: polls, stepping the virtual clock by
 * 100 us between polls when the target has one, for at most timeout_ms of
 * host time.  Returns the last cond result.
 */
bool qos_wait(QOSState *qs, bool (*cond)(QOSState *qs, void *opaque), void *opaque,
              int timeout_ms);
#define QOS_TIMEOUT_MS 5000

/* ---- virtio-pci (virtio 1.2, 4.1) ---- */
#define QVIRTIO_VENDOR 0x1af4
/* 4.1.4 cfg_type of the vendor capabilities */
#define QVIRTIO_PCI_CAP_COMMON 1
#define QVIRTIO_PCI_CAP_NOTIFY 2
#define QVIRTIO_PCI_CAP_ISR 3
#define QVIRTIO_PCI_CAP_DEVICE 4
#define QVIRTIO_PCI_CAP_PCI_CFG 5

/* 4.1.4.3 common configuration structure offsets */
#define QVPCI_DFSELECT 0x00
#define QVPCI_DF 0x04
#define QVPCI_GFSELECT 0x08
#define QVPCI_GF 0x0c
#define QVPCI_MSIX_CONFIG 0x10
#define QVPCI_NUM_QUEUES 0x12
#define QVPCI_STATUS 0x14
#define QVPCI_CFG_GENERATION 0x15
#define QVPCI_Q_SELECT 0x16
#define QVPCI_Q_SIZE 0x18
#define QVPCI_Q_MSIX 0x1a
#define QVPCI_Q_ENABLE 0x1c
#define QVPCI_Q_NOFF 0x1e
#define QVPCI_Q_DESC 0x20
#define QVPCI_Q_AVAIL 0x28
#define QVPCI_Q_USED 0x30

/* Legacy (0.9.5) I/O BAR0 layout */
#define QVIRTIO_LEGACY_HOST_FEATURES 0x00
#define QVIRTIO_LEGACY_GUEST_FEATURES 0x04
#define QVIRTIO_LEGACY_QUEUE_PFN 0x08
#define QVIRTIO_LEGACY_QUEUE_NUM 0x0c
#define QVIRTIO_LEGACY_QUEUE_SEL 0x0e
#define QVIRTIO_LEGACY_QUEUE_NOTIFY 0x10
#define QVIRTIO_LEGACY_STATUS 0x12
#define QVIRTIO_LEGACY_ISR 0x13
/* device config at 0x14, or 0x18 with MSI-X enabled */

/* status bits (2.1) */
#define QVIRTIO_S_ACKNOWLEDGE 0x01
#define QVIRTIO_S_DRIVER 0x02
#define QVIRTIO_S_DRIVER_OK 0x04
#define QVIRTIO_S_FEATURES_OK 0x08
#define QVIRTIO_S_NEEDS_RESET 0x40
#define QVIRTIO_S_FAILED 0x80

/* reserved feature bits (6) */
#define QVIRTIO_F_INDIRECT_DESC 28
#define QVIRTIO_F_EVENT_IDX 29
#define QVIRTIO_F_VERSION_1 32
#define QVIRTIO_BIT(n) (1ull << (n))

#define QVRING_DESC_F_NEXT 1
#define QVRING_DESC_F_WRITE 2
#define QVRING_DESC_F_INDIRECT 4
#define QVRING_AVAIL_F_NO_INTERRUPT 1

/* Where a virtio capability's structure lives. */
typedef struct QVirtioCap {
    uint8_t cap;            /* config offset of the capability, 0 = absent */
    int bar;
    uint32_t offset, length;
} QVirtioCap;

typedef struct QVirtioDev {
    QPCIDevice pci;
    QOSState *qs;
    QVirtioCap common, notify, isr, device, pci_cfg;
    uint32_t notify_mult;   /* notify_off_multiplier */
    uint64_t features;      /* negotiated (what qvirtio_set_features wrote) */
    /* Config-change MSI-X vector target (when set up with qvirtio_msix_config). */
    uint16_t config_vector;
    uint64_t config_msix_addr;
    uint32_t config_msix_data;
} QVirtioDev;

/*
 * Bind to the virtio function at slot: map BARs, enable, parse the vendor
 * capabilities (and MSI-X if present).  false if no 1af4 device is there
 * or a modern capability is missing (a legacy-only device still binds, with
 * common.cap == 0: use the legacy accessors).
 */
bool qvirtio_pci_init(QVirtioDev *d, QOSState *qs, unsigned slot);
/* Config offset of the first vendor capability with cfg_type, 0 if none. */
uint8_t qvirtio_find_vcap(QVirtioDev *d, uint8_t cfg_type);

/* Common configuration accessors (BAR + offset of the common cap). */
uint8_t qvirtio_common_readb(QVirtioDev *d, unsigned off);
uint16_t qvirtio_common_readw(QVirtioDev *d, unsigned off);
uint32_t qvirtio_common_readl(QVirtioDev *d, unsigned off);
uint64_t qvirtio_common_readq(QVirtioDev *d, unsigned off);   /* two 32-bit reads */
void qvirtio_common_writeb(QVirtioDev *d, unsigned off, uint8_t v);
void qvirtio_common_writew(QVirtioDev *d, unsigned off, uint16_t v);
void qvirtio_common_writel(QVirtioDev *d, unsigned off, uint32_t v);
void qvirtio_common_writeq(QVirtioDev *d, unsigned off, uint64_t v);  /* lo then hi */

/* Device-specific configuration (the device cap). */
uint8_t qvirtio_config_readb(QVirtioDev *d, unsigned off);
uint16_t qvirtio_config_readw(QVirtioDev *d, unsigned off);
uint32_t qvirtio_config_readl(QVirtioDev *d, unsigned off);
uint64_t qvirtio_config_readq(QVirtioDev *d, unsigned off);   /* two 32-bit reads */
void qvirtio_config_writeb(QVirtioDev *d, unsigned off, uint8_t v);
void qvirtio_config_writel(QVirtioDev *d, unsigned off, uint32_t v);

uint8_t qvirtio_get_status(QVirtioDev *d);
void qvirtio_set_status(QVirtioDev *d, uint8_t status);
/* Write 0 and wait (host time) for the status to read back 0. */
bool qvirtio_reset(QVirtioDev *d);
uint64_t qvirtio_get_features(QVirtioDev *d);           /* both selects */
void qvirtio_set_features(QVirtioDev *d, uint64_t features);
/*
 * reset, ACKNOWLEDGE|DRIVER, accept offered & wanted, FEATURES_OK and read
 * it back.  Returns whether FEATURES_OK stuck; d->features is what was
 * written.
 */
bool qvirtio_negotiate(QVirtioDev *d, uint64_t wanted);
void qvirtio_driver_ok(QVirtioDev *d);
/* Read (and thereby clear) the ISR status byte. */
uint8_t qvirtio_isr(QVirtioDev *d);
/* Point the config-change interrupt at MSI-X vector (allocating a RAM
 * target and programming the table entry unmasked); VIRTIO_NO_VECTOR
 * (0xffff) for none.  Returns the vector the device read back. */
uint16_t qvirtio_msix_config(QVirtioDev *d, uint16_t vector);

/* Legacy I/O BAR0 path (transitional devices). */
uint32_t qvirtio_legacy_features(QVirtioDev *d);
uint8_t qvirtio_legacy_get_status(QVirtioDev *d);
void qvirtio_legacy_set_status(QVirtioDev *d, uint8_t status);

/* ---- split virtqueues (virtio 1.2, 2.7) ---- */
typedef struct QVirtQueue {
    QVirtioDev *dev;
    unsigned index;
    uint16_t size;
    uint64_t desc, avail, used;     /* guest addresses */
    uint16_t free_head;             /* next descriptor handed out (round robin) */
    uint16_t avail_idx;             /* our shadow of avail->idx */
    uint16_t last_used_idx;         /* next used entry we consume */
    uint64_t notify_addr_off;       /* offset in the notify BAR */
    uint16_t notify_off;
    bool event_idx, indirect;       /* negotiated */
    /* MSI-X (vector == 0xffff: none, INTx/ISR) */
    uint16_t vector;
    uint64_t msix_addr;
    uint32_t msix_data;
} QVirtQueue;

/*
 * Set up queue index: select it, size = min(device max, size) (size 0 =
 * the device's maximum), allocate the rings in guest RAM, write their
 * addresses, the MSI-X vector (0xffff = none; otherwise also allocate a RAM
 * target and program the table entry unmasked) and enable.  false if the
 * device has no such queue.  Call between FEATURES_OK and DRIVER_OK.
 */
bool qvirtqueue_setup(QVirtioDev *d, QVirtQueue *vq, unsigned index, uint16_t size,
                      uint16_t vector);

typedef struct QVirtBuf {
    uint64_t addr;
    uint32_t len;
    bool write;             /* device writes it (VRING_DESC_F_WRITE) */
} QVirtBuf;

/* Write descriptors for a chain of n buffers (readable first; 1 <= n <=
 * min(256, size)), taken round robin from the table; returns the head
 * index.  Not yet visible to the device: see qvirtqueue_publish. */
uint16_t qvirtqueue_add_chain(QVirtQueue *vq, const QVirtBuf *bufs, unsigned n);
/* One descriptor pointing at an indirect table (allocated in guest RAM)
 * that holds the chain; returns the head index. */
uint16_t qvirtqueue_add_indirect(QVirtQueue *vq, const QVirtBuf *bufs, unsigned n);
/* Raw descriptor write, for hostile chains. */
void qvirtqueue_write_desc(QVirtQueue *vq, uint16_t i, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next);
/* Put head in the avail ring and publish avail->idx. */
void qvirtqueue_publish(QVirtQueue *vq, uint16_t head);
/* Notify the device: write the queue index at its notify address. */
void qvirtqueue_kick(QVirtQueue *vq);
/* add_chain + publish + kick. */
uint16_t qvirtqueue_submit(QVirtQueue *vq, const QVirtBuf *bufs, unsigned n);

uint16_t qvirtqueue_used_idx(QVirtQueue *vq);          /* device's used->idx */
uint16_t qvirtqueue_used_flags(QVirtQueue *vq);
/* Is there a used entry we have not consumed? */
bool qvirtqueue_has_used(QVirtQueue *vq);
/* Consume the next used entry (false if none). */
bool qvirtqueue_get_used(QVirtQueue *vq, uint32_t *id, uint32_t *len);
/* Wait (host-time timeout) for the next used entry and consume it. */
bool qvirtqueue_wait_used(QVirtQueue *vq, uint32_t *id, uint32_t *len, int timeout_ms);
/* Wait until used->idx has advanced to at least our last_used_idx + n. */
bool qvirtqueue_wait_used_n(QVirtQueue *vq, uint16_t n, int timeout_ms);

/* Driver-side suppression (2.7.7, 2.7.10): NO_INTERRUPT flag and used_event. */
void qvirtqueue_set_avail_flags(QVirtQueue *vq, uint16_t flags);
void qvirtqueue_set_used_event(QVirtQueue *vq, uint16_t idx);
uint16_t qvirtqueue_avail_event(QVirtQueue *vq);       /* device's avail_event */

/* Interrupt checks.  MSI-X: the message data appeared at the vector's RAM
 * target (then cleared so the next one can be seen). */
bool qvirtqueue_msix_fired(QVirtQueue *vq);
bool qvirtio_config_msix_fired(QVirtioDev *d);
/* Wait for the queue's MSI-X message. */
bool qvirtqueue_wait_msix(QVirtQueue *vq, int timeout_ms);

/* ---- virtio-blk (virtio 1.2, 5.2) ---- */
#define QVIRTIO_BLK_F_SIZE_MAX 1
#define QVIRTIO_BLK_F_SEG_MAX 2
#define QVIRTIO_BLK_F_GEOMETRY 4
#define QVIRTIO_BLK_F_RO 5
#define QVIRTIO_BLK_F_BLK_SIZE 6
#define QVIRTIO_BLK_F_FLUSH 9
#define QVIRTIO_BLK_F_TOPOLOGY 10
#define QVIRTIO_BLK_F_CONFIG_WCE 11
#define QVIRTIO_BLK_F_MQ 12
#define QVIRTIO_BLK_F_DISCARD 13
#define QVIRTIO_BLK_F_WRITE_ZEROES 14

#define QVIRTIO_BLK_T_IN 0
#define QVIRTIO_BLK_T_OUT 1
#define QVIRTIO_BLK_T_FLUSH 4
#define QVIRTIO_BLK_T_GET_ID 8
#define QVIRTIO_BLK_T_DISCARD 11
#define QVIRTIO_BLK_T_WRITE_ZEROES 13

#define QVIRTIO_BLK_S_OK 0
#define QVIRTIO_BLK_S_IOERR 1
#define QVIRTIO_BLK_S_UNSUPP 2

/* config offsets */
#define QVBLK_CFG_CAPACITY 0
#define QVBLK_CFG_SIZE_MAX 8
#define QVBLK_CFG_SEG_MAX 12
#define QVBLK_CFG_BLK_SIZE 20
#define QVBLK_CFG_WRITEBACK 32
#define QVBLK_CFG_NUM_QUEUES 34
#define QVBLK_CFG_MAX_DISCARD_SECTORS 36
#define QVBLK_CFG_MAX_DISCARD_SEG 40
#define QVBLK_CFG_MAX_WZ_SECTORS 48
#define QVBLK_CFG_MAX_WZ_SEG 52

/* A request placed in guest RAM: header, data buffer, status byte. */
typedef struct QVirtioBlkReq {
    uint64_t hdr, data, status;     /* guest addresses */
    uint32_t data_len;
    uint16_t head;
} QVirtioBlkReq;

/*
 * Build a request in guest RAM (type, sector; data copied in for writes,
 * discard and write-zeroes segments; a writable buffer for reads/GET_ID)
 * and add it to vq (indirectly if indirect) and publish; no kick.
 * data may be NULL for in-requests.  The status byte starts as 0xff.
 */
void qvirtio_blk_prepare(QVirtQueue *vq, QVirtioBlkReq *r, uint32_t type, uint64_t sector,
                         const void *data, uint32_t len, bool indirect);
/* Read back the status byte (0xff: not written). */
uint8_t qvirtio_blk_status(QVirtQueue *vq, const QVirtioBlkReq *r);
/*
 * One synchronous request: prepare, kick, wait for the used entry.  For
 * in-requests the data is copied to buf (len bytes).  Returns the status
 * byte, or -1 on timeout.
 */
int qvirtio_blk_rw(QVirtQueue *vq, uint32_t type, uint64_t sector, void *buf, uint32_t len);

/* discard / write-zeroes segment (5.2.6) */
typedef struct QVirtioBlkDiscard {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;         /* bit 0: unmap (write-zeroes) */
} __attribute__((packed)) QVirtioBlkDiscard;

/* Create a raw image of size bytes filled with a per-sector pattern
 * (qos_pattern_byte); returns the malloc'd path or NULL. */
char *qos_make_image(size_t size);
/* The pattern byte at image offset off. */
uint8_t qos_pattern_byte(uint64_t off);
/*
 * Start t with "-drive file=IMG,if=none,id=d0,format=raw<drive_opts>
 * -device virtio-blk-pci,drive=d0,addr=4<dev_opts>" plus extra; drive_opts
 * and dev_opts start with ',' or are "".  Slot 4.
 */
bool qos_start_blk(QOSState *qs, const QTarget *t, const char *test, const char *img,
                   const char *drive_opts, const char *dev_opts, const char *extra);
/*
 * On a started blk machine: bind the device at slot, negotiate wanted
 * (& offered), set up queue 0 with MSI-X vector (or 0xffff) and DRIVER_OK.
 */
bool qvirtio_blk_setup(QVirtioDev *d, QVirtQueue *vq, QOSState *qs, unsigned slot,
                       uint64_t wanted, uint16_t vector);

#endif
