/*
 * The standard VGA (1234:1111) driven through its ports, the 0xa0000
 * window, the Bochs VBE DISPI registers and its PCI BARs, on vmm and on
 * QEMU (-vga std), as SeaVGABIOS and Linux's bochs-drm program it.
 *
 * Register facts: IBM VGA Technical Reference / FreeVGA (sequencer SR,
 * graphics controller GR, CRTC CR, attribute controller AR, DAC); Bochs
 * vbe.h (DISPI).  Where behaviour is QEMU's own (reset values, masks,
 * retrace toggling) QEMU is the reference: the expected values below are
 * what QEMU 7.2 answers, and the planar-memory results of the two targets
 * are compared byte for byte.
 */
#include "libqos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define VGA_VENDOR 0x1234
#define VGA_DEVICE 0x1111
#define WIN 0xa0000ull

/* The planar/chain-4/odd-even results of each target, compared at the end. */
#define TRACE_MAX 512
typedef struct Trace {
    uint8_t b[TRACE_MAX];
    unsigned n;
    bool done;
} Trace;
static Trace traces[2];     /* [0] vmm, [1] qemu */

static void trace_add(Trace *tr, uint8_t v)
{
    if (tr->n < TRACE_MAX)
        tr->b[tr->n++] = v;
}

static void sr_w(QTestState *s, unsigned i, uint8_t v)
{
    qtest_outb(s, 0x3c4, i);
    qtest_outb(s, 0x3c5, v);
}
static uint8_t sr_r(QTestState *s, unsigned i)
{
    qtest_outb(s, 0x3c4, i);
    return qtest_inb(s, 0x3c5);
}
static void gr_w(QTestState *s, unsigned i, uint8_t v)
{
    qtest_outb(s, 0x3ce, i);
    qtest_outb(s, 0x3cf, v);
}
static uint8_t gr_r(QTestState *s, unsigned i)
{
    qtest_outb(s, 0x3ce, i);
    return qtest_inb(s, 0x3cf);
}
static void cr_w(QTestState *s, unsigned i, uint8_t v)
{
    qtest_outb(s, 0x3d4, i);
    qtest_outb(s, 0x3d5, v);
}
static uint8_t cr_r(QTestState *s, unsigned i)
{
    qtest_outb(s, 0x3d4, i);
    return qtest_inb(s, 0x3d5);
}
static void ar_w(QTestState *s, unsigned i, uint8_t v)
{
    qtest_inb(s, 0x3da);            /* flip-flop to "index" */
    qtest_outb(s, 0x3c0, i);
    qtest_outb(s, 0x3c0, v);
}
static uint8_t ar_r(QTestState *s, unsigned i)
{
    qtest_inb(s, 0x3da);
    qtest_outb(s, 0x3c0, i);
    return qtest_inb(s, 0x3c1);
}
static void vbe_w(QTestState *s, unsigned i, uint16_t v)
{
    qtest_outw(s, 0x1ce, i);
    qtest_outw(s, 0x1cf, v);
}
static uint16_t vbe_r(QTestState *s, unsigned i)
{
    qtest_outw(s, 0x1ce, i);
    return qtest_inw(s, 0x1cf);
}

/* ---- PCI identity and BARs ---- */

static uint32_t rom_bar_size(QPCIDevice *d)
{
    uint32_t old = qpci_config_readl(d, 0x30);
    qpci_config_writel(d, 0x30, 0xfffff800);
    uint32_t v = qpci_config_readl(d, 0x30) & 0xfffff800;
    qpci_config_writel(d, 0x30, old);
    return v ? ~v + 1 : 0;
}

