/*
 * QMP sessions (greeting, negotiation, framing of a byte stream, every
 * malformed-input error with QEMU's class and wording, id echo, events,
 * human-monitor-command) over a fake command table, and the -chardev
 * option (each backend form and each error) with its registry.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../monitor/commands.h"
#include "chardev.h"
#include "config-host.h"
#include "hw.h"
#include "monitor.h"
#include "util.h"
#include "unit.h"

/*
 * Buffer monitors for human-monitor-command, weak so that the real ones in
 * monitor/monitor.c win whenever that object is linked in.
 */
struct Monitor {
    char text[8192];
    size_t len;
};

__attribute__((weak)) Monitor *monitor_new_buffer(void)
{
    return xzalloc(sizeof(Monitor));
}

__attribute__((weak)) const char *monitor_buffer(Monitor *mon)
{
    return mon->text;
}

__attribute__((weak)) void monitor_free(Monitor *mon)
{
    free(mon);
}

__attribute__((weak)) void monitor_printf(Monitor *mon, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(mon->text + mon->len, sizeof(mon->text) - mon->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        mon->len = MIN(mon->len + n, sizeof(mon->text) - 1);
}

/* ---- a fake command table ---- */

static json_object *fake_ping(json_object *args, MonError *err)
{
    json_object *r = json_object_new_object();
    json_object_object_add(r, "pong", json_object_new_boolean(true));
    return r;
}

static json_object *fake_nothing(json_object *args, MonError *err)
{
    return NULL;
}

static json_object *fake_fail(json_object *args, MonError *err)
{
    mon_error_set(err, ERROR_CLASS_DEVICE_NOT_ACTIVE, "No fake device has been activated");
    return NULL;
}

static json_object *fake_echo(json_object *args, MonError *err)
{
    json_object *text;
    json_object_object_get_ex(args, "text", &text);
    return json_object_get(text);
}

static void fake_echo_print(Monitor *mon, json_object *result)
{
    monitor_printf(mon, "echo: %s\n", json_object_get_string(result));
}

/* The monitor's current CPU, as "info registers" would use it. */
static json_object *fake_which_cpu(json_object *args, MonError *err)
{
    char text[32];
    snprintf(text, sizeof(text), "cpu %u", monitor_current_cpu);
    return json_object_new_string(text);
}

static json_object *fake_set_cpu(json_object *args, MonError *err)
{
    monitor_current_cpu = 1;
    return NULL;
}

static void fake_text_print(Monitor *mon, json_object *result)
{
    monitor_printf(mon, "%s", json_object_get_string(result));
}

static const MonCommand fake_cmds[] = {
    { NULL, "fakewhichcpu", "", "", "print the current CPU", fake_which_cpu, fake_text_print },
    { NULL, "fakesetcpu", "", "", "make CPU 1 current", fake_set_cpu, NULL },
    { "x-ping", NULL, "", "", "reply pong", fake_ping, NULL },
    { "x-nothing", "nothing", "", "", "return nothing", fake_nothing, NULL },
    { "x-fail", NULL, "", "", "always fail", fake_fail, NULL },
    { "x-size", NULL, "value:i", "", "take an integer", fake_nothing, NULL },
    { NULL, "fakeecho", "text:S", "text", "print text", fake_echo, fake_echo_print },
};

/* ---- a session whose output is collected ---- */

static char out[1 << 16];
static size_t out_len;
static int nsent;

static void collect(void *opaque, const char *text)
{
    size_t n = strlen(text);
    ck_assert_uint_lt(out_len + n, sizeof(out));
    memcpy(out + out_len, text, n + 1);
    out_len += n;
    nsent++;
    if (opaque)
        (*(int *)opaque)++;
}

static void setup(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    ck_assert_int_eq(main_loop_init(), 0);
    monitor_register_commands(fake_cmds, ARRAY_SIZE(fake_cmds));
    qmp_events_init();
}

static void clear_out(void)
{
    out_len = 0;
    out[0] = '\0';
    nsent = 0;
}

static void feed(QmpSession *s, const char *text)
{
    qmp_session_input(s, (const uint8_t *)text, strlen(text));
}

/* A new session, greeting consumed, negotiated if asked. */
static QmpSession *session(bool negotiate)
{
    setup();
    QmpSession *s = qmp_session_new(collect, NULL, false);
    if (negotiate)
        feed(s, "{\"execute\": \"qmp_capabilities\"}");
    clear_out();
    return s;
}

/* Every reply must be exactly `want` (QEMU's spacing included). */
#define ck_out(want) ck_assert_str_eq(out, want)

static void ck_error(QmpSession *s, const char *in, const char *cls, const char *desc)
{
    char want[1024];
    clear_out();
    feed(s, in);
    snprintf(want, sizeof(want), "{\"error\": {\"class\": \"%s\", \"desc\": \"%s\"}}\r\n",
             cls, desc);
    ck_out(want);
}

START_TEST(greeting_shape)
{
    setup();
    clear_out();
    QmpSession *s = qmp_session_new(collect, NULL, false);
    int major = 0, minor = 0, micro = 0;
    sscanf(VMM_VERSION, "%d.%d.%d", &major, &minor, &micro);
    char want[512];
    snprintf(want, sizeof(want),
             "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": %d, \"minor\": %d, \"major\": %d}, "
             "\"package\": \"vmm-%s\"}, \"capabilities\": [\"oob\"]}}\r\n",
             micro, minor, major, VMM_VERSION);
    ck_out(want);
    qmp_session_free(s);
}
END_TEST

/* Bad qmp_capabilities arguments fail as in QEMU 7.2 and leave the session
 * un-negotiated: a typo must not slip through. */
START_TEST(negotiation_bad_arguments)
{
    QmpSession *s = session(false);
    ck_error(s, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"foo\": 1}}",
             "GenericError", "Parameter 'foo' is unexpected");
    ck_error(s, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"foo\"]}}",
             "GenericError", "Parameter 'null' does not accept value 'foo'");
    ck_error(s, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [1]}}",
             "GenericError", "Invalid parameter type for 'enable[0]', expected: string");
    ck_error(s, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}",
             "GenericError", "Invalid parameter type for 'enable', expected: array");
    ck_error(s, "{\"execute\": \"x-ping\"}", "CommandNotFound",
             "Expecting capabilities negotiation with 'qmp_capabilities'");
    qmp_session_free(s);
}
END_TEST

