/*
 * The state-description engine (migration/vmstate.c) and the byte stream
 * (migration/qemu-file.c): round trips of a table with every field type,
 * arrays, nested structs, version_added, hooks; framed sections; and
 * hostile input (truncated, wrong lengths, unknown or missing sections,
 * bad versions) rejected with a message, never a crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include "migration.h"
#include "unit.h"
#include "util.h"
#include "vmstate.h"

typedef struct Inner {
    uint16_t a;
    uint32_t b[2];
} Inner;

static int inner_post_loads;
static int inner_post_load(void *opaque, unsigned version)
{
    inner_post_loads++;
    return ((Inner *)opaque)->a == 0xdead ? -1 : 0;
}

static const VMStateField inner_fields[] = {
    VMSTATE_U16(a, Inner),
    VMSTATE_U32_ARRAY(b, Inner, 2),
    VMSTATE_END,
};
static const VMStateDescription vmstate_inner = {
    .name = "inner", .version = 1, .fields = inner_fields, .post_load = inner_post_load,
};

typedef struct Dev {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    bool flag;
    uint8_t regs[5];
    uint64_t wide[3];
    uint8_t buf[7];
    Inner one;
    Inner many[3];
    Timer *timer;
    uint32_t newer;         /* version 2 */
    uint32_t extra;         /* save/load hooks */
    int pre_saves, post_loads;
    unsigned loaded_version;
} Dev;

static int dev_pre_save(void *opaque)
{
    Dev *d = opaque;
    d->pre_saves++;
    return d->u8 == 0xee ? -1 : 0;
}

static int dev_post_load(void *opaque, unsigned version)
{
    Dev *d = opaque;
    d->post_loads++;
    d->loaded_version = version;
    return d->u8 == 0xbb ? -1 : 0;   /* "an index out of range" */
}

static void dev_save(MigStream *s, void *opaque)
{
    mig_put_be32(s, ((Dev *)opaque)->extra);
}

static int dev_load(MigStream *s, void *opaque, unsigned version)
{
    ((Dev *)opaque)->extra = mig_get_be32(s);
    return mig_stream_error(s) ? -1 : 0;
}

static const VMStateField dev_fields[] = {
    VMSTATE_U8(u8, Dev),
    VMSTATE_U16(u16, Dev),
    VMSTATE_U32(u32, Dev),
    VMSTATE_U64(u64, Dev),
    VMSTATE_I32(i32, Dev),
    VMSTATE_I64(i64, Dev),
    VMSTATE_BOOL(flag, Dev),
    VMSTATE_U8_ARRAY(regs, Dev, 5),
    VMSTATE_U64_ARRAY(wide, Dev, 3),
    VMSTATE_BUFFER(buf, Dev),
    VMSTATE_STRUCT(one, Dev, vmstate_inner),
    VMSTATE_STRUCT_ARRAY(many, Dev, 3, vmstate_inner),
    VMSTATE_TIMER(timer, Dev),
    { "newer", offsetof(Dev, newer), VMS_U32, 4, 1, NULL, 2 },
    VMSTATE_END,
};
static const VMStateDescription vmstate_dev = {
    .name = "testdev", .version = 2, .fields = dev_fields, .pre_save = dev_pre_save,
    .post_load = dev_post_load, .save = dev_save, .load = dev_load,
};

static void timer_cb(void *opaque)
{
}

static void dev_fill(Dev *d)
{
    memset(d, 0, sizeof(*d));
    d->u8 = 0x12;
    d->u16 = 0x3456;
    d->u32 = 0x789abcde;
    d->u64 = 0x0123456789abcdefULL;
    d->i32 = -5;
    d->i64 = -1234567890123LL;
    d->flag = true;
    for (int i = 0; i < 5; i++)
        d->regs[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < 3; i++)
        d->wide[i] = 0x1111111111111111ULL * (i + 1);
    memcpy(d->buf, "buffer!", 7);
    d->one = (Inner){ 0x4242, { 1, 2 } };
    for (int i = 0; i < 3; i++)
        d->many[i] = (Inner){ (uint16_t)(100 + i), { (uint32_t)i, (uint32_t)(i * 7) } };
    d->newer = 0xfeedf00d;
    d->extra = 0xcafe;
}