static void test_pci(const QTarget *t, QPCIDevice *d)
{
    uint32_t id = qpci_config_readl(d, 0x00);
    uint32_t cls = qpci_config_readl(d, 0x08);
    uint32_t sub = qpci_config_readl(d, 0x2c);
    uint8_t htype = qpci_config_readb(d, 0x0e);
    CHECK(t, id == 0x11111234 && cls == 0x03000002 && sub == 0x11001af4 && htype == 0,
          "vga pci ids", "id %08x class/rev %08x subsys %08x htype %02x", id, cls, sub, htype);
    uint64_t s0 = qpci_bar_probe(d, 0), s2 = qpci_bar_probe(d, 2);
    uint32_t raw0 = qpci_bar_raw(d, 0);
    CHECK(t, s0 == 16u << 20 && (raw0 & 0xf) == 0x8 && !d->bars[0].io,
          "vga bar0 16 MiB prefetchable 32-bit", "size %#llx raw %08x",
          (unsigned long long)s0, raw0);
    CHECK(t, s2 == 4096 && !d->bars[2].io && !d->bars[2].prefetch, "vga bar2 4 KiB mmio",
          "size %#llx", (unsigned long long)s2);
    uint64_t s1 = qpci_bar_probe(d, 1);
    CHECK(t, s1 == 0, "vga bar1 unused", "size %#llx", (unsigned long long)s1);
    uint32_t rs = rom_bar_size(d);
    CHECK(t, rs == 64 * 1024, "vga rom bar (vgabios-stdvga.bin)", "rom size %#x", rs);
}

/* ---- register files ---- */

static void test_seq_gr(const QTarget *t, QTestState *s)
{
    static const uint8_t sr_mask[8] = { 0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0x00, 0x00, 0xff };
    static const uint8_t gr_mask[9] = { 0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff };
    char got[128] = "";
    bool ok = true;
    for (unsigned i = 0; i < 8; i++) {
        sr_w(s, i, 0xff);
        uint8_t v = sr_r(s, i);
        if (v != sr_mask[i]) {
            ok = false;
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "SR%u=%02x ", i, v);
        }
        sr_w(s, i, 0);
    }
    qtest_outb(s, 0x3c4, 0xff);
    uint8_t sri = qtest_inb(s, 0x3c4);
    CHECK(t, ok && sri == 7, "vga sequencer masks", "%sindex %02x", got, sri);

    ok = true;
    got[0] = 0;
    for (unsigned i = 0; i < 16; i++) {
        gr_w(s, i, 0xff);
        uint8_t v = gr_r(s, i);
        if (v != (i < 9 ? gr_mask[i] : 0)) {
            ok = false;
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "GR%u=%02x ", i, v);
        }
        gr_w(s, i, 0);
    }
    qtest_outb(s, 0x3ce, 0xff);
    uint8_t gri = qtest_inb(s, 0x3ce);
    CHECK(t, ok && gri == 0x0f, "vga graphics controller masks", "%sindex %02x", got, gri);
}

static void test_misc_crtc(const QTarget *t, QTestState *s)
{
    qtest_outb(s, 0x3c2, 0xff);
    uint8_t m = qtest_inb(s, 0x3cc);
    qtest_outb(s, 0x3c2, 0x67);
    uint8_t m2 = qtest_inb(s, 0x3cc);
    CHECK(t, m == 0xef && m2 == 0x67, "vga misc output", "wrote ff read %02x, 67 read %02x", m,
          m2);

    /* Colour mode: the mono CRTC ports do not answer. */
    uint8_t mono = qtest_inb(s, 0x3b5);
    cr_w(s, 0x20, 0xa5);
    cr_w(s, 0x13, 0x50);
    uint8_t c20 = cr_r(s, 0x20), c13 = cr_r(s, 0x13);
    CHECK(t, mono == 0xff && c20 == 0xa5 && c13 == 0x50, "vga crtc read back",
          "3b5 %02x CR20 %02x CR13 %02x", mono, c20, c13);

    /* CR11 bit 7 protects CR0-7 except CR7 bit 4. */
    cr_w(s, 0x00, 0x5f);
    cr_w(s, 0x07, 0x00);
    cr_w(s, 0x11, 0x80);
    cr_w(s, 0x00, 0x12);
    cr_w(s, 0x07, 0xff);
    uint8_t c0 = cr_r(s, 0x00), c7 = cr_r(s, 0x07);
    cr_w(s, 0x11, 0x00);
    cr_w(s, 0x00, 0x12);
    uint8_t c0b = cr_r(s, 0x00);
    CHECK(t, c0 == 0x5f && c7 == 0x10 && c0b == 0x12, "vga crtc cr0-7 write protect",
          "CR0 %02x CR7 %02x, unlocked CR0 %02x", c0, c7, c0b);

    qtest_outb(s, 0x3da, 0xff);
    uint8_t fc = qtest_inb(s, 0x3ca);
    qtest_outb(s, 0x3da, 0);
    CHECK(t, fc == 0x10, "vga feature control", "wrote ff read %02x", fc);

    uint8_t a = qtest_inb(s, 0x3da), b = qtest_inb(s, 0x3da);
    CHECK(t, ((a ^ b) & 0x09) == 0x09, "vga input status 1 toggles retrace",
          "reads %02x then %02x", a, b);
}

