/*
 * virtio-net (virtio 1.2, 5.1) driven from the test as the guest driver
 * would, against three backends:
 *
 *  - socket: the test is the peer at the other end of
 *    "-netdev socket,connect=127.0.0.1:PORT" (each frame preceded by a
 *    4-byte big-endian length).  Config space, tx, rx, back-pressure (the
 *    device must stop reading the socket, not drop), bursts both ways,
 *    merged rx buffers, and set_link through QMP;
 *  - user (libslirp): DHCP, ARP, a TCP connection to a host listener via
 *    10.0.2.2, and hostfwd;
 *  - tap inside a private network namespace (root only).
 *
 * QEMU runs with "-accel tcg -S", and its virtio-net does nothing while the
 * VM is stopped, so on QEMU the test gives it a firmware that only halts
 * (cli; hlt at the reset vector) and sends "cont" over QMP.
 */
#include "libnet.h"
#include "libqos.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Feature bits (virtio 1.2, 5.1.3) */
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
/* Config layout (5.1.4): mac[6], status, max_virtqueue_pairs, mtu */
#define NET_CFG_MAC 0
#define NET_CFG_STATUS 6
#define VIRTIO_NET_S_LINK_UP 1
/* 5.1.6: with VERSION_1 the header is 12 bytes, num_buffers at offset 10. */
#define NET_HDR_LEN 12

#define NET_SLOT 5
#define QUEUE_SIZE 256
#define RXBUF_SIZE 2048
#define TXBUF_SIZE 2048
#define MAX_FRAME 65536

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

typedef struct Net {
    QOSState qs;
    QVirtioDev dev;
    QVirtQueue rx, tx;
    QmpClient *qmp;
    char *qmp_path;
    /* rx: a pool of QUEUE_SIZE buffers reused in order (the device uses rx
     * buffers in the order they were made available, 5.1.6.3). */
    uint64_t rx_pool, tx_pool;
    unsigned rx_next, tx_next;
    uint64_t rx_addr[QUEUE_SIZE];   /* by descriptor head */
    uint32_t rx_size[QUEUE_SIZE];
    unsigned rx_posted;             /* made available, not yet used */
} Net;

/* ---- starting the machine ---- */

static bool net_start(Net *n, const QTarget *t, const char *test, const char *netdev)
{
    memset(n, 0, sizeof(*n));
    n->qmp_path = qtest_tmp_path("-qmp.sock");
    char bios[300] = "";
    if (t->is_qemu)
        snprintf(bios, sizeof(bios), "-bios %s", halt_firmware_path());
    if (!qos_start(&n->qs, t, test,
                   "%s -netdev %s -device virtio-net-pci,netdev=n0,"
                   "mac=52:54:00:12:34:56,addr=%d -qmp unix:%s,server=on,wait=off",
                   bios, netdev, NET_SLOT, n->qmp_path))
        return false;
    n->qmp = qmp_client_open(n->qmp_path);
    bool ok = n->qmp != NULL;
    if (ok && t->is_qemu) {
        char *r = qmp_client_cmd(n->qmp, "{\"execute\": \"cont\"}");
        ok = r && strstr(r, "\"return\"");
        free(r);
    }
    return qtest_check(t, ok, test, "%s", n->qmp ? "QMP cont failed" : "cannot open QMP");
}

static void net_stop(Net *n)
{
    qmp_client_close(n->qmp);
    n->qmp = NULL;
    qos_quit(&n->qs);
    if (n->qmp_path) {
        unlink(n->qmp_path);
        free(n->qmp_path);
        n->qmp_path = NULL;
    }
}

/* 3.1.1 initialization: features, rx queue 0 and tx queue 1 with MSI-X
 * vectors 1 and 2, config changes on vector 0, DRIVER_OK. */
