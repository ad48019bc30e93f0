/*
 * qcow2 driver against qemu-img: images qemu-img makes read back the same
 * as `qemu-img convert -O raw`; images vmm writes pass `qemu-img check`
 * and compare identical to a raw file written the same way; crafted bad
 * images are refused without being written; a vmm killed mid-write keeps
 * everything it had flushed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../block/qcow2.h"
#include "block.h"
#include "unit.h"
#include "util.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/vmm-qcow2test-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

static char *tpath(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

/* Run a shell command (quiet); its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd, *full;
    ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
    va_end(ap);
    full = xasprintf("cd '%s' && (%s) >/dev/null 2>&1", tmpdir, cmd);
    int r = system(full);
    free(cmd);
    free(full);
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static bool have_qemu_img(void)
{
    return system("command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1") == 0;
}

#define NEED_QEMU_IMG()                                                        \
    do {                                                                       \
        if (!have_qemu_img()) {                                                \
            printf("ok - %s # SKIP qemu-img/qemu-io not installed\n", __func__); \
            return;                                                            \
        }                                                                      \
    } while (0)

static BlockBackend *open_drive(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static BlockBackend *open_drive(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s;
    ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    DriveOptions o;
    ck_assert_msg(blk_parse_drive(s, &o) == 0, "parse '%s'", s);
    BlockBackend *blk = blk_open(&o);
    blk_drive_options_free(&o);
    free(s);
    return blk;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *p = read_file(path, len);
    ck_assert_msg(p != NULL, "read %s", path);
    return p;
}

/* Read the whole drive through vmm and compare with want. */
static void compare_drive(BlockBackend *blk, const uint8_t *want, size_t len, const char *what)
{
    ck_assert_int_eq(blk_getlength(blk), (int64_t)len);
    size_t chunk = 192 * 1024;   /* not a cluster multiple: crosses boundaries */
    uint8_t *buf = xmalloc(chunk);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = MIN(chunk, len - off);
        ck_assert_int_eq(blk_pread(blk, off, buf, n), 0);
        if (memcmp(buf, want + off, n) != 0) {
            size_t i = 0;
            while (buf[i] == want[off + i])
                i++;
            ck_abort_msg("%s: differs at byte %zu", what, off + i);
        }
    }
    free(buf);
}

/* qcow2 image name -> read it in vmm and compare with qemu-img's raw. */
static void check_reads_like_qemu(const char *img, const char *extra)
{
    ck_assert_int_eq(sh("qemu-img convert -O raw %s expect.raw", img), 0);
    char *raw = tpath("expect.raw"), *path = tpath(img);
    size_t len;
    uint8_t *want = slurp(raw, &len);
    BlockBackend *blk = open_drive("file=%s,format=qcow2,if=none,readonly=on%s", path, extra);
    ck_assert_msg(blk != NULL, "open %s", img);
    compare_drive(blk, want, len, img);
    blk_close(blk);
    free(want);
    free(raw);
    free(path);
}

/* Some data, zeroes and holes with qemu-io, in an image of 8 MiB. */
static void fill_with_qemu_io(const char *img, const char *opts)
{
    ck_assert_int_eq(sh("qemu-img create -f qcow2 %s %s 8M", opts, img), 0);
    ck_assert_int_eq(sh("qemu-io -f qcow2 -c 'write -P 0x11 0 100k' -c 'write -P 0x22 1M 64k' "
                        "-c 'write -P 0x33 3000k 5k' -c 'write -P 0x44 8000k 192k' %s", img),
                     0);
}

START_TEST(read_v2_v3_and_widths)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    static const char *const variants[] = {
        "-o compat=0.10",
        "-o compat=1.1",
        "-o compat=1.1,lazy_refcounts=on",
        "-o refcount_bits=1",
        "-o refcount_bits=8",
        "-o refcount_bits=64",
        "-o cluster_size=4k",
        "-o cluster_size=2M",
        "-o cluster_size=512,refcount_bits=2",
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        fill_with_qemu_io("v.qcow2", variants[i]);
        check_reads_like_qemu("v.qcow2", "");
        check_reads_like_qemu("v.qcow2", ",cache=none");
    }
    remove_tmpdir();
}
END_TEST

