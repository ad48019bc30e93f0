/*
 * HMP: argument parsing of every type and every error form (QEMU 7.2's
 * wording), hmp_execute into a buffer monitor, help/info listings, and the
 * readline editor's key handling.
 */
#include <string.h>

#include "../../monitor/readline.h"
#include "monitor.h"
#include "unit.h"
#include "util.h"

static json_object *run_echo(json_object *args, MonError *err)
{
    return json_object_get(args);
}

static json_object *run_fail(json_object *args, MonError *err)
{
    mon_error_set(err, ERROR_CLASS_GENERIC, "it failed");
    return NULL;
}

static json_object *run_quit(json_object *args, MonError *err)
{
    return NULL;
}

static void print_json(Monitor *mon, json_object *result)
{
    monitor_printf(mon, "%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
}

static const MonCommand cmds[] = {
    { .hmp_name = "str", .args = "a:s,b:s?", .hmp_params = "a [b]", .help = "strings",
      .run = run_echo, .hmp_print = print_json },
    { .hmp_name = "rest", .args = "a:s,r:S", .run = run_echo, .help = "rest", .hmp_print = print_json },
    { .hmp_name = "num", .args = "n:i,m:i?", .run = run_echo, .help = "numbers", .hmp_print = print_json },
    { .hmp_name = "size", .args = "v:o", .run = run_echo, .help = "sizes", .hmp_print = print_json },
    { .hmp_name = "onoff", .args = "v:b", .run = run_echo, .help = "bool", .hmp_print = print_json },
    { .hmp_name = "x", .args = "fmt:/,addr:i", .hmp_params = "/fmt addr",
      .help = "virtual memory dump", .run = run_echo, .hmp_print = print_json },
    { .hmp_name = "info regs", .args = "all:-a,verbose:-v,cpu:i?", .hmp_params = "[-a|vcpu]",
      .help = "show the cpu registers", .run = run_echo, .hmp_print = print_json },
    { .hmp_name = "info status", .args = "", .help = "show the current VM status",
      .run = run_echo, .hmp_print = print_json },
    { .hmp_name = "fail", .args = "", .help = "always fails", .run = run_fail },
    { .qmp_name = "quit", .hmp_name = "quit", .args = "", .help = "quit the emulator",
      .run = run_quit },
    { .hmp_name = "q", .args = "", .help = "quit the emulator", .run = run_quit },
    { .qmp_name = "qmp-only", .args = "", .run = run_quit },
};

static void setup(void)
{
    static bool done;
    if (!done)
        monitor_register_commands(cmds, ARRAY_SIZE(cmds));
    done = true;
}

/* Parse a line; on success returns the args as compact JSON, on failure
 * "ERR:" + the message. */
static const char *parse(const char *line)
{
    static char out[512];
    const MonCommand *cmd;
    json_object *args;
    MonError err = { 0 };
    setup();
    if (hmp_parse(line, &cmd, &args, &err) < 0) {
        ck_assert(err.set);
        ck_assert_ptr_null(args);
        snprintf(out, sizeof(out), "ERR:%s", err.desc);
        return out;
    }
    if (!cmd)
        return "EMPTY";
    snprintf(out, sizeof(out), "%s", json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN));
    json_object_put(args);
    return out;
}

/* Run a line in a buffer monitor; returns its output (static copy). */
static const char *execute(const char *line)
{
    static char out[16384];
    setup();
    Monitor *mon = monitor_new_buffer();
    hmp_execute(mon, line);
    snprintf(out, sizeof(out), "%s", monitor_buffer(mon));
    monitor_free(mon);
    return out;
}

START_TEST(parse_strings)
{
    ck_assert_str_eq(parse("str hello"), "{\"a\":\"hello\"}");
    ck_assert_str_eq(parse("  str   hello   world  "), "{\"a\":\"hello\",\"b\":\"world\"}");
    ck_assert_str_eq(parse("str \"a b\" c"), "{\"a\":\"a b\",\"b\":\"c\"}");
    ck_assert_str_eq(parse("str \"q\\\"\\\\\\n\""), "{\"a\":\"q\\\"\\\\\\n\"}");
    ck_assert_str_eq(parse("str \"\""), "{\"a\":\"\"}");
    ck_assert_str_eq(parse("rest a  the rest  of it  "), "{\"a\":\"a\",\"r\":\"the rest  of it\"}");
}
END_TEST

