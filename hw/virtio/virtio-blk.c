/*
 * virtio-blk (virtio 1.2, 5.2): a disk backed by a BlockBackend.
 *
 * Requests are asynchronous: every chain popped from a request queue goes
 * into a request slot from a per-queue pool (as many slots as the queue
 * has entries, so there is no allocation per request), is submitted to the
 * block layer on the element's own buffers, and is completed (status
 * byte, used ring, interrupt) from the block layer's callback.  A kick
 * drains the whole avail ring with notifications disabled.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "devices.h"
#include "pc.h"
#include "virtio.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
/* Legacy drivers may set the barrier bit (virtio 0.9.5, VIRTIO_BLK_F_BARRIER). */
#define VIRTIO_BLK_T_BARRIER 0x80000000u
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1
#define VIRTIO_BLK_ID_BYTES 20

#define BLK_REQ_HDR_SIZE 16     /* le32 type, le32 reserved, le64 sector */
#define BLK_DWZ_SEG_SIZE 16     /* le64 sector, le32 num_sectors, le32 flags */
/* Per-request limits for discard / write zeroes, QEMU's defaults. */
#define BLK_MAX_DWZ_SECTORS 0x3fffffu

/* struct virtio_blk_config offsets (5.2.4). */
#define CFG_CAPACITY 0
#define CFG_SEG_MAX 12
#define CFG_BLK_SIZE 20
#define CFG_PHYS_BLOCK_EXP 24
#define CFG_NUM_QUEUES 34
#define CFG_MAX_DISCARD_SECTORS 36
#define CFG_MAX_DISCARD_SEG 40
#define CFG_DISCARD_ALIGN 44
#define CFG_MAX_WZ_SECTORS 48
#define CFG_MAX_WZ_SEG 52
#define CFG_WZ_MAY_UNMAP 56
#define BLK_CONFIG_SIZE 60

#define BLK_MAX_QUEUES 64

typedef struct VirtIOBlock VirtIOBlock;
typedef struct BlkQueue BlkQueue;

typedef struct BlkReq {
    BlkQueue *q;
    struct BlkReq *next_free;
    uint8_t *status;            /* last byte of the last writable buffer */
    uint32_t used_len;          /* reported in the used ring */
    bool in_use;
    int iovcnt;
    struct iovec iov[VIRTQUEUE_MAX_SEGS];   /* the data part of elem.sg */
    VirtQueueElement elem;
} BlkReq;

struct BlkQueue {
    VirtIOBlock *s;
    VirtQueue *vq;
    BlkReq *pool;
    BlkReq *free_list;
    bool starved;               /* popping stopped: every slot in flight */
};

struct VirtIOBlock {
    VirtIODevice vdev;
    BlockBackend *blk;
    char serial[VIRTIO_BLK_ID_BYTES];
    unsigned num_queues;
    uint16_t queue_size;
    unsigned logical_block_size, physical_block_size;
    bool discard, write_zeroes;
    bool resetting;             /* completions from before a reset are dropped */
    BlkQueue queues[BLK_MAX_QUEUES];
};

static unsigned blk_instances;

/* ---- little-endian config helpers ---- */
static void put_le16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put_le32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put_le64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

/* ---- request pool ---- */
static BlkReq *req_get(BlkQueue *q)
{
    BlkReq *r = q->free_list;
    if (!r)
        return NULL;
    q->free_list = r->next_free;
    r->in_use = true;
    return r;
}

static void req_put(BlkReq *r)
{
    BlkQueue *q = r->q;
    r->in_use = false;
    r->next_free = q->free_list;
    q->free_list = r;
}

static void pool_init(BlkQueue *q, unsigned size)
{
    q->pool = xzalloc(sizeof(BlkReq) * size);
    q->free_list = NULL;
    for (unsigned i = size; i-- > 0;) {
        q->pool[i].q = q;
        req_put(&q->pool[i]);
    }
}

static void blk_handle_queue(VirtIODevice *vdev, VirtQueue *vq);

