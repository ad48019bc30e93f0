/*
 * block/: disk images for the devices (virtio-blk, IDE) and for vmm-img.
 * A BlockBackend is one opened image (-drive) with a format driver (raw
 * now, qcow2 in block/qcow2.c later) over an image file.  I/O is
 * asynchronous: requests are submitted from the main loop or a vCPU thread
 * (big lock held) and complete on the main loop (big lock held), through
 * libaio on O_DIRECT files (cache=none/directsync, aio=native) or a thread
 * pool otherwise.  block/ knows nothing of devices and links without hw/.
 */
#ifndef VMM_BLOCK_H
#define VMM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define BDRV_SECTOR_SIZE 512

typedef enum {
    BLK_CACHE_WRITEBACK,    /* default: host page cache, guest sees a write cache */
    BLK_CACHE_NONE,         /* O_DIRECT, guest sees a write cache (flush = fdatasync) */
    BLK_CACHE_WRITETHROUGH, /* page cache, every write is followed by fdatasync */
    BLK_CACHE_DIRECTSYNC,   /* O_DIRECT + every write synced */
    BLK_CACHE_UNSAFE,       /* page cache, flushes are ignored */
} BlockCacheMode;

typedef enum { BLK_AIO_THREADS, BLK_AIO_NATIVE } BlockAioMode;

typedef enum { BLK_IF_NONE, BLK_IF_IDE, BLK_IF_VIRTIO } BlockInterface;
typedef enum { BLK_MEDIA_DISK, BLK_MEDIA_CDROM } BlockMedia;

/* What -drive (and -hda, -cdrom ...) asked for; see blk_parse_drive. */
typedef struct DriveOptions {
    char *id;               /* id= or generated ("virtio0", "ide0-hd0", ...) */
    char *file;             /* NULL: an empty drive (a CD-ROM without medium) */
    char *format;           /* "raw", "qcow2"; NULL = probe (with a warning) */
    char *serial;
    BlockCacheMode cache;
    BlockAioMode aio;
    BlockInterface interface;   /* if= (default ide, as QEMU) */
    BlockMedia media;
    int index;              /* index=, -1 = next free */
    bool readonly;
    bool snapshot;          /* snapshot=on / -snapshot: writes go to a temporary overlay */
    bool discard_unmap;     /* discard=unmap|ignore (default ignore, as QEMU) */
} DriveOptions;

/*
 * Parse a -drive option string into *out (zeroed first); -1 with a one-line
 * message naming what and why (unknown key, bad value, aio=native without
 * cache=none/directsync, ...).  Does not open anything.
 */
int blk_parse_drive(const char *optstr, DriveOptions *out);
void blk_drive_options_free(DriveOptions *o);
/* QEMU's generated drive id for an interface and index ("ide0-hd1",
 * "ide1-cd0", "virtio2", "none0"); NULL when index < 0.  Caller frees.
 * For the machine, which assigns indexes to drives given without one. */
char *blk_drive_default_id(BlockInterface itf, BlockMedia media, int index);

typedef struct BlockBackend BlockBackend;
typedef void BlockCompletionFunc(void *opaque, int ret);   /* ret: 0 or -errno */

/*
 * Open the image: check that it exists, is a regular file or block device,
 * is writable unless readonly, take the image lock (OFD locks on the bytes
 * QEMU uses, so vmm and QEMU also exclude each other), open with the cache
 * mode's flags and the format driver.  NULL with a one-line message.
 * The backend is registered under o->id for blk_by_id().
 */
BlockBackend *blk_open(const DriveOptions *o);
/* Drain, release the lock, close.  NULL is fine. */
void blk_close(BlockBackend *blk);
void blk_close_all(void);

const char *blk_id(const BlockBackend *blk);
const char *blk_filename(const BlockBackend *blk);
const char *blk_format_name(const BlockBackend *blk);
const DriveOptions *blk_options(const BlockBackend *blk);
BlockBackend *blk_by_id(const char *id);
BlockBackend *blk_next(BlockBackend *prev);     /* iterate: start with NULL */
/* Attach a device: refuses (-1, message) a second device on one drive. */
int blk_attach_dev(BlockBackend *blk, const char *dev_name);
const char *blk_attached_dev(const BlockBackend *blk);
/* False for an empty drive (no file=, a CD-ROM without medium): its
 * requests fail with -ENOMEDIUM and blk_getlength returns -ENOMEDIUM. */
bool blk_is_inserted(const BlockBackend *blk);

int64_t blk_getlength(BlockBackend *blk);       /* bytes, or -errno */
bool blk_is_read_only(const BlockBackend *blk);
/* Does the guest see a volatile write cache (WCE) it must flush? */
bool blk_enable_write_cache(const BlockBackend *blk);
/* Guest-visible logical block size (512). */
unsigned blk_logical_block_size(const BlockBackend *blk);
/* Does discard/write-zeroes with unmap punch holes in this image? */
bool blk_can_discard(const BlockBackend *blk);

