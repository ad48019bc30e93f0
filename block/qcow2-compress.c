/*
 * A qcow2 image written in one sequential pass with compressed clusters
 * (`vmm-img convert -c`).  Data goes out as it comes, after the header
 * cluster: compressed clusters packed byte by byte (qcow2.txt, "Compressed
 * Clusters Descriptor": they need not be aligned and may cross host
 * clusters), clusters that do not compress aligned to a host cluster.  The
 * L2 tables, L1 table and refcounts are kept in memory and written after
 * the data; the header goes last, so a file cut short is not a valid image.
 * Compression is raw deflate (no zlib header), as qcow2 requires.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "image_int.h"
#include "util.h"

struct ImageCompressWriter {
    int fd;
    char *path;
    ImgHeader h;
    uint64_t cs;
    uint64_t nb_clusters;       /* guest clusters */
    uint64_t *l2e;              /* one L2 entry per guest cluster, host order */
    uint64_t pos;               /* next free byte in the file */
    uint8_t *out;               /* compression output, one cluster */
};

/* Options as blk_image_create takes them, for the same checks. */
static int writer_options(ImageCompressWriter *w, const ImageCreateOptions *o, char *err,
                          size_t errlen)
{
    uint32_t cs = o->cluster_size ? o->cluster_size : 64 * KiB;
    unsigned rb = o->refcount_bits ? o->refcount_bits : 16;
    int version = o->compat ? o->compat : 3;
    if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1)) || (version != 2 && version != 3) ||
        !rb || rb > 64 || (rb & (rb - 1)) || (version == 2 && rb != 16)) {
        snprintf(err, errlen, "%s: Invalid options for a compressed qcow2 image", w->path);
        return -1;
    }
    w->cs = cs;
    w->h.version = (uint32_t)version;
    w->h.cluster_bits = (uint32_t)__builtin_ctz(cs);
    w->h.refcount_order = (uint32_t)__builtin_ctz(rb);
    w->h.size = (o->size + 511) & ~511ull;
    if (o->backing_file) {
        if (strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME ||
            (o->backing_fmt && strlen(o->backing_fmt) >= sizeof(w->h.backing_fmt))) {
            snprintf(err, errlen, "%s: Backing file name too long", w->path);
            return -1;
        }
        strcpy(w->h.backing_file, o->backing_file);
        w->h.has_backing = true;
        if (o->backing_fmt) {
            strcpy(w->h.backing_fmt, o->backing_fmt);
            w->h.has_backing_fmt = true;
        }
    }
    w->nb_clusters = div_round_up(w->h.size, cs);
    uint64_t l1 = div_round_up(w->nb_clusters, cs / 8);
    if (l1 > QCOW2_MAX_L1_BYTES / 8) {
        snprintf(err, errlen, "%s: Image size is too large for this cluster size", w->path);
        return -1;
    }
    w->h.l1_size = (uint32_t)l1;
    return 0;
}

ImageCompressWriter *image_compress_open(const char *path, const ImageCreateOptions *o,
                                         char *err, size_t errlen)
{
    ImageCompressWriter *w = calloc(1, sizeof(*w));
    if (!w || !(w->path = strdup(path))) {
        free(w);
        snprintf(err, errlen, "%s: Out of memory", path);
        return NULL;
    }
    w->fd = -1;
    if (writer_options(w, o, err, errlen) < 0)
        goto fail;
    w->l2e = calloc(w->nb_clusters ? w->nb_clusters : 1, 8);
    w->out = malloc(w->cs);
    if (!w->l2e || !w->out) {
        snprintf(err, errlen, "%s: Out of memory", path);
        goto fail;
    }
    w->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        snprintf(err, errlen, "%s: Could not create '%s': %s", path, path, strerror(errno));
        goto fail;
    }
    w->pos = w->cs;     /* cluster 0: the header, written last */
    return w;
fail:
    image_compress_abort(w);
    return NULL;
}

uint32_t image_compress_cluster_size(const ImageCompressWriter *w)
{
    return (uint32_t)w->cs;
}

