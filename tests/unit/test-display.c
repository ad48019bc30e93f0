/*
 * The display surface (ui/display.c): size, dirty rectangles merged per
 * refresh, resize notifications, the refresh timer, PPM and PNG
 * screendumps (the PNG decoded here with zlib and compared pixel by pixel).
 *
 * The VGA renderer (hw/display/vga-render.c) driven directly: a VGAState
 * with its registers set as the BIOS sets them for a mode and its vram
 * filled as the guest would, then a refresh: text cells, fonts, cursor,
 * blink, 9th column, mode 13h, planar 16 colours, VBE 32/16 bpp, and that a
 * refresh redraws only what the vram dirty bitmap says changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "hw.h"
#include "ui.h"
#include "unit.h"
#include "util.h"
#include "../../hw/display/vga-internal.h"

/* ---- a listener that records what it gets ---- */

typedef struct Rec {
    int resizes, last_w, last_h;
    int updates, refreshes;
    long area;
    int x1, y1, x2, y2;      /* bounding box of the updates */
} Rec;

static void rec_resize(void *opaque, DisplaySurface *s)
{
    Rec *r = opaque;
    r->resizes++;
    r->last_w = s->width;
    r->last_h = s->height;
}

static void rec_update(void *opaque, int x, int y, int w, int h)
{
    Rec *r = opaque;
    if (!r->updates) {
        r->x1 = x, r->y1 = y, r->x2 = x + w, r->y2 = y + h;
    } else {
        r->x1 = MIN(r->x1, x), r->y1 = MIN(r->y1, y);
        r->x2 = MAX(r->x2, x + w), r->y2 = MAX(r->y2, y + h);
    }
    r->updates++;
    r->area += (long)w * h;
}

static void rec_done(void *opaque)
{
    ((Rec *)opaque)->refreshes++;
}

static const DisplayListenerOps rec_ops = { rec_resize, rec_update, rec_done };

static void rec_clear(Rec *r)
{
    r->updates = 0;
    r->area = 0;
    r->refreshes = 0;
}

static uint32_t px(int x, int y)
{
    DisplaySurface *s = display_surface();
    return s->data[y * s->stride / 4 + x];
}

/* ---- surface ---- */

START_TEST(surface_starts_640x480_black)
{
    DisplaySurface *s = display_surface();
    ck_assert_int_eq(s->width, 640);
    ck_assert_int_eq(s->height, 480);
    ck_assert_int_ge(s->stride, 640 * 4);
    for (int y = 0; y < 480; y += 7)
        for (int x = 0; x < 640; x += 5)
            ck_assert_uint_eq(px(x, y) & 0xffffff, 0);
}
END_TEST

START_TEST(dirty_rects_merge_and_clip)
{
    Rec r = { 0 };
    void *h = display_add_listener(&rec_ops, &r);
    rec_clear(&r);
    display_dirty(0, 0, 10, 10);
    display_dirty(5, 5, 10, 10);          /* overlaps: union is 175 pixels */
    display_dirty(-5, -5, 3, 3);          /* entirely outside */
    display_dirty(630, 470, 100, 100);    /* clipped to 10x10 */
    display_dirty(0, 0, 0x7fffffff, -1);  /* empty */
    display_refresh_now();
    ck_assert_int_eq(r.area, 175 + 100);
    ck_assert_int_eq(r.x1, 0);
    ck_assert_int_eq(r.y1, 0);
    ck_assert_int_eq(r.x2, 640);
    ck_assert_int_eq(r.y2, 480);
    ck_assert_int_eq(r.refreshes, 1);
    rec_clear(&r);
    display_refresh_now();                /* nothing new: nothing sent */
    ck_assert_int_eq(r.updates, 0);
    ck_assert_int_eq(r.refreshes, 1);
    display_remove_listener(h);
}
END_TEST