START_TEST(negotiation_rules)
{
    QmpSession *s = session(false);
    ck_error(s, "{\"execute\": \"x-ping\"}", "CommandNotFound",
             "Expecting capabilities negotiation with 'qmp_capabilities'");
    ck_error(s, "{\"execute\": \"no-such\"}", "CommandNotFound",
             "Expecting capabilities negotiation with 'qmp_capabilities'");
    clear_out();
    feed(s, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}");
    ck_out("{\"return\": {}}\r\n");
    ck_error(s, "{\"execute\": \"qmp_capabilities\"}", "CommandNotFound",
             "Capabilities negotiation is already complete, command ignored");
    clear_out();
    feed(s, "{\"execute\": \"x-ping\"}");
    ck_out("{\"return\": {\"pong\": true}}\r\n");
    qmp_session_free(s);
}
END_TEST

START_TEST(malformed_requests)
{
    QmpSession *s = session(true);
    const char *G = "GenericError";
    ck_error(s, "[1]", G, "QMP input must be a JSON object");
    ck_error(s, "123 ", G, "QMP input must be a JSON object");
    ck_error(s, "\"str\"", G, "QMP input must be a JSON object");
    ck_error(s, "{}", G, "QMP input lacks member 'execute'");
    ck_error(s, "{\"arguments\": {}}", G, "QMP input lacks member 'execute'");
    ck_error(s, "{\"execute\": 1}", G, "QMP input member 'execute' must be a string");
    ck_error(s, "{\"execute\": \"x-ping\", \"x\": 1}", G, "QMP input member 'x' is unexpected");
    ck_error(s, "{\"foo\": 1}", G, "QMP input member 'foo' is unexpected");
    ck_error(s, "{\"execute\": \"x-ping\", \"arguments\": []}", G,
             "QMP input member 'arguments' must be an object");
    ck_error(s, "{\"execute\": \"nosuch\"}", "CommandNotFound",
             "The command nosuch has not been found");
    ck_error(s, "{\"execute\": \"x-ping\", \"arguments\": {\"a\": 1}}", G,
             "Parameter 'a' is unexpected");
    ck_error(s, "{\"execute\": \"x-size\"}", G, "Parameter 'value' is missing");
    ck_error(s, "{\"execute\": \"x-size\", \"arguments\": {\"value\": \"x\"}}", G,
             "Invalid parameter type for 'value', expected: integer");
    ck_error(s, "{\"execute\": \"x-fail\"}", "DeviceNotActive",
             "No fake device has been activated");
    qmp_session_free(s);
}
END_TEST

