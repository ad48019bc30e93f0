/*
 * The qcow2 format driver: open (header, extensions, features, tables
 * checked against the file size before anything is trusted), backing
 * files, the dirty bit, request dispatch, and the temporary overlays of
 * snapshot=on.  Layout facts from QEMU's docs/interop/qcow2.txt.
 *
 * Reads and writes that map to allocated clusters contiguous in the file
 * go straight to the file layer asynchronously (the common case once an
 * image is allocated); everything else (allocation, copy-on-write, zero
 * and compressed clusters, backing files) runs synchronously with the big
 * lock held and completes through the completion queue.  That serializes
 * every metadata update without any further locking.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qcow2.h"
#include "util.h"

/* ---- header ---- */

int qcow2_header_decode(const uint8_t *buf, size_t len, Qcow2Header *h)
{
    memset(h, 0, sizeof(*h));
    if (len < QCOW2_V2_HEADER_LEN || ldbe32(buf) != QCOW2_MAGIC)
        return -1;
    h->version = ldbe32(buf + 4);
    h->backing_file_offset = ldbe64(buf + 8);
    h->backing_file_size = ldbe32(buf + 16);
    h->cluster_bits = ldbe32(buf + 20);
    h->size = ldbe64(buf + 24);
    h->crypt_method = ldbe32(buf + 32);
    h->l1_size = ldbe32(buf + 36);
    h->l1_table_offset = ldbe64(buf + 40);
    h->refcount_table_offset = ldbe64(buf + 48);
    h->refcount_table_clusters = ldbe32(buf + 56);
    h->nb_snapshots = ldbe32(buf + 60);
    h->snapshots_offset = ldbe64(buf + 64);
    h->refcount_order = 4;
    h->header_length = QCOW2_V2_HEADER_LEN;
    if (h->version < 3 || len < QCOW2_V3_HEADER_LEN)
        return 0;
    h->incompatible_features = ldbe64(buf + 72);
    h->compatible_features = ldbe64(buf + 80);
    h->autoclear_features = ldbe64(buf + 88);
    h->refcount_order = ldbe32(buf + 96);
    h->header_length = ldbe32(buf + 100);
    if (h->header_length > QCOW2_V3_HEADER_LEN && len > QCOW2_V3_HEADER_LEN)
        h->compression_type = buf[104];
    return 0;
}

void qcow2_header_encode(const Qcow2Header *h, uint8_t *buf)
{
    stbe32(buf, QCOW2_MAGIC);
    stbe32(buf + 4, h->version);
    stbe64(buf + 8, h->backing_file_offset);
    stbe32(buf + 16, h->backing_file_size);
    stbe32(buf + 20, h->cluster_bits);
    stbe64(buf + 24, h->size);
    stbe32(buf + 32, h->crypt_method);
    stbe32(buf + 36, h->l1_size);
    stbe64(buf + 40, h->l1_table_offset);
    stbe64(buf + 48, h->refcount_table_offset);
    stbe32(buf + 56, h->refcount_table_clusters);
    stbe32(buf + 60, h->nb_snapshots);
    stbe64(buf + 64, h->snapshots_offset);
    if (h->version < 3)
        return;
    stbe64(buf + 72, h->incompatible_features);
    stbe64(buf + 80, h->compatible_features);
    stbe64(buf + 88, h->autoclear_features);
    stbe32(buf + 96, h->refcount_order);
    stbe32(buf + 100, h->header_length);
    if (h->header_length > QCOW2_V3_HEADER_LEN)
        buf[104] = h->compression_type;
}

Qcow2HeaderFault qcow2_header_check(const Qcow2Header *h)
{
    if (h->version != 2 && h->version != 3)
        return QCOW2_HEADER_BAD_VERSION;
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return QCOW2_HEADER_BAD_CLUSTER_BITS;
    /* v3: the header, with whatever optional fields, fits the first
     * cluster and keeps the extensions after it 8-byte aligned. */
    if (h->version == 3 && (h->header_length < QCOW2_V3_HEADER_LEN || h->header_length % 8 ||
                            h->header_length > (1u << h->cluster_bits)))
        return QCOW2_HEADER_BAD_LENGTH;
    if (h->refcount_order > 6)
        return QCOW2_HEADER_BAD_REFCOUNT_ORDER;
    return QCOW2_HEADER_OK;
}

