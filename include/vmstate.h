/*
 * Device state descriptions for migration (migration/vmstate.c).
 *
 * A device describes the fields of its state struct in a table; the
 * generic code saves and loads them by that table, each section tagged
 * with the description's name, the instance and its version.  A device
 * writes code only for what a table cannot express: re-deriving things
 * after load (IRQ lines, BAR mappings, ioeventfds, timers of other
 * clocks) in post_load, or odd-shaped state in save/load hooks.
 *
 * Sections are saved in registration order and loaded in stream order;
 * the destination, built from the same command line, has registered the
 * same (name, instance) pairs.  A section the destination does not know,
 * one it has and the stream lacks, or a version newer than the
 * destination's is a load error naming the section.
 *
 * Everything in the stream is hostile input: loading checks lengths and
 * post_load validates what it derives from (an index into an array, a
 * ring address) and returns -1 to refuse the stream.
 */
#ifndef VMM_VMSTATE_H
#define VMM_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the byte stream (migration/qemu-file.c) ---- */
/*
 * Big-endian, buffered.  Errors are sticky: after the first failure every
 * put is dropped and every get returns 0, and mig_stream_error() says why.
 */
typedef struct MigStream MigStream;
void mig_put_u8(MigStream *s, uint8_t v);
void mig_put_be16(MigStream *s, uint16_t v);
void mig_put_be32(MigStream *s, uint32_t v);
void mig_put_be64(MigStream *s, uint64_t v);
void mig_put_buf(MigStream *s, const void *buf, size_t len);
uint8_t mig_get_u8(MigStream *s);
uint16_t mig_get_be16(MigStream *s);
uint32_t mig_get_be32(MigStream *s);
uint64_t mig_get_be64(MigStream *s);
/* 0, or -1 (and the stream's error set) when fewer than len bytes came. */
int mig_get_buf(MigStream *s, void *buf, size_t len);
/* Mark the stream failed with a reason (first one wins); returns -1. */
int mig_stream_set_error(MigStream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NULL while all is well, else the first error's text. */
const char *mig_stream_error(const MigStream *s);

/* ---- descriptions ---- */
typedef enum {
    VMS_U8, VMS_U16, VMS_U32, VMS_U64,  /* unsigned integers (count >= 1: an array) */
    VMS_I32, VMS_I64,
    VMS_BOOL,                           /* a C bool */
    VMS_BUFFER,                         /* size bytes as they are (count must be 1) */
    VMS_STRUCT,                         /* an embedded struct (array) described by sub */
    VMS_TIMER,                          /* a Timer * field: its deadline (-1 = idle) on
                                           the clock it was made with; loading re-arms it.
                                           CLOCK_VIRTUAL_NS deadlines stay meaningful
                                           because migration carries the virtual clock. */
} VMStateType;

typedef struct VMStateDescription VMStateDescription;

typedef struct VMStateField {
    const char *name;           /* NULL ends the table */
    size_t offset;              /* in the device's struct */
    VMStateType type;
    size_t size;                /* bytes of one element */
    unsigned count;             /* elements (1 for a scalar) */
    const VMStateDescription *sub;   /* VMS_STRUCT */
    unsigned version_added;     /* field present in streams of this version and later */
} VMStateField;

struct VMStateDescription {
    const char *name;           /* "serial", "i8042", "virtio-blk", "cpu" */
    unsigned version;           /* what we save; we load versions 1..version */
    const VMStateField *fields;
    int (*pre_save)(void *opaque);                     /* optional; -1 fails the save */
    int (*post_load)(void *opaque, unsigned version);  /* optional; -1 refuses the stream */
    /* Optional extra data after the fields, for state a table cannot say. */
    void (*save)(MigStream *s, void *opaque);
    int (*load)(MigStream *s, void *opaque, unsigned version);
};

#define VMS_FIELD_(f, T, ty, n, sb, v) \
    { #f, offsetof(T, f), ty, sizeof(((T *)0)->f) / (n), n, sb, v }
#define VMSTATE_U8(f, T) VMS_FIELD_(f, T, VMS_U8, 1, NULL, 0)
#define VMSTATE_U16(f, T) VMS_FIELD_(f, T, VMS_U16, 1, NULL, 0)
#define VMSTATE_U32(f, T) VMS_FIELD_(f, T, VMS_U32, 1, NULL, 0)
#define VMSTATE_U64(f, T) VMS_FIELD_(f, T, VMS_U64, 1, NULL, 0)
#define VMSTATE_I32(f, T) VMS_FIELD_(f, T, VMS_I32, 1, NULL, 0)
#define VMSTATE_I64(f, T) VMS_FIELD_(f, T, VMS_I64, 1, NULL, 0)
#define VMSTATE_BOOL(f, T) VMS_FIELD_(f, T, VMS_BOOL, 1, NULL, 0)
#define VMSTATE_U8_ARRAY(f, T, n) VMS_FIELD_(f, T, VMS_U8, n, NULL, 0)
#define VMSTATE_U16_ARRAY(f, T, n) VMS_FIELD_(f, T, VMS_U16, n, NULL, 0)
#define VMSTATE_U32_ARRAY(f, T, n) VMS_FIELD_(f, T, VMS_U32, n, NULL, 0)
#define VMSTATE_U64_ARRAY(f, T, n) VMS_FIELD_(f, T, VMS_U64, n, NULL, 0)
#define VMSTATE_BUFFER(f, T) VMS_FIELD_(f, T, VMS_BUFFER, 1, NULL, 0)
#define VMSTATE_STRUCT(f, T, desc) VMS_FIELD_(f, T, VMS_STRUCT, 1, &(desc), 0)
#define VMSTATE_STRUCT_ARRAY(f, T, n, desc) VMS_FIELD_(f, T, VMS_STRUCT, n, &(desc), 0)
#define VMSTATE_TIMER(f, T) VMS_FIELD_(f, T, VMS_TIMER, 1, NULL, 0)
#define VMSTATE_END { NULL, 0, 0, 0, 0, NULL, 0 }

/*
 * Register the state of one device instance.  instance tells apart
 * devices of one kind and must be the same on both sides for the same
 * command line: a PCI device's devfn, an ISA device's I/O base, a vCPU's
 * index.  -1 with a message on a duplicate or a malformed table (the
 * table is checked here: sizes against types, nested tables).
 */
int vmstate_register(const VMStateDescription *vmsd, int instance, void *opaque);
void vmstate_unregister(const VMStateDescription *vmsd, void *opaque);

/* Generic save/load of one description (used by the migration core, by
 * VMS_STRUCT and by tests).  load returns -1 with the stream's error set. */
void vmstate_save_state(MigStream *s, const VMStateDescription *vmsd, void *opaque);
int vmstate_load_state(MigStream *s, const VMStateDescription *vmsd, void *opaque,
                       unsigned version);

/* Iterate the registered sections (migration core): 0.. until false. */
bool vmstate_section_at(unsigned i, const VMStateDescription **vmsd, int *instance,
                        void **opaque);

#endif
