/*
 * BlockBackend: one opened -drive.  Checks every request against the
 * image size and the read-only flag, counts requests in flight and
 * statistics, and hands the rest to the format driver.  Keeps the
 * registry that blk_by_id() and "info block" walk.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block_int.h"
#include "qcow2.h"
#include "util.h"

struct BlockBackend {
    DriveOptions opts;          /* our own copy */
    BlockDriverState bs;        /* bs.drv NULL: no medium */
    char *dev;                  /* attached device, or NULL */
    int64_t length;
    unsigned in_flight;
    BlockStats stats;
    bool inactive;              /* migration: format state closed, no lock */
    BlockBackend *next;
};

static BlockBackend *backends;
static bool opens_inactive;     /* -incoming: new images start inactive */

/* ---- format selection ---- */

/* Format drivers, probed in order; raw (lowest score) matches anything. */
static const BlockDriver *const drivers[] = { &bdrv_qcow2, &bdrv_raw };

/* The first sector says qcow2 (the qcow2 spec's magic and version) or not:
 * a raw image is never probed as anything else. */
static const char *probe_format(BlockFile *f)
{
    uint8_t buf[512] = { 0 };
    if (bfile_pread_sync(f, 0, buf, sizeof(buf)) < 0)
        return "raw";
    const BlockDriver *best = &bdrv_raw;
    int score = 0;
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        int sc = drivers[i]->probe(buf, sizeof(buf));
        if (sc > score) {
            score = sc;
            best = drivers[i];
        }
    }
    return best->name;
}

static const BlockDriver *find_driver(const DriveOptions *o, BlockFile *f, const char *what)
{
    const char *fmt = o->format;
    if (!fmt) {
        fmt = probe_format(f);
        if (strcmp(fmt, "raw") == 0)
            warn_report("Image format was not specified for '%s' and probing guessed raw; "
                        "specify format=raw to remove this warning", o->file);
    }
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        if (strcmp(fmt, drivers[i]->name) == 0)
            return drivers[i];
    }
    error_report("%s: Unknown driver '%s'", what, fmt);
    return NULL;
}

/* ---- open and close ---- */

static int check_unsupported(const DriveOptions *o, const char *what)
{
    if (o->id && blk_by_id(o->id)) {
        error_report("%s: Duplicate ID '%s' for drive", what, o->id);
        return -1;
    }
    return 0;
}

/*
 * snapshot=on: a temporary qcow2 overlay (in $TMPDIR, default /var/tmp as
 * QEMU) whose backing file is the image, opened read-only underneath;
 * the overlay is unlinked once open, so it disappears with vmm.
 */
static BlockFile *open_snapshot_overlay(BlockBackend *blk, const char *what,
                                        const BlockDriver **drv)
{
    char real[PATH_MAX];
    if (!realpath(blk->opts.file, real)) {
        error_report("Could not open '%s': %s", blk->opts.file, strerror(errno));
        return NULL;
    }
    const char *fmt = blk->opts.format;
    if (!fmt) {
        DriveOptions probe = { .file = real, .readonly = true };
        BlockFile *pf = bfile_open(&probe, what);
        if (!pf)
            return NULL;
        fmt = probe_format(pf);
        bfile_close(pf);
    }
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    char *path = xasprintf("%s/vl.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        error_report("%s: cannot create a temporary overlay in %s: %s", what, dir,
                     strerror(errno));
        free(path);
        return NULL;
    }
    close(fd);
    char err[512];
    ImageCreateOptions co = { .format = "qcow2", .backing_file = real, .backing_fmt = fmt };
    BlockFile *f = NULL;
    if (blk_image_create(path, &co, err, sizeof(err)) < 0) {
        error_report("%s: cannot create a temporary overlay: %s", what, err);
    } else {
        DriveOptions ov = blk->opts;
        ov.file = path;
        ov.readonly = false;
        f = bfile_open(&ov, what);
        *drv = &bdrv_qcow2;
    }
    unlink(path);
    free(path);
    return f;
}

