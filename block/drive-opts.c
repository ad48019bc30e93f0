/*
 * -drive option parsing (QEMU's syntax): file=, format=, if=, index=,
 * media=, cache=, aio=, readonly=, snapshot=, discard=, id=, serial=.
 * Nothing is opened here; blk_open() does that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "util.h"

typedef struct {
    const char *name;
    int value;
} NamedValue;

static const NamedValue cache_modes[] = {
    { "writeback", BLK_CACHE_WRITEBACK },
    { "none", BLK_CACHE_NONE },
    { "writethrough", BLK_CACHE_WRITETHROUGH },
    { "directsync", BLK_CACHE_DIRECTSYNC },
    { "unsafe", BLK_CACHE_UNSAFE },
};

static const NamedValue interfaces[] = {
    { "ide", BLK_IF_IDE },
    { "virtio", BLK_IF_VIRTIO },
    { "none", BLK_IF_NONE },
};

static const NamedValue aio_modes[] = {
    { "threads", BLK_AIO_THREADS },
    { "native", BLK_AIO_NATIVE },
};

static const NamedValue media_types[] = {
    { "disk", BLK_MEDIA_DISK },
    { "cdrom", BLK_MEDIA_CDROM },
};

static const NamedValue discard_modes[] = {
    { "ignore", 0 }, { "off", 0 }, { "unmap", 1 }, { "on", 1 },
};

static int lookup(const NamedValue *t, size_t n, const char *name, int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].name, name) == 0) {
            *out = t[i].value;
            return 0;
        }
    }
    return -1;
}

#define LOOKUP(table, name, out) lookup(table, ARRAY_SIZE(table), name, out)

const char *blk_cache_mode_name(BlockCacheMode m)
{
    for (size_t i = 0; i < ARRAY_SIZE(cache_modes); i++) {
        if (cache_modes[i].value == (int)m)
            return cache_modes[i].name;
    }
    return "?";
}

static bool cache_is_direct(BlockCacheMode m)
{
    return m == BLK_CACHE_NONE || m == BLK_CACHE_DIRECTSYNC;
}

/* QEMU's id rule: a letter, then letters, digits, '-', '.', '_'. */
static bool id_well_formed(const char *id)
{
    if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z')))
        return false;
    for (const char *p = id + 1; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
            return false;
    }
    return true;
}

static const char *const if_names[] = {
    [BLK_IF_NONE] = "none", [BLK_IF_IDE] = "ide", [BLK_IF_VIRTIO] = "virtio",
};

/* QEMU's names: "ide<bus>-hd<unit>" / "-cd", "virtio<index>", "none<index>". */
char *blk_drive_default_id(BlockInterface itf, BlockMedia media, int index)
{
    if (index < 0)
        return NULL;
    if (itf == BLK_IF_IDE)
        return xasprintf("ide%d-%s%d", index / 2, media == BLK_MEDIA_CDROM ? "cd" : "hd",
                         index % 2);
    return xasprintf("%s%d", if_names[itf], index);
}

/* Parsing state: the option list, the original text for messages, output. */
typedef struct {
    Opts *kv;
    const char *text;
    DriveOptions *o;
} DriveParse;

static int bad(const DriveParse *p, const char *why, const char *val)
{
    error_report("-drive %s: %s%s%s%s", p->text, why, val ? " '" : "", val ? val : "",
                 val ? "'" : "");
    return -1;
}

static int parse_enum(DriveParse *p, const char *key, const NamedValue *t, size_t n,
                      const char *why, int *out)
{
    const char *v = opts_get(p->kv, key);
    if (!v)
        return 0;
    if (lookup(t, n, v, out) < 0)
        return bad(p, why, v);
    return 0;
}

static int parse_flag(DriveParse *p, const char *key, bool *out)
{
    const char *v = opts_get(p->kv, key);
    if (v && parse_bool(v, out) < 0) {
        error_report("-drive %s: Parameter '%s' expects 'on' or 'off'", p->text, key);
        return -1;
    }
    return 0;
}

static int parse_strings(DriveParse *p)
{
    const char *file = opts_get(p->kv, "file");
    const char *id = opts_get(p->kv, "id");
    const char *serial = opts_get(p->kv, "serial");
    const char *format = opts_get(p->kv, "format");
    if (file && *file)
        p->o->file = xstrdup(file);
    if (id) {
        if (!id_well_formed(id)) {
            error_report("-drive %s: Parameter 'id' expects an identifier", p->text);
            return -1;
        }
        p->o->id = xstrdup(id);
    }
    if (serial)
        p->o->serial = xstrdup(serial);
    if (format) {
        if (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0)
            return bad(p, "Unknown driver", format);
        p->o->format = xstrdup(format);
    }
    return 0;
}

