/*
 * isa-debug-exit: a write of value v to any of its ports makes vmm exit with
 * status (v << 1) | 1, as QEMU's device does; test payloads use it to report
 * a result without a shutdown path.  Reads return 0.
 */
#include <stdlib.h>

#include "devices.h"
#include "hw.h"
#include "util.h"

static uint64_t debug_exit_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void debug_exit_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    request_exit((int)((val << 1) | 1));
}

static const MemOps debug_exit_ops = {
    .read = debug_exit_read,
    .write = debug_exit_write,
};

int isa_debug_exit_create(uint16_t iobase, uint16_t iosize)
{
    if (iosize != 1 && iosize != 2 && iosize != 4) {
        error_report("isa-debug-exit: iosize %u: must be 1, 2 or 4", iosize);
        return -1;
    }
    if ((unsigned)iobase + iosize > 0x10000) {
        error_report("isa-debug-exit: iobase 0x%x: ports end beyond 0xffff", iobase);
        return -1;
    }
    return pio_region_add(iobase, iosize, &debug_exit_ops, NULL, "isa-debug-exit");
}
