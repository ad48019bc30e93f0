/*
 * virtio-net (virtio 1.2, 5.1): a NIC joined to a net/ backend.
 *
 * Queues: receiveq0, transmitq0 and the control queue.  Every frame a
 * driver exchanges with the device starts with a struct virtio_net_hdr
 * (12 bytes with VERSION_1 or MRG_RXBUF, else 10).  When the backend
 * speaks the same header (tap with IFF_VNET_HDR) it passes through, so
 * checksum and segmentation offloads reach the host; otherwise the device
 * strips it on transmit (computing a checksum the guest left to us) and
 * prepends an all-zero one on receive.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"
#include "net.h"
#include "pc.h"
#include "virtio.h"
#include "vmstate.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_RX_EXTRA 20
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23
#define BIT(n) (1ULL << (n))

/* Config status bits (5.1.4). */
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2
/* struct virtio_net_config: mac[6], le16 status (QEMU's size without MQ/MTU). */
#define CFG_MAC 0
#define CFG_STATUS 6
#define NET_CONFIG_SIZE 8

/* Control queue (5.1.6.5). */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define  VIRTIO_NET_CTRL_RX_PROMISC 0
#define  VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define  VIRTIO_NET_CTRL_RX_ALLUNI 2
#define  VIRTIO_NET_CTRL_RX_NOMULTI 3
#define  VIRTIO_NET_CTRL_RX_NOUNI 4
#define  VIRTIO_NET_CTRL_RX_NOBCAST 5
#define VIRTIO_NET_CTRL_MAC 1
#define  VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define  VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define  VIRTIO_NET_CTRL_ANNOUNCE_ACK 0

#define ETH_ALEN 6
#define MAC_TABLE_ENTRIES 64    /* beyond this: overflow = accept all of that kind */
#define CTRL_MAX_DATA (8 + 2 * MAC_TABLE_ENTRIES * ETH_ALEN + 2 * 4)
/* Receive buffers one frame may use with MRG_RXBUF (Linux's are >= 1518 B). */
#define RX_MAX_ELEMS 64
/* Largest frame we checksum in software (a 64 KiB IP packet + Ethernet). */
#define TX_BUF_SIZE (65536 + 256)

typedef struct MacTable {
    unsigned uni, multi;        /* entries [0, uni) unicast, then multicast */
    bool uni_overflow, multi_overflow;
    uint8_t macs[MAC_TABLE_ENTRIES][ETH_ALEN];
} MacTable;

typedef struct VirtIONet {
    VirtIODevice vdev;
    NetClient *nc;
    VirtQueue *rx_vq, *tx_vq, *ctrl_vq;
    uint8_t mac[ETH_ALEN], perm_mac[ETH_ALEN];
    uint64_t allowed;           /* features the properties left on */
    bool backend_vnet;          /* frames to/from the backend carry a header */
    unsigned guest_hdr_len;     /* 10 or 12 */
    uint16_t status;            /* config status */
    /* receive filter (CTRL_RX); promiscuous until the driver says otherwise */
    bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
    MacTable table;
    /* transmit: one frame may be waiting for the backend */
    bool tx_waiting;
    VirtQueueElement tx_elem;
    VirtioNetHdr tx_hdr;
    struct iovec tx_iov[VIRTQUEUE_MAX_SEGS + 1];
    uint8_t *tx_buf;
    /* receive */
    VirtQueueElement *rx_elems;
    uint32_t rx_lens[RX_MAX_ELEMS];
    VirtQueueElement ctrl_elem;
} VirtIONet;

static unsigned net_instances;

/* ---- config and link ---- */
static bool net_link_up(const VirtIONet *n)
{
    return !n->nc->link_down && !(n->nc->peer && n->nc->peer->link_down);
}

static void net_update_status(VirtIONet *n)
{
    uint16_t old = n->status;
    if (net_link_up(n))
        n->status |= VIRTIO_NET_S_LINK_UP;
    else
        n->status &= ~VIRTIO_NET_S_LINK_UP;
    if (n->status != old)
        virtio_notify_config(&n->vdev);
}

static void net_get_config(VirtIODevice *vdev)
{
    VirtIONet *n = vdev->opaque;
    uint16_t st = htole16(n->status);
    memcpy(vdev->config + CFG_MAC, n->mac, ETH_ALEN);
    memcpy(vdev->config + CFG_STATUS, &st, 2);
}