/* Raw deflate of one cluster into w->out; its length, or 0 when it does
 * not save at least one sector. */
static size_t deflate_cluster(ImageCompressWriter *w, const void *buf)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* Negative window bits: raw deflate, no zlib header or checksum. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (Bytef *)buf;
    z.avail_in = (uInt)w->cs;
    z.next_out = w->out;
    z.avail_out = (uInt)(w->cs - 512);
    int r = deflate(&z, Z_FINISH);
    size_t len = r == Z_STREAM_END ? z.total_out : 0;
    deflateEnd(&z);
    return len;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

int image_compress_write(ImageCompressWriter *w, uint64_t cluster_index, const void *buf)
{
    if (cluster_index >= w->nb_clusters || w->l2e[cluster_index])
        return -EINVAL;
    if (all_zero(buf, w->cs)) {
        if (!w->h.has_backing)
            return 0;
        if (w->h.version >= 3) {
            w->l2e[cluster_index] = QCOW2_OFLAG_ZERO;
            return 0;
        }
    }
    size_t len = deflate_cluster(w, buf);
    if (len) {
        int r = img_pwrite(w->fd, w->pos, w->out, len);
        if (r < 0)
            return r;
        w->l2e[cluster_index] = qcow2_compressed_descriptor(w->pos, len, w->h.cluster_bits);
        w->pos += len;
        return 0;
    }
    uint64_t off = (w->pos + w->cs - 1) & ~(w->cs - 1);
    int r = img_pwrite(w->fd, off, buf, w->cs);
    if (r < 0)
        return r;
    w->l2e[cluster_index] = off | QCOW2_OFLAG_COPIED;
    w->pos = off + w->cs;
    return 0;
}

/* ---- metadata ---- */

typedef struct Refs {
    uint64_t *n;
    uint64_t size;
} Refs;

static int refs_add(Refs *r, uint64_t first, uint64_t last)
{
    if (last >= r->size) {
        uint64_t size = MAX(last + 1, r->size * 2);
        uint64_t *n = realloc(r->n, size * 8);
        if (!n)
            return -ENOMEM;
        memset(n + r->size, 0, (size - r->size) * 8);
        r->n = n;
        r->size = size;
    }
    for (uint64_t i = first; i <= last; i++)
        r->n[i]++;
    return 0;
}

static int count_data_refs(ImageCompressWriter *w, Refs *r)
{
    unsigned cb = w->h.cluster_bits;
    int ret = refs_add(r, 0, 0);
    for (uint64_t i = 0; !ret && i < w->nb_clusters; i++) {
        uint64_t e = w->l2e[i];
        if (e & QCOW2_OFLAG_COMPRESSED) {
            uint64_t off = qcow2_compressed_offset(e, cb) & ~511ull;
            uint64_t len = qcow2_compressed_size(e, cb) + (qcow2_compressed_offset(e, cb) & 511);
            ret = refs_add(r, off >> cb, (off + len - 1) >> cb);
        } else if (e & QCOW2_L2E_OFFSET_MASK) {
            uint64_t c = (e & QCOW2_L2E_OFFSET_MASK) >> cb;
            ret = refs_add(r, c, c);
        }
    }
    return ret;
}

