/*
 * virtio-blk (virtio 1.2, 5.2) driven from a qtest "guest": config space,
 * reads and writes checked against the image file from the host side,
 * flush, GET_ID, discard and write-zeroes, many requests in flight,
 * indirect descriptors, I/O errors, read-only drives, image locking, and
 * hostile descriptor chains (the device must go to NEEDS_RESET and keep
 * answering after a reset).
 */
#include "libqos.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT 4
#define IMG_SIZE (4u << 20)
#define SECTORS (IMG_SIZE / 512)
#define SERIAL "vmmdisk42"

static const uint64_t WANTED = QVIRTIO_BIT(QVIRTIO_F_VERSION_1) |
                               QVIRTIO_BIT(QVIRTIO_F_INDIRECT_DESC) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_SEG_MAX) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_BLK_SIZE) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_FLUSH) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_RO) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_DISCARD) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_WRITE_ZEROES);

/* Does buf hold the image's original pattern for [off, off+len)? */
static bool is_pattern(const uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != qos_pattern_byte(off + i))
            return false;
    return true;
}

static bool is_fill(const uint8_t *buf, uint8_t v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != v)
            return false;
    return true;
}

static bool host_pread(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    bool ok = fd >= 0 && pread(fd, buf, len, off) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    return ok;
}

static long long host_blocks(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_blocks : -1;
}

static void test_config(const QTarget *t, QVirtioDev *d)
{
    uint64_t cap = qvirtio_config_readq(d, QVBLK_CFG_CAPACITY);
    uint32_t seg_max = qvirtio_config_readl(d, QVBLK_CFG_SEG_MAX);
    uint32_t blk_size = qvirtio_config_readl(d, QVBLK_CFG_BLK_SIZE);
    uint64_t f = d->features;

    CHECK(t, cap == SECTORS, "virtio-blk capacity", "capacity %llu, want %u",
          (unsigned long long)cap, SECTORS);
    /* QEMU: seg_max = queue size - 2 (room for header and status). */
    CHECK(t, (f & QVIRTIO_BIT(QVIRTIO_BLK_F_SEG_MAX)) && seg_max == 254, "virtio-blk seg_max",
          "feature %d seg_max %u", !!(f & QVIRTIO_BIT(QVIRTIO_BLK_F_SEG_MAX)), seg_max);
    CHECK(t, (f & QVIRTIO_BIT(QVIRTIO_BLK_F_BLK_SIZE)) && blk_size == 512, "virtio-blk blk_size",
          "feature %d blk_size %u", !!(f & QVIRTIO_BIT(QVIRTIO_BLK_F_BLK_SIZE)), blk_size);
    CHECK(t, !(f & QVIRTIO_BIT(QVIRTIO_BLK_F_RO)), "virtio-blk rw drive has no RO feature",
          "features %#llx", (unsigned long long)f);
}

static void test_read(const QTarget *t, QVirtQueue *vq)
{
    uint8_t buf[8 * 512];
    int st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_IN, 3, buf, sizeof(buf));
    CHECK(t, st == QVIRTIO_BLK_S_OK && is_pattern(buf, 3 * 512, sizeof(buf)),
          "virtio-blk read sectors match the file", "status %d, first byte %#x want %#x", st,
          buf[0], qos_pattern_byte(3 * 512));
}

static void test_write(const QTarget *t, QVirtQueue *vq, const char *img)
{
    uint8_t buf[4 * 512], back[sizeof(buf)], host[sizeof(buf)];

    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(0xa5 ^ (i * 7));
    int st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_OUT, 100, buf, sizeof(buf));
    bool on_host = host_pread(img, 100 * 512, host, sizeof(host)) &&
                   memcmp(host, buf, sizeof(buf)) == 0;
    CHECK(t, st == QVIRTIO_BLK_S_OK && on_host, "virtio-blk write reaches the file",
          "status %d, file %s", st, on_host ? "matches" : "differs");
    st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_IN, 100, back, sizeof(back));
    CHECK(t, st == QVIRTIO_BLK_S_OK && memcmp(back, buf, sizeof(buf)) == 0,
          "virtio-blk read back written sectors", "status %d", st);
    uint8_t neighbour[512];
    bool intact = host_pread(img, 104 * 512, neighbour, 512) &&
                  is_pattern(neighbour, 104 * 512, 512);
    CHECK(t, intact, "virtio-blk write leaves the next sector", "sector 104 changed");
}

