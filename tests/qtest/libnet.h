/*
 * libnet: the host side of the network and balloon qtests.
 *
 *  - frame builders and parsers for what a guest network stack would send
 *    and expect: Ethernet II, ARP (RFC 826), IPv4 (RFC 791) with its header
 *    checksum, UDP (RFC 768) and TCP (RFC 793) with the pseudo-header
 *    checksum, and a DHCP DISCOVER (RFC 2131/2132);
 *  - TCP helpers on 127.0.0.1 for QEMU's socket netdev framing (each frame
 *    preceded by its length as a 4-byte big-endian number);
 *  - a minimal QMP client over a unix socket (one JSON object per line).
 *
 * Everything is synchronous with millisecond timeouts and never aborts.
 */
#ifndef VMM_LIBNET_H
#define VMM_LIBNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Dotted quad as a host-order number: IP4(10,0,2,15). */
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

extern const uint8_t net_broadcast_mac[ETH_ALEN];

/* ---- builders: each writes a whole frame into buf and returns its length
 * (0 if buf is too small) ---- */
size_t frame_eth(uint8_t *buf, size_t cap, const uint8_t dst[6], const uint8_t src[6],
                 uint16_t ethertype, const void *payload, size_t plen);
/* ARP request "who has target_ip, tell sender_ip" (broadcast). */
size_t frame_arp_request(uint8_t *buf, size_t cap, const uint8_t src_mac[6], uint32_t src_ip,
                         uint32_t target_ip);
/* ARP reply from src to dst. */
size_t frame_arp_reply(uint8_t *buf, size_t cap, const uint8_t src_mac[6], uint32_t src_ip,
                       const uint8_t dst_mac[6], uint32_t dst_ip);
size_t frame_udp(uint8_t *buf, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                 uint32_t src_ip, uint32_t dst_ip, uint16_t sport, uint16_t dport,
                 const void *data, size_t dlen);
size_t frame_tcp(uint8_t *buf, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                 uint32_t src_ip, uint32_t dst_ip, uint16_t sport, uint16_t dport, uint32_t seq,
                 uint32_t ack, uint8_t flags, const void *data, size_t dlen);
/* DHCP DISCOVER from 0.0.0.0:68 to 255.255.255.255:67 with this xid. */
size_t frame_dhcp_discover(uint8_t *buf, size_t cap, const uint8_t mac[6], uint32_t xid);
/* A test pattern frame: dst, src, ethertype 0x88b5 (local experimental),
 * then len - 14 bytes derived from seq, so each frame is recognisable. */
size_t frame_pattern(uint8_t *buf, size_t len, const uint8_t dst[6], const uint8_t src[6],
                     uint32_t seq);
/* The seq of a frame_pattern frame, or -1 if the bytes do not match. */
int64_t frame_pattern_seq(const uint8_t *buf, size_t len);

/* RFC 1071 ones'-complement sum (initial value sum, not yet inverted). */
uint32_t inet_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t inet_csum_fold(uint32_t sum);

/* ---- parsers: true if frame is the thing, filling the out values ---- */
bool parse_arp_reply(const uint8_t *f, size_t len, uint32_t sender_ip, uint8_t sender_mac[6]);
bool parse_arp_request(const uint8_t *f, size_t len, uint32_t *target_ip);
/* UDP to dport; data and dlen point into f. */
bool parse_udp(const uint8_t *f, size_t len, uint16_t dport, const uint8_t **data, size_t *dlen);
/* A DHCP reply (BOOTREPLY, xid) of type msgtype (2 OFFER, 5 ACK): yiaddr. */
bool parse_dhcp_reply(const uint8_t *f, size_t len, uint32_t xid, int msgtype, uint32_t *yiaddr);
typedef struct TcpInfo {
    uint32_t src_ip, dst_ip;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    bool csum_ok;
} TcpInfo;
bool parse_tcp(const uint8_t *f, size_t len, TcpInfo *out);

/* ---- host sockets ---- */
/* Listen on 127.0.0.1 at an ephemeral port; returns fd, sets *port. */
int tcp_listen_local(uint16_t *port);
/* Accept within timeout_ms; -1 on timeout. */
int tcp_accept_timeout(int lfd, int timeout_ms);
/* Connect to 127.0.0.1:port (blocking connect, then non-blocking off). */
int tcp_connect_local(uint16_t port);
/* A free TCP port on 127.0.0.1 (bind port 0, close). */
uint16_t tcp_free_port(void);
/* Socket-netdev framing: 4-byte big-endian length, then the frame. */
bool stream_send_frame(int fd, const void *frame, size_t len);
/* Receive one frame within timeout_ms: its length, 0 on timeout, -1 on error/EOF. */
long stream_recv_frame(int fd, void *buf, size_t cap, int timeout_ms);
/* Is something readable on fd within timeout_ms? */
bool fd_readable(int fd, int timeout_ms);

/* ---- QMP ---- */
typedef struct QmpClient QmpClient;
/* Connect (retrying up to 5 s), read the greeting, negotiate capabilities. */
QmpClient *qmp_client_open(const char *path);
void qmp_client_close(QmpClient *q);
/* Send a command (a whole JSON object, printf-style); return the reply line
 * ("return" or "error"), skipping events (kept for qmp_client_event).
 * malloc'd; NULL on timeout or a closed connection. */
char *qmp_client_cmd(QmpClient *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An event line containing "event": "NAME" seen so far or within timeout. */
char *qmp_client_event(QmpClient *q, const char *name, int timeout_ms);
/* Find "key": in json and parse the integer after it; false if absent. */
bool json_get_int(const char *json, const char *key, long long *out);

/* ---- misc ---- */
/*
 * A 64 KiB firmware image whose reset vector (F000:FFF0) is "cli; hlt;
 * jmp $-1", for QEMU: started with it and "cont", its vCPU halts for good
 * and the VM counts as running (QEMU's virtio-net does nothing while the
 * VM is stopped).  Created once in the temporary directory, removed at
 * exit.
 */
const char *halt_firmware_path(void);
int64_t net_now_ms(void);
/* VmRSS of pid in KiB, -1 if unknown. */
long proc_rss_kib(int pid);

#endif
