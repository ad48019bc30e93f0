/*
 * Chardev backends: null, file, stdio (pipes and a regular file as stdin,
 * the Ctrl-A multiplexer), pty, unix and tcp sockets in client and server
 * mode, input flow control, and the errors of malformed specs.
 *
 * main_loop_run() can run once per process, and Check forks every test, so
 * a test that needs the loop describes itself as a list of steps: each step
 * is polled every millisecond until it returns true, then the next starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "chardev.h"
#include "util.h"
#include "unit.h"

/* ---- a frontend that records what it gets, with a byte budget ---- */

static uint8_t rx[1 << 16];
static size_t rx_len;
static size_t budget = SIZE_MAX;

static size_t fe_can_read(void *opaque)
{
    return MIN(budget, sizeof(rx) - rx_len);
}

static void fe_read(void *opaque, const uint8_t *buf, size_t len)
{
    ck_assert_uint_le(len, fe_can_read(opaque));
    memcpy(rx + rx_len, buf, len);
    rx_len += len;
    if (budget != SIZE_MAX)
        budget -= len;
}

static const ChardevHandlers fe = { fe_can_read, fe_read, NULL };

static bool rx_is(const char *s)
{
    return rx_len == strlen(s) && !memcmp(rx, s, rx_len);
}

/* ---- step runner (steps.h) ---- */
#include "steps.h"

/* A step that lets the loop run for ~50 ms. */
static bool step_idle(void)
{
    static int ticks;
    if (++ticks < 50)
        return false;
    ticks = 0;
    return true;
}

/* ---- shared fixtures ---- */

static Chardev *chr;
static int client = -1;
static char sock_path[108];
static char tmpdir[64];

