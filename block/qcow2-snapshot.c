/*
 * The qcow2 snapshot table, read-only: `vmm-img snapshot -l`, `info` and
 * the checker (which needs every snapshot's L1 table).  Entry layout from
 * QEMU docs/interop/qcow2.txt, "Snapshots".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

#define SNAPSHOT_MAX_EXTRA 1024

static char *dup_len(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = 0;
    }
    return s;
}

/* The table is read through either an fd (the image tool) or the driver's
 * BlockFile. */
typedef int ReadFn(void *ctx, uint64_t off, void *buf, size_t len);

static int read_fd(void *ctx, uint64_t off, void *buf, size_t len)
{
    return img_pread(*(int *)ctx, off, buf, len);
}

static int read_bfile(void *ctx, uint64_t off, void *buf, size_t len)
{
    return bfile_pread_sync(ctx, off, buf, len);
}

/* Parse one entry at file offset off; returns its padded size or -1. */
static int64_t read_one(ReadFn *rd, void *ctx, uint64_t disk_size, uint64_t off,
                        ImgSnapshotEntry *e)
{
    uint8_t fixed[QCOW2_SNAPSHOT_FIXED_LEN];
    if (rd(ctx, off, fixed, sizeof(fixed)) < 0)
        return -1;
    e->table_offset = off;
    e->l1_table_offset = ldbe64(fixed);
    e->l1_size = ldbe32(fixed + 8);
    uint16_t id_len = ldbe16(fixed + 12), name_len = ldbe16(fixed + 14);
    e->info.date_sec = ldbe32(fixed + 16);
    e->info.date_nsec = ldbe32(fixed + 20);
    e->info.vm_clock_nsec = ldbe64(fixed + 24);
    e->info.vm_state_size = ldbe32(fixed + 32);
    uint32_t extra_len = ldbe32(fixed + 36);
    e->info.disk_size = disk_size;
    e->info.icount = -1;
    if (extra_len > SNAPSHOT_MAX_EXTRA)
        return -1;
    size_t var_len = extra_len + id_len + name_len;
    uint8_t *var = malloc(var_len + 1);
    if (!var || rd(ctx, off + QCOW2_SNAPSHOT_FIXED_LEN, var, var_len) < 0) {
        free(var);
        return -1;
    }
    /* Extra data: 64-bit VM state size, disk size, icount (when present). */
    if (extra_len >= 8)
        e->info.vm_state_size = ldbe64(var);
    if (extra_len >= 16)
        e->info.disk_size = ldbe64(var + 8);
    if (extra_len >= 24)
        e->info.icount = (int64_t)ldbe64(var + 16);
    e->info.id = dup_len(var + extra_len, id_len);
    e->info.name = dup_len(var + extra_len + id_len, name_len);
    free(var);
    if (!e->info.id || !e->info.name)
        return -1;
    uint64_t size = (QCOW2_SNAPSHOT_FIXED_LEN + var_len + 7) & ~7ull;
    e->entry_size = (uint32_t)size;
    return (int64_t)size;
}

static int read_table(ReadFn *rd, void *ctx, uint32_t nb, uint64_t table_off,
                      uint64_t disk_size, ImgSnapshotEntry **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!nb)
        return 0;
    if (nb > QCOW2_MAX_SNAPSHOTS) {
        snprintf(err, errlen, "Too many snapshots (%u)", nb);
        return -1;
    }
    ImgSnapshotEntry *s = calloc(nb, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "Out of memory reading the snapshot table");
        return -1;
    }
    uint64_t off = table_off;
    for (uint32_t i = 0; i < nb; i++) {
        int64_t n = read_one(rd, ctx, disk_size, off, &s[i]);
        if (n < 0) {
            snprintf(err, errlen, "Could not read snapshot table entry %u at offset %llu", i,
                     (unsigned long long)off);
            img_free_snapshots(s, nb);
            return -1;
        }
        off += (uint64_t)n;
    }
    *out = s;
    return 0;
}

int img_read_snapshots(int fd, const ImgHeader *h, ImgSnapshotEntry **out,
                       char *err, size_t errlen)
{
    return read_table(read_fd, &fd, h->nb_snapshots, h->snapshots_offset, h->size, out,
                      err, errlen);
}

