/*
 * The image tool's read-only views: format probing, qcow2 header parsing,
 * `vmm-img info` and `vmm-img map`, plus the small helpers the other image
 * files share (block/image_int.h).  Layout facts: QEMU docs/interop/qcow2.txt.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

/* ---- shared helpers ---- */

int img_pread(int fd, uint64_t off, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int img_pwrite(int fd, uint64_t off, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

char *img_resolve_backing(const char *image_path, const char *backing)
{
    const char *slash = strrchr(image_path, '/');
    if (backing[0] == '/' || !slash)
        return strdup(backing);
    size_t dirlen = (size_t)(slash - image_path) + 1;
    char *s = malloc(dirlen + strlen(backing) + 1);
    if (!s)
        return NULL;
    memcpy(s, image_path, dirlen);
    strcpy(s + dirlen, backing);
    return s;
}

/* ---- header ---- */

static void copy_string(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
    if (len >= dstlen)
        len = dstlen - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

/* Header extensions follow the header up to the end of the first cluster
 * (or the backing file name, which lives after them); an extension that
 * runs past that ends the search. */
static void parse_extensions(const uint8_t *b, size_t limit, ImgHeader *h)
{
    uint64_t off = h->header_length;
    Qcow2Extension e;
    while (qcow2_next_extension(b, limit, &off, &e) > 0) {
        if (e.type == QCOW2_EXT_BACKING_FORMAT) {
            copy_string(h->backing_fmt, sizeof(h->backing_fmt), e.data, e.len);
            h->has_backing_fmt = true;
        }
    }
}

/* A table's offset must be cluster aligned and its end representable as
 * a file offset; whether it lies inside the file is checked where it is
 * read (an L1 table past the end only fails when it is used). */
static bool table_offset_valid(const ImgHeader *h, uint64_t off, uint64_t len)
{
    return !(off & ((1ull << h->cluster_bits) - 1)) && off <= (uint64_t)INT64_MAX - len;
}

/*
 * The metadata tables the header points at, checked in the order (and
 * worded as) qemu-img does when it opens an image: the refcount table,
 * the snapshot table, the active L1 table, then whether that L1 table
 * covers the virtual size (which also bounds the size: at most INT_MAX
 * L1 entries' worth).
 */
static int validate_tables(const ImgHeader *h, const char *path, char *err, size_t errlen)
{
    unsigned cb = h->cluster_bits;
    const char *why = NULL;
    /* Guest bytes one L1 entry maps: a cluster of 8-byte L2 entries. */
    uint64_t per_l1 = 1ull << (cb + cb - 3);
    uint64_t need_l1 = h->size / per_l1 + (h->size % per_l1 != 0);
    if (!h->refcount_table_clusters)
        why = "Image does not contain a reference count table";
    else if ((uint64_t)h->refcount_table_clusters << cb > QCOW2_MAX_RT_BYTES)
        why = "Reference count table too large";
    else if (!table_offset_valid(h, h->refcount_table_offset,
                                 (uint64_t)h->refcount_table_clusters << cb))
        why = "Reference count table offset invalid";
    else if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        why = "Too many snapshots";
    else if (!table_offset_valid(h, h->snapshots_offset,
                                 (uint64_t)h->nb_snapshots * QCOW2_SNAPSHOT_FIXED_LEN))
        why = "Snapshot table offset invalid";
    else if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        why = "Active L1 table too large";
    else if (!table_offset_valid(h, h->l1_table_offset, (uint64_t)h->l1_size * 8))
        why = "Active L1 table offset invalid";
    else if (need_l1 > INT_MAX)
        why = "Image is too big";
    else if (h->l1_size < need_l1)
        why = "L1 table is too small";
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    return 0;
}

static int validate_header(const ImgHeader *h, const char *path, char *err, size_t errlen)
{
    const uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;
    switch (qcow2_header_check(&h->fixed)) {
    case QCOW2_HEADER_OK:
        break;
    case QCOW2_HEADER_BAD_VERSION:
        snprintf(err, errlen, "%s: Unsupported qcow2 version %u", path, h->version);
        return -1;
    case QCOW2_HEADER_BAD_CLUSTER_BITS:
        snprintf(err, errlen, "%s: Unsupported cluster size: 2^%u", path, h->cluster_bits);
        return -1;
    case QCOW2_HEADER_BAD_LENGTH:
        snprintf(err, errlen, "%s: Invalid qcow2 header length %u", path, h->header_length);
        return -1;
    case QCOW2_HEADER_BAD_REFCOUNT_ORDER:
        snprintf(err, errlen, "%s: Reference count entry width too large; may not exceed 64 bits",
                 path);
        return -1;
    }
    if (h->incompatible_features & ~known) {
        snprintf(err, errlen, "%s: Unsupported qcow2 feature(s): 0x%llx", path,
                 (unsigned long long)(h->incompatible_features & ~known));
        return -1;
    }
    if (h->crypt_method) {
        snprintf(err, errlen, "%s: Encrypted qcow2 images are not supported", path);
        return -1;
    }
    return validate_tables(h, path, err, errlen);
}

int img_read_header(int fd, const char *path, ImgHeader *h, char *err, size_t errlen)
{
    uint8_t b[4096];
    memset(h, 0, sizeof(*h));
    memset(b, 0, sizeof(b));
    ssize_t n = pread(fd, b, sizeof(b), 0);
    /* Past n, b is zeroes: a short v3 header decodes as zero fields. */
    if (n < QCOW2_V2_HEADER_LEN || qcow2_header_decode(b, sizeof(b), &h->fixed) < 0) {
        snprintf(err, errlen, "%s: Image is not in qcow2 format", path);
        return -1;
    }
    if (validate_header(h, path, err, errlen) < 0)
        return -1;
    /* Only the first cluster holds extensions; we look at its first 4 KiB
     * (512-byte clusters: the first 512 bytes). */
    size_t limit = MIN((size_t)n, (size_t)1 << h->cluster_bits);
    if (h->backing_file_offset && h->backing_file_offset < limit)
        limit = (size_t)h->backing_file_offset;
    parse_extensions(b, limit, h);
    if (h->backing_file_offset) {
        if (h->backing_file_size > QCOW2_MAX_BACKING_NAME) {
            snprintf(err, errlen, "%s: Backing file name too long", path);
            return -1;
        }
        uint8_t name[QCOW2_MAX_BACKING_NAME];
        if (img_pread(fd, h->backing_file_offset, name, h->backing_file_size) < 0) {
            snprintf(err, errlen, "%s: Could not read backing file name", path);
            return -1;
        }
        copy_string(h->backing_file, sizeof(h->backing_file), name, h->backing_file_size);
        h->has_backing = true;
    }
    return 0;
}

/* ---- probing and sizes ---- */

static int open_ro(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, errlen, "Could not open '%s': %s", path, strerror(errno));
    return fd;
}

static bool fd_is_qcow2(int fd)
{
    uint8_t magic[4];
    return img_pread(fd, 0, magic, 4) == 0 && ldbe32(magic) == QCOW2_MAGIC;
}

const char *image_probe_format(const char *path, char *err, size_t errlen)
{
    int fd = open_ro(path, err, errlen);
    if (fd < 0)
        return NULL;
    const char *fmt = fd_is_qcow2(fd) ? "qcow2" : "raw";
    close(fd);
    return fmt;
}

static int check_format_name(const char *format, const char *path, char *err, size_t errlen)
{
    if (format && strcmp(format, "raw") && strcmp(format, "qcow2")) {
        snprintf(err, errlen, "%s: Unknown image format '%s'", path, format);
        return -1;
    }
    return 0;
}

static int64_t fd_length(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        return end < 0 ? -errno : end;
    }
    return st.st_size;
}

int64_t img_virtual_size(const char *path, const char *format, char *err, size_t errlen)
{
    if (check_format_name(format, path, err, errlen) < 0)
        return -1;
    int fd = open_ro(path, err, errlen);
    if (fd < 0)
        return -1;
    int64_t size;
    if (format ? !strcmp(format, "qcow2") : fd_is_qcow2(fd)) {
        ImgHeader h;
        size = img_read_header(fd, path, &h, err, errlen) < 0 ? -1 : (int64_t)h.size;
    } else {
        size = fd_length(fd);
        if (size < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror((int)-size));
            size = -1;
        }
    }
    close(fd);
    return size;
}

