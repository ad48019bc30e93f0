/*
 * HMP: the human monitor's text syntax over the command table.
 *
 * A line is "NAME ARGS" ("info NAME ARGS" for the info subcommands); the
 * arguments are parsed against the row's spec (monitor.h) into the same
 * JSON object QMP would pass.  Messages follow QEMU 7.2's monitor/hmp.c
 * ("unknown command: 'foo'", "invalid char 'a' in expression",
 * "x: extraneous characters at the end of line", ...), followed by
 * 'Try "help NAME" for more information' once the command is known.
 * Also the `help` and bare `info` commands, which list the table.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor-internal.h"
#include "monitor.h"
#include "util.h"

#define HMP_WORD_MAX 4096

typedef struct HmpParser {
    const char *p;          /* cursor in the line */
    const char *msg_name;   /* command name in messages ("registers" for info) */
    MonError *err;
    json_object *args;
} HmpParser;

static void skip_ws(HmpParser *ps)
{
    while (*ps->p && isspace((unsigned char)*ps->p))
        ps->p++;
}

static bool at_end(HmpParser *ps)
{
    skip_ws(ps);
    return *ps->p == '\0';
}

/* A command name ends at white space or at a '/' ("x/4x 0" is allowed). */
static void read_name(const char **p, char *buf, size_t size)
{
    size_t n = 0;
    while (**p && !isspace((unsigned char)**p) && **p != '/') {
        if (n + 1 < size)
            buf[n++] = **p;
        (*p)++;
    }
    buf[n] = '\0';
}

/* An unquoted word: up to white space.  Returns its length (capped). */
static size_t read_word(HmpParser *ps, char *buf, size_t size)
{
    size_t n = 0;
    while (*ps->p && !isspace((unsigned char)*ps->p)) {
        if (n + 1 < size)
            buf[n++] = *ps->p;
        ps->p++;
    }
    buf[n] = '\0';
    return n;
}

/* ----------------------------------------------------------- arg types */

