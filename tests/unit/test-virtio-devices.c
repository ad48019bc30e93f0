/*
 * virtio-blk, virtio-net and virtio-balloon driven as a guest driver would
 * drive them, straight through the device core (no PCI accesses): rings in
 * a fake guest RAM, a raw image in a temporary file for the disk, a fake
 * backend client for the NIC.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block.h"
#include "fake-hw.h"
#include "hw.h"
#include "net.h"
#include "pci.h"
#include "unit.h"
#include "util.h"
#include "virtio.h"

#define PAGE 4096
#define RAM_SIZE (2 * 1024 * 1024)
#define QSIZE 16
#define BUF 0x100000

static uint8_t *ram;
static unsigned notifies;

/* ---- guest RAM and the driver's side of a queue ---- */
typedef struct Drv {
    VirtQueue *vq;
    uint64_t desc, avail, used;
    uint16_t next_desc;
} Drv;

static void ram_setup(void)
{
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(ram, MAP_FAILED);
    guest_ram_clear();
    guest_ram_add(0, RAM_SIZE, ram);
}

static void put16(uint64_t gpa, uint16_t v) { memcpy(ram + gpa, &v, 2); }
static void put32(uint64_t gpa, uint32_t v) { memcpy(ram + gpa, &v, 4); }
static void put64(uint64_t gpa, uint64_t v) { memcpy(ram + gpa, &v, 8); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, ram + gpa, 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, ram + gpa, 4); return v; }

static void fake_notify(VirtIODevice *d, uint16_t vector) { notifies++; }

/* Queue i of vdev at a fixed place in RAM. */
static void drv_init(Drv *q, VirtIODevice *vdev, unsigned i)
{
    q->vq = &vdev->vq[i];
    q->desc = 0x1000 + i * 0x3000;
    q->avail = q->desc + 0x1000;
    q->used = q->desc + 0x2000;
    q->next_desc = 0;
    q->vq->num = QSIZE;
    q->vq->desc = q->desc;
    q->vq->avail = q->avail;
    q->vq->used = q->used;
    q->vq->enabled = true;
}

typedef struct Buf { uint64_t addr; uint32_t len; bool write; } Buf;

/* Add a chain of n buffers and make it available; returns its head. */
static uint16_t drv_add(Drv *q, const Buf *b, unsigned n)
{
    uint16_t head = q->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t d = q->next_desc++ % QSIZE;
        uint64_t at = q->desc + 16 * d;
        put64(at, b[i].addr);
        put32(at + 8, b[i].len);
        put16(at + 12, (b[i].write ? VRING_DESC_F_WRITE : 0) |
                           (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        put16(at + 14, q->next_desc % QSIZE);
    }
    uint16_t idx = get16(q->avail + 2);
    put16(q->avail + 4 + 2 * (idx % QSIZE), head % QSIZE);
    put16(q->avail + 2, idx + 1);
    return head;
}

static uint16_t used_idx(Drv *q) { return get16(q->used + 2); }
static uint32_t used_len(Drv *q, unsigned i) { return get32(q->used + 4 + 8 * i + 4); }

static void start_driver(VirtIODevice *vdev, uint64_t features)
{
    vdev->transport.notify = fake_notify;
    vdev->guest_features = features & vdev->host_features;
    virtio_set_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                VIRTIO_CONFIG_S_FEATURES_OK);
    ck_assert(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);
}

