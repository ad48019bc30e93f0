/*
 * ui/: the display surface that graphics devices render into, the VNC
 * server that shows it, and the input layer that carries key and pointer
 * events from the VNC server and the monitor to the guest's input devices.
 */
#ifndef VMM_UI_H
#define VMM_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pixman.h>

/* ---- display surface (ui/display.c) ---- */
/*
 * One display (vmm has one graphics device).  The surface is a 32-bit
 * x8r8g8b8 pixman image in host memory.  The device renders into it from
 * its refresh callback, which the display calls at a steady rate
 * (DISPLAY_REFRESH_HZ) only while a listener (a VNC client) is active, and
 * once on demand for screendump.  The device reports what it changed with
 * display_dirty; listeners get those rectangles merged per refresh.
 */
#define DISPLAY_REFRESH_HZ 30   /* while the screen changes; slower when idle */
typedef struct DisplaySurface {
    pixman_image_t *image;
    int width, height;
    int stride;          /* bytes per line */
    uint32_t *data;      /* pixel (x, y) is data[y * stride / 4 + x] */
} DisplaySurface;

typedef struct DisplayDevOps {
    /* Render what changed since the last call into the surface and report
     * it with display_dirty (resize first with display_resize if the mode
     * changed).  Main thread, big lock held. */
    void (*refresh)(void *opaque);
    /* Everything must be redrawn at the next refresh (a client connected). */
    void (*invalidate)(void *opaque);
} DisplayDevOps;

typedef struct DisplayListenerOps {
    void (*resize)(void *opaque, DisplaySurface *s);    /* new surface */
    void (*update)(void *opaque, int x, int y, int w, int h);
    void (*refresh_done)(void *opaque);                 /* after each refresh */
} DisplayListenerOps;

/* The graphics device (VGA) registers itself; NULL dev ops = no device
 * (-vga none): the surface is a 640x480 black screen. */
void display_register_device(const DisplayDevOps *ops, void *opaque);
DisplaySurface *display_surface(void);
/* Replace the surface with a width x height one (cleared); listeners get
 * resize.  No-op if the size is unchanged.  1 <= w, h <= 16384. */
void display_resize(int width, int height);
void display_dirty(int x, int y, int w, int h);   /* clipped to the surface */
/* Listener count drives the refresh timer; add returns a handle. */
void *display_add_listener(const DisplayListenerOps *ops, void *opaque);
void display_remove_listener(void *handle);
/* Run one refresh now (screendump, tests). */
void display_refresh_now(void);
/* The user did something (a key, the pointer): refresh at full rate again
 * (an unchanging screen is refreshed less and less often, down to every 3 s). */
void display_activity(void);
/* Write the surface after a refresh: PPM (P6), or PNG when png.  -1 and a
 * one-line message in err. */
int display_screendump(const char *path, bool png, char *err, size_t errlen);

/* ---- input (ui/input.c) ---- */
/*
 * Keys are Linux input event codes (<linux/input-event-codes.h>: KEY_A,
 * KEY_LEFTCTRL, ...), the common currency between VNC keysyms, monitor
 * sendkey names, PS/2 scancode sets and virtio-input.
 *
 * Handlers (the PS/2 keyboard and mouse, virtio-input devices) register
 * for the kinds of event they take; an event goes to the most recently
 * registered handler of its kind (QEMU's rule: a virtio-tablet added after
 * the PS/2 mouse takes the absolute events).  Relative pointer events go
 * to a relative handler; absolute events go to an absolute handler if one
 * exists, else they are turned into relative motion for the relative one.
 */
#define INPUT_BUTTON_LEFT 0x01
#define INPUT_BUTTON_RIGHT 0x02
#define INPUT_BUTTON_MIDDLE 0x04
#define INPUT_ABS_MAX 0x7fff     /* absolute coordinates are 0..INPUT_ABS_MAX */

enum { INPUT_KIND_KEY = 1, INPUT_KIND_REL = 2, INPUT_KIND_ABS = 4 };
typedef struct InputHandler {
    const char *name;
    unsigned kinds;
    void (*key)(void *opaque, unsigned keycode, bool down);
    /* dz: wheel steps (positive = towards the user / down) */
    void (*rel)(void *opaque, int dx, int dy, int dz, unsigned buttons);
    void (*abs)(void *opaque, int x, int y, int dz, unsigned buttons);
    void *opaque;
} InputHandler;
void input_register_handler(const InputHandler *h);
void input_unregister_handler(const InputHandler *h);

void input_key_event(unsigned keycode, bool down);
void input_pointer_rel(int dx, int dy, int dz, unsigned buttons);
/* x, y in 0..INPUT_ABS_MAX across the screen. */
void input_pointer_abs(int x, int y, int dz, unsigned buttons);
/* Does some handler take absolute events (a tablet)? */
bool input_has_absolute(void);
/* Does some handler take key events (the monitor's sendkey checks)? */
bool input_has_keyboard(void);

/* Keyboard layouts for -k (ui/keymaps.c): X keysym -> Linux keycode plus
 * whether the layout needs shift/altgr for it.  "en-us" is built in;
 * others are read from QEMU's keymap files (Debian's qemu-system-data,
 * /usr/share/qemu/keymaps).  -1 with a message on an unknown layout. */
int keymap_set_layout(const char *layout);
/* 0 when the keysym has no key in the layout. */
unsigned keymap_keysym_to_keycode(uint32_t keysym, bool *needs_shift, bool *needs_altgr);
/* PC scan code set 1 make code, 0x80 | code for the 0xe0-prefixed keys (the
 * numbers in QEMU's keymap files) -> Linux key code; 0 if none. */
unsigned keymap_set1_to_keycode(unsigned code);
/* X keysym name ("adiaeresis", "XF86AudioMute", "0x1000a0", "U20AC") ->
 * keysym; 0 if unknown. */
uint32_t keymap_keysym_from_name(const char *name);

/* ---- VNC server (ui/vnc.c) ---- */
/*
 * -vnc DISPLAY[,password=on][,...]: ":N" (all addresses, port 5900+N),
 * "HOST:N", "unix:PATH", "none" (the server exists for the monitor but
 * listens nowhere).  Checked by vnc_parse (-1 + message), started by
 * vnc_start once the machine and main loop exist.  The monitor commands
 * (info vnc, change vnc password, set_password, screendump, mouse_move)
 * are registered by vnc_monitor_init (ui/ or monitor/cmd-display.c). 
 */
int vnc_parse(const char *spec);
int vnc_start(void);
bool vnc_enabled(void);
/* Monitor support (ui/vnc.c, for monitor/cmd-display.c and the change
 * command).  -1 with QEMU's message in err ("Could not set password" when
 * VNC or password=on is absent). */
int vnc_set_password(const char *password, char *err, size_t errlen);
/* "now", "never", "+SECONDS" or an absolute time_t. */
int vnc_expire_password(const char *when, char *err, size_t errlen);
struct json_object;
/* query-vnc's VncInfo: enabled, host, service, family, auth, clients. */
struct json_object *vnc_query(void);
/* The listening sockets: [{host, service, family, auth}], for info vnc. */
struct json_object *vnc_query_servers(void);
void display_monitor_init(void);

#endif
