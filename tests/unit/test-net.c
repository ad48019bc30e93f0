/*
 * The network core and backends: queue and back-pressure semantics with
 * fake clients, link state, hubs, "info network", MAC helpers, command-line
 * errors; the socket backend (listen + connect in one process), user
 * networking (DHCP, ARP, hostfwd, guest connections to the host) and tap
 * (in a private network namespace, when the host allows it).
 *
 * main_loop_run() runs once per process and Check forks every test, so a
 * test that needs the loop lists steps, each polled every millisecond
 * until it returns true (as test-chardev does).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "util.h"
#include "unit.h"

/* ---- a fake client that records frames, with a budget of frames ---- */

#define MAX_FRAMES 4096

typedef struct Fake {
    NetClient *nc;
    int room;                   /* frames it can take now; -1 = unlimited */
    bool refuse;                /* receive returns 0 although can_receive said yes */
    unsigned count;
    size_t len[MAX_FRAMES];
    uint8_t *data[MAX_FRAMES];
    unsigned link_changes;
    unsigned sent_cbs;
    /* optional: answer ARP who-has for this IPv4 address (slirp tests) */
    uint32_t arp_ip;
    uint8_t mac[6];
} Fake;

static ssize_t fake_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    Fake *f = nc->opaque;
    if (f->refuse)
        return 0;
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    if (f->count < MAX_FRAMES) {
        uint8_t *p = malloc(len ? len : 1);
        size_t off = 0;
        for (int i = 0; i < iovcnt; i++) {
            memcpy(p + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        f->data[f->count] = p;
        f->len[f->count] = len;
    }
    f->count++;
    if (f->room > 0)
        f->room--;
    return (ssize_t)len;
}

static bool fake_can_receive(NetClient *nc)
{
    Fake *f = nc->opaque;
    return f->room != 0;
}

static void fake_link(NetClient *nc)
{
    ((Fake *)nc->opaque)->link_changes++;
}

static const NetClientOps fake_nic_ops = {
    .kind = NET_CLIENT_NIC, .receive = fake_receive, .can_receive = fake_can_receive,
    .link_status_changed = fake_link,
};
static const NetClientOps fake_backend_ops = {
    .kind = NET_CLIENT_SOCKET, .receive = fake_receive, .can_receive = fake_can_receive,
    .link_status_changed = fake_link,
};

static Fake *fake_new(const NetClientOps *ops, const char *name)
{
    Fake *f = calloc(1, sizeof(*f));
    f->room = -1;
    f->nc = net_client_new(ops, name, f);
    return f;
}

/* Free what a fake recorded and the fake itself; its NetClient is the
 * caller's (freed already, or by net_cleanup_all). */
static void fake_release(Fake *f)
{
    for (unsigned i = 0; i < f->count && i < MAX_FRAMES; i++)
        free(f->data[i]);
    free(f);
}

static void fake_sent(NetClient *nc, ssize_t len)
{
    ((Fake *)nc->opaque)->sent_cbs++;
}

/* ---- step runner (steps.h) ---- */
#define STEPS_TIMEOUT_MS 10000
#include "steps.h"

/* ---- core ---- */

START_TEST(queue_backpressure)
{
    Fake *a = fake_new(&fake_backend_ops, "a"), *b = fake_new(&fake_nic_ops, "b");
    ck_assert_int_eq(net_client_connect(a->nc, b->nc), 0);
    ck_assert_int_eq(net_client_connect(a->nc, b->nc), -1);
    b->room = 1;
    ck_assert_int_eq(net_send_buf(a->nc, "one", 3, fake_sent), 3);
    ck_assert(!net_peer_can_receive(a->nc));
    ck_assert_int_eq(net_send_buf(a->nc, "two", 3, fake_sent), 0);
    ck_assert_int_eq(net_send_buf(a->nc, "three", 5, fake_sent), 0);
    ck_assert_uint_eq(net_client_queued(b->nc), 2);
    ck_assert_uint_eq(b->count, 1);
    ck_assert_uint_eq(a->sent_cbs, 0);
    /* Still no room: flushing delivers nothing. */
    net_flush_queued(b->nc);
    ck_assert_uint_eq(a->sent_cbs, 0);
    b->room = 1;
    net_flush_queued(b->nc);
    ck_assert_uint_eq(b->count, 2);
    ck_assert_uint_eq(a->sent_cbs, 1);
    b->room = -1;
    net_flush_queued(b->nc);
    ck_assert_uint_eq(b->count, 3);
    ck_assert_uint_eq(a->sent_cbs, 2);
    ck_assert(!memcmp(b->data[1], "two", 3) && !memcmp(b->data[2], "three", 5));
    ck_assert(net_peer_can_receive(a->nc));
    /* A receive that returns 0 queues too. */
    b->refuse = true;
    ck_assert_int_eq(net_send_buf(a->nc, "four", 4, fake_sent), 0);
    b->refuse = false;
    net_flush_queued(b->nc);
    ck_assert_uint_eq(b->count, 4);
    ck_assert_uint_eq(a->sent_cbs, 3);
    /* Both directions are independent. */
    ck_assert_int_eq(net_send_buf(b->nc, "back", 4, NULL), 4);
    ck_assert_uint_eq(a->count, 1);
}
END_TEST

START_TEST(queue_bound)
{
    Fake *a = fake_new(&fake_backend_ops, "a"), *b = fake_new(&fake_nic_ops, "b");
    net_client_connect(a->nc, b->nc);
    b->room = 0;
    for (int i = 0; i < NET_QUEUE_MAX; i++)
        ck_assert_int_eq(net_send_buf(a->nc, &i, sizeof(i), NULL), 0);
    ck_assert_int_eq(net_send_buf(a->nc, "x", 1, NULL), 1);
    ck_assert_uint_eq(net_client_dropped(a->nc), 1);
    ck_assert_uint_eq(net_client_queued(b->nc), NET_QUEUE_MAX);
    b->room = -1;
    net_flush_queued(b->nc);
    ck_assert_uint_eq(b->count, NET_QUEUE_MAX);
    for (int i = 0; i < NET_QUEUE_MAX; i++)
        ck_assert_int_eq(*(int *)b->data[i], i);
    /* Freeing a sender purges what it queued. */
    b->room = 0;
    net_send_buf(a->nc, "y", 1, fake_sent);
    net_client_free(a->nc);
    ck_assert_uint_eq(net_client_queued(b->nc), 0);
    ck_assert_ptr_null(b->nc->peer);
    /* No peer: dropped and counted. */
    ck_assert_int_eq(net_send_buf(b->nc, "z", 1, NULL), 1);
    ck_assert_uint_eq(net_client_dropped(b->nc), 1);
    net_client_free(b->nc);
    fake_release(a);
    fake_release(b);
}
END_TEST

START_TEST(link_down)
{
    Fake *be = fake_new(&fake_backend_ops, "be"), *nic = fake_new(&fake_nic_ops, "nic");
    net_client_connect(be->nc, nic->nc);
    ck_assert_int_eq(net_set_link("nope", false), -1);
    /* Backend down: the NIC (its peer) goes down too, both are told. */
    ck_assert_int_eq(net_set_link("be", false), 0);
    ck_assert(be->nc->link_down && nic->nc->link_down);
    ck_assert_uint_eq(be->link_changes, 1);
    ck_assert_uint_eq(nic->link_changes, 1);
    ck_assert_int_eq(net_send_buf(nic->nc, "abc", 3, NULL), 3);
    ck_assert_int_eq(net_send_buf(be->nc, "abc", 3, NULL), 3);
    ck_assert_uint_eq(be->count + nic->count, 0);
    ck_assert_uint_eq(net_client_dropped(nic->nc), 1);
    ck_assert_int_eq(net_set_link("be", true), 0);
    ck_assert(!be->nc->link_down && !nic->nc->link_down);
    ck_assert_int_eq(net_send_buf(nic->nc, "abc", 3, NULL), 3);
    ck_assert_uint_eq(be->count, 1);
    /* NIC down: the backend's link stays, but it is told. */
    ck_assert_int_eq(net_set_link("nic", false), 0);
    ck_assert(nic->nc->link_down && !be->nc->link_down);
    ck_assert_uint_eq(be->link_changes, 3);
    /* Frames queued for a receiver whose link goes down are dropped. */
    net_set_link("nic", true);
    nic->room = 0;
    ck_assert_int_eq(net_send_buf(be->nc, "q", 1, fake_sent), 0);
    net_set_link("nic", false);
    ck_assert_uint_eq(net_client_queued(nic->nc), 0);
    ck_assert_uint_eq(be->sent_cbs, 1);
    ck_assert_uint_eq(nic->count, 0);
}
END_TEST

START_TEST(hub_broadcast)
{
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(net_legacy_add("nic,model=virtio,macaddr=52:54:00:aa:bb:cc"), 0);
    ck_assert_int_eq(net_legacy_add("nic"), 0);
    ck_assert_uint_eq(net_legacy_nic_count(), 2);
    NetLegacyNic *n0 = net_legacy_nic(0), *n1 = net_legacy_nic(1);
    ck_assert_ptr_null(net_legacy_nic(2));
    ck_assert_str_eq(n0->model, "virtio");
    ck_assert(n0->has_mac && n0->mac[5] == 0xcc);
    ck_assert(!n1->has_mac && !n1->model);
    Fake *a = fake_new(&fake_nic_ops, "virtio-net-pci.0");
    Fake *b = fake_new(&fake_nic_ops, "e1000.0");
    ck_assert_int_eq(net_client_connect(a->nc, n0->peer), 0);
    ck_assert_int_eq(net_client_connect(b->nc, n1->peer), 0);
    ck_assert_int_eq(net_legacy_add("socket,udp=127.0.0.1:9,localaddr=127.0.0.1:0"), 0);
    ck_assert_int_eq(net_legacy_add("none"), 0);
    Fake *c = fake_new(&fake_nic_ops, "c");
    /* a third member by hand: the socket backend stays, c listens too */
    NetClient *port = NULL;
    for (NetClient *nc = net_client_next(NULL); nc; nc = net_client_next(nc))
        if (!strcmp(nc->name, "hub0port0"))
            port = nc;
    ck_assert_ptr_nonnull(port);
    ck_assert_int_eq(net_send_buf(a->nc, "hello", 5, NULL), 5);
    ck_assert_uint_eq(a->count, 0);
    ck_assert_uint_eq(b->count, 1);
    ck_assert(!memcmp(b->data[0], "hello", 5));
    ck_assert_int_eq(net_send_buf(b->nc, "back", 4, NULL), 4);
    ck_assert_uint_eq(a->count, 1);
    /* A busy port queues; the others still get it; flushing the busy one
     * delivers. */
    b->room = 0;
    ck_assert(net_peer_can_receive(a->nc));
    net_send_buf(a->nc, "q", 1, NULL);
    ck_assert_uint_eq(b->count, 1);
    b->room = -1;
    net_flush_queued(b->nc);
    ck_assert_uint_eq(b->count, 2);
    (void)c;
    char *info = net_info_string();
    ck_assert_msg(strstr(info, "hub 0\n \\ hub0port2: #net0: index=0,type=socket,") != NULL,
                  "%s", info);
    ck_assert_msg(strstr(info, " \\ hub0port0: virtio-net-pci.0: index=0,type=nic,") != NULL,
                  "%s", info);
    free(info);
}
END_TEST

START_TEST(info_network)
{
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(net_netdev_add("user,id=n0"), 0);
    Fake *nic = fake_new(&fake_nic_ops, "virtio-net-pci.0");
    snprintf(nic->nc->info_str, sizeof(nic->nc->info_str),
             "model=virtio-net-pci,macaddr=52:54:00:12:34:56");
    NetClient *be = net_netdev_claim("n0", "virtio-net-pci.0");
    ck_assert_ptr_nonnull(be);
    ck_assert_int_eq(net_client_connect(nic->nc, be), 0);
    ck_assert_int_eq(net_netdev_add("user,id=n1,net=192.168.5.0/24,restrict=on"), 0);
    char *info = net_info_string();
    ck_assert_str_eq(info, "virtio-net-pci.0: index=0,type=nic,model=virtio-net-pci,"
                           "macaddr=52:54:00:12:34:56\n"
                           " \\ n0: index=0,type=user,net=10.0.2.0,restrict=off\n"
                           "n1: index=0,type=user,net=192.168.5.0,restrict=on\n");
    free(info);
    ck_assert_ptr_eq(net_client_find("n1"), net_client_next(nic->nc));
    net_cleanup_all();
    ck_assert_ptr_null(net_client_next(NULL));
    fake_release(nic);
}
END_TEST

START_TEST(macaddr)
{
    uint8_t mac[6];
    char buf[18];
    ck_assert_int_eq(net_parse_macaddr("52:54:00:AB:cd:0f", mac), 0);
    net_format_macaddr(mac, buf);
    ck_assert_str_eq(buf, "52:54:00:ab:cd:0f");
    ck_assert_int_eq(net_parse_macaddr("52:54:00:ab:cd", mac), -1);
    ck_assert_int_eq(net_parse_macaddr("52:54:00:ab:cd:0f:11", mac), -1);
    ck_assert_int_eq(net_parse_macaddr("52-54-00-ab-cd-0f", mac), -1);
    ck_assert_int_eq(net_parse_macaddr("", mac), -1);
    net_default_macaddr(mac);
    net_format_macaddr(mac, buf);
    ck_assert_str_eq(buf, "52:54:00:12:34:56");
    net_default_macaddr(mac);
    net_format_macaddr(mac, buf);
    ck_assert_str_eq(buf, "52:54:00:12:34:57");
}
END_TEST

START_TEST(netdev_errors)
{
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_ptr_null(net_netdev_claim("x", "virtio-net-pci.0"));
    ck_assert_int_eq(net_netdev_add("user"), -1);
    ck_assert_int_eq(net_netdev_add("bogus,id=b"), -1);
    ck_assert_int_eq(net_netdev_add("user,id=u,foo=1"), -1);
    ck_assert_ptr_null(net_client_find("u"));
    ck_assert_int_eq(net_netdev_add("user,id=u,net=300.1.2.3"), -1);
    ck_assert_int_eq(net_netdev_add("user,id=u,dns=192.168.1.1"), -1);
    ck_assert_int_eq(net_netdev_add("user,id=u,hostfwd=tcp:1234"), -1);
    ck_assert_int_eq(net_netdev_add("tap,id=t,vhost=on,script=no,downscript=no"), -1);
    ck_assert_int_eq(net_netdev_add("socket,id=s"), -1);
    ck_assert_int_eq(net_netdev_add("socket,id=s,listen=:1,connect=a:2"), -1);
    ck_assert_int_eq(net_netdev_add("socket,id=s,mcast=230.0.0.1:1234"), -1);
    ck_assert_int_eq(net_netdev_add("user,id=u"), 0);
    ck_assert_int_eq(net_netdev_add("user,id=u"), -1);
    ck_assert_ptr_nonnull(net_netdev_claim("u", "virtio-net-pci.0"));
    ck_assert_ptr_null(net_netdev_claim("u", "e1000.0"));
    ck_assert_int_eq(net_legacy_add("nic,netdev=nope"), -1);
    ck_assert_int_eq(net_legacy_add("nic,macaddr=01:00:00:00:00:01"), -1);
    ck_assert_int_eq(net_legacy_add("nic,vlan=1"), -1);
    ck_assert_int_eq(net_netdev_add("user,id=unused"), 0);
    net_check_unused();     /* warns on stderr: netdev unused has no peer */
}
END_TEST

/* ---- socket backend ---- */

static int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static Fake *sl, *sc;             /* NICs on the listen and connect sides */
#define BURST 3000
static unsigned burst_sent;
static uint8_t burst_buf[9000];

static size_t burst_len(unsigned i)
{
    return 60 + (i * 37) % 8000;
}

static void burst_fill(unsigned i)
{
    for (size_t k = 0; k < burst_len(i); k++)
        burst_buf[k] = (uint8_t)(i * 7 + k);
}

static void burst_pump(NetClient *nc, ssize_t len);

/* Sends until the backend queues one, then waits for the sent_cb. */
static void burst_pump(NetClient *nc, ssize_t len)
{
    while (burst_sent < BURST) {
        burst_fill(burst_sent);
        ssize_t r = net_send_buf(sc->nc, burst_buf, burst_len(burst_sent), burst_pump);
        burst_sent++;
        if (r == 0)
            return;
    }
}

static bool step_listener_connected(void)
{
    return net_client_find("sl")->info_str[0] != '\0';
}

static bool step_send_both_ways(void)
{
    ck_assert_int_eq(net_send_buf(sc->nc, "from-connect", 12, NULL), 12);
    ck_assert_int_eq(net_send_buf(sl->nc, "from-listen!!", 13, NULL), 13);
    return true;
}

static bool step_both_arrived(void)
{
    return sl->count == 1 && sc->count == 1;
}

static bool step_start_burst(void)
{
    free(sl->data[0]);   /* the single frame above; the burst starts over */
    sl->count = 0;
    sl->room = 5;
    burst_pump(NULL, 0);
    return true;
}

/* The receiving NIC takes a few frames per tick: back-pressure all along. */
static bool step_burst_done(void)
{
    if (sl->room == 0) {
        sl->room = 50;
        net_flush_queued(sl->nc);
    }
    return sl->count >= BURST;
}

START_TEST(socket_listen_connect)
{
    ck_assert_int_eq(main_loop_init(), 0);
    int port = free_port(SOCK_STREAM);
    char opt[128];
    snprintf(opt, sizeof(opt), "socket,id=sl,listen=127.0.0.1:%d", port);
    ck_assert_int_eq(net_netdev_add(opt), 0);
    snprintf(opt, sizeof(opt), "socket,id=sc,connect=127.0.0.1:%d", port);
    ck_assert_int_eq(net_netdev_add(opt), 0);
    snprintf(opt, sizeof(opt), "socket,id=dup,listen=127.0.0.1:%d", port);
    ck_assert_int_eq(net_netdev_add(opt), -1);
    sl = fake_new(&fake_nic_ops, "nic-l");
    sc = fake_new(&fake_nic_ops, "nic-c");
    net_client_connect(sl->nc, net_netdev_claim("sl", "nic-l"));
    net_client_connect(sc->nc, net_netdev_claim("sc", "nic-c"));
    /* Nobody connected yet on the listen side: frames vanish. */
    ck_assert_int_eq(net_send_buf(sl->nc, "early", 5, NULL), 5);
    RUN_STEPS(step_listener_connected, step_send_both_ways, step_both_arrived,
              step_start_burst, step_burst_done);
    ck_assert_uint_eq(sl->len[0], burst_len(0));
    for (unsigned i = 0; i < BURST; i++) {
        burst_fill(i);
        ck_assert_uint_eq(sl->len[i], burst_len(i));
        ck_assert_msg(!memcmp(sl->data[i], burst_buf, burst_len(i)), "frame %u differs", i);
    }
    char *info = net_info_string();
    ck_assert_msg(strstr(info, " \\ sl: index=0,type=socket,socket: connection from 127.0.0.1:"),
                  "%s", info);
    free(info);
    net_cleanup_all();
    fake_release(sl);
    fake_release(sc);
}
END_TEST

/* ---- packets for the slirp tests ---- */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += p[len - 1] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet + IPv4 header (20 bytes); returns the offset of the payload. */
static size_t eth_ip(uint8_t *f, const uint8_t *dst_mac, uint32_t src, uint32_t dst,
                     uint8_t proto, size_t payload)
{
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + payload));
    ip[8] = 64;
    ip[9] = proto;
    put16(ip + 12, src >> 16);
    put16(ip + 14, (uint16_t)src);
    put16(ip + 16, dst >> 16);
    put16(ip + 18, (uint16_t)dst);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    return 34;
}