/* Parse errors: one error each, then the session works again. */
START_TEST(garbage_and_bad_json)
{
    QmpSession *s = session(true);
    const char *inputs[] = { "{\"a\":}", "}", "]", "xyz\n", "\xff\xfe\n", "{\"a\" 1}",
                             "{\"a\": [1 2]}", "\x01\x02\x03 ", "{\"a\": \"\0\"}" };
    for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
        clear_out();
        size_t len = i == ARRAY_SIZE(inputs) - 1 ? 10 : strlen(inputs[i]);
        qmp_session_input(s, (const uint8_t *)inputs[i], len);
        ck_assert_msg(nsent == 1, "input %zu: %d replies: %s", i, nsent, out);
        ck_assert_msg(!strncmp(out, "{\"error\": {\"class\": \"GenericError\", "
                               "\"desc\": \"JSON parse error, ", 62), "input %zu: %s", i, out);
    }
    ck_error(s, "xyz\n", "GenericError", "JSON parse error, invalid keyword 'xyz'");
    clear_out();
    feed(s, "{\"execute\": \"x-ping\"}");
    ck_out("{\"return\": {\"pong\": true}}\r\n");
    qmp_session_free(s);
}
END_TEST

START_TEST(id_echo)
{
    QmpSession *s = session(true);
    clear_out();
    feed(s, "{\"execute\": \"x-nothing\", \"id\": 7}");
    ck_out("{\"return\": {}, \"id\": 7}\r\n");
    clear_out();
    feed(s, "{\"execute\": \"x-nothing\", \"id\": \"a/b\"}");
    ck_out("{\"return\": {}, \"id\": \"a/b\"}\r\n");
    clear_out();
    feed(s, "{\"id\": {\"n\": [1, \"x\"]}, \"execute\": \"x-ping\"}");
    ck_out("{\"return\": {\"pong\": true}, \"id\": {\"n\": [1, \"x\"]}}\r\n");
    clear_out();
    feed(s, "{\"execute\": \"nosuch\", \"id\": \"s\"}");
    ck_out("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
           "\"The command nosuch has not been found\"}, \"id\": \"s\"}\r\n");
    qmp_session_free(s);
}
END_TEST

START_TEST(single_quotes_accepted)
{
    QmpSession *s = session(true);
    feed(s, "{'execute': 'x-ping', 'id': \"it's\"}");
    ck_out("{\"return\": {\"pong\": true}, \"id\": \"it's\"}\r\n");
    qmp_session_free(s);
}
END_TEST

START_TEST(stream_byte_by_byte)
{
    QmpSession *s = session(true);
    const char *req = "  {\"execute\": \"x-ping\", \"arguments\": {}, \"id\": \"{[\\\"]}\"}\r\n";
    size_t last = strrchr(req, '}') - req;
    for (size_t i = 0; req[i]; i++) {
        ck_assert_int_eq(nsent, i > last);
        qmp_session_input(s, (const uint8_t *)req + i, 1);
    }
    ck_out("{\"return\": {\"pong\": true}, \"id\": \"{[\\\"]}\"}\r\n");
    qmp_session_free(s);
}
END_TEST

