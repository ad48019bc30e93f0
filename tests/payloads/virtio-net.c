/*
 * virtio-net: a polling virtio-net driver over the modern (virtio 1.2) PCI
 * transport: receive queue 0 and transmit queue 1, split rings, the 12-byte
 * header of VERSION_1 (5.1.6), no offloads, no mergeable buffers, no
 * interrupts.  Finds 1af4:1000 (transitional) or 1af4:1041 on bus 0.
 *
 * Every buffer is posted once at a fixed place: descriptor i of a queue
 * always points at buffer i, and avail ring entry i always names
 * descriptor i.  A single queue hands buffers back in order, so re-posting
 * k buffers is just avail->idx += k: no per-frame ring work for the guest,
 * whose code runs slowly in KVM's emulator on the PVM host (README.md).
 *
 * Control frames (ethertype 0x88b5, IEEE local experimental) carry ASCII
 * payloads; the peer (lib/virtio-net.sh, vnet_peer) answers them:
 *   "VNET READY"  sent by the guest once receive buffers are posted; its
 *                 source address tells the peer the guest's MAC.
 *   "VNET RXGO"   bench: the peer starts flooding frames at the guest.
 *   "VNET STOP"   bench: the peer stops.
 *   "VNET GO"     go=1: the peer's answer to READY.  With go=1 the guest
 *                 repeats READY every ~100 ms until GO arrives (a tap's
 *                 peer may start listening after the guest is up).
 *
 * -append options:
 *   mode=echo (default)  receive frames=N frames (default 16) and send each
 *       back with source and destination MAC swapped, then PASS.
 *   mode=bench  at CPL3: send size=S byte frames (60-1514, default 1514)
 *       for secs=T seconds (default 3) and print
 *       "NET tx_frames=F tx_fps=R tx_MBps=M" (MB = 10^6 frame bytes);
 *       then (unless rx=0) RXGO, count the peer's frames for T seconds from
 *       the first one, STOP, print "NET rx_frames=F rx_fps=R rx_MBps=M";
 *       then PASS.
 *   go=1  wait for the peer's GO before the mode starts (see above).
 *
 * Memory (guest RAM >= 64 MiB): rings at 16 MiB, receive buffers at 32 MiB
 * and transmit buffers at 33 MiB, 2 KiB each.
 */
#include "virtio.h"

#define NAME "virtio-net"

#define VIRTIO_NET_TRANSITIONAL 0x1000
#define VIRTIO_NET_MODERN 0x1041
#define F_NET_MAC 5             /* 5.1.3 */

/* ---- frames ---- */
#define NET_HDR_LEN 12          /* 5.1.6: struct virtio_net_hdr with num_buffers */
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_MIN 60
#define ETH_MAX 1514
#define ETHERTYPE_VNET 0x88b5   /* IEEE 802 local experimental */
#define BUF_SIZE 2048u

#define MIB (1024u * 1024u)
#define RING_BASE (16u * MIB)
#define RX_BUFS (32u * MIB)
#define TX_BUFS (33u * MIB)
#define RX_Q 0
#define TX_Q 1

struct queue {
    uint16_t size;
    uint16_t avail_idx, used_idx;       /* driver's shadow indices */
    uintptr_t notify;
    uint32_t bufs;                      /* buffer i at bufs + i * BUF_SIZE */
    volatile struct vring_desc *desc;
    volatile struct vring_avail *avail;
    volatile struct vring_used *used;
};

static struct virtio_pci vp = { .name = NAME };

static struct {
    uint8_t mac[ETH_ALEN];
    struct queue rx, tx;
} net;

/* ---- device initialization (virtio 1.2, 3.1.1) ---- */
/* VERSION_1 and MAC only: 12-byte header, no offloads, one buffer per frame. */
static void negotiate_features(void)
{
    if (!(virtio_device_features(&vp) & (1ull << F_NET_MAC)))
        fail(NAME, "device does not offer VIRTIO_NET_F_MAC");
    virtio_accept_features(&vp, 1ull << VIRTIO_F_VERSION_1 | 1ull << F_NET_MAC);
}

/*
 * Queue index qi with its rings on three pages at ring, buffer i at
 * bufs + i * BUF_SIZE for descriptor i, avail entry i = descriptor i.
 * Receive descriptors are device-writable.  Nothing is made available yet.
 */
static void setup_queue(struct queue *q, unsigned qi, uint32_t ring, uint32_t bufs, bool rx)
{
    q->size = virtio_queue_size(&vp, qi, 2);
    memset((void *)ring, 0, 0x3000);
    q->desc = (volatile struct vring_desc *)ring;
    q->avail = (volatile struct vring_avail *)(ring + 0x1000);
    q->used = (volatile struct vring_used *)(ring + 0x2000);
    q->bufs = bufs;
    for (unsigned i = 0; i < q->size; i++) {
        uint16_t flags = rx ? VRING_DESC_F_WRITE : 0;
        q->desc[i] = (struct vring_desc){ bufs + i * BUF_SIZE, BUF_SIZE, flags, 0 };
        q->avail->ring[i] = i;
    }
    q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    q->notify = virtio_queue_enable(&vp, qi, q->size, VIRTIO_NO_VECTOR, ring, ring + 0x1000,
                                    ring + 0x2000);
}

