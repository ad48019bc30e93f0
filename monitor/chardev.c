/*
 * Character devices: the host side of serial ports and monitors.
 *
 * Backends: null, stdio (with the Ctrl-A multiplexer), file:PATH, pty,
 * unix:PATH and tcp:HOST:PORT (client, or server with wait=on/off).
 * Everything runs on the main loop.  Writes never block for long: sockets
 * and ptys are non-blocking with a bounded output buffer flushed when the fd
 * becomes writable; what does not fit is dropped.  Input honours the
 * frontend's can_read: when it says 0 the fd is no longer polled until
 * chardev_accept_input().
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "chardev.h"
#include "util.h"

#define CHR_READ_CHUNK     4096
#define CHR_OUTBUF_MAX     (64 * 1024)
/* Backlog a protocol client (QMP) may leave unread before it is dropped. */
#define CHR_MESSAGE_BACKLOG_MAX (4 * 1024 * 1024)
/* How often a pty with no slave open is checked for a new reader. */
#define PTY_POLL_PERIOD_NS (200 * 1000 * 1000LL)

typedef enum { CHR_NULL, CHR_STDIO, CHR_FILE, CHR_PTY, CHR_SOCKET } ChrKind;

struct Chardev {
    char *label;
    char *spec;
    ChrKind kind;
    bool wants_monitor;              /* "mon:" prefix */
    bool mux;                        /* -chardev ...,mux=on */
    Chardev *next;                   /* the registry, in creation order */
    int refs;                        /* chardev_open("chardev:ID") takes one */

    ChardevHandlers fe;
    bool has_fe;
    /* stdio multiplexer */
    ChardevHandlers monitor;
    bool has_monitor;
    bool monitor_focus;
    bool esc_pending;
    /* chardev_set_event_handler: socket connect/disconnect, mux focus */
    void (*event)(void *opaque, int connected);
    void *event_opaque;

    int in_fd;                       /* polled for input, -1: none */
    int out_fd;                      /* -1: output dropped */
    bool in_pollable;                /* false: stdin is a regular file */
    bool in_eof;
    bool paused;                     /* frontend said can_read == 0 */
    bool watched;                    /* in_fd registered with the main loop */
    uint8_t pending[CHR_READ_CHUNK]; /* input read but not yet accepted */
    size_t pending_len;
    uint8_t *obuf;                   /* bounded output backlog */
    size_t olen, ocap;
    BH *resume_bh;

    /* sockets and pty */
    bool connected;
    bool is_unix, server, nodelay;
    int listen_fd;
    bool listen_watched;
    char *path;                      /* unix path */
    char *host, *port;               /* tcp, as given */
    char local_addr[96], peer_addr[96];
    Timer *pty_timer;
    char pty_name[64];

    char filename[320];
};

static Chardev *stdio_owner;
static Chardev *chardevs;            /* every open chardev */
/* While chardev_new_from_opts opens a backend: its messages say
 * "-chardev OPTS: ..." with the text the user typed. */
static const char *chardev_opts_in_progress;

/* ---------------------------------------------------------------- errors */

/* "-serial" for label "serial0" etc., so messages name the option used. */
static const char *chr_option_name(const char *label)
{
    static const struct { const char *prefix, *option; } names[] = {
        { "serial", "-serial" }, { "parallel", "-parallel" },
        { "compat_monitor", "-monitor" }, { "monitor", "-monitor" },
        { "qtest", "-qtest" }, { "qmp", "-qmp" },
    };
    for (size_t i = 0; label && i < ARRAY_SIZE(names); i++)
        if (!strncmp(label, names[i].prefix, strlen(names[i].prefix)))
            return names[i].option;
    return "-chardev";
}

static void chr_error(const char *spec, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void chr_error(const char *spec, const char *label, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (chardev_opts_in_progress)
        error_report("-chardev %s: %s", chardev_opts_in_progress, msg);
    else
        error_report("%s %s: %s", chr_option_name(label), spec, msg);
}

/* --------------------------------------------------------- spec parsing */

enum {
    OPT_SERVER = 1 << 0, OPT_WAIT = 1 << 1, OPT_NODELAY = 1 << 2,
    OPT_APPEND = 1 << 3, OPT_SIGNAL = 1 << 4,
};

typedef struct ChrSpec {
    char *main;          /* path, or host:port; ",," unescaped */
    unsigned given;      /* OPT_* bits present */
    bool server, wait, nodelay, append, signal;
} ChrSpec;

static bool chr_parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false")) {
        *out = false;
        return true;
    }
    return false;
}