/* Save d into a fresh memory stream; returns its bytes (malloc'd). */
static uint8_t *save_to_mem(const VMStateDescription *vmsd, void *d, size_t *len)
{
    MigStream *s = mig_stream_new_mem_writer();
    vmstate_save_state(s, vmsd, d);
    ck_assert_ptr_null(mig_stream_error(s));
    const uint8_t *p = mig_stream_mem_data(s, len);
    uint8_t *copy = xmalloc(*len + 1);
    memcpy(copy, p, *len);
    mig_stream_close(s);
    return copy;
}

START_TEST(round_trip_every_type)
{
    Dev a, b;
    dev_fill(&a);
    a.timer = timer_new(CLOCK_VIRTUAL_NS, timer_cb, NULL);
    timer_mod(a.timer, 987654321);
    size_t len;
    uint8_t *data = save_to_mem(&vmstate_dev, &a, &len);
    ck_assert_int_eq(a.pre_saves, 1);
    /* Big-endian on the wire: u8, then u16 0x3456. */
    ck_assert_int_eq(data[0], 0x12);
    ck_assert_int_eq(data[1], 0x34);
    ck_assert_int_eq(data[2], 0x56);

    memset(&b, 0, sizeof(b));
    b.timer = timer_new(CLOCK_VIRTUAL_NS, timer_cb, NULL);
    inner_post_loads = 0;
    MigStream *s = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_state(s, &vmstate_dev, &b, 2), 0);
    ck_assert_int_eq(mig_stream_pending(s), 0);
    mig_stream_close(s);
    ck_assert_int_eq(b.u8, a.u8);
    ck_assert_int_eq(b.u16, a.u16);
    ck_assert_uint_eq(b.u32, a.u32);
    ck_assert(b.u64 == a.u64);
    ck_assert_int_eq(b.i32, -5);
    ck_assert(b.i64 == a.i64);
    ck_assert(b.flag);
    ck_assert_mem_eq(b.regs, a.regs, 5);
    ck_assert_mem_eq(b.wide, a.wide, sizeof(a.wide));
    ck_assert_mem_eq(b.buf, a.buf, 7);
    ck_assert_int_eq(b.one.a, 0x4242);
    ck_assert_int_eq(b.one.b[1], 2);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(b.many[i].a, 100 + i);
        ck_assert_uint_eq(b.many[i].b[1], (uint32_t)(i * 7));
    }
    ck_assert_int_eq(inner_post_loads, 4);   /* one + many[3] */
    ck_assert(timer_pending(b.timer));
    ck_assert(timer_expire_time(b.timer) == 987654321);
    ck_assert_uint_eq(b.newer, 0xfeedf00d);
    ck_assert_uint_eq(b.extra, 0xcafe);
    ck_assert_int_eq(b.post_loads, 1);
    ck_assert_int_eq(b.loaded_version, 2);
    free(data);
    timer_free(a.timer);
    timer_free(b.timer);
}
END_TEST

START_TEST(idle_timer_is_deleted_on_load)
{
    Dev a, b;
    dev_fill(&a);
    a.timer = timer_new(CLOCK_VIRTUAL_NS, timer_cb, NULL);   /* idle */
    size_t len;
    uint8_t *data = save_to_mem(&vmstate_dev, &a, &len);
    dev_fill(&b);
    b.timer = timer_new(CLOCK_VIRTUAL_NS, timer_cb, NULL);
    timer_mod(b.timer, 55);
    MigStream *s = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_state(s, &vmstate_dev, &b, 2), 0);
    ck_assert(!timer_pending(b.timer));
    mig_stream_close(s);
    free(data);
    timer_free(a.timer);
    timer_free(b.timer);
}
END_TEST

