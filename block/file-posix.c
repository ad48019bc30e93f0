/*
 * The file layer: a regular file or block device opened with the cache
 * mode's flags, locked against other users, and the blocking operations
 * the engines run on it (read, write, flush, discard, write zeroes).
 *
 * O_DIRECT (cache=none/directsync) needs offsets, lengths and buffer
 * addresses aligned to the device's logical block size; requests that are
 * not are bounced through an aligned buffer (read-modify-write for
 * partial blocks at the ends of a write).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block_int.h"
#include "util.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

void blk_iov_zero_from(const struct iovec *iov, int cnt, size_t from)
{
    for (int i = 0; i < cnt; i++) {
        if (from >= iov[i].iov_len) {
            from -= iov[i].iov_len;
            continue;
        }
        memset((uint8_t *)iov[i].iov_base + from, 0, iov[i].iov_len - from);
        from = 0;
    }
}

/* ---- full transfers ---- */

/*
 * Transfer all of iov at offset, resuming after short transfers.  A read
 * that hits end of file zero-fills the rest (the last, partial sector of
 * an image whose size is not a multiple of 512).
 */
static int rw_full(int fd, const struct iovec *iov, int cnt, uint64_t offset, bool write)
{
    size_t total = iov_size(iov, (unsigned)cnt), done = 0;
    while (done < total) {
        /* Skip what is done: find the first iovec still pending. */
        int i = 0;
        size_t skip = done;
        while (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            i++;
        }
        struct iovec first = { (uint8_t *)iov[i].iov_base + skip, iov[i].iov_len - skip };
        ssize_t r;
        if (skip == 0)
            r = write ? pwritev(fd, iov + i, cnt - i, (off_t)(offset + done))
                      : preadv(fd, iov + i, cnt - i, (off_t)(offset + done));
        else
            r = write ? pwrite(fd, first.iov_base, first.iov_len, (off_t)(offset + done))
                      : pread(fd, first.iov_base, first.iov_len, (off_t)(offset + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) {
            if (write)
                return -EIO;
            blk_iov_zero_from(iov, cnt, done);
            return 0;
        }
        done += (size_t)r;
    }
    return 0;
}

static int buf_full(int fd, void *buf, size_t len, uint64_t offset, bool write)
{
    struct iovec one = { buf, len };
    return rw_full(fd, &one, 1, offset, write);
}

/* ---- alignment ---- */

static bool is_aligned(uint64_t v, size_t align)
{
    return (v & (align - 1)) == 0;
}

bool bfile_req_misaligned(const BlockFile *f, const BlockRequest *req)
{
    if (!f->direct)
        return req->iovcnt > IOV_MAX;
    if (req->iovcnt > IOV_MAX || !is_aligned(req->offset, f->align) ||
        !is_aligned(req->bytes, f->align))
        return true;
    for (int i = 0; i < req->iovcnt; i++) {
        if (!is_aligned((uintptr_t)req->iov[i].iov_base, f->mem_align) ||
            !is_aligned(req->iov[i].iov_len, f->align))
            return true;
    }
    return false;
}

/* The aligned range [*start, *end) covering the request. */
static void aligned_range(const BlockFile *f, const BlockRequest *req, uint64_t *start,
                          uint64_t *end)
{
    size_t a = f->direct ? f->align : 1;
    *start = req->offset & ~(uint64_t)(a - 1);
    *end = (req->offset + req->bytes + a - 1) & ~(uint64_t)(a - 1);
}

static int bounced_read(BlockFile *f, BlockRequest *req)
{
    uint64_t start, end;
    aligned_range(f, req, &start, &end);
    uint8_t *buf = blk_req_bounce(req, end - start, f->mem_align);
    if (!buf)
        return -ENOMEM;
    int r = buf_full(f->fd, buf, end - start, start, false);
    if (r == 0)   /* the bounce buffer's middle goes to the caller */
        iov_from_buf(req->iov, (unsigned)req->iovcnt, 0, buf + (req->offset - start), req->bytes);
    return r;
}

/* Partial blocks at either end are read first (read-modify-write). */
static int bounced_write(BlockFile *f, BlockRequest *req)
{
    uint64_t start, end;
    aligned_range(f, req, &start, &end);
    size_t a = f->direct ? f->align : 1;
    uint8_t *buf = blk_req_bounce(req, end - start, f->mem_align);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    if (start != req->offset)
        r = buf_full(f->fd, buf, a, start, false);
    bool head_partial = start != req->offset, tail_partial = end != req->offset + req->bytes;
    /* One block holding both ends was read as the head already. */
    if (r == 0 && tail_partial && !(head_partial && end - a == start))
        r = buf_full(f->fd, buf + (end - a - start), a, end - a, false);
    if (r < 0)
        return r;
    iov_to_buf(req->iov, (unsigned)req->iovcnt, 0, buf + (req->offset - start), req->bytes);
    return buf_full(f->fd, buf, end - start, start, true);
}

static int file_read(BlockFile *f, BlockRequest *req)
{
    if (bfile_req_misaligned(f, req))
        return bounced_read(f, req);
    return rw_full(f->fd, req->iov, req->iovcnt, req->offset, false);
}

static int file_write(BlockFile *f, BlockRequest *req)
{
    if (bfile_req_misaligned(f, req))
        return bounced_write(f, req);
    return rw_full(f->fd, req->iov, req->iovcnt, req->offset, true);
}

static int file_flush(BlockFile *f)
{
    if (f->ignore_flush)
        return 0;
    return fdatasync(f->fd) < 0 ? -errno : 0;
}

static int punch_hole(BlockFile *f, uint64_t offset, uint64_t bytes)
{
    if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
                  (off_t)bytes) < 0)
        return -errno;
    return 0;
}