/* Split off one comma-separated field; ",," stands for a literal ','. */
static char *chr_next_field(const char **p)
{
    const char *s = *p;
    char *out = xmalloc(strlen(s) + 1);
    size_t n = 0;
    while (*s) {
        if (*s == ',' && s[1] == ',') {
            out[n++] = ',';
            s += 2;
        } else if (*s == ',') {
            s++;
            break;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    *p = s;
    return out;
}

static const struct {
    const char *name;
    unsigned bit;
    bool value;          /* value of the bare word */
} chr_flag_words[] = {
    { "server", OPT_SERVER, true }, { "wait", OPT_WAIT, true },
    { "nowait", OPT_WAIT, false }, { "nodelay", OPT_NODELAY, true },
    { "append", OPT_APPEND, true }, { "signal", OPT_SIGNAL, true },
};

static bool *chr_spec_field(ChrSpec *cs, unsigned bit)
{
    switch (bit) {
    case OPT_SERVER: return &cs->server;
    case OPT_WAIT: return &cs->wait;
    case OPT_NODELAY: return &cs->nodelay;
    case OPT_APPEND: return &cs->append;
    default: return &cs->signal;
    }
}

/* One "key=value" or legacy flag word ("server", "nowait"). */
static bool chr_parse_option(ChrSpec *cs, const char *field, unsigned allowed,
                             char *err, size_t errlen)
{
    const char *eq = strchr(field, '=');
    size_t keylen = eq ? (size_t)(eq - field) : strlen(field);
    for (size_t i = 0; i < ARRAY_SIZE(chr_flag_words); i++) {
        const char *name = chr_flag_words[i].name;
        if (strlen(name) != keylen || strncmp(field, name, keylen))
            continue;
        unsigned bit = chr_flag_words[i].bit;
        bool *dst = chr_spec_field(cs, bit);
        if (!(allowed & bit)) {
            snprintf(err, errlen, "option '%s' is not valid here", name);
            return false;
        }
        if (!eq) {
            *dst = chr_flag_words[i].value;
        } else if (!chr_flag_words[i].value || !chr_parse_bool(eq + 1, dst)) {
            snprintf(err, errlen, "option '%s' expects on or off", field);
            return false;
        }
        cs->given |= bit;
        return true;
    }
    snprintf(err, errlen, "unknown option '%.*s'", (int)keylen, field);
    return false;
}

/* "MAIN,opt,opt=val": the leading field and the options allowed. */
static bool chr_parse_spec(const char *rest, unsigned allowed, ChrSpec *cs,
                           char *err, size_t errlen)
{
    memset(cs, 0, sizeof(*cs));
    cs->signal = true;
    cs->main = chr_next_field(&rest);
    while (*rest) {
        char *field = chr_next_field(&rest);
        bool ok = chr_parse_option(cs, field, allowed, err, errlen);
        free(field);
        if (!ok) {
            free(cs->main);
            cs->main = NULL;
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ main loop */

static void chr_on_readable(void *opaque);
static void chr_on_writable(void *opaque);

static const ChardevHandlers *chr_focus(const Chardev *c)
{
    if (c->monitor_focus && c->has_monitor)
        return &c->monitor;
    return c->has_fe ? &c->fe : NULL;
}

/* Sockets are read even with no frontend so a hang-up is noticed. */
static bool chr_wants_input(const Chardev *c)
{
    if (c->in_fd < 0 || !c->in_pollable || c->in_eof || c->paused)
        return false;
    if (c->kind == CHR_PTY && !c->connected)
        return false;
    return c->kind == CHR_SOCKET || c->has_fe || c->has_monitor;
}

static void chr_update_watch(Chardev *c)
{
    if (c->in_fd < 0)
        return;
    bool want_read = chr_wants_input(c);
    bool want_write = c->olen > 0 && c->out_fd == c->in_fd;
    if (!want_read && !want_write) {
        if (c->watched)
            main_loop_set_fd_handler(c->in_fd, NULL, NULL, NULL);
        c->watched = false;
        return;
    }
    main_loop_set_fd_handler(c->in_fd, want_read ? chr_on_readable : NULL,
                             want_write ? chr_on_writable : NULL, c);
    c->watched = true;
}

static void chr_unwatch(Chardev *c)
{
    if (c->watched && c->in_fd >= 0)
        main_loop_set_fd_handler(c->in_fd, NULL, NULL, NULL);
    c->watched = false;
}

/* ------------------------------------------------------------ filenames */

static void chr_update_filename(Chardev *c)
{
    const char *state = c->connected ? "" : "disconnected:";
    switch (c->kind) {
    case CHR_NULL:
        snprintf(c->filename, sizeof(c->filename), "null");
        break;
    case CHR_STDIO:
        snprintf(c->filename, sizeof(c->filename), "stdio");
        break;
    case CHR_FILE:
        snprintf(c->filename, sizeof(c->filename), "file:%s", c->path);
        break;
    case CHR_PTY:
        snprintf(c->filename, sizeof(c->filename), "pty:%s", c->pty_name);
        break;
    case CHR_SOCKET:
        if (c->is_unix)
            snprintf(c->filename, sizeof(c->filename), "%sunix:%s%s", state,
                     c->path, c->server ? ",server=on" : "");
        else if (c->server && c->connected)
            snprintf(c->filename, sizeof(c->filename),
                     "tcp:%s,server=on <-> %s", c->local_addr, c->peer_addr);
        else if (c->server)
            snprintf(c->filename, sizeof(c->filename), "%stcp:%s,server=on",
                     state, c->local_addr);
        else
            snprintf(c->filename, sizeof(c->filename), "%stcp:%s:%s", state,
                     c->host, c->port);
        break;
    }
}

/* "127.0.0.1:4444" or "[::1]:4444". */
static void chr_format_addr(const struct sockaddr *sa, socklen_t len,
                            char *buf, size_t size)
{
    char host[64], serv[16];   /* numeric forms fit */
    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV)) {
        snprintf(buf, size, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(buf, size, "[%s]:%s", host, serv);
    else
        snprintf(buf, size, "%s:%s", host, serv);
}

/* ---------------------------------------------------------- disconnect */

static void pty_start_polling(Chardev *c);

/* The peer went away: drop buffers, go back to listening (server). */
static void chr_socket_disconnect(Chardev *c);

static void chr_input_closed(Chardev *c)
{
    switch (c->kind) {
    case CHR_SOCKET:
        chr_socket_disconnect(c);
        break;
    case CHR_PTY:
        /* No slave open (EIO/HUP): poll until someone opens it again. */
        chr_unwatch(c);
        c->connected = false;
        c->olen = 0;
        pty_start_polling(c);
        break;
    default:
        /* stdin EOF: stop reading, the guest keeps running (as QEMU). */
        c->in_eof = true;
        chr_update_watch(c);
        break;
    }
}

/* ----------------------------------------------------------------- input */

/*
 * Hand bytes to the focused frontend, never more than it accepts.  What it
 * cannot take now waits in c->pending (and polling stops) until
 * chardev_accept_input().  No frontend: input is discarded.
 */
static void chr_deliver(Chardev *c, const uint8_t *data, size_t len)
{
    if (c->pending_len) {
        size_t room = sizeof(c->pending) - c->pending_len;
        memcpy(c->pending + c->pending_len, data, MIN(len, room));
        c->pending_len += MIN(len, room);
        return;
    }
    while (len) {
        const ChardevHandlers *h = chr_focus(c);
        if (!h || !h->read)
            return;
        size_t room = h->can_read ? h->can_read(h->opaque) : len;
        if (room == 0) {
            size_t keep = MIN(len, sizeof(c->pending));
            memcpy(c->pending, data, keep);
            c->pending_len = keep;
            c->paused = true;
            chr_update_watch(c);
            return;
        }
        size_t n = MIN(room, len);
        h->read(h->opaque, data, n);
        data += n;
        len -= n;
    }
}

static void chr_write_stdout(Chardev *c, const char *s)
{
    chardev_write(c, (const uint8_t *)s, strlen(s));
}

static void mux_print_help(Chardev *c)
{
    chr_write_stdout(c, "\r\n"
                     "C-a h    print this help\r\n"
                     "C-a x    exit emulator\r\n"
                     "C-a c    switch between console and monitor\r\n"
                     "C-a C-a  sends C-a\r\n");
}

static void mux_switch_focus(Chardev *c)
{
    if (!c->has_monitor) {
        chr_write_stdout(c, "\r\nvmm: no monitor on this console\r\n");
        return;
    }
    c->monitor_focus = !c->monitor_focus;
    if (c->event)
        c->event(c->event_opaque, c->monitor_focus);
}

/* stdio input: run the Ctrl-A escapes, deliver the rest in order. */
static void mux_receive(Chardev *c, const uint8_t *buf, size_t len)
{
    uint8_t seg[CHR_READ_CHUNK];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        ChardevMuxAction act = chardev_mux_escape(&c->esc_pending, buf[i]);
        if (act == CHARDEV_MUX_PASS) {
            seg[n++] = buf[i];
            if (n == sizeof(seg)) {
                chr_deliver(c, seg, n);
                n = 0;
            }
            continue;
        }
        if (act == CHARDEV_MUX_CONSUMED)
            continue;
        chr_deliver(c, seg, n);
        n = 0;
        if (act == CHARDEV_MUX_QUIT) {
            chr_write_stdout(c, "\r\nvmm: terminated\r\n");
            main_loop_quit(0);
            return;
        }
        if (act == CHARDEV_MUX_HELP)
            mux_print_help(c);
        else
            mux_switch_focus(c);
    }
    chr_deliver(c, seg, n);
}

static void chr_receive(Chardev *c, const uint8_t *buf, size_t len)
{
    if (c->kind == CHR_STDIO || c->mux)
        mux_receive(c, buf, len);
    else
        chr_deliver(c, buf, len);
}

/* How much may be read now: never more than the frontend accepts. */
static size_t chr_read_room(Chardev *c)
{
    if (c->pending_len)
        return 0;
    const ChardevHandlers *h = chr_focus(c);
    if (!h || !h->can_read)
        return CHR_READ_CHUNK;
    return MIN(h->can_read(h->opaque), (size_t)CHR_READ_CHUNK);
}

/* Read one chunk; false when the fd had nothing more for now. */
static bool chr_read_once(Chardev *c)
{
    size_t room = chr_read_room(c);
    if (room == 0) {
        c->paused = true;
        chr_update_watch(c);
        return false;
    }
    uint8_t buf[CHR_READ_CHUNK];
    ssize_t n = read(c->in_fd, buf, room);
    if (n > 0) {
        chr_receive(c, buf, n);
        return true;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    chr_input_closed(c);
    return false;
}

static void chr_on_readable(void *opaque)
{
    chr_read_once(opaque);
}

/*
 * Runs after chardev_accept_input(): deliver what was held back, resume
 * polling.  stdin that epoll cannot watch (a regular file) is read here one
 * chunk per run instead.
 */
static void chr_resume(void *opaque)
{
    Chardev *c = opaque;
    if (c->pending_len) {
        uint8_t held[CHR_READ_CHUNK];
        size_t n = c->pending_len;
        memcpy(held, c->pending, n);
        c->pending_len = 0;
        chr_deliver(c, held, n);
        if (c->pending_len)
            return;
    }
    c->paused = false;
    if (c->in_fd >= 0 && !c->in_pollable && !c->in_eof &&
        (c->has_fe || c->has_monitor)) {
        if (chr_read_once(c) && !c->paused && !c->in_eof)
            bh_schedule(c->resume_bh);
        return;
    }
    chr_update_watch(c);
}

/* ---------------------------------------------------------------- output */

static ssize_t chr_raw_write(Chardev *c, const uint8_t *buf, size_t len)
{
    if (c->kind == CHR_SOCKET)
        return send(c->out_fd, buf, len, MSG_NOSIGNAL);
    return write(c->out_fd, buf, len);
}

static void chr_output_failed(Chardev *c)
{
    chr_input_closed(c);
}

/* Write what the fd takes now; false if the connection failed. */
static bool chr_flush(Chardev *c)
{
    while (c->olen) {
        ssize_t n = chr_raw_write(c, c->obuf, c->olen);
        if (n > 0) {
            memmove(c->obuf, c->obuf + n, c->olen - n);
            c->olen -= n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            chr_output_failed(c);
            return false;
        }
    }
    chr_update_watch(c);
    return true;
}

static void chr_on_writable(void *opaque)
{
    chr_flush(opaque);
}

static bool pty_check_connected(Chardev *c);

static void chr_write_buffered(Chardev *c, const uint8_t *buf, size_t len)
{
    if (!c->connected && !(c->kind == CHR_PTY && pty_check_connected(c)))
        return;   /* nobody listening: dropped */
    size_t room = c->olen < CHR_OUTBUF_MAX ? CHR_OUTBUF_MAX - c->olen : 0;
    if (len > room)
        len = room;   /* slow reader: the excess is dropped */
    if (!c->obuf) {
        c->obuf = xmalloc(CHR_OUTBUF_MAX);
        c->ocap = CHR_OUTBUF_MAX;
    }
    memcpy(c->obuf + c->olen, buf, len);
    c->olen += len;
    chr_flush(c);
}

void chardev_write(Chardev *c, const uint8_t *buf, size_t len)
{
    if (!c || !len)
        return;
    switch (c->kind) {
    case CHR_STDIO:
    case CHR_FILE:
        if (c->out_fd >= 0 && write_full(c->out_fd, buf, len) < 0) {
            static struct ratelimit rl;
            if (ratelimit_ok(&rl))
                warn_report("%s: write failed: %s", c->label, strerror(errno));
        }
        break;
    case CHR_PTY:
    case CHR_SOCKET:
        chr_write_buffered(c, buf, len);
        break;
    case CHR_NULL:
        break;
    }
}

/* Sleep until the socket or pty takes more output (or fails). */
static void chr_wait_writable(Chardev *c)
{
    struct pollfd pfd = { .fd = c->out_fd, .events = POLLOUT };
    if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
        chr_output_failed(c);
}

/*
 * Reply protocols (qtest) cannot lose bytes: wait for a slow reader in
 * backlog-sized steps.  Only a failed connection drops the rest, as QEMU's
 * qemu_chr_fe_write_all does.
 */
void chardev_write_all(Chardev *c, const uint8_t *buf, size_t len)
{
    if (!c || (c->kind != CHR_PTY && c->kind != CHR_SOCKET)) {
        chardev_write(c, buf, len);   /* the others never drop output */
        return;
    }
    while (len) {
        size_t n = MIN(len, c->olen < CHR_OUTBUF_MAX ? CHR_OUTBUF_MAX - c->olen : 0);
        chr_write_buffered(c, buf, n);
        if (!c->connected)
            return;
        buf += n;
        len -= n;
        if (len && c->olen >= CHR_OUTBUF_MAX)
            chr_wait_writable(c);
    }
}

/*
 * Protocol messages (QMP) must arrive whole, yet a client that stops reading
 * must not stall the main loop the way chardev_write_all would: its backlog
 * may grow to CHR_MESSAGE_BACKLOG_MAX, and a client that lets more pile up is
 * disconnected (its session ends; the machine and other clients go on).
 */
void chardev_write_message(Chardev *c, const uint8_t *buf, size_t len)
{
    if (!c || (c->kind != CHR_PTY && c->kind != CHR_SOCKET)) {
        chardev_write(c, buf, len);
        return;
    }
    if (!len || (!c->connected && !(c->kind == CHR_PTY && pty_check_connected(c))))
        return;
    if (len > CHR_MESSAGE_BACKLOG_MAX - MIN(c->olen, CHR_MESSAGE_BACKLOG_MAX)) {
        static struct ratelimit rl;
        if (ratelimit_ok(&rl))
            warn_report("%s: the client is not reading its replies: dropping it", c->label);
        if (c->kind == CHR_SOCKET)
            chr_socket_disconnect(c);
        else
            c->olen = 0;
        return;
    }
    if (c->olen + len > c->ocap) {
        size_t cap = MAX(MAX(c->ocap * 2, (size_t)CHR_OUTBUF_MAX), c->olen + len);
        c->obuf = xrealloc(c->obuf, cap);
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, buf, len);
    c->olen += len;
    chr_flush(c);
}

/* ----------------------------------------------------------------- stdio */

static struct termios stdio_saved_termios;
static volatile sig_atomic_t stdio_termios_saved;

void chardev_stdio_restore_terminal(void)
{
    /* Only tcsetattr, which is async-signal-safe (POSIX.1 signal-safety). */
    if (stdio_termios_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &stdio_saved_termios);
}

/*
 * A crash, abort() or Ctrl-\ must not leave the user's terminal raw: restore
 * it (async-signal-safe) and die of the same signal by its default action
 * (SA_RESETHAND has already reinstated it, SA_NODEFER lets raise deliver).
 */
static void stdio_fatal_signal(int signo)
{
    chardev_stdio_restore_terminal();
    raise(signo);
}

/* Only where nobody else handles the signal (ASan handles SIGSEGV...). */
static void stdio_catch_fatal_signals(void)
{
    static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGQUIT };
    struct sigaction sa = { .sa_handler = stdio_fatal_signal,
                            .sa_flags = SA_RESETHAND | SA_NODEFER };
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
            !(old.sa_flags & SA_SIGINFO))
            sigaction(sigs[i], &sa, NULL);
    }
}

/*
 * Raw input (no echo, no line editing, no CR->NL) but output keeps OPOST
 * so the guest's "\n" still starts a new line.  ISIG stays on unless
 * allow_signals is false (QEMU's mon:stdio passes Ctrl-C to the guest).
 */
static void stdio_enter_raw_mode(bool allow_signals)
{
    static bool atexit_done;
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t) < 0)
        return;
    if (!stdio_termios_saved) {
        stdio_saved_termios = t;
        stdio_termios_saved = 1;
    }
    if (!atexit_done) {
        atexit(chardev_stdio_restore_terminal);
        stdio_catch_fatal_signals();
        atexit_done = true;
    }
    t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag |= OPOST;
    t.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    if (!allow_signals)
        t.c_lflag &= ~ISIG;
    t.c_cflag &= ~(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

/* epoll refuses regular files and /dev/null (EPERM). */
static bool fd_is_pollable(int fd)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return true;
    struct epoll_event ev = { .events = EPOLLIN };
    bool ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
    close(ep);
    return ok;
}

static bool chr_open_stdio(Chardev *c, const char *rest, const char *spec,
                           const char *label)
{
    bool allow_signals = !c->wants_monitor;
    if (*rest) {   /* ",signal=off" */
        ChrSpec cs;
        char err[128];
        if (!chr_parse_spec(rest, OPT_SIGNAL, &cs, err, sizeof(err))) {
            chr_error(spec, label, "%s", err);
            return false;
        }
        if (cs.given & OPT_SIGNAL)
            allow_signals = cs.signal;
        free(cs.main);
    }
    if (stdio_owner) {
        chr_error(spec, label, "stdio already in use");
        return false;
    }
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0) {
        c->in_fd = STDIN_FILENO;
        c->in_pollable = fd_is_pollable(STDIN_FILENO);
    }
    c->out_fd = STDOUT_FILENO;
    stdio_enter_raw_mode(allow_signals);
    stdio_owner = c;
    return true;
}

