/*
 * `vmm-img check [-r leaks|all]` for qcow2: recompute every host cluster's
 * reference count from the metadata (header, L1/L2 tables of the active
 * state and of every snapshot, the snapshot table, the refcount table and
 * blocks) and compare with the stored refcounts.  Layout facts: QEMU
 * docs/interop/qcow2.txt.  Messages are worded as qemu-img check's.
 *
 * Repairs are ordered so that an interrupted repair leaves an image the
 * next check can still repair:
 *  - leaks are fixed by lowering stored refcounts (a crash leaves some
 *    leaks, never a cluster in use with refcount 0);
 *  - corrupt refcounts (-r all) are fixed by writing a complete new
 *    refcount table and blocks into free space past the end of the file,
 *    syncing, and only then switching the header to them with one write;
 *    the old structures are simply no longer referenced.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

typedef struct Check {
    int fd;
    FILE *log;
    int repair;
    ImageCheckResult *res;
    ImgHeader h;
    uint64_t cs;
    unsigned cb;
    uint64_t file_size;
    uint64_t nb_clusters;       /* clusters the file holds (rounded up) */
    uint64_t *refs;             /* computed reference counts, per cluster */
    uint64_t *rt;               /* refcount table, host order */
    uint64_t rt_entries;
    uint8_t **rb;               /* refcount blocks by table index (NULL: none) */
    uint8_t **rb_at;            /* the same buffers by host cluster index: each
                                 * refcount block cluster is read once, however
                                 * many table entries point at it */
    uint64_t rb_at_count;       /* entries in rb_at (nb_clusters at load time) */
    bool need_rebuild;          /* the refcount structures themselves are bad */
    bool rt_counted;            /* the old refcount table is in refs */
    bool rebuilt;               /* refs is now what is stored */
    uint64_t next_contiguous;   /* for the fragmentation statistic */
} Check;

