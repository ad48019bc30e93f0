/*
 * The PIO and MMIO address spaces and guest RAM access for devices.
 *
 * An AddressSpace is an array of regions sorted by base that never overlap,
 * so the region holding an address is found by binary search.  The access
 * path (as_read/as_write/phys_*) never allocates.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"
#include "util.h"

AddressSpace pio_space = { .name = "pio" };
AddressSpace mmio_space = { .name = "mmio" };

/* ---- region tables ---- */

/* Last byte of [base, base+len); len > 0 and the range must not wrap. */
static uint64_t region_last(const Region *r)
{
    return r->base + (r->len - 1);
}

/* Index of the first region whose base is > addr (0..n). */
static size_t first_above(const AddressSpace *as, uint64_t addr)
{
    size_t lo = 0, hi = as->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (as->regions[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const Region *as_find(const AddressSpace *as, uint64_t addr)
{
    size_t i = first_above(as, addr);
    if (i == 0)
        return NULL;
    const Region *r = &as->regions[i - 1];
    return addr - r->base < r->len ? r : NULL;
}

const Region *as_find_overlap(const AddressSpace *as, uint64_t base, uint64_t len)
{
    if (len == 0)
        return NULL;
    uint64_t last = base + (len - 1);
    if (last < base)
        last = UINT64_MAX;
    /* Candidate 1: the region starting at or below base that may reach it. */
    const Region *r = as_find(as, base);
    if (r)
        return r;
    /* Candidate 2: the first region starting above base. */
    size_t i = first_above(as, base);
    if (i < as->n && as->regions[i].base <= last)
        return &as->regions[i];
    return NULL;
}

int as_add(AddressSpace *as, uint64_t base, uint64_t len, const MemOps *ops,
           void *opaque, const char *name)
{
    if (len == 0 || base + (len - 1) < base) {
        error_report("%s: region '%s' at 0x%" PRIx64 " has an invalid length 0x%" PRIx64,
                     as->name, name, base, len);
        return -1;
    }
    const Region *o = as_find_overlap(as, base, len);
    if (o) {
        error_report("%s: region '%s' [0x%" PRIx64 "-0x%" PRIx64 "] overlaps '%s' "
                     "[0x%" PRIx64 "-0x%" PRIx64 "]", as->name, name, base,
                     base + (len - 1), o->name, o->base, region_last(o));
        return -1;
    }
    if (as->n == as->cap) {
        as->cap = as->cap ? as->cap * 2 : 16;
        as->regions = xrealloc(as->regions, as->cap * sizeof(Region));
    }
    size_t i = first_above(as, base);
    memmove(&as->regions[i + 1], &as->regions[i], (as->n - i) * sizeof(Region));
    as->regions[i] = (Region){ .base = base, .len = len, .ops = ops,
                               .opaque = opaque, .name = name };
    as->n++;
    return 0;
}

int as_del(AddressSpace *as, uint64_t base, void *opaque)
{
    size_t i = first_above(as, base);
    if (i == 0)
        return -1;
    Region *r = &as->regions[i - 1];
    if (r->base != base || r->opaque != opaque)
        return -1;
    i--;
    memmove(&as->regions[i], &as->regions[i + 1], (as->n - i - 1) * sizeof(Region));
    as->n--;
    return 0;
}

void as_reset(AddressSpace *as)
{
    free(as->regions);
    as->regions = NULL;
    as->n = as->cap = 0;
}

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (1ULL << (size * 8)) - 1;
}

static void log_unassigned(const AddressSpace *as, const char *dir, uint64_t addr,
                           unsigned size, uint64_t val)
{
    static struct ratelimit rl;
    if (!(log_mask_enabled & LOG_IOPORT) || !ratelimit_ok(&rl))
        return;
    log_msg(LOG_IOPORT, "%s: unassigned %s addr=0x%" PRIx64 " size=%u val=0x%" PRIx64,
            as->name, dir, addr, size, val);
}

/*
 * An access belongs to the region holding its first byte; bytes past that
 * region's end are not dispatched to any neighbour (the access is clipped),
 * and the device sees the original size at an offset relative to its base.
 */
bool as_read(AddressSpace *as, uint64_t addr, unsigned size, uint64_t *val)
{
    const Region *r = as_find(as, addr);
    if (!r || !r->ops || !r->ops->read) {
        *val = size_mask(size);
        log_unassigned(as, "read", addr, size, *val);
        return false;
    }
    *val = r->ops->read(r->opaque, addr - r->base, size) & size_mask(size);
    return true;
}

bool as_write(AddressSpace *as, uint64_t addr, unsigned size, uint64_t val)
{
    const Region *r = as_find(as, addr);
    if (!r || !r->ops) {
        log_unassigned(as, "write", addr, size, val);
        return false;
    }
    if (r->ops->write)
        r->ops->write(r->opaque, addr - r->base, size, val & size_mask(size));
    return true;
}

/* ---- guest RAM ---- */

#define MAX_RAM_BLOCKS 32
static RamBlock ram_blocks[MAX_RAM_BLOCKS];
static unsigned n_ram_blocks;
static const RamAccelBackend *ram_accel;
static uint64_t ram_size_given;     /* -m, set by the machine */

/* Dirty bitmaps: dirty[block][client], NULL while that client does not
 * track the block.  dirty_clients counts the non-NULL ones so that
 * ram_mark_dirty costs one load when nobody tracks anything. */
static uint64_t *dirty[MAX_RAM_BLOCKS][DIRTY_CLIENT_COUNT];
/* Per block while any client tracks it: where ram_dirty_sync receives the
 * accelerator's log (big lock held, so one user at a time). */
static uint64_t *sync_log[MAX_RAM_BLOCKS];
static unsigned dirty_clients;

static bool block_logging(unsigned idx)
{
    for (unsigned c = 0; c < DIRTY_CLIENT_COUNT; c++) {
        if (dirty[idx][c])
            return true;
    }
    return false;
}

static uint64_t block_pages(unsigned idx)
{
    return (ram_blocks[idx].size + RAM_PAGE_SIZE - 1) / RAM_PAGE_SIZE;
}

/* Bytes of a bitmap with one bit per page of block idx, in 64-bit words. */
static size_t bitmap_bytes(unsigned idx)
{
    return (block_pages(idx) + 63) / 64 * sizeof(uint64_t);
}

static int accel_map(unsigned idx)
{
    const RamBlock *rb = &ram_blocks[idx];
    if (!ram_accel || !rb->mapped)
        return 0;
    return ram_accel->map(ram_accel->opaque, idx, rb, block_logging(idx));
}

int guest_ram_register(const char *name, uint64_t gpa, uint64_t size, uint8_t *host,
                       unsigned flags)
{
    if (n_ram_blocks == MAX_RAM_BLOCKS) {
        error_report("guest RAM: too many blocks (at most %d)", MAX_RAM_BLOCKS);
        return -1;
    }
    unsigned idx = n_ram_blocks++;
    ram_blocks[idx] = (RamBlock){ .gpa = gpa == RAM_UNMAPPED ? 0 : gpa, .size = size,
                                  .host = host, .name = name, .flags = flags,
                                  .mapped = gpa != RAM_UNMAPPED };
    if (accel_map(idx) < 0) {
        n_ram_blocks--;
        return -1;
    }
    return (int)idx;
}

void guest_ram_add(uint64_t gpa, uint64_t size, uint8_t *host)
{
    guest_ram_register(NULL, gpa, size, host, 0);
}

int guest_ram_move(unsigned idx, uint64_t gpa)
{
    if (idx >= n_ram_blocks)
        return -1;
    RamBlock *rb = &ram_blocks[idx];
    if (rb->mapped && gpa == rb->gpa)
        return 0;
    if (rb->mapped && ram_accel)
        ram_accel->unmap(ram_accel->opaque, idx, rb);
    rb->mapped = gpa != RAM_UNMAPPED;
    if (rb->mapped)
        rb->gpa = gpa;
    for (unsigned c = 0; c < DIRTY_CLIENT_COUNT; c++) {
        if (dirty[idx][c])
            ram_dirty_set_all(idx, c);
    }
    if (accel_map(idx) < 0) {
        rb->mapped = false;
        return -1;
    }
    return 0;
}

void guest_ram_clear(void)
{
    ram_size_given = 0;
    for (unsigned i = 0; i < n_ram_blocks; i++) {
        for (unsigned c = 0; c < DIRTY_CLIENT_COUNT; c++)
            ram_dirty_stop(i, c);
    }
    n_ram_blocks = 0;
}

unsigned guest_ram_count(void)
{
    return n_ram_blocks;
}

const RamBlock *guest_ram_block(unsigned i)
{
    return i < n_ram_blocks ? &ram_blocks[i] : NULL;
}

int guest_ram_find(const char *name)
{
    for (unsigned i = 0; i < n_ram_blocks; i++) {
        if (ram_blocks[i].name && !strcmp(ram_blocks[i].name, name))
            return (int)i;
    }
    return -1;
}

void guest_ram_set_size(uint64_t bytes)
{
    ram_size_given = bytes;
}

uint64_t guest_ram_size(void)
{
    if (ram_size_given)
        return ram_size_given;
    uint64_t sum = 0;
    for (unsigned i = 0; i < n_ram_blocks; i++) {
        if (!(ram_blocks[i].flags & (RAM_DEVICE | RAM_READONLY)))
            sum += ram_blocks[i].size;
    }
    return sum;
}

int ram_set_accel_backend(const RamAccelBackend *b)
{
    ram_accel = b;
    for (unsigned i = 0; i < n_ram_blocks; i++) {
        if (accel_map(i) < 0)
            return -1;
    }
    return 0;
}

/* ---- dirty tracking ---- */

int ram_dirty_start(unsigned idx, DirtyClient c)
{
    if (idx >= n_ram_blocks || c >= DIRTY_CLIENT_COUNT)
        return -1;
    if (dirty[idx][c])
        return 0;
    bool was_logging = block_logging(idx);
    dirty[idx][c] = xzalloc(bitmap_bytes(idx));
    if (!was_logging)
        sync_log[idx] = xmalloc(bitmap_bytes(idx));
    __atomic_add_fetch(&dirty_clients, 1, __ATOMIC_SEQ_CST);
    if (!was_logging && accel_map(idx) < 0) {
        ram_dirty_stop(idx, c);
        error_report("guest RAM '%s': cannot start dirty logging",
                     ram_blocks[idx].name ? ram_blocks[idx].name : "?");
        return -1;
    }
    /* Drop what the accelerator logged before this client existed. */
    if (!was_logging)
        ram_dirty_sync(idx);
    memset(dirty[idx][c], 0, bitmap_bytes(idx));
    return 0;
}

void ram_dirty_stop(unsigned idx, DirtyClient c)
{
    if (idx >= n_ram_blocks || c >= DIRTY_CLIENT_COUNT || !dirty[idx][c])
        return;
    uint64_t *bm = dirty[idx][c];
    __atomic_store_n(&dirty[idx][c], NULL, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&dirty_clients, 1, __ATOMIC_SEQ_CST);
    free(bm);
    if (!block_logging(idx)) {
        free(sync_log[idx]);
        sync_log[idx] = NULL;
        accel_map(idx);
    }
}

bool ram_dirty_tracking(unsigned idx, DirtyClient c)
{
    return idx < n_ram_blocks && c < DIRTY_CLIENT_COUNT && dirty[idx][c];
}

void ram_dirty_set_all(unsigned idx, DirtyClient c)
{
    if (!ram_dirty_tracking(idx, c))
        return;
    ram_block_mark_dirty(idx, 0, ram_blocks[idx].size);
}

int ram_dirty_sync(unsigned idx)
{
    if (idx >= n_ram_blocks || !block_logging(idx) || !ram_accel || !ram_blocks[idx].mapped)
        return 0;
    uint64_t words = bitmap_bytes(idx) / sizeof(uint64_t);
    uint64_t *log = sync_log[idx];
    memset(log, 0, bitmap_bytes(idx));
    int ret = ram_accel->sync_dirty(ram_accel->opaque, idx, &ram_blocks[idx], log);
    for (unsigned c = 0; ret == 0 && c < DIRTY_CLIENT_COUNT; c++) {
        uint64_t *bm = dirty[idx][c];
        for (uint64_t w = 0; bm && w < words; w++) {
            if (log[w])
                __atomic_fetch_or(&bm[w], log[w], __ATOMIC_RELAXED);
        }
    }
    return ret;
}

bool ram_dirty_test_and_clear(unsigned idx, DirtyClient c, uint64_t off, uint64_t len)
{
    if (!ram_dirty_tracking(idx, c) || len == 0 || off >= ram_blocks[idx].size)
        return false;
    uint64_t *bm = dirty[idx][c];
    uint64_t first = off / RAM_PAGE_SIZE;
    uint64_t last = (MIN(off + len, ram_blocks[idx].size) - 1) / RAM_PAGE_SIZE;
    bool any = false;
    for (uint64_t p = first; p <= last;) {
        uint64_t w = p / 64, bit = p % 64;
        uint64_t nbits = MIN(64 - bit, last - p + 1);
        uint64_t mask = (nbits == 64 ? ~0ULL : ((1ULL << nbits) - 1)) << bit;
        if (__atomic_load_n(&bm[w], __ATOMIC_RELAXED) & mask)
            any |= (__atomic_fetch_and(&bm[w], ~mask, __ATOMIC_RELAXED) & mask) != 0;
        p += nbits;
    }
    return any;
}

uint64_t ram_dirty_count(unsigned idx, DirtyClient c)
{
    if (!ram_dirty_tracking(idx, c))
        return 0;
    uint64_t n = 0, words = bitmap_bytes(idx) / sizeof(uint64_t);
    for (uint64_t w = 0; w < words; w++)
        n += __builtin_popcountll(__atomic_load_n(&dirty[idx][c][w], __ATOMIC_RELAXED));
    return n;
}

void ram_block_mark_dirty(unsigned idx, uint64_t off, uint64_t len)
{
    if (idx >= n_ram_blocks || len == 0 || off >= ram_blocks[idx].size)
        return;
    uint64_t first = off / RAM_PAGE_SIZE;
    uint64_t last = (MIN(off + len, ram_blocks[idx].size) - 1) / RAM_PAGE_SIZE;
    for (unsigned c = 0; c < DIRTY_CLIENT_COUNT; c++) {
        uint64_t *bm = __atomic_load_n(&dirty[idx][c], __ATOMIC_ACQUIRE);
        for (uint64_t p = first; bm && p <= last;) {
            uint64_t bit = p % 64, nbits = MIN(64 - bit, last - p + 1);
            uint64_t mask = (nbits == 64 ? ~0ULL : ((1ULL << nbits) - 1)) << bit;
            __atomic_fetch_or(&bm[p / 64], mask, __ATOMIC_RELAXED);
            p += nbits;
        }
    }
}

static const RamBlock *ram_block_at(uint64_t gpa);

void ram_mark_dirty(uint64_t gpa, uint64_t len)
{
    if (!__atomic_load_n(&dirty_clients, __ATOMIC_RELAXED))
        return;
    while (len) {
        const RamBlock *b = ram_block_at(gpa);
        if (!b)
            return;
        uint64_t off = gpa - b->gpa, n = MIN(len, b->size - off);
        ram_block_mark_dirty((unsigned)(b - ram_blocks), off, n);
        gpa += n;
        len -= n;
    }
}

/* The mapped block containing gpa, or NULL. */
static const RamBlock *ram_block_at(uint64_t gpa)
{
    for (unsigned i = 0; i < n_ram_blocks; i++) {
        const RamBlock *b = &ram_blocks[i];
        if (b->mapped && gpa >= b->gpa && gpa - b->gpa < b->size)
            return b;
    }
    return NULL;
}

/* Distance from gpa to the start of the next RAM block above it (or max). */
static uint64_t bytes_to_next_ram(uint64_t gpa, uint64_t max)
{
    for (unsigned i = 0; i < n_ram_blocks; i++) {
        const RamBlock *b = &ram_blocks[i];
        if (b->mapped && b->gpa > gpa && b->gpa - gpa < max)
            max = b->gpa - gpa;
    }
    return max;
}

void *guest_mem_map(uint64_t gpa, uint64_t len)
{
    const RamBlock *b = ram_block_at(gpa);
    if (!b)
        return NULL;
    uint64_t off = gpa - b->gpa;
    /* Written as a subtraction so that gpa + len cannot overflow. */
    if (len > b->size - off)
        return NULL;
    return b->host + off;
}

/*
 * Walks [gpa, gpa+len) across adjacent RAM blocks.  With copy == false it only
 * checks that every byte is RAM, so that a failing write changes nothing.
 */
static int ram_copy(uint64_t gpa, uint8_t *buf, uint64_t len, bool to_guest, bool copy)
{
    while (len) {
        const RamBlock *b = ram_block_at(gpa);
        if (!b)
            return -1;
        uint64_t off = gpa - b->gpa;
        uint64_t n = MIN(len, b->size - off);
        if (copy) {
            if (to_guest) {
                memcpy(b->host + off, buf, n);
                ram_block_mark_dirty((unsigned)(b - ram_blocks), off, n);
            } else {
                memcpy(buf, b->host + off, n);
            }
        }
        buf += n;
        gpa += n;
        len -= n;
        if (len && gpa == 0)   /* wrapped around the address space */
            return -1;
    }
    return 0;
}

int guest_mem_read(uint64_t gpa, void *buf, uint64_t len)
{
    if (ram_copy(gpa, buf, len, false, false) < 0)
        return -1;
    return ram_copy(gpa, buf, len, false, true);
}

int guest_mem_write(uint64_t gpa, const void *buf, uint64_t len)
{
    if (ram_copy(gpa, (uint8_t *)buf, len, true, false) < 0)
        return -1;
    return ram_copy(gpa, (uint8_t *)buf, len, true, true);
}

/* Largest naturally aligned access (8/4/2/1) at gpa not exceeding len. */
static unsigned mmio_chunk(uint64_t gpa, uint64_t len)
{
    unsigned size = 8;
    while (size > 1 && ((gpa & (size - 1)) || size > len))
        size /= 2;
    return size;
}

/* Values travel little-endian, as on x86. */
static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void store_le(uint8_t *p, unsigned size, uint64_t v)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = v >> (8 * i);
}

static void phys_access(uint64_t gpa, uint8_t *buf, uint64_t len, bool is_write)
{
    while (len) {
        const RamBlock *b = ram_block_at(gpa);
        uint64_t n;
        if (b) {
            uint64_t off = gpa - b->gpa;
            n = MIN(len, b->size - off);
            if (is_write) {
                memcpy(b->host + off, buf, n);
                ram_block_mark_dirty((unsigned)(b - ram_blocks), off, n);
            } else {
                memcpy(buf, b->host + off, n);
            }
        } else {
            n = mmio_chunk(gpa, bytes_to_next_ram(gpa, len));
            if (is_write) {
                as_write(&mmio_space, gpa, n, load_le(buf, n));
            } else {
                uint64_t v;
                as_read(&mmio_space, gpa, n, &v);
                store_le(buf, n, v);
            }
        }
        buf += n;
        gpa += n;
        len -= n;
        if (len && gpa == 0) {   /* wrapped: the rest goes nowhere */
            if (!is_write)
                memset(buf, 0xff, len);
            break;
        }
    }
}

void phys_read(uint64_t gpa, void *buf, uint64_t len)
{
    phys_access(gpa, buf, len, false);
}

void phys_write(uint64_t gpa, const void *buf, uint64_t len)
{
    phys_access(gpa, (uint8_t *)buf, len, true);
}
