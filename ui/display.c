/*
 * The display surface: one x8r8g8b8 pixman image that the graphics device
 * renders into, a dirty region merged per refresh, and the listeners (VNC
 * clients) that receive the dirty rectangles.  The refresh timer runs only
 * while at least one listener exists, so an unwatched guest costs nothing.
 *
 * screendump writes PPM (P6, Netpbm) or PNG (ISO/IEC 15948: signature,
 * IHDR, IDAT, IEND chunks with CRC-32; pixel rows zlib-compressed, each
 * prefixed with filter type 0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ui.h"
#include "util.h"

#define DISPLAY_DEFAULT_WIDTH 640
#define DISPLAY_DEFAULT_HEIGHT 480
#define DISPLAY_MAX_DIM 16384

typedef struct Listener {
    const DisplayListenerOps *ops;
    void *opaque;
    struct Listener *next;
} Listener;

static struct {
    DisplaySurface surface;
    bool have_surface;
    const DisplayDevOps *dev_ops;
    void *dev_opaque;
    Listener *listeners;
    unsigned nlisteners;
    pixman_region32_t dirty;
    bool dirty_init;
    Timer *timer;
    int64_t idle_extra_ns;      /* added to the refresh period while idle */
} dpy;

/* ---- surface ---- */

static void dirty_reset(void)
{
    if (!dpy.dirty_init) {
        pixman_region32_init(&dpy.dirty);
        dpy.dirty_init = true;
    } else {
        pixman_region32_clear(&dpy.dirty);
    }
}

/* pixman allocates and zero-fills the bits when given NULL: a black screen. */
static void surface_create(int width, int height)
{
    DisplaySurface *s = &dpy.surface;
    pixman_image_t *img = pixman_image_create_bits(PIXMAN_x8r8g8b8, width, height, NULL, 0);
    if (!img) {
        error_report("display: cannot allocate a %dx%d surface", width, height);
        abort();
    }
    if (s->image)
        pixman_image_unref(s->image);
    s->image = img;
    s->width = width;
    s->height = height;
    s->stride = pixman_image_get_stride(img);
    s->data = pixman_image_get_data(img);
    dpy.have_surface = true;
    dirty_reset();
}

static void surface_ensure(void)
{
    if (!dpy.have_surface)
        surface_create(DISPLAY_DEFAULT_WIDTH, DISPLAY_DEFAULT_HEIGHT);
}

DisplaySurface *display_surface(void)
{
    surface_ensure();
    return &dpy.surface;
}

void display_register_device(const DisplayDevOps *ops, void *opaque)
{
    surface_ensure();
    dpy.dev_ops = ops;
    dpy.dev_opaque = opaque;
    if (ops && dpy.nlisteners && ops->invalidate)
        ops->invalidate(opaque);
}

static void notify_resize(void)
{
    for (Listener *l = dpy.listeners; l; l = l->next)
        if (l->ops->resize)
            l->ops->resize(l->opaque, &dpy.surface);
}

void display_resize(int width, int height)
{
    surface_ensure();
    if (width < 1 || height < 1 || width > DISPLAY_MAX_DIM || height > DISPLAY_MAX_DIM) {
        log_msg(LOG_GUEST_ERROR, "display: ignoring resize to %dx%d\n", width, height);
        return;
    }
    if (width == dpy.surface.width && height == dpy.surface.height)
        return;
    surface_create(width, height);
    notify_resize();
}

void display_dirty(int x, int y, int w, int h)
{
    surface_ensure();
    /* Clip in 64-bit so that huge or negative values cannot overflow. */
    int64_t x0 = MAX((int64_t)x, 0), y0 = MAX((int64_t)y, 0);
    int64_t x1 = MIN((int64_t)x + w, (int64_t)dpy.surface.width);
    int64_t y1 = MIN((int64_t)y + h, (int64_t)dpy.surface.height);
    if (x1 <= x0 || y1 <= y0)
        return;
    pixman_region32_union_rect(&dpy.dirty, &dpy.dirty, (int)x0, (int)y0,
                               (unsigned)(x1 - x0), (unsigned)(y1 - y0));
}

/* ---- refresh ---- */