static void logf_(Check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(Check *c, const char *fmt, ...)
{
    if (!c->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->log, fmt, ap);
    va_end(ap);
}

/* ---- counting references ---- */

/* One reference to every cluster overlapping [off, off+len); false (and a
 * corruption) when that is past the end of the file. */
static bool inc_refs(Check *c, uint64_t off, uint64_t len, const char *what)
{
    if (!len)
        return true;
    uint64_t first = off >> c->cb, last = (off + len - 1) >> c->cb;
    if (last >= c->nb_clusters || off + len < off) {
        logf_(c, "ERROR %s offset=%" PRIx64 ": outside the image (file size %" PRIu64 ")\n",
              what, off, c->file_size);
        c->res->corruptions++;
        return false;
    }
    for (uint64_t i = first; i <= last; i++)
        c->refs[i]++;
    return true;
}

/* Rewrite an L2 entry that cannot be used (-r all): v3 makes it a zero
 * cluster, v2 unallocated; either way it no longer points anywhere. */
static int fix_l2_entry(Check *c, uint64_t l2_off, uint64_t idx, uint8_t *l2)
{
    uint8_t e[8];
    stbe64(e, c->h.version >= 3 ? QCOW2_OFLAG_ZERO : 0);
    if (img_pwrite(c->fd, l2_off + idx * 8, e, 8) < 0) {
        c->res->check_errors++;
        return -1;
    }
    memcpy(l2 + idx * 8, e, 8);
    c->res->corruptions--;
    c->res->corruptions_fixed++;
    return 0;
}

static void count_compressed(Check *c, uint64_t l2e, bool stats)
{
    uint64_t off = qcow2_compressed_offset(l2e, c->cb);
    uint64_t nb_sectors = ((l2e & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >>
                           qcow2_csize_shift(c->cb)) + 1;
    inc_refs(c, off & ~511ull, nb_sectors * 512, "compressed");
    if (stats) {
        /* Compressed clusters count as fragmented, as in qemu-img. */
        c->res->allocated_clusters++;
        c->res->compressed_clusters++;
        c->res->fragmented_clusters++;
    }
}

/*
 * A standard (or preallocated zero) cluster.  As qemu-img check: an
 * unaligned offset is a corruption; a preallocated zero cluster's can be
 * repaired by dropping the allocation, but a data cluster's cannot, so it
 * is still counted (statistics, and references to the clusters its
 * cluster-sized range overlaps) like any other allocated cluster.
 */
static void count_standard(Check *c, uint64_t l2_off, uint64_t idx, uint8_t *l2, bool stats)
{
    uint64_t l2e = ldbe64(l2 + idx * 8);
    uint64_t off = l2e & QCOW2_L2E_OFFSET_MASK;
    bool zero = c->h.version >= 3 && (l2e & QCOW2_OFLAG_ZERO);
    if (!off)
        return;
    if (off & (c->cs - 1)) {
        c->res->corruptions++;
        if (zero) {
            bool fix = c->repair & IMAGE_REPAIR_ERRORS;
            logf_(c, "%s offset=%" PRIx64 ": Preallocated cluster is not properly aligned; "
                  "L2 entry corrupted.\n", fix ? "Repairing" : "ERROR", off);
            if (fix && fix_l2_entry(c, l2_off, idx, l2) == 0)
                return;
        } else {
            logf_(c, "ERROR offset=%" PRIx64 ": Data cluster is not properly aligned; "
                  "L2 entry corrupted.\n", off);
        }
    }
    if (stats) {
        c->res->allocated_clusters++;
        if (c->next_contiguous && off != c->next_contiguous)
            c->res->fragmented_clusters++;
        c->next_contiguous = off + c->cs;
    }
    if (!inc_refs(c, off, c->cs, "data cluster") && (c->repair & IMAGE_REPAIR_ERRORS))
        fix_l2_entry(c, l2_off, idx, l2);
}

static int count_l2(Check *c, uint64_t l2_off, bool stats)
{
    uint8_t *l2 = malloc(c->cs);
    if (!l2 || img_pread(c->fd, l2_off, l2, c->cs) < 0) {
        logf_(c, "ERROR: I/O error reading L2 table at %" PRIx64 "\n", l2_off);
        c->res->check_errors++;
        free(l2);
        return -1;
    }
    for (uint64_t i = 0; i < c->cs / 8; i++) {
        uint64_t l2e = ldbe64(l2 + i * 8);
        if (l2e & QCOW2_OFLAG_COMPRESSED)
            count_compressed(c, l2e, stats);
        else
            count_standard(c, l2_off, i, l2, stats);
    }
    free(l2);
    return 0;
}

/* An L1 table and everything under it.  stats: the active table only. */
static void count_l1(Check *c, uint64_t l1_off, uint32_t l1_size, bool stats)
{
    if (!l1_size)
        return;
    if ((l1_off & (c->cs - 1)) || !inc_refs(c, l1_off, (uint64_t)l1_size * 8, "L1 table")) {
        if (l1_off & (c->cs - 1)) {
            logf_(c, "ERROR l1_offset=%" PRIx64 ": L1 table is not cluster aligned\n", l1_off);
            c->res->corruptions++;
        }
        return;
    }
    uint8_t *l1 = malloc((size_t)l1_size * 8);
    if (!l1 || img_pread(c->fd, l1_off, l1, (size_t)l1_size * 8) < 0) {
        logf_(c, "ERROR: I/O error reading L1 table at %" PRIx64 "\n", l1_off);
        c->res->check_errors++;
        free(l1);
        return;
    }
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2_off = ldbe64(l1 + i * 8) & QCOW2_L1E_OFFSET_MASK;
        if (!l2_off)
            continue;
        if (l2_off & (c->cs - 1)) {
            logf_(c, "ERROR l2_offset=%" PRIx64 ": Table is not cluster aligned; L1 entry "
                  "corrupted\n", l2_off);
            c->res->corruptions++;
            continue;
        }
        if (inc_refs(c, l2_off, c->cs, "L2 table"))
            count_l2(c, l2_off, stats);
    }
    free(l1);
}

static void count_snapshots(Check *c)
{
    ImgSnapshotEntry *s = NULL;
    char err[256];
    if (img_read_snapshots(c->fd, &c->h, &s, err, sizeof(err)) < 0) {
        logf_(c, "ERROR %s\n", err);
        c->res->corruptions++;
        return;
    }
    if (c->h.nb_snapshots)
        inc_refs(c, c->h.snapshots_offset, img_snapshot_table_size(s, c->h.nb_snapshots),
                 "snapshot table");
    for (uint32_t i = 0; i < c->h.nb_snapshots; i++)
        count_l1(c, s[i].l1_table_offset, s[i].l1_size, false);
    img_free_snapshots(s, c->h.nb_snapshots);
}

/* ---- the stored refcounts ---- */

/* The refcount block at host offset off (cluster aligned, inside the file:
 * inc_refs said so), read on first use. */
static uint8_t *read_refblock(Check *c, uint64_t off)
{
    uint8_t **slot = &c->rb_at[off >> c->cb];
    if (*slot)
        return *slot;
    uint8_t *b = malloc(c->cs);
    if (!b || img_pread(c->fd, off, b, c->cs) < 0) {
        free(b);
        return NULL;
    }
    return *slot = b;
}

static int load_refcounts(Check *c)
{
    c->rt_entries = (uint64_t)c->h.refcount_table_clusters * c->cs / 8;
    uint64_t rt_off = c->h.refcount_table_offset;
    if ((rt_off & (c->cs - 1)) || rt_off + c->rt_entries * 8 > c->file_size ||
        c->rt_entries * 8 > QCOW2_MAX_RT_BYTES) {
        logf_(c, "ERROR refcount table offset=%" PRIx64 " is invalid\n", rt_off);
        c->res->corruptions++;
        c->need_rebuild = true;
        c->rt_entries = 0;
        return 0;
    }
    c->rt = calloc(c->rt_entries ? c->rt_entries : 1, 8);
    c->rb = calloc(c->rt_entries ? c->rt_entries : 1, sizeof(*c->rb));
    c->rb_at_count = c->nb_clusters;
    c->rb_at = calloc(c->nb_clusters ? c->nb_clusters : 1, sizeof(*c->rb_at));
    if (!c->rt || !c->rb || !c->rb_at ||
        img_pread(c->fd, rt_off, c->rt, c->rt_entries * 8) < 0)
        return -1;
    c->rt_counted = inc_refs(c, rt_off, c->rt_entries * 8, "refcount table");
    for (uint64_t i = 0; i < c->rt_entries; i++) {
        uint64_t off = ldbe64(&c->rt[i]) & QCOW2_REFT_OFFSET_MASK;
        c->rt[i] = off;
        if (!off)
            continue;
        if ((off & (c->cs - 1)) || !inc_refs(c, off, c->cs, "refcount block")) {
            if (off & (c->cs - 1)) {
                logf_(c, "ERROR refcount block %" PRIu64 " is not cluster aligned; refcount "
                      "table entry corrupted\n", i);
                c->res->corruptions++;
            }
            c->need_rebuild = true;
            c->rt[i] = 0;
            continue;
        }
        if (!(c->rb[i] = read_refblock(c, off)))
            return -1;
    }
    return 0;
}

static uint64_t rb_entries(const Check *c)
{
    return c->cs * 8 >> c->h.refcount_order;
}

static uint64_t stored_refcount(const Check *c, uint64_t cluster)
{
    uint64_t t = cluster / rb_entries(c);
    if (t >= c->rt_entries || !c->rb[t])
        return 0;
    return qcow2_refblock_get(c->rb[t], c->h.refcount_order, cluster % rb_entries(c));
}

/* Lower a leaked cluster's stored refcount in place. */
static int fix_leak(Check *c, uint64_t cluster, uint64_t val)
{
    uint64_t t = cluster / rb_entries(c), i = cluster % rb_entries(c);
    qcow2_refblock_set(c->rb[t], c->h.refcount_order, i, val);
    return img_pwrite(c->fd, c->rt[t], c->rb[t], c->cs);
}

/* One cluster whose stored refcount differs from the computed one. */
static void refcount_mismatch(Check *c, uint64_t i, uint64_t stored, uint64_t want,
                              uint64_t *errors)
{
    bool leak = stored > want;
    bool fix = leak ? (c->repair & IMAGE_REPAIR_LEAKS) && !c->need_rebuild
                    : (c->repair & IMAGE_REPAIR_ERRORS) &&
                      want <= qcow2_refcount_max(c->h.refcount_order);
    logf_(c, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64 "\n",
          fix ? "Repairing" : leak ? "Leaked" : "ERROR", i, stored, want);
    if (leak && fix && fix_leak(c, i, want) == 0) {
        c->res->leaks_fixed++;
    } else if (leak) {
        c->res->leaks++;
    } else {
        c->res->corruptions++;
        if (fix) {
            c->need_rebuild = true;
            (*errors)++;
        }
    }
}

/* The first n entries of refcount block t (rb: its data, or NULL when
 * there is none) against the computed counts. */
static void compare_block(Check *c, uint64_t t, const uint8_t *rb, uint64_t n,
                          uint64_t *errors)
{
    uint64_t base = t * rb_entries(c);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t stored = rb ? qcow2_refblock_get(rb, c->h.refcount_order, i) : 0;
        if (stored != c->refs[base + i])
            refcount_mismatch(c, base + i, stored, c->refs[base + i], errors);
    }
}

