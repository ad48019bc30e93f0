/*
 * Migration URIs and the fds behind them, spelled as QEMU does:
 *   tcp:HOST:PORT   HOST may be empty or 0 (any address), a name, an IPv4
 *                   address or [IPv6]
 *   unix:PATH       a Unix stream socket
 *   exec:CMD        /bin/sh -c CMD: the source writes the stream to its
 *                   stdin, the destination reads it from its stdout
 *   file:PATH       the source writes a file, the destination reads it
 *   defer           (destination) wait for migrate_incoming
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "migration.h"
#include "util.h"

static int set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return false;
    memcpy(dst, src, len);
    dst[len] = 0;
    return true;
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" */
static int parse_tcp(const char *addr, MigUri *u, char *err, size_t errlen)
{
    const char *colon, *host = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return set_err(err, errlen, "error parsing address '%s'", addr);
        host = addr + 1;
        hlen = (size_t)(end - host);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return set_err(err, errlen, "error parsing address '%s'", addr);
        hlen = (size_t)(colon - addr);
    }
    const char *port = colon + 1;
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return set_err(err, errlen, "error parsing address '%s'", addr);
    if (!copy_str(u->host, sizeof(u->host), host, hlen) ||
        !copy_str(u->port, sizeof(u->port), port, strlen(port)))
        return set_err(err, errlen, "error parsing address '%s'", addr);
    if (!strcmp(u->host, "0"))
        u->host[0] = 0;
    return 0;
}

int mig_uri_parse(const char *uri, MigUri *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    if (!strcmp(uri, "defer")) {
        u->kind = MIG_URI_DEFER;
        return 0;
    }
    static const struct { const char *prefix; MigUriKind kind; } schemes[] = {
        { "tcp:", MIG_URI_TCP }, { "unix:", MIG_URI_UNIX },
        { "exec:", MIG_URI_EXEC }, { "file:", MIG_URI_FILE },
    };
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(uri, schemes[i].prefix, n))
            continue;
        u->kind = schemes[i].kind;
        const char *rest = uri + n;
        if (u->kind == MIG_URI_TCP)
            return parse_tcp(rest, u, err, errlen);
        if (!*rest)
            return set_err(err, errlen, "%s: missing %s", uri,
                           u->kind == MIG_URI_EXEC ? "command" : "path");
        if (!copy_str(u->path, sizeof(u->path), rest, strlen(rest)))
            return set_err(err, errlen, "%s: too long", schemes[i].prefix);
        return 0;
    }
    return set_err(err, errlen, "unknown migration protocol: %s", uri);
}

/* ---- sockets ---- */

static int unix_addr(const MigUri *u, struct sockaddr_un *sa, char *err, size_t errlen)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(u->path) >= sizeof(sa->sun_path))
        return set_err(err, errlen, "UNIX socket path '%s' is too long", u->path);
    strcpy(sa->sun_path, u->path);
    return 0;
}

static struct addrinfo *tcp_resolve(const MigUri *u, bool passive, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = passive ? AI_PASSIVE : 0 }, *res = NULL;
    const char *host = u->host[0] ? u->host : (passive ? NULL : "localhost");
    int rc = getaddrinfo(host, u->port, &hints, &res);
    if (rc) {
        set_err(err, errlen, "address resolution failed for %s:%s: %s", host ? host : "",
                u->port, gai_strerror(rc));
        return NULL;
    }
    return res;
}

static void socket_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int tcp_connect(const MigUri *u, char *err, size_t errlen)
{
    struct addrinfo *res = tcp_resolve(u, false, err, errlen);
    int fd = -1, saved = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    if (res && fd < 0)
        set_err(err, errlen, "Failed to connect to '%s:%s': %s", u->host, u->port,
                strerror(saved));
    if (res)
        freeaddrinfo(res);
    if (fd >= 0)
        socket_tune(fd);
    return fd;
}

static int tcp_listen(const MigUri *u, char *err, size_t errlen)
{
    struct addrinfo *res = tcp_resolve(u, true, err, errlen);
    int fd = -1, saved = EADDRINUSE;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    if (res && fd < 0)
        set_err(err, errlen, "Failed to bind socket: %s", strerror(saved));
    if (res)
        freeaddrinfo(res);
    return fd;
}

static int unix_connect(const MigUri *u, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (unix_addr(u, &sa, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        set_err(err, errlen, "Failed to connect to '%s': %s", u->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int unix_listen(const MigUri *u, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (unix_addr(u, &sa, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(u->path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        set_err(err, errlen, "Failed to bind socket to %s: %s", u->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* ---- exec: ---- */

/* Run sh -c cmd with our end of a pipe as its stdin (to_child) or stdout. */
static int exec_command(const char *cmd, bool to_child, pid_t *child, char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return set_err(err, errlen, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return set_err(err, errlen, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The child must not inherit vmm's blocked signal mask. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(to_child ? p[0] : p[1], to_child ? 0 : 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (child)
        *child = pid;
    close(to_child ? p[0] : p[1]);
    return to_child ? p[1] : p[0];
}

/* ---- public ---- */

int mig_channel_connect(const MigUri *u, pid_t *child, char *err, size_t errlen)
{
    int fd;
    if (child)
        *child = -1;
    switch (u->kind) {
    case MIG_URI_TCP: return tcp_connect(u, err, errlen);
    case MIG_URI_UNIX: return unix_connect(u, err, errlen);
    case MIG_URI_EXEC: return exec_command(u->path, true, child, err, errlen);
    case MIG_URI_FILE:
        fd = open(u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return set_err(err, errlen, "Could not open '%s': %s", u->path, strerror(errno));
        return fd;
    default:
        return set_err(err, errlen, "'defer' is only for the destination");
    }
}

int mig_channel_listen(const MigUri *u, char *err, size_t errlen)
{
    if (u->kind == MIG_URI_TCP)
        return tcp_listen(u, err, errlen);
    if (u->kind == MIG_URI_UNIX)
        return unix_listen(u, err, errlen);
    return set_err(err, errlen, "not a socket URI");
}

int mig_channel_open_read(const MigUri *u, pid_t *child, char *err, size_t errlen)
{
    if (child)
        *child = -1;
    if (u->kind == MIG_URI_EXEC)
        return exec_command(u->path, false, child, err, errlen);
    if (u->kind == MIG_URI_FILE) {
        int fd = open(u->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return set_err(err, errlen, "Could not open '%s': %s", u->path, strerror(errno));
        return fd;
    }
    return set_err(err, errlen, "not an exec: or file: URI");
}
