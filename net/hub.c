/*
 * Hubs for the legacy -net options: every NIC and backend given with -net
 * sits on a port of hub 0, and a frame arriving at one port goes out of
 * all the others (QEMU's "vlan").  Ports are clients of kind HUB whose
 * peers are the NICs and backends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "net-backends.h"
#include "util.h"

typedef struct Hub Hub;

typedef struct HubPort {
    NetClient *nc;
    Hub *hub;
    struct HubPort *next;
} HubPort;

struct Hub {
    int id;
    unsigned next_port_index;
    HubPort *ports;             /* newest first, as QEMU lists them */
    Hub *next;
};

static Hub *hubs;

static Hub *hub_find_or_new(int id)
{
    Hub **pp = &hubs;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id)
            return *pp;
    Hub *h = xzalloc(sizeof(*h));
    h->id = id;
    *pp = h;
    return h;
}

/* Out of every other port; a port whose peer is busy queues (bounded). */
static ssize_t hub_port_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    HubPort *src = nc->opaque;
    for (HubPort *p = src->hub->ports; p; p = p->next)
        if (p != src)
            net_send(p->nc, iov, iovcnt, NULL);
    return (ssize_t)net_iov_size(iov, iovcnt);
}

/* QEMU's rule: the hub takes a frame when any other port can pass it on. */
static bool hub_port_can_receive(NetClient *nc)
{
    HubPort *src = nc->opaque;
    bool others = false;
    for (HubPort *p = src->hub->ports; p; p = p->next) {
        if (p == src)
            continue;
        others = true;
        if (net_peer_can_receive(p->nc))
            return true;
    }
    return !others;             /* alone on the hub: frames go nowhere */
}

static void hub_port_cleanup(NetClient *nc)
{
    HubPort *port = nc->opaque;
    for (HubPort **pp = &port->hub->ports; *pp; pp = &(*pp)->next) {
        if (*pp == port) {
            *pp = port->next;
            break;
        }
    }
    free(port);
}

static const NetClientOps hub_port_ops = {
    .kind = NET_CLIENT_HUB,
    .receive = hub_port_receive,
    .can_receive = hub_port_can_receive,
    .cleanup = hub_port_cleanup,
};

NetClient *net_hub_add_port(int hub_id)
{
    Hub *hub = hub_find_or_new(hub_id);
    HubPort *port = xzalloc(sizeof(*port));
    char *name = xasprintf("hub%dport%u", hub_id, hub->next_port_index++);
    port->nc = net_client_new(&hub_port_ops, name, port);
    free(name);
    port->hub = hub;
    port->next = hub->ports;
    hub->ports = port;
    return port->nc;
}

void net_hub_flush(NetClient *port_nc)
{
    HubPort *src = port_nc->opaque;
    for (HubPort *p = src->hub->ports; p; p = p->next)
        if (p != src)
            net_flush_queued(p->nc);
}

void net_hub_info(char **out)
{
    for (Hub *h = hubs; h; h = h->next) {
        net_str_append(out, "hub %d\n", h->id);
        for (HubPort *p = h->ports; p; p = p->next) {
            net_str_append(out, " \\ %s", p->nc->name);
            if (p->nc->peer) {
                net_str_append(out, ": ");
                net_info_append_client(out, p->nc->peer);
            } else {
                net_str_append(out, "\n");
            }
        }
    }
}

void net_hub_check_clients(void)
{
    for (Hub *h = hubs; h; h = h->next) {
        bool nic = false, host = false;
        for (HubPort *p = h->ports; p; p = p->next) {
            NetClient *peer = p->nc->peer;
            if (!peer)
                continue;
            if (peer->kind == NET_CLIENT_NIC)
                nic = true;
            else
                host = true;
        }
        if (nic && !host)
            warn_report("hub %d is not connected to host network", h->id);
        if (host && !nic)
            warn_report("hub %d with no nics", h->id);
    }
}

void net_hubs_free(void)
{
    while (hubs) {
        Hub *h = hubs;
        hubs = h->next;
        while (h->ports)
            net_client_free(h->ports->nc);      /* cleanup unlinks the port */
        free(h);
    }
}
