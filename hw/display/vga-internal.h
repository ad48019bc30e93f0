/*
 * The standard VGA's state, shared by the register/memory model
 * (hw/display/vga.c), the renderer (hw/display/vga-render.c) and the PCI
 * wrapper (hw/display/vga-pci.c).  Register names follow the VGA
 * programming references (IBM VGA Technical Reference; FreeVGA): sequencer
 * (SR), graphics controller (GR), CRT controller (CR), attribute controller
 * (AR), DAC.  Bochs VBE DISPI registers follow Bochs' vbe.h numbering.
 */
#ifndef VMM_VGA_INTERNAL_H
#define VMM_VGA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "hw.h"
#include "pci.h"

#define VGA_DEFAULT_VRAM_MB 16
#define VGA_MIN_VRAM_MB 1
#define VGA_MAX_VRAM_MB 256

/* Bochs VBE DISPI (ports 0x1ce index / 0x1cf data, and BAR2 + 0x500). */
#define VBE_DISPI_INDEX_ID 0x0
#define VBE_DISPI_INDEX_XRES 0x1
#define VBE_DISPI_INDEX_YRES 0x2
#define VBE_DISPI_INDEX_BPP 0x3
#define VBE_DISPI_INDEX_ENABLE 0x4
#define VBE_DISPI_INDEX_BANK 0x5
#define VBE_DISPI_INDEX_VIRT_WIDTH 0x6
#define VBE_DISPI_INDEX_VIRT_HEIGHT 0x7
#define VBE_DISPI_INDEX_X_OFFSET 0x8
#define VBE_DISPI_INDEX_Y_OFFSET 0x9
#define VBE_DISPI_INDEX_VIDEO_MEMORY_64K 0xa
#define VBE_DISPI_INDEX_NB 0xb
#define VBE_DISPI_ENABLED 0x01
#define VBE_DISPI_GETCAPS 0x02
#define VBE_DISPI_8BIT_DAC 0x20
#define VBE_DISPI_LFB_ENABLED 0x40
#define VBE_DISPI_NOCLEARMEM 0x80
#define VBE_DISPI_MAX_XRES 16000
#define VBE_DISPI_MAX_YRES 12000

typedef struct VGAState {
    /* Video memory: 4 planes interleaved as in chain-4 (byte i of plane p
     * at vram[i * 4 + p]), the same bytes the linear framebuffer shows. */
    uint8_t *vram;
    uint32_t vram_size;         /* bytes, a power of two */
    int vram_block;             /* its guest RAM block (include/hw.h) */

    /* Registers. */
    uint8_t misc_output;
    uint8_t feature_ctrl;
    uint8_t sr_index, sr[8];
    /* While VBE is enabled the sequencer the hardware obeys is this copy of
     * sr[] with chain-4/all-planes forced (QEMU's CVE-2016-3712 design: the
     * guest may still rewrite sr[] without breaking the VBE mode).  Readers
     * (the renderer too) use vga_sr(). */
    uint8_t sr_vbe[8];
    uint8_t gr_index, gr[16];
    uint8_t cr_index, cr[256];
    uint8_t ar_index, ar[21];
    bool ar_flip_flop;          /* false: next 0x3c0 write is the index */
    uint8_t dac_state;          /* 0 = last access was a read, 3 = a write */
    uint8_t dac_sub_index;      /* 0..2: R, G, B */
    uint8_t dac_read_index, dac_write_index;
    uint8_t dac_cache[3];
    /* RGB as written (whole bytes, as QEMU keeps them): with VBE_DISPI_8BIT_DAC
     * 8-bit components, else only the low 6 bits count (scale them up). */
    uint8_t palette[768];
    uint8_t pel_mask;           /* 0x3c6: ignored as by QEMU (reads 0); always 0xff */
    uint8_t st01;               /* input status 1 (retrace toggling) */
    uint32_t latch;             /* the four plane latches */

    /* Bochs VBE. */
    uint16_t vbe_index;
    uint16_t vbe_regs[VBE_DISPI_INDEX_NB];
    uint32_t vbe_start_addr;    /* bytes into vram of the visible start */
    uint32_t vbe_line_offset;   /* bytes per line */
    uint32_t vbe_bank_mask;
    uint32_t bank_offset;       /* bytes: the 64K window's start in vram (BANK << 16) */

    /* Renderer state (vga-render.c). */
    bool full_update;           /* redraw everything at the next refresh */
    int last_width, last_height, last_depth;
    int last_cw, last_ch;       /* text cell size */
    int last_cols, last_rows;
    uint32_t last_cursor_offset;
    uint8_t last_cursor_start, last_cursor_end;
    uint8_t *text_shadow;       /* last rendered text cells (char+attr), cols*rows*2 */
    uint32_t text_shadow_size;
    int64_t blink_next_ns;      /* realtime of the next blink phase change */
    bool blink_on;
    uint32_t palette_rgb[256];  /* x8r8g8b8 for each DAC entry, from palette */
    bool palette_dirty;
    /* Everything but memory and palette that decides what a refresh draws;
     * any change forces a full redraw (vga-render.c fills it). */
    uint32_t render_params[24];
    bool render_params_valid;
    bool cursor_phase;          /* cursor shown in the current blink phase */
    int64_t char_blink_next_ns; /* attribute blink (AR10 bit 3) phase change */
    uint8_t font_shadow[2][256 * 32];   /* the two fonts as last drawn */
    uint8_t *page_state;        /* per refresh: 0 unknown, 1 clean, 2 dirty vram page */

    PCIDevice pci;
    bool vga_window_mapped;     /* 0xa0000-0xbffff registered */
} VGAState;

/* vga.c: registers and memory. */
/* Set up registers, vram (vram_mb, as vgamem_mb=) and its RAM block, the
 * legacy ports and window, the VBE ports.  -1 with a message. */
int vga_common_init(VGAState *s, unsigned vram_mb);
void vga_common_reset(VGAState *s);
uint32_t vga_ioport_read(VGAState *s, uint32_t port);           /* 0x3b0-0x3df */
void vga_ioport_write(VGAState *s, uint32_t port, uint32_t val);
uint32_t vbe_read(VGAState *s, unsigned index);                 /* DISPI register */
void vbe_write(VGAState *s, unsigned index, uint32_t val);
/* Legacy window access (offset from 0xa0000), as the planes and GR say;
 * writes mark the vram pages they touch dirty (ram_block_mark_dirty). */
uint8_t vga_mem_readb(VGAState *s, uint32_t addr);
void vga_mem_writeb(VGAState *s, uint32_t addr, uint8_t val);
bool vga_vbe_enabled(const VGAState *s);
/* The sequencer register the hardware uses now (sr_vbe while VBE is on). */
static inline uint8_t vga_sr(const VGAState *s, unsigned i)
{
    return (s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED) ? s->sr_vbe[i & 7]
                                                                     : s->sr[i & 7];
}
/* The VGA's single instance (NULL before vga_pci_new): for the monitor and tests. */
extern VGAState *vga_state;

/* vga-render.c: the display device (include/ui.h DisplayDevOps). */
void vga_render_init(VGAState *s);      /* registers with the display */
void vga_render_invalidate(VGAState *s);

/* Migration: the whole device (registers, VBE, and the PCI function). */
extern const struct VMStateDescription vmstate_vga;

#endif
