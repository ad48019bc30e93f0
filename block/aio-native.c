/*
 * Linux native AIO (libaio) for O_DIRECT files: aligned reads and writes
 * are submitted with io_submit and signal the completion eventfd through
 * IOCB_FLAG_RESFD (io_set_eventfd); blk_run_completions() reaps them with
 * a non-blocking io_getevents.  One context per open file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block_int.h"
#include "util.h"

#define NATIVE_QUEUE_DEPTH 128
#define REAP_BATCH 64

struct NativeAio {
    io_context_t ctx;
    int in_flight;
    NativeAio *next;
};

static NativeAio *contexts;
static uint64_t submitted_total;

uint64_t native_aio_submitted(void)
{
    return submitted_total;
}

NativeAio *native_aio_new(char *errbuf, size_t errlen)
{
    NativeAio *n = xzalloc(sizeof(*n));
    int r = io_setup(NATIVE_QUEUE_DEPTH, &n->ctx);
    if (r < 0) {
        snprintf(errbuf, errlen, "cannot create a Linux AIO context: %s", strerror(-r));
        free(n);
        return NULL;
    }
    n->next = contexts;
    contexts = n;
    return n;
}

/* The file's requests are drained before this is called. */
void native_aio_free(NativeAio *n)
{
    if (!n)
        return;
    for (NativeAio **p = &contexts; *p; p = &(*p)->next) {
        if (*p == n) {
            *p = n->next;
            break;
        }
    }
    io_destroy(n->ctx);
    free(n);
}

bool native_aio_submit(NativeAio *n, BlockRequest *req)
{
    if (n->in_flight >= NATIVE_QUEUE_DEPTH)
        return false;
    struct iocb *cb = &req->iocb;
    /* libaio's iovec pointers are not const; the kernel only reads them
     * for a write and only writes the buffers (not the array) for a read. */
    struct iovec *iov = (struct iovec *)req->iov;
    if (req->type == BREQ_READ)
        io_prep_preadv(cb, req->file->fd, iov, req->iovcnt, (long long)req->offset);
    else if (req->type == BREQ_WRITE)
        io_prep_pwritev(cb, req->file->fd, iov, req->iovcnt, (long long)req->offset);
    else
        return false;
    io_set_eventfd(cb, blk_completion_fd());
    cb->data = req;
    struct iocb *one[1] = { cb };
    if (io_submit(n->ctx, 1, one) != 1)
        return false;
    n->in_flight++;
    submitted_total++;
    return true;
}

/* res is bytes transferred or -errno.  A short read ends at end of file:
 * the rest reads as zeroes (the last, partial sector of an image). */
static int native_result(BlockRequest *req, long res)
{
    if (res < 0)
        return (int)res;
    if ((uint64_t)res == req->bytes)
        return 0;
    if (req->type == BREQ_READ) {
        blk_iov_zero_from(req->iov, req->iovcnt, (size_t)res);
        return 0;
    }
    return -EIO;
}

static int reap_context(NativeAio *n)
{
    struct io_event ev[REAP_BATCH];
    struct timespec zero = { 0, 0 };
    int got = io_getevents(n->ctx, 0, REAP_BATCH, ev, &zero);
    if (got <= 0)
        return 0;
    for (int i = 0; i < got; i++) {
        BlockRequest *req = ev[i].data;
        n->in_flight--;
        req->done(req, native_result(req, (long)ev[i].res));
    }
    return got;
}

void native_aio_reap_all(void)
{
    for (NativeAio *n = contexts; n; n = n->next) {
        /* done() may close a file and free its context: restart then. */
        while (n->in_flight > 0 && reap_context(n) == REAP_BATCH)
            ;
    }
}