static void driver_ok(VirtIODevice *vdev)
{
    virtio_set_status(vdev, vdev->status | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void machine_setup(void)
{
    fake_hw_setup();
    ram_setup();
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(pci_bus_init(), 0);
    notifies = 0;
}

/* ---- virtio-blk ---- */
#define DISK_SIZE (64 * 1024)
static char disk_path[64];
static BlockBackend *blk;
static VirtIODevice *bdev;
static Drv bq;

static void blk_setup(bool readonly, const char *serial)
{
    machine_setup();
    strcpy(disk_path, "/tmp/vmm-test-vblk-XXXXXX");
    int fd = mkstemp(disk_path);
    ck_assert_int_ge(fd, 0);
    uint8_t *img = malloc(DISK_SIZE);
    for (unsigned i = 0; i < DISK_SIZE; i++)
        img[i] = (uint8_t)(i / 512);
    ck_assert_int_eq(write(fd, img, DISK_SIZE), DISK_SIZE);
    free(img);
    close(fd);
    DriveOptions o = { .id = "disk0", .file = disk_path, .format = "raw",
                       .interface = BLK_IF_NONE, .readonly = readonly, .index = -1 };
    blk = blk_open(&o);
    unlink(disk_path);
    ck_assert_ptr_nonnull(blk);
    VirtioBlkConfig bc = { .blk = blk, .serial = serial, .num_queues = 1, .queue_size = QSIZE,
                           .discard = true, .write_zeroes = true };
    VirtioPciConfig pc = { .devfn = -1, .vectors = 2, .class_code = 0x0100 };
    bdev = virtio_blk_create(&bc, &pc);
    ck_assert_ptr_nonnull(bdev);
    start_driver(bdev, ~0ULL);
    drv_init(&bq, bdev, 0);
    driver_ok(bdev);
}

/* One request: header, optional data buffer, status byte. */
static uint8_t blk_request(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
                           bool data_in)
{
    uint64_t hdr = BUF, status = BUF + 0x100;
    put32(hdr, type);
    put32(hdr + 4, 0);
    put64(hdr + 8, sector);
    ram[status] = 0xee;
    Buf b[3] = { { hdr, 16, false } };
    unsigned n = 1;
    if (len)
        b[n++] = (Buf){ data, len, data_in };
    b[n++] = (Buf){ status, 1, true };
    uint16_t before = used_idx(&bq);
    drv_add(&bq, b, n);
    virtio_queue_notify(bdev, 0);
    blk_drain(blk);
    ck_assert_uint_eq(used_idx(&bq), (uint16_t)(before + 1));
    return ram[status];
}

START_TEST(blk_config_and_features)
{
    blk_setup(false, NULL);
    bdev->ops->get_config(bdev);
    uint64_t cap;
    memcpy(&cap, bdev->config, 8);
    ck_assert_uint_eq(cap, DISK_SIZE / 512);
    ck_assert_uint_eq(*(uint32_t *)(bdev->config + 12), QSIZE - 2);  /* seg_max */
    ck_assert_uint_eq(*(uint32_t *)(bdev->config + 20), 512);                     /* blk_size */
    ck_assert(bdev->host_features & (1ULL << 9));      /* FLUSH */
    ck_assert(bdev->host_features & (1ULL << 13));     /* DISCARD */
    ck_assert(!(bdev->host_features & (1ULL << 5)));   /* not RO */
    ck_assert_uint_eq(bdev->config_len, 60);
}
END_TEST

START_TEST(blk_write_then_read)
{
    blk_setup(false, NULL);
    uint64_t data = BUF + 0x1000;
    memset(ram + data, 0x5a, 1024);
    ck_assert_uint_eq(blk_request(1, 3, data, 1024, false), 0);
    ck_assert_uint_eq(used_len(&bq, 0), 1);
    memset(ram + data, 0, 1024);
    ck_assert_uint_eq(blk_request(0, 3, data, 1024, true), 0);
    ck_assert_uint_eq(used_len(&bq, 1), 1025);
    for (unsigned i = 0; i < 1024; i++)
        ck_assert_uint_eq(ram[data + i], 0x5a);
    /* The neighbours are untouched. */
    ck_assert_uint_eq(blk_request(0, 2, data, 512, true), 0);
    ck_assert_uint_eq(ram[data], 2);
    ck_assert_uint_eq(blk_request(0, 5, data, 512, true), 0);
    ck_assert_uint_eq(ram[data + 511], 5);
    ck_assert_uint_eq(blk_request(4, 0, 0, 0, false), 0);      /* FLUSH */
}
END_TEST

START_TEST(blk_bad_requests)
{
    blk_setup(false, NULL);
    uint64_t data = BUF + 0x1000;
    ck_assert_uint_eq(blk_request(0, DISK_SIZE / 512, data, 512, true), 1);   /* past end */
    ck_assert_uint_eq(blk_request(0, DISK_SIZE / 512 - 1, data, 1024, true), 1);
    ck_assert_uint_eq(blk_request(0, UINT64_MAX / 256, data, 512, true), 1);  /* overflow */
    ck_assert_uint_eq(blk_request(0, 0, data, 100, true), 1);                /* not 512n */
    ck_assert_uint_eq(blk_request(99, 0, 0, 0, false), 2);                   /* UNSUPP */
    ck_assert(!bdev->broken);
    /* A chain without a writable byte breaks the device, not vmm. */
    Buf b[1] = { { BUF, 16, false } };
    drv_add(&bq, b, 1);
    virtio_queue_notify(bdev, 0);
    ck_assert(bdev->broken);
}
END_TEST

START_TEST(blk_get_id)
{
    blk_setup(false, "SERIAL-42");
    uint64_t data = BUF + 0x1000;
    memset(ram + data, 0xff, 32);
    ck_assert_uint_eq(blk_request(8, 0, data, 20, true), 0);
    ck_assert_int_eq(memcmp(ram + data, "SERIAL-42\0\0\0\0\0\0\0\0\0\0\0", 20), 0);
}
END_TEST

START_TEST(blk_write_zeroes_and_discard)
{
    blk_setup(false, NULL);
    uint64_t seg = BUF + 0x1000, data = BUF + 0x2000;
    put64(seg, 4);
    put32(seg + 8, 2);
    put32(seg + 12, 0);
    ck_assert_uint_eq(blk_request(13, 0, seg, 16, false), 0);
    ck_assert_uint_eq(blk_request(0, 4, data, 1024, true), 0);
    for (unsigned i = 0; i < 1024; i++)
        ck_assert_uint_eq(ram[data + i], 0);
    ck_assert_uint_eq(blk_request(0, 6, data, 512, true), 0);
    ck_assert_uint_eq(ram[data], 6);
    put32(seg + 12, 1);     /* UNMAP on a discard: unsupported */
    ck_assert_uint_eq(blk_request(11, 0, seg, 16, false), 2);
    put32(seg + 12, 0);
    put64(seg, DISK_SIZE / 512);
    ck_assert_uint_eq(blk_request(11, 0, seg, 16, false), 1);
}
END_TEST

START_TEST(blk_read_only)
{
    blk_setup(true, NULL);
    ck_assert(bdev->host_features & (1ULL << 5));
    ck_assert_uint_eq(blk_request(1, 0, BUF + 0x1000, 512, false), 1);
    ck_assert_uint_eq(blk_request(0, 0, BUF + 0x1000, 512, true), 0);
}
END_TEST

START_TEST(blk_many_in_flight)
{
    blk_setup(false, NULL);
    /* Fill the whole ring before one kick: 5 requests of 3 descriptors. */
    for (unsigned i = 0; i < 5; i++) {
        uint64_t hdr = BUF + i * 0x1000, data = hdr + 0x200, st = hdr + 0x100;
        put32(hdr, 0);
        put64(hdr + 8, i);
        ram[st] = 0xee;
        Buf b[3] = { { hdr, 16, false }, { data, 512, true }, { st, 1, true } };
        drv_add(&bq, b, 3);
    }
    virtio_queue_notify(bdev, 0);
    blk_drain(blk);
    ck_assert_uint_eq(used_idx(&bq), 5);
    for (unsigned i = 0; i < 5; i++) {
        ck_assert_uint_eq(ram[BUF + i * 0x1000 + 0x100], 0);
        ck_assert_uint_eq(ram[BUF + i * 0x1000 + 0x200], i);
    }
    ck_assert_uint_ge(notifies, 1);
}
END_TEST

/* ---- virtio-net ---- */
static VirtIODevice *ndev;
static NetClient *backend;
static Drv rxq, txq, ctlq;
static uint8_t last_frame[2048];
static size_t last_len;
static unsigned frames;

static ssize_t backend_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(last_frame + n, iov[i].iov_base, MIN(iov[i].iov_len, sizeof(last_frame) - n));
        n += MIN(iov[i].iov_len, sizeof(last_frame) - n);
    }
    last_len = n;
    frames++;
    return (ssize_t)n;
}

