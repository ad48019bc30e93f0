/*
 * Request slots and completion delivery.
 *
 * Requests come from a free list that only grows (in chunks) when every
 * slot is in flight, so the steady state allocates nothing.  Engines post
 * finished requests to one eventfd: thread-pool workers push onto a
 * mutex-protected done list and write it; libaio signals it itself
 * (io_set_eventfd).  The main loop's handler, or a drain waiting in poll(),
 * then runs every done() with the big lock held, never inside a submit.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block_int.h"
#include "util.h"

#define REQ_CHUNK 64
/* Bounce buffers larger than this are not kept with a free slot. */
#define BOUNCE_KEEP_MAX (1 * MiB)

static BlockRequest *free_reqs;

static void pool_grow(void)
{
    BlockRequest *chunk = xzalloc(REQ_CHUNK * sizeof(*chunk));
    for (int i = 0; i < REQ_CHUNK; i++) {
        chunk[i].next = free_reqs;
        free_reqs = &chunk[i];
    }
}

BlockRequest *blk_req_alloc(void)
{
    if (!free_reqs)
        pool_grow();
    BlockRequest *req = free_reqs;
    free_reqs = req->next;
    /* Keep the cached bounce buffer; clear everything else. */
    void *bounce = req->bounce;
    size_t bounce_size = req->bounce_size;
    memset(req, 0, sizeof(*req));
    req->bounce = bounce;
    req->bounce_size = bounce_size;
    return req;
}

void blk_req_free(BlockRequest *req)
{
    if (req->bounce_size > BOUNCE_KEEP_MAX) {
        free(req->bounce);
        req->bounce = NULL;
        req->bounce_size = 0;
    }
    req->next = free_reqs;
    free_reqs = req;
}

void *blk_req_bounce(BlockRequest *req, size_t size, size_t align)
{
    if (align < sizeof(void *))
        align = sizeof(void *);
    /* The cached buffer was allocated with the file's alignment (or 4096). */
    if (req->bounce && req->bounce_size >= size && ((uintptr_t)req->bounce % align) == 0)
        return req->bounce;
    free(req->bounce);
    req->bounce = NULL;
    req->bounce_size = 0;
    void *p;
    if (posix_memalign(&p, align < 4096 ? 4096 : align, size ? size : 1) != 0)
        return NULL;
    req->bounce = p;
    req->bounce_size = size;
    return p;
}

/* ---- the done list and its eventfd ---- */

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static BlockRequest *done_head, **done_tail = &done_head;
static int completion_fd = -1;

int blk_completion_fd(void)
{
    return completion_fd;
}

static void completion_readable(void *opaque)
{
    blk_run_completions();
}

int blk_completion_init(void)
{
    if (completion_fd >= 0)
        return 0;
    completion_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (completion_fd < 0)
        return -1;
    /* A no-op when the main loop is not initialised (vmm-img, some tests):
     * completions are then delivered by drains only. */
    main_loop_set_fd_handler(completion_fd, completion_readable, NULL, NULL);
    return 0;
}

static void signal_completion(void)
{
    uint64_t one = 1;
    while (write(completion_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void blk_complete_later(BlockRequest *req, int ret)
{
    req->ret = ret;
    req->next = NULL;
    pthread_mutex_lock(&done_lock);
    *done_tail = req;
    done_tail = &req->next;
    pthread_mutex_unlock(&done_lock);
    signal_completion();
}

static BlockRequest *take_done_list(void)
{
    pthread_mutex_lock(&done_lock);
    BlockRequest *list = done_head;
    done_head = NULL;
    done_tail = &done_head;
    pthread_mutex_unlock(&done_lock);
    return list;
}

void blk_run_completions(void)
{
    uint64_t count;
    if (completion_fd < 0)
        return;
    /* Clear the counter first: anything posted after this re-signals. */
    while (read(completion_fd, &count, sizeof(count)) < 0 && errno == EINTR)
        ;
    native_aio_reap_all();
    BlockRequest *req = take_done_list();
    while (req) {
        BlockRequest *next = req->next;
        req->done(req, req->ret);
        req = next;
    }
}

void blk_wait_completions(int timeout_ms)
{
    if (completion_fd < 0)
        return;
    struct pollfd pfd = { .fd = completion_fd, .events = POLLIN };
    poll(&pfd, 1, timeout_ms);
    blk_run_completions();
}
