/*
 * Opening an image file: checks with one-line errors, the cache mode's
 * open flags, the image lock and the O_DIRECT alignment probe.
 *
 * The image lock uses QEMU's scheme (block/file-posix.c there), so that
 * vmm, qemu-system and qemu-img exclude each other: open file description
 * (OFD) read locks on single bytes, byte 100 + bit for each permission
 * held and byte 200 + bit for each permission NOT shared with others,
 * bits being CONSISTENT_READ 0, WRITE 1, WRITE_UNCHANGED 2, RESIZE 3.
 * A user conflicts when it holds a permission whose "not shared" byte is
 * locked by someone else, or refuses to share one whose "held" byte is.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block_int.h"
#include "util.h"

#define LOCK_PERM_BASE   100
#define LOCK_SHARED_BASE 200

static const char *const perm_names[] = {
    "consistent read", "write", "write unchanged", "resize",
};

/* ---- image locking ---- */

static int lock_byte(int fd, int cmd, short type, off_t byte, struct flock *out)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
    if (fcntl(fd, cmd, &fl) < 0)
        return -errno;
    if (out)
        *out = fl;
    return 0;
}

/* Does an open file description other than ours hold a lock on byte? */
static int byte_locked_by_other(int fd, off_t byte)
{
    struct flock fl = { .l_type = F_UNLCK };
    int r = lock_byte(fd, F_OFD_GETLK, F_WRLCK, byte, &fl);
    if (r < 0)
        return r;
    return fl.l_type != F_UNLCK;
}

