/*
 * Unit tests for ui/vnc.c: -vnc parsing and its error messages, and the
 * server itself in-process on a unix socket: an RFB 3.8 client written
 * here from RFC 6143 (raw sockets) runs in a thread while the test's main
 * thread runs vmm's main loop.  Covers ServerInit (size, pixel format,
 * name), a raw framebuffer update against the surface's pixels, key and
 * pointer events reaching the input layer, reconnecting, a garbage client
 * next to a good one, and VNC authentication (no password yet, wrong,
 * right).  Check forks each test, so each gets a fresh server.
 */
#include <errno.h>
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <rfb/rfbproto.h>

#include "ui.h"
#include "util.h"
#include "unit.h"

/* ---- parsing ---- */

/* Run vnc_parse with stderr captured; returns its result, message in msg. */
static int parse_capture(const char *spec, char *msg, size_t len)
{
    char path[] = "/tmp/vmm-test-vnc-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    int r = vnc_parse(spec);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, msg, len - 1, 0);
    msg[n > 0 ? n : 0] = '\0';
    char *nl = strchr(msg, '\n');
    if (nl)
        *nl = '\0';
    close(fd);
    unlink(path);
    return r;
}

static void expect_parse_ok(const char *spec)
{
    char msg[256];
    ck_assert_msg(parse_capture(spec, msg, sizeof(msg)) == 0, "-vnc %s refused: %s", spec, msg);
}

static void expect_parse_error(const char *spec, const char *want)
{
    char msg[256];
    ck_assert_msg(parse_capture(spec, msg, sizeof(msg)) == -1, "-vnc %s accepted", spec);
    ck_assert_msg(!strcmp(msg, want), "-vnc %s: message '%s', want '%s'", spec, msg, want);
}

START_TEST(parse_good)
{
    expect_parse_ok(":0");
    expect_parse_ok(":1");
    expect_parse_ok(":59635");
    expect_parse_ok("127.0.0.1:5");
    expect_parse_ok("localhost:7");
    expect_parse_ok("[::1]:3");
    expect_parse_ok("unix:/tmp/vnc.sock");
    expect_parse_ok("none");
    expect_parse_ok(":1,password=on");
    expect_parse_ok(":1,password");
    expect_parse_ok(":1,password=off");
    expect_parse_ok(":1,to=9");
    expect_parse_ok(":1,share=force-shared");
}
END_TEST

START_TEST(parse_errors)
{
    expect_parse_error(":1,foo=bar", "vmm: -vnc :1,foo=bar: unknown option 'foo'");
    expect_parse_error("5", "vmm: -vnc 5: expected :N, HOST:N, unix:PATH or none");
    expect_parse_error("", "vmm: -vnc : expected :N, HOST:N, unix:PATH or none");
    expect_parse_error(":x", "vmm: -vnc :x: invalid display number 'x' (0 to 59635)");
    expect_parse_error(":59636", "vmm: -vnc :59636: invalid display number '59636' (0 to 59635)");
    expect_parse_error(":-1", "vmm: -vnc :-1: invalid display number '-1' (0 to 59635)");
    expect_parse_error(":", "vmm: -vnc :: invalid display number '' (0 to 59635)");
    expect_parse_error("unix:", "vmm: -vnc unix:: invalid unix socket path");
    expect_parse_error(":1,password=maybe",
                       "vmm: -vnc :1,password=maybe: invalid value 'maybe' for 'password' (on/off)");
    expect_parse_error(":1,to=x", "vmm: -vnc :1,to=x: invalid display number 'x' (0 to 59635)");
    expect_parse_error(":1,share=no",
                       "vmm: -vnc :1,share=no: invalid value 'no' for 'share' "
                       "(allow-exclusive, force-shared, ignore)");
}
END_TEST

/* ---- an in-process server and a raw RFB client ---- */

static char sock_path[108];
static atomic_int keys_seen[KEY_MAX + 1];   /* +1 per press, +100 per release */
static atomic_int rel_dx, rel_events, rel_buttons;

static void on_key(void *opaque, unsigned keycode, bool down)
{
    if (keycode <= KEY_MAX)
        atomic_fetch_add(&keys_seen[keycode], down ? 1 : 100);
}

