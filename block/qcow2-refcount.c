/*
 * qcow2 refcounts: the refcount table points at refcount blocks, each one
 * cluster of 2^refcount_order-bit entries, one per host cluster (qcow2
 * spec, "Cluster mapping").  Every refcount change is written through at
 * once, before the caller writes any L2/L1 entry that depends on it, so a
 * crash leaves at worst leaked clusters (refcount > references), never a
 * referenced cluster with a refcount that is too low.
 *
 * New clusters come from a forward scan for free refcounts (free_hint) or
 * from the end of the image (end_cluster); refcount blocks and grown
 * refcount tables are placed at the end of the image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2.h"
#include "util.h"

static uint64_t rb_entries(const Qcow2State *s)
{
    return 1ull << s->rb_bits;
}

/* Bytes of the refblock holding entry idx (for a minimal write). */
static void entry_span(const Qcow2State *s, uint64_t idx, uint64_t *start, uint64_t *len)
{
    if (s->refcount_order < 3) {
        *start = (idx << s->refcount_order) / 8;
        *len = 1;
    } else {
        *len = 1u << (s->refcount_order - 3);
        *start = idx * *len;
    }
}

static bool refblock_offset_valid(Qcow2State *s, uint64_t off)
{
    if (off & (s->cluster_size - 1) || off == 0) {
        guest_error("%s: qcow2 refcount block offset %#llx is invalid", s->what,
                    (unsigned long long)off);
        s->corrupt = true;
        return false;
    }
    return true;
}

int qcow2_get_refcount(Qcow2State *s, uint64_t cluster, uint64_t *val)
{
    uint64_t b = cluster >> s->rb_bits;
    *val = 0;
    if (b >= s->rt_entries || !(s->rt[b] & QCOW2_REFT_OFFSET_MASK))
        return 0;
    uint64_t off = s->rt[b] & QCOW2_REFT_OFFSET_MASK;
    if (!refblock_offset_valid(s, off))
        return -EIO;
    uint8_t *blk;
    int r = qcow2_cache_get(s, &s->rbc, off, &blk);
    if (r < 0)
        return r;
    *val = qcow2_refblock_get(blk, s->refcount_order, cluster & (rb_entries(s) - 1));
    return 0;
}

/* Cluster index for new metadata at the end of the image. */
static uint64_t take_end_cluster(Qcow2State *s)
{
    return s->end_cluster++;
}

static int write_rt_entry(Qcow2State *s, uint64_t b)
{
    uint8_t be[8];
    stbe64(be, s->rt[b]);
    return qcow2_meta_write(s, s->rt_offset + b * 8, be, 8);
}

static int grow_refcount_table(Qcow2State *s, uint64_t need_entries);

/*
 * A new, zeroed refcount block for block index b at the end of the image.
 * When it lies in the range it describes it counts itself; otherwise its
 * own refcount is set afterwards (which may create one more block).
 */
static int new_refblock(Qcow2State *s, uint64_t b)
{
    uint64_t idx = take_end_cluster(s);
    uint64_t off = idx << s->cluster_bits;
    uint8_t *blk = xzalloc(s->cluster_size);
    bool self = (idx >> s->rb_bits) == b;
    if (self)
        qcow2_refblock_set(blk, s->refcount_order, idx & (rb_entries(s) - 1), 1);
    int r = qcow2_meta_write(s, off, blk, s->cluster_size);
    free(blk);
    if (r < 0)
        return r;
    /* The block is on disk before the table entry that points to it. */
    s->rt[b] = off;
    r = write_rt_entry(s, b);
    if (r < 0 || self)
        return r;
    return qcow2_update_refcount(s, idx, 1);
}

static int ensure_refblock(Qcow2State *s, uint64_t b)
{
    if (b >= s->rt_entries) {
        int r = grow_refcount_table(s, b + 1);
        if (r < 0)
            return r;
    }
    if (s->rt[b] & QCOW2_REFT_OFFSET_MASK)
        return 0;
    return new_refblock(s, b);
}

int qcow2_update_refcount(Qcow2State *s, uint64_t cluster, int delta)
{
    uint64_t b = cluster >> s->rb_bits;
    if (delta < 0 && (b >= s->rt_entries || !(s->rt[b] & QCOW2_REFT_OFFSET_MASK))) {
        guest_error("%s: qcow2 cluster %#llx freed with refcount 0", s->what,
                    (unsigned long long)cluster << s->cluster_bits);
        return -EIO;
    }
    int r = ensure_refblock(s, b);
    if (r < 0)
        return r;
    uint64_t off = s->rt[b] & QCOW2_REFT_OFFSET_MASK;
    if (!refblock_offset_valid(s, off))
        return -EIO;
    uint8_t *blk;
    r = qcow2_cache_get(s, &s->rbc, off, &blk);
    if (r < 0)
        return r;
    uint64_t i = cluster & (rb_entries(s) - 1);
    uint64_t v = qcow2_refblock_get(blk, s->refcount_order, i);
    if ((delta < 0 && v < (uint64_t)-delta) ||
        (delta > 0 && qcow2_refcount_max(s->refcount_order) - v < (uint64_t)delta)) {
        guest_error("%s: qcow2 refcount of cluster %#llx would leave its range", s->what,
                    (unsigned long long)cluster << s->cluster_bits);
        return -EIO;
    }
    qcow2_refblock_set(blk, s->refcount_order, i, v + (uint64_t)(int64_t)delta);
    uint64_t start, len;
    entry_span(s, i, &start, &len);
    return qcow2_meta_write(s, off + start, blk + start, len);
}

