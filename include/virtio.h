/*
 * virtio 1.2 devices: the device core and split virtqueues (hw/virtio/
 * virtio.c), the PCI transport (hw/virtio/virtio-pci.c), and the block,
 * network and balloon devices (hw/virtio/virtio-{blk,net,balloon}.c).
 *
 * Everything in a virtqueue is guest-controlled: the walker checks every
 * index, length and address against the ring and guest RAM, and a broken
 * ring puts the device in DEVICE_NEEDS_RESET (virtio 1.2, 2.1.2) with a
 * rate-limited log line, never a crash.
 *
 * Threading: all of this runs with the big lock held, on the main loop
 * (ioeventfd kicks, block/net completions) or in a vCPU thread (a queue
 * notify handled in the transport's write op when no ioeventfd exists).
 */
#ifndef VMM_VIRTIO_H
#define VMM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pci.h"
#include "util.h"

/* ---- constants (virtio 1.2) ---- */
/* 2.1 device status */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE 0x01
#define VIRTIO_CONFIG_S_DRIVER 0x02
#define VIRTIO_CONFIG_S_DRIVER_OK 0x04
#define VIRTIO_CONFIG_S_FEATURES_OK 0x08
#define VIRTIO_CONFIG_S_NEEDS_RESET 0x40
#define VIRTIO_CONFIG_S_FAILED 0x80

/* 6 reserved feature bits */
#define VIRTIO_F_NOTIFY_ON_EMPTY 24
#define VIRTIO_F_ANY_LAYOUT 27
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* 2.7.5 descriptor flags, 2.7.6/2.7.8 ring flags */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

/* 4.1.4.5 ISR status bits */
#define VIRTIO_ISR_QUEUE 0x1
#define VIRTIO_ISR_CONFIG 0x2

#define VIRTIO_NO_VECTOR 0xffff

/* 5 device IDs */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_BALLOON 5

/* Largest queue we offer and largest descriptor chain we accept. */
#define VIRTQUEUE_MAX_SIZE 1024
/*
 * Segments in one element (out + in).  A longer chain (e.g. a guest ignoring
 * virtio-blk's SEG_MAX) is a broken ring.  Also bounds the walk, so a loop
 * in the descriptor table ends as an error.
 */
#define VIRTQUEUE_MAX_SEGS 256

typedef struct VirtIODevice VirtIODevice;
typedef struct VirtQueue VirtQueue;

/*
 * One request popped from the avail ring.  sg[0 .. out_num) are the
 * driver-to-device (readable) buffers, sg[out_num .. out_num + in_num) the
 * device-to-driver (writable) ones, each already mapped to host memory
 * inside guest RAM (guest_mem_map).  addr[] keeps their guest addresses.
 * Devices keep elements in their own per-request structures (no heap
 * allocation per request).
 */
typedef struct VirtQueueElement {
    uint16_t head;              /* descriptor index, for the used ring */
    unsigned out_num, in_num;
    size_t out_len, in_len;     /* byte totals */
    struct iovec sg[VIRTQUEUE_MAX_SEGS];
    uint64_t addr[VIRTQUEUE_MAX_SEGS];
} VirtQueueElement;

typedef void VirtQueueHandler(VirtIODevice *vdev, VirtQueue *vq);

struct VirtQueue {
    VirtIODevice *vdev;
    unsigned index;
    uint16_t num_max;           /* size offered to the driver */
    uint16_t num;               /* size the driver chose (power of 2) */
    bool enabled;               /* queue_enable (modern) / PFN set (legacy) */
    uint64_t desc, avail, used; /* guest physical addresses of the three parts */
    uint16_t last_avail_idx;    /* next avail entry the device reads */
    uint16_t used_idx;          /* next used entry the device writes */
    uint16_t signalled_used;    /* used_idx at the last interrupt (EVENT_IDX) */
    bool signalled_used_valid;
    bool notification;          /* false: the device asked for no kicks */
    uint16_t vector;            /* MSI-X vector, VIRTIO_NO_VECTOR for none */
    unsigned inuse;             /* popped, not yet pushed */
    VirtQueueHandler *handler;
    int kick_fd;                /* ioeventfd eventfd, -1 when none (transport's) */
};