static void on_rel(void *opaque, int dx, int dy, int dz, unsigned buttons)
{
    atomic_fetch_add(&rel_dx, dx);
    atomic_fetch_add(&rel_events, 1);
    atomic_store(&rel_buttons, (int)buttons);
}

static const InputHandler test_kbd = { .name = "test-kbd", .kinds = INPUT_KIND_KEY, .key = on_key };
static const InputHandler test_mouse = { .name = "test-mouse", .kinds = INPUT_KIND_REL,
                                         .rel = on_rel };

static uint32_t pattern(int x, int y)
{
    return (uint32_t)((x * 7) & 0xff) << 16 | (uint32_t)((y * 3) & 0xff) << 8 | 0x5a;
}

/* Start the server on a fresh unix socket with a patterned surface. */
static void start_server(const char *opts)
{
    ck_assert_int_eq(main_loop_init(), 0);
    snprintf(sock_path, sizeof(sock_path), "/tmp/vmm-test-vnc-%d.sock", (int)getpid());
    char *spec = xasprintf("unix:%s%s", sock_path, opts);
    ck_assert_int_eq(vnc_parse(spec), 0);
    free(spec);
    DisplaySurface *s = display_surface();
    for (int y = 0; y < s->height; y++)
        for (int x = 0; x < s->width; x++)
            s->data[y * s->stride / 4 + x] = pattern(x, y);
    input_register_handler(&test_kbd);
    input_register_handler(&test_mouse);
    ck_assert_int_eq(vnc_start(), 0);
    ck_assert(vnc_enabled());
}

static int client_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int rx(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int tx(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* A failure inside the client thread: recorded, reported by the test. */
static char client_error[256];

#define CLIENT_CHECK(cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            if (!client_error[0])                                              \
                snprintf(client_error, sizeof(client_error), __VA_ARGS__);     \
            return -1;                                                         \
        }                                                                      \
    } while (0)

/* Version exchange and the security type list (RFC 6143 7.1.1, 7.1.2). */
static int handshake_security(int fd, uint8_t want_type)
{
    char ver[13] = { 0 };
    CLIENT_CHECK(rx(fd, ver, 12) == 0, "no ProtocolVersion");
    CLIENT_CHECK(!strcmp(ver, "RFB 003.008\n"), "server version '%s'", ver);
    CLIENT_CHECK(tx(fd, "RFB 003.008\n", 12) == 0, "send version");
    uint8_t n, types[32];
    CLIENT_CHECK(rx(fd, &n, 1) == 0 && n > 0 && n < 32, "security type count %u", n);
    CLIENT_CHECK(rx(fd, types, n) == 0, "security types");
    CLIENT_CHECK(memchr(types, want_type, n) != NULL, "security type %u not offered (first %u)",
                 want_type, types[0]);
    CLIENT_CHECK(tx(fd, &want_type, 1) == 0, "send security type");
    return 0;
}

/* SecurityResult (7.1.3): 0 ok; on failure a reason string follows. */
static int security_result(int fd, uint32_t *result)
{
    uint8_t r[4];
    CLIENT_CHECK(rx(fd, r, 4) == 0, "no SecurityResult");
    *result = (uint32_t)r[0] << 24 | r[1] << 16 | r[2] << 8 | r[3];
    return 0;
}

/* ClientInit (shared) and ServerInit (7.3). */
static int client_init(int fd, int *w, int *h)
{
    uint8_t shared = 1, si[24];
    CLIENT_CHECK(tx(fd, &shared, 1) == 0, "send ClientInit");
    CLIENT_CHECK(rx(fd, si, 24) == 0, "no ServerInit");
    *w = si[0] << 8 | si[1];
    *h = si[2] << 8 | si[3];
    const uint8_t *pf = si + 4;
    CLIENT_CHECK(pf[0] == 32 && pf[1] == 24 && pf[3] != 0, "pixel format bpp %u depth %u tc %u",
                 pf[0], pf[1], pf[3]);
    CLIENT_CHECK(pf[10] == 16 && pf[11] == 8 && pf[12] == 0, "shifts %u %u %u", pf[10], pf[11],
                 pf[12]);
    uint32_t nlen = (uint32_t)si[20] << 24 | si[21] << 16 | si[22] << 8 | si[23];
    char name[64] = { 0 };
    CLIENT_CHECK(nlen < sizeof(name) && rx(fd, name, nlen) == 0, "name length %u", nlen);
    CLIENT_CHECK(!strcmp(name, "vmm"), "desktop name '%s'", name);
    return 0;
}

