/*
 * hw core: address-space tables (lookup, overlap, unassigned and straddling
 * accesses), guest RAM bounds, phys_* falling through to MMIO, irq lines,
 * the reset registry and run-state requests.
 */
#include <stdint.h>
#include <string.h>

#include "hw.h"
#include "unit.h"
#include "util.h"

/* A device that records its last access. */
typedef struct Rec {
    unsigned reads, writes;
    uint64_t off;
    unsigned size;
    uint64_t val;
} Rec;

static uint64_t rec_read(void *opaque, uint64_t off, unsigned size)
{
    Rec *r = opaque;
    r->reads++;
    r->off = off;
    r->size = size;
    return 0x1122334455667788ULL + off;
}

static void rec_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    Rec *r = opaque;
    r->writes++;
    r->off = off;
    r->size = size;
    r->val = val;
}

static const MemOps rec_ops = { .read = rec_read, .write = rec_write };

START_TEST(regions_lookup_many)
{
    AddressSpace as = { .name = "t" };
    enum { N = 257 };
    static Rec recs[N];
    /* Insert in a scrambled order (i * 101 mod N visits every index). */
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (k * 101) % N;
        ck_assert_int_eq(as_add(&as, (uint64_t)i * 16, 4, &rec_ops, &recs[i], "r"), 0);
    }
    ck_assert_uint_eq(as.n, N);
    for (unsigned i = 0; i < N; i++) {
        uint64_t base = (uint64_t)i * 16;
        const Region *r = as_find(&as, base);
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_eq(r->opaque, &recs[i]);
        ck_assert_ptr_eq(as_find(&as, base + 3)->opaque, &recs[i]);
        ck_assert_ptr_null(as_find(&as, base + 4));
        ck_assert_ptr_null(as_find(&as, base + 15));
    }
    ck_assert_ptr_null(as_find(&as, UINT64_MAX));
    /* A region touching the very top of the address space. */
    ck_assert_int_eq(as_add(&as, UINT64_MAX - 0xfff, 0x1000, &rec_ops, &recs[0], "top"), 0);
    ck_assert_str_eq(as_find(&as, UINT64_MAX)->name, "top");
    ck_assert_str_eq(as_find(&as, UINT64_MAX - 0xfff)->name, "top");
    ck_assert_ptr_null(as_find(&as, UINT64_MAX - 0x1000));
    as_reset(&as);
}
END_TEST

START_TEST(regions_overlap_refused)
{
    AddressSpace as = { .name = "t" };
    Rec a;
    ck_assert_int_eq(as_add(&as, 0x100, 0x10, &rec_ops, &a, "a"), 0);
    ck_assert_int_eq(as_add(&as, 0x10f, 2, &rec_ops, &a, "b"), -1);
    ck_assert_int_eq(as_add(&as, 0xf0, 0x11, &rec_ops, &a, "b"), -1);
    ck_assert_int_eq(as_add(&as, 0x100, 1, &rec_ops, &a, "b"), -1);
    ck_assert_int_eq(as_add(&as, 0x104, 1, &rec_ops, &a, "b"), -1);
    ck_assert_int_eq(as_add(&as, 0, 0x1000, &rec_ops, &a, "b"), -1);
    ck_assert_int_eq(as_add(&as, 0x200, 0, &rec_ops, &a, "empty"), -1);
    ck_assert_int_eq(as_add(&as, UINT64_MAX, 2, &rec_ops, &a, "wraps"), -1);
    ck_assert_uint_eq(as.n, 1);
    /* Neighbours on both sides are fine. */
    ck_assert_int_eq(as_add(&as, 0x110, 0x10, &rec_ops, &a, "after"), 0);
    ck_assert_int_eq(as_add(&as, 0xf0, 0x10, &rec_ops, &a, "before"), 0);
    ck_assert_uint_eq(as.n, 3);
    ck_assert_ptr_null(as_find_overlap(&as, 0x120, 0x100));
    ck_assert_str_eq(as_find_overlap(&as, 0x11f, 0x100)->name, "after");
    as_reset(&as);
}
END_TEST

