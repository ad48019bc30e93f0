/*
 * Display and input monitor commands: info vnc / query-vnc, set_password,
 * expire_password, screendump, mouse_move, mouse_button and QMP's
 * input-send-event.  Names, arguments and messages follow QEMU 7.2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "monitor.h"
#include "ui.h"
#include "util.h"

static const char *arg_str(json_object *args, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_string(v) : NULL;
}

static bool arg_has(json_object *args, const char *key)
{
    return json_object_object_get_ex(args, key, NULL);
}

static int64_t arg_int(json_object *args, const char *key, int64_t dflt)
{
    json_object *v;
    return json_object_object_get_ex(args, key, &v) ? json_object_get_int64(v) : dflt;
}

static const char *obj_str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : "";
}

/* ---- info vnc / query-vnc ---- */

static json_object *qmp_query_vnc(json_object *args, MonError *err)
{
    return vnc_query();
}

/* HMP: QEMU 7.2's layout, built from the servers and the clients. */
static json_object *hmp_info_vnc(json_object *args, MonError *err)
{
    json_object *o = json_object_new_object();
    json_object *info = vnc_query();
    json_object *clients;
    json_object_object_add(o, "servers", vnc_query_servers());
    if (json_object_object_get_ex(info, "clients", &clients))
        json_object_object_add(o, "clients", json_object_get(clients));
    json_object_put(info);
    return o;
}

static void print_endpoint(Monitor *mon, const char *what, json_object *e)
{
    const char *family = obj_str(e, "family");
    if (!strcmp(family, "unix"))
        monitor_printf(mon, "  %s: %s (unix)\n", what, obj_str(e, "host"));
    else if (!strcmp(family, "ipv6"))
        monitor_printf(mon, "  %s: %s:%s (ipv6)\n", what, obj_str(e, "host"), obj_str(e, "service"));
    else
        monitor_printf(mon, "  %s: %s:%s (%s)\n", what, obj_str(e, "host"), obj_str(e, "service"),
                       family);
}

static void hmp_print_info_vnc(Monitor *mon, json_object *r)
{
    json_object *servers, *clients;
    if (!json_object_object_get_ex(r, "servers", &servers) ||
        json_object_array_length(servers) == 0) {
        monitor_printf(mon, "None\n");
        return;
    }
    monitor_printf(mon, "default:\n");
    for (size_t i = 0; i < json_object_array_length(servers); i++) {
        json_object *s = json_object_array_get_idx(servers, i);
        print_endpoint(mon, "Server", s);
        monitor_printf(mon, "    Auth: %s (Sub: none)\n", obj_str(s, "auth"));
    }
    if (!json_object_object_get_ex(r, "clients", &clients))
        return;
    for (size_t i = 0; i < json_object_array_length(clients); i++) {
        print_endpoint(mon, "Client", json_object_array_get_idx(clients, i));
        monitor_printf(mon, "    x509_dname: none\n    sasl_username: none\n");
    }
}

/* ---- passwords ---- */

static bool check_protocol(json_object *args, MonError *err)
{
    const char *p = arg_str(args, "protocol");
    if (p && !strcmp(p, "vnc"))
        return true;
    if (p && !strcmp(p, "spice"))
        mon_error_set(err, ERROR_CLASS_GENERIC, "SPICE is not in use");
    else
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'protocol' does not accept value '%s'",
                      p ? p : "");
    return false;
}