static const NetClientOps backend_ops = { .kind = NET_CLIENT_SOCKET, .receive = backend_receive };
static const uint8_t nic_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void net_setup(uint64_t features)
{
    machine_setup();
    frames = 0;
    backend = net_client_new(&backend_ops, "be0", NULL);
    VirtioNetConfig nc = { .peer = backend, .queue_size = QSIZE, .mrg_rxbuf = true,
                           .ctrl_vq = true, .csum = true, .guest_csum = true,
                           .host_tso = true, .guest_tso = true };
    memcpy(nc.mac, nic_mac, 6);
    VirtioPciConfig pc = { .devfn = -1, .vectors = 4, .class_code = 0x0200 };
    ndev = virtio_net_create(&nc, &pc);
    ck_assert_ptr_nonnull(ndev);
    start_driver(ndev, features);
    drv_init(&rxq, ndev, 0);
    drv_init(&txq, ndev, 1);
    drv_init(&ctlq, ndev, 2);
    driver_ok(ndev);
}

#define F_VERSION_1 (1ULL << VIRTIO_F_VERSION_1)
#define F_MRG (1ULL << 15)
#define F_CSUM (1ULL << 0)
#define F_CTRL (1ULL << 17 | 1ULL << 18)

static void frame_fill(uint8_t *p, size_t len, const uint8_t *dst)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, "\x52\x54\x00\xaa\xbb\xcc", 6);
    for (size_t i = 12; i < len; i++)
        p[i] = (uint8_t)i;
}