static void setup(void)
{
    ck_assert_int_eq(main_loop_init(), 0);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-chardev.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(sock_path, sizeof(sock_path), "%s/sock", tmpdir);
    rx_len = 0;
    budget = SIZE_MAX;
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static int unix_client_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

static int tcp_client_connect(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* A port nobody listens on: bind port 0, read it back, close. */
static int free_tcp_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static void send_str(int fd, const char *s)
{
    ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Non-blocking: collects what arrived on fd until it equals want. */
static char peer_rx[4096];
static size_t peer_rx_len;

static bool peer_received(int fd, const char *want)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    if (poll(&pfd, 1, 0) > 0) {
        ssize_t n = read(fd, peer_rx + peer_rx_len, sizeof(peer_rx) - 1 - peer_rx_len);
        if (n > 0)
            peer_rx_len += n;
    }
    peer_rx[peer_rx_len] = '\0';
    if (strcmp(peer_rx, want))
        return false;
    peer_rx_len = 0;
    return true;
}

/* Redirect stderr to a file for the error-message tests. */
static char *capture_stderr(void (*fn)(void))
{
    char path[128];
    snprintf(path, sizeof(path), "%s/stderr", tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    size_t len;
    char *text = (char *)read_file(path, &len);
    ck_assert_ptr_nonnull(text);
    text = xrealloc(text, len + 1);
    text[len] = '\0';
    return text;
}

/* ---- the mux escape state machine ---- */

static void mux_feed(const char *in, size_t len, char *passed, ChardevMuxAction *last)
{
    bool pending = false;
    size_t n = 0;
    *last = CHARDEV_MUX_CONSUMED;
    for (size_t i = 0; i < len; i++) {
        ChardevMuxAction a = chardev_mux_escape(&pending, (uint8_t)in[i]);
        if (a == CHARDEV_MUX_PASS)
            passed[n++] = in[i];
        else if (a != CHARDEV_MUX_CONSUMED)
            *last = a;
    }
    passed[n] = '\0';
}

START_TEST(mux_plain_bytes_pass)
{
    char out[16];
    ChardevMuxAction last;
    mux_feed("abc\r\n", 5, out, &last);
    ck_assert_str_eq(out, "abc\r\n");
    ck_assert_int_eq(last, CHARDEV_MUX_CONSUMED);
}
END_TEST

START_TEST(mux_ctrl_a_ctrl_a_passes_one)
{
    char out[16];
    ChardevMuxAction last;
    mux_feed("a\x01\x01z", 4, out, &last);
    ck_assert_str_eq(out, "a\x01z");
}
END_TEST

START_TEST(mux_commands)
{
    bool pending = false;
    ck_assert_int_eq(chardev_mux_escape(&pending, 0x01), CHARDEV_MUX_CONSUMED);
    ck_assert(pending);
    ck_assert_int_eq(chardev_mux_escape(&pending, 'x'), CHARDEV_MUX_QUIT);
    ck_assert(!pending);
    chardev_mux_escape(&pending, 0x01);
    ck_assert_int_eq(chardev_mux_escape(&pending, 'h'), CHARDEV_MUX_HELP);
    chardev_mux_escape(&pending, 0x01);
    ck_assert_int_eq(chardev_mux_escape(&pending, '?'), CHARDEV_MUX_HELP);
    chardev_mux_escape(&pending, 0x01);
    ck_assert_int_eq(chardev_mux_escape(&pending, 'c'), CHARDEV_MUX_FOCUS);
    /* An unknown command is swallowed, the next byte is ordinary again. */
    chardev_mux_escape(&pending, 0x01);
    ck_assert_int_eq(chardev_mux_escape(&pending, 'q'), CHARDEV_MUX_CONSUMED);
    ck_assert_int_eq(chardev_mux_escape(&pending, 'x'), CHARDEV_MUX_PASS);
}
END_TEST

/* ---- null and file ---- */

START_TEST(null_swallows)
{
    Chardev *c = chardev_open("null", "serial0");
    ck_assert_ptr_nonnull(c);
    chardev_set_handlers(c, &fe);
    chardev_write(c, (const uint8_t *)"xyz", 3);
    ck_assert_str_eq(chardev_filename(c), "null");
    ck_assert_str_eq(chardev_label(c), "serial0");
    ck_assert(chardev_connected(c));
    chardev_close(c);
}
END_TEST

static char *file_contents(const char *path)
{
    size_t len;
    char *text = (char *)read_file(path, &len);
    ck_assert_ptr_nonnull(text);
    text = xrealloc(text, len + 1);
    text[len] = '\0';
    return text;
}

START_TEST(file_writes_truncates_appends)
{
    char spec[160], path[128];
    snprintf(path, sizeof(path), "%s/out.txt", tmpdir);
    snprintf(spec, sizeof(spec), "file:%s", path);
    Chardev *c = chardev_open(spec, "serial0");
    ck_assert_ptr_nonnull(c);
    chardev_write(c, (const uint8_t *)"hello\n", 6);
    chardev_close(c);
    char *t = file_contents(path);
    ck_assert_str_eq(t, "hello\n");
    free(t);

    snprintf(spec, sizeof(spec), "file:%s,append=on", path);
    c = chardev_open(spec, "serial0");
    ck_assert_ptr_nonnull(c);
    chardev_write(c, (const uint8_t *)"more", 4);
    chardev_close(c);
    t = file_contents(path);
    ck_assert_str_eq(t, "hello\nmore");
    free(t);

    snprintf(spec, sizeof(spec), "file:%s", path);
    c = chardev_open(spec, "serial0");
    chardev_write(c, (const uint8_t *)"new", 3);
    chardev_close(c);
    t = file_contents(path);
    ck_assert_str_eq(t, "new");
    free(t);
}
END_TEST

/* ---- bad specs ---- */

static void open_bad_specs(void)
{
    static const char *bad[] = {
        "tcp:", "tcp:host", "tcp:127.0.0.1:", "unix:", "bogus:x", "file:",
        "file:/nonexistent-dir/x", "unix:/nonexistent-dir/sock",
        "tcp:127.0.0.1:1234,server=on,color=red", "unix:/x,wait=off",
        "tcp:127.0.0.1:1234,server=maybe", "file", "pty,server",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        ck_assert_msg(chardev_open(bad[i], "serial0") == NULL, "%s opened", bad[i]);
}

START_TEST(bad_specs_fail_with_one_line_each)
{
    char *err = capture_stderr(open_bad_specs);
    int lines = 0;
    for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n")) {
        ck_assert_msg(!strncmp(line, "vmm: -serial ", 13), "bad line: %s", line);
        lines++;
    }
    ck_assert_int_eq(lines, 13);
    free(err);
}
END_TEST

static void open_missing_socket(void)
{
    ck_assert_ptr_null(chardev_open("unix:/nonexistent-dir/s", "serial0"));
}

START_TEST(unix_connect_failure_message)
{
    char *err = capture_stderr(open_missing_socket);
    ck_assert_str_eq(err, "vmm: -serial unix:/nonexistent-dir/s: Failed to connect to "
                     "'/nonexistent-dir/s': No such file or directory\n");
    free(err);
}
END_TEST

/* ---- unix server, wait=off: both directions, flow control, reconnect ---- */

static bool s_connect_client(void)
{
    client = unix_client_connect(sock_path);
    return true;
}

static bool s_wait_connected(void)
{
    return chardev_connected(chr);
}

static bool s_wait_disconnected(void)
{
    return !chardev_connected(chr);
}

static bool s_client_sends_hello(void)
{
    send_str(client, "hello");
    return true;
}

static bool s_rx_hello(void)
{
    return rx_is("hello");
}

static bool s_write_world(void)
{
    chardev_write(chr, (const uint8_t *)"world", 5);
    return true;
}

static bool s_client_got_world(void)
{
    return peer_received(client, "world");
}

static bool s_block_then_send(void)
{
    rx_len = 0;
    budget = 0;
    send_str(client, "abcdef");
    return true;
}

static bool s_nothing_delivered(void)
{
    ck_assert_uint_eq(rx_len, 0);
    return true;
}

/* Two bytes at a time: each accept_input lets exactly two more through. */
static bool s_trickle(void)
{
    if (budget == 0 && rx_len < 6) {
        budget = 2;
        chardev_accept_input(chr);
    }
    return rx_is("abcdef");
}

static bool s_unblock(void)
{
    budget = SIZE_MAX;
    return true;
}

static bool s_client_closes(void)
{
    close(client);
    client = -1;
    return true;
}

static bool s_write_while_disconnected(void)
{
    chardev_write(chr, (const uint8_t *)"lost", 4);
    rx_len = 0;
    return true;
}

START_TEST(unix_server_nowait)
{
    char spec[160];
    snprintf(spec, sizeof(spec), "unix:%s,server=on,wait=off", sock_path);
    chr = chardev_open(spec, "serial0");
    ck_assert_ptr_nonnull(chr);
    chardev_set_handlers(chr, &fe);
    ck_assert(!chardev_connected(chr));
    char want[200];
    snprintf(want, sizeof(want), "disconnected:unix:%s,server=on", sock_path);
    ck_assert_str_eq(chardev_filename(chr), want);
    RUN_STEPS(s_connect_client, s_wait_connected, s_client_sends_hello, s_rx_hello,
              s_write_world, s_client_got_world,
              s_block_then_send, step_idle, s_nothing_delivered, s_trickle, s_unblock,
              s_client_closes, s_wait_disconnected, s_write_while_disconnected,
              s_connect_client, s_wait_connected, s_client_sends_hello, s_rx_hello,
              s_write_world, s_client_got_world);
    ck_assert_str_eq(chardev_filename(chr), want + strlen("disconnected:"));
    chardev_close(chr);
    /* The server's socket file goes away with it. */
    ck_assert_int_ne(access(sock_path, F_OK), 0);
}
END_TEST

/* ---- unix client mode ---- */

static int listener = -1;

static bool s_peer_accepts(void)
{
    client = accept(listener, NULL, NULL);
    ck_assert_int_ge(client, 0);
    return true;
}

START_TEST(unix_client_mode)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strcpy(sun.sun_path, sock_path);
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(listener, 1), 0);
    char spec[160];
    snprintf(spec, sizeof(spec), "unix:%s", sock_path);
    chr = chardev_open(spec, "qtest");
    ck_assert_ptr_nonnull(chr);
    ck_assert(chardev_connected(chr));
    chardev_set_handlers(chr, &fe);
    RUN_STEPS(s_peer_accepts, s_client_sends_hello, s_rx_hello, s_write_world,
              s_client_got_world, s_client_closes, s_wait_disconnected);
    char want[200];
    snprintf(want, sizeof(want), "disconnected:unix:%s", sock_path);
    ck_assert_str_eq(chardev_filename(chr), want);
    chardev_close(chr);
    close(listener);
}
END_TEST

/* ---- tcp ---- */

static int tcp_port;

static bool s_tcp_connect(void)
{
    client = tcp_client_connect(tcp_port);
    return true;
}

START_TEST(tcp_server_legacy_flags)
{
    tcp_port = free_tcp_port();
    char spec[160], want[160];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d,server,nowait,nodelay", tcp_port);
    chr = chardev_open(spec, "serial0");
    ck_assert_ptr_nonnull(chr);
    chardev_set_handlers(chr, &fe);
    snprintf(want, sizeof(want), "disconnected:tcp:127.0.0.1:%d,server=on", tcp_port);
    ck_assert_str_eq(chardev_filename(chr), want);
    RUN_STEPS(s_tcp_connect, s_wait_connected, s_client_sends_hello, s_rx_hello,
              s_write_world, s_client_got_world, s_client_closes,
              s_wait_disconnected, s_tcp_connect, s_wait_connected);
    snprintf(want, sizeof(want), "tcp:127.0.0.1:%d,server=on <-> 127.0.0.1:", tcp_port);
    ck_assert_msg(!strncmp(chardev_filename(chr), want, strlen(want)), "%s",
                  chardev_filename(chr));
    chardev_close(chr);
    close(client);
}
END_TEST

/* wait=on (the default for servers) blocks in chardev_open until a client. */
START_TEST(tcp_server_waits_for_client)
{
    tcp_port = free_tcp_port();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = -1;
        for (int i = 0; i < 200 && fd < 0; i++) {
            usleep(10000);
            fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(tcp_port),
                                       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
            if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
                close(fd);
                fd = -1;
            }
        }
        char buf[2];
        _exit(fd >= 0 && write(fd, "hello", 5) == 5 && read(fd, buf, 2) == 2 &&
              !memcmp(buf, "hi", 2) ? 0 : 1);
    }
    char spec[160];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d,server=on", tcp_port);
    chr = chardev_open(spec, "serial0");
    ck_assert_ptr_nonnull(chr);
    ck_assert(chardev_connected(chr));
    chardev_set_handlers(chr, &fe);
    chardev_write(chr, (const uint8_t *)"hi", 2);
    RUN_STEPS(s_rx_hello);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    chardev_close(chr);
}
END_TEST