/* A version 1 stream lacks "newer": it keeps the destination's value. */
START_TEST(version_added_field_absent_in_old_stream)
{
    static const VMStateField v1_fields[] = {
        VMSTATE_U8(u8, Dev), VMSTATE_U16(u16, Dev), VMSTATE_U32(u32, Dev),
        VMSTATE_U64(u64, Dev), VMSTATE_I32(i32, Dev), VMSTATE_I64(i64, Dev),
        VMSTATE_BOOL(flag, Dev), VMSTATE_U8_ARRAY(regs, Dev, 5),
        VMSTATE_U64_ARRAY(wide, Dev, 3), VMSTATE_BUFFER(buf, Dev),
        VMSTATE_STRUCT(one, Dev, vmstate_inner),
        VMSTATE_STRUCT_ARRAY(many, Dev, 3, vmstate_inner), VMSTATE_TIMER(timer, Dev),
        VMSTATE_END,
    };
    static const VMStateDescription v1 = {
        .name = "testdev", .version = 1, .fields = v1_fields, .save = dev_save,
    };
    Dev a, b;
    dev_fill(&a);
    size_t len;
    uint8_t *data = save_to_mem(&v1, &a, &len);
    dev_fill(&b);
    b.newer = 77;
    b.u32 = 0;
    MigStream *s = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_state(s, &vmstate_dev, &b, 1), 0);
    ck_assert_int_eq(mig_stream_pending(s), 0);
    ck_assert_uint_eq(b.u32, a.u32);
    ck_assert_uint_eq(b.newer, 77);
    ck_assert_int_eq(b.loaded_version, 1);
    mig_stream_close(s);
    free(data);
}
END_TEST

START_TEST(newer_version_refused)
{
    Dev b;
    dev_fill(&b);
    uint8_t zeros[256] = { 0 };
    MigStream *s = mig_stream_new_mem(zeros, sizeof(zeros));
    ck_assert_int_eq(vmstate_load_state(s, &vmstate_dev, &b, 3), -1);
    ck_assert_ptr_nonnull(strstr(mig_stream_error(s), "version 3"));
    mig_stream_close(s);
}
END_TEST

START_TEST(truncated_state_rejected)
{
    Dev a, b;
    dev_fill(&a);
    size_t len;
    uint8_t *data = save_to_mem(&vmstate_dev, &a, &len);
    for (size_t cut = 0; cut < len; cut += 3) {
        dev_fill(&b);
        MigStream *s = mig_stream_new_mem(data, cut);
        ck_assert_int_eq(vmstate_load_state(s, &vmstate_dev, &b, 2), -1);
        ck_assert_ptr_nonnull(mig_stream_error(s));
        mig_stream_close(s);
    }
    free(data);
}
END_TEST

START_TEST(post_load_refusal_and_pre_save_failure)
{
    Dev a, b;
    dev_fill(&a);
    a.u8 = 0xbb;
    dev_fill(&b);
    size_t len;
    uint8_t *data = save_to_mem(&vmstate_dev, &a, &len);
    MigStream *s = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_state(s, &vmstate_dev, &b, 2), -1);
    ck_assert_ptr_nonnull(strstr(mig_stream_error(s), "testdev"));
    mig_stream_close(s);
    free(data);

    /* A nested struct's post_load refuses too. */
    dev_fill(&a);
    a.many[2].a = 0xdead;
    data = save_to_mem(&vmstate_dev, &a, &len);
    s = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_state(s, &vmstate_dev, &b, 2), -1);
    mig_stream_close(s);
    free(data);

    dev_fill(&a);
    a.u8 = 0xee;
    s = mig_stream_new_mem_writer();
    vmstate_save_state(s, &vmstate_dev, &a);
    ck_assert_ptr_nonnull(mig_stream_error(s));
    mig_stream_close(s);
}
END_TEST