/* ------------------------------------------------------------------ file */

static bool chr_open_file(Chardev *c, const char *rest, const char *spec,
                          const char *label)
{
    ChrSpec cs;
    char err[128];
    if (!chr_parse_spec(rest, OPT_APPEND, &cs, err, sizeof(err))) {
        chr_error(spec, label, "%s", err);
        return false;
    }
    if (!*cs.main) {
        chr_error(spec, label, "missing file name");
        free(cs.main);
        return false;
    }
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (cs.append ? O_APPEND : O_TRUNC);
    c->out_fd = open(cs.main, flags, 0666);
    if (c->out_fd < 0) {
        chr_error(spec, label, "Could not open '%s': %s", cs.main, strerror(errno));
        free(cs.main);
        return false;
    }
    c->path = cs.main;
    return true;
}

/* ------------------------------------------------------------------- pty */

static bool pty_check_connected(Chardev *c)
{
    struct pollfd pfd = { .fd = c->in_fd, .events = POLLIN };
    if (poll(&pfd, 1, 0) < 0 || (pfd.revents & POLLHUP))
        return false;
    /* A slave is open again: resume normal I/O. */
    timer_del(c->pty_timer);
    c->connected = true;
    chr_update_watch(c);
    return true;
}

static void pty_poll_timer(void *opaque)
{
    Chardev *c = opaque;
    if (!pty_check_connected(c))
        pty_start_polling(c);
}