START_TEST(read_zero_and_compressed)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    fill_with_qemu_io("base.qcow2", "");
    ck_assert_int_eq(sh("qemu-img create -f qcow2 -b base.qcow2 -F qcow2 z.qcow2"), 0);
    ck_assert_int_eq(sh("qemu-io -f qcow2 -c 'write -z 0 64k' -c 'write -z 1M 32k' "
                        "-c 'write -z -u 7M 1M' z.qcow2"), 0);
    check_reads_like_qemu("z.qcow2", "");
    /* Compressed, at 64k and 4k clusters */
    ck_assert_int_eq(sh("head -c 3000000 /dev/urandom > r.raw && "
                        "yes hello-compress | head -c 3000000 >> r.raw && "
                        "truncate -s 8M r.raw"), 0);
    ck_assert_int_eq(sh("qemu-img convert -c -O qcow2 r.raw c.qcow2"), 0);
    check_reads_like_qemu("c.qcow2", "");
    ck_assert_int_eq(sh("qemu-img convert -c -O qcow2 -o cluster_size=4k r.raw c4.qcow2"), 0);
    check_reads_like_qemu("c4.qcow2", "");
    remove_tmpdir();
}
END_TEST

START_TEST(read_backing_chain_of_three)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    ck_assert_int_eq(sh("truncate -s 6M base.raw && qemu-io -f raw -c 'write -P 1 0 6M' base.raw"),
                     0);
    ck_assert_int_eq(sh("qemu-img create -f qcow2 -b base.raw -F raw mid.qcow2 8M && "
                        "qemu-io -f qcow2 -c 'write -P 2 1M 1M' -c 'write -P 9 7M 4k' mid.qcow2"),
                     0);
    /* relative backing name, probed format (no -F) */
    ck_assert_int_eq(sh("qemu-img create -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 && "
                        "qemu-io -f qcow2 -c 'write -P 3 1536k 1M' -c 'write -z 0 4k' top.qcow2"),
                     0);
    check_reads_like_qemu("top.qcow2", "");
    remove_tmpdir();
}
END_TEST

/* ---- writing ---- */

static void write_both(BlockBackend *blk, int rawfd, uint64_t off, size_t len, uint8_t seed)
{
    uint8_t *buf = xmalloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 13 + (i >> 9));
    ck_assert_int_eq(blk_pwrite(blk, off, buf, len), 0);
    ck_assert_int_eq(pwrite(rawfd, buf, len, (off_t)off), (ssize_t)len);
    free(buf);
}

typedef struct { bool done; int ret; } Wait;

static void wait_cb(void *opaque, int ret)
{
    Wait *w = opaque;
    w->done = true;
    w->ret = ret;
}

static void zero_both(BlockBackend *blk, int rawfd, uint64_t off, size_t len)
{
    Wait w = { 0 };
    blk_aio_pwrite_zeroes(blk, off, len, BLK_ZERO_MAY_UNMAP, wait_cb, &w);
    while (!w.done)
        blk_drain(blk);
    ck_assert_int_eq(w.ret, 0);
    uint8_t *z = xzalloc(len);
    ck_assert_int_eq(pwrite(rawfd, z, len, (off_t)off), (ssize_t)len);
    free(z);
}

/* Writes that cover the interesting cases, the same on the raw twin. */
static void write_patterns(BlockBackend *blk, int rawfd)
{
    write_both(blk, rawfd, 0, 512, 1);                  /* partial first cluster */
    write_both(blk, rawfd, 65536 - 1024, 4096, 2);     /* across a boundary */
    write_both(blk, rawfd, 1 << 20, 300 * 1024, 3);    /* several whole clusters */
    write_both(blk, rawfd, (1 << 20) + 4096, 512, 4);  /* rewrite allocated */
    write_both(blk, rawfd, 5u << 20, 4096, 5);         /* over backing data */
    zero_both(blk, rawfd, 2u << 20, 256 * 1024);       /* zero whole clusters */
    zero_both(blk, rawfd, (1 << 20) + 1000, 3000);     /* zero inside allocated */
    write_both(blk, rawfd, (8u << 20) - 512, 512, 6);  /* last sector */
    ck_assert_int_eq(blk_flush(blk), 0);
}