static void flush_dirty(void)
{
    int n;
    pixman_box32_t *boxes = pixman_region32_rectangles(&dpy.dirty, &n);
    for (Listener *l = dpy.listeners; l; l = l->next) {
        if (!l->ops->update)
            continue;
        for (int i = 0; i < n; i++)
            l->ops->update(l->opaque, boxes[i].x1, boxes[i].y1, boxes[i].x2 - boxes[i].x1,
                           boxes[i].y2 - boxes[i].y1);
    }
    pixman_region32_clear(&dpy.dirty);
    for (Listener *l = dpy.listeners; l; l = l->next)
        if (l->ops->refresh_done)
            l->ops->refresh_done(l->opaque);
}

/* Render and hand the changes to the listeners; did anything change? */
static bool refresh(void)
{
    surface_ensure();
    if (dpy.dev_ops && dpy.dev_ops->refresh)
        dpy.dev_ops->refresh(dpy.dev_opaque);
    bool changed = pixman_region32_not_empty(&dpy.dirty);
    flush_dirty();
    return changed;
}

void display_refresh_now(void)
{
    refresh();
}

/*
 * The period: DISPLAY_REFRESH_HZ while the screen changes; each refresh
 * that finds nothing new waits REFRESH_IDLE_STEP_NS longer, up to
 * REFRESH_IDLE_MAX_NS, so an idle screen costs next to nothing (QEMU's VNC
 * backs off the same way).  Input (display_activity) brings it back.
 */
#define REFRESH_IDLE_STEP_NS (50 * 1000000LL)
#define REFRESH_IDLE_MAX_NS (3000 * 1000000LL)

static int64_t refresh_base_ns(void)
{
    return 1000000000LL / DISPLAY_REFRESH_HZ;
}

static int64_t refresh_period_ns(void)
{
    return refresh_base_ns() + dpy.idle_extra_ns;
}

static void refresh_timer_cb(void *opaque)
{
    (void)opaque;
    if (!dpy.nlisteners)
        return;
    if (refresh())
        dpy.idle_extra_ns = 0;
    else
        dpy.idle_extra_ns = MIN(dpy.idle_extra_ns + REFRESH_IDLE_STEP_NS,
                                REFRESH_IDLE_MAX_NS - refresh_base_ns());
    /* Re-armed from now, so a slow refresh does not pile up ticks. */
    timer_mod(dpy.timer, clock_ns(CLOCK_REALTIME_NS) + refresh_period_ns());
}

void display_activity(void)
{
    dpy.idle_extra_ns = 0;
    if (!dpy.timer || !dpy.nlisteners)
        return;
    int64_t soon = clock_ns(CLOCK_REALTIME_NS) + refresh_base_ns();
    if (!timer_pending(dpy.timer) || timer_expire_time(dpy.timer) > soon)
        timer_mod(dpy.timer, soon);
}

void *display_add_listener(const DisplayListenerOps *ops, void *opaque)
{
    surface_ensure();
    Listener *l = xzalloc(sizeof(*l));
    l->ops = ops;
    l->opaque = opaque;
    l->next = dpy.listeners;
    dpy.listeners = l;
    dpy.nlisteners++;
    if (ops->resize)
        ops->resize(opaque, &dpy.surface);
    if (dpy.dev_ops && dpy.dev_ops->invalidate)
        dpy.dev_ops->invalidate(dpy.dev_opaque);
    if (!dpy.timer)
        dpy.timer = timer_new(CLOCK_REALTIME_NS, refresh_timer_cb, NULL);
    if (!timer_pending(dpy.timer))
        timer_mod(dpy.timer, clock_ns(CLOCK_REALTIME_NS) + refresh_period_ns());
    return l;
}

void display_remove_listener(void *handle)
{
    for (Listener **pp = &dpy.listeners; *pp; pp = &(*pp)->next) {
        if (*pp != handle)
            continue;
        Listener *l = *pp;
        *pp = l->next;
        free(l);
        dpy.nlisteners--;
        break;
    }
    if (!dpy.nlisteners && dpy.timer)
        timer_del(dpy.timer);
}

/* ---- screendump ---- */

static void pixel_to_rgb(uint32_t px, uint8_t *rgb)
{
    rgb[0] = px >> 16;
    rgb[1] = px >> 8;
    rgb[2] = px;
}

static void row_to_rgb(const DisplaySurface *s, int y, uint8_t *out)
{
    const uint32_t *row = s->data + (size_t)y * (s->stride / 4);
    for (int x = 0; x < s->width; x++)
        pixel_to_rgb(row[x], out + x * 3);
}