static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t len)
{
    uint32_t s = csum_add(0, ip + 12, 8);
    return s + proto + (uint32_t)len;
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

/* A DHCPDISCOVER (RFC 2131/2132): BOOTP op 1, magic cookie, option 53 = 1. */
static size_t dhcp_discover(uint8_t *f)
{
    size_t blen = 300;
    size_t off = eth_ip(f, bcast, 0, 0xffffffffu, 17, 8 + blen);
    uint8_t *udp = f + off, *b = udp + 8;
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, (uint16_t)(8 + blen));
    put16(udp + 6, 0);                  /* no UDP checksum (IPv4 allows it) */
    memset(b, 0, blen);
    b[0] = 1;                           /* BOOTREQUEST */
    b[1] = 1;                           /* Ethernet */
    b[2] = 6;
    b[4] = 0x12, b[5] = 0x34, b[6] = 0x56, b[7] = 0x78;    /* xid */
    memcpy(b + 28, guest_mac, 6);
    static const uint8_t opts[] = { 99, 130, 83, 99, 53, 1, 1, 255 };
    memcpy(b + 236, opts, sizeof(opts));
    return off + 8 + blen;
}

static size_t arp_frame(uint8_t *f, uint16_t op, const uint8_t *dst_mac, const uint8_t *tha,
                        uint32_t spa, uint32_t tpa)
{
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0806);
    uint8_t *a = f + 14;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, guest_mac, 6);
    put16(a + 14, spa >> 16);
    put16(a + 16, (uint16_t)spa);
    memcpy(a + 18, tha, 6);
    put16(a + 24, tpa >> 16);
    put16(a + 26, (uint16_t)tpa);
    memset(f + 42, 0, 18);
    return 60;
}