static bool net_driver_init(Net *n, const char **why)
{
    QOSState *qs = &n->qs;
    if (!qvirtio_pci_init(&n->dev, qs, NET_SLOT)) {
        *why = "no virtio function at slot 5";
        return false;
    }
    uint64_t want = QVIRTIO_BIT(QVIRTIO_F_VERSION_1) | QVIRTIO_BIT(VIRTIO_NET_F_MAC) |
                    QVIRTIO_BIT(VIRTIO_NET_F_STATUS) | QVIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
    if (!qvirtio_negotiate(&n->dev, want) || n->dev.features != want) {
        *why = "feature negotiation failed (VERSION_1, MAC, STATUS, MRG_RXBUF)";
        return false;
    }
    qvirtio_msix_config(&n->dev, 0);
    if (!qvirtqueue_setup(&n->dev, &n->rx, 0, QUEUE_SIZE, 1) ||
        !qvirtqueue_setup(&n->dev, &n->tx, 1, QUEUE_SIZE, 2)) {
        *why = "rx/tx queue setup failed";
        return false;
    }
    if (n->rx.size != QUEUE_SIZE || n->tx.size != QUEUE_SIZE) {
        *why = "queues smaller than 256";
        return false;
    }
    n->rx_pool = qos_alloc(&qs->alloc, (uint64_t)QUEUE_SIZE * RXBUF_SIZE, 4096);
    n->tx_pool = qos_alloc(&qs->alloc, (uint64_t)QUEUE_SIZE * TXBUF_SIZE, 4096);
    qvirtio_driver_ok(&n->dev);
    if (!(qvirtio_get_status(&n->dev) & QVIRTIO_S_DRIVER_OK)) {
        *why = "DRIVER_OK did not stick";
        return false;
    }
    return true;
}

/* ---- rx ---- */

/* Make count buffers of size bytes available (size <= RXBUF_SIZE), kick. */
static void rx_post(Net *n, unsigned count, uint32_t size)
{
    for (unsigned i = 0; i < count && n->rx_posted < QUEUE_SIZE; i++) {
        uint64_t addr = n->rx_pool + (uint64_t)(n->rx_next++ % QUEUE_SIZE) * RXBUF_SIZE;
        QVirtBuf b = { addr, size, true };
        uint16_t head = qvirtqueue_add_chain(&n->rx, &b, 1);
        n->rx_addr[head] = addr;
        n->rx_size[head] = size;
        qvirtqueue_publish(&n->rx, head);
        n->rx_posted++;
    }
    qvirtqueue_kick(&n->rx);
}

/* One used rx buffer's bytes appended at out+*off. */
static bool rx_take_one(Net *n, uint8_t *out, size_t cap, size_t *off, int timeout_ms)
{
    uint32_t id, len;
    if (!qvirtqueue_wait_used(&n->rx, &id, &len, timeout_ms))
        return false;
    n->rx_posted--;
    if (id >= QUEUE_SIZE || len > n->rx_size[id] || *off + len > cap)
        return false;
    qtest_bufread(n->qs.s, n->rx_addr[id], out + *off, len);
    *off += len;
    return true;
}

/*
 * Receive one frame: header + data, spread over num_buffers used buffers
 * with MRG_RXBUF (5.1.6.4).  Returns the frame length (without the header),
 * -1 on timeout or a malformed completion.  hdr gets the 12 header bytes.
 */
static long rx_recv(Net *n, uint8_t *frame, size_t cap, uint8_t hdr[NET_HDR_LEN],
                    unsigned *nbufs, int timeout_ms)
{
    static uint8_t tmp[MAX_FRAME + NET_HDR_LEN];
    size_t off = 0;
    if (!rx_take_one(n, tmp, sizeof(tmp), &off, timeout_ms) || off < NET_HDR_LEN)
        return -1;
    unsigned num = tmp[10] | tmp[11] << 8;
    for (unsigned i = 1; i < num; i++)
        if (!rx_take_one(n, tmp, sizeof(tmp), &off, 2000))
            return -1;
    if (off - NET_HDR_LEN > cap)
        return -1;
    memcpy(hdr, tmp, NET_HDR_LEN);
    memcpy(frame, tmp + NET_HDR_LEN, off - NET_HDR_LEN);
    if (nbufs)
        *nbufs = num;
    return (long)(off - NET_HDR_LEN);
}

/* ---- tx ---- */

/* Queue one frame (zeroed header + frame, one readable buffer), no kick. */
static void tx_queue(Net *n, const void *frame, size_t len)
{
    static uint8_t buf[TXBUF_SIZE];
    uint64_t addr = n->tx_pool + (uint64_t)(n->tx_next++ % QUEUE_SIZE) * TXBUF_SIZE;
    memset(buf, 0, NET_HDR_LEN);
    memcpy(buf + NET_HDR_LEN, frame, len);
    qtest_bufwrite(n->qs.s, addr, buf, NET_HDR_LEN + len);
    QVirtBuf b = { addr, (uint32_t)(NET_HDR_LEN + len), false };
    qvirtqueue_publish(&n->tx, qvirtqueue_add_chain(&n->tx, &b, 1));
}