/*
 * With no slave open, the master is permanently readable-with-EIO (HUP),
 * so it is taken off epoll and checked on a timer instead (as QEMU does).
 */
static void pty_start_polling(Chardev *c)
{
    if (!c->pty_timer)
        c->pty_timer = timer_new(CLOCK_REALTIME_NS, pty_poll_timer, c);
    timer_mod(c->pty_timer, clock_ns(CLOCK_REALTIME_NS) + PTY_POLL_PERIOD_NS);
}

static bool pty_set_slave_raw(const char *name)
{
    struct termios t;
    int fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = tcgetattr(fd, &t) == 0;
    if (ok) {
        cfmakeraw(&t);
        ok = tcsetattr(fd, TCSANOW, &t) == 0;
    }
    close(fd);
    return ok;
}

static bool chr_open_pty(Chardev *c, const char *rest, const char *spec,
                         const char *label)
{
    if (*rest) {
        chr_error(spec, label, "pty takes no options");
        return false;
    }
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
        ptsname_r(m, c->pty_name, sizeof(c->pty_name)) != 0 ||
        !pty_set_slave_raw(c->pty_name)) {
        chr_error(spec, label, "Failed to create PTY: %s", strerror(errno));
        if (m >= 0)
            close(m);
        return false;
    }
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    c->in_fd = c->out_fd = m;
    c->in_pollable = true;
    /* Tools look for this exact line on stderr, as printed by QEMU. */
    fprintf(stderr, "char device redirected to %s (label %s)\n", c->pty_name,
            c->label);
    pty_start_polling(c);
    return true;
}