static uint8_t slirp_mac[6];

static size_t tcp_syn(uint8_t *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    size_t off = eth_ip(f, slirp_mac, src, dst, 6, 20);
    uint8_t *t = f + off;
    memset(t, 0, 20);
    put16(t, sport);
    put16(t + 2, dport);
    put16(t + 4, 0x1000);                /* seq */
    t[12] = 5 << 4;
    t[13] = 0x02;                       /* SYN */
    put16(t + 14, 65535);
    put16(t + 16, csum_fold(pseudo_sum(f + 14, 6, 20) + csum_add(0, t, 20)));
    return off + 20;
}

/* The fake NIC answers "who has arp_ip" as a guest would. */
static ssize_t guest_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    Fake *f = nc->opaque;
    ssize_t r = fake_receive(nc, iov, iovcnt);
    const uint8_t *p = f->data[f->count - 1];
    if (f->arp_ip && f->len[f->count - 1] >= 42 && get16(p + 12) == 0x0806 &&
        get16(p + 20) == 1 && ((uint32_t)get16(p + 38) << 16 | get16(p + 40)) == f->arp_ip) {
        uint8_t reply[60];
        uint32_t spa = (uint32_t)get16(p + 28) << 16 | get16(p + 30);
        arp_frame(reply, 2, p + 6, p + 22, f->arp_ip, spa);
        net_send_buf(nc, reply, sizeof(reply), NULL);
    }
    return r;
}