static void test_flush_and_id(const QTarget *t, QVirtQueue *vq)
{
    bool has_flush = vq->dev->features & QVIRTIO_BIT(QVIRTIO_BLK_F_FLUSH);
    int st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_FLUSH, 0, NULL, 0);
    CHECK(t, has_flush && st == QVIRTIO_BLK_S_OK, "virtio-blk flush", "feature %d status %d",
          has_flush, st);

    char id[20];
    memset(id, 0x55, sizeof(id));
    st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_GET_ID, 0, id, sizeof(id));
    bool match = memcmp(id, SERIAL, strlen(SERIAL)) == 0 && id[strlen(SERIAL)] == 0;
    CHECK(t, st == QVIRTIO_BLK_S_OK && match, "virtio-blk GET_ID returns serial",
          "status %d id '%.20s'", st, id);
}

static void test_zeroes_discard(const QTarget *t, QVirtQueue *vq, const char *img)
{
    uint64_t f = vq->dev->features;
    uint8_t host[64 * 1024];

    /* WRITE_ZEROES sectors 200..207 (5.2.6: the segment follows the header). */
    QVirtioBlkDiscard seg = { 200, 8, 0 };
    int st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg));
    bool zero = host_pread(img, 200 * 512, host, 8 * 512) && is_fill(host, 0, 8 * 512);
    bool next = host_pread(img, 208 * 512, host, 512) && is_pattern(host, 208 * 512, 512);
    CHECK(t, (f & QVIRTIO_BIT(QVIRTIO_BLK_F_WRITE_ZEROES)) && st == QVIRTIO_BLK_S_OK && zero &&
          next, "virtio-blk write zeroes", "feature %d status %d zeroed %d next intact %d",
          !!(f & QVIRTIO_BIT(QVIRTIO_BLK_F_WRITE_ZEROES)), st, zero, next);

    /* DISCARD 64 KiB at 128 KiB with discard=unmap: a hole in the file. */
    long long before = host_blocks(img);
    seg = (QVirtioBlkDiscard){ 256, 128, 0 };
    st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_DISCARD, 0, &seg, sizeof(seg));
    usleep(10000);
    long long after = host_blocks(img);
    zero = host_pread(img, 256 * 512, host, sizeof(host)) && is_fill(host, 0, sizeof(host));
    CHECK(t, (f & QVIRTIO_BIT(QVIRTIO_BLK_F_DISCARD)) && st == QVIRTIO_BLK_S_OK &&
          after >= 0 && after + 64 <= before && zero, "virtio-blk discard punches a hole",
          "feature %d status %d blocks %lld -> %lld zeroes %d",
          !!(f & QVIRTIO_BIT(QVIRTIO_BLK_F_DISCARD)), st, before, after, zero);
}

#define INFLIGHT 64

static void test_inflight(const QTarget *t, QVirtQueue *vq)
{
    QVirtioBlkReq r[INFLIGHT];
    QOSState *qs = vq->dev->qs;
    uint64_t mark = qs->alloc.next;
    uint8_t buf[512];
    int bad_status = 0, bad_data = 0;

    for (int i = 0; i < INFLIGHT; i++)
        qvirtio_blk_prepare(vq, &r[i], QVIRTIO_BLK_T_IN, 400 + i, NULL, 512, false);
    qvirtqueue_kick(vq);
    bool done = qvirtqueue_wait_used_n(vq, INFLIGHT, QOS_TIMEOUT_MS);
    for (int i = 0; i < INFLIGHT && done; i++) {
        uint32_t id, len;
        qvirtqueue_get_used(vq, &id, &len);
        if (qvirtio_blk_status(vq, &r[i]) != QVIRTIO_BLK_S_OK)
            bad_status++;
        qtest_bufread(qs->s, r[i].data, buf, sizeof(buf));
        if (!is_pattern(buf, (400ull + i) * 512, sizeof(buf)))
            bad_data++;
    }
    CHECK(t, done && !bad_status && !bad_data, "virtio-blk 64 requests in one kick",
          "completed %d (used idx %u), bad status %d, bad data %d", done,
          qvirtqueue_used_idx(vq), bad_status, bad_data);
    qs->alloc.next = mark;
}

