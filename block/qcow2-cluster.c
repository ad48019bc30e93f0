/*
 * qcow2 cluster mapping (qcow2 spec, "Cluster mapping"): guest offset ->
 * L1 entry -> L2 table -> L2 entry -> host cluster, zero flag, compressed
 * data or nothing (backing file / zeroes).  Also the synchronous data
 * paths for everything that is not a plain read or write of allocated
 * clusters: allocation with copy-on-write, zero writes, discard.
 *
 * Metadata is written through at once, in dependency order: data cluster,
 * then its refcount, then the L2 entry, then (for a new L2 table) the L1
 * entry.  So a process killed at any point leaves only leaks behind.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "qcow2.h"
#include "util.h"

/* ---- metadata I/O and the write-through table caches ---- */

static int file_rw_sync(BlockFile *f, BlockReqType type, uint64_t off, void *buf, size_t len)
{
    BlockRequest req = { .type = type, .offset = off, .bytes = len, .iovcnt = 1 };
    req.one_iov = (struct iovec){ buf, len };
    req.iov = &req.one_iov;
    int r = bfile_execute(f, &req);
    free(req.bounce);
    return r;
}

/* Keep a cached copy of the table containing [off, off+len) in step. */
static void cache_update(Qcow2State *s, Qcow2Cache *c, uint64_t off, const void *buf,
                         size_t len)
{
    for (unsigned i = 0; i < c->n; i++) {
        Qcow2CacheEntry *e = &c->e[i];
        if (!e->offset || off < e->offset || off >= e->offset + s->cluster_size)
            continue;
        const uint8_t *b = buf;
        if (b >= e->data && b < e->data + s->cluster_size)
            return;   /* the caller wrote from the cached copy itself */
        memcpy(e->data + (off - e->offset), buf,
               MIN(len, s->cluster_size - (off - e->offset)));
    }
}

int qcow2_meta_write(Qcow2State *s, uint64_t off, const void *buf, size_t len)
{
    if (!s->writable)
        return -EROFS;
    cache_update(s, &s->l2c, off, buf, len);
    cache_update(s, &s->rbc, off, buf, len);
    return file_rw_sync(s->file, BREQ_WRITE, off, (void *)buf, len);
}

int qcow2_cache_get(Qcow2State *s, Qcow2Cache *c, uint64_t off, uint8_t **data)
{
    Qcow2CacheEntry *victim = &c->e[0];
    for (unsigned i = 0; i < c->n; i++) {
        Qcow2CacheEntry *e = &c->e[i];
        if (e->offset == off) {
            e->lru = ++c->tick;
            *data = e->data;
            return 0;
        }
        if (!e->offset || (victim->offset && e->lru < victim->lru))
            victim = e;
    }
    if (!victim->data)
        victim->data = xmalloc(s->cluster_size);
    victim->offset = 0;
    int r = bfile_pread_sync(s->file, off, victim->data, s->cluster_size);
    if (r < 0)
        return r;
    victim->offset = off;
    victim->lru = ++c->tick;
    *data = victim->data;
    return 0;
}

void qcow2_cache_drop(Qcow2Cache *c, uint64_t off)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->e[i].offset == off)
            c->e[i].offset = 0;
    }
}

void qcow2_cache_free(Qcow2Cache *c)
{
    for (unsigned i = 0; i < QCOW2_L2_CACHE_SIZE; i++) {
        free(c->e[i].data);
        c->e[i].data = NULL;
        c->e[i].offset = 0;
    }
}

bool qcow2_overlaps_metadata(Qcow2State *s, uint64_t off, uint64_t len)
{
    struct { uint64_t start, len; } meta[] = {
        { 0, s->cluster_size },
        { s->l1_offset, (uint64_t)s->l1_size * 8 },
        { s->rt_offset, (uint64_t)s->rt_clusters << s->cluster_bits },
    };
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
        if (meta[i].len && off < meta[i].start + meta[i].len && meta[i].start < off + len)
            return true;
    }
    return false;
}

