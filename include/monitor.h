/*
 * The monitor: ONE command table, two syntaxes over it.
 *
 *  - Every command is a MonCommand: a C function taking its arguments as a
 *    json-c object (already type-checked against the command's argument
 *    spec) and returning a json-c result or an error.
 *  - HMP (monitor/hmp.c) parses "balloon 512" into {"value": 512} with the
 *    same spec, calls the function and prints the result with hmp_print.
 *  - QMP (monitor/qmp.c) checks {"execute": ..., "arguments": {...}} against
 *    the spec and returns {"return": result} or {"error": ...}.
 *  - monitor/monitor.c runs monitors on chardevs (-monitor, -qmp, -mon,
 *    the -nographic mux), with line editing for HMP.
 * All command functions run on the main thread with the big lock held.
 */
#ifndef VMM_MONITOR_H
#define VMM_MONITOR_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chardev.h"

/* ---- errors (QMP's classes, qapi/error.json) ---- */
typedef enum {
    ERROR_CLASS_GENERIC,             /* "GenericError" */
    ERROR_CLASS_COMMAND_NOT_FOUND,   /* "CommandNotFound" */
    ERROR_CLASS_DEVICE_NOT_ACTIVE,   /* "DeviceNotActive" */
    ERROR_CLASS_DEVICE_NOT_FOUND,    /* "DeviceNotFound" */
    ERROR_CLASS_KVM_MISSING_CAP,     /* "KVMMissingCap" */
} ErrorClass;

typedef struct MonError {
    bool set;
    ErrorClass cls;
    char desc[256];
} MonError;

void mon_error_set(MonError *err, ErrorClass cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *error_class_name(ErrorClass cls);

/* ---- the command table (monitor/cmdtable.c) ---- */
/*
 * Argument spec: comma-separated "name:type", a trailing '?' makes it
 * optional.  Types:
 *   s  string (HMP: one word, or a "quoted string")
 *   S  string, HMP: the rest of the line
 *   i  integer (int64; HMP accepts 0x hex and negative numbers)
 *   o  size (HMP: with k/M/G/T suffix, default bytes... MiB for balloon-like
 *      commands is the command's business: it gets the number as parsed)
 *   b  boolean (HMP: on/off)
 *   a  QMP only: a JSON array (send-key's "keys")
 *   /  HMP only: a "/NFU" format (count, format x d u o t c i a, unit b h w g)
 *      stored as {"count": N, "format": "x", "size": 4}
 *   -X HMP only: a flag "-X" (e.g. "all:-a" for "info registers -a"),
 *      stored as boolean true when given
 * Example: "fmt:/,addr:i" for x/xp; "value:i" for balloon; "index:i" for cpu.
 */
typedef struct Monitor Monitor;

typedef struct MonCommand {
    const char *qmp_name;   /* e.g. "query-status"; NULL: HMP only */
    const char *hmp_name;   /* e.g. "info status", "stop", "q"; NULL: QMP only */
    const char *args;       /* spec as above ("" for none) */
    const char *hmp_params; /* HMP usage text, e.g. "[-a]" or "/fmt addr" */
    const char *help;       /* one line */
    /* The command.  args is a JSON object (never NULL).  Return the result
     * (NULL means an empty object) or set err. */
    json_object *(*run)(json_object *args, MonError *err);
    /* HMP rendering of a successful result; NULL prints nothing. */
    void (*hmp_print)(Monitor *mon, json_object *result);
} MonCommand;

/* Add a block of commands (static tables; called once at startup). */
void monitor_register_commands(const MonCommand *cmds, size_t n);
const MonCommand *monitor_find_qmp(const char *name);
/* name as typed: "stop", "info status", "q" (aliases are separate rows). */
const MonCommand *monitor_find_hmp(const char *name);
/* Iterate all commands: i from 0 until NULL. */
const MonCommand *monitor_command_at(size_t i);
/*
 * QMP argument check against cmd->args: a missing mandatory argument
 * ("Parameter 'value' is missing"), an unknown one ("Parameter 'x' is
 * unexpected"), a wrong type ("Invalid parameter type for 'value', expected:
 * integer"), all GenericError as QEMU says them.  Returns 0 or -1.
 */
int monitor_check_args(const MonCommand *cmd, json_object *args, MonError *err);

/* ---- HMP (monitor/hmp.c) ---- */
/* Parse one command line into cmd + args (a new object); -1 + err on bad
 * input ("unknown command: 'foo'", "invalid char in expression", ...). */
int hmp_parse(const char *line, const MonCommand **cmd, json_object **args, MonError *err);
/* Parse and run a line, printing the result or "Error: <desc>" to mon. */
void hmp_execute(Monitor *mon, const char *line);

/* ---- QMP (monitor/qmp.c) ---- */
/* Handle one parsed request object; returns the response object to send
 * (never NULL).  negotiated: the session's capabilities state. */
json_object *qmp_dispatch(json_object *request, bool *negotiated);
/*
 * A QMP session on one connection: feed it the bytes received, it calls
 * send() with each complete JSON text to write (greeting, responses,
 * events), each ending in "\r\n" like QEMU.  Streams may hold several
 * objects per read or one object over many reads; oversized or malformed
 * input gets an error response and the parser resynchronises.
 */
typedef struct QmpSession QmpSession;
QmpSession *qmp_session_new(void (*send)(void *opaque, const char *text), void *opaque,
                            bool pretty);
void qmp_session_input(QmpSession *s, const uint8_t *buf, size_t len);
void qmp_session_free(QmpSession *s);
/* Emit an event to every negotiated QMP monitor, with QEMU's timestamp
 * {"seconds":..,"microseconds":..}.  Takes ownership of data (may be NULL). */
void monitor_event(const char *name, json_object *data);
/* Register the QMP-only commands (qmp_capabilities, query-commands,
 * human-monitor-command) and install the run-state event hook that emits
 * STOP, RESUME, RESET, SHUTDOWN and POWERDOWN.  Call once at startup. */
void qmp_events_init(void);
/* Serialise a value the way QEMU's QMP does: {"a": 1, "b": [1, 2]} (or
 * indented with pretty).  Returns a new string for free(). */
char *qmp_to_json(json_object *o, bool pretty);

/* ---- monitors on chardevs (monitor/monitor.c) ---- */
typedef enum { MONITOR_HMP, MONITOR_QMP } MonitorMode;
/* Start a monitor on an open chardev (-monitor, -qmp, -mon).  For the
 * stdio mux ("mon:stdio", -nographic) it attaches through
 * chardev_mux_set_monitor. */
Monitor *monitor_new(Chardev *chr, MonitorMode mode, bool pretty);
/* A monitor that prints into a memory buffer (human-monitor-command). */
Monitor *monitor_new_buffer(void);
/* The captured output of a buffer monitor; valid until monitor_free. */
const char *monitor_buffer(Monitor *mon);
void monitor_free(Monitor *mon);
void monitor_printf(Monitor *mon, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Is any monitor attached (decides whether a crashed guest keeps vmm alive). */
bool monitor_present(void);
/* Register every command of the machine (monitor/commands.c). */
void monitor_commands_init(void);

#endif