/* What a device type implements; the core and transport do the rest. */
typedef struct VirtIODeviceOps {
    const char *name;           /* "virtio-blk" */
    uint16_t device_id;         /* VIRTIO_ID_* */
    /* Device features offered (bits < 64); the core adds VERSION_1,
     * RING_INDIRECT_DESC and RING_EVENT_IDX. */
    uint64_t (*get_features)(VirtIODevice *vdev);
    /* The driver set FEATURES_OK with these (already a subset of offered). */
    void (*set_features)(VirtIODevice *vdev, uint64_t features);
    /* Refresh vdev->config before a driver read (may be NULL). */
    void (*get_config)(VirtIODevice *vdev);
    /* The driver wrote vdev->config[off, off+len) (may be NULL: read-only). */
    void (*set_config)(VirtIODevice *vdev, unsigned off, unsigned len);
    /* Status changed (e.g. DRIVER_OK: start; may be NULL). */
    void (*set_status)(VirtIODevice *vdev, uint8_t status);
    /* Device reset (status written 0, or system reset): drop in-flight work
     * (after draining what the host side still has in flight). */
    void (*reset)(VirtIODevice *vdev);
} VirtIODeviceOps;

/* How the core reaches its transport (virtio-pci). */
typedef struct VirtIOTransport {
    void (*notify)(VirtIODevice *vdev, uint16_t vector);  /* raise an interrupt */
    void *opaque;
} VirtIOTransport;

struct VirtIODevice {
    const VirtIODeviceOps *ops;
    const char *name;           /* instance name for logs, "virtio-blk-pci.0" */
    uint8_t status;
    uint8_t isr;                /* VIRTIO_ISR_* bits, cleared by the ISR read */
    uint64_t host_features;     /* offered */
    uint64_t guest_features;    /* accepted by the driver */
    uint16_t config_vector;
    uint8_t config_generation;
    uint8_t *config;            /* device-specific config space */
    size_t config_len;
    VirtQueue *vq;              /* nvqs queues */
    unsigned nvqs;
    bool broken;                /* NEEDS_RESET set: no more queue processing */
    VirtIOTransport transport;
    void *opaque;               /* the device type's state */
};

/* ---- device core (hw/virtio/virtio.c) ---- */
/* Set up vdev with config_len bytes of config space (zeroed). */
void virtio_init(VirtIODevice *vdev, const VirtIODeviceOps *ops, const char *name,
                 size_t config_len, void *opaque);
/* Add queue index vdev->nvqs with num_max entries (power of 2, <= 1024). */
VirtQueue *virtio_add_queue(VirtIODevice *vdev, uint16_t num_max, VirtQueueHandler *handler);
/* Status register write (0 = reset); negotiates on FEATURES_OK. */
void virtio_set_status(VirtIODevice *vdev, uint8_t status);
/* Reset the device and every queue to the power-on state. */
void virtio_reset(VirtIODevice *vdev);
/* Legacy interface (virtio 1.2, 4.1.4.8): the driver wrote its feature bits
 * (no FEATURES_OK step); keeps the offered subset and calls set_features. */
void virtio_legacy_set_features(VirtIODevice *vdev, uint32_t features);
/* Offered to legacy drivers only, on top of host_features, as QEMU does:
 * NOTIFY_ON_EMPTY and ANY_LAYOUT (devices must accept any buffer layout). */
#define VIRTIO_LEGACY_TRANSPORT_FEATURES \
    (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY | 1ULL << VIRTIO_F_ANY_LAYOUT)
bool virtio_has_feature(const VirtIODevice *vdev, unsigned bit);   /* negotiated */
/* Is the driver done with setup (DRIVER_OK) and the device not broken? */
bool virtio_device_ready(const VirtIODevice *vdev);
/*
 * The driver broke the rules: log (rate-limited) "vdev->name: msg", set
 * NEEDS_RESET, stop processing, send a config interrupt (virtio 1.2,
 * 2.1.2).  Only a device reset clears it.
 */
