/*
 * Private to net/: how net.c (the core and the command line) reaches the
 * backends and the hub.  Devices use include/net.h only.
 */
#ifndef VMM_NET_BACKENDS_H
#define VMM_NET_BACKENDS_H

#include "net.h"
#include "util.h"

/* Largest frame a backend reads or accepts: 64 KiB of GSO payload plus
 * headers, as QEMU's NET_BUFSIZE. */
#define NET_BUFSIZE (4096 + 65536)

/*
 * Backend constructors.  o holds the -netdev/-net options (each backend
 * fetches the keys it knows with opts_get; net.c rejects the rest); ctx is
 * the option as the user wrote it ("-netdev user,id=n0") for messages.
 * They return the new client, or NULL after one error_report line.
 */
NetClient *net_user_create(const char *name, Opts *o, const char *ctx);
NetClient *net_tap_create(const char *name, Opts *o, const char *ctx);
NetClient *net_socket_create(const char *name, Opts *o, const char *ctx);

/* tap's vnet header support, for net_peer_* in net.c. */
bool tap_has_vnet_hdr(NetClient *nc);
bool tap_has_ufo(NetClient *nc);
void tap_use_vnet_hdr(NetClient *nc, bool on, unsigned hdr_len);
void tap_set_offload(NetClient *nc, bool csum, bool tso4, bool tso6, bool ecn, bool ufo);
/* Run the downscripts (exit path). */
void tap_run_downscripts(void);

/* Hubs (net/hub.c): QEMU's -net "vlan" 0 and friends. */
NetClient *net_hub_add_port(int hub_id);
/* Deliver the frames queued at every port of port's hub (a peer got room). */
void net_hub_flush(NetClient *port);
/* Append "hub N" blocks of "info network" to *out (malloc'd, grows). */
void net_hub_info(char **out);
/* Warn about hubs with NICs but no backend, or backends but no NICs. */
void net_hub_check_clients(void);
void net_hubs_free(void);

/* net.c: one "name: index=0,type=...,info" line, appended to *out. */
void net_info_append_client(char **out, NetClient *nc);
/* net.c: append printf-style text to a malloc'd string. */
void net_str_append(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

size_t net_iov_size(const struct iovec *iov, int iovcnt);
/* Copy iov (from byte offset skip) into buf, at most len bytes; returns bytes. */
size_t net_iov_to_buf(const struct iovec *iov, int iovcnt, size_t skip, void *buf, size_t len);

#endif