static void device_init(void)
{
    virtio_reset(&vp);
    negotiate_features();
    virtio_set_config_vector(&vp, VIRTIO_NO_VECTOR);
    setup_queue(&net.rx, RX_Q, RING_BASE, RX_BUFS, true);
    setup_queue(&net.tx, TX_Q, RING_BASE + 0x4000, TX_BUFS, false);
    virtio_driver_ok(&vp);
    /* 5.1.4: mac is the first 6 bytes of the device configuration. */
    for (unsigned i = 0; i < ETH_ALEN; i++)
        net.mac[i] = mmio_read8(vp.device + i);
}

/* ---- ring operations ---- */
/* Make n more buffers available (they are already in place) and kick. */
static void queue_publish(struct queue *q, uint16_t n)
{
    q->avail_idx += n;
    barrier();
    q->avail->idx = q->avail_idx;
    full_barrier();     /* avail->idx before used->flags (2.7.13.4) */
    if (!(q->used->flags & VRING_USED_F_NO_NOTIFY))
        mmio_write16(q->notify, 0);
}

/* Buffers the device has returned since the last call. */
static uint16_t queue_take_used(struct queue *q)
{
    uint16_t n = q->used->idx - q->used_idx;
    barrier();
    if (n > q->size)
        fail(NAME, "used index jumped by %u on a queue of %u", n, q->size);
    q->used_idx += n;
    return n;
}

static uint16_t tx_in_flight(void) { return net.tx.avail_idx - net.tx.used->idx; }

static uint8_t *buffer(const struct queue *q, uint16_t idx)
{
    return (uint8_t *)(q->bufs + (uint32_t)(idx & (q->size - 1)) * BUF_SIZE);
}

/* Wait until the transmit queue has a free slot (60 s at most). */
static void tx_wait_slot(void)
{
    uint64_t t0 = rdtsc();
    while (tx_in_flight() >= net.tx.size) {
        if (ns_since(t0) > 60000000000ull)
            fail(NAME, "transmit queue stuck (%u in flight)", tx_in_flight());
        cpu_relax();
    }
}

/* Wait until the device has taken every transmit buffer (60 s at most). */
static void tx_drain(void)
{
    uint64_t t0 = rdtsc();
    while (tx_in_flight()) {
        if (ns_since(t0) > 60000000000ull)
            fail(NAME, "%u frames not sent after 60 s", tx_in_flight());
        cpu_relax();
    }
}

/* Send len bytes of frame (copied after a zero header) in the next slot. */
static void send_frame(const uint8_t *frame, uint32_t len)
{
    tx_wait_slot();
    uint16_t slot = net.tx.avail_idx & (net.tx.size - 1);
    uint8_t *b = buffer(&net.tx, slot);
    memset(b, 0, NET_HDR_LEN);
    memcpy(b + NET_HDR_LEN, frame, len);
    net.tx.desc[slot].len = NET_HDR_LEN + len;
    queue_publish(&net.tx, 1);
}

/* A control frame "VNET <word>" to the broadcast address. */
static void send_control(const char *word)
{
    uint8_t f[ETH_MIN];
    memset(f, 0, sizeof(f));
    memset(f, 0xff, ETH_ALEN);
    memcpy(f + ETH_ALEN, net.mac, ETH_ALEN);
    f[12] = ETHERTYPE_VNET >> 8;
    f[13] = ETHERTYPE_VNET & 0xff;
    memcpy(f + ETH_HLEN, "VNET ", 5);
    memcpy(f + ETH_HLEN + 5, word, strlen(word));
    send_frame(f, sizeof(f));
}

/*
 * Check the used element of the rx buffer at ring position idx: buffers come
 * back in order, and the length covers the header and at least a MAC header.
 * Returns the frame length.
 */
static uint32_t rx_frame_len(uint16_t idx)
{
    volatile struct vring_used_elem *e = &net.rx.used->ring[idx & (net.rx.size - 1)];
    uint32_t id = e->id, len = e->len;
    if (id != (uint32_t)(idx & (net.rx.size - 1)))
        fail(NAME, "rx used entry %u names descriptor %u (buffers go back in order)", idx, id);
    if (len < NET_HDR_LEN + ETH_HLEN || len > BUF_SIZE)
        fail(NAME, "rx used length %u", len);
    return len - NET_HDR_LEN;
}

