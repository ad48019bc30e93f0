/*
 * -netdev user: user-mode networking on libslirp (DHCP, DNS, NAT of the
 * guest's TCP/UDP onto host sockets, hostfwd).
 *
 * libslirp wants a poll() loop: slirp_pollfds_fill() lists the fds and
 * events it cares about, slirp_pollfds_poll() handles what happened.  On
 * our epoll loop every listed fd gets a handler that only records its
 * events and schedules a bottom half; the BH runs slirp_pollfds_poll()
 * and then fills again, re-registering the fds.  A timer at the deadline
 * slirp asks for drives its TCP timers when no fd fires.
 *
 * Back-pressure: when the NIC cannot take frames (a frame got queued),
 * slirp's sockets are not polled for input until the queue drains.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slirp/libslirp.h>

#include "net.h"
#include "net-backends.h"
#include "util.h"

typedef struct SlirpState SlirpState;

/* One per fd number slirp ever listed; the fd handlers' opaque. */
typedef struct SlirpFd {
    SlirpState *s;
    int fd;
    int events;                 /* SLIRP_POLL_* wanted in this round */
    int revents;                /* SLIRP_POLL_* seen since the last poll */
    bool watched;               /* registered with the main loop */
} SlirpFd;

struct SlirpState {
    NetClient *nc;
    Slirp *slirp;
    BH *poll_bh;
    Timer *poll_timer;
    bool blocked;               /* a frame is queued at the NIC */
    SlirpFd **fds;              /* by fd number */
    int nfds_table;
    int *order;                 /* fill order, for get_revents' idx */
    int norder, order_cap;
};

/* ---- slirp's timers on util.h timers ---- */

typedef struct SlirpTimer {
    Timer *t;
    SlirpTimerCb cb;
    void *cb_opaque;
} SlirpTimer;

static void slirp_timer_fire(void *opaque)
{
    SlirpTimer *st = opaque;
    st->cb(st->cb_opaque);
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    SlirpTimer *st = xzalloc(sizeof(*st));
    st->cb = cb;
    st->cb_opaque = cb_opaque;
    st->t = timer_new(CLOCK_REALTIME_NS, slirp_timer_fire, st);
    return st;
}

static void cb_timer_free(void *timer, void *opaque)
{
    SlirpTimer *st = timer;
    timer_free(st->t);
    free(st);
}

/* expire_time is in ms of clock_get_ns's clock. */
static void cb_timer_mod(void *timer, int64_t expire_time, void *opaque)
{
    SlirpTimer *st = timer;
    timer_mod(st->t, expire_time * 1000000);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return clock_ns(CLOCK_REALTIME_NS);
}

/* ---- fds ---- */

static SlirpFd *slot(SlirpState *s, int fd)
{
    if (fd >= s->nfds_table) {
        int n = s->nfds_table ? s->nfds_table : 64;
        while (n <= fd)
            n *= 2;
        s->fds = xrealloc(s->fds, (size_t)n * sizeof(*s->fds));
        memset(s->fds + s->nfds_table, 0, (size_t)(n - s->nfds_table) * sizeof(*s->fds));
        s->nfds_table = n;
    }
    if (!s->fds[fd]) {
        s->fds[fd] = xzalloc(sizeof(SlirpFd));
        s->fds[fd]->s = s;
        s->fds[fd]->fd = fd;
    }
    return s->fds[fd];
}

static void fd_readable(void *opaque)
{
    SlirpFd *f = opaque;
    f->revents |= SLIRP_POLL_IN;
    bh_schedule(f->s->poll_bh);
}

static void fd_writable(void *opaque)
{
    SlirpFd *f = opaque;
    f->revents |= SLIRP_POLL_OUT;
    bh_schedule(f->s->poll_bh);
}

static void fd_unwatch(SlirpState *s, int fd)
{
    SlirpFd *f = slot(s, fd);
    if (f->watched)
        main_loop_set_fd_handler(fd, NULL, NULL, NULL);
    f->watched = false;
    f->events = f->revents = 0;
}