START_TEST(resize_notifies_listeners)
{
    Rec r = { 0 };
    void *h = display_add_listener(&rec_ops, &r);
    ck_assert_int_eq(r.resizes, 1);   /* told the current size at once */
    ck_assert_int_eq(r.last_w, 640);
    display_resize(800, 600);
    ck_assert_int_eq(r.resizes, 2);
    ck_assert_int_eq(r.last_w, 800);
    ck_assert_int_eq(r.last_h, 600);
    display_resize(800, 600);         /* same size: no-op */
    ck_assert_int_eq(r.resizes, 2);
    display_resize(0, 100);           /* refused */
    display_resize(100, 16385);
    ck_assert_int_eq(r.resizes, 2);
    ck_assert_int_eq(display_surface()->width, 800);
    display_dirty(10, 10, 5, 5);
    display_resize(320, 200);         /* pending damage of the old size dropped */
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 0);
    display_remove_listener(h);
}
END_TEST

static int dev_refreshes, dev_invalidates;
static void dev_refresh(void *opaque)
{
    dev_refreshes++;
    display_dirty(1, 2, 3, 4);
}
static void dev_invalidate(void *opaque)
{
    dev_invalidates++;
}
static const DisplayDevOps dev_ops = { dev_refresh, dev_invalidate };

START_TEST(timer_runs_only_with_listeners)
{
    display_register_device(&dev_ops, NULL);
    ck_assert_int_eq(timers_next_deadline_ns(), -1);
    Rec r = { 0 };
    void *h = display_add_listener(&rec_ops, &r);
    ck_assert_int_eq(dev_invalidates, 1);   /* a new client gets a full frame */
    int64_t d = timers_next_deadline_ns();
    ck_assert_int_ge(d, 0);
    ck_assert_int_le(d, 1000000000LL / DISPLAY_REFRESH_HZ);
    usleep(1000000 / DISPLAY_REFRESH_HZ + 5000);
    timers_run_expired();
    ck_assert_int_eq(dev_refreshes, 1);
    ck_assert_int_eq(r.area, 12);
    ck_assert_int_ge(timers_next_deadline_ns(), 0);   /* re-armed */
    display_remove_listener(h);
    ck_assert_int_eq(timers_next_deadline_ns(), -1);
    display_refresh_now();                   /* screendump path still refreshes */
    ck_assert_int_eq(dev_refreshes, 2);
}
END_TEST

/* ---- screendump ---- */

static void fill_pattern(void)
{
    display_resize(301, 203);
    DisplaySurface *s = display_surface();
    uint32_t seed = 12345;
    for (int y = 0; y < s->height; y++)
        for (int x = 0; x < s->width; x++) {
            seed = seed * 1103515245 + 12345;
            /* noise in the left half (incompressible: several IDATs), a
             * gradient on the right; the x byte must not leak into files */
            s->data[y * s->stride / 4 + x] =
                x < 150 ? (seed >> 8) | 0xff000000u : (uint32_t)(x << 16 | y << 8 | (x ^ y));
        }
}

static uint32_t expected_rgb(int x, int y)
{
    return px(x, y) & 0xffffff;
}

START_TEST(screendump_ppm)
{
    fill_pattern();
    char *path = xasprintf("/tmp/test-display-%d.ppm", getpid());
    char err[256] = "";
    ck_assert_int_eq(display_screendump(path, false, err, sizeof(err)), 0);
    size_t len;
    uint8_t *buf = read_file(path, &len);
    unlink(path);
    ck_assert_ptr_nonnull(buf);
    const char *hdr = "P6\n301 203\n255\n";
    ck_assert_int_eq(memcmp(buf, hdr, strlen(hdr)), 0);
    ck_assert_uint_eq(len, strlen(hdr) + 301 * 203 * 3);
    const uint8_t *p = buf + strlen(hdr);
    for (int y = 0; y < 203; y++)
        for (int x = 0; x < 301; x++, p += 3)
            ck_assert_uint_eq((uint32_t)(p[0] << 16 | p[1] << 8 | p[2]), expected_rgb(x, y));
    free(buf);
    free(path);
}
END_TEST

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