static const NetClientOps guest_ops = {
    .kind = NET_CLIENT_NIC, .receive = guest_receive, .can_receive = fake_can_receive,
};

static Fake *guest;

static Fake *guest_on_user(const char *opts)
{
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(net_netdev_add(opts), 0);
    guest = fake_new(&guest_ops, "guest");
    guest->arp_ip = IP(10, 0, 2, 15);
    net_client_connect(guest->nc, net_netdev_claim("u", "guest"));
    return guest;
}

/* Index of the first received frame matching pred, or -1. */
static int find_frame(bool (*pred)(const uint8_t *p, size_t len))
{
    for (unsigned i = 0; i < guest->count && i < MAX_FRAMES; i++)
        if (pred(guest->data[i], guest->len[i]))
            return (int)i;
    return -1;
}

static bool is_udp_to(const uint8_t *p, size_t len, uint16_t dport)
{
    return len >= 42 && get16(p + 12) == 0x0800 && p[23] == 17 &&
           get16(p + 14 + (p[14] & 15) * 4 + 2) == dport;
}

static bool is_dhcp_offer(const uint8_t *p, size_t len)
{
    if (!is_udp_to(p, len, 68))
        return false;
    const uint8_t *b = p + 14 + (p[14] & 15) * 4 + 8;
    size_t blen = len - (size_t)(b - p);
    if (blen < 244 || b[0] != 2 || memcmp(b + 28, guest_mac, 6))
        return false;
    uint32_t yiaddr = (uint32_t)get16(b + 16) << 16 | get16(b + 18);
    /* options after the cookie: look for 53 = 2 (DHCPOFFER) */
    for (size_t i = 240; i + 2 < blen && b[i] != 255;) {
        if (b[i] == 0) {
            i++;
            continue;
        }
        if (b[i] == 53 && b[i + 2] == 2)
            return yiaddr == IP(10, 0, 2, 15);
        i += 2 + b[i + 1];
    }
    return false;
}

