/*
 * Announcing the guest's NICs after it arrived on a new host (a live
 * migration): switches forward frames for a MAC to the port they last saw
 * it on, so each NIC broadcasts a frame from its MAC.  Like QEMU we send a
 * RARP "reverse request" (RFC 903: ethertype 0x8035, opcode 3) that needs
 * no IP address and that nobody answers, several times in case the first
 * ones are lost while links settle.
 */
#include <stdint.h>
#include <string.h>

#include "net.h"
#include "util.h"

#define ETH_P_RARP 0x8035
#define ARPOP_RREQUEST 3
#define ARPHRD_ETHER 1
#define ETH_P_IP 0x0800
#define ETH_ZLEN 60             /* minimum frame without FCS */

#define ANNOUNCE_ROUNDS 5
#define ANNOUNCE_INITIAL_MS 50
#define ANNOUNCE_STEP_MS 100

static Timer *announce_timer;
static unsigned announce_round;

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = (uint8_t)v;
}

/* RFC 903 packet in an Ethernet broadcast, padded to the minimum size. */
static size_t rarp_frame(uint8_t *f, const uint8_t mac[6])
{
    memset(f, 0, ETH_ZLEN);
    memset(f, 0xff, 6);                 /* destination: broadcast */
    memcpy(f + 6, mac, 6);              /* source */
    put_be16(f + 12, ETH_P_RARP);
    uint8_t *a = f + 14;
    put_be16(a, ARPHRD_ETHER);          /* hardware type */
    put_be16(a + 2, ETH_P_IP);          /* protocol type */
    a[4] = 6;                           /* hardware address length */
    a[5] = 4;                           /* protocol address length */
    put_be16(a + 6, ARPOP_RREQUEST);
    memcpy(a + 8, mac, 6);              /* sender hardware address */
    /* sender protocol address 0.0.0.0 */
    memcpy(a + 18, mac, 6);             /* target hardware address */
    /* target protocol address 0.0.0.0 */
    return ETH_ZLEN;
}

/* A zero header first when the NIC and its peer exchange virtio-net headers. */
static void announce_nic(NetClient *nc)
{
    uint8_t mac[6], hdr[sizeof(VirtioNetHdr)] = { 0 }, frame[ETH_ZLEN];
    nc->ops->get_mac(nc, mac);
    if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) || (mac[0] & 1))
        return;   /* no usable unicast address yet */
    struct iovec iov[2];
    int cnt = 0;
    if (nc->vnet_hdr && nc->vnet_hdr_len <= sizeof(hdr))
        iov[cnt++] = (struct iovec){ hdr, nc->vnet_hdr_len };
    iov[cnt++] = (struct iovec){ frame, rarp_frame(frame, mac) };
    net_send(nc, iov, cnt, NULL);
}

static void announce_all(void)
{
    for (NetClient *nc = net_client_next(NULL); nc; nc = net_client_next(nc))
        if (nc->kind == NET_CLIENT_NIC && nc->peer && !nc->link_down && nc->ops->get_mac)
            announce_nic(nc);
}

static void announce_tick(void *opaque)
{
    (void)opaque;
    announce_all();
    if (++announce_round < ANNOUNCE_ROUNDS) {
        int64_t ms = ANNOUNCE_INITIAL_MS + (int64_t)(announce_round - 1) * ANNOUNCE_STEP_MS;
        timer_mod(announce_timer, clock_ns(CLOCK_REALTIME_NS) + ms * 1000000);
    }
}

void net_announce_self(void)
{
    if (!announce_timer)
        announce_timer = timer_new(CLOCK_REALTIME_NS, announce_tick, NULL);
    announce_round = 0;
    announce_tick(NULL);
}
