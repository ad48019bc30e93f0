/*
 * The input layer: key and pointer events from the VNC server and the
 * monitor, delivered to the guest's input devices (PS/2 keyboard and
 * mouse behind the i8042, virtio-input devices).
 *
 * Routing follows QEMU's rule: an event goes to the most recently
 * registered handler that takes its kind, so a virtio-tablet added after
 * the PS/2 mouse receives the absolute events.  Absolute events with no
 * absolute handler become relative motion for the relative handler,
 * computed against the last absolute position seen.
 */
#include <stdlib.h>

#include "ui.h"
#include "util.h"

#define MAX_HANDLERS 16

static const InputHandler *handlers[MAX_HANDLERS];
static unsigned nhandlers;

/* Last absolute position, for turning absolute events into relative ones;
 * -1: none seen yet. */
static int last_abs_x = -1, last_abs_y = -1;

void input_register_handler(const InputHandler *h)
{
    input_unregister_handler(h);
    if (nhandlers == MAX_HANDLERS) {
        error_report("input: too many input handlers, %s ignored", h->name);
        return;
    }
    handlers[nhandlers++] = h;
}

void input_unregister_handler(const InputHandler *h)
{
    for (unsigned i = 0; i < nhandlers; i++) {
        if (handlers[i] == h) {
            for (unsigned j = i + 1; j < nhandlers; j++)
                handlers[j - 1] = handlers[j];
            nhandlers--;
            return;
        }
    }
}

/* The newest handler of kind, or NULL. */
static const InputHandler *find_handler(unsigned kind)
{
    for (unsigned i = nhandlers; i-- > 0;) {
        if (handlers[i]->kinds & kind)
            return handlers[i];
    }
    return NULL;
}

void input_key_event(unsigned keycode, bool down)
{
    display_activity();     /* the user may expect the screen to answer */
    const InputHandler *h = find_handler(INPUT_KIND_KEY);

    if (h && h->key)
        h->key(h->opaque, keycode, down);
}

void input_pointer_rel(int dx, int dy, int dz, unsigned buttons)
{
    display_activity();     /* the user may expect the screen to answer */
    const InputHandler *h = find_handler(INPUT_KIND_REL);

    if (h && h->rel)
        h->rel(h->opaque, dx, dy, dz, buttons);
}

static int clamp_abs(int v)
{
    return v < 0 ? 0 : v > INPUT_ABS_MAX ? INPUT_ABS_MAX : v;
}

static int to_pixels(int v)
{
    return (int)((long)v * 1024 / (INPUT_ABS_MAX + 1));
}

/*
 * No tablet: move the relative pointer by the difference to the last
 * absolute position, scaled from 0..INPUT_ABS_MAX to a nominal 1024-pixel
 * screen so the guest cursor moves by roughly the viewer's pixels.
 */
static void abs_as_rel(int x, int y, int dz, unsigned buttons)
{
    int dx = 0, dy = 0;

    /* Differences of the scaled positions, so slow moves do not round away. */
    if (last_abs_x >= 0) {
        dx = to_pixels(x) - to_pixels(last_abs_x);
        dy = to_pixels(y) - to_pixels(last_abs_y);
    }
    input_pointer_rel(dx, dy, dz, buttons);
}

void input_pointer_abs(int x, int y, int dz, unsigned buttons)
{
    display_activity();     /* the user may expect the screen to answer */
    const InputHandler *h = find_handler(INPUT_KIND_ABS);

    x = clamp_abs(x);
    y = clamp_abs(y);
    if (h && h->abs)
        h->abs(h->opaque, x, y, dz, buttons);
    else
        abs_as_rel(x, y, dz, buttons);
    last_abs_x = x;
    last_abs_y = y;
}

bool input_has_absolute(void)
{
    return find_handler(INPUT_KIND_ABS) != NULL;
}

bool input_has_keyboard(void)
{
    return find_handler(INPUT_KIND_KEY) != NULL;
}
