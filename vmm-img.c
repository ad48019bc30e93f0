/*
 * vmm-img: the image tool.  Command line and output shapes follow
 * qemu-img (create, info, check, convert, resize, snapshot -l, map,
 * compare, rebase, commit) so scripts written for one work with the other.
 *
 * Links block/ and util/ only.  Metadata operations (create, info, check,
 * map, snapshot listing, compressed writing) go through image.h, which
 * works on files directly; guest-visible data (convert, compare, rebase,
 * commit) goes through BlockBackends (block.h), the same code the devices
 * use, so backing chains and every cluster type read as the guest sees
 * them.
 *
 * Every user error is one line "vmm-img: <what>: <why>" and exit status 1
 * (compare: 2, as qemu-img, since 1 means "images differ").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "image.h"
#include "util.h"
#include "../block/block_int.h"
#include "../block/image_int.h"

#define ERRLEN 512
#define IO_CHUNK (2 * MiB)          /* convert/compare/commit transfer unit */
#define ZERO_GRAIN (64 * KiB)       /* zero detection granularity when writing */

static bool quiet;

/* ---- messages ---- */

static void img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void img_error(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "vmm-img: %s\n", buf);
}

/* --output=human|json, as qemu-img; -1 after the error line. */
static int parse_output_format(const char *arg, bool *json)
{
    if (strcmp(arg, "json") == 0 || strcmp(arg, "human") == 0) {
        *json = strcmp(arg, "json") == 0;
        return 0;
    }
    img_error("--output must be used with human or json as argument.");
    return -1;
}

static int usage_error(const char *what)
{
    /* qemu-img adds a second line; one line is the rule here. */
    img_error("%s (try 'vmm-img --help')", what);
    return 1;
}

/*
 * The block layer reports through error_report(), which says "vmm: ".
 * Around calls into it, stderr goes to a memory file and each line comes
 * out again as "vmm-img: ..." so the tool's messages have one prefix.
 */
typedef struct StderrCapture {
    int saved, mem;
} StderrCapture;

static void capture_begin(StderrCapture *c)
{
    fflush(stderr);
    c->mem = memfd_create("vmm-img-stderr", MFD_CLOEXEC);
    c->saved = c->mem >= 0 ? dup(STDERR_FILENO) : -1;
    if (c->saved < 0 || dup2(c->mem, STDERR_FILENO) < 0) {
        if (c->mem >= 0)
            close(c->mem);
        if (c->saved >= 0)
            close(c->saved);
        c->mem = c->saved = -1;
    }
}

static void capture_end(StderrCapture *c)
{
    if (c->mem < 0)
        return;
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    char buf[4096];
    ssize_t n = pread(c->mem, buf, sizeof(buf) - 1, 0);
    close(c->mem);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "vmm: ", 5) == 0)
            line += 5;
        img_error("%s", line);
    }
}

/* ---- sizes and numbers as qemu-img prints them ---- */

/* qemu's size_to_str(): three significant digits of the binary unit that
 * keeps the value below 1000 of it ("196 KiB", "1.5 GiB", "0 B"). */
static void size_to_str(uint64_t val, char *out, size_t len)
{
    static const char *const units[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    int e;
    frexp((double)val / (1000.0 / 1024.0), &e);
    int i = (e - 1) / 10;
    if (i < 0)
        i = 0;
    if (i >= (int)ARRAY_SIZE(units))
        i = ARRAY_SIZE(units) - 1;
    double div = (double)(1ULL << (i * 10));
    snprintf(out, len, "%0.3g %sB", (double)val / div, units[i]);
}

static int parse_img_size(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || parse_size(s, 'B', out) < 0 || *out > INT64_MAX) {
        img_error("Invalid image size specified. You may use k, M, G, T, P or E suffixes "
                  "for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
        return -1;
    }
    return 0;
}

static bool format_known(const char *fmt)
{
    return strcmp(fmt, "raw") == 0 || strcmp(fmt, "qcow2") == 0;
}

/* The format given with -f (checked), or the probed one. */
static const char *resolve_format(const char *path, const char *fmt)
{
    char err[ERRLEN];
    if (fmt) {
        if (!format_known(fmt)) {
            img_error("Unknown file format '%s'", fmt);
            return NULL;
        }
        return fmt;
    }
    const char *probed = image_probe_format(path, err, sizeof(err));
    if (!probed)
        img_error("Could not open '%s': %s", path, err);
    return probed;
}

/* ---- JSON output ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A JSON object printer: fields separated and indented as qemu-img's
 * pretty output (4 spaces a level). */
typedef struct JsonObj {
    FILE *f;
    int indent;
    int n;
} JsonObj;

static void jo_open(JsonObj *o, FILE *f, int indent)
{
    *o = (JsonObj){ f, indent, 0 };
    fputs("{", f);
}

static void jo_key(JsonObj *o, const char *key)
{
    fprintf(o->f, "%s\n%*s", o->n++ ? "," : "", o->indent + 4, "");
    json_str(o->f, key);
    fputs(": ", o->f);
}

static void jo_u64(JsonObj *o, const char *key, uint64_t v)
{
    jo_key(o, key);
    fprintf(o->f, "%" PRIu64, v);
}

static void jo_i64(JsonObj *o, const char *key, int64_t v)
{
    jo_key(o, key);
    fprintf(o->f, "%" PRId64, v);
}

static void jo_bool(JsonObj *o, const char *key, bool v)
{
    jo_key(o, key);
    fputs(v ? "true" : "false", o->f);
}

static void jo_str(JsonObj *o, const char *key, const char *v)
{
    jo_key(o, key);
    json_str(o->f, v);
}

static void jo_close(JsonObj *o)
{
    fprintf(o->f, "\n%*s}", o->indent, "");
}

/* ---- progress (-p) ---- */

typedef struct Progress {
    bool on;
    double last;
} Progress;

static void progress_print(Progress *p, double pct)
{
    if (!p->on)
        return;
    if (pct < 100.0 && pct - p->last < 1.0 && p->last >= 0)
        return;
    p->last = pct;
    printf("    (%4.2f/100%%)\r", pct);
    fflush(stdout);
}

static void progress_start(Progress *p, bool on)
{
    p->on = on;
    p->last = -1;
    progress_print(p, 0.0);
}

static void progress_update(Progress *p, uint64_t done, uint64_t total)
{
    progress_print(p, total ? 100.0 * (double)done / (double)total : 100.0);
}

static void progress_end(Progress *p)
{
    if (!p->on)
        return;
    p->last = -1;
    progress_print(p, 100.0);
    printf("\n");
}

/* ---- block backends ---- */

static bool block_ready;

static BlockBackend *img_open_cache(const char *path, const char *fmt, bool readonly,
                                   BlockCacheMode cache)
{
    static unsigned next_id;
    if (!block_ready) {
        if (main_loop_init() < 0) {
            img_error("cannot set up the event loop: %s", strerror(errno));
            return NULL;
        }
        block_ready = true;
    }
    char id[32];
    snprintf(id, sizeof(id), "vmm-img%u", next_id++);
    DriveOptions o = {
        .id = id,
        .file = (char *)path,
        .format = (char *)fmt,
        .cache = cache,
        .aio = BLK_AIO_THREADS,
        .interface = BLK_IF_NONE,
        .media = BLK_MEDIA_DISK,
        .index = -1,
        .readonly = readonly,
    };
    StderrCapture c;
    capture_begin(&c);
    BlockBackend *blk = blk_open(&o);
    capture_end(&c);
    return blk;
}

static BlockBackend *img_open(const char *path, const char *fmt, bool readonly)
{
    return img_open_cache(path, fmt, readonly, BLK_CACHE_WRITEBACK);
}

/* A -t CACHE name ("none", "writeback", ...) to its mode; false if unknown. */
static bool parse_cache_mode(const char *name, BlockCacheMode *out)
{
    static const BlockCacheMode modes[] = {
        BLK_CACHE_WRITEBACK, BLK_CACHE_NONE, BLK_CACHE_WRITETHROUGH,
        BLK_CACHE_DIRECTSYNC, BLK_CACHE_UNSAFE,
    };
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        if (strcmp(name, blk_cache_mode_name(modes[i])) == 0) {
            *out = modes[i];
            return true;
        }
    }
    return false;
}

static void img_close(BlockBackend *blk)
{
    if (!blk)
        return;
    StderrCapture c;
    capture_begin(&c);
    blk_close(blk);
    capture_end(&c);
}

