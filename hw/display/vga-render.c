/*
 * The VGA renderer: turns video memory and the register files into pixels
 * on the display surface (include/ui.h), redrawing only what changed.
 *
 * Mode selection follows the hardware: Bochs VBE DISPI enabled gives a
 * linear framebuffer; otherwise the attribute controller's palette address
 * source bit (0x3c0 index bit 5) clear blanks the screen, GR6 bit 0 picks
 * graphics over alphanumeric mode, and GR5 bits 5-6 (shift register
 * control) pick planar 16-colour, CGA 4-colour interleaved or 256-colour
 * packed pixels (IBM VGA Technical Reference; FreeVGA "Graphics Registers",
 * "CRTC Registers", "Attribute Controller Registers").  Picture sizes,
 * line doubling and pixel doubling match QEMU's std VGA so that screendumps
 * of the two compare pixel for pixel.
 *
 * Change detection: vram is a guest RAM block with its own display dirty
 * bitmap (KVM's dirty log for the VBE framebuffer BAR, host-side marking
 * for the legacy window).  Each refresh syncs the log once, then asks only
 * for the pages the visible lines show, one query per page per refresh.
 * Text mode also keeps a shadow of the cells and of both fonts, so only
 * cells whose character, attribute or glyph really changed are redrawn.
 */
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "util.h"
#include "vga-internal.h"

/* Text cells the renderer handles at most (QEMU's CH_ATTR_SIZE): 160x100. */
#define VGA_TEXT_MAX_CELLS (160 * 100)
/* Bytes of one font in plane 2: 256 glyphs of 32 lines. */
#define VGA_FONT_BYTES (256 * 32)
/* The cursor toggles every 16 frames at 60 Hz (IBM VGA reference; QEMU
 * uses 1000 * 2 * 16 / 60 ms per period, toggling at half of it); blinking
 * characters toggle at half the cursor's rate (every 32 frames). */
#define CURSOR_HALF_PERIOD_NS (266 * 1000000LL)
#define CHAR_BLINK_HALF_PERIOD_NS (533 * 1000000LL)

enum { RMODE_BLANK = 1, RMODE_TEXT, RMODE_GRAPHIC };
enum { DRAW_PLANAR4, DRAW_CGA2, DRAW_PACKED8, DRAW_RGB15, DRAW_RGB16, DRAW_RGB24, DRAW_RGB32 };

/* What a refresh draws apart from memory and palette: compared as a whole
 * with the last refresh's, a difference forces a full redraw. */
typedef struct RenderParams {
    uint32_t mode;
    uint32_t width, height;          /* surface size */
    uint32_t start, line_offset, line_compare;
    /* text */
    uint32_t cols, rows, cw, ch;
    uint32_t font_off[2];
    uint32_t ar10;
    /* graphics */
    uint32_t src_width;              /* pixels read from memory per line */
    uint32_t draw, dup, multi_scan, cr17, plane_mask, vbe;
} RenderParams;

_Static_assert(sizeof(RenderParams) <= sizeof(((VGAState *)0)->render_params),
               "RenderParams must fit VGAState.render_params");

static bool vbe_on(const VGAState *s)
{
    return s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED;
}

/* ---- video memory access: every address wraps inside vram ---- */

static inline uint8_t vram_byte(const VGAState *s, uint32_t addr)
{
    return s->vram[addr & (s->vram_size - 1)];
}

