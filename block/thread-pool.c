/*
 * A small pool of worker threads for blocking file I/O (preadv, pwritev,
 * fdatasync, fallocate): the engine for aio=threads, and for what libaio
 * cannot do (flush, discard, bounced misaligned requests).  Workers only
 * touch the request handed to them and the queues' own mutexes; the
 * result goes back through blk_complete_later() to the main loop.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "block_int.h"
#include "util.h"

#define POOL_THREADS 4

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static BlockRequest *queue_head, **queue_tail = &queue_head;
static pthread_t workers[POOL_THREADS];
static int nworkers;
/* Bumped by shutdown: workers of an older generation exit when idle. */
static unsigned pool_gen;

static BlockRequest *next_work(unsigned gen)
{
    pthread_mutex_lock(&queue_lock);
    while (!queue_head && gen == pool_gen)
        pthread_cond_wait(&queue_cond, &queue_lock);
    BlockRequest *req = queue_head;
    if (req) {
        queue_head = req->next;
        if (!queue_head)
            queue_tail = &queue_head;
    }
    pthread_mutex_unlock(&queue_lock);
    return req;
}

static void *worker_main(void *arg)
{
    unsigned gen = (unsigned)(uintptr_t)arg;
    BlockRequest *req;
    while ((req = next_work(gen)) != NULL)
        blk_complete_later(req, bfile_execute(req->file, req));
    return NULL;
}

/* Workers block every signal: the vCPU kick signals must go elsewhere. */
static void start_worker(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&workers[nworkers], NULL, worker_main, (void *)(uintptr_t)pool_gen) == 0)
        nworkers++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void thread_pool_submit(BlockRequest *req)
{
    pthread_mutex_lock(&queue_lock);
    while (nworkers < POOL_THREADS) {
        int before = nworkers;
        start_worker();
        if (nworkers == before)
            break;
    }
    if (nworkers == 0) {
        pthread_mutex_unlock(&queue_lock);
        /* Cannot start a thread: run it here, still completing later. */
        blk_complete_later(req, bfile_execute(req->file, req));
        return;
    }
    req->next = NULL;
    *queue_tail = req;
    queue_tail = &req->next;
    pthread_cond_signal(&queue_cond);
    pthread_mutex_unlock(&queue_lock);
}

/* Stop the workers once the queue is empty (after every drain, at exit). */
void thread_pool_shutdown(void)
{
    pthread_mutex_lock(&queue_lock);
    pool_gen++;
    pthread_cond_broadcast(&queue_cond);
    int n = nworkers;
    pthread_t joined[POOL_THREADS];
    for (int i = 0; i < n; i++)
        joined[i] = workers[i];
    nworkers = 0;
    pthread_mutex_unlock(&queue_lock);
    for (int i = 0; i < n; i++)
        pthread_join(joined[i], NULL);
}