static void check_clean_and_same(const char *img)
{
    ck_assert_msg(sh("qemu-img check -f qcow2 %s", img) == 0, "qemu-img check %s", img);
    ck_assert_msg(sh("qemu-img check -f qcow2 %s | grep -q 'No errors were found'", img) == 0,
                  "%s: leaks or errors", img);
    ck_assert_msg(sh("qemu-img compare -f qcow2 -F raw %s twin.raw", img) == 0,
                  "%s differs from the raw twin", img);
}

static void write_variant(const char *create_opts, bool backing, const char *extra)
{
    if (backing)
        ck_assert_int_eq(sh("truncate -s 8M b.raw && qemu-io -f raw -c 'write -P 0x5a 4M 4M' "
                            "b.raw && cp b.raw twin.raw && qemu-img create -f qcow2 %s -b b.raw "
                            "-F raw w.qcow2", create_opts), 0);
    else
        ck_assert_int_eq(sh("rm -f twin.raw && truncate -s 8M twin.raw && "
                            "qemu-img create -f qcow2 %s w.qcow2 8M", create_opts), 0);
    char *img = tpath("w.qcow2"), *twin = tpath("twin.raw");
    int rawfd = open(twin, O_WRONLY);
    ck_assert_int_ge(rawfd, 0);
    BlockBackend *blk = open_drive("file=%s,format=qcow2,if=none%s", img, extra);
    ck_assert_msg(blk != NULL, "open %s (%s)", img, create_opts);
    write_patterns(blk, rawfd);
    /* Read back through vmm too. */
    size_t len;
    close(rawfd);
    uint8_t *want = slurp(twin, &len);
    compare_drive(blk, want, len, create_opts);
    free(want);
    blk_close(blk);
    check_clean_and_same("w.qcow2");
    free(img);
    free(twin);
}

START_TEST(write_then_qemu_img_check)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    write_variant("-o compat=1.1", false, "");
    write_variant("-o compat=0.10", false, "");
    write_variant("-o compat=1.1", true, "");
    write_variant("-o compat=0.10", true, ",cache=none");
    write_variant("-o lazy_refcounts=on", true, "");
    write_variant("-o refcount_bits=1", false, "");
    write_variant("-o refcount_bits=64,cluster_size=4k", true, "");
    write_variant("-o cluster_size=2M", true, ",cache=none,aio=native");
    remove_tmpdir();
}
END_TEST

/* A tiny cluster size and 64-bit refcounts: a refcount block covers 32 KiB
 * and the one-cluster table 2 MiB, so 8 MiB of data makes the table grow. */
START_TEST(write_grows_refcount_table)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    write_variant("-o cluster_size=512,refcount_bits=1", false, "");
    ck_assert_int_eq(sh("rm -f twin.raw && truncate -s 8M twin.raw && "
                        "qemu-img create -f qcow2 -o cluster_size=512,refcount_bits=64 w.qcow2 8M"),
                     0);
    char *img = tpath("w.qcow2"), *twin = tpath("twin.raw");
    int rawfd = open(twin, O_WRONLY);
    BlockBackend *blk = open_drive("file=%s,format=qcow2,if=none", img);
    ck_assert_ptr_nonnull(blk);
    for (int i = 0; i < 16; i++)
        write_both(blk, rawfd, (uint64_t)i * 512 * 1024, 512 * 1024, (uint8_t)i);
    blk_close(blk);
    close(rawfd);
    check_clean_and_same("w.qcow2");
    size_t len;
    uint8_t *hdr = slurp(img, &len);
    ck_assert_msg(ldbe32(hdr + 56) > 1, "the refcount table did not grow");
    free(hdr);
    free(img);
    free(twin);
    remove_tmpdir();
}
END_TEST

START_TEST(write_over_internal_snapshot)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    ck_assert_int_eq(sh("truncate -s 8M twin.raw && qemu-img create -f qcow2 w.qcow2 8M && "
                        "qemu-io -f qcow2 -c 'write -P 7 0 8M' w.qcow2 && "
                        "qemu-io -f raw -c 'write -P 7 0 8M' twin.raw && "
                        "qemu-img snapshot -c snap1 w.qcow2"), 0);
    char *img = tpath("w.qcow2"), *twin = tpath("twin.raw");
    int rawfd = open(twin, O_WRONLY);
    BlockBackend *blk = open_drive("file=%s,format=qcow2,if=none", img);
    ck_assert_ptr_nonnull(blk);
    write_patterns(blk, rawfd);
    blk_close(blk);
    close(rawfd);
    check_clean_and_same("w.qcow2");
    /* The snapshot still has the old data. */
    ck_assert_int_eq(sh("qemu-img snapshot -a snap1 w.qcow2 && qemu-io -f qcow2 -c "
                        "'read -P 7 0 8M' w.qcow2 | grep -q 'read 8388608'"), 0);
    free(img);
    free(twin);
    remove_tmpdir();
}
END_TEST