START_TEST(screendump_png_decodes)
{
    fill_pattern();
    char *path = xasprintf("/tmp/test-display-%d.png", getpid());
    char err[256] = "";
    ck_assert_int_eq(display_screendump(path, true, err, sizeof(err)), 0);
    size_t len;
    uint8_t *buf = read_file(path, &len);
    unlink(path);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(memcmp(buf, "\x89PNG\r\n\x1a\n", 8), 0);

    size_t raw_len = 203 * (301 * 3 + 1);
    uint8_t *raw = xmalloc(raw_len);
    z_stream z = { 0 };
    ck_assert_int_eq(inflateInit(&z), Z_OK);
    z.next_out = raw;
    z.avail_out = raw_len;
    int idats = 0, zret = Z_OK;
    bool seen_ihdr = false, seen_iend = false;
    for (size_t off = 8; off + 12 <= len && !seen_iend;) {
        uint32_t clen = be32(buf + off);
        ck_assert_uint_le(off + 12 + clen, len);
        const uint8_t *type = buf + off + 4, *data = buf + off + 8;
        uint32_t crc = crc32(crc32(0, type, 4), data, clen);
        ck_assert_uint_eq(crc, be32(data + clen));
        if (!memcmp(type, "IHDR", 4)) {
            ck_assert_uint_eq(clen, 13);
            ck_assert_uint_eq(be32(data), 301);
            ck_assert_uint_eq(be32(data + 4), 203);
            ck_assert_uint_eq(data[8], 8);   /* depth */
            ck_assert_uint_eq(data[9], 2);   /* RGB */
            seen_ihdr = true;
        } else if (!memcmp(type, "IDAT", 4)) {
            ck_assert(seen_ihdr);
            idats++;
            z.next_in = (Bytef *)data;
            z.avail_in = clen;
            zret = inflate(&z, Z_NO_FLUSH);
            ck_assert(zret == Z_OK || zret == Z_STREAM_END);
        } else if (!memcmp(type, "IEND", 4)) {
            seen_iend = true;
        }
        off += 12 + clen;
    }
    ck_assert(seen_iend);
    ck_assert_int_eq(zret, Z_STREAM_END);
    ck_assert_int_gt(idats, 1);
    ck_assert_uint_eq(z.total_out, raw_len);
    inflateEnd(&z);
    for (int y = 0; y < 203; y++) {
        const uint8_t *row = raw + y * (301 * 3 + 1);
        ck_assert_uint_eq(row[0], 0);    /* filter None */
        for (int x = 0; x < 301; x++) {
            const uint8_t *p = row + 1 + x * 3;
            ck_assert_uint_eq((uint32_t)(p[0] << 16 | p[1] << 8 | p[2]), expected_rgb(x, y));
        }
    }
    free(raw);
    free(buf);
    free(path);
}
END_TEST

START_TEST(screendump_errors_are_one_line)
{
    char err[256] = "";
    ck_assert_int_eq(display_screendump("/nonexistent-dir/x.ppm", false, err, sizeof(err)), -1);
    ck_assert_str_eq(err,
                     "screendump: cannot open '/nonexistent-dir/x.ppm': No such file or directory");
    if (access("/dev/full", W_OK) == 0) {
        ck_assert_int_eq(display_screendump("/dev/full", true, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "screendump: cannot write '/dev/full': No space left on device");
    }
}
END_TEST

/* ---- the VGA renderer ---- */

#define VRAM_SIZE (4 * MiB)
static VGAState vga;

static void vga_setup(void)
{
    memset(&vga, 0, sizeof(vga));
    vga.vram_size = VRAM_SIZE;
    vga.vram = aligned_alloc(4096, VRAM_SIZE);
    memset(vga.vram, 0, VRAM_SIZE);
    vga.vram_block = guest_ram_register("vga.vram", RAM_UNMAPPED, VRAM_SIZE, vga.vram,
                                        RAM_DEVICE);
    ck_assert_int_ge(vga.vram_block, 0);
    vga_render_init(&vga);
}

/* Mode 03h as the BIOS programs it (IBM VGA mode table; SeaVGABIOS). */
static const uint8_t mode3_sr[5] = { 0x03, 0x00, 0x03, 0x00, 0x02 };
static const uint8_t mode3_cr[25] = {
    0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
};
static const uint8_t mode3_ar[21] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
    0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00,
};
static const uint8_t mode3_gr[9] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff };

static void set_dac(unsigned i, uint8_t r, uint8_t g, uint8_t b)
{
    vga.palette[i * 3] = r;
    vga.palette[i * 3 + 1] = g;
    vga.palette[i * 3 + 2] = b;
}

