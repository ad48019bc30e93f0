/*
 * The VNC server: libvncserver (RFC 6143, the RFB protocol) driven from
 * vmm's epoll main loop, with no threads of its own.
 *
 *  - vmm creates the listening sockets itself (TCP on every address of the
 *    host, or AF_UNIX) and hands each accepted socket to libvncserver with
 *    rfbNewClient.  Every client socket gets a main-loop read handler that
 *    runs rfbProcessEvents(screen, 0): a select() with no timeout, one
 *    message per readable client, then the pending framebuffer updates,
 *    then the clients that went away are freed (clientGoneHook).
 *  - libvncserver reads a message and writes an update synchronously, with
 *    a timeout of rfbMaxClientWait for a client that stops halfway.  We set
 *    it to VNC_MAX_CLIENT_WAIT_MS: a stalled or malicious client can hold
 *    the main loop (not the vCPUs) for at most that long per message, after
 *    which libvncserver drops it.  A new connection also waits up to 100 ms
 *    inside rfbNewClient for a WebSocket handshake (libvncserver's check).
 *  - The screen's frameBuffer points straight at the display surface
 *    (x8r8g8b8); while a client is connected we are a display listener, so
 *    the refresh timer runs, the device's changes arrive as update()
 *    (rfbMarkRectAsModified) and refresh_done() pushes them to the clients.
 *    A mode change arrives as resize(): rfbNewFramebuffer, which sends
 *    DesktopSize to the clients that support it.
 *  - Keys: keysym -> Linux key code through the layout (ui/keymaps.c) ->
 *    input_key_event.  Pointer: absolute when a tablet exists, else
 *    relative motion from the last position.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <rfb/rfb.h>

#include "pc.h"
#include "ui.h"
#include "util.h"

#define VNC_PORT_BASE 5900
#define VNC_MAX_DISPLAY (65535 - VNC_PORT_BASE)
#define VNC_MAX_CLIENT_WAIT_MS 2000
#define VNC_MAX_LISTENERS 8
#define VNC_PASSWORD_LEN 8      /* the DES key of VNC authentication (RFC 6143 7.2.2) */
#define VNC_KEY_BITS (KEY_MAX + 1)

typedef struct VncListenSock {
    int fd;
    int family;                  /* AF_INET, AF_INET6, AF_UNIX */
    char host[INET6_ADDRSTRLEN];
    char service[16];
} VncListenSock;

typedef struct VncClient {
    rfbClientPtr cl;
    int fd;
    char host[INET6_ADDRSTRLEN];
    char service[16];
    int family;
    uint8_t keys_down[VNC_KEY_BITS / 8];   /* released when the client leaves */
    struct VncClient *next;
} VncClient;

static struct {
    /* configuration (vnc_parse) */
    bool configured;             /* -vnc given and not "none" */
    char *spec;                  /* as given, for messages */
    char *host;                  /* NULL: all addresses */
    char *unix_path;             /* unix:PATH */
    int display, display_to;     /* port 5900 + display .. 5900 + display_to */
    bool password_on;
    /* runtime */
    rfbScreenInfoPtr screen;
    VncListenSock listen[VNC_MAX_LISTENERS];
    int nlisten;
    VncClient *clients;
    int nclients;
    void *display_listener;
    BH *listener_bh;
    bool in_new_client;          /* inside rfbNewClient: no rfbProcessEvents */
    char password[VNC_PASSWORD_LEN + 1];
    bool password_set;
    time_t password_expiry;      /* 0: never */
    /* pointer state shared by all clients: the guest has one pointer */
    int last_x, last_y;
    bool have_last;
    unsigned last_buttons;
} vnc = { .password_expiry = 0 };

/* ---- -vnc parsing ---- */

static void vnc_reset_config(void)
{
    free(vnc.spec);
    free(vnc.host);
    free(vnc.unix_path);
    vnc.spec = vnc.host = vnc.unix_path = NULL;
    vnc.configured = vnc.password_on = false;
    vnc.display = vnc.display_to = 0;
}