/* Legacy drivers without CTRL_MAC_ADDR set the MAC by writing the config. */
static void net_set_config(VirtIODevice *vdev, unsigned off, unsigned len)
{
    VirtIONet *n = vdev->opaque;
    if (off >= CFG_MAC + ETH_ALEN || virtio_has_feature(vdev, VIRTIO_F_VERSION_1) ||
        virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_MAC_ADDR))
        return;
    memcpy(n->mac, vdev->config + CFG_MAC, ETH_ALEN);
}

static void net_format_info(VirtIONet *n)
{
    char mac[18];
    net_format_macaddr(n->mac, mac);
    snprintf(n->nc->info_str, sizeof(n->nc->info_str),
             "model=virtio-net-pci,macaddr=%s", mac);
}

static void net_link_status_changed(NetClient *nc)
{
    net_update_status(nc->opaque);
}

/* ---- transmit ---- */
static void net_tx_flush(VirtIONet *n);

/* 16-bit one's complement sum of len bytes at off (RFC 1071). */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/*
 * NEEDS_CSUM without a vnet-header backend: the driver left the checksum
 * from csum_start to the end of the frame to us (5.1.6.2), with the
 * pseudo-header sum already in the field.  Bounce the frame and fill it in.
 * Returns the iovec count, or 0 to drop the frame.
 */
static int net_tx_csum(VirtIONet *n, const VirtioNetHdr *h, size_t frame_len)
{
    VirtQueueElement *e = &n->tx_elem;
    uint16_t start = le16toh(h->csum_start), off = le16toh(h->csum_offset);
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE || frame_len > TX_BUF_SIZE ||
        (size_t)start + off + 2 > frame_len) {
        guest_error("%s: tx frame of %zu bytes with gso %u, csum %u+%u: dropped\n",
                    n->vdev.name, frame_len, h->gso_type, start, off);
        return 0;
    }
    iov_to_buf(e->sg, e->out_num, n->guest_hdr_len, n->tx_buf, frame_len);
    uint16_t c = inet_csum(n->tx_buf + start, frame_len - start);
    n->tx_buf[start + off] = c >> 8;
    n->tx_buf[start + off + 1] = c & 0xff;
    n->tx_iov[0] = (struct iovec){ n->tx_buf, frame_len };
    return 1;
}

static void net_tx_sent(NetClient *nc, ssize_t len)
{
    VirtIONet *n = nc->opaque;
    if (!n->tx_waiting)
        return;     /* the device was reset meanwhile */
    n->tx_waiting = false;
    virtqueue_push(n->tx_vq, &n->tx_elem, 0);
    virtio_notify(&n->vdev, n->tx_vq);
    net_tx_flush(n);
}

/*
 * Send n->tx_elem.  Returns false when the backend queued it (wait for
 * net_tx_sent), true when it is done with (sent or dropped).
 */
static bool net_tx_one(VirtIONet *n)
{
    VirtQueueElement *e = &n->tx_elem;
    unsigned hl = n->guest_hdr_len;
    if (e->out_len < hl) {
        virtio_error(&n->vdev, "tx buffer of %zu bytes is shorter than the header", e->out_len);
        return true;
    }
    VirtioNetHdr *h = &n->tx_hdr;
    memset(h, 0, sizeof(*h));
    iov_to_buf(e->sg, e->out_num, 0, h, hl);
    size_t frame_len = e->out_len - hl;
    int cnt;
    if (n->backend_vnet) {
        h->num_buffers = 0;
        n->tx_iov[0] = (struct iovec){ h, n->nc->vnet_hdr_len };
        cnt = iov_view(e->sg, e->out_num, hl, frame_len, n->tx_iov + 1, VIRTQUEUE_MAX_SEGS);
        cnt = cnt < 0 ? 0 : cnt + 1;
    } else if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        cnt = net_tx_csum(n, h, frame_len);
    } else {
        cnt = iov_view(e->sg, e->out_num, hl, frame_len, n->tx_iov, VIRTQUEUE_MAX_SEGS);
        cnt = cnt < 0 ? 0 : cnt;
    }
    if (cnt == 0)
        return true;
    return net_send(n->nc, n->tx_iov, cnt, net_tx_sent) != 0;
}