START_TEST(malformed_tables_refused)
{
    typedef struct { uint32_t x; uint8_t y[4]; } T;
    static const VMStateField bad_size[] = {
        { "x", offsetof(T, x), VMS_U16, 4, 1, NULL, 0 }, VMSTATE_END,
    };
    static const VMStateField bad_version[] = {
        { "x", offsetof(T, x), VMS_U32, 4, 1, NULL, 5 }, VMSTATE_END,
    };
    static const VMStateField no_sub[] = {
        { "y", offsetof(T, y), VMS_STRUCT, 4, 1, NULL, 0 }, VMSTATE_END,
    };
    static const VMStateDescription d1 = { .name = "bad1", .version = 1, .fields = bad_size };
    static const VMStateDescription d2 = { .name = "bad2", .version = 1, .fields = bad_version };
    static const VMStateDescription d3 = { .name = "bad3", .version = 1, .fields = no_sub };
    T t;
    ck_assert_int_eq(vmstate_register(&d1, 0, &t), -1);
    ck_assert_int_eq(vmstate_register(&d2, 0, &t), -1);
    ck_assert_int_eq(vmstate_register(&d3, 0, &t), -1);
    ck_assert_int_eq(vmstate_section_count(), 0);
}
END_TEST

START_TEST(duplicate_registration_refused)
{
    Dev a;
    dev_fill(&a);
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 4, &a), 0);
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 4, &a), -1);
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 5, &a), 0);
    ck_assert_int_eq(vmstate_section_count(), 2);
    vmstate_unregister(&vmstate_dev, &a);
    vmstate_unregister(&vmstate_dev, &a);
    ck_assert_int_eq(vmstate_section_count(), 0);
}
END_TEST

static uint8_t *save_all_to_mem(size_t *len)
{
    MigStream *s = mig_stream_new_mem_writer();
    vmstate_save_all(s);
    ck_assert_ptr_null(mig_stream_error(s));
    const uint8_t *p = mig_stream_mem_data(s, len);
    uint8_t *copy = xmalloc(*len + 1);
    memcpy(copy, p, *len);
    mig_stream_close(s);
    return copy;
}

START_TEST(sections_round_trip)
{
    Dev a0, a1;
    dev_fill(&a0);
    dev_fill(&a1);
    a1.u32 = 0x11112222;
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 0, &a0), 0);
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 1, &a1), 0);
    size_t len;
    uint8_t *data = save_all_to_mem(&len);
    a0.u32 = a1.u32 = 0;
    MigStream *s = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_all(s), 0);
    ck_assert_uint_eq(a0.u32, 0x789abcde);
    ck_assert_uint_eq(a1.u32, 0x11112222);
    mig_stream_close(s);
    free(data);
    vmstate_unregister(&vmstate_dev, &a0);
    vmstate_unregister(&vmstate_dev, &a1);
}
END_TEST

/* Offset of the length field of the first section: mark, name len, name,
 * instance, version. */
static size_t first_len_offset(void)
{
    return 2 + strlen("testdev") + 4 + 4;
}

START_TEST(section_length_mismatch_rejected)
{
    Dev a;
    dev_fill(&a);
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 0, &a), 0);
    size_t len;
    uint8_t *data = save_all_to_mem(&len);
    size_t lo = first_len_offset();
    uint32_t real = (uint32_t)data[lo] << 24 | data[lo + 1] << 16 | data[lo + 2] << 8 | data[lo + 3];
    /* One byte longer: the section leaves a byte over (the end marker is
     * swallowed); one shorter: the fields run out. */
    int deltas[] = { 1, -1, 1000000 };
    for (unsigned i = 0; i < ARRAY_SIZE(deltas); i++) {
        uint8_t *bad = xmalloc(len);
        memcpy(bad, data, len);
        uint32_t v = real + (uint32_t)deltas[i];
        bad[lo] = v >> 24, bad[lo + 1] = v >> 16, bad[lo + 2] = v >> 8, bad[lo + 3] = (uint8_t)v;
        MigStream *s = mig_stream_new_mem(bad, len);
        ck_assert_int_eq(vmstate_load_all(s), -1);
        ck_assert_ptr_nonnull(mig_stream_error(s));
        mig_stream_close(s);
        free(bad);
    }
    free(data);
    vmstate_unregister(&vmstate_dev, &a);
}
END_TEST

