/*
 * Unit tests for block/: -drive parsing, open errors, image locking
 * (vmm against vmm, qemu-img and qemu-io), asynchronous I/O through the
 * thread pool and libaio, O_DIRECT bouncing, flush, discard, write zeroes
 * and the error cases.  Images live in a temporary directory under
 * $TMPDIR (default /tmp, ext4 here: O_DIRECT and hole punching work).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../block/block_int.h"
#include "block.h"
#include "unit.h"
#include "util.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof(tmpdir), "%s/vmm-blktest-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

/* A file of size bytes where byte i is (i * 7 + seed) & 0xff. */
static char *make_image(const char *name, size_t size, int seed)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    uint8_t *buf = xmalloc(size);
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t)(i * 7 + seed);
    ck_assert_int_eq(write_full(fd, buf, size), (ssize_t)size);
    free(buf);
    close(fd);
    return path;
}

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

/* ---- capturing error_report's line ---- */

static int saved_stderr = -1;
static char capture_path[300];

static void capture_begin(void)
{
    snprintf(capture_path, sizeof(capture_path), "/tmp/vmm-block-err-%d", getpid());
    int fd = open(capture_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert_int_ge(fd, 0);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *capture_end(void)
{
    dup2(saved_stderr, 2);
    close(saved_stderr);
    size_t len;
    char *text = (char *)read_file(capture_path, &len);
    unlink(capture_path);
    ck_assert_ptr_nonnull(text);
    char *line = xmalloc(len + 1);
    memcpy(line, text, len);
    line[len] = '\0';
    free(text);
    return line;
}

static void expect_parse_error(const char *opts, const char *want)
{
    DriveOptions o;
    capture_begin();
    int r = blk_parse_drive(opts, &o);
    char *got = capture_end();
    ck_assert_msg(r < 0, "'%s' accepted", opts);
    ck_assert_msg(strcmp(got, want) == 0, "'%s': got \"%s\", want \"%s\"", opts, got, want);
    free(got);
}

static void expect_open_error(const char *opts, const char *want)
{
    DriveOptions o;
    ck_assert_msg(blk_parse_drive(opts, &o) == 0, "parse '%s'", opts);
    capture_begin();
    BlockBackend *blk = blk_open(&o);
    char *got = capture_end();
    blk_drive_options_free(&o);
    ck_assert_msg(blk == NULL, "'%s' opened", opts);
    ck_assert_msg(strcmp(got, want) == 0, "'%s': got \"%s\", want \"%s\"", opts, got, want);
    free(got);
}

/* ---- parsing ---- */

START_TEST(parse_good)
{
    DriveOptions o;
    ck_assert_int_eq(blk_parse_drive("file=a.img,format=raw,if=virtio,cache=none,aio=native,"
                                     "readonly=on,serial=S1,discard=unmap,index=3", &o), 0);
    ck_assert_str_eq(o.file, "a.img");
    ck_assert_str_eq(o.format, "raw");
    ck_assert_str_eq(o.serial, "S1");
    ck_assert_str_eq(o.id, "virtio3");
    ck_assert_int_eq(o.interface, BLK_IF_VIRTIO);
    ck_assert_int_eq(o.cache, BLK_CACHE_NONE);
    ck_assert_int_eq(o.aio, BLK_AIO_NATIVE);
    ck_assert(o.readonly && o.discard_unmap && !o.snapshot);
    ck_assert_int_eq(o.index, 3);
    blk_drive_options_free(&o);

    /* Defaults: if=ide, writeback, threads, discard ignored, no index. */
    ck_assert_int_eq(blk_parse_drive("file=x,,y.img", &o), 0);
    ck_assert_str_eq(o.file, "x,y.img");
    ck_assert_ptr_null(o.format);
    ck_assert_ptr_null(o.id);
    ck_assert_int_eq(o.interface, BLK_IF_IDE);
    ck_assert_int_eq(o.cache, BLK_CACHE_WRITEBACK);
    ck_assert_int_eq(o.aio, BLK_AIO_THREADS);
    ck_assert_int_eq(o.index, -1);
    ck_assert(!o.readonly && !o.discard_unmap);
    blk_drive_options_free(&o);

    ck_assert_int_eq(blk_parse_drive("file=c.iso,media=cdrom,index=2", &o), 0);
    ck_assert_str_eq(o.id, "ide1-cd0");
    ck_assert(o.readonly);
    blk_drive_options_free(&o);
    ck_assert_int_eq(blk_parse_drive("media=cdrom,if=ide,index=1,id=cd", &o), 0);
    ck_assert_ptr_null(o.file);
    ck_assert_str_eq(o.id, "cd");
    blk_drive_options_free(&o);
    ck_assert_int_eq(blk_parse_drive("file=d,index=1", &o), 0);
    ck_assert_str_eq(o.id, "ide0-hd1");
    blk_drive_options_free(&o);
    ck_assert_int_eq(blk_parse_drive("file=d,format=qcow2,snapshot=on,cache=directsync,"
                                     "aio=native,discard=ignore,if=none,id=n0", &o), 0);
    ck_assert(o.snapshot);
    ck_assert_int_eq(o.cache, BLK_CACHE_DIRECTSYNC);
    blk_drive_options_free(&o);
    const char *modes[] = { "writeback", "none", "writethrough", "directsync", "unsafe" };
    for (int i = 0; i < 5; i++) {
        char *s = xasprintf("file=d,cache=%s", modes[i]);
        ck_assert_int_eq(blk_parse_drive(s, &o), 0);
        ck_assert_str_eq(blk_cache_mode_name(o.cache), modes[i]);
        blk_drive_options_free(&o);
        free(s);
    }
    char *id = blk_drive_default_id(BLK_IF_IDE, BLK_MEDIA_CDROM, 3);
    ck_assert_str_eq(id, "ide1-cd1");
    free(id);
}
END_TEST

START_TEST(parse_bad)
{
    expect_parse_error("file=a,bogus=1", "vmm: -drive file=a,bogus=1: unknown parameter 'bogus'\n");
    expect_parse_error("file=a,if=scsi", "vmm: -drive file=a,if=scsi: unsupported bus type 'scsi'\n");
    expect_parse_error("file=a,cache=fast", "vmm: -drive file=a,cache=fast: invalid cache option 'fast'\n");
    expect_parse_error("file=a,aio=io_uring",
                       "vmm: -drive file=a,aio=io_uring: invalid aio option 'io_uring'\n");
    expect_parse_error("file=a,aio=native",
                       "vmm: -drive file=a,aio=native: aio=native was specified, but it requires "
                       "cache.direct=on (cache=none or directsync)\n");
    expect_parse_error("file=a,cache=writeback,aio=native",
                       "vmm: -drive file=a,cache=writeback,aio=native: aio=native was specified, "
                       "but it requires cache.direct=on (cache=none or directsync)\n");
    expect_parse_error("file=a,readonly=maybe",
                       "vmm: -drive file=a,readonly=maybe: Parameter 'readonly' expects 'on' or 'off'\n");
    expect_parse_error("file=a,media=tape", "vmm: -drive file=a,media=tape: invalid media 'tape'\n");
    expect_parse_error("file=a,format=vmdk", "vmm: -drive file=a,format=vmdk: Unknown driver 'vmdk'\n");
    expect_parse_error("file=a,discard=yes",
                       "vmm: -drive file=a,discard=yes: invalid discard option 'yes'\n");
    expect_parse_error("file=a,index=x", "vmm: -drive file=a,index=x: invalid index 'x'\n");
    expect_parse_error("file=a,id=1abc",
                       "vmm: -drive file=a,id=1abc: Parameter 'id' expects an identifier\n");
    expect_parse_error("if=virtio",
                       "vmm: -drive if=virtio: A disk needs a file (file=); only media=cdrom may be empty\n");
    expect_parse_error("file=a,werror=stop",
                       "vmm: -drive file=a,werror=stop: werror action is not supported yet: 'stop'\n");
}
END_TEST

/* ---- open errors ---- */

START_TEST(open_errors)
{
    make_tmpdir();
    char *s = xasprintf("file=%s/missing.img,format=raw", tmpdir);
    char *want = xasprintf("vmm: Could not open '%s/missing.img': No such file or directory\n",
                           tmpdir);
    expect_open_error(s, want);
    free(s);
    free(want);
    s = xasprintf("file=%s,format=raw", tmpdir);
    want = xasprintf("vmm: '%s' is a directory\n", tmpdir);
    expect_open_error(s, want);
    free(s);
    free(want);
    char *img = make_image("q.img", 4096, 0);
    s = xasprintf("file=%s,format=qcow2", img);
    want = xasprintf("vmm: -drive file=%s: Image is not in qcow2 format\n", img);
    expect_open_error(s, want);
    free(s);
    free(want);
    free(img);
    remove_tmpdir();
}
END_TEST

/* As root, DAC is overridden: drop that capability in this (forked) test. */
static void drop_dac_override(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    ck_assert_int_eq(syscall(SYS_capget, &hdr, data), 0);
    data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) |
                           (1u << CAP_FOWNER));
    ck_assert_int_eq(syscall(SYS_capset, &hdr, data), 0);
}