static int apply_lock_bytes(int fd, unsigned perm, unsigned unshared)
{
    for (int i = 0; i < 4; i++) {
        int r = 0;
        if (perm & (1u << i))
            r = lock_byte(fd, F_OFD_SETLK, F_RDLCK, LOCK_PERM_BASE + i, NULL);
        if (r == 0 && (unshared & (1u << i)))
            r = lock_byte(fd, F_OFD_SETLK, F_RDLCK, LOCK_SHARED_BASE + i, NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * 0 when nobody else conflicts; 1 with *bit and *shared naming the
 * conflict (shared: another user holds a permission we do not share);
 * -errno when the lock cannot be queried.
 */
static int check_lock_bytes(int fd, unsigned perm, unsigned unshared, int *bit, bool *shared)
{
    for (int pass = 0; pass < 2; pass++) {
        unsigned mask = pass == 0 ? perm : unshared;
        off_t base = pass == 0 ? LOCK_SHARED_BASE : LOCK_PERM_BASE;
        for (int i = 0; i < 4; i++) {
            if (!(mask & (1u << i)))
                continue;
            int r = byte_locked_by_other(fd, base + i);
            if (r != 0) {
                *bit = i;
                *shared = pass == 1;
                return r;
            }
        }
    }
    return 0;
}

/*
 * Permissions as QEMU's guest devices take them: read and (unless
 * read-only) write; writes and resizes by others are not shared, only
 * unchanged-content writes are.
 */
static int take_image_lock(BlockFile *f)
{
    unsigned perm = BLK_PERM_CONSISTENT_READ | (f->readonly ? 0 : BLK_PERM_WRITE);
    unsigned unshared = BLK_PERM_WRITE | BLK_PERM_RESIZE;
    int r = apply_lock_bytes(f->fd, perm, unshared);
    int bit = 1;   /* "write", if our own read lock is refused */
    bool shared = false;
    if (r == 0)
        r = check_lock_bytes(f->fd, perm, unshared, &bit, &shared);
    if (r == -EINVAL || r == -EOPNOTSUPP || r == -ENOLCK) {
        warn_report("'%s': image locking is not supported by the filesystem (%s)",
                    f->filename, strerror(-r));
        return 0;
    }
    if (r == -EAGAIN || r == -EACCES)
        r = 1;   /* setting our read lock met someone's write lock */
    if (r < 0) {
        error_report("'%s': cannot lock the image: %s", f->filename, strerror(-r));
        return -1;
    }
    if (r > 0) {
        error_report("Failed to get %s\"%s\" lock: is another process using the image [%s]?",
                     shared ? "shared " : "", perm_names[bit], f->filename);
        return -1;
    }
    return 0;
}

/* ---- O_DIRECT alignment ---- */

static bool read_works(int fd, void *buf, size_t len)
{
    /* Linux fails misaligned O_DIRECT reads with EINVAL; other errors are
     * not about alignment. */
    return pread(fd, buf, len, 0) >= 0 || errno != EINVAL;
}

static int probe_alignment(BlockFile *f)
{
    struct statx stx;
    if (f->is_blockdev) {
        int sz;
        if (ioctl(f->fd, BLKSSZGET, &sz) == 0 && sz > 0) {
            f->align = f->mem_align = (size_t)sz;
            return 0;
        }
    } else if (statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
               (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
        f->align = stx.stx_dio_offset_align;
        f->mem_align = MAX(stx.stx_dio_mem_align, 1u);
        return 0;
    }
    /* Guess as QEMU does: the smallest read at offset 0 that works. */
    void *buf;
    if (posix_memalign(&buf, 4096, 4096) != 0)
        return -1;
    f->align = read_works(f->fd, buf, 512) ? 512 : read_works(f->fd, buf, 4096) ? 4096 : 0;
    f->mem_align = f->align;
    free(buf);
    return f->align ? 0 : -1;
}

/* ---- open ---- */

static int open_flags(const DriveOptions *o)
{
    int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (o->cache == BLK_CACHE_NONE || o->cache == BLK_CACHE_DIRECTSYNC)
        flags |= O_DIRECT;
    /* Write-through: every write is on stable storage when it completes. */
    if (o->cache == BLK_CACHE_WRITETHROUGH || o->cache == BLK_CACHE_DIRECTSYNC)
        flags |= O_DSYNC;
    return flags;
}

static int check_file_type(const char *name, struct stat *st)
{
    if (stat(name, st) < 0) {
        error_report("Could not open '%s': %s", name, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st->st_mode)) {
        error_report("'%s' is a directory", name);
        return -1;
    }
    if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
        error_report("'%s' is not a regular file or a block device", name);
        return -1;
    }
    return 0;
}

static int open_image_fd(const char *name, const DriveOptions *o)
{
    int flags = open_flags(o);
    int fd = open(name, flags);
    if (fd >= 0)
        return fd;
    int err = errno;
    if (!o->readonly && (err == EACCES || err == EROFS || err == EPERM)) {
        int probe = open(name, O_RDONLY | O_CLOEXEC);
        if (probe >= 0) {
            close(probe);
            error_report("'%s' is read-only; use readonly=on", name);
            return -1;
        }
    }
    if (err == EINVAL && (flags & O_DIRECT))
        error_report("Could not open '%s': the filesystem does not support O_DIRECT "
                     "(needed by cache=%s); use cache=writeback", name,
                     blk_cache_mode_name(o->cache));
    else
        error_report("Could not open '%s': %s", name, strerror(err));
    return -1;
}

static int setup_engine(BlockFile *f, const DriveOptions *o)
{
    if (f->direct && probe_alignment(f) < 0) {
        error_report("'%s': could not find a working O_DIRECT alignment; use cache=writeback",
                     f->filename);
        return -1;
    }
    if (!f->direct)
        f->align = f->mem_align = 1;
    if (o->aio == BLK_AIO_NATIVE) {
        char err[128];
        f->native = native_aio_new(err, sizeof(err));
        if (!f->native) {
            error_report("'%s': aio=native: %s", f->filename, err);
            return -1;
        }
    }
    return 0;
}

static bool start_inactive;

void bfile_set_start_inactive(bool inactive)
{
    start_inactive = inactive;
}

int bfile_lock(BlockFile *f)
{
    if (f->locked)
        return 0;
    if (take_image_lock(f) < 0)
        return -1;
    f->locked = true;
    return 0;
}

/* Releasing every lock byte we may hold (QEMU's bytes 100-103, 200-203). */
void bfile_unlock(BlockFile *f)
{
    if (!f->locked)
        return;
    struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = LOCK_PERM_BASE,
                        .l_len = LOCK_SHARED_BASE + 4 - LOCK_PERM_BASE };
    if (fcntl(f->fd, F_OFD_SETLK, &fl) < 0)
        warn_report("'%s': cannot release the image lock: %s", f->filename, strerror(errno));
    f->locked = false;
}

BlockFile *bfile_open(const DriveOptions *o, const char *what)
{
    struct stat st;
    if (check_file_type(o->file, &st) < 0)
        return NULL;
    if (blk_completion_init() < 0) {
        error_report("%s: cannot create an eventfd: %s", what, strerror(errno));
        return NULL;
    }
    int fd = open_image_fd(o->file, o);
    if (fd < 0)
        return NULL;
    BlockFile *f = xzalloc(sizeof(*f));
    f->filename = xstrdup(o->file);
    f->fd = fd;
    f->readonly = o->readonly;
    f->direct = o->cache == BLK_CACHE_NONE || o->cache == BLK_CACHE_DIRECTSYNC;
    f->ignore_flush = o->cache == BLK_CACHE_UNSAFE;
    f->discard = o->discard_unmap;
    f->is_blockdev = S_ISBLK(st.st_mode);
    if ((!start_inactive && bfile_lock(f) < 0) || setup_engine(f, o) < 0) {
        bfile_close(f);
        return NULL;
    }
    return f;
}

/* Closing the descriptor drops its OFD locks. */
void bfile_close(BlockFile *f)
{
    if (!f)
        return;
    native_aio_free(f->native);
    close(f->fd);
    free(f->filename);
    free(f);
}
