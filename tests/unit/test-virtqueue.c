/*
 * Split virtqueues and the virtio device core: rings built in a fake guest
 * RAM fenced by PROT_NONE guard pages (an access outside RAM crashes the
 * test), normal and indirect chains, notification suppression, feature
 * negotiation, reset, and every hostile ring the walker must refuse.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "fake-hw.h"
#include "hw.h"
#include "unit.h"
#include "util.h"
#include "virtio.h"

#define PAGE 4096
#define RAM_SIZE (1024 * 1024)
#define QSIZE 16
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUF 0x10000
#define ITABLE 0x20000

static uint8_t *ram;
static VirtIODevice vdev;
static VirtQueue *vq;
static unsigned notifies, handler_runs, set_features_calls;
static uint16_t last_vector;
static uint64_t set_features_value;

/* ---- fakes ---- */

static uint64_t dev_get_features(VirtIODevice *d)
{
    return 1ULL << 5;
}

static void dev_set_features(VirtIODevice *d, uint64_t f)
{
    set_features_calls++;
    set_features_value = f;
}

static const VirtIODeviceOps dev_ops = {
    .name = "virtio-test", .device_id = 99,
    .get_features = dev_get_features, .set_features = dev_set_features,
};

static void transport_notify(VirtIODevice *d, uint16_t vector)
{
    notifies++;
    last_vector = vector;
}

static void queue_handler(VirtIODevice *d, VirtQueue *q)
{
    handler_runs++;
}

/* Guest RAM with a guard page on each side. */
static void ram_setup(void)
{
    static uint8_t *area;
    if (!area) {
        area = mmap(NULL, RAM_SIZE + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(area, MAP_FAILED);
        ck_assert_int_eq(mprotect(area + PAGE, RAM_SIZE, PROT_READ | PROT_WRITE), 0);
        ram = area + PAGE;
    }
    memset(ram, 0, RAM_SIZE);
    guest_ram_clear();
    guest_ram_add(0, RAM_SIZE, ram);
}

static void setup_features(uint64_t features)
{
    fake_hw_setup();
    ram_setup();
    /* Devices live as long as the VM: keep the last ones reachable (for
     * LeakSanitizer) when a test sets up more than once. */
    static VirtIODevice kept[16];
    static unsigned nkept;
    kept[nkept++ % ARRAY_SIZE(kept)] = vdev;
    memset(&vdev, 0, sizeof(vdev));
    virtio_init(&vdev, &dev_ops, "virtio-test.0", 8, NULL);
    vdev.transport = (VirtIOTransport){ .notify = transport_notify };
    vq = virtio_add_queue(&vdev, QSIZE, queue_handler);
    ck_assert_ptr_nonnull(vq);
    notifies = handler_runs = set_features_calls = 0;
    vdev.guest_features = features;
    vq->desc = DESC;
    vq->avail = AVAIL;
    vq->used = USED;
    vq->enabled = true;
    vdev.status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                  VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
}

static void setup(void)
{
    setup_features(1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_RING_INDIRECT_DESC);
}

/* ---- the driver's side ---- */

static void put16(uint64_t gpa, uint16_t v) { memcpy(ram + gpa, &v, 2); }
static void put32(uint64_t gpa, uint32_t v) { memcpy(ram + gpa, &v, 4); }
static void put64(uint64_t gpa, uint64_t v) { memcpy(ram + gpa, &v, 8); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, ram + gpa, 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, ram + gpa, 4); return v; }

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    uint64_t d = table + 16 * i;
    put64(d, addr);
    put32(d + 8, len);
    put16(d + 12, flags);
    put16(d + 14, next);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    desc_at(DESC, i, addr, len, flags, next);
}

static void avail_add(uint16_t head)
{
    uint16_t idx = get16(AVAIL + 2);
    put16(AVAIL + 4 + 2 * (idx % QSIZE), head);
    put16(AVAIL + 2, idx + 1);
}

