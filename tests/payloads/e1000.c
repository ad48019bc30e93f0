/*
 * e1000: a polling driver for the Intel 82540EM (PCI 8086:100e) with legacy
 * receive and transmit descriptors, no interrupts (all masked through IMC).
 * Reference: PCI/PCI-X Family of Gigabit Ethernet Controllers Software
 * Developer's Manual (8254x SDM) rev. 4.0; sections cited below are its.
 *
 * Registers through BAR0 (128 KiB memory; no paging, so the flat CPL3
 * segments reach it as they reach the rings).  Every descriptor i points
 * at a fixed 2 KiB buffer i.  Receive: the guest hands the device all but
 * one descriptor (RDT = RDH - 1), polls the DD bit of the next one, and
 * gives a batch back with one RDT write.  Transmit: descriptors carry
 * EOP|IFCS|RS; the device sets DD when done, the guest reclaims in order.
 *
 * Same protocol as virtio-net.c, so the same peer (vnet_peer in
 * lib/virtio-net.sh) drives it: control frames of ethertype 0x88b5 with
 * "VNET READY" (guest, once receive buffers are posted), "VNET RXGO" and
 * "VNET STOP" (guest, bench), "VNET GO" (peer, go=1).
 *
 * -append options:
 *   mode=echo (default)  receive frames=N frames (default 16) and send each
 *       back with source and destination MAC swapped, then PASS.
 *   mode=bench  at CPL3: keep the transmit ring full of size=S byte frames
 *       (60-1514, default 1514) for secs=T seconds (default 3), print
 *       "E1000 tx_frames=F tx_fps=R tx_MBps=M tx_ms=T"; then (unless rx=0)
 *       RXGO, count the peer's frames for T seconds from the first, STOP,
 *       print "E1000 rx_frames=F rx_fps=R rx_MBps=M rx_ms=T"; then PASS.
 *   go=1  repeat READY every ~100 ms until the peer's GO.
 *
 * Memory (guest RAM >= 64 MiB): rings at 16 MiB, receive buffers at 32 MiB,
 * transmit buffers at 33 MiB.
 */
#include "payload.h"

#define NAME "e1000"

/* PCI */
#define E1000_ID 0x100e8086u
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_BAR0 0x10
#define BAR_FALLBACK 0xe0000000u        /* if nobody assigned BAR0 (128 KiB aligned) */

/* Registers (13.4) */
#define REG_CTRL 0x0000
#define REG_STATUS 0x0008
#define REG_IMC 0x00d8
#define REG_RCTL 0x0100
#define REG_TCTL 0x0400
#define REG_TIPG 0x0410
#define REG_RDBAL 0x2800
#define REG_RDBAH 0x2804
#define REG_RDLEN 0x2808
#define REG_RDH 0x2810
#define REG_RDT 0x2818
#define REG_TDBAL 0x3800
#define REG_TDBAH 0x3804
#define REG_TDLEN 0x3808
#define REG_TDH 0x3810
#define REG_TDT 0x3818
#define REG_RAL0 0x5400
#define REG_RAH0 0x5404
#define CTRL_SLU (1u << 6)
#define CTRL_RST (1u << 26)
#define STATUS_LU (1u << 1)
#define RCTL_EN (1u << 1)
#define RCTL_BAM (1u << 15)             /* accept broadcast */
#define RCTL_SECRC (1u << 26)           /* strip the FCS; BSIZE 00: 2048 bytes */
#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)              /* pad short packets */
#define TCTL_CT (0x0fu << 4)            /* collision threshold (13.4.33) */
#define TCTL_COLD (0x40u << 12)         /* full-duplex collision distance */
#define TIPG_8254X (10u | 8u << 10 | 6u << 20)   /* IEEE 802.3 values (13.4.34) */