static uint32_t dac_rgb(unsigned i)
{
    uint32_t c = 0;
    for (int k = 0; k < 3; k++) {
        uint8_t v = vga.palette[i * 3 + k] & 0x3f;
        c = c << 8 | (uint32_t)(v << 2 | (v & 1) << 1 | (v & 1));
    }
    return c;
}

static void set_mode3(void)
{
    memcpy(vga.sr, mode3_sr, sizeof(mode3_sr));
    memcpy(vga.cr, mode3_cr, sizeof(mode3_cr));
    memcpy(vga.ar, mode3_ar, sizeof(mode3_ar));
    memcpy(vga.gr, mode3_gr, sizeof(mode3_gr));
    vga.misc_output = 0x67;
    vga.ar_index = 0x20;
    /* Distinct DAC colours for the 64 entries the attribute palette uses. */
    for (unsigned i = 0; i < 64; i++)
        set_dac(i, (i * 5) & 0x3f, (i * 11) & 0x3f, (i * 17 + 3) & 0x3f);
}

/* Glyph line l of character c: any pattern that differs between glyphs. */
static uint8_t glyph_bits(unsigned c, unsigned l)
{
    return (uint8_t)(c * 7 + l * 29 + (c >> 3)) | (l == 3 ? 0x81 : 0);
}

static void load_font(unsigned font_off)
{
    for (unsigned c = 0; c < 256; c++)
        for (unsigned l = 0; l < 32; l++)
            vga.vram[font_off + (c * 32 + l) * 4] = glyph_bits(c, l);
    ram_block_mark_dirty(vga.vram_block, 0, 256 * 32 * 4 + font_off);
}

static void put_cell(unsigned idx, uint8_t ch, uint8_t attr, bool mark)
{
    vga.vram[idx * 4] = ch;
    vga.vram[idx * 4 + 1] = attr;
    if (mark)
        ram_block_mark_dirty(vga.vram_block, idx * 4, 2);
}

static uint32_t ar_color(unsigned idx)
{
    return dac_rgb(vga.ar[idx] & 0x3f);
}

/* Every pixel of cell (cx, cy) is the glyph drawn in fg on bg. */
static void check_cell(int cx, int cy, uint8_t ch, uint32_t fg, uint32_t bg, bool dup9)
{
    for (int l = 0; l < 16; l++) {
        uint8_t bits = glyph_bits(ch, l);
        for (int d = 0; d < 9; d++) {
            bool on = d < 8 ? (bits & (0x80 >> d)) : (dup9 && (bits & 1));
            ck_assert_msg((px(cx * 9 + d, cy * 16 + l) & 0xffffff) == (on ? fg : bg),
                          "cell %d,%d line %d dot %d", cx, cy, l, d);
        }
    }
}

START_TEST(text_mode_renders_cells)
{
    vga_setup();
    set_mode3();
    vga.cr[0x0a] = 0x20;                 /* cursor off */
    load_font(2);
    put_cell(0, 'A', 0x1e, true);
    put_cell(80 * 24 + 79, 0x41 + 9, 0x4f, true);
    display_refresh_now();
    ck_assert_int_eq(display_surface()->width, 720);
    ck_assert_int_eq(display_surface()->height, 400);
    check_cell(0, 0, 'A', ar_color(0xe), ar_color(0x1), false);
    check_cell(79, 24, 0x41 + 9, ar_color(0xf), ar_color(0x4), false);
    check_cell(1, 0, 0, ar_color(0), ar_color(0), false);
}
END_TEST

START_TEST(text_mode_font_map_select)
{
    vga_setup();
    set_mode3();
    vga.cr[0x0a] = 0x20;
    load_font(2);
    /* Font map A (attribute bit 3 set) at 16 KiB of plane 2: SR3 bit 2
     * (map A bits 5,3,2 = 001... 2nd map) -> offset 2 * 8K = 16 KiB. */
    vga.sr[3] = 0x04;
    for (unsigned l = 0; l < 32; l++)
        vga.vram[2 + (2 * 8192 + 'B' * 32 + l) * 4] = 0xf0;
    ram_block_mark_dirty(vga.vram_block, 0, VRAM_SIZE);
    put_cell(0, 'B', 0x0f, true);   /* bit 3 set: map A */
    put_cell(1, 'B', 0x07, true);   /* bit 3 clear: map B (font 0) */
    display_refresh_now();
    uint32_t fg = ar_color(0xf), bg = ar_color(0);
    ck_assert_uint_eq(px(0, 5) & 0xffffff, fg);
    ck_assert_uint_eq(px(4, 5) & 0xffffff, bg);
    check_cell(1, 0, 'B', ar_color(7), bg, false);
}
END_TEST