static void test_attr(const QTarget *t, QTestState *s)
{
    static const struct { uint8_t idx, want; } cases[] = {
        { 0x00, 0x3f }, { 0x0f, 0x3f }, { 0x10, 0xef }, { 0x11, 0xff },
        { 0x12, 0x3f }, { 0x13, 0x0f }, { 0x14, 0x0f },
    };
    char got[160] = "";
    bool ok = true;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ar_w(s, cases[i].idx, 0xff);
        uint8_t v = ar_r(s, cases[i].idx);
        if (v != cases[i].want) {
            ok = false;
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "AR%02x=%02x ", cases[i].idx,
                     v);
        }
    }
    uint8_t hi = ar_r(s, 0x15);
    CHECK(t, ok && hi == 0, "vga attribute controller masks", "%sAR15=%02x", got, hi);

    /* Flip-flop: index, data, index...; reading 3c0 gives the index only
     * in the index phase; input status 1 resets it to index. */
    qtest_inb(s, 0x3da);
    qtest_outb(s, 0x3c0, 0x21);             /* index 1, palette enabled (bit 5) */
    uint8_t in_data_phase = qtest_inb(s, 0x3c0);
    qtest_inb(s, 0x3da);                    /* back to index */
    qtest_outb(s, 0x3c0, 0x22);
    qtest_outb(s, 0x3c0, 0x15);             /* AR2 = 0x15 */
    uint8_t idx = qtest_inb(s, 0x3c0);
    uint8_t ar1 = ar_r(s, 1), ar2 = ar_r(s, 2);
    CHECK(t, in_data_phase == 0 && idx == 0x22 && ar2 == 0x15 && ar1 != 0x22,
          "vga attribute flip-flop", "data-phase 3c0 %02x, index %02x, AR1 %02x AR2 %02x",
          in_data_phase, idx, ar1, ar2);
}

/* Corners where QEMU is the only reference: recorded for the comparison. */
static void trace_corners(QTestState *s, Trace *tr)
{
    trace_add(tr, qtest_inb(s, 0x3c6));
    qtest_outb(s, 0x3c6, 0x0f);
    trace_add(tr, qtest_inb(s, 0x3c6));
    qtest_outb(s, 0x3c6, 0xff);
    qtest_outb(s, 0x3c8, 9);
    qtest_outb(s, 0x3c9, 0xff);
    qtest_outb(s, 0x3c9, 0x80);
    qtest_outb(s, 0x3c9, 0x40);
    qtest_outb(s, 0x3c7, 9);
    for (int i = 0; i < 3; i++)
        trace_add(tr, qtest_inb(s, 0x3c9));
    qtest_outw(s, 0x1ce, 3);
    trace_add(tr, qtest_inb(s, 0x1ce));
    trace_add(tr, qtest_inb(s, 0x1cf));
    trace_add(tr, qtest_inb(s, 0x3c3));
    trace_add(tr, qtest_inb(s, 0x3b0));
    trace_add(tr, qtest_inb(s, 0x3df));
    uint16_t w = qtest_inw(s, 0x3c4);
    trace_add(tr, w & 0xff);
    trace_add(tr, w >> 8);
    uint16_t d = qtest_inw(s, 0x1d0);
    trace_add(tr, d & 0xff);
    uint32_t l = qtest_inl(s, 0x1ce);
    trace_add(tr, l & 0xff);
    trace_add(tr, l >> 24);
}

