/*
 * libnet: frame builders/parsers, 127.0.0.1 TCP helpers and a small QMP
 * client for the qtests (see libnet.h).  Field layouts follow the RFCs
 * named there; all multi-byte fields on the wire are big-endian.
 */
#include "libnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const uint8_t net_broadcast_mac[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

int64_t net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- byte order helpers ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* ---- checksums (RFC 1071) ---- */

uint32_t inet_csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i;

    for (i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

uint16_t inet_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* TCP/UDP pseudo header (RFC 793 3.1, RFC 768): src, dst, zero, proto, length. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint8_t ph[12];
    put32(ph, src);
    put32(ph + 4, dst);
    ph[8] = 0;
    ph[9] = proto;
    put16(ph + 10, len);
    return inet_csum_add(0, ph, sizeof(ph));
}

/* ---- builders ---- */

size_t frame_eth(uint8_t *buf, size_t cap, const uint8_t dst[6], const uint8_t src[6],
                 uint16_t ethertype, const void *payload, size_t plen)
{
    if (cap < ETH_HLEN + plen)
        return 0;
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    put16(buf + 12, ethertype);
    if (plen)
        memcpy(buf + ETH_HLEN, payload, plen);
    return ETH_HLEN + plen;
}

/* RFC 826 packet for Ethernet/IPv4: htype 1, ptype 0x0800, hlen 6, plen 4. */
static size_t arp_frame(uint8_t *buf, size_t cap, uint16_t op, const uint8_t *eth_dst,
                        const uint8_t sha[6], uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
    uint8_t a[28];
    put16(a, 1);
    put16(a + 2, ETH_P_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    put32(a + 14, spa);
    memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    return frame_eth(buf, cap, eth_dst, sha, ETH_P_ARP, a, sizeof(a));
}

size_t frame_arp_request(uint8_t *buf, size_t cap, const uint8_t src_mac[6], uint32_t src_ip,
                         uint32_t target_ip)
{
    static const uint8_t zero[6];
    return arp_frame(buf, cap, 1, net_broadcast_mac, src_mac, src_ip, zero, target_ip);
}

size_t frame_arp_reply(uint8_t *buf, size_t cap, const uint8_t src_mac[6], uint32_t src_ip,
                       const uint8_t dst_mac[6], uint32_t dst_ip)
{
    return arp_frame(buf, cap, 2, dst_mac, src_mac, src_ip, dst_mac, dst_ip);
}

/* RFC 791 header without options; the header checksum covers it alone. */
static void ipv4_header(uint8_t *ip, uint8_t proto, uint32_t src, uint32_t dst, size_t total)
{
    static uint16_t ident = 1;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)total);
    put16(ip + 4, ident++);
    put16(ip + 6, 0x4000);      /* don't fragment */
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, dst);
    put16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, 20)));
}

static size_t ipv4_frame(uint8_t *buf, size_t cap, const uint8_t dst_mac[6],
                         const uint8_t src_mac[6], uint8_t proto, uint32_t src, uint32_t dst,
                         const uint8_t *l4, size_t l4len)
{
    if (cap < ETH_HLEN + 20 + l4len || l4len > 65515)
        return 0;
    frame_eth(buf, cap, dst_mac, src_mac, ETH_P_IP, NULL, 0);
    ipv4_header(buf + ETH_HLEN, proto, src, dst, 20 + l4len);
    memcpy(buf + ETH_HLEN + 20, l4, l4len);
    return ETH_HLEN + 20 + l4len;
}

size_t frame_udp(uint8_t *buf, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                 uint32_t src_ip, uint32_t dst_ip, uint16_t sport, uint16_t dport,
                 const void *data, size_t dlen)
{
    size_t ulen = 8 + dlen;
    uint8_t *u = malloc(ulen);
    if (!u || ulen > 65515) {
        free(u);
        return 0;
    }
    put16(u, sport);
    put16(u + 2, dport);
    put16(u + 4, (uint16_t)ulen);
    put16(u + 6, 0);
    memcpy(u + 8, data, dlen);
    uint16_t cs = inet_csum_fold(inet_csum_add(pseudo_sum(src_ip, dst_ip, IPPROTO_UDP_, ulen),
                                               u, ulen));
    put16(u + 6, cs ? cs : 0xffff);   /* RFC 768: a computed zero is sent as ones */
    size_t n = ipv4_frame(buf, cap, dst_mac, src_mac, IPPROTO_UDP_, src_ip, dst_ip, u, ulen);
    free(u);
    return n;
}

