/*
 * -netdev socket: frames over a TCP connection (listen= or connect=), each
 * preceded by its length as a 4-byte big-endian number, which is QEMU's
 * format, so a vmm and a QEMU guest can share a link; or over UDP
 * (udp=,localaddr=), one frame per datagram.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "net-backends.h"
#include "util.h"

#define SOCKET_IN_CAP (4 + NET_BUFSIZE + 65536)

typedef enum { SOCK_LISTEN, SOCK_CONNECT, SOCK_UDP } SockMode;

typedef struct SocketState {
    NetClient *nc;
    SockMode mode;
    int listen_fd;
    int fd;                     /* the connection (or UDP socket); -1 if none */
    struct sockaddr_storage udp_dest;
    socklen_t udp_dest_len;
    bool blocked;               /* a frame is queued at the NIC: stop reading */
    bool write_wait;            /* the socket's send buffer is full */
    /* bytes read but not yet passed on: in[in_off, in_len) */
    uint8_t *in;
    size_t in_off, in_len;
    /* the rest of a frame the socket did not take at once */
    uint8_t *out;
    size_t out_off, out_len;
} SocketState;

static void sock_update_handlers(SocketState *s);
static void sock_parse_input(SocketState *s);

/* ---- addresses ---- */

/* "HOST:PORT" (HOST may be empty: any / localhost) to a sockaddr. */
static int parse_hostport(const char *str, bool passive, struct sockaddr_storage *ss,
                          socklen_t *len, int socktype)
{
    char buf[256];
    if (!str || strlen(str) >= sizeof(buf))
        return -1;
    strcpy(buf, str);
    char *colon = strrchr(buf, ':');
    if (!colon || !colon[1])
        return -1;
    *colon = '\0';
    char *host = buf;
    if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') {
        host++;
        colon[-1] = '\0';
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype };
    if (passive)
        hints.ai_flags = AI_PASSIVE;
    struct addrinfo *res;
    if (getaddrinfo(host[0] ? host : (passive ? NULL : "127.0.0.1"), colon + 1, &hints, &res))
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void addr_string(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    snprintf(buf, len, "%s:%d", host, port);
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- connection state ---- */

static void sock_accept(void *opaque);

static void sock_disconnect(SocketState *s)
{
    main_loop_set_fd_handler(s->fd, NULL, NULL, NULL);
    close(s->fd);
    s->fd = -1;
    s->in_off = s->in_len = 0;
    s->out_off = s->out_len = 0;
    s->write_wait = false;
    s->nc->info_str[0] = '\0';
    if (s->mode == SOCK_LISTEN)
        main_loop_set_fd_handler(s->listen_fd, sock_accept, NULL, s);
    /* Frames the NIC queued for us are dropped now that no one listens. */
    net_flush_queued(s->nc);
}

static void sock_connected(SocketState *s, int fd, const char *what,
                           const struct sockaddr_storage *peer)
{
    char addr[80];
    addr_string(peer, addr, sizeof(addr));
    set_nonblock(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->fd = fd;
    snprintf(s->nc->info_str, sizeof(s->nc->info_str), "socket: %s %s", what, addr);
    sock_update_handlers(s);
}

/* One peer at a time, as QEMU: stop accepting until it leaves. */
static void sock_accept(void *opaque)
{
    SocketState *s = opaque;
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    main_loop_set_fd_handler(s->listen_fd, NULL, NULL, NULL);
    sock_connected(s, fd, "connection from", &peer);
}

/* ---- frames from the socket to the NIC ---- */

static void sock_sent(NetClient *nc, ssize_t len)
{
    SocketState *s = nc->opaque;
    s->blocked = false;
    sock_parse_input(s);
    sock_update_handlers(s);
}

static bool sock_deliver(SocketState *s, const uint8_t *frame, size_t len)
{
    if (net_send_buf(s->nc, frame, len, sock_sent) == 0)
        s->blocked = true;
    return !s->blocked;
}

/* Pass on every complete frame in the input buffer until the NIC is full. */
static void sock_parse_input(SocketState *s)
{
    while (!s->blocked && s->fd >= 0 && s->in_len - s->in_off >= 4) {
        const uint8_t *p = s->in + s->in_off;
        uint32_t flen = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        if (flen > NET_BUFSIZE) {
            error_report("netdev %s: bad frame length %u from the peer; disconnecting",
                         s->nc->name, flen);
            sock_disconnect(s);
            return;
        }
        if (s->in_len - s->in_off < 4 + (size_t)flen)
            break;
        s->in_off += 4 + flen;
        sock_deliver(s, p + 4, flen);
    }
    if (s->in_off == s->in_len)
        s->in_off = s->in_len = 0;
}

static void sock_read_stream(SocketState *s)
{
    if (s->in_off) {
        memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off;
        s->in_off = 0;
    }
    ssize_t n = recv(s->fd, s->in + s->in_len, SOCKET_IN_CAP - s->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        sock_disconnect(s);
        return;
    }
    s->in_len += (size_t)n;
    sock_parse_input(s);
}

static void sock_read_udp(SocketState *s)
{
    for (int i = 0; i < 64 && !s->blocked; i++) {
        ssize_t n = recv(s->fd, s->in, SOCKET_IN_CAP, 0);
        if (n < 0)
            return;
        sock_deliver(s, s->in, (size_t)n);
    }
}

static void sock_readable(void *opaque)
{
    SocketState *s = opaque;
    if (s->mode == SOCK_UDP)
        sock_read_udp(s);
    else
        sock_read_stream(s);
    if (s->fd >= 0)
        sock_update_handlers(s);
}

/* ---- frames from the NIC to the socket ---- */

/* Write what is left of the pending frame; true when it is all out. */
static bool sock_flush_out(SocketState *s)
{
    while (s->out_off < s->out_len) {
        ssize_t n = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n <= 0) {
            sock_disconnect(s);
            return true;
        }
        s->out_off += (size_t)n;
    }
    s->out_off = s->out_len = 0;
    return true;
}

static void sock_writable(void *opaque)
{
    SocketState *s = opaque;
    if (s->mode == SOCK_UDP || sock_flush_out(s)) {
        s->write_wait = false;
        if (s->fd >= 0)
            sock_update_handlers(s);
        net_flush_queued(s->nc);
    }
}

static void sock_update_handlers(SocketState *s)
{
    if (s->fd < 0)
        return;
    main_loop_set_fd_handler(s->fd, s->blocked ? NULL : sock_readable,
                             s->write_wait ? sock_writable : NULL, s);
}

static ssize_t sock_receive_udp(SocketState *s, const struct iovec *iov, int iovcnt, size_t len)
{
    struct msghdr msg = {
        .msg_name = &s->udp_dest, .msg_namelen = s->udp_dest_len,
        .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt,
    };
    ssize_t n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        s->write_wait = true;
        sock_update_handlers(s);
        return 0;
    }
    return (ssize_t)len;        /* sent, or lost as UDP may lose it */
}

