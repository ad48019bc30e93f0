/*
 * virtio-blk: a virtio-blk driver over the modern (virtio 1.2) PCI
 * transport, one split virtqueue.  By default it polls the used ring; with
 * irq=msix it waits for MSI-X interrupts instead.  Finds 1af4:1001
 * (transitional) or 1af4:1042 (modern-only) on bus 0.
 *
 * -append options:
 *   mode=verify (default)  write a pattern over mib=N MiB (default 8) from
 *       sector 0, flush, read it back and compare; then read the last MiB of
 *       the disk, which the host filled beforehand, and compare.  PASS.
 *   mode=bench  at CPL3, qd=N requests in flight (default 32): sequential
 *       1 MiB reads and writes over mib=N MiB (default 1024, at most the
 *       disk), then ios=N (default 20000) 4 KiB reads at random sectors;
 *       each phase also stops after secs=N seconds (default 10).  Prints
 *       "BLK seq_read_MBps=R seq_write_MBps=W rand_read_iops=I" (MB = 10^6
 *       bytes), then PASS.
 *   mode=reqs  at CPL3, n=N (default 1000) 4 KiB reads one after the other
 *       (queue depth 1), sequential from sector 0 and wrapping within the
 *       first MiB.  Prints "REQS n=N ns_per_req=T irqs=I", then PASS.
 *       tests/integration/virtio-fastpath.sh counts the VMM's KVM_RUN
 *       returns around it: with ioeventfd kicks and irqfd interrupts a
 *       request costs no exit to userspace.
 *   irq=msix  (any mode) program MSI-X table entry 0 (message address
 *       0xfee00000 | LAPIC id << 12, data 0x41: fixed delivery, edge) for
 *       queue 0, enable MSI-X and the LAPIC, and after each kick wait until
 *       the interrupt handler has counted an interrupt before reading the
 *       used ring.  Interrupts are only enabled at CPL3 (protected-mode iret
 *       fails on the PVM host, README.md), so the mode body then runs at
 *       CPL3, where hlt is privileged: the wait polls the handler's counter.
 *       Prints "virtio-blk: I MSI-X interrupts for R requests"; no
 *       interrupt at all (or none within 60 s of a kick) fails.
 *   seed=N  the pattern seed (default 0x5eed).
 *   bars=move  move the BARs to FALLBACK_MMIO even when assigned (tests the
 *       no-firmware path under QEMU).
 *
 * Patterns (bench/blk.sh and tests/payloads/lib/virtio-blk.sh check them):
 *   guest-written: every 8 bytes at disk byte offset o (o % 8 == 0) hold
 *       le32 (o / 512) then le32 (seed ^ o).
 *   host-written (last MiB of the disk): byte at disk offset o is
 *       (o * 7 + 3) & 0xff.
 *
 * BARs: under QEMU SeaBIOS assigns them; under vmm the VMM assigns them
 * before a direct boot.  If the notify/common BAR still reads 0, or lies
 * above 4 GiB (this payload runs without paging), it is moved to
 * FALLBACK_MMIO here.
 *
 * Memory (guest RAM >= 128 MiB): rings and request headers at 16 MiB, data
 * buffers from 32 MiB (qd * 1 MiB).  Timing: rdtsc converted to ns with
 * the kvmclock (pvclock) multiplier, available under vmm and QEMU alike.
 */
#include "payload.h"

#define NAME "virtio-blk"

/* ---- PCI (PCI Local Bus Spec 3.0, 6.1, 6.2.5, 6.7) ---- */
#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_BLK_TRANSITIONAL 0x1001
#define VIRTIO_BLK_MODERN 0x1042
#define PCI_COMMAND 0x04
#define PCI_CMD_MEMORY 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
/* MSI-X capability (6.8.2): message control, table offset/BIR */
#define MSIX_CTRL 2
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FMASK 0x4000
#define MSIX_TABLE 4
#define MSIX_BIR_MASK 0x7u
/* MSI-X table entry (6.8.2.6-9) and the x86 message format (SDM vol. 3, 10.11) */
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_CTRL 12
#define MSI_ADDR_BASE 0xfee00000u
#define MSI_ADDR_DEST_SHIFT 12
#define BLK_IRQ_VECTOR 0x41
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_SVR_ENABLE 0x100
#define FALLBACK_MMIO 0xe0000000u

/* ---- virtio 1.2, 4.1.4: PCI capabilities, common configuration ---- */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_NOTIFY_MULT 16