static bool step_dhcp_send(void)
{
    uint8_t f[400];
    size_t len = dhcp_discover(f);
    ck_assert_int_eq(net_send_buf(guest->nc, f, len, NULL), (ssize_t)len);
    return true;
}

static bool step_dhcp_offer(void)
{
    return find_frame(is_dhcp_offer) >= 0;
}

START_TEST(user_dhcp)
{
    guest_on_user("user,id=u");
    RUN_STEPS(step_dhcp_send, step_dhcp_offer);
}
END_TEST

/* The NIC is full: slirp's reply waits in the queue until it has room. */
static bool step_reply_queued(void)
{
    return net_client_queued(guest->nc) > 0;
}

static bool step_make_room(void)
{
    ck_assert_uint_eq(guest->count, 0);
    guest->room = -1;
    net_flush_queued(guest->nc);
    return true;
}

START_TEST(user_backpressure)
{
    guest_on_user("user,id=u");
    guest->room = 0;
    RUN_STEPS(step_dhcp_send, step_reply_queued, step_make_room, step_dhcp_offer);
}
END_TEST

static bool is_arp_reply_host(const uint8_t *p, size_t len)
{
    if (len < 42 || get16(p + 12) != 0x0806 || get16(p + 20) != 2)
        return false;
    if (((uint32_t)get16(p + 28) << 16 | get16(p + 30)) != IP(10, 0, 2, 2) ||
        memcmp(p + 32, guest_mac, 6))
        return false;
    memcpy(slirp_mac, p + 22, 6);
    return true;
}