static void test_dac(const QTarget *t, QTestState *s)
{
    static const uint8_t rgb[6] = { 0x3f, 0x20, 0x01, 0x00, 0x15, 0x2a };
    qtest_outb(s, 0x3c8, 5);
    uint8_t st_w = qtest_inb(s, 0x3c7);
    for (int i = 0; i < 6; i++)
        qtest_outb(s, 0x3c9, rgb[i]);
    uint8_t wi = qtest_inb(s, 0x3c8);
    qtest_outb(s, 0x3c7, 5);
    uint8_t st_r = qtest_inb(s, 0x3c7);
    uint8_t back[6];
    for (int i = 0; i < 6; i++)
        back[i] = qtest_inb(s, 0x3c9);
    CHECK(t, !memcmp(back, rgb, 6) && wi == 7 && st_w == 0 && st_r == 3,
          "vga dac auto-increment",
          "read %02x %02x %02x %02x %02x %02x, write index %u, state %u/%u", back[0], back[1],
          back[2], back[3], back[4], back[5], wi, st_w, st_r);

    /* Entry 255 then wrap to 0. */
    qtest_outb(s, 0x3c8, 255);
    for (int i = 0; i < 6; i++)
        qtest_outb(s, 0x3c9, 0x10 + i);
    qtest_outb(s, 0x3c7, 0);
    uint8_t e0 = qtest_inb(s, 0x3c9);
    CHECK(t, e0 == 0x13 && qtest_inb(s, 0x3c8) == 1, "vga dac index wraps", "entry 0 red %02x",
          e0);
}

/* ---- planar memory ---- */

static void planar_mode(QTestState *s)
{
    qtest_outb(s, 0x3c2, 0x67);
    sr_w(s, 2, 0x0f);
    sr_w(s, 4, 0x06);           /* no chain-4, odd/even off */
    gr_w(s, 0, 0);
    gr_w(s, 1, 0);
    gr_w(s, 3, 0);
    gr_w(s, 5, 0x00);           /* write mode 0, read mode 0 */
    gr_w(s, 6, 0x05);           /* graphics, 64K at a0000 */
    gr_w(s, 8, 0xff);
}

static uint8_t plane_read(QTestState *s, uint64_t off, unsigned plane)
{
    gr_w(s, 4, plane);
    return qtest_readb(s, WIN + off);
}

static void trace_planes(QTestState *s, Trace *tr, uint64_t off)
{
    for (unsigned p = 0; p < 4; p++)
        trace_add(tr, plane_read(s, off, p));
}

