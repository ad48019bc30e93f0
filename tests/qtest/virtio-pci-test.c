/*
 * virtio-pci transport (virtio 1.2, 4.1) seen from a guest driver, on a
 * virtio-blk-pci function: PCI identity, BARs, capabilities, command
 * register decoding, BAR moves, MSI-X masking and pending bits, interrupt
 * suppression (NO_INTERRUPT, used_event), INTx through the PIIX3 PIRQ
 * routing, slot allocation and feature negotiation.
 */
#include "libqos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOT 4
#define IMG_SIZE (1 << 20)

static char *img, *img2;

static bool start(QOSState *qs, const QTarget *t, const char *test, const char *dev_opts)
{
    return qos_start_blk(qs, t, test, img, "", dev_opts, "");
}

static void test_identity(const QTarget *t, QOSState *qs)
{
    QPCIDevice d;
    qpci_device_init(&d, &qs->bus, SLOT, 0);
    uint32_t id = qpci_config_readl(&d, 0x00);
    uint32_t sub = qpci_config_readl(&d, 0x2c);
    uint16_t cls = qpci_config_readw(&d, 0x0a);
    uint8_t rev = qpci_config_readb(&d, 0x08);
    uint8_t pin = qpci_config_readb(&d, 0x3d);
    CHECK(t, id == 0x10011af4, "virtio-pci ids 1af4:1001 at 00:04.0", "id %08x", id);
    CHECK(t, sub == 0x00021af4, "virtio-pci subsystem 1af4:0002", "subsystem %08x", sub);
    CHECK(t, cls == 0x0100 && rev == 0, "virtio-pci class 0100 rev 0", "class %04x rev %u",
          cls, rev);
    CHECK(t, pin == 1, "virtio-pci interrupt pin INTA", "pin %u", pin);
    uint16_t status = qpci_config_readw(&d, 0x06);
    CHECK(t, status & 0x10, "virtio-pci status capability list", "status %04x", status);
}

static void test_bars(const QTarget *t, QOSState *qs)
{
    QPCIDevice d;
    qpci_device_init(&d, &qs->bus, SLOT, 0);
    for (int n = 0; n < 6; n++)
        qpci_bar_probe(&d, n);
    QPCIBar *b = d.bars;
    CHECK(t, b[0].io && b[0].size >= 0x20, "virtio-pci bar0 legacy i/o",
          "io %d size %#llx", b[0].io, (unsigned long long)b[0].size);
    CHECK(t, !b[1].io && !b[1].mem64 && b[1].size == 0x1000, "virtio-pci bar1 mem32 4k",
          "io %d mem64 %d size %#llx", b[1].io, b[1].mem64, (unsigned long long)b[1].size);
    CHECK(t, !b[4].io && b[4].mem64 && b[4].prefetch && b[4].size == 0x4000,
          "virtio-pci bar4 mem64 prefetchable 16k", "io %d mem64 %d pf %d size %#llx", b[4].io,
          b[4].mem64, b[4].prefetch, (unsigned long long)b[4].size);
    /* BAR5 is the upper half of the 64-bit BAR4. */
    CHECK(t, b[2].size == 0 && b[3].size == 0, "virtio-pci unused bars",
          "bar2 %#llx bar3 %#llx", (unsigned long long)b[2].size, (unsigned long long)b[3].size);
}

struct vcap_want {
    uint8_t type;
    const char *name;
    uint32_t offset, min_len;
};

