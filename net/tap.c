/*
 * -netdev tap: a Linux TAP interface (/dev/net/tun, IFF_TAP | IFF_NO_PI),
 * with the virtio-net header (IFF_VNET_HDR) when the kernel offers it, so a
 * virtio NIC can pass checksum and segmentation offloads straight through
 * (Documentation/networking/tuntap.rst).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"
#include "net-backends.h"
#include "util.h"

#define TAP_DEFAULT_SCRIPT "/etc/qemu-ifup"
#define TAP_DEFAULT_DOWNSCRIPT "/etc/qemu-ifdown"
/* Frames read per wakeup before other handlers get a turn. */
#define TAP_READ_BURST 64

typedef struct TapState {
    NetClient *nc;
    int fd;
    char ifname[IFNAMSIZ];
    bool has_vnet_hdr;          /* the fd was opened with IFF_VNET_HDR */
    bool has_ufo;
    unsigned host_hdr_len;      /* the kernel's TUNSETVNETHDRSZ (0: none) */
    bool read_enabled, write_wait;
    char *downscript;
    uint8_t buf[NET_BUFSIZE + sizeof(VirtioNetHdr)];
} TapState;

typedef struct Downscript {
    char *script, *ifname;
    struct Downscript *next;
} Downscript;

static Downscript *downscripts;

static void tap_update_handlers(TapState *t);

/* ---- reading from the tap (frames to the guest) ---- */

static void tap_sent(NetClient *nc, ssize_t len)
{
    TapState *t = nc->opaque;
    t->read_enabled = true;
    tap_update_handlers(t);
}

/*
 * With IFF_VNET_HDR every frame starts with the header; a NIC that did not
 * ask for it (e1000, or virtio before negotiation) gets the frame without.
 */
static size_t tap_strip_len(TapState *t)
{
    return (t->host_hdr_len && !t->nc->vnet_hdr) ? t->host_hdr_len : 0;
}

static void tap_readable(void *opaque)
{
    TapState *t = opaque;
    for (int i = 0; i < TAP_READ_BURST && t->read_enabled; i++) {
        ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t skip = tap_strip_len(t);
        if ((size_t)n <= skip)
            continue;
        if (net_send_buf(t->nc, t->buf + skip, (size_t)n - skip, tap_sent) == 0) {
            t->read_enabled = false;    /* resume in tap_sent */
            tap_update_handlers(t);
        }
    }
}

/* ---- writing to the tap (frames from the guest) ---- */

static void tap_writable(void *opaque)
{
    TapState *t = opaque;
    t->write_wait = false;
    tap_update_handlers(t);
    net_flush_queued(t->nc);
}

static void tap_update_handlers(TapState *t)
{
    main_loop_set_fd_handler(t->fd, t->read_enabled ? tap_readable : NULL,
                             t->write_wait ? tap_writable : NULL, t);
}

static ssize_t tap_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    TapState *t = nc->opaque;
    size_t len = net_iov_size(iov, iovcnt);
    struct iovec v[iovcnt + 1];
    int cnt = 0;
    static const VirtioNetHdr zero_hdr;
    if (t->host_hdr_len && !nc->vnet_hdr)
        v[cnt++] = (struct iovec){ (void *)&zero_hdr, t->host_hdr_len };
    for (int i = 0; i < iovcnt; i++)
        v[cnt++] = iov[i];
    ssize_t n;
    do {
        n = writev(t->fd, v, cnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        t->write_wait = true;           /* the core queues; retry when writable */
        tap_update_handlers(t);
        return 0;
    }
    /* Other errors (e.g. the interface is down: EIO) drop the frame. */
    return (ssize_t)len;
}

static void tap_cleanup(NetClient *nc)
{
    TapState *t = nc->opaque;
    main_loop_set_fd_handler(t->fd, NULL, NULL, NULL);
    close(t->fd);
    if (t->downscript) {
        Downscript *d = xzalloc(sizeof(*d));
        d->script = t->downscript;
        d->ifname = xstrdup(t->ifname);
        d->next = downscripts;
        downscripts = d;
    }
    free(t);
}