/* Finish a request: status byte, used ring, interrupt. */
static void req_complete(BlkReq *r, uint8_t status)
{
    BlkQueue *q = r->q;
    VirtIOBlock *s = q->s;
    if (!s->resetting) {
        *r->status = status;
        virtqueue_push(q->vq, &r->elem, r->used_len);
        virtio_notify(&s->vdev, q->vq);
    }
    req_put(r);
    if (q->starved && !s->resetting) {
        q->starved = false;
        blk_handle_queue(&s->vdev, q->vq);
    }
}

static void req_done_cb(void *opaque, int ret)
{
    BlkReq *r = opaque;
    if (ret < 0)
        log_msg(LOG_GUEST_ERROR, "%s: I/O error %d\n", r->q->s->vdev.name, ret);
    req_complete(r, ret < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

/*
 * Is [sector * 512, + len) inside the disk and aligned to the logical
 * block size?  sector comes from the guest: check for overflow first.
 */
static bool req_range_ok(VirtIOBlock *s, uint64_t sector, uint64_t len)
{
    int64_t cap = blk_getlength(s->blk);
    unsigned lbs = s->logical_block_size;
    if (cap < 0 || sector > UINT64_MAX / BDRV_SECTOR_SIZE)
        return false;
    uint64_t off = sector * BDRV_SECTOR_SIZE;
    if (off % lbs || len % lbs)
        return false;
    return off <= (uint64_t)cap && len <= (uint64_t)cap - off;
}

/* IN / OUT: data between the header and the status byte. */
static void req_submit_rw(BlkReq *r, bool write, uint64_t sector)
{
    VirtIOBlock *s = r->q->s;
    VirtQueueElement *e = &r->elem;
    size_t len;
    if (write) {
        len = e->out_len - BLK_REQ_HDR_SIZE;
        r->iovcnt = iov_view(e->sg, e->out_num, BLK_REQ_HDR_SIZE, len, r->iov,
                             VIRTQUEUE_MAX_SEGS);
    } else {
        len = e->in_len - 1;
        r->iovcnt = iov_view(e->sg + e->out_num, e->in_num, 0, len, r->iov,
                             VIRTQUEUE_MAX_SEGS);
    }
    if (r->iovcnt < 0 || !req_range_ok(s, sector, len)) {
        guest_error("%s: %s of %zu bytes at sector %llu is out of range or misaligned\n",
                    s->vdev.name, write ? "write" : "read", len, (unsigned long long)sector);
        req_complete(r, VIRTIO_BLK_S_IOERR);
        return;
    }
    if (write && blk_is_read_only(s->blk)) {
        req_complete(r, VIRTIO_BLK_S_IOERR);
        return;
    }
    uint64_t off = sector * BDRV_SECTOR_SIZE;
    if (write)
        blk_aio_pwritev(s->blk, off, r->iov, r->iovcnt, req_done_cb, r);
    else
        blk_aio_preadv(s->blk, off, r->iov, r->iovcnt, req_done_cb, r);
}

static void req_get_id(BlkReq *r)
{
    VirtIOBlock *s = r->q->s;
    VirtQueueElement *e = &r->elem;
    size_t room = MIN(e->in_len - 1, (size_t)VIRTIO_BLK_ID_BYTES);
    /* Zero-padded, not NUL-terminated when it is 20 bytes long (5.2.6). */
    iov_from_buf(e->sg + e->out_num, e->in_num, 0, s->serial, room);
    req_complete(r, VIRTIO_BLK_S_OK);
}

/* DISCARD / WRITE_ZEROES: one segment, as max_*_seg in the config says. */
static void req_discard_write_zeroes(BlkReq *r, bool zeroes)
{
    VirtIOBlock *s = r->q->s;
    VirtQueueElement *e = &r->elem;
    uint8_t seg[BLK_DWZ_SEG_SIZE];
    size_t data_len = e->out_len - BLK_REQ_HDR_SIZE;
    if (data_len != BLK_DWZ_SEG_SIZE) {
        guest_error("%s: %s with %zu bytes of segments (one supported)\n", s->vdev.name,
                    zeroes ? "write-zeroes" : "discard", data_len);
        req_complete(r, data_len > BLK_DWZ_SEG_SIZE ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR);
        return;
    }
    iov_to_buf(e->sg, e->out_num, BLK_REQ_HDR_SIZE, seg, sizeof(seg));
    uint64_t sector;
    uint32_t nsect, flags;
    memcpy(&sector, seg, 8);
    memcpy(&nsect, seg + 8, 4);
    memcpy(&flags, seg + 12, 4);
    sector = le64toh(sector);
    nsect = le32toh(nsect);
    flags = le32toh(flags);
    /* 5.2.6.2: unknown flags, or UNMAP on a discard, are unsupported. */
    uint32_t allowed = zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
    if (flags & ~allowed) {
        req_complete(r, VIRTIO_BLK_S_UNSUPP);
        return;
    }
    uint64_t len = (uint64_t)nsect * BDRV_SECTOR_SIZE;
    if (nsect > BLK_MAX_DWZ_SECTORS || !req_range_ok(s, sector, len) ||
        blk_is_read_only(s->blk)) {
        req_complete(r, VIRTIO_BLK_S_IOERR);
        return;
    }
    uint64_t off = sector * BDRV_SECTOR_SIZE;
    if (zeroes) {
        int f = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ? BLK_ZERO_MAY_UNMAP : 0;
        blk_aio_pwrite_zeroes(s->blk, off, len, f, req_done_cb, r);
    } else {
        blk_aio_pdiscard(s->blk, off, len, req_done_cb, r);
    }
}

/* Parse the header of a popped chain and start it. */
static void req_start(BlkReq *r)
{
    VirtIOBlock *s = r->q->s;
    VirtQueueElement *e = &r->elem;
    if (e->in_num == 0 || e->in_len == 0) {
        /* Nowhere to put a status byte: the driver broke the protocol. */
        virtio_error(&s->vdev, "request without a status byte");
        req_put(r);
        return;
    }
    const struct iovec *last = &e->sg[e->out_num + e->in_num - 1];
    r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
    /* The device wrote (or may have written) every writable byte. */
    r->used_len = (uint32_t)MIN(e->in_len, (size_t)UINT32_MAX);
    if (last->iov_len == 0) {
        virtio_error(&s->vdev, "request with an empty last buffer");
        req_put(r);
        return;
    }
    uint8_t hdr[BLK_REQ_HDR_SIZE];
    if (e->out_len < BLK_REQ_HDR_SIZE) {
        guest_error("%s: request header of %zu bytes\n", s->vdev.name, e->out_len);
        req_complete(r, VIRTIO_BLK_S_IOERR);
        return;
    }
    iov_to_buf(e->sg, e->out_num, 0, hdr, sizeof(hdr));
    uint32_t type;
    uint64_t sector;
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    type = le32toh(type) & ~VIRTIO_BLK_T_BARRIER;
    sector = le64toh(sector);

    switch (type) {
    case VIRTIO_BLK_T_IN:
        req_submit_rw(r, false, sector);
        break;
    case VIRTIO_BLK_T_OUT:
        req_submit_rw(r, true, sector);
        break;
    case VIRTIO_BLK_T_FLUSH:
        blk_aio_flush(s->blk, req_done_cb, r);
        break;
    case VIRTIO_BLK_T_GET_ID:
        req_get_id(r);
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
        bool zeroes = type == VIRTIO_BLK_T_WRITE_ZEROES;
        if (!virtio_has_feature(&s->vdev, zeroes ? VIRTIO_BLK_F_WRITE_ZEROES
                                                 : VIRTIO_BLK_F_DISCARD)) {
            req_complete(r, VIRTIO_BLK_S_UNSUPP);
            break;
        }
        req_discard_write_zeroes(r, zeroes);
        break;
    }
    default:
        req_complete(r, VIRTIO_BLK_S_UNSUPP);
        break;
    }
}

/*
 * A kick: start every available request.  Notifications stay off while we
 * drain; after turning them back on, check again for a chain the driver
 * added in between (it did not kick because we said not to).
 */
static void blk_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBlock *s = vdev->opaque;
    if (vq->index >= s->num_queues)
        return;
    BlkQueue *q = &s->queues[vq->index];
    if (q->starved)
        return;     /* a completion re-runs the queue */
    do {
        if (!virtio_device_ready(vdev))
            return;
        virtqueue_set_notification(vq, false);
        for (;;) {
            BlkReq *r = req_get(q);
            if (!r) {
                q->starved = true;
                return;
            }
            int ret = virtqueue_pop(vq, &r->elem);
            if (ret <= 0) {
                req_put(r);
                if (ret < 0)
                    return;
                break;
            }
            req_start(r);
        }
        virtqueue_set_notification(vq, true);
    } while (!virtqueue_empty(vq));
}

