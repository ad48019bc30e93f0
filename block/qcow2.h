/*
 * qcow2 on-disk format (QEMU docs/interop/qcow2.txt): the header, header
 * extensions, L1/L2 entries, refcount table/blocks and the snapshot table,
 * with big-endian helpers.  Shared by the driver (qcow2*.c) and image
 * creation/check/snapshot listing (create.c, vmm-img).
 *
 * All multi-byte on-disk fields are big-endian: read and write them with
 * the ldbe / stbe helpers at the byte offsets given below, and the header
 * with qcow2_header_{decode,encode}.
 */
#ifndef VMM_BLOCK_QCOW2_H
#define VMM_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block_int.h"

/* ---- endian helpers ---- */
static inline uint16_t be16_to_cpu(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t be32_to_cpu(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t be64_to_cpu(uint64_t v) { return __builtin_bswap64(v); }
static inline uint16_t cpu_to_be16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t cpu_to_be32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t cpu_to_be64(uint64_t v) { return __builtin_bswap64(v); }

/* Unaligned big-endian loads/stores from byte buffers. */
static inline uint16_t ldbe16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] << 8 | b[1]);
}
static inline uint32_t ldbe32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t ldbe64(const void *p)
{
    return (uint64_t)ldbe32(p) << 32 | ldbe32((const uint8_t *)p + 4);
}
static inline void stbe16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static inline void stbe32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}
static inline void stbe64(void *p, uint64_t v)
{
    stbe32(p, (uint32_t)(v >> 32));
    stbe32((uint8_t *)p + 4, (uint32_t)v);
}

/* ---- header ---- */
#define QCOW2_MAGIC             0x514649fbu     /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN     72
#define QCOW2_V3_HEADER_LEN     104             /* without compression_type */
#define QCOW2_V3_HEADER_LEN_CT  112             /* with compression_type + padding */
#define QCOW2_MIN_CLUSTER_BITS  9
#define QCOW2_MAX_CLUSTER_BITS  21
#define QCOW2_DEFAULT_CLUSTER_BITS 16
#define QCOW2_MAX_BACKING_NAME  1023            /* spec: must not exceed 1023 bytes */
#define QCOW2_MAX_SNAPSHOTS     65536

/* Incompatible feature bits (header offset 72). */
#define QCOW2_INCOMPAT_DIRTY        (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT      (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2        (1ull << 4)
/* Compatible feature bits (offset 80). */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
/* Autoclear feature bits (offset 88). */
#define QCOW2_AUTOCLEAR_BITMAPS     (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW    (1ull << 1)

/* Field byte offsets, for in-place header updates. */
#define QCOW2_OFF_REFCOUNT_TABLE    48      /* + clusters at 56: one 12-byte write */
#define QCOW2_OFF_L1                36      /* l1_size(4) at 36, l1_table_offset(8) at 40 */
#define QCOW2_OFF_NB_SNAPSHOTS      60
#define QCOW2_OFF_INCOMPAT          72
#define QCOW2_OFF_AUTOCLEAR         88

/*
 * The header's fields in host order, in on-disk order (byte offsets in
 * the comments; all big-endian on disk).  Listed once here so that the
 * image library's ImgHeader (block/image_int.h) names the same fields.
 */
#define QCOW2_HEADER_FIELDS                                                 \
    uint32_t version;                   /*   4 (magic at 0) */            \
    uint64_t backing_file_offset;       /*   8 */                         \
    uint32_t backing_file_size;         /*  16 */                         \
    uint32_t cluster_bits;              /*  20 */                         \
    uint64_t size;                      /*  24: guest bytes */            \
    uint32_t crypt_method;              /*  32 */                         \
    uint32_t l1_size;                   /*  36 */                         \
    uint64_t l1_table_offset;           /*  40 */                         \
    uint64_t refcount_table_offset;     /*  48 */                         \
    uint32_t refcount_table_clusters;   /*  56 */                         \
    uint32_t nb_snapshots;              /*  60 */                         \
    uint64_t snapshots_offset;          /*  64; version 3 only: */        \
    uint64_t incompatible_features;     /*  72 */                         \
    uint64_t compatible_features;       /*  80 */                         \
    uint64_t autoclear_features;        /*  88 */                         \
    uint32_t refcount_order;            /*  96 */                         \
    uint32_t header_length;             /* 100 */                         \
    uint8_t compression_type;           /* 104, when header_length > 104: 0 = zlib */