static void test_planar(const QTarget *t, QTestState *s, Trace *tr)
{
    planar_mode(s);
    /* Mode 0, set/reset on planes 0 and 2 (colour 1): plane 0 = ff, 2 = 00,
     * planes 1 and 3 take the data byte. */
    gr_w(s, 1, 0x05);
    gr_w(s, 0, 0x01);
    qtest_writeb(s, WIN + 0, 0xa5);
    uint8_t p[4];
    for (unsigned i = 0; i < 4; i++)
        p[i] = plane_read(s, 0, i);
    CHECK(t, p[0] == 0xff && p[1] == 0xa5 && p[2] == 0x00 && p[3] == 0xa5,
          "vga write mode 0 set/reset", "planes %02x %02x %02x %02x", p[0], p[1], p[2], p[3]);
    trace_planes(s, tr, 0);

    /* Rotate 3 and OR with the latches, bit mask 0xf0. */
    gr_w(s, 1, 0);
    gr_w(s, 3, (2 << 3) | 3);
    gr_w(s, 8, 0xf0);
    qtest_readb(s, WIN + 0);    /* load latches */
    qtest_writeb(s, WIN + 1, 0x0f);
    trace_planes(s, tr, 1);
    /* XOR, AND */
    gr_w(s, 3, 3 << 3);
    gr_w(s, 8, 0xff);
    qtest_readb(s, WIN + 0);
    qtest_writeb(s, WIN + 2, 0x3c);
    trace_planes(s, tr, 2);
    gr_w(s, 3, 1 << 3);
    qtest_readb(s, WIN + 0);
    qtest_writeb(s, WIN + 3, 0x3c);
    trace_planes(s, tr, 3);
    gr_w(s, 3, 0);

    /* Mode 1: latches copied. */
    gr_w(s, 5, 0x01);
    qtest_readb(s, WIN + 0);
    qtest_writeb(s, WIN + 4, 0x00);
    gr_w(s, 5, 0x00);
    for (unsigned i = 0; i < 4; i++)
        p[i] = plane_read(s, 4, i);
    CHECK(t, p[0] == 0xff && p[1] == 0xa5 && p[2] == 0x00 && p[3] == 0xa5,
          "vga write mode 1 copies latches", "planes %02x %02x %02x %02x", p[0], p[1], p[2],
          p[3]);
    trace_planes(s, tr, 4);

    /* Mode 2: colour 0xa from the data, bit mask 0x0f keeps latch bits. */
    gr_w(s, 5, 0x02);
    gr_w(s, 8, 0x0f);
    qtest_readb(s, WIN + 0);
    qtest_writeb(s, WIN + 5, 0x0a);
    gr_w(s, 5, 0x00);
    for (unsigned i = 0; i < 4; i++)
        p[i] = plane_read(s, 5, i);
    CHECK(t, p[0] == 0xf0 && p[1] == 0xaf && p[2] == 0x00 && p[3] == 0xaf,
          "vga write mode 2", "planes %02x %02x %02x %02x", p[0], p[1], p[2], p[3]);
    trace_planes(s, tr, 5);

    /* Mode 3: colour GR0 = 0xc, mask = rotated data & GR8. */
    gr_w(s, 5, 0x03);
    gr_w(s, 0, 0x0c);
    gr_w(s, 8, 0xf0);
    qtest_readb(s, WIN + 0);
    qtest_writeb(s, WIN + 6, 0x3c);
    gr_w(s, 5, 0x00);
    trace_planes(s, tr, 6);
    gr_w(s, 0, 0);
    gr_w(s, 8, 0xff);

    /* Plane write enable: only planes 1 and 2. */
    sr_w(s, 2, 0x06);
    qtest_writeb(s, WIN + 7, 0x77);
    sr_w(s, 2, 0x0f);
    for (unsigned i = 0; i < 4; i++)
        p[i] = plane_read(s, 7, i);
    CHECK(t, p[0] == 0 && p[1] == 0x77 && p[2] == 0x77 && p[3] == 0,
          "vga plane write enable", "planes %02x %02x %02x %02x", p[0], p[1], p[2], p[3]);

    /* Read mode 1: compare colour 5 on all planes at offset 0 (ff a5 00 a5). */
    gr_w(s, 5, 0x08);
    gr_w(s, 2, 0x0b);
    gr_w(s, 7, 0x0f);
    uint8_t cmp = qtest_readb(s, WIN + 0);
    gr_w(s, 7, 0x01);
    uint8_t cmp1 = qtest_readb(s, WIN + 0);
    gr_w(s, 5, 0x00);
    CHECK(t, cmp == 0xa5 && cmp1 == 0xff, "vga read mode 1 color compare",
          "all planes %02x, plane 0 only %02x", cmp, cmp1);
    trace_add(tr, cmp);
    trace_add(tr, cmp1);

    /* Memory map 2 (b0000, 32K): a0000 does not decode. */
    gr_w(s, 6, 0x09);
    uint8_t off_map = qtest_readb(s, WIN + 0);
    qtest_writeb(s, 0xb0000, 0x5a);
    gr_w(s, 6, 0x05);
    uint8_t at0 = plane_read(s, 0, 0);
    CHECK(t, off_map == 0xff && at0 == 0x5a, "vga memory map select",
          "a0000 in map 2 reads %02x; b0000 wrote plane 0 offset 0: %02x", off_map, at0);
}