static uint64_t incompat_bits(const char *img)
{
    char *p = tpath(img);
    size_t len;
    uint8_t *hdr = slurp(p, &len);
    uint64_t v = ldbe64(hdr + 72);
    free(hdr);
    free(p);
    return v;
}

/* Lazy refcounts: dirty while written, clean after close.  An image that
 * was dirty already stays dirty (its refcounts are not trusted). */
START_TEST(dirty_bit)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    ck_assert_int_eq(sh("qemu-img create -f qcow2 -o lazy_refcounts=on l.qcow2 8M"), 0);
    char *img = tpath("l.qcow2");
    BlockBackend *blk = open_drive("file=%s,format=qcow2,if=none", img);
    ck_assert_ptr_nonnull(blk);
    ck_assert_int_eq(incompat_bits("l.qcow2") & QCOW2_INCOMPAT_DIRTY, 0);
    uint8_t buf[4096] = { 1 };
    ck_assert_int_eq(blk_pwrite(blk, 0, buf, sizeof(buf)), 0);
    ck_assert_int_ne(incompat_bits("l.qcow2") & QCOW2_INCOMPAT_DIRTY, 0);
    blk_close(blk);
    ck_assert_int_eq(incompat_bits("l.qcow2") & QCOW2_INCOMPAT_DIRTY, 0);
    ck_assert_int_eq(sh("qemu-img check l.qcow2"), 0);
    /* Already dirty: still opens, writes only past the end, stays dirty. */
    uint8_t be[8];
    stbe64(be, QCOW2_INCOMPAT_DIRTY);
    int fd = open(img, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, be, 8, 72), 8);
    close(fd);
    blk = open_drive("file=%s,format=qcow2,if=none", img);
    ck_assert_ptr_nonnull(blk);
    ck_assert_int_eq(blk_pwrite(blk, 1 << 20, buf, sizeof(buf)), 0);
    blk_close(blk);
    ck_assert_int_ne(incompat_bits("l.qcow2") & QCOW2_INCOMPAT_DIRTY, 0);
    ck_assert_int_eq(sh("qemu-img check -r all l.qcow2 && qemu-img check l.qcow2"), 0);
    ck_assert_int_eq(sh("qemu-io -f qcow2 -c 'read -P 1 0 1' -c 'read -P 1 1M 1' l.qcow2 | "
                        "grep -c 'read 1/1' | grep -q 2"), 0);
    free(img);
    remove_tmpdir();
}
END_TEST

/* ---- bad images ---- */

static void patch(const char *img, uint64_t off, const void *bytes, size_t n)
{
    char *p = tpath(img);
    int fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
    free(p);
}

static void patch_be64(const char *img, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    stbe64(b, v);
    patch(img, off, b, 8);
}

static int saved_stderr = -1;

static void expect_refused(const char *img, const char *want_substr)
{
    char *p = tpath(img), *errp = tpath("err.txt");
    size_t len0, len1;
    uint8_t *before = slurp(p, &len0);
    int fd = open(errp, O_CREAT | O_TRUNC | O_RDWR, 0600);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
    BlockBackend *blk = open_drive("file=%s,format=qcow2,if=none", p);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    size_t elen;
    char *err = (char *)slurp(errp, &elen);
    err = realloc(err, elen + 1);
    err[elen] = 0;
    ck_assert_msg(blk == NULL, "%s opened", img);
    ck_assert_msg(strstr(err, want_substr) != NULL, "%s: got '%s', want '%s'", img, err,
                  want_substr);
    ck_assert_msg(strncmp(err, "vmm: -drive file=", 17) == 0 && strchr(err, '\n') ==
                  err + elen - 1, "%s: not one line: '%s'", img, err);
    uint8_t *after = slurp(p, &len1);
    ck_assert_msg(len0 == len1 && memcmp(before, after, len0) == 0, "%s was modified", img);
    free(before);
    free(after);
    free(err);
    free(p);
    free(errp);
}

