/*
 * reset: first boot writes a marker to CMOS NVRAM byte 0x50 and resets
 * through the PIIX3 reset control register (port 0xcf9, value 6 = hard
 * reset); the second boot finds the marker, clears it and passes.  With
 * -no-reboot the VMM exits after the first reset request instead.
 */
#include "payload.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define MARKER_REG 0x50
#define MARKER 0xa5
#define RCR_PORT 0xcf9
#define RCR_HARD_RESET 0x06     /* bit 1: hard (system) reset, bit 2: do it */

static uint8_t cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, reg);
    return inb(CMOS_DATA);
}

static void cmos_write(uint8_t reg, uint8_t v)
{
    outb(CMOS_INDEX, reg);
    outb(CMOS_DATA, v);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("reset", "bad multiboot magic 0x%x", magic);
    if (cmos_read(MARKER_REG) == MARKER) {
        cmos_write(MARKER_REG, 0);
        printf("reset: second boot, marker found\n");
        pass("reset");
    }
    cmos_write(MARKER_REG, MARKER);
    if (cmos_read(MARKER_REG) != MARKER)
        fail("reset", "CMOS NVRAM byte 0x%x does not hold a value", MARKER_REG);
    printf("reset: first boot, resetting through 0xcf9\n");
    outb(RCR_PORT, RCR_HARD_RESET);
    udelay_io(100000);
    fail("reset", "still running after the reset request");
}
