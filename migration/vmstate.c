/*
 * The state-description engine (include/vmstate.h): a registry of
 * (description, instance, opaque) sections, and the generic save/load of a
 * description's field table.
 *
 * Encoding of one description, field by field in table order: integers
 * big-endian in their size, bools as one byte, buffers as they are, timers
 * as a be64 deadline (-1 idle), a nested struct as its description's
 * version (be32) then each element's fields.  A field with version_added
 * newer than the stream's version is absent from it.  The optional save
 * hook's data follows the fields.
 *
 * In a migration stream each section is framed (vmstate_save_all):
 *   u8 SECTION_MARK, u8 name length, name, be32 instance, be32 version,
 *   be32 data length, data
 * and ends with u8 SECTION_END.  The data of a section is loaded from its
 * own memory stream, so a length that disagrees with what the table reads
 * is caught at that section, never read into the next one.
 */
#include <stdlib.h>
#include <string.h>

#include "migration.h"
#include "util.h"
#include "vmstate.h"

#define SECTION_MARK 0x5e
#define SECTION_END 0x0e
#define SECTION_MAX_BYTES (256u * 1024 * 1024)

typedef struct Section {
    const VMStateDescription *vmsd;
    int instance;
    void *opaque;
} Section;

static Section *sections;
static unsigned nsections, cap_sections;

/* ---- table checks ---- */

static size_t type_size(VMStateType t)
{
    switch (t) {
    case VMS_U8: return 1;
    case VMS_U16: return 2;
    case VMS_U32: case VMS_I32: return 4;
    case VMS_U64: case VMS_I64: return 8;
    case VMS_BOOL: return sizeof(bool);
    case VMS_TIMER: return sizeof(void *);
    default: return 0;      /* BUFFER, STRUCT: any */
    }
}

static int check_table(const VMStateDescription *d, unsigned depth)
{
    if (!d || !d->name || !d->version || depth > 8) {
        error_report("vmstate %s: malformed description", d && d->name ? d->name : "?");
        return -1;
    }
    for (const VMStateField *f = d->fields; f && f->name; f++) {
        size_t want = type_size(f->type);
        const char *why = NULL;
        if ((unsigned)f->type > VMS_TIMER)
            why = "unknown type";
        else if (f->count == 0 || f->size == 0)
            why = "zero size or count";
        else if (want && f->size != want)
            why = "size does not match its type";
        else if ((f->type == VMS_BUFFER || f->type == VMS_TIMER) && f->count != 1)
            why = "buffers and timers cannot be arrays";
        else if (f->type == VMS_STRUCT && !f->sub)
            why = "struct without a description";
        else if (f->version_added > d->version)
            why = "added in a version newer than the description";
        if (why) {
            error_report("vmstate %s: field %s: %s", d->name, f->name, why);
            return -1;
        }
        if (f->type == VMS_STRUCT && check_table(f->sub, depth + 1) < 0)
            return -1;
    }
    return 0;
}

/* ---- registry ---- */

static int find_section(const char *name, int instance)
{
    for (unsigned i = 0; i < nsections; i++) {
        if (!strcmp(sections[i].vmsd->name, name) && sections[i].instance == instance)
            return (int)i;
    }
    return -1;
}

int vmstate_register(const VMStateDescription *vmsd, int instance, void *opaque)
{
    if (check_table(vmsd, 0) < 0)
        return -1;
    if (strlen(vmsd->name) > 255) {
        error_report("vmstate %.40s...: name too long", vmsd->name);
        return -1;
    }
    if (find_section(vmsd->name, instance) >= 0) {
        error_report("vmstate %s instance %d: registered twice", vmsd->name, instance);
        return -1;
    }
    if (nsections == cap_sections) {
        cap_sections = cap_sections ? cap_sections * 2 : 32;
        sections = xrealloc(sections, cap_sections * sizeof(*sections));
    }
    sections[nsections++] = (Section){ vmsd, instance, opaque };
    return 0;
}

void vmstate_unregister(const VMStateDescription *vmsd, void *opaque)
{
    for (unsigned i = 0; i < nsections; i++) {
        if (sections[i].vmsd == vmsd && sections[i].opaque == opaque) {
            memmove(&sections[i], &sections[i + 1], (nsections - i - 1) * sizeof(*sections));
            nsections--;
            return;
        }
    }
}

bool vmstate_section_at(unsigned i, const VMStateDescription **vmsd, int *instance,
                        void **opaque)
{
    if (i >= nsections)
        return false;
    if (vmsd)
        *vmsd = sections[i].vmsd;
    if (instance)
        *instance = sections[i].instance;
    if (opaque)
        *opaque = sections[i].opaque;
    return true;
}

unsigned vmstate_section_count(void)
{
    return nsections;
}

/* ---- one element of a field ---- */