/* ---- info ---- */

static char *dup_or_null(bool present, const char *s)
{
    return present ? strdup(s) : NULL;
}

static int info_qcow2(int fd, const char *path, ImageInfo *out, char *err, size_t errlen)
{
    ImgHeader h;
    if (img_read_header(fd, path, &h, err, errlen) < 0)
        return -1;
    out->format = strdup("qcow2");
    out->virtual_size = h.size;
    out->cluster_size = 1u << h.cluster_bits;
    out->backing_file = dup_or_null(h.has_backing, h.backing_file);
    out->full_backing_file = h.has_backing ? img_resolve_backing(path, h.backing_file) : NULL;
    out->backing_fmt = dup_or_null(h.has_backing_fmt, h.backing_fmt);
    out->compat = (int)h.version;
    out->lazy_refcounts = h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS;
    out->refcount_bits = 1u << h.refcount_order;
    out->corrupt = h.incompatible_features & QCOW2_INCOMPAT_CORRUPT;
    out->dirty = h.incompatible_features & QCOW2_INCOMPAT_DIRTY;
    out->incompatible_features = h.incompatible_features;
    out->compatible_features = h.compatible_features;
    out->autoclear_features = h.autoclear_features;
    ImgSnapshotEntry *snaps = NULL;
    if (img_read_snapshots(fd, &h, &snaps, err, errlen) < 0)
        return -1;
    if (h.nb_snapshots) {
        out->snapshots = calloc(h.nb_snapshots, sizeof(*out->snapshots));
        for (uint32_t i = 0; out->snapshots && i < h.nb_snapshots; i++) {
            out->snapshots[i] = snaps[i].info;
            memset(&snaps[i].info, 0, sizeof(snaps[i].info));
        }
        out->nb_snapshots = out->snapshots ? (int)h.nb_snapshots : 0;
    }
    img_free_snapshots(snaps, h.nb_snapshots);
    return 0;
}