static int parse_display_number(const char *spec, const char *s, int *out)
{
    uint64_t v;
    if (!*s || parse_uint(s, &v) < 0 || v > VNC_MAX_DISPLAY) {
        error_report("-vnc %s: invalid display number '%s' (0 to %d)", spec, s,
                     VNC_MAX_DISPLAY);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* ":N", "HOST:N", "[V6ADDR]:N", "unix:PATH". */
static int parse_address(const char *spec, const char *addr)
{
    if (!strncmp(addr, "unix:", 5)) {
        if (!addr[5] || strlen(addr + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            error_report("-vnc %s: invalid unix socket path", spec);
            return -1;
        }
        vnc.unix_path = xstrdup(addr + 5);
        return 0;
    }
    const char *colon = strrchr(addr, ':');
    if (!colon) {
        error_report("-vnc %s: expected :N, HOST:N, unix:PATH or none", spec);
        return -1;
    }
    if (parse_display_number(spec, colon + 1, &vnc.display) < 0)
        return -1;
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']')
        vnc.host = strndup(addr + 1, hlen - 2);
    else if (hlen)
        vnc.host = strndup(addr, hlen);
    vnc.display_to = vnc.display;
    return 0;
}

static int parse_options(const char *spec, Opts *o)
{
    const char *v = opts_get(o, "password");
    if (v && parse_bool(v, &vnc.password_on) < 0) {
        error_report("-vnc %s: invalid value '%s' for 'password' (on/off)", spec, v);
        return -1;
    }
    v = opts_get(o, "to");
    if (v) {
        int to;
        if (parse_display_number(spec, v, &to) < 0)
            return -1;
        if (!vnc.unix_path)
            vnc.display_to = MAX(to, vnc.display);
    }
    v = opts_get(o, "share");
    if (v && strcmp(v, "allow-exclusive") && strcmp(v, "force-shared") && strcmp(v, "ignore")) {
        error_report("-vnc %s: invalid value '%s' for 'share' "
                     "(allow-exclusive, force-shared, ignore)", spec, v);
        return -1;
    }
    const char *unknown = opts_first_unused(o);
    if (unknown) {
        error_report("-vnc %s: unknown option '%s'", spec, unknown);
        return -1;
    }
    return 0;
}

int vnc_parse(const char *spec)
{
    vnc_reset_config();
    char err[256];
    Opts *o = opts_parse(spec, "vnc", err, sizeof(err));
    if (!o) {
        error_report("-vnc %s: %s", spec, err);
        return -1;
    }
    const char *addr = opts_get(o, "vnc");
    int ret = -1;
    if (!addr || !*addr) {
        error_report("-vnc %s: expected :N, HOST:N, unix:PATH or none", spec);
    } else if (!strcmp(addr, "none")) {
        ret = parse_options(spec, o);
    } else if (parse_address(spec, addr) == 0 && parse_options(spec, o) == 0) {
        vnc.configured = true;
        vnc.spec = xstrdup(spec);
        ret = 0;
    }
    opts_free(o);
    if (ret < 0)
        vnc_reset_config();
    return ret;
}

bool vnc_enabled(void)
{
    return vnc.screen != NULL;
}

/* ---- listening sockets ---- */

static void sockaddr_to_strings(const struct sockaddr *sa, socklen_t len, char *host,
                                size_t hostlen, char *service, size_t servlen)
{
    if (getnameinfo(sa, len, host, (socklen_t)hostlen, service, (socklen_t)servlen,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(host, hostlen, "?");
        snprintf(service, servlen, "?");
    }
}

static int listen_fd_setup(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 || listen(fd, 16) < 0 ? -1 : 0;
}

static void add_listen_sock(int fd, int family, const struct sockaddr *sa, socklen_t len)
{
    VncListenSock *l = &vnc.listen[vnc.nlisten++];
    l->fd = fd;
    l->family = family;
    if (family == AF_UNIX) {
        snprintf(l->host, sizeof(l->host), "%s", "");
        snprintf(l->service, sizeof(l->service), "%s", "");
    } else {
        sockaddr_to_strings(sa, len, l->host, sizeof(l->host), l->service, sizeof(l->service));
    }
}

static int listen_unix(void)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", vnc.unix_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_report("-vnc %s: cannot create socket: %s", vnc.spec, strerror(errno));
        return -1;
    }
    /* A socket left behind by an earlier run would make bind fail. */
    struct stat st;
    if (stat(vnc.unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(vnc.unix_path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen_fd_setup(fd) < 0) {
        error_report("-vnc %s: cannot listen on %s: %s", vnc.spec, vnc.unix_path,
                     strerror(errno));
        close(fd);
        return -1;
    }
    add_listen_sock(fd, AF_UNIX, NULL, 0);
    return 0;
}

static int bind_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* The IPv4 socket takes the IPv4 addresses, so the IPv6 one must not. */
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen_fd_setup(fd) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Bind every address of the host on one port; 0 if at least one bound. */
static int listen_tcp_port(int port, int *err)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *res;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(vnc.host, service, &hints, &res);
    if (rc) {
        error_report("-vnc %s: address resolution failed for %s: %s", vnc.spec,
                     vnc.host ? vnc.host : "", gai_strerror(rc));
        *err = -1;
        return -1;
    }
    for (struct addrinfo *ai = res; ai && vnc.nlisten < VNC_MAX_LISTENERS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        int fd = bind_one(ai);
        if (fd < 0) {
            *err = errno;
            continue;
        }
        add_listen_sock(fd, ai->ai_family, ai->ai_addr, ai->ai_addrlen);
    }
    freeaddrinfo(res);
    return vnc.nlisten ? 0 : -1;
}

static int listen_tcp(void)
{
    int err = 0;
    for (int d = vnc.display; d <= vnc.display_to; d++) {
        if (listen_tcp_port(VNC_PORT_BASE + d, &err) == 0)
            return 0;
        if (err == -1)
            return -1;
    }
    error_report("-vnc %s: cannot listen on port %d: %s", vnc.spec,
                 VNC_PORT_BASE + vnc.display, strerror(err ? err : EADDRNOTAVAIL));
    return -1;
}

/* ---- clients ---- */

static VncClient *client_of(rfbClientPtr cl)
{
    return cl ? cl->clientData : NULL;
}

static void process_events(void)
{
    if (vnc.screen)
        rfbProcessEvents(vnc.screen, 0);
}

static void client_readable(void *opaque)
{
    (void)opaque;
    process_events();
}

static void release_keys(VncClient *c)
{
    for (unsigned k = 0; k < VNC_KEY_BITS; k++) {
        if (c->keys_down[k / 8] & (1u << (k % 8)))
            input_key_event(k, false);
    }
    memset(c->keys_down, 0, sizeof(c->keys_down));
}

static void listener_update_bh(void *opaque);
static const DisplayListenerOps vnc_listener_ops;

/* libvncserver frees cl after this; the socket is already closed. */
static void client_gone(rfbClientPtr cl)
{
    VncClient *c = client_of(cl);
    if (!c)
        return;
    main_loop_set_fd_handler(c->fd, NULL, NULL, NULL);
    release_keys(c);
    for (VncClient **pp = &vnc.clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    vnc.nclients--;
    cl->clientData = NULL;
    free(c);
    /* Not here: we may be inside the display's listener walk (refresh_done). */
    bh_schedule(vnc.listener_bh);
}

static enum rfbNewClientAction client_new(rfbClientPtr cl)
{
    VncClient *c = xzalloc(sizeof(*c));
    c->cl = cl;
    c->fd = cl->sock;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(cl->sock, (struct sockaddr *)&ss, &len) == 0) {
        c->family = ss.ss_family;
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
            sockaddr_to_strings((struct sockaddr *)&ss, len, c->host, sizeof(c->host),
                                c->service, sizeof(c->service));
    }
    cl->clientData = c;
    cl->clientGoneHook = client_gone;
    c->next = vnc.clients;
    vnc.clients = c;
    vnc.nclients++;
    main_loop_set_fd_handler(c->fd, client_readable, NULL, NULL);
    if (!vnc.display_listener) {
        /* Render now so that ServerInit already has the guest's mode and
         * the first update its picture; no rfbProcessEvents meanwhile, we
         * are inside rfbNewClient. */
        vnc.in_new_client = true;
        vnc.display_listener = display_add_listener(&vnc_listener_ops, NULL);
        display_refresh_now();
        vnc.in_new_client = false;
    }
    return RFB_CLIENT_ACCEPT;
}

static void listen_readable(void *opaque)
{
    VncListenSock *l = opaque;
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (fd >= FD_SETSIZE) {
        /* libvncserver select()s on its clients: it cannot take this one. */
        warn_report("vnc: too many open files, connection refused");
        close(fd);
        return;
    }
    /* Frees everything itself (and closes fd) when it fails. */
    rfbNewClient(vnc.screen, fd);
    process_events();
}

/* ---- the display ---- */

/* x8r8g8b8 in a little-endian 32-bit word: blue is the low byte. */
static void set_server_format(rfbScreenInfoPtr s)
{
    s->depth = s->serverFormat.depth = 24;     /* 8 bits unused, as QEMU says */
    s->serverFormat.redShift = 16;
    s->serverFormat.greenShift = 8;
    s->serverFormat.blueShift = 0;
    s->serverFormat.redMax = s->serverFormat.greenMax = s->serverFormat.blueMax = 255;
}

static void use_surface(DisplaySurface *ds)
{
    rfbScreenInfoPtr s = vnc.screen;
    rfbNewFramebuffer(s, (char *)ds->data, ds->width, ds->height, 8, 3, 4);
    set_server_format(s);
    s->paddedWidthInBytes = ds->stride;
    /* rfbNewFramebuffer set up translation for its own idea of the format. */
    for (VncClient *c = vnc.clients; c; c = c->next)
        rfbSetTranslateFunction(c->cl);
}

static void dl_resize(void *opaque, DisplaySurface *ds)
{
    (void)opaque;
    use_surface(ds);
}

static void dl_update(void *opaque, int x, int y, int w, int h)
{
    (void)opaque;
    rfbMarkRectAsModified(vnc.screen, x, y, x + w, y + h);
}

static void dl_refresh_done(void *opaque)
{
    (void)opaque;
    if (!vnc.in_new_client)
        process_events();
}

static const DisplayListenerOps vnc_listener_ops = {
    .resize = dl_resize,
    .update = dl_update,
    .refresh_done = dl_refresh_done,
};

/* Be a display listener exactly while clients are connected: added by the
 * first client_new, removed here after the last client left. */
static void listener_update_bh(void *opaque)
{
    (void)opaque;
    if (vnc.nclients == 0 && vnc.display_listener) {
        display_remove_listener(vnc.display_listener);
        vnc.display_listener = NULL;
    }
}

/* ---- input ---- */

static void kbd_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
    VncClient *c = client_of(cl);
    unsigned key = keymap_keysym_to_keycode(keysym, NULL, NULL);
    if (!key || key >= VNC_KEY_BITS) {
        log_msg(LOG_UNIMP, "vnc: no key for keysym 0x%x\n", (unsigned)keysym);
        return;
    }
    if (c) {
        if (down)
            c->keys_down[key / 8] |= (uint8_t)(1u << (key % 8));
        else
            c->keys_down[key / 8] &= (uint8_t)~(1u << (key % 8));
    }
    input_key_event(key, down);
}

/* RFC 6143 7.5.5: buttons 1-3 are left, middle, right; 4 and 5 are the
 * wheel (up, down), pressed and released for each step. */
static unsigned rfb_buttons(int mask)
{
    return ((mask & 1) ? INPUT_BUTTON_LEFT : 0) | ((mask & 2) ? INPUT_BUTTON_MIDDLE : 0) |
           ((mask & 4) ? INPUT_BUTTON_RIGHT : 0);
}

static int scale_abs(int v, int size)
{
    if (size <= 1 || v <= 0)
        return 0;
    if (v >= size - 1)
        return INPUT_ABS_MAX;
    return (int)((int64_t)v * INPUT_ABS_MAX / (size - 1));
}

static void ptr_event(int mask, int x, int y, rfbClientPtr cl)
{
    (void)cl;
    static int last_mask;
    int pressed = mask & ~last_mask;
    int dz = ((pressed & 16) ? 1 : 0) - ((pressed & 8) ? 1 : 0);
    last_mask = mask;
    unsigned buttons = rfb_buttons(mask);
    rfbScreenInfoPtr s = vnc.screen;
    if (input_has_absolute()) {
        input_pointer_abs(scale_abs(x, s->width), scale_abs(y, s->height), dz, buttons);
    } else {
        int dx = vnc.have_last ? x - vnc.last_x : 0;
        int dy = vnc.have_last ? y - vnc.last_y : 0;
        if (dx || dy || dz || buttons != vnc.last_buttons)
            input_pointer_rel(dx, dy, dz, buttons);
    }
    vnc.last_x = x;
    vnc.last_y = y;
    vnc.have_last = true;
    vnc.last_buttons = buttons;
}

/* ---- authentication ---- */

static bool password_expired(void)
{
    return vnc.password_expiry && time(NULL) >= vnc.password_expiry;
}

/* VNC authentication (RFC 6143 7.2.2): the client DES-encrypts the 16-byte
 * challenge with the password; we do the same and compare.  With
 * password=on and no password set yet every login fails, as in QEMU. */
static rfbBool check_password(rfbClientPtr cl, const char *response, int len)
{
    VncClient *c = client_of(cl);
    bool ok = false;
    if (len == CHALLENGESIZE && vnc.password_set && !password_expired()) {
        unsigned char expect[CHALLENGESIZE];
        memcpy(expect, cl->authChallenge, CHALLENGESIZE);
        rfbEncryptBytes(expect, vnc.password);
        ok = memcmp(expect, response, CHALLENGESIZE) == 0;
    }
    if (!ok && c && c->family == AF_UNIX)
        warn_report("vnc: client on %s: authentication failed", vnc.unix_path);
    else if (!ok)
        warn_report("vnc: client %s:%s: authentication failed", c ? c->host : "?",
                    c ? c->service : "?");
    return ok;
}

int vnc_set_password(const char *password, char *err, size_t errlen)
{
    if (!vnc.screen || !vnc.password_on) {
        snprintf(err, errlen, "Could not set password");
        return -1;
    }
    /* VNC authentication uses the first 8 characters (the DES key). */
    snprintf(vnc.password, sizeof(vnc.password), "%s", password);
    vnc.password_set = true;
    return 0;
}

int vnc_expire_password(const char *when, char *err, size_t errlen)
{
    time_t now = time(NULL);
    uint64_t v;
    if (!strcmp(when, "never")) {
        vnc.password_expiry = 0;
    } else if (!strcmp(when, "now")) {
        vnc.password_expiry = now;
    } else if (when[0] == '+' && parse_uint(when + 1, &v) == 0 && v < (1ULL << 40)) {
        vnc.password_expiry = now + (time_t)v;
    } else if (parse_uint(when, &v) == 0 && v < (1ULL << 40)) {
        vnc.password_expiry = v ? (time_t)v : 1;
    } else {
        snprintf(err, errlen, "Parameter 'time' expects 'now', 'never', '+SECONDS' or SECONDS");
        return -1;
    }
    if (!vnc.screen || !vnc.password_on) {
        snprintf(err, errlen, "Could not set password expire time");
        return -1;
    }
    return 0;
}

/* ---- query-vnc ---- */

static const char *family_name(int family)
{
    return family == AF_INET6 ? "ipv6" : family == AF_UNIX ? "unix" : "ipv4";
}

static json_object *client_info(const VncClient *c)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "host", json_object_new_string(c->host));
    json_object_object_add(o, "service", json_object_new_string(c->service));
    json_object_object_add(o, "family", json_object_new_string(family_name(c->family)));
    json_object_object_add(o, "websocket", json_object_new_boolean(false));
    return o;
}