START_TEST(unassigned_reads_all_ones)
{
    AddressSpace as = { .name = "t" };
    uint64_t v;
    ck_assert(!as_read(&as, 0x80, 1, &v));
    ck_assert_uint_eq(v, 0xff);
    ck_assert(!as_read(&as, 0x80, 2, &v));
    ck_assert_uint_eq(v, 0xffff);
    ck_assert(!as_read(&as, 0x80, 4, &v));
    ck_assert_uint_eq(v, 0xffffffffu);
    ck_assert(!as_read(&as, 0x80, 8, &v));
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert(!as_write(&as, 0x80, 4, 1));
}
END_TEST

START_TEST(dispatch_offset_and_mask)
{
    AddressSpace as = { .name = "t" };
    Rec a = { 0 };
    uint64_t v;
    ck_assert_int_eq(as_add(&as, 0x3f8, 8, &rec_ops, &a, "a"), 0);
    ck_assert(as_read(&as, 0x3fa, 2, &v));
    ck_assert_uint_eq(a.off, 2);
    ck_assert_uint_eq(a.size, 2);
    ck_assert_uint_eq(v, (0x1122334455667788ULL + 2) & 0xffff);
    ck_assert(as_write(&as, 0x3ff, 1, 0x1234));
    ck_assert_uint_eq(a.off, 7);
    ck_assert_uint_eq(a.val, 0x34);
    as_reset(&as);
}
END_TEST

START_TEST(straddling_access_clipped)
{
    AddressSpace as = { .name = "t" };
    Rec a = { 0 }, b = { 0 };
    uint64_t v;
    ck_assert_int_eq(as_add(&as, 0x10, 4, &rec_ops, &a, "a"), 0);
    ck_assert_int_eq(as_add(&as, 0x14, 4, &rec_ops, &b, "b"), 0);
    ck_assert(as_read(&as, 0x13, 4, &v));
    ck_assert_uint_eq(a.reads, 1);
    ck_assert_uint_eq(a.off, 3);
    ck_assert_uint_eq(a.size, 4);
    ck_assert_uint_eq(b.reads, 0);
    ck_assert(as_write(&as, 0x12, 4, 0xdeadbeef));
    ck_assert_uint_eq(a.writes, 1);
    ck_assert_uint_eq(a.off, 2);
    ck_assert_uint_eq(b.writes, 0);
    as_reset(&as);
}
END_TEST

START_TEST(region_delete)
{
    AddressSpace as = { .name = "t" };
    Rec a, b, c;
    ck_assert_int_eq(as_add(&as, 0x10, 4, &rec_ops, &a, "a"), 0);
    ck_assert_int_eq(as_add(&as, 0x20, 4, &rec_ops, &b, "b"), 0);
    ck_assert_int_eq(as_add(&as, 0x30, 4, &rec_ops, &c, "c"), 0);
    ck_assert_int_eq(as_del(&as, 0x20, &a), -1);   /* wrong owner */
    ck_assert_int_eq(as_del(&as, 0x21, &b), -1);   /* not a base */
    ck_assert_int_eq(as_del(&as, 0x20, &b), 0);
    ck_assert_uint_eq(as.n, 2);
    ck_assert_ptr_null(as_find(&as, 0x20));
    ck_assert_ptr_eq(as_find(&as, 0x10)->opaque, &a);
    ck_assert_ptr_eq(as_find(&as, 0x33)->opaque, &c);
    ck_assert_int_eq(as_del(&as, 0x20, &b), -1);
    ck_assert_int_eq(as_add(&as, 0x1c, 0x14, &rec_ops, &b, "b2"), 0);
    ck_assert_int_eq(as_del(&as, 0x10, &a), 0);
    ck_assert_int_eq(as_del(&as, 0x30, &c), 0);
    ck_assert_int_eq(as_del(&as, 0x1c, &b), 0);
    ck_assert_uint_eq(as.n, 0);
    as_reset(&as);
}
END_TEST

static uint8_t ram_lo[0x2000], ram_hi[0x1000], ram_top[0x1000];