static json_object *qmp_set_password(json_object *args, MonError *err)
{
    if (!check_protocol(args, err))
        return NULL;
    const char *connected = arg_str(args, "connected");
    if (connected && strcmp(connected, "keep")) {
        if (strcmp(connected, "fail") && strcmp(connected, "disconnect"))
            mon_error_set(err, ERROR_CLASS_GENERIC,
                          "Parameter 'connected' does not accept value '%s'", connected);
        else
            mon_error_set(err, ERROR_CLASS_GENERIC, "'connected' can only be 'keep' for VNC");
        return NULL;
    }
    char msg[128];
    if (vnc_set_password(arg_str(args, "password"), msg, sizeof(msg)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", msg);
    return NULL;
}

static json_object *qmp_expire_password(json_object *args, MonError *err)
{
    if (!check_protocol(args, err))
        return NULL;
    char msg[128];
    if (vnc_expire_password(arg_str(args, "time"), msg, sizeof(msg)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", msg);
    return NULL;
}

/* ---- screendump ---- */

static json_object *qmp_screendump(json_object *args, MonError *err)
{
    const char *format = arg_str(args, "format");
    bool png = false;
    if (format && !strcmp(format, "png"))
        png = true;
    else if (format && strcmp(format, "ppm")) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'format' does not accept value '%s'",
                      format);
        return NULL;
    }
    const char *device = arg_str(args, "device");
    if (device) {
        mon_error_set(err, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", device);
        return NULL;
    }
    if (arg_int(args, "head", 0) != 0) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "There is no console to take a screendump from");
        return NULL;
    }
    char msg[256];
    if (display_screendump(arg_str(args, "filename"), png, msg, sizeof(msg)) < 0)
        mon_error_set(err, ERROR_CLASS_GENERIC, "%s", msg);
    return NULL;
}

/* ---- pointer ---- */

static unsigned mouse_buttons;     /* the state mouse_button set last */
static int abs_x, abs_y;           /* the tablet position, in 0..INPUT_ABS_MAX */

static int clamp_abs(int64_t v)
{
    return v < 0 ? 0 : v > INPUT_ABS_MAX ? INPUT_ABS_MAX : (int)v;
}

/* Pixels of the screen to the absolute range, as QEMU scales. */
static int pixels_to_abs(int64_t v, int size)
{
    if (size <= 1)
        return 0;
    return clamp_abs(v * INPUT_ABS_MAX / (size - 1));
}

/* With a tablet QEMU takes dx/dy as a position on the screen, else as motion. */
static json_object *hmp_mouse_move(json_object *args, MonError *err)
{
    int64_t dx = arg_int(args, "dx", 0), dy = arg_int(args, "dy", 0);
    int dz = (int)MAX(MIN(arg_int(args, "dz", 0), 127), -127);
    if (input_has_absolute()) {
        DisplaySurface *s = display_surface();
        abs_x = pixels_to_abs(dx, s->width);
        abs_y = pixels_to_abs(dy, s->height);
        input_pointer_abs(abs_x, abs_y, dz, mouse_buttons);
    } else {
        input_pointer_rel((int)MAX(MIN(dx, 65535), -65535), (int)MAX(MIN(dy, 65535), -65535), dz,
                          mouse_buttons);
    }
    return NULL;
}

static json_object *hmp_mouse_button(json_object *args, MonError *err)
{
    mouse_buttons = (unsigned)arg_int(args, "button_state", 0) &
                    (INPUT_BUTTON_LEFT | INPUT_BUTTON_RIGHT | INPUT_BUTTON_MIDDLE);
    if (input_has_absolute())
        input_pointer_abs(abs_x, abs_y, 0, mouse_buttons);
    else
        input_pointer_rel(0, 0, 0, mouse_buttons);
    return NULL;
}

/* ---- input-send-event ---- */
/*
 * QEMU's InputEvent union: key {down, key: KeyValue}, btn {down, button},
 * rel {axis, value}, abs {axis, value}.  Keys go out in order; pointer
 * motion, buttons and wheel steps are summed and sent once at the end
 * (QEMU's input sync).
 */
typedef struct PendingPointer {
    bool rel, abs, btn;
    int dx, dy, dz;
    int64_t x, y;
} PendingPointer;

static json_object *member(json_object *o, const char *key, json_type type, const char *what,
                           MonError *err)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter '%s' is missing", what);
        return NULL;
    }
    if (!json_object_is_type(v, type)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Invalid parameter type for '%s', expected: %s",
                      what,
                      type == json_type_boolean  ? "boolean"
                      : type == json_type_int    ? "integer"
                      : type == json_type_string ? "string"
                                                 : "object");
        return NULL;
    }
    return v;
}

static int key_event(json_object *data, MonError *err)
{
    json_object *down = member(data, "down", json_type_boolean, "data.down", err);
    json_object *key = down ? member(data, "key", json_type_object, "data.key", err) : NULL;
    json_object *type = key ? member(key, "type", json_type_string, "data.key.type", err) : NULL;
    if (!type)
        return -1;
    int idx = -1;
    json_object *kd;
    if (!strcmp(json_object_get_string(type), "qcode")) {
        if (!(kd = member(key, "data", json_type_string, "data.key.data", err)))
            return -1;
        idx = keymap_lookup(json_object_get_string(kd));
    } else if (!strcmp(json_object_get_string(type), "number")) {
        if (!(kd = member(key, "data", json_type_int, "data.key.data", err)))
            return -1;
        idx = keymap_from_number((uint64_t)json_object_get_int64(kd));
    } else {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'data.key.type' does not accept value '%s'",
                      json_object_get_string(type));
        return -1;
    }
    unsigned code = idx >= 0 ? keymap_keycode(idx) : 0;
    if (!code) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'data.key.data' does not accept value '%s'",
                      json_object_get_string(kd));
        return -1;
    }
    input_key_event(code, json_object_get_boolean(down));
    return 0;
}

static int btn_event(json_object *data, PendingPointer *p, MonError *err)
{
    json_object *down = member(data, "down", json_type_boolean, "data.down", err);
    json_object *b = down ? member(data, "button", json_type_string, "data.button", err) : NULL;
    if (!b)
        return -1;
    const char *name = json_object_get_string(b);
    bool d = json_object_get_boolean(down);
    unsigned bit = !strcmp(name, "left")     ? INPUT_BUTTON_LEFT
                   : !strcmp(name, "right")  ? INPUT_BUTTON_RIGHT
                   : !strcmp(name, "middle") ? INPUT_BUTTON_MIDDLE
                                             : 0;
    if (bit) {
        mouse_buttons = d ? mouse_buttons | bit : mouse_buttons & ~bit;
    } else if (!strcmp(name, "wheel-up") || !strcmp(name, "wheel-down")) {
        if (d)
            p->dz += name[6] == 'u' ? -1 : 1;
    } else if (strcmp(name, "side") && strcmp(name, "extra") && strcmp(name, "wheel-left") &&
               strcmp(name, "wheel-right")) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'data.button' does not accept value '%s'",
                      name);
        return -1;
    }
    p->btn = true;
    return 0;
}