/*
 * Asynchronous I/O.  offset and lengths are bytes (multiples of 512 from
 * devices; the layer bounces misaligned O_DIRECT buffers itself).  The iov
 * must stay valid until cb runs.  cb runs later on the main loop, never
 * inside the submitting call; a request past the end fails with -EIO, a
 * write to a read-only backend with -EROFS.  No allocation per request on
 * the common path.
 */
void blk_aio_preadv(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                    BlockCompletionFunc *cb, void *opaque);
void blk_aio_pwritev(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                     BlockCompletionFunc *cb, void *opaque);
void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque);
/* Deallocate (punch a hole); a no-op success when discard is ignored. */
void blk_aio_pdiscard(BlockBackend *blk, uint64_t offset, uint64_t bytes,
                      BlockCompletionFunc *cb, void *opaque);
#define BLK_ZERO_MAY_UNMAP 1
void blk_aio_pwrite_zeroes(BlockBackend *blk, uint64_t offset, uint64_t bytes, int flags,
                           BlockCompletionFunc *cb, void *opaque);

/* Synchronous forms (vmm-img, loaders, tests); 0 or -errno. */
int blk_pread(BlockBackend *blk, uint64_t offset, void *buf, size_t len);
int blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf, size_t len);
int blk_flush(BlockBackend *blk);

/*
 * Migration hands the images over, as QEMU's inactive images do.  A
 * destination (-incoming) opens them without their locks and without
 * trusting its format metadata until the stream has loaded
 * (blk_activate_all: lock, re-read qcow2 metadata).  The source, after its
 * last request drained, flushes, closes its format state and drops the
 * locks before the end of its stream goes out (blk_inactivate_all), and
 * takes everything back if the migration then fails (blk_activate_all).
 * Both return -1 with a one-line message.  Lock held.
 */
void blk_set_start_inactive(bool inactive);
int blk_inactivate_all(void);
int blk_activate_all(void);

/* Requests submitted and not yet completed. */
unsigned blk_in_flight(const BlockBackend *blk);
/* Run completions until blk (or every backend) has nothing in flight:
 * before migration's stop-and-copy, device reset and exit. */
void blk_drain(BlockBackend *blk);
void blk_drain_all(void);

/* I/O statistics for "info blockstats" / query-blockstats. */
typedef struct BlockStats {
    uint64_t rd_bytes, wr_bytes, rd_ops, wr_ops, flush_ops, discard_ops;
} BlockStats;
void blk_get_stats(const BlockBackend *blk, BlockStats *out);

/* ---- removable media (block/removable.c) ---- */
/* What a device with removable media tells the block layer. */
typedef struct BlockDevOps {
    void (*change_media_cb)(void *opaque, bool load);   /* medium removed/inserted */
    bool (*is_medium_locked)(void *opaque);               /* PREVENT ALLOW MEDIUM REMOVAL */
    void (*eject_request_cb)(void *opaque, bool force);   /* monitor asks; guest may refuse */
} BlockDevOps;
void blk_set_dev_ops(BlockBackend *blk, const BlockDevOps *ops, void *opaque);
bool blk_is_removable(const BlockBackend *blk);   /* media=cdrom */
/* Monitor "change": open file (format NULL = probe) as the new medium. */
int blk_change_medium(BlockBackend *blk, const char *file, const char *format,
                      char *err, size_t errlen);
/* Monitor "eject": -1 with err when the device has the medium locked and
 * force is false (QEMU: "Device 'ide1-cd0' is locked and force was not
 * specified, wait for tray to open and try again"). */
int blk_eject(BlockBackend *blk, bool force, char *err, size_t errlen);

/* ---- image creation (block/create.c; vmm-img create, -snapshot) ---- */
typedef struct ImageCreateOptions {
    const char *format;         /* "raw" or "qcow2" */
    uint64_t size;              /* bytes; 0 with a backing file = its size */
    const char *backing_file, *backing_fmt;
    uint32_t cluster_size;      /* qcow2: 0 = 64 KiB */
    int compat;                 /* qcow2: 2 (0.10) or 3 (1.1); 0 = 3 */
    bool lazy_refcounts;
    unsigned refcount_bits;     /* qcow2 v3: 1..64, 0 = 16 */
    const char *preallocation;  /* "off" (NULL), "metadata", "falloc", "full" */
} ImageCreateOptions;
/* Create path (truncating an existing file); -1 with a one-line err. */
int blk_image_create(const char *path, const ImageCreateOptions *o, char *err, size_t errlen);

/* Cache mode name for "info block" ("writeback", "none", ...). */
const char *blk_cache_mode_name(BlockCacheMode m);

#endif