START_TEST(bad_images_refused_unchanged)
{
    NEED_QEMU_IMG();
    make_tmpdir();
#define FRESH(name) ck_assert_int_eq(sh("qemu-img create -f qcow2 %s 8M && qemu-io -f qcow2 " \
                                        "-c 'write 0 64k' %s", name, name), 0)
    FRESH("l1.qcow2");
    patch_be64("l1.qcow2", 40, 1ull << 40);
    expect_refused("l1.qcow2", "L1 table");
    FRESH("l1e.qcow2");
    patch_be64("l1e.qcow2", 0x30000, (1ull << 40) | QCOW2_OFLAG_COPIED);
    expect_refused("l1e.qcow2", "L1 entry 0");
    FRESH("rt.qcow2");
    patch_be64("rt.qcow2", 48, 0);
    expect_refused("rt.qcow2", "overlaps");
    FRESH("size.qcow2");
    patch_be64("size.qcow2", 24, 1ull << 62);
    expect_refused("size.qcow2", "too large");
    /* As qemu-img: a refcount table offset that is not cluster aligned,
     * a size the L1 table cannot cover, a size no L1 table can. */
    FRESH("rtal.qcow2");
    patch_be64("rtal.qcow2", 48, 12345);
    expect_refused("rtal.qcow2", "refcount table at 0x3039");
    FRESH("l1small.qcow2");
    patch_be64("l1small.qcow2", 24, 1ull << 40);
    expect_refused("l1small.qcow2", "too small for size");
    FRESH("big.qcow2");
    patch_be64("big.qcow2", 24, (1ull << 61) - 512);
    expect_refused("big.qcow2", "too large");
    FRESH("inc.qcow2");
    patch_be64("inc.qcow2", 72, 1ull << 20);
    expect_refused("inc.qcow2", "qcow2 feature 'incompatible bit 20' is not supported");
    FRESH("ext.qcow2");
    patch_be64("ext.qcow2", 72, QCOW2_INCOMPAT_EXTL2);
    expect_refused("ext.qcow2", "qcow2 feature 'extended L2 entries' is not supported");
    FRESH("cb.qcow2");
    uint8_t cb[4] = { 0, 0, 0, 30 };
    patch("cb.qcow2", 20, cb, 4);
    expect_refused("cb.qcow2", "cluster size");
    FRESH("corrupt.qcow2");
    patch_be64("corrupt.qcow2", 72, QCOW2_INCOMPAT_CORRUPT);
    expect_refused("corrupt.qcow2", "corrupt");
    /* a.qcow2 -> b.qcow2 -> a.qcow2 */
    ck_assert_int_eq(sh("qemu-img create -f qcow2 b.qcow2 8M && "
                        "qemu-img create -f qcow2 -b b.qcow2 -F qcow2 a.qcow2 && "
                        "qemu-img rebase -u -b a.qcow2 -F qcow2 b.qcow2"), 0);
    expect_refused("a.qcow2", "loops");
    ck_assert_int_eq(sh("qemu-img create -f qcow2 self.qcow2 8M && "
                        "qemu-img rebase -u -b self.qcow2 -F qcow2 self.qcow2"), 0);
    expect_refused("self.qcow2", "loops");
    remove_tmpdir();
}
END_TEST

/* Refusing an unsupported compression type names it. */
START_TEST(zstd_compression_refused)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    if (sh("qemu-img create -f qcow2 -o compression_type=zstd z.qcow2 1M") != 0) {
        remove_tmpdir();
        return;   /* qemu-img built without zstd */
    }
    expect_refused("z.qcow2", "qcow2 feature 'compression type 1' is not supported");
    remove_tmpdir();
}
END_TEST

/* ---- crash safety ---- */

static void fill(uint8_t *buf, size_t len, uint8_t v)
{
    memset(buf, v, len);
}