int qcow2_next_extension(const uint8_t *buf, uint64_t end, uint64_t *off, Qcow2Extension *ext)
{
    if (*off + 8 > end)
        return 0;
    ext->type = ldbe32(buf + *off);
    ext->len = ldbe32(buf + *off + 4);
    ext->data = buf + *off + 8;
    if (ext->type == QCOW2_EXT_END)
        return 0;
    if (ext->len > end - *off - 8)
        return -1;
    *off += 8 + (((uint64_t)ext->len + 7) & ~7ull);
    return 1;
}

int qcow2_probe(const uint8_t *buf, size_t len)
{
    if (len < 8 || ldbe32(buf) != QCOW2_MAGIC)
        return 0;
    uint32_t v = ldbe32(buf + 4);
    return (v == 2 || v == 3) ? 100 : 0;
}

/* ---- open: checks ---- */

typedef struct OpenCtx {
    Qcow2State *s;
    uint8_t *hdr;           /* the first cluster (or what the file has) */
    uint64_t file_size;
    char feature_names[3][64][47];   /* from the feature name table */
} OpenCtx;

static int open_fail(const Qcow2State *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int open_fail(const Qcow2State *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    error_report("%s: %s", s->what, msg);
    return -1;
}

static void save_feature_names(OpenCtx *c, const Qcow2Extension *e)
{
    const uint32_t n = QCOW2_FEATURE_NAME_ENTRY_LEN;
    for (uint32_t i = 0; i + n <= e->len; i += n) {
        const uint8_t *d = e->data + i;
        if (d[0] < 3 && d[1] < 64)
            memcpy(c->feature_names[d[0]][d[1]], d + 2, n - 2);
    }
}

static int parse_extensions(OpenCtx *c)
{
    Qcow2State *s = c->s;
    uint64_t end = s->cluster_size, off = s->h.header_length;
    /* The backing file name, when present, ends the extension area. */
    if (s->h.backing_file_offset && s->h.backing_file_offset < end)
        end = s->h.backing_file_offset;
    Qcow2Extension e;
    int r;
    while ((r = qcow2_next_extension(c->hdr, end, &off, &e)) > 0) {
        if (e.type == QCOW2_EXT_BACKING_FORMAT) {
            free(s->backing_fmt);
            s->backing_fmt = xzalloc(e.len + 1);
            memcpy(s->backing_fmt, e.data, e.len);
        } else if (e.type == QCOW2_EXT_FEATURE_TABLE) {
            save_feature_names(c, &e);
        }
    }
    if (r < 0)
        return open_fail(s, "qcow2 header extension %#x is too long", e.type);
    return 0;
}

static int check_features(OpenCtx *c)
{
    Qcow2State *s = c->s;
    uint64_t inc = s->h.incompatible_features;
    static const struct { uint64_t bit; const char *name; } refused[] = {
        { QCOW2_INCOMPAT_DATA_FILE, "external data file" },
        { QCOW2_INCOMPAT_EXTL2, "extended L2 entries" },
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (inc & refused[i].bit)
            return open_fail(s, "qcow2 feature '%s' is not supported", refused[i].name);
    }
    if ((inc & QCOW2_INCOMPAT_COMPRESSION) && s->h.compression_type != 0)
        return open_fail(s, "qcow2 feature 'compression type %u' is not supported",
                         s->h.compression_type);
    uint64_t unknown = inc & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
                               QCOW2_INCOMPAT_COMPRESSION);
    for (int b = 0; b < 64; b++) {
        if (!(unknown & (1ull << b)))
            continue;
        const char *name = c->feature_names[0][b];
        if (name[0])
            return open_fail(s, "qcow2 feature '%s' is not supported", name);
        return open_fail(s, "qcow2 feature 'incompatible bit %d' is not supported", b);
    }
    if ((inc & QCOW2_INCOMPAT_CORRUPT) && s->writable)
        return open_fail(s, "qcow2 image is marked corrupt; use readonly=on or repair it "
                            "with 'qemu-img check -r all'");
    if (s->h.crypt_method)
        return open_fail(s, "qcow2 feature 'encryption' is not supported");
    return 0;
}