#define COMMON_DFSELECT 0x00
#define COMMON_DF 0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF 0x0c
#define COMMON_MSIX 0x10
#define COMMON_STATUS 0x14
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE 0x18
#define COMMON_Q_MSIX 0x1a
#define COMMON_Q_ENABLE 0x1c
#define COMMON_Q_NOFF 0x1e
#define COMMON_Q_DESC 0x20
#define COMMON_Q_AVAIL 0x28
#define COMMON_Q_USED 0x30

#define S_ACKNOWLEDGE 0x01
#define S_DRIVER 0x02
#define S_DRIVER_OK 0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40
#define S_FAILED 0x80
#define NO_VECTOR 0xffff

#define F_BLK_FLUSH 9           /* 5.2.3 */
#define F_VERSION_1 32          /* 6 */

/* 2.7.5 / 2.7.6 / 2.7.8: split virtqueue */
#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define AVAIL_F_NO_INTERRUPT 1
#define USED_F_NO_NOTIFY 1

/* 5.2.6: virtio-blk requests */
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_S_OK 0
#define SECTOR 512u

#define MIB (1024u * 1024u)
#define RING_BASE (16u * MIB)
#define DATA_BASE (32u * MIB)
#define QUEUE_MAX 256u
#define MAX_QD 32u
#define DESC_PER_REQ 3u

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
} PACKED;

struct vring_avail {
    uint16_t flags, idx;
    uint16_t ring[QUEUE_MAX];
} PACKED;

struct vring_used_elem {
    uint32_t id, len;
} PACKED;

struct vring_used {
    uint16_t flags, idx;
    struct vring_used_elem ring[QUEUE_MAX];
} PACKED;

struct blk_req_hdr {
    uint32_t type, reserved;
    uint64_t sector;
} PACKED;

/* Ring memory at RING_BASE: each part on its own page. */
#define DESC_ADDR (RING_BASE)
#define AVAIL_ADDR (RING_BASE + 0x1000u)
#define USED_ADDR (RING_BASE + 0x2000u)
#define HDR_ADDR (RING_BASE + 0x3000u)
#define STATUS_ADDR (RING_BASE + 0x4000u)

struct blkdev {
    unsigned dev;                       /* PCI slot on bus 0, function 0 */
    uintptr_t common, notify, device;   /* MMIO addresses */
    unsigned msix_cap;                  /* config offset, 0 if none */
    uint32_t notify_mult;               /* 4.1.4.4 notify_off_multiplier */
    uint64_t capacity;                  /* sectors */
    bool has_flush;
    uint16_t qsize;
    uint16_t avail_idx, used_idx;       /* driver's shadow indices */
    volatile struct vring_desc *desc;
    volatile struct vring_avail *avail;
    volatile struct vring_used *used;
    volatile struct blk_req_hdr *hdr;   /* one per slot */
    volatile uint8_t *status;           /* one per slot */
};

static struct blkdev blk;

static inline void mmio_write16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline uint16_t mmio_read16(uintptr_t a) { return *(volatile uint16_t *)a; }
static inline void mmio_write64(uintptr_t a, uint64_t v)
{
    /* 4.1.3.1: 64-bit fields may be written as two 32-bit halves, low first. */
    mmio_write32(a, (uint32_t)v);
    mmio_write32(a + 4, (uint32_t)(v >> 32));
}
#define barrier() __asm__ volatile("" ::: "memory")
/* Order the avail->idx store before the used->flags load (2.7.13.4). */
static inline void full_barrier(void) { __asm__ volatile("lock; orl $0, (%%esp)" ::: "memory"); }

/* ---- time: rdtsc scaled by the pvclock multiplier (Linux pvclock-abi.h) ---- */
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
struct pvclock_vcpu_time_info {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags, pad[2];
} PACKED;
static volatile struct pvclock_vcpu_time_info pvti __attribute__((aligned(64)));
static uint32_t tsc_mul;
static int tsc_shift;

static void clock_init(void)
{
    uint32_t r[4];
    cpuid_count(0x40000000, 0, r);
    if (r[0] < 0x40000001)
        fail(NAME, "no KVM paravirtual CPUID leaves for the TSC rate");
    cpuid_count(0x40000001, 0, r);
    if (!(r[0] & (1u << 3)))
        fail(NAME, "no KVM_FEATURE_CLOCKSOURCE2 for the TSC rate");
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint32_t)(uintptr_t)&pvti | 1);
    for (int i = 0; i < 1000000 && (pvti.version == 0 || (pvti.version & 1)); i++)
        cpu_relax();
    tsc_mul = pvti.tsc_to_system_mul;
    tsc_shift = pvti.tsc_shift;
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
    if (tsc_mul == 0)
        fail(NAME, "kvmclock gave no TSC multiplier");
}