START_TEST(unknown_and_missing_sections_rejected)
{
    Dev a;
    dev_fill(&a);
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 7, &a), 0);
    size_t len;
    uint8_t *data = save_all_to_mem(&len);
    vmstate_unregister(&vmstate_dev, &a);

    /* The destination has instance 8 instead: unknown, named. */
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 8, &a), 0);
    MigStream *s = mig_stream_new_mem(data, len);
    ck_assert_int_eq(vmstate_load_all(s), -1);
    ck_assert_ptr_nonnull(strstr(mig_stream_error(s), "testdev"));
    ck_assert_ptr_nonnull(strstr(mig_stream_error(s), "unknown"));
    mig_stream_close(s);

    /* An empty stream (just the end marker): instance 8 is missing. */
    uint8_t end = 0x0e;
    s = mig_stream_new_mem(&end, 1);
    ck_assert_int_eq(vmstate_load_all(s), -1);
    ck_assert_ptr_nonnull(strstr(mig_stream_error(s), "missing"));
    mig_stream_close(s);
    vmstate_unregister(&vmstate_dev, &a);
    free(data);
}
END_TEST

START_TEST(garbage_sections_rejected)
{
    Dev a;
    dev_fill(&a);
    ck_assert_int_eq(vmstate_register(&vmstate_dev, 0, &a), 0);
    size_t len;
    uint8_t *data = save_all_to_mem(&len);
    /* Flip each byte in turn: every variant is either refused or loads;
     * none crashes (checked under ASan in the asan build). */
    unsigned refused = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t *bad = xmalloc(len);
        memcpy(bad, data, len);
        bad[i] ^= 0xff;
        MigStream *s = mig_stream_new_mem(bad, len);
        refused += vmstate_load_all(s) < 0;
        mig_stream_close(s);
        free(bad);
    }
    ck_assert_uint_gt(refused, 0);
    free(data);
    vmstate_unregister(&vmstate_dev, &a);
}
END_TEST

/* ---- the stream ---- */

START_TEST(stream_big_endian_and_crc_through_pipe)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    MigStream *w = mig_stream_new_fd(p[1], true);
    mig_put_u8(w, 0xab);
    mig_put_be16(w, 0x1234);
    mig_put_be32(w, 0xdeadbeef);
    mig_put_be64(w, 0x0102030405060708ULL);
    mig_put_buf(w, "xyz", 3);
    uint32_t wcrc = mig_stream_crc(w);
    ck_assert_int_eq(mig_stream_bytes(w), 18);
    ck_assert_int_eq(mig_stream_close(w), 0);

    static const uint8_t expect[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
                                      5, 6, 7, 8, 'x', 'y', 'z' };
    ck_assert_uint_eq(wcrc, (uint32_t)crc32(crc32(0, NULL, 0), expect, sizeof(expect)));

    MigStream *r = mig_stream_new_fd(p[0], false);
    ck_assert_int_eq(mig_get_u8(r), 0xab);
    ck_assert_int_eq(mig_get_be16(r), 0x1234);
    ck_assert_uint_eq(mig_get_be32(r), 0xdeadbeef);
    ck_assert(mig_get_be64(r) == 0x0102030405060708ULL);
    char buf[3];
    ck_assert_int_eq(mig_get_buf(r, buf, 3), 0);
    ck_assert_uint_eq(mig_stream_crc(r), wcrc);
    ck_assert_ptr_null(mig_stream_error(r));
    /* EOF: sticky error, zeros. */
    ck_assert_uint_eq(mig_get_be32(r), 0);
    ck_assert_ptr_nonnull(mig_stream_error(r));
    ck_assert_uint_eq(mig_get_u8(r), 0);
    ck_assert_int_eq(mig_stream_close(r), -1);
}
END_TEST

