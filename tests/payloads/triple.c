/*
 * triple: a triple fault must reset the machine (Intel SDM vol. 3, 6.15,
 * interrupt 8: a fault while delivering #DF puts the processor in shutdown;
 * the PC chipset turns shutdown into a reset, as QEMU does).
 * First boot: CMOS NVRAM byte 0x51 = 0x5a, load an IDT with limit 0 and
 * execute ud2: #UD cannot be delivered -> #GP -> #DF -> shutdown.  Second
 * boot: marker found, cleared, PASS.  With -no-reboot the VMM exits with
 * status 0 after the first boot.
 */
#include "payload.h"

#define MARKER_REG 0x51
#define MARKER 0x5a

static uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static void cmos_write(uint8_t reg, uint8_t v)
{
    outb(0x70, reg);
    outb(0x71, v);
}

static NORETURN void triple_fault(void)
{
    struct { uint16_t limit; uint32_t base; } PACKED empty_idt = { 0, 0 };
    __asm__ volatile("lidt %0\n\t"
                     "ud2" :: "m"(empty_idt) : "memory");
    __builtin_unreachable();
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    if (!multiboot_parse(magic, info))
        fail("triple", "bad multiboot magic 0x%x", magic);
    if (cmos_read(MARKER_REG) == MARKER) {
        cmos_write(MARKER_REG, 0);
        printf("triple: second boot, marker found\n");
        pass("triple");
    }
    cmos_write(MARKER_REG, MARKER);
    if (cmos_read(MARKER_REG) != MARKER)
        fail("triple", "CMOS NVRAM byte 0x%x does not hold a value", MARKER_REG);
    printf("triple: first boot, triple faulting\n");
    triple_fault();
}