/* The four planes' bytes at planar offset addr / 4 (plane p in bits 8p). */
static inline uint32_t vram_dword(const VGAState *s, uint32_t addr)
{
    const uint8_t *p = s->vram + (addr & (s->vram_size - 1) & ~3u);
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned vram_pages(const VGAState *s)
{
    return s->vram_size / RAM_PAGE_SIZE;
}

/* Start of a refresh: pull the accelerator's log, forget page answers. */
static void dirty_pass_begin(VGAState *s)
{
    if (s->vram_block < 0 || !s->page_state)
        return;
    ram_dirty_sync(s->vram_block);
    memset(s->page_state, 0, vram_pages(s));
}

static bool page_dirty(VGAState *s, unsigned page)
{
    if (!s->page_state[page]) {
        bool d = ram_dirty_test_and_clear(s->vram_block, DIRTY_CLIENT_DISPLAY,
                                          (uint64_t)page * RAM_PAGE_SIZE, RAM_PAGE_SIZE);
        s->page_state[page] = d ? 2 : 1;
    }
    return s->page_state[page] == 2;
}

/* Were any of the len bytes from addr (wrapping in vram) written since the
 * last refresh that looked at them?  Every page in the range is consulted
 * (and so cleared) once per refresh. */
static bool vram_range_dirty(VGAState *s, uint32_t addr, uint32_t len)
{
    if (s->vram_block < 0 || !s->page_state)
        return true;
    if (len == 0)
        return false;
    unsigned npages = vram_pages(s);
    uint64_t first = (addr & (s->vram_size - 1)) / RAM_PAGE_SIZE;
    uint64_t count = MIN(((uint64_t)(addr % RAM_PAGE_SIZE) + len + RAM_PAGE_SIZE - 1) /
                             RAM_PAGE_SIZE, (uint64_t)npages);
    bool any = false;
    for (uint64_t i = 0; i < count; i++)
        any |= page_dirty(s, (first + i) % npages);
    return any;
}

/* ---- palette ---- */

static inline uint32_t rgb_pixel(uint32_t r, uint32_t g, uint32_t b)
{
    return (r & 0xff) << 16 | (g & 0xff) << 8 | (b & 0xff);
}

/* The DAC's 6-bit components widened to 8 bits as QEMU does. */
static inline uint32_t c6_to_8(uint8_t v)
{
    v &= 0x3f;
    return (uint32_t)v << 2 | (v & 1) << 1 | (v & 1);
}

static bool set_palette_entry(VGAState *s, unsigned i, uint32_t col)
{
    if (s->palette_rgb[i] == col)
        return false;
    s->palette_rgb[i] = col;
    return true;
}

/* 16-colour modes: the attribute controller's palette registers pick the
 * DAC entry, with bits 4-5 from AR14 when AR10 bit 7 is set and bits 6-7
 * from AR14 always (FreeVGA, "Attribute Controller Registers"). */
static bool update_palette16(VGAState *s)
{
    bool changed = false;
    for (unsigned i = 0; i < 16; i++) {
        unsigned v = s->ar[i];
        if (s->ar[0x10] & 0x80)
            v = ((s->ar[0x14] & 0xf) << 4) | (v & 0xf);
        else
            v = ((s->ar[0x14] & 0xc) << 4) | (v & 0x3f);
        const uint8_t *p = &s->palette[v * 3];
        changed |= set_palette_entry(s, i, rgb_pixel(c6_to_8(p[0]), c6_to_8(p[1]),
                                                     c6_to_8(p[2])));
    }
    return changed;
}

static bool update_palette256(VGAState *s)
{
    bool dac8 = s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC;
    bool changed = false;
    for (unsigned i = 0; i < 256; i++) {
        const uint8_t *p = &s->palette[i * 3];
        uint32_t col = dac8 ? rgb_pixel(p[0], p[1], p[2])
                            : rgb_pixel(c6_to_8(p[0]), c6_to_8(p[1]), c6_to_8(p[2]));
        changed |= set_palette_entry(s, i, col);
    }
    return changed;
}

/* ---- common parameters ---- */

static uint32_t crtc_vertical_display_end(const VGAState *s)
{
    /* CR12 plus overflow bits 8 (CR07 bit 1) and 9 (CR07 bit 6). */
    return s->cr[0x12] | ((s->cr[0x07] & 0x02) << 7) | ((s->cr[0x07] & 0x40) << 3);
}

/* Start address (in planar units), line offset (bytes of vram per line)
 * and line compare for VGA modes (CR0C/0D, CR13, CR18/CR07/CR09). */
static void vga_offsets(const VGAState *s, RenderParams *p)
{
    p->start = (s->cr[0x0c] << 8) | s->cr[0x0d];
    p->line_offset = (uint32_t)s->cr[0x13] << 3;
    p->line_compare = s->cr[0x18] | ((s->cr[0x07] & 0x10) << 4) | ((s->cr[0x09] & 0x40) << 3);
}

static uint32_t *surface_row(DisplaySurface *surf, int y)
{
    return surf->data + (size_t)y * (surf->stride / 4);
}

/* Resize if needed; false when the surface cannot take the size. */
static bool surface_fit(int width, int height)
{
    display_resize(width, height);
    DisplaySurface *surf = display_surface();
    return surf->width == width && surf->height == height;
}

/* Compare with the last refresh's parameters; true when they differ. */
static bool params_changed(VGAState *s, const RenderParams *p)
{
    bool changed = !s->render_params_valid || memcmp(s->render_params, p, sizeof(*p)) != 0;
    memcpy(s->render_params, p, sizeof(*p));
    s->render_params_valid = true;
    return changed;
}

static uint32_t last_mode(const VGAState *s)
{
    return s->render_params_valid ? s->render_params[0] : 0;
}

/* ---- blank ---- */

static void draw_blank(VGAState *s, bool full)
{
    RenderParams p = { .mode = RMODE_BLANK };
    full |= params_changed(s, &p);
    if (!full)
        return;
    DisplaySurface *surf = display_surface();
    for (int y = 0; y < surf->height; y++)
        memset(surface_row(surf, y), 0, (size_t)surf->width * 4);
    display_dirty(0, 0, surf->width, surf->height);
}

/* ---- text mode ---- */

typedef struct TextFrame {
    RenderParams p;
    uint32_t cursor_addr;       /* vram byte address of the cursor's cell */
    uint32_t old_cursor_addr;
    bool cursor_redraw;         /* cursor cell must be redrawn (blink, shape) */
    bool cursor_moved;
    bool blink_redraw;          /* cells with attribute bit 7 must be redrawn */
} TextFrame;

static void text_params(const VGAState *s, RenderParams *p)
{
    uint8_t sr1 = vga_sr(s, 1), sr3 = vga_sr(s, 3);
    p->mode = RMODE_TEXT;
    vga_offsets(s, p);
    p->ch = (s->cr[0x09] & 0x1f) + 1;
    /* SR1 bit 0: 8-dot characters, else 9; bit 3 halves the dot clock
     * (every dot shown twice: 16 pixels, as QEMU does, not 18). */
    p->cw = (sr1 & 0x01) ? 8 : 9;
    if (sr1 & 0x08)
        p->cw = 16;
    p->cols = s->cr[0x01] + 1;
    p->rows = (crtc_vertical_display_end(s) + 1) / p->ch;
    p->width = p->cols * p->cw;
    p->height = p->rows * p->ch;
    /* SR3: map B (attribute bit 3 clear) from bits 4,1,0; map A (bit 3
     * set) from bits 5,3,2; the maps are 8 KiB apart in plane 2. */
    unsigned sel_b = ((sr3 >> 4) & 1) | ((sr3 << 1) & 6);
    unsigned sel_a = ((sr3 >> 5) & 1) | ((sr3 >> 1) & 6);
    p->font_off[0] = sel_b * 8192 * 4 + 2;
    p->font_off[1] = sel_a * 8192 * 4 + 2;
    p->ar10 = s->ar[0x10];
}

/* Copy a font from plane 2 into its shadow when its pages were written;
 * true if a glyph really changed. */
static bool refresh_font(VGAState *s, unsigned f, uint32_t off, bool force)
{
    if (!force && !vram_range_dirty(s, off, VGA_FONT_BYTES * 4))
        return false;
    bool changed = false;
    uint8_t *shadow = s->font_shadow[f];
    for (unsigned i = 0; i < VGA_FONT_BYTES; i++) {
        uint8_t b = vram_byte(s, off + i * 4);
        if (shadow[i] != b) {
            shadow[i] = b;
            changed = true;
        }
    }
    return changed;
}

static void update_blink_phases(VGAState *s, TextFrame *tf)
{
    int64_t now = clock_ns(CLOCK_REALTIME_NS);
    if (now >= s->blink_next_ns) {
        s->cursor_phase = !s->cursor_phase;
        s->blink_next_ns = now + CURSOR_HALF_PERIOD_NS;
        tf->cursor_redraw = true;
    }
    if (now >= s->char_blink_next_ns) {
        s->blink_on = !s->blink_on;
        s->char_blink_next_ns = now + CHAR_BLINK_HALF_PERIOD_NS;
        tf->blink_redraw = (s->ar[0x10] & 0x08) != 0;
    }
}

static void update_cursor(VGAState *s, TextFrame *tf)
{
    uint32_t pos = (s->cr[0x0e] << 8) | s->cr[0x0f];
    tf->cursor_addr = (pos * 4) & (s->vram_size - 1);
    tf->old_cursor_addr = s->last_cursor_offset;
    if (tf->cursor_addr != s->last_cursor_offset || s->cr[0x0a] != s->last_cursor_start ||
        s->cr[0x0b] != s->last_cursor_end) {
        tf->cursor_moved = true;
        tf->cursor_redraw = true;
        s->last_cursor_offset = tf->cursor_addr;
        s->last_cursor_start = s->cr[0x0a];
        s->last_cursor_end = s->cr[0x0b];
    }
}

/* One row of 8 (or 16, doubled) dots of a glyph line, then the 9th. */
static void draw_glyph_line(uint32_t *d, unsigned bits, unsigned cw, uint32_t fg, uint32_t bg,
                            bool dup9)
{
    if (cw == 16) {
        for (int i = 0; i < 8; i++)
            d[2 * i] = d[2 * i + 1] = (bits & (0x80 >> i)) ? fg : bg;
        return;
    }
    for (int i = 0; i < 8; i++)
        d[i] = (bits & (0x80 >> i)) ? fg : bg;
    if (cw == 9)
        d[8] = (dup9 && (bits & 1)) ? fg : bg;
}

static void draw_cell(VGAState *s, const TextFrame *tf, int cx, int cy, uint8_t chr, uint8_t attr,
                      bool is_cursor)
{
    const RenderParams *p = &tf->p;
    DisplaySurface *surf = display_surface();
    unsigned fgi = attr & 0x0f, bgi = attr >> 4;
    /* AR10 bit 3: attribute bit 7 blinks the character instead of
     * selecting a bright background (FreeVGA, Attribute Mode Control). */
    if (p->ar10 & 0x08) {
        bgi &= 7;
        if ((attr & 0x80) && !s->blink_on)
            fgi = bgi;
    }
    uint32_t fg = s->palette_rgb[fgi], bg = s->palette_rgb[bgi];
    const uint8_t *glyph = s->font_shadow[(attr >> 3) & 1] + chr * 32;
    /* AR10 bit 2: line graphics, the 9th dot repeats the 8th for
     * characters C0h-DFh (the box-drawing range). */
    bool dup9 = (p->ar10 & 0x04) && chr >= 0xc0 && chr <= 0xdf;
    for (unsigned l = 0; l < p->ch; l++)
        draw_glyph_line(surface_row(surf, cy * p->ch + l) + cx * p->cw, glyph[l], p->cw, fg, bg,
                        dup9);
    if (!is_cursor || (s->cr[0x0a] & 0x20) || !s->cursor_phase)
        return;
    /* Cursor start/end scan lines: CR0A/CR0B bits 0-4, clipped to the cell. */
    unsigned start = s->cr[0x0a] & 0x1f, end = s->cr[0x0b] & 0x1f;
    if (end > p->ch - 1)
        end = p->ch - 1;
    for (unsigned l = start; l <= end && start < p->ch; l++)
        draw_glyph_line(surface_row(surf, cy * p->ch + l) + cx * p->cw, 0xff, p->cw, fg, bg,
                        true);
}

static bool cell_needs_draw(const TextFrame *tf, bool full, uint16_t now, uint16_t before,
                            uint32_t addr)
{
    if (full || now != before)
        return true;
    if (tf->cursor_redraw && addr == tf->cursor_addr)
        return true;
    if (tf->cursor_moved && addr == tf->old_cursor_addr)
        return true;
    return tf->blink_redraw && (now & 0x8000);
}

/* Draw the changed cells of one row; reports them as one dirty span. */
static void draw_text_row(VGAState *s, const TextFrame *tf, int cy, uint32_t addr, bool full)
{
    const RenderParams *p = &tf->p;
    uint16_t *shadow = (uint16_t *)s->text_shadow + (size_t)cy * p->cols;
    int cx_min = -1, cx_max = -1;
    for (unsigned cx = 0; cx < p->cols; cx++, addr += 4) {
        uint32_t a = addr & (s->vram_size - 1);
        uint8_t chr = vram_byte(s, a), attr = vram_byte(s, a + 1);
        uint16_t v = chr | attr << 8;
        if (!cell_needs_draw(tf, full, v, shadow[cx], a))
            continue;
        shadow[cx] = v;
        draw_cell(s, tf, cx, cy, chr, attr, a == tf->cursor_addr);
        if (cx_min < 0)
            cx_min = cx;
        cx_max = cx;
    }
    if (cx_min >= 0)
        display_dirty(cx_min * p->cw, cy * p->ch, (cx_max - cx_min + 1) * p->cw, p->ch);
}

static bool row_may_change(VGAState *s, const TextFrame *tf, uint32_t addr, bool full)
{
    uint32_t len = tf->p.cols * 4;
    /* Query the pages even on a full redraw so that they are cleared. */
    bool dirty = vram_range_dirty(s, addr, len);
    if (full || dirty || tf->blink_redraw)
        return true;
    uint32_t rel = (tf->cursor_addr - addr) & (s->vram_size - 1);
    uint32_t rel_old = (tf->old_cursor_addr - addr) & (s->vram_size - 1);
    return (tf->cursor_redraw && rel < len) || (tf->cursor_moved && rel_old < len);
}

static void draw_text(VGAState *s, bool full)
{
    TextFrame tf = { 0 };
    text_params(s, &tf.p);
    const RenderParams *p = &tf.p;
    if (p->cols * p->rows <= 1 || p->cols * p->rows > VGA_TEXT_MAX_CELLS)
        return;   /* a transient state while the guest programs the CRTC */
    if (last_mode(s) != RMODE_TEXT) {
        s->blink_next_ns = clock_ns(CLOCK_REALTIME_NS);   /* cursor shows at once */
        s->cursor_phase = false;
    }
    full |= params_changed(s, p);
    if (!surface_fit(p->width, p->height))
        return;
    full |= update_palette16(s);
    full |= refresh_font(s, 0, p->font_off[0], full);
    full |= refresh_font(s, 1, p->font_off[1], full);
    update_cursor(s, &tf);
    update_blink_phases(s, &tf);

    uint32_t addr = p->start * 4;
    unsigned line = 0;
    for (unsigned cy = 0; cy < p->rows; cy++) {
        if (row_may_change(s, &tf, addr, full))
            draw_text_row(s, &tf, cy, addr, full);
        addr += p->line_offset;
        /* Line compare restarts the display at address 0 (split screen). */
        if (line < p->line_compare && line + p->ch >= p->line_compare)
            addr = 0;
        line += p->ch;
    }
}

/* ---- graphics modes ---- */

static void draw_line_planar4(const VGAState *s, const RenderParams *p, uint32_t *d,
                              uint32_t addr)
{
    for (uint32_t x = 0; x + 8 <= p->src_width; x += 8, addr += 4) {
        uint32_t data = vram_dword(s, addr) & p->plane_mask;
        for (int i = 0; i < 8; i++) {
            unsigned bit = 7 - i;
            unsigned idx = ((data >> bit) & 1) | ((data >> (8 + bit)) & 1) << 1 |
                           ((data >> (16 + bit)) & 1) << 2 | ((data >> (24 + bit)) & 1) << 3;
            uint32_t px = s->palette_rgb[idx];
            if (p->dup) {
                *d++ = px;
                *d++ = px;
            } else {
                *d++ = px;
            }
        }
    }
}

/* CGA 4-colour (GR5 bit 5, odd/even interleave): planes 0 and 2 hold the
 * low and high bits of pixels 0-3, planes 1 and 3 of pixels 4-7. */
static void draw_line_cga2(const VGAState *s, const RenderParams *p, uint32_t *d, uint32_t addr)
{
    for (uint32_t x = 0; x + 8 <= p->src_width; x += 8, addr += 4) {
        uint32_t data = vram_dword(s, addr) & p->plane_mask;
        for (int i = 0; i < 8; i++) {
            unsigned lo_plane = i < 4 ? 0 : 1, shift = 6 - 2 * (i & 3);
            unsigned idx = ((data >> (8 * lo_plane + shift)) & 3) |
                           ((data >> (8 * (lo_plane + 2) + shift)) & 3) << 2;
            uint32_t px = s->palette_rgb[idx];
            if (p->dup) {
                *d++ = px;
                *d++ = px;
            } else {
                *d++ = px;
            }
        }
    }
}

/* 256 colours: one byte per pixel; mode 13h shows each pixel twice. */
static void draw_line_packed8(const VGAState *s, const RenderParams *p, uint32_t *d,
                              uint32_t addr)
{
    uint32_t n = p->dup ? p->src_width / 2 : p->src_width;
    for (uint32_t x = 0; x < n; x++) {
        uint32_t px = s->palette_rgb[vram_byte(s, addr + x)];
        if (p->dup) {
            *d++ = px;
            *d++ = px;
        } else {
            *d++ = px;
        }
    }
}

static inline uint32_t vram_word(const VGAState *s, uint32_t addr)
{
    return vram_byte(s, addr) | (uint32_t)vram_byte(s, addr + 1) << 8;
}

/* 5- and 6-bit components widened to 8 bits by repeating their top bits
 * (what pixman does for r5g6b5/x1r5g5b5, so QEMU's screendumps of these
 * modes look the same). */
static inline uint32_t widen5(uint32_t v)
{
    v &= 0x1f;
    return v << 3 | v >> 2;
}

static inline uint32_t widen6(uint32_t v)
{
    v &= 0x3f;
    return v << 2 | v >> 4;
}

/* Direct colour, little endian. */
static void draw_line_direct(const VGAState *s, const RenderParams *p, uint32_t *d,
                             uint32_t addr)
{
    for (uint32_t x = 0; x < p->src_width; x++) {
        uint32_t v;
        switch (p->draw) {
        case DRAW_RGB15:   /* x:1 r:5 g:5 b:5 */
            v = vram_word(s, addr);
            d[x] = rgb_pixel(widen5(v >> 10), widen5(v >> 5), widen5(v));
            addr += 2;
            break;
        case DRAW_RGB16:   /* r:5 g:6 b:5 */
            v = vram_word(s, addr);
            d[x] = rgb_pixel(widen5(v >> 11), widen6(v >> 5), widen5(v));
            addr += 2;
            break;
        case DRAW_RGB24:   /* b, g, r bytes */
            d[x] = rgb_pixel(vram_byte(s, addr + 2), vram_byte(s, addr + 1), vram_byte(s, addr));
            addr += 3;
            break;
        default:           /* DRAW_RGB32: b, g, r, x bytes */
            d[x] = rgb_pixel(vram_byte(s, addr + 2), vram_byte(s, addr + 1), vram_byte(s, addr));
            addr += 4;
            break;
        }
    }
}

static void draw_line(const VGAState *s, const RenderParams *p, uint32_t *d, uint32_t addr)
{
    switch (p->draw) {
    case DRAW_PLANAR4:
        draw_line_planar4(s, p, d, addr);
        break;
    case DRAW_CGA2:
        draw_line_cga2(s, p, d, addr);
        break;
    case DRAW_PACKED8:
        draw_line_packed8(s, p, d, addr);
        break;
    default:
        draw_line_direct(s, p, d, addr);
        break;
    }
}

/* Bytes of vram one line reads. */
static uint32_t line_bytes(const RenderParams *p)
{
    switch (p->draw) {
    case DRAW_PLANAR4:
    case DRAW_CGA2:
        return p->src_width / 2;     /* 8 pixels per planar dword */
    case DRAW_PACKED8:
        return p->dup ? p->src_width / 2 : p->src_width;
    case DRAW_RGB15:
    case DRAW_RGB16:
        return p->src_width * 2;
    case DRAW_RGB24:
        return p->src_width * 3;
    default:
        return p->src_width * 4;
    }
}

static bool vbe_params(const VGAState *s, RenderParams *p)
{
    static const struct { unsigned bpp; int draw; } formats[] = {
        { 8, DRAW_PACKED8 }, { 15, DRAW_RGB15 }, { 16, DRAW_RGB16 },
        { 24, DRAW_RGB24 }, { 32, DRAW_RGB32 }, { 4, DRAW_PLANAR4 },
    };
    unsigned bpp = s->vbe_regs[VBE_DISPI_INDEX_BPP];
    p->vbe = 1;
    p->width = p->src_width = s->vbe_regs[VBE_DISPI_INDEX_XRES];
    p->height = s->vbe_regs[VBE_DISPI_INDEX_YRES];
    p->start = s->vbe_start_addr;
    p->line_offset = s->vbe_line_offset;
    p->line_compare = UINT32_MAX;
    p->cr17 = 3;
    p->plane_mask = 0xffffffff;
    for (unsigned i = 0; i < ARRAY_SIZE(formats); i++) {
        if (formats[i].bpp == bpp) {
            p->draw = formats[i].draw;
            return true;
        }
    }
    return false;
}

static uint32_t plane_mask_of(uint8_t ar12)
{
    uint32_t m = 0;
    for (int p = 0; p < 4; p++)
        if (ar12 & (1 << p))
            m |= 0xffu << (8 * p);
    return m;
}

/* Standard VGA graphics: size from the CRTC, GR5 shift control picks the
 * pixel format, CR09 gives line repetition (bits 0-4) and double scan
 * (bit 7), SR1 bit 3 halves the dot clock (pixels shown twice). */
static bool vga_graphic_params(const VGAState *s, RenderParams *p)
{
    unsigned shift_control = (s->gr[0x05] >> 5) & 3;
    unsigned double_scan = s->cr[0x09] >> 7;
    bool half_clock = vga_sr(s, 1) & 0x08;
    vga_offsets(s, p);
    p->start *= 4;
    p->src_width = (s->cr[0x01] + 1) * 8;
    p->height = crtc_vertical_display_end(s) + 1;
    p->cr17 = s->cr[0x17];
    p->plane_mask = plane_mask_of(s->ar[0x12]);
    if (shift_control == 1)   /* CGA modes ignore the line repetition count */
        p->multi_scan = double_scan;
    else
        p->multi_scan = (((s->cr[0x09] & 0x1f) + 1) << double_scan) - 1;
    if (shift_control >= 2) {
        /* 256 colours: each pixel takes two dot clocks (FreeVGA, GR5
         * bit 6), so the CRTC's width shows width / 2 pixels, doubled. */
        p->draw = DRAW_PACKED8;
        p->dup = 1;
        p->width = p->src_width;
        return true;
    }
    p->draw = shift_control == 0 ? DRAW_PLANAR4 : DRAW_CGA2;
    p->dup = half_clock;
    p->width = p->dup ? p->src_width * 2 : p->src_width;
    return true;
}

/* Next line's start address: CR17 bits 0/1 clear substitute scan line
 * counter bits for address bits 13 (or 15) and 14 (CGA/Hercules
 * compatibility, FreeVGA "CRTC Mode Control"); QEMU's bit positions. */
static uint32_t scanline_address(const RenderParams *p, uint32_t addr1, unsigned y1)
{
    uint32_t addr = addr1;
    if (!(p->cr17 & 1)) {
        unsigned shift = 14 + ((p->cr17 >> 6) & 1);
        addr = (addr & ~(1u << shift)) | ((y1 & 1) << shift);
    }
    if (!(p->cr17 & 2))
        addr = (addr & ~0x8000u) | ((y1 & 2) << 14);
    return addr;
}

static void draw_graphic(VGAState *s, bool full)
{
    RenderParams p = { .mode = RMODE_GRAPHIC };
    bool ok = vbe_on(s) ? vbe_params(s, &p) : vga_graphic_params(s, &p);
    /* No mode shows more pixels than 4 per vram byte (planar 4 bpp). */
    if (!ok || p.width == 0 || p.height == 0 || p.width > 16384 || p.height > 16384 ||
        (uint64_t)p.width * p.height > 4ULL * s->vram_size) {
        guest_error("vga: cannot display %ux%u (bpp %u)\n", p.width, p.height,
                    s->vbe_regs[VBE_DISPI_INDEX_BPP]);
        return;
    }
    full |= params_changed(s, &p);
    if (!surface_fit(p.width, p.height))
        return;
    if (p.draw == DRAW_PLANAR4 || p.draw == DRAW_CGA2)
        full |= update_palette16(s);
    else if (p.draw == DRAW_PACKED8)
        full |= update_palette256(s);

    DisplaySurface *surf = display_surface();
    uint32_t bytes = line_bytes(&p), addr1 = p.start;
    unsigned y1 = 0, multi_run = p.multi_scan;
    int y_start = -1;
    for (unsigned y = 0; y < p.height; y++) {
        uint32_t addr = scanline_address(&p, addr1, y1);
        bool dirty = vram_range_dirty(s, addr, bytes);
        if (full || dirty) {
            draw_line(s, &p, surface_row(surf, y), addr);
            if (y_start < 0)
                y_start = y;
        } else if (y_start >= 0) {
            display_dirty(0, y_start, p.width, y - y_start);
            y_start = -1;
        }
        if (!multi_run) {
            unsigned mask = (p.cr17 & 3) ^ 3;
            if ((y1 & mask) == mask)
                addr1 += p.line_offset;
            y1++;
            multi_run = p.multi_scan;
        } else {
            multi_run--;
        }
        if (y == p.line_compare)
            addr1 = 0;
    }
    if (y_start >= 0)
        display_dirty(0, y_start, p.width, p.height - y_start);
}

/* ---- the display device ---- */

static int current_mode(const VGAState *s)
{
    if (vbe_on(s))
        return RMODE_GRAPHIC;
    if (!(s->ar_index & 0x20))   /* palette address source clear: blank */
        return RMODE_BLANK;
    return (s->gr[0x06] & 1) ? RMODE_GRAPHIC : RMODE_TEXT;
}

static void vga_refresh(void *opaque)
{
    VGAState *s = opaque;
    if (!s->vram || s->vram_size < RAM_PAGE_SIZE)
        return;
    dirty_pass_begin(s);
    bool full = s->full_update || s->palette_dirty;
    s->full_update = false;
    s->palette_dirty = false;
    switch (current_mode(s)) {
    case RMODE_TEXT:
        draw_text(s, full);
        break;
    case RMODE_GRAPHIC:
        draw_graphic(s, full);
        break;
    default:
        draw_blank(s, full);
        break;
    }
}

void vga_render_invalidate(VGAState *s)
{
    s->full_update = true;
}

static void vga_invalidate(void *opaque)
{
    vga_render_invalidate(opaque);
}

static const DisplayDevOps vga_display_ops = {
    .refresh = vga_refresh,
    .invalidate = vga_invalidate,
};

void vga_render_init(VGAState *s)
{
    if (!s->text_shadow) {
        s->text_shadow_size = VGA_TEXT_MAX_CELLS * 2;
        s->text_shadow = xzalloc(s->text_shadow_size);
    }
    if (!s->page_state && s->vram_size >= RAM_PAGE_SIZE)
        s->page_state = xzalloc(vram_pages(s));
    if (s->vram_block >= 0)
        ram_dirty_start(s->vram_block, DIRTY_CLIENT_DISPLAY);
    s->render_params_valid = false;
    s->full_update = true;
    display_register_device(&vga_display_ops, s);
}