static void save_scalar(MigStream *s, VMStateType t, const uint8_t *p)
{
    switch (t) {
    case VMS_U8: mig_put_u8(s, *p); break;
    case VMS_U16: { uint16_t v; memcpy(&v, p, 2); mig_put_be16(s, v); break; }
    case VMS_U32: case VMS_I32: { uint32_t v; memcpy(&v, p, 4); mig_put_be32(s, v); break; }
    case VMS_U64: case VMS_I64: { uint64_t v; memcpy(&v, p, 8); mig_put_be64(s, v); break; }
    case VMS_BOOL: mig_put_u8(s, *(const bool *)p ? 1 : 0); break;
    default: break;
    }
}

static void load_scalar(MigStream *s, VMStateType t, uint8_t *p)
{
    switch (t) {
    case VMS_U8: *p = mig_get_u8(s); break;
    case VMS_U16: { uint16_t v = mig_get_be16(s); memcpy(p, &v, 2); break; }
    case VMS_U32: case VMS_I32: { uint32_t v = mig_get_be32(s); memcpy(p, &v, 4); break; }
    case VMS_U64: case VMS_I64: { uint64_t v = mig_get_be64(s); memcpy(p, &v, 8); break; }
    case VMS_BOOL: *(bool *)p = mig_get_u8(s) != 0; break;
    default: break;
    }
}

static void save_timer(MigStream *s, Timer *t)
{
    mig_put_be64(s, (uint64_t)(t ? timer_expire_time(t) : -1));
}

/* Timer fields point at timers the device made; the deadline is in that
 * timer's own clock (virtual deadlines hold since the clock migrates). */
static int load_timer(MigStream *s, Timer *t, const char *name)
{
    int64_t when = (int64_t)mig_get_be64(s);
    if (mig_stream_error(s))
        return -1;
    if (when < -1)
        return mig_stream_set_error(s, "timer %s: bad deadline %lld", name, (long long)when);
    if (!t)
        return 0;
    if (when < 0)
        timer_del(t);
    else
        timer_mod(t, when);
    return 0;
}

/* ---- descriptions ---- */

static void save_fields(MigStream *s, const VMStateDescription *d, void *opaque);
static int load_fields(MigStream *s, const VMStateDescription *d, void *opaque, unsigned v);

static void save_field(MigStream *s, const VMStateField *f, uint8_t *base)
{
    uint8_t *p = base + f->offset;
    switch (f->type) {
    case VMS_BUFFER:
        mig_put_buf(s, p, f->size);
        break;
    case VMS_TIMER:
        save_timer(s, *(Timer **)p);
        break;
    case VMS_STRUCT:
        mig_put_be32(s, f->sub->version);
        for (unsigned i = 0; i < f->count; i++)
            vmstate_save_state(s, f->sub, p + (size_t)i * f->size);
        break;
    default:
        for (unsigned i = 0; i < f->count; i++)
            save_scalar(s, f->type, p + (size_t)i * f->size);
        break;
    }
}

static int load_field(MigStream *s, const VMStateField *f, uint8_t *base)
{
    uint8_t *p = base + f->offset;
    switch (f->type) {
    case VMS_BUFFER:
        return mig_get_buf(s, p, f->size);
    case VMS_TIMER:
        return load_timer(s, *(Timer **)p, f->name);
    case VMS_STRUCT: {
        uint32_t v = mig_get_be32(s);
        if (!mig_stream_error(s) && (v == 0 || v > f->sub->version))
            return mig_stream_set_error(s, "%s: version %u of %s not supported", f->name, v,
                                        f->sub->name);
        for (unsigned i = 0; i < f->count && !mig_stream_error(s); i++) {
            if (vmstate_load_state(s, f->sub, p + (size_t)i * f->size, v) < 0)
                return -1;
        }
        break;
    }
    default:
        for (unsigned i = 0; i < f->count; i++)
            load_scalar(s, f->type, p + (size_t)i * f->size);
        break;
    }
    return mig_stream_error(s) ? -1 : 0;
}

static void save_fields(MigStream *s, const VMStateDescription *d, void *opaque)
{
    for (const VMStateField *f = d->fields; f && f->name; f++)
        save_field(s, f, opaque);
}

static int load_fields(MigStream *s, const VMStateDescription *d, void *opaque, unsigned v)
{
    for (const VMStateField *f = d->fields; f && f->name; f++) {
        if (f->version_added > v)
            continue;   /* not in streams that old: keeps its reset value */
        if (load_field(s, f, opaque) < 0) {
            if (!mig_stream_error(s))
                mig_stream_set_error(s, "%s: field %s", d->name, f->name);
            return -1;
        }
    }
    return 0;
}