static int open_medium(BlockBackend *blk, const char *what)
{
    const BlockDriver *drv = NULL;
    BlockFile *f = blk->opts.snapshot ? open_snapshot_overlay(blk, what, &drv)
                                      : bfile_open(&blk->opts, what);
    if (!f)
        return -1;
    if (!drv)
        drv = find_driver(&blk->opts, f, what);
    blk->bs = (BlockDriverState){ .drv = drv, .file = f, .opts = &blk->opts };
    blk->inactive = opens_inactive;
    if (!drv || drv->open(&blk->bs, what) < 0) {
        blk->bs.drv = NULL;
        bfile_close(f);
        blk->bs.file = NULL;
        return -1;
    }
    /* Whole sectors, as QEMU: the last partial sector reads as zeroes. */
    blk->length = drv->getlength(&blk->bs);
    if (blk->length >= 0)
        blk->length = (blk->length + BDRV_SECTOR_SIZE - 1) & ~(int64_t)(BDRV_SECTOR_SIZE - 1);
    if (blk->length < 0) {
        error_report("%s: cannot get the image size: %s", what, strerror((int)-blk->length));
        drv->close(&blk->bs);
        bfile_close(f);
        blk->bs.drv = NULL;
        blk->bs.file = NULL;
        return -1;
    }
    return 0;
}

static void backend_free(BlockBackend *blk)
{
    blk_drive_options_free(&blk->opts);
    free(blk->dev);
    free(blk);
}

BlockBackend *blk_open(const DriveOptions *o)
{
    char *what = xasprintf("-drive file=%s", o->file ? o->file : "");
    BlockBackend *blk = NULL;
    if (check_unsupported(o, what) == 0) {
        blk = xzalloc(sizeof(*blk));
        blk_drive_options_copy(&blk->opts, o);
        if (o->file && open_medium(blk, what) < 0) {
            backend_free(blk);
            blk = NULL;
        }
    }
    free(what);
    if (!blk)
        return NULL;
    BlockBackend **tail = &backends;
    while (*tail)
        tail = &(*tail)->next;
    *tail = blk;
    return blk;
}

void blk_close(BlockBackend *blk)
{
    if (!blk)
        return;
    blk_drain(blk);
    for (BlockBackend **p = &backends; *p; p = &(*p)->next) {
        if (*p == blk) {
            *p = blk->next;
            break;
        }
    }
    if (blk->bs.drv)
        blk->bs.drv->close(&blk->bs);
    bfile_close(blk->bs.file);
    backend_free(blk);
}

void blk_close_all(void)
{
    blk_drain_all();
    while (backends)
        blk_close(backends);
    thread_pool_shutdown();
}

/* ---- accessors and registry ---- */

const char *blk_id(const BlockBackend *blk)
{
    return blk->opts.id;
}

const char *blk_filename(const BlockBackend *blk)
{
    return blk->opts.file;
}

const char *blk_format_name(const BlockBackend *blk)
{
    return blk->bs.drv ? blk->bs.drv->name : NULL;
}

const DriveOptions *blk_options(const BlockBackend *blk)
{
    return &blk->opts;
}

bool blk_is_inserted(const BlockBackend *blk)
{
    return blk->bs.drv != NULL;
}

BlockBackend *blk_by_id(const char *id)
{
    for (BlockBackend *b = backends; b; b = b->next) {
        if (b->opts.id && id && strcmp(b->opts.id, id) == 0)
            return b;
    }
    return NULL;
}

BlockBackend *blk_next(BlockBackend *prev)
{
    return prev ? prev->next : backends;
}

int blk_attach_dev(BlockBackend *blk, const char *dev_name)
{
    if (blk->dev) {
        error_report("Drive '%s' is already in use by device '%s'",
                     blk->opts.id ? blk->opts.id : blk->opts.file, blk->dev);
        return -1;
    }
    blk->dev = xstrdup(dev_name ? dev_name : "");
    return 0;
}

const char *blk_attached_dev(const BlockBackend *blk)
{
    return blk->dev;
}

int64_t blk_getlength(BlockBackend *blk)
{
    return blk->bs.drv ? blk->length : -ENOMEDIUM;
}

bool blk_is_read_only(const BlockBackend *blk)
{
    return blk->opts.readonly;
}

bool blk_enable_write_cache(const BlockBackend *blk)
{
    return blk->opts.cache != BLK_CACHE_WRITETHROUGH && blk->opts.cache != BLK_CACHE_DIRECTSYNC;
}

unsigned blk_logical_block_size(const BlockBackend *blk)
{
    return BDRV_SECTOR_SIZE;
}

bool blk_can_discard(const BlockBackend *blk)
{
    return blk->opts.discard_unmap && !blk->opts.readonly;
}

