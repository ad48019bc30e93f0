/*
 * RAM precopy.  Every guest RAM block not marked RAM_NO_MIGRATE is tracked
 * by the DIRTY_CLIENT_MIGRATION bitmaps (include/hw.h); a pass sends each
 * page whose bit is set, clearing the bit BEFORE reading the page, so a
 * guest write racing with the copy dirties it again for the next pass.
 *
 * Page records (big-endian):
 *   be64  page offset in its block | flags (low 12 bits)
 *   [be16 block index]          with RAM_FLAG_BLOCK: the stream's block list
 *                               (migration header order) switches block
 *   then by flag: ZERO nothing; RAW 4096 bytes; COMPRESSED be16 n, n bytes
 *   of one zlib stream inflating to exactly 4096 bytes.
 * A pass ends with a record of flag EOS.
 *
 * The hot path allocates nothing: one deflate and one inflate stream are
 * kept and reset per page, the compressed page goes through a static
 * buffer, raw pages are read straight into guest memory.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hw.h"
#include "migration.h"
#include "util.h"
#include "vmstate.h"

#define RAM_FLAG_ZERO 0x01u
#define RAM_FLAG_RAW 0x02u
#define RAM_FLAG_COMPRESSED 0x04u
#define RAM_FLAG_BLOCK 0x08u
#define RAM_FLAG_EOS 0x10u
#define RAM_FLAG_MASK 0xfffu
#define PAGE RAM_PAGE_SIZE
#define ZBUF_SIZE 8192      /* > compressBound(4096) */

static struct {
    bool active;
    unsigned next_block;    /* resume point of a pass cut short by max_bytes */
    uint64_t next_off;
    int guest_block;        /* block of the last record sent in this pass */
    z_stream zs;
    int zlevel;             /* level zs was made with, -1: none yet */
} save = { .zlevel = -1 };

static struct {
    z_stream zs;
    bool init;
} load;

/* One buffer per direction: a process may save and load at once (tests). */
static uint8_t save_zbuf[ZBUF_SIZE], load_zbuf[ZBUF_SIZE];

bool ram_block_migratable(unsigned i)
{
    const RamBlock *rb = guest_ram_block(i);
    return rb && !(rb->flags & RAM_NO_MIGRATE) && rb->size;
}

/* The stream's index of guest block i: its place among migratable ones. */
static unsigned stream_index(unsigned i)
{
    unsigned n = 0;
    for (unsigned j = 0; j < i; j++)
        n += ram_block_migratable(j);
    return n;
}

int ram_save_setup(void)
{
    for (unsigned i = 0; i < guest_ram_count(); i++) {
        if (!ram_block_migratable(i))
            continue;
        if (ram_dirty_start(i, DIRTY_CLIENT_MIGRATION) < 0) {
            ram_save_cleanup();
            return -1;
        }
        ram_dirty_set_all(i, DIRTY_CLIENT_MIGRATION);
    }
    save.active = true;
    save.next_block = 0;
    save.next_off = 0;
    return 0;
}

void ram_save_cleanup(void)
{
    for (unsigned i = 0; i < guest_ram_count(); i++) {
        if (ram_dirty_tracking(i, DIRTY_CLIENT_MIGRATION))
            ram_dirty_stop(i, DIRTY_CLIENT_MIGRATION);
    }
    if (save.zlevel >= 0)
        deflateEnd(&save.zs);
    save.zlevel = -1;
    save.active = false;
}

uint64_t ram_save_sync(void)
{
    for (unsigned i = 0; i < guest_ram_count(); i++) {
        if (ram_block_migratable(i))
            ram_dirty_sync(i);
    }
    return ram_save_remaining_pages();
}

uint64_t ram_save_remaining_pages(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < guest_ram_count(); i++) {
        if (ram_block_migratable(i))
            n += ram_dirty_count(i, DIRTY_CLIENT_MIGRATION);
    }
    return n;
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i < PAGE / 8; i += 4) {
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
            return false;
    }
    return true;
}

static void put_header(MigStream *s, unsigned block, uint64_t off, unsigned flags)
{
    bool new_block = (int)block != save.guest_block;
    mig_put_be64(s, off | flags | (new_block ? RAM_FLAG_BLOCK : 0));
    if (new_block) {
        mig_put_be16(s, (uint16_t)stream_index(block));
        save.guest_block = (int)block;
    }
}

/* Compress one page into save_zbuf; its length, or 0 when zlib gains nothing. */
static size_t compress_page(const uint8_t *page, int level)
{
    if (save.zlevel != level) {
        if (save.zlevel >= 0)
            deflateEnd(&save.zs);
        memset(&save.zs, 0, sizeof(save.zs));
        if (deflateInit(&save.zs, level) != Z_OK) {
            save.zlevel = -1;
            return 0;
        }
        save.zlevel = level;
    }
    deflateReset(&save.zs);
    save.zs.next_in = (Bytef *)page;
    save.zs.avail_in = PAGE;
    save.zs.next_out = save_zbuf;
    save.zs.avail_out = sizeof(save_zbuf);
    if (deflate(&save.zs, Z_FINISH) != Z_STREAM_END)
        return 0;
    return sizeof(save_zbuf) - save.zs.avail_out;
}

