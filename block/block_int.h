/*
 * block/ internals: requests, the file layer, the format-driver interface
 * and the two I/O engines (libaio, thread pool).
 *
 * Layering:  BlockBackend (block-backend.c: bounds, stats, registry)
 *              -> BlockDriver (raw.c now, qcow2.c later: format mapping)
 *                -> BlockFile (file-posix.c: fd, O_DIRECT alignment, locks)
 *                  -> engine (aio-native.c libaio, or thread-pool.c)
 * A request's done() hook runs on the main loop (lock held) or inside a
 * drain; a format driver that needs several file requests per guest request
 * allocates child requests with blk_req_alloc() and chains their done().
 */
#ifndef VMM_BLOCK_INT_H
#define VMM_BLOCK_INT_H

#include <libaio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block.h"

typedef enum {
    BREQ_READ,
    BREQ_WRITE,
    BREQ_FLUSH,
    BREQ_DISCARD,
    BREQ_WRITE_ZEROES,
} BlockReqType;

typedef struct BlockFile BlockFile;
typedef struct BlockRequest BlockRequest;

struct BlockRequest {
    BlockReqType type;
    uint64_t offset, bytes;
    const struct iovec *iov;
    int iovcnt;
    int flags;                      /* BLK_ZERO_MAY_UNMAP */
    int ret;                        /* result posted by an engine */
    BlockFile *file;                /* set by bfile_submit */
    /* Completion hook: main loop (lock held) or a drain. */
    void (*done)(BlockRequest *req, int ret);
    void *owner;                    /* BlockBackend, or a driver's parent */
    BlockCompletionFunc *cb;        /* the user's callback (backend level) */
    void *opaque;
    BlockRequest *next;             /* free list, work queue or done list */
    /* An aligned bounce buffer kept with the request slot for reuse. */
    void *bounce;
    size_t bounce_size;
    struct iocb iocb;               /* libaio control block */
    struct iovec one_iov;           /* for single-buffer requests */
};

/* ---- request pool and completion delivery (completion.c) ---- */
/* Lock held (or single-threaded): never allocates once warmed up. */
BlockRequest *blk_req_alloc(void);
void blk_req_free(BlockRequest *req);
/* An aligned buffer of at least size bytes cached in req; NULL on ENOMEM. */
void *blk_req_bounce(BlockRequest *req, size_t size, size_t align);
/* The completion eventfd, created on first use and watched by the main
 * loop if it is running; -1 on failure (errno set). */
int blk_completion_init(void);
int blk_completion_fd(void);
/* Any thread: queue req for done(req, ret) on the main loop. */
void blk_complete_later(BlockRequest *req, int ret);
/* Lock held: run every completion that is ready (libaio and queued). */
void blk_run_completions(void);
/* Lock held: wait up to timeout_ms for a completion to be signalled,
 * then run what is ready.  Used by drains and the synchronous calls. */
void blk_wait_completions(int timeout_ms);

/* ---- the file layer (file-posix.c) ---- */
/* Permission bits as in QEMU's BLK_PERM_*: the image lock byte offsets. */
#define BLK_PERM_CONSISTENT_READ 0x01
#define BLK_PERM_WRITE           0x02
#define BLK_PERM_WRITE_UNCHANGED 0x04
#define BLK_PERM_RESIZE          0x08
#define BLK_PERM_ALL             0x0f

typedef struct NativeAio NativeAio;

struct BlockFile {
    char *filename;
    int fd;
    bool readonly;
    bool direct;            /* O_DIRECT: offsets, lengths, buffers aligned */
    bool ignore_flush;      /* cache=unsafe */
    bool discard;           /* discard=unmap: punch holes */
    bool is_blockdev;
    bool locked;            /* holds its image lock bytes */
    size_t align;           /* request (offset/length) alignment */
    size_t mem_align;       /* buffer alignment */
    NativeAio *native;      /* libaio context, or NULL: thread pool */
};

/* Open, check and lock (unless images start inactive: see
 * blk_set_start_inactive); NULL with a one-line message prefixed by what. */
BlockFile *bfile_open(const DriveOptions *o, const char *what);
void bfile_set_start_inactive(bool inactive);
/* Take the image lock (0, or -1 with QEMU's message) / drop it. */
int bfile_lock(BlockFile *f);
void bfile_unlock(BlockFile *f);
void bfile_close(BlockFile *f);
int64_t bfile_getlength(BlockFile *f);
/* Asynchronous: req->done runs later on the main loop. */
void bfile_submit(BlockFile *f, BlockRequest *req);
/* Synchronous execution of req on f (any thread; the thread pool's work). */
int bfile_execute(BlockFile *f, BlockRequest *req);
/* Synchronous read for format drivers' metadata (bounces as needed). */
int bfile_pread_sync(BlockFile *f, uint64_t offset, void *buf, size_t len);
/* iovec helpers */
void blk_iov_zero_from(const struct iovec *iov, int cnt, size_t from);
/* Does req need bouncing through an aligned buffer on this file? */
bool bfile_req_misaligned(const BlockFile *f, const BlockRequest *req);

/* ---- engines ---- */
/* thread-pool.c: run bfile_execute(req->file, req) on a worker. */
void thread_pool_submit(BlockRequest *req);
void thread_pool_shutdown(void);
/* aio-native.c */
NativeAio *native_aio_new(char *errbuf, size_t errlen);
void native_aio_free(NativeAio *n);
/* false: cannot take it now (queue full, error): use the thread pool. */
bool native_aio_submit(NativeAio *n, BlockRequest *req);
/* Run done() for every finished libaio request of every context. */
void native_aio_reap_all(void);
/* Requests ever submitted through libaio (for tests). */
uint64_t native_aio_submitted(void);

/* ---- format drivers ---- */
typedef struct BlockDriverState {
    const struct BlockDriver *drv;
    BlockFile *file;
    const DriveOptions *opts;
    void *opaque;           /* the driver's state */
} BlockDriverState;

typedef struct BlockDriver {
    const char *name;
    /* Probe score for the first bytes of a file (0 = not this format). */
    int (*probe)(const uint8_t *buf, size_t len);
    /* bs->file is open; -1 with a one-line message prefixed by what. */
    int (*open)(BlockDriverState *bs, const char *what);
    void (*close)(BlockDriverState *bs);
    int64_t (*getlength)(BlockDriverState *bs);
    /* Bounds already checked; arrange for req->done to run later. */
    void (*submit)(BlockDriverState *bs, BlockRequest *req);
} BlockDriver;

extern const BlockDriver bdrv_raw;

/* block-backend.c, for block/removable.c: close the medium (the drive
 * stays, empty), or replace it by file (format NULL = probe; read-only
 * for a CD-ROM).  blk_medium_open returns -1 after a one-line message and
 * then keeps the old medium when it can. */
void blk_medium_close(BlockBackend *blk);
int blk_medium_open(BlockBackend *blk, const char *file, const char *format);

/* drive-opts.c: a deep copy for the backend to keep. */
void blk_drive_options_copy(DriveOptions *dst, const DriveOptions *src);

#endif