static int axis_event(json_object *data, bool absolute, PendingPointer *p, MonError *err)
{
    json_object *axis = member(data, "axis", json_type_string, "data.axis", err);
    json_object *value = axis ? member(data, "value", json_type_int, "data.value", err) : NULL;
    if (!value)
        return -1;
    const char *a = json_object_get_string(axis);
    int64_t v = json_object_get_int64(value);
    bool x = !strcmp(a, "x");
    if (!x && strcmp(a, "y")) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'data.axis' does not accept value '%s'", a);
        return -1;
    }
    if (absolute) {
        p->abs = true;
        *(x ? &p->x : &p->y) = v;
    } else {
        p->rel = true;
        int c = (int)MAX(MIN(v, 65535), -65535);
        *(x ? &p->dx : &p->dy) += c;
    }
    return 0;
}

static int one_event(json_object *ev, PendingPointer *p, MonError *err)
{
    if (!json_object_is_type(ev, json_type_object)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Invalid parameter type for 'events[0]', expected: object");
        return -1;
    }
    json_object *type = member(ev, "type", json_type_string, "type", err);
    json_object *data = type ? member(ev, "data", json_type_object, "data", err) : NULL;
    if (!data)
        return -1;
    const char *t = json_object_get_string(type);
    if (!strcmp(t, "key"))
        return key_event(data, err);
    if (!strcmp(t, "btn"))
        return btn_event(data, p, err);
    if (!strcmp(t, "rel") || !strcmp(t, "abs"))
        return axis_event(data, t[0] == 'a', p, err);
    mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'type' does not accept value '%s'", t);
    return -1;
}

static void flush_pointer(const PendingPointer *p)
{
    if (p->abs) {
        if (p->x >= 0)
            abs_x = clamp_abs(p->x);
        if (p->y >= 0)
            abs_y = clamp_abs(p->y);
        input_pointer_abs(abs_x, abs_y, p->dz, mouse_buttons);
    } else if (p->rel || p->btn) {
        if (input_has_absolute() && !p->rel)
            input_pointer_abs(abs_x, abs_y, p->dz, mouse_buttons);
        else
            input_pointer_rel(p->dx, p->dy, p->dz, mouse_buttons);
    }
}

static json_object *qmp_input_send_event(json_object *args, MonError *err)
{
    json_object *events;
    if (arg_has(args, "device")) {
        mon_error_set(err, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found",
                      arg_str(args, "device"));
        return NULL;
    }
    if (!json_object_object_get_ex(args, "events", &events) ||
        !json_object_is_type(events, json_type_array)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Invalid parameter type for 'events', expected: array");
        return NULL;
    }
    PendingPointer p = { .x = -1, .y = -1 };
    for (size_t i = 0; i < json_object_array_length(events); i++) {
        if (one_event(json_object_array_get_idx(events, i), &p, err) < 0)
            return NULL;
    }
    flush_pointer(&p);
    return NULL;
}

/* ---- the table ---- */

static const MonCommand display_commands[] = {
    { "query-vnc", NULL, "", "", "show the vnc server status", qmp_query_vnc, NULL },
    { NULL, "info vnc", "", "", "show the vnc server status", hmp_info_vnc, hmp_print_info_vnc },
    { "set_password", NULL, "protocol:s,password:s,connected:s?,display:s?", "",
      "set spice/vnc password", qmp_set_password, NULL },
    { "expire_password", NULL, "protocol:s,time:s,display:s?", "",
      "set spice/vnc password expire-time", qmp_expire_password, NULL },
    { NULL, "expire_password", "protocol:s,time:s", "protocol time",
      "set spice/vnc password expire-time", qmp_expire_password, NULL },
    { "screendump", NULL, "filename:s,device:s?,head:i?,format:s?", "",
      "save screen from head 'head' of display device 'device' in specified format "
      "'format' as image 'filename'",
      qmp_screendump, NULL },
    { NULL, "screendump", "filename:s,f:-f,format:s?", "filename [-f format]",
      "save screen as image 'filename' (format ppm or png)", qmp_screendump, NULL },
    { NULL, "mouse_move", "dx:i,dy:i,dz:i?", "dx dy [dz]", "send mouse move events",
      hmp_mouse_move, NULL },
    { NULL, "mouse_button", "button_state:i", "state", "change mouse button state (1=L, 2=R, 4=M)",
      hmp_mouse_button, NULL },
    { "input-send-event", NULL, "device:s?,head:i?,events:a", "", "send input events",
      qmp_input_send_event, NULL },
};

void display_monitor_init(void)
{
    monitor_register_commands(display_commands, ARRAY_SIZE(display_commands));
}
