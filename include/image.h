/*
 * The image tool's subsystem (vmm-img): inspecting, checking, repairing and
 * writing raw and qcow2 image files directly, without a BlockBackend or a
 * main loop.  Everything here is synchronous and single-threaded, links with
 * block/ and util/ only, and reports user errors as one line in err
 * ("<what>: <why>", no "vmm: " prefix, no newline) for the caller to print.
 *
 * Creation itself is blk_image_create() in block.h (block/create.c).
 * The on-disk format is QEMU's docs/interop/qcow2.txt.
 */
#ifndef VMM_IMAGE_H
#define VMM_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "block.h"

/* ---- snapshots (block/qcow2-snapshot.c) ---- */
typedef struct ImageSnapshot {
    char *id;                   /* "1", "2", ... */
    char *name;                 /* the tag */
    uint64_t vm_state_size;     /* bytes of saved VM state (0: disk-only) */
    uint32_t date_sec;          /* wall clock at creation, seconds since the epoch */
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;     /* guest clock at creation */
    uint64_t disk_size;         /* virtual disk size at creation (v3 extra data,
                                 * else the image's current size) */
    int64_t icount;             /* -1 when not recorded */
} ImageSnapshot;

/* The snapshot table of a qcow2 image (a raw image has none: 0 entries).
 * *out is NULL when there are none.  0, or -1 with err. */
int image_snapshot_list(const char *path, ImageSnapshot **out, int *count,
                        char *err, size_t errlen);
void image_snapshots_free(ImageSnapshot *s, int count);

/* ---- info (block/image-info.c) ---- */
typedef struct ImageInfo {
    char *filename;             /* as given */
    char *format;               /* "raw" or "qcow2" */
    uint64_t virtual_size;
    uint64_t actual_size;       /* "disk size": bytes allocated on the host */
    /* qcow2 only (zero / NULL / false for raw): */
    uint32_t cluster_size;
    char *backing_file;         /* as stored in the header, NULL if none */
    char *full_backing_file;    /* resolved against the image's directory */
    char *backing_fmt;          /* backing format extension, NULL if none */
    int compat;                 /* 2 = "0.10", 3 = "1.1" */
    bool lazy_refcounts;
    unsigned refcount_bits;
    bool corrupt;               /* incompatible feature bit 1 */
    bool dirty;                 /* incompatible feature bit 0 ("dirty-flag") */
    bool encrypted;
    uint64_t incompatible_features, compatible_features, autoclear_features;
    ImageSnapshot *snapshots;
    int nb_snapshots;
} ImageInfo;

/* format: "raw", "qcow2", or NULL to probe (qcow2 magic, else raw).
 * 0, or -1 with err (missing file, unsupported version, bad header). */
int image_info(const char *path, const char *format, ImageInfo *out,
               char *err, size_t errlen);
void image_info_free(ImageInfo *info);

/* The probed format of a file: "qcow2" or "raw"; NULL (with err) if it
 * cannot be read. */
const char *image_probe_format(const char *path, char *err, size_t errlen);

/* ---- check and repair (block/qcow2-check.c) ---- */
#define IMAGE_REPAIR_LEAKS  1   /* -r leaks: free clusters nobody references */
#define IMAGE_REPAIR_ERRORS 2   /* also fix corruptions; -r all = both bits */
#define IMAGE_REPAIR_ALL    (IMAGE_REPAIR_LEAKS | IMAGE_REPAIR_ERRORS)

typedef struct ImageCheckResult {
    int corruptions;            /* found and not fixed */
    int leaks;                  /* found and not fixed */
    int check_errors;           /* the check itself could not complete (I/O) */
    int corruptions_fixed;
    int leaks_fixed;
    uint64_t image_end_offset;  /* end of the last used host cluster */
    uint64_t total_clusters;    /* guest clusters (virtual size / cluster) */
    uint64_t allocated_clusters;
    uint64_t fragmented_clusters;
    uint64_t compressed_clusters;
} ImageCheckResult;