int image_info(const char *path, const char *format, ImageInfo *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (check_format_name(format, path, err, errlen) < 0)
        return -1;
    int fd = open_ro(path, err, errlen);
    if (fd < 0)
        return -1;
    struct stat st;
    int ret = 0;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    out->filename = strdup(path);
    out->actual_size = (uint64_t)st.st_blocks * 512;
    if (format ? !strcmp(format, "qcow2") : fd_is_qcow2(fd)) {
        ret = info_qcow2(fd, path, out, err, errlen);
    } else {
        out->format = strdup("raw");
        out->virtual_size = (uint64_t)MAX(fd_length(fd), 0);
    }
    close(fd);
    if (ret < 0)
        image_info_free(out);
    return ret;
}

void image_info_free(ImageInfo *info)
{
    if (!info)
        return;
    free(info->filename);
    free(info->format);
    free(info->backing_file);
    free(info->full_backing_file);
    free(info->backing_fmt);
    image_snapshots_free(info->snapshots, info->nb_snapshots);
    memset(info, 0, sizeof(*info));
}

/* ---- map ---- */

/* One layer of the backing chain, open for reading. */
typedef struct MapLayer {
    int fd;
    bool qcow2;
    ImgHeader h;
    uint64_t size;
    uint64_t *l1;
    uint64_t *l2;               /* the last L2 table read */
    uint64_t l2_offset;
} MapLayer;

typedef struct MapState {
    MapLayer *layers;
    int nb_layers;
    ImageMap *out;
    size_t cap;
    int error;
} MapState;

static bool extent_continues(const ImageMapExtent *a, const ImageMapExtent *b)
{
    return a->start + a->length == b->start && a->depth == b->depth &&
           a->present == b->present && a->zero == b->zero && a->data == b->data &&
           a->compressed == b->compressed && a->has_offset == b->has_offset &&
           (!a->has_offset || a->offset + a->length == b->offset);
}

static void map_emit(MapState *s, ImageMapExtent e)
{
    ImageMap *m = s->out;
    if (!e.length)
        return;
    e.filename = m->files[e.depth];
    if (m->count && extent_continues(&m->ext[m->count - 1], &e)) {
        m->ext[m->count - 1].length += e.length;
        return;
    }
    if (m->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        ImageMapExtent *n = realloc(m->ext, cap * sizeof(*n));
        if (!n) {
            s->error = -ENOMEM;
            return;
        }
        m->ext = n;
        s->cap = cap;
    }
    m->ext[m->count++] = e;
}

