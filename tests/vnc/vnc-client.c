/*
 * vnc-client: a scripted VNC client for the screen and input tests
 * (tests/integration/vnc.sh, bench/vnc.sh), built on libvncclient.
 *
 *   vnc-client ADDR [--password P] [--encodings "tight zrle hextile raw"]
 *              [--font FILE] [--tolerance N] COMMAND...
 *
 * ADDR is HOST:PORT or unix:PATH.  Commands run in order; the first that
 * fails prints "vnc-client: <command>: <why>" and exits 1.
 *
 *   wait-size WxH SECS        framebuffer of that size (DesktopSize followed)
 *   wait-update SECS          any framebuffer update
 *   dump FILE.ppm             fresh full update, written as binary PPM (P6)
 *   text                      print the screen as text (OCR, see below)
 *   size                      print "size WxH"
 *   wait-text STRING SECS     STRING somewhere on the text screen
 *   wait-text-at COL ROW STRING SECS   STRING starting at that cell
 *   wait-pixel X Y RRGGBB SECS   (each channel within --tolerance N, default 0:
 *                             6-bit DAC values widen to 8 bits as v<<2 or
 *                             v<<2|v>>4 depending on the VMM)
 *   key KEYSYM                press + release (a name, one char, or 0xHEX)
 *   key-down KEYSYM / key-up KEYSYM
 *   keys STRING               type each character (shift for shifted ones)
 *   pointer X Y BUTTONS       pointer event (button mask: 1 left, 2 middle, 4 right)
 *   sleep MS                  keep handling server messages for MS ms
 *   count-updates SECS        print "updates N fps F frames_per_s P": update
 *                             messages per second, and updated pixels per
 *                             second in full screens
 *   expect-auth-fail          the connection must fail in authentication
 *                             (must be the only command)
 *   garbage N                 raw socket: read the server's version, send N
 *                             pseudo-random bytes, close (no RFB client)
 *   abort-update              raw socket: handshake, ask for a full update,
 *                             close without reading it
 *
 * Text OCR: SeaVGABIOS draws text mode characters from its 8x16 font, which
 * we take from the same ROM (default /usr/share/seabios/vgabios-stdvga.bin,
 * found by the IBM VGA glyph of 'A').  The screen is cut into 80x25 cells
 * (9 or 8 pixels wide, 16 high); in each cell the most frequent colour is
 * the background, every other pixel is foreground, and the 8 left columns
 * are matched against the glyphs.  A cell that matches no printable glyph
 * reads as '?'.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#define DEFAULT_FONT "/usr/share/seabios/vgabios-stdvga.bin"
#define TEXT_COLS 80
#define TEXT_ROWS 25
#define GLYPH_H 16

static const char *opt_password;
static const char *opt_encodings = "tight zrle hextile zlib copyrect raw";
static const char *opt_font = DEFAULT_FONT;
static const char *opt_addr;
static int opt_tolerance;       /* per colour channel, for wait-pixel */

/* Update accounting, filled by the callbacks. */
static unsigned long updates_done;      /* FramebufferUpdate messages finished */
static uint64_t update_area;            /* pixels in rectangles since last reset */
static bool password_asked;
static char last_log[512];

static void die(const char *what, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vnc-client: %s: ", what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- libvncclient callbacks ---- */

static void log_quiet(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof(last_log), fmt, ap);
    va_end(ap);
    if (getenv("VNC_CLIENT_DEBUG"))
        fprintf(stderr, "libvncclient: %s", last_log);
}

static char *get_password(rfbClient *cl)
{
    password_asked = true;
    return strdup(opt_password ? opt_password : "");
}

static void got_update(rfbClient *cl, int x, int y, int w, int h)
{
    update_area += (uint64_t)w * h;
}

/* RFC 6143 7.5.3: a server sends one update per request, so ask for the
 * next (incremental) one as soon as an update is complete.  QEMU keeps
 * sending without being asked; libvncserver, like the spec, does not. */
static void finished_update(rfbClient *cl)
{
    updates_done++;
    SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE);
}

/* ---- connection ---- */

static rfbClient *client_new(void)
{
    rfbClient *cl = rfbGetClient(8, 3, 4);
    if (!cl)
        die("connect", "out of memory");
    cl->appData.encodingsString = opt_encodings;
    cl->appData.shareDesktop = TRUE;
    cl->appData.useRemoteCursor = FALSE;
    cl->GetPassword = get_password;
    cl->GotFrameBufferUpdate = got_update;
    cl->FinishedFrameBufferUpdate = finished_update;
    cl->canHandleNewFBSize = TRUE;
    cl->connectTimeout = 10;
    return cl;
}