/* Send every frame the driver queued, unless one is waiting for the backend. */
static void net_tx_flush(VirtIONet *n)
{
    VirtQueue *vq = n->tx_vq;
    do {
        if (n->tx_waiting || !virtio_device_ready(&n->vdev))
            return;
        virtqueue_set_notification(vq, false);
        for (;;) {
            int ret = virtqueue_pop(vq, &n->tx_elem);
            if (ret < 0)
                return;
            if (ret == 0)
                break;
            if (!net_tx_one(n)) {
                /* Kicks stay off: net_tx_sent resumes. */
                n->tx_waiting = true;
                return;
            }
            if (n->vdev.broken)
                return;
            virtqueue_push(vq, &n->tx_elem, 0);
            virtio_notify(&n->vdev, vq);
        }
        virtqueue_set_notification(vq, true);
    } while (!virtqueue_empty(vq));
}

static void net_handle_tx(VirtIODevice *vdev, VirtQueue *vq)
{
    net_tx_flush(vdev->opaque);
}

/* ---- receive ---- */
/*
 * Are receive buffers posted?  When not, ask the driver to kick when it
 * adds some (and look again, in case it just did); the kick flushes the
 * frames the net layer queued for us.
 */
static bool net_rx_has_buffers(VirtIONet *n)
{
    if (virtqueue_empty(n->rx_vq)) {
        virtqueue_set_notification(n->rx_vq, true);
        if (virtqueue_empty(n->rx_vq))
            return false;
    }
    virtqueue_set_notification(n->rx_vq, false);
    return true;
}

static bool net_rx_ready(VirtIONet *n)
{
    return virtio_device_ready(&n->vdev) && (n->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK) &&
           virtqueue_ready(n->rx_vq);
}

static bool net_can_receive(NetClient *nc)
{
    VirtIONet *n = nc->opaque;
    return net_rx_ready(n) && net_rx_has_buffers(n);
}

static bool mac_table_has(const VirtIONet *n, const uint8_t *mac, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++)
        if (!memcmp(n->table.macs[i], mac, ETH_ALEN))
            return true;
    return false;
}

/* The CTRL_RX receive filter (5.1.6.5.1, 5.1.6.5.2). */
static bool net_rx_filter(const VirtIONet *n, const uint8_t *dst, size_t len)
{
    static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    if (n->promisc)
        return true;
    if (len < ETH_ALEN)
        return false;
    if (!memcmp(dst, bcast, ETH_ALEN))
        return !n->nobcast;
    unsigned uni = n->table.uni, all = n->table.uni + n->table.multi;
    if (dst[0] & 1) {
        if (n->nomulti)
            return false;
        return n->allmulti || n->table.multi_overflow || mac_table_has(n, dst, uni, all);
    }
    if (n->nouni)
        return false;
    return n->alluni || n->table.uni_overflow || !memcmp(dst, n->mac, ETH_ALEN) ||
           mac_table_has(n, dst, 0, uni);
}

static void net_rx_unpop(VirtIONet *n, unsigned count)
{
    while (count-- > 0)
        virtqueue_unpop(n->rx_vq, &n->rx_elems[count]);
}

/*
 * Copy a frame (src from soff, size bytes) after hdr into receive buffers:
 * one buffer, or several with MRG_RXBUF.  Returns size when delivered or
 * dropped, 0 when buffers ran out (the net layer keeps the frame).
 */
static ssize_t net_rx_deliver(VirtIONet *n, VirtioNetHdr *hdr, const struct iovec *src,
                              int scnt, size_t soff, size_t size, ssize_t total)
{
    bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
    unsigned hl = n->guest_hdr_len, count = 0;
    size_t done = 0;
    while (count == 0 || done < size) {
        if (count == RX_MAX_ELEMS) {
            guest_error("%s: rx frame of %zu bytes needs more than %d buffers: dropped\n",
                        n->vdev.name, size, RX_MAX_ELEMS);
            net_rx_unpop(n, count);
            return total;
        }
        VirtQueueElement *e = &n->rx_elems[count];
        int ret = virtqueue_pop(n->rx_vq, e);
        if (ret < 0)
            return total;
        if (ret == 0) {
            net_rx_unpop(n, count);
            net_rx_has_buffers(n);      /* re-enable the kick */
            return 0;
        }
        count++;
        size_t off = count == 1 ? hl : 0;
        if (e->in_len < off || e->in_len == 0) {
            virtio_error(&n->vdev, "rx buffer of %zu bytes is too small", e->in_len);
            return total;
        }
        size_t take = MIN(e->in_len - off, size - done);
        iov_to_iov(e->sg + e->out_num, e->in_num, off, src, (unsigned)scnt, soff + done, take);
        n->rx_lens[count - 1] = (uint32_t)(off + take);
        done += take;
        if (!mrg && done < size) {
            guest_error("%s: rx frame of %zu bytes does not fit a %zu-byte buffer: dropped\n",
                        n->vdev.name, size, e->in_len);
            net_rx_unpop(n, count);
            return total;
        }
    }
    hdr->num_buffers = htole16((uint16_t)count);
    virtqueue_elem_write(&n->rx_elems[0], 0, hdr, hl);
    for (unsigned i = 0; i < count; i++)
        virtqueue_fill(n->rx_vq, &n->rx_elems[i], n->rx_lens[i], i);
    virtqueue_flush(n->rx_vq, count);
    virtio_notify(&n->vdev, n->rx_vq);
    return total;
}