static const NetClientOps tap_ops = {
    .kind = NET_CLIENT_TAP,
    .receive = tap_receive,
    .cleanup = tap_cleanup,
};

/* ---- vnet header and offloads ---- */

bool tap_has_vnet_hdr(NetClient *nc)
{
    return ((TapState *)nc->opaque)->has_vnet_hdr;
}

bool tap_has_ufo(NetClient *nc)
{
    return ((TapState *)nc->opaque)->has_ufo;
}

void tap_use_vnet_hdr(NetClient *nc, bool on, unsigned hdr_len)
{
    TapState *t = nc->opaque;
    if (!t->has_vnet_hdr || !on)
        return;             /* the header stays (t->host_hdr_len), stripped/added here */
    int len = (int)hdr_len;
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &len) == 0)
        t->host_hdr_len = hdr_len;
    else
        error_report("tap %s: cannot set the vnet header size to %u: %s", t->ifname, hdr_len,
                     strerror(errno));
}

void tap_set_offload(NetClient *nc, bool csum, bool tso4, bool tso6, bool ecn, bool ufo)
{
    TapState *t = nc->opaque;
    unsigned off = 0;
    if (csum) {
        off |= TUN_F_CSUM;
        off |= tso4 ? TUN_F_TSO4 : 0;
        off |= tso6 ? TUN_F_TSO6 : 0;
        off |= ((tso4 || tso6) && ecn) ? TUN_F_TSO_ECN : 0;
        off |= (ufo && t->has_ufo) ? TUN_F_UFO : 0;
    }
    if (ioctl(t->fd, TUNSETOFFLOAD, off) < 0)
        error_report("tap %s: cannot set offloads 0x%x: %s", t->ifname, off, strerror(errno));
}

/* The kernel accepts TUN_F_UFO only if it can do UFO (removed in 4.14, back in 6.2). */
static bool tap_probe_ufo(int fd)
{
    if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_UFO) < 0)
        return false;
    ioctl(fd, TUNSETOFFLOAD, 0);
    return true;
}

/* ---- opening ---- */

/* vnet_hdr: -1 = use if available, 0 = off, 1 = required. */
static int tap_open(const char *ifname, int vnet_hdr, char *out_name, bool *has_vnet,
                    const char *ctx)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        error_report("%s: could not open /dev/net/tun: %s", ctx, strerror(errno));
        return -1;
    }
    unsigned features = 0;
    if (ioctl(fd, TUNGETFEATURES, &features) < 0)
        features = 0;
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    *has_vnet = vnet_hdr != 0 && (features & IFF_VNET_HDR);
    if (vnet_hdr == 1 && !*has_vnet) {
        error_report("%s: vnet_hdr=1 requested, but no kernel support for IFF_VNET_HDR", ctx);
        close(fd);
        return -1;
    }
    if (*has_vnet)
        ifr.ifr_flags |= IFF_VNET_HDR;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname && ifname[0] ? ifname : "tap%d");
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        error_report("%s: could not configure /dev/net/tun (%s): %s", ctx, ifr.ifr_name,
                     strerror(errno));
        close(fd);
        return -1;
    }
    snprintf(out_name, IFNAMSIZ, "%s", ifr.ifr_name);
    return fd;
}

