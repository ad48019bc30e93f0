/*
 * virtio device core and split virtqueues (virtio 1.2: 2.1 status, 2.2
 * feature bits, 2.7 split virtqueues, 3.1 device initialization).
 *
 * The rings live in guest RAM and the guest may change them at any time:
 * every ring access goes through guest_mem_map, every descriptor is copied
 * once and then checked, and any rule broken puts the device in
 * DEVICE_NEEDS_RESET (2.1.2) instead of touching memory outside the guest.
 * The host is little endian (x86), as virtio 1.x rings are.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hw.h"
#include "util.h"
#include "virtio.h"
#include "vmstate.h"

/* Queues per device; the array never moves, so VirtQueue pointers stay valid. */
#define VIRTIO_QUEUE_MAX 1024

/* 2.7.5 struct virtq_desc */
typedef struct VringDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VringDesc;
_Static_assert(sizeof(VringDesc) == 16, "virtq_desc is 16 bytes");

/* Host views of the three ring parts, valid for one operation. */
typedef struct Vring {
    uint8_t *desc;      /* num * 16 */
    uint8_t *avail;     /* flags, idx, ring[num], used_event */
    uint8_t *used;      /* flags, idx, ring[num] {id, len}, avail_event */
} Vring;

#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4
#define USED_ELEM_SIZE 8

/* ---- guest memory accessors (aligned; the guest writes concurrently) ---- */

static uint16_t load16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static void store32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

/* ---- device core ---- */

static uint64_t offered_features(VirtIODevice *vdev)
{
    uint64_t f = vdev->ops->get_features ? vdev->ops->get_features(vdev) : 0;
    return f | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_RING_INDIRECT_DESC |
           1ULL << VIRTIO_F_RING_EVENT_IDX;
}

void virtio_init(VirtIODevice *vdev, const VirtIODeviceOps *ops, const char *name,
                 size_t config_len, void *opaque)
{
    vdev->ops = ops;
    vdev->name = name ? name : ops->name;
    vdev->status = 0;
    vdev->isr = 0;
    vdev->guest_features = 0;
    vdev->config_vector = VIRTIO_NO_VECTOR;
    vdev->config_generation = 0;
    vdev->config_len = config_len;
    vdev->config = xzalloc(config_len ? config_len : 1);
    vdev->vq = NULL;
    vdev->nvqs = 0;
    vdev->broken = false;
    vdev->transport = (VirtIOTransport){ 0 };
    vdev->opaque = opaque;
    vdev->host_features = offered_features(vdev);
}

static void queue_power_on(VirtQueue *vq)
{
    vq->num = vq->num_max;
    vq->enabled = false;
    vq->desc = vq->avail = vq->used = 0;
    vq->last_avail_idx = vq->used_idx = vq->signalled_used = 0;
    vq->signalled_used_valid = false;
    vq->notification = true;
    vq->vector = VIRTIO_NO_VECTOR;
    vq->inuse = 0;
}

static bool is_pow2(unsigned v)
{
    return v && !(v & (v - 1));
}

VirtQueue *virtio_add_queue(VirtIODevice *vdev, uint16_t num_max, VirtQueueHandler *handler)
{
    if (vdev->nvqs >= VIRTIO_QUEUE_MAX || !is_pow2(num_max) || num_max > VIRTQUEUE_MAX_SIZE) {
        error_report("%s: cannot add queue %u of size %u", vdev->name, vdev->nvqs, num_max);
        return NULL;
    }
    if (!vdev->vq)
        vdev->vq = xzalloc(VIRTIO_QUEUE_MAX * sizeof(*vdev->vq));
    VirtQueue *vq = &vdev->vq[vdev->nvqs];
    vq->vdev = vdev;
    vq->index = vdev->nvqs++;
    vq->num_max = num_max;
    vq->handler = handler;
    vq->kick_fd = -1;
    queue_power_on(vq);
    return vq;
}

bool virtio_has_feature(const VirtIODevice *vdev, unsigned bit)
{
    return bit < 64 && (vdev->guest_features >> bit) & 1;
}