/* ---- lookups ---- */

static bool cluster_aligned(const Qcow2State *s, uint64_t off)
{
    return (off & (s->cluster_size - 1)) == 0;
}

static int corrupt(Qcow2State *s, const char *what, uint64_t val)
{
    guest_error("%s: qcow2 %s %#llx is invalid", s->what, what, (unsigned long long)val);
    s->corrupt = true;
    return -EIO;
}

static uint64_t l1_index(const Qcow2State *s, uint64_t goff)
{
    return goff >> (s->cluster_bits + s->l2_bits);
}

static uint64_t l2_index(const Qcow2State *s, uint64_t goff)
{
    return (goff >> s->cluster_bits) & ((1ull << s->l2_bits) - 1);
}

static int check_l2e(Qcow2State *s, uint64_t l2e)
{
    Qcow2ClusterType t = qcow2_l2e_type(l2e, (int)s->h.version);
    if ((t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) &&
        (!cluster_aligned(s, l2e & QCOW2_L2E_OFFSET_MASK) ||
         (l2e & QCOW2_L2E_OFFSET_MASK) >> s->cluster_bits >= s->end_cluster))
        return corrupt(s, "L2 entry", l2e);
    if (t == QCOW2_CLUSTER_COMPRESSED &&
        qcow2_compressed_offset(l2e, s->cluster_bits) >> s->cluster_bits >= s->end_cluster)
        return corrupt(s, "compressed L2 entry", l2e);
    return 0;
}

int qcow2_get_l2e(Qcow2State *s, uint64_t goff, uint64_t *l2e)
{
    uint64_t i = l1_index(s, goff);
    *l2e = 0;
    if (i >= s->l1_size)
        return 0;
    uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK;
    if (!l2off)
        return 0;
    if (!cluster_aligned(s, l2off))
        return corrupt(s, "L2 table offset", l2off);
    uint8_t *t;
    int r = qcow2_cache_get(s, &s->l2c, l2off, &t);
    if (r < 0)
        return r;
    *l2e = ldbe64(t + l2_index(s, goff) * 8);
    return check_l2e(s, *l2e);
}

bool qcow2_map_contiguous(Qcow2State *s, uint64_t off, uint64_t len, bool for_write,
                          uint64_t *host)
{
    /* Writes wait for the first-write header update (autoclear bits) on
     * the synchronous path. */
    if (s->corrupt || (for_write && (!s->writable || s->h.autoclear_features)))
        return false;
    for (uint64_t done = 0; done < len;) {
        uint64_t goff = off + done, in = goff & (s->cluster_size - 1);
        uint64_t l2e;
        if (qcow2_get_l2e(s, goff, &l2e) < 0 ||
            qcow2_l2e_type(l2e, (int)s->h.version) != QCOW2_CLUSTER_NORMAL ||
            (for_write && !(l2e & QCOW2_OFLAG_COPIED)))
            return false;
        uint64_t h = (l2e & QCOW2_L2E_OFFSET_MASK) + in;
        if (done == 0)
            *host = h;
        else if (h != *host + done)
            return false;
        done += MIN(s->cluster_size - in, len - done);
    }
    return true;
}

/* ---- reading ---- */

/* Inflate the compressed cluster of l2e into s->cbuf (raw deflate, as
 * the spec's default compression type zlib). */