static ssize_t net_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    VirtIONet *n = nc->opaque;
    size_t total = iov_size(iov, (unsigned)iovcnt), soff = 0;
    VirtioNetHdr hdr = { 0 };
    if (!net_rx_ready(n))
        return 0;
    if (nc->vnet_hdr) {
        soff = MIN((size_t)nc->vnet_hdr_len, sizeof(hdr));
        iov_to_buf(iov, (unsigned)iovcnt, 0, &hdr, soff);
        soff = MIN((size_t)nc->vnet_hdr_len, total);
        hdr.num_buffers = 0;
    }
    size_t size = total - soff;
    uint8_t dst[ETH_ALEN] = { 0 };
    iov_to_buf(iov, (unsigned)iovcnt, soff, dst, ETH_ALEN);
    if (!net_rx_filter(n, dst, size))
        return (ssize_t)total;
    if (!net_rx_has_buffers(n))
        return 0;
    return net_rx_deliver(n, &hdr, iov, iovcnt, soff, size, (ssize_t)total);
}

/* The driver posted receive buffers: deliver what the backend queued. */
static void net_handle_rx(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIONet *n = vdev->opaque;
    virtqueue_set_notification(vq, false);
    net_flush_queued(n->nc);
}

/* ---- control queue (5.1.6.5) ---- */
static uint8_t ctrl_rx(VirtIONet *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    bool extra = virtio_has_feature(&n->vdev, VIRTIO_NET_F_CTRL_RX_EXTRA);
    bool *flag;
    if (len != 1 || !virtio_has_feature(&n->vdev, VIRTIO_NET_F_CTRL_RX))
        return VIRTIO_NET_ERR;
    switch (cmd) {
    case VIRTIO_NET_CTRL_RX_PROMISC: flag = &n->promisc; break;
    case VIRTIO_NET_CTRL_RX_ALLMULTI: flag = &n->allmulti; break;
    case VIRTIO_NET_CTRL_RX_ALLUNI: flag = extra ? &n->alluni : NULL; break;
    case VIRTIO_NET_CTRL_RX_NOMULTI: flag = extra ? &n->nomulti : NULL; break;
    case VIRTIO_NET_CTRL_RX_NOUNI: flag = extra ? &n->nouni : NULL; break;
    case VIRTIO_NET_CTRL_RX_NOBCAST: flag = extra ? &n->nobcast : NULL; break;
    default: flag = NULL; break;
    }
    if (!flag)
        return VIRTIO_NET_ERR;
    *flag = data[0] != 0;
    return VIRTIO_NET_OK;
}

/* One half of MAC_TABLE_SET: le32 entries, then entries * 6 bytes. */
static bool mac_table_parse(MacTable *t, const uint8_t *data, size_t len, size_t *pos,
                            bool multi)
{
    uint32_t entries;
    if (len - *pos < 4)
        return false;
    memcpy(&entries, data + *pos, 4);
    entries = le32toh(entries);
    *pos += 4;
    if (entries > (len - *pos) / ETH_ALEN)
        return false;
    unsigned used = t->uni + t->multi;
    if (entries > MAC_TABLE_ENTRIES - used) {
        if (multi)
            t->multi_overflow = true;
        else
            t->uni_overflow = true;
    } else {
        memcpy(t->macs[used], data + *pos, entries * ETH_ALEN);
        if (multi)
            t->multi = entries;
        else
            t->uni = entries;
    }
    *pos += entries * ETH_ALEN;
    return true;
}

static uint8_t ctrl_mac(VirtIONet *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
        if (len != ETH_ALEN || !virtio_has_feature(&n->vdev, VIRTIO_NET_F_CTRL_MAC_ADDR))
            return VIRTIO_NET_ERR;
        memcpy(n->mac, data, ETH_ALEN);
        net_format_info(n);
        return VIRTIO_NET_OK;
    }
    if (cmd != VIRTIO_NET_CTRL_MAC_TABLE_SET)
        return VIRTIO_NET_ERR;
    MacTable t = { 0 };
    size_t pos = 0;
    if (!mac_table_parse(&t, data, len, &pos, false) ||
        !mac_table_parse(&t, data, len, &pos, true) || pos != len)
        return VIRTIO_NET_ERR;
    n->table = t;
    return VIRTIO_NET_OK;
}