/* Host bytes [host, host+len) of a layer's file: split into data and holes,
 * as QEMU's file layer reports them (a hole reads as zeroes).  A raw layer
 * is the file itself, so a hole there has no data; a qcow2 data cluster
 * keeps "data" (the format allocated it) and only gains "zero" over a hole,
 * which is what qemu-img map shows for both. */
static void map_host_range(MapState *s, int depth, uint64_t start, uint64_t len,
                           uint64_t host, bool raw)
{
    int fd = s->layers[depth].fd;
    while (len) {
        off_t data = lseek(fd, (off_t)host, SEEK_DATA);
        bool hole = data < 0 || (uint64_t)data > host;
        uint64_t seg;
        if (hole) {
            uint64_t end = data < 0 ? host + len : (uint64_t)data;
            seg = MIN(len, end - host);
        } else {
            off_t h = lseek(fd, (off_t)host, SEEK_HOLE);
            seg = h < 0 ? len : MIN(len, (uint64_t)h - host);
        }
        if (!seg)
            seg = len;
        map_emit(s, (ImageMapExtent){ .start = start, .length = seg, .depth = depth,
                                      .present = true, .zero = hole,
                                      .data = !(raw && hole), .has_offset = true,
                                      .offset = host });
        start += seg;
        host += seg;
        len -= seg;
    }
}

static void map_layer(MapState *s, int depth, uint64_t start, uint64_t len);

/* Unallocated in layer depth: the backing file answers where it reaches;
 * beyond it (or with no backing file) the range reads as zeroes. */
static void map_below(MapState *s, int depth, uint64_t start, uint64_t len)
{
    uint64_t covered = 0;
    if (depth + 1 < s->nb_layers) {
        uint64_t bsize = s->layers[depth + 1].size;
        covered = start >= bsize ? 0 : MIN(len, bsize - start);
        map_layer(s, depth + 1, start, covered);
    }
    map_emit(s, (ImageMapExtent){ .start = start + covered, .length = len - covered,
                                  .depth = depth, .zero = true });
}

static uint64_t *load_l2(MapState *s, MapLayer *l, uint64_t l2_offset)
{
    size_t cs = (size_t)1 << l->h.cluster_bits;
    if (l->l2 && l->l2_offset == l2_offset)
        return l->l2;
    if (!l->l2 && !(l->l2 = malloc(cs))) {
        s->error = -ENOMEM;
        return NULL;
    }
    int r = img_pread(l->fd, l2_offset, l->l2, cs);
    if (r < 0) {
        s->error = r;
        l->l2_offset = 0;
        return NULL;
    }
    l->l2_offset = l2_offset;
    return l->l2;
}

/* One guest cluster (or the part of it in [start, start+len)) of a qcow2 layer. */
static void map_qcow2_cluster(MapState *s, int depth, uint64_t start, uint64_t len)
{
    MapLayer *l = &s->layers[depth];
    unsigned cb = l->h.cluster_bits;
    uint64_t cs = 1ull << cb, l2_entries = cs / 8;
    uint64_t cluster = start >> cb, in_cluster = start & (cs - 1);
    uint64_t l1_index = cluster / l2_entries;
    uint64_t l1e = l1_index < l->h.l1_size ? l->l1[l1_index] : 0;
    if (!(l1e & QCOW2_L1E_OFFSET_MASK)) {
        map_below(s, depth, start, len);
        return;
    }
    uint64_t *l2 = load_l2(s, l, l1e & QCOW2_L1E_OFFSET_MASK);
    if (!l2)
        return;
    uint64_t l2e = ldbe64(&l2[cluster % l2_entries]);
    if (l2e & QCOW2_OFLAG_COMPRESSED) {
        map_emit(s, (ImageMapExtent){ .start = start, .length = len, .depth = depth,
                                      .present = true, .data = true, .compressed = true });
        return;
    }
    uint64_t host = l2e & QCOW2_L2E_OFFSET_MASK;
    bool zero_flag = l->h.version >= 3 && (l2e & QCOW2_OFLAG_ZERO);
    if (!host && zero_flag)
        map_emit(s, (ImageMapExtent){ .start = start, .length = len, .depth = depth,
                                      .present = true, .zero = true });
    else if (!host)
        map_below(s, depth, start, len);
    else if (zero_flag)
        map_emit(s, (ImageMapExtent){ .start = start, .length = len, .depth = depth,
                                      .present = true, .zero = true, .has_offset = true,
                                      .offset = host + in_cluster });
    else
        map_host_range(s, depth, start, len, host + in_cluster, false);
}