void blk_get_stats(const BlockBackend *blk, BlockStats *out)
{
    *out = blk->stats;
}

unsigned blk_in_flight(const BlockBackend *blk)
{
    return blk->in_flight;
}

/* ---- asynchronous requests ---- */

static void account(BlockBackend *blk, const BlockRequest *req)
{
    BlockStats *s = &blk->stats;
    switch (req->type) {
    case BREQ_READ:
        s->rd_bytes += req->bytes;
        s->rd_ops++;
        break;
    case BREQ_WRITE:
    case BREQ_WRITE_ZEROES:
        s->wr_bytes += req->bytes;
        s->wr_ops++;
        break;
    case BREQ_FLUSH:
        s->flush_ops++;
        break;
    case BREQ_DISCARD:
        s->discard_ops++;
        break;
    }
}

/* Main loop (or a drain), lock held: the slot is free before cb runs, so
 * cb may submit again without growing the pool. */
static void backend_req_done(BlockRequest *req, int ret)
{
    BlockBackend *blk = req->owner;
    BlockCompletionFunc *cb = req->cb;
    void *opaque = req->opaque;
    if (ret == 0)
        account(blk, req);
    blk_req_free(req);
    blk->in_flight--;
    if (cb)
        cb(opaque, ret);
}

/* -errno when the request must fail without reaching the driver. */
static int check_request(BlockBackend *blk, BlockReqType type, uint64_t offset, uint64_t bytes)
{
    if (!blk->bs.drv)
        return -ENOMEDIUM;
    if (type == BREQ_FLUSH)
        return 0;
    if (type != BREQ_READ && blk->opts.readonly)
        return -EROFS;
    uint64_t len = (uint64_t)blk->length;
    if (offset > len || bytes > len - offset)
        return -EIO;
    return 0;
}

static void submit(BlockBackend *blk, BlockReqType type, uint64_t offset, uint64_t bytes,
                   const struct iovec *iov, int iovcnt, int flags, BlockCompletionFunc *cb,
                   void *opaque)
{
    BlockRequest *req = blk_req_alloc();
    *req = (BlockRequest){ .type = type, .offset = offset, .bytes = bytes, .iov = iov,
                           .iovcnt = iovcnt, .flags = flags, .done = backend_req_done,
                           .owner = blk, .cb = cb, .opaque = opaque,
                           .bounce = req->bounce, .bounce_size = req->bounce_size };
    blk->in_flight++;
    int r = iovcnt < 0 ? -EINVAL : check_request(blk, type, offset, bytes);
    if (r < 0) {
        blk_complete_later(req, r);
        return;
    }
    blk->bs.drv->submit(&blk->bs, req);
}

void blk_aio_preadv(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                    BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BREQ_READ, offset, iov_size(iov, (unsigned)iovcnt), iov, iovcnt, 0, cb, opaque);
}

void blk_aio_pwritev(BlockBackend *blk, uint64_t offset, const struct iovec *iov, int iovcnt,
                     BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BREQ_WRITE, offset, iov_size(iov, (unsigned)iovcnt), iov, iovcnt, 0, cb, opaque);
}

void blk_aio_flush(BlockBackend *blk, BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BREQ_FLUSH, 0, 0, NULL, 0, 0, cb, opaque);
}

void blk_aio_pdiscard(BlockBackend *blk, uint64_t offset, uint64_t bytes,
                      BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BREQ_DISCARD, offset, bytes, NULL, 0, 0, cb, opaque);
}

void blk_aio_pwrite_zeroes(BlockBackend *blk, uint64_t offset, uint64_t bytes, int flags,
                           BlockCompletionFunc *cb, void *opaque)
{
    submit(blk, BREQ_WRITE_ZEROES, offset, bytes, NULL, 0, flags, cb, opaque);
}

/* ---- draining and synchronous calls ---- */

void blk_drain(BlockBackend *blk)
{
    while (blk && blk->in_flight > 0)
        blk_wait_completions(100);
}

static bool any_in_flight(void)
{
    for (BlockBackend *b = backends; b; b = b->next) {
        if (b->in_flight)
            return true;
    }
    return false;
}

void blk_drain_all(void)
{
    while (any_in_flight())
        blk_wait_completions(100);
}

typedef struct {
    bool done;
    int ret;
} SyncWait;

static void sync_done(void *opaque, int ret)
{
    SyncWait *w = opaque;
    w->ret = ret;
    w->done = true;
}