/* QEMU's VncInfo: the first listener's address and every client. */
struct json_object *vnc_query(void)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "enabled", json_object_new_boolean(vnc.screen != NULL));
    if (!vnc.screen)
        return o;
    const VncListenSock *l = vnc.nlisten ? &vnc.listen[0] : NULL;
    if (l) {
        bool is_unix = l->family == AF_UNIX;
        json_object_object_add(o, "host",
                               json_object_new_string(is_unix ? vnc.unix_path : l->host));
        json_object_object_add(o, "service", json_object_new_string(l->service));
        json_object_object_add(o, "family", json_object_new_string(family_name(l->family)));
    }
    json_object_object_add(o, "auth", json_object_new_string(vnc.password_on ? "vnc" : "none"));
    json_object *list = json_object_new_array();
    for (const VncClient *c = vnc.clients; c; c = c->next)
        json_object_array_add(list, client_info(c));
    json_object_object_add(o, "clients", list);
    return o;
}

/* Each listening socket as QEMU's VncServerInfo2 (for info vnc). */
struct json_object *vnc_query_servers(void)
{
    json_object *list = json_object_new_array();
    for (int i = 0; i < vnc.nlisten; i++) {
        const VncListenSock *l = &vnc.listen[i];
        json_object *o = json_object_new_object();
        bool is_unix = l->family == AF_UNIX;
        json_object_object_add(o, "host",
                               json_object_new_string(is_unix ? vnc.unix_path : l->host));
        json_object_object_add(o, "service", json_object_new_string(l->service));
        json_object_object_add(o, "family", json_object_new_string(family_name(l->family)));
        json_object_object_add(o, "auth",
                               json_object_new_string(vnc.password_on ? "vnc" : "none"));
        json_object_array_add(list, o);
    }
    return list;
}