size_t frame_tcp(uint8_t *buf, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                 uint32_t src_ip, uint32_t dst_ip, uint16_t sport, uint16_t dport, uint32_t seq,
                 uint32_t ack, uint8_t flags, const void *data, size_t dlen)
{
    /* A SYN carries an MSS option (kind 2, len 4): 1460. */
    size_t optlen = (flags & TCP_SYN) ? 4 : 0;
    size_t hlen = 20 + optlen, tlen = hlen + dlen;
    uint8_t *t = calloc(1, tlen);
    if (!t || tlen > 65515) {
        free(t);
        return 0;
    }
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = (uint8_t)(hlen / 4) << 4;
    t[13] = flags;
    put16(t + 14, 64240);       /* window */
    if (optlen) {
        t[20] = 2;
        t[21] = 4;
        put16(t + 22, 1460);
    }
    if (dlen)
        memcpy(t + hlen, data, dlen);
    put16(t + 16, inet_csum_fold(inet_csum_add(pseudo_sum(src_ip, dst_ip, IPPROTO_TCP_, tlen),
                                               t, tlen)));
    size_t n = ipv4_frame(buf, cap, dst_mac, src_mac, IPPROTO_TCP_, src_ip, dst_ip, t, tlen);
    free(t);
    return n;
}

/* RFC 2131 section 2 message layout; RFC 2132 options 53 (type), 55, 255. */
size_t frame_dhcp_discover(uint8_t *buf, size_t cap, const uint8_t mac[6], uint32_t xid)
{
    uint8_t d[300];
    memset(d, 0, sizeof(d));
    d[0] = 1;                   /* BOOTREQUEST */
    d[1] = 1;                   /* htype Ethernet */
    d[2] = 6;
    put32(d + 4, xid);
    put16(d + 10, 0x8000);      /* broadcast flag: we have no address yet */
    memcpy(d + 28, mac, 6);     /* chaddr */
    put32(d + 236, 0x63825363); /* magic cookie */
    uint8_t *o = d + 240;
    *o++ = 53, *o++ = 1, *o++ = 1;                      /* DHCPDISCOVER */
    *o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6;  /* mask, router, dns */
    *o++ = 255;
    return frame_udp(buf, cap, net_broadcast_mac, mac, 0, 0xffffffffu, 68, 67, d, sizeof(d));
}

size_t frame_pattern(uint8_t *buf, size_t len, const uint8_t dst[6], const uint8_t src[6],
                     uint32_t seq)
{
    if (len < ETH_HLEN + 4)
        return 0;
    frame_eth(buf, len, dst, src, 0x88b5, NULL, 0);
    put32(buf + ETH_HLEN, seq);
    for (size_t i = ETH_HLEN + 4; i < len; i++)
        buf[i] = (uint8_t)(seq * 7 + i);
    return len;
}

int64_t frame_pattern_seq(const uint8_t *buf, size_t len)
{
    if (len < ETH_HLEN + 4 || get16(buf + 12) != 0x88b5)
        return -1;
    uint32_t seq = get32(buf + ETH_HLEN);
    for (size_t i = ETH_HLEN + 4; i < len; i++)
        if (buf[i] != (uint8_t)(seq * 7 + i))
            return -1;
    return seq;
}

/* ---- parsers ---- */

/* The IPv4 payload of f for this protocol, checking lengths. */
static const uint8_t *ipv4_payload(const uint8_t *f, size_t len, uint8_t proto, size_t *l4len)
{
    if (len < ETH_HLEN + 20 || get16(f + 12) != ETH_P_IP)
        return NULL;
    const uint8_t *ip = f + ETH_HLEN;
    size_t ihl = (ip[0] & 15) * 4, total = get16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || ETH_HLEN + total > len || ip[9] != proto)
        return NULL;
    *l4len = total - ihl;
    return ip + ihl;
}

bool parse_arp_reply(const uint8_t *f, size_t len, uint32_t sender_ip, uint8_t sender_mac[6])
{
    if (len < ETH_HLEN + 28 || get16(f + 12) != ETH_P_ARP)
        return false;
    const uint8_t *a = f + ETH_HLEN;
    if (get16(a + 6) != 2 || get32(a + 14) != sender_ip)
        return false;
    if (sender_mac)
        memcpy(sender_mac, a + 8, 6);
    return true;
}