static uint8_t ctrl_announce(VirtIONet *n, uint8_t cmd, size_t len)
{
    if (cmd != VIRTIO_NET_CTRL_ANNOUNCE_ACK ||
        !virtio_has_feature(&n->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE))
        return VIRTIO_NET_ERR;
    n->status &= ~VIRTIO_NET_S_ANNOUNCE;
    return VIRTIO_NET_OK;
}

static uint8_t ctrl_dispatch(VirtIONet *n, uint8_t cls, uint8_t cmd, const uint8_t *data,
                             size_t len)
{
    switch (cls) {
    case VIRTIO_NET_CTRL_RX: return ctrl_rx(n, cmd, data, len);
    case VIRTIO_NET_CTRL_MAC: return ctrl_mac(n, cmd, data, len);
    case VIRTIO_NET_CTRL_ANNOUNCE: return ctrl_announce(n, cmd, len);
    default: return VIRTIO_NET_ERR;
    }
}

static void net_handle_ctrl(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIONet *n = vdev->opaque;
    VirtQueueElement *e = &n->ctrl_elem;
    static uint8_t data[CTRL_MAX_DATA];
    while (virtqueue_pop(vq, e) > 0) {
        uint8_t cls_cmd[2], ack = VIRTIO_NET_ERR;
        if (e->out_len < 2 || e->in_len < 1) {
            virtio_error(vdev, "control message of %zu+%zu bytes", e->out_len, e->in_len);
            return;
        }
        virtqueue_elem_read(e, 0, cls_cmd, 2);
        size_t len = e->out_len - 2;
        if (len <= sizeof(data)) {
            virtqueue_elem_read(e, 2, data, len);
            ack = ctrl_dispatch(n, cls_cmd[0], cls_cmd[1], data, len);
        }
        virtqueue_elem_write(e, 0, &ack, 1);
        virtqueue_push(vq, e, 1);
        virtio_notify(vdev, vq);
    }
}

/* ---- device ops ---- */
static uint64_t net_get_features(VirtIODevice *vdev)
{
    VirtIONet *n = vdev->opaque;
    uint64_t f = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CSUM) |
                 BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CTRL_VQ) |
                 BIT(VIRTIO_NET_F_CTRL_RX) | BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) |
                 BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) | BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
    if (n->backend_vnet) {
        /* Offloads the host kernel does for us through tap. */
        f |= BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
             BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN) |
             BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
             BIT(VIRTIO_NET_F_HOST_ECN);
        if (net_peer_has_ufo(n->nc))
            f |= BIT(VIRTIO_NET_F_GUEST_UFO) | BIT(VIRTIO_NET_F_HOST_UFO);
    }
    f &= n->allowed;
    /* 5.1.3.1: feature dependencies. */
    if (!(f & BIT(VIRTIO_NET_F_CSUM)))
        f &= ~(BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
               BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_HOST_UFO));
    if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
        f &= ~(BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
               BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_GUEST_UFO));
    if (!(f & BIT(VIRTIO_NET_F_CTRL_VQ)))
        f &= ~(BIT(VIRTIO_NET_F_CTRL_RX) | BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) |
               BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) | BIT(VIRTIO_NET_F_GUEST_ANNOUNCE));
    if (!(f & BIT(VIRTIO_NET_F_CTRL_RX)))
        f &= ~BIT(VIRTIO_NET_F_CTRL_RX_EXTRA);
    return f;
}

static void net_set_features(VirtIODevice *vdev, uint64_t features)
{
    VirtIONet *n = vdev->opaque;
    bool modern = features & BIT(VIRTIO_F_VERSION_1);
    /* 5.1.6: num_buffers is there with VERSION_1 or MRG_RXBUF. */
    n->guest_hdr_len = (modern || (features & BIT(VIRTIO_NET_F_MRG_RXBUF))) ? 12 : 10;
    if (n->backend_vnet)
        net_peer_set_offload(n->nc, features & BIT(VIRTIO_NET_F_GUEST_CSUM),
                             features & BIT(VIRTIO_NET_F_GUEST_TSO4),
                             features & BIT(VIRTIO_NET_F_GUEST_TSO6),
                             features & BIT(VIRTIO_NET_F_GUEST_ECN),
                             features & BIT(VIRTIO_NET_F_GUEST_UFO));
}

