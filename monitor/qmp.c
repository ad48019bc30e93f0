/*
 * QMP: the JSON syntax over the command table (docs/interop/qmp-spec in
 * QEMU describes the protocol: greeting, capabilities negotiation,
 * {"execute", "arguments", "id"} requests, {"return"}/{"error"} replies,
 * asynchronous {"event"} messages with a timestamp).
 *
 * A session frames its input itself: a small scanner follows strings and
 * bracket nesting to find where each top-level JSON text ends, and only a
 * complete text goes to json-c.  That gives a hard cap on one request's
 * size and a simple way to resynchronise after garbage: an oversized text
 * is skipped up to its matching close bracket, a malformed one is answered
 * with an error and parsing goes on after it, as QEMU's JSON streamer does.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "commands.h"
#include "config-host.h"
#include "cpu.h"
#include "hw.h"
#include "monitor.h"
#include "util.h"

#define QMP_MAX_TEXT   (1024 * 1024)   /* one request, bytes */
#define QMP_MAX_DEPTH  1024            /* nesting, as QEMU's parser */

struct QmpSession {
    void (*send)(void *opaque, const char *text);
    void *opaque;
    bool pretty;
    bool negotiated;

    /* the framing scanner */
    char *buf;              /* the current top-level text */
    size_t len, cap;
    int depth;
    bool in_string, escape;
    char quote;             /* '"' or '\'' (QEMU accepts single quotes) */
    bool discarding;        /* oversized: skip to the end of this text */

    int busy;               /* inside qmp_session_input */
    bool freed;             /* qmp_session_free ran while busy */
    QmpSession *next;
};

static QmpSession *sessions;

/* ------------------------------------------------------ serialisation */

typedef struct StrBuf {
    char *s;
    size_t len, cap;
} StrBuf;

static void sb_add(StrBuf *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        sb->cap = (sb->len + n + 1) * 2;
        sb->s = xrealloc(sb->s, sb->cap);
    }
    memcpy(sb->s + sb->len, s, n);
    sb->len += n;
    sb->s[sb->len] = '\0';
}