/* Send one frame and wait for the device to hand the buffer back. */
static bool tx_send(Net *n, const void *frame, size_t len)
{
    tx_queue(n, frame, len);
    qvirtqueue_kick(&n->tx);
    return qvirtqueue_wait_used(&n->tx, NULL, NULL, QOS_TIMEOUT_MS);
}

/* Consume every used tx entry. */
static void tx_reap(Net *n)
{
    while (qvirtqueue_get_used(&n->tx, NULL, NULL))
        ;
}

/* ---- socket backend tests ---- */

static void test_config(const QTarget *t, Net *n)
{
    uint8_t mac[6];
    for (int i = 0; i < 6; i++)
        mac[i] = qvirtio_config_readb(&n->dev, NET_CFG_MAC + i);
    uint16_t status = qvirtio_config_readw(&n->dev, NET_CFG_STATUS);
    CHECK(t, memcmp(mac, guest_mac, 6) == 0, "virtio-net config mac",
          "mac %02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    CHECK(t, status & VIRTIO_NET_S_LINK_UP, "virtio-net config status link up", "status %04x",
          status);
}

static void test_tx(const QTarget *t, Net *n, int sock)
{
    uint8_t frame[100], got[2048];
    frame_pattern(frame, sizeof(frame), peer_mac, guest_mac, 1);
    bool used = tx_send(n, frame, sizeof(frame));
    long len = stream_recv_frame(sock, got, sizeof(got), QOS_TIMEOUT_MS);
    bool extra = fd_readable(sock, 100);
    CHECK(t, used && len == (long)sizeof(frame) && memcmp(got, frame, sizeof(frame)) == 0 && !extra,
          "virtio-net tx frame on socket", "used %d, socket frame len %ld, extra %d", used, len,
          extra);
}

static void test_rx(const QTarget *t, Net *n, int sock)
{
    uint8_t frame[200], got[2048], hdr[NET_HDR_LEN];
    unsigned nbufs = 0;
    frame_pattern(frame, sizeof(frame), guest_mac, peer_mac, 2);
    rx_post(n, 1, RXBUF_SIZE);
    qvirtqueue_msix_fired(&n->rx);   /* clear */
    stream_send_frame(sock, frame, sizeof(frame));
    long len = rx_recv(n, got, sizeof(got), hdr, &nbufs, QOS_TIMEOUT_MS);
    CHECK(t, len == (long)sizeof(frame) && memcmp(got, frame, sizeof(frame)) == 0,
          "virtio-net rx frame from socket", "rx len %ld", len);
    CHECK(t, len > 0 && nbufs == 1 && hdr[0] == 0 && hdr[1] == 0, "virtio-net rx header",
          "num_buffers %u flags %02x gso %02x", nbufs, hdr[0], hdr[1]);
    CHECK(t, qvirtqueue_wait_msix(&n->rx, 1000), "virtio-net rx msi-x", "no rx interrupt");
}

/* Receive count pattern frames seq first.. in order; returns how many
 * arrived in order before the first problem (described in why). */
static unsigned rx_expect_seq(Net *n, uint32_t first, unsigned count, size_t flen,
                              unsigned batch, char *why, size_t whylen)
{
    static uint8_t got[MAX_FRAME];
    uint8_t hdr[NET_HDR_LEN];
    unsigned done = 0;
    int64_t deadline = net_now_ms() + 30000;

    while (done < count && net_now_ms() < deadline) {
        if (n->rx_posted == 0)
            rx_post(n, batch, RXBUF_SIZE);
        long len = rx_recv(n, got, sizeof(got), hdr, NULL, 3000);
        if (len < 0) {
            snprintf(why, whylen, "frame %u of %u did not arrive", done, count);
            return done;
        }
        int64_t seq = frame_pattern_seq(got, len);
        if ((size_t)len != flen || seq != (int64_t)(first + done)) {
            snprintf(why, whylen, "frame %u: len %ld seq %lld, want len %zu seq %u", done, len,
                     (long long)seq, flen, first + done);
            return done;
        }
        done++;
    }
    if (done < count)
        snprintf(why, whylen, "only %u of %u frames in time", done, count);
    return done;
}