/* libvncclient takes a UNIX socket when serverHost names one (stat). */
static void client_set_addr(rfbClient *cl, const char *addr)
{
    if (strncmp(addr, "unix:", 5) == 0) {
        cl->serverHost = strdup(addr + 5);
        cl->serverPort = 0;
        return;
    }
    const char *colon = strrchr(addr, ':');
    if (!colon)
        die("address", "'%s' is neither HOST:PORT nor unix:PATH", addr);
    cl->serverHost = strndup(addr, (size_t)(colon - addr));
    cl->serverPort = atoi(colon + 1);
}

/* Encoding numbers (RFC 6143 7.7; tight and zlib from the RFB registry). */
static int32_t encoding_number(const char *name)
{
    static const struct { const char *name; int32_t num; } encs[] = {
        { "raw", rfbEncodingRaw }, { "copyrect", rfbEncodingCopyRect }, { "rre", rfbEncodingRRE },
        { "hextile", rfbEncodingHextile }, { "zlib", rfbEncodingZlib },
        { "tight", rfbEncodingTight }, { "zrle", rfbEncodingZRLE },
    };
    for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++)
        if (strcmp(encs[i].name, name) == 0)
            return encs[i].num;
    die("encodings", "unknown encoding '%s'", name);
}

/*
 * SetPixelFormat + SetEncodings (RFC 6143 7.5.1, 7.5.2) of our own:
 * libvncclient 0.9.14 always offers ExtendedDesktopSize but ignores a
 * resize whose screen id is 0 (QEMU's), then fails on the first rectangle
 * beyond the old size.  We offer the plain DesktopSize pseudo-encoding
 * (-223) instead, which libvncclient handles, and LastRect (-224).
 */
static void send_format_and_encodings(rfbClient *client)
{
    rfbSetPixelFormatMsg pf = { .type = rfbSetPixelFormat, .format = client->format };
    pf.format.redMax = rfbClientSwap16IfLE(client->format.redMax);
    pf.format.greenMax = rfbClientSwap16IfLE(client->format.greenMax);
    pf.format.blueMax = rfbClientSwap16IfLE(client->format.blueMax);
    if (!WriteToRFBServer(client, (char *)&pf, sz_rfbSetPixelFormatMsg))
        die("connect", "SetPixelFormat failed");

    char buf[sz_rfbSetEncodingsMsg + 4 * 32];
    uint32_t encs[32];
    unsigned n = 0;
    char list[256];
    snprintf(list, sizeof(list), "%s", opt_encodings);
    for (char *save, *w = strtok_r(list, " ,", &save); w && n < 30; w = strtok_r(NULL, " ,", &save))
        encs[n++] = rfbClientSwap32IfLE((uint32_t)encoding_number(w));
    encs[n++] = rfbClientSwap32IfLE(rfbEncodingNewFBSize);
    encs[n++] = rfbClientSwap32IfLE(rfbEncodingLastRect);
    rfbSetEncodingsMsg se = { .type = rfbSetEncodings,
                              .nEncodings = rfbClientSwap16IfLE((uint16_t)n) };
    memcpy(buf, &se, sz_rfbSetEncodingsMsg);
    memcpy(buf + sz_rfbSetEncodingsMsg, encs, 4 * n);
    if (!WriteToRFBServer(client, buf, sz_rfbSetEncodingsMsg + 4 * n))
        die("connect", "SetEncodings failed");
}

/* rfbInitClient's steps, with our own format and encodings message. */
static rfbClient *client_connect(void)
{
    rfbClient *cl = client_new();
    client_set_addr(cl, opt_addr);
    if (!ConnectToRFBServer(cl, cl->serverHost, cl->serverPort) || !InitialiseRFBConnection(cl)) {
        rfbClientCleanup(cl);
        return NULL;
    }
    cl->width = cl->si.framebufferWidth;
    cl->height = cl->si.framebufferHeight;
    if (!cl->MallocFrameBuffer(cl))
        die("connect", "no memory for a %dx%d framebuffer", cl->width, cl->height);
    send_format_and_encodings(cl);
    if (!SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, FALSE))
        die("connect", "update request failed");
    return cl;
}

