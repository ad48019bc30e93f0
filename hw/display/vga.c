/*
 * The standard VGA's registers and memory: the legacy ports 0x3b0-0x3df,
 * the 0xa0000-0xbffff window with planes, latches, write modes 0-3 and
 * read modes 0/1, and the Bochs VBE DISPI interface at 0x1ce/0x1cf.
 *
 * References: IBM VGA Technical Reference and FreeVGA (registers, memory
 * organisation, the graphics controller's data path); Bochs' vbe.h (DISPI).
 * Guest-visible behaviour (reset values, register masks, retrace toggling,
 * which ports answer) follows QEMU 7.2's std VGA, the machine this one
 * stands in for.  Everything here is guest input: every index is masked or
 * bounds-checked before it touches an array or vram.
 */
#include "vga-internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pc.h"
#include "util.h"
#include "vmstate.h"

#define VBE_DISPI_ID0 0xb0c0
#define VBE_DISPI_ID5 0xb0c5
#define VBE_DISPI_MAX_BPP 32
#define VBE_PORT_BASE 0x1ce
#define VGA_WINDOW_SIZE (PC_VGA_WINDOW_END - PC_VGA_WINDOW_START)

/* Register indices (FreeVGA names). */
enum {
    SR_CLOCK_MODE = 1, SR_PLANE_WRITE = 2, SR_MEMORY_MODE = 4,
    GR_SR_VALUE = 0, GR_SR_ENABLE = 1, GR_COMPARE_VALUE = 2, GR_DATA_ROTATE = 3,
    GR_PLANE_READ = 4, GR_MODE = 5, GR_MISC = 6, GR_COMPARE_MASK = 7, GR_BIT_MASK = 8,
    CR_H_DISP = 0x01, CR_OFFSET = 0x13, CR_OVERFLOW = 0x07, CR_MAX_SCAN = 0x09,
    CR_V_SYNC_END = 0x11, CR_V_DISP_END = 0x12, CR_MODE = 0x17, CR_LINE_COMPARE = 0x18,
    AR_MODE = 0x10, AR_OVERSCAN = 0x11, AR_PLANE_ENABLE = 0x12, AR_PEL = 0x13,
    AR_COLOR_PAGE = 0x14, AR_COUNT = 0x15,
};
#define SR04_CHAIN4 0x08
#define SR02_ALL_PLANES 0x0f
#define GR05_ODD_EVEN 0x10
#define GR05_READ_MODE1 0x08
#define GR06_GRAPHICS 0x01
#define CR11_LOCK_CR0_CR7 0x80
#define MSR_COLOR 0x01
#define ST01_DISP_ENABLE 0x01
#define ST01_V_RETRACE 0x08

/* Bits of each sequencer / graphics register that exist (the rest read 0). */
static const uint8_t sr_mask[8] = { 0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0x00, 0x00, 0xff };
static const uint8_t gr_mask[16] = { 0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff };

VGAState *vga_state;

bool vga_vbe_enabled(const VGAState *s)
{
    return s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED;
}

/* A 4-bit plane mask (bit p = plane p) spread to the bytes of a latch word. */
static uint32_t plane_mask32(unsigned m)
{
    uint32_t r = 0;
    for (unsigned p = 0; p < 4; p++)
        if (m & (1u << p))
            r |= 0xffu << (p * 8);
    return r;
}

static uint32_t vram_load32(const VGAState *s, uint32_t i)
{
    uint32_t v;
    memcpy(&v, s->vram + i * 4, 4);
    return v;
}

static void vram_store32(VGAState *s, uint32_t i, uint32_t v)
{
    memcpy(s->vram + i * 4, &v, 4);
}

/* ---- VBE ---- */

/*
 * Clamp the DISPI mode registers to a mode that fits in vram, as QEMU does
 * (the interface has no way to report an error), and derive line offset and
 * start address.  Afterwards vbe_start_addr + vbe_line_offset * YRES <=
 * vram_size, which is what keeps the renderer inside vram.
 */