static bool buffer_is_zero(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t i = 0;
    for (; i < len && (i & 7); i++)
        if (p[i])
            return false;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v)
            return false;
    }
    for (; i < len; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- create ---- */

typedef struct CreateArgs {
    ImageCreateOptions o;
    const char *compat_str;     /* as given, for the "Formatting" line */
    const char *prealloc_str;
    bool lazy_given;
} CreateArgs;

/* Apply one "-o key=val,..." list to a. */
static int parse_create_opts(const char *file, const char *list, CreateArgs *a)
{
    char err[ERRLEN];
    Opts *o = opts_parse(list, NULL, err, sizeof(err));
    if (!o) {
        img_error("%s: %s", file, err);
        return -1;
    }
    int ret = -1;
    for (unsigned i = 0; i < o->n; i++) {
        const char *k = o->kv[i].key, *v = o->kv[i].val;
        uint64_t n;
        bool b;
        if (strcmp(k, "cluster_size") == 0) {
            if (parse_size(v, 'B', &n) < 0 || n < 512 || n > 2 * MiB || (n & (n - 1))) {
                img_error("%s: Cluster size must be a power of two between 512 and 2048k", file);
                goto out;
            }
            a->o.cluster_size = (uint32_t)n;
        } else if (strcmp(k, "compat") == 0) {
            if (strcmp(v, "0.10") == 0 || strcmp(v, "v2") == 0)
                a->o.compat = 2;
            else if (strcmp(v, "1.1") == 0 || strcmp(v, "v3") == 0)
                a->o.compat = 3;
            else {
                img_error("%s: Invalid compatibility level: '%s'", file, v);
                goto out;
            }
            a->compat_str = v;
        } else if (strcmp(k, "lazy_refcounts") == 0) {
            if (parse_bool(v, &b) < 0) {
                img_error("%s: Parameter 'lazy_refcounts' expects 'on' or 'off'", file);
                goto out;
            }
            a->o.lazy_refcounts = b;
            a->lazy_given = true;
        } else if (strcmp(k, "preallocation") == 0) {
            if (strcmp(v, "off") && strcmp(v, "metadata") && strcmp(v, "falloc") &&
                strcmp(v, "full")) {
                img_error("%s: Parameter 'preallocation' does not accept value '%s'", file, v);
                goto out;
            }
            a->o.preallocation = v;
            a->prealloc_str = v;
        } else if (strcmp(k, "refcount_bits") == 0) {
            if (parse_uint(v, &n) < 0 || n == 0 || n > 64 || (n & (n - 1))) {
                img_error("%s: Refcount width must be a power of two and may not exceed 64 bits",
                          file);
                goto out;
            }
            a->o.refcount_bits = (unsigned)n;
        } else if (strcmp(k, "backing_file") == 0) {
            a->o.backing_file = v;
        } else if (strcmp(k, "backing_fmt") == 0) {
            a->o.backing_fmt = v;
        } else if (strcmp(k, "size") == 0) {
            if (parse_img_size(v, &n) < 0)
                goto out;
            a->o.size = n;
        } else {
            img_error("%s: Invalid parameter '%s'", file, k);
            goto out;
        }
    }
    ret = 0;
out:
    /* a points into o's strings: keep o for the life of the process. */
    static Opts *kept[16];
    static unsigned nkept;
    if (ret == 0 && nkept == ARRAY_SIZE(kept)) {
        img_error("%s: too many -o options", file);
        ret = -1;
    }
    if (ret == 0)
        kept[nkept++] = o;
    else
        opts_free(o);
    return ret;
}

/* Check option combinations qemu-img refuses before creating anything. */
static int check_create_args(const char *file, CreateArgs *a)
{
    ImageCreateOptions *o = &a->o;
    bool qcow2 = strcmp(o->format, "qcow2") == 0;
    if (!qcow2) {
        if (o->backing_file) {
            img_error("%s: Backing file not supported for file format 'raw'", file);
            return -1;
        }
        if (o->cluster_size || a->compat_str || a->lazy_given || o->refcount_bits) {
            img_error("%s: Invalid parameter for file format 'raw'", file);
            return -1;
        }
        if (o->preallocation && strcmp(o->preallocation, "metadata") == 0) {
            img_error("%s: Parameter 'preallocation' does not accept value 'metadata'", file);
            return -1;
        }
        return 0;
    }
    if (o->backing_file && !o->backing_fmt) {
        img_error("%s: Backing file specified without backing format", file);
        return -1;
    }
    if (o->backing_fmt && !format_known(o->backing_fmt)) {
        img_error("%s: Unknown backing file format '%s'", file, o->backing_fmt);
        return -1;
    }
    if (o->compat == 2 && o->lazy_refcounts) {
        img_error("%s: Lazy refcounts only supported with compatibility level 1.1 and above "
                  "(use version=v3 or greater)", file);
        return -1;
    }
    if (o->compat == 2 && o->refcount_bits && o->refcount_bits != 16) {
        img_error("%s: Different refcount widths than 16 bits require compatibility level "
                  "1.1 or above (use version=v3 or greater)", file);
        return -1;
    }
    if (o->backing_file && o->preallocation && strcmp(o->preallocation, "off")) {
        img_error("%s: Backing file and preallocation can only be used at the same time if "
                  "extended_l2 is on", file);
        return -1;
    }
    return 0;
}

/* Size from the backing file when none was given; checks it opens. */
static int backing_size(const char *file, CreateArgs *a)
{
    if (!a->o.backing_file)
        return 0;
    char err[ERRLEN];
    char *path = img_resolve_backing(file, a->o.backing_file);
    int64_t sz = img_virtual_size(path, a->o.backing_fmt, err, sizeof(err));
    free(path);
    if (sz < 0) {
        img_error("%s: %s (could not open the backing image)", file, err);
        return -1;
    }
    if (!a->o.size)
        a->o.size = (uint64_t)sz;
    return 0;
}

static void print_formatting(const char *file, const CreateArgs *a)
{
    const ImageCreateOptions *o = &a->o;
    if (quiet)
        return;
    printf("Formatting '%s', fmt=%s ", file, o->format);
    if (strcmp(o->format, "raw") == 0) {
        printf("size=%" PRIu64, o->size);
        if (a->prealloc_str)
            printf(" preallocation=%s", a->prealloc_str);
        printf("\n");
        return;
    }
    printf("cluster_size=%u extended_l2=off ", o->cluster_size ? o->cluster_size : 65536);
    if (a->prealloc_str)
        printf("preallocation=%s ", a->prealloc_str);
    printf("compression_type=zlib size=%" PRIu64, o->size);
    if (a->compat_str)
        printf(" compat=%s", a->compat_str);
    if (o->backing_file)
        printf(" backing_file=%s", o->backing_file);
    if (o->backing_fmt)
        printf(" backing_fmt=%s", o->backing_fmt);
    printf(" lazy_refcounts=%s refcount_bits=%u\n", o->lazy_refcounts ? "on" : "off",
           o->refcount_bits ? o->refcount_bits : 16);
    fflush(stdout);
}

static int cmd_create(int argc, char **argv)
{
    CreateArgs a = { .o = { .format = "raw" } };
    int c;
    static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
    while ((c = getopt_long(argc, argv, "f:b:F:o:qhu", lo, NULL)) != -1) {
        switch (c) {
        case 'f': a.o.format = optarg; break;
        case 'b': a.o.backing_file = optarg; break;
        case 'F': a.o.backing_fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'u': break;   /* unsafe: qemu-img skips opening the backing file */
        case 'o':
            if (parse_create_opts(argv[argc - 1], optarg, &a) < 0)
                return 1;
            break;
        case 'h': printf("usage: vmm-img create [-f FMT] [-b BACKING -F FMT] [-o OPTS] FILE [SIZE]\n");
            return 0;
        default: return usage_error("create: bad option");
        }
    }
    if (optind >= argc)
        return usage_error("Expecting image file name");
    const char *file = argv[optind];
    if (!format_known(a.o.format)) {
        img_error("%s: Unknown file format '%s'", file, a.o.format);
        return 1;
    }
    if (optind + 1 < argc && parse_img_size(argv[optind + 1], &a.o.size) < 0)
        return 1;
    if (optind + 2 < argc)
        return usage_error("Unexpected argument");
    if (check_create_args(file, &a) < 0 || backing_size(file, &a) < 0)
        return 1;
    if (!a.o.backing_file && optind + 1 >= argc && !a.o.size) {
        img_error("%s: Image creation needs a size parameter", file);
        return 1;
    }
    print_formatting(file, &a);
    char err[ERRLEN];
    if (blk_image_create(file, &a.o, err, sizeof(err)) < 0) {
        img_error("%s: %s", file, err);
        return 1;
    }
    return 0;
}

/* ---- info ---- */

static void print_snapshot_header(void)
{
    printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
}

static void print_snapshot(const ImageSnapshot *sn)
{
    char date[32] = "", clock[48], vmsize[32], icount[32] = "";
    time_t t = sn->date_sec;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    uint64_t secs = sn->vm_clock_nsec / 1000000000ULL;
    snprintf(clock, sizeof(clock), "%02u:%02u:%02u.%03u", (unsigned)(secs / 3600),
             (unsigned)((secs / 60) % 60), (unsigned)(secs % 60),
             (unsigned)((sn->vm_clock_nsec / 1000000) % 1000));
    size_to_str(sn->vm_state_size, vmsize, sizeof(vmsize));
    if (sn->icount != -1)
        snprintf(icount, sizeof(icount), "%" PRId64, sn->icount);
    printf("%-9s %-16s %8s%20s%13s%11s\n", sn->id, sn->name, vmsize, date, clock, icount);
}

static void info_human(const ImageInfo *in)
{
    char vs[32], ds[32];
    size_to_str(in->virtual_size, vs, sizeof(vs));
    size_to_str(in->actual_size, ds, sizeof(ds));
    printf("image: %s\nfile format: %s\n", in->filename, in->format);
    printf("virtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n", vs, in->virtual_size, ds);
    if (strcmp(in->format, "qcow2") != 0)
        return;
    printf("cluster_size: %u\n", in->cluster_size);
    if (in->backing_file) {
        printf("backing file: %s", in->backing_file);
        if (in->full_backing_file && strcmp(in->full_backing_file, in->backing_file))
            printf(" (actual path: %s)", in->full_backing_file);
        printf("\n");
        if (in->backing_fmt)
            printf("backing file format: %s\n", in->backing_fmt);
    }
    if (in->dirty)
        printf("cleanly shut down: no\n");
    if (in->nb_snapshots > 0) {
        printf("Snapshot list:\n");
        print_snapshot_header();
        for (int i = 0; i < in->nb_snapshots; i++)
            print_snapshot(&in->snapshots[i]);
    }
    printf("Format specific information:\n");
    printf("    compat: %s\n", in->compat == 2 ? "0.10" : "1.1");
    printf("    compression type: zlib\n");
    if (in->compat != 2)
        printf("    lazy refcounts: %s\n", in->lazy_refcounts ? "true" : "false");
    printf("    refcount bits: %u\n", in->refcount_bits);
    if (in->compat != 2) {
        printf("    corrupt: %s\n", in->corrupt ? "true" : "false");
        printf("    extended l2: false\n");
    }
}

static void snapshot_json(const ImageSnapshot *sn, int indent)
{
    JsonObj o;
    jo_open(&o, stdout, indent);
    if (sn->icount != -1)
        jo_i64(&o, "icount", sn->icount);
    jo_u64(&o, "vm-clock-nsec", sn->vm_clock_nsec % 1000000000ULL);
    jo_str(&o, "name", sn->name);
    jo_u64(&o, "date-sec", sn->date_sec);
    jo_u64(&o, "date-nsec", sn->date_nsec);
    jo_u64(&o, "vm-clock-sec", sn->vm_clock_nsec / 1000000000ULL);
    jo_str(&o, "id", sn->id);
    jo_u64(&o, "vm-state-size", sn->vm_state_size);
    jo_close(&o);
}

static void info_json(const ImageInfo *in, int indent)
{
    JsonObj o;
    bool qcow2 = strcmp(in->format, "qcow2") == 0;
    jo_open(&o, stdout, indent);
    if (in->nb_snapshots > 0) {
        jo_key(&o, "snapshots");
        printf("[");
        for (int i = 0; i < in->nb_snapshots; i++) {
            printf("%s\n%*s", i ? "," : "", indent + 8, "");
            snapshot_json(&in->snapshots[i], indent + 8);
        }
        printf("\n%*s]", indent + 4, "");
    }
    if (in->backing_fmt)
        jo_str(&o, "backing-filename-format", in->backing_fmt);
    jo_u64(&o, "virtual-size", in->virtual_size);
    jo_str(&o, "filename", in->filename);
    if (qcow2)
        jo_u64(&o, "cluster-size", in->cluster_size);
    jo_str(&o, "format", in->format);
    jo_u64(&o, "actual-size", in->actual_size);
    if (qcow2) {
        jo_key(&o, "format-specific");
        JsonObj fs, d;
        jo_open(&fs, stdout, indent + 4);
        jo_str(&fs, "type", "qcow2");
        jo_key(&fs, "data");
        jo_open(&d, stdout, indent + 8);
        jo_str(&d, "compat", in->compat == 2 ? "0.10" : "1.1");
        jo_str(&d, "compression-type", "zlib");
        if (in->compat != 2)
            jo_bool(&d, "lazy-refcounts", in->lazy_refcounts);
        jo_u64(&d, "refcount-bits", in->refcount_bits);
        if (in->compat != 2) {
            jo_bool(&d, "corrupt", in->corrupt);
            jo_bool(&d, "extended-l2", false);
        }
        jo_close(&d);
        jo_close(&fs);
    }
    if (in->backing_file) {
        jo_str(&o, "full-backing-filename",
               in->full_backing_file ? in->full_backing_file : in->backing_file);
        jo_str(&o, "backing-filename", in->backing_file);
    }
    jo_bool(&o, "dirty-flag", in->dirty);
    jo_close(&o);
}

/* Canonical identity of a file for loop detection (device + inode). */
static bool same_file_seen(const char *path, dev_t *devs, ino_t *inos, int n)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return false;
    for (int i = 0; i < n; i++)
        if (devs[i] == st.st_dev && inos[i] == st.st_ino)
            return true;
    devs[n] = st.st_dev;
    inos[n] = st.st_ino;
    return false;
}

