/*
 * vga-text: writes a known text pattern with attributes into the VGA text
 * buffer at 0xb8000 for the VNC screen tests (tests/integration/vnc.sh).
 *
 * Run through SeaBIOS (`-bios bios-256k.bin -kernel vga-text.elf`) so that
 * SeaVGABIOS has set mode 3 (80x25, 9x16 cells) and loaded its font.  The
 * payload then:
 *   - clears the screen to attribute 0x07 (light grey on black);
 *   - row 5 from column 10: "VMM TEXT 0123 abc" in 0x1f (white on blue);
 *   - row 6 from column 10: "Yellow on red" in 0x4e (yellow on red);
 *   - row 7 columns 10-13: full blocks (0xdb) in 0x0e (yellow on black);
 *   - row 24 column 0: "vga-text bottom line" in 0x07;
 *   - turns the cursor off (CRTC 0x0a bit 5, FreeVGA "Cursor Start Register");
 *   - prints "vga-text: drawn" on COM1 and halts (interrupts off), so the
 *     screen stays as it is until the VMM is stopped.
 * In the default palette (attribute index i -> DAC entry i, FreeVGA "Attribute
 * Controller") blue is 0x0000aa, red 0xaa0000, yellow 0xffff55.
 */
#include "payload.h"

#define TEXT_BUF 0xb8000u
#define COLS 80
#define ROWS 25
#define CRTC_INDEX 0x3d4
#define CRTC_DATA 0x3d5
#define CRTC_CURSOR_START 0x0a
#define CURSOR_OFF 0x20

static void put_text(unsigned col, unsigned row, const char *s, uint8_t attr)
{
    volatile uint16_t *cell = (volatile uint16_t *)TEXT_BUF + row * COLS + col;
    for (; *s && col < COLS; s++, col++)
        *cell++ = (uint16_t)(attr << 8 | (uint8_t)*s);
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    volatile uint16_t *buf = (volatile uint16_t *)TEXT_BUF;
    for (unsigned i = 0; i < COLS * ROWS; i++)
        buf[i] = 0x0720;
    put_text(10, 5, "VMM TEXT 0123 abc", 0x1f);
    put_text(10, 6, "Yellow on red", 0x4e);
    put_text(10, 7, "\xdb\xdb\xdb\xdb", 0x0e);
    put_text(0, 24, "vga-text bottom line", 0x07);
    outb(CRTC_INDEX, CRTC_CURSOR_START);
    outb(CRTC_DATA, (uint8_t)(inb(CRTC_DATA) | CURSOR_OFF));
    printf("vga-text: drawn\n");
    for (;;)
        __asm__ volatile("cli; hlt");
}