START_TEST(net_config_and_features)
{
    net_setup(F_VERSION_1);
    ndev->ops->get_config(ndev);
    ck_assert_int_eq(memcmp(ndev->config, nic_mac, 6), 0);
    ck_assert_uint_eq(*(uint16_t *)(ndev->config + 6), 1);   /* LINK_UP */
    ck_assert(ndev->host_features & (1ULL << 5));     /* MAC */
    ck_assert(ndev->host_features & F_MRG);
    /* No vnet-header backend: no TSO offered. */
    ck_assert(!(ndev->host_features & (1ULL << 11)));
    ck_assert(!(ndev->host_features & (1ULL << 7)));
}
END_TEST

START_TEST(net_tx_frame)
{
    net_setup(F_VERSION_1);
    uint64_t hdr = BUF, data = BUF + 0x100;
    memset(ram + hdr, 0, 12);
    frame_fill(ram + data, 60, nic_mac);
    Buf b[2] = { { hdr, 12, false }, { data, 60, false } };
    drv_add(&txq, b, 2);
    virtio_queue_notify(ndev, 1);
    ck_assert_uint_eq(frames, 1);
    ck_assert_uint_eq(last_len, 60);
    ck_assert_int_eq(memcmp(last_frame, ram + data, 60), 0);
    ck_assert_uint_eq(used_idx(&txq), 1);
}
END_TEST