static void map_layer(MapState *s, int depth, uint64_t start, uint64_t len)
{
    MapLayer *l = &s->layers[depth];
    if (!l->qcow2) {
        map_host_range(s, depth, start, len, start, true);
        return;
    }
    uint64_t cs = 1ull << l->h.cluster_bits, span = cs * (cs / 8);
    while (len && !s->error) {
        uint64_t l1_index = start / span;
        uint64_t l1e = l1_index < l->h.l1_size ? l->l1[l1_index] : 0;
        uint64_t chunk;
        if (!(l1e & QCOW2_L1E_OFFSET_MASK)) {
            /* A whole unallocated L2 range at once. */
            chunk = MIN(len, span - start % span);
            map_below(s, depth, start, chunk);
        } else {
            chunk = MIN(len, cs - start % cs);
            map_qcow2_cluster(s, depth, start, chunk);
        }
        start += chunk;
        len -= chunk;
    }
}

static int open_layer(MapLayer *l, const char *path, const char *format, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    if (check_format_name(format, path, err, errlen) < 0)
        return -1;
    l->fd = open_ro(path, err, errlen);
    if (l->fd < 0)
        return -1;
    l->qcow2 = format ? !strcmp(format, "qcow2") : fd_is_qcow2(l->fd);
    if (!l->qcow2) {
        l->size = (uint64_t)MAX(fd_length(l->fd), 0);
        return 0;
    }
    if (img_read_header(l->fd, path, &l->h, err, errlen) < 0)
        return -1;
    l->size = l->h.size;
    l->l1 = calloc(l->h.l1_size ? l->h.l1_size : 1, 8);
    if (!l->l1 || (l->h.l1_size && img_pread(l->fd, l->h.l1_table_offset, l->l1,
                                               (size_t)l->h.l1_size * 8) < 0)) {
        snprintf(err, errlen, "%s: Could not read the L1 table", path);
        return -1;
    }
    for (uint32_t i = 0; i < l->h.l1_size; i++)
        l->l1[i] = ldbe64(&l->l1[i]);
    return 0;
}

static void close_layer(MapLayer *l)
{
    if (l->fd > 0)
        close(l->fd);
    free(l->l1);
    free(l->l2);
}

#define MAX_CHAIN 64

static int open_chain(MapState *s, const char *path, const char *format, char *err, size_t errlen)
{
    char *cur = strdup(path), *fmt = format ? strdup(format) : NULL;
    while (cur) {
        if (s->nb_layers == MAX_CHAIN) {
            snprintf(err, errlen, "%s: Backing chain too long", path);
            goto fail;
        }
        MapLayer *l = &s->layers[s->nb_layers];
        s->out->files[s->nb_layers] = cur;
        s->out->nb_files = ++s->nb_layers;
        if (open_layer(l, cur, fmt, err, errlen) < 0)
            goto fail;
        free(fmt);
        fmt = NULL;
        if (!l->qcow2 || !l->h.has_backing)
            break;
        if (l->h.has_backing_fmt)
            fmt = strdup(l->h.backing_fmt);
        cur = img_resolve_backing(cur, l->h.backing_file);
    }
    return 0;
fail:
    free(fmt);
    return -1;
}

int image_map(const char *path, const char *format, ImageMap *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    MapState s = { .out = out };
    s.layers = calloc(MAX_CHAIN, sizeof(*s.layers));
    out->files = calloc(MAX_CHAIN, sizeof(*out->files));
    int ret = -1;
    if (!s.layers || !out->files) {
        snprintf(err, errlen, "%s: Out of memory", path);
        goto out;
    }
    if (open_chain(&s, path, format, err, errlen) < 0)
        goto out;
    map_layer(&s, 0, 0, s.layers[0].size);
    if (s.error) {
        snprintf(err, errlen, "%s: Could not map the image: %s", path, strerror(-s.error));
        goto out;
    }
    ret = 0;
out:
    for (int i = 0; i < s.nb_layers; i++)
        close_layer(&s.layers[i]);
    free(s.layers);
    if (ret < 0)
        image_map_free(out);
    return ret;
}

void image_map_free(ImageMap *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nb_files; i++)
        free(m->files[i]);
    free(m->files);
    free(m->ext);
    memset(m, 0, sizeof(*m));
}
