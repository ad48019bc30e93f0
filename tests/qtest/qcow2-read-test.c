/*
 * qcow2 interoperability at the guest's level: images qemu-img makes (v2,
 * v3, small clusters, backing file, compressed, with internal snapshots,
 * 1-bit refcounts) are read whole through virtio-blk under vmm and under
 * QEMU, and what the guest sees must hash the same as qemu-img's own raw
 * conversion.  Then a guest writes into copies (inside allocated clusters,
 * into unallocated ones with partial clusters, over the backing file's
 * data); after the VMM exits, `qemu-img check` must find no errors or
 * leaks and `qemu-img compare` must find exactly the written data.
 *
 * Needs qemu-img and qemu-io (qemu-utils); skipped without them.
 * QCOW2_TEST_MIB sets the virtual disk size (default 8).
 */
#include "libqos.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT 4
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CHUNK (64u << 10)

static const uint64_t WANTED = QVIRTIO_BIT(QVIRTIO_F_VERSION_1) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_FLUSH) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_SEG_MAX) |
                               QVIRTIO_BIT(QVIRTIO_BLK_F_BLK_SIZE);

static char dir[] = "/tmp/qcow2-read-test.XXXXXX";
static unsigned mib = 8;

typedef struct ImageKind {
    const char *name;
    const char *make;       /* shell commands, run in dir; $M = size in MiB */
} ImageKind;

static const ImageKind kinds[] = {
    { "v3", "qemu-img create -q -f qcow2 v3.qcow2 ${M}M && "
            "qemu-io -c 'write -P 0x5a 0 192k' -c 'write -P 0xa5 3M 100k' "
            "-c 'write -z 64k 64k' -c \"write -P 7 $((M*1024-4))k 4k\" v3.qcow2" },
    { "v2-4k", "qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4k v2-4k.qcow2 ${M}M && "
               "qemu-io -c 'write -P 0x11 512 7k' -c 'write -P 0x22 1M 64k' v2-4k.qcow2" },
    { "backing", "qemu-img create -q -f qcow2 base.qcow2 ${M}M && "
                 "qemu-io -c 'write -P 0x31 0 2M' base.qcow2 && "
                 "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 backing.qcow2 && "
                 "qemu-io -c 'write -P 0x32 4k 4k' -c 'write -P 0x33 1M 1M' backing.qcow2" },
    { "compressed", "qemu-img create -q -f raw c.raw ${M}M && "
                    "qemu-io -f raw -c 'write -P 0x41 0 1M' -c 'write -P 0x42 2M 512' c.raw && "
                    "head -c 65536 /dev/urandom | dd of=c.raw bs=64k seek=5 conv=notrunc status=none && "
                    "qemu-img convert -c -O qcow2 c.raw compressed.qcow2" },
    { "snapshots", "qemu-img create -q -f qcow2 snapshots.qcow2 ${M}M && "
                   "qemu-io -c 'write -P 0x51 0 128k' snapshots.qcow2 && "
                   "qemu-img snapshot -c one snapshots.qcow2 && "
                   "qemu-io -c 'write -P 0x52 64k 128k' snapshots.qcow2" },
    { "refcount1", "qemu-img create -q -f qcow2 -o refcount_bits=1,cluster_size=512 "
                   "refcount1.qcow2 ${M}M && "
                   "qemu-io -c 'write -P 0x61 0 300k' refcount1.qcow2" },
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char full[4600];
    snprintf(full, sizeof(full), "cd %s && M=%u && (%s) >/dev/null 2>&1", dir, mib, cmd);
    return system(full);
}

/* FNV-1a over a byte range. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static bool hash_file(const char *path, uint64_t *out)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    static uint8_t buf[CHUNK];
    uint64_t h = FNV_INIT, total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        h = fnv(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    close(fd);
    *out = h;
    return n == 0 && total == (uint64_t)mib << 20;
}

static bool start_qcow2(QOSState *qs, const QTarget *t, const char *test, const char *img)
{
    return qos_start(qs, t, test,
                     "-drive file=%s/%s,if=none,id=d0,format=qcow2 "
                     "-device virtio-blk-pci,drive=d0,addr=%d", dir, img, SLOT);
}

/* Read the whole disk through the virtqueue; false on a failed request. */
static bool guest_hash(QVirtQueue *vq, uint64_t *out)
{
    static uint8_t buf[CHUNK];
    uint64_t h = FNV_INIT;
    uint64_t size = (uint64_t)mib << 20;
    for (uint64_t off = 0; off < size; off += CHUNK) {
        if (qvirtio_blk_rw(vq, QVIRTIO_BLK_T_IN, off / 512, buf, CHUNK) != QVIRTIO_BLK_S_OK)
            return false;
        h = fnv(h, buf, CHUNK);
    }
    *out = h;
    return true;
}