static int add_poll(int fd, int events, void *opaque)
{
    SlirpState *s = opaque;
    if (fd < 0)
        return -1;
    if (s->norder == s->order_cap) {
        s->order_cap = s->order_cap ? s->order_cap * 2 : 32;
        s->order = xrealloc(s->order, (size_t)s->order_cap * sizeof(*s->order));
    }
    s->order[s->norder] = fd;
    slot(s, fd)->events |= events;
    return s->norder++;
}

static int get_revents(int idx, void *opaque)
{
    SlirpState *s = opaque;
    if (idx < 0 || idx >= s->norder)
        return 0;
    SlirpFd *f = slot(s, s->order[idx]);
    return f->revents & (f->events | SLIRP_POLL_ERR | SLIRP_POLL_HUP);
}

/* Register what slirp asked for in this round; drop fds it no longer lists. */
static void fds_reconcile(SlirpState *s)
{
    for (int fd = 0; fd < s->nfds_table; fd++) {
        SlirpFd *f = s->fds[fd];
        if (!f)
            continue;
        int ev = f->events;
        if (s->blocked)
            ev &= ~(SLIRP_POLL_IN | SLIRP_POLL_PRI);
        IOHandler *rd = (ev & (SLIRP_POLL_IN | SLIRP_POLL_PRI)) ? fd_readable : NULL;
        IOHandler *wr = (ev & SLIRP_POLL_OUT) ? fd_writable : NULL;
        if (rd || wr) {
            main_loop_set_fd_handler(fd, rd, wr, f);
            f->watched = true;
        } else if (f->watched) {
            main_loop_set_fd_handler(fd, NULL, NULL, NULL);
            f->watched = false;
        }
    }
}

static void slirp_fill(SlirpState *s)
{
    for (int fd = 0; fd < s->nfds_table; fd++)
        if (s->fds[fd])
            s->fds[fd]->events = 0;
    s->norder = 0;
    uint32_t timeout_ms = 1000;
    slirp_pollfds_fill(s->slirp, &timeout_ms, add_poll, s);
    fds_reconcile(s);
    timer_mod(s->poll_timer, clock_ns(CLOCK_REALTIME_NS) + (int64_t)timeout_ms * 1000000);
}

static void slirp_poll_bh(void *opaque)
{
    SlirpState *s = opaque;
    slirp_pollfds_poll(s->slirp, 0, get_revents, s);
    for (int fd = 0; fd < s->nfds_table; fd++)
        if (s->fds[fd])
            s->fds[fd]->revents = 0;
    slirp_fill(s);
}

static void slirp_poll_timer(void *opaque)
{
    SlirpState *s = opaque;
    bh_schedule(s->poll_bh);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
}

/* Called before slirp closes fd: forget it while the number is ours. */
static void cb_unregister_poll_fd(int fd, void *opaque)
{
    SlirpState *s = opaque;
    if (fd >= 0)
        fd_unwatch(s, fd);
}

static void cb_notify(void *opaque)
{
    SlirpState *s = opaque;
    bh_schedule(s->poll_bh);
}

static void cb_guest_error(const char *msg, void *opaque)
{
    guest_error("slirp: %s", msg);
}

/* ---- frames ---- */

static void slirp_sent(NetClient *nc, ssize_t len)
{
    SlirpState *s = nc->opaque;
    s->blocked = false;
    bh_schedule(s->poll_bh);
}

/* A frame from slirp to the guest. */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    SlirpState *s = opaque;
    if (net_send_buf(s->nc, buf, len, slirp_sent) == 0)
        s->blocked = true;
    return (ssize_t)len;
}

/* A frame from the guest to slirp. */
static ssize_t slirp_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    SlirpState *s = nc->opaque;
    size_t len = net_iov_size(iov, iovcnt);
    if (len > NET_BUFSIZE)
        return (ssize_t)len;    /* oversized: dropped */
    static uint8_t buf[NET_BUFSIZE];
    net_iov_to_buf(iov, iovcnt, 0, buf, len);
    slirp_input(s->slirp, buf, (int)len);
    bh_schedule(s->poll_bh);    /* slirp may have data for its sockets now */
    return (ssize_t)len;
}

