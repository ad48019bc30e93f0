/*
 * Character devices: the host side of a serial port (and later a monitor).
 * Backends: stdio, null, file:PATH, pty, unix:PATH[,server=on,wait=off],
 * tcp:HOST:PORT[,server=on,wait=off].  All I/O runs on the main loop.
 */
#ifndef VMM_CHARDEV_H
#define VMM_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Chardev Chardev;

typedef struct ChardevHandlers {
    /* How many bytes the frontend can take now (0 = stop reading). */
    size_t (*can_read)(void *opaque);
    void (*read)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
} ChardevHandlers;

/*
 * Parse a -serial style spec and open it.  On error prints one line
 * ("vmm: -serial tcp:x: ...") and returns NULL.  label names it in
 * messages and `info chardev` ("serial0").
 */
Chardev *chardev_open(const char *spec, const char *label);
void chardev_close(Chardev *c);
/*
 * -chardev BACKEND,id=ID[,...] (QEMU syntax): backends socket (path=P, or
 * host=H,port=N; server=on|off, wait=on|off, legacy "server,nowait"),
 * stdio (signal=on|off), pty, file (path=P), null; mux=on.  Registers the
 * chardev under ID.  On error prints "vmm: -chardev OPTS: why", NULL.
 * chardev_open("chardev:ID") then returns the registered chardev (each open
 * takes a reference that chardev_close drops).
 */
Chardev *chardev_new_from_opts(const char *opts);
/* The open chardev with this id/label (-chardev ids, serial0, ...), or NULL. */
Chardev *chardev_find(const char *id);
/* Every open chardev in creation order: chardev_next(NULL) is the first. */
Chardev *chardev_next(Chardev *prev);
/* mux=on: the chardev is shared by a frontend and a monitor (Ctrl-A c). */
bool chardev_is_mux(const Chardev *c);
const char *chardev_label(const Chardev *c);
const char *chardev_filename(const Chardev *c);   /* e.g. "pty:/dev/pts/3" */

void chardev_set_handlers(Chardev *c, const ChardevHandlers *h);
/* Call when can_read may have become non-zero again. */
void chardev_accept_input(Chardev *c);
/*
 * Write to the host side.  Never blocks the caller for long: a disconnected
 * socket drops the data, a slow one buffers a bounded amount.
 */
void chardev_write(Chardev *c, const uint8_t *buf, size_t len);
/* Write everything, waiting for a slow reader (qtest replies); only a
 * failed connection drops the rest. */
void chardev_write_all(Chardev *c, const uint8_t *buf, size_t len);
/* Write a whole protocol message (QMP) without ever blocking: a slow reader's
 * backlog grows up to 4 MiB, and a client that lets more pile up is
 * disconnected. */
void chardev_write_message(Chardev *c, const uint8_t *buf, size_t len);
bool chardev_connected(const Chardev *c);
/* On exit: give every chardev up to timeout_ms to write out its backlog
 * (the last QMP replies and events). */
void chardev_flush_all(int timeout_ms);
/*
 * Connection events for a frontend that greets its peer (the monitor):
 * socket chardevs call event(opaque, 1) when a client connects and
 * event(opaque, 0) when it goes away (possibly from inside a write that
 * failed).  On the stdio chardev it reports the mux focus instead: 1 when
 * Ctrl-A c gives the terminal to the monitor, 0 when it leaves.  NULL
 * unregisters.  A client already connected when this is called (wait=on)
 * gets no event: check chardev_connected().
 */
void chardev_set_event_handler(Chardev *c, void (*event)(void *opaque, int connected),
                               void *opaque);

/* The stdio chardev: put the terminal in raw mode / restore it (idempotent,
 * async-signal-safe restore so every exit path can call it). */
void chardev_stdio_restore_terminal(void);

/* ---- stdio multiplexer (Ctrl-A escapes, as QEMU's -nographic) ---- */
/*
 * Give the monitor a share of the stdio chardev: Ctrl-A c switches input
 * between the frontend set with chardev_set_handlers and this one.  Both
 * write with chardev_write.  NULL unregisters.  Only for the stdio chardev.
 */
void chardev_mux_set_monitor(Chardev *stdio, const ChardevHandlers *monitor);
/* True when the spec had QEMU's "mon:" prefix (e.g. "mon:stdio"): the
 * caller should attach a monitor with chardev_mux_set_monitor. */
bool chardev_wants_monitor(const Chardev *c);

typedef enum {
    CHARDEV_MUX_CONSUMED,   /* byte swallowed (escape prefix, unknown command) */
    CHARDEV_MUX_PASS,       /* deliver the byte to the focused frontend */
    CHARDEV_MUX_QUIT,       /* C-a x */
    CHARDEV_MUX_HELP,       /* C-a h, C-a ? */
    CHARDEV_MUX_FOCUS,      /* C-a c */
} ChardevMuxAction;
#define CHARDEV_MUX_ESCAPE 0x01   /* Ctrl-A */
/*
 * The escape state machine, pure: feed one input byte, *escape_pending
 * carries the state between calls (start false).  C-a C-a passes one C-a.
 */
ChardevMuxAction chardev_mux_escape(bool *escape_pending, uint8_t byte);

#endif