START_TEST(tcp_client_mode)
{
    tcp_port = free_tcp_port();
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(tcp_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    listener = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(listener, 1), 0);
    char spec[160];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", tcp_port);
    chr = chardev_open(spec, "serial1");
    ck_assert_ptr_nonnull(chr);
    chardev_set_handlers(chr, &fe);
    RUN_STEPS(s_peer_accepts, s_client_sends_hello, s_rx_hello, s_write_world,
              s_client_got_world);
    chardev_close(chr);
    close(listener);
    close(client);
    /* Nobody listens any more: a clean error, no chardev. */
    ck_assert_ptr_null(chardev_open(spec, "serial1"));
}
END_TEST

static char refused_spec[64];
static void open_refused_tcp(void)
{
    ck_assert_ptr_null(chardev_open(refused_spec, "serial0"));
}

/* The reason printed is the connect error, not a stale errno. */
START_TEST(tcp_connect_failure_message)
{
    snprintf(refused_spec, sizeof(refused_spec), "tcp:127.0.0.1:%d", free_tcp_port());
    char *err = capture_stderr(open_refused_tcp);
    ck_assert_msg(strstr(err, "Failed to connect to '127.0.0.1:") &&
                  strstr(err, "Connection refused\n"), "message: %s", err);
    free(err);
}
END_TEST