static void test_backpressure(const QTarget *t, Net *n, int sock)
{
    enum { COUNT = 300, LEN = 200 };
    uint8_t frame[LEN];
    char why[200] = "";

    /* No rx buffers are available now: everything must wait, not drop. */
    for (unsigned i = 0; i < COUNT; i++) {
        frame_pattern(frame, LEN, guest_mac, peer_mac, 1000 + i);
        stream_send_frame(sock, frame, LEN);
    }
    usleep(300000);
    bool none_used = !qvirtqueue_has_used(&n->rx);
    unsigned got = rx_expect_seq(n, 1000, COUNT, LEN, 32, why, sizeof(why));
    CHECK(t, none_used && got == COUNT, "virtio-net rx back-pressure, none lost",
          "%s%s (%u received)", none_used ? "" : "used entries without buffers; ", why, got);
}

/* A child process writes count frames to the socket so the test can post
 * buffers meanwhile (the target stops reading when the guest has no room). */
static pid_t spawn_writer(int sock, uint32_t first, unsigned count, size_t len)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t *frame = malloc(len);
        for (unsigned i = 0; i < count; i++) {
            frame_pattern(frame, len, guest_mac, peer_mac, first + i);
            if (!stream_send_frame(sock, frame, len))
                _exit(1);
        }
        _exit(0);
    }
    return pid;
}

static void test_burst_rx(const QTarget *t, Net *n, int sock)
{
    enum { COUNT = 1000, LEN = 1514 };
    char why[200] = "";
    pid_t pid = spawn_writer(sock, 5000, COUNT, LEN);
    unsigned got = rx_expect_seq(n, 5000, COUNT, LEN, 128, why, sizeof(why));
    int st = -1;
    if (pid > 0) {
        if (got < COUNT)
            kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    CHECK(t, got == COUNT, "virtio-net rx burst 1000 x 1514", "%s", why);
}

static void test_burst_tx(const QTarget *t, Net *n, int sock)
{
    enum { ROUNDS = 4, PER = 200, LEN = 1514 };
    static uint8_t frame[LEN], got[2048];
    unsigned ok = 0;
    char why[200] = "";

    for (unsigned r = 0; r < ROUNDS && !why[0]; r++) {
        for (unsigned i = 0; i < PER; i++) {
            frame_pattern(frame, LEN, peer_mac, guest_mac, 20000 + r * PER + i);
            tx_queue(n, frame, LEN);
        }
        qvirtqueue_kick(&n->tx);
        for (unsigned i = 0; i < PER; i++) {
            long len = stream_recv_frame(sock, got, sizeof(got), QOS_TIMEOUT_MS);
            int64_t seq = len > 0 ? frame_pattern_seq(got, len) : -1;
            if (len != LEN || seq != 20000 + r * PER + i) {
                snprintf(why, sizeof(why), "round %u frame %u: len %ld seq %lld", r, i, len,
                         (long long)seq);
                break;
            }
            ok++;
        }
        if (!why[0] && !qvirtqueue_wait_used_n(&n->tx, PER, QOS_TIMEOUT_MS))
            snprintf(why, sizeof(why), "round %u: tx buffers not all used", r);
        tx_reap(n);
    }
    CHECK(t, ok == ROUNDS * PER && !why[0], "virtio-net tx burst 800 x 1514", "%s (%u ok)", why,
          ok);
}

static void test_mrg_rxbuf(const QTarget *t, Net *n, int sock)
{
    enum { LEN = 1000, BUF = 256 };
    uint8_t frame[LEN], got[2048], hdr[NET_HDR_LEN];
    unsigned nbufs = 0;

    unsigned want = (LEN + NET_HDR_LEN + BUF - 1) / BUF;
    unsigned before = n->rx_posted;
    rx_post(n, want, BUF);
    frame_pattern(frame, LEN, guest_mac, peer_mac, 77);
    stream_send_frame(sock, frame, LEN);
    long len = rx_recv(n, got, sizeof(got), hdr, &nbufs, QOS_TIMEOUT_MS);
    /* Buffers posted before this test (full size) would take the frame whole. */
    CHECK(t, before == 0 && len == LEN && memcmp(got, frame, LEN) == 0 && nbufs == want,
          "virtio-net mrg_rxbuf frame over 4 buffers", "len %ld num_buffers %u (want %u)%s", len,
          nbufs, want, before ? ", rx buffers were left over" : "");
}

static bool config_link_up(Net *n)
{
    return qvirtio_config_readw(&n->dev, NET_CFG_STATUS) & VIRTIO_NET_S_LINK_UP;
}

static bool set_link(Net *n, bool up)
{
    char *r = qmp_client_cmd(n->qmp,
                             "{\"execute\": \"set_link\", \"arguments\": "
                             "{\"name\": \"n0\", \"up\": %s}}", up ? "true" : "false");
    bool ok = r && strstr(r, "\"return\"");
    free(r);
    return ok;
}

static bool config_irq_wait(Net *n, int timeout_ms)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    while (net_now_ms() < deadline) {
        if (qvirtio_config_msix_fired(&n->dev))
            return true;
        usleep(1000);
    }
    return false;
}