static bool range_in_file(uint64_t off, uint64_t len, uint64_t file_size)
{
    return off <= file_size && len <= file_size - off;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static int check_geometry(OpenCtx *c)
{
    Qcow2State *s = c->s;
    Qcow2Header *h = &s->h;
    /* Guest size: it must be covered by the L1 table, which QEMU limits
     * to 32 MiB. */
    uint64_t per_l1 = s->cluster_size << s->l2_bits;
    uint64_t need_l1 = h->size / per_l1 + (h->size % per_l1 != 0);
    if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES || need_l1 > QCOW2_MAX_L1_BYTES / 8)
        return open_fail(s, "qcow2 image size %llu is too large",
                         (unsigned long long)h->size);
    if (need_l1 > h->l1_size)
        return open_fail(s, "qcow2 L1 table of %u entries is too small for size %llu",
                         h->l1_size, (unsigned long long)h->size);
    uint64_t l1_bytes = (uint64_t)h->l1_size * 8;
    if (h->l1_size && (h->l1_table_offset % s->cluster_size ||
                       !range_in_file(h->l1_table_offset, l1_bytes, c->file_size)))
        return open_fail(s, "qcow2 L1 table at %#llx is beyond the end of the file or "
                            "misaligned", (unsigned long long)h->l1_table_offset);
    uint64_t rt_bytes = (uint64_t)h->refcount_table_clusters << s->cluster_bits;
    if (!h->refcount_table_clusters || rt_bytes > QCOW2_MAX_RT_BYTES ||
        h->refcount_table_offset % s->cluster_size ||
        !range_in_file(h->refcount_table_offset, rt_bytes, c->file_size))
        return open_fail(s, "qcow2 refcount table at %#llx (%u clusters) is invalid or "
                            "beyond the end of the file",
                         (unsigned long long)h->refcount_table_offset,
                         h->refcount_table_clusters);
    if (ranges_overlap(0, s->cluster_size, h->l1_table_offset, l1_bytes) ||
        ranges_overlap(0, s->cluster_size, h->refcount_table_offset, rt_bytes) ||
        ranges_overlap(h->l1_table_offset, l1_bytes, h->refcount_table_offset, rt_bytes))
        return open_fail(s, "qcow2 metadata overlaps (header, L1 table, refcount table)");
    if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS ||
        (h->nb_snapshots && (h->snapshots_offset % s->cluster_size ||
                             !range_in_file(h->snapshots_offset, QCOW2_SNAPSHOT_FIXED_LEN,
                                            c->file_size))))
        return open_fail(s, "qcow2 snapshot table is invalid");
    if (h->backing_file_offset &&
        (h->backing_file_size > QCOW2_MAX_BACKING_NAME ||
         h->backing_file_offset >= s->cluster_size ||
         h->backing_file_size > s->cluster_size - h->backing_file_offset ||
         !range_in_file(h->backing_file_offset, h->backing_file_size, c->file_size)))
        return open_fail(s, "qcow2 backing file name is invalid");
    return 0;
}

static int load_tables(OpenCtx *c)
{
    Qcow2State *s = c->s;
    s->l1_size = s->h.l1_size;
    s->l1_offset = s->h.l1_table_offset;
    s->l1 = xzalloc((size_t)s->l1_size * 8 + 8);
    if (s->l1_size && bfile_pread_sync(s->file, s->l1_offset, s->l1, (size_t)s->l1_size * 8))
        return open_fail(s, "cannot read the qcow2 L1 table");
    for (uint32_t i = 0; i < s->l1_size; i++) {
        s->l1[i] = be64_to_cpu(s->l1[i]);
        uint64_t l2 = s->l1[i] & QCOW2_L1E_OFFSET_MASK;
        if (l2 && (l2 % s->cluster_size || !range_in_file(l2, s->cluster_size, c->file_size) ||
                   l2 < s->cluster_size))
            return open_fail(s, "qcow2 L1 entry %u points to %#llx, beyond the end of the file "
                                "or misaligned", i, (unsigned long long)l2);
    }
    s->rt_clusters = s->h.refcount_table_clusters;
    s->rt_offset = s->h.refcount_table_offset;
    s->rt_entries = ((uint64_t)s->rt_clusters << s->cluster_bits) / 8;
    s->rt = xzalloc(s->rt_entries * 8);
    if (bfile_pread_sync(s->file, s->rt_offset, s->rt, s->rt_entries * 8))
        return open_fail(s, "cannot read the qcow2 refcount table");
    for (uint64_t i = 0; i < s->rt_entries; i++) {
        s->rt[i] = be64_to_cpu(s->rt[i]);
        uint64_t rb = s->rt[i] & QCOW2_REFT_OFFSET_MASK;
        if (rb && (rb % s->cluster_size || rb < s->cluster_size ||
                   !range_in_file(rb, s->cluster_size, c->file_size)))
            return open_fail(s, "qcow2 refcount block %llu at %#llx is beyond the end of the "
                                "file or misaligned", (unsigned long long)i,
                             (unsigned long long)rb);
    }
    return 0;
}