static void test_chain4_oddeven(const QTarget *t, QOSState *qs, QPCIDevice *d, Trace *tr)
{
    QTestState *s = qs->s;
    uint64_t lfb = d->bars[0].addr;
    /* Chain-4 (mode 13h): window byte i is vram byte i. */
    sr_w(s, 4, 0x0e);
    gr_w(s, 5, 0x40);
    gr_w(s, 6, 0x05);
    for (unsigned i = 0; i < 8; i++)
        qtest_writeb(s, WIN + 0x100 + i, 0x10 + i);
    uint8_t fb[8], win[8];
    qtest_memread(s, lfb + 0x100, fb, 8);
    for (unsigned i = 0; i < 8; i++)
        win[i] = qtest_readb(s, WIN + 0x100 + i);
    bool ok = true;
    for (unsigned i = 0; i < 8; i++)
        ok &= fb[i] == 0x10 + i && win[i] == 0x10 + i;
    CHECK(t, ok, "vga chain-4 window = framebuffer bytes", "lfb %02x %02x .. win %02x %02x",
          fb[0], fb[1], win[0], win[1]);

    /* Odd/even text mapping at b8000: char in plane 0, attribute in 1. */
    sr_w(s, 4, 0x02);
    gr_w(s, 5, 0x10);
    gr_w(s, 6, 0x0e);
    gr_w(s, 4, 0);
    qtest_writeb(s, 0xb8000, 'A');
    qtest_writeb(s, 0xb8001, 0x1e);
    qtest_writeb(s, 0xb8002, 'B');
    uint8_t v[12];
    qtest_memread(s, lfb, v, 8);
    uint8_t rb = qtest_readb(s, 0xb8002);
    CHECK(t, v[0] == 'A' && v[1] == 0x1e && v[4] == 'B' && rb == 'B',
          "vga odd/even text mapping", "vram %02x %02x %02x %02x %02x, read %02x", v[0], v[1],
          v[2], v[3], v[4], rb);
    for (unsigned i = 0; i < 8; i++)
        trace_add(tr, v[i]);
    qtest_memread(s, lfb, v, 12);
    for (unsigned i = 0; i < 12; i++)
        trace_add(tr, v[i]);
}

/* ---- Bochs VBE ---- */

static void test_vbe_ids(const QTarget *t, QTestState *s)
{
    uint16_t id = vbe_r(s, 0);
    vbe_w(s, 0, 0xb0c0);
    uint16_t id0 = vbe_r(s, 0);
    vbe_w(s, 0, 0x1234);
    uint16_t id1 = vbe_r(s, 0);
    vbe_w(s, 0, 0xb0c5);
    CHECK(t, id == 0xb0c5 && id0 == 0xb0c0 && id1 == 0xb0c0, "vbe dispi id",
          "initial %04x, after b0c0 %04x, after 1234 %04x", id, id0, id1);

    vbe_w(s, 4, 0x02);          /* GETCAPS */
    uint16_t mx = vbe_r(s, 1), my = vbe_r(s, 2), mb = vbe_r(s, 3);
    vbe_w(s, 4, 0);
    uint16_t mem = vbe_r(s, 0xa);
    CHECK(t, mx == 16000 && my == 12000 && mb == 32 && mem == 256, "vbe getcaps and memory",
          "max %ux%ux%u, %u x 64K", mx, my, mb, mem);
}