/* ---- start ---- */

static void rfb_log_quiet(const char *fmt, ...)
{
    (void)fmt;
}

static rfbScreenInfoPtr create_screen(void)
{
    int argc = 0;
    DisplaySurface *ds = display_surface();
    rfbScreenInfoPtr s = rfbGetScreen(&argc, NULL, ds->width, ds->height, 8, 3, 4);
    if (!s)
        return NULL;
    /* As QEMU's "QEMU (NAME)" with -name. */
    const MachineConfig *m = pc_machine_config();
    static char desktop[300];
    if (m && m->name && *m->name)
        snprintf(desktop, sizeof(desktop), "vmm (%s)", m->name);
    else
        snprintf(desktop, sizeof(desktop), "vmm");
    s->desktopName = desktop;
    /* vmm owns the listening sockets. */
    s->port = s->ipv6port = 0;
    s->autoPort = FALSE;
    s->httpPort = s->http6Port = 0;
    s->alwaysShared = TRUE;         /* several viewers at once, as QEMU by default */
    s->deferUpdateTime = 0;         /* the refresh timer already batches */
    s->handleEventsEagerly = FALSE;
    s->cursor = NULL;               /* never draw a cursor into the guest's image */
    s->kbdAddEvent = kbd_event;
    s->ptrAddEvent = ptr_event;
    s->newClientHook = client_new;
    if (vnc.password_on) {
        /* Non-NULL authPasswdData makes libvncserver offer VNC auth. */
        s->authPasswdData = &vnc;
        s->passwordCheck = check_password;
    }
    s->frameBuffer = (char *)ds->data;
    rfbInitServer(s);
    vnc.screen = s;
    use_surface(ds);
    return s;
}

int vnc_start(void)
{
    if (!vnc.configured || vnc.screen)
        return 0;
    rfbLog = rfb_log_quiet;
    rfbErr = rfb_log_quiet;
    rfbMaxClientWait = VNC_MAX_CLIENT_WAIT_MS;
    vnc.listener_bh = bh_new(listener_update_bh, NULL);
    if ((vnc.unix_path ? listen_unix() : listen_tcp()) < 0)
        return -1;
    if (!create_screen()) {
        error_report("-vnc %s: cannot create the VNC server", vnc.spec);
        return -1;
    }
    for (int i = 0; i < vnc.nlisten; i++)
        main_loop_set_fd_handler(vnc.listen[i].fd, listen_readable, NULL, &vnc.listen[i]);
    return 0;
}