START_TEST(parse_integers)
{
    ck_assert_str_eq(parse("num 42"), "{\"n\":42}");
    ck_assert_str_eq(parse("num 0x10 -5"), "{\"n\":16,\"m\":-5}");
    ck_assert_str_eq(parse("num 0XfF"), "{\"n\":255}");
    ck_assert_str_eq(parse("num 010"), "{\"n\":8}");
    ck_assert_str_eq(parse("num 0xffffffffffffffff"), "{\"n\":-1}");
    ck_assert_str_eq(parse("num -0x8000000000000000"), "{\"n\":-9223372036854775808}");
}
END_TEST

START_TEST(parse_sizes_and_bools)
{
    ck_assert_str_eq(parse("size 512"), "{\"v\":512}");
    ck_assert_str_eq(parse("size 4k"), "{\"v\":4096}");
    ck_assert_str_eq(parse("size 2M"), "{\"v\":2097152}");
    ck_assert_str_eq(parse("size 1G"), "{\"v\":1073741824}");
    ck_assert_str_eq(parse("onoff on"), "{\"v\":true}");
    ck_assert_str_eq(parse("onoff off"), "{\"v\":false}");
}
END_TEST

START_TEST(parse_formats)
{
    ck_assert_str_eq(parse("x 0x100"),
                     "{\"fmt\":{\"count\":1,\"format\":\"x\",\"size\":4},\"addr\":256}");
    ck_assert_str_eq(parse("x /3xw 0"),
                     "{\"fmt\":{\"count\":3,\"format\":\"x\",\"size\":4},\"addr\":0}");
    ck_assert_str_eq(parse("x/2bx 0"),
                     "{\"fmt\":{\"count\":2,\"format\":\"x\",\"size\":1},\"addr\":0}");
    ck_assert_str_eq(parse("x /10i 5"),
                     "{\"fmt\":{\"count\":10,\"format\":\"i\",\"size\":4},\"addr\":5}");
    ck_assert_str_eq(parse("x /gd 8"),
                     "{\"fmt\":{\"count\":1,\"format\":\"d\",\"size\":8},\"addr\":8}");
    ck_assert_str_eq(parse("x /hu 8"),
                     "{\"fmt\":{\"count\":1,\"format\":\"u\",\"size\":2},\"addr\":8}");
    ck_assert_str_eq(parse("x /4c 8"),
                     "{\"fmt\":{\"count\":4,\"format\":\"c\",\"size\":1},\"addr\":8}");
    ck_assert_str_eq(parse("x /o 8"),
                     "{\"fmt\":{\"count\":1,\"format\":\"o\",\"size\":4},\"addr\":8}");
}
END_TEST

START_TEST(parse_flags_and_info)
{
    ck_assert_str_eq(parse("info regs"), "{}");
    ck_assert_str_eq(parse("info regs -a"), "{\"all\":true}");
    ck_assert_str_eq(parse("info regs -v -a 3"), "{\"verbose\":true,\"all\":true,\"cpu\":3}");
    ck_assert_str_eq(parse("info regs 1"), "{\"cpu\":1}");
    ck_assert_str_eq(parse("info   status"), "{}");
    ck_assert_str_eq(parse("q"), "{}");
    ck_assert_str_eq(parse(""), "EMPTY");
    ck_assert_str_eq(parse("   \t "), "EMPTY");
}
END_TEST