START_TEST(two_objects_one_buffer)
{
    QmpSession *s = session(true);
    feed(s, "{\"execute\": \"x-ping\", \"id\": 1}{\"execute\": \"x-nothing\", \"id\": 2}\n"
            "\t {\"execute\": \"x-nothing\", \"id\": 3}");
    ck_out("{\"return\": {\"pong\": true}, \"id\": 1}\r\n"
           "{\"return\": {}, \"id\": 2}\r\n"
           "{\"return\": {}, \"id\": 3}\r\n");
    qmp_session_free(s);
}
END_TEST

/* 2 MiB in one object: one error, skipped to its end, then business as usual. */
START_TEST(oversized_object)
{
    QmpSession *s = session(true);
    const char *head = "{\"execute\": \"x-ping\", \"arguments\": {\"a\": \"";
    size_t big = 2 << 20;
    char *buf = xmalloc(big + 128);
    size_t n = strlen(head);
    memcpy(buf, head, n);
    memset(buf + n, '}', big);   /* braces inside a string must not end it */
    n += big;
    n += sprintf(buf + n, "\"}}\n{\"execute\": \"x-ping\", \"id\": 2}");
    for (size_t off = 0; off < n; off += 4096)
        qmp_session_input(s, (const uint8_t *)buf + off, MIN((size_t)4096, n - off));
    free(buf);
    ck_assert_int_eq(nsent, 2);
    ck_assert_ptr_nonnull(strstr(out, "\"desc\": \"JSON parse error, request larger than"));
    ck_assert_ptr_nonnull(strstr(out, "\r\n{\"return\": {\"pong\": true}, \"id\": 2}\r\n"));
    qmp_session_free(s);
}
END_TEST

START_TEST(deep_nesting)
{
    QmpSession *s = session(true);
    size_t depth = 5000;
    char *buf = xmalloc(2 * depth + 1);
    memset(buf, '[', depth);
    memset(buf + depth, ']', depth);
    qmp_session_input(s, (const uint8_t *)buf, 2 * depth);
    free(buf);
    ck_assert_int_eq(nsent, 1);
    ck_assert_ptr_nonnull(strstr(out, "JSON parse error, nesting too deep"));
    clear_out();
    feed(s, "{\"execute\": \"x-ping\"}");
    ck_out("{\"return\": {\"pong\": true}}\r\n");
    qmp_session_free(s);
}
END_TEST

START_TEST(events_to_negotiated_only)
{
    setup();
    int a_count = 0, b_count = 0;
    QmpSession *a = qmp_session_new(collect, &a_count, false);
    QmpSession *b = qmp_session_new(collect, &b_count, false);
    feed(a, "{\"execute\": \"qmp_capabilities\"}");
    a_count = b_count = 0;
    clear_out();
    monitor_event("X_TEST", NULL);
    ck_assert_int_eq(a_count, 1);
    ck_assert_int_eq(b_count, 0);
    long sec, usec;
    ck_assert_int_eq(sscanf(out, "{\"timestamp\": {\"seconds\": %ld, \"microseconds\": %ld}",
                            &sec, &usec), 2);
    ck_assert_int_gt(sec, 1600000000);
    ck_assert(usec >= 0 && usec < 1000000);
    ck_assert_ptr_nonnull(strstr(out, "}, \"event\": \"X_TEST\"}\r\n"));
    ck_assert_ptr_null(strstr(out, "data"));
    qmp_session_free(b);
    qmp_session_free(a);
}
END_TEST