static bool step_arp_send(void)
{
    uint8_t f[60];
    static const uint8_t zero[6];
    arp_frame(f, 1, bcast, zero, IP(10, 0, 2, 15), IP(10, 0, 2, 2));
    net_send_buf(guest->nc, f, sizeof(f), NULL);
    return true;
}

static bool step_arp_reply(void)
{
    return find_frame(is_arp_reply_host) >= 0;
}

START_TEST(user_arp)
{
    guest_on_user("user,id=u");
    RUN_STEPS(step_arp_send, step_arp_reply);
}
END_TEST

/* hostfwd: a host connect() becomes a SYN from slirp to the guest. */
static int fwd_port, host_fd = -1;

static bool is_syn_to_guest(const uint8_t *p, size_t len)
{
    if (len < 54 || get16(p + 12) != 0x0800 || p[23] != 6)
        return false;
    const uint8_t *t = p + 14 + (p[14] & 15) * 4;
    uint32_t dst = (uint32_t)get16(p + 30) << 16 | get16(p + 32);
    return dst == IP(10, 0, 2, 15) && get16(t + 2) == 2222 && (t[13] & 0x12) == 0x02;
}

static bool step_host_connect(void)
{
    host_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fwd_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int r = connect(host_fd, (struct sockaddr *)&a, sizeof(a));
    ck_assert(r == 0 || errno == EINPROGRESS);
    return true;
}