/* Handle server messages for up to secs seconds or until done(cl) holds. */
static bool pump_until(rfbClient *cl, double secs, bool (*done)(rfbClient *, void *), void *arg)
{
    double end = now_s() + secs;
    for (;;) {
        if (done && done(cl, arg))
            return true;
        double left = end - now_s();
        if (left <= 0)
            return false;
        int us = left > 0.05 ? 50000 : (int)(left * 1e6) + 1;
        int n = WaitForMessage(cl, (unsigned)us);
        if (n < 0)
            die("connection", "wait failed: %s", last_log);
        if (n > 0 && !HandleRFBServerMessage(cl))
            die("connection", "server message failed (connection closed?): %s", last_log);
    }
}

/* ---- pixels ---- */

static uint32_t pixel_rgb(rfbClient *cl, int x, int y)
{
    const uint32_t *fb = (const uint32_t *)cl->frameBuffer;
    uint32_t p = fb[(size_t)y * cl->width + x];
    const rfbPixelFormat *f = &cl->format;
    uint32_t r = (p >> f->redShift) & f->redMax;
    uint32_t g = (p >> f->greenShift) & f->greenMax;
    uint32_t b = (p >> f->blueShift) & f->blueMax;
    return r << 16 | g << 8 | b;
}

static void write_ppm(rfbClient *cl, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("dump", "%s: %s", path, strerror(errno));
    fprintf(f, "P6\n%d %d\n255\n", cl->width, cl->height);
    for (int y = 0; y < cl->height; y++)
        for (int x = 0; x < cl->width; x++) {
            uint32_t rgb = pixel_rgb(cl, x, y);
            uint8_t px[3] = { rgb >> 16, rgb >> 8, rgb };
            fwrite(px, 1, 3, f);
        }
    if (fclose(f) != 0)
        die("dump", "%s: %s", path, strerror(errno));
}

/* ---- text OCR ---- */

static uint8_t font[256][GLYPH_H];

/* The IBM VGA 8x16 glyph of 'A' (code 0x41) locates the 4 KiB table. */
static void font_load(void)
{
    static const uint8_t glyph_A[GLYPH_H] = { 0x00, 0x00, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe,
                                              0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00, 0x00 };
    static bool loaded;
    if (loaded)
        return;
    FILE *f = fopen(opt_font, "rb");
    if (!f)
        die("font", "%s: %s", opt_font, strerror(errno));
    static uint8_t rom[1 << 20];
    size_t n = fread(rom, 1, sizeof(rom), f);
    fclose(f);
    for (size_t i = 0x41 * GLYPH_H; i + sizeof(glyph_A) <= n; i++) {
        size_t base = i - 0x41 * GLYPH_H;
        if (memcmp(rom + i, glyph_A, sizeof(glyph_A)) == 0 && base + sizeof(font) <= n) {
            memcpy(font, rom + base, sizeof(font));
            loaded = true;
            return;
        }
    }
    die("font", "%s: no 8x16 VGA font (glyph 'A' not found)", opt_font);
}

/* The cell's background: its most frequent colour. */
static uint32_t cell_background(rfbClient *cl, int x0, int y0, int cw, int chh)
{
    uint32_t colours[16];
    int counts[16], nc = 0, best = 0;
    for (int y = y0; y < y0 + chh; y++)
        for (int x = x0; x < x0 + cw; x++) {
            uint32_t c = pixel_rgb(cl, x, y);
            int i = 0;
            while (i < nc && colours[i] != c)
                i++;
            if (i == nc) {
                if (nc == 16)
                    continue;
                colours[nc] = c;
                counts[nc++] = 0;
            }
            counts[i]++;
        }
    for (int i = 1; i < nc; i++)
        if (counts[i] > counts[best])
            best = i;
    return colours[best];
}

static char match_glyph(const uint8_t bits[GLYPH_H], int rows)
{
    /* Printable ASCII first: glyphs like the blank repeat elsewhere. */
    for (int c = 0x20; c < 0x7f; c++) {
        bool same = true;
        for (int r = 0; r < rows && same; r++)
            same = font[c][r] == bits[r];
        if (same)
            return (char)c;
    }
    return '?';
}