/* Legacy descriptors (3.2.3, 3.3.3) */
struct rx_desc {
    uint64_t addr;
    uint16_t length, csum;
    uint8_t status, errors;
    uint16_t special;
} PACKED;
struct tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso, cmd, status, css;
    uint16_t special;
} PACKED;
#define RXD_DD 0x01
#define RXD_EOP 0x02
#define TXD_EOP 0x01
#define TXD_IFCS 0x02
#define TXD_RS 0x08
#define TXD_DD 0x01

/* Frames */
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_MIN 60
#define ETH_MAX 1514
#define ETHERTYPE_VNET 0x88b5           /* IEEE 802 local experimental */
#define BUF_SIZE 2048u

#define MIB (1024u * 1024u)
#define RING_N 256u                     /* descriptors per ring (4 KiB) */
#define RX_RING (16u * MIB)
#define TX_RING (16u * MIB + 0x10000u)
#define RX_BUFS (32u * MIB)
#define TX_BUFS (33u * MIB)
#define TIMEOUT_NS 60000000000ull

static struct {
    uintptr_t mmio;
    unsigned dev;
    uint8_t mac[ETH_ALEN];
    volatile struct rx_desc *rx;
    volatile struct tx_desc *tx;
    uint32_t rx_next;                   /* next descriptor the device fills */
    uint32_t tx_tail, tx_clean;         /* next to fill, oldest not reclaimed */
} nic;

static uint32_t reg_read(uint32_t off) { return mmio_read32(nic.mmio + off); }
static void reg_write(uint32_t off, uint32_t v) { mmio_write32(nic.mmio + off, v); }
static uint8_t *rx_buf(uint32_t i) { return (uint8_t *)(RX_BUFS + i * BUF_SIZE); }
static uint8_t *tx_buf(uint32_t i) { return (uint8_t *)(TX_BUFS + i * BUF_SIZE); }
#define barrier() __asm__ volatile("" ::: "memory")

/* ---- device setup ---- */