bool virtio_device_ready(const VirtIODevice *vdev)
{
    return (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !vdev->broken;
}

void virtio_reset(VirtIODevice *vdev)
{
    if (vdev->ops->reset)
        vdev->ops->reset(vdev);
    for (unsigned i = 0; i < vdev->nvqs; i++)
        queue_power_on(&vdev->vq[i]);
    vdev->status = 0;
    vdev->isr = 0;
    vdev->guest_features = 0;
    vdev->config_vector = VIRTIO_NO_VECTOR;
    vdev->broken = false;
}

/*
 * 3.1.1 step 5-6: the device refuses FEATURES_OK (leaves it clear) when the
 * driver accepted something not offered; a modern driver must take
 * VERSION_1 (legacy drivers never write FEATURES_OK).
 */
static bool features_acceptable(const VirtIODevice *vdev)
{
    if (vdev->guest_features & ~vdev->host_features) {
        guest_error("%s: driver accepted unoffered features 0x%llx", vdev->name,
                    (unsigned long long)(vdev->guest_features & ~vdev->host_features));
        return false;
    }
    if (!virtio_has_feature(vdev, VIRTIO_F_VERSION_1)) {
        guest_error("%s: modern driver did not accept VERSION_1", vdev->name);
        return false;
    }
    return true;
}

/* Kicks sent before DRIVER_OK were not acted on (2.1): look at the rings now. */
static void run_queues_with_work(VirtIODevice *vdev)
{
    for (unsigned i = 0; i < vdev->nvqs && virtio_device_ready(vdev); i++)
        if (virtqueue_avail_count(&vdev->vq[i]))
            virtio_queue_notify(vdev, i);
}

void virtio_set_status(VirtIODevice *vdev, uint8_t status)
{
    if (status == 0) {
        virtio_reset(vdev);
        return;
    }
    uint8_t old = vdev->status;
    bool new_features_ok = (status & VIRTIO_CONFIG_S_FEATURES_OK) &&
                           !(old & VIRTIO_CONFIG_S_FEATURES_OK);
    if (new_features_ok) {
        if (features_acceptable(vdev)) {
            if (vdev->ops->set_features)
                vdev->ops->set_features(vdev, vdev->guest_features);
        } else {
            status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
        }
    }
    /* NEEDS_RESET is the device's; only a reset clears it. */
    status &= ~VIRTIO_CONFIG_S_NEEDS_RESET;
    if (vdev->broken)
        status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    vdev->status = status;
    if (status != old && vdev->ops->set_status)
        vdev->ops->set_status(vdev, status);
    if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
        run_queues_with_work(vdev);
}

void virtio_legacy_set_features(VirtIODevice *vdev, uint32_t features)
{
    /* Legacy drivers have no FEATURES_OK handshake: accept what is offered
     * (the transport's legacy view adds NOTIFY_ON_EMPTY and ANY_LAYOUT). */
    uint64_t offered = vdev->host_features | VIRTIO_LEGACY_TRANSPORT_FEATURES;
    vdev->guest_features = features & offered;
    if (vdev->ops->set_features)
        vdev->ops->set_features(vdev, vdev->guest_features);
}

void virtio_error(VirtIODevice *vdev, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    guest_error("%s: %s", vdev->name, msg);
    if (vdev->broken)
        return;
    vdev->broken = true;
    vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    virtio_notify_config(vdev);
}

void virtio_queue_notify(VirtIODevice *vdev, unsigned index)
{
    if (index >= vdev->nvqs) {
        guest_error("%s: notify for queue %u of %u", vdev->name, index, vdev->nvqs);
        return;
    }
    VirtQueue *vq = &vdev->vq[index];
    if (!virtio_device_ready(vdev) || !vq->enabled || !vq->handler)
        return;
    vq->handler(vdev, vq);
}

void virtio_notify_config(VirtIODevice *vdev)
{
    vdev->config_generation++;
    /* 2.1: no notifications before the driver is ready for them. */
    if (!(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK))
        return;
    vdev->isr |= VIRTIO_ISR_CONFIG;
    if (vdev->transport.notify)
        vdev->transport.notify(vdev, vdev->config_vector);
}

/* ---- ring geometry ---- */

static uint64_t avail_size(unsigned num)
{
    return AVAIL_RING + 2ULL * num + 2;   /* + used_event */
}

static uint64_t used_size(unsigned num)
{
    return USED_RING + (uint64_t)USED_ELEM_SIZE * num + 2;   /* + avail_event */
}

/* Map the three parts; why is set when they are unusable (2.7 alignment). */
static bool vring_map(const VirtQueue *vq, Vring *r, const char **why)
{
    *why = NULL;
    if (!is_pow2(vq->num) || vq->num > VIRTQUEUE_MAX_SIZE)
        *why = "queue size is not a power of 2 up to 1024";
    else if (vq->desc % 16 || vq->avail % 2 || vq->used % 4)
        *why = "misaligned ring address";
    else if (!(r->desc = guest_mem_map(vq->desc, 16ULL * vq->num)))
        *why = "descriptor table outside RAM";
    else if (!(r->avail = guest_mem_map(vq->avail, avail_size(vq->num))))
        *why = "available ring outside RAM";
    else if (!(r->used = guest_mem_map(vq->used, used_size(vq->num))))
        *why = "used ring outside RAM";
    return *why == NULL;
}

bool virtqueue_ready(const VirtQueue *vq)
{
    Vring r;
    const char *why;
    return vq->enabled && vring_map(vq, &r, &why);
}

/* The rings of a queue the device may use now; false when it may not. */
static bool vring_get(VirtQueue *vq, Vring *r)
{
    const char *why;
    if (!vq->enabled || vq->vdev->broken)
        return false;
    if (!vring_map(vq, r, &why)) {
        virtio_error(vq->vdev, "queue %u: %s", vq->index, why);
        return false;
    }
    return true;
}

static uint16_t *used_event_ptr(const VirtQueue *vq, const Vring *r)
{
    return (uint16_t *)(r->avail + AVAIL_RING + 2 * vq->num);
}

static uint8_t *avail_event_ptr(const VirtQueue *vq, const Vring *r)
{
    return r->used + USED_RING + USED_ELEM_SIZE * vq->num;
}

/* avail->idx, then an acquire fence so ring entries are read after it (2.7.13.3). */
static uint16_t avail_idx_acquire(const Vring *r)
{
    uint16_t idx = load16(r->avail + AVAIL_IDX);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return idx;
}

/* Chains available, or -1 when the index is more than a ring ahead (a broken ring). */
static int avail_pending(VirtQueue *vq, const Vring *r)
{
    uint16_t idx = avail_idx_acquire(r);
    uint16_t n = idx - vq->last_avail_idx;
    if (n > vq->num) {
        virtio_error(vq->vdev, "queue %u: avail idx %u is %u entries ahead of %u (size %u)",
                     vq->index, idx, n, vq->last_avail_idx, vq->num);
        return -1;
    }
    return n;
}

bool virtqueue_empty(VirtQueue *vq)
{
    return virtqueue_avail_count(vq) == 0;
}

unsigned virtqueue_avail_count(VirtQueue *vq)
{
    Vring r;
    const char *why;
    if (!vq->enabled || vq->vdev->broken || !vring_map(vq, &r, &why))
        return 0;
    uint16_t n = avail_idx_acquire(&r) - vq->last_avail_idx;
    return n <= vq->num ? n : 0;
}

/* ---- the descriptor walker ---- */

typedef struct Walk {
    VirtQueue *vq;
    VirtQueueElement *elem;
    const uint8_t *table;   /* current descriptor table (host) */
    unsigned table_len;     /* entries */
    bool indirect;          /* walking an indirect table */
} Walk;

static int walk_fail(Walk *w, const char *why, unsigned i)
{
    virtio_error(w->vq->vdev, "queue %u: %s (descriptor %u%s)", w->vq->index, why, i,
                 w->indirect ? " of an indirect table" : "");
    return -1;
}

static VringDesc read_desc(const Walk *w, unsigned i)
{
    VringDesc d;
    memcpy(&d, w->table + 16 * (size_t)i, sizeof(d));
    return d;
}

/* 2.7.5.3: switch the walk to the indirect table d points at. */
static int enter_indirect(Walk *w, const VringDesc *d, unsigned i)
{
    if (!virtio_has_feature(w->vq->vdev, VIRTIO_F_RING_INDIRECT_DESC))
        return walk_fail(w, "indirect descriptor without INDIRECT_DESC", i);
    if (w->indirect)
        return walk_fail(w, "nested indirect descriptor", i);
    if (d->flags & VRING_DESC_F_NEXT)
        return walk_fail(w, "indirect descriptor with NEXT", i);
    if (d->len == 0 || d->len % 16 || d->len / 16 > VIRTQUEUE_MAX_SIZE)
        return walk_fail(w, "bad indirect table length", i);
    const uint8_t *t = guest_mem_map(d->addr, d->len);
    if (!t)
        return walk_fail(w, "indirect table outside RAM", i);
    w->table = t;
    w->table_len = d->len / 16;
    w->indirect = true;
    return 0;
}

/* Add one buffer to the element (zero-length buffers carry nothing: skipped). */
static int add_buffer(Walk *w, const VringDesc *d, unsigned i)
{
    VirtQueueElement *e = w->elem;
    bool writable = d->flags & VRING_DESC_F_WRITE;
    /* 2.7.4.2: readable buffers come first. */
    if (!writable && e->in_num)
        return walk_fail(w, "readable descriptor after a writable one", i);
    if (d->len == 0)
        return 0;
    unsigned n = e->out_num + e->in_num;
    if (n >= VIRTQUEUE_MAX_SEGS)
        return walk_fail(w, "descriptor chain too long", i);
    void *host = guest_mem_map(d->addr, d->len);
    if (!host)
        return walk_fail(w, "buffer outside RAM", i);
    e->sg[n] = (struct iovec){ .iov_base = host, .iov_len = d->len };
    e->addr[n] = d->addr;
    if (writable) {
        e->in_num++;
        e->in_len += d->len;
    } else {
        e->out_num++;
        e->out_len += d->len;
    }
    return 0;
}

/*
 * Follow the chain from head.  Each table is walked at most table_len
 * steps, so a loop ends as an error; the indirect switch happens at most
 * once.
 */
static int walk_chain(Walk *w, unsigned head)
{
    unsigned i = head, steps = 0;
    for (;;) {
        VringDesc d = read_desc(w, i);
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (enter_indirect(w, &d, i) < 0)
                return -1;
            i = 0;
            steps = 0;
            continue;
        }
        if (add_buffer(w, &d, i) < 0)
            return -1;
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        if (++steps >= w->table_len)
            return walk_fail(w, "descriptor chain loops", i);
        if (d.next >= w->table_len)
            return walk_fail(w, "next index out of the table", i);
        i = d.next;
    }
}