static int parse_index(DriveParse *p)
{
    const char *v = opts_get(p->kv, "index");
    uint64_t n;
    p->o->index = -1;
    if (!v)
        return 0;
    /* QEMU allows bus * max_devs + unit; 1024 is far beyond any bus here. */
    if (parse_uint(v, &n) < 0 || n >= 1024)
        return bad(p, "invalid index", v);
    p->o->index = (int)n;
    return 0;
}

/* The error options exist in QEMU; only their default behaviour is here. */
static int parse_error_actions(DriveParse *p)
{
    const char *w = opts_get(p->kv, "werror");
    const char *r = opts_get(p->kv, "rerror");
    if (w && strcmp(w, "enospc") != 0 && strcmp(w, "report") != 0)
        return bad(p, "werror action is not supported yet:", w);
    if (r && strcmp(r, "report") != 0)
        return bad(p, "rerror action is not supported yet:", r);
    return 0;
}

static int parse_enums(DriveParse *p)
{
    int itf = BLK_IF_IDE, media = BLK_MEDIA_DISK, cache = BLK_CACHE_WRITEBACK;
    int aio = BLK_AIO_THREADS, discard = 0;
    if (parse_enum(p, "if", interfaces, ARRAY_SIZE(interfaces), "unsupported bus type", &itf) ||
        parse_enum(p, "media", media_types, ARRAY_SIZE(media_types), "invalid media", &media) ||
        parse_enum(p, "cache", cache_modes, ARRAY_SIZE(cache_modes), "invalid cache option",
                   &cache) ||
        parse_enum(p, "aio", aio_modes, ARRAY_SIZE(aio_modes), "invalid aio option", &aio) ||
        parse_enum(p, "discard", discard_modes, ARRAY_SIZE(discard_modes),
                   "invalid discard option", &discard))
        return -1;
    p->o->interface = itf;
    p->o->media = media;
    p->o->cache = cache;
    p->o->aio = aio;
    p->o->discard_unmap = discard;
    return 0;
}

static int check_combination(DriveParse *p)
{
    DriveOptions *o = p->o;
    if (o->aio == BLK_AIO_NATIVE && !cache_is_direct(o->cache)) {
        error_report("-drive %s: aio=native was specified, but it requires "
                     "cache.direct=on (cache=none or directsync)", p->text);
        return -1;
    }
    if (!o->file && o->media != BLK_MEDIA_CDROM) {
        error_report("-drive %s: A disk needs a file (file=); only media=cdrom may be empty",
                     p->text);
        return -1;
    }
    /* A CD-ROM is read-only whatever readonly= says, as in QEMU. */
    if (o->media == BLK_MEDIA_CDROM)
        o->readonly = true;
    return 0;
}

int blk_parse_drive(const char *optstr, DriveOptions *out)
{
    char err[256];
    memset(out, 0, sizeof(*out));
    out->index = -1;
    DriveParse p = { .text = optstr ? optstr : "", .o = out };
    p.kv = opts_parse(p.text, NULL, err, sizeof(err));
    if (!p.kv) {
        error_report("-drive %s: %s", p.text, err);
        return -1;
    }
    int r = 0;
    if (parse_strings(&p) || parse_index(&p) || parse_enums(&p) || parse_error_actions(&p) ||
        parse_flag(&p, "readonly", &out->readonly) || parse_flag(&p, "snapshot", &out->snapshot))
        r = -1;
    const char *unused = r == 0 ? opts_first_unused(p.kv) : NULL;
    if (unused) {
        error_report("-drive %s: unknown parameter '%s'", p.text, unused);
        r = -1;
    }
    if (r == 0)
        r = check_combination(&p);
    if (r == 0 && !out->id)
        out->id = blk_drive_default_id(out->interface, out->media, out->index);
    opts_free(p.kv);
    if (r < 0)
        blk_drive_options_free(out);
    return r;
}

void blk_drive_options_free(DriveOptions *o)
{
    if (!o)
        return;
    free(o->id);
    free(o->file);
    free(o->format);
    free(o->serial);
    memset(o, 0, sizeof(*o));
    o->index = -1;
}

/* A deep copy, for the backend to keep. */
void blk_drive_options_copy(DriveOptions *dst, const DriveOptions *src)
{
    *dst = *src;
    dst->id = src->id ? xstrdup(src->id) : NULL;
    dst->file = src->file ? xstrdup(src->file) : NULL;
    dst->format = src->format ? xstrdup(src->format) : NULL;
    dst->serial = src->serial ? xstrdup(src->serial) : NULL;
}