static void vbe_fixup_regs(VGAState *s)
{
    uint16_t *r = s->vbe_regs;
    uint32_t bits;
    if (!vga_vbe_enabled(s))
        return;
    switch (r[VBE_DISPI_INDEX_BPP]) {
    case 4: case 8: case 16: case 24: case 32:
        bits = r[VBE_DISPI_INDEX_BPP];
        break;
    case 15:
        bits = 16;
        break;
    default:
        bits = r[VBE_DISPI_INDEX_BPP] = 8;
        break;
    }
    r[VBE_DISPI_INDEX_XRES] &= ~7u;
    if (r[VBE_DISPI_INDEX_XRES] == 0)
        r[VBE_DISPI_INDEX_XRES] = 8;
    if (r[VBE_DISPI_INDEX_XRES] > VBE_DISPI_MAX_XRES)
        r[VBE_DISPI_INDEX_XRES] = VBE_DISPI_MAX_XRES;
    r[VBE_DISPI_INDEX_VIRT_WIDTH] &= ~7u;
    if (r[VBE_DISPI_INDEX_VIRT_WIDTH] > VBE_DISPI_MAX_XRES)
        r[VBE_DISPI_INDEX_VIRT_WIDTH] = VBE_DISPI_MAX_XRES;
    if (r[VBE_DISPI_INDEX_VIRT_WIDTH] < r[VBE_DISPI_INDEX_XRES])
        r[VBE_DISPI_INDEX_VIRT_WIDTH] = r[VBE_DISPI_INDEX_XRES];

    uint32_t line = r[VBE_DISPI_INDEX_VIRT_WIDTH] * bits / 8;
    uint32_t maxy = s->vram_size / line;
    if (r[VBE_DISPI_INDEX_YRES] == 0)
        r[VBE_DISPI_INDEX_YRES] = 1;
    if (r[VBE_DISPI_INDEX_YRES] > VBE_DISPI_MAX_YRES)
        r[VBE_DISPI_INDEX_YRES] = VBE_DISPI_MAX_YRES;
    if (r[VBE_DISPI_INDEX_YRES] > maxy)
        r[VBE_DISPI_INDEX_YRES] = maxy;

    if (r[VBE_DISPI_INDEX_X_OFFSET] > VBE_DISPI_MAX_XRES)
        r[VBE_DISPI_INDEX_X_OFFSET] = VBE_DISPI_MAX_XRES;
    if (r[VBE_DISPI_INDEX_Y_OFFSET] > VBE_DISPI_MAX_YRES)
        r[VBE_DISPI_INDEX_Y_OFFSET] = VBE_DISPI_MAX_YRES;
    uint64_t screen = (uint64_t)r[VBE_DISPI_INDEX_YRES] * line;
    uint64_t offset = r[VBE_DISPI_INDEX_X_OFFSET] * bits / 8 +
                      (uint64_t)r[VBE_DISPI_INDEX_Y_OFFSET] * line;
    if (offset + screen > s->vram_size) {
        r[VBE_DISPI_INDEX_Y_OFFSET] = 0;
        offset = r[VBE_DISPI_INDEX_X_OFFSET] * bits / 8;
        if (offset + screen > s->vram_size) {
            r[VBE_DISPI_INDEX_X_OFFSET] = 0;
            offset = 0;
        }
    }
    r[VBE_DISPI_INDEX_VIRT_HEIGHT] = (uint16_t)maxy;
    s->vbe_line_offset = line;
    s->vbe_start_addr = (uint32_t)offset;
}

/*
 * With VBE on, put the legacy registers into a graphics state that
 * describes the VBE mode (graphics, 64K window at 0xa0000, chain-4 for
 * > 4 bpp), so code that looks at them (the renderer, a guest) sees a
 * graphics mode.  Re-applied after every legacy register write.
 */
