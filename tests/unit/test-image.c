/*
 * Image tool subsystem (include/image.h, block/create.c, qcow2-check.c,
 * qcow2-snapshot.c, qcow2-compress.c, image-info.c) checked against
 * qemu-img and qemu-io: images we create pass `qemu-img check`, our check
 * finds what qemu-img finds, our repairs leave images qemu-img finds clean.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "util.h"
#include "unit.h"

static char dir[] = "/tmp/vmm-test-image-XXXXXX";

static char *path(const char *name)
{
    static char buf[4][512];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static bool have_qemu_img(void)
{
    return system("qemu-img --version >/dev/null 2>&1") == 0 &&
           system("qemu-io --version >/dev/null 2>&1") == 0;
}

/* Run a shell command in the test directory; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    int n = snprintf(cmd, sizeof(cmd), "cd %s && ", dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static bool output_has(const char *needle, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool output_has(const char *needle, const char *fmt, ...)
{
    char cmd[2048], line[4096];
    int n = snprintf(cmd, sizeof(cmd), "cd %s && ", dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    bool found = false;
    while (f && fgets(line, sizeof(line), f))
        found |= strstr(line, needle) != NULL;
    if (f)
        pclose(f);
    return found;
}

#define SKIP_WITHOUT_QEMU()                                                  \
    do {                                                                     \
        if (!have_qemu_img()) {                                              \
            printf("ok - %s # SKIP qemu-img not installed\n", __func__);    \
            return;                                                          \
        }                                                                    \
    } while (0)

static void create_ok(const char *name, ImageCreateOptions o)
{
    char err[256];
    ck_assert_msg(blk_image_create(path(name), &o, err, sizeof(err)) == 0, "%s", err);
}

static void qemu_check_clean(const char *name)
{
    ck_assert_msg(sh("qemu-img check -q %s", name) == 0, "qemu-img check %s not clean", name);
}

START_TEST(create_raw)
{
    SKIP_WITHOUT_QEMU();
    create_ok("r.raw", (ImageCreateOptions){ .format = "raw", .size = 1000 });
    ck_assert(output_has("\"virtual-size\": 1024", "qemu-img info --output=json r.raw"));
    create_ok("f.raw", (ImageCreateOptions){ .format = "raw", .size = MiB,
                                            .preallocation = "full" });
    ck_assert(output_has("\"actual-size\": 1048576", "qemu-img info --output=json f.raw"));
    char err[256];
    ImageCreateOptions bad = { .format = "raw", .size = MiB, .preallocation = "metadata" };
    ck_assert_int_eq(blk_image_create(path("m.raw"), &bad, err, sizeof(err)), -1);
    ck_assert(strstr(err, "Unsupported preallocation mode: metadata"));
}
END_TEST

START_TEST(create_qcow2_options)
{
    SKIP_WITHOUT_QEMU();
    create_ok("a.qcow2", (ImageCreateOptions){ .format = "qcow2", .size = 10 * GiB });
    qemu_check_clean("a.qcow2");
    ck_assert(output_has("\"compat\": \"1.1\"", "qemu-img info --output=json a.qcow2"));
    ck_assert(output_has("\"virtual-size\": 10737418240", "qemu-img info --output=json a.qcow2"));
    create_ok("b.qcow2", (ImageCreateOptions){ .format = "qcow2", .size = 3 * MiB, .compat = 2 });
    qemu_check_clean("b.qcow2");
    ck_assert(output_has("\"compat\": \"0.10\"", "qemu-img info --output=json b.qcow2"));
    create_ok("c.qcow2", (ImageCreateOptions){ .format = "qcow2", .size = 300 * MiB,
                                              .cluster_size = 512, .refcount_bits = 1,
                                              .lazy_refcounts = true,
                                              .preallocation = "metadata" });
    qemu_check_clean("c.qcow2");
    ck_assert(output_has("\"cluster-size\": 512", "qemu-img info --output=json c.qcow2"));
    ck_assert(output_has("\"refcount-bits\": 1", "qemu-img info --output=json c.qcow2"));
    ck_assert(output_has("\"lazy-refcounts\": true", "qemu-img info --output=json c.qcow2"));
    create_ok("d.qcow2", (ImageCreateOptions){ .format = "qcow2", .size = 5 * MiB,
                                              .refcount_bits = 64, .preallocation = "full" });
    qemu_check_clean("d.qcow2");
    create_ok("e.qcow2", (ImageCreateOptions){ .format = "qcow2", .size = 5 * MiB,
                                              .cluster_size = 2 * MiB, .preallocation = "falloc" });
    qemu_check_clean("e.qcow2");
    char err[256];
    ImageCreateOptions bad = { .format = "qcow2", .size = MiB, .compat = 2, .lazy_refcounts = true };
    ck_assert_int_eq(blk_image_create(path("x.qcow2"), &bad, err, sizeof(err)), -1);
    ck_assert(strstr(err, "Lazy refcounts only supported"));
}
END_TEST

START_TEST(create_backing)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f raw base.raw 7M"), 0);
    create_ok("ov.qcow2", (ImageCreateOptions){ .format = "qcow2", .backing_file = "base.raw",
                                               .backing_fmt = "raw" });
    qemu_check_clean("ov.qcow2");
    ck_assert(output_has("\"backing-filename-format\": \"raw\"", "qemu-img info --output=json ov.qcow2"));
    ck_assert(output_has("\"virtual-size\": 7340032", "qemu-img info --output=json ov.qcow2"));
    ImageInfo info;
    char err[256];
    ck_assert_int_eq(image_info(path("ov.qcow2"), NULL, &info, err, sizeof(err)), 0);
    ck_assert_str_eq(info.backing_file, "base.raw");
    ck_assert_str_eq(info.backing_fmt, "raw");
    ck_assert_uint_eq(info.virtual_size, 7 * MiB);
    ck_assert_int_eq(info.compat, 3);
    image_info_free(&info);
}
END_TEST

static ImageCheckResult check(const char *name, int repair)
{
    ImageCheckResult res;
    char err[256];
    ck_assert_msg(image_check(path(name), NULL, repair, NULL, &res, err, sizeof(err)) == 0,
                  "%s", err);
    return res;
}

/* Leaks: a snapshot's clusters, orphaned by zeroing the snapshot count. */
START_TEST(check_leaks)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f qcow2 l.qcow2 4M && "
                        "qemu-io -c 'write -P 7 0 1M' l.qcow2 >/dev/null && "
                        "qemu-img snapshot -c s1 l.qcow2 && "
                        "printf '\\0\\0\\0\\0' | dd of=l.qcow2 bs=1 seek=60 conv=notrunc 2>/dev/null"),
                     0);
    ImageCheckResult r = check("l.qcow2", 0);
    ck_assert_int_gt(r.leaks, 0);
    ck_assert_int_eq(r.corruptions, 0);
    char want[64];
    snprintf(want, sizeof(want), "%d leaked clusters were found", r.leaks);
    ck_assert_msg(output_has(want, "qemu-img check l.qcow2 2>&1"), "qemu-img disagrees: %s", want);
    ck_assert_int_eq(sh("qemu-img convert -O raw l.qcow2 before.raw"), 0);
    r = check("l.qcow2", IMAGE_REPAIR_LEAKS);
    ck_assert_int_gt(r.leaks_fixed, 0);
    ck_assert_int_eq(r.leaks, 0);
    r = check("l.qcow2", 0);
    ck_assert_int_eq(r.leaks + r.corruptions, 0);
    qemu_check_clean("l.qcow2");
    ck_assert_int_eq(sh("qemu-img compare -q -f raw before.raw l.qcow2"), 0);
}
END_TEST