static void test_set_link(const QTarget *t, Net *n, int sock)
{
    qvirtio_config_msix_fired(&n->dev);   /* clear */
    bool ok_off = set_link(n, false);
    bool irq_off = config_irq_wait(n, 2000);
    bool up_after_off = config_link_up(n);
    CHECK(t, ok_off && !up_after_off && irq_off, "virtio-net set_link off",
          "QMP ok %d, link bit %d, config interrupt %d", ok_off, up_after_off, irq_off);

    /* Frames the guest sends with the link down go nowhere. */
    uint8_t frame[80], got[2048];
    frame_pattern(frame, sizeof(frame), peer_mac, guest_mac, 99);
    bool used = tx_send(n, frame, sizeof(frame));
    bool leaked = fd_readable(sock, 200);
    CHECK(t, used && !leaked, "virtio-net tx with link down dropped",
          "tx used %d, frame reached the socket %d", used, leaked);
    if (leaked)
        stream_recv_frame(sock, got, sizeof(got), 100);

    bool ok_on = set_link(n, true);
    bool irq_on = config_irq_wait(n, 2000);
    bool up_after_on = config_link_up(n);
    CHECK(t, ok_on && up_after_on && irq_on, "virtio-net set_link on",
          "QMP ok %d, link bit %d, config interrupt %d", ok_on, up_after_on, irq_on);
}

/*
 * Hostile driver: a tx buffer outside guest RAM.  The device must not send
 * anything, and either completes the buffer or flags NEEDS_RESET (virtio
 * 1.2, 2.1.2); the target keeps answering.  Run last: it may break the
 * device until a reset.
 */
static void test_tx_outside_ram(const QTarget *t, Net *n, int sock)
{
    QVirtBuf b = { 0xfff00000000ull, 100, false };
    qvirtqueue_submit(&n->tx, &b, 1);
    bool used = qvirtqueue_wait_used(&n->tx, NULL, NULL, 500);
    uint8_t status = qvirtio_get_status(&n->dev);
    bool leaked = fd_readable(sock, 200);
    const char *broken = qtest_broken(n->qs.s);
    if (t->is_qemu) {
        /* QEMU reads unassigned memory through a bounce buffer and sends
         * whatever came back; only its survival is checked. */
        CHECK(t, !broken, "virtio-net tx buffer outside ram, target survives", "qtest %s",
              broken ? broken : "ok");
        qtest_skip(t, "virtio-net tx buffer outside ram rejected",
                   "QEMU transmits unassigned memory");
        return;
    }
    CHECK(t, !broken && !leaked && (used || (status & QVIRTIO_S_NEEDS_RESET)),
          "virtio-net tx buffer outside ram rejected",
          "qtest %s, frame sent %d, used %d, status %02x", broken ? broken : "ok", leaked, used,
          status);
}

static void test_socket(const QTarget *t)
{
    Net n;
    uint16_t port;
    const char *why = "";
    char netdev[128];

    int lfd = tcp_listen_local(&port);
    if (lfd < 0) {
        qtest_check(t, false, "virtio-net socket listen", "cannot listen on 127.0.0.1");
        return;
    }
    snprintf(netdev, sizeof(netdev), "socket,id=n0,connect=127.0.0.1:%u", port);
    if (!net_start(&n, t, "virtio-net socket start", netdev)) {
        close(lfd);
        net_stop(&n);
        return;
    }
    int sock = tcp_accept_timeout(lfd, 5000);
    close(lfd);
    if (!CHECK(t, sock >= 0, "virtio-net socket connects", "no connection from the target") ||
        !CHECK(t, net_driver_init(&n, &why), "virtio-net driver init", "%s", why)) {
        if (sock >= 0)
            close(sock);
        net_stop(&n);
        return;
    }
    test_config(t, &n);
    test_tx(t, &n, sock);
    test_rx(t, &n, sock);
    test_mrg_rxbuf(t, &n, sock);
    test_backpressure(t, &n, sock);
    test_burst_rx(t, &n, sock);
    test_burst_tx(t, &n, sock);
    test_set_link(t, &n, sock);
    test_tx_outside_ram(t, &n, sock);
    const char *broken = qtest_broken(n.qs.s);
    CHECK(t, !broken, "virtio-net socket connection", "%s", broken ? broken : "");
    close(sock);
    net_stop(&n);
}