static void vbe_update_vgaregs(VGAState *s)
{
    if (!vga_vbe_enabled(s))
        return;
    s->gr[GR_MISC] = (s->gr[GR_MISC] & ~0x0c) | 0x04 | GR06_GRAPHICS;
    s->cr[CR_MODE] |= 3;
    s->cr[CR_OFFSET] = (uint8_t)(s->vbe_line_offset >> 3);
    s->cr[CR_H_DISP] = (uint8_t)((s->vbe_regs[VBE_DISPI_INDEX_XRES] >> 3) - 1);
    unsigned h = s->vbe_regs[VBE_DISPI_INDEX_YRES] - 1u;
    s->cr[CR_V_DISP_END] = (uint8_t)h;
    s->cr[CR_OVERFLOW] = (s->cr[CR_OVERFLOW] & ~0x42) | ((h >> 7) & 0x02) | ((h >> 3) & 0x40);
    s->cr[CR_LINE_COMPARE] = 0xff;
    s->cr[CR_OVERFLOW] |= 0x10;
    s->cr[CR_MAX_SCAN] |= 0x40;
    memcpy(s->sr_vbe, s->sr, sizeof(s->sr));
    unsigned shift_control;
    if (s->vbe_regs[VBE_DISPI_INDEX_BPP] == 4) {
        shift_control = 0;
        s->sr_vbe[SR_CLOCK_MODE] &= ~8;
    } else {
        shift_control = 2;
        s->sr_vbe[SR_MEMORY_MODE] |= SR04_CHAIN4;
        s->sr_vbe[SR_PLANE_WRITE] |= SR02_ALL_PLANES;
    }
    s->gr[GR_MODE] = (s->gr[GR_MODE] & ~0x60) | (shift_control << 5);
    s->cr[CR_MAX_SCAN] &= ~0x9f;
}

uint32_t vbe_read(VGAState *s, unsigned index)
{
    if (index == VBE_DISPI_INDEX_VIDEO_MEMORY_64K)
        return s->vram_size >> 16;
    if (index >= VBE_DISPI_INDEX_VIDEO_MEMORY_64K)
        return 0;
    if (s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS) {
        switch (index) {
        case VBE_DISPI_INDEX_XRES: return VBE_DISPI_MAX_XRES;
        case VBE_DISPI_INDEX_YRES: return VBE_DISPI_MAX_YRES;
        case VBE_DISPI_INDEX_BPP: return VBE_DISPI_MAX_BPP;
        }
    }
    return s->vbe_regs[index];
}

static void vbe_clear_screen(VGAState *s)
{
    uint64_t len = (uint64_t)s->vbe_regs[VBE_DISPI_INDEX_YRES] * s->vbe_line_offset;
    len = MIN(len, s->vram_size);
    memset(s->vram, 0, len);
    if (len)
        ram_block_mark_dirty(s->vram_block, 0, len);
}

static void vbe_write_enable(VGAState *s, uint16_t val)
{
    if ((val & VBE_DISPI_ENABLED) && !vga_vbe_enabled(s)) {
        s->vbe_regs[VBE_DISPI_INDEX_VIRT_WIDTH] = 0;
        s->vbe_regs[VBE_DISPI_INDEX_X_OFFSET] = 0;
        s->vbe_regs[VBE_DISPI_INDEX_Y_OFFSET] = 0;
        s->vbe_regs[VBE_DISPI_INDEX_ENABLE] |= VBE_DISPI_ENABLED;
        vbe_fixup_regs(s);
        vbe_update_vgaregs(s);
        if (!(val & VBE_DISPI_NOCLEARMEM))
            vbe_clear_screen(s);
    } else {
        s->bank_offset = 0;
    }
    s->vbe_regs[VBE_DISPI_INDEX_ENABLE] = val;
    s->palette_dirty = true;    /* 6- or 8-bit DAC may have changed */
    s->full_update = true;
}