/* Run "script IFNAME" and wait for it, as QEMU does for script=. */
static int run_script(const char *script, const char *ifname, const char *ctx)
{
    pid_t pid = fork();
    if (pid < 0) {
        error_report("%s: could not launch network script %s: %s", ctx, script, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execl(script, script, ifname, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            error_report("%s: waiting for %s: %s", ctx, script, strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        error_report("%s: could not launch network script %s", ctx, script);
    else
        error_report("%s: network script %s failed with status %d", ctx, script, status);
    return -1;
}

void tap_run_downscripts(void)
{
    while (downscripts) {
        Downscript *d = downscripts;
        downscripts = d->next;
        run_script(d->script, d->ifname, "downscript");
        free(d->script);
        free(d->ifname);
        free(d);
    }
}

/* script=no / none / "" means none; absent means QEMU's default path. */
static const char *script_path(const char *v, const char *dflt)
{
    if (!v)
        return dflt;
    if (!v[0] || !strcmp(v, "no") || !strcmp(v, "none"))
        return NULL;
    return v;
}

static int parse_tristate(Opts *o, const char *key, int *out, const char *ctx)
{
    const char *v = opts_get(o, key);
    bool b;
    *out = -1;
    if (!v)
        return 0;
    if (parse_bool(v, &b) < 0) {
        error_report("%s: %s= expects on or off", ctx, key);
        return -1;
    }
    *out = b;
    return 0;
}

/* fd=N: a tap the caller opened; its flags tell whether it has vnet_hdr. */
static int tap_adopt_fd(const char *str, char *ifname, bool *has_vnet, const char *ctx)
{
    uint64_t v;
    struct ifreq ifr = { 0 };
    if (parse_uint(str, &v) < 0 || v > 0x7fffffff || fcntl((int)v, F_GETFD) < 0) {
        error_report("%s: fd=%s is not an open file descriptor", ctx, str);
        return -1;
    }
    int fd = (int)v;
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        error_report("%s: fd=%d is not a tap device: %s", ctx, fd, strerror(errno));
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *has_vnet = ifr.ifr_flags & IFF_VNET_HDR;
    snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
    return fd;
}

NetClient *net_tap_create(const char *name, Opts *o, const char *ctx)
{
    const char *ifname = opts_get(o, "ifname");
    const char *fdstr = opts_get(o, "fd");
    const char *script = script_path(opts_get(o, "script"), TAP_DEFAULT_SCRIPT);
    const char *down = script_path(opts_get(o, "downscript"), TAP_DEFAULT_DOWNSCRIPT);
    const char *queues = opts_get(o, "queues");
    int vhost, vnet_hdr, vhostforce;
    if (parse_tristate(o, "vhost", &vhost, ctx) < 0 ||
        parse_tristate(o, "vnet_hdr", &vnet_hdr, ctx) < 0 ||
        parse_tristate(o, "vhostforce", &vhostforce, ctx) < 0)
        return NULL;
    if (vhost == 1 || vhostforce == 1 || opts_get(o, "vhostfd")) {
        error_report("%s: vhost-net is not supported yet (use vhost=off)", ctx);
        return NULL;
    }
    if (queues && strcmp(queues, "1")) {
        error_report("%s: multiqueue tap (queues=%s) is not supported", ctx, queues);
        return NULL;
    }
    if (fdstr && (ifname || opts_get(o, "script") || opts_get(o, "downscript"))) {
        error_report("%s: ifname=, script= and downscript= cannot be used with fd=", ctx);
        return NULL;
    }
    char real_name[IFNAMSIZ];
    bool has_vnet;
    int fd = fdstr ? tap_adopt_fd(fdstr, real_name, &has_vnet, ctx)
                   : tap_open(ifname, vnet_hdr, real_name, &has_vnet, ctx);
    if (fd < 0)
        return NULL;
    if (!fdstr && script && run_script(script, real_name, ctx) < 0) {
        close(fd);
        return NULL;
    }
    TapState *t = xzalloc(sizeof(*t));
    t->fd = fd;
    snprintf(t->ifname, sizeof(t->ifname), "%s", real_name);
    t->has_vnet_hdr = has_vnet;
    t->host_hdr_len = has_vnet ? 10 : 0;    /* the kernel's default size */
    t->has_ufo = has_vnet && tap_probe_ufo(fd);
    t->downscript = (!fdstr && down) ? xstrdup(down) : NULL;
    t->nc = net_client_new(&tap_ops, name, t);
    if (fdstr)
        snprintf(t->nc->info_str, sizeof(t->nc->info_str), "fd=%d", fd);
    else
        snprintf(t->nc->info_str, sizeof(t->nc->info_str), "ifname=%s,script=%s,downscript=%s",
                 t->ifname, script ? script : "no", down ? down : "no");
    if (has_vnet) {
        int len = 10;
        ioctl(fd, TUNSETVNETHDRSZ, &len);
    }
    t->read_enabled = true;
    tap_update_handlers(t);
    return t->nc;
}