START_TEST(stream_large_transfer_crc)
{
    /* More than one buffer's worth through a file, CRC on both sides. */
    char path[] = "/tmp/vmm-test-stream-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    int rfd = dup(fd);
    MigStream *w = mig_stream_new_fd(fd, true);
    uint8_t chunk[1000];
    for (unsigned i = 0; i < 300; i++) {
        memset(chunk, (int)i, sizeof(chunk));
        mig_put_buf(w, chunk, sizeof(chunk));
        mig_put_be32(w, i);
    }
    uint32_t wcrc = mig_stream_crc(w);
    ck_assert_int_eq(mig_stream_close(w), 0);
    lseek(rfd, 0, SEEK_SET);
    MigStream *r = mig_stream_new_fd(rfd, false);
    for (unsigned i = 0; i < 300; i++) {
        ck_assert_int_eq(mig_get_buf(r, chunk, sizeof(chunk)), 0);
        ck_assert_int_eq(chunk[999], (uint8_t)i);
        ck_assert_uint_eq(mig_get_be32(r), i);
    }
    ck_assert_uint_eq(mig_stream_crc(r), wcrc);
    ck_assert_uint_eq(mig_stream_bytes(r), 300 * 1004);
    mig_stream_close(r);
}
END_TEST

START_TEST(stream_errors_are_sticky)
{
    MigStream *s = mig_stream_new_mem_writer();
    mig_put_be32(s, 1);
    ck_assert_int_eq(mig_stream_set_error(s, "first %d", 1), -1);
    mig_stream_set_error(s, "second");
    ck_assert_str_eq(mig_stream_error(s), "first 1");
    mig_put_be32(s, 2);   /* dropped */
    size_t len;
    mig_stream_mem_data(s, &len);
    ck_assert_int_eq(len, 4);
    ck_assert_int_eq(mig_stream_close(s), -1);

    /* Writing to a closed pipe fails with a reason, no SIGPIPE death. */
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    MigStream *w = mig_stream_new_fd(p[1], true);
    mig_put_buf(w, "x", 1);
    ck_assert_int_eq(mig_stream_flush(w), -1);
    ck_assert_ptr_nonnull(strstr(mig_stream_error(w), "write"));
    mig_stream_close(w);
}
END_TEST

START_TEST(stream_rate_limit)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    MigStream *w = mig_stream_new_fd(p[1], true);
    MigStream *r = mig_stream_new_fd(p[0], false);
    /* 1 MB/s: 64 KiB flushes into 100 KB windows; 4 flushes ~ 0.2 s+. */
    mig_stream_set_rate_limit(w, 1000000);
    int64_t t0 = clock_ns(CLOCK_REALTIME_NS);
    static uint8_t blk[65536];
    for (int i = 0; i < 4; i++) {
        mig_put_buf(w, blk, sizeof(blk));
        mig_stream_flush(w);
        ck_assert_int_eq(mig_get_buf(r, blk, sizeof(blk)), 0);
    }
    int64_t ms = (clock_ns(CLOCK_REALTIME_NS) - t0) / 1000000;
    ck_assert_int_ge(ms, 150);
    mig_stream_close(w);
    mig_stream_close(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmstate");
    UNIT_TEST(s, round_trip_every_type);
    UNIT_TEST(s, idle_timer_is_deleted_on_load);
    UNIT_TEST(s, version_added_field_absent_in_old_stream);
    UNIT_TEST(s, newer_version_refused);
    UNIT_TEST(s, truncated_state_rejected);
    UNIT_TEST(s, post_load_refusal_and_pre_save_failure);
    UNIT_TEST(s, malformed_tables_refused);
    UNIT_TEST(s, duplicate_registration_refused);
    UNIT_TEST(s, sections_round_trip);
    UNIT_TEST(s, section_length_mismatch_rejected);
    UNIT_TEST(s, unknown_and_missing_sections_rejected);
    UNIT_TEST(s, garbage_sections_rejected);
    UNIT_TEST(s, stream_big_endian_and_crc_through_pipe);
    UNIT_TEST(s, stream_large_transfer_crc);
    UNIT_TEST(s, stream_errors_are_sticky);
    UNIT_TEST(s, stream_rate_limit);
    return unit_run(s);
}