/*
 * Compare stored with computed refcounts, one refcount block at a time
 * (decoding from the block in memory); fix leaks in place when asked.
 * Only the clusters inside the file are compared, as qemu-img does: a
 * refcount block may describe far more clusters than the file has (with
 * 1-bit refcounts, 8 * cluster_size of them), and nothing can reference
 * a cluster past the end.
 */
static void compare_refcounts(Check *c, uint64_t *errors_out)
{
    uint64_t per = rb_entries(c);
    *errors_out = 0;
    for (uint64_t base = 0, t = 0; base < c->nb_clusters; base += per, t++) {
        const uint8_t *rb = t < c->rt_entries ? c->rb[t] : NULL;
        compare_block(c, t, rb, MIN(per, c->nb_clusters - base), errors_out);
    }
}

/* ---- rebuilding the refcount structures (-r all) ---- */

static void dec_refs(Check *c, uint64_t off, uint64_t len)
{
    for (uint64_t i = off >> c->cb; len && i <= (off + len - 1) >> c->cb; i++)
        if (i < c->nb_clusters && c->refs[i])
            c->refs[i]--;
}

static void uncount_old_refcounts(Check *c)
{
    if (c->rt_counted)
        dec_refs(c, c->h.refcount_table_offset, c->rt_entries * 8);
    for (uint64_t i = 0; i < c->rt_entries; i++)
        if (c->rt[i])
            dec_refs(c, c->rt[i], c->cs);
}