static int fail(HmpParser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(HmpParser *ps, const char *fmt, ...)
{
    char msg[sizeof(ps->err->desc)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mon_error_set(ps->err, ERROR_CLASS_GENERIC, "%s", msg);
    return -1;
}

static int fail_string_expected(HmpParser *ps)
{
    return fail(ps, "%s: string expected", ps->msg_name);
}

/* A "quoted string" with C-like escapes \n \r \\ \' \". */
static int parse_quoted(HmpParser *ps, char *buf, size_t size)
{
    size_t n = 0;
    ps->p++;   /* opening quote */
    for (;;) {
        char c = *ps->p;
        if (c == '\0')
            return fail_string_expected(ps);   /* unterminated */
        ps->p++;
        if (c == '"')
            break;
        if (c == '\\') {
            char e = *ps->p;
            if (e == 'n')
                c = '\n';
            else if (e == 'r')
                c = '\r';
            else if (e == '\\' || e == '\'' || e == '"')
                c = e;
            else
                return fail_string_expected(ps);   /* unsupported escape */
            ps->p++;
        }
        if (n + 1 < size)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return 0;
}

static int parse_string(HmpParser *ps, const char *name)
{
    char *buf = xmalloc(HMP_WORD_MAX);
    int ret = 0;
    if (*ps->p == '"')
        ret = parse_quoted(ps, buf, HMP_WORD_MAX);
    else
        read_word(ps, buf, HMP_WORD_MAX);
    if (ret == 0)
        json_object_object_add(ps->args, name, json_object_new_string(buf));
    free(buf);
    return ret;
}

/* The rest of the line, without trailing white space. */
static int parse_rest(HmpParser *ps, const char *name)
{
    size_t len = strlen(ps->p);
    while (len && isspace((unsigned char)ps->p[len - 1]))
        len--;
    json_object_object_add(ps->args, name, json_object_new_string_len(ps->p, (int)len));
    ps->p += strlen(ps->p);
    return 0;
}

/*
 * An integer: optional '-', then decimal, 0x hex or 0 octal (strtoull's
 * base 0, as QEMU's expression parser reads numbers).  Parsing stops at the
 * first character that is not part of the number; whatever follows is the
 * next argument or "extraneous characters".
 */
static int parse_integer(HmpParser *ps, const char *name)
{
    const char *s = ps->p;
    bool neg = false;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        if (!*s)
            return fail(ps, "unexpected end of expression");
        return fail(ps, "invalid char '%c' in expression", *s);
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno == ERANGE)
        return fail(ps, "number too large");
    ps->p = end;
    int64_t val = neg ? (int64_t)(0 - (uint64_t)v) : (int64_t)v;
    json_object_object_add(ps->args, name, json_object_new_int64(val));
    return 0;
}

/* A size with an optional k/M/G/T suffix, bytes by default. */
static int parse_octets(HmpParser *ps, const char *name)
{
    char word[64];
    uint64_t v;
    read_word(ps, word, sizeof(word));
    if (parse_size(word, 'B', &v) < 0 || v > INT64_MAX)
        return fail(ps, "invalid size");
    json_object_object_add(ps->args, name, json_object_new_int64((int64_t)v));
    return 0;
}

static int parse_onoff(HmpParser *ps, const char *name)
{
    char word[16];
    read_word(ps, word, sizeof(word));
    if (strcmp(word, "on") && strcmp(word, "off"))
        return fail(ps, "Expected 'on' or 'off'");
    json_object_object_add(ps->args, name, json_object_new_boolean(!strcmp(word, "on")));
    return 0;
}

static json_object *format_object(long count, char format, int size)
{
    json_object *o = json_object_new_object();
    char f[2] = { format, 0 };
    json_object_object_add(o, "count", json_object_new_int64(count));
    json_object_object_add(o, "format", json_object_new_string(f));
    json_object_object_add(o, "size", json_object_new_int(size));
    return o;
}

/*
 * "/NFU": count N (decimal), then format and unit letters in any order.
 * Without a '/' the defaults stand: one 4-byte word in hex.  A 'c' format
 * without a unit dumps bytes, 'a' (address) target longs.
 */
static int parse_format(HmpParser *ps, const char *name)
{
    long count = 1;
    char format = 'x';
    int size = 0;
    if (*ps->p == '/') {
        ps->p++;
        if (isdigit((unsigned char)*ps->p)) {
            char *end;
            count = strtol(ps->p, &end, 10);
            if (count < 0 || count > 0x100000)
                return fail(ps, "invalid count in format");
            ps->p = end;
        }
        for (; *ps->p && !isspace((unsigned char)*ps->p); ps->p++) {
            char c = *ps->p;
            const char *unit = strchr("bhwg", c);
            if (strchr("xduotcia", c)) {
                format = c;
            } else if (unit) {
                size = 1 << (unit - "bhwg");
            } else {
                return fail(ps, "invalid char in format: '%c'", c);
            }
        }
    }
    if (!size)
        size = format == 'c' ? 1 : format == 'a' ? 8 : 4;
    json_object_object_add(ps->args, name, format_object(count, format, size));
    return 0;
}

/* ---------------------------------------------------------------- flags */

/* Does the spec have "-X" flags at all? */
static bool spec_has_flags(const char *spec)
{
    char name[64], type[8];
    bool opt;
    while (monitor_spec_next(&spec, name, sizeof(name), type, sizeof(type), &opt))
        if (type[0] == '-')
            return true;
    return false;
}

/* The spec item whose type is exactly the flag word ("-a"). */
static bool spec_find_flag(const char *spec, const char *word, char *name, size_t len)
{
    char type[8];
    bool opt;
    while (monitor_spec_next(&spec, name, len, type, sizeof(type), &opt))
        if (type[0] == '-' && !strcmp(type, word))
            return true;
    return false;
}

/* Consume "-X" flag words at the cursor (commands that take flags only). */
static int parse_flags(HmpParser *ps, const char *spec)
{
    if (!spec_has_flags(spec))
        return 0;
    while (!at_end(ps) && ps->p[0] == '-' && isalpha((unsigned char)ps->p[1])) {
        char word[32], name[64];
        read_word(ps, word, sizeof(word));
        if (!spec_find_flag(spec, word, name, sizeof(name))) {
            return fail(ps, "%s: unsupported option %s", ps->msg_name, word);
        }
        json_object_object_add(ps->args, name, json_object_new_boolean(true));
    }
    return 0;
}

/* ----------------------------------------------------------- the parser */

static int parse_one(HmpParser *ps, const char *name, const char *type, bool optional)
{
    if (type[0] == '/') {
        skip_ws(ps);
        return parse_format(ps, name);
    }
    if (at_end(ps)) {
        if (optional)
            return 0;
        switch (type[0]) {
        case 'i':
        case 'o':
            return fail(ps, "unexpected end of expression");
        case 'b':
            return fail(ps, "Expected 'on' or 'off'");
        default:
            return fail_string_expected(ps);
        }
    }
    switch (type[0]) {
    case 's': return parse_string(ps, name);
    case 'S': return parse_rest(ps, name);
    case 'i': return parse_integer(ps, name);
    case 'o': return parse_octets(ps, name);
    case 'b': return parse_onoff(ps, name);
    default:
        return fail(ps, "%s: bad argument spec", ps->msg_name);
    }
}

static int parse_args(HmpParser *ps, const char *spec)
{
    const char *p = spec ? spec : "";
    char name[64], type[8];
    bool optional;
    while (monitor_spec_next(&p, name, sizeof(name), type, sizeof(type), &optional)) {
        if (type[0] == '-')
            continue;   /* flags are taken where they appear */
        if (parse_flags(ps, spec) < 0 || parse_one(ps, name, type, optional) < 0)
            return -1;
    }
    if (parse_flags(ps, spec) < 0)
        return -1;
    if (!at_end(ps))
        return fail(ps, "%s: extraneous characters at the end of line", ps->msg_name);
    return 0;
}

/* Find the row for the start of the line; "info X" takes two words. */
static const MonCommand *lookup(const char **p, char *display, size_t size,
                                MonError *err)
{
    char word[128], sub[128];
    read_name(p, word, sizeof(word));
    snprintf(display, size, "%s", word);
    if (strcmp(word, "info"))
        goto single;
    while (isspace((unsigned char)**p))
        (*p)++;
    read_name(p, sub, sizeof(sub));
    if (!*sub)
        goto single;
    char full[256];
    snprintf(full, sizeof(full), "info %s", sub);
    snprintf(display, size, "%s", sub);
    const MonCommand *cmd = monitor_find_hmp(full);
    if (!cmd)
        mon_error_set(err, ERROR_CLASS_COMMAND_NOT_FOUND, "unknown command: '%s'", full);
    return cmd;
single:;
    const MonCommand *c = monitor_find_hmp(word);
    if (!c)
        mon_error_set(err, ERROR_CLASS_COMMAND_NOT_FOUND, "unknown command: '%s'", word);
    return c;
}

/*
 * On success *cmd is the command (NULL for an empty line) and *args a new
 * object.  On failure *cmd is still set when the name was known, so the
 * caller can point at "help NAME".
 */
int hmp_parse(const char *line, const MonCommand **cmd, json_object **args, MonError *err)
{
    HmpParser ps = { .p = line ? line : "", .err = err };
    char display[128];
    *cmd = NULL;
    *args = NULL;
    if (at_end(&ps))
        return 0;
    const MonCommand *c = lookup(&ps.p, display, sizeof(display), err);
    if (!c)
        return -1;
    *cmd = c;
    ps.msg_name = display;
    ps.args = json_object_new_object();
    if (parse_args(&ps, c->args) < 0) {
        json_object_put(ps.args);
        return -1;
    }
    *args = ps.args;
    return 0;
}

void hmp_execute(Monitor *mon, const char *line)
{
    const MonCommand *cmd;
    json_object *args;
    MonError err = { 0 };
    if (hmp_parse(line, &cmd, &args, &err) < 0) {
        monitor_printf(mon, "%s\n", err.desc);
        if (cmd)
            monitor_printf(mon, "Try \"help %s\" for more information\n", cmd->hmp_name);
        return;
    }
    if (!cmd)
        return;
    MonError rerr = { 0 };
    json_object *result = cmd->run(args, &rerr);
    if (rerr.set) {
        monitor_printf(mon, "Error: %s\n", rerr.desc);
    } else if (cmd->hmp_print) {
        if (!result)
            result = json_object_new_object();
        cmd->hmp_print(mon, result);
    }
    json_object_put(result);
    json_object_put(args);
}

/* ----------------------------------------------------------- help, info */

static bool same_str(const char *a, const char *b)
{
    return (a ? a : "")[0] == (b ? b : "")[0] && !strcmp(a ? a : "", b ? b : "");
}

static bool is_info_row(const MonCommand *c)
{
    return !strncmp(c->hmp_name, "info ", 5);
}

/*
 * Alias rows ("q" for "quit") run the same function with the same spec;
 * the longest name is the main row, the others are listed after it with
 * '|' as QEMU does ("quit|q").
 */
static bool is_alias_of(const MonCommand *alias, const MonCommand *main_row)
{
    return alias != main_row && alias->hmp_name && main_row->hmp_name &&
           alias->run == main_row->run && same_str(alias->args, main_row->args) &&
           is_info_row(alias) == is_info_row(main_row) &&
           (strlen(alias->hmp_name) < strlen(main_row->hmp_name) ||
            (strlen(alias->hmp_name) == strlen(main_row->hmp_name) && alias > main_row));
}

static const MonCommand *main_row_of(const MonCommand *c)
{
    const MonCommand *o;
    for (size_t i = 0; (o = monitor_command_at(i)); i++)
        if (is_alias_of(c, o))
            return main_row_of(o);
    return c;
}

static void print_help_row(Monitor *mon, const MonCommand *c)
{
    const MonCommand *o;
    monitor_printf(mon, "%s", c->hmp_name);
    for (size_t i = 0; (o = monitor_command_at(i)); i++)
        if (is_alias_of(o, c))
            monitor_printf(mon, "|%s", o->hmp_name);
    monitor_printf(mon, " %s -- %s\n", c->hmp_params ? c->hmp_params : "",
                   c->help ? c->help : "");
}

static int cmp_rows(const void *a, const void *b)
{
    const MonCommand *x = *(const MonCommand *const *)a;
    const MonCommand *y = *(const MonCommand *const *)b;
    return strcmp(x->hmp_name, y->hmp_name);
}

/* All main rows, sorted by name: the info subcommands or the others. */
static void print_help_list(Monitor *mon, bool info)
{
    size_t n = 0, cap = 0;
    const MonCommand **rows = NULL, *c;
    for (size_t i = 0; (c = monitor_command_at(i)); i++) {
        if (!c->hmp_name || is_info_row(c) != info || main_row_of(c) != c)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            rows = xrealloc(rows, cap * sizeof(*rows));
        }
        rows[n++] = c;
    }
    if (n)
        qsort(rows, n, sizeof(*rows), cmp_rows);
    for (size_t i = 0; i < n; i++)
        print_help_row(mon, rows[i]);
    free(rows);
}

static json_object *run_echo_args(json_object *args, MonError *err)
{
    return json_object_get(args);
}

/* "help", "help NAME", "help info", "help info NAME". */
static void help_print(Monitor *mon, json_object *result)
{
    json_object *v;
    const char *name = json_object_object_get_ex(result, "name", &v)
                           ? json_object_get_string(v) : "";
    if (!*name) {
        print_help_list(mon, false);
        return;
    }
    if (!strcmp(name, "info")) {
        print_help_list(mon, true);
        return;
    }
    char full[256];
    const char *p = name;
    MonError err = { 0 };
    const MonCommand *c = lookup(&p, full, sizeof(full), &err);
    if (!c) {
        /* QEMU names the word it could not find. */
        monitor_printf(mon, "%s\n", err.desc);
        return;
    }
    print_help_row(mon, main_row_of(c));
}

static void info_print(Monitor *mon, json_object *result)
{
    print_help_list(mon, true);
}

static const MonCommand hmp_help_commands[] = {
    { .hmp_name = "help", .args = "name:S?", .hmp_params = "[cmd]",
      .help = "show the help", .run = run_echo_args, .hmp_print = help_print },
    { .hmp_name = "?", .args = "name:S?", .hmp_params = "[cmd]",
      .help = "show the help", .run = run_echo_args, .hmp_print = help_print },
    { .hmp_name = "info", .args = "", .hmp_params = "[subcommand]",
      .help = "show various information about the system state",
      .run = run_echo_args, .hmp_print = info_print },
};

/* Runs before main(): `help` and `info` exist in every table, also in
 * unit tests that register only their own rows. */
__attribute__((constructor)) static void hmp_register_help(void)
{
    monitor_register_commands(hmp_help_commands, ARRAY_SIZE(hmp_help_commands));
}
