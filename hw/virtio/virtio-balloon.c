/*
 * virtio-balloon (virtio 1.2, 5.5): the host asks the guest to give back
 * memory (config num_pages), the guest hands over page frame numbers on
 * the inflate queue and the host discards those pages; the deflate queue
 * returns them (they come back zeroed on the next touch).  The stats
 * queue carries the guest's memory statistics (5.5.6.3).
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "devices.h"
#include "virtio.h"
#include "vmstate.h"

#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
/* PFNs are in 4 KiB units whatever the guest's page size (5.5.6). */
#define BALLOON_PFN_SHIFT 12
#define BALLOON_PAGE_SIZE (1u << BALLOON_PFN_SHIFT)
/* struct virtio_balloon_config: le32 num_pages, le32 actual. */
#define CFG_NUM_PAGES 0
#define CFG_ACTUAL 4
#define BALLOON_CONFIG_SIZE 8
#define STAT_ENTRY_SIZE 10      /* le16 tag, le64 val, packed */
#define STAT_NR_TAGS 10

enum { Q_INFLATE, Q_DEFLATE, Q_STATS };

typedef struct VirtIOBalloon {
    VirtIODevice vdev;
    bool deflate_on_oom;
    unsigned stats_interval_s;
    uint32_t num_pages;         /* target the host asks for */
    uint32_t actual;            /* pages the guest says it gave */
    uint64_t inflated, deflated;    /* pages seen on each queue (debug) */
    VirtQueue *ivq, *dvq, *svq;
    VirtQueueElement elem;      /* scratch for inflate/deflate */
    VirtQueueElement stats_elem;
    bool stats_held;            /* stats_elem is the guest's buffer, not pushed */
    VirtioBalloonStats stats;
    Timer *stats_timer;
} VirtIOBalloon;

static VirtIOBalloon *balloon;

/* Give one 4 KiB guest page back to the host. */
static void balloon_discard_page(VirtIOBalloon *s, uint32_t pfn)
{
    uint64_t gpa = (uint64_t)pfn << BALLOON_PFN_SHIFT;
    void *host = guest_mem_map(gpa, BALLOON_PAGE_SIZE);
    if (!host) {
        guest_error("%s: inflate of PFN 0x%x outside RAM\n", s->vdev.name, pfn);
        return;
    }
    /* Only whole host pages can be dropped; larger host pages stay. */
    if (sysconf(_SC_PAGESIZE) != BALLOON_PAGE_SIZE || ((uintptr_t)host & (BALLOON_PAGE_SIZE - 1)))
        return;
    if (madvise(host, BALLOON_PAGE_SIZE, MADV_DONTNEED) < 0)
        guest_error("%s: discarding PFN 0x%x failed\n", s->vdev.name, pfn);
}

/*
 * Inflate / deflate: buffers of le32 PFNs (Linux sends at most 256 per
 * buffer), read in batches; a huge buffer is capped so that it cannot
 * hold the lock for long.
 */
#define BALLOON_MAX_PFNS_PER_ELEM (1u << 20)

static void balloon_handle_pages(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBalloon *s = vdev->opaque;
    bool inflate = vq == s->ivq;
    while (virtqueue_pop(vq, &s->elem) > 0) {
        VirtQueueElement *e = &s->elem;
        size_t n = e->out_len / 4, off = 0;
        if (n > BALLOON_MAX_PFNS_PER_ELEM) {
            guest_error("%s: %zu PFNs in one buffer: only the first %u used\n", vdev->name, n,
                        BALLOON_MAX_PFNS_PER_ELEM);
            n = BALLOON_MAX_PFNS_PER_ELEM;
        }
        for (size_t i = 0; inflate && i < n;) {
            uint32_t pfns[256];
            size_t k = MIN(n - i, ARRAY_SIZE(pfns));
            virtqueue_elem_read(e, off, pfns, k * 4);
            for (size_t j = 0; j < k; j++)
                balloon_discard_page(s, le32toh(pfns[j]));
            i += k;
            off += k * 4;
        }
        if (inflate)
            s->inflated += n;
        else
            s->deflated += n;
        virtqueue_push(vq, e, 0);
        virtio_notify(vdev, vq);
    }
}

static int64_t *stat_field(VirtioBalloonStats *st, uint16_t tag)
{
    int64_t *fields[STAT_NR_TAGS] = {
        &st->swap_in, &st->swap_out, &st->major_faults, &st->minor_faults, &st->free_mem,
        &st->total_mem, &st->available_mem, &st->disk_caches, &st->hugetlb_allocs,
        &st->hugetlb_failures,
    };
    return tag < STAT_NR_TAGS ? fields[tag] : NULL;
}