START_TEST(text_mode_redraws_only_dirty_cells)
{
    vga_setup();
    set_mode3();
    vga.cr[0x0a] = 0x20;
    load_font(2);
    for (unsigned i = 0; i < 2000; i++)
        put_cell(i, 'a' + i % 26, 0x07, true);
    Rec r = { 0 };
    void *h = display_add_listener(&rec_ops, &r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 720 * 400);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.updates, 0);      /* nothing changed: nothing drawn */
    put_cell(3 * 80 + 5, 'Z', 0x2e, true);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 9 * 16);
    ck_assert_int_eq(r.x1, 45);
    ck_assert_int_eq(r.y1, 48);
    check_cell(5, 3, 'Z', ar_color(0xe), ar_color(2), false);
    /* A write the dirty log does not report is not seen: the renderer
     * never compares the whole of video memory. */
    put_cell(10, 'Q', 0x07, false);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.updates, 0);
    /* A write to the font redraws the screen. */
    vga.vram[2 + ('a' * 32 + 2) * 4] ^= 0xff;
    ram_block_mark_dirty(vga.vram_block, 2 + ('a' * 32 + 2) * 4, 1);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 720 * 400);
    /* An attribute palette change too. */
    vga.ar[7] = 0x3a;
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 720 * 400);
    display_remove_listener(h);
}
END_TEST

START_TEST(text_mode_cursor_blinks)
{
    vga_setup();
    set_mode3();
    load_font(2);
    put_cell(81, 'c', 0x1e, true);
    vga.cr[0x0e] = 0;
    vga.cr[0x0f] = 81;                   /* row 1, column 1 */
    Rec r = { 0 };
    void *h = display_add_listener(&rec_ops, &r);
    display_refresh_now();
    uint32_t fg = ar_color(0xe), bg = ar_color(1);
    for (int d = 0; d < 9; d++) {
        ck_assert_uint_eq(px(9 + d, 16 + 14) & 0xffffff, fg);   /* CR0A..CR0B: 13..14 */
        ck_assert_uint_eq(px(9 + d, 16 + 13) & 0xffffff, fg);
    }
    ck_assert_uint_eq(px(9 + 8, 16 + 12) & 0xffffff, bg);
    usleep(300 * 1000);
    rec_clear(&r);
    display_refresh_now();                 /* phase changed: only that cell */
    ck_assert_int_eq(r.area, 9 * 16);
    check_cell(1, 1, 'c', fg, bg, false);
    /* Moving the cursor redraws the old and the new cell only (one span
     * per text row: columns 1 to 5). */
    usleep(300 * 1000);
    vga.cr[0x0f] = 85;
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.x1, 9);
    ck_assert_int_eq(r.x2, 6 * 9);
    ck_assert_int_eq(r.y1, 16);
    ck_assert_int_eq(r.y2, 32);
    display_remove_listener(h);
}
END_TEST

START_TEST(text_mode_blink_and_line_graphics)
{
    vga_setup();
    set_mode3();
    vga.cr[0x0a] = 0x20;
    load_font(2);
    put_cell(0, 'x', 0xc7, true);     /* blink + bright red background */
    put_cell(1, 0xc4, 0x07, true);    /* box drawing: 9th dot repeats */
    put_cell(2, 0xb3, 0x07, true);    /* outside C0-DF: 9th dot is background */
    display_refresh_now();
    /* AR10 bit 3: bit 7 blinks, the background has 8 colours; the first
     * phase shows the character. */
    check_cell(0, 0, 'x', ar_color(7), ar_color(4), false);
    check_cell(1, 0, 0xc4, ar_color(7), ar_color(0), true);
    check_cell(2, 0, 0xb3, ar_color(7), ar_color(0), false);
    vga.ar[0x10] = 0x08 | 0x01;       /* no line graphics */
    vga.full_update = true;
    display_refresh_now();
    check_cell(1, 0, 0xc4, ar_color(7), ar_color(0), false);
    vga.ar[0x10] = 0x04 | 0x01;       /* blink off: bright background */
    display_refresh_now();
    check_cell(0, 0, 'x', ar_color(7), ar_color(0xc), false);
}
END_TEST