/* The driver's view (block/qcow2.h): the same table, bounds-checked
 * against the file, in the driver's structure. */
int qcow2_read_snapshots(BlockFile *f, const Qcow2Header *h, uint64_t file_size,
                         Qcow2Snapshot **out, char *err, size_t errlen)
{
    uint64_t cs = 1ull << h->cluster_bits;
    ImgSnapshotEntry *e = NULL;
    *out = NULL;
    if (h->nb_snapshots && (h->snapshots_offset % cs || h->snapshots_offset >= file_size)) {
        snprintf(err, errlen, "Snapshot table offset invalid");
        return -1;
    }
    if (read_table(read_bfile, f, h->nb_snapshots, h->snapshots_offset, 0, &e, err,
                   errlen) < 0)
        return -1;
    Qcow2Snapshot *s = h->nb_snapshots ? calloc(h->nb_snapshots, sizeof(*s)) : NULL;
    int ret = h->nb_snapshots && !s ? -1 : 0;
    for (uint32_t i = 0; !ret && i < h->nb_snapshots; i++) {
        if (e[i].l1_table_offset % cs || e[i].l1_table_offset >= file_size ||
            (uint64_t)e[i].l1_size * 8 > QCOW2_MAX_L1_BYTES) {
            snprintf(err, errlen, "Snapshot L1 table invalid");
            ret = -1;
            break;
        }
        s[i] = (Qcow2Snapshot){ .l1_table_offset = e[i].l1_table_offset,
                                .l1_size = e[i].l1_size, .id_str = e[i].info.id,
                                .name = e[i].info.name, .date_sec = e[i].info.date_sec,
                                .date_nsec = e[i].info.date_nsec,
                                .vm_clock_nsec = e[i].info.vm_clock_nsec,
                                .vm_state_size = e[i].info.vm_state_size,
                                .disk_size = e[i].info.disk_size };
        e[i].info.id = e[i].info.name = NULL;
    }
    img_free_snapshots(e, h->nb_snapshots);
    if (ret < 0) {
        qcow2_free_snapshots(s, h->nb_snapshots);
        return -1;
    }
    *out = s;
    return 0;
}

void qcow2_free_snapshots(Qcow2Snapshot *s, uint32_t n)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < n; i++) {
        free(s[i].id_str);
        free(s[i].name);
    }
    free(s);
}

void img_free_snapshots(ImgSnapshotEntry *s, uint32_t n)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < n; i++) {
        free(s[i].info.id);
        free(s[i].info.name);
    }
    free(s);
}

uint64_t img_snapshot_table_size(const ImgSnapshotEntry *s, uint32_t n)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += s[i].entry_size;
    return total;
}

int image_snapshot_list(const char *path, ImageSnapshot **out, int *count,
                        char *err, size_t errlen)
{
    *out = NULL;
    *count = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "Could not open '%s': %s", path, strerror(errno));
        return -1;
    }
    uint8_t magic[4];
    if (img_pread(fd, 0, magic, 4) < 0 || ldbe32(magic) != QCOW2_MAGIC) {
        close(fd);
        return 0;   /* raw: no snapshots */
    }
    ImgHeader h;
    ImgSnapshotEntry *s = NULL;
    int ret = -1;
    if (img_read_header(fd, path, &h, err, errlen) < 0 ||
        img_read_snapshots(fd, &h, &s, err, errlen) < 0)
        goto out;
    if (h.nb_snapshots) {
        *out = calloc(h.nb_snapshots, sizeof(**out));
        if (!*out) {
            snprintf(err, errlen, "%s: Out of memory", path);
            goto out;
        }
        for (uint32_t i = 0; i < h.nb_snapshots; i++) {
            (*out)[i] = s[i].info;
            memset(&s[i].info, 0, sizeof(s[i].info));
        }
        *count = (int)h.nb_snapshots;
    }
    ret = 0;
out:
    img_free_snapshots(s, h.nb_snapshots);
    close(fd);
    return ret;
}

void image_snapshots_free(ImageSnapshot *s, int count)
{
    if (!s)
        return;
    for (int i = 0; i < count; i++) {
        free(s[i].id);
        free(s[i].name);
    }
    free(s);
}