static void stats_clear(VirtioBalloonStats *st)
{
    memset(st, 0, sizeof(*st));
    for (uint16_t t = 0; t < STAT_NR_TAGS; t++)
        *stat_field(st, t) = -1;
}

/* The guest filled its stats buffer: keep the values and the buffer. */
static void balloon_handle_stats(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOBalloon *s = vdev->opaque;
    VirtQueueElement *e = &s->stats_elem;
    if (s->stats_held) {
        /* 5.5.6.3: one buffer at a time; a second means a confused driver. */
        guest_error("%s: stats buffer posted while one is held\n", vdev->name);
        virtqueue_push(vq, e, 0);
        s->stats_held = false;
    }
    if (virtqueue_pop(vq, e) <= 0)
        return;
    s->stats_held = true;
    /* Ten tags exist (5.5.6.3); a longer buffer repeats or adds unknown ones. */
    size_t n = MIN(e->out_len / STAT_ENTRY_SIZE, (size_t)64);
    for (size_t i = 0; i < n; i++) {
        uint8_t ent[STAT_ENTRY_SIZE];
        uint16_t tag;
        uint64_t val;
        virtqueue_elem_read(e, i * STAT_ENTRY_SIZE, ent, sizeof(ent));
        memcpy(&tag, ent, 2);
        memcpy(&val, ent + 2, 8);
        int64_t *f = stat_field(&s->stats, le16toh(tag));
        if (f)
            *f = (int64_t)le64toh(val);
    }
    s->stats.valid = true;
    s->stats.last_update = time(NULL);
}

/* Ask for fresh stats: give the buffer back; the guest refills it. */
static void balloon_stats_poll(void *opaque)
{
    VirtIOBalloon *s = opaque;
    if (s->stats_held && virtio_device_ready(&s->vdev)) {
        s->stats_held = false;
        virtqueue_push(s->svq, &s->stats_elem, 0);
        virtio_notify(&s->vdev, s->svq);
    }
    if (s->stats_interval_s)
        timer_mod(s->stats_timer,
                  clock_ns(CLOCK_REALTIME_NS) + (int64_t)s->stats_interval_s * 1000000000LL);
}

static uint64_t balloon_get_features(VirtIODevice *vdev)
{
    VirtIOBalloon *s = vdev->opaque;
    uint64_t f = 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
    if (s->deflate_on_oom)
        f |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    return f;
}

static void balloon_get_config(VirtIODevice *vdev)
{
    VirtIOBalloon *s = vdev->opaque;
    uint32_t np = htole32(s->num_pages), act = htole32(s->actual);
    memcpy(vdev->config + CFG_NUM_PAGES, &np, 4);
    memcpy(vdev->config + CFG_ACTUAL, &act, 4);
}

/* The driver reports how many pages it holds in "actual". */
static void balloon_set_config(VirtIODevice *vdev, unsigned off, unsigned len)
{
    VirtIOBalloon *s = vdev->opaque;
    uint32_t act;
    if (off + len <= CFG_ACTUAL)
        return;
    memcpy(&act, vdev->config + CFG_ACTUAL, 4);
    s->actual = le32toh(act);
}

static void balloon_reset(VirtIODevice *vdev)
{
    VirtIOBalloon *s = vdev->opaque;
    /* A new driver starts with every page (the target stays). */
    s->stats_held = false;
    s->actual = 0;
}

static const VirtIODeviceOps virtio_balloon_ops = {
    .name = "virtio-balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .get_features = balloon_get_features,
    .get_config = balloon_get_config,
    .set_config = balloon_set_config,
    .reset = balloon_reset,
};

/* ---- migration ---- */

/* The held stats buffer was handed back by the core's save: take it again
 * (the guest will not kick for a buffer it already posted). */
static int balloon_post_load(void *opaque, unsigned version)
{
    VirtIOBalloon *s = opaque;
    (void)version;
    s->stats_held = false;
    if (virtio_device_ready(&s->vdev))
        virtio_queue_notify(&s->vdev, Q_STATS);
    return 0;
}