START_TEST(open_readonly_file)
{
    make_tmpdir();
    char *img = make_image("ro.img", 4096, 0);
    ck_assert_int_eq(chmod(img, 0444), 0);
    drop_dac_override();
    char *s = xasprintf("file=%s,format=raw", img);
    char *want = xasprintf("vmm: '%s' is read-only; use readonly=on\n", img);
    expect_open_error(s, want);
    free(s);
    free(want);
    BlockBackend *blk = open_drive("file=%s,format=raw,readonly=on", img);
    ck_assert_ptr_nonnull(blk);
    ck_assert(blk_is_read_only(blk));
    blk_close(blk);
    ck_assert_int_eq(chmod(img, 0), 0);
    s = xasprintf("file=%s,format=raw,readonly=on", img);
    want = xasprintf("vmm: Could not open '%s': Permission denied\n", img);
    expect_open_error(s, want);
    free(s);
    free(want);
    free(img);
    remove_tmpdir();
}
END_TEST

/* ---- locking ---- */

/* In a child: try to open img with extra options; exit 0 if it opened,
 * 1 if it failed with a lock conflict, 2 otherwise. */
static int child_open(const char *img, const char *extra)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        capture_begin();
        BlockBackend *blk = open_drive("file=%s,format=raw%s", img, extra);
        char *err = capture_end();
        _exit(blk ? 0 : strstr(err, "Failed to get") ? 1 : 2);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

