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

static uint8_t last_post_code;   /* for debugging a stuck firmware */

static uint64_t sink_read(void *opaque, uint64_t off, unsigned size)
{
    return 0xff;
}

static void post_code_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    last_post_code = (uint8_t)val;
}

static void delay_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
}

static const MemOps post_code_ops = {
    .read = sink_read,
    .write = post_code_write,
};

static const MemOps delay_ops = {
    .read = sink_read,
    .write = delay_write,
};

int ioport80_create(void)
{
    if (pio_region_add(POST_CODE_PORT, 1, &post_code_ops, &last_post_code, "ioport80") < 0)
        return -1;
    return pio_region_add(DELAY_PORT, 1, &delay_ops, NULL, "ioport-delay");
}