/* A refcount set to 0 under a data cluster: corruption; -r all fixes. */
START_TEST(check_corruption_repair_all)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f qcow2 c.qcow2 4M && "
                        "qemu-io -c 'write -P 9 0 512k' c.qcow2 >/dev/null && "
                        "qemu-img convert -O raw c.qcow2 before.raw"), 0);
    /* Refcount block at 0x20000, 16-bit entries: cluster 5 (first data
     * cluster after header, rt, rb, L1, L2) gets refcount 0. */
    ck_assert_int_eq(sh("printf '\\0\\0' | dd of=c.qcow2 bs=1 seek=%d conv=notrunc 2>/dev/null",
                        0x20000 + 5 * 2), 0);
    ck_assert_int_eq(sh("qemu-img check -q c.qcow2 >/dev/null 2>&1"), 2);
    /* The refcount and the COPIED flag of the entry pointing there: 2, as
     * qemu-img counts them. */
    ImageCheckResult r = check("c.qcow2", 0);
    ck_assert_int_eq(r.corruptions, 2);
    ck_assert(output_has("2 errors were found on the image", "qemu-img check c.qcow2 2>&1"));
    r = check("c.qcow2", IMAGE_REPAIR_ALL);
    ck_assert_int_ge(r.corruptions_fixed, 1);
    ck_assert_int_eq(r.corruptions, 0);
    r = check("c.qcow2", 0);
    ck_assert_int_eq(r.corruptions + r.leaks, 0);
    qemu_check_clean("c.qcow2");
    ck_assert_int_eq(sh("qemu-img compare -q -f raw before.raw c.qcow2"), 0);
}
END_TEST