/* The run-state hook: QEMU 7.2's event names and data. */
START_TEST(runstate_events)
{
    QmpSession *s = session(true);
    static const struct { RunEvent ev; ShutdownCause cause; const char *tail; } cases[] = {
        { RUN_EVENT_STOP, SHUTDOWN_CAUSE_NONE, "\"event\": \"STOP\"}\r\n" },
        { RUN_EVENT_RESUME, SHUTDOWN_CAUSE_NONE, "\"event\": \"RESUME\"}\r\n" },
        { RUN_EVENT_POWERDOWN, SHUTDOWN_CAUSE_NONE, "\"event\": \"POWERDOWN\"}\r\n" },
        { RUN_EVENT_RESET, SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET,
          "\"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}}\r\n" },
        { RUN_EVENT_RESET, SHUTDOWN_CAUSE_GUEST_RESET,
          "\"event\": \"RESET\", \"data\": {\"guest\": true, \"reason\": \"guest-reset\"}}\r\n" },
        { RUN_EVENT_SHUTDOWN, SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
          "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\r\n" },
        { RUN_EVENT_SHUTDOWN, SHUTDOWN_CAUSE_HOST_QMP_QUIT,
          "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}\r\n" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        clear_out();
        runstate_event(cases[i].ev, cases[i].cause);
        ck_assert_msg(out_len > strlen(cases[i].tail) &&
                      !strcmp(out + out_len - strlen(cases[i].tail), cases[i].tail),
                      "case %zu: %s", i, out);
    }
    qmp_session_free(s);
}
END_TEST

START_TEST(human_monitor_command)
{
    QmpSession *s = session(true);
    feed(s, "{\"execute\": \"human-monitor-command\", \"arguments\": "
            "{\"command-line\": \"fakeecho hello world\"}, \"id\": 1}");
    ck_assert_msg(!strncmp(out, "{\"return\": \"echo: hello world\\", 30), "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\", \"id\": 1}\r\n"));
    clear_out();
    feed(s, "{\"execute\": \"human-monitor-command\", \"arguments\": "
            "{\"command-line\": \"nosuchcmd\"}}");
    ck_assert_ptr_nonnull(strstr(out, "{\"return\": \"unknown command: 'nosuchcmd'"));
    ck_error(s, "{\"execute\": \"human-monitor-command\"}", "GenericError",
             "Parameter 'command-line' is missing");
    qmp_session_free(s);
}
END_TEST

/* QEMU runs the line on a fresh monitor whose CPU is cpu-index or 0: the
 * current CPU of other monitors neither shows nor changes. */
START_TEST(human_monitor_command_cpu)
{
    QmpSession *s = session(true);
    monitor_current_cpu = 1;   /* "cpu 1" typed on a human monitor */
    feed(s, "{\"execute\": \"human-monitor-command\", \"arguments\": "
            "{\"command-line\": \"fakewhichcpu\"}}");
    ck_assert_str_eq(out, "{\"return\": \"cpu 0\"}\r\n");
    clear_out();
    monitor_current_cpu = 0;
    feed(s, "{\"execute\": \"human-monitor-command\", \"arguments\": "
            "{\"command-line\": \"fakesetcpu\"}}");
    ck_assert_uint_eq(monitor_current_cpu, 0);
    ck_error(s, "{\"execute\": \"human-monitor-command\", \"arguments\": "
                "{\"command-line\": \"fakewhichcpu\", \"cpu-index\": -1}}",
             "GenericError", "Parameter 'cpu-index' expects a CPU number");
    qmp_session_free(s);
}
END_TEST

START_TEST(query_commands)
{
    QmpSession *s = session(true);
    feed(s, "{\"execute\": \"query-commands\"}");
    ck_assert_ptr_nonnull(strstr(out, "{\"name\": \"x-ping\"}"));
    ck_assert_ptr_nonnull(strstr(out, "{\"name\": \"qmp_capabilities\"}"));
    ck_assert_ptr_nonnull(strstr(out, "{\"name\": \"human-monitor-command\"}"));
    ck_assert_ptr_null(strstr(out, "fakeecho"));
    qmp_session_free(s);
}
END_TEST

/* A session freed by its own send() (a client gone) in mid-input. */
static QmpSession *self_freeing;
static void free_on_send(void *opaque, const char *text)
{
    nsent++;
    qmp_session_free(self_freeing);
}

START_TEST(freed_during_input)
{
    setup();
    clear_out();
    self_freeing = qmp_session_new(free_on_send, NULL, false);
    ck_assert_int_eq(nsent, 1);
    /* The first reply frees the session: the second request is not run. */
    feed(self_freeing, "{\"execute\": \"qmp_capabilities\"}{\"execute\": \"x-ping\"}");
    ck_assert_int_eq(nsent, 2);
}
END_TEST