/* ---- backing files ---- */

/* Real paths of the images being opened, top first: a backing file that
 * is already in the list makes a loop. */
static char *open_chain[QCOW2_MAX_CHAIN + 1];
static int open_depth;

static char *backing_path(const Qcow2State *s)
{
    if (s->backing_name[0] == '/')
        return xstrdup(s->backing_name);
    char *dup = xstrdup(s->file->filename);
    char *path = xasprintf("%s/%s", dirname(dup), s->backing_name);
    free(dup);
    return path;
}

static const char *probe_backing(BlockFile *f)
{
    uint8_t buf[512] = { 0 };
    if (bfile_pread_sync(f, 0, buf, sizeof(buf)) == 0 && qcow2_probe(buf, sizeof(buf)))
        return "qcow2";
    return "raw";
}

static int open_backing(Qcow2State *s)
{
    char *path = backing_path(s);
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        int r = open_fail(s, "could not open backing file '%s': %s", path, strerror(errno));
        free(path);
        return r;
    }
    for (int i = 0; i < open_depth; i++) {
        if (strcmp(open_chain[i], real) == 0) {
            free(path);
            return open_fail(s, "backing file chain loops at '%s'", real);
        }
    }
    if (open_depth >= QCOW2_MAX_CHAIN) {
        free(path);
        return open_fail(s, "backing file chain is longer than %d images", QCOW2_MAX_CHAIN);
    }
    DriveOptions *o = &s->backing_opts;
    o->file = path;
    o->readonly = true;
    o->cache = s->bs->opts->cache;
    o->aio = BLK_AIO_THREADS;
    char *what = xasprintf("%s: backing file '%s'", s->what, path);
    BlockFile *f = bfile_open(o, what);
    int r = -1;
    if (f) {
        const char *fmt = s->backing_fmt && s->backing_fmt[0] ? s->backing_fmt
                                                              : probe_backing(f);
        const BlockDriver *drv = strcmp(fmt, "qcow2") == 0 ? &bdrv_qcow2
                               : strcmp(fmt, "raw") == 0   ? &bdrv_raw : NULL;
        o->format = xstrdup(fmt);
        s->backing = (BlockDriverState){ .drv = drv, .file = f, .opts = o };
        if (!drv)
            open_fail(s, "backing format '%s' is not supported", fmt);
        else if (drv->open(&s->backing, what) == 0)
            r = 0;
        if (r == 0)
            s->backing_len = drv->getlength(&s->backing);
        if (r == 0 && s->backing_len < 0) {
            open_fail(s, "cannot get the size of backing file '%s'", path);
            drv->close(&s->backing);
            r = -1;
        }
        if (r < 0) {
            bfile_close(f);
            s->backing.drv = NULL;
        }
    }
    free(what);
    return r;
}

int qcow2_backing_read(Qcow2State *s, uint64_t off, uint8_t *buf, uint64_t len)
{
    uint64_t n = 0;
    if (s->backing.drv && off < (uint64_t)s->backing_len)
        n = MIN(len, (uint64_t)s->backing_len - off);
    int r = 0;
    if (n && s->backing.drv == &bdrv_qcow2)
        r = qcow2_read(s->backing.opaque, off, buf, n);
    else if (n)
        r = bfile_pread_sync(s->backing.file, off, buf, n);
    memset(buf + n, 0, len - n);
    return r;
}

/* ---- open / close ---- */

static int check_header(const Qcow2State *s)
{
    const Qcow2Header *h = &s->h;
    switch (qcow2_header_check(h)) {
    case QCOW2_HEADER_OK:
        return 0;
    case QCOW2_HEADER_BAD_VERSION:
        return open_fail(s, "qcow2 version %u is not supported", h->version);
    case QCOW2_HEADER_BAD_CLUSTER_BITS:
        return open_fail(s, "qcow2 cluster size 2^%u is invalid", h->cluster_bits);
    case QCOW2_HEADER_BAD_LENGTH:
        return open_fail(s, "qcow2 header length %u is invalid", h->header_length);
    case QCOW2_HEADER_BAD_REFCOUNT_ORDER:
        return open_fail(s, "qcow2 refcount width 2^%u bits is invalid", h->refcount_order);
    }
    return -1;
}