START_TEST(net_tx_checksum_offload)
{
    net_setup(F_VERSION_1 | F_CSUM);
    uint64_t pkt = BUF;
    /* header in the same buffer as the frame (ANY_LAYOUT) */
    memset(ram + pkt, 0, 12);
    ram[pkt] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    put16(pkt + 6, 34);     /* csum_start */
    put16(pkt + 8, 6);      /* csum_offset */
    uint8_t *f = ram + pkt + 12;
    frame_fill(f, 80, nic_mac);
    f[40] = 0x12;           /* pseudo-header seed in the field */
    f[41] = 0x34;
    Buf b[1] = { { pkt, 92, false } };
    drv_add(&txq, b, 1);
    virtio_queue_notify(ndev, 1);
    ck_assert_uint_eq(frames, 1);
    ck_assert_uint_eq(last_len, 80);
    /* Data + the seed + the result fold to 0xffff (RFC 1071). */
    uint32_t sum = 0x1234 + ((uint32_t)last_frame[40] << 8 | last_frame[41]);
    for (unsigned i = 34; i < 80; i += 2)
        if (i != 40)
            sum += (uint32_t)last_frame[i] << 8 | last_frame[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    ck_assert_uint_eq(sum, 0xffff);
    ck_assert_int_eq(memcmp(last_frame, f, 34), 0);
}
END_TEST

START_TEST(net_rx_single_and_merged)
{
    net_setup(F_VERSION_1 | F_MRG);
    uint8_t frame[250];
    frame_fill(frame, sizeof(frame), nic_mac);
    Buf big[1] = { { BUF, 1526, true } };
    drv_add(&rxq, big, 1);
    virtio_queue_notify(ndev, 0);
    ck_assert_int_eq(net_send_buf(backend, frame, 60, NULL), 60);
    ck_assert_uint_eq(used_idx(&rxq), 1);
    ck_assert_uint_eq(used_len(&rxq, 0), 72);
    ck_assert_uint_eq(get16(BUF + 10), 1);     /* num_buffers */
    ck_assert_int_eq(memcmp(ram + BUF + 12, frame, 60), 0);

    /* 250 bytes over three 100-byte buffers. */
    for (unsigned i = 0; i < 3; i++) {
        Buf s[1] = { { BUF + 0x1000 * (i + 1), 100, true } };
        drv_add(&rxq, s, 1);
    }
    ck_assert_int_eq(net_send_buf(backend, frame, 250, NULL), 250);
    ck_assert_uint_eq(used_idx(&rxq), 4);
    ck_assert_uint_eq(get16(BUF + 0x1000 + 10), 3);
    ck_assert_uint_eq(used_len(&rxq, 1), 100);
    ck_assert_uint_eq(used_len(&rxq, 3), 262 - 200);
    ck_assert_int_eq(memcmp(ram + BUF + 0x1000 + 12, frame, 88), 0);
    ck_assert_int_eq(memcmp(ram + BUF + 0x3000, frame + 188, 62), 0);
}
END_TEST

START_TEST(net_rx_backpressure)
{
    net_setup(F_VERSION_1 | F_MRG);
    uint8_t frame[60];
    frame_fill(frame, sizeof(frame), nic_mac);
    /* No buffers: the net layer keeps the frame. */
    ck_assert_int_eq(net_send_buf(backend, frame, 60, NULL), 0);
    Buf big[1] = { { BUF, 1526, true } };
    drv_add(&rxq, big, 1);
    virtio_queue_notify(ndev, 0);
    ck_assert_uint_eq(used_idx(&rxq), 1);
    ck_assert_int_eq(memcmp(ram + BUF + 12, frame, 60), 0);
}
END_TEST

static uint8_t ctrl_cmd(uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    uint64_t out = BUF + 0x8000, ack = BUF + 0x9000;
    ram[out] = cls;
    ram[out + 1] = cmd;
    memcpy(ram + out + 2, data, len);
    ram[ack] = 0xee;
    Buf b[2] = { { out, 2 + len, false }, { ack, 1, true } };
    drv_add(&ctlq, b, 2);
    virtio_queue_notify(ndev, 2);
    return ram[ack];
}

START_TEST(net_rx_filter_ctrl)
{
    net_setup(F_VERSION_1 | F_MRG | F_CTRL);
    uint8_t off = 0, frame[60];
    static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };
    ck_assert_uint_eq(ctrl_cmd(0, 0, &off, 1), 0);     /* promisc off */
    ck_assert_uint_eq(ctrl_cmd(7, 0, &off, 1), 1);     /* unknown class */
    Buf big[1] = { { BUF, 1526, true } };
    drv_add(&rxq, big, 1);
    frame_fill(frame, 60, other);
    ck_assert_int_eq(net_send_buf(backend, frame, 60, NULL), 60);
    ck_assert_uint_eq(used_idx(&rxq), 0);          /* filtered */
    frame_fill(frame, 60, nic_mac);
    ck_assert_int_eq(net_send_buf(backend, frame, 60, NULL), 60);
    ck_assert_uint_eq(used_idx(&rxq), 1);
    /* MAC_TABLE_SET: one unicast entry, no multicast. */
    uint8_t tbl[4 + 6 + 4] = { 1, 0, 0, 0 };
    memcpy(tbl + 4, other, 6);
    ck_assert_uint_eq(ctrl_cmd(1, 0, tbl, sizeof(tbl)), 0);
    ck_assert_uint_eq(ctrl_cmd(1, 0, tbl, sizeof(tbl) - 1), 1);   /* truncated */
    drv_add(&rxq, big, 1);
    frame_fill(frame, 60, other);
    ck_assert_int_eq(net_send_buf(backend, frame, 60, NULL), 60);
    ck_assert_uint_eq(used_idx(&rxq), 2);
}
END_TEST

START_TEST(net_link_status)
{
    net_setup(F_VERSION_1);
    unsigned before = notifies;
    ck_assert_int_eq(net_set_link("be0", false), 0);
    ndev->ops->get_config(ndev);
    ck_assert_uint_eq(*(uint16_t *)(ndev->config + 6) & 1, 0);
    ck_assert_uint_gt(notifies, before);
    ck_assert_int_eq(net_set_link("be0", true), 0);
    ndev->ops->get_config(ndev);
    ck_assert_uint_eq(*(uint16_t *)(ndev->config + 6) & 1, 1);
}
END_TEST

/* ---- virtio-balloon ---- */
static VirtIODevice *vb;
static Drv infq, defq, statq;

