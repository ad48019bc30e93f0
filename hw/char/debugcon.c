/*
 * isa-debugcon: a one-byte I/O port whose writes go straight to a chardev,
 * as QEMU's device does.  SeaBIOS (CONFIG_DEBUG_IO, port 0x402 in QEMU
 * builds) and OVMF print their debug log there; Bochs used port 0xe9.
 * A read returns the readback byte (0xe9 by default), which is how
 * firmware detects that the port exists before logging to it.
 *
 *   -device isa-debugcon,chardev=ID[,iobase=0x402][,readback=0xe9]
 */
#include <stdlib.h>
#include <string.h>

#include "chardev.h"
#include "devices.h"
#include "hw.h"
#include "util.h"

#define DEBUGCON_DEFAULT_IOBASE 0xe9    /* QEMU's default, the Bochs port */
#define DEBUGCON_DEFAULT_READBACK 0xe9

typedef struct DebugconState {
    Chardev *chr;
    uint8_t readback;
} DebugconState;

static uint64_t debugcon_read(void *opaque, uint64_t off, unsigned size)
{
    const DebugconState *s = opaque;
    return s->readback;
}

/* Only the low byte of a wider write is a character (QEMU does the same). */
static void debugcon_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    DebugconState *s = opaque;
    uint8_t ch = (uint8_t)val;
    chardev_write(s->chr, &ch, 1);
}

static const MemOps debugcon_ops = { .read = debugcon_read, .write = debugcon_write };

static int parse_byte_prop(Opts *o, const char *what, const char *key, uint64_t max,
                           uint64_t *out)
{
    const char *v = opts_get(o, key);
    if (!v)
        return 0;
    if (parse_uint(v, out) < 0 || *out > max) {
        error_report("%s: Parameter '%s' expects a number up to 0x%llx", what, key,
                     (unsigned long long)max);
        return -1;
    }
    return 0;
}

int isa_debugcon_new(Opts *o, const char *what)
{
    uint64_t iobase = DEBUGCON_DEFAULT_IOBASE, readback = DEBUGCON_DEFAULT_READBACK;
    const char *chr_id = opts_get(o, "chardev");
    if (parse_byte_prop(o, what, "iobase", 0xffff, &iobase) < 0 ||
        parse_byte_prop(o, what, "readback", 0xff, &readback) < 0)
        return -1;
    if (!chr_id) {
        error_report("%s: Can't create isa-debugcon, empty char device", what);
        return -1;
    }
    Chardev *chr = chardev_find(chr_id);
    if (!chr) {
        error_report("%s: Property 'isa-debugcon.chardev' can't find value '%s'", what,
                     chr_id);
        return -1;
    }
    DebugconState *s = xzalloc(sizeof(*s));
    s->chr = chr;
    s->readback = (uint8_t)readback;
    if (pio_region_add((uint16_t)iobase, 1, &debugcon_ops, s, "isa-debugcon") < 0) {
        free(s);
        return -1;
    }
    return 0;
}