/* L2 tables (only those with an entry) then the L1 table, from w->pos. */
static int write_tables(ImageCompressWriter *w, Refs *r)
{
    uint64_t per = w->cs / 8, l1_bytes = (uint64_t)w->h.l1_size * 8;
    uint8_t *l1 = calloc(1, l1_bytes ? l1_bytes : 1), *l2 = malloc(w->cs);
    int ret = l1 && l2 ? 0 : -ENOMEM;
    for (uint64_t t = 0; !ret && t < w->h.l1_size; t++) {
        bool used = false;
        memset(l2, 0, w->cs);
        for (uint64_t i = 0; i < per && t * per + i < w->nb_clusters; i++) {
            stbe64(l2 + i * 8, w->l2e[t * per + i]);
            used |= w->l2e[t * per + i] != 0;
        }
        if (!used)
            continue;
        ret = img_pwrite(w->fd, w->pos, l2, w->cs);
        if (!ret)
            ret = refs_add(r, w->pos >> w->h.cluster_bits, w->pos >> w->h.cluster_bits);
        stbe64(l1 + t * 8, w->pos | QCOW2_OFLAG_COPIED);
        w->pos += w->cs;
    }
    w->h.l1_table_offset = w->pos;
    if (!ret && l1_bytes) {
        uint64_t l1_clusters = div_round_up(l1_bytes, w->cs);
        ret = img_pwrite(w->fd, w->pos, l1, l1_bytes);
        if (!ret)
            ret = refs_add(r, w->pos >> w->h.cluster_bits,
                           (w->pos >> w->h.cluster_bits) + l1_clusters - 1);
        w->pos += l1_clusters * w->cs;
    }
    free(l1);
    free(l2);
    return ret;
}

/* Refcount blocks and table at the end, counting themselves. */
static int write_refcounts(ImageCompressWriter *w, Refs *r)
{
    unsigned order = w->h.refcount_order;
    uint64_t per = w->cs * 8 >> order, start = w->pos / w->cs;
    uint64_t rb_count, rt_clusters;
    img_refcount_sizes(start, per, w->cs, &rb_count, &rt_clusters);
    uint64_t total = start + rb_count + rt_clusters;
    int ret = refs_add(r, start, total - 1);
    uint8_t *buf = calloc(rt_clusters, w->cs);
    if (!buf)
        ret = -ENOMEM;
    for (uint64_t b = 0; !ret && b < rb_count; b++) {
        memset(buf, 0, w->cs);
        for (uint64_t i = 0; i < per && b * per + i < total; i++) {
            uint64_t n = r->n[b * per + i];
            if (n > qcow2_refcount_max(order))
                ret = -ERANGE;
            qcow2_refblock_set(buf, order, i, n);
        }
        if (!ret)
            ret = img_pwrite(w->fd, (start + b) * w->cs, buf, w->cs);
    }
    if (!ret) {
        memset(buf, 0, rt_clusters * w->cs);
        for (uint64_t b = 0; b < rb_count; b++)
            stbe64(buf + b * 8, (start + b) * w->cs);
        ret = img_pwrite(w->fd, (start + rb_count) * w->cs, buf, rt_clusters * w->cs);
    }
    w->h.refcount_table_offset = (start + rb_count) * w->cs;
    w->h.refcount_table_clusters = (uint32_t)rt_clusters;
    free(buf);
    return ret;
}

int image_compress_finish(ImageCompressWriter *w, char *err, size_t errlen)
{
    Refs r = { 0 };
    w->pos = (w->pos + w->cs - 1) & ~(w->cs - 1);
    int ret = count_data_refs(w, &r);
    if (!ret)
        ret = write_tables(w, &r);
    if (!ret)
        ret = write_refcounts(w, &r);
    uint8_t *hdr = calloc(1, w->cs);
    if (!ret && !hdr)
        ret = -ENOMEM;
    /* Everything the header points at is on disk before the header. */
    if (!ret && fsync(w->fd) < 0)
        ret = -errno;
    if (!ret && img_build_header(hdr, &w->h, err, errlen) < 0) {
        free(hdr);
        free(r.n);
        image_compress_abort(w);
        return -1;
    }
    if (!ret)
        ret = img_pwrite(w->fd, 0, hdr, w->cs);
    if (!ret && fsync(w->fd) < 0)
        ret = -errno;
    free(hdr);
    free(r.n);
    if (ret < 0)
        snprintf(err, errlen, "%s: Could not write the image: %s", w->path, strerror(-ret));
    image_compress_abort(w);
    return ret < 0 ? -1 : 0;
}

void image_compress_abort(ImageCompressWriter *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->l2e);
    free(w->out);
    free(w->path);
    free(w);
}