/* ---- config space and device ops ---- */
static uint64_t blk_get_features(VirtIODevice *vdev)
{
    VirtIOBlock *s = vdev->opaque;
    uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
                 (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_TOPOLOGY);
    if (blk_is_read_only(s->blk))
        f |= 1ULL << VIRTIO_BLK_F_RO;
    if (s->num_queues > 1)
        f |= 1ULL << VIRTIO_BLK_F_MQ;
    if (s->discard)
        f |= 1ULL << VIRTIO_BLK_F_DISCARD;
    if (s->write_zeroes)
        f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
    return f;
}

static void blk_get_config(VirtIODevice *vdev)
{
    VirtIOBlock *s = vdev->opaque;
    uint8_t *c = vdev->config;
    int64_t len = blk_getlength(s->blk);
    unsigned align = s->logical_block_size / BDRV_SECTOR_SIZE;
    uint8_t exp = 0;
    while ((s->logical_block_size << (exp + 1)) <= s->physical_block_size)
        exp++;
    memset(c, 0, vdev->config_len);
    put_le64(c + CFG_CAPACITY, len > 0 ? (uint64_t)len / BDRV_SECTOR_SIZE : 0);
    /* 5.2.4: seg_max; two descriptors go to the header and status. */
    put_le32(c + CFG_SEG_MAX, s->queue_size - 2);
    put_le32(c + CFG_BLK_SIZE, s->logical_block_size);
    c[CFG_PHYS_BLOCK_EXP] = exp;
    put_le16(c + CFG_NUM_QUEUES, (uint16_t)s->num_queues);
    put_le32(c + CFG_MAX_DISCARD_SECTORS, BLK_MAX_DWZ_SECTORS);
    put_le32(c + CFG_MAX_DISCARD_SEG, 1);
    put_le32(c + CFG_DISCARD_ALIGN, align);
    put_le32(c + CFG_MAX_WZ_SECTORS, BLK_MAX_DWZ_SECTORS);
    put_le32(c + CFG_MAX_WZ_SEG, 1);
    c[CFG_WZ_MAY_UNMAP] = blk_can_discard(s->blk) ? 1 : 0;
}