/*
 * Replace the refcount table by a bigger one at the end of the image:
 * write it (with the blocks that count its own clusters), then switch the
 * header to it in one 12-byte write, then free the old one.  A crash
 * before the header write leaves the old table valid and leaks the new.
 */
static int grow_refcount_table(Qcow2State *s, uint64_t need_entries)
{
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t entries = MAX(need_entries + 4, s->rt_entries * 2);
    uint64_t clusters = (entries + per_cluster - 1) / per_cluster;
    if (clusters * s->cluster_size > QCOW2_MAX_RT_BYTES || clusters > UINT32_MAX)
        return -EFBIG;
    entries = clusters * per_cluster;
    uint64_t *old = s->rt;
    uint64_t old_off = s->rt_offset, old_entries = s->rt_entries;
    uint32_t old_clusters = s->rt_clusters;

    uint64_t first = s->end_cluster;
    s->end_cluster += clusters;
    s->rt = xzalloc(entries * 8);
    memcpy(s->rt, old, old_entries * 8);
    s->rt_entries = entries;
    s->rt_offset = first << s->cluster_bits;
    s->rt_clusters = (uint32_t)clusters;

    /* The whole new table first (zeroes past the old entries), so that
     * entries written by the refcount updates below land on real data. */
    uint8_t *disk = xzalloc(clusters * s->cluster_size);
    for (uint64_t i = 0; i < old_entries; i++)
        stbe64(disk + i * 8, old[i]);
    int r = qcow2_meta_write(s, s->rt_offset, disk, clusters * s->cluster_size);
    free(disk);
    for (uint64_t i = 0; r == 0 && i < clusters; i++)
        r = qcow2_update_refcount(s, first + i, 1);
    /* The new table must be stable before the header points to it. */
    if (r == 0)
        r = bfile_execute(s->file, &(BlockRequest){ .type = BREQ_FLUSH });
    if (r == 0) {
        uint8_t hdr[12];
        stbe64(hdr, s->rt_offset);
        stbe32(hdr + 8, s->rt_clusters);
        r = qcow2_meta_write(s, QCOW2_OFF_REFCOUNT_TABLE, hdr, sizeof(hdr));
    }
    if (r < 0) {
        free(s->rt);
        s->rt = old;
        s->rt_offset = old_off;
        s->rt_entries = old_entries;
        s->rt_clusters = old_clusters;
        return r;
    }
    free(old);
    qcow2_free_range(s, old_off, (uint64_t)old_clusters << s->cluster_bits);
    return 0;
}

int64_t qcow2_alloc_clusters(Qcow2State *s, uint64_t n)
{
    if (s->corrupt)
        return -EIO;
    /* The first run of n free clusters from the hint; a free run reaching
     * end_cluster continues past it (everything there is free). */
    uint64_t start = s->free_hint, run = 0;
    for (uint64_t i = s->free_hint; run < n && i < s->end_cluster; i++) {
        uint64_t v;
        int r = qcow2_get_refcount(s, i, &v);
        if (r < 0)
            return r;
        if (v) {
            run = 0;
            start = i + 1;
        } else {
            run++;
        }
    }
    if (start + n > s->end_cluster)
        s->end_cluster = start + n;
    if (start == s->free_hint || n == 1)
        s->free_hint = start + n;
    for (uint64_t i = 0; i < n; i++) {
        int r = qcow2_update_refcount(s, start + i, 1);
        if (r < 0)
            return r;
    }
    uint64_t off = start << s->cluster_bits;
    if (qcow2_overlaps_metadata(s, off, n << s->cluster_bits)) {
        guest_error("%s: qcow2 allocation at %#llx overlaps metadata (corrupt refcounts)",
                    s->what, (unsigned long long)off);
        s->corrupt = true;
        return -EIO;
    }
    return (int64_t)off;
}

void qcow2_free_range(Qcow2State *s, uint64_t off, uint64_t len)
{
    if (!len)
        return;
    uint64_t first = off >> s->cluster_bits, last = (off + len - 1) >> s->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        /* Freed clusters are not reused in this session (free_hint only
         * moves forward): a request still in flight on the file layer may
         * target them.  A failure is logged: the image at worst leaks. */
        if (qcow2_update_refcount(s, c, -1) < 0)
            continue;
        qcow2_cache_drop(&s->l2c, c << s->cluster_bits);
        qcow2_cache_drop(&s->rbc, c << s->cluster_bits);
    }
}

void qcow2_free_l2e(Qcow2State *s, uint64_t l2e)
{
    switch (qcow2_l2e_type(l2e, (int)s->h.version)) {
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        qcow2_free_range(s, l2e & QCOW2_L2E_OFFSET_MASK, 1);
        break;
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t off = qcow2_compressed_offset(l2e, s->cluster_bits);
        uint64_t len = qcow2_compressed_size(l2e, s->cluster_bits);
        qcow2_free_range(s, off & ~511ull, len + (off & 511));
        break;
    }
    default:
        break;
    }
}

int qcow2_ref_l2e(Qcow2State *s, uint64_t l2e)
{
    uint64_t off, len;
    switch (qcow2_l2e_type(l2e, (int)s->h.version)) {
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        off = l2e & QCOW2_L2E_OFFSET_MASK;
        len = 1;
        break;
    case QCOW2_CLUSTER_COMPRESSED:
        off = qcow2_compressed_offset(l2e, s->cluster_bits);
        len = qcow2_compressed_size(l2e, s->cluster_bits) + (off & 511);
        off &= ~511ull;
        break;
    default:
        return 0;
    }
    uint64_t first = off >> s->cluster_bits, last = (off + len - 1) >> s->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        int r = qcow2_update_refcount(s, c, 1);
        if (r < 0)
            return r;
    }
    return 0;
}