/* The header in host order (v2 images get v3 defaults: refcount_order 4,
 * header_length 72, no features). */
typedef struct Qcow2Header {
    QCOW2_HEADER_FIELDS
} Qcow2Header;

/* Decode buf (len bytes from offset 0): 0, or -1 when len is under 72
 * or the magic is wrong.  No validation beyond that (qcow2_header_check). */
int qcow2_header_decode(const uint8_t *buf, size_t len, Qcow2Header *h);
/* Encode h into buf (h->header_length bytes, at least 72 for v2 and 104
 * for v3; the caller zeroes buf first). */
void qcow2_header_encode(const Qcow2Header *h, uint8_t *buf);

/* The first limit a decoded header breaks, checked in this order by both
 * the driver and the image library (each with its own message). */
typedef enum {
    QCOW2_HEADER_OK,
    QCOW2_HEADER_BAD_VERSION,           /* not 2 or 3 */
    QCOW2_HEADER_BAD_CLUSTER_BITS,      /* outside 9..21 */
    QCOW2_HEADER_BAD_LENGTH,            /* v3: < 104, not 8-aligned, or > a cluster */
    QCOW2_HEADER_BAD_REFCOUNT_ORDER,    /* entries wider than 64 bits */
} Qcow2HeaderFault;
Qcow2HeaderFault qcow2_header_check(const Qcow2Header *h);

/* ---- header extensions (after header_length, 8-byte aligned) ---- */
#define QCOW2_EXT_END               0x00000000u
#define QCOW2_EXT_BACKING_FORMAT    0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE     0x6803f857u
#define QCOW2_EXT_BITMAPS           0x23852875u
#define QCOW2_EXT_CRYPTO            0x0537be77u
#define QCOW2_EXT_DATA_FILE         0x44415441u

/* Feature name table entry: type (0 incompatible, 1 compatible, 2
 * autoclear), bit number, 46-byte name (NUL padded, maybe unterminated). */
#define QCOW2_FEATURE_NAME_ENTRY_LEN 48

/* A header extension: u32 type, u32 data length, the data padded to 8. */
typedef struct Qcow2Extension {
    uint32_t type;
    uint32_t len;
    const uint8_t *data;
} Qcow2Extension;

/*
 * Step through the extensions in buf from *off up to end (the first
 * cluster, or the backing file name when that comes first): 1 with *ext
 * and *off moved past it, 0 at the end marker or when no room for another
 * is left, -1 (with ext->type) when the data runs past end.
 */
int qcow2_next_extension(const uint8_t *buf, uint64_t end, uint64_t *off,
                         Qcow2Extension *ext);

/* ---- L1 / L2 entries ---- */
#define QCOW2_OFLAG_COPIED      (1ull << 63)    /* refcount is exactly 1 */
#define QCOW2_OFLAG_COMPRESSED  (1ull << 62)
#define QCOW2_OFLAG_ZERO        (1ull << 0)     /* v3: reads as zeroes */
#define QCOW2_L1E_OFFSET_MASK   0x00fffffffffffe00ull
#define QCOW2_L2E_OFFSET_MASK   0x00fffffffffffe00ull
#define QCOW2_L1E_RESERVED      0x7f000000000001ffull
#define QCOW2_L2E_STD_RESERVED  0x3f000000000001feull
#define QCOW2_REFT_OFFSET_MASK  0xfffffffffffffe00ull
#define QCOW2_REFT_RESERVED     0x00000000000001ffull

/*
 * Compressed cluster descriptor (bits 0..61 of a compressed L2 entry):
 * x = 62 - (cluster_bits - 8); bits 0..x-1 are the host byte offset of the
 * compressed data, bits x..61 the number of 512-byte sectors it uses
 * beyond the one containing the offset.
 */