void vbe_write(VGAState *s, unsigned index, uint32_t val32)
{
    uint16_t val = (uint16_t)val32;
    switch (index) {
    case VBE_DISPI_INDEX_ID:
        if (val >= VBE_DISPI_ID0 && val <= VBE_DISPI_ID5)
            s->vbe_regs[index] = val;
        break;
    case VBE_DISPI_INDEX_XRES:
    case VBE_DISPI_INDEX_YRES:
    case VBE_DISPI_INDEX_BPP:
    case VBE_DISPI_INDEX_VIRT_WIDTH:
    case VBE_DISPI_INDEX_X_OFFSET:
    case VBE_DISPI_INDEX_Y_OFFSET:
        s->vbe_regs[index] = val;
        vbe_fixup_regs(s);
        vbe_update_vgaregs(s);
        s->full_update = true;
        break;
    case VBE_DISPI_INDEX_BANK:
        /* A bank is 64 KiB of the window; 4 bpp banks count planar bytes. */
        val &= s->vbe_regs[VBE_DISPI_INDEX_BPP] == 4 ? s->vbe_bank_mask >> 2 : s->vbe_bank_mask;
        s->vbe_regs[index] = val;
        s->bank_offset = (uint32_t)val << 16;
        break;
    case VBE_DISPI_INDEX_ENABLE:
        vbe_write_enable(s, val);
        break;
    default:
        break;      /* VIRT_HEIGHT is derived; others do not exist */
    }
}

/* Ports 0x1ce (index), 0x1cf and 0x1d0 (data): 16-bit accesses only, as QEMU. */
static uint64_t vbe_port_read(void *opaque, uint64_t off, unsigned size)
{
    VGAState *s = opaque;
    if (size != 2)
        return UINT64_MAX;      /* QEMU answers only word accesses */
    return off == 0 ? s->vbe_index : vbe_read(s, s->vbe_index);
}

static void vbe_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    VGAState *s = opaque;
    if (size != 2) {
        guest_error("vga: %u-byte access to VBE port 0x%x ignored", size,
                    (unsigned)(VBE_PORT_BASE + off));
        return;
    }
    if (off == 0)
        s->vbe_index = (uint16_t)val;
    else
        vbe_write(s, s->vbe_index, (uint32_t)val);
}

static const MemOps vbe_port_ops = { .read = vbe_port_read, .write = vbe_port_write };

/* ---- legacy ports ---- */

/* Ports of the other (mono/colour) CRTC block than misc output bit 0 selects. */
static bool vga_port_inactive(const VGAState *s, uint32_t port)
{
    if (s->misc_output & MSR_COLOR)
        return port >= 0x3b0 && port <= 0x3bf;
    return port >= 0x3d0 && port <= 0x3df;
}

static uint8_t ar_read(const VGAState *s)
{
    unsigned i = s->ar_index & 0x1f;
    return i < AR_COUNT ? s->ar[i] : 0;
}

static void ar_write(VGAState *s, uint8_t val)
{
    if (!s->ar_flip_flop) {
        s->ar_index = val & 0x3f;
    } else {
        unsigned i = s->ar_index & 0x1f;
        if (i < AR_MODE)
            s->ar[i] = val & 0x3f;
        else if (i == AR_MODE)
            s->ar[i] = val & ~0x10;
        else if (i == AR_OVERSCAN)
            s->ar[i] = val;
        else if (i == AR_PLANE_ENABLE)
            s->ar[i] = val & ~0xc0;
        else if (i == AR_PEL || i == AR_COLOR_PAGE)
            s->ar[i] = val & ~0xf0;
        s->full_update = true;
    }
    s->ar_flip_flop = !s->ar_flip_flop;
}

static uint8_t dac_read_data(VGAState *s)
{
    uint8_t v = s->palette[s->dac_read_index * 3 + s->dac_sub_index];
    if (++s->dac_sub_index == 3) {
        s->dac_sub_index = 0;
        s->dac_read_index++;
    }
    return v;
}

static void dac_write_data(VGAState *s, uint8_t val)
{
    s->dac_cache[s->dac_sub_index] = val;
    if (++s->dac_sub_index == 3) {
        memcpy(&s->palette[s->dac_write_index * 3], s->dac_cache, 3);
        s->dac_sub_index = 0;
        s->dac_write_index++;
        s->palette_dirty = true;
    }
}

