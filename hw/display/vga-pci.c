/*
 * The standard VGA as a PCI function (QEMU's "VGA", 1234:1111): the
 * legacy VGA of vga.c, the video memory as a RAM-backed prefetchable
 * BAR0 (the Bochs VBE linear framebuffer), and BAR2's MMIO registers as
 * Linux's bochs-drm driver uses them:
 *   0x400-0x41f  VGA ports 0x3c0-0x3df (byte or word accesses)
 *   0x500-0x517  Bochs DISPI registers, index (off - 0x500) / 2, 16-bit
 *   0x600-0x607  QEMU extended registers: size, framebuffer byte order
 * The VGA BIOS (SeaVGABIOS) is its option ROM.
 */
#include "vga-internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"
#include "util.h"
#include "vmstate.h"

#define VGA_PCI_VENDOR 0x1234
#define VGA_PCI_DEVICE 0x1111
#define VGA_PCI_REVISION 2
#define VGA_PCI_CLASS 0x030000      /* display, VGA-compatible */
#define VGA_MMIO_SIZE 0x1000
#define MMIO_VGA_PORTS 0x400
#define MMIO_VGA_PORTS_END 0x420
#define MMIO_DISPI 0x500
#define MMIO_DISPI_END 0x518
#define MMIO_QEXT 0x600
#define MMIO_QEXT_END 0x608
#define QEXT_REG_SIZE 0x0
#define QEXT_REG_BYTEORDER 0x4
#define QEXT_LITTLE_ENDIAN 0x1e1e1e1eu
#define QEXT_BIG_ENDIAN 0xbebebebeu

/* BAR2: registers are at most 16 bits wide; wider accesses are split into
 * 16-bit halves (DISPI) or bytes (VGA ports), lowest address first. */
static uint64_t mmio_vga_port_read(VGAState *s, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = off + i;
        if (o < MMIO_VGA_PORTS_END)
            v |= (uint64_t)vga_ioport_read(s, 0x3c0 + (uint32_t)(o - MMIO_VGA_PORTS)) << (8 * i);
    }
    return v;
}

static void mmio_vga_port_write(VGAState *s, uint64_t off, unsigned size, uint64_t val)
{
    for (unsigned i = 0; i < size; i++) {
        uint64_t o = off + i;
        if (o < MMIO_VGA_PORTS_END)
            vga_ioport_write(s, 0x3c0 + (uint32_t)(o - MMIO_VGA_PORTS), (uint8_t)(val >> (8 * i)));
    }
}

/* Like QEMU, a DISPI access through BAR2 also sets the 0x1ce index. */
static uint16_t mmio_dispi_read16(VGAState *s, uint64_t off)
{
    s->vbe_index = (uint16_t)((off - MMIO_DISPI) >> 1);
    return (uint16_t)vbe_read(s, s->vbe_index);
}

static void mmio_dispi_write16(VGAState *s, uint64_t off, uint16_t val)
{
    s->vbe_index = (uint16_t)((off - MMIO_DISPI) >> 1);
    vbe_write(s, s->vbe_index, val);
}

static uint64_t mmio_dispi_read(VGAState *s, uint64_t off, unsigned size)
{
    if (size < 2)
        return mmio_dispi_read16(s, off) & 0xff;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i += 2)
        if (off + i < MMIO_DISPI_END)
            v |= (uint64_t)mmio_dispi_read16(s, off + i) << (8 * i);
    return v;
}

static void mmio_dispi_write(VGAState *s, uint64_t off, unsigned size, uint64_t val)
{
    if (size < 2) {
        mmio_dispi_write16(s, off, (uint8_t)val);
        return;
    }
    for (unsigned i = 0; i < size; i += 2)
        if (off + i < MMIO_DISPI_END)
            mmio_dispi_write16(s, off + i, (uint16_t)(val >> (8 * i)));
}

/* QEMU's extended registers take 32-bit accesses only. */
static uint64_t mmio_qext_read(VGAState *s, uint64_t off, unsigned size)
{
    (void)s;
    if (size != 4)
        return 0;
    if (off - MMIO_QEXT == QEXT_REG_SIZE)
        return MMIO_QEXT_END - MMIO_QEXT;
    if (off - MMIO_QEXT == QEXT_REG_BYTEORDER)
        return QEXT_LITTLE_ENDIAN;   /* the framebuffer is always little-endian here */
    return 0;
}

static uint64_t vga_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    VGAState *s = opaque;
    if (off >= MMIO_VGA_PORTS && off < MMIO_VGA_PORTS_END)
        return mmio_vga_port_read(s, off, size);
    if (off >= MMIO_DISPI && off < MMIO_DISPI_END)
        return mmio_dispi_read(s, off, size);
    if (off >= MMIO_QEXT && off < MMIO_QEXT_END)
        return mmio_qext_read(s, off, size);
    return 0;
}

