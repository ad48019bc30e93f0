/* Freestanding string helpers and command-line parsing for the payloads. */
#include "payload.h"

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d < s)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (uint8_t)a[i] - (uint8_t)b[i];
        if (!a[i])
            return 0;
    }
    return 0;
}

int strcmp(const char *a, const char *b)
{
    return strncmp(a, b, (size_t)-1);
}

uint64_t udiv64(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0, r = 0;
    if (d == 0) {
        if (rem)
            *rem = 0;
        return 0;
    }
    for (int bit = 63; bit >= 0; bit--) {     /* shift-subtract long division */
        r = r << 1 | ((n >> bit) & 1);
        if (r >= d) {
            r -= d;
            q |= 1ull << bit;
        }
    }
    if (rem)
        *rem = r;
    return q;
}

static bool parse_u64(const char *s, size_t len, uint64_t *val)
{
    uint64_t v = 0;
    unsigned base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            return false;
        v = v * base + digit;
    }
    *val = v;
    return true;
}

/* The value of the first "key=value" word: start and length, or NULL. */
static const char *find_value(const char *cmdline, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    const char *p = cmdline;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = p - word;
        if (wlen > klen && word[klen] == '=' && strncmp(word, key, klen) == 0) {
            *len = wlen - klen - 1;
            return word + klen + 1;
        }
    }
    return NULL;
}

bool cmdline_get_u64(const char *cmdline, const char *key, uint64_t *val)
{
    size_t len;
    const char *v = find_value(cmdline, key, &len);
    return v && parse_u64(v, len, val);
}

bool cmdline_get_str(const char *cmdline, const char *key, char *buf, size_t size)
{
    size_t len;
    const char *v = find_value(cmdline, key, &len);
    if (!v || size == 0)
        return false;
    if (len > size - 1)
        len = size - 1;
    memcpy(buf, v, len);
    buf[len] = 0;
    return true;
}