static bool step_syn_seen(void)
{
    return find_frame(is_syn_to_guest) >= 0;
}

START_TEST(user_hostfwd)
{
    fwd_port = free_port(SOCK_STREAM);
    char opt[128];
    snprintf(opt, sizeof(opt), "user,id=u,hostfwd=tcp:127.0.0.1:%d-:2222", fwd_port);
    guest_on_user(opt);
    RUN_STEPS(step_host_connect, step_syn_seen);
    /* The same port again: the rule cannot be set up. */
    snprintf(opt, sizeof(opt), "user,id=u2,hostfwd=tcp:127.0.0.1:%d-:22", fwd_port);
    ck_assert_int_eq(net_netdev_add(opt), -1);
}
END_TEST

/* A guest SYN to 10.0.2.2:PORT arrives at the host's 127.0.0.1:PORT. */
static int listen_fd = -1;

static bool step_guest_syn(void)
{
    uint8_t f[80];
    size_t len = tcp_syn(f, IP(10, 0, 2, 15), 40000, IP(10, 0, 2, 2), (uint16_t)fwd_port);
    net_send_buf(guest->nc, f, len, NULL);
    return true;
}

static bool step_host_accepts(void)
{
    struct pollfd p = { listen_fd, POLLIN, 0 };
    if (poll(&p, 1, 0) != 1)
        return false;
    int fd = accept(listen_fd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    return true;
}

START_TEST(user_guest_connect)
{
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(listen_fd, 4), 0);
    getsockname(listen_fd, (struct sockaddr *)&a, &alen);
    fwd_port = ntohs(a.sin_port);
    guest_on_user("user,id=u");
    RUN_STEPS(step_arp_send, step_arp_reply, step_guest_syn, step_host_accepts);
}
END_TEST

/* ---- tap, in a private network namespace ---- */

static const char *tap_unavailable(void)
{
    static char why[128];
    if (geteuid() != 0)
        return "not root";
    if (access("/dev/net/tun", R_OK | W_OK) < 0) {
        snprintf(why, sizeof(why), "/dev/net/tun: %s", strerror(errno));
        return why;
    }
    return NULL;
}

static int pkt_fd = -1;
static Fake *tap_nic;
#define TEST_ETHERTYPE 0x88b5       /* IEEE local experimental */

static bool is_test_frame(const uint8_t *p, size_t len)
{
    return len >= 14 && get16(p + 12) == TEST_ETHERTYPE;
}

static bool step_tap_to_host(void)
{
    uint8_t f[100], buf[2048];
    memset(f, 0xab, sizeof(f));
    memcpy(f, bcast, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, TEST_ETHERTYPE);
    ck_assert_int_eq(net_send_buf(tap_nic->nc, f, sizeof(f), NULL), (ssize_t)sizeof(f));
    for (int tries = 0; tries < 50; tries++) {
        struct pollfd p = { pkt_fd, POLLIN, 0 };
        if (poll(&p, 1, 100) != 1)
            continue;
        ssize_t n = recv(pkt_fd, buf, sizeof(buf), 0);
        if (n == (ssize_t)sizeof(f) && !memcmp(buf, f, sizeof(f)))
            return true;
    }
    ck_abort_msg("frame written to the tap never seen on the interface");
    return false;
}