/*
 * Check a qcow2 image: walk the L1/L2 tables, snapshots' tables and the
 * refcount structures, compute what every host cluster's refcount should
 * be, and compare.  One line per problem goes to log (stderr for vmm-img),
 * worded as qemu-img does:
 *     Leaked cluster N refcount=M reference=0
 *     ERROR cluster N refcount=M reference=R
 *     ERROR offset=X: Data cluster is not properly aligned; L2 entry corrupted.
 *     ERROR l2_offset=X: Table is outside the image / overlaps ...
 * and, when repairing, "Repairing cluster N refcount=M reference=R".
 * repair: 0 (check only) or IMAGE_REPAIR_* bits.  Repairs write in an order
 * that leaves an interrupted repair repairable again.
 *
 * Like qemu-img, a caller that repaired something (leaks_fixed or
 * corruptions_fixed non-zero) prints "The following inconsistencies were
 * found and repaired:" with the counts, then "Double checking the fixed
 * image now..." and calls image_check again with repair = 0 to report the
 * final state (keeping the *_fixed counts of the first run).
 *
 * Returns 0 when the check ran (the result says what it found), -1 with err
 * when the image cannot be checked at all (unreadable, not qcow2: raw gives
 * err "This image format does not support checks" and -ENOTSUP semantics).
 * qemu-img's exit status from the result: check_errors -> 1,
 * corruptions -> 2, leaks -> 3, else 0.
 */
int image_check(const char *path, const char *format, int repair, FILE *log,
                ImageCheckResult *res, char *err, size_t errlen);

/* ---- allocation map (block/image-info.c) ---- */
typedef struct ImageMapExtent {
    uint64_t start, length;     /* guest bytes */
    int depth;                  /* 0 = this image, 1 = its backing file, ... */
    bool present;               /* allocated somewhere in the chain (or zero-flagged) */
    bool zero;                  /* reads as zeroes */
    bool data;                  /* has data (not a hole / zero cluster) */
    bool compressed;            /* qcow2 compressed cluster (no offset) */
    bool has_offset;
    uint64_t offset;            /* host offset in filename, when has_offset */
    const char *filename;       /* the file at that depth (owned by the map) */
} ImageMapExtent;

typedef struct ImageMap {
    ImageMapExtent *ext;        /* adjacent extents with equal attributes
                                 * (and contiguous offsets) are merged, as
                                 * qemu-img map --output=json shows them */
    size_t count;
    char **files;               /* the chain's file names, [depth] */
    int nb_files;
} ImageMap;

/* Map the whole image, following backing files (format from the backing
 * format extension, else probed).  0, or -1 with err. */
int image_map(const char *path, const char *format, ImageMap *out,
              char *err, size_t errlen);
void image_map_free(ImageMap *m);

/* ---- compressed qcow2 writer (block/qcow2-compress.c; convert -c) ---- */
typedef struct ImageCompressWriter ImageCompressWriter;

/*
 * Create path as a qcow2 image of o->size bytes (o->format is ignored;
 * cluster_size, compat, refcount_bits, backing_file/backing_fmt honoured)
 * whose clusters are written in one sequential pass, each compressed with
 * raw deflate as qcow2 requires, or stored uncompressed when compression
 * does not save at least one sector.  Metadata (L1, L2, refcounts) is
 * written by image_compress_finish.  NULL with err.
 */
ImageCompressWriter *image_compress_open(const char *path, const ImageCreateOptions *o,
                                         char *err, size_t errlen);
uint32_t image_compress_cluster_size(const ImageCompressWriter *w);
/*
 * Write guest cluster index (offset / cluster size), each at most once, in
 * any order; buf holds one full cluster (zero-pad the last one).  An
 * all-zero cluster is left unallocated (reads as zero; with a backing file
 * it is written as a v3 zero cluster, or compressed on v2).  To leave a
 * cluster to the backing file, simply do not write it.  0 or -errno.
 */
int image_compress_write(ImageCompressWriter *w, uint64_t cluster_index, const void *buf);
/* Write the metadata, sync and close; 0, or -1 with err.  w is freed. */
int image_compress_finish(ImageCompressWriter *w, char *err, size_t errlen);
/* Abandon (after an error): close and free, leaving a partial file. */
void image_compress_abort(ImageCompressWriter *w);

#endif
