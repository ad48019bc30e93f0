/*
 * mig-blk: a guest that keeps writing to a virtio-blk disk, for live
 * migration with a shared image (tests/integration/migration.sh).
 *
 * Polling virtio-blk driver (virtio 1.2, 5.2; modern PCI transport from
 * lib/virtio-pci.c), one request in flight.  Request n (n = 0, 1, ...)
 * writes sector n mod capacity; every 8 bytes of that sector hold
 * le32 n, le32 n ^ 0x6d696762 ("migb").  After each completed request the
 * guest prints "done N", so when the run ends, every sector up to the last
 * printed N must hold its sequence number (tests/integration/migration-*.py
 * checks the image).  With flush=K (default 64) a FLUSH follows every K
 * writes (when the device offers it).  "mig-blk: start" once per boot.
 * -append "max=N" stops after N writes (PASS); default: forever.
 *
 * Memory (RAM >= 32 MiB): rings and header at 16 MiB, the sector buffer at
 * 16 MiB + 64 KiB.  Every piece of driver state lives in guest RAM, so the
 * destination of a migration carries on where the source stopped.
 */
#include "virtio.h"

#define NAME "mig-blk"
#define SECTOR 512u
#define MIB (1024u * 1024u)
#define RING_BASE (16u * MIB)
#define DESC_ADDR (RING_BASE)
#define AVAIL_ADDR (RING_BASE + 0x1000u)
#define USED_ADDR (RING_BASE + 0x2000u)
#define HDR_ADDR (RING_BASE + 0x3000u)
#define STATUS_ADDR (RING_BASE + 0x4000u)
#define BUF_ADDR (RING_BASE + 0x10000u)
#define SEQ_MAGIC 0x6d696762u

#define F_BLK_FLUSH 9
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_S_OK 0

struct blk_req_hdr {
    uint32_t type, reserved;
    uint64_t sector;
} PACKED;

static struct virtio_pci vp = { .name = NAME };
static uintptr_t notify;
static uint64_t capacity;
static bool has_flush;
static uint16_t qsize, avail_idx, used_idx;
static volatile struct vring_desc *const desc = (volatile struct vring_desc *)DESC_ADDR;
static volatile struct vring_avail *const avail = (volatile struct vring_avail *)AVAIL_ADDR;
static volatile struct vring_used *const used = (volatile struct vring_used *)USED_ADDR;
static volatile struct blk_req_hdr *const hdr = (volatile struct blk_req_hdr *)HDR_ADDR;
static volatile uint8_t *const status = (volatile uint8_t *)STATUS_ADDR;

static void device_init(void)
{
    virtio_reset(&vp);
    uint64_t offered = virtio_device_features(&vp);
    has_flush = offered & (1ull << F_BLK_FLUSH);
    virtio_accept_features(&vp, 1ull << VIRTIO_F_VERSION_1 |
                                    (has_flush ? 1ull << F_BLK_FLUSH : 0));
    virtio_set_config_vector(&vp, VIRTIO_NO_VECTOR);
    qsize = virtio_queue_size(&vp, 0, 3);
    memset((void *)RING_BASE, 0, 0x5000);
    avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    notify = virtio_queue_enable(&vp, 0, qsize, VIRTIO_NO_VECTOR, DESC_ADDR, AVAIL_ADDR,
                                 USED_ADDR);
    virtio_driver_ok(&vp);
    /* 5.2.4: capacity, le64 at offset 0 of the device configuration. */
    capacity = (uint64_t)mmio_read32(vp.device + 4) << 32 | mmio_read32(vp.device);
}

/* One request (header, optional data, status), polled to completion. */
static void do_request(uint32_t type, uint64_t sector)
{
    hdr->type = type;
    hdr->reserved = 0;
    hdr->sector = sector;
    *status = 0xff;
    desc[0] = (struct vring_desc){ HDR_ADDR, sizeof(struct blk_req_hdr), VRING_DESC_F_NEXT, 1 };
    desc[1] = (struct vring_desc){ BUF_ADDR, SECTOR, VRING_DESC_F_NEXT, 2 };
    desc[2] = (struct vring_desc){ STATUS_ADDR, 1, VRING_DESC_F_WRITE, 0 };
    if (type == BLK_T_FLUSH)
        desc[0].next = 2;
    avail->ring[avail_idx & (qsize - 1)] = 0;
    avail_idx++;
    barrier();
    avail->idx = avail_idx;
    full_barrier();
    if (!(used->flags & VRING_USED_F_NO_NOTIFY))
        mmio_write16(notify, 0);
    uint64_t t0 = rdtsc();
    while (used->idx == used_idx) {
        /* A paused or migrating VM freezes the TSC too, so this only fires
         * on a device that really lost the request. */
        if (ns_since(t0) > 60000000000ull)
            fail(NAME, "request type %u sector %llu: no completion in 60 s", type, sector);
        cpu_relax();
    }
    barrier();
    uint32_t id = used->ring[used_idx & (qsize - 1)].id;
    used_idx++;
    if (id != 0)
        fail(NAME, "used ring returned descriptor %u", id);
    if (*status != BLK_S_OK)
        fail(NAME, "request type %u sector %llu: status %u", type, sector, *status);
}

static void fill_sector(uint32_t seq)
{
    volatile uint32_t *w = (volatile uint32_t *)BUF_ADDR;
    for (unsigned i = 0; i < SECTOR / 4; i += 2) {
        w[i] = seq;
        w[i + 1] = seq ^ SEQ_MAGIC;
    }
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail(NAME, "bad multiboot magic 0x%x", magic);
    printf(NAME ": start\n");
    uint32_t flush_every = cmdline_option(NAME, "flush", 64, 0, 1000000);
    uint32_t max = cmdline_option(NAME, "max", 0, 0, 0xffffffffu);
    tsc_clock_init(NAME);
    if (!virtio_pci_find(&vp, 0x1001, 0x1042))
        fail(NAME, "no virtio-blk PCI function (1af4:1001/1042) on bus 0");
    virtio_pci_find_capabilities(&vp);
    device_init();
    if (capacity == 0)
        fail(NAME, "empty disk");
    printf(NAME ": %llu sectors, flush %s\n", capacity, has_flush ? "yes" : "no");
    for (uint32_t seq = 0; !max || seq < max; seq++) {
        uint64_t sector;
        udiv64(seq, capacity, &sector);
        fill_sector(seq);
        do_request(BLK_T_OUT, sector);
        if (has_flush && flush_every && seq % flush_every == flush_every - 1)
            do_request(BLK_T_FLUSH, 0);
        printf("done %u\n", seq);
    }
    pass(NAME);
}