/* ---------------------------------------------------------------- socket */

static void chr_socket_on_accept(void *opaque);

static void chr_socket_watch_listener(Chardev *c, bool on)
{
    if (c->listen_fd < 0 || c->listen_watched == on)
        return;
    main_loop_set_fd_handler(c->listen_fd, on ? chr_socket_on_accept : NULL,
                             NULL, on ? c : NULL);
    c->listen_watched = on;
}

static void chr_socket_attach(Chardev *c, int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (c->nodelay && !c->is_unix) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (!c->is_unix) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
            chr_format_addr((struct sockaddr *)&ss, len, c->peer_addr,
                            sizeof(c->peer_addr));
    }
    /* One client at a time: further ones queue in the listen backlog. */
    chr_socket_watch_listener(c, false);
    c->in_fd = c->out_fd = fd;
    c->in_pollable = true;
    c->connected = true;
    c->paused = false;
    c->pending_len = 0;
    chr_update_filename(c);
    chr_update_watch(c);
    if (c->event)
        c->event(c->event_opaque, 1);
}

static void chr_socket_disconnect(Chardev *c)
{
    bool was_connected = c->connected;
    chr_unwatch(c);
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = c->out_fd = -1;
    c->connected = false;
    c->olen = 0;
    c->pending_len = 0;
    c->paused = false;
    if (c->server)
        chr_socket_watch_listener(c, true);
    chr_update_filename(c);
    if (was_connected && c->event)
        c->event(c->event_opaque, 0);
}

static void chr_socket_on_accept(void *opaque)
{
    Chardev *c = opaque;
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    if (c->connected) {
        close(fd);
        return;
    }
    chr_socket_attach(c, fd);
}