START_TEST(parse_errors)
{
    ck_assert_str_eq(parse("foo"), "ERR:unknown command: 'foo'");
    ck_assert_str_eq(parse("info nonexist"), "ERR:unknown command: 'info nonexist'");
    ck_assert_str_eq(parse("qmp-only"), "ERR:unknown command: 'qmp-only'");
    ck_assert_str_eq(parse("num"), "ERR:unexpected end of expression");
    ck_assert_str_eq(parse("num abc"), "ERR:invalid char 'a' in expression");
    ck_assert_str_eq(parse("num -"), "ERR:unexpected end of expression");
    /* A number ends where its digits do; the rest is the next argument. */
    ck_assert_str_eq(parse("num 12abc"), "ERR:invalid char 'a' in expression");
    ck_assert_str_eq(parse("num 1 2abc"), "ERR:num: extraneous characters at the end of line");
    ck_assert_str_eq(parse("x 0x"), "ERR:x: extraneous characters at the end of line");
    ck_assert_str_eq(parse("num 0xffffffffffffffffff"), "ERR:number too large");
    ck_assert_str_eq(parse("num 1 2 3"), "ERR:num: extraneous characters at the end of line");
    ck_assert_str_eq(parse("info status now"),
                     "ERR:status: extraneous characters at the end of line");
    ck_assert_str_eq(parse("str"), "ERR:str: string expected");
    ck_assert_str_eq(parse("str \"open"), "ERR:str: string expected");
    ck_assert_str_eq(parse("str \"bad\\q\""), "ERR:str: string expected");
    ck_assert_str_eq(parse("rest a"), "ERR:rest: string expected");
    ck_assert_str_eq(parse("size 12Q"), "ERR:invalid size");
    ck_assert_str_eq(parse("size"), "ERR:unexpected end of expression");
    ck_assert_str_eq(parse("onoff yes"), "ERR:Expected 'on' or 'off'");
    ck_assert_str_eq(parse("onoff"), "ERR:Expected 'on' or 'off'");
    ck_assert_str_eq(parse("x /z 0"), "ERR:invalid char in format: 'z'");
    ck_assert_str_eq(parse("x /0x10x 0"), "ERR:invalid char in format: '1'");
    ck_assert_str_eq(parse("x /-3x 0"), "ERR:invalid char in format: '-'");
    ck_assert_str_eq(parse("x"), "ERR:unexpected end of expression");
    ck_assert_str_eq(parse("x \"abc\""), "ERR:invalid char '\"' in expression");
    ck_assert_str_eq(parse("info regs -b"), "ERR:regs: unsupported option -b");
}
END_TEST

START_TEST(parse_known_command_reported_on_error)
{
    const MonCommand *cmd;
    json_object *args;
    MonError err = { 0 };
    setup();
    ck_assert_int_eq(hmp_parse("num zz", &cmd, &args, &err), -1);
    ck_assert_ptr_eq(cmd, &cmds[2]);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(hmp_parse("nope", &cmd, &args, &err), -1);
    ck_assert_ptr_null(cmd);
    ck_assert_int_eq(err.cls, ERROR_CLASS_COMMAND_NOT_FOUND);
}
END_TEST

START_TEST(parse_hostile_input)
{
    char line[20000];
    memset(line, 'a', sizeof(line) - 1);
    line[sizeof(line) - 1] = 0;
    ck_assert(!strncmp(parse(line), "ERR:unknown command: 'aaa", 25));
    memcpy(line, "str ", 4);
    ck_assert(!strncmp(parse(line), "{\"a\":\"aaaa", 10));
    memcpy(line, "str \"", 5);
    ck_assert_str_eq(parse(line), "ERR:str: string expected");
    ck_assert_str_eq(parse("\x01\x02\xff\xfe"), "ERR:unknown command: '\x01\x02\xff\xfe'");
    ck_assert_str_eq(parse("x /99999999999999999999x 0"), "ERR:invalid count in format");
}
END_TEST

START_TEST(execute_output)
{
    ck_assert_str_eq(execute("str a b"), "{\"a\":\"a\",\"b\":\"b\"}\r\n");
    ck_assert_str_eq(execute("fail"), "Error: it failed\r\n");
    ck_assert_str_eq(execute("foo"), "unknown command: 'foo'\r\n");
    ck_assert_str_eq(execute("num q"),
                     "invalid char 'q' in expression\r\nTry \"help num\" for more information\r\n");
    ck_assert_str_eq(execute("info regs -z"),
                     "regs: unsupported option -z\r\n"
                     "Try \"help info regs\" for more information\r\n");
    ck_assert_str_eq(execute(""), "");
    ck_assert_str_eq(execute("quit"), "");
}
END_TEST