static ssize_t sock_receive(NetClient *nc, const struct iovec *iov, int iovcnt)
{
    SocketState *s = nc->opaque;
    size_t len = net_iov_size(iov, iovcnt);
    if (s->fd < 0 || len > NET_BUFSIZE)
        return (ssize_t)len;    /* not connected (yet): dropped, as QEMU */
    if (s->mode == SOCK_UDP)
        return sock_receive_udp(s, iov, iovcnt, len);
    if (s->out_len)
        return 0;               /* still sending the previous frame */
    s->out[0] = (uint8_t)(len >> 24);
    s->out[1] = (uint8_t)(len >> 16);
    s->out[2] = (uint8_t)(len >> 8);
    s->out[3] = (uint8_t)len;
    net_iov_to_buf(iov, iovcnt, 0, s->out + 4, len);
    s->out_len = 4 + len;
    s->out_off = 0;
    if (!sock_flush_out(s)) {
        s->write_wait = true;   /* frame taken; the next waits for room */
        sock_update_handlers(s);
    }
    return (ssize_t)len;
}

static void sock_cleanup(NetClient *nc)
{
    SocketState *s = nc->opaque;
    if (s->fd >= 0) {
        main_loop_set_fd_handler(s->fd, NULL, NULL, NULL);
        close(s->fd);
    }
    if (s->listen_fd >= 0) {
        main_loop_set_fd_handler(s->listen_fd, NULL, NULL, NULL);
        close(s->listen_fd);
    }
    free(s->in);
    free(s->out);
    free(s);
}