static void test_caps(const QTarget *t, QVirtioDev *d)
{
    /* QEMU's layout of BAR4: common, ISR, device, notify, 4 KiB apart. */
    static const struct vcap_want want[] = {
        { QVIRTIO_PCI_CAP_COMMON, "common", 0x0000, 0x38 },
        { QVIRTIO_PCI_CAP_ISR, "isr", 0x1000, 1 },
        { QVIRTIO_PCI_CAP_DEVICE, "device", 0x2000, 0x20 },
        { QVIRTIO_PCI_CAP_NOTIFY, "notify", 0x3000, 4 },
    };
    char name[96];

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const QVirtioCap *c = want[i].type == QVIRTIO_PCI_CAP_COMMON ? &d->common
                            : want[i].type == QVIRTIO_PCI_CAP_ISR ? &d->isr
                            : want[i].type == QVIRTIO_PCI_CAP_DEVICE ? &d->device
                            : &d->notify;
        snprintf(name, sizeof(name), "virtio-pci %s cap bar4 offset %#x", want[i].name,
                 want[i].offset);
        CHECK(t, c->cap && c->bar == 4 && c->offset == want[i].offset &&
              c->length >= want[i].min_len, name, "cap %#x bar %d offset %#x length %#x",
              c->cap, c->bar, c->offset, c->length);
    }
    CHECK(t, d->notify_mult == 4, "virtio-pci notify_off_multiplier 4", "multiplier %u",
          d->notify_mult);
    uint8_t cfg = d->pci_cfg.cap;
    uint8_t cfg_len = cfg ? qpci_config_readb(&d->pci, cfg + 2) : 0;
    CHECK(t, cfg && cfg_len >= 20, "virtio-pci pci_cfg cap present", "cap %#x len %u", cfg,
          cfg_len);
    CHECK(t, d->pci.msix_cap && d->pci.msix_size == 2 && d->pci.msix_table_bar == 1 &&
          d->pci.msix_table_off == 0 && d->pci.msix_pba_bar == 1 && d->pci.msix_pba_off == 0x800,
          "virtio-pci msix cap 2 vectors table bar1+0 pba bar1+0x800",
          "cap %#x size %u table %d+%#x pba %d+%#x", d->pci.msix_cap, d->pci.msix_size,
          d->pci.msix_table_bar, d->pci.msix_table_off, d->pci.msix_pba_bar, d->pci.msix_pba_off);
}

/*
 * What a memory read nobody decodes returns: all ones on vmm (a master
 * abort, PCI 3.0, 6.2.2); QEMU's unassigned memory reads 0 instead, so
 * there it only must not be the device's answer.
 */
static bool unanswered16(const QTarget *t, uint16_t v, uint16_t device_value)
{
    return t->is_qemu ? v != device_value : v == 0xffff;
}

static void test_decode(const QTarget *t, QVirtioDev *d)
{
    uint16_t nq = qvirtio_common_readw(d, QVPCI_NUM_QUEUES);
    uint32_t legacy = qvirtio_legacy_features(d);
    uint16_t cmd = qpci_config_readw(&d->pci, 0x04);

    qpci_config_writew(&d->pci, 0x04, cmd & ~2);   /* memory decode off */
    uint16_t mem_off = qvirtio_common_readw(d, QVPCI_NUM_QUEUES);
    uint32_t io_still = qvirtio_legacy_features(d);
    qpci_config_writew(&d->pci, 0x04, cmd & ~1);   /* I/O decode off */
    uint32_t io_off = qvirtio_legacy_features(d);
    uint16_t nq_back = qvirtio_common_readw(d, QVPCI_NUM_QUEUES);
    qpci_config_writew(&d->pci, 0x04, cmd);
    CHECK(t, nq == 1 && unanswered16(t, mem_off, nq) && io_still == legacy,
          "virtio-pci memory decode off reads ones", "num_queues %u, off %04x, io %08x/%08x", nq,
          mem_off, io_still, legacy);
    CHECK(t, io_off == 0xffffffff && nq_back == 1, "virtio-pci io decode off reads ones",
          "io %08x, mem num_queues %u", io_off, nq_back);
}

static void test_bar_move(const QTarget *t, QVirtioDev *d)
{
    uint64_t old = d->pci.bars[4].addr;
    uint64_t new_addr = (d->qs->bus.mem_next + 0xffff) & ~0xffffull;
    uint16_t cmd = qpci_config_readw(&d->pci, 0x04);

    qpci_config_writew(&d->pci, 0x04, cmd & ~2);
    qpci_bar_set(&d->pci, 4, new_addr);
    qpci_config_writew(&d->pci, 0x04, cmd);
    uint16_t at_new = qvirtio_common_readw(d, QVPCI_NUM_QUEUES);
    uint16_t at_old = qtest_readw(d->qs->s, old + QVPCI_NUM_QUEUES);
    uint32_t raw = qpci_bar_raw(&d->pci, 4);
    CHECK(t, at_new == 1 && unanswered16(t, at_old, 1) && (raw & ~0xfu) == (uint32_t)new_addr,
          "virtio-pci bar4 remap", "new %#llx answers %u, old %#llx reads %04x, bar %08x",
          (unsigned long long)new_addr, at_new, (unsigned long long)old, at_old, raw);
}

