/*
 * The network core: clients joined in peer pairs, a bounded queue per
 * receiver for back-pressure, link state, "info network", MAC helpers, and
 * the -netdev / -net command line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "net-backends.h"
#include "util.h"

/* ---- clients ---- */

typedef struct NetPacket {
    struct NetPacket *next;
    NetClient *sender;
    NetSentFunc *sent_cb;
    size_t len;
    uint8_t data[];
} NetPacket;

struct NetQueue {
    NetPacket *head, **tail;
    unsigned count;
    bool flushing;              /* guards against re-entrant flushes */
};

/* The private part of a client, around the public NetClient. */
typedef struct NetClientPriv {
    NetClient nc;
    struct NetQueue queue;
    uint64_t dropped;
    bool from_netdev;           /* created by -netdev: may be claimed */
    char *claimed_by;
    struct NetClientPriv *next;
} NetClientPriv;

static NetClientPriv *clients, **clients_tail = &clients;

static NetClientPriv *priv_of(NetClient *nc)
{
    return (NetClientPriv *)((char *)nc - offsetof(NetClientPriv, nc));
}

NetClient *net_client_new(const NetClientOps *ops, const char *name, void *opaque)
{
    NetClientPriv *p = xzalloc(sizeof(*p));
    p->nc.ops = ops;
    p->nc.kind = ops->kind;
    p->nc.name = xstrdup(name ? name : "");
    p->nc.opaque = opaque;
    p->nc.queue = &p->queue;
    p->queue.tail = &p->queue.head;
    *clients_tail = p;
    clients_tail = &p->next;
    return &p->nc;
}

static void queue_purge(struct NetQueue *q, NetClient *only_sender)
{
    NetPacket **pp = &q->head;
    while (*pp) {
        NetPacket *pkt = *pp;
        if (!only_sender || pkt->sender == only_sender) {
            *pp = pkt->next;
            free(pkt);
            q->count--;
        } else {
            pp = &pkt->next;
        }
    }
    q->tail = &q->head;
    while (*q->tail)
        q->tail = &(*q->tail)->next;
}

static void client_unlink(NetClientPriv *p)
{
    for (NetClientPriv **pp = &clients; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            if (clients_tail == &p->next)
                clients_tail = pp;
            return;
        }
    }
}

void net_client_free(NetClient *nc)
{
    if (!nc)
        return;
    NetClientPriv *p = priv_of(nc);
    if (nc->ops->cleanup)
        nc->ops->cleanup(nc);
    if (nc->peer) {
        /* Our frames queued at the peer lose their sender: drop them. */
        queue_purge(nc->peer->queue, nc);
        nc->peer->peer = NULL;
    }
    queue_purge(&p->queue, NULL);
    client_unlink(p);
    free(p->claimed_by);
    free(nc->name);
    free(p);
}

int net_client_connect(NetClient *a, NetClient *b)
{
    if (!a || !b || a == b || a->peer || b->peer)
        return -1;
    a->peer = b;
    b->peer = a;
    return 0;
}

NetClient *net_client_find(const char *name)
{
    for (NetClientPriv *p = clients; p; p = p->next)
        if (name && !strcmp(p->nc.name, name))
            return &p->nc;
    return NULL;
}

NetClient *net_client_next(NetClient *prev)
{
    NetClientPriv *p = prev ? priv_of(prev)->next : clients;
    return p ? &p->nc : NULL;
}

uint64_t net_client_dropped(NetClient *nc)
{
    return priv_of(nc)->dropped;
}

unsigned net_client_queued(NetClient *nc)
{
    return nc->queue->count;
}

/* ---- iovec helpers ---- */

size_t net_iov_size(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

size_t net_iov_to_buf(const struct iovec *iov, int iovcnt, size_t skip, void *buf, size_t len)
{
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t n = MIN(l - skip, len - done);
        memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + skip, n);
        done += n;
        skip = 0;
    }
    return done;
}