static bool step_host_to_tap(void)
{
    static bool sent;
    if (!sent) {
        uint8_t f[64];
        memset(f, 0xcd, sizeof(f));
        memcpy(f, guest_mac, 6);
        memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
        put16(f + 12, TEST_ETHERTYPE);
        ck_assert_int_eq(send(pkt_fd, f, sizeof(f), 0), (ssize_t)sizeof(f));
        sent = true;
    }
    for (unsigned i = 0; i < tap_nic->count; i++)
        if (is_test_frame(tap_nic->data[i], tap_nic->len[i]) && tap_nic->len[i] == 64 &&
            tap_nic->data[i][20] == 0xcd)
            return true;
    return false;
}

START_TEST(tap)
{
    ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
    ck_assert_int_eq(main_loop_init(), 0);
    ck_assert_int_eq(net_netdev_add("tap,id=t0,ifname=vmmtest0,script=no,downscript=no"), 0);
    tap_nic = fake_new(&fake_nic_ops, "nic");
    net_client_connect(tap_nic->nc, net_netdev_claim("t0", "nic"));
    ck_assert(net_peer_has_vnet_hdr(tap_nic->nc));
    char *info = net_info_string();
    ck_assert_msg(strstr(info, " \\ t0: index=0,type=tap,ifname=vmmtest0,script=no,downscript=no\n"),
                  "%s", info);
    free(info);
    /* Bring the interface up and watch it with a packet socket. */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, IFNAMSIZ, "vmmtest0");
    ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
    close(s);
    pkt_fd = socket(AF_PACKET, SOCK_RAW, htons(TEST_ETHERTYPE));
    ck_assert_int_ge(pkt_fd, 0);
    struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE),
                              .sll_ifindex = (int)if_nametoindex("vmmtest0") };
    ck_assert_int_eq(bind(pkt_fd, (struct sockaddr *)&ll, sizeof(ll)), 0);
    RUN_STEPS(step_tap_to_host, step_host_to_tap);
    /* With the vnet header negotiated (12 bytes) frames carry it both ways. */
    net_peer_set_vnet_hdr(tap_nic->nc, true, 12);
    ck_assert(tap_nic->nc->vnet_hdr && tap_nic->nc->vnet_hdr_len == 12);
    net_peer_set_offload(tap_nic->nc, true, true, true, false, false);
    uint8_t f[12 + 80], buf[2048];
    memset(f, 0, 12);
    memset(f + 12, 0xef, 80);
    memcpy(f + 12, bcast, 6);
    memcpy(f + 18, guest_mac, 6);
    put16(f + 24, TEST_ETHERTYPE);
    ck_assert_int_eq(net_send_buf(tap_nic->nc, f, sizeof(f), NULL), (ssize_t)sizeof(f));
    bool seen = false;
    for (int tries = 0; tries < 50 && !seen; tries++) {
        struct pollfd p = { pkt_fd, POLLIN, 0 };
        if (poll(&p, 1, 100) != 1)
            continue;
        ssize_t n = recv(pkt_fd, buf, sizeof(buf), 0);
        seen = n == 80 && !memcmp(buf, f + 12, 80);
    }
    ck_assert_msg(seen, "frame with a vnet header not seen without it on the interface");
    net_cleanup_all();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net");
    UNIT_TEST(s, queue_backpressure);
    UNIT_TEST(s, queue_bound);
    UNIT_TEST(s, link_down);
    UNIT_TEST(s, hub_broadcast);
    UNIT_TEST(s, info_network);
    UNIT_TEST(s, macaddr);
    UNIT_TEST(s, netdev_errors);
    UNIT_TEST(s, socket_listen_connect);
    UNIT_TEST(s, user_dhcp);
    UNIT_TEST(s, user_backpressure);
    UNIT_TEST(s, user_arp);
    UNIT_TEST(s, user_hostfwd);
    UNIT_TEST(s, user_guest_connect);
    const char *why = tap_unavailable();
    if (why)
        printf("ok - tap # SKIP %s\n", why);
    else
        UNIT_TEST(s, tap);
    return unit_run(s);
}