static int open_session(int *w, int *h)
{
    int fd = client_connect();
    uint32_t result;
    CLIENT_CHECK(fd >= 0, "connect: %s", strerror(errno));
    if (handshake_security(fd, rfbNoAuth) < 0 || security_result(fd, &result) < 0 ||
        client_init(fd, w, h) < 0) {
        close(fd);
        return -1;
    }
    if (result != 0) {
        close(fd);
        CLIENT_CHECK(false, "SecurityResult %u without auth", result);
    }
    return fd;
}

/* A full, non-incremental update in raw encoding (the default without
 * SetEncodings), compared pixel by pixel with the pattern (server format:
 * little-endian x8r8g8b8, as ServerInit said). */
static int check_full_update(int fd, int w, int h)
{
    uint8_t req[10] = { rfbFramebufferUpdateRequest, 0, 0, 0, 0, 0,
                        (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h };
    CLIENT_CHECK(tx(fd, req, sizeof(req)) == 0, "send update request");
    uint8_t hdr[4];
    CLIENT_CHECK(rx(fd, hdr, 4) == 0 && hdr[0] == rfbFramebufferUpdate, "no update (type %u)",
                 hdr[0]);
    int nrects = hdr[2] << 8 | hdr[3], covered = 0;
    uint32_t *pix = xmalloc((size_t)w * h * 4);
    for (int i = 0; i < nrects; i++) {
        uint8_t r[12];
        CLIENT_CHECK(rx(fd, r, 12) == 0, "rect header");
        int rx0 = r[0] << 8 | r[1], ry0 = r[2] << 8 | r[3], rw = r[4] << 8 | r[5],
            rh = r[6] << 8 | r[7];
        int32_t enc = (int32_t)((uint32_t)r[8] << 24 | r[9] << 16 | r[10] << 8 | r[11]);
        CLIENT_CHECK(enc == rfbEncodingRaw, "encoding %d", enc);
        CLIENT_CHECK(rx0 + rw <= w && ry0 + rh <= h, "rect out of the screen");
        for (int y = ry0; y < ry0 + rh; y++)
            CLIENT_CHECK(rx(fd, pix + y * w + rx0, (size_t)rw * 4) == 0, "rect data");
        covered += rw * rh;
    }
    CLIENT_CHECK(covered == w * h, "update covers %d of %d pixels", covered, w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            CLIENT_CHECK(pix[y * w + x] == pattern(x, y), "pixel (%d,%d) = %08x, want %08x", x, y,
                         pix[y * w + x], pattern(x, y));
    free(pix);
    return 0;
}

static int send_key(int fd, bool down, uint32_t keysym)
{
    uint8_t m[8] = { rfbKeyEvent, down, 0, 0, (uint8_t)(keysym >> 24), (uint8_t)(keysym >> 16),
                     (uint8_t)(keysym >> 8), (uint8_t)keysym };
    return tx(fd, m, sizeof(m));
}

static int send_pointer(int fd, uint8_t mask, int x, int y)
{
    uint8_t m[6] = { rfbPointerEvent, mask, (uint8_t)(x >> 8), (uint8_t)x, (uint8_t)(y >> 8),
                     (uint8_t)y };
    return tx(fd, m, sizeof(m));
}

/* Wait (up to 5 s) for the main loop to deliver what the client sent. */
static bool wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 500; i++) {
        if (atomic_load(v) == want)
            return true;
        usleep(10000);
    }
    return false;
}

/* The client side of a test; returns 0 or -1 with client_error set. */
typedef int ClientFn(void);

static void *client_thread(void *opaque)
{
    ClientFn *fn = (ClientFn *)opaque;
    int r = fn();
    main_loop_quit(r == 0 ? 0 : 1);
    return NULL;
}

static void run_with_client(ClientFn *fn)
{
    pthread_t t;
    client_error[0] = '\0';
    pthread_create(&t, NULL, client_thread, (void *)fn);
    int status = main_loop_run();
    pthread_join(t, NULL);
    unlink(sock_path);
    ck_assert_msg(status == 0, "client: %s", client_error);
}

