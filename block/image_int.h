/*
 * Internals shared by the image tool's files (create.c, image-info.c,
 * qcow2-check.c, qcow2-snapshot.c, qcow2-compress.c): a parsed header
 * with its extensions, the snapshot table, whole-buffer file I/O.  These
 * work on plain fds, synchronously; the on-disk constants and big-endian
 * and refcount-entry helpers come from the driver's block/qcow2.h.
 */
#ifndef VMM_BLOCK_IMAGE_INT_H
#define VMM_BLOCK_IMAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "qcow2.h"

#define IMG_V3_HEADER_LEN       QCOW2_V3_HEADER_LEN_CT  /* we write compression_type */

/*
 * The parsed header (host byte order): the fixed fields by name (h->size)
 * and, the same bytes, as the driver's Qcow2Header (h->fixed) for
 * qcow2_header_{decode,encode,check}; then what the extensions and the
 * backing name area add.
 */
typedef struct ImgHeader {
    union {
        Qcow2Header fixed;
        struct { QCOW2_HEADER_FIELDS };
    };
    char backing_file[QCOW2_MAX_BACKING_NAME + 1];
    char backing_fmt[64];
    bool has_backing, has_backing_fmt;
} ImgHeader;

static inline uint64_t div_round_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

/* Whole-buffer I/O: 0, or -errno (-EIO for a short read past the end). */
int img_pread(int fd, uint64_t off, void *buf, size_t len);
int img_pwrite(int fd, uint64_t off, const void *buf, size_t len);

/* Read and validate the header of an open qcow2 file (version 2 or 3,
 * cluster bits 9..21, refcount order <= 6, no unknown incompatible
 * features other than dirty/corrupt).  0, or -1 with err naming path. */
int img_read_header(int fd, const char *path, ImgHeader *h, char *err, size_t errlen);

/* Fill buf (one cluster, zeroed by the caller) with a header plus the
 * backing format and feature table extensions and the backing name.
 * -1 with err when they do not fit in the cluster. */
int img_build_header(uint8_t *buf, const ImgHeader *h, char *err, size_t errlen);

/* Refcount blocks and table clusters (each at least 1) that count `used`
 * clusters plus themselves; per_block entries fit in one refcount block
 * (create.c). */
void img_refcount_sizes(uint64_t used, uint64_t per_block, uint64_t cs,
                        uint64_t *rb_count, uint64_t *rt_clusters);

/* The backing file path as a program would open it: absolute, or relative
 * to the directory of the image.  Caller frees. */
char *img_resolve_backing(const char *image_path, const char *backing);

/* Virtual size of an image file (format NULL = probe); -1 with err. */
int64_t img_virtual_size(const char *path, const char *format, char *err, size_t errlen);

/* Parsed snapshot table (qcow2-snapshot.c); entries own their strings. */
typedef struct ImgSnapshotEntry {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    ImageSnapshot info;
    uint64_t table_offset;      /* where the entry starts in the file */
    uint32_t entry_size;        /* bytes, padded to 8 */
} ImgSnapshotEntry;
int img_read_snapshots(int fd, const ImgHeader *h, ImgSnapshotEntry **out,
                         char *err, size_t errlen);
void img_free_snapshots(ImgSnapshotEntry *s, uint32_t n);
/* Bytes the snapshot table occupies (sum of padded entry sizes). */
uint64_t img_snapshot_table_size(const ImgSnapshotEntry *s, uint32_t n);

#endif