static const VMStateField balloon_fields[] = {
    VMSTATE_U32(num_pages, VirtIOBalloon),
    VMSTATE_U32(actual, VirtIOBalloon),
    VMSTATE_U64(inflated, VirtIOBalloon),
    VMSTATE_U64(deflated, VirtIOBalloon),
    VMSTATE_BUFFER(stats, VirtIOBalloon),
    VMSTATE_END,
};

static const VMStateDescription vmstate_virtio_balloon = {
    .name = "virtio-balloon",
    .version = 1,
    .fields = balloon_fields,
    .post_load = balloon_post_load,
};

VirtIODevice *virtio_balloon_create(const VirtioBalloonConfig *cfg, const VirtioPciConfig *pci)
{
    if (balloon) {
        error_report("virtio-balloon: Only one balloon device is supported");
        return NULL;
    }
    VirtIOBalloon *s = xzalloc(sizeof(*s));
    s->deflate_on_oom = cfg->deflate_on_oom;
    s->stats_interval_s = cfg->stats_interval_s;
    stats_clear(&s->stats);
    virtio_init(&s->vdev, &virtio_balloon_ops, "virtio-balloon-pci.0", BALLOON_CONFIG_SIZE, s);
    /* QEMU's queue sizes: 128 each. */
    s->ivq = virtio_add_queue(&s->vdev, 128, balloon_handle_pages);
    s->dvq = virtio_add_queue(&s->vdev, 128, balloon_handle_pages);
    s->svq = virtio_add_queue(&s->vdev, 128, balloon_handle_stats);
    if (virtio_pci_create(&s->vdev, pci) < 0) {
        free(s->vdev.config);
        free(s);
        return NULL;
    }
    s->stats_timer = timer_new(CLOCK_REALTIME_NS, balloon_stats_poll, s);
    if (s->stats_interval_s)
        timer_mod(s->stats_timer,
                  clock_ns(CLOCK_REALTIME_NS) + (int64_t)s->stats_interval_s * 1000000000LL);
    balloon = s;
    vmstate_register(&vmstate_virtio_balloon, virtio_pci_device(&s->vdev)->devfn, s);
    return &s->vdev;
}

VirtIODevice *virtio_balloon_instance(void)
{
    return balloon ? &balloon->vdev : NULL;
}

/* Monitor "balloon N": num_pages = (RAM - target) / 4 KiB, as QEMU. */
int virtio_balloon_set_target(VirtIODevice *vdev, uint64_t target_bytes)
{
    VirtIOBalloon *s = vdev->opaque;
    uint64_t ram = guest_ram_size();
    if (target_bytes > ram)
        target_bytes = ram;
    uint64_t pages = (ram - target_bytes) >> BALLOON_PFN_SHIFT;
    s->num_pages = pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages;
    virtio_notify_config(vdev);
    return 0;
}

uint64_t virtio_balloon_actual(VirtIODevice *vdev)
{
    VirtIOBalloon *s = vdev->opaque;
    uint64_t ram = guest_ram_size(), given = (uint64_t)s->actual << BALLOON_PFN_SHIFT;
    return given < ram ? ram - given : 0;
}

void virtio_balloon_get_stats(VirtIODevice *vdev, VirtioBalloonStats *out)
{
    VirtIOBalloon *s = vdev->opaque;
    *out = s->stats;
}

/* ---- -device virtio-balloon-pci ---- */
int virtio_balloon_pci_new(Opts *o, const char *what)
{
    VirtioBalloonConfig bc = { 0 };
    VirtioPciConfig pc = { .devfn = -1, .vectors = 0, .ioeventfd = true,
                           .class_code = 0x00ff /* other, as QEMU */ };
    const char *oom = opts_get(o, "deflate-on-oom");
    const char *poll = opts_get(o, "guest-stats-polling-interval");
    if (oom && parse_bool(oom, &bc.deflate_on_oom) < 0) {
        error_report("%s: Parameter 'deflate-on-oom' expects 'on' or 'off'", what);
        return -1;
    }
    if (poll) {
        uint64_t v;
        if (parse_uint(poll, &v) < 0 || v > UINT32_MAX) {
            error_report("%s: Parameter 'guest-stats-polling-interval' expects a number of "
                         "seconds", what);
            return -1;
        }
        bc.stats_interval_s = (unsigned)v;
    }
    if (virtio_pci_parse_opts(o, what, &pc) < 0)
        return -1;
    if (balloon) {
        error_report("%s: Only one balloon device is supported", what);
        return -1;
    }
    return virtio_balloon_create(&bc, &pc) ? 0 : -1;
}