uint32_t vga_ioport_read(VGAState *s, uint32_t port)
{
    if (vga_port_inactive(s, port))
        return 0xff;
    switch (port) {
    case 0x3c0: return s->ar_flip_flop ? 0 : s->ar_index;
    case 0x3c1: return ar_read(s);
    case 0x3c2: return 0;                   /* input status 0 */
    case 0x3c4: return s->sr_index;
    case 0x3c5: return s->sr[s->sr_index & 7];
    case 0x3c7: return s->dac_state;
    case 0x3c8: return s->dac_write_index;
    case 0x3c9: return dac_read_data(s);
    case 0x3ca: return s->feature_ctrl;
    case 0x3cc: return s->misc_output;
    case 0x3ce: return s->gr_index;
    case 0x3cf: return s->gr[s->gr_index & 0x0f];
    case 0x3b4: case 0x3d4: return s->cr_index;
    case 0x3b5: case 0x3d5: return s->cr[s->cr_index];
    case 0x3ba: case 0x3da:
        /* Input status 1: no real timing, so toggle display-enable and
         * vertical-retrace on every read; polling loops see both phases.
         * Reading it also resets the attribute flip-flop (FreeVGA). */
        s->st01 ^= ST01_V_RETRACE | ST01_DISP_ENABLE;
        s->ar_flip_flop = false;
        return s->st01;
    default:
        return 0;
    }
}

static void crtc_write(VGAState *s, uint8_t val)
{
    /* CR11 bit 7 write-protects CR0-CR7, except CR7 bit 4 (line compare bit 8). */
    if ((s->cr[CR_V_SYNC_END] & CR11_LOCK_CR0_CR7) && s->cr_index <= CR_OVERFLOW) {
        if (s->cr_index == CR_OVERFLOW)
            s->cr[CR_OVERFLOW] = (s->cr[CR_OVERFLOW] & ~0x10) | (val & 0x10);
        return;
    }
    s->cr[s->cr_index] = val;
    vbe_update_vgaregs(s);
}

void vga_ioport_write(VGAState *s, uint32_t port, uint32_t val32)
{
    uint8_t val = (uint8_t)val32;
    if (vga_port_inactive(s, port))
        return;
    switch (port) {
    case 0x3c0: ar_write(s, val); break;
    case 0x3c2: s->misc_output = val & ~0x10; s->full_update = true; break;
    case 0x3c4: s->sr_index = val & 7; break;
    case 0x3c5:
        s->sr[s->sr_index & 7] = val & sr_mask[s->sr_index & 7];
        vbe_update_vgaregs(s);
        s->full_update = true;
        break;
    case 0x3c6: break;          /* PEL mask: QEMU ignores it (reads 0); so do we */
    case 0x3c7: s->dac_read_index = val; s->dac_sub_index = 0; s->dac_state = 3; break;
    case 0x3c8: s->dac_write_index = val; s->dac_sub_index = 0; s->dac_state = 0; break;
    case 0x3c9: dac_write_data(s, val); break;
    case 0x3ce: s->gr_index = val & 0x0f; break;
    case 0x3cf:
        s->gr[s->gr_index & 0x0f] = val & gr_mask[s->gr_index & 0x0f];
        vbe_update_vgaregs(s);
        s->full_update = true;
        break;
    case 0x3b4: case 0x3d4: s->cr_index = val; break;
    case 0x3b5: case 0x3d5: crtc_write(s, val); break;
    case 0x3ba: case 0x3da: s->feature_ctrl = val & 0x10; break;
    default: break;
    }
}

/* One registered port range: the ops get offsets from its base. */
typedef struct VGAPortRange {
    VGAState *s;
    uint16_t base;
} VGAPortRange;

/* Byte-wide registers; wider accesses are split low byte first (an outw
 * to 0x3c4 writes the index and then the data, as on real cards). */
static uint64_t vga_port_read(void *opaque, uint64_t off, unsigned size)
{
    const VGAPortRange *r = opaque;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)vga_ioport_read(r->s, r->base + (uint32_t)off + i) << (8 * i);
    return v;
}

static void vga_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    const VGAPortRange *r = opaque;
    for (unsigned i = 0; i < size; i++)
        vga_ioport_write(r->s, r->base + (uint32_t)off + i, (uint8_t)(val >> (8 * i)));
}