void vmstate_save_state(MigStream *s, const VMStateDescription *vmsd, void *opaque)
{
    if (vmsd->pre_save && vmsd->pre_save(opaque) < 0) {
        mig_stream_set_error(s, "%s: could not save its state", vmsd->name);
        return;
    }
    save_fields(s, vmsd, opaque);
    if (vmsd->save)
        vmsd->save(s, opaque);
}

int vmstate_load_state(MigStream *s, const VMStateDescription *vmsd, void *opaque,
                       unsigned version)
{
    if (version == 0 || version > vmsd->version)
        return mig_stream_set_error(s, "%s: version %u not supported (at most %u)", vmsd->name,
                                    version, vmsd->version);
    if (load_fields(s, vmsd, opaque, version) < 0)
        return -1;
    if (vmsd->load && vmsd->load(s, opaque, version) < 0)
        return mig_stream_set_error(s, "%s: invalid state", vmsd->name);
    if (mig_stream_error(s))
        return -1;
    if (vmsd->post_load && vmsd->post_load(opaque, version) < 0)
        return mig_stream_set_error(s, "%s: invalid state", vmsd->name);
    return 0;
}

/* ---- framed sections ---- */

static void save_section(MigStream *s, const Section *sec)
{
    MigStream *mem = mig_stream_new_mem_writer();
    vmstate_save_state(mem, sec->vmsd, sec->opaque);
    if (mig_stream_error(mem)) {
        mig_stream_set_error(s, "%s", mig_stream_error(mem));
    } else {
        size_t len, nlen = strlen(sec->vmsd->name);
        const uint8_t *data = mig_stream_mem_data(mem, &len);
        mig_put_u8(s, SECTION_MARK);
        mig_put_u8(s, (uint8_t)nlen);
        mig_put_buf(s, sec->vmsd->name, nlen);
        mig_put_be32(s, (uint32_t)sec->instance);
        mig_put_be32(s, sec->vmsd->version);
        mig_put_be32(s, (uint32_t)len);
        mig_put_buf(s, data, len);
    }
    mig_stream_close(mem);
}

void vmstate_save_all(MigStream *s)
{
    for (unsigned i = 0; i < nsections && !mig_stream_error(s); i++)
        save_section(s, &sections[i]);
    mig_put_u8(s, SECTION_END);
}

/* Load one section's data, which must be consumed exactly. */
static int load_section_data(MigStream *s, const Section *sec, unsigned version, uint32_t len)
{
    const char *name = sec->vmsd->name;
    if (len > SECTION_MAX_BYTES)
        return mig_stream_set_error(s, "section %s: length %u too large", name, len);
    uint8_t *data = xmalloc(len ? len : 1);
    if (mig_get_buf(s, data, len) < 0) {
        free(data);
        return -1;
    }
    MigStream *mem = mig_stream_new_mem(data, len);
    free(data);
    int ret = vmstate_load_state(mem, sec->vmsd, sec->opaque, version);
    if (ret == 0 && mig_stream_pending(mem))
        mig_stream_set_error(mem, "%zu bytes left over", mig_stream_pending(mem)), ret = -1;
    if (ret < 0)
        mig_stream_set_error(s, "section %s instance %d: %s", name, sec->instance,
                             mig_stream_error(mem));
    mig_stream_close(mem);
    return ret;
}

/* Read one framed section header and its data; 1 at the end marker. */
static int load_one(MigStream *s, bool *seen)
{
    uint8_t mark = mig_get_u8(s);
    if (mig_stream_error(s))
        return -1;
    if (mark == SECTION_END)
        return 1;
    if (mark != SECTION_MARK)
        return mig_stream_set_error(s, "bad section marker 0x%02x", mark);
    char name[256];
    uint8_t nlen = mig_get_u8(s);
    mig_get_buf(s, name, nlen);
    name[nlen] = 0;
    int instance = (int)mig_get_be32(s);
    uint32_t version = mig_get_be32(s), len = mig_get_be32(s);
    if (mig_stream_error(s))
        return -1;
    if (memchr(name, 0, nlen))
        return mig_stream_set_error(s, "bad section name");
    int i = find_section(name, instance);
    if (i < 0)
        return mig_stream_set_error(s, "unknown section %s instance %d (not on this machine)",
                                    name, instance);
    if (seen[i])
        return mig_stream_set_error(s, "section %s instance %d sent twice", name, instance);
    seen[i] = true;
    return load_section_data(s, &sections[i], version, len);
}

int vmstate_load_all(MigStream *s)
{
    bool *seen = xzalloc((nsections ? nsections : 1) * sizeof(bool));
    int ret;
    while ((ret = load_one(s, seen)) == 0) {
    }
    for (unsigned i = 0; ret == 1 && i < nsections; i++) {
        if (!seen[i]) {
            mig_stream_set_error(s, "section %s instance %d missing from the stream",
                                 sections[i].vmsd->name, sections[i].instance);
            ret = -1;
        }
    }
    free(seen);
    return ret == 1 ? 0 : -1;
}