static char cell_char(rfbClient *cl, int col, int row, int cw, int chh)
{
    int x0 = col * cw, y0 = row * chh;
    uint32_t bg = cell_background(cl, x0, y0, cw, chh);
    uint8_t bits[GLYPH_H] = { 0 };
    int rows = chh < GLYPH_H ? chh : GLYPH_H;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < 8; c++)
            if (pixel_rgb(cl, x0 + c, y0 + r) != bg)
                bits[r] |= (uint8_t)(0x80 >> c);
    char ch = match_glyph(bits, rows);
    if (ch == '?') {
        /* The cursor (an underline in the last rows) over a character. */
        uint8_t masked[GLYPH_H];
        memcpy(masked, bits, sizeof(masked));
        masked[rows - 1] = masked[rows - 2] = 0;
        ch = match_glyph(masked, rows - 2);
    }
    return ch;
}

/* The screen as 25 lines of 80 characters; false if not a text screen. */
static bool screen_text(rfbClient *cl, char text[TEXT_ROWS][TEXT_COLS + 1])
{
    int cw = cl->width / TEXT_COLS, chh = cl->height / TEXT_ROWS;
    if (cl->width % TEXT_COLS || cl->height % TEXT_ROWS || cw < 8 || cw > 9 || chh < 14 || chh > 16)
        return false;
    font_load();
    for (int r = 0; r < TEXT_ROWS; r++) {
        for (int c = 0; c < TEXT_COLS; c++)
            text[r][c] = cell_char(cl, c, r, cw, chh);
        text[r][TEXT_COLS] = 0;
    }
    return true;
}

/* ---- commands ---- */

struct text_goal {
    const char *s;
    int col, row;       /* -1: anywhere */
};

static bool text_found(rfbClient *cl, void *arg)
{
    const struct text_goal *g = arg;
    char text[TEXT_ROWS][TEXT_COLS + 1];
    if (!screen_text(cl, text))
        return false;
    if (g->row < 0) {
        for (int r = 0; r < TEXT_ROWS; r++)
            if (strstr(text[r], g->s))
                return true;
        return false;
    }
    return g->row < TEXT_ROWS && g->col < TEXT_COLS &&
           strncmp(text[g->row] + g->col, g->s, strlen(g->s)) == 0;
}

static void print_text(rfbClient *cl, FILE *out)
{
    char text[TEXT_ROWS][TEXT_COLS + 1];
    if (!screen_text(cl, text)) {
        fprintf(out, "(not a text screen: %dx%d)\n", cl->width, cl->height);
        return;
    }
    for (int r = 0; r < TEXT_ROWS; r++) {
        int len = TEXT_COLS;
        while (len > 0 && text[r][len - 1] == ' ')
            len--;
        fprintf(out, "%.*s\n", len, text[r]);
    }
}

struct size_goal { int w, h; };
static bool size_reached(rfbClient *cl, void *arg)
{
    const struct size_goal *g = arg;
    return cl->width == g->w && cl->height == g->h && updates_done > 0;
}

struct pixel_goal { int x, y; uint32_t rgb; };

static bool colour_close(uint32_t a, uint32_t b)
{
    for (int shift = 0; shift < 24; shift += 8) {
        int d = (int)((a >> shift) & 0xff) - (int)((b >> shift) & 0xff);
        if (d > opt_tolerance || d < -opt_tolerance)
            return false;
    }
    return true;
}

static bool pixel_reached(rfbClient *cl, void *arg)
{
    const struct pixel_goal *g = arg;
    return g->x >= 0 && g->y >= 0 && g->x < cl->width && g->y < cl->height &&
           updates_done > 0 && colour_close(pixel_rgb(cl, g->x, g->y), g->rgb);
}

static unsigned long updates_mark;
static bool update_seen(rfbClient *cl, void *arg) { return updates_done > updates_mark; }

static bool full_update_seen(rfbClient *cl, void *arg)
{
    return updates_done > updates_mark && update_area >= (uint64_t)cl->width * cl->height;
}

static double parse_secs(const char *cmd, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || v < 0)
        die(cmd, "'%s' is not a number of seconds", s);
    return v;
}