/* ---- the 0xa0000 window ---- */

/* Window offset -> vram byte offset (in the chain-4 sense), or -1 when the
 * memory map select (GR6 bits 2-3) does not decode addr. */
static int64_t window_to_vram(const VGAState *s, uint32_t addr)
{
    addr &= 0x1ffff;
    switch ((s->gr[GR_MISC] >> 2) & 3) {
    case 0:
        return addr;
    case 1:
        return addr < 0x10000 ? (int64_t)addr + s->bank_offset : -1;
    case 2:
        return addr >= 0x10000 && addr < 0x18000 ? (int64_t)addr - 0x10000 : -1;
    default:
        return addr >= 0x18000 ? (int64_t)addr - 0x18000 : -1;
    }
}

/* Odd/even (text) addressing: even addresses reach planes 0/2, odd ones
 * 1/3 (GR4 bit 1 picks the pair), at the address with bit 0 cleared.
 * Like QEMU, GR5 bit 4 selects it for reads and writes alike. */
static uint32_t odd_even_offset(const VGAState *s, uint32_t addr, unsigned *plane)
{
    *plane = (s->gr[GR_PLANE_READ] & 2) | (addr & 1);
    return ((addr & ~1u) << 1) | *plane;
}

static uint8_t read_mode1(const VGAState *s)
{
    /* Color compare: a pixel bit is 1 where every plane that GR7 cares
     * about matches GR2's colour (FreeVGA, read mode 1). */
    uint32_t diff = (s->latch ^ plane_mask32(s->gr[GR_COMPARE_VALUE])) &
                    plane_mask32(s->gr[GR_COMPARE_MASK]);
    diff |= diff >> 16;
    diff |= diff >> 8;
    return (uint8_t)~diff;
}

uint8_t vga_mem_readb(VGAState *s, uint32_t addr)
{
    int64_t off = window_to_vram(s, addr);
    if (off < 0)
        return 0xff;
    if (vga_sr(s, SR_MEMORY_MODE) & SR04_CHAIN4)
        return off < s->vram_size ? s->vram[off] : 0xff;
    if (s->gr[GR_MODE] & GR05_ODD_EVEN) {
        unsigned plane;
        uint64_t o = odd_even_offset(s, (uint32_t)off, &plane);
        return o < s->vram_size ? s->vram[o] : 0xff;
    }
    if ((uint64_t)off * 4 >= s->vram_size)
        return 0xff;
    s->latch = vram_load32(s, (uint32_t)off);
    if (s->gr[GR_MODE] & GR05_READ_MODE1)
        return read_mode1(s);
    return (uint8_t)(s->latch >> ((s->gr[GR_PLANE_READ] & 3) * 8));
}

/* The graphics controller's data path for planar writes (FreeVGA
 * "Graphics Controller": rotate, set/reset, logical op, bit mask); returns
 * the four plane bytes to store under the SR2 plane mask. */
static uint32_t planar_write_value(const VGAState *s, uint8_t val)
{
    unsigned rot = s->gr[GR_DATA_ROTATE] & 7;
    uint8_t rotated = (uint8_t)((val >> rot) | (val << ((8 - rot) & 7)));
    uint32_t v, bit_mask = s->gr[GR_BIT_MASK];
    switch (s->gr[GR_MODE] & 3) {
    case 0: {
        uint32_t set_en = plane_mask32(s->gr[GR_SR_ENABLE]);
        v = rotated * 0x01010101u;
        v = (v & ~set_en) | (plane_mask32(s->gr[GR_SR_VALUE]) & set_en);
        break;
    }
    case 1:
        return s->latch;
    case 2:
        v = plane_mask32(val & 0x0f);
        break;
    default:    /* 3: the rotated value ANDed with the bit mask, colour from GR0 */
        bit_mask &= rotated;
        v = plane_mask32(s->gr[GR_SR_VALUE]);
        break;
    }
    switch (s->gr[GR_DATA_ROTATE] >> 3) {
    case 1: v &= s->latch; break;
    case 2: v |= s->latch; break;
    case 3: v ^= s->latch; break;
    default: break;
    }
    bit_mask *= 0x01010101u;
    return (v & bit_mask) | (s->latch & ~bit_mask);
}