START_TEST(check_clean_stats)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f qcow2 s.qcow2 1M && qemu-io -c 'write -P 1 0 64k' "
                        "-c 'write -c -P 2 256k 64k' s.qcow2 >/dev/null"), 0);
    ImageCheckResult r = check("s.qcow2", 0);
    ck_assert_int_eq(r.corruptions + r.leaks + r.check_errors, 0);
    ck_assert_uint_eq(r.total_clusters, 16);
    ck_assert_uint_eq(r.allocated_clusters, 2);
    ck_assert_uint_eq(r.compressed_clusters, 1);
    char want[64];
    snprintf(want, sizeof(want), "\"image-end-offset\": %llu,", (unsigned long long)r.image_end_offset);
    ck_assert_msg(output_has(want, "qemu-img check --output=json s.qcow2"), "%s", want);
}
END_TEST

START_TEST(snapshot_list)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f qcow2 sn.qcow2 2M && "
                        "qemu-img snapshot -c s1 sn.qcow2 && qemu-img snapshot -c second sn.qcow2"), 0);
    ImageSnapshot *s;
    int n;
    char err[256];
    ck_assert_int_eq(image_snapshot_list(path("sn.qcow2"), &s, &n, err, sizeof(err)), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(s[0].id, "1");
    ck_assert_str_eq(s[0].name, "s1");
    ck_assert_str_eq(s[1].name, "second");
    ck_assert_uint_eq(s[0].vm_state_size, 0);
    ck_assert_uint_eq(s[0].disk_size, 2 * MiB);
    char want[64];
    snprintf(want, sizeof(want), "\"date-sec\": %u,", s[1].date_sec);
    ck_assert_msg(output_has(want, "qemu-img info --output=json sn.qcow2"), "%s", want);
    snprintf(want, sizeof(want), "\"date-nsec\": %u,", s[1].date_nsec);
    ck_assert_msg(output_has(want, "qemu-img info --output=json sn.qcow2"), "%s", want);
    image_snapshots_free(s, n);
    ImageCheckResult r = check("sn.qcow2", 0);
    ck_assert_int_eq(r.corruptions + r.leaks, 0);
}
END_TEST