START_TEST(guest_mem_map_bounds)
{
    guest_ram_clear();
    guest_ram_add(0x1000, sizeof(ram_lo), ram_lo);
    ck_assert_uint_eq(guest_ram_count(), 1);
    ck_assert_ptr_eq(guest_mem_map(0x1000, 0x2000), ram_lo);
    ck_assert_ptr_eq(guest_mem_map(0x2fff, 1), ram_lo + 0x1fff);
    ck_assert_ptr_null(guest_mem_map(0x1000, 0x2001));
    ck_assert_ptr_null(guest_mem_map(0x3000, 1));
    ck_assert_ptr_null(guest_mem_map(0xfff, 2));
    ck_assert_ptr_null(guest_mem_map(0x1000, UINT64_MAX));
    ck_assert_ptr_null(guest_mem_map(UINT64_MAX - 1, 4));
    /* A block at the top of the address space: gpa + len would wrap. */
    guest_ram_add(UINT64_MAX - 0xfff, sizeof(ram_top), ram_top);
    ck_assert_ptr_null(guest_mem_map(UINT64_MAX - 1, 4));
    ck_assert_ptr_eq(guest_mem_map(UINT64_MAX - 1, 2), ram_top + 0xffe);
    ck_assert_ptr_eq(guest_mem_map(UINT64_MAX, 1), ram_top + 0xfff);
    ck_assert_ptr_eq(guest_ram_block(1)->host, ram_top);
    ck_assert_ptr_null(guest_ram_block(2));
    guest_ram_clear();
    ck_assert_ptr_null(guest_mem_map(0x1000, 1));
}
END_TEST

START_TEST(guest_mem_copy_across_blocks)
{
    guest_ram_clear();
    guest_ram_add(0x1000, sizeof(ram_lo), ram_lo);
    guest_ram_add(0x3000, sizeof(ram_hi), ram_hi);   /* adjacent */
    uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8];
    ck_assert_int_eq(guest_mem_write(0x2ffc, buf, 8), 0);
    ck_assert_int_eq(ram_lo[0x1fff], 4);
    ck_assert_int_eq(ram_hi[0], 5);
    ck_assert_int_eq(guest_mem_read(0x2ffc, out, 8), 0);
    ck_assert_mem_eq(out, buf, 8);
    /* Partly outside RAM: fails and writes nothing. */
    memset(ram_hi, 0, sizeof(ram_hi));
    ck_assert_int_eq(guest_mem_write(0x3ffc, buf, 8), -1);
    ck_assert_int_eq(ram_hi[0xffc], 0);
    ck_assert_int_eq(guest_mem_read(0xffc, out, 8), -1);
    guest_ram_clear();
}
END_TEST

START_TEST(phys_read_falls_through_to_mmio)
{
    static uint8_t ram[0x1000];
    Rec dev = { 0 };
    guest_ram_clear();
    as_reset(&mmio_space);
    guest_ram_add(0, sizeof(ram), ram);
    ck_assert_int_eq(mmio_region_add(0x1000, 0x100, &rec_ops, &dev, "dev"), 0);
    ram[0xffe] = 0xaa;
    ram[0xfff] = 0xbb;
    uint8_t buf[8];
    phys_read(0xffe, buf, 8);   /* 2 bytes of RAM, then MMIO: 4 + 2 */
    ck_assert_int_eq(buf[0], 0xaa);
    ck_assert_int_eq(buf[1], 0xbb);
    ck_assert_uint_eq(dev.reads, 2);
    ck_assert_uint_eq(dev.off, 4);
    ck_assert_uint_eq(dev.size, 2);
    ck_assert_int_eq(buf[2], 0x88);   /* little-endian value of the 4-byte read */
    ck_assert_int_eq(buf[6], 0x88 + 4);

    uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    phys_write(0x1008, w, 8);   /* aligned: one 8-byte access */
    ck_assert_uint_eq(dev.writes, 1);
    ck_assert_uint_eq(dev.size, 8);
    ck_assert_uint_eq(dev.off, 8);
    ck_assert_uint_eq(dev.val, 0x0807060504030201ULL);

    phys_read(0x2000, buf, 2);   /* nothing there */
    ck_assert_int_eq(buf[0], 0xff);
    ck_assert_int_eq(buf[1], 0xff);
    guest_ram_clear();
    as_reset(&mmio_space);
}
END_TEST

/* ---- irq / reset / runstate ---- */

static int last_gsi = -1, last_level = -1, backend_calls;

static void fake_set_level(void *opaque, unsigned gsi, int level)
{
    last_gsi = gsi;
    last_level = level;
    backend_calls++;
}

