/*
 * virtio-balloon (virtio 1.2, 5.5) with the test as the guest driver and
 * QMP as the host: the balloon command changes num_pages with a config
 * interrupt; inflating pages the guest touched gives their memory back to
 * the host (the target's RSS drops), deflating and touching them again
 * takes it back; "actual" reaches query-balloon; the stats queue feeds
 * the monitor (vmm); PFNs outside guest RAM are ignored.
 *
 * QEMU runs with "-accel tcg -S"; the test gives it a firmware that only
 * halts and sends "cont" so that it behaves as a running VM.
 */
#include "libnet.h"
#include "libqos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 5.5.3 feature bits */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
/* 5.5.4 config: num_pages, actual (little-endian u32, in 4 KiB pages) */
#define BALLOON_CFG_NUM_PAGES 0
#define BALLOON_CFG_ACTUAL 4
/* 5.5.6.3 statistics tags */
#define VIRTIO_BALLOON_S_MEMFREE 4
#define VIRTIO_BALLOON_S_MEMTOT 5

#define BALLOON_SLOT 6
#define PAGE 4096u
#define RAM_BYTES (128u << 20)
#define BALLOON_BYTES (64u << 20)
#define BALLOON_PAGES (BALLOON_BYTES / PAGE)
#define PFNS_PER_REQ 1024u
#define FREE_MEM_STAT 0x1234567000ull

typedef struct Balloon {
    QOSState qs;
    QVirtioDev dev;
    QVirtQueue inflate, deflate, stats;
    QmpClient *qmp;
    char *qmp_path;
    uint64_t region;        /* BALLOON_BYTES of guest RAM given to the balloon */
    uint64_t pfn_bufs;      /* PFN arrays, PFNS_PER_REQ * 4 bytes each */
    bool has_stats;
} Balloon;

static bool qmp_ok(Balloon *b, const char *cmd)
{
    char *r = qmp_client_cmd(b->qmp, "%s", cmd);
    bool ok = r && strstr(r, "\"return\"");
    free(r);
    return ok;
}

static bool balloon_start(Balloon *b, const QTarget *t)
{
    char extra[300] = "";
    memset(b, 0, sizeof(*b));
    b->qmp_path = qtest_tmp_path("-qmp.sock");
    if (t->is_qemu)
        snprintf(extra, sizeof(extra), "-bios %s", halt_firmware_path());
    else
        snprintf(extra, sizeof(extra), ",guest-stats-polling-interval=1");
    /* vmm takes the polling interval as a device property; QEMU as a QOM
     * property set later (and the stats part is vmm-only anyway). */
    if (!qos_start(&b->qs, t, "virtio-balloon start",
                   "%s -device virtio-balloon-pci,addr=%d%s -qmp unix:%s,server=on,wait=off",
                   t->is_qemu ? extra : "", BALLOON_SLOT, t->is_qemu ? "" : extra,
                   b->qmp_path))
        return false;
    b->qmp = qmp_client_open(b->qmp_path);
    if (!qtest_check(t, b->qmp != NULL, "virtio-balloon qmp", "cannot open QMP"))
        return false;
    if (t->is_qemu && !qtest_check(t, qmp_ok(b, "{\"execute\": \"cont\"}"), "virtio-balloon cont",
                                   "QMP cont failed"))
        return false;
    return true;
}

static void balloon_stop(Balloon *b)
{
    qmp_client_close(b->qmp);
    qos_quit(&b->qs);
    if (b->qmp_path) {
        unlink(b->qmp_path);
        free(b->qmp_path);
    }
}

static bool balloon_driver_init(Balloon *b, const char **why)
{
    if (!qvirtio_pci_init(&b->dev, &b->qs, BALLOON_SLOT)) {
        *why = "no virtio function at slot 6";
        return false;
    }
    uint64_t want = QVIRTIO_BIT(QVIRTIO_F_VERSION_1) |
                    QVIRTIO_BIT(VIRTIO_BALLOON_F_MUST_TELL_HOST) |
                    QVIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ);
    if (!qvirtio_negotiate(&b->dev, want)) {
        *why = "FEATURES_OK refused";
        return false;
    }
    b->has_stats = b->dev.features & QVIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ);
    qvirtio_msix_config(&b->dev, 0);
    if (!qvirtqueue_setup(&b->dev, &b->inflate, 0, 0, 1) ||
        !qvirtqueue_setup(&b->dev, &b->deflate, 1, 0, 2) ||
        (b->has_stats && !qvirtqueue_setup(&b->dev, &b->stats, 2, 0, 3))) {
        *why = "queue setup failed";
        return false;
    }
    b->region = qos_alloc(&b->qs.alloc, BALLOON_BYTES, 1 << 20);
    b->pfn_bufs = qos_alloc(&b->qs.alloc, (uint64_t)BALLOON_PAGES * 4, 4096);
    if (!b->region || !b->pfn_bufs) {
        *why = "guest RAM allocator exhausted";
        return false;
    }
    qvirtio_driver_ok(&b->dev);
    return true;
}