/* ---- sending and the queue ---- */

static bool client_can_receive(NetClient *nc)
{
    return !nc->ops->can_receive || nc->ops->can_receive(nc);
}

bool net_peer_can_receive(NetClient *sender)
{
    NetClient *peer = sender->peer;
    if (!peer || sender->link_down || peer->link_down)
        return true;            /* frames are dropped, never held */
    return peer->queue->count == 0 && client_can_receive(peer);
}

/* Queue a frame at receiver; false (and dropped) when the queue is full. */
static bool queue_append(NetClient *receiver, NetClient *sender, const struct iovec *iov,
                         int iovcnt, NetSentFunc *sent_cb)
{
    struct NetQueue *q = receiver->queue;
    if (q->count >= NET_QUEUE_MAX)
        return false;
    size_t len = net_iov_size(iov, iovcnt);
    NetPacket *pkt = xmalloc(sizeof(*pkt) + len);
    pkt->next = NULL;
    pkt->sender = sender;
    pkt->sent_cb = sent_cb;
    pkt->len = len;
    net_iov_to_buf(iov, iovcnt, 0, pkt->data, len);
    *q->tail = pkt;
    q->tail = &pkt->next;
    q->count++;
    return true;
}

static ssize_t drop(NetClient *sender, size_t size)
{
    priv_of(sender)->dropped++;
    return (ssize_t)size;
}

ssize_t net_send(NetClient *sender, const struct iovec *iov, int iovcnt, NetSentFunc *sent_cb)
{
    size_t size = net_iov_size(iov, iovcnt);
    NetClient *peer = sender->peer;
    /* QEMU's set_link off: frames from or to a downed link vanish. */
    if (!peer || sender->link_down || peer->link_down)
        return drop(sender, size);
    /* Frames already waiting go first. */
    if (peer->queue->count || !client_can_receive(peer))
        return queue_append(peer, sender, iov, iovcnt, sent_cb) ? 0 : drop(sender, size);
    ssize_t ret = peer->ops->receive(peer, iov, iovcnt);
    if (ret == 0)
        return queue_append(peer, sender, iov, iovcnt, sent_cb) ? 0 : drop(sender, size);
    return ret;
}

ssize_t net_send_buf(NetClient *sender, const void *buf, size_t len, NetSentFunc *sent_cb)
{
    struct iovec iov = { (void *)buf, len };
    return net_send(sender, &iov, 1, sent_cb);
}

/* Deliver receiver's queue while it takes frames; true if it is empty. */
static bool queue_flush(NetClient *receiver)
{
    struct NetQueue *q = receiver->queue;
    if (q->flushing)
        return q->count == 0;
    q->flushing = true;
    while (q->head) {
        NetPacket *pkt = q->head;
        ssize_t ret = (ssize_t)pkt->len;
        if (!receiver->link_down) {
            if (!client_can_receive(receiver))
                break;
            struct iovec iov = { pkt->data, pkt->len };
            ret = receiver->ops->receive(receiver, &iov, 1);
            if (ret == 0)
                break;
        }
        q->head = pkt->next;
        if (!q->head)
            q->tail = &q->head;
        q->count--;
        if (pkt->sent_cb)
            pkt->sent_cb(pkt->sender, ret);
        free(pkt);
    }
    q->flushing = false;
    return q->count == 0;
}

void net_flush_queued(NetClient *receiver)
{
    if (!receiver)
        return;
    queue_flush(receiver);
    /* A hub port's senders are the other ports: let them move too. */
    if (receiver->peer && receiver->peer->kind == NET_CLIENT_HUB)
        net_hub_flush(receiver->peer);
}

/* ---- vnet header negotiation (only tap supports it) ---- */

bool net_peer_has_vnet_hdr(NetClient *nic)
{
    return nic->peer && nic->peer->kind == NET_CLIENT_TAP && tap_has_vnet_hdr(nic->peer);
}