START_TEST(pretty_output)
{
    setup();
    clear_out();
    QmpSession *s = qmp_session_new(collect, NULL, true);
    clear_out();
    feed(s, "{\"execute\": \"qmp_capabilities\"}");
    ck_out("{\r\n    \"return\": {\r\n    }\r\n}\r\n");
    clear_out();
    feed(s, "{\"execute\": \"x-ping\", \"id\": [1, []]}");
    ck_out("{\r\n    \"return\": {\r\n        \"pong\": true\r\n    },\r\n"
           "    \"id\": [\r\n        1,\r\n        [\r\n        ]\r\n    ]\r\n}\r\n");
    qmp_session_free(s);
}
END_TEST

/* ---- -chardev ---- */

static char errtext[4096];

/* Run fn with stderr captured into errtext. */
static void *capture_stderr(void *(*fn)(const char *), const char *arg)
{
    char path[] = "/tmp/test-qmp-errXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    void *r = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, errtext, sizeof(errtext) - 1, 0);
    errtext[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return r;
}

static void *new_from_opts(const char *opts)
{
    return chardev_new_from_opts(opts);
}

static void ck_chardev_error(const char *opts, const char *why)
{
    char want[1024];
    ck_assert_ptr_null(capture_stderr(new_from_opts, opts));
    snprintf(want, sizeof(want), "vmm: -chardev %s: %s\n", opts, why);
    ck_assert_str_eq(errtext, want);
}

START_TEST(chardev_errors)
{
    setup();
    ck_assert_ptr_nonnull(chardev_new_from_opts("null,id=taken"));
    ck_chardev_error("null", "chardev: no id specified");
    ck_chardev_error("null,id=", "Parameter 'id' expects an identifier");
    ck_chardev_error("null,id=1a", "Parameter 'id' expects an identifier");
    ck_chardev_error("null,id=taken", "Duplicate ID 'taken' for chardev");
    ck_chardev_error("id=a", "Parameter 'backend' is missing");
    ck_chardev_error("foo,id=a", "'foo' is not a valid char driver name");
    ck_chardev_error("null,id=a,bogus=1", "Invalid parameter 'bogus'");
    ck_chardev_error("null,id=a,mux=x", "Parameter 'mux' expects 'on' or 'off'");
    ck_chardev_error("file,id=a", "chardev: file: no filename given");
    ck_chardev_error("socket,id=a", "chardev: socket: no path or host given");
    ck_chardev_error("socket,id=a,host=localhost", "chardev: socket: no port given");
    ck_chardev_error("socket,id=a,path=/x,host=h,port=1",
                     "chardev: socket: path and host/port are exclusive");
    ck_chardev_error("socket,id=a,path=/tmp/z,server=maybe",
                     "Parameter 'server' expects 'on' or 'off'");
    ck_chardev_error("stdio,id=a,signal=x", "Parameter 'signal' expects 'on' or 'off'");
    ck_chardev_error("socket,id=a,path=/nonexistent/dir/s",
                     "Failed to connect to '/nonexistent/dir/s': No such file or directory");
    ck_chardev_error("file,id=a,path=/nonexistent/dir/f",
                     "Could not open '/nonexistent/dir/f': No such file or directory");
    ck_assert_ptr_null(chardev_find("a"));
}
END_TEST

START_TEST(chardev_backends)
{
    setup();
    char dir[] = "/tmp/test-qmp-chrXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *file = xasprintf("%s/out,log", dir);
    char *sock = xasprintf("%s/s", dir);
    char *opts;

    Chardev *n = chardev_new_from_opts("null,id=n0");
    ck_assert_ptr_nonnull(n);
    ck_assert_str_eq(chardev_filename(n), "null");

    opts = xasprintf("file,id=f0,path=%s/out,,log", dir);
    Chardev *f = chardev_new_from_opts(opts);
    free(opts);
    ck_assert_ptr_nonnull(f);
    chardev_write(f, (const uint8_t *)"hi", 2);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_size, 2);

    opts = xasprintf("socket,id=s0,path=%s,server=on,wait=off", sock);
    Chardev *srv = chardev_new_from_opts(opts);
    free(opts);
    ck_assert_ptr_nonnull(srv);
    ck_assert(!chardev_connected(srv));
    opts = xasprintf("socket,id=c0,path=%s", sock);
    Chardev *cli = chardev_new_from_opts(opts);
    free(opts);
    ck_assert_ptr_nonnull(cli);
    ck_assert(chardev_connected(cli));

    opts = xasprintf("socket,id=s1,path=%s2,server,nowait", sock);
    ck_assert_ptr_nonnull(chardev_new_from_opts(opts));
    free(opts);
    Chardev *tcp = chardev_new_from_opts("socket,id=t0,host=127.0.0.1,port=0,server=on,wait=off");
    ck_assert_ptr_nonnull(tcp);
    ck_assert(!strncmp(chardev_filename(tcp), "disconnected:tcp:127.0.0.1:", 27));

    Chardev *pty = capture_stderr(new_from_opts, "pty,id=p0");
    ck_assert_ptr_nonnull(pty);
    ck_assert(!strncmp(chardev_filename(pty), "pty:/dev/pts/", 13));
    ck_assert_ptr_nonnull(strstr(errtext, "(label p0)"));

    Chardev *io = chardev_new_from_opts("stdio,id=mon0,mux=on,signal=off");
    ck_assert_ptr_nonnull(io);
    ck_assert(chardev_is_mux(io));
    ck_assert(!chardev_is_mux(n));
    ck_assert_str_eq(chardev_label(io), "mon0");

    /* the registry, in creation order */
    const char *ids[] = { "n0", "f0", "s0", "c0", "s1", "t0", "p0", "mon0" };
    Chardev *c = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
        c = chardev_next(c);
        ck_assert_ptr_nonnull(c);
        ck_assert_str_eq(chardev_label(c), ids[i]);
        ck_assert_ptr_eq(chardev_find(ids[i]), c);
    }
    ck_assert_ptr_null(chardev_next(c));
    chardev_close(cli);
    ck_assert_ptr_null(chardev_find("c0"));
    chardev_close(srv);
    ck_assert_int_ne(access(sock, F_OK), 0);
    free(file);
    free(sock);
}
END_TEST