/* ---- chardev_write_all: a slow reader gets every byte (qtest replies) ---- */

#define WA_LEN (1u << 20)
static uint8_t *wa_sent, *wa_got;
static size_t wa_got_len;

static void *slow_reader(void *arg)
{
    int fd = *(int *)arg;
    struct timespec pause = { 0, 100 * 1000000L };
    nanosleep(&pause, NULL);   /* the writer fills the socket buffer first */
    while (wa_got_len < WA_LEN) {
        ssize_t n = read(fd, wa_got + wa_got_len, WA_LEN - wa_got_len);
        if (n <= 0)
            break;
        wa_got_len += (size_t)n;
    }
    return NULL;
}

/* A unix client chardev connected to a listener here; client = our end. */
static int connect_chardev_client(void)
{
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strcpy(sun.sun_path, sock_path);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    char spec[160];
    snprintf(spec, sizeof(spec), "unix:%s", sock_path);
    chr = chardev_open(spec, "qtest");
    ck_assert_ptr_nonnull(chr);
    client = accept(l, NULL, NULL);
    ck_assert_int_ge(client, 0);
    return l;
}

START_TEST(write_all_waits_for_slow_reader)
{
    int l = connect_chardev_client();
    wa_sent = xmalloc(WA_LEN);
    wa_got = xzalloc(WA_LEN);
    for (size_t i = 0; i < WA_LEN; i++)
        wa_sent[i] = (uint8_t)(i * 7 + (i >> 10));
    pthread_t th;
    pthread_create(&th, NULL, slow_reader, &client);
    chardev_write_all(chr, wa_sent, WA_LEN);
    /* The last piece may still be queued for the main loop's writable
     * handler (there is no main loop here): drain it. */
    chardev_flush_all(10000);
    pthread_join(th, NULL);
    ck_assert_uint_eq(wa_got_len, WA_LEN);
    ck_assert(memcmp(wa_sent, wa_got, WA_LEN) == 0);
    chardev_close(chr);
    close(client);
    close(l);
    free(wa_sent);
    free(wa_got);
}
END_TEST