/* ---- mode=echo ---- */
static void echo(uint32_t frames)
{
    static uint8_t f[ETH_MAX];
    uint64_t idle = rdtsc();
    for (uint32_t done = 0; done < frames;) {
        uint16_t n = queue_take_used(&net.rx);
        if (!n) {
            if (ns_since(idle) > 60000000000ull)
                fail(NAME, "echo: no frame for 60 s (%u of %u echoed)", done, frames);
            cpu_relax();
            continue;
        }
        for (uint16_t k = 0; k < n; k++) {
            uint16_t idx = net.rx.used_idx - n + k;
            uint32_t len = rx_frame_len(idx);
            if (len > ETH_MAX)
                fail(NAME, "echo: frame of %u bytes", len);
            const uint8_t *in = buffer(&net.rx, idx) + NET_HDR_LEN;
            memcpy(f, in + ETH_ALEN, ETH_ALEN);
            memcpy(f + ETH_ALEN, in, ETH_ALEN);
            memcpy(f + 2 * ETH_ALEN, in + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
            send_frame(f, len);
            done++;
        }
        queue_publish(&net.rx, n);
        idle = rdtsc();
    }
    tx_drain();
    printf(NAME ": echoed %u frames\n", frames);
}

/* go=1: READY every ~100 ms until the peer's GO (60 s at most). */
static void wait_go(void)
{
    uint64_t t0 = rdtsc();
    for (;;) {
        send_control("READY");
        uint64_t t1 = rdtsc();
        while (ns_since(t1) < 100000000ull) {
            uint16_t n = queue_take_used(&net.rx);
            bool go = false;
            for (uint16_t k = 0; k < n; k++) {
                uint16_t idx = net.rx.used_idx - n + k;
                uint32_t len = rx_frame_len(idx);
                const uint8_t *f = buffer(&net.rx, idx) + NET_HDR_LEN;
                go |= len >= ETH_HLEN + 7 && f[12] == (ETHERTYPE_VNET >> 8) &&
                      f[13] == (ETHERTYPE_VNET & 0xff) && !memcmp(f + ETH_HLEN, "VNET GO", 7);
            }
            if (n)
                queue_publish(&net.rx, n);
            if (go)
                return;
        }
        if (ns_since(t0) > 60000000000ull)
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
    for (unsigned i = 0; i < net.tx.size; i++) {
        uint8_t *b = buffer(&net.tx, i);
        memset(b, 0, NET_HDR_LEN + bench.size);
        uint8_t *f = b + NET_HDR_LEN;
        memset(f, 0xff, ETH_ALEN);
        memcpy(f + ETH_ALEN, net.mac, ETH_ALEN);
        f[12] = ETHERTYPE_VNET >> 8;
        f[13] = ETHERTYPE_VNET & 0xff;
        memcpy(f + ETH_HLEN, "VNET TX", 7);
        net.tx.desc[i].len = NET_HDR_LEN + bench.size;
    }
}

/* Keep the transmit ring full for secs seconds, then let it drain. */
static void bench_tx(void)
{
    uint64_t max_ns = (uint64_t)bench.secs * 1000000000ull, sent = 0;
    uint64_t t0 = rdtsc();
    while (ns_since(t0) < max_ns) {
        uint16_t room = net.tx.size - tx_in_flight();
        if (room) {
            queue_publish(&net.tx, room);
            sent += room;
        }
    }
    tx_drain();
    print_frame_rate("NET", "tx", sent, bench.size, ns_since(t0));
}

/* Count the peer's flood for secs seconds from its first frame. */
static void bench_rx(void)
{
    uint64_t max_ns = (uint64_t)bench.secs * 1000000000ull, got = 0;
    send_control("RXGO");
    uint64_t t0 = rdtsc();
    uint16_t n;
    while ((n = queue_take_used(&net.rx)) == 0) {
        if (ns_since(t0) > 60000000000ull)
            fail(NAME, "bench: no frame from the peer within 60 s of RXGO");
    }
    uint32_t len = rx_frame_len(net.rx.used_idx - n);
    if (len != bench.size)
        fail(NAME, "bench: peer frame of %u bytes, expected size=%u", len, bench.size);
    queue_publish(&net.rx, n);
    t0 = rdtsc();
    while (ns_since(t0) < max_ns) {
        n = queue_take_used(&net.rx);
        if (n) {
            got += n;
            queue_publish(&net.rx, n);
        }
    }
    uint64_t ns = ns_since(t0);
    send_control("STOP");
    print_frame_rate("NET", "rx", got, bench.size, ns);
}

static void bench_user(void)
{
    tx_drain();     /* READY may still sit in a buffer we are about to fill */
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
    if (!virtio_pci_find(&vp, VIRTIO_NET_TRANSITIONAL, VIRTIO_NET_MODERN))
        fail(NAME, "no virtio-net PCI function (1af4:1000/1041) on bus 0");
    virtio_pci_find_capabilities(&vp);
    device_init();
    printf(NAME ": 00:%02x.0, mac %02x:%02x:%02x:%02x:%02x:%02x, queues %u/%u\n", vp.dev,
           net.mac[0], net.mac[1], net.mac[2], net.mac[3], net.mac[4], net.mac[5],
           net.rx.size, net.tx.size);
    queue_publish(&net.rx, net.rx.size);
    if (cmdline_option(NAME, "go", 0, 0, 1))
        wait_go();
    else
        send_control("READY");
    if (is_echo) {
        echo(frames);
    } else {
        cpu_tables_init();
        run_user(bench_user);
    }
    pass(NAME);
}