START_TEST(irq_lines)
{
    IrqBackend b = { .set_level = fake_set_level };
    irq_set_level(3, 1);   /* no backend yet: remembered only */
    ck_assert_int_eq(irq_get_level(3), 1);
    irq_set_backend(&b);
    irq_set_level(5, 7);
    ck_assert_int_eq(last_gsi, 5);
    ck_assert_int_eq(last_level, 1);
    ck_assert_int_eq(irq_get_level(5), 1);
    irq_pulse(4);
    ck_assert_int_eq(last_gsi, 4);
    ck_assert_int_eq(last_level, 0);
    ck_assert_int_eq(backend_calls, 3);
    irq_set_level(IRQ_NUM_GSI, 1);   /* out of range: ignored */
    irq_set_level(UINT32_MAX, 1);
    ck_assert_int_eq(backend_calls, 3);
    ck_assert_int_eq(irq_get_level(IRQ_NUM_GSI), 0);
    /* "info irq" counts rising edges only: a held level is one interrupt */
    ck_assert_uint_eq(irq_get_count(4), 1);
    ck_assert_uint_eq(irq_get_count(5), 1);
    irq_set_level(5, 1);
    ck_assert_uint_eq(irq_get_count(5), 1);
    irq_set_level(5, 0);
    irq_set_level(5, 1);
    ck_assert_uint_eq(irq_get_count(5), 2);
    ck_assert_uint_eq(irq_get_count(IRQ_NUM_GSI), 0);
    irq_set_backend(NULL);
}
END_TEST

static char reset_log[16];

static void reset_a(void *opaque) { strcat(reset_log, "a"); }
static void reset_b(void *opaque) { strcat(reset_log, opaque); }

START_TEST(reset_order)
{
    reset_register(reset_a, NULL);
    reset_register(reset_b, "b");
    reset_register(reset_b, "c");
    reset_all();
    ck_assert_str_eq(reset_log, "abc");
    reset_unregister(reset_b, "b");
    reset_log[0] = 0;
    reset_all();
    ck_assert_str_eq(reset_log, "ac");
}
END_TEST

static ShutdownCause got_shutdown, got_reset;
static int got_exit = -1;
static void hook_shutdown(ShutdownCause c) { got_shutdown = c; }
static void hook_reset(ShutdownCause c) { got_reset = c; }
static void hook_exit(int status) { got_exit = status; }