static void test_vbe_mode(const QTarget *t, QOSState *qs, QPCIDevice *d)
{
    QTestState *s = qs->s;
    uint64_t lfb = d->bars[0].addr, mmio = d->bars[2].addr;
    vbe_w(s, 4, 0);
    vbe_w(s, 1, 1024);
    vbe_w(s, 2, 768);
    vbe_w(s, 3, 32);
    vbe_w(s, 4, 0x41);          /* enabled, LFB */
    uint16_t x = vbe_r(s, 1), y = vbe_r(s, 2), b = vbe_r(s, 3);
    uint16_t vw = vbe_r(s, 6), vh = vbe_r(s, 7), en = vbe_r(s, 4);
    uint8_t gr6 = gr_r(s, 6);
    CHECK(t, x == 1024 && y == 768 && b == 32 && vw == 1024 && vh == 4096 && en == 0x41,
          "vbe set 1024x768x32", "%ux%ux%u virt %ux%u enable %04x", x, y, b, vw, vh, en);
    CHECK(t, (gr6 & 0x0d) == 0x05, "vbe puts the vga in graphics mode", "GR6 %02x", gr6);

    /* LFB write, read back through the banked window. */
    uint64_t near = 4ull * (10 * 1024 + 20), far = 4ull * (100 * 1024 + 20);
    qtest_writel(s, lfb + near, 0x00ff8000);
    qtest_writel(s, lfb + far, 0x00123456);
    uint32_t w0 = qtest_readl(s, WIN + near);
    vbe_w(s, 5, far >> 16);
    uint32_t w1 = qtest_readl(s, WIN + (far & 0xffff));
    qtest_writel(s, WIN + (far & 0xffff) + 4, 0xcafe0001);
    uint32_t l1 = qtest_readl(s, lfb + far + 4);
    CHECK(t, w0 == 0x00ff8000 && w1 == 0x00123456 && l1 == 0xcafe0001,
          "vbe lfb and banked window agree", "bank0 %08x bank%u %08x window->lfb %08x", w0,
          (unsigned)(far >> 16), w1, l1);

    /* The same registers through BAR2. */
    uint16_t mx = qtest_readw(s, mmio + 0x500 + 2 * 1);
    uint16_t mbank = qtest_readw(s, mmio + 0x500 + 2 * 5);
    qtest_writew(s, mmio + 0x500 + 2 * 5, 0);
    uint32_t w0b = qtest_readl(s, WIN + near);
    uint8_t msr = qtest_readb(s, mmio + 0x400 + 0x0c);
    uint32_t qsz = qtest_readl(s, mmio + 0x600), qbo = qtest_readl(s, mmio + 0x604);
    CHECK(t, mx == 1024 && mbank == (far >> 16) && w0b == 0x00ff8000 && msr == 0x67,
          "vga bar2 dispi and vga ports", "xres %u bank %u win %08x msr %02x", mx, mbank, w0b,
          msr);
    CHECK(t, qsz == 8 && qbo == 0x1e1e1e1e, "vga bar2 qemu extended regs",
          "size %08x byteorder %08x", qsz, qbo);

    /* Virtual width and panning. */
    vbe_w(s, 6, 2048);
    vbe_w(s, 8, 16);
    vbe_w(s, 9, 8);
    uint16_t vw2 = vbe_r(s, 6), vh2 = vbe_r(s, 7), xo = vbe_r(s, 8), yo = vbe_r(s, 9);
    CHECK(t, vw2 == 2048 && vh2 == 2048 && xo == 16 && yo == 8, "vbe virtual size and offsets",
          "virt %ux%u offset %u,%u", vw2, vh2, xo, yo);
}

static void test_vbe_hostile(const QTarget *t, QOSState *qs)
{
    QTestState *s = qs->s;
    vbe_w(s, 1, 0xffff);
    vbe_w(s, 2, 0xffff);
    vbe_w(s, 3, 17);
    vbe_w(s, 8, 0xffff);
    vbe_w(s, 9, 0xffff);
    vbe_w(s, 5, 0xffff);
    uint16_t x = vbe_r(s, 1), y = vbe_r(s, 2), b = vbe_r(s, 3), bank = vbe_r(s, 5);
    uint16_t xo = vbe_r(s, 8), yo = vbe_r(s, 9);
    uint32_t w = qtest_readl(s, WIN + 0xfffc);
    qtest_writel(s, WIN + 0xfffc, 0x11223344);
    CHECK(t, x == 16000 && b == 8 && y == 262 && bank == 255 && xo == 16000 && yo == 0,
          "vbe hostile mode clamped", "%ux%ux%u bank %u offsets %u,%u (window %08x)", x, y, b,
          bank, xo, yo, w);
    vbe_w(s, 0x7fff, 0x1234);
    uint16_t junk = vbe_r(s, 0x7fff);
    vbe_w(s, 4, 0);
    CHECK(t, junk == 0 && !qtest_broken(s), "vbe hostile index",
          "index 7fff reads %04x; %s", junk, qtest_broken(s) ? qtest_broken(s) : "alive");
}