static void test_indirect(const QTarget *t, QVirtQueue *vq, const char *img)
{
    QVirtioBlkReq r;
    uint8_t buf[2 * 512], host[sizeof(buf)];

    if (!CHECK(t, vq->indirect, "virtio-blk indirect descriptors offered", "not negotiated"))
        return;
    memset(buf, 0x3c, sizeof(buf));
    qvirtio_blk_prepare(vq, &r, QVIRTIO_BLK_T_OUT, 500, buf, sizeof(buf), true);
    qvirtqueue_kick(vq);
    bool used = qvirtqueue_wait_used(vq, NULL, NULL, QOS_TIMEOUT_MS);
    int st = qvirtio_blk_status(vq, &r);
    bool on_host = host_pread(img, 500 * 512, host, sizeof(host)) &&
                   is_fill(host, 0x3c, sizeof(host));
    CHECK(t, used && st == QVIRTIO_BLK_S_OK && on_host, "virtio-blk indirect write",
          "used %d status %d file %d", used, st, on_host);

    qvirtio_blk_prepare(vq, &r, QVIRTIO_BLK_T_IN, 3, NULL, 512, true);
    qvirtqueue_kick(vq);
    used = qvirtqueue_wait_used(vq, NULL, NULL, QOS_TIMEOUT_MS);
    qtest_bufread(vq->dev->qs->s, r.data, buf, 512);
    st = qvirtio_blk_status(vq, &r);
    CHECK(t, used && st == QVIRTIO_BLK_S_OK && is_pattern(buf, 3 * 512, 512),
          "virtio-blk indirect read", "used %d status %d", used, st);
}

static void test_out_of_range(const QTarget *t, QVirtQueue *vq)
{
    uint8_t buf[512];
    int st = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_IN, SECTORS, buf, sizeof(buf));
    int st2 = qvirtio_blk_rw(vq, QVIRTIO_BLK_T_IN, SECTORS - 1, buf, sizeof(buf));
    bool data = is_pattern(buf, (SECTORS - 1ull) * 512, sizeof(buf));
    CHECK(t, st == QVIRTIO_BLK_S_IOERR && st2 == QVIRTIO_BLK_S_OK && data,
          "virtio-blk out-of-range sector is IOERR, device still works",
          "past end %d, last sector %d data %d", st, st2, data);
}

static bool needs_reset(QOSState *qs, void *opaque)
{
    return qvirtio_get_status(opaque) & QVIRTIO_S_NEEDS_RESET;
}

/* After a hostile chain: NEEDS_RESET, then a reset brings the device back. */
static void check_recovery(const QTarget *t, QVirtioDev *d, QVirtQueue *vq, const char *name)
{
    char n2[96];
    bool broken = qos_wait(d->qs, needs_reset, d, QOS_TIMEOUT_MS);
    CHECK(t, broken, name, "status %#x, no NEEDS_RESET", qvirtio_get_status(d));
    bool again = qvirtio_negotiate(d, WANTED) && qvirtqueue_setup(d, vq, 0, 0, 0xffff);
    qvirtio_driver_ok(d);
    uint8_t buf[512];
    int st = again ? qvirtio_blk_rw(vq, QVIRTIO_BLK_T_IN, 7, buf, sizeof(buf)) : -2;
    snprintf(n2, sizeof(n2), "%s: works after reset", name);
    CHECK(t, st == QVIRTIO_BLK_S_OK && is_pattern(buf, 7 * 512, 512), n2,
          "setup %d status %d (device status %#x)", again, st, qvirtio_get_status(d));
}