static int read_header_cluster(OpenCtx *c)
{
    Qcow2State *s = c->s;
    uint8_t first[QCOW2_V3_HEADER_LEN_CT] = { 0 };
    size_t n = (size_t)MIN(c->file_size, sizeof(first));
    if (bfile_pread_sync(s->file, 0, first, n) < 0 || qcow2_header_decode(first, n, &s->h) < 0)
        return open_fail(s, "Image is not in qcow2 format");
    if (check_header(s) < 0)
        return -1;
    s->cluster_bits = s->h.cluster_bits;
    s->cluster_size = 1ull << s->cluster_bits;
    s->l2_bits = s->cluster_bits - 3;
    c->hdr = xzalloc(s->cluster_size);
    if (bfile_pread_sync(s->file, 0, c->hdr, (size_t)MIN(c->file_size, s->cluster_size)) < 0)
        return open_fail(s, "cannot read the qcow2 header");
    return 0;
}

static int open_image(OpenCtx *c)
{
    Qcow2State *s = c->s;
    if (read_header_cluster(c) < 0 || check_geometry(c) < 0 || parse_extensions(c) < 0 ||
        check_features(c) < 0 || load_tables(c) < 0)
        return -1;
    s->refcount_order = s->h.refcount_order;
    s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
    s->end_cluster = (c->file_size + s->cluster_size - 1) >> s->cluster_bits;
    /* Refcounts of a dirty image may be too low: never reuse clusters
     * that look free, allocate only at the end, and keep the bit set so
     * that the next full open repairs them. */
    s->was_dirty = (s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY) != 0;
    s->free_hint = s->was_dirty ? s->end_cluster : 1;
    if (s->h.backing_file_offset && s->h.backing_file_size) {
        s->backing_name = xzalloc(s->h.backing_file_size + 1);
        memcpy(s->backing_name, c->hdr + s->h.backing_file_offset, s->h.backing_file_size);
        if (open_backing(s) < 0)
            return -1;
    }
    return 0;
}

static void state_free(Qcow2State *s)
{
    if (s->backing.drv) {
        s->backing.drv->close(&s->backing);
        bfile_close(s->backing.file);
    }
    blk_drive_options_free(&s->backing_opts);
    qcow2_cache_free(&s->l2c);
    qcow2_cache_free(&s->rbc);
    free(s->l1);
    free(s->rt);
    free(s->cbuf);
    free(s->zbuf);
    free(s->backing_name);
    free(s->backing_fmt);
    free((char *)s->what);
    free(s);
}

static int qcow2_open(BlockDriverState *bs, const char *what)
{
    Qcow2State *s = xzalloc(sizeof(*s));
    s->bs = bs;
    s->file = bs->file;
    s->what = xstrdup(what);
    s->writable = !bs->file->readonly;
    s->l2c.n = QCOW2_L2_CACHE_SIZE;
    s->rbc.n = QCOW2_RB_CACHE_SIZE;
    OpenCtx *c = xzalloc(sizeof(*c));
    c->s = s;
    int64_t len = bfile_getlength(bs->file);
    c->file_size = len > 0 ? (uint64_t)len : 0;
    char real[PATH_MAX];
    if (open_depth > QCOW2_MAX_CHAIN || !realpath(bs->file->filename, real))
        snprintf(real, sizeof(real), "%s", bs->file->filename);
    open_chain[open_depth++] = real;
    int r = open_image(c);
    open_depth--;
    free(c->hdr);
    free(c);
    if (r < 0) {
        state_free(s);
        return -1;
    }
    s->cbuf = xmalloc(s->cluster_size);
    s->zbuf = xmalloc(2 * s->cluster_size);
    bs->opaque = s;
    return 0;
}

static int write_incompat(Qcow2State *s, uint64_t bits)
{
    uint8_t be[8];
    stbe64(be, bits);
    int r = qcow2_meta_write(s, QCOW2_OFF_INCOMPAT, be, 8);
    if (r == 0)
        s->h.incompatible_features = bits;
    return r;
}