START_TEST(lock_vmm_vs_vmm)
{
    make_tmpdir();
    char *img = make_image("lock.img", 65536, 0);
    BlockBackend *rw = open_drive("file=%s,format=raw", img);
    ck_assert_ptr_nonnull(rw);
    ck_assert_int_eq(child_open(img, ""), 1);
    ck_assert_int_eq(child_open(img, ",readonly=on"), 1);
    blk_close(rw);
    ck_assert_int_eq(child_open(img, ""), 0);

    BlockBackend *ro = open_drive("file=%s,format=raw,readonly=on", img);
    ck_assert_ptr_nonnull(ro);
    ck_assert_int_eq(child_open(img, ",readonly=on"), 0);
    ck_assert_int_eq(child_open(img, ",cache=none"), 1);
    blk_close(ro);

    /* The message names the permission and the image. */
    rw = open_drive("file=%s,format=raw", img);
    pid_t pid = fork();
    if (pid == 0) {
        capture_begin();
        BlockBackend *b = open_drive("file=%s,format=raw", img);
        char *err = capture_end();
        char *want = xasprintf("vmm: Failed to get \"write\" lock: is another process using "
                               "the image [%s]?\n", img);
        _exit(!b && strcmp(err, want) == 0 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wrong lock message");
    blk_close(rw);
    free(img);
    remove_tmpdir();
}
END_TEST

static bool have_program(const char *name)
{
    char *cmd = xasprintf("command -v %s >/dev/null 2>&1", name);
    int r = system(cmd);
    free(cmd);
    return r == 0;
}

START_TEST(lock_vs_qemu)
{
    if (!have_program("qemu-img") || !have_program("qemu-io")) {
        return;   /* qemu-utils is a test dependency (Makefile TEST_DEPS) */
    }
    make_tmpdir();
    char *img = make_image("q.img", 65536, 0);
    BlockBackend *rw = open_drive("file=%s,format=raw", img);
    ck_assert_ptr_nonnull(rw);
    /* As against a running QEMU with a raw drive: qemu-img info (no I/O)
     * still works, anything that writes fails with QEMU's lock error. */
    char *cmd = xasprintf("qemu-img info -f raw '%s' >/dev/null 2>&1", img);
    ck_assert_msg(system(cmd) == 0, "qemu-img info failed");
    free(cmd);
    cmd = xasprintf("qemu-img resize -f raw '%s' 2M 2>&1 | grep -q 'Failed to get \"write\" lock'"
                    " && ! qemu-img resize -f raw '%s' 2M >/dev/null 2>&1", img, img);
    ck_assert_msg(system(cmd) == 0, "qemu-img resize did not fail with a lock error");
    free(cmd);
    cmd = xasprintf("qemu-io -f raw -c 'write 0 512' '%s' 2>&1 | grep -q 'Failed to get \"write\" lock'",
                    img);
    ck_assert_msg(system(cmd) == 0, "qemu-io wrote to an image vmm holds");
    free(cmd);
    blk_close(rw);

    /* qemu-io holds the image read-write for 3 s: vmm must refuse it. */
    pid_t qemu = fork();
    ck_assert_int_ge(qemu, 0);
    if (qemu == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("qemu-io", "qemu-io", "-f", "raw", "-c", "sleep 3000", img, (char *)NULL);
        _exit(127);
    }
    int r = 0;
    for (int i = 0; i < 40 && r != 1; i++) {
        usleep(50000);
        r = child_open(img, "");
    }
    int ro = child_open(img, ",readonly=on");
    kill(qemu, SIGTERM);
    waitpid(qemu, NULL, 0);
    ck_assert_msg(ro == 1, "vmm opened read-only an image qemu-io holds read-write (%d)", ro);
    ck_assert_msg(r == 1, "vmm opened an image qemu-io holds (%d)", r);
    free(img);
    remove_tmpdir();
}
END_TEST

/* ---- asynchronous I/O ---- */

typedef struct {
    int completed;
    int last_ret;
    int errors;
} Counter;

static void count_cb(void *opaque, int ret)
{
    Counter *c = opaque;
    c->completed++;
    c->last_ret = ret;
    if (ret < 0)
        c->errors++;
}

static void check_file_bytes(const char *path, uint64_t off, const uint8_t *want, size_t len)
{
    uint8_t *got = xmalloc(len);
    int fd = open(path, O_RDONLY);
    ck_assert_int_eq(pread(fd, got, len, (off_t)off), (ssize_t)len);
    close(fd);
    ck_assert_msg(memcmp(got, want, len) == 0, "file contents differ at %llu",
                  (unsigned long long)off);
    free(got);
}

/* Write two buffers as one vector, read them back, compare with the file. */
static void rw_roundtrip(const char *extra, bool expect_native)
{
    make_tmpdir();
    char *img = make_image("rw.img", 1 * MiB, 3);
    BlockBackend *blk = open_drive("file=%s,format=raw%s", img, extra);
    ck_assert_ptr_nonnull(blk);
    ck_assert_int_eq(blk_getlength(blk), 1 * MiB);
    uint64_t native_before = native_aio_submitted();
    uint8_t *a, *b;
    ck_assert_int_eq(posix_memalign((void **)&a, 4096, 8192), 0);
    ck_assert_int_eq(posix_memalign((void **)&b, 4096, 4096), 0);
    memset(a, 0xa5, 8192);
    memset(b, 0x5a, 4096);
    struct iovec iov[2] = { { a, 8192 }, { b, 4096 } };
    Counter c = { 0 };
    blk_aio_pwritev(blk, 65536, iov, 2, count_cb, &c);
    ck_assert_int_eq(c.completed, 0);   /* never inside the submitting call */
    ck_assert_int_eq(blk_in_flight(blk), 1);
    blk_drain(blk);
    ck_assert_int_eq(c.completed, 1);
    ck_assert_int_eq(c.last_ret, 0);
    ck_assert_int_eq(blk_in_flight(blk), 0);
    check_file_bytes(img, 65536, a, 8192);
    check_file_bytes(img, 65536 + 8192, b, 4096);

    memset(a, 0, 8192);
    struct iovec rd = { a, 4096 };
    blk_aio_preadv(blk, 0, &rd, 1, count_cb, &c);
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, 0);
    check_file_bytes(img, 0, a, 4096);
    ck_assert_msg((native_aio_submitted() > native_before) == expect_native,
                  "libaio used: %d, expected %d", native_aio_submitted() > native_before,
                  expect_native);
    BlockStats st;
    blk_get_stats(blk, &st);
    ck_assert_int_eq(st.wr_ops, 1);
    ck_assert_int_eq(st.wr_bytes, 12288);
    ck_assert_int_eq(st.rd_ops, 1);
    ck_assert_int_eq(st.rd_bytes, 4096);
    blk_close(blk);
    free(a);
    free(b);
    free(img);
    remove_tmpdir();
}

START_TEST(rw_threads)
{
    rw_roundtrip("", false);
}
END_TEST

START_TEST(rw_threads_direct)
{
    rw_roundtrip(",cache=none", false);
}
END_TEST

START_TEST(rw_native)
{
    rw_roundtrip(",cache=none,aio=native", true);
}
END_TEST

START_TEST(rw_writethrough_directsync)
{
    rw_roundtrip(",cache=writethrough", false);
    rw_roundtrip(",cache=directsync,aio=native", true);
    rw_roundtrip(",cache=unsafe", false);
}
END_TEST

/* 64 requests in flight, completed by the main loop itself. */
typedef struct {
    int completed, errors, target;
} LoopCounter;

static void loop_cb(void *opaque, int ret)
{
    LoopCounter *c = opaque;
    ck_assert(bql_locked());
    if (ret < 0)
        c->errors++;
    if (++c->completed == c->target)
        main_loop_quit(0);
}

static void many_in_flight(const char *extra)
{
    ck_assert_int_eq(main_loop_init(), 0);
    make_tmpdir();
    char *img = make_image("many.img", 4 * MiB, 1);
    BlockBackend *blk = open_drive("file=%s,format=raw%s", img, extra);
    ck_assert_ptr_nonnull(blk);
    enum { N = 64, SZ = 16384 };
    uint8_t *buf;
    ck_assert_int_eq(posix_memalign((void **)&buf, 4096, N * SZ), 0);
    struct iovec iov[N];
    LoopCounter c = { 0, 0, N };
    for (int i = 0; i < N; i++) {
        memset(buf + i * SZ, i + 1, SZ);
        iov[i] = (struct iovec){ buf + i * SZ, SZ };
        blk_aio_pwritev(blk, (uint64_t)i * 2 * SZ, &iov[i], 1, loop_cb, &c);
    }
    ck_assert_int_eq(blk_in_flight(blk), N);
    ck_assert_int_eq(main_loop_run(), 0);
    ck_assert_int_eq(c.errors, 0);
    for (int i = 0; i < N; i++)
        check_file_bytes(img, (uint64_t)i * 2 * SZ, buf + i * SZ, SZ);
    /* And read them all back at once, into a cleared buffer; the main
     * loop stays quit (its flag is not reset), so a drain reaps them. */
    memset(buf, 0, N * SZ);
    c = (LoopCounter){ 0, 0, N };
    for (int i = 0; i < N; i++)
        blk_aio_preadv(blk, (uint64_t)i * 2 * SZ, &iov[i], 1, loop_cb, &c);
    ck_assert_int_eq(blk_in_flight(blk), N);
    blk_drain(blk);
    ck_assert_int_eq(c.completed, N);
    ck_assert_int_eq(c.errors, 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(buf[i * SZ + SZ - 1], i + 1);
    blk_close(blk);
    free(buf);
    free(img);
    remove_tmpdir();
}

START_TEST(inflight_64_threads)
{
    many_in_flight("");
}
END_TEST

START_TEST(inflight_64_native)
{
    many_in_flight(",cache=none,aio=native");
}
END_TEST

/* Misaligned buffers and offsets on O_DIRECT files are bounced. */
static void misaligned(const char *extra)
{
    make_tmpdir();
    char *img = make_image("mis.img", 256 * 1024, 9);
    BlockBackend *blk = open_drive("file=%s,format=raw%s", img, extra);
    ck_assert_ptr_nonnull(blk);
    uint8_t *raw = xmalloc(20000);
    uint8_t *odd = raw + 1;   /* not even 2-byte aligned */
    for (int i = 0; i < 9000; i++)
        odd[i] = (uint8_t)(i ^ 0x3c);
    struct iovec iov[2] = { { odd, 512 }, { odd + 512, 4096 } };
    Counter c = { 0 };
    blk_aio_pwritev(blk, 8192, iov, 2, count_cb, &c);
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, 0);
    check_file_bytes(img, 8192, odd, 4608);
    /* Byte-granular synchronous I/O (read-modify-write of both ends). */
    ck_assert_int_eq(blk_pwrite(blk, 1000, odd, 3000), 0);
    check_file_bytes(img, 1000, odd, 3000);
    ck_assert_int_eq(blk_pwrite(blk, 100, odd, 10), 0);
    check_file_bytes(img, 100, odd, 10);
    memset(raw, 0, 20000);
    ck_assert_int_eq(blk_pread(blk, 8192, odd + 5, 4608), 0);
    uint8_t *want = xmalloc(4608);
    for (int i = 0; i < 4608; i++)
        want[i] = (uint8_t)(i ^ 0x3c);
    ck_assert(memcmp(odd + 5, want, 4608) == 0);
    blk_close(blk);
    free(want);
    free(raw);
    free(img);
    remove_tmpdir();
}

START_TEST(misaligned_direct)
{
    misaligned(",cache=none");
}
END_TEST

START_TEST(misaligned_native)
{
    misaligned(",cache=none,aio=native");
}
END_TEST

/* The last, partial sector of an image reads with zeroes after the end. */
START_TEST(partial_last_sector)
{
    make_tmpdir();
    char *img = make_image("odd.img", 1000, 4);
    const char *modes[] = { "", ",cache=none", ",cache=none,aio=native" };
    for (int m = 0; m < 3; m++) {
        BlockBackend *blk = open_drive("file=%s,format=raw%s", img, modes[m]);
        ck_assert_ptr_nonnull(blk);
        ck_assert_int_eq(blk_getlength(blk), 1024);
        uint8_t *buf;
        ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 4096), 0);
        memset(buf, 0xff, 512);
        ck_assert_int_eq(blk_pread(blk, 512, buf, 512), 0);
        for (int i = 0; i < 488; i++)
            ck_assert_int_eq(buf[i], (uint8_t)((512 + i) * 7 + 4));
        for (int i = 488; i < 512; i++)
            ck_assert_msg(buf[i] == 0, "mode %d: byte %d not zero", m, i);
        free(buf);
        blk_close(blk);
    }
    free(img);
    remove_tmpdir();
}
END_TEST