static void test_read(const QTarget *t, const ImageKind *k)
{
    char name[128], img[64], raw[160];
    snprintf(name, sizeof(name), "qcow2 read %s", k->name);
    snprintf(img, sizeof(img), "%s.qcow2", k->name);
    snprintf(raw, sizeof(raw), "%s/%s.expect", dir, k->name);
    uint64_t want, got = 0;
    if (!hash_file(raw, &want)) {
        CHECK(t, false, name, "no expected raw image %s", raw);
        return;
    }
    QOSState qs;
    QVirtioDev d;
    QVirtQueue vq;
    if (!start_qcow2(&qs, t, name, img))
        return;
    bool ok = qvirtio_blk_setup(&d, &vq, &qs, SLOT, WANTED, 0xffff);
    uint64_t cap = ok ? qvirtio_config_readq(&d, QVBLK_CFG_CAPACITY) : 0;
    char setup[160];
    snprintf(setup, sizeof(setup), "%s: virtio-blk setup and capacity", name);
    if (CHECK(t, ok && cap == ((uint64_t)mib << 20) / 512, setup,
              "setup %s, capacity %llu sectors", ok ? "ok" : "failed", (unsigned long long)cap)) {
        bool read_ok = guest_hash(&vq, &got);
        CHECK(t, read_ok && got == want, name, "%s", read_ok ? "guest data differs from "
              "qemu-img convert's" : "a read request failed");
    }
    qos_quit(&qs);
}

typedef struct GuestWrite {
    uint64_t off;
    uint32_t len;
    uint8_t fill;
} GuestWrite;

/* Inside allocated clusters, unallocated ones (partial: the driver must
 * fill the rest of the cluster from the backing file or zeroes), a write
 * spanning clusters, the last sector. */
static const GuestWrite writes[] = {
    { 4096, 512, 0xc1 }, { 1u << 20, 4096, 0xc2 }, { (2u << 20) + 512, 70000 & ~511u, 0xc3 },
    { (3u << 20) - 4096, 8192, 0xc4 }, { 0, 0, 0 } /* last sector: filled in at run time */,
};

static bool host_apply(const char *raw, const GuestWrite *w)
{
    int fd = open(raw, O_WRONLY);
    uint8_t *b = malloc(w->len);
    bool ok = fd >= 0 && b;
    if (ok) {
        memset(b, w->fill, w->len);
        ok = pwrite(fd, b, w->len, (off_t)w->off) == (ssize_t)w->len;
    }
    free(b);
    if (fd >= 0)
        close(fd);
    return ok;
}

static void test_write(const QTarget *t, const char *kind)
{
    char name[128], img[96];
    snprintf(name, sizeof(name), "qcow2 guest writes %s", kind);
    snprintf(img, sizeof(img), "w-%s-%s.qcow2", t->name, kind);
    if (sh("cp %s.qcow2 %s && cp %s.expect %s.raw", kind, img, kind, img) != 0) {
        CHECK(t, false, name, "cannot copy the image");
        return;
    }
    QOSState qs;
    QVirtioDev d;
    QVirtQueue vq;
    if (!start_qcow2(&qs, t, name, img))
        return;
    bool ok = qvirtio_blk_setup(&d, &vq, &qs, SLOT, WANTED, 0xffff);
    char raw[200];
    snprintf(raw, sizeof(raw), "%s/%s.raw", dir, img);
    for (size_t i = 0; ok && i < ARRAY_SIZE(writes); i++) {
        GuestWrite w = writes[i];
        if (!w.len)
            w = (GuestWrite){ ((uint64_t)mib << 20) - 512, 512, 0xc5 };
        uint8_t *b = malloc(w.len);
        memset(b, w.fill, w.len);
        ok = qvirtio_blk_rw(&vq, QVIRTIO_BLK_T_OUT, w.off / 512, b, w.len) == QVIRTIO_BLK_S_OK &&
             host_apply(raw, &w);
        free(b);
    }
    ok = ok && qvirtio_blk_rw(&vq, QVIRTIO_BLK_T_FLUSH, 0, NULL, 0) == QVIRTIO_BLK_S_OK;
    qos_quit(&qs);
    if (!CHECK(t, ok, name, "a write or flush request failed"))
        return;
    char check_name[160], cmp_name[160];
    snprintf(check_name, sizeof(check_name), "%s: qemu-img check", name);
    snprintf(cmp_name, sizeof(cmp_name), "%s: qemu-img compare", name);
    CHECK(t, sh("qemu-img check %s", img) == 0, check_name, "errors or leaks in %s/%s", dir, img);
    CHECK(t, sh("qemu-img compare -f qcow2 -F raw %s %s.raw", img, img) == 0, cmp_name,
          "the image does not hold what the guest wrote");
}

static void run(const QTarget *t)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        test_read(t, &kinds[i]);
    test_write(t, "v3");
    test_write(t, "backing");
    test_write(t, "v2-4k");
}

static void cleanup(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "qcow2-read-test: could not remove %s\n", dir);
}

int main(void)
{
    const char *m = getenv("QCOW2_TEST_MIB");
    if (m && atoi(m) >= 4)
        mib = (unsigned)atoi(m);
    if (system("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null") != 0) {
        printf("ok - qcow2 read # SKIP qemu-img/qemu-io not installed (qemu-utils)\n");
        return 0;
    }
    if (!mkdtemp(dir)) {
        printf("not ok - qcow2 read: mkdtemp failed\n");
        return 1;
    }
    atexit(cleanup);
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (sh("%s", kinds[i].make) != 0 ||
            sh("qemu-img convert -O raw %s.qcow2 %s.expect", kinds[i].name, kinds[i].name) != 0) {
            printf("not ok - qcow2 images: qemu-img could not make '%s'\n", kinds[i].name);
            return 1;
        }
    }
    return qtest_run_targets(run);
}