void virtio_error(VirtIODevice *vdev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A queue kick (notify write or ioeventfd): runs the queue's handler. */
void virtio_queue_notify(VirtIODevice *vdev, unsigned index);

/* ---- split virtqueues (virtio 1.2, 2.7) ---- */
/*
 * Take the next available chain: 1 with *elem filled, 0 when the ring is
 * empty (or the device is not ready/broken), -1 when the ring is broken
 * (virtio_error already called).  Handles indirect tables, rejects loops,
 * out-of-RAM or out-of-table addresses, chains over VIRTQUEUE_MAX_SEGS,
 * readable buffers after writable ones, and zero-length tables.
 */
int virtqueue_pop(VirtQueue *vq, VirtQueueElement *elem);
/* Put elem back at the front of the avail ring (not processed after all). */
void virtqueue_unpop(VirtQueue *vq, const VirtQueueElement *elem);
/* Add elem to the used ring with len bytes written and publish used->idx. */
void virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len);
/* Batched form: fill several, then flush publishes used->idx once. */
void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len, unsigned i);
void virtqueue_flush(VirtQueue *vq, unsigned count);
/* Interrupt the driver for vq if it wants one (NO_INTERRUPT / used_event). */
void virtio_notify(VirtIODevice *vdev, VirtQueue *vq);
/* Config space changed: bump generation, config interrupt. */
void virtio_notify_config(VirtIODevice *vdev);
bool virtqueue_empty(VirtQueue *vq);
/* Number of available chains not yet popped (0 if the ring is unusable). */
unsigned virtqueue_avail_count(VirtQueue *vq);
/* Ask the driver to kick (enable) or not (disable) for new buffers:
 * VRING_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX. */
void virtqueue_set_notification(VirtQueue *vq, bool enable);
bool virtqueue_ready(const VirtQueue *vq);   /* enabled with valid addresses */

/* Copy helpers over an element's buffers; return bytes copied. */
size_t virtqueue_elem_read(const VirtQueueElement *elem, size_t off, void *buf, size_t len);
size_t virtqueue_elem_write(VirtQueueElement *elem, size_t off, const void *buf, size_t len);

/* ---- PCI transport (hw/virtio/virtio-pci.c) ---- */
typedef struct VirtioPciConfig {
    int devfn;                  /* -1: next free slot */
    unsigned vectors;           /* MSI-X vectors; 0 = none (INTx only) */
    bool disable_legacy;        /* no I/O BAR, device ID 0x1040 + id */
    bool disable_modern;        /* legacy only (virtio 0.9.5 layout) */
    bool ioeventfd;             /* use ioeventfds when the accelerator has them */
    uint16_t class_code;        /* e.g. 0x0100 storage, 0x0200 network, 0x00ff other */
} VirtioPciConfig;
/*
 * Expose vdev as a PCI function: transitional by default (the legacy
 * device IDs of virtio 1.2 4.1.2.1: net 0x1000, blk 0x1001, balloon
 * 0x1002; subsystem = device id, legacy I/O BAR0), MSI-X in BAR1,
 * and the modern capabilities (common, notify with multiplier 4, ISR,
 * device) in 64-bit BAR4 laid out as QEMU does.  0, or -1 with a message.
 */
int virtio_pci_create(VirtIODevice *vdev, const VirtioPciConfig *cfg);
/*
 * The transport properties of every virtio-*-pci -device: addr=,
 * vectors=, disable-legacy=on|off, disable-modern=on|off, ioeventfd=on|off,
 * over the defaults already in *cfg.  -1 with a message starting with what.
 */
int virtio_pci_parse_opts(Opts *o, const char *what, VirtioPciConfig *cfg);
/* The PCI function of a device created above (for info pci, tests). */
PCIDevice *virtio_pci_device(VirtIODevice *vdev);