/* Mode 13h: 320x200, 256 colours, chain-4; each pixel shown 2x2. */
static void set_mode13(void)
{
    static const uint8_t cr[25] = {
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff,
    };
    static const uint8_t gr[9] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff };
    static const uint8_t sr[5] = { 0x03, 0x01, 0x0f, 0x00, 0x0e };
    memcpy(vga.sr, sr, sizeof(sr));
    memcpy(vga.cr, cr, sizeof(cr));
    memcpy(vga.gr, gr, sizeof(gr));
    for (int i = 0; i < 16; i++)
        vga.ar[i] = i;
    vga.ar[0x10] = 0x41;
    vga.ar[0x12] = 0x0f;
    vga.ar_index = 0x20;
    for (unsigned i = 0; i < 256; i++)
        set_dac(i, i & 0x3f, (i >> 2) & 0x3f, (i * 3) & 0x3f);
}

START_TEST(mode13h_renders_doubled)
{
    vga_setup();
    set_mode13();
    for (int y = 0; y < 200; y++)
        for (int x = 0; x < 320; x++)
            vga.vram[y * 320 + x] = (uint8_t)(x + y * 3);
    ram_block_mark_dirty(vga.vram_block, 0, 64000);
    Rec r = { 0 };
    void *h = display_add_listener(&rec_ops, &r);
    display_refresh_now();
    ck_assert_int_eq(display_surface()->width, 640);
    ck_assert_int_eq(display_surface()->height, 400);
    for (int y = 0; y < 200; y += 3)
        for (int x = 0; x < 320; x += 7) {
            uint32_t c = dac_rgb((uint8_t)(x + y * 3));
            ck_assert_uint_eq(px(2 * x, 2 * y) & 0xffffff, c);
            ck_assert_uint_eq(px(2 * x + 1, 2 * y + 1) & 0xffffff, c);
        }
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.updates, 0);
    /* Pixel (10, 150): its page holds lines 140-153 (4096 / 320 bytes). */
    vga.vram[150 * 320 + 10] = 0x55;
    ram_block_mark_dirty(vga.vram_block, 150 * 320 + 10, 1);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_uint_eq(px(20, 300) & 0xffffff, dac_rgb(0x55));
    ck_assert_int_le(r.area, 640 * 2 * 14);
    ck_assert_int_le(r.y1, 300);
    ck_assert_int_ge(r.y2, 302);
    /* A DAC change redraws everything. */
    set_dac(0x55, 1, 2, 3);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 640 * 400);
    ck_assert_uint_eq(px(21, 301) & 0xffffff, dac_rgb(0x55));
    display_remove_listener(h);
}
END_TEST

START_TEST(mode12h_planar_16_colours)
{
    vga_setup();
    set_mode13();
    vga.gr[5] = 0x00;        /* shift control 0: planar */
    vga.cr[0x09] = 0x40;     /* no line repetition */
    vga.cr[0x12] = 0xdf;     /* 480 lines */
    vga.cr[0x07] = 0x3e;
    vga.ar[0x10] = 0x01;
    vga.sr[4] = 0x06;
    display_refresh_now();
    ck_assert_int_eq(display_surface()->width, 640);
    ck_assert_int_eq(display_surface()->height, 480);
    /* Byte 0 of each plane covers pixels 0-7 of line 0, bit 7 first. */
    vga.vram[0] = 0x80;      /* plane 0 */
    vga.vram[1] = 0xc0;      /* plane 1 */
    vga.vram[2] = 0x00;
    vga.vram[3] = 0x01;      /* plane 3 */
    vga.vram[10 * 320 + 4 * 5 + 2] = 0x10;   /* line 10, byte 5, plane 2 */
    ram_block_mark_dirty(vga.vram_block, 0, 8192);
    display_refresh_now();
    ck_assert_uint_eq(px(0, 0) & 0xffffff, dac_rgb(3));
    ck_assert_uint_eq(px(1, 0) & 0xffffff, dac_rgb(2));
    ck_assert_uint_eq(px(2, 0) & 0xffffff, dac_rgb(0));
    ck_assert_uint_eq(px(7, 0) & 0xffffff, dac_rgb(8));
    ck_assert_uint_eq(px(5 * 8 + 3, 10) & 0xffffff, dac_rgb(4));
    /* AR12 masks planes off. */
    vga.ar[0x12] = 0x0e;
    vga.full_update = true;
    display_refresh_now();
    ck_assert_uint_eq(px(0, 0) & 0xffffff, dac_rgb(2));
}
END_TEST