static int write_ppm(FILE *f, const DisplaySurface *s, uint8_t *row)
{
    if (fprintf(f, "P6\n%d %d\n255\n", s->width, s->height) < 0)
        return -1;
    for (int y = 0; y < s->height; y++) {
        row_to_rgb(s, y, row);
        if (fwrite(row, 3, s->width, f) != (size_t)s->width)
            return -1;
    }
    return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/* A PNG chunk: length, type, data, CRC-32 over type and data. */
static int png_chunk(FILE *f, const char *type, const uint8_t *data, uint32_t len)
{
    uint8_t hdr[8], crcb[4];
    put_be32(hdr, len);
    memcpy(hdr + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, len);
    put_be32(crcb, (uint32_t)crc);
    if (fwrite(hdr, 1, 8, f) != 8 || (len && fwrite(data, 1, len, f) != len) ||
        fwrite(crcb, 1, 4, f) != 4)
        return -1;
    return 0;
}

#define PNG_IDAT_BUF (64 * 1024)

/* Deflate len bytes (flush = Z_FINISH at the end), writing an IDAT chunk
 * each time the output buffer fills. */
static int png_deflate(FILE *f, z_stream *z, uint8_t *out, const uint8_t *in, size_t len,
                       int flush)
{
    z->next_in = (Bytef *)in;
    z->avail_in = len;
    for (;;) {
        int r = deflate(z, flush);
        if (r == Z_STREAM_ERROR)
            return -1;
        bool full = z->avail_out == 0;
        if (full || (flush == Z_FINISH && r == Z_STREAM_END)) {
            uint32_t n = PNG_IDAT_BUF - z->avail_out;
            if (n && png_chunk(f, "IDAT", out, n) < 0)
                return -1;
            z->next_out = out;
            z->avail_out = PNG_IDAT_BUF;
        }
        if (flush == Z_FINISH ? r == Z_STREAM_END : (z->avail_in == 0 && !full))
            return 0;
    }
}

static int write_png_data(FILE *f, const DisplaySurface *s, uint8_t *row, uint8_t *out)
{
    z_stream z = { 0 };
    if (deflateInit(&z, Z_DEFAULT_COMPRESSION) != Z_OK)
        return -1;
    z.next_out = out;
    z.avail_out = PNG_IDAT_BUF;
    int ret = 0;
    for (int y = 0; y < s->height && ret == 0; y++) {
        row[0] = 0;   /* filter type 0: None */
        row_to_rgb(s, y, row + 1);
        ret = png_deflate(f, &z, out, row, (size_t)s->width * 3 + 1, Z_NO_FLUSH);
    }
    if (ret == 0)
        ret = png_deflate(f, &z, out, NULL, 0, Z_FINISH);
    deflateEnd(&z);
    return ret;
}

static int write_png(FILE *f, const DisplaySurface *s, uint8_t *row)
{
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    uint8_t ihdr[13];
    put_be32(ihdr, s->width);
    put_be32(ihdr + 4, s->height);
    ihdr[8] = 8;    /* bit depth */
    ihdr[9] = 2;    /* colour type: truecolour RGB */
    ihdr[10] = 0;   /* compression: deflate */
    ihdr[11] = 0;   /* filter method 0 */
    ihdr[12] = 0;   /* no interlace */
    if (fwrite(sig, 1, 8, f) != 8 || png_chunk(f, "IHDR", ihdr, 13) < 0)
        return -1;
    uint8_t *out = xmalloc(PNG_IDAT_BUF);
    int ret = write_png_data(f, s, row, out);
    free(out);
    if (ret < 0)
        return -1;
    return png_chunk(f, "IEND", NULL, 0);
}

int display_screendump(const char *path, bool png, char *err, size_t errlen)
{
    display_refresh_now();
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "screendump: cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    const DisplaySurface *s = &dpy.surface;
    uint8_t *row = xmalloc((size_t)s->width * 3 + 1);
    errno = 0;
    int ret = png ? write_png(f, s, row) : write_ppm(f, s, row);
    free(row);
    int saved = errno;
    if (fclose(f) != 0 && ret == 0) {
        saved = errno;
        ret = -1;
    }
    if (ret < 0) {
        snprintf(err, errlen, "screendump: cannot write '%s': %s", path,
                 saved ? strerror(saved) : "write error");
        return -1;
    }
    return 0;
}