void vga_mem_writeb(VGAState *s, uint32_t addr, uint8_t val)
{
    int64_t off = window_to_vram(s, addr);
    if (off < 0)
        return;
    uint8_t plane_write = vga_sr(s, SR_PLANE_WRITE);
    if (vga_sr(s, SR_MEMORY_MODE) & SR04_CHAIN4) {
        if (off >= s->vram_size || !(plane_write & (1u << (off & 3))))
            return;
        s->vram[off] = val;
        ram_block_mark_dirty(s->vram_block, (uint64_t)off, 1);
    } else if (s->gr[GR_MODE] & GR05_ODD_EVEN) {
        unsigned plane;
        uint64_t o = odd_even_offset(s, (uint32_t)off, &plane);
        if (o >= s->vram_size || !(plane_write & (1u << plane)))
            return;
        s->vram[o] = val;
        ram_block_mark_dirty(s->vram_block, o, 1);
    } else {
        if ((uint64_t)off * 4 >= s->vram_size)
            return;
        uint32_t v = planar_write_value(s, val);
        uint32_t wmask = plane_mask32(plane_write);
        uint32_t i = (uint32_t)off;
        vram_store32(s, i, (vram_load32(s, i) & ~wmask) | (v & wmask));
        ram_block_mark_dirty(s->vram_block, (uint64_t)i * 4, 4);
    }
}

/* Accesses wider than a byte go byte by byte, lowest address first. */
static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)vga_mem_readb(opaque, (uint32_t)(off + i)) << (8 * i);
    return v;
}

static void window_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    for (unsigned i = 0; i < size; i++)
        vga_mem_writeb(opaque, (uint32_t)(off + i), (uint8_t)(val >> (8 * i)));
}

static const MemOps vga_port_ops = { .read = vga_port_read, .write = vga_port_write };
static const MemOps window_ops = { .read = window_read, .write = window_write };

/* ---- set-up ---- */

/* Power-on state: everything zero (the VGA BIOS programs a mode), as QEMU. */
void vga_common_reset(VGAState *s)
{
    s->misc_output = 0;
    s->feature_ctrl = 0;
    s->sr_index = s->gr_index = s->cr_index = s->ar_index = 0;
    memset(s->sr, 0, sizeof(s->sr));
    memset(s->sr_vbe, 0, sizeof(s->sr_vbe));
    memset(s->gr, 0, sizeof(s->gr));
    memset(s->cr, 0, sizeof(s->cr));
    memset(s->ar, 0, sizeof(s->ar));
    s->ar_flip_flop = false;
    s->dac_state = s->dac_sub_index = 0;
    s->dac_read_index = s->dac_write_index = 0;
    memset(s->dac_cache, 0, sizeof(s->dac_cache));
    memset(s->palette, 0, sizeof(s->palette));
    s->pel_mask = 0xff;
    s->st01 = 0;
    s->latch = 0;
    s->vbe_index = 0;
    memset(s->vbe_regs, 0, sizeof(s->vbe_regs));
    s->vbe_regs[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
    s->vbe_start_addr = s->vbe_line_offset = 0;
    s->vbe_bank_mask = (s->vram_size >> 16) - 1;
    s->bank_offset = 0;
    s->palette_dirty = true;
    s->full_update = true;
}

static int vga_alloc_vram(VGAState *s, unsigned vram_mb)
{
    s->vram_size = vram_mb * (uint32_t)MiB;
    void *p = mmap(NULL, s->vram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        error_report("VGA: cannot allocate %u MiB of video memory", vram_mb);
        return -1;
    }
    s->vram = p;
    s->vram_block = guest_ram_register("vga.vram", RAM_UNMAPPED, s->vram_size, s->vram,
                                       RAM_DEVICE);
    if (s->vram_block < 0) {
        munmap(p, s->vram_size);
        s->vram = NULL;
        return -1;
    }
    return 0;
}

/* The ports QEMU's VGA answers (the rest of 0x3b0-0x3df is unassigned). */
static int vga_register_ports(VGAState *s)
{
    static const struct { uint16_t base, len; } ranges[] = {
        { 0x3b4, 2 }, { 0x3ba, 1 }, { 0x3c0, 16 }, { 0x3d4, 2 }, { 0x3da, 1 },
    };
    static VGAPortRange port_ranges[ARRAY_SIZE(ranges)];
    for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
        port_ranges[i] = (VGAPortRange){ s, ranges[i].base };
        if (pio_region_add(ranges[i].base, ranges[i].len, &vga_port_ops, &port_ranges[i],
                           "vga") < 0)
            return -1;
    }
    return pio_region_add(VBE_PORT_BASE, 3, &vbe_port_ops, s, "vbe");
}

