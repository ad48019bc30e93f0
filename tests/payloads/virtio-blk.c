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
 *   bars=move  move the BARs to VIRTIO_FALLBACK_MMIO even when assigned
 *       (tests the no-firmware path under QEMU).
 *
 * Patterns (bench/blk.sh and tests/payloads/lib/virtio-blk.sh check them):
 *   guest-written: every 8 bytes at disk byte offset o (o % 8 == 0) hold
 *       le32 (o / 512) then le32 (seed ^ o).
 *   host-written (last MiB of the disk): byte at disk offset o is
 *       (o * 7 + 3) & 0xff.
 *
 * BARs: lib/virtio.h (unassigned or 64-bit BARs above 4 GiB are moved).
 *
 * Memory (guest RAM >= 128 MiB): rings and request headers at 16 MiB, data
 * buffers from 32 MiB (qd * 1 MiB).  Timing: rdtsc converted to ns with
 * the kvmclock (pvclock) multiplier, available under vmm and QEMU alike.
 */
#include "virtio.h"

#define NAME "virtio-blk"

#define VIRTIO_BLK_TRANSITIONAL 0x1001
#define VIRTIO_BLK_MODERN 0x1042

/* MSI-X capability (PCI Local Bus Spec 3.0, 6.8.2): message control, table offset/BIR */
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

#define F_BLK_FLUSH 9           /* 5.2.3 */

/* 5.2.6: virtio-blk requests */
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_S_OK 0
#define SECTOR 512u

#define MIB (1024u * 1024u)
#define RING_BASE (16u * MIB)
#define DATA_BASE (32u * MIB)
#define MAX_QD 32u
#define DESC_PER_REQ 3u

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
    uintptr_t notify;                   /* queue 0's notification address */
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

static struct virtio_pci vp = { .name = NAME };
static struct blkdev blk;

static void negotiate_features(void)
{
    uint64_t offered = virtio_device_features(&vp);
    uint64_t want = 1ull << VIRTIO_F_VERSION_1;
    blk.has_flush = offered & (1ull << F_BLK_FLUSH);
    if (blk.has_flush)
        want |= 1ull << F_BLK_FLUSH;
    virtio_accept_features(&vp, want);
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
    if (!vp.msix_cap)
        fail(NAME, "irq=msix: the device has no MSI-X capability");
    unsigned cap = vp.msix_cap;
    uint16_t ctrl = pci_read16(0, vp.dev, 0, cap + MSIX_CTRL);
    pci_write16(0, vp.dev, 0, cap + MSIX_CTRL, ctrl | MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
    uint32_t tbl = pci_read32(0, vp.dev, 0, cap + MSIX_TABLE);
    uintptr_t entry0 = virtio_pci_bar_address(&vp, tbl & MSIX_BIR_MASK) + (tbl & ~MSIX_BIR_MASK);
    mmio_write32(entry0 + MSIX_ENTRY_ADDR_LO, MSI_ADDR_BASE | lapic_id() << MSI_ADDR_DEST_SHIFT);
    mmio_write32(entry0 + MSIX_ENTRY_ADDR_HI, 0);
    mmio_write32(entry0 + MSIX_ENTRY_DATA, BLK_IRQ_VECTOR);
    mmio_write32(entry0 + MSIX_ENTRY_CTRL, 0);
    pci_write16(0, vp.dev, 0, cap + MSIX_CTRL, (ctrl | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_FMASK);
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
    blk.qsize = virtio_queue_size(&vp, 0, DESC_PER_REQ * 2);
    memset((void *)RING_BASE, 0, 0x5000);
    blk.desc = (volatile struct vring_desc *)DESC_ADDR;
    blk.avail = (volatile struct vring_avail *)AVAIL_ADDR;
    blk.used = (volatile struct vring_used *)USED_ADDR;
    blk.hdr = (volatile struct blk_req_hdr *)HDR_ADDR;
    blk.status = (volatile uint8_t *)STATUS_ADDR;
    blk.avail->flags = irq_msix ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
    blk.notify = virtio_queue_enable(&vp, 0, blk.qsize, irq_msix ? 0 : VIRTIO_NO_VECTOR,
                                     DESC_ADDR, AVAIL_ADDR, USED_ADDR);
}

static void device_init(void)
{
    virtio_reset(&vp);
    negotiate_features();
    if (irq_msix)
        msix_setup();
    virtio_set_config_vector(&vp, VIRTIO_NO_VECTOR);
    setup_queue();
    virtio_driver_ok(&vp);
    /* 5.2.4: capacity is a le64 at offset 0 of the device configuration. */
    blk.capacity = (uint64_t)mmio_read32(vp.device + 4) << 32 | mmio_read32(vp.device);
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
                                       sizeof(struct blk_req_hdr), VRING_DESC_F_NEXT, d + 1 };
    if (type == BLK_T_FLUSH) {
        blk.desc[d].next = d + 2;
    } else {
        uint16_t flags = VRING_DESC_F_NEXT | (type == BLK_T_IN ? VRING_DESC_F_WRITE : 0);
        blk.desc[d + 1] = (struct vring_desc){ buf, len, flags, d + 2 };
    }
    blk.desc[d + 2] = (struct vring_desc){ STATUS_ADDR + s, 1, VRING_DESC_F_WRITE, 0 };
    blk.avail->ring[blk.avail_idx & (blk.qsize - 1)] = d;
    blk.avail_idx++;
}

/* Publish the new avail entries and kick unless the device said not to. */
static void kick(void)
{
    barrier();
    blk.avail->idx = blk.avail_idx;
    full_barrier();
    if (!(blk.used->flags & VRING_USED_F_NO_NOTIFY))
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

static void bench_setup(void)
{
    bench.qd = cmdline_option(NAME, "qd", 32, 1, MAX_QD);
    if (bench.qd * DESC_PER_REQ > blk.qsize)
        fail(NAME, "qd=%u needs %u descriptors, queue has %u", bench.qd,
             bench.qd * DESC_PER_REQ, blk.qsize);
    uint64_t disk_mib = blk.capacity * SECTOR / MIB;
    if (disk_mib == 0)
        fail(NAME, "disk smaller than 1 MiB");
    bench.mib = cmdline_option(NAME, "mib", disk_mib < 1024 ? (uint32_t)disk_mib : 1024, 1,
                               1u << 24);
    bench.ios = cmdline_option(NAME, "ios", 20000, 1, 100000000);
    bench.secs = cmdline_option(NAME, "secs", 10, 1, 3600);
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
        verify(cmdline_option(NAME, "mib", 8, 1, 4096));
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
    seed = cmdline_option(NAME, "seed", 0x5eed, 0, 0xffffffffu);
    reqs_n = cmdline_option(NAME, "n", 1000, 1, 100000000);
    char bars[8] = "";
    cmdline_get_str(boot_cmdline(), "bars", bars, sizeof(bars));
    vp.force_move = strcmp(bars, "move") == 0;
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
    tsc_clock_init(NAME);
    if (!virtio_pci_find(&vp, VIRTIO_BLK_TRANSITIONAL, VIRTIO_BLK_MODERN))
        fail(NAME, "no virtio-blk PCI function (1af4:1001/1042) on bus 0");
    virtio_pci_find_capabilities(&vp);
    device_init();
    printf(NAME ": 00:%02x.0, %llu sectors, queue size %u, flush %s, notify at 0x%x, %s\n",
           vp.dev, blk.capacity, blk.qsize, blk.has_flush ? "yes" : "no", blk.notify,
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
