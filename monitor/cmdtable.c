/*
 * The monitor's one command table: every HMP and QMP command is a row
 * (MonCommand) registered in blocks at startup.  Also the QMP argument
 * checks against a row's spec, with QEMU's error wording (qapi visitors:
 * "Parameter '%s' is missing", "Parameter '%s' is unexpected", "Invalid
 * parameter type for '%s', expected: %s").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "monitor-internal.h"
#include "monitor.h"
#include "util.h"

/* ------------------------------------------------------------- errors */

void mon_error_set(MonError *err, ErrorClass cls, const char *fmt, ...)
{
    va_list ap;
    if (!err || err->set)
        return;   /* the first error is the one reported, as QEMU's Error */
    err->set = true;
    err->cls = cls;
    va_start(ap, fmt);
    vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
    va_end(ap);
}

const char *error_class_name(ErrorClass cls)
{
    switch (cls) {
    case ERROR_CLASS_COMMAND_NOT_FOUND: return "CommandNotFound";
    case ERROR_CLASS_DEVICE_NOT_ACTIVE: return "DeviceNotActive";
    case ERROR_CLASS_DEVICE_NOT_FOUND: return "DeviceNotFound";
    case ERROR_CLASS_KVM_MISSING_CAP: return "KVMMissingCap";
    case ERROR_CLASS_GENERIC:
    default: return "GenericError";
    }
}

/* -------------------------------------------------------------- table */

typedef struct CmdBlock {
    const MonCommand *cmds;
    size_t n;
} CmdBlock;

static CmdBlock *blocks;
static size_t nblocks;

void monitor_register_commands(const MonCommand *cmds, size_t n)
{
    if (!cmds || !n)
        return;
    blocks = xrealloc(blocks, (nblocks + 1) * sizeof(*blocks));
    blocks[nblocks].cmds = cmds;
    blocks[nblocks].n = n;
    nblocks++;
}

const MonCommand *monitor_command_at(size_t i)
{
    for (size_t b = 0; b < nblocks; b++) {
        if (i < blocks[b].n)
            return &blocks[b].cmds[i];
        i -= blocks[b].n;
    }
    return NULL;
}

const MonCommand *monitor_find_qmp(const char *name)
{
    const MonCommand *c;
    if (!name)
        return NULL;
    for (size_t i = 0; (c = monitor_command_at(i)); i++)
        if (c->qmp_name && !strcmp(c->qmp_name, name))
            return c;
    return NULL;
}

const MonCommand *monitor_find_hmp(const char *name)
{
    const MonCommand *c;
    if (!name)
        return NULL;
    for (size_t i = 0; (c = monitor_command_at(i)); i++)
        if (c->hmp_name && !strcmp(c->hmp_name, name))
            return c;
    return NULL;
}

/* ------------------------------------------------------ argument specs */

/*
 * Walk a spec "name:type,name:type?" one item at a time.  Returns false at
 * the end.  Names and types are copied into fixed buffers (specs are ours,
 * short and static).
 */
typedef struct SpecItem {
    char name[64];
    char type[8];       /* "s", "i", "/", "-a" ... */
    bool optional;
} SpecItem;

static bool spec_next(const char **p, SpecItem *it)
{
    const char *s = *p;
    while (*s == ',' || *s == ' ')
        s++;
    if (!*s)
        return false;
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *colon = memchr(s, ':', len);
    size_t nlen = colon ? (size_t)(colon - s) : len;
    snprintf(it->name, sizeof(it->name), "%.*s", (int)nlen, s);
    const char *t = colon ? colon + 1 : s + len;
    size_t tlen = s + len - t;
    it->optional = tlen && t[tlen - 1] == '?';
    if (it->optional)
        tlen--;
    snprintf(it->type, sizeof(it->type), "%.*s", (int)tlen, t);
    *p = s + len;
    return true;
}

bool monitor_spec_next(const char **p, char *name, size_t name_len, char *type,
                       size_t type_len, bool *optional)
{
    SpecItem it;
    if (!spec_next(p, &it))
        return false;
    snprintf(name, name_len, "%s", it.name);
    snprintf(type, type_len, "%s", it.type);
    *optional = it.optional;
    return true;
}

/* HMP-only types cannot come from QMP: "/" formats and "-X" flags. */
static bool type_is_hmp_only(const char *type)
{
    return type[0] == '/' || type[0] == '-';
}

static bool spec_has(const char *spec, const char *name, SpecItem *found)
{
    const char *p = spec ? spec : "";
    SpecItem it;
    while (spec_next(&p, &it)) {
        if (!strcmp(it.name, name) && !type_is_hmp_only(it.type)) {
            if (found)
                *found = it;
            return true;
        }
    }
    return false;
}

/* QAPI's names for the expected type in its "Invalid parameter type" error. */
static const char *type_expected_name(char type)
{
    switch (type) {
    case 'i':
    case 'o': return "integer";
    case 'b': return "boolean";
    case 'n': return "number";
    case 'a': return "array";
    default: return "string";
    }
}

static bool value_has_type(json_object *v, char type)
{
    switch (type) {
    case 'i':
    case 'o':
        return json_object_is_type(v, json_type_int);
    case 'b':
        return json_object_is_type(v, json_type_boolean);
    case 'n':
        return json_object_is_type(v, json_type_int) ||
               json_object_is_type(v, json_type_double);
    case 'a':
        return json_object_is_type(v, json_type_array);
    default:
        return json_object_is_type(v, json_type_string);
    }
}

int monitor_check_args(const MonCommand *cmd, json_object *args, MonError *err)
{
    const char *p = cmd->args ? cmd->args : "";
    SpecItem it;
    if (args && !json_object_is_type(args, json_type_object)) {
        mon_error_set(err, ERROR_CLASS_GENERIC, "QMP input member 'arguments' must be an object");
        return -1;
    }
    /* Mandatory ones present and every given one of the right type. */
    while (spec_next(&p, &it)) {
        if (type_is_hmp_only(it.type))
            continue;
        json_object *v = NULL;
        bool given = args && json_object_object_get_ex(args, it.name, &v);
        if (!given) {
            if (it.optional)
                continue;
            mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter '%s' is missing", it.name);
            return -1;
        }
        if (!value_has_type(v, it.type[0])) {
            mon_error_set(err, ERROR_CLASS_GENERIC,
                          "Invalid parameter type for '%s', expected: %s", it.name,
                          type_expected_name(it.type[0]));
            return -1;
        }
    }
    /* Nothing the spec does not name. */
    if (args) {
        json_object_object_foreach(args, key, val) {
            (void)val;
            if (!spec_has(cmd->args, key, NULL)) {
                mon_error_set(err, ERROR_CLASS_GENERIC, "Parameter '%s' is unexpected", key);
                return -1;
            }
        }
    }
    return 0;
}
