/*
 * Image creation (`vmm-img create`, -snapshot overlays): raw files and
 * qcow2 images with every creation option qemu-img offers for them that
 * vmm supports.  A new qcow2 image is laid out as
 *     header | refcount table | refcount blocks | L1 | (L2 tables | data)
 * where the L2 tables and data clusters exist only with preallocation.
 * Layout facts: QEMU docs/interop/qcow2.txt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

typedef enum { PREALLOC_OFF, PREALLOC_METADATA, PREALLOC_FALLOC, PREALLOC_FULL } Prealloc;

static int parse_prealloc(const char *s, Prealloc *out)
{
    static const char *const names[] = { "off", "metadata", "falloc", "full" };
    if (!s) {
        *out = PREALLOC_OFF;
        return 0;
    }
    for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
        if (!strcmp(s, names[i])) {
            *out = (Prealloc)i;
            return 0;
        }
    }
    return -1;
}

static int create_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        snprintf(err, errlen, "%s: Could not create '%s': %s", path, path, strerror(errno));
    return fd;
}

/* Make [off, off+len) of the file really allocated: fallocate or zeroes. */
static int preallocate(int fd, uint64_t off, uint64_t len, Prealloc mode)
{
    if (!len || mode == PREALLOC_OFF || mode == PREALLOC_METADATA)
        return 0;
    if (mode == PREALLOC_FALLOC) {
        int r = posix_fallocate(fd, (off_t)off, (off_t)len);
        return r ? -r : 0;
    }
    static const uint8_t zeroes[64 * 1024];
    while (len) {
        size_t n = (size_t)MIN(len, sizeof(zeroes));
        int r = img_pwrite(fd, off, zeroes, n);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

static int finish_file(int fd, const char *path, int ret, char *err, size_t errlen)
{
    if (ret < 0)
        snprintf(err, errlen, "%s: Could not write the image: %s", path, strerror(-ret));
    else if (fsync(fd) < 0) {
        snprintf(err, errlen, "%s: Could not sync the image: %s", path, strerror(errno));
        ret = -1;
    }
    close(fd);
    return ret < 0 ? -1 : 0;
}

/* ---- raw ---- */

static int create_raw(const char *path, const ImageCreateOptions *o, uint64_t size,
                      Prealloc mode, char *err, size_t errlen)
{
    if (o->backing_file) {
        snprintf(err, errlen, "%s: Backing file not supported for file format 'raw'", path);
        return -1;
    }
    if (mode == PREALLOC_METADATA) {
        snprintf(err, errlen, "%s: Unsupported preallocation mode: metadata", path);
        return -1;
    }
    int fd = create_file(path, err, errlen);
    if (fd < 0)
        return -1;
    int ret = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
    if (!ret)
        ret = preallocate(fd, 0, size, mode);
    return finish_file(fd, path, ret, err, errlen);
}

/* ---- qcow2 header ---- */

/* Names of the features, for tools that do not know a bit (qcow2.txt,
 * "Feature name table"): type (0 incompatible, 1 compatible, 2 autoclear),
 * bit, name. */
static const struct { uint8_t type, bit; const char *name; } feature_names[] = {
    { 0, 0, "dirty bit" },
    { 0, 1, "corrupt bit" },
    { 0, 2, "external data file" },
    { 0, 3, "compression type" },
    { 0, 4, "extended L2 entries" },
    { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },
    { 2, 1, "raw external data" },
};
#define FEATURE_ENTRY_LEN 48

static size_t put_extension(uint8_t *p, uint32_t type, const void *data, uint32_t len)
{
    stbe32(p, type);
    stbe32(p + 4, len);
    memcpy(p + 8, data, len);
    return 8 + (((size_t)len + 7) & ~(size_t)7);
}

static size_t put_feature_table(uint8_t *p)
{
    uint8_t table[ARRAY_SIZE(feature_names) * FEATURE_ENTRY_LEN];
    memset(table, 0, sizeof(table));
    for (unsigned i = 0; i < ARRAY_SIZE(feature_names); i++) {
        uint8_t *e = table + i * FEATURE_ENTRY_LEN;
        e[0] = feature_names[i].type;
        e[1] = feature_names[i].bit;
        memcpy(e + 2, feature_names[i].name, strlen(feature_names[i].name));
    }
    return put_extension(p, QCOW2_EXT_FEATURE_TABLE, table, sizeof(table));
}

int img_build_header(uint8_t *buf, const ImgHeader *h, char *err, size_t errlen)
{
    size_t cs = (size_t)1 << h->cluster_bits;
    size_t hdr_len = h->version >= 3 ? IMG_V3_HEADER_LEN : QCOW2_V2_HEADER_LEN;
    size_t bf_len = h->has_backing ? strlen(h->backing_file) : 0;
    size_t fmt_len = h->has_backing_fmt ? strlen(h->backing_fmt) : 0;
    size_t need = hdr_len + 16 + ((fmt_len + 7) & ~(size_t)7) + 8 + bf_len;
    size_t table_len = 8 + ARRAY_SIZE(feature_names) * FEATURE_ENTRY_LEN;
    /* The feature name table is optional: left out when the first cluster
     * (512-byte clusters) has no room for it. */
    bool with_table = h->version >= 3 && need + table_len <= cs;
    if (bf_len > QCOW2_MAX_BACKING_NAME || need > cs) {
        snprintf(err, errlen, "Backing file name too long for the first cluster");
        return -1;
    }
    size_t off = hdr_len;
    if (h->has_backing_fmt)
        off += put_extension(buf + off, QCOW2_EXT_BACKING_FORMAT, h->backing_fmt, (uint32_t)fmt_len);
    if (with_table)
        off += put_feature_table(buf + off);
    off += 8;   /* end of extensions: type 0, length 0 */
    memcpy(buf + off, h->backing_file, bf_len);
    /* The fixed fields as given, but for where this layout puts things;
     * a fresh header always declares zlib compression. */
    Qcow2Header fixed = h->fixed;
    fixed.header_length = (uint32_t)hdr_len;
    fixed.compression_type = 0;
    fixed.backing_file_offset = h->has_backing ? off : 0;
    fixed.backing_file_size = (uint32_t)bf_len;
    qcow2_header_encode(&fixed, buf);
    return 0;
}

/* ---- qcow2 layout ---- */

typedef struct Layout {
    uint64_t cs;                /* cluster size */
    uint64_t rt_clusters;       /* refcount table */
    uint64_t rb_count;          /* refcount blocks */
    uint64_t l1_clusters, l2_count, data_clusters;
    uint64_t total;             /* clusters with refcount 1 */
    uint64_t rt_off, rb_off, l1_off, l2_off, data_off;
} Layout;

/* The refcount structures must also count themselves: grow them until the
 * number of clusters they describe stops changing. */
void img_refcount_sizes(uint64_t used, uint64_t per_block, uint64_t cs,
                        uint64_t *rb_count, uint64_t *rt_clusters)
{
    uint64_t rb_n = 1, rt_n = 1;
    for (;;) {
        uint64_t rb = div_round_up(used + rb_n + rt_n, per_block);
        uint64_t rt = div_round_up(rb * 8, cs);
        if (rb <= rb_n && rt <= rt_n)
            break;
        rb_n = MAX(rb, rb_n);
        rt_n = MAX(rt, rt_n);
    }
    *rb_count = rb_n;
    *rt_clusters = rt_n;
}

static void compute_layout(Layout *L, uint64_t cs, unsigned refcount_bits, uint32_t l1_size,
                           uint64_t size, bool prealloc)
{
    L->cs = cs;
    L->l1_clusters = div_round_up((uint64_t)l1_size * 8, cs);
    L->l2_count = prealloc ? l1_size : 0;
    L->data_clusters = prealloc ? div_round_up(size, cs) : 0;
    uint64_t others = 1 + L->l1_clusters + L->l2_count + L->data_clusters;
    img_refcount_sizes(others, cs * 8 / refcount_bits, cs, &L->rb_count, &L->rt_clusters);
    L->total = others + L->rb_count + L->rt_clusters;
    L->rt_off = cs;
    L->rb_off = L->rt_off + L->rt_clusters * cs;
    L->l1_off = L->rb_off + L->rb_count * cs;
    L->l2_off = L->l1_off + L->l1_clusters * cs;
    L->data_off = L->l2_off + L->l2_count * cs;
}

static int write_refcounts(int fd, const Layout *L, unsigned bits)
{
    uint64_t cs = L->cs, rb_entries = cs * 8 / bits;
    uint8_t *buf = calloc(1, cs * L->rt_clusters > cs ? cs * L->rt_clusters : cs);
    int ret = buf ? 0 : -ENOMEM;
    for (uint64_t i = 0; !ret && i < L->rb_count; i++)
        stbe64(buf + i * 8, L->rb_off + i * cs);
    if (!ret)
        ret = img_pwrite(fd, L->rt_off, buf, cs * L->rt_clusters);
    for (uint64_t b = 0; !ret && b < L->rb_count; b++) {
        memset(buf, 0, cs);
        for (uint64_t i = 0; i < rb_entries && b * rb_entries + i < L->total; i++)
            qcow2_refblock_set(buf, (unsigned)__builtin_ctz(bits), i, 1);
        ret = img_pwrite(fd, L->rb_off + b * cs, buf, cs);
    }
    free(buf);
    return ret;
}

/* L1 entries point at the preallocated L2 tables, whose entries point at
 * the data clusters; every refcount is 1, so both carry the COPIED flag. */
static int write_tables(int fd, const Layout *L, uint32_t l1_size)
{
    uint64_t cs = L->cs, l2_entries = cs / 8;
    if (!l1_size)
        return 0;
    uint8_t *buf = calloc(1, MAX(L->l1_clusters * cs, cs));
    if (!buf)
        return -ENOMEM;
    for (uint64_t i = 0; i < L->l2_count; i++)
        stbe64(buf + i * 8, (L->l2_off + i * cs) | QCOW2_OFLAG_COPIED);
    /* Only the L1 entries themselves, as qemu-img writes them: the file
     * ends after the table when nothing follows. */
    int ret = img_pwrite(fd, L->l1_off, buf, L->l2_count ? L->l1_clusters * cs
                                                        : (uint64_t)l1_size * 8);
    for (uint64_t t = 0; !ret && t < L->l2_count; t++) {
        memset(buf, 0, cs);
        for (uint64_t i = 0; i < l2_entries; i++) {
            uint64_t c = t * l2_entries + i;
            if (c >= L->data_clusters)
                break;
            stbe64(buf + i * 8, (L->data_off + c * cs) | QCOW2_OFLAG_COPIED);
        }
        ret = img_pwrite(fd, L->l2_off + t * cs, buf, cs);
    }
    free(buf);
    return ret;
}

static int check_qcow2_options(const char *path, const ImageCreateOptions *o, int version,
                               unsigned refcount_bits, uint32_t cs, char *err, size_t errlen)
{
    if (version != 2 && version != 3) {
        snprintf(err, errlen, "%s: Invalid compatibility level: '%d'", path, version);
        return -1;
    }
    if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1))) {
        snprintf(err, errlen, "%s: Cluster size must be a power of two between 512 and 2048k",
                 path);
        return -1;
    }
    if (!refcount_bits || refcount_bits > 64 || (refcount_bits & (refcount_bits - 1))) {
        snprintf(err, errlen, "%s: Refcount width must be a power of two and may not exceed 64 bits",
                 path);
        return -1;
    }
    if (version == 2 && o->lazy_refcounts) {
        snprintf(err, errlen, "%s: Lazy refcounts only supported with compatibility level 1.1 "
                 "and above (use version=v3 or greater)", path);
        return -1;
    }
    if (version == 2 && refcount_bits != 16) {
        snprintf(err, errlen, "%s: Different refcount widths than 16 bits require compatibility "
                 "level 1.1 or above (use version=v3 or greater)", path);
        return -1;
    }
    return 0;
}