/* Place a new table and blocks at the end of the file: they describe every
 * referenced cluster plus themselves. */
static int rebuild_refcounts(Check *c)
{
    uint64_t end = c->nb_clusters, per = rb_entries(c);
    /* The old table and blocks are dropped: no longer referenced.  The new
     * ones go past the end of the file, never over the old ones. */
    uncount_old_refcounts(c);
    uint64_t rb_count, rt_clusters;
    img_refcount_sizes(end, per, c->cs, &rb_count, &rt_clusters);
    uint64_t total = end + rb_count + rt_clusters;
    uint64_t *refs = realloc(c->refs, total * 8);
    if (!refs)
        return -ENOMEM;
    c->refs = refs;
    for (uint64_t i = end; i < total; i++)
        c->refs[i] = 1;
    c->nb_clusters = total;
    c->rebuilt = true;
    uint64_t rb_off = end * c->cs, rt_off = rb_off + rb_count * c->cs;
    uint8_t *buf = calloc(1, MAX(rt_clusters, 1) * c->cs);
    if (!buf)
        return -ENOMEM;
    int ret = 0;
    for (uint64_t b = 0; !ret && b < rb_count; b++) {
        memset(buf, 0, c->cs);
        for (uint64_t i = 0; i < per && b * per + i < total; i++)
            qcow2_refblock_set(buf, c->h.refcount_order, i, c->refs[b * per + i]);
        ret = img_pwrite(c->fd, rb_off + b * c->cs, buf, c->cs);
    }
    memset(buf, 0, rt_clusters * c->cs);
    for (uint64_t b = 0; b < rb_count; b++)
        stbe64(buf + b * 8, rb_off + b * c->cs);
    if (!ret)
        ret = img_pwrite(c->fd, rt_off, buf, rt_clusters * c->cs);
    free(buf);
    /* The new structures must be on disk before the header points at them. */
    if (!ret && fsync(c->fd) < 0)
        ret = -errno;
    uint8_t hdr[12];
    stbe64(hdr, rt_off);
    stbe32(hdr + 8, (uint32_t)rt_clusters);
    if (!ret)
        ret = img_pwrite(c->fd, QCOW2_OFF_REFCOUNT_TABLE, hdr, sizeof(hdr));
    if (!ret && fsync(c->fd) < 0)
        ret = -errno;
    return ret;
}