static void blk_reset(VirtIODevice *vdev)
{
    VirtIOBlock *s = vdev->opaque;
    /* Requests still in the block layer finish without touching the rings. */
    s->resetting = true;
    blk_drain(s->blk);
    s->resetting = false;
    for (unsigned i = 0; i < s->num_queues; i++) {
        BlkQueue *q = &s->queues[i];
        q->starved = false;
        q->free_list = NULL;
        for (unsigned j = s->queue_size; j-- > 0;) {
            q->pool[j].in_use = true;
            req_put(&q->pool[j]);
        }
    }
}

static const VirtIODeviceOps virtio_blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .get_features = blk_get_features,
    .get_config = blk_get_config,
    .reset = blk_reset,
};

static void blk_free(VirtIOBlock *s)
{
    for (unsigned i = 0; i < s->num_queues; i++)
        free(s->queues[i].pool);
    free((char *)s->vdev.name);
    free(s);
}

VirtIODevice *virtio_blk_create(const VirtioBlkConfig *cfg, const VirtioPciConfig *pci)
{
    VirtIOBlock *s = xzalloc(sizeof(*s));
    s->blk = cfg->blk;
    s->num_queues = cfg->num_queues ? cfg->num_queues : 1;
    s->queue_size = cfg->queue_size ? cfg->queue_size : 256;
    s->discard = cfg->discard;
    s->write_zeroes = cfg->write_zeroes;
    s->logical_block_size = blk_logical_block_size(cfg->blk);
    if (s->logical_block_size < BDRV_SECTOR_SIZE)
        s->logical_block_size = BDRV_SECTOR_SIZE;
    s->physical_block_size = s->logical_block_size;
    if (cfg->serial)
        memcpy(s->serial, cfg->serial, MIN(strlen(cfg->serial), sizeof(s->serial)));
    if (s->num_queues > BLK_MAX_QUEUES) {
        error_report("virtio-blk: num-queues %u: at most %d", s->num_queues, BLK_MAX_QUEUES);
        free(s);
        return NULL;
    }
    char *name = xasprintf("virtio-blk-pci.%u", blk_instances);
    virtio_init(&s->vdev, &virtio_blk_ops, name, BLK_CONFIG_SIZE, s);
    for (unsigned i = 0; i < s->num_queues; i++) {
        BlkQueue *q = &s->queues[i];
        q->s = s;
        q->vq = virtio_add_queue(&s->vdev, s->queue_size, blk_handle_queue);
        pool_init(q, s->queue_size);
    }
    if (virtio_pci_create(&s->vdev, pci) < 0) {
        blk_free(s);
        return NULL;
    }
    blk_instances++;
    return &s->vdev;
}