/* Features, status through both layouts, VERSION_1 offered. */
static void test_features(const QTarget *t, QVirtioDev *d)
{
    qvirtio_reset(d);
    uint64_t f = qvirtio_get_features(d);
    uint32_t legacy = qvirtio_legacy_features(d);
    CHECK(t, f & QVIRTIO_BIT(QVIRTIO_F_VERSION_1), "virtio-pci offers VERSION_1",
          "features %#llx", (unsigned long long)f);
    CHECK(t, ((uint32_t)f & ~legacy) == 0 && (legacy & (1u << QVIRTIO_BLK_F_SEG_MAX)),
          "virtio-pci legacy features cover modern low word", "modern %#llx legacy %#x",
          (unsigned long long)f, legacy);
    qvirtio_legacy_set_status(d, QVIRTIO_S_ACKNOWLEDGE);
    uint8_t st = qvirtio_get_status(d);
    uint8_t lst = qvirtio_legacy_get_status(d);
    CHECK(t, st == QVIRTIO_S_ACKNOWLEDGE && lst == QVIRTIO_S_ACKNOWLEDGE,
          "virtio-pci legacy and modern status shared", "modern %#x legacy %#x", st, lst);
    bool ok = qvirtio_negotiate(d, QVIRTIO_BIT(QVIRTIO_F_VERSION_1));
    CHECK(t, ok, "virtio-pci FEATURES_OK with VERSION_1", "status %#x", qvirtio_get_status(d));
    qvirtio_reset(d);
    CHECK(t, qvirtio_get_status(d) == 0, "virtio-pci reset clears status", "status %#x",
          qvirtio_get_status(d));
}

/* Set up queue 0 on vector 1 (config on vector 0) and return ready. */
static bool setup_queue(QVirtioDev *d, QVirtQueue *vq, uint16_t vector)
{
    if (!qvirtio_negotiate(d, QVIRTIO_BIT(QVIRTIO_F_VERSION_1)))
        return false;
    if (vector != 0xffff)
        qvirtio_msix_config(d, 0);
    if (!qvirtqueue_setup(d, vq, 0, 0, vector))
        return false;
    qvirtio_driver_ok(d);
    return true;
}

static void read_sector(QVirtQueue *vq)
{
    QVirtioBlkReq r;
    qvirtio_blk_prepare(vq, &r, QVIRTIO_BLK_T_IN, 0, NULL, 512, false);
    qvirtqueue_kick(vq);
}

static void test_msix(const QTarget *t, QVirtioDev *d)
{
    QVirtQueue vq;
    if (!CHECK(t, setup_queue(d, &vq, 1), "virtio-pci msix queue setup", "status %#x",
               qvirtio_get_status(d)))
        return;
    CHECK(t, vq.vector == 1 && d->config_vector == 0, "virtio-pci msix vectors read back",
          "queue %#x config %#x", vq.vector, d->config_vector);

    /* Plain delivery. */
    read_sector(&vq);
    bool used = qvirtqueue_wait_used(&vq, NULL, NULL, QOS_TIMEOUT_MS);
    bool fired = qvirtqueue_wait_msix(&vq, QOS_TIMEOUT_MS);
    CHECK(t, used && fired, "virtio-pci msix message delivered", "used %d msg %d", used, fired);

    /* Masked vector: the PBA bit instead of a message (PCI 3.0, 6.8.2.9). */
    qpci_msix_mask(&d->pci, 1, true);
    read_sector(&vq);
    used = qvirtqueue_wait_used(&vq, NULL, NULL, QOS_TIMEOUT_MS);
    usleep(20000);
    fired = qvirtqueue_msix_fired(&vq);
    bool pending = qpci_msix_pending(&d->pci, 1);
    CHECK(t, used && !fired && pending, "virtio-pci msix masked sets pba",
          "used %d msg %d pending %d", used, fired, pending);
    qpci_msix_mask(&d->pci, 1, false);
    fired = qvirtqueue_wait_msix(&vq, QOS_TIMEOUT_MS);
    pending = qpci_msix_pending(&d->pci, 1);
    CHECK(t, fired && !pending, "virtio-pci msix unmask delivers pending",
          "msg %d pending %d", fired, pending);

    /* Function mask: same, for every vector at once. */
    qpci_msix_function_mask(&d->pci, true);
    read_sector(&vq);
    used = qvirtqueue_wait_used(&vq, NULL, NULL, QOS_TIMEOUT_MS);
    usleep(20000);
    fired = qvirtqueue_msix_fired(&vq);
    pending = qpci_msix_pending(&d->pci, 1);
    CHECK(t, used && !fired && pending, "virtio-pci msix function mask holds message",
          "used %d msg %d pending %d", used, fired, pending);
    qpci_msix_function_mask(&d->pci, false);
    fired = qvirtqueue_wait_msix(&vq, QOS_TIMEOUT_MS);
    pending = qpci_msix_pending(&d->pci, 1);
    CHECK(t, fired && !pending, "virtio-pci msix function unmask delivers",
          "msg %d pending %d", fired, pending);
}