static bool unix_addr(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        snprintf(err, errlen, "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}

static int unix_listen(Chardev *c, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    if (!unix_addr(c->path, &sun, err, errlen))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "Failed to create socket: %s", strerror(errno));
        return -1;
    }
    /* A stale socket from an earlier run would make bind fail. */
    struct stat st;
    if (stat(c->path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(c->path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1) < 0) {
        snprintf(err, errlen, "Failed to bind socket to %s: %s", c->path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int unix_connect(Chardev *c, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    if (!unix_addr(c->path, &sun, err, errlen))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        snprintf(err, errlen, "Failed to connect to '%s': %s", c->path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static struct addrinfo *tcp_resolve(Chardev *c, bool passive, char *err, size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
        .ai_flags = passive ? AI_PASSIVE : 0,
    };
    struct addrinfo *res;
    const char *host = *c->host ? c->host : (passive ? NULL : "localhost");
    int rc = getaddrinfo(host, c->port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "address resolution failed for %s:%s: %s",
                 c->host, c->port, gai_strerror(rc));
        return NULL;
    }
    return res;
}

static int tcp_bind_or_connect(int fd, const struct addrinfo *ai, bool server)
{
    if (!server)
        return connect(fd, ai->ai_addr, ai->ai_addrlen);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        return -1;
    return listen(fd, 1);
}

/* A listening (server) or connected socket on the first address that works. */
static int tcp_open(Chardev *c, bool server, char *err, size_t errlen)
{
    struct addrinfo *res = tcp_resolve(c, server, err, errlen);
    if (!res)
        return -1;
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        /* The listener is non-blocking for the main loop; a client connects
         * synchronously and chr_socket_attach makes it non-blocking. */
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
                    (server ? SOCK_NONBLOCK : 0), ai->ai_protocol);
        if (fd >= 0 && tcp_bind_or_connect(fd, ai, server) < 0) {
            close(fd);
            fd = -1;
        }
        if (fd < 0)
            saved = errno;
    }
    freeaddrinfo(res);
    if (fd < 0 && server)
        snprintf(err, errlen, "Failed to bind socket: %s", strerror(saved));
    else if (fd < 0)
        snprintf(err, errlen, "Failed to connect to '%s:%s': %s", c->host, c->port,
                 strerror(saved));
    return fd;
}

static int tcp_listen(Chardev *c, char *err, size_t errlen)
{
    int fd = tcp_open(c, true, err, errlen);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        chr_format_addr((struct sockaddr *)&ss, len, c->local_addr,
                        sizeof(c->local_addr));
    return fd;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" */
static bool tcp_split_host_port(Chardev *c, const char *s, char *err, size_t errlen)
{
    const char *colon;
    if (*s == '[') {
        const char *close_br = strchr(s, ']');
        if (!close_br || close_br[1] != ':') {
            snprintf(err, errlen, "expected tcp:[HOST]:PORT");
            return false;
        }
        c->host = xasprintf("%.*s", (int)(close_br - s - 1), s + 1);
        colon = close_br + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(err, errlen, "port number missing: expected tcp:HOST:PORT");
            return false;
        }
        c->host = xasprintf("%.*s", (int)(colon - s), s);
    }
    c->port = xstrdup(colon + 1);
    if (!*c->port) {
        snprintf(err, errlen, "port number missing: expected tcp:HOST:PORT");
        return false;
    }
    return true;
}

/* wait=on: block until the first client connects (QEMU's default). */
static bool chr_socket_wait_client(Chardev *c, char *err, size_t errlen)
{
    fprintf(stderr, "vmm: waiting for connection on: %s\n", c->filename);
    for (;;) {
        struct pollfd pfd = { .fd = c->listen_fd, .events = POLLIN };
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            break;
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            chr_socket_attach(c, fd);
            return true;
        }
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
            break;
    }
    snprintf(err, errlen, "accept failed: %s", strerror(errno));
    return false;
}

static bool chr_socket_listen(Chardev *c, bool wait, char *err, size_t errlen)
{
    c->listen_fd = c->is_unix ? unix_listen(c, err, errlen) : tcp_listen(c, err, errlen);
    if (c->listen_fd < 0)
        return false;
    chr_update_filename(c);
    if (wait)
        return chr_socket_wait_client(c, err, errlen);
    chr_socket_watch_listener(c, true);
    return true;
}

static bool chr_open_socket(Chardev *c, bool is_unix, const char *rest,
                            const char *spec, const char *label)
{
    ChrSpec cs;
    char err[256];
    c->is_unix = is_unix;
    if (!chr_parse_spec(rest, OPT_SERVER | OPT_WAIT | OPT_NODELAY, &cs, err,
                        sizeof(err))) {
        chr_error(spec, label, "%s", err);
        return false;
    }
    c->server = cs.server;
    c->nodelay = cs.nodelay;
    bool ok = true;
    if (is_unix) {
        c->path = cs.main;
        cs.main = NULL;
        if (!*c->path) {
            snprintf(err, sizeof(err), "missing socket path: expected unix:PATH");
            ok = false;
        }
    } else {
        ok = tcp_split_host_port(c, cs.main, err, sizeof(err));
    }
    free(cs.main);
    if (ok && !c->server && (cs.given & OPT_WAIT)) {
        snprintf(err, sizeof(err), "'wait' option is only valid with server=on");
        ok = false;
    }
    if (ok && c->server) {
        ok = chr_socket_listen(c, (cs.given & OPT_WAIT) ? cs.wait : true,
                               err, sizeof(err));
    } else if (ok) {
        int fd = is_unix ? unix_connect(c, err, sizeof(err))
                         : tcp_open(c, false, err, sizeof(err));
        ok = fd >= 0;
        if (ok)
            chr_socket_attach(c, fd);
    }
    if (!ok)
        chr_error(spec, label, "%s", err);
    return ok;
}

/* ------------------------------------------------------------ public API */

static void chr_free(Chardev *c)
{
    if (!c)
        return;
    chr_unwatch(c);
    if (c->listen_fd >= 0) {
        chr_socket_watch_listener(c, false);
        close(c->listen_fd);
        if (c->is_unix && c->server)
            unlink(c->path);
    }
    if (c->kind != CHR_STDIO) {
        if (c->in_fd >= 0)
            close(c->in_fd);
        if (c->out_fd >= 0 && c->out_fd != c->in_fd)
            close(c->out_fd);
    }
    if (c->pty_timer)
        timer_free(c->pty_timer);
    if (c->resume_bh)
        bh_delete(c->resume_bh);
    free(c->obuf);
    free(c->path);
    free(c->host);
    free(c->port);
    free(c->spec);
    free(c->label);
    free(c);
}

/* "file:PATH" -> rest "PATH"; "pty" -> rest "". */
static bool spec_is(const char *s, const char *name, const char **rest)
{
    size_t n = strlen(name);
    if (strncmp(s, name, n))
        return false;
    if (s[n] == '\0' || s[n] == ',') {
        *rest = s + n;
        return true;
    }
    if (s[n] == ':') {
        *rest = s + n + 1;
        return true;
    }
    return false;
}

static bool chr_open_backend(Chardev *c, const char *s, const char *spec,
                             const char *label)
{
    const char *rest;
    if (spec_is(s, "null", &rest) || spec_is(s, "none", &rest) ||
        spec_is(s, "vc", &rest)) {
        /* "none" and "vc" (no graphical console here) behave as null. */
        c->kind = CHR_NULL;
        return true;
    }
    if (!strncmp(s, "stdio", 5) && (s[5] == '\0' || s[5] == ',')) {
        c->kind = CHR_STDIO;
        return chr_open_stdio(c, s + 5, spec, label);
    }
    if (spec_is(s, "file", &rest) && s[4] == ':') {
        c->kind = CHR_FILE;
        return chr_open_file(c, rest, spec, label);
    }
    if (spec_is(s, "pty", &rest)) {
        c->kind = CHR_PTY;
        return chr_open_pty(c, rest, spec, label);
    }
    if ((spec_is(s, "unix", &rest) || spec_is(s, "tcp", &rest)) && s[s[0] == 'u' ? 4 : 3] == ':') {
        c->kind = CHR_SOCKET;
        return chr_open_socket(c, s[0] == 'u', rest, spec, label);
    }
    if (!strcmp(s, "file") || !strcmp(s, "unix") || !strcmp(s, "tcp"))
        chr_error(spec, label, "missing '%s:' argument", s);
    else
        chr_error(spec, label, "unknown chardev backend");
    return false;
}

static void chr_register(Chardev *c)
{
    Chardev **p = &chardevs;
    while (*p)
        p = &(*p)->next;
    c->next = NULL;
    *p = c;
}

static void chr_unregister(Chardev *c)
{
    for (Chardev **p = &chardevs; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            return;
        }
    }
}