static void net_set_status(VirtIODevice *vdev, uint8_t status)
{
    VirtIONet *n = vdev->opaque;
    /* The driver is up: frames the backend queued meanwhile can come in. */
    if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && virtio_device_ready(vdev))
        net_flush_queued(n->nc);
}

static void net_reset(VirtIODevice *vdev)
{
    VirtIONet *n = vdev->opaque;
    n->tx_waiting = false;
    n->promisc = true;
    n->allmulti = n->alluni = n->nomulti = n->nouni = n->nobcast = false;
    memset(&n->table, 0, sizeof(n->table));
    memcpy(n->mac, n->perm_mac, ETH_ALEN);
    n->guest_hdr_len = 12;
    n->status &= ~VIRTIO_NET_S_ANNOUNCE;
    net_format_info(n);
}

static const VirtIODeviceOps virtio_net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .get_features = net_get_features,
    .set_features = net_set_features,
    .get_config = net_get_config,
    .set_config = net_set_config,
    .set_status = net_set_status,
    .reset = net_reset,
};

static void net_get_mac(NetClient *nc, uint8_t mac[6])
{
    VirtIONet *n = nc->opaque;
    memcpy(mac, n->mac, ETH_ALEN);
}

static const NetClientOps virtio_net_nc_ops = {
    .kind = NET_CLIENT_NIC,
    .get_mac = net_get_mac,
    .receive = net_receive,
    .can_receive = net_can_receive,
    .link_status_changed = net_link_status_changed,
};

/* ---- migration ---- */

static int net_post_load(void *opaque, unsigned version)
{
    VirtIONet *n = opaque;
    (void)version;
    if (n->table.uni > MAC_TABLE_ENTRIES || n->table.multi > MAC_TABLE_ENTRIES - n->table.uni) {
        log_msg(LOG_GUEST_ERROR, "%s: migrated MAC table of %u+%u entries\n", n->vdev.name,
                n->table.uni, n->table.multi);
        return -1;
    }
    /* The link is this host's backend's, not the source's. */
    n->status = net_link_up(n) ? n->status | VIRTIO_NET_S_LINK_UP
                               : n->status & ~VIRTIO_NET_S_LINK_UP;
    /* A frame the source held for its backend was handed back to the ring. */
    n->tx_waiting = false;
    net_format_info(n);
    if (virtio_device_ready(&n->vdev))
        net_flush_queued(n->nc);
    return 0;
}

#define NET_FIELD(f, ty, sz) { #f, offsetof(VirtIONet, f), ty, sz, 1, NULL, 0 }
static const VMStateField net_fields[] = {
    VMSTATE_U8_ARRAY(mac, VirtIONet, ETH_ALEN),
    VMSTATE_U16(status, VirtIONet),
    VMSTATE_BOOL(promisc, VirtIONet), VMSTATE_BOOL(allmulti, VirtIONet),
    VMSTATE_BOOL(alluni, VirtIONet), VMSTATE_BOOL(nomulti, VirtIONet),
    VMSTATE_BOOL(nouni, VirtIONet), VMSTATE_BOOL(nobcast, VirtIONet),
    NET_FIELD(table.uni, VMS_U32, 4),
    NET_FIELD(table.multi, VMS_U32, 4),
    NET_FIELD(table.uni_overflow, VMS_BOOL, sizeof(bool)),
    NET_FIELD(table.multi_overflow, VMS_BOOL, sizeof(bool)),
    NET_FIELD(table.macs, VMS_BUFFER, sizeof(((MacTable *)0)->macs)),
    VMSTATE_END,
};

static const VMStateDescription vmstate_virtio_net = {
    .name = "virtio-net",
    .version = 1,
    .fields = net_fields,
    .post_load = net_post_load,
};