START_TEST(help_lists_commands)
{
    const char *out = execute("help");
    ck_assert_ptr_nonnull(strstr(out, "str a [b] -- strings\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "quit|q  -- quit the emulator\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "help|? [cmd] -- show the help\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "info [subcommand] -- "));
    ck_assert_ptr_null(strstr(out, "info status"));
    ck_assert_ptr_null(strstr(out, "\r\nq  --"));
    /* Sorted by name. */
    ck_assert(strstr(out, "fail") < strstr(out, "num"));
    ck_assert(strstr(out, "onoff") < strstr(out, "x /fmt"));
}
END_TEST

START_TEST(help_one_command)
{
    ck_assert_str_eq(execute("help q"), "quit|q  -- quit the emulator\r\n");
    ck_assert_str_eq(execute("help x"), "x /fmt addr -- virtual memory dump\r\n");
    ck_assert_str_eq(execute("help info status"), "info status  -- show the current VM status\r\n");
    ck_assert_str_eq(execute("help nonexist"), "unknown command: 'nonexist'\r\n");
    ck_assert_str_eq(execute("help info nonexist"), "unknown command: 'info nonexist'\r\n");
}
END_TEST

START_TEST(info_lists_subcommands)
{
    const char *out = execute("info");
    ck_assert_str_eq(out, "info regs [-a|vcpu] -- show the cpu registers\r\n"
                          "info status  -- show the current VM status\r\n");
    ck_assert_str_eq(execute("help info"), out);
}
END_TEST

START_TEST(printf_line_ends)
{
    Monitor *mon = monitor_new_buffer();
    ck_assert_str_eq(monitor_buffer(mon), "");
    monitor_printf(mon, "a\nb%d\n\n", 5);
    monitor_printf(mon, "c");
    ck_assert_str_eq(monitor_buffer(mon), "a\r\nb5\r\n\r\nc");
    monitor_free(mon);
    monitor_printf(NULL, "nothing");
    ck_assert(!monitor_present());
}
END_TEST

/* ------------------------------------------------------------ readline */

typedef struct RlTest {
    ReadLine rl;
    char echo[8192];
    size_t echo_len;
    char lines[8][READLINE_MAX + 8];
    int nlines;
} RlTest;

static void rl_out(void *opaque, const char *s, size_t len)
{
    RlTest *t = opaque;
    if (t->echo_len + len < sizeof(t->echo)) {
        memcpy(t->echo + t->echo_len, s, len);
        t->echo_len += len;
        t->echo[t->echo_len] = 0;
    }
}

static void rl_line(void *opaque, const char *line)
{
    RlTest *t = opaque;
    if (t->nlines < 8)
        snprintf(t->lines[t->nlines++], sizeof(t->lines[0]), "%s", line ? line : "<TOO LONG>");
}

static RlTest *rl_new(void)
{
    RlTest *t = xzalloc(sizeof(*t));
    readline_init(&t->rl, true, rl_out, rl_line, t);
    return t;
}

static void rl_done(RlTest *t)
{
    readline_free(&t->rl);
    free(t);
}

static void type(RlTest *t, const char *s)
{
    readline_feed(&t->rl, (const uint8_t *)s, strlen(s));
}

#define LEFT "\033[D"
#define RIGHT "\033[C"
#define UP "\033[A"
#define DOWN "\033[B"

START_TEST(readline_plain_and_enter)
{
    RlTest *t = rl_new();
    type(t, "info status\r\nstop\ncont\r");
    ck_assert_int_eq(t->nlines, 3);
    ck_assert_str_eq(t->lines[0], "info status");
    ck_assert_str_eq(t->lines[1], "stop");
    ck_assert_str_eq(t->lines[2], "cont");
    ck_assert_str_eq(t->echo, "info status\r\nstop\r\ncont\r\n");
    type(t, "\n\r\r");   /* the LF after CR is swallowed; then two empty lines */
    ck_assert_int_eq(t->nlines, 5);
    ck_assert_str_eq(t->lines[4], "");
    rl_done(t);
}
END_TEST

START_TEST(readline_cursor_edits)
{
    RlTest *t = rl_new();
    type(t, "info sttus" LEFT LEFT LEFT "a\r");
    ck_assert_str_eq(t->lines[0], "info status");
    type(t, "stpo" LEFT "\x7f" RIGHT "p\r");       /* "stpo" -> "sto" -> "stop" */
    ck_assert_str_eq(t->lines[1], "stop");
    type(t, "ello\001h\005!\r");                    /* Ctrl-A home, Ctrl-E end */
    ck_assert_str_eq(t->lines[2], "hello!");
    type(t, "abc\033[Hx\033[Fy\033[1~1\033[4~2\033OH3\033OF4\r");
    ck_assert_str_eq(t->lines[3], "31xabcy24");
    type(t, "abcd" LEFT LEFT "\033[3~\004\r");       /* Delete twice */
    ck_assert_str_eq(t->lines[4], "ab");
    type(t, "abc\b\b\b\b\bz\r");                     /* backspace past start */
    ck_assert_str_eq(t->lines[5], "z");
    rl_done(t);
}
END_TEST

START_TEST(readline_echo_redraws)
{
    RlTest *t = rl_new();
    type(t, "ac" LEFT "b");
    ck_assert_str_eq(t->echo, "ac\033[1D" "bc\033[K\033[1D");
    t->echo_len = 0;
    type(t, "\x7f");
    ck_assert_str_eq(t->echo, "\033[1Dc\033[K\033[1D");
    rl_done(t);
}
END_TEST

START_TEST(readline_kill_keys)
{
    RlTest *t = rl_new();
    type(t, "hello world" LEFT LEFT LEFT "\013\r");     /* Ctrl-K */
    ck_assert_str_eq(t->lines[0], "hello wo");
    type(t, "hello world" LEFT LEFT "\025\r");          /* Ctrl-U */
    ck_assert_str_eq(t->lines[1], "ld");
    type(t, "x /4x  0x100  \027\r");                    /* Ctrl-W */
    ck_assert_str_eq(t->lines[2], "x /4x  ");
    type(t, "one two\027\027\027three\r");
    ck_assert_str_eq(t->lines[3], "three");
    rl_done(t);
}
END_TEST

START_TEST(readline_history)
{
    RlTest *t = rl_new();
    type(t, "first\rsecond\rsecond\r\r");
    type(t, "draft" UP "\r");
    ck_assert_str_eq(t->lines[4], "second");
    type(t, "draft" UP UP UP UP DOWN "\r");
    ck_assert_str_eq(t->lines[5], "second");
    type(t, "draft" UP DOWN "!\r");
    ck_assert_str_eq(t->lines[6], "draft!");
    type(t, DOWN DOWN "\020\020x\r");                    /* Ctrl-P twice */
    ck_assert_str_eq(t->lines[7], "secondx");
    rl_done(t);
}
END_TEST

START_TEST(readline_history_bounded)
{
    RlTest *t = rl_new();
    char line[32];
    for (int i = 0; i < 200; i++) {
        snprintf(line, sizeof(line), "cmd%d\r", i);
        type(t, line);
    }
    ck_assert_uint_eq(t->rl.hist_len, READLINE_HISTORY);
    t->nlines = 0;
    for (int i = 0; i < READLINE_HISTORY + 10; i++)
        type(t, UP);
    type(t, "\r");
    snprintf(line, sizeof(line), "cmd%d", 200 - READLINE_HISTORY);
    ck_assert_str_eq(t->lines[0], line);
    rl_done(t);
}
END_TEST

START_TEST(readline_long_line_and_garbage)
{
    RlTest *t = rl_new();
    for (int i = 0; i < READLINE_MAX + 100; i++)
        type(t, "a");
    type(t, "\r");
    ck_assert_str_eq(t->lines[0], "<TOO LONG>");
    type(t, "ok\r");
    ck_assert_str_eq(t->lines[1], "ok");
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 7919 + 13);
    for (size_t i = 0; i < sizeof(junk); i++)
        if (junk[i] == '\r' || junk[i] == '\n')
            junk[i] = 0;
    readline_feed(&t->rl, junk, sizeof(junk));
    type(t, "\033[99999999999999D\033[;;;;A\033Z");   /* malformed sequences */
    readline_reset(&t->rl);
    type(t, "fine\r");
    ck_assert_str_eq(t->lines[2], "fine");
    rl_done(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hmp");
    UNIT_TEST(s, parse_strings);
    UNIT_TEST(s, parse_integers);
    UNIT_TEST(s, parse_sizes_and_bools);
    UNIT_TEST(s, parse_formats);
    UNIT_TEST(s, parse_flags_and_info);
    UNIT_TEST(s, parse_errors);
    UNIT_TEST(s, parse_known_command_reported_on_error);
    UNIT_TEST(s, parse_hostile_input);
    UNIT_TEST(s, execute_output);
    UNIT_TEST(s, help_lists_commands);
    UNIT_TEST(s, help_one_command);
    UNIT_TEST(s, info_lists_subcommands);
    UNIT_TEST(s, printf_line_ends);
    UNIT_TEST(s, readline_plain_and_enter);
    UNIT_TEST(s, readline_cursor_edits);
    UNIT_TEST(s, readline_echo_redraws);
    UNIT_TEST(s, readline_kill_keys);
    UNIT_TEST(s, readline_history);
    UNIT_TEST(s, readline_history_bounded);
    UNIT_TEST(s, readline_long_line_and_garbage);
    return unit_run(s);
}