static void set_vbe(unsigned xres, unsigned yres, unsigned bpp)
{
    vga.vbe_regs[VBE_DISPI_INDEX_XRES] = xres;
    vga.vbe_regs[VBE_DISPI_INDEX_YRES] = yres;
    vga.vbe_regs[VBE_DISPI_INDEX_BPP] = bpp;
    vga.vbe_regs[VBE_DISPI_INDEX_ENABLE] = VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED;
    vga.vbe_line_offset = xres * ((bpp + 7) / 8);
    vga.vbe_start_addr = 0;
    vga.gr[6] = 0x05;
}

START_TEST(vbe_32bpp_dirty_lines)
{
    vga_setup();
    set_vbe(1024, 768, 32);
    uint32_t *fb = (uint32_t *)vga.vram;
    for (int i = 0; i < 1024 * 768; i++)
        fb[i] = 0x00102030u + i;
    ram_block_mark_dirty(vga.vram_block, 0, 1024 * 768 * 4);
    Rec r = { 0 };
    void *h = display_add_listener(&rec_ops, &r);
    display_refresh_now();
    ck_assert_int_eq(display_surface()->width, 1024);
    ck_assert_int_eq(display_surface()->height, 768);
    ck_assert_uint_eq(px(0, 0) & 0xffffff, 0x102030);
    ck_assert_uint_eq(px(1023, 767) & 0xffffff, (0x102030u + 1024 * 768 - 1) & 0xffffff);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.updates, 0);
    fb[500 * 1024 + 7] = 0xffabcdef;
    ram_block_mark_dirty(vga.vram_block, (500 * 1024 + 7) * 4, 4);
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 1024);      /* exactly that line (4 KiB = one page) */
    ck_assert_int_eq(r.y1, 500);
    ck_assert_uint_eq(px(7, 500) & 0xffffff, 0xabcdef);
    /* Panning (a new start address) redraws the screen. */
    vga.vbe_start_addr = 4096;
    rec_clear(&r);
    display_refresh_now();
    ck_assert_int_eq(r.area, 1024 * 768);
    ck_assert_uint_eq(px(7, 499) & 0xffffff, 0xabcdef);
    display_remove_listener(h);
}
END_TEST

START_TEST(vbe_16_15_24_8bpp_formats)
{
    vga_setup();
    set_vbe(800, 600, 16);
    uint16_t *fb16 = (uint16_t *)vga.vram;
    fb16[0] = 0xf800;
    fb16[1] = 0x07e0;
    fb16[2] = 0x001f;
    fb16[599 * 800 + 799] = 0xffff;
    display_refresh_now();
    ck_assert_int_eq(display_surface()->width, 800);
    ck_assert_uint_eq(px(0, 0) & 0xffffff, 0xff0000);
    ck_assert_uint_eq(px(1, 0) & 0xffffff, 0x00ff00);
    ck_assert_uint_eq(px(2, 0) & 0xffffff, 0x0000ff);
    ck_assert_uint_eq(px(799, 599) & 0xffffff, 0xffffff);
    fb16[3] = 0x8410;      /* r 10000, g 100000, b 10000: top bits repeated */
    vga.full_update = true;
    display_refresh_now();
    ck_assert_uint_eq(px(3, 0) & 0xffffff, 0x848284);
    set_vbe(800, 600, 15);
    fb16[0] = 0x7c00;
    fb16[1] = 0x4210;      /* each component 10000b */
    display_refresh_now();
    ck_assert_uint_eq(px(0, 0) & 0xffffff, 0xff0000);
    ck_assert_uint_eq(px(1, 0) & 0xffffff, 0x848484);
    set_vbe(640, 480, 24);
    vga.vram[3] = 0x11, vga.vram[4] = 0x22, vga.vram[5] = 0x33;
    display_refresh_now();
    ck_assert_uint_eq(px(1, 0) & 0xffffff, 0x332211);
    set_vbe(640, 480, 8);
    set_dac(9, 0x3f, 0, 0x10);
    vga.vram[0] = 9;
    display_refresh_now();
    ck_assert_uint_eq(px(0, 0) & 0xffffff, dac_rgb(9));
    vga.vbe_regs[VBE_DISPI_INDEX_ENABLE] |= VBE_DISPI_8BIT_DAC;
    set_dac(9, 0x80, 0x40, 0xff);
    display_refresh_now();
    ck_assert_uint_eq(px(0, 0) & 0xffffff, 0x8040ff);
}
END_TEST