START_TEST(flush_and_errors)
{
    make_tmpdir();
    char *img = make_image("e.img", 65536, 0);
    BlockBackend *blk = open_drive("file=%s,format=raw,id=d0", img);
    ck_assert_ptr_nonnull(blk);
    ck_assert(blk_enable_write_cache(blk));
    Counter c = { 0 };
    blk_aio_flush(blk, count_cb, &c);
    ck_assert_int_eq(c.completed, 0);
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, 0);
    ck_assert_int_eq(blk_flush(blk), 0);
    uint8_t buf[512];
    struct iovec iov = { buf, 512 };
    blk_aio_preadv(blk, 65536, &iov, 1, count_cb, &c);
    ck_assert_int_eq(c.completed, 1);   /* even an error completes later */
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, -EIO);
    blk_aio_preadv(blk, UINT64_MAX - 100, &iov, 1, count_cb, &c);
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, -EIO);
    ck_assert_int_eq(blk_pread(blk, 65536 - 256, buf, 512), -EIO);
    BlockStats st;
    blk_get_stats(blk, &st);
    ck_assert_int_eq(st.flush_ops, 2);
    ck_assert_int_eq(st.rd_ops, 0);
    /* Registry and device attachment. */
    ck_assert_ptr_eq(blk_by_id("d0"), blk);
    ck_assert_ptr_eq(blk_next(NULL), blk);
    ck_assert_ptr_null(blk_next(blk));
    ck_assert_int_eq(blk_attach_dev(blk, "virtio-blk0"), 0);
    capture_begin();
    int r = blk_attach_dev(blk, "ide-hd0");
    char *err = capture_end();
    ck_assert_int_eq(r, -1);
    ck_assert_str_eq(err, "vmm: Drive 'd0' is already in use by device 'virtio-blk0'\n");
    free(err);
    ck_assert_str_eq(blk_attached_dev(blk), "virtio-blk0");
    ck_assert_str_eq(blk_format_name(blk), "raw");
    /* A duplicate id is refused. */
    char *s = xasprintf("file=%s,format=raw,id=d0,readonly=on", img);
    char *want = xasprintf("vmm: -drive file=%s: Duplicate ID 'd0' for drive\n", img);
    expect_open_error(s, want);
    free(s);
    free(want);
    blk_close(blk);
    ck_assert_ptr_null(blk_by_id("d0"));

    blk = open_drive("file=%s,format=raw,readonly=on,cache=writethrough", img);
    ck_assert(!blk_enable_write_cache(blk));
    blk_aio_pwritev(blk, 0, &iov, 1, count_cb, &c);
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, -EROFS);
    blk_aio_pwrite_zeroes(blk, 0, 512, 0, count_cb, &c);
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, -EROFS);
    ck_assert_int_eq(blk_pwrite(blk, 0, buf, 512), -EROFS);
    ck_assert_int_eq(blk_pread(blk, 0, buf, 512), 0);
    blk_close(blk);

    /* An empty CD-ROM drive. */
    DriveOptions o;
    ck_assert_int_eq(blk_parse_drive("media=cdrom,id=cd0", &o), 0);
    blk = blk_open(&o);
    blk_drive_options_free(&o);
    ck_assert_ptr_nonnull(blk);
    ck_assert(!blk_is_inserted(blk));
    ck_assert_int_eq(blk_getlength(blk), -ENOMEDIUM);
    ck_assert_int_eq(blk_pread(blk, 0, buf, 512), -ENOMEDIUM);
    blk_close_all();
    ck_assert_ptr_null(blk_next(NULL));
    free(img);
    remove_tmpdir();
}
END_TEST