/* One request whose completion should (not) send the queue's message. */
static bool completion_fires(QVirtQueue *vq, bool *used)
{
    read_sector(vq);
    *used = qvirtqueue_wait_used(vq, NULL, NULL, QOS_TIMEOUT_MS);
    usleep(20000);
    return qvirtqueue_msix_fired(vq);
}

/* Driver-side interrupt suppression (virtio 1.2, 2.7.7 and 2.7.10). */
static void test_suppression(const QTarget *t, QVirtioDev *d)
{
    QVirtQueue vq;
    bool used, fired;

    if (!qvirtio_negotiate(d, QVIRTIO_BIT(QVIRTIO_F_VERSION_1)) ||
        !qvirtqueue_setup(d, &vq, 0, 0, 1)) {
        CHECK(t, false, "virtio-pci suppression setup", "status %#x", qvirtio_get_status(d));
        return;
    }
    qvirtio_driver_ok(d);
    qvirtqueue_set_avail_flags(&vq, QVRING_AVAIL_F_NO_INTERRUPT);
    fired = completion_fires(&vq, &used);
    CHECK(t, used && !fired, "virtio-pci avail NO_INTERRUPT suppresses msix",
          "used %d msg %d", used, fired);
    qvirtqueue_set_avail_flags(&vq, 0);
    fired = completion_fires(&vq, &used);
    CHECK(t, used && fired, "virtio-pci avail flags cleared: msix again", "used %d msg %d",
          used, fired);

    bool ok = qvirtio_negotiate(d, QVIRTIO_BIT(QVIRTIO_F_VERSION_1) |
                                   QVIRTIO_BIT(QVIRTIO_F_EVENT_IDX));
    if (!CHECK(t, ok && (d->features & QVIRTIO_BIT(QVIRTIO_F_EVENT_IDX)) &&
               qvirtqueue_setup(d, &vq, 0, 0, 1), "virtio-pci event idx negotiated",
               "features %#llx", (unsigned long long)d->features))
        return;
    qvirtio_driver_ok(d);
    /*
     * Interrupt only when used->idx passes used_event.  The first
     * completion after a reset always interrupts (the device has not
     * signalled anything yet; QEMU and vmm agree), so it goes first.
     */
    qvirtqueue_set_used_event(&vq, vq.last_used_idx);
    fired = completion_fires(&vq, &used);
    CHECK(t, used && fired, "virtio-pci used_event reached sends msix", "used %d msg %d",
          used, fired);
    qvirtqueue_set_used_event(&vq, vq.last_used_idx + 5);
    fired = completion_fires(&vq, &used);
    CHECK(t, used && !fired, "virtio-pci used_event ahead suppresses msix", "used %d msg %d",
          used, fired);
    qvirtqueue_set_used_event(&vq, vq.last_used_idx);
    fired = completion_fires(&vq, &used);
    CHECK(t, used && fired, "virtio-pci used_event reached again sends msix",
          "used %d msg %d", used, fired);
}

struct irq_wait { unsigned irq; bool level; };

static bool irq_cond(QOSState *qs, void *opaque)
{
    struct irq_wait *w = opaque;
    return qpci_irq_level(qs->s, w->irq) == w->level;
}

static void test_intx(const QTarget *t, QVirtioDev *d)
{
    QVirtQueue vq;
    const unsigned irq = 11;

    qpci_msix_enable(&d->pci, false);
    if (!CHECK(t, setup_queue(d, &vq, 0xffff), "virtio-pci intx queue setup", "status %#x",
               qvirtio_get_status(d)))
        return;
    qpci_intx_route(&d->pci, irq);
    struct irq_wait up = { irq, true }, down = { irq, false };
    bool low_before = qos_wait(d->qs, irq_cond, &down, 100);
    read_sector(&vq);
    bool used = qvirtqueue_wait_used(&vq, NULL, NULL, QOS_TIMEOUT_MS);
    bool raised = qos_wait(d->qs, irq_cond, &up, QOS_TIMEOUT_MS);
    uint16_t status = qpci_config_readw(&d->pci, 0x06);
    CHECK(t, low_before && used && raised && (status & 0x08),
          "virtio-pci intx raised on used buffer", "low before %d used %d irq %u high %d "
          "pci status %#x", low_before, used, irq, raised, status);
    uint8_t isr = qvirtio_isr(d);
    bool lowered = qos_wait(d->qs, irq_cond, &down, QOS_TIMEOUT_MS);
    uint8_t isr2 = qvirtio_isr(d);
    CHECK(t, (isr & 1) && lowered && isr2 == 0, "virtio-pci isr read lowers intx",
          "isr %#x then %#x, low %d", isr, isr2, lowered);
}