static int read_compressed(Qcow2State *s, uint64_t l2e)
{
    if (s->cbuf_host == l2e)
        return 0;
    s->cbuf_host = 0;
    uint64_t off = qcow2_compressed_offset(l2e, s->cluster_bits);
    uint64_t len = MIN(qcow2_compressed_size(l2e, s->cluster_bits), 2 * s->cluster_size);
    int r = bfile_pread_sync(s->file, off, s->zbuf, len);
    if (r < 0)
        return r;
    z_stream z = { 0 };
    if (inflateInit2(&z, -12) != Z_OK)
        return -ENOMEM;
    z.next_in = s->zbuf;
    z.avail_in = (uInt)len;
    z.next_out = s->cbuf;
    z.avail_out = (uInt)s->cluster_size;
    int zr = inflate(&z, Z_FINISH);
    bool ok = zr == Z_STREAM_END || ((zr == Z_OK || zr == Z_BUF_ERROR) && z.avail_out == 0);
    ok = ok && z.avail_out == 0;
    inflateEnd(&z);
    if (!ok)
        return corrupt(s, "compressed cluster", l2e);
    s->cbuf_host = l2e;
    return 0;
}

/* [goff, goff+n) within one cluster whose L2 entry is l2e. */
static int read_piece(Qcow2State *s, uint64_t goff, uint64_t l2e, uint8_t *buf, uint64_t n)
{
    uint64_t in = goff & (s->cluster_size - 1);
    switch (qcow2_l2e_type(l2e, (int)s->h.version)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return qcow2_backing_read(s, goff, buf, n);
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        memset(buf, 0, n);
        return 0;
    case QCOW2_CLUSTER_NORMAL:
        return bfile_pread_sync(s->file, (l2e & QCOW2_L2E_OFFSET_MASK) + in, buf, n);
    case QCOW2_CLUSTER_COMPRESSED: {
        int r = read_compressed(s, l2e);
        if (r == 0)
            memcpy(buf, s->cbuf + in, n);
        return r;
    }
    }
    return -EIO;
}

int qcow2_read(Qcow2State *s, uint64_t off, uint8_t *buf, uint64_t len)
{
    for (uint64_t done = 0; done < len;) {
        uint64_t goff = off + done, in = goff & (s->cluster_size - 1);
        uint64_t n = MIN(s->cluster_size - in, len - done), l2e;
        int r = qcow2_get_l2e(s, goff, &l2e);
        if (r == 0)
            r = read_piece(s, goff, l2e, buf + done, n);
        if (r < 0)
            return r;
        done += n;
    }
    return 0;
}

/* ---- writing ---- */

static int write_l1e(Qcow2State *s, uint64_t i, uint64_t val)
{
    uint8_t be[8];
    stbe64(be, val);
    int r = qcow2_meta_write(s, s->l1_offset + i * 8, be, 8);
    if (r == 0)
        s->l1[i] = val;
    return r;
}

/*
 * A copy of a shared L2 table (L1 entry without COPIED: a snapshot uses
 * it too).  The data clusters' refcounts already count every L1 table
 * that reaches them (QEMU raises them when it takes a snapshot), so they
 * stay; the copies lose COPIED, so writes through them copy the data
 * cluster as well.
 */
static int copy_shared_l2(Qcow2State *s, uint64_t old, uint8_t *tmp)
{
    uint8_t *t;
    int r = qcow2_cache_get(s, &s->l2c, old, &t);
    if (r < 0)
        return r;
    memcpy(tmp, t, s->cluster_size);
    for (uint64_t i = 0; i < s->cluster_size / 8; i++) {
        uint64_t e = ldbe64(tmp + i * 8);
        if (e && (r = check_l2e(s, e)) < 0)
            return r;
        stbe64(tmp + i * 8, e & ~QCOW2_OFLAG_COPIED);
    }
    return 0;
}

/* The L2 table for goff, allocated or copied so that it may be written;
 * *l2off is its host offset. */