bool parse_arp_request(const uint8_t *f, size_t len, uint32_t *target_ip)
{
    if (len < ETH_HLEN + 28 || get16(f + 12) != ETH_P_ARP || get16(f + ETH_HLEN + 6) != 1)
        return false;
    if (target_ip)
        *target_ip = get32(f + ETH_HLEN + 24);
    return true;
}

bool parse_udp(const uint8_t *f, size_t len, uint16_t dport, const uint8_t **data, size_t *dlen)
{
    size_t l4len;
    const uint8_t *u = ipv4_payload(f, len, IPPROTO_UDP_, &l4len);
    if (!u || l4len < 8 || get16(u + 2) != dport || get16(u + 4) < 8 || get16(u + 4) > l4len)
        return false;
    *data = u + 8;
    *dlen = get16(u + 4) - 8;
    return true;
}

bool parse_dhcp_reply(const uint8_t *f, size_t len, uint32_t xid, int msgtype, uint32_t *yiaddr)
{
    const uint8_t *d;
    size_t dlen;
    if (!parse_udp(f, len, 68, &d, &dlen) || dlen < 240 || d[0] != 2 || get32(d + 4) != xid ||
        get32(d + 236) != 0x63825363)
        return false;
    /* Walk the options for 53 (message type). */
    for (size_t i = 240; i < dlen && d[i] != 255;) {
        if (d[i] == 0) {
            i++;
            continue;
        }
        if (i + 2 > dlen || i + 2 + d[i + 1] > dlen)
            break;
        if (d[i] == 53 && d[i + 1] == 1 && d[i + 2] == msgtype) {
            if (yiaddr)
                *yiaddr = get32(d + 16);
            return true;
        }
        i += 2 + d[i + 1];
    }
    return false;
}

bool parse_tcp(const uint8_t *f, size_t len, TcpInfo *out)
{
    size_t l4len;
    const uint8_t *t = ipv4_payload(f, len, IPPROTO_TCP_, &l4len);
    if (!t || l4len < 20)
        return false;
    const uint8_t *ip = f + ETH_HLEN;
    out->src_ip = get32(ip + 12);
    out->dst_ip = get32(ip + 16);
    out->sport = get16(t);
    out->dport = get16(t + 2);
    out->seq = get32(t + 4);
    out->ack = get32(t + 8);
    out->flags = t[13];
    out->csum_ok = inet_csum_fold(inet_csum_add(
                       pseudo_sum(out->src_ip, out->dst_ip, IPPROTO_TCP_, l4len), t, l4len)) == 0;
    return true;
}

/* ---- host sockets ---- */

bool fd_readable(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, timeout_ms) > 0;
}