/* A protocol client that never reads its replies is dropped once its
 * backlog passes the limit; the writer never blocks (a hang is a timeout). */
START_TEST(write_message_drops_client_that_does_not_read)
{
    int l = connect_chardev_client();
    size_t chunk = 64 * 1024;
    uint8_t *msg = xzalloc(chunk);
    unsigned written = 0;
    for (; written < 200 && chardev_connected(chr); written++)
        chardev_write_message(chr, msg, chunk);
    ck_assert(!chardev_connected(chr));
    ck_assert_uint_gt(written, 4 * 1024 * 1024 / chunk);   /* the 4 MiB backlog was allowed */
    chardev_write_message(chr, msg, 10);                     /* dropped, no error */
    chardev_close(chr);
    close(client);
    close(l);
    free(msg);
}
END_TEST

static void *read_some_then_close(void *arg)
{
    int fd = *(int *)arg;
    char buf[1000];
    struct timespec pause = { 0, 50 * 1000000L };
    nanosleep(&pause, NULL);
    ck_assert_int_gt(read(fd, buf, sizeof(buf)), 0);
    close(fd);
    return NULL;
}

/* The peer hangs up while write_all waits: it returns, disconnected. */
START_TEST(write_all_peer_closes_mid_write)
{
    int l = connect_chardev_client();
    uint8_t *big = xzalloc(WA_LEN);
    pthread_t th;
    pthread_create(&th, NULL, read_some_then_close, &client);
    chardev_write_all(chr, big, WA_LEN);
    pthread_join(th, NULL);
    ck_assert(!chardev_connected(chr));
    chardev_write_all(chr, big, 10);   /* dropped, no error */
    chardev_close(chr);
    close(l);
    free(big);
}
END_TEST

/* ---- the terminal comes back after a crash ---- */

/* A child with a pty as stdin opens "stdio" (raw mode) and aborts: the
 * slave must be back in canonical mode with echo afterwards. */
START_TEST(stdio_terminal_restored_on_abort)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(grantpt(m), 0);
    ck_assert_int_eq(unlockpt(m), 0);
    const char *slave = ptsname(m);
    ck_assert_ptr_nonnull(slave);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(slave, O_RDWR | O_NOCTTY);
        dup2(fd, STDIN_FILENO);
        struct termios t;
        Chardev *c = chardev_open("stdio", "serial0");
        tcgetattr(STDIN_FILENO, &t);
        if (!c || (t.c_lflag & ICANON))
            _exit(3);   /* raw mode was not entered: the test proves nothing */
        abort();
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status 0x%x", status);
    int fd = open(slave, O_RDWR | O_NOCTTY);
    struct termios t;
    ck_assert_int_eq(tcgetattr(fd, &t), 0);
    ck_assert(t.c_lflag & ICANON);
    ck_assert(t.c_lflag & ECHO);
    close(fd);
    close(m);
}
END_TEST

/* ---- pty ---- */

static char slave_path[128];

static bool s_pty_open_slave(void)
{
    client = open(slave_path, O_RDWR | O_NOCTTY);
    ck_assert_int_ge(client, 0);
    struct termios t;
    ck_assert_int_eq(tcgetattr(client, &t), 0);
    ck_assert_msg(!(t.c_lflag & (ICANON | ECHO)), "slave not in raw mode");
    return true;
}