static uint16_t used_idx(void) { return get16(USED + 2); }
static void set_used_event(uint16_t v) { put16(AVAIL + 4 + 2 * QSIZE, v); }
static uint16_t avail_event(void) { return get16(USED + 4 + 8 * QSIZE); }

/* A pop that the walker must refuse: -1, NEEDS_RESET, a config interrupt. */
static void expect_broken(void)
{
    VirtQueueElement elem;
    unsigned before = notifies;
    ck_assert_int_eq(virtqueue_pop(vq, &elem), -1);
    ck_assert(vdev.broken);
    ck_assert(vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
    ck_assert(vdev.isr & VIRTIO_ISR_CONFIG);
    ck_assert_uint_eq(notifies, before + 1);
    /* Once broken, nothing more is processed. */
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 0);
}

/* ---- normal operation ---- */

START_TEST(normal_chain)
{
    static VirtQueueElement elem;
    setup();
    memcpy(ram + BUF, "request-bytes!!!", 16);
    set_desc(0, BUF, 16, VRING_DESC_F_NEXT, 1);
    set_desc(1, BUF + 0x1000, 32, VRING_DESC_F_WRITE, 0);
    avail_add(0);
    ck_assert_uint_eq(virtqueue_avail_count(vq), 1);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    ck_assert_uint_eq(elem.head, 0);
    ck_assert_uint_eq(elem.out_num, 1);
    ck_assert_uint_eq(elem.in_num, 1);
    ck_assert_uint_eq(elem.out_len, 16);
    ck_assert_uint_eq(elem.in_len, 32);
    ck_assert_uint_eq(elem.addr[1], BUF + 0x1000);
    char buf[20] = { 0 };
    ck_assert_uint_eq(virtqueue_elem_read(&elem, 8, buf, sizeof(buf)), 8);
    ck_assert_str_eq(buf, "bytes!!!");
    ck_assert_uint_eq(virtqueue_elem_write(&elem, 30, "abcdef", 6), 2);
    ck_assert_int_eq(memcmp(ram + BUF + 0x1000 + 30, "ab", 2), 0);
    ck_assert_uint_eq(vq->inuse, 1);
    ck_assert(virtqueue_empty(vq));
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 0);

    virtqueue_push(vq, &elem, 32);
    ck_assert_uint_eq(used_idx(), 1);
    ck_assert_uint_eq(get32(USED + 4), 0);
    ck_assert_uint_eq(get32(USED + 8), 32);
    ck_assert_uint_eq(vq->inuse, 0);
    virtio_notify(&vdev, vq);
    ck_assert_uint_eq(notifies, 1);
    ck_assert(vdev.isr & VIRTIO_ISR_QUEUE);
    ck_assert(!vdev.broken);
}
END_TEST