static int session_client(void)
{
    int w, h;
    int fd = open_session(&w, &h);
    if (fd < 0)
        return -1;
    CLIENT_CHECK(w == 640 && h == 480, "ServerInit %dx%d, want 640x480", w, h);
    if (check_full_update(fd, w, h) < 0)
        return -1;
    CLIENT_CHECK(send_key(fd, true, 'a') == 0 && send_key(fd, false, 'a') == 0, "send key");
    CLIENT_CHECK(wait_for(&keys_seen[KEY_A], 101), "KEY_A press+release not seen (%d)",
                 atomic_load(&keys_seen[KEY_A]));
    CLIENT_CHECK(send_key(fd, true, 0xff0d) == 0, "send Return");
    CLIENT_CHECK(wait_for(&keys_seen[KEY_ENTER], 1), "KEY_ENTER not seen");
    /* First position, then 10 pixels right with the left button. */
    CLIENT_CHECK(send_pointer(fd, 0, 100, 100) == 0 && send_pointer(fd, 1, 110, 100) == 0,
                 "send pointer");
    CLIENT_CHECK(wait_for(&rel_dx, 10), "relative dx %d, want 10", atomic_load(&rel_dx));
    CLIENT_CHECK(atomic_load(&rel_buttons) == INPUT_BUTTON_LEFT, "buttons %d",
                 atomic_load(&rel_buttons));
    /* Leaving with Return held releases it. */
    close(fd);
    CLIENT_CHECK(wait_for(&keys_seen[KEY_ENTER], 101), "held key not released on disconnect");
    /* Reconnect: a new session works the same. */
    fd = open_session(&w, &h);
    if (fd < 0)
        return -1;
    int r = check_full_update(fd, w, h);
    close(fd);
    return r;
}

START_TEST(session_unix)
{
    start_server("");
    run_with_client(session_client);
}
END_TEST

static int garbage_client(void)
{
    int w, h;
    int good = open_session(&w, &h);
    if (good < 0)
        return -1;
    int bad = open_session(&w, &h);
    if (bad < 0)
        return -1;
    /* An unknown message type: the server drops that client only. */
    uint8_t junk[16];
    memset(junk, 0xee, sizeof(junk));
    CLIENT_CHECK(tx(bad, junk, sizeof(junk)) == 0, "send garbage");
    uint8_t b;
    CLIENT_CHECK(recv(bad, &b, 1, 0) <= 0, "server kept the garbage client");
    close(bad);
    /* A client that leaves in the middle of the handshake. */
    int half = client_connect();
    CLIENT_CHECK(half >= 0, "connect");
    CLIENT_CHECK(tx(half, "RFB 003", 7) == 0, "send half version");
    close(half);
    int r = check_full_update(good, w, h);
    close(good);
    return r;
}

START_TEST(garbage_client_dropped)
{
    start_server("");
    run_with_client(garbage_client);
}
END_TEST

/* VNC authentication (7.2.2): the 16-byte challenge DES-encrypted with the
 * password; rfbEncryptBytes is libvncserver's implementation of it. */
static int try_password(const char *password, uint32_t *result)
{
    int fd = client_connect();
    CLIENT_CHECK(fd >= 0, "connect: %s", strerror(errno));
    if (handshake_security(fd, rfbVncAuth) < 0)
        return -1;
    unsigned char challenge[CHALLENGESIZE];
    CLIENT_CHECK(rx(fd, challenge, sizeof(challenge)) == 0, "no challenge");
    char pw[9];
    snprintf(pw, sizeof(pw), "%s", password);
    rfbEncryptBytes(challenge, pw);
    CLIENT_CHECK(tx(fd, challenge, sizeof(challenge)) == 0, "send response");
    if (security_result(fd, result) < 0)
        return -1;
    if (*result == 0) {
        int w, h;
        int r = client_init(fd, &w, &h);
        close(fd);
        return r;
    }
    uint8_t len[4];
    CLIENT_CHECK(rx(fd, len, 4) == 0, "no failure reason");
    close(fd);
    return 0;
}