START_TEST(compressed_writer)
{
    SKIP_WITHOUT_QEMU();
    /* Source: compressible text, random data, zeroes, a partial cluster. */
    ck_assert_int_eq(sh("qemu-img create -q -f raw src.raw 1000000 && "
                        "qemu-io -f raw -c 'write -P 65 0 200k' src.raw >/dev/null && "
                        "dd if=/dev/urandom of=src.raw bs=64k seek=5 count=3 conv=notrunc "
                        "2>/dev/null"), 0);
    FILE *f = fopen(path("src.raw"), "rb");
    ck_assert_ptr_nonnull(f);
    char err[256];
    ImageCreateOptions o = { .format = "qcow2", .size = 1000000 };
    ImageCompressWriter *w = image_compress_open(path("out.qcow2"), &o, err, sizeof(err));
    ck_assert_msg(w, "%s", err);
    uint32_t cs = image_compress_cluster_size(w);
    uint8_t *buf = malloc(cs);
    for (uint64_t i = 0;; i++) {
        memset(buf, 0, cs);
        size_t got = fread(buf, 1, cs, f);
        if (!got)
            break;
        ck_assert_int_eq(image_compress_write(w, i, buf), 0);
    }
    fclose(f);
    free(buf);
    ck_assert_msg(image_compress_finish(w, err, sizeof(err)) == 0, "%s", err);
    qemu_check_clean("out.qcow2");
    ck_assert_int_eq(sh("qemu-img compare -q -f raw -F qcow2 src.raw out.qcow2"), 0);
    ck_assert(output_has("\"compressed-clusters\": 4", "qemu-img check --output=json out.qcow2"));
    ImageCheckResult r = check("out.qcow2", 0);
    ck_assert_int_eq(r.corruptions + r.leaks, 0);
}
END_TEST

/* Every extent of our map of name is a line of qemu-img's JSON map, and
 * there are as many. */
static void map_like_qemu(const char *name)
{
    ImageMap m;
    char err[256];
    ck_assert_msg(image_map(path(name), NULL, &m, err, sizeof(err)) == 0, "%s", err);
    char line[256];
    for (size_t i = 0; i < m.count; i++) {
        ImageMapExtent *e = &m.ext[i];
        int n = snprintf(line, sizeof(line), "{ \"start\": %llu, \"length\": %llu, \"depth\": %d, "
                         "\"present\": %s, \"zero\": %s, \"data\": %s",
                         (unsigned long long)e->start, (unsigned long long)e->length, e->depth,
                         e->present ? "true" : "false", e->zero ? "true" : "false",
                         e->data ? "true" : "false");
        if (e->has_offset)
            snprintf(line + n, sizeof(line) - (size_t)n, ", \"offset\": %llu}",
                     (unsigned long long)e->offset);
        ck_assert_msg(output_has(line, "qemu-img map --output=json %s", name),
                      "not in qemu's map of %s: %s", name, line);
    }
    ck_assert_int_eq(sh("test $(qemu-img map --output=json %s | wc -l) -eq %zu", name, m.count), 0);
    image_map_free(&m);
}

START_TEST(map_matches_qemu)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f raw mb.raw 128k && "
                        "qemu-io -f raw -c 'write -P 3 0 64k' mb.raw >/dev/null && "
                        "qemu-img create -q -f qcow2 -b mb.raw -F raw mt.qcow2 1M && "
                        "qemu-io -c 'write -P 4 64k 64k' -c 'write -z 192k 64k' "
                        "mt.qcow2 >/dev/null"), 0);
    map_like_qemu("mt.qcow2");
}
END_TEST

/* A sparse raw file: its holes read as zeroes and hold no data, as the
 * file's SEEK_HOLE says (qemu-img map follows them too). */