/* Post the region's PFNs on vq in requests of PFNS_PER_REQ, wait for all. */
static bool balloon_post_region(Balloon *b, QVirtQueue *vq)
{
    static uint32_t pfns[BALLOON_PAGES];
    unsigned nreq = BALLOON_PAGES / PFNS_PER_REQ;

    for (unsigned i = 0; i < BALLOON_PAGES; i++)
        pfns[i] = (uint32_t)(b->region / PAGE + i);
    qtest_bufwrite(b->qs.s, b->pfn_bufs, pfns, sizeof(pfns));
    for (unsigned r = 0; r < nreq; r++) {
        QVirtBuf buf = { b->pfn_bufs + (uint64_t)r * PFNS_PER_REQ * 4, PFNS_PER_REQ * 4, false };
        qvirtqueue_publish(vq, qvirtqueue_add_chain(vq, &buf, 1));
    }
    qvirtqueue_kick(vq);
    bool ok = qvirtqueue_wait_used_n(vq, nreq, 10000);
    while (qvirtqueue_get_used(vq, NULL, NULL))
        ;
    return ok;
}

/* The config change interrupt: the MSI-X config vector's message when the
 * device has MSI-X (QEMU's balloon has none by default), else ISR bit 1
 * (virtio 1.2, 4.1.4.5). */
static bool config_irq_fired(Balloon *b)
{
    if (b->dev.pci.msix_cap && b->dev.config_vector != 0xffff)
        return qvirtio_config_msix_fired(&b->dev);
    return qvirtio_isr(&b->dev) & 2;
}

static bool config_irq_wait(Balloon *b, int timeout_ms)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    while (net_now_ms() < deadline) {
        if (config_irq_fired(b))
            return true;
        usleep(1000);
    }
    return false;
}

static long long query_actual(Balloon *b)
{
    long long actual = -1;
    char *r = qmp_client_cmd(b->qmp, "{\"execute\": \"query-balloon\"}");
    if (!r || !json_get_int(r, "actual", &actual))
        actual = -1;
    free(r);
    return actual;
}

static void test_target(const QTarget *t, Balloon *b)
{
    config_irq_fired(b);   /* clear */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "{\"execute\": \"balloon\", \"arguments\": {\"value\": %u}}",
             RAM_BYTES - BALLOON_BYTES);
    bool ok = qmp_ok(b, cmd);
    bool irq = config_irq_wait(b, 2000);
    uint32_t num = qvirtio_config_readl(&b->dev, BALLOON_CFG_NUM_PAGES);
    CHECK(t, ok && num == BALLOON_PAGES, "virtio-balloon balloon sets num_pages",
          "QMP ok %d, num_pages %u (want %u)", ok, num, BALLOON_PAGES);
    CHECK(t, irq, "virtio-balloon config interrupt", "no config %s",
          b->dev.pci.msix_cap ? "MSI-X message" : "ISR bit");
}

/* Touch the whole region (vmm's qtest memset takes at most 16 MiB). */
static void touch_region(Balloon *b, uint8_t pattern)
{
    for (uint64_t off = 0; off < BALLOON_BYTES; off += 8u << 20)
        qtest_memset(b->qs.s, b->region + off, pattern, 8u << 20);
}

static void test_inflate_deflate(const QTarget *t, Balloon *b)
{
    int pid = qtest_pid(b->qs.s);
    long rss0 = proc_rss_kib(pid);
    touch_region(b, 0x5a);
    long rss_touched = proc_rss_kib(pid);

    bool used = balloon_post_region(b, &b->inflate);
    qvirtio_config_writel(&b->dev, BALLOON_CFG_ACTUAL, BALLOON_PAGES);
    long rss_inflated = proc_rss_kib(pid);
    long drop = rss_touched - rss_inflated;
    CHECK(t, used && rss_touched - rss0 > 48 * 1024 && drop > 48 * 1024,
          "virtio-balloon inflate 64 MiB returns memory",
          "inflate used %d; RSS %ld KiB, touched %ld KiB, inflated %ld KiB", used, rss0,
          rss_touched, rss_inflated);

    /* query-balloon reports the guest's memory: RAM minus the balloon. */
    long long actual = -1;
    for (int i = 0; i < 100 && actual != RAM_BYTES - BALLOON_BYTES; i++) {
        actual = query_actual(b);
        if (actual != RAM_BYTES - BALLOON_BYTES)
            usleep(10000);
    }
    CHECK(t, actual == RAM_BYTES - BALLOON_BYTES, "virtio-balloon query-balloon actual",
          "actual %lld, want %u", actual, RAM_BYTES - BALLOON_BYTES);

    used = balloon_post_region(b, &b->deflate);
    qvirtio_config_writel(&b->dev, BALLOON_CFG_ACTUAL, 0);
    touch_region(b, 0xa5);
    long rss_back = proc_rss_kib(pid);
    uint8_t probe[16];
    qtest_memread(b->qs.s, b->region + BALLOON_BYTES - 16, probe, sizeof(probe));
    bool content = probe[0] == 0xa5 && probe[15] == 0xa5;
    CHECK(t, used && rss_back - rss_inflated > 48 * 1024 && content,
          "virtio-balloon deflate and touch grows RSS back",
          "deflate used %d; RSS inflated %ld KiB, after touch %ld KiB; content %s", used,
          rss_inflated, rss_back, content ? "ok" : "wrong");

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "{\"execute\": \"balloon\", \"arguments\": {\"value\": %u}}",
             RAM_BYTES);
    qmp_ok(b, cmd);
    actual = query_actual(b);
    CHECK(t, actual == RAM_BYTES, "virtio-balloon actual after deflate", "actual %lld", actual);
}