static void crash_child(const char *img, int wfd)
{
    BlockBackend *blk = open_drive("file=%s,format=qcow2,if=none", img);
    if (!blk)
        _exit(2);
    static uint8_t buf[192 * 1024];
    /* Flushed data: 4 MiB of 0xa5 (with allocations all over). */
    fill(buf, sizeof(buf), 0xa5);
    for (uint64_t off = 0; off < (4u << 20); off += sizeof(buf))
        if (blk_pwrite(blk, off, buf, MIN(sizeof(buf), (4u << 20) - off)) < 0)
            _exit(3);
    if (blk_flush(blk) < 0)
        _exit(4);
    if (write(wfd, "x", 1) != 1)
        _exit(5);
    /* Then write (allocating) forever until killed. */
    for (uint64_t i = 0;; i++) {
        fill(buf, sizeof(buf), (uint8_t)i);
        uint64_t off = (4u << 20) + (i * 77 * 1024) % (60u << 20);
        blk_pwrite(blk, off, buf, 4096 + (i % 5) * 40000);
    }
}

START_TEST(sigkill_keeps_flushed_data)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    ck_assert_int_eq(sh("qemu-img create -f qcow2 -o cluster_size=4k k.qcow2 64M"), 0);
    char *img = tpath("k.qcow2");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        crash_child(img, p[1]);
    }
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    usleep(300 * 1000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFSIGNALED(st));
    int r = sh("qemu-img check -r all k.qcow2");
    ck_assert_msg(r == 0, "qemu-img check -r all: %d", r);
    ck_assert_int_eq(sh("qemu-img check k.qcow2"), 0);
    ck_assert_int_eq(sh("qemu-io -f qcow2 -c 'read -P 0xa5 0 4M' k.qcow2 | "
                        "grep -q 'read 4194304'"), 0);
    free(img);
    remove_tmpdir();
}
END_TEST

/* ---- snapshot=on ---- */

START_TEST(snapshot_on_leaves_image_alone)
{
    NEED_QEMU_IMG();
    make_tmpdir();
    setenv("TMPDIR", tmpdir, 1);
    ck_assert_int_eq(sh("truncate -s 4M s.raw && qemu-io -f raw -c 'write -P 3 0 4M' s.raw && "
                        "qemu-img convert -O qcow2 s.raw s.qcow2"), 0);
    static const char *const imgs[] = { "s.raw,format=raw", "s.qcow2", "s.qcow2,format=qcow2" };
    for (size_t i = 0; i < 3; i++) {
        char *p = tpath(imgs[i]);
        size_t l0, l1;
        char *file = tpath(i == 0 ? "s.raw" : "s.qcow2");
        uint8_t *before = slurp(file, &l0);
        BlockBackend *blk = open_drive("file=%s,if=none,snapshot=on", p);
        ck_assert_msg(blk != NULL, "snapshot=on %s", imgs[i]);
        ck_assert_int_eq(blk_getlength(blk), 4 << 20);
        uint8_t buf[8192];
        fill(buf, sizeof(buf), 0x77);
        ck_assert_int_eq(blk_pwrite(blk, 1000, buf, sizeof(buf)), 0);
        memset(buf, 0, sizeof(buf));
        ck_assert_int_eq(blk_pread(blk, 0, buf, sizeof(buf)), 0);
        ck_assert_int_eq(buf[999], 3);
        ck_assert_int_eq(buf[1000], 0x77);
        blk_close(blk);
        uint8_t *after = slurp(file, &l1);
        ck_assert(l0 == l1 && memcmp(before, after, l0) == 0);
        free(before);
        free(after);
        free(file);
        free(p);
    }
    /* No overlay left behind. */
    ck_assert_int_ne(sh("ls vl.* "), 0);
    unsetenv("TMPDIR");
    remove_tmpdir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qcow2");
    UNIT_TEST(s, read_v2_v3_and_widths);
    UNIT_TEST(s, read_zero_and_compressed);
    UNIT_TEST(s, read_backing_chain_of_three);
    UNIT_TEST(s, write_then_qemu_img_check);
    UNIT_TEST(s, write_grows_refcount_table);
    UNIT_TEST(s, write_over_internal_snapshot);
    UNIT_TEST(s, dirty_bit);
    UNIT_TEST(s, bad_images_refused_unchanged);
    UNIT_TEST(s, zstd_compression_refused);
    UNIT_TEST(s, sigkill_keeps_flushed_data);
    UNIT_TEST(s, snapshot_on_leaves_image_alone);
    return unit_run(s);
}
