/*
 * vga-vbe: the Bochs VBE DISPI interface of the standard VGA (PCI 1234:1111)
 * for the VNC screen tests and bench/vnc.sh.
 *
 * Finds the VGA on bus 0, takes its linear framebuffer from BAR0 (assigns
 * 0xe0000000 if no firmware did), programs 1024x768x32 through the DISPI
 * index/data ports 0x1ce/0x1cf (Bochs vbe.h: ID 0, XRES 1, YRES 2, BPP 3,
 * ENABLE 4 with ENABLED 0x01 | LFB_ENABLED 0x40), and draws:
 *   - eight vertical colour bars, 128 pixels wide each, left to right:
 *     ff0000 00ff00 0000ff ffffff 000000 ffff00 00ffff ff00ff
 *   - a 16x16 marker of 808080 at (512, 384)-(527, 399)
 *   - one 123456 pixel at (1023, 767), the last of the frame.
 * Then prints "vga-vbe: drawn lfb=0x..." and halts.
 *
 * -append "redraw=1": instead of halting, redraws the whole frame forever,
 * rotating the bar colours each frame (every pixel changes), and prints
 * "VBE draw_frames=N draw_fps=F ..." (print_frame_rate) every 2 s.
 * Paging stays off: the LFB is reached by its physical address.
 */
#include "payload.h"

#define NAME "vga-vbe"
#define VGA_ID 0x11111234u          /* device << 16 | vendor */
#define PCI_COMMAND 0x04
#define PCI_CMD_MEM 0x2
#define PCI_BAR0 0x10
#define LFB_FALLBACK 0xe0000000u

#define DISPI_INDEX 0x1ce
#define DISPI_DATA 0x1cf
#define DISPI_ID 0
#define DISPI_XRES 1
#define DISPI_YRES 2
#define DISPI_BPP 3
#define DISPI_ENABLE 4
#define DISPI_ID0 0xb0c0
#define DISPI_ENABLED 0x01
#define DISPI_LFB 0x40

#define WIDTH 1024u
#define HEIGHT 768u
#define BAR_W 128u

static const uint32_t bar_colours[8] = { 0xff0000, 0x00ff00, 0x0000ff, 0xffffff,
                                         0x000000, 0xffff00, 0x00ffff, 0xff00ff };

static void dispi_write(uint16_t index, uint16_t v)
{
    outw(DISPI_INDEX, index);
    outw(DISPI_DATA, v);
}

static uint16_t dispi_read(uint16_t index)
{
    outw(DISPI_INDEX, index);
    return inw(DISPI_DATA);
}

static int find_vga(void)
{
    for (unsigned d = 0; d < 32; d++)
        if (pci_read32(0, d, 0, 0) == VGA_ID)
            return (int)d;
    return -1;
}

static uint32_t lfb_address(unsigned dev)
{
    uint32_t bar = pci_read32(0, dev, 0, PCI_BAR0);
    if (bar & 1)
        fail(NAME, "BAR0 0x%x is an I/O BAR", bar);
    if ((bar & ~0xfu) == 0) {
        pci_write32(0, dev, 0, PCI_BAR0, LFB_FALLBACK);
        bar = pci_read32(0, dev, 0, PCI_BAR0);
    }
    pci_write16(0, dev, 0, PCI_COMMAND,
                (uint16_t)(pci_read16(0, dev, 0, PCI_COMMAND) | PCI_CMD_MEM));
    return bar & ~0xfu;
}

static void set_mode(void)
{
    uint16_t id = dispi_read(DISPI_ID);
    if (id < DISPI_ID0 || id > DISPI_ID0 + 5)
        fail(NAME, "DISPI ID 0x%x, expected 0xb0c0-0xb0c5", id);
    dispi_write(DISPI_ENABLE, 0);
    dispi_write(DISPI_XRES, WIDTH);
    dispi_write(DISPI_YRES, HEIGHT);
    dispi_write(DISPI_BPP, 32);
    dispi_write(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB);
    if (dispi_read(DISPI_XRES) != WIDTH || dispi_read(DISPI_YRES) != HEIGHT ||
        dispi_read(DISPI_BPP) != 32)
        fail(NAME, "DISPI mode reads back %ux%ux%u", dispi_read(DISPI_XRES),
             dispi_read(DISPI_YRES), dispi_read(DISPI_BPP));
}

static void fill(uint32_t *dst, uint32_t v, uint32_t n)
{
    __asm__ volatile("cld; rep stosl" : "+D"(dst), "+c"(n) : "a"(v) : "memory");
}

static void draw_frame(uint32_t *fb, unsigned rotate)
{
    for (uint32_t y = 0; y < HEIGHT; y++)
        for (uint32_t b = 0; b < 8; b++)
            fill(fb + y * WIDTH + b * BAR_W, bar_colours[(b + rotate) & 7], BAR_W);
    for (uint32_t y = 384; y < 400; y++)
        fill(fb + y * WIDTH + 512, 0x808080, 16);
    fb[WIDTH * HEIGHT - 1] = 0x123456;
}

int main(uint32_t magic, uint32_t info)
{
    serial_init();
    multiboot_parse(magic, info);
    int dev = find_vga();
    if (dev < 0)
        fail(NAME, "no VGA (1234:1111) on bus 0");
    uint32_t lfb = lfb_address((unsigned)dev);
    set_mode();
    uint32_t *fb = (uint32_t *)(uintptr_t)lfb;
    draw_frame(fb, 0);
    printf("vga-vbe: drawn lfb=0x%x dev=%d\n", lfb, dev);
    if (!cmdline_option(NAME, "redraw", 0, 0, 1))
        for (;;)
            __asm__ volatile("cli; hlt");

    tsc_clock_init(NAME);
    uint64_t t0 = rdtsc(), frames = 0;
    for (unsigned k = 1;; k++) {
        draw_frame(fb, k);
        frames++;
        uint64_t ns = ns_since(t0);
        if (ns >= 2000000000ull) {
            print_frame_rate("VBE", "draw", frames, WIDTH * HEIGHT * 4, ns);
            t0 = rdtsc();
            frames = 0;
        }
    }
}