static void run(const QTarget *t)
{
    QOSState qs;
    QPCIDevice d;
    Trace *tr = &traces[t->is_qemu ? 1 : 0];
    if (!qos_start(&qs, t, "vga start", "-vga std"))
        return;
    int slot = qpci_find_slot(&qs.bus, VGA_VENDOR, VGA_DEVICE, 0);
    if (!CHECK(t, slot == 2 && qpci_device_init(&d, &qs.bus, slot, 0), "vga at 00:02.0",
               "slot %d", slot)) {
        qos_quit(&qs);
        return;
    }
    test_pci(t, &d);
    qpci_device_enable(&d);
    test_seq_gr(t, qs.s);
    test_misc_crtc(t, qs.s);
    test_attr(t, qs.s);
    test_dac(t, qs.s);
    trace_corners(qs.s, tr);
    test_planar(t, qs.s, tr);
    test_chain4_oddeven(t, &qs, &d, tr);
    test_vbe_ids(t, qs.s);
    test_vbe_mode(t, &qs, &d);
    test_vbe_hostile(t, &qs);
    tr->done = true;
    CHECK(t, !qtest_broken(qs.s), "vga connection", "%s", qtest_broken(qs.s));
    qos_quit(&qs);

    if (!qos_start(&qs, t, "vga vgamem_mb=64", "-vga none -device VGA,vgamem_mb=64"))
        return;
    slot = qpci_find_slot(&qs.bus, VGA_VENDOR, VGA_DEVICE, 0);
    if (slot >= 0 && qpci_device_init(&d, &qs.bus, slot, 0)) {
        uint64_t sz = qpci_bar_probe(&d, 0);
        uint16_t mem = vbe_r(qs.s, 0xa);
        CHECK(t, sz == 64u << 20 && mem == 1024, "vga vgamem_mb=64", "bar0 %#llx, %u x 64K",
              (unsigned long long)sz, mem);
    } else {
        CHECK(t, false, "vga vgamem_mb=64", "no VGA found (slot %d)", slot);
    }
    qos_quit(&qs);
}

/* vmm's own errors: one line, non-zero exit. */
static int test_errors(const char *vmm)
{
    int fails = 0;
    static const struct { const char *args, *want, *name; } cases[] = {
        { "-vga none -device VGA,vgamem_mb=3", "vgamem_mb", "vga bad vgamem_mb" },
        { "-vga none -device VGA,vgamem_mb=512", "vgamem_mb", "vga vgamem_mb too big" },
        { "-vga std -device VGA", "only one VGA", "vga second device refused" },
        { "-vga none -device VGA,romfile=/nonexistent.bin", "romfile", "vga missing romfile" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[512], line[256] = "";
        snprintf(cmd, sizeof(cmd),
                 "timeout 10 '%s' -accel qtest -qtest stdio -m 128M -display none %s "
                 "</dev/null 2>&1",
                 vmm, cases[i].args);
        FILE *p = popen(cmd, "r");
        unsigned lines = 0;
        bool found = false;
        while (p && fgets(line, sizeof(line), p)) {
            lines++;
            found |= strstr(line, cases[i].want) && !strncmp(line, "vmm: ", 5);
        }
        int st = p ? pclose(p) : -1;
        bool failed = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0 &&
                      WEXITSTATUS(st) != 124;
        if (found && lines == 1 && failed) {
            printf("ok - %s [vmm]\n", cases[i].name);
        } else {
            fails++;
            printf("not ok - %s [vmm]: %u lines, status %d, last: %s\n", cases[i].name, lines,
                   st, line);
        }
        fflush(stdout);
    }
    return fails;
}

int main(void)
{
    int rc = qtest_run_targets(run);
    const char *vmm = getenv("VMM");
    const char *only = getenv("QTEST_TARGET");
    if (!only || !strcmp(only, "vmm"))
        rc |= test_errors(vmm && *vmm ? vmm : "build/vmm") != 0;
    if (traces[0].done && traces[1].done) {
        bool same = traces[0].n == traces[1].n && !memcmp(traces[0].b, traces[1].b, traces[0].n);
        unsigned at = 0;
        while (at < traces[0].n && at < traces[1].n && traces[0].b[at] == traces[1].b[at])
            at++;
        if (same)
            printf("ok - vga planar/chain-4/odd-even bytes identical on vmm and qemu\n");
        else
            printf("not ok - vga planar/chain-4/odd-even bytes identical on vmm and qemu: "
                   "first difference at %u (%u vs %u bytes)\n", at, traces[0].n, traces[1].n);
        rc |= !same;
    } else {
        printf("ok - vga vmm/qemu byte comparison # SKIP one target did not run\n");
    }
    return rc;
}
