/*
 * Scatter/gather helpers over struct iovec, shared by the devices (virtio
 * elements, IDE PRD tables) and block/ (bounce buffers).
 */
#include <string.h>

#include "util.h"

size_t iov_size(const struct iovec *iov, unsigned cnt)
{
    size_t n = 0;
    for (unsigned i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* Copy between buf and bytes [off, off + len) of iov, in the given direction. */
static size_t iov_xfer(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len,
                       bool to_iov)
{
    size_t done = 0;
    for (unsigned i = 0; i < cnt && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t take = MIN(l - off, len - done);
        uint8_t *p = (uint8_t *)iov[i].iov_base + off;
        if (to_iov)
            memcpy(p, (const uint8_t *)buf + done, take);
        else
            memcpy((uint8_t *)buf + done, p, take);
        done += take;
        off = 0;
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len)
{
    return iov_xfer(iov, cnt, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf,
                    size_t len)
{
    return iov_xfer(iov, cnt, off, (void *)buf, len, true);
}

int iov_view(const struct iovec *src, unsigned cnt, size_t skip, size_t len, struct iovec *dst,
             unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < cnt && len; i++) {
        size_t l = src[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        if (n == max)
            return -1;
        size_t take = MIN(l - skip, len);
        dst[n].iov_base = (uint8_t *)src[i].iov_base + skip;
        dst[n].iov_len = take;
        n++;
        len -= take;
        skip = 0;
    }
    return (int)n;
}

size_t iov_to_iov(const struct iovec *dst, unsigned dcnt, size_t doff, const struct iovec *src,
                  unsigned scnt, size_t soff, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < scnt && done < len; i++) {
        size_t l = src[i].iov_len;
        if (soff >= l) {
            soff -= l;
            continue;
        }
        size_t take = MIN(l - soff, len - done);
        size_t n = iov_from_buf(dst, dcnt, doff + done, (uint8_t *)src[i].iov_base + soff, take);
        done += n;
        if (n < take)
            break;
        soff = 0;
    }
    return done;
}