static void sb_puts(StrBuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

static void sb_indent(StrBuf *sb, bool pretty, int level)
{
    if (!pretty)
        return;
    sb_puts(sb, "\n");
    for (int i = 0; i < level; i++)
        sb_puts(sb, "    ");
}

static void emit_value(StrBuf *sb, json_object *o, bool pretty, int level);

/* A scalar as json-c writes it ("/" left alone, as QEMU does). */
static void emit_scalar(StrBuf *sb, json_object *o)
{
    sb_puts(sb, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void emit_object(StrBuf *sb, json_object *o, bool pretty, int level)
{
    bool first = true;
    sb_puts(sb, "{");
    json_object_object_foreach(o, key, val) {
        if (!first)
            sb_puts(sb, pretty ? "," : ", ");
        first = false;
        sb_indent(sb, pretty, level + 1);
        json_object *k = json_object_new_string(key);
        emit_scalar(sb, k);
        json_object_put(k);
        sb_puts(sb, ": ");
        emit_value(sb, val, pretty, level + 1);
    }
    /* QEMU breaks the line even in an empty one: "{\n    }". */
    sb_indent(sb, pretty, level);
    sb_puts(sb, "}");
}

static void emit_array(StrBuf *sb, json_object *o, bool pretty, int level)
{
    size_t n = json_object_array_length(o);
    sb_puts(sb, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(sb, pretty ? "," : ", ");
        sb_indent(sb, pretty, level + 1);
        emit_value(sb, json_object_array_get_idx(o, i), pretty, level + 1);
    }
    sb_indent(sb, pretty, level);
    sb_puts(sb, "]");
}

static void emit_value(StrBuf *sb, json_object *o, bool pretty, int level)
{
    if (json_object_is_type(o, json_type_object))
        emit_object(sb, o, pretty, level);
    else if (json_object_is_type(o, json_type_array))
        emit_array(sb, o, pretty, level);
    else
        emit_scalar(sb, o);
}

char *qmp_to_json(json_object *o, bool pretty)
{
    StrBuf sb = { 0 };
    emit_value(&sb, o, pretty, 0);
    return sb.s;
}

/*
 * Send one message, "\r\n"-terminated as QEMU does; takes ownership.  QEMU
 * writes every monitor newline as "\r\n", the pretty layout's too (a raw
 * newline cannot occur inside a JSON string).
 */
static void session_send(QmpSession *s, json_object *msg)
{
    char *text = qmp_to_json(msg, s->pretty);
    StrBuf line = { 0 };
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            sb_puts(&line, "\r\n");
        else
            sb_add(&line, p, 1);
    }
    sb_puts(&line, "\r\n");
    s->send(s->opaque, line.s);
    free(line.s);
    free(text);
    json_object_put(msg);
}

/* --------------------------------------------------------- responses */

static json_object *error_response(ErrorClass cls, const char *desc)
{
    json_object *err = json_object_new_object();
    json_object_object_add(err, "class", json_object_new_string(error_class_name(cls)));
    json_object_object_add(err, "desc", json_object_new_string(desc));
    json_object *rsp = json_object_new_object();
    json_object_object_add(rsp, "error", err);
    return rsp;
}

static json_object *error_responsef(ErrorClass cls, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_object *error_responsef(ErrorClass cls, const char *fmt, ...)
{
    char desc[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    return error_response(cls, desc);
}

static json_object *return_response(json_object *result)
{
    json_object *rsp = json_object_new_object();
    json_object_object_add(rsp, "return", result ? result : json_object_new_object());
    return rsp;
}

/* ---------------------------------------------------------- dispatch */

/*
 * The request's own members (qmp-spec "Issuing Commands"): execute (or
 * exec-oob) must be a string, arguments an object, id anything; nothing
 * else is allowed.  NULL when well formed.
 */
static json_object *check_request(json_object *req, const char **name)
{
    *name = NULL;
    json_object_object_foreach(req, key, val) {
        if (!strcmp(key, "execute") || !strcmp(key, "exec-oob")) {
            if (!json_object_is_type(val, json_type_string))
                return error_responsef(ERROR_CLASS_GENERIC,
                                       "QMP input member '%s' must be a string", key);
            *name = json_object_get_string(val);
        } else if (!strcmp(key, "arguments")) {
            if (!json_object_is_type(val, json_type_object))
                return error_response(ERROR_CLASS_GENERIC,
                                      "QMP input member 'arguments' must be an object");
        } else if (strcmp(key, "id")) {
            return error_responsef(ERROR_CLASS_GENERIC,
                                   "QMP input member '%s' is unexpected", key);
        }
    }
    if (!*name)
        return error_response(ERROR_CLASS_GENERIC, "QMP input lacks member 'execute'");
    return NULL;
}

/*
 * qmp_capabilities' arguments, checked as QEMU's generated visitor does
 * before the command runs: "enable" first, then anything unexpected.  An
 * unknown capability fails the QMPCapability enum visit, which QEMU 7.2
 * reports with the name 'null' (a list element has no name of its own).
 */
static json_object *check_capabilities_args(json_object *args)
{
    json_object *enable;
    if (json_object_object_get_ex(args, "enable", &enable)) {
        if (!json_object_is_type(enable, json_type_array))
            return error_response(ERROR_CLASS_GENERIC,
                                  "Invalid parameter type for 'enable', expected: array");
        for (size_t i = 0; i < json_object_array_length(enable); i++) {
            json_object *cap = json_object_array_get_idx(enable, i);
            if (!json_object_is_type(cap, json_type_string))
                return error_responsef(ERROR_CLASS_GENERIC,
                                       "Invalid parameter type for 'enable[%zu]', expected: "
                                       "string", i);
            if (strcmp(json_object_get_string(cap), "oob"))
                return error_responsef(ERROR_CLASS_GENERIC,
                                       "Parameter 'null' does not accept value '%.200s'",
                                       json_object_get_string(cap));
        }
    }
    json_object_object_foreach(args, key, val) {
        (void)val;
        if (strcmp(key, "enable"))
            return error_responsef(ERROR_CLASS_GENERIC, "Parameter '%.200s' is unexpected", key);
    }
    return NULL;
}

/* qmp_capabilities: the only command before negotiation (qmp-spec 4). */
static json_object *negotiate(json_object *args, bool *negotiated)
{
    json_object *bad = check_capabilities_args(args);
    if (bad)
        return bad;
    if (*negotiated)
        return error_response(ERROR_CLASS_COMMAND_NOT_FOUND,
                              "Capabilities negotiation is already complete, command ignored");
    *negotiated = true;
    return return_response(NULL);
}

static json_object *run_command(const MonCommand *cmd, json_object *args)
{
    MonError err = { 0 };
    if (monitor_check_args(cmd, args, &err) < 0)
        return error_response(err.cls, err.desc);
    json_object *result = cmd->run(args, &err);
    if (err.set) {
        json_object_put(result);
        return error_response(err.cls, err.desc);
    }
    return return_response(result);
}

static json_object *dispatch_checked(json_object *req, const char *name, bool *negotiated)
{
    json_object *args = NULL;
    json_object_object_get_ex(req, "arguments", &args);
    json_object *empty = args ? NULL : json_object_new_object();
    json_object *rsp;
    if (!strcmp(name, "qmp_capabilities"))
        rsp = negotiate(args ? args : empty, negotiated);
    else if (!*negotiated)
        rsp = error_response(ERROR_CLASS_COMMAND_NOT_FOUND,
                             "Expecting capabilities negotiation with 'qmp_capabilities'");
    else if (!monitor_find_qmp(name))
        rsp = error_responsef(ERROR_CLASS_COMMAND_NOT_FOUND,
                              "The command %s has not been found", name);
    else
        rsp = run_command(monitor_find_qmp(name), args ? args : empty);
    json_object_put(empty);
    return rsp;
}

json_object *qmp_dispatch(json_object *request, bool *negotiated)
{
    if (!json_object_is_type(request, json_type_object))
        return error_response(ERROR_CLASS_GENERIC, "QMP input must be a JSON object");
    const char *name;
    json_object *rsp = check_request(request, &name);
    if (!rsp)
        rsp = dispatch_checked(request, name, negotiated);
    json_object *id;
    if (json_object_object_get_ex(request, "id", &id))
        json_object_object_add(rsp, "id", json_object_get(id));
    return rsp;
}

/* ----------------------------------------------------- input framing */

static void send_parse_error(QmpSession *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void send_parse_error(QmpSession *s, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    session_send(s, error_responsef(ERROR_CLASS_GENERIC, "JSON parse error, %s", why));
}

static void text_reset(QmpSession *s)
{
    s->len = 0;
    s->depth = 0;
    s->in_string = s->escape = false;
    s->discarding = false;
}

/* Parse the whole of buf as one JSON value; NULL with *why on failure. */
static json_object *parse_text(const char *buf, size_t len, const char **why)
{
    if (memchr(buf, '\0', len)) {
        *why = "stray '\\u0000'";
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(QMP_MAX_DEPTH + 1);
    /* len + 1 takes the terminating NUL: it ends a trailing number. */
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len + 1);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (o && (e != json_tokener_success || json_tokener_get_parse_end(tok) < len)) {
        json_object_put(o);
        o = NULL;
        e = json_tokener_error_parse_unexpected;
    }
    if (!o)
        *why = e == json_tokener_success ? "expecting value" : json_tokener_error_desc(e);
    json_tokener_free(tok);
    return o;
}

/* A complete top-level text: parse, dispatch, answer. */
static void text_complete(QmpSession *s)
{
    bool discarded = s->discarding;
    size_t len = s->len;
    text_reset(s);
    if (discarded || len == 0)
        return;
    const char *why;
    json_object *req = parse_text(s->buf, len, &why);
    if (!req && isalpha((unsigned char)s->buf[0])) {
        /* a bare word that is not true/false/null, in QEMU's words */
        send_parse_error(s, "invalid keyword '%.*s'", (int)MIN(len, (size_t)64), s->buf);
        return;
    }
    if (!req) {
        send_parse_error(s, "%s", why);
        return;
    }
    json_object *rsp = qmp_dispatch(req, &s->negotiated);
    json_object_put(req);
    session_send(s, rsp);
}

static void text_append(QmpSession *s, char c)
{
    if (s->discarding)
        return;
    if (s->len + 2 > QMP_MAX_TEXT) {
        send_parse_error(s, "request larger than %d bytes", QMP_MAX_TEXT);
        s->discarding = true;
        return;
    }
    if (s->len + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->buf = xrealloc(s->buf, s->cap);
    }
    s->buf[s->len++] = c;
    s->buf[s->len] = '\0';
}

static bool is_json_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Inside a string: only the closing quote (not escaped) matters. */
static void scan_string_byte(QmpSession *s, uint8_t c)
{
    text_append(s, c);
    if (s->escape)
        s->escape = false;
    else if (c == '\\')
        s->escape = true;
    else if (c == (uint8_t)s->quote) {
        s->in_string = false;
        if (s->depth == 0)
            text_complete(s);   /* a bare top-level string */
    }
}

/* Outside strings, at depth 0 between texts, or inside brackets. */
static void scan_byte(QmpSession *s, uint8_t c)
{
    bool bare_pending = s->depth == 0 && (s->len > 0 || s->discarding);
    if (is_json_space(c)) {
        if (bare_pending)
            text_complete(s);   /* the end of a bare scalar or word */
        else if (s->depth > 0)
            text_append(s, c);
        return;
    }
    if (c == '{' || c == '[' || c == '"' || c == '\'') {
        if (bare_pending)
            text_complete(s);
    }
    switch (c) {
    case '{':
    case '[':
        if (s->depth >= QMP_MAX_DEPTH && !s->discarding) {
            send_parse_error(s, "nesting too deep");
            s->discarding = true;
        }
        s->depth++;
        text_append(s, c);
        return;
    case '}':
    case ']':
        if (s->depth == 0) {
            if (bare_pending)
                text_complete(s);
            send_parse_error(s, "expecting value");
            return;
        }
        text_append(s, c);
        if (--s->depth == 0)
            text_complete(s);
        return;
    case '"':
    case '\'':
        s->in_string = true;
        s->quote = c;
        text_append(s, c);
        return;
    default:
        text_append(s, c);
        return;
    }
}

void qmp_session_input(QmpSession *s, const uint8_t *buf, size_t len)
{
    s->busy++;
    for (size_t i = 0; i < len && !s->freed; i++) {
        if (s->in_string)
            scan_string_byte(s, buf[i]);
        else
            scan_byte(s, buf[i]);
    }
    s->busy--;
    if (!s->busy && s->freed)
        qmp_session_free(s);
}

/* ---------------------------------------------------------- sessions */

/* The greeting (qmp-spec 2.2), with vmm's version in QEMU's shape. */
static json_object *greeting(void)
{
    int major = 0, minor = 0, micro = 0;
    sscanf(VMM_VERSION, "%d.%d.%d", &major, &minor, &micro);
    json_object *qemu = json_object_new_object();
    json_object_object_add(qemu, "micro", json_object_new_int(micro));
    json_object_object_add(qemu, "minor", json_object_new_int(minor));
    json_object_object_add(qemu, "major", json_object_new_int(major));
    json_object *version = json_object_new_object();
    json_object_object_add(version, "qemu", qemu);
    json_object_object_add(version, "package", json_object_new_string("vmm-" VMM_VERSION));
    json_object *caps = json_object_new_array();
    json_object_array_add(caps, json_object_new_string("oob"));
    json_object *qmp = json_object_new_object();
    json_object_object_add(qmp, "version", version);
    json_object_object_add(qmp, "capabilities", caps);
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "QMP", qmp);
    return msg;
}

QmpSession *qmp_session_new(void (*send)(void *opaque, const char *text), void *opaque,
                            bool pretty)
{
    QmpSession *s = xzalloc(sizeof(*s));
    s->send = send;
    s->opaque = opaque;
    s->pretty = pretty;
    s->next = sessions;
    sessions = s;
    session_send(s, greeting());
    return s;
}

void qmp_session_free(QmpSession *s)
{
    if (!s)
        return;
    for (QmpSession **p = &sessions; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    s->next = NULL;
    /* Freed from a command or send() inside qmp_session_input: finish
     * there.  It is off the event list already. */
    if (s->busy) {
        s->freed = true;
        return;
    }
    free(s->buf);
    free(s);
}

/* ------------------------------------------------------------ events */

void monitor_event(const char *name, json_object *data)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_object *ts = json_object_new_object();
    json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
    json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "timestamp", ts);
    json_object_object_add(msg, "event", json_object_new_string(name));
    if (data)
        json_object_object_add(msg, "data", data);
    for (QmpSession *s = sessions; s; s = s->next) {
        if (s->negotiated && !s->freed)
            session_send(s, json_object_get(msg));
    }
    json_object_put(msg);
}

/* {"guest": bool, "reason": "guest-reset"} of RESET and SHUTDOWN. */
static json_object *cause_data(ShutdownCause cause)
{
    json_object *data = json_object_new_object();
    json_object_object_add(data, "guest",
                           json_object_new_boolean(shutdown_cause_is_guest(cause)));
    json_object_object_add(data, "reason", json_object_new_string(shutdown_cause_name(cause)));
    return data;
}

static void run_event(RunEvent ev, ShutdownCause cause)
{
    switch (ev) {
    case RUN_EVENT_STOP:
        monitor_event("STOP", NULL);
        break;
    case RUN_EVENT_RESUME:
        monitor_event("RESUME", NULL);
        break;
    case RUN_EVENT_RESET:
        monitor_event("RESET", cause_data(cause));
        break;
    case RUN_EVENT_SHUTDOWN:
        monitor_event("SHUTDOWN", cause_data(cause));
        break;
    case RUN_EVENT_POWERDOWN:
        monitor_event("POWERDOWN", NULL);
        break;
    }
}

/* ------------------------------------------------ QMP-only commands */

/* Runs in dispatch_checked before negotiation too; the row makes it
 * visible to query-commands and monitor_find_qmp. */
static json_object *cmd_qmp_capabilities(json_object *args, MonError *err)
{
    mon_error_set(err, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command ignored");
    return NULL;
}

static json_object *cmd_query_commands(json_object *args, MonError *err)
{
    json_object *list = json_object_new_array();
    const MonCommand *cmd;
    for (size_t i = 0; (cmd = monitor_command_at(i)); i++) {
        if (!cmd->qmp_name)
            continue;
        json_object *row = json_object_new_object();
        json_object_object_add(row, "name", json_object_new_string(cmd->qmp_name));
        json_object_array_add(list, row);
    }
    return list;
}

/*
 * human-monitor-command: run one HMP line and return what it printed.
 * QEMU runs it on a throw-away monitor whose current CPU is cpu-index (CPU
 * 0 without one): a "cpu N" inside it, or an earlier "cpu N" typed on a
 * human monitor, must not leak across.  The current CPU is one global
 * here, so it is set for the line and restored afterwards.
 */
static json_object *cmd_human_monitor_command(json_object *args, MonError *err)
{
    json_object *line, *cpu;
    int64_t index = 0;
    json_object_object_get_ex(args, "command-line", &line);
    if (json_object_object_get_ex(args, "cpu-index", &cpu))
        index = json_object_get_int64(cpu);
    if (index < 0 || (index > 0 && (uint64_t)index >= vcpus_count())) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter 'cpu-index' expects a CPU number");
        return NULL;
    }
    unsigned saved_cpu = monitor_current_cpu;
    monitor_current_cpu = (unsigned)index;
    Monitor *mon = monitor_new_buffer();
    hmp_execute(mon, json_object_get_string(line));
    json_object *out = json_object_new_string(monitor_buffer(mon));
    monitor_free(mon);
    monitor_current_cpu = saved_cpu;
    return out;
}

static const MonCommand qmp_commands[] = {
    { .qmp_name = "qmp_capabilities", .args = "",
      .help = "negotiate QMP capabilities", .run = cmd_qmp_capabilities },
    { .qmp_name = "query-commands", .args = "",
      .help = "list the QMP commands", .run = cmd_query_commands },
    { .qmp_name = "human-monitor-command", .args = "command-line:s,cpu-index:i?",
      .help = "run a human monitor command", .run = cmd_human_monitor_command },
};

void qmp_events_init(void)
{
    monitor_register_commands(qmp_commands, ARRAY_SIZE(qmp_commands));
    runstate_set_event_hook(run_event);
}