/* X keysyms (X11 keysymdef.h) by name; one character names itself. */
static uint32_t parse_keysym(const char *s)
{
    static const struct { const char *name; uint32_t sym; } names[] = {
        { "Return", 0xff0d }, { "Escape", 0xff1b }, { "Tab", 0xff09 }, { "BackSpace", 0xff08 },
        { "space", 0x20 }, { "Delete", 0xffff }, { "Insert", 0xff63 }, { "Home", 0xff50 },
        { "End", 0xff57 }, { "Page_Up", 0xff55 }, { "Page_Down", 0xff56 }, { "Left", 0xff51 },
        { "Up", 0xff52 }, { "Right", 0xff53 }, { "Down", 0xff54 }, { "Shift_L", 0xffe1 },
        { "Shift_R", 0xffe2 }, { "Control_L", 0xffe3 }, { "Control_R", 0xffe4 },
        { "Alt_L", 0xffe9 }, { "Alt_R", 0xffea }, { "Super_L", 0xffeb }, { "Caps_Lock", 0xffe5 },
        { "Num_Lock", 0xff7f }, { "KP_Enter", 0xff8d }, { "KP_Divide", 0xffaf },
    };
    if (s[0] && !s[1])
        return (uint8_t)s[0];
    if (strncmp(s, "0x", 2) == 0)
        return (uint32_t)strtoul(s, NULL, 16);
    if (s[0] == 'F' && s[1] >= '1' && s[1] <= '9') {
        int n = atoi(s + 1);
        if (n >= 1 && n <= 12)
            return 0xffbe + (uint32_t)(n - 1);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].name, s) == 0)
            return names[i].sym;
    die("key", "unknown keysym '%s'", s);
}

static void send_key(rfbClient *cl, uint32_t sym, bool down)
{
    if (!SendKeyEvent(cl, sym, down ? TRUE : FALSE))
        die("key", "send failed");
}

/* US layout: characters typed with shift held. */
static bool needs_shift(char c)
{
    return (c >= 'A' && c <= 'Z') || strchr("~!@#$%^&*()_+{}|:\"<>?", c);
}

static void type_string(rfbClient *cl, const char *s)
{
    for (; *s; s++) {
        uint32_t sym = *s == '\n' ? 0xff0d : (uint8_t)*s;
        bool shift = needs_shift(*s);
        if (shift)
            send_key(cl, 0xffe1, true);
        send_key(cl, sym, true);
        send_key(cl, sym, false);
        if (shift)
            send_key(cl, 0xffe1, false);
        pump_until(cl, 0.02, NULL, NULL);
    }
}

static void count_updates(rfbClient *cl, double secs)
{
    unsigned long start = updates_done;
    update_area = 0;
    double t0 = now_s();
    pump_until(cl, secs, NULL, NULL);
    double dt = now_s() - t0;
    unsigned long n = updates_done - start;
    /* Full-screen equivalents: updated pixels over the screen's. */
    double frames = (double)update_area / ((double)cl->width * cl->height);
    printf("updates %lu fps %.1f frames_per_s %.2f\n", n, dt > 0 ? n / dt : 0.0,
           dt > 0 ? frames / dt : 0.0);
    fflush(stdout);
}

static void need_args(const char *cmd, int have, int want)
{
    if (have < want)
        die(cmd, "needs %d argument%s", want, want == 1 ? "" : "s");
}