/* ---- -device virtio-blk-pci and -drive if=virtio ---- */
static int opt_bool(Opts *o, const char *what, const char *key, bool *out)
{
    const char *v = opts_get(o, key);
    if (v && parse_bool(v, out) < 0) {
        error_report("%s: Parameter '%s' expects 'on' or 'off'", what, key);
        return -1;
    }
    return 0;
}

static int opt_uint(Opts *o, const char *what, const char *key, uint64_t max, unsigned *out)
{
    const char *v = opts_get(o, key);
    uint64_t n;
    if (!v)
        return 0;
    if (parse_uint(v, &n) < 0 || n > max) {
        error_report("%s: Parameter '%s' expects a number up to %llu", what, key,
                     (unsigned long long)max);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

static int check_queue_size(const char *what, unsigned qs)
{
    if (qs <= 2) {
        error_report("%s: queue-size property must be > 2", what);
        return -1;
    }
    if (qs & (qs - 1)) {
        error_report("%s: queue-size property must be a power of 2", what);
        return -1;
    }
    if (qs > VIRTQUEUE_MAX_SIZE) {
        error_report("%s: queue-size property must be <= %d", what, VIRTQUEUE_MAX_SIZE);
        return -1;
    }
    return 0;
}

static int check_block_size(const char *what, const char *key, unsigned v)
{
    if (v != 512 && v != 4096) {
        error_report("%s: %s %u: must be 512 or 4096", what, key, v);
        return -1;
    }
    return 0;
}

/* Check the block sizes, attach the drive and create the device. */
static int blk_pci_realize(VirtioBlkConfig *bc, VirtioPciConfig *pc, const char *dev_name,
                           unsigned lbs, unsigned pbs, int bootindex, const char *what)
{
    if (!lbs)
        lbs = MAX(blk_logical_block_size(bc->blk), (unsigned)BDRV_SECTOR_SIZE);
    if (!pbs)
        pbs = lbs;
    if (pbs < lbs) {
        error_report("%s: physical_block_size %u is smaller than logical_block_size %u", what,
                     pbs, lbs);
        return -1;
    }
    if (blk_attach_dev(bc->blk, dev_name) < 0)
        return -1;
    VirtIODevice *vdev = virtio_blk_create(bc, pc);
    if (!vdev)
        return -1;
    VirtIOBlock *s = vdev->opaque;
    s->logical_block_size = lbs;
    s->physical_block_size = pbs;
    /* bootindex=: QEMU names a virtio-blk disk "scsi@SLOT/disk@0,0". */
    fw_boot_order_add_pci(bootindex, virtio_pci_device(vdev), "scsi", "/disk@0,0");
    return 0;
}

static void blk_pci_defaults(VirtioBlkConfig *bc, VirtioPciConfig *pc)
{
    bc->num_queues = 1;
    bc->queue_size = 256;
    bc->discard = true;
    bc->write_zeroes = true;
    pc->devfn = -1;
    pc->ioeventfd = true;
    pc->class_code = 0x0100;    /* mass storage, SCSI (as QEMU's virtio-blk) */
}

int virtio_blk_pci_new(Opts *o, const char *what)
{
    VirtioBlkConfig bc = { 0 };
    VirtioPciConfig pc = { 0 };
    blk_pci_defaults(&bc, &pc);
    unsigned lbs = 0, pbs = 0, qs = bc.queue_size;
    int bootindex;
    const char *drive = opts_get(o, "drive");
    bc.serial = opts_get(o, "serial");
    if (opt_uint(o, what, "num-queues", BLK_MAX_QUEUES, &bc.num_queues) < 0 ||
        opt_uint(o, what, "queue-size", 65536, &qs) < 0 ||
        opt_bool(o, what, "discard", &bc.discard) < 0 ||
        opt_bool(o, what, "write-zeroes", &bc.write_zeroes) < 0 ||
        opt_uint(o, what, "logical_block_size", 65536, &lbs) < 0 ||
        opt_uint(o, what, "physical_block_size", 65536, &pbs) < 0 ||
        fw_parse_bootindex(o, what, &bootindex) < 0)
        return -1;
    if (bc.num_queues == 0) {
        error_report("%s: num-queues property must be larger than 0", what);
        return -1;
    }
    if (check_queue_size(what, qs) < 0)
        return -1;
    bc.queue_size = (uint16_t)qs;
    if ((lbs && check_block_size(what, "logical_block_size", lbs) < 0) ||
        (pbs && check_block_size(what, "physical_block_size", pbs) < 0))
        return -1;
    /* QEMU's default: one MSI-X vector per queue plus one for config changes. */
    pc.vectors = bc.num_queues + 1;
    if (virtio_pci_parse_opts(o, what, &pc) < 0)
        return -1;
    if (!drive) {
        error_report("%s: drive property not set", what);
        return -1;
    }
    bc.blk = blk_by_id(drive);
    if (!bc.blk) {
        error_report("%s: Property 'virtio-blk-device.drive' can't find value '%s'", what,
                     drive);
        return -1;
    }
    if (bc.serial && strlen(bc.serial) > VIRTIO_BLK_ID_BYTES)
        warn_report("%s: serial '%s' is longer than %d bytes: truncated", what, bc.serial,
                    VIRTIO_BLK_ID_BYTES);
    const char *id = opts_get(o, "id");
    char *dev_name = id ? xstrdup(id) : xasprintf("virtio-blk-pci.%u", blk_instances);
    int ret = blk_pci_realize(&bc, &pc, dev_name, lbs, pbs, bootindex, what);
    free(dev_name);
    return ret;
}

int virtio_blk_pci_from_drive(struct BlockBackend *blk)
{
    VirtioBlkConfig bc = { 0 };
    VirtioPciConfig pc = { 0 };
    blk_pci_defaults(&bc, &pc);
    bc.blk = blk;
    bc.serial = blk_options(blk) ? blk_options(blk)->serial : NULL;
    pc.vectors = bc.num_queues + 1;
    char *what = xasprintf("-drive id=%s,if=virtio", blk_id(blk));
    char *dev_name = xasprintf("virtio-blk-pci.%u", blk_instances);
    int ret = blk_pci_realize(&bc, &pc, dev_name, 0, 0, -1, what);
    free(dev_name);
    free(what);
    return ret;
}