static void slirp_cleanup_client(NetClient *nc)
{
    SlirpState *s = nc->opaque;
    slirp_cleanup(s->slirp);
    for (int fd = 0; fd < s->nfds_table; fd++) {
        if (s->fds[fd] && s->fds[fd]->watched)
            main_loop_set_fd_handler(fd, NULL, NULL, NULL);
        free(s->fds[fd]);
    }
    bh_delete(s->poll_bh);
    timer_free(s->poll_timer);
    free(s->fds);
    free(s->order);
    free(s);
}

static const NetClientOps slirp_ops = {
    .kind = NET_CLIENT_USER,
    .receive = slirp_receive,
    .cleanup = slirp_cleanup_client,
};

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

/* ---- options ---- */

static int parse_ip4(const char *str, struct in_addr *out)
{
    return inet_pton(AF_INET, str, out) == 1 ? 0 : -1;
}

/* net=ADDR[/BITS|/MASK]; without a mask the classful one, as QEMU. */
static int parse_net(const char *str, struct in_addr *net, struct in_addr *mask)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", str);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    if (parse_ip4(buf, net) < 0)
        return -1;
    uint32_t n = ntohl(net->s_addr), m;
    if (!slash) {
        m = (n & 0x80000000u) == 0 ? 0xff000000u : (n & 0x40000000u) == 0 ? 0xffff0000u
                                                                          : 0xffffff00u;
    } else if (strchr(slash, '.')) {
        struct in_addr a;
        if (parse_ip4(slash, &a) < 0)
            return -1;
        m = ntohl(a.s_addr);
    } else {
        uint64_t bits;
        if (parse_uint(slash, &bits) < 0 || bits < 1 || bits > 32)
            return -1;
        m = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
    }
    mask->s_addr = htonl(m);
    net->s_addr = htonl(n & m);
    return 0;
}

typedef struct UserConfig {
    SlirpConfig cfg;
    bool restricted;
} UserConfig;

/* host/dns/dhcpstart default to .2, .3, .15 of net= and must lie inside it. */
static int user_addr(Opts *o, const char *key, const SlirpConfig *c, uint32_t host_part,
                     struct in_addr *out, const char *ctx)
{
    const char *v = opts_get(o, key);
    if (!v) {
        out->s_addr = htonl(ntohl(c->vnetwork.s_addr) | host_part);
        return 0;
    }
    if (parse_ip4(v, out) < 0) {
        error_report("%s: %s='%s' is not an IPv4 address", ctx, key, v);
        return -1;
    }
    if ((out->s_addr & c->vnetmask.s_addr) != c->vnetwork.s_addr) {
        error_report("%s: %s=%s is not in the network %s", ctx, key, v, inet_ntoa(c->vnetwork));
        return -1;
    }
    return 0;
}

static int user_config(Opts *o, UserConfig *uc, const char *ctx)
{
    SlirpConfig *c = &uc->cfg;
    c->version = 3;
    c->in_enabled = true;
    const char *v;
    bool b;
    if ((v = opts_get(o, "net")) ? parse_net(v, &c->vnetwork, &c->vnetmask) < 0
                                 : parse_net("10.0.2.0/24", &c->vnetwork, &c->vnetmask) < 0) {
        error_report("%s: invalid net= '%s' (want ADDR[/BITS])", ctx, v);
        return -1;
    }
    if (user_addr(o, "host", c, 2, &c->vhost, ctx) < 0 ||
        user_addr(o, "dns", c, 3, &c->vnameserver, ctx) < 0 ||
        user_addr(o, "dhcpstart", c, 15, &c->vdhcp_start, ctx) < 0)
        return -1;
    if ((v = opts_get(o, "restrict"))) {
        if (parse_bool(v, &b) < 0) {
            error_report("%s: restrict= expects on or off", ctx);
            return -1;
        }
        uc->restricted = b;
    }
    c->restricted = uc->restricted;
    /* IPv6 as QEMU's default: fec0::/64, host ::2, DNS ::3. */
    c->in6_enabled = true;
    if ((v = opts_get(o, "ipv6")) && parse_bool(v, &c->in6_enabled) < 0) {
        error_report("%s: ipv6= expects on or off", ctx);
        return -1;
    }
    if ((v = opts_get(o, "ipv4")) && parse_bool(v, &c->in_enabled) < 0) {
        error_report("%s: ipv4= expects on or off", ctx);
        return -1;
    }
    inet_pton(AF_INET6, "fec0::", &c->vprefix_addr6);
    c->vprefix_len = 64;
    inet_pton(AF_INET6, "fec0::2", &c->vhost6);
    inet_pton(AF_INET6, "fec0::3", &c->vnameserver6);
    c->vhostname = opts_get(o, "hostname");
    c->vdomainname = opts_get(o, "domainname");
    c->tftp_path = opts_get(o, "tftp");
    c->bootfile = opts_get(o, "bootfile");
    c->tftp_server_name = opts_get(o, "tftp-server-name");
    return 0;
}

/* tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_hostfwd(const char *rule, const SlirpConfig *c, bool *udp,
                         struct in_addr *haddr, int *hport, struct in_addr *gaddr, int *gport)
{
    char buf[256];
    if (strlen(rule) >= sizeof(buf))
        return -1;
    strcpy(buf, rule);
    char *dash = strchr(buf, '-');
    char *colon = strchr(buf, ':');
    if (!colon || !dash || dash < colon)
        return -1;
    *colon = *dash = '\0';
    const char *proto = buf;
    char *hostpart = colon + 1, *guestpart = dash + 1;
    if (!strcmp(proto, "tcp") || !proto[0])
        *udp = false;
    else if (!strcmp(proto, "udp"))
        *udp = true;
    else
        return -1;
    for (int side = 0; side < 2; side++) {
        char *part = side ? guestpart : hostpart;
        char *pc = strrchr(part, ':');
        if (!pc)
            return -1;
        *pc = '\0';
        struct in_addr *a = side ? gaddr : haddr;
        if (!part[0])
            a->s_addr = side ? htonl(ntohl(c->vnetwork.s_addr) | 15) : INADDR_ANY;
        else if (parse_ip4(part, a) < 0)
            return -1;
        uint64_t port;
        if (parse_uint(pc + 1, &port) < 0 || port > 65535 || (side && port == 0))
            return -1;
        *(side ? gport : hport) = (int)port;
    }
    return 0;
}

static int add_hostfwds(SlirpState *s, Opts *o, const SlirpConfig *c, const char *ctx)
{
    for (unsigned i = 0; i < o->n; i++) {
        if (strcmp(o->kv[i].key, "hostfwd"))
            continue;
        o->kv[i].used = true;
        const char *rule = o->kv[i].val;
        bool udp;
        struct in_addr ha, ga;
        int hp, gp;
        if (parse_hostfwd(rule, c, &udp, &ha, &hp, &ga, &gp) < 0) {
            error_report("%s: invalid host forwarding rule '%s'", ctx, rule);
            return -1;
        }
        if (slirp_add_hostfwd(s->slirp, udp, ha, hp, ga, gp) < 0) {
            error_report("%s: could not set up host forwarding rule '%s'", ctx, rule);
            return -1;
        }
    }
    return 0;
}

NetClient *net_user_create(const char *name, Opts *o, const char *ctx)
{
    UserConfig uc = { 0 };
    if (user_config(o, &uc, ctx) < 0)
        return NULL;
    SlirpState *s = xzalloc(sizeof(*s));
    s->poll_bh = bh_new(slirp_poll_bh, s);
    s->poll_timer = timer_new(CLOCK_REALTIME_NS, slirp_poll_timer, s);
    s->slirp = slirp_new(&uc.cfg, &slirp_callbacks, s);
    if (!s->slirp) {
        error_report("%s: cannot start user networking", ctx);
        bh_delete(s->poll_bh);
        timer_free(s->poll_timer);
        free(s);
        return NULL;
    }
    s->nc = net_client_new(&slirp_ops, name, s);
    snprintf(s->nc->info_str, sizeof(s->nc->info_str), "net=%s,restrict=%s",
             inet_ntoa(uc.cfg.vnetwork), uc.restricted ? "on" : "off");
    if (add_hostfwds(s, o, &uc.cfg, ctx) < 0) {
        net_client_free(s->nc);
        return NULL;
    }
    bh_schedule(s->poll_bh);
    return s->nc;
}