static void balloon_setup(unsigned interval)
{
    machine_setup();
    VirtioBalloonConfig bc = { .deflate_on_oom = true, .stats_interval_s = interval };
    VirtioPciConfig pc = { .devfn = -1, .class_code = 0x00ff };
    vb = virtio_balloon_create(&bc, &pc);
    ck_assert_ptr_nonnull(vb);
    ck_assert_ptr_eq(virtio_balloon_instance(), vb);
    start_driver(vb, ~0ULL);
    drv_init(&infq, vb, 0);
    drv_init(&defq, vb, 1);
    drv_init(&statq, vb, 2);
    driver_ok(vb);
}

START_TEST(balloon_inflate_discards)
{
    balloon_setup(0);
    ck_assert(vb->host_features & (1ULL << 2));    /* DEFLATE_ON_OOM */
    memset(ram + 0x180000, 0xab, PAGE);
    put32(BUF, 0x180);
    put32(BUF + 4, 0xffffffff);     /* outside RAM: logged, skipped */
    Buf b[1] = { { BUF, 8, false } };
    drv_add(&infq, b, 1);
    virtio_queue_notify(vb, 0);
    ck_assert_uint_eq(used_idx(&infq), 1);
    ck_assert_uint_eq(ram[0x180000], 0);
    ck_assert_uint_eq(ram[0x180000 + PAGE - 1], 0);
    drv_add(&defq, b, 1);
    virtio_queue_notify(vb, 1);
    ck_assert_uint_eq(used_idx(&defq), 1);
    ck_assert(!vb->broken);
}
END_TEST

START_TEST(balloon_target_and_actual)
{
    balloon_setup(0);
    ck_assert_int_eq(virtio_balloon_set_target(vb, RAM_SIZE / 2), 0);
    vb->ops->get_config(vb);
    ck_assert_uint_eq(*(uint32_t *)vb->config, RAM_SIZE / 2 / PAGE);
    uint32_t act = 64;
    memcpy(vb->config + 4, &act, 4);
    vb->ops->set_config(vb, 4, 4);
    ck_assert_uint_eq(virtio_balloon_actual(vb), RAM_SIZE - 64 * PAGE);
    VirtioBalloonConfig bc = { 0 };
    VirtioPciConfig pc = { .devfn = -1 };
    ck_assert_ptr_null(virtio_balloon_create(&bc, &pc));
}
END_TEST

START_TEST(balloon_stats)
{
    balloon_setup(0);
    VirtioBalloonStats st;
    virtio_balloon_get_stats(vb, &st);
    ck_assert(!st.valid);
    uint8_t *p = ram + BUF;
    uint16_t tag = 4;       /* MEMFREE */
    uint64_t val = 123456;
    memcpy(p, &tag, 2);
    memcpy(p + 2, &val, 8);
    tag = 5;                /* MEMTOT */
    val = 999;
    memcpy(p + 10, &tag, 2);
    memcpy(p + 12, &val, 8);
    Buf b[1] = { { BUF, 20, false } };
    drv_add(&statq, b, 1);
    virtio_queue_notify(vb, 2);
    virtio_balloon_get_stats(vb, &st);
    ck_assert(st.valid);
    ck_assert_int_eq(st.free_mem, 123456);
    ck_assert_int_eq(st.total_mem, 999);
    ck_assert_int_eq(st.swap_in, -1);
    ck_assert_uint_eq(used_idx(&statq), 0);     /* held until the next poll */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio-devices");
    UNIT_TEST(s, blk_config_and_features);
    UNIT_TEST(s, blk_write_then_read);
    UNIT_TEST(s, blk_bad_requests);
    UNIT_TEST(s, blk_get_id);
    UNIT_TEST(s, blk_write_zeroes_and_discard);
    UNIT_TEST(s, blk_read_only);
    UNIT_TEST(s, blk_many_in_flight);
    UNIT_TEST(s, net_config_and_features);
    UNIT_TEST(s, net_tx_frame);
    UNIT_TEST(s, net_tx_checksum_offload);
    UNIT_TEST(s, net_rx_single_and_merged);
    UNIT_TEST(s, net_rx_backpressure);
    UNIT_TEST(s, net_rx_filter_ctrl);
    UNIT_TEST(s, net_link_status);
    UNIT_TEST(s, balloon_inflate_discards);
    UNIT_TEST(s, balloon_target_and_actual);
    UNIT_TEST(s, balloon_stats);
    return unit_run(s);
}