static void vga_mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    VGAState *s = opaque;
    if (off >= MMIO_VGA_PORTS && off < MMIO_VGA_PORTS_END)
        mmio_vga_port_write(s, off, size, val);
    else if (off >= MMIO_DISPI && off < MMIO_DISPI_END)
        mmio_dispi_write(s, off, size, val);
    else if (off >= MMIO_QEXT && off < MMIO_QEXT_END) {
        /* Byte order: only little-endian exists here; a big-endian request
         * is logged and ignored (the register keeps reading LE). */
        if (size == 4 && off - MMIO_QEXT == QEXT_REG_BYTEORDER && val == QEXT_BIG_ENDIAN)
            guest_error("vga: big-endian framebuffer not supported");
    }
}

static const MemOps vga_mmio_ops = { .read = vga_mmio_read, .write = vga_mmio_write };

static void vga_reset(void *opaque)
{
    VGAState *s = opaque;
    vga_common_reset(s);
    vga_render_invalidate(s);
}

/* vgamem_mb=N: a power of two from 1 to 256 (QEMU's default 16). */
static int parse_vgamem(Opts *o, const char *what, unsigned *mb)
{
    const char *v = opts_get(o, "vgamem_mb");
    uint64_t n = VGA_DEFAULT_VRAM_MB;
    *mb = VGA_DEFAULT_VRAM_MB;
    if (!v)
        return 0;
    if (parse_uint(v, &n) < 0 || n < VGA_MIN_VRAM_MB || n > VGA_MAX_VRAM_MB || (n & (n - 1))) {
        error_report("%s: vgamem_mb=%s: must be a power of two from %d to %d", what, v,
                     VGA_MIN_VRAM_MB, VGA_MAX_VRAM_MB);
        return -1;
    }
    *mb = (unsigned)n;
    return 0;
}

/* romfile=: a bare name is looked up in the firmware directories, as QEMU
 * does; "" means no ROM.  Returns a malloc'd path ("" for none) or NULL. */
static char *vga_rom_path(Opts *o, const char *what)
{
    static const char *const dirs[] = { "/usr/share/qemu", "/usr/share/seabios" };
    const char *romfile = opts_get(o, "romfile");
    if (!romfile)
        romfile = VGA_DEFAULT_ROM;
    char *path = NULL;
    if (*romfile && !strchr(romfile, '/')) {
        for (size_t i = 0; i < ARRAY_SIZE(dirs) && !path; i++) {
            char *p = xasprintf("%s/%s", dirs[i], romfile);
            if (access(p, R_OK) == 0)
                path = p;
            else
                free(p);
        }
    }
    if (!path)
        path = xstrdup(romfile);
    if (*path && access(path, R_OK) != 0) {
        error_report("%s: failed to find romfile \"%s\"", what, romfile);
        free(path);
        return NULL;
    }
    return path;
}

static void vga_pci_setup(VGAState *s)
{
    pci_device_init(&s->pci, "VGA", VGA_PCI_VENDOR, VGA_PCI_DEVICE, VGA_PCI_REVISION,
                    VGA_PCI_CLASS, 0);
    /* Subsystem 1af4:1100 (pci_device_init's default, as QEMU). */
    s->pci.opaque = s;
    pci_register_bar_ram(&s->pci, 0, PCI_BAR_PREFETCH, (unsigned)s->vram_block);
    pci_register_bar(&s->pci, 2, VGA_MMIO_SIZE, 0, &vga_mmio_ops, s);
}

int vga_pci_new(Opts *o, const char *what)
{
    unsigned mb;
    int devfn;
    (void)opts_get(o, "id");
    if (vga_state) {
        error_report("%s: only one VGA device is supported", what);
        return -1;
    }
    if (parse_vgamem(o, what, &mb) < 0 || device_opt_pci_addr(o, what, &devfn) < 0)
        return -1;
    char *rom = vga_rom_path(o, what);
    if (!rom)
        return -1;
    VGAState *s = xzalloc(sizeof(*s));
    int rc = vga_common_init(s, mb);
    if (rc == 0) {
        vga_pci_setup(s);
        rc = pci_register_device(&s->pci, devfn);
    }
    if (rc == 0)
        rc = pci_add_option_rom(&s->pci, rom);
    free(rom);
    if (rc < 0)
        return -1;      /* fatal for the machine: nothing to unwind */
    vga_state = s;
    reset_register(vga_reset, s);
    if (vmstate_register(&vmstate_vga, s->pci.devfn, s) < 0)
        return -1;
    vga_render_init(s);
    return 0;
}