static blkcnt_t blocks_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_blocks;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i])
            return false;
    }
    return true;
}

START_TEST(discard_and_zeroes)
{
    make_tmpdir();
    char *img = make_image("d.img", 1 * MiB, 5);
    /* discard=ignore (the default): a successful no-op. */
    BlockBackend *blk = open_drive("file=%s,format=raw", img);
    ck_assert(!blk_can_discard(blk));
    blkcnt_t full = blocks_of(img);
    Counter c = { 0 };
    blk_aio_pdiscard(blk, 0, 512 * 1024, count_cb, &c);
    ck_assert_int_eq(c.completed, 0);
    blk_drain(blk);
    ck_assert_int_eq(c.last_ret, 0);
    ck_assert_int_eq(blocks_of(img), full);
    blk_close(blk);

    const char *modes[] = { ",discard=unmap", ",discard=unmap,cache=none,aio=native" };
    for (int m = 0; m < 2; m++) {
        blk = open_drive("file=%s,format=raw%s", img, modes[m]);
        ck_assert(blk_can_discard(blk));
        blk_aio_pdiscard(blk, 0, 512 * 1024, count_cb, &c);
        blk_drain(blk);
        ck_assert_int_eq(c.last_ret, 0);
        ck_assert_msg(blocks_of(img) < full, "no hole punched (%ld >= %ld)",
                      (long)blocks_of(img), (long)full);
        uint8_t *buf;
        ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 65536), 0);
        ck_assert_int_eq(blk_pread(blk, 0, buf, 65536), 0);
        ck_assert(all_zero(buf, 65536));

        /* Write zeroes without unmap keeps the blocks allocated. */
        memset(buf, 0x77, 65536);
        ck_assert_int_eq(blk_pwrite(blk, 600 * 1024, buf, 65536), 0);
        blkcnt_t before = blocks_of(img);
        blk_aio_pwrite_zeroes(blk, 600 * 1024, 65536, 0, count_cb, &c);
        blk_drain(blk);
        ck_assert_int_eq(c.last_ret, 0);
        ck_assert_int_eq(blk_pread(blk, 600 * 1024, buf, 65536), 0);
        ck_assert(all_zero(buf, 65536));
        ck_assert_int_ge(blocks_of(img), before - 8);
        /* With MAY_UNMAP it punches. */
        memset(buf, 0x77, 65536);
        ck_assert_int_eq(blk_pwrite(blk, 800 * 1024, buf, 65536), 0);
        ck_assert_int_eq(blk_flush(blk), 0);
        before = blocks_of(img);
        blk_aio_pwrite_zeroes(blk, 800 * 1024, 65536, BLK_ZERO_MAY_UNMAP, count_cb, &c);
        blk_drain(blk);
        ck_assert_int_eq(c.last_ret, 0);
        ck_assert_int_lt(blocks_of(img), before);
        ck_assert_int_eq(blk_pread(blk, 800 * 1024, buf, 65536), 0);
        ck_assert(all_zero(buf, 65536));
        BlockStats st;
        blk_get_stats(blk, &st);
        ck_assert_int_eq(st.discard_ops, 1);
        free(buf);
        blk_close(blk);
        free(img);
        img = make_image("d.img", 1 * MiB, 5);
    }
    free(img);
    remove_tmpdir();
}
END_TEST