/* Runs the command at argv[0]; returns how many words it used. */
static int run_command(rfbClient *cl, int argc, char **argv)
{
    const char *cmd = argv[0];
    int nargs = argc - 1;
    if (!strcmp(cmd, "wait-size")) {
        need_args(cmd, nargs, 2);
        struct size_goal g;
        if (sscanf(argv[1], "%dx%d", &g.w, &g.h) != 2)
            die(cmd, "'%s' is not WxH", argv[1]);
        if (!pump_until(cl, parse_secs(cmd, argv[2]), size_reached, &g))
            die(cmd, "framebuffer is %dx%d, not %s", cl->width, cl->height, argv[1]);
        return 3;
    }
    if (!strcmp(cmd, "wait-update")) {
        need_args(cmd, nargs, 1);
        updates_mark = updates_done;
        if (!pump_until(cl, parse_secs(cmd, argv[1]), update_seen, NULL))
            die(cmd, "no framebuffer update in %s s", argv[1]);
        return 2;
    }
    if (!strcmp(cmd, "dump")) {
        need_args(cmd, nargs, 1);
        updates_mark = updates_done;
        update_area = 0;
        if (!SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, FALSE))
            die(cmd, "update request failed");
        if (!pump_until(cl, 10, full_update_seen, NULL))
            die(cmd, "no full update within 10 s");
        write_ppm(cl, argv[1]);
        return 2;
    }
    if (!strcmp(cmd, "size")) {
        printf("size %dx%d\n", cl->width, cl->height);
        fflush(stdout);
        return 1;
    }
    if (!strcmp(cmd, "text")) {
        print_text(cl, stdout);
        fflush(stdout);
        return 1;
    }
    if (!strcmp(cmd, "wait-text") || !strcmp(cmd, "wait-text-at")) {
        bool at = !strcmp(cmd, "wait-text-at");
        need_args(cmd, nargs, at ? 4 : 2);
        struct text_goal g = { argv[at ? 3 : 1], at ? atoi(argv[1]) : -1, at ? atoi(argv[2]) : -1 };
        if (!pump_until(cl, parse_secs(cmd, argv[at ? 4 : 2]), text_found, &g)) {
            fprintf(stderr, "vnc-client: %s: '%s' not on screen; screen reads:\n", cmd, g.s);
            print_text(cl, stderr);
            exit(1);
        }
        return at ? 5 : 3;
    }
    if (!strcmp(cmd, "wait-pixel")) {
        need_args(cmd, nargs, 4);
        struct pixel_goal g = { atoi(argv[1]), atoi(argv[2]),
                                (uint32_t)strtoul(argv[3], NULL, 16) };
        if (!pump_until(cl, parse_secs(cmd, argv[4]), pixel_reached, &g)) {
            if (g.x >= 0 && g.y >= 0 && g.x < cl->width && g.y < cl->height)
                die(cmd, "pixel (%d,%d) is %06x, not %06x", g.x, g.y,
                    pixel_rgb(cl, g.x, g.y), g.rgb);
            die(cmd, "(%d,%d) is outside the %dx%d framebuffer", g.x, g.y, cl->width, cl->height);
        }
        return 5;
    }
    if (!strcmp(cmd, "key") || !strcmp(cmd, "key-down") || !strcmp(cmd, "key-up")) {
        need_args(cmd, nargs, 1);
        uint32_t sym = parse_keysym(argv[1]);
        if (strcmp(cmd, "key-up"))
            send_key(cl, sym, true);
        if (strcmp(cmd, "key-down"))
            send_key(cl, sym, false);
        return 2;
    }
    if (!strcmp(cmd, "keys")) {
        need_args(cmd, nargs, 1);
        type_string(cl, argv[1]);
        return 2;
    }
    if (!strcmp(cmd, "pointer")) {
        need_args(cmd, nargs, 3);
        if (!SendPointerEvent(cl, atoi(argv[1]), atoi(argv[2]), atoi(argv[3])))
            die(cmd, "send failed");
        return 4;
    }
    if (!strcmp(cmd, "sleep")) {
        need_args(cmd, nargs, 1);
        pump_until(cl, atoi(argv[1]) / 1000.0, NULL, NULL);
        return 2;
    }
    if (!strcmp(cmd, "count-updates")) {
        need_args(cmd, nargs, 1);
        count_updates(cl, parse_secs(cmd, argv[1]));
        return 2;
    }
    die(cmd, "unknown command");
}

/* ---- raw-socket misbehaviour (no libvncclient) ---- */

static int raw_connect(void)
{
    int fd;
    if (strncmp(opt_addr, "unix:", 5) == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(opt_addr + 5) >= sizeof(sa.sun_path))
            die("connect", "socket path too long");
        strcpy(sa.sun_path, opt_addr + 5);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            die("connect", "%s: %s", opt_addr, strerror(errno));
        return fd;
    }
    char host[256];
    const char *colon = strrchr(opt_addr, ':');
    if (!colon || (size_t)(colon - opt_addr) >= sizeof(host))
        die("address", "'%s' is neither HOST:PORT nor unix:PATH", opt_addr);
    memcpy(host, opt_addr, (size_t)(colon - opt_addr));
    host[colon - opt_addr] = 0;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        die("connect", "%s: unknown host", host);
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        die("connect", "%s: %s", opt_addr, strerror(errno));
    freeaddrinfo(ai);
    return fd;
}

static void read_exact(int fd, void *buf, size_t n, const char *what)
{
    uint8_t *p = buf;
    while (n) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 10000) <= 0)
            die(what, "server sent nothing for 10 s");
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            die(what, "connection closed by the server");
        p += r;
        n -= (size_t)r;
    }
}