/* ---- user networking (libslirp) ---- */

#define GUEST_IP IP4(10, 0, 2, 15)
#define GATEWAY_IP IP4(10, 0, 2, 2)
#define SLIRP_RXBUFS 64

/*
 * The guest's receive path: take frames, answer ARP requests for our
 * address (slirp asks before it sends to us), keep SLIRP_RXBUFS buffers
 * available, and return the first frame match() accepts.
 */
typedef bool FrameMatch(const uint8_t *f, size_t len, void *opaque);

static long guest_rx_until(Net *n, FrameMatch *match, void *opaque, uint8_t *out, size_t cap,
                           int timeout_ms)
{
    uint8_t hdr[NET_HDR_LEN], reply[64];
    int64_t deadline = net_now_ms() + timeout_ms;

    while (net_now_ms() < deadline) {
        if (n->rx_posted < SLIRP_RXBUFS / 2)
            rx_post(n, SLIRP_RXBUFS - n->rx_posted, RXBUF_SIZE);
        long len = rx_recv(n, out, cap, hdr, NULL, (int)(deadline - net_now_ms()));
        if (len < 0)
            return -1;
        uint32_t tip;
        if (parse_arp_request(out, len, &tip) && tip == GUEST_IP) {
            uint8_t src_mac[6];
            memcpy(src_mac, out + 6, 6);
            uint32_t sip = (uint32_t)out[ETH_HLEN + 14] << 24 | out[ETH_HLEN + 15] << 16 |
                           out[ETH_HLEN + 16] << 8 | out[ETH_HLEN + 17];
            size_t rl = frame_arp_reply(reply, sizeof(reply), guest_mac, GUEST_IP, src_mac, sip);
            tx_send(n, reply, rl);
            tx_reap(n);
        }
        if (match(out, len, opaque))
            return len;
    }
    return -1;
}

struct dhcp_match { uint32_t xid, yiaddr; };

static bool match_dhcp_offer(const uint8_t *f, size_t len, void *opaque)
{
    struct dhcp_match *m = opaque;
    return parse_dhcp_reply(f, len, m->xid, 2, &m->yiaddr);
}

static bool match_arp_gateway(const uint8_t *f, size_t len, void *opaque)
{
    return parse_arp_reply(f, len, GATEWAY_IP, opaque);
}

struct tcp_match { uint16_t sport, dport; uint8_t flags; TcpInfo info; };

static bool match_tcp(const uint8_t *f, size_t len, void *opaque)
{
    struct tcp_match *m = opaque;
    return parse_tcp(f, len, &m->info) && m->info.sport == m->sport &&
           m->info.dport == m->dport && (m->info.flags & m->flags) == m->flags;
}

static void test_slirp_dhcp(const QTarget *t, Net *n)
{
    static uint8_t buf[MAX_FRAME];
    struct dhcp_match m = { 0x1d2c3b4a, 0 };
    size_t len = frame_dhcp_discover(buf, sizeof(buf), guest_mac, m.xid);
    bool sent = tx_send(n, buf, len);
    tx_reap(n);
    long got = guest_rx_until(n, match_dhcp_offer, &m, buf, sizeof(buf), QOS_TIMEOUT_MS);
    CHECK(t, sent && got > 0 && m.yiaddr == GUEST_IP, "virtio-net user dhcp offer 10.0.2.15",
          "tx %d, offer %s, yiaddr %08x", sent, got > 0 ? "received" : "missing", m.yiaddr);
}

static void test_slirp_arp(const QTarget *t, Net *n, uint8_t gw_mac[6])
{
    static uint8_t buf[MAX_FRAME];
    size_t len = frame_arp_request(buf, sizeof(buf), guest_mac, GUEST_IP, GATEWAY_IP);
    tx_send(n, buf, len);
    tx_reap(n);
    long got = guest_rx_until(n, match_arp_gateway, gw_mac, buf, sizeof(buf), QOS_TIMEOUT_MS);
    CHECK(t, got > 0, "virtio-net user arp reply for 10.0.2.2", "no ARP reply");
}