/* Discard is advisory: a filesystem that cannot punch holes still succeeds. */
static int file_discard(BlockFile *f, BlockRequest *req)
{
    if (!f->discard)
        return 0;
    int r = punch_hole(f, req->offset, req->bytes);
    return (r == -EOPNOTSUPP || r == -ENOSYS) ? 0 : r;
}

static int write_zero_buffers(BlockFile *f, BlockRequest *req)
{
    static uint8_t zeroes[64 * 1024] __attribute__((aligned(4096)));
    BlockRequest sub = *req;
    int r = 0;
    sub.type = BREQ_WRITE;
    sub.iov = &sub.one_iov;
    sub.iovcnt = 1;
    for (uint64_t done = 0; done < req->bytes && r == 0;) {
        uint64_t n = MIN(req->bytes - done, sizeof(zeroes));
        sub.one_iov = (struct iovec){ zeroes, n };
        sub.offset = req->offset + done;
        sub.bytes = n;
        r = file_write(f, &sub);
        done += n;
    }
    /* The sub-request may have replaced the cached bounce buffer. */
    req->bounce = sub.bounce;
    req->bounce_size = sub.bounce_size;
    return r;
}

static int file_write_zeroes(BlockFile *f, BlockRequest *req)
{
    if ((req->flags & BLK_ZERO_MAY_UNMAP) && f->discard &&
        punch_hole(f, req->offset, req->bytes) == 0)
        return 0;
    if (fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)req->offset,
                  (off_t)req->bytes) == 0)
        return 0;
    return write_zero_buffers(f, req);
}

int bfile_execute(BlockFile *f, BlockRequest *req)
{
    switch (req->type) {
    case BREQ_READ:
        return file_read(f, req);
    case BREQ_WRITE:
        return file_write(f, req);
    case BREQ_FLUSH:
        return file_flush(f);
    case BREQ_DISCARD:
        return file_discard(f, req);
    case BREQ_WRITE_ZEROES:
        return file_write_zeroes(f, req);
    }
    return -EINVAL;
}

int bfile_pread_sync(BlockFile *f, uint64_t offset, void *buf, size_t len)
{
    BlockRequest req = { .type = BREQ_READ, .offset = offset, .bytes = len, .iovcnt = 1 };
    req.one_iov = (struct iovec){ buf, len };
    req.iov = &req.one_iov;
    int r = file_read(f, &req);
    free(req.bounce);
    return r;
}

/* Requests that need no I/O complete through the queue, never inline. */
static bool is_noop(const BlockFile *f, const BlockRequest *req)
{
    switch (req->type) {
    case BREQ_FLUSH:
        return f->ignore_flush;
    case BREQ_DISCARD:
        return !f->discard || req->bytes == 0;
    default:
        return req->bytes == 0;
    }
}

void bfile_submit(BlockFile *f, BlockRequest *req)
{
    req->file = f;
    if (is_noop(f, req)) {
        blk_complete_later(req, 0);
        return;
    }
    if (f->native && (req->type == BREQ_READ || req->type == BREQ_WRITE) &&
        !bfile_req_misaligned(f, req) && native_aio_submit(f->native, req))
        return;
    thread_pool_submit(req);
}

int64_t bfile_getlength(BlockFile *f)
{
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode)) {
        uint64_t size;
        if (ioctl(f->fd, BLKGETSIZE64, &size) < 0)
            return -errno;
        return (int64_t)size;
    }
    return st.st_size;
}