static void write_all(int fd, const void *buf, size_t n, const char *what)
{
    if (write(fd, buf, n) != (ssize_t)n)
        die(what, "write failed: %s", strerror(errno));
}

/* Version string, then N bytes of xorshift noise where the client's
 * version should be. */
static void send_garbage(unsigned n)
{
    int fd = raw_connect();
    char version[12];
    read_exact(fd, version, sizeof(version), "garbage");
    uint32_t x = 0x12345678;
    for (unsigned i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        uint8_t b = (uint8_t)x;
        if (write(fd, &b, 1) != 1)
            break;      /* the server may close on us: that is fine */
    }
    close(fd);
}

/* RFB 3.8 handshake with security None (RFC 6143 7.1-7.3), a full
 * FramebufferUpdateRequest, then close without reading the update. */
static void abort_update(void)
{
    int fd = raw_connect();
    uint8_t buf[64];
    read_exact(fd, buf, 12, "abort-update");
    write_all(fd, "RFB 003.008\n", 12, "abort-update");
    uint8_t ntypes;
    read_exact(fd, &ntypes, 1, "abort-update");
    if (ntypes == 0 || ntypes > sizeof(buf))
        die("abort-update", "server offers no security type (%u)", ntypes);
    read_exact(fd, buf, ntypes, "abort-update");
    if (!memchr(buf, 1, ntypes))
        die("abort-update", "server requires authentication");
    uint8_t none = 1, shared = 1;
    write_all(fd, &none, 1, "abort-update");
    read_exact(fd, buf, 4, "abort-update");          /* SecurityResult */
    if (buf[0] | buf[1] | buf[2] | buf[3])
        die("abort-update", "security handshake failed");
    write_all(fd, &shared, 1, "abort-update");
    read_exact(fd, buf, 24, "abort-update");         /* ServerInit up to the name */
    uint16_t w = (uint16_t)(buf[0] << 8 | buf[1]), h = (uint16_t)(buf[2] << 8 | buf[3]);
    uint32_t namelen = (uint32_t)buf[20] << 24 | buf[21] << 16 | buf[22] << 8 | buf[23];
    while (namelen) {
        uint32_t chunk = namelen < sizeof(buf) ? namelen : sizeof(buf);
        read_exact(fd, buf, chunk, "abort-update");
        namelen -= chunk;
    }
    uint8_t req[10] = { 3, 0, 0, 0, 0, 0, (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8),
                        (uint8_t)h };
    write_all(fd, req, sizeof(req), "abort-update");
    /* Let the server start writing, then drop the connection (RST on
     * unread data). */
    usleep(20000);
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: vnc-client HOST:PORT|unix:PATH [--password P] [--encodings LIST]"
                    " [--font ROM] [--tolerance N] COMMAND...\n");
    exit(2);
}

static int expect_auth_fail(void)
{
    rfbClient *cl = client_connect();
    if (cl) {
        fprintf(stderr, "vnc-client: expect-auth-fail: connection was accepted\n");
        rfbClientCleanup(cl);
        return 1;
    }
    if (!password_asked) {
        fprintf(stderr, "vnc-client: expect-auth-fail: failed before authentication: %s",
                last_log);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    rfbClientLog = log_quiet;
    rfbClientErr = log_quiet;
    if (argc < 2)
        usage();
    opt_addr = argv[1];
    int i = 2;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (!strcmp(argv[i], "--password"))
            opt_password = argv[i + 1];
        else if (!strcmp(argv[i], "--encodings"))
            opt_encodings = argv[i + 1];
        else if (!strcmp(argv[i], "--font"))
            opt_font = argv[i + 1];
        else if (!strcmp(argv[i], "--tolerance"))
            opt_tolerance = atoi(argv[i + 1]);
        else
            usage();
    }
    if (i < argc && !strcmp(argv[i], "expect-auth-fail"))
        return expect_auth_fail();
    if (i + 1 < argc && !strcmp(argv[i], "garbage")) {
        send_garbage((unsigned)atoi(argv[i + 1]));
        return 0;
    }
    if (i < argc && !strcmp(argv[i], "abort-update")) {
        abort_update();
        return 0;
    }
    rfbClient *cl = client_connect();
    if (!cl) {
        fprintf(stderr, "vnc-client: connect: %s: %s", opt_addr, last_log);
        return 1;
    }
    while (i < argc)
        i += run_command(cl, argc - i, argv + i);
    rfbClientCleanup(cl);
    return 0;
}