/* ns = ((cycles << shift) * mul) >> 32, shift negative meaning right. */
static uint64_t cycles_to_ns(uint64_t c)
{
    if (tsc_shift >= 0)
        c <<= tsc_shift;
    else
        c >>= -tsc_shift;
    uint64_t lo = (uint64_t)(uint32_t)c * tsc_mul;
    uint64_t hi = (c >> 32) * tsc_mul;
    return hi + (lo >> 32);
}

static uint64_t ns_since(uint64_t tsc0) { return cycles_to_ns(rdtsc() - tsc0); }

/* ---- PCI discovery and BARs ---- */
static bool find_device(void)
{
    for (unsigned d = 0; d < 32; d++) {
        uint32_t id = pci_read32(0, d, 0, 0);
        if ((id & 0xffff) == VIRTIO_VENDOR &&
            ((id >> 16) == VIRTIO_BLK_TRANSITIONAL || (id >> 16) == VIRTIO_BLK_MODERN)) {
            blk.dev = d;
            return true;
        }
    }
    return false;
}

/* Size of memory BAR bar (6.2.5.1: write all ones, read back the mask). */
static uint32_t bar_size(unsigned bar)
{
    unsigned off = PCI_BAR0 + 4 * bar;
    uint32_t old = pci_read32(0, blk.dev, 0, off);
    pci_write32(0, blk.dev, 0, off, 0xffffffff);
    uint32_t mask = pci_read32(0, blk.dev, 0, off) & ~0xfu;
    pci_write32(0, blk.dev, 0, off, old);
    return mask ? ~mask + 1 : 0;
}

/* "bars=move" moves every BAR we use, to test the fallback under QEMU too. */
static bool force_move;
static unsigned moved;

/* Guest-physical address of memory BAR bar, moved below 4 GiB if needed. */
static uint32_t bar_address(unsigned bar)
{
    if (bar > 5)
        fail(NAME, "capability names BAR %u", bar);
    unsigned off = PCI_BAR0 + 4 * bar;
    uint32_t lo = pci_read32(0, blk.dev, 0, off);
    if (lo & 1)
        fail(NAME, "BAR %u is an I/O BAR, expected memory", bar);
    bool is64 = (lo & 0x6) == 0x4;
    uint32_t hi = is64 && bar < 5 ? pci_read32(0, blk.dev, 0, off + 4) : 0;
    if ((lo & ~0xfu) != 0 && hi == 0 && !(force_move && !(moved & (1u << bar))))
        return lo & ~0xfu;
    moved |= 1u << bar;
    uint32_t size = bar_size(bar);
    printf(NAME ": BAR%u at 0x%x%08x (size 0x%x): moving it to 0x%x\n",
           bar, hi, lo & ~0xfu, size, FALLBACK_MMIO);
    pci_write32(0, blk.dev, 0, off, FALLBACK_MMIO);
    if (is64)
        pci_write32(0, blk.dev, 0, off + 4, 0);
    return FALLBACK_MMIO;
}

