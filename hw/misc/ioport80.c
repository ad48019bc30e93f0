/*
 * Port 0x80 (POST diagnostic code) and port 0xed (Linux's alternative I/O
 * delay port): write-only sinks on a PC.  Claiming them keeps the writes,
 * which firmware and Linux's io_delay do constantly, out of the
 * unassigned-port log.  Reads return 0xff, as QEMU's ioport80 does.
 */
#include <stdlib.h>

#include "devices.h"
#include "hw.h"
#include "util.h"

#define POST_CODE_PORT 0x80
#define DELAY_PORT 0xed

static uint64_t sink_read(void *opaque, uint64_t off, unsigned size)
{
    return 0xff;
}

static void sink_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
}

static const MemOps sink_ops = {
    .read = sink_read,
    .write = sink_write,
};

int ioport80_create(void)
{
    if (pio_region_add(POST_CODE_PORT, 1, &sink_ops, NULL, "ioport80") < 0)
        return -1;
    return pio_region_add(DELAY_PORT, 1, &sink_ops, NULL, "ioport-delay");
}
