/*
 * The virtio PCI transport through the guest's view: IDs, capabilities and
 * BARs as QEMU lays them out, the modern common config, ISR and notify
 * registers, the legacy I/O interface, the PCI_CFG access window, INTx and
 * MSI-X interrupts, ioeventfd registration, and the -device properties.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake-hw.h"
#include "hw.h"
#include "pci.h"
#include "unit.h"
#include "util.h"
#include "virtio.h"

#define DEVFN PCI_DEVFN(4, 0)
#define IO_BASE 0xc000
#define MSIX_BASE 0xfebf0000ULL
#define MODERN_BASE 0xfe000000ULL
#define RAM_SIZE (1024 * 1024)
#define QSIZE 16

static VirtIODevice vdev;
static uint8_t *ram;
static unsigned handler_runs[2], set_config_calls, resets_seen;
static uint64_t msi_data_seen;
static unsigned msi_sends;

static uint64_t dev_get_features(VirtIODevice *d) { return 1ULL << 5; }
static void dev_get_config(VirtIODevice *d) { d->config[0] = 0x5a; }
static void dev_set_config(VirtIODevice *d, unsigned off, unsigned len) { set_config_calls++; }
static void dev_reset(VirtIODevice *d) { resets_seen++; }

static const VirtIODeviceOps ops = {
    .name = "virtio-test", .device_id = VIRTIO_ID_BLOCK, .get_features = dev_get_features,
    .get_config = dev_get_config, .set_config = dev_set_config, .reset = dev_reset,
};

static void handler(VirtIODevice *d, VirtQueue *vq)
{
    handler_runs[vq->index]++;
}

static void fake_msi(void *opaque, uint64_t addr, uint32_t data)
{
    msi_sends++;
    msi_data_seen = data;
}

static int irq_route(void *opaque, uint8_t devfn, uint8_t pin)
{
    return 11;
}

static PCIDevice *pdev(void) { return virtio_pci_device(&vdev); }
static uint32_t cfg_rd(unsigned off, unsigned len) { return pci_config_read(0, DEVFN, off, len); }
static void cfg_wr(unsigned off, unsigned len, uint32_t v) { pci_config_write(0, DEVFN, off, v, len); }

static uint64_t mm_rd(uint64_t off, unsigned size)
{
    uint64_t v = 0;
    as_read(&mmio_space, MODERN_BASE + off, size, &v);
    return v;
}

static void mm_wr(uint64_t off, unsigned size, uint64_t v)
{
    as_write(&mmio_space, MODERN_BASE + off, size, v);
}

static uint64_t io_rd(uint64_t off, unsigned size) { return pio_in(IO_BASE + off, size); }
static void io_wr(uint64_t off, unsigned size, uint64_t v) { pio_out(IO_BASE + off, size, v); }

static void setup_cfg(const VirtioPciConfig *cfg)
{
    static const MsiBackend msi = { .send = fake_msi };
    fake_hw_setup();
    msi_set_backend(&msi);
    if (!ram)
        ram = xzalloc(RAM_SIZE);
    memset(ram, 0, RAM_SIZE);
    guest_ram_clear();
    guest_ram_add(0, RAM_SIZE, ram);
    ck_assert_int_eq(pci_bus_init(), 0);
    pci_set_irq_router(irq_route, NULL);
    memset(handler_runs, 0, sizeof(handler_runs));
    set_config_calls = resets_seen = msi_sends = 0;
    /* Devices live as long as the VM: keep the last ones reachable (for
     * LeakSanitizer) when a test sets up more than once. */
    static VirtIODevice kept[16];
    static unsigned nkept;
    kept[nkept++ % ARRAY_SIZE(kept)] = vdev;
    memset(&vdev, 0, sizeof(vdev));
    virtio_init(&vdev, &ops, "virtio-test-pci.0", 8, NULL);
    virtio_add_queue(&vdev, QSIZE, handler);
    virtio_add_queue(&vdev, QSIZE, handler);
    ck_assert_int_eq(virtio_pci_create(&vdev, cfg), 0);
    /* What firmware would do. */
    if (pdev()->bars[0].size)
        cfg_wr(0x10, 4, IO_BASE);
    if (pdev()->bars[1].size)
        cfg_wr(0x14, 4, MSIX_BASE);
    if (pdev()->bars[4].size) {
        cfg_wr(0x20, 4, (uint32_t)MODERN_BASE);
        cfg_wr(0x24, 4, 0);
    }
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void setup(void)
{
    VirtioPciConfig cfg = { .devfn = DEVFN, .vectors = 3, .class_code = 0x0100 };
    setup_cfg(&cfg);
}