/* 2.7.10: with EVENT_IDX, ask for a kick once the driver passes idx. */
static void set_avail_event(VirtQueue *vq, const Vring *r, uint16_t idx)
{
    store16(avail_event_ptr(vq, r), idx);
    ram_mark_dirty(vq->used + USED_RING + USED_ELEM_SIZE * vq->num, 2);
}

int virtqueue_pop(VirtQueue *vq, VirtQueueElement *elem)
{
    Vring r;
    if (!virtio_device_ready(vq->vdev))
        return 0;
    if (!vring_get(vq, &r))
        return vq->vdev->broken ? -1 : 0;   /* broken just now: a bad ring */
    int n = avail_pending(vq, &r);
    if (n <= 0)
        return n;
    unsigned head = load16(r.avail + AVAIL_RING + 2 * (vq->last_avail_idx % vq->num));
    elem->out_num = elem->in_num = 0;
    elem->out_len = elem->in_len = 0;
    elem->head = head;
    Walk w = { .vq = vq, .elem = elem, .table = r.desc, .table_len = vq->num };
    if (head >= vq->num) {
        virtio_error(vq->vdev, "queue %u: head index %u out of %u", vq->index, head, vq->num);
        return -1;
    }
    if (walk_chain(&w, head) < 0)
        return -1;
    vq->last_avail_idx++;
    vq->inuse++;
    if (vq->notification && virtio_has_feature(vq->vdev, VIRTIO_F_RING_EVENT_IDX))
        set_avail_event(vq, &r, vq->last_avail_idx);
    return 1;
}