START_TEST(map_raw_holes)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f raw sp.raw 4M && "
                        "qemu-io -f raw -c 'write -P 5 0 64k' -c 'write -P 6 1M 128k' "
                        "sp.raw >/dev/null"), 0);
    map_like_qemu("sp.raw");
    ImageMap m;
    char err[256];
    ck_assert_msg(image_map(path("sp.raw"), "raw", &m, err, sizeof(err)) == 0, "%s", err);
    bool hole = false;
    for (size_t i = 0; i < m.count; i++)
        hole |= m.ext[i].zero && !m.ext[i].data;
    image_map_free(&m);
    if (!hole)
        printf("# %s: the filesystem keeps no holes: only compared with qemu-img\n", __func__);
}
END_TEST

/* Entry 1 of the first L2 table of name (a fresh 4M image with 64k
 * clusters: header, refcount table, refcount block, L1, then L2 at
 * 0x40000) gets value v. */
static void set_l2_entry1(const char *name, unsigned long long v)
{
    ck_assert_int_eq(sh("python3 -c \"import struct; f = open('%s', 'r+b'); f.seek(0x40008); "
                        "f.write(struct.pack('>Q', %#llx))\"", name, v), 0);
}

/* An unaligned data cluster offset: qemu-img counts the entry and the
 * refcount its cluster-sized range now doubles (2 corruptions), and still
 * counts the cluster as allocated; nothing leaks. */
START_TEST(check_unaligned_l2_entry)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f qcow2 u.qcow2 4M && "
                        "qemu-io -c 'write -P 1 0 128k' u.qcow2 >/dev/null"), 0);
    ck_assert_int_eq(sh("cp u.qcow2 z.qcow2"), 0);
    set_l2_entry1("u.qcow2", 0x8000000000050200ull);
    ImageCheckResult r = check("u.qcow2", 0);
    ck_assert_int_eq(r.corruptions, 2);
    ck_assert_int_eq(r.leaks, 0);
    ck_assert_uint_eq(r.allocated_clusters, 2);
    ck_assert(output_has("2 errors were found on the image", "qemu-img check u.qcow2 2>&1"));
    /* The same offset with the zero flag (a preallocated zero cluster):
     * -r all drops the allocation, which leaks the old cluster (fixed). */
    set_l2_entry1("z.qcow2", 0x8000000000050201ull);
    r = check("z.qcow2", 0);
    ck_assert_int_eq(r.corruptions, 2);
    r = check("z.qcow2", IMAGE_REPAIR_ALL);
    ck_assert_int_eq(r.corruptions + r.leaks, 0);
    ck_assert_int_eq(r.corruptions_fixed, 1);
    ck_assert_int_eq(r.leaks_fixed, 1);
    qemu_check_clean("z.qcow2");
}
END_TEST

/* Header fields pointing at impossible tables are refused by info, map
 * and check alike, with qemu-img's reason. */
static void expect_bad_header(const char *name, const char *want)
{
    char err[256];
    ImageInfo info;
    ImageMap m;
    ImageCheckResult r;
    ck_assert_int_eq(image_info(path(name), NULL, &info, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, want), "%s: info said '%s', want '%s'", name, err, want);
    ck_assert_int_eq(image_map(path(name), NULL, &m, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, want), "%s: map said '%s', want '%s'", name, err, want);
    ck_assert_int_eq(image_check(path(name), NULL, 0, NULL, &r, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, want), "%s: check said '%s', want '%s'", name, err, want);
    ck_assert_msg(output_has(want, "qemu-img info %s 2>&1", name), "qemu-img: not '%s'", want);
}

static void patched(const char *name, int off, const char *fmt, unsigned long long v)
{
    ck_assert_int_eq(sh("cp good.qcow2 %s && python3 -c \"import struct; f = open('%s', 'r+b'); "
                        "f.seek(%d); f.write(struct.pack('%s', %llu))\"", name, name, off, fmt, v),
                     0);
}