START_TEST(pty_slave_exists_and_carries_bytes)
{
    chr = chardev_open("pty", "serial0");
    ck_assert_ptr_nonnull(chr);
    chardev_set_handlers(chr, &fe);
    const char *name = chardev_filename(chr);
    ck_assert_msg(!strncmp(name, "pty:/dev/pts/", 13), "%s", name);
    snprintf(slave_path, sizeof(slave_path), "%s", name + 4);
    struct stat st;
    ck_assert_int_eq(stat(slave_path, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    /* Nobody on the slave: output is dropped, nothing blocks. */
    for (int i = 0; i < 256; i++)
        chardev_write(chr, (const uint8_t *)"x", 1);
    RUN_STEPS(s_pty_open_slave, s_write_world, s_client_got_world,
              s_client_sends_hello, s_rx_hello, s_client_closes, s_wait_disconnected);
    chardev_close(chr);
}
END_TEST

/* A reader that never reads must not stall the writer: bounded buffer. */
START_TEST(pty_without_reader_does_not_block)
{
    chr = chardev_open("pty", "serial0");
    ck_assert_ptr_nonnull(chr);
    int slave = open(chardev_filename(chr) + 4, O_RDWR | O_NOCTTY);
    ck_assert_int_ge(slave, 0);
    static uint8_t chunk[4096];
    memset(chunk, 'y', sizeof(chunk));
    int64_t start = clock_ns(CLOCK_REALTIME_NS);
    for (int i = 0; i < 1024; i++)   /* 4 MiB */
        chardev_write(chr, chunk, sizeof(chunk));
    ck_assert_int_lt(clock_ns(CLOCK_REALTIME_NS) - start, 2000000000LL);
    chardev_close(chr);
    close(slave);
}
END_TEST

/* ---- stdio: pipes in place of the terminal ---- */

static int stdin_w = -1, stdout_r = -1;

/* fd 0 <- pipe we write, fd 1 -> pipe we read (non-blocking). */
static void stdio_pipes(void)
{
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(in[0]);
    close(out[1]);
    stdin_w = in[1];
    stdout_r = out[0];
    fcntl(stdout_r, F_SETFL, O_NONBLOCK);
}

static bool s_stdin_bytes(void)
{
    send_str(stdin_w, "ab\x01\x01" "c");
    return true;
}

static bool s_rx_with_ctrl_a(void)
{
    return rx_is("ab\x01" "c");
}

static bool s_stdin_help_then_quit(void)
{
    send_str(stdin_w, "\x01h\x01" "cz\x01x");
    return true;
}

static bool s_never(void)
{
    return false;   /* C-a x ends the loop before this */
}

static void run_mux_quit(void)
{
    static const Step s[] = { s_stdin_bytes, s_rx_with_ctrl_a, s_stdin_help_then_quit,
                              s_never };
    run_steps(s, ARRAY_SIZE(s), 3000);
}

START_TEST(stdio_mux_quit_help_no_monitor)
{
    stdio_pipes();
    chr = chardev_open("stdio", "serial0");
    ck_assert_ptr_nonnull(chr);
    chardev_set_handlers(chr, &fe);
    int64_t start = clock_ns(CLOCK_REALTIME_NS);
    run_mux_quit();
    ck_assert_int_lt(clock_ns(CLOCK_REALTIME_NS) - start, 4000000000LL);
    ck_assert_uint_eq(cur_step, 3);      /* quit while waiting in s_never */
    /* 'z' after C-a c (no monitor) still goes to the serial frontend. */
    ck_assert(rx_is("ab\x01" "cz"));
    char out[1024];
    ssize_t n = read(stdout_r, out, sizeof(out) - 1);
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_ptr_nonnull(strstr(out, "C-a x    exit emulator"));
    ck_assert_ptr_nonnull(strstr(out, "vmm: no monitor on this console"));
    ck_assert_ptr_nonnull(strstr(out, "vmm: terminated\r\n"));
    chardev_close(chr);
}
END_TEST

/* C-a c moves input to the registered monitor and back. */
static uint8_t mon_rx[64];
static size_t mon_rx_len;

static size_t mon_can_read(void *opaque)
{
    return sizeof(mon_rx) - mon_rx_len;
}

static void mon_read(void *opaque, const uint8_t *buf, size_t len)
{
    memcpy(mon_rx + mon_rx_len, buf, len);
    mon_rx_len += len;
}

static bool s_stdin_focus_switch(void)
{
    send_str(stdin_w, "s1\x01" "cm1\x01" "cs2");
    return true;
}

static bool s_split_ok(void)
{
    return rx_is("s1s2") && mon_rx_len == 2 && !memcmp(mon_rx, "m1", 2);
}

START_TEST(stdio_mux_monitor_focus)
{
    stdio_pipes();
    chr = chardev_open("mon:stdio", "serial0");
    ck_assert_ptr_nonnull(chr);
    ck_assert(chardev_wants_monitor(chr));
    static const ChardevHandlers mon = { mon_can_read, mon_read, NULL };
    chardev_set_handlers(chr, &fe);
    chardev_mux_set_monitor(chr, &mon);
    RUN_STEPS(s_stdin_focus_switch, s_split_ok);
    chardev_close(chr);
}
END_TEST

static bool s_stdin_eof(void)
{
    close(stdin_w);
    return true;
}

static bool s_still_writes(void)
{
    chardev_write(chr, (const uint8_t *)"out", 3);
    return peer_received(stdout_r, "out");
}

START_TEST(stdio_eof_keeps_running)
{
    stdio_pipes();
    chr = chardev_open("stdio", "serial0");
    ck_assert_ptr_nonnull(chr);
    chardev_set_handlers(chr, &fe);
    RUN_STEPS(s_stdin_bytes, s_rx_with_ctrl_a, s_stdin_eof, step_idle, step_idle,
              s_still_writes);
    chardev_close(chr);
}
END_TEST

static bool s_unblock_and_accept(void)
{
    ck_assert(rx_is("fro"));
    budget = SIZE_MAX;
    chardev_accept_input(chr);
    return true;
}

/* stdin from a regular file (epoll cannot watch it) is still read. */
static bool s_rx_file_data(void)
{
    return rx_is("from a file\n");
}

START_TEST(stdio_regular_file_stdin)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/stdin.txt", tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    send_str(fd, "from a file\n");
    lseek(fd, 0, SEEK_SET);
    dup2(fd, STDIN_FILENO);
    close(fd);
    chr = chardev_open("stdio", "serial0");
    ck_assert_ptr_nonnull(chr);
    budget = 3;   /* flow control applies here too */
    chardev_set_handlers(chr, &fe);
    RUN_STEPS(step_idle, s_unblock_and_accept, s_rx_file_data);
    chardev_close(chr);
}
END_TEST

/* Like UNIT_TEST, plus the temp-dir fixture and room for the 3 s steps. */
#define CHR_TEST(suite, fn)                                                  \
    do {                                                                     \
        TCase *tc_ = tcase_create(#fn);                                      \
        tcase_add_checked_fixture(tc_, setup, teardown);                     \
        tcase_set_timeout(tc_, 30);                                          \
        tcase_add_test(tc_, fn);                                             \
        suite_add_tcase((suite), tc_);                                       \
    } while (0)

int main(void)
{
    Suite *s = suite_create("chardev");
    CHR_TEST(s, mux_plain_bytes_pass);
    CHR_TEST(s, mux_ctrl_a_ctrl_a_passes_one);
    CHR_TEST(s, mux_commands);
    CHR_TEST(s, null_swallows);
    CHR_TEST(s, file_writes_truncates_appends);
    CHR_TEST(s, bad_specs_fail_with_one_line_each);
    CHR_TEST(s, unix_connect_failure_message);
    CHR_TEST(s, unix_server_nowait);
    CHR_TEST(s, unix_client_mode);
    CHR_TEST(s, tcp_server_legacy_flags);
    CHR_TEST(s, tcp_server_waits_for_client);
    CHR_TEST(s, tcp_client_mode);
    CHR_TEST(s, tcp_connect_failure_message);
    CHR_TEST(s, write_all_waits_for_slow_reader);
    CHR_TEST(s, write_all_peer_closes_mid_write);
    CHR_TEST(s, write_message_drops_client_that_does_not_read);
    CHR_TEST(s, stdio_terminal_restored_on_abort);
    CHR_TEST(s, pty_slave_exists_and_carries_bytes);
    CHR_TEST(s, pty_without_reader_does_not_block);
    CHR_TEST(s, stdio_mux_quit_help_no_monitor);
    CHR_TEST(s, stdio_mux_monitor_focus);
    CHR_TEST(s, stdio_eof_keeps_running);
    CHR_TEST(s, stdio_regular_file_stdin);
    return unit_run(s);
}