static const NetClientOps socket_ops = {
    .kind = NET_CLIENT_SOCKET,
    .receive = sock_receive,
    .cleanup = sock_cleanup,
};

/* ---- setup ---- */

static int sock_listen(SocketState *s, const char *addr, const char *ctx)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_hostport(addr, true, &ss, &len, SOCK_STREAM) < 0) {
        error_report("%s: invalid listen address '%s' (want [HOST]:PORT)", ctx, addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1) < 0) {
        error_report("%s: cannot listen on %s: %s", ctx, addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    s->listen_fd = fd;
    main_loop_set_fd_handler(fd, sock_accept, NULL, s);
    return 0;
}

static int sock_connect(SocketState *s, const char *addr, const char *ctx)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_hostport(addr, false, &ss, &len, SOCK_STREAM) < 0) {
        error_report("%s: invalid connect address '%s' (want HOST:PORT)", ctx, addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = fd < 0 ? -1 : 0;
    while (r == 0 && connect(fd, (struct sockaddr *)&ss, len) < 0) {
        if (errno != EINTR)
            r = -1;
    }
    if (r < 0) {
        error_report("%s: cannot connect to %s: %s", ctx, addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    sock_connected(s, fd, "connect to", &ss);
    return 0;
}

static int sock_udp(SocketState *s, const char *dest, const char *local, const char *ctx)
{
    struct sockaddr_storage ls;
    socklen_t llen;
    if (!local) {
        error_report("%s: udp= requires localaddr=", ctx);
        return -1;
    }
    if (parse_hostport(dest, false, &s->udp_dest, &s->udp_dest_len, SOCK_DGRAM) < 0 ||
        parse_hostport(local, true, &ls, &llen, SOCK_DGRAM) < 0) {
        error_report("%s: invalid udp= or localaddr= address (want HOST:PORT)", ctx);
        return -1;
    }
    int fd = socket(ls.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ls, llen) < 0) {
        error_report("%s: cannot bind %s: %s", ctx, local, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    s->fd = fd;
    snprintf(s->nc->info_str, sizeof(s->nc->info_str), "socket: udp=%s", dest);
    sock_update_handlers(s);
    return 0;
}

NetClient *net_socket_create(const char *name, Opts *o, const char *ctx)
{
    const char *listen_a = opts_get(o, "listen");
    const char *connect_a = opts_get(o, "connect");
    const char *udp = opts_get(o, "udp");
    const char *local = opts_get(o, "localaddr");
    if (opts_get(o, "mcast") || opts_get(o, "fd")) {
        error_report("%s: mcast= and fd= are not supported (use listen=, connect= or udp=)",
                     ctx);
        return NULL;
    }
    if (!!listen_a + !!connect_a + !!udp != 1) {
        error_report("%s: exactly one of listen=, connect= and udp= is required", ctx);
        return NULL;
    }
    if (local && !udp) {
        error_report("%s: localaddr= is only valid with udp=", ctx);
        return NULL;
    }
    SocketState *s = xzalloc(sizeof(*s));
    s->fd = s->listen_fd = -1;
    s->in = xmalloc(SOCKET_IN_CAP);
    s->out = xmalloc(4 + NET_BUFSIZE);
    s->nc = net_client_new(&socket_ops, name, s);
    int r;
    if (listen_a) {
        s->mode = SOCK_LISTEN;
        r = sock_listen(s, listen_a, ctx);
    } else if (connect_a) {
        s->mode = SOCK_CONNECT;
        r = sock_connect(s, connect_a, ctx);
    } else {
        s->mode = SOCK_UDP;
        r = sock_udp(s, udp, local, ctx);
    }
    if (r < 0) {
        net_client_free(s->nc);
        return NULL;
    }
    return s->nc;
}