static void test_hostile(const QTarget *t, QVirtioDev *d, QVirtQueue *vq)
{
    QOSState *qs = d->qs;
    uint64_t hdr = qos_alloc(&qs->alloc, 16, 16);
    uint32_t h[4] = { QVIRTIO_BLK_T_IN, 0, 0, 0 };
    qtest_memwrite(qs->s, hdr, h, sizeof(h));

    /* A loop: 0 -> 1 -> 0 (2.7.5.2: chains must end). */
    qvirtqueue_write_desc(vq, 0, hdr, 16, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(vq, 1, hdr, 16, QVRING_DESC_F_NEXT, 0);
    qvirtqueue_publish(vq, 0);
    qvirtqueue_kick(vq);
    check_recovery(t, d, vq, "virtio-blk descriptor loop sets NEEDS_RESET");
}

static void test_hostile_addr(const QTarget *t, QVirtioDev *d, QVirtQueue *vq)
{
    QOSState *qs = d->qs;
    uint64_t hdr = qos_alloc(&qs->alloc, 16, 16);
    uint32_t h[4] = { QVIRTIO_BLK_T_IN, 0, 0, 0 };
    qtest_memwrite(qs->s, hdr, h, sizeof(h));

    /*
     * A data buffer far outside guest RAM.  QEMU maps addresses that are
     * not RAM through its DMA bounce buffer and completes the request
     * (the data goes nowhere) instead of failing the ring: vmm only.
     */
    if (t->is_qemu) {
        qtest_skip(t, "virtio-blk buffer outside RAM sets NEEDS_RESET",
                   "QEMU bounces non-RAM DMA instead");
        return;
    }
    uint64_t status = qos_alloc(&qs->alloc, 1, 1);
    qvirtqueue_write_desc(vq, 0, hdr, 16, QVRING_DESC_F_NEXT, 1);
    qvirtqueue_write_desc(vq, 1, 0x7ff000000000ull, 512, QVRING_DESC_F_NEXT | QVRING_DESC_F_WRITE,
                          2);
    qvirtqueue_write_desc(vq, 2, status, 1, QVRING_DESC_F_WRITE, 0);
    qvirtqueue_publish(vq, 0);
    qvirtqueue_kick(vq);
    check_recovery(t, d, vq, "virtio-blk buffer outside RAM sets NEEDS_RESET");
}

static void test_rw_drive(const QTarget *t)
{
    char *img = qos_make_image(IMG_SIZE);
    QOSState qs;
    QVirtioDev d;
    QVirtQueue vq;

    if (!img || !qos_start_blk(&qs, t, "virtio-blk start", img, ",discard=unmap",
                               ",serial=" SERIAL, "")) {
        free(img);
        return;
    }
    if (CHECK(t, qvirtio_blk_setup(&d, &vq, &qs, SLOT, WANTED, 0xffff), "virtio-blk setup",
              "bind/negotiate/queue setup failed")) {
        test_config(t, &d);
        test_read(t, &vq);
        test_write(t, &vq, img);
        test_flush_and_id(t, &vq);
        test_zeroes_discard(t, &vq, img);
        test_inflight(t, &vq);
        test_indirect(t, &vq, img);
        test_out_of_range(t, &vq);
        test_hostile(t, &d, &vq);
        test_hostile_addr(t, &d, &vq);
        CHECK(t, !qtest_broken(qs.s), "virtio-blk alive after hostile chains", "%s",
              qtest_broken(qs.s));
    }
    qos_quit(&qs);
    unlink(img);
    free(img);
}

static void test_readonly(const QTarget *t)
{
    char *img = qos_make_image(IMG_SIZE);
    QOSState qs;
    QVirtioDev d;
    QVirtQueue vq;

    if (!img || !qos_start_blk(&qs, t, "virtio-blk readonly start", img, ",readonly=on", "",
                               "")) {
        free(img);
        return;
    }
    if (CHECK(t, qvirtio_blk_setup(&d, &vq, &qs, SLOT, WANTED, 0xffff),
              "virtio-blk readonly setup", "setup failed")) {
        CHECK(t, d.features & QVIRTIO_BIT(QVIRTIO_BLK_F_RO), "virtio-blk readonly RO feature",
              "features %#llx", (unsigned long long)d.features);
        uint8_t buf[512], host[512];
        memset(buf, 0xee, sizeof(buf));
        int st = qvirtio_blk_rw(&vq, QVIRTIO_BLK_T_OUT, 1, buf, sizeof(buf));
        bool same = host_pread(img, 512, host, sizeof(host)) && is_pattern(host, 512, 512);
        CHECK(t, st == QVIRTIO_BLK_S_IOERR && same, "virtio-blk readonly write fails",
              "status %d, file unchanged %d", st, same);
        st = qvirtio_blk_rw(&vq, QVIRTIO_BLK_T_IN, 1, buf, sizeof(buf));
        CHECK(t, st == QVIRTIO_BLK_S_OK && is_pattern(buf, 512, 512),
              "virtio-blk readonly read works", "status %d", st);
    }
    qos_quit(&qs);
    unlink(img);
    free(img);
}

static bool odirect_works(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECT);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

/* Reads and writes through the other cache modes (O_DIRECT, libaio, sync). */
static void test_cache_mode(const QTarget *t, const char *opts)
{
    char *img = qos_make_image(IMG_SIZE);
    char name[128];
    QOSState qs;
    QVirtioDev d;
    QVirtQueue vq;

    snprintf(name, sizeof(name), "virtio-blk %s read/write", opts + 1);
    if (img && strstr(opts, "none") && !odirect_works(img)) {
        qtest_skip(t, name, "O_DIRECT not supported on the temporary directory");
        unlink(img);
        free(img);
        return;
    }
    if (!img || !qos_start_blk(&qs, t, name, img, opts, "", "")) {
        free(img);
        return;
    }
    uint8_t buf[8 * 512], host[sizeof(buf)];
    int st_w = -2, st_r = -2;
    bool file_ok = false, read_ok = false;
    if (qvirtio_blk_setup(&d, &vq, &qs, SLOT, WANTED, 0xffff)) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (uint8_t)(i * 13 + 5);
        st_w = qvirtio_blk_rw(&vq, QVIRTIO_BLK_T_OUT, 50, buf, sizeof(buf));
        file_ok = host_pread(img, 50 * 512, host, sizeof(host)) &&
                  memcmp(host, buf, sizeof(buf)) == 0;
        st_r = qvirtio_blk_rw(&vq, QVIRTIO_BLK_T_IN, 3, buf, sizeof(buf));
        read_ok = is_pattern(buf, 3 * 512, sizeof(buf));
    }
    CHECK(t, st_w == 0 && file_ok && st_r == 0 && read_ok, name,
          "write status %d file %d, read status %d data %d", st_w, file_ok, st_r, read_ok);
    qos_quit(&qs);
    unlink(img);
    free(img);
}