/* Every creation path ends here; allowed masks the offered features. */
static VirtIODevice *net_create(const VirtioNetConfig *cfg, uint64_t allowed, uint16_t tx_size,
                                const char *nc_name, const VirtioPciConfig *pci)
{
    VirtIONet *n = xzalloc(sizeof(*n));
    uint16_t rx_size = cfg->queue_size ? cfg->queue_size : 256;
    char *name = nc_name ? xstrdup(nc_name) : xasprintf("virtio-net-pci.%u", net_instances);
    n->nc = net_client_new(&virtio_net_nc_ops, name, n);
    if (cfg->peer && net_client_connect(n->nc, cfg->peer) < 0) {
        error_report("%s: netdev '%s' is already in use", name, cfg->peer->name);
        net_client_free(n->nc);
        free(name);
        free(n);
        return NULL;
    }
    memcpy(n->mac, cfg->mac, ETH_ALEN);
    memcpy(n->perm_mac, cfg->mac, ETH_ALEN);
    n->allowed = allowed;
    n->tx_buf = xmalloc(TX_BUF_SIZE);
    n->rx_elems = xzalloc(sizeof(VirtQueueElement) * RX_MAX_ELEMS);
    /* The backend's header is always 12 bytes; the guest's may be 10. */
    if (net_peer_has_vnet_hdr(n->nc)) {
        net_peer_set_vnet_hdr(n->nc, true, sizeof(VirtioNetHdr));
        n->backend_vnet = n->nc->vnet_hdr;
    }
    virtio_init(&n->vdev, &virtio_net_ops, name, NET_CONFIG_SIZE, n);
    n->rx_vq = virtio_add_queue(&n->vdev, rx_size, net_handle_rx);
    n->tx_vq = virtio_add_queue(&n->vdev, tx_size ? tx_size : rx_size, net_handle_tx);
    n->ctrl_vq = virtio_add_queue(&n->vdev, 64, net_handle_ctrl);
    net_reset(&n->vdev);
    if (net_link_up(n))
        n->status |= VIRTIO_NET_S_LINK_UP;
    if (virtio_pci_create(&n->vdev, pci) < 0)
        return NULL;    /* the half-made client stays: the machine exits */
    net_instances++;
    vmstate_register(&vmstate_virtio_net, virtio_pci_device(&n->vdev)->devfn, n);
    return &n->vdev;
}

static uint64_t net_allowed_from_config(const VirtioNetConfig *cfg)
{
    uint64_t a = ~0ULL;
    if (!cfg->mrg_rxbuf)
        a &= ~BIT(VIRTIO_NET_F_MRG_RXBUF);
    if (!cfg->ctrl_vq)
        a &= ~BIT(VIRTIO_NET_F_CTRL_VQ);
    if (!cfg->csum)
        a &= ~BIT(VIRTIO_NET_F_CSUM);
    if (!cfg->guest_csum)
        a &= ~BIT(VIRTIO_NET_F_GUEST_CSUM);
    if (!cfg->host_tso)
        a &= ~(BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6));
    if (!cfg->guest_tso)
        a &= ~(BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6));
    return a;
}

VirtIODevice *virtio_net_create(const VirtioNetConfig *cfg, const VirtioPciConfig *pci)
{
    return net_create(cfg, net_allowed_from_config(cfg), 0, NULL, pci);
}

/* ---- -device virtio-net-pci and -net nic,model=virtio ---- */
/* Feature properties, as QEMU names them (all on by default). */
static const struct { const char *name; unsigned bit; } net_feature_props[] = {
    { "csum", VIRTIO_NET_F_CSUM },
    { "guest_csum", VIRTIO_NET_F_GUEST_CSUM },
    { "guest_tso4", VIRTIO_NET_F_GUEST_TSO4 },
    { "guest_tso6", VIRTIO_NET_F_GUEST_TSO6 },
    { "guest_ecn", VIRTIO_NET_F_GUEST_ECN },
    { "guest_ufo", VIRTIO_NET_F_GUEST_UFO },
    { "host_tso4", VIRTIO_NET_F_HOST_TSO4 },
    { "host_tso6", VIRTIO_NET_F_HOST_TSO6 },
    { "host_ecn", VIRTIO_NET_F_HOST_ECN },
    { "host_ufo", VIRTIO_NET_F_HOST_UFO },
    { "mrg_rxbuf", VIRTIO_NET_F_MRG_RXBUF },
    { "status", VIRTIO_NET_F_STATUS },
    { "ctrl_vq", VIRTIO_NET_F_CTRL_VQ },
    { "ctrl_rx", VIRTIO_NET_F_CTRL_RX },
    { "ctrl_rx_extra", VIRTIO_NET_F_CTRL_RX_EXTRA },
    { "ctrl_mac_addr", VIRTIO_NET_F_CTRL_MAC_ADDR },
    { "guest_announce", VIRTIO_NET_F_GUEST_ANNOUNCE },
};