START_TEST(runstate_requests)
{
    ck_assert_str_eq(shutdown_cause_name(SHUTDOWN_CAUSE_GUEST_SHUTDOWN), "guest-shutdown");
    ck_assert_str_eq(shutdown_cause_name(SHUTDOWN_CAUSE_HOST_QMP_QUIT), "host-qmp-quit");
    ck_assert_str_eq(shutdown_cause_name(SHUTDOWN_CAUSE_SUBSYSTEM_RESET), "subsystem-reset");
    ck_assert_str_eq(shutdown_cause_name(SHUTDOWN_CAUSE_NONE), "none");
    request_reset(SHUTDOWN_CAUSE_GUEST_RESET);   /* no hooks: only logged */
    RunstateHooks h = { hook_shutdown, hook_reset, hook_exit };
    runstate_set_hooks(&h);
    request_shutdown(SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    request_reset(SHUTDOWN_CAUSE_GUEST_PANIC);
    request_exit(3);
    ck_assert_int_eq(got_shutdown, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
    ck_assert_int_eq(got_reset, SHUTDOWN_CAUSE_GUEST_PANIC);
    ck_assert_int_eq(got_exit, 3);
    runstate_set_hooks(NULL);
}
END_TEST

static int stops, starts;
static char events[64];
static void hook_stop(void) { stops++; }
static void hook_start(void) { starts++; }
static void record_event(RunEvent ev, ShutdownCause cause)
{
    static const char code[] = { [RUN_EVENT_STOP] = 'S', [RUN_EVENT_RESUME] = 'R',
                                 [RUN_EVENT_RESET] = 'X', [RUN_EVENT_SHUTDOWN] = 'D',
                                 [RUN_EVENT_POWERDOWN] = 'P' };
    size_t n = strlen(events);
    events[n] = code[ev];
    events[n + 1] = '\0';
}

START_TEST(runstate_stop_start_events)
{
    RunstateHooks h = { .stop = hook_stop, .start = hook_start };
    const char *why = NULL;
    runstate_set_hooks(&h);
    runstate_set_event_hook(record_event);
    ck_assert_str_eq(runstate_name(runstate_get()), "prelaunch");
    ck_assert_int_eq(vm_start(&why), 0);          /* -S then cont */
    ck_assert(runstate_is_running());
    vm_stop();
    vm_stop();                                    /* already paused: no second STOP */
    ck_assert_str_eq(runstate_name(runstate_get()), "paused");
    ck_assert_int_eq(vm_start(&why), 0);
    ck_assert_int_eq(stops, 1);
    ck_assert_int_eq(starts, 2);
    ck_assert_str_eq(events, "RSR");
    runstate_set(RUN_STATE_SHUTDOWN);
    ck_assert_int_eq(vm_start(&why), -1);         /* needs a system_reset first */
    ck_assert_str_eq(why, "Resetting the Virtual Machine is required");
    ck_assert_int_eq(starts, 2);
    runstate_set(RUN_STATE_INTERNAL_ERROR);
    ck_assert_str_eq(runstate_name(runstate_get()), "internal-error");
    ck_assert(shutdown_cause_is_guest(SHUTDOWN_CAUSE_GUEST_SHUTDOWN));
    ck_assert(!shutdown_cause_is_guest(SHUTDOWN_CAUSE_HOST_QMP_QUIT));
    ck_assert_str_eq(shutdown_cause_name(SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET),
                     "host-qmp-system-reset");
    runstate_set_event_hook(NULL);
    runstate_set_hooks(NULL);
}
END_TEST

/* ---- named blocks, moves and dirty tracking ---- */

/* A fake accelerator: records maps and hands out a prepared dirty log. */
static struct {
    unsigned maps, unmaps;
    bool last_log;
    uint64_t last_gpa;
    uint64_t log[4];
} fake_accel;

static int fake_map(void *opaque, unsigned idx, const RamBlock *rb, bool log_dirty)
{
    fake_accel.maps++;
    fake_accel.last_log = log_dirty;
    fake_accel.last_gpa = rb->gpa;
    return 0;
}

static void fake_unmap(void *opaque, unsigned idx, const RamBlock *rb)
{
    fake_accel.unmaps++;
}

static int fake_sync(void *opaque, unsigned idx, const RamBlock *rb, uint64_t *bitmap)
{
    uint64_t words = (rb->size / RAM_PAGE_SIZE + 63) / 64;
    for (unsigned i = 0; i < 4 && i < words; i++) {
        bitmap[i] |= fake_accel.log[i];
        fake_accel.log[i] = 0;
    }
    return 0;
}

static const RamAccelBackend fake_backend = { fake_map, fake_unmap, fake_sync, NULL };

START_TEST(ram_blocks_named_and_moved)
{
    static uint8_t ram[64 * 1024], vram[16 * 1024];
    guest_ram_clear();
    memset(&fake_accel, 0, sizeof(fake_accel));
    ck_assert_int_eq(ram_set_accel_backend(&fake_backend), 0);
    ck_assert_int_eq(guest_ram_register("pc.ram", 0, sizeof(ram), ram, 0), 0);
    int v = guest_ram_register("vga.vram", RAM_UNMAPPED, sizeof(vram), vram, RAM_DEVICE);
    ck_assert_int_eq(v, 1);
    ck_assert_uint_eq(fake_accel.maps, 1);          /* the unmapped block is not mapped */
    ck_assert_int_eq(guest_ram_find("vga.vram"), 1);
    ck_assert_int_eq(guest_ram_find("nope"), -1);
    ck_assert_ptr_null(guest_mem_map(0x100000, 1));
    ck_assert_int_eq(guest_ram_move(1, 0x100000), 0);
    ck_assert_ptr_eq(guest_mem_map(0x100004, 4), vram + 4);
    ck_assert_uint_eq(fake_accel.last_gpa, 0x100000);
    ck_assert_int_eq(guest_ram_move(1, RAM_UNMAPPED), 0);
    ck_assert_uint_eq(fake_accel.unmaps, 1);
    ck_assert_ptr_null(guest_mem_map(0x100004, 4));
    ram_set_accel_backend(NULL);
    guest_ram_clear();
}
END_TEST

START_TEST(ram_dirty_clients)
{
    static uint8_t ram[256 * 1024];
    guest_ram_clear();
    memset(&fake_accel, 0, sizeof(fake_accel));
    ram_set_accel_backend(&fake_backend);
    ck_assert_int_eq(guest_ram_register("pc.ram", 0, sizeof(ram), ram, 0), 0);
    ck_assert(!fake_accel.last_log);
    /* Nobody tracks: marking is a no-op. */
    ram_mark_dirty(0x1000, 1);
    ck_assert_int_eq(ram_dirty_start(0, DIRTY_CLIENT_MIGRATION), 0);
    ck_assert(fake_accel.last_log);                 /* logging turned on */
    ck_assert_uint_eq(ram_dirty_count(0, DIRTY_CLIENT_MIGRATION), 0);
    ck_assert_int_eq(ram_dirty_start(0, DIRTY_CLIENT_DISPLAY), 0);

    /* A host-side write marks both clients; test_and_clear is per client. */
    uint32_t v = 7;
    ck_assert_int_eq(guest_mem_write(0x3ffe, &v, sizeof(v)), 0);   /* pages 3 and 4 */
    ck_assert_uint_eq(ram_dirty_count(0, DIRTY_CLIENT_MIGRATION), 2);
    ck_assert(ram_dirty_test_and_clear(0, DIRTY_CLIENT_MIGRATION, 0x3000, 0x1000));
    ck_assert(!ram_dirty_test_and_clear(0, DIRTY_CLIENT_MIGRATION, 0x3000, 0x1000));
    ck_assert_uint_eq(ram_dirty_count(0, DIRTY_CLIENT_MIGRATION), 1);
    ck_assert_uint_eq(ram_dirty_count(0, DIRTY_CLIENT_DISPLAY), 2);

    /* The accelerator's log reaches every client on sync. */
    fake_accel.log[0] = 1ULL << 10;
    fake_accel.log[0] |= 1ULL << 63;
    ck_assert_int_eq(ram_dirty_sync(0), 0);
    ck_assert(ram_dirty_test_and_clear(0, DIRTY_CLIENT_DISPLAY, 10 * 4096, 1));
    ck_assert(ram_dirty_test_and_clear(0, DIRTY_CLIENT_MIGRATION, 63 * 4096, 4096));
    ck_assert(ram_dirty_test_and_clear(0, DIRTY_CLIENT_MIGRATION, 10 * 4096, 4096));

    /* A range test spanning words clears exactly its pages. */
    ram_dirty_set_all(0, DIRTY_CLIENT_MIGRATION);
    ck_assert_uint_eq(ram_dirty_count(0, DIRTY_CLIENT_MIGRATION), 64);
    ck_assert(ram_dirty_test_and_clear(0, DIRTY_CLIENT_MIGRATION, 60 * 4096, 4 * 4096));
    ck_assert_uint_eq(ram_dirty_count(0, DIRTY_CLIENT_MIGRATION), 60);
    /* Out-of-range queries are refused quietly. */
    ck_assert(!ram_dirty_test_and_clear(0, DIRTY_CLIENT_MIGRATION, sizeof(ram), 4096));
    ck_assert(!ram_dirty_test_and_clear(5, DIRTY_CLIENT_MIGRATION, 0, 4096));

    ram_dirty_stop(0, DIRTY_CLIENT_MIGRATION);
    ck_assert(fake_accel.last_log);                 /* the display still logs */
    ram_dirty_stop(0, DIRTY_CLIENT_DISPLAY);
    ck_assert(!fake_accel.last_log);
    ck_assert(!ram_dirty_tracking(0, DIRTY_CLIENT_DISPLAY));
    ram_set_accel_backend(NULL);
    guest_ram_clear();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memory");
    UNIT_TEST(s, regions_lookup_many);
    UNIT_TEST(s, regions_overlap_refused);
    UNIT_TEST(s, unassigned_reads_all_ones);
    UNIT_TEST(s, dispatch_offset_and_mask);
    UNIT_TEST(s, straddling_access_clipped);
    UNIT_TEST(s, region_delete);
    UNIT_TEST(s, guest_mem_map_bounds);
    UNIT_TEST(s, guest_mem_copy_across_blocks);
    UNIT_TEST(s, phys_read_falls_through_to_mmio);
    UNIT_TEST(s, irq_lines);
    UNIT_TEST(s, reset_order);
    UNIT_TEST(s, runstate_requests);
    UNIT_TEST(s, runstate_stop_start_events);
    UNIT_TEST(s, ram_blocks_named_and_moved);
    UNIT_TEST(s, ram_dirty_clients);
    return unit_run(s);
}