bool net_peer_has_ufo(NetClient *nic)
{
    return net_peer_has_vnet_hdr(nic) && tap_has_ufo(nic->peer);
}

void net_peer_set_vnet_hdr(NetClient *nic, bool on, unsigned hdr_len)
{
    if (on && !net_peer_has_vnet_hdr(nic)) {
        on = false;
    }
    if (on && hdr_len != 10 && hdr_len != 12)
        hdr_len = 10;
    nic->vnet_hdr = on;
    nic->vnet_hdr_len = on ? hdr_len : 0;
    if (nic->peer && nic->peer->kind == NET_CLIENT_TAP) {
        nic->peer->vnet_hdr = on;
        nic->peer->vnet_hdr_len = nic->vnet_hdr_len;
        tap_use_vnet_hdr(nic->peer, on, hdr_len);
    }
}

void net_peer_set_offload(NetClient *nic, bool csum, bool tso4, bool tso6, bool ecn, bool ufo)
{
    if (net_peer_has_vnet_hdr(nic))
        tap_set_offload(nic->peer, csum, tso4, tso6, ecn, ufo);
}

/* ---- link state ---- */

/*
 * As QEMU's set_link: the named client changes; its peer changes too when
 * it is a NIC (a backend's link is the guest's link), and both are told.
 */
int net_set_link(const char *name, bool up)
{
    NetClient *nc = net_client_find(name);
    if (!nc)
        return -1;
    nc->link_down = !up;
    if (nc->ops->link_status_changed)
        nc->ops->link_status_changed(nc);
    NetClient *peer = nc->peer;
    if (peer) {
        if (peer->kind == NET_CLIENT_NIC)
            peer->link_down = !up;
        if (peer->ops->link_status_changed)
            peer->ops->link_status_changed(peer);
    }
    /* Frames held for a downed receiver are dropped now. */
    if (!up) {
        queue_flush(nc);
        if (peer)
            queue_flush(peer);
    }
    return 0;
}

/* ---- info network ---- */

void net_str_append(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *add = NULL;
    if (vasprintf(&add, fmt, ap) < 0)
        add = NULL;
    va_end(ap);
    if (!add)
        return;
    size_t old = *out ? strlen(*out) : 0;
    *out = xrealloc(*out, old + strlen(add) + 1);
    strcpy(*out + old, add);
    free(add);
}

static const char *kind_name(NetClientKind k)
{
    switch (k) {
    case NET_CLIENT_NIC: return "nic";
    case NET_CLIENT_USER: return "user";
    case NET_CLIENT_TAP: return "tap";
    case NET_CLIENT_SOCKET: return "socket";
    case NET_CLIENT_HUB: return "hubport";
    }
    return "?";
}

void net_info_append_client(char **out, NetClient *nc)
{
    net_str_append(out, "%s: index=0,type=%s,%s\n", nc->name, kind_name(nc->kind), nc->info_str);
}

/* QEMU's layout: hubs first, then each NIC with its backend under it. */
char *net_info_string(void)
{
    char *out = xstrdup("");
    net_hub_info(&out);
    for (NetClientPriv *p = clients; p; p = p->next) {
        NetClient *nc = &p->nc;
        if (nc->kind == NET_CLIENT_HUB || (nc->peer && nc->peer->kind == NET_CLIENT_HUB))
            continue;
        if (!nc->peer || nc->kind == NET_CLIENT_NIC)
            net_info_append_client(&out, nc);
        if (nc->peer && nc->kind == NET_CLIENT_NIC) {
            net_str_append(&out, " \\ ");
            net_info_append_client(&out, nc->peer);
        }
    }
    return out;
}

/* ---- MAC addresses ---- */

int net_parse_macaddr(const char *str, uint8_t mac[6])
{
    unsigned v[6];
    int n = 0;
    if (!str || sscanf(str, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4],
                       &v[5], &n) != 6 || str[n] != '\0' || n != 17)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

