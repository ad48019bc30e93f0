/*
 * net/: network clients joined in peer pairs, a NIC frontend (virtio-net,
 * e1000) on one side and a backend on the other: user (libslirp), tap,
 * socket, or a hub for the legacy -net options.  Frames cross as iovecs.
 * Everything runs on the main loop or in a vCPU thread with the big lock.
 *
 * Back-pressure (no silent drops, no unbounded queues): net_send() to a peer
 * that cannot receive queues the frame (a bounded queue per receiver) and
 * returns 0; the sender must stop producing (a backend stops reading its
 * fd) until its sent_cb runs, which happens when the receiver calls
 * net_flush_queued() after it gets room again (e.g. the guest posted rx
 * buffers).
 */
#ifndef VMM_NET_H
#define VMM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct NetClient NetClient;

typedef enum {
    NET_CLIENT_NIC, NET_CLIENT_USER, NET_CLIENT_TAP, NET_CLIENT_SOCKET, NET_CLIENT_HUB,
} NetClientKind;

typedef struct NetClientOps {
    NetClientKind kind;
    /*
     * A frame for this client: returns its size when taken (or dropped on
     * purpose, e.g. filtered by the NIC), 0 when it cannot take it now (the
     * core queues it and calls again after net_flush_queued), or -errno.
     */
    ssize_t (*receive)(NetClient *nc, const struct iovec *iov, int iovcnt);
    bool (*can_receive)(NetClient *nc);        /* NULL: always */
    void (*link_status_changed)(NetClient *nc);
    void (*cleanup)(NetClient *nc);
    /* NICs: the MAC address the guest uses now (for the announce after a
     * migration, net/announce.c).  NULL for backends. */
    void (*get_mac)(NetClient *nc, uint8_t mac[6]);
} NetClientOps;

/* The virtio-net header (virtio 1.2, 5.1.6) as tap's IFF_VNET_HDR uses it. */
typedef struct VirtioNetHdr {
    uint8_t flags;
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
    uint8_t gso_type;
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80
    uint16_t hdr_len, gso_size, csum_start, csum_offset;
    uint16_t num_buffers;       /* only with MRG_RXBUF / VERSION_1 */
} __attribute__((packed)) VirtioNetHdr;

struct NetClient {
    const NetClientOps *ops;
    NetClientKind kind;
    char *name;                 /* id= for backends, "virtio-net-pci.0" for NICs */
    char info_str[256];         /* "info network" line after "name: " */
    NetClient *peer;
    bool link_down;             /* set_link off */
    /*
     * Frames to and from this client carry a VirtioNetHdr prefix (hdr_len
     * bytes: 10, or 12 with num_buffers) when both sides agreed through
     * net_peer_set_vnet_hdr(); only tap supports it as a backend.
     */
    bool vnet_hdr;
    unsigned vnet_hdr_len;
    struct NetQueue *queue;     /* frames waiting for this client */
    void *opaque;               /* the owner's state */
};

/* Create a client; name is copied.  The caller sets opaque/info_str. */
NetClient *net_client_new(const NetClientOps *ops, const char *name, void *opaque);
void net_client_free(NetClient *nc);
/* Join two clients (each becomes the other's peer); -1 if one is taken. */
int net_client_connect(NetClient *a, NetClient *b);

typedef void NetSentFunc(NetClient *sender, ssize_t len);
/*
 * Send a frame from sender to its peer.  Returns the size when delivered
 * (or dropped because no peer / link down: counted, not queued), 0 when
 * queued at the peer (sent_cb runs once it is delivered), or -errno.
 */
ssize_t net_send(NetClient *sender, const struct iovec *iov, int iovcnt, NetSentFunc *sent_cb);
ssize_t net_send_buf(NetClient *sender, const void *buf, size_t len, NetSentFunc *sent_cb);
/* The receiver got room: deliver its queued frames (and run their sent_cbs). */
void net_flush_queued(NetClient *receiver);
/* Can sender's peer take a frame now?  (false with frames queued for it) */
bool net_peer_can_receive(NetClient *sender);

/* vnet header negotiation between a NIC and its backend. */
bool net_peer_has_vnet_hdr(NetClient *nic);             /* backend can do it */
void net_peer_set_vnet_hdr(NetClient *nic, bool on, unsigned hdr_len);
bool net_peer_has_ufo(NetClient *nic);
/* Offloads the guest accepts (tap TUNSETOFFLOAD). */
void net_peer_set_offload(NetClient *nic, bool csum, bool tso4, bool tso6, bool ecn, bool ufo);

/* set_link NAME on|off: -1 if no client is called name. */
int net_set_link(const char *name, bool up);
NetClient *net_client_find(const char *name);
NetClient *net_client_next(NetClient *prev);    /* iterate: start with NULL */
/* Format "info network" (QEMU's layout) into a malloc'd string. */
char *net_info_string(void);

/* ---- backends from the command line (net/net.c) ---- */
/*
 * -netdev TYPE,id=ID,...: user, tap, socket.  Creates the backend (opens
 * fds, binds ports) and registers it under ID for a NIC's netdev=.  -1
 * with a one-line message naming the option and the problem.
 */
int net_netdev_add(const char *optstr);
/* A backend by id that no NIC has claimed yet; NULL (with message) if none. */
NetClient *net_netdev_claim(const char *id, const char *nic_name);
/* Backends created by -netdev that no device used: warn as QEMU does. */
void net_check_unused(void);
/*
 * Legacy -net: "nic[,model=M][,macaddr=MAC][,netdev=ID]" and
 * "user|tap|socket[,...]".  NICs and backends given with -net are joined
 * on one hub (QEMU's hub 0).  net_legacy_add parses and records;
 * net_legacy_nics() returns the -net nic entries for the machine to create.
 */
int net_legacy_add(const char *optstr);
typedef struct NetLegacyNic {
    char *model;                /* NULL = the machine default (e1000) */
    uint8_t mac[6];
    bool has_mac;
    char *name;
    NetClient *peer;            /* a hub port, or a -netdev backend */
} NetLegacyNic;
unsigned net_legacy_nic_count(void);
NetLegacyNic *net_legacy_nic(unsigned i);

/* MAC helpers: parse "52:54:00:12:34:56"; the next default 52:54:00:12:34:NN. */
int net_parse_macaddr(const char *str, uint8_t mac[6]);
void net_default_macaddr(uint8_t mac[6]);
void net_format_macaddr(const uint8_t mac[6], char *buf /* >= 18 */);

/* Frames this client sent that were dropped (no peer, link down, the
 * peer's queue full), and frames waiting in its own receive queue. */
uint64_t net_client_dropped(NetClient *nc);
unsigned net_client_queued(NetClient *nc);
/* Most frames queued for one receiver; a frame beyond it is dropped. */
#define NET_QUEUE_MAX 256

/* Close every client (exit path). */
void net_cleanup_all(void);

/*
 * After an incoming migration (net/announce.c): every NIC with a MAC
 * broadcasts a RARP frame (ethertype 0x8035, op 3 "reverse request", as
 * QEMU's announce) to its peer, 5 times at growing intervals (50, 150,
 * 250, 350 ms apart) so switches learn the guest's new port.
 */
void net_announce_self(void);

#endif
