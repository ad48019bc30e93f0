/*
 * Parsing helpers (sizes, integers, booleans, "key=val,..." option lists)
 * and allocation / file helpers.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* ---- allocation: only host OOM aborts, never guest input ---- */

static void out_of_memory(size_t n)
{
    error_report("out of memory allocating %zu bytes", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *xzalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        out_of_memory(0);
    return s;
}

/* ---- files ---- */

ssize_t write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int read_fd_fully(int fd, uint8_t **bufp, size_t *lenp)
{
    size_t cap = 64 * KiB, len = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *bufp = buf;
    *lenp = len;
    return 0;
}

uint8_t *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    uint8_t *buf = NULL;
    int r = read_fd_fully(fd, &buf, len);
    int e = errno;
    close(fd);
    errno = e;
    return r < 0 ? NULL : buf;
}

/* ---- numbers ---- */

/*
 * strtoull base 0 (decimal, 0x hex, leading-0 octal) but strict: it must
 * start with a digit (no blanks or sign) and consume everything.
 */
int parse_uint(const char *str, uint64_t *out)
{
    if (!str || !isdigit((unsigned char)str[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(str, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int parse_bool(const char *str, bool *out)
{
    static const char *const yes[] = { "on", "yes", "true" };
    static const char *const no[] = { "off", "no", "false" };
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcmp(str, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(str, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Multiplier for a size suffix, 0 if c is not one. */
static uint64_t size_suffix_mul(char c)
{
    switch (c) {
    case 'b': case 'B': return 1;
    case 'k': case 'K': return KiB;
    case 'm': case 'M': return MiB;
    case 'g': case 'G': return GiB;
    case 't': case 'T': return 1024 * GiB;
    case 'p': case 'P': return 1024 * 1024 * GiB;
    case 'e': case 'E': return 1024 * 1024 * 1024 * GiB;
    default: return 0;
    }
}

/* Decimal digits at *p -> *val; advances *p.  -1 on none or overflow. */
static int parse_decimal(const char **p, uint64_t *val)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *p = s;
    *val = v;
    return 0;
}

/*
 * ".ddd" at *p -> 64-bit binary fixed-point fraction (value * 2^64).
 * Digits only: an exponent is junk, as in QEMU.  Like QEMU, "1." is allowed.
 */
static void parse_fraction(const char **p, uint64_t *frac)
{
    const char *s = *p + 1;              /* skip '.' */
    const char *start = s;
    while (isdigit((unsigned char)*s))
        s++;
    *frac = 0;
    if (s > start) {
        char tmp[64];
        size_t n = MIN((size_t)(s - start), sizeof(tmp) - 3);
        tmp[0] = '0';
        tmp[1] = '.';
        memcpy(tmp + 2, start, n);
        tmp[n + 2] = '\0';
        double f = strtod(tmp, NULL);    /* 53 bits of precision, as QEMU */
        *frac = f >= 1.0 ? UINT64_MAX : (uint64_t)(f * 0x1p64);
    }
    *p = s;
}

/* "0x" + hex digits at *p -> *val; advances *p.  -1 on none or overflow. */
static int parse_hex(const char **p, uint64_t *val)
{
    const char *s = *p + 2;
    uint64_t v = 0;
    if (!isxdigit((unsigned char)*s))
        return -1;
    for (; isxdigit((unsigned char)*s); s++) {
        if (v >> 60)
            return -1;
        int c = tolower((unsigned char)*s);
        v = (v << 4) | (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    *p = s;
    *val = v;
    return 0;
}

/* Integer part of a size: decimal, or hex "0x..." (no fraction allowed). */
static int parse_size_number(const char **p, uint64_t *val, uint64_t *frac, bool *hex)
{
    const char *s = *p;
    *frac = 0;
    *hex = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'));
    if (*hex) {
        if (parse_hex(&s, val) < 0)
            return -1;
        *p = s;
        return *s == '.' ? -1 : 0;
    }
    if (parse_decimal(&s, val) < 0)
        return -1;
    if (*s == '.')
        parse_fraction(&s, frac);
    *p = s;
    return 0;
}

/*
 * Same grammar as QEMU's qemu_strtosz: leading blanks, decimal digits with
 * an optional fraction or a 0x hex integer, one optional suffix, nothing
 * after it.  A fraction needs a suffix above bytes ("1.5" with default
 * 'B' is rejected; fractional bytes do not exist).  The result is rounded
 * to nearest.  Hex with a suffix is accepted (QEMU 7 still takes it, with a
 * deprecation warning).
 */
int parse_size(const char *str, char default_suffix, uint64_t *out)
{
    if (!str)
        return -1;
    const char *p = str;
    while (isspace((unsigned char)*p))
        p++;
    uint64_t val, frac;
    bool hex;
    if (parse_size_number(&p, &val, &frac, &hex) < 0)
        return -1;
    uint64_t mul = size_suffix_mul(*p);
    if (mul)
        p++;
    else
        mul = size_suffix_mul(default_suffix);
    if (*p || mul == 0)
        return -1;
    if (mul == 1 && frac)
        return -1;
    unsigned __int128 total = (unsigned __int128)val * mul;
    unsigned __int128 fpart = (unsigned __int128)frac * mul;
    total += fpart >> 64;
    total += (fpart >> 63) & 1;          /* round half up */
    if (total > UINT64_MAX)
        return -1;
    *out = (uint64_t)total;
    return 0;
}

/* ---- option lists ---- */

static void opts_set(Opts *o, char *key, char *val)
{
    /* Duplicate key: the last one wins, as with QemuOpts lookups. */
    for (unsigned i = 0; i < o->n; i++) {
        if (strcmp(o->kv[i].key, key) == 0) {
            free(key);
            free(o->kv[i].val);
            o->kv[i].val = val;
            return;
        }
    }
    o->kv = xrealloc(o->kv, (o->n + 1) * sizeof(*o->kv));
    o->kv[o->n].key = key;
    o->kv[o->n].val = val;
    o->kv[o->n].used = false;
    o->n++;
}

/* Copy from *p up to an unescaped ',', turning ",," into ','. */
static char *opts_take_value(const char **p)
{
    const char *s = *p;
    char *out = xmalloc(strlen(s) + 1);
    size_t n = 0;
    while (*s) {
        if (*s == ',') {
            if (s[1] != ',')
                break;
            s++;                          /* ",," is a literal comma */
        }
        out[n++] = *s++;
    }
    out[n] = '\0';
    *p = s;
    return out;
}

static char *strndup_x(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/*
 * A word without '=' that is not the implied key's value is a flag, as in
 * QemuOpts: "foo" is foo=on and "nofoo" foo=off (QEMU still accepts e.g.
 * "server,nowait" in -chardev).
 */
static int opts_add_flag(Opts *o, const char *name, size_t len, char *errbuf, size_t errlen)
{
    if (len == 0) {
        snprintf(errbuf, errlen, "Invalid parameter ''");
        return -1;
    }
    bool off = len > 2 && strncmp(name, "no", 2) == 0;
    char *key = off ? strndup_x(name + 2, len - 2) : strndup_x(name, len);
    opts_set(o, key, xstrdup(off ? "off" : "on"));
    return 0;
}

/*
 * One element at *p; advances past it and its ','.  As in QemuOpts, an
 * element is "key=val" when a '=' comes before the first ','; otherwise it
 * is the implied key's value (first element only) or a flag.
 */
static int opts_parse_one(Opts *o, const char **p, bool first, const char *implied_key,
                          char *errbuf, size_t errlen)
{
    const char *s = *p;
    size_t len = strcspn(s, "=,");
    int r = 0;
    if (s[len] == '=') {
        if (len == 0) {
            snprintf(errbuf, errlen, "Invalid parameter ''");
            return -1;
        }
        char *key = strndup_x(s, len);
        s += len + 1;
        opts_set(o, key, opts_take_value(&s));
    } else if (first && implied_key) {
        opts_set(o, xstrdup(implied_key), opts_take_value(&s));
    } else {
        r = opts_add_flag(o, s, len, errbuf, errlen);
        s += len;
    }
    if (*s == ',')
        s++;
    *p = s;
    return r;
}

Opts *opts_parse(const char *str, const char *implied_key, char *errbuf, size_t errlen)
{
    Opts *o = xzalloc(sizeof(*o));
    const char *p = str ? str : "";
    bool first = true;
    if (errlen)
        errbuf[0] = '\0';
    while (*p) {
        if (opts_parse_one(o, &p, first, implied_key, errbuf, errlen) < 0) {
            opts_free(o);
            return NULL;
        }
        first = false;
    }
    return o;
}

void opts_free(Opts *o)
{
    if (!o)
        return;
    for (unsigned i = 0; i < o->n; i++) {
        free(o->kv[i].key);
        free(o->kv[i].val);
    }
    free(o->kv);
    free(o);
}

const char *opts_get(Opts *o, const char *key)
{
    for (unsigned i = 0; i < o->n; i++) {
        if (strcmp(o->kv[i].key, key) == 0) {
            o->kv[i].used = true;
            return o->kv[i].val;
        }
    }
    return NULL;
}

const char *opts_first_unused(const Opts *o)
{
    for (unsigned i = 0; i < o->n; i++) {
        if (!o->kv[i].used)
            return o->kv[i].key;
    }
    return NULL;
}