static void test_slirp_tcp_out(const QTarget *t, Net *n, const uint8_t gw_mac[6])
{
    static uint8_t buf[MAX_FRAME];
    uint16_t port;
    int lfd = tcp_listen_local(&port);
    struct tcp_match m = { port, 40001, TCP_SYN | TCP_ACK, { 0 } };

    size_t len = frame_tcp(buf, sizeof(buf), gw_mac, guest_mac, GUEST_IP, GATEWAY_IP, 40001,
                           port, 1000, 0, TCP_SYN, NULL, 0);
    tx_send(n, buf, len);
    tx_reap(n);
    int cfd = tcp_accept_timeout(lfd, QOS_TIMEOUT_MS);
    CHECK(t, cfd >= 0, "virtio-net user tcp to 10.0.2.2 reaches host listener",
          "no connection on 127.0.0.1:%u", port);
    long got = guest_rx_until(n, match_tcp, &m, buf, sizeof(buf), QOS_TIMEOUT_MS);
    CHECK(t, got > 0 && m.info.ack == 1001 && m.info.src_ip == GATEWAY_IP &&
                 m.info.dst_ip == GUEST_IP && m.info.csum_ok,
          "virtio-net user tcp syn-ack", "%s, ack %u, %08x -> %08x, csum %s",
          got > 0 ? "received" : "missing", m.info.ack, m.info.src_ip, m.info.dst_ip,
          m.info.csum_ok ? "ok" : "bad");
    /* Reset the half-open connection from the guest side. */
    if (got > 0) {
        len = frame_tcp(buf, sizeof(buf), gw_mac, guest_mac, GUEST_IP, GATEWAY_IP, 40001, port,
                        1001, m.info.seq + 1, TCP_RST | TCP_ACK, NULL, 0);
        tx_send(n, buf, len);
        tx_reap(n);
    }
    if (cfd >= 0)
        close(cfd);
    close(lfd);
}

static bool match_tcp_any_sport(const uint8_t *f, size_t len, void *opaque)
{
    struct tcp_match *m = opaque;
    return parse_tcp(f, len, &m->info) && m->info.dport == m->dport &&
           (m->info.flags & m->flags) == m->flags;
}

static void test_slirp_hostfwd(const QTarget *t, Net *n, uint16_t hport)
{
    static uint8_t buf[MAX_FRAME];
    struct tcp_match m = { 0, 22, TCP_SYN, { 0 } };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(hport),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = rc == 0 ? 0 : errno;
    bool connecting = rc == 0 || err == EINPROGRESS;
    long got = -1;
    int64_t deadline = net_now_ms() + QOS_TIMEOUT_MS;
    /* Any source port: match on the destination and the SYN flag. */
    while (connecting && net_now_ms() < deadline) {
        got = guest_rx_until(n, match_tcp_any_sport, &m, buf, sizeof(buf),
                             (int)(deadline - net_now_ms()));
        if (got > 0)
            break;
    }
    CHECK(t, connecting && got > 0 && m.info.dst_ip == GUEST_IP && !(m.info.flags & TCP_ACK),
          "virtio-net user hostfwd syn to 10.0.2.15:22", "connect %s, SYN %s",
          connecting ? "ok" : strerror(err), got > 0 ? "received" : "missing");
    close(fd);
}

static void test_user(const QTarget *t)
{
    Net n;
    const char *why = "";
    char netdev[160];
    uint8_t gw_mac[6] = { 0 };
    uint16_t hport = tcp_free_port();

    snprintf(netdev, sizeof(netdev), "user,id=n0,hostfwd=tcp:127.0.0.1:%u-:22", hport);
    if (!net_start(&n, t, "virtio-net user start", netdev)) {
        net_stop(&n);
        return;
    }
    if (!CHECK(t, net_driver_init(&n, &why), "virtio-net user driver init", "%s", why)) {
        net_stop(&n);
        return;
    }
    rx_post(&n, SLIRP_RXBUFS, RXBUF_SIZE);
    test_slirp_dhcp(t, &n);
    test_slirp_arp(t, &n, gw_mac);
    test_slirp_tcp_out(t, &n, gw_mac);
    test_slirp_hostfwd(t, &n, hport);
    const char *broken = qtest_broken(n.qs.s);
    CHECK(t, !broken, "virtio-net user connection", "%s", broken ? broken : "");
    net_stop(&n);
}

/* ---- tap in a private network namespace ---- */

/*
 * The target runs under "unshare -n" through a wrapper script (so the tap
 * device lives in a namespace of its own); the test enters that namespace
 * to bring the link up and to open an AF_PACKET socket on it, then goes
 * back.  A socket stays in the namespace it was created in.
 */