/* 5.5.6.3: the driver hands the device a buffer of (u16 tag, u64 value)
 * pairs; the device keeps it until it wants fresh numbers. */
static void test_stats(const QTarget *t, Balloon *b)
{
    if (t->is_qemu) {
        qtest_skip(t, "virtio-balloon stats in query-balloon", "QEMU reports stats via qom-get");
        return;
    }
    if (!CHECK(t, b->has_stats, "virtio-balloon stats feature", "STATS_VQ not offered"))
        return;
    uint8_t st[20];
    uint64_t free_mem = FREE_MEM_STAT, total = RAM_BYTES;
    st[0] = VIRTIO_BALLOON_S_MEMFREE;
    st[1] = 0;
    memcpy(st + 2, &free_mem, 8);
    st[10] = VIRTIO_BALLOON_S_MEMTOT;
    st[11] = 0;
    memcpy(st + 12, &total, 8);
    uint64_t addr = qos_alloc(&b->qs.alloc, sizeof(st), 16);
    qtest_memwrite(b->qs.s, addr, st, sizeof(st));
    QVirtBuf buf = { addr, sizeof(st), false };
    qvirtqueue_submit(&b->stats, &buf, 1);

    char want[32];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)FREE_MEM_STAT);
    bool seen = false;
    char *last = NULL;
    for (int i = 0; i < 100 && !seen; i++) {
        free(last);
        last = qmp_client_cmd(b->qmp, "{\"execute\": \"query-balloon\"}");
        seen = last && strstr(last, want);
        if (!seen) {
            free(last);
            last = qmp_client_cmd(b->qmp, "{\"execute\": \"human-monitor-command\", "
                                          "\"arguments\": {\"command-line\": \"info balloon\"}}");
            seen = last && strstr(last, want);
        }
        if (!seen)
            usleep(20000);
    }
    CHECK(t, seen, "virtio-balloon stats in query-balloon",
          "free memory %s not in query-balloon or info balloon: %.200s", want,
          last ? last : "(no reply)");
    free(last);
}

static void test_hostile(const QTarget *t, Balloon *b)
{
    /* PFNs beyond 128 MiB of RAM, in the PCI hole and at the top. */
    uint32_t pfns[4] = { RAM_BYTES / PAGE + 5, 0xfec00000u / PAGE, 0x100000, 0xffffffffu };
    uint64_t addr = qos_alloc(&b->qs.alloc, sizeof(pfns), 16);
    qtest_memwrite(b->qs.s, addr, pfns, sizeof(pfns));
    QVirtBuf buf = { addr, sizeof(pfns), false };
    qvirtqueue_submit(&b->inflate, &buf, 1);
    bool used = qvirtqueue_wait_used(&b->inflate, NULL, NULL, QOS_TIMEOUT_MS);
    /* The same again on the deflate queue, and a buffer of odd length. */
    QVirtBuf odd = { addr, 3, false };
    qvirtqueue_submit(&b->deflate, &odd, 1);
    qvirtqueue_wait_used(&b->deflate, NULL, NULL, QOS_TIMEOUT_MS);
    long long actual = query_actual(b);
    uint8_t st = qvirtio_get_status(&b->dev);
    const char *broken = qtest_broken(b->qs.s);
    CHECK(t, used && actual > 0 && !broken && st != 0xff,
          "virtio-balloon pfns outside ram ignored",
          "inflate used %d, query-balloon actual %lld, status %02x, qtest %s", used, actual, st,
          broken ? broken : "ok");
}

static void run(const QTarget *t)
{
    Balloon b;
    const char *why = "";

    if (balloon_start(&b, t) &&
        CHECK(t, balloon_driver_init(&b, &why), "virtio-balloon driver init", "%s", why)) {
        test_target(t, &b);
        test_inflate_deflate(t, &b);
        test_stats(t, &b);
        test_hostile(t, &b);
    }
    balloon_stop(&b);
}

int main(void)
{
    return qtest_run_targets(run);
}