/* "-serial chardev:ID": share the chardev that -chardev id=ID opened. */
static Chardev *chr_open_reference(const char *spec, const char *label)
{
    Chardev *c = chardev_find(spec + strlen("chardev:"));
    if (!c) {
        chr_error(spec, label, "could not connect serial device to character "
                  "backend '%s'", spec);
        return NULL;
    }
    c->refs++;
    return c;
}

Chardev *chardev_open(const char *spec, const char *label)
{
    if (!label)
        label = "chardev";
    if (!strncmp(spec, "chardev:", 8))
        return chr_open_reference(spec, label);
    Chardev *c = xzalloc(sizeof(*c));
    c->label = xstrdup(label);
    c->spec = xstrdup(spec);
    c->in_fd = c->out_fd = c->listen_fd = -1;
    c->resume_bh = bh_new(chr_resume, c);
    const char *s = spec;
    if (!strncmp(s, "mon:", 4)) {
        c->wants_monitor = true;
        s += 4;
    }
    if (!chr_open_backend(c, s, spec, label)) {
        chr_free(c);
        return NULL;
    }
    chr_update_filename(c);
    c->refs = 1;
    chr_register(c);
    return c;
}

void chardev_close(Chardev *c)
{
    if (!c || --c->refs > 0)
        return;
    chr_unregister(c);
    if (c == stdio_owner) {
        chardev_stdio_restore_terminal();
        stdio_owner = NULL;
    }
    chr_free(c);
}

const char *chardev_label(const Chardev *c)
{
    return c->label;
}

const char *chardev_filename(const Chardev *c)
{
    return c->filename;
}

bool chardev_connected(const Chardev *c)
{
    switch (c->kind) {
    case CHR_SOCKET:
    case CHR_PTY:
        return c->connected;
    default:
        return true;
    }
}

bool chardev_wants_monitor(const Chardev *c)
{
    return c->wants_monitor;
}

static void chr_frontend_changed(Chardev *c)
{
    c->paused = false;
    if (c->pending_len || (c->in_fd >= 0 && !c->in_pollable))
        bh_schedule(c->resume_bh);
    else
        chr_update_watch(c);
}

void chardev_set_handlers(Chardev *c, const ChardevHandlers *h)
{
    c->has_fe = h != NULL;
    if (h)
        c->fe = *h;
    chr_frontend_changed(c);
}

void chardev_mux_set_monitor(Chardev *c, const ChardevHandlers *monitor)
{
    if (c->kind != CHR_STDIO && !c->mux)
        return;
    c->has_monitor = monitor != NULL;
    if (monitor)
        c->monitor = *monitor;
    else
        c->monitor_focus = false;
    chr_frontend_changed(c);
}

void chardev_set_event_handler(Chardev *c, void (*event)(void *opaque, int connected),
                               void *opaque)
{
    c->event = event;
    c->event_opaque = opaque;
}

void chardev_accept_input(Chardev *c)
{
    if (c && (c->paused || c->pending_len))
        bh_schedule(c->resume_bh);
}

/* ------------------------------------------------------------------ mux */

ChardevMuxAction chardev_mux_escape(bool *escape_pending, uint8_t byte)
{
    if (!*escape_pending) {
        if (byte == CHARDEV_MUX_ESCAPE) {
            *escape_pending = true;
            return CHARDEV_MUX_CONSUMED;
        }
        return CHARDEV_MUX_PASS;
    }
    *escape_pending = false;
    switch (byte) {
    case CHARDEV_MUX_ESCAPE:
        return CHARDEV_MUX_PASS;   /* C-a C-a: one literal C-a */
    case 'x':
        return CHARDEV_MUX_QUIT;
    case 'h':
    case '?':
        return CHARDEV_MUX_HELP;
    case 'c':
        return CHARDEV_MUX_FOCUS;
    default:
        return CHARDEV_MUX_CONSUMED;   /* unknown command: ignored, as QEMU */
    }
}

/* ------------------------------------------------- -chardev and registry */

Chardev *chardev_find(const char *id)
{
    for (Chardev *c = chardevs; c; c = c->next)
        if (!strcmp(c->label, id))
            return c;
    return NULL;
}

Chardev *chardev_next(Chardev *prev)
{
    return prev ? prev->next : chardevs;
}

void chardev_flush_all(int timeout_ms)
{
    for (Chardev *c = chardevs; c; c = c->next) {
        int64_t deadline = clock_ns(CLOCK_REALTIME_NS) + (int64_t)timeout_ms * 1000000;
        while (c->olen && c->connected && c->out_fd >= 0) {
            int64_t left = deadline - clock_ns(CLOCK_REALTIME_NS);
            struct pollfd pfd = { .fd = c->out_fd, .events = POLLOUT };
            if (left <= 0 || poll(&pfd, 1, (int)(left / 1000000) + 1) <= 0)
                break;
            if (!chr_flush(c))
                break;
        }
    }
}