/* A callback may submit again; drain runs until nothing is in flight. */
typedef struct {
    BlockBackend *blk;
    struct iovec iov;
    int remaining;
} Chain;

static void chain_cb(void *opaque, int ret)
{
    Chain *ch = opaque;
    ck_assert_int_eq(ret, 0);
    if (--ch->remaining > 0)
        blk_aio_preadv(ch->blk, (uint64_t)ch->remaining * 512, &ch->iov, 1, chain_cb, ch);
}

START_TEST(drain_chained)
{
    make_tmpdir();
    char *img = make_image("c.img", 65536, 0);
    BlockBackend *blk = open_drive("file=%s,format=raw", img);
    uint8_t buf[512];
    Chain ch = { blk, { buf, 512 }, 20 };
    blk_aio_preadv(blk, 0, &ch.iov, 1, chain_cb, &ch);
    blk_drain_all();
    ck_assert_int_eq(ch.remaining, 0);
    ck_assert_int_eq(blk_in_flight(blk), 0);
    blk_close(blk);
    free(img);
    remove_tmpdir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("block");
    UNIT_TEST(s, parse_good);
    UNIT_TEST(s, parse_bad);
    UNIT_TEST(s, open_errors);
    UNIT_TEST(s, open_readonly_file);
    UNIT_TEST(s, lock_vmm_vs_vmm);
    UNIT_TEST(s, lock_vs_qemu);
    UNIT_TEST(s, rw_threads);
    UNIT_TEST(s, rw_threads_direct);
    UNIT_TEST(s, rw_native);
    UNIT_TEST(s, rw_writethrough_directsync);
    UNIT_TEST(s, inflight_64_threads);
    UNIT_TEST(s, inflight_64_native);
    UNIT_TEST(s, misaligned_direct);
    UNIT_TEST(s, misaligned_native);
    UNIT_TEST(s, partial_last_sector);
    UNIT_TEST(s, flush_and_errors);
    UNIT_TEST(s, discard_and_zeroes);
    UNIT_TEST(s, drain_chained);
    return unit_run(s);
}