/* Capability of cfg_type type: its config offset, or 0. */
static unsigned find_vendor_cap(uint8_t type)
{
    for (unsigned c = cfg_rd(PCI_CAPABILITY_LIST, 1), n = 0; c && n < 48; c = cfg_rd(c + 1, 1), n++)
        if (cfg_rd(c, 1) == 0x09 && cfg_rd(c + 3, 1) == type)
            return c;
    return 0;
}

/* The modern driver's handshake up to FEATURES_OK. */
static void modern_negotiate(void)
{
    mm_wr(0x14, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    mm_wr(0x08, 4, 0);
    mm_wr(0x0c, 4, 1u << 5 | 1u << VIRTIO_F_RING_EVENT_IDX);
    mm_wr(0x08, 4, 1);
    mm_wr(0x0c, 4, 1);   /* VERSION_1 */
    mm_wr(0x14, 1, 0x0b);
    ck_assert_uint_eq(mm_rd(0x14, 1), 0x0b);
}

static void modern_queue(unsigned q, uint64_t base)
{
    mm_wr(0x16, 2, q);
    mm_wr(0x20, 4, base);
    mm_wr(0x24, 4, 0);
    mm_wr(0x28, 4, base + 0x1000);
    mm_wr(0x2c, 4, 0);
    mm_wr(0x30, 4, base + 0x2000);
    mm_wr(0x34, 4, 0);
    mm_wr(0x1c, 2, 1);
}

/* Put one used element on queue q (the device side) and notify. */
static void complete_one(unsigned q)
{
    VirtQueueElement *e = xzalloc(sizeof(*e));
    virtqueue_push(&vdev.vq[q], e, 0);
    virtio_notify(&vdev, &vdev.vq[q]);
    free(e);
}

/* ---- tests ---- */

START_TEST(ids_caps_and_bars)
{
    setup();
    ck_assert_uint_eq(cfg_rd(0, 4), 0x10011af4);
    ck_assert_uint_eq(cfg_rd(PCI_REVISION_ID, 1), 0);
    ck_assert_uint_eq(cfg_rd(PCI_CLASS_DEVICE, 2), 0x0100);
    ck_assert_uint_eq(cfg_rd(PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00021af4);
    ck_assert_uint_eq(cfg_rd(PCI_INTERRUPT_PIN, 1), 1);
    ck_assert_uint_eq(pdev()->bars[0].size, 32);          /* 24 + 8, rounded */
    ck_assert_uint_eq(pdev()->bars[1].size, 4096);
    ck_assert_uint_eq(pdev()->bars[4].size, 0x4000);
    ck_assert_uint_eq(pdev()->bars[4].flags, PCI_BAR_MEM64 | PCI_BAR_PREFETCH);
    static const uint8_t expect[][3] = {   /* offset, type, region offset >> 12 */
        { 0x40, 1, 0 }, { 0x50, 3, 1 }, { 0x60, 4, 2 }, { 0x70, 2, 3 }, { 0x84, 5, 0 },
    };
    for (unsigned i = 0; i < ARRAY_SIZE(expect); i++) {
        unsigned c = find_vendor_cap(expect[i][1]);
        ck_assert_uint_eq(c, expect[i][0]);
        if (expect[i][1] != 5) {
            ck_assert_uint_eq(cfg_rd(c + 4, 1), 4);
            ck_assert_uint_eq(cfg_rd(c + 8, 4), expect[i][2] << 12);
            ck_assert_uint_eq(cfg_rd(c + 12, 4), 0x1000);
        }
    }
    ck_assert_uint_eq(cfg_rd(0x70 + 2, 1), 20);
    ck_assert_uint_eq(cfg_rd(0x70 + 16, 4), 4);
    ck_assert_uint_eq(cfg_rd(0x84 + 1, 1), 0x98);
    ck_assert_uint_eq(cfg_rd(0x98, 1), PCI_CAP_ID_MSIX);
    ck_assert_uint_eq(cfg_rd(0x98 + 2, 2), 2);
}
END_TEST

START_TEST(transitional_ids_follow_the_spec_table)
{
    static const uint16_t ids[][2] = { { VIRTIO_ID_NET, 0x1000 }, { VIRTIO_ID_BLOCK, 0x1001 },
                                       { VIRTIO_ID_BALLOON, 0x1002 } };
    for (unsigned i = 0; i < ARRAY_SIZE(ids); i++) {
        static VirtIODeviceOps o[ARRAY_SIZE(ids)];
        static VirtIODevice d[ARRAY_SIZE(ids)];   /* all kept: devices are never freed */
        o[i] = ops;
        o[i].device_id = ids[i][0];
        fake_hw_setup();
        ck_assert_int_eq(pci_bus_init(), 0);
        virtio_init(&d[i], &o[i], "virtio-id-test", 4, NULL);
        VirtioPciConfig cfg = { .devfn = DEVFN };
        ck_assert_int_eq(virtio_pci_create(&d[i], &cfg), 0);
        ck_assert_uint_eq(cfg_rd(PCI_DEVICE_ID, 2), ids[i][1]);
        ck_assert_uint_eq(cfg_rd(PCI_SUBSYSTEM_ID, 2), ids[i][0]);
    }
}
END_TEST

START_TEST(modern_only_and_legacy_only)
{
    VirtioPciConfig cfg = { .devfn = DEVFN, .disable_legacy = true, .class_code = 0x0100 };
    setup_cfg(&cfg);
    ck_assert_uint_eq(cfg_rd(0, 4), 0x10421af4);
    ck_assert_uint_eq(cfg_rd(PCI_REVISION_ID, 1), 1);
    ck_assert_uint_eq(cfg_rd(PCI_SUBSYSTEM_ID, 2), 0x1100);
    ck_assert_uint_eq(pdev()->bars[0].size, 0);
    ck_assert_uint_eq(pdev()->bars[1].size, 0);      /* vectors=0 */
    ck_assert(!msix_present(pdev()));

    cfg = (VirtioPciConfig){ .devfn = DEVFN, .disable_modern = true, .class_code = 0x0100 };
    setup_cfg(&cfg);
    ck_assert_uint_eq(cfg_rd(0, 4), 0x10011af4);
    ck_assert_uint_eq(pdev()->bars[4].size, 0);
    ck_assert_uint_eq(pdev()->bars[0].size, 32);     /* 20 + 8 */
    ck_assert_uint_eq(cfg_rd(PCI_CAPABILITY_LIST, 1), 0);
    ck_assert(!(vdev.host_features & 1ULL << VIRTIO_F_VERSION_1));

    cfg.disable_legacy = true;
    ck_assert_int_eq(virtio_pci_create(&vdev, &cfg), -1);
}
END_TEST

START_TEST(common_config_registers)
{
    setup();
    mm_wr(0x00, 4, 0);
    ck_assert_uint_eq(mm_rd(0x04, 4), 1u << 5 | 1u << 28 | 1u << 29);
    mm_wr(0x00, 4, 1);
    ck_assert_uint_eq(mm_rd(0x04, 4), 1);
    mm_wr(0x00, 4, 2);
    ck_assert_uint_eq(mm_rd(0x04, 4), 0);
    ck_assert_uint_eq(mm_rd(0x12, 2), 2);
    /* Queue size: power of 2 up to the maximum, while disabled. */
    mm_wr(0x16, 2, 1);
    ck_assert_uint_eq(mm_rd(0x18, 2), QSIZE);
    ck_assert_uint_eq(mm_rd(0x1e, 2), 1);
    mm_wr(0x18, 2, 12);
    mm_wr(0x18, 2, 32);
    ck_assert_uint_eq(mm_rd(0x18, 2), QSIZE);
    mm_wr(0x18, 2, 8);
    ck_assert_uint_eq(mm_rd(0x18, 2), 8);
    /* Vectors beyond the table read back as NO_VECTOR. */
    mm_wr(0x1a, 2, 2);
    ck_assert_uint_eq(mm_rd(0x1a, 2), 2);
    mm_wr(0x1a, 2, 3);
    ck_assert_uint_eq(mm_rd(0x1a, 2), VIRTIO_NO_VECTOR);
    mm_wr(0x10, 2, 7);
    ck_assert_uint_eq(mm_rd(0x10, 2), VIRTIO_NO_VECTOR);
    mm_wr(0x10, 2, 0);
    ck_assert_uint_eq(mm_rd(0x10, 2), 0);
    /* A queue past the last reads as size 0. */
    mm_wr(0x16, 2, 2);
    ck_assert_uint_eq(mm_rd(0x18, 2), 0);
    ck_assert_uint_eq(mm_rd(0x1a, 2), VIRTIO_NO_VECTOR);
    ck_assert_uint_eq(mm_rd(0x1e, 2), 2);
    mm_wr(0x18, 2, 4);
    /* Addresses, enable, and no changes once enabled. */
    modern_queue(0, 0x10000);
    ck_assert_uint_eq(mm_rd(0x20, 4), 0x10000);
    ck_assert_uint_eq(mm_rd(0x30, 4), 0x12000);
    ck_assert_uint_eq(mm_rd(0x1c, 2), 1);
    mm_wr(0x20, 4, 0x40000);
    ck_assert_uint_eq(vdev.vq[0].desc, 0x10000);
    /* Device config space. */
    ck_assert_uint_eq(mm_rd(0x2000, 1), 0x5a);
    mm_wr(0x2004, 4, 0x11223344);
    ck_assert_uint_eq(mm_rd(0x2004, 4), 0x11223344);
    ck_assert_uint_eq(set_config_calls, 1);
    mm_wr(0x2006, 4, 1);                       /* runs past the end */
    ck_assert_uint_eq(set_config_calls, 1);
    ck_assert_uint_eq(mm_rd(0x2008, 4), 0xffffffff);
}
END_TEST

START_TEST(feature_negotiation_and_reset)
{
    setup();
    mm_wr(0x14, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    mm_wr(0x08, 4, 0);
    mm_wr(0x0c, 4, 1u << 5);
    mm_wr(0x14, 1, 0x0b);                      /* no VERSION_1: refused */
    ck_assert_uint_eq(mm_rd(0x14, 1), 0x03);
    modern_negotiate();
    ck_assert(virtio_has_feature(&vdev, VIRTIO_F_RING_EVENT_IDX));
    mm_wr(0x08, 4, 0);
    mm_wr(0x0c, 4, 0);                         /* too late: ignored */
    ck_assert(virtio_has_feature(&vdev, 5));
    modern_queue(0, 0x10000);
    mm_wr(0x14, 1, 0x0f);
    /* Status 0 resets the device. */
    mm_wr(0x14, 1, 0);
    ck_assert_uint_eq(resets_seen, 1);
    ck_assert_uint_eq(mm_rd(0x14, 1), 0);
    ck_assert_uint_eq(mm_rd(0x1c, 2), 0);
    ck_assert_uint_eq(vdev.guest_features, 0);
    /* So does a system reset. */
    pci_bus_reset();
    ck_assert_uint_eq(resets_seen, 2);
}
END_TEST

START_TEST(notify_and_intx)
{
    setup();
    modern_negotiate();
    modern_queue(0, 0x10000);
    modern_queue(1, 0x20000);
    mm_wr(0x14, 1, 0x0f);
    mm_wr(0x3004, 2, 1);
    ck_assert_uint_eq(handler_runs[1], 1);
    mm_wr(0x3000, 2, 0);
    ck_assert_uint_eq(handler_runs[0], 1);
    /* Without MSI-X the interrupt is INTx, cleared by reading the ISR. */
    complete_one(0);
    ck_assert_int_eq(irq_levels[11], 1);
    ck_assert_uint_eq(mm_rd(0x1000, 1), VIRTIO_ISR_QUEUE);
    ck_assert_int_eq(irq_levels[11], 0);
    ck_assert_uint_eq(mm_rd(0x1000, 1), 0);
    virtio_notify_config(&vdev);
    ck_assert_int_eq(irq_levels[11], 1);
    ck_assert_uint_eq(mm_rd(0x1000, 1), VIRTIO_ISR_CONFIG);
    ck_assert_uint_eq(mm_rd(0x15, 1), 1);      /* config_generation */
}
END_TEST

START_TEST(msix_interrupts)
{
    setup();
    modern_negotiate();
    modern_queue(0, 0x10000);
    mm_wr(0x16, 2, 0);
    mm_wr(0x1a, 2, 1);
    mm_wr(0x10, 2, 0);
    mm_wr(0x14, 1, 0x0f);
    cfg_wr(0x98 + 2, 2, 0x8000);               /* MSI-X enable */
    as_write(&mmio_space, MSIX_BASE + 16 + 8, 4, 0x51);
    as_write(&mmio_space, MSIX_BASE + 16 + 0, 4, 0xfee00000);
    as_write(&mmio_space, MSIX_BASE + 16 + 12, 4, 0);
    as_write(&mmio_space, MSIX_BASE + 0 + 8, 4, 0x50);
    as_write(&mmio_space, MSIX_BASE + 0 + 0, 4, 0xfee00000);
    as_write(&mmio_space, MSIX_BASE + 0 + 12, 4, 0);
    complete_one(0);
    ck_assert_uint_eq(msi_sends, 1);
    ck_assert_uint_eq(msi_data_seen, 0x51);
    ck_assert_int_eq(irq_levels[11], 0);
    virtio_notify_config(&vdev);
    ck_assert_uint_eq(msi_sends, 2);
    ck_assert_uint_eq(msi_data_seen, 0x50);
    /* NO_VECTOR: nothing at all, not even INTx. */
    mm_wr(0x1a, 2, VIRTIO_NO_VECTOR);
    complete_one(0);
    ck_assert_uint_eq(msi_sends, 2);
    ck_assert_int_eq(irq_levels[11], 0);
}
END_TEST

START_TEST(legacy_interface)
{
    setup();
    ck_assert_uint_eq(io_rd(0x00, 4), 1u << 5 | 0x79000000);
    io_wr(0x12, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    io_wr(0x04, 4, 1u << 5 | 1u << 27 | 1u << 30);
    ck_assert_uint_eq(io_rd(0x04, 4), 1u << 5 | 1u << 27);
    io_wr(0x0e, 2, 1);
    ck_assert_uint_eq(io_rd(0x0c, 2), QSIZE);
    io_wr(0x08, 4, 0x30);
    ck_assert_uint_eq(io_rd(0x08, 4), 0x30);
    VirtQueue *vq = &vdev.vq[1];
    ck_assert(vq->enabled);
    ck_assert_uint_eq(vq->desc, 0x30000);
    ck_assert_uint_eq(vq->avail, 0x30000 + 16 * QSIZE);
    ck_assert_uint_eq(vq->used, 0x31000);
    io_wr(0x12, 1, 0x07);
    io_wr(0x10, 2, 1);
    ck_assert_uint_eq(handler_runs[1], 1);
    complete_one(1);
    ck_assert_int_eq(irq_levels[11], 1);
    ck_assert_uint_eq(io_rd(0x13, 1), VIRTIO_ISR_QUEUE);
    ck_assert_int_eq(irq_levels[11], 0);
    /* Device config at 20, or at 24 once MSI-X is on. */
    ck_assert_uint_eq(io_rd(20, 1), 0x5a);
    cfg_wr(0x98 + 2, 2, 0x8000);
    ck_assert_uint_eq(io_rd(24, 1), 0x5a);
    io_wr(0x16, 2, 2);
    ck_assert_uint_eq(io_rd(0x16, 2), 2);
    ck_assert_uint_eq(vq->vector, 2);
    io_wr(0x14, 2, 9);
    ck_assert_uint_eq(io_rd(0x14, 2), VIRTIO_NO_VECTOR);
    /* PFN 0 turns the queue off; status 0 resets. */
    io_wr(0x08, 4, 0);
    ck_assert(!vq->enabled);
    io_wr(0x12, 1, 0);
    ck_assert_uint_eq(resets_seen, 1);
}
END_TEST

START_TEST(pci_cfg_window)
{
    setup();
    unsigned c = 0x84;
    cfg_wr(c + 4, 1, 4);
    cfg_wr(c + 8, 4, 0x12);                    /* num_queues */
    cfg_wr(c + 12, 4, 2);
    ck_assert_uint_eq(cfg_rd(c + 16, 2), 2);
    cfg_wr(c + 8, 4, 0x16);                    /* queue_select */
    cfg_wr(c + 16, 2, 1);
    ck_assert_uint_eq(mm_rd(0x16, 2), 1);
    cfg_wr(c + 8, 4, 0x18);
    ck_assert_uint_eq(cfg_rd(c + 16, 2), QSIZE);
    /* Misaligned, bad lengths and other BARs do nothing. */
    cfg_wr(c + 8, 4, 0x17);
    cfg_wr(c + 16, 2, 0);
    ck_assert_uint_eq(mm_rd(0x16, 2), 1);
    cfg_wr(c + 8, 4, 0x16);
    cfg_wr(c + 12, 4, 3);
    cfg_wr(c + 16, 4, 0);
    cfg_wr(c + 4, 1, 2);
    cfg_wr(c + 12, 4, 2);
    cfg_wr(c + 16, 2, 0);
    ck_assert_uint_eq(mm_rd(0x16, 2), 1);
}
END_TEST

/* ---- ioeventfd registration ---- */

static struct { bool pio; uint64_t addr; unsigned len; bool has_match; uint64_t match; int fd; }
    evs[16];
static unsigned nevs;

static int fake_ioeventfd(void *opaque, bool pio, uint64_t addr, unsigned len, bool has_match,
                          uint64_t match, int fd, bool assign)
{
    if (assign) {
        ck_assert_uint_lt(nevs, ARRAY_SIZE(evs));
        evs[nevs++] = (typeof(evs[0])){ pio, addr, len, has_match, match, fd };
        return 0;
    }
    for (unsigned i = 0; i < nevs; i++)
        if (evs[i].pio == pio && evs[i].addr == addr && evs[i].fd == fd) {
            evs[i] = evs[--nevs];
            return 0;
        }
    return -1;
}

static bool ev_has(bool pio, uint64_t addr, uint64_t match)
{
    for (unsigned i = 0; i < nevs; i++)
        if (evs[i].pio == pio && evs[i].addr == addr && evs[i].len == 2 &&
            (!pio || (evs[i].has_match && evs[i].match == match)))
            return true;
    return false;
}

START_TEST(ioeventfds_follow_queues_and_bars)
{
    static const IoeventfdBackend be = { .assign = fake_ioeventfd };
    ck_assert_int_eq(main_loop_init(), 0);
    ioeventfd_set_backend(&be);
    nevs = 0;
    VirtioPciConfig cfg = { .devfn = DEVFN, .vectors = 3, .ioeventfd = true };
    setup_cfg(&cfg);
    modern_negotiate();
    ck_assert_uint_eq(nevs, 0);
    modern_queue(1, 0x20000);
    ck_assert_uint_eq(nevs, 2);
    ck_assert(ev_has(false, MODERN_BASE + 0x3004, 0));
    ck_assert(ev_has(true, IO_BASE + 0x10, 1));
    ck_assert_int_ge(vdev.vq[1].kick_fd, 0);
    /* The guest moves BAR4. */
    cfg_wr(0x20, 4, 0xfd000000);
    ck_assert_uint_eq(nevs, 2);
    ck_assert(ev_has(false, 0xfd000000ULL + 0x3004, 0));
    /* Memory decoding off: only the I/O one is left. */
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_IO);
    ck_assert_uint_eq(nevs, 1);
    ck_assert(ev_has(true, IO_BASE + 0x10, 1));
    /* Reset drops it all. */
    mm_wr(0x14, 1, 0);                         /* not decoded: nothing happens */
    ck_assert_int_ge(vdev.vq[1].kick_fd, 0);
    cfg_wr(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    ck_assert_uint_eq(nevs, 2);
    as_write(&mmio_space, 0xfd000000ULL + 0x14, 1, 0);
    ck_assert_uint_eq(nevs, 0);
    ck_assert_int_eq(vdev.vq[1].kick_fd, -1);
    ioeventfd_set_backend(NULL);
}
END_TEST

START_TEST(parse_options)
{
    char err[128];
    VirtioPciConfig cfg = { .devfn = -1, .vectors = 2, .ioeventfd = true };
    Opts *o = opts_parse("addr=5.2,vectors=4,disable-legacy=on,ioeventfd=off", NULL, err,
                         sizeof(err));
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(virtio_pci_parse_opts(o, "test", &cfg), 0);
    ck_assert_int_eq(cfg.devfn, PCI_DEVFN(5, 2));
    ck_assert_uint_eq(cfg.vectors, 4);
    ck_assert(cfg.disable_legacy);
    ck_assert(!cfg.ioeventfd);
    ck_assert_ptr_null(opts_first_unused(o));
    opts_free(o);

    static const char *bad[] = {
        "vectors=2049", "vectors=x", "disable-legacy=maybe", "ioeventfd=2", "addr=40",
        "disable-legacy=on,disable-modern=on",
    };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        VirtioPciConfig c = { .devfn = -1 };
        o = opts_parse(bad[i], NULL, err, sizeof(err));
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(virtio_pci_parse_opts(o, "test", &c), -1);
        opts_free(o);
    }
    cfg = (VirtioPciConfig){ .devfn = 7, .disable_legacy = true };
    o = opts_parse("disable-legacy=auto", NULL, err, sizeof(err));
    ck_assert_int_eq(virtio_pci_parse_opts(o, "test", &cfg), 0);
    ck_assert(!cfg.disable_legacy);
    ck_assert_int_eq(cfg.devfn, 7);
    opts_free(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("virtio-pci");
    UNIT_TEST(s, ids_caps_and_bars);
    UNIT_TEST(s, transitional_ids_follow_the_spec_table);
    UNIT_TEST(s, modern_only_and_legacy_only);
    UNIT_TEST(s, common_config_registers);
    UNIT_TEST(s, feature_negotiation_and_reset);
    UNIT_TEST(s, notify_and_intx);
    UNIT_TEST(s, msix_interrupts);
    UNIT_TEST(s, legacy_interface);
    UNIT_TEST(s, pci_cfg_window);
    UNIT_TEST(s, ioeventfds_follow_queues_and_bars);
    UNIT_TEST(s, parse_options);
    return unit_run(s);
}