bool chardev_is_mux(const Chardev *c)
{
    return c->mux;
}

/* QEMU's identifiers: a letter, then letters, digits, '-', '.', '_'. */
static bool chr_id_valid(const char *id)
{
    if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z')))
        return false;
    return id[strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-._")] == '\0';
}

/* Append ",key=on|off" when the option was given; false if not a bool. */
static bool chr_opt_bool(Opts *o, const char *key, char **spec, char *err, size_t errlen)
{
    const char *v = opts_get(o, key);
    bool b;
    if (!v)
        return true;
    if (parse_bool(v, &b) < 0) {
        snprintf(err, errlen, "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    char *s = xasprintf("%s,%s=%s", *spec, key, b ? "on" : "off");
    free(*spec);
    *spec = s;
    return true;
}

/* A path inside a -serial style spec: ',' is written ",,". */
static char *chr_escape_commas(const char *s)
{
    char *out = xmalloc(strlen(s) * 2 + 1), *p = out;
    for (; *s; s++) {
        *p++ = *s;
        if (*s == ',')
            *p++ = ',';
    }
    *p = '\0';
    return out;
}

static char *chr_spec_with_path(const char *prefix, const char *path)
{
    char *esc = chr_escape_commas(path);
    char *spec = xasprintf("%s:%s", prefix, esc);
    free(esc);
    return spec;
}

/* socket: path=P is unix, host=H,port=N is tcp ("[H]" for IPv6). */
static char *chr_socket_spec(Opts *o, char *err, size_t errlen)
{
    const char *path = opts_get(o, "path");
    const char *host = opts_get(o, "host"), *port = opts_get(o, "port");
    char *spec;
    if (path && (host || port)) {
        snprintf(err, errlen, "chardev: socket: path and host/port are exclusive");
        return NULL;
    }
    if (path) {
        spec = chr_spec_with_path("unix", path);
    } else if (host || port) {
        if (!port || !*port) {
            snprintf(err, errlen, "chardev: socket: no port given");
            return NULL;
        }
        host = host ? host : "";
        spec = xasprintf(strchr(host, ':') ? "tcp:[%s]:%s" : "tcp:%s:%s", host, port);
    } else {
        snprintf(err, errlen, "chardev: socket: no path or host given");
        return NULL;
    }
    if (!chr_opt_bool(o, "server", &spec, err, errlen) ||
        !chr_opt_bool(o, "wait", &spec, err, errlen) ||
        !chr_opt_bool(o, "nodelay", &spec, err, errlen)) {
        free(spec);
        return NULL;
    }
    return spec;
}

/* The -serial style spec that the backend openers above understand. */
static char *chr_spec_from_opts(const char *backend, Opts *o, char *err, size_t errlen)
{
    char *spec = NULL;
    if (!strcmp(backend, "null")) {
        spec = xstrdup("null");
    } else if (!strcmp(backend, "stdio")) {
        spec = xstrdup("stdio");
        if (!chr_opt_bool(o, "signal", &spec, err, errlen)) {
            free(spec);
            spec = NULL;
        }
    } else if (!strcmp(backend, "pty")) {
        spec = xstrdup("pty");
    } else if (!strcmp(backend, "file")) {
        const char *path = opts_get(o, "path");
        if (!path || !*path) {
            snprintf(err, errlen, "chardev: file: no filename given");
            return NULL;
        }
        spec = chr_spec_with_path("file", path);
        if (!chr_opt_bool(o, "append", &spec, err, errlen)) {
            free(spec);
            spec = NULL;
        }
    } else if (!strcmp(backend, "socket")) {
        spec = chr_socket_spec(o, err, errlen);
    } else {
        snprintf(err, errlen, "'%s' is not a valid char driver name", backend);
    }
    return spec;
}

/* id and mux, checked before anything is opened. */
static bool chr_check_common(Opts *o, const char **id, bool *mux, char *err, size_t errlen)
{
    const char *m = opts_get(o, "mux");
    *id = opts_get(o, "id");
    if (!*id) {
        snprintf(err, errlen, "chardev: no id specified");
        return false;
    }
    if (!chr_id_valid(*id)) {
        snprintf(err, errlen, "Parameter 'id' expects an identifier");
        return false;
    }
    if (chardev_find(*id)) {
        snprintf(err, errlen, "Duplicate ID '%s' for chardev", *id);
        return false;
    }
    *mux = false;
    if (m && parse_bool(m, mux) < 0) {
        snprintf(err, errlen, "Parameter 'mux' expects 'on' or 'off'");
        return false;
    }
    return true;
}

Chardev *chardev_new_from_opts(const char *opts)
{
    char err[256] = "";
    const char *id, *backend;
    bool mux;
    char *spec = NULL;
    Chardev *c = NULL;
    Opts *o = opts_parse(opts, "backend", err, sizeof(err));
    if (!o)
        goto fail;
    backend = opts_get(o, "backend");
    if (!backend || !*backend) {
        snprintf(err, sizeof(err), "Parameter 'backend' is missing");
        goto fail;
    }
    if (!chr_check_common(o, &id, &mux, err, sizeof(err)))
        goto fail;
    spec = chr_spec_from_opts(backend, o, err, sizeof(err));
    if (!spec)
        goto fail;
    if (opts_first_unused(o)) {
        snprintf(err, sizeof(err), "Invalid parameter '%s'", opts_first_unused(o));
        goto fail;
    }
    chardev_opts_in_progress = opts;
    c = chardev_open(spec, id);
    chardev_opts_in_progress = NULL;
    if (c)
        c->mux = mux;
    free(spec);
    opts_free(o);
    return c;
fail:
    error_report("-chardev %s: %s", opts, err);
    free(spec);
    opts_free(o);
    return NULL;
}