START_TEST(multi_segment_copy_and_batch)
{
    static VirtQueueElement a, b;
    setup();
    memcpy(ram + BUF, "abc", 3);
    memcpy(ram + BUF + 0x100, "defgh", 5);
    set_desc(3, BUF, 3, VRING_DESC_F_NEXT, 7);
    set_desc(7, BUF + 0x100, 5, VRING_DESC_F_NEXT, 2);
    set_desc(2, BUF + 0x200, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
    set_desc(5, BUF + 0x300, 4, VRING_DESC_F_WRITE, 0);
    set_desc(9, BUF + 0x400, 1, VRING_DESC_F_WRITE, 0);
    avail_add(3);
    avail_add(9);
    ck_assert_uint_eq(virtqueue_avail_count(vq), 2);
    ck_assert_int_eq(virtqueue_pop(vq, &a), 1);
    ck_assert_int_eq(virtqueue_pop(vq, &b), 1);
    char buf[9] = { 0 };
    ck_assert_uint_eq(virtqueue_elem_read(&a, 1, buf, 8), 7);
    ck_assert_str_eq(buf, "bcdefgh");
    ck_assert_uint_eq(virtqueue_elem_write(&a, 2, "123456", 6), 6);
    ck_assert_int_eq(memcmp(ram + BUF + 0x202, "12", 2), 0);
    ck_assert_int_eq(memcmp(ram + BUF + 0x300, "3456", 4), 0);
    ck_assert_uint_eq(b.out_num, 0);
    ck_assert_uint_eq(b.in_num, 1);
    /* Unpop puts the last one back. */
    virtqueue_unpop(vq, &b);
    ck_assert_uint_eq(virtqueue_avail_count(vq), 1);
    ck_assert_int_eq(virtqueue_pop(vq, &b), 1);
    ck_assert_uint_eq(b.head, 9);
    virtqueue_fill(vq, &b, 1, 0);
    virtqueue_fill(vq, &a, 8, 1);
    ck_assert_uint_eq(used_idx(), 0);
    virtqueue_flush(vq, 2);
    ck_assert_uint_eq(used_idx(), 2);
    ck_assert_uint_eq(get32(USED + 4), 9);
    ck_assert_uint_eq(get32(USED + 12), 3);
    ck_assert_uint_eq(get32(USED + 16), 8);
}
END_TEST

START_TEST(zero_length_buffer_is_skipped)
{
    static VirtQueueElement elem;
    setup();
    set_desc(0, BUF, 0, VRING_DESC_F_NEXT, 1);
    set_desc(1, BUF, 16, VRING_DESC_F_WRITE, 0);
    avail_add(0);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    ck_assert_uint_eq(elem.out_num, 0);
    ck_assert_uint_eq(elem.in_num, 1);
    ck_assert(!vdev.broken);
}
END_TEST

START_TEST(indirect_chain)
{
    static VirtQueueElement elem;
    setup();
    desc_at(ITABLE, 0, BUF, 10, VRING_DESC_F_NEXT, 2);
    desc_at(ITABLE, 2, BUF + 0x100, 20, VRING_DESC_F_NEXT, 1);
    desc_at(ITABLE, 1, BUF + 0x200, 30, VRING_DESC_F_WRITE, 0);
    set_desc(4, ITABLE, 48, VRING_DESC_F_INDIRECT, 0);
    avail_add(4);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    ck_assert_uint_eq(elem.head, 4);
    ck_assert_uint_eq(elem.out_num, 2);
    ck_assert_uint_eq(elem.in_num, 1);
    ck_assert_uint_eq(elem.out_len, 30);
    ck_assert_uint_eq(elem.in_len, 30);
    ck_assert_uint_eq(elem.addr[2], BUF + 0x200);
}
END_TEST

START_TEST(no_interrupt_flag_without_event_idx)
{
    static VirtQueueElement elem;
    setup();
    set_desc(0, BUF, 8, VRING_DESC_F_WRITE, 0);
    avail_add(0);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    virtqueue_push(vq, &elem, 8);
    put16(AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
    virtio_notify(&vdev, vq);
    ck_assert_uint_eq(notifies, 0);
    put16(AVAIL, 0);
    virtio_notify(&vdev, vq);
    ck_assert_uint_eq(notifies, 1);
    /* The device's side: NO_NOTIFY in the used flags. */
    virtqueue_set_notification(vq, false);
    ck_assert_uint_eq(get16(USED), VRING_USED_F_NO_NOTIFY);
    virtqueue_set_notification(vq, true);
    ck_assert_uint_eq(get16(USED), 0);
}
END_TEST

START_TEST(event_idx_suppresses_interrupts)
{
    static VirtQueueElement elem;
    setup_features(1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_RING_EVENT_IDX);
    for (unsigned i = 0; i < 4; i++)
        set_desc(i, BUF + 0x100 * i, 8, VRING_DESC_F_WRITE, 0);
    set_used_event(0);
    /* NO_INTERRUPT is ignored with EVENT_IDX. */
    put16(AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
    for (unsigned i = 0; i < 4; i++)
        avail_add(i);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    virtqueue_push(vq, &elem, 8);
    virtio_notify(&vdev, vq);   /* used 0 -> 1 crosses used_event 0 */
    ck_assert_uint_eq(notifies, 1);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    virtqueue_push(vq, &elem, 8);
    virtio_notify(&vdev, vq);   /* 1 -> 2: the driver asked for one at 0 only */
    ck_assert_uint_eq(notifies, 1);
    set_used_event(2);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    virtqueue_push(vq, &elem, 8);
    virtio_notify(&vdev, vq);   /* 2 -> 3 crosses 2 */
    ck_assert_uint_eq(notifies, 2);
}
END_TEST

START_TEST(event_idx_avail_event_for_kicks)
{
    static VirtQueueElement elem;
    setup_features(1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_RING_EVENT_IDX);
    for (unsigned i = 0; i < 3; i++) {
        set_desc(i, BUF, 8, 0, 0);
        avail_add(i);
    }
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    ck_assert_uint_eq(avail_event(), 1);   /* kick me after entry 1 */
    virtqueue_set_notification(vq, false);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    ck_assert_uint_eq(avail_event(), 1);   /* unchanged: no kicks wanted */
    ck_assert_uint_eq(get16(USED), 0);     /* and no NO_NOTIFY flag */
    virtqueue_set_notification(vq, true);
    ck_assert_uint_eq(avail_event(), 3);   /* the current avail idx */
}
END_TEST

START_TEST(notify_runs_handler_only_when_ready)
{
    setup();
    virtio_queue_notify(&vdev, 0);
    ck_assert_uint_eq(handler_runs, 1);
    virtio_queue_notify(&vdev, 5);         /* no such queue: logged */
    ck_assert_uint_eq(handler_runs, 1);
    vdev.status &= ~VIRTIO_CONFIG_S_DRIVER_OK;
    virtio_queue_notify(&vdev, 0);
    ck_assert_uint_eq(handler_runs, 1);
    /* DRIVER_OK with buffers already queued runs the handler. */
    set_desc(0, BUF, 8, 0, 0);
    avail_add(0);
    virtio_set_status(&vdev, vdev.status | VIRTIO_CONFIG_S_DRIVER_OK);
    ck_assert_uint_eq(handler_runs, 2);
}
END_TEST

/* ---- feature negotiation and reset ---- */

START_TEST(features_ok_negotiation)
{
    setup();
    vdev.status = 0;
    uint64_t offered = vdev.host_features;
    ck_assert(offered & 1ULL << 5);
    ck_assert(offered & 1ULL << VIRTIO_F_VERSION_1);
    ck_assert(offered & 1ULL << VIRTIO_F_RING_INDIRECT_DESC);
    ck_assert(offered & 1ULL << VIRTIO_F_RING_EVENT_IDX);
    uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
    virtio_set_status(&vdev, s);

    vdev.guest_features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << 6;   /* 6 not offered */
    virtio_set_status(&vdev, s | VIRTIO_CONFIG_S_FEATURES_OK);
    ck_assert(!(vdev.status & VIRTIO_CONFIG_S_FEATURES_OK));
    vdev.guest_features = 1ULL << 5;                                 /* no VERSION_1 */
    virtio_set_status(&vdev, s | VIRTIO_CONFIG_S_FEATURES_OK);
    ck_assert(!(vdev.status & VIRTIO_CONFIG_S_FEATURES_OK));
    ck_assert_uint_eq(set_features_calls, 0);

    vdev.guest_features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << 5;
    virtio_set_status(&vdev, s | VIRTIO_CONFIG_S_FEATURES_OK);
    ck_assert(vdev.status & VIRTIO_CONFIG_S_FEATURES_OK);
    ck_assert_uint_eq(set_features_calls, 1);
    ck_assert_uint_eq(set_features_value, vdev.guest_features);
    ck_assert(virtio_has_feature(&vdev, 5));
    ck_assert(!virtio_has_feature(&vdev, 70));

    virtio_legacy_set_features(&vdev, 1u << 5 | 1u << 6 | 1u << VIRTIO_F_ANY_LAYOUT | 1u << 30);
    ck_assert_uint_eq(vdev.guest_features, 1ULL << 5 | 1ULL << VIRTIO_F_ANY_LAYOUT);
}
END_TEST

START_TEST(reset_restores_power_on_state)
{
    static VirtQueueElement elem;
    setup();
    vq->vector = 3;
    vdev.config_vector = 2;
    vq->num = 8;
    set_desc(0, BUF, 8, 0, 0);
    avail_add(0);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), 1);
    virtio_error(&vdev, "test %d", 1);
    ck_assert(vdev.broken);
    virtio_set_status(&vdev, 0);
    ck_assert(!vdev.broken);
    ck_assert_uint_eq(vdev.status, 0);
    ck_assert_uint_eq(vdev.isr, 0);
    ck_assert_uint_eq(vdev.guest_features, 0);
    ck_assert_uint_eq(vdev.config_vector, VIRTIO_NO_VECTOR);
    ck_assert_uint_eq(vq->num, QSIZE);
    ck_assert(!vq->enabled);
    ck_assert_uint_eq(vq->desc | vq->avail | vq->used, 0);
    ck_assert_uint_eq(vq->last_avail_idx, 0);
    ck_assert_uint_eq(vq->used_idx, 0);
    ck_assert_uint_eq(vq->inuse, 0);
    ck_assert_uint_eq(vq->vector, VIRTIO_NO_VECTOR);
    ck_assert(!virtqueue_ready(vq));
}
END_TEST

/* ---- hostile rings ---- */

START_TEST(hostile_avail_idx_too_far_ahead)
{
    setup();
    put16(AVAIL + 2, QSIZE + 1);
    expect_broken();
}
END_TEST

START_TEST(hostile_head_out_of_table)
{
    setup();
    avail_add(QSIZE);
    expect_broken();
}
END_TEST

START_TEST(hostile_next_out_of_table)
{
    setup();
    set_desc(0, BUF, 8, VRING_DESC_F_NEXT, QSIZE);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_loop_terminates)
{
    setup();
    set_desc(0, BUF, 8, VRING_DESC_F_NEXT, 1);
    set_desc(1, BUF, 8, VRING_DESC_F_NEXT, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_self_loop_in_indirect_table)
{
    setup();
    desc_at(ITABLE, 1, BUF, 8, VRING_DESC_F_NEXT, 1);
    desc_at(ITABLE, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
    set_desc(0, ITABLE, 32, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_indirect_with_next)
{
    setup();
    desc_at(ITABLE, 0, BUF, 8, 0, 0);
    set_desc(0, ITABLE, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
    set_desc(1, BUF, 8, 0, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_indirect_bad_lengths)
{
    static const uint32_t lens[] = { 0, 8, 24, (VIRTQUEUE_MAX_SIZE + 1) * 16 };
    for (unsigned i = 0; i < ARRAY_SIZE(lens); i++) {
        setup();
        set_desc(0, ITABLE, lens[i], VRING_DESC_F_INDIRECT, 0);
        avail_add(0);
        expect_broken();
    }
}
END_TEST

START_TEST(hostile_indirect_table_outside_ram)
{
    setup();
    set_desc(0, RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_nested_indirect)
{
    setup();
    desc_at(ITABLE, 0, ITABLE + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
    desc_at(ITABLE + 0x100, 0, BUF, 8, 0, 0);
    set_desc(0, ITABLE, 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_indirect_not_negotiated)
{
    setup_features(1ULL << VIRTIO_F_VERSION_1);
    desc_at(ITABLE, 0, BUF, 8, 0, 0);
    set_desc(0, ITABLE, 16, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_buffers_outside_ram)
{
    static const uint64_t addrs[] = { RAM_SIZE - 8, RAM_SIZE, 0xfffffffffffffff0ULL };
    for (unsigned i = 0; i < ARRAY_SIZE(addrs); i++) {
        setup();
        set_desc(0, addrs[i], 32, VRING_DESC_F_WRITE, 0);
        avail_add(0);
        expect_broken();
    }
    /* A length that would wrap the address space. */
    setup();
    set_desc(0, BUF, 0xffffffff, 0, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_readable_after_writable)
{
    setup();
    set_desc(0, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    set_desc(1, BUF, 8, 0, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_chain_too_long)
{
    setup();
    unsigned n = VIRTQUEUE_MAX_SEGS + 1;
    for (unsigned i = 0; i < n; i++)
        desc_at(ITABLE, i, BUF, 1, i + 1 < n ? VRING_DESC_F_NEXT : 0, i + 1);
    set_desc(0, ITABLE, 16 * n, VRING_DESC_F_INDIRECT, 0);
    avail_add(0);
    expect_broken();
}
END_TEST

START_TEST(hostile_ring_addresses)
{
    struct { uint64_t desc, avail, used; uint16_t num; } cases[] = {
        { DESC + 8, AVAIL, USED, QSIZE },              /* desc not 16-aligned */
        { DESC, AVAIL + 1, USED, QSIZE },              /* avail not 2-aligned */
        { DESC, AVAIL, USED + 2, QSIZE },              /* used not 4-aligned */
        { RAM_SIZE - 0x80, AVAIL, USED, QSIZE },       /* desc runs off RAM */
        { DESC, RAM_SIZE - 0x10, USED, QSIZE },        /* avail runs off RAM */
        { DESC, AVAIL, RAM_SIZE - 0x40, QSIZE },       /* used runs off RAM */
        { DESC, AVAIL, 0x40000000, QSIZE },            /* used nowhere */
        { DESC, AVAIL, USED, 12 },                     /* size not a power of 2 */
        { DESC, AVAIL, USED, 0 },
    };
    for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
        setup();
        vq->desc = cases[i].desc;
        vq->avail = cases[i].avail;
        vq->used = cases[i].used;
        vq->num = cases[i].num;
        ck_assert(!virtqueue_ready(vq));
        expect_broken();
    }
}
END_TEST

START_TEST(broken_device_stays_quiet_until_reset)
{
    static VirtQueueElement elem;
    setup();
    avail_add(QSIZE + 3);
    ck_assert_int_eq(virtqueue_pop(vq, &elem), -1);
    unsigned n = notifies;
    virtio_error(&vdev, "again");          /* only the first error interrupts */
    ck_assert_uint_eq(notifies, n);
    virtqueue_push(vq, &elem, 0);          /* ignored */
    ck_assert_uint_eq(used_idx(), 0);
    /* The driver cannot clear NEEDS_RESET by writing the status. */
    virtio_set_status(&vdev, VIRTIO_CONFIG_S_DRIVER_OK);
    ck_assert(vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtqueue");
    UNIT_TEST(s, normal_chain);
    UNIT_TEST(s, multi_segment_copy_and_batch);
    UNIT_TEST(s, zero_length_buffer_is_skipped);
    UNIT_TEST(s, indirect_chain);
    UNIT_TEST(s, no_interrupt_flag_without_event_idx);
    UNIT_TEST(s, event_idx_suppresses_interrupts);
    UNIT_TEST(s, event_idx_avail_event_for_kicks);
    UNIT_TEST(s, notify_runs_handler_only_when_ready);
    UNIT_TEST(s, features_ok_negotiation);
    UNIT_TEST(s, reset_restores_power_on_state);
    UNIT_TEST(s, hostile_avail_idx_too_far_ahead);
    UNIT_TEST(s, hostile_head_out_of_table);
    UNIT_TEST(s, hostile_next_out_of_table);
    UNIT_TEST(s, hostile_loop_terminates);
    UNIT_TEST(s, hostile_self_loop_in_indirect_table);
    UNIT_TEST(s, hostile_indirect_with_next);
    UNIT_TEST(s, hostile_indirect_bad_lengths);
    UNIT_TEST(s, hostile_indirect_table_outside_ram);
    UNIT_TEST(s, hostile_nested_indirect);
    UNIT_TEST(s, hostile_indirect_not_negotiated);
    UNIT_TEST(s, hostile_buffers_outside_ram);
    UNIT_TEST(s, hostile_readable_after_writable);
    UNIT_TEST(s, hostile_chain_too_long);
    UNIT_TEST(s, hostile_ring_addresses);
    UNIT_TEST(s, broken_device_stays_quiet_until_reset);
    return unit_run(s);
}