/* A second instance on the same image (read-write) cannot take the lock. */
static void test_lock(const QTarget *t)
{
    char *img = qos_make_image(IMG_SIZE);
    char args[1024], why[512];
    QOSState qs;

    if (!img || !qos_start_blk(&qs, t, "virtio-blk lock start", img, "", "", "")) {
        free(img);
        return;
    }
    snprintf(args, sizeof(args),
             "%s -drive file=%s,if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0,addr=4",
             t->machine_args, img);
    why[0] = '\0';
    QTestState *s2 = qtest_start(t->binary, args, why, sizeof(why));
    int status = -1;
    if (s2) {
        /* It may connect to the qtest socket before opening its drives
         * (QEMU does): then it must exit on its own. */
        status = qtest_wait_exit(s2, QOS_TIMEOUT_MS);
        char *err = qtest_slurp(qtest_stderr_path(s2), NULL);
        snprintf(why, sizeof(why), "exited with status %d: %.300s", status, err ? err : "");
        free(err);
        qtest_set_term_on_quit(s2, true);
        qtest_quit(s2);
    } else if (strstr(why, "status 1")) {
        status = 1;
    }
    bool refused = status == 1 && strstr(why, "lock");
    CHECK(t, refused, "virtio-blk second instance refused by image lock", "%s", why);
    qos_quit(&qs);
    unlink(img);
    free(img);
}

static void run(const QTarget *t)
{
    test_rw_drive(t);
    test_readonly(t);
    test_cache_mode(t, ",cache=none,aio=native");
    test_cache_mode(t, ",cache=writethrough");
    test_cache_mode(t, ",cache=directsync");
    test_lock(t);
}

int main(void)
{
    return qtest_run_targets(run);
}