/* ---- the COPIED flags of the active tables ---- */

/* The refcount as stored after any repair: in place (leaks) or rebuilt. */
static uint64_t final_refcount(const Check *c, uint64_t off)
{
    uint64_t i = off >> c->cb;
    if (!c->rebuilt)
        return stored_refcount(c, i);
    return i < c->nb_clusters ? c->refs[i] : 0;
}

/* As qemu-img: a missing flag on a cluster whose refcount is now 1 is put
 * right by -r leaks too (leak repairs are what make it 1). */
static bool copied_fixable(const Check *c, bool want)
{
    return (c->repair & IMAGE_REPAIR_ERRORS) || ((c->repair & IMAGE_REPAIR_LEAKS) && want);
}

/* Bit 63 of L1 and L2 entries says "refcount is exactly one" (qcow2.txt,
 * "Cluster mapping"); a wrong bit is a corruption qemu-img reports too. */
static void check_copied_l2(Check *c, uint64_t l2_off)
{
    uint8_t *l2 = malloc(c->cs);
    bool dirty = false;
    if (!l2 || img_pread(c->fd, l2_off, l2, c->cs) < 0) {
        free(l2);
        return;
    }
    for (uint64_t i = 0; i < c->cs / 8; i++) {
        uint64_t e = ldbe64(l2 + i * 8), off = e & QCOW2_L2E_OFFSET_MASK;
        if ((e & QCOW2_OFLAG_COMPRESSED) || !off || (off & (c->cs - 1)))
            continue;
        bool want = final_refcount(c, off) == 1;
        if (want == !!(e & QCOW2_OFLAG_COPIED))
            continue;
        bool fix = copied_fixable(c, want);
        logf_(c, "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
              fix ? "Repairing" : "ERROR", e, final_refcount(c, off));
        if (fix) {
            stbe64(l2 + i * 8, want ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED);
            dirty = true;
            c->res->corruptions_fixed++;
        } else {
            c->res->corruptions++;
        }
    }
    if (dirty && img_pwrite(c->fd, l2_off, l2, c->cs) < 0)
        c->res->check_errors++;
    free(l2);
}

static void check_copied(Check *c)
{
    uint32_t n = c->h.l1_size;
    uint64_t l1_off = c->h.l1_table_offset;
    if (!n || (l1_off & (c->cs - 1)) || l1_off + (uint64_t)n * 8 > c->file_size)
        return;
    uint8_t *l1 = malloc((size_t)n * 8);
    bool dirty = false;
    if (!l1 || img_pread(c->fd, l1_off, l1, (size_t)n * 8) < 0) {
        free(l1);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t e = ldbe64(l1 + i * 8), off = e & QCOW2_L1E_OFFSET_MASK;
        if (!off || (off & (c->cs - 1)) || (off >> c->cb) >= c->nb_clusters)
            continue;
        bool want = final_refcount(c, off) == 1;
        if (want != !!(e & QCOW2_OFLAG_COPIED)) {
            bool fix = copied_fixable(c, want);
            logf_(c, "%s OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%" PRIx64
                  " refcount=%" PRIu64 "\n", fix ? "Repairing" : "ERROR", i, e,
                  final_refcount(c, off));
            if (fix) {
                stbe64(l1 + i * 8, want ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED);
                dirty = true;
                c->res->corruptions_fixed++;
            } else {
                c->res->corruptions++;
            }
        }
        check_copied_l2(c, off);
    }
    if (dirty && img_pwrite(c->fd, l1_off, l1, (size_t)n * 8) < 0)
        c->res->check_errors++;
    free(l1);
}