static void find_device(void)
{
    for (nic.dev = 0; nic.dev < 32; nic.dev++)
        if (pci_read32(0, nic.dev, 0, 0) == E1000_ID)
            break;
    if (nic.dev == 32)
        fail(NAME, "no 82540EM (8086:100e) on bus 0");
    uint32_t bar = pci_read32(0, nic.dev, 0, PCI_BAR0);
    if (bar & 1)
        fail(NAME, "BAR0 0x%x is not a memory BAR", bar);
    if ((bar & 0x6) == 0x4 && pci_read32(0, nic.dev, 0, PCI_BAR0 + 4))
        bar = 0;                        /* above 4 GiB: out of reach without paging */
    nic.mmio = bar & ~0xfu;
    if (nic.mmio == 0) {
        nic.mmio = BAR_FALLBACK;
        pci_write32(0, nic.dev, 0, PCI_BAR0, BAR_FALLBACK);
        if ((bar & 0x6) == 0x4)
            pci_write32(0, nic.dev, 0, PCI_BAR0 + 4, 0);
    }
    uint16_t cmd = pci_read16(0, nic.dev, 0, PCI_COMMAND);
    pci_write16(0, nic.dev, 0, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

/* Global reset (CTRL.RST self-clears, 13.4.1), interrupts masked, link up
 * (set link up, then wait up to 5 s for STATUS.LU: QEMU may autonegotiate). */
static void reset_device(void)
{
    reg_write(REG_CTRL, reg_read(REG_CTRL) | CTRL_RST);
    uint64_t t0 = rdtsc();
    while (reg_read(REG_CTRL) & CTRL_RST)
        if (ns_since(t0) > 1000000000ull)
            fail(NAME, "CTRL.RST did not clear within 1 s");
    reg_write(REG_IMC, 0xffffffffu);
    reg_write(REG_CTRL, reg_read(REG_CTRL) | CTRL_SLU);
    t0 = rdtsc();
    while (!(reg_read(REG_STATUS) & STATUS_LU))
        if (ns_since(t0) > 5000000000ull)
            fail(NAME, "link not up after 5 s (STATUS 0x%x)", reg_read(REG_STATUS));
    uint32_t lo = reg_read(REG_RAL0), hi = reg_read(REG_RAH0);
    for (unsigned i = 0; i < 4; i++)
        nic.mac[i] = (uint8_t)(lo >> (8 * i));
    nic.mac[4] = (uint8_t)hi;
    nic.mac[5] = (uint8_t)(hi >> 8);
}

/* Receive ring (14.4): every descriptor but one handed to the device. */
static void setup_rx(void)
{
    nic.rx = (volatile struct rx_desc *)RX_RING;
    for (uint32_t i = 0; i < RING_N; i++)
        nic.rx[i] = (struct rx_desc){ .addr = (uint32_t)rx_buf(i) };
    nic.rx_next = 0;
    reg_write(REG_RDBAL, RX_RING);
    reg_write(REG_RDBAH, 0);
    reg_write(REG_RDLEN, RING_N * sizeof(struct rx_desc));
    reg_write(REG_RDH, 0);
    reg_write(REG_RDT, RING_N - 1);
    reg_write(REG_RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
}

/* Transmit ring (14.5): empty (TDH == TDT). */
static void setup_tx(void)
{
    nic.tx = (volatile struct tx_desc *)TX_RING;
    for (uint32_t i = 0; i < RING_N; i++)
        nic.tx[i] = (struct tx_desc){ .addr = (uint32_t)tx_buf(i), .status = TXD_DD };
    nic.tx_tail = nic.tx_clean = 0;
    reg_write(REG_TDBAL, TX_RING);
    reg_write(REG_TDBAH, 0);
    reg_write(REG_TDLEN, RING_N * sizeof(struct tx_desc));
    reg_write(REG_TDH, 0);
    reg_write(REG_TDT, 0);
    reg_write(REG_TIPG, TIPG_8254X);
    reg_write(REG_TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD);
}

/* ---- transmit ---- */

static uint32_t tx_in_flight(void) { return (nic.tx_tail - nic.tx_clean) % RING_N; }

/* Reclaim the descriptors the device has written back, in order. */
static void tx_reclaim(void)
{
    while (nic.tx_clean != nic.tx_tail && (nic.tx[nic.tx_clean].status & TXD_DD))
        nic.tx_clean = (nic.tx_clean + 1) % RING_N;
}

/* Wait until fewer than max descriptors are in flight (60 s at most). */
static void tx_wait_below(uint32_t max)
{
    uint64_t t0 = rdtsc();
    for (tx_reclaim(); tx_in_flight() >= max; tx_reclaim()) {
        if (ns_since(t0) > TIMEOUT_NS)
            fail(NAME, "transmit ring stuck: %u in flight, TDH %u TDT %u", tx_in_flight(),
                 reg_read(REG_TDH), reg_read(REG_TDT));
        cpu_relax();
    }
}

/* Arm the descriptor at the tail for len bytes already in its buffer. */
static void tx_arm(uint32_t len)
{
    volatile struct tx_desc *d = &nic.tx[nic.tx_tail];
    d->length = (uint16_t)len;
    d->cmd = TXD_EOP | TXD_IFCS | TXD_RS;
    d->status = 0;
    nic.tx_tail = (nic.tx_tail + 1) % RING_N;
}

static void send_frame(const uint8_t *frame, uint32_t len)
{
    tx_wait_below(RING_N - 1);
    memcpy(tx_buf(nic.tx_tail), frame, len);
    tx_arm(len);
    barrier();
    reg_write(REG_TDT, nic.tx_tail);
}

/* A control frame "VNET <word>" to the broadcast address. */
static void send_control(const char *word)
{
    uint8_t f[ETH_MIN];
    memset(f, 0, sizeof(f));
    memset(f, 0xff, ETH_ALEN);
    memcpy(f + ETH_ALEN, nic.mac, ETH_ALEN);
    f[12] = ETHERTYPE_VNET >> 8;
    f[13] = ETHERTYPE_VNET & 0xff;
    memcpy(f + ETH_HLEN, "VNET ", 5);
    memcpy(f + ETH_HLEN + 5, word, strlen(word));
    send_frame(f, sizeof(f));
}

/* ---- receive ---- */

/* Length of the frame in descriptor i, checked: one descriptor per frame
 * (frames fit 2 KiB), no error bits, at least a MAC header. */
static uint32_t rx_len(uint32_t i)
{
    volatile struct rx_desc *d = &nic.rx[i];
    uint32_t len = d->length;
    if (!(d->status & RXD_EOP) || d->errors || len < ETH_HLEN || len > BUF_SIZE)
        fail(NAME, "rx descriptor %u: status 0x%02x errors 0x%02x length %u", i, d->status,
             d->errors, len);
    return len;
}

static bool rx_ready(void) { return nic.rx[nic.rx_next].status & RXD_DD; }

/* Hand the descriptor back (cleared) and move on; the caller writes RDT. */
static void rx_consume(void)
{
    nic.rx[nic.rx_next].status = 0;
    nic.rx_next = (nic.rx_next + 1) % RING_N;
}

/* Give every consumed descriptor back: RDT trails the next one by one. */
static void rx_give_back(void)
{
    barrier();
    reg_write(REG_RDT, (nic.rx_next + RING_N - 1) % RING_N);
}

/* ---- mode=echo ---- */

static void echo(uint32_t frames)
{
    static uint8_t f[ETH_MAX];
    uint64_t idle = rdtsc();
    for (uint32_t done = 0; done < frames;) {
        if (!rx_ready()) {
            if (ns_since(idle) > TIMEOUT_NS)
                fail(NAME, "echo: no frame for 60 s (%u of %u echoed)", done, frames);
            cpu_relax();
            continue;
        }
        barrier();
        uint32_t len = rx_len(nic.rx_next);
        if (len > ETH_MAX)
            fail(NAME, "echo: frame of %u bytes", len);
        const uint8_t *in = rx_buf(nic.rx_next);
        memcpy(f, in + ETH_ALEN, ETH_ALEN);
        memcpy(f + ETH_ALEN, in, ETH_ALEN);
        memcpy(f + 2 * ETH_ALEN, in + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
        rx_consume();
        rx_give_back();
        send_frame(f, len);
        done++;
        idle = rdtsc();
    }
    tx_wait_below(1);
    printf(NAME ": echoed %u frames\n", frames);
}

static uint32_t echo_frames;

static void echo_user(void)
{
    echo(echo_frames);
    user_return(0);
}

/* go=1: READY every ~100 ms until the peer's GO (60 s at most). */
static void wait_go(void)
{
    uint64_t t0 = rdtsc();
    for (;;) {
        send_control("READY");
        uint64_t t1 = rdtsc();
        while (ns_since(t1) < 100000000ull) {
            if (!rx_ready())
                continue;
            uint32_t len = rx_len(nic.rx_next);
            const uint8_t *f = rx_buf(nic.rx_next);
            bool go = len >= ETH_HLEN + 7 && f[12] == (ETHERTYPE_VNET >> 8) &&
                      f[13] == (ETHERTYPE_VNET & 0xff) && !memcmp(f + ETH_HLEN, "VNET GO", 7);
            rx_consume();
            rx_give_back();
            if (go)
                return;
        }
        if (ns_since(t0) > TIMEOUT_NS)
            fail(NAME, "go=1: no GO from the peer within 60 s");
    }
}

/* ---- mode=bench (CPL3) ---- */

static struct {
    uint32_t size, secs;
    bool rx;
} bench;

/* Every transmit buffer holds the same frame: to broadcast, "VNET TX". */
static void fill_tx_buffers(void)
{
    for (uint32_t i = 0; i < RING_N; i++) {
        uint8_t *f = tx_buf(i);
        memset(f, 0, bench.size);
        memset(f, 0xff, ETH_ALEN);
        memcpy(f + ETH_ALEN, nic.mac, ETH_ALEN);
        f[12] = ETHERTYPE_VNET >> 8;
        f[13] = ETHERTYPE_VNET & 0xff;
        memcpy(f + ETH_HLEN, "VNET TX", 7);
    }
}

/* Keep the transmit ring full for secs seconds (one TDT write per
 * refill), then let it drain. */
static void bench_tx(void)
{
    uint64_t max_ns = (uint64_t)bench.secs * 1000000000ull, sent = 0;
    uint64_t t0 = rdtsc();
    while (ns_since(t0) < max_ns) {
        tx_reclaim();
        uint32_t room = RING_N - 1 - tx_in_flight();
        if (!room)
            continue;
        for (uint32_t k = 0; k < room; k++)
            tx_arm(bench.size);
        barrier();
        reg_write(REG_TDT, nic.tx_tail);
        sent += room;
    }
    tx_wait_below(1);
    print_frame_rate("E1000", "tx", sent, bench.size, ns_since(t0));
}

/* Count the peer's flood for secs seconds from its first frame. */
static void bench_rx(void)
{
    uint64_t max_ns = (uint64_t)bench.secs * 1000000000ull, got = 0;
    send_control("RXGO");
    uint64_t t0 = rdtsc();
    while (!rx_ready())
        if (ns_since(t0) > TIMEOUT_NS)
            fail(NAME, "bench: no frame from the peer within 60 s of RXGO");
    uint32_t len = rx_len(nic.rx_next);
    if (len != bench.size)
        fail(NAME, "bench: peer frame of %u bytes, expected size=%u", len, bench.size);
    rx_consume();
    rx_give_back();
    t0 = rdtsc();
    while (ns_since(t0) < max_ns) {
        uint32_t n = 0;
        while (rx_ready() && n < RING_N - 1) {
            rx_consume();
            n++;
        }
        if (n) {
            got += n;
            rx_give_back();
        }
    }
    uint64_t ns = ns_since(t0);
    send_control("STOP");
    tx_wait_below(1);
    print_frame_rate("E1000", "rx", got, bench.size, ns);
}

static void bench_user(void)
{
    tx_wait_below(1);       /* READY may still sit in a buffer we are about to fill */
    fill_tx_buffers();
    bench_tx();
    if (bench.rx)
        bench_rx();
    user_return(0);
}

/* ---- main ---- */
int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail(NAME, "bad multiboot magic 0x%x", magic);
    char mode[16] = "echo";
    cmdline_get_str(boot_cmdline(), "mode", mode, sizeof(mode));
    bool is_echo = strcmp(mode, "echo") == 0;
    if (!is_echo && strcmp(mode, "bench") != 0)
        fail(NAME, "unknown mode=%s (echo, bench)", mode);
    uint32_t frames = cmdline_option(NAME, "frames", 16, 1, 1000000);
    bench.size = cmdline_option(NAME, "size", ETH_MAX, ETH_MIN, ETH_MAX);
    bench.secs = cmdline_option(NAME, "secs", 3, 1, 3600);
    bench.rx = cmdline_option(NAME, "rx", 1, 0, 1);
    tsc_clock_init(NAME);
    find_device();
    reset_device();
    setup_rx();
    setup_tx();
    printf(NAME ": 00:%02x.0, registers at 0x%x, mac %02x:%02x:%02x:%02x:%02x:%02x, rings %u/%u\n",
           nic.dev, nic.mmio, nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4],
           nic.mac[5], RING_N, RING_N);
    if (cmdline_option(NAME, "go", 0, 0, 1))
        wait_go();
    else
        send_control("READY");
    echo_frames = frames;
    cpu_tables_init();
    run_user(is_echo ? echo_user : bench_user);
    pass(NAME);
}