static void test_transport(const QTarget *t)
{
    QOSState qs;
    QVirtioDev d;

    if (!start(&qs, t, "virtio-pci start", ""))
        return;
    test_identity(t, &qs);
    test_bars(t, &qs);
    if (CHECK(t, qvirtio_pci_init(&d, &qs, SLOT) && d.common.cap, "virtio-pci bind",
              "no modern virtio device at slot %d", SLOT)) {
        test_caps(t, &d);
        test_decode(t, &d);
        test_bar_move(t, &d);
        test_features(t, &d);
        test_msix(t, &d);
        test_suppression(t, &d);
        test_intx(t, &d);
    }
    CHECK(t, !qtest_broken(qs.s), "virtio-pci connection", "%s", qtest_broken(qs.s));
    qos_quit(&qs);
}

/* Two devices without addr= get distinct free slots. */
static void test_slots(const QTarget *t)
{
    QOSState qs;
    if (!qos_start(&qs, t, "virtio-pci slots start",
                   "-drive file=%s,if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0 "
                   "-drive file=%s,if=none,id=d1,format=raw -device virtio-blk-pci,drive=d1",
                   img, img2))
        return;
    int a = qpci_find_slot(&qs.bus, 0x1af4, 0x1001, 0);
    int b = a >= 0 ? qpci_find_slot(&qs.bus, 0x1af4, 0x1001, a + 1) : -1;
    CHECK(t, a >= 2 && b > a, "virtio-pci next free slot", "slots %d and %d", a, b);
    qos_quit(&qs);
}

/*
 * A modern-only device (disable-legacy=on) must refuse FEATURES_OK without
 * VERSION_1 (virtio 1.2, 6.1: "A driver MUST accept VIRTIO_F_VERSION_1 if
 * it is offered" and 7.2 device requirements).  QEMU 7.2 only validates
 * features when VERSION_1 was negotiated, so it accepts: vmm only.
 */
static void test_modern_only(const QTarget *t)
{
    QOSState qs;
    QVirtioDev d;

    if (!start(&qs, t, "virtio-pci modern-only start", ",disable-legacy=on"))
        return;
    QPCIDevice p;
    qpci_device_init(&p, &qs.bus, SLOT, 0);
    uint32_t id = qpci_config_readl(&p, 0);
    uint64_t bar0 = qpci_bar_probe(&p, 0);
    CHECK(t, id == 0x10421af4 && bar0 == 0, "virtio-pci modern-only id 1af4:1042, no bar0",
          "id %08x bar0 size %#llx", id, (unsigned long long)bar0);
    if (qvirtio_pci_init(&d, &qs, SLOT) && d.common.cap) {
        if (t->is_qemu) {
            qtest_skip(t, "virtio-pci FEATURES_OK refused without VERSION_1",
                       "QEMU 7.2 validates features only with VERSION_1");
        } else {
            bool ok = qvirtio_negotiate(&d, ~QVIRTIO_BIT(QVIRTIO_F_VERSION_1));
            CHECK(t, !ok, "virtio-pci FEATURES_OK refused without VERSION_1", "status %#x",
                  qvirtio_get_status(&d));
        }
        bool ok = qvirtio_negotiate(&d, QVIRTIO_BIT(QVIRTIO_F_VERSION_1));
        CHECK(t, ok, "virtio-pci modern-only FEATURES_OK with VERSION_1", "status %#x",
              qvirtio_get_status(&d));
    } else {
        CHECK(t, false, "virtio-pci modern-only bind", "no modern caps");
    }
    qos_quit(&qs);
}

static void run(const QTarget *t)
{
    test_transport(t);
    test_slots(t);
    test_modern_only(t);
}

int main(void)
{
    img = qos_make_image(IMG_SIZE);
    img2 = qos_make_image(IMG_SIZE);
    if (!img || !img2) {
        printf("not ok - virtio-pci image: cannot create\n");
        return 1;
    }
    int rc = qtest_run_targets(run);
    unlink(img);
    unlink(img2);
    free(img);
    free(img2);
    return rc;
}