int tcp_listen_local(uint16_t *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int tcp_accept_timeout(int lfd, int timeout_ms)
{
    if (!fd_readable(lfd, timeout_ms))
        return -1;
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

int tcp_connect_local(uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

uint16_t tcp_free_port(void)
{
    uint16_t port = 0;
    int fd = tcp_listen_local(&port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= w;
    }
    return true;
}

/* Read exactly len bytes before deadline (monotonic ms). */
static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        int64_t left = deadline - net_now_ms();
        if (left <= 0 || !fd_readable(fd, (int)left))
            return got ? -1 : 0;
        ssize_t r = recv(fd, p + got, len - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += r;
    }
    return 1;
}

bool stream_send_frame(int fd, const void *frame, size_t len)
{
    uint8_t hdr[4];
    put32(hdr, (uint32_t)len);
    return write_all(fd, hdr, 4) && write_all(fd, frame, len);
}

long stream_recv_frame(int fd, void *buf, size_t cap, int timeout_ms)
{
    uint8_t hdr[4];
    int64_t deadline = net_now_ms() + timeout_ms;
    int r = read_full(fd, hdr, 4, deadline);
    if (r <= 0)
        return r;
    uint32_t len = get32(hdr);
    if (len > cap)
        return -1;
    /* Once the length arrived the body follows promptly. */
    if (read_full(fd, buf, len, net_now_ms() + 5000) != 1)
        return -1;
    return (long)len;
}

/* ---- QMP ---- */

struct QmpClient {
    int fd;
    char *buf;
    size_t len, cap;
    char **events;
    size_t nevents;
};

static char *qmp_take_line(QmpClient *q)
{
    char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
    if (!nl)
        return NULL;
    size_t n = nl - q->buf;
    char *line = malloc(n + 1);
    memcpy(line, q->buf, n);
    line[n] = '\0';
    memmove(q->buf, nl + 1, q->len - n - 1);
    q->len -= n + 1;
    return line;
}

/* Next line within deadline, or NULL. */
static char *qmp_read_line(QmpClient *q, int64_t deadline)
{
    for (;;) {
        char *line = qmp_take_line(q);
        if (line)
            return line;
        int64_t left = deadline - net_now_ms();
        if (left <= 0 || !fd_readable(q->fd, (int)left))
            return NULL;
        if (q->cap - q->len < 4096) {
            q->cap = q->cap * 2 + 4096;
            q->buf = realloc(q->buf, q->cap);
        }
        ssize_t r = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
        if (r <= 0)
            return NULL;
        q->len += r;
    }
}

static bool is_event(const char *line)
{
    return strstr(line, "\"event\"") && !strstr(line, "\"return\"") && !strstr(line, "\"error\"");
}

static void keep_event(QmpClient *q, char *line)
{
    q->events = realloc(q->events, (q->nevents + 1) * sizeof(*q->events));
    q->events[q->nevents++] = line;
}

QmpClient *qmp_client_open(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int64_t deadline = net_now_ms() + 5000;
    int fd = -1;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    while (net_now_ms() < deadline) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
        usleep(20000);
    }
    if (fd < 0)
        return NULL;
    QmpClient *q = calloc(1, sizeof(*q));
    q->fd = fd;
    char *greeting = qmp_read_line(q, net_now_ms() + 5000);
    bool ok = greeting && strstr(greeting, "\"QMP\"");
    free(greeting);
    char *r = ok ? qmp_client_cmd(q, "{\"execute\": \"qmp_capabilities\"}") : NULL;
    ok = r && strstr(r, "\"return\"");
    free(r);
    if (!ok) {
        qmp_client_close(q);
        return NULL;
    }
    return q;
}

void qmp_client_close(QmpClient *q)
{
    if (!q)
        return;
    close(q->fd);
    for (size_t i = 0; i < q->nevents; i++)
        free(q->events[i]);
    free(q->events);
    free(q->buf);
    free(q);
}

char *qmp_client_cmd(QmpClient *q, const char *fmt, ...)
{
    char *cmd;
    va_list ap;

    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    bool sent = write_all(q->fd, cmd, n) && write_all(q->fd, "\n", 1);
    free(cmd);
    if (!sent)
        return NULL;
    int64_t deadline = net_now_ms() + 10000;
    for (;;) {
        char *line = qmp_read_line(q, deadline);
        if (!line || !is_event(line))
            return line;
        keep_event(q, line);
    }
}

char *qmp_client_event(QmpClient *q, const char *name, int timeout_ms)
{
    char want[128];
    int64_t deadline = net_now_ms() + timeout_ms;

    snprintf(want, sizeof(want), "\"%s\"", name);
    for (;;) {
        for (size_t i = 0; i < q->nevents; i++) {
            if (strstr(q->events[i], want)) {
                char *e = q->events[i];
                memmove(q->events + i, q->events + i + 1, (q->nevents - i - 1) * sizeof(char *));
                q->nevents--;
                return e;
            }
        }
        char *line = qmp_read_line(q, deadline);
        if (!line)
            return NULL;
        if (is_event(line))
            keep_event(q, line);
        else
            free(line);
    }
}

bool json_get_int(const char *json, const char *key, long long *out)
{
    char want[128];
    snprintf(want, sizeof(want), "\"%s\"", key);
    const char *p = json ? strstr(json, want) : NULL;
    if (!p)
        return false;
    p += strlen(want);
    while (*p == ' ' || *p == ':')
        p++;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p)
        return false;
    *out = v;
    return true;
}

/* ---- misc ---- */

static char *halt_path;

static void remove_halt_firmware(void)
{
    if (halt_path)
        unlink(halt_path);
}

const char *halt_firmware_path(void)
{
    static const uint8_t code[] = { 0xfa, 0xf4, 0xeb, 0xfd };   /* cli; hlt; jmp $-1 */
    char tmpl[] = "/tmp/vmm-qtest-halt-XXXXXX";

    if (halt_path)
        return halt_path;
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return "/nonexistent-halt-firmware";
    uint8_t *img = calloc(1, 65536);
    memcpy(img + 0xfff0, code, sizeof(code));
    bool ok = img && write(fd, img, 65536) == 65536;
    free(img);
    close(fd);
    halt_path = strdup(tmpl);
    atexit(remove_halt_firmware);
    return ok ? halt_path : "/nonexistent-halt-firmware";
}

long proc_rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
