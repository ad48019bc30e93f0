/*
 * Removable media (CD-ROM drives): the device registers its callbacks,
 * the monitor's "change" swaps the image and "eject" takes it out.  The
 * device learns of both through change_media_cb, so the guest sees the
 * tray move and the new medium (ATAPI UNIT ATTENTION and media events).
 * The callbacks are kept here, by backend, so block-backend.c's structure
 * stays as it is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block_int.h"
#include "util.h"

typedef struct DevOpsEntry {
    BlockBackend *blk;
    const BlockDevOps *ops;
    void *opaque;
    struct DevOpsEntry *next;
} DevOpsEntry;

static DevOpsEntry *dev_ops_list;

static DevOpsEntry *find_entry(const BlockBackend *blk)
{
    for (DevOpsEntry *e = dev_ops_list; e; e = e->next) {
        if (e->blk == blk)
            return e;
    }
    return NULL;
}

void blk_set_dev_ops(BlockBackend *blk, const BlockDevOps *ops, void *opaque)
{
    DevOpsEntry *e = find_entry(blk);
    if (!e) {
        e = xzalloc(sizeof(*e));
        e->blk = blk;
        e->next = dev_ops_list;
        dev_ops_list = e;
    }
    e->ops = ops;
    e->opaque = opaque;
}

bool blk_is_removable(const BlockBackend *blk)
{
    return blk_options(blk)->media == BLK_MEDIA_CDROM;
}

static const char *dev_name(const BlockBackend *blk)
{
    const char *dev = blk_attached_dev(blk);
    return dev ? dev : blk_id(blk) ? blk_id(blk) : "";
}

static void notify(BlockBackend *blk, bool load)
{
    DevOpsEntry *e = find_entry(blk);
    if (e && e->ops && e->ops->change_media_cb)
        e->ops->change_media_cb(e->opaque, load);
}

static bool medium_locked(BlockBackend *blk)
{
    DevOpsEntry *e = find_entry(blk);
    return e && e->ops && e->ops->is_medium_locked && e->ops->is_medium_locked(e->opaque);
}

static int check_removable(BlockBackend *blk, char *err, size_t errlen)
{
    if (blk_is_removable(blk))
        return 0;
    snprintf(err, errlen, "Device '%s' is not removable", dev_name(blk));
    return -1;
}

int blk_eject(BlockBackend *blk, bool force, char *err, size_t errlen)
{
    if (check_removable(blk, err, errlen) < 0)
        return -1;
    DevOpsEntry *e = find_entry(blk);
    if (medium_locked(blk)) {
        /* The guest holds the lock: ask it to let go (a media event). */
        if (e->ops->eject_request_cb)
            e->ops->eject_request_cb(e->opaque, force);
        if (!force) {
            snprintf(err, errlen, "Device '%s' is locked and force was not specified, "
                     "wait for tray to open and try again", dev_name(blk));
            return -1;
        }
    }
    if (blk_is_inserted(blk))
        blk_medium_close(blk);
    notify(blk, false);
    return 0;
}

int blk_change_medium(BlockBackend *blk, const char *file, const char *format,
                      char *err, size_t errlen)
{
    struct stat st;
    if (check_removable(blk, err, errlen) < 0)
        return -1;
    if (!file || !*file) {
        snprintf(err, errlen, "Parameter 'filename' is missing");
        return -1;
    }
    if (stat(file, &st) < 0) {
        snprintf(err, errlen, "Could not open '%s': %s", file, strerror(errno));
        return -1;
    }
    if (format && strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0) {
        snprintf(err, errlen, "Unknown driver '%s'", format);
        return -1;
    }
    if (medium_locked(blk)) {
        DevOpsEntry *e = find_entry(blk);
        if (e->ops->eject_request_cb)
            e->ops->eject_request_cb(e->opaque, false);
        snprintf(err, errlen, "Device '%s' is locked and force was not specified, "
                 "wait for tray to open and try again", dev_name(blk));
        return -1;
    }
    bool had_medium = blk_is_inserted(blk);
    if (blk_medium_open(blk, file, format) < 0) {
        snprintf(err, errlen, "Could not open '%s'", file);
        if (had_medium && !blk_is_inserted(blk))
            notify(blk, false);
        return -1;
    }
    /* The tray opens and closes on the new disc, as QEMU's change does. */
    notify(blk, true);
    return 0;
}