/* QEMU's qemu_macaddr_default_if_unset: 52:54:00:12:34:56 and up. */
void net_default_macaddr(uint8_t mac[6])
{
    static unsigned index;
    static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    memcpy(mac, base, 6);
    mac[5] = (uint8_t)(0x56 + index);
    mac[4] = (uint8_t)(0x34 + ((0x56 + index) >> 8));
    index++;
}

void net_format_macaddr(const uint8_t mac[6], char *buf)
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

/* ---- -netdev ---- */

static NetClient *backend_create(const char *type, const char *name, Opts *o, const char *ctx)
{
    if (!strcmp(type, "user"))
        return net_user_create(name, o, ctx);
    if (!strcmp(type, "tap"))
        return net_tap_create(name, o, ctx);
    if (!strcmp(type, "socket"))
        return net_socket_create(name, o, ctx);
    if (!strcmp(type, "none") || !strcmp(type, "nic") || !strcmp(type, "hubport"))
        error_report("%s: type '%s' is not a valid netdev backend", ctx, type);
    else
        error_report("%s: unknown netdev type '%s' (user, tap, socket)", ctx, type);
    return NULL;
}

static bool valid_id(const char *id)
{
    if (!id[0] || !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z')))
        return false;
    for (const char *c = id; *c; c++)
        if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return false;
    return true;
}

/* Check for keys no one fetched; frees o, and nc on failure. */
static NetClient *finish_opts(NetClient *nc, Opts *o, const char *ctx)
{
    const char *bad = nc ? opts_first_unused(o) : NULL;
    if (bad) {
        error_report("%s: invalid parameter '%s'", ctx, bad);
        net_client_free(nc);
        nc = NULL;
    }
    opts_free(o);
    return nc;
}

int net_netdev_add(const char *optstr)
{
    char err[256];
    char *ctx = xasprintf("-netdev %s", optstr);
    Opts *o = opts_parse(optstr, "type", err, sizeof(err));
    int ret = -1;
    if (!o) {
        error_report("%s: %s", ctx, err);
        goto out;
    }
    const char *type = opts_get(o, "type");
    const char *id = opts_get(o, "id");
    if (!type) {
        error_report("%s: parameter 'type' is missing", ctx);
    } else if (!id) {
        error_report("%s: parameter 'id' is missing", ctx);
    } else if (!valid_id(id)) {
        error_report("%s: parameter 'id' expects an identifier", ctx);
    } else if (net_client_find(id)) {
        error_report("%s: duplicate ID '%s' for netdev", ctx, id);
    } else {
        char *name = xstrdup(id);
        NetClient *nc = finish_opts(backend_create(type, name, o, ctx), o, ctx);
        o = NULL;
        free(name);
        if (nc) {
            priv_of(nc)->from_netdev = true;
            ret = 0;
        }
    }
    opts_free(o);
out:
    free(ctx);
    return ret;
}

NetClient *net_netdev_claim(const char *id, const char *nic_name)
{
    NetClient *nc = net_client_find(id);
    if (!nc || !priv_of(nc)->from_netdev) {
        error_report("%s: netdev '%s' not found", nic_name ? nic_name : "-device", id);
        return NULL;
    }
    NetClientPriv *p = priv_of(nc);
    if (p->claimed_by || nc->peer) {
        error_report("%s: netdev '%s' is already used by '%s'", nic_name ? nic_name : "-device",
                     id, p->claimed_by ? p->claimed_by : nc->peer->name);
        return NULL;
    }
    p->claimed_by = xstrdup(nic_name ? nic_name : "?");
    return nc;
}

void net_check_unused(void)
{
    net_hub_check_clients();
    for (NetClientPriv *p = clients; p; p = p->next)
        if (p->from_netdev && !p->nc.peer && !p->claimed_by)
            warn_report("netdev %s has no peer", p->nc.name);
}

/* ---- legacy -net ---- */

static NetLegacyNic **legacy_nics;
static unsigned legacy_nic_count;
static unsigned legacy_id_counter;

unsigned net_legacy_nic_count(void)
{
    return legacy_nic_count;
}

NetLegacyNic *net_legacy_nic(unsigned i)
{
    return i < legacy_nic_count ? legacy_nics[i] : NULL;
}

static int legacy_nic_add(Opts *o, const char *ctx)
{
    NetLegacyNic nic = { 0 };
    const char *mac = opts_get(o, "macaddr");
    const char *netdev = opts_get(o, "netdev");
    const char *model = opts_get(o, "model");
    const char *name = opts_get(o, "name");
    const char *id = opts_get(o, "id");
    if (mac && net_parse_macaddr(mac, nic.mac) < 0) {
        error_report("%s: invalid syntax for ethernet address '%s'", ctx, mac);
        return -1;
    }
    if (mac && (nic.mac[0] & 1)) {
        error_report("%s: NIC cannot have multicast MAC address '%s'", ctx, mac);
        return -1;
    }
    const char *bad = opts_first_unused(o);
    if (bad) {
        error_report("%s: invalid parameter '%s'", ctx, bad);
        return -1;
    }
    nic.has_mac = mac != NULL;
    nic.name = name ? xstrdup(name) : id ? xstrdup(id) : NULL;
    if (netdev) {
        nic.peer = net_netdev_claim(netdev, ctx);
        if (!nic.peer) {
            free(nic.name);
            return -1;
        }
    } else {
        nic.peer = net_hub_add_port(0);
    }
    nic.model = model ? xstrdup(model) : NULL;
    legacy_nics = xrealloc(legacy_nics, (legacy_nic_count + 1) * sizeof(*legacy_nics));
    legacy_nics[legacy_nic_count] = xmalloc(sizeof(nic));
    *legacy_nics[legacy_nic_count++] = nic;
    return 0;
}

/* -net user|tap|socket: a backend named like QEMU's "#netN", on hub 0. */
static int legacy_backend_add(const char *type, Opts *o, const char *ctx)
{
    const char *given = opts_get(o, "name");
    if (!given)
        given = opts_get(o, "id");
    char *name = given ? xstrdup(given) : xasprintf("#net%u", legacy_id_counter++);
    NetClient *nc = finish_opts(backend_create(type, name, o, ctx), o, ctx);
    free(name);
    if (!nc)
        return -1;
    net_client_connect(nc, net_hub_add_port(0));
    return 0;
}

int net_legacy_add(const char *optstr)
{
    char err[256];
    char *ctx = xasprintf("-net %s", optstr);
    Opts *o = opts_parse(optstr, "type", err, sizeof(err));
    int ret = -1;
    if (!o) {
        error_report("%s: %s", ctx, err);
        free(ctx);
        return -1;
    }
    const char *type = opts_get(o, "type");
    if (!type) {
        error_report("%s: parameter 'type' is missing", ctx);
    } else if (opts_get(o, "vlan")) {
        error_report("%s: 'vlan' is not supported (use -netdev and netdev=)", ctx);
    } else if (!strcmp(type, "none")) {
        ret = 0;
    } else if (!strcmp(type, "nic")) {
        ret = legacy_nic_add(o, ctx);
    } else {
        ret = legacy_backend_add(type, o, ctx);
        o = NULL;
    }
    opts_free(o);
    free(ctx);
    return ret;
}

/* ---- exit ---- */

void net_cleanup_all(void)
{
    while (clients)
        net_client_free(&clients->nc);
    net_hubs_free();
    tap_run_downscripts();
    for (unsigned i = 0; i < legacy_nic_count; i++) {
        free(legacy_nics[i]->model);
        free(legacy_nics[i]->name);
        free(legacy_nics[i]);
    }
    free(legacy_nics);
    legacy_nics = NULL;
    legacy_nic_count = 0;
}