static int l2_for_write(Qcow2State *s, uint64_t goff, uint64_t *l2off)
{
    uint64_t i = l1_index(s, goff);
    if (i >= s->l1_size)
        return corrupt(s, "guest offset beyond the L1 table", goff);
    uint64_t l1e = s->l1[i], old = l1e & QCOW2_L1E_OFFSET_MASK;
    if (old && !cluster_aligned(s, old))
        return corrupt(s, "L2 table offset", old);
    if (old && (l1e & QCOW2_OFLAG_COPIED)) {
        *l2off = old;
        return 0;
    }
    uint64_t refs = 0;
    int r = old ? qcow2_get_refcount(s, old >> s->cluster_bits, &refs) : 0;
    if (r < 0)
        return r;
    if (old && refs == 1) {
        /* Not shared after all (COPIED is only a hint): take it over. */
        *l2off = old;
        return write_l1e(s, i, old | QCOW2_OFLAG_COPIED);
    }
    int64_t nw = qcow2_alloc_clusters(s, 1);
    if (nw < 0)
        return (int)nw;
    uint8_t *tmp = xzalloc(s->cluster_size);
    r = old ? copy_shared_l2(s, old, tmp) : 0;
    if (r == 0)
        r = qcow2_meta_write(s, (uint64_t)nw, tmp, s->cluster_size);
    free(tmp);
    if (r == 0)
        r = write_l1e(s, i, (uint64_t)nw | QCOW2_OFLAG_COPIED);
    if (r < 0)
        return r;
    if (old)
        qcow2_free_range(s, old, 1);
    *l2off = (uint64_t)nw;
    return 0;
}

static int set_l2e(Qcow2State *s, uint64_t l2off, uint64_t goff, uint64_t val)
{
    uint8_t *t;
    int r = qcow2_cache_get(s, &s->l2c, l2off, &t);
    if (r < 0)
        return r;
    uint64_t i = l2_index(s, goff);
    stbe64(t + i * 8, val);
    return qcow2_meta_write(s, l2off + i * 8, t + i * 8, 8);
}

static int get_l2e_at(Qcow2State *s, uint64_t l2off, uint64_t goff, uint64_t *l2e)
{
    uint8_t *t;
    int r = qcow2_cache_get(s, &s->l2c, l2off, &t);
    if (r < 0)
        return r;
    *l2e = ldbe64(t + l2_index(s, goff) * 8);
    return check_l2e(s, *l2e);
}

/* The whole current content of goff's cluster into s->cbuf. */
static int read_cluster_for_cow(Qcow2State *s, uint64_t cluster_goff, uint64_t l2e)
{
    if (qcow2_l2e_type(l2e, (int)s->h.version) == QCOW2_CLUSTER_COMPRESSED)
        return read_compressed(s, l2e);
    s->cbuf_host = 0;
    return read_piece(s, cluster_goff, l2e, s->cbuf, s->cluster_size);
}

/* Write [goff, goff+n) within one cluster; buf NULL writes zeroes. */
static int write_piece(Qcow2State *s, uint64_t goff, const uint8_t *buf, uint64_t n)
{
    uint64_t in = goff & (s->cluster_size - 1), l2off, l2e;
    int r = l2_for_write(s, goff, &l2off);
    if (r == 0)
        r = get_l2e_at(s, l2off, goff, &l2e);
    if (r < 0)
        return r;
    if (qcow2_l2e_type(l2e, (int)s->h.version) == QCOW2_CLUSTER_NORMAL &&
        (l2e & QCOW2_OFLAG_COPIED)) {
        uint64_t host = (l2e & QCOW2_L2E_OFFSET_MASK) + in;
        if (buf)
            return file_rw_sync(s->file, BREQ_WRITE, host, (void *)buf, n);
        BlockRequest z = { .type = BREQ_WRITE_ZEROES, .offset = host, .bytes = n };
        return bfile_execute(s->file, &z);
    }
    /* Copy-on-write into a new cluster: old content (backing file,
     * zeroes, compressed or shared data) merged with the new bytes. */
    int64_t nw = qcow2_alloc_clusters(s, 1);
    if (nw < 0)
        return (int)nw;
    if (n < s->cluster_size)
        r = read_cluster_for_cow(s, goff - in, l2e);
    if (r < 0)
        return r;
    s->cbuf_host = 0;
    if (buf)
        memcpy(s->cbuf + in, buf, n);
    else
        memset(s->cbuf + in, 0, n);
    r = file_rw_sync(s->file, BREQ_WRITE, (uint64_t)nw, s->cbuf, s->cluster_size);
    if (r == 0)
        r = set_l2e(s, l2off, goff, (uint64_t)nw | QCOW2_OFLAG_COPIED);
    if (r < 0)
        return r;
    qcow2_free_l2e(s, l2e);
    return 0;
}