static inline unsigned qcow2_csize_shift(unsigned cluster_bits)
{
    return 62 - (cluster_bits - 8);
}
static inline uint64_t qcow2_compressed_offset(uint64_t l2e, unsigned cluster_bits)
{
    return l2e & ((1ull << qcow2_csize_shift(cluster_bits)) - 1);
}
/* Upper bound of the compressed data's size in bytes from its offset. */
static inline uint64_t qcow2_compressed_size(uint64_t l2e, unsigned cluster_bits)
{
    unsigned x = qcow2_csize_shift(cluster_bits);
    uint64_t nb = ((l2e & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> x) + 1;
    return nb * 512 - (qcow2_compressed_offset(l2e, cluster_bits) & 511);
}
static inline uint64_t qcow2_compressed_descriptor(uint64_t off, uint64_t len,
                                                   unsigned cluster_bits)
{
    unsigned x = qcow2_csize_shift(cluster_bits);
    uint64_t nb = ((off & 511) + len + 511) / 512 - 1;
    return QCOW2_OFLAG_COMPRESSED | (nb << x) | off;
}

typedef enum {
    QCOW2_CLUSTER_UNALLOCATED,      /* backing file or zeroes */
    QCOW2_CLUSTER_ZERO_PLAIN,       /* zero flag, no host cluster */
    QCOW2_CLUSTER_ZERO_ALLOC,       /* zero flag with a preallocated host cluster */
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} Qcow2ClusterType;

static inline Qcow2ClusterType qcow2_l2e_type(uint64_t l2e, int version)
{
    if (l2e & QCOW2_OFLAG_COMPRESSED)
        return QCOW2_CLUSTER_COMPRESSED;
    if ((l2e & QCOW2_OFLAG_ZERO) && version >= 3)
        return (l2e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC
                                             : QCOW2_CLUSTER_ZERO_PLAIN;
    return (l2e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_CLUSTER_NORMAL : QCOW2_CLUSTER_UNALLOCATED;
}

/* ---- refcounts: entry width is 1 << refcount_order bits (0..6) ---- */
/* Read entry idx of a refcount block (big-endian for widths >= 8). */
static inline uint64_t qcow2_refblock_get(const uint8_t *blk, unsigned order, uint64_t idx)
{
    switch (order) {
    case 0: case 1: case 2: {
        unsigned bits = 1u << order;
        uint64_t bit = idx * bits;
        return (blk[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    case 3: return blk[idx];
    case 4: return ldbe16(blk + idx * 2);
    case 5: return ldbe32(blk + idx * 4);
    default: return ldbe64(blk + idx * 8);
    }
}
static inline void qcow2_refblock_set(uint8_t *blk, unsigned order, uint64_t idx, uint64_t v)
{
    switch (order) {
    case 0: case 1: case 2: {
        unsigned bits = 1u << order;
        uint64_t bit = idx * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));
        blk[bit / 8] = (uint8_t)((blk[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
        break;
    }
    case 3: blk[idx] = (uint8_t)v; break;
    case 4: stbe16(blk + idx * 2, (uint16_t)v); break;
    case 5: stbe32(blk + idx * 4, (uint32_t)v); break;
    default: stbe64(blk + idx * 8, v); break;
    }
}
static inline uint64_t qcow2_refcount_max(unsigned order)
{
    return order >= 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
}

/* ---- snapshot table entry (8-byte aligned, followed by extra data,
 *      id string and name, the whole padded to 8) ---- */
/* Fixed part: l1_table_offset u64 at 0, l1_size u32 at 8, id_str_size u16
 * at 12, name_size u16 at 14, date_sec u32 at 16, date_nsec u32 at 20,
 * vm_clock_nsec u64 at 24, vm_state_size u32 at 32, extra_data_size u32
 * at 36.  Extra data: u64 VM state size, u64 disk size, u64 icount (each
 * only when extra_data_size reaches it). */
#define QCOW2_SNAPSHOT_FIXED_LEN 40

/* A decoded snapshot table entry (qcow2_read_snapshots). */
typedef struct Qcow2Snapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id_str, *name;        /* NUL-terminated, malloc'ed */
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    uint64_t disk_size;         /* 0 when not recorded */
} Qcow2Snapshot;

/*
 * Read and validate the snapshot table of the image in f described by h
 * (implemented in qcow2-snapshot.c)
 * (bounds against file_size).  0 with *out (count h->nb_snapshots; free
 * with qcow2_free_snapshots), or -1 with a reason in err.
 */
int qcow2_read_snapshots(BlockFile *f, const Qcow2Header *h, uint64_t file_size,
                         Qcow2Snapshot **out, char *err, size_t errlen);
void qcow2_free_snapshots(Qcow2Snapshot *s, uint32_t n);

/* ---- the driver ---- */
extern const BlockDriver bdrv_qcow2;

/* Probe: the magic and a version of 2 or 3. */
int qcow2_probe(const uint8_t *buf, size_t len);

/* ---- driver internals (qcow2.c, qcow2-cluster.c, qcow2-refcount.c) ---- */
#define QCOW2_L2_CACHE_SIZE 16
#define QCOW2_RB_CACHE_SIZE 4
#define QCOW2_MAX_L1_BYTES  (32u << 20)     /* as QEMU: refuse larger L1 tables */
#define QCOW2_MAX_RT_BYTES  (8u << 20)
#define QCOW2_MAX_CHAIN     64               /* backing chain depth */

typedef struct Qcow2CacheEntry {
    uint64_t offset;            /* host offset of the table; 0 = empty slot */
    uint64_t lru;
    uint8_t *data;              /* one cluster, on-disk (big-endian) bytes */
} Qcow2CacheEntry;

/* Write-through cache of cluster-sized metadata tables (L2, refblocks). */
typedef struct Qcow2Cache {
    Qcow2CacheEntry e[QCOW2_L2_CACHE_SIZE];
    unsigned n;
    uint64_t tick;
} Qcow2Cache;

typedef struct Qcow2State {
    BlockDriverState *bs;
    BlockFile *file;
    const char *what;           /* "-drive file=F" for messages (owned) */
    Qcow2Header h;
    unsigned cluster_bits, l2_bits, rb_bits, refcount_order;
    uint64_t cluster_size;
    uint64_t *l1;               /* host order */
    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t *rt;               /* refcount table, host order */
    uint64_t rt_entries;
    uint64_t rt_offset;
    uint32_t rt_clusters;
    Qcow2Cache l2c, rbc;
    uint64_t free_hint;         /* cluster index to start free searches at */
    uint64_t end_cluster;       /* first cluster index past all allocations */
    bool writable;
    bool was_dirty;             /* dirty at open: keep the bit set on close */
    bool set_dirty;             /* we set the dirty bit (lazy refcounts) */
    bool corrupt;               /* found corruption while running: refuse writes */
    uint8_t *cbuf;              /* one cluster: COW / decompression scratch */
    uint8_t *zbuf;              /* compressed input scratch (2 clusters) */
    uint64_t cbuf_host;         /* host descriptor decompressed into cbuf, or 0 */
    /* backing file */
    BlockDriverState backing;   /* backing.drv NULL: none */
    DriveOptions backing_opts;
    int64_t backing_len;
    char *backing_name, *backing_fmt;
} Qcow2State;

/* qcow2-cluster.c: metadata I/O, the L2 cache, the data paths. */
int qcow2_meta_write(Qcow2State *s, uint64_t off, const void *buf, size_t len);
int qcow2_cache_get(Qcow2State *s, Qcow2Cache *c, uint64_t off, uint8_t **data);
void qcow2_cache_drop(Qcow2Cache *c, uint64_t off);
void qcow2_cache_free(Qcow2Cache *c);
int qcow2_get_l2e(Qcow2State *s, uint64_t guest_off, uint64_t *l2e);
int qcow2_read(Qcow2State *s, uint64_t off, uint8_t *buf, uint64_t len);
int qcow2_write(Qcow2State *s, uint64_t off, const uint8_t *buf, uint64_t len);
/* buf NULL: zeroes; unmap: may deallocate whole clusters */
int qcow2_write_zeroes(Qcow2State *s, uint64_t off, uint64_t len, bool unmap);
int qcow2_discard(Qcow2State *s, uint64_t off, uint64_t len);
/* Host offset of a run of bytes mapped contiguously to normal clusters
 * (with the COPIED flag when for_write); false when any part is not. */
bool qcow2_map_contiguous(Qcow2State *s, uint64_t off, uint64_t len, bool for_write,
                          uint64_t *host);
bool qcow2_overlaps_metadata(Qcow2State *s, uint64_t off, uint64_t len);

/* qcow2-refcount.c */
int qcow2_get_refcount(Qcow2State *s, uint64_t cluster, uint64_t *val);
int qcow2_update_refcount(Qcow2State *s, uint64_t cluster, int delta);
/* n contiguous clusters with refcount 1; host byte offset, or -errno. */
int64_t qcow2_alloc_clusters(Qcow2State *s, uint64_t n);
/* Drop one reference to every cluster overlapping [off, off+len). */
void qcow2_free_range(Qcow2State *s, uint64_t off, uint64_t len);
/* Drop the clusters an L2 entry references. */
void qcow2_free_l2e(Qcow2State *s, uint64_t l2e);
/* Take one more reference to the clusters an L2 entry references. */
int qcow2_ref_l2e(Qcow2State *s, uint64_t l2e);

/* qcow2.c */
int qcow2_backing_read(Qcow2State *s, uint64_t off, uint8_t *buf, uint64_t len);
int qcow2_mark_dirty(Qcow2State *s);

#endif