/* Size 0 with a backing file: the backing file's size.  The backing file
 * must exist; its format is probed when not given. */
static int resolve_backing(const char *path, const ImageCreateOptions *o, ImgHeader *h,
                           uint64_t *size, char *err, size_t errlen)
{
    char *full = img_resolve_backing(path, o->backing_file);
    char sub[256];
    const char *fmt = o->backing_fmt;
    int ret = -1;
    if (!full)
        goto out;
    if (!fmt && !(fmt = image_probe_format(full, sub, sizeof(sub)))) {
        snprintf(err, errlen, "%s: %s", path, sub);
        goto out;
    }
    int64_t bsize = img_virtual_size(full, fmt, sub, sizeof(sub));
    if (bsize < 0) {
        snprintf(err, errlen, "%s: %s", path, sub);
        goto out;
    }
    if (!*size)
        *size = (uint64_t)bsize;
    if (strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME || strlen(fmt) >= sizeof(h->backing_fmt)) {
        snprintf(err, errlen, "%s: Backing file name too long", path);
        goto out;
    }
    strcpy(h->backing_file, o->backing_file);
    strcpy(h->backing_fmt, fmt);
    h->has_backing = h->has_backing_fmt = true;
    ret = 0;
out:
    free(full);
    return ret;
}