/* ---- migration (hw/virtio/virtio.c, virtio-pci.c) ---- */
/*
 * The core state of a VirtIODevice: status, ISR, features, config vector
 * and generation, config space bytes, and every queue's size, enable,
 * ring addresses, ring positions and vector.  Its opaque is the
 * VirtIODevice.  post_load checks what the stream says against this
 * device (queue count, sizes, config length, features offered) and every
 * enabled queue's rings against guest RAM: it refuses the stream (-1)
 * rather than run a queue outside RAM.
 *
 * virtio_pci_create registers, for every device, one "virtio-pci" section
 * (instance = devfn) holding the PCI function, the transport registers and
 * this description; its post_load re-attaches ioeventfds, MSI-X routes and
 * INTx.  A device type therefore registers only its own extra state, under
 * its own name with the same instance (virtio_pci_device(vdev)->devfn),
 * and only if it has any; it may also embed this description in its own
 * with VMS_STRUCT if it holds the VirtIODevice by value.
 */
struct VMStateDescription;
extern const struct VMStateDescription vmstate_virtio_device;

/* ---- devices; each is also created by -device through devices.h ---- */
/* hw/virtio/virtio-blk.c */
struct BlockBackend;
typedef struct VirtioBlkConfig {
    struct BlockBackend *blk;
    const char *serial;         /* GET_ID string, at most 20 bytes */
    unsigned num_queues;        /* 1 by default */
    uint16_t queue_size;        /* 256 by default */
    bool discard, write_zeroes; /* on by default */
} VirtioBlkConfig;
VirtIODevice *virtio_blk_create(const VirtioBlkConfig *cfg, const VirtioPciConfig *pci);
/* -drive if=virtio: a virtio-blk-pci in the next free slot (serial from the drive). */
int virtio_blk_pci_from_drive(struct BlockBackend *blk);

/* hw/virtio/virtio-net.c */
struct NetClient;
typedef struct VirtioNetConfig {
    struct NetClient *peer;     /* the backend (may be NULL: no link) */
    uint8_t mac[6];
    uint16_t queue_size;        /* rx/tx ring size, 256 by default */
    bool mrg_rxbuf, ctrl_vq, csum, guest_csum, host_tso, guest_tso;  /* all on by default */
} VirtioNetConfig;
VirtIODevice *virtio_net_create(const VirtioNetConfig *cfg, const VirtioPciConfig *pci);
/* -net nic,model=virtio: a virtio-net-pci in the next free slot. */
int virtio_net_pci_from_nic(const uint8_t mac[6], struct NetClient *peer, const char *name);

/* hw/virtio/virtio-balloon.c */
typedef struct VirtioBalloonConfig {
    bool deflate_on_oom;
    /* guest-stats-polling-interval=N (seconds; 0 = no polling, the QEMU
     * default): the stats queue is always offered, this asks for updates. */
    unsigned stats_interval_s;
} VirtioBalloonConfig;
VirtIODevice *virtio_balloon_create(const VirtioBalloonConfig *cfg, const VirtioPciConfig *pci);
/* The monitor's balloon: NULL when no balloon device exists. */
VirtIODevice *virtio_balloon_instance(void);
/* Ask the guest for target_bytes of RAM (monitor "balloon N"). */
int virtio_balloon_set_target(VirtIODevice *vdev, uint64_t target_bytes);
/* What the guest has now ("actual"), and the last stats it reported. */
uint64_t virtio_balloon_actual(VirtIODevice *vdev);
typedef struct VirtioBalloonStats {
    bool valid;
    int64_t last_update;        /* seconds since the epoch, 0 = never */
    /* virtio 1.2, 5.5.6.3; -1 when the guest did not report one */
    int64_t swap_in, swap_out, major_faults, minor_faults, free_mem, total_mem,
            available_mem, disk_caches, hugetlb_allocs, hugetlb_failures;
} VirtioBalloonStats;
void virtio_balloon_get_stats(VirtIODevice *vdev, VirtioBalloonStats *out);

#endif