/* ---- driver ---- */

static void image_end(Check *c)
{
    uint64_t last = 0;
    for (uint64_t i = 0; i < c->nb_clusters; i++)
        if (c->refs[i])
            last = i + 1;
    c->res->image_end_offset = last * c->cs;
}

/* A repaired image is consistent again: the dirty bit (lazy refcounts)
 * can go, written last. */
static void clear_dirty(Check *c)
{
    if (c->h.version < 3 || !(c->h.incompatible_features & QCOW2_INCOMPAT_DIRTY))
        return;
    uint8_t b[8];
    stbe64(b, c->h.incompatible_features & ~QCOW2_INCOMPAT_DIRTY);
    if (fsync(c->fd) < 0 || img_pwrite(c->fd, QCOW2_OFF_INCOMPAT, b, 8) < 0 || fsync(c->fd) < 0)
        c->res->check_errors++;
}

static int run_check(Check *c)
{
    inc_refs(c, 0, c->cs, "header");
    count_l1(c, c->h.l1_table_offset, c->h.l1_size, true);
    count_snapshots(c);
    if (load_refcounts(c) < 0) {
        c->res->check_errors++;
        return 0;
    }
    uint64_t errors;
    compare_refcounts(c, &errors);
    (void)errors;
    if ((c->repair & IMAGE_REPAIR_ERRORS) && c->need_rebuild) {
        if (rebuild_refcounts(c) < 0) {
            c->res->check_errors++;
            return 0;
        }
        /* Everything the stored refcounts got wrong is now right. */
        c->res->corruptions_fixed += c->res->corruptions;
        c->res->leaks_fixed += c->res->leaks;
        c->res->corruptions = c->res->leaks = 0;
    }
    check_copied(c);
    image_end(c);
    if (c->repair && !c->res->corruptions && !c->res->leaks)
        clear_dirty(c);
    return 0;
}

static int open_for_check(const char *path, const char *format, int repair, char *err,
                          size_t errlen)
{
    if (format && strcmp(format, "qcow2")) {
        snprintf(err, errlen, "This image format does not support checks");
        return -1;
    }
    int fd = open(path, (repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "Could not open '%s': %s", path, strerror(errno));
        return -1;
    }
    uint8_t magic[4];
    if (!format && (img_pread(fd, 0, magic, 4) < 0 || ldbe32(magic) != QCOW2_MAGIC)) {
        snprintf(err, errlen, "This image format does not support checks");
        close(fd);
        return -1;
    }
    return fd;
}

int image_check(const char *path, const char *format, int repair, FILE *log,
                ImageCheckResult *res, char *err, size_t errlen)
{
    Check c = { .log = log, .repair = repair, .res = res };
    memset(res, 0, sizeof(*res));
    c.fd = open_for_check(path, format, repair, err, errlen);
    if (c.fd < 0)
        return -1;
    int ret = -1;
    struct stat st;
    if (img_read_header(c.fd, path, &c.h, err, errlen) < 0)
        goto out;
    if (fstat(c.fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    c.cb = c.h.cluster_bits;
    c.cs = 1ull << c.cb;
    c.file_size = (uint64_t)st.st_size;
    c.nb_clusters = div_round_up(c.file_size, c.cs);
    c.refs = calloc(c.nb_clusters ? c.nb_clusters : 1, sizeof(*c.refs));
    if (!c.refs) {
        snprintf(err, errlen, "%s: Out of memory", path);
        goto out;
    }
    res->total_clusters = div_round_up(c.h.size, c.cs);
    ret = run_check(&c);
out:
    for (uint64_t i = 0; c.rb_at && i < c.rb_at_count; i++)
        free(c.rb_at[i]);
    free(c.rb_at);
    free(c.rb);
    free(c.rt);
    free(c.refs);
    close(c.fd);
    return ret;
}