/* What a guest controls cannot make the renderer read outside vram or
 * allocate absurd surfaces. */
START_TEST(hostile_registers_stay_in_bounds)
{
    vga_setup();
    set_vbe(1024, 768, 32);
    vga.vbe_start_addr = 0xfffffff0;
    vga.vbe_line_offset = 0x7fffffff;
    display_refresh_now();
    set_vbe(16000, 12000, 32);           /* more than vram holds: refused */
    display_refresh_now();
    ck_assert_int_le(display_surface()->width, 1024);
    set_vbe(1024, 768, 7);               /* no such depth */
    display_refresh_now();
    vga.vbe_regs[VBE_DISPI_INDEX_ENABLE] = 0;
    set_mode3();
    load_font(2);
    vga.cr[0x0c] = 0xff, vga.cr[0x0d] = 0xff;   /* start near the end */
    vga.cr[0x13] = 0xff;
    vga.cr[0x0e] = 0xff, vga.cr[0x0f] = 0xfe;
    vga.sr[3] = 0x3f;
    display_refresh_now();
    vga.cr[0x01] = 0xff;                 /* 256 columns: over the cell limit */
    vga.cr[0x09] = 0x00;                 /* 1-line characters */
    vga.cr[0x12] = 0xff, vga.cr[0x07] = 0x42;
    display_refresh_now();
    set_mode13();
    vga.cr[0x0c] = 0xff, vga.cr[0x0d] = 0xff;
    vga.cr[0x01] = 0xff, vga.cr[0x12] = 0xff, vga.cr[0x07] = 0x42;
    vga.cr[0x09] = 0x9f;                 /* 32 repeats, double scan */
    display_refresh_now();
    vga.gr[5] = 0x20;                    /* CGA */
    vga.cr[0x17] = 0x00;
    display_refresh_now();
    vga.gr[5] = 0x00;                    /* planar */
    vga.sr[1] = 0x08;
    display_refresh_now();
    vga.ar_index = 0;                    /* blank */
    display_refresh_now();
    DisplaySurface *s = display_surface();
    ck_assert_uint_eq(px(s->width - 1, s->height - 1) & 0xffffff, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("display");
    UNIT_TEST(s, surface_starts_640x480_black);
    UNIT_TEST(s, dirty_rects_merge_and_clip);
    UNIT_TEST(s, resize_notifies_listeners);
    UNIT_TEST(s, timer_runs_only_with_listeners);
    UNIT_TEST(s, screendump_ppm);
    UNIT_TEST(s, screendump_png_decodes);
    UNIT_TEST(s, screendump_errors_are_one_line);
    UNIT_TEST(s, text_mode_renders_cells);
    UNIT_TEST(s, text_mode_font_map_select);
    UNIT_TEST(s, text_mode_redraws_only_dirty_cells);
    UNIT_TEST(s, text_mode_cursor_blinks);
    UNIT_TEST(s, text_mode_blink_and_line_graphics);
    UNIT_TEST(s, mode13h_renders_doubled);
    UNIT_TEST(s, mode12h_planar_16_colours);
    UNIT_TEST(s, vbe_32bpp_dirty_lines);
    UNIT_TEST(s, vbe_16_15_24_8bpp_formats);
    UNIT_TEST(s, hostile_registers_stay_in_bounds);
    return unit_run(s);
}