int qcow2_write(Qcow2State *s, uint64_t off, const uint8_t *buf, uint64_t len)
{
    if (s->corrupt)
        return -EIO;
    int r = qcow2_mark_dirty(s);
    for (uint64_t done = 0; r == 0 && done < len;) {
        uint64_t in = (off + done) & (s->cluster_size - 1);
        uint64_t n = MIN(s->cluster_size - in, len - done);
        r = write_piece(s, off + done, buf ? buf + done : NULL, n);
        done += n;
    }
    return r;
}

/* Does the image read as zeroes where l2e says so, without a change? */
static bool reads_as_zero(Qcow2State *s, uint64_t l2e)
{
    Qcow2ClusterType t = qcow2_l2e_type(l2e, (int)s->h.version);
    return t == QCOW2_CLUSTER_ZERO_PLAIN || t == QCOW2_CLUSTER_ZERO_ALLOC ||
           (t == QCOW2_CLUSTER_UNALLOCATED && !s->backing.drv);
}

/*
 * Make one whole cluster read as zeroes without data: the v3 zero flag,
 * or (v2, no backing file) no allocation at all.  false: not possible.
 */
static int zero_cluster(Qcow2State *s, uint64_t goff, bool *done)
{
    uint64_t l2e;
    int r = qcow2_get_l2e(s, goff, &l2e);
    *done = r == 0 && reads_as_zero(s, l2e);
    if (r < 0 || *done)
        return r;
    if (s->h.version < 3 && s->backing.drv)
        return 0;
    uint64_t l2off;
    r = l2_for_write(s, goff, &l2off);
    if (r == 0)
        r = get_l2e_at(s, l2off, goff, &l2e);
    if (r == 0)
        r = set_l2e(s, l2off, goff, s->h.version >= 3 ? QCOW2_OFLAG_ZERO : 0);
    if (r < 0)
        return r;
    qcow2_free_l2e(s, l2e);
    *done = true;
    return 0;
}

/* Whole clusters in [off, off+len) are made to read as zeroes without data
 * where possible (zero_cluster); with write_rest, the rest (partial
 * clusters at the edges, v2 clusters over a backing file) gets zeroes
 * written, else it is left alone. */
static int zero_range(Qcow2State *s, uint64_t off, uint64_t len, bool write_rest)
{
    if (s->corrupt)
        return -EIO;
    int r = qcow2_mark_dirty(s);
    for (uint64_t done = 0; r == 0 && done < len;) {
        uint64_t goff = off + done, in = goff & (s->cluster_size - 1);
        uint64_t n = MIN(s->cluster_size - in, len - done);
        bool zeroed = false;
        if (n == s->cluster_size) {
            r = zero_cluster(s, goff, &zeroed);
        } else if (write_rest) {
            uint64_t l2e;
            r = qcow2_get_l2e(s, goff, &l2e);
            zeroed = r == 0 && reads_as_zero(s, l2e);
        }
        if (r == 0 && !zeroed && write_rest)
            r = write_piece(s, goff, NULL, n);
        done += n;
    }
    return r;
}

int qcow2_write_zeroes(Qcow2State *s, uint64_t off, uint64_t len, bool unmap)
{
    (void)unmap;   /* whole clusters are always deallocated: cheaper, reads the same */
    return zero_range(s, off, len, true);
}

/* Whole clusters only: the rest of a discard is advisory and ignored. */
int qcow2_discard(Qcow2State *s, uint64_t off, uint64_t len)
{
    return zero_range(s, off, len, false);
}