START_TEST(info_refuses_bad_tables)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f qcow2 good.qcow2 64M"), 0);
    patched("huge.qcow2", 24, ">Q", 1ull << 62);
    expect_bad_header("huge.qcow2", "Image is too big");
    patched("small.qcow2", 24, ">Q", 1ull << 55);
    expect_bad_header("small.qcow2", "L1 table is too small");
    patched("rt.qcow2", 48, ">Q", 12345);
    expect_bad_header("rt.qcow2", "Reference count table offset invalid");
    patched("rtbig.qcow2", 56, ">I", 1u << 30);
    expect_bad_header("rtbig.qcow2", "Reference count table too large");
    patched("nort.qcow2", 56, ">I", 0);
    expect_bad_header("nort.qcow2", "Image does not contain a reference count table");
    patched("snap.qcow2", 64, ">Q", 12345);
    expect_bad_header("snap.qcow2", "Snapshot table offset invalid");
    patched("l1.qcow2", 40, ">Q", 12345);
    expect_bad_header("l1.qcow2", "Active L1 table offset invalid");
}
END_TEST

/* With 1-bit refcounts one refcount block describes 8 * cluster_size
 * clusters: checking must not walk every cluster the refcount table could
 * describe (8192 blocks of 512k entries here), only the file's. */
START_TEST(check_refcount_bits_1_fast)
{
    SKIP_WITHOUT_QEMU();
    ck_assert_int_eq(sh("qemu-img create -q -f qcow2 -o refcount_bits=1 rc1.qcow2 1G && "
                        "qemu-io -c 'write -P 1 0 1M' rc1.qcow2 >/dev/null"), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ImageCheckResult r = check("rc1.qcow2", 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(r.corruptions + r.leaks + r.check_errors, 0);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(secs < 1.0, "check took %.2f s", secs);
    /* A stored refcount for a cluster past the end of the file (the last
     * one block 0 describes) is not a leak to qemu-img: nothing compares
     * it. */
    ck_assert_int_eq(sh("python3 -c \"import struct; f = open('rc1.qcow2', 'r+b'); "
                        "f.seek(48); rt = struct.unpack('>Q', f.read(8))[0]; f.seek(rt); "
                        "rb = struct.unpack('>Q', f.read(8))[0]; f.seek(rb + 65535); "
                        "f.write(bytes([0x80]))\""), 0);
    r = check("rc1.qcow2", 0);
    ck_assert_int_eq(r.corruptions + r.leaks, 0);
    qemu_check_clean("rc1.qcow2");
    /* One for an unused cluster inside the file is a leak. */
    ck_assert_int_eq(sh("truncate -s +64k rc1.qcow2 && python3 -c \"import os, struct; "
                        "f = open('rc1.qcow2', 'r+b'); last = os.path.getsize('rc1.qcow2') "
                        "// 65536 - 1; f.seek(48); rt = struct.unpack('>Q', f.read(8))[0]; "
                        "f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]; "
                        "f.seek(rb + last // 8); b = f.read(1)[0]; f.seek(rb + last // 8); "
                        "f.write(bytes([b | 1 << last %% 8]))\""), 0);
    r = check("rc1.qcow2", 0);
    ck_assert_int_eq(r.leaks, 1);
    ck_assert(output_has("1 leaked clusters were found", "qemu-img check rc1.qcow2 2>&1"));
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("image");
    UNIT_TEST(s, create_raw);
    UNIT_TEST(s, create_qcow2_options);
    UNIT_TEST(s, create_backing);
    UNIT_TEST(s, check_leaks);
    UNIT_TEST(s, check_corruption_repair_all);
    UNIT_TEST(s, check_clean_stats);
    UNIT_TEST(s, snapshot_list);
    UNIT_TEST(s, compressed_writer);
    UNIT_TEST(s, map_matches_qemu);
    UNIT_TEST(s, map_raw_holes);
    UNIT_TEST(s, check_unaligned_l2_entry);
    UNIT_TEST(s, info_refuses_bad_tables);
    UNIT_TEST(s, check_refcount_bits_1_fast);
    int rc = unit_run(s);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