void virtqueue_unpop(VirtQueue *vq, const VirtQueueElement *elem)
{
    if (!vq->inuse)
        return;
    vq->last_avail_idx--;
    vq->inuse--;
}

/*
 * The device is done with elem: every writable buffer may hold data it
 * wrote through its host mapping (DMA), which migration and the display
 * only see if it is marked (include/hw.h, guest_mem_map).
 */
static void mark_elem_written(const VirtQueueElement *elem)
{
    for (unsigned i = elem->out_num; i < elem->out_num + elem->in_num; i++)
        ram_mark_dirty(elem->addr[i], elem->sg[i].iov_len);
}

void virtqueue_fill(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len, unsigned i)
{
    Vring r;
    if (!vring_get(vq, &r))
        return;
    unsigned slot = (vq->used_idx + i) % vq->num;
    uint8_t *ue = r.used + USED_RING + USED_ELEM_SIZE * slot;
    store32(ue, elem->head);
    store32(ue + 4, len);
    mark_elem_written(elem);
    ram_mark_dirty(vq->used + USED_RING + USED_ELEM_SIZE * slot, USED_ELEM_SIZE);
}

void virtqueue_flush(VirtQueue *vq, unsigned count)
{
    Vring r;
    if (!vring_get(vq, &r))
        return;
    uint16_t old = vq->used_idx, new = old + count;
    /* 2.7.13.4: the used elements are visible before the index. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    store16(r.used + USED_IDX, new);
    ram_mark_dirty(vq->used + USED_IDX, 2);
    vq->used_idx = new;
    vq->inuse = count < vq->inuse ? vq->inuse - count : 0;
    /* If used_idx wrapped past the last signalled value, it says nothing any more. */
    if ((int16_t)(new - vq->signalled_used) < (uint16_t)(new - old))
        vq->signalled_used_valid = false;
}

void virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t len)
{
    virtqueue_fill(vq, elem, len, 0);
    virtqueue_flush(vq, 1);
}

void virtqueue_set_notification(VirtQueue *vq, bool enable)
{
    Vring r;
    vq->notification = enable;
    if (!vring_get(vq, &r))
        return;
    if (virtio_has_feature(vq->vdev, VIRTIO_F_RING_EVENT_IDX)) {
        if (enable)
            set_avail_event(vq, &r, load16(r.avail + AVAIL_IDX));
    } else {
        uint16_t flags = load16(r.used + USED_FLAGS);
        flags = enable ? flags & ~VRING_USED_F_NO_NOTIFY : flags | VRING_USED_F_NO_NOTIFY;
        store16(r.used + USED_FLAGS, flags);
        ram_mark_dirty(vq->used + USED_FLAGS, 2);
    }
    /* The caller re-checks the ring after enabling: order our write before its read. */
    if (enable)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* 2.7.10: has new passed event since old? (the driver's formula, from the spec) */
static bool vring_need_event(uint16_t event, uint16_t new, uint16_t old)
{
    return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

static bool should_notify(VirtQueue *vq, const Vring *r)
{
    VirtIODevice *vdev = vq->vdev;
    /* used->idx is written; now read the driver's suppression fields. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (virtio_has_feature(vdev, VIRTIO_F_NOTIFY_ON_EMPTY) && !vq->inuse &&
        load16(r->avail + AVAIL_IDX) == vq->last_avail_idx)
        return true;
    if (!virtio_has_feature(vdev, VIRTIO_F_RING_EVENT_IDX))
        return !(load16(r->avail + AVAIL_FLAGS) & VRING_AVAIL_F_NO_INTERRUPT);
    uint16_t old = vq->signalled_used, new = vq->used_idx;
    bool valid = vq->signalled_used_valid;
    vq->signalled_used = new;
    vq->signalled_used_valid = true;
    return !valid || vring_need_event(__atomic_load_n(used_event_ptr(vq, r), __ATOMIC_RELAXED),
                                      new, old);
}

void virtio_notify(VirtIODevice *vdev, VirtQueue *vq)
{
    Vring r;
    if (!vring_get(vq, &r) || !should_notify(vq, &r))
        return;
    vdev->isr |= VIRTIO_ISR_QUEUE;
    if (vdev->transport.notify)
        vdev->transport.notify(vdev, vq->vector);
}

/* ---- element copy helpers ---- */

size_t virtqueue_elem_read(const VirtQueueElement *elem, size_t off, void *buf, size_t len)
{
    return iov_to_buf(elem->sg, elem->out_num, off, buf, len);
}

size_t virtqueue_elem_write(VirtQueueElement *elem, size_t off, const void *buf, size_t len)
{
    return iov_from_buf(elem->sg + elem->out_num, elem->in_num, off, buf, len);
}

/* ---- migration ---- */

static const VMStateField virtqueue_fields[] = {
    VMSTATE_U16(num, VirtQueue),
    VMSTATE_BOOL(enabled, VirtQueue),
    VMSTATE_U64(desc, VirtQueue),
    VMSTATE_U64(avail, VirtQueue),
    VMSTATE_U64(used, VirtQueue),
    VMSTATE_U16(last_avail_idx, VirtQueue),
    VMSTATE_U16(used_idx, VirtQueue),
    VMSTATE_U16(signalled_used, VirtQueue),
    VMSTATE_BOOL(signalled_used_valid, VirtQueue),
    VMSTATE_BOOL(notification, VirtQueue),
    VMSTATE_U16(vector, VirtQueue),
    VMSTATE_END,
};

static const VMStateDescription vmstate_virtqueue = {
    .name = "virtqueue",
    .version = 1,
    .fields = virtqueue_fields,
};

/*
 * A queue from the stream must be one this device could have reached by
 * itself: a size the driver could set, and enabled rings inside guest RAM
 * (2.7: alignment and placement), else the stream is refused.
 */
static int virtqueue_check_loaded(MigStream *s, VirtQueue *vq)
{
    VirtIODevice *vdev = vq->vdev;
    const char *why;
    Vring r;
    if (vq->num > vq->num_max || !is_pow2(vq->num))
        return mig_stream_set_error(s, "%s: queue %u: size %u (max %u)", vdev->name,
                                    vq->index, vq->num, vq->num_max);
    if (vq->enabled && !vdev->broken && !vring_map(vq, &r, &why))
        return mig_stream_set_error(s, "%s: queue %u: %s", vdev->name, vq->index, why);
    /* The device finished everything before the save (the source drained). */
    vq->inuse = 0;
    return 0;
}

static void virtio_device_save(MigStream *s, void *opaque)
{
    VirtIODevice *vdev = opaque;
    mig_put_be64(s, vdev->host_features);
    mig_put_be32(s, (uint32_t)vdev->config_len);
    mig_put_buf(s, vdev->config, vdev->config_len);
    mig_put_be32(s, vdev->nvqs);
    for (unsigned i = 0; i < vdev->nvqs; i++) {
        /*
         * Elements a device still holds (virtio-net's frame waiting for the
         * backend, the balloon's stats buffer) are the last ones it popped:
         * the destination pops them again.  Block requests were drained.
         */
        VirtQueue vq = vdev->vq[i];
        vq.last_avail_idx -= (uint16_t)vq.inuse;
        vmstate_save_state(s, &vmstate_virtqueue, &vq);
    }
}

static int virtio_device_load(MigStream *s, void *opaque, unsigned version)
{
    VirtIODevice *vdev = opaque;
    (void)version;
    uint64_t host = mig_get_be64(s);
    uint32_t config_len = mig_get_be32(s);
    if (mig_stream_error(s))
        return -1;
    if (host != vdev->host_features)
        return mig_stream_set_error(s, "%s: features 0x%llx offered by the source, 0x%llx here",
                                    vdev->name, (unsigned long long)host,
                                    (unsigned long long)vdev->host_features);
    if (config_len != vdev->config_len)
        return mig_stream_set_error(s, "%s: config space of %u bytes, %zu here", vdev->name,
                                    config_len, vdev->config_len);
    if (mig_get_buf(s, vdev->config, config_len) < 0)
        return -1;
    uint32_t nvqs = mig_get_be32(s);
    if (mig_stream_error(s))
        return -1;
    if (nvqs != vdev->nvqs)
        return mig_stream_set_error(s, "%s: %u queues, %u here", vdev->name, nvqs, vdev->nvqs);
    for (unsigned i = 0; i < nvqs; i++) {
        if (vmstate_load_state(s, &vmstate_virtqueue, &vdev->vq[i], vmstate_virtqueue.version) < 0)
            return -1;
        if (virtqueue_check_loaded(s, &vdev->vq[i]) < 0)
            return -1;
    }
    return 0;
}

static int virtio_device_post_load(void *opaque, unsigned version)
{
    VirtIODevice *vdev = opaque;
    (void)version;
    /* Legacy drivers may hold the transport-only bits (4.1.4.8). */
    uint64_t allowed = vdev->host_features | VIRTIO_LEGACY_TRANSPORT_FEATURES;
    if (vdev->guest_features & ~allowed) {
        log_msg(LOG_GUEST_ERROR, "%s: migrated features 0x%llx were not offered\n", vdev->name,
                (unsigned long long)vdev->guest_features);
        return -1;
    }
    if (vdev->broken)
        vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    /* What the device derives from the negotiated features (header sizes,
     * offloads) is derived again here. */
    if (vdev->guest_features && vdev->ops->set_features)
        vdev->ops->set_features(vdev, vdev->guest_features);
    return 0;
}

static const VMStateField virtio_device_fields[] = {
    VMSTATE_U8(status, VirtIODevice),
    VMSTATE_U8(isr, VirtIODevice),
    VMSTATE_U64(guest_features, VirtIODevice),
    VMSTATE_U16(config_vector, VirtIODevice),
    VMSTATE_U8(config_generation, VirtIODevice),
    VMSTATE_BOOL(broken, VirtIODevice),
    VMSTATE_END,
};

const VMStateDescription vmstate_virtio_device = {
    .name = "virtio-device",
    .version = 1,
    .fields = virtio_device_fields,
    .post_load = virtio_device_post_load,
    .save = virtio_device_save,
    .load = virtio_device_load,
};