static int sync_rw(BlockBackend *blk, BlockReqType type, uint64_t offset, void *buf,
                   size_t len)
{
    SyncWait w = { false, 0 };
    struct iovec iov = { buf, len };
    if (type == BREQ_READ)
        blk_aio_preadv(blk, offset, &iov, 1, sync_done, &w);
    else if (type == BREQ_WRITE)
        blk_aio_pwritev(blk, offset, &iov, 1, sync_done, &w);
    else
        blk_aio_flush(blk, sync_done, &w);
    while (!w.done)
        blk_wait_completions(100);
    return w.ret;
}

int blk_pread(BlockBackend *blk, uint64_t offset, void *buf, size_t len)
{
    return sync_rw(blk, BREQ_READ, offset, buf, len);
}

int blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf, size_t len)
{
    return sync_rw(blk, BREQ_WRITE, offset, (void *)buf, len);
}

int blk_flush(BlockBackend *blk)
{
    return sync_rw(blk, BREQ_FLUSH, 0, NULL, 0);
}

/* ---- migration hand-over ---- */

void blk_set_start_inactive(bool inactive)
{
    opens_inactive = inactive;
    bfile_set_start_inactive(inactive);
}

/* The format's own state (qcow2: header, L1, refcounts) may be stale
 * after another process wrote the image: closed here, re-read on activation.
 * raw has none. */
static bool has_format_state(const BlockBackend *blk)
{
    return blk->bs.drv && blk->bs.drv != &bdrv_raw;
}

int blk_inactivate_all(void)
{
    blk_drain_all();
    for (BlockBackend *b = backends; b; b = b->next) {
        if (b->inactive || !b->bs.file)
            continue;
        if (!b->opts.readonly && blk_flush(b) < 0) {
            error_report("'%s': cannot flush before handing the image over", b->opts.file);
            return -1;
        }
        if (has_format_state(b))
            b->bs.drv->close(&b->bs);
        bfile_unlock(b->bs.file);
        b->inactive = true;
    }
    return 0;
}

int blk_activate_all(void)
{
    opens_inactive = false;
    bfile_set_start_inactive(false);
    for (BlockBackend *b = backends; b; b = b->next) {
        if (!b->bs.file)
            continue;
        if (!b->inactive)
            continue;
        if (bfile_lock(b->bs.file) < 0)
            return -1;
        /* Re-read what the other process may have changed. */
        if (has_format_state(b)) {
            if (b->bs.opaque)
                b->bs.drv->close(&b->bs);
            if (b->bs.drv->open(&b->bs, b->opts.file) < 0)
                return -1;
        }
        b->inactive = false;
    }
    return 0;
}

/* ---- medium swap for removable drives (used by block/removable.c) ---- */

static void close_medium(BlockBackend *blk)
{
    blk_drain(blk);
    if (blk->bs.drv)
        blk->bs.drv->close(&blk->bs);
    bfile_close(blk->bs.file);
    blk->bs = (BlockDriverState){ 0 };
    blk->length = 0;
}

static void set_medium_name(BlockBackend *blk, const char *file, const char *format)
{
    char *f = file ? xstrdup(file) : NULL, *fmt = format ? xstrdup(format) : NULL;
    free(blk->opts.file);
    free(blk->opts.format);
    blk->opts.file = f;
    blk->opts.format = fmt;
}

void blk_medium_close(BlockBackend *blk)
{
    close_medium(blk);
    set_medium_name(blk, NULL, NULL);
}

/* In place, so a format driver's pointers to blk->bs stay valid; when the
 * new image cannot be opened the old one is put back (if it still opens). */
int blk_medium_open(BlockBackend *blk, const char *file, const char *format)
{
    char *old_file = blk->opts.file ? xstrdup(blk->opts.file) : NULL;
    char *old_format = blk->opts.format ? xstrdup(blk->opts.format) : NULL;
    char *what = xasprintf("-drive file=%s", file);
    close_medium(blk);
    if (blk->opts.media == BLK_MEDIA_CDROM)
        blk->opts.readonly = true;
    set_medium_name(blk, file, format);
    int r = open_medium(blk, what);
    if (r < 0) {
        set_medium_name(blk, old_file, old_format);
        if (old_file && open_medium(blk, what) < 0)
            set_medium_name(blk, NULL, NULL);
    }
    free(what);
    free(old_file);
    free(old_format);
    return r;
}