static int write_qcow2(int fd, ImgHeader *h, uint64_t size, Prealloc mode, char *err,
                       size_t errlen)
{
    uint64_t cs = 1ull << h->cluster_bits;
    Layout L;
    compute_layout(&L, cs, 1u << h->refcount_order, h->l1_size, size, mode != PREALLOC_OFF);
    h->refcount_table_offset = L.rt_off;
    h->refcount_table_clusters = (uint32_t)L.rt_clusters;
    h->l1_table_offset = L.l1_off;
    uint8_t *hdr = calloc(1, cs);
    if (!hdr)
        return -ENOMEM;
    int ret = img_build_header(hdr, h, err, errlen) < 0 ? -EINVAL : 0;
    if (!ret)
        ret = img_pwrite(fd, 0, hdr, cs);
    free(hdr);
    if (!ret)
        ret = write_refcounts(fd, &L, 1u << h->refcount_order);
    if (!ret)
        ret = write_tables(fd, &L, h->l1_size);
    if (!ret && mode != PREALLOC_OFF && ftruncate(fd, (off_t)(L.data_off + L.data_clusters * cs)))
        ret = -errno;
    if (!ret)
        ret = preallocate(fd, L.data_off, L.data_clusters * cs, mode);
    return ret;
}

static int create_qcow2(const char *path, const ImageCreateOptions *o, uint64_t size,
                        Prealloc mode, char *err, size_t errlen)
{
    int version = o->compat ? o->compat : 3;
    unsigned refcount_bits = o->refcount_bits ? o->refcount_bits : 16;
    uint32_t cs = o->cluster_size ? o->cluster_size : 64 * KiB;
    ImgHeader h;
    memset(&h, 0, sizeof(h));
    if (check_qcow2_options(path, o, version, refcount_bits, cs, err, errlen) < 0)
        return -1;
    if (o->backing_file && resolve_backing(path, o, &h, &size, err, errlen) < 0)
        return -1;
    size = (size + BDRV_SECTOR_SIZE - 1) & ~(uint64_t)(BDRV_SECTOR_SIZE - 1);
    h.version = (uint32_t)version;
    h.cluster_bits = (uint32_t)__builtin_ctz(cs);
    h.size = size;
    h.refcount_order = (uint32_t)__builtin_ctz(refcount_bits);
    h.compatible_features = o->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0;
    uint64_t l1 = div_round_up(size, (uint64_t)cs * (cs / 8));
    if (l1 > QCOW2_MAX_L1_BYTES / 8) {
        snprintf(err, errlen, "%s: Image size is too large for this cluster size", path);
        return -1;
    }
    h.l1_size = (uint32_t)l1;
    int fd = create_file(path, err, errlen);
    if (fd < 0)
        return -1;
    int ret = write_qcow2(fd, &h, size, mode, err, errlen);
    if (ret == -EINVAL) {   /* err already says why */
        close(fd);
        return -1;
    }
    return finish_file(fd, path, ret, err, errlen);
}

int blk_image_create(const char *path, const ImageCreateOptions *o, char *err, size_t errlen)
{
    Prealloc mode;
    const char *format = o->format ? o->format : "raw";
    if (parse_prealloc(o->preallocation, &mode) < 0) {
        snprintf(err, errlen, "%s: Parameter 'preallocation' does not accept value '%s'", path,
                 o->preallocation);
        return -1;
    }
    uint64_t size = (o->size + BDRV_SECTOR_SIZE - 1) & ~(uint64_t)(BDRV_SECTOR_SIZE - 1);
    if (!strcmp(format, "raw"))
        return create_raw(path, o, size, mode, err, errlen);
    if (!strcmp(format, "qcow2"))
        return create_qcow2(path, o, size, mode, err, errlen);
    snprintf(err, errlen, "%s: Unknown file format '%s'", path, format);
    return -1;
}