#define MAX_CHAIN 64

static int cmd_info(int argc, char **argv)
{
    const char *fmt = NULL;
    bool json = false, chain = false;
    int c;
    enum { OPT_OUTPUT = 256, OPT_CHAIN };
    static const struct option lo[] = {
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "backing-chain", no_argument, NULL, OPT_CHAIN },
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { 0 },
    };
    while ((c = getopt_long(argc, argv, "f:hU", lo, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'U': break;
        case OPT_CHAIN: chain = true; break;
        case OPT_OUTPUT:
            if (parse_output_format(optarg, &json) < 0)
                return 1;
            break;
        case 'h': printf("usage: vmm-img info [-f FMT] [--output=human|json] [--backing-chain] FILE\n");
            return 0;
        default: return usage_error("info: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("Expecting one image file name");

    char *path = strdup(argv[optind]);
    char *cur_fmt = fmt ? strdup(fmt) : NULL;
    dev_t devs[MAX_CHAIN];
    ino_t inos[MAX_CHAIN];
    int ret = 0;
    if (json && chain)
        printf("[");
    for (int depth = 0; path; depth++) {
        char err[ERRLEN];
        ImageInfo in;
        if (cur_fmt && !format_known(cur_fmt)) {
            img_error("Unknown file format '%s'", cur_fmt);
            ret = 1;
            break;
        }
        if (depth >= MAX_CHAIN || same_file_seen(path, devs, inos, depth)) {
            img_error("Backing file '%s' creates an infinite loop.", path);
            ret = 1;
            break;
        }
        if (image_info(path, cur_fmt, &in, err, sizeof(err)) < 0) {
            img_error("Could not open '%s': %s", path, err);
            ret = 1;
            break;
        }
        if (json) {
            if (chain)
                printf("%s\n    ", depth ? "," : "");
            info_json(&in, chain ? 4 : 0);
        } else {
            if (depth)
                printf("\n");
            info_human(&in);
        }
        free(path);
        free(cur_fmt);
        path = cur_fmt = NULL;
        if (chain && in.backing_file) {
            path = strdup(in.full_backing_file ? in.full_backing_file : in.backing_file);
            cur_fmt = in.backing_fmt ? strdup(in.backing_fmt) : NULL;
        }
        image_info_free(&in);
    }
    if (json && chain)
        printf("\n]");
    if (json)
        printf("\n");
    free(path);
    free(cur_fmt);
    return ret;
}

/* ---- check ---- */

static void check_human(const ImageCheckResult *r)
{
    if (!r->corruptions && !r->leaks && !r->check_errors) {
        printf("No errors were found on the image.\n");
    } else {
        if (r->corruptions)
            printf("\n%d errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image may corrupt it.\n",
                   r->corruptions);
        if (r->leaks)
            printf("\n%d leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n", r->leaks);
        if (r->check_errors)
            printf("\n%d internal errors have occurred during the check.\n", r->check_errors);
    }
    if (r->total_clusters && r->allocated_clusters) {
        double t = (double)r->total_clusters;
        printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, "
               "%0.2f%% compressed clusters\n", r->allocated_clusters, r->total_clusters,
               r->allocated_clusters * 100.0 / t,
               r->fragmented_clusters * 100.0 / (double)r->allocated_clusters,
               r->compressed_clusters * 100.0 / (double)r->allocated_clusters);
    }
    if (r->image_end_offset)
        printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
}

static void check_json(const ImageCheckResult *r, const char *file, const char *fmt)
{
    JsonObj o;
    jo_open(&o, stdout, 0);
    if (r->image_end_offset)
        jo_u64(&o, "image-end-offset", r->image_end_offset);
    if (r->corruptions)
        jo_u64(&o, "corruptions", (uint64_t)r->corruptions);
    if (r->leaks)
        jo_u64(&o, "leaks", (uint64_t)r->leaks);
    if (r->corruptions_fixed)
        jo_u64(&o, "corruptions-fixed", (uint64_t)r->corruptions_fixed);
    if (r->total_clusters)
        jo_u64(&o, "total-clusters", r->total_clusters);
    jo_u64(&o, "check-errors", (uint64_t)r->check_errors);
    if (r->allocated_clusters)
        jo_u64(&o, "allocated-clusters", r->allocated_clusters);
    if (r->leaks_fixed)
        jo_u64(&o, "leaks-fixed", (uint64_t)r->leaks_fixed);
    if (r->fragmented_clusters)
        jo_u64(&o, "fragmented-clusters", r->fragmented_clusters);
    if (r->compressed_clusters)
        jo_u64(&o, "compressed-clusters", r->compressed_clusters);
    jo_str(&o, "filename", file);
    jo_str(&o, "format", fmt);
    jo_close(&o);
    printf("\n");
}

static int cmd_check(int argc, char **argv)
{
    const char *fmt = NULL;
    bool json = false;
    int repair = 0, c;
    enum { OPT_OUTPUT = 256 };
    static const struct option lo[] = {
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "repair", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    while ((c = getopt_long(argc, argv, "f:r:qhU", lo, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'U': break;
        case 'r':
            if (strcmp(optarg, "leaks") == 0)
                repair = IMAGE_REPAIR_LEAKS;
            else if (strcmp(optarg, "all") == 0)
                repair = IMAGE_REPAIR_ALL;
            else {
                img_error("Unknown option value for -r (expecting 'leaks' or 'all'): %s", optarg);
                return 1;
            }
            break;
        case OPT_OUTPUT:
            if (parse_output_format(optarg, &json) < 0)
                return 1;
            break;
        case 'h': printf("usage: vmm-img check [-f FMT] [-r leaks|all] [--output=human|json] FILE\n");
            return 0;
        default: return usage_error("check: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("Expecting one image file name");
    const char *file = argv[optind];
    fmt = resolve_format(file, fmt);
    if (!fmt)
        return 1;
    if (strcmp(fmt, "qcow2") != 0) {
        /* qemu-img: -ENOTSUP ends the command with status 63. */
        img_error("This image format does not support checks");
        return 63;
    }
    char err[ERRLEN];
    ImageCheckResult r;
    fflush(stdout);
    if (image_check(file, fmt, repair, stderr, &r, err, sizeof(err)) < 0) {
        img_error("%s", err);
        return 1;
    }
    if (r.leaks_fixed || r.corruptions_fixed) {
        int lf = r.leaks_fixed, cf = r.corruptions_fixed;
        if (!json && !quiet)
            printf("The following inconsistencies were found and repaired:\n\n"
                   "    %d leaked clusters\n    %d corruptions\n\n"
                   "Double checking the fixed image now...\n", lf, cf);
        fflush(stdout);
        if (image_check(file, fmt, 0, stderr, &r, err, sizeof(err)) < 0) {
            img_error("%s", err);
            return 1;
        }
        r.leaks_fixed = lf;
        r.corruptions_fixed = cf;
    }
    if (json)
        check_json(&r, file, fmt);
    else if (!quiet)
        check_human(&r);
    if (r.check_errors)
        return 1;
    if (r.corruptions)
        return 2;
    if (r.leaks)
        return 3;
    return 0;
}

/* ---- convert ---- */

typedef struct ConvertArgs {
    const char *in, *out, *in_fmt;
    const char *in_fmt_resolved;    /* in_fmt, or the probed format */
    BlockCacheMode out_cache;       /* -t; qemu-img's convert default is unsafe */
    CreateArgs create;
    bool compress;
    Progress progress;
} ConvertArgs;

/* -c: every cluster through the compressed writer (image.h). */
static int convert_compressed(ConvertArgs *ca, BlockBackend *in, uint64_t size)
{
    char err[ERRLEN];
    ImageCompressWriter *w = image_compress_open(ca->out, &ca->create.o, err, sizeof(err));
    if (!w) {
        img_error("%s: %s", ca->out, err);
        return 1;
    }
    uint32_t cs = image_compress_cluster_size(w);
    uint8_t *buf = malloc(cs);
    if (!buf) {
        image_compress_abort(w);
        img_error("out of memory");
        return 1;
    }
    for (uint64_t off = 0; off < size; off += cs) {
        size_t n = (size_t)MIN((uint64_t)cs, size - off);
        memset(buf + n, 0, cs - n);
        int r = blk_pread(in, off, buf, n);
        if (r == 0 && !buffer_is_zero(buf, cs))
            r = image_compress_write(w, off / cs, buf);
        if (r < 0) {
            img_error("error while %s at offset %" PRIu64 ": %s",
                      "converting", off, strerror(-r));
            image_compress_abort(w);
            free(buf);
            return 1;
        }
        progress_update(&ca->progress, off + n, size);
    }
    free(buf);
    if (image_compress_finish(w, err, sizeof(err)) < 0) {
        img_error("%s: %s", ca->out, err);
        return 1;
    }
    return 0;
}

/*
 * Convert's copy pipeline.  The input's allocation map (image_map) says
 * which ranges read as zeroes; those are skipped without reading, since
 * the freshly created output reads as zeroes already.  The rest is copied
 * in COPY_CHUNK pieces with up to COPY_SLOTS pieces in flight, so reading
 * the next pieces overlaps writing the earlier ones; each piece still has
 * its all-zero runs (4 KiB in a raw output, like qemu-img's -S 4k; 64 KiB
 * in qcow2) left out, to keep the output as thin as qemu-img's.
 */
#define COPY_SLOTS 4             /* more, or larger pieces, measured no faster */
#define COPY_CHUNK IO_CHUNK
/* Zero runs left out of a raw output: qemu-img convert's default -S 4k. */
#define RAW_ZERO_GRAIN (4 * KiB)
#define COPY_MAX_RUNS (COPY_CHUNK / RAW_ZERO_GRAIN / 2 + 1)

typedef struct CopyJob CopyJob;

typedef struct CopySlot {
    CopyJob *job;
    uint8_t *buf;
    uint64_t off;               /* guest offset of buf[0] */
    size_t len;
    struct iovec riov;
    struct iovec wiov[COPY_MAX_RUNS];
    unsigned writes_pending;
    bool busy;
} CopySlot;

struct CopyJob {
    BlockBackend *in, *out;
    CopySlot slot[COPY_SLOTS];
    uint64_t size, done;        /* done: bytes copied or skipped, for progress */
    int err;                    /* first error (-errno), 0 if none */
    uint64_t err_off;
    bool err_write;
    size_t grain;               /* zero detection unit: RAW_ZERO_GRAIN, or
                                 * ZERO_GRAIN for qcow2, whose clusters a
                                 * partial write would have to fill in */
    Progress *p;
};

static void copy_fail(CopyJob *j, CopySlot *s, int r, bool writing)
{
    if (j->err)
        return;
    j->err = r;
    j->err_off = s->off;
    j->err_write = writing;
}

static void copy_slot_finish(CopySlot *s)
{
    s->busy = false;
    s->job->done += s->len;
    progress_update(s->job->p, s->job->done, s->job->size);
}

static void copy_write_done(void *opaque, int ret)
{
    CopySlot *s = opaque;
    if (ret < 0)
        copy_fail(s->job, s, ret, true);
    if (--s->writes_pending == 0)
        copy_slot_finish(s);
}

/* The piece has been read: write its runs that are not all zero. */
static void copy_read_done(void *opaque, int ret)
{
    CopySlot *s = opaque;
    CopyJob *j = s->job;
    if (ret < 0 || j->err) {
        if (ret < 0)
            copy_fail(j, s, ret, false);
        copy_slot_finish(s);
        return;
    }
    unsigned runs = 0;
    for (size_t i = 0; i < s->len;) {
        size_t n = MIN(j->grain, s->len - i);
        if (buffer_is_zero(s->buf + i, n)) {
            i += n;
            continue;
        }
        size_t start = i;
        for (; i < s->len; i += n) {
            n = MIN(j->grain, s->len - i);
            if (buffer_is_zero(s->buf + i, n))
                break;
        }
        s->wiov[runs++] = (struct iovec){ s->buf + start, i - start };
    }
    if (runs == 0) {
        copy_slot_finish(s);
        return;
    }
    s->writes_pending = runs;
    for (unsigned r = 0; r < runs; r++) {
        uint64_t woff = s->off + (uint64_t)((uint8_t *)s->wiov[r].iov_base - s->buf);
        blk_aio_pwritev(j->out, woff, &s->wiov[r], 1, copy_write_done, s);
    }
}

static CopySlot *copy_free_slot(CopyJob *j)
{
    for (;;) {
        for (int i = 0; i < COPY_SLOTS; i++)
            if (!j->slot[i].busy)
                return &j->slot[i];
        blk_wait_completions(100);
    }
}

static void copy_wait_all(CopyJob *j)
{
    for (int i = 0; i < COPY_SLOTS; i++)
        while (j->slot[i].busy)
            blk_wait_completions(100);
}

/* Queue the copy of [off, end), COPY_CHUNK at a time. */
static void copy_range(CopyJob *j, uint64_t off, uint64_t end)
{
    while (off < end && !j->err) {
        CopySlot *s = copy_free_slot(j);
        if (j->err)
            break;
        s->busy = true;
        s->off = off;
        s->len = (size_t)MIN((uint64_t)COPY_CHUNK, end - off);
        s->riov = (struct iovec){ s->buf, s->len };
        blk_aio_preadv(j->in, off, &s->riov, 1, copy_read_done, s);
        off += s->len;
    }
}

/* The input's ranges that need copying: those not known to read as
 * zeroes.  Without a map (it could not be made), everything. */
static void copy_mapped(CopyJob *j, const char *in_path, const char *in_fmt)
{
    ImageMap m;
    char err[ERRLEN];
    if (!in_path || image_map(in_path, in_fmt, &m, err, sizeof(err)) < 0) {
        copy_range(j, 0, j->size);
        return;
    }
    uint64_t covered = 0;
    for (size_t i = 0; i < m.count && !j->err; i++) {
        const ImageMapExtent *e = &m.ext[i];
        uint64_t end = MIN(e->start + e->length, j->size);
        if (e->start >= end)
            continue;
        if (e->zero) {
            j->done += end - e->start;
            progress_update(j->p, j->done, j->size);
        } else {
            copy_range(j, e->start, end);
        }
        covered = MAX(covered, end);
    }
    if (covered < j->size)   /* the map stopped short: copy the rest */
        copy_range(j, covered, j->size);
    image_map_free(&m);
}

/* Copy in's guest data to the freshly created out, leaving zeroes out. */
static int copy_data(BlockBackend *in, const char *in_path, const char *in_fmt,
                     BlockBackend *out, uint64_t size, Progress *p)
{
    const char *ofmt = blk_format_name(out);
    bool raw_out = ofmt && strcmp(ofmt, "raw") == 0;
    CopyJob j = { .in = in, .out = out, .size = size, .p = p,
                  .grain = raw_out ? RAW_ZERO_GRAIN : ZERO_GRAIN };
    int ret = 0;
    for (int i = 0; i < COPY_SLOTS; i++) {
        j.slot[i].job = &j;
        j.slot[i].buf = aligned_alloc(4096, COPY_CHUNK);
        if (!j.slot[i].buf)
            ret = 1;
    }
    if (ret) {
        img_error("out of memory");
    } else {
        copy_mapped(&j, in_path, in_fmt);
        copy_wait_all(&j);
    }
    for (int i = 0; i < COPY_SLOTS; i++)
        free(j.slot[i].buf);
    if (ret == 0 && j.err) {
        img_error("error while %s at byte %" PRIu64 ": %s", j.err_write ? "writing" : "reading",
                  j.err_off, strerror(-j.err));
        ret = 1;
    }
    if (ret == 0 && blk_flush(out) < 0) {
        img_error("error while flushing the output: %s", strerror(errno));
        ret = 1;
    }
    return ret;
}

static int convert_plain(ConvertArgs *ca, BlockBackend *in, uint64_t size)
{
    char err[ERRLEN];
    if (blk_image_create(ca->out, &ca->create.o, err, sizeof(err)) < 0) {
        img_error("%s: %s", ca->out, err);
        return 1;
    }
    BlockBackend *out = img_open_cache(ca->out, ca->create.o.format, false, ca->out_cache);
    if (!out)
        return 1;
    int ret = copy_data(in, ca->in, ca->in_fmt_resolved, out, size, &ca->progress);
    img_close(out);
    return ret;
}

static int cmd_convert(int argc, char **argv)
{
    /* Like qemu-img, the output is written with cache=unsafe unless -t
     * says otherwise: no flush at the end (qemu-img.rst, "-t CACHE"). */
    ConvertArgs ca = { .out_cache = BLK_CACHE_UNSAFE, .create = { .o = { .format = "raw" } } };
    const char *olist[16];
    int nopts = 0, c;
    bool progress = false;
    static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
    while ((c = getopt_long(argc, argv, "f:O:co:pqhUWnm:t:T:", lo, NULL)) != -1) {
        switch (c) {
        case 'f': ca.in_fmt = optarg; break;
        case 'O': ca.create.o.format = optarg; break;
        case 'c': ca.compress = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'o':
            if (nopts < (int)ARRAY_SIZE(olist))
                olist[nopts++] = optarg;
            break;
        case 't':
            if (!parse_cache_mode(optarg, &ca.out_cache)) {
                img_error("Invalid cache option: %s", optarg);
                return 1;
            }
            break;
        case 'U': case 'W': case 'm': case 'T': break;   /* tuning: accepted */
        case 'n':
            img_error("convert: -n (use an existing target) is not supported");
            return 1;
        case 'h': printf("usage: vmm-img convert [-f FMT] -O FMT [-c] [-p] [-t CACHE] [-o OPTS] IN OUT\n");
            return 0;
        default: return usage_error("convert: bad option");
        }
    }
    if (argc - optind != 2)
        return usage_error(argc - optind < 2 ? "Expecting image file name"
                                             : "convert: only one input image is supported");
    ca.in = argv[optind];
    ca.out = argv[optind + 1];
    if (quiet)
        progress = false;
    if (!format_known(ca.create.o.format)) {
        img_error("Unknown file format '%s'", ca.create.o.format);
        return 1;
    }
    for (int i = 0; i < nopts; i++)
        if (parse_create_opts(ca.out, olist[i], &ca.create) < 0)
            return 1;
    if (ca.create.o.backing_file) {
        img_error("%s: convert: a backing file for the target is not supported", ca.out);
        return 1;
    }
    if (ca.compress && strcmp(ca.create.o.format, "qcow2") != 0) {
        img_error("Compression not supported for this file format");
        return 1;
    }
    if (check_create_args(ca.out, &ca.create) < 0)
        return 1;
    const char *fmt = resolve_format(ca.in, ca.in_fmt);
    if (!fmt)
        return 1;
    ca.in_fmt_resolved = fmt;
    BlockBackend *in = img_open(ca.in, fmt, true);
    if (!in)
        return 1;
    int64_t size = blk_getlength(in);
    if (size < 0) {
        img_error("Could not get the size of '%s': %s", ca.in, strerror((int)-size));
        img_close(in);
        return 1;
    }
    ca.create.o.size = (uint64_t)size;
    progress_start(&ca.progress, progress);
    int ret = ca.compress ? convert_compressed(&ca, in, (uint64_t)size)
                          : convert_plain(&ca, in, (uint64_t)size);
    if (ret == 0)
        progress_end(&ca.progress);
    img_close(in);
    return ret;
}

/* ---- resize ---- */

/* Update size, l1_size and l1_table_offset (header offsets 24, 36, 40;
 * qcow2.txt "Header") with one write, then sync. */
static int qcow2_write_geometry(int fd, uint64_t size, uint32_t l1_size, uint64_t l1_off)
{
    uint8_t b[24];
    if (img_pread(fd, 24, b, sizeof(b)) < 0)
        return -EIO;
    stbe64(b, size);
    stbe32(b + 12, l1_size);
    stbe64(b + 16, l1_off);
    int r = img_pwrite(fd, 24, b, sizeof(b));
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    return r;
}

/* Set the refcount of host cluster idx; the refcount block covering it
 * must already exist (-ENOSPC otherwise). */
static int set_refcount(int fd, const ImgHeader *h, uint64_t idx, uint64_t val)
{
    uint64_t cs = 1ULL << h->cluster_bits;
    unsigned bits = 1u << h->refcount_order;
    uint64_t per_block = cs * 8 / bits;
    uint64_t ti = idx / per_block;
    if (ti >= (uint64_t)h->refcount_table_clusters * cs / 8)
        return -ENOSPC;
    uint8_t e[8];
    int r = img_pread(fd, h->refcount_table_offset + ti * 8, e, 8);
    if (r < 0)
        return r;
    uint64_t block_off = ldbe64(e) & QCOW2_REFT_OFFSET_MASK;
    if (!block_off)
        return -ENOSPC;
    uint8_t *block = malloc(cs);
    if (!block)
        return -ENOMEM;
    r = img_pread(fd, block_off, block, cs);
    if (r == 0) {
        qcow2_refblock_set(block, h->refcount_order, idx % per_block, val);
        r = img_pwrite(fd, block_off, block, cs);
    }
    free(block);
    return r;
}

/*
 * Move the L1 table to the end of the file with room for l1_new entries.
 * Order (qcow2 crash consistency): new table and its refcounts first, then
 * the header points at it, then the old table's clusters are freed; an
 * interruption can only leak clusters.
 */
static int relocate_l1(int fd, const ImgHeader *h, uint32_t l1_new, uint64_t new_size)
{
    uint64_t cs = 1ULL << h->cluster_bits;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    uint64_t new_off = div_round_up((uint64_t)st.st_size, cs) * cs;
    uint64_t bytes = div_round_up((uint64_t)l1_new * 8, cs) * cs;
    uint8_t *t = calloc(1, bytes);
    if (!t)
        return -ENOMEM;
    int r = h->l1_size ? img_pread(fd, h->l1_table_offset, t, (size_t)h->l1_size * 8) : 0;
    if (r == 0)
        r = img_pwrite(fd, new_off, t, bytes);
    free(t);
    for (uint64_t i = 0; r == 0 && i < bytes / cs; i++)
        r = set_refcount(fd, h, new_off / cs + i, 1);
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    if (r == 0)
        r = qcow2_write_geometry(fd, new_size, l1_new, new_off);
    uint64_t old_clusters = div_round_up((uint64_t)h->l1_size * 8, cs);
    for (uint64_t i = 0; r == 0 && h->l1_table_offset && i < old_clusters; i++)
        r = set_refcount(fd, h, h->l1_table_offset / cs + i, 0);
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    return r;
}

/* Is any guest byte at or past from allocated in the image itself? */
static int allocated_beyond(const char *file, uint64_t from)
{
    char err[ERRLEN];
    ImageMap m;
    if (image_map(file, "qcow2", &m, err, sizeof(err)) < 0) {
        img_error("%s", err);
        return -1;
    }
    int found = 0;
    for (size_t i = 0; i < m.count; i++) {
        const ImageMapExtent *e = &m.ext[i];
        if (e->depth == 0 && (e->data || e->present) && e->start + e->length > from)
            found = 1;
    }
    image_map_free(&m);
    return found;
}

static int qcow2_resize(const char *file, uint64_t new_size, bool shrink)
{
    char err[ERRLEN];
    int fd = open(file, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        img_error("Could not open '%s': %s", file, strerror(errno));
        return 1;
    }
    ImgHeader h;
    int ret = 1;
    if (img_read_header(fd, file, &h, err, sizeof(err)) < 0) {
        img_error("%s", err);
        goto out;
    }
    if (h.incompatible_features & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT)) {
        img_error("%s: the image is %s; repair it first with 'vmm-img check -r all'", file,
                  h.incompatible_features & QCOW2_INCOMPAT_CORRUPT ? "marked corrupt"
                                                                   : "not cleanly closed");
        goto out;
    }
    if (h.nb_snapshots) {
        img_error("Can't resize an image which has snapshots");
        goto out;
    }
    if (new_size < h.size) {
        if (!shrink) {
            img_error("Use the --shrink option to perform a shrink operation.");
            goto out;
        }
        int a = allocated_beyond(file, new_size);
        if (a < 0)
            goto out;
        if (a) {
            img_error("%s: cannot shrink: clusters past the new end are allocated "
                      "(convert the image instead)", file);
            goto out;
        }
    }
    uint64_t cs = 1ULL << h.cluster_bits;
    uint64_t per_l2 = cs * (cs / 8);
    uint64_t l1_need = div_round_up(new_size, per_l2);
    if (l1_need > (1u << 25)) {   /* QEMU's QCOW_MAX_L1_SIZE (32 MiB of entries) */
        img_error("%s: Image size is too large for this cluster size", file);
        goto out;
    }
    uint32_t l1_new = (uint32_t)MAX(l1_need, (uint64_t)h.l1_size);
    uint64_t capacity = h.l1_table_offset ? div_round_up((uint64_t)h.l1_size * 8, cs) * cs / 8 : 0;
    int r;
    if (l1_new > capacity) {
        r = relocate_l1(fd, &h, l1_new, new_size);
        if (r == -ENOSPC) {
            img_error("%s: growing the L1 table this far needs a new refcount block, which "
                      "vmm-img does not allocate (convert the image instead)", file);
            goto out;
        }
    } else {
        /* Entries past l1_size within the table's clusters must read as
         * unallocated: clear them before the header makes them live. */
        uint64_t n = (uint64_t)(l1_new - h.l1_size) * 8;
        uint8_t *z = calloc(1, n ? n : 1);
        r = z ? img_pwrite(fd, h.l1_table_offset + (uint64_t)h.l1_size * 8, z, n) : -ENOMEM;
        free(z);
        if (r == 0)
            r = qcow2_write_geometry(fd, new_size, l1_new, h.l1_table_offset);
    }
    if (r < 0) {
        img_error("%s: cannot resize: %s", file, strerror(-r));
        goto out;
    }
    ret = 0;
out:
    close(fd);
    return ret;
}

static int raw_resize(const char *file, uint64_t new_size, bool shrink)
{
    struct stat st;
    if (stat(file, &st) < 0) {
        img_error("Could not open '%s': %s", file, strerror(errno));
        return 1;
    }
    if (new_size < (uint64_t)st.st_size && !shrink) {
        img_error("Use the --shrink option to perform a shrink operation.");
        return 1;
    }
    if (truncate(file, (off_t)new_size) < 0) {
        img_error("%s: cannot resize: %s", file, strerror(errno));
        return 1;
    }
    return 0;
}

static int cmd_resize(int argc, char **argv)
{
    const char *fmt = NULL;
    bool shrink = false;
    int c;
    enum { OPT_SHRINK = 256, OPT_PREALLOC };
    static const struct option lo[] = {
        { "shrink", no_argument, NULL, OPT_SHRINK },
        { "preallocation", required_argument, NULL, OPT_PREALLOC },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    if (argc < 3)
        return usage_error("Expecting image file name and size");
    /* The size goes last and may start with '-': take it before getopt. */
    const char *size_str = argv[--argc];
    while ((c = getopt_long(argc, argv, "f:qhU", lo, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'U': break;
        case OPT_SHRINK: shrink = true; break;
        case OPT_PREALLOC:
            if (strcmp(optarg, "off") != 0) {
                img_error("resize: --preallocation=%s is not supported", optarg);
                return 1;
            }
            break;
        case 'h': printf("usage: vmm-img resize [-f FMT] [--shrink] FILE [+|-]SIZE\n");
            return 0;
        default: return usage_error("resize: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("Expecting image file name and size");
    const char *file = argv[optind];
    int rel = size_str[0] == '+' ? 1 : size_str[0] == '-' ? -1 : 0;
    uint64_t n;
    if (parse_img_size(size_str + (rel != 0), &n) < 0)
        return 1;
    fmt = resolve_format(file, fmt);
    if (!fmt)
        return 1;
    char err[ERRLEN];
    int64_t cur = img_virtual_size(file, fmt, err, sizeof(err));
    if (cur < 0) {
        img_error("%s", err);
        return 1;
    }
    uint64_t new_size = rel > 0 ? (uint64_t)cur + n : rel < 0 ? (uint64_t)cur - n : n;
    if ((rel < 0 && n >= (uint64_t)cur) || new_size > INT64_MAX || (rel == 0 && n == 0)) {
        img_error("New image size must be positive");
        return 1;
    }
    if (strcmp(fmt, "qcow2") == 0 && new_size % 512) {
        img_error("The new size must be a multiple of 512");
        return 1;
    }
    int ret = strcmp(fmt, "qcow2") == 0 ? qcow2_resize(file, new_size, shrink)
                                        : raw_resize(file, new_size, shrink);
    if (ret == 0 && !quiet)
        printf("Image resized.\n");
    return ret;
}

/* ---- snapshot -l ---- */

static int cmd_snapshot(int argc, char **argv)
{
    bool list = false;
    int c;
    static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
    while ((c = getopt_long(argc, argv, "lf:qhUa:c:d:", lo, NULL)) != -1) {
        switch (c) {
        case 'l': list = true; break;
        case 'f': case 'U': break;
        case 'q': quiet = true; break;
        case 'a': case 'c': case 'd':
            img_error("snapshot: only -l (list) is supported");
            return 1;
        case 'h': printf("usage: vmm-img snapshot -l FILE\n");
            return 0;
        default: return usage_error("snapshot: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("Expecting one image file name");
    if (!list)
        return usage_error("snapshot: -l is required");
    char err[ERRLEN];
    ImageSnapshot *s;
    int n;
    if (image_snapshot_list(argv[optind], &s, &n, err, sizeof(err)) < 0) {
        img_error("Could not open '%s': %s", argv[optind], err);
        return 1;
    }
    if (n > 0 && !quiet) {
        printf("Snapshot list:\n");
        print_snapshot_header();
        for (int i = 0; i < n; i++)
            print_snapshot(&s[i]);
    }
    image_snapshots_free(s, n);
    return 0;
}

/* ---- map ---- */

static int map_human(const ImageMap *m)
{
    printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    for (size_t i = 0; i < m->count; i++) {
        const ImageMapExtent *e = &m->ext[i];
        if (!e->data)
            continue;
        if (!e->has_offset) {
            fflush(stdout);
            img_error("File contains external, encrypted or compressed clusters.");
            return 1;
        }
        printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e->start, e->length,
               e->offset, e->filename ? e->filename : "");
    }
    return 0;
}

static void map_json(const ImageMap *m)
{
    printf("[");
    for (size_t i = 0; i < m->count; i++) {
        const ImageMapExtent *e = &m->ext[i];
        printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d, "
               "\"present\": %s, \"zero\": %s, \"data\": %s", i ? ",\n" : "", e->start,
               e->length, e->depth, e->present ? "true" : "false", e->zero ? "true" : "false",
               e->data ? "true" : "false");
        if (e->has_offset)
            printf(", \"offset\": %" PRIu64, e->offset);
        printf("}");
    }
    printf("]\n");
}

static int cmd_map(int argc, char **argv)
{
    const char *fmt = NULL;
    bool json = false;
    int c;
    enum { OPT_OUTPUT = 256 };
    static const struct option lo[] = {
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    while ((c = getopt_long(argc, argv, "f:hU", lo, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'U': break;
        case OPT_OUTPUT:
            if (parse_output_format(optarg, &json) < 0)
                return 1;
            break;
        case 'h': printf("usage: vmm-img map [-f FMT] [--output=human|json] FILE\n");
            return 0;
        default: return usage_error("map: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("Expecting one image file name");
    fmt = resolve_format(argv[optind], fmt);
    if (!fmt)
        return 1;
    char err[ERRLEN];
    ImageMap m;
    if (image_map(argv[optind], fmt, &m, err, sizeof(err)) < 0) {
        img_error("Could not open '%s': %s", argv[optind], err);
        return 1;
    }
    int ret = 0;
    if (json)
        map_json(&m);
    else
        ret = map_human(&m);
    image_map_free(&m);
    return ret;
}

/* ---- compare ---- */

/* Offset of the first differing 512-byte sector (qemu-img's granularity),
 * or -1 when equal. */
static int64_t first_mismatch(const uint8_t *a, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i += 512) {
        size_t n = MIN((size_t)512, len - i);
        if (memcmp(a + i, b + i, n))
            return (int64_t)i;
    }
    return -1;
}

static int64_t first_nonzero(const uint8_t *a, size_t len)
{
    for (size_t i = 0; i < len; i += 512)
        if (!buffer_is_zero(a + i, MIN((size_t)512, len - i)))
            return (int64_t)i;
    return -1;
}

/* Compare [off, end) of a and b (b NULL: a must read as zeroes there).
 * 0 identical, 1 differ (message printed), 2 read error. */
static int compare_range(BlockBackend *a, BlockBackend *b, uint64_t off, uint64_t end,
                         uint8_t *ba, uint8_t *bb, Progress *p, uint64_t total)
{
    for (; off < end; off += IO_CHUNK) {
        size_t n = (size_t)MIN((uint64_t)IO_CHUNK, end - off);
        if (blk_pread(a, off, ba, n) < 0 || (b && blk_pread(b, off, bb, n) < 0)) {
            img_error("Error while reading offset %" PRIu64, off);
            return 2;
        }
        int64_t at = b ? first_mismatch(ba, bb, n) : first_nonzero(ba, n);
        if (at >= 0) {
            printf("Content mismatch at offset %" PRIu64 "!\n", off + (uint64_t)at);
            return 1;
        }
        progress_update(p, off + n, total);
    }
    return 0;
}

/* 0 identical, 1 differ, 2 error (qemu-img compare's statuses).  Past the
 * end of the smaller image, the larger one must read as zeroes. */
static int compare_data(BlockBackend *a, BlockBackend *b, uint64_t sa, uint64_t sb,
                        Progress *p)
{
    uint64_t common = MIN(sa, sb), total = MAX(sa, sb);
    uint8_t *ba = malloc(IO_CHUNK), *bb = malloc(IO_CHUNK);
    int ret = 2;
    if (!ba || !bb)
        img_error("out of memory");
    else
        ret = compare_range(a, b, 0, common, ba, bb, p, total);
    if (ret == 0 && total > common)
        ret = compare_range(sa > sb ? a : b, NULL, common, total, ba, bb, p, total);
    free(ba);
    free(bb);
    return ret;
}

static int cmd_compare(int argc, char **argv)
{
    const char *fa = NULL, *fb = NULL;
    bool strict = false, progress = false;
    int c;
    static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
    while ((c = getopt_long(argc, argv, "f:F:spqhUT:", lo, NULL)) != -1) {
        switch (c) {
        case 'f': fa = optarg; break;
        case 'F': fb = optarg; break;
        case 's': strict = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'U': case 'T': break;
        case 'h': printf("usage: vmm-img compare [-f FMT] [-F FMT] [-s] [-p] A B\n");
            return 0;
        default: usage_error("compare: bad option");
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage_error("Expecting two image file names");
        return 2;
    }
    const char *pa = argv[optind], *pb = argv[optind + 1];
    if (!fb)
        fb = fa;
    fa = resolve_format(pa, fa);
    fb = fa ? resolve_format(pb, fb) : NULL;
    if (!fa || !fb)
        return 2;
    BlockBackend *a = img_open(pa, fa, true);
    BlockBackend *b = a ? img_open(pb, fb, true) : NULL;
    if (!b) {
        img_close(a);
        return 2;
    }
    int64_t sa = blk_getlength(a), sb = blk_getlength(b);
    int ret = 0;
    Progress p;
    progress_start(&p, progress && !quiet);
    if (sa < 0 || sb < 0) {
        img_error("Can't get the size of the images");
        ret = 2;
    } else if (sa != sb && strict) {
        printf("Strict mode: Image size mismatch!\n");
        ret = 1;
    } else {
        if (sa != sb && !quiet)
            printf("Warning: Image size mismatch!\n");
        ret = compare_data(a, b, (uint64_t)sa, (uint64_t)sb, &p);
    }
    progress_end(&p);
    if (ret == 0 && !quiet)
        printf("Images are identical.\n");
    img_close(b);
    img_close(a);
    return ret;
}

/* ---- rebase ---- */

/* Point file's header at backing (NULL or "" = none) with format fmt. */
static int set_backing_in_header(const char *file, const char *backing, const char *fmt)
{
    char err[ERRLEN];
    int fd = open(file, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        img_error("Could not open '%s': %s", file, strerror(errno));
        return -1;
    }
    ImgHeader h;
    uint8_t *buf = NULL;
    int ret = -1;
    if (img_read_header(fd, file, &h, err, sizeof(err)) < 0) {
        img_error("%s", err);
        goto out;
    }
    bool has = backing && *backing;
    if (has && strlen(backing) > QCOW2_MAX_BACKING_NAME) {
        img_error("%s: Backing file name too long", file);
        goto out;
    }
    h.has_backing = has;
    snprintf(h.backing_file, sizeof(h.backing_file), "%s", has ? backing : "");
    h.backing_file_size = has ? (uint32_t)strlen(backing) : 0;
    h.backing_file_offset = 0;     /* placed by img_build_header */
    h.has_backing_fmt = has && fmt;
    snprintf(h.backing_fmt, sizeof(h.backing_fmt), "%s", h.has_backing_fmt ? fmt : "");
    size_t cs = (size_t)1 << h.cluster_bits;
    buf = calloc(1, cs);
    if (!buf || img_build_header(buf, &h, err, sizeof(err)) < 0) {
        img_error("%s: %s", file, buf ? err : "out of memory");
        goto out;
    }
    /* Cluster 0 holds only the header, its extensions and the backing
     * name (qcow2.txt), so it is rewritten whole. */
    int r = img_pwrite(fd, 0, buf, cs);
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    if (r < 0) {
        img_error("%s: cannot write the header: %s", file, strerror(-r));
        goto out;
    }
    ret = 0;
out:
    free(buf);
    close(fd);
    return ret;
}

/*
 * Safe rebase: wherever file does not allocate a cluster itself, the data
 * it showed through the old backing chain must still show through the new
 * one; clusters where the two differ are copied into file first.
 */
static int rebase_copy(const char *file, BlockBackend *top, BlockBackend *nb, Progress *p)
{
    char err[ERRLEN];
    ImageMap m;
    if (image_map(file, "qcow2", &m, err, sizeof(err)) < 0) {
        img_error("%s", err);
        return -1;
    }
    int64_t top_size = blk_getlength(top);
    int64_t nb_size = nb ? blk_getlength(nb) : 0;
    const size_t piece = 64 * KiB;
    uint8_t *old = malloc(IO_CHUNK), *new = calloc(1, IO_CHUNK);
    int ret = (old && new && top_size >= 0 && nb_size >= 0) ? 0 : -1;
    for (size_t i = 0; ret == 0 && i < m.count; i++) {
        const ImageMapExtent *e = &m.ext[i];
        if (e->depth == 0 && e->present)
            continue;
        for (uint64_t off = e->start; ret == 0 && off < e->start + e->length; off += IO_CHUNK) {
            size_t n = (size_t)MIN((uint64_t)IO_CHUNK, e->start + e->length - off);
            memset(new, 0, n);
            size_t in_new = off < (uint64_t)nb_size ? (size_t)MIN((uint64_t)n, nb_size - off) : 0;
            if (blk_pread(top, off, old, n) < 0 || (in_new && blk_pread(nb, off, new, in_new) < 0)) {
                img_error("error while reading at offset %" PRIu64, off);
                ret = -1;
                break;
            }
            for (size_t j = 0; j < n && ret == 0; j += piece) {
                size_t k = MIN(piece, n - j);
                if (memcmp(old + j, new + j, k) && blk_pwrite(top, off + j, old + j, k) < 0) {
                    img_error("error while writing at offset %" PRIu64, off + j);
                    ret = -1;
                }
            }
            progress_update(p, off + n, (uint64_t)top_size);
        }
    }
    if (ret == 0 && blk_flush(top) < 0) {
        img_error("%s: flush failed", file);
        ret = -1;
    }
    free(old);
    free(new);
    image_map_free(&m);
    return ret;
}

static int cmd_rebase(int argc, char **argv)
{
    const char *fmt = NULL, *backing = NULL, *bfmt = NULL;
    bool unsafe = false, progress = false;
    int c;
    static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
    while ((c = getopt_long(argc, argv, "f:b:F:upqhUt:T:", lo, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'b': backing = optarg; break;
        case 'F': bfmt = optarg; break;
        case 'u': unsafe = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'U': case 't': case 'T': break;
        case 'h': printf("usage: vmm-img rebase [-u] [-p] -b NEWBACKING [-F FMT] FILE\n");
            return 0;
        default: return usage_error("rebase: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("Expecting one image file name");
    if (!backing)
        return usage_error("Must specify backing file (-b) or use unsafe mode (-u)");
    const char *file = argv[optind];
    fmt = resolve_format(file, fmt);
    if (!fmt)
        return 1;
    if (strcmp(fmt, "qcow2") != 0) {
        img_error("Could not change the backing file to '%s': Operation not supported", backing);
        return 1;
    }
    if (bfmt && !format_known(bfmt)) {
        img_error("Unknown file format '%s'", bfmt);
        return 1;
    }
    bool has_new = *backing != '\0';
    char *newpath = has_new ? img_resolve_backing(file, backing) : NULL;
    if (has_new && !bfmt && !unsafe) {
        bfmt = resolve_format(newpath, NULL);
        if (!bfmt) {
            free(newpath);
            return 1;
        }
    }
    int ret = 1;
    if (!unsafe) {
        BlockBackend *top = img_open(file, "qcow2", false);
        BlockBackend *nb = top && has_new ? img_open(newpath, bfmt, true) : NULL;
        if (top && (nb || !has_new)) {
            Progress p;
            progress_start(&p, progress && !quiet);
            ret = rebase_copy(file, top, nb, &p) < 0;
            if (!ret)
                progress_end(&p);
        }
        img_close(nb);
        img_close(top);
        if (ret) {
            free(newpath);
            return 1;
        }
    }
    free(newpath);
    return set_backing_in_header(file, has_new ? backing : NULL, bfmt) < 0;
}

/* ---- commit ---- */

/* Guest data the overlay itself holds, copied into base. */
static int commit_copy(int top_fd, const ImageMap *m, BlockBackend *base, uint64_t size,
                       Progress *p)
{
    uint8_t *buf = malloc(IO_CHUNK), *zero = calloc(1, IO_CHUNK);
    int ret = buf && zero ? 0 : -1;
    for (size_t i = 0; ret == 0 && i < m->count; i++) {
        const ImageMapExtent *e = &m->ext[i];
        if (e->depth != 0 || !e->present)
            continue;
        for (uint64_t d = 0; ret == 0 && d < e->length; d += IO_CHUNK) {
            size_t n = (size_t)MIN((uint64_t)IO_CHUNK, e->length - d);
            const uint8_t *src = zero;
            if (e->data) {
                if (img_pread(top_fd, e->offset + d, buf, n) < 0) {
                    img_error("error while reading the overlay at offset %" PRIu64, e->start + d);
                    ret = -1;
                    break;
                }
                src = buf;
            }
            if (blk_pwrite(base, e->start + d, src, n) < 0) {
                img_error("error while writing the backing file at offset %" PRIu64,
                          e->start + d);
                ret = -1;
            }
            progress_update(p, e->start + d + n, size);
        }
    }
    if (ret == 0 && blk_flush(base) < 0) {
        img_error("error while flushing the backing file");
        ret = -1;
    }
    free(buf);
    free(zero);
    return ret;
}

/* After a commit the overlay's clusters are in its backing file: start it
 * afresh (same geometry and backing), as qemu-img empties it. */
static int commit_empty(const char *file, const ImageInfo *in)
{
    char err[ERRLEN];
    ImageCreateOptions o = {
        .format = "qcow2",
        .size = in->virtual_size,
        .backing_file = in->backing_file,
        .backing_fmt = in->backing_fmt,
        .cluster_size = in->cluster_size,
        .compat = in->compat,
        .lazy_refcounts = in->lazy_refcounts,
        .refcount_bits = in->refcount_bits,
    };
    if (blk_image_create(file, &o, err, sizeof(err)) < 0) {
        img_error("%s: %s", file, err);
        return -1;
    }
    return 0;
}

/* Checks before anything is written: the overlay has a backing file and
 * only data clusters commit can read directly (no compressed ones). */
static int commit_prepare(const char *file, ImageInfo *in, ImageMap *m)
{
    char err[ERRLEN];
    if (image_info(file, "qcow2", in, err, sizeof(err)) < 0) {
        img_error("Could not open '%s': %s", file, err);
        return -1;
    }
    if (!in->backing_file) {
        img_error("Image does not have a backing file");
        image_info_free(in);
        return -1;
    }
    if (image_map(file, "qcow2", m, err, sizeof(err)) < 0) {
        img_error("%s", err);
        image_info_free(in);
        return -1;
    }
    for (size_t i = 0; i < m->count; i++) {
        const ImageMapExtent *e = &m->ext[i];
        if (e->depth == 0 && e->present && e->data && !e->has_offset) {
            img_error("%s: commit: compressed clusters in the overlay are not supported", file);
            image_map_free(m);
            image_info_free(in);
            return -1;
        }
    }
    return 0;
}

static int cmd_commit(int argc, char **argv)
{
    const char *fmt = NULL;
    bool keep = false, progress = false;
    int c;
    static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
    while ((c = getopt_long(argc, argv, "f:dpqht:", lo, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'd': keep = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 't': break;
        case 'h': printf("usage: vmm-img commit [-f FMT] [-d] [-p] FILE\n");
            return 0;
        default: return usage_error("commit: bad option");
        }
    }
    if (optind != argc - 1)
        return usage_error("Expecting one image file name");
    const char *file = argv[optind];
    fmt = resolve_format(file, fmt);
    if (!fmt)
        return 1;
    if (strcmp(fmt, "qcow2") != 0) {
        img_error("Image does not have a backing file");
        return 1;
    }
    ImageInfo in;
    ImageMap m;
    if (commit_prepare(file, &in, &m) < 0)
        return 1;
    int ret = 1;
    const char *base_path = in.full_backing_file ? in.full_backing_file : in.backing_file;
    const char *base_fmt = in.backing_fmt ? in.backing_fmt : resolve_format(base_path, NULL);
    int top_fd = open(file, O_RDONLY | O_CLOEXEC);
    BlockBackend *base = base_fmt && top_fd >= 0 ? img_open(base_path, base_fmt, false) : NULL;
    if (top_fd < 0)
        img_error("Could not open '%s': %s", file, strerror(errno));
    if (base) {
        int64_t bsize = blk_getlength(base);
        if (bsize < 0 || (uint64_t)bsize < in.virtual_size) {
            img_error("%s: the backing file is smaller than the overlay; resize it first",
                      base_path);
        } else {
            Progress p;
            progress_start(&p, progress && !quiet);
            if (commit_copy(top_fd, &m, base, in.virtual_size, &p) == 0) {
                progress_end(&p);
                ret = 0;
            }
        }
        img_close(base);
    }
    if (top_fd >= 0)
        close(top_fd);
    if (ret == 0 && !keep && in.nb_snapshots == 0)
        ret = commit_empty(file, &in) < 0;
    if (ret == 0 && !quiet)
        printf("Image committed.\n");
    image_map_free(&m);
    image_info_free(&in);
    return ret;
}

/* ---- main ---- */

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *syntax;
} Command;

static const Command commands[] = {
    { "check", cmd_check, "check [-f FMT] [-r leaks|all] [--output=human|json] FILE" },
    { "commit", cmd_commit, "commit [-f FMT] [-d] [-p] FILE" },
    { "compare", cmd_compare, "compare [-f FMT] [-F FMT] [-s] [-p] FILE1 FILE2" },
    { "convert", cmd_convert, "convert [-f FMT] -O FMT [-c] [-p] [-o OPTS] IN OUT" },
    { "create", cmd_create, "create [-f FMT] [-b BACKING -F FMT] [-o OPTS] FILE [SIZE]" },
    { "info", cmd_info, "info [-f FMT] [--output=human|json] [--backing-chain] FILE" },
    { "map", cmd_map, "map [-f FMT] [--output=human|json] FILE" },
    { "rebase", cmd_rebase, "rebase [-f FMT] [-u] [-p] -b BACKING [-F FMT] FILE" },
    { "resize", cmd_resize, "resize [-f FMT] [--shrink] FILE [+|-]SIZE" },
    { "snapshot", cmd_snapshot, "snapshot -l FILE" },
};

static void help(void)
{
    printf("usage: vmm-img COMMAND [ARGS]\n\nCommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        printf("  %s\n", commands[i].syntax);
    printf("\nFormats: raw, qcow2.  SIZE is bytes, or with a suffix k, M, G, T, P or E\n"
           "(binary multiples).  -o OPTS for qcow2: cluster_size, compat (0.10 or 1.1),\n"
           "lazy_refcounts, preallocation (off, metadata, falloc, full), refcount_bits.\n"
           "Output and exit statuses follow qemu-img's.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("Not enough arguments");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        help();
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("vmm-img version 1.0 (qemu-img compatible)\n");
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            optind = 1;
            int ret = commands[i].run(argc - 1, argv + 1);
            fflush(stdout);
            return ret;
        }
    }
    img_error("Command not found: %s (try 'vmm-img --help')", cmd);
    return 1;
}