static int flush_file(Qcow2State *s)
{
    BlockRequest req = { .type = BREQ_FLUSH };
    return bfile_execute(s->file, &req);
}

/*
 * Before the first change: clear autoclear bits for extensions vmm does
 * not maintain (bitmaps), and with lazy refcounts set the dirty bit, so
 * a crash makes the next open check refcounts (spec: "dirty bit").
 */
int qcow2_mark_dirty(Qcow2State *s)
{
    if (!s->writable)
        return -EROFS;
    if (s->h.version >= 3 && s->h.autoclear_features) {
        uint8_t zero[8] = { 0 };
        int r = qcow2_meta_write(s, QCOW2_OFF_AUTOCLEAR, zero, 8);
        if (r < 0)
            return r;
        s->h.autoclear_features = 0;
    }
    if (s->set_dirty || s->was_dirty || s->h.version < 3 ||
        !(s->h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS))
        return 0;
    int r = write_incompat(s, s->h.incompatible_features | QCOW2_INCOMPAT_DIRTY);
    if (r == 0)
        r = flush_file(s);
    if (r == 0)
        s->set_dirty = true;
    return r;
}

static void qcow2_close(BlockDriverState *bs)
{
    Qcow2State *s = bs->opaque;
    if (!s)
        return;
    if (s->writable && flush_file(s) == 0 && s->set_dirty && !s->corrupt) {
        /* Refcounts are always written through: clean on a clean close. */
        if (write_incompat(s, s->h.incompatible_features & ~QCOW2_INCOMPAT_DIRTY) == 0)
            flush_file(s);
    }
    state_free(s);
    bs->opaque = NULL;
}

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    Qcow2State *s = bs->opaque;
    return (int64_t)s->h.size;
}

/* ---- requests ---- */

static uint8_t *gather(const BlockRequest *req)
{
    uint8_t *buf = xmalloc(req->bytes ? req->bytes : 1), *p = buf;
    for (int i = 0; i < req->iovcnt; i++) {
        memcpy(p, req->iov[i].iov_base, req->iov[i].iov_len);
        p += req->iov[i].iov_len;
    }
    return buf;
}

static void scatter(const BlockRequest *req, const uint8_t *buf)
{
    for (int i = 0; i < req->iovcnt; i++) {
        memcpy(req->iov[i].iov_base, buf, req->iov[i].iov_len);
        buf += req->iov[i].iov_len;
    }
}

static int run_sync(Qcow2State *s, BlockRequest *req)
{
    uint8_t *buf;
    int r;
    switch (req->type) {
    case BREQ_READ:
        buf = xmalloc(req->bytes ? req->bytes : 1);
        r = qcow2_read(s, req->offset, buf, req->bytes);
        if (r == 0)
            scatter(req, buf);
        free(buf);
        return r;
    case BREQ_WRITE:
        buf = gather(req);
        r = qcow2_write(s, req->offset, buf, req->bytes);
        free(buf);
        return r;
    case BREQ_WRITE_ZEROES:
        return qcow2_write_zeroes(s, req->offset, req->bytes, req->flags & BLK_ZERO_MAY_UNMAP);
    case BREQ_DISCARD:
        return s->bs->opts->discard_unmap ? qcow2_discard(s, req->offset, req->bytes) : 0;
    case BREQ_FLUSH:
        return flush_file(s);
    }
    return -EINVAL;
}

static void qcow2_submit(BlockDriverState *bs, BlockRequest *req)
{
    Qcow2State *s = bs->opaque;
    uint64_t host;
    bool rw = req->type == BREQ_READ || req->type == BREQ_WRITE;
    /* Metadata is written through, so a flush only needs the file's. */
    if (req->type == BREQ_FLUSH ||
        (rw && req->bytes &&
         qcow2_map_contiguous(s, req->offset, req->bytes, req->type == BREQ_WRITE, &host))) {
        if (rw)
            req->offset = host;
        bfile_submit(s->file, req);
        return;
    }
    blk_complete_later(req, run_sync(s, req));
}

const BlockDriver bdrv_qcow2 = {
    .name = "qcow2",
    .probe = qcow2_probe,
    .open = qcow2_open,
    .close = qcow2_close,
    .getlength = qcow2_getlength,
    .submit = qcow2_submit,
};