/* Walk the vendor capabilities (virtio 1.2, 4.1.4) for the three we use. */
static void find_capabilities(void)
{
    if (!(pci_read16(0, blk.dev, 0, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        fail(NAME, "no capability list");
    uint32_t notify_mult = 0;
    unsigned ptr = pci_read8(0, blk.dev, 0, PCI_CAP_PTR) & 0xfc;
    for (unsigned n = 0; ptr && n < 48; n++) {
        if (pci_read8(0, blk.dev, 0, ptr) == PCI_CAP_ID_MSIX)
            blk.msix_cap = ptr;
        if (pci_read8(0, blk.dev, 0, ptr) == PCI_CAP_ID_VNDR) {
            unsigned type = pci_read8(0, blk.dev, 0, ptr + CAP_CFG_TYPE);
            unsigned bar = pci_read8(0, blk.dev, 0, ptr + CAP_BAR);
            uint32_t offset = pci_read32(0, blk.dev, 0, ptr + CAP_OFFSET);
            if (type == VIRTIO_PCI_CAP_COMMON_CFG && !blk.common)
                blk.common = bar_address(bar) + offset;
            else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && !blk.notify) {
                blk.notify = bar_address(bar) + offset;
                notify_mult = pci_read32(0, blk.dev, 0, ptr + CAP_NOTIFY_MULT);
            } else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && !blk.device)
                blk.device = bar_address(bar) + offset;
        }
        ptr = pci_read8(0, blk.dev, 0, ptr + 1) & 0xfc;
    }
    if (!blk.common || !blk.notify || !blk.device)
        fail(NAME, "missing virtio capabilities (common 0x%x notify 0x%x device 0x%x)",
             blk.common, blk.notify, blk.device);
    blk.notify_mult = notify_mult;
}

/* ---- device initialization (virtio 1.2, 3.1.1) ---- */
static void set_status(uint8_t s) { mmio_write8(blk.common + COMMON_STATUS, s); }
static uint8_t get_status(void) { return mmio_read8(blk.common + COMMON_STATUS); }

static uint64_t device_features(void)
{
    mmio_write32(blk.common + COMMON_DFSELECT, 0);
    uint64_t lo = mmio_read32(blk.common + COMMON_DF);
    mmio_write32(blk.common + COMMON_DFSELECT, 1);
    return (uint64_t)mmio_read32(blk.common + COMMON_DF) << 32 | lo;
}

static void negotiate_features(void)
{
    uint64_t offered = device_features();
    if (!(offered & (1ull << F_VERSION_1)))
        fail(NAME, "device does not offer VIRTIO_F_VERSION_1 (features 0x%llx)", offered);
    uint64_t want = 1ull << F_VERSION_1;
    blk.has_flush = offered & (1ull << F_BLK_FLUSH);
    if (blk.has_flush)
        want |= 1ull << F_BLK_FLUSH;
    mmio_write32(blk.common + COMMON_GFSELECT, 0);
    mmio_write32(blk.common + COMMON_GF, (uint32_t)want);
    mmio_write32(blk.common + COMMON_GFSELECT, 1);
    mmio_write32(blk.common + COMMON_GF, (uint32_t)(want >> 32));
    set_status(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    if (!(get_status() & S_FEATURES_OK))
        fail(NAME, "device refused features 0x%llx", want);
}

/* ---- MSI-X (irq=msix) ---- */
static bool irq_msix;
static volatile uint32_t irq_count;     /* bumped by the handler at CPL0 */
static uint32_t irq_seen;               /* irq_count at the last wait */
static uint64_t requests_done;

static void blk_irq(struct regs *r)
{
    (void)r;
    irq_count++;
    lapic_write(LAPIC_EOI, 0);
}

/*
 * Enable MSI-X with the function masked, point table entry 0 at our LAPIC
 * with BLK_IRQ_VECTOR, unmask (PCI 3.0, 6.8.2.3/6.8.3.4), then enable the
 * LAPIC (SVR, SDM vol. 3, 10.9) and install the handler.
 */
static void msix_setup(void)
{
    if (!blk.msix_cap)
        fail(NAME, "irq=msix: the device has no MSI-X capability");
    unsigned cap = blk.msix_cap;
    uint16_t ctrl = pci_read16(0, blk.dev, 0, cap + MSIX_CTRL);
    pci_write16(0, blk.dev, 0, cap + MSIX_CTRL, ctrl | MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
    uint32_t tbl = pci_read32(0, blk.dev, 0, cap + MSIX_TABLE);
    uintptr_t entry0 = bar_address(tbl & MSIX_BIR_MASK) + (tbl & ~MSIX_BIR_MASK);
    mmio_write32(entry0 + MSIX_ENTRY_ADDR_LO, MSI_ADDR_BASE | lapic_id() << MSI_ADDR_DEST_SHIFT);
    mmio_write32(entry0 + MSIX_ENTRY_ADDR_HI, 0);
    mmio_write32(entry0 + MSIX_ENTRY_DATA, BLK_IRQ_VECTOR);
    mmio_write32(entry0 + MSIX_ENTRY_CTRL, 0);
    pci_write16(0, blk.dev, 0, cap + MSIX_CTRL, (ctrl | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_FMASK);
    cpu_tables_init();
    set_irq_handler(BLK_IRQ_VECTOR, blk_irq);
    lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | 0xff);
    printf(NAME ": MSI-X table at 0x%x, entry 0 -> LAPIC %u vector 0x%x\n",
           entry0, lapic_id(), BLK_IRQ_VECTOR);
}

/*
 * irq=msix: wait (at CPL3, interrupts on) until the handler has counted an
 * interrupt since the last wait.  The snapshot comes before the caller reads
 * the used ring, so a completion whose interrupt was already counted is seen.
 */
static void wait_irq(void)
{
    uint64_t t0 = rdtsc();
    while (irq_count == irq_seen) {
        if (ns_since(t0) > 60000000000ull)
            fail(NAME, "no MSI-X interrupt for 60 s (%u so far, %llu requests done)",
                 irq_seen, requests_done);
        cpu_relax();
    }
    irq_seen = irq_count;
}

/* Queue 0 at RING_BASE (4.1.5.1.3); MSI-X vector 0 with irq=msix, else none: we poll. */
static void setup_queue(void)
{
    mmio_write16(blk.common + COMMON_Q_SELECT, 0);
    uint16_t max = mmio_read16(blk.common + COMMON_Q_SIZE);
    if (max < DESC_PER_REQ * 2)
        fail(NAME, "queue 0 size %u too small", max);
    blk.qsize = max < QUEUE_MAX ? max : QUEUE_MAX;
    if (blk.qsize & (blk.qsize - 1))
        fail(NAME, "queue size %u is not a power of 2", blk.qsize);
    memset((void *)RING_BASE, 0, 0x5000);
    blk.desc = (volatile struct vring_desc *)DESC_ADDR;
    blk.avail = (volatile struct vring_avail *)AVAIL_ADDR;
    blk.used = (volatile struct vring_used *)USED_ADDR;
    blk.hdr = (volatile struct blk_req_hdr *)HDR_ADDR;
    blk.status = (volatile uint8_t *)STATUS_ADDR;
    blk.avail->flags = irq_msix ? 0 : AVAIL_F_NO_INTERRUPT;
    mmio_write16(blk.common + COMMON_Q_SIZE, blk.qsize);
    mmio_write16(blk.common + COMMON_MSIX, NO_VECTOR);
    uint16_t vector = irq_msix ? 0 : NO_VECTOR;
    mmio_write16(blk.common + COMMON_Q_MSIX, vector);
    /* 4.1.5.1.2.1: the device answers NO_VECTOR when it cannot map one. */
    if (mmio_read16(blk.common + COMMON_Q_MSIX) != vector)
        fail(NAME, "queue 0 MSI-X vector %u refused (reads 0x%x)", vector,
             mmio_read16(blk.common + COMMON_Q_MSIX));
    mmio_write64(blk.common + COMMON_Q_DESC, DESC_ADDR);
    mmio_write64(blk.common + COMMON_Q_AVAIL, AVAIL_ADDR);
    mmio_write64(blk.common + COMMON_Q_USED, USED_ADDR);
    uint16_t noff = mmio_read16(blk.common + COMMON_Q_NOFF);
    blk.notify += (uintptr_t)noff * blk.notify_mult;
    mmio_write16(blk.common + COMMON_Q_ENABLE, 1);
}

static void device_init(void)
{
    uint16_t cmd = pci_read16(0, blk.dev, 0, PCI_COMMAND);
    pci_write16(0, blk.dev, 0, PCI_COMMAND,
                cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE);
    set_status(0);
    for (int i = 0; i < 1000 && get_status() != 0; i++)
        cpu_relax();
    if (get_status() != 0)
        fail(NAME, "device did not reset (status 0x%x)", get_status());
    set_status(S_ACKNOWLEDGE);
    set_status(S_ACKNOWLEDGE | S_DRIVER);
    negotiate_features();
    if (irq_msix)
        msix_setup();
    setup_queue();
    set_status(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    uint8_t st = get_status();
    if (st & (S_FAILED | S_NEEDS_RESET))
        fail(NAME, "device status 0x%x after DRIVER_OK", st);
    /* 5.2.4: capacity is a le64 at offset 0 of the device configuration. */
    blk.capacity = (uint64_t)mmio_read32(blk.device + 4) << 32 | mmio_read32(blk.device);
}

/* ---- requests: slot s uses descriptors 3s (header), 3s+1 (data), 3s+2 (status) ---- */
static void prepare_slot(unsigned s, uint32_t type, uint64_t sector, uint32_t buf, uint32_t len)
{
    unsigned d = s * DESC_PER_REQ;
    blk.hdr[s].type = type;
    blk.hdr[s].reserved = 0;
    blk.hdr[s].sector = sector;
    blk.status[s] = 0xff;
    blk.desc[d] = (struct vring_desc){ HDR_ADDR + s * sizeof(struct blk_req_hdr),
                                       sizeof(struct blk_req_hdr), DESC_F_NEXT, d + 1 };
    if (type == BLK_T_FLUSH) {
        blk.desc[d].next = d + 2;
    } else {
        uint16_t flags = DESC_F_NEXT | (type == BLK_T_IN ? DESC_F_WRITE : 0);
        blk.desc[d + 1] = (struct vring_desc){ buf, len, flags, d + 2 };
    }
    blk.desc[d + 2] = (struct vring_desc){ STATUS_ADDR + s, 1, DESC_F_WRITE, 0 };
    blk.avail->ring[blk.avail_idx & (blk.qsize - 1)] = d;
    blk.avail_idx++;
}

/* Publish the new avail entries and kick unless the device said not to. */
static void kick(void)
{
    barrier();
    blk.avail->idx = blk.avail_idx;
    full_barrier();
    if (!(blk.used->flags & USED_F_NO_NOTIFY))
        mmio_write16(blk.notify, 0);
}

/*
 * Next completed slot, or -1 if none yet.  A used id that is not the head of
 * a slot we submitted means a broken device: fail.
 */
static int poll_used(unsigned nslots)
{
    if (blk.used->idx == blk.used_idx)
        return -1;
    barrier();
    uint32_t id = blk.used->ring[blk.used_idx & (blk.qsize - 1)].id;
    blk.used_idx++;
    if (id % DESC_PER_REQ || id / DESC_PER_REQ >= nslots)
        fail(NAME, "used ring returned descriptor %u", id);
    unsigned s = id / DESC_PER_REQ;
    requests_done++;
    if (blk.status[s] != BLK_S_OK)
        fail(NAME, "request type %u sector %llu: status %u", blk.hdr[s].type,
             blk.hdr[s].sector, blk.status[s]);
    return (int)s;
}

/* One request, waited for (up to ~60 s of TSC time at 2 GHz+). */
static void do_request(uint32_t type, uint64_t sector, uint32_t buf, uint32_t len)
{
    prepare_slot(0, type, sector, buf, len);
    kick();
    uint64_t t0 = rdtsc();
    for (;;) {
        if (irq_msix)
            wait_irq();
        if (poll_used(1) >= 0)
            break;
        if (rdtsc() - t0 > 120000000000ull)
            fail(NAME, "request type %u sector %llu: no completion", type, sector);
        cpu_relax();
    }
}

/* ---- mode=verify ---- */
static uint32_t seed = 0x5eed;

static void fill_pattern(uint32_t *buf, uint64_t disk_off, uint32_t len)
{
    for (uint32_t i = 0; i < len / 4; i += 2) {
        uint32_t o = (uint32_t)disk_off + i * 4;
        buf[i] = (uint32_t)(disk_off >> 9) + (i * 4 >> 9);
        buf[i + 1] = seed ^ o;
    }
}

static void check_pattern(const uint32_t *buf, uint64_t disk_off, uint32_t len)
{
    for (uint32_t i = 0; i < len / 4; i += 2) {
        uint32_t o = (uint32_t)disk_off + i * 4;
        uint32_t sec = (uint32_t)(disk_off >> 9) + (i * 4 >> 9);
        if (buf[i] != sec || buf[i + 1] != (seed ^ o))
            fail(NAME, "read back at byte 0x%llx: %08x %08x, expected %08x %08x",
                 disk_off + i * 4, buf[i], buf[i + 1], sec, seed ^ o);
    }
}

static void check_host_pattern(const uint8_t *buf, uint64_t disk_off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        uint8_t want = (uint8_t)((uint32_t)(disk_off + i) * 7 + 3);
        if (buf[i] != want)
            fail(NAME, "host data at byte 0x%llx: 0x%02x, expected 0x%02x",
                 disk_off + i, buf[i], want);
    }
}

static void verify(uint32_t mib)
{
    uint64_t bytes = blk.capacity * SECTOR;
    if (bytes < (uint64_t)(mib + 1) * MIB)
        fail(NAME, "disk of %llu bytes too small for mib=%u plus the host MiB", bytes, mib);
    for (uint32_t m = 0; m < mib; m++) {
        fill_pattern((uint32_t *)DATA_BASE, (uint64_t)m * MIB, MIB);
        do_request(BLK_T_OUT, (uint64_t)m * MIB / SECTOR, DATA_BASE, MIB);
    }
    if (blk.has_flush)
        do_request(BLK_T_FLUSH, 0, 0, 0);
    printf(NAME ": wrote %u MiB%s\n", mib, blk.has_flush ? " and flushed" : "");
    for (uint32_t m = 0; m < mib; m++) {
        memset((void *)DATA_BASE, 0, MIB);
        do_request(BLK_T_IN, (uint64_t)m * MIB / SECTOR, DATA_BASE, MIB);
        check_pattern((const uint32_t *)DATA_BASE, (uint64_t)m * MIB, MIB);
    }
    printf(NAME ": read back %u MiB, pattern ok\n", mib);
    uint64_t host_off = bytes - MIB;
    memset((void *)DATA_BASE, 0, MIB);
    do_request(BLK_T_IN, host_off / SECTOR, DATA_BASE, MIB);
    check_host_pattern((const uint8_t *)DATA_BASE, host_off, MIB);
    printf(NAME ": host pattern ok in the last MiB (byte 0x%llx)\n", host_off);
}

/* ---- mode=bench (runs at CPL3; no paging, so flat segments reach MMIO) ---- */
static struct {
    uint32_t qd, mib, ios, secs;
    uint64_t region_sectors;    /* sequential phases wrap within this */
    uint64_t seq_next;          /* next sequential sector */
    uint32_t random_slots;      /* 4 KiB blocks the random reads pick from */
    uint32_t rng;
} bench;

struct phase_result {
    uint64_t ios, bytes, ns;
};

/*
 * Sector of request n: sequential ones wrap within region_sectors; random
 * ones are len-aligned over the whole disk (Numerical Recipes LCG).  Plain
 * 32-bit arithmetic: this runs per request in the hot loop.
 */
static uint64_t next_sector(uint32_t len, bool random)
{
    uint32_t per_req = len / SECTOR;
    if (random) {
        bench.rng = bench.rng * 1664525u + 1013904223u;
        return (uint64_t)(bench.rng % bench.random_slots) * per_req;
    }
    uint64_t s = bench.seq_next;
    bench.seq_next += per_req;
    if (bench.seq_next + per_req > bench.region_sectors)
        bench.seq_next = 0;
    return s;
}

/*
 * Keep qd requests of len bytes in flight until max_ios were submitted or
 * max_ns passed, then wait for the rest.  Every batch of completions is
 * refilled and kicked once.
 */
static struct phase_result run_phase(uint32_t type, uint32_t len, bool random, uint64_t max_ios)
{
    uint64_t max_ns = (uint64_t)bench.secs * 1000000000ull;
    uint64_t submitted = 0, completed = 0;
    bool stop = false;
    bench.seq_next = 0;
    uint64_t t0 = rdtsc();
    for (unsigned s = 0; s < bench.qd && submitted < max_ios; s++, submitted++)
        prepare_slot(s, type, next_sector(len, random), DATA_BASE + s * MIB, len);
    kick();
    uint64_t idle_since = rdtsc();
    while (completed < submitted) {
        unsigned refilled = 0;
        int s;
        if (irq_msix)
            wait_irq();
        while ((s = poll_used(bench.qd)) >= 0) {
            completed++;
            if (stop || submitted >= max_ios)
                continue;
            prepare_slot((unsigned)s, type, next_sector(len, random),
                         DATA_BASE + (unsigned)s * MIB, len);
            submitted++;
            refilled++;
        }
        if (refilled) {
            kick();
            idle_since = rdtsc();
            if (!stop && ns_since(t0) > max_ns)
                stop = true;
        } else if (ns_since(idle_since) > 60000000000ull) {
            fail(NAME, "bench: no completion for 60 s (%llu of %llu done)", completed, submitted);
        }
    }
    if (type == BLK_T_OUT && blk.has_flush)
        do_request(BLK_T_FLUSH, 0, 0, 0);
    return (struct phase_result){ completed, completed * len, ns_since(t0) };
}

/* Print v/10 with one decimal. */
static void print_tenths(const char *key, uint64_t v10)
{
    uint64_t r;
    uint64_t q = udiv64(v10, 10, &r);
    printf(" %s=%llu.%llu", key, q, r);
}

static uint64_t mbps_x10(const struct phase_result *p)
{
    return p->ns ? udiv64(p->bytes * 10000, p->ns, NULL) : 0;
}

static void bench_run(void)
{
    uint64_t seq_ios = udiv64((uint64_t)bench.mib * MIB, MIB, NULL);
    struct phase_result rd = run_phase(BLK_T_IN, MIB, false, seq_ios);
    struct phase_result wr = run_phase(BLK_T_OUT, MIB, false, seq_ios);
    struct phase_result rr = run_phase(BLK_T_IN, 4096, true, bench.ios);
    printf("BLK qd=%u seq_read=%lluMiB/%llums seq_write=%lluMiB/%llums rand_read=%llu/%llums\n",
           bench.qd, rd.bytes >> 20, udiv64(rd.ns, 1000000, NULL), wr.bytes >> 20,
           udiv64(wr.ns, 1000000, NULL), rr.ios, udiv64(rr.ns, 1000000, NULL));
    printf("BLK");
    print_tenths("seq_read_MBps", mbps_x10(&rd));
    print_tenths("seq_write_MBps", mbps_x10(&wr));
    print_tenths("rand_read_iops", rr.ns ? udiv64(rr.ios * 10000000000ull, rr.ns, NULL) : 0);
    printf("\n");
}

static uint32_t option(const char *key, uint32_t def, uint32_t min, uint32_t max)
{
    uint64_t v;
    if (!cmdline_get_u64(boot_cmdline(), key, &v))
        return def;
    if (v < min || v > max)
        fail(NAME, "%s=%llu out of range %u-%u", key, v, min, max);
    return (uint32_t)v;
}

static void bench_setup(void)
{
    bench.qd = option("qd", 32, 1, MAX_QD);
    if (bench.qd * DESC_PER_REQ > blk.qsize)
        fail(NAME, "qd=%u needs %u descriptors, queue has %u", bench.qd,
             bench.qd * DESC_PER_REQ, blk.qsize);
    uint64_t disk_mib = blk.capacity * SECTOR / MIB;
    if (disk_mib == 0)
        fail(NAME, "disk smaller than 1 MiB");
    bench.mib = option("mib", disk_mib < 1024 ? (uint32_t)disk_mib : 1024, 1, 1u << 24);
    bench.ios = option("ios", 20000, 1, 100000000);
    bench.secs = option("secs", 10, 1, 3600);
    bench.region_sectors = (bench.mib < disk_mib ? bench.mib : disk_mib) * (MIB / SECTOR);
    bench.rng = seed;
    uint64_t blocks = blk.capacity / 8;
    bench.random_slots = blocks > 0xffffffffu ? 0xffffffffu : (uint32_t)blocks;
    if (bench.random_slots == 0)
        fail(NAME, "disk smaller than 4 KiB");
}

/* ---- mode=reqs: n 4 KiB reads at queue depth 1 ---- */
static uint32_t reqs_n;

static void reqs_run(void)
{
    uint64_t wrap = blk.capacity < MIB / SECTOR ? blk.capacity : MIB / SECTOR;
    if (wrap < 8)
        fail(NAME, "disk smaller than 4 KiB");
    uint64_t t0 = rdtsc(), sector = 0;
    for (uint32_t i = 0; i < reqs_n; i++) {
        do_request(BLK_T_IN, sector, DATA_BASE, 4096);
        sector += 8;
        if (sector + 8 > wrap)
            sector = 0;
    }
    uint64_t ns = ns_since(t0);
    printf("REQS n=%u ns_per_req=%llu irqs=%u\n", reqs_n, udiv64(ns, reqs_n, NULL), irq_count);
}

static char mode[16] = "verify";

static void run_mode(void)
{
    if (strcmp(mode, "verify") == 0)
        verify(option("mib", 8, 1, 4096));
    else if (strcmp(mode, "bench") == 0)
        bench_run();
    else
        reqs_run();
}

/* The mode body at CPL3, where interrupts may be on (see irq=msix). */
static void user_main(void)
{
    if (irq_msix)
        sti();
    run_mode();
    cli();
    user_return(0);
}

/* Options checked before the device is touched. */
static void parse_options(void)
{
    cmdline_get_str(boot_cmdline(), "mode", mode, sizeof(mode));
    if (strcmp(mode, "verify") && strcmp(mode, "bench") && strcmp(mode, "reqs"))
        fail(NAME, "unknown mode=%s (verify, bench, reqs)", mode);
    seed = option("seed", 0x5eed, 0, 0xffffffffu);
    reqs_n = option("n", 1000, 1, 100000000);
    char bars[8] = "";
    cmdline_get_str(boot_cmdline(), "bars", bars, sizeof(bars));
    force_move = strcmp(bars, "move") == 0;
    char irq[8] = "poll";
    cmdline_get_str(boot_cmdline(), "irq", irq, sizeof(irq));
    if (strcmp(irq, "msix") && strcmp(irq, "poll"))
        fail(NAME, "unknown irq=%s (poll, msix)", irq);
    irq_msix = strcmp(irq, "msix") == 0;
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail(NAME, "bad multiboot magic 0x%x", magic);
    parse_options();
    clock_init();
    if (!find_device())
        fail(NAME, "no virtio-blk PCI function (1af4:1001/1042) on bus 0");
    find_capabilities();
    device_init();
    printf(NAME ": 00:%02x.0, %llu sectors, queue size %u, flush %s, notify at 0x%x, %s\n",
           blk.dev, blk.capacity, blk.qsize, blk.has_flush ? "yes" : "no", blk.notify,
           irq_msix ? "MSI-X interrupts" : "polling");
    if (strcmp(mode, "bench") == 0)
        bench_setup();
    if (irq_msix || strcmp(mode, "verify") != 0) {
        if (!irq_msix)
            cpu_tables_init();      /* msix_setup() did it otherwise */
        run_user(user_main);
    } else {
        run_mode();
    }
    if (irq_msix) {
        printf(NAME ": %u MSI-X interrupts for %llu requests\n", irq_count, requests_done);
        if (irq_count == 0)
            fail(NAME, "irq=msix: no interrupt counted");
    }
    pass(NAME);
}