static char *tap_wrapper(const char *binary)
{
    char *path = qtest_tmp_path("-unshare.sh");
    FILE *f = fopen(path, "w");
    if (!f) {
        free(path);
        return NULL;
    }
    fprintf(f, "#!/bin/sh\nexec unshare -n '%s' \"$@\"\n", binary);
    fclose(f);
    chmod(path, 0700);
    return path;
}

/* Enter pid's network namespace, run fn, come back. */
static int in_netns(int pid, int (*fn)(void *), void *opaque)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (self >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
        rc = fn(opaque);
        if (setns(self, CLONE_NEWNET) != 0)
            rc = -1;
    }
    if (self >= 0)
        close(self);
    if (target >= 0)
        close(target);
    return rc;
}

#define TAP_NAME "vmmtap0"

/* Bring the tap up and open a raw socket bound to it; returns the fd. */
static int tap_host_side(void *opaque)
{
    if (system("ip link set lo up && ip link set " TAP_NAME " up && "
               "ip addr add 10.9.0.1/24 dev " TAP_NAME " 2>/dev/null") != 0)
        return -1;
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0)
        return -1;
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = (int)if_nametoindex(TAP_NAME) };
    if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The next frame on the raw socket for which match holds, or -1. */
static long packet_recv_match(int fd, uint8_t *buf, size_t cap, uint32_t seq, int timeout_ms)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    while (net_now_ms() < deadline) {
        if (!fd_readable(fd, (int)(deadline - net_now_ms())))
            return -1;
        ssize_t r = recv(fd, buf, cap, 0);
        if (r < 0)
            return -1;
        if (frame_pattern_seq(buf, r) == (int64_t)seq)
            return r;
    }
    return -1;
}

static bool match_arp_for_guest(const uint8_t *f, size_t len, void *opaque)
{
    uint32_t tip;
    return parse_arp_request(f, len, &tip) && tip == IP4(10, 9, 0, 2);
}

static void test_tap(const QTarget *t)
{
    static uint8_t buf[MAX_FRAME];
    const char *why = "";
    Net n;

    memset(&n, 0, sizeof(n));
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0 ||
        system("unshare -n true 2>/dev/null") != 0) {
        qtest_skip(t, "virtio-net tap", "needs root, /dev/net/tun and unshare -n");
        return;
    }
    char *wrapper = tap_wrapper(t->binary);
    QTarget tt = *t;
    tt.binary = wrapper;
    if (!wrapper || !net_start(&n, &tt, "virtio-net tap start",
                               "tap,id=n0,ifname=" TAP_NAME ",script=no,downscript=no")) {
        net_stop(&n);
        free(wrapper);
        return;
    }
    int pfd = in_netns(qtest_pid(n.qs.s), tap_host_side, NULL);
    if (!CHECK(t, pfd >= 0, "virtio-net tap host side", "cannot configure %s in the namespace",
               TAP_NAME) ||
        !CHECK(t, net_driver_init(&n, &why), "virtio-net tap driver init", "%s", why)) {
        if (pfd >= 0)
            close(pfd);
        net_stop(&n);
        unlink(wrapper);
        free(wrapper);
        return;
    }
    rx_post(&n, SLIRP_RXBUFS, RXBUF_SIZE);

    /* guest -> host */
    uint8_t frame[300];
    frame_pattern(frame, sizeof(frame), net_broadcast_mac, guest_mac, 4242);
    tx_send(&n, frame, sizeof(frame));
    tx_reap(&n);
    long got = packet_recv_match(pfd, buf, sizeof(buf), 4242, QOS_TIMEOUT_MS);
    CHECK(t, got == (long)sizeof(frame) && memcmp(buf, frame, sizeof(frame)) == 0,
          "virtio-net tap tx frame on the tap", "got %ld bytes", got);

    /* host -> guest: an ARP request for 10.9.0.2 written onto the tap. */
    size_t alen = frame_arp_request(frame, sizeof(frame), peer_mac, IP4(10, 9, 0, 1),
                                    IP4(10, 9, 0, 2));
    send(pfd, frame, alen, 0);
    long rlen = guest_rx_until(&n, match_arp_for_guest, NULL, buf, sizeof(buf), QOS_TIMEOUT_MS);
    CHECK(t, rlen > 0, "virtio-net tap rx arp request from host", "no ARP request for 10.9.0.2");
    close(pfd);
    net_stop(&n);
    unlink(wrapper);
    free(wrapper);
}

static void run(const QTarget *t)
{
    test_socket(t);
    test_user(t);
    test_tap(t);
}

int main(void)
{
    return qtest_run_targets(run);
}