int vga_common_init(VGAState *s, unsigned vram_mb)
{
    if (vga_alloc_vram(s, vram_mb) < 0)
        return -1;
    vga_common_reset(s);
    if (vga_register_ports(s) < 0)
        return -1;
    if (mmio_region_add(PC_VGA_WINDOW_START, VGA_WINDOW_SIZE, &window_ops, s, "vga-lowmem") < 0)
        return -1;
    s->vga_window_mapped = true;
    return 0;
}

/* ---- migration ---- */

/* After loading: refuse indices the arrays cannot hold, and re-derive what
 * follows from the registers (VBE line offset and start, the bank). */
static int vga_post_load(void *opaque, unsigned version)
{
    VGAState *s = opaque;
    (void)version;
    s->vbe_bank_mask = (s->vram_size >> 16) - 1;
    if (s->dac_sub_index > 2 || s->sr_index > 7 || s->gr_index > 15 ||
        s->vbe_regs[VBE_DISPI_INDEX_BANK] > s->vbe_bank_mask) {
        guest_error("vga: migration stream has out-of-range VGA indices");
        return -1;
    }
    if (s->bank_offset > (s->vbe_bank_mask << 16))
        return -1;
    s->vbe_start_addr = s->vbe_line_offset = 0;
    vbe_fixup_regs(s);
    s->palette_dirty = true;
    vga_render_invalidate(s);
    return 0;
}

static const VMStateField vga_fields[] = {
    VMSTATE_U8(misc_output, VGAState),
    VMSTATE_U8(feature_ctrl, VGAState),
    VMSTATE_U8(sr_index, VGAState),
    VMSTATE_U8_ARRAY(sr, VGAState, 8),
    VMSTATE_U8_ARRAY(sr_vbe, VGAState, 8),
    VMSTATE_U8(gr_index, VGAState),
    VMSTATE_U8_ARRAY(gr, VGAState, 16),
    VMSTATE_U8(cr_index, VGAState),
    VMSTATE_U8_ARRAY(cr, VGAState, 256),
    VMSTATE_U8(ar_index, VGAState),
    VMSTATE_U8_ARRAY(ar, VGAState, 21),
    VMSTATE_BOOL(ar_flip_flop, VGAState),
    VMSTATE_U8(dac_state, VGAState),
    VMSTATE_U8(dac_sub_index, VGAState),
    VMSTATE_U8(dac_read_index, VGAState),
    VMSTATE_U8(dac_write_index, VGAState),
    VMSTATE_U8_ARRAY(dac_cache, VGAState, 3),
    VMSTATE_U8_ARRAY(palette, VGAState, 768),
    VMSTATE_U8(pel_mask, VGAState),
    VMSTATE_U8(st01, VGAState),
    VMSTATE_U32(latch, VGAState),
    VMSTATE_U16(vbe_index, VGAState),
    VMSTATE_U16_ARRAY(vbe_regs, VGAState, VBE_DISPI_INDEX_NB),
    VMSTATE_U32(bank_offset, VGAState),
    VMSTATE_STRUCT(pci, VGAState, vmstate_pci_device),
    VMSTATE_END,
};

const VMStateDescription vmstate_vga = {
    .name = "vga",
    .version = 1,
    .fields = vga_fields,
    .post_load = vga_post_load,
};