static void send_page(MigStream *s, unsigned block, uint64_t off, int level, RamSaveStats *st)
{
    const uint8_t *page = guest_ram_block(block)->host + off;
    if (page_is_zero(page)) {
        put_header(s, block, off, RAM_FLAG_ZERO);
        st->zero_pages++;
        return;
    }
    size_t clen = level >= 0 ? compress_page(page, level) : 0;
    if (clen && clen < PAGE) {
        put_header(s, block, off, RAM_FLAG_COMPRESSED);
        mig_put_be16(s, (uint16_t)clen);
        mig_put_buf(s, save_zbuf, clen);
        st->compressed_pages++;
    } else {
        put_header(s, block, off, RAM_FLAG_RAW);
        mig_put_buf(s, page, PAGE);
    }
    st->normal_pages++;
}

int ram_save_pass(MigStream *s, uint64_t max_bytes, int compress_level, RamSaveStats *st)
{
    uint64_t start = mig_stream_bytes(s);
    int done = 1;
    save.guest_block = -1;
    for (unsigned b = save.next_block; b < guest_ram_count() && done; b++) {
        if (!ram_block_migratable(b))
            continue;
        uint64_t size = guest_ram_block(b)->size;
        uint64_t off = b == save.next_block ? save.next_off : 0;
        for (; off < size; off += PAGE) {
            if (mig_stream_error(s))
                return -1;
            if (max_bytes && mig_stream_bytes(s) - start >= max_bytes) {
                save.next_block = b;
                save.next_off = off;
                done = 0;
                break;
            }
            if (ram_dirty_test_and_clear(b, DIRTY_CLIENT_MIGRATION, off, PAGE))
                send_page(s, b, off, compress_level, st);
        }
    }
    if (done) {
        save.next_block = 0;
        save.next_off = 0;
    }
    mig_put_be64(s, RAM_FLAG_EOS);
    st->bytes += mig_stream_bytes(s) - start;
    return mig_stream_error(s) ? -1 : done;
}

/* ---- receiving ---- */

static int load_compressed(MigStream *s, uint8_t *dst)
{
    uint16_t n = mig_get_be16(s);
    if (n == 0 || n > sizeof(load_zbuf))
        return mig_stream_set_error(s, "RAM: compressed page of %u bytes", n);
    if (mig_get_buf(s, load_zbuf, n) < 0)
        return -1;
    if (!load.init) {
        memset(&load.zs, 0, sizeof(load.zs));
        if (inflateInit(&load.zs) != Z_OK)
            return mig_stream_set_error(s, "RAM: zlib: out of memory");
        load.init = true;
    }
    inflateReset(&load.zs);
    load.zs.next_in = load_zbuf;
    load.zs.avail_in = n;
    load.zs.next_out = dst;
    load.zs.avail_out = PAGE;
    if (inflate(&load.zs, Z_FINISH) != Z_STREAM_END || load.zs.avail_out || load.zs.avail_in)
        return mig_stream_set_error(s, "RAM: corrupt compressed page");
    return 0;
}

static int load_page(MigStream *s, const RamLoadBlock *rb, uint64_t off, unsigned kind)
{
    uint8_t *dst = rb->host + off;
    switch (kind) {
    case RAM_FLAG_ZERO:
        /* Untouched destination memory is already zero: reading it does
         * not allocate, writing would. */
        if (!page_is_zero(dst))
            memset(dst, 0, PAGE);
        break;
    case RAM_FLAG_RAW:
        if (mig_get_buf(s, dst, PAGE) < 0)
            return -1;
        break;
    case RAM_FLAG_COMPRESSED:
        if (load_compressed(s, dst) < 0)
            return -1;
        break;
    default:
        return mig_stream_set_error(s, "RAM: bad page flags 0x%x", kind);
    }
    if (rb->local_idx >= 0)
        ram_block_mark_dirty((unsigned)rb->local_idx, off, PAGE);
    return 0;
}

int ram_load_pass(MigStream *s, const RamLoadBlock *blocks, unsigned nblocks)
{
    const RamLoadBlock *cur = NULL;
    for (;;) {
        uint64_t hdr = mig_get_be64(s);
        if (mig_stream_error(s))
            return -1;
        unsigned flags = hdr & RAM_FLAG_MASK;
        uint64_t off = hdr & ~(uint64_t)RAM_FLAG_MASK;
        if (flags == RAM_FLAG_EOS && off == 0)
            return 0;
        if (flags & RAM_FLAG_BLOCK) {
            uint16_t b = mig_get_be16(s);
            if (b >= nblocks)
                return mig_stream_set_error(s, "RAM: block %u of %u", b, nblocks);
            cur = &blocks[b];
            flags &= ~RAM_FLAG_BLOCK;
        }
        if (!cur)
            return mig_stream_set_error(s, "RAM: page before any block");
        if (off >= cur->size || cur->size - off < PAGE)
            return mig_stream_set_error(s, "RAM: page at 0x%llx beyond the block's 0x%llx",
                                        (unsigned long long)off,
                                        (unsigned long long)cur->size);
        if (load_page(s, cur, off, flags) < 0)
            return -1;
    }
}