static void net_pci_defaults(VirtioNetConfig *nc, VirtioPciConfig *pc)
{
    nc->queue_size = 256;
    nc->mrg_rxbuf = nc->ctrl_vq = nc->csum = nc->guest_csum = true;
    nc->host_tso = nc->guest_tso = true;
    pc->devfn = -1;
    pc->ioeventfd = true;
    pc->vectors = 4;            /* QEMU 7.2: 2 per queue pair + ctrl + config */
    pc->class_code = 0x0200;    /* network, Ethernet */
}

static int net_opt_features(Opts *o, const char *what, uint64_t *allowed)
{
    for (size_t i = 0; i < ARRAY_SIZE(net_feature_props); i++) {
        const char *v = opts_get(o, net_feature_props[i].name);
        bool on;
        if (!v)
            continue;
        if (parse_bool(v, &on) < 0) {
            error_report("%s: Parameter '%s' expects 'on' or 'off'", what,
                         net_feature_props[i].name);
            return -1;
        }
        if (!on)
            *allowed &= ~BIT(net_feature_props[i].bit);
    }
    return 0;
}

/* rx_queue_size= / tx_queue_size=: a power of 2 in [256, 1024], as QEMU. */
static int net_opt_queue_size(Opts *o, const char *what, const char *key, uint16_t *out)
{
    const char *v = opts_get(o, key);
    uint64_t n;
    if (!v)
        return 0;
    if (parse_uint(v, &n) < 0 || n < 256 || n > VIRTQUEUE_MAX_SIZE || (n & (n - 1))) {
        error_report("%s: Invalid %s (= %s), must be a power of 2 between 256 and %d", what,
                     key, v, VIRTQUEUE_MAX_SIZE);
        return -1;
    }
    *out = (uint16_t)n;
    return 0;
}

int virtio_net_pci_new(Opts *o, const char *what)
{
    VirtioNetConfig nc = { 0 };
    VirtioPciConfig pc = { 0 };
    net_pci_defaults(&nc, &pc);
    uint64_t allowed = ~0ULL;
    uint16_t tx_size = 256;
    const char *mac = opts_get(o, "mac");
    const char *netdev = opts_get(o, "netdev");
    const char *id = opts_get(o, "id");
    /* romfile=: an option ROM in the ROM BAR (iPXE's efi-virtio.rom for
     * -boot n).  Unlike QEMU, no ROM by default: SeaBIOS then takes no
     * time scanning it, and nothing outside git is needed. */
    const char *romfile = opts_get(o, "romfile");
    int bootindex;
    if (fw_parse_bootindex(o, what, &bootindex) < 0 ||
        net_opt_features(o, what, &allowed) < 0 ||
        net_opt_queue_size(o, what, "rx_queue_size", &nc.queue_size) < 0 ||
        net_opt_queue_size(o, what, "tx_queue_size", &tx_size) < 0 ||
        virtio_pci_parse_opts(o, what, &pc) < 0)
        return -1;
    /* QEMU limits the transmit ring to 256 except for vhost-user. */
    tx_size = MIN(tx_size, 256);
    if (mac) {
        if (net_parse_macaddr(mac, nc.mac) < 0) {
            error_report("%s: Property 'virtio-net-pci.mac' doesn't take value '%s'", what,
                         mac);
            return -1;
        }
    } else {
        net_default_macaddr(nc.mac);
    }
    char *name = id ? xstrdup(id) : xasprintf("virtio-net-pci.%u", net_instances);
    if (netdev && !net_client_find(netdev)) {
        error_report("%s: Property 'virtio-net-pci.netdev' can't find value '%s'", what,
                     netdev);
        free(name);
        return -1;
    }
    if (netdev) {
        nc.peer = net_netdev_claim(netdev, name);
        if (!nc.peer) {
            free(name);
            return -1;
        }
    }
    VirtIODevice *vdev = net_create(&nc, allowed, tx_size, name, &pc);
    free(name);
    if (!vdev)
        return -1;
    PCIDevice *pci = virtio_pci_device(vdev);
    if (pci_add_option_rom(pci, romfile) < 0)
        return -1;
    fw_boot_order_add_pci(bootindex, pci, "ethernet", "/ethernet-phy@0");
    return 0;
}

int virtio_net_pci_from_nic(const uint8_t mac[6], struct NetClient *peer, const char *name)
{
    VirtioNetConfig nc = { 0 };
    VirtioPciConfig pc = { 0 };
    net_pci_defaults(&nc, &pc);
    memcpy(nc.mac, mac, ETH_ALEN);
    nc.peer = peer;
    return net_create(&nc, net_allowed_from_config(&nc), 0, name, &pc) ? 0 : -1;
}