/* -serial chardev:ID shares the -chardev; each open holds a reference. */
static void *open_serial_ref(const char *spec)
{
    return chardev_open(spec, "serial0");
}

START_TEST(chardev_reference)
{
    setup();
    Chardev *io = chardev_new_from_opts("stdio,id=c,mux=on");
    ck_assert_ptr_nonnull(io);
    Chardev *ser = chardev_open("chardev:c", "serial0");
    ck_assert_ptr_eq(ser, io);
    chardev_close(ser);
    ck_assert_ptr_eq(chardev_find("c"), io);
    chardev_close(io);
    ck_assert_ptr_null(chardev_find("c"));
    ck_assert_ptr_null(capture_stderr(open_serial_ref, "chardev:zz"));
    ck_assert_str_eq(errtext, "vmm: -serial chardev:zz: could not connect serial device "
                              "to character backend 'chardev:zz'\n");
    /* -serial still registers under its label */
    Chardev *s0 = chardev_open("null", "serial0");
    ck_assert_ptr_eq(chardev_find("serial0"), s0);
    chardev_close(s0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qmp");
    UNIT_TEST(s, greeting_shape);
    UNIT_TEST(s, negotiation_rules);
    UNIT_TEST(s, negotiation_bad_arguments);
    UNIT_TEST(s, malformed_requests);
    UNIT_TEST(s, garbage_and_bad_json);
    UNIT_TEST(s, id_echo);
    UNIT_TEST(s, single_quotes_accepted);
    UNIT_TEST(s, stream_byte_by_byte);
    UNIT_TEST(s, two_objects_one_buffer);
    UNIT_TEST(s, oversized_object);
    UNIT_TEST(s, deep_nesting);
    UNIT_TEST(s, events_to_negotiated_only);
    UNIT_TEST(s, runstate_events);
    UNIT_TEST(s, human_monitor_command);
    UNIT_TEST(s, human_monitor_command_cpu);
    UNIT_TEST(s, query_commands);
    UNIT_TEST(s, freed_during_input);
    UNIT_TEST(s, pretty_output);
    UNIT_TEST(s, chardev_errors);
    UNIT_TEST(s, chardev_backends);
    UNIT_TEST(s, chardev_reference);
    return unit_run(s);
}