static int password_client(void)
{
    uint32_t result;
    if (try_password("secret", &result) < 0)
        return -1;
    CLIENT_CHECK(result == 1, "login without a password set: result %u", result);
    char err[128];
    CLIENT_CHECK(vnc_set_password("secret", err, sizeof(err)) == 0, "set password: %s", err);
    if (try_password("wrong", &result) < 0)
        return -1;
    CLIENT_CHECK(result == 1, "wrong password: result %u", result);
    if (try_password("secret", &result) < 0)
        return -1;
    CLIENT_CHECK(result == 0, "right password: result %u", result);
    CLIENT_CHECK(vnc_expire_password("now", err, sizeof(err)) == 0, "expire: %s", err);
    if (try_password("secret", &result) < 0)
        return -1;
    CLIENT_CHECK(result == 1, "expired password: result %u", result);
    return 0;
}

START_TEST(password_auth)
{
    start_server(",password=on");
    run_with_client(password_client);
}
END_TEST

/* DesktopSize (RFC 6143 7.8.2): a mode change while connected reaches a
 * client that announced the pseudo-encoding. */
static void resize_bh(void *opaque)
{
    display_resize(800, 600);
    display_dirty(0, 0, 800, 600);
}

static int resize_client(void)
{
    int w, h;
    int fd = open_session(&w, &h);
    if (fd < 0)
        return -1;
    uint8_t enc[12] = { rfbSetEncodings, 0, 0, 2, 0, 0, 0, 0 /* raw */ };
    int32_t ds = (int32_t)rfbEncodingNewFBSize;
    enc[8] = (uint8_t)(ds >> 24), enc[9] = (uint8_t)(ds >> 16), enc[10] = (uint8_t)(ds >> 8),
    enc[11] = (uint8_t)ds;
    CLIENT_CHECK(tx(fd, enc, sizeof(enc)) == 0, "send SetEncodings");
    if (check_full_update(fd, w, h) < 0)
        return -1;
    bh_schedule(bh_new(resize_bh, NULL));
    /* Incremental requests until the DesktopSize rectangle arrives. */
    for (int tries = 0; tries < 50; tries++) {
        uint8_t req[10] = { rfbFramebufferUpdateRequest, 1, 0, 0, 0, 0,
                            (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h };
        CLIENT_CHECK(tx(fd, req, sizeof(req)) == 0, "send update request");
        uint8_t hdr[4];
        CLIENT_CHECK(rx(fd, hdr, 4) == 0 && hdr[0] == rfbFramebufferUpdate, "no update");
        int nrects = hdr[2] << 8 | hdr[3];
        for (int i = 0; i < nrects; i++) {
            uint8_t r[12];
            CLIENT_CHECK(rx(fd, r, 12) == 0, "rect header");
            int rw = r[4] << 8 | r[5], rh = r[6] << 8 | r[7];
            int32_t e = (int32_t)((uint32_t)r[8] << 24 | r[9] << 16 | r[10] << 8 | r[11]);
            if (e == (int32_t)rfbEncodingNewFBSize) {
                CLIENT_CHECK(rw == 800 && rh == 600, "DesktopSize %dx%d, want 800x600", rw, rh);
                close(fd);
                return 0;
            }
            CLIENT_CHECK(e == rfbEncodingRaw, "encoding %d", e);
            void *skip = xmalloc((size_t)rw * rh * 4);
            int ok = rx(fd, skip, (size_t)rw * rh * 4);
            free(skip);
            CLIENT_CHECK(ok == 0, "rect data");
        }
    }
    close(fd);
    CLIENT_CHECK(false, "no DesktopSize after the resize");
}

START_TEST(desktop_size_on_resize)
{
    start_server("");
    run_with_client(resize_client);
}
END_TEST

START_TEST(password_needs_password_on)
{
    start_server("");
    char err[128];
    ck_assert_int_eq(vnc_set_password("x", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "Could not set password");
    unlink(sock_path);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("vnc");
    UNIT_TEST(s, parse_good);
    UNIT_TEST(s, parse_errors);
    UNIT_TEST(s, session_unix);
    UNIT_TEST(s, garbage_client_dropped);
    UNIT_TEST(s, password_auth);
    UNIT_TEST(s, desktop_size_on_resize);
    UNIT_TEST(s, password_needs_password_on);
    return unit_run(s);
}
